/* partmalloc stat: the partitions of a running process (which must have
 * been started with PARTMALLOC_STATS_SIGNAL, as `partmalloc run` does), or
 * of a saved JSON dump. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "collapse.h"
#include "dump.h"
#include "html.h"
#include "labels.h"

/* Value of NAME in /proc/PID/environ (the environment the process started
 * with), copied into out; false if absent. */
static bool process_env(long pid, const char *name, char *out, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/environ", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t name_len = strlen(name);
    char *entry = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getdelim(&entry, &cap, '\0', f) > 0)
        if (strncmp(entry, name, name_len) == 0 && entry[name_len] == '=') {
            snprintf(out, size, "%s", entry + name_len + 1);
            found = true;
        }
    free(entry);
    fclose(f);
    return found;
}

static bool maps_partmalloc(long pid) {
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%ld/maps", pid);
    FILE *f = fopen(path, "r");
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, "libpartmalloc") != NULL;
    if (f)
        fclose(f);
    return found;
}

/* The signal PARTMALLOC_STATS_SIGNAL names, as the library reads it; 0 for
 * a value the library rejects (it then installed no handler). */
static int signal_of(const char *v) {
    if (strcmp(v, "USR1") == 0 || strcmp(v, "SIGUSR1") == 0)
        return SIGUSR1;
    if (strcmp(v, "USR2") == 0 || strcmp(v, "SIGUSR2") == 0)
        return SIGUSR2;
    char *end;
    errno = 0;
    unsigned long n = v[0] >= '0' && v[0] <= '9' ? strtoul(v, &end, v[0] == '0' && (v[1] == 'x' || v[1] == 'X') ? 16 : 10) : 0;
    if (errno || n == 0 || *end)
        return 0;
    return n == SIGUSR1 || n == SIGUSR2 || (n >= (unsigned long)SIGRTMIN && n <= (unsigned long)SIGRTMAX) ? (int)n : 0;
}

/* Whether process `pid` has a handler for `sig` (SigCgt in its status):
 * a signal it does not catch could kill it. */
static bool catches(long pid, int sig) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    unsigned long long mask = 0;
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = sscanf(line, "SigCgt: %llx", &mask) == 1;
    if (f)
        fclose(f);
    return found && (mask >> (sig - 1) & 1);
}

/* Whether process `pid` is `partmalloc run` (this command's executable,
 * by name, with "run" as its subcommand). */
