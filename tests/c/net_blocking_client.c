/* net_blocking_client: blocking socket, pipe and fd-flag semantics, one line per case.
 *
 * Usage: net_blocking_client [CASE...]   (no argument: every case, in order)
 *
 * Every line is deterministic (errno names, counts, yes/no for timing windows, never raw
 * times), so the output under greenshim must be identical to the native output. Helper
 * threads (greenlets under the shim) play the peer: they sleep, then write / close / connect,
 * so that the call under test really has to wait. Prints "done" at the end; alarm(5) per case
 * turns a hang into death by SIGALRM. Uses no mutex or condition variable (only threads, sleeps, fds).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define OUT(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)
#define CHECK(x) do { if (!(x)) { OUT("  check failed at line %d: %s (errno %s)\n", __LINE__, #x, en(errno)); } } while (0)

static const char *en(int e) {
    switch (e) {
    case 0: return "0";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EINPROGRESS: return "EINPROGRESS";
    case EPIPE: return "EPIPE";
    case EINTR: return "EINTR";
    case EINVAL: return "EINVAL";
    case ENOTCONN: return "ENOTCONN";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EISCONN: return "EISCONN";
    case EALREADY: return "EALREADY";
    case EFAULT: return "EFAULT";
    case EISDIR: return "EISDIR";
    case ENOTSOCK: return "ENOTSOCK";
    default: {
        static char b[32];
        snprintf(b, sizeof b, "errno%d", e);
        return b;
    }
    }
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
static void msleep(int ms) { usleep((useconds_t)ms * 1000); }
static const char *yesno(int b) { return b ? "yes" : "no"; }
static int nonblock(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) ? 1 : 0; }
static int cloexec(int fd) { return (fcntl(fd, F_GETFD) & FD_CLOEXEC) ? 1 : 0; }

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    return a;
}

/* A listening socket on 127.0.0.1:0; its port in *port. */
static int listener(int *port) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(0);
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0) {
        perror("bind/listen");
        exit(1);
    }
    socklen_t al = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return l;
}

/* A connected loopback TCP pair (both blocking). */
static void tcp_pair(int *cl, int *sv) {
    int port, l = listener(&port);
    struct sockaddr_in a = loopback(port);
    *cl = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(*cl, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); exit(1); }
    *sv = accept(l, NULL, NULL);
    if (*sv < 0) { perror("accept"); exit(1); }
    close(l);
}

static void unix_pair(int sv[2]) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) { perror("socketpair"); exit(1); }
}

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- helper threads ---------------------------------------------------------------- */

struct job {
    int fd;
    int delay_ms;
    const char *data;
    size_t len;
    int chunks;   /* write data in this many pieces, delay_ms apart */
    int close_after;
    int linger0;  /* close with SO_LINGER {1,0}: send a RST */
    long result;
    int err;
    struct sockaddr_in addr;
};

static void *delayed_writer(void *arg) {
    struct job *j = arg;
    int chunks = j->chunks ? j->chunks : 1;
    size_t per = j->len / (size_t)chunks, off = 0;
    for (int i = 0; i < chunks; i++) {
        msleep(j->delay_ms);
        size_t n = (i == chunks - 1) ? j->len - off : per;
        if (write_all(j->fd, j->data + off, n) < 0) { j->result = -errno; return NULL; }
        off += n;
    }
    j->result = (long)off;
    if (j->close_after) close(j->fd);
    return NULL;
}

