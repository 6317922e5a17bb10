/* A statistics dump as one self-contained HTML page: the data embedded as
 * JSON (built with jansson), drawn by an inline script into HTML elements. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "typed_map.h"

static const char *mode_text(enum pm_mode m) {
    return m == PM_MODE_TYPED ? "typed" : m == PM_MODE_RANDOM ? "random" : "none";
}

static json_t *group_json(const char *name, const char *what, enum pm_group g, unsigned partitions,
                          const uint64_t *objs) {
    struct pm_group_range r = pm_group_range_of(g, partitions);
    uint64_t sum = 0;
    for (unsigned p = r.first; p < r.first + r.count; p++)
        sum += objs[p];
    return json_pack("{s:s, s:s, s:I, s:I, s:I}", "name", name, "what", what, "first", (json_int_t)r.first, "last",
                     (json_int_t)(r.first + r.count - 1), "count", (json_int_t)sum);
}

/* Typed mode's three groups, as the histogram's summary gives them (none
 * for the other modes or one partition). */
static json_t *groups_json(const struct pm_stats_view *v, const uint64_t *objs) {
    json_t *a = json_array();
    unsigned n = v->partitions;
    if (v->mode != PM_MODE_TYPED || n < 2)
        return a;
    json_array_append_new(a, group_json("pointer-free", "types without pointers", PM_GROUP_NO_POINTERS, n, objs));
    if (n == 2) {
        json_array_append_new(
            a, group_json("pointer-holding", "types with pointers, and unknown types", PM_GROUP_POINTERS, n, objs));
        return a;
    }
    json_array_append_new(a, group_json("pointer-holding", "types with pointers", PM_GROUP_POINTERS, n, objs));
    json_array_append_new(
        a, group_json("unknown", "unknown types (0, void, >= max), by call site", PM_GROUP_UNKNOWN, n, objs));
    return a;
}

static json_t *partitions_json(const struct dump *d, const uint64_t *objs, unsigned n) {
    json_t *a = json_array();
    for (unsigned p = 0; p < n; p++) {
        const char *label = d->labels && d->labels[p] ? d->labels[p] : "";
        json_t *group = d->view.mode == PM_MODE_TYPED && n >= 2 ? json_string(
                            pm_group_of_partition(p, n) == PM_GROUP_POINTERS      ? "pointer-holding"
                            : pm_group_of_partition(p, n) == PM_GROUP_NO_POINTERS ? "pointer-free"
                                                                                 : "unknown")
                                                                 : json_null();
        json_array_append_new(a, json_pack("{s:I, s:I, s:s, s:o}", "partition", (json_int_t)p, "count",
                                           (json_int_t)objs[p], "types", label, "group", group));
    }
    return a;
}

static json_t *other_caches_json(const struct pm_stats_view *v) {
    json_t *a = json_array();
    for (size_t i = 0; i < v->count; i++)
        if (v->caches[i].kind != PM_CACHE_KMALLOC)
            json_array_append_new(a, json_pack("{s:s, s:I, s:s}", "name", v->caches[i].name, "objs",
                                               (json_int_t)v->caches[i].active_objs, "kind",
                                               v->caches[i].kind == PM_CACHE_BUCKET ? "bucket" : "dedicated"));
    return a;
}

/* What the page shows, from the same view the text histogram renders. */
static json_t *page_data(const struct dump *d) {
    const struct pm_stats_view *v = &d->view;
    uint64_t objs[PARTMALLOC_MAX_PARTITIONS];
    unsigned n = pm_stats_partition_counts(v, objs);
    uint64_t small_live = 0;
    for (size_t i = 0; i < v->count; i++)
        small_live += v->caches[i].active_objs;
    json_t *config = json_pack("{s:s, s:I, s:I, s:I, s:s, s:b}", "mode", mode_text(v->mode), "partitions",
                               (json_int_t)v->partitions, "token_max", (json_int_t)v->token_max, "pid",
                               (json_int_t)v->pid, "exe", v->exe ? v->exe : "", "plain_calls_unknown",
                               v->plain_calls_unknown);
    json_t *large = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "active_blocks",
                              (json_int_t)v->large.active_blocks, "active_bytes", (json_int_t)v->large.active_bytes,
                              "peak_blocks", (json_int_t)v->large.peak_blocks, "peak_bytes",
                              (json_int_t)v->large.peak_bytes, "allocs", (json_int_t)v->large.allocs, "frees",
                              (json_int_t)v->large.frees, "kept_blocks", (json_int_t)v->large.kept_blocks);
    json_t *small = json_pack("{s:I, s:I, s:I}", "live", (json_int_t)small_live, "active_bytes",
                              (json_int_t)v->small.active_bytes, "peak_bytes", (json_int_t)v->small.peak_bytes);
    return json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "config", config, "counts",
                     v->count_allocations ? "allocations" : "objects", "partitions", partitions_json(d, objs, n),
                     "groups", groups_json(v, objs), "other_caches", other_caches_json(v), "small", small, "large",
                     large);
}

