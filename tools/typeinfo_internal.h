/* What the pieces of the DWARF type reader share; the command sees only
 * typeinfo.h. The pieces, bottom to top:
 *
 *   typeinfo_containers.c  the string builder, maps and DIE arrays the reading state is made of
 *   dwarf_walk.c           the walk over every unit (libdw): scopes, candidate types,
 *                          definitions, the typedefs that name anonymous types; DIE helpers
 *   type_name.c            a type's name as clang prints it for its token
 *   holds_pointers.c       clang's rule for whether a type holds pointers
 *   typeinfo.c             the entry points: the list of a file's types, hash, token, partition
 */
#ifndef PM_TOOLS_TYPEINFO_INTERNAL_H
#define PM_TOOLS_TYPEINFO_INTERNAL_H

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- containers (typeinfo_containers.c) ---------------------------------- */

/* A growing string; on out of memory it stops growing and sets oom. */
struct sb {
    char *s;
    size_t len, cap;
    bool oom;
};

void sb_addn(struct sb *b, const char *s, size_t n);
void sb_add(struct sb *b, const char *s);
void sb_addf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sb_str(const struct sb *b);
void sb_free(struct sb *b);

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

bool umap_get(const struct umap *m, uintptr_t key, uintptr_t *val);
/* Inserts key -> val unless key is present; false when out of memory. */
bool umap_put(struct umap *m, uintptr_t key, uintptr_t val);
void umap_free(struct umap *m);
bool smap_get(const struct smap *m, const char *key, uintptr_t *val);
bool smap_put(struct smap *m, const char *key, uintptr_t val);
void smap_free(struct smap *m);

/* A growing array of DIEs, each with whether its unit is C++; DIEs are
 * referred to by index + 1 in the maps. */
struct dies {
    Dwarf_Die *d;
    bool *cxx;
    size_t n, cap;
};

/* Returns the new DIE's index + 1, 0 when out of memory. */
size_t dies_push(struct dies *a, const Dwarf_Die *die, bool cxx);
void dies_free(struct dies *a);

/* DIEs with a string each (a scope-qualified DWARF name). */
struct scoped {
    struct dies d;
    char **raw;
    size_t cap;
};

bool scoped_push(struct scoped *a, const Dwarf_Die *die, const char *raw);
void scoped_free(struct scoped *a);

/* ---- the reading state ---------------------------------------------------- */

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

/* ---- DIEs (dwarf_walk.c) -------------------------------------------------- */

static inline uintptr_t die_key(const Dwarf_Die *die) { return (uintptr_t)die->addr; }

static inline bool is_record(int tag) {
    return tag == DW_TAG_structure_type || tag == DW_TAG_class_type || tag == DW_TAG_union_type;
}

static inline bool is_record_or_enum(int tag) { return is_record(tag) || tag == DW_TAG_enumeration_type; }

static inline bool is_qualifier(int tag) {
    return tag == DW_TAG_const_type || tag == DW_TAG_volatile_type || tag == DW_TAG_restrict_type;
}

bool has_flag(Dwarf_Die *die, unsigned at);
bool get_udata(Dwarf_Die *die, unsigned at, Dwarf_Word *out);
/* The DIE of a type attribute; false for none (void) or on error. */
bool type_of(Dwarf_Die *die, Dwarf_Die *out);
/* Strips typedefs and qualifiers; false for void. */
bool canonical(Dwarf_Die *die, Dwarf_Die *out);
/* The definition of a struct, union, class or enum, which may be the DIE
 * itself, a type unit's (DW_AT_signature) or another unit's of the same
 * scope-qualified DWARF name. */
bool definition(struct ctx *c, Dwarf_Die *die, Dwarf_Die *out);

/* Walks every unit of dw and of its dwz file (.gnu_debugaltlink), then
 * matches declarations with definitions and anonymous types with their
 * typedefs. Sets c->oom when out of memory. */
void dwarf_walk(struct ctx *c, Dwarf *dw);

/* ---- names (type_name.c) and pointers (holds_pointers.c) ------------------ */

/* Appends the name clang gives the type `die` (canonical: typedefs looked
 * through); false when it cannot be rebuilt from DWARF. */
bool type_name(struct ctx *c, Dwarf_Die *die, bool cxx, struct sb *out);
/* Frees ctx.names. */
void type_names_free(struct umap *names);

/* Whether the type `die`, as written, holds pointers by clang's rule;
 * H_INCOMPLETE when a record in it has no definition. */
enum holds type_holds_pointers(struct ctx *c, Dwarf_Die *die);

#endif
