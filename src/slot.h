/* Slot arithmetic: which slot of a cache's region an offset falls in, and
 * whether it is a slot's start, by one multiply. Pure functions; the free
 * fast path, the slab layer and the checks all use them. */
#ifndef PM_SLOT_H
#define PM_SLOT_H

#include "types.h"

#pragma GCC visibility push(hidden)

/* Offset -> slot by one multiply with m = ceil(2^64 / size). With
 * offset = q * size + r, offset * m = q * 2^64 + q * e + r * m, where
 * e = m * size - 2^64 < size. For offsets below 2^43 (regions are at most
 * 2^36 bytes) and sizes up to 2^20 (PM_MAX_CLASS):
 *   - r = 0: the low half is q * e < q * size <= offset < 2^43;
 *   - r > 0: it is q * e + r * m >= m >= 2^64 / size >= 2^44, and it does
 *     not wrap: q * e + r * m <= (q + 1) * e + 2^64 - m, and
 *     (q + 1) * e < offset + size < 2^44 <= m.
 * So the high half is q exactly, and "low half below 2^44" says the offset
 * is the start of a slot. tests/unit/test_sizeclass.c checks both. */
#define PM_SLOT_START_SHIFT 44
struct pm_slot_div {
    uint64_t slot;
    bool is_start;
};

static inline struct pm_slot_div pm_slot_div(uint64_t offset, uint64_t magic) {
    uint64_t high, low;
#if defined(__x86_64__)
    /* One mulq; written out because gcc 12 copies the __int128 halves around. */
    __asm__("mulq %3" : "=a"(low), "=d"(high) : "a"(offset), "rm"(magic) : "cc");
#else
    unsigned __int128 product = (unsigned __int128)offset * magic;
    high = (uint64_t)(product >> 64);
    low = (uint64_t)product;
#endif
    struct pm_slot_div d = {high, (low >> PM_SLOT_START_SHIFT) == 0};
    return d;
}

static inline uint64_t pm_slot_of(uint64_t offset, uint64_t magic) {
    return pm_slot_div(offset, magic).slot;
}

#pragma GCC visibility pop

#endif /* PM_SLOT_H */
