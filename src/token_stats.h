/* Token statistics (token_stats.c), compiled in only for the counting
 * build (build/stats/libpartmalloc.so, `make stats-lib`): how many
 * allocations carried a type token, a fallback token, or none, and the
 * census of which token went to which partition. Elsewhere the counting
 * macros are empty and the census reads as empty. */
#ifndef PM_TOKEN_STATS_H
#define PM_TOKEN_STATS_H

#include "stats_format.h"
#include "types.h"

#pragma GCC visibility push(hidden)

/* An allocation call counts, at entry, in the totals (with a type token,
 * fallback, without one) and leaves its token pending; the census counts
 * it only when a slot of a kmalloc cache is handed out for it
 * (PM_STAT_SLOT, beside the cache's own allocation counter), so census and
 * the histogram's <allocs> count the same events: a realloc in place and a
 * large block are calls, not slots. `site` is the call's return address. */
#ifdef PM_TOKEN_STATS
void pm_stat_plain(const void *site);
void pm_stat_token(uint64_t token, const void *site);
void pm_stat_slot(size_t cache_id);
#define PM_STAT_PLAIN(site) pm_stat_plain(site)
#define PM_STAT_TOKEN(t, site) pm_stat_token((t), (site))
#define PM_STAT_SLOT(cid) pm_stat_slot(cid)
#else
#define PM_STAT_PLAIN(site) ((void)0)
#define PM_STAT_TOKEN(t, site) ((void)0)
#define PM_STAT_SLOT(cid) ((void)0)
#endif

/* Fills out[0 .. max) with the (token, partition) pairs seen; returns how
 * many there are. Always 0 outside the counting build. */
size_t pm_token_census(struct pm_census_entry *out, size_t max);
/* Fills out[0 .. max) with the call sites that took the most slots, most
 * first (module and offset left empty); returns how many it wrote and, in
 * *seen, how many distinct sites there were. 0 outside the counting build. */
size_t pm_site_census(struct pm_site_entry *out, size_t max, uint64_t *seen);
void pm_census_lock_all(void);    /* across fork; no-ops outside the counting build */
void pm_census_unlock_all(void);
void pm_census_reinit_locks(void);
/* At start: outside the counting build, a line on stderr if
 * PARTMALLOC_TOKEN_STATS asks for counts (nothing in the counting build). */
void pm_token_stats_check(void);

#pragma GCC visibility pop

#endif /* PM_TOKEN_STATS_H */
