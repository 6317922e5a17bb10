/* The misuse suite: one heap misuse per child process, case by case. Each
 * case asserts how the child ended (the signal) and the exact one-line
 * diagnosis on its stderr,
 *     partmalloc: <what> at <pointer> (cache <name>)
 * with the pointer and the cache name computed here from the object, never
 * written out; or, where the C library defines the result (size overflow,
 * bad alignment), the return value and errno. Guard-page and use-after-free
 * faults are asserted as SIGSEGV with nothing on stderr.
 *
 * Linked with the static library the C allocator's names are partmalloc's,
 * and the suite calls them. tests.mk also builds it under ASan+UBSan against
 * the core alone (-DPM_TEST_NO_INTERPOSE), where they are not: there the
 * suite calls the pm_* names. The C++ operators are in test_misuse_cxx.cc. */
#include "testutil.h" /* first: it defines _GNU_SOURCE */
#include "threadutil.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

#ifdef PM_TEST_NO_INTERPOSE
#define t_malloc pm_malloc
#define t_calloc pm_calloc
#define t_realloc pm_realloc
#define t_free pm_free
#define t_aligned_alloc pm_aligned_alloc
#define t_posix_memalign pm_posix_memalign
#define t_free_sized pm_free_sized
#define t_free_aligned_sized pm_free_aligned_sized
#define t_usable_size(p) pm_usable_size(p)
#define USABLE_OP "pm_usable_size"
#else
/* C23; not declared by every glibc. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);
#define t_malloc malloc
#define t_calloc calloc
#define t_realloc realloc
#define t_free free
#define t_aligned_alloc aligned_alloc
#define t_posix_memalign posix_memalign
#define t_free_sized free_sized
#define t_free_aligned_sized free_aligned_sized
#define t_usable_size(p) malloc_usable_size(p)
#define USABLE_OP "malloc_usable_size"
#endif

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
/* A fault in a guard page must kill the child as it does without ASan. */
const char *__asan_default_options(void) {
    return "handle_segv=0";
}
#endif
#endif

#define PAGE ((size_t)4096)
#define MiB ((size_t)1 << 20)
/* Large blocks (mappings of their own) are above the largest size class,
 * 1 MiB: LARGE_MIN just above it, BIG a size well inside the range. */
#define LARGE_MIN (MiB + 1)
#define BIG (MiB + 100000)
/* The most bytes freed large blocks kept for reuse may hold (src/large.c):
 * a block above it is unmapped when freed. */
#define LARGE_KEPT_MAX (64 * MiB)

/* ---- helpers ---- */

/* The compiler knows what malloc and free do: without these it would warn
 * about (and may fold) the misuses below. */
static void *hide(void *p) {
    __asm__ volatile("" : "+r"(p));
    return p;
}

static size_t opaque(size_t n) {
    __asm__ volatile("" : "+r"(n));
    return n;
}

static size_t page_round(size_t n) {
    return (n + PAGE - 1) & ~(PAGE - 1);
}

static char expected[256];

/* The diagnosis of `what` at `p` in `cache`. */
static const char *diag(const char *what, const void *p, const char *cache) {
    snprintf(expected, sizeof expected, "partmalloc: %s at %p (cache %s)\n", what, p, cache);
    return expected;
}

static struct pm_ptr_info info_of(void *p) {
    struct pm_ptr_info info;
    cr_assert_eq(pm_ptr_info(p, &info), 1, "%p: not a partmalloc pointer", p);
    return info;
}

/* The usable size is the size asked for (checked_usable, as under
 * PARTMALLOC_HARDEN=strict), not the class's or the pages'. */
static bool usable_is_exact(void) {
    void *p = t_malloc(opaque(1));
    bool exact = t_usable_size(p) == 1;
    t_free(p);
    return exact;
}

/* The name of the cache `p` lives in (copied into `out`). */
static const char *cache_of(void *p, char out[32]) {
    struct pm_ptr_info info = info_of(p);
    memcpy(out, info.cache_name, 32);
    return out;
}

/* Asserts fn(arg) dies of signal `sig` and prints nothing. */
#define tu_expect_fault(fn, arg, sig)                                                              \
    do {                                                                                           \
        struct death d_ = run_in_child((fn), (arg));                                               \
        cr_expect_eq(d_.signal, (sig), "expected signal %d, got signal %d exit %d, stderr: %s",    \
                     (sig), d_.signal, d_.exit_code, d_.stderr_text);                              \
        cr_expect_str_empty(d_.stderr_text);                                                       \
    } while (0)

/* Asserts fn(arg) returns (the child exits 0) and prints nothing. */
#define tu_expect_survives(fn, arg)                                                                \
    do {                                                                                           \
        struct death d_ = run_in_child((fn), (arg));                                               \
        cr_expect(d_.signal == 0 && d_.exit_code == 0, "expected exit 0, got signal %d exit %d",   \
                  d_.signal, d_.exit_code);                                                        \
        cr_expect_str_empty(d_.stderr_text);                                                       \
    } while (0)

/* A child's own failure, distinct from anything the library prints. */
static void child_fail(const char *why) {
    fprintf(stderr, "child: %s\n", why);
    _exit(3);
}

static void do_free(void *p) { t_free(hide(p)); }
static void do_realloc(void *p) { hide(t_realloc(hide(p), 100)); }
static void do_usable(void *p) { (void)t_usable_size(hide(p)); }

static void free_twice(void *p) {
    t_free(hide(p));
    t_free(hide(p));
}

static void free_then_realloc(void *p) {
    t_free(hide(p));
    hide(t_realloc(hide(p), 100));
}

static void free_then_usable(void *p) {
    t_free(hide(p));
    (void)t_usable_size(hide(p));
}

