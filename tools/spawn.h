/* The partmalloc command's one way to run another program as its child:
 * fork, exec (with a PATH search or not), wait, and the exit status as a
 * shell gives it (128 + signal for one that was killed). While the child
 * runs, chosen signals are passed on to it or ignored, so that the command
 * outlives it and can clean up or report. One child at a time. And where
 * in PATH a program is. */
#ifndef PM_TOOLS_SPAWN_H
#define PM_TOOLS_SPAWN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum { SPAWN_MAX_SIGNALS = 8 };

/* spawn_start's failures; errno tells why. */
enum { SPAWN_NO_PIPE = -1, SPAWN_NO_FORK = -2 };

struct spawn {
    /* Filled in by the caller. */
    char *const *argv;          /* the program and its arguments */
    bool search_path;           /* execvp (look argv[0] up in PATH) rather than execv */
    const char *sub;            /* the child says "partmalloc SUB: cannot run PROGRAM: why" */
    bool quote_program;         /* ... with 'PROGRAM' in quotes */
    bool pipe_stderr;           /* the child's stderr goes into a pipe: read it from stderr_fd */
    void (*in_child)(void *);   /* called in the child just before exec (its environment) */
    void *child_arg;
    const int *forward;         /* signals passed on to the child while it runs; 0 ends the list */
    const int *ignore;          /* signals ignored while it runs (the child gets the caller's way) */

    /* Set by spawn_start. */
    pid_t pid;
    int stderr_fd;              /* with pipe_stderr: the read end, for the caller to close */

    /* spawn's own. */
    int nsaved;
    int saved_signal[SPAWN_MAX_SIGNALS];
    struct sigaction saved_action[SPAWN_MAX_SIGNALS];
};

/* Starts the child. Returns 0, or SPAWN_NO_PIPE / SPAWN_NO_FORK with errno
 * set (nothing is left running or changed). A child whose exec fails says
 * so on its stderr and exits with 127. */
int spawn_start(struct spawn *s);

/* Waits for the child and puts the signal handling back. Returns its exit
 * status, or 128 + the signal that killed it; *killed_by (if not NULL) is
 * that signal, or 0. */
int spawn_wait(struct spawn *s, int *killed_by);

/* Finds the executable `name` in PATH (/usr/local/bin:/usr/bin:/bin when
 * PATH is unset or empty; an empty entry is the current directory), leaving
 * out the directory `skip_dir` (NULL: none) so that a command can find the
 * program it stands in for. Fills `out` with its path; false if none. */
bool spawn_find_program(const char *name, const char *skip_dir, char *out, size_t size);

#endif
