/* The partmalloc command's run and stat: the histogram of a program built
 * with `partmalloc cc` names its types in the right partitions, a live
 * process can be looked at, every bad argument is one line and exit 2, and
 * --help and -h print the usage. */
#include "testutil.h"
#include "typed_map.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <sys/wait.h>

static const char *tool(void) { return build_path("partmalloc"); }

/* The line of `text` that starts with `prefix` followed by a space. */
static const char *line_of(const char *text, const char *prefix) {
    size_t n = strlen(prefix);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, prefix, n) == 0 && l[n] == ' ')
            return l;
    return NULL;
}

static char *copy_line(const char *l) {
    static char buf[1024];
    size_t n = strcspn(l, "\n");
    snprintf(buf, sizeof buf, "%.*s", (int)n, l);
    return buf;
}

/* The partition of a full 64-bit token at N = 16 (partmalloc cc sets no
 * -falloc-token-max), by the library's own rule. */
static unsigned typed_partition_16(uint64_t token) {
    const uint64_t half = UINT64_MAX / 2;
    return pm_typed_partition_of(token, UINT64_MAX, half, pm_void_token(half), 16);
}

static void partition_name(unsigned p, char *out, size_t size) {
    if (p == 0)
        snprintf(out, size, "kmalloc");
    else
        snprintf(out, size, "kmalloc-part-%02u", p);
}

Test(tool_run, typed_histogram_names_the_types_where_they_are) {
    const char *argv[] = {tool(), "run", "--mode", "typed", "--partitions", "16", "--", build_path("tests/tools/labelled"),
                          NULL};
    const char *env[] = {NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    unsigned long with_ptrs, plain;
    cr_assert_eq(sscanf(r.out, "tokens %lu %lu", &with_ptrs, &plain), 2, "%s", r.out);
    /* partmalloc cc sets no -falloc-token-max: full 64-bit tokens, mapped
     * by the library's rule (typed_map.h) to a partition of each group */
    unsigned part_ptrs = typed_partition_16(with_ptrs);
    unsigned part_plain = typed_partition_16(plain);
    cr_expect(part_ptrs >= 8 && part_ptrs < 16, "with_ptrs: token %#lx, partition %u", with_ptrs, part_ptrs);
    cr_expect(part_plain >= 4 && part_plain < 8, "plain_data: token %#lx, partition %u", plain, part_plain);
    const char head[] = "partmalloc: typed mode, 16 partitions, token max none, pid ";
    cr_assert(strncmp(r.err, head, sizeof head - 1) == 0, "%s", r.err);
    char name[32];
    partition_name(part_ptrs, name, sizeof name);
    const char *l = line_of(r.err, name);
    cr_assert_not_null(l, "no line %s in\n%s", name, r.err);
    unsigned long allocs;
    cr_assert_eq(sscanf(l + strlen(name), "%lu", &allocs), 1);
    cr_expect_geq(allocs, 500, "%s", copy_line(l));
    cr_expect_not_null(strstr(copy_line(l), "with_ptrs"), "%s", copy_line(l));
    partition_name(part_plain, name, sizeof name);
    l = line_of(r.err, name);
    cr_assert_not_null(l);
    cr_assert_eq(sscanf(l + strlen(name), "%lu", &allocs), 1);
    cr_expect_geq(allocs, 300, "%s", copy_line(l));
    cr_expect_not_null(strstr(copy_line(l), "plain_data"), "%s", copy_line(l));
    cr_expect_null(strstr(r.err, "no type names"), "%s", r.err);
    run_free(&r);
}

/* The <types> column of every partition line of a histogram, one per
 * entry of cols[] (at most `max`); returns the count. */
static size_t types_columns(const char *err, char cols[][200], size_t max) {
    size_t n = 0;
    const char *head = strstr(err, "<slab cache>"), *types = head ? strstr(head, "<types>") : NULL;
    cr_assert(head && types, "no histogram header in\n%s", err);
    size_t at = (size_t)(types - head); /* the column of <types> */
    for (const char *l = err; l && *l && n < max; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, "kmalloc", 7) != 0)
            continue;
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        if (len <= at) {
            cols[n++][0] = '\0';
            continue;
        }
        snprintf(cols[n++], 200, "%.*s", (int)(len - at), l + at);
    }
    return n;
}

/* The histogram line of the partition of the token labelled_cxx printed. */
static const char *widget_line(const struct run *r) {
    unsigned long token;
    cr_assert_eq(sscanf(r->out, "token %lu", &token), 1, "%s", r->out);
    char name[32];
    partition_name(typed_partition_16(token), name, sizeof name);
    const char *l = line_of(r->err, name);
    cr_assert_not_null(l, "no line %s in\n%s", name, r->err);
    return l;
}

/* C++ names, commas and all, in the <types> column: names apart by "; ",
 * never an empty one, never a separator without a name, and the column
 * starts with a name; the partition with the 100 Widgets names Widget. */
