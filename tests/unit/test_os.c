/* The OS layer's contract (src/os.h): an injected failure of each kind of
 * system call reaches the caller as NULL with ENOMEM and loses nothing,
 * the next call succeeds again, and mappings carry their names in
 * /proc/self/maps where the kernel can name them. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "os.h"
#include "partmalloc.h"

#define LARGE ((size_t)2 << 20) /* above the largest size class: a mapping of its own */

static void started(void) {
    pm_free(pm_malloc(16)); /* initialization maps its regions before any injection */
}

Test(os, injected_map_failure_is_enomem_once) {
    started();
    pm_os_fail(PM_OS_FAIL_MAP, 1, 1, ENOMEM);
    errno = 0;
    void *p = pm_malloc(LARGE);
    cr_assert_null(p, "the injected mmap failure did not reach malloc");
    cr_assert_eq(errno, ENOMEM);
    void *q = pm_malloc(LARGE); /* control: the failure was once */
    cr_assert_not_null(q);
    memset(q, 0xab, LARGE);
    pm_free(q);
}

Test(os, injected_failure_counts_only_its_kind) {
    started();
    pm_os_fail(PM_OS_FAIL_REMAP, 1, 1, ENOMEM);
    void *p = pm_malloc(LARGE); /* maps and commits: no remap, no failure */
    cr_assert_not_null(p);
    pm_os_fail(0, 0, 0, 0);
    pm_free(p);
}

Test(os, injected_second_call_fails_not_the_first) {
    started();
    void *table_made = pm_malloc(LARGE); /* the first large block also maps the table of them */
    pm_os_fail(PM_OS_FAIL_MAP, 2, 1, ENOMEM);
    void *a = pm_malloc(LARGE);
    cr_assert_not_null(a, "the first call should not fail");
    errno = 0;
    void *b = pm_malloc(LARGE);
    cr_assert_null(b);
    cr_assert_eq(errno, ENOMEM);
    pm_free(a);
    pm_free(table_made);
}

Test(os, injected_commit_failure_is_enomem) {
    started();
    pm_os_fail(PM_OS_FAIL_PROTECT, 1, 1, ENOMEM);
    errno = 0;
    cr_assert_null(pm_malloc(LARGE));
    cr_assert_eq(errno, ENOMEM);
    cr_assert_not_null(pm_malloc(LARGE));
}

/* A large block that cannot grow where it is moves; the contents survive
 * the failed in-place attempt. */
Test(os, injected_resize_failure_moves_the_block) {
    started();
    unsigned char *p = pm_malloc(LARGE);
    cr_assert_not_null(p);
    memset(p, 0x5a, LARGE);
    pm_os_fail(PM_OS_FAIL_REMAP, 1, 1, ENOMEM);
    unsigned char *q = pm_realloc(p, 4 * LARGE);
    cr_assert_not_null(q);
    for (size_t i = 0; i < LARGE; i += 4096)
        cr_assert_eq(q[i], 0x5a, "byte %zu lost", i);
    pm_free(q);
}

/* In-place growth, the move's reservation: both fail. realloc says ENOMEM
 * and the old block is untouched and still live; then it grows. */
Test(os, failed_realloc_keeps_the_block) {
    started();
    unsigned char *p = pm_malloc(LARGE);
    cr_assert_not_null(p);
    memset(p, 0x33, LARGE);
    pm_os_fail(PM_OS_FAIL_MAP | PM_OS_FAIL_REMAP, 1, 2, ENOMEM);
    errno = 0;
    cr_assert_null(pm_realloc(p, 64 * LARGE));
    cr_assert_eq(errno, ENOMEM);
    cr_assert_eq(pm_usable_size(p), LARGE);
    for (size_t i = 0; i < LARGE; i += 4096)
        cr_assert_eq(p[i], 0x33);
    unsigned char *q = pm_realloc(p, 64 * LARGE); /* control: failures over */
    cr_assert_not_null(q);
    cr_assert_eq(q[LARGE - 1], 0x33);
    pm_free(q);
}

static bool kernel_names_mappings(void) {
    void *m = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int r = prctl(0x53564d41 /* PR_SET_VMA */, 0 /* PR_SET_VMA_ANON_NAME */, (unsigned long)m, 4096UL, "probe");
    munmap(m, 4096);
    return r == 0;
}

static bool maps_have(const char *name) {
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, name) != NULL;
    fclose(f);
    return found;
}

Test(os, mappings_are_named) {
    if (!kernel_names_mappings())
        cr_skip_test("this kernel cannot name anonymous mappings (PR_SET_VMA_ANON_NAME)");
    started();
    void *big = pm_malloc(LARGE);
    cr_assert(maps_have("[anon:partmalloc slabs]"));
    cr_assert(maps_have("[anon:partmalloc metadata]"));
    cr_assert(maps_have("[anon:partmalloc thread caches]"));
    cr_assert(maps_have("[anon:partmalloc large]"));
    cr_assert(!maps_have("[anon:partmalloc no such use]"), "control: a name nothing carries");
    pm_free(big);
}
