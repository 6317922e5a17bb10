/* The hardening presets' probe (tests/integration/test_harden.c): one heap
 * misuse or one measurement per run, chosen by the first argument, under the
 * PARTMALLOC_HARDEN the suite put in its environment (the library reads it
 * at the first allocation, before main).
 *
 * Before a misuse the probe prints the object it is about to misuse,
 *     object <pointer> cache <name> size <asked> slot <object size>
 * so the suite can build the exact diagnosis it expects on stderr. Every
 * line goes out with write(2) at once (no stdio buffer to lose when the
 * library aborts). A fault the probe provokes on purpose is reported by its
 * SIGSEGV handler as "fault +<offset>" (from a base the command printed)
 * before the default action kills it. Exit status: 0 done, 2 a precondition
 * failed (a message on stdout says which), 3 the misuse went unnoticed where
 * the command expected the library to stop it.
 *
 * Commands:
 *   fingerprint                    which defences are in effect, measured
 *   overflow <size> <bytes>        write past the size asked for, then free
 *   canary <size>                  strlen over an unterminated full-size string
 *   uaf-write <size> <offset> direct|cycle
 *                                  free, write one byte, allocate until the
 *                                  slot comes back (cycle: through a full
 *                                  quarantine, by freeing other objects)
 *   uaf-leave <size> <offset>|none others|collect
 *                                  free, write one byte (none: no write), then
 *                                  let the slot leave the quarantine without
 *                                  its cache allocating again: free objects of
 *                                  its size from another call site, or
 *                                  pm_collect
 *   uaf-read <size>                free a filled object, count its nonzero bytes
 *   large-uaf <size>               free a filled large block, then read it
 *   large-uaf-write <size>         free a large block, allocate another of the
 *                                  same size, write through the freed pointer
 *   large-reuse <size>             free a large block, then allocate one of
 *                                  the same size, one of 2 MiB and 64 more of
 *                                  the size: how many overlap the freed range
 *   large-held <size> <count> <fill 0|1>
 *                                  allocate <count> blocks (filled: every page
 *                                  touched), free them in order: which are
 *                                  still mapped, resident memory, mappings
 *   large-realloc grow|shrink      a 256 KiB block grown until realloc moves
 *                                  it, or a 1 MiB one shrunk to 256 KiB; a
 *                                  block that fits what realloc gave up, then
 *                                  a write there through the old pointer
 *   large-churn <size> <count>     <count> times malloc, touch, free: the
 *                                  process's mappings before and after
 *   reuse <trials> <size>...       malloc/free/malloc: same address how often
 *   usable <size>...               malloc_usable_size of fresh objects, and
 *                                  malloc_object_size at their edges
 *   zero info|read|write|double-free|realloc|realloc-then-free
 *                                  malloc(0) objects
 *   kmem-zalloc <size>             kmem_cache_zalloc from a dedicated cache of
 *                                  <size>-byte objects, used in full, freed
 *   zero-aligned                   aligned_alloc/posix_memalign of 0 bytes
 *   double-free <size> <others>    free, free <others> other objects, free again
 *   guard <size> <count> first|last <bytes>
 *                                  allocate <count> objects of a fresh cache,
 *                                  then write <bytes> forward from the first
 *                                  or the last slot of its first slab
 *   map <size> <count> <bytes>     allocate <count> objects of a fresh cache,
 *                                  then list the inaccessible page ranges in
 *                                  the first <bytes> of its region
 *   order                          64 malloc(48) in a fresh thread, as slot
 *                                  numbers from the lowest
 *   free-sized <size> <given>      free_sized(malloc(size), given)
 *   fork <threads> <forks>         fork while threads allocate and free
 *   held <size> same|exit|fork     free one object (strict: held in its
 *                                  thread's batch), then count how often
 *                                  20000 allocations of its size return it:
 *                                  in the freeing thread, after it exited,
 *                                  or in a fork child while it is alive
 *   held-stats <size>              the object's cache statistics after
 *                                  malloc, free and pm_collect
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "partmalloc.h"
#include "partmalloc/slab.h"
#include "probe.h"

/* C23; glibc 2.36 does not declare it. */
void free_sized(void *ptr, size_t size);

/* The statistics of the cache named `name`; 0 if it has none. */
static int stats_of(const char *name, struct pm_cache_stats *out) {
    static struct pm_cache_stats all[8192];
    size_t n = pm_stats_caches(all, 8192);
    for (size_t i = 0; i < n && i < 8192; i++)
        if (strcmp(all[i].name, name) == 0) {
            *out = all[i];
            return 1;
        }
    return 0;
}

