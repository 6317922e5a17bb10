/* Metadata no overflow can reach: for every kind of user block, no
 * metadata arena lies within its gap's width (1 GiB) of the block, and
 * writing every writable partmalloc page in [block - 1 MiB, block end +
 * 1 MiB] leaves every resident metadata byte as it was. The controls plant a
 * metadata-like page next to a block and see both checks fail.
 *
 * tests/run.sh runs this suite again under strict (zero-size objects
 * inaccessible), with 1, 16 and 64 partitions and with 1 MiB regions. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "os.h"
#include "partmalloc.h"
#include "testutil.h"

#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)
#define PAGE ((size_t)4096)
#define REACH MiB

/* The writable spans of the window, and the maps text they come from. */
struct span {
    char *start, *end;
};
#define MAX_SPANS 4096
static struct span spans[MAX_SPANS];
static size_t n_spans;
static char maps[1 << 20];

/* A range of addresses to check, and a hash per resident page of it. */
struct checked {
    char *start, *end;
};
#define MAX_CHECKED 64
#define MAX_PAGES 65536
static struct checked checked[MAX_CHECKED];
static size_t n_checked;
static uint64_t page_hash[MAX_PAGES];
static char *page_addr[MAX_PAGES];
static size_t n_pages;

/* The carved part of every metadata arena. */
static void check_the_arenas(void) {
    struct pm_os_range r[MAX_CHECKED];
    size_t n = pm_os_meta_ranges(r, MAX_CHECKED);
    cr_assert(n >= 1 && n <= MAX_CHECKED, "%zu metadata arenas", n);
    n_checked = 0;
    for (size_t i = 0; i < n; i++)
        checked[n_checked++] = (struct checked){r[i].data, r[i].used_end};
}

static bool intersects(const char *a, const char *a_end, const char *b, const char *b_end) {
    return a < b_end && b < a_end;
}

/* No arena (past its gaps) is within a gap's width of [p, p + size), nor
 * carved metadata within 1 GiB: the window [p - REACH, p + size + REACH)
 * meets neither. The planted ranges of a control are checked against the
 * window like carved metadata. */
static bool window_clear(const char *p, size_t size, bool planted_only) {
    const char *lo = p - REACH, *hi = p + size + REACH;
    if (!planted_only) {
        struct pm_os_range r[MAX_CHECKED];
        size_t n = pm_os_meta_ranges(r, MAX_CHECKED);
        for (size_t i = 0; i < n && i < MAX_CHECKED; i++) {
            size_t gap = (size_t)(r[i].data - r[i].start);
            if (intersects(p - gap, p + size + gap, r[i].data, r[i].end - gap))
                return false;
            if (intersects(p - GiB, p + size + GiB, r[i].data, r[i].used_end))
                return false;
        }
    }
    for (size_t i = 0; i < n_checked; i++)
        if (intersects(lo, hi, checked[i].start, checked[i].end))
            return false;
    return true;
}

static uint64_t hash_page(const char *page) {
    const volatile uint64_t *w = (const volatile uint64_t *)page;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < PAGE / 8; i++)
        h = (h ^ w[i]) * 0x100000001b3ull;
    return h;
}

/* Hashes every resident page of the checked ranges (pages never touched
 * read as zero and cannot have changed unless written). */
static void hash_metadata(void) {
    static unsigned char resident[MAX_PAGES];
    n_pages = 0;
    for (size_t i = 0; i < n_checked; i++) {
        for (char *at = checked[i].start; at < checked[i].end; at += MAX_PAGES * PAGE) {
            size_t len = (size_t)(checked[i].end - at) < MAX_PAGES * PAGE ? (size_t)(checked[i].end - at) : MAX_PAGES * PAGE;
            cr_assert_eq(mincore(at, len, resident), 0);
            for (size_t pg = 0; pg < len / PAGE; pg++) {
                if (!(resident[pg] & 1))
                    continue;
                cr_assert(n_pages < MAX_PAGES, "more resident metadata pages than the test holds");
                page_addr[n_pages] = at + pg * PAGE;
                page_hash[n_pages] = hash_page(page_addr[n_pages]);
                n_pages++;
            }
        }
    }
}

/* Pages whose hash changed (or that became resident) since hash_metadata. */
static size_t metadata_changed(void) {
    size_t changed = 0;
    for (size_t i = 0; i < n_pages; i++)
        changed += hash_page(page_addr[i]) != page_hash[i];
    return changed;
}

/* Anonymous (or partmalloc-named) and holding none of the test's own
 * buffers. */
static char *saved;
static size_t saved_cap;
static bool anonymous_and_not_ours(const char *name, char *s, char *e) {
    if (*name && strncmp(name, "[anon:partmalloc", 16) != 0)
        return false; /* a file, the stack, vvar */
    if (intersects(s, e, saved, saved + saved_cap))
        return false;
    char *own[] = {(char *)checked, (char *)page_hash, (char *)page_addr, (char *)&n_pages, (char *)&saved, (char *)spans, maps};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++)
        if (own[i] >= s && own[i] < e)
            return false;
    return true;
}

