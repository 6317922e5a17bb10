/* The DWARF walk (libdw): every unit of a program and of its dwz file is
 * visited once, and what the names and the pointer rule need is recorded in
 * the reading state (struct ctx, typeinfo_internal.h): each type's enclosing
 * scope, the types that may be listed, record definitions by their
 * scope-qualified DWARF name (to resolve declarations in other units), and
 * the typedefs that name anonymous types. Also the helpers that read a DIE's
 * attributes. Called by typeinfo.c; type_name.c and holds_pointers.c read
 * what it records. */
#define _GNU_SOURCE
#include "typeinfo_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- DIEs ------------------------------------------------------------------ */

bool has_flag(Dwarf_Die *die, unsigned at) {
    Dwarf_Attribute a;
    bool flag = false;
    if (!dwarf_attr(die, at, &a))
        return false;
    return dwarf_formflag(&a, &flag) == 0 && flag;
}

bool get_udata(Dwarf_Die *die, unsigned at, Dwarf_Word *out) {
    Dwarf_Attribute a;
    return dwarf_attr(die, at, &a) && dwarf_formudata(&a, out) == 0;
}

bool type_of(Dwarf_Die *die, Dwarf_Die *out) {
    Dwarf_Attribute a;
    if (!dwarf_attr_integrate(die, DW_AT_type, &a))
        return false;
    return dwarf_formref_die(&a, out) != NULL;
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

bool canonical(Dwarf_Die *die, Dwarf_Die *out) {
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

bool definition(struct ctx *c, Dwarf_Die *die, Dwarf_Die *out) {
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

/* Whether the walk records a DIE of this tag: *scope, it encloses types
 * (namespaces, functions, records, enums); *cand, it may be listed. */
static bool recorded_tag(int tag, bool *scope, bool *cand) {
    *scope = *cand = false;
    switch (tag) {
    case DW_TAG_namespace:
    case DW_TAG_subprogram:
        *scope = true;
        return true;
    case DW_TAG_structure_type:
    case DW_TAG_class_type:
    case DW_TAG_union_type:
    case DW_TAG_enumeration_type:
        *scope = *cand = true;
        return true;
    case DW_TAG_typedef:
    case DW_TAG_base_type:
    case DW_TAG_pointer_type:
        *cand = true;
        return true;
    default:
        return false;
    }
}

/* Notes an anonymous struct, union or enum, and a typedef of one, with raw,
 * the scope-qualified DWARF name of their scope (resolve_anon). */
static void note_anonymous(struct ctx *c, Dwarf_Die *die, int tag, const char *name, const char *raw) {
    if (tag == DW_TAG_typedef && name) {
        /* typedef struct { ... } name; may name the struct (resolve_anon) */
        Dwarf_Die t;
        if (type_of(die, &t) && is_record_or_enum(dwarf_tag(&t)) && !dwarf_diename(&t) &&
            !scoped_push(&c->tdefs, die, raw))
            c->oom = true;
    }
    if (is_record_or_enum(tag) && !name) {
        if (!scoped_push(&c->anons, die, raw) || !umap_put(&c->anon_idx, die_key(die), c->anons.d.n))
            c->oom = true;
    }
}

/* The scope-qualified DWARF name of the scope `die` inside raw, to match
 * declarations with definitions: C has one tag namespace, C++ qualifies.
 * Malloc'ed; NULL when out of memory. */
static char *raw_scope_name(Dwarf_Die *die, int tag, const char *name, const char *raw, bool cxx) {
    char tmp[48];
    const char *part = name;
    if (!part) {
        snprintf(tmp, sizeof tmp, "(anon@%lx)", (unsigned long)die_key(die));
        part = tmp;
    } else if (tag == DW_TAG_subprogram) {
        snprintf(tmp, sizeof tmp, "(fn@%lx)", (unsigned long)die_key(die));
        part = tmp;
    }
    return cxx ? join_scope(raw, part) : strdup(part);
}

/* Notes a named struct, union or class under its scope-qualified DWARF name
 * raw: a declaration to resolve, or the first definition of that name. */
static void note_record(struct ctx *c, Dwarf_Die *die, const char *raw, bool cxx) {
    if (has_flag(die, DW_AT_declaration)) {
        if (!scoped_push(&c->decls, die, raw))
            c->oom = true;
        return;
    }
    uintptr_t old;
    if (!smap_get(&c->def_by_raw, raw, &old)) {
        size_t i = dies_push(&c->defs, die, cxx);
        if (!i || !smap_put(&c->def_by_raw, raw, i))
            c->oom = true;
    }
}

static void walk(struct ctx *c, Dwarf_Die *die, size_t scope_idx, const char *raw, bool cxx, int depth);

/* Records one child of a scope (see walk) and walks into it if it is a
 * scope itself; a lexical block's children belong to the enclosing scope. */
static void visit(struct ctx *c, Dwarf_Die *ch, size_t scope_idx, const char *raw, bool cxx, int depth) {
    int tag = dwarf_tag(ch);
    bool scope, cand;
    if (tag == DW_TAG_lexical_block) {
        walk(c, ch, scope_idx, raw, cxx, depth + 1);
        return;
    }
    if (!recorded_tag(tag, &scope, &cand))
        return;
    const char *name = dwarf_diename(ch);
    if (!umap_put(&c->parent, die_key(ch), scope_idx) || (cand && !dies_push(&c->cands, ch, cxx))) {
        c->oom = true;
        return;
    }
    note_anonymous(c, ch, tag, name, raw);
    if (!scope)
        return;
    char *sub = raw_scope_name(ch, tag, name, raw, cxx);
    if (!sub) {
        c->oom = true;
        return;
    }
    if (is_record(tag) && name)
        note_record(c, ch, sub, cxx);
    if (tag != DW_TAG_enumeration_type) {
        size_t idx = dies_push(&c->scopes, ch, cxx);
        if (!idx)
            c->oom = true;
        else
            walk(c, ch, idx, sub, cxx, depth + 1);
    }
    free(sub);
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
        visit(c, &ch, scope_idx, raw, cxx, depth);
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

/* The next unit of dw after *cu (NULL: the first) that has a DIE: its unit
 * DIE, its split unit's (for a skeleton) and its type; false at the end. */
static bool next_unit(Dwarf *dw, Dwarf_CU **cu, Dwarf_Die *unit, Dwarf_Die *sub, uint8_t *unit_type) {
    Dwarf_Half version;
    while (dwarf_get_units(dw, *cu, cu, &version, unit_type, unit, sub) == 0)
        if (dwarf_tag(unit) != DW_TAG_invalid)
            return true;
    return false;
}

static void walk_dwarf(struct ctx *c, Dwarf *dw) {
    Dwarf_CU *cu = NULL;
    uint8_t unit_type;
    Dwarf_Die unit, sub;
    while (!c->oom && next_unit(dw, &cu, &unit, &sub, &unit_type)) {
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
    uint8_t unit_type;
    Dwarf_Die unit, sub;
    while (next_unit(dw, &cu, &unit, &sub, &unit_type)) {
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

void dwarf_walk(struct ctx *c, Dwarf *dw) {
    Dwarf *alt = dwarf_getalt(dw);
    c->default_cxx = any_cxx(dw);
    walk_dwarf(c, dw);
    if (alt)
        walk_dwarf(c, alt);
    if (!c->oom)
        resolve_decls(c);
    if (!c->oom)
        resolve_anon(c);
}
