/* The types of a program under clang's allocation-token names, from DWARF.
 *
 * Clang (clang/lib/AST/InferAlloc.cpp) names the allocated type by printing
 * its canonical type with the tag keyword suppressed and the name fully
 * qualified: typedefs are looked through ("node_t" -> "node"), an anonymous
 * struct, union or enum is named by its typedef, C++ names carry their
 * namespaces and classes (inline namespaces left out) and their template
 * arguments (trailing defaulted ones left out). This file rebuilds those
 * names from the DWARF that clang emits with -g, and clang's "holds pointers"
 * flag: a pointer, a typedef named uintptr_t (seen through typedefs and
 * qualifiers only), an array whose element type holds pointers (the element
 * taken canonically, so uintptr_t[N] does not count), a struct, union or
 * class with a member or base that holds pointers, or a C++ class with a
 * vtable pointer. References, member pointers and _Atomic types do not.
 *
 * What cannot be rebuilt is left out rather than guessed: unnamed types
 * without a typedef (clang names them by source column, which DWARF lacks),
 * lambdas, template arguments that are addresses or floating-point values.
 */
#define _GNU_SOURCE
#include "typeinfo.h"

#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
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
    unsigned half_n = partitions >> 1;
    if (token >= token_max || half_n == 0)
        return 0;
    uint64_t half = token_max / 2;
    if (token >= half)
        return half_n + (unsigned)((token - half) & (half_n - 1));
    return (unsigned)(token & (half_n - 1));
}

/* ---- small containers ---------------------------------------------------- */

struct sb {
    char *s;
    size_t len, cap;
    bool oom;
};

static void sb_addn(struct sb *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_add(struct sb *b, const char *s) { sb_addn(b, s, strlen(s)); }

static void sb_addf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_addf(struct sb *b, const char *fmt, ...) {
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof buf)
        sb_addn(b, buf, (size_t)n);
    else
        b->oom = true;
}

static const char *sb_str(const struct sb *b) { return b->s ? b->s : ""; }
static void sb_free(struct sb *b) {
    free(b->s);
    *b = (struct sb){0};
}

/* Maps from a key to a word, on the C library's search trees (tsearch):
 * a umap's keys are non-zero words (a DIE's address in the mapped section,
 * unique across units and files), an smap's are strings it owns copies of. */
struct map_entry {
    union {
        uintptr_t word;
        char *str;
    } key;
    uintptr_t val;
};
struct umap {
    void *root;
};
struct smap {
    void *root;
};

static int word_cmp(const void *a, const void *b) {
    uintptr_t x = ((const struct map_entry *)a)->key.word, y = ((const struct map_entry *)b)->key.word;
    return (x > y) - (x < y);
}

static int str_cmp(const void *a, const void *b) {
    return strcmp(((const struct map_entry *)a)->key.str, ((const struct map_entry *)b)->key.str);
}

static bool map_get(void *const *root, int (*cmp)(const void *, const void *), struct map_entry probe, uintptr_t *val) {
    struct map_entry *const *e = tfind(&probe, root, cmp);
    if (e)
        *val = (*e)->val;
    return e != NULL;
}

/* Inserts e unless its key is present; returns the entry with that key, or
 * NULL when out of memory. */
static struct map_entry *map_put(void **root, int (*cmp)(const void *, const void *), struct map_entry e) {
    struct map_entry *copy = malloc(sizeof *copy);
    if (!copy)
        return NULL;
    *copy = e;
    struct map_entry **at = tsearch(copy, root, cmp);
    if (!at || *at != copy)
        free(copy);
    return at ? *at : NULL;
}

static bool umap_get(const struct umap *m, uintptr_t key, uintptr_t *val) {
    return map_get(&m->root, word_cmp, (struct map_entry){.key.word = key}, val);
}

/* Inserts key -> val unless key is present; false when out of memory. */
static bool umap_put(struct umap *m, uintptr_t key, uintptr_t val) {
    return map_put(&m->root, word_cmp, (struct map_entry){.key.word = key, .val = val}) != NULL;
}

static bool smap_get(const struct smap *m, const char *key, uintptr_t *val) {
    return map_get(&m->root, str_cmp, (struct map_entry){.key.str = (char *)key}, val);
}

static bool smap_put(struct smap *m, const char *key, uintptr_t val) {
    char *copy = strdup(key);
    struct map_entry *e = copy ? map_put(&m->root, str_cmp, (struct map_entry){.key.str = copy, .val = val}) : NULL;
    if (!e || e->key.str != copy)
        free(copy);
    return e != NULL;
}

/* Frees an smap's entry (for tdestroy). */
static void free_str_entry(void *e) {
    free(((struct map_entry *)e)->key.str);
    free(e);
}

/* A growing array of DIEs; DIEs are referred to by index + 1 in the maps. */
struct dies {
    Dwarf_Die *d;
    bool *cxx;
    size_t n, cap;
};

static size_t dies_push(struct dies *a, const Dwarf_Die *die, bool cxx) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        Dwarf_Die *d = realloc(a->d, cap * sizeof *d);
        if (!d)
            return 0;
        a->d = d;
        bool *c = realloc(a->cxx, cap * sizeof *c);
        if (!c)
            return 0;
        a->cxx = c;
        a->cap = cap;
    }
    a->d[a->n] = *die;
    a->cxx[a->n] = cxx;
    return ++a->n;
}

static void dies_free(struct dies *a) {
    free(a->d);
    free(a->cxx);
    *a = (struct dies){0};
}

/* DIEs with a string each (a scope-qualified DWARF name). */
struct scoped {
    struct dies d;
    char **raw;
    size_t cap;
};

static bool scoped_push(struct scoped *a, const Dwarf_Die *die, const char *raw) {
    if (a->d.n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        char **p = realloc(a->raw, cap * sizeof *p);
        if (!p)
            return false;
        a->raw = p;
        a->cap = cap;
    }
    char *copy = strdup(raw);
    if (!copy || !dies_push(&a->d, die, false)) {
        free(copy);
        return false;
    }
    a->raw[a->d.n - 1] = copy;
    return true;
}

static void scoped_free(struct scoped *a) {
    for (size_t i = 0; i < a->d.n; i++)
        free(a->raw[i]);
    free(a->raw);
    dies_free(&a->d);
    *a = (struct scoped){0};
}

