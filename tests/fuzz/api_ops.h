/* The operation language of the API fuzzer (fuzz_api.c), shared with the
 * multi-threaded stress (tests/stress/stress_api.c): a program of
 * operations over a table of live blocks, each block carrying a pattern
 * checked before each realloc and free, every result checked for
 * alignment, usable size and placement, and a model of what each call must
 * return (glibc's results: ENOMEM for sizes and products that cannot be
 * served, EINVAL for invalid alignments, realloc(p, 0) frees p and returns
 * NULL).
 *
 * The bytes of a program come from the fuzzer's input or, for the stress,
 * from a seeded generator (struct input). The includer may define, before
 * including this file:
 *   OPS_TLS   a storage class for the table's state: _Thread_local gives
 *             each thread its own table, caches and model (default: none)
 * and sets at run time:
 *   ops_whole_process  false when other threads allocate too: the
 *                      statistics are then checked for consistency, not
 *                      against the table
 *   ops_fixed_buckets  true when the bucket sets are made once, before the
 *                      operations run (their limit is per process)
 *   dedicated_limit, dedicated_reserve  the model's budget of dedicated
 *                      caches (the library's limit is per process)
 *   product_max        the largest servable n * size of calloc and friends
 * The library's C names are called as pmfz_* (renamed in the sanitizer
 * builds, tests/tests.mk); a build that links the library as the
 * process's allocator defines them to the C names. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "partmalloc.h"
#include "partmalloc/slab.h"

#ifndef OPS_TLS
#define OPS_TLS
#endif

/* ---- the library's C names, renamed in this build (tests/tests.mk) ---- */
void *pmfz_malloc(size_t size);
void *pmfz_calloc(size_t n, size_t size);
void *pmfz_realloc(void *p, size_t size);
void *pmfz_reallocarray(void *p, size_t n, size_t size);
void *pmfz_aligned_alloc(size_t alignment, size_t size);
int pmfz_posix_memalign(void **out, size_t alignment, size_t size);
void *pmfz_memalign(size_t alignment, size_t size);
void *pmfz_valloc(size_t size);
void *pmfz_pvalloc(size_t size);
void pmfz_free(void *p);
void pmfz_free_sized(void *p, size_t size);
void pmfz_free_aligned_sized(void *p, size_t alignment, size_t size);
size_t pmfz_malloc_usable_size(void *p);
void *pmfz___libc_malloc(size_t size);
void *pmfz___libc_calloc(size_t n, size_t size);
void *pmfz___libc_realloc(void *p, size_t size);
void *pmfz___libc_memalign(size_t alignment, size_t size);
void *pmfz___libc_valloc(size_t size);
void *pmfz___libc_pvalloc(size_t size);
void pmfz___libc_free(void *p);
int pmfz_malloc_trim(size_t pad);

/* ---- the allocation-token ABI (src/alloc_token.c) ---- */
void *__alloc_token_malloc(size_t size, size_t t);
void *__alloc_token_calloc(size_t n, size_t size, size_t t);
void *__alloc_token_realloc(void *p, size_t size, size_t t);
void *__alloc_token_reallocarray(void *p, size_t n, size_t size, size_t t);
void *__alloc_token_aligned_alloc(size_t a, size_t size, size_t t);
int __alloc_token_posix_memalign(void **out, size_t a, size_t size, size_t t);
void *__alloc_token_memalign(size_t a, size_t size, size_t t);
void *__alloc_token_valloc(size_t size, size_t t);
void *__alloc_token_pvalloc(size_t size, size_t t);
void *__alloc_token_0_malloc(size_t size);
void *__alloc_token_1_calloc(size_t n, size_t size);
void *__alloc_token_7_realloc(void *p, size_t size);
void *__alloc_token_15_aligned_alloc(size_t a, size_t size);
void *__alloc_token_63_malloc(size_t size);

#define PAGE 4096u
#define SLOTS 64
#define CACHES 8
#define DENSE_MAX 65536u /* blocks up to this size are patterned in full */
#define CTOR_BYTES 16u
#define ALIGN_FAILS ((size_t)1 << 47) /* no alignment from here up can be served */
#define SIZE_FAILS ((size_t)1 << 62)  /* no size from here up can be served */

static const unsigned char ctor_magic[CTOR_BYTES] = "constructed-obj";

/* Names the program in failure reports ("fuzz_api", or the stress and its thread). */
static OPS_TLS const char *ops_prog = "fuzz_api";

static __attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    (void)!write(2, ops_prog, strlen(ops_prog));
    (void)!write(2, ": model disagreement: ", 22);
    (void)!write(2, buf, (size_t)n);
    abort();
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail(__VA_ARGS__);                                                                     \
    } while (0)

/* ---- the input ---- */

struct input {
    const uint8_t *p;
    size_t left;
    bool generated; /* the bytes come from rng, not from p */
    uint64_t rng, word;
    unsigned word_left; /* bytes of word not yet used */
};

