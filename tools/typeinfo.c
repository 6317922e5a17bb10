/* The types of a program under clang's allocation-token names, from DWARF:
 * the entry points of typeinfo.h. pm_types_read opens the file with libdwfl,
 * walks its units (dwarf_walk.c), names each candidate type the way clang
 * does for its token (type_name.c), decides whether it holds pointers
 * (holds_pointers.c) and lists the result; pm_type_hash, pm_type_token and
 * pm_type_partition give a name's hash, token and partition.
 *
 * What cannot be rebuilt is left out rather than guessed: unnamed types
 * without a typedef (clang names them by source column, which DWARF lacks),
 * lambdas, template arguments that are addresses or floating-point values,
 * incomplete types (clang gives them no token).
 */
#define _GNU_SOURCE
#include "typeinfo.h"
#include "typeinfo_internal.h"
#include "typed_map.h"

#include <elf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- tokens and partitions ---------------------------------------------- */

/* Clang's fixed SipHash key (llvm/lib/Support/SipHash.cpp's stable hash). */
static const unsigned char clang_key[16] = {
    0xb5, 0xd4, 0xc9, 0xeb, 0x79, 0x10, 0x4a, 0x79,
    0x6f, 0xec, 0x8b, 0x1b, 0x42, 0x87, 0x81, 0xd4,
};

uint64_t pm_type_hash(const char *name) {
    unsigned char out[crypto_shorthash_siphash24_BYTES];
    crypto_shorthash_siphash24(out, (const unsigned char *)name, strlen(name), clang_key);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--)
        h = h << 8 | out[i];
    return h;
}

uint64_t pm_type_token(const struct pm_type *t, uint64_t token_max) {
    if (token_max == 0)
        token_max = UINT64_MAX;
    if (token_max == 1)
        return 0;
    uint64_t half = token_max / 2;
    return t->hash % half + (t->holds_pointers ? half : 0);
}

unsigned pm_type_partition(uint64_t token, unsigned partitions, uint64_t token_max) {
    if (token_max == 0)
        token_max = UINT64_MAX;
    uint64_t half = token_max / 2;
    return pm_typed_partition_of(token, token_max, half, pm_void_token(half), partitions);
}

/* ---- the list --------------------------------------------------------------*/

static int cmp_type(const void *a, const void *b) {
    const struct pm_type *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    return r ? r : x->holds_pointers - y->holds_pointers;
}

void pm_types_free(struct pm_type *types, size_t count) {
    if (!types)
        return;
    for (size_t i = 0; i < count; i++)
        free(types[i].name);
    free(types);
}

/* Whether a candidate DIE is listed: not an incomplete record or enum
 * (clang gives an incomplete type no token), and for a typedef, what it
 * names can be allocated. */
static bool listable(struct ctx *c, Dwarf_Die *die, int tag) {
    if (is_record_or_enum(tag) && has_flag(die, DW_AT_declaration))
        return false;
    if (tag != DW_TAG_typedef)
        return true;
    Dwarf_Die ct;
    if (!canonical(die, &ct))
        return false; /* void */
    int ctag = dwarf_tag(&ct);
    if (ctag == DW_TAG_subroutine_type || ctag == DW_TAG_reference_type || ctag == DW_TAG_rvalue_reference_type ||
        ctag == DW_TAG_unspecified_type)
        return false;
    return !is_record_or_enum(ctag) || definition(c, &ct, &ct);
}

/* A growing array of types, the list being built. */
struct type_list {
    struct pm_type *v;
    size_t n, cap;
};

/* Appends name (taking it) and holds_pointers; false when out of memory,
 * name then freed. */
static bool type_list_push(struct type_list *l, char *name, bool holds_pointers) {
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 256;
        struct pm_type *p = realloc(l->v, ncap * sizeof *p);
        if (!p) {
            free(name);
            return false;
        }
        l->v = p;
        l->cap = ncap;
    }
    l->v[l->n].name = name;
    l->v[l->n].holds_pointers = holds_pointers;
    l->v[l->n].hash = 0;
    l->n++;
    return true;
}

/* Adds the candidate cands[i] to the list if clang would give it a token. */
static void list_candidate(struct ctx *c, size_t i, struct type_list *l) {
    Dwarf_Die *die = &c->cands.d[i];
    int tag = dwarf_tag(die);
    if (!listable(c, die, tag))
        return;
    struct sb name = {0};
    bool ok = type_name(c, die, c->cands.cxx[i], &name);
    enum holds h = H_NO;
    if (ok)
        h = type_holds_pointers(c, die);
    if (name.oom)
        c->oom = true;
    if (!ok || name.oom || h == H_INCOMPLETE) {
        sb_free(&name);
        return;
    }
    if (!type_list_push(l, name.s, h == H_YES))
        c->oom = true;
}