/* ---- reading state ------------------------------------------------------- */

#define MAX_DEPTH 64
/* Recursion is also bounded by ctx.nest across names printed inside names
 * (template arguments, scopes), which start their own depth count. */
#define MAX_NEST 400
#define NAME_FAILED ((uintptr_t)1)

enum holds { H_NO = 1, H_YES, H_INCOMPLETE };

struct ctx {
    struct dies scopes;     /* parents of type, namespace and function DIEs */
    struct umap parent;     /* DIE -> index in scopes */
    struct dies cands;      /* DIEs that may be listed */
    struct scoped tdefs;    /* typedefs of anonymous types, with their scopes */
    struct scoped anons;    /* anonymous structs, unions, enums, with their scopes */
    struct umap anon_idx;   /* anonymous type -> index in anons */
    struct umap anon;       /* anonymous type -> index in tdefs.d of its name */
    struct dies defs;       /* record definitions */
    struct smap def_by_raw; /* scope-qualified DWARF name -> index in defs */
    struct scoped decls;    /* record declarations to resolve, with their names */
    struct umap decl_def;   /* declaration -> index in defs */
    struct umap names;      /* record/enum -> canonical name (malloc'ed) or NAME_FAILED */
    struct umap holds;      /* record -> enum holds */
    bool default_cxx;       /* for units without a language */
    int nest;               /* names being printed inside each other */
    bool oom;
};

static uintptr_t die_key(const Dwarf_Die *die) { return (uintptr_t)die->addr; }

static bool has_flag(Dwarf_Die *die, unsigned at) {
    Dwarf_Attribute a;
    bool flag = false;
    if (!dwarf_attr(die, at, &a))
        return false;
    return dwarf_formflag(&a, &flag) == 0 && flag;
}

static bool get_udata(Dwarf_Die *die, unsigned at, Dwarf_Word *out) {
    Dwarf_Attribute a;
    return dwarf_attr(die, at, &a) && dwarf_formudata(&a, out) == 0;
}

/* The DIE of a type attribute; false for none (void) or on error. */
static bool type_of(Dwarf_Die *die, Dwarf_Die *out) {
    Dwarf_Attribute a;
    if (!dwarf_attr_integrate(die, DW_AT_type, &a))
        return false;
    return dwarf_formref_die(&a, out) != NULL;
}

static bool is_record(int tag) {
    return tag == DW_TAG_structure_type || tag == DW_TAG_class_type || tag == DW_TAG_union_type;
}

static bool is_qualifier(int tag) {
    return tag == DW_TAG_const_type || tag == DW_TAG_volatile_type || tag == DW_TAG_restrict_type;
}

static bool lang_is_cxx(int lang) {
    switch (lang) {
    case DW_LANG_C_plus_plus:
    case DW_LANG_C_plus_plus_03:
    case DW_LANG_C_plus_plus_11:
    case DW_LANG_C_plus_plus_14:
    case 0x2a: /* DW_LANG_C_plus_plus_17 */
    case 0x2b: /* DW_LANG_C_plus_plus_20 */
    case DW_LANG_ObjC_plus_plus:
        return true;
    default:
        return false;
    }
}

/* Strips typedefs and qualifiers; false for void. */
static bool canonical(Dwarf_Die *die, Dwarf_Die *out) {
    Dwarf_Die cur = *die;
    for (int i = 0; i < MAX_DEPTH; i++) {
        int tag = dwarf_tag(&cur);
        if (tag != DW_TAG_typedef && !is_qualifier(tag)) {
            *out = cur;
            return true;
        }
        if (!type_of(&cur, &cur))
            return false;
    }
    return false;
}

/* The definition of a struct, union, class or enum, which may be the DIE
 * itself, a type unit's (DW_AT_signature) or another unit's of the same
 * scope-qualified DWARF name. */
static bool definition(struct ctx *c, Dwarf_Die *die, Dwarf_Die *out) {
    if (!has_flag(die, DW_AT_declaration)) {
        *out = *die;
        return true;
    }
    Dwarf_Attribute a;
    Dwarf_Die sig;
    if (dwarf_attr(die, DW_AT_signature, &a) && dwarf_formref_die(&a, &sig) &&
        !has_flag(&sig, DW_AT_declaration)) {
        *out = sig;
        return true;
    }
    uintptr_t idx;
    if (umap_get(&c->decl_def, die_key(die), &idx)) {
        *out = c->defs.d[idx - 1];
        return true;
    }
    return false;
}

/* ---- walking the units --------------------------------------------------- */

static char *join_scope(const char *scope, const char *name) {
    size_t a = strlen(scope), b = strlen(name);
    char *s = malloc(a + b + 3);
    if (!s)
        return NULL;
    memcpy(s, scope, a);
    memcpy(s + a, "::", 2);
    memcpy(s + a + 2, name, b + 1);
    return s;
}

/* Visits the children of `die` (scope_idx: the index of the nearest
 * enclosing namespace, type, function or unit in c->scopes; raw: the
 * scope-qualified DWARF name of that scope, "" for a unit). */
