/* One parser for unsigned numbers in options, shared by the library (the
 * PARTMALLOC_* variables) and the partmalloc command (its flags): a whole
 * decimal or 0x-prefixed hexadecimal number, nothing before or after it,
 * no sign, no octal, no overflow. Header-only and allocation-free, so the
 * library can run it before it is initialized. */
#ifndef PM_NUMPARSE_H
#define PM_NUMPARSE_H

#include <stdbool.h>
#include <stdint.h>

static inline bool pm_parse_u64(const char *s, uint64_t *out) {
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (*s == '\0')
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A' + 10);
        else
            return false;
        if (v > (UINT64_MAX - d) / base)
            return false;
        v = v * base + d;
    }
    *out = v;
    return true;
}

#endif /* PM_NUMPARSE_H */