/* Whether the byte at `addr` can be read, without touching it: the kernel
 * copies it into a pipe, or fails with EFAULT. */
static int readable(const void *addr) {
    static int fds[2] = {-1, -1};
    if (fds[0] < 0 && pipe(fds) != 0)
        give_up("pipe");
    if (write(fds[1], addr, 1) != 1)
        return 0;
    char c;
    if (read(fds[0], &c, 1) != 1)
        give_up("pipe read");
    return 1;
}


/* ---- a fresh cache ---- */

struct filled {
    char *base;            /* the cache's first slot: its first slab's start */
    size_t obj, per_slab, slab_bytes;
    char name[32];
    int ascending;         /* handed out in address order */
};

/* Allocates `count` objects of `size` from alloc_here's cache, which must
 * be fresh (nothing else allocated from it). The cache's first slot is
 * found by stepping down a slot at a time from its lowest object (which may
 * be in any slab a refill took slots from) to the start of the cache's
 * region: pm_ptr_info names another cache for the address below it. */
static void fill_fresh(size_t size, size_t count, struct filled *f) {
    char *p = alloc_here(size);
    struct pm_ptr_info info = info_of(p);
    struct pm_cache_stats st;
    if (!info.is_small || info.start != p || !stats_of(info.cache_name, &st))
        give_up("the object is not a slab object");
    if (st.allocs != 1 || st.active_objs != 1)
        give_up("the cache was used before");
    memset(f, 0, sizeof *f);
    memcpy(f->name, info.cache_name, sizeof f->name);
    f->obj = info.object_size;
    f->per_slab = st.objs_per_slab;
    f->slab_bytes = st.pages_per_slab * 4096;
    f->ascending = 1;
    char *low = p, *prev = p;
    for (size_t i = 1; i < count; i++) {
        char *q = alloc_here(size);
        if (strcmp(info_of(q).cache_name, f->name) != 0)
            give_up("objects of one call site and size landed in two caches");
        if (q < low)
            low = q;
        if (q < prev)
            f->ascending = 0;
        prev = q;
    }
    if (!stats_of(f->name, &st) || st.allocs != count || st.active_objs != count)
        give_up("the cache's statistics do not show exactly the objects allocated");
    for (size_t i = 0; i < ((size_t)1 << 24); i++) {
        struct pm_ptr_info below;
        if (!pm_ptr_info(low - f->obj, &below) || strcmp(below.cache_name, f->name) != 0)
            break;
        low -= f->obj;
    }
    f->base = low;
}

/* ---- commands ---- */

/* Measures the defences, for the preset checks:
 *   reuse=1       malloc/free/malloc gave the same address (a thread cache)
 *   usable100=N   malloc_usable_size(malloc(100))
 *   large_kept=N  freed 2 MiB blocks kept mapped
 *   ordered=1     a fresh 20000-byte cache handed its first 16 objects (two
 *                 slabs of 8) out in address order
 *   first_hole=+N the first inaccessible byte after that cache's first slot
 *   zero_size=1   malloc(0) is in the zero-size region */
static int cmd_fingerprint(void) {
    void *p = alloc_here(200);
    free(hide(p));
    void *q = alloc_here(200);
    int reuse = q == p;
    free(hide(q));

    void *u = alloc_here(100);
    size_t usable100 = malloc_usable_size(hide(u));
    free(hide(u));

    struct pm_large_stats before, after;
    pm_stats_large(&before);
    free(hide(alloc_here(2 << 20)));
    pm_stats_large(&after);

    struct filled f;
    fill_fresh(20000, 48, &f); /* 6 slabs: a whole group, so its guard is up */
    size_t hole = 0;
    while (hole < ((size_t)4 << 20) && readable(f.base + hole))
        hole += 4096;

    void *z = alloc_here(0);
    int zero_size = strcmp(info_of(z).cache_name, "zero-size") == 0;
    free(hide(z));

    say("fingerprint reuse=%d usable100=%zu large_kept=%zu ordered=%d first_hole=+%zu zero_size=%d\n", reuse,
        usable100, after.kept_blocks - before.kept_blocks, f.ascending, hole, zero_size);
    return 0;
}