/* A never-used slot in the first slab of a cache nothing else has used:
 * objects of 28 KiB come 8 to a slab (at least 8 objects per slab) and the
 * thread cache takes one at a time, so after one allocation 7 slots of the
 * slab are still untouched (which ones depends on the random slot order).
 * The statistics show the cache is fresh. */
#define FRESH_SIZE 28000u
static char *fresh_first_object(struct pm_ptr_info *info) {
    char *p = t_malloc(FRESH_SIZE);
    cr_assert_not_null(p);
    *info = info_of(p);
    cr_assert_eq(info->start, p);
    static struct pm_cache_stats all[8192];
    size_t n = pm_stats_caches(all, 8192);
    for (size_t i = 0; i < n && i < 8192; i++)
        if (strcmp(all[i].name, info->cache_name) == 0)
            cr_assert(all[i].allocs == 1 && all[i].total_slabs == 1, "the %s cache was used before this test",
                      info->cache_name);
    return p;
}

static char *never_used_slot(struct pm_ptr_info *info) {
    char *p = fresh_first_object(info);
    for (long k = -7; k <= 7; k++) {
        char *slot = p + k * (long)info->object_size;
        struct pm_ptr_info s;
        if (k != 0 && pm_ptr_info(slot, &s) && strcmp(s.cache_name, info->cache_name) == 0 && s.start == slot &&
            !s.live)
            return slot;
    }
    cr_assert_fail("no never-used slot beside %p", (void *)p);
    return NULL;
}

/* A slot half a region past the cache's first object: a slab of the
 * region that was never carved out. */
static char *slot_in_never_used_slab(struct pm_ptr_info *info) {
    char *p = fresh_first_object(info);
    struct pm_config cfg;
    pm_get_config(&cfg);
    size_t half = cfg.cache_region_size / 2 / info->object_size * info->object_size;
    char *slot = p + half;
    struct pm_ptr_info s = info_of(slot);
    cr_assert_str_eq(s.cache_name, info->cache_name, "%p is not in %p's region", (void *)slot, (void *)p);
    cr_assert_eq(s.start, slot);
    cr_assert_eq(s.live, 0);
    return slot;
}

/* ---- double free ---- */

static const size_t small_sizes[] = {1, 8, 24, 64, 100, 1000, 4096, 20000, 32768};
#define N_SMALL (sizeof small_sizes / sizeof small_sizes[0])

Test(misuse, double_free_immediate_in_every_kind_of_class) {
    for (size_t i = 0; i < N_SMALL; i++) {
        char name[32];
        void *p = t_malloc(small_sizes[i]);
        tu_expect_abort(free_twice, p, diag("double free", p, cache_of(p, name)));
        t_free(p);
    }
}

struct three {
    void *p, *q, *r;
};

static void free_p_q_r_then_p(void *arg) {
    struct three *t = arg;
    t_free(hide(t->p));
    t_free(hide(t->q));
    t_free(hide(t->r));
    t_free(hide(t->p));
}

/* One call site, so one partition (a loop the compiler unrolls is not). */
static __attribute__((noinline)) void *alloc_here(size_t n) {
    return hide(t_malloc(n));
}

static void alloc_three(struct three *t, size_t n) {
    t->p = alloc_here(n);
    t->q = alloc_here(n);
    t->r = alloc_here(n);
}

Test(misuse, double_free_after_other_frees_in_between) {
    char name[32];
    struct three t;
    alloc_three(&t, 48);
    char other[32];
    cr_assert_str_eq(cache_of(t.q, other), cache_of(t.p, name));
    cr_assert_str_eq(cache_of(t.r, other), name);
    tu_expect_abort(free_p_q_r_then_p, &t, diag("double free", t.p, name));
    alloc_three(&t, 2 * MiB);
    tu_expect_abort(free_p_q_r_then_p, &t, diag("double free", t.p, "large"));
}

/* More frees in between than the thread cache's bin holds (64 objects of
 * 64 bytes): the bin overflows and flushes its oldest half, the first
 * freed object among them, to the slab's free map. */
#define FLUSH_OTHERS 100
struct batch {
    void *obj[1 + FLUSH_OTHERS];
};

static void free_first_then_others_then_first(void *arg) {
    struct batch *b = arg;
    t_free(hide(b->obj[0]));
    for (int i = 1; i <= FLUSH_OTHERS; i++)
        t_free(hide(b->obj[i]));
    t_free(hide(b->obj[0]));
}

Test(misuse, double_free_after_the_thread_cache_flushed) {
    static struct batch b;
    for (int i = 0; i <= FLUSH_OTHERS; i++)
        b.obj[i] = alloc_here(64);
    char name[32], other[32];
    cache_of(b.obj[0], name);
    for (int i = 1; i <= FLUSH_OTHERS; i++)
        cr_assert_str_eq(cache_of(b.obj[i], other), name);
    tu_expect_abort(free_first_then_others_then_first, &b, diag("double free", b.obj[0], name));
}

Test(misuse, double_free_of_large_blocks) {
    /* just above the largest class; kept mapped for reuse when freed;
     * unmapped when freed (above the kept-block limit) */
    const size_t sizes[] = {LARGE_MIN, 2 * MiB, LARGE_KEPT_MAX + 1};
    for (size_t i = 0; i < 3; i++) {
        void *p = t_malloc(sizes[i]);
        cr_assert_eq(info_of(p).is_small, 0);
        tu_expect_abort(free_twice, p, diag("double free", p, "large"));
        t_free(p);
    }
}

/* ---- double free through realloc ---- */

Test(misuse, realloc_of_a_freed_pointer) {
    char name[32];
    void *p = t_malloc(24);
    tu_expect_abort(free_then_realloc, p, diag("realloc of a freed pointer", p, cache_of(p, name)));
    void *big = t_malloc(LARGE_KEPT_MAX + 1); /* unmapped when freed */
    tu_expect_abort(free_then_realloc, big, diag("realloc of a freed pointer", big, "large"));
    t_free(p);
    t_free(big);
}

