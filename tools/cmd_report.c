/* partmalloc report [--json] [--output FILE] [FILE... | -]
 * partmalloc report [--json] [--output FILE] -- COMMAND ARGS...
 *
 * Counts the allocation sites clang-22 gave no type token, from its
 * -Rpass=alloc-token remarks
 *
 *   t2.c:3:24: remark: Call to 'malloc' in 'g' without source-level type token [-Rpass=alloc-token]
 *
 * (each followed by the source line and a caret line) in a build log, or from
 * the NoAllocToken records of a -fsave-optimization-record file (*.opt.yaml,
 * read with libyaml);
 * or runs a build with PARTMALLOC_REMARKS=1 (so `partmalloc cc` asks for the
 * remarks) and reads its stderr, passing everything but the remarks through.
 * A site is a file:line:column, counted once however often headers and
 * rebuilds repeat it. The report groups the sites by file and by function,
 * most first, with the allocators called and their lines.
 *
 * Beside clang's remarks it reads those of partmalloc's plugin (text only):
 * sites typed void or char-like by a cast or assignment ([partmalloc-void],
 * [partmalloc-cast]) and the wrappers it found ([partmalloc-wrapper]),
 * listed after the untyped sites, with the --wrapper= option naming them.
 * With -- COMMAND it also says whether the build failed (and exits with its
 * status) and how many files the plugin compiled, from the log the child
 * writes to PARTMALLOC_REPORT_LOG.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "commands.h"
#include "spawn.h"

static const char sub[] = "report";

/* ---- sites ---- */

/* What a remark says of a site. */
enum site_kind {
    NO_TOKEN, /* clang's: no type inferred */
    VOID,     /* partmalloc's: typed void by a cast */
    CAST,     /* partmalloc's: typed by a char-like cast (type) */
    WRAPPER,  /* partmalloc's: the function looks like an allocation wrapper */
    KINDS
};

struct site {
    enum site_kind kind;
    char *file, *function, *callee;       /* as clang names them (WRAPPER: no callee) */
    char *type;                           /* VOID, CAST: the type the site gets; else NULL */
    const char *function_shown, *callee_shown; /* demangled, or the same */
    const char *callee_label;             /* callee_shown, with the type of a CAST site */
    unsigned line, column;                /* 0: unknown */
};

struct sites {
    struct site *v;
    size_t n, cap;
};

/* What the build run by `report -- COMMAND` did (command mode only). */
struct build_result {
    bool ran;
    int status;             /* its exit status (128 + signal if killed) */
    long files_compiled;    /* by partmalloc cc with the plugin; -1: unknown */
};

static void *xrealloc(void *p, size_t size) {
    void *q = realloc(p, size);
    if (!q) {
        fail(sub, "out of memory");
        exit(1);
    }
    return q;
}

static char *xstrndup(const char *s, size_t n) {
    char *d = strndup(s, n);
    if (!d) {
        fail(sub, "out of memory");
        exit(1);
    }
    return d;
}

/* Adds a site; the file loses a leading "./" (clang writes "./util.h" for
 * a header found beside its includer). */
