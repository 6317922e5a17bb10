/* The hardening presets (PARTMALLOC_HARDEN): the strict preset's defences
 * case by case, the guards and slot order of the default preset, what off
 * leaves out, and the option's error handling.
 *
 * The preset is read at a process's first allocation, so every case runs
 * tests/helpers/harden_probe in a process of its own with the preset in its
 * environment. A misuse case asserts how the probe ended (the signal) and
 * the exact one-line diagnosis on its stderr,
 *     partmalloc: <what> at <pointer> (cache <name>)
 * built here from the object the probe announced on stdout before the
 * misuse ("object <p> cache <name> size <n> slot <object size>"). A fault
 * is asserted as SIGSEGV with nothing on stderr; the probe's handler prints
 * the faulting address ("fault +<offset>") first, so the suite also checks
 * where it happened.
 */
#include "testutil.h" /* first: it defines _GNU_SOURCE */

#include <stdint.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define PAGE ((size_t)4096)

/* ---- running the probe ---- */

/* Runs the probe with PARTMALLOC_HARDEN=`harden` (NULL: unset) and, if
 * given, PARTMALLOC_SEED=`seed`; the arguments follow. */
static struct run probe_seeded(const char *harden, const char *seed, const char *const *args) {
    const struct setting settings[] = {{"HARDEN", harden}, {"SEED", seed}, {NULL, NULL}};
    return run_built("tests/helpers", "harden_probe", args, settings, false);
}

#define PROBE(harden, ...) probe_seeded((harden), NULL, (const char *const[]){__VA_ARGS__, NULL})
#define PROBE_SEED(harden, seed, ...) probe_seeded((harden), (seed), (const char *const[]){__VA_ARGS__, NULL})

static const char *num(size_t v, char buf[32]) {
    snprintf(buf, 32, "%zu", v);
    return buf;
}

/* The object the probe announced. */
struct object {
    void *p;
    char cache[32];
    size_t size, slot;
};

static struct object announced(const struct run *r) {
    struct object o;
    memset(&o, 0, sizeof o);
    const char *line = strstr(r->out, "object ");
    cr_assert_not_null(line, "the probe announced no object; stdout: %s stderr: %s", r->out, r->err);
    cr_assert_eq(sscanf(line, "object %p cache %31s size %zu slot %zu", &o.p, o.cache, &o.size, &o.slot), 4,
                 "unreadable: %s", line);
    return o;
}

static char expected[256];

/* The diagnosis of `what` at `p` in `cache`. */
static const char *diag(const char *what, const void *p, const char *cache) {
    snprintf(expected, sizeof expected, "partmalloc: %s at %p (cache %s)\n", what, p, cache);
    return expected;
}

static int term_signal(const struct run *r) {
    return WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0;
}

/* The probe died of SIGABRT with exactly `line` on stderr. */
static void expect_abort(const struct run *r, const char *line, const char *label) {
    cr_expect_eq(term_signal(r), SIGABRT, "%s: expected SIGABRT, got exit %d; stdout: %s stderr: %s", label,
                 exit_code(r), r->out, r->err);
    cr_expect_str_eq(r->err, line, "%s", label);
}

/* The probe died of SIGSEGV, silently, after reporting the fault at
 * +`offset` from the base it printed. */
static void expect_fault_at(const struct run *r, size_t offset, const char *label) {
    char want[64];
    snprintf(want, sizeof want, "fault +%zu\n", offset);
    cr_expect_eq(term_signal(r), SIGSEGV, "%s: expected SIGSEGV, got exit %d; stdout: %s stderr: %s", label,
                 exit_code(r), r->out, r->err);
    cr_expect(strstr(r->out, want) != NULL, "%s: no '%.*s' in: %s", label, (int)strlen(want) - 1, want, r->out);
    cr_expect_str_empty(r->err, "%s", label);
}

/* The probe exited 0, silently, with `line` among its output. */
static void expect_done(const struct run *r, const char *line, const char *label) {
    cr_expect_eq(exit_code(r), 0, "%s: exit %d; stdout: %s stderr: %s", label, exit_code(r), r->out, r->err);
    cr_expect_str_empty(r->err, "%s", label);
    if (line)
        cr_expect(strstr(r->out, line) != NULL, "%s: no '%s' in: %s", label, line, r->out);
}

/* The size in a kmalloc cache's name, "kmalloc-<n>" or "kmalloc-part-NN-<n>". */
static size_t cache_object_size(const char *name) {
    cr_assert(strncmp(name, "kmalloc-", 8) == 0, "not a kmalloc cache: %s", name);
    const char *dash = strrchr(name, '-');
    return (size_t)strtoull(dash + 1, NULL, 10);
}

/* ---- the preset in effect, measured (the probe's fingerprint) ---- */

struct fingerprint {
    long reuse, usable100, large_kept, ordered, first_hole, zero_size; /* -1: any */
};

/* The presets: default reuses a freed slot at once (thread cache), the slot
 * is the class size, it keeps freed large blocks, hands slots out in random
 * order, and the first guard of a 20480-byte cache comes after 6 slabs of
 * 160 KiB; strict: no reuse, the size asked for, nothing kept, a guard after
 * each slab; off: no guard (the first inaccessible byte is the end of the
 * prefix made accessible, which doubles with the slabs carved: 160, 320,
 * 640, 1280 KiB for the six), slots in address order. */
#define NO_GUARD_HOLE 1310720
#define FP_DEFAULT {1, 112, 1, 0, 983040, 0}
#define FP_STRICT {0, 100, 0, 0, 163840, 1}
#define FP_OFF {1, 112, 1, 1, NO_GUARD_HOLE, 0}

static struct fingerprint fingerprint_of(const struct run *r) {
    struct fingerprint f;
    const char *line = strstr(r->out, "fingerprint ");
    cr_assert_not_null(line, "no fingerprint; stdout: %s stderr: %s", r->out, r->err);
    cr_assert_eq(sscanf(line, "fingerprint reuse=%ld usable100=%ld large_kept=%ld ordered=%ld first_hole=+%ld "
                              "zero_size=%ld",
                        &f.reuse, &f.usable100, &f.large_kept, &f.ordered, &f.first_hole, &f.zero_size),
                 6, "unreadable: %s", line);
    return f;
}

