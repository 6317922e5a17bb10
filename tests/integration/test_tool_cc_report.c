/* The partmalloc command's `cc`, `c++` and `report` subcommands, run as
 * $BUILD/partmalloc (with $BUILD/libpartmalloc.so beside it):
 *
 *   report   on the fixtures of tests/tools/fixtures (a clang-22 build log
 *            with repeated remarks, an optimization record, a C++ log), on a
 *            command that prints the log to stderr, and on `make` building a
 *            small project with `partmalloc cc`; the plugin's void, cast and
 *            wrapper remarks on src/wrappers.c and their report; a failed
 *            build and one that compiled nothing; its --help and bad options;
 *   cc/c++   programs built with it print their tokens and the token max
 *            libpartmalloc read from them; the flags added (clang -###, and a
 *            stand-in clang-22 that prints its arguments); the errors; a lone
 *            --help or -h.
 */
#include "testutil.h" /* first: it defines _GNU_SOURCE */

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#define FIXTURES "tests/tools/fixtures"

/* ---- helpers ---- */

static const char *tool(void) {
    static char path[PATH_MAX];
    if (!path[0]) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof rel, "%s/partmalloc", build_dir());
        cr_assert_not_null(realpath(rel, path), "%s is not built", rel);
        cr_assert(access(path, X_OK) == 0, "%s is not executable", path);
    }
    return path;
}

/* The build directory as the command sees it (its own directory). */
static const char *tool_dir(void) {
    static char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", tool());
    *strrchr(dir, '/') = '\0';
    return dir;
}

/* Runs the command: args[0] is the subcommand; env as for run_env. */
static struct run run_tool(const char *const *args, const char *const *env) {
    const char *argv[32] = {tool()};
    size_t n = 1;
    for (; args[n - 1]; n++) {
        cr_assert(n < 31);
        argv[n] = args[n - 1];
    }
    argv[n] = NULL;
    return run_env(argv, env, false);
}

static struct run run_sh(const char *script, const char *const *env) {
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    return run_env(argv, env, false);
}

static char *make_tmpdir(void) {
    char *dir = strdup("/tmp/pm-tool-test.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static void remove_tree(char *dir) {
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    free(dir);
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot read %s", path);
    char *text = NULL;
    size_t cap = 0;
    if (getdelim(&text, &cap, '\0', f) < 0)
        text = strdup("");
    fclose(f);
    return text;
}

static void copy_fixture_source(const char *dir, const char *name) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, FIXTURES "/src/%s", name);
    char *text = read_file(path);
    write_file(dir, name, text);
    free(text);
}

/* Whether a directory has no entries (the temporary file was removed). */
static bool dir_is_empty(const char *dir) {
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "[ -z \"$(ls -A '%s')\" ]", dir);
    return system(cmd) == 0;
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

#define expect_status(r, code)                                                                     \
    cr_expect_eq(exit_code(r), (code), "exit %d, stdout:\n%s\nstderr:\n%s", exit_code(r), (r)->out, \
                 (r)->err)

/* ---- report ---- */

/* What the fixtures' seven distinct sites look like (build.log has fifteen
 * remarks: util.h's four come from two files and parse.c is built twice). */
static const char fixture_report[] =
    "7 allocation sites without a type token (2 files, 3 functions)\n"
    "\n"
    "file / function  sites  allocator lines\n"
    "util.h               4\n"
    "  buf_new            4  malloc 12:16, 12:28; realloc 9; calloc 11\n"
    "parse.c              3\n"
    "  parse              2  malloc 20; calloc 21\n"
    "  grow               1  realloc 11\n";

/* What partmalloc's plugin adds for the same sources (not in build.log,
 * which plain clang wrote): parse's head->text is typed char by its
 * assignment, grow and buf_new are wrappers. */
static const char fixture_plugin_report[] =
    "\n"
    "1 allocation site typed char-like by a cast or assignment (1 file, 1 function)\n"
    "\n"
    "file / function  sites  allocator lines\n"
    "parse.c              1\n"
    "  parse              1  malloc (char) 19\n"
    "\n"
    "wrapper functions found (2): named, their calls carry their callers' types\n"
    "  grow     parse.c:10\n"
    "  buf_new  util.h:7\n"
    "build with: partmalloc cc --wrapper=grow,buf_new\n";

/* The lines of build.log that are not part of a remark. */
static const char fixture_other_lines[] =
    "main.c:10:9: warning: unused variable 'unused' [-Wunused-variable]\n"
    "   10 |     int unused;\n"
    "      |         ^~~~~~\n"
    "1 warning generated.\n";

Test(report, build_log_counts_each_site_once) {
    struct run r = run_tool((const char *[]){"report", FIXTURES "/build.log", NULL}, NULL);
    expect_status(&r, 0);
    cr_expect_str_eq(r.out, fixture_report);
    cr_expect_str_empty(r.err);
    run_free(&r);
}

Test(report, optimization_record) {
    struct run r = run_tool((const char *[]){"report", FIXTURES "/parse.opt.yaml", NULL}, NULL);
    expect_status(&r, 0);
    cr_expect_str_eq(r.out, fixture_report);
    cr_expect_str_empty(r.err);
    run_free(&r);
}

Test(report, log_and_record_together_and_stdin) {
    char *script = fmt("'%s' report - " FIXTURES "/parse.opt.yaml < " FIXTURES "/build.log", tool());
    struct run r = run_sh(script, NULL);
    expect_status(&r, 0);
    cr_expect_str_eq(r.out, fixture_report);
    run_free(&r);
    free(script);
}

