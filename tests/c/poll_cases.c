/* poll_cases CASE: the readiness calls (poll, ppoll, select, pselect, epoll_wait, epoll_pwait,
 * epoll_pwait2) in one scenario each. Prints one line per call with what it returned and a
 * timing verdict ("t=ok" or "t=BAD(<ms>)"), so a native run and a run under the shim must print
 * the same. Exit status 0 unless something could not be set up.
 *
 * Cases:
 *   zero      timeout 0 on an empty pipe: 0 at once (< 20 ms)
 *   timeout   200 ms timeout on an empty pipe: 0 after 200 ms (198..240 ms); select's timeval
 *             is written back as 0; also poll(NULL, 0, 200) and select(0, ...) as sleeps
 *   wake      a thread writes to the pipe after 100 ms: each call wakes with the right
 *             revents / fd_set / epoll event (90..400 ms)
 *   parallel  5 threads wait at once (poll, ppoll, select, epoll_wait: 300 ms timeouts; one
 *             poll woken by a write after 100 ms): total wall ~300 ms, not the 1.3 s sum
 *   eintr     a SIGALRM handler (SA_RESTART) runs 100 ms into each call: -1/EINTR, never
 *             restarted; select's set is left as passed
 *   kill      pthread_kill(SIGUSR1) of a thread parked in poll: -1/EINTR in that thread
 *   sigmask   SIGUSR1 blocked; ppoll/pselect/epoll_pwait/epoll_pwait2 unblock it with their
 *             mask; another thread kill()s the process 100 ms in: EINTR, handler ran once
 *             per call, and after each call the mask blocks SIGUSR1 again; the same with no
 *             fds and no timeout (pselect(0, NULL, NULL, NULL, NULL, &mask)); a signal
 *             already pending; a NULL mask that keeps it blocked
 *   nval      a closed fd: POLLNVAL from poll/ppoll, EBADF from select/pselect/epoll_wait
 *   hup       the pipe's writer closes after 100 ms: POLLHUP, select readable, EPOLLHUP
 *   regular   a regular file: POLLIN|POLLOUT at once; POLLPRI only: waits out 100 ms
 *   errors    EINVAL for bad timeouts and sizes, select with nfds < 0 and > FD_SETSIZE,
 *             select's timeval normalisation and write-back
 *   closewait (shim only) another thread closes the fd a thread polls: it wakes at once with
 *             POLLNVAL (natively poll would sleep on)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *ename(int e) {
    switch (e) {
    case 0: return "0";
    case EINTR: return "EINTR";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case EFAULT: return "EFAULT";
    default: return strerror(e);
    }
}

static char tbuf[64];
static const char *verdict(double ms, double lo, double hi) {
    if (ms >= lo && ms <= hi)
        return "t=ok";
    snprintf(tbuf, sizeof tbuf, "t=BAD(%.1fms not in %.0f..%.0f)", ms, lo, hi);
    return tbuf;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ the seven calls, on one fd */

enum { POLL, PPOLL, SELECT, PSELECT, EPOLL_WAIT, EPOLL_PWAIT, EPOLL_PWAIT2, NCALLS };
static const char *call_name[NCALLS] = {"poll", "ppoll", "select", "pselect", "epoll_wait", "epoll_pwait", "epoll_pwait2"};

/* Wait for `fd` to be readable with call `c` and timeout `ms` (-1: infinite); describe the
 * result in `out`. `mask` for the p-variants (may be NULL). */
