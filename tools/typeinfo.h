/* The types of a program, read from its DWARF debug info, under the names
 * clang-22 gives them for allocation tokens (-fsanitize=alloc-token), so that
 * partitions can be labelled with the types they hold. See docs/tokens.md.
 *
 * A type's token is SipHash-2-4 of its name (clang's fixed key), reduced to
 * the program's -falloc-token-max and split by whether the type holds
 * pointers; the partition of a token is partmalloc's typed mapping. */
#ifndef PM_TOOLS_TYPEINFO_H
#define PM_TOOLS_TYPEINFO_H

#include <stddef.h>
#include <stdint.h>

struct pm_type {
    char *name;          /* as clang names it: "node", "ns::Box<int>", "char *" */
    int holds_pointers;  /* clang's rule: pointers, uintptr_t, vptrs, recursively */
    uint64_t hash;       /* pm_type_hash(name) */
};

/* Reads the types of the ELF file at `path` (an executable, shared library
 * or object) from its DWARF, or from its separate debug file (.gnu_debuglink
 * or build-id under /usr/lib/debug, found the way elfutils' libdwfl does;
 * with DEBUGINFOD_URLS set, libdwfl may also ask those servers), split DWARF
 * (.dwo) and type units included.
 * Lists struct, union, class and enum definitions, base types, pointer types
 * and what typedefs name; declarations without a definition and types whose
 * clang name cannot be rebuilt from DWARF are left out. On success returns 0
 * and a malloc'ed array sorted by name (strcmp order) in *out, *count
 * entries; a name is listed once, except that one name can come with both
 * holds_pointers values (uintptr_t is "unsigned long" holding pointers).
 * On failure returns -1 and writes one line to err (errlen bytes):
 *   "cannot open PATH: REASON", "PATH: not an ELF file",
 *   "PATH: no DWARF debug info", "PATH: out of memory" or "PATH: LIBDW MESSAGE". */
int pm_types_read(const char *path, struct pm_type **out, size_t *count, char *err, size_t errlen);
void pm_types_free(struct pm_type *types, size_t count);

/* SipHash-2-4 of the name with clang's key, as a little-endian 64-bit word. */
uint64_t pm_type_hash(const char *name);

/* The token clang's default mode (typehashpointersplit) gives the type in a
 * program built with -falloc-token-max=token_max; 0 means no such flag
 * (clang's default, UINT64_MAX). */
uint64_t pm_type_token(const struct pm_type *t, uint64_t token_max);

/* The partition partmalloc's typed mode puts a token in, with `partitions`
 * partitions (a power of two) and the program's token max (0: the default):
 * src/typed_map.h's rule. A token that names no type goes to the unknown
 * group, where the call site chooses: PM_TOKEN_UNKNOWN_PART for N >= 4. */
unsigned pm_type_partition(uint64_t token, unsigned partitions, uint64_t token_max);

#endif