Test(tool_run, cxx_type_names_are_whole_and_never_empty) {
    const char *argv[] = {tool(), "run", "--mode", "typed", "--all-types", "--", build_path("tests/tools/labelled_cxx"),
                          NULL};
    const char *env[] = {"COLUMNS=200", NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    char cols[64][200];
    size_t n = types_columns(r.err, cols, 64);
    cr_assert_eq(n, 16, "%s", r.err);
    bool map_named = false;
    for (size_t i = 0; i < n; i++) {
        const char *c = cols[i];
        cr_expect(c[0] != ' ' && c[0] != ';' && c[0] != ',' && c[0] != '|', "line %zu starts badly: '%s'", i, c);
        cr_expect_null(strstr(c, "; ;"), "empty name in '%s'", c);
        cr_expect_null(strstr(c, ", ,"), "empty name in '%s'", c);
        cr_expect_null(strstr(c, ";  "), "empty name in '%s'", c);
        cr_expect_null(strstr(c, "; |"), "empty name in '%s'", c);
        size_t len = strlen(c);
        cr_expect(len < 2 || (strcmp(c + len - 2, "; ") != 0 && strcmp(c + len - 2, ", ") != 0),
                  "dangling separator in '%s'", c);
        const char *m = strstr(c, "std::map<int, std::basic_string<char>>");
        if (m && (m == c || strncmp(m - 2, "; ", 2) == 0))
            map_named = true;
    }
    cr_expect(map_named, "no partition names std::map<int, std::basic_string<char>> whole:\n%s", r.err);
    const char *l = widget_line(&r);
    unsigned long allocs;
    cr_assert_eq(sscanf(l + strcspn(l, " "), "%lu", &allocs), 1);
    cr_expect_geq(allocs, 100, "%s", copy_line(l));
    cr_expect_not_null(strstr(copy_line(l), "Widget"), "%s", copy_line(l));
    run_free(&r);
}

/* Random mode: the census names the types wherever their call sites sent them. */
Test(tool_run, random_histogram_names_the_types_from_the_census) {
    const char *argv[] = {tool(), "run", "--mode", "random", "--", build_path("tests/tools/labelled"), NULL};
    const char *env[] = {"PARTMALLOC_SEED=7", NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    const char *hit = strstr(r.err, "with_ptrs");
    cr_assert_not_null(hit, "%s", r.err);
    const char *colon = strchr(hit, ':');
    cr_assert_not_null(colon);
    unsigned long n = strtoul(colon + 1, NULL, 10);
    cr_expect_eq(n, 500, "%s", r.err);
    cr_expect_not_null(strstr(r.err, "plain_data"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, "random mode: partitions follow a keyed hash of the call site, not the type\n"));
    run_free(&r);
}

/* Random mode's stderr with `seed` (run --seed), the header line (which
 * names the pid) left out; the caller frees it. */
static char *random_histogram(const char *seed) {
    const char *argv[] = {tool(), "run", "--mode", "random", "--seed", seed, "--", build_path("tests/tools/labelled"),
                          NULL};
    const char *env[] = {NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    const char *body = strchr(r.err, '\n');
    cr_assert_not_null(body, "%s", r.err);
    cr_assert(strncmp(r.err, "partmalloc: random mode, 16 partitions", 38) == 0, "%s", r.err);
    char *copy = strdup(body);
    run_free(&r);
    return copy;
}

/* run --seed: the same key and the program's addresses fixed (ASLR off),
 * so the same call sites land in the same partitions run after run; the
 * control: some other key places them differently. */
Test(tool_run, seed_repeats_random_placement) {
    char *first = random_histogram("7"), *again = random_histogram("7");
    cr_expect_str_eq(again, first);
    bool differs = false;
    const char *others[] = {"8", "0x9", "10", "11", "12"};
    for (size_t i = 0; i < sizeof others / sizeof *others && !differs; i++) {
        char *other = random_histogram(others[i]);
        differs = strcmp(other, first) != 0;
        free(other);
    }
    cr_expect(differs, "five other keys all placed labelled's sites as key 7 did:\n%s", first);
    free(first);
    free(again);
}

Test(tool_run, json_and_slabinfo) {
    const char *argv[] = {tool(), "run", "--stats", "json", "--", build_path("tests/tools/labelled"), NULL};
    const char *env[] = {NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0);
    json_error_t err;
    json_t *root = json_loads(r.err, 0, &err);
    cr_assert_not_null(root, "%s: %s", err.text, r.err);
    char real[4096];
    cr_assert_not_null(realpath(build_path("tests/tools/labelled"), real));
    cr_expect_str_eq(json_string_value(json_object_get(root, "exe")), real);
    cr_expect(json_is_array(json_object_get(root, "census")));
    json_decref(root);
    run_free(&r);
    const char *argv2[] = {tool(), "run", "--stats", "slabinfo", "--", build_path("tests/tools/labelled"), NULL};
    r = run_env(argv2, env, false);
    cr_expect(strncmp(r.err, "slabinfo - version: 2.1\n", 24) == 0, "%s", r.err);
    run_free(&r);
}

Test(tool_run, exit_status_is_the_programs) {
    const char *argv[] = {tool(), "run", "--", "sh", "-c", "exit 7", NULL};
    const char *env[] = {NULL};
    struct run r = run_env(argv, env, false);
    cr_expect_eq(exit_code(&r), 7);
    run_free(&r);
    const char *argv2[] = {tool(), "run", "--", "/nonexistent/program", NULL};
    r = run_env(argv2, env, false);
    cr_expect_eq(exit_code(&r), 127);
    cr_expect_str_eq(r.err, "partmalloc run: cannot run /nonexistent/program: No such file or directory\n");
    run_free(&r);
}

/* The one child of process `pid` (from /proc), or -1. */
static pid_t child_of(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *f = fopen(path, "r");
    int child = -1, more;
    if (f && (fscanf(f, "%d", &child) != 1 || fscanf(f, "%d", &more) == 1))
        child = -1;
    if (f)
        fclose(f);
    return child;
}

/* The directory of the dumps `partmalloc run` gave its program, from the
 * program's PARTMALLOC_STATS ("DIR/stats-%p.json,json"). */
static void dump_dir_of(pid_t pid, char *out, size_t size) {
    char path[64], env[8192];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(env, 1, sizeof env - 1, f);
    fclose(f);
    env[n] = '\0';
    out[0] = '\0';
    for (const char *e = env; e < env + n; e += strlen(e) + 1)
        if (strncmp(e, "PARTMALLOC_STATS=", 17) == 0) {
            const char *slash = strrchr(e, '/');
            cr_assert_not_null(slash, "%s", e);
            snprintf(out, size, "%.*s", (int)(slash - e - 17), e + 17);
        }
    cr_assert(strncmp(out, "/tmp/partmalloc-run-", 20) == 0, "PARTMALLOC_STATS of %d: %s", (int)pid, out);
}

/* `partmalloc run -- labelled wait`, its program ready. */
struct waiting_run {
    pid_t run, program;
    FILE *out;
    int err_fd;
    char dir[512]; /* run's temporary directory */
};

/* `partmalloc run -- PROGRAM ARGS`, once the program has written
 * `lines_before` lines and then "ready". */
static struct waiting_run start_run_of(const char *const *program, int lines_before) {
    /* run keeps a signal its caller ignores ignored (nohup), by design:
     * tests started under nohup, or in the background of a shell without
     * job control (SIGINT and SIGQUIT ignored), must not hand that on to
     * the runs they signal */
    const int passed[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof passed / sizeof passed[0]; i++)
        signal(passed[i], SIG_DFL);
    const char *argv[8] = {tool(), "run", "--"};
    for (int i = 0; program[i] && i < 4; i++)
        argv[3 + i] = program[i];
    int out[2], err[2];
    pipe_cloexec(out);
    pipe_cloexec(err);
    struct waiting_run w = {.run = spawn_env(argv, NULL, false, out[1], err[1]), .err_fd = err[0]};
    close(out[1]);
    close(err[1]);
    w.out = fdopen(out[0], "r");
    char line[128];
    for (int i = 0; i < lines_before; i++)
        cr_assert_not_null(fgets(line, sizeof line, w.out));
    cr_assert_not_null(fgets(line, sizeof line, w.out));
    cr_assert_str_eq(line, "ready\n");
    w.program = child_of(w.run);
    cr_assert_gt(w.program, 0);
    dump_dir_of(w.program, w.dir, sizeof w.dir);
    cr_assert_eq(access(w.dir, F_OK), 0, "%s", w.dir);
    return w;
}

static struct waiting_run start_run_waiting(void) {
    const char *program[] = {build_path("tests/tools/labelled"), "wait", NULL};
    return start_run_of(program, 1); /* after its tokens line */
}

/* Stops it by `sig` sent to run alone: the program gets the signal, no
 * process is left behind and the temporary directory is removed. Returns
 * run's wait status; *err gets what run wrote on stderr (malloc'd). */
static int signal_run(struct waiting_run *w, int sig, char **err) {
    cr_assert_eq(kill(w->run, sig), 0);
    int status;
    cr_assert_eq(waitpid(w->run, &status, 0), w->run);
    /* run waited for it, so it is gone (not even a zombie) */
    bool orphan = kill(w->program, 0) == 0;
    if (orphan) /* left running: stop it before failing */
        kill(w->program, SIGKILL);
    cr_expect_not(orphan, "the program (pid %d) outlived partmalloc run", (int)w->program);
    cr_expect_neq(access(w->dir, F_OK), 0, "%s was left behind", w->dir);
    if (access(w->dir, F_OK) == 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir);
        cr_expect_eq(system(cmd), 0);
    }
    size_t len = 0, cap = 4096;
    *err = calloc(1, cap);
    ssize_t got;
    char chunk[4096];
    while ((got = read(w->err_fd, chunk, sizeof chunk)) > 0)
        run_append(err, &len, &cap, chunk, (size_t)got);
    close(w->err_fd);
    fclose(w->out);
    return status;
}

/* The program handles SIGTERM (it exits 0): run reports it and exits 0. */
Test(tool_run, sigterm_goes_to_the_program) {
    struct waiting_run w = start_run_waiting();
    char *err;
    int status = signal_run(&w, SIGTERM, &err);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x: %s", status, err);
    cr_expect(strncmp(err, "partmalloc: typed mode, ", 24) == 0, "%s", err);
    free(err);
}

/* The program dies of SIGINT and SIGHUP: so does run, after cleaning up. */
Test(tool_run, sigint_and_sighup_kill_the_program_and_then_run) {
    static const int sigs[] = {SIGINT, SIGHUP};
    for (size_t i = 0; i < 2; i++) {
        struct waiting_run w = start_run_waiting();
        char *err;
        int status = signal_run(&w, sigs[i], &err);
        cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == sigs[i], "signal %d: status %#x: %s", sigs[i], status,
                  err);
        free(err);
    }
}

/* A program killed by a signal leaves no statistics: run names the signal
 * and the program's pid (not _exit), and its status is 128 + the signal.
 * One that ends through _exit is named with its pid. */
Test(tool_run, a_killed_program_is_named_with_its_signal) {
    static const struct {
        const char *script;
        int number;
        const char *name;
    } cases[] = {{"echo $$; kill -ABRT $$", SIGABRT, "SIGABRT"}, {"echo $$; kill -TERM $$", SIGTERM, "SIGTERM"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[] = {tool(), "run", "--", "sh", "-c", cases[i].script, NULL};
        struct run r = run_env(argv, NULL, false);
        cr_expect_eq(exit_code(&r), 128 + cases[i].number, "%s", r.err);
        int pid = atoi(r.out);
        cr_assert_gt(pid, 0, "%s", r.out);
        char want[256];
        snprintf(want, sizeof want, "partmalloc run: sh (pid %d) was killed by signal %d (%s)\n", pid,
                 cases[i].number, cases[i].name);
        cr_expect_str_eq(r.err, want);
        run_free(&r);
    }
    /* dash ends through _exit: no statistics, and not because of a signal */
    const char *argv0[] = {tool(), "run", "--", "sh", "-c", "echo $$; exit 3", NULL};
    struct run r0 = run_env(argv0, NULL, false);
    cr_expect_eq(exit_code(&r0), 3, "%s", r0.err);
    char want0[256];
    snprintf(want0, sizeof want0,
             "partmalloc run: no statistics from sh (pid %d): it ended through _exit, or did not load partmalloc "
             "(statically linked or set-user-ID)\n",
             atoi(r0.out));
    cr_expect_str_eq(r0.err, want0);
    run_free(&r0);
    /* a double free: the library's one line, then run's */
    const char *probe = build_path("tests/helpers/harden_probe");
    const char *argv[] = {tool(), "run", "--", probe, "double-free", "64", "0", NULL};
    struct run r = run_env(argv, NULL, false);
    cr_expect_eq(exit_code(&r), 134, "%s", r.err);
    const char *abort_line = strstr(r.err, "partmalloc: double free at 0x");
    cr_expect_not_null(abort_line, "%s", r.err);
    char start[600];
    snprintf(start, sizeof start, "partmalloc run: %s (pid ", probe);
    const char *ours = strstr(r.err, start);
    cr_assert_not_null(ours, "%s", r.err);
    cr_expect_gt(ours, abort_line);
    int pid;
    char end[128];
    cr_expect_eq(sscanf(ours + strlen(start), "%d%127[^\n]", &pid, end), 2, "%s", ours);
    cr_expect_str_eq(end, ") was killed by signal 6 (SIGABRT)");
    cr_expect_eq(strlen(ours), strlen(start) + (size_t)snprintf(NULL, 0, "%d", pid) + strlen(end) + 1, "%s", ours);
    run_free(&r);
}

struct usage_case {
    const char *args[6];
    const char *message;
};

/* Each case: one line on stderr, exit 2. */
static void expect_usage_errors(const struct usage_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *argv[8] = {tool()};
        for (int a = 0; a < 6 && cases[i].args[a]; a++)
            argv[a + 1] = cases[i].args[a];
        const char *env[] = {NULL};
        struct run r = run_env(argv, env, false);
        cr_expect_eq(exit_code(&r), 2, "case %zu", i);
        cr_expect_str_eq(r.err, cases[i].message, "case %zu", i);
        cr_expect_str_empty(r.out, "case %zu", i);
        run_free(&r);
    }
}

Test(tool, bad_arguments_name_themselves) {
    static const struct usage_case cases[] = {
        {{"run", "--mode", "fast", "--", "true"}, "partmalloc run: invalid --mode 'fast' (accepted: typed, random, none)\n"},
        {{"run", "--partitions", "12", "--", "true"},
         "partmalloc run: invalid --partitions '12' (accepted: 1, 2, 4, 8, 16, 32, 64)\n"},
        {{"run", "--seed", "-1", "--", "true"},
         "partmalloc run: invalid --seed '-1' (accepted: a 64-bit number, decimal or 0x...)\n"},
        {{"run", "--seed", "0x1g", "--", "true"},
         "partmalloc run: invalid --seed '0x1g' (accepted: a 64-bit number, decimal or 0x...)\n"},
        {{"run", "--stats", "xml", "--", "true"},
         "partmalloc run: invalid --stats 'xml' (accepted: histogram, slabinfo, json)\n"},
        {{"run", "--processes", "all", "--", "true"},
         "partmalloc run: invalid --processes 'all' (accepted: main, sum)\n"},
        {{"run", "--verbose", "--", "true"},
         "partmalloc run: unknown option '--verbose' (accepted: --mode, --partitions, --stats, --seed, --no-census, --all-types, --processes, --html, --)\n"},
        {{"run", "--"}, "partmalloc run: no program given (usage: partmalloc run [OPTIONS] -- PROGRAM ARGS...)\n"},
        {{"run", "--mode"}, "partmalloc run: option '--mode' needs a value\n"},
        {{"run", "--html"}, "partmalloc run: option '--html' needs a value\n"},
        {{"run", "--html", "", "--", "true"}, "partmalloc run: --html needs a file name\n"},
        {{"run", "--html=p.html", "--processes=sum", "--", "true"},
         "partmalloc run: --html shows the program's statistics alone; it cannot be used with --processes sum\n"},
        {{"stat", "--html"}, "partmalloc stat: option '--html' needs a value\n"},
        {{"stat", "--html", "", "1"}, "partmalloc stat: --html needs a file name\n"},
        {{"stat"}, "partmalloc stat: no process id or dump file given (usage: partmalloc stat [--format F] PID|FILE)\n"},
        {{"stat", "--format", "csv", "1"},
         "partmalloc stat: invalid --format 'csv' (accepted: histogram, slabinfo, json)\n"},
        {{"stat", "-x"}, "partmalloc stat: unknown option '-x' (accepted: --format, --all-types, --html)\n"},
        {{"frobnicate"}, "partmalloc: unknown command 'frobnicate' (accepted: run, cc, c++, report, stat, version, help)\n"},
    };
    expect_usage_errors(cases, sizeof cases / sizeof cases[0]);
}

/* The forms getopt_long reads: a short option, a value in the same
 * argument, one given to an option that takes none, a lone "-". */
Test(tool, bad_options_in_getopt_forms_name_themselves) {
    static const struct usage_case cases[] = {
        {{"run", "-x", "--", "true"},
         "partmalloc run: unknown option '-x' (accepted: --mode, --partitions, --stats, --seed, --no-census, --all-types, --processes, --html, --)\n"},
        {{"run", "--no-census=1", "--", "true"},
         "partmalloc run: unknown option '--no-census=1' (accepted: --mode, --partitions, --stats, --seed, --no-census, --all-types, --processes, --html, --)\n"},
        {{"run", "-", "true"},
         "partmalloc run: unknown option '-' (accepted: --mode, --partitions, --stats, --seed, --no-census, --all-types, --processes, --html, --)\n"},
        {{"run", "--mode=fast", "true"}, "partmalloc run: invalid --mode 'fast' (accepted: typed, random, none)\n"},
        {{"run", "--stats"}, "partmalloc run: option '--stats' needs a value\n"},
        {{"stat", "--format"}, "partmalloc stat: option '--format' needs a value\n"},
        {{"stat", "1", "--format=xml"}, "partmalloc stat: invalid --format 'xml' (accepted: histogram, slabinfo, json)\n"},
        {{"stat", "--bogus=1", "1"}, "partmalloc stat: unknown option '--bogus=1' (accepted: --format, --all-types, --html)\n"},
        {{"stat", "1", "-", "--format", "json"}, "partmalloc stat: more than one process or file given ('1', '-')\n"},
    };
    expect_usage_errors(cases, sizeof cases / sizeof cases[0]);
}

/* --help and -h: the subcommand's usage on stdout, exit 0, nothing run. */
Test(tool, run_and_stat_answer_help) {
    static const char *const subs[] = {"run", "stat"};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: partmalloc %s ", subs[i]);
        char *first = NULL;
        for (int h = 0; h < 2; h++) {
            /* what follows the option must not matter */
            const char *argv[] = {tool(), subs[i], h ? "-h" : "--help", "--bogus", NULL};
            const char *env[] = {NULL};
            struct run r = run_env(argv, env, false);
            cr_expect_eq(exit_code(&r), 0, "%s %s: %s", subs[i], argv[2], r.err);
            cr_expect_str_empty(r.err, "%s %s", subs[i], argv[2]);
            cr_expect(strncmp(r.out, want, strlen(want)) == 0, "%s %s: %s", subs[i], argv[2], r.out);
            if (!first)
                first = strdup(r.out);
            else
                cr_expect_str_eq(r.out, first, "-h and --help differ for %s", subs[i]);
            run_free(&r);
        }
        free(first);
    }
}

