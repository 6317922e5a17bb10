/* (size class, partition) caches.
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
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "fastpath.h"

struct pm_cache_hot pm_hot[PM_MAX_CACHES];
struct pm_cache *pm_caches;
struct pm_region pm_region;

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

/* A slab is the smallest whole number of lcm(size, page) bytes that holds at
 * least 8 objects and 16 KiB. */
static void class_geometry(unsigned cls, size_t *slab_bytes, uint32_t *objs) {
    size_t size = pm_class_size[cls];
    size_t lcm = size / gcd(size, PM_PAGE) * PM_PAGE;
    size_t want = size * 8 > 16384 ? size * 8 : 16384;
    *slab_bytes = round_up(want, lcm);
    *objs = (uint32_t)(*slab_bytes / size);
}

/* Metadata of one cache: state bytes for every slot position of the region
 * (plus one, so any offset's slot has a byte), then the free map, then the
 * slab records. Each part page-aligned. */
struct meta_layout {
    size_t state_bytes, map_bytes, slab_bytes, total;
};

static struct meta_layout meta_layout(unsigned cls, size_t region) {
    size_t slab;
    uint32_t objs;
    class_geometry(cls, &slab, &objs);
    size_t slots = region / pm_class_size[cls] + 1;
    struct meta_layout m;
    m.state_bytes = round_up(slots, PM_PAGE);
    m.map_bytes = round_up((slots + 63) / 64 * 8, PM_PAGE);
    m.slab_bytes = round_up((region / slab + 1) * sizeof(struct pm_slab), PM_PAGE);
    m.total = m.state_bytes + m.map_bytes + m.slab_bytes;
    return m;
}

static size_t meta_bytes_per_partition(size_t region) {
    size_t total = 0;
    for (unsigned c = 0; c < PM_NUM_CLASSES; c++)
        total += meta_layout(c, region).total;
    return total;
}

/* Reserve the data regions (aligned to 1 MiB, so that classes that are
 * multiples of an alignment up to 32 KiB give aligned objects) and the
 * metadata. Start at 128 GiB of address space per size class, shared by its
 * partitions; halve until the OS agrees. */
static bool reserve(size_t num_caches, unsigned partitions, char **data, char **meta) {
    const size_t align = 1u << 20;
    unsigned shift = 36;
    while ((1u << (36 - shift)) < partitions)
        shift--;
    for (; shift >= 20; shift--) {
        size_t region = (size_t)1 << shift;
        size_t data_bytes = region * num_caches;
        char *d = pm_os_reserve(data_bytes + align);
        if (!d)
            continue;
        char *m = pm_os_alloc(meta_bytes_per_partition(region) * partitions);
        if (!m) {
            munmap(d, data_bytes + align);
            continue;
        }
        char *aligned = (char *)round_up((uintptr_t)d, align);
        if (aligned > d)
            munmap(d, (size_t)(aligned - d));
        if (aligned + data_bytes < d + data_bytes + align)
            munmap(aligned + data_bytes, (size_t)(d + data_bytes + align - (aligned + data_bytes)));
        *data = aligned;
        *meta = m;
        pm_region.shift = shift;
        pm_region.mask = region - 1;
        return true;
    }
    return false;
}

void pm_cache_name(size_t cid, char out[32]) {
    unsigned cls = PM_CID_CLASS(cid), part = PM_CID_PART(cid);
    size_t at = 0;
    if (cls >= PM_NUM_CLASSES) {
        memcpy(out, "none", 5);
        return;
    }
    if (part == 0) {
        memcpy(out, "kmalloc-", 8);
        at = 8;
    } else {
        memcpy(out, "kmalloc-part-", 13);
        out[13] = (char)('0' + part / 10);
        out[14] = (char)('0' + part % 10);
        out[15] = '-';
        at = 16;
    }
    at += pm_fmt_u64(out + at, pm_class_size[cls]);
    out[at] = '\0';
}

