/* tools/typeinfo.h: type names and tokens from DWARF.
 *
 * The programs of tests/typeinfo/ are built here with clang-22 -g
 * -fsanitize=alloc-token for several -falloc-token-max values (into
 * $BUILD/tests/typeinfo/). Each prints, for every one of its types, the
 * name clang gives it, whether it holds pointers, and
 * __builtin_infer_alloc_token(sizeof(T)); pm_types_read on the program must
 * list that name with that flag, and pm_type_token must give that token.
 * Then the hash, the token and partition arithmetic, and the errors.
 */
#include "testutil.h" /* first: it defines _GNU_SOURCE */

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>

#include "typeinfo.h"
#include "typed_map.h"

#define SOURCES "tests/typeinfo"

/* ---- helpers ---- */

static void must_run(const char *const *argv) {
    struct run r = run_env(argv, NULL, false);
    cr_assert_eq(exit_code(&r), 0, "%s failed (%d):\n%s%s", argv[0], exit_code(&r), r.out, r.err);
    run_free(&r);
}

/* $BUILD/tests/typeinfo/<name> (static buffer per call site: copy it). */
static void out_path(char *buf, size_t len, const char *name) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/tests", build_dir());
    mkdir(dir, 0777);
    snprintf(dir, sizeof dir, "%s/tests/typeinfo", build_dir());
    cr_assert(mkdir(dir, 0777) == 0 || errno == EEXIST, "cannot create %s: %s", dir, strerror(errno));
    snprintf(buf, len, "%s/%s", dir, name);
}

/* Builds tests/typeinfo/types.c (or types_cxx.cc) with -g, token max `max`
 * (0: none) and `extra` flag ("" for none) as $BUILD/tests/typeinfo/<name>. */
static void build_types_with(const char *name, bool cxx, uint64_t max, const char *extra, char *exe, size_t exelen) {
    out_path(exe, exelen, name);
    char max_flag[64];
    snprintf(max_flag, sizeof max_flag, "-falloc-token-max=%llu", (unsigned long long)max);
    const char *argv[] = {
        cxx ? "clang++-22" : "clang-22",
        cxx ? "-std=c++20" : "-std=c17",
        "-g", "-O0", "-Wall", "-Wextra", "-Werror", "-fsanitize=alloc-token",
        cxx ? SOURCES "/types_cxx.cc" : SOURCES "/types.c",
        "-o", exe,
        extra[0] ? extra : "-g",
        max ? max_flag : NULL,
        NULL,
    };
    must_run(argv);
}

static void build_types(const char *name, bool cxx, uint64_t max, char *exe, size_t exelen) {
    build_types_with(name, cxx, max, "", exe, exelen);
}

static const struct pm_type *find_type(const struct pm_type *types, size_t n, const char *name, int holds) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(types[i].name, name) == 0 && types[i].holds_pointers == holds)
            return &types[i];
    return NULL;
}

/* Builds, runs, reads and compares; returns how many types the program
 * printed (every one of them must have matched). */
static size_t check_program_with(const char *name, bool cxx, uint64_t max, const char *extra) {
    char exe[PATH_MAX];
    build_types_with(name, cxx, max, extra, exe, sizeof exe);
    const char *argv[] = {exe, NULL};
    struct run r = run_env(argv, NULL, false);
    cr_assert_eq(exit_code(&r), 0, "%s failed:\n%s%s", exe, r.out, r.err);

    struct pm_type *types;
    size_t n;
    char err[512];
    cr_assert_eq(pm_types_read(exe, &types, &n, err, sizeof err), 0, "pm_types_read: %s", err);
    cr_assert_gt(n, 0);

    uint64_t half = (max ? max : UINT64_MAX) / 2;
    size_t lines = 0, checked = 0;
    char *save = NULL;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lines++;
        char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        cr_assert(tab1 && tab2, "bad line from %s: %s", exe, line);
        *tab1 = *tab2 = '\0';
        const char *tname = line;
        int holds = atoi(tab1 + 1);
        uint64_t token = strtoull(tab2 + 1, NULL, 10);
        /* clang's own flag, from the token, is what the program says */
        cr_expect_eq(token >= half, holds, "%s: clang says holds_pointers=%d (token %llu of max %llu)", tname,
                     token >= half, (unsigned long long)token, (unsigned long long)max);
        const struct pm_type *t = find_type(types, n, tname, holds);
        if (!t) {
            const struct pm_type *other = find_type(types, n, tname, !holds);
            cr_expect_fail("%s (holds_pointers=%d) is not among the %zu types of %s%s", tname, holds, n, exe,
                           other ? " (it is, with the other holds_pointers)" : "");
            continue;
        }
        cr_expect_eq(t->hash, pm_type_hash(tname));
        cr_expect_eq(pm_type_token(t, max), token, "%s: token %llu, clang's %llu (max %llu)", tname,
                     (unsigned long long)pm_type_token(t, max), (unsigned long long)token, (unsigned long long)max);
        checked++;
    }
    cr_expect_eq(checked, lines, "%zu of the %zu types of %s matched", checked, lines, exe);
    pm_types_free(types, n);
    run_free(&r);
    return lines;
}

