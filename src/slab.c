/* The slab layer: (size class, partition) caches.
 *
 * Each cache owns one fixed region of the small-object address space, so a
 * pointer's cache is its offset divided by the region size. A region is cut
 * into slabs; a slab is a run of whole objects whose length is a multiple of
 * the page size, so objects lie back to back across the region and never
 * straddle a slab. Empty slabs give their pages back with MADV_DONTNEED but
 * keep their addresses: no address of one cache is ever handed to another
 * (the guarantee of the kernel's SLAB_VIRTUAL proposal).
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

/* Empty slabs kept committed per cache before pages go back to the OS: one
 * is enough to stop a slab flapping between empty and in use. */
#define PM_EMPTY_SLABS_KEPT 1
/* The region's read-write prefix grows by at least this much at a time. */
#define PM_COMMIT_STEP (1u << 20)

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
 * least 8 objects and 16 KiB. */
static void geometry(size_t size, size_t *slab_bytes, uint32_t *objs) {
    size_t want = size * 8 > 16384 ? size * 8 : 16384;
    *slab_bytes = round_up(want, lcm_page(size));
    *objs = (uint32_t)(*slab_bytes / size);
}

/* Slabs between two guards: one with slab_guards, about 1 MiB of them with
 * group_guards, all (no guard) otherwise. */
#define PM_GUARD_GROUP_BYTES ((size_t)1 << 20)
static uint32_t group_slabs_for(size_t slab_bytes) {
    if (pm_g.harden.slab_guards)
        return 1;
    if (pm_g.harden.group_guards)
        return slab_bytes >= PM_GUARD_GROUP_BYTES ? 1 : (uint32_t)(PM_GUARD_GROUP_BYTES / slab_bytes);
    return UINT32_MAX;
}

/* Metadata of one cache: state bytes for every slot position of the region
 * (plus one, so any offset's slot has a byte), then the free map, then the
 * slab records. Each part page-aligned. */
struct meta_layout {
    size_t state_bytes, map_bytes, slab_bytes, total;
};

