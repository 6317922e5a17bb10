/* The slab layer: (size class, partition) caches.
 *
 * Each cache owns one region of the small-object address space, so a
 * pointer's cache is its offset divided by the region size. A cache whose
 * region is full takes another (anywhere the OS puts it, aligned to its
 * size) and registers it in the table of taken regions, where frees find
 * it; a region is the cache's for good. A region is cut
 * into slabs; a slab is a run of whole objects whose length is a multiple of
 * the page size, so objects lie back to back across the region and never
 * straddle a slab. Empty slabs stay committed for a while (the decay,
 * below), then give their pages back with MADV_DONTNEED but keep their
 * addresses: no address of one cache is ever handed to another (the
 * guarantee of the kernel's SLAB_VIRTUAL proposal).
 *
 * All bookkeeping is out of line, in a separate mapping: one state byte per
 * slot (read and written by the fast paths, see fastpath.h), one bit per slot
 * for "free in the central map" and a small record per slab (both under the
 * cache's lock).
 *
 * Hardening (PARTMALLOC_HARDEN): a guard of whole pages after every group of
 * slabs (or after every slab), sized as a whole number of slots so the
 * offset-to-slot arithmetic is unchanged; its slots are never handed out
 * and its pages never made accessible. Slots leave a slab in random order.
 */
#define _GNU_SOURCE
#include <string.h>

#include "fmt.h"
#include "options.h"
#include "os.h"
#include "sizeclass.h"
#include "slab.h"
#include "slot.h"

struct pm_cache_hot pm_hot[PM_MAX_CACHES];
struct pm_cache *pm_caches;
struct pm_region pm_region;
pm_lock_t pm_registry_lock = PM_LOCK_INIT;
size_t pm_slab_max = PM_MAX_SMALL;

/* With PARTMALLOC_PURGE=now, the empty slabs kept committed per cache
 * before pages go back to the OS: one stops a slab flapping between empty
 * and in use, not a heap that a garbage collector empties and refills. */
#define PM_EMPTY_SLABS_KEPT 1
/* The region's read-write prefix grows by at least this much at a time. */
#define PM_COMMIT_STEP (1u << 20)
/* Regions caches may take past their primary ones, all caches together
 * (the address space runs out first at every region size above 4 GiB),
 * and the slots of the table that finds them (twice as many: short
 * probes). */
#define PM_MAX_TAKEN (1u << 15)
#define PM_TAKEN_SLOTS (2 * PM_MAX_TAKEN)

static size_t round_up(size_t v, size_t to) {
    return (v + to - 1) / to * to;
}

