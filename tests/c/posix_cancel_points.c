/* A deferred cancellation wakes a thread blocked at each cancellation point greenshim makes
 * cooperative; its cleanup handler runs and the join returns PTHREAD_CANCELED. Also: the target
 * of a join stays joinable after its joiner is cancelled; a pending cancel acts at the next
 * point. Argument: one case name, or none for all. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int pipe_r, pipe_w; /* empty pipe: reads block */
static int full_w;         /* full pipe: writes block */
static int sp[2];          /* socketpair, nothing queued: recv blocks */
static int full_s;         /* socket whose peer's buffer is full: send blocks */
static int listener;       /* listening, nobody connects: accept blocks */
static int ep;             /* epoll instance watching pipe_r */
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static sem_t sem;
static pthread_t forever;
static const char *cleaned;

static void cleanup(void *arg) { cleaned = (const char *)arg; }
static void unlock_cleanup(void *arg) {
    cleaned = (const char *)arg;
    pthread_mutex_unlock(&m);
}

#define CASE(name, call)                                \
    static void *t_##name(void *arg) {                  \
        (void)arg;                                      \
        char buf[64];                                   \
        (void)buf;                                      \
        pthread_cleanup_push(cleanup, #name);           \
        for (;;) {                                      \
            call;                                       \
        }                                               \
        pthread_cleanup_pop(0);                         \
        return NULL;                                    \
    }

CASE(read, read(pipe_r, buf, sizeof buf))
CASE(readv, ({ struct iovec v = {buf, sizeof buf}; readv(pipe_r, &v, 1); }))
CASE(write, write(full_w, buf, sizeof buf))
CASE(writev, ({ struct iovec v = {buf, sizeof buf}; writev(full_w, &v, 1); }))
CASE(recv, recv(sp[0], buf, sizeof buf, 0))
CASE(recvfrom, recvfrom(sp[0], buf, sizeof buf, 0, NULL, NULL))
CASE(recvmsg, ({ struct iovec v = {buf, sizeof buf}; struct msghdr mh = {0}; mh.msg_iov = &v; mh.msg_iovlen = 1; recvmsg(sp[0], &mh, 0); }))
CASE(send, send(full_s, buf, sizeof buf, 0))
CASE(sendto, sendto(full_s, buf, sizeof buf, 0, NULL, 0))
CASE(sendmsg, ({ struct iovec v = {buf, sizeof buf}; struct msghdr mh = {0}; mh.msg_iov = &v; mh.msg_iovlen = 1; sendmsg(full_s, &mh, 0); }))
CASE(accept, accept(listener, NULL, NULL))
CASE(accept4, accept4(listener, NULL, NULL, 0))
CASE(poll, ({ struct pollfd p = {pipe_r, POLLIN, 0}; poll(&p, 1, -1); }))
CASE(ppoll, ({ struct pollfd p = {pipe_r, POLLIN, 0}; ppoll(&p, 1, NULL, NULL); }))
CASE(select, ({ fd_set s; FD_ZERO(&s); FD_SET(pipe_r, &s); select(pipe_r + 1, &s, NULL, NULL, NULL); }))
CASE(pselect, ({ fd_set s; FD_ZERO(&s); FD_SET(pipe_r, &s); pselect(pipe_r + 1, &s, NULL, NULL, NULL, NULL); }))
CASE(epoll_wait, ({ struct epoll_event e; epoll_wait(ep, &e, 1, -1); }))
CASE(epoll_pwait, ({ struct epoll_event e; epoll_pwait(ep, &e, 1, -1, NULL); }))
CASE(sleep, sleep(100))
CASE(usleep, usleep(900000))
CASE(nanosleep, ({ struct timespec ts = {100, 0}; nanosleep(&ts, NULL); }))
CASE(clock_nanosleep, ({ struct timespec ts = {100, 0}; clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL); }))
CASE(sem_wait, sem_wait(&sem))
CASE(sem_timedwait, ({ struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts); ts.tv_sec += 100; sem_timedwait(&sem, &ts); }))
CASE(join, pthread_join(forever, NULL))
CASE(testcancel, (pthread_testcancel(), sched_yield()))