/* Sorts the list, drops repeated entries and hashes each name; returns how
 * many are left. */
static size_t sort_unique(struct pm_type *v, size_t n) {
    if (n)
        qsort(v, n, sizeof *v, cmp_type);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w && cmp_type(&v[w - 1], &v[i]) == 0) {
            free(v[i].name);
            continue;
        }
        v[w] = v[i];
        v[w].hash = pm_type_hash(v[w].name);
        w++;
    }
    return w;
}

static int collect(struct ctx *c, struct pm_type **out, size_t *count) {
    struct type_list l = {0};
    for (size_t i = 0; i < c->cands.n && !c->oom; i++)
        list_candidate(c, i, &l);
    if (c->oom) {
        pm_types_free(l.v, l.n);
        return -1;
    }
    size_t w = sort_unique(l.v, l.n);
    if (w == 0) {
        free(l.v);
        l.v = NULL;
    }
    *out = l.v;
    *count = w;
    return 0;
}

/* ---- reading a file ---------------------------------------------------------*/

static void ctx_free(struct ctx *c) {
    dies_free(&c->scopes);
    umap_free(&c->parent);
    dies_free(&c->cands);
    scoped_free(&c->tdefs);
    scoped_free(&c->anons);
    umap_free(&c->anon_idx);
    umap_free(&c->anon);
    dies_free(&c->defs);
    smap_free(&c->def_by_raw);
    scoped_free(&c->decls);
    umap_free(&c->decl_def);
    type_names_free(&c->names);
    umap_free(&c->holds);
}

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* 0 when path can be read and starts with the ELF magic; else -1 and err. */
static int check_elf(const char *path, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char ident[SELFMAG];
    ssize_t got = pread(fd, ident, sizeof ident, 0);
    int read_errno = errno;
    close(fd);
    if (got < 0) {
        set_err(err, errlen, "cannot open %s: %s", path, strerror(read_errno));
        return -1;
    }
    if (got != SELFMAG || memcmp(ident, ELFMAG, SELFMAG) != 0) {
        set_err(err, errlen, "%s: not an ELF file", path);
        return -1;
    }
    return 0;
}

/* The DWARF of the ELF file at path, in a libdwfl session *dwfl the caller
 * ends with dwfl_end; NULL and err on failure (no session left open).
 * libdwfl finds the separate debug file (.gnu_debuglink, build-id under
 * /usr/lib/debug) and the dwz file (.gnu_debugaltlink). The callbacks are
 * static: the session keeps a pointer to them. */
static Dwarf *open_dwarf(const char *path, Dwfl **dwfl, char *err, size_t errlen) {
    static char *debuginfo_path = NULL;
    static const Dwfl_Callbacks callbacks = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .section_address = dwfl_offline_section_address,
        .debuginfo_path = &debuginfo_path,
    };
    *dwfl = dwfl_begin(&callbacks);
    if (!*dwfl) {
        set_err(err, errlen, "%s: %s", path, dwfl_errmsg(-1));
        return NULL;
    }
    Dwfl_Module *mod = dwfl_report_offline(*dwfl, "", path, -1);
    if (!mod) {
        set_err(err, errlen, "%s: %s", path, dwfl_errmsg(-1));
        dwfl_end(*dwfl);
        return NULL;
    }
    dwfl_report_end(*dwfl, NULL, NULL);
    Dwarf_Addr bias;
    Dwarf *dw = dwfl_module_getdwarf(mod, &bias);
    if (!dw) {
        set_err(err, errlen, "%s: no DWARF debug info", path);
        dwfl_end(*dwfl);
    }
    return dw;
}

int pm_types_read(const char *path, struct pm_type **out, size_t *count, char *err, size_t errlen) {
    *out = NULL;
    *count = 0;
    if (err && errlen)
        err[0] = '\0';
    if (sodium_init() < 0) {
        set_err(err, errlen, "cannot initialise libsodium");
        return -1;
    }
    if (check_elf(path, err, errlen) < 0)
        return -1;
    Dwfl *dwfl;
    Dwarf *dw = open_dwarf(path, &dwfl, err, errlen);
    if (!dw)
        return -1;
    struct ctx c = {0};
    dwarf_walk(&c, dw);
    int rc = c.oom ? -1 : collect(&c, out, count);
    if (rc < 0)
        set_err(err, errlen, "%s: out of memory", path);
    ctx_free(&c);
    dwfl_end(dwfl);
    return rc;
}
