/* bench_epoll_echo: a hand-written single-threaded echo server: non-blocking sockets,
 * level-triggered epoll. The baseline of scripts/bench_echo.sh (and, run under greenshim, an
 * "application's own epoll" test).
 *
 * Usage: bench_epoll_echo [-p PORT] [-n N]
 *   -p PORT  listen on 127.0.0.1:PORT (default 0: any free port); prints "port=<n>" (flushed)
 *   -n N     exit(0) once N connections have been served completely (prints "served=<N>")
 *
 * Reads up to 64 KiB from a readable connection and writes it back; whatever the socket does
 * not take at once is kept and the connection waits for EPOLLOUT (and stops reading) until it
 * is flushed. EOF (after the pending echo is flushed) closes the connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
    int fd;
    int eof;
    char *pend; /* echo not yet written */
    size_t plen, poff;
};

static int ep;
static long served, exit_after;

static void mod(struct conn *c, unsigned ev) {
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void drop(struct conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pend);
    free(c);
    served++;
    if (exit_after > 0 && served == exit_after) {
        printf("served=%ld\n", served);
        fflush(stdout);
        exit(0);
    }
}

/* Write the pending echo; 1 if all of it went out, 0 if some is left, -1 on error. */
static int flush(struct conn *c) {
    while (c->poff < c->plen) {
        ssize_t w = send(c->fd, c->pend + c->poff, c->plen - c->poff, MSG_NOSIGNAL);
        if (w > 0) { c->poff += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return 0;
        return -1;
    }
    c->plen = c->poff = 0;
    return 1;
}

int main(int argc, char **argv) {
    int port = 0, opt;
    while ((opt = getopt(argc, argv, "p:n:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'n': exit_after = atol(optarg); break;
        default: fprintf(stderr, "usage: %s [-p PORT] [-n N]\n", argv[0]); return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, SOMAXCONN) < 0) {
        perror("bind/listen");
        return 1;
    }
    socklen_t al = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &al);
    printf("port=%d\n", ntohs(a.sin_port));
    fflush(stdout);

    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &le);
    static char buf[65536];
    struct epoll_event evs[512];
    for (;;) {
        int n = epoll_wait(ep, evs, 512, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) { /* the listener */
                for (;;) {
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            if (c->plen) { /* waiting for EPOLLOUT */
                int f = flush(c);
                if (f < 0) { drop(c); continue; }
                if (f == 0) continue;
                if (c->eof) { drop(c); continue; }
                mod(c, EPOLLIN);
                continue;
            }
            ssize_t r = recv(c->fd, buf, sizeof buf, 0);
            if (r < 0) {
                if (errno == EAGAIN || errno == EINTR) continue;
                drop(c);
                continue;
            }
            if (r == 0) { drop(c); continue; }
            ssize_t w = send(c->fd, buf, (size_t)r, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN) { drop(c); continue; }
            if (w < 0) w = 0;
            if (w < r) {
                c->pend = realloc(c->pend, (size_t)(r - w));
                memcpy(c->pend, buf + w, (size_t)(r - w));
                c->plen = (size_t)(r - w);
                c->poff = 0;
                mod(c, EPOLLOUT);
            }
        }
    }
}