/* cond waits: the mutex is held again when the handler runs (it unlocks it). */
static void *t_cond_wait(void *arg) {
    (void)arg;
    pthread_mutex_lock(&m);
    pthread_cleanup_push(unlock_cleanup, "cond_wait");
    for (;;)
        pthread_cond_wait(&c, &m);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *t_cond_timedwait(void *arg) {
    (void)arg;
    pthread_mutex_lock(&m);
    pthread_cleanup_push(unlock_cleanup, "cond_timedwait");
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 100;
        pthread_cond_timedwait(&c, &m, &ts);
    }
    pthread_cleanup_pop(0);
    return NULL;
}

static void *block_forever(void *arg) {
    (void)arg;
    char b;
    for (;;)
        read(pipe_r, &b, 1);
    return NULL;
}

static void run(const char *only, const char *name, void *(*fn)(void *)) {
    if (only && strcmp(only, name) != 0)
        return;
    pthread_t t;
    void *ret;
    cleaned = "none";
    pthread_create(&t, NULL, fn, NULL);
    usleep(20000);
    pthread_cancel(t);
    int r = pthread_join(t, &ret);
    int relock = pthread_mutex_trylock(&m);
    if (relock == 0)
        pthread_mutex_unlock(&m);
    printf("%-16s join=%d canceled=%d cleanup=%s mutex_free=%d\n", name, r, ret == PTHREAD_CANCELED, cleaned, relock == 0);
}

static void fill(int fd) {
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    char b[4096] = {0};
    while (write(fd, b, sizeof b) > 0)
        ;
    while (write(fd, b, 1) > 0)
        ;
    fcntl(fd, F_SETFL, fl);
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL;
    int p[2];
    pipe(p);
    pipe_r = p[0], pipe_w = p[1];
    pipe(p);
    full_w = p[1];
    fill(full_w);
    socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
    int fs[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, fs);
    full_s = fs[0];
    fill(full_s);
    listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener, (struct sockaddr *)&a, sizeof a);
    listen(listener, 4);
    ep = epoll_create1(0);
    struct epoll_event ev = {EPOLLIN, {0}};
    epoll_ctl(ep, EPOLL_CTL_ADD, pipe_r, &ev);
    sem_init(&sem, 0, 0);
    pthread_create(&forever, NULL, block_forever, NULL);

    run(only, "read", t_read);
    run(only, "readv", t_readv);
    run(only, "write", t_write);
    run(only, "writev", t_writev);
    run(only, "recv", t_recv);
    run(only, "recvfrom", t_recvfrom);
    run(only, "recvmsg", t_recvmsg);
    run(only, "send", t_send);
    run(only, "sendto", t_sendto);
    run(only, "sendmsg", t_sendmsg);
    run(only, "accept", t_accept);
    run(only, "accept4", t_accept4);
    run(only, "poll", t_poll);
    run(only, "ppoll", t_ppoll);
    run(only, "select", t_select);
    run(only, "pselect", t_pselect);
    run(only, "epoll_wait", t_epoll_wait);
    run(only, "epoll_pwait", t_epoll_pwait);
    run(only, "sleep", t_sleep);
    run(only, "usleep", t_usleep);
    run(only, "nanosleep", t_nanosleep);
    run(only, "clock_nanosleep", t_clock_nanosleep);
    run(only, "sem_wait", t_sem_wait);
    run(only, "sem_timedwait", t_sem_timedwait);
    run(only, "cond_wait", t_cond_wait);
    run(only, "cond_timedwait", t_cond_timedwait);
    run(only, "join", t_join);
    run(only, "testcancel", t_testcancel);

    /* The joiner was cancelled: `forever` is still joinable by someone else. */
    pthread_cancel(forever);
    void *ret;
    int r = pthread_join(forever, &ret);
    printf("forever: join=%d canceled=%d\n", r, ret == PTHREAD_CANCELED);
    return 0;
}
