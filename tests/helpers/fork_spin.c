/* Forks while three threads spin on malloc/free of one size, so that a lock
 * of the allocator is often held at the moment of fork. Each child must
 * allocate, free and exit within 2 s; prints "forks N ok M" (M children
 * that did) and exits 0 only if M == N.   fork_spin [N] */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;

static void *spin(void *arg) {
    while (!stop) {
        void *volatile p = malloc(32);
        free(p);
    }
    return arg;
}

/* Waits up to 2 s for child `pid`; true if it exited 0. */
static int child_done(pid_t pid) {
    for (int ms = 0; ms < 2000; ms++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) && WEXITSTATUS(status) == 0;
        usleep(1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

int main(int argc, char **argv) {
    int forks = argc > 1 ? atoi(argv[1]) : 500, ok = 0;
    pthread_t threads[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&threads[i], NULL, spin, NULL);
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            void *volatile p = malloc(32);
            free(p);
            _exit(0);
        }
        ok += pid > 0 && child_done(pid);
    }
    stop = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(threads[i], NULL);
    printf("forks %d ok %d\n", forks, ok);
    return ok == forks ? 0 : 1;
}