Test(report, demangles_cxx_names) {
    struct run r = run_tool((const char *[]){"report", FIXTURES "/cxx.log", NULL}, NULL);
    expect_status(&r, 0);
    cr_expect_str_eq(r.out,
                     "2 allocation sites without a type token (1 file, 2 functions)\n"
                     "\n"
                     "file / function                            sites  allocator lines\n"
                     "cxx.cc                                         2\n"
                     "  store::raw(unsigned long)                    1  operator new(unsigned long) 7\n"
                     "  void* store::array<char>(unsigned long)      1  malloc 8\n");
    run_free(&r);
}

/* The JSON keys of the sites partmalloc's plugin reports, when it reported none. */
#define NO_OTHER_SITES_JSON                                                                        \
    "  \"void_sites\": 0,\n  \"void_files\": [],\n  \"cast_sites\": 0,\n  \"cast_files\": [],\n" \
    "  \"wrappers\": [],\n  \"wrapper_flag\": null\n"

Test(report, json) {
    struct run r = run_tool((const char *[]){"report", "--json", FIXTURES "/build.log", FIXTURES "/cxx.log", NULL}, NULL);
    expect_status(&r, 0);
    cr_expect_str_eq(r.out,
                     "{\n"
                     "  \"sites\": 9,\n"
                     "  \"files\": [\n"
                     "    {\n"
                     "      \"file\": \"util.h\",\n"
                     "      \"sites\": 4,\n"
                     "      \"functions\": [\n"
                     "        {\n"
                     "          \"function\": \"buf_new\",\n"
                     "          \"symbol\": \"buf_new\",\n"
                     "          \"sites\": 4,\n"
                     "          \"calls\": [\n"
                     "            {\"allocator\": \"realloc\", \"symbol\": \"realloc\", \"line\": 9, \"column\": 16},\n"
                     "            {\"allocator\": \"calloc\", \"symbol\": \"calloc\", \"line\": 11, \"column\": 16},\n"
                     "            {\"allocator\": \"malloc\", \"symbol\": \"malloc\", \"line\": 12, \"column\": 16},\n"
                     "            {\"allocator\": \"malloc\", \"symbol\": \"malloc\", \"line\": 12, \"column\": 28}\n"
                     "          ]\n"
                     "        }\n"
                     "      ]\n"
                     "    },\n"
                     "    {\n"
                     "      \"file\": \"parse.c\",\n"
                     "      \"sites\": 3,\n"
                     "      \"functions\": [\n"
                     "        {\n"
                     "          \"function\": \"parse\",\n"
                     "          \"symbol\": \"parse\",\n"
                     "          \"sites\": 2,\n"
                     "          \"calls\": [\n"
                     "            {\"allocator\": \"malloc\", \"symbol\": \"malloc\", \"line\": 20, \"column\": 21},\n"
                     "            {\"allocator\": \"calloc\", \"symbol\": \"calloc\", \"line\": 21, \"column\": 20}\n"
                     "          ]\n"
                     "        },\n"
                     "        {\n"
                     "          \"function\": \"grow\",\n"
                     "          \"symbol\": \"grow\",\n"
                     "          \"sites\": 1,\n"
                     "          \"calls\": [\n"
                     "            {\"allocator\": \"realloc\", \"symbol\": \"realloc\", \"line\": 11, \"column\": 12}\n"
                     "          ]\n"
                     "        }\n"
                     "      ]\n"
                     "    },\n"
                     "    {\n"
                     "      \"file\": \"cxx.cc\",\n"
                     "      \"sites\": 2,\n"
                     "      \"functions\": [\n"
                     "        {\n"
                     "          \"function\": \"store::raw(unsigned long)\",\n"
                     "          \"symbol\": \"_ZN5store3rawEm\",\n"
                     "          \"sites\": 1,\n"
                     "          \"calls\": [\n"
                     "            {\"allocator\": \"operator new(unsigned long)\", \"symbol\": \"_Znwm\", \"line\": 7, \"column\": 35}\n"
                     "          ]\n"
                     "        },\n"
                     "        {\n"
                     "          \"function\": \"void* store::array<char>(unsigned long)\",\n"
                     "          \"symbol\": \"_ZN5store5arrayIcEEPvm\",\n"
                     "          \"sites\": 1,\n"
                     "          \"calls\": [\n"
                     "            {\"allocator\": \"malloc\", \"symbol\": \"malloc\", \"line\": 8, \"column\": 56}\n"
                     "          ]\n"
                     "        }\n"
                     "      ]\n"
                     "    }\n"
                     "  ],\n"
                     NO_OTHER_SITES_JSON
                     "}\n");
    run_free(&r);
}

Test(report, json_output_file_and_no_sites) {
    char *dir = make_tmpdir();
    char *out = fmt("%s/r.json", dir);
    struct run r = run_tool((const char *[]){"report", "--json", "--output", out, "/dev/null", NULL}, NULL);
    expect_status(&r, 0);
    cr_expect_str_empty(r.out);
    char *text = read_file(out);
    cr_expect_str_eq(text, "{\n  \"sites\": 0,\n  \"files\": [],\n" NO_OTHER_SITES_JSON "}\n");
    free(text);
    run_free(&r);
    r = run_tool((const char *[]){"report", "/dev/null", NULL}, NULL);
    expect_status(&r, 0);
    cr_expect_str_eq(r.out, "0 allocation sites without a type token\n");
    run_free(&r);
    free(out);
    remove_tree(dir);
}

