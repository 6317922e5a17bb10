/* Helpers shared by the test suites (C and C++). Criterion owns the cr_
 * prefix; an assertion of ours that reads like one of its is tu_. */
#ifndef PM_TESTUTIL_H
#define PM_TESTUTIL_H

#ifndef _GNU_SOURCE /* C++ compilers define it */
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/wait.h>
#include <unistd.h>

#include "partmalloc.h"

/* Resident bytes of this process (/proc/self/statm), 0 if unreadable;
 * read without stdio, so the reading allocates nothing. */
static inline size_t tu_rss_bytes(void) {
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0)
        return 0;
    buf[r] = '\0';
    unsigned long size = 0, resident = 0;
    if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
        return 0;
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* A size above the largest size class (1 MiB): a large block, a mapping of
 * its own, in every configuration. */
#define TU_LARGE_BLOCK (((size_t)1 << 20) + 100000)

/* Whether the page at `addr` is a guard mark (MADV_GUARD_INSTALL, which
 * the library uses for guards where the kernel has it): bit 58 of its
 * /proc/self/pagemap entry (Linux 6.15 and later; 0 before). */
static inline bool tu_guard_marked(const void *addr) {
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    unsigned long long entry = 0;
    off_t at = (off_t)((unsigned long)addr / 4096 * sizeof entry);
    bool marked = fd >= 0 && pread(fd, &entry, sizeof entry, at) == (ssize_t)sizeof entry && (entry >> 58 & 1);
    if (fd >= 0)
        close(fd);
    return marked;
}

/* Runs fn(arg) in a child process and returns what it wrote to stderr
 * (static buffer) and how it ended. */
struct death {
    int signal;       /* terminating signal, 0 if it exited */
    int exit_code;
    char stderr_text[1024];
};

static inline struct death run_in_child(void (*fn)(void *), void *arg) {
    struct death d;
    memset(&d, 0, sizeof d);
    int fds[2];
    cr_assert(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    char drain[4096];
    for (;;) { /* keep the first part; read to the end so the child never blocks */
        size_t room = sizeof d.stderr_text - 1 - got;
        r = room ? read(fds[0], d.stderr_text + got, room) : read(fds[0], drain, sizeof drain);
        if (r <= 0)
            break;
        if (room)
            got += (size_t)r;
    }
    close(fds[0]);
    int status;
    cr_assert(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status))
        d.signal = WTERMSIG(status);
    else
        d.exit_code = WEXITSTATUS(status);
    return d;
}

/* Asserts fn(arg) dies of SIGABRT printing exactly `expected` (one line). */
#define tu_expect_abort(fn, arg, expected)                                                         \
    do {                                                                                           \
        struct death d_ = run_in_child((fn), (arg));                                               \
        cr_expect_eq(d_.signal, SIGABRT, "expected SIGABRT, got signal %d exit %d, stderr: %s",    \
                     d_.signal, d_.exit_code, d_.stderr_text);                                     \
        cr_expect_str_eq(d_.stderr_text, (expected));                                              \
    } while (0)

struct run {
    int status;
    char *out; /* stdout, malloc'd */
    char *err; /* stderr, malloc'd */
};

/* The length of the longest line of `text`. */
static inline size_t widest_line(const char *text) {
    size_t most = 0;
    for (const char *l = text; *l;) {
        size_t n = strcspn(l, "\n");
        most = n > most ? n : most;
        l += n + (l[n] == '\n');
    }
    return most;
}

/* Unsets every PARTMALLOC_* variable the test runner inherited. */
extern char **environ;

static inline void clear_partmalloc_env(void) {
    for (;;) {
        char name[128] = "";
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "PARTMALLOC_", 11) == 0) {
                size_t len = strcspn(*e, "=");
                if (len < sizeof name) {
                    memcpy(name, *e, len);
                    name[len] = '\0';
                }
                break;
            }
        }
        if (!name[0])
            return;
        unsetenv(name);
    }
}

static inline void run_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap)
            *cap *= 2;
        *buf = (char *)realloc(*buf, *cap);
        cr_assert_not_null(*buf);
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* A pipe whose ends are closed in programs the test starts. */
static inline void pipe_cloexec(int fds[2]) {
    cr_assert(pipe(fds) == 0);
    cr_assert(fcntl(fds[0], F_SETFD, FD_CLOEXEC) == 0 && fcntl(fds[1], F_SETFD, FD_CLOEXEC) == 0);
}