static void *delayed_closer(void *arg) {
    struct job *j = arg;
    msleep(j->delay_ms);
    if (j->linger0) {
        struct linger lg = {1, 0};
        setsockopt(j->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    j->result = close(j->fd);
    return NULL;
}

static void *delayed_shutdown_rd(void *arg) {
    struct job *j = arg;
    msleep(j->delay_ms);
    j->result = shutdown(j->fd, SHUT_RD);
    return NULL;
}

static void *delayed_connector(void *arg) {
    struct job *j = arg;
    msleep(j->delay_ms);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    j->result = connect(s, (struct sockaddr *)&j->addr, sizeof j->addr) == 0 ? s : -errno;
    return NULL;
}

static void *delayed_acceptor(void *arg) {
    struct job *j = arg;
    msleep(j->delay_ms);
    j->result = accept(j->fd, NULL, NULL); /* the connection that was already queued */
    return NULL;
}

static pthread_t spawn(void *(*f)(void *), struct job *j) {
    pthread_t t;
    if (pthread_create(&t, NULL, f, j) != 0) { perror("pthread_create"); exit(1); }
    return t;
}

/* ---- cases -------------------------------------------------------------------------- */

static void case_connect_refused(void) {
    int port, l = listener(&port);
    close(l); /* nothing listens there now */
    struct sockaddr_in a = loopback(port);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int rc = connect(s, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    OUT("connect_refused: rc=%d errno=%s\n", rc, rc ? en(e) : "0");
    close(s);
}

static void case_connect_ok(void) {
    /* blocking connect to a listener, accepted by this thread afterwards */
    int port, l = listener(&port);
    struct sockaddr_in a = loopback(port);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int rc = connect(s, (struct sockaddr *)&a, sizeof a);
    int c = accept(l, NULL, NULL);
    OUT("connect_ok: rc=%d accepted=%s socket_nonblock=%d accepted_nonblock=%d cloexec=%d\n", rc,
        yesno(c >= 0), nonblock(s), nonblock(c), cloexec(c));
    close(s);
    close(c);
    close(l);
}

static void case_connect_nonblocking(void) {
    int port, l = listener(&port);
    struct sockaddr_in a = loopback(port);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int rc = connect(s, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    struct pollfd p = {s, POLLOUT, 0};
    int pr = poll(&p, 1, 2000);
    int err = -1;
    socklen_t el = sizeof err;
    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
    OUT("connect_nonblocking: rc=%d errno=%s poll=%d pollout=%s so_error=%s\n", rc, rc ? en(e) : "0",
        pr, yesno(p.revents & POLLOUT), en(err));
    close(s);
    close(l);
    /* and to a closed port: EINPROGRESS, then SO_ERROR = ECONNREFUSED */
    s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    rc = connect(s, (struct sockaddr *)&a, sizeof a);
    e = errno;
    p.fd = s;
    p.revents = 0;
    pr = poll(&p, 1, 2000);
    el = sizeof err;
    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
    OUT("connect_nonblocking_refused: rc=%d errno=%s poll=%d so_error=%s\n", rc, rc ? en(e) : "0", pr,
        en(err));
    close(s);
}

static void case_socket_flags(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int t = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    OUT("socket_flags: plain nonblock=%d cloexec=%d; SOCK_NONBLOCK|SOCK_CLOEXEC nonblock=%d "
        "cloexec=%d; socketpair(SOCK_NONBLOCK) nonblock=%d,%d\n",
        nonblock(s), cloexec(s), nonblock(t), cloexec(t), nonblock(sv[0]), nonblock(sv[1]));
    close(s);
    close(t);
    close(sv[0]);
    close(sv[1]);
}

static void case_rcvtimeo(void) {
    int c, s;
    tcp_pair(&c, &s);
    struct timeval tv = {0, 200000};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct timeval got = {0, 0};
    socklen_t gl = sizeof got;
    getsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &got, &gl);
    char b[16];
    double t0 = now_ms();
    ssize_t r = read(c, b, sizeof b);
    int e = errno;
    double dt = now_ms() - t0;
    OUT("rcvtimeo: getsockopt=%ldms rc=%zd errno=%s in_200+-30ms=%s nonblock=%d\n",
        (long)(got.tv_sec * 1000 + got.tv_usec / 1000), r, r < 0 ? en(e) : "0",
        yesno(dt >= 170 && dt <= 230), nonblock(c));
    /* recv(MSG_WAITALL) with a timeout: the partial count after the timeout */
    write(s, "0123456789", 10);
    char big[100];
    t0 = now_ms();
    r = recv(c, big, sizeof big, MSG_WAITALL);
    dt = now_ms() - t0;
    OUT("rcvtimeo_waitall_partial: rc=%zd in_200+-30ms=%s\n", r, yesno(dt >= 170 && dt <= 230));
    /* data arriving before the timeout ends the wait early */
    struct job j = {.fd = s, .delay_ms = 50, .data = "late", .len = 4};
    pthread_t t = spawn(delayed_writer, &j);
    t0 = now_ms();
    r = read(c, b, sizeof b);
    dt = now_ms() - t0;
    pthread_join(t, NULL);
    OUT("rcvtimeo_data_in_time: rc=%zd before_timeout=%s\n", r, yesno(dt < 170));
    close(c);
    close(s);
}

static void case_sndtimeo(void) {
    int sv[2];
    unix_pair(sv);
    int sz = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    struct timeval tv = {0, 200000};
    setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    size_t n = 4 << 20;
    char *buf = calloc(1, n);
    double t0 = now_ms();
    ssize_t r = write(sv[0], buf, n);
    double dt = now_ms() - t0;
    OUT("sndtimeo: partial=%s in_200+-30ms=%s\n", yesno(r > 0 && (size_t)r < n), yesno(dt >= 170 && dt <= 230));
    t0 = now_ms();
    r = write(sv[0], buf, n);
    int e = errno;
    dt = now_ms() - t0;
    OUT("sndtimeo_full: rc=%zd errno=%s in_200+-30ms=%s\n", r, r < 0 ? en(e) : "0",
        yesno(dt >= 170 && dt <= 230));
    free(buf);
    close(sv[0]);
    close(sv[1]);
}

static void case_user_nonblock(void) {
    int c, s;
    tcp_pair(&c, &s);
    int fl = fcntl(c, F_GETFL);
    fcntl(c, F_SETFL, fl | O_NONBLOCK);
    char b[16];
    double t0 = now_ms();
    ssize_t r = read(c, b, sizeof b);
    int e = errno;
    ssize_t r2 = recv(c, b, sizeof b, 0);
    int e2 = errno;
    double dt = now_ms() - t0;
    OUT("user_nonblock_read: nonblock=%d read=%zd errno=%s recv=%zd errno=%s immediate=%s\n", nonblock(c),
        r, en(e), r2, en(e2), yesno(dt < 20));
    /* fill the send buffer: partial counts, then EAGAIN, never a wait */
    size_t n = 1 << 20;
    char *big = calloc(1, n);
    long total = 0;
    int writes = 0;
    t0 = now_ms();
    for (;;) {
        ssize_t w = write(c, big, n);
        if (w < 0) { e = errno; break; }
        total += w;
        writes++;
    }
    dt = now_ms() - t0;
    OUT("user_nonblock_write: filled=%s then errno=%s immediate=%s\n", yesno(total > 0), en(e), yesno(dt < 100));
    free(big);
    /* back to blocking: a read waits for data again */
    fcntl(c, F_SETFL, fl);
    struct job j = {.fd = s, .delay_ms = 50, .data = "abc", .len = 3};
    pthread_t t = spawn(delayed_writer, &j);
    t0 = now_ms();
    r = read(c, b, sizeof b);
    dt = now_ms() - t0;
    pthread_join(t, NULL);
    OUT("user_blocking_again: nonblock=%d read=%zd waited=%s\n", nonblock(c), r, yesno(dt >= 40));
    close(c);
    close(s);
}

static void case_fionbio(void) {
    int sv[2];
    unix_pair(sv);
    int on = 1, off = 0;
    ioctl(sv[0], FIONBIO, &on);
    char b[4];
    ssize_t r = read(sv[0], b, sizeof b);
    int e = errno;
    int nb = nonblock(sv[0]);
    ioctl(sv[0], FIONBIO, &off);
    OUT("fionbio: on nonblock=%d read=%zd errno=%s; off nonblock=%d\n", nb, r, en(e), nonblock(sv[0]));
    close(sv[0]);
    close(sv[1]);
}

static void case_dontwait(void) {
    int c, s;
    tcp_pair(&c, &s);
    char b[4];
    double t0 = now_ms();
    ssize_t r = recv(c, b, sizeof b, MSG_DONTWAIT);
    int e = errno;
    double dt = now_ms() - t0;
    OUT("msg_dontwait: rc=%zd errno=%s immediate=%s socket_nonblock=%d\n", r, en(e), yesno(dt < 20), nonblock(c));
    close(c);
    close(s);
}

static void case_peek(void) {
    int c, s;
    tcp_pair(&c, &s);
    struct job j = {.fd = s, .delay_ms = 50, .data = "hello", .len = 5};
    pthread_t t = spawn(delayed_writer, &j);
    char p[16] = {0}, b[16] = {0};
    ssize_t r1 = recv(c, p, sizeof p - 1, MSG_PEEK); /* blocks until the data is there */
    pthread_join(t, NULL);
    ssize_t r2 = read(c, b, sizeof b - 1);
    OUT("msg_peek: peek=%zd \"%s\" read=%zd \"%s\" same=%s\n", r1, r1 > 0 ? p : "", r2, r2 > 0 ? b : "",
        yesno(r1 == r2 && memcmp(p, b, 5) == 0));
    close(c);
    close(s);
}

static void case_waitall(void) {
    int c, s;
    tcp_pair(&c, &s);
    static char data[30000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (char)(i * 7);
    struct job j = {.fd = s, .delay_ms = 30, .data = data, .len = sizeof data, .chunks = 3};
    pthread_t t = spawn(delayed_writer, &j);
    static char got[30000];
    ssize_t r = recv(c, got, sizeof got, MSG_WAITALL);
    pthread_join(t, NULL);
    OUT("msg_waitall: rc=%zd full=%s\n", r, yesno(r == (ssize_t)sizeof got && memcmp(got, data, sizeof got) == 0));
    close(c);
    close(s);
}

static void case_eof(void) {
    int c, s;
    tcp_pair(&c, &s);
    struct job j = {.fd = s, .delay_ms = 50, .data = "bye", .len = 3, .close_after = 1};
    pthread_t t = spawn(delayed_writer, &j);
    char b[16];
    ssize_t r1 = read(c, b, sizeof b);
    ssize_t r2 = read(c, b, sizeof b);
    ssize_t r3 = read(c, b, sizeof b);
    pthread_join(t, NULL);
    OUT("eof: read=%zd then=%zd then=%zd\n", r1, r2, r3);
    close(c);
    /* unix socketpair and pipe: the same */
    int sv[2];
    unix_pair(sv);
    struct job k = {.fd = sv[1], .delay_ms = 30};
    t = spawn(delayed_closer, &k);
    r1 = read(sv[0], b, sizeof b);
    pthread_join(t, NULL);
    int pf[2];
    pipe(pf);
    struct job m = {.fd = pf[1], .delay_ms = 30};
    t = spawn(delayed_closer, &m);
    r2 = read(pf[0], b, sizeof b);
    pthread_join(t, NULL);
    OUT("eof_unix_and_pipe: socketpair=%zd pipe=%zd\n", r1, r2);
    close(sv[0]);
    close(pf[0]);
}

static void case_reset(void) {
    int c, s;
    tcp_pair(&c, &s);
    struct job j = {.fd = s, .delay_ms = 50, .linger0 = 1};
    pthread_t t = spawn(delayed_closer, &j);
    char b[16];
    ssize_t r = read(c, b, sizeof b); /* waits, then the RST */
    int e = errno;
    pthread_join(t, NULL);
    ssize_t r2 = read(c, b, sizeof b);
    OUT("reset_read: rc=%zd errno=%s then=%zd\n", r, r < 0 ? en(e) : "0", r2);
    close(c);
}

static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int sig) { (void)sig; sigpipes++; }

static void case_epipe(void) {
    /* SIGPIPE ignored: write to a socketpair whose peer closed */
    signal(SIGPIPE, SIG_IGN);
    int sv[2];
    unix_pair(sv);
    close(sv[1]);
    ssize_t r = write(sv[0], "x", 1);
    int e = errno;
    OUT("epipe_ignored: rc=%zd errno=%s\n", r, en(e));
    close(sv[0]);
    /* TCP: the peer closed; the first write goes out, the peer answers with a RST */
    int c, s;
    tcp_pair(&c, &s);
    close(s);
    ssize_t w1 = write(c, "x", 1);
    struct pollfd p = {c, POLLIN, 0};
    poll(&p, 1, 1000); /* until the RST arrived */
    ssize_t w2 = write(c, "x", 1);
    int e2 = errno;
    ssize_t w3 = write(c, "x", 1);
    int e3 = errno;
    OUT("epipe_tcp_after_reset: first=%zd then=%zd/%s then=%zd/%s\n", w1, w2, en(e2), w3, en(e3));
    close(c);
    /* a handler counts SIGPIPEs: MSG_NOSIGNAL raises none, plain send raises one */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sigaction(SIGPIPE, &sa, NULL);
    unix_pair(sv);
    close(sv[1]);
    sigpipes = 0;
    r = send(sv[0], "x", 1, MSG_NOSIGNAL);
    e = errno;
    OUT("msg_nosignal: rc=%zd errno=%s sigpipes=%d\n", r, en(e), (int)sigpipes);
    r = send(sv[0], "x", 1, 0);
    e = errno;
    OUT("sigpipe_raised: rc=%zd errno=%s sigpipes=%d\n", r, en(e), (int)sigpipes);
    close(sv[0]);
    signal(SIGPIPE, SIG_IGN);
}

struct slow_reader {
    int fd;
    long got;
    uint32_t sum;
};

static void *slow_reader(void *arg) {
    struct slow_reader *sr = arg;
    static char buf[65536];
    uint32_t h = 2166136261u;
    int i = 0;
    for (;;) {
        ssize_t r = read(sr->fd, buf, sizeof buf);
        if (r <= 0) break;
        for (ssize_t k = 0; k < r; k++) h = (h ^ (uint8_t)buf[k]) * 16777619u;
        sr->got += r;
        if (++i % 4 == 0) msleep(1); /* slowly */
    }
    sr->sum = h;
    return NULL;
}

static void case_big_write(void) {
    int sv[2];
    unix_pair(sv);
    size_t n = 8 << 20;
    char *buf = malloc(n);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        buf[i] = (char)((i * 2654435761u) >> 13);
        h = (h ^ (uint8_t)buf[i]) * 16777619u;
    }
    struct slow_reader sr = {.fd = sv[1]};
    pthread_t t;
    pthread_create(&t, NULL, slow_reader, &sr);
    ssize_t w = write(sv[0], buf, n);
    close(sv[0]);
    pthread_join(t, NULL);
    OUT("big_write: rc=%zd reader_got=%ld checksum_ok=%s\n", w, sr.got, yesno(sr.sum == h));
    /* and send() on TCP */
    int c, s;
    tcp_pair(&c, &s);
    struct slow_reader sr2 = {.fd = s};
    pthread_create(&t, NULL, slow_reader, &sr2);
    w = send(c, buf, n, 0);
    close(c);
    pthread_join(t, NULL);
    OUT("big_send_tcp: rc=%zd reader_got=%ld checksum_ok=%s\n", w, sr2.got, yesno(sr2.sum == h));
    close(s);
    close(sv[1]);
    free(buf);
}

static void case_accept(void) {
    int port, l = listener(&port);
    struct job j = {.delay_ms = 50, .addr = loopback(port)};
    pthread_t t = spawn(delayed_connector, &j);
    int a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); /* waits for the connector */
    pthread_join(t, NULL);
    OUT("accept4_flags: ok=%s nonblock=%d cloexec=%d listener_nonblock=%d\n", yesno(a >= 0), nonblock(a),
        cloexec(a), nonblock(l));
    char b[4];
    ssize_t r = read(a, b, sizeof b);
    int e = errno;
    OUT("accept4_nonblock_read: rc=%zd errno=%s\n", r, en(e));
    close(a);
    if (j.result >= 0) close((int)j.result);
    t = spawn(delayed_connector, &j);
    a = accept(l, NULL, NULL);
    pthread_join(t, NULL);
    OUT("accept_plain_flags: ok=%s nonblock=%d cloexec=%d\n", yesno(a >= 0), nonblock(a), cloexec(a));
    close(a);
    if (j.result >= 0) close((int)j.result);
    /* a listener the program made non-blocking: EAGAIN at once */
    fcntl(l, F_SETFL, fcntl(l, F_GETFL) | O_NONBLOCK);
    double t0 = now_ms();
    a = accept(l, NULL, NULL);
    int e2 = errno;
    OUT("accept_nonblocking_listener: rc=%d errno=%s immediate=%s\n", a, en(e2), yesno(now_ms() - t0 < 20));
    close(l);
}

static void case_dup(void) {
    int c, s;
    tcp_pair(&c, &s);
    int d = dup(c);
    fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
    char b[4];
    ssize_t r = read(d, b, sizeof b);
    int e = errno;
    OUT("dup_shares_nonblock: set_on_orig dup_sees=%d dup_read=%zd errno=%s\n", nonblock(d), r, en(e));
    fcntl(d, F_SETFL, fcntl(d, F_GETFL) & ~O_NONBLOCK);
    int orig_nb = nonblock(c);
    struct job j = {.fd = s, .delay_ms = 40, .data = "xy", .len = 2};
    pthread_t t = spawn(delayed_writer, &j);
    r = read(c, b, sizeof b); /* blocking again through the original */
    pthread_join(t, NULL);
    OUT("dup_shares_blocking: cleared_on_dup orig_sees=%d orig_read=%zd\n", orig_nb, r);
    int d2 = dup3(c, 100, O_CLOEXEC);
    int d3 = fcntl(c, F_DUPFD_CLOEXEC, 200);
    int d4 = dup2(c, 101);
    OUT("dup_fd_flags: dup3=%d cloexec=%d F_DUPFD_CLOEXEC>=200=%s cloexec=%d dup2=%d cloexec=%d orig_cloexec=%d\n",
        d2, cloexec(d2), yesno(d3 >= 200), cloexec(d3), d4, cloexec(d4), cloexec(c));
    /* closing the original leaves the dups working */
    close(c);
    write(s, "z", 1);
    r = read(d, b, sizeof b);
    OUT("dup_after_close_orig: read=%zd\n", r);
    /* dup2 onto an open fd replaces it */
    int sv[2];
    unix_pair(sv);
    dup2(sv[0], d2);
    write(sv[1], "q", 1);
    r = read(d2, b, sizeof b);
    OUT("dup2_replaces: read=%zd byte=%c\n", r, r > 0 ? b[0] : '-');
    close(d);
    close(d2);
    close(d3);
    close(d4);
    close(s);
    close(sv[0]);
    close(sv[1]);
}

static void case_vectors(void) {
    int c, s;
    tcp_pair(&c, &s);
    struct iovec wv[2] = {{"hello ", 6}, {"world", 5}};
    ssize_t w = writev(c, wv, 2);
    char a[4], b[16] = {0};
    struct iovec rv[2] = {{a, 4}, {b, sizeof b - 1}};
    ssize_t r = readv(s, rv, 2);
    OUT("readv_writev: wrote=%zd read=%zd first=\"%.4s\" second=\"%s\"\n", w, r, a, b);
    struct iovec sv2[2] = {{"abc", 3}, {"defgh", 5}};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = sv2;
    m.msg_iovlen = 2;
    w = sendmsg(s, &m, 0);
    char x[5] = {0}, y[8] = {0};
    struct iovec rv2[2] = {{x, 3}, {y, 5}};
    struct msghdr rm;
    memset(&rm, 0, sizeof rm);
    rm.msg_iov = rv2;
    rm.msg_iovlen = 2;
    r = recvmsg(c, &rm, MSG_WAITALL);
    OUT("sendmsg_recvmsg: sent=%zd got=%zd first=\"%s\" second=\"%s\"\n", w, r, x, y);
    /* a readv that has to wait */
    struct job j = {.fd = s, .delay_ms = 40, .data = "later!", .len = 6};
    pthread_t t = spawn(delayed_writer, &j);
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    r = readv(c, rv, 2);
    pthread_join(t, NULL);
    OUT("readv_waits: read=%zd\n", r);
    close(c);
    close(s);
}

static void case_scm_rights(void) {
    int sv[2], pf[2];
    unix_pair(sv);
    pipe(pf);
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec io = {"F", 1};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &pf[0], sizeof(int));
    ssize_t w = sendmsg(sv[0], &m, 0);
    close(pf[0]);
    char c1;
    char rbuf[CMSG_SPACE(sizeof(int))];
    struct iovec rio = {&c1, 1};
    struct msghdr rm;
    memset(&rm, 0, sizeof rm);
    rm.msg_iov = &rio;
    rm.msg_iovlen = 1;
    rm.msg_control = rbuf;
    rm.msg_controllen = sizeof rbuf;
    ssize_t r = recvmsg(sv[1], &rm, 0);
    int fd = -1;
    struct cmsghdr *rc = CMSG_FIRSTHDR(&rm);
    if (rc && rc->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(rc), sizeof(int));
    /* the received pipe end: blocking, and a read waits for the writer */
    struct job j = {.fd = pf[1], .delay_ms = 40, .data = "via fd", .len = 6, .close_after = 1};
    pthread_t t = spawn(delayed_writer, &j);
    char b[16] = {0};
    ssize_t pr = fd >= 0 ? read(fd, b, sizeof b - 1) : -1;
    pthread_join(t, NULL);
    OUT("scm_rights: sent=%zd recv=%zd got_fd=%s nonblock=%d read=%zd \"%s\"\n", w, r, yesno(fd >= 0),
        fd >= 0 ? nonblock(fd) : -1, pr, b);
    close(fd);
    close(sv[0]);
    close(sv[1]);
}

