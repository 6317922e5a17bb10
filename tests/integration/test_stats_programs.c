/* Statistics of a separate process (the suite "stats", like
 * tests/unit/test_stats.c): tests/helpers/stats_pattern allocates a known
 * pattern, and its at-exit and on-signal dumps must show exactly that; bad
 * statistics options name themselves. */
#include "testutil.h"

#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>

static uint64_t json_u64(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    cr_assert(json_is_integer(v), "missing integer %s", key);
    return (uint64_t)json_integer_value(v);
}

static char *helper(void) {
    static char path[512];
    snprintf(path, sizeof path, "%s/tests/helpers/stats_pattern", build_dir());
    return path;
}

/* Checks a histogram printed by stats_pattern: partition p of the known
 * groups (04-15) has (p+1)*10, the unknown group (00-03) none. */
static void expect_pattern_histogram(const char *text) {
    cr_assert(strncmp(text, "partmalloc: typed mode, 16 partitions, token max 16, pid ", 57) == 0, "%.100s", text);
    const char *line = strchr(text, '\n') + 1;
    line = strchr(line, '\n') + 1;
    for (int p = 15; p >= 0; p--, line = strchr(line, '\n') + 1) {
        unsigned long long objs;
        char name[32];
        cr_assert_eq(sscanf(line, "%31s %llu", name, &objs), 2);
        cr_expect_eq(objs, p < 4 ? 0 : (unsigned long long)(p + 1) * 10, "%s: %llu", name, objs);
    }
    static const char summary[] =
        "         260 objects in 04-07 types without pointers\n"
        "        1000 objects in 08-15 types with pointers\n"
        "           0 objects in 00-03 unknown types (0, void, >= max), by call site\n"
        "  calls without a token: over all partitions (the program has no tokens)\n";
    cr_expect(strncmp(line, summary, sizeof summary - 1) == 0, "%.200s", line);
}

