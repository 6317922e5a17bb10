/* Runs a program as the command's child (spawn.h): fork, exec, wait, and
 * the signals passed on to it or ignored while it runs. */
#define _GNU_SOURCE
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The child's pid while it runs, for the handler that passes signals on. */
static volatile sig_atomic_t child_pid;

static void pass_on(int sig) {
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

static void save_action(struct spawn *s, int sig, const struct sigaction *now) {
    if (s->nsaved == SPAWN_MAX_SIGNALS)
        abort(); /* a caller's list is longer than spawn keeps */
    s->saved_signal[s->nsaved] = sig;
    sigaction(sig, now, &s->saved_action[s->nsaved]);
    s->nsaved++;
}

/* Installs the handlers of s->forward (except where the caller ignores the
 * signal: nohup stays in force, for us and the child) and s->ignore; adds
 * the forwarded signals to *mask. */
static void take_signals(struct spawn *s, sigset_t *mask) {
    struct sigaction forward = {.sa_handler = pass_on}, ignore = {.sa_handler = SIG_IGN};
    sigemptyset(&forward.sa_mask);
    sigemptyset(&ignore.sa_mask);
    s->nsaved = 0;
    for (const int *sig = s->forward; sig && *sig; sig++) {
        struct sigaction old;
        sigaction(*sig, NULL, &old);
        save_action(s, *sig, old.sa_handler == SIG_IGN ? NULL : &forward);
        sigaddset(mask, *sig);
    }
    for (const int *sig = s->ignore; sig && *sig; sig++)
        save_action(s, *sig, &ignore);
}

static void give_signals_back(struct spawn *s) {
    for (int i = 0; i < s->nsaved; i++)
        sigaction(s->saved_signal[i], &s->saved_action[i], NULL);
    s->nsaved = 0;
}

static _Noreturn void exec_child(struct spawn *s, const sigset_t *old_mask, int stderr_to) {
    give_signals_back(s);
    sigprocmask(SIG_SETMASK, old_mask, NULL);
    if (stderr_to >= 0)
        dup2(stderr_to, 2);
    if (s->in_child)
        s->in_child(s->child_arg);
    if (s->search_path)
        execvp(s->argv[0], s->argv);
    else
        execv(s->argv[0], s->argv);
    const char *q = s->quote_program ? "'" : "";
    fprintf(stderr, "partmalloc %s: cannot run %s%s%s: %s\n", s->sub, q, s->argv[0], q, strerror(errno));
    _exit(127);
}

int spawn_start(struct spawn *s) {
    int fds[2] = {-1, -1};
    s->pid = -1;
    s->stderr_fd = -1;
    if (s->pipe_stderr && pipe2(fds, O_CLOEXEC) != 0)
        return SPAWN_NO_PIPE;
    sigset_t mask, old;
    sigemptyset(&mask);
    take_signals(s, &mask);
    /* held until child_pid is set, so that none is lost */
    sigprocmask(SIG_BLOCK, &mask, &old);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        exec_child(s, &old, fds[1]);
    int fork_errno = errno;
    child_pid = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (fds[1] >= 0)
        close(fds[1]);
    if (pid < 0) {
        child_pid = 0;
        if (fds[0] >= 0)
            close(fds[0]);
        give_signals_back(s);
        errno = fork_errno;
        return SPAWN_NO_FORK;
    }
    s->pid = pid;
    s->stderr_fd = fds[0];
    return 0;
}

int spawn_wait(struct spawn *s, int *killed_by) {
    int status = 0, rc;
    while ((rc = waitpid(s->pid, &status, 0)) < 0 && errno == EINTR)
        ;
    child_pid = 0;
    give_signals_back(s);
    if (killed_by)
        *killed_by = 0;
    if (rc < 0)
        return 1;
    if (WIFSIGNALED(status)) {
        if (killed_by)
            *killed_by = WTERMSIG(status);
        return 128 + WTERMSIG(status);
    }
    return WEXITSTATUS(status);
}

bool spawn_find_program(const char *name, const char *skip_dir, char *out, size_t size) {
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    size_t skip_len = skip_dir ? strlen(skip_dir) : 0;
    while (*path) {
        size_t len = strcspn(path, ":");
        bool skipped = skip_dir && len == skip_len && strncmp(path, skip_dir, len) == 0;
        if (!skipped) {
            snprintf(out, size, "%.*s/%s", len ? (int)len : 1, len ? path : ".", name);
            if (access(out, X_OK) == 0)
                return true;
        }
        path += len;
        if (*path == ':')
            path++;
    }
    return false;
}
