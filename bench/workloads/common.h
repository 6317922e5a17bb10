/* Shared helpers for the partmalloc benchmark workloads (bench/workloads/).
 *
 * Every workload is a standalone program that uses only the C allocator
 * (malloc, calloc, realloc, free), so the allocator under test is whatever
 * the dynamic linker binds: glibc, or a library in LD_PRELOAD.
 *
 * Parameters: each program declares a table of named integer parameters with
 * their defaults (the values the suite uses) and accepts `name=value`
 * arguments to override them; `--help` lists them.
 *
 * Self-checking: objects carry a self-describing pattern (see obj_fill) that
 * is verified before every free; workloads also keep order-independent sums
 * of the tags they allocated and freed and compare them at the end. Any
 * mismatch prints "FAIL ..." on stderr and exits with status 3, so a broken
 * allocator cannot win a benchmark. On success a program prints one line,
 *     <name>: ok checksum=<hex> time=<seconds> [key=value ...]
 * where the checksum depends only on the parameters (never on the allocator
 * or on thread scheduling), so the driver can compare it across allocators.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_UNUSED __attribute__((unused))
#define BENCH_LIKELY(x) __builtin_expect(!!(x), 1)
#define BENCH_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define BENCH_CACHELINE 64

static const char *bench_name = "bench";

/* ---- failure ---- */

static BENCH_UNUSED __attribute__((noreturn, format(printf, 1, 2), cold)) void bench_fail(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAIL %s: %s\n", bench_name, buf);
    fflush(stderr);
    _exit(3);
}

/* ---- parameters ---- */

struct bench_param {
    const char *name;
    long value;        /* default, then the value in use */
    long min, max;
    const char *help;
};

static BENCH_UNUSED void bench_usage(const struct bench_param *p, size_t n, const char *about) {
    printf("%s: %s\nparameters (name=value):\n", bench_name, about);
    for (size_t i = 0; i < n; i++)
        printf("  %-14s %-12ld %s\n", p[i].name, p[i].value, p[i].help);
}

/* Parses name=value arguments into the table; exits 2 on a bad argument. */
static BENCH_UNUSED void bench_args(int argc, char **argv, struct bench_param *p, size_t n, const char *about) {
    const char *slash = strrchr(argv[0], '/');
    bench_name = slash ? slash + 1 : argv[0];
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
            bench_usage(p, n, about);
            exit(0);
        }
        const char *eq = strchr(argv[a], '=');
        size_t i = 0;
        if (eq)
            for (; i < n; i++)
                if (strlen(p[i].name) == (size_t)(eq - argv[a]) && !strncmp(p[i].name, argv[a], (size_t)(eq - argv[a])))
                    break;
        if (!eq || i == n) {
            fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", bench_name, argv[a]);
            exit(2);
        }
        char *end;
        errno = 0;
        long v = strtol(eq + 1, &end, 0);
        if (errno || *end || end == eq + 1 || v < p[i].min || v > p[i].max) {
            fprintf(stderr, "%s: %s must be an integer in [%ld, %ld]\n", bench_name, p[i].name, p[i].min, p[i].max);
            exit(2);
        }
        p[i].value = v;
    }
}

#define BENCH_NPARAMS(t) (sizeof(t) / sizeof((t)[0]))

/* ---- random numbers and hashing ---- */

/* splitmix64's finalizer: a bijective 64-bit mix. */
static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* xoshiro256** seeded by splitmix64: fast, and deterministic per seed. */
struct rng {
    uint64_t s[4];
};

static inline void rng_seed(struct rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ULL;
        r->s[i] = mix64(seed);
    }
}

