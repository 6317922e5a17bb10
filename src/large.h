/* Blocks above the largest size class (large.c): a mapping each, with a
 * guard page on either side, and a table of them out of line. */
#ifndef PM_LARGE_H
#define PM_LARGE_H

#include "types.h"

#pragma GCC visibility push(hidden)

void *pm_large_alloc(size_t size, size_t alignment, bool zero);
/* Returns the usable size of a live large pointer, or 0 if `ptr` is not one. */
size_t pm_large_usable(const void *ptr);
/* 1: live large block (usable size stored), -1: a recently freed one, 0: neither. */
int pm_large_state(const void *ptr, size_t *usable);
/* The bytes from `ptr` to the end of the live block holding it (its usable
 * size, as pm_large_state gives it, from its start), 0 if no live block
 * holds it: freed blocks, guard pages and other memory. */
size_t pm_large_object_size(const void *ptr);
/* Frees a large block; false if `ptr` is not one. `check_size` is the size
 * the block must have been asked for (free_sized), or PM_LARGE_ANY_SIZE
 * (plain free; no allocation of SIZE_MAX bytes succeeds); `check_align`,
 * if not 0, an alignment the block must have. */
#define PM_LARGE_ANY_SIZE SIZE_MAX
bool pm_large_free(void *ptr, size_t check_size, size_t check_align);
void *pm_large_realloc(void *ptr, size_t size);
/* Unmaps the freed blocks kept for reuse; returns their bytes. */
size_t pm_large_trim(void);
/* Live blocks and their bytes, kept blocks, allocations ever and the
 * peaks (all but frees). */
void pm_large_counts(struct pm_large_stats *out);
void pm_large_lock_all(void);
void pm_large_reinit_locks(void);
void pm_large_unlock_all(void);

#pragma GCC visibility pop

#endif /* PM_LARGE_H */
