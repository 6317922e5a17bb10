/* A program's own allocation wrappers carry their callers' types when the
 * program is built with `partmalloc cc`, with no change to its sources:
 *
 *   - wrappers declared malloc / alloc_size (tests/wrappers/ built with
 *     -DPM_TEST_ATTRIBUTES): each one's companion is defined in its own file
 *     by the plugin, or written by the link, whether the program is built in
 *     one command, from objects, from an archive, a shared library, in a
 *     partial link first, or with the fast ABI; a wrapper's file built by
 *     plain clang gets its companion at the link from its debug info, and
 *     without debug info the program still links and runs, untyped;
 *   - wrappers without them (the same sources without -DPM_TEST_ATTRIBUTES)
 *     named with --wrapper=LIST or --wrapper=@FILE; static wrappers of a
 *     one-file program (amalgamation.c), whose companions the plugin defines
 *     in that file; a static wrapper declared malloc (static_attributed.c),
 *     which links at -O0 and keeps its callers' types at -O2;
 *   - variables that hold function pointers named with --wrapper
 *     (fnptr.c, fnptr_lib.c: malloc-, calloc-, realloc- and strdup-style,
 *     as libxml2's xmlMalloc), at -O0, -O1 and -O2, with two of them pointed
 *     at the program's own allocators at run time, which must be called;
 *     in C++ (fnptr_cxx.cc), one in a namespace and calls in templates;
 *   - the controls: the same programs without --wrapper, so their objects
 *     all get the wrappers' own tokens (or none) and the checks fail;
 *   - --wrapper's errors, the warning for a name that is neither a
 *     function nor a variable holding a function pointer, and the link's
 *     word on a named variable with the fast ABI.
 *
 * Each program (tests/wrappers/main.c) checks with pm_ptr_info and
 * pm_get_config that objects with pointers land in the pointer group and
 * the others in the known pointer-free group, and prints
 * "wrappers: R right, W wrong" (main.c: 11 checks, amalgamation.c 9,
 * static_attributed.c 2; 3 rounds each; fnptr.c 10 in 3 rounds and 4
 * through the program's own allocators; fnptr_cxx.cc 4 in 3 rounds).
 */
#include "testutil.h" /* first: it defines _GNU_SOURCE */

#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>

#define SRC "tests/wrappers"
enum { CHECKS = 33, POINTER_CHECKS = 18, AMALGAMATION_CHECKS = 27, AMALGAMATION_POINTER_CHECKS = 15 };
enum { FNPTR_CHECKS = 34, FNPTR_POINTER_CHECKS = 17, FNPTR_OWN_CALLS = 4 };

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

/* Runs dir/prog; returns its right and wrong counts out of `checks`. */
static void run_checks(const char *dir, int checks, int *right, int *wrong) {
    char *prog = fmt("%s/prog", dir);
    const char *const argv[] = {prog, NULL};
    struct run r = run_env(argv, NULL, false);
    cr_assert_eq(exit_code(&r), 0, "exit %d\n%s%s", exit_code(&r), r.out, r.err);
    const char *line = strstr(r.out, "wrappers: ");
    cr_assert_not_null(line, "%s", r.out);
    cr_assert_eq(sscanf(line, "wrappers: %d right, %d wrong", right, wrong), 2, "%s", r.out);
    cr_expect_eq(*right + *wrong, checks, "%s", r.out);
    run_free(&r);
    free(prog);
}

/* Every object in its type's group, and partmalloc cc's temporary files gone. */
static void expect_typed_of(const char *dir, int checks) {
    int right, wrong;
    run_checks(dir, checks, &right, &wrong);
    cr_expect_eq(wrong, 0, "%d of %d objects outside their type's group", wrong, checks);
    char *cmd = fmt("[ -z \"$(ls -A '%s/tmp')\" ]", dir);
    cr_expect_eq(system(cmd), 0, "partmalloc cc left files in %s/tmp", dir);
    free(cmd);
}