static struct site *add_site(struct sites *s, const char *file, size_t file_len, unsigned line, unsigned column,
                             const char *function, size_t function_len, const char *callee, size_t callee_len) {
    while (file_len > 2 && file[0] == '.' && file[1] == '/') {
        file += 2;
        file_len -= 2;
    }
    if (file_len == 0) {
        file = "<unknown>";
        file_len = strlen(file);
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    struct site *t = &s->v[s->n++];
    t->file = xstrndup(file, file_len);
    t->function = xstrndup(function, function_len);
    t->callee = xstrndup(callee, callee_len);
    t->function_shown = t->function;
    t->callee_shown = t->callee;
    t->callee_label = t->callee;
    t->kind = NO_TOKEN;
    t->type = NULL;
    t->line = line;
    t->column = column;
    return t;
}

static void free_site(struct site *s) {
    if (s->callee_label != s->callee_shown)
        free((char *)s->callee_label);
    if (s->function_shown != s->function)
        free((char *)s->function_shown);
    if (s->callee_shown != s->callee)
        free((char *)s->callee_shown);
    free(s->file);
    free(s->function);
    free(s->callee);
    free(s->type);
}

static void free_sites(struct sites *s) {
    for (size_t i = 0; i < s->n; i++)
        free_site(&s->v[i]);
    free(s->v);
}

/* ---- text remarks ---- */

/* Reads a decimal number ending at s[len - 1], after a ':' that is not the
 * first character; returns the length of ":NUMBER", or 0. */
static size_t trailing_number(const char *s, size_t len, unsigned *out) {
    size_t i = len;
    while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
        i--;
    if (i == len || len - i > 9 || i < 2 || s[i - 1] != ':')
        return 0;
    *out = (unsigned)strtoul(s + i, NULL, 10);
    return len - i + 1;
}

/* Splits "FILE:LINE:COL" (or "FILE:LINE", or a bare name) of length len. */
static size_t split_location(const char *s, size_t len, unsigned *line, unsigned *column) {
    unsigned a = 0, b = 0;
    size_t cut = trailing_number(s, len, &a);
    *line = *column = 0;
    if (!cut)
        return len;
    size_t cut2 = trailing_number(s, len - cut, &b);
    if (!cut2) {
        *line = a;
        return len - cut;
    }
    *line = b;
    *column = a;
    return len - cut - cut2;
}

/* The location before a remark's "remark: " (at `mark`): the file's length,
 * 0 for "clang-22: remark: ...", which names no file. */
static size_t remark_location(const char *s, const char *mark, unsigned *line, unsigned *column) {
    size_t loc_len = (size_t)(mark - s);
    if (loc_len >= 2 && s[loc_len - 2] == ':' && s[loc_len - 1] == ' ')
        loc_len -= 2;
    size_t file_len = split_location(s, loc_len, line, column);
    return *line ? file_len : 0;
}

/* Parses partmalloc's plugin's remarks:
 *   f.c:26:22: remark: partmalloc: call to 'malloc' in 'lmalloc' gets the type 'long' from a cast: ... [partmalloc-cast]
 *   f.c:30:7: remark: partmalloc: call to 'malloc' in 'scratch' gets the type 'void' from a cast: ... [partmalloc-void]
 *   f.c:12:7: remark: partmalloc: 'xmalloc' looks like an allocation wrapper: build with --wrapper=xmalloc [partmalloc-wrapper] */
static bool parse_partmalloc_remark(const char *s, struct sites *out) {
    static const char head[] = "remark: partmalloc: ", call[] = "call to '", in[] = "' in '", gets[] = "' gets the type '",
                      wrapper[] = "' looks like an allocation wrapper: ";
    const char *mark = strstr(s, head);
    if (!mark)
        return false;
    const char *text = mark + strlen(head);
    unsigned line, column;
    size_t file_len = remark_location(s, mark, &line, &column);
    if (text[0] == '\'' && strstr(s, "[partmalloc-wrapper]")) {
        const char *end = strstr(text + 1, wrapper);
        if (!end)
            return false;
        add_site(out, s, file_len, line, column, text + 1, (size_t)(end - text - 1), "", 0)->kind = WRAPPER;
        return true;
    }
    bool is_void = strstr(s, "[partmalloc-void]") != NULL;
    if (strncmp(text, call, strlen(call)) != 0 || (!is_void && !strstr(s, "[partmalloc-cast]")))
        return false;
    const char *callee = text + strlen(call);
    const char *in_at = strstr(callee, in);
    const char *function = in_at ? in_at + strlen(in) : NULL;
    const char *gets_at = function ? strstr(function, gets) : NULL;
    const char *type = gets_at ? gets_at + strlen(gets) : NULL;
    const char *type_end = type ? strchr(type, '\'') : NULL;
    if (!type_end)
        return false;
    struct site *t = add_site(out, s, file_len, line, column, function, (size_t)(gets_at - function), callee,
                              (size_t)(in_at - callee));
    t->kind = is_void ? VOID : CAST;
    t->type = xstrndup(type, (size_t)(type_end - type));
    return true;
}

/* Parses an alloc-token remark line (ANSI colours already removed). */
static bool parse_remark(const char *s, struct sites *out) {
    if (parse_partmalloc_remark(s, out))
        return true;
    static const char call[] = "remark: Call to '", in[] = "' in '",
                      without[] = "' without source-level type token";
    const char *mark = strstr(s, call);
    if (!mark)
        return false;
    const char *callee = mark + strlen(call);
    const char *in_at = strstr(callee, in);
    const char *function = in_at ? in_at + strlen(in) : NULL;
    const char *end = function ? strstr(function, without) : NULL;
    if (!end)
        return false;
    unsigned line, column;
    size_t file_len = remark_location(s, mark, &line, &column);
    add_site(out, s, file_len, line, column, function, (size_t)(end - function), callee,
             (size_t)(in_at - callee));
    return true;
}

/* Removes ANSI escape sequences (-fcolor-diagnostics) and the line end. */
static void clean_line(char *s) {
    char *out = s;
    for (const char *in = s; *in;) {
        if (in[0] == '\033' && in[1] == '[') {
            in += 2;
            while (*in && !(*in >= '@' && *in <= '~'))
                in++;
            if (*in)
                in++;
        } else {
            *out++ = *in++;
        }
    }
    while (out > s && (out[-1] == '\n' || out[-1] == '\r'))
        out--;
    *out = '\0';
}

static const char *skip_blanks(const char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* "   12 | source text" */
static bool is_gutter_source(const char *s) {
    s = skip_blanks(s);
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9')
        s++;
    return s[0] == ' ' && s[1] == '|';
}

/* "      |     ^~~~" (a caret or fix-it line under a numbered source line) */
static bool is_gutter_mark(const char *s) { return *skip_blanks(s) == '|'; }

/* "        ^~~~" (a caret line without line numbers) */
static bool is_caret_line(const char *s) {
    return strspn(s, " \t^~") == strlen(s) && strchr(s, '^');
}

static bool is_include_context(const char *s) {
    return strncmp(s, "In file included from ", 22) == 0 || strncmp(skip_blanks(s), "from ", 5) == 0;
}

static bool is_diagnostic(const char *s) {
    static const char *const kinds[] = {": error: ", ": warning: ", ": note: ", ": remark: ",
                                        ": fatal error: ", NULL};
    for (const char *const *k = kinds; *k; k++)
        if (strstr(s, *k))
            return true;
    return false;
}

static bool is_note(const char *s) { return strstr(s, ": note: ") || strncmp(s, "note: ", 6) == 0; }

/* Where the text parser is relative to the last remark: the source line
 * and its caret line, and the notes that belong to it, are dropped. */
enum after {
    AFTER_NOTHING,  /* not in a remark */
    AFTER_REMARK,   /* its source line may come next */
    AFTER_HELD,     /* held a line without a gutter: a source line if a caret line follows */
    AFTER_SNIPPET,  /* notes and gutter lines still belong to it */
};

struct text_parser {
    FILE *pass;            /* non-remark lines go here (command mode), or NULL */
    enum after state;
    char *held;            /* raw line held in AFTER_HELD */
    char *context;         /* "In file included from" lines before the next diagnostic */
    size_t context_len;
    struct sites *sites;
};

static void emit(struct text_parser *p, const char *raw, size_t len) {
    if (p->pass && len)
        fwrite(raw, 1, len, p->pass);
}

static void flush_context(struct text_parser *p, bool show) {
    if (show)
        emit(p, p->context, p->context_len);
    p->context_len = 0;
}

static void hold_context(struct text_parser *p, const char *raw) {
    size_t len = strlen(raw);
    p->context = xrealloc(p->context, p->context_len + len + 1);
    memcpy(p->context + p->context_len, raw, len + 1);
    p->context_len += len;
}

static void release_held(struct text_parser *p, bool show) {
    if (p->held && show)
        emit(p, p->held, strlen(p->held));
    free(p->held);
    p->held = NULL;
}

/* Consumes a line that continues the last remark; returns false if the
 * line is not part of it. */
static bool continue_remark(struct text_parser *p, const char *s) {
    if (p->state == AFTER_HELD) {
        bool caret = is_caret_line(s);
        release_held(p, !caret);
        p->state = caret ? AFTER_SNIPPET : AFTER_NOTHING;
        return caret;
    }
    if (p->state == AFTER_NOTHING)
        return false;
    if (is_gutter_source(s) || is_gutter_mark(s)) {
        p->state = AFTER_SNIPPET;
        return true;
    }
    if (is_note(s)) {
        p->state = AFTER_REMARK;
        return true;
    }
    return false;
}

static void feed_text(struct text_parser *p, const char *raw) {
    char *s = xstrndup(raw, strlen(raw));
    clean_line(s);
    if (continue_remark(p, s)) {
        /* part of the last remark */
    } else if (parse_remark(s, p->sites)) {
        flush_context(p, false);
        p->state = AFTER_REMARK;
    } else if (is_include_context(s)) {
        hold_context(p, raw);
    } else if (p->state == AFTER_REMARK && !is_diagnostic(s)) {
        p->held = xstrndup(raw, strlen(raw));
        p->state = AFTER_HELD;
    } else {
        flush_context(p, true);
        emit(p, raw, strlen(raw));
        p->state = AFTER_NOTHING;
    }
    free(s);
}

static void finish_text(struct text_parser *p) {
    release_held(p, true);
    flush_context(p, true);
    free(p->context);
    p->context = NULL;
    p->state = AFTER_NOTHING;
}

/* ---- optimization records (YAML, read with libyaml) ---- */

/* What one record says: its own keys Pass, Name, Function and DebugLoc,
 * and the first argument (under Args) that names the called function. */
struct yaml_record {
    bool alloc_token, no_token;   /* Pass: alloc-token, Name: NoAllocToken */
    char *file, *function, *callee;
    unsigned line, column;
};

static void yaml_finish(struct yaml_record *r, struct sites *out) {
    if (r->alloc_token && r->no_token) {
        const char *file = r->file ? r->file : "";
        const char *function = r->function ? r->function : "?";
        const char *callee = r->callee ? r->callee : "?";
        add_site(out, file, r->line ? strlen(file) : 0, r->line, r->column, function, strlen(function),
                 callee, strlen(callee));
    }
    free(r->file);
    free(r->function);
    free(r->callee);
    memset(r, 0, sizeof *r);
}

/* libyaml's input: the line read already (to tell a record file from a
 * log), then the rest of the file. */
struct yaml_input {
    FILE *f;
    const char *head;
    size_t head_len;
};

static int yaml_read(void *data, unsigned char *buffer, size_t size, size_t *size_read) {
    struct yaml_input *in = data;
    if (in->head_len) {
        size_t n = in->head_len < size ? in->head_len : size;
        memcpy(buffer, in->head, n);
        in->head += n;
        in->head_len -= n;
        *size_read = n;
        return 1;
    }
    *size_read = fread(buffer, 1, size, in->f);
    return !ferror(in->f);
}

/* The parser and its current event. */
struct yaml_reader {
    yaml_parser_t parser;
    yaml_event_t event;
};

/* Moves to the next event; false at an error or the end of the stream
 * (after which libyaml gives only empty events). */
static bool next_event(struct yaml_reader *y) {
    yaml_event_delete(&y->event);
    return yaml_parser_parse(&y->parser, &y->event) && y->event.type != YAML_NO_EVENT &&
           y->event.type != YAML_STREAM_END_EVENT;
}

/* The current event starts a node: moves to its last event. */
static bool skip_node(struct yaml_reader *y) {
    int depth = 0;
    do {
        if (y->event.type == YAML_MAPPING_START_EVENT || y->event.type == YAML_SEQUENCE_START_EVENT)
            depth++;
        else if (y->event.type == YAML_MAPPING_END_EVENT || y->event.type == YAML_SEQUENCE_END_EVENT)
            depth--;
    } while (depth > 0 && next_event(y));
    return depth == 0;
}

/* In a mapping: moves to the next key and then to its value's first
 * event. False at the mapping's end (or an error). *key: the key, or ""
 * for one that is not a scalar. */
static bool next_entry(struct yaml_reader *y, char **key) {
    *key = NULL;
    if (!next_event(y) || y->event.type == YAML_MAPPING_END_EVENT)
        return false;
    bool scalar = y->event.type == YAML_SCALAR_EVENT;
    *key = xstrndup(scalar ? (const char *)y->event.data.scalar.value : "",
                    scalar ? y->event.data.scalar.length : 0);
    if ((!scalar && !skip_node(y)) || !next_event(y)) {
        free(*key);
        *key = NULL;
        return false;
    }
    return true;
}

/* The current node's text if it is a scalar (malloc'd), else NULL. */
static char *scalar_text(struct yaml_reader *y) {
    if (y->event.type != YAML_SCALAR_EVENT) {
        skip_node(y);
        return NULL;
    }
    return xstrndup((const char *)y->event.data.scalar.value, y->event.data.scalar.length);
}

static bool scalar_is(struct yaml_reader *y, const char *text) {
    char *v = scalar_text(y);
    bool is = v && strcmp(v, text) == 0;
    free(v);
    return is;
}

static void set_text(char **field, char *value) {
    if (!value)
        return;
    free(*field);
    *field = value;
}

static unsigned scalar_number(struct yaml_reader *y) {
    char *v = scalar_text(y);
    unsigned n = v ? (unsigned)strtoul(v, NULL, 10) : 0;
    free(v);
    return n;
}

/* Walks the mapping whose start is the current event, handing each entry
 * to `entry` (which consumes its value). */
static void read_mapping(struct yaml_reader *y, struct yaml_record *r,
                         void (*entry)(struct yaml_reader *, struct yaml_record *, const char *)) {
    if (y->event.type != YAML_MAPPING_START_EVENT) {
        skip_node(y);
        return;
    }
    char *key;
    while (next_entry(y, &key)) {
        entry(y, r, key);
        free(key);
    }
}

/* DebugLoc: { File: a.c, Line: 4, Column: 28 } */
static void debugloc_entry(struct yaml_reader *y, struct yaml_record *r, const char *key) {
    if (strcmp(key, "File") == 0)
        set_text(&r->file, scalar_text(y));
    else if (strcmp(key, "Line") == 0)
        r->line = scalar_number(y);
    else if (strcmp(key, "Column") == 0)
        r->column = scalar_number(y);
    else
        skip_node(y);
}

/* One of Args: "- Callee: malloc" names the called function. */
static void arg_entry(struct yaml_reader *y, struct yaml_record *r, const char *key) {
    if (!r->callee && strcmp(key, "Callee") == 0)
        r->callee = scalar_text(y);
    else
        skip_node(y);
}

static void read_args(struct yaml_reader *y, struct yaml_record *r) {
    if (y->event.type != YAML_SEQUENCE_START_EVENT) {
        skip_node(y);
        return;
    }
    while (next_event(y) && y->event.type != YAML_SEQUENCE_END_EVENT)
        read_mapping(y, r, arg_entry);
}

static void record_entry(struct yaml_reader *y, struct yaml_record *r, const char *key) {
    if (strcmp(key, "Pass") == 0)
        r->alloc_token = scalar_is(y, "alloc-token");
    else if (strcmp(key, "Name") == 0)
        r->no_token = scalar_is(y, "NoAllocToken");
    else if (strcmp(key, "Function") == 0)
        set_text(&r->function, scalar_text(y));
    else if (strcmp(key, "DebugLoc") == 0)
        read_mapping(y, r, debugloc_entry);
    else if (strcmp(key, "Args") == 0)
        read_args(y, r);
    else
        skip_node(y);
}

/* Reads the records (one a document) of a -fsave-optimization-record file.
 * A file libyaml cannot parse keeps the records before the fault; the
 * fault is reported as a warning. */
static void read_records(FILE *f, const char *name, const char *head, size_t head_len, struct sites *out) {
    struct yaml_reader y = {0};
    struct yaml_input in = {f, head, head_len};
    if (!yaml_parser_initialize(&y.parser)) {
        fail(sub, "out of memory");
        exit(1);
    }
    yaml_parser_set_input(&y.parser, yaml_read, &in);
    struct yaml_record r = {0};
    while (next_event(&y)) {
        if (y.event.type == YAML_MAPPING_START_EVENT || y.event.type == YAML_SEQUENCE_START_EVENT)
            read_mapping(&y, &r, record_entry);
        else if (y.event.type == YAML_DOCUMENT_END_EVENT)
            yaml_finish(&r, out);
    }
    yaml_finish(&r, out);
    if (y.parser.error != YAML_NO_ERROR && !ferror(f))
        fprintf(stderr, "partmalloc report: %s: %s at line %zu (the records before it are counted)\n", name,
                y.parser.problem ? y.parser.problem : "not YAML", (size_t)y.parser.problem_mark.line + 1);
    yaml_event_delete(&y.event);
    yaml_parser_delete(&y.parser);
}

/* ---- inputs ---- */

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Reads a log or a record file; YAML if its name says so or its first line
 * starts a record. Returns 0, or 1 after reporting a read error. */
static int read_input(FILE *f, const char *name, struct sites *out) {
    bool yaml = ends_with(name, ".yaml") || ends_with(name, ".yml");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = getline(&line, &cap, f);
    if (len >= 0 && strncmp(line, "--- !", 5) == 0)
        yaml = true;
    if (yaml) {
        read_records(f, name, line, len > 0 ? (size_t)len : 0, out);
    } else {
        struct text_parser tp = {.sites = out};
        for (; len >= 0; len = getline(&line, &cap, f))
            feed_text(&tp, line);
        finish_text(&tp);
    }
    free(line);
    if (ferror(f))
        return fail(sub, "cannot read '%s': %s", name, strerror(errno));
    return 0;
}

static int read_file(const char *path, struct sites *out) {
    if (strcmp(path, "-") == 0)
        return read_input(stdin, "-", out);
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(sub, "cannot read '%s': %s", path, strerror(errno));
    int rc = read_input(f, path, out);
    fclose(f);
    return rc;
}

/* In the child: remarks asked for, and the file where partmalloc's plugin
 * appends each file it compiles. */
static void ask_for_remarks(void *log) {
    setenv("PARTMALLOC_REMARKS", "1", 1);
    if (log)
        setenv("PARTMALLOC_REPORT_LOG", log, 1);
    else
        unsetenv("PARTMALLOC_REPORT_LOG");
}

/* A temporary file for the names of the files compiled, or NULL. */
static char *make_compile_log(void) {
    const char *tmp = getenv("TMPDIR");
    char *path;
    if (asprintf(&path, "%s/partmalloc-report.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
        return NULL;
    int fd = mkstemp(path);
    if (fd < 0) {
        free(path);
        return NULL;
    }
    close(fd);
    return path;
}

/* Lines in the log (the files compiled), -1 if unknown; removes it. */
static long count_compiled(char *log) {
    if (!log)
        return -1;
    FILE *f = fopen(log, "r");
    long lines = f ? 0 : -1;
    int c;
    while (f && (c = getc(f)) != EOF)
        lines += c == '\n';
    if (f)
        fclose(f);
    unlink(log);
    free(log);
    return lines;
}

/* Runs the command with PARTMALLOC_REMARKS=1 and its stderr into a pipe we
 * read; stdout is left alone. Interrupts go to the command: we stay to
 * report. Returns its exit status (128 + signal if it was killed). */
static int run_command(char **cmd, struct sites *out, struct build_result *b) {
    static const int interrupts[] = {SIGINT, SIGQUIT, 0};
    char *log = make_compile_log();
    struct spawn child = {.argv = cmd, .search_path = true, .sub = sub, .quote_program = true,
                          .pipe_stderr = true, .in_child = ask_for_remarks, .child_arg = log, .ignore = interrupts};
    int rc = spawn_start(&child);
    if (rc == SPAWN_NO_PIPE || rc == SPAWN_NO_FORK) {
        count_compiled(log);
        return fail(sub, rc == SPAWN_NO_PIPE ? "cannot create a pipe: %s" : "cannot fork: %s", strerror(errno));
    }
    FILE *f = fdopen(child.stderr_fd, "r");
    struct text_parser tp = {.pass = stderr, .sites = out};
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) >= 0)
        feed_text(&tp, line);
    finish_text(&tp);
    free(line);
    f ? fclose(f) : close(child.stderr_fd);
    b->status = spawn_wait(&child, NULL);
    b->files_compiled = count_compiled(log);
    b->ran = true;
    return b->status;
}

/* ---- distinct sites ---- */

static int cmp_location(const void *pa, const void *pb) {
    const struct site *a = pa, *b = pb;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    int c = strcmp(a->file, b->file);
    if (c)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->column != b->column)
        return a->column < b->column ? -1 : 1;
    if (a->line) /* a known place is one site whoever calls what there */
        return 0;
    c = strcmp(a->function, b->function);
    return c ? c : strcmp(a->callee, b->callee);
}

/* Keeps the first of each file:line:column. */
static void dedupe(struct sites *s) {
    if (s->n == 0)
        return;
    qsort(s->v, s->n, sizeof *s->v, cmp_location);
    size_t kept = 1;
    for (size_t i = 1; i < s->n; i++) {
        if (cmp_location(&s->v[kept - 1], &s->v[i]) == 0)
            free_site(&s->v[i]);
        else
            s->v[kept++] = s->v[i];
    }
    s->n = kept;
}

/* ---- demangling (libstdc++'s __cxa_demangle) ---- */

/* abi::__cxa_demangle, which libstdc++ exports with C linkage. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *n, int *status);

/* The readable form of a C++ name (_ZN5store3rawEm, or an allocator such
 * as _Znwm), malloc'd; `name` itself if it is not one. */
static const char *demangled(const char *name) {
    if (strncmp(name, "_Z", 2) != 0)
        return name;
    int status = -1;
    char *d = __cxa_demangle(name, NULL, NULL, &status);
    if (status == 0 && d)
        return d;
    free(d);
    return name;
}

/* Gives the sites of C++ functions (and C++ allocators) readable names,
 * and a cast site's allocator its type: "malloc (long)". */
static void demangle(struct sites *s) {
    for (size_t i = 0; i < s->n; i++) {
        struct site *t = &s->v[i];
        t->function_shown = demangled(t->function);
        t->callee_shown = demangled(t->callee);
        t->callee_label = t->callee_shown;
        char *label;
        if (t->kind == CAST && asprintf(&label, "%s (%s)", t->callee_shown, t->type) >= 0)
            t->callee_label = label;
    }
}

/* ---- grouping ---- */

enum level { BY_FILE, BY_FUNCTION, BY_CALLEE };

static const char *key_of(const struct site *s, enum level l) {
    return l == BY_FILE ? s->file : l == BY_FUNCTION ? s->function : s->callee_label;
}

static const char *shown_of(const struct site *s, enum level l) {
    return l == BY_FILE ? s->file : l == BY_FUNCTION ? s->function_shown : s->callee_label;
}

/* By kind (each kind's sites then form one range), file, function,
 * allocator, place. */
static int cmp_group_order(const void *pa, const void *pb) {
    const struct site *a = pa, *b = pb;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    int c = strcmp(a->file, b->file);
    if (!c)
        c = strcmp(a->function, b->function);
    if (!c)
        c = strcmp(a->callee_label, b->callee_label);
    if (!c && a->line != b->line)
        c = a->line < b->line ? -1 : 1;
    if (!c && a->column != b->column)
        c = a->column < b->column ? -1 : 1;
    return c;
}

/* Sites with the same file (function, callee): v[begin, end). */
struct group {
    const char *shown;
    size_t begin, end;
    unsigned first_line;  /* BY_CALLEE: where the allocator is first called */
};

static int cmp_group(const void *pa, const void *pb) {
    const struct group *a = pa, *b = pb;
    size_t na = a->end - a->begin, nb = b->end - b->begin;
    if (na != nb)
        return na > nb ? -1 : 1;
    if (a->first_line != b->first_line)
        return a->first_line < b->first_line ? -1 : 1;
    return strcmp(a->shown, b->shown);
}

/* Splits v[begin, end), sorted by cmp_group_order, into groups of equal key
 * at `level`, most sites first (then allocators by their first line, then
 * by name). */
static struct group *groups_of(const struct site *v, size_t begin, size_t end, enum level level, size_t *count) {
    struct group *r = xrealloc(NULL, (end - begin + 1) * sizeof *r);
    size_t n = 0;
    for (size_t i = begin; i < end; i++) {
        if (n && strcmp(key_of(&v[r[n - 1].begin], level), key_of(&v[i], level)) == 0) {
            r[n - 1].end = i + 1;
        } else {
            r[n++] = (struct group){shown_of(&v[i], level), i, i + 1, level == BY_CALLEE ? v[i].line : 0};
        }
    }
    qsort(r, n, sizeof *r, cmp_group);
    *count = n;
    return r;
}

/* ---- output ---- */

struct totals {
    size_t files, functions;
    int name_width, count_width;
};

static int digits(size_t n) {
    int d = 1;
    while (n >= 10)
        n /= 10, d++;
    return d;
}

/* The sites of one kind: v[begin, end). */
struct range {
    const struct site *v;
    size_t begin, end;
};

static void measure(struct range r, struct totals *t) {
    size_t nf;
    struct group *files = groups_of(r.v, r.begin, r.end, BY_FILE, &nf);
    t->files = nf;
    t->functions = 0;
    t->name_width = (int)strlen("file / function");
    t->count_width = (int)strlen("sites");
    for (size_t i = 0; i < nf; i++) {
        size_t nfn;
        struct group *fns = groups_of(r.v, files[i].begin, files[i].end, BY_FUNCTION, &nfn);
        t->functions += nfn;
        if ((int)strlen(files[i].shown) > t->name_width)
            t->name_width = (int)strlen(files[i].shown);
        for (size_t j = 0; j < nfn; j++)
            if (2 + (int)strlen(fns[j].shown) > t->name_width)
                t->name_width = 2 + (int)strlen(fns[j].shown);
        free(fns);
    }
    if (digits(r.end - r.begin) > t->count_width)
        t->count_width = digits(r.end - r.begin);
    free(files);
}

/* "malloc 12:16, 12:28; calloc 11": each allocator's lines, with the
 * column where one line has several of its sites. */
static void print_calls(FILE *out, const struct site *v, size_t begin, size_t end) {
    size_t n;
    struct group *callees = groups_of(v, begin, end, BY_CALLEE, &n);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%s%s ", i ? "; " : "", callees[i].shown);
        for (size_t k = callees[i].begin; k < callees[i].end; k++) {
            bool shared = (k > callees[i].begin && v[k - 1].line == v[k].line) ||
                          (k + 1 < callees[i].end && v[k + 1].line == v[k].line);
            fputs(k > callees[i].begin ? ", " : "", out);
            if (v[k].line == 0) {
                fputc('?', out); /* clang named no place */
                continue;
            }
            fprintf(out, "%u", v[k].line);
            if (shared)
                fprintf(out, ":%u", v[k].column);
        }
    }
    free(callees);
}

