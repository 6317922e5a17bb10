/* Allocations above the largest size class: one mapping each, page-granular,
 * with an inaccessible guard page before and after (guard marks where the
 * kernel has them, so that neighbouring blocks merge into one mapping).
 *
 * A table keyed by address (out of line, under one lock) records each live
 * mapping, and for a while each freed one, so that a double free of a large
 * block is caught until its record is recycled (the last PM_FREED_KEPT
 * freed blocks, or until the address is mapped again).
 *
 * With large_quarantine (strict) a freed block's whole range, guards
 * included, is not unmapped but held: its pages are dropped and it stays
 * reserved and inaccessible in a FIFO of PM_LARGE_QUARANTINE_RANGES ranges
 * and PM_LARGE_QUARANTINE_BYTES of address space, so a dangling pointer
 * faults instead of reaching whatever the kernel would map there next. The
 * oldest range is unmapped when a bound is passed. The held ranges are
 * among the last PM_FREED_KEPT freed blocks, so their records stay "freed"
 * and a double free of one is still caught.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "large.h"
#include "options.h"
#include "os.h"

enum { L_EMPTY = 0, L_LIVE = 1, L_FREED = 2, L_DEAD = 3 };
enum { GUARD_LEAD = 1, GUARD_TRAIL = 2 };
#define PM_FREED_KEPT 1024

struct large_entry {
    uintptr_t key;        /* the user pointer */
    size_t data_bytes;    /* read-write bytes at key */
    size_t requested;     /* the size asked for, for free_sized */
    uint8_t state;
    uint8_t guards;
};

static pm_lock_t large_lock = PM_LOCK_INIT;
/* Statistics, written under the lock and read without it (a signal handler
 * may be reading): blocks handed out ever, live blocks and their bytes, and
 * the most of each there ever were (each its own peak: the most blocks and
 * the most bytes need not have been live at the same moment). */
static uint64_t large_allocs;
static size_t large_live, large_live_bytes, large_peak, large_peak_bytes;

static void count_live(long blocks, long bytes) {
    size_t live = large_live + (size_t)blocks, live_bytes = large_live_bytes + (size_t)bytes;
    __atomic_store_n(&large_live, live, __ATOMIC_RELAXED);
    __atomic_store_n(&large_live_bytes, live_bytes, __ATOMIC_RELAXED);
    if (live > large_peak)
        __atomic_store_n(&large_peak, live, __ATOMIC_RELAXED);
    if (live_bytes > large_peak_bytes)
        __atomic_store_n(&large_peak_bytes, live_bytes, __ATOMIC_RELAXED);
}
static struct large_entry *table;
static size_t table_cap;      /* a power of two, or 0 */
static size_t table_used;     /* entries not L_EMPTY */
/* The last PM_FREED_KEPT freed addresses, in metadata pages mapped at the
 * first free (not in the library's writable data, which a large block may
 * be mapped next to). */
struct freed_ring {
    size_t next;
    uintptr_t keys[PM_FREED_KEPT];
};
static struct freed_ring *freed;

