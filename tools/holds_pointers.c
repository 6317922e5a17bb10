/* The rule deciding whether a type holds pointers, the bit that splits
 * clang's token space in two (typehashpointersplit): clang's
 * typeContainsPointer, rebuilt on DWARF. A type holds pointers when it is a
 * pointer, a typedef named uintptr_t (seen through typedefs and qualifiers
 * only), an array whose element type holds pointers (the element taken
 * canonically, so uintptr_t[N] does not count), a struct, union or class
 * with a member or base that holds pointers, or a C++ class with a vtable
 * pointer. References, member pointers and _Atomic types do not. Works on
 * what dwarf_walk.c recorded; called by typeinfo.c. */
#define _GNU_SOURCE
#include "typeinfo_internal.h"

#include <string.h>

static enum holds holds_pointers(struct ctx *c, Dwarf_Die *die, bool syntactic, int depth);

/* Whether a child of a record's definition makes the record hold pointers:
 * a non-static member or a base that holds them, a virtual base or a
 * virtual function (a vtable pointer). */
static enum holds child_holds(struct ctx *c, Dwarf_Die *ch, int depth) {
    int tag = dwarf_tag(ch);
    Dwarf_Word virt = 0;
    Dwarf_Die t;
    if (tag == DW_TAG_member) {
        if (has_flag(ch, DW_AT_external) || has_flag(ch, DW_AT_declaration))
            return H_NO; /* a static member (DWARF 4) */
        return type_of(ch, &t) ? holds_pointers(c, &t, true, depth + 1) : H_NO;
    }
    if (tag == DW_TAG_inheritance) {
        if (get_udata(ch, DW_AT_virtuality, &virt) && virt != DW_VIRTUALITY_none)
            return H_YES; /* a virtual base: a vtable pointer */
        return type_of(ch, &t) ? holds_pointers(c, &t, true, depth + 1) : H_NO;
    }
    if (tag == DW_TAG_subprogram && get_udata(ch, DW_AT_virtuality, &virt) && virt != DW_VIRTUALITY_none)
        return H_YES; /* a virtual function: a vtable pointer */
    return H_NO;
}

/* A struct, union or class, through its definition; cached in c->holds. */
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
            enum holds h = child_holds(c, &ch, depth);
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

/* Whether the type as written is a typedef named uintptr_t, seen through
 * typedefs and qualifiers. */
static bool names_uintptr(Dwarf_Die *die) {
    Dwarf_Die cur = *die;
    for (int i = 0; i < MAX_DEPTH; i++) {
        int tag = dwarf_tag(&cur);
        if (tag == DW_TAG_typedef) {
            const char *n = dwarf_diename(&cur);
            if (n && strcmp(n, "uintptr_t") == 0)
                return true;
        } else if (!is_qualifier(tag)) {
            break;
        }
        if (!type_of(&cur, &cur))
            break;
    }
    return false;
}

/* clang's typeContainsPointer for the type `die` (NULL: void). syntactic:
 * the type as written, whose typedefs count (uintptr_t); array elements are
 * looked at canonically. */
static enum holds holds_pointers(struct ctx *c, Dwarf_Die *die, bool syntactic, int depth) {
    if (!die || depth > MAX_DEPTH)
        return H_NO;
    if (syntactic && names_uintptr(die))
        return H_YES;
    Dwarf_Die ct;
    if (!canonical(die, &ct))
        return H_NO;
    switch (dwarf_tag(&ct)) {
    case DW_TAG_pointer_type:
        return H_YES;
    case DW_TAG_array_type: {
        Dwarf_Die et;
        return type_of(&ct, &et) ? holds_pointers(c, &et, false, depth + 1) : H_NO;
    }
    case DW_TAG_structure_type:
    case DW_TAG_class_type:
    case DW_TAG_union_type:
        return holds_record(c, &ct, depth);
    default:
        return H_NO; /* base, enum, reference, member pointer, _Atomic */
    }
}

enum holds type_holds_pointers(struct ctx *c, Dwarf_Die *die) {
    return dwarf_tag(die) == DW_TAG_pointer_type ? H_YES : holds_pointers(c, die, true, 0);
}
