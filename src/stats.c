/* Statistics: per-cache object and slab counts, read on demand.
 *
 * Nothing here runs on the fast paths. Allocations are counted by each
 * thread in its own bins (fastpath.h) and summed on read; object and slab
 * counts come from the caches' out-of-line slot states; frees follow as
 * allocations minus live objects. Reads take no lock on the caches, so they
 * work at exit and in a signal handler, and see other threads' recent
 * updates late or early: a snapshot, not an atomic one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fmt.h"
#include "init.h"
#include "large.h"
#include "partition.h"
#include "os.h"
#include "slab.h"
#include "stats.h"
#include "stats_format.h"
#include "tcache.h"
#include "token_stats.h"

static struct pm_options stats_opts;

void pm_stats_configure(const struct pm_options *o) {
    stats_opts = *o;
}

/* Live and cached objects, and slabs with a live object, of the slabs
 * carved out of one region. */
static void count_slots(const struct pm_cache *c, const struct pm_segment *seg, struct pm_cache_stats *out) {
    size_t used = __atomic_load_n(&seg->used_slabs, __ATOMIC_ACQUIRE);
    for (size_t s = 0; s < used; s++) {
        if (seg->slabs[s].list == PM_LIST_DECOMMITTED)
            continue;
        size_t live = 0, cached = 0;
        const uint8_t *st = seg->state + pm_slab_first_slot(c, s);
        for (uint32_t i = 0; i < c->objs_per_slab; i++) {
            live += st[i] == PM_SLOT_LIVE;
            cached += st[i] == PM_SLOT_CACHED || st[i] == PM_SLOT_CACHED_NEVER;
        }
        out->total_slabs++;
        out->active_slabs += live != 0;
        out->active_objs += live;
        out->cached_objs += cached;
    }
}

static bool cache_stats(size_t cid, struct pm_cache_stats *out) {
    const struct pm_cache *c = &pm_caches[cid];
    if (!PM_CID_VALID(cid))
        return false;
    size_t used = __atomic_load_n(&c->first.used_slabs, __ATOMIC_ACQUIRE);
    uint64_t allocs = __atomic_load_n(&c->uncached_allocs, __ATOMIC_RELAXED) + pm_tcache_allocs(cid);
    if (used == 0 && allocs == 0)
        return false;
    memset(out, 0, sizeof *out);
    pm_cache_name(cid, out->name);
    out->kind = c->kind;
    out->partition = c->partition;
    out->size_class = c->size_class;
    out->object_size = c->obj_size;
    out->objs_per_slab = c->objs_per_slab;
    out->pages_per_slab = c->slab_bytes / PM_PAGE;
    uint32_t segments = __atomic_load_n(&c->segments, __ATOMIC_ACQUIRE);
    for (uint32_t k = 0; k < segments; k++)
        count_slots(c, pm_cache_segment(c, k), out);
    out->total_objs = out->total_slabs * c->objs_per_slab;
    out->peak_objs = __atomic_load_n(&c->peak_objs_out, __ATOMIC_RELAXED);
    out->allocs = allocs;
    out->frees = allocs > out->active_objs ? allocs - out->active_objs : 0;
    return true;
}

PM_EXPORT size_t pm_stats_caches(struct pm_cache_stats *out, size_t max) {
    pm_ensure_init();
    size_t n = 0;
    struct pm_cache_stats one;
    for (size_t cid = pm_cache_next(0); cid < pm_g.num_caches; cid = pm_cache_next(cid + 1))
        if (cache_stats(cid, n < max ? &out[n] : &one))
            n++;
    return n;
}

PM_EXPORT void pm_stats_large(struct pm_large_stats *out) {
    pm_ensure_init();
    pm_large_counts(out);
    out->frees = out->allocs > out->active_blocks ? out->allocs - out->active_blocks : 0;
}

PM_EXPORT void pm_stats_small(struct pm_small_stats *out) {
    pm_ensure_init();
    out->peak_bytes = pm_small_bytes_peak();
    out->active_bytes = 0;
    struct pm_cache_stats one;
    for (size_t cid = pm_cache_next(0); cid < pm_g.num_caches; cid = pm_cache_next(cid + 1))
        if (cache_stats(cid, &one))
            out->active_bytes += one.active_objs * one.object_size;
}

/* ---- writing ---- */

static bool write_fd(void *ctx, const char *text, size_t len) {
    int fd = *(int *)ctx;
    while (len) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        text += n;
        len -= (size_t)n;
    }
    return true;
}

