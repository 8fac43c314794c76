/* Minimal C loop for the event_scan_fds cross-check: N eventfds, fd 0 of them readable
 * (counter 1, never read), one blocking wait call per iteration, the same per-call work as
 * src/blocks/event_scan.rs (select rebuilds its fd_set and tests every fd; poll scans every
 * revents; epoll_wait reads its ready list). Prints "<fn> <n_fds> <ns per call>".
 * Usage: event_scan <n_fds> <iterations> [idle_threads]
 *
 * idle_threads (default 0) sleeping threads are started first. It matters: the kernel looks a
 * descriptor up without touching its reference count only while the file table is not shared
 * (a single-threaded process, fdget's fast path); in a multi-threaded process — threadbench's
 * bench process has criterion's helper threads — every select/poll of N descriptors does N
 * atomic get/put pairs more. */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void *idle(void *arg) {
    for (;;) pause();
    return arg;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s <n_fds> <iterations> [idle_threads]\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]);
    long iters = atol(argv[2]);
    int idle_threads = argc == 4 ? atoi(argv[3]) : 0;
    for (int i = 0; i < idle_threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, idle, NULL) != 0) die("pthread_create");
    }
    int *fds = calloc(n, sizeof *fds);
    int maxfd = -1;
    for (int i = 0; i < n; i++) {
        fds[i] = eventfd(i == 0 ? 1 : 0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fds[i] < 0) die("eventfd");
        if (fds[i] > maxfd) maxfd = fds[i];
    }

    if (maxfd < FD_SETSIZE) {
        fd_set set;
        double t0 = now_ns();
        for (long it = 0; it < iters; it++) {
            FD_ZERO(&set);
            for (int i = 0; i < n; i++) FD_SET(fds[i], &set);
            if (select(maxfd + 1, &set, NULL, NULL, NULL) != 1) die("select");
            int found = 0;
            for (int i = 0; i < n; i++) found += FD_ISSET(fds[i], &set) != 0;
            if (found != 1) die("select found");
        }
        printf("select %d %.0f\n", n, (now_ns() - t0) / iters);
    } else {
        printf("select %d skipped (fd %d >= FD_SETSIZE)\n", n, maxfd);
    }

    struct pollfd *pfds = calloc(n, sizeof *pfds);
    for (int i = 0; i < n; i++) {
        pfds[i].fd = fds[i];
        pfds[i].events = POLLIN;
    }
    double t0 = now_ns();
    for (long it = 0; it < iters; it++) {
        if (poll(pfds, n, -1) != 1) die("poll");
        int found = 0;
        for (int i = 0; i < n; i++) found += (pfds[i].revents & POLLIN) != 0;
        if (found != 1) die("poll found");
    }
    printf("poll %d %.0f\n", n, (now_ns() - t0) / iters);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    for (int i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) die("epoll_ctl");
    }
    struct epoll_event events[64];
    t0 = now_ns();
    for (long it = 0; it < iters; it++) {
        if (epoll_wait(ep, events, 64, -1) != 1 || events[0].data.u64 != 0) die("epoll_wait");
    }
    printf("epoll %d %.0f\n", n, (now_ns() - t0) / iters);

    close(ep);
    for (int i = 0; i < n; i++) close(fds[i]);
    free(fds);
    free(pfds);
    return 0;
}
