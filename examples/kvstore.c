/* kvstore: an in-memory key-value store behind a line-based text protocol,
 * the demo workload for partmalloc.
 *
 *   kvstore [-q] [-n COUNT] [-s SEED]   run a generated workload
 *   kvstore [-q] FILE                   run the requests in FILE ("-": stdin)
 *
 * Requests, one per line: SET key value, GET key, DEL key, APPEND key value,
 * INCR key, SCAN prefix, STATS; blank lines and '#' comments are skipped. A
 * FILE run prints one reply per request. A generated run (COUNT requests,
 * 200000 by default, from a PRNG seeded with SEED) feeds clients that come
 * and go, and checks every reply against a shadow model of the store. Both
 * end by checking the store's contents along independent routes and print a
 * summary line; -q prints nothing else. Exit status 0 when every check passes, 1 when
 * one fails, 2 for bad options.
 *
 * Every object is a malloc, calloc or realloc of its own type, so a build
 * with allocation tokens keeps pointer-holding structs and plain data apart:
 *
 *   clang-22 -fsanitize=alloc-token -falloc-token-max=16 -DTOKEN_MAX=16 \
 *       kvstore.c -lpartmalloc
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TOKEN_MAX
/* Tells partmalloc the -falloc-token-max this program was built with. */
const unsigned long long partmalloc_token_max = TOKEN_MAX;
#endif

enum {
    KEY_MAX = 250,
    VALUE_MAX = 1 << 16,
    SCAN_SHOWN = 8,  /* keys a SCAN reply lists after the count */
    LOG_SLOTS = 128, /* recent writes kept in the log ring */
    MIN_BUCKETS = 64,
    MIN_IO_BUF = 64,
    CLIENTS = 8,     /* generated run: clients connected at once */
};

enum command { CMD_SET, CMD_GET, CMD_DEL, CMD_APPEND, CMD_INCR, CMD_SCAN, CMD_STATS, COMMAND_COUNT };

static const struct command_spec {
    const char *name;
    size_t nargs;
    bool rest_of_line; /* the last argument runs to the end of the line */
} command_specs[COMMAND_COUNT] = {
    [CMD_SET] = {"SET", 2, true},    [CMD_GET] = {"GET", 1, false},
    [CMD_DEL] = {"DEL", 1, false},   [CMD_APPEND] = {"APPEND", 2, true},
    [CMD_INCR] = {"INCR", 1, false}, [CMD_SCAN] = {"SCAN", 1, false},
    [CMD_STATS] = {"STATS", 0, false},
};

/* ---- the objects ---- */

struct token { const char *text; size_t len; }; /* a word of a request line */

struct request {
    char *line;          /* the request's own copy of its line */
    struct token *words; /* words[0] is the command; all point into line */
    size_t nwords;
    enum command command;
    const char *error;   /* why the request cannot run, or NULL */
};

struct value { size_t len, cap; unsigned char bytes[]; };

struct lru_node { struct lru_node *prev, *next; struct entry *entry; };
struct lru_list { struct lru_node *head, *tail; }; /* most recently used first */

struct entry {
    struct entry *next; /* hash chain */
    char *key;
    size_t key_len;
    uint64_t key_hash;
    struct value *value;
    struct lru_node *lru;
};

struct table { struct entry **buckets; size_t nbuckets, count; };

struct counter { uint64_t calls, errors; };

struct stats_block {
    uint64_t requests, errors, keys_live, bytes_live, peak_keys;
    uint64_t checksum; /* sum of pair_digest() over the live pairs */
    struct counter commands[COMMAND_COUNT];
};

struct log_record { uint64_t seq; enum command command; uint32_t value_len; char key[32]; };
struct log_ring { size_t next; uint64_t seq; struct log_record *slots[LOG_SLOTS]; };

struct store {
    struct table *table;
    struct lru_list lru;
    struct stats_block *stats;
    struct log_ring *log;
};

struct io_buf { size_t len, cap; char data[]; };

struct session { uint64_t id, requests; struct counter *per_command; };
struct client { struct session *session; struct io_buf *in, *out; };

/* Wraps each malloc call rather than the allocator, so that the compiler
 * still sees the type at every call site. */
