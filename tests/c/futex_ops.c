/* Futex calls made through syscall(), as Rust std and C11 runtimes make them: every operation
 * the shim takes over, its results and errno, natively and under the shim. A ticker thread
 * counts during the waits: natively it runs in parallel, under the shim it must keep running
 * too (a wait parks only its greenlet). Prints results, never timings. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long fx(void *addr, int op, unsigned val, const void *tmo_or_val2, void *addr2, unsigned val3) {
    return syscall(SYS_futex, addr, op, val, tmo_or_val2, addr2, val3);
}

static atomic_uint word, word2;
static atomic_int ticks, stop_ticker;
static atomic_int woken_count;

static void *ticker(void *a) {
    (void)a;
    while (!atomic_load(&stop_ticker)) {
        usleep(2000);
        atomic_fetch_add(&ticks, 1);
    }
    return NULL;
}

static void show(const char *what, long r) {
    printf("%-44s -> %ld%s%s\n", what, r, r < 0 ? " errno " : "", r < 0 ? strerrorname_np(errno) : "");
}

struct waiter { atomic_uint *addr; int op; unsigned val; unsigned bitset; long result; int err; };

static void *wait_thread(void *p) {
    struct waiter *w = p;
    errno = 0;
    w->result = fx(w->addr, w->op, w->val, NULL, NULL, w->bitset);
    w->err = errno;
    atomic_fetch_add(&woken_count, 1);
    return NULL;
}

static void settle(void) { usleep(100000); } /* long enough for the waiters to be waiting */

static void handler(int s) { (void)s; }