static void expect_fingerprint(const struct run *r, struct fingerprint want, const char *label) {
    struct fingerprint got = fingerprint_of(r);
#define FP_FIELD(f)                                                                                \
    cr_expect(want.f < 0 || got.f == want.f, "%s: " #f " = %ld, want %ld (%s)", label, got.f, want.f, r->out)
    FP_FIELD(reuse);
    FP_FIELD(usable100);
    FP_FIELD(large_kept);
    FP_FIELD(ordered);
    FP_FIELD(first_hole);
    FP_FIELD(zero_size);
#undef FP_FIELD
}

/* ---- canary (strict) ---- */

/* Sizes around and at class sizes (with the canary's 8 bytes the slot is
 * the next class that keeps the alignment: 32 -> 64, 4096 -> 8192), and
 * the largest small size that leaves room for it. */
static const size_t canary_sizes[] = {0, 1, 24, 32, 64, 100, 1000, 4096, 20000, 32760};
#define N_CANARY (sizeof canary_sizes / sizeof canary_sizes[0])

static void overflow_case(size_t size, size_t bytes) {
    char a[32], b[32], label[64];
    snprintf(label, sizeof label, "malloc(%zu), %zu byte(s) past it", size, bytes);
    /* strict's malloc(0) is inaccessible (a write faults, below): the slot
     * with a canary is what it is without zero_inaccessible */
    struct run r = PROBE(size ? "strict" : "strict,zero_inaccessible=off", "overflow", num(size, a), num(bytes, b));
    struct object o = announced(&r);
    cr_expect_eq(o.size, size);
    cr_expect_geq(o.slot, size + 8, "%s: slot %zu has no room for the canary", label, o.slot);
    cr_expect_eq(cache_object_size(o.cache), o.slot, "%s: %s", label, o.cache);
    expect_abort(&r, diag("heap overflow (the canary after the object was overwritten)", o.p, o.cache), label);
    run_free(&r);
}

Test(harden, canary_catches_a_one_byte_overflow) {
    for (size_t i = 0; i < N_CANARY; i++)
        overflow_case(canary_sizes[i], 1);
}

Test(harden, canary_catches_an_eight_byte_overflow) {
    for (size_t i = 0; i < N_CANARY; i++)
        overflow_case(canary_sizes[i], 8);
}

/* The canary's first byte is zero: a string that fills its object exactly,
 * unterminated, still ends at the object's end for strlen. */
Test(harden, canary_first_byte_ends_an_unterminated_string) {
    const size_t sizes[] = {1, 7, 8, 32, 100, 1000, 4096, 32760};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char a[32], want[64];
        struct run r = PROBE("strict", "canary", num(sizes[i], a));
        snprintf(want, sizeof want, "strlen %zu after 0x00\n", sizes[i]);
        expect_done(&r, want, a);
        run_free(&r);
    }
}

/* The canary after a dedicated cache's object (kmem_cache_create leaves
 * room for it) is not the object's: kmem_cache_zalloc zeroes the object,
 * the program uses all of it, kmem_cache_free finds the canary intact. */
Test(harden, kmem_cache_zalloc_keeps_the_canary) {
    const char *sizes[] = {"40", "64", "100"};
    for (int i = 0; i < 3; i++) {
        struct run r = PROBE("strict", "kmem-zalloc", sizes[i]);
        expect_done(&r, "freed\n", sizes[i]);
        run_free(&r);
    }
}

/* Without the canary (the default preset, or strict with canary=off) the
 * same overflow, inside the slot, goes unnoticed. */
Test(harden, overflow_inside_the_slot_unnoticed_without_canary) {
    const char *presets[] = {"default", "strict,canary=off"};
    for (int i = 0; i < 2; i++) {
        struct run r = PROBE(presets[i], "overflow", "100", "8");
        announced(&r);
        cr_expect_eq(exit_code(&r), 3, "%s: exit %d, stderr: %s", presets[i], exit_code(&r), r.err);
        cr_expect_str_empty(r.err, "%s", presets[i]);
        run_free(&r);
    }
}

/* 32768 bytes plus a canary fit no size class: under strict the object is
 * a large block, exactly 8 pages, and a one-byte overflow runs into its
 * trailing guard page. */
Test(harden, largest_class_size_is_a_guarded_large_block_under_strict) {
    struct run r = PROBE("strict", "overflow", "32768", "1");
    struct object o = announced(&r);
    cr_expect_str_eq(o.cache, "large");
    cr_expect_eq(term_signal(&r), SIGSEGV, "exit %d, stdout: %s stderr: %s", exit_code(&r), r.out, r.err);
    cr_expect_str_empty(r.err);
    run_free(&r);
}

/* ---- double free under strict ---- */

/* A freed slot waits in the quarantine, still marked freed: a second free
 * is a double free, right away or after 5000 other frees have cycled the
 * ring (the slot may be back in its slab by then). */
Test(harden, double_free_under_strict) {
    const char *others[] = {"0", "5000"};
    for (int i = 0; i < 2; i++) {
        struct run r = PROBE("strict", "double-free", "100", others[i]);
        struct object o = announced(&r);
        expect_abort(&r, diag("double free", o.p, o.cache), others[i]);
        run_free(&r);
    }
}

/* ---- frees held in a thread's batch (strict) ---- */

/* A free waits in its thread's batch until 32 have gathered, then enters
 * the quarantine with them: while held, the slot is handed out by no
 * allocation, in the freeing thread, after that thread exited (the batch
 * went into the quarantine, which nothing has pushed it out of), or in a
 * fork child (the forking thread's batch went into the quarantine before
 * the fork; another thread's stays held, even when the child drains the
 * quarantine). The probe allocates 20000 objects of the size each time. */
Test(harden, held_free_not_handed_out_again) {
    const char *cases[][2] = {
        {"same", "held same reused 0\n"},
        {"exit", "held exit reused 0\n"},
        {"fork", "held fork reused other 0 own 0 other-after-collect 0\n"},
    };
    for (int i = 0; i < 3; i++) {
        struct run r = PROBE("strict", "held", "100", cases[i][0]);
        struct object o = announced(&r);
        cr_expect_eq(o.slot, 112, "%s: %s", cases[i][0], r.out);
        expect_done(&r, cases[i][1], cases[i][0]);
        run_free(&r);
    }
}

/* A second free of a slot still in the batch is a double free at once,
 * with the slot alone in it, with 5 or 30 more, or when the 32nd has sent
 * the batch into the quarantine. */
Test(harden, double_free_of_a_held_free) {
    const char *others[] = {"0", "5", "30", "31", "40"};
    for (int i = 0; i < 5; i++) {
        struct run r = PROBE("strict", "double-free", "100", others[i]);
        struct object o = announced(&r);
        expect_abort(&r, diag("double free", o.p, o.cache), others[i]);
        run_free(&r);
    }
}

/* The slots a thread's strict cache holds count as cached: a refill takes
 * 32 slots of a 112-byte cache (half its bin of 64), one is handed out;
 * after the free, the freed one is held in the batch; pm_collect gives the
 * thread's slots and batch back and drains the quarantine. */
Test(harden, held_slots_count_as_cached) {
    struct run r = PROBE("strict", "held-stats", "100");
    expect_done(&r,
                "held-stats malloc active 1 cached 31 free active 0 cached 32 allocs 1 frees 1 "
                "collect active 0 cached 0\n",
                "strict");
    run_free(&r);
}

/* ---- zero on free, checked on reuse (strict) ---- */