struct move {
    void *p;
    size_t to;
};

static void realloc_away_then_free(void *arg) {
    struct move *m = arg;
    void *q = t_realloc(hide(m->p), m->to);
    if (!q || q == m->p)
        child_fail("realloc did not move the block");
    t_free(hide(m->p));
}

Test(misuse, free_after_realloc_moved_the_block) {
    char name[32];
    struct move m = {t_malloc(64), BIG}; /* small to large */
    tu_expect_abort(realloc_away_then_free, &m, diag("double free", m.p, cache_of(m.p, name)));
    t_free(m.p);
    m = (struct move){t_malloc(24), 200}; /* to another class */
    tu_expect_abort(realloc_away_then_free, &m, diag("double free", m.p, cache_of(m.p, name)));
    t_free(m.p);
    m = (struct move){t_malloc(BIG), 64}; /* large to small */
    tu_expect_abort(realloc_away_then_free, &m, diag("double free", m.p, "large"));
    t_free(m.p);
}

/* A large block that cannot grow in place (a mapping right after its
 * trailing guard page: ours, or one that is there already) moves with
 * mremap; realloc freed the old address, so a free of it is a double free
 * (while the address is among the last freed blocks remembered). */
Test(misuse, free_after_a_large_realloc_moved_the_block) {
    size_t n = BIG;
    char *p = t_malloc(n);
    char *after_guard = p + page_round(n) + PAGE;
    void *blocker = mmap(after_guard, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    cr_assert(blocker == after_guard || (blocker == MAP_FAILED && errno == EEXIST), "mmap: %s", strerror(errno));
    struct move m = {p, 4 * n};
    tu_expect_abort(realloc_away_then_free, &m, diag("double free", p, "large"));
    if (blocker == after_guard)
        munmap(blocker, PAGE);
    t_free(p);
}

static void realloc_to_zero_then_free(void *p) {
    if (t_realloc(hide(p), opaque(0)) != NULL)
        child_fail("realloc(p, 0) returned a block");
    t_free(hide(p));
}

Test(misuse, free_after_realloc_to_zero_freed_the_block) {
    char name[32];
    void *p = t_malloc(40);
    tu_expect_abort(realloc_to_zero_then_free, p, diag("double free", p, cache_of(p, name)));
    void *big = t_malloc(BIG);
    tu_expect_abort(realloc_to_zero_then_free, big, diag("double free", big, "large"));
    t_free(p);
    t_free(big);
}

/* ---- invalid free ---- */

Test(misuse, free_of_a_misaligned_pointer) {
    const size_t sizes[] = {16, 64, 1000, 4096, 32768};
    for (size_t i = 0; i < 5; i++) {
        char name[32];
        char *p = t_malloc(sizes[i]);
        tu_expect_abort(do_free, p + 1, diag("invalid free (not the start of an object)", p + 1, cache_of(p, name)));
        t_free(p);
    }
}

Test(misuse, free_of_an_interior_pointer) {
    char name[32];
    char *p = t_malloc(64);
    cr_assert_geq(info_of(p).object_size, 64); /* 80 with strict's canary */
    cache_of(p, name);
    tu_expect_abort(do_free, p + 16, diag("invalid free (not the start of an object)", p + 16, name));
    tu_expect_abort(do_free, p + 63, diag("invalid free (not the start of an object)", p + 63, name));
    t_free(p);
}

Test(misuse, free_of_a_wild_constant) {
    void *wild = (void *)(uintptr_t)0x41414141000ull;
    struct pm_ptr_info info;
    cr_assert_eq(pm_ptr_info(wild, &info), 0);
    tu_expect_abort(do_free, wild, diag("invalid free (not a partmalloc pointer)", wild, "none"));
}

Test(misuse, free_inside_a_foreign_read_write_mapping) {
    char *m = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(m != MAP_FAILED);
    tu_expect_abort(do_free, m, diag("invalid free (not a partmalloc pointer)", m, "none"));
    tu_expect_abort(do_free, m + 64, diag("invalid free (not a partmalloc pointer)", m + 64, "none"));
    munmap(m, 16 * PAGE);
}

Test(misuse, free_inside_a_foreign_inaccessible_mapping) {
    char *m = mmap(NULL, 16 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(m != MAP_FAILED);
    tu_expect_abort(do_free, m + PAGE, diag("invalid free (not a partmalloc pointer)", m + PAGE, "none"));
    munmap(m, 16 * PAGE);
}

Test(misuse, free_of_a_never_used_slot_of_a_used_slab) {
    struct pm_ptr_info info;
    char *slot = never_used_slot(&info);
    tu_expect_abort(do_free, slot, diag("invalid free (slot never allocated)", slot, info.cache_name));
}

Test(misuse, free_of_a_slot_in_a_never_used_slab) {
    struct pm_ptr_info info;
    char *slot = slot_in_never_used_slab(&info);
    tu_expect_abort(do_free, slot, diag("invalid free (slot never allocated)", slot, info.cache_name));
}

Test(misuse, free_of_a_stack_address) {
    char local[64]; /* the child runs on a copy of this stack */
    memset(local, 0, sizeof local);
    tu_expect_abort(do_free, local, diag("invalid free (not a partmalloc pointer)", local, "none"));
    tu_expect_abort(do_free, local + 16, diag("invalid free (not a partmalloc pointer)", local + 16, "none"));
}

/* Any other address in a live large block than its start is named as
 * inside the block; the guard page before it is not partmalloc's. */
Test(misuse, free_inside_a_large_block) {
    char *p = t_malloc(2 * MiB);
    tu_expect_abort(do_free, p + 1, diag("invalid free (not the start of an object)", p + 1, "large"));
    tu_expect_abort(do_free, p + 16, diag("invalid free (not the start of an object)", p + 16, "large"));
    tu_expect_abort(do_free, p + 8 * PAGE, diag("invalid free (not the start of an object)", p + 8 * PAGE, "large"));
    tu_expect_abort(do_free, p - 16, diag("invalid free (not a partmalloc pointer)", p - 16, "none"));
    t_free(p);
}

/* ---- frees of slots resting in a thread cache ----
 *
 * A thread cache holds two kinds of free slots: those the program freed
 * (a free of one again is a double free) and those a refill brought in that
 * were never handed out (a free of one is an invalid free: its address was
 * never returned). Each message names the one that is true. */

/* Objects of 3000 bytes (the 3072-byte class): a refill brings 10 of
 * them into the thread cache, so after one allocation from a cache nothing
 * else has used, 9 slots rest there that were never handed out. */
#define REFILL_SIZE 3000u

/* What the next alloc_here(size) returns, found in a child: the child's
 * allocation changes nothing here. */
static void *next_allocation(size_t size) {
    int fds[2];
    cr_assert(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        void *p = alloc_here(size);
        _exit(write(fds[1], &p, sizeof p) == sizeof p ? 0 : 3);
    }
    void *next = NULL;
    cr_assert_eq(read(fds[0], &next, sizeof next), (ssize_t)sizeof next);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fds[0]);
    close(fds[1]);
    return next;
}

/* The first object of a cache nothing else has used, allocated at
 * alloc_here's call site: its statistics count one allocation ever, and
 * slots cached by the refill (every one of them never handed out). */
static char *first_of_fresh_cache(size_t size, struct pm_ptr_info *info) {
    char *p = alloc_here(size);
    *info = info_of(p);
    static struct pm_cache_stats all[8192];
    size_t n = pm_stats_caches(all, 8192);
    for (size_t i = 0; i < n && i < 8192; i++)
        if (strcmp(all[i].name, info->cache_name) == 0)
            cr_assert(all[i].allocs == 1 && all[i].cached_objs > 0,
                      "the %s cache was used before this test (%zu allocations), or its refill cached nothing",
                      info->cache_name, (size_t)all[i].allocs);
    return p;
}

/* A slot the thread cache holds, never handed out. */
static char *cached_never_allocated(struct pm_ptr_info *info) {
    first_of_fresh_cache(REFILL_SIZE, info);
    char *next = next_allocation(REFILL_SIZE);
    struct pm_ptr_info s = info_of(next);
    cr_assert_str_eq(s.cache_name, info->cache_name);
    cr_assert(s.start == next && !s.live);
    return next;
}

Test(misuse, free_of_a_cached_slot_never_handed_out) {
    struct pm_ptr_info info;
    char *slot = cached_never_allocated(&info);
    tu_expect_abort(do_free, slot, diag("invalid free (slot never allocated)", slot, info.cache_name));
    tu_expect_abort(do_free, slot + 8, diag("invalid free (not the start of an object)", slot + 8, info.cache_name));
    /* control: once handed out, the same free is correct */
    cr_assert_eq(alloc_here(REFILL_SIZE), slot);
    tu_expect_survives(do_free, slot);
    tu_expect_abort(free_twice, slot, diag("double free", slot, info.cache_name));
}

/* The thread cache gives its slots back (pm_collect): one that was never
 * handed out is still never allocated. */
Test(misuse, free_of_a_never_handed_out_slot_after_the_cache_flushed) {
    struct pm_ptr_info info;
    char *slot = cached_never_allocated(&info);
    pm_collect();
    tu_expect_abort(do_free, slot, diag("invalid free (slot never allocated)", slot, info.cache_name));
    tu_expect_abort(do_usable, slot, diag("invalid " USABLE_OP " (slot never allocated)", slot, info.cache_name));
}

/* Two objects side by side in one cache, the second freed (resting in the
 * thread cache): p + object size is the start of a freed object, so a free
 * there is a double free of it; p + 8 is inside p. */
struct neighbours {
    char *p, *next; /* next == p + object size */
    char name[32];
};

static void find_neighbours(struct neighbours *n, size_t size) {
    enum { COUNT = 64 };
    char *obj[COUNT];
    for (int i = 0; i < COUNT; i++)
        obj[i] = alloc_here(size);
    n->p = n->next = NULL;
    size_t step = info_of(obj[0]).object_size;
    for (int i = 0; i < COUNT && !n->p; i++)
        for (int j = 0; j < COUNT; j++)
            if (obj[j] == obj[i] + step) {
                n->p = obj[i];
                n->next = obj[j];
                break;
            }
    cr_assert_not_null(n->p, "no two of %d objects of %zu bytes side by side", COUNT, size);
    cache_of(n->p, n->name);
    char other[32];
    cr_assert_str_eq(cache_of(n->next, other), n->name);
}

Test(misuse, free_one_object_past_an_object_whose_neighbour_is_cached) {
    struct neighbours n;
    find_neighbours(&n, 64);
    t_free(n.next);
    cr_assert_eq(info_of(n.next).live, 0);
    tu_expect_abort(do_free, n.p + info_of(n.p).object_size, diag("double free", n.next, n.name));
    tu_expect_abort(do_free, n.p + 8, diag("invalid free (not the start of an object)", n.p + 8, n.name));
    tu_expect_abort(do_free, n.next + 8, diag("invalid free (not the start of an object)", n.next + 8, n.name));
    tu_expect_survives(do_free, n.p); /* control: the object's own start */
}

/* ---- realloc and usable size of invalid and freed pointers ---- */

struct bad {
    const char *label;
    void *ptr;
    const char *reason; /* "not a partmalloc pointer", "slot never allocated", ... */
    const char *cache;
};

/* One of each kind of invalid pointer, set up in the test process. */
static size_t bad_pointers(struct bad out[5], char *large, char *small, struct pm_ptr_info *fresh) {
    static char small_cache[32];
    cache_of(small, small_cache);
    char *never = never_used_slot(fresh);
    size_t n = 0;
    out[n++] = (struct bad){"wild", (void *)(uintptr_t)0x41414141000ull, "not a partmalloc pointer", "none"};
    out[n++] = (struct bad){"inside a large block", large + PAGE, "not the start of an object", "large"};
    out[n++] = (struct bad){"misaligned", small + 1, "not the start of an object", small_cache};
    out[n++] = (struct bad){"interior", small + 16, "not the start of an object", small_cache};
    out[n++] = (struct bad){"never-used slot", never, "slot never allocated", fresh->cache_name};
    return n;
}

static void expect_invalid(void (*fn)(void *), const char *op, const struct bad *b) {
    char what[96];
    snprintf(what, sizeof what, "invalid %s (%s)", op, b->reason);
    struct death d = run_in_child(fn, b->ptr);
    cr_expect_eq(d.signal, SIGABRT, "%s of a %s pointer: signal %d, stderr: %s", op, b->label, d.signal,
                 d.stderr_text);
    cr_expect_str_eq(d.stderr_text, diag(what, b->ptr, b->cache), "%s of a %s pointer", op, b->label);
}

Test(misuse, realloc_of_invalid_pointers) {
    char *large = t_malloc(BIG), *small = t_malloc(64);
    struct pm_ptr_info fresh;
    struct bad bad[5];
    size_t n = bad_pointers(bad, large, small, &fresh);
    for (size_t i = 0; i < n; i++)
        expect_invalid(do_realloc, "realloc", &bad[i]);
    t_free(large);
    t_free(small);
}

Test(misuse, usable_size_of_invalid_pointers) {
    char *large = t_malloc(BIG), *small = t_malloc(64);
    struct pm_ptr_info fresh;
    struct bad bad[5];
    size_t n = bad_pointers(bad, large, small, &fresh);
    for (size_t i = 0; i < n; i++)
        expect_invalid(do_usable, USABLE_OP, &bad[i]);
    t_free(large);
    t_free(small);
}

Test(misuse, usable_size_of_freed_pointers) {
    char name[32];
    void *p = t_malloc(100);
    tu_expect_abort(free_then_usable, p, diag(USABLE_OP " of a freed pointer", p, cache_of(p, name)));
    void *kept = t_malloc(2 * MiB);
    tu_expect_abort(free_then_usable, kept, diag(USABLE_OP " of a freed pointer", kept, "large"));
    void *unmapped = t_malloc(LARGE_KEPT_MAX + 1);
    tu_expect_abort(free_then_usable, unmapped, diag(USABLE_OP " of a freed pointer", unmapped, "large"));
    t_free(p);
    t_free(kept);
    t_free(unmapped);
}

/* ---- free_sized and free_aligned_sized ---- */

struct sized {
    void *p;
    size_t size, alignment; /* alignment 0: free_sized */
};

static void do_free_sized(void *arg) {
    struct sized *s = arg;
    if (s->alignment)
        t_free_aligned_sized(hide(s->p), opaque(s->alignment), opaque(s->size));
    else
        t_free_sized(hide(s->p), opaque(s->size));
}

static void free_then_free_sized(void *arg) {
    struct sized *s = arg;
    t_free(hide(s->p));
    do_free_sized(arg);
}

Test(misuse, free_sized_with_a_size_of_another_class) {
    char name[32];
    void *p = t_malloc(64);
    cache_of(p, name);
    const size_t wrong[] = {0, 1, 48, 65, 100, 4096, 100000};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        struct sized s = {p, wrong[i], 0};
        struct death d = run_in_child(do_free_sized, &s);
        cr_expect_eq(d.signal, SIGABRT, "free_sized(p, %zu): signal %d", wrong[i], d.signal);
        cr_expect_str_eq(d.stderr_text, diag("free_sized with a size the object was not allocated with", p, name),
                         "free_sized(p, %zu)", wrong[i]);
    }
    t_free(p);
}