static inline uint64_t ops_rng_next(uint64_t *s) { /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static uint8_t u8(struct input *in) {
    if (in->generated) {
        if (!in->word_left) {
            in->word = ops_rng_next(&in->rng);
            in->word_left = 8;
        }
        in->word_left--;
        uint8_t b = (uint8_t)in->word;
        in->word >>= 8;
        return b;
    }
    if (!in->left)
        return 0;
    in->left--;
    return *in->p++;
}

static uint16_t u16(struct input *in) {
    uint16_t lo = u8(in);
    return (uint16_t)(lo | (uint16_t)u8(in) << 8);
}

static uint32_t u32(struct input *in) {
    uint32_t lo = u16(in);
    return lo | (uint32_t)u16(in) << 16;
}

static uint64_t u64(struct input *in) {
    uint64_t lo = u32(in);
    return lo | (uint64_t)u32(in) << 32;
}

/* A size: mostly small, some medium and large, a few that cannot be
 * served (flagged by *huge, which the model expects to fail with ENOMEM). */
static size_t pick_size(struct input *in, bool *huge) {
    uint8_t kind = u8(in);
    *huge = false;
    /* A generated program takes the large sizes (cases 11 to 13) one time
     * in eight, so that most operations exercise the threads' caches. */
    if (in->generated && (kind & 15) >= 11 && (kind & 15) <= 13 && !((kind & 15) == 13 && (kind & 0x10)) &&
        (u8(in) & 7))
        kind = (uint8_t)((kind & 0xf0) | (1 + u8(in) % 9));
    switch (kind & 15) {
    case 0:
        return 0;
    case 1: case 2: case 3: case 4:
        return u8(in);
    case 5: case 6: case 7:
        return u16(in) & 4095;
    case 8: case 9:
        return u16(in) % 32769; /* the largest class is 32 KiB */
    case 10:
        return 32768 + (u8(in) % 3) - 1; /* around the small/large boundary */
    case 11:
        return (size_t)(u32(in) % (1u << 20)); /* large, up to 1 MiB */
    case 12:
        return (size_t)(u8(in) + 1) * PAGE + (u8(in) % 3) - 1; /* around page multiples */
    case 13:
        if (kind & 0x10) {
            *huge = true;
            return SIZE_MAX - (u8(in) & 63);
        }
        return (size_t)(u32(in) % (4u << 20)); /* up to 4 MiB */
    case 14:
        if (kind & 0x10) {
            *huge = true;
            return (size_t)PTRDIFF_MAX - u16(in) + (kind >> 5);
        }
        return (size_t)1 << (u8(in) % 21); /* powers of two up to 1 MiB */
    default:
        if (kind & 0x10) {
            *huge = true;
            return ((size_t)1 << 62) + u32(in); /* beyond any address space */
        }
        return u16(in);
    }
}

/* An alignment: powers of two up to 2 MiB, a few non-powers, 0, and
 * some too large to serve (*huge). */
static size_t pick_align(struct input *in, bool *huge) {
    uint8_t k = u8(in);
    *huge = false;
    if (k < 200)
        return (size_t)1 << (k % 22);
    if (k < 220)
        return k % 3 == 0 ? 0 : (size_t)((k % 40) + 1) * 24; /* 0 and non-powers */
    size_t a = k < 240 ? (size_t)1 << (47 + k % 17) : u64(in); /* too large, or anything */
    if (a > ((size_t)1 << 21) && a < ALIGN_FAILS)
        a = a % ((size_t)1 << 21) + 1; /* mappings of terabytes might or might not be served */
    size_t r = 1;
    while (r < a && r <= SIZE_MAX / 2)
        r <<= 1;
    *huge = r >= ALIGN_FAILS; /* rounded up to a power of two, more than the address space */
    return a;
}

static size_t token_max; /* the configured -falloc-token-max, 0 for none */

/* A token: in range, at the maximum, above it, or any value. */
static size_t pick_token(struct input *in) {
    uint8_t k = u8(in);
    size_t max = token_max ? token_max : 64;
    switch (k & 7) {
    case 0: case 1: case 2:
        return u8(in) % max;
    case 3:
        return max - 1;
    case 4:
        return max;
    case 5:
        return max + u8(in);
    case 6:
        return SIZE_MAX - (u8(in) & 3);
    default:
        return u64(in);
    }
}

/* ---- the model's state ---- */

enum how {
    HOW_PLAIN,   /* malloc, calloc, realloc: free_sized(p, size) applies */
    HOW_ALIGNED, /* aligned_alloc, posix_memalign: free_aligned_sized(p, align, size) */
    HOW_OTHER,   /* memalign, valloc, pvalloc, kmalloc, buckets: free / kfree */
    HOW_CACHE,   /* kmem_cache_alloc: kmem_cache_free, kfree or free */
};

struct block {
    unsigned char *p;   /* NULL: the slot is empty */
    size_t size;        /* bytes asked for */
    size_t align;       /* for HOW_ALIGNED */
    enum how how;
    int cache;          /* HOW_CACHE: index into caches[] */
    uint8_t seed;       /* the pattern */
};

static OPS_TLS struct block slots[SLOTS];
static OPS_TLS uint8_t next_seed = 1;

struct cache {
    struct kmem_cache *c; /* NULL: none */
    unsigned size, align;
    bool ctor;
    size_t live;          /* blocks of slots[] in it */
};

static OPS_TLS struct cache caches[CACHES];
static OPS_TLS unsigned caches_made; /* dedicated caches created by this table */
static unsigned dedicated_limit = 256;   /* the library's (PM_MAX_DEDICATED) */
static unsigned dedicated_reserve = 200; /* past this many, caches are kept for good */

static kmem_buckets *buckets[8];
static unsigned buckets_made;
static bool ops_fixed_buckets;
static size_t product_max = 4u << 20; /* the largest n * size of calloc and friends */
static bool ops_whole_process = true;
static bool ops_no_stats; /* the statistics operation skipped */

static struct pm_config config;
static bool trace; /* FUZZ_API_TRACE set: each operation and block on stderr */
static bool strict_sizes; /* usable size is the size asked for */
static int devnull = -1;

static void ctor_fn(void *obj) {
    memcpy(obj, ctor_magic, CTOR_BYTES);
}

/* ---- patterns ---- */

static inline uint8_t pat(uint8_t seed, size_t i) {
    return (uint8_t)(seed + i * 131 + (i >> 8) * 7 + (i >> 16));
}

/* The bytes of a block of `size` that carry the pattern: all of a small
 * block; of a larger one the first and last 4 KiB and each page's first
 * bytes. visit() calls fn on each index below `limit`. */
static bool in_set(size_t size, size_t i) {
    return size <= DENSE_MAX || i < PAGE || i >= size - PAGE || (i & (PAGE - 1)) < 8;
}

static size_t first_from(const struct block *b) {
    /* a cache object with a constructor keeps its constructed prefix */
    return b->how == HOW_CACHE && caches[b->cache].ctor ? CTOR_BYTES : 0;
}

static void fill(struct block *b, size_t from) {
    size_t f = first_from(b);
    if (from < f)
        from = f;
    for (size_t i = from; i < b->size; i++) {
        if (b->size > DENSE_MAX && !in_set(b->size, i)) {
            /* skip to the next page's start or the tail */
            size_t next = (i | (PAGE - 1)) + 1;
            if (next > b->size - PAGE)
                next = b->size - PAGE > i ? b->size - PAGE : i + 1;
            i = next - 1;
            continue;
        }
        b->p[i] = pat(b->seed, i);
    }
}

/* Checks the pattern of `b` (as written for its size) below `limit`. */
static void verify(const struct block *b, size_t limit, const char *when) {
    size_t end = limit < b->size ? limit : b->size;
    size_t f = first_from(b);
    for (size_t i = f; i < end; i++) {
        if (b->size > DENSE_MAX && !in_set(b->size, i)) {
            size_t next = (i | (PAGE - 1)) + 1;
            if (next > b->size - PAGE)
                next = b->size - PAGE > i ? b->size - PAGE : i + 1;
            i = next - 1;
            continue;
        }
        CHECK(b->p[i] == pat(b->seed, i), "%s: block %p (size %zu) byte %zu is %#x, expected %#x", when,
              (void *)b->p, b->size, i, b->p[i], pat(b->seed, i));
    }
    if (f && end >= f)
        CHECK(memcmp(b->p, ctor_magic, CTOR_BYTES) == 0, "%s: constructed prefix of %p lost", when, (void *)b->p);
}

static void check_zero(const unsigned char *p, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++) {
        if (n > DENSE_MAX && i >= PAGE && i < n - PAGE && (i & (PAGE - 1)) >= 8) {
            size_t next = (i | (PAGE - 1)) + 1; /* the next page's first bytes, or the tail */
            i = (next < n - PAGE ? next : n - PAGE) - 1;
            continue;
        }
        CHECK(p[i] == 0, "%s: byte %zu of %p (size %zu) is %#x, not zero", what, i, (const void *)p, n, p[i]);
    }
}

