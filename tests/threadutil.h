/* Helpers shared by the multi-threaded tests (test_threads.c, test_fork.c):
 * the content pattern objects are filled with and checked against, and
 * slots of live objects exchanged under a mutex.
 *
 * Only static inline functions on plain memory, so the header suits every
 * build of those tests (including the TSan one, -DPM_TEST_NO_INTERPOSE). */
#ifndef PM_TEST_THREADUTIL_H
#define PM_TEST_THREADUTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* murmur3's 64-bit finalizer: a bijective mix. */
static inline uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* ---- patterns ----
 *
 * Byte i of the pattern for `seed`: byte i % 8 of word i / 8 (little-endian),
 * so a prefix of a pattern is the pattern of the shorter size (realloc
 * checks). Each test picks the seed of an object (usually from its address
 * and size). */
static inline unsigned char pattern_byte(uint64_t seed, size_t i) {
    return (unsigned char)((seed ^ ((i / 8) * 0x9e3779b97f4a7c15ull)) >> ((i & 7) * 8));
}

/* Word at a time (the same bytes as pattern_byte). */
static inline void pattern_fill(void *p, size_t n, uint64_t seed) {
    unsigned char *b = p;
    size_t words = n / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = seed ^ (i * 0x9e3779b97f4a7c15ull);
        memcpy(b + i * 8, &w, 8);
    }
    for (size_t i = words * 8; i < n; i++)
        b[i] = pattern_byte(seed, i);
}

/* Offset of the first of the n bytes at p that differs from the pattern,
 * or -1 if all of them match. */
static inline long pattern_check(const void *p, size_t n, uint64_t seed) {
    const unsigned char *b = p;
    size_t words = n / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w;
        memcpy(&w, b + i * 8, 8);
        if (w != (seed ^ (i * 0x9e3779b97f4a7c15ull))) {
            for (size_t k = 0; k < 8; k++)
                if (b[i * 8 + k] != pattern_byte(seed, i * 8 + k))
                    return (long)(i * 8 + k);
        }
    }
    for (size_t i = words * 8; i < n; i++)
        if (b[i] != pattern_byte(seed, i))
            return (long)i;
    return -1;
}

/* ---- slots: one live object (or none) each, shared between threads ---- */

struct slot {
    void *p;
    size_t n;
};

/* Puts (p, n) into *s under `lock` and returns what was there (possibly
 * nothing). The mutex orders the writes of one thread before another's
 * reads. */
static inline struct slot slot_exchange(struct slot *s, pthread_mutex_t *lock, void *p, size_t n) {
    pthread_mutex_lock(lock);
    struct slot old = *s;
    s->p = p;
    s->n = n;
    pthread_mutex_unlock(lock);
    return old;
}

#endif /* PM_TEST_THREADUTIL_H */