static void write_after_free_case(const char *preset, size_t size, size_t offset, const char *how) {
    char a[32], b[32], label[96];
    snprintf(label, sizeof label, "%s: malloc(%zu), byte %zu written after free (%s)", preset, size, offset, how);
    struct run r = PROBE(preset, "uaf-write", num(size, a), num(offset, b), how);
    struct object o = announced(&r);
    expect_abort(&r, diag("write after free (a freed object was modified)", o.p, o.cache), label);
    if (strcmp(how, "cycle") == 0)
        /* nothing can leave the ring of 4096 before it is full: the slot
         * and 4095 fillers */
        cr_expect(strstr(r.out, "frees 4095\n") != NULL, "%s: the slot came back too early: %s", label, r.out);
    run_free(&r);
}

/* With the quarantine off a freed slot goes straight back to its slab and
 * is among the next handed out; the write is found then, wherever in the
 * slot it was: the first byte, the last byte asked for, the slot's slack. */
Test(harden, write_after_free_caught_on_reuse) {
    const size_t sizes[] = {32, 100, 1000, 20000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        write_after_free_case("strict,quarantine=off", n, 0, "direct");
        write_after_free_case("strict,quarantine=off", n, n - 1, "direct");
        write_after_free_case("strict,quarantine=off", n, n + 8, "direct"); /* past the canary, in the slot */
    }
}

/* With the quarantine on, the slot waits in the ring until the ring is full
 * (4096 objects; the probe's 1000-byte fillers stay far below any byte
 * limit) and a later free happens to evict it: the probe frees fillers of
 * another cache until then, and keeps allocating from the slot's cache. */
Test(harden, write_after_free_caught_after_the_quarantine_evicts_it) {
    write_after_free_case("strict", 100, 0, "cycle");
    write_after_free_case("strict", 2000, 1999, "cycle");
}

/* ---- zero on free, checked as the slot leaves the quarantine (strict) ---- */

/* The probe frees an object, writes one byte of it (or not: "none"), and
 * lets the slot leave the quarantine while nothing allocates from its
 * cache again: "others" frees objects of its size from another call site,
 * 400000 of them, "collect" calls pm_collect. */
static struct run uaf_leave(const char *preset, unsigned seed, size_t size, const char *offset, const char *how) {
    char s[32], a[32];
    return PROBE_SEED(preset, num(seed, s), "uaf-leave", num(size, a), offset, how);
}

/* The other site's cache, as the probe announced it. */
static const char *other_cache(const struct run *r, char name[32]) {
    const char *line = strstr(r->out, "other cache ");
    cr_assert_not_null(line, "no other cache; stdout: %s", r->out);
    cr_assert_eq(sscanf(line, "other cache %31s", name), 1, "unreadable: %s", line);
    return name;
}

#define UAF_LEAVE_SEEDS 8u

/* Every run aborts naming the freed object, whatever the seed (so whatever
 * partition each site's objects go to); with 16 partitions the two sites
 * share a cache for about one seed in 16, so most runs show the case where
 * the slot's own cache never allocates again. */
static void write_after_free_found_on_leaving(const char *how, size_t size, size_t offset) {
    char off[32], label[96], other[32];
    unsigned apart = 0;
    for (unsigned seed = 1; seed <= UAF_LEAVE_SEEDS; seed++) {
        snprintf(label, sizeof label, "%s, malloc(%zu), byte %zu, seed %u", how, size, offset, seed);
        struct run r = uaf_leave("strict", seed, size, num(offset, off), how);
        struct object o = announced(&r);
        apart += strcmp(other_cache(&r, other), o.cache) != 0;
        expect_abort(&r, diag("write after free (a freed object was modified)", o.p, o.cache), label);
        run_free(&r);
    }
    cr_expect_geq(apart, 1u, "%s: the other site shared the object's cache for every seed", how);
}

/* hardened_malloc's measured case (a write into a freed 128-byte object,
 * then allocations of that size from elsewhere) and the last byte of a
 * 2000-byte one. */
Test(harden, write_after_free_caught_as_the_quarantine_sends_the_slot_back) {
    write_after_free_found_on_leaving("others", 128, 64);
    write_after_free_found_on_leaving("others", 2000, 1999);
}

Test(harden, write_after_free_caught_when_pm_collect_drains_the_quarantine) {
    write_after_free_found_on_leaving("collect", 128, 64);
    write_after_free_found_on_leaving("collect", 2000, 1999);
}

/* Controls: without a write the slot leaves quietly; with zero_on_free off
 * the same write goes unnoticed (the probe ends with exit 3). */
Test(harden, slot_leaving_the_quarantine_unwritten_or_unchecked_does_not_abort) {
    const char *hows[] = {"others", "collect"};
    for (int i = 0; i < 2; i++) {
        struct run r = uaf_leave("strict", 1, 128, "none", hows[i]);
        expect_done(&r, "left the quarantine\n", hows[i]);
        run_free(&r);
        r = uaf_leave("strict,zero_on_free=off", 1, 128, "64", hows[i]);
        cr_expect_eq(exit_code(&r), 3, "%s, zero_on_free=off: exit %d, stderr: %s", hows[i], exit_code(&r), r.err);
        cr_expect_str_empty(r.err, "%s", hows[i]);
        cr_expect(strstr(r.out, "the written slot left the quarantine unnoticed\n") != NULL, "%s", r.out);
        run_free(&r);
    }
}

Test(harden, read_after_free_reads_zeros_under_strict) {
    const size_t sizes[] = {8, 100, 1000, 20000, 32760};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char a[32];
        struct run r = PROBE("strict", "uaf-read", num(sizes[i], a));
        expect_done(&r, "nonzero 0 of ", a);
        run_free(&r);
    }
}

/* The default preset leaves a freed object's contents as they were (the
 * thread cache keeps its list out of line). */
Test(harden, read_after_free_reads_old_contents_by_default) {
    struct run r = PROBE("default", "uaf-read", "100");
    expect_done(&r, "nonzero 100 of 112\n", "default");
    run_free(&r);
}

/* ---- large blocks ---- */

/* strict (large_reuse off): a freed large block is unmapped at once, of any
 * size, so reading it faults. 32768 is a large block under strict. */
Test(harden, read_after_free_of_a_large_block_faults_under_strict) {
    const size_t sizes[] = {32768, 100 * KiB, 4 * MiB, 16 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char a[32];
        struct run r = PROBE("strict", "large-uaf", num(sizes[i], a));
        expect_fault_at(&r, 0, a);
        run_free(&r);
    }
}

/* The default preset keeps freed blocks mapped, their pages resident, for
 * reuse, within a budget of the large peak (at least 16 MiB, at most 64
 * MiB): reading one after free does not fault, and sees the old contents.
 * A block above 64 MiB is unmapped as under strict. (By default,
 * blocks up to 1 MiB come from the slab caches, so 2 MiB is the smallest
 * large block tried there; under strict 100 KiB is one.) Under strict,
 * large_reuse=on needs large_quarantine=off: the quarantine comes first. */
