/* The C++ runtime is not a dependency of libpartmalloc (src/new.cc): a C
 * program does not load libstdc++ because of it, and a C++ library that
 * such a program loads later still gets the standard's failures from
 * partmalloc's operators new: std::bad_alloc thrown, null from the nothrow
 * forms, the new-handler called and its exception caught. The program is
 * tests/cxxlate/late_main.c with tests/cxxlate/late_lib.cc. */
#include "testutil.h"

static const char checks[] = "throw: 1 1 1\n"
                             "nothrow null: 1 1\n"
                             "handler calls: 3\n"
                             "throwing handler: 1\n"
                             "new is partmalloc's: 1\n";

static struct run run_late(const char *preload) {
    char main_path[512], lib_path[512], env_preload[512];
    snprintf(main_path, sizeof main_path, "%s/tests/cxxlate/late_main", build_dir());
    snprintf(lib_path, sizeof lib_path, "%s/tests/cxxlate/late_lib.so", build_dir());
    cr_assert(access(main_path, X_OK) == 0 && access(lib_path, R_OK) == 0, "late_main is not built (make test-build)");
    const char *argv[] = {main_path, lib_path, NULL};
    snprintf(env_preload, sizeof env_preload, "LD_PRELOAD=%s", preload ? preload : "");
    const char *env[] = {env_preload, NULL};
    return run_env(argv, env, false);
}

/* A C program with partmalloc: no libstdc++ until it loads a C++ library;
 * then the library's operators new fail the standard way. */
Test(cxx_runtime, loaded_after_start) {
    struct run r = run_late(NULL);
    cr_expect_eq(exit_code(&r), 0, "%s%s", r.out, r.err);
    cr_expect(strncmp(r.out, "runtime before dlopen: no\n", 26) == 0, "%s", r.out);
    cr_expect_str_eq(strchr(r.out, '\n') ? strchr(r.out, '\n') + 1 : r.out, checks, "%s", r.err);
    run_free(&r);
}

/* The control for the check of the maps, and the path where the loader
 * binds the runtime at start: libstdc++ preloaded, the same outcomes. */
Test(cxx_runtime, present_at_start) {
    struct run r = run_late("libstdc++.so.6");
    cr_expect_eq(exit_code(&r), 0, "%s%s", r.out, r.err);
    cr_expect(strncmp(r.out, "runtime before dlopen: yes\n", 27) == 0, "%s", r.out);
    cr_expect_str_eq(strchr(r.out, '\n') ? strchr(r.out, '\n') + 1 : r.out, checks, "%s", r.err);
    run_free(&r);
}
