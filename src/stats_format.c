/* Statistics as text: the partition histogram, /proc/slabinfo, JSON.
 * No allocation and no stdio: this runs at exit and in signal handlers. */
#define _GNU_SOURCE
#include "fmt.h"
#include "stats_format.h"
#include "typed_map.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "numparse.h"

/* Output buffered in a fixed array, flushed through the callback. With a
 * width, each line is gathered first and cut to the width, its last three
 * columns "...": no line of the histogram is wider. */
struct writer {
    pm_stats_out out;
    void *ctx;
    bool ok;
    unsigned width;             /* 0: lines as they come */
    size_t len, line_len;
    char buf[2048];
    char line[PM_STATS_WIDTH_MAX + 1];
};

static void flush(struct writer *w) {
    if (w->ok && w->len && !w->out(w->ctx, w->buf, w->len))
        w->ok = false;
    w->len = 0;
}

static void emit(struct writer *w, const char *s, size_t n) {
    while (n) {
        if (w->len == sizeof w->buf)
            flush(w);
        size_t room = sizeof w->buf - w->len, take = n < room ? n : room;
        memcpy(w->buf + w->len, s, take);
        w->len += take;
        s += take;
        n -= take;
    }
}

static void end_line(struct writer *w) {
    if (w->line_len > w->width) {
        w->line_len = w->width;
        memcpy(w->line + w->width - 3, "...", 3);
    }
    emit(w, w->line, w->line_len);
    w->line_len = 0;
}

static void put(struct writer *w, const char *s, size_t n) {
    if (!w->width) {
        emit(w, s, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n') {
            end_line(w);
            emit(w, "\n", 1);
        } else if (w->line_len <= w->width) { /* one past the width: the line is too long */
            w->line[w->line_len++] = s[i];
        }
    }
}

static void puts_(struct writer *w, const char *s) { put(w, s, strlen(s)); }

static void pad(struct writer *w, size_t n) {
    while (n--)
        put(w, " ", 1);
}

static void num(struct writer *w, uint64_t v) {
    char s[24];
    put(w, s, pm_fmt_u64(s, v));
}

/* Right-aligned in `width` columns. */
static void num_w(struct writer *w, uint64_t v, size_t width) {
    char s[24];
    size_t n = pm_fmt_u64(s, v);
    if (n < width)
        pad(w, width - n);
    put(w, s, n);
}

/* Left-aligned in `width` columns, at least one space after. */
static void str_w(struct writer *w, const char *s, size_t width) {
    size_t n = strlen(s);
    put(w, s, n);
    pad(w, n < width ? width - n : 1);
}

static void two_digits(struct writer *w, unsigned v) {
    char s[2] = {(char)('0' + v / 10 % 10), (char)('0' + v % 10)};
    put(w, s, 2);
}

static const char *mode_name(enum pm_mode m) {
    return m == PM_MODE_TYPED ? "typed" : m == PM_MODE_RANDOM ? "random" : "none";
}

static const char *kind_name(int kind) {
    return kind == PM_CACHE_KMALLOC ? "kmalloc" : kind == PM_CACHE_BUCKET ? "bucket" : "dedicated";
}

/* ---- histogram ---- */

/* Columns of a partition's line: its name and count (24), two spaces, the
 * bar, a space, the <types> column. */
#define ROW_LEAD 27u
#define BAR_MAX 40u
#define BAR_MIN 10u
#define LABEL_WANTED 60u /* the bar shrinks to leave the types this much */

/* The bar's width within the view's width: the types take what is left. */
static unsigned bar_width(const struct pm_stats_view *v, bool labels) {
    if (!v->width)
        return BAR_MAX;
    unsigned others = ROW_LEAD + (labels ? LABEL_WANTED : 0);
    unsigned room = v->width > others ? v->width - others : 0;
    return room > BAR_MAX ? BAR_MAX : room < BAR_MIN ? BAR_MIN : room;
}

/* The partition's name in a column of `width`. */
static void partition_name(struct writer *w, unsigned part, size_t width) {
    if (part == 0) {
        str_w(w, "kmalloc", width);
        return;
    }
    puts_(w, "kmalloc-part-");
    two_digits(w, part);
    pad(w, width - 15);
}

/* The bar, padded to its full width when a label follows. */
static void bar(struct writer *w, uint64_t objs, uint64_t most, unsigned width, bool padded) {
    uint64_t n = most ? objs * width / most : 0;
    if (n == 0 && objs)
        n = 1; /* any object at all shows */
    for (uint64_t i = 0; i < n; i++)
        put(w, "+", 1);
    if (padded)
        pad(w, width - n + 1);
}