Test(harden, freed_large_block_kept_mapped_by_default) {
    struct run r = PROBE("default", "large-uaf", "2097152");
    expect_done(&r, "read 0x5a 0x5a\n", "default, 2 MiB");
    run_free(&r);
    r = PROBE("strict,large_reuse=on,large_quarantine=off", "large-uaf", "102400");
    expect_done(&r, "read 0x5a 0x5a\n", "strict,large_reuse=on,large_quarantine=off, 100 KiB");
    run_free(&r);
    r = PROBE("strict,large_reuse=on", "large-uaf", "102400");
    expect_fault_at(&r, 0, "strict,large_reuse=on, 100 KiB");
    run_free(&r);
    r = PROBE("default", "large-uaf", "16777216");
    expect_done(&r, "read 0x5a 0x5a\n", "default, 16 MiB");
    run_free(&r);
    r = PROBE("default", "large-uaf", "67112960"); /* 64 MiB and a page */
    expect_fault_at(&r, 0, "default, 64 MiB and a page");
    run_free(&r);
}

/* ---- the large quarantine (strict) ---- */

/* A freed block's range stays reserved: no later block (of its size, of
 * 2 MiB, 64 more of its size) overlaps it. The control: without the
 * quarantine the kernel hands the same range to the very next block. */
Test(harden, large_quarantine_keeps_the_freed_range_from_new_blocks) {
    const char *sizes[] = {"262144", "1048576"};
    for (size_t i = 0; i < 2; i++) {
        struct run r = PROBE("strict", "large-reuse", sizes[i]);
        expect_done(&r, "large-reuse same=0 overlap=0 of 66\n", sizes[i]);
        run_free(&r);
    }
    /* 2 MiB: the default preset serves 256 KiB from a slab cache */
    const char *controls[] = {"strict,large_quarantine=off", "default"};
    for (size_t i = 0; i < 2; i++) {
        struct run r = PROBE(controls[i], "large-reuse", "2097152");
        expect_done(&r, "large-reuse same=1 overlap=1 of 66\n", controls[i]);
        run_free(&r);
    }
}

/* A write through a dangling pointer to a freed block faults at once, even
 * after a block of the same size was allocated. The control: without the
 * quarantine the new block is at the same address and the write changes it. */
Test(harden, large_quarantine_write_after_free_faults) {
    struct run r = PROBE("strict", "large-uaf-write", "262144");
    expect_fault_at(&r, 0, "strict");
    run_free(&r);
    r = PROBE("strict,large_quarantine=off", "large-uaf-write", "262144");
    expect_done(&r, "wrote, the next block changed\n", "strict,large_quarantine=off");
    run_free(&r);
}

/* A double free of a block in the quarantine is still named as one. */
Test(harden, large_quarantine_double_free) {
    struct run r = PROBE("strict", "double-free", "262144", "3");
    struct object o = announced(&r);
    expect_abort(&r, diag("double free", o.p, "large"), "strict, 256 KiB");
    run_free(&r);
}

/* The bounds: of 300 freed 256 KiB blocks the 256 last are held and the 44
 * oldest unmapped; of nine 512 MiB blocks (512 MiB + 8 KiB of address space
 * each) the 7 last fit in 4 GiB. The held blocks' pages are not resident:
 * RSS falls back to about where it started (the control: it had grown by
 * the 75 MiB written). Without the quarantine every block is unmapped. */
Test(harden, large_quarantine_is_bounded_fifo) {
    struct run r = PROBE("strict", "large-held", "262144", "300", "1");
    expect_done(&r, "held unmapped_first=44 mapped=256 of 300\n", "strict, 300 x 256 KiB");
    size_t start, live, freed, maps_start, maps_freed;
    const char *line = strstr(r.out, "rss ");
    cr_assert_not_null(line, "%s", r.out);
    cr_assert_eq(sscanf(line, "rss start=%zu live=%zu freed=%zu maps start=%zu freed=%zu", &start, &live, &freed,
                        &maps_start, &maps_freed),
                 5, "%s", line);
    cr_expect_geq(live, start + 70 * 1024, "the blocks were not resident: %s", line);
    cr_expect_leq(freed, start + 4 * 1024, "the held blocks' pages stayed resident: %s", line);
    cr_expect_leq(maps_freed, maps_start + 256 + 16, "%s", line);
    run_free(&r);
    r = PROBE("strict", "large-held", "536870912", "9", "0");
    expect_done(&r, "held unmapped_first=2 mapped=7 of 9\n", "strict, 9 x 512 MiB");
    run_free(&r);
    r = PROBE("strict,large_quarantine=off", "large-held", "262144", "300", "1");
    expect_done(&r, "held unmapped_first=300 mapped=0 of 300\n", "strict,large_quarantine=off");
    run_free(&r);
}

/* However many blocks go through it, the quarantine adds at most its 256
 * ranges to the process's mappings. */
Test(harden, large_quarantine_keeps_mappings_bounded) {
    struct run r = PROBE("strict", "large-churn", "262144", "2000");
    expect_done(&r, NULL, "strict");
    size_t before, after;
    const char *line = strstr(r.out, "churn ");
    cr_assert_not_null(line, "%s", r.out);
    cr_assert_eq(sscanf(line, "churn maps before=%zu after=%zu", &before, &after), 2, "%s", line);
    cr_expect_leq(after, before + 256 + 16, "%s", line);
    run_free(&r);
}

/* realloc that moves a block copies it and holds the old range; one that
 * shrinks it holds the pages cut off. Both fault when written. */
Test(harden, large_quarantine_holds_what_realloc_gives_up) {
    const char *cases[] = {"grow", "shrink"};
    for (size_t i = 0; i < 2; i++) {
        struct run r = PROBE("strict", "large-realloc", cases[i]);
        expect_fault_at(&r, 0, cases[i]);
        cr_expect(strstr(r.out, "moved 1") != NULL || i == 1, "%s: %s", cases[i], r.out);
        run_free(&r);
        /* The control, for grow alone: the moved block's old range is
         * unmapped and the next block takes it, so the write lands. The
         * pages a shrink cuts off are unmapped too, but whether the kernel
         * maps anything there before the write is its choice: a fault
         * there proves nothing either way. */
        if (i == 1)
            continue;
        r = PROBE("strict,large_quarantine=off", "large-realloc", cases[i]);
        expect_done(&r, "wrote\n", cases[i]);
        run_free(&r);
    }
}

/* ---- reuse order ---- */

static const char *const reuse_sizes[] = {"1", "48", "100", "1000", "4096", "20000"};
#define N_REUSE (sizeof reuse_sizes / sizeof reuse_sizes[0])

/* "reuse <size> <same>/<trials>" lines: the count for each size. */
static void reuse_counts(const struct run *r, size_t out[N_REUSE]) {
    for (size_t i = 0; i < N_REUSE; i++) {
        char prefix[48];
        snprintf(prefix, sizeof prefix, "reuse %s ", reuse_sizes[i]);
        const char *line = strstr(r->out, prefix);
        cr_assert_not_null(line, "no '%s' in: %s", prefix, r->out);
        size_t trials;
        cr_assert_eq(sscanf(line + strlen(prefix), "%zu/%zu", &out[i], &trials), 2);
        cr_assert_eq(trials, 1000);
    }
}

static struct run run_reuse(const char *preset) {
    return PROBE(preset, "reuse", "1000", reuse_sizes[0], reuse_sizes[1], reuse_sizes[2], reuse_sizes[3],
                 reuse_sizes[4], reuse_sizes[5]);
}