/* `version` and `--version`: the library's version, that of pm_version(). */
Test(tool, version_prints_the_library_version) {
    char want[64];
    snprintf(want, sizeof want, "partmalloc %s\n", pm_version());
    static const char *const forms[] = {"version", "--version"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        const char *argv[] = {tool(), forms[i], NULL};
        const char *env[] = {NULL};
        struct run r = run_env(argv, env, false);
        cr_expect_eq(exit_code(&r), 0, "%s: %s", forms[i], r.err);
        cr_expect_str_empty(r.err, "%s", forms[i]);
        cr_expect_str_eq(r.out, want, "%s", forms[i]);
        run_free(&r);
    }
}

/* ---- stat ---- */

struct waiting {
    pid_t pid;
    FILE *out;
    unsigned long with_ptrs, plain;
};

/* `signal`: the process's PARTMALLOC_STATS_SIGNAL, or NULL for none. */
static struct waiting start_waiting(const char *dir, const char *signal) {
    char env_dir[600], env_signal[64];
    snprintf(env_dir, sizeof env_dir, "PARTMALLOC_STATS_DIR=%s", dir);
    snprintf(env_signal, sizeof env_signal, "PARTMALLOC_STATS_SIGNAL=%s", signal ? signal : "");
    const char *argv[] = {build_path("tests/tools/labelled"), "wait", NULL};
    const char *env[] = {env_signal, env_dir, NULL};
    int out;
    pid_t pid = start_env(argv, signal ? env : NULL, &out);
    struct waiting w = {pid, fdopen(out, "r"), 0, 0};
    char line[128];
    cr_assert_not_null(fgets(line, sizeof line, w.out));
    cr_assert_eq(sscanf(line, "tokens %lu %lu", &w.with_ptrs, &w.plain), 2);
    cr_assert_not_null(fgets(line, sizeof line, w.out));
    cr_assert_str_eq(line, "ready\n");
    return w;
}