void pm_caches_init(void) {
    size_t n = pm_g.num_caches;
    char *data, *meta;
    if (!reserve(n, pm_g.partitions, &data, &meta))
        pm_fatal("cannot reserve address space for the slab regions");
    pm_caches = pm_os_alloc(round_up(sizeof(struct pm_cache) * n, PM_PAGE));
    if (!pm_caches)
        pm_fatal("cannot allocate the cache table");
    size_t region = pm_region.mask + 1;
    /* Ids with no class: one never-allocated slot at the region's start,
     * every other offset an interior pointer. */
    static uint8_t no_slots[1];
    for (size_t cid = 0; cid < n; cid++) {
        pm_hot[cid].magic = 1;
        pm_hot[cid].obj_size = region;
        pm_hot[cid].state = no_slots;
    }
    for (unsigned cls = 0; cls < PM_NUM_CLASSES; cls++) {
        struct meta_layout ml = meta_layout(cls, region);
        for (unsigned part = 0; part < pm_g.partitions; part++) {
            size_t cid = PM_CID(cls, part);
            struct pm_cache *c = &pm_caches[cid];
            pthread_mutex_init(&c->lock, NULL);
            c->id = cid;
            c->size_class = cls;
            c->partition = part;
            c->obj_size = pm_class_size[cls];
            class_geometry(cls, &c->slab_bytes, &c->objs_per_slab);
            c->base = data + (size_t)cid * region;
            c->max_slabs = region / c->slab_bytes;
            uint8_t *state = (uint8_t *)meta;
            c->free_map = (uint64_t *)(meta + ml.state_bytes);
            c->slabs = (struct pm_slab *)(meta + ml.state_bytes + ml.map_bytes);
            meta += ml.total;
            for (int l = 0; l < 3; l++)
                c->heads[l] = c->tails[l] = PM_NO_SLAB;
            pm_hot[cid].magic = UINT64_MAX / c->obj_size + 1;
            pm_hot[cid].obj_size = c->obj_size;
            pm_hot[cid].state = state;
        }
    }
    pm_region.base = data;
    pm_region.total = region * n; /* last: frees look at the region only now */
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

static bool slab_commit(struct pm_cache *c, uint32_t s) {
    size_t need = ((size_t)s + 1) * c->slab_bytes;
    if (need <= c->committed)
        return true;
    size_t limit = c->max_slabs * c->slab_bytes;
    size_t grow = round_up(need > c->committed + PM_COMMIT_STEP ? need : c->committed + PM_COMMIT_STEP, PM_PAGE);
    if (grow > limit)
        grow = limit;
    if (!pm_os_commit(c->base + c->committed, grow - c->committed))
        return false;
    c->committed = grow;
    return true;
}

/* A slab to take slots from: an empty one kept committed, else one whose
 * pages went back to the OS, else a new one from the region. */
static uint32_t slab_for_refill(struct pm_cache *c) {
    for (unsigned l = PM_LIST_EMPTY; l <= PM_LIST_DECOMMITTED; l++) {
        uint32_t s = c->heads[l];
        if (s != PM_NO_SLAB) {
            list_remove(c, s);
            list_push_head(c, s, PM_LIST_PARTIAL);
            if (l == PM_LIST_DECOMMITTED)
                c->reuses++;
            return s;
        }
    }
    if (c->used_slabs >= c->max_slabs)
        return PM_NO_SLAB;
    uint32_t s = (uint32_t)c->used_slabs;
    if (!slab_commit(c, s))
        return PM_NO_SLAB;
    c->used_slabs++;
    c->slabs[s].free_count = c->objs_per_slab;
    map_set_range(c->free_map, (uint64_t)s * c->objs_per_slab, c->objs_per_slab);
    list_push_head(c, s, PM_LIST_PARTIAL);
    return s;
}

static size_t take_from_slab(struct pm_cache *c, uint32_t s, struct pm_entry *out, size_t want) {
    uint64_t first = (uint64_t)s * c->objs_per_slab, end = first + c->objs_per_slab;
    uint8_t *state = pm_hot[c->id].state;
    size_t n = 0;
    for (uint64_t w = first >> 6; w <= (end - 1) >> 6 && n < want; w++) {
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
    pm_os_decommit(c->base + (size_t)s * c->slab_bytes, c->slab_bytes);
    list_push_head(c, s, PM_LIST_DECOMMITTED);
    c->decommits++;
}

void pm_cache_flush(size_t cid, const struct pm_entry *in, size_t n) {
    struct pm_cache *c = &pm_caches[cid];
    uint64_t magic = pm_hot[cid].magic;
    pm_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        uint64_t idx = pm_slot_of((uint64_t)((char *)in[i].ptr - c->base), magic);
        uint32_t s = (uint32_t)(idx / c->objs_per_slab);
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
    for (size_t i = 0; i < pm_g.num_caches; i++)
        if (PM_CID_VALID(i))
            pm_lock(&pm_caches[i].lock);
}

void pm_caches_unlock_all(void) {
    for (size_t i = 0; i < pm_g.num_caches; i++)
        if (PM_CID_VALID(i))
            pm_unlock(&pm_caches[i].lock);
}

void pm_caches_reinit_locks(void) {
    for (size_t i = 0; i < pm_g.num_caches; i++)
        if (PM_CID_VALID(i))
            pthread_mutex_init(&pm_caches[i].lock, NULL);
}