static int wait_one(int c, int fd, int ms, const sigset_t *mask, char *out, size_t outlen) {
    int r, e;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    switch (c) {
    case POLL:
    case PPOLL: {
        struct pollfd p = {fd, POLLIN, 0};
        r = c == POLL ? poll(&p, 1, ms) : ppoll(&p, 1, ms < 0 ? NULL : &ts, mask);
        e = errno;
        snprintf(out, outlen, "r=%d errno=%s revents=0x%x", r, r < 0 ? ename(e) : "0", p.revents);
        break;
    }
    case SELECT:
    case PSELECT: {
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(fd, &rs);
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        r = c == SELECT ? select(fd + 1, &rs, NULL, NULL, ms < 0 ? NULL : &tv)
                        : pselect(fd + 1, &rs, NULL, NULL, ms < 0 ? NULL : &ts, mask);
        e = errno;
        snprintf(out, outlen, "r=%d errno=%s isset=%d", r, r < 0 ? ename(e) : "0", FD_ISSET(fd, &rs) ? 1 : 0);
        break;
    }
    default: {
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1234500000000ULL + fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        struct epoll_event got[4];
        memset(got, 0, sizeof got);
        if (c == EPOLL_WAIT)
            r = epoll_wait(ep, got, 4, ms);
        else if (c == EPOLL_PWAIT)
            r = epoll_pwait(ep, got, 4, ms, mask);
        else
            r = epoll_pwait2(ep, got, 4, ms < 0 ? NULL : &ts, mask);
        e = errno;
        snprintf(out, outlen, "r=%d errno=%s events=0x%x data=%llx", r, r < 0 ? ename(e) : "0",
                 r > 0 ? got[0].events : 0, r > 0 ? (unsigned long long)got[0].data.u64 : 0ULL);
        close(ep);
        break;
    }
    }
    errno = e;
    return r;
}

/* ------------------------------------------------------------------------------------- cases */

static void case_zero(void) {
    int p[2];
    pipe(p);
    for (int c = 0; c < NCALLS; c++) {
        char d[160];
        double t0 = now_ms();
        wait_one(c, p[0], 0, NULL, d, sizeof d);
        printf("zero %s: %s %s\n", call_name[c], d, verdict(now_ms() - t0, 0, 20));
    }
}

static void case_timeout(void) {
    int p[2];
    pipe(p);
    for (int c = 0; c < NCALLS; c++) {
        char d[160];
        double t0 = now_ms();
        wait_one(c, p[0], 200, NULL, d, sizeof d);
        printf("timeout %s: %s %s\n", call_name[c], d, verdict(now_ms() - t0, 198, 240));
    }
    /* select writes the unslept time back: 0 after a timeout */
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {0, 100000};
    int r = select(p[0] + 1, &rs, NULL, NULL, &tv);
    printf("timeout select timeval: r=%d tv=%ld.%06ld isset=%d\n", r, (long)tv.tv_sec, (long)tv.tv_usec, FD_ISSET(p[0], &rs) ? 1 : 0);
    /* the sleep idioms */
    double t0 = now_ms();
    r = poll(NULL, 0, 100);
    printf("timeout poll(NULL,0,100): r=%d %s\n", r, verdict(now_ms() - t0, 99, 140));
    tv.tv_sec = 0;
    tv.tv_usec = 100000;
    t0 = now_ms();
    r = select(0, NULL, NULL, NULL, &tv);
    printf("timeout select(0,...,100ms): r=%d tv=%ld.%06ld %s\n", r, (long)tv.tv_sec, (long)tv.tv_usec, verdict(now_ms() - t0, 99, 140));
}

struct delayed {
    int fd;
    int ms;
    int close_it; /* 0: write a byte; 1: close the fd */
};

static void *delayed_act(void *arg) {
    struct delayed *d = arg;
    sleep_ms(d->ms);
    if (d->close_it)
        close(d->fd);
    else if (write(d->fd, "x", 1) != 1)
        perror("write");
    return NULL;
}

static int drain_fd;
static void *drain(void *a) {
    (void)a;
    sleep_ms(100);
    char b[65536];
    while (read(drain_fd, b, sizeof b) > 0) {
    }
    return NULL;
}