/* ---- checks on every result ---- */

static size_t usable_of(const void *p) {
    size_t u = pm_usable_size(p);
    CHECK(pmfz_malloc_usable_size((void *)p) == u, "malloc_usable_size and pm_usable_size differ for %p", p);
    CHECK(pm_ksize(p) == u, "ksize and pm_usable_size differ for %p", p);
    return u;
}

/* A fresh result: aligned, at least `size` usable, inside no other live
 * block, writable to its last usable byte. */
static void check_new(const unsigned char *p, size_t size, size_t align, int self, const char *what) {
    CHECK(p, "%s(%zu) returned NULL", what, size);
    if (align < 8 && size >= 8)
        align = 8;
    if (align && (align & (align - 1)) == 0)
        CHECK((uintptr_t)p % align == 0, "%s(%zu) returned %p, not %zu-aligned", what, size, (const void *)p,
              align);
    size_t u = usable_of(p);
    CHECK(u >= size, "%s(%zu): usable size %zu is less", what, size, u);
    size_t span = size ? size : 1;
    for (int i = 0; i < SLOTS; i++) {
        const struct block *o = &slots[i];
        if (i == self || !o->p)
            continue;
        size_t ospan = o->size ? o->size : 1;
        bool apart = (uintptr_t)p + span <= (uintptr_t)o->p || (uintptr_t)o->p + ospan <= (uintptr_t)p;
        CHECK(apart, "%s(%zu) returned %p, inside live block %p of %zu bytes", what, size, (const void *)p,
              (void *)o->p, o->size);
    }
    struct pm_ptr_info info;
    CHECK(pm_ptr_info(p, &info), "%s(%zu): pm_ptr_info does not know %p", what, size, (const void *)p);
    CHECK(info.live, "%s(%zu): pm_ptr_info says %p is not live", what, size, (const void *)p);
    CHECK(info.start == p, "%s(%zu): pm_ptr_info start %p for %p", what, size, info.start, (const void *)p);
    if (u) {
        /* the whole usable size is the caller's */
        volatile unsigned char *last = (volatile unsigned char *)p + u - 1;
        *last = *last;
    }
}

static void check_failed(const void *p, int err, int want, const char *what, size_t size) {
    CHECK(!p, "%s(%zu) should have failed", what, size);
    CHECK(err == want, "%s(%zu) failed with errno %d, expected %d", what, size, err, want);
}

/* In typed mode a kmalloc-cache allocation made with a token is in the
 * token's partition, or, for a token that names no type, in one of the
 * unknown group's (the call site chooses). */
static void check_partition(const void *p, size_t token) {
    if (config.mode != PM_MODE_TYPED || !p)
        return;
    struct pm_ptr_info info;
    if (!pm_ptr_info(p, &info) || !info.is_small || info.kind != PM_CACHE_KMALLOC)
        return;
    if (pm_token_group(token) == PM_GROUP_UNKNOWN) {
        struct pm_group_range r = config.groups[PM_GROUP_UNKNOWN];
        CHECK(info.partition >= r.first && info.partition < r.first + r.count,
              "unknown token %zu: block %p in partition %u, outside the unknown group [%u, %u)", token, p,
              info.partition, r.first, r.first + r.count);
        return;
    }
    unsigned want = pm_token_partition(token);
    CHECK(info.partition == want, "token %zu: block %p in partition %u, expected %u", token, p, info.partition,
          want);
}

/* ---- the table ---- */

static void take_in(int s, void *p, size_t size, size_t align, enum how how, int cache, const char *what) {
    struct block *b = &slots[s];
    check_new(p, size, align, s, what);
    b->p = p;
    b->size = size;
    b->align = align;
    b->how = how;
    b->cache = cache;
    b->seed = next_seed++;
    if (trace)
        fprintf(stderr, "  slot %d = %s(%zu, align %zu) = %p\n", s, what, size, align, p);
    fill(b, 0);
}

static void take(int s, void *p, size_t size, size_t align, enum how how, const char *what) {
    take_in(s, p, size, align, how, -1, what);
}

static void forget(int s) {
    struct block *b = &slots[s];
    if (b->how == HOW_CACHE)
        caches[b->cache].live--;
    memset(b, 0, sizeof *b);
}

/* Before a cache object goes back: its constructed state restored. */
static void restore_ctor(const struct block *b) {
    if (b->how == HOW_CACHE && caches[b->cache].ctor)
        memcpy(b->p, ctor_magic, CTOR_BYTES);
}

