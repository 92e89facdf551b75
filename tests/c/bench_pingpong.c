/* bench_pingpong: echo ping-pong load generator for scripts/bench_echo.sh (runs natively).
 *
 * Usage: bench_pingpong -p PORT [-c CONNS] [-d SECONDS] [-w WARMUP_SECONDS] [-s SIZE] [-P PID]
 *
 * Opens CONNS connections to 127.0.0.1:PORT (TCP_NODELAY), then one epoll thread keeps every
 * connection in lock-step: send SIZE bytes (default 64), wait for all SIZE bytes to come back,
 * send again. Round trips completed during the SECONDS (default 3) after a warm-up (default
 * 0.5 s) are counted. Every echo is checked (byte-for-byte) against what was sent.
 * Output: "conns=<C> seconds=<D> round_trips=<N> rt_per_s=<N/D>"; exit 1 on any error.
 * With -P PID (the server's), also " server_cpu_ns_per_rt=<ns>": the CPU time (user + system,
 * all its threads, from /proc/PID/stat) the server used during the counted SECONDS, per round
 * trip: its efficiency, independent of how the two processes share the CPUs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    size_t got;
    uint8_t seq;
    char msg[1024];
    char in[1024];
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t size = 64;

/* CPU time (utime + stime) of process PID in ns, -1 if unreadable. */
static double proc_cpu_ns(int pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long ut, st;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
    return (double)(ut + st) * 1e9 / (double)sysconf(_SC_CLK_TCK);
}

static int ping(struct conn *c) {
    c->seq++;
    memset(c->msg, 'a' + c->seq % 26, size);
    memcpy(c->msg, &c->fd, sizeof c->fd);
    c->got = 0;
    size_t off = 0;
    while (off < size) {
        ssize_t w = send(c->fd, c->msg + off, size - off, MSG_NOSIGNAL);
        if (w > 0) { off += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        return -1; /* a 64-byte send on an idle lock-step socket never blocks */
    }
    return 0;
}

int main(int argc, char **argv) {
    int port = 0, conns = 100, opt, server_pid = 0;
    double secs = 3, warm = 0.5;
    while ((opt = getopt(argc, argv, "p:c:d:w:s:P:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 's': size = (size_t)atoi(optarg); break;
        case 'P': server_pid = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s -p PORT [-c CONNS] [-d SECONDS] [-w WARMUP] [-s SIZE]\n", argv[0]);
            return 2;
        }
    }
    if (port <= 0 || conns <= 0 || size < sizeof(int) || size > 1024) {
        fprintf(stderr, "bench_pingpong: bad arguments\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn *cs = calloc((size_t)conns, sizeof *cs);
    int one = 1;
    for (int i = 0; i < conns; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
            perror("connect");
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        cs[i].fd = fd;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    }
    for (int i = 0; i < conns; i++)
        if (ping(&cs[i]) < 0) { perror("send"); return 1; }

    struct epoll_event evs[1024];
    double t0 = now_s(), start = t0 + warm, end = start + secs;
    long counted = 0;
    double cpu0 = 0;
    int counting = 0;
    for (;;) {
        double t = now_s();
        if (!counting && t >= start) {
            counting = 1, counted = 0;
            if (server_pid) cpu0 = proc_cpu_ns(server_pid);
        }
        if (t >= end) break;
        int n = epoll_wait(ep, evs, 1024, 100);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            ssize_t r = recv(c->fd, c->in + c->got, size - c->got, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0) {
                fprintf(stderr, "bench_pingpong: connection %d: %s\n", c->fd, r ? strerror(errno) : "EOF");
                return 1;
            }
            c->got += (size_t)r;
            if (c->got < size) continue;
            if (memcmp(c->in, c->msg, size) != 0) {
                fprintf(stderr, "bench_pingpong: wrong echo on connection %d\n", c->fd);
                return 1;
            }
            counted++;
            if (ping(c) < 0) { perror("send"); return 1; }
        }
    }
    double elapsed = now_s() - start;
    printf("conns=%d seconds=%.2f round_trips=%ld rt_per_s=%.0f", conns, elapsed, counted, counted / elapsed);
    if (server_pid) printf(" server_cpu_ns_per_rt=%.0f", (proc_cpu_ns(server_pid) - cpu0) / (double)(counted ? counted : 1));
    printf("\n");
    return 0;
}