static size_t gcd(size_t a, size_t b) {
    while (b) {
        size_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static size_t lcm_page(size_t size) {
    return size / gcd(size, PM_PAGE) * PM_PAGE;
}

/* A slab is the smallest whole number of lcm(size, page) bytes that holds at
 * least 8 objects and 16 KiB, but at most a sixteenth of a region of
 * `region` bytes when one lcm fits that: a region ends in a slab's worth
 * of slots too few to carve, at most 1/16 of it (with the 1 MiB regions of
 * an address-space limit, 8 slabs of 32 KiB objects would leave a quarter).
 * Above PM_MAX_SMALL (page multiples) a slab is one object, so that a
 * guard can follow every object. */
#define PM_SLABS_PER_REGION_MIN 16u
static void geometry(size_t size, size_t region, size_t *slab_bytes, uint32_t *objs) {
    if (size > PM_MAX_SMALL) {
        *slab_bytes = size;
        *objs = 1;
        return;
    }
    size_t want = size * 8 > 16384 ? size * 8 : 16384, lcm = lcm_page(size);
    size_t most = region / PM_SLABS_PER_REGION_MIN / lcm * lcm;
    *slab_bytes = round_up(want, lcm);
    if (most && *slab_bytes > most)
        *slab_bytes = most;
    *objs = (uint32_t)(*slab_bytes / size);
}

/* Slabs between two guards: one with slab_guards, about 1 MiB of them with
 * group_guards, all (no guard) otherwise. Objects above PM_MAX_SMALL have a
 * guard after each in every preset, as the mappings of large.c have. */
#define PM_GUARD_GROUP_BYTES ((size_t)1 << 20)
static uint32_t group_slabs_for(size_t obj_size, size_t slab_bytes) {
    if (pm_g.harden.slab_guards || obj_size > PM_MAX_SMALL)
        return 1;
    if (pm_g.harden.group_guards)
        return slab_bytes >= PM_GUARD_GROUP_BYTES ? 1 : (uint32_t)(PM_GUARD_GROUP_BYTES / slab_bytes);
    return UINT32_MAX;
}

/* Metadata of one cache: the free map, then state bytes for every slot
 * position of the region (plus one, so any offset's slot has a byte), then
 * the slab records, page-aligned. The free map runs downward from the
 * state bytes (map_word), and the state bytes start PM_MAP_HEAD bytes into
 * a page: the bookkeeping of a region's first slots, their map words (for
 * the first 4096 slots) and their state bytes, is one page, made writable
 * in one call and faulted in once. */
#define PM_MAP_HEAD 512u
struct meta_layout {
    size_t map_bytes;    /* the free map, below the state bytes */
    size_t state_offset; /* where the state bytes start: at least map_bytes, PM_MAP_HEAD into a page */
    size_t state_bytes;  /* one per slot position */
    size_t slab_offset;  /* the slab records: page-aligned, after the state bytes */
    size_t slab_bytes, total;
};

static struct meta_layout meta_layout(size_t obj_size, size_t region) {
    size_t slab;
    uint32_t objs;
    geometry(obj_size, region, &slab, &objs);
    size_t slots = region / obj_size + 1;
    struct meta_layout m;
    m.map_bytes = (slots + 63) / 64 * 8;
    m.state_offset = m.map_bytes <= PM_MAP_HEAD ? PM_MAP_HEAD : round_up(m.map_bytes - PM_MAP_HEAD, PM_PAGE) + PM_MAP_HEAD;
    m.state_bytes = slots;
    m.slab_offset = round_up(m.state_offset + m.state_bytes, PM_PAGE);
    m.slab_bytes = round_up((region / slab + 1) * sizeof(struct pm_slab), PM_PAGE);
    m.total = m.slab_offset + m.slab_bytes;
    return m;
}

/* Word `w` of a segment's free map: the words lie below the state bytes,
 * word 0 nearest them. */
static inline uint64_t *map_word(const struct pm_segment *seg, uint64_t w) {
    return seg->free_map - w;
}

static size_t meta_bytes_per_group(size_t region) {
    size_t total = 0;
    for (unsigned c = 0; c < PM_NUM_CLASSES; c++)
        total += meta_layout(pm_class_size[c], region).total;
    return total;
}

/* At most 8 TiB of address space for the regions (the bucket-set and
 * dedicated-cache groups would otherwise make it 52 TiB with one partition). */
#define PM_MAX_RESERVE ((size_t)1 << 43)

/* Under an address-space limit the primary regions take at most this
 * part of it, so that one cache can take regions up to most of the rest. */
#define PM_PRIMARY_SHARE 8

/* The largest region shift from `shift` down whose primary regions (all
 * `num_caches` of them) and kmalloc metadata fit in `budget` bytes; below
 * PM_REGION_SHIFT_MIN if none does. */
static unsigned shift_within(unsigned shift, size_t num_caches, unsigned partitions, size_t budget) {
    while (shift >= PM_REGION_SHIFT_MIN &&
           ((size_t)1 << shift) * num_caches + meta_bytes_per_group((size_t)1 << shift) * partitions > budget)
        shift--;
    return shift;
}

/* Reserve the data regions of every cache id (aligned to 1 MiB, so that
 * classes that are multiples of an alignment up to 1 MiB give aligned
 * objects) and the kmalloc caches' metadata. Start at 64 GiB of address
 * space per size class, shared by its partitions (at most 1/8 of an
 * address-space limit for them all); halve until the OS agrees. */
static bool reserve(size_t num_caches, unsigned partitions, char **data, char **meta) {
    const size_t align = 1u << 20;
    unsigned shift = pm_g.region_shift_max;
    while ((1u << (PM_REGION_SHIFT_MAX - shift)) < partitions || ((size_t)1 << shift) * num_caches > PM_MAX_RESERVE)
        shift--;
    size_t limit = pm_os_space_limit();
    if (limit != SIZE_MAX)
        shift = shift_within(shift, num_caches, partitions, limit / PM_PRIMARY_SHARE);
    for (; shift >= PM_REGION_SHIFT_MIN; shift--) {
        size_t region = (size_t)1 << shift;
        size_t data_bytes = region * num_caches;
        char *d = pm_os_reserve(data_bytes + align, PM_USE_SLABS);
        if (!d)
            continue;
        char *m = pm_os_meta_reserve(meta_bytes_per_group(region) * partitions, PM_USE_METADATA);
        if (!m) {
            pm_os_release(d, data_bytes + align);
            continue;
        }
        char *aligned = (char *)round_up((uintptr_t)d, align);
        if (aligned > d)
            pm_os_release(d, (size_t)(aligned - d));
        if (aligned + data_bytes < d + data_bytes + align)
            pm_os_release(aligned + data_bytes, (size_t)(d + data_bytes + align - (aligned + data_bytes)));
        *data = aligned;
        *meta = m;
        pm_region.shift = shift;
        pm_region.mask = region - 1;
        return true;
    }
    return false;
}

/* No room for the primary regions (an address-space limit): regions of
 * the smallest size, every cache taking its first one when it first needs
 * slabs, like the ones after it. Nothing is reserved yet: no free reads
 * the state bytes of a cache without regions, so each kmalloc cache's
 * metadata is reserved at its first refill (kmalloc_cache_meta), and a
 * program is charged for the caches it uses, not for all N x 61 of them
 * (68 MiB of address space at N = 64). */
static void reserve_without_primaries(void) {
    pm_region.shift = PM_REGION_SHIFT_MIN;
    pm_region.mask = ((size_t)1 << PM_REGION_SHIFT_MIN) - 1;
}

static size_t append_str(char *out, size_t at, const char *s) {
    while (*s && at < 31)
        out[at++] = *s++;
    return at;
}

bool pm_cid_is_kmalloc(size_t cid) {
    return PM_CID_GROUP(cid) < pm_g.partitions && PM_CID_CLASS(cid) < PM_NUM_CLASSES;
}

/* A kmalloc cache has its name before its record is set up. */
void pm_cache_name(size_t cid, char out[32]) {
    const struct pm_cache *c = cid < pm_g.num_caches ? &pm_caches[cid] : NULL;
    size_t at = 0;
    if (c && pm_cid_is_kmalloc(cid)) {
        unsigned partition = PM_CID_GROUP(cid);
        at = append_str(out, 0, partition == 0 ? "kmalloc-" : "kmalloc-part-");
        if (partition != 0) {
            out[at++] = (char)('0' + partition / 10);
            out[at++] = (char)('0' + partition % 10);
            out[at++] = '-';
        }
        at += pm_fmt_u64(out + at, pm_class_size[PM_CID_CLASS(cid)]);
    } else if (!c || !PM_CID_VALID(cid)) {
        at = append_str(out, 0, "none");
    } else if (c->kind == PM_KIND_DEDICATED) {
        at = append_str(out, 0, c->name);
    } else { /* a bucket set's cache */
        at = append_str(out, 0, c->name);
        at = append_str(out, at, "-");
        at += pm_fmt_u64(out + at, c->obj_size);
    }
    out[at] = '\0';
}

/* Segment number `index` of a cache of `obj_size` objects: its region at
 * `base`, its bookkeeping at `meta` (laid out by meta_layout). */
static void segment_setup(struct pm_segment *seg, size_t obj_size, char *base, char *meta, uint32_t index) {
    struct meta_layout ml = meta_layout(obj_size, pm_region.mask + 1);
    seg->base = base;
    seg->state = (uint8_t *)(meta + ml.state_offset);
    seg->free_map = (uint64_t *)(meta + ml.state_offset) - 1;
    seg->slabs = (struct pm_slab *)(meta + ml.slab_offset);
    seg->req_size = NULL;
    seg->req_committed = 0;
    seg->used_slabs = 0;
    seg->committed = 0;
    for (int part = 0; part < 3; part++)
        seg->meta_committed[part] = 0;
    seg->index = index;
}

/* Slabs that fit a region of `region_slots` slots: whole groups, each
 * ending in its guard, then as many slabs as leave a guard's worth of
 * never-committed slots before the region's end, so that the last slab of
 * a region is never next to the first of the region after it. */
static size_t slabs_per_region(const struct pm_cache *c, uint64_t region_slots) {
    uint64_t whole_groups = region_slots / c->group_slots, rest = region_slots % c->group_slots;
    uint64_t tail = rest > c->guard_slots ? (rest - c->guard_slots) / c->objs_per_slab : 0;
    return whole_groups * c->group_slabs + tail;
}

/* The fields the fast paths read of cache `cid` (its objects of
 * `obj_size`, its state bytes at `state`); state last, with release. */
static void cache_publish_hot(size_t cid, uint32_t obj_size, uint8_t *state) {
    pm_hot[cid].magic = UINT64_MAX / obj_size + 1;
    pm_hot[cid].obj_size = obj_size;
    __atomic_store_n(&pm_hot[cid].state, state, __ATOMIC_RELEASE);
}

/* The rest of cache `cid`: what the slow paths read, under its lock. A
 * kmalloc cache gets it at its first refill (kmalloc_cache_ready), so a
 * program touches the records of the caches it uses only. `ready` last,
 * with release. */
static void cache_setup_cold(size_t cid, uint32_t obj_size, unsigned size_class, enum pm_cache_kind kind,
                             char *meta) {
    size_t region = pm_region.mask + 1;
    struct pm_cache *c = &pm_caches[cid];
    pthread_mutex_init(&c->lock, NULL);
    c->id = (unsigned)cid;
    c->kind = (uint8_t)kind;
    c->size_class = size_class;
    c->partition = PM_CID_GROUP(cid);
    c->obj_size = obj_size;
    geometry(obj_size, region, &c->slab_bytes, &c->objs_per_slab);
    c->group_slabs = group_slabs_for(obj_size, c->slab_bytes);
    c->guard_slots = c->group_slabs == UINT32_MAX ? 0 : (uint32_t)(lcm_page(obj_size) / obj_size);
    c->group_slots = (uint64_t)c->group_slabs * c->objs_per_slab + c->guard_slots;
    c->max_slabs = slabs_per_region(c, region / obj_size);
    c->rng = (pm_g.order_key ^ (cid * 0x9e3779b97f4a7c15ull)) | 1;
    segment_setup(&c->first, obj_size, pm_region.base ? pm_region.base + cid * region : NULL, meta, 0);
    c->segments = 1;
    uint64_t most = (UINT32_MAX - 1) / c->max_slabs;
    c->max_segments = (uint32_t)(most < PM_MAX_TAKEN ? most : PM_MAX_TAKEN);
    for (int l = 0; l < 3; l++)
        c->heads[l] = c->tails[l] = PM_NO_SLAB;
    __atomic_store_n(&c->ready, true, __ATOMIC_RELEASE);
}

/* Makes cache `cid` usable for objects of `obj_size` with metadata at `meta`
 * (laid out by meta_layout). The hot fields are written last. */
static void cache_setup(size_t cid, uint32_t obj_size, unsigned size_class, enum pm_cache_kind kind, char *meta) {
    cache_setup_cold(cid, obj_size, size_class, kind, meta);
    cache_publish_hot(cid, obj_size, pm_caches[cid].first.state);
}

/* The cache table is reserved read-only (an unused record reads as not
 * ready); the pages of a record are made writable when its cache is set
 * up, and marked in table_pages (bit p: page p of the table). A walk over
 * the caches (pm_cache_next) skips the ids whose `ready` lies on a page
 * never made writable: reading it would fault in a zero page for each of
 * them, some 150 pages at 16 partitions, at every fork and every sweep.
 * Bits are only ever set (atomic or), after the commit and before the
 * record's `ready`. False if the OS refuses. */
#define PM_TABLE_PAGES ((PM_MAX_CACHES * sizeof(struct pm_cache) + PM_PAGE - 1) / PM_PAGE)
static uint64_t table_pages[(PM_TABLE_PAGES + 63) / 64];

static bool cache_record_commit(size_t cid) {
    if (!pm_os_commit_covering(&pm_caches[cid], sizeof pm_caches[cid]))
        return false;
    size_t first = cid * sizeof(struct pm_cache) / PM_PAGE, last = ((cid + 1) * sizeof(struct pm_cache) - 1) / PM_PAGE;
    for (size_t p = first; p <= last; p++)
        __atomic_fetch_or(&table_pages[p / 64], 1ull << (p % 64), __ATOMIC_RELEASE);
    return true;
}

/* The page of the cache table holding cache `cid`'s `ready`. */
static size_t ready_page(size_t cid) {
    return (cid * sizeof(struct pm_cache) + offsetof(struct pm_cache, ready)) / PM_PAGE;
}

size_t pm_cache_next(size_t cid) {
    size_t n = pm_g.num_caches;
    while (cid < n) {
        size_t p = ready_page(cid);
        uint64_t word = __atomic_load_n(&table_pages[p / 64], __ATOMIC_ACQUIRE) >> (p % 64);
        if (word & 1)
            return cid;
        /* The next marked page of this word, or the first of the next word. */
        size_t next = word ? p + (size_t)__builtin_ctzll(word) : (p / 64 + 1) * 64;
        /* The first id whose `ready` is on page `next` or after. */
        size_t at = next * PM_PAGE;
        size_t skip = at <= offsetof(struct pm_cache, ready)
                          ? 0
                          : (at - offsetof(struct pm_cache, ready) + sizeof(struct pm_cache) - 1) / sizeof(struct pm_cache);
        cid = skip > cid ? skip : cid + 1;
    }
    return n;
}

/* Where the kmalloc caches' metadata lies: the state bytes of partition
 * p's class c at kmalloc_meta + p * kmalloc_meta_stride +
 * kmalloc_meta_offset[c], its free map just below them (meta_layout); NULL
 * without primary regions, where each is reserved when first needed. */
static char *kmalloc_meta;
static size_t kmalloc_meta_stride, kmalloc_meta_offset[PM_NUM_CLASSES];
/* Taken alone: nothing else is locked while it is held. */
static pm_lock_t kmalloc_setup_lock = PM_LOCK_INIT;

/* The metadata of kmalloc cache `cid`: its part of what was reserved at
 * start, or reserved now; NULL if the OS refuses. */
static char *kmalloc_cache_meta(size_t cid) {
    unsigned cls = PM_CID_CLASS(cid);
    struct meta_layout ml = meta_layout(pm_class_size[cls], pm_region.mask + 1);
    if (kmalloc_meta)
        return kmalloc_meta + PM_CID_GROUP(cid) * kmalloc_meta_stride + kmalloc_meta_offset[cls] - ml.state_offset;
    return pm_os_meta_reserve(ml.total, PM_USE_METADATA);
}

/* Cache `cid` has its record: set up now if it is a kmalloc cache seen
 * for the first time. False for an id with no cache, or when the OS
 * refuses the record's page. */
static bool kmalloc_cache_ready(size_t cid) {
    struct pm_cache *c = &pm_caches[cid];
    if (__atomic_load_n(&c->ready, __ATOMIC_ACQUIRE))
        return true;
    if (!pm_cid_is_kmalloc(cid))
        return false;
    pm_lock(&kmalloc_setup_lock);
    bool ready = c->ready;
    char *meta = ready || !cache_record_commit(cid) ? NULL : kmalloc_cache_meta(cid);
    if (meta) {
        unsigned cls = PM_CID_CLASS(cid);
        if (kmalloc_meta) /* its hot fields were published at start */
            cache_setup_cold(cid, pm_class_size[cls], cls, PM_KIND_KMALLOC, meta);
        else /* they hold the placeholder state bytes until now */
            cache_setup(cid, pm_class_size[cls], cls, PM_KIND_KMALLOC, meta);
        ready = true;
    }
    pm_unlock(&kmalloc_setup_lock);
    return ready;
}

/* A class above PM_MAX_SMALL is served where a region holds at least this
 * many of its slots (half of them guards): a cache whose region holds only
 * a few objects would take a region every few allocations, and the table
 * of taken regions has PM_MAX_TAKEN for all caches. */
#define PM_LARGE_SLOTS_PER_REGION 32u

/* The largest request the caches serve with regions of `region` bytes:
 * PM_MAX_SMALL with the strict defences (their sizes, canaries and
 * quarantine are kept for the small classes; larger blocks stay mappings
 * of their own, whose quarantine makes a freed block fault). */
static size_t largest_served(size_t region) {
    if (pm_g.slow_only || pm_g.harden.large_quarantine)
        return PM_MAX_SMALL;
    unsigned cls = PM_NUM_SMALL_CLASSES - 1;
    while (cls + 1 < PM_NUM_CLASSES && (size_t)pm_class_size[cls + 1] * PM_LARGE_SLOTS_PER_REGION <= region)
        cls++;
    return pm_class_size[cls];
}

void pm_caches_init(void) {
    size_t n = pm_g.num_caches;
    char *data = NULL, *meta = NULL;
    bool primaries = reserve(n, pm_g.partitions, &data, &meta);
    if (!primaries)
        reserve_without_primaries();
    pm_caches = pm_os_meta_reserve(round_up(sizeof(struct pm_cache) * n, PM_PAGE), PM_USE_METADATA);
    if (!pm_caches)
        pm_fatal("cannot allocate the cache table");
    pm_region.base = data;
    size_t region = pm_region.mask + 1;
    pm_slab_max = largest_served(region);
    /* The kmalloc caches' hot fields now (without primary regions, the
     * placeholder state bytes: no free reads them), their records when
     * first used; one division per class, not per cache. Ids with no
     * cache (yet): one never-allocated slot at the region's start, every
     * other offset an interior pointer. */
    static uint8_t no_slots[1];
    uint64_t magic[PM_NUM_CLASSES];
    size_t offset = 0;
    for (unsigned cls = 0; cls < PM_NUM_CLASSES; cls++) {
        struct meta_layout ml = meta_layout(pm_class_size[cls], region);
        kmalloc_meta_offset[cls] = offset + ml.state_offset; /* its state bytes */
        offset += ml.total;
        magic[cls] = UINT64_MAX / pm_class_size[cls] + 1;
    }
    kmalloc_meta = meta;
    kmalloc_meta_stride = offset;
    for (size_t cid = 0; cid < n; cid++) {
        pm_hot[cid].magic = 1;
        pm_hot[cid].obj_size = region;
        pm_hot[cid].state = no_slots;
    }
    for (unsigned part = 0; part < pm_g.partitions; part++) {
        struct pm_cache_hot *hot = &pm_hot[PM_CID(0, part)];
        uint8_t *state = meta ? (uint8_t *)meta + part * kmalloc_meta_stride : NULL;
        for (unsigned cls = 0; cls < PM_NUM_CLASSES; cls++) {
            hot[cls].magic = magic[cls];
            hot[cls].obj_size = pm_class_size[cls];
            hot[cls].state = state ? state + kmalloc_meta_offset[cls] : no_slots;
        }
    }
    pm_region.total = primaries ? region * n : 0; /* last: frees look at the region only now */
}

bool pm_cache_create_buckets(unsigned set, const char *name) {
    size_t region = pm_region.mask + 1;
    char *meta = pm_os_meta_reserve(meta_bytes_per_group(region), PM_USE_METADATA);
    if (!meta)
        return false;
    unsigned group = pm_g.bucket_group + set;
    for (unsigned cls = 0; cls < PM_NUM_CLASSES; cls++)
        if (!cache_record_commit(PM_CID(cls, group))) {
            pm_os_meta_free(meta, meta_bytes_per_group(region));
            return false;
        }
    for (unsigned cls = 0; cls < PM_NUM_CLASSES; cls++) {
        size_t cid = PM_CID(cls, group);
        strncpy(pm_caches[cid].name, name, sizeof pm_caches[cid].name - 8);
        cache_setup(cid, pm_class_size[cls], cls, PM_KIND_BUCKET, meta);
        meta += meta_layout(pm_class_size[cls], region).total;
    }
    return true;
}

bool pm_cache_create_dedicated(size_t cid, const char *name, size_t obj_size, void (*ctor)(void *)) {
    char *meta = pm_os_meta_reserve(meta_layout(obj_size, pm_region.mask + 1).total, PM_USE_METADATA);
    if (!meta)
        return false;
    if (!cache_record_commit(cid)) {
        pm_os_meta_free(meta, meta_layout(obj_size, pm_region.mask + 1).total);
        return false;
    }
    struct pm_cache *c = &pm_caches[cid];
    strncpy(c->name, name, sizeof c->name - 1);
    c->ctor = ctor;
    cache_setup(cid, (uint32_t)obj_size, PM_NUM_CLASSES, PM_KIND_DEDICATED, meta);
    return true;
}

/* ---- regions taken past the primary one ----
 *
 * The table of taken regions maps a region's address (shifted by the
 * region size) to its cache and segment, by open addressing. Entries are
 * written once, under taken_lock, and never removed: a region stays its
 * cache's, so a reader needs no lock. The key is written last (release). */
struct taken_region {
    uintptr_t key;             /* (address >> region shift) + 1; 0: free */
    struct pm_segment *seg;
    size_t cid;
};
static struct taken_region *taken;  /* PM_TAKEN_SLOTS entries, mapped on first use */
static unsigned taken_count;
static pm_lock_t taken_lock = PM_LOCK_INIT;

static size_t taken_slot(uintptr_t key) {
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (PM_TAKEN_SLOTS - 1);
}

static const struct taken_region *taken_lookup(const void *ptr) {
    const struct taken_region *t = __atomic_load_n(&taken, __ATOMIC_ACQUIRE);
    if (!t)
        return NULL;
    uintptr_t key = ((uintptr_t)ptr >> pm_region.shift) + 1;
    for (size_t i = taken_slot(key);; i = (i + 1) & (PM_TAKEN_SLOTS - 1)) {
        uintptr_t k = __atomic_load_n(&t[i].key, __ATOMIC_ACQUIRE);
        if (k == key)
            return &t[i];
        if (k == 0)
            return NULL;
    }
}

/* Registers `seg` of cache `cid`; false if the table is full or cannot be
 * mapped. */
static bool taken_insert(struct pm_segment *seg, size_t cid) {
    bool ok = false;
    pm_lock(&taken_lock);
    if (!taken) {
        struct taken_region *t = pm_os_meta_alloc(round_up(PM_TAKEN_SLOTS * sizeof *t, PM_PAGE), PM_USE_METADATA);
        __atomic_store_n(&taken, t, __ATOMIC_RELEASE);
    }
    if (taken && taken_count < PM_MAX_TAKEN) {
        uintptr_t key = ((uintptr_t)seg->base >> pm_region.shift) + 1;
        size_t i = taken_slot(key);
        while (taken[i].key != 0)
            i = (i + 1) & (PM_TAKEN_SLOTS - 1);
        taken[i].seg = seg;
        taken[i].cid = cid;
        __atomic_store_n(&taken[i].key, key, __ATOMIC_RELEASE);
        taken_count++;
        ok = true;
    }
    pm_unlock(&taken_lock);
    return ok;
}

/* Address space for one region, aligned to its size: NULL if the OS has
 * none left. */
static char *reserve_region(size_t region) {
    char *d = pm_os_reserve(2 * region, PM_USE_SLABS);
    if (!d)
        return NULL;
    char *aligned = (char *)round_up((uintptr_t)d, region);
    if (aligned > d)
        pm_os_release(d, (size_t)(aligned - d));
    if (aligned + region < d + 2 * region)
        pm_os_release(aligned + region, (size_t)(d + 2 * region - (aligned + region)));
    return aligned;
}

/* The cache's regions are full: one more, with its bookkeeping (the
 * segment record at the head of it). NULL, with nothing kept, if the cache
 * has all the segments its slab numbers allow or the OS refuses. Under the
 * cache lock. */
static struct pm_segment *take_region(struct pm_cache *c) {
    if (c->segments >= c->max_segments)
        return NULL;
    if (!c->more) {
        c->more = pm_os_meta_alloc(round_up((size_t)c->max_segments * sizeof *c->more, PM_PAGE), PM_USE_METADATA);
        if (!c->more)
            return NULL;
    }
    size_t region = pm_region.mask + 1, head = round_up(sizeof(struct pm_segment), PM_PAGE);
    size_t meta_bytes = head + meta_layout(c->obj_size, region).total;
    char *base = reserve_region(region);
    char *meta = base ? pm_os_meta_reserve(meta_bytes, PM_USE_METADATA) : NULL;
    if (!meta || !pm_os_commit(meta, head)) { /* the segment record: the rest is committed as used */
        if (meta)
            pm_os_meta_free(meta, meta_bytes);
        if (base)
            pm_os_release(base, region);
        return NULL;
    }
    struct pm_segment *seg = (struct pm_segment *)meta;
    segment_setup(seg, c->obj_size, base, meta + head, c->segments);
    if (!taken_insert(seg, c->id)) {
        pm_os_meta_free(meta, meta_bytes);
        pm_os_release(base, region);
        return NULL;
    }
    c->more[c->segments - 1] = seg;
    __atomic_store_n(&c->segments, c->segments + 1, __ATOMIC_RELEASE);
    return seg;
}

/* The cache has no primary region (reserve_without_primaries): its first
 * segment, whose bookkeeping is in place, gets a region now. False, with
 * nothing kept, if the OS refuses. Under the cache lock. */
static bool take_first_region(struct pm_cache *c) {
    size_t region = pm_region.mask + 1;
    char *base = reserve_region(region);
    if (!base)
        return false;
    c->first.base = base;
    if (!taken_insert(&c->first, c->id)) {
        c->first.base = NULL;
        pm_os_release(base, region);
        return false;
    }
    return true;
}

/* The segment of the cache that holds `ptr` (one of its objects). */
static struct pm_segment *segment_of(struct pm_cache *c, const void *ptr) {
    if ((uintptr_t)((const char *)ptr - c->first.base) <= pm_region.mask)
        return &c->first;
    return taken_lookup(ptr)->seg;
}

/* `soff`: the pointer's offset in its region. */
static void fill_ref(uint64_t soff, size_t cid, struct pm_segment *seg, uint8_t *state0, struct pm_slot_ref *ref) {
    struct pm_slot_div slot = pm_slot_div(soff, pm_hot[cid].magic);
    ref->cid = cid;
    ref->seg = seg;
    ref->idx = slot.slot;
    ref->state = state0 + slot.slot;
    ref->is_start = slot.is_start;
}

bool pm_slot_find_taken(const void *ptr, struct pm_slot_ref *ref) {
    const struct taken_region *t = taken_lookup(ptr);
    if (!t)
        return false;
    fill_ref((uint64_t)((const char *)ptr - t->seg->base), t->cid, t->seg, t->seg->state, ref);
    return true;
}

bool pm_slot_find(const void *ptr, struct pm_slot_ref *ref) {
    uintptr_t off = (uintptr_t)ptr - (uintptr_t)pm_region.base;
    if (off >= pm_region.total)
        return pm_slot_find_taken(ptr, ref);
    size_t cid = off >> pm_region.shift;
    /* A cache id with no cache has the placeholder state of pm_caches_init. */
    fill_ref(off & pm_region.mask, cid, PM_CID_VALID(cid) ? &pm_caches[cid].first : NULL, pm_hot[cid].state, ref);
    return true;
}

/* ---- slab lists (under the cache lock) ---- */

static void list_push_head(struct pm_cache *c, uint32_t s, unsigned l) {
    struct pm_slab *sl = pm_slab_record(c, s);
    sl->list = (uint8_t)l;
    sl->prev = PM_NO_SLAB;
    sl->next = c->heads[l];
    if (c->heads[l] != PM_NO_SLAB)
        pm_slab_record(c, c->heads[l])->prev = s;
    else
        c->tails[l] = s;
    c->heads[l] = s;
    c->counts[l]++;
}

static void list_remove(struct pm_cache *c, uint32_t s) {
    struct pm_slab *sl = pm_slab_record(c, s);
    unsigned l = sl->list;
    if (sl->prev != PM_NO_SLAB)
        pm_slab_record(c, sl->prev)->next = sl->next;
    else
        c->heads[l] = sl->next;
    if (sl->next != PM_NO_SLAB)
        pm_slab_record(c, sl->next)->prev = sl->prev;
    else
        c->tails[l] = sl->prev;
    sl->list = PM_LIST_NONE;
    c->counts[l]--;
}

/* ---- the free map (under the cache lock) ---- */

static void map_set_range(struct pm_segment *seg, uint64_t first, uint64_t count) {
    for (uint64_t i = first; i < first + count;) {
        uint64_t bit = i & 63, n = 64 - bit;
        if (n > first + count - i)
            n = first + count - i;
        *map_word(seg, i >> 6) |= (n == 64 ? ~0ull : ((1ull << n) - 1) << bit);
        i += n;
    }
}

/* Guards are made inaccessible only once the slab before them is carved
 * out, so their number follows the slabs in use. A guard is a guard mark
 * where the kernel has them (no mapping of its own, and it stays through
 * the commits and decommits around it); otherwise a PROT_NONE range, which
 * splits a mapping (two more entries against vm.max_map_count): past
 * PM_GUARD_BUDGET of those a guard stays accessible (still never handed
 * out), leaving the rest of the process its mappings. */
#define PM_GUARD_BUDGET 16384u
static unsigned guards_protected;

static char *guard_addr(const struct pm_cache *c, const struct pm_segment *seg, size_t group) {
    return seg->base + (group + 1) * c->group_slots * c->obj_size - (size_t)c->guard_slots * c->obj_size;
}

static void protect_guard(struct pm_cache *c, struct pm_segment *seg, size_t group) {
    size_t guard_bytes = (size_t)c->guard_slots * c->obj_size;
    if (pm_os_guard_mark(guard_addr(c, seg, group), guard_bytes))
        return;
    if (__atomic_fetch_add(&guards_protected, 1, __ATOMIC_RELAXED) >= PM_GUARD_BUDGET)
        return;
    pm_os_protect_none(guard_addr(c, seg, group), guard_bytes);
}

static bool has_guard_after(const struct pm_cache *c, uint64_t s) {
    return c->guard_slots && s % c->group_slabs == c->group_slabs - 1;
}

/* After [from, to) of a region was made accessible: the guards in it that
 * follow slabs up to `last` (carved, or being carved) go back to no access,
 * the part of one straddling `from` included (guard marks stayed; marking
 * one again changes nothing). */
static void reprotect_guards(struct pm_cache *c, struct pm_segment *seg, size_t from, size_t to, uint64_t last) {
    if (c->guard_slots == 0)
        return;
    size_t group_bytes = c->group_slots * c->obj_size, guard_bytes = (size_t)c->guard_slots * c->obj_size;
    for (size_t g = from / group_bytes; (g + 1) * group_bytes - guard_bytes < to; g++) {
        if ((g + 1) * c->group_slabs - 1 > last)
            break;
        if (!pm_os_guard_mark(guard_addr(c, seg, g), guard_bytes))
            pm_os_protect_none(guard_addr(c, seg, g), guard_bytes);
    }
}

/* Makes slab `s` (its number in the region) of `seg` read-write, with the
 * region's read-write prefix doubling up to PM_COMMIT_STEP, then growing
 * that much at a time: a cache with a few slabs is charged for those
 * (vm.overcommit_memory = 2 charges every writable byte), a busy one
 * makes one call per PM_COMMIT_STEP. */
static bool slab_commit(struct pm_cache *c, struct pm_segment *seg, uint32_t s) {
    size_t need = pm_slab_first_slot(c, s) * c->obj_size + c->slab_bytes;
    if (need <= seg->committed)
        return true;
    size_t limit = pm_slab_first_slot(c, c->max_slabs - 1) * c->obj_size + c->slab_bytes;
    size_t step = seg->committed < PM_COMMIT_STEP ? seg->committed : PM_COMMIT_STEP;
    size_t grow = round_up(need > seg->committed + step ? need : seg->committed + step, PM_PAGE);
    if (grow > limit)
        grow = limit;
    if (!pm_os_commit(seg->base + seg->committed, grow - seg->committed))
        return false;
    reprotect_guards(c, seg, seg->committed, grow, s ? s - 1 : 0);
    seg->committed = grow;
    return true;
}

/* What a metadata part of `size` bytes, `committed` of them read-write,
 * is to have read-write for its first `need` bytes: at least double, so
 * that a part is committed in a few calls and at most twice what its
 * slabs use. */
static size_t meta_part_grow(size_t committed, size_t need, size_t size) {
    if (need <= committed)
        return committed;
    size_t grow = need > 2 * committed ? need : 2 * committed;
    return grow > size ? size : grow;
}

/* The bookkeeping of slabs up to `s` (its number in the region) of `seg`
 * is writable: the state bytes and free-map words of their slots (one
 * range: the map runs downward from the state bytes) and their records.
 * Done before a slot of slab `s` can be handed out, so the fast paths
 * never write a byte still read-only. */
static bool slab_meta_commit(struct pm_cache *c, struct pm_segment *seg, uint32_t s) {
    struct meta_layout ml = meta_layout(c->obj_size, pm_region.mask + 1);
    uint64_t slots = pm_slab_first_slot(c, s) + c->objs_per_slab;
    size_t *done = seg->meta_committed;
    size_t state = meta_part_grow(done[0], slots, ml.state_bytes);
    size_t map = meta_part_grow(done[1], (slots + 63) / 64 * 8, ml.map_bytes);
    if (state > done[0] || map > done[1]) {
        /* Whole pages: what they cover past the need counts as done. */
        char *from = (char *)((uintptr_t)((char *)seg->state - map) & ~(uintptr_t)(PM_PAGE - 1));
        char *to = (char *)round_up((uintptr_t)seg->state + state, PM_PAGE);
        if (!pm_os_commit(from, (size_t)(to - from)))
            return false;
        done[0] = (size_t)(to - (char *)seg->state);
        done[1] = (size_t)((char *)seg->state - from);
    }
    size_t slabs = round_up(meta_part_grow(done[2], (s + 1) * sizeof(struct pm_slab), ml.slab_bytes), PM_PAGE);
    if (slabs > done[2]) {
        if (!pm_os_commit(seg->slabs, slabs))
            return false;
        done[2] = slabs;
    }
    return true;
}

/* A dedicated cache's constructor runs on every object of a slab whose
 * memory is fresh: the objects are handed out, and come back, constructed. */
static void construct_slab(struct pm_cache *c, uint32_t s) {
    if (!c->ctor)
        return;
    char *obj = pm_slab_addr(c, s);
    for (uint32_t i = 0; i < c->objs_per_slab; i++, obj += c->obj_size)
        c->ctor(obj);
}

/* ---- kept empty slabs: the decay (PARTMALLOC_PURGE; under the cache lock) ----
 *
 * A slab that empties stays committed at the head of its cache's empty
 * list, where the next refill takes it (the most recently used pages
 * first), and goes back to the OS from the tail: once pm_g.purge_decay
 * cache operations have passed since it emptied, or at once when the
 * empty slabs of all caches together exceed the budget. The clock counts
 * the refills and flushes of every cache, so a cache that falls quiet
 * still sees its slabs age: every PM_PURGE_SWEEP ticks the thread that
 * ticks visits the other caches holding kept slabs (a trylock: a cache
 * busy elsewhere decays on its own operations). A program gone quiet
 * altogether keeps its kept slabs, at most the budget; malloc_trim and
 * pm_collect return them. */
static uint32_t purge_clock;   /* atomic: refills and flushes, all caches; wraps */
static size_t kept_all_bytes;  /* atomic: the caches' kept_bytes summed */
#define PM_PURGE_SWEEP 1024u   /* a power of two */
#define PM_KEPT_SHARE 8        /* the budget: an eighth of the peak bytes out... */
#define PM_KEPT_MIN ((size_t)4 << 20)  /* ...but at least 4 MiB */
#define PM_KEPT_MAX ((size_t)64 << 20) /* and at most 64 MiB */

size_t pm_slab_kept_bytes(void) {
    return __atomic_load_n(&kept_all_bytes, __ATOMIC_RELAXED);
}

size_t pm_slab_kept_budget(void) {
    size_t budget = pm_small_bytes_peak() / PM_KEPT_SHARE;
    return budget < PM_KEPT_MIN ? PM_KEPT_MIN : budget > PM_KEPT_MAX ? PM_KEPT_MAX : budget;
}

/* One cache operation: the clock's new reading. One relaxed atomic add
 * per refill or flush (a batch of objects), none per malloc or free. */
static uint32_t purge_tick(void) {
    return __atomic_add_fetch(&purge_clock, 1, __ATOMIC_RELAXED);
}

static void kept_change(struct pm_cache *c, size_t bytes, bool add) {
    /* Only the lock holder writes c->kept_bytes; the sweep reads it. */
    __atomic_store_n(&c->kept_bytes, add ? c->kept_bytes + bytes : c->kept_bytes - bytes, __ATOMIC_RELAXED);
    if (add)
        __atomic_add_fetch(&kept_all_bytes, bytes, __ATOMIC_RELAXED);
    else
        __atomic_sub_fetch(&kept_all_bytes, bytes, __ATOMIC_RELAXED);
}

static void empty_push(struct pm_cache *c, uint32_t s, uint32_t now) {
    list_push_head(c, s, PM_LIST_EMPTY);
    pm_slab_record(c, s)->empty_at = now;
    kept_change(c, c->slab_bytes, true);
}

/* Slab `s` off the empty list (to be reused or decommitted). */
static void empty_take(struct pm_cache *c, uint32_t s) {
    list_remove(c, s);
    kept_change(c, c->slab_bytes, false);
}

static void slab_decommit_oldest_empty(struct pm_cache *c) {
    uint32_t s = c->tails[PM_LIST_EMPTY];
    empty_take(c, s);
    pm_os_decommit(pm_slab_addr(c, s), c->slab_bytes);
    list_push_head(c, s, PM_LIST_DECOMMITTED);
    c->decommits++;
}

/* The empty slabs kept for the decay or longer go back (none with
 * PARTMALLOC_PURGE=now, whose one kept slab stays). Costs a compare or two
 * when the oldest is younger (every refill and flush). */
static void cache_decay(struct pm_cache *c, uint32_t now) {
    while (pm_g.purge_decay && c->counts[PM_LIST_EMPTY] &&
           now - pm_slab_record(c, c->tails[PM_LIST_EMPTY])->empty_at >= pm_g.purge_decay)
        slab_decommit_oldest_empty(c);
}

/* Slab `s` of cache `c` has just emptied: kept, within the policy. */
static void slab_emptied(struct pm_cache *c, uint32_t s, uint32_t now) {
    empty_push(c, s, now);
    if (!pm_g.purge_decay) {
        if (c->counts[PM_LIST_EMPTY] > PM_EMPTY_SLABS_KEPT)
            slab_decommit_oldest_empty(c);
        return;
    }
    /* Over the budget: this cache's oldest go, which brings the total back
     * under it (it was under before this slab came). */
    size_t budget = pm_slab_kept_budget();
    while (c->counts[PM_LIST_EMPTY] && pm_slab_kept_bytes() > budget)
        slab_decommit_oldest_empty(c);
}

/* After an operation of cache `self` (its lock released): every
 * PM_PURGE_SWEEP ticks, the other caches' kept slabs age too. */
static void purge_sweep(size_t self, uint32_t now) {
    if (!pm_g.purge_decay || (now & (PM_PURGE_SWEEP - 1)) || !pm_slab_kept_bytes())
        return;
    for (size_t cid = pm_cache_next(0); cid < pm_g.num_caches; cid = pm_cache_next(cid + 1)) {
        struct pm_cache *c = &pm_caches[cid];
        if (cid == self || !PM_CID_VALID(cid) || !__atomic_load_n(&c->kept_bytes, __ATOMIC_RELAXED))
            continue;
        /* The clock read under the cache's lock is at least every stamp
         * on its list (stamped under the lock); `now` may not be, and an
         * older reading would make a slab just kept look ancient. */
        if (pm_trylock(&c->lock)) {
            cache_decay(c, __atomic_load_n(&purge_clock, __ATOMIC_RELAXED));
            pm_unlock(&c->lock);
        }
    }
}

/* A slab to take slots from: an empty one kept committed, else one whose
 * pages went back to the OS, else a new one from the region. */
static uint32_t slab_for_refill(struct pm_cache *c) {
    for (unsigned l = PM_LIST_EMPTY; l <= PM_LIST_DECOMMITTED; l++) {
        uint32_t s = c->heads[l];
        if (s != PM_NO_SLAB) {
            if (l == PM_LIST_EMPTY)
                empty_take(c, s);
            else
                list_remove(c, s);
            list_push_head(c, s, PM_LIST_PARTIAL);
            if (l == PM_LIST_DECOMMITTED) {
                c->reuses++;
                construct_slab(c, s); /* its pages came back zeroed */
            }
            return s;
        }
    }
    struct pm_segment *seg = pm_cache_segment(c, c->segments - 1);
    if (!seg->base && !take_first_region(c))
        return PM_NO_SLAB;
    if (seg->used_slabs >= c->max_slabs && !(seg = take_region(c)))
        return PM_NO_SLAB;
    uint32_t local = (uint32_t)seg->used_slabs;
    if (!slab_meta_commit(c, seg, local) || !slab_commit(c, seg, local))
        return PM_NO_SLAB;
    if (has_guard_after(c, local))
        protect_guard(c, seg, local / c->group_slabs);
    seg->slabs[local].free_count = c->objs_per_slab;
    map_set_range(seg, pm_slab_first_slot(c, local), c->objs_per_slab);
    __atomic_store_n(&seg->used_slabs, local + 1, __ATOMIC_RELEASE);
    uint32_t s = (uint32_t)(seg->index * c->max_slabs + local);
    list_push_head(c, s, PM_LIST_PARTIAL);
    construct_slab(c, s);
    return s;
}

static uint64_t cache_random(struct pm_cache *c) {
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 0x2545f4914f6cdd1dull;
}

/* Moves free slots [first, end) of a region's central map into out[] (up
 * to want). */
static size_t take_range(struct pm_cache *c, struct pm_segment *seg, uint64_t first, uint64_t end,
                         struct pm_entry *out, size_t want) {
    uint8_t *state = seg->state;
    size_t n = 0;
    for (uint64_t w = first >> 6; first < end && w <= (end - 1) >> 6 && n < want; w++) {
        uint64_t bits = *map_word(seg, w);
        if ((w << 6) < first)
            bits &= ~0ull << (first & 63);
        if ((w << 6) + 64 > end)
            bits &= (end & 63) ? (1ull << (end & 63)) - 1 : ~0ull;
        while (bits && n < want) {
            unsigned b = (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            *map_word(seg, w) &= ~(1ull << b);
            uint64_t idx = (w << 6) + b;
            out[n].ptr = seg->base + idx * c->obj_size;
            out[n].state = state + idx;
            state[idx] = state[idx] == PM_SLOT_NEVER ? PM_SLOT_CACHED_NEVER : PM_SLOT_CACHED;
            n++;
        }
    }
    return n;
}

/* With slot_order: the scan starts at a random slot of the slab and wraps,
 * and the slots taken are shuffled, so neither the next address nor the
 * distance between two allocations can be predicted. */
static size_t take_from_slab(struct pm_cache *c, uint32_t s, struct pm_entry *out, size_t want) {
    struct pm_segment *seg = pm_slab_segment(c, s);
    uint64_t first = pm_slab_first_slot(c, s % c->max_slabs), end = first + c->objs_per_slab, start = first;
    if (pm_g.harden.slot_order)
        start = first + cache_random(c) % c->objs_per_slab;
    size_t n = take_range(c, seg, start, end, out, want);
    n += take_range(c, seg, first, start, out + n, want - n);
    if (pm_g.harden.slot_order)
        for (size_t i = n; i > 1; i--) {
            size_t j = cache_random(c) % i;
            struct pm_entry t = out[i - 1];
            out[i - 1] = out[j];
            out[j] = t;
        }
    struct pm_slab *sl = &seg->slabs[s % c->max_slabs];
    sl->free_count -= (uint32_t)n;
    if (sl->free_count == 0)
        list_remove(c, s);
    return n;
}

/* Bytes out of all the slabs: changed where objects leave a slab or come
 * back (a refill, a flush: whole batches), never on malloc and free. */
static size_t small_bytes_out, small_bytes_peak;

static void count_out(struct pm_cache *c, size_t objs) {
    c->objs_out += objs;
    if (c->objs_out > c->peak_objs_out)
        c->peak_objs_out = c->objs_out;
    size_t now = __atomic_add_fetch(&small_bytes_out, objs * c->obj_size, __ATOMIC_RELAXED);
    size_t peak = __atomic_load_n(&small_bytes_peak, __ATOMIC_RELAXED);
    while (now > peak &&
           !__atomic_compare_exchange_n(&small_bytes_peak, &peak, now, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static void count_back(struct pm_cache *c, size_t objs) {
    c->objs_out -= objs;
    __atomic_sub_fetch(&small_bytes_out, objs * c->obj_size, __ATOMIC_RELAXED);
}

size_t pm_small_bytes_peak(void) {
    return __atomic_load_n(&small_bytes_peak, __ATOMIC_RELAXED);
}

/* `one_slab`: stop after the first slab that gives any. */
static inline __attribute__((always_inline)) size_t cache_refill(size_t cid, struct pm_entry *out, size_t want,
                                                                 bool one_slab) {
    struct pm_cache *c = &pm_caches[cid];
    size_t n = 0;
    if (PM_UNLIKELY(!kmalloc_cache_ready(cid)))
        return 0;
    pm_lock(&c->lock);
    uint32_t now = purge_tick();
    while (n < want && !(one_slab && n)) {
        uint32_t s = c->heads[PM_LIST_PARTIAL];
        if (s == PM_NO_SLAB && (s = slab_for_refill(c)) == PM_NO_SLAB)
            break;
        n += take_from_slab(c, s, out + n, want - n);
    }
    count_out(c, n);
    cache_decay(c, now);
    pm_unlock(&c->lock);
    purge_sweep(cid, now);
    return n;
}

size_t pm_cache_refill(size_t cid, struct pm_entry *out, size_t want) {
    return cache_refill(cid, out, want, false);
}

size_t pm_cache_refill_slab(size_t cid, struct pm_entry *out, size_t want) {
    return cache_refill(cid, out, want, true);
}

void pm_cache_flush(size_t cid, const struct pm_entry *in, size_t n) {
    struct pm_cache *c = &pm_caches[cid];
    uint64_t magic = pm_hot[cid].magic;
    pm_lock(&c->lock);
    uint32_t now = purge_tick();
    for (size_t i = 0; i < n; i++) {
        struct pm_segment *seg = segment_of(c, in[i].ptr);
        uint64_t idx = pm_slot_of((uint64_t)((char *)in[i].ptr - seg->base), magic);
        uint64_t local = pm_slot_slab(c, idx);
        uint32_t s = (uint32_t)(seg->index * c->max_slabs + local);
        struct pm_slab *sl = &seg->slabs[local];
        *in[i].state = *in[i].state == PM_SLOT_CACHED_NEVER ? PM_SLOT_NEVER : PM_SLOT_FREED;
        *map_word(seg, idx >> 6) |= 1ull << (idx & 63);
        if (sl->free_count++ == 0)
            list_push_head(c, s, PM_LIST_PARTIAL);
        if (sl->free_count == c->objs_per_slab) {
            list_remove(c, s);
            slab_emptied(c, s, now);
        }
    }
    count_back(c, n);
    cache_decay(c, now);
    pm_unlock(&c->lock);
    purge_sweep(cid, now);
}

void pm_cache_destroy(size_t cid) {
    struct pm_cache *c = &pm_caches[cid];
    pm_lock(&c->lock);
    while (c->counts[PM_LIST_EMPTY] > 0)
        slab_decommit_oldest_empty(c);
    c->destroyed = true;
    pm_unlock(&c->lock);
}

/* Slots [first, first + count) are all free in the central map. */
static bool map_all_set(const struct pm_segment *seg, uint64_t first, uint64_t count) {
    for (uint64_t i = first; i < first + count; i++)
        if (!(*map_word(seg, i >> 6) & (1ull << (i & 63))))
            return false;
    return true;
}

/* Page `p` of a slab whose first slot is `first` holds only slots
 * free in the central map: none live, none in a thread cache. */
static bool page_all_free(const struct pm_cache *c, const struct pm_segment *seg, uint64_t first, size_t p) {
    uint64_t lo = p * PM_PAGE / c->obj_size, hi = ((p + 1) * PM_PAGE - 1) / c->obj_size;
    return map_all_set(seg, first + lo, hi - lo + 1);
}

/* Pages mincore is asked about at once. */
#define PM_TRIM_PAGES 256u

/* The resident pages of partly used slab `s` that hold only free slots go
 * back to the OS (a later refill faults them in zeroed, which a freed slot
 * may be). Pages mincore reports absent are skipped, so a second trim
 * finds nothing and reports nothing. Returns the bytes given back. */
static size_t slab_drop_free_pages(struct pm_cache *c, uint32_t s) {
    struct pm_segment *seg = pm_slab_segment(c, s);
    uint64_t first = pm_slab_first_slot(c, s % c->max_slabs);
    char *slab = pm_slab_addr(c, s);
    size_t pages = c->slab_bytes / PM_PAGE, bytes = 0;
    unsigned char resident[PM_TRIM_PAGES];
    for (size_t at = 0; at < pages; at += PM_TRIM_PAGES) {
        size_t n = pages - at < PM_TRIM_PAGES ? pages - at : PM_TRIM_PAGES;
        if (!pm_os_resident(slab + at * PM_PAGE, n * PM_PAGE, resident))
            return bytes;
        for (size_t p = 0; p < n;) {
            size_t run = 0;
            while (p + run < n && (resident[p + run] & 1) && page_all_free(c, seg, first, at + p + run))
                run++;
            if (run) {
                pm_os_decommit(slab + (at + p) * PM_PAGE, run * PM_PAGE);
                bytes += run * PM_PAGE;
            }
            p += run ? run : 1;
        }
    }
    return bytes;
}

/* Every empty slab decommitted, and the free pages of the partly used
 * ones; not those of a cache with a constructor, whose free objects keep
 * their constructed contents. */
size_t pm_cache_trim(size_t cid) {
    struct pm_cache *c = &pm_caches[cid];
    size_t bytes = 0;
    pm_lock(&c->lock);
    while (c->counts[PM_LIST_EMPTY] > 0) {
        slab_decommit_oldest_empty(c);
        bytes += c->slab_bytes;
    }
    if (c->ready && !c->ctor)
        for (uint32_t s = c->heads[PM_LIST_PARTIAL]; s != PM_NO_SLAB; s = pm_slab_record(c, s)->next)
            bytes += slab_drop_free_pages(c, s);
    pm_unlock(&c->lock);
    return bytes;
}

void pm_caches_lock_all(void) {
    pm_lock(&kmalloc_setup_lock);
    pm_lock(&pm_registry_lock);
    for (size_t i = pm_cache_next(0); i < pm_g.num_caches; i = pm_cache_next(i + 1))
        if (PM_CID_VALID(i))
            pm_lock(&pm_caches[i].lock);
    pm_lock(&taken_lock);
}

void pm_caches_unlock_all(void) {
    pm_unlock(&taken_lock);
    for (size_t i = pm_cache_next(0); i < pm_g.num_caches; i = pm_cache_next(i + 1))
        if (PM_CID_VALID(i))
            pm_unlock(&pm_caches[i].lock);
    pm_unlock(&pm_registry_lock);
    pm_unlock(&kmalloc_setup_lock);
}

void pm_caches_reinit_locks(void) {
    pthread_mutex_init(&kmalloc_setup_lock, NULL);
    pthread_mutex_init(&pm_registry_lock, NULL);
    pthread_mutex_init(&taken_lock, NULL);
    for (size_t i = pm_cache_next(0); i < pm_g.num_caches; i = pm_cache_next(i + 1))
        if (PM_CID_VALID(i))
            pthread_mutex_init(&pm_caches[i].lock, NULL);
}