/* Frees slot s by one of the calls that apply to it. */
static void release(int s, uint8_t which) {
    struct block *b = &slots[s];
    if (!b->p)
        return;
    verify(b, SIZE_MAX, "before free");
    restore_ctor(b);
    switch (b->how) {
    case HOW_PLAIN:
        switch (which % 6) {
        case 0: pmfz_free(b->p); break;
        case 1: pm_free(b->p); break;
        case 2: pmfz_free_sized(b->p, b->size); break;
        case 3: pm_free_sized(b->p, b->size); break;
        case 4: pm_kfree(b->p); break;
        default: pmfz___libc_free(b->p); break;
        }
        break;
    case HOW_ALIGNED:
        switch (which % 4) {
        case 0: pmfz_free(b->p); break;
        case 1: pmfz_free_aligned_sized(b->p, b->align, b->size); break;
        case 2: pm_free_aligned_sized(b->p, b->align, b->size); break;
        default: pm_free(b->p); break;
        }
        break;
    case HOW_OTHER:
        switch (which % 3) {
        case 0: pmfz_free(b->p); break;
        case 1: pm_kfree(b->p); break;
        default: pm_free(b->p); break;
        }
        break;
    case HOW_CACHE:
        switch (which % 3) {
        case 0: kmem_cache_free(caches[b->cache].c, b->p); break;
        case 1: pm_kfree(b->p); break;
        default: pmfz_free(b->p); break;
        }
        break;
    }
    forget(s);
}

/* After a successful realloc of slot s to `size` at `p`. */
static void moved(int s, void *p, size_t size, const char *what) {
    struct block *b = &slots[s];
    struct block old = *b;
    b->p = NULL; /* the old block is gone: no overlap check against it */
    check_new(p, size, 0, s, what);
    b->p = p;
    size_t kept = old.size < size ? old.size : size;
    verify(&(struct block){.p = p, .size = old.size, .how = old.how, .cache = old.cache, .seed = old.seed}, kept,
           what);
    b->size = size;
    b->how = HOW_PLAIN;
    b->align = 0;
    if (trace)
        fprintf(stderr, "  slot %d = %s(%p, %zu) = %p\n", s, what, (void *)old.p, size, p);
    if (old.how == HOW_CACHE)
        caches[old.cache].live--;
    b->cache = -1;
    fill(b, 0);
}

/* ---- operations ---- */

static void op_alloc(struct input *in, int s, uint8_t op) {
    release(s, u8(in));
    bool huge;
    size_t size = pick_size(in, &huge);
    void *p;
    const char *what;
    uint8_t v = u8(in);
    switch (op) {
    case 0:
        what = "malloc";
        errno = 0;
        p = (v & 3) == 0 ? pmfz_malloc(size) : (v & 3) == 1 ? pm_malloc(size) : pmfz___libc_malloc(size);
        break;
    default: {
        what = "calloc";
        bool nhuge;
        size_t n = pick_size(in, &nhuge);
        if (!huge && !nhuge && n && size > product_max / n)
            n = product_max / (size ? size : 1); /* keep it servable */
        size_t total;
        huge = __builtin_mul_overflow(n, size, &total) || total >= SIZE_FAILS;
        errno = 0;
        p = (v & 3) == 0 ? pmfz_calloc(n, size) : (v & 3) == 1 ? pm_calloc(n, size) : pmfz___libc_calloc(n, size);
        if (huge) {
            check_failed(p, errno, ENOMEM, what, size);
            return;
        }
        check_new(p, total, 0, s, what);
        check_zero(p, total, what);
        take(s, p, total, 0, HOW_PLAIN, what);
        return;
    }
    }
    if (huge) {
        check_failed(p, errno, ENOMEM, what, size);
        return;
    }
    take(s, p, size, 0, HOW_PLAIN, what);
    if (strict_sizes && size)
        CHECK(usable_of(p) == size, "%s(%zu): usable size %zu under strict checking", what, size, usable_of(p));
}

static void op_realloc(struct input *in, int s) {
    struct block *b = &slots[s];
    bool huge;
    size_t size = pick_size(in, &huge);
    uint8_t v = u8(in);
    if (b->p)
        verify(b, SIZE_MAX, "before realloc");
    restore_ctor(b);
    void *p;
    errno = 0;
    if ((v & 7) == 7) { /* reallocarray, perhaps overflowing */
        bool nhuge;
        size_t n = pick_size(in, &nhuge);
        size_t total;
        bool over = __builtin_mul_overflow(n, size, &total);
        if (!over && !huge && !nhuge && total > product_max) {
            n = 1;
            total = size;
        }
        huge = over || total >= SIZE_FAILS;
        p = pmfz_reallocarray(b->p, n, size);
        size = total;
    } else {
        p = (v & 3) == 0 ? pmfz_realloc(b->p, size) : (v & 3) == 1 ? pm_realloc(b->p, size)
                                                                    : pmfz___libc_realloc(b->p, size);
    }
    if (huge) {
        check_failed(p, errno, ENOMEM, "realloc", size);
        if (b->p)
            verify(b, SIZE_MAX, "after a failed realloc");
        return;
    }
    if (size == 0 && b->p) { /* frees, returns NULL */
        CHECK(!p, "realloc(%p, 0) returned %p", (void *)b->p, p);
        forget(s);
        return;
    }
    if (!b->p) {
        take(s, p, size, 0, HOW_PLAIN, "realloc(NULL)");
        return;
    }
    moved(s, p, size, "realloc");
}

