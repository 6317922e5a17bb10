/* The C allocator's names, as glibc defines them: the library replaces them
 * in this (statically linked) test, as it does under LD_PRELOAD. */
#include "testutil.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>

/* Sizes the compiler cannot see, so it does not warn about them. */
static volatile size_t size_max = SIZE_MAX;

void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);
void *__libc_malloc(size_t);
void __libc_free(void *);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void *__libc_valloc(size_t);
void *__libc_pvalloc(size_t);

static int ours(const void *p) {
    struct pm_ptr_info info;
    return pm_ptr_info(p, &info) && info.live;
}

Test(malloc, every_entry_point_returns_partmalloc_memory) {
    void *p[16];
    int n = 0;
    p[n++] = malloc(10);
    p[n++] = calloc(3, 7);
    p[n++] = realloc(NULL, 30);
    p[n++] = reallocarray(NULL, 5, 9);
    p[n++] = aligned_alloc(64, 64);
    cr_assert_eq(posix_memalign(&p[n++], 128, 50), 0);
    p[n++] = memalign(256, 10);
    p[n++] = valloc(100);
    p[n++] = pvalloc(100);
    p[n++] = __libc_malloc(10);
    p[n++] = __libc_calloc(2, 2);
    p[n++] = __libc_realloc(NULL, 10);
    p[n++] = __libc_memalign(32, 10);
    p[n++] = __libc_valloc(10);
    p[n++] = __libc_pvalloc(10);
    for (int i = 0; i < n; i++) {
        cr_assert_not_null(p[i], "entry %d", i);
        cr_expect(ours(p[i]), "entry %d returned a pointer partmalloc does not own", i);
    }
    for (int i = 0; i < n; i++)
        (i % 2 ? free : __libc_free)(p[i]);
}

Test(malloc, libc_internal_allocations_are_ours) {
    char *s = strdup("hello");
    cr_expect(ours(s));
    free(s);
    char *t = strndup("hello world", 5);
    cr_expect(ours(t));
    cr_expect_str_eq(t, "hello");
    free(t);
    char *a = NULL;
    cr_assert_gt(asprintf(&a, "%d-%s", 42, "x"), 0);
    cr_expect(ours(a));
    free(a);
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    fputs("line one\nline two\n", f);
    rewind(f);
    char *line = NULL;
    size_t cap = 0;
    cr_assert_gt(getline(&line, &cap, f), 0);
    cr_expect(ours(line));
    free(line);
    fclose(f);
    char *cwd = getcwd(NULL, 0);
    cr_expect(ours(cwd));
    free(cwd);
}

/* The partitions of 24 strings copied by `dup`, each from its own call
 * site: how many differ from the first's. */
static const char *volatile dup_source = "s"; /* not a constant: the compiler keeps the call */
#define DUP4(dup, v, i)                                                                            \
    v[i] = dup(dup_source), v[i + 1] = dup(dup_source), v[i + 2] = dup(dup_source), v[i + 3] = dup(dup_source)
static unsigned partitions_apart(char **v) {
    struct pm_ptr_info first, info;
    cr_assert(pm_ptr_info(v[0], &first));
    unsigned apart = 0;
    for (int i = 0; i < 24; i++) {
        cr_assert(pm_ptr_info(v[i], &info) && info.live, "string %d", i);
        cr_expect_str_eq(v[i], "s");
        apart += info.partition != first.partition;
    }
    return apart;
}

/* partmalloc's strdup takes its caller as the call site (a program with no
 * tokens spreads by call site over all N), where glibc's would make every
 * string one site inside libc. The control: glibc's own strdup, reached
 * with dlsym, puts 24 sites' strings in one partition. */
Test(malloc, strdup_takes_its_callers_call_site) {
    struct pm_config cfg;
    pm_get_config(&cfg);
    cr_assert_geq(cfg.partitions, 16, "the test needs partitions to spread over");
    char *v[24];
    DUP4(strdup, v, 0), DUP4(strdup, v, 4), DUP4(strdup, v, 8);
    DUP4(strdup, v, 12), DUP4(strdup, v, 16), DUP4(strdup, v, 20);
    cr_expect_gt(partitions_apart(v), 0, "24 call sites of strdup, one partition");
    for (int i = 0; i < 24; i++)
        free(v[i]);
    char *(*libc_strdup)(const char *) = (char *(*)(const char *))dlsym(RTLD_NEXT, "strdup");
    cr_assert_not_null(libc_strdup);
    DUP4(libc_strdup, v, 0), DUP4(libc_strdup, v, 4), DUP4(libc_strdup, v, 8);
    DUP4(libc_strdup, v, 12), DUP4(libc_strdup, v, 16), DUP4(libc_strdup, v, 20);
    cr_expect_eq(partitions_apart(v), 0, "control: glibc's strdup allocates from one site");
    for (int i = 0; i < 24; i++)
        free(v[i]);
}

Test(malloc, errno_and_failure_rules) {
    errno = 0;
    cr_expect_null(malloc(size_max));
    cr_expect_eq(errno, ENOMEM);
    errno = 0;
    cr_expect_null(calloc(size_max / 4, 8));
    cr_expect_eq(errno, ENOMEM);
    errno = 0;
    cr_expect_null(reallocarray(NULL, size_max / 2, 3));
    cr_expect_eq(errno, ENOMEM);
    void *volatile keep = malloc(10);
    errno = 0;
    cr_expect_null(reallocarray(keep, size_max, 2));
    cr_expect_eq(errno, ENOMEM);
    cr_expect(ours(keep), "failed reallocarray keeps the block");
    free(keep);
    errno = 0;
    cr_expect_null(aligned_alloc(48, 96));
    cr_expect_eq(errno, EINVAL);
    void *out = NULL;
    cr_expect_eq(posix_memalign(&out, 2, 8), EINVAL);
    cr_expect_eq(posix_memalign(&out, 3 * sizeof(void *), 8), EINVAL);
    errno = 0;
    cr_expect_null(memalign(size_max / 2 + 2, 8));
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_null(pvalloc(size_max - 10));
    cr_expect_eq(errno, ENOMEM);
}

