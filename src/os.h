/* The OS contract: the only layer that makes system calls for memory.
 *
 * Every mapping the library makes, changes or gives back goes through the
 * calls below; no other file calls mmap, munmap, mprotect, mremap or
 * madvise. The contract, for every call:
 *   - A call that can fail returns NULL or false and sets errno to ENOMEM
 *     (or what the kernel said, for injected failures what the test asked
 *     for); it never aborts and never leaves a partial mapping behind.
 *   - Nothing here allocates through malloc, takes a lock, or touches
 *     memory other than the range it is given (and, for metadata, the
 *     arena's record); errno is left as it was by every call that succeeds,
 *     and by the calls that return nothing.
 *   - Metadata (pm_os_meta_alloc) lives only in the metadata arenas, each
 *     kept at least a gap away (1 GiB, less only under an address-space
 *     limit) from every other mapping the library makes.
 *   - A mapping is named for what it holds (`[anon:partmalloc metadata]` in
 *     /proc/PID/maps) where the kernel supports PR_SET_VMA_ANON_NAME; where
 *     it does not, nothing else changes.
 * Randomness, the one-line fatal reports and stderr writes live here too:
 * they are the library's other system calls.
 */
#ifndef PM_OS_H
#define PM_OS_H

#include "types.h"

#pragma GCC visibility push(hidden)

/* What a mapping holds: its name in /proc/PID/maps. */
enum pm_os_use {
    PM_USE_SLABS,      /* the small-object regions */
    PM_USE_METADATA,   /* slot states, free maps, slab records, the cache table */
    PM_USE_TCACHE,     /* thread caches */
    PM_USE_LARGE,      /* a block above the largest size class, with its guards */
    PM_USE_ZERO,       /* the malloc(0) region and its states */
    PM_USE_STRICT,     /* the strict defences' per-slot sizes */
    PM_USE_STATS,      /* a statistics snapshot */
    PM_USE_COUNT
};

/* Address space with no access and no commit charge: NULL on failure. */
void *pm_os_reserve(size_t size, enum pm_os_use use);
/* One page of no access at exactly `addr`, where nothing is mapped
 * (MAP_FIXED_NOREPLACE); false if the address is taken or on failure. */
bool pm_os_reserve_at(void *addr, size_t size, enum pm_os_use use);
/* Read-write zeroed pages, no commit charge until touched: NULL on failure. */
void *pm_os_alloc(size_t size, enum pm_os_use use);
/* Replaces a range of the caller's own mappings (of any protection) by a
 * fresh reservation of no access at the same addresses (MAP_FIXED): the
 * pages are dropped at once, and the addresses never become free, so no
 * other mapping can take them in between. False on failure, after which
 * the range may be unmapped in part: the caller must release it. */
bool pm_os_reserve_over(void *addr, size_t size, enum pm_os_use use);
/* Read-write zeroed pages of metadata, carved from a metadata arena (no
 * commit charge until touched): NULL on failure. Fails like pm_os_alloc
 * under injection (PM_OS_FAIL_MAP). Safe in a signal handler. */
void *pm_os_meta_alloc(size_t size, enum pm_os_use use);
/* Metadata reserved but not yet writable: carved like pm_os_meta_alloc,
 * read-only, every byte reading zero. No commit charge, even where the
 * kernel ignores MAP_NORESERVE (vm.overcommit_memory = 2) and outside
 * RLIMIT_DATA: parts of it are made read-write with pm_os_commit as they
 * are used. NULL on failure (PM_OS_FAIL_MAP). */
void *pm_os_meta_reserve(size_t size, enum pm_os_use use);
/* Gives back a range of pm_os_meta_alloc or pm_os_meta_reserve: no access and no pages from now
 * on. Its addresses stay reserved (reused only if it was the last carved). */
void pm_os_meta_free(void *addr, size_t size);
/* The metadata arenas, for the tests: fills up to `max` entries, newest
 * first, and returns how many arenas there are. */