/* strict: a freed slot goes to the quarantine, so malloc/free/malloc never
 * gives the same address back. */
Test(harden, no_immediate_reuse_under_strict) {
    struct run r = run_reuse("strict");
    expect_done(&r, NULL, "strict");
    size_t same[N_REUSE];
    reuse_counts(&r, same);
    for (size_t i = 0; i < N_REUSE; i++)
        cr_expect_eq(same[i], 0, "malloc(%s) came back %zu times in 1000", reuse_sizes[i], same[i]);
    run_free(&r);
}

/* Without the quarantine the slot is back in its slab at once, taken again
 * when the random scan lands on it (1 in the slab's free slots: often for
 * 8 objects a slab, rarely for 1024); the default preset's thread cache
 * hands the last freed object out first, every time. */
Test(harden, immediate_reuse_without_quarantine) {
    struct run r = run_reuse("strict,quarantine=off");
    expect_done(&r, NULL, "strict,quarantine=off");
    size_t same[N_REUSE], total = 0;
    reuse_counts(&r, same);
    for (size_t i = 0; i < N_REUSE; i++)
        total += same[i];
    cr_expect_gt(same[N_REUSE - 1], 0, "20000 bytes (8 a slab) never came back: %s", r.out);
    cr_expect_gt(total, 0);
    run_free(&r);
    r = run_reuse("default");
    expect_done(&r, NULL, "default");
    reuse_counts(&r, same);
    for (size_t i = 0; i < N_REUSE; i++)
        cr_expect_eq(same[i], 1000, "default: malloc(%s) came back %zu times in 1000", reuse_sizes[i], same[i]);
    run_free(&r);
}

/* ---- malloc_usable_size ---- */

static size_t usable_of(const struct run *r, size_t size) {
    char prefix[48];
    snprintf(prefix, sizeof prefix, "usable %zu ", size);
    const char *line = strstr(r->out, prefix);
    cr_assert_not_null(line, "no '%s' in: %s", prefix, r->out);
    return (size_t)strtoull(line + strlen(prefix), NULL, 10);
}

Test(harden, usable_size_is_the_size_asked_for_under_strict) {
    struct run r = PROBE("strict", "usable", "0", "1", "8", "32", "100", "1000", "4096", "32760");
    expect_done(&r, NULL, "strict");
    const size_t sizes[] = {0, 1, 8, 32, 100, 1000, 4096, 32760};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        cr_expect_eq(usable_of(&r, sizes[i]), sizes[i], "malloc_usable_size(malloc(%zu))", sizes[i]);
    run_free(&r);
}

/* Large blocks too: checked_usable promises the size asked for, and there
 * is no canary after a large block to catch a write into the page slack. */
Test(harden, usable_size_of_a_large_block_is_the_size_asked_for_under_strict) {
    struct run r = PROBE("strict", "usable", "32761", "100000");
    expect_done(&r, NULL, "strict");
    cr_expect_eq(usable_of(&r, 32761), 32761, "malloc_usable_size(malloc(32761)): %s", r.out);
    cr_expect_eq(usable_of(&r, 100000), 100000, "malloc_usable_size(malloc(100000)): %s", r.out);
    run_free(&r);
}

/* By default the usable size is the slot: the size class up to 1 MiB
 * (100000 is in the 112 KiB class), whole pages for a large block. */
Test(harden, usable_size_is_the_slot_by_default) {
    struct run r = PROBE("default", "usable", "1", "100", "4096", "32761", "100000", "1100000");
    expect_done(&r, NULL, "default");
    cr_expect_eq(usable_of(&r, 1), 8);
    cr_expect_eq(usable_of(&r, 100), 112);
    cr_expect_eq(usable_of(&r, 4096), 4096);
    cr_expect_eq(usable_of(&r, 32761), 32768);
    cr_expect_eq(usable_of(&r, 100000), 114688);
    cr_expect_eq(usable_of(&r, 1100000), 1101824);
    run_free(&r);
}

/* ---- malloc_object_size follows malloc_usable_size ---- */

struct objsize {
    size_t start, last, past, slot_last, fast;
};

static struct objsize objsize_of(const struct run *r, size_t size) {
    char prefix[48];
    snprintf(prefix, sizeof prefix, "objsize %zu ", size);
    const char *line = strstr(r->out, prefix);
    cr_assert_not_null(line, "no '%s' in: %s", prefix, r->out);
    struct objsize o;
    cr_assert_eq(sscanf(line + strlen(prefix), "start=%zu last=%zu past=%zu slot_last=%zu fast=%zu", &o.start,
                        &o.last, &o.past, &o.slot_last, &o.fast),
                 5, "%s", line);
    return o;
}

/* Under strict (checked_usable, canary) an object ends at the size asked
 * for: the canary and the rest of the slot are outside it. */
Test(harden, object_size_ends_at_the_size_asked_for_under_strict) {
    struct run r = PROBE("strict", "usable", "1", "100", "4096", "32760", "100000");
    expect_done(&r, NULL, "strict");
    const size_t sizes[] = {1, 100, 4096, 32760};
    for (size_t i = 0; i < 4; i++) {
        struct objsize o = objsize_of(&r, sizes[i]);
        cr_expect_eq(o.start, sizes[i], "size %zu", sizes[i]);
        cr_expect_eq(o.last, 1, "size %zu", sizes[i]);
        cr_expect_eq(o.past, 0, "size %zu: the canary", sizes[i]);
        cr_expect_eq(o.slot_last, 0, "size %zu: the slot's last byte", sizes[i]);
        cr_expect_eq(o.fast, sizes[i], "size %zu", sizes[i]);
    }
    struct objsize big = objsize_of(&r, 100000);
    cr_expect_eq(big.start, 100000);
    cr_expect_eq(big.last, 1);
    cr_expect_eq(big.slot_last, 0, "the page slack after the size asked for");
    cr_expect_eq(big.fast, SIZE_MAX);
    run_free(&r);
}

/* The control: by default an object ends at its slot's end. */
Test(harden, object_size_ends_at_the_slot_by_default) {
    struct run r = PROBE("default", "usable", "1", "100", "100000", "1100000");
    expect_done(&r, NULL, "default");
    struct objsize one = objsize_of(&r, 1), hundred = objsize_of(&r, 100), big = objsize_of(&r, 100000);
    struct objsize large = objsize_of(&r, 1100000);
    cr_expect_eq(one.start, 8);
    cr_expect_eq(one.slot_last, 1);
    cr_expect_eq(hundred.start, 112);
    cr_expect_eq(hundred.slot_last, 1);
    cr_expect_eq(big.start, 114688);
    cr_expect_eq(big.slot_last, 1);
    cr_expect_eq(big.past, 0, "the guard slot after a slot above 32 KiB");
    cr_expect_eq(large.start, 1101824);
    cr_expect_eq(large.slot_last, 1);
    cr_expect_eq(large.past, 0, "the trailing guard page");
    run_free(&r);
}

