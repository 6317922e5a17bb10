/* Start-up (init.c): the allocator sets itself up on first use, which
 * under LD_PRELOAD may come from the dynamic loader before any constructor.
 * Any layer's slow path may call pm_ensure_init; it is the one call that
 * goes up the layers (to set them all up, once). */
#ifndef PM_INIT_H
#define PM_INIT_H

#include "types.h"

#pragma GCC visibility push(hidden)

extern int pm_initialized;
void pm_init_slow(void);

static inline void pm_ensure_init(void) {
    if (PM_UNLIKELY(!__atomic_load_n(&pm_initialized, __ATOMIC_ACQUIRE)))
        pm_init_slow();
}

#pragma GCC visibility pop

#endif /* PM_INIT_H */