/* "N allocation sites WHAT (F files, G functions)" and their table. */
static void print_table(FILE *out, struct range r, const char *what) {
    size_t n = r.end - r.begin;
    fprintf(out, "%zu allocation site%s %s", n, n == 1 ? "" : "s", what);
    if (n == 0) {
        fputc('\n', out);
        return;
    }
    struct totals t;
    measure(r, &t);
    fprintf(out, " (%zu file%s, %zu function%s)\n\n", t.files, t.files == 1 ? "" : "s", t.functions,
            t.functions == 1 ? "" : "s");
    fprintf(out, "%-*s  %*s  allocator lines\n", t.name_width, "file / function", t.count_width, "sites");
    size_t nf;
    struct group *files = groups_of(r.v, r.begin, r.end, BY_FILE, &nf);
    for (size_t i = 0; i < nf; i++) {
        fprintf(out, "%-*s  %*zu\n", t.name_width, files[i].shown, t.count_width, files[i].end - files[i].begin);
        size_t nfn;
        struct group *fns = groups_of(r.v, files[i].begin, files[i].end, BY_FUNCTION, &nfn);
        for (size_t j = 0; j < nfn; j++) {
            fprintf(out, "  %-*s  %*zu  ", t.name_width - 2, fns[j].shown, t.count_width,
                    fns[j].end - fns[j].begin);
            print_calls(out, r.v, fns[j].begin, fns[j].end);
            fputc('\n', out);
        }
        free(fns);
    }
    free(files);
}