static void case_wake(void) {
    for (int c = 0; c < NCALLS; c++) {
        int p[2];
        pipe(p);
        struct delayed d = {p[1], 100, 0};
        pthread_t t;
        pthread_create(&t, NULL, delayed_act, &d);
        char desc[160];
        double t0 = now_ms();
        wait_one(c, p[0], 5000, NULL, desc, sizeof desc);
        double dt = now_ms() - t0;
        pthread_join(t, NULL);
        /* the data of the epoll event names the fd; print it relative to the fd */
        printf("wake %s: %s %s\n", call_name[c], c >= EPOLL_WAIT ? strchr(desc, ' ') + 1 : desc, verdict(dt, 90, 400));
        if (c >= EPOLL_WAIT) {
            char *dp = strstr(desc, "data=");
            unsigned long long v = dp ? strtoull(dp + 5, NULL, 16) : 0;
            printf("wake %s: data_is_fd=%d\n", call_name[c], v == 0x1234500000000ULL + p[0]);
        }
        close(p[0]);
        close(p[1]);
    }
    /* infinite timeouts */
    for (int c = 0; c < NCALLS; c++) {
        int p[2];
        pipe(p);
        struct delayed d = {p[1], 50, 0};
        pthread_t t;
        pthread_create(&t, NULL, delayed_act, &d);
        char desc[160];
        double t0 = now_ms();
        int r = wait_one(c, p[0], -1, NULL, desc, sizeof desc);
        double dt = now_ms() - t0;
        pthread_join(t, NULL);
        printf("wake infinite %s: r=%d %s\n", call_name[c], r, verdict(dt, 45, 400));
        close(p[0]);
        close(p[1]);
    }
    /* POLLOUT: a full pipe becomes writable when a reader drains it */
    int p[2];
    pipe2(p, O_NONBLOCK);
    char buf[65536];
    memset(buf, 'a', sizeof buf);
    while (write(p[1], buf, sizeof buf) > 0) {
    }
    struct pollfd pf = {p[1], POLLOUT, 0};
    printf("wake full pipe: r=%d\n", poll(&pf, 1, 0));
    pthread_t t;
    drain_fd = p[0];
    pthread_create(&t, NULL, drain, NULL);
    double t0 = now_ms();
    int r = poll(&pf, 1, 5000);
    printf("wake POLLOUT: r=%d revents=0x%x %s\n", r, pf.revents, verdict(now_ms() - t0, 90, 400));
    pthread_join(t, NULL);
    while (read(p[0], buf, sizeof buf) > 0) {
    }
    while (write(p[1], buf, sizeof buf) > 0) {
    }
    pthread_create(&t, NULL, drain, NULL);
    fd_set ws;
    FD_ZERO(&ws);
    FD_SET(p[1], &ws);
    t0 = now_ms();
    r = select(p[1] + 1, NULL, &ws, NULL, NULL);
    printf("wake select writable: r=%d isset=%d %s\n", r, FD_ISSET(p[1], &ws) ? 1 : 0, verdict(now_ms() - t0, 90, 400));
    pthread_join(t, NULL);
}

struct par {
    int call;
    int fd;
    int ms;
    int r;
    double dt;
};

static void *par_waiter(void *arg) {
    struct par *w = arg;
    char d[160];
    double t0 = now_ms();
    w->r = wait_one(w->call, w->fd, w->ms, NULL, d, sizeof d);
    w->dt = now_ms() - t0;
    return NULL;
}

static void case_parallel(void) {
    int calls[5] = {POLL, PPOLL, SELECT, EPOLL_WAIT, POLL};
    struct par w[5];
    pthread_t t[5], wr;
    int pipes[5][2];
    double t0 = now_ms();
    for (int i = 0; i < 5; i++) {
        pipe(pipes[i]);
        w[i] = (struct par){calls[i], pipes[i][0], i == 4 ? 5000 : 300, 0, 0};
        pthread_create(&t[i], NULL, par_waiter, &w[i]);
    }
    struct delayed d = {pipes[4][1], 100, 0};
    pthread_create(&wr, NULL, delayed_act, &d);
    for (int i = 0; i < 5; i++)
        pthread_join(t[i], NULL);
    pthread_join(wr, NULL);
    double total = now_ms() - t0;
    for (int i = 0; i < 5; i++)
        printf("parallel %d %s: r=%d %s\n", i, call_name[calls[i]], w[i].r,
               i == 4 ? verdict(w[i].dt, 90, 250) : verdict(w[i].dt, 298, 450));
    printf("parallel total: %s\n", verdict(total, 298, 550));
}

