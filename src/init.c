/* Process start and fork.
 *
 * Initialization runs on the first allocation, which under LD_PRELOAD may
 * come from the dynamic loader before any constructor; a constructor makes
 * sure it has happened before main. It reads the options, draws the secret,
 * reserves the address space and creates the thread-cache key; none of that
 * allocates. Fork handlers, registered after, hold every lock across fork()
 * so the child starts with consistent caches.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "internal.h"

int pm_initialized;
static pm_lock_t init_lock = PM_LOCK_INIT;
static __thread bool initializing __attribute__((tls_model("initial-exec")));

static void fork_prepare(void) {
    pm_lock(&init_lock);
    pm_census_lock_all();
    pm_tcache_lock_all();
    pm_harden_lock_all();
    pm_large_lock_all();
    pm_caches_lock_all();
}

static void fork_parent(void) {
    pm_caches_unlock_all();
    pm_large_unlock_all();
    pm_harden_unlock_all();
    pm_tcache_unlock_all();
    pm_census_unlock_all();
    pm_unlock(&init_lock);
}

/* Only this thread exists in the child: fresh locks, same caches. The
 * caches of the parent's other threads stay out of use. */
static void fork_child(void) {
    pm_caches_reinit_locks();
    pm_large_reinit_locks();
    pm_harden_reinit_locks();
    pm_tcache_reinit_locks();
    pm_census_reinit_locks();
    pthread_mutex_init(&init_lock, NULL);
}

static void set_globals(const struct pm_options *o) {
    pm_g.mode = o->mode;
    pm_g.partitions = o->mode == PM_MODE_NONE ? 1 : o->partitions;
    pm_g.part_mask = (uint64_t)(pm_g.partitions - 1) << PM_PART_SHIFT;
    pm_g.num_caches = (pm_g.partitions + PM_EXTRA_GROUPS) << PM_CLASS_BITS;
    pm_g.bucket_group = pm_g.partitions;
    pm_g.dedicated_cid = (pm_g.partitions + PM_MAX_BUCKET_SETS) << PM_CLASS_BITS;
    pm_g.token_max = o->token_max ? o->token_max : UINT64_MAX;
    pm_g.token_half = pm_g.token_max / 2;
    uint64_t key[2];
    if (o->seed_set) {
        key[0] = o->seed ^ 0x243f6a8885a308d3ull;
        key[1] = o->seed * 0x9e3779b97f4a7c15ull + 0x13198a2e03707344ull;
    } else {
        pm_os_random(key, sizeof key);
    }
    pm_g.harden = o->harden;
    pm_g.slow_only = pm_harden_slow_only(&o->harden);
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

void pm_init_slow(void) {
    if (initializing)
        pm_fatal("allocation during initialization");
    pm_lock(&init_lock);
    if (pm_initialized) {
        pm_unlock(&init_lock);
        return;
    }
    initializing = true;
    struct pm_options o;
    pm_options_read(&o);
    set_globals(&o);
    pm_caches_init();
    pm_tcache_init();
    pm_stats_configure(&o);
    __atomic_store_n(&pm_initialized, 1, __ATOMIC_RELEASE);
    initializing = false;
    pm_unlock(&init_lock);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

__attribute__((constructor)) static void pm_constructor(void) {
    pm_ensure_init();
    pm_stats_install_signal();
}
