/* io_uring_enter waiting for completions parks only its thread under the shim, with the
 * results and errno the kernel gives natively. The ring is driven by hand (no liburing), the
 * waits made both through syscall() and with an inline `syscall` instruction as liburing makes
 * them (caught by syscall user dispatch). A ticker counts while each call waits (it must keep
 * running). Prints results, never timings. Exits 0 with "io_uring: unavailable" where the
 * kernel refuses io_uring_setup (natively and under the shim alike). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ticker.h"

static struct {
    int fd;
    unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
} R;

static int ring_setup(void) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    R.fd = syscall(SYS_io_uring_setup, 8, &p);
    if (R.fd < 0) return -1;
    size_t sqsz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cqsz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = mmap(0, sqsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, R.fd, IORING_OFF_SQ_RING);
    char *cq = mmap(0, cqsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, R.fd, IORING_OFF_CQ_RING);
    R.sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, R.fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || R.sqes == MAP_FAILED) return -1;
    R.sq_tail = (unsigned *)(sq + p.sq_off.tail);
    R.sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    R.sq_array = (unsigned *)(sq + p.sq_off.array);
    R.cq_head = (unsigned *)(cq + p.cq_off.head);
    R.cq_tail = (unsigned *)(cq + p.cq_off.tail);
    R.cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    R.cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    return 0;
}

/* Queue one request (not yet submitted to the kernel). */
static void queue(int op, int fd, void *buf, unsigned len, unsigned long long data) {
    unsigned t = *R.sq_tail, i = t & *R.sq_mask;
    struct io_uring_sqe *e = &R.sqes[i];
    memset(e, 0, sizeof *e);
    e->opcode = op;
    e->fd = fd;
    e->addr = (unsigned long)buf;
    e->len = len;
    e->off = (unsigned long long)-1; /* the file position: a pipe's only kind */
    e->user_data = data;
    R.sq_array[i] = i;
    __atomic_store_n(R.sq_tail, t + 1, __ATOMIC_RELEASE);
}

/* Take every completion there, printed in user_data order. */
static void reap(void) {
    struct io_uring_cqe got[8];
    int n = 0;
    unsigned h = *R.cq_head;
    while (h != __atomic_load_n(R.cq_tail, __ATOMIC_ACQUIRE) && n < 8) got[n++] = R.cqes[h++ & *R.cq_mask];
    __atomic_store_n(R.cq_head, h, __ATOMIC_RELEASE);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (got[j].user_data < got[i].user_data) {
                struct io_uring_cqe t = got[i];
                got[i] = got[j];
                got[j] = t;
            }
    for (int i = 0; i < n; i++) printf("  completion %llu: res %d\n", (unsigned long long)got[i].user_data, got[i].res);
}

