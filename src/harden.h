/* The strict defences (harden.c): with any of them on, the fast paths'
 * bins stay empty and every allocation and free of a slab object comes
 * here from the thread-cache slow paths, with the size asked for. */
#ifndef PM_HARDEN_H
#define PM_HARDEN_H

#include "types.h"

#pragma GCC visibility push(hidden)

struct pm_slot_ref;
void *pm_strict_alloc(size_t cid, size_t size);
void *pm_strict_alloc_aligned(size_t alignment, size_t size, pm_part_t part);
void pm_strict_free(size_t cid, void *ptr, uint8_t *state);
size_t pm_strict_size(const struct pm_slot_ref *ref); /* the size asked for */
/* The alignment aligned_alloc and friends asked for (at least 8), 0 for an
 * object from the other allocations. */
size_t pm_strict_alignment(const struct pm_slot_ref *ref);
/* malloc(0) pointers: -1 not one, 0 never handed out, 1 live, 2 freed,
 * 3 inside one. */
int pm_zero_state(const void *ptr);
/* Frees a malloc(0) pointer for `op`; false if `ptr` is not one. Aborts on
 * a double or invalid free. */
bool pm_zero_free(const void *ptr, const char *op);
void pm_quarantine_drain(void);
struct pm_strict_batch;
struct pm_tcache;
/* The batch's slots enter the quarantine in one locked step; the slots
 * that leaves go to `into`'s bins, or with NULL to their central caches. */
void pm_strict_batch_flush(struct pm_strict_batch *b, struct pm_tcache *into);
void pm_harden_lock_all(void);
void pm_harden_unlock_all(void);
void pm_harden_reinit_locks(void);

#pragma GCC visibility pop

#endif /* PM_HARDEN_H */
