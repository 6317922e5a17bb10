/* partmalloc run: a program with partmalloc preloaded, its partitions
 * printed (on stderr, like time(1)) when it exits. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <unistd.h>

#include "commands.h"
#include "collapse.h"
#include "dump.h"
#include "html.h"
#include "labels.h"
#include "spawn.h"
#include "stats_sum.h"

struct run_options {
    const char *mode;           /* NULL: the library's default */
    const char *partitions;
    const char *seed;           /* NULL: a random key per process */
    enum pm_stats_format format;
    bool census;                /* use the counting build when there is one */
    bool all_types;             /* every type that maps to a partition, not just those allocated */
    bool sum_processes;         /* --processes sum: every process's statistics added up */
    const char *html;           /* NULL, or where to write the page */
    char **argv;                /* the program and its arguments */
};

static bool valid_partitions(const char *v) {
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    return *v && !*end && n >= 1 && n <= PARTMALLOC_MAX_PARTITIONS && (n & (n - 1)) == 0;
}

/* What PARTMALLOC_SEED accepts: a 64-bit number, decimal or 0x-prefixed. */
static bool valid_seed(const char *v) {
    if (!isdigit((unsigned char)*v))
        return false;
    char *end;
    errno = 0;
    (void)strtoull(v, &end, 0);
    return errno == 0 && *end == '\0';
}

static const char run_usage[] =
    "usage: partmalloc run [--mode typed|random|none] [--partitions N] [--stats histogram|slabinfo|json]\n"
    "                      [--seed N] [--no-census] [--all-types] [--processes main|sum] [--html FILE]\n"
    "                      [--] PROGRAM ARGS...\n"
    "Runs PROGRAM with partmalloc preloaded (the counting build, which names the types in\n"
    "each partition, unless --no-census) and prints its partitions on stderr when it exits.\n"
    "--all-types lists every type that maps to each partition, not only those allocated.\n"
    "--processes sum adds up the statistics of the program and of every process it started\n"
    "(one sum per configuration); main, the default, shows the program's alone.\n"
    "--html FILE also writes the statistics as a self-contained HTML page to FILE.\n"
    "--seed N fixes the call-site hash key and turns address randomization off for PROGRAM,\n"
    "so random placement repeats run after run (for tests only: both weaken the program).\n"
    "The exit status is the program's.\n";

