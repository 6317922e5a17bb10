/* The simple-memory-corruption probe (tests/integration/test_smc.c): one
 * misuse per run, named by the first argument after the behaviour it
 * stands for in hardened_malloc's test suite, under the PARTMALLOC_HARDEN
 * the suite put in its environment.
 *
 * Before a misuse the probe prints the object it is about to misuse,
 *     object <pointer> cache <name> size <asked> slot <object size>
 * and, when the misused pointer is another one, where it points:
 *     pointer <pointer> cache <name, or none>
 * so the suite can build the exact diagnosis it expects on stderr. A fault
 * is reported by the SIGSEGV handler as "fault +<offset>" from the object
 * before the process dies of it. Exit status: 0 done (a query's answer, or
 * a correct program), 2 a precondition failed, 3 the misuse went unnoticed.
 *
 * Small objects are 16 bytes (128 for the writes after free, 8 for the
 * overflows), large blocks 256 KiB; a foreign mapping is 16 pages, misused
 * at its middle. Behaviours:
 *   delete_type_size_mismatch      a 1-byte object deleted as a 32-byte one
 *   double_free_small, double_free_large
 *   double_free_small_delayed, double_free_large_delayed
 *                                  free p, free q, free p
 *   overflow_small_1_byte, overflow_small_8_byte
 *                                  flip the byte 0 or 7 past the usable size,
 *                                  then free
 *   overflow_large_1_byte, overflow_large_8_byte
 *                                  write the byte 0 or 7 past the usable size
 *   invalid_free_protected, invalid_free_unprotected
 *                                  free inside an inaccessible or a
 *                                  read-write mapping of the program's own
 *   invalid_free_small_region      free 16 KiB past a small object
 *   invalid_free_small_region_far  free 1 GiB past a small object
 *   unaligned_free_small, unaligned_free_large
 *                                  free one byte past the start
 *   uninitialized_free, uninitialized_realloc,
 *   uninitialized_malloc_usable_size
 *                                  the call on the pointer value 1
 *   invalid_malloc_usable_size_small
 *                                  malloc_usable_size 16 KiB past an object
 *   invalid_malloc_usable_size_small_quarantine
 *                                  malloc_usable_size of a freed object
 *   unaligned_malloc_usable_size_small
 *                                  malloc_usable_size one byte past the start
 *   read_after_free_small          prints the nonzero bytes of a freed object
 *   read_after_free_large          reads a freed large block
 *   write_after_free_small         free, write a byte, then 100000
 *                                  malloc/free of the size from another site
 *   write_after_free_small_reuse   the same with an object of the size
 *                                  allocated between the free and the write
 *   write_after_free_large         write into a freed large block
 *   write_after_free_large_reuse   the same after a new block of the size
 *   read_zero_size, write_zero_size
 *                                  touch the first byte of malloc(0)
 *   string_overflow                fill an object to its usable size, with
 *                                  the next slot full of other bytes, and
 *                                  print how far strlen runs past it
 *   malloc_object_size, malloc_object_size_offset
 *                                  print malloc_object_size of a live
 *                                  object at its start and 5 bytes in
 *   invalid_malloc_object_size_small
 *                                  print it 16 KiB past an object
 *   invalid_malloc_object_size_small_quarantine
 *                                  print it for a freed object
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <sys/mman.h>

#include "probe.h"

#define SMALL 16
#define LARGE ((size_t)256 << 10)
#define REGION_STEP ((size_t)16 << 10) /* "4 pages past the object" */
#define FAR_STEP ((size_t)1 << 30)

/* The sized operator delete, by its Itanium C++ ABI name: the probe is C. */
void _ZdlPvm(void *ptr, size_t size);

/* "pointer <q> cache <name>" ("none" where pm_ptr_info does not know it). */
/* The cache the report on `q` names: its slot's, or inside the object at
 * `owner` (NULL: none) that object's (a large block's interior has no slot
 * of its own). */