Test(harden, object_size_of_a_zero_size_object_is_zero) {
    struct run r = PROBE("default,zero_inaccessible=on", "usable", "0");
    expect_done(&r, NULL, "zero_inaccessible");
    cr_assert_not_null(strstr(r.out, "usable 0 0 zero-size"), "%s", r.out);
    struct objsize o = objsize_of(&r, 0);
    cr_expect(o.start == 0 && o.past == 0 && o.fast == 0, "%s", r.out);
    run_free(&r);
}

/* ---- malloc(0) with zero_inaccessible ---- */

#define ZERO_STRICT "strict" /* turns zero_inaccessible on */

Test(harden, malloc0_distinct_inaccessible_pointers) {
    const char *presets[] = {ZERO_STRICT, "default,zero_inaccessible=on"};
    for (int i = 0; i < 2; i++) {
        struct run r = PROBE(presets[i], "zero", "info");
        expect_done(&r, NULL, presets[i]);
        void *p0, *p1, *p2, *again;
        char c0[32], c1[32];
        int l0, l1, r0, r1, after;
        size_t usable;
        const char *line = strstr(r.out, "zero ");
        cr_assert_not_null(line, "%s", r.out);
        cr_assert_eq(sscanf(line, "zero %p %p cache %31s %31s live %d %d usable %zu", &p0, &p1, c0, c1, &l0, &l1,
                            &usable),
                     7, "%s", line);
        cr_expect(p0 && p1 && p0 != p1, "%s: %p %p", presets[i], p0, p1);
        cr_expect_str_eq(c0, "zero-size");
        cr_expect_str_eq(c1, "zero-size");
        cr_expect(l0 == 1 && l1 == 1);
        cr_expect_eq(usable, 0);
        line = strstr(r.out, "readable ");
        cr_assert_not_null(line);
        cr_assert_eq(sscanf(line, "readable %d %d", &r0, &r1), 2);
        cr_expect(r0 == 0 && r1 == 0, "%s: malloc(0) memory is readable", presets[i]);
        line = strstr(r.out, "after free ");
        cr_assert_not_null(line);
        cr_assert_eq(sscanf(line, "after free %p live %d, a new one %p", &again, &after, &p2), 3);
        cr_expect_eq(again, p0);
        cr_expect_eq(after, 0, "a freed malloc(0) pointer is still live");
        cr_expect(p2 != p0 && p2 != p1, "%s: an address came back: %p", presets[i], p2);
        run_free(&r);
    }
}

Test(harden, malloc0_read_faults) {
    struct run r = PROBE(ZERO_STRICT, "zero", "read");
    expect_fault_at(&r, 0, "read");
    run_free(&r);
}

Test(harden, malloc0_write_faults) {
    struct run r = PROBE(ZERO_STRICT, "zero", "write");
    expect_fault_at(&r, 0, "write");
    run_free(&r);
}

Test(harden, malloc0_double_free) {
    struct run r = PROBE(ZERO_STRICT, "zero", "double-free");
    struct object o = announced(&r);
    cr_expect_str_eq(o.cache, "zero-size");
    expect_abort(&r, diag("double free", o.p, "zero-size"), "double free");
    run_free(&r);
}

/* realloc(p0, 10) gives a real 10-byte object and frees p0 (so a later
 * free of p0 is a double free). */
Test(harden, malloc0_realloc) {
    struct run r = PROBE(ZERO_STRICT, "zero", "realloc");
    expect_done(&r, NULL, "realloc");
    void *q;
    int small, live, old_live;
    size_t usable;
    const char *line = strstr(r.out, "realloc ");
    cr_assert_not_null(line, "%s", r.out);
    cr_assert_eq(sscanf(line, "realloc %p small %d live %d usable %zu old live %d", &q, &small, &live, &usable,
                        &old_live),
                 5, "%s", line);
    cr_expect(q && small == 1 && live == 1 && usable == 10 && old_live == 0, "%s", line);
    run_free(&r);
    r = PROBE(ZERO_STRICT, "zero", "realloc-then-free");
    struct object o = announced(&r);
    expect_abort(&r, diag("double free", o.p, "zero-size"), "free after realloc");
    run_free(&r);
}

/* A zero-size allocation with an alignment keeps it: aligned_alloc(a, 0)
 * and posix_memalign(&p, a, 0) are multiples of a, as every other
 * allocation of that alignment is. */
Test(harden, malloc0_aligned_keeps_the_alignment) {
    const char *presets[] = {"strict", ZERO_STRICT};
    for (int i = 0; i < 2; i++) {
        struct run r = PROBE(presets[i], "zero-aligned");
        expect_done(&r, NULL, presets[i]);
        const char *s = r.out;
        int lines = 0;
        while ((s = strstr(s, "aligned ")) != NULL) {
            size_t a;
            void *p, *q;
            int ok;
            cr_assert_eq(sscanf(s, "aligned %zu %p %p %d", &a, &p, &q, &ok), 4, "%s", s);
            cr_expect_eq(ok, 1, "%s: aligned_alloc(%zu, 0) = %p, posix_memalign(%zu, 0) = %p", presets[i], a, p, a,
                         q);
            lines++;
            s++;
        }
        cr_expect_eq(lines, 6, "%s", r.out);
        run_free(&r);
    }
}

/* Without zero_inaccessible (default, or strict with it off) malloc(0) is
 * an 8-byte slot: readable, and a read or a write of it does not fault (the
 * controls of the two death tests above). */
Test(harden, malloc0_is_a_slot_without_zero_inaccessible) {
    const char *presets[] = {"default", "strict,zero_inaccessible=off"};
    for (int i = 0; i < 2; i++) {
        struct run r = PROBE(presets[i], "zero", "info");
        expect_done(&r, "readable 1 1\n", presets[i]);
        cr_expect(strstr(r.out, "cache zero-size") == NULL, "%s", r.out);
        run_free(&r);
    }
    struct run r = PROBE("default", "zero", "read");
    cr_expect_eq(exit_code(&r), 3, "default, read: exit %d; %s", exit_code(&r), r.out);
    cr_expect(strstr(r.out, "\nread ") != NULL, "%s", r.out);
    run_free(&r);
    r = PROBE("default", "zero", "write");
    cr_expect_eq(exit_code(&r), 3, "default, write: exit %d; %s", exit_code(&r), r.out);
    cr_expect(strstr(r.out, "wrote\n") != NULL, "%s", r.out);
    run_free(&r);
}

/* ---- guard pages ---- */

/* Slab geometry as slab.c documents it: the smallest whole number of
 * lcm(size, page) bytes holding at least 8 objects and 16 KiB. */
static size_t slab_bytes_of(size_t obj) {
    size_t a = obj, b = PAGE;
    while (b) {
        size_t t = a % b;
        a = b;
        b = t;
    }
    size_t lcm = obj / a * PAGE, want = obj * 8 > 16384 ? obj * 8 : 16384;
    return (want + lcm - 1) / lcm * lcm;
}

struct geometry {
    size_t obj, per_slab, slab_bytes, start;
    int live;
};

