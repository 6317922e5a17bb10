/* The printer of type names: a type's name as clang-22 prints it for
 * -fsanitize=alloc-token, the string its token is the SipHash of
 * (clang/lib/AST/InferAlloc.cpp, TypePrinter). The canonical type with the
 * tag keyword suppressed and the name fully qualified: typedefs looked
 * through ("node_t" -> "node"), an anonymous struct, union or enum named by
 * its typedef, C++ names with their namespaces and classes (inline
 * namespaces left out) and template arguments (trailing defaulted ones left
 * out). Works on what dwarf_walk.c recorded; called by typeinfo.c. */
#define _GNU_SOURCE
#include "typeinfo_internal.h"

#include <search.h>
#include <stdlib.h>
#include <string.h>

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

/* Appends the enumerator of `def` whose value is v the way clang prints a
 * template argument: "ns::E::a" for an enum class, "ns::a" for an unscoped
 * one (its enumerators live in the enum's scope). 0: no such enumerator;
 * -1: one that cannot be printed. */
static int enumerator_arg(struct ctx *c, Dwarf_Die *def, unsigned size, bool is_signed, uint64_t v, bool cxx,
                          struct sb *out, int depth) {
    Dwarf_Die e;
    uint64_t ev;
    if (dwarf_child(def, &e) != 0)
        return 0;
    do {
        if (dwarf_tag(&e) != DW_TAG_enumerator || !const_value(&e, size, is_signed, &ev) || ev != v)
            continue;
        const char *en = dwarf_diename(&e);
        if (!en)
            return -1;
        if (has_flag(def, DW_AT_enum_class)) {
            if (!qualified_name(c, def, cxx, depth + 1, out))
                return -1;
            sb_add(out, "::");
        } else if (!scope_prefix(c, def, cxx, 0, out)) {
            return -1;
        }
        sb_add(out, en);
        return 1;
    } while (dwarf_siblingof(&e, &e) == 0);
    return 0;
}

/* A template argument of enum type ct: its enumerator, else its value. */
static bool enum_arg(struct ctx *c, Dwarf_Die *param, Dwarf_Die *ct, bool cxx, struct sb *out, int depth) {
    Dwarf_Die def, ut, uct;
    Dwarf_Word size = 0, enc = 0;
    if (!definition(c, ct, &def))
        def = *ct;
    get_udata(&def, DW_AT_byte_size, &size);
    bool is_signed = true;
    if (type_of(&def, &ut) && canonical(&ut, &uct) && get_udata(&uct, DW_AT_encoding, &enc))
        is_signed = enc == DW_ATE_signed || enc == DW_ATE_signed_char;
    uint64_t v;
    if (!const_value(param, (unsigned)size, is_signed, &v))
        return false;
    int named = enumerator_arg(c, &def, (unsigned)size, is_signed, v, cxx, out, depth);
    if (named)
        return named > 0;
    if (is_signed)
        sb_addf(out, "%lld", (long long)v);
    else
        sb_addf(out, "%llu", (unsigned long long)v);
    return true;
}