static void op_aligned(struct input *in, int s, uint8_t op) {
    release(s, u8(in));
    bool ahuge, shuge;
    size_t align = pick_align(in, &ahuge);
    size_t size = pick_size(in, &shuge);
    bool pow2 = align && (align & (align - 1)) == 0;
    void *p = NULL;
    int err;
    uint8_t v = u8(in);
    switch (op) {
    case 0: { /* aligned_alloc: EINVAL unless a power of two */
        errno = 0;
        p = v & 1 ? pmfz_aligned_alloc(align, size) : pm_aligned_alloc(align, size);
        err = errno;
        if (!pow2)
            return check_failed(p, err, EINVAL, "aligned_alloc", size);
        if (ahuge || shuge)
            return check_failed(p, err, ENOMEM, "aligned_alloc", size);
        take(s, p, size, align, HOW_ALIGNED, "aligned_alloc");
        return;
    }
    case 1: { /* posix_memalign: a code, errno and *out left alone */
        void *out = (void *)&out;
        errno = 4321;
        int rc = v & 1 ? pmfz_posix_memalign(&out, align, size) : pm_posix_memalign(&out, align, size);
        CHECK(errno == 4321, "posix_memalign changed errno to %d", errno);
        if (!pow2 || align % sizeof(void *)) {
            CHECK(rc == EINVAL, "posix_memalign(%zu, %zu) returned %d, expected EINVAL", align, size, rc);
            CHECK(out == (void *)&out, "posix_memalign wrote *out on failure");
            return;
        }
        if (ahuge || shuge) {
            CHECK(rc == ENOMEM, "posix_memalign(%zu, %zu) returned %d, expected ENOMEM", align, size, rc);
            CHECK(out == (void *)&out, "posix_memalign wrote *out on failure");
            return;
        }
        CHECK(rc == 0, "posix_memalign(%zu, %zu) returned %d", align, size, rc);
        take(s, out, size, align, HOW_ALIGNED, "posix_memalign");
        return;
    }
    case 2: { /* memalign: rounds a non-power up; EINVAL above half the space */
        errno = 0;
        p = v & 1 ? pmfz_memalign(align, size) : pmfz___libc_memalign(align, size);
        err = errno;
        if (align > SIZE_MAX / 2 + 1)
            return check_failed(p, err, EINVAL, "memalign", size);
        size_t a = 1;
        while (a < align)
            a <<= 1;
        if (ahuge || shuge || a >= ALIGN_FAILS)
            return check_failed(p, err, ENOMEM, "memalign", size);
        take(s, p, size, a, HOW_OTHER, "memalign");
        return;
    }
    case 3: /* valloc */
        errno = 0;
        p = v & 1 ? pmfz_valloc(size) : pmfz___libc_valloc(size);
        if (shuge)
            return check_failed(p, errno, ENOMEM, "valloc", size);
        take(s, p, size, PAGE, HOW_OTHER, "valloc");
        return;
    default: { /* pvalloc: whole pages, one for 0 */
        errno = 0;
        p = v & 1 ? pmfz_pvalloc(size) : pmfz___libc_pvalloc(size);
        if (shuge)
            return check_failed(p, errno, ENOMEM, "pvalloc", size);
        size_t rounded = size ? (size + PAGE - 1) / PAGE * PAGE : PAGE;
        CHECK(p && usable_of(p) >= rounded, "pvalloc(%zu): usable %zu, expected %zu", size, p ? usable_of(p) : 0,
              rounded);
        take(s, p, size, PAGE, HOW_OTHER, "pvalloc");
        return;
    }
    }
}

/* The token entry points: the default ABI, the fast ABI for a few tokens,
 * and the pm_*_token names. */
static void op_token(struct input *in, int s) {
    uint8_t which = u8(in);
    size_t t = pick_token(in);
    bool huge, ahuge;
    size_t size = pick_size(in, &huge);
    struct block *b = &slots[s];
    void *p;
    int err;
    switch (which % 12) {
    case 0: case 1: case 2: case 3: case 4: { /* malloc-like */
        release(s, which >> 4);
        errno = 0;
        switch (which % 5) {
        case 0: p = __alloc_token_malloc(size, t); break;
        case 1: p = pm_malloc_token(size, t); break;
        case 2: t = 0; p = __alloc_token_0_malloc(size); break;
        case 3: t = 63; p = __alloc_token_63_malloc(size); break;
        default: p = __alloc_token_valloc(size, t); break;
        }
        err = errno;
        if (huge)
            return check_failed(p, err, ENOMEM, "__alloc_token_malloc", size);
        take(s, p, size, which % 5 == 4 ? PAGE : 0, which % 5 == 4 ? HOW_OTHER : HOW_PLAIN,
             "__alloc_token_malloc");
        check_partition(p, t);
        return;
    }
    case 5: case 6: { /* calloc */
        release(s, which >> 4);
        size_t n = u8(in);
        if (n && size > product_max / n)
            n = 1;
        size_t total;
        bool over = __builtin_mul_overflow(n, size, &total);
        errno = 0;
        if (which % 12 == 5) {
            p = __alloc_token_calloc(n, size, t);
        } else if (which & 0x80) {
            p = pm_calloc_token(n, size, t);
        } else {
            t = 1;
            p = __alloc_token_1_calloc(n, size);
        }
        if (over || total >= SIZE_FAILS)
            return check_failed(p, errno, ENOMEM, "__alloc_token_calloc", size);
        check_new(p, total, 0, s, "__alloc_token_calloc");
        check_zero(p, total, "__alloc_token_calloc");
        take(s, p, total, 0, HOW_PLAIN, "__alloc_token_calloc");
        check_partition(p, t);
        return;
    }
    case 7: case 8: { /* realloc and reallocarray with a token: it binds the partition */
        if (b->p)
            verify(b, SIZE_MAX, "before __alloc_token_realloc");
        restore_ctor(b);
        size_t n = 1, total = size;
        bool over = false;
        errno = 0;
        if (which % 12 == 8) {
            n = u8(in) | (which & 0x80 ? (size_t)1 << 60 : 0);
            over = __builtin_mul_overflow(n, size, &total);
            if (!over && !huge && total > product_max) {
                n = 1;
                total = size;
            }
            p = __alloc_token_reallocarray(b->p, n, size, t);
        } else if (which & 0x80) {
            p = pm_realloc_token(b->p, size, t);
        } else if (which & 0x40) {
            t = 7;
            p = __alloc_token_7_realloc(b->p, size);
        } else {
            p = __alloc_token_realloc(b->p, size, t);
        }
        err = errno;
        if (over || total >= SIZE_FAILS) {
            check_failed(p, err, ENOMEM, "__alloc_token_realloc", total);
            if (b->p)
                verify(b, SIZE_MAX, "after a failed __alloc_token_realloc");
            return;
        }
        if (total == 0 && b->p) {
            CHECK(!p, "__alloc_token_realloc(%p, 0) returned %p", (void *)b->p, p);
            forget(s);
            return;
        }
        if (!b->p)
            take(s, p, total, 0, HOW_PLAIN, "__alloc_token_realloc(NULL)");
        else
            moved(s, p, total, "__alloc_token_realloc");
        check_partition(p, t);
        return;
    }
    default: { /* aligned with a token */
        release(s, which >> 4);
        size_t align = pick_align(in, &ahuge);
        bool pow2 = align && (align & (align - 1)) == 0;
        errno = 0;
        if (which % 12 == 9) {
            p = which & 0x80 ? pm_aligned_alloc_token(align, size, t)
                : which & 0x40 ? (t = 15, __alloc_token_15_aligned_alloc(align, size))
                               : __alloc_token_aligned_alloc(align, size, t);
            err = errno;
            if (!pow2)
                return check_failed(p, err, EINVAL, "__alloc_token_aligned_alloc", size);
            if (ahuge || huge)
                return check_failed(p, err, ENOMEM, "__alloc_token_aligned_alloc", size);
            take(s, p, size, align, HOW_ALIGNED, "__alloc_token_aligned_alloc");
        } else if (which % 12 == 10) {
            void *out = NULL;
            errno = 4321;
            int rc = __alloc_token_posix_memalign(&out, align, size, t);
            CHECK(errno == 4321, "__alloc_token_posix_memalign changed errno");
            if (!pow2 || align % sizeof(void *)) {
                CHECK(rc == EINVAL && !out, "__alloc_token_posix_memalign(%zu): %d, expected EINVAL", align, rc);
                return;
            }
            if (ahuge || huge) {
                CHECK(rc == ENOMEM && !out, "__alloc_token_posix_memalign(%zu, %zu): %d, expected ENOMEM", align,
                      size, rc);
                return;
            }
            CHECK(rc == 0, "__alloc_token_posix_memalign(%zu, %zu) returned %d", align, size, rc);
            p = out;
            take(s, p, size, align, HOW_ALIGNED, "__alloc_token_posix_memalign");
        } else {
            if (which & 0x80) {
                p = __alloc_token_pvalloc(size, t);
                if (huge)
                    return check_failed(p, errno, ENOMEM, "__alloc_token_pvalloc", size);
                size_t rounded = size ? (size + PAGE - 1) / PAGE * PAGE : PAGE;
                CHECK(p && usable_of(p) >= rounded, "__alloc_token_pvalloc(%zu): too small", size);
                take(s, p, size, PAGE, HOW_OTHER, "__alloc_token_pvalloc");
                return;
            }
            p = __alloc_token_memalign(align, size, t);
            err = errno;
            if (align > SIZE_MAX / 2 + 1)
                return check_failed(p, err, EINVAL, "__alloc_token_memalign", size);
            size_t a = 1;
            while (a < align)
                a <<= 1;
            if (ahuge || huge || a >= ALIGN_FAILS)
                return check_failed(p, err, ENOMEM, "__alloc_token_memalign", size);
            take(s, p, size, a, HOW_OTHER, "__alloc_token_memalign");
        }
        return;
    }
    }
}

