/* Run-time options, read once from the environment at the first allocation.
 * secure_getenv: a set-user-ID program ignores them all. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void report_invalid(const char *name, const char *value, const char *accepted, const char *used) {
    pm_write_stderr("partmalloc: invalid ", 20);
    pm_write_stderr(name, strlen(name));
    pm_write_stderr("='", 2);
    pm_write_stderr(value, strnlen(value, 64));
    pm_write_stderr("' (accepted: ", 13);
    pm_write_stderr(accepted, strlen(accepted));
    pm_write_stderr("); using ", 9);
    pm_write_stderr(used, strlen(used));
    pm_write_stderr("\n", 1);
}

/* Parses a whole decimal or 0x-prefixed hexadecimal number. */
static bool parse_u64(const char *s, uint64_t *out) {
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

static void read_mode(struct pm_options *o) {
    const char *v = secure_getenv("PARTMALLOC_MODE");
    if (!v)
        return;
    if (strcmp(v, "typed") == 0)
        o->mode = PM_MODE_TYPED;
    else if (strcmp(v, "random") == 0)
        o->mode = PM_MODE_RANDOM;
    else if (strcmp(v, "none") == 0)
        o->mode = PM_MODE_NONE;
    else
        report_invalid("PARTMALLOC_MODE", v, "typed, random, none", "typed");
}

static void read_partitions(struct pm_options *o) {
    const char *v = secure_getenv("PARTMALLOC_PARTITIONS");
    if (!v)
        return;
    uint64_t n;
    if (parse_u64(v, &n) && n >= 1 && n <= PM_MAX_PARTITIONS && (n & (n - 1)) == 0)
        o->partitions = (unsigned)n;
    else
        report_invalid("PARTMALLOC_PARTITIONS", v, "1, 2, 4, 8, 16, 32, 64", "16");
}

static void read_token_max(struct pm_options *o) {
    const char *v = secure_getenv("PARTMALLOC_TOKEN_MAX");
    if (!v)
        return;
    uint64_t n;
    if (parse_u64(v, &n))
        o->token_max = n;
    else
        report_invalid("PARTMALLOC_TOKEN_MAX", v,
                       "the -falloc-token-max the program was built with, 0 for none", "0");
}

static void read_seed(struct pm_options *o) {
    const char *v = secure_getenv("PARTMALLOC_SEED");
    if (!v)
        return;
    uint64_t n;
    if (parse_u64(v, &n)) {
        o->seed = n;
        o->seed_set = true;
    } else {
        report_invalid("PARTMALLOC_SEED", v, "a decimal or 0x-hexadecimal 64-bit number", "a random seed");
    }
}

/* The token max can also come from the program itself: a program built with
 * `-falloc-token-max=M` may define `const unsigned long long
 * partmalloc_token_max = M;` (visible to the dynamic linker, which it is
 * when the program links against libpartmalloc). The environment wins. */
extern const unsigned long long partmalloc_token_max __attribute__((weak));

void pm_options_read(struct pm_options *o) {
    o->mode = PM_MODE_TYPED;
    o->partitions = 16;
    o->token_max = &partmalloc_token_max ? partmalloc_token_max : 0;
    o->seed_set = false;
    o->seed = 0;
    read_mode(o);
    read_partitions(o);
    read_token_max(o);
    read_seed(o);
}