static int cmd_overflow(size_t size, size_t bytes) {
    char *p = alloc_here(size);
    announce(p, size);
    memset(hide(p + size), 0x41, bytes);
    free(hide(p));
    say("freed without a report\n");
    return 3;
}

static int cmd_canary(size_t size) {
    char *p = alloc_here(size);
    memset(p, 'x', size);
    size_t len = strlen(hide(p));
    unsigned char after = (unsigned char)((volatile char *)p)[size];
    say("strlen %zu after 0x%02x\n", len, after);
    free(hide(p));
    return 0;
}

static int cmd_uaf_write(size_t size, size_t offset, const char *how) {
    int cycle = strcmp(how, "cycle") == 0;
    if (!cycle && strcmp(how, "direct") != 0)
        give_up("uaf-write: direct or cycle");
    char *p = alloc_here(size);
    announce(p, size);
    free(hide(p));
    ((volatile char *)hide(p))[offset] = 0x5a;
    /* Objects of p's cache are never freed from here on: the slot, once
     * back in its slab, is among the next ones handed out. */
    for (size_t i = 1; i <= 400000; i++) {
        if (cycle) {
            free(hide(alloc_elsewhere(1000))); /* another cache, through the quarantine */
            if ((i + 1) % 1024 == 0) /* 4095: the ring holds the slot and these */
                say("frees %zu\n", i);
        }
        if (alloc_here(size) == p) {
            say("the slot came back after %zu allocations, unchecked\n", i);
            return 3;
        }
    }
    say("the slot never came back\n");
    return 3;
}

/* Exits 3 if the written slot left the quarantine unnoticed, 0 if nothing
 * was written. Each free from the other site may evict the slot (1 in 4096
 * once the ring is full): 400000 of them leave it behind with odds below
 * e^-90. */
static int cmd_uaf_leave(size_t size, const char *offset, const char *how) {
    int collect = strcmp(how, "collect") == 0;
    if (!collect && strcmp(how, "others") != 0)
        give_up("uaf-leave: others or collect");
    int write = strcmp(offset, "none") != 0;
    char *p = alloc_here(size);
    announce(p, size);
    char *other = alloc_elsewhere(size);
    say("other cache %s\n", info_of(other).cache_name);
    free(hide(other));
    free(hide(p));
    if (write)
        ((volatile char *)hide(p))[arg_size(offset)] = 0x5a;
    if (collect)
        pm_collect();
    else
        for (size_t i = 0; i < 400000; i++)
            free(hide(alloc_elsewhere(size)));
    say(write ? "the written slot left the quarantine unnoticed\n" : "left the quarantine\n");
    return write ? 3 : 0;
}

static int cmd_uaf_read(size_t size) {
    char *p = alloc_here(size);
    size_t slot = info_of(p).object_size;
    memset(p, 0xaa, size);
    free(hide(p));
    size_t nonzero = 0;
    for (size_t i = 0; i < slot; i++)
        nonzero += ((volatile char *)hide(p))[i] != 0;
    say("nonzero %zu of %zu\n", nonzero, slot);
    return 0;
}

static int cmd_large_uaf(size_t size) {
    char *p = alloc_here(size);
    if (info_of(p).is_small)
        give_up("not a large block");
    memset(p, 0x5a, size);
    free(hide(p));
    report_faults_from(p);
    say("freed %p\n", (void *)p);
    volatile char *v = hide(p);
    int first = v[0], last = v[size - 1];
    say("read 0x%02x 0x%02x\n", first & 0xff, last & 0xff);
    return 0;
}

/* A large block of `size` written once per page (so it is resident). */
static char *large_touched(size_t size) {
    char *p = alloc_here(size);
    if (info_of(p).is_small)
        give_up("not a large block");
    for (size_t i = 0; i < size; i += 4096)
        p[i] = 0x5a;
    return p;
}

static int cmd_large_uaf_write(size_t size) {
    char *p = large_touched(size);
    free(hide(p));
    char *next = large_touched(size);
    say("freed %p next %p\n", (void *)p, (void *)next);
    report_faults_from(p);
    ((volatile char *)hide(p))[0] = 1;
    say("wrote, the next block %s\n", next[0] == 1 ? "changed" : "unchanged");
    return 0;
}

/* Whether [a, a + n) and [b, b + m) share a byte. */
static int overlaps(const char *a, size_t n, const char *b, size_t m) {
    return a < b + m && b < a + n;
}

