/* net_client: load client for an echo server (runs natively; one epoll-driven thread).
 *
 * Usage: net_client -p PORT [-c COUNT] [-s SEED] [-m MAXSIZE] [-S STALL_MS] [-P SERVER_PID]
 *                   [-t TIMEOUT_S] [-v]
 *   -c COUNT    concurrent connections (default 100)
 *   -s SEED     seed of the payload generator (default 1)
 *   -m MAXSIZE  payload sizes are 1..MAXSIZE bytes (default 65536)
 *   -S MS       connection 0 is a staller: it sends half its message, stalls MS ms, then the rest
 *   -P PID      once every connection is established and echoing, print the server's
 *               "Threads:" (from /proc/PID/status) as "server_threads=<n>"
 *   -t SECONDS  give up after this long (default 30): report unfinished connections, exit 1
 *   -v          one line per connection: "conn <i> bytes=<n> ms=<completion time>"
 *
 * Each connection's message is an 8-byte header (payload length, FNV-1a checksum of the
 * payload; both little-endian u32) followed by the random payload. The client:
 *   1. connects all COUNT connections (non-blocking connect);
 *   2. sends the first byte of each message and waits until it is echoed on EVERY connection,
 *      so that the server holds COUNT live connections, each served (-P is sampled here);
 *   3. sends the rest (reading the echo at the same time), shutdown(SHUT_WR), reads until EOF;
 *   4. checks that the echo is byte-for-byte the message and that its checksum holds.
 * Output: "ok <COUNT>" and exit 0; or one "FAIL conn <i>: <why>" line per failed connection and
 * "failed <k> of <COUNT>", exit 1. With -S also
 * "staller: others_max_ms=<t> staller_ms=<t> others_done_before_staller_resumed=<yes|no>"
 * (the others must all finish while the staller is stalled, otherwise it is a failure).
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

enum { CONNECTING, PROBE, WAIT_ALL, SENDING, STALLED, DRAINING, DONE, FAILED };

struct conn {
    int fd, state, idx;
    uint8_t *msg; /* what we send */
    uint8_t *got; /* what came back */
    size_t len, sent, recvd, send_limit;
    int shut;
    double t_done;
    char why[128];
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t rng_state;
static uint64_t rng(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static uint32_t fnv1a(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static int epfd;
static struct conn *conns;
static int count = 100, verbose = 0;
static long remaining;

static void set_events(struct conn *c, uint32_t ev) {
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
}

static long waiting_all; /* connections whose probe byte came back */

static void fail(struct conn *c, const char *what, int err) {
    snprintf(c->why, sizeof c->why, "%s%s%s", what, err ? ": " : "", err ? strerror(err) : "");
    if (c->state == WAIT_ALL) waiting_all--;
    c->state = FAILED;
    c->t_done = now_ms();
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    remaining--;
}

static void finish(struct conn *c, double t0) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->t_done = now_ms() - t0;
    remaining--;
    if (c->recvd != c->len) {
        snprintf(c->why, sizeof c->why, "echoed %zu bytes, sent %zu", c->recvd, c->len);
        c->state = FAILED;
        return;
    }
    if (memcmp(c->got, c->msg, c->len) != 0) {
        size_t i = 0;
        while (c->got[i] == c->msg[i]) i++;
        snprintf(c->why, sizeof c->why, "echo differs from what was sent at byte %zu", i);
        c->state = FAILED;
        return;
    }
    uint32_t plen, sum;
    memcpy(&plen, c->got, 4);
    memcpy(&sum, c->got + 4, 4);
    if (plen != c->len - 8 || fnv1a(c->got + 8, plen) != sum) {
        snprintf(c->why, sizeof c->why, "bad checksum or length in the echo");
        c->state = FAILED;
        return;
    }
    c->state = DONE;
}

/* Read whatever is there; returns 1 on EOF, -1 on error (conn failed), 0 otherwise. */
static int pump_in(struct conn *c) {
    for (;;) {
        if (c->recvd >= c->len) {
            /* anything beyond the message is an error; EOF is what we want */
            uint8_t extra[256];
            ssize_t r = recv(c->fd, extra, sizeof extra, 0);
            if (r == 0) return 1;
            if (r > 0) { fail(c, "server echoed more bytes than were sent", 0); return -1; }
            if (errno == EAGAIN) return 0;
            if (errno == EINTR) continue;
            fail(c, "recv after full echo", errno);
            return -1;
        }
        ssize_t r = recv(c->fd, c->got + c->recvd, c->len - c->recvd, 0);
        if (r > 0) { c->recvd += (size_t)r; continue; }
        if (r == 0) return 1;
        if (errno == EAGAIN) return 0;
        if (errno == EINTR) continue;
        fail(c, "recv", errno);
        return -1;
    }
}

/* Send up to send_limit; returns -1 on error (conn failed). */
static int pump_out(struct conn *c) {
    while (c->sent < c->send_limit) {
        ssize_t w = send(c->fd, c->msg + c->sent, c->send_limit - c->sent, MSG_NOSIGNAL);
        if (w > 0) { c->sent += (size_t)w; continue; }
        if (w < 0 && errno == EAGAIN) return 0;
        if (w < 0 && errno == EINTR) continue;
        fail(c, "send", errno);
        return -1;
    }
    return 0;
}

static int server_threads(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    fclose(f);
    return n;
}

int main(int argc, char **argv) {
    int port = 0, opt, server_pid = 0;
    uint64_t seed = 1;
    size_t maxsize = 65536;
    double stall_ms = 0, timeout_s = 30;
    while ((opt = getopt(argc, argv, "p:c:s:m:S:P:t:v")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'c': count = atoi(optarg); break;
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'm': maxsize = strtoull(optarg, NULL, 0); break;
        case 'S': stall_ms = atof(optarg); break;
        case 'P': server_pid = atoi(optarg); break;
        case 't': timeout_s = atof(optarg); break;
        case 'v': verbose = 1; break;
        default:
            fprintf(stderr, "usage: %s -p PORT [-c COUNT] [-s SEED] [-m MAXSIZE] [-S STALL_MS] "
                            "[-P SERVER_PID] [-t TIMEOUT_S] [-v]\n", argv[0]);
            return 2;
        }
    }
    if (port <= 0 || count <= 0 || maxsize < 1) {
        fprintf(stderr, "net_client: need -p PORT, COUNT >= 1, MAXSIZE >= 1\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    conns = calloc((size_t)count, sizeof *conns);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);

    double t0 = now_ms();
    remaining = count;
    for (int i = 0; i < count; i++) {
        struct conn *c = &conns[i];
        c->idx = i;
        size_t plen = 1 + (size_t)(rng() % maxsize);
        c->len = plen + 8;
        c->msg = malloc(c->len);
        c->got = malloc(c->len);
        for (size_t k = 0; k < plen; k++) c->msg[8 + k] = (uint8_t)(rng() >> 56);
        uint32_t p32 = (uint32_t)plen, sum = fnv1a(c->msg + 8, plen);
        memcpy(c->msg, &p32, 4);
        memcpy(c->msg + 4, &sum, 4);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) { perror("socket"); return 1; }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e);
        c->state = CONNECTING;
        if (connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0) {
            c->state = PROBE;
        } else if (errno != EINPROGRESS) {
            fail(c, "connect", errno);
        }
        if (c->state == PROBE) {
            c->send_limit = 1;
            pump_out(c);
            set_events(c, EPOLLIN);
        }
    }

    int all_probed = 0;
    double stall_until = 0, staller_resumed_at = 0;
    struct epoll_event evs[256];
    for (;;) {
        if (remaining == 0) break;
        double now = now_ms();
        if (now - t0 > timeout_s * 1e3) break;
        int tmo = 100;
        if (stall_until > 0) {
            double d = stall_until - now;
            if (d <= 0) {
                struct conn *s = &conns[0];
                stall_until = 0;
                staller_resumed_at = now - t0;
                if (s->state == STALLED) {
                    s->state = SENDING;
                    s->send_limit = s->len;
                    set_events(s, EPOLLIN | EPOLLOUT);
                }
                continue;
            }
            if (d < tmo) tmo = (int)d + 1;
        }
        int n = epoll_wait(epfd, evs, 256, tmo);
        if (n < 0 && errno != EINTR) { perror("epoll_wait"); return 1; }
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            if (c->state == DONE || c->state == FAILED) continue;
            if (c->state == CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) { fail(c, "connect", err); continue; }
                c->state = PROBE;
                c->send_limit = 1;
                if (pump_out(c) < 0) continue;
                set_events(c, EPOLLIN);
                continue;
            }
            int rc = pump_in(c);
            if (rc < 0) continue;
            if (c->state == PROBE || c->state == WAIT_ALL) {
                if (rc == 1) { fail(c, "EOF before the first byte was echoed", 0); continue; }
                if (c->state == PROBE && c->recvd >= 1) {
                    c->state = WAIT_ALL;
                    set_events(c, EPOLLIN); /* EPOLLIN: an unexpected EOF/error still shows */
                    waiting_all++;
                }
            } else {
                if (rc == 1) {
                    if (c->sent < c->len) {
                        fail(c, "EOF before the whole message was sent", 0);
                        continue;
                    }
                    finish(c, t0);
                    continue;
                }
                if (c->state == SENDING) {
                    if (pump_out(c) < 0) continue;
                    if (c->sent == c->len && !c->shut) {
                        shutdown(c->fd, SHUT_WR);
                        c->shut = 1;
                        c->state = DRAINING;
                        set_events(c, EPOLLIN);
                    } else if (c->sent == c->send_limit && c->send_limit < c->len) {
                        c->state = STALLED;
                        set_events(c, EPOLLIN);
                    }
                }
            }
        }
        if (!all_probed && waiting_all == remaining) {
            /* every live connection is established and served: the barrier */
            all_probed = 1;
            if (server_pid > 0) {
                printf("server_threads=%d\n", server_threads(server_pid));
                fflush(stdout);
            }
            for (int i = 0; i < count; i++) {
                struct conn *c = &conns[i];
                if (c->state != WAIT_ALL) continue;
                c->state = SENDING;
                c->send_limit = c->len;
                if (i == 0 && stall_ms > 0) {
                    c->send_limit = c->len / 2 > 1 ? c->len / 2 : 1;
                    stall_until = now_ms() + stall_ms;
                }
                set_events(c, EPOLLIN | EPOLLOUT);
            }
        }
    }

    long failed = 0;
    double others_max = 0;
    for (int i = 0; i < count; i++) {
        struct conn *c = &conns[i];
        if (c->state != DONE && c->state != FAILED) {
            static const char *names[] = {"connecting", "waiting for the first byte's echo",
                                          "waiting for the other connections", "sending",
                                          "stalled", "reading the echo"};
            snprintf(c->why, sizeof c->why, "timed out after %.0f s while %s (sent %zu/%zu, echoed %zu)",
                     timeout_s, names[c->state], c->sent, c->len, c->recvd);
            c->state = FAILED;
        }
        if (c->state == FAILED) {
            failed++;
            if (failed <= 20) printf("FAIL conn %d: %s\n", i, c->why);
        } else if (!(i == 0 && stall_ms > 0) && c->t_done > others_max) {
            others_max = c->t_done;
        }
        if (verbose) printf("conn %d bytes=%zu ms=%.1f %s\n", i, c->len, c->t_done, c->state == DONE ? "ok" : "FAIL");
    }
    if (stall_ms > 0) {
        int before = staller_resumed_at > 0 && others_max < staller_resumed_at;
        printf("staller: others_max_ms=%.0f staller_ms=%.0f others_done_before_staller_resumed=%s\n",
               others_max, conns[0].t_done, before ? "yes" : "no");
        if (!before) failed++;
    }
    if (failed) {
        printf("failed %ld of %d\n", failed, count);
        return 1;
    }
    printf("ok %d\n", count);
    return 0;
}
