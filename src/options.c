/* The process's configuration: run-time options, read once from the
 * environment at the first allocation (secure_getenv: a set-user-ID program
 * ignores them all), and pm_g, filled from them. */
#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numparse.h"
#include "options.h"
#include "os.h"
#include "program.h"
#include "typed_map.h"
#include "stats_format.h"

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

/* For a security option, where falling back would give less than was
 * asked: one line naming the part of the value that is wrong, then the
 * process ends (exit status 1) before the program runs. */
__attribute__((noreturn)) static void refuse_invalid(const char *name, const char *value, const char *bad,
                                                     size_t bad_len, const char *accepted) {
    pm_write_stderr("partmalloc: invalid ", 20);
    pm_write_stderr(name, strlen(name));
    pm_write_stderr("='", 2);
    pm_write_stderr(value, strnlen(value, 64));
    pm_write_stderr("' at '", 6);
    pm_write_stderr(bad, bad_len < 64 ? bad_len : 64);
    pm_write_stderr("' (accepted: ", 13);
    pm_write_stderr(accepted, strlen(accepted));
    pm_write_stderr("); not starting\n", 16);
    _exit(1);
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
    if (pm_parse_u64(v, &n) && n >= 1 && n <= PM_MAX_PARTITIONS && (n & (n - 1)) == 0)
        o->partitions = (unsigned)n;
    else
        report_invalid("PARTMALLOC_PARTITIONS", v, "1, 2, 4, 8, 16, 32, 64", "16");
}

static void read_token_max(struct pm_options *o) {
    const char *v = secure_getenv("PARTMALLOC_TOKEN_MAX");
    if (!v)
        return;
    uint64_t n;
    if (pm_parse_u64(v, &n))
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
    if (pm_parse_u64(v, &n)) {
        o->seed = n;
        o->seed_set = true;
    } else {
        report_invalid("PARTMALLOC_SEED", v, "a decimal or 0x-hexadecimal 64-bit number", "a random seed");
    }
}

/* PARTMALLOC_REGION_SIZE=<power of two, 1M to 64G>: the most address space
 * a cache's region may have (a cache that fills one takes another). */
static void read_region_size(struct pm_options *o) {
    const char *v = secure_getenv("PARTMALLOC_REGION_SIZE");
    if (!v)
        return;
    char digits[24];
    size_t len = strnlen(v, sizeof digits);
    unsigned scale = 0;
    if (len > 1 && len < sizeof digits) {
        char unit = v[len - 1];
        scale = unit == 'K' || unit == 'k' ? 10 : unit == 'M' || unit == 'm' ? 20 : unit == 'G' || unit == 'g' ? 30 : 0;
    }
    uint64_t n = 0;
    bool ok = len < sizeof digits;
    if (ok) {
        memcpy(digits, v, len + 1);
        if (scale)
            digits[len - 1] = '\0';
        ok = pm_parse_u64(digits, &n) && n <= (UINT64_MAX >> scale);
    }
    n <<= scale;
    if (ok && n >= ((uint64_t)1 << PM_REGION_SHIFT_MIN) && n <= ((uint64_t)1 << PM_REGION_SHIFT_MAX) &&
        (n & (n - 1)) == 0)
        o->region_shift = (unsigned)__builtin_ctzll(n);
    else
        report_invalid("PARTMALLOC_REGION_SIZE", v, "a power of two from 1M to 64G, as bytes or with K, M or G",
                       "the largest the address space allows");
}

