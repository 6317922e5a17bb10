/* The core operations every front end shares (alloc.c), over the fast
 * paths: aligned and zeroed allocation, realloc, checked frees, usable
 * size. Each takes the partition its front end chose. */
#ifndef PM_ALLOC_H
#define PM_ALLOC_H

#include "fastpath.h"

#pragma GCC visibility push(hidden)

void *pm_alloc_aligned(size_t alignment, size_t size, pm_part_t part);
void *pm_alloc_zeroed(size_t n, size_t size, pm_part_t part);
/* `binding`: the partition is the type's (a token in typed mode), so the
 * block moves when it is in another partition; otherwise the call site's,
 * and a block that keeps its size class stays where it is. */
void *pm_realloc_part(void *ptr, size_t size, pm_part_t part, bool binding);
void pm_dealloc(void *ptr);
void pm_dealloc_checked(void *ptr, size_t size, size_t alignment);
size_t pm_usable(const void *ptr, const char *op);
/* The size a live slab object may use (what pm_usable reports): its slot,
 * or with the strict defences the size it was asked for. */
size_t pm_small_usable(const struct pm_slot_ref *ref);

#pragma GCC visibility pop

#endif /* PM_ALLOC_H */