/* A template argument of base type ct: bool, a character, an integer. */
static bool base_arg(Dwarf_Die *param, Dwarf_Die *ct, struct sb *out) {
    Dwarf_Word size = 0, enc = 0;
    if (!get_udata(ct, DW_AT_encoding, &enc) || !get_udata(ct, DW_AT_byte_size, &size))
        return false;
    const char *tn = dwarf_diename(ct);
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

/* A non-type template argument: integers, bool, characters, enumerators. */
static bool value_arg(struct ctx *c, Dwarf_Die *param, bool cxx, struct sb *out, int depth) {
    Dwarf_Die t, ct;
    if (!type_of(param, &t) || !canonical(&t, &ct))
        return false;
    int tag = dwarf_tag(&ct);
    if (tag == DW_TAG_enumeration_type)
        return enum_arg(c, param, &ct, cxx, out, depth);
    return tag == DW_TAG_base_type && base_arg(param, &ct, out);
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
    bool cache = depth == 0 && is_record_or_enum(tag);
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

/* Collects the qualifiers on `die` into *quals and, unless sugared, looks
 * through typedefs; the tag of the type left in *cur, 0 for void. */
static int strip_qualifiers(Dwarf_Die *die, bool sugared, Dwarf_Die *cur, unsigned *quals) {
    bool have = die != NULL;
    if (have)
        *cur = *die;
    int tag = 0;
    for (int i = 0; have && i < MAX_DEPTH; i++) {
        tag = dwarf_tag(cur);
        if (tag == DW_TAG_const_type)
            *quals |= Q_CONST;
        else if (tag == DW_TAG_volatile_type)
            *quals |= Q_VOLATILE;
        else if (tag == DW_TAG_restrict_type)
            *quals |= Q_RESTRICT;
        else if (!(tag == DW_TAG_typedef && !sugared))
            break;
        have = type_of(cur, cur);
    }
    return have ? tag : 0; /* 0: void */
}

/* The name of a type that is not built from a declarator: void, a base
 * type, a record, enum or typedef, std::nullptr_t, _Atomic(T). */
static bool leaf_name(struct ctx *c, Dwarf_Die *cur, int tag, bool sugared, bool cxx, struct sb *out, int depth) {
    if (tag == 0) {
        sb_add(out, "void");
        return true;
    }
    if (tag == DW_TAG_base_type) {
        const char *n = base_name(cur);
        if (n)
            sb_add(out, n);
        return n != NULL;
    }
    if (tag == DW_TAG_unspecified_type) {
        const char *n = dwarf_diename(cur);
        bool ok = cxx && n && strcmp(n, "decltype(nullptr)") == 0;
        if (ok)
            sb_add(out, "std::nullptr_t");
        return ok;
    }
    if (tag == DW_TAG_atomic_type) {
        Dwarf_Die v;
        bool hv = type_of(cur, &v);
        sb_add(out, "_Atomic(");
        bool ok = print_type(c, hv ? &v : NULL, 0, "", sugared, cxx, out, depth + 1);
        sb_add(out, ")");
        return ok;
    }
    return qualified_name(c, cur, cxx, 0, out);
}

/* "const node *": the qualifiers, the leaf's name and the declarator. */
static bool print_leaf(struct ctx *c, Dwarf_Die *cur, int tag, unsigned quals, const char *inner, bool sugared,
                       bool cxx, struct sb *out, int depth) {
    add_quals(out, quals, cxx, true);
    bool ok = leaf_name(c, cur, tag, sugared, cxx, out, depth);
    if (ok && inner[0]) {
        if (inner[0] != '[')
            sb_add(out, " ");
        sb_add(out, inner);
    }
    return ok;
}

/* Frees the declarator t built for a pointee, element or return type; ok
 * unless t ran out of memory. */
static bool declarator_done(struct ctx *c, struct sb *t, bool ok) {
    if (t->oom)
        c->oom = true, ok = false;
    sb_free(t);
    return ok;
}

/* A pointer, reference or member pointer: "*" (parenthesized before an
 * array or function) added to the declarator, then the pointee printed. */
static bool print_pointer(struct ctx *c, Dwarf_Die *cur, int tag, unsigned quals, const char *inner, bool sugared,
                          bool cxx, struct sb *out, int depth) {
    struct sb t = {0};
    bool ok = true;
    Dwarf_Die pt;
    bool hp = type_of(cur, &pt);
    bool paren = array_or_function(hp ? &pt : NULL);
    if (paren)
        sb_add(&t, "(");
    if (tag == DW_TAG_ptr_to_member_type) {
        Dwarf_Attribute a;
        Dwarf_Die cls;
        ok = dwarf_attr(cur, DW_AT_containing_type, &a) && dwarf_formref_die(&a, &cls) &&
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
    return declarator_done(c, &t, ok);
}

/* An array: "[N]" per dimension added to the declarator, then the element
 * type printed with the array's qualifiers. A variable length fails. */
static bool print_array(struct ctx *c, Dwarf_Die *cur, unsigned quals, const char *inner, bool sugared, bool cxx,
                        struct sb *out, int depth) {
    struct sb t = {0};
    bool ok = true;
    sb_add(&t, inner);
    Dwarf_Die sr;
    if (dwarf_child(cur, &sr) == 0) {
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
    bool he = type_of(cur, &et);
    ok = ok && !t.oom && print_type(c, he ? &et : NULL, quals, sb_str(&t), sugared, cxx, out, depth + 1);
    return declarator_done(c, &t, ok);
}

/* A function type: its parameters added to the declarator, then the return
 * type printed. */
static bool print_function(struct ctx *c, Dwarf_Die *cur, const char *inner, bool sugared, bool cxx, struct sb *out,
                           int depth) {
    struct sb t = {0};
    sb_add(&t, inner);
    bool ok = params(c, cur, cxx, &t, depth);
    Dwarf_Die rt;
    bool hr = type_of(cur, &rt);
    ok = ok && !t.oom && print_type(c, hr ? &rt : NULL, 0, sb_str(&t), sugared, cxx, out, depth + 1);
    return declarator_done(c, &t, ok);
}

static bool print_type_at(struct ctx *c, Dwarf_Die *die, unsigned quals, const char *inner, bool sugared, bool cxx,
                          struct sb *out, int depth) {
    Dwarf_Die cur;
    int tag = strip_qualifiers(die, sugared, &cur, &quals);
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
        return print_leaf(c, &cur, tag, quals, inner, sugared, cxx, out, depth);
    case DW_TAG_pointer_type:
    case DW_TAG_reference_type:
    case DW_TAG_rvalue_reference_type:
    case DW_TAG_ptr_to_member_type:
        return print_pointer(c, &cur, tag, quals, inner, sugared, cxx, out, depth);
    case DW_TAG_array_type:
        return print_array(c, &cur, quals, inner, sugared, cxx, out, depth);
    case DW_TAG_subroutine_type:
        return print_function(c, &cur, inner, sugared, cxx, out, depth);
    default:
        return false;
    }
}

bool type_name(struct ctx *c, Dwarf_Die *die, bool cxx, struct sb *out) {
    return print_type(c, die, 0, "", false, cxx, out, 0);
}

/* Frees an entry of ctx.names (for tdestroy). */
static void free_name_entry(void *e) {
    uintptr_t name = ((struct map_entry *)e)->val;
    if (name != NAME_FAILED)
        free((void *)name);
    free(e);
}

void type_names_free(struct umap *names) {
    tdestroy(names->root, free_name_entry);
    names->root = NULL;
}
