/* A C program (linked with partmalloc) that loads a C++ library with
 * dlopen, after start: argv[1] is the library. It prints whether the C++
 * runtime was in the process before the dlopen, then what each of the
 * library's checks gave (see late_lib.cc). Exit 1 when something failed
 * to load. */
#include <dlfcn.h>
#include <partmalloc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int runtime_mapped(void) {
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (maps && fgets(line, sizeof line, maps))
        found |= strstr(line, "libstdc++") != NULL;
    if (maps)
        fclose(maps);
    return found;
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 1;
    printf("runtime before dlopen: %s\n", runtime_mapped() ? "yes" : "no");
    fflush(stdout);
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    int (*throws)(size_t, size_t) = (int (*)(size_t, size_t))dlsym(lib, "late_new_throws");
    int (*null)(size_t, size_t) = (int (*)(size_t, size_t))dlsym(lib, "late_nothrow_is_null");
    int (*calls)(size_t) = (int (*)(size_t))dlsym(lib, "late_handler_calls");
    int (*throwing)(size_t) = (int (*)(size_t))dlsym(lib, "late_throwing_handler");
    void *(*string)(void) = (void *(*)(void))dlsym(lib, "late_new_string");
    if (!throws || !null || !calls || !throwing || !string)
        return 1;
    const size_t huge = SIZE_MAX / 2;
    printf("throw: %d %d %d\n", throws(huge, 0), throws(huge, 64), throws((size_t)1 << 50, 8192));
    printf("nothrow null: %d %d\n", null(huge, 0), null(huge, 4096));
    printf("handler calls: %d\n", calls(huge));
    printf("throwing handler: %d\n", throwing(huge));
    struct pm_ptr_info info;
    printf("new is partmalloc's: %d\n", pm_ptr_info(string(), &info) == 1 && info.live);
    fflush(stdout);
    return 0;
}