/* The writable anonymous mappings of /proc/self/maps within [lo, hi): where
 * an overflow of a block could write (the names of partmalloc's mappings
 * are not shown on every kernel). */

/* Adds [a, b) to the spans but for its guard-marked pages (read-write in
 * the maps, but they fault): one span per run of unmarked pages. */
static char *next_page(char *at) {
    return (char *)(((uintptr_t)at / PAGE + 1) * PAGE);
}

static void add_unguarded(char *a, char *b) {
    char *run = NULL;
    for (char *at = a; at < b; at = next_page(at)) {
        bool marked = tu_guard_marked(at);
        if (!marked && !run)
            run = at;
        if (marked && run && n_spans < MAX_SPANS) {
            spans[n_spans++] = (struct span){run, at};
            run = NULL;
        }
    }
    if (run && n_spans < MAX_SPANS)
        spans[n_spans++] = (struct span){run, b};
}

static void writable_partmalloc_spans(char *lo, char *hi) {
    int fd = open("/proc/self/maps", O_RDONLY);
    cr_assert(fd >= 0);
    size_t len = 0;
    ssize_t r;
    while ((r = read(fd, maps + len, sizeof maps - 1 - len)) > 0)
        len += (size_t)r;
    close(fd);
    maps[len] = '\0';
    n_spans = 0;
    unsigned long file_end = 0;
    for (char *line = maps; *line && n_spans < MAX_SPANS;) {
        char *eol = strchr(line, '\n');
        if (eol)
            *eol = '\0';
        unsigned long s, e;
        char perms[8];
        int path_at = 0;
        bool parsed = sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &s, &e, perms, &path_at) == 3;
        /* an anonymous mapping right after a file's is that library's .bss */
        bool bss_tail = parsed && s == file_end;
        if (parsed)
            file_end = line[path_at] == '/' ? e : 0;
        if (parsed && !bss_tail && perms[0] == 'r' && perms[1] == 'w' &&
            anonymous_and_not_ours(line + path_at, (char *)s, (char *)e)) {
            char *a = (char *)s < lo ? lo : (char *)s, *b = (char *)e > hi ? hi : (char *)e;
            add_unguarded(a, b);
        }
        line = eol ? eol + 1 : line + strlen(line);
    }
}

/* Saves, overwrites, and (after the metadata is compared) restores every
 * writable page of the spans: other objects of the same cache keep their
 * contents. Plain volatile loops: no library call while pages are changed. */
static void scribble_spans(void) {
    size_t at = 0;
    for (size_t i = 0; i < n_spans; i++) {
        volatile char *p = spans[i].start;
        size_t len = (size_t)(spans[i].end - spans[i].start);
        cr_assert(at + len <= saved_cap);
        for (size_t k = 0; k < len; k++) {
            saved[at + k] = p[k];
            p[k] = (char)0xa5;
        }
        at += len;
    }
}

static void restore_spans(void) {
    size_t at = 0;
    for (size_t i = 0; i < n_spans; i++) {
        volatile char *p = spans[i].start;
        size_t len = (size_t)(spans[i].end - spans[i].start);
        for (size_t k = 0; k < len; k++)
            p[k] = saved[at + k];
        at += len;
    }
}

static void setup(void) {
    pm_free(pm_malloc(16));
    saved_cap = 16 * MiB + 2 * REACH;
    saved = mmap(NULL, saved_cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(saved != MAP_FAILED);
    check_the_arenas();
}

/* Writes the window around the block; the number of metadata pages that
 * changed. */
static size_t overflow_window(char *p, size_t size) {
    writable_partmalloc_spans(p - REACH, p + size + REACH);
    hash_metadata();
    scribble_spans();
    size_t changed = metadata_changed();
    restore_spans();
    return changed;
}

static void expect_unreachable(char *p, size_t size, const char *what) {
    cr_assert(window_clear(p, size, false), "%s at %p (%zu bytes): metadata within reach", what, (void *)p, size);
    size_t changed = overflow_window(p, size);
    cr_assert_eq(changed, 0, "%s at %p: %zu metadata pages changed", what, (void *)p, changed);
}

/* Afterwards the allocator still works: every free and a fresh allocation. */
static void still_works(void) {
    void *q = pm_malloc(100);
    cr_assert_not_null(q);
    pm_free(q);
    pm_collect();
}

TestSuite(metadata, .init = setup);

Test(metadata, small_objects_of_several_classes_and_partitions) {
    static const size_t sizes[] = {16, 48, 128, 512, 2048, 8192, 32768};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (size_t token = 0; token < 8; token++) {
            char *p = pm_malloc_token(sizes[s], token * 0x9e3779b97f4a7c15ull);
            cr_assert_not_null(p);
            memset(p, 1, sizes[s]);
            expect_unreachable(p, sizes[s], "small object");
            pm_free(p);
        }
    still_works();
}

/* Enough objects of one cache to fill its first region: with 1 MiB regions
 * (tests/run.sh) the last ones lie in taken regions. */
Test(metadata, objects_past_the_first_region) {
    enum { COUNT = 3000 };
    static char *objs[COUNT];
    for (size_t i = 0; i < COUNT; i++) {
        objs[i] = pm_malloc_token(1024, 7);
        cr_assert_not_null(objs[i]);
    }
    for (size_t i = COUNT - 4; i < COUNT; i++)
        expect_unreachable(objs[i], 1024, "object of a full cache");
    for (size_t i = 0; i < COUNT; i++)
        pm_free(objs[i]);
    still_works();
}

Test(metadata, large_blocks) {
    static const size_t sizes[] = {33 * 1024, 100 * 1024, 256 * 1024, MiB, 3 * MiB + 5, 8 * MiB};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        char *p = pm_malloc(sizes[s]);
        cr_assert_not_null(p);
        memset(p, 2, sizes[s]);
        expect_unreachable(p, sizes[s], "large block");
        pm_free(p);
    }
    still_works();
}