static size_t exe_path(char *out, size_t size) {
    ssize_t n = readlink("/proc/self/exe", out, size - 1);
    n = n < 0 ? 0 : n;
    out[n] = '\0';
    return (size_t)n;
}

/* ---- call sites' files ---- */

#define SITES_SHOWN 32
#define MODULE_PATH_MAX 256

/* Where the sites' files come from: one line of /proc/self/maps. */
struct maps_line {
    uint64_t start, end, offset;
    const char *path; /* NULL for an anonymous mapping */
};

static uint64_t parse_hex(const char **p) {
    uint64_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16;
        if (d == 16)
            return v;
        v = v * 16 + d;
    }
}

static const char *skip_field(const char *p) {
    while (*p && *p != ' ')
        p++;
    while (*p == ' ')
        p++;
    return p;
}

/* "start-end perms offset dev inode   path" */
static bool parse_maps_line(const char *line, struct maps_line *m) {
    const char *p = line;
    m->start = parse_hex(&p);
    if (*p++ != '-')
        return false;
    m->end = parse_hex(&p);
    p = skip_field(p); /* to perms */
    p = skip_field(p); /* to offset */
    m->offset = parse_hex(&p);
    p = skip_field(p); /* to dev */
    p = skip_field(p); /* to inode */
    p = skip_field(p); /* to the path, if any */
    m->path = *p == '/' ? p : NULL;
    return true;
}

/* Gives every site inside a file mapping of `m` its module and offset. */
static void place_sites(const struct maps_line *m, struct pm_site_entry *sites, size_t n,
                        char (*paths)[MODULE_PATH_MAX]) {
    if (!m->path)
        return;
    for (size_t i = 0; i < n; i++) {
        if (sites[i].module || sites[i].site < m->start || sites[i].site >= m->end)
            continue;
        size_t len = strlen(m->path);
        if (len >= MODULE_PATH_MAX)
            continue;
        memcpy(paths[i], m->path, len + 1);
        sites[i].module = paths[i];
        sites[i].offset = sites[i].site - m->start + m->offset;
    }
}

/* Reads /proc/self/maps with read(2) alone (a signal handler may be here)
 * and places each site in its file. Lines longer than the buffer are
 * skipped. */
static void resolve_site_modules(struct pm_site_entry *sites, size_t n, char (*paths)[MODULE_PATH_MAX]) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[4096 + MODULE_PATH_MAX];
    size_t have = 0;
    for (;;) {
        ssize_t got = read(fd, buf + have, sizeof buf - 1 - have);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        have += (size_t)got;
        buf[have] = '\0';
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            *nl = '\0';
            struct maps_line m;
            if (parse_maps_line(line, &m))
                place_sites(&m, sites, n, paths);
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        if (have == sizeof buf - 1) /* one line fills the buffer: drop it */
            have = 0;
        memmove(buf, line, have);
    }
    close(fd);
}

/* The snapshot lives in metadata pages of its own (no allocation through
 * malloc), kept for the next dump: a dump from a signal handler that
 * interrupts another finds it taken and makes its own. */
#define PM_CENSUS_MAX 8192
static void *snapshot_kept;

/* The busiest call sites and their files' names. */
struct site_pages {
    struct pm_site_entry sites[SITES_SHOWN];
    char paths[SITES_SHOWN][MODULE_PATH_MAX];
};

static size_t page_round(size_t n) {
    return (n + PM_PAGE - 1) & ~(size_t)(PM_PAGE - 1);
}

/* The caches' statistics, the sites, then the census. */
static size_t snapshot_bytes(size_t caches_max) {
    return page_round(caches_max * sizeof(struct pm_cache_stats)) + page_round(sizeof(struct site_pages)) +
           PM_CENSUS_MAX * sizeof(struct pm_census_entry);
}

static void *snapshot_take(size_t bytes) {
    void *s = __atomic_exchange_n(&snapshot_kept, NULL, __ATOMIC_ACQUIRE);
    return s ? s : pm_os_meta_alloc(bytes, PM_USE_STATS);
}