/* The command's labels end in this group when some calls had no token
 * (tools/labels.c): a cut keeps it. */
#define NO_TOKEN_GROUP " | no token: "

/* The <types> column, cut with " ..." to the columns left of the width,
 * keeping a final "no token" count whole. */
static void label_within(struct writer *w, const char *label, unsigned bar_cols, unsigned width) {
    size_t n = strlen(label), room = width > ROW_LEAD + bar_cols ? width - ROW_LEAD - bar_cols : 0;
    if (!width || n <= room) {
        put(w, label, n);
        return;
    }
    const char *kept = NULL;
    for (const char *at = label; (at = strstr(at, NO_TOKEN_GROUP)); at++)
        kept = at;
    size_t kept_len = kept ? n - (size_t)(kept - label) : 0;
    if (kept_len + 8 > room) /* no room for names beside it: the names alone, cut */
        kept_len = 0;
    if (room > kept_len + 4) {
        put(w, label, room - kept_len - 4);
        puts_(w, " ...");
        put(w, label + n - kept_len, kept_len);
    }
}

/* Bytes for a person: "512 B", "72.0 KiB", "1.5 MiB", one decimal. */
static void bytes_h(struct writer *w, uint64_t v) {
    static const char *const units[] = {" KiB", " MiB", " GiB", " TiB"};
    if (v < 1024) {
        num(w, v);
        puts_(w, " B");
        return;
    }
    unsigned u = 0;
    uint64_t scale = 1024;
    while (u + 1 < sizeof units / sizeof units[0] && v / scale >= 1024) {
        scale *= 1024;
        u++;
    }
    uint64_t tenths = (v * 10 + scale / 2) / scale; /* v < 2^54 here in practice */
    num(w, tenths / 10);
    char d[2] = {'.', (char)('0' + tenths % 10)};
    put(w, d, 2);
    puts_(w, units[u]);
}

static void header_line(struct writer *w, const struct pm_stats_view *v) {
    puts_(w, "partmalloc: ");
    puts_(w, mode_name(v->mode));
    puts_(w, " mode, ");
    num(w, v->partitions);
    puts_(w, v->partitions == 1 ? " partition" : " partitions");
    if (v->mode == PM_MODE_TYPED) {
        puts_(w, ", token max ");
        if (v->token_max)
            num(w, v->token_max);
        else
            puts_(w, "none"); /* clang's default: no -falloc-token-max */
    }
    if (v->pid) {
        puts_(w, ", pid ");
        num(w, (uint64_t)v->pid);
    }
    puts_(w, "\n");
}

/* "N objects in 04-07 (what)" for one typed-mode group. */
static void group_line(struct writer *w, const struct pm_stats_view *v, const uint64_t *objs, enum pm_group g,
                       const char *what) {
    struct pm_group_range r = pm_group_range_of(g, v->partitions);
    uint64_t sum = 0;
    for (unsigned p = r.first; p < r.first + r.count; p++)
        sum += objs[p];
    puts_(w, "  ");
    num_w(w, sum, 10);
    puts_(w, v->count_allocations ? " allocations in " : " objects in ");
    two_digits(w, r.first);
    if (r.count > 1) {
        puts_(w, "-");
        two_digits(w, r.first + r.count - 1);
    } else {
        puts_(w, "   ");
    }
    puts_(w, " ");
    puts_(w, what);
    puts_(w, "\n");
}

/* Typed mode's three groups (typed_map.h): unknown, no pointers, pointers. */
static void split_summary(struct writer *w, const struct pm_stats_view *v, const uint64_t *objs) {
    unsigned n = v->partitions;
    if (v->mode != PM_MODE_TYPED || n < 2) {
        puts_(w, v->mode == PM_MODE_RANDOM ? "random mode: partitions follow a keyed hash of the call site, not the type\n"
                                           : "one partition: no pointer/data split\n");
        return;
    }
    if (n == 2) {
        group_line(w, v, objs, PM_GROUP_NO_POINTERS, "types without pointers");
        group_line(w, v, objs, PM_GROUP_POINTERS, "types with pointers, and unknown types");
    } else {
        group_line(w, v, objs, PM_GROUP_NO_POINTERS, "types without pointers");
        group_line(w, v, objs, PM_GROUP_POINTERS, "types with pointers");
        group_line(w, v, objs, PM_GROUP_UNKNOWN, "unknown types (0, void, >= max), by call site");
    }
    puts_(w, v->plain_calls_unknown ? "  calls without a token: with the unknowns (the program has tokens)\n"
                                    : "  calls without a token: over all partitions (the program has no tokens)\n");
}

