/* A coverage-guided fuzzer of partmalloc's whole API (libFuzzer).
 *
 * The input is a program of operations over a table of live blocks: every
 * entry of the malloc family (the C names of src/malloc.c, renamed pmfz_*
 * in this build so that they do not take the process's allocator from the
 * sanitizers, and the pm_* names), the allocation-token entry points with
 * tokens in range, at the maximum and above it, the kernel-style API
 * (kmalloc and friends, dedicated caches, bucket sets), pm_collect and the
 * statistics. Every live block carries a byte pattern derived from its
 * lineage and checked before each realloc and free (realloc keeps the
 * prefix); every result's alignment, usable size and placement is checked,
 * and a small model says what each call must return. Any disagreement is a
 * crash with a message: the input that caused it is the bug's test.
 *
 * The language, the checks and the model are in api_ops.h, shared with
 * the multi-threaded stress (tests/stress/). Built against the library's
 * ASan+UBSan objects (tests/tests.mk), which leave the C names alone:
 * libFuzzer and the sanitizers allocate with ASan's allocator, only this
 * file calls partmalloc.
 */
#define _GNU_SOURCE
#include "api_ops.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* tokens have a maximum unless the run chooses otherwise */
    setenv("PARTMALLOC_TOKEN_MAX", "16", 0);
    pm_get_config(&config);
    token_max = config.token_max;
    /* under the strict defences usable size is the size asked for */
    void *p = pm_malloc(5);
    strict_sizes = pm_usable_size(p) == 5;
    pm_free(p);
    trace = getenv("FUZZ_API_TRACE") != NULL;
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0)
        fail("cannot open /dev/null");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct input in = {.p = data, .left = size};
    unsigned ops = 0;
    while (in.left && ops++ < 4096)
        run_op(&in);
    reset();
    return 0;
}

