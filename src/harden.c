/* The strict defences (PARTMALLOC_HARDEN, docs/security.md).
 *
 * With any of zero_on_free, canary, quarantine, checked_usable or
 * zero_inaccessible the fast paths' bins stay empty: every allocation and
 * every free reaches the slow paths in tcache.c, which hand them here with
 * the size asked for. The fast paths are unchanged, and cost nothing more,
 * in the other presets.
 *
 * Each thread still has a cache (pm_tcache_strict), used only from here:
 * its bin of a class is refilled with up to half a bin of one slab's slots
 * in one locked step, in the order the slab's randomized scan and shuffle
 * give (slab.c), and strict allocations pop from it without a lock (a
 * refill takes from one slab, so a cache's slabs fill one after the
 * other); every check below still runs on each allocation and free. Frees
 * go, checked and marked CACHED, into the thread's batch of
 * PM_STRICT_BATCH, which enters the quarantine in one locked step; the
 * slots the quarantine sends back go to the freeing thread's bins
 * (checked still zero), not through the central caches' locks. A slot in
 * a batch is held: marked CACHED, so a second free is a double free at
 * once, and in no bin, so nothing hands it out before it has been through
 * the quarantine. The bins and the batch go back at thread exit, before
 * fork and in pm_collect (tcache.c).
 *
 *   canary          8 bytes right after the size asked for (the class is
 *                   chosen for size + 8), the first byte zero so a string
 *                   read stops there, the rest secret; checked on free.
 *   zero_on_free    the whole slot zeroed on free, checked still zero when
 *                   it leaves the quarantine and when handed out again: a
 *                   write after free is caught whichever cache allocates.
 *   quarantine      freed slots wait in a ring of PM_QUARANTINE_SLOTS (and at
 *                   most PM_QUARANTINE_BYTES); a free into a full ring sends
 *                   back random earlier ones. A cache whose region runs out
 *                   gets the quarantine back before an allocation fails.
 *   checked_usable  malloc_usable_size is the size asked for.
 *   zero_inaccessible  malloc(0) returns distinct addresses in a region that
 *                   is never accessible.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "harden.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "sizeclass.h"
#include "slab.h"
#include "slot.h"
#include "tcache.h"
#include "token_stats.h"

#define PM_CANARY_BYTES 8u
/* The quarantine holds up to this many freed objects and this many bytes. */
#define PM_QUARANTINE_SLOTS 4096u
#define PM_QUARANTINE_BYTES ((size_t)16 << 20)

/* ---- requested sizes ---- */

/* One 32-bit size per slot of a region, reserved on first use with no
 * commit charge and made writable, doubling, as far as the slots handed
 * out reach. */
static size_t sizes_bytes(size_t obj_size) {
    return ((pm_region.mask + 1) / obj_size + 1) * sizeof(uint32_t);
}