static int cmd_large_reuse(size_t size) {
    char *p = large_touched(size);
    free(hide(p));
    char *freed = p - 4096; /* the range with its guards */
    size_t freed_bytes = (size + 4095) / 4096 * 4096 + 2 * 4096, overlapping = 0, blocks = 0;
    char *same = large_touched(size);
    overlapping += overlaps(freed, freed_bytes, same, size);
    blocks++;
    overlapping += overlaps(freed, freed_bytes, large_touched(2 << 20), 2 << 20);
    blocks++;
    for (int i = 0; i < 64; i++, blocks++)
        overlapping += overlaps(freed, freed_bytes, large_touched(size), size);
    say("large-reuse same=%d overlap=%zu of %zu\n", same == p, overlapping, blocks);
    return 0;
}

/* /proc/self/maps, read without allocating. */
static char maps_text[8 << 20];
static size_t read_maps(void) {
    int fd = open("/proc/self/maps", O_RDONLY);
    if (fd < 0)
        give_up("/proc/self/maps");
    size_t n = 0;
    ssize_t r;
    while (n < sizeof maps_text - 1 && (r = read(fd, maps_text + n, sizeof maps_text - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    maps_text[n] = '\0';
    return n;
}

static size_t mapping_count(void) {
    read_maps();
    size_t lines = 0;
    for (const char *c = maps_text; *c; c++)
        lines += *c == '\n';
    return lines;
}

/* Whether `addr` is in a mapping (of any protection), from maps_text. */
static int mapped_in_maps(const void *addr) {
    uintptr_t a = (uintptr_t)addr;
    for (const char *line = maps_text; *line;) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi)
            return 1;
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    return 0;
}

static size_t rss_kib(void) {
    char buf[128] = {0};
    int fd = open("/proc/self/statm", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0)
        close(fd);
    unsigned long size, resident;
    if (n <= 0 || sscanf(buf, "%lu %lu", &size, &resident) != 2)
        give_up("/proc/self/statm");
    return resident * 4;
}

static int cmd_large_held(size_t size, size_t count, size_t fill) {
    static char *blocks[4096];
    if (count > 4096)
        give_up("at most 4096 blocks");
    size_t rss_start = rss_kib(), maps_start = mapping_count();
    for (size_t i = 0; i < count; i++)
        blocks[i] = fill ? large_touched(size) : alloc_here(size);
    size_t rss_live = rss_kib();
    for (size_t i = 0; i < count; i++)
        free(hide(blocks[i]));
    size_t rss_freed = rss_kib(), maps_freed = mapping_count();
    size_t unmapped_first = 0, mapped = 0;
    while (unmapped_first < count && !mapped_in_maps(blocks[unmapped_first]))
        unmapped_first++;
    for (size_t i = 0; i < count; i++)
        mapped += mapped_in_maps(blocks[i]);
    say("held unmapped_first=%zu mapped=%zu of %zu\n", unmapped_first, mapped, count);
    say("rss start=%zu live=%zu freed=%zu maps start=%zu freed=%zu\n", rss_start, rss_live, rss_freed, maps_start,
        maps_freed);
    return 0;
}

static int cmd_large_realloc(const char *how) {
    char *p, *target;
    if (strcmp(how, "grow") == 0) {
        p = large_touched(256 << 10);
        char *r = p;
        for (size_t size = 512 << 10; r == p && size <= ((size_t)1 << 30); size *= 2)
            r = realloc(hide(p), opaque(size));
        say("moved %d\n", r != p);
        large_touched(256 << 10); /* the size of the range p had */
        target = p;
    } else if (strcmp(how, "shrink") == 0) {
        p = large_touched(1 << 20);
        if (realloc(hide(p), opaque(256 << 10)) != p)
            give_up("the shrink moved the block");
        large_touched(760 << 10); /* with its guards, the 768 KiB cut off */
        target = p + (512 << 10);
    } else {
        give_up("large-realloc: grow or shrink");
    }
    report_faults_from(target);
    ((volatile char *)hide(target))[0] = 1;
    say("wrote\n");
    return 0;
}

static int cmd_large_churn(size_t size, size_t count) {
    size_t before = mapping_count();
    for (size_t i = 0; i < count; i++)
        free(hide(large_touched(size)));
    say("churn maps before=%zu after=%zu\n", before, mapping_count());
    return 0;
}

static int cmd_reuse(size_t trials, char **sizes, int nsizes) {
    for (int s = 0; s < nsizes; s++) {
        size_t size = arg_size(sizes[s]), same = 0;
        for (size_t t = 0; t < trials; t++) {
            void *p = alloc_here(size);
            free(hide(p));
            void *q = alloc_here(size);
            same += q == p;
            free(hide(q));
        }
        say("reuse %zu %zu/%zu\n", size, same, trials);
    }
    return 0;
}

/* malloc_object_size of `p` (`size` asked for, `usable` reported) at its
 * start, last usable byte, first byte past the usable size and last byte
 * of its slot (a large block: of its last data page), and the fast form at
 * its start. */
static void say_object_size(const char *p, size_t size, size_t usable) {
    struct pm_ptr_info info = info_of((void *)p);
    size_t page = 4096, slot = info.is_small ? info.object_size : (usable + page - 1) / page * page;
    say("objsize %zu start=%zu last=%zu past=%zu slot_last=%zu fast=%zu\n", size, malloc_object_size(p),
        usable ? malloc_object_size(p + usable - 1) : 0, malloc_object_size(p + usable),
        slot ? malloc_object_size(p + slot - 1) : 0, malloc_object_size_fast(p));
}

static int cmd_usable(char **sizes, int nsizes) {
    for (int s = 0; s < nsizes; s++) {
        size_t size = arg_size(sizes[s]);
        void *p = alloc_here(size);
        size_t usable = malloc_usable_size(hide(p));
        say("usable %zu %zu %s\n", size, usable, info_of(p).cache_name);
        say_object_size(p, size, usable);
        free(hide(p));
    }
    return 0;
}

static int cmd_zero(const char *what) {
    char *p0 = alloc_here(0), *p1 = alloc_here(0);
    if (strcmp(what, "info") == 0) {
        struct pm_ptr_info i0 = info_of(p0), i1 = info_of(p1);
        say("zero %p %p cache %s %s live %d %d usable %zu\n", (void *)p0, (void *)p1, i0.cache_name, i1.cache_name,
            i0.live, i1.live, malloc_usable_size(hide(p0)));
        say("readable %d %d\n", readable(p0), readable(p1));
        free(hide(p0));
        free(hide(p1));
        char *p2 = alloc_here(0);
        say("after free %p live %d, a new one %p\n", (void *)p0, info_of(p0).live, (void *)p2);
        free(hide(p2));
        return 0;
    }
    announce(p0, 0);
    report_faults_from(p0);
    if (strcmp(what, "read") == 0) {
        say("read %d\n", ((volatile char *)hide(p0))[0]);
    } else if (strcmp(what, "write") == 0) {
        ((volatile char *)hide(p0))[0] = 1;
        say("wrote\n");
    } else if (strcmp(what, "double-free") == 0) {
        free(hide(p0));
        free(hide(p0));
        say("freed twice\n");
    } else if (strcmp(what, "realloc") == 0) {
        char *q = realloc(hide(p0), opaque(10));
        struct pm_ptr_info qi = info_of(q);
        memset(q, 7, 10);
        say("realloc %p small %d live %d usable %zu old live %d\n", (void *)q, qi.is_small, qi.live,
            malloc_usable_size(hide(q)), info_of(p0).live);
        free(hide(q));
        return 0;
    } else if (strcmp(what, "realloc-then-free") == 0) {
        char *q = realloc(hide(p0), opaque(10));
        say("realloc %p\n", (void *)q);
        free(hide(p0));
        say("freed the old pointer\n");
    } else {
        give_up("zero: info, read, write, double-free, realloc or realloc-then-free");
    }
    return 3;
}

/* aligned_alloc and posix_memalign of 0 bytes: "aligned <a> <p> <q> <ok>"
 * with ok 1 when both are multiples of a. */
static int cmd_zero_aligned(void) {
    static const size_t aligns[] = {16, 32, 64, 256, 4096, 65536};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        size_t a = aligns[i];
        void *p = hide(aligned_alloc(opaque(a), opaque(0))), *q = NULL;
        int rc = posix_memalign(&q, opaque(a), opaque(0));
        say("aligned %zu %p %p %d\n", a, p, q, rc == 0 && p && q && (uintptr_t)p % a == 0 && (uintptr_t)q % a == 0);
        free(p);
        free(q);
    }
    return 0;
}

static int cmd_double_free(size_t size, size_t others) {
    char *p = alloc_here(size);
    announce(p, size);
    free(hide(p));
    for (size_t i = 0; i < others; i++) /* through the quarantine, past its capacity */
        free(hide(alloc_elsewhere(size)));
    free(hide(p));
    say("freed twice\n");
    return 3;
}

/* A dedicated cache's object, zeroed by kmem_cache_zalloc, used to its
 * full size, freed. */
static int cmd_kmem_zalloc(size_t size) {
    struct kmem_cache *cache = kmem_cache_create("probe_objects", (unsigned)size, 8, 0, NULL);
    if (!cache)
        give_up("kmem_cache_create");
    char *p = kmem_cache_zalloc(cache, GFP_KERNEL);
    if (!p)
        give_up("kmem_cache_zalloc");
    announce(p, size);
    for (size_t i = 0; i < size; i++)
        if (p[i])
            give_up("kmem_cache_zalloc gave a nonzero byte");
    memset(p, 0x11, size);
    kmem_cache_free(cache, hide(p));
    kmem_cache_destroy(cache);
    say("freed\n");
    return 0;
}

static int cmd_guard(size_t size, size_t count, const char *from, size_t bytes) {
    struct filled f;
    fill_fresh(size, count, &f);
    char *start = f.base;
    if (strcmp(from, "last") == 0)
        start = f.base + (f.per_slab - 1) * f.obj;
    else if (strcmp(from, "first") != 0)
        give_up("guard: first or last");
    say("geometry cache %s obj %zu per_slab %zu slab_bytes %zu start +%zu live %d\n", f.name, f.obj, f.per_slab,
        f.slab_bytes, (size_t)(start - f.base), info_of(start).live);
    report_faults_from(f.base);
    volatile char *w = (volatile char *)start;
    for (size_t i = 0; i < bytes; i++)
        w[i] = 0x42;
    say("wrote %zu\n", bytes);
    return 0;
}

/* "hole +<from> +<to>" for each run of inaccessible pages in the first
 * <bytes> after the cache's first slot. */
static int cmd_map(size_t size, size_t count, size_t bytes) {
    struct filled f;
    fill_fresh(size, count, &f);
    say("geometry cache %s obj %zu per_slab %zu slab_bytes %zu start +0 live 1\n", f.name, f.obj, f.per_slab,
        f.slab_bytes);
    size_t from = 0;
    int in_hole = 0;
    for (size_t at = 0; at < bytes; at += 4096) {
        int hole = !readable(f.base + at);
        if (hole && !in_hole)
            from = at;
        if (!hole && in_hole)
            say("hole +%zu +%zu\n", from, at);
        in_hole = hole;
    }
    if (in_hole)
        say("hole +%zu +%zu\n", from, bytes);
    say("mapped %zu\n", bytes);
    return 0;
}

static void *order_thread(void *arg) {
    uintptr_t *out = arg;
    for (int i = 0; i < 64; i++)
        out[i] = (uintptr_t)alloc_here(48);
    return NULL;
}

/* "order <k>..." : each object's slot number counted from the lowest. */

static int cmd_order(void) {
    static uintptr_t addr[64];
    pthread_t t;
    if (pthread_create(&t, NULL, order_thread, addr) != 0 || pthread_join(t, NULL) != 0)
        give_up("thread");
    uintptr_t min = addr[0];
    for (int i = 0; i < 64; i++)
        if (addr[i] < min)
            min = addr[i];
    char line[1024];
    size_t at = 0;
    at += (size_t)snprintf(line, sizeof line, "order");
    size_t slot = info_of((void *)addr[0]).object_size;
    for (int i = 0; i < 64; i++) {
        struct pm_ptr_info info = info_of((void *)addr[i]);
        if (info.object_size != slot || (addr[i] - min) % slot)
            give_up("order: not slots of one cache");
        at += (size_t)snprintf(line + at, sizeof line - at, " %zu", (size_t)((addr[i] - min) / slot));
    }
    say("%s\n", line);
    return 0;
}

static int cmd_free_sized(size_t size, size_t given) {
    char *p = alloc_here(size);
    announce(p, size);
    free_sized(hide(p), opaque(given));
    say("freed\n");
    return 0;
}

/* ---- fork while threads allocate ---- */

static atomic_int stop_threads;

static void *churn(void *arg) {
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    void *keep[64] = {0};
    while (!atomic_load(&stop_threads)) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned k = (unsigned)(x % 64);
        free(keep[k]);
        size_t size = (x >> 8) % 7 == 0 ? 40000 + (x >> 20) % 100000 : (x >> 8) % 3000;
        keep[k] = malloc(size);
        if (keep[k])
            memset(keep[k], (int)k, size < 64 ? size : 64);
    }
    for (unsigned k = 0; k < 64; k++)
        free(keep[k]);
    return NULL;
}

