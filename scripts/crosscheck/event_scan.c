/* Minimal C loops for the event_scan_fds cross-check: N eventfds, the first readable (never
 * read), one blocking wait per iteration; prints ns per call for select, poll, epoll_wait.
 * Usage: event_scan N ITERS */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s N ITERS\n", argv[0]); return 2; }
    int n = atoi(argv[1]);
    long iters = atol(argv[2]);
    int *fds = calloc(n, sizeof *fds);
    int maxfd = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fds[i] < 0) { perror("eventfd"); return 1; }
        if (fds[i] > maxfd) maxfd = fds[i];
    }
    unsigned long long one = 1;
    if (write(fds[0], &one, sizeof one) != sizeof one) { perror("write"); return 1; }

    if (maxfd < FD_SETSIZE) {
        fd_set base, set;
        FD_ZERO(&base);
        for (int i = 0; i < n; i++) FD_SET(fds[i], &base);
        long ok = 0;
        double t = now_ns();
        for (long it = 0; it < iters; it++) {
            set = base;
            int r = select(maxfd + 1, &set, NULL, NULL, NULL);
            ok += (r == 1 && FD_ISSET(fds[0], &set));
        }
        printf("select %d %.1f\n", n, (now_ns() - t) / iters);
        if (ok != iters) { fprintf(stderr, "select missed\n"); return 1; }
    }
    {
        struct pollfd *p = calloc(n, sizeof *p);
        for (int i = 0; i < n; i++) { p[i].fd = fds[i]; p[i].events = POLLIN; }
        long ok = 0;
        double t = now_ns();
        for (long it = 0; it < iters; it++) {
            int r = poll(p, n, -1);
            int found = 0;
            for (int i = 0; i < n; i++) found += (p[i].revents & POLLIN) != 0;
            ok += (r == 1 && found == 1);
        }
        printf("poll %d %.1f\n", n, (now_ns() - t) / iters);
        if (ok != iters) { fprintf(stderr, "poll missed\n"); return 1; }
        free(p);
    }
    {
        int ep = epoll_create1(EPOLL_CLOEXEC);
        for (int i = 0; i < n; i++) {
            struct epoll_event ev = { .events = EPOLLIN, .data.u64 = i };
            if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev)) { perror("epoll_ctl"); return 1; }
        }
        struct epoll_event out[1];
        long ok = 0;
        double t = now_ns();
        for (long it = 0; it < iters; it++) ok += epoll_wait(ep, out, 1, -1) == 1;
        printf("epoll %d %.1f\n", n, (now_ns() - t) / iters);
        if (ok != iters) { fprintf(stderr, "epoll missed\n"); return 1; }
        close(ep);
    }
    for (int i = 0; i < n; i++) close(fds[i]);
    free(fds);
    return 0;
}