/* The check is by size class: any size of the object's class is accepted. */
/* Any size of the class; with exact usable sizes (strict), only the size
 * asked for (docs/security.md). */
Test(misuse, free_sized_accepts_any_size_of_the_class) {
    void *p = t_malloc(50); /* the 64-byte class */
    struct sized s = {p, 64, 0};
    if (usable_is_exact()) {
        char name[32];
        const char *what = "free_sized with a size the object was not allocated with";
        tu_expect_abort(do_free_sized, &s, diag(what, p, cache_of(p, name)));
        s.size = 49;
        tu_expect_abort(do_free_sized, &s, diag(what, p, name));
        s.size = 50; /* control */
        tu_expect_survives(do_free_sized, &s);
        t_free(p);
        return;
    }
    cr_assert_eq(info_of(p).object_size, 64);
    tu_expect_survives(do_free_sized, &s);
    s.size = 49;
    tu_expect_survives(do_free_sized, &s);
    t_free(p);
}

Test(misuse, free_sized_of_a_large_block_with_another_size) {
    size_t n = BIG;
    void *p = t_malloc(n);
    /* the exact size asked for, not the usable size; 0 never matches */
    const size_t wrong[] = {n - 1, n + 1, page_round(n), 0};
    for (size_t i = 0; i < 4; i++) {
        struct sized s = {p, wrong[i], 0};
        struct death d = run_in_child(do_free_sized, &s);
        cr_expect_eq(d.signal, SIGABRT, "free_sized(p, %zu): signal %d", wrong[i], d.signal);
        cr_expect_str_eq(d.stderr_text, diag("free_sized with a size the block was not allocated with", p, "large"),
                         "free_sized(p, %zu)", wrong[i]);
    }
    struct sized right = {p, n, 0};
    tu_expect_survives(do_free_sized, &right);
    t_free(p);
}

