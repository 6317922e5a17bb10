/* The OS layer (os.h states its contract): every mapping, randomness,
 * stderr and the fatal reports. Nothing here may call malloc. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "os.h"

/* ---- fault injection (tests) ---- */

static struct {
    uint64_t skip;  /* matching calls still to succeed before the failures */
    uint64_t count; /* failures left; 0: none pending */
    unsigned kinds;
    int err;
} fault;

void pm_os_fail(unsigned kinds, uint64_t nth, uint64_t count, int err) {
    __atomic_store_n(&fault.count, 0, __ATOMIC_RELEASE);
    fault.kinds = kinds;
    fault.err = err;
    fault.skip = nth ? nth - 1 : 0;
    __atomic_store_n(&fault.count, nth ? count : 0, __ATOMIC_RELEASE);
}

uint64_t pm_os_fail_pending(void) {
    return __atomic_load_n(&fault.count, __ATOMIC_ACQUIRE);
}

/* True (errno set) if this call is to fail. One load and a branch when
 * nothing is pending; the tests that inject run one thread at a time. */
static bool injected_failure(unsigned kind) {
    if (PM_LIKELY(__atomic_load_n(&fault.count, __ATOMIC_ACQUIRE) == 0) || !(fault.kinds & kind))
        return false;
    if (fault.skip) {
        fault.skip--;
        return false;
    }
    fault.count--;
    errno = fault.err;
    return true;
}

/* ---- names in /proc/PID/maps ---- */

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#endif
#ifndef PR_SET_VMA_ANON_NAME
#define PR_SET_VMA_ANON_NAME 0
#endif

static const char *const use_names[PM_USE_COUNT] = {
    [PM_USE_SLABS] = "partmalloc slabs",
    [PM_USE_METADATA] = "partmalloc metadata",
    [PM_USE_TCACHE] = "partmalloc thread caches",
    [PM_USE_LARGE] = "partmalloc large",
    [PM_USE_ZERO] = "partmalloc zero-size",
    [PM_USE_STRICT] = "partmalloc strict sizes",
    [PM_USE_STATS] = "partmalloc statistics",
};
/* Set once the kernel has said it cannot name mappings (no
 * CONFIG_ANON_VMA_NAME, or older than 5.17): one failed call, then none. */
static int names_unsupported;

static void name_mapping(void *addr, size_t size, enum pm_os_use use) {
    if (__atomic_load_n(&names_unsupported, __ATOMIC_RELAXED))
        return;
    int saved = errno;
    if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)addr, size, use_names[use]) != 0 && errno == EINVAL)
        __atomic_store_n(&names_unsupported, 1, __ATOMIC_RELAXED);
    errno = saved;
}

/* ---- mappings ---- */