Test(malloc, memalign_valloc_pvalloc_shapes) {
    void *m = memalign(48, 10); /* rounded up to 64 */
    cr_assert_not_null(m);
    cr_expect_eq((uintptr_t)m % 64, 0);
    free(m);
    void *v = valloc(1);
    cr_expect_eq((uintptr_t)v % 4096, 0);
    free(v);
    void *pv = pvalloc(1);
    cr_expect_eq((uintptr_t)pv % 4096, 0);
    cr_expect_geq(malloc_usable_size(pv), 4096);
    free(pv);
    void *pz = pvalloc(0);
    cr_assert_not_null(pz);
    cr_expect_geq(malloc_usable_size(pz), 4096);
    free(pz);
}

Test(malloc, usable_size_and_sized_frees) {
    cr_expect_eq(malloc_usable_size(NULL), 0);
    for (size_t n = 1; n < 300000; n = n * 2 + 3) {
        char *p = malloc(n);
        size_t u = malloc_usable_size(p);
        cr_assert_geq(u, n);
        memset(p, 7, u); /* the whole usable size is ours to write */
        free_sized(p, n);
        void *a = aligned_alloc(256, n);
        cr_expect_eq((uintptr_t)a % 256, 0);
        free_aligned_sized(a, 256, n);
    }
    free_sized(NULL, 5);
    free_aligned_sized(NULL, 64, 5);
}

Test(malloc, realloc_follows_glibc) {
    char *p = realloc(NULL, 5);
    strcpy(p, "abcd");
    p = realloc(p, 5000);
    cr_expect_str_eq(p, "abcd");
    p = realloc(p, 500000);
    cr_expect_str_eq(p, "abcd");
    cr_expect_null(realloc(p, 0)); /* frees */
}

Test(malloc, glibc_extras_answer) {
    cr_expect_eq(mallopt(M_ARENA_MAX, 1), 0);
    void *p = malloc(1000);
    free(p);
    (void)malloc_trim(0);
    struct mallinfo2 mi = mallinfo2();
    (void)mi;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(malloc_info(0, f), 0);
    fclose(f);
    cr_expect(strstr(buf, "<malloc version=\"partmalloc-") != NULL);
    free(buf);
    errno = 0;
    cr_expect_eq(malloc_info(1, stderr), -1);
    cr_expect_eq(errno, EINVAL);
}

/* A zero-size block with an alignment above the largest size class is a
 * large block; realloc must grow it like any other (issue 16). */
static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 7);
}

static bool filled(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 7))
            return false;
    return true;
}

/* Reallocs the zero-size block `p` through sizes[], checking at each step
 * that what was written before survives, then frees it. */
static void grow_zero_block(void *p, size_t alignment, const char *how) {
    static const size_t sizes[] = {40000, 1, 100, 4096, 32768, 65536, 200000, 40000, 3 << 20, 50};
    cr_assert_not_null(p, "%s(%zu, 0)", how, alignment);
    cr_expect_eq((uintptr_t)p % alignment, 0, "%s(%zu, 0) misaligned", how, alignment);
    size_t held = 0; /* bytes written so far, still to be there */
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        errno = 0;
        unsigned char *q = realloc(p, sizes[i]);
        cr_assert_not_null(q, "%s(%zu, 0), then realloc to %zu: NULL, errno %d", how, alignment, sizes[i],
                           errno);
        size_t kept = held < sizes[i] ? held : sizes[i];
        cr_expect(filled(q, kept, (unsigned)alignment), "%s(%zu, 0), realloc to %zu lost the contents", how,
                  alignment, sizes[i]);
        cr_expect_geq(malloc_usable_size(q), sizes[i]);
        fill(q, sizes[i], (unsigned)alignment);
        held = sizes[i];
        p = q;
    }
    free(p);
}

Test(malloc, zero_size_aligned_blocks_grow_by_realloc) {
    for (size_t alignment = 4096; alignment <= ((size_t)1 << 20); alignment *= 2) {
        grow_zero_block(aligned_alloc(alignment, 0), alignment, "aligned_alloc");
        void *p = NULL;
        cr_assert_eq(posix_memalign(&p, alignment, 0), 0, "posix_memalign(%zu, 0)", alignment);
        grow_zero_block(p, alignment, "posix_memalign");
        grow_zero_block(memalign(alignment, 0), alignment, "memalign");
    }
}

/* C23: free_aligned_sized takes the alignment and size aligned_alloc was
 * called with, 0 included; free_sized the size of a malloc. */
Test(malloc, sized_frees_of_zero_size_blocks) {
    for (size_t alignment = 16; alignment <= ((size_t)1 << 20); alignment *= 2) {
        void *p = aligned_alloc(alignment, 0);
        cr_assert_not_null(p, "aligned_alloc(%zu, 0)", alignment);
        free_aligned_sized(p, alignment, 0);
    }
    free_sized(malloc(0), 0);
}