static void walk(struct ctx *c, Dwarf_Die *die, size_t scope_idx, const char *raw, bool cxx, int depth) {
    Dwarf_Die ch;
    if (depth > MAX_DEPTH || dwarf_child(die, &ch) != 0)
        return;
    do {
        if (c->oom)
            return;
        int tag = dwarf_tag(&ch);
        bool scope = false, cand = false;
        const char *name = dwarf_diename(&ch);
        char tmp[48];
        switch (tag) {
        case DW_TAG_namespace:
        case DW_TAG_subprogram:
            scope = true;
            break;
        case DW_TAG_structure_type:
        case DW_TAG_class_type:
        case DW_TAG_union_type:
        case DW_TAG_enumeration_type:
            scope = cand = true;
            break;
        case DW_TAG_typedef:
        case DW_TAG_base_type:
        case DW_TAG_pointer_type:
            cand = true;
            break;
        case DW_TAG_lexical_block:
            walk(c, &ch, scope_idx, raw, cxx, depth + 1);
            continue;
        default:
            continue;
        }
        if (!umap_put(&c->parent, die_key(&ch), scope_idx)) {
            c->oom = true;
            return;
        }
        if (cand && !dies_push(&c->cands, &ch, cxx)) {
            c->oom = true;
            return;
        }
        if (tag == DW_TAG_typedef && name) {
            /* typedef struct { ... } name; may name the struct (resolve_anon) */
            Dwarf_Die t;
            if (type_of(&ch, &t) && (is_record(dwarf_tag(&t)) || dwarf_tag(&t) == DW_TAG_enumeration_type) &&
                !dwarf_diename(&t) && !scoped_push(&c->tdefs, &ch, raw))
                c->oom = true;
        }
        if ((is_record(tag) || tag == DW_TAG_enumeration_type) && !name) {
            if (!scoped_push(&c->anons, &ch, raw) || !umap_put(&c->anon_idx, die_key(&ch), c->anons.d.n))
                c->oom = true;
        }
        if (!scope)
            continue;
        /* The scope-qualified DWARF name, to match declarations with
         * definitions: C has one tag namespace, C++ qualifies. */
        const char *part = name;
        if (!part) {
            snprintf(tmp, sizeof tmp, "(anon@%lx)", (unsigned long)die_key(&ch));
            part = tmp;
        } else if (tag == DW_TAG_subprogram) {
            snprintf(tmp, sizeof tmp, "(fn@%lx)", (unsigned long)die_key(&ch));
            part = tmp;
        }
        char *sub = cxx ? join_scope(raw, part) : strdup(part);
        if (!sub) {
            c->oom = true;
            return;
        }
        if (is_record(tag) && name) {
            if (has_flag(&ch, DW_AT_declaration)) {
                if (!scoped_push(&c->decls, &ch, sub))
                    c->oom = true;
            } else {
                uintptr_t old;
                if (!smap_get(&c->def_by_raw, sub, &old)) {
                    size_t i = dies_push(&c->defs, &ch, cxx);
                    if (!i || !smap_put(&c->def_by_raw, sub, i))
                        c->oom = true;
                }
            }
        }
        if (tag != DW_TAG_enumeration_type) {
            size_t idx = dies_push(&c->scopes, &ch, cxx);
            if (!idx)
                c->oom = true;
            else
                walk(c, &ch, idx, sub, cxx, depth + 1);
        }
        free(sub);
    } while (dwarf_siblingof(&ch, &ch) == 0);
}

static void walk_unit(struct ctx *c, Dwarf_Die *unit) {
    int lang = dwarf_srclang(unit);
    bool cxx = lang < 0 ? c->default_cxx : lang_is_cxx(lang);
    size_t idx = dies_push(&c->scopes, unit, cxx);
    if (!idx) {
        c->oom = true;
        return;
    }
    walk(c, unit, idx, "", cxx, 0);
}

static void walk_dwarf(struct ctx *c, Dwarf *dw) {
    Dwarf_CU *cu = NULL;
    Dwarf_Half version;
    uint8_t unit_type;
    Dwarf_Die unit, sub;
    while (!c->oom && dwarf_get_units(dw, cu, &cu, &version, &unit_type, &unit, &sub) == 0) {
        if (dwarf_tag(&unit) == DW_TAG_invalid)
            continue;
        if (unit_type == DW_UT_skeleton && dwarf_tag(&sub) != DW_TAG_invalid)
            walk_unit(c, &sub);
        else
            walk_unit(c, &unit);
    }
}

/* Whether any unit is C++: the language for units that do not say (dwz's
 * partial units). */
static bool any_cxx(Dwarf *dw) {
    Dwarf_CU *cu = NULL;
    Dwarf_Half version;
    uint8_t unit_type;
    Dwarf_Die unit, sub;
    while (dwarf_get_units(dw, cu, &cu, &version, &unit_type, &unit, &sub) == 0) {
        if (dwarf_tag(&unit) == DW_TAG_invalid)
            continue;
        int lang = dwarf_srclang(&unit);
        if (lang >= 0 && lang_is_cxx(lang))
            return true;
    }
    return false;
}

/* An anonymous struct, union or enum is named by the first typedef of it in
 * its own scope (the typedef name for linkage); a typedef elsewhere, such as
 * a template's member typedef of a lambda's class, does not name it. Scopes
 * are compared by name: a type unit repeats its type's namespaces. */
static void resolve_anon(struct ctx *c) {
    for (size_t i = 0; i < c->tdefs.d.n && !c->oom; i++) {
        Dwarf_Die t;
        Dwarf_Attribute sig;
        uintptr_t j, old;
        if (!type_of(&c->tdefs.d.d[i], &t))
            continue;
        if (dwarf_attr(&t, DW_AT_signature, &sig) && !dwarf_formref_die(&sig, &t))
            continue; /* the stub of a type unit's type: name the type */
        if (!umap_get(&c->anon_idx, die_key(&t), &j) ||
            strcmp(c->tdefs.raw[i], c->anons.raw[j - 1]) != 0 || umap_get(&c->anon, die_key(&t), &old))
            continue;
        if (!umap_put(&c->anon, die_key(&t), i + 1))
            c->oom = true;
    }
}

static void resolve_decls(struct ctx *c) {
    for (size_t i = 0; i < c->decls.d.n && !c->oom; i++) {
        uintptr_t idx;
        if (smap_get(&c->def_by_raw, c->decls.raw[i], &idx) && !umap_put(&c->decl_def, die_key(&c->decls.d.d[i]), idx))
            c->oom = true;
    }
}

/* ---- names ---------------------------------------------------------------- */

static bool print_type(struct ctx *c, Dwarf_Die *die, unsigned quals, const char *inner, bool sugared, bool cxx,
                       struct sb *out, int depth);
static bool qualified_name(struct ctx *c, Dwarf_Die *die, bool cxx, int depth, struct sb *out);
static bool scope_prefix(struct ctx *c, Dwarf_Die *die, bool cxx, int depth, struct sb *out);

enum { Q_CONST = 1, Q_VOLATILE = 2, Q_RESTRICT = 4 };

static void add_quals(struct sb *b, unsigned quals, bool cxx, bool trailing_space) {
    const char *names[3] = {"const", "volatile", cxx ? "__restrict" : "restrict"};
    bool first = true;
    for (int i = 0; i < 3; i++) {
        if (!(quals & (1u << i)))
            continue;
        if (!first)
            sb_add(b, " ");
        sb_add(b, names[i]);
        first = false;
    }
    if (!first && trailing_space)
        sb_add(b, " ");
}