Test(misuse, free_aligned_sized_with_another_alignment_or_size) {
    char name[32];
    void *p = t_aligned_alloc(128, 128);
    cache_of(p, name);
    const char *what = "free_aligned_sized with a size or alignment the object was not allocated with";
    struct sized cases[] = {{p, 128, 256}, {p, 200, 128}, {p, 32, 16}};
    for (size_t i = 0; i < 3; i++) {
        struct death d = run_in_child(do_free_sized, &cases[i]);
        cr_expect_eq(d.signal, SIGABRT, "free_aligned_sized(p, %zu, %zu): signal %d", cases[i].alignment,
                     cases[i].size, d.signal);
        cr_expect_str_eq(d.stderr_text, diag(what, p, name), "free_aligned_sized(p, %zu, %zu)", cases[i].alignment,
                         cases[i].size);
    }
    struct sized right = {p, 128, 128};
    tu_expect_survives(do_free_sized, &right);
    t_free(p);
}

/* The alignment and size given to aligned_alloc are accepted, whatever
 * alignment the object happens to have beyond it (under strict, the
 * alignment kept with the object; below 8, as 8). */
Test(misuse, free_aligned_sized_with_the_alignment_given) {
    for (size_t a = 1; a <= 4096; a *= 2) {
        void *p = t_aligned_alloc(a, 100);
        struct sized s = {p, 100, a};
        tu_expect_survives(do_free_sized, &s);
        t_free(p);
    }
}

