/* The size-class table (sizeclass.c): 61 classes from 8 bytes to 1 MiB. */
#ifndef PM_SIZECLASS_H
#define PM_SIZECLASS_H

#include "types.h"

#pragma GCC visibility push(hidden)

extern const uint32_t pm_class_size[PM_NUM_CLASSES];
/* The class of each size up to 1 KiB, as an entry offset (class << PM_ENTRY_SHIFT). */
extern const uint16_t pm_class_off_small[PM_SMALL_LOOKUP_MAX + 1];
unsigned pm_class_of_large_small(size_t size); /* PM_SMALL_LOOKUP_MAX < size <= PM_MAX_CLASS */

static inline unsigned pm_size_to_class(size_t size) {
    if (PM_LIKELY(size <= PM_SMALL_LOOKUP_MAX))
        return pm_class_off_small[size] >> PM_ENTRY_SHIFT;
    return pm_class_of_large_small(size);
}

#pragma GCC visibility pop

#endif /* PM_SIZECLASS_H */