static volatile sig_atomic_t handled;
static void on_signal(int sig) {
    (void)sig;
    handled++;
}

static void case_eintr(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; /* these calls are never restarted anyway */
    sigaction(SIGALRM, &sa, NULL);
    int p[2];
    pipe(p);
    for (int c = 0; c < NCALLS; c++) {
        struct itimerval it = {{0, 0}, {0, 100000}};
        setitimer(ITIMER_REAL, &it, NULL);
        handled = 0;
        char d[160];
        double t0 = now_ms();
        wait_one(c, p[0], 3000, NULL, d, sizeof d);
        printf("eintr %s: %s handled=%d %s\n", call_name[c], d, (int)handled, verdict(now_ms() - t0, 90, 400));
    }
    /* select leaves the sets as passed on EINTR and writes back the unslept time */
    struct itimerval it = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &it, NULL);
    fd_set rs, ws;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_SET(p[0], &rs);
    FD_SET(p[0], &ws); /* the read end of a pipe is never writable */
    struct timeval tv = {3, 0};
    int r = select(p[0] + 1, &rs, &ws, NULL, &tv);
    int e = errno;
    printf("eintr select sets: r=%d errno=%s r_isset=%d w_isset=%d remaining_ok=%d\n", r, ename(e),
           FD_ISSET(p[0], &rs) ? 1 : 0, FD_ISSET(p[0], &ws) ? 1 : 0,
           tv.tv_sec == 2 && tv.tv_usec > 500000 ? 1 : 0);
}

static pthread_t kill_target;
static void *kill_waiter(void *arg) {
    int fd = *(int *)arg;
    char d[160];
    double t0 = now_ms();
    wait_one(POLL, fd, 3000, NULL, d, sizeof d);
    printf("kill poll in thread: %s handled=%d %s\n", d, (int)handled, verdict(now_ms() - t0, 90, 400));
    return NULL;
}

static void case_kill(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    int p[2];
    pipe(p);
    handled = 0;
    pthread_create(&kill_target, NULL, kill_waiter, &p[0]);
    sleep_ms(100);
    pthread_kill(kill_target, SIGUSR1);
    pthread_join(kill_target, NULL);
}

static void *kill_process_later(void *arg) {
    (void)arg;
    sleep_ms(100);
    kill(getpid(), SIGUSR1);
    return NULL;
}