static size_t check_program(const char *name, bool cxx, uint64_t max) {
    return check_program_with(name, cxx, max, "");
}

/* ---- tokens of real programs ---- */

#define C_TYPES 52   /* lines types.c prints */
#define CXX_TYPES 49 /* lines types_cxx.cc prints */
Test(typeinfo, c_max_default) { cr_expect_eq(check_program("types_c_default", false, 0), C_TYPES); }
Test(typeinfo, c_max_64) { cr_expect_eq(check_program("types_c_64", false, 64), C_TYPES); }
Test(typeinfo, c_max_16) { cr_expect_eq(check_program("types_c_16", false, 16), C_TYPES); }
Test(typeinfo, c_max_5) { cr_expect_eq(check_program("types_c_5", false, 5), C_TYPES); }
Test(typeinfo, c_max_2) { cr_expect_eq(check_program("types_c_2", false, 2), C_TYPES); }
Test(typeinfo, cxx_max_default) { cr_expect_eq(check_program("types_cxx_default", true, 0), CXX_TYPES); }
Test(typeinfo, cxx_max_64) { cr_expect_eq(check_program("types_cxx_64", true, 64), CXX_TYPES); }
Test(typeinfo, cxx_max_16) { cr_expect_eq(check_program("types_cxx_16", true, 16), CXX_TYPES); }

/* The same names from other shapes of DWARF: version 4, type units (types
 * referred to by signature), optimised code. */
Test(typeinfo, cxx_dwarf4) { cr_expect_eq(check_program_with("types_cxx_dwarf4", true, 0, "-gdwarf-4"), CXX_TYPES); }
Test(typeinfo, cxx_type_units) {
    cr_expect_eq(check_program_with("types_cxx_tu", true, 0, "-fdebug-types-section"), CXX_TYPES);
}
Test(typeinfo, c_optimised) { cr_expect_eq(check_program_with("types_c_O2", false, 64, "-O2"), C_TYPES); }

/* The list is sorted by name, each (name, holds_pointers) once, hashed. */
Test(typeinfo, sorted_and_unique) {
    char exe[PATH_MAX];
    build_types("types_cxx_sorted", true, 0, exe, sizeof exe);
    struct pm_type *types;
    size_t n;
    char err[512];
    cr_assert_eq(pm_types_read(exe, &types, &n, err, sizeof err), 0, "pm_types_read: %s", err);
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(types[i].hash, pm_type_hash(types[i].name));
        cr_expect(types[i].holds_pointers == 0 || types[i].holds_pointers == 1);
        if (i == 0)
            continue;
        int c = strcmp(types[i - 1].name, types[i].name);
        cr_expect(c < 0 || (c == 0 && types[i - 1].holds_pointers < types[i].holds_pointers),
                  "out of order or repeated: \"%s\" %d, \"%s\" %d", types[i - 1].name, types[i - 1].holds_pointers,
                  types[i].name, types[i].holds_pointers);
    }
    /* uintptr_t is "unsigned long" holding pointers, unsigned long is not */
    cr_expect_not_null(find_type(types, n, "unsigned long", 1));
    cr_expect_not_null(find_type(types, n, "unsigned long", 0));
    pm_types_free(types, n);
}

