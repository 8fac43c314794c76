/* pthread_create of an empty function + pthread_join, N times: the C reference for
 * threadbench's spawn/thread_spawn_join. Prints microseconds per iteration on stdout. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void *empty(void *arg) { return arg; }

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, empty, NULL) != 0) { perror("pthread_create"); return 1; }
        if (pthread_join(t, NULL) != 0) { perror("pthread_join"); return 1; }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
    printf("%.3f\n", us / n);
    return 0;
}