static void case_sigmask(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t block, waitmask, cur;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    pthread_sigmask(SIG_BLOCK, NULL, &waitmask);
    sigdelset(&waitmask, SIGUSR1);
    int p[2];
    pipe(p);
    int calls[4] = {PPOLL, PSELECT, EPOLL_PWAIT, EPOLL_PWAIT2};
    for (int i = 0; i < 4; i++) {
        handled = 0;
        pthread_t t;
        pthread_create(&t, NULL, kill_process_later, NULL);
        char d[160];
        double t0 = now_ms();
        wait_one(calls[i], p[0], 3000, &waitmask, d, sizeof d);
        double dt = now_ms() - t0;
        pthread_join(t, NULL);
        pthread_sigmask(SIG_BLOCK, NULL, &cur);
        printf("sigmask %s: %s handled=%d blocked_after=%d %s\n", call_name[calls[i]], d, (int)handled,
               sigismember(&cur, SIGUSR1), verdict(dt, 90, 400));
    }
    /* the wait-for-a-signal idioms: no fds, no timeout */
    for (int i = 0; i < 2; i++) {
        handled = 0;
        pthread_t t;
        pthread_create(&t, NULL, kill_process_later, NULL);
        double t0 = now_ms();
        int r = i == 0 ? pselect(0, NULL, NULL, NULL, NULL, &waitmask) : ppoll(NULL, 0, NULL, &waitmask);
        int e = errno;
        double dt = now_ms() - t0;
        pthread_join(t, NULL);
        printf("sigmask %s idiom: r=%d errno=%s handled=%d %s\n", i == 0 ? "pselect(0)" : "ppoll(NULL,0)", r, ename(e),
               (int)handled, verdict(dt, 90, 400));
    }
    /* a signal already pending when the call starts: EINTR at once */
    handled = 0;
    kill(getpid(), SIGUSR1);
    char d[160];
    double t0 = now_ms();
    wait_one(PPOLL, p[0], 3000, &waitmask, d, sizeof d);
    printf("sigmask pending ppoll: %s handled=%d %s\n", d, (int)handled, verdict(now_ms() - t0, 0, 50));
    /* the mask does not let the signal through: the call times out, the signal stays pending */
    handled = 0;
    pthread_t t;
    pthread_create(&t, NULL, kill_process_later, NULL);
    t0 = now_ms();
    wait_one(PPOLL, p[0], 300, NULL, d, sizeof d);
    pthread_join(t, NULL);
    sigset_t pend;
    sigpending(&pend);
    printf("sigmask blocked ppoll: %s handled=%d pending=%d %s\n", d, (int)handled, sigismember(&pend, SIGUSR1),
           verdict(now_ms() - t0, 298, 450));
    pthread_sigmask(SIG_UNBLOCK, &block, NULL);
    printf("sigmask after unblock: handled=%d\n", (int)handled);
}

static void case_nval(void) {
    int p[2];
    pipe(p);
    int fd = p[0];
    close(p[0]);
    close(p[1]);
    for (int c = 0; c < NCALLS; c++) {
        char d[160];
        double t0 = now_ms();
        if (c >= EPOLL_WAIT) {
            /* an epoll_wait on a closed epoll fd */
            struct epoll_event ev;
            struct timespec ts = {1, 0};
            int r = c == EPOLL_WAIT ? epoll_wait(fd, &ev, 1, 1000)
                    : c == EPOLL_PWAIT ? epoll_pwait(fd, &ev, 1, 1000, NULL)
                                       : epoll_pwait2(fd, &ev, 1, &ts, NULL);
            snprintf(d, sizeof d, "r=%d errno=%s", r, ename(errno));
        } else {
            wait_one(c, fd, 1000, NULL, d, sizeof d);
        }
        printf("nval %s: %s %s\n", call_name[c], d, verdict(now_ms() - t0, 0, 20));
    }
    /* negative fds are ignored by poll */
    struct pollfd pf[2] = {{-1, POLLIN, 0}, {fd, POLLIN, 0}};
    int r = poll(pf, 2, 1000);
    printf("nval poll mixed: r=%d revents=0x%x 0x%x\n", r, pf[0].revents, pf[1].revents);
    pf[1].fd = -5;
    double t0 = now_ms();
    r = poll(pf, 2, 100);
    printf("nval poll all negative: r=%d %s\n", r, verdict(now_ms() - t0, 99, 150));
}

static void case_hup(void) {
    for (int c = 0; c < NCALLS; c++) {
        int p[2];
        pipe(p);
        struct delayed d = {p[1], 100, 1};
        pthread_t t;
        pthread_create(&t, NULL, delayed_act, &d);
        char desc[160];
        double t0 = now_ms();
        wait_one(c, p[0], 5000, NULL, desc, sizeof desc);
        double dt = now_ms() - t0;
        pthread_join(t, NULL);
        char *data = strstr(desc, " data=");
        if (data)
            *data = 0;
        printf("hup %s: %s %s\n", call_name[c], desc, verdict(dt, 90, 400));
        close(p[0]);
    }
    /* POLLERR on a write end whose reader is gone */
    int p[2];
    pipe(p);
    close(p[0]);
    struct pollfd pf = {p[1], POLLOUT, 0};
    int r = poll(&pf, 1, 1000);
    printf("hup write end: r=%d revents=0x%x\n", r, pf.revents);
    close(p[1]);
}