static uint32_t *sizes_of(struct pm_segment *seg, size_t obj_size) {
    uint32_t *s = __atomic_load_n(&seg->req_size, __ATOMIC_ACQUIRE);
    if (s)
        return s;
    void *m = pm_os_meta_reserve(sizes_bytes(obj_size), PM_USE_STRICT);
    if (!m)
        return NULL;
    uint32_t *expected = NULL;
    if (!__atomic_compare_exchange_n(&seg->req_size, &expected, m, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        pm_os_meta_free(m, sizes_bytes(obj_size));
        return expected;
    }
    return m;
}

/* The size of slot `idx` in `sizes` (sizes_of's answer for `seg`) can be
 * written. Threads may commit the same pages at once (harmless); the
 * committed length only grows. The array comes from the caller, never a
 * second plain read of seg->req_size, which another thread's losing
 * compare-exchange in sizes_of counts as writing. */
static bool sizes_commit(struct pm_segment *seg, uint32_t *sizes, size_t obj_size, uint64_t idx) {
    size_t need = (idx + 1) * sizeof(uint32_t), done = __atomic_load_n(&seg->req_committed, __ATOMIC_ACQUIRE);
    if (need <= done)
        return true;
    size_t limit = (sizes_bytes(obj_size) + PM_PAGE - 1) & ~(size_t)(PM_PAGE - 1);
    size_t grow = ((need > 2 * done ? need : 2 * done) + PM_PAGE - 1) & ~(size_t)(PM_PAGE - 1);
    if (grow > limit)
        grow = limit;
    if (!pm_os_commit((char *)sizes + done, grow - done))
        return false;
    while (done < grow &&
           !__atomic_compare_exchange_n(&seg->req_committed, &done, grow, true, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
        ;
    return true;
}

/* The segment and slot number of cache `cid`'s slot at `ptr`, whose state
 * byte is `state`: the number is the state byte's place in its segment's
 * array, without pm_slot_find's multiply (but for regions a cache took past
 * its primary one). False if there is no segment. */
static bool entry_ref(size_t cid, const void *ptr, const uint8_t *state, struct pm_slot_ref *ref) {
    struct pm_segment *seg = &pm_caches[cid].first;
    if ((uintptr_t)((const char *)ptr - seg->base) > pm_region.mask) {
        if (!pm_slot_find(ptr, ref) || !ref->seg)
            return false;
        seg = ref->seg;
    }
    ref->cid = cid;
    ref->seg = seg;
    ref->idx = (uint64_t)(state - seg->state);
    return true;
}

/* A slot's entry: the size asked for in the low PM_SIZE_BITS (sizes are at
 * most PM_MAX_SMALL), above them log2 of the alignment aligned_alloc and
 * friends asked for, 0 for the other allocations. */
#define PM_SIZE_BITS 24
#define PM_SIZE_MASK (((uint32_t)1 << PM_SIZE_BITS) - 1)

static uint32_t entry_of(const struct pm_slot_ref *ref) {
    uint32_t *s = ref->seg ? __atomic_load_n(&ref->seg->req_size, __ATOMIC_ACQUIRE) : NULL;
    return s ? s[ref->idx] : (uint32_t)pm_hot[ref->cid].obj_size;
}

size_t pm_strict_size(const struct pm_slot_ref *ref) {
    return entry_of(ref) & PM_SIZE_MASK;
}

size_t pm_strict_alignment(const struct pm_slot_ref *ref) {
    uint32_t lg = entry_of(ref) >> PM_SIZE_BITS;
    return lg ? (size_t)1 << lg : 0;
}

/* ---- canary ---- */

/* Secret per slot address, from a key of its own; the first byte (lowest
 * address) is zero. */
static uint64_t canary_of(const void *slot) {
    uint64_t v = ((uintptr_t)slot ^ pm_g.canary_key[0]) * pm_g.canary_key[1];
    v ^= v >> 31;
    v *= 0x94d049bb133111ebull;
    v ^= v >> 29;
    return v & ~(uint64_t)0xff;
}

static void canary_write(char *obj, size_t size) {
    uint64_t v = canary_of(obj);
    memcpy(obj + size, &v, PM_CANARY_BYTES);
}

static bool canary_intact(const char *obj, size_t size) {
    uint64_t v = canary_of(obj), seen;
    memcpy(&seen, obj + size, PM_CANARY_BYTES);
    return seen == v;
}

/* ---- choosing the cache ---- */

/* A cache of the same group (partition) as `cid` whose objects hold `need`
 * bytes and are `align`-aligned; SIZE_MAX if none (the allocation becomes a
 * large block). */
static size_t cache_with_room(size_t cid, size_t need, size_t align) {
    if (cid >= pm_g.dedicated_cid || need > PM_MAX_SMALL) /* by id: a kmalloc record may be being set up */
        return SIZE_MAX;
    for (unsigned cls = pm_size_to_class(need); cls < PM_NUM_CLASSES; cls++)
        if (pm_class_size[cls] % align == 0)
            return PM_CID(cls, PM_CID_GROUP(cid));
    return SIZE_MAX;
}

static __attribute__((noreturn)) void corrupted(const char *what, const void *ptr, size_t cid) {
    char name[32];
    pm_cache_name(cid, name);
    pm_fatal_ptr(what, ptr, name);
}

/* n >= 1 bytes all zero: the first is, and each equals the next (libc's
 * vectorized memcmp does the work). */
static bool all_zero(const char *p, size_t n) {
    return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

/* With zero_on_free, aborts if the freed slot `ptr` of `cid` is no longer
 * all zero (a ctor cache's objects keep their constructed contents). */
static void check_zero_fill(size_t cid, const void *ptr) {
    if (pm_g.harden.zero_on_free && !pm_caches[cid].ctor && !all_zero(ptr, pm_hot[cid].obj_size))
        corrupted("write after free (a freed object was modified)", ptr, cid);
}

/* ---- malloc(0) ---- */

#define PM_ZERO_REGION ((size_t)1 << 32)
#define PM_ZERO_STEP 16u
static char *zero_base;
static uint8_t *zero_state; /* per address: 0 never, 1 live, 2 freed */
static size_t zero_next;
static pm_lock_t zero_lock = PM_LOCK_INIT;

/* Under zero_lock. The states first, then the region: a reader that sees
 * zero_base (acquire) sees zero_state too. The state bytes are read and
 * written without the lock (free, pointer queries), so atomically. */
static void set_up_zero_region(void) {
    uint8_t *states = pm_os_meta_alloc(PM_ZERO_REGION / PM_ZERO_STEP, PM_USE_ZERO);
    char *base = states ? pm_os_reserve(PM_ZERO_REGION, PM_USE_ZERO) : NULL;
    if (!base) {
        if (states)
            pm_os_meta_free(states, PM_ZERO_REGION / PM_ZERO_STEP);
        return;
    }
    zero_state = states;
    __atomic_store_n(&zero_base, base, __ATOMIC_RELEASE);
}

/* `align`: a power of two up to the page size. */
static void *zero_alloc(size_t align) {
    size_t step = align > PM_ZERO_STEP ? align / PM_ZERO_STEP : 1;
    pm_lock(&zero_lock);
    if (!zero_base)
        set_up_zero_region();
    void *p = NULL;
    zero_next = (zero_next + step - 1) / step * step; /* zero_base is page aligned */
    if (zero_base && zero_next < PM_ZERO_REGION / PM_ZERO_STEP) {
        __atomic_store_n(&zero_state[zero_next], 1, __ATOMIC_RELAXED);
        p = zero_base + zero_next++ * PM_ZERO_STEP;
    }
    pm_unlock(&zero_lock);
    if (!p)
        errno = ENOMEM;
    return p;
}

int pm_zero_state(const void *ptr) {
    char *base = __atomic_load_n(&zero_base, __ATOMIC_ACQUIRE);
    uintptr_t off = (uintptr_t)ptr - (uintptr_t)base;
    if (!base || off >= PM_ZERO_REGION)
        return -1;
    if (off % PM_ZERO_STEP)
        return 3; /* not the start of one */
    return __atomic_load_n(&zero_state[off / PM_ZERO_STEP], __ATOMIC_RELAXED);
}

bool pm_zero_free(const void *ptr, const char *op) {
    int st = pm_zero_state(ptr);
    if (st < 0)
        return false;
    if (st == 1) {
        __atomic_store_n(&zero_state[((uintptr_t)ptr - (uintptr_t)zero_base) / PM_ZERO_STEP], 2, __ATOMIC_RELAXED);
        return true;
    }
    char what[96];
    if (st == 2 && strcmp(op, "free") == 0) {
        strcpy(what, "double free");
    } else {
        strcpy(what, st == 2 ? op : "invalid ");
        strcat(what, st == 2 ? " of a freed pointer" : op);
        if (st != 2)
            strcat(what, st == 3 ? " (not the start of an object)" : " (slot never allocated)");
    }
    pm_fatal_ptr(what, ptr, "zero-size");
}

/* ---- quarantine ---- */

/* The ring and its counts, in metadata pages mapped at the first free that
 * is quarantined (not in the library's writable data, which a large block
 * may be mapped next to). */
struct quarantine {
    size_t count, bytes;
    uint64_t rng;
    struct pm_quarantined slots[PM_QUARANTINE_SLOTS];
};
static struct quarantine *quarantine;
static pm_lock_t quarantine_lock = PM_LOCK_INIT;

/* Under the lock: the ring, mapped if it is not yet; NULL if it cannot be. */
static struct quarantine *quarantine_ring(void) {
    if (!quarantine) {
        quarantine = pm_os_meta_alloc(sizeof *quarantine, PM_USE_METADATA);
        if (quarantine)
            quarantine->rng = (pm_g.order_key * 0xbf58476d1ce4e5b9ull) | 1;
    }
    return quarantine;
}

static uint64_t next_random(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

/* Slots leaving the quarantine are checked here: back in a cache they may
 * be handed out much later or never (allocations of their size from other
 * call sites come from other partitions' caches), so a check on reuse
 * alone would miss the write. They go to `into`'s bins, or with NULL to
 * their central caches, a run of one cache's slots in one locked step. */
static void send_back(const struct pm_quarantined *q, size_t n, struct pm_tcache *into) {
    struct pm_entry run[PM_STRICT_BATCH];
    size_t n_run = 0, run_cid = 0;
    for (size_t i = 0; i < n; i++) {
        check_zero_fill(q[i].cid, q[i].ptr);
        struct pm_entry e = {q[i].ptr, q[i].state};
        if (into) {
            pm_tcache_hold(into, q[i].cid, e);
            continue;
        }
        if (n_run == PM_STRICT_BATCH || (n_run && q[i].cid != run_cid)) {
            pm_cache_flush(run_cid, run, n_run);
            n_run = 0;
        }
        run_cid = q[i].cid;
        run[n_run++] = e;
    }
    if (n_run)
        pm_cache_flush(run_cid, run, n_run);
}

/* Holds `n` freed slots (state CACHED); while the ring is full in slots,
 * and within a bound while it is full in bytes, random earlier ones leave
 * it, for send_back to `into`. */
static void quarantine_put(const struct pm_quarantined *in, size_t n, struct pm_tcache *into) {
    struct pm_quarantined out[2 * PM_STRICT_BATCH];
    size_t n_out = 0;
    pm_lock(&quarantine_lock);
    struct quarantine *q = quarantine_ring();
    if (!q) { /* no memory for the ring: the slots go straight back */
        pm_unlock(&quarantine_lock);
        send_back(in, n, into);
        return;
    }
    /* A slot leaves for each one that finds the ring full in slots (at most
     * n), and up to PM_STRICT_BATCH more for the bytes: out[] holds both. */
    for (size_t i = 0; i < n; i++) {
        size_t bytes = pm_hot[in[i].cid].obj_size;
        while (q->count > 0 && (q->count == PM_QUARANTINE_SLOTS ||
                                (n_out < PM_STRICT_BATCH + i && q->bytes + bytes > PM_QUARANTINE_BYTES))) {
            size_t k = next_random(&q->rng) % q->count;
            out[n_out++] = q->slots[k];
            q->bytes -= pm_hot[q->slots[k].cid].obj_size;
            q->slots[k] = q->slots[--q->count];
        }
        q->slots[q->count++] = in[i];
        q->bytes += bytes;
    }
    pm_unlock(&quarantine_lock);
    send_back(out, n_out, into);
}

void pm_strict_batch_flush(struct pm_strict_batch *b, struct pm_tcache *into) {
    size_t n = b->count;
    b->count = 0;
    if (n)
        quarantine_put(b->slots, n, into);
}

void pm_quarantine_drain(void) {
    pm_lock(&quarantine_lock);
    struct quarantine *q = quarantine;
    size_t n = q ? q->count : 0;
    if (q)
        q->count = q->bytes = 0;
    send_back(q ? q->slots : NULL, n, NULL);
    pm_unlock(&quarantine_lock);
}

void pm_harden_lock_all(void) {
    pm_lock(&quarantine_lock);
    pm_lock(&zero_lock);
}
void pm_harden_unlock_all(void) {
    pm_unlock(&zero_lock);
    pm_unlock(&quarantine_lock);
}
void pm_harden_reinit_locks(void) {
    pthread_mutex_init(&zero_lock, NULL);
    pthread_mutex_init(&quarantine_lock, NULL);
}

/* ---- allocate and free ---- */

/* A cached slot of `cid` into `e`: from `tc`'s bin, refilled with half a
 * bin in one locked step when empty; without a thread cache, one slot from
 * the central cache. The bin's top is left just below `e`, so a slot that
 * cannot be used goes back by top++. */
static bool strict_take(size_t cid, struct pm_tcache *tc, struct pm_entry *e) {
    if (!tc)
        return pm_cache_refill(cid, e, 1) == 1;
    struct pm_bin *bin = pm_tcache_bin(tc, cid);
    if (bin->top == bin->base) {
        size_t cap = (size_t)(bin->end - bin->base);
        size_t n = pm_cache_refill_slab(cid, bin->base, cap / 2 ? cap / 2 : 1);
        if (n == 0)
            return false;
        bin->top = bin->base + n;
    }
    *e = *--bin->top;
    return true;
}

/* `align`: the alignment the caller needs (a power of two); `asked` true
 * when the caller asked for it (aligned_alloc and friends), recorded for
 * free_aligned_sized. */
static void *strict_alloc(size_t cid, size_t size, size_t align, bool asked) {
    const struct pm_harden *h = &pm_g.harden;
    if (size > PM_MAX_SMALL) /* before size + extra can wrap */
        return pm_large_alloc(size, align, false);
    if (size == 0 && h->zero_inaccessible && align <= PM_PAGE)
        return zero_alloc(align);
    size_t extra = h->canary ? PM_CANARY_BYTES : 0;
    if (cid >= pm_g.dedicated_cid) { /* by id: a kmalloc record may be being set up */
        size = pm_hot[cid].obj_size - extra; /* created with room for the canary */
    } else if (size + extra > pm_hot[cid].obj_size || pm_hot[cid].obj_size % align) {
        size_t bigger = cache_with_room(cid, size + extra, align);
        if (bigger == SIZE_MAX)
            return pm_large_alloc(size, align, false);
        cid = bigger;
    }
    struct pm_cache *c = &pm_caches[cid];
    struct pm_tcache *tc = pm_tcache_strict();
    struct pm_entry e;
    bool got = strict_take(cid, tc, &e);
    if (!got && h->quarantine) { /* the region may be full of quarantined slots */
        if (tc)
            pm_strict_batch_flush(pm_tcache_strict_batch(tc), NULL);
        pm_quarantine_drain();
        got = strict_take(cid, tc, &e);
    }
    struct pm_slot_ref ref;
    uint32_t *sizes = got && entry_ref(cid, e.ptr, e.state, &ref) ? sizes_of(ref.seg, c->obj_size) : NULL;
    if (sizes && !sizes_commit(ref.seg, sizes, c->obj_size, ref.idx))
        sizes = NULL;
    if (got && !sizes) { /* no memory for its size: the slot goes back unused */
        if (tc)
            tc->bins[cid].top++;
        else
            pm_cache_flush(cid, &e, 1);
    }
    if (!sizes) {
        errno = ENOMEM;
        return NULL;
    }
    check_zero_fill(cid, e.ptr);
    sizes[ref.idx] = (uint32_t)size | (asked ? (uint32_t)__builtin_ctzll(align) << PM_SIZE_BITS : 0);
    if (h->canary)
        canary_write(e.ptr, size);
    *e.state = PM_SLOT_LIVE;
    if (tc)
        pm_count(&tc->bins[cid].allocs);
    else
        __atomic_fetch_add(&c->uncached_allocs, 1, __ATOMIC_RELAXED);
    PM_STAT_SLOT(cid);
    return e.ptr;
}

/* From the thread-cache slow path: the class was chosen for `size` alone,
 * which needs 8-byte alignment below 16 bytes and 16-byte above. */
void *pm_strict_alloc(size_t cid, size_t size) {
    return strict_alloc(cid, size, size < 16 ? 8 : 16, false);
}

/* aligned_alloc and friends: `alignment` a power of two. */
void *pm_strict_alloc_aligned(size_t alignment, size_t size, pm_part_t part) {
    size_t cid = pm_cache_id(0, part); /* the partition's first class: its group */
    return strict_alloc(cid, size, alignment < 8 ? 8 : alignment, true);
}

/* `state` was LIVE and is CACHED now (the free fast path's checks passed). */
void pm_strict_free(size_t cid, void *ptr, uint8_t *state) {
    const struct pm_harden *h = &pm_g.harden;
    struct pm_cache *c = &pm_caches[cid];
    struct pm_slot_ref ref;
    /* A slab object: the fast path's checks passed. */
    size_t size = entry_ref(cid, ptr, state, &ref) ? pm_strict_size(&ref) : pm_hot[cid].obj_size;
    if (h->canary && !canary_intact(ptr, size))
        corrupted("heap overflow (the canary after the object was overwritten)", ptr, cid);
    if (h->zero_on_free && !c->ctor)
        memset(ptr, 0, c->obj_size);
    struct pm_tcache *tc = pm_tcache_strict();
    struct pm_entry e = {ptr, state};
    if (h->quarantine) {
        struct pm_quarantined one = {ptr, state, cid};
        if (!tc) {
            quarantine_put(&one, 1, NULL);
            return;
        }
        struct pm_strict_batch *b = pm_tcache_strict_batch(tc);
        b->slots[b->count++] = one;
        if (b->count == PM_STRICT_BATCH)
            pm_strict_batch_flush(b, tc);
    } else if (tc) {
        pm_tcache_hold(tc, cid, e);
    } else {
        pm_cache_flush(cid, &e, 1);
    }
}