static bool parent_of(struct ctx *c, Dwarf_Die *die, Dwarf_Die *out) {
    uintptr_t idx;
    if (!umap_get(&c->parent, die_key(die), &idx))
        return false;
    *out = c->scopes.d[idx - 1];
    return true;
}

/* Clang's name for a base type; gcc's spellings mapped to clang's. */
static const char *base_name(Dwarf_Die *die) {
    static const char *const gcc_names[][2] = {
        {"long int", "long"},
        {"long unsigned int", "unsigned long"},
        {"short int", "short"},
        {"short unsigned int", "unsigned short"},
        {"long long int", "long long"},
        {"long long unsigned int", "unsigned long long"},
        {"__int128 unsigned", "unsigned __int128"},
        {"complex float", "_Complex float"},
        {"complex double", "_Complex double"},
        {"complex long double", "_Complex long double"},
    };
    const char *name = dwarf_diename(die);
    if (!name)
        return NULL;
    Dwarf_Word enc = 0, size = 0;
    get_udata(die, DW_AT_encoding, &enc);
    get_udata(die, DW_AT_byte_size, &size);
    if (strcmp(name, "complex") == 0 && enc == DW_ATE_complex_float) {
        /* clang's DWARF calls every complex type "complex" */
        switch (size) {
        case 8: return "_Complex float";
        case 16: return "_Complex double";
        case 32: return "_Complex long double";
        default: return NULL;
        }
    }
    for (size_t i = 0; i < sizeof gcc_names / sizeof gcc_names[0]; i++)
        if (strcmp(name, gcc_names[i][0]) == 0)
            return gcc_names[i][1];
    return name;
}

/* A constant, as a word sign-extended from `size` bytes if `is_signed`. */
static bool const_value(Dwarf_Die *die, unsigned size, bool is_signed, uint64_t *out) {
    Dwarf_Attribute a;
    if (!dwarf_attr(die, DW_AT_const_value, &a))
        return false;
    uint64_t v;
    if (dwarf_whatform(&a) == DW_FORM_sdata) {
        Dwarf_Sword s;
        if (dwarf_formsdata(&a, &s) != 0)
            return false;
        v = (uint64_t)s;
    } else {
        Dwarf_Word u;
        if (dwarf_formudata(&a, &u) != 0)
            return false;
        v = u;
    }
    if (size == 0 || size > 8)
        return false;
    if (size < 8) {
        uint64_t mask = (UINT64_C(1) << (size * 8)) - 1;
        v &= mask;
        if (is_signed && (v >> (size * 8 - 1) & 1))
            v |= ~mask;
    }
    *out = v;
    return true;
}

/* A character template argument the way clang prints it: 'a', '\n', '\x00'. */
static bool char_literal(struct sb *b, const char *prefix, uint64_t v, unsigned size) {
    if (size == 1)
        v &= 0xff;
    sb_add(b, prefix);
    sb_add(b, "'");
    switch (v) {
    case '\a': sb_add(b, "\\a"); break;
    case '\b': sb_add(b, "\\b"); break;
    case '\t': sb_add(b, "\\t"); break;
    case '\n': sb_add(b, "\\n"); break;
    case '\v': sb_add(b, "\\v"); break;
    case '\f': sb_add(b, "\\f"); break;
    case '\r': sb_add(b, "\\r"); break;
    case '\'': sb_add(b, "\\'"); break;
    case '\\': sb_add(b, "\\\\"); break;
    default:
        if (v >= 0x20 && v < 0x7f) {
            char ch = (char)v;
            sb_addn(b, &ch, 1);
        } else if (size == 1) {
            sb_addf(b, "\\x%02x", (unsigned)v);
        } else {
            return false; /* wide characters beyond ASCII: not checked */
        }
    }
    sb_add(b, "'");
    return true;
}

/* A non-type template argument: integers, bool, characters, enumerators. */
static bool value_arg(struct ctx *c, Dwarf_Die *param, bool cxx, struct sb *out, int depth) {
    Dwarf_Die t, ct;
    if (!type_of(param, &t) || !canonical(&t, &ct))
        return false;
    Dwarf_Word size = 0, enc = 0;
    int tag = dwarf_tag(&ct);
    if (tag == DW_TAG_enumeration_type) {
        Dwarf_Die def, ut, uct, e;
        if (!definition(c, &ct, &def))
            def = ct;
        get_udata(&def, DW_AT_byte_size, &size);
        bool is_signed = true;
        if (type_of(&def, &ut) && canonical(&ut, &uct) && get_udata(&uct, DW_AT_encoding, &enc))
            is_signed = enc == DW_ATE_signed || enc == DW_ATE_signed_char;
        uint64_t v, ev;
        if (!const_value(param, (unsigned)size, is_signed, &v))
            return false;
        if (dwarf_child(&def, &e) == 0) {
            do {
                if (dwarf_tag(&e) != DW_TAG_enumerator || !const_value(&e, (unsigned)size, is_signed, &ev) || ev != v)
                    continue;
                const char *en = dwarf_diename(&e);
                if (!en)
                    return false;
                if (has_flag(&def, DW_AT_enum_class)) {
                    if (!qualified_name(c, &def, cxx, depth + 1, out))
                        return false;
                    sb_add(out, "::");
                } else if (!scope_prefix(c, &def, cxx, 0, out)) {
                    return false; /* an unscoped enumerator lives in the enum's scope */
                }
                sb_add(out, en);
                return true;
            } while (dwarf_siblingof(&e, &e) == 0);
        }
        if (is_signed)
            sb_addf(out, "%lld", (long long)v);
        else
            sb_addf(out, "%llu", (unsigned long long)v);
        return true;
    }
    if (tag != DW_TAG_base_type || !get_udata(&ct, DW_AT_encoding, &enc) || !get_udata(&ct, DW_AT_byte_size, &size))
        return false;
    const char *tn = dwarf_diename(&ct);
    bool is_signed = enc == DW_ATE_signed || enc == DW_ATE_signed_char;
    uint64_t v;
    if (!tn || !const_value(param, (unsigned)size, is_signed, &v))
        return false;
    if (enc == DW_ATE_boolean) {
        sb_add(out, v ? "true" : "false");
        return true;
    }
    if (enc == DW_ATE_signed_char || enc == DW_ATE_unsigned_char)
        return char_literal(out, "", v, (unsigned)size);
    if (strcmp(tn, "wchar_t") == 0)
        return char_literal(out, "L", v, (unsigned)size);
    if (enc == DW_ATE_UTF) {
        const char *prefix = strcmp(tn, "char8_t") == 0    ? "u8"
                             : strcmp(tn, "char16_t") == 0 ? "u"
                             : strcmp(tn, "char32_t") == 0 ? "U"
                                                           : NULL;
        return prefix && char_literal(out, prefix, v, (unsigned)size);
    }
    if (enc == DW_ATE_signed)
        sb_addf(out, "%lld", (long long)v);
    else if (enc == DW_ATE_unsigned)
        sb_addf(out, "%llu", (unsigned long long)v);
    else
        return false;
    return true;
}

