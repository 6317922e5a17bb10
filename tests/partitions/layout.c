/* Partition isolation of real types, built by tests.mk with clang-22
 * -fsanitize=alloc-token -falloc-token-max=16: each malloc(sizeof(struct
 * T)) below becomes __alloc_token_malloc(size, token of T). A pointer-free
 * `struct blob_N` and a pointer-holding `struct victim_N` of the same size
 * (so the same size class) go, in typed mode with 16 partitions, to the
 * lower and the upper half of the partitions.
 *
 * Sections (arguments; default all):
 *   pages     100000 blobs and 100000 victims of each of several sizes:
 *             how many pages hold both kinds
 *             "pages <N> blobs <n> victims <n> blob_pages <n> victim_pages <n>
 *              shared <n> blob_cache <name> victim_cache <name>"
 *   overflow  20000 blobs and 20000 victims of 256 bytes, the victims'
 *             contents checksummed; in a child process per trial, a linear
 *             write of up to 64 KiB from a blob's end (the highest blob, the
 *             lowest, the last of each run of adjacent blobs, random ones),
 *             stopped by SIGSEGV or the limit; then every victim is checked
 *             "overflow <trial> from <which> wrote <n> by <fault|limit>
 *              damaged <n>" per trial and
 *             "overflow trials <n> intact <n> faulted <n>"
 *   spray     1000000 blobs and 1000000 victims of 32 bytes, interleaved:
 *             how many blobs sit right before or after a victim
 *             "spray blobs <n> victims <n> adjacent <n> blob_partitions <set>
 *              victim_partitions <set>"
 * Every section first prints "config ..." and the partitions of the types:
 *   "types <N> blob_partition <p> victim_partition <p>"
 * Exits 1 if an allocation fails, 0 otherwise (the suite judges the counts).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "partmalloc.h"

const unsigned long long partmalloc_token_max = 16;

#define PAIR(N)                                                                                    \
    struct blob_##N {                                                                              \
        char data[N];                                                                              \
    };                                                                                             \
    struct victim_##N {                                                                            \
        void (*fn)(void);                                                                          \
        struct victim_##N *next;                                                                   \
        uint64_t id;                                                                               \
        char pad[N - 24];                                                                          \
    };                                                                                             \
    _Static_assert(sizeof(struct blob_##N) == sizeof(struct victim_##N), "one size class");

PAIR(32)
PAIR(48)
PAIR(64)
PAIR(128)
PAIR(256)
PAIR(512)

/* Sorts v[0..n) and drops repeats; returns the new count. */
static size_t sort_unique(uintptr_t *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_uptr);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || v[m - 1] != v[i])
            v[m++] = v[i];
    return m;
}

static size_t common(const uintptr_t *a, size_t na, const uintptr_t *b, size_t nb) {
    size_t i = 0, j = 0, n = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j])
            i++;
        else if (a[i] > b[j])
            j++;
        else
            n++, i++, j++;
    }
    return n;
}

static int contains(const uintptr_t *sorted, size_t n, uintptr_t v) {
    return bsearch(&v, sorted, n, sizeof v, cmp_uptr) != NULL;
}

/* The set of partitions (a bit per partition) as "{p,q,...}". */
static const char *partition_set(uint64_t bits, char out[256]) {
    size_t at = 0;
    out[at++] = '{';
    for (unsigned p = 0; p < 64; p++)
        if (bits >> p & 1)
            at += (size_t)snprintf(out + at, 256 - at, "%s%u", at > 1 ? "," : "", p);
    snprintf(out + at, 256 - at, "}");
    return out;
}

/* ---- allocation sites: one per type ---- */