static void other_caches(struct writer *w, const struct pm_stats_view *v) {
    bool first = true;
    for (size_t i = 0; i < v->count; i++) {
        const struct pm_cache_stats *c = &v->caches[i];
        if (c->kind == PM_CACHE_KMALLOC)
            continue;
        if (first)
            puts_(w, "<other cache>      <objs> <kind>\n");
        first = false;
        str_w(w, c->name, 18);
        num_w(w, c->active_objs, 6);
        puts_(w, "  ");
        puts_(w, kind_name(c->kind));
        puts_(w, "\n");
    }
}

/* "<what>N live, B (peak ", the peak to follow. */
static void live_then_peak(struct writer *w, const char *what, uint64_t live, uint64_t bytes) {
    puts_(w, what);
    num(w, live);
    puts_(w, " live, ");
    bytes_h(w, bytes);
    puts_(w, " (peak ");
}

/* Small objects' bytes, then large blocks': now, at their peak, in all. */
static void totals(struct writer *w, const struct pm_stats_view *v) {
    uint64_t live = 0;
    for (size_t i = 0; i < v->count; i++)
        live += v->caches[i].active_objs;
    live_then_peak(w, "small objects: ", live, v->small.active_bytes);
    bytes_h(w, v->small.peak_bytes);
    puts_(w, ")\n");
    live_then_peak(w, "large blocks: ", v->large.active_blocks, v->large.active_bytes);
    num(w, v->large.peak_blocks);
    puts_(w, ", ");
    bytes_h(w, v->large.peak_bytes);
    puts_(w, "), ");
    num(w, v->large.allocs);
    puts_(w, " allocated\n");
}

unsigned pm_stats_partition_counts(const struct pm_stats_view *v, uint64_t objs[PARTMALLOC_MAX_PARTITIONS]) {
    unsigned n = v->partitions <= PARTMALLOC_MAX_PARTITIONS ? v->partitions : PARTMALLOC_MAX_PARTITIONS;
    for (unsigned p = 0; p < PARTMALLOC_MAX_PARTITIONS; p++)
        objs[p] = 0;
    for (size_t i = 0; i < v->count; i++)
        if (v->caches[i].kind == PM_CACHE_KMALLOC && v->caches[i].partition < n)
            objs[v->caches[i].partition] += v->count_allocations ? v->caches[i].allocs : v->caches[i].active_objs;
    return n;
}

static void render_histogram(struct writer *w, const struct pm_stats_view *v) {
    uint64_t objs[PARTMALLOC_MAX_PARTITIONS], most = 0;
    unsigned n = pm_stats_partition_counts(v, objs);
    for (unsigned p = 0; p < n; p++)
        most = objs[p] > most ? objs[p] : most;
    unsigned bars = bar_width(v, v->partition_labels != NULL);
    header_line(w, v);
    puts_(w, v->count_allocations ? "<slab cache>     <allocs> <hist>" : "<slab cache>       <objs> <hist>");
    if (v->partition_labels) {
        pad(w, bars - 5);
        puts_(w, "<types>");
    }
    puts_(w, "\n");
    for (unsigned p = n; p-- > 0;) {
        const char *label = v->partition_labels ? v->partition_labels[p] : NULL;
        /* the two columns take 24 characters either way */
        partition_name(w, p, v->count_allocations ? 16 : 18);
        num_w(w, objs[p], v->count_allocations ? 8 : 6);
        if (objs[p] || (label && *label)) {
            puts_(w, "  ");
            bar(w, objs[p], most, bars, label && *label);
        }
        if (label)
            label_within(w, label, bars, v->width);
        puts_(w, "\n");
    }
    split_summary(w, v, objs);
    other_caches(w, v);
    totals(w, v);
}

/* ---- /proc/slabinfo, version 2.1 ---- */