/* One template argument DIE. */
static bool template_arg(struct ctx *c, Dwarf_Die *a, bool cxx, struct sb *out, int depth) {
    switch (dwarf_tag(a)) {
    case DW_TAG_template_type_parameter: {
        Dwarf_Die t;
        bool have = type_of(a, &t);
        return print_type(c, have ? &t : NULL, 0, "", false, cxx, out, depth + 1);
    }
    case DW_TAG_template_value_parameter:
        return value_arg(c, a, cxx, out, depth + 1);
    case DW_TAG_GNU_template_template_param: {
        Dwarf_Attribute attr;
        const char *tn = dwarf_attr(a, DW_AT_GNU_template_name, &attr) ? dwarf_formstring(&attr) : NULL;
        if (tn)
            sb_add(out, tn);
        return tn != NULL;
    }
    default:
        return false;
    }
}

/* Appends "<args>" from the template parameter DIEs of `def`, dropping the
 * trailing arguments that equal their defaults (DW_AT_default_value), which
 * need not be printable. */
static bool template_args(struct ctx *c, Dwarf_Die *def, bool cxx, struct sb *out, int depth) {
    struct sb args = {0};
    size_t keep = 0;      /* length of args up to the last non-default argument */
    bool keep_ok = true;  /* every argument up to there printed */
    bool all_ok = true;   /* every argument so far printed */
    Dwarf_Die p;
    if (dwarf_child(def, &p) != 0)
        return false;
    do {
        int tag = dwarf_tag(&p);
        if (tag == DW_TAG_GNU_template_parameter_pack) {
            /* each element of the pack is one argument, none defaulted */
            Dwarf_Die e;
            if (dwarf_child(&p, &e) != 0)
                continue;
            do {
                if (args.len)
                    sb_add(&args, ", ");
                all_ok &= template_arg(c, &e, cxx, &args, depth);
                keep = args.len;
                keep_ok = all_ok;
            } while (dwarf_siblingof(&e, &e) == 0);
        } else if (tag == DW_TAG_template_type_parameter || tag == DW_TAG_template_value_parameter ||
                   tag == DW_TAG_GNU_template_template_param) {
            if (args.len)
                sb_add(&args, ", ");
            all_ok &= template_arg(c, &p, cxx, &args, depth);
            if (!has_flag(&p, DW_AT_default_value)) {
                keep = args.len;
                keep_ok = all_ok;
            }
        }
    } while (dwarf_siblingof(&p, &p) == 0);
    bool ok = !args.oom && keep_ok;
    if (args.oom)
        c->oom = true;
    if (ok) {
        sb_add(out, "<");
        sb_addn(out, sb_str(&args), keep);
        sb_add(out, ">");
    }
    sb_free(&args);
    return ok;
}

static bool has_template_params(Dwarf_Die *die) {
    Dwarf_Die p;
    if (dwarf_child(die, &p) != 0)
        return false;
    do {
        switch (dwarf_tag(&p)) {
        case DW_TAG_template_type_parameter:
        case DW_TAG_template_value_parameter:
        case DW_TAG_GNU_template_template_param:
        case DW_TAG_GNU_template_parameter_pack:
            return true;
        default:
            break;
        }
    } while (dwarf_siblingof(&p, &p) == 0);
    return false;
}

/* "(int, char *)": the parameters of function fn, their types printed by
 * print_type (`sugared`: typedefs kept); `none` when there are none. */
static bool param_list(struct ctx *c, Dwarf_Die *fn, bool sugared, const char *none, bool cxx, struct sb *out,
                       int depth) {
    sb_add(out, "(");
    bool first = true;
    Dwarf_Die p;
    if (dwarf_child(fn, &p) == 0) {
        do {
            int tag = dwarf_tag(&p);
            if (tag == DW_TAG_unspecified_parameters) {
                sb_add(out, first ? "..." : ", ...");
                first = false;
                continue;
            }
            if (tag != DW_TAG_formal_parameter || has_flag(&p, DW_AT_artificial))
                continue;
            if (!first)
                sb_add(out, ", ");
            first = false;
            Dwarf_Die t;
            if (!type_of(&p, &t) || !print_type(c, &t, 0, "", sugared, cxx, out, depth + 1))
                return false;
        } while (dwarf_siblingof(&p, &p) == 0);
    }
    if (first)
        sb_add(out, none);
    sb_add(out, ")");
    return true;
}

/* "ns::fn(int, char *)": a function as the scope of a class nested in a
 * class local to it. Clang prints the parameters as written (typedefs kept). */
static bool function_context(struct ctx *c, Dwarf_Die *sub, bool cxx, int depth, struct sb *out) {
    Dwarf_Die decl = *sub;
    for (int i = 0; i < 4; i++) {
        Dwarf_Attribute a;
        Dwarf_Die next;
        if ((dwarf_attr(&decl, DW_AT_specification, &a) || dwarf_attr(&decl, DW_AT_abstract_origin, &a)) &&
            dwarf_formref_die(&a, &next))
            decl = next;
        else
            break;
    }
    const char *name = dwarf_diename(&decl);
    if (!name || strncmp(name, "operator", 8) == 0)
        return false;
    if (!scope_prefix(c, &decl, cxx, depth + 1, out))
        return false;
    const char *lt = strchr(name, '<'); /* a function template's arguments are not printed */
    sb_addn(out, name, lt ? (size_t)(lt - name) : strlen(name));
    return param_list(c, &decl, true, "", cxx, out, depth);
}

/* "ns::Outer::" for a C++ DIE (nothing for C). A class local to a function
 * is printed bare; a class nested in a local class gets the function. */