static void case_regular(void) {
    char path[] = "/tmp/poll_cases_XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    write(fd, "hello", 5);
    struct pollfd pf = {fd, POLLIN | POLLOUT, 0};
    double t0 = now_ms();
    int r = poll(&pf, 1, 1000);
    printf("regular poll in|out: r=%d revents=0x%x %s\n", r, pf.revents, verdict(now_ms() - t0, 0, 20));
    fd_set rs, ws;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_SET(fd, &rs);
    FD_SET(fd, &ws);
    struct timeval tv = {1, 0};
    r = select(fd + 1, &rs, &ws, NULL, &tv);
    printf("regular select: r=%d r=%d w=%d\n", r, FD_ISSET(fd, &rs) ? 1 : 0, FD_ISSET(fd, &ws) ? 1 : 0);
    pf.events = POLLPRI;
    pf.revents = 0;
    t0 = now_ms();
    r = poll(&pf, 1, 100);
    printf("regular poll pri: r=%d revents=0x%x %s\n", r, pf.revents, verdict(now_ms() - t0, 99, 150));
    /* a regular file and a pipe that becomes readable */
    int p[2];
    pipe(p);
    struct pollfd two[2] = {{fd, POLLPRI, 0}, {p[0], POLLIN, 0}};
    struct delayed d = {p[1], 100, 0};
    pthread_t t;
    pthread_create(&t, NULL, delayed_act, &d);
    t0 = now_ms();
    r = poll(two, 2, 3000);
    pthread_join(t, NULL);
    printf("regular+pipe: r=%d revents=0x%x 0x%x %s\n", r, two[0].revents, two[1].revents, verdict(now_ms() - t0, 90, 400));
    close(fd);
}

