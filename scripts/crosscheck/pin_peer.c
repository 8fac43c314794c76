/* pin_peer: run a two-task benchmark (perf bench sched pipe) with its two tasks on two
 * different CPUs. perf has no per-task pinning: it forks (process mode) or creates two
 * threads (-T) after start-up. We start it on CPU A, watch /proc for the second task and
 * move that one to CPU B within microseconds of its creation, then wait for perf.
 *
 *   pin_peer A B process|thread -- perf bench sched pipe [-T] -l N
 *
 * process: the peer is perf's first child process; thread: the second thread perf creates
 * (its main thread only joins). Reports on stderr which task went where and after how long. */
#define _GNU_SOURCE
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int pin(pid_t tid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(tid, sizeof set, &set);
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* process mode: the first pid in /proc/<pid>/task/<pid>/children, or 0 */
static pid_t first_child(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int child = 0;
    if (fscanf(f, "%d", &child) != 1) child = 0;
    fclose(f);
    return child;
}

/* thread mode: the highest tid once perf has 3 tasks (main + 2 workers), or 0 */
static pid_t second_worker(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d) return 0;
    int n = 0, max = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int tid = atoi(e->d_name);
        if (tid > 0) { n++; if (tid > max) max = tid; }
    }
    closedir(d);
    return n >= 3 ? max : 0;
}

int main(int argc, char **argv) {
    if (argc < 6 || strcmp(argv[4], "--") != 0) {
        fprintf(stderr, "usage: pin_peer A B process|thread -- command...\n");
        return 2;
    }
    int a = atoi(argv[1]), b = atoi(argv[2]);
    int threads = strcmp(argv[3], "thread") == 0;
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
        if (pin(0, a) != 0) { perror("pin to A"); _exit(126); }
        execvp(argv[5], argv + 5);
        perror("exec");
        _exit(127);
    }
    double start = now_us();
    pid_t peer = 0;
    while (!peer) {
        peer = threads ? second_worker(pid) : first_child(pid);
        if (!peer && waitpid(pid, NULL, WNOHANG) == pid) {
            fprintf(stderr, "pin_peer: command ended before its second task appeared\n");
            return 1;
        }
        if (now_us() - start > 10e6) {
            fprintf(stderr, "pin_peer: no second task after 10 s\n");
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return 1;
        }
    }
    if (pin(peer, b) != 0) { perror("pin peer to B"); kill(pid, SIGKILL); waitpid(pid, NULL, 0); return 1; }
    fprintf(stderr, "pin_peer: task %d on CPU %d, peer %d moved to CPU %d %.0f us after start\n",
            pid, a, peer, b, now_us() - start);
    int status;
    if (waitpid(pid, &status, 0) != pid) { perror("waitpid"); return 1; }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
