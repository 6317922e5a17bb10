/* Size classes: 8, 16, 32, 48, 64, then four steps per power of two up to
 * 1 MiB (32 KiB, PM_MAX_SMALL, is the last small class; the 20 above it are
 * page multiples, 40 KiB to 1 MiB). Every class from 16 bytes up is a multiple of 16, so objects are
 * 16-byte aligned; above 64 bytes a request wastes at most 20% of its slot
 * (65 bytes in an 80-byte slot); at or below 64 bytes the 16-byte alignment
 * itself sets the step, and the waste is at most 15 bytes. */
#include "sizeclass.h"

const uint32_t pm_class_size[PM_NUM_CLASSES] = {
    8,     16,    32,    48,    64,    80,    96,    112,   128,   160,   192,   224,   256,   320,
    384,   448,   512,   640,   768,   896,   1024,  1280,  1536,  1792,  2048,  2560,  3072,  3584,
    4096,  5120,  6144,  7168,  8192,  10240, 12288, 14336, 16384, 20480, 24576, 28672, 32768,
    40960,   49152,   57344,   65536,   81920,   98304,   114688,  131072,  163840,  196608,
    229376,  262144,  327680,  393216,  458752,  524288,  655360,  786432,  917504,  1048576,
};

/* Class index for a size above 64: with 2^e < size <= 2^(e+1), the class is
 * the k-th quarter step above 2^e. Usable in constant expressions. */
#define PM_LOG2_FLOOR(x) (63 - __builtin_clzll((unsigned long long)(x)))
#define PM_CLASS_ABOVE_64(s)                                                                       \
    (4u + (unsigned)(PM_LOG2_FLOOR((s) - 1) - 6) * 4u +                                            \
     (unsigned)((((s) - 1) - (1ull << PM_LOG2_FLOOR((s) - 1))) >> (PM_LOG2_FLOOR((s) - 1) - 2)) + 1u)
#define PM_CLASS_OF(s)                                                                             \
    ((s) <= 8 ? 0u : (s) <= 16 ? 1u : (s) <= 32 ? 2u : (s) <= 48 ? 3u : (s) <= 64 ? 4u : PM_CLASS_ABOVE_64(s))

/* Direct table for sizes up to 1 KiB, indexed by the size itself: one load
 * on the allocation fast path, no arithmetic. */
#define T1(i) (PM_CLASS_OF((i) + 0ull) << PM_ENTRY_SHIFT)
#define T4(i) T1(i), T1((i) + 1), T1((i) + 2), T1((i) + 3)
#define T16(i) T4(i), T4((i) + 4), T4((i) + 8), T4((i) + 12)
#define T64(i) T16(i), T16((i) + 16), T16((i) + 32), T16((i) + 48)
#define T256(i) T64(i), T64((i) + 64), T64((i) + 128), T64((i) + 192)
const uint16_t pm_class_off_small[PM_SMALL_LOOKUP_MAX + 1] = {T256(0), T256(256), T256(512), T256(768), T1(1024)};

unsigned pm_class_of_large_small(size_t size) {
    return PM_CLASS_ABOVE_64(size);
}

size_t pm_size_class_size(unsigned size_class) {
    return size_class < PM_NUM_CLASSES ? pm_class_size[size_class] : 0;
}