static gfp_t pick_gfp(struct input *in) {
    uint8_t f = u8(in);
    return (f & 1 ? __GFP_ZERO : 0) | (f & 2 ? __GFP_NOWARN | GFP_ATOMIC : GFP_KERNEL);
}

static void op_kmalloc(struct input *in, int s) {
    release(s, u8(in));
    uint8_t which = u8(in);
    bool huge;
    size_t size = pick_size(in, &huge);
    gfp_t gfp = pick_gfp(in);
    size_t t = which & 0x80 ? PM_NO_TOKEN : pick_token(in);
    void *p;
    size_t total = size;
    bool fails = huge;
    switch (which % 4) {
    case 0:
        p = pm_kmalloc(size, gfp, t);
        break;
    case 1: {
        size_t n = u8(in) | (which & 0x40 ? (size_t)1 << 62 : 0);
        bool over = __builtin_mul_overflow(n, size, &total);
        if (!over && !huge && total > product_max) {
            n = 1;
            total = size;
        }
        fails = over || total >= SIZE_FAILS;
        p = pm_kmalloc_array(n, size, gfp, t);
        break;
    }
    case 2: { /* kmemdup of a live block's prefix, or of a small buffer */
        static OPS_TLS unsigned char src[256];
        const struct block *o = &slots[u8(in) % SLOTS];
        const unsigned char *from = src;
        if (o->p && o->size && !huge) {
            from = o->p;
            total = size % (o->size + 1);
        } else {
            total = size % sizeof src;
            for (size_t i = 0; i < total; i++)
                src[i] = (uint8_t)(i * 7);
        }
        fails = false;
        p = pm_kmemdup(from, total, gfp, t);
        CHECK(p, "kmemdup(%zu) returned NULL", total);
        CHECK(memcmp(p, from, total) == 0, "kmemdup(%zu): copy differs", total);
        gfp &= ~__GFP_ZERO;
        break;
    }
    default: { /* kstrdup */
        char str[64];
        size_t len = size % sizeof str;
        for (size_t i = 0; i < len; i++)
            str[i] = (char)('a' + i % 26);
        str[len] = '\0';
        fails = false;
        t = PM_NO_TOKEN; /* placed by its call site */
        p = pm_kstrdup(which & 0x40 ? NULL : str, gfp);
        if (which & 0x40) {
            CHECK(!p, "kstrdup(NULL) returned %p", p);
            return;
        }
        CHECK(p && strcmp(p, str) == 0, "kstrdup(\"%s\") gave %s", str, p ? (char *)p : "NULL");
        total = len + 1;
        gfp &= ~__GFP_ZERO;
        break;
    }
    }
    if (fails) {
        CHECK(!p, "kmalloc(%zu) should have failed", total);
        return;
    }
    check_new(p, total, 0, s, "kmalloc");
    if (gfp & __GFP_ZERO)
        check_zero(p, total, "kzalloc");
    take(s, p, total, 0, HOW_OTHER, "kmalloc");
    if (t != PM_NO_TOKEN)
        check_partition(p, t);
}

static void op_krealloc(struct input *in, int s) {
    struct block *b = &slots[s];
    bool huge;
    size_t size = pick_size(in, &huge);
    gfp_t gfp = pick_gfp(in);
    size_t t = u8(in) & 1 ? PM_NO_TOKEN : pick_token(in);
    if (b->p)
        verify(b, SIZE_MAX, "before krealloc");
    restore_ctor(b);
    size_t old_usable = b->p ? usable_of(b->p) : 0;
    void *p = pm_krealloc(b->p, size, gfp, t);
    if (huge) {
        CHECK(!p, "krealloc(%zu) should have failed", size);
        if (b->p)
            verify(b, SIZE_MAX, "after a failed krealloc");
        return;
    }
    if (size == 0 && b->p) {
        CHECK(!p, "krealloc(%p, 0) returned %p", (void *)b->p, p);
        forget(s);
        return;
    }
    if ((gfp & __GFP_ZERO) && size > old_usable)
        check_zero((unsigned char *)p + old_usable, size - old_usable, "krealloc __GFP_ZERO tail");
    if (!b->p)
        take(s, p, size, 0, HOW_OTHER, "krealloc(NULL)");
    else
        moved(s, p, size, "krealloc");
    b->how = HOW_OTHER;
    if (t != PM_NO_TOKEN)
        check_partition(p, t);
}