static void announce_pointer(const void *q, const char *owner) {
    struct pm_ptr_info info;
    int found = pm_ptr_info(q, &info);
    if (!found && owner && (uintptr_t)q - (uintptr_t)owner < malloc_usable_size((void *)owner))
        found = pm_ptr_info(owner, &info);
    say("pointer %p cache %s\n", q, found ? info.cache_name : "none");
}

static char *announced(size_t size) {
    char *p = alloc_here(size);
    announce(p, size);
    return p;
}

static int unnoticed(const char *what) {
    say("%s without a report\n", what);
    return 3;
}

/* With "control" after the behaviour's name the probe runs the correct
 * program nearest to the misuse (the right size, the right pointer, the
 * access before the free) and ends with "control done", status 0. */
static int control;

static int control_done(void) {
    say("control done\n");
    return 0;
}

static int delete_type_size_mismatch(void) {
    char *p = announced(1);
    _ZdlPvm(hide(p), control ? 1 : 32);
    return control ? control_done() : unnoticed("deleted");
}

static int double_free(size_t size, int delayed) {
    char *p = announced(size);
    char *q = alloc_here(size);
    free(hide(p));
    if (delayed)
        free(hide(q));
    if (control)
        return control_done();
    free(hide(p));
    return unnoticed("freed twice");
}

static int overflow_small(size_t past) {
    char *p = announced(8);
    size_t usable = malloc_usable_size(hide(p));
    size_t at = control ? usable - 1 : usable + past;
    ((volatile char *)hide(p))[at] ^= 1; /* never the byte it was */
    free(hide(p));
    return control ? control_done() : unnoticed("freed");
}

static int overflow_large(size_t past) {
    char *p = announced(LARGE);
    size_t usable = malloc_usable_size(hide(p));
    report_faults_from(p);
    say("usable %zu\n", usable);
    ((volatile char *)hide(p))[control ? usable - 1 : usable + past] = 0;
    free(hide(p));
    return control ? control_done() : unnoticed("written");
}