static bool scope_prefix(struct ctx *c, Dwarf_Die *die, bool cxx, int depth, struct sb *out) {
    if (!cxx)
        return true;
    if (depth > MAX_DEPTH)
        return false;
    Dwarf_Die p;
    if (!parent_of(c, die, &p))
        return false;
    switch (dwarf_tag(&p)) {
    case DW_TAG_compile_unit:
    case DW_TAG_partial_unit:
    case DW_TAG_type_unit:
    case DW_TAG_skeleton_unit:
        return true;
    case DW_TAG_namespace: {
        if (!scope_prefix(c, &p, cxx, depth + 1, out))
            return false;
        const char *name = dwarf_diename(&p);
        if (!name)
            sb_add(out, "(anonymous namespace)::");
        else if (!has_flag(&p, DW_AT_export_symbols)) /* inline namespaces are left out */
            sb_add(out, name), sb_add(out, "::");
        return true;
    }
    case DW_TAG_structure_type:
    case DW_TAG_class_type:
    case DW_TAG_union_type:
        if (!qualified_name(c, &p, cxx, depth + 1, out))
            return false;
        sb_add(out, "::");
        return true;
    case DW_TAG_subprogram:
        if (depth == 0)
            return true;
        if (!function_context(c, &p, cxx, depth + 1, out))
            return false;
        sb_add(out, "::");
        return true;
    default:
        return false;
    }
}

/* The qualified name of a struct, union, class, enum, typedef or function. */
static bool qualified_name_uncached(struct ctx *c, Dwarf_Die *die, bool cxx, int depth, struct sb *out) {
    int tag = dwarf_tag(die);
    Dwarf_Attribute sig;
    Dwarf_Die def;
    if (dwarf_attr(die, DW_AT_signature, &sig) && dwarf_formref_die(&sig, &def))
        die = &def; /* a stub for a type unit's type: the stub has no name */
    const char *name = dwarf_diename(die);
    if (!name) {
        /* an anonymous type takes the name of its typedef */
        uintptr_t idx;
        if (!umap_get(&c->anon, die_key(die), &idx))
            return false;
        Dwarf_Die *td = &c->tdefs.d.d[idx - 1];
        if (!scope_prefix(c, td, cxx, depth, out))
            return false;
        sb_add(out, dwarf_diename(td));
        return true;
    }
    if (!scope_prefix(c, die, cxx, depth, out))
        return false;
    if (!is_record(tag) || !cxx) {
        sb_add(out, name);
        return true;
    }
    if (!definition(c, die, &def))
        def = *die;
    if (has_template_params(&def)) {
        const char *lt = strchr(name, '<');
        sb_addn(out, name, lt ? (size_t)(lt - name) : strlen(name));
        return template_args(c, &def, cxx, out, depth);
    }
    if (strchr(name, '<'))
        return false; /* a specialization whose arguments DWARF does not give */
    sb_add(out, name);
    return true;
}

static bool qualified_name(struct ctx *c, Dwarf_Die *die, bool cxx, int depth, struct sb *out) {
    if (depth > MAX_DEPTH)
        return false;
    int tag = dwarf_tag(die);
    bool cache = depth == 0 && (is_record(tag) || tag == DW_TAG_enumeration_type);
    uintptr_t v;
    if (cache && umap_get(&c->names, die_key(die), &v)) {
        if (v == NAME_FAILED)
            return false;
        sb_add(out, (const char *)v);
        return true;
    }
    if (c->nest >= MAX_NEST)
        return false;
    struct sb own = {0};
    c->nest++;
    bool ok = qualified_name_uncached(c, die, cxx, depth, &own);
    c->nest--;
    if (own.oom)
        c->oom = true, ok = false;
    if (ok)
        sb_add(out, sb_str(&own));
    if (cache) {
        char *s = ok ? strdup(sb_str(&own)) : NULL;
        if ((ok && !s) || !umap_put(&c->names, die_key(die), ok ? (uintptr_t)s : NAME_FAILED)) {
            free(s);
            c->oom = true;
        }
    }
    sb_free(&own);
    return ok;
}

/* A function type's parameter list: "(int, char *)", "(void)" for a C
 * prototype without parameters, "()" for C++ or an unprototyped C one. */
static bool params(struct ctx *c, Dwarf_Die *fn, bool cxx, struct sb *out, int depth) {
    if (!cxx && !has_flag(fn, DW_AT_prototyped)) {
        sb_add(out, "()");
        return true;
    }
    return param_list(c, fn, false, cxx ? "" : "void", cxx, out, depth);
}

static bool array_or_function(Dwarf_Die *die) {
    Dwarf_Die ct;
    if (!die || !canonical(die, &ct))
        return false;
    int tag = dwarf_tag(&ct);
    return tag == DW_TAG_array_type || tag == DW_TAG_subroutine_type;
}

/* Prints a type the way clang's TypePrinter does: `inner` is the declarator
 * built so far ("*", "(*)[3]"), quals the qualifiers collected on the way.
 * Canonical unless sugared (then typedefs print as their names). NULL: void. */
static bool print_type_at(struct ctx *c, Dwarf_Die *die, unsigned quals, const char *inner, bool sugared, bool cxx,
                          struct sb *out, int depth);

static bool print_type(struct ctx *c, Dwarf_Die *die, unsigned quals, const char *inner, bool sugared, bool cxx,
                       struct sb *out, int depth) {
    if (depth > MAX_DEPTH || c->nest >= MAX_NEST)
        return false;
    c->nest++;
    bool ok = print_type_at(c, die, quals, inner, sugared, cxx, out, depth);
    c->nest--;
    return ok;
}