static int cmd_fork(size_t nthreads, size_t nforks) {
    pthread_t t[16];
    if (nthreads > 16)
        nthreads = 16;
    for (size_t i = 0; i < nthreads; i++)
        if (pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1)) != 0)
            give_up("thread");
    size_t ok = 0;
    for (size_t f = 0; f < nforks; f++) {
        usleep(2000);
        pid_t pid = fork();
        if (pid < 0)
            give_up("fork");
        if (pid == 0) {
            alarm(10); /* a lock left held by the fork would hang the child */
            void *keep[256];
            for (int i = 0; i < 256; i++) {
                keep[i] = malloc((size_t)(i * 37) % 5000);
                if (i % 16 == 0)
                    free(malloc(100000));
            }
            for (int i = 0; i < 256; i++)
                free(keep[i]);
            pm_collect(); /* drains the quarantine: its lock and every cache's */
            _exit(0);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid)
            give_up("waitpid");
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            ok++;
        else
            say("fork %zu: child status 0x%x\n", f, (unsigned)status);
    }
    atomic_store(&stop_threads, 1);
    for (size_t i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    say("forks %zu ok %zu\n", nforks, ok);
    return ok == nforks ? 0 : 1;
}

/* ---- frees held in a thread's batch (strict) ---- */

#define HELD_ALLOCS 20000

