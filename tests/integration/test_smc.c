/* hardened_malloc's simple-memory-corruption behaviours (its test/
 * programs, written again as tests/helpers/smc_probe), each in the three
 * presets: the outcome docs/security.md's claims table gives for off,
 * default and strict, and a control (the correct program nearest to the
 * misuse) that must end quietly, so a test that expects a report can fail.
 *
 * An abort is asserted as SIGABRT with exactly one line on stderr,
 *     partmalloc: <what> at <pointer> (cache <name>)
 * built from what the probe announced on stdout before the misuse (the
 * object, or the misused pointer and the cache pm_ptr_info names for it);
 * a fault as SIGSEGV at the offset from the object the probe's handler
 * printed, with nothing on stderr; a misuse a preset does not catch as the
 * probe's exit status 3, silent; a query as the line it printed.
 */
#include "testutil.h" /* first: it defines _GNU_SOURCE */

enum outcome { ABORT_AT_OBJECT, ABORT_AT_POINTER, FAULT, UNNOTICED, PRINTS };

/* What one preset does with a behaviour: for the aborts the check that
 * names it, for FAULT the offset, for PRINTS the line. */
struct claim {
    enum outcome outcome;
    const char *text;
    size_t offset;
};

#define CAUGHT(what) {ABORT_AT_OBJECT, (what), 0}
#define CAUGHT_AT_POINTER(what) {ABORT_AT_POINTER, (what), 0}
#define FAULTS_AT(offset) {FAULT, NULL, (offset)}
#define SILENT {UNNOTICED, NULL, 0}
#define PRINTS(line) {PRINTS, (line), 0}

static const char *const presets[] = {"off", "default", "strict"};

static struct run probe(const char *preset, const char *behaviour, const char *mode) {
    const struct setting settings[] = {{"HARDEN", preset}, {NULL, NULL}};
    const char *const args[] = {behaviour, mode, NULL};
    return run_built("tests/helpers", "smc_probe", args, settings, false);
}

/* The pointer and cache of the probe's "<tag> <p> cache <name>" line. */
static void announced(const struct run *r, const char *tag, void **p, char cache[32]) {
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%s ", tag);
    const char *line = strstr(r->out, prefix);
    cr_assert_not_null(line, "no '%s' line; stdout: %s stderr: %s", tag, r->out, r->err);
    cr_assert_eq(sscanf(line + strlen(prefix), "%p cache %31s", p, cache), 2, "unreadable: %s", line);
}

static int term_signal(const struct run *r) {
    return WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0;
}

static void expect_claim(const struct run *r, struct claim c, const char *label) {
    void *p;
    char cache[32], want[256];
    switch (c.outcome) {
    case ABORT_AT_OBJECT:
    case ABORT_AT_POINTER:
        announced(r, c.outcome == ABORT_AT_OBJECT ? "object" : "pointer", &p, cache);
        snprintf(want, sizeof want, "partmalloc: %s at %p (cache %s)\n", c.text, p, cache);
        cr_expect_eq(term_signal(r), SIGABRT, "%s: expected SIGABRT, got exit %d; stdout: %s stderr: %s", label,
                     exit_code(r), r->out, r->err);
        cr_expect_str_eq(r->err, want, "%s", label);
        break;
    case FAULT:
        snprintf(want, sizeof want, "fault +%zu\n", c.offset);
        cr_expect_eq(term_signal(r), SIGSEGV, "%s: expected SIGSEGV, got exit %d; stdout: %s stderr: %s", label,
                     exit_code(r), r->out, r->err);
        cr_expect(strstr(r->out, want) != NULL, "%s: no '%.*s' in: %s", label, (int)strlen(want) - 1, want, r->out);
        cr_expect_str_empty(r->err, "%s", label);
        break;
    case UNNOTICED:
        cr_expect_eq(exit_code(r), 3, "%s: expected the misuse unnoticed (exit 3), got %d; stdout: %s stderr: %s",
                     label, exit_code(r), r->out, r->err);
        cr_expect_str_empty(r->err, "%s", label);
        break;
    case PRINTS:
        cr_expect_eq(exit_code(r), 0, "%s: exit %d; stdout: %s stderr: %s", label, exit_code(r), r->out, r->err);
        cr_expect(strstr(r->out, c.text) != NULL, "%s: no '%s' in: %s", label, c.text, r->out);
        cr_expect_str_empty(r->err, "%s", label);
        break;
    }
}

/* The correct program beside the misuse ends quietly in every preset. */
static void expect_control_quiet(const char *behaviour) {
    for (size_t i = 0; i < 3; i++) {
        struct run r = probe(presets[i], behaviour, "control");
        cr_expect_eq(exit_code(&r), 0, "%s control, %s: exit %d; stdout: %s stderr: %s", behaviour, presets[i],
                     exit_code(&r), r.out, r.err);
        cr_expect(strstr(r.out, "control done\n") != NULL, "%s control, %s: %s", behaviour, presets[i], r.out);
        cr_expect_str_empty(r.err, "%s control, %s", behaviour, presets[i]);
        run_free(&r);
    }
}