static bool print_type_at(struct ctx *c, Dwarf_Die *die, unsigned quals, const char *inner, bool sugared, bool cxx,
                          struct sb *out, int depth) {
    Dwarf_Die cur;
    bool have = die != NULL;
    if (have)
        cur = *die;
    int tag = 0;
    for (int i = 0; have && i < MAX_DEPTH; i++) {
        tag = dwarf_tag(&cur);
        if (tag == DW_TAG_const_type)
            quals |= Q_CONST;
        else if (tag == DW_TAG_volatile_type)
            quals |= Q_VOLATILE;
        else if (tag == DW_TAG_restrict_type)
            quals |= Q_RESTRICT;
        else if (!(tag == DW_TAG_typedef && !sugared))
            break;
        have = type_of(&cur, &cur);
    }
    if (!have)
        tag = 0; /* void */

    struct sb t = {0};
    bool ok = true;
    switch (tag) {
    case 0:
    case DW_TAG_base_type:
    case DW_TAG_structure_type:
    case DW_TAG_class_type:
    case DW_TAG_union_type:
    case DW_TAG_enumeration_type:
    case DW_TAG_typedef:
    case DW_TAG_unspecified_type:
    case DW_TAG_atomic_type:
        add_quals(out, quals, cxx, true);
        if (tag == 0) {
            sb_add(out, "void");
        } else if (tag == DW_TAG_base_type) {
            const char *n = base_name(&cur);
            ok = n != NULL;
            if (ok)
                sb_add(out, n);
        } else if (tag == DW_TAG_unspecified_type) {
            const char *n = dwarf_diename(&cur);
            ok = cxx && n && strcmp(n, "decltype(nullptr)") == 0;
            if (ok)
                sb_add(out, "std::nullptr_t");
        } else if (tag == DW_TAG_atomic_type) {
            Dwarf_Die v;
            bool hv = type_of(&cur, &v);
            sb_add(out, "_Atomic(");
            ok = print_type(c, hv ? &v : NULL, 0, "", sugared, cxx, out, depth + 1);
            sb_add(out, ")");
        } else {
            ok = qualified_name(c, &cur, cxx, 0, out);
        }
        if (ok && inner[0]) {
            if (inner[0] != '[')
                sb_add(out, " ");
            sb_add(out, inner);
        }
        break;
    case DW_TAG_pointer_type:
    case DW_TAG_reference_type:
    case DW_TAG_rvalue_reference_type:
    case DW_TAG_ptr_to_member_type: {
        Dwarf_Die pt;
        bool hp = type_of(&cur, &pt);
        bool paren = array_or_function(hp ? &pt : NULL);
        if (paren)
            sb_add(&t, "(");
        if (tag == DW_TAG_ptr_to_member_type) {
            Dwarf_Attribute a;
            Dwarf_Die cls;
            ok = dwarf_attr(&cur, DW_AT_containing_type, &a) && dwarf_formref_die(&a, &cls) &&
                 print_type(c, &cls, 0, "", sugared, cxx, &t, depth + 1);
            sb_add(&t, "::*");
        } else {
            sb_add(&t, tag == DW_TAG_pointer_type ? "*" : tag == DW_TAG_reference_type ? "&" : "&&");
        }
        add_quals(&t, quals, cxx, false);
        if (quals && inner[0])
            sb_add(&t, " ");
        sb_add(&t, inner);
        if (paren)
            sb_add(&t, ")");
        ok = ok && !t.oom && print_type(c, hp ? &pt : NULL, 0, sb_str(&t), sugared, cxx, out, depth + 1);
        break;
    }
    case DW_TAG_array_type: {
        sb_add(&t, inner);
        Dwarf_Die sr;
        if (dwarf_child(&cur, &sr) == 0) {
            do {
                if (dwarf_tag(&sr) != DW_TAG_subrange_type)
                    continue;
                Dwarf_Word n;
                Dwarf_Attribute a;
                if (get_udata(&sr, DW_AT_count, &n))
                    sb_addf(&t, "[%llu]", (unsigned long long)n);
                else if (get_udata(&sr, DW_AT_upper_bound, &n))
                    sb_addf(&t, "[%llu]", (unsigned long long)n + 1);
                else if (dwarf_attr(&sr, DW_AT_count, &a) || dwarf_attr(&sr, DW_AT_upper_bound, &a))
                    ok = false; /* a variable length */
                else
                    sb_add(&t, "[]");
            } while (dwarf_siblingof(&sr, &sr) == 0);
        }
        Dwarf_Die et;
        bool he = type_of(&cur, &et);
        ok = ok && !t.oom && print_type(c, he ? &et : NULL, quals, sb_str(&t), sugared, cxx, out, depth + 1);
        break;
    }
    case DW_TAG_subroutine_type: {
        sb_add(&t, inner);
        ok = params(c, &cur, cxx, &t, depth);
        Dwarf_Die rt;
        bool hr = type_of(&cur, &rt);
        ok = ok && !t.oom && print_type(c, hr ? &rt : NULL, 0, sb_str(&t), sugared, cxx, out, depth + 1);
        break;
    }
    default:
        ok = false;
    }
    if (t.oom)
        c->oom = true, ok = false;
    sb_free(&t);
    return ok;
}

/* ---- holds pointers ------------------------------------------------------ */

static enum holds holds(struct ctx *c, Dwarf_Die *die, bool syntactic, int depth);

static enum holds holds_record(struct ctx *c, Dwarf_Die *die, int depth) {
    Dwarf_Die def;
    if (!definition(c, die, &def))
        return H_INCOMPLETE;
    uintptr_t v;
    if (umap_get(&c->holds, die_key(&def), &v))
        return (enum holds)v;
    enum holds r = H_NO;
    Dwarf_Die ch;
    if (dwarf_child(&def, &ch) == 0) {
        do {
            int tag = dwarf_tag(&ch);
            Dwarf_Word virt = 0;
            Dwarf_Die t;
            enum holds h = H_NO;
            if (tag == DW_TAG_member) {
                if (has_flag(&ch, DW_AT_external) || has_flag(&ch, DW_AT_declaration))
                    continue; /* a static member (DWARF 4) */
                h = type_of(&ch, &t) ? holds(c, &t, true, depth + 1) : H_NO;
            } else if (tag == DW_TAG_inheritance) {
                if (get_udata(&ch, DW_AT_virtuality, &virt) && virt != DW_VIRTUALITY_none)
                    h = H_YES; /* a virtual base: a vtable pointer */
                else
                    h = type_of(&ch, &t) ? holds(c, &t, true, depth + 1) : H_NO;
            } else if (tag == DW_TAG_subprogram) {
                if (get_udata(&ch, DW_AT_virtuality, &virt) && virt != DW_VIRTUALITY_none)
                    h = H_YES; /* a virtual function: a vtable pointer */
            }
            if (h == H_YES) {
                r = H_YES;
                break;
            }
            if (h == H_INCOMPLETE)
                r = H_INCOMPLETE;
        } while (dwarf_siblingof(&ch, &ch) == 0);
    }
    if (!umap_put(&c->holds, die_key(&def), r))
        c->oom = true;
    return r;
}