/* The sites of kind k in s (sorted by cmp_group_order). */
static struct range range_of(const struct sites *s, enum site_kind k) {
    struct range r = {s->v, 0, 0};
    while (r.begin < s->n && s->v[r.begin].kind < k)
        r.begin++;
    r.end = r.begin;
    while (r.end < s->n && s->v[r.end].kind == k)
        r.end++;
    return r;
}

/* "--wrapper=a,b,c" for the wrappers found (malloc'd); their sites are
 * sorted by file and name, a name found in several files given once. */
static char *wrapper_flag(struct range w) {
    char *flag = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&flag, &len);
    if (!f) {
        fail(sub, "out of memory");
        exit(1);
    }
    fputs("--wrapper=", f);
    bool first = true;
    for (size_t i = w.begin; i < w.end; i++) {
        bool seen = false;
        for (size_t k = w.begin; k < i && !seen; k++)
            seen = strcmp(w.v[k].function, w.v[i].function) == 0;
        if (!seen)
            fprintf(f, "%s%s", first ? "" : ",", w.v[i].function_shown);
        first &= seen;
    }
    fclose(f);
    return flag;
}

static void print_wrappers(FILE *out, struct range w) {
    fprintf(out, "\nwrapper functions found (%zu): named, their calls carry their callers' types\n", w.end - w.begin);
    int width = 0;
    for (size_t i = w.begin; i < w.end; i++)
        if ((int)strlen(w.v[i].function_shown) > width)
            width = (int)strlen(w.v[i].function_shown);
    for (size_t i = w.begin; i < w.end; i++)
        fprintf(out, "  %-*s  %s:%u\n", width, w.v[i].function_shown, w.v[i].file, w.v[i].line);
    char *flag = wrapper_flag(w);
    fprintf(out, "build with: partmalloc cc %s\n", flag);
    free(flag);
}