static void render_slabinfo(struct writer *w, const struct pm_stats_view *v) {
    puts_(w, "slabinfo - version: 2.1\n");
    puts_(w, "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
             " : tunables <limit> <batchcount> <sharedfactor>"
             " : slabdata <active_slabs> <num_slabs> <sharedavail>\n");
    for (size_t i = 0; i < v->count; i++) {
        const struct pm_cache_stats *c = &v->caches[i];
        str_w(w, c->name, 17);
        num_w(w, c->active_objs, 6);
        const uint64_t objs[] = {c->total_objs, c->object_size, c->objs_per_slab, c->pages_per_slab};
        const size_t objs_width[] = {6, 6, 4, 4};
        for (size_t k = 0; k < sizeof objs / sizeof *objs; k++) {
            puts_(w, " ");
            num_w(w, objs[k], objs_width[k]);
        }
        puts_(w, " : tunables    0    0    0 : slabdata ");
        num_w(w, c->active_slabs, 6);
        puts_(w, " ");
        num_w(w, c->total_slabs, 6);
        puts_(w, "      0\n");
    }
}

/* ---- JSON ---- */

static void json_str(struct writer *w, const char *s) {
    static const char hex[] = "0123456789abcdef";
    put(w, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            put(w, e, 2);
        } else if (ch < 0x20 || ch >= 0x80) { /* bytes past ASCII too: a path need not be UTF-8 */
            char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            put(w, e, 6);
        } else {
            put(w, (const char *)&ch, 1);
        }
    }
    put(w, "\"", 1);
}

static void json_field(struct writer *w, const char *key, uint64_t value, bool last) {
    json_str(w, key);
    put(w, ":", 1);
    num(w, value);
    if (!last)
        put(w, ",", 1);
}

static void json_cache(struct writer *w, const struct pm_cache_stats *c) {
    puts_(w, "{\"name\":");
    json_str(w, c->name);
    puts_(w, ",\"kind\":");
    json_str(w, kind_name(c->kind));
    /* Each field follows a comma: the list's last field closes the object. */
#define JSON_CACHE_FIELD(type, field, what) put(w, ",", 1); json_field(w, #field, c->field, true);
    PM_CACHE_STAT_FIELDS(JSON_CACHE_FIELD)
#undef JSON_CACHE_FIELD
    put(w, "}", 1);
}

/* A 64-bit number as a JSON string: readers may hold fewer bits in a number. */
static void json_u64_str(struct writer *w, uint64_t v) {
    put(w, "\"", 1);
    num(w, v);
    put(w, "\"", 1);
}

static void json_token(struct writer *w, uint64_t token) {
    if (token == PM_CENSUS_NO_TOKEN)
        puts_(w, "null");
    else
        json_u64_str(w, token);
}

static void json_sites(struct writer *w, const struct pm_stats_view *v) {
    puts_(w, ",\n\"sites_seen\":");
    num(w, v->sites_seen);
    puts_(w, ",\n\"sites\":");
    if (!v->sites) {
        puts_(w, "null");
        return;
    }
    put(w, "[", 1);
    for (size_t i = 0; i < v->site_count; i++) {
        const struct pm_site_entry *e = &v->sites[i];
        puts_(w, i ? ",\n{\"site\":" : "\n{\"site\":");
        json_u64_str(w, e->site);
        puts_(w, ",\"module\":");
        if (e->module)
            json_str(w, e->module);
        else
            puts_(w, "null");
        puts_(w, ",\"offset\":");
        json_u64_str(w, e->offset);
        puts_(w, ",\"token\":");
        json_token(w, e->token);
        puts_(w, ",\"classes\":");
        json_u64_str(w, e->classes);
        put(w, ",", 1);
        json_field(w, "allocs", e->allocs, true);
        put(w, "}", 1);
    }
    put(w, "]", 1);
}