/* JSON inside a <script> element: '<', '>' and '&' (only ever inside its
 * strings) become \u escapes, so no text from the program can end the
 * element or open a comment. */
static void put_json_in_script(const char *json, FILE *out) {
    for (const char *c = json; *c; c++) {
        if (*c == '<' || *c == '>' || *c == '&')
            fprintf(out, "\\u%04x", (unsigned)*c);
        else
            fputc(*c, out);
    }
}

/* The page around the data. The script draws with textContent only: no
 * string from the data is ever parsed as HTML. */
static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>partmalloc statistics</title>\n<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2430;background:#fff}\n"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 6px}\n"
    "table{border-collapse:collapse}td,th{padding:3px 10px 3px 0;text-align:left;vertical-align:top}\n"
    "th{font-weight:600;color:#4a5568}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".track{width:360px;background:#eef1f5;height:16px}.bar{height:16px;min-width:1px}\n"
    ".pointer-holding{background:#d9534f}.pointer-free{background:#3c8dbc}.unknown{background:#999}\n"
    ".nogroup{background:#5b7c99}.types{font-family:monospace;font-size:12px;max-width:640px}\n"
    ".key span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}\n"
    "#error{color:#b00;font-weight:600;white-space:pre-wrap}\n"
    "</style></head><body>\n"
    "<h1>partmalloc statistics</h1><div id=\"summary\"></div><div id=\"error\"></div>\n"
    "<h2>Partitions</h2><div class=\"key\" id=\"key\"></div><table id=\"histogram\"></table>\n"
    "<h2>Groups</h2><table id=\"groups\"></table>\n"
    "<h2>Other caches</h2><table id=\"other\"></table>\n"
    "<h2>Totals and large blocks</h2><table id=\"totals\"></table>\n"
    "<h2>Configuration</h2><table id=\"config\"></table>\n"
    "<script type=\"application/json\" id=\"data\">";

static const char page_tail[] =
    "</script>\n<script>\n"
    "window.onerror = function (msg, src, line) {\n"
    "  document.getElementById('error').textContent = 'script error: ' + msg + ' (line ' + line + ')';\n"
    "  document.body.dataset.rendered = 'error';\n"
    "};\n"
    "function el(tag, cls, text) {\n"
    "  var e = document.createElement(tag);\n"
    "  if (cls) e.className = cls;\n"
    "  if (text !== undefined) e.textContent = String(text);\n"
    "  return e;\n"
    "}\n"
    "function row(table, cells, header) {\n"
    "  var tr = el('tr');\n"
    "  cells.forEach(function (c) {\n"
    "    var td;\n"
    "    if (c instanceof Node) { td = el('td'); td.appendChild(c); }\n"
    "    else td = el(header ? 'th' : 'td', typeof c === 'number' ? 'num' : '', c);\n"
    "    tr.appendChild(td);\n"
    "  });\n"
    "  table.appendChild(tr);\n"
    "}\n"
    "function bytes(v) {\n"
    "  var units = [' KiB', ' MiB', ' GiB', ' TiB'], u = -1;\n"
    "  if (v < 1024) return v + ' B';\n"
    "  while (u + 1 < units.length && v >= 1024) { v /= 1024; u++; }\n"
    "  return v.toFixed(1) + units[u];\n"
    "}\n"
    "function partName(p) { return p === 0 ? 'kmalloc' : 'kmalloc-part-' + (p < 10 ? '0' : '') + p; }\n"
    "function draw(d) {\n"
    "  var c = d.config;\n"
    "  document.getElementById('summary').textContent = (c.exe || 'process') + ', pid ' + c.pid + ': ' +\n"
    "    c.mode + ' mode, ' + c.partitions + (c.partitions === 1 ? ' partition' : ' partitions');\n"
    "  var most = Math.max.apply(null, d.partitions.map(function (p) { return p.count; }).concat([0]));\n"
    "  var hist = document.getElementById('histogram'), bars = 0;\n"
    "  row(hist, ['slab cache', d.counts, '', 'types'], true);\n"
    "  d.partitions.slice().reverse().forEach(function (p) {\n"
    "    var track = el('div', 'track'), bar = el('div', 'bar ' + (p.group || 'nogroup'));\n"
    "    bar.style.width = (most ? 100 * p.count / most : 0) + '%';\n"
    "    bar.dataset.partition = p.partition;\n"
    "    bar.dataset.count = p.count;\n"
    "    track.appendChild(bar);\n"
    "    bars++;\n"
    "    row(hist, [partName(p.partition), p.count, track, el('div', 'types', p.types)]);\n"
    "  });\n"
    "  var key = document.getElementById('key');\n"
    "  d.groups.forEach(function (g) {\n"
    "    key.appendChild(el('span', g.name));\n"
    "    key.appendChild(document.createTextNode(g.what));\n"
    "  });\n"
    "  var groups = document.getElementById('groups');\n"
    "  if (d.groups.length === 0)\n"
    "    row(groups, [c.mode === 'random' ? 'random mode: partitions follow a keyed hash of the call site, not the type'\n"
    "                                    : 'one partition: no pointer/data split']);\n"
    "  else row(groups, ['group', 'partitions', d.counts, 'holds'], true);\n"
    "  d.groups.forEach(function (g) {\n"
    "    var two = function (n) { return (n < 10 ? '0' : '') + n; };\n"
    "    row(groups, [g.name, g.first === g.last ? two(g.first) : two(g.first) + '-' + two(g.last), g.count, g.what]);\n"
    "  });\n"
    "  var other = document.getElementById('other');\n"
    "  if (d.other_caches.length === 0) row(other, ['none']);\n"
    "  else row(other, ['cache', 'objects', 'kind'], true);\n"
    "  d.other_caches.forEach(function (o) { row(other, [o.name, o.objs, o.kind]); });\n"
    "  var t = document.getElementById('totals'), s = d.small, l = d.large;\n"
    "  row(t, ['', 'live', 'bytes', 'peak', 'allocated'], true);\n"
    "  row(t, ['small objects', s.live, bytes(s.active_bytes), bytes(s.peak_bytes), '']);\n"
    "  row(t, ['large blocks', l.active_blocks, bytes(l.active_bytes), l.peak_blocks + ', ' + bytes(l.peak_bytes),\n"
    "          l.allocs]);\n"
    "  var cfg = document.getElementById('config');\n"
    "  row(cfg, ['mode', c.mode]);\n"
    "  row(cfg, ['partitions', String(c.partitions)]); /* text: left-aligned */\n"
    "  if (c.mode === 'typed') row(cfg, ['token max', c.token_max ? String(c.token_max) : 'none']);\n"
    "  if (c.mode === 'typed') row(cfg, ['calls without a token', c.plain_calls_unknown ?\n"
    "    'with the unknowns (the program has tokens)' : 'over all partitions (the program has no tokens)']);\n"
    "  row(cfg, ['program', c.exe]);\n"
    "  row(cfg, ['pid', String(c.pid)]);\n"
    "  document.body.dataset.bars = bars;\n"
    "}\n"
    "draw(JSON.parse(document.getElementById('data').textContent));\n"
    "if (!document.body.dataset.rendered) document.body.dataset.rendered = 'ok';\n"
    "</script>\n</body></html>\n";

int html_write(const struct dump *d, const char *path, char *err, size_t errlen) {
    json_t *data = page_data(d);
    char *json = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    if (!json) {
        snprintf(err, errlen, "cannot build the page's data");
        return -1;
    }
    FILE *out = fopen(path, "w");
    if (!out) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        free(json);
        return -1;
    }
    fputs(page_head, out);
    put_json_in_script(json, out);
    fputs(page_tail, out);
    free(json);
    bool failed = ferror(out);
    if (fclose(out) != 0 || failed) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