Test(report, command_stderr_passes_through_without_remarks) {
    struct run r = run_tool((const char *[]){"report", "--", "sh", "-c",
                                             "echo to stdout; cat " FIXTURES "/build.log >&2; "
                                             "echo \"remarks=$PARTMALLOC_REMARKS\" >&2; exit 3",
                                             NULL},
                            NULL);
    expect_status(&r, 3);
    char *out = fmt("to stdout\nbuild failed (exit 3): the sites below are only from what was compiled\n%s",
                    fixture_report), *err = fmt("%sremarks=1\n", fixture_other_lines);
    cr_expect_str_eq(r.out, out);
    cr_expect_str_eq(r.err, err);
    free(out);
    free(err);
    run_free(&r);
}

Test(report, command_killed_or_missing) {
    struct run r = run_tool((const char *[]){"report", "--", "sh", "-c", "kill -TERM $$", NULL}, NULL);
    expect_status(&r, 128 + SIGTERM);
    cr_expect_str_eq(r.out, "build failed (exit 143): no sites\n");
    run_free(&r);
    r = run_tool((const char *[]){"report", "--", "/nonexistent/build", NULL}, NULL);
    expect_status(&r, 127);
    cr_expect_str_eq(r.err, "partmalloc report: cannot run '/nonexistent/build': No such file or directory\n");
    run_free(&r);
}

/* A two-file project built by make with CC="partmalloc cc". */
Test(report, make_with_partmalloc_cc, .timeout = 120) {
    char *dir = make_tmpdir();
    copy_fixture_source(dir, "util.h");
    copy_fixture_source(dir, "parse.c");
    copy_fixture_source(dir, "main.c");
    write_file(dir, "Makefile", "CFLAGS = -O0 -Wall\nprog: parse.o main.o\n\t$(CC) -o $@ parse.o main.o\n");
    char *cc = fmt("CC=%s cc", tool());
    const char *const env[] = {"MAKEFLAGS=", "MAKELEVEL=", NULL};
    const char *const args[] = {"report", "--", "make", "-s", "--no-print-directory", "-C", dir, cc, NULL};
    struct run r = run_tool(args, env);
    expect_status(&r, 0);
    char *expected = fmt("2 files compiled in this build: the report covers only them (an incremental build "
                         "leaves out what it did not rebuild)\n%s%s", fixture_report, fixture_plugin_report);
    cr_expect_str_eq(r.out, expected);
    free(expected);
    cr_expect_str_eq(r.err, fixture_other_lines);
    run_free(&r);

    char *prog = fmt("%s/prog", dir);
    const char *const prog_argv[] = {prog, NULL};
    r = run_env(prog_argv, NULL, false);
    expect_status(&r, 0);
    run_free(&r);

    r = run_tool(args, env); /* nothing to rebuild: nothing to report */
    expect_status(&r, 0);
    cr_expect_str_eq(r.out, "no file was compiled: `make clean` first, or the build does not use partmalloc cc\n");
    run_free(&r);
    free(prog);
    free(cc);
    remove_tree(dir);
}

/* ---- partmalloc's plugin: void, cast and wrapper sites (fixture wrappers.c) ---- */

/* What the plugin says of wrappers.c: a void wrapper (xmalloc), a static one
 * (zalloc), a size-header wrapper typed long by its cast (lmalloc), a
 * (void *) cast under a macro (scratch); items() is the control, typed by a
 * sizeof and by its variable's struct type. */
static const char *const wrapper_remarks[] = {
    "wrappers.c:12:7: remark: partmalloc: 'xmalloc' looks like an allocation wrapper: build with "
    "--wrapper=xmalloc [partmalloc-wrapper]\n",
    "wrappers.c:19:14: remark: partmalloc: 'zalloc' looks like an allocation wrapper: build with "
    "--wrapper=zalloc [partmalloc-wrapper]\n",
    "wrappers.c:27:23: remark: partmalloc: call to 'malloc' in 'lmalloc' gets the type 'long' from a cast: "
    "every object allocated here has that type [partmalloc-cast]\n",
    "wrappers.c:26:7: remark: partmalloc: 'lmalloc' looks like an allocation wrapper: build with "
    "--wrapper=lmalloc [partmalloc-wrapper]\n",
    "wrappers.c:32:7: remark: partmalloc: 'scratch' looks like an allocation wrapper: build with "
    "--wrapper=scratch [partmalloc-wrapper]\n",
    "wrappers.c:32:34: remark: partmalloc: call to 'malloc' in 'scratch' gets the type 'void' from a cast: "
    "its objects have no type [partmalloc-void]\n",
    NULL,
};

static const char wrapper_report[] =
    "2 allocation sites without a type token (1 file, 2 functions)\n"
    "\n"
    "file / function  sites  allocator lines\n"
    "wrappers.c           2\n"
    "  xmalloc            1  malloc 13\n"
    "  zalloc             1  malloc 20\n"
    "\n"
    "1 allocation site typed void by a cast (1 file, 1 function)\n"
    "\n"
    "file / function  sites  allocator lines\n"
    "wrappers.c           1\n"
    "  scratch            1  malloc 32\n"
    "\n"
    "1 allocation site typed char-like by a cast or assignment (1 file, 1 function)\n"
    "\n"
    "file / function  sites  allocator lines\n"
    "wrappers.c           1\n"
    "  lmalloc            1  malloc (long) 27\n"
    "\n"
    "wrapper functions found (4): named, their calls carry their callers' types\n"
    "  lmalloc  wrappers.c:26\n"
    "  scratch  wrappers.c:32\n"
    "  xmalloc  wrappers.c:12\n"
    "  zalloc   wrappers.c:19\n"
    "build with: partmalloc cc --wrapper=lmalloc,scratch,xmalloc,zalloc\n";

/* Compiles wrappers.c in dir with `partmalloc cc -c EXTRA` and
 * PARTMALLOC_REMARKS=1; its stderr is also saved as dir/build.log. */