/* A separate debug file next to the program, named by .gnu_debuglink. */
Test(typeinfo, debuglink) {
    char exe[PATH_MAX], dbg[PATH_MAX + 8], arg[PATH_MAX + 32];
    build_types("types_c_debuglink", false, 16, exe, sizeof exe);
    snprintf(dbg, sizeof dbg, "%s.debug", exe);
    must_run((const char *const[]){"objcopy", "--only-keep-debug", exe, dbg, NULL});
    must_run((const char *const[]){"strip", "--strip-debug", exe, NULL});
    snprintf(arg, sizeof arg, "--add-gnu-debuglink=%s", dbg);
    must_run((const char *const[]){"objcopy", arg, exe, NULL});

    struct pm_type *types;
    size_t n;
    char err[512];
    cr_assert_eq(pm_types_read(exe, &types, &n, err, sizeof err), 0, "pm_types_read: %s", err);
    const struct pm_type *node = find_type(types, n, "node", 1);
    cr_assert_not_null(node);
    cr_expect_eq(pm_type_token(node, 16), 10); /* as __builtin_infer_alloc_token gives it */
    pm_types_free(types, n);
}

/* ---- errors ---- */

Test(typeinfo, not_elf) {
    char path[PATH_MAX];
    out_path(path, sizeof path, "not_elf.txt");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("struct node { struct node *next; };\n", f);
    fclose(f);
    struct pm_type *types = (struct pm_type *)1;
    size_t n = 1;
    char err[512], want[PATH_MAX + 64];
    cr_expect_eq(pm_types_read(path, &types, &n, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: not an ELF file", path);
    cr_expect_str_eq(err, want);
    cr_expect_null(types);
    cr_expect_eq(n, 0);
}

Test(typeinfo, stripped) {
    char exe[PATH_MAX];
    build_types("types_c_stripped", false, 0, exe, sizeof exe);
    must_run((const char *const[]){"strip", exe, NULL});
    struct pm_type *types;
    size_t n;
    char err[512], want[PATH_MAX + 64];
    cr_expect_eq(pm_types_read(exe, &types, &n, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: no DWARF debug info", exe);
    cr_expect_str_eq(err, want);
}

Test(typeinfo, cannot_open) {
    char path[PATH_MAX], err[512], want[PATH_MAX + 64];
    out_path(path, sizeof path, "no-such-file");
    struct pm_type *types;
    size_t n;
    cr_expect_eq(pm_types_read(path, &types, &n, err, sizeof err), -1);
    snprintf(want, sizeof want, "cannot open %s: No such file or directory", path);
    cr_expect_str_eq(err, want);
    /* a short buffer gets a truncated, terminated message */
    char small[8];
    cr_expect_eq(pm_types_read(path, &types, &n, small, sizeof small), -1);
    cr_expect_str_eq(small, "cannot ");
}

/* ---- arithmetic ---- */

/* Values checked against clang-22 (docs/tokens.md). */
Test(typeinfo, hash_and_default_tokens) {
    cr_expect_eq(pm_type_hash("node"), UINT64_C(3118782115271006058));
    struct pm_type node = {"node", 1, pm_type_hash("node")};
    struct pm_type blob = {"blob", 0, pm_type_hash("blob")};
    struct pm_type pair = {"pair_t", 0, pm_type_hash("pair_t")};
    cr_expect_eq(pm_type_token(&node, 0), UINT64_C(12342154152125781865));
    cr_expect_eq(pm_type_token(&node, UINT64_MAX), UINT64_C(12342154152125781865));
    cr_expect_eq(pm_type_token(&blob, 0), UINT64_C(4598399858737214112));
    cr_expect_eq(pm_type_token(&pair, 0), UINT64_C(3550061327438608312));
}

Test(typeinfo, small_max_tokens) {
    struct pm_type t = {"node", 1, pm_type_hash("node")};
    cr_expect_eq(pm_type_token(&t, 1), 0);
    cr_expect_eq(pm_type_token(&t, 2), 1);
    cr_expect_eq(pm_type_token(&t, 3), 1); /* half 1 */
    cr_expect_eq(pm_type_token(&t, 16), t.hash % 8 + 8);
    cr_expect_eq(pm_type_token(&t, 5), t.hash % 2 + 2);
    t.holds_pointers = 0;
    cr_expect_eq(pm_type_token(&t, 2), 0);
    cr_expect_eq(pm_type_token(&t, 16), t.hash % 8);
    for (uint64_t max = 2; max < 200; max++)
        cr_expect_lt(pm_type_token(&t, max), max / 2);
}

Test(typeinfo, partitions) {
    const unsigned unknown = PM_TOKEN_UNKNOWN_PART;
    /* -falloc-token-max=16, 16 partitions: unknowns 0-3, tokens 0-7 (no
     * pointers) in 4-7 by token mod 4, 8-15 (pointers) in 8-15 */
    uint64_t void16 = UINT64_C(0xca2f84459ea703e5) % 8;
    for (unsigned tok = 1; tok < 8; tok++)
        cr_expect_eq(pm_type_partition(tok, 16, 16), tok == void16 ? unknown : 4 + tok % 4, "token %u", tok);
    for (unsigned tok = 8; tok < 16; tok++)
        cr_expect_eq(pm_type_partition(tok, 16, 16), tok);
    cr_expect_eq(pm_type_partition(0, 16, 16), unknown);  /* the fallback */
    cr_expect_eq(pm_type_partition(16, 16, 16), unknown); /* at or above max */
    /* max 64, 16 partitions: 4 + token mod 4, 8 + (token - 32) mod 8 */
    cr_expect_eq(pm_type_partition(13, 16, 64), 5);
    cr_expect_eq(pm_type_partition(32, 16, 64), 8);
    cr_expect_eq(pm_type_partition(45, 16, 64), 13);
    cr_expect_eq(pm_type_partition(63, 16, 64), 15);
    /* max 5 (half 2), 4 partitions: one each for unknowns and no
     * pointers, two for pointers */
    cr_expect_eq(pm_type_partition(1, 4, 5), UINT64_C(0xca2f84459ea703e5) % 2 == 1 ? unknown : 1);
    cr_expect_eq(pm_type_partition(2, 4, 5), 2);
    cr_expect_eq(pm_type_partition(3, 4, 5), 3);
    cr_expect_eq(pm_type_partition(4, 4, 5), 2);
    cr_expect_eq(pm_type_partition(5, 4, 5), unknown);
    /* one partition; two: pointers and unknowns 0, no pointers 1 */
    cr_expect_eq(pm_type_partition(12345, 1, 0), 0);
    cr_expect_eq(pm_type_partition(0, 1, 0), 0);
    cr_expect_eq(pm_type_partition(12345, 2, 0), 1);
    cr_expect_eq(pm_type_partition(0, 2, 0), 0);
    cr_expect_eq(pm_type_partition(UINT64_C(12342154152125781865), 2, 0), 0);
    cr_expect_eq(pm_type_partition(UINT64_MAX, 16, 0), unknown);
    cr_expect_eq(pm_type_partition(UINT64_MAX / 2, 16, 0), 8);
}

/* void's token, as the library computes it, is the command's hash of
 * "void" (libsodium's SipHash-2-4 under clang's key), reduced. */
Test(typeinfo, void_token_is_the_hash_of_void) {
    cr_expect_eq(pm_type_hash("void"), PM_VOID_TYPE_HASH);
    struct pm_type t = {.hash = pm_type_hash("void"), .holds_pointers = 0};
    for (uint64_t max = 2; max < 100; max++)
        cr_expect_eq(pm_type_token(&t, max), pm_void_token(max / 2), "max %llu", (unsigned long long)max);
    cr_expect_eq(pm_type_token(&t, 0), pm_void_token(UINT64_MAX / 2));
}

/* char's token, which the library gives strdup's and strndup's copies: the
 * command's hash of "char", reduced as Clang reduces it. */
Test(typeinfo, char_token_is_the_hash_of_char) {
    cr_expect_eq(pm_type_hash("char"), PM_CHAR_TYPE_HASH);
    struct pm_type t = {.hash = pm_type_hash("char"), .holds_pointers = 0};
    for (uint64_t max = 2; max < 100; max++)
        cr_expect_eq(pm_type_token(&t, max), pm_char_token(max / 2), "max %llu", (unsigned long long)max);
    cr_expect_eq(pm_type_token(&t, 0), pm_char_token(UINT64_MAX / 2));
}