static void case_sendfile(void) {
    char path[] = "/tmp/gs_net_sendfile_XXXXXX";
    int f = mkstemp(path);
    unlink(path);
    size_t n = 300000;
    char *buf = malloc(n);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        buf[i] = (char)(i * 31 + (i >> 9));
        h = (h ^ (uint8_t)buf[i]) * 16777619u;
    }
    write_all(f, buf, n);
    int c, s;
    tcp_pair(&c, &s);
    struct slow_reader sr = {.fd = s};
    pthread_t t;
    pthread_create(&t, NULL, slow_reader, &sr);
    off_t off = 0;
    long total = 0;
    int calls = 0;
    while ((size_t)total < n) {
        ssize_t w = sendfile(c, f, &off, n - (size_t)total);
        calls++;
        if (w <= 0) break;
        total += w;
    }
    close(c);
    pthread_join(t, NULL);
    OUT("sendfile: total=%ld offset=%ld reader_got=%ld checksum_ok=%s\n", total, (long)off, sr.got,
        yesno(sr.sum == h));
    close(s);
    close(f);
    free(buf);
}

static void case_pipes(void) {
    int pf[2];
    pipe2(pf, O_NONBLOCK);
    char b[8];
    double t0 = now_ms();
    ssize_t r = read(pf[0], b, sizeof b);
    int e = errno;
    OUT("pipe2_nonblock: nonblock=%d,%d read=%zd errno=%s immediate=%s\n", nonblock(pf[0]), nonblock(pf[1]),
        r, en(e), yesno(now_ms() - t0 < 20));
    close(pf[0]);
    close(pf[1]);
    pipe2(pf, O_CLOEXEC);
    struct job j = {.fd = pf[1], .delay_ms = 40, .data = "piped", .len = 5};
    pthread_t t = spawn(delayed_writer, &j);
    t0 = now_ms();
    r = read(pf[0], b, sizeof b);
    pthread_join(t, NULL);
    OUT("pipe_blocking: nonblock=%d cloexec=%d read=%zd waited=%s\n", nonblock(pf[0]), cloexec(pf[0]), r,
        yesno(now_ms() - t0 >= 30));
    close(pf[0]);
    close(pf[1]);
}