/* Starts argv (a path, or a name looked up in PATH) with only `env`
 * ("NAME=value", NULL terminated) as its PARTMALLOC_* settings and its
 * stdout and stderr on out_fd and err_fd (-1: the test's own; pipes from
 * pipe_cloexec). `fixed_layout` turns address-space randomization off
 * in the child where the kernel allows. Returns the child's pid. */
static inline pid_t spawn_env(const char *const *argv, const char *const *env, bool fixed_layout, int out_fd,
                              int err_fd) {
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        if (out_fd >= 0)
            dup2(out_fd, 1);
        if (err_fd >= 0)
            dup2(err_fd, 2);
        clear_partmalloc_env();
        unsetenv("COLUMNS"); /* the histogram's width: 80 unless the test sets it */
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        if (fixed_layout)
            personality(ADDR_NO_RANDOMIZE); /* best effort */
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Starts argv like spawn_env without waiting for it: a program that
 * announces on stdout that it is ready and waits. Its stdout comes to *out
 * (the read end of a pipe, for the caller to close). Returns its pid. */
static inline pid_t start_env(const char *const *argv, const char *const *env, int *out) {
    int fds[2];
    pipe_cloexec(fds);
    pid_t pid = spawn_env(argv, env, false, fds[1], -1);
    close(fds[1]);
    *out = fds[0];
    return pid;
}

/* Runs argv like spawn_env and waits for it; collects stdout and stderr. */
static inline struct run run_env(const char *const *argv, const char *const *env, bool fixed_layout) {
    int out[2], err[2];
    pipe_cloexec(out);
    pipe_cloexec(err);
    pid_t pid = spawn_env(argv, env, fixed_layout, out[1], err[1]);
    close(out[1]);
    close(err[1]);
    struct run r = {0, NULL, NULL};
    size_t olen = 0, ocap = 1 << 15, elen = 0, ecap = 4096;
    r.out = (char *)calloc(1, ocap);
    r.err = (char *)calloc(1, ecap);
    struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        cr_assert(poll(fds, 2, 20000) > 0, "%s timed out", argv[0]);
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[4096];
            ssize_t n = read(fds[i].fd, chunk, sizeof chunk);
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            } else if (i == 0) {
                run_append(&r.out, &olen, &ocap, chunk, (size_t)n);
            } else {
                run_append(&r.err, &elen, &ecap, chunk, (size_t)n);
            }
        }
    }
    cr_assert(waitpid(pid, &r.status, 0) == pid);
    return r;
}

static inline void run_free(struct run *r) {
    free(r->out);
    free(r->err);
}

static inline int exit_code(const struct run *r) {
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 128 + WTERMSIG(r->status);
}

/* The directory of build products (tests run from the project root). */
static inline const char *build_dir(void) {
    const char *b = getenv("BUILD");
    return b && *b ? b : "build";
}

/* $BUILD/<rel>, in one of four rotating buffers (so that a call can take
 * a few of them at once). */
static inline const char *build_path(const char *rel) {
    static char paths[4][512];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 512, "%s/%s", build_dir(), rel);
    return p;
}

/* A PARTMALLOC_<name>=<value> setting for run_built; a NULL value leaves
 * it unset. */
struct setting {
    const char *name, *value;
};

/* Runs $BUILD/<dir>/<name>, a program the tests build, with `args` (NULL
 * terminated, or NULL) and as its only PARTMALLOC_* settings those of
 * `settings` (ended by a NULL name) that have a value; see run_env. */
static inline struct run run_built(const char *dir, const char *name, const char *const *args,
                                   const struct setting *settings, bool fixed_layout) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", build_dir(), dir, name);
    cr_assert(access(path, X_OK) == 0, "%s is not built (make test-build)", path);
    const char *argv[16] = {path};
    size_t na = 1;
    for (const char *const *a = args; a && *a; a++) {
        cr_assert(na < 15, "%s: too many arguments", name);
        argv[na++] = *a;
    }
    argv[na] = NULL;
    char text[8][256];
    const char *env[9];
    size_t ne = 0;
    for (const struct setting *s = settings; s && s->name; s++) {
        if (!s->value)
            continue;
        cr_assert(ne < 8, "%s: too many settings", name);
        int n = snprintf(text[ne], sizeof text[ne], "PARTMALLOC_%s=%s", s->name, s->value);
        cr_assert(n > 0 && (size_t)n < sizeof text[ne], "%s: setting too long", name);
        env[ne] = text[ne];
        ne++;
    }
    env[ne] = NULL;
    return run_env(argv, env, fixed_layout);
}

#endif