static struct meta_layout meta_layout(size_t obj_size, size_t region) {
    size_t slab;
    uint32_t objs;
    geometry(obj_size, &slab, &objs);
    size_t slots = region / obj_size + 1;
    struct meta_layout m;
    m.state_bytes = round_up(slots, PM_PAGE);
    m.map_bytes = round_up((slots + 63) / 64 * 8, PM_PAGE);
    m.slab_bytes = round_up((region / slab + 1) * sizeof(struct pm_slab), PM_PAGE);
    m.total = m.state_bytes + m.map_bytes + m.slab_bytes;
    return m;
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

/* Reserve the data regions of every cache id (aligned to 1 MiB, so that
 * classes that are multiples of an alignment up to 32 KiB give aligned
 * objects) and the kmalloc caches' metadata. Start at 64 GiB of address
 * space per size class, shared by its partitions; halve until the OS agrees. */
static bool reserve(size_t num_caches, unsigned partitions, char **data, char **meta) {
    const size_t align = 1u << 20;
    unsigned shift = 36;
    while ((1u << (36 - shift)) < partitions || ((size_t)1 << shift) * num_caches > PM_MAX_RESERVE)
        shift--;
    for (; shift >= 20; shift--) {
        size_t region = (size_t)1 << shift;
        size_t data_bytes = region * num_caches;
        char *d = pm_os_reserve(data_bytes + align, PM_USE_SLABS);
        if (!d)
            continue;
        char *m = pm_os_alloc(meta_bytes_per_group(region) * partitions, PM_USE_METADATA);
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

static size_t append_str(char *out, size_t at, const char *s) {
    while (*s && at < 31)
        out[at++] = *s++;
    return at;
}

void pm_cache_name(size_t cid, char out[32]) {
    const struct pm_cache *c = cid < pm_g.num_caches ? &pm_caches[cid] : NULL;
    size_t at = 0;
    if (!c || !c->ready) {
        at = append_str(out, 0, "none");
    } else if (c->kind == PM_KIND_DEDICATED) {
        at = append_str(out, 0, c->name);
    } else if (c->kind == PM_KIND_BUCKET) {
        at = append_str(out, 0, c->name);
        at = append_str(out, at, "-");
        at += pm_fmt_u64(out + at, c->obj_size);
    } else if (c->partition == 0) {
        at = append_str(out, 0, "kmalloc-");
        at += pm_fmt_u64(out + at, c->obj_size);
    } else {
        at = append_str(out, 0, "kmalloc-part-");
        out[at++] = (char)('0' + c->partition / 10);
        out[at++] = (char)('0' + c->partition % 10);
        out[at++] = '-';
        at += pm_fmt_u64(out + at, c->obj_size);
    }
    out[at] = '\0';
}

/* Makes cache `cid` usable for objects of `obj_size` with metadata at `meta`
 * (laid out by meta_layout). The hot fields are written last. */
static void cache_setup(size_t cid, uint32_t obj_size, unsigned size_class, enum pm_cache_kind kind, char *meta) {
    size_t region = pm_region.mask + 1;
    struct meta_layout ml = meta_layout(obj_size, region);
    struct pm_cache *c = &pm_caches[cid];
    pthread_mutex_init(&c->lock, NULL);
    c->id = (unsigned)cid;
    c->kind = (uint8_t)kind;
    c->size_class = size_class;
    c->partition = PM_CID_GROUP(cid);
    c->obj_size = obj_size;
    geometry(obj_size, &c->slab_bytes, &c->objs_per_slab);
    c->base = pm_region.base + cid * region;
    c->group_slabs = group_slabs_for(c->slab_bytes);
    c->guard_slots = c->group_slabs == UINT32_MAX ? 0 : (uint32_t)(lcm_page(obj_size) / obj_size);
    c->group_slots = (uint64_t)c->group_slabs * c->objs_per_slab + c->guard_slots;
    uint64_t region_slots = region / obj_size, whole_groups = region_slots / c->group_slots;
    uint64_t rest = (region_slots % c->group_slots) / c->objs_per_slab;
    c->max_slabs = whole_groups * c->group_slabs + (rest < c->group_slabs ? rest : c->group_slabs);
    c->rng = (pm_g.order_key ^ (cid * 0x9e3779b97f4a7c15ull)) | 1;
    c->free_map = (uint64_t *)(meta + ml.state_bytes);
    c->slabs = (struct pm_slab *)(meta + ml.state_bytes + ml.map_bytes);
    for (int l = 0; l < 3; l++)
        c->heads[l] = c->tails[l] = PM_NO_SLAB;
    pm_hot[cid].magic = UINT64_MAX / obj_size + 1;
    pm_hot[cid].obj_size = obj_size;
    __atomic_store_n(&pm_hot[cid].state, (uint8_t *)meta, __ATOMIC_RELEASE);
    c->ready = true;
}

void pm_caches_init(void) {
    size_t n = pm_g.num_caches;
    char *data, *meta;
    if (!reserve(n, pm_g.partitions, &data, &meta))
        pm_fatal("cannot reserve address space for the slab regions");
    pm_caches = pm_os_alloc(round_up(sizeof(struct pm_cache) * n, PM_PAGE), PM_USE_METADATA);
    if (!pm_caches)
        pm_fatal("cannot allocate the cache table");
    pm_region.base = data;
    size_t region = pm_region.mask + 1;
    /* Ids with no cache (yet): one never-allocated slot at the region's
     * start, every other offset an interior pointer. */
    static uint8_t no_slots[1];
    for (size_t cid = 0; cid < n; cid++) {
        pm_hot[cid].magic = 1;
        pm_hot[cid].obj_size = region;
        pm_hot[cid].state = no_slots;
    }
    for (unsigned part = 0; part < pm_g.partitions; part++)
        for (unsigned cls = 0; cls < PM_NUM_CLASSES; cls++) {
            cache_setup(PM_CID(cls, part), pm_class_size[cls], cls, PM_KIND_KMALLOC, meta);
            meta += meta_layout(pm_class_size[cls], region).total;
        }
    pm_region.total = region * n; /* last: frees look at the region only now */
}

bool pm_cache_create_buckets(unsigned set, const char *name) {
    size_t region = pm_region.mask + 1;
    char *meta = pm_os_alloc(meta_bytes_per_group(region), PM_USE_METADATA);
    if (!meta)
        return false;
    unsigned group = pm_g.bucket_group + set;
    for (unsigned cls = 0; cls < PM_NUM_CLASSES; cls++) {
        size_t cid = PM_CID(cls, group);
        strncpy(pm_caches[cid].name, name, sizeof pm_caches[cid].name - 8);
        cache_setup(cid, pm_class_size[cls], cls, PM_KIND_BUCKET, meta);
        meta += meta_layout(pm_class_size[cls], region).total;
    }
    return true;
}

bool pm_cache_create_dedicated(size_t cid, const char *name, size_t obj_size, void (*ctor)(void *)) {
    char *meta = pm_os_alloc(meta_layout(obj_size, pm_region.mask + 1).total, PM_USE_METADATA);
    if (!meta)
        return false;
    struct pm_cache *c = &pm_caches[cid];
    strncpy(c->name, name, sizeof c->name - 1);
    c->ctor = ctor;
    cache_setup(cid, (uint32_t)obj_size, PM_NUM_CLASSES, PM_KIND_DEDICATED, meta);
    return true;
}

/* ---- slab lists (under the cache lock) ---- */

static void list_push_head(struct pm_cache *c, uint32_t s, unsigned l) {
    struct pm_slab *sl = &c->slabs[s];
    sl->list = (uint8_t)l;
    sl->prev = PM_NO_SLAB;
    sl->next = c->heads[l];
    if (c->heads[l] != PM_NO_SLAB)
        c->slabs[c->heads[l]].prev = s;
    else
        c->tails[l] = s;
    c->heads[l] = s;
    c->counts[l]++;
}

static void list_remove(struct pm_cache *c, uint32_t s) {
    struct pm_slab *sl = &c->slabs[s];
    unsigned l = sl->list;
    if (sl->prev != PM_NO_SLAB)
        c->slabs[sl->prev].next = sl->next;
    else
        c->heads[l] = sl->next;
    if (sl->next != PM_NO_SLAB)
        c->slabs[sl->next].prev = sl->prev;
    else
        c->tails[l] = sl->prev;
    sl->list = PM_LIST_NONE;
    c->counts[l]--;
}

/* ---- the free map (under the cache lock) ---- */

static void map_set_range(uint64_t *map, uint64_t first, uint64_t count) {
    for (uint64_t i = first; i < first + count;) {
        uint64_t bit = i & 63, n = 64 - bit;
        if (n > first + count - i)
            n = first + count - i;
        map[i >> 6] |= (n == 64 ? ~0ull : ((1ull << n) - 1) << bit);
        i += n;
    }
}

/* Guards are made inaccessible only once the slab before them is carved
 * out, so their number follows the slabs in use; each one splits a mapping
 * (two more entries against vm.max_map_count). Past PM_GUARD_BUDGET of
 * them a guard stays accessible (still never handed out), leaving the rest
 * of the process its mappings. */
#define PM_GUARD_BUDGET 16384u
static unsigned guards_protected;

static void protect_guard(struct pm_cache *c, size_t group) {
    if (__atomic_fetch_add(&guards_protected, 1, __ATOMIC_RELAXED) >= PM_GUARD_BUDGET)
        return;
    size_t group_bytes = c->group_slots * c->obj_size, guard_bytes = (size_t)c->guard_slots * c->obj_size;
    pm_os_protect_none(c->base + (group + 1) * group_bytes - guard_bytes, guard_bytes);
}

static bool has_guard_after(const struct pm_cache *c, uint64_t s) {
    return c->guard_slots && s % c->group_slabs == c->group_slabs - 1;
}

/* After [from, to) was made accessible: the guards in it that follow slabs
 * up to `last` (carved, or being carved) go back to no access, the part of
 * one straddling `from` included. */
static void reprotect_guards(struct pm_cache *c, size_t from, size_t to, uint64_t last) {
    if (c->guard_slots == 0)
        return;
    size_t group_bytes = c->group_slots * c->obj_size, guard_bytes = (size_t)c->guard_slots * c->obj_size;
    for (size_t g = from / group_bytes; (g + 1) * group_bytes - guard_bytes < to; g++) {
        if ((g + 1) * c->group_slabs - 1 > last)
            break;
        pm_os_protect_none(c->base + (g + 1) * group_bytes - guard_bytes, guard_bytes);
    }
}

static bool slab_commit(struct pm_cache *c, uint32_t s) {
    size_t need = (size_t)(pm_slab_addr(c, s) - c->base) + c->slab_bytes;
    if (need <= c->committed)
        return true;
    size_t limit = (size_t)(pm_slab_addr(c, c->max_slabs - 1) - c->base) + c->slab_bytes;
    size_t grow = round_up(need > c->committed + PM_COMMIT_STEP ? need : c->committed + PM_COMMIT_STEP, PM_PAGE);
    if (grow > limit)
        grow = limit;
    if (!pm_os_commit(c->base + c->committed, grow - c->committed))
        return false;
    reprotect_guards(c, c->committed, grow, s ? s - 1 : 0);
    c->committed = grow;
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

/* A slab to take slots from: an empty one kept committed, else one whose
 * pages went back to the OS, else a new one from the region. */
static uint32_t slab_for_refill(struct pm_cache *c) {
    for (unsigned l = PM_LIST_EMPTY; l <= PM_LIST_DECOMMITTED; l++) {
        uint32_t s = c->heads[l];
        if (s != PM_NO_SLAB) {
            list_remove(c, s);
            list_push_head(c, s, PM_LIST_PARTIAL);
            if (l == PM_LIST_DECOMMITTED) {
                c->reuses++;
                construct_slab(c, s); /* its pages came back zeroed */
            }
            return s;
        }
    }
    if (c->used_slabs >= c->max_slabs)
        return PM_NO_SLAB;
    uint32_t s = (uint32_t)c->used_slabs;
    if (!slab_commit(c, s))
        return PM_NO_SLAB;
    if (has_guard_after(c, s))
        protect_guard(c, s / c->group_slabs);
    c->used_slabs++;
    c->slabs[s].free_count = c->objs_per_slab;
    map_set_range(c->free_map, pm_slab_first_slot(c, s), c->objs_per_slab);
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

/* Moves free slots [first, end) of the central map into out[] (up to want). */
static size_t take_range(struct pm_cache *c, uint64_t first, uint64_t end, struct pm_entry *out, size_t want) {
    uint8_t *state = pm_hot[c->id].state;
    size_t n = 0;
    for (uint64_t w = first >> 6; first < end && w <= (end - 1) >> 6 && n < want; w++) {
        uint64_t bits = c->free_map[w];
        if ((w << 6) < first)
            bits &= ~0ull << (first & 63);
        if ((w << 6) + 64 > end)
            bits &= (end & 63) ? (1ull << (end & 63)) - 1 : ~0ull;
        while (bits && n < want) {
            unsigned b = (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            c->free_map[w] &= ~(1ull << b);
            uint64_t idx = (w << 6) + b;
            out[n].ptr = c->base + idx * c->obj_size;
            out[n].state = state + idx;
            state[idx] = PM_SLOT_CACHED;
            n++;
        }
    }
    return n;
}

/* With slot_order: the scan starts at a random slot of the slab and wraps,
 * and the slots taken are shuffled, so neither the next address nor the
 * distance between two allocations can be predicted. */
static size_t take_from_slab(struct pm_cache *c, uint32_t s, struct pm_entry *out, size_t want) {
    uint64_t first = pm_slab_first_slot(c, s), end = first + c->objs_per_slab, start = first;
    if (pm_g.harden.slot_order)
        start = first + cache_random(c) % c->objs_per_slab;
    size_t n = take_range(c, start, end, out, want);
    n += take_range(c, first, start, out + n, want - n);
    if (pm_g.harden.slot_order)
        for (size_t i = n; i > 1; i--) {
            size_t j = cache_random(c) % i;
            struct pm_entry t = out[i - 1];
            out[i - 1] = out[j];
            out[j] = t;
        }
    c->slabs[s].free_count -= (uint32_t)n;
    if (c->slabs[s].free_count == 0)
        list_remove(c, s);
    return n;
}

size_t pm_cache_refill(size_t cid, struct pm_entry *out, size_t want) {
    struct pm_cache *c = &pm_caches[cid];
    size_t n = 0;
    pm_lock(&c->lock);
    while (n < want) {
        uint32_t s = c->heads[PM_LIST_PARTIAL];
        if (s == PM_NO_SLAB && (s = slab_for_refill(c)) == PM_NO_SLAB)
            break;
        n += take_from_slab(c, s, out + n, want - n);
    }
    pm_unlock(&c->lock);
    return n;
}

static void slab_decommit_oldest_empty(struct pm_cache *c) {
    uint32_t s = c->tails[PM_LIST_EMPTY];
    list_remove(c, s);
    pm_os_decommit(pm_slab_addr(c, s), c->slab_bytes);
    list_push_head(c, s, PM_LIST_DECOMMITTED);
    c->decommits++;
}

void pm_cache_flush(size_t cid, const struct pm_entry *in, size_t n) {
    struct pm_cache *c = &pm_caches[cid];
    uint64_t magic = pm_hot[cid].magic;
    pm_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        uint64_t idx = pm_slot_of((uint64_t)((char *)in[i].ptr - c->base), magic);
        uint32_t s = (uint32_t)pm_slot_slab(c, idx);
        struct pm_slab *sl = &c->slabs[s];
        *in[i].state = PM_SLOT_FREED;
        c->free_map[idx >> 6] |= 1ull << (idx & 63);
        if (sl->free_count++ == 0)
            list_push_head(c, s, PM_LIST_PARTIAL);
        if (sl->free_count == c->objs_per_slab) {
            list_remove(c, s);
            list_push_head(c, s, PM_LIST_EMPTY);
            if (c->counts[PM_LIST_EMPTY] > PM_EMPTY_SLABS_KEPT)
                slab_decommit_oldest_empty(c);
        }
    }
    pm_unlock(&c->lock);
}

void pm_cache_destroy(size_t cid) {
    struct pm_cache *c = &pm_caches[cid];
    pm_lock(&c->lock);
    while (c->counts[PM_LIST_EMPTY] > 0)
        slab_decommit_oldest_empty(c);
    c->destroyed = true;
    pm_unlock(&c->lock);
}

size_t pm_cache_trim(size_t cid) {
    struct pm_cache *c = &pm_caches[cid];
    size_t bytes = 0;
    pm_lock(&c->lock);
    while (c->counts[PM_LIST_EMPTY] > 0) {
        slab_decommit_oldest_empty(c);
        bytes += c->slab_bytes;
    }
    pm_unlock(&c->lock);
    return bytes;
}

void pm_caches_lock_all(void) {
    pm_lock(&pm_registry_lock);
    for (size_t i = 0; i < pm_g.num_caches; i++)
        if (PM_CID_VALID(i))
            pm_lock(&pm_caches[i].lock);
}

void pm_caches_unlock_all(void) {
    for (size_t i = 0; i < pm_g.num_caches; i++)
        if (PM_CID_VALID(i))
            pm_unlock(&pm_caches[i].lock);
    pm_unlock(&pm_registry_lock);
}

void pm_caches_reinit_locks(void) {
    pthread_mutex_init(&pm_registry_lock, NULL);
    for (size_t i = 0; i < pm_g.num_caches; i++)
        if (PM_CID_VALID(i))
            pthread_mutex_init(&pm_caches[i].lock, NULL);
}