static bool is_partmalloc_run(long pid) {
    char path[64], exe[4096], args[256];
    snprintf(path, sizeof path, "/proc/%ld/exe", pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    const char *base = strrchr(exe, '/');
    if (strcmp(base ? base + 1 : exe, "partmalloc") != 0)
        return false;
    snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t len = fread(args, 1, sizeof args - 1, f);
    fclose(f);
    args[len] = '\0';
    size_t first = strlen(args) + 1; /* argv[1] follows argv[0]'s NUL */
    return first < len && strcmp(args + first, "run") == 0;
}

/* The children of process `pid`: how many, the first in *child. */
static int children_of(long pid, long *child) {
    char path[80];
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", pid, pid);
    FILE *f = fopen(path, "r");
    int n = 0;
    long c;
    while (f && fscanf(f, "%ld", &c) == 1)
        if (n++ == 0)
            *child = c;
    if (f)
        fclose(f);
    return n;
}

/* `partmalloc run` stands for the program it runs: *pid becomes the
 * program's (said on stderr). Returns 0, or the exit status of a failure. */
static int follow_run(long *pid) {
    if (!is_partmalloc_run(*pid))
        return 0;
    long child = 0;
    if (children_of(*pid, &child) != 1)
        return fail("stat", "process %ld is `partmalloc run` with no program running", *pid);
    fprintf(stderr, "partmalloc stat: process %ld is `partmalloc run`; showing its program, process %ld\n", *pid, child);
    *pid = child;
    return 0;
}

/* Asks process `pid` for a dump and waits up to 5 s for it. */
static int request_dump(long pid, char *path, size_t size) {
    char sig[32], dir[4096] = "/tmp";
    if (kill((pid_t)pid, 0) != 0)
        return fail("stat", "no process %ld (%s)", pid, strerror(errno));
    if (!process_env(pid, "PARTMALLOC_STATS_SIGNAL", sig, sizeof sig))
        return fail("stat",
                    "process %ld was not started with PARTMALLOC_STATS_SIGNAL (start it with `partmalloc run`, "
                    "or set PARTMALLOC_STATS_SIGNAL=USR2)",
                    pid);
    if (!maps_partmalloc(pid))
        return fail("stat", "process %ld has not loaded libpartmalloc", pid);
    if (!signal_of(sig) || !catches(pid, signal_of(sig)))
        return fail("stat", "process %ld does not handle PARTMALLOC_STATS_SIGNAL=%s (the library rejected it, or the "
                            "program took the signal over); not sending it", pid, sig);
    process_env(pid, "PARTMALLOC_STATS_DIR", dir, sizeof dir);
    snprintf(path, size, "%s/partmalloc-%ld.json", dir[0] ? dir : "/tmp", pid);
    unlink(path);
    if (kill((pid_t)pid, signal_of(sig)) != 0)
        return fail("stat", "cannot signal process %ld: %s", pid, strerror(errno));
    for (int i = 0; i < 500; i++) {
        if (access(path, R_OK) == 0)
            return 0;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return fail("stat", "process %ld wrote no statistics to %s within 5 s", pid, path);
}

static bool all_digits(const char *s) {
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static const char stat_usage[] =
    "usage: partmalloc stat [--format histogram|slabinfo|json] [--all-types] [--html FILE] PID|DUMP-FILE\n"
    "Prints the partitions of a running process (one started with PARTMALLOC_STATS_SIGNAL,\n"
    "as `partmalloc run` does; the pid of `partmalloc run` itself stands for its program)\n"
    "or of a JSON dump saved from one. --all-types lists every type that maps to each\n"
    "partition, not only those allocated. --html FILE also writes them as a self-contained\n"
    "HTML page to FILE.\n";

static const struct option stat_longopts[] = {
    {"format", required_argument, NULL, 'f'},
    {"all-types", no_argument, NULL, 'a'},
    {"html", required_argument, NULL, 'w'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The one PID or FILE; options may come before or after it. */
static int take_target(const char **target, const char *arg) {
    if (*target)
        return usage_error("stat", "more than one process or file given ('%s', '%s')", *target, arg);
    *target = arg;
    return 0;
}

int cmd_stat(int argc, char **argv) {
    enum pm_stats_format format = PM_STATS_HISTOGRAM;
    const char *target = NULL, *arg, *html = NULL;
    bool all_types = false;
    int c, rc;
    while ((c = next_option(argc, argv, "-:h", stat_longopts, &arg)) != -1) {
        switch (c) {
        case 'h':
            fputs(stat_usage, stdout);
            return 0;
        case 'a':
            all_types = true;
            break;
        case 'w':
            if (!*optarg)
                return usage_error("stat", "--html needs a file name");
            html = optarg;
            break;
        case 'f':
            if (!pm_stats_format_parse(optarg, strlen(optarg), &format))
                return usage_error("stat", "invalid --format '%s' (accepted: histogram, slabinfo, json)", optarg);
            break;
        case 1:
            if ((rc = take_target(&target, optarg)))
                return rc;
            break;
        case ':':
            return usage_error("stat", "option '%s' needs a value", arg);
        default:
            return usage_error("stat", "unknown option '%s' (accepted: --format, --all-types, --html)", arg);
        }
    }
    for (; optind < argc; optind++) /* after "--" */
        if ((rc = take_target(&target, argv[optind])))
            return rc;
    if (!target)
        return usage_error("stat", "no process id or dump file given (usage: partmalloc stat [--format F] PID|FILE)");
    char path[4200];
    bool live = all_digits(target);
    if (live) {
        long pid = strtol(target, NULL, 10);
        if (kill((pid_t)pid, 0) == 0 && (rc = follow_run(&pid)))
            return rc;
        rc = request_dump(pid, path, sizeof path);
        if (rc)
            return rc;
    } else {
        snprintf(path, sizeof path, "%s", target);
    }
    struct dump d;
    char err[512];
    if (dump_load(path, &d, err, sizeof err) != 0)
        return fail("stat", "%s", err);
    if (live)
        unlink(path);
    if ((format != PM_STATS_JSON || html) && labels_attach(&d, d.exe, all_types, err, sizeof err) != 0)
        fprintf(stderr, "partmalloc stat: no type names: %s\n", err);
    bool ok = dump_print(&d, format, stdout);
    fflush(stdout);
    collapse_report(&d, "stat", stderr);
    if (html && html_write(&d, html, err, sizeof err) != 0) {
        fprintf(stderr, "partmalloc stat: --html: %s\n", err);
        ok = false;
    }
    dump_free(&d);
    return ok ? 0 : 1;
}