static inline uint64_t rng_next(struct rng *r) {
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [0, n) (Lemire's multiply; the tiny bias is irrelevant here). */
static inline uint64_t rng_below(struct rng *r, uint64_t n) {
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi) {
    return lo + rng_below(r, hi - lo + 1);
}

/* Log-uniform in [lo, hi]: every power of two range equally likely. */
static inline uint64_t rng_log_range(struct rng *r, uint64_t lo, uint64_t hi) {
    double a = __builtin_log2((double)lo), b = __builtin_log2((double)hi + 1);
    double e = a + (b - a) * ((double)(rng_next(r) >> 11) * 0x1.0p-53);
    uint64_t v = (uint64_t)__builtin_exp2(e);
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---- allocation wrappers ---- */

/* Makes the compiler believe `p` escapes, so it cannot pair up and delete
 * a malloc and its free, or keep object contents in registers. */
static inline void bench_escape(void *p) {
    __asm__ volatile("" : : "g"(p) : "memory");
}

static inline void *bench_malloc(size_t n) {
    void *p = malloc(n);
    if (BENCH_UNLIKELY(!p))
        bench_fail("malloc(%zu) returned NULL", n);
    bench_escape(p);
    return p;
}

static inline void *bench_realloc(void *old, size_t n) {
    void *p = realloc(old, n);
    if (BENCH_UNLIKELY(!p))
        bench_fail("realloc(%p, %zu) returned NULL", old, n);
    bench_escape(p);
    return p;
}

static inline void bench_free(void *p) {
    bench_escape(p);
    free(p);
}

/* ---- self-describing objects ----
 *
 * Layout of an object of `size` >= OBJ_MIN bytes with a 64-bit `tag`:
 *   word 0   tag
 *   word 1   size ^ mix64(tag)     (so the header checks itself)
 *   word i   tag + i, for the words the stride selects: every word up to
 *            1 KiB, every 64th byte up to 64 KiB, one word per 4 KiB page
 *            above (so every page of a large block is touched), and always
 *            the last whole word (after the header)
 *   tail     the bytes after the last whole word: (uint8_t)(tag ^ offset)
 * Two live objects that overlap break each other's pattern (a full fill for
 * small objects, headers and tails otherwise); an object handed out twice
 * is caught by the tag sums. */
#define OBJ_MIN 16u
#define OBJ_MAX ((size_t)1 << 36)

static inline size_t obj_stride_words(size_t size) {
    return size <= 1024 ? 1 : size <= 65536 ? 8 : 512;
}

static inline void obj_fill(void *p, size_t size, uint64_t tag) {
    uint64_t *w = p;
    size_t words = size / 8, stride = obj_stride_words(size);
    w[0] = tag;
    w[1] = size ^ mix64(tag);
    for (size_t i = 2; i < words; i += stride)
        w[i] = tag + i;
    if (words > 2)
        w[words - 1] = tag + (words - 1);
    for (size_t b = words * 8; b < size; b++)
        ((uint8_t *)p)[b] = (uint8_t)(tag ^ b);
}

/* Verifies an object whose size the caller knows. */
static inline void obj_check_sized(const void *p, size_t size, uint64_t tag) {
    const uint64_t *w = p;
    size_t words = size / 8, stride = obj_stride_words(size);
    if (BENCH_UNLIKELY(w[0] != tag || w[1] != (size ^ mix64(tag))))
        bench_fail("object %p (size %zu): header corrupted (tag %016llx, expected %016llx)", p, size,
                   (unsigned long long)w[0], (unsigned long long)tag);
    uint64_t bad = 0;
    for (size_t i = 2; i < words; i += stride)
        bad |= w[i] ^ (tag + i);
    if (words > 2)
        bad |= w[words - 1] ^ (tag + (words - 1));
    for (size_t b = words * 8; b < size; b++)
        bad |= ((const uint8_t *)p)[b] ^ (uint8_t)(tag ^ b);
    if (BENCH_UNLIKELY(bad))
        bench_fail("object %p (size %zu, tag %016llx): contents corrupted", p, size, (unsigned long long)tag);
}

/* Verifies an object from its own header; returns its size, *tag_out its tag. */
static inline size_t obj_check(const void *p, uint64_t *tag_out) {
    const uint64_t *w = p;
    uint64_t tag = w[0];
    size_t size = w[1] ^ mix64(tag);
    if (BENCH_UNLIKELY(size < OBJ_MIN || size > OBJ_MAX))
        bench_fail("object %p: header corrupted (implied size %zu)", p, size);
    obj_check_sized(p, size, tag);
    *tag_out = tag;
    return size;
}

/* A new object: allocated, filled. */
static inline void *obj_new(size_t size, uint64_t tag) {
    void *p = bench_malloc(size);
    obj_fill(p, size, tag);
    return p;
}

/* Checks and frees; returns the tag (for the freed-tag sum). */
static inline uint64_t obj_free(void *p) {
    uint64_t tag;
    obj_check(p, &tag);
    bench_free(p);
    return tag;
}

/* A unique, well-mixed, nonzero tag for object `serial` of stream `stream`. */
static inline uint64_t obj_tag(uint64_t stream, uint64_t serial) {
    return mix64((stream << 40) ^ serial) | 1;
}

/* A slot that remembers the size and tag of the object it holds, so the
 * object is verified against them rather than against its own header. */
struct obj_slot {
    void *p;
    size_t size;
    uint64_t tag;
};

/* Puts a new object of `size` with `tag` into s; returns the tag (for the
 * allocated-tag sum). */
static inline uint64_t obj_slot_new(struct obj_slot *s, size_t size, uint64_t tag) {
    s->size = size;
    s->tag = tag;
    s->p = obj_new(size, tag);
    return tag;
}

/* Verifies s's object against the size and tag recorded, frees it and
 * empties s; returns the tag (for the freed-tag sum). */
static inline uint64_t obj_slot_free(struct obj_slot *s) {
    obj_check_sized(s->p, s->size, s->tag);
    bench_free(s->p);
    s->p = NULL;
    return s->tag;
}

/* The closing check of every workload that sums tags: each object
 * allocated was freed exactly once. */
static inline void bench_check_tag_sums(uint64_t allocated, uint64_t freed) {
    if (BENCH_UNLIKELY(allocated != freed))
        bench_fail("allocated-tag sum %016llx != freed-tag sum %016llx", (unsigned long long)allocated,
                   (unsigned long long)freed);
}

/* ---- time, memory, threads ---- */

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident set size now, in KiB (from /proc/self/statm). */
static BENCH_UNUSED long bench_rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Runs fn(arg_i) on n threads and joins them; arg_i = base + i * stride. */
static BENCH_UNUSED void bench_run_threads(int n, void *(*fn)(void *), void *base, size_t stride) {
    pthread_t tid[256];
    if (n < 1 || n > 256)
        bench_fail("bad thread count %d", n);
    for (int i = 0; i < n; i++)
        if (pthread_create(&tid[i], NULL, fn, (char *)base + (size_t)i * stride))
            bench_fail("pthread_create failed");
    for (int i = 0; i < n; i++)
        pthread_join(tid[i], NULL);
}

/* A worker that needs nothing but its index, alone on its cache line. */
struct bench_worker {
    int id;
    char pad[BENCH_CACHELINE - sizeof(int)];
};

/* Runs fn on n threads, thread i getting a struct bench_worker with id i,
 * and joins them. */
static BENCH_UNUSED void bench_run_workers(int n, void *(*fn)(void *)) {
    struct bench_worker *workers = bench_malloc((size_t)n * sizeof *workers);
    for (int i = 0; i < n; i++)
        workers[i].id = i;
    bench_run_threads(n, fn, workers, sizeof *workers);
    bench_free(workers);
}

/* ---- false sharing (cache_scratch, cache_thrash) ----
 *
 * `iterations` times: allocates an object of objsize bytes, writes every
 * byte of it `repetitions` times (a volatile store and load per byte; pass r
 * writes (char)(r + id)), verifies every byte holds the value of the last
 * pass, adds the object's bytes to the sum and frees it. Returns the sum. */
static inline uint64_t bench_write_cycles(int id, long iterations, size_t objsize, long repetitions) {
    uint64_t sum = 0;
    for (long i = 0; i < iterations; i++) {
        volatile char *a = bench_malloc(objsize);
        for (long r = 0; r < repetitions; r++)
            for (size_t k = 0; k < objsize; k++) {
                a[k] = (char)(r + id);
                char ch = a[k];
                (void)ch;
            }
        char want = (char)(repetitions - 1 + id);
        for (size_t k = 0; k < objsize; k++) {
            if (a[k] != want)
                bench_fail("worker %d: byte %zu of %p is %d, expected %d", id, k, (void *)a, a[k], want);
            sum += (unsigned char)a[k];
        }
        bench_free((void *)a);
    }
    return sum;
}

/* Fails unless `total` is the sum of what bench_write_cycles returns for
 * ids 0 .. threads-1 (computed from the parameters alone). */
static inline void bench_check_write_total(uint64_t total, int threads, long iterations, size_t objsize, long repetitions) {
    uint64_t expect = 0;
    for (int t = 0; t < threads; t++)
        expect += (uint64_t)iterations * objsize * (unsigned char)(char)(repetitions - 1 + t);
    if (total != expect)
        bench_fail("byte sum %llu, expected %llu", (unsigned long long)total, (unsigned long long)expect);
}

/* The closing line; `extra` is printed after the standard fields. */
static BENCH_UNUSED void bench_report(uint64_t checksum, double seconds, const char *extra) {
    printf("%s: ok checksum=%016llx time=%.3f%s%s\n", bench_name, (unsigned long long)checksum, seconds,
           extra && *extra ? " " : "", extra ? extra : "");
    fflush(stdout);
}

#endif /* BENCH_COMMON_H */
