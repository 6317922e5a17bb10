/* The C allocator's names, glibc-compatible, so that a program linked with
 * the library or run with LD_PRELOAD uses partmalloc for everything: libc's
 * own allocations, the dynamic loader's after start-up, libstdc++'s.
 * Every name glibc exports for its allocator is here, so no pointer of ours
 * can reach glibc's free. Left out of the sanitizer builds of the tests,
 * which call the pm_* names (api.c) under the sanitizers' own allocator. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "frontend.h"
#include "os.h"

#define SITE (PM_STAT_PLAIN(PM_CALLER()), pm_site_part(PM_CALLER()))

PM_EXPORT void *malloc(size_t size) { return fe_malloc(size, SITE); }
PM_EXPORT void free(void *ptr) { pm_free_inline(ptr); }
PM_EXPORT void *calloc(size_t n, size_t size) { return fe_calloc(n, size, SITE); }
PM_EXPORT void *realloc(void *ptr, size_t size) { return fe_realloc(ptr, size, SITE); }
PM_EXPORT void *reallocarray(void *ptr, size_t n, size_t size) { return fe_reallocarray(ptr, n, size, SITE); }
PM_EXPORT void *aligned_alloc(size_t alignment, size_t size) { return fe_aligned_alloc(alignment, size, SITE); }
PM_EXPORT int posix_memalign(void **out, size_t alignment, size_t size) {
    return fe_posix_memalign(out, alignment, size, SITE);
}
PM_EXPORT void *memalign(size_t alignment, size_t size) { return fe_memalign(alignment, size, SITE); }
PM_EXPORT void *valloc(size_t size) { return fe_valloc(size, SITE); }
PM_EXPORT void *pvalloc(size_t size) { return fe_pvalloc(size, SITE); }
PM_EXPORT size_t malloc_usable_size(void *ptr) { return pm_usable(ptr, "malloc_usable_size"); }

/* strdup and strndup. Clang rewrites neither, and glibc's allocate from
 * inside libc: one call site for every string of the program. A copy of a
 * C string holds no pointer, so in a program built with tokens it carries
 * `char`'s token (the pointer-free group, where Clang puts
 * `char *s = malloc(n)`), or a wrapper's caller's (pm_token_part_at); in
 * one without, the caller of strdup is the call site. */
static pm_part_t string_part(const void *site) {
    if (pm_plain_calls_unknown()) {
        uint64_t token = pm_char_token(pm_g.token_half);
        PM_STAT_TOKEN(token, site);
        return pm_token_part_at(token, site);
    }
    PM_STAT_PLAIN(site);
    return pm_site_part(site);
}

static char *copy_string(const char *s, size_t len, const void *site) {
    char *copy = fe_malloc(len + 1, string_part(site));
    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

PM_EXPORT char *strdup(const char *s) { return copy_string(s, strlen(s), PM_CALLER()); }
PM_EXPORT char *strndup(const char *s, size_t n) { return copy_string(s, strnlen(s, n), PM_CALLER()); }
PM_EXPORT char *__strdup(const char *s) { return copy_string(s, strlen(s), PM_CALLER()); }
PM_EXPORT char *__strndup(const char *s, size_t n) { return copy_string(s, strnlen(s, n), PM_CALLER()); }

/* C23 */
PM_EXPORT void free_sized(void *ptr, size_t size) { pm_dealloc_checked(ptr, size, 0); }
PM_EXPORT void free_aligned_sized(void *ptr, size_t alignment, size_t size) {
    pm_dealloc_checked(ptr, size, alignment ? alignment : 1);
}

/* glibc's public aliases, which some programs call directly. */
PM_EXPORT void *__libc_malloc(size_t size) { return fe_malloc(size, SITE); }
PM_EXPORT void __libc_free(void *ptr) { pm_free_inline(ptr); }
PM_EXPORT void *__libc_calloc(size_t n, size_t size) { return fe_calloc(n, size, SITE); }
PM_EXPORT void *__libc_realloc(void *ptr, size_t size) { return fe_realloc(ptr, size, SITE); }
PM_EXPORT void *__libc_memalign(size_t alignment, size_t size) { return fe_memalign(alignment, size, SITE); }
PM_EXPORT void *__libc_valloc(size_t size) { return fe_valloc(size, SITE); }
PM_EXPORT void *__libc_pvalloc(size_t size) { return fe_pvalloc(size, SITE); }

/* glibc's tuning and reporting calls, answered for partmalloc's heap. */
PM_EXPORT int malloc_trim(size_t pad) {
    (void)pad;
    return pm_collect() > 0;
}

/* No glibc tunable applies to partmalloc: report that nothing was set. */
PM_EXPORT int mallopt(int param, int value) {
    (void)param;
    (void)value;
    return 0;
}

PM_EXPORT struct mallinfo2 mallinfo2(void) {
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    return mi;
}

PM_EXPORT struct mallinfo mallinfo(void) {
    struct mallinfo mi;
    memset(&mi, 0, sizeof mi);
    return mi;
}

PM_EXPORT void malloc_stats(void) {
    static const char msg[] = "partmalloc: statistics are not kept in this build\n";
    pm_write_stderr(msg, sizeof msg - 1);
}

PM_EXPORT int malloc_info(int options, FILE *fp) {
    if (options != 0) {
        errno = EINVAL;
        return -1;
    }
    return fputs("<malloc version=\"partmalloc-" PARTMALLOC_VERSION "\">\n</malloc>\n", fp) < 0 ? -1 : 0;
}