static struct run compile_wrappers(const char *dir, const char *extra) {
    copy_fixture_source(dir, "wrappers.c");
    char *script = fmt("cd '%s' && '%s' cc -O0 -Wall %s -c wrappers.c -o wrappers.o 2>build.log; s=$?; "
                       "cat build.log >&2; exit $s", dir, tool(), extra);
    const char *const env[] = {"PARTMALLOC_REMARKS=1", NULL};
    struct run r = run_sh(script, env);
    free(script);
    return r;
}

Test(report, plugin_remarks_void_cast_and_wrappers, .timeout = 60) {
    char *dir = make_tmpdir();
    struct run r = compile_wrappers(dir, "");
    expect_status(&r, 0);
    for (const char *const *remark = wrapper_remarks; *remark; remark++)
        cr_expect_not_null(strstr(r.err, *remark), "missing:\n%s\nin:\n%s", *remark, r.err);
    size_t mine = 0;
    for (const char *p = r.err; (p = strstr(p, "remark: partmalloc: ")); p++)
        mine++;
    cr_expect_eq(mine, 6, "%zu partmalloc remarks in:\n%s", mine, r.err);
    /* the control: a sizeof and a struct variable give real types */
    cr_expect_null(strstr(r.err, "'items'"), "items() remarked:\n%s", r.err);
    run_free(&r);

    char *log = fmt("%s/build.log", dir);
    r = run_tool((const char *[]){"report", log, NULL}, NULL);
    expect_status(&r, 0);
    cr_expect_str_eq(r.out, wrapper_report);
    run_free(&r);

    r = run_tool((const char *[]){"report", "--json", log, NULL}, NULL);
    expect_status(&r, 0);
    static const char *const keys[] = {
        "\n  \"sites\": 2,\n", "\n  \"void_sites\": 1,\n", "\n  \"cast_sites\": 1,\n",
        "{\"allocator\": \"malloc\", \"symbol\": \"malloc\", \"line\": 27, \"column\": 23, \"type\": \"long\"}",
        "{\"allocator\": \"malloc\", \"symbol\": \"malloc\", \"line\": 32, \"column\": 34, \"type\": \"void\"}",
        "{\"function\": \"zalloc\", \"file\": \"wrappers.c\", \"line\": 19}",
        "\n  \"wrapper_flag\": \"--wrapper=lmalloc,scratch,xmalloc,zalloc\"\n}\n", NULL};
    for (const char *const *k = keys; *k; k++)
        cr_expect_not_null(strstr(r.out, *k), "missing %s in:\n%s", *k, r.out);
    run_free(&r);
    free(log);
    remove_tree(dir);
}

/* A wrapper named with --wrapper (or declared malloc) is not suggested again. */
Test(report, named_wrapper_not_suggested, .timeout = 60) {
    char *dir = make_tmpdir();
    struct run r = compile_wrappers(dir, "--wrapper=xmalloc,zalloc");
    expect_status(&r, 0);
    cr_expect_null(strstr(r.err, "'xmalloc' looks like"), "%s", r.err);
    cr_expect_null(strstr(r.err, "'zalloc' looks like"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, wrapper_remarks[3]), "%s", r.err); /* lmalloc still is */
    run_free(&r);
    remove_tree(dir);
}

/* A build that fails after compiling wrappers.c: what was compiled is reported. */
Test(report, failed_build_says_so, .timeout = 120) {
    char *dir = make_tmpdir();
    copy_fixture_source(dir, "wrappers.c");
    write_file(dir, "broken.c", "int broken(void) { return missing; }\n");
    write_file(dir, "Makefile", "CFLAGS = -O0 -Wall\nall: wrappers.o broken.o\n");
    char *cc = fmt("CC=%s cc", tool());
    const char *const env[] = {"MAKEFLAGS=", "MAKELEVEL=", NULL};
    const char *const args[] = {"report", "--", "make", "-s", "--no-print-directory", "-C", dir, cc, NULL};
    struct run r = run_tool(args, env);
    expect_status(&r, 2);
    char *expected = fmt("build failed (exit 2): the sites below are only from what was compiled\n%s",
                         wrapper_report);
    cr_expect_str_eq(r.out, expected);
    free(expected);
    cr_expect_not_null(strstr(r.err, "broken.c:1:27: error: use of undeclared identifier 'missing'"), "%s", r.err);
    cr_expect_null(strstr(r.err, "remark:"), "remarks passed through:\n%s", r.err);
    run_free(&r);

    write_file(dir, "Makefile", "all: broken.o\n"); /* fails before any site */
    r = run_tool(args, env);
    expect_status(&r, 2);
    cr_expect_str_eq(r.out, "build failed (exit 2): no sites\n");
    run_free(&r);
    free(cc);
    remove_tree(dir);
}

Test(report, errors) {
    struct run r = run_tool((const char *[]){"report", "--bogus", FIXTURES "/build.log", NULL}, NULL);
    expect_status(&r, 2);
    cr_expect_str_empty(r.out);
    cr_expect_str_eq(r.err, "partmalloc report: unknown option '--bogus' "
                            "(accepted: --json, --output FILE, --help, -- COMMAND)\n");
    run_free(&r);
    r = run_tool((const char *[]){"report", FIXTURES "/missing.log", NULL}, NULL);
    expect_status(&r, 1);
    cr_expect_str_empty(r.out);
    cr_expect_str_eq(r.err, "partmalloc report: cannot read '" FIXTURES "/missing.log': No such file or directory\n");
    run_free(&r);
    r = run_tool((const char *[]){"report", "--", NULL}, NULL);
    expect_status(&r, 2);
    cr_expect_str_eq(r.err, "partmalloc report: missing COMMAND after '--'\n");
    run_free(&r);
}