/* A line on the build before the sites, or none. */
static void print_build(FILE *out, const struct build_result *b, size_t sites) {
    if (!b->ran)
        return;
    if (b->status != 0)
        fprintf(out, "build failed (exit %d): %s\n", b->status,
                sites ? "the sites below are only from what was compiled" : "no sites");
    else if (b->files_compiled == 0 && sites == 0)
        fputs("no file was compiled: `make clean` first, or the build does not use partmalloc cc\n", out);
    else if (b->files_compiled > 0)
        fprintf(out, "%ld file%s compiled in this build: the report covers only %s (an incremental build leaves "
                     "out what it did not rebuild)\n",
                b->files_compiled, b->files_compiled == 1 ? "" : "s", b->files_compiled == 1 ? "it" : "them");
}

static void print_text(FILE *out, const struct sites *s, const struct build_result *b) {
    print_build(out, b, s->n);
    if (b->ran && b->status != 0 && s->n == 0)
        return;
    if (b->ran && b->files_compiled == 0 && s->n == 0)
        return;
    print_table(out, range_of(s, NO_TOKEN), "without a type token");
    struct range r = range_of(s, VOID);
    if (r.end > r.begin) {
        fputc('\n', out);
        print_table(out, r, "typed void by a cast");
    }
    r = range_of(s, CAST);
    if (r.end > r.begin) {
        fputc('\n', out);
        print_table(out, r, "typed char-like by a cast or assignment");
    }
    r = range_of(s, WRAPPER);
    if (r.end > r.begin)
        print_wrappers(out, r);
}