static void stop_waiting(struct waiting *w) {
    kill(w->pid, SIGTERM);
    int status;
    waitpid(w->pid, &status, 0);
    fclose(w->out);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(tool_stat, live_process) {
    char dir[] = "/tmp/pmstatXXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    struct waiting w = start_waiting(dir, "USR2");
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)w.pid);
    const char *argv[] = {tool(), "stat", pid, NULL};
    const char *env[] = {NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    char want[128];
    snprintf(want, sizeof want, "partmalloc: typed mode, 16 partitions, token max none, pid %d\n", (int)w.pid);
    cr_expect(strncmp(r.out, want, strlen(want)) == 0, "%s", r.out);
    char name[32];
    partition_name(typed_partition_16(w.with_ptrs), name, sizeof name);
    const char *l = line_of(r.out, name);
    cr_assert_not_null(l, "%s", r.out);
    unsigned long objs;
    cr_assert_eq(sscanf(l + strlen(name), "%lu", &objs), 1);
    cr_expect_eq(objs, 500, "%s", copy_line(l)); /* live objects: exactly what it holds */
    cr_expect_not_null(strstr(copy_line(l), "with_ptrs"));
    partition_name(typed_partition_16(w.plain), name, sizeof name);
    l = line_of(r.out, name);
    cr_assert_not_null(l);
    cr_assert_eq(sscanf(l + strlen(name), "%lu", &objs), 1);
    cr_expect_eq(objs, 300, "%s", copy_line(l));
    run_free(&r);
    /* the dump is not left behind */
    char dump[600];
    snprintf(dump, sizeof dump, "%s/partmalloc-%d.json", dir, (int)w.pid);
    cr_expect_neq(access(dump, F_OK), 0);
    /* JSON of the live process, and a saved dump read back */
    const char *argv2[] = {tool(), "stat", "--format", "json", pid, NULL};
    r = run_env(argv2, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    char saved[600];
    snprintf(saved, sizeof saved, "%s/saved.json", dir);
    FILE *f = fopen(saved, "w");
    fputs(r.out, f);
    fclose(f);
    run_free(&r);
    const char *argv3[] = {tool(), "stat", "--format", "slabinfo", saved, NULL};
    r = run_env(argv3, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    cr_expect(strncmp(r.out, "slabinfo - version: 2.1\n", 24) == 0);
    run_free(&r);
    stop_waiting(&w);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

/* stat of the run process itself looks at the program run started. */
Test(tool_stat, follows_run_to_its_program) {
    struct waiting_run w = start_run_waiting();
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)w.run);
    const char *argv[] = {tool(), "stat", pid, NULL};
    struct run r = run_env(argv, NULL, false);
    cr_expect_eq(exit_code(&r), 0, "%s", r.err);
    char want[256];
    snprintf(want, sizeof want, "partmalloc stat: process %d is `partmalloc run`; showing its program, process %d\n",
             (int)w.run, (int)w.program);
    cr_expect_str_eq(r.err, want);
    snprintf(want, sizeof want, "partmalloc: typed mode, 16 partitions, token max none, pid %d\n", (int)w.program);
    cr_expect(strncmp(r.out, want, strlen(want)) == 0, "%s", r.out);
    cr_expect_not_null(strstr(r.out, "with_ptrs"), "%s", r.out);
    run_free(&r);
    char *err;
    int status = signal_run(&w, SIGTERM, &err);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x: %s", status, err);
    free(err);
}

Test(tool_stat, errors) {
    /* a signal the library rejected has no handler: stat must not send it */
    struct waiting k = start_waiting("/tmp", "15");
    char kpid[16], kwant[300];
    snprintf(kpid, sizeof kpid, "%d", (int)k.pid);
    const char *kargv[] = {tool(), "stat", kpid, NULL};
    const char *kenv[] = {NULL};
    struct run kr = run_env(kargv, kenv, false);
    cr_expect_eq(exit_code(&kr), 1);
    snprintf(kwant, sizeof kwant,
             "partmalloc stat: process %d does not handle PARTMALLOC_STATS_SIGNAL=15 (the library rejected it, or the "
             "program took the signal over); not sending it\n",
             (int)k.pid);
    cr_expect_str_eq(kr.err, kwant);
    run_free(&kr);
    cr_expect_eq(kill(k.pid, 0), 0, "the process is still alive");
    stop_waiting(&k);
    struct waiting w = start_waiting("/tmp", NULL);
    char pid[16], want[300];
    snprintf(pid, sizeof pid, "%d", (int)w.pid);
    const char *argv[] = {tool(), "stat", pid, NULL};
    const char *env[] = {NULL};
    struct run r = run_env(argv, env, false);
    cr_expect_eq(exit_code(&r), 1);
    snprintf(want, sizeof want,
             "partmalloc stat: process %d was not started with PARTMALLOC_STATS_SIGNAL (start it with `partmalloc "
             "run`, or set PARTMALLOC_STATS_SIGNAL=USR2)\n",
             (int)w.pid);
    cr_expect_str_eq(r.err, want);
    run_free(&r);
    stop_waiting(&w);
    const char *argv2[] = {tool(), "stat", "/nonexistent.json", NULL};
    r = run_env(argv2, env, false);
    cr_expect_eq(exit_code(&r), 1);
    cr_expect_str_eq(r.err, "partmalloc stat: cannot read /nonexistent.json: No such file or directory\n");
    run_free(&r);
    const char *argv3[] = {tool(), "stat", "/etc/hostname", NULL};
    r = run_env(argv3, env, false);
    cr_expect_eq(exit_code(&r), 1);
    cr_expect(strncmp(r.err, "partmalloc stat: /etc/hostname: not a partmalloc statistics dump", 64) == 0, "%s", r.err);
    run_free(&r);
}

/* ---- isolation collapsed: the findings under the histogram ---- */

/* What `partmalloc run` says on stderr of tests/tools/wrapped_<build> run
 * with path `path` (wrap, cast or direct). */
static char *collapse_lines_of(const char *build, const char *path) {
    char program[64];
    snprintf(program, sizeof program, "tests/tools/wrapped_%s", build);
    const char *argv[] = {tool(), "run", "--", build_path(program), path, NULL};
    struct run r = run_env(argv, NULL, false);
    cr_assert_eq(exit_code(&r), 0, "%s %s: %s", build, path, r.err);
    /* only the findings: every line from the first "isolation collapsed" */
    const char *first = strstr(r.err, "partmalloc run: isolation collapsed");
    char *lines = strdup(first ? first : "");
    run_free(&r);
    return lines;
}

struct collapse_case {
    const char *build, *path;
    const char *expect[3]; /* substrings of the findings; none: no finding at all */
};

/* Each way a wrapper collapses isolation is named with its function and
 * the fix; the controls — one call site per type, and the same wrappers
 * named to partmalloc cc — have no finding, so the checks can fail. */
Test(tool_run, collapsed_isolation_names_the_wrapper_and_the_fix) {
    static const struct collapse_case cases[] = {
        /* no tokens: one site serves every type */
        {"plain", "wrap", {"partmalloc run: isolation collapsed: one call site made 100.0% of the 2000 allocations, "
                           "in 5 size classes: xmalloc (wrapped.c:",
                           "rebuild with `partmalloc cc --wrapper=xmalloc`"}},
        {"plain", "cast", {"in 5 size classes: lmalloc (wrapped.c:", "`partmalloc cc --wrapper=lmalloc`"}},
        /* tokens, but the `void *` wrapper's call has no type */
        {"cc", "wrap", {"one call site made 100.0% of the 2000 allocations, in 5 size classes: xmalloc (wrapped.c:",
                        "partmalloc run: isolation collapsed: 100.0% of the 2000 allocations have no known type "
                        "(void 0.0%, fallback token 100.0%, no token 0.0%), so they share the unknown partitions.\n"}},
        /* tokens, and the cast gives every object one type */
        {"cc", "cast", {"partmalloc run: isolation collapsed: one type, long, is the type of 100.0% of the 2000 "
                        "allocations, in 5 size classes",
                        "the busiest site: lmalloc (wrapped.c:", "`partmalloc cc --wrapper=lmalloc`"}},
        {"plain", "direct", {NULL}},
        {"cc", "direct", {NULL}},
        {"named", "wrap", {NULL}},
        {"named", "cast", {NULL}},
        {"named", "direct", {NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct collapse_case *c = &cases[i];
        char *lines = collapse_lines_of(c->build, c->path);
        if (!c->expect[0])
            cr_expect_str_empty(lines, "%s %s: a finding where none belongs:\n%s", c->build, c->path, lines);
        for (size_t k = 0; k < 3 && c->expect[k]; k++)
            cr_expect_not_null(strstr(lines, c->expect[k]), "%s %s: no \"%s\" in:\n%s", c->build, c->path,
                               c->expect[k], lines);
        free(lines);
    }
}

/* The same finding for a live process, from `partmalloc stat`, on stderr
 * (stdout keeps the statistics alone). */
Test(tool_stat, names_the_wrapper_of_a_live_process) {
    const char *program[] = {build_path("tests/tools/wrapped_plain"), "wrap", "wait", NULL};
    struct waiting_run w = start_run_of(program, 0);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)w.run);
    const char *argv[] = {tool(), "stat", pid, NULL};
    struct run r = run_env(argv, NULL, false);
    cr_expect_eq(exit_code(&r), 0, "%s", r.err);
    cr_expect_not_null(strstr(r.err, "partmalloc stat: isolation collapsed: one call site made 100.0% of the 2000 "
                                     "allocations, in 5 size classes: xmalloc (wrapped.c:"),
                       "%s", r.err);
    cr_expect_null(strstr(r.out, "isolation collapsed"), "%s", r.out);
    run_free(&r);
    char *err;
    int status = signal_run(&w, SIGTERM, &err);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x: %s", status, err);
    free(err);
}

/* labelled_cxx under `run` with `flag` (or none) and `columns`; *line gets
 * the Widget partition's line. */
static struct run cxx_run(const char *flag, const char *columns, char *line, size_t size) {
    const char *argv[8] = {tool(), "run", "--mode", "typed"};
    size_t n = 4;
    if (flag)
        argv[n++] = flag;
    argv[n++] = "--";
    argv[n++] = build_path("tests/tools/labelled_cxx");
    argv[n] = NULL;
    const char *env[] = {columns, NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    const char *l = widget_line(&r);
    snprintf(line, size, "%s", copy_line(l));
    return r;
}

/* By default the <types> column names the types allocated in each
 * partition: Widget's holds Widget alone, its 100 objects the most of any
 * (a bar of 10 at 80 columns), and partitions 4-15 with no allocation
 * name nothing. The control: --all-types names more there. */
Test(tool_run, types_column_lists_only_allocated_types) {
    char line[1024], name[32];
    struct run r = cxx_run(NULL, NULL, line, sizeof line);
    size_t at = strcspn(line, " ");
    snprintf(name, sizeof name, "%.*s", (int)at, line);
    char want[128];
    snprintf(want, sizeof want, "%-16s     100  ++++++++++ Widget", name);
    cr_expect_str_eq(line, want);
    for (unsigned p = 4; p < 16; p++) {
        char part[32];
        partition_name(p, part, sizeof part);
        const char *l = line_of(r.err, part);
        cr_assert_not_null(l);
        unsigned long allocs = 0;
        cr_assert_eq(sscanf(l + strlen(part), "%lu", &allocs), 1);
        if (allocs == 0) {
            snprintf(want, sizeof want, "%-16s       0", part);
            cr_expect_str_eq(copy_line(l), want);
        }
    }
    run_free(&r);
    r = cxx_run("--all-types", "COLUMNS=200", line, sizeof line);
    cr_expect(strstr(line, "Widget") && strstr(line, "; "),
              "--all-types names only Widget: %s", line);
    run_free(&r);
}

/* COLUMNS=60: no line wider, the bar at its least (10) and a long <types>
 * column cut to end the line at column 60 with " ..."; the control at 200
 * shows lines wider than 60. */
Test(tool_run, histogram_fits_columns) {
    char line[1024];
    struct run r = cxx_run("--all-types", "COLUMNS=60", line, sizeof line);
    cr_expect_leq(widest_line(r.err), 60, "%s", r.err);
    cr_expect_eq(strlen(line), 60, "%s", line);
    cr_expect(strcmp(line + 56, " ...") == 0, "%s", line);
    cr_expect(strncmp(line + 16, "     100  ++++++++++ ", 21) == 0, "%s", line);
    run_free(&r);
    r = cxx_run("--all-types", "COLUMNS=200", line, sizeof line);
    cr_expect_gt(widest_line(r.err), 60, "%s", r.err);
    cr_expect_leq(widest_line(r.err), 200, "%s", r.err);
    cr_expect(strncmp(line + 16, "     100  ", 10) == 0, "%s", line);
    run_free(&r);
}

/* stat reads a saved dump and takes --all-types too: the same Widget line
 * as run's, with more names under --all-types. */
Test(tool_stat, all_types_from_a_dump) {
    char dir[] = "/tmp/pmstatXXXXXX", dump[600];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(dump, sizeof dump, "PARTMALLOC_STATS=%s/d.json,json", dir);
    char lib[600];
    snprintf(lib, sizeof lib, "LD_PRELOAD=%s", build_path("stats/libpartmalloc.so"));
    const char *argv[] = {build_path("tests/tools/labelled_cxx"), NULL};
    const char *env[] = {lib, dump, NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    unsigned long token;
    cr_assert_eq(sscanf(r.out, "token %lu", &token), 1, "%s", r.out);
    run_free(&r);
    char name[32], file[600];
    partition_name(typed_partition_16(token), name, sizeof name);
    snprintf(file, sizeof file, "%s/d.json", dir);
    const char *stat_argv[] = {tool(), "stat", file, NULL};
    r = run_env(stat_argv, (const char *[]){NULL}, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    const char *l = line_of(r.out, name);
    cr_assert_not_null(l, "%s", r.out);
    char want[128];
    snprintf(want, sizeof want, "%-18s   100  ++++++++++ Widget", name);
    cr_expect_str_eq(copy_line(l), want);
    run_free(&r);
    const char *all_argv[] = {tool(), "stat", "--all-types", file, NULL};
    r = run_env(all_argv, (const char *[]){"COLUMNS=200", NULL}, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    l = line_of(r.out, name);
    cr_assert_not_null(l, "%s", r.out);
    cr_expect(strstr(copy_line(l), "Widget") && strstr(copy_line(l), "; "), "%s", copy_line(l));
    run_free(&r);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