/* How many of HELD_ALLOCS allocations of `size` from alloc_here (none
 * freed) return `p`, and `q` in *q_times. */
static size_t times_handed_out(const void *p, const void *q, size_t size, size_t *q_times) {
    size_t n = 0, m = 0;
    for (size_t i = 0; i < HELD_ALLOCS; i++) {
        void *a = alloc_here(size);
        n += a == p;
        m += a == q;
    }
    if (q_times)
        *q_times = m;
    return n;
}

struct held_thread {
    size_t size;
    void *freed_slot;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int freed, may_exit;
};

/* Allocates and frees one object, then waits until it may exit. */
static void *free_one_and_wait(void *arg) {
    struct held_thread *h = arg;
    void *p = alloc_here(h->size);
    announce(p, h->size);
    free(hide(p));
    pthread_mutex_lock(&h->lock);
    h->freed_slot = p;
    h->freed = 1;
    pthread_cond_broadcast(&h->cond);
    while (!h->may_exit)
        pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static void held_thread_release(struct held_thread *h, pthread_t t) {
    pthread_mutex_lock(&h->lock);
    h->may_exit = 1;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    pthread_join(t, NULL);
}

static int cmd_held(size_t size, const char *where) {
    if (strcmp(where, "same") == 0) {
        void *p = alloc_here(size);
        announce(p, size);
        free(hide(p));
        say("held same reused %zu\n", times_handed_out(p, NULL, size, NULL));
        return 0;
    }
    int fork_case = strcmp(where, "fork") == 0;
    if (!fork_case && strcmp(where, "exit") != 0)
        give_up("held: same, exit or fork");
    struct held_thread h = {size, NULL, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, !fork_case};
    pthread_t t;
    if (pthread_create(&t, NULL, free_one_and_wait, &h) != 0)
        give_up("thread");
    pthread_mutex_lock(&h.lock);
    while (!h.freed)
        pthread_cond_wait(&h.cond, &h.lock);
    pthread_mutex_unlock(&h.lock);
    if (!fork_case) {
        pthread_join(t, NULL);
        say("held exit reused %zu\n", times_handed_out(h.freed_slot, NULL, size, NULL));
        return 0;
    }
    /* The thread is alive and holds its free; this thread holds one too. */
    void *q = alloc_here(size);
    free(hide(q));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        give_up("fork");
    if (pid == 0) {
        alarm(10);
        size_t own, other = times_handed_out(h.freed_slot, q, size, &own);
        pm_collect(); /* the quarantine drained: the other thread's free is not in it */
        size_t after = times_handed_out(h.freed_slot, NULL, size, NULL);
        say("held fork reused other %zu own %zu other-after-collect %zu\n", other, own, after);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        give_up("waitpid");
    held_thread_release(&h, t);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        say("child status 0x%x\n", (unsigned)status);
    return 0;
}

static int cmd_held_stats(size_t size) {
    void *p = alloc_here(size);
    struct pm_ptr_info info = info_of(p);
    struct pm_cache_stats a, b, c;
    if (!stats_of(info.cache_name, &a))
        give_up("no statistics for the cache");
    free(hide(p));
    stats_of(info.cache_name, &b);
    pm_collect();
    stats_of(info.cache_name, &c);
    say("held-stats malloc active %zu cached %zu free active %zu cached %zu allocs %llu frees %llu "
        "collect active %zu cached %zu\n",
        a.active_objs, a.cached_objs, b.active_objs, b.cached_objs, (unsigned long long)b.allocs,
        (unsigned long long)b.frees, c.active_objs, c.cached_objs);
    return 0;
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "";
    if (strcmp(cmd, "fingerprint") == 0)
        return cmd_fingerprint();
    if (strcmp(cmd, "overflow") == 0 && argc == 4)
        return cmd_overflow(arg_size(argv[2]), arg_size(argv[3]));
    if (strcmp(cmd, "canary") == 0 && argc == 3)
        return cmd_canary(arg_size(argv[2]));
    if (strcmp(cmd, "uaf-write") == 0 && argc == 5)
        return cmd_uaf_write(arg_size(argv[2]), arg_size(argv[3]), argv[4]);
    if (strcmp(cmd, "uaf-leave") == 0 && argc == 5)
        return cmd_uaf_leave(arg_size(argv[2]), argv[3], argv[4]);
    if (strcmp(cmd, "uaf-read") == 0 && argc == 3)
        return cmd_uaf_read(arg_size(argv[2]));
    if (strcmp(cmd, "large-uaf") == 0 && argc == 3)
        return cmd_large_uaf(arg_size(argv[2]));
    if (strcmp(cmd, "large-uaf-write") == 0 && argc == 3)
        return cmd_large_uaf_write(arg_size(argv[2]));
    if (strcmp(cmd, "large-reuse") == 0 && argc == 3)
        return cmd_large_reuse(arg_size(argv[2]));
    if (strcmp(cmd, "large-held") == 0 && argc == 5)
        return cmd_large_held(arg_size(argv[2]), arg_size(argv[3]), arg_size(argv[4]));
    if (strcmp(cmd, "large-realloc") == 0 && argc == 3)
        return cmd_large_realloc(argv[2]);
    if (strcmp(cmd, "large-churn") == 0 && argc == 4)
        return cmd_large_churn(arg_size(argv[2]), arg_size(argv[3]));
    if (strcmp(cmd, "reuse") == 0 && argc >= 4)
        return cmd_reuse(arg_size(argv[2]), argv + 3, argc - 3);
    if (strcmp(cmd, "usable") == 0 && argc >= 3)
        return cmd_usable(argv + 2, argc - 2);
    if (strcmp(cmd, "zero") == 0 && argc == 3)
        return cmd_zero(argv[2]);
    if (strcmp(cmd, "guard") == 0 && argc == 6)
        return cmd_guard(arg_size(argv[2]), arg_size(argv[3]), argv[4], arg_size(argv[5]));
    if (strcmp(cmd, "map") == 0 && argc == 5)
        return cmd_map(arg_size(argv[2]), arg_size(argv[3]), arg_size(argv[4]));
    if (strcmp(cmd, "order") == 0)
        return cmd_order();
    if (strcmp(cmd, "kmem-zalloc") == 0 && argc == 3)
        return cmd_kmem_zalloc(arg_size(argv[2]));
    if (strcmp(cmd, "zero-aligned") == 0)
        return cmd_zero_aligned();
    if (strcmp(cmd, "double-free") == 0 && argc == 4)
        return cmd_double_free(arg_size(argv[2]), arg_size(argv[3]));
    if (strcmp(cmd, "free-sized") == 0 && argc == 4)
        return cmd_free_sized(arg_size(argv[2]), arg_size(argv[3]));
    if (strcmp(cmd, "fork") == 0 && argc == 4)
        return cmd_fork(arg_size(argv[2]), arg_size(argv[3]));
    if (strcmp(cmd, "held") == 0 && argc == 4)
        return cmd_held(arg_size(argv[2]), argv[3]);
    if (strcmp(cmd, "held-stats") == 0 && argc == 3)
        return cmd_held_stats(arg_size(argv[2]));
    say("usage: harden_probe <command> [arguments] (see the source)\n");
    return 2;
}