/* The JSON report is built with jansson and written in one layout: an
 * object or array that holds others has a member a line, indented two
 * spaces a level; any other value is on one line as jansson writes it
 * ({"allocator": "malloc", "symbol": "malloc", "line": 20, "column": 21}). */

static json_t *checked(json_t *j) {
    if (!j) {
        fail(sub, "out of memory");
        exit(1);
    }
    return j;
}

/* A JSON string of `s`; bytes of invalid UTF-8 (which jansson refuses)
 * become '?'. */
static json_t *json_text(const char *s) {
    json_t *j = json_string(s);
    if (!j) {
        char *copy = xstrndup(s, strlen(s));
        for (char *p = copy; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        j = json_string(copy);
        free(copy);
    }
    return checked(j);
}

static bool is_container(json_t *v) { return json_is_object(v) || json_is_array(v); }

static bool holds_containers(json_t *v) {
    const char *key;
    size_t i;
    json_t *m;
    if (json_is_object(v)) {
        json_object_foreach(v, key, m) {
            if (is_container(m))
                return true;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, m) {
            if (is_container(m))
                return true;
        }
    }
    return false;
}

static void write_json(FILE *out, json_t *v, int depth) {
    const int flags = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER;
    if (!holds_containers(v)) {
        json_dumpf(v, out, flags);
        return;
    }
    bool object = json_is_object(v);
    size_t n = object ? json_object_size(v) : json_array_size(v);
    void *it = object ? json_object_iter(v) : NULL;
    fputc(object ? '{' : '[', out);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%s\n%*s", i ? "," : "", 2 * (depth + 1), "");
        json_t *member = object ? json_object_iter_value(it) : json_array_get(v, i);
        if (object) {
            json_t *key = json_text(json_object_iter_key(it));
            json_dumpf(key, out, flags);
            json_decref(key);
            fputs(": ", out);
            it = json_object_iter_next(v, it);
        }
        write_json(out, member, depth + 1);
    }
    fprintf(out, "\n%*s%c", 2 * depth, "", object ? '}' : ']');
}