/* io_uring_enter as liburing makes it on x86_64: the instruction inline, no libc. */
static long enter_inline(long fd, long sub, long min, long flags, void *arg, long sz) {
    long r;
    register long r10 __asm__("r10") = flags;
    register long r8 __asm__("r8") = (long)arg;
    register long r9 __asm__("r9") = sz;
    __asm__ volatile("syscall" : "=a"(r) : "0"((long)SYS_io_uring_enter), "D"(fd), "S"(sub), "d"(min), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
    return r;
}

static long enter_libc(long fd, long sub, long min, long flags, void *arg, long sz) {
    long r = syscall(SYS_io_uring_enter, fd, sub, min, flags, arg, sz);
    return r < 0 ? -errno : r;
}

/* t0 < 0: a call that returns at once (no ticker check: timing is not compared). */
static void show(const char *what, long r, int t0) {
    printf("%-52s -> %ld%s%s", what, r < 0 ? -1 : r, r < 0 ? " errno " : "", r < 0 ? strerrorname_np(-r) : "");
    if (t0 >= 0) printf(", ticker ran: %s", atomic_load(&ticks) - t0 >= 1 ? "yes" : "no");
    printf("\n");
}

static int p[2], q[2];
struct feed { int fd, ms; };

static void *feeder(void *a) {
    struct feed *f = a;
    usleep(f->ms * 1000);
    if (write(f->fd, "hello", 5) != 5) return (void *)1;
    return NULL;
}

static pthread_t waiter;
static atomic_int handled;
static void on_usr1(int s) {
    (void)s;
    atomic_fetch_add(&handled, 1);
}
static void *interrupter(void *a) {
    (void)a;
    usleep(40000);
    pthread_kill(waiter, SIGUSR1);
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (ring_setup()) {
        printf("io_uring: unavailable (%s)\n", strerrorname_np(errno));
        return 0;
    }
    waiter = pthread_self();
    pthread_t tk, f, g;
    pthread_create(&tk, NULL, ticker, NULL);
    if (pipe(p) || pipe(q)) return 1;
    char b1[16] = {0}, b2[16] = {0};

    /* Submit and wait in one call: the result is the submitted count. */
    struct feed fa = {p[1], 60};
    queue(IORING_OP_READ, p[0], b1, sizeof b1, 1);
    pthread_create(&f, NULL, feeder, &fa);
    int t0 = atomic_load(&ticks);
    show("syscall(): submit 1, wait 1, pipe fed later", enter_libc(R.fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0), t0);
    reap();
    pthread_join(f, NULL);

    /* Submit, then wait with another call made inline. */
    queue(IORING_OP_READ, p[0], b1, sizeof b1, 2);
    show("inline: submit 1, no wait", enter_inline(R.fd, 1, 0, 0, NULL, 0), -1);
    pthread_create(&f, NULL, feeder, &fa);
    t0 = atomic_load(&ticks);
    show("inline: wait 1, pipe fed later", enter_inline(R.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0), t0);
    reap();
    pthread_join(f, NULL);

    /* Two reads, fed at different times, one wait for both. */
    struct feed fb = {q[1], 90};
    queue(IORING_OP_READ, p[0], b1, sizeof b1, 3);
    queue(IORING_OP_READ, q[0], b2, sizeof b2, 4);
    pthread_create(&f, NULL, feeder, &fa);
    pthread_create(&g, NULL, feeder, &fb);
    t0 = atomic_load(&ticks);
    show("inline: submit 2, wait 2, fed 60 and 90 ms later", enter_inline(R.fd, 2, 2, IORING_ENTER_GETEVENTS, NULL, 0), t0);
    reap();
    pthread_join(f, NULL);
    pthread_join(g, NULL);

    /* More than the completion queue holds (16 for 8 entries): the kernel waits for a full
     * queue. 16 NOPs in two submissions of 8. */
    for (int i = 0; i < 8; i++) queue(IORING_OP_NOP, -1, NULL, 0, 100 + i);
    show("syscall(): submit 8 NOPs, no wait", enter_libc(R.fd, 8, 0, 0, NULL, 0), -1);
    for (int i = 0; i < 8; i++) queue(IORING_OP_NOP, -1, NULL, 0, 108 + i);
    show("syscall(): submit 8 NOPs", enter_libc(R.fd, 8, 0, 0, NULL, 0), -1);
    show("inline: wait 100 (queue of 16, full)", enter_inline(R.fd, 0, 100, IORING_ENTER_GETEVENTS, NULL, 0), -1);
    {
        unsigned h = *R.cq_head, t = __atomic_load_n(R.cq_tail, __ATOMIC_ACQUIRE);
        printf("  completions there: %u\n", t - h);
        __atomic_store_n(R.cq_head, t, __ATOMIC_RELEASE);
    }

    /* A NOP completes at once. */
    queue(IORING_OP_NOP, -1, NULL, 0, 5);
    show("syscall(): submit NOP, wait 1", enter_libc(R.fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0), -1);
    reap();

    /* Timeouts through IORING_ENTER_EXT_ARG. */
    struct __kernel_timespec ts = {0, 40000000};
    struct io_uring_getevents_arg ga = {.ts = (unsigned long)&ts};
    queue(IORING_OP_READ, p[0], b1, sizeof b1, 6);
    show("inline: submit 1, no wait", enter_inline(R.fd, 1, 0, 0, NULL, 0), -1);
    t0 = atomic_load(&ticks);
    show("inline: wait 1, 40 ms timeout, nothing comes", enter_inline(R.fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &ga, sizeof ga), t0);
    ts.tv_nsec = 500000000;
    pthread_create(&f, NULL, feeder, &fa);
    t0 = atomic_load(&ticks);
    show("syscall(): wait 1, 500 ms timeout, fed after 60 ms", enter_libc(R.fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &ga, sizeof ga), t0);
    reap();
    pthread_join(f, NULL);
    show("syscall(): EXT_ARG with a wrong size", enter_libc(R.fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &ga, 8), -1);
    show("syscall(): a pipe is not a ring", enter_libc(p[0], 0, 1, IORING_ENTER_GETEVENTS, NULL, 0), -1);
    show("syscall(): bad fd", enter_libc(-1, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0), -1);
    show("syscall(): nothing to wait for (min_complete 0)", enter_libc(R.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0), -1);

    /* Signals: a handler ends the wait with EINTR, even with SA_RESTART; a mask in the call's
     * argument keeps the signal out until the call returns. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    queue(IORING_OP_READ, p[0], b1, sizeof b1, 7);
    show("inline: submit 1, no wait", enter_inline(R.fd, 1, 0, 0, NULL, 0), -1);
    pthread_create(&f, NULL, interrupter, NULL);
    t0 = atomic_load(&ticks);
    show("inline: wait 1, SA_RESTART handler runs after 40 ms", enter_inline(R.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0), t0);
    printf("  handler ran: %d\n", atomic_load(&handled));
    pthread_join(f, NULL);
    sigset_t blk;
    sigemptyset(&blk);
    sigaddset(&blk, SIGUSR1);
    ts.tv_nsec = 100000000;
    ga.sigmask = (unsigned long)&blk;
    ga.sigmask_sz = 8;
    pthread_create(&f, NULL, interrupter, NULL);
    t0 = atomic_load(&ticks);
    show("syscall(): wait 1, 100 ms, SIGUSR1 masked by the call", enter_libc(R.fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &ga, sizeof ga), t0);
    printf("  handler ran: %d\n", atomic_load(&handled));
    pthread_join(f, NULL);
    /* The read still pending gets its data. */
    pthread_create(&f, NULL, feeder, &fa);
    t0 = atomic_load(&ticks);
    show("inline: wait 1, fed after 60 ms", enter_inline(R.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0), t0);
    reap();
    pthread_join(f, NULL);

    atomic_store(&stop, 1);
    pthread_join(tk, NULL);
    return 0;
}
