/* Linux native AIO: io_getevents / io_pgetevents waiting for completions park only their
 * thread under the shim, with the kernel's results. Requests are IOCB_CMD_POLL on pipes fed
 * later by another thread (truly asynchronous, unlike reads of regular files). The waits are
 * made through syscall(), as MariaDB makes them, and with an inline `syscall` instruction
 * (caught by syscall user dispatch). A ticker counts while each call waits (it must keep
 * running). Prints results, never timings. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/aio_abi.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "late_signal.h"
#include "ticker.h"

static long getevents_inline(aio_context_t ctx, long min, long nr, struct io_event *ev, struct timespec *ts) {
    long r;
    register long r10 __asm__("r10") = (long)ev;
    register long r8 __asm__("r8") = (long)ts;
    __asm__ volatile("syscall" : "=a"(r) : "0"((long)SYS_io_getevents), "D"(ctx), "S"(min), "d"(nr), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
    return r;
}

static long getevents_libc(aio_context_t ctx, long min, long nr, struct io_event *ev, struct timespec *ts) {
    long r = syscall(SYS_io_getevents, ctx, min, nr, ev, ts);
    return r < 0 ? -errno : r;
}

static void show(const char *what, long r, int t0) {
    printf("%-52s -> %ld%s%s", what, r < 0 ? -1 : r, r < 0 ? " errno " : "", r < 0 ? strerrorname_np(-r) : "");
    if (t0 >= 0) printf(", ticker ran: %s", atomic_load(&ticks) - t0 >= 1 ? "yes" : "no");
    printf("\n");
}

static void events(struct io_event *ev, long n) {
    for (long i = 0; i < n; i++)
        for (long j = i + 1; j < n; j++)
            if (ev[j].data < ev[i].data) {
                struct io_event t = ev[i];
                ev[i] = ev[j];
                ev[j] = t;
            }
    for (long i = 0; i < n; i++) printf("  event %llu: res %lld\n", (unsigned long long)ev[i].data, (long long)ev[i].res);
}

static aio_context_t ctx;
static int p[2], q[2];

/* Queue a poll for readability of fd. */
static long poll_req(int fd, unsigned long long data) {
    static struct iocb cbs[16];
    static int next;
    struct iocb *cb = &cbs[next++ % 16];
    memset(cb, 0, sizeof *cb);
    cb->aio_lio_opcode = IOCB_CMD_POLL;
    cb->aio_fildes = fd;
    cb->aio_buf = POLLIN;
    cb->aio_data = data;
    long r = syscall(SYS_io_submit, ctx, 1, &cb);
    return r < 0 ? -errno : r;
}

static void drain(int fd) {
    char b[64];
    if (read(fd, b, sizeof b) < 0) perror("read");
}

struct feed { int fd, ms; };
static void *feeder(void *a) {
    struct feed *f = a;
    usleep(f->ms * 1000);
    if (write(f->fd, "x", 1) != 1) return (void *)1;
    return NULL;
}

static pthread_t waiter;
static atomic_int handled;
static void on_usr1(int s) {
    (void)s;
    atomic_fetch_add(&handled, 1);
}
/* One SIGUSR1 to the waiter after 40 ms. Under the shim it comes while the waiter's greenlet
 * may be runnable (its retry timer fired), not parked: the wait must still end with EINTR. */
static void *interrupter(void *a) {
    (void)a;
    usleep(40000);
    pthread_kill(waiter, SIGUSR1);
    return NULL;
}


int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (syscall(SYS_io_setup, 16, &ctx)) {
        printf("aio: unavailable (%s)\n", strerrorname_np(errno));
        return 0;
    }
    waiter = late_target = pthread_self();
    late_signal = SIGUSR1;
    pthread_t tk, f, g;
    pthread_create(&tk, NULL, ticker, NULL);
    if (pipe(p) || pipe(q)) return 1;
    struct io_event ev[8];
    struct feed fa = {p[1], 60}, fb = {q[1], 90};

    show("io_submit poll of a pipe", poll_req(p[0], 1), -1);
    pthread_create(&f, NULL, feeder, &fa);
    int t0 = atomic_load(&ticks);
    long n = getevents_libc(ctx, 1, 8, ev, NULL);
    show("syscall(): wait 1, fed after 60 ms", n, t0);
    events(ev, n);
    pthread_join(f, NULL);
    drain(p[0]);

    poll_req(p[0], 2);
    poll_req(q[0], 3);
    pthread_create(&f, NULL, feeder, &fa);
    pthread_create(&g, NULL, feeder, &fb);
    t0 = atomic_load(&ticks);
    n = getevents_inline(ctx, 2, 8, ev, NULL);
    show("inline: wait 2, fed after 60 and 90 ms", n, t0);
    events(ev, n);
    pthread_join(f, NULL);
    pthread_join(g, NULL);
    drain(p[0]);
    drain(q[0]);

    poll_req(p[0], 4);
    struct timespec ts = {0, 40000000};
    t0 = atomic_load(&ticks);
    show("inline: wait 1, 40 ms timeout, nothing comes", getevents_inline(ctx, 1, 8, ev, &ts), t0);
    ts.tv_nsec = 0;
    show("syscall(): zero timeout, nothing there", getevents_libc(ctx, 1, 8, ev, &ts), -1);
    show("syscall(): min_nr > nr", getevents_libc(ctx, 4, 2, ev, NULL), -1);
    show("syscall(): bad context", getevents_libc(12345, 1, 8, ev, NULL), -1);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_create(&f, NULL, interrupter, NULL);
    t0 = atomic_load(&ticks);
    int h0 = atomic_load(&handled);
    n = getevents_libc(ctx, 1, 8, ev, NULL);
    show("syscall(): wait 1, SA_RESTART handler after 40 ms", n, t0);
    printf("  handler ran: %s\n", atomic_load(&handled) > h0 ? "yes" : "no");
    pthread_join(f, NULL);

    int eintr = 0;
    for (int i = 0; i < 8; i++) {
        pthread_create(&f, NULL, late_interrupter, NULL);
        if (getevents_libc(ctx, 1, 8, ev, NULL) == -EINTR) eintr++;
        pthread_join(f, NULL);
    }
    printf("syscall(): wait 1, signal while a retry is due, x8     -> EINTR %d times\n", eintr);

    sigset_t blk;
    sigemptyset(&blk);
    sigaddset(&blk, SIGUSR1);
    struct { const sigset_t *set; size_t size; } us = {&blk, 8};
    ts.tv_nsec = 100000000;
    pthread_create(&f, NULL, interrupter, NULL);
    t0 = atomic_load(&ticks);
    h0 = atomic_load(&handled);
    long r = syscall(SYS_io_pgetevents, ctx, 1, 8, ev, &ts, &us);
    show("io_pgetevents: 100 ms, SIGUSR1 masked by the call", r < 0 ? -errno : r, t0);
    /* Natively the signal may come after the call on a loaded machine: wait for it to be sent,
     * and for a system call's return, where the kernel runs the handler. */
    pthread_join(f, NULL);
    sched_yield();
    printf("  handler ran after the call: %s\n", atomic_load(&handled) > h0 ? "yes" : "no");

    /* The poll still pending (4) completes. */
    pthread_create(&f, NULL, feeder, &fa);
    t0 = atomic_load(&ticks);
    n = getevents_libc(ctx, 1, 8, ev, NULL);
    show("syscall(): wait 1, fed after 60 ms", n, t0);
    events(ev, n);
    pthread_join(f, NULL);

    atomic_store(&stop, 1);
    pthread_join(tk, NULL);
    return 0;
}