static int cmp_line(const void *pa, const void *pb) {
    const struct site *a = *(const struct site *const *)pa, *b = *(const struct site *const *)pb;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return a->column < b->column ? -1 : a->column > b->column;
}

/* A function's calls in source order. */
static json_t *json_calls(const struct site *v, size_t begin, size_t end) {
    const struct site **order = xrealloc(NULL, (end - begin) * sizeof *order);
    for (size_t k = begin; k < end; k++)
        order[k - begin] = &v[k];
    qsort(order, end - begin, sizeof *order, cmp_line);
    json_t *calls = checked(json_array());
    for (size_t k = 0; k < end - begin; k++) {
        json_t *call = checked(json_pack("{s:o, s:o, s:I, s:I}", "allocator", json_text(order[k]->callee_shown),
                                         "symbol", json_text(order[k]->callee), "line",
                                         (json_int_t)order[k]->line, "column", (json_int_t)order[k]->column));
        if (order[k]->type)
            json_object_set_new(call, "type", json_text(order[k]->type));
        json_array_append_new(calls, call);
    }
    free(order);
    return calls;
}

static json_t *json_functions(const struct site *v, size_t begin, size_t end) {
    size_t n;
    struct group *fns = groups_of(v, begin, end, BY_FUNCTION, &n);
    json_t *functions = checked(json_array());
    for (size_t j = 0; j < n; j++)
        json_array_append_new(functions, checked(json_pack("{s:o, s:o, s:I, s:o}", "function",
                                                           json_text(fns[j].shown), "symbol",
                                                           json_text(v[fns[j].begin].function), "sites",
                                                           (json_int_t)(fns[j].end - fns[j].begin), "calls",
                                                           json_calls(v, fns[j].begin, fns[j].end))));
    free(fns);
    return functions;
}

