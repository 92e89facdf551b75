/* poll_echo [ROUNDS]: a single-threaded epoll echo server (one thread, level-triggered epoll,
 * non-blocking sockets) and clients that wait with poll, ppoll, select, pselect, epoll_wait and
 * epoll_pwait2, in threads of one process, over 127.0.0.1 on a port chosen by the kernel.
 *
 * Each client connects without blocking (EINPROGRESS, then waits for writability and checks
 * SO_ERROR), then for ROUNDS rounds (default 200) sends a message of 1..1500 bytes and waits
 * until the whole echo is back, checking every byte.
 *
 * Output: one line per client "client <kind>: rounds=<n> ok=<0|1>", "server: accepted=<n>",
 * "threads=<Threads: of /proc/self/status, sampled while every client runs>". Exit 0 iff all
 * clients are ok. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

enum { K_POLL, K_PPOLL, K_SELECT, K_PSELECT, K_EPOLL, K_EPOLL2, NKINDS };
static const char *kind_name[NKINDS] = {"poll", "ppoll", "select", "pselect", "epoll_wait", "epoll_pwait2"};

static int port;
static int rounds = 200;
static atomic_int clients_left = NKINDS;
static atomic_int started;
static atomic_int threads_seen = -1;
static int accepted;

static int os_threads(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

/* ------------------------------------------------------------------------------- the server */

static void *server(void *arg) {
    int lfd = *(int *)arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    int open_conns = 0;
    char buf[4096];
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 100);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("server epoll_wait");
            exit(1);
        }
        if (n == 0 && atomic_load(&clients_left) == 0 && open_conns == 0)
            break;
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                    open_conns++;
                    accepted++;
                }
                if (errno != EAGAIN) {
                    perror("accept4");
                    exit(1);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r > 0) {
                ssize_t off = 0;
                while (off < r) {
                    ssize_t w = write(fd, buf + off, r - off);
                    if (w > 0) {
                        off += w;
                    } else if (w < 0 && errno == EAGAIN) {
                        struct pollfd p = {fd, POLLOUT, 0};
                        poll(&p, 1, 1000);
                    } else {
                        perror("server write");
                        exit(1);
                    }
                }
            } else if (r == 0 || (r < 0 && errno != EAGAIN)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
                open_conns--;
            }
        }
    }
    close(ep);
    return NULL;
}

/* ------------------------------------------------------------------------------- the clients */

/* Wait until `fd` is ready for `events` (POLLIN or POLLOUT) with the client's mechanism.
 * `ep`: the client's own epoll instance (for the epoll kinds), with fd registered. */
static int wait_ready(int kind, int fd, int ep, short events) {
    struct timespec ts = {5, 0};
    sigset_t empty;
    sigemptyset(&empty);
    int r;
    switch (kind) {
    case K_POLL:
    case K_PPOLL: {
        struct pollfd p = {fd, events, 0};
        r = kind == K_POLL ? poll(&p, 1, 5000) : ppoll(&p, 1, &ts, NULL);
        return r == 1 && (p.revents & (events | POLLERR | POLLHUP)) ? 0 : -1;
    }
    case K_SELECT:
    case K_PSELECT: {
        fd_set s;
        FD_ZERO(&s);
        FD_SET(fd, &s);
        struct timeval tv = {5, 0};
        fd_set *rs = events == POLLIN ? &s : NULL, *ws = events == POLLOUT ? &s : NULL;
        r = kind == K_SELECT ? select(fd + 1, rs, ws, NULL, &tv) : pselect(fd + 1, rs, ws, NULL, &ts, &empty);
        return r == 1 && FD_ISSET(fd, &s) ? 0 : -1;
    }
    default: {
        struct epoll_event ev = {.events = events == POLLIN ? EPOLLIN : EPOLLOUT, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
        struct epoll_event got;
        r = kind == K_EPOLL ? epoll_wait(ep, &got, 1, 5000) : epoll_pwait2(ep, &got, 1, &ts, &empty);
        return r == 1 && got.data.fd == fd ? 0 : -1;
    }
    }
}

static void *client(void *arg) {
    int kind = (int)(long)arg;
    int ok = 0, done = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int ep = -1;
    if (kind == K_EPOLL || kind == K_EPOLL2) {
        ep = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (errno != EINPROGRESS) {
            perror("connect");
            goto out;
        }
        if (wait_ready(kind, fd, ep, POLLOUT) < 0) {
            fprintf(stderr, "%s: connect wait failed\n", kind_name[kind]);
            goto out;
        }
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            fprintf(stderr, "%s: connect: %s\n", kind_name[kind], strerror(err));
            goto out;
        }
    }
    atomic_fetch_add(&started, 1);
    char out[1500], in[1500];
    for (done = 0; done < rounds; done++) {
        if (done == rounds / 2 && kind == K_POLL) {
            /* every client is connected and mid-way: count the OS threads */
            while (atomic_load(&started) < NKINDS)
                usleep(1000);
            atomic_store(&threads_seen, os_threads());
        }
        size_t len = 1 + (done * 97 + kind * 31) % sizeof out;
        for (size_t i = 0; i < len; i++)
            out[i] = (char)(i * 7 + done + kind);
        size_t sent = 0;
        while (sent < len) {
            ssize_t w = write(fd, out + sent, len - sent);
            if (w > 0)
                sent += w;
            else if (w < 0 && errno == EAGAIN) {
                if (wait_ready(kind, fd, ep, POLLOUT) < 0)
                    goto out;
            } else
                goto out;
        }
        size_t got = 0;
        while (got < len) {
            ssize_t r = read(fd, in + got, len - got);
            if (r > 0)
                got += r;
            else if (r < 0 && errno == EAGAIN) {
                if (wait_ready(kind, fd, ep, POLLIN) < 0) {
                    fprintf(stderr, "%s: wait for the echo failed in round %d\n", kind_name[kind], done);
                    goto out;
                }
            } else {
                fprintf(stderr, "%s: read returned %zd in round %d\n", kind_name[kind], r, done);
                goto out;
            }
        }
        if (memcmp(in, out, len) != 0) {
            fprintf(stderr, "%s: echo differs in round %d\n", kind_name[kind], done);
            goto out;
        }
    }
    ok = 1;
out:
    printf("client %s: rounds=%d ok=%d\n", kind_name[kind], done, ok);
    close(fd);
    if (ep >= 0)
        close(ep);
    atomic_fetch_sub(&clients_left, 1);
    return (void *)(long)ok;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1)
        rounds = atoi(argv[1]);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 64) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
        perror("listen");
        return 1;
    }
    port = ntohs(a.sin_port);
    pthread_t srv, cl[NKINDS];
    pthread_create(&srv, NULL, server, &lfd);
    for (long k = 0; k < NKINDS; k++)
        pthread_create(&cl[k], NULL, client, (void *)k);
    int all_ok = 1;
    for (int k = 0; k < NKINDS; k++) {
        void *ok;
        pthread_join(cl[k], &ok);
        all_ok &= ok != NULL;
    }
    pthread_join(srv, NULL);
    close(lfd);
    printf("server: accepted=%d\n", accepted);
    printf("threads=%d\n", atomic_load(&threads_seen));
    return all_ok ? 0 : 1;
}
