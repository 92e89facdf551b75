// Edges of the fd calls where the shim once diverged from native: calls that natively return at
// once (an error or EOF) must not park, and a successful call leaves errno as it was, even when
// the shim had to retry it. Prints one canonical line per call; run natively and under the shim,
// the outputs must be equal.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define SENTINEL 12345
#define R(name, expr)                                                                          \
    do {                                                                                       \
        errno = SENTINEL;                                                                      \
        long r_ = (long)(expr);                                                                \
        printf("%-44s = %ld errno=%s\n", name, r_, errno == SENTINEL ? "kept" : strerrorname_np(errno)); \
        fflush(stdout);                                                                        \
    } while (0)

static void on_alarm(int s) {
    (void)s;
    static const char m[] = "HANG: a call that returns at once natively parked\n";
    write(1, m, sizeof m - 1);
    _exit(3);
}

static int wfd;
static void *writer(void *arg) {
    (void)arg;
    usleep(30000); // the reader is parked by now
    write(wfd, "late", 4);
    return NULL;
}

static int lfd;
static void *acceptor(void *arg) {
    (void)arg;
    int c = accept(lfd, NULL, NULL);
    close(c);
    return NULL;
}

static const char *section;
static int want(const char *name) { return !section || strcmp(section, name) == 0; }

int main(int argc, char **argv) {
    section = argc > 1 ? argv[1] : NULL;
    signal(SIGALRM, on_alarm);
    alarm(5);
    char b[64];

    int us[2], ud[2], uq[2], p[2], q[2], s2[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, us);
    socketpair(AF_UNIX, SOCK_DGRAM, 0, ud);
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, uq);
    pipe(p);
    int e = eventfd(0, 0);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    pthread_t th;
    unsigned long long one = 1;
    eventfd_t v = 0;
    struct iovec iv = {b, sizeof b};
    struct msghdr m = {.msg_iov = &iv, .msg_iovlen = 1};
    if (want("accept")) {
    // accept on every kind of fd that is not a listener fails at once.
    R("accept unix stream connected", accept(us[0], NULL, NULL));
    R("accept4 unix stream connected", accept4(us[0], NULL, NULL, SOCK_CLOEXEC));
    R("accept dup of unix stream", accept(dup(us[1]), NULL, NULL));
    R("accept unix dgram", accept(ud[0], NULL, NULL));
    R("accept unix seqpacket connected", accept(uq[0], NULL, NULL));
    R("accept udp", accept(u, NULL, NULL));
    R("accept tcp unbound", accept(t, NULL, NULL));
    R("accept eventfd", accept(e, NULL, NULL));
    R("accept pipe", accept(p[0], NULL, NULL));
    R("accept4 pipe", accept4(p[0], NULL, NULL, 0));

    }
    if (want("eventfd")) {
    // eventfd: short buffers fail at once, before and after a write.
    R("read eventfd 4 (empty)", read(e, b, 4));
    R("write eventfd 8", write(e, &one, 8));
    R("read eventfd 8", read(e, b, 8));
    R("write eventfd 4", write(e, b, 4));
    R("read eventfd 4 (empty, after writes)", read(e, b, 4));
    R("eventfd_write", eventfd_write(e, 2));
    R("eventfd_read", eventfd_read(e, &v));
    printf("eventfd value %llu\n", (unsigned long long)v);

    }
    if (want("dgram")) {
    // datagram and seqpacket sockets: a zero-length datagram and a shutdown read 0 at once.
    R("send empty dgram", send(ud[0], b, 0, 0));
    R("recv empty dgram", recv(ud[1], b, sizeof b, 0));
    R("send 5-byte dgram", send(ud[0], "hello", 5, 0));
    R("recv dgram MSG_PEEK|MSG_TRUNC 2", recv(ud[1], b, 2, MSG_PEEK | MSG_TRUNC));
    R("recv dgram MSG_TRUNC 2", recv(ud[1], b, 2, MSG_TRUNC));
    R("shutdown dgram SHUT_RD", shutdown(ud[1], SHUT_RD));
    R("read dgram after SHUT_RD", read(ud[1], b, sizeof b));
    R("recv dgram after SHUT_RD", recv(ud[1], b, sizeof b, 0));
    R("recvfrom dgram after SHUT_RD", recvfrom(ud[1], b, sizeof b, 0, NULL, NULL));
    R("recvmsg dgram after SHUT_RD", recvmsg(ud[1], &m, 0));
    R("readv dgram after SHUT_RD", readv(ud[1], &iv, 1));
    R("shutdown seqpacket peer SHUT_WR", shutdown(uq[0], SHUT_WR));
    R("read seqpacket after peer SHUT_WR", read(uq[1], b, sizeof b));
    R("recv seqpacket after peer SHUT_WR", recv(uq[1], b, sizeof b, 0));
    int ul = socket(AF_UNIX, SOCK_STREAM, 0);
    R("read unconnected unix stream", read(ul, b, sizeof b));
    R("recv unconnected unix stream", recv(ul, b, sizeof b, 0));

    }
    if (want("errno")) {
    // A read that has to wait returns its bytes with errno untouched.

    pipe(q);
    wfd = q[1];
    pthread_create(&th, NULL, writer, NULL);
    R("read pipe that waits", read(q[0], b, sizeof b));
    pthread_join(th, NULL);

    socketpair(AF_UNIX, SOCK_STREAM, 0, s2);
    wfd = s2[1];
    pthread_create(&th, NULL, writer, NULL);
    R("recv socket that waits", recv(s2[0], b, sizeof b, 0));
    pthread_join(th, NULL);

    // A blocking connect that completes leaves errno alone.
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(lfd, (struct sockaddr *)&a, sizeof a);
    listen(lfd, 8);
    getsockname(lfd, (struct sockaddr *)&a, &al);
    pthread_create(&th, NULL, acceptor, NULL);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    R("connect tcp loopback", connect(c, (struct sockaddr *)&a, sizeof a));
    pthread_join(th, NULL);
    R("accept tcp connected socket", accept(c, NULL, NULL));
    R("shutdown listener SHUT_RD", shutdown(lfd, SHUT_RD));
    R("accept shut-down listener", accept(lfd, NULL, NULL));
    }
    if (section && strcmp(section, "selecthigh") == 0) {
    // A never-opened number beyond the kernel's fd table: select ignores it natively (0); under
    // the shim the table is larger (its own fds sit high), so the kernel says EBADF. Pinned
    // limitation (README).
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(900, &rs);
    struct timeval tv = {0, 0};
    R("select on never-opened fd 900", select(901, &rs, NULL, NULL, &tv));
    }
    puts("done");
    return 0;
}