static struct geometry geometry_of(const struct run *r) {
    struct geometry g;
    char cache[32];
    const char *line = strstr(r->out, "geometry ");
    cr_assert_not_null(line, "no geometry; stdout: %s stderr: %s", r->out, r->err);
    cr_assert_eq(sscanf(line, "geometry cache %31s obj %zu per_slab %zu slab_bytes %zu start +%zu live %d", cache,
                        &g.obj, &g.per_slab, &g.slab_bytes, &g.start, &g.live),
                 6, "%s", line);
    cr_expect_eq(g.slab_bytes, slab_bytes_of(g.obj), "%s: slab of %zu bytes", cache, g.slab_bytes);
    cr_expect_eq(g.per_slab, g.slab_bytes / g.obj);
    return g;
}

/* strict (slab_guards): writing forward from the last object of the first
 * slab faults at the slab's end. The first slab is all allocated (strict
 * takes one slot at a time, the first slab first). */
Test(harden, slab_guard_after_every_slab_under_strict) {
    const size_t sizes[] = {20000, 1000, 100}, objs_per_slab[] = {8, 16, 256};
    for (size_t i = 0; i < 3; i++) {
        char a[32], b[32], label[64];
        snprintf(label, sizeof label, "strict, %zu-byte objects", sizes[i]);
        struct run r = PROBE("strict", "guard", num(sizes[i], a), num(objs_per_slab[i], b), "last", "65536");
        struct geometry g = geometry_of(&r);
        cr_expect_eq(g.per_slab, objs_per_slab[i], "%s", label);
        cr_expect_eq(g.start, g.slab_bytes - g.obj, "%s", label);
        cr_expect_eq(g.live, 1, "%s: the slab's last object is not allocated", label);
        expect_fault_at(&r, g.slab_bytes, label);
        run_free(&r);
    }
}

/* default (group_guards): a guard after each group of slabs of at most
 * 1 MiB, made inaccessible once the group's last slab is in use, so a
 * linear write from a cache's first object faults within 1 MiB plus a
 * slab: after 6 slabs of 160 KiB (56 objects), or 36 of 28 KiB (10000). */
Test(harden, group_guard_within_a_mebibyte_by_default) {
    const size_t sizes[] = {20000, 100};
    const char *counts[] = {"56", "10000"};
    for (size_t i = 0; i < 2; i++) {
        char a[32], b[32], label[64];
        snprintf(label, sizeof label, "default, %zu-byte objects", sizes[i]);
        struct run r = PROBE("default", "guard", num(sizes[i], a), counts[i], "first", num(MiB + 163840, b));
        struct geometry g = geometry_of(&r);
        size_t group = MiB / g.slab_bytes * g.slab_bytes;
        cr_expect_leq(group, MiB);
        expect_fault_at(&r, group, label);
        run_free(&r);
    }
}

/* off: no guard. The write that the default preset's guard stops (from the
 * first object across 7 slabs of 160 KiB, all in use, so committed) runs
 * to its end; under default it faults after the 6th. */
Test(harden, no_guard_when_off) {
    char b[32];
    struct run r = PROBE("off", "guard", "20000", "56", "first", num(7 * 163840, b));
    struct geometry g = geometry_of(&r);
    cr_expect_eq(g.slab_bytes, 163840);
    expect_done(&r, "wrote 1146880\n", "off");
    run_free(&r);
    r = PROBE("default", "guard", "20000", "56", "first", num(7 * 163840, b));
    geometry_of(&r);
    expect_fault_at(&r, 6 * 163840, "default");
    run_free(&r);
}

/* Every page of every guard after a slab in use stays inaccessible as the
 * cache's accessible prefix grows past it (by 1 MiB at a time): with
 * 112-byte objects a guard (7 pages, 28 KiB) straddles the first or second
 * MiB boundary, under the default preset (after 36 slabs) and under strict
 * (after slab 36). Guards after slabs not yet in use are not checked: they
 * go up when their slab is carved out. */
static void expect_guards_inaccessible(const char *preset, size_t bytes) {
    char b[32], label[64];
    snprintf(label, sizeof label, "%s, 112-byte objects", preset);
    struct run r = PROBE(preset, "map", "100", "10000", num(bytes, b));
    expect_done(&r, NULL, label);
    struct geometry g = geometry_of(&r);
    cr_assert_eq(g.obj, 112, "%s", r.out);
    size_t group_slabs = strcmp(preset, "strict") == 0 ? 1 : MiB / g.slab_bytes;
    size_t guard = 28672; /* lcm(112, 4096) */
    size_t group = group_slabs * g.slab_bytes + guard;
    struct {
        size_t from, to;
    } holes[64];
    int nh = 0;
    const char *s = r.out;
    while ((s = strstr(s, "hole +")) != NULL && nh < 64) {
        cr_assert_eq(sscanf(s, "hole +%zu +%zu", &holes[nh].from, &holes[nh].to), 2);
        nh++;
        s++;
    }
    size_t carved = (10000 + g.per_slab - 1) / g.per_slab, checked = 0;
    for (size_t at = group - guard, n = 1; at + guard <= bytes && n * group_slabs <= carved;
         at += group, n++, checked++) {
        int covered = 0;
        for (int h = 0; h < nh; h++)
            covered |= holes[h].from <= at && at + guard <= holes[h].to;
        cr_expect(covered, "%s: the guard at +%zu..+%zu is not all inaccessible; inaccessible:\n%s", label, at,
                  at + guard, r.out);
    }
    cr_expect_gt(checked, 0, "%s: no guard in the first %zu bytes", label, bytes);
    run_free(&r);
}

Test(harden, guards_stay_inaccessible_as_the_cache_grows) {
    expect_guards_inaccessible("default", 2 * MiB);
    expect_guards_inaccessible("strict", 2 * MiB + 256 * KiB);
}

/* ---- slot order ---- */

static int order_of(const struct run *r, long out[64]) {
    const char *line = strstr(r->out, "order");
    cr_assert_not_null(line, "no order; stdout: %s stderr: %s", r->out, r->err);
    line += 5;
    int n = 0;
    char *end;
    for (; n < 64; n++) {
        long v = strtol(line, &end, 10);
        if (end == line)
            break;
        out[n] = v;
        line = end;
    }
    cr_assert_eq(n, 64, "%s", r->out);
    return n;
}

/* Steps of exactly `step` slots between consecutive allocations. */
static int steps_of(const long *o, long step) {
    int n = 0;
    for (int i = 1; i < 64; i++)
        n += o[i] - o[i - 1] == step;
    return n;
}

/* default: 64 consecutive malloc(48) in a fresh thread come in no address
 * order, and in a different one under another seed. */