static void *eventfd_poster(void *arg) {
    int fd = *(int *)arg;
    msleep(40);
    uint64_t v = 7;
    write(fd, &v, sizeof v);
    return NULL;
}

static void case_eventfd(void) {
    int fd = eventfd(0, 0);
    pthread_t t;
    pthread_create(&t, NULL, eventfd_poster, &fd);
    uint64_t v = 0;
    ssize_t r = read(fd, &v, sizeof v);
    uint64_t v0 = v;
    pthread_join(t, NULL);
    int nfd = eventfd(0, EFD_NONBLOCK);
    ssize_t r2 = read(nfd, &v, sizeof v);
    int e = errno;
    OUT("eventfd: read=%zd value=%llu nonblock=%d; EFD_NONBLOCK nonblock=%d read=%zd errno=%s\n", r,
        (unsigned long long)v0, nonblock(fd), nonblock(nfd), r2, en(e));
    close(fd);
    close(nfd);
}

static void case_udp(void) {
    int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = loopback(0);
    bind(a, (struct sockaddr *)&sa, sizeof sa);
    socklen_t sl = sizeof sa;
    getsockname(a, (struct sockaddr *)&sa, &sl);
    /* recvfrom waits for a datagram sent 40 ms later */
    connect(b, (struct sockaddr *)&sa, sizeof sa);
    struct job w = {.fd = b, .delay_ms = 40, .data = "dgram", .len = 5};
    pthread_t t = spawn(delayed_writer, &w);
    char buf[16] = {0};
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t r = recvfrom(a, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &fl);
    pthread_join(t, NULL);
    OUT("udp_recvfrom: rc=%zd \"%s\" from_loopback=%s\n", r, buf, yesno(from.sin_addr.s_addr == htonl(INADDR_LOOPBACK)));
    /* sendto + sendmmsg / recvmmsg */
    ssize_t s1 = sendto(b, "one", 3, 0, NULL, 0);
    struct mmsghdr mm[2];
    struct iovec iv[2] = {{"two", 3}, {"three", 5}};
    memset(mm, 0, sizeof mm);
    mm[0].msg_hdr.msg_iov = &iv[0];
    mm[0].msg_hdr.msg_iovlen = 1;
    mm[1].msg_hdr.msg_iov = &iv[1];
    mm[1].msg_hdr.msg_iovlen = 1;
    int sm = sendmmsg(b, mm, 2, 0);
    char r0[8] = {0}, r1[8] = {0}, r2[8] = {0};
    struct iovec ri[3] = {{r0, 7}, {r1, 7}, {r2, 7}};
    struct mmsghdr rm[3];
    memset(rm, 0, sizeof rm);
    for (int i = 0; i < 3; i++) {
        rm[i].msg_hdr.msg_iov = &ri[i];
        rm[i].msg_hdr.msg_iovlen = 1;
    }
    int rn = recvmmsg(a, rm, 3, MSG_WAITFORONE, NULL);
    int rn_total = rn;
    while (rn > 0 && rn_total < 3) { /* the rest, if they were not all there at once */
        int more = recvmmsg(a, rm + rn_total, 3 - rn_total, MSG_WAITFORONE, NULL);
        if (more <= 0) break;
        rn_total += more;
    }
    OUT("udp_mmsg: sendto=%zd sendmmsg=%d recvmmsg_total=%d \"%s\" \"%s\" \"%s\"\n", s1, sm, rn_total, r0, r1, r2);
    double t0 = now_ms();
    r = recvfrom(a, buf, sizeof buf, MSG_DONTWAIT, NULL, NULL);
    int e = errno;
    OUT("udp_dontwait: rc=%zd errno=%s immediate=%s\n", r, en(e), yesno(now_ms() - t0 < 20));
    close(a);
    close(b);
}