/* Its pages go back; the addresses are kept unless another dump kept its own. */
static void snapshot_give_back(void *s, size_t bytes) {
    pm_os_decommit(s, bytes);
    void *none = NULL;
    if (!__atomic_compare_exchange_n(&snapshot_kept, &none, s, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        pm_os_meta_free(s, bytes);
}

PM_EXPORT int pm_stats_write(int fd, enum pm_stats_format format) {
    pm_ensure_init();
    size_t max = pm_g.num_caches, bytes = snapshot_bytes(max);
    char *snapshot = snapshot_take(bytes);
    if (!snapshot)
        return -1;
    struct pm_cache_stats *caches = (struct pm_cache_stats *)snapshot;
    struct site_pages *sp = (struct site_pages *)(snapshot + page_round(max * sizeof(struct pm_cache_stats)));
    struct pm_census_entry *census = (struct pm_census_entry *)(snapshot + bytes - PM_CENSUS_MAX * sizeof *census);
    size_t census_count = pm_token_census(census, PM_CENSUS_MAX);
    uint64_t sites_seen = 0;
    size_t site_count = census_count ? pm_site_census(sp->sites, SITES_SHOWN, &sites_seen) : 0;
    if (site_count)
        resolve_site_modules(sp->sites, site_count, sp->paths);
    char exe[512];
    exe_path(exe, sizeof exe);
    struct pm_stats_view view = {
        .caches = caches,
        .count = pm_stats_caches(caches, max),
        .mode = pm_g.mode,
        .partitions = pm_g.partitions,
        .token_max = pm_g.token_max == UINT64_MAX ? 0 : pm_g.token_max,
        .plain_calls_unknown = pm_plain_calls_unknown(),
        .pid = (long)getpid(),
        .exe = exe,
        .census = census_count ? census : NULL,
        .census_count = census_count < PM_CENSUS_MAX ? census_count : PM_CENSUS_MAX,
        .sites = site_count ? sp->sites : NULL,
        .site_count = site_count,
        .sites_seen = sites_seen,
        .width = format == PM_STATS_HISTOGRAM ? pm_stats_width(fd) : 0,
    };
    pm_stats_large(&view.large);
    pm_stats_small(&view.small);
    int saved = errno;
    bool ok = pm_stats_render(&view, format, write_fd, &fd);
    int err = errno;
    snapshot_give_back(snapshot, bytes);
    errno = ok ? saved : err;
    return ok ? 0 : -1;
}

/* ---- at exit ---- */

/* Copies `path` into out with every "%p" replaced by the process id. */
static void expand_path(const char *path, char *out, size_t size) {
    size_t at = 0;
    for (; *path && at + 24 < size; path++) {
        if (path[0] == '%' && path[1] == 'p') {
            at += pm_fmt_u64(out + at, (uint64_t)getpid());
            path++;
        } else {
            out[at++] = *path;
        }
    }
    out[at] = '\0';
}

static void report_open_failure(const char *path) {
    static const char msg[] = "partmalloc: cannot write statistics to ";
    pm_write_stderr(msg, sizeof msg - 1);
    pm_write_stderr(path, strlen(path));
    pm_write_stderr("\n", 1);
}

__attribute__((destructor)) static void stats_at_exit(void) {
    if (!stats_opts.stats_at_exit || !pm_initialized)
        return;
    if (stats_opts.stats_stream >= 0) {
        /* after what the program left in stdout's buffer (exit flushes it
         * only after the destructors) */
        if (stats_opts.stats_stream == STDOUT_FILENO)
            fflush(stdout);
        pm_stats_write(stats_opts.stats_stream, stats_opts.stats_format);
        return;
    }
    char path[300];
    expand_path(stats_opts.stats_path, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || pm_stats_write(fd, stats_opts.stats_format) != 0)
        report_open_failure(path);
    if (fd >= 0)
        close(fd);
}

/* ---- on a signal ---- */

/* <dir>/partmalloc-<pid>.json, written to a temporary name first so a reader
 * never sees half a dump. */
static void dump_on_signal(int sig) {
    (void)sig;
    int saved = errno;
    char path[300], tmp[340];
    size_t at = strnlen(stats_opts.stats_dir, 256);
    memcpy(path, stats_opts.stats_dir, at);
    memcpy(path + at, "/partmalloc-", 12);
    at += 12;
    at += pm_fmt_u64(path + at, (uint64_t)getpid());
    memcpy(path + at, ".json", 6);
    /* the temporary name is the thread's own; an existing file or link is
     * never followed or overwritten */
    memcpy(tmp, path, at + 5);
    tmp[at + 5] = '.';
    size_t t = at + 6 + pm_fmt_u64(tmp + at + 6, (uint64_t)syscall(SYS_gettid));
    memcpy(tmp + t, ".tmp", 5);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        bool ok = pm_stats_write(fd, PM_STATS_JSON) == 0;
        close(fd);
        if (ok)
            rename(tmp, path);
        else
            unlink(tmp);
    }
    errno = saved;
}

void pm_stats_install_signal(void) {
    if (!stats_opts.stats_signal)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = dump_on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(stats_opts.stats_signal, &sa, NULL);
}
