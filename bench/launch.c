/* launch — runs one benchmark process and reports its wall time and peak RSS.
 *
 *   launch REPORT [NAME=VALUE ...] -- PROGRAM [ARG ...]
 *
 * Forks, sets the NAME=VALUE variables in the child only (LD_PRELOAD,
 * PARTMALLOC_*), execs PROGRAM, reaps it with wait4 and writes one line to
 * the file REPORT:
 *     wall=<seconds> maxrss_kib=<ru_maxrss> status=<wait status>
 *
 * Why not let the driver spawn the program itself: Linux keeps a process's
 * peak RSS across exec, including the peak of the address space it had
 * before exec. A child spawned by the Python driver would start from
 * Python's ~15-20 MB high-water mark, which hides every smaller workload's
 * footprint. This launcher is small, does not allocate, and is not run with
 * the allocator under test preloaded, so its children start from ~1 MB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int sep = 2;
    while (sep < argc && strcmp(argv[sep], "--") != 0)
        sep++;
    if (argc < 4 || sep >= argc - 1) {
        fprintf(stderr, "usage: launch REPORT [NAME=VALUE ...] -- PROGRAM [ARG ...]\n");
        return 2;
    }
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("launch: fork");
        return 2;
    }
    if (pid == 0) {
        for (int i = 2; i < sep; i++)
            if (!strchr(argv[i], '=') || putenv(argv[i]) != 0)
                _exit(126);
        execv(argv[sep + 1], argv + sep + 1);
        fprintf(stderr, "launch: cannot execute %s: %s\n", argv[sep + 1], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR) {
            perror("launch: wait4");
            return 2;
        }
    double t1 = now();
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror("launch: report");
        return 2;
    }
    fprintf(f, "wall=%.6f maxrss_kib=%ld status=%d\n", t1 - t0, ru.ru_maxrss, status);
    return fclose(f) == 0 ? 0 : 2;
}