static void case_shutdown_wakes(void) {
    int c, s;
    tcp_pair(&c, &s);
    struct job j = {.fd = c, .delay_ms = 50};
    pthread_t t = spawn(delayed_shutdown_rd, &j);
    char b[4];
    double t0 = now_ms();
    ssize_t r = read(c, b, sizeof b);
    double dt = now_ms() - t0;
    pthread_join(t, NULL);
    OUT("shutdown_rd_wakes_reader: shutdown=%ld read=%zd woke=%s\n", j.result, r, yesno(dt >= 40 && dt < 1000));
    close(c);
    close(s);
}


static void case_connect_wait(void) {
    /* a listener with backlog 0 holds one unaccepted connection; the next connect waits */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(0);
    bind(l, (struct sockaddr *)&a, sizeof a);
    listen(l, 0);
    socklen_t al = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &al);
    int s1 = socket(AF_INET, SOCK_STREAM, 0);
    int r1 = connect(s1, (struct sockaddr *)&a, sizeof a);
    int s2 = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {0, 200000};
    setsockopt(s2, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    double t0 = now_ms();
    int r2 = connect(s2, (struct sockaddr *)&a, sizeof a);
    int e2 = errno;
    double dt = now_ms() - t0;
    OUT("connect_sndtimeo: first=%d second=%d errno=%s in_200+-30ms=%s\n", r1, r2, r2 ? en(e2) : "0",
        yesno(dt >= 170 && dt <= 230));
    close(s2);
    /* no timeout: the connect waits until a thread accepts (the SYN is retried after ~1 s) */
    struct job j = {.fd = l, .delay_ms = 100};
    pthread_t t = spawn(delayed_acceptor, &j);
    int s3 = socket(AF_INET, SOCK_STREAM, 0);
    t0 = now_ms();
    int r3 = connect(s3, (struct sockaddr *)&a, sizeof a);
    dt = now_ms() - t0;
    pthread_join(t, NULL);
    OUT("connect_waits_for_backlog: rc=%d waited=%s\n", r3, yesno(dt >= 90 && dt < 5000));
    if (j.result >= 0) close((int)j.result);
    close(s1);
    close(s3);
    close(l);
}

