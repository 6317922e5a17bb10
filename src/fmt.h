/* Numbers as text without stdio: the library formats its messages and
 * statistics itself (they may be written from a signal handler or while
 * the heap is corrupt). Header-only, shared with the partmalloc command. */
#ifndef PM_FMT_H
#define PM_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Writes v in decimal to out (at most 20 bytes); returns the length. */
static inline size_t pm_fmt_u64(char *out, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Writes v as 0x and lowercase hexadecimal (at most 18 bytes); returns the
 * length. */
static inline size_t pm_fmt_hex(char *out, uint64_t v) {
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++)
        out[2 + i] = tmp[n - 1 - i];
    return n + 2;
}

#endif /* PM_FMT_H */