static json_t *json_files(struct range r) {
    size_t nf;
    struct group *files = groups_of(r.v, r.begin, r.end, BY_FILE, &nf);
    json_t *list = checked(json_array());
    for (size_t i = 0; i < nf; i++)
        json_array_append_new(list, checked(json_pack("{s:o, s:I, s:o}", "file", json_text(files[i].shown),
                                                      "sites", (json_int_t)(files[i].end - files[i].begin),
                                                      "functions",
                                                      json_functions(r.v, files[i].begin, files[i].end))));
    free(files);
    return list;
}

static json_t *json_wrappers(struct range w) {
    json_t *list = checked(json_array());
    for (size_t i = w.begin; i < w.end; i++)
        json_array_append_new(list, checked(json_pack("{s:o, s:o, s:I}", "function", json_text(w.v[i].function_shown),
                                                      "file", json_text(w.v[i].file), "line",
                                                      (json_int_t)w.v[i].line)));
    return list;
}

/* {"sites", "files"} (no type token), {"void_sites", "void_files"},
 * {"cast_sites", "cast_files"} (calls with a "type"), "wrappers" and
 * "wrapper_flag" (null when none), and "build" in command mode. */
static void print_json(FILE *out, const struct sites *s, const struct build_result *b) {
    struct range none = range_of(s, NO_TOKEN), voids = range_of(s, VOID), casts = range_of(s, CAST),
                 wrappers = range_of(s, WRAPPER);
    char *flag = wrappers.end > wrappers.begin ? wrapper_flag(wrappers) : NULL;
    json_t *root = checked(json_pack(
        "{s:I, s:o, s:I, s:o, s:I, s:o, s:o, s:o}", "sites", (json_int_t)(none.end - none.begin), "files",
        json_files(none), "void_sites", (json_int_t)(voids.end - voids.begin), "void_files", json_files(voids),
        "cast_sites", (json_int_t)(casts.end - casts.begin), "cast_files", json_files(casts), "wrappers",
        json_wrappers(wrappers), "wrapper_flag", flag ? json_text(flag) : json_null()));
    free(flag);
    if (b->ran)
        json_object_set_new(root, "build",
                            checked(json_pack("{s:I, s:b, s:I}", "status", (json_int_t)b->status, "failed",
                                              b->status != 0, "files_compiled", (json_int_t)b->files_compiled)));
    write_json(out, root, 0);
    fputc('\n', out);
    json_decref(root);
}

/* ---- command line ---- */

static const char usage_text[] =
    "usage: partmalloc report [--json] [--output FILE] [FILE... | -]\n"
    "       partmalloc report [--json] [--output FILE] -- COMMAND ARGS...\n"
    "Counts the allocation sites clang-22 gave no type token, from -Rpass=alloc-token\n"
    "remarks in build logs or *.opt.yaml optimization records, or from the build COMMAND\n"
    "run with PARTMALLOC_REMARKS=1 (which `partmalloc cc` turns into -Rpass=alloc-token).\n"
    "Then the sites typed void or char-like by a cast, and the wrappers found (to name with\n"
    "--wrapper). With -- COMMAND, a failed build is said and its exit status returned.\n";

struct report_opts {
    bool json;
    const char *output;
    char **files;        /* FILE operands */
    int nfiles;
    char **command;      /* after "--", or NULL */
};

static const struct option report_longopts[] = {
    {"json", no_argument, NULL, 'j'},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, struct report_opts *o) {
    o->files = xrealloc(NULL, (size_t)argc * sizeof *o->files);
    const char *arg;
    int c;
    while ((c = next_option(argc, argv, "-:h", report_longopts, &arg)) != -1) {
        switch (c) {
        case 'j':
            o->json = true;
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 1:
            o->files[o->nfiles++] = optarg;
            break;
        case ':':
            return usage_error(sub, "--output needs a FILE");
        default:
            return usage_error(sub, "unknown option '%s' (accepted: --json, --output FILE, --help, -- COMMAND)", arg);
        }
    }
    if (arg) { /* "--" */
        if (optind == argc)
            return usage_error(sub, "missing COMMAND after '--'");
        if (o->nfiles)
            return usage_error(sub, "give a FILE or '-- COMMAND', not both");
        o->command = argv + optind;
    }
    /* No input named and a person at the keyboard: reading the terminal
     * would look like a hang. An explicit "-" still reads it. */
    if (!o->command && o->nfiles == 0 && isatty(STDIN_FILENO))
        return usage_error(sub, "no input: give build logs or *.opt.yaml records, '-' to read standard input, "
                                "or -- COMMAND (see --help)");
    return -1;
}

static int print_report(const struct report_opts *o, struct sites *s, const struct build_result *b) {
    dedupe(s);
    demangle(s);
    qsort(s->v, s->n, sizeof *s->v, cmp_group_order);
    FILE *out = o->output ? fopen(o->output, "w") : stdout;
    if (!out)
        return fail(sub, "cannot write '%s': %s", o->output, strerror(errno));
    (o->json ? print_json : print_text)(out, s, b);
    if (o->output ? fclose(out) != 0 : fflush(out) != 0)
        return fail(sub, "cannot write '%s': %s", o->output ? o->output : "stdout", strerror(errno));
    return 0;
}

/* Reads the inputs the options name and prints the report. */
static int report(const struct report_opts *o) {
    struct sites s = {0};
    struct build_result b = {0};
    int status = 0;
    if (o->command) {
        status = run_command(o->command, &s, &b);
    } else if (o->nfiles == 0) {
        status = read_file("-", &s);
    } else {
        for (int i = 0; i < o->nfiles && status == 0; i++)
            status = read_file(o->files[i], &s);
        if (status) {
            free_sites(&s);
            return status;
        }
    }
    int rc = print_report(o, &s, &b);
    free_sites(&s);
    return status ? status : rc;
}

int cmd_report(int argc, char **argv) {
    struct report_opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc < 0)
        rc = report(&o);
    free(o.files);
    return rc;
}