static void *map_anonymous(void *addr, size_t size, int prot, int flags, enum pm_os_use use) {
    if (injected_failure(PM_OS_FAIL_MAP))
        return NULL;
    void *p = mmap(addr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | flags, -1, 0);
    if (p == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    name_mapping(p, size, use);
    return p;
}

/* The soft limit `resource` sets, SIZE_MAX when none. */
static size_t rlimit_bytes(int resource) {
    struct rlimit r;
    bool limited = getrlimit(resource, &r) == 0 && r.rlim_cur != RLIM_INFINITY && r.rlim_cur < SIZE_MAX;
    return limited ? (size_t)r.rlim_cur : SIZE_MAX;
}

/* RLIMIT_DATA counts every private writable mapping, reserved without
 * commit charge or not: it bounds what may be made read-write as RLIMIT_AS
 * bounds what may be mapped. */
size_t pm_os_space_limit(void) {
    int saved = errno;
    size_t as = rlimit_bytes(RLIMIT_AS), data = rlimit_bytes(RLIMIT_DATA);
    errno = saved;
    return as < data ? as : data;
}

void *pm_os_reserve(size_t size, enum pm_os_use use) {
    return map_anonymous(NULL, size, PROT_NONE, 0, use);
}

bool pm_os_reserve_at(void *addr, size_t size, enum pm_os_use use) {
    int saved = errno;
    void *p = map_anonymous(addr, size, PROT_NONE, MAP_FIXED_NOREPLACE, use);
    if (p == addr)
        return true;
    if (p)
        munmap(p, size); /* a kernel without MAP_FIXED_NOREPLACE placed it elsewhere */
    else
        errno = saved;
    return false;
}

bool pm_os_reserve_over(void *addr, size_t size, enum pm_os_use use) {
    return map_anonymous(addr, size, PROT_NONE, MAP_FIXED, use) != NULL;
}

void *pm_os_alloc(size_t size, enum pm_os_use use) {
    return map_anonymous(NULL, size, PROT_READ | PROT_WRITE, 0, use);
}

static bool protect(void *addr, size_t size, int prot) {
    if (injected_failure(PM_OS_FAIL_PROTECT))
        return false;
    if (mprotect(addr, size, prot) == 0)
        return true;
    errno = ENOMEM;
    return false;
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
/* Set once the kernel has refused guard marks (EINVAL: older than 6.13):
 * one failed call, then none. */
static int guard_marks_unsupported;

bool pm_os_guard_mark(void *addr, size_t size) {
    if (__atomic_load_n(&guard_marks_unsupported, __ATOMIC_RELAXED))
        return false;
    int saved = errno;
    bool ok = !injected_failure(PM_OS_FAIL_GUARD_MARK) && madvise(addr, size, MADV_GUARD_INSTALL) == 0;
    if (!ok && errno == EINVAL)
        __atomic_store_n(&guard_marks_unsupported, 1, __ATOMIC_RELAXED);
    errno = saved;
    return ok;
}

bool pm_os_guard_marks_supported(void) {
    return !__atomic_load_n(&guard_marks_unsupported, __ATOMIC_RELAXED);
}

bool pm_os_commit(void *addr, size_t size) {
    return protect(addr, size, PROT_READ | PROT_WRITE);
}

bool pm_os_commit_covering(const void *addr, size_t size) {
    uintptr_t first = (uintptr_t)addr & ~(uintptr_t)(PM_PAGE - 1);
    uintptr_t end = ((uintptr_t)addr + size + PM_PAGE - 1) & ~(uintptr_t)(PM_PAGE - 1);
    return pm_os_commit((void *)first, end - first);
}

bool pm_os_protect_none(void *addr, size_t size) {
    return protect(addr, size, PROT_NONE);
}

void pm_os_decommit(void *addr, size_t size) {
    int saved = errno;
    madvise(addr, size, MADV_DONTNEED);
    errno = saved;
}

bool pm_os_resident(void *addr, size_t size, unsigned char *vec) {
    int saved = errno;
    bool ok = mincore(addr, size, vec) == 0;
    errno = saved;
    return ok;
}

void pm_os_release(void *addr, size_t size) {
    int saved = errno;
    munmap(addr, size);
    errno = saved;
}

bool pm_os_resize(void *addr, size_t old_size, size_t new_size) {
    if (injected_failure(PM_OS_FAIL_REMAP))
        return false;
    if (mremap(addr, old_size, new_size, 0) != MAP_FAILED)
        return true;
    errno = ENOMEM;
    return false;
}

void *pm_os_move(void *addr, size_t old_size, size_t new_size, void *dest) {
    if (injected_failure(PM_OS_FAIL_REMAP))
        return NULL;
    void *r = mremap(addr, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
    if (r != MAP_FAILED)
        return r;
    errno = ENOMEM;
    return NULL;
}

/* ---- the metadata arena ----
 *
 * Metadata is carved from arenas of address space reserved once, each with
 * an inaccessible gap on both sides that stays reserved for the life of the
 * process: the kernel places no other mapping there, so no user block (slab,
 * large block, zero-size region) lies within a gap's width of metadata. An
 * arena's first page holds its record; the rest is handed out by a bump
 * cursor moved with compare-and-swap (no lock: a statistics dump from a
 * signal handler allocates too). A carved range is made read-write with
 * mprotect, which keeps the reservation's MAP_NORESERVE: no commit charge
 * until touched, as with pm_os_alloc, where the kernel honours it (not
 * under vm.overcommit_memory = 2, where every writable private byte is
 * charged: what grows with use is reserved read-only, pm_os_meta_reserve,
 * and made writable as it is used). A full arena is followed by another,
 * with gaps of its own.
 *
 * Under an address-space limit (RLIMIT_AS, or RLIMIT_DATA if smaller) an
 * arena is at most 1/32 of it and a gap 1/64, so that metadata leaves the
 * limit to the blocks; when
 * even that does not fit, the reservation shrinks: first the arena, halved
 * down to what the request needs, then the gaps, halved down to one page;
 * only when not even that fits does the call fail. */

#define PM_META_ARENA_BYTES ((size_t)64 << 30)
#define PM_META_GAP_BYTES ((size_t)1 << 30)

struct meta_arena {
    struct meta_arena *older; /* the arena filled before this one */
    char *end;                /* past the last byte that may be carved */
    char *next;               /* the bump cursor (atomic) */
    size_t gap;               /* reserved bytes before the record and after end */
};
static struct meta_arena *meta_newest;

static size_t page_round(size_t v) {
    return (v + PM_PAGE - 1) & ~(size_t)(PM_PAGE - 1);
}

/* [gap | record page | bytes | gap] of no access, the record committed;
 * NULL if the OS refuses. */
static struct meta_arena *arena_map(size_t bytes, size_t gap) {
    size_t total = gap + PM_PAGE + bytes + gap;
    char *base = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    struct meta_arena *a = (struct meta_arena *)(base + gap);
    if (mprotect(a, PM_PAGE, PROT_READ | PROT_WRITE) != 0) {
        munmap(base, total);
        return NULL;
    }
    name_mapping(base, total, PM_USE_METADATA);
    a->end = (char *)a + PM_PAGE + bytes;
    a->next = (char *)a + PM_PAGE;
    a->gap = gap;
    return a;
}

/* A new arena that can hold `need` bytes: the largest arena, then the widest
 * gaps, that the OS agrees to. */
static struct meta_arena *arena_create(size_t need) {
    size_t limit = pm_os_space_limit(), arena = PM_META_ARENA_BYTES, widest = PM_META_GAP_BYTES;
    if (limit != SIZE_MAX) {
        arena = page_round(limit / 32 < arena ? limit / 32 : arena);
        while (widest > PM_PAGE && widest > limit / 64)
            widest /= 2; /* a power of two: halved down to a page below */
    }
    size_t bytes = need > arena ? need : arena;
    for (size_t gap = widest; gap >= PM_PAGE; gap /= 2) {
        for (size_t b = bytes;; b = page_round(b / 2) > need ? page_round(b / 2) : need) {
            struct meta_arena *a = arena_map(b, gap);
            if (a)
                return a;
            if (b == need)
                break;
        }
    }
    return NULL;
}

static void arena_unmap(struct meta_arena *a) {
    munmap((char *)a - a->gap, (size_t)(a->end - (char *)a) + 2 * a->gap);
}

/* `size` bytes (page-rounded) off the arena's cursor, or NULL if full.
 * Acquire pairs with pm_os_meta_free's release: a range freed and carved
 * again comes after the freeing thread's remapping of it. */
static char *arena_carve(struct meta_arena *a, size_t size) {
    char *at = __atomic_load_n(&a->next, __ATOMIC_ACQUIRE);
    do {
        if ((size_t)(a->end - at) < size)
            return NULL;
    } while (!__atomic_compare_exchange_n(&a->next, &at, at + size, true, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE));
    return at;
}

/* Carves from the newest arena, adding one when it is full. */
static char *meta_carve(size_t size) {
    for (;;) {
        struct meta_arena *a = __atomic_load_n(&meta_newest, __ATOMIC_ACQUIRE);
        char *p = a ? arena_carve(a, size) : NULL;
        if (p)
            return p;
        struct meta_arena *fresh = arena_create(size);
        if (!fresh)
            return NULL;
        fresh->older = a;
        if (!__atomic_compare_exchange_n(&meta_newest, &a, fresh, false, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
            arena_unmap(fresh); /* another thread added one first */
    }
}

/* `size` bytes of a metadata arena with protection `prot`. */
static void *meta_carve_as(size_t size, int prot, enum pm_os_use use) {
    if (injected_failure(PM_OS_FAIL_MAP))
        return NULL;
    int saved = errno;
    size = page_round(size);
    char *p = meta_carve(size);
    if (p && mprotect(p, size, prot) != 0)
        p = NULL; /* the carved range stays reserved, unused */
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    errno = saved;
    name_mapping(p, size, use);
    return p;
}

void *pm_os_meta_alloc(size_t size, enum pm_os_use use) {
    return meta_carve_as(size, PROT_READ | PROT_WRITE, use);
}

/* Read-only rather than no access: the free paths read the state byte of
 * any offset in a cache's region, and an unused one reads as never
 * allocated, as it did when all of it was writable. */
void *pm_os_meta_reserve(size_t size, enum pm_os_use use) {
    return meta_carve_as(size, PROT_READ, use);
}

/* The range goes back to no access and no pages; its addresses are not
 * carved again unless it was the newest arena's last carve. */
void pm_os_meta_free(void *addr, size_t size) {
    int saved = errno;
    size = page_round(size);
    mmap(addr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    name_mapping(addr, size, PM_USE_METADATA);
    struct meta_arena *a = __atomic_load_n(&meta_newest, __ATOMIC_ACQUIRE);
    char *end = (char *)addr + size;
    if (a)
        __atomic_compare_exchange_n(&a->next, &end, (char *)addr, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
    errno = saved;
}

size_t pm_os_meta_ranges(struct pm_os_range *out, size_t max) {
    size_t n = 0;
    for (struct meta_arena *a = __atomic_load_n(&meta_newest, __ATOMIC_ACQUIRE); a; a = a->older, n++) {
        if (n >= max)
            continue;
        out[n].start = (char *)a - a->gap;
        out[n].end = a->end + a->gap;
        out[n].used_end = __atomic_load_n(&a->next, __ATOMIC_RELAXED);
        out[n].data = (char *)a;
    }
    return n;
}

/* ---- randomness, reports ---- */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dull;
    x ^= x >> 33;
    return x;
}

void pm_os_random(void *buf, size_t len) {
    int saved = errno;
    char *out = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t r = getrandom(out + got, len - got, GRND_NONBLOCK);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    errno = saved;
    if (got == len)
        return;
    /* No entropy source (very early boot, seccomp): mix what varies per process. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)&ts ^
                 ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&pm_os_random;
    for (size_t i = got; i < len; i++) {
        s = mix64(s + 0x9e3779b97f4a7c15ull);
        out[i] = (char)s;
    }
}

void pm_write_stderr(const char *s, size_t len) {
    int saved = errno;
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, s, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        s += w;
        len -= (size_t)w;
    }
    errno = saved;
}

static size_t append(char *buf, size_t at, size_t cap, const char *s) {
    size_t n = strlen(s);
    if (at + n > cap)
        n = cap - at;
    memcpy(buf + at, s, n);
    return at + n;
}

__attribute__((noreturn)) static void die(void) {
    /* abort() may flush stdio, which may call into the allocator we just
     * found corrupt: raise SIGABRT directly, then make sure we end. */
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
    _exit(134);
}

void pm_fatal_ptr(const char *what, const void *ptr, const char *cache) {
    char buf[256];
    size_t at = append(buf, 0, sizeof buf - 1, "partmalloc: ");
    at = append(buf, at, sizeof buf - 1, what);
    at = append(buf, at, sizeof buf - 1, " at ");
    if (at + 18 < sizeof buf - 1)
        at += pm_fmt_hex(buf + at, (uint64_t)(uintptr_t)ptr);
    at = append(buf, at, sizeof buf - 1, " (cache ");
    at = append(buf, at, sizeof buf - 1, cache);
    at = append(buf, at, sizeof buf - 1, ")");
    buf[at++] = '\n';
    pm_write_stderr(buf, at);
    die();
}

void pm_fatal(const char *msg) {
    pm_write_stderr("partmalloc: ", 12);
    pm_write_stderr(msg, strlen(msg));
    pm_write_stderr("\n", 1);
    die();
}