struct pm_os_range {
    char *start, *end; /* the whole reservation, gaps included */
    char *data;        /* the arena's record: carved metadata is in [data, used_end) */
    char *used_end;
};
size_t pm_os_meta_ranges(struct pm_os_range *out, size_t max);
/* The smaller of the address space the process may map (RLIMIT_AS) and
 * the private writable memory it may have (RLIMIT_DATA), SIZE_MAX when
 * neither is set: what reserves up front take a fraction of. */
size_t pm_os_space_limit(void);
/* Makes a reserved range read-write; false on failure (the range is then
 * as it was). */
bool pm_os_commit(void *addr, size_t size);
/* pm_os_commit of every page that [addr, addr + size) touches: for a
 * record inside a range reserved read-only. */
bool pm_os_commit_covering(const void *addr, size_t size);
/* Makes a range inaccessible (a guard); false on failure. */
bool pm_os_protect_none(void *addr, size_t size);
/* Makes a range fault on access without a mapping of its own (the
 * kernel's guard marks, MADV_GUARD_INSTALL, Linux 6.13+): its pages are
 * dropped, and the marks stay across pm_os_commit, pm_os_protect_none and
 * pm_os_decommit until the range is unmapped. False if the kernel has no
 * guard marks (pm_os_guard_marks_supported is false from then on) or on
 * failure; errno is left as it was. */
bool pm_os_guard_mark(void *addr, size_t size);
/* False once the kernel has refused a guard mark as unknown. */
bool pm_os_guard_marks_supported(void);
/* Gives a read-write range's pages back; the range stays mapped and
 * read-write, and the next touch faults in a zero page. */
void pm_os_decommit(void *addr, size_t size);
/* Which pages of [addr, addr + size) are resident: bit 0 of each byte of
 * `vec`, one per page (mincore). False if the kernel could not say. */
bool pm_os_resident(void *addr, size_t size, unsigned char *vec);
/* Unmaps a range (of any protection). */
void pm_os_release(void *addr, size_t size);
/* Grows or shrinks the mapping at `addr` from `old_size` to `new_size`
 * without moving it; false if the pages after it are taken. */
bool pm_os_resize(void *addr, size_t old_size, size_t new_size);
/* Moves the pages of `addr` (old_size bytes, grown to new_size) to `dest`,
 * replacing what is there (a reservation of the caller's); no copy. NULL on
 * failure, with the block as it was. */
void *pm_os_move(void *addr, size_t old_size, size_t new_size, void *dest);

/* Fault injection for the tests: of the calls of the kinds in `kinds` from
 * now on, the `nth` (1 = the next) and the `count - 1` after it fail with
 * `err`; later ones succeed again. nth = 0 turns injection off. The kinds
 * are the bits below; decommit and release never fail. */
enum {
    PM_OS_FAIL_MAP = 1u << 0,     /* reserve, reserve_at, reserve_over, alloc */
    PM_OS_FAIL_PROTECT = 1u << 1, /* commit, protect_none */
    PM_OS_FAIL_REMAP = 1u << 2,   /* resize, move */
    PM_OS_FAIL_GUARD_MARK = 1u << 3, /* guard_mark; EINVAL: the kernel has no guard marks, for good */
};
void pm_os_fail(unsigned kinds, uint64_t nth, uint64_t count, int err);
/* How many of the asked failures have not happened yet (0: all of them
 * did, or none was asked): a test sweeping nth knows when its workload
 * makes fewer calls than nth. */
uint64_t pm_os_fail_pending(void);

void pm_os_random(void *buf, size_t len);
void pm_write_stderr(const char *s, size_t len);
/* Formats "partmalloc: <what> at <ptr> (cache <name>)" and aborts. */
__attribute__((noreturn)) void pm_fatal_ptr(const char *what, const void *ptr, const char *cache);
__attribute__((noreturn)) void pm_fatal(const char *msg);

#pragma GCC visibility pop

#endif /* PM_OS_H */
