/* What a process costs at start, with whichever allocator it runs (built
 * without partmalloc; tests/scripts/startup_cost.sh runs it with and
 * without LD_PRELOAD). It prints one line of `key=value` figures:
 *   idle_faults idle_maps idle_rss_kb    at the start of main: minor faults
 *                                        so far, lines of /proc/self/maps,
 *                                        resident KiB
 *   malloc_faults malloc_maps malloc_rss_kb   the same after one malloc(32)
 *                                        (and its free): faults added, maps
 *                                        and resident KiB then
 *   fork_parent_faults                   minor faults fork() cost the parent
 *   fork_child_faults                    minor faults of the child from fork
 *                                        to its exit, having done one
 *                                        malloc(32) and its free
 * Nothing here allocates through malloc but the one call measured: the
 * files are read with read(2) into static buffers. Exits 0 when every
 * figure was read, 1 otherwise. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static char buf[1 << 20];

static long minor_faults(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : -1;
}

/* The whole file in buf (NUL-terminated); its length, -1 on failure. */
static long slurp(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    long n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - (size_t)n);
        if (r <= 0)
            break;
        n += r;
    }
    close(fd);
    buf[n] = '\0';
    return n;
}

static long mappings(void) {
    long n = slurp("/proc/self/maps"), lines = 0;
    for (long i = 0; i < n; i++)
        lines += buf[i] == '\n';
    return n < 0 ? -1 : lines;
}

static long rss_kb(void) {
    if (slurp("/proc/self/status") < 0)
        return -1;
    const char *p = strstr(buf, "\nVmRSS:");
    return p ? strtol(p + 7, NULL, 10) : -1;
}

int main(void) {
    long idle_faults = minor_faults();
    long idle_maps = mappings(), idle_rss = rss_kb();

    long before = minor_faults();
    void *volatile p = malloc(32);
    free(p);
    long malloc_faults = minor_faults() - before;
    long malloc_maps = mappings(), malloc_rss = rss_kb();

    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    before = minor_faults();
    pid_t pid = fork();
    if (pid == 0) {
        void *volatile q = malloc(32);
        free(q);
        long child = minor_faults();
        ssize_t w = write(fds[1], &child, sizeof child);
        _exit(w == (ssize_t)sizeof child ? 0 : 1);
    }
    long parent_faults = minor_faults() - before;
    long child_faults = -1;
    int status = 0;
    if (pid < 0 || read(fds[0], &child_faults, sizeof child_faults) != (ssize_t)sizeof child_faults ||
        waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        child_faults = -1;

    printf("idle_faults=%ld idle_maps=%ld idle_rss_kb=%ld malloc_faults=%ld malloc_maps=%ld malloc_rss_kb=%ld "
           "fork_parent_faults=%ld fork_child_faults=%ld\n",
           idle_faults, idle_maps, idle_rss, malloc_faults, malloc_maps, malloc_rss, parent_faults, child_faults);
    return idle_faults < 0 || idle_maps < 0 || idle_rss < 0 || malloc_maps < 0 || malloc_rss < 0 || child_faults < 0;
}
