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

#include "harden.h"
#include "init.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "slab.h"
#include "stats.h"
#include "tcache.h"
#include "token_stats.h"

int pm_initialized;
static pm_lock_t init_lock = PM_LOCK_INIT;
static __thread bool initializing __attribute__((tls_model("initial-exec")));

static void fork_prepare(void) {
    /* Under the strict defences the forking thread's held slots and batch
     * go back first: the child starts with none in flight (those of other
     * threads stay held, never handed out, as their caches are unused). */
    if (pm_g.slow_only)
        pm_tcache_flush_current();
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
    pm_config_apply(&o);
    pm_caches_init();
    pm_tcache_init();
    pm_stats_configure(&o);
    pm_token_stats_check();
    pm_config_report(&o);
    __atomic_store_n(&pm_initialized, 1, __ATOMIC_RELEASE);
    initializing = false;
    pm_unlock(&init_lock);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

__attribute__((constructor)) static void pm_constructor(void) {
    pm_ensure_init();
    pm_stats_install_signal();
}