Test(misuse, free_aligned_sized_of_a_large_block_with_another_alignment) {
    size_t n = BIG;
    char *p = t_aligned_alloc(PAGE, n);
    /* twice the largest alignment the pointer happens to have */
    size_t wrong = ((uintptr_t)p & -(uintptr_t)p) * 2;
    struct sized s = {p, n, wrong};
    tu_expect_abort(do_free_sized, &s, diag("free_aligned_sized with an alignment the block does not have", p, "large"));
    t_free(p);
}

/* The size check of a large block names the call that was made. */
Test(misuse, free_aligned_sized_of_a_large_block_with_another_size) {
    size_t n = BIG;
    char *p = t_aligned_alloc(PAGE, n);
    struct sized s = {p, n + 1, PAGE};
    tu_expect_abort(do_free_sized, &s,
                    diag("free_aligned_sized with a size or alignment the block was not allocated with", p, "large"));
    t_free(p);
}

Test(misuse, free_sized_of_freed_and_foreign_pointers) {
    char name[32];
    void *p = t_malloc(64);
    struct sized s = {p, 64, 0};
    tu_expect_abort(free_then_free_sized, &s, diag("free_sized of a freed pointer", p, cache_of(p, name)));
    s.alignment = 16;
    tu_expect_abort(free_then_free_sized, &s, diag("free_aligned_sized of a freed pointer", p, name));
    void *big = t_malloc(BIG);
    struct sized b = {big, BIG, 0};
    tu_expect_abort(free_then_free_sized, &b, diag("double free", big, "large"));
    void *wild = (void *)(uintptr_t)0x41414141000ull;
    struct sized w = {wild, 64, 0};
    tu_expect_abort(do_free_sized, &w, diag("invalid free_sized (not a partmalloc pointer)", wild, "none"));
    w.alignment = 16;
    tu_expect_abort(do_free_sized, &w, diag("invalid free_aligned_sized (not a partmalloc pointer)", wild, "none"));
    t_free(p);
    t_free(big);
}

/* ---- size overflow: NULL and ENOMEM ---- */

static const size_t huge_sizes[] = {
    SIZE_MAX, SIZE_MAX - PAGE + 1, (size_t)PTRDIFF_MAX + 1, PTRDIFF_MAX, PTRDIFF_MAX - 4 * PAGE, (size_t)1 << 62,
};
#define N_HUGE (sizeof huge_sizes / sizeof huge_sizes[0])

Test(misuse, malloc_of_a_size_too_large) {
    for (size_t i = 0; i < N_HUGE; i++) {
        errno = 0;
        void *p = t_malloc(opaque(huge_sizes[i]));
        cr_expect_null(p, "malloc(%#zx)", huge_sizes[i]);
        cr_expect_eq(errno, ENOMEM, "malloc(%#zx): errno %d", huge_sizes[i], errno);
    }
}

Test(misuse, calloc_whose_product_overflows_or_is_too_large) {
    const size_t cases[][2] = {
        {SIZE_MAX / 2 + 1, 2}, {(size_t)1 << 32, (size_t)1 << 32}, {SIZE_MAX, SIZE_MAX}, {3, SIZE_MAX / 3 + 1},
        {1, SIZE_MAX},         {SIZE_MAX, 1},                      {(size_t)1 << 31, (size_t)1 << 31},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errno = 0;
        void *p = t_calloc(opaque(cases[i][0]), opaque(cases[i][1]));
        cr_expect_null(p, "calloc(%#zx, %#zx)", cases[i][0], cases[i][1]);
        cr_expect_eq(errno, ENOMEM, "calloc(%#zx, %#zx): errno %d", cases[i][0], cases[i][1], errno);
    }
}