Test(metadata, aligned_large_blocks) {
    static const size_t aligns[] = {64 * 1024, MiB, 4 * MiB};
    for (size_t a = 0; a < sizeof aligns / sizeof *aligns; a++) {
        char *p = pm_aligned_alloc(aligns[a], 2 * MiB);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % aligns[a], 0);
        expect_unreachable(p, 2 * MiB, "aligned large block");
        pm_free(p);
    }
    still_works();
}

/* Under strict with zero_inaccessible, in the zero-size region; otherwise
 * the smallest class. */
Test(metadata, zero_size_objects) {
    char *p[4];
    for (size_t i = 0; i < 4; i++) {
        p[i] = pm_malloc(0);
        cr_assert_not_null(p[i]);
        expect_unreachable(p[i], 1, "malloc(0) object");
    }
    for (size_t i = 0; i < 4; i++)
        pm_free(p[i]);
    still_works();
}

/* A block that was grown in place or moved by realloc. */
Test(metadata, reallocated_large_block) {
    char *p = pm_malloc(64 * 1024);
    cr_assert_not_null(p);
    p = pm_realloc(p, 6 * MiB);
    cr_assert_not_null(p);
    expect_unreachable(p, 6 * MiB, "reallocated block");
    pm_free(p);
    still_works();
}

/* The planted page is read-write-execute so that the kernel never merges it
 * with a read-write neighbour (without anonymous names, which this kernel
 * may lack, it would join the test's own buffer or a library's .bss, which
 * the scan rightly leaves alone, and the control would see nothing). */
static char *plant_page(char *at) {
    char *p = mmap(at, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == at)
        return p;
    if (p != MAP_FAILED)
        munmap(p, PAGE);
    return NULL;
}

/* Control: a page planted right after a large block's trailing guard,
 * named like metadata and checked like it, is within reach: the window
 * check reports it and overwriting the window changes it. */
Test(metadata, control_planted_metadata_next_to_a_block_is_caught) {
    size_t size = TU_LARGE_BLOCK - TU_LARGE_BLOCK % PAGE; /* a mapping of its own */
    char *p = pm_malloc(size);
    cr_assert_not_null(p);
    /* past the trailing guard, or else before the leading one */
    char *plant = plant_page(p + size + PAGE);
    if (!plant)
        plant = plant_page(p - 2 * PAGE);
    cr_assert_not_null(plant, "could not plant a page next to the block");
    prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)plant, PAGE, "partmalloc metadata");
    memset(plant, 0x11, PAGE);
    n_checked = 0;
    checked[n_checked++] = (struct checked){plant, plant + PAGE};
    cr_expect_not(window_clear(p, size, true), "the planted page was not seen within reach");
    size_t changed = overflow_window(p, size);
    bool scanned = false;
    for (size_t i = 0; i < n_spans; i++)
        scanned |= spans[i].start <= plant && plant < spans[i].end;
    cr_expect_eq(changed, 1, "overwriting the window changed %zu pages, not the planted page at %p (%s the scan)", changed,
                 (void *)plant, scanned ? "in" : "not in");
    munmap(plant, PAGE);
    pm_free(p);
}

/* Control: the real arenas are not within reach of a block, but a fake
 * range of them just below one is. */
Test(metadata, control_fake_arena_range_below_a_block_is_caught) {
    char *p = pm_malloc(64);
    cr_assert_not_null(p);
    cr_expect(window_clear(p, 64, false));
    checked[n_checked++] = (struct checked){p - REACH, p - REACH + PAGE};
    cr_expect_not(window_clear(p, 64, false), "a range 1 MiB below the block was not seen");
    pm_free(p);
}

/* Every arena has its gap of 1 GiB on both sides (no address-space limit
 * here) and something carved. */
Test(metadata, arenas_have_gaps_of_a_gibibyte) {
    struct pm_os_range r[MAX_CHECKED];
    size_t n = pm_os_meta_ranges(r, MAX_CHECKED);
    cr_assert_geq(n, 1);
    for (size_t i = 0; i < n; i++) {
        cr_expect_geq((size_t)(r[i].data - r[i].start), GiB, "gap below arena %zu", i);
        cr_expect_geq((size_t)(r[i].end - r[i].used_end), GiB, "gap above arena %zu", i);
        cr_expect(r[i].data < r[i].used_end);
    }
}
