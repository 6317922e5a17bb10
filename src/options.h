/* The process's configuration: the options read once from the environment
 * (options.c), and pm_g, the settings every layer reads, filled from them
 * with the process's secrets at start-up (pm_config_apply, from init.c). */
#ifndef PM_OPTIONS_H
#define PM_OPTIONS_H

#include "types.h"

#pragma GCC visibility push(hidden)

/* Defences chosen by PARTMALLOC_HARDEN (docs/security.md). */
struct pm_harden {
    bool slot_order;        /* random slot order within each slab */
    bool group_guards;      /* a guard page between groups of slabs */
    bool slab_guards;       /* a guard page after every slab */
    bool zero_on_free;      /* freed objects zeroed, checked still zero on reuse */
    bool canary;            /* a canary after each object, checked on free */
    bool quarantine;        /* freed objects reused late, in random order */
    bool checked_usable;    /* malloc_usable_size returns the size asked for */
    bool large_reuse;       /* freed large blocks kept mapped for reuse */
    bool large_quarantine;  /* freed large ranges held inaccessible before reuse */
    bool zero_inaccessible; /* malloc(0) returns distinct inaccessible pointers */
};
/* The defences above that need the size of each request and every free on
 * the slow path: with any of them the thread caches are bypassed. */
static inline bool pm_harden_slow_only(const struct pm_harden *h) {
    return h->zero_on_free || h->canary || h->quarantine || h->checked_usable || h->zero_inaccessible;
}

/* PARTMALLOC_PURGE's default: empty slabs kept for this many cache
 * operations without reuse (slab.c). */
#define PM_PURGE_DECAY_DEFAULT 16384u

struct pm_options {
    enum pm_mode mode;
    unsigned partitions;
    uint64_t token_max;   /* 0 = SIZE_MAX, Clang's default */
    bool program_has_tokens; /* built with allocation tokens (program.c) */
    bool seed_set;
    uint64_t seed;
    unsigned region_shift;  /* PARTMALLOC_REGION_SIZE's log2; 0: as large as fits */
    /* PARTMALLOC_STATS=stderr|stdout|<path>[,format]: statistics at exit */
    bool stats_at_exit;
    int stats_stream;               /* STDERR_FILENO or STDOUT_FILENO for stderr or stdout; -1: the path */
    char stats_path[256];           /* "%p" becomes the process id */
    enum pm_stats_format stats_format;
    /* PARTMALLOC_STATS_SIGNAL=<signal>: a JSON dump on demand, written to
     * PARTMALLOC_STATS_DIR (default /tmp) as partmalloc-<pid>.json */
    int stats_signal;               /* 0: none */
    char stats_dir[256];
    struct pm_harden harden;
    const char *harden_preset;      /* "default", "strict" or "off" */
    bool verbose;                   /* PARTMALLOC_VERBOSE=1: the configuration on stderr at start */
    uint32_t purge_decay;           /* PARTMALLOC_PURGE: 0 = now, else the decay in cache operations */
};
void pm_options_read(struct pm_options *out);

/* The settings every layer reads; written once, by pm_config_apply. */
struct pm_globals {
    enum pm_mode mode;
    unsigned partitions;
    uint64_t part_mask;       /* (partitions - 1) << PM_PART_SHIFT */
    unsigned num_caches;      /* cache ids: (partitions + PM_EXTRA_GROUPS) << PM_CLASS_BITS */
    unsigned bucket_group;    /* group of bucket set 0: partitions */
    unsigned dedicated_cid;   /* first dedicated cache id */
    uint64_t token_half;      /* tokens >= this (and < token_max) hold pointers */
    uint64_t token_max;
    uint64_t void_token;      /* the token of `void`: no type (partition.h) */
    /* Masks of the partitions a call site may choose among (pre-shifted):
     * site_mask for calls without a token: part_mask in random mode and for
     * a program without tokens, unknown_mask once the program has them (it
     * changes at most once, when a token call proves so); unknown_mask for
     * the unknown group, [0, N/4). */
    uint64_t site_mask;
    uint64_t unknown_mask;
    unsigned region_shift_max; /* log2 of the largest region a cache may have */
    struct pm_harden harden;
    bool slow_only;           /* pm_harden_slow_only(&harden): thread caches bypassed */
    /* Empty slabs are kept committed until this many cache operations
     * (refills and flushes, all caches) pass without their reuse; 0: one
     * empty slab per cache kept, the others' pages returned at once. */
    uint32_t purge_decay;
    /* Secrets, each drawn on its own so that one leaked does not give away
     * another: the canary's, and the seed of slot order and quarantine. */
    uint64_t canary_key[2];
    uint64_t order_key;
    uint64_t secret;          /* keys the call-site hash */
    uint64_t secret_mul;      /* odd multiplier derived from the secret */
};
extern struct pm_globals pm_g;
/* Fills pm_g from the options, drawing the secrets (or deriving them from
 * PARTMALLOC_SEED). */
void pm_config_apply(const struct pm_options *o);
/* With PARTMALLOC_VERBOSE=1, writes the configuration pm_g holds to stderr. */
void pm_config_report(const struct pm_options *o);

#pragma GCC visibility pop

#endif /* PM_OPTIONS_H */
