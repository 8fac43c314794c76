/* fork + _exit(0) in the child + waitpid in the parent, N times: the C reference for
 * threadbench's spawn/fork_exit_wait. Prints microseconds per iteration on stdout.
 *
 *   fork_exit_wait [N] [IDLE_THREADS]
 *
 * IDLE_THREADS (default 0) sleeping threads are started first: a multi-threaded parent forks
 * more slowly (glibc's multi-threaded fork path, and the kernel's work for an mm used by
 * several threads), and threadbench's bench process has criterion's helper thread. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *idle(void *arg) {
    for (;;) pause();
    return arg;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 2000;
    int idle_threads = argc > 2 ? atoi(argv[2]) : 0;
    for (int i = 0; i < idle_threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, idle, NULL) != 0) { perror("pthread_create"); return 1; }
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) _exit(0);
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "child %d failed\n", pid);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
    printf("%.3f\n", us / n);
    return 0;
}