static void case_errors(void) {
    int p[2];
    pipe(p);
    struct pollfd pf = {p[0], POLLIN, 0};
    struct timespec bad[3] = {{0, 1000000000}, {-1, 0}, {0, -1}};
    sigset_t none;
    sigemptyset(&none);
    for (int i = 0; i < 3; i++) {
        errno = 0;
        int r1 = ppoll(&pf, 1, &bad[i], NULL);
        int e1 = errno;
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(p[0], &rs);
        errno = 0;
        int r2 = pselect(p[0] + 1, &rs, NULL, NULL, &bad[i], &none);
        int e2 = errno;
        int ep = epoll_create1(0);
        struct epoll_event ev;
        errno = 0;
        int r3 = epoll_pwait2(ep, &ev, 1, &bad[i], NULL);
        int e3 = errno;
        close(ep);
        printf("errors bad timespec %d: ppoll=%d/%s pselect=%d/%s epoll_pwait2=%d/%s\n", i, r1, ename(e1), r2, ename(e2), r3, ename(e3));
    }
    struct timeval tvs[5] = {{0, -1}, {-1, 0}, {0, -1000000}, {0, 1500000}, {1, 999999}};
    write(p[1], "x", 1); /* readable: the valid ones return at once */
    for (int i = 0; i < 5; i++) {
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(p[0], &rs);
        struct timeval tv = tvs[i];
        errno = 0;
        int r = select(p[0] + 1, &rs, NULL, NULL, &tv);
        int e = errno;
        /* the unslept time: within 10 ms of the whole timeout */
        long long in_us = (long long)tvs[i].tv_sec * 1000000 + tvs[i].tv_usec;
        long long out_us = (long long)tv.tv_sec * 1000000 + tv.tv_usec;
        int wb = r < 0 ? (tv.tv_sec == tvs[i].tv_sec && tv.tv_usec == tvs[i].tv_usec)
                       : (out_us <= in_us && out_us > in_us - 10000 && tv.tv_usec < 1000000);
        printf("errors select timeval %d: r=%d errno=%s writeback_ok=%d\n", i, r, r < 0 ? ename(e) : "0", wb);
    }
    char c;
    read(p[0], &c, 1);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {1, 0};
    errno = 0;
    int r = select(-1, &rs, NULL, NULL, &tv);
    printf("errors select nfds=-1: r=%d errno=%s\n", r, ename(errno));
    /* nfds beyond FD_SETSIZE: the kernel reads no further than its fd table */
    write(p[1], "x", 1);
    static unsigned long big[4096 / (8 * sizeof(unsigned long))];
    memset(big, 0, sizeof big);
    big[p[0] / (8 * sizeof(unsigned long))] |= 1UL << (p[0] % (8 * sizeof(unsigned long)));
    tv.tv_sec = 1;
    tv.tv_usec = 0;
    errno = 0;
    r = select(4096, (fd_set *)big, NULL, NULL, &tv);
    printf("errors select nfds=4096: r=%d errno=%s\n", r, r < 0 ? ename(errno) : "0");
    read(p[0], &c, 1);
    errno = 0;
    volatile nfds_t huge = 1 << 30;
    r = poll(&pf, huge, 0);
    printf("errors poll nfds=2^30: r=%d errno=%s\n", r, ename(errno));
    errno = 0;
    struct pollfd *volatile nullp = NULL;
    r = poll(nullp, 1, 100);
    printf("errors poll NULL: r=%d errno=%s\n", r, ename(errno));
    int ep = epoll_create1(0);
    struct epoll_event ev;
    errno = 0;
    r = epoll_wait(ep, &ev, 0, 100);
    printf("errors epoll_wait maxevents=0: r=%d errno=%s\n", r, ename(errno));
    errno = 0;
    r = epoll_wait(p[0], &ev, 1, 100);
    printf("errors epoll_wait on a pipe: r=%d errno=%s\n", r, ename(errno));
    close(ep);
    /* errno is left alone by a successful call */
    errno = 12345;
    r = poll(&pf, 1, 50);
    printf("errors errno kept: r=%d errno=%d\n", r, errno);
    errno = 12345;
    write(p[1], "x", 1);
    r = poll(&pf, 1, 50);
    printf("errors errno kept ready: r=%d errno=%d\n", r, errno);
}

static int cw_fd;
static void *closer(void *arg) {
    (void)arg;
    sleep_ms(100);
    close(cw_fd);
    return NULL;
}

static void case_closewait(void) {
    int p[2];
    pipe(p);
    cw_fd = p[0];
    pthread_t t;
    pthread_create(&t, NULL, closer, NULL);
    struct pollfd pf = {p[0], POLLIN, 0};
    double t0 = now_ms();
    int r = poll(&pf, 1, 3000);
    printf("closewait poll: r=%d revents=0x%x %s\n", r, pf.revents, verdict(now_ms() - t0, 90, 400));
    pthread_join(t, NULL);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: poll_cases CASE\n");
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "zero")) case_zero();
    else if (!strcmp(c, "timeout")) case_timeout();
    else if (!strcmp(c, "wake")) case_wake();
    else if (!strcmp(c, "parallel")) case_parallel();
    else if (!strcmp(c, "eintr")) case_eintr();
    else if (!strcmp(c, "kill")) case_kill();
    else if (!strcmp(c, "sigmask")) case_sigmask();
    else if (!strcmp(c, "nval")) case_nval();
    else if (!strcmp(c, "hup")) case_hup();
    else if (!strcmp(c, "regular")) case_regular();
    else if (!strcmp(c, "errors")) case_errors();
    else if (!strcmp(c, "closewait")) case_closewait();
    else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    return 0;
}