static void *checked(void *p) {
    if (!p) {
        fputs("kvstore: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

/* ---- hashing ---- */

static uint64_t fnv_update(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

static uint64_t fnv(const void *data, size_t len) {
    return fnv_update(0xcbf29ce484222325u, data, len);
}

static uint64_t mix64(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/* A live pair's share of the store checksum, a sum so that order does not matter. */
static uint64_t pair_digest(uint64_t key_hash, uint64_t value_hash) {
    return mix64(key_hash ^ mix64(value_hash));
}

/* ---- buffers and values ---- */

static struct io_buf *io_buf_new(void) {
    struct io_buf *b = checked(malloc(sizeof(struct io_buf) + MIN_IO_BUF));
    b->len = 0;
    b->cap = MIN_IO_BUF;
    return b;
}

static void io_buf_reserve(struct io_buf **bp, size_t more) {
    size_t cap = (*bp)->cap;
    while (cap - (*bp)->len < more)
        cap *= 2;
    if (cap != (*bp)->cap) {
        struct io_buf *grown = checked(realloc(*bp, sizeof(struct io_buf) + cap));
        grown->cap = cap;
        *bp = grown;
    }
}

static void io_buf_append(struct io_buf **bp, const void *data, size_t len) {
    io_buf_reserve(bp, len);
    memcpy((*bp)->data + (*bp)->len, data, len);
    (*bp)->len += len;
}

__attribute__((format(printf, 2, 3)))
static void io_buf_printf(struct io_buf **bp, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t len = (size_t)vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    io_buf_reserve(bp, len + 1);
    va_start(ap, fmt);
    vsnprintf((*bp)->data + (*bp)->len, len + 1, fmt, ap);
    va_end(ap);
    (*bp)->len += len;
}

static struct value *value_new(const void *bytes, size_t len) {
    struct value *v = checked(malloc(sizeof(struct value) + len));
    v->len = v->cap = len;
    memcpy(v->bytes, bytes, len);
    return v;
}

/* Grows by half at least, so that a run of APPENDs stays cheap. */
static struct value *value_append(struct value *v, const void *bytes, size_t len) {
    if (v->cap - v->len < len) {
        size_t cap = v->len + len > v->cap + v->cap / 2 ? v->len + len : v->cap + v->cap / 2;
        v = checked(realloc(v, sizeof(struct value) + cap));
        v->cap = cap;
    }
    memcpy(v->bytes + v->len, bytes, len);
    v->len += len;
    return v;
}

/* A whole value as a decimal integer, as INCR accepts it. */
static bool value_number(const struct value *v, long long *out) {
    char text[24], *end;
    if (v->len == 0 || v->len >= sizeof text || (v->bytes[0] != '-' && (v->bytes[0] < '0' || v->bytes[0] > '9')))
        return false;
    memcpy(text, v->bytes, v->len);
    text[v->len] = '\0';
    errno = 0;
    *out = strtoll(text, &end, 10);
    return errno == 0 && *end == '\0';
}

/* ---- the hash table and the LRU list ---- */

static struct entry **new_buckets(size_t n) {
    return checked(calloc(n, sizeof(struct entry *)));
}

/* The link that points at the key's entry, or the null link ending its chain. */
static struct entry **table_link(struct table *t, const char *key, size_t len, uint64_t hash) {
    struct entry **link = &t->buckets[hash & (t->nbuckets - 1)];
    while (*link && !((*link)->key_hash == hash && (*link)->key_len == len &&
                      memcmp((*link)->key, key, len) == 0))
        link = &(*link)->next;
    return link;
}

static void table_add(struct table *t, struct entry *e) {
    struct entry **head = &t->buckets[e->key_hash & (t->nbuckets - 1)];
    e->next = *head;
    *head = e;
    t->count++;
}

static void table_grow(struct table *t) {
    struct table old = *t;
    t->nbuckets *= 2;
    t->buckets = new_buckets(t->nbuckets);
    t->count = 0;
    for (size_t i = 0; i < old.nbuckets; i++) {
        for (struct entry *e = old.buckets[i], *next; e; e = next) {
            next = e->next;
            table_add(t, e);
        }
    }
    free(old.buckets);
}

static void lru_push_front(struct lru_list *l, struct lru_node *n) {
    n->prev = NULL;
    n->next = l->head;
    *(l->head ? &l->head->prev : &l->tail) = n;
    l->head = n;
}

static void lru_unlink(struct lru_list *l, struct lru_node *n) {
    *(n->prev ? &n->prev->next : &l->head) = n->next;
    *(n->next ? &n->next->prev : &l->tail) = n->prev;
}

static void lru_touch(struct lru_list *l, struct lru_node *n) {
    lru_unlink(l, n);
    lru_push_front(l, n);
}

/* ---- the store ---- */

static struct store *store_new(void) {
    struct store *s = checked(malloc(sizeof *s));
    s->table = checked(malloc(sizeof *s->table));
    *s->table = (struct table){.buckets = new_buckets(MIN_BUCKETS), .nbuckets = MIN_BUCKETS};
    s->lru = (struct lru_list){NULL, NULL};
    s->stats = checked(calloc(1, sizeof *s->stats));
    s->log = checked(calloc(1, sizeof(struct log_ring)));
    return s;
}

/* The running tally of the live pairs: a pair is taken out (-1) before it
 * changes and put back (+1) after. */
static void tally(struct stats_block *st, const struct entry *e, int sign) {
    uint64_t digest = pair_digest(e->key_hash, fnv(e->value->bytes, e->value->len));
    st->keys_live += (uint64_t)sign;
    st->bytes_live += (uint64_t)sign * e->value->len;
    st->checksum += (uint64_t)sign * digest;
    if (st->keys_live > st->peak_keys)
        st->peak_keys = st->keys_live;
}

static struct entry *store_find(struct store *s, const struct token *key) {
    return *table_link(s->table, key->text, key->len, fnv(key->text, key->len));
}

static struct entry *store_insert(struct store *s, const struct token *key, struct value *v) {
    struct entry *e = checked(malloc(sizeof *e));
    char *name = checked(malloc(key->len + 1));
    struct lru_node *node = checked(malloc(sizeof *node));
    memcpy(name, key->text, key->len);
    name[key->len] = '\0';
    *e = (struct entry){.key = name, .key_len = key->len, .key_hash = fnv(name, key->len),
                        .value = v, .lru = node};
    node->entry = e;
    lru_push_front(&s->lru, node);
    if (s->table->count >= s->table->nbuckets / 4 * 3)
        table_grow(s->table);
    table_add(s->table, e);
    tally(s->stats, e, +1);
    return e;
}

static void entry_free(struct entry *e) {
    free(e->key);
    free(e->value);
    free(e->lru);
    free(e);
}

static void store_remove(struct store *s, struct entry *e) {
    *table_link(s->table, e->key, e->key_len, e->key_hash) = e->next;
    s->table->count--;
    lru_unlink(&s->lru, e->lru);
    tally(s->stats, e, -1);
    entry_free(e);
}

static void store_log(struct store *s, enum command command, const struct entry *e) {
    struct log_record *rec = checked(malloc(sizeof *rec));
    *rec = (struct log_record){.seq = ++s->log->seq, .command = command, .value_len = (uint32_t)e->value->len};
    snprintf(rec->key, sizeof rec->key, "%s", e->key);
    free(s->log->slots[s->log->next]);
    s->log->slots[s->log->next] = rec;
    s->log->next = (s->log->next + 1) % LOG_SLOTS;
}

static void store_free(struct store *s) {
    for (size_t i = 0; i < s->table->nbuckets; i++) {
        for (struct entry *e = s->table->buckets[i], *next; e; e = next) {
            next = e->next;
            entry_free(e);
        }
    }
    free(s->table->buckets);
    free(s->table);
    for (size_t i = 0; i < LOG_SLOTS; i++)
        free(s->log->slots[i]);
    free(s->log);
    free(s->stats);
    free(s);
}

/* ---- parsing ---- */

static bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Counts the words, and stores them too when words is not NULL. */
static size_t split_words(const char *s, size_t len, struct token *words) {
    size_t n = 0;
    for (size_t i = 0;; n++) {
        while (i < len && is_blank(s[i]))
            i++;
        if (i == len)
            return n;
        size_t start = i;
        while (i < len && !is_blank(s[i]))
            i++;
        if (words)
            words[n] = (struct token){s + start, i - start};
    }
}

static bool word_is(const struct token *w, const char *name) {
    size_t i = 0;
    for (; i < w->len && name[i]; i++)
        if ((w->text[i] >= 'a' && w->text[i] <= 'z' ? w->text[i] - 'a' + 'A' : w->text[i]) != name[i])
            return false;
    return i == w->len && name[i] == '\0';
}

/* Returns NULL for a blank line or a comment. */
static struct request *parse_request(const char *text, size_t len) {
    size_t lead = 0;
    while (lead < len && is_blank(text[lead]))
        lead++;
    if (lead == len || text[lead] == '#')
        return NULL;
    size_t nwords = split_words(text, len, NULL);
    struct request *r = checked(malloc(sizeof *r));
    char *line = checked(malloc(len + 1));
    struct token *words = checked(calloc(nwords, sizeof *words));
    memcpy(line, text, len);
    line[len] = '\0';
    split_words(line, len, words);
    *r = (struct request){.line = line, .words = words, .nwords = nwords, .error = "unknown command"};

    for (enum command c = 0; c < COMMAND_COUNT; c++) {
        const struct command_spec *spec = &command_specs[c];
        if (!word_is(&words[0], spec->name))
            continue;
        r->command = c;
        r->error = NULL;
        if (spec->rest_of_line && nwords > spec->nargs + 1) {
            struct token *last = &words[spec->nargs], *end = &words[nwords - 1];
            last->len = (size_t)(end->text + end->len - last->text);
            r->nwords = spec->nargs + 1;
        } else if (nwords != spec->nargs + 1) {
            r->error = "wrong number of arguments for";
        }
        break;
    }
    return r;
}

static void request_free(struct request *r) {
    free(r->words);
    free(r->line);
    free(r);
}

/* ---- the commands ---- */

static bool reply_error(struct io_buf **out, const char *what) {
    io_buf_printf(out, "ERR %s\n", what);
    return false;
}

static bool cmd_set(struct store *s, const struct token *args, struct io_buf **out) {
    if (args[1].len > VALUE_MAX)
        return reply_error(out, "value too large");
    struct value *v = value_new(args[1].text, args[1].len);
    struct entry *e = store_find(s, &args[0]);
    if (e) {
        tally(s->stats, e, -1);
        free(e->value);
        e->value = v;
        tally(s->stats, e, +1);
        lru_touch(&s->lru, e->lru);
    } else {
        e = store_insert(s, &args[0], v);
    }
    store_log(s, CMD_SET, e);
    io_buf_printf(out, "OK\n");
    return true;
}

static bool cmd_get(struct store *s, const struct token *args, struct io_buf **out) {
    struct entry *e = store_find(s, &args[0]);
    if (!e) {
        io_buf_printf(out, "(nil)\n");
        return true;
    }
    lru_touch(&s->lru, e->lru);
    io_buf_append(out, e->value->bytes, e->value->len);
    io_buf_append(out, "\n", 1);
    return true;
}

static bool cmd_del(struct store *s, const struct token *args, struct io_buf **out) {
    struct entry *e = store_find(s, &args[0]);
    io_buf_printf(out, "%d\n", e != NULL);
    if (e) {
        store_log(s, CMD_DEL, e);
        store_remove(s, e);
    }
    return true;
}

/* APPEND and INCR: the entry's value becomes its first keep bytes followed by
 * the given ones; a missing key is created. */
static struct entry *store_extend(struct store *s, const struct token *key, struct entry *e,
                                  size_t keep, const void *bytes, size_t len) {
    if (!e)
        return store_insert(s, key, value_new(bytes, len));
    tally(s->stats, e, -1);
    e->value->len = keep;
    e->value = value_append(e->value, bytes, len);
    tally(s->stats, e, +1);
    lru_touch(&s->lru, e->lru);
    return e;
}

static bool cmd_append(struct store *s, const struct token *args, struct io_buf **out) {
    struct entry *e = store_find(s, &args[0]);
    size_t had = e ? e->value->len : 0;
    if (args[1].len > VALUE_MAX - had)
        return reply_error(out, "value too large");
    e = store_extend(s, &args[0], e, had, args[1].text, args[1].len);
    store_log(s, CMD_APPEND, e);
    io_buf_printf(out, "%zu\n", e->value->len);
    return true;
}

static bool cmd_incr(struct store *s, const struct token *args, struct io_buf **out) {
    struct entry *e = store_find(s, &args[0]);
    long long n = 0;
    if (e && !value_number(e->value, &n))
        return reply_error(out, "value is not an integer");
    if (n == LLONG_MAX)
        return reply_error(out, "increment would overflow");
    char digits[24];
    size_t len = (size_t)snprintf(digits, sizeof digits, "%lld", n + 1);
    e = store_extend(s, &args[0], e, 0, digits, len);
    store_log(s, CMD_INCR, e);
    io_buf_printf(out, "%s\n", digits);
    return true;
}

/* Replies with how many keys start with the prefix, then the first few of
 * them, most recently used first. */
static bool cmd_scan(struct store *s, const struct token *args, struct io_buf **out) {
    const char **shown = checked(malloc(SCAN_SHOWN * sizeof *shown));
    size_t count = 0;
    for (const struct lru_node *n = s->lru.head; n; n = n->next) {
        const struct entry *e = n->entry;
        if (e->key_len >= args[0].len && memcmp(e->key, args[0].text, args[0].len) == 0) {
            if (count < SCAN_SHOWN)
                shown[count] = e->key;
            count++;
        }
    }
    io_buf_printf(out, "%zu", count);
    for (size_t i = 0; i < count && i < SCAN_SHOWN; i++)
        io_buf_printf(out, " %s", shown[i]);
    io_buf_append(out, "\n", 1);
    free(shown);
    return true;
}

static bool cmd_stats(struct store *s, const struct session *session, struct io_buf **out) {
    const struct stats_block *st = s->stats;
    const struct log_record *last = s->log->slots[(s->log->next + LOG_SLOTS - 1) % LOG_SLOTS];
    io_buf_printf(out, "requests %" PRIu64 " errors %" PRIu64 " keys %" PRIu64 " bytes %" PRIu64
                  " peak %" PRIu64 " session %" PRIu64 " session-requests %" PRIu64 " last-write %s %s\n",
                  st->requests, st->errors, st->keys_live, st->bytes_live, st->peak_keys, session->id,
                  session->requests, last ? command_specs[last->command].name : "-", last ? last->key : "-");
    return true;
}

static void execute(struct store *s, struct session *session, const struct request *r, struct io_buf **out) {
    s->stats->requests++;
    session->requests++;
    if (r->error) {
        io_buf_printf(out, "ERR %s '%.*s'\n", r->error, (int)r->words[0].len, r->words[0].text);
        s->stats->errors++;
        return;
    }
    const struct token *args = r->words + 1;
    bool ok;
    if (r->nwords > 1 && args[0].len > KEY_MAX)
        ok = reply_error(out, "key too long");
    else {
        switch (r->command) {
        case CMD_SET: ok = cmd_set(s, args, out); break;
        case CMD_GET: ok = cmd_get(s, args, out); break;
        case CMD_DEL: ok = cmd_del(s, args, out); break;
        case CMD_APPEND: ok = cmd_append(s, args, out); break;
        case CMD_INCR: ok = cmd_incr(s, args, out); break;
        case CMD_SCAN: ok = cmd_scan(s, args, out); break;
        default: ok = cmd_stats(s, session, out); break;
        }
    }
    struct counter *mine = &session->per_command[r->command], *all = &s->stats->commands[r->command];
    mine->calls++;
    all->calls++;
    if (!ok) {
        mine->errors++;
        all->errors++;
        s->stats->errors++;
    }
}

/* ---- clients ---- */

static struct client *client_connect(uint64_t session_id) {
    struct client *c = checked(malloc(sizeof *c));
    struct session *session = checked(malloc(sizeof *session));
    struct counter *per_command = checked(calloc(COMMAND_COUNT, sizeof *per_command));
    *session = (struct session){.id = session_id, .per_command = per_command};
    *c = (struct client){.session = session, .in = io_buf_new(), .out = io_buf_new()};
    return c;
}

static void client_disconnect(struct client *c) {
    free(c->session->per_command);
    free(c->session);
    free(c->in);
    free(c->out);
    free(c);
}

/* Runs the complete lines waiting in the client's input, and at the end of
 * the input a last line without a newline too. */
static void client_run(struct store *s, struct client *c, bool at_end) {
    struct io_buf *in = c->in;
    size_t done = 0;
    while (done < in->len) {
        const char *start = in->data + done, *newline = memchr(start, '\n', in->len - done);
        if (!newline && !at_end)
            break;
        size_t len = newline ? (size_t)(newline - start) : in->len - done;
        struct request *r = parse_request(start, len);
        if (r) {
            execute(s, c->session, r, &c->out);
            request_free(r);
        }
        done += len + (newline != NULL);
    }
    memmove(in->data, in->data + done, in->len - done);
    in->len -= done;
}

static bool run_file(struct store *s, FILE *in, bool quiet) {
    struct client *c = client_connect(1);
    char chunk[4096];
    for (bool more = true; more;) {
        more = fgets(chunk, sizeof chunk, in) != NULL;
        if (more)
            io_buf_append(&c->in, chunk, strlen(chunk));
        client_run(s, c, !more);
        if (!quiet)
            fwrite(c->out->data, 1, c->out->len, stdout);
        c->out->len = 0;
    }
    client_disconnect(c);
    if (ferror(in))
        fprintf(stderr, "kvstore: error reading the requests: %s\n", strerror(errno));
    return !ferror(in);
}

/* ---- the generated workload and its shadow model ---- */

static const char *const namespaces[] = {"user:", "cart:", "item:", "hits:"};
enum { NAMESPACES = 4, COUNTER_NAMESPACE = 3, KEYS = 6000 };

struct shadow_key { /* what the store must hold under one key */
    char name[24];
    bool live, numeric;
    long long number;
    size_t len;
    uint64_t hash; /* of the value */
};

struct generator { uint64_t rng; struct shadow_key *keys; };

struct expectation {
    enum { EXPECT_ANY, EXPECT_LINE, EXPECT_COUNT } kind;
    size_t len;     /* EXPECT_LINE: the reply's length and hash */
    uint64_t hash;
    uint64_t count; /* EXPECT_COUNT: the number the reply starts with */
};

static uint64_t next_random(uint64_t *state) { /* xorshift64* */
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545f4914f6cdd1du;
}

/* Four requests in five go to a hot eighth of the keys. */
static struct shadow_key *pick_key(struct generator *g, bool counter) {
    uint64_t r = next_random(&g->rng);
    size_t i = (size_t)(r >> 8) % (r % 5 ? KEYS / 8 : KEYS);
    return &g->keys[counter ? i - i % NAMESPACES + COUNTER_NAMESPACE : i];
}

/* Mostly short, now and then a few hundred bytes; letters only, so never a number. */
static size_t random_letters(struct generator *g, char *buf) {
    uint64_t r = next_random(&g->rng), bits = 0;
    size_t len = r % 64 == 0 ? 100 + (r >> 8) % 300 : 1 + (r >> 8) % 40;
    for (size_t i = 0; i < len; i++, bits >>= 8) {
        if (i % 8 == 0)
            bits = next_random(&g->rng);
        buf[i] = (char)('a' + (bits & 0xff) % 26);
    }
    buf[len] = '\0';
    return len;
}

static void expect_text(struct expectation *want, const char *text) {
    *want = (struct expectation){.kind = EXPECT_LINE, .len = strlen(text), .hash = fnv(text, strlen(text))};
}

static void shadow_store(struct shadow_key *k, const char *value, size_t len) {
    k->live = true;
    k->numeric = false;
    k->len = len;
    k->hash = fnv(value, len);
}

/* Also leaves the number's digits in digits. */
static void shadow_store_number(struct shadow_key *k, long long n, char digits[24]) {
    size_t len = (size_t)snprintf(digits, 24, "%lld", n);
    shadow_store(k, digits, len);
    k->numeric = true;
    k->number = n;
}

static void gen_get(struct generator *g, char *line, size_t size, struct expectation *want) {
    struct shadow_key *k = pick_key(g, false);
    snprintf(line, size, "GET %s", k->name);
    if (k->live)
        *want = (struct expectation){.kind = EXPECT_LINE, .len = k->len, .hash = k->hash};
    else
        expect_text(want, "(nil)");
}

/* Counter keys get numbers, the others letters. */
static void gen_set(struct generator *g, char *line, size_t size, struct expectation *want) {
    struct shadow_key *k = pick_key(g, false);
    char value[512];
    if ((k - g->keys) % NAMESPACES == COUNTER_NAMESPACE) {
        shadow_store_number(k, (long long)(next_random(&g->rng) % 2001) - 1000, value);
    } else {
        size_t len = random_letters(g, value);
        shadow_store(k, value, len);
    }
    snprintf(line, size, "SET %s %s", k->name, value);
    expect_text(want, "OK");
}

static void gen_del(struct generator *g, char *line, size_t size, struct expectation *want) {
    struct shadow_key *k = pick_key(g, false);
    snprintf(line, size, "DEL %s", k->name);
    expect_text(want, k->live ? "1" : "0");
    k->live = false;
}

static void gen_append(struct generator *g, char *line, size_t size, struct expectation *want) {
    struct shadow_key *k = pick_key(g, false);
    char value[512], digits[24];
    size_t len = random_letters(g, value);
    snprintf(line, size, "APPEND %s %s", k->name, value);
    if (k->live && k->len + len > VALUE_MAX) {
        expect_text(want, "ERR value too large");
        return;
    }
    if (k->live) { /* FNV-1a carries on over the appended bytes */
        k->hash = fnv_update(k->hash, value, len);
        k->len += len;
        k->numeric = false;
    } else {
        shadow_store(k, value, len);
    }
    snprintf(digits, sizeof digits, "%zu", k->len);
    expect_text(want, digits);
}

static void gen_incr(struct generator *g, char *line, size_t size, struct expectation *want) {
    struct shadow_key *k = pick_key(g, true);
    char digits[24];
    snprintf(line, size, "INCR %s", k->name);
    if (k->live && !k->numeric) {
        expect_text(want, "ERR value is not an integer");
        return;
    }
    shadow_store_number(k, k->live ? k->number + 1 : 1, digits);
    expect_text(want, digits);
}

static void gen_scan(struct generator *g, char *line, size_t size, struct expectation *want) {
    uint64_t r = next_random(&g->rng);
    char prefix[16];
    size_t len = (size_t)snprintf(prefix, sizeof prefix, "%s%u", namespaces[r % NAMESPACES],
                                  (unsigned)(10 + (r >> 8) % 90));
    *want = (struct expectation){.kind = EXPECT_COUNT};
    for (size_t i = 0; i < KEYS; i++)
        want->count += g->keys[i].live && strncmp(g->keys[i].name, prefix, len) == 0;
    snprintf(line, size, "SCAN %s", prefix);
}

/* Requests a client might get wrong, with the replies they must get. */
static void gen_malformed(struct generator *g, char *line, size_t size, struct expectation *want) {
    static const char *const cases[][2] = {
        {"GET", "ERR wrong number of arguments for 'GET'"},
        {"del user:1 user:2", "ERR wrong number of arguments for 'del'"},
        {"PING", "ERR unknown command 'PING'"},
        {"Set", "ERR wrong number of arguments for 'Set'"},
    };
    size_t i = (size_t)(next_random(&g->rng) % (sizeof cases / sizeof cases[0]));
    snprintf(line, size, "%s", cases[i][0]);
    expect_text(want, cases[i][1]);
}

/* Writes the next request into line, applies it to the shadow model and
 * says what the store must reply. */
static void next_request(struct generator *g, char *line, size_t size, struct expectation *want) {
    unsigned roll = (unsigned)(next_random(&g->rng) % 1000);
    if (roll < 380)
        gen_get(g, line, size, want);
    else if (roll < 610)
        gen_set(g, line, size, want);
    else if (roll < 740)
        gen_del(g, line, size, want);
    else if (roll < 850)
        gen_append(g, line, size, want);
    else if (roll < 990)
        gen_incr(g, line, size, want);
    else if (roll < 992)
        gen_scan(g, line, size, want);
    else if (roll < 995)
        gen_malformed(g, line, size, want);
    else {
        snprintf(line, size, "STATS");
        *want = (struct expectation){.kind = EXPECT_ANY};
    }
}

static bool reply_matches(const struct io_buf *out, const struct expectation *want) {
    if (out->len == 0 || out->data[out->len - 1] != '\n')
        return false;
    size_t len = out->len - 1, i = 0;
    uint64_t n = 0;
    if (want->kind == EXPECT_LINE)
        return len == want->len && fnv(out->data, len) == want->hash;
    if (want->kind == EXPECT_ANY)
        return true;
    for (; i < len && out->data[i] >= '0' && out->data[i] <= '9'; i++)
        n = n * 10 + (uint64_t)(out->data[i] - '0');
    return i > 0 && n == want->count;
}

/* ---- checking the store ---- */

struct totals { uint64_t keys, bytes, checksum; };

static void totals_add(struct totals *t, const struct entry *e) {
    t->keys++;
    t->bytes += e->value->len;
    t->checksum += pair_digest(fnv(e->key, e->key_len), fnv(e->value->bytes, e->value->len));
}

static struct totals totals_from_shadow(const struct shadow_key *keys) {
    struct totals t = {0};
    for (size_t i = 0; i < KEYS; i++) {
        if (keys[i].live) {
            t.keys++;
            t.bytes += keys[i].len;
            t.checksum += pair_digest(fnv(keys[i].name, strlen(keys[i].name)), keys[i].hash);
        }
    }
    return t;
}

static bool totals_agree(const struct totals *t, const struct totals *tally, const char *source) {
    if (t->keys == tally->keys && t->bytes == tally->bytes && t->checksum == tally->checksum)
        return true;
    fprintf(stderr, "kvstore: the %s holds %" PRIu64 " keys, %" PRIu64 " bytes, checksum 0x%016" PRIx64
            "; the running tally says %" PRIu64 ", %" PRIu64 ", 0x%016" PRIx64 "\n",
            source, t->keys, t->bytes, t->checksum, tally->keys, tally->bytes, tally->checksum);
    return false;
}

/* Walks the hash table and the LRU list, recomputing every digest from the
 * bytes; both, and the shadow model of a generated run, must agree with the
 * tally kept as the requests ran. */
static bool store_verify(const struct store *s, const struct totals *shadow) {
    const struct stats_block *st = s->stats;
    struct totals tally = {st->keys_live, st->bytes_live, st->checksum}, by_table = {0}, by_lru = {0};
    for (size_t i = 0; i < s->table->nbuckets; i++)
        for (const struct entry *e = s->table->buckets[i]; e; e = e->next)
            totals_add(&by_table, e);
    for (const struct lru_node *n = s->lru.head; n; n = n->next)
        totals_add(&by_lru, n->entry);
    bool ok = totals_agree(&by_table, &tally, "hash table");
    ok = totals_agree(&by_lru, &tally, "LRU list") && ok;
    if (shadow)
        ok = totals_agree(shadow, &tally, "shadow model") && ok;
    if (s->table->count != tally.keys) {
        fprintf(stderr, "kvstore: the hash table counts %zu keys\n", s->table->count);
        ok = false;
    }
    return ok;
}

/* ---- the two kinds of run ---- */

struct options {
    uint64_t count, seed;
    bool quiet;
    const char *path; /* NULL for a generated workload */
};

static void print_report(const struct store *s, const struct options *opt, uint64_t sessions) {
    printf("kvstore: generated workload, seed %" PRIu64 ", %d keys, %" PRIu64 " client sessions\n",
           opt->seed, KEYS, sessions);
    printf("  %-8s %10s %10s\n", "command", "calls", "errors");
    for (enum command c = 0; c < COMMAND_COUNT; c++)
        printf("  %-8s %10" PRIu64 " %10" PRIu64 "\n", command_specs[c].name,
               s->stats->commands[c].calls, s->stats->commands[c].errors);
    printf("  peak %" PRIu64 " keys; %" PRIu64 " value bytes live at the end\n", s->stats->peak_keys,
           s->stats->bytes_live);
}

/* Each request goes to one of CLIENTS clients, which now and then hangs up
 * and is replaced; every reply is checked against the shadow model. */
static bool run_generated(struct store *s, const struct options *opt, struct totals *shadow) {
    struct generator g = {.rng = mix64(opt->seed) | 1, .keys = checked(calloc(KEYS, sizeof(struct shadow_key)))};
    for (size_t i = 0; i < KEYS; i++)
        snprintf(g.keys[i].name, sizeof g.keys[i].name, "%s%zu", namespaces[i % NAMESPACES], i / NAMESPACES);
    struct client *clients[CLIENTS];
    uint64_t sessions = 0, mismatches = 0;
    for (size_t i = 0; i < CLIENTS; i++)
        clients[i] = client_connect(++sessions);
    char line[1024];
    for (uint64_t n = 1; n <= opt->count; n++) {
        uint64_t r = next_random(&g.rng);
        struct client **c = &clients[r % CLIENTS];
        if ((r >> 8) % 256 == 0) {
            client_disconnect(*c);
            *c = client_connect(++sessions);
        }
        struct expectation want;
        next_request(&g, line, sizeof line, &want);
        io_buf_printf(&(*c)->in, "%s\n", line);
        client_run(s, *c, false);
        struct io_buf *out = (*c)->out;
        if (!reply_matches(out, &want) && ++mismatches <= 5)
            fprintf(stderr, "kvstore: request %" PRIu64 " '%s' got the wrong reply '%.*s'\n", n, line,
                    (int)(out->len ? out->len - 1 : 0), out->data);
        out->len = 0;
    }
    for (size_t i = 0; i < CLIENTS; i++)
        client_disconnect(clients[i]);
    *shadow = totals_from_shadow(g.keys);
    free(g.keys);
    if (!opt->quiet)
        print_report(s, opt, sessions);
    if (mismatches)
        fprintf(stderr, "kvstore: %" PRIu64 " replies differ from the shadow model\n", mismatches);
    return mismatches == 0;
}

__attribute__((format(printf, 1, 2)))
static bool bad_option(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("kvstore: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (accepted: -n COUNT, -s SEED, -q, FILE, - for stdin)\n", stderr);
    va_end(ap);
    return false;
}

static bool parse_number(const char *text, uint64_t *out) {
    char *end;
    errno = 0;
    *out = strtoull(text, &end, 0);
    return text[0] >= '0' && text[0] <= '9' && errno == 0 && *end == '\0';
}

static bool parse_options(int argc, char **argv, struct options *opt) {
    *opt = (struct options){.count = 200000, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-q") == 0)
            opt->quiet = true;
        else if (strcmp(arg, "-n") != 0 && strcmp(arg, "-s") != 0 && arg[0] == '-' && arg[1] != '\0')
            return bad_option("unknown option '%s'", arg);
        else if (arg[0] != '-' || arg[1] == '\0') {
            if (opt->path)
                return bad_option("a second input file '%s'", arg);
            opt->path = arg;
        } else if (i + 1 == argc)
            return bad_option("option %s needs a value", arg);
        else if (!parse_number(argv[++i], arg[1] == 'n' ? &opt->count : &opt->seed))
            return bad_option("invalid value '%s' for %s", argv[i], arg);
    }
    return true;
}

int main(int argc, char **argv) {
    struct options opt;
    if (!parse_options(argc, argv, &opt))
        return 2;
    FILE *in = !opt.path ? NULL : strcmp(opt.path, "-") == 0 ? stdin : fopen(opt.path, "r");
    if (opt.path && !in) {
        fprintf(stderr, "kvstore: cannot open %s: %s\n", opt.path, strerror(errno));
        return 1;
    }
    struct store *s = store_new();
    struct totals shadow;
    bool ok = in ? run_file(s, in, opt.quiet) : run_generated(s, &opt, &shadow);
    ok = store_verify(s, in ? NULL : &shadow) && ok;
    printf("kvstore: %" PRIu64 " requests, %" PRIu64 " keys live, checksum 0x%016" PRIx64 ", %s\n",
           s->stats->requests, s->stats->keys_live, s->stats->checksum, ok ? "ok" : "FAILED");
    store_free(s);
    if (in && in != stdin)
        fclose(in);
    return ok ? 0 : 1;
}
