/* spawn — start-up and idle cost: the program starts `n` copies of itself,
 * one after another, each a small process that allocates a little and
 * exits (a shell command, a git subprocess, a CGI request). The allocator
 * under test is preloaded into every copy (LD_PRELOAD is inherited), so
 * the time per spawn is the cost of loading and initialising it plus the
 * process's own work, and the copies' figures are an idle process's.
 *
 * Each copy allocates and frees `objects` small blocks (16..256 bytes)
 * with the pattern of common.h, then reports through a pipe its resident
 * set (from /proc/self/statm) and the minor page faults it has taken
 * (getrusage). The parent reports the medians.
 *
 * With true=1 it starts /bin/true instead (the suite's spawn-true): a
 * process that allocates nothing of its own, whose cost is the loader's,
 * libc's and the allocator's start-up alone; its resident set (peak) and
 * faults are the ones wait4 reports.
 *
 * Reported on the closing line: per_spawn_us (wall time per copy, from
 * posix_spawn to reaping), idle_rss_kib and idle_faults (medians over the
 * copies).
 *
 * Parameters (name=value; defaults are the suite's):
 *   n        400   copies started
 *   objects  32    blocks each copy allocates and frees
 *   true     0     1: start /bin/true instead of copies of itself
 */
#include "common.h"

#include <spawn.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

extern char **environ;

static struct bench_param params[] = {
    {"n", 400, 1, 100000, "copies started, one after another"},
    {"objects", 32, 0, 100000, "small blocks each copy allocates and frees"},
    {"true", 0, 0, 1, "1: start /bin/true instead of copies of itself"},
};

/* /bin/true once: its peak RSS and minor faults from wait4. */
static void spawn_true(size_t i, long *rss, long *faults) {
    char *child_argv[] = {"/bin/true", NULL};
    pid_t pid;
    int err = posix_spawn(&pid, "/bin/true", NULL, NULL, child_argv, environ);
    if (err != 0)
        bench_fail("posix_spawn /bin/true: %s", strerror(err));
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        bench_fail("/bin/true %zu ended with status %d", i, status);
    *rss = ru.ru_maxrss;
    *faults = ru.ru_minflt;
}

/* A copy: allocate, check, free; write "rss_kib faults" to fd. */
static int child(int fd, size_t objects) {
    uint64_t asum = 0, fsum = 0;
    void **p = bench_malloc((objects ? objects : 1) * sizeof *p);
    struct rng rng;
    rng_seed(&rng, 7);
    for (size_t i = 0; i < objects; i++) {
        uint64_t tag = obj_tag(1, i);
        p[i] = obj_new(rng_range(&rng, 16, 256), tag);
        asum += tag;
    }
    for (size_t i = 0; i < objects; i++)
        fsum += obj_free(p[i]);
    bench_free(p);
    bench_check_tag_sums(asum, fsum);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char line[64];
    int len = snprintf(line, sizeof line, "%ld %ld\n", bench_rss_kib(), ru.ru_minflt);
    return write(fd, line, (size_t)len) == len ? 0 : 3;
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return child(atoi(argv[2]), (size_t)atol(argv[3]));
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "start-up: spawn small allocating copies of itself");
    size_t n = (size_t)params[0].value;
    long *rss = bench_malloc(n * sizeof *rss), *faults = bench_malloc(n * sizeof *faults);
    char objects[32];
    snprintf(objects, sizeof objects, "%ld", params[1].value);

    double t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
        if (params[2].value) {
            spawn_true(i, &rss[i], &faults[i]);
            continue;
        }
        int fds[2];
        if (pipe(fds) != 0)
            bench_fail("pipe: %s", strerror(errno));
        char fd_arg[16];
        snprintf(fd_arg, sizeof fd_arg, "%d", fds[1]);
        char *child_argv[] = {argv[0], "--child", fd_arg, objects, NULL};
        pid_t pid;
        int err = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, child_argv, environ);
        if (err != 0)
            bench_fail("posix_spawn: %s", strerror(err));
        close(fds[1]);
        char line[64] = "";
        ssize_t got = read(fds[0], line, sizeof line - 1);
        close(fds[0]);
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            bench_fail("copy %zu ended with status %d", i, status);
        if (got <= 0 || sscanf(line, "%ld %ld", &rss[i], &faults[i]) != 2)
            bench_fail("copy %zu reported nothing", i);
    }
    double t1 = bench_now();
    qsort(rss, n, sizeof *rss, cmp_long);
    qsort(faults, n, sizeof *faults, cmp_long);
    char extra[160];
    snprintf(extra, sizeof extra, "per_spawn_us=%.1f idle_rss_kib=%ld idle_faults=%ld", (t1 - t0) * 1e6 / (double)n,
             rss[n / 2], faults[n / 2]);
    bench_free(rss);
    bench_free(faults);
    bench_report(mix64((uint64_t)n) ^ (uint64_t)params[1].value ^ ((uint64_t)params[2].value << 32), t1 - t0, extra);
    return 0;
}
