/* net_close_wait: close (or dup2 onto) an fd while another thread is blocked on it.
 *
 * Natively on Linux the blocked call does NOT return: the kernel keeps the open file
 * description alive while the call uses it (read keeps waiting and even receives data written
 * later; accept keeps waiting). greenshim's documented behaviour (issue 3, "no lost wakeups, no
 * stale fds") is that the waiter returns -1/EBADF, and that a new fd that reuses the number is
 * never confused with the old one. The program prints what happens, one line per case:
 *   read_close: reader=<EBADF|still_blocked|rc=N errno=E>
 *   read_close_reuse: same_number=<yes|no> new_reader_got="<...>" old_reader=<...>
 *   accept_close: acceptor=<...>
 *   read_dup2: reader=<...>
 *   serving: echo="<...>"
 * then "done". alarm(20) turns a hang into death by SIGALRM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OUT(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)

struct waiter {
    int fd;
    int accept; /* 1: accept() instead of read() */
    int done;   /* atomically set once the call returned */
    long rc;
    int err;
    char buf[64];
};

static void *wait_on_fd(void *arg) {
    struct waiter *w = arg;
    long rc;
    if (w->accept) {
        rc = accept(w->fd, NULL, NULL);
    } else {
        rc = read(w->fd, w->buf, sizeof w->buf - 1);
    }
    w->err = errno;
    w->rc = rc;
    __atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* How the waiter ended, after giving it up to ms milliseconds. */
static const char *outcome(struct waiter *w, int ms) {
    static char b[96];
    for (int i = 0; i < ms / 10 && !__atomic_load_n(&w->done, __ATOMIC_SEQ_CST); i++) usleep(10000);
    if (!__atomic_load_n(&w->done, __ATOMIC_SEQ_CST)) return "still_blocked";
    if (w->rc == -1 && w->err == EBADF) return "EBADF";
    if (w->rc >= 0 && !w->accept) {
        snprintf(b, sizeof b, "read=%ld \"%s\"", w->rc, w->buf);
        return b;
    }
    snprintf(b, sizeof b, "rc=%ld errno=%s", w->rc, strerror(w->err));
    return b;
}

static void spawn(struct waiter *w) {
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &a, wait_on_fd, w) != 0) { perror("pthread_create"); exit(1); }
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    return a;
}

static void *echo_once(void *arg) {
    int fd = (int)(long)arg;
    char b[64];
    ssize_t r = read(fd, b, sizeof b);
    if (r > 0) write(fd, b, (size_t)r);
    close(fd);
    return NULL;
}

int main(void) {
    alarm(20);
    signal(SIGPIPE, SIG_IGN);

    /* 1. read + close */
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    static struct waiter r1;
    r1.fd = sv[0];
    spawn(&r1);
    usleep(100000);
    int old = sv[0];
    close(sv[0]);
    OUT("read_close: reader=%s\n", outcome(&r1, 300));

    /* 2. a new socket reuses the number; data for the old one never reaches the new reader,
     * data for the new one never reaches the old reader */
    int nv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, nv);
    int same = nv[0] == old || nv[1] == old;
    int rd = nv[0] == old ? nv[0] : (nv[1] == old ? nv[1] : nv[0]);
    int wr = rd == nv[0] ? nv[1] : nv[0];
    static struct waiter r2;
    r2.fd = rd;
    spawn(&r2);
    usleep(50000);
    write(sv[1], "old", 3); /* to the closed socket's peer */
    usleep(50000);
    write(wr, "new", 3);
    const char *o2 = outcome(&r2, 1000);
    char o2s[96];
    snprintf(o2s, sizeof o2s, "%s", o2);
    OUT("read_close_reuse: same_number=%s new_reader=%s old_reader=%s\n", same ? "yes" : "no", o2s,
        outcome(&r1, 100));
    close(nv[0]);
    close(nv[1]);
    close(sv[1]);

    /* 3. accept + close */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(0);
    bind(l, (struct sockaddr *)&a, sizeof a);
    listen(l, 16);
    static struct waiter r3;
    r3.fd = l;
    r3.accept = 1;
    spawn(&r3);
    usleep(100000);
    close(l);
    OUT("accept_close: acceptor=%s\n", outcome(&r3, 300));

    /* 4. read + dup2 onto the fd */
    int dv[2], ov[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, dv);
    socketpair(AF_UNIX, SOCK_STREAM, 0, ov);
    static struct waiter r4;
    r4.fd = dv[0];
    spawn(&r4);
    usleep(100000);
    dup2(ov[0], dv[0]);
    OUT("read_dup2: reader=%s\n", outcome(&r4, 300));
    write(ov[1], "x", 1); /* lands in ov[0]'s description, now also dv[0]: nobody reads it */
    close(dv[0]);
    close(dv[1]);
    close(ov[0]);
    close(ov[1]);

    /* 5. still serving: an echo round trip through a new thread */
    l = socket(AF_INET, SOCK_STREAM, 0);
    a = loopback(0);
    bind(l, (struct sockaddr *)&a, sizeof a);
    listen(l, 16);
    socklen_t al = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &al);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, (struct sockaddr *)&a, sizeof a);
    int s = accept(l, NULL, NULL);
    pthread_t t;
    pthread_create(&t, NULL, echo_once, (void *)(long)s);
    write(c, "ping", 4);
    char b[16] = {0};
    ssize_t r = read(c, b, sizeof b - 1);
    pthread_join(t, NULL);
    OUT("serving: echo=%zd \"%s\"\n", r, b);
    OUT("done\n");
    return 0;
}