static int invalid_free_foreign(int prot) {
    size_t bytes = 16 * 4096;
    free(hide(alloc_here(SMALL))); /* the allocator is in use */
    char *m = mmap(NULL, bytes, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        give_up("mmap");
    char *q = control ? alloc_here(SMALL) : m + bytes / 2;
    announce_pointer(q, NULL);
    free(hide(q));
    return control ? control_done() : unnoticed("freed");
}

static int invalid_free_past(size_t size, size_t step) {
    char *p = announced(size);
    char *q = control ? p : p + step;
    announce_pointer(q, p);
    free(hide(q));
    return control ? control_done() : unnoticed("freed");
}

static int uninitialized(const char *call) {
    void *wild = hide(control ? NULL : (void *)1);
    say("pointer %p cache none\n", wild);
    if (strcmp(call, "free") == 0)
        free(wild);
    else if (strcmp(call, "realloc") == 0)
        free(realloc(wild, SMALL));
    else
        say("usable %zu\n", malloc_usable_size(wild));
    return control ? control_done() : unnoticed(call);
}

static int usable_size_past(size_t step) {
    char *p = announced(SMALL);
    char *q = control ? p : p + step;
    announce_pointer(q, p);
    say("usable %zu\n", malloc_usable_size(hide(q)));
    return control ? control_done() : unnoticed("asked");
}

static int usable_size_of_freed(void) {
    char *p = announced(SMALL);
    if (control)
        say("usable %zu\n", malloc_usable_size(hide(p)));
    free(hide(p));
    if (control)
        return control_done();
    say("usable %zu\n", malloc_usable_size(hide(p)));
    return unnoticed("asked");
}

static int read_after_free_small(void) {
    char *p = alloc_here(SMALL);
    memset(p, 'a', SMALL);
    if (!control)
        free(hide(p));
    size_t nonzero = 0;
    for (size_t i = 0; i < SMALL; i++)
        nonzero += ((volatile char *)hide(p))[i] != 0;
    say("nonzero %zu of %d\n", nonzero, SMALL);
    if (control)
        free(hide(p));
    return 0;
}

/* Frees a large block (after writing its first bytes) and touches it at
 * `offset`, after a new block of the size if `reuse`. */
static int large_after_free(int write, int reuse, size_t offset) {
    char *p = announced(LARGE);
    memset(p, 'a', SMALL);
    if (control) {
        ((volatile char *)p)[offset] = 'b';
        free(hide(p));
        return control_done();
    }
    free(hide(p));
    if (reuse) {
        char *q = alloc_here(LARGE);
        say("next %p\n", (void *)q);
    }
    report_faults_from(p);
    volatile char *v = hide(p);
    if (write)
        v[offset] = 'b';
    else
        say("read 0x%02x\n", v[offset] & 0xff);
    return unnoticed(write ? "written" : "read");
}

/* The write after free of hardened_malloc's program: the object of 128
 * bytes freed, one byte written, then allocations of that size from
 * another call site (another partition, unless the key puts both in one),
 * each freed at once. */
static int write_after_free_small(int reuse) {
    size_t size = 128;
    char *p = announced(size);
    free(hide(p));
    if (reuse)
        say("between %p\n", alloc_elsewhere(size));
    if (!control)
        ((volatile char *)hide(p))[65] = 'a';
    for (size_t i = 0; i < 100000; i++)
        free(hide(alloc_elsewhere(size)));
    return control ? control_done() : unnoticed("100000 allocations");
}

/* The control touches a 1-byte object instead. */
static int zero_size(int write) {
    char *p = announced(control ? 1 : 0);
    report_faults_from(p);
    volatile char *v = hide(p);
    if (write)
        v[0] = 'a';
    else
        say("read 0x%02x\n", v[0] & 0xff);
    free(hide(p));
    return control ? control_done() : unnoticed(write ? "written" : "read");
}

/* The slot after the object (if one begins there) is filled with 'b'
 * first, so strlen stops at the object's end only if something zero lies
 * between them. */
static int string_overflow(void) {
    char *p = announced(SMALL);
    size_t usable = malloc_usable_size(hide(p));
    int neighbour = 0;
    for (size_t i = 0; i < 20000 && !neighbour; i++) {
        char *o = alloc_here(SMALL);
        memset(o, 'b', SMALL);
        neighbour = o == p + usable;
    }
    memset(p, 'a', usable);
    say("neighbour %d overflow by %zu bytes\n", neighbour, strlen(hide(p)) - usable);
    return 0;
}

static int object_size(size_t offset, int freed) {
    char *p = announced(SMALL);
    if (freed)
        free(hide(p));
    say("object_size %zu fast %zu\n", malloc_object_size(hide(p + offset)), malloc_object_size_fast(hide(p + offset)));
    return 0;
}

struct behaviour {
    const char *name;
    int (*run)(void);
};

/* One function per behaviour (the table wants no arguments). */
#define BEHAVIOUR(name, call)                                                                      \
    static int run_##name(void) { return call; }
BEHAVIOUR(delete_type_size_mismatch, delete_type_size_mismatch())
BEHAVIOUR(double_free_small, double_free(SMALL, 0))
BEHAVIOUR(double_free_large, double_free(LARGE, 0))
BEHAVIOUR(double_free_small_delayed, double_free(SMALL, 1))
BEHAVIOUR(double_free_large_delayed, double_free(LARGE, 1))
BEHAVIOUR(overflow_small_1_byte, overflow_small(0))
BEHAVIOUR(overflow_small_8_byte, overflow_small(7))
BEHAVIOUR(overflow_large_1_byte, overflow_large(0))
BEHAVIOUR(overflow_large_8_byte, overflow_large(7))
BEHAVIOUR(invalid_free_protected, invalid_free_foreign(PROT_NONE))
BEHAVIOUR(invalid_free_unprotected, invalid_free_foreign(PROT_READ | PROT_WRITE))
BEHAVIOUR(invalid_free_small_region, invalid_free_past(SMALL, REGION_STEP))
BEHAVIOUR(invalid_free_small_region_far, invalid_free_past(SMALL, FAR_STEP))
BEHAVIOUR(unaligned_free_small, invalid_free_past(SMALL, 1))
BEHAVIOUR(unaligned_free_large, invalid_free_past(LARGE, 1))
BEHAVIOUR(uninitialized_free, uninitialized("free"))
BEHAVIOUR(uninitialized_realloc, uninitialized("realloc"))
BEHAVIOUR(uninitialized_malloc_usable_size, uninitialized("malloc_usable_size"))
BEHAVIOUR(invalid_malloc_usable_size_small, usable_size_past(REGION_STEP))
BEHAVIOUR(invalid_malloc_usable_size_small_quarantine, usable_size_of_freed())
BEHAVIOUR(unaligned_malloc_usable_size_small, usable_size_past(1))
BEHAVIOUR(read_after_free_small, read_after_free_small())
BEHAVIOUR(read_after_free_large, large_after_free(0, 0, 0))
BEHAVIOUR(write_after_free_small, write_after_free_small(0))
BEHAVIOUR(write_after_free_small_reuse, write_after_free_small(1))
BEHAVIOUR(write_after_free_large, large_after_free(1, 0, (64 << 10) + 1))
BEHAVIOUR(write_after_free_large_reuse, large_after_free(1, 1, (64 << 10) + 1))
BEHAVIOUR(read_zero_size, zero_size(0))
BEHAVIOUR(write_zero_size, zero_size(1))
BEHAVIOUR(string_overflow, string_overflow())
BEHAVIOUR(malloc_object_size, object_size(0, 0))
BEHAVIOUR(malloc_object_size_offset, object_size(5, 0))
BEHAVIOUR(invalid_malloc_object_size_small, object_size(REGION_STEP, 0))
BEHAVIOUR(invalid_malloc_object_size_small_quarantine, object_size(0, 1))

#define ENTRY(name) {#name, run_##name}
static const struct behaviour behaviours[] = {
    ENTRY(delete_type_size_mismatch),
    ENTRY(double_free_small),
    ENTRY(double_free_large),
    ENTRY(double_free_small_delayed),
    ENTRY(double_free_large_delayed),
    ENTRY(overflow_small_1_byte),
    ENTRY(overflow_small_8_byte),
    ENTRY(overflow_large_1_byte),
    ENTRY(overflow_large_8_byte),
    ENTRY(invalid_free_protected),
    ENTRY(invalid_free_unprotected),
    ENTRY(invalid_free_small_region),
    ENTRY(invalid_free_small_region_far),
    ENTRY(unaligned_free_small),
    ENTRY(unaligned_free_large),
    ENTRY(uninitialized_free),
    ENTRY(uninitialized_realloc),
    ENTRY(uninitialized_malloc_usable_size),
    ENTRY(invalid_malloc_usable_size_small),
    ENTRY(invalid_malloc_usable_size_small_quarantine),
    ENTRY(unaligned_malloc_usable_size_small),
    ENTRY(read_after_free_small),
    ENTRY(read_after_free_large),
    ENTRY(write_after_free_small),
    ENTRY(write_after_free_small_reuse),
    ENTRY(write_after_free_large),
    ENTRY(write_after_free_large_reuse),
    ENTRY(read_zero_size),
    ENTRY(write_zero_size),
    ENTRY(string_overflow),
    ENTRY(malloc_object_size),
    ENTRY(malloc_object_size_offset),
    ENTRY(invalid_malloc_object_size_small),
    ENTRY(invalid_malloc_object_size_small_quarantine),
};

int main(int argc, char **argv) {
    control = argc == 3 && strcmp(argv[2], "control") == 0;
    for (size_t i = 0; (argc == 2 || control) && i < sizeof behaviours / sizeof behaviours[0]; i++)
        if (strcmp(argv[1], behaviours[i].name) == 0)
            return behaviours[i].run();
    say("usage: smc_probe <behaviour> [control] (see the source)\n");
    return 2;
}