/* clang's typeContainsPointer for the type `die` (NULL: void). syntactic:
 * the type as written, whose typedefs count (uintptr_t); array elements are
 * looked at canonically. */
static enum holds holds(struct ctx *c, Dwarf_Die *die, bool syntactic, int depth) {
    if (!die || depth > MAX_DEPTH)
        return H_NO;
    if (syntactic) {
        Dwarf_Die cur = *die;
        for (int i = 0; i < MAX_DEPTH; i++) {
            int tag = dwarf_tag(&cur);
            if (tag == DW_TAG_typedef) {
                const char *n = dwarf_diename(&cur);
                if (n && strcmp(n, "uintptr_t") == 0)
                    return H_YES;
            } else if (!is_qualifier(tag)) {
                break;
            }
            if (!type_of(&cur, &cur))
                break;
        }
    }
    Dwarf_Die ct;
    if (!canonical(die, &ct))
        return H_NO;
    switch (dwarf_tag(&ct)) {
    case DW_TAG_pointer_type:
        return H_YES;
    case DW_TAG_array_type: {
        Dwarf_Die et;
        return type_of(&ct, &et) ? holds(c, &et, false, depth + 1) : H_NO;
    }
    case DW_TAG_structure_type:
    case DW_TAG_class_type:
    case DW_TAG_union_type:
        return holds_record(c, &ct, depth);
    default:
        return H_NO; /* base, enum, reference, member pointer, _Atomic */
    }
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

static int collect(struct ctx *c, struct pm_type **out, size_t *count) {
    struct pm_type *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < c->cands.n && !c->oom; i++) {
        Dwarf_Die *die = &c->cands.d[i];
        bool cxx = c->cands.cxx[i];
        int tag = dwarf_tag(die);
        if ((is_record(tag) || tag == DW_TAG_enumeration_type) && has_flag(die, DW_AT_declaration))
            continue; /* clang gives an incomplete type no token */
        if (tag == DW_TAG_typedef) {
            /* what a typedef names, if it can be allocated */
            Dwarf_Die ct;
            if (!canonical(die, &ct))
                continue; /* void */
            int ctag = dwarf_tag(&ct);
            if (ctag == DW_TAG_subroutine_type || ctag == DW_TAG_reference_type ||
                ctag == DW_TAG_rvalue_reference_type || ctag == DW_TAG_unspecified_type)
                continue;
            if ((is_record(ctag) || ctag == DW_TAG_enumeration_type) && !definition(c, &ct, &ct))
                continue;
        }
        struct sb name = {0};
        bool ok = print_type(c, die, 0, "", false, cxx, &name, 0);
        enum holds h = H_NO;
        if (ok)
            h = tag == DW_TAG_pointer_type ? H_YES : holds(c, die, true, 0);
        if (name.oom)
            c->oom = true;
        if (!ok || name.oom || h == H_INCOMPLETE) {
            sb_free(&name);
            continue;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            struct pm_type *p = realloc(v, ncap * sizeof *p);
            if (!p) {
                sb_free(&name);
                c->oom = true;
                break;
            }
            v = p;
            cap = ncap;
        }
        v[n].name = name.s;
        v[n].holds_pointers = h == H_YES;
        v[n].hash = 0;
        n++;
    }
    if (c->oom) {
        pm_types_free(v, n);
        return -1;
    }
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
    if (w == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *count = w;
    return 0;
}

/* Frees an entry of ctx.names (for tdestroy). */
static void free_name_entry(void *e) {
    uintptr_t name = ((struct map_entry *)e)->val;
    if (name != NAME_FAILED)
        free((void *)name);
    free(e);
}

static void ctx_free(struct ctx *c) {
    dies_free(&c->scopes);
    tdestroy(c->parent.root, free);
    dies_free(&c->cands);
    scoped_free(&c->tdefs);
    scoped_free(&c->anons);
    tdestroy(c->anon_idx.root, free);
    tdestroy(c->anon.root, free);
    dies_free(&c->defs);
    tdestroy(c->def_by_raw.root, free_str_entry);
    scoped_free(&c->decls);
    tdestroy(c->decl_def.root, free);
    tdestroy(c->names.root, free_name_entry);
    tdestroy(c->holds.root, free);
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

int pm_types_read(const char *path, struct pm_type **out, size_t *count, char *err, size_t errlen) {
    *out = NULL;
    *count = 0;
    if (err && errlen)
        err[0] = '\0';
    if (sodium_init() < 0) {
        set_err(err, errlen, "cannot initialise libsodium");
        return -1;
    }

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

    /* libdwfl finds the separate debug file (.gnu_debuglink, build-id under
     * /usr/lib/debug) and the dwz file (.gnu_debugaltlink). */
    char *debuginfo_path = NULL;
    const Dwfl_Callbacks callbacks = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .section_address = dwfl_offline_section_address,
        .debuginfo_path = &debuginfo_path,
    };
    Dwfl *dwfl = dwfl_begin(&callbacks);
    if (!dwfl) {
        set_err(err, errlen, "%s: %s", path, dwfl_errmsg(-1));
        return -1;
    }
    Dwfl_Module *mod = dwfl_report_offline(dwfl, "", path, -1);
    if (!mod) {
        set_err(err, errlen, "%s: %s", path, dwfl_errmsg(-1));
        dwfl_end(dwfl);
        return -1;
    }
    dwfl_report_end(dwfl, NULL, NULL);
    Dwarf_Addr bias;
    Dwarf *dw = dwfl_module_getdwarf(mod, &bias);
    if (!dw) {
        set_err(err, errlen, "%s: no DWARF debug info", path);
        dwfl_end(dwfl);
        return -1;
    }

    struct ctx c = {0};
    Dwarf *alt = dwarf_getalt(dw);
    c.default_cxx = any_cxx(dw);
    walk_dwarf(&c, dw);
    if (alt)
        walk_dwarf(&c, alt);
    if (!c.oom)
        resolve_decls(&c);
    if (!c.oom)
        resolve_anon(&c);
    int rc = c.oom ? -1 : collect(&c, out, count);
    if (rc < 0)
        set_err(err, errlen, "%s: out of memory", path);
    ctx_free(&c);
    dwfl_end(dwfl);
    return rc;
}