static size_t slot_of(uintptr_t key, size_t cap) {
    return (size_t)(((key >> 12) * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

/* The live or freed record of `key`, or NULL. */
static struct large_entry *lookup(uintptr_t key) {
    if (!table_cap)
        return NULL;
    for (size_t i = slot_of(key, table_cap);; i = (i + 1) & (table_cap - 1)) {
        struct large_entry *e = &table[i];
        if (e->state == L_EMPTY)
            return NULL;
        if (e->key == key && (e->state == L_LIVE || e->state == L_FREED))
            return e;
    }
}

static bool grow_table(void) {
    size_t cap = table_cap ? table_cap * 2 : 512;
    struct large_entry *t = pm_os_meta_alloc(cap * sizeof *t, PM_USE_METADATA);
    if (!t)
        return false;
    size_t used = 0;
    for (size_t i = 0; i < table_cap; i++) {
        struct large_entry *e = &table[i];
        if (e->state != L_LIVE && e->state != L_FREED)
            continue;
        size_t j = slot_of(e->key, cap);
        while (t[j].state != L_EMPTY)
            j = (j + 1) & (cap - 1);
        t[j] = *e;
        used++;
    }
    if (table)
        pm_os_meta_free(table, table_cap * sizeof *table);
    table = t;
    table_cap = cap;
    table_used = used;
    return true;
}

static struct large_entry *insert(uintptr_t key) {
    struct large_entry *e = lookup(key);
    if (e)
        return e; /* a freed record at an address mapped again */
    if ((table_used + 1) * 4 > table_cap * 3 && !grow_table())
        return NULL;
    size_t i = slot_of(key, table_cap);
    while (table[i].state == L_LIVE || table[i].state == L_FREED)
        i = (i + 1) & (table_cap - 1);
    if (table[i].state == L_EMPTY)
        table_used++;
    table[i].key = key;
    return &table[i];
}

/* Marks a freed record dead: its address may be a new block's later. */
static void forget_freed(uintptr_t key) {
    struct large_entry *e = lookup(key);
    if (e && e->state == L_FREED)
        e->state = L_DEAD;
}

/* Under the lock. Without memory for the ring, the record is forgotten at
 * once (that block's double free is not caught). */
static void remember_freed(uintptr_t key) {
    if (!freed)
        freed = pm_os_meta_alloc(sizeof *freed, PM_USE_METADATA);
    if (!freed) {
        forget_freed(key);
        return;
    }
    uintptr_t old = freed->keys[freed->next];
    if (old)
        forget_freed(old);
    freed->keys[freed->next] = key;
    freed->next = (freed->next + 1) % PM_FREED_KEPT;
}

/* Freed blocks kept mapped (with their guards) and resident for reuse: a
 * fresh mapping costs an mmap, an mprotect, two trims and a page fault per
 * page, and its free an munmap. Up to PM_LARGE_KEPT blocks of any size
 * whose bytes together stay within kept_budget(). A request takes the
 * smallest kept block that holds it, if the block is at most
 * PM_LARGE_REUSE_SPAN times its size: the rest is the block's usable slack,
 * so a realloc growing into it stays in place (and one shrinking to half
 * of it keeps it, keeps_slack). The policy decays without a timer: large
 * operations (allocations, frees, reallocs) are counted, and a block kept
 * for PM_LARGE_DECAY of them without being reused is unmapped at the next
 * one that looks at the kept blocks. A kept block's record stays "freed",
 * so a double free of it is still caught.
 *
 * The span and the budget were measured on the large workload (buffers of
 * 64 KiB to 10 MiB growing by realloc, 39 MiB of them live at most), page
 * faults and peak RSS: a span of 2 and a budget of the peak, 72,000 faults
 * and 73 MB; a span of 3 and 1.5 times the peak, 24,800 and 86 MB (mimalloc
 * 17,600 and 67 MB); any span, 64,000 and 65 MB (a small request takes a
 * block a later growth needed). */
#define PM_LARGE_KEPT 64
#define PM_LARGE_KEPT_BYTES ((size_t)64 << 20)
#define PM_LARGE_KEPT_FLOOR ((size_t)16 << 20)
#define PM_LARGE_DECAY 1024
#define PM_LARGE_REUSE_SPAN 3
struct kept_block {
    uintptr_t key;
    size_t data_bytes;
    uint64_t kept_at; /* large_ops when it was freed */
};
static struct kept_block kept[PM_LARGE_KEPT];
static size_t kept_count, kept_bytes;
static uint64_t large_ops;

/* The bytes the kept blocks may hold: one and a half times the most bytes
 * ever live in large blocks (so a program's resident set grows by at most
 * that, and by much less while its blocks are live), at least
 * PM_LARGE_KEPT_FLOOR, at most PM_LARGE_KEPT_BYTES. */
static size_t kept_budget(void) {
    size_t peak = large_peak_bytes + large_peak_bytes / 2;
    size_t budget = peak > PM_LARGE_KEPT_FLOOR ? peak : PM_LARGE_KEPT_FLOOR;
    return budget < PM_LARGE_KEPT_BYTES ? budget : PM_LARGE_KEPT_BYTES;
}

/* Blocks taken out of the kept list to be unmapped once the lock is
 * dropped (the munmaps need not hold it). */
struct kept_out {
    size_t n;
    struct kept_block blocks[PM_LARGE_KEPT + 1];
};

static void drop_kept(size_t i, struct kept_out *out) {
    out->blocks[out->n++] = kept[i];
    kept_bytes -= kept[i].data_bytes;
    kept[i] = kept[kept_count - 1];
    __atomic_store_n(&kept_count, kept_count - 1, __ATOMIC_RELAXED);
}

/* The decay: blocks kept for PM_LARGE_DECAY large operations go out. */
static void expire_kept(struct kept_out *out) {
    for (size_t i = kept_count; i-- > 0;)
        if (large_ops - kept[i].kept_at > PM_LARGE_DECAY)
            drop_kept(i, out);
}

static size_t oldest_kept(void) {
    size_t oldest = 0;
    for (size_t i = 1; i < kept_count; i++)
        if (kept[i].kept_at < kept[oldest].kept_at)
            oldest = i;
    return oldest;
}

/* The smallest kept block that holds `data` bytes and is at most
 * PM_LARGE_REUSE_SPAN times that, or kept_count. */
static size_t fitting_kept(size_t data) {
    size_t best = kept_count;
    for (size_t i = 0; i < kept_count; i++)
        if (kept[i].data_bytes >= data && kept[i].data_bytes / PM_LARGE_REUSE_SPAN <= data &&
            (best == kept_count || kept[i].data_bytes < kept[best].data_bytes))
            best = i;
    return best;
}

/* Takes the kept block that fitting_kept chooses; expired ones go to `out`. */
static bool take_kept(size_t data, struct kept_block *out, struct kept_out *expired) {
    large_ops++;
    expire_kept(expired);
    size_t best = fitting_kept(data);
    if (best == kept_count)
        return false;
    *out = kept[best];
    kept_bytes -= out->data_bytes;
    kept[best] = kept[kept_count - 1];
    __atomic_store_n(&kept_count, kept_count - 1, __ATOMIC_RELAXED);
    return true;
}

/* Keeps a freed block, the oldest kept ones going to `out` until it fits
 * the budget; false if the caller must unmap it (too big for the budget
 * alone, missing a guard, or reuse is off). */
static bool keep_block(uintptr_t key, size_t data, uint8_t guards, struct kept_out *out) {
    large_ops++;
    expire_kept(out);
    size_t budget = kept_budget();
    if (!pm_g.harden.large_reuse || guards != (GUARD_LEAD | GUARD_TRAIL) || data > budget)
        return false;
    while (kept_count == PM_LARGE_KEPT || kept_bytes + data > budget)
        drop_kept(oldest_kept(), out);
    kept[kept_count] = (struct kept_block){key, data, large_ops};
    kept_bytes += data;
    __atomic_store_n(&kept_count, kept_count + 1, __ATOMIC_RELAXED);
    return true;
}

/* The large quarantine, under large_lock: a ring, oldest at held_first.
 * 256 ranges keep the process's mappings bounded (each range is one entry
 * of vm.max_map_count); 4 GiB of address space is a small part of the
 * 128 TiB a process has, and costs no memory. */
#define PM_LARGE_QUARANTINE_RANGES 256
#define PM_LARGE_QUARANTINE_BYTES ((size_t)4 << 30)
struct held_range {
    uintptr_t start;
    size_t bytes;
};
static struct held_range held[PM_LARGE_QUARANTINE_RANGES];
static size_t held_first, held_count, held_bytes;

static void release_oldest_held(void) {
    struct held_range *h = &held[held_first];
    pm_os_release((void *)h->start, h->bytes);
    held_bytes -= h->bytes;
    held_first = (held_first + 1) % PM_LARGE_QUARANTINE_RANGES;
    held_count--;
}

/* Holds [start, start + bytes), which the caller owns and no longer uses
 * (under the lock): fresh inaccessible pages over it, then the oldest
 * ranges out until both bounds hold again. A range that cannot be replaced,
 * or passes the byte bound alone, is unmapped as without the quarantine. */
static void hold_range(uintptr_t start, size_t bytes) {
    if (!pm_os_reserve_over((void *)start, bytes, PM_USE_LARGE)) {
        pm_os_release((void *)start, bytes);
        return;
    }
    if (held_count == PM_LARGE_QUARANTINE_RANGES)
        release_oldest_held();
    held[(held_first + held_count) % PM_LARGE_QUARANTINE_RANGES] = (struct held_range){start, bytes};
    held_count++;
    held_bytes += bytes;
    while (held_bytes > PM_LARGE_QUARANTINE_BYTES)
        release_oldest_held();
}

static bool guard_at(void *addr) {
    return pm_os_reserve_at(addr, PM_PAGE, PM_USE_LARGE);
}

/* Page `addr` of a block's read-write mapping becomes a guard: a guard
 * mark where the kernel has them, else no access. */
static bool guard_in_place(char *addr) {
    return pm_os_guard_mark(addr, PM_PAGE) || pm_os_protect_none(addr, PM_PAGE);
}

/* Makes the `data` bytes at `user` accessible, the pages before and after
 * them (reserved, no access) staying guards. With guard marks the whole
 * range is made read-write and its guards marked: a block is then no
 * mapping of its own, and neighbouring blocks share one entry of
 * vm.max_map_count (an inaccessible guard splits a mapping, two entries a
 * block: about 32,700 live blocks at the default limit). */
static bool open_block(char *user, size_t data) {
    if (!pm_os_guard_marks_supported())
        return pm_os_commit(user, data);
    return pm_os_commit(user - PM_PAGE, data + 2 * PM_PAGE) && guard_in_place(user - PM_PAGE) &&
           guard_in_place(user + data);
}

/* A block's mapping: its data and the guards it has. */
static uintptr_t block_start(uintptr_t key, uint8_t guards) {
    return key - ((guards & GUARD_LEAD) ? PM_PAGE : 0);
}
static size_t block_bytes(uintptr_t key, size_t data, uint8_t guards) {
    return key + data + ((guards & GUARD_TRAIL) ? PM_PAGE : 0) - block_start(key, guards);
}

static void unmap_block(uintptr_t key, size_t data, uint8_t guards) {
    pm_os_release((void *)block_start(key, guards), block_bytes(key, data, guards));
}

/* Unmaps the blocks taken out of the kept list (without the lock). */
static size_t unmap_kept(const struct kept_out *out) {
    size_t bytes = 0;
    for (size_t i = 0; i < out->n; i++) {
        unmap_block(out->blocks[i].key, out->blocks[i].data_bytes, GUARD_LEAD | GUARD_TRAIL);
        bytes += out->blocks[i].data_bytes;
    }
    return bytes;
}

/* Records a block with both guards as live and counts it (under the
 * lock); NULL if the table cannot grow. */
static struct large_entry *record_live(uintptr_t key, size_t data, size_t requested) {
    struct large_entry *e = insert(key);
    if (!e)
        return NULL;
    e->data_bytes = data;
    e->requested = requested;
    e->state = L_LIVE;
    e->guards = GUARD_LEAD | GUARD_TRAIL;
    __atomic_store_n(&large_allocs, large_allocs + 1, __ATOMIC_RELAXED);
    count_live(1, (long)data);
    return e;
}

/* A kept block for `size`, live again, or NULL. */
static void *reuse_kept(size_t size, size_t data, bool zero) {
    struct kept_block b;
    struct kept_out expired = {0};
    pm_lock(&large_lock);
    bool found = take_kept(data, &b, &expired);
    struct large_entry *e = found ? record_live(b.key, b.data_bytes, size) : NULL;
    pm_unlock(&large_lock);
    unmap_kept(&expired);
    if (found && !e) {
        unmap_block(b.key, b.data_bytes, GUARD_LEAD | GUARD_TRAIL);
        return NULL;
    }
    if (e && zero) /* its pages hold the contents of the block freed */
        memset((void *)b.key, 0, size);
    return e ? (void *)b.key : NULL;
}

void *pm_large_alloc(size_t size, size_t alignment, bool zero) {
    if (alignment < PM_PAGE)
        alignment = PM_PAGE;
    /* Alignment first: PTRDIFF_MAX - alignment must not wrap. */
    if (alignment > PTRDIFF_MAX / 2 || size > PTRDIFF_MAX - alignment - 4 * (size_t)PM_PAGE) {
        errno = ENOMEM;
        return NULL;
    }
    /* At least one page, also for size 0 (an aligned_alloc above the largest
     * class): a block of no pages could never grow, since mremap cannot
     * resize or move a mapping of 0 bytes. */
    size_t data = size ? (size + PM_PAGE - 1) & ~(size_t)(PM_PAGE - 1) : PM_PAGE;
    if (alignment == PM_PAGE && __atomic_load_n(&kept_count, __ATOMIC_RELAXED)) { /* a peek; take_kept decides under the lock */
        void *p = reuse_kept(size, data, zero);
        if (p)
            return p;
    }
    size_t slack = alignment - PM_PAGE;
    size_t total = data + slack + 2 * PM_PAGE;
    char *base = pm_os_reserve(total, PM_USE_LARGE);
    if (!base) {
        errno = ENOMEM;
        return NULL;
    }
    char *user = (char *)(((uintptr_t)base + PM_PAGE + alignment - 1) & ~(uintptr_t)(alignment - 1));
    char *map_start = user - PM_PAGE, *map_end = user + data + PM_PAGE;
    if (map_start > base)
        pm_os_release(base, (size_t)(map_start - base));
    if (base + total > map_end)
        pm_os_release(map_end, (size_t)(base + total - map_end));
    if (!open_block(user, data)) {
        pm_os_release(map_start, (size_t)(map_end - map_start));
        errno = ENOMEM;
        return NULL;
    }
    pm_lock(&large_lock);
    struct large_entry *e = record_live((uintptr_t)user, data, size);
    pm_unlock(&large_lock);
    if (!e) {
        pm_os_release(map_start, (size_t)(map_end - map_start));
        errno = ENOMEM;
        return NULL;
    }
    return user;
}

size_t pm_large_usable(const void *ptr) {
    pm_lock(&large_lock);
    struct large_entry *e = lookup((uintptr_t)ptr);
    size_t n = e && e->state == L_LIVE ? e->data_bytes : 0;
    pm_unlock(&large_lock);
    return n;
}

/* What malloc_usable_size reports for a block: with the strict defences
 * the size asked for, as for small objects. */
static size_t entry_usable(const struct large_entry *e) {
    return pm_g.slow_only && pm_g.harden.checked_usable ? e->requested : e->data_bytes;
}

int pm_large_state(const void *ptr, size_t *usable) {
    pm_lock(&large_lock);
    struct large_entry *e = lookup((uintptr_t)ptr);
    int st = e ? e->state : L_EMPTY;
    if (e && usable)
        *usable = entry_usable(e);
    pm_unlock(&large_lock);
    return st == L_LIVE ? 1 : st == L_FREED ? -1 : 0;
}

/* The live block whose usable bytes hold `at`, or NULL (under the lock).
 * Its start first (one probe); an interior address needs a scan of the
 * table, which holds the live blocks and the last freed ones. */
static const struct large_entry *live_block_holding(uintptr_t at) {
    const struct large_entry *e = lookup(at);
    if (e && e->state == L_LIVE)
        return e;
    for (size_t i = 0; i < table_cap; i++)
        if (table[i].state == L_LIVE && at - table[i].key < entry_usable(&table[i]))
            return &table[i];
    return NULL;
}

size_t pm_large_object_size(const void *ptr) {
    pm_lock(&large_lock);
    const struct large_entry *e = live_block_holding((uintptr_t)ptr);
    size_t n = e ? e->key + entry_usable(e) - (uintptr_t)ptr : 0;
    pm_unlock(&large_lock);
    return n;
}

bool pm_large_free(void *ptr, size_t check_size, size_t check_align) {
    pm_lock(&large_lock);
    struct large_entry *e = lookup((uintptr_t)ptr);
    if (!e) {
        pm_unlock(&large_lock);
        return false;
    }
    if (e->state == L_FREED) {
        pm_unlock(&large_lock);
        pm_fatal_ptr("double free", ptr, "large");
    }
    if (check_size != PM_LARGE_ANY_SIZE && check_size != e->requested) {
        pm_unlock(&large_lock);
        pm_fatal_ptr(check_align ? "free_aligned_sized with a size or alignment the block was not allocated with"
                                 : "free_sized with a size the block was not allocated with",
                     ptr, "large");
    }
    if (check_align && ((uintptr_t)ptr & (check_align - 1))) {
        pm_unlock(&large_lock);
        pm_fatal_ptr("free_aligned_sized with an alignment the block does not have", ptr, "large");
    }
    size_t data = e->data_bytes;
    uint8_t guards = e->guards;
    e->state = L_FREED;
    count_live(-1, -(long)data);
    remember_freed((uintptr_t)ptr);
    /* The quarantine first: a block kept for reuse would defeat it. */
    bool held_it = pm_g.harden.large_quarantine;
    if (held_it)
        hold_range(block_start((uintptr_t)ptr, guards), block_bytes((uintptr_t)ptr, data, guards));
    struct kept_out dropped = {0};
    bool kept_it = !held_it && keep_block((uintptr_t)ptr, data, guards, &dropped);
    pm_unlock(&large_lock);
    unmap_kept(&dropped);
    if (!held_it && !kept_it)
        unmap_block((uintptr_t)ptr, data, guards);
    return true;
}

/* No lock: a statistics read may come from a signal handler that
 * interrupted a holder of the lock. */
void pm_large_counts(struct pm_large_stats *out) {
    out->active_blocks = __atomic_load_n(&large_live, __ATOMIC_RELAXED);
    out->active_bytes = __atomic_load_n(&large_live_bytes, __ATOMIC_RELAXED);
    out->kept_blocks = __atomic_load_n(&kept_count, __ATOMIC_RELAXED);
    out->allocs = __atomic_load_n(&large_allocs, __ATOMIC_RELAXED);
    out->peak_blocks = __atomic_load_n(&large_peak, __ATOMIC_RELAXED);
    out->peak_bytes = __atomic_load_n(&large_peak_bytes, __ATOMIC_RELAXED);
}

/* The kept blocks only: the quarantine stays, as emptying it would hand
 * its ranges to the next mappings, which is what it prevents. */
size_t pm_large_trim(void) {
    struct kept_out all = {0};
    pm_lock(&large_lock);
    while (kept_count)
        drop_kept(kept_count - 1, &all);
    pm_unlock(&large_lock);
    return unmap_kept(&all);
}

/* Shrinks in place: the first page past the new end becomes the guard; the
 * pages after it are freed memory, held like a freed block's with the
 * large quarantine. */
static void shrink(struct large_entry *e, size_t new_data) {
    char *p = (char *)e->key;
    guard_in_place(p + new_data);
    char *old_end = p + e->data_bytes + ((e->guards & GUARD_TRAIL) ? PM_PAGE : 0);
    char *tail = p + new_data + PM_PAGE;
    if (old_end > tail && pm_g.harden.large_quarantine)
        hold_range((uintptr_t)tail, (size_t)(old_end - tail));
    else if (old_end > tail)
        pm_os_release(tail, (size_t)(old_end - tail));
    e->guards |= GUARD_TRAIL;
    e->data_bytes = new_data;
}

/* Grows in place when the pages after the block, and one more for the
 * guard, are free; else, if `may_move`, moves the pages (no copy) with
 * mremap into a new reservation that has both guards. Returns the block's
 * address, or NULL with the block as it was. */
static char *grow(struct large_entry *e, size_t new_data, bool may_move) {
    char *p = (char *)e->key;
    size_t old = e->data_bytes, now = old;
    if (e->guards & GUARD_TRAIL)
        pm_os_release(p + old, PM_PAGE);
    if (pm_os_resize(p, old, new_data)) {
        now = new_data;
        if (guard_at(p + new_data)) {
            e->guards |= GUARD_TRAIL;
            return p;
        }
    }
    /* Move: the new place comes with its guards, so none can be missing. */
    char *base = may_move ? pm_os_reserve(new_data + 2 * PM_PAGE, PM_USE_LARGE) : NULL;
    char *r = base ? pm_os_move(p, now, new_data, base + PM_PAGE) : NULL;
    if (!r) {
        if (base)
            pm_os_release(base, new_data + 2 * PM_PAGE);
        if (now == new_data) { /* grown in place, but no room for a guard after it */
            e->guards &= GUARD_LEAD;
            return p;
        }
        bool had = (e->guards & GUARD_TRAIL) && guard_at(p + old);
        e->guards = (uint8_t)((e->guards & GUARD_LEAD) | (had ? GUARD_TRAIL : 0));
        return NULL;
    }
    if (e->guards & GUARD_LEAD)
        pm_os_release(p - PM_PAGE, PM_PAGE);
    e->guards = GUARD_LEAD | GUARD_TRAIL;
    return r;
}

/* A new block, a copy, and the old one freed: with the large quarantine a
 * block cannot move by mremap, which would unmap its old range for the
 * kernel to hand out (the old one goes into the quarantine), and a kept
 * block is resident already. NULL (ENOMEM) with the block as it was. */
static void *move_by_copy(void *ptr, size_t size, size_t old_data) {
    void *moved = pm_large_alloc(size, PM_PAGE, false);
    if (!moved)
        return NULL;
    memcpy(moved, ptr, old_data);
    pm_large_free(ptr, PM_LARGE_ANY_SIZE, 0);
    return moved;
}

/* Whether a realloc to `new_data` bytes leaves a block of `data` bytes as
 * it is: with large_reuse, from half its size up (the pages past the new
 * end stay resident for the block to grow back into, as they would have
 * in a kept block; a block reused from the kept ones may be up to
 * PM_LARGE_REUSE_SPAN times what was asked, and each shrink would give
 * back pages a later growth faults in again). Without it, or under the large quarantine, a block shrinks to
 * its size, the guard right after it. */
static bool keeps_slack(size_t data, size_t new_data) {
    return pm_g.harden.large_reuse && !pm_g.harden.large_quarantine && new_data >= data / 2;
}

void *pm_large_realloc(void *ptr, size_t size) {
    if (size > PTRDIFF_MAX - 4 * (size_t)PM_PAGE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t new_data = (size + PM_PAGE - 1) & ~(size_t)(PM_PAGE - 1);
    pm_lock(&large_lock);
    /* Room for the record of a moved block first, so nothing fails after the move. */
    if ((table_used + 1) * 4 > table_cap * 3 && !grow_table()) {
        pm_unlock(&large_lock);
        errno = ENOMEM;
        return NULL;
    }
    struct large_entry *e = lookup((uintptr_t)ptr);
    if (!e || e->state != L_LIVE) {
        pm_unlock(&large_lock);
        pm_fatal_ptr(e ? "realloc of a freed pointer" : "invalid realloc (not a partmalloc pointer)", ptr,
                     e ? "large" : "none");
    }
    char *result = ptr;
    size_t old_data = e->data_bytes;
    if (new_data < e->data_bytes && keeps_slack(e->data_bytes, new_data)) {
        new_data = e->data_bytes;
    } else if (new_data < e->data_bytes) {
        shrink(e, new_data);
    } else if (new_data > e->data_bytes) {
        bool quarantine = pm_g.harden.large_quarantine;
        if (!quarantine && fitting_kept(new_data) != kept_count) {
            /* Its pages are resident: a copy into them costs less than the
             * faults of fresh pages past the end (kept blocks need reuse on). */
            pm_unlock(&large_lock);
            return move_by_copy(ptr, size, old_data);
        }
        result = grow(e, new_data, !quarantine);
        if (!result) {
            pm_unlock(&large_lock);
            if (quarantine)
                return move_by_copy(ptr, size, old_data);
            errno = ENOMEM;
            return NULL;
        }
    }
    if (result != ptr) {
        struct large_entry moved = *e;
        e->state = L_FREED; /* realloc freed it: a later free of it is a double free */
        remember_freed((uintptr_t)ptr);
        struct large_entry *n = insert((uintptr_t)result); /* cannot grow: room was made above */
        *n = moved;
        n->key = (uintptr_t)result;
        e = n;
    }
    count_live(0, (long)new_data - (long)old_data);
    e->data_bytes = new_data;
    e->requested = size;
    pm_unlock(&large_lock);
    return result;
}

void pm_large_lock_all(void) {
    pm_lock(&large_lock);
}

void pm_large_unlock_all(void) {
    pm_unlock(&large_lock);
}

void pm_large_reinit_locks(void) {
    pthread_mutex_init(&large_lock, NULL);
}
