/* The kernel-style API in the programs under tests/kapi (the suite "slab",
 * like tests/unit/test_slab.c): typed placement built with clang-22's
 * inference and with gcc's fallback, tokens through wrappers with and
 * without the companions, and the counting build's report of them. Each
 * program checks its own allocations and exits nonzero on a mismatch; here
 * we choose the environment and read the result. */
#include "testutil.h"

static struct run run_kapi(const char *name, const char *partitions) {
    char path[512], env_n[64];
    snprintf(path, sizeof path, "%s/tests/kapi/%s", build_dir(), name);
    snprintf(env_n, sizeof env_n, "PARTMALLOC_PARTITIONS=%s", partitions);
    const char *argv[] = {path, NULL};
    const char *env[] = {env_n, NULL};
    return run_env(argv, env, false);
}

Test(slab, typed_placement_with_clang_and_fallback_with_gcc) {
    const char *ns[] = {"2", "8", "16", "32"};
    for (int i = 0; i < 4; i++) {
        struct run r = run_kapi("kapi_clang", ns[i]);
        cr_expect_eq(exit_code(&r), 0, "kapi_clang N=%s:\n%s%s", ns[i], r.out, r.err);
        run_free(&r);
        r = run_kapi("kapi_gcc", ns[i]);
        cr_expect_eq(exit_code(&r), 0, "kapi_gcc N=%s:\n%s%s", ns[i], r.out, r.err);
        run_free(&r);
    }
}

Test(slab, tokens_cross_wrappers_only_with_companions) {
    const char *ns[] = {"2", "16", "64"};
    for (int i = 0; i < 3; i++) {
        struct run r = run_kapi("wrappers", ns[i]);
        cr_expect_eq(exit_code(&r), 0, "with companions, N=%s:\n%s%s", ns[i], r.out, r.err);
        cr_expect(strstr(r.out, " 0 wrong") != NULL, "%s", r.out);
        run_free(&r);
        r = run_kapi("wrappers_baseline", ns[i]);
        cr_expect_eq(exit_code(&r), 0, "baseline, N=%s:\n%s%s", ns[i], r.out, r.err);
        run_free(&r);
    }
}

Test(slab, counting_build_reports_the_share_of_typed_allocations) {
    char path[512], libdir[512];
    snprintf(path, sizeof path, "%s/tests/kapi/wrappers", build_dir());
    snprintf(libdir, sizeof libdir, "LD_LIBRARY_PATH=%s/stats", build_dir());
    const char *argv[] = {path, NULL};
    const char *env[] = {libdir, "PARTMALLOC_TOKEN_STATS=1", NULL};
    struct run r = run_env(argv, env, false);
    cr_expect_eq(exit_code(&r), 0);
    /* The one call without a token is the C library's own (the C++ runtime
     * is not loaded into this C program, so its start-up pool is not). */
    cr_expect(strstr(r.err, "partmalloc token stats: 33 allocations, 32 with a type token (96.9%), 0 fallback, 1 without a token") != NULL,
              "%s", r.err);
    run_free(&r);
    snprintf(path, sizeof path, "%s/tests/kapi/wrappers_baseline", build_dir());
    r = run_env(argv, env, false);
    cr_expect(strstr(r.err, "33 allocations, 8 with a type token (24.2%), 24 fallback, 1 without a token") != NULL,
              "%s", r.err);
    run_free(&r);
}

/* The normal library keeps no token counts: PARTMALLOC_TOKEN_STATS there
 * says so at start, and the program runs as usual; the counting build
 * (the control) prints its counts and not that line. */
Test(slab, token_stats_with_the_normal_library_says_it_is_ignored) {
    static const char ignored[] =
        "partmalloc: PARTMALLOC_TOKEN_STATS is ignored: this library does not count tokens; "
        "use the counting build (`partmalloc run` preloads it; `make stats-lib` builds "
        "stats/libpartmalloc.so)\n";
    char path[512], libdir[512];
    snprintf(path, sizeof path, "%s/tests/kapi/wrappers", build_dir());
    const char *argv[] = {path, NULL};
    const char *env[] = {"PARTMALLOC_TOKEN_STATS=1", NULL};
    struct run r = run_env(argv, env, false);
    cr_expect_eq(exit_code(&r), 0, "%s", r.err);
    cr_expect_str_eq(r.err, ignored);
    cr_expect(strstr(r.out, " 0 wrong") != NULL, "%s", r.out);
    run_free(&r);
    snprintf(libdir, sizeof libdir, "LD_LIBRARY_PATH=%s/stats", build_dir());
    const char *env_counting[] = {libdir, "PARTMALLOC_TOKEN_STATS=1", NULL};
    r = run_env(argv, env_counting, false);
    cr_expect_eq(exit_code(&r), 0, "%s", r.err);
    cr_expect_null(strstr(r.err, "is ignored"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, "partmalloc token stats: "), "%s", r.err);
    run_free(&r);
}

/* PARTMALLOC_TOKEN_STATS_UNTYPED: listing struct tree's token (printed by
 * tests/kapi/token_of, built with wrappers' token flags) moves wrappers' 16
 * struct tree allocations (4 rounds of xmalloc, xcalloc, xrealloc, hmalloc)
 * from "typed" to "fallback"; the total stays 34. */
Test(slab, counting_build_counts_listed_untyped_tokens_as_fallback) {
    char path[512], libdir[512], untyped[128];
    snprintf(path, sizeof path, "%s/tests/kapi/token_of", build_dir());
    const char *tok_argv[] = {path, NULL};
    struct run r = run_env(tok_argv, NULL, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    char *end;
    unsigned long long token = strtoull(r.out, &end, 10);
    cr_assert(end != r.out && token != 0, "token_of printed: %s", r.out);
    run_free(&r);
    /* The second entry checks that a list is read past its first token. */
    snprintf(untyped, sizeof untyped, "PARTMALLOC_TOKEN_STATS_UNTYPED=1,%#llx", token);
    snprintf(path, sizeof path, "%s/tests/kapi/wrappers", build_dir());
    snprintf(libdir, sizeof libdir, "LD_LIBRARY_PATH=%s/stats", build_dir());
    const char *argv[] = {path, NULL};
    const char *env[] = {libdir, "PARTMALLOC_TOKEN_STATS=1", untyped, NULL};
    r = run_env(argv, env, false);
    cr_expect_eq(exit_code(&r), 0, "%s%s", r.out, r.err);
    cr_expect(strstr(r.err, "partmalloc token stats: 33 allocations, 16 with a type token (48.4%), 16 fallback, 1 without a token") != NULL,
              "%s: %s", untyped, r.err);
    run_free(&r);
}