static void expect_typed(const char *dir) { expect_typed_of(dir, CHECKS); }

/* At least every object with pointers outside the pointer group. */
static void expect_untyped_of(const char *dir, int checks, int pointer_checks) {
    int right, wrong;
    run_checks(dir, checks, &right, &wrong);
    cr_expect_geq(wrong, pointer_checks, "only %d objects misplaced: the types were carried", wrong);
}

static void expect_untyped(const char *dir) { expect_untyped_of(dir, CHECKS, POINTER_CHECKS); }

/* Runs `partmalloc args...` in a shell; returns how it ended. */
static struct run run_cc(const char *dir, const char *script) {
    char src[PATH_MAX];
    cr_assert_not_null(realpath(SRC, src));
    char *p = fmt("P=%s", tool()), *s = fmt("S=%s", src);
    char *line = fmt("cd '%s' && %s", dir, script);
    const char *const argv[] = {"/bin/sh", "-c", line, NULL};
    const char *const env[] = {p, s, NULL};
    struct run r = run_env(argv, env, false);
    free(p), free(s), free(line);
    return r;
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

/* Without -g: the companions come from the wrappers' own file. */
Test(attributes, without_debug_info, .timeout = 120) {
    char *dir = make_tmpdir();
    sh(dir, "\"$P\" cc -O2 " ATTR "\"$S/main.c\" \"$S/wrapper_lib.c\" -o prog");
    expect_typed(dir);
    remove_tree(dir);
}

/* The wrappers in a shared library built with partmalloc cc, which
 * exports their companions. */
Test(attributes, shared_library, .timeout = 120) {
    char *dir = make_tmpdir();
    sh(dir, "\"$P\" cc -O2 -shared -fPIC " ATTR "\"$S/wrapper_lib.c\" -o libwrap.so && "
            "\"$P\" cc -O2 " ATTR "\"$S/main.c\" -L. -lwrap -Wl,-rpath,\"$PWD\" -o prog");
    expect_typed(dir);
    remove_tree(dir);
}

/* The wrappers' file built by plain clang (tokens, no plugin): the link
 * writes the companions from its debug info, and without debug info they
 * jump to the wrappers; the program links and runs untyped, and each
 * wrapper is named in a note. */
Test(attributes, wrappers_built_by_plain_clang, .timeout = 120) {
    char *dir = make_tmpdir();
    sh(dir, "clang-22 -O2 -g -fsanitize=alloc-token " ATTR "-c \"$S/wrapper_lib.c\" -o lib.o && "
            "\"$P\" cc -O2 " ATTR "\"$S/main.c\" lib.o -o prog 2> log && ! [ -s log ]");
    expect_typed(dir);
    sh(dir, "clang-22 -O2 -fsanitize=alloc-token " ATTR "-c \"$S/wrapper_lib.c\" -o lib.o && "
            "\"$P\" cc -O2 " ATTR "\"$S/main.c\" lib.o -o prog 2> log");
    expect_untyped(dir);
    char *log = fmt("%s/log", dir);
    FILE *f = fopen(log, "r");
    cr_assert_not_null(f);
    char line[256];
    int notes = 0;
    while (fgets(line, sizeof line, f))
        notes += strstr(line, "partmalloc cc: note: no debug info for the wrapper ") == line &&
                 strstr(line, " (build its file with -g): its calls carry no type\n") != NULL;
    fclose(f);
    cr_expect_eq(notes, 6, "%d notes, one per wrapper expected", notes);
    free(log);
    remove_tree(dir);
}

/* The fast ABI names the token in the companion's name, which the plugin
 * cannot know before the call is rewritten: a static wrapper's link fails,
 * and says why. */
Test(attributes, static_wrapper_fast_abi_says_why) {
    char *dir = make_tmpdir();
    struct run r = run_cc(dir, "\"$P\" cc -O2 -fsanitize-alloc-token-fast-abi -falloc-token-max=16 " FLAGS
                               "\"$S/static_attributed.c\" -o prog");
    cr_expect_neq(exit_code(&r), 0);
    cr_expect(strstr(r.err, "partmalloc cc: local_alloc is static: only its own file can define __alloc_token_") &&
                  strstr(r.err, "_local_alloc (static wrappers do not work with the fast ABI)\n"),
              "%s", r.err);
    run_free(&r);
    remove_tree(dir);
}

/* The control: wrappers without the attributes lose their callers' types. */
Test(control, plain_wrappers_untyped, .timeout = 120) {
    char *dir = make_tmpdir();
    sh(dir, "\"$P\" cc -O2 -g " FLAGS "\"$S/main.c\" \"$S/wrapper_lib.c\" -o prog");
    expect_untyped(dir);
    remove_tree(dir);
}

#define NAMES "--wrapper=xmalloc,xcalloc,xrealloc,hmalloc,umalloc,gmalloc "
#define AM_NAMES "--wrapper=am_malloc,am_calloc,am_realloc,am_sized,am_usable "

Test(wrapper_option, names_given, .timeout = 120) {
    static const char *const opts[] = {"-O2 -g", "-O0 -g"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        char *dir = make_tmpdir();
        char *cmd = fmt("\"$P\" cc %s " NAMES FLAGS "\"$S/main.c\" \"$S/wrapper_lib.c\" -o prog", opts[i]);
        sh(dir, cmd);
        expect_typed(dir);
        free(cmd);
        remove_tree(dir);
    }
}

/* Compiled one file at a time (the names on every command, as in
 * CC="partmalloc cc --wrapper=..."), linked without them. */
Test(wrapper_option, names_from_a_file, .timeout = 120) {
    char *dir = make_tmpdir();
    sh(dir, "printf '# the wrappers\\nxmalloc\\n\\n  xcalloc\\nxrealloc\\nhmalloc\\numalloc\\ngmalloc\\n' > names && "
            "\"$P\" cc --wrapper=@names -O2 -g " FLAGS "-c \"$S/main.c\" -o main.o && "
            "\"$P\" cc --wrapper=@names -O2 -g " FLAGS "-c \"$S/wrapper_lib.c\" -o lib.o && "
            "\"$P\" cc main.o lib.o -o prog");
    expect_typed(dir);
    remove_tree(dir);
}

Test(wrapper_option, static_wrappers_of_one_file, .timeout = 120) {
    static const char *const opts[] = {"-O2 -g", "-O0", "-O1 -g"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        char *dir = make_tmpdir();
        char *cmd = fmt("\"$P\" cc %s " AM_NAMES FLAGS "\"$S/amalgamation.c\" -o prog", opts[i]);
        sh(dir, cmd);
        expect_typed_of(dir, AMALGAMATION_CHECKS);
        free(cmd);
        remove_tree(dir);
    }
}

Test(attributes, static_wrapper, .timeout = 120) {
    static const char *const opts[] = {"-O0", "-O2 -g"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        char *dir = make_tmpdir();
        char *cmd = fmt("\"$P\" cc %s " FLAGS "\"$S/static_attributed.c\" -o prog", opts[i]);
        sh(dir, cmd);
        expect_typed_of(dir, 6);
        free(cmd);
        remove_tree(dir);
    }
}

Test(control, static_wrappers_without_names_untyped, .timeout = 120) {
    char *dir = make_tmpdir();
    sh(dir, "\"$P\" cc -O2 -g " FLAGS "\"$S/amalgamation.c\" -o prog");
    expect_untyped_of(dir, AMALGAMATION_CHECKS, AMALGAMATION_POINTER_CHECKS);
    remove_tree(dir);
}

Test(wrapper_option, errors) {
    char *dir = make_tmpdir();
    static const char *const cases[][3] = {
        {"\"$P\" cc --wrapper=xmalloc,9lives -c x.c", "2",
         "partmalloc cc: invalid wrapper name '9lives' (accepted: C identifiers: --wrapper=NAME[,NAME...] or "
         "--wrapper=@FILE, one name a line)\n"},
        {"\"$P\" cc --wrapper= -c x.c", "2",
         "partmalloc cc: invalid wrapper name '' (accepted: C identifiers: --wrapper=NAME[,NAME...] or "
         "--wrapper=@FILE, one name a line)\n"},
        {"printf 'ok\\nnot-a-name\\n' > bad && \"$P\" cc --wrapper=@bad -c x.c", "2",
         "partmalloc cc: invalid wrapper name 'not-a-name' in bad (accepted: C identifiers: --wrapper=NAME[,NAME...] "
         "or --wrapper=@FILE, one name a line)\n"},
        {"\"$P\" cc --wrapper=@missing -c x.c", "1",
         "partmalloc cc: cannot read the wrapper names in missing: No such file or directory\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct run r = run_cc(dir, cases[i][0]);
        cr_expect_eq(exit_code(&r), atoi(cases[i][1]), "%s: exit %d", cases[i][0], exit_code(&r));
        cr_expect_str_eq(r.err, cases[i][2], "%s", cases[i][0]);
        run_free(&r);
    }
    remove_tree(dir);
}

#define FNPTR_NAMES "--wrapper=fp_malloc,fp_calloc,fp_realloc,fp_strdup,local_malloc "
#define FNPTR_SOURCES "\"$S/fnptr.c\" \"$S/fnptr_lib.c\" "

/* How many calls the program's own allocators counted (fnptr.c). */
static int own_allocator_calls(const char *dir) {
    char *prog = fmt("%s/prog", dir);
    const char *const argv[] = {prog, NULL};
    struct run r = run_env(argv, NULL, false);
    cr_assert_eq(exit_code(&r), 0, "exit %d\n%s%s", exit_code(&r), r.out, r.err);
    const char *line = strstr(r.out, "own allocator: ");
    int calls = -1;
    cr_assert(line && sscanf(line, "own allocator: %d calls", &calls) == 1, "%s", r.out);
    run_free(&r);
    free(prog);
    return calls;
}

/* Calls through the named variables carry their callers' types; a variable
 * pointed at the program's own allocator calls it. */
Test(wrapper_option, function_pointer_variables, .timeout = 180) {
    static const char *const opts[] = {"-O0 -g", "-O1 -g", "-O2 -g", "-O2"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        char *dir = make_tmpdir();
        char *cmd = fmt("\"$P\" cc %s " FNPTR_NAMES FLAGS FNPTR_SOURCES "-o prog 2> log && ! [ -s log ]", opts[i]);
        sh(dir, cmd);
        expect_typed_of(dir, FNPTR_CHECKS);
        int calls = own_allocator_calls(dir);
        cr_expect_eq(calls, FNPTR_OWN_CALLS, "%s: %d calls of the program's own allocators", opts[i], calls);
        free(cmd);
        remove_tree(dir);
    }
}

/* Compiled one file at a time and linked without the names. */
Test(wrapper_option, function_pointer_variables_from_objects, .timeout = 120) {
    char *dir = make_tmpdir();
    sh(dir, "\"$P\" cc -O2 -g " FNPTR_NAMES FLAGS "-c \"$S/fnptr.c\" -o main.o && "
            "\"$P\" cc -O2 -g " FNPTR_NAMES FLAGS "-c \"$S/fnptr_lib.c\" -o lib.o && "
            "\"$P\" cc main.o lib.o -o prog");
    expect_typed_of(dir, FNPTR_CHECKS);
    remove_tree(dir);
}

/* The control: without the names, calls through the variables carry no
 * token, and the program's own allocators are called all the same. */
Test(control, function_pointer_variables_without_names_untyped, .timeout = 120) {
    char *dir = make_tmpdir();
    sh(dir, "\"$P\" cc -O2 -g " FLAGS FNPTR_SOURCES "-o prog");
    expect_untyped_of(dir, FNPTR_CHECKS, FNPTR_POINTER_CHECKS);
    cr_expect_eq(own_allocator_calls(dir), FNPTR_OWN_CALLS);
    remove_tree(dir);
}

/* A name that is neither a function nor a variable holding a pointer to a
 * function that returns one: a warning naming it, once per file, and the
 * file compiles as it would without the name. */
Test(wrapper_option, warns_for_what_is_no_allocator) {
    char *dir = make_tmpdir();
    struct run r = run_cc(dir, "printf '%s\\n' 'typedef int counter_t;' 'struct box { int n; };' "
                               "'counter_t counter, counter2;' 'int (*count_fn)(void);' "
                               "'void *(*alloc_fn)(unsigned long, ...);' 'int use(void) { return count_fn(); }' > x.c && "
                               "\"$P\" cc --wrapper=counter_t,box,counter,count_fn,alloc_fn -std=gnu17 -c x.c -o x.o && "
                               "[ -s x.o ]");
    cr_expect_eq(exit_code(&r), 0, "%s", r.err);
    static const char *const expected[][2] = {
        {"counter_t", "it is neither a function nor a variable holding a pointer to a function; it is left as it is"},
        {"box", "it is neither a function nor a variable holding a pointer to a function; it is left as it is"},
        {"counter", "it is neither a function nor a variable holding a pointer to a function; it is left as it is"},
        {"count_fn", "the function it points to does not return a pointer; its calls are left as they are"},
        {"alloc_fn", "only calls through a variable at file scope, of a function with a prototype and without "
                     "'...', carry their callers' types; its calls are left as they are"},
    };
    int warnings = 0;
    for (const char *p = r.err; (p = strstr(p, "warning: partmalloc: --wrapper=")); p++)
        warnings++;
    cr_expect_eq(warnings, 5, "%s", r.err);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        char *line = fmt("warning: partmalloc: --wrapper=%s: %s", expected[i][0], expected[i][1]);
        cr_expect(strstr(r.err, line) != NULL, "missing: %s\nstderr:\n%s", line, r.err);
        free(line);
    }
    run_free(&r);
    remove_tree(dir);
}

/* With the fast ABI the token is in the companion's name, which the plugin
 * cannot know: a program calling through a named variable fails to link,
 * and the link names the variable. */
Test(wrapper_option, function_pointer_variable_fast_abi_says_why, .timeout = 120) {
    char *dir = make_tmpdir();
    struct run r = run_cc(dir, "\"$P\" cc -O2 -fsanitize-alloc-token-fast-abi -falloc-token-max=16 "
                               "--wrapper=fp_malloc " FLAGS FNPTR_SOURCES "-o prog");
    cr_expect_neq(exit_code(&r), 0);
    cr_expect(strstr(r.err, "partmalloc cc: calls through the variable fp_malloc go to a forwarder of each file: "
                            "only that file can define __alloc_token_") &&
                  strstr(r.err, "___partmalloc_call_fp_malloc (function-pointer variables do not work with the "
                                "fast ABI)\n"),
              "%s", r.err);
    run_free(&r);
    remove_tree(dir);
}

/* C++: a variable in a namespace, one with C linkage, calls in templates;
 * the control without the names. */
Test(wrapper_option, function_pointer_variables_cxx, .timeout = 120) {
    static const char *const opts[] = {"-O0", "-O2 -g"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        char *dir = make_tmpdir();
        char *cmd = fmt("\"$P\" c++ %s --wrapper=allocate,c_allocate -std=gnu++17 -Wall -Wextra -Werror -I\"$S\" "
                        "\"$S/fnptr_cxx.cc\" -o prog 2> log && ! [ -s log ]", opts[i]);
        sh(dir, cmd);
        expect_typed_of(dir, 12);
        free(cmd);
        remove_tree(dir);
    }
    char *dir = make_tmpdir();
    sh(dir, "\"$P\" c++ -O2 -g -std=gnu++17 -I\"$S\" \"$S/fnptr_cxx.cc\" -o prog");
    expect_untyped_of(dir, 12, 6);
    remove_tree(dir);
}