static void copy_option(char *dst, size_t size, const char *src) {
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* PARTMALLOC_STATS=stderr|stdout|<path>[,histogram|slabinfo|json] */
static void read_stats(struct pm_options *o) {
    const char *v = secure_getenv("PARTMALLOC_STATS");
    if (!v)
        return;
    const char *comma = strrchr(v, ',');
    size_t target_len = comma ? (size_t)(comma - v) : strlen(v);
    if (!*v || (comma && !pm_stats_format_parse(comma + 1, strlen(comma + 1), &o->stats_format))) {
        report_invalid("PARTMALLOC_STATS", v, "stderr, stdout or a file path, then optionally ,histogram ,slabinfo or ,json",
                       "no statistics");
        return;
    }
    if (target_len == 0 || target_len >= sizeof o->stats_path) {
        report_invalid("PARTMALLOC_STATS", v, "stderr, stdout or a file path of up to 255 bytes, then optionally a format",
                       "no statistics");
        return;
    }
    o->stats_at_exit = true;
    o->stats_stream = target_len == 6 && memcmp(v, "stderr", 6) == 0   ? STDERR_FILENO
                      : target_len == 6 && memcmp(v, "stdout", 6) == 0 ? STDOUT_FILENO
                                                                         : -1;
    memcpy(o->stats_path, v, target_len);
    o->stats_path[target_len] = '\0';
}

static int signal_number(const char *v) {
    static const struct {
        const char *name;
        int number;
    } names[] = {{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(v, names[i].name) == 0)
            return names[i].number;
    uint64_t n;
    if (pm_parse_u64(v, &n) && (n == SIGUSR1 || n == SIGUSR2 || (n >= (uint64_t)SIGRTMIN && n <= (uint64_t)SIGRTMAX)))
        return (int)n;
    return 0;
}

static void read_stats_signal(struct pm_options *o) {
    const char *v = secure_getenv("PARTMALLOC_STATS_SIGNAL");
    if (v && !(o->stats_signal = signal_number(v)))
        report_invalid("PARTMALLOC_STATS_SIGNAL", v, "USR1, USR2, or a signal number: 10, 12, 34-64", "none");
    const char *dir = secure_getenv("PARTMALLOC_STATS_DIR");
    if (dir && !*dir)
        report_invalid("PARTMALLOC_STATS_DIR", dir, "a directory", "/tmp");
    copy_option(o->stats_dir, sizeof o->stats_dir, dir && *dir ? dir : "/tmp");
}

/* ---- PARTMALLOC_HARDEN=<preset>[,<feature>=on|off]... ----
 * Case matters, and every item must be one of these: an invalid value
 * stops the process rather than give less protection than was asked. */

static const struct {
    const char *name;
    size_t offset;
} harden_features[] = {
    {"slot_order", offsetof(struct pm_harden, slot_order)},
    {"group_guards", offsetof(struct pm_harden, group_guards)},
    {"slab_guards", offsetof(struct pm_harden, slab_guards)},
    {"zero_on_free", offsetof(struct pm_harden, zero_on_free)},
    {"canary", offsetof(struct pm_harden, canary)},
    {"quarantine", offsetof(struct pm_harden, quarantine)},
    {"checked_usable", offsetof(struct pm_harden, checked_usable)},
    {"large_reuse", offsetof(struct pm_harden, large_reuse)},
    {"large_quarantine", offsetof(struct pm_harden, large_quarantine)},
    {"zero_inaccessible", offsetof(struct pm_harden, zero_inaccessible)},
};
#define HARDEN_ACCEPTED                                                                                  \
    "default, strict or off, then ,<feature>=on|off for slot_order, group_guards, slab_guards, "         \
    "zero_on_free, canary, quarantine, checked_usable, large_reuse, large_quarantine, "       \
    "zero_inaccessible"

/* The preset's name as the options keep it, NULL for none. */
static const char *harden_preset_name(const char *name, size_t len) {
    static const char *const names[] = {"default", "strict", "off"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && !memcmp(names[i], name, len))
            return names[i];
    return NULL;
}

static bool harden_preset(const char *name, size_t len, struct pm_harden *h) {
    static const struct pm_harden off = {.large_reuse = true};
    static const struct pm_harden dflt = {.slot_order = true, .group_guards = true, .large_reuse = true};
    static const struct pm_harden strict = {.slot_order = true, .group_guards = true, .slab_guards = true,
                                            .zero_on_free = true, .canary = true, .quarantine = true,
                                            .checked_usable = true, .large_quarantine = true,
                                            .zero_inaccessible = true};
    const struct pm_harden *p = len == 7 && !memcmp(name, "default", 7) ? &dflt
                                : len == 6 && !memcmp(name, "strict", 6) ? &strict
                                : len == 3 && !memcmp(name, "off", 3) ? &off
                                                                       : NULL;
    if (p)
        *h = *p;
    return p != NULL;
}

/* One "<feature>=on|off" item of `len` bytes. */
static bool harden_feature(const char *item, size_t len, struct pm_harden *h) {
    const char *eq = memchr(item, '=', len);
    if (!eq)
        return false;
    size_t name_len = (size_t)(eq - item), value_len = len - name_len - 1;
    bool on;
    if (value_len == 2 && !memcmp(eq + 1, "on", 2))
        on = true;
    else if (value_len == 3 && !memcmp(eq + 1, "off", 3))
        on = false;
    else
        return false;
    for (size_t i = 0; i < sizeof harden_features / sizeof harden_features[0]; i++)
        if (strlen(harden_features[i].name) == name_len && !memcmp(harden_features[i].name, item, name_len)) {
            *(bool *)((char *)h + harden_features[i].offset) = on;
            return true;
        }
    return false;
}

static void read_harden(struct pm_options *o) {
    harden_preset("default", 7, &o->harden);
    o->harden_preset = "default";
    const char *v = secure_getenv("PARTMALLOC_HARDEN");
    if (!v)
        return;
    struct pm_harden h = o->harden;
    const char *item = v;
    for (bool first = true;; first = false) {
        size_t len = strcspn(item, ",");
        if (first && harden_preset(item, len, &h))
            o->harden_preset = harden_preset_name(item, len);
        else if (!harden_feature(item, len, &h))
            refuse_invalid("PARTMALLOC_HARDEN", v, item, len, HARDEN_ACCEPTED);
        if (!item[len])
            break;
        item += len + 1;
    }
    o->harden = h;
}

/* PARTMALLOC_PURGE=decay|now|<N>: when empty slabs' pages go back to the
 * OS (slab.c): after PM_PURGE_DECAY_DEFAULT cache operations without
 * reuse, at once, or after N operations. */
#define PM_PURGE_DECAY_MAX (1u << 30) /* the clock's differences fit 31 bits */
static void read_purge(struct pm_options *o) {
    o->purge_decay = PM_PURGE_DECAY_DEFAULT;
    const char *v = secure_getenv("PARTMALLOC_PURGE");
    if (!v)
        return;
    uint64_t n;
    if (strcmp(v, "decay") == 0)
        return;
    if (strcmp(v, "now") == 0)
        o->purge_decay = 0;
    else if (pm_parse_u64(v, &n) && n >= 1 && n <= PM_PURGE_DECAY_MAX)
        o->purge_decay = (uint32_t)n;
    else
        report_invalid("PARTMALLOC_PURGE", v, "decay, now, or a decay of 1 to 1073741824 cache operations", "decay");
}

static void read_verbose(struct pm_options *o) {
    const char *v = secure_getenv("PARTMALLOC_VERBOSE");
    o->verbose = false;
    if (!v)
        return;
    if (strcmp(v, "1") == 0 || strcmp(v, "0") == 0)
        o->verbose = v[0] == '1';
    else
        report_invalid("PARTMALLOC_VERBOSE", v, "0, 1", "0");
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
    o->program_has_tokens = &partmalloc_token_max || pm_program_has_tokens();
    o->seed_set = false;
    o->seed = 0;
    read_mode(o);
    read_partitions(o);
    read_token_max(o);
    read_seed(o);
    o->region_shift = 0;
    read_region_size(o);
    o->stats_at_exit = false;
    o->stats_stream = -1;
    o->stats_format = PM_STATS_HISTOGRAM;
    o->stats_signal = 0;
    read_stats(o);
    read_stats_signal(o);
    read_harden(o);
    read_verbose(o);
    read_purge(o);
}

static bool to_stderr(void *ctx, const char *text, size_t len) {
    (void)ctx;
    pm_write_stderr(text, len);
    return true;
}

void pm_config_report(const struct pm_options *o) {
    if (!o->verbose)
        return;
    enum { FEATURES = sizeof harden_features / sizeof harden_features[0] };
    struct pm_config_feature features[FEATURES];
    for (size_t i = 0; i < FEATURES; i++)
        features[i] = (struct pm_config_feature){
            harden_features[i].name, *(const bool *)((const char *)&pm_g.harden + harden_features[i].offset)};
    struct pm_config_view view = {
        .mode = pm_g.mode,
        .partitions = pm_g.partitions,
        .token_max = pm_g.token_max == UINT64_MAX ? 0 : pm_g.token_max,
        .pid = (long)getpid(),
        .preset = o->harden_preset,
        .features = features,
        .feature_count = FEATURES,
    };
    pm_config_render(&view, to_stderr, NULL);
}

/* ---- the settings every layer reads ---- */

struct pm_globals pm_g = {.partitions = 1, .secret_mul = 1};

void pm_config_apply(const struct pm_options *o) {
    pm_g.mode = o->mode;
    pm_g.partitions = o->mode == PM_MODE_NONE ? 1 : o->partitions;
    pm_g.part_mask = (uint64_t)(pm_g.partitions - 1) << PM_PART_SHIFT;
    pm_g.num_caches = (pm_g.partitions + PM_EXTRA_GROUPS) << PM_CLASS_BITS;
    pm_g.bucket_group = pm_g.partitions;
    pm_g.dedicated_cid = (pm_g.partitions + PM_MAX_BUCKET_SETS) << PM_CLASS_BITS;
    pm_g.token_max = o->token_max ? o->token_max : UINT64_MAX;
    pm_g.token_half = pm_g.token_max / 2;
    pm_g.void_token = pm_void_token(pm_g.token_half);
    pm_g.unknown_mask = pm_g.partitions >= 4 ? (uint64_t)(pm_g.partitions / 4 - 1) << PM_PART_SHIFT : 0;
    bool unknown_group = o->mode == PM_MODE_TYPED && o->program_has_tokens;
    pm_g.site_mask = unknown_group ? pm_g.unknown_mask : pm_g.part_mask;
    pm_g.region_shift_max = o->region_shift ? o->region_shift : PM_REGION_SHIFT_MAX;
    uint64_t key[2];
    if (o->seed_set) {
        key[0] = o->seed ^ 0x243f6a8885a308d3ull;
        key[1] = o->seed * 0x9e3779b97f4a7c15ull + 0x13198a2e03707344ull;
    } else {
        pm_os_random(key, sizeof key);
    }
    pm_g.harden = o->harden;
    pm_g.slow_only = pm_harden_slow_only(&o->harden);
    pm_g.purge_decay = o->purge_decay;
    pm_g.secret = key[0];
    pm_g.secret_mul = key[1] | 1; /* odd: a bijection on 64-bit values */
    uint64_t more[3];
    if (o->seed_set) { /* reproducible runs (tests): derived from the seed */
        for (int i = 0; i < 3; i++)
            more[i] = (o->seed + (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
    } else {
        pm_os_random(more, sizeof more);
    }
    pm_g.canary_key[0] = more[0];
    pm_g.canary_key[1] = more[1] | 1;
    pm_g.order_key = more[2];
}