Test(misuse, realloc_to_a_size_too_large_keeps_the_block) {
    const size_t from[] = {24, 4000, 100000};
    for (size_t k = 0; k < 3; k++) {
        unsigned char *p = t_malloc(from[k]);
        pattern_fill(p, from[k], from[k]);
        for (size_t i = 0; i < N_HUGE; i++) {
            errno = 0;
            void *q = t_realloc(hide(p), opaque(huge_sizes[i]));
            cr_expect_null(q, "realloc(%zu-byte block, %#zx)", from[k], huge_sizes[i]);
            cr_expect_eq(errno, ENOMEM, "realloc(%zu-byte block, %#zx): errno %d", from[k], huge_sizes[i], errno);
        }
        cr_expect_eq(info_of(p).live, 1);
        cr_expect_eq(pattern_check(p, from[k], from[k]), -1, "a %zu-byte block changed", from[k]);
        t_free(p);
    }
}

#ifndef PM_TEST_NO_INTERPOSE
Test(misuse, reallocarray_whose_product_overflows) {
    unsigned char *p = malloc(64);
    pattern_fill(p, 64, 7);
    errno = 0;
    cr_expect_null(reallocarray(hide(p), opaque(SIZE_MAX / 2 + 1), opaque(2)));
    cr_expect_eq(errno, ENOMEM);
    cr_expect_eq(pattern_check(p, 64, 7), -1);
    free(p);
}
#endif

Test(misuse, aligned_alloc_of_a_size_too_large) {
    const size_t alignments[] = {8, 64, PAGE, MiB};
    for (size_t a = 0; a < 4; a++)
        for (size_t i = 0; i < N_HUGE; i++) {
            errno = 0;
            void *p = t_aligned_alloc(opaque(alignments[a]), opaque(huge_sizes[i]));
            cr_expect_null(p, "aligned_alloc(%zu, %#zx)", alignments[a], huge_sizes[i]);
            cr_expect_eq(errno, ENOMEM, "aligned_alloc(%zu, %#zx): errno %d", alignments[a], huge_sizes[i], errno);
        }
    /* an alignment larger than the address space */
    errno = 0;
    cr_expect_null(t_aligned_alloc(opaque((size_t)1 << 62), opaque(64)));
    cr_expect_eq(errno, ENOMEM);
}

/* POSIX: the error is returned; errno and *out are left alone. */
Test(misuse, posix_memalign_of_a_size_too_large) {
    for (size_t i = 0; i < N_HUGE; i++) {
        void *out = &out;
        errno = 1234;
        int rc = t_posix_memalign(&out, opaque(64), opaque(huge_sizes[i]));
        cr_expect_eq(rc, ENOMEM, "posix_memalign(64, %#zx) returned %d", huge_sizes[i], rc);
        cr_expect_eq(errno, 1234, "posix_memalign(64, %#zx) set errno %d", huge_sizes[i], errno);
        cr_expect_eq(out, &out, "posix_memalign(64, %#zx) wrote *out", huge_sizes[i]);
    }
}

/* An alignment of 2^63 with a size of 2^63: the large path's bounds check
 * wraps and the reservation's size overflows to one page, and the trimming
 * of that reservation unmaps the process's address space (the child dies
 * of SIGSEGV). Should be NULL with ENOMEM. */
static void aligned_alloc_top_bit(void *arg) {
    (void)arg;
    errno = 0;
    void *p = t_aligned_alloc(opaque((size_t)1 << 63), opaque((size_t)1 << 63));
    _exit(p == NULL && errno == ENOMEM ? 0 : 4);
}

Test(misuse, aligned_alloc_of_half_the_address_space_aligned_to_it) {
    tu_expect_survives(aligned_alloc_top_bit, NULL);
}

/* ---- bad alignment: EINVAL ---- */

/* aligned_alloc: any power of two (below sizeof(void *) too), and no
 * relation between size and alignment is required (C17 DR 460). */
Test(misuse, aligned_alloc_with_an_alignment_not_a_power_of_two) {
    const size_t bad[] = {0, 3, 6, 12, 24, 48, 100, 4095, 4097, PAGE * 3, SIZE_MAX, SIZE_MAX / 2, SIZE_MAX / 2 + 2};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        void *p = t_aligned_alloc(opaque(bad[i]), opaque(64));
        cr_expect_null(p, "aligned_alloc(%#zx, 64)", bad[i]);
        cr_expect_eq(errno, EINVAL, "aligned_alloc(%#zx, 64): errno %d", bad[i], errno);
    }
    for (size_t a = 1; a <= 65536; a *= 2) {
        void *p = t_aligned_alloc(opaque(a), opaque(a + 3));
        cr_expect_not_null(p, "aligned_alloc(%zu, %zu)", a, a + 3);
        cr_expect_eq((uintptr_t)p % a, 0);
        t_free(p);
    }
}

/* posix_memalign: a power of two that is a multiple of sizeof(void *);
 * EINVAL is returned, errno and *out are left alone. */
Test(misuse, posix_memalign_with_a_bad_alignment) {
    const size_t bad[] = {0, 1, 2, 4, 12, 24, 40, 48, 100, PAGE + 8, SIZE_MAX, SIZE_MAX / 2};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *out = &out;
        errno = 1234;
        int rc = t_posix_memalign(&out, opaque(bad[i]), opaque(64));
        cr_expect_eq(rc, EINVAL, "posix_memalign(%#zx, 64) returned %d", bad[i], rc);
        cr_expect_eq(errno, 1234, "posix_memalign(%#zx, 64) set errno %d", bad[i], errno);
        cr_expect_eq(out, &out, "posix_memalign(%#zx, 64) wrote *out", bad[i]);
    }
    for (size_t a = sizeof(void *); a <= 65536; a *= 2) {
        void *out = NULL;
        cr_expect_eq(t_posix_memalign(&out, opaque(a), opaque(3)), 0, "posix_memalign(%zu, 3)", a);
        cr_expect_eq((uintptr_t)out % a, 0);
        t_free(out);
    }
}

