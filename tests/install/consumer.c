/* A program built against an installed partmalloc (tests/scripts/
 * install_consumers.sh, deb_package.sh): it must get the header and the
 * library of the same release and allocate through partmalloc.
 * Prints "ok" or what went wrong. */
#include <partmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    if (strcmp(pm_version(), PARTMALLOC_VERSION) != 0) {
        printf("library %s, header %s\n", pm_version(), PARTMALLOC_VERSION);
        return 1;
    }
    char *p = malloc(48);
    struct pm_ptr_info info;
    if (!p || pm_ptr_info(p, &info) != 1 || !info.is_small || !info.live) {
        printf("malloc(48) = %p is not partmalloc's\n", (void *)p);
        return 1;
    }
    /* The control: memory that is not partmalloc's is told apart. */
    int on_stack;
    if (pm_ptr_info(&on_stack, &info) != 0) {
        printf("a stack address is taken for partmalloc's\n");
        return 1;
    }
    free(p);
    printf("ok\n");
    return 0;
}
