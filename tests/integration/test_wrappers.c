/* A program's own allocation wrappers carry their callers' types when the
 * program is built with `partmalloc cc`, with no change to its sources:
 *
 *   - wrappers declared malloc / alloc_size (tests/wrappers/ built with
 *     -DPM_TEST_ATTRIBUTES): partmalloc cc's link step writes each one's
 *     companion, whether the program is built in one command, from objects,
 *     from an archive, in a partial link first, or with the fast ABI;
 *     without debug info the program still links and runs, untyped;
 *   - the control: the same program without the attributes, so its objects
 *     all get the wrappers' own tokens and the checks fail.
 *
 * Each program (tests/wrappers/main.c) checks with pm_ptr_info and
 * pm_get_config that objects with pointers land in the pointer group and
 * the others in the known pointer-free group, and prints
 * "wrappers: R right, W wrong" (11 checks, 3 rounds).
 */
#include "testutil.h" /* first: it defines _GNU_SOURCE */

#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>

#define SRC "tests/wrappers"
enum { CHECKS = 33, POINTER_CHECKS = 18 };

static const char *tool(void) {
    static char path[PATH_MAX];
    if (!path[0]) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof rel, "%s/partmalloc", build_dir());
        cr_assert_not_null(realpath(rel, path), "%s is not built", rel);
    }
    return path;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    cr_assert(vasprintf(&s, f, ap) >= 0);
    va_end(ap);
    return s;
}

/* A temporary directory with an empty tmp/ inside, used as TMPDIR. */
static char *make_tmpdir(void) {
    char *dir = strdup("/tmp/pm-wrappers-test.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char *tmp = fmt("%s/tmp", dir);
    cr_assert_eq(mkdir(tmp, 0700), 0);
    free(tmp);
    return dir;
}

static void remove_tree(char *dir) {
    char *cmd = fmt("rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    free(cmd);
    free(dir);
}

/* Runs a shell command line in `dir`, with P the command and S the
 * sources' directory; asserts it succeeds. */
static void sh(const char *dir, const char *script) {
    char src[PATH_MAX];
    cr_assert_not_null(realpath(SRC, src));
    char *p = fmt("P=%s", tool()), *s = fmt("S=%s", src), *tmp = fmt("TMPDIR=%s/tmp", dir);
    char *line = fmt("cd '%s' && %s", dir, script);
    const char *const argv[] = {"/bin/sh", "-c", line, NULL};
    const char *const env[] = {p, s, tmp, NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s: exit %d\nstdout:\n%s\nstderr:\n%s", script, exit_code(&r), r.out, r.err);
    run_free(&r);
    free(p), free(s), free(tmp), free(line);
}

/* Runs dir/prog; returns its right and wrong counts. */
static void run_checks(const char *dir, int *right, int *wrong) {
    char *prog = fmt("%s/prog", dir);
    const char *const argv[] = {prog, NULL};
    struct run r = run_env(argv, NULL, false);
    cr_assert_eq(exit_code(&r), 0, "exit %d\n%s%s", exit_code(&r), r.out, r.err);
    const char *line = strstr(r.out, "wrappers: ");
    cr_assert_not_null(line, "%s", r.out);
    cr_assert_eq(sscanf(line, "wrappers: %d right, %d wrong", right, wrong), 2, "%s", r.out);
    cr_expect_eq(*right + *wrong, CHECKS, "%s", r.out);
    run_free(&r);
    free(prog);
}

/* Every object in its type's group, and partmalloc cc's temporary files gone. */
static void expect_typed(const char *dir) {
    int right, wrong;
    run_checks(dir, &right, &wrong);
    cr_expect_eq(wrong, 0, "%d of %d objects outside their type's group", wrong, CHECKS);
    char *cmd = fmt("[ -z \"$(ls -A '%s/tmp')\" ]", dir);
    cr_expect_eq(system(cmd), 0, "partmalloc cc left files in %s/tmp", dir);
    free(cmd);
}

/* At least every object with pointers outside the pointer group. */
static void expect_untyped(const char *dir) {
    int right, wrong;
    run_checks(dir, &right, &wrong);
    cr_expect_geq(wrong, POINTER_CHECKS, "only %d objects misplaced: the types were carried", wrong);
}

#define FLAGS "-std=gnu17 -Wall -Wextra -Werror -I\"$S\" "
#define ATTR FLAGS "-DPM_TEST_ATTRIBUTES "

Test(attributes, one_command, .timeout = 120) {
    static const char *const opts[] = {"-O2 -g", "-O0 -g", "-O1 -g -fuse-ld=lld"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        char *dir = make_tmpdir();
        char *cmd = fmt("\"$P\" cc %s " ATTR "\"$S/main.c\" \"$S/wrapper_lib.c\" -o prog", opts[i]);
        sh(dir, cmd);
        expect_typed(dir);
        free(cmd);
        remove_tree(dir);
    }
}

Test(attributes, objects_archive_and_partial_link, .timeout = 120) {
    char *dir = make_tmpdir();
    sh(dir, "\"$P\" cc -O2 -g " ATTR "-c \"$S/main.c\" -o main.o && "
            "\"$P\" cc -O2 -g " ATTR "-c \"$S/wrapper_lib.c\" -o lib.o");
    sh(dir, "\"$P\" cc main.o lib.o -o prog");
    expect_typed(dir);
    sh(dir, "ar rcs libwrap.a lib.o && \"$P\" cc main.o -L. -lwrap -o prog");
    expect_typed(dir);
    sh(dir, "\"$P\" cc -r main.o lib.o -o all.o && \"$P\" cc all.o -o prog");
    expect_typed(dir);
    remove_tree(dir);
}

Test(attributes, fast_abi, .timeout = 120) {
    char *dir = make_tmpdir();
    sh(dir, "\"$P\" cc -O2 -g -fsanitize-alloc-token-fast-abi -falloc-token-max=16 " ATTR
            "\"$S/main.c\" \"$S/wrapper_lib.c\" -o prog");
    expect_typed(dir);
    remove_tree(dir);
}

/* Without debug info the wrappers' parameters are unknown: the companions
 * jump to the wrappers, and the program works, untyped. */
Test(attributes, no_debug_info_links_untyped, .timeout = 120) {
    char *dir = make_tmpdir();
    sh(dir, "\"$P\" cc -O2 " ATTR "\"$S/main.c\" \"$S/wrapper_lib.c\" -o prog");
    expect_untyped(dir);
    remove_tree(dir);
}

/* The control: wrappers without the attributes lose their callers' types. */
Test(control, plain_wrappers_untyped, .timeout = 120) {
    char *dir = make_tmpdir();
    sh(dir, "\"$P\" cc -O2 -g " FLAGS "\"$S/main.c\" \"$S/wrapper_lib.c\" -o prog");
    expect_untyped(dir);
    remove_tree(dir);
}
