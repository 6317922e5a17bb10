/* Helpers shared by the test suites. */
#ifndef PM_TESTUTIL_H
#define PM_TESTUTIL_H

#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "partmalloc.h"

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
#define cr_expect_abort(fn, arg, expected)                                                         \
    do {                                                                                           \
        struct death d_ = run_in_child((fn), (arg));                                               \
        cr_expect_eq(d_.signal, SIGABRT, "expected SIGABRT, got signal %d exit %d, stderr: %s",    \
                     d_.signal, d_.exit_code, d_.stderr_text);                                     \
        cr_expect_str_eq(d_.stderr_text, (expected));                                              \
    } while (0)

/* Runs a program with extra environment entries ("NAME=value", NULL
 * terminated) and returns its standard output (malloc'd) and exit status. */
static inline char *run_program(const char *const *argv, const char *const *env, int *status) {
    int fds[2];
    cr_assert(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    ssize_t r;
    while ((r = read(fds[0], out + len, cap - 1 - len)) > 0) {
        len += (size_t)r;
        if (cap - 1 - len < 4096) {
            cap *= 2;
            out = realloc(out, cap);
        }
    }
    out[len] = '\0';
    close(fds[0]);
    waitpid(pid, status, 0);
    return out;
}

/* The directory of build products (tests run from the project root). */
static inline const char *build_dir(void) {
    const char *b = getenv("BUILD");
    return b && *b ? b : "build";
}

#endif