#define ALLOCATORS(N)                                                                              \
    static __attribute__((noinline)) struct blob_##N *new_blob_##N(void) {                        \
        return malloc(sizeof(struct blob_##N));                                                    \
    }                                                                                              \
    static __attribute__((noinline)) struct victim_##N *new_victim_##N(void) {                    \
        return malloc(sizeof(struct victim_##N));                                                  \
    }

ALLOCATORS(32)
ALLOCATORS(48)
ALLOCATORS(64)
ALLOCATORS(128)
ALLOCATORS(256)
ALLOCATORS(512)

static void types_line(size_t n, const void *blob, const void *victim) {
    printf("types %zu blob_partition %u victim_partition %u\n", n, info_of(blob).partition,
           info_of(victim).partition);
}

/* ---- pages ---- */

#define PAGE_COUNT 100000

static uintptr_t blob_pages[2 * PAGE_COUNT], victim_pages[2 * PAGE_COUNT];
static void *blobs[PAGE_COUNT], *victims[PAGE_COUNT];

#define PAGES_OF(N)                                                                                \
    static void pages_##N(void) {                                                              \
        for (size_t i = 0; i < PAGE_COUNT; i++) {                                                  \
            blobs[i] = new_blob_##N();                                                             \
            victims[i] = new_victim_##N();                                                         \
        }                                                                                          \
        pages_check(N);                                                                            \
    }

static void pages_check(size_t n) {
    struct pm_ptr_info bi = info_of(blobs[0]), vi = info_of(victims[0]);
    types_line(n, blobs[0], victims[0]);
    for (size_t i = 0; i < PAGE_COUNT; i++) {
        uintptr_t b = (uintptr_t)blobs[i], v = (uintptr_t)victims[i];
        info_of(blobs[i]);
        info_of(victims[i]);
        blob_pages[2 * i] = b >> 12;
        blob_pages[2 * i + 1] = (b + n - 1) >> 12;
        victim_pages[2 * i] = v >> 12;
        victim_pages[2 * i + 1] = (v + n - 1) >> 12;
    }
    size_t nb = sort_unique(blob_pages, 2 * PAGE_COUNT), nv = sort_unique(victim_pages, 2 * PAGE_COUNT);
    printf("pages %zu blobs %d victims %d blob_pages %zu victim_pages %zu shared %zu blob_cache %s victim_cache %s\n",
           n, PAGE_COUNT, PAGE_COUNT, nb, nv, common(blob_pages, nb, victim_pages, nv), bi.cache_name,
           vi.cache_name);
    for (size_t i = 0; i < PAGE_COUNT; i++) {
        free(blobs[i]);
        free(victims[i]);
    }
}

PAGES_OF(32)
PAGES_OF(48)
PAGES_OF(64)
PAGES_OF(128)
PAGES_OF(256)
PAGES_OF(512)

static void section_pages(void) {
    pages_32();
    pages_48();
    pages_64();
    pages_128();
    pages_256();
    pages_512();
}

/* ---- overflow ---- */

#define OVF_COUNT 20000
#define OVF_LIMIT (64 * 1024)
#define OVF_RANDOM_TRIALS 12

static struct blob_256 *ovf_blob[OVF_COUNT];
static struct victim_256 *ovf_victim[OVF_COUNT];
/* Outside the heap: what every victim must still hold. */
static uint64_t ovf_sum[OVF_COUNT];

static void victim_fn(void) {}

static uint64_t checksum(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static sigjmp_buf ovf_jump;
static volatile size_t ovf_written;

static void ovf_on_segv(int sig) {
    (void)sig;
    siglongjmp(ovf_jump, 1);
}

/* In the child: write forward from the end of `b`, then check the victims. */
static __attribute__((noreturn)) void ovf_child(int trial, const char *which, struct blob_256 *b) {
    static char altstack[65536];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ovf_on_segv;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    volatile char *w = (volatile char *)(b + 1);
    volatile int faulted = 0;
    ovf_written = 0;
    if (sigsetjmp(ovf_jump, 1) == 0) {
        for (size_t i = 0; i < OVF_LIMIT; i++) {
            w[i] = 0x41;
            ovf_written = i + 1;
        }
    } else {
        faulted = 1;
    }
    signal(SIGSEGV, SIG_DFL);
    size_t damaged = 0;
    for (size_t i = 0; i < OVF_COUNT; i++) {
        const struct victim_256 *v = ovf_victim[i];
        if (v->fn != victim_fn || v->next != (i ? ovf_victim[i - 1] : NULL) || v->id != i ||
            checksum(v, sizeof *v) != ovf_sum[i])
            damaged++;
    }
    printf("overflow %d from %s wrote %zu by %s damaged %zu\n", trial, which, (size_t)ovf_written,
           faulted ? "fault" : "limit", damaged);
    fflush(stdout);
    _exit(damaged ? 1 : faulted ? 2 : 0);
}

static void section_overflow(void) {
    for (size_t i = 0; i < OVF_COUNT; i++) {
        ovf_blob[i] = new_blob_256();
        ovf_victim[i] = new_victim_256();
        info_of(ovf_blob[i]);
        info_of(ovf_victim[i]);
        memset(ovf_blob[i]->data, 'b', sizeof ovf_blob[i]->data);
        struct victim_256 *v = ovf_victim[i];
        v->fn = victim_fn;
        v->next = i ? ovf_victim[i - 1] : NULL;
        v->id = i;
        for (size_t k = 0; k < sizeof v->pad; k++)
            v->pad[k] = (char)(i * 31 + k);
        ovf_sum[i] = checksum(v, sizeof *v);
    }
    types_line(256, ovf_blob[0], ovf_victim[0]);

    /* Starting blobs: the highest and lowest, the last of each run of
     * adjacent blobs (a slab's or a group's end, where the next slot is
     * free, a guard or not yet committed) up to 8 of them, random ones. */
    static uintptr_t sorted[OVF_COUNT];
    for (size_t i = 0; i < OVF_COUNT; i++)
        sorted[i] = (uintptr_t)ovf_blob[i];
    qsort(sorted, OVF_COUNT, sizeof *sorted, cmp_uptr);
    struct {
        const char *which;
        uintptr_t blob;
    } trials[2 + 8 + OVF_RANDOM_TRIALS];
    int n = 0;
    trials[n].which = "highest", trials[n++].blob = sorted[OVF_COUNT - 1];
    trials[n].which = "lowest", trials[n++].blob = sorted[0];
    for (size_t i = 0; i + 1 < OVF_COUNT && n < 10; i++)
        if (sorted[i + 1] != sorted[i] + sizeof(struct blob_256))
            trials[n].which = "run-end", trials[n++].blob = sorted[i];
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (int k = 0; k < OVF_RANDOM_TRIALS; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        trials[n].which = "random", trials[n++].blob = sorted[x % OVF_COUNT];
    }

    int intact = 0, faulted = 0;
    for (int t = 0; t < n; t++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0)
            ovf_child(t, trials[t].which, (struct blob_256 *)trials[t].blob);
        int status;
        if (waitpid(pid, &status, 0) != pid)
            die("waitpid");
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        intact += code == 0 || code == 2;
        faulted += code == 2;
    }
    printf("overflow trials %d intact %d faulted %d\n", n, intact, faulted);
    for (size_t i = 0; i < OVF_COUNT; i++) {
        free(ovf_blob[i]);
        free(ovf_victim[i]);
    }
}

/* ---- spray ---- */

#define SPRAY_COUNT 1000000

static void section_spray(void) {
    uintptr_t *a = calloc(SPRAY_COUNT, sizeof *a), *b = calloc(SPRAY_COUNT, sizeof *b);
    if (!a || !b)
        die("calloc");
    for (size_t i = 0; i < SPRAY_COUNT; i++) {
        a[i] = (uintptr_t)new_blob_32();
        b[i] = (uintptr_t)new_victim_32();
        if (!a[i] || !b[i])
            die("malloc");
    }
    types_line(32, (void *)a[0], (void *)b[0]);
    uint64_t a_parts = 0, b_parts = 0;
    for (size_t i = 0; i < SPRAY_COUNT; i++) {
        a_parts |= 1ull << info_of((void *)a[i]).partition;
        b_parts |= 1ull << info_of((void *)b[i]).partition;
    }
    const size_t size = sizeof(struct blob_32);
    qsort(b, SPRAY_COUNT, sizeof *b, cmp_uptr);
    size_t adjacent = 0;
    for (size_t i = 0; i < SPRAY_COUNT; i++)
        adjacent += contains(b, SPRAY_COUNT, a[i] + size) || contains(b, SPRAY_COUNT, a[i] - size);
    char as[256], bs[256];
    printf("spray blobs %d victims %d adjacent %zu blob_partitions %s victim_partitions %s\n", SPRAY_COUNT,
           SPRAY_COUNT, adjacent, partition_set(a_parts, as), partition_set(b_parts, bs));
    for (size_t i = 0; i < SPRAY_COUNT; i++) {
        free((void *)a[i]);
        free((void *)b[i]);
    }
    free(a);
    free(b);
}

int main(int argc, char **argv) {
    struct pm_config c;
    pm_get_config(&c);
    printf("config mode=%s partitions=%u token_max=%llu\n",
           c.mode == PM_MODE_TYPED ? "typed" : c.mode == PM_MODE_RANDOM ? "random" : "none", c.partitions,
           (unsigned long long)c.token_max);
    int all = argc < 2;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "pages") && strcmp(argv[i], "overflow") && strcmp(argv[i], "spray"))
            die("sections: pages, overflow, spray");
    for (int i = all ? 0 : 1; i < (all ? 1 : argc); i++) {
        const char *s = all ? NULL : argv[i];
        if (!s || strcmp(s, "pages") == 0)
            section_pages();
        if (!s || strcmp(s, "overflow") == 0)
            section_overflow();
        if (!s || strcmp(s, "spray") == 0)
            section_spray();
    }
    return 0;
}