Test(harden, slot_order_random_by_default) {
    long a[64], b[64];
    struct run r = PROBE_SEED("default", "1", "order");
    expect_done(&r, NULL, "seed 1");
    order_of(&r, a);
    run_free(&r);
    r = PROBE_SEED("default", "2", "order");
    expect_done(&r, NULL, "seed 2");
    order_of(&r, b);
    run_free(&r);
    cr_expect_lt(steps_of(a, 1), 16, "seed 1: mostly ascending");
    cr_expect_lt(steps_of(a, -1), 16, "seed 1: mostly descending");
    cr_expect_lt(steps_of(b, 1), 16, "seed 2: mostly ascending");
    cr_expect_lt(steps_of(b, -1), 16, "seed 2: mostly descending");
    cr_expect(memcmp(a, b, sizeof a) != 0, "two seeds, one order");
}

/* off: the order is predictable. A thread cache's bin is refilled with 32
 * slots in address order and hands them out last first, so the 64
 * allocations are two runs of adjacent slots, each descending. */
Test(harden, slot_order_predictable_when_off) {
    long a[64];
    struct run r = PROBE("off", "order");
    expect_done(&r, NULL, "off");
    order_of(&r, a);
    for (int i = 1; i < 64; i++)
        if (i != 32)
            cr_expect_eq(a[i] - a[i - 1], -1, "allocation %d: slot %ld after %ld: %s", i, a[i], a[i - 1], r.out);
    run_free(&r);
}

/* ---- free_sized (strict: the exact size asked for) ---- */

Test(harden, free_sized_exact_size_under_strict) {
    const size_t wrong[] = {0, 99, 101, 112};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        char a[32], label[48];
        snprintf(label, sizeof label, "free_sized(malloc(100), %zu)", wrong[i]);
        struct run r = PROBE("strict", "free-sized", "100", num(wrong[i], a));
        struct object o = announced(&r);
        expect_abort(&r, diag("free_sized with a size the object was not allocated with", o.p, o.cache), label);
        run_free(&r);
    }
    struct run r = PROBE("strict", "free-sized", "100", "100");
    expect_done(&r, "freed\n", "strict, the right size");
    run_free(&r);
    /* default checks the size class only: 112 is 100's class */
    r = PROBE("default", "free-sized", "100", "112");
    expect_done(&r, "freed\n", "default, a size of the class");
    run_free(&r);
}

/* ---- the option ---- */

#define HARDEN_ACCEPTED                                                                            \
    "default, strict or off, then ,<feature>=on|off for slot_order, group_guards, slab_guards, "   \
    "zero_on_free, canary, quarantine, checked_usable, large_reuse, large_quarantine, "           \
    "zero_inaccessible"

/* A security option never gives less than was asked: an invalid value
 * stops the program before main, with one line naming the part that is
 * wrong, and exit status 1 (nothing of the program ran: no stdout). */
Test(harden, invalid_values_refuse_to_start) {
    static const struct {
        const char *value, *bad;
    } cases[] = {
        {"bogus", "bogus"},
        {"STRICT", "STRICT"},
        {" strict", " strict"},
        {"strict,", ""},
        {"strict,,canary=on", ""},
        {"strict,canary", "canary"},
        {"strict,canary=yes", "canary=yes"},
        {"strict,canary=maybe", "canary=maybe"},
        {"strict,canary=ON", "canary=ON"},
        {"canary=on,strict", "strict"},
        {"strict,default", "default"},
        {"default,slab_guard=on", "slab_guard=on"},
        {"off,quarantine=off,nonsense=on", "nonsense=on"},
        {"strict;canary=off", "strict;canary=off"},
        {",strict", ""},
        {"", ""}, /* empty, as for every option, is invalid */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct run r = PROBE(cases[i].value, "fingerprint");
        char want[512];
        snprintf(want, sizeof want,
                 "partmalloc: invalid PARTMALLOC_HARDEN='%s' at '%s' (accepted: " HARDEN_ACCEPTED "); not starting\n",
                 cases[i].value, cases[i].bad);
        cr_expect_eq(exit_code(&r), 1, "'%s': exit %d", cases[i].value, exit_code(&r));
        cr_expect_str_eq(r.err, want, "'%s'", cases[i].value);
        cr_expect_str_empty(r.out, "'%s'", cases[i].value);
        run_free(&r);
    }
}

/* The message quotes at most 64 bytes of the value and of the bad part. */
Test(harden, invalid_long_value_is_cut_in_the_message) {
    char value[200], want[512];
    memset(value, 'x', 150);
    value[150] = '\0';
    struct run r = PROBE(value, "fingerprint");
    snprintf(want, sizeof want,
             "partmalloc: invalid PARTMALLOC_HARDEN='%.64s' at '%.64s' (accepted: " HARDEN_ACCEPTED "); not starting\n",
             value, value);
    cr_expect_str_eq(r.err, want);
    cr_expect_eq(exit_code(&r), 1);
    run_free(&r);
}

Test(harden, valid_values_take_effect) {
    static const struct {
        const char *value;
        struct fingerprint want;
    } cases[] = {
        {NULL, FP_DEFAULT},
        {"default", FP_DEFAULT},
        {"strict", FP_STRICT},
        {"off", FP_OFF},
        {"default,slab_guards=on", {1, 112, 1, 0, 163840, 0}},
        {"default,group_guards=off", {1, 112, 1, 0, NO_GUARD_HOLE, 0}},
        {"off,slot_order=on", {1, 112, 1, 0, NO_GUARD_HOLE, 0}},
        {"off,canary=on", {-1, 100, 1, 1, NO_GUARD_HOLE, 0}},
        {"off,checked_usable=on", {-1, 100, 1, 1, NO_GUARD_HOLE, 0}},
        {"strict,large_reuse=on", {0, 100, 0, 0, 163840, 1}}, /* the quarantine comes first */
        {"strict,large_reuse=on,large_quarantine=off", {0, 100, 1, 0, 163840, 1}},
        {"strict,zero_inaccessible=off", {0, 100, 0, 0, 163840, 0}},
        {"strict,slab_guards=off", {0, 100, 0, 0, 983040, 1}},
        {"strict,slab_guards=off,group_guards=off,slot_order=off", {0, 100, 0, 1, NO_GUARD_HOLE, 1}},
        /* slow paths (no thread cache) without the quarantine: a freed
         * slot may or may not come straight back */
        {"default,zero_inaccessible=on", {-1, 112, 1, 0, 983040, 1}},
        {"default,large_reuse=off,large_reuse=on", {1, 112, 1, 0, 983040, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *label = cases[i].value ? cases[i].value : "(unset)";
        struct run r = PROBE(cases[i].value, "fingerprint");
        expect_done(&r, NULL, label);
        expect_fingerprint(&r, cases[i].want, label);
        run_free(&r);
    }
}

/* ---- fork ---- */

/* Under strict every free takes the quarantine's lock: fork while threads
 * allocate and free, and each child (which allocates, frees and drains the
 * quarantine) must finish. */
Test(harden, fork_while_threads_allocate_under_strict) {
    struct run r = PROBE("strict", "fork", "3", "25");
    expect_done(&r, "forks 25 ok 25\n", "strict");
    run_free(&r);
    r = PROBE(ZERO_STRICT, "fork", "3", "10");
    expect_done(&r, "forks 10 ok 10\n", ZERO_STRICT);
    run_free(&r);
}