static void *wake_later(void *p) {
    usleep(50000);
    atomic_store(&word, 1);
    fx(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    (void)p;
    return NULL;
}

static void *wake_much_later(void *p) {
    usleep(120000);
    atomic_store(&word, 1);
    fx(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    (void)p;
    return NULL;
}

static void *shared_wake_later(void *p) {
    usleep(50000);
    atomic_store(&word, 1);
    fx(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); /* a private wake: not for a shared waiter */
    usleep(30000);
    printf("shared waiter still waiting after a private wake: %s\n", atomic_load(&woken_count) == 0 ? "yes" : "no");
    fx(&word, FUTEX_WAKE, 1, NULL, NULL, 0);
    (void)p;
    return NULL;
}

static void *signal_later(void *p) {
    usleep(40000);
    pthread_kill(*(pthread_t *)p, SIGUSR1);
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t tick;
    pthread_create(&tick, NULL, ticker, NULL);
    struct timespec rel = {0, 40 * 1000 * 1000}, bad = {0, 2000000000L};

    /* errors and immediate returns */
    atomic_store(&word, 5);
    show("WAIT value mismatch", fx(&word, FUTEX_WAIT_PRIVATE, 4, NULL, NULL, 0));
    show("WAIT misaligned", fx((char *)&word + 1, FUTEX_WAIT_PRIVATE, 5, NULL, NULL, 0));
    show("WAIT bad timeout", fx(&word, FUTEX_WAIT_PRIVATE, 5, &bad, NULL, 0));
    show("WAIT_BITSET zero bitset", fx(&word, FUTEX_WAIT_BITSET_PRIVATE, 5, NULL, NULL, 0));
    show("WAKE_BITSET zero bitset", fx(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0));
    show("WAKE nobody", fx(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
    show("CMP_REQUEUE value mismatch", fx(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1, &word2, 4));
    show("REQUEUE negative count", fx(&word, FUTEX_REQUEUE_PRIVATE, -1, (void *)1, &word2, 0));

    /* a relative timeout, while the ticker runs */
    /* (the ticker is read right after the call: a wait that froze every thread ends before the
     * ticker can run again) */
    int t0 = atomic_load(&ticks);
    long r = fx(&word, FUTEX_WAIT_PRIVATE, 5, &rel, NULL, 0);
    int ran = atomic_load(&ticks) - t0 >= 1;
    show("WAIT 40 ms relative timeout", r);
    printf("ticker ran during the wait: %s\n", ran ? "yes" : "no");
    /* an absolute one on each clock */
    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_nsec += 30 * 1000 * 1000;
    if (abs.tv_nsec >= 1000000000L) { abs.tv_sec++; abs.tv_nsec -= 1000000000L; }
    show("WAIT_BITSET absolute monotonic timeout", fx(&word, FUTEX_WAIT_BITSET_PRIVATE, 5, &abs, NULL, FUTEX_BITSET_MATCH_ANY));
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_nsec += 30 * 1000 * 1000;
    if (abs.tv_nsec >= 1000000000L) { abs.tv_sec++; abs.tv_nsec -= 1000000000L; }
    show("WAIT_BITSET absolute realtime timeout", fx(&word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 5, &abs, NULL, FUTEX_BITSET_MATCH_ANY));
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_sec -= 1;
    show("WAIT_BITSET deadline in the past", fx(&word, FUTEX_WAIT_BITSET_PRIVATE, 5, &abs, NULL, FUTEX_BITSET_MATCH_ANY));

    /* woken by another thread, no timeout */
    atomic_store(&word, 0);
    pthread_t w;
    pthread_create(&w, NULL, wake_later, NULL);
    t0 = atomic_load(&ticks);
    r = fx(&word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    ran = atomic_load(&ticks) - t0 >= 1;
    show("WAIT woken by another thread", r);
    printf("ticker ran during the wait: %s\n", ran ? "yes" : "no");
    pthread_join(w, NULL);

    /* WAKE counts, FIFO order, bitsets */
    struct waiter ws[6];
    pthread_t wt[6];
    atomic_store(&word, 7);
    atomic_store(&woken_count, 0);
    for (int i = 0; i < 6; i++) {
        ws[i] = (struct waiter){&word, FUTEX_WAIT_BITSET_PRIVATE, 7, i < 3 ? 1u : 2u, -9, 0};
        pthread_create(&wt[i], NULL, wait_thread, &ws[i]);
    }
    settle();
    show("WAKE_BITSET 2 of bitset 2 (3 wait on it)", fx(&word, FUTEX_WAKE_BITSET_PRIVATE, 2, NULL, NULL, 2));
    settle();
    printf("woken so far: %d\n", atomic_load(&woken_count));
    show("WAKE 0 (wakes one, as the kernel does)", fx(&word, FUTEX_WAKE_PRIVATE, 0, NULL, NULL, 0));
    settle();
    show("WAKE INT_MAX", fx(&word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    for (int i = 0; i < 6; i++) pthread_join(wt[i], NULL);
    for (int i = 0; i < 6; i++) printf("waiter %d: %ld %s\n", i, ws[i].result, ws[i].result < 0 ? strerrorname_np(ws[i].err) : "");

    /* requeue: 1 woken, 2 moved to word2, then woken there */
    atomic_store(&word, 3);
    atomic_store(&word2, 4);
    atomic_store(&woken_count, 0);
    for (int i = 0; i < 4; i++) {
        ws[i] = (struct waiter){&word, FUTEX_WAIT_PRIVATE, 3, 0, -9, 0};
        pthread_create(&wt[i], NULL, wait_thread, &ws[i]);
    }
    settle();
    show("CMP_REQUEUE wake 1, move 2", fx(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)2, &word2, 3));
    settle();
    printf("woken so far: %d\n", atomic_load(&woken_count));
    show("WAKE word2 all (the 2 moved)", fx(&word2, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    settle();
    show("REQUEUE wake 1, move 0", fx(&word, FUTEX_REQUEUE_PRIVATE, 1, (void *)0, &word2, 0));
    for (int i = 0; i < 4; i++) pthread_join(wt[i], NULL);
    printf("woken in all: %d\n", atomic_load(&woken_count));

    /* wake_op: word2 += 1, wake 1 on word, and on word2 if old word2 == 10 */
    atomic_store(&word, 1);
    atomic_store(&word2, 10);
    atomic_store(&woken_count, 0);
    ws[0] = (struct waiter){&word, FUTEX_WAIT_PRIVATE, 1, 0, -9, 0};
    ws[1] = (struct waiter){&word2, FUTEX_WAIT_PRIVATE, 10, 0, -9, 0};
    pthread_create(&wt[0], NULL, wait_thread, &ws[0]);
    pthread_create(&wt[1], NULL, wait_thread, &ws[1]);
    settle();
    show("WAKE_OP add 1, cmp eq 10", fx(&word, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1, &word2, FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 10)));
    pthread_join(wt[0], NULL);
    pthread_join(wt[1], NULL);
    printf("word2 after WAKE_OP: %u, woken %d\n", atomic_load(&word2), atomic_load(&woken_count));
    show("WAKE_OP bad op", fx(&word, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1, &word2, (7u << 28)));

    /* signals: EINTR without SA_RESTART; with SA_RESTART a wait without timeout goes on, one
     * with a timeout ends with EINTR */
    pthread_t self = pthread_self(), sg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigaction(SIGUSR1, &sa, NULL);
    atomic_store(&word, 0);
    pthread_create(&sg, NULL, signal_later, &self);
    show("WAIT interrupted (no SA_RESTART)", fx(&word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0));
    pthread_join(sg, NULL);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_create(&sg, NULL, signal_later, &self);
    struct timespec longer = {0, 150 * 1000 * 1000};
    show("WAIT with timeout interrupted (SA_RESTART)", fx(&word, FUTEX_WAIT_PRIVATE, 0, &longer, NULL, 0));
    pthread_join(sg, NULL);
    atomic_store(&word, 0);
    pthread_create(&sg, NULL, signal_later, &self);
    pthread_create(&w, NULL, wake_much_later, NULL);
    show("WAIT restarted (SA_RESTART), then woken", fx(&word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0));
    pthread_join(sg, NULL);
    pthread_join(w, NULL);

    /* a shared (not private) futex between threads: only a shared wake is for it */
    atomic_store(&word, 0);
    atomic_store(&woken_count, 0);
    ws[0] = (struct waiter){&word, FUTEX_WAIT, 0, 0, -9, 0};
    pthread_create(&wt[0], NULL, wait_thread, &ws[0]);
    settle();
    pthread_create(&w, NULL, shared_wake_later, NULL);
    pthread_join(w, NULL);
    pthread_join(wt[0], NULL);
    printf("shared waiter: %ld\n", ws[0].result);
    /* PI futexes go to the kernel */
    atomic_store(&word2, 0);
    show("FUTEX_LOCK_PI on a free word", fx(&word2, FUTEX_LOCK_PI_PRIVATE, 0, NULL, NULL, 0));
    printf("owner is the caller: %s\n", atomic_load(&word2) == (unsigned)gettid() ? "yes" : "no");
    show("FUTEX_UNLOCK_PI", fx(&word2, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0));

    atomic_store(&stop_ticker, 1);
    pthread_join(tick, NULL);
    return 0;
}