/* Frees every block of cache k (before its destruction). */
static void empty_cache(int k) {
    for (int s = 0; s < SLOTS; s++)
        if (slots[s].p && slots[s].how == HOW_CACHE && slots[s].cache == k)
            release(s, (uint8_t)s);
}

static void destroy_cache(int k) {
    if (!caches[k].c)
        return;
    empty_cache(k);
    kmem_cache_destroy(caches[k].c);
    memset(&caches[k], 0, sizeof caches[k]);
}

static void op_cache_create(struct input *in) {
    int k = u8(in) % CACHES;
    unsigned size = u16(in);
    uint8_t a = u8(in), f = u8(in);
    switch (f & 3) {
    case 0: size %= 4097; break;
    case 1: size %= 32769; break;
    case 2: size = (size % 512) * 8 + 136; break; /* multiples of 8 above 128 */
    default: size |= (unsigned)(f >> 2) << 16; break; /* anything, mostly too large */
    }
    unsigned align = a < 128 ? 1u << (a % 14) : a < 200 ? 0 : a;
    unsigned flags = (f & 4 ? SLAB_HWCACHE_ALIGN : 0) | SLAB_ACCOUNT;
    bool ctor = (f & 8) && size >= CTOR_BYTES;
    if (caches[k].c && caches_made >= dedicated_reserve)
        return; /* kept: the library never reuses a destroyed cache's addresses */
    destroy_cache(k);
    unsigned eff = flags & SLAB_HWCACHE_ALIGN ? (align > 64 ? align : 64) : align;
    if (eff < 8)
        eff = 8;
    bool valid = size > 0 && size <= 32768 && (eff & (eff - 1)) == 0 && eff <= PAGE;
    struct kmem_cache *c = kmem_cache_create((f & 0x80) ? NULL : "fuzz-cache", size, align, flags,
                                             ctor ? ctor_fn : NULL);
    if (!valid || (f & 0x80) || caches_made >= dedicated_limit) {
        CHECK(!c, "kmem_cache_create(%u, %u, %#x) should have failed", size, align, flags);
        return;
    }
    if (!c) {
        /* rounded up past the largest object a cache holds */
        CHECK(size > 32768 - 4096, "kmem_cache_create(%u, %u, %#x) failed", size, align, flags);
        return;
    }
    caches_made++;
    CHECK(strcmp(kmem_cache_name(c), "fuzz-cache") == 0, "kmem_cache_name is %s", kmem_cache_name(c));
    caches[k] = (struct cache){.c = c, .size = size, .align = eff, .ctor = ctor, .live = 0};
}

static void op_cache(struct input *in, int s) {
    int k = u8(in) % CACHES;
    uint8_t v = u8(in);
    if (v & 0x80) {
        if (caches_made < dedicated_reserve)
            destroy_cache(k);
        return;
    }
    if (!caches[k].c)
        return;
    release(s, v);
    gfp_t gfp = v & 1 ? __GFP_ZERO : 0;
    unsigned char *p = kmem_cache_alloc(caches[k].c, gfp);
    CHECK(p, "kmem_cache_alloc of a %u-byte cache returned NULL", caches[k].size);
    CHECK((uintptr_t)p % caches[k].align == 0, "kmem_cache_alloc: %p not %u-aligned", (void *)p,
          caches[k].align);
    if (gfp & __GFP_ZERO)
        check_zero(p, caches[k].size, "kmem_cache_zalloc");
    else if (caches[k].ctor)
        CHECK(memcmp(p, ctor_magic, CTOR_BYTES) == 0, "kmem_cache_alloc: object %p not constructed", (void *)p);
    struct pm_ptr_info info;
    CHECK(pm_ptr_info(p, &info) && info.is_small && info.kind == PM_CACHE_DEDICATED,
          "kmem_cache_alloc: %p is not a dedicated cache's", (void *)p);
    if (gfp & __GFP_ZERO && caches[k].ctor)
        memcpy(p, ctor_magic, CTOR_BYTES); /* constructed again, as its user must before freeing */
    take_in(s, p, caches[k].size, caches[k].align, HOW_CACHE, k, "kmem_cache_alloc");
    caches[k].live++;
}

static void op_buckets(struct input *in, int s) {
    uint8_t v = u8(in);
    if ((v & 0x80) && !ops_fixed_buckets) {
        bool named = !(v & 0x40);
        kmem_buckets *b = kmem_buckets_create(named ? "fuzz-buckets" : NULL, 0, 0, 0, NULL);
        if (!named || buckets_made >= 8) {
            CHECK(!b, "kmem_buckets_create should have failed (%u made)", buckets_made);
            return;
        }
        CHECK(b, "kmem_buckets_create failed (%u made)", buckets_made);
        buckets[buckets_made++] = b;
        return;
    }
    release(s, v);
    bool huge;
    size_t size = pick_size(in, &huge);
    gfp_t gfp = pick_gfp(in);
    unsigned i = u8(in) % 9;
    kmem_buckets *b = i < buckets_made ? buckets[i] : NULL; /* NULL: kmalloc's */
    void *p = kmem_buckets_alloc(b, size, gfp);
    if (huge) {
        CHECK(!p, "kmem_buckets_alloc(%zu) should have failed", size);
        return;
    }
    check_new(p, size, 0, s, "kmem_buckets_alloc");
    if (gfp & __GFP_ZERO)
        check_zero(p, size, "kmem_buckets_alloc __GFP_ZERO");
    if (b && size && size <= config.max_small_size - 8) { /* the strict canary takes 8 bytes */
        struct pm_ptr_info info;
        CHECK(pm_ptr_info(p, &info) && info.is_small && info.kind == PM_CACHE_BUCKET,
              "kmem_buckets_alloc(%zu): %p is not a bucket set's", size, p);
    }
    take(s, p, size, 0, HOW_OTHER, "kmem_buckets_alloc");
}

/* Statistics agree with the table: the live slab objects and large
 * blocks it holds are those the library counts (nothing else in this
 * process allocates from partmalloc). */
static OPS_TLS struct pm_cache_stats cstats[(PARTMALLOC_MAX_PARTITIONS + 12) * 64];

