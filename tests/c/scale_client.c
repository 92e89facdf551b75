/* scale_client: opens N TCP connections to an echo server and checks that every one echoes,
 * with one epoll thread, so that the load generator stays cheap next to the server.
 *
 * Usage: scale_client -p PORT -n N [-s SOURCES] [-b BYTES] [-k INFLIGHT]
 *
 * Connections are bound to source addresses 127.0.0.2 .. 127.0.0.(1+SOURCES) (default 8) with
 * IP_BIND_ADDRESS_NO_PORT, so N may exceed one address's ephemeral port range. At most INFLIGHT
 * (default 2000) connects are in progress at once (the server's accept backlog is finite).
 *
 * Round 1: every connection, as soon as it is established, sends BYTES (default 64) bytes of a
 * pattern of its own and reads them back; each byte is checked. When all N have echoed, prints
 *   "idle conns=<N> ms=<connect+round-1 time>"
 * and waits for a line on stdin (the caller measures the server meanwhile). Round 2: every
 * connection sends a different pattern and checks the echo again, all at once. Then prints
 *   "ok conns=<N> rounds=2 bytes=<echoed bytes> ms=<round-2 time>"
 * and exits 0 (closing every connection). Any error, short echo or wrong byte: a line on stderr
 * and exit 1. The soft fd limit is raised to the hard one; the caller raises the hard one.
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

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { CONNECTING, SENT, DONE };

struct conn {
    int fd;
    int state;
    int got; /* bytes of the echo received in this round */
};

static int port, n, sources = 8, bytes = 64, inflight_max = 2000;
static struct conn *cs;
static int ep;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what, long i) {
    fprintf(stderr, "scale_client: %s (connection %ld): %s\n", what, i, strerror(errno));
    exit(1);
}

/* The byte at offset k of connection i's message in round r. */
static unsigned char pat(long i, int r, int k) { return (unsigned char)(i * 131 + k * 7 + r * 61 + 1); }

static void send_msg(long i, int r) {
    unsigned char m[65536];
    for (int k = 0; k < bytes; k++) m[k] = pat(i, r, k);
    int off = 0;
    while (off < bytes) {
        ssize_t w = send(cs[i].fd, m + off, (size_t)(bytes - off), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die("send", i); /* a first small send on a fresh socket never blocks */
        off += (int)w;
    }
    cs[i].state = SENT;
    cs[i].got = 0;
}

static void open_conn(long i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket", i);
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i % sources));
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind", i);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) die("connect", i);
    cs[i].fd = fd;
    cs[i].state = CONNECTING;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = (uint64_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl", i);
}

/* Handle readiness of connection i in round r; returns 1 when its echo completed. */
static int on_event(long i, uint32_t evs, int r) {
    struct conn *c = &cs[i];
    if (c->state == CONNECTING) {
        if (!(evs & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return 0;
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) { errno = err; die("connect", i); }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl", i);
        send_msg(i, r);
        return 0;
    }
    if (c->state != SENT) return 0;
    unsigned char in[65536];
    for (;;) {
        ssize_t got = recv(c->fd, in, (size_t)(bytes - c->got), 0);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && errno == EAGAIN) return 0;
        if (got < 0) die("recv", i);
        if (got == 0) { errno = ECONNRESET; die("server closed early", i); }
        for (ssize_t k = 0; k < got; k++)
            if (in[k] != pat(i, r, c->got + (int)k)) {
                fprintf(stderr, "scale_client: connection %ld round %d byte %d: got %u, sent %u\n", i, r,
                        c->got + (int)k, in[k], pat(i, r, c->got + (int)k));
                exit(1);
            }
        c->got += (int)got;
        if (c->got == bytes) {
            c->state = DONE;
            return 1;
        }
    }
}

static struct epoll_event evs[1024];

int main(int argc, char **argv) {
    int opt;
    while ((opt = getopt(argc, argv, "p:n:s:b:k:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'n': n = atoi(optarg); break;
        case 's': sources = atoi(optarg); break;
        case 'b': bytes = atoi(optarg); break;
        case 'k': inflight_max = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s -p PORT -n N [-s SOURCES] [-b BYTES] [-k INFLIGHT]\n", argv[0]);
            return 2;
        }
    }
    if (port <= 0 || n <= 0 || sources <= 0 || bytes <= 0 || bytes > 65536 || inflight_max <= 0) {
        fprintf(stderr, "scale_client: bad arguments\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    cs = calloc((size_t)n, sizeof *cs);
    ep = epoll_create1(0);
    if (!cs || ep < 0) die("setup", -1);

    /* Round 1: connect with a bounded number in progress, echo once each. */
    double t0 = now_ms();
    long opened = 0, done = 0;
    while (done < n) {
        while (opened < n && opened - done < inflight_max) open_conn(opened++);
        int k = epoll_wait(ep, evs, 1024, 10000);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            fprintf(stderr, "scale_client: round 1 stalled: %ld of %d echoed, %ld opened\n", done, n, opened);
            return 1;
        }
        for (int e = 0; e < k; e++) done += on_event((long)evs[e].data.u64, evs[e].events, 1);
    }
    printf("idle conns=%d ms=%.0f\n", n, now_ms() - t0);
    fflush(stdout);

    char line[64];
    if (!fgets(line, sizeof line, stdin)) { /* EOF: go on as well */ }

    /* Round 2: everyone at once. */
    t0 = now_ms();
    for (long i = 0; i < n; i++) send_msg(i, 2);
    done = 0;
    while (done < n) {
        int k = epoll_wait(ep, evs, 1024, 10000);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            fprintf(stderr, "scale_client: round 2 stalled: %ld of %d echoed\n", done, n);
            return 1;
        }
        for (int e = 0; e < k; e++) done += on_event((long)evs[e].data.u64, evs[e].events, 2);
    }
    printf("ok conns=%d rounds=2 bytes=%ld ms=%.0f\n", n, 2L * n * bytes, now_ms() - t0);
    fflush(stdout);
    return 0;
}