static void case_zero_len(void) {
    int c, s;
    tcp_pair(&c, &s);
    /* (natively a zero-length recv() on an empty blocking socket WAITS, unlike read(): not
     * tested here) */
    char b[1];
    double t0 = now_ms();
    ssize_t r1 = read(c, b, 0);
    ssize_t w = write(c, b, 0);
    ssize_t w2 = send(c, b, 0, 0);
    int pf[2];
    pipe(pf);
    ssize_t r3 = read(pf[0], b, 0);
    double dt = now_ms() - t0;
    OUT("zero_length: read=%zd write=%zd send=%zd pipe_read=%zd immediate=%s\n", r1, w, w2, r3, yesno(dt < 20));
    close(pf[0]);
    close(pf[1]);
    close(c);
    close(s);
}

static void case_bad_fd(void) {
    char b[4];
    ssize_t r1 = read(-1, b, 1);
    int e1 = errno;
    ssize_t r2 = read(4000, b, 1);
    int e2 = errno;
    ssize_t r3 = write(4000, b, 1);
    int e3 = errno;
    int pf[2];
    pipe(pf);
    ssize_t r4 = recv(pf[0], b, 1, MSG_DONTWAIT);
    int e4 = errno;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int r5 = accept(s, NULL, NULL); /* not listening */
    int e5 = errno;
    ssize_t r6 = read(s, b, 1); /* not connected */
    int e6 = errno;
    ssize_t r7 = write(s, b, 1);
    int e7 = errno;
    close(s);
    ssize_t r8 = read(s, b, 1); /* a closed socket */
    int e8 = errno;
    OUT("bad_fds: read(-1)=%zd/%s read(4000)=%zd/%s write(4000)=%zd/%s recv(pipe)=%zd/%s "
        "accept(unlistened)=%d/%s read(unconnected)=%zd/%s write(unconnected)=%zd/%s read(closed)=%zd/%s\n",
        r1, en(e1), r2, en(e2), r3, en(e3), r4, en(e4), r5, en(e5), r6, en(e6), r7, en(e7), r8, en(e8));
    close(pf[0]);
    close(pf[1]);
}