static const char run_accepted[] = "(accepted: --mode, --partitions, --stats, --seed, --no-census, --all-types, --processes, --html, --)";
enum { OPT_MODE = 256, OPT_PARTITIONS, OPT_STATS, OPT_SEED, OPT_NO_CENSUS, OPT_ALL_TYPES, OPT_PROCESSES, OPT_HTML };
static const struct option run_longopts[] = {
    {"mode", required_argument, NULL, OPT_MODE},
    {"partitions", required_argument, NULL, OPT_PARTITIONS},
    {"stats", required_argument, NULL, OPT_STATS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"no-census", no_argument, NULL, OPT_NO_CENSUS},
    {"all-types", no_argument, NULL, OPT_ALL_TYPES},
    {"processes", required_argument, NULL, OPT_PROCESSES},
    {"html", required_argument, NULL, OPT_HTML},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The options end at "--" or at the program. Returns -1 to go on, or the
 * exit status. */
static int parse_run_options(int argc, char **argv, struct run_options *o) {
    *o = (struct run_options){.format = PM_STATS_HISTOGRAM, .census = true};
    const char *arg;
    int c;
    while ((c = next_option(argc, argv, "+:h", run_longopts, &arg)) != -1) {
        switch (c) {
        case 'h':
            fputs(run_usage, stdout);
            return 0;
        case OPT_NO_CENSUS:
            o->census = false;
            break;
        case OPT_ALL_TYPES:
            o->all_types = true;
            break;
        case OPT_HTML:
            if (!*optarg)
                return usage_error("run", "--html needs a file name");
            o->html = optarg;
            break;
        case OPT_MODE:
            if (strcmp(optarg, "typed") && strcmp(optarg, "random") && strcmp(optarg, "none"))
                return usage_error("run", "invalid --mode '%s' (accepted: typed, random, none)", optarg);
            o->mode = optarg;
            break;
        case OPT_PARTITIONS:
            if (!valid_partitions(optarg))
                return usage_error("run", "invalid --partitions '%s' (accepted: 1, 2, 4, 8, 16, 32, 64)", optarg);
            o->partitions = optarg;
            break;
        case OPT_SEED:
            if (!valid_seed(optarg))
                return usage_error("run", "invalid --seed '%s' (accepted: a 64-bit number, decimal or 0x...)",
                                   optarg);
            o->seed = optarg;
            break;
        case OPT_PROCESSES:
            if (strcmp(optarg, "main") && strcmp(optarg, "sum"))
                return usage_error("run", "invalid --processes '%s' (accepted: main, sum)", optarg);
            o->sum_processes = strcmp(optarg, "sum") == 0;
            break;
        case OPT_STATS:
            if (!pm_stats_format_parse(optarg, strlen(optarg), &o->format))
                return usage_error("run", "invalid --stats '%s' (accepted: histogram, slabinfo, json)", optarg);
            break;
        case ':':
            return usage_error("run", "option '%s' needs a value", arg);
        default:
            return usage_error("run", "unknown option '%s' %s", arg, run_accepted);
        }
    }
    /* getopt takes a lone "-" for the program; it is an option here unless "--" came first */
    if (!arg && optind < argc && strcmp(argv[optind], "-") == 0)
        return usage_error("run", "unknown option '-' %s", run_accepted);
    if (o->html && o->sum_processes) /* the page shows one process's statistics, not sums */
        return usage_error("run", "--html shows the program's statistics alone; it cannot be used with --processes sum");
    if (optind >= argc)
        return usage_error("run", "no program given (usage: partmalloc run [OPTIONS] -- PROGRAM ARGS...)");
    o->argv = argv + optind;
    return -1;
}

/* The library to preload: the counting build (for the census of types per
 * partition) if it was built or installed, else the plain one. */
static void library_path(bool census, char *out, size_t size) {
    const char *dir = tool_lib_dir();
    if (census) {
        snprintf(out, size, "%s/stats/libpartmalloc.so", dir);
        if (access(out, R_OK) == 0)
            return;
        snprintf(out, size, "%s/partmalloc/libpartmalloc-counting.so", dir);
        if (access(out, R_OK) == 0)
            return;
    }
    /* The soname: the runtime package has it, the unversioned link is the
     * development package's. */
    snprintf(out, size, "%s/" PM_LIB_SONAME, dir);
}

/* What the program's environment gets (in the child, before exec). */
struct child_env {
    const struct run_options *o;
    const char *lib, *dump_dir;
};

static void set_environment(void *arg) {
    const struct child_env *e = arg;
    const struct run_options *o = e->o;
    const char *lib = e->lib, *dump_dir = e->dump_dir;
    char preload[8192];
    const char *old = getenv("LD_PRELOAD");
    snprintf(preload, sizeof preload, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
    setenv("LD_PRELOAD", preload, 1);
    if (o->mode)
        setenv("PARTMALLOC_MODE", o->mode, 1);
    if (o->partitions)
        setenv("PARTMALLOC_PARTITIONS", o->partitions, 1);
    /* The key alone does not repeat a placement: the hash takes each call
     * site's address, which moves with every run under ASLR. */
    if (o->seed) {
        setenv("PARTMALLOC_SEED", o->seed, 1);
        int persona = personality(0xffffffff);
        if (persona == -1 || personality((unsigned long)persona | ADDR_NO_RANDOMIZE) == -1)
            fprintf(stderr, "partmalloc run: cannot turn address randomization off (%s): "
                    "--seed fixes the key, but placement may differ between runs\n", strerror(errno));
    }
    char stats[4200];
    snprintf(stats, sizeof stats, "%s/stats-%%p.json,json", dump_dir);
    setenv("PARTMALLOC_STATS", stats, 1);
    /* so that `partmalloc stat PID` can look at it while it runs */
    if (!getenv("PARTMALLOC_STATS_SIGNAL"))
        setenv("PARTMALLOC_STATS_SIGNAL", "USR2", 1);
}

static void say_killed(const char *program, pid_t pid, int killed_by) {
    const char *name = sigabbrev_np(killed_by);
    fprintf(stderr, "partmalloc run: %s (pid %d) was killed by signal %d (%s%s)\n", program, (int)pid, killed_by,
            name ? "SIG" : "", name ? name : "unknown");
}

/* Prints the program's statistics, or says why there are none: `killed_by`
 * is the signal that killed it, or 0. */
static void print_dump(const char *path, const char *program, pid_t pid, int killed_by, const struct run_options *o) {
    enum pm_stats_format format = o->format;
    struct dump d;
    char err[512];
    if (killed_by) {
        say_killed(program, pid, killed_by);
        if (access(path, R_OK) != 0) /* a killed process writes none, unless it did before */
            return;
    }
    if (access(path, R_OK) != 0) {
        fprintf(stderr,
                "partmalloc run: no statistics from %s (pid %d): it ended through _exit, or did not load partmalloc "
                "(statically linked or set-user-ID)\n",
                program, (int)pid);
        return;
    }
    if (dump_load(path, &d, err, sizeof err) != 0) {
        fprintf(stderr, "partmalloc run: no statistics from %s (pid %d): %s\n", program, (int)pid, err);
        return;
    }
    d.view.count_allocations = true; /* most programs free nearly everything by exit */
    if ((format != PM_STATS_JSON || o->html) && labels_attach(&d, d.exe && *d.exe ? d.exe : program, o->all_types, err, sizeof err) != 0)
        fprintf(stderr, "partmalloc run: no type names: %s\n", err);
    dump_print(&d, format, stderr);
    collapse_report(&d, "run", stderr);
    if (o->html && html_write(&d, o->html, err, sizeof err) != 0)
        fprintf(stderr, "partmalloc run: --html: %s\n", err);
    dump_free(&d);
}

/* Processes the program started write their own dumps; says how many. */
static void mention_other_dumps(const char *dir, pid_t main_pid) {
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '^stats-[0-9]*\\.json$'", dir);
    FILE *ls = popen(cmd, "r");
    int files = 0;
    if (ls && fscanf(ls, "%d", &files) != 1)
        files = 0;
    if (ls)
        pclose(ls);
    char own[4200];
    snprintf(own, sizeof own, "%s/stats-%d.json", dir, (int)main_pid);
    int others = files - (access(own, R_OK) == 0);
    if (others > 0)
        fprintf(stderr, "partmalloc run: %d other process%s started by the program also ran on partmalloc (not shown: --processes sum adds them in)\n",
                others, others == 1 ? "" : "es");
}

static void remove_dir(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "partmalloc run: could not remove %s\n", dir);
}

/* Termination signals sent to run are passed on to the program, so that
 * run outlives it, reports and removes its directory; a signal the caller
 * ignores (nohup) stays ignored, for run and the program. */
static const int passed_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, 0};