/* Runs `behaviour` in each preset whose claim is given (a NULL-text
 * UNNOTICED claim is one too) and checks the claim. */
static void check_presets(const char *behaviour, const struct claim claims[3], const int which[3]) {
    for (size_t i = 0; i < 3; i++) {
        if (!which[i])
            continue;
        char label[96];
        snprintf(label, sizeof label, "%s, %s", behaviour, presets[i]);
        struct run r = probe(presets[i], behaviour, NULL);
        expect_claim(&r, claims[i], label);
        run_free(&r);
    }
}

static const int all_presets[3] = {1, 1, 1};

/* A behaviour with a misuse: the three claims, then the control. */
#define SMC(name, off, dflt, strict)                                                               \
    Test(smc, name) {                                                                              \
        const struct claim claims[3] = {off, dflt, strict};                                        \
        check_presets(#name, claims, all_presets);                                                 \
        expect_control_quiet(#name);                                                               \
    }

/* A behaviour that is a query or a correct program: the three claims. */
#define SMC_QUERY(name, off, dflt, strict)                                                         \
    Test(smc, name) {                                                                              \
        const struct claim claims[3] = {off, dflt, strict};                                        \
        check_presets(#name, claims, all_presets);                                                 \
    }

#define DOUBLE_FREE CAUGHT("double free")
#define FOREIGN_FREE CAUGHT_AT_POINTER("invalid free (not a partmalloc pointer)")
#define NEVER_ALLOCATED CAUGHT_AT_POINTER("invalid free (slot never allocated)")
#define INTERIOR CAUGHT_AT_POINTER("invalid free (not the start of an object)")
#define CANARY CAUGHT("heap overflow (the canary after the object was overwritten)")
#define SIZED CAUGHT("free_sized with a size the object was not allocated with")
#define USABLE_OF(check) CAUGHT_AT_POINTER("invalid malloc_usable_size (" check ")")
#define LARGE_DATA ((size_t)256 << 10)
#define LARGE_WRITE (((size_t)64 << 10) + 1)

/* ---- always caught: the free checks ---- */

SMC(delete_type_size_mismatch, SIZED, SIZED, SIZED)
SMC(double_free_small, DOUBLE_FREE, DOUBLE_FREE, DOUBLE_FREE)
SMC(double_free_large, DOUBLE_FREE, DOUBLE_FREE, DOUBLE_FREE)
SMC(double_free_small_delayed, DOUBLE_FREE, DOUBLE_FREE, DOUBLE_FREE)
SMC(double_free_large_delayed, DOUBLE_FREE, DOUBLE_FREE, DOUBLE_FREE)
SMC(invalid_free_protected, FOREIGN_FREE, FOREIGN_FREE, FOREIGN_FREE)
SMC(invalid_free_unprotected, FOREIGN_FREE, FOREIGN_FREE, FOREIGN_FREE)
SMC(invalid_free_small_region, NEVER_ALLOCATED, NEVER_ALLOCATED, NEVER_ALLOCATED)
SMC(invalid_free_small_region_far, NEVER_ALLOCATED, NEVER_ALLOCATED, NEVER_ALLOCATED)
SMC(unaligned_free_small, INTERIOR, INTERIOR, INTERIOR)
/* 256 KiB is a slab object in off and default (classes go to 1 MiB), a
 * large block under strict: either way its interior is no object start. */
SMC(unaligned_free_large, INTERIOR, INTERIOR, INTERIOR)
SMC(uninitialized_free, FOREIGN_FREE, FOREIGN_FREE, FOREIGN_FREE)
#define WILD_REALLOC CAUGHT_AT_POINTER("invalid realloc (not a partmalloc pointer)")
SMC(uninitialized_realloc, WILD_REALLOC, WILD_REALLOC, WILD_REALLOC)
#define WILD_USABLE USABLE_OF("not a partmalloc pointer")
SMC(uninitialized_malloc_usable_size, WILD_USABLE, WILD_USABLE, WILD_USABLE)
#define NEVER_USABLE USABLE_OF("slot never allocated")
SMC(invalid_malloc_usable_size_small, NEVER_USABLE, NEVER_USABLE, NEVER_USABLE)
#define FREED_USABLE CAUGHT("malloc_usable_size of a freed pointer")
SMC(invalid_malloc_usable_size_small_quarantine, FREED_USABLE, FREED_USABLE, FREED_USABLE)
#define INTERIOR_USABLE USABLE_OF("not the start of an object")
SMC(unaligned_malloc_usable_size_small, INTERIOR_USABLE, INTERIOR_USABLE, INTERIOR_USABLE)

/* ---- guard pages after large blocks (all presets) ---- */

SMC(overflow_large_1_byte, FAULTS_AT(LARGE_DATA), FAULTS_AT(LARGE_DATA), FAULTS_AT(LARGE_DATA))
SMC(overflow_large_8_byte, FAULTS_AT(LARGE_DATA + 7), FAULTS_AT(LARGE_DATA + 7), FAULTS_AT(LARGE_DATA + 7))

/* ---- strict alone: canary, zero on free, large quarantine, zero-size ---- */

SMC(overflow_small_1_byte, SILENT, SILENT, CANARY)
SMC(overflow_small_8_byte, SILENT, SILENT, CANARY)
/* Freed large blocks of 256 KiB are kept mapped for reuse by off and
 * default; strict holds their range inaccessible. */
SMC(read_after_free_large, SILENT, SILENT, FAULTS_AT(0))
SMC(write_after_free_large, SILENT, SILENT, FAULTS_AT(LARGE_WRITE))
SMC(write_after_free_large_reuse, SILENT, SILENT, FAULTS_AT(LARGE_WRITE))
/* Without zero_inaccessible malloc(0) is an 8-byte slot. */
SMC(read_zero_size, SILENT, SILENT, FAULTS_AT(0))
SMC(write_zero_size, SILENT, SILENT, FAULTS_AT(0))

/* A write after free of a small object followed by allocations of its size
 * from another call site: off and default never look. */
static void write_after_free_small_off_and_default(const char *behaviour) {
    const struct claim claims[3] = {SILENT, SILENT, {0, NULL, 0}};
    const int which[3] = {1, 1, 0};
    check_presets(behaviour, claims, which);
    expect_control_quiet(behaviour);
}

Test(smc, write_after_free_small) {
    write_after_free_small_off_and_default("write_after_free_small");
}

Test(smc, write_after_free_small_reuse) {
    write_after_free_small_off_and_default("write_after_free_small_reuse");
}

/* strict: the modified slot must be found when it leaves the quarantine,
 * whichever cache allocates next (deterministic once every slot leaving
 * the quarantine is checked); run 10 times, each must abort. */
static void write_after_free_small_strict(const char *behaviour) {
    const struct claim strict = CAUGHT("write after free (a freed object was modified)");
    for (int run = 0; run < 10; run++) {
        char label[96];
        snprintf(label, sizeof label, "%s, strict, run %d", behaviour, run);
        struct run r = probe("strict", behaviour, NULL);
        expect_claim(&r, strict, label);
        run_free(&r);
    }
}

Test(smc, write_after_free_small_strict) {
    write_after_free_small_strict("write_after_free_small");
}

Test(smc, write_after_free_small_reuse_strict) {
    write_after_free_small_strict("write_after_free_small_reuse");
}

/* ---- queries and correct programs ---- */

/* strict zeroes a freed object; the others leave its bytes. */
SMC_QUERY(read_after_free_small, PRINTS("nonzero 16 of 16\n"), PRINTS("nonzero 16 of 16\n"),
          PRINTS("nonzero 0 of 16\n"))

/* The control of the claim: reading before the free sees the bytes. */
Test(smc, read_after_free_small_control) {
    struct run r = probe("strict", "read_after_free_small", "control");
    cr_expect_eq(exit_code(&r), 0, "%s %s", r.out, r.err);
    cr_expect(strstr(r.out, "nonzero 16 of 16\n") != NULL, "%s", r.out);
    run_free(&r);
}

/* A string filling its object to the usable size, the next slot full of
 * 'b': under strict the canary's zero first byte ends it (no object starts
 * there); off and default run into the neighbour. */
Test(smc, string_overflow) {
    for (size_t i = 0; i < 3; i++) {
        struct run r = probe(presets[i], "string_overflow", NULL);
        cr_expect_eq(exit_code(&r), 0, "%s: %s %s", presets[i], r.out, r.err);
        int neighbour;
        size_t past;
        const char *line = strstr(r.out, "neighbour ");
        cr_assert_not_null(line, "%s: %s", presets[i], r.out);
        cr_assert_eq(sscanf(line, "neighbour %d overflow by %zu bytes", &neighbour, &past), 2, "%s", line);
        if (i == 2) {
            cr_expect_eq(neighbour, 0, "strict: an object starts on the canary");
            cr_expect_eq(past, 0, "strict: strlen ran %zu bytes past the object", past);
        } else {
            cr_expect_eq(neighbour, 1, "%s: the next slot was never handed out", presets[i]);
            cr_expect_geq(past, 16, "%s: strlen stopped %zu bytes past the object", presets[i], past);
        }
        run_free(&r);
    }
}

#define OBJSIZE(n) PRINTS("object_size " #n " fast " #n "\n")
SMC_QUERY(malloc_object_size, OBJSIZE(16), OBJSIZE(16), OBJSIZE(16))
SMC_QUERY(malloc_object_size_offset, OBJSIZE(11), OBJSIZE(11), OBJSIZE(11))
/* hardened_malloc aborts; partmalloc's contract is 0 (no byte may be
 * copied there), in every preset. */
SMC_QUERY(invalid_malloc_object_size_small, OBJSIZE(0), OBJSIZE(0), OBJSIZE(0))
SMC_QUERY(invalid_malloc_object_size_small_quarantine, OBJSIZE(0), OBJSIZE(0), OBJSIZE(0))