/* `report` with stdin on a terminal and no input named: runs `report`
 * (with `extra`, NULL for none) on a pseudo-terminal and returns its exit
 * status, with what it wrote in out[]. -1 if it was still running after
 * `seconds` (it was reading the terminal), after killing it. */
static int report_on_terminal(const char *extra, int seconds, char *out, size_t size) {
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    cr_assert_neq(pid, -1, "forkpty: %s", strerror(errno));
    if (pid == 0) {
        execl(tool(), tool(), "report", extra, (char *)NULL);
        _exit(127);
    }
    size_t n = 0;
    int status = 0, waited = 0;
    /* A deadline on the clock, not a count of polls: once the child has
     * closed the terminal, poll returns at once (hang-up) while the child
     * may not yet be reapable, and counted polls would run out in a blink. */
    struct timespec now, end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += seconds;
    do {
        struct pollfd p = {master, POLLIN, 0};
        ssize_t k = poll(&p, 1, 10) > 0 ? read(master, out + n, size - 1 - n) : 0;
        if (k > 0)
            n += (size_t)k;
        else if (k < 0)
            usleep(10000); /* hung up: wait for the exit without spinning */
        waited = waitpid(pid, &status, WNOHANG) == pid;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (!waited && (now.tv_sec < end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec < end.tv_nsec)));
    /* The child may have written and exited between a poll and waitpid:
     * what it wrote is still in the terminal, so read until it is empty
     * (read gives EIO once the other end is closed and drained). */
    while (waited && n < size - 1) {
        struct pollfd p = {master, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            break;
        ssize_t k = read(master, out + n, size - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    out[n] = '\0';
    close(master);
    if (!waited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* No input and a terminal on stdin: a usage error at once, not a silent
 * wait; "-" still reads the terminal (the control: it keeps waiting). */
Test(report, no_input_on_a_terminal_is_a_usage_error) {
    char out[1024];
    /* Generous: a loaded machine may take seconds to start the tool. */
    int rc = report_on_terminal(NULL, 20, out, sizeof out);
    cr_expect_eq(rc, 2, "report with no input on a terminal: status %d, wrote:\n%s", rc, out);
    cr_expect_not_null(strstr(out, "partmalloc report: no input: give build logs or *.opt.yaml records, "
                                   "'-' to read standard input, or -- COMMAND (see --help)"),
                       "%s", out);
    rc = report_on_terminal("-", 2, out, sizeof out);
    cr_expect_eq(rc, -1, "report - on a terminal should wait for input; status %d:\n%s", rc, out);
}

/* --help and -h: the usage on stdout, exit 0, whatever follows. */
Test(report, help) {
    struct run r = run_tool((const char *[]){"report", "--help", "--bogus", NULL}, NULL);
    expect_status(&r, 0);
    cr_expect(strncmp(r.out, "usage: partmalloc report [--json]", 33) == 0, "%s", r.out);
    cr_expect_str_empty(r.err);
    struct run h = run_tool((const char *[]){"report", FIXTURES "/build.log", "-h", NULL}, NULL);
    expect_status(&h, 0);
    cr_expect_str_eq(h.out, r.out);
    cr_expect_str_empty(h.err);
    run_free(&h);
    run_free(&r);
}

/* A short option, a value given to --json, --output without its FILE. */
Test(report, bad_options_name_themselves) {
    static const char *const cases[][3] = {
        {"-x", "partmalloc report: unknown option '-x' (accepted: --json, --output FILE, --help, -- COMMAND)\n"},
        {"--json=yes", "partmalloc report: unknown option '--json=yes' "
                       "(accepted: --json, --output FILE, --help, -- COMMAND)\n"},
        {"--output", "partmalloc report: --output needs a FILE\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const args[] = {"report", FIXTURES "/build.log", cases[i][0], NULL};
        struct run r = run_tool(args, NULL);
        expect_status(&r, 2);
        cr_expect_str_empty(r.out, "%s", cases[i][0]);
        cr_expect_str_eq(r.err, cases[i][1], "%s", cases[i][0]);
        run_free(&r);
    }
}

/* ---- cc ---- */

/* Prints the token max libpartmalloc read from the program, and the tokens
 * clang gives a type with pointers and one without. */
static const char token_program[] =
    "#include <stdio.h>\n"
    "#include <partmalloc.h>\n"
    "struct x { struct x *next; int v; };\n"
    "struct y { int a[4]; };\n"
    "int main(void) {\n"
    "    struct pm_config c;\n"
    "    pm_get_config(&c);\n"
    "    printf(\"%llu %zu %zu\\n\", (unsigned long long)c.token_max,\n"
    "           (size_t)__builtin_infer_alloc_token(sizeof(struct x)),\n"
    "           (size_t)__builtin_infer_alloc_token(sizeof(struct y)));\n"
    "    return 0;\n"
    "}\n";

/* Builds `source` (written as dir/name) with `partmalloc sub flags...` and
 * runs it; returns the token max and the two tokens it printed. */
static void build_and_run(const char *sub, const char *name, const char *source, const char *const *env,
                          const char *flag, unsigned long long out[3]) {
    char *dir = make_tmpdir();
    write_file(dir, name, source);
    char *src = fmt("%s/%s", dir, name), *prog = fmt("%s/prog", dir);
    const char *const args[] = {sub, "-O1", "-Wall", "-Werror", src, "-o", prog, flag, NULL};
    struct run r = run_tool(args, env);
    expect_status(&r, 0);
    cr_assert_eq(exit_code(&r), 0);
    run_free(&r);
    const char *const prog_argv[] = {prog, NULL};
    r = run_env(prog_argv, NULL, false); /* no PARTMALLOC_TOKEN_MAX: the max comes from the program */
    expect_status(&r, 0);
    cr_assert_eq(sscanf(r.out, "%llu %llu %llu", &out[0], &out[1], &out[2]), 3, "printed: %s", r.out);
    run_free(&r);
    free(src);
    free(prog);
    remove_tree(dir);
}

/* `n`: the token max the program was built with, 0 for none. */
static void check_tokens(const unsigned long long got[3], unsigned long long n) {
    cr_expect_eq(got[0], n, "token_max %llu, expected %llu", got[0], n);
    unsigned long long max = n ? n : UINT64_MAX;
    cr_expect(got[1] >= max / 2 && got[1] < max, "pointer type's token %llu not in [%llu, %llu)", got[1], max / 2,
              max);
    cr_expect(got[2] < max / 2, "plain type's token %llu not below %llu", got[2], max / 2);
}

/* By default the tokens are unbounded (the library reduces them), so that
 * the fallback and void's token stand apart from every real type's. */
Test(cc, default_tokens_unbounded, .timeout = 60) {
    unsigned long long got[3];
    build_and_run("cc", "t.c", token_program, NULL, NULL, got);
    check_tokens(got, 0);
    cr_expect_gt(got[2], 1ull << 32, "a plain type's token %llu looks bounded", got[2]);
}

/* PARTMALLOC_PARTITIONS at build time is checked, not built in: the
 * program's tokens do not depend on it. */
Test(cc, partitions_not_built_in, .timeout = 60) {
    unsigned long long got[3], again[3];
    build_and_run("cc", "t.c", token_program, (const char *[]){"PARTMALLOC_PARTITIONS=8", NULL}, NULL, got);
    build_and_run("cc", "t.c", token_program, (const char *[]){"PARTMALLOC_PARTITIONS=64", NULL}, NULL, again);
    check_tokens(got, 0);
    cr_expect(got[1] == again[1] && got[2] == again[2], "tokens differ with the build's PARTMALLOC_PARTITIONS");
}

Test(cc, users_token_max_wins, .timeout = 60) {
    unsigned long long got[3];
    build_and_run("cc", "t.c", token_program, (const char *[]){"PARTMALLOC_PARTITIONS=8", NULL},
                  "-falloc-token-max=32", got);
    check_tokens(got, 32);
}

Test(cc, cxx_program, .timeout = 60) {
    static const char source[] =
        "#include <cstdio>\n"
        "#include <partmalloc.h>\n"
        "struct X { X *next; int v; };\n"
        "struct Y { int a[4]; };\n"
        "int main() {\n"
        "    pm_config c;\n"
        "    pm_get_config(&c);\n"
        "    X *x = new X;\n"
        "    struct pm_ptr_info info;\n"
        "    int ok = pm_ptr_info(x, &info);\n"
        "    delete x;\n"
        "    std::printf(\"%llu %zu %zu\\n\", (unsigned long long)c.token_max,\n"
        "                (size_t)__builtin_infer_alloc_token(sizeof(X)),\n"
        "                (size_t)__builtin_infer_alloc_token(sizeof(Y)));\n"
        "    return ok ? 0 : 1;\n"
        "}\n";
    unsigned long long got[3];
    build_and_run("c++", "t.cc", source, (const char *[]){"PARTMALLOC_PARTITIONS=32", NULL}, "-std=c++17", got);
    check_tokens(got, 0);
}

/* clang -### prints the commands it would run. */
static struct run dry_run(const char *const *args) {
    struct run r = run_tool(args, NULL);
    expect_status(&r, 0);
    return r;
}

Test(cc, compile_only_adds_no_link_flags) {
    struct run r = dry_run((const char *[]){"cc", "-###", "-c", FIXTURES "/src/parse.c", "-o", "/tmp/x.o", NULL});
    cr_expect(strstr(r.err, "\"-fsanitize=alloc-token\""), "%s", r.err);
    cr_expect_null(strstr(r.err, "-falloc-token-max"), "%s", r.err);
    cr_expect_null(strstr(r.err, "-lpartmalloc"), "%s", r.err);
    cr_expect_null(strstr(r.err, "-rpath"), "%s", r.err);
    cr_expect_null(strstr(r.err, "token_max.c"), "%s", r.err);
    run_free(&r);

    r = dry_run((const char *[]){"cc", "-###", FIXTURES "/src/parse.c", "-o", "/tmp/x", NULL});
    cr_expect(strstr(r.err, "\"-lpartmalloc\""), "%s", r.err);
    cr_expect(strstr(r.err, "\"-rpath\""), "%s", r.err);
    cr_expect(strstr(r.err, "/token_max.c\""), "%s", r.err);
    run_free(&r);

    r = dry_run((const char *[]){"cc", "-###", "-fno-sanitize=alloc-token", FIXTURES "/src/parse.c", NULL});
    cr_expect_null(strstr(r.err, "\"-fsanitize=alloc-token\""), "%s", r.err);
    cr_expect_null(strstr(r.err, "-falloc-token-max"), "%s", r.err);
    cr_expect_null(strstr(r.err, "token_max.c"), "%s", r.err);
    cr_expect(strstr(r.err, "\"-lpartmalloc\""), "%s", r.err);
    run_free(&r);
}

/* A stand-in clang-22 (first in PATH) that prints its arguments, one a
 * line, and the definition file's text; exits with $FAKE_STATUS. */
static char *fake_clang_dir(void) {
    char *dir = make_tmpdir();
    write_file(dir, "clang-22",
               "#!/bin/sh\n"
               "for a in \"$@\"; do\n"
               "    echo \"$a\"\n"
               "    case \"$a\" in */token_max.c) sed 's/^/  /' \"$a\" ;; esac\n"
               "done\n"
               "exit ${FAKE_STATUS:-0}\n");
    char *path = fmt("%s/clang-22", dir);
    cr_assert_eq(chmod(path, 0755), 0);
    free(path);
    char *tmp = fmt("%s/tmp", dir);
    cr_assert_eq(mkdir(tmp, 0700), 0);
    free(tmp);
    return dir;
}

/* Runs `partmalloc cc args...` with the stand-in; returns its output with
 * the temporary directory's name replaced by TMP wherever it appears. */
static struct run run_fake(const char *dir, const char *const *args, const char *extra_env) {
    char *path = fmt("PATH=%s:/usr/bin:/bin", dir), *tmp = fmt("TMPDIR=%s/tmp", dir);
    const char *const env[] = {path, tmp, extra_env, NULL};
    struct run r = run_tool(args, env);
    char *p;
    while ((p = strstr(r.out, "/tmp/partmalloc-cc."))) {
        char *prefix = strstr(r.out, dir);
        cr_assert(prefix && prefix < p);
        size_t cut = (size_t)(p + strlen("/tmp/partmalloc-cc.XXXXXX") - prefix);
        memcpy(prefix, "TMP", 3);
        memmove(prefix + 3, prefix + cut, strlen(prefix + cut) + 1);
    }
    free(path);
    free(tmp);
    return r;
}

Test(cc, arguments_added) {
    char *dir = fake_clang_dir();
    struct run r = run_fake(dir, (const char *[]){"cc", "-x", "c++", "a.cc", "-o", "out", "--", "b.c", NULL},
                            "FAKE_STATUS=3");
    expect_status(&r, 3);
    char *expected = fmt("-fsanitize=alloc-token\n-fsanitize-alloc-token-extended\n-fpass-plugin=%s/plugin/partmalloc-clang.so\n"
                         "-BTMP/\n-x\nc\nTMP/token_max.c\n"
                         "  /* Written by partmalloc cc: the -falloc-token-max this program was built with. */\n"
                         "  #pragma clang diagnostic ignored \"-Weverything\"\n"
                         "  __attribute__((visibility(\"default\"), used)) extern const unsigned long long partmalloc_token_max;\n"
                         "  __attribute__((visibility(\"default\"), used)) const unsigned long long partmalloc_token_max = 0ULL;\n"
                         "-x\nnone\n-x\nc++\na.cc\n-o\nout\n"
                         "-I%s/../include\n-L%s\n-Wl,-rpath,%s\n-lpartmalloc\n--\nb.c\n",
                         tool_dir(), tool_dir(), tool_dir(), tool_dir());
    cr_expect_str_eq(r.out, expected);
    char *tmp = fmt("%s/tmp", dir);
    cr_expect(dir_is_empty(tmp), "the temporary file was left in %s", tmp);
    free(tmp);
    free(expected);
    run_free(&r);
    remove_tree(dir);
}

Test(cc, arguments_not_repeated) {
    char *dir = fake_clang_dir();
    char *inc = fmt("-I%s/../include", tool_dir()), *lib = fmt("-L%s", tool_dir());
    struct run r = run_fake(dir,
                            (const char *[]){"cc", "-fsanitize=address,alloc-token", "-falloc-token-max=64",
                                             "-Rpass=alloc-token", inc, lib, "-l", "partmalloc", "a.o", NULL},
                            "PARTMALLOC_REMARKS=1");
    expect_status(&r, 0);
    char *expected = fmt("-fsanitize-alloc-token-extended\n-fpass-plugin=%s/plugin/partmalloc-clang.so\n"
                         "-fplugin=%s/plugin/partmalloc-clang.so\n-fplugin-arg-partmalloc-remarks\n"
                         "-fplugin-arg-partmalloc-skip=TMP/token_max.c\n-BTMP/\n-x\nc\nTMP/token_max.c\n"
                         "  /* Written by partmalloc cc: the -falloc-token-max this program was built with. */\n"
                         "  #pragma clang diagnostic ignored \"-Weverything\"\n"
                         "  __attribute__((visibility(\"default\"), used)) extern const unsigned long long partmalloc_token_max;\n"
                         "  __attribute__((visibility(\"default\"), used)) const unsigned long long partmalloc_token_max = 64ULL;\n"
                         "-x\nnone\n-fsanitize=address,alloc-token\n-falloc-token-max=64\n-Rpass=alloc-token\n"
                         "%s\n%s\n-l\npartmalloc\na.o\n-Wl,-rpath,%s\n",
                         tool_dir(), tool_dir(), inc, lib, tool_dir());
    cr_expect_str_eq(r.out, expected);
    free(expected);
    run_free(&r);
    free(inc);
    free(lib);
    remove_tree(dir);
}

Test(cc, compile_only_and_no_tokens) {
    char *dir = fake_clang_dir();
    struct run r = run_fake(dir, (const char *[]){"cc", "-c", "a.c", "-o", "a.o", NULL}, "PARTMALLOC_REMARKS=1");
    expect_status(&r, 0);
    char *expected = fmt("-fsanitize=alloc-token\n-fsanitize-alloc-token-extended\n"
                         "-fpass-plugin=%s/plugin/partmalloc-clang.so\n-fplugin=%s/plugin/partmalloc-clang.so\n"
                         "-fplugin-arg-partmalloc-remarks\n-Rpass=alloc-token\n-c\na.c\n-o\na.o\n"
                         "-I%s/../include\n", tool_dir(), tool_dir(), tool_dir());
    cr_expect_str_eq(r.out, expected);
    free(expected);
    run_free(&r);

    r = run_fake(dir, (const char *[]){"cc", "-fsanitize=alloc-token", "-fno-sanitize=alloc-token", "a.c", NULL},
                 "PARTMALLOC_PARTITIONS=4");
    expect_status(&r, 0);
    expected = fmt("-fsanitize=alloc-token\n-fno-sanitize=alloc-token\na.c\n-I%s/../include\n-L%s\n"
                   "-Wl,-rpath,%s\n-lpartmalloc\n", tool_dir(), tool_dir(), tool_dir());
    cr_expect_str_eq(r.out, expected);
    free(expected);
    run_free(&r);

    r = run_fake(dir, (const char *[]){"cc", "--version", NULL}, NULL); /* no input: no link */
    expect_status(&r, 0);
    expected = fmt("-fsanitize=alloc-token\n-fsanitize-alloc-token-extended\n"
                   "-fpass-plugin=%s/plugin/partmalloc-clang.so\n--version\n-I%s/../include\n",
                   tool_dir(), tool_dir());
    cr_expect_str_eq(r.out, expected);
    free(expected);
    run_free(&r);
    remove_tree(dir);
}

/* --wrapper is partmalloc's (before a "--"): its names go to the plugin. */
Test(cc, wrapper_names_go_to_the_plugin) {
    char *dir = fake_clang_dir();
    struct run r = run_fake(dir, (const char *[]){"cc", "--wrapper=zmalloc,zcalloc", "-c", "--wrapper=zrealloc", "a.c",
                                                  "--", "--wrapper=x", NULL}, NULL);
    expect_status(&r, 0);
    char *expected = fmt("-fsanitize=alloc-token\n-fsanitize-alloc-token-extended\n"
                         "-fpass-plugin=%s/plugin/partmalloc-clang.so\n-fplugin=%s/plugin/partmalloc-clang.so\n"
                         "-fplugin-arg-partmalloc-names=zmalloc,zcalloc,zrealloc\n-c\na.c\n-I%s/../include\n"
                         "--\n--wrapper=x\n", tool_dir(), tool_dir(), tool_dir());
    cr_expect_str_eq(r.out, expected);
    free(expected);
    run_free(&r);

    /* no tokens: no plugin */
    r = run_fake(dir, (const char *[]){"cc", "--wrapper=zmalloc", "-fno-sanitize=alloc-token", "-c", "a.c", NULL}, NULL);
    expect_status(&r, 0);
    expected = fmt("-fno-sanitize=alloc-token\n-c\na.c\n-I%s/../include\n", tool_dir());
    cr_expect_str_eq(r.out, expected);
    free(expected);
    run_free(&r);
    remove_tree(dir);
}

Test(cc, bad_partitions) {
    static const char *const values[] = {"3", "0", "128", "abc", "", "16k"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        for (int cxx = 0; cxx < 2; cxx++) {
            char *env = fmt("PARTMALLOC_PARTITIONS=%s", values[i]);
            struct run r = run_tool((const char *[]){cxx ? "c++" : "cc", "-c", "x.c", NULL},
                                    (const char *[]){env, NULL});
            expect_status(&r, 2);
            char *expected = fmt("partmalloc %s: invalid PARTMALLOC_PARTITIONS='%s' "
                                 "(accepted: 1, 2, 4, 8, 16, 32, 64)\n", cxx ? "c++" : "cc", values[i]);
            cr_expect_str_eq(r.err, expected);
            cr_expect_str_empty(r.out);
            free(expected);
            free(env);
            run_free(&r);
        }
    }
}

/* A lone --help or -h is partmalloc's (even without clang); with other
 * arguments --help is clang's. */
Test(cc, help) {
    char *empty = make_tmpdir();
    char *path = fmt("PATH=%s", empty);
    static const char *const forms[][2] = {{"cc", "--help"}, {"cc", "-h"}, {"c++", "--help"}, {"c++", "-h"}};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        struct run r = run_tool((const char *[]){forms[i][0], forms[i][1], NULL}, (const char *[]){path, NULL});
        expect_status(&r, 0);
        static const char first[] = "usage: partmalloc cc [--wrapper=NAME[,NAME...]|--wrapper=@FILE] [CLANG ARGS...]\n";
        cr_expect(strncmp(r.out, first, sizeof first - 1) == 0, "%s %s: %s", forms[i][0],
                  forms[i][1], r.out);
        cr_expect_str_empty(r.err);
        run_free(&r);
    }
    free(path);
    remove_tree(empty);

    char *dir = fake_clang_dir();
    struct run r = run_fake(dir, (const char *[]){"cc", "--help", "-c", NULL}, NULL);
    expect_status(&r, 0);
    char *expected = fmt("-fsanitize=alloc-token\n-fsanitize-alloc-token-extended\n"
                         "-fpass-plugin=%s/plugin/partmalloc-clang.so\n--help\n-c\n-I%s/../include\n",
                         tool_dir(), tool_dir());
    cr_expect_str_eq(r.out, expected);
    free(expected);
    run_free(&r);
    remove_tree(dir);
}

Test(cc, clang_missing) {
    char *dir = make_tmpdir();
    char *path = fmt("PATH=%s", dir);
    struct run r = run_tool((const char *[]){"c++", "-c", "x.cc", NULL}, (const char *[]){path, NULL});
    expect_status(&r, 1);
    cr_expect_str_eq(r.err, "partmalloc c++: clang++-22 not found (install it with: apt-get install -y clang-22)\n");
    run_free(&r);
    free(path);
    remove_tree(dir);
}