Test(stats, at_exit_to_stderr) {
    const char *argv[] = {helper(), NULL};
    const char *env[] = {"PARTMALLOC_STATS=stderr", "PARTMALLOC_TOKEN_MAX=16", "PARTMALLOC_PARTITIONS=16", NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    expect_pattern_histogram(r.err);
    run_free(&r);
}

/* stdout is a stream like stderr, not a file named "stdout": the helper
 * runs in an empty directory, which stays empty. */
Test(stats, at_exit_to_stdout) {
    char dir[] = "/tmp/pmstatsXXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char program[4096];
    cr_assert_not_null(realpath(helper(), program));
    const char *argv[] = {"sh", "-c", "cd \"$0\" && exec \"$1\"", dir, program, NULL};
    const char *env[] = {"PARTMALLOC_STATS=stdout", "PARTMALLOC_TOKEN_MAX=16", "PARTMALLOC_PARTITIONS=16", NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    cr_expect_str_empty(r.err);
    expect_pattern_histogram(r.out);
    run_free(&r);
    const char *env2[] = {"PARTMALLOC_STATS=stdout,json", NULL};
    r = run_env(argv, env2, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    json_error_t err;
    json_t *root = json_loads(r.out, 0, &err);
    cr_expect_not_null(root, "%s: %s", err.text, r.out);
    json_decref(root);
    run_free(&r);
    char file[600];
    snprintf(file, sizeof file, "%s/stdout", dir);
    cr_expect_neq(access(file, F_OK), 0, "%s was written", file);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

Test(stats, at_exit_to_a_file_in_each_format) {
    char dir[] = "/tmp/pmstatsXXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    const char *formats[] = {"histogram", "slabinfo", "json"};
    for (int i = 0; i < 3; i++) {
        char opt[600];
        snprintf(opt, sizeof opt, "PARTMALLOC_STATS=%s/out-%%p.txt,%s", dir, formats[i]);
        const char *argv[] = {helper(), NULL};
        const char *env[] = {opt, "PARTMALLOC_TOKEN_MAX=16", "PARTMALLOC_PARTITIONS=16", NULL};
        struct run r = run_env(argv, env, false);
        cr_assert_eq(exit_code(&r), 0, "%s", r.err);
        cr_expect_str_eq(r.err, "");
        run_free(&r);
        /* %p became the child's pid: exactly one file, named by it */
        char cmd[700];
        snprintf(cmd, sizeof cmd, "ls %s | grep -c '^out-[0-9]*\\.txt$'", dir);
        FILE *ls = popen(cmd, "r");
        int files = 0;
        cr_assert_eq(fscanf(ls, "%d", &files), 1);
        pclose(ls);
        cr_expect_eq(files, 1);
        snprintf(cmd, sizeof cmd, "cat %s/out-*.txt > %s/all && rm -f %s/out-*.txt", dir, dir, dir);
        cr_assert_eq(system(cmd), 0);
        char all[600];
        snprintf(all, sizeof all, "%s/all", dir);
        char *text = read_file(all);
        cr_assert_not_null(text);
        if (i == 0) {
            expect_pattern_histogram(text);
        } else if (i == 1) {
            cr_expect(strncmp(text, "slabinfo - version: 2.1\n", 24) == 0);
            for (int p = 4; p < 16; p++) { /* the known groups' partitions */
                char want[64];
                snprintf(want, sizeof want, "\nkmalloc-part-%02d-64 %6d ", p, (p + 1) * 10);
                cr_expect_not_null(strstr(text, want), "no line %s", want + 1);
            }
        } else {
            json_error_t err;
            json_t *root = json_loads(text, 0, &err);
            cr_assert_not_null(root, "%s", err.text);
            cr_expect_eq(json_u64(root, "token_max"), 16);
            json_decref(root);
        }
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

/* The dump on demand: the helper waits, the test signals it and reads the
 * JSON file it writes. */
Test(stats, dump_on_signal) {
    char dir[] = "/tmp/pmsigXXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char env_dir[64];
    snprintf(env_dir, sizeof env_dir, "PARTMALLOC_STATS_DIR=%s", dir);
    const char *argv[] = {helper(), "wait", NULL};
    const char *env[] = {"PARTMALLOC_STATS_SIGNAL=USR2", env_dir, "PARTMALLOC_TOKEN_MAX=16", "PARTMALLOC_PARTITIONS=16",
                         NULL};
    int out;
    pid_t pid = start_env(argv, env, &out);
    char ready[8] = "";
    cr_assert_eq(read(out, ready, 6), 6);
    cr_assert_str_eq(ready, "ready\n");
    cr_assert_eq(kill(pid, SIGUSR2), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/partmalloc-%d.json", dir, (int)pid);
    char *text = NULL;
    for (int i = 0; i < 500 && !(text = read_file(path)); i++)
        usleep(10000);
    cr_assert_not_null(text, "no dump at %s", path);
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    cr_assert_not_null(root, "%s", err.text);
    cr_expect_eq(json_u64(root, "pid"), (uint64_t)pid);
    uint64_t per_part[16] = {0};
    json_t *caches = json_object_get(root, "caches");
    for (size_t i = 0; i < json_array_size(caches); i++) {
        json_t *c = json_array_get(caches, i);
        if (strcmp(json_string_value(json_object_get(c, "kind")), "kmalloc") == 0)
            per_part[json_u64(c, "partition")] += json_u64(c, "active_objs");
    }
    for (int p = 0; p < 16; p++)
        cr_expect_eq(per_part[p], p < 4 ? 0 : (uint64_t)(p + 1) * 10, "partition %d", p);
    json_decref(root);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(stats, bad_options_name_themselves) {
    const char *argv[] = {helper(), NULL};
    const char *env1[] = {"PARTMALLOC_STATS=stderr,xml", NULL};
    struct run r = run_env(argv, env1, false);
    cr_expect_str_eq(r.err, "partmalloc: invalid PARTMALLOC_STATS='stderr,xml' (accepted: stderr, stdout or a file path, then "
                            "optionally ,histogram ,slabinfo or ,json); using no statistics\n");
    run_free(&r);
    const char *env2[] = {"PARTMALLOC_STATS_SIGNAL=HUP", NULL};
    r = run_env(argv, env2, false);
    cr_expect_str_eq(r.err, "partmalloc: invalid PARTMALLOC_STATS_SIGNAL='HUP' (accepted: USR1, USR2, or a signal "
                            "number: 10, 12, 34-64); using none\n");
    run_free(&r);
    /* an empty value is an invalid one, as for every option */
    static const struct {
        const char *setting, *message;
    } empty[] = {
        {"PARTMALLOC_STATS=", "partmalloc: invalid PARTMALLOC_STATS='' (accepted: stderr, stdout or a file path, then "
                              "optionally ,histogram ,slabinfo or ,json); using no statistics\n"},
        {"PARTMALLOC_STATS_SIGNAL=", "partmalloc: invalid PARTMALLOC_STATS_SIGNAL='' (accepted: USR1, USR2, or a "
                                     "signal number: 10, 12, 34-64); using none\n"},
        {"PARTMALLOC_STATS_DIR=", "partmalloc: invalid PARTMALLOC_STATS_DIR='' (accepted: a directory); using /tmp\n"},
        {"PARTMALLOC_MODE=", "partmalloc: invalid PARTMALLOC_MODE='' (accepted: typed, random, none); using typed\n"},
        {"PARTMALLOC_PARTITIONS=", "partmalloc: invalid PARTMALLOC_PARTITIONS='' (accepted: 1, 2, 4, 8, 16, 32, 64); "
                                   "using 16\n"},
        {"PARTMALLOC_PURGE=", "partmalloc: invalid PARTMALLOC_PURGE='' (accepted: decay, now, or a decay of 1 to "
                              "1073741824 cache operations); using decay\n"},
    };
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        const char *env[] = {empty[i].setting, NULL};
        r = run_env(argv, env, false);
        cr_expect_eq(exit_code(&r), 0, "%s", empty[i].setting);
        cr_expect_str_eq(r.err, empty[i].message, "%s", empty[i].setting);
        run_free(&r);
    }
    const char *env3[] = {"PARTMALLOC_STATS=/nonexistent-dir/stats.txt", NULL};
    r = run_env(argv, env3, false);
    cr_expect_str_eq(r.err, "partmalloc: cannot write statistics to /nonexistent-dir/stats.txt\n");
    cr_expect_eq(exit_code(&r), 0);
    run_free(&r);
}

/* The counting build's census counts what the histogram's <allocs> count:
 * a slot handed out by a kmalloc cache, not a call (a realloc in place, a
 * large block). Per partition, the census's allocations equal the kmalloc
 * caches' in every mode that spreads by call site or type. */
static void expect_census_matches_caches(const char *mode) {
    char path[512], libdir[512], mode_env[64];
    snprintf(path, sizeof path, "%s/tests/helpers/census_mix", build_dir());
    snprintf(libdir, sizeof libdir, "LD_LIBRARY_PATH=%s/stats", build_dir());
    snprintf(mode_env, sizeof mode_env, "PARTMALLOC_MODE=%s", mode);
    const char *argv[] = {path, NULL};
    const char *env[] = {libdir, mode_env, "PARTMALLOC_STATS=stderr,json", NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    json_error_t err;
    json_t *root = json_loads(r.err, 0, &err);
    cr_assert_not_null(root, "%s: %s", err.text, r.err);
    uint64_t from_caches[64] = {0}, from_census[64] = {0}, total = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(root, "caches"), i, v) {
        if (strcmp(json_string_value(json_object_get(v, "kind")), "kmalloc") != 0)
            continue;
        uint64_t p = json_u64(v, "partition");
        cr_assert_lt(p, 64);
        from_caches[p] += json_u64(v, "allocs");
    }
    json_array_foreach(json_object_get(root, "census"), i, v) {
        uint64_t p = json_u64(v, "partition");
        cr_assert_lt(p, 64);
        from_census[p] += json_u64(v, "allocs");
        total += json_u64(v, "allocs");
    }
    for (unsigned p = 0; p < 64; p++)
        cr_expect_eq(from_census[p], from_caches[p], "%s mode, partition %u: census %llu, caches %llu", mode, p,
                     (unsigned long long)from_census[p], (unsigned long long)from_caches[p]);
    /* 100 mallocs, 100 moving reallocs, 50 callocs, 50 aligned, 50 mallocs,
     * plus what libc's stdio takes: never the 300 in-place reallocs or the
     * 100 large blocks */
    cr_expect(total >= 350 && total < 400, "%s mode: census total %llu", mode, (unsigned long long)total);
    json_decref(root);
    run_free(&r);
}

Test(stats, census_counts_slots_like_the_caches) {
    expect_census_matches_caches("random");
    expect_census_matches_caches("typed");
}

/* ---- totals, width, the configuration at start ---- */

/* The line of `text` that starts with `prefix`, copied (NULL if none). */
static const char *line_starting(const char *text, const char *prefix) {
    static char line[1024];
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (strncmp(l, prefix, strlen(prefix)) == 0) {
            snprintf(line, sizeof line, "%.*s", (int)strcspn(l, "\n"), l);
            return line;
        }
    return NULL;
}

/* The histogram of stats_pattern ARG at exit, with `extra` settings. */
static struct run pattern_run(const char *arg, const char *extra1, const char *extra2) {
    const char *argv[] = {helper(), arg, NULL};
    const char *env[] = {"PARTMALLOC_STATS=stderr", "PARTMALLOC_TOKEN_MAX=16", "PARTMALLOC_PARTITIONS=16", extra1,
                         extra2, NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    return r;
}

/* Under strict (canary off: 64-byte slots) a thread's cache takes slots in
 * refills of 32 (half a bin of 64) and hands them out one by one, so the
 * peak counts whole refills: partition p's (p + 1) * 10 objects, 50 to
 * 160, take 64 to 160 slots, 1440 of 64 bytes in all (92160 bytes) for
 * 1260 live (80640 bytes); large blocks of 1100000 bytes take 269 pages
 * each. */
Test(stats, totals_give_live_and_peak_bytes) {
    struct run r = pattern_run("large", "PARTMALLOC_HARDEN=strict,canary=off", NULL);
    cr_expect_str_eq(line_starting(r.err, "small objects:"), "small objects: 1260 live, 78.8 KiB (peak 90.0 KiB)");
    cr_expect_str_eq(line_starting(r.err, "large blocks:"), "large blocks: 2 live, 2.1 MiB (peak 3, 3.2 MiB), 3 allocated");
    run_free(&r);
    /* freed: nothing live, the peak stays */
    r = pattern_run("free", "PARTMALLOC_HARDEN=strict,canary=off", NULL);
    cr_expect_str_eq(line_starting(r.err, "small objects:"), "small objects: 0 live, 0 B (peak 90.0 KiB)");
    cr_expect_str_eq(line_starting(r.err, "large blocks:"), "large blocks: 0 live, 0 B (peak 0, 0 B), 0 allocated");
    run_free(&r);
}

/* With thread caches the peak counts what they held too: at least the
 * live bytes, per cache and in all; the JSON has every total. */
Test(stats, peaks_with_thread_caches_cover_the_live_objects) {
    const char *argv[] = {helper(), "large", NULL};
    const char *env[] = {"PARTMALLOC_STATS=stderr,json", "PARTMALLOC_TOKEN_MAX=16", NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    json_error_t err;
    json_t *root = json_loads(r.err, 0, &err);
    cr_assert_not_null(root, "%s", err.text);
    json_t *small = json_object_get(root, "small"), *large = json_object_get(root, "large");
    cr_expect_eq(json_u64(small, "active_bytes"), 1260 * 64);
    cr_expect_geq(json_u64(small, "peak_bytes"), 1260 * 64);
    cr_expect_eq(json_u64(large, "peak_blocks"), 3);
    cr_expect_eq(json_u64(large, "peak_bytes"), 3 * 269 * 4096);
    cr_expect_eq(json_u64(large, "active_bytes"), 2 * 269 * 4096);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(root, "caches"), i, c)
        cr_expect_geq(json_u64(c, "peak_objs"), json_u64(c, "active_objs") + json_u64(c, "cached_objs"), "%s",
                      json_string_value(json_object_get(c, "name")));
    json_decref(root);
    run_free(&r);
}

/* COLUMNS sets the width: at 60 the bar of the largest partition (15,
 * 160 objects) is 60 - 27 = 33 wide and a longer line is cut to 57
 * characters and "..."; at 200 the same line is whole (the control: it is
 * wider than 60); with no COLUMNS and no terminal, 80 and a 40-wide bar. */
Test(stats, histogram_fits_the_width) {
    static const char unknown[] = "           0 objects in 00-03 unknown types (0, void, >= max), by call site";
    char bar33[128], bar40[128];
    snprintf(bar33, sizeof bar33, "kmalloc-part-15      160  %.33s", "++++++++++++++++++++++++++++++++++++++++");
    snprintf(bar40, sizeof bar40, "kmalloc-part-15      160  %.40s", "++++++++++++++++++++++++++++++++++++++++");
    struct run r = pattern_run(NULL, "COLUMNS=60", NULL);
    cr_expect_leq(widest_line(r.err), 60, "%s", r.err);
    cr_expect_str_eq(line_starting(r.err, "kmalloc-part-15 "), bar33);
    char cut[64];
    snprintf(cut, sizeof cut, "%.57s...", unknown);
    cr_expect_str_eq(line_starting(r.err, "           0 objects in 00-03"), cut);
    run_free(&r);
    r = pattern_run(NULL, "COLUMNS=200", NULL);
    cr_expect_gt(strlen(unknown), 60);
    cr_expect_str_eq(line_starting(r.err, "           0 objects in 00-03"), unknown);
    cr_expect_str_eq(line_starting(r.err, "kmalloc-part-15 "), bar40);
    run_free(&r);
    /* not a number, or out of 20..500: as if unset */
    const char *others[] = {NULL, "COLUMNS=abc", "COLUMNS=19", "COLUMNS=501"};
    for (size_t k = 0; k < sizeof others / sizeof others[0]; k++) {
        r = pattern_run(NULL, others[k], NULL);
        cr_expect_leq(widest_line(r.err), 80, "%s: %s", others[k], r.err);
        cr_expect_str_eq(line_starting(r.err, "kmalloc-part-15 "), bar40, "%s", others[k]);
        cr_expect_str_eq(line_starting(r.err, "           0 objects in 00-03"), unknown, "%s", others[k]);
        run_free(&r);
    }
}

/* The pid the first line of `err` names after ", pid ". */
static int pid_named(const char *err) {
    const char *at = strstr(err, ", pid ");
    int pid = 0;
    cr_assert(at && sscanf(at, ", pid %d", &pid) == 1 && pid > 0, "%s", err);
    return pid;
}

/* Runs stats_pattern with `env` and expects PARTMALLOC_VERBOSE's lines:
 * `head` (its pid appended), the preset, the features on and off. */
static void expect_verbose(const char *const *env, const char *head, const char *preset, const char *on,
                           const char *off) {
    const char *argv[] = {helper(), NULL};
    struct run r = run_env(argv, env, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    char want[512];
    snprintf(want, sizeof want,
             "%s, pid %d\npartmalloc: version " PARTMALLOC_VERSION ", hardening preset %s\n"
             "partmalloc:   on: %s\npartmalloc:   off: %s\n",
             head, pid_named(r.err), preset, on, off);
    cr_expect_str_eq(r.err, want);
    run_free(&r);
}

/* PARTMALLOC_VERBOSE=1: the configuration, once, before the program runs;
 * without it (the control), nothing. */
Test(stats, verbose_prints_the_configuration) {
    expect_verbose((const char *[]){"PARTMALLOC_VERBOSE=1", "PARTMALLOC_TOKEN_MAX=16", "PARTMALLOC_PARTITIONS=8",
                                    "PARTMALLOC_HARDEN=strict,canary=off", NULL},
                   "partmalloc: typed mode, 8 partitions, token max 16", "strict",
                   "slot_order group_guards slab_guards zero_on_free quarantine checked_usable large_quarantine "
                   "zero_inaccessible",
                   "canary large_reuse");
    expect_verbose((const char *[]){"PARTMALLOC_MODE=random", "PARTMALLOC_VERBOSE=1", NULL},
                   "partmalloc: random mode, 16 partitions", "default", "slot_order group_guards large_reuse",
                   "slab_guards zero_on_free canary quarantine checked_usable large_quarantine zero_inaccessible");
    const char *argv[] = {helper(), NULL};
    struct run r;
    const char *quiet[] = {"PARTMALLOC_VERBOSE=0", NULL};
    r = run_env(argv, quiet, false);
    cr_expect_str_empty(r.err);
    run_free(&r);
}

Test(stats, bad_verbose_names_itself) {
    const char *argv[] = {helper(), NULL};
    const char *values[] = {"PARTMALLOC_VERBOSE=yes", "PARTMALLOC_VERBOSE=", "PARTMALLOC_VERBOSE=2"};
    const char *shown[] = {"yes", "", "2"};
    for (size_t i = 0; i < 3; i++) {
        const char *env[] = {values[i], NULL};
        struct run r = run_env(argv, env, false);
        cr_expect_eq(exit_code(&r), 0);
        char want[200];
        snprintf(want, sizeof want, "partmalloc: invalid PARTMALLOC_VERBOSE='%s' (accepted: 0, 1); using 0\n",
                 shown[i]);
        cr_expect_str_eq(r.err, want);
        run_free(&r);
    }
}

/* stats_pattern with its stderr on a terminal `columns` wide (and COLUMNS
 * set to `env_columns` unless NULL): what it wrote, its "\r\n" made "\n". */
static char *pattern_on_terminal(unsigned short columns, const char *env_columns) {
    static char out[1 << 16];
    struct winsize ws = {.ws_row = 24, .ws_col = columns};
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    cr_assert_neq(pid, -1, "forkpty: %s", strerror(errno));
    if (pid == 0) {
        clear_partmalloc_env();
        unsetenv("COLUMNS");
        if (env_columns)
            setenv("COLUMNS", env_columns, 1);
        setenv("PARTMALLOC_STATS", "stderr", 1);
        setenv("PARTMALLOC_TOKEN_MAX", "16", 1);
        execl(helper(), helper(), (char *)NULL);
        _exit(127);
    }
    size_t n = 0;
    for (;;) { /* until the terminal hangs up: read fails with EIO */
        struct pollfd p = {master, POLLIN, 0};
        if (poll(&p, 1, 20000) <= 0)
            break;
        ssize_t k = read(master, out + n, sizeof out - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(master);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        if (out[i] != '\r')
            out[at++] = out[i];
    out[at] = '\0';
    return out;
}

/* On a terminal without COLUMNS the terminal's width holds: at 50 the bar
 * is 50 - 27 = 23 wide; COLUMNS wins over it (the control: 200, a bar of
 * 40 and a line wider than 50). */
Test(stats, histogram_fits_the_terminal) {
    char bar23[128], bar40[128];
    snprintf(bar23, sizeof bar23, "kmalloc-part-15      160  %.23s", "++++++++++++++++++++++++++++++++++++++++");
    snprintf(bar40, sizeof bar40, "kmalloc-part-15      160  %.40s", "++++++++++++++++++++++++++++++++++++++++");
    const char *text = pattern_on_terminal(50, NULL);
    cr_expect_leq(widest_line(text), 50, "%s", text);
    cr_expect_str_eq(line_starting(text, "kmalloc-part-15 "), bar23, "%s", text);
    text = pattern_on_terminal(50, "200");
    cr_expect_gt(widest_line(text), 50, "%s", text);
    cr_expect_str_eq(line_starting(text, "kmalloc-part-15 "), bar40, "%s", text);
}