static void render_json(struct writer *w, const struct pm_stats_view *v) {
    puts_(w, "{\"version\":");
    json_str(w, PARTMALLOC_VERSION);
    puts_(w, ",\"pid\":");
    num(w, (uint64_t)v->pid);
    puts_(w, ",\"exe\":");
    json_str(w, v->exe ? v->exe : "");
    puts_(w, ",\"mode\":");
    json_str(w, mode_name(v->mode));
    put(w, ",", 1);
    json_field(w, "partitions", v->partitions, false);
    json_field(w, "token_max", v->token_max, false);
    puts_(w, v->plain_calls_unknown ? "\"plain_calls_unknown\":true," : "\"plain_calls_unknown\":false,");
    puts_(w, "\n\"caches\":[");
    for (size_t i = 0; i < v->count; i++) {
        puts_(w, i ? ",\n" : "\n");
        json_cache(w, &v->caches[i]);
    }
    puts_(w, "],\n\"census\":");
    if (!v->census) {
        puts_(w, "null");
    } else {
        put(w, "[", 1);
        for (size_t i = 0; i < v->census_count; i++) {
            const struct pm_census_entry *e = &v->census[i];
            puts_(w, i ? ",\n{" : "\n{");
            json_field(w, "partition", e->partition, false);
            puts_(w, "\"token\":");
            json_token(w, e->token);
            put(w, ",", 1);
            json_field(w, "allocs", e->allocs, true);
            put(w, "}", 1);
        }
        put(w, "]", 1);
    }
    json_sites(w, v);
    puts_(w, ",\n\"large\":{");
    json_field(w, "active_blocks", v->large.active_blocks, false);
    json_field(w, "active_bytes", v->large.active_bytes, false);
    json_field(w, "kept_blocks", v->large.kept_blocks, false);
    json_field(w, "allocs", v->large.allocs, false);
    json_field(w, "frees", v->large.frees, false);
    json_field(w, "peak_blocks", v->large.peak_blocks, false);
    json_field(w, "peak_bytes", v->large.peak_bytes, true);
    puts_(w, "},\n\"small\":{");
    json_field(w, "active_bytes", v->small.active_bytes, false);
    json_field(w, "peak_bytes", v->small.peak_bytes, true);
    puts_(w, "}}\n");
}

bool pm_stats_render(const struct pm_stats_view *view, enum pm_stats_format format, pm_stats_out out, void *ctx) {
    struct writer w = {.out = out, .ctx = ctx, .ok = true};
    if (format == PM_STATS_HISTOGRAM && view->width)
        w.width = view->width < PM_STATS_WIDTH_MIN   ? PM_STATS_WIDTH_MIN
                  : view->width > PM_STATS_WIDTH_MAX ? PM_STATS_WIDTH_MAX
                                                     : view->width;
    if (format == PM_STATS_SLABINFO)
        render_slabinfo(&w, view);
    else if (format == PM_STATS_JSON)
        render_json(&w, view);
    else
        render_histogram(&w, view);
    if (w.line_len) /* a last line without its newline */
        end_line(&w);
    flush(&w);
    return w.ok;
}

unsigned pm_stats_width(int fd) {
    const char *columns = getenv("COLUMNS");
    uint64_t n;
    if (columns && pm_parse_u64(columns, &n) && n >= PM_STATS_WIDTH_MIN && n <= PM_STATS_WIDTH_MAX)
        return (unsigned)n;
    struct winsize ws;
    if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= PM_STATS_WIDTH_MIN)
        return ws.ws_col > PM_STATS_WIDTH_MAX ? PM_STATS_WIDTH_MAX : ws.ws_col;
    return 80;
}

/* ---- the configuration (PARTMALLOC_VERBOSE) ---- */

/* "partmalloc:   on: a b c" for the features that are `on` (or off). */
static void features_line(struct writer *w, const struct pm_config_view *c, bool on) {
    puts_(w, on ? "partmalloc:   on:" : "partmalloc:   off:");
    size_t shown = 0;
    for (size_t i = 0; i < c->feature_count; i++)
        if (c->features[i].on == on) {
            puts_(w, " ");
            puts_(w, c->features[i].name);
            shown++;
        }
    puts_(w, shown ? "\n" : " none\n");
}

bool pm_config_render(const struct pm_config_view *c, pm_stats_out out, void *ctx) {
    struct writer w = {.out = out, .ctx = ctx, .ok = true};
    struct pm_stats_view v = {.mode = c->mode, .partitions = c->partitions, .token_max = c->token_max, .pid = c->pid};
    header_line(&w, &v);
    puts_(&w, "partmalloc: version " PARTMALLOC_VERSION ", hardening preset ");
    puts_(&w, c->preset);
    puts_(&w, "\n");
    features_line(&w, c, true);
    features_line(&w, c, false);
    flush(&w);
    return w.ok;
}

bool pm_stats_format_parse(const char *name, size_t len, enum pm_stats_format *out) {
    static const struct {
        const char *name;
        enum pm_stats_format format;
    } names[] = {{"histogram", PM_STATS_HISTOGRAM}, {"slabinfo", PM_STATS_SLABINFO}, {"json", PM_STATS_JSON}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0) {
            *out = names[i].format;
            return true;
        }
    return false;
}
