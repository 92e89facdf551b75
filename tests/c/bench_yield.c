/* bench_yield: two threads take turns N times each (argv[1], default 1000000): a thread waits
 * for its turn calling sched_yield(), then hands the turn to the other. With both threads on
 * one core (natively: run under `taskset -c 0`), every sched_yield switches to the other one,
 * so there are 2N switches. Timed from before the first pthread_create to after both joins.
 * Output: n=<N> yields=<sched_yield calls> ns_per_switch=<total/(2N)>\n ; exit 0 iff both
 * threads completed all their turns. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long n;
static _Atomic int turn;
static _Atomic long yields;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *player(void *arg) {
    int me = (int)(uintptr_t)arg;
    long y = 0, done = 0;
    for (long i = 0; i < n; i++) {
        while (atomic_load_explicit(&turn, memory_order_acquire) != me) {
            sched_yield();
            y++;
        }
        atomic_store_explicit(&turn, !me, memory_order_release);
        done++;
    }
    atomic_fetch_add(&yields, y);
    return (void *)(uintptr_t)done;
}

int main(int argc, char **argv) {
    n = argc > 1 ? atol(argv[1]) : 1000000;
    if (n <= 0) n = 1;
    pthread_t a, b;
    void *ra = NULL, *rb = NULL;
    uint64_t t0 = now_ns();
    int rc = pthread_create(&a, NULL, player, (void *)0);
    if (rc == 0) rc = pthread_create(&b, NULL, player, (void *)1);
    if (rc != 0) {
        fprintf(stderr, "pthread_create: %s\n", strerror(rc));
        return 1;
    }
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    uint64_t t1 = now_ns();
    printf("n=%ld yields=%ld ns_per_switch=%.1f\n", n, (long)atomic_load(&yields), (double)(t1 - t0) / (2.0 * (double)n));
    if ((long)(uintptr_t)ra != n || (long)(uintptr_t)rb != n) {
        fprintf(stderr, "a thread did not complete its turns\n");
        return 1;
    }
    return 0;
}