/* Whether the page could be written at `path`: checked before the program
 * starts, so that a long run does not end without its page. 0, or errno. */
static int html_path_error(const char *path) {
    if (access(path, F_OK) == 0)
        return access(path, W_OK) == 0 ? 0 : errno;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    return access(dir, W_OK | X_OK) == 0 ? 0 : errno;
}

int cmd_run(int argc, char **argv) {
    struct run_options o;
    int rc = parse_run_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    int html_error = o.html ? html_path_error(o.html) : 0;
    if (html_error)
        return fail("run", "--html: cannot write '%s': %s (the program was not started)", o.html, strerror(html_error));
    char lib[4096];
    library_path(o.census, lib, sizeof lib);
    if (access(lib, R_OK) != 0)
        return fail("run", "cannot find the library %s", lib);
    char dump_dir[] = "/tmp/partmalloc-run-XXXXXX";
    if (!mkdtemp(dump_dir))
        return fail("run", "cannot create a temporary directory: %s", strerror(errno));
    struct child_env env = {&o, lib, dump_dir};
    struct spawn child = {.argv = o.argv, .search_path = true, .sub = "run", .in_child = set_environment,
                          .child_arg = &env, .forward = passed_signals};
    if (spawn_start(&child) != 0)
        return fail("run", "fork: %s", strerror(errno));
    pid_t pid = child.pid;
    int sig;
    int status = spawn_wait(&child, &sig);
    char path[4200];
    snprintf(path, sizeof path, "%s/stats-%d.json", dump_dir, (int)pid);
    if (o.sum_processes) {
        if (sig)
            say_killed(o.argv[0], pid, sig);
        struct stats_sum_request sum = {dump_dir, pid, o.argv[0], o.format, o.all_types};
        if (status != 127 || access(path, R_OK) == 0) /* 127: perhaps never started */
            stats_sum_print(&sum, stderr);
    } else {
        if (status != 127 || access(path, R_OK) == 0)
            print_dump(path, o.argv[0], pid, sig, &o);
        mention_other_dumps(dump_dir, pid);
    }
    remove_dir(dump_dir);
    /* killed by one of them: end the same way, as the shell expects */
    for (const int *p = passed_signals; *p; p++)
        if (sig == *p) {
            signal(sig, SIG_DFL);
            raise(sig);
        }
    return status;
}