/* ---- large blocks: guard pages and use after free ---- */

struct large_case {
    size_t size, alignment;
};
static const struct large_case large_cases[] = {{LARGE_MIN, 0}, {BIG, 0}, {3 * MiB + 1, 0}, {BIG, 65536}};
#define N_LARGE (sizeof large_cases / sizeof large_cases[0])

static char *large_alloc(const struct large_case *c) {
    char *p = c->alignment ? t_aligned_alloc(c->alignment, c->size) : t_malloc(c->size);
    cr_assert_not_null(p);
    cr_assert_eq(info_of(p).is_small, 0);
    cr_assert_eq(t_usable_size(p), usable_is_exact() ? c->size : page_round(c->size));
    return p;
}

static void write_one_past_the_last_page(void *p) {
    size_t data = page_round(t_usable_size(p));
    memset(p, 1, data); /* the whole last page is the block's */
    ((volatile char *)p)[data] = 1;
}

static void write_one_before_the_start(void *p) {
    ((volatile char *)p)[0] = 1;
    ((volatile char *)p)[-1] = 1;
}

static void write_at_the_guard_page_start(void *p) {
    ((volatile char *)p)[-(ptrdiff_t)PAGE] = 1;
}

Test(misuse, write_past_the_end_of_a_large_block_faults) {
    for (size_t i = 0; i < N_LARGE; i++) {
        char *p = large_alloc(&large_cases[i]);
        tu_expect_fault(write_one_past_the_last_page, p, SIGSEGV);
        t_free(p);
    }
}

Test(misuse, write_before_the_start_of_a_large_block_faults) {
    for (size_t i = 0; i < N_LARGE; i++) {
        char *p = large_alloc(&large_cases[i]);
        tu_expect_fault(write_one_before_the_start, p, SIGSEGV);
        tu_expect_fault(write_at_the_guard_page_start, p, SIGSEGV);
        t_free(p);
    }
}

struct read_after_free {
    char *p;
    size_t offset;
};

static void free_then_read(void *arg) {
    struct read_after_free *r = arg;
    t_free(hide(r->p));
    volatile char c = ((volatile char *)r->p)[r->offset];
    (void)c;
}

/* Freed large blocks above the kept-block limit are unmapped at once
 * (smaller ones stay mapped for reuse, and reading them does not fault). */
Test(misuse, read_after_free_of_a_large_block_above_the_kept_limit_faults) {
    const size_t sizes[] = {LARGE_KEPT_MAX + 1, LARGE_KEPT_MAX + PAGE + 1, 2 * LARGE_KEPT_MAX};
    for (size_t i = 0; i < 3; i++) {
        char *p = t_malloc(sizes[i]);
        memset(p, 0x5a, sizes[i]);
        const size_t offsets[] = {0, sizes[i] / 2, sizes[i] - 1};
        for (size_t k = 0; k < 3; k++) {
            struct read_after_free r = {p, offsets[k]};
            tu_expect_fault(free_then_read, &r, SIGSEGV);
        }
        t_free(p);
    }
}

/* ---- fork while other threads allocate ---- */

#define CHURNERS 4
static atomic_int churn_stop;
static atomic_ulong churn_ops;

static void *churn(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    void *held[64] = {0};
    while (!atomic_load_explicit(&churn_stop, memory_order_relaxed)) {
        rng = mix(rng + 0x9e3779b97f4a7c15ull);
        size_t slot = rng % 64;
        size_t n = (rng >> 8) % 64 == 0 ? 40000 + (rng >> 16) % 100000 : 1 + (rng >> 16) % 2048;
        t_free(held[slot]);
        held[slot] = t_malloc(n);
        if (held[slot])
            memset(held[slot], (int)slot, n < 64 ? n : 64);
        atomic_fetch_add_explicit(&churn_ops, 1, memory_order_relaxed);
    }
    for (size_t i = 0; i < 64; i++)
        t_free(held[i]);
    return NULL;
}

static void child_allocates_and_frees(void *arg) {
    (void)arg;
    alarm(30); /* a deadlocked child dies of SIGALRM */
    enum { N = 2000 };
    static void *objs[N];
    for (size_t round = 0; round < 3; round++) {
        for (size_t i = 0; i < N; i++) {
            size_t n = i % 100 == 99 ? 50000 + i : 1 + (i * 37) % 4096;
            objs[i] = i % 3 ? t_malloc(n) : t_calloc(1, n);
            if (!objs[i])
                child_fail("allocation failed");
            memset(objs[i], 0xa5, n);
        }
        for (size_t i = 0; i < N; i += 2)
            if (!(objs[i] = t_realloc(objs[i], 1 + i % 5000)))
                child_fail("realloc failed");
        for (size_t i = 0; i < N; i++)
            t_free(objs[i]);
    }
}

Test(misuse, fork_while_four_threads_allocate_and_free, .timeout = 120) {
    pthread_t t[CHURNERS];
    atomic_store(&churn_stop, 0);
    for (uintptr_t k = 0; k < CHURNERS; k++)
        cr_assert_eq(pthread_create(&t[k], NULL, churn, (void *)(k + 1)), 0);
    while (atomic_load(&churn_ops) < 20000)
        sched_yield();
    for (int i = 0; i < 20; i++) {
        struct death d = run_in_child(child_allocates_and_frees, NULL);
        cr_expect(d.signal == 0 && d.exit_code == 0, "fork %d: child signal %d exit %d, stderr: %s", i, d.signal,
                  d.exit_code, d.stderr_text);
        cr_expect_str_empty(d.stderr_text, "fork %d", i);
    }
    atomic_store(&churn_stop, 1);
    for (int k = 0; k < CHURNERS; k++)
        pthread_join(t[k], NULL);
}