static void *reader_thread(void *arg) {
    struct job *j = arg;
    char b[16];
    j->result = read(j->fd, b, sizeof b);
    j->err = errno;
    if (j->result > 0) j->chunks = b[0]; /* which byte it got */
    __atomic_store_n(&j->close_after, 1, __ATOMIC_SEQ_CST); /* done flag */
    return NULL;
}

static void case_two_readers(void) {
    int sv[2];
    unix_pair(sv);
    struct job a = {.fd = sv[0]}, b = {.fd = sv[0]};
    pthread_t ta = spawn(reader_thread, &a), tb = spawn(reader_thread, &b);
    msleep(50);
    write(sv[1], "a", 1);
    msleep(50);
    int one_done = __atomic_load_n(&a.close_after, __ATOMIC_SEQ_CST) + __atomic_load_n(&b.close_after, __ATOMIC_SEQ_CST);
    write(sv[1], "b", 1);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    int distinct = (a.chunks == 'a' && b.chunks == 'b') || (a.chunks == 'b' && b.chunks == 'a');
    OUT("two_readers_one_fd: after_first_byte_done=%d reads=%ld,%ld distinct=%s\n", one_done, a.result, b.result,
        yesno(distinct));
    close(sv[0]);
    close(sv[1]);
}

struct big_writer { int fd; size_t n; long result; int done; };
static void *big_writer(void *arg) {
    struct big_writer *w = arg;
    char *buf = calloc(1, w->n);
    w->result = write(w->fd, buf, w->n);
    free(buf);
    __atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void case_duplex(void) {
    /* one thread blocked writing a socket, another blocked reading the same socket */
    int sv[2];
    unix_pair(sv);
    struct big_writer w = {.fd = sv[0], .n = 4 << 20};
    struct job r = {.fd = sv[0]};
    pthread_t tw, tr = spawn(reader_thread, &r);
    pthread_create(&tw, NULL, big_writer, &w);
    msleep(50);
    write(sv[1], "r", 1);
    pthread_join(tr, NULL);
    int writer_still_blocked = !__atomic_load_n(&w.done, __ATOMIC_SEQ_CST);
    static char sink[65536];
    long got = 0;
    while (got < (long)w.n) {
        ssize_t k = read(sv[1], sink, sizeof sink);
        if (k <= 0) break;
        got += k;
    }
    pthread_join(tw, NULL);
    OUT("duplex_one_fd: reader=%ld writer_still_blocked_then=%s writer=%ld drained=%ld\n", r.result,
        yesno(writer_still_blocked), w.result, got);
    close(sv[0]);
    close(sv[1]);
}

static volatile sig_atomic_t usr1s;
static void on_usr1(int sig) { (void)sig; usr1s++; }

static void case_eintr(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART: a blocked read fails with EINTR */
    int sv[2];
    unix_pair(sv);
    struct job r = {.fd = sv[0]};
    pthread_t t = spawn(reader_thread, &r);
    msleep(50);
    pthread_kill(t, SIGUSR1);
    pthread_join(t, NULL);
    OUT("eintr_no_restart: read=%ld errno=%s handler_ran=%d\n", r.result, r.result < 0 ? en(r.err) : "0",
        (int)usr1s);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    struct job r2 = {.fd = sv[0]};
    t = spawn(reader_thread, &r2);
    msleep(50);
    pthread_kill(t, SIGUSR1);
    msleep(50);
    int done_early = __atomic_load_n(&r2.close_after, __ATOMIC_SEQ_CST);
    write(sv[1], "k", 1);
    pthread_join(t, NULL);
    OUT("eintr_sa_restart: returned_at_signal=%s read=%ld errno=%s handler_ran=%d\n", yesno(done_early),
        r2.result, r2.result < 0 ? en(r2.err) : "0", (int)usr1s);
    signal(SIGUSR1, SIG_DFL);
    close(sv[0]);
    close(sv[1]);
}

struct named { const char *name; void (*f)(void); };
static const struct named cases[] = {
    {"connect_refused", case_connect_refused},
    {"connect_ok", case_connect_ok},
    {"connect_nonblocking", case_connect_nonblocking},
    {"socket_flags", case_socket_flags},
    {"rcvtimeo", case_rcvtimeo},
    {"sndtimeo", case_sndtimeo},
    {"user_nonblock", case_user_nonblock},
    {"fionbio", case_fionbio},
    {"dontwait", case_dontwait},
    {"peek", case_peek},
    {"waitall", case_waitall},
    {"eof", case_eof},
    {"reset", case_reset},
    {"epipe", case_epipe},
    {"big_write", case_big_write},
    {"accept", case_accept},
    {"dup", case_dup},
    {"vectors", case_vectors},
    {"scm_rights", case_scm_rights},
    {"sendfile", case_sendfile},
    {"pipes", case_pipes},
    {"eventfd", case_eventfd},
    {"udp", case_udp},
    {"shutdown_wakes", case_shutdown_wakes},
    {"connect_wait", case_connect_wait},
    {"zero_len", case_zero_len},
    {"bad_fd", case_bad_fd},
    {"two_readers", case_two_readers},
    {"duplex", case_duplex},
    {"eintr", case_eintr},
};

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    size_t n = sizeof cases / sizeof cases[0];
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < n; i++) printf("%s\n", cases[i].name);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int run = argc == 1;
        for (int k = 1; k < argc; k++)
            if (strcmp(argv[k], cases[i].name) == 0) run = 1;
        if (run) {
            alarm(5); /* per case: a hang dies by SIGALRM */
            cases[i].f();
        }
    }
    OUT("done\n");
    return 0;
}