static void op_stats(struct input *in) {
    uint8_t v = u8(in);
    switch (v % 6) {
    case 0: case 1: {
        size_t small = 0, large = 0, large_bytes = 0;
        for (int s = 0; s < SLOTS; s++) {
            struct pm_ptr_info info;
            if (!slots[s].p || !pm_ptr_info(slots[s].p, &info))
                continue;
            if (info.is_small)
                small++;
            else if (strcmp(info.cache_name, "large") == 0) {
                large++;
                large_bytes += info.object_size;
            }
        }
        size_t n = pm_stats_caches(cstats, sizeof cstats / sizeof cstats[0]);
        CHECK(n <= sizeof cstats / sizeof cstats[0], "pm_stats_caches: %zu caches", n);
        size_t active = 0, cached = 0;
        for (size_t i = 0; i < n; i++) {
            const struct pm_cache_stats *c = &cstats[i];
            CHECK(c->active_objs <= c->total_objs, "%s: %zu active of %zu", c->name, c->active_objs,
                  c->total_objs);
            CHECK(c->active_slabs <= c->total_slabs, "%s: %zu active slabs of %zu", c->name, c->active_slabs,
                  c->total_slabs);
            /* (the counts are merged from every thread's: exact only when no other thread runs) */
            CHECK(!ops_whole_process || c->allocs - c->frees == c->active_objs, "%s: allocs %llu - frees %llu != active %zu", c->name,
                  (unsigned long long)c->allocs, (unsigned long long)c->frees, c->active_objs);
            /* every object out of the slabs is live or cached: the peak holds them all */
            CHECK(!ops_whole_process || c->peak_objs >= c->active_objs + c->cached_objs,
                  "%s: peak %zu below %zu active + %zu cached", c->name, c->peak_objs, c->active_objs, c->cached_objs);
            active += c->active_objs;
            cached += c->cached_objs;
        }
        struct pm_large_stats ls;
        pm_stats_large(&ls);
        struct pm_small_stats ss;
        pm_stats_small(&ss);
        if (!ops_whole_process)
            goto collect;
        CHECK(ls.peak_blocks >= ls.active_blocks && ls.peak_bytes >= ls.active_bytes,
              "pm_stats_large: peak %zu blocks, %zu bytes below %zu, %zu live", ls.peak_blocks, ls.peak_bytes,
              ls.active_blocks, ls.active_bytes);
        CHECK(ss.peak_bytes >= ss.active_bytes, "pm_stats_small: peak %zu bytes below %zu live", ss.peak_bytes,
              ss.active_bytes);
        CHECK(active == small, "pm_stats_caches: %zu active objects, the table holds %zu", active, small);
        CHECK(ls.active_blocks == large, "pm_stats_large: %zu active blocks, the table holds %zu",
              ls.active_blocks, large);
        /* under the strict defences a block's usable size is the size asked for, and the
         * statistics count the bytes its mapping holds */
        CHECK(strict_sizes ? ls.active_bytes >= large_bytes : ls.active_bytes == large_bytes, "pm_stats_large: %zu active bytes, the table holds %zu",
              ls.active_bytes, large_bytes);
    collect:
        if (v & 0x80) {
            size_t got = (v & 0x40) ? (size_t)pmfz_malloc_trim(0) : pm_collect();
            (void)got;
            pm_stats_caches(cstats, sizeof cstats / sizeof cstats[0]);
        }
        (void)cached;
        return;
    }
    case 2: {
        int rc = pm_stats_write(devnull, (enum pm_stats_format)(v >> 4) % 3);
        CHECK(rc == 0, "pm_stats_write failed: errno %d", errno);
        return;
    }
    case 3: {
        struct pm_config c;
        pm_get_config(&c);
        CHECK(c.mode == config.mode && c.partitions == config.partitions && c.token_max == config.token_max &&
                  c.num_size_classes == config.num_size_classes && c.max_small_size == config.max_small_size &&
                  c.cache_region_size == config.cache_region_size,
              "pm_get_config changed");
        size_t t = pick_token(in);
        unsigned part = pm_token_partition(t);
        CHECK(part < config.partitions, "pm_token_partition(%zu) = %u of %u", t, part, config.partitions);
        return;
    }
    case 4: { /* pm_ptr_info of any address of a live block */
        const struct block *b = &slots[u8(in) % SLOTS];
        if (!b->p || !b->size)
            return;
        size_t off = u16(in) % b->size;
        struct pm_ptr_info info;
        CHECK(pm_ptr_info(b->p, &info), "pm_ptr_info(%p) unknown", (void *)b->p);
        if (info.is_small) { /* a slab object is known by any of its addresses, a large block by its start */
            CHECK(pm_ptr_info(b->p + off, &info), "pm_ptr_info(%p + %zu) unknown", (void *)b->p, off);
            CHECK(info.live && info.start == b->p, "pm_ptr_info(%p + %zu): start %p live %d", (void *)b->p, off,
                  info.start, info.live);
            CHECK(info.object_size >= b->size, "pm_ptr_info: object size %zu < %zu", info.object_size, b->size);
        }
        return;
    }
    default:
        pm_collect();
        return;
    }
}

/* Frees every block of the table. */
static void reset(void) {
    for (int s = 0; s < SLOTS; s++)
        release(s, (uint8_t)(s * 5));
}

/* One operation of the program: its code, its slot, then its own bytes. */
static void run_op(struct input *in) {
    uint8_t op = u8(in);
    int s = u8(in) % SLOTS;
    if (trace)
        fprintf(stderr, "op %u (%u) slot %d\n", op % 16, op, s);
    switch (op % 16) {
    case 0: case 1: op_alloc(in, s, 0); break;
    case 2: op_alloc(in, s, 1); break;
    case 3: case 4: op_realloc(in, s); break;
    case 5: op_aligned(in, s, (uint8_t)((op >> 4) % 5)); break;
    case 6: release(s, u8(in)); break;
    case 7: case 8: op_token(in, s); break;
    case 9: op_kmalloc(in, s); break;
    case 10: op_krealloc(in, s); break;
    case 11: op_cache_create(in); break;
    case 12: op_cache(in, s); break;
    case 13: op_buckets(in, s); break;
    case 14: if (!ops_no_stats) op_stats(in); break;
    default:
        if (slots[s].p) {
            verify(&slots[s], SIZE_MAX, "check");
            CHECK(usable_of(slots[s].p) >= slots[s].size, "usable size of %p shrank", (void *)slots[s].p);
        }
        break;
    }
}

