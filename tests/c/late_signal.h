/* late_signal.h: the signal-while-runnable race of the retrying waits, made deterministic.
 * `late_interrupter` sleeps 50 ms (the waiter's retries are several ms apart by then), starts
 * `spinner` and sends `late_signal` to `late_target` 1 ms later, most often before the waiter's
 * next retry. The spinner is busy for 20 ms without a call the shim interposes, so under the shim
 * the hub cannot run meanwhile: the timers that fall due fire together afterwards, in deadline
 * order, the interrupter's first, and the signal comes while the waiter's greenlet is runnable,
 * not parked. Natively the signal simply interrupts the wait. */
#ifndef LATE_SIGNAL_H
#define LATE_SIGNAL_H
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

static pthread_t late_target;
static int late_signal;

static void *spinner(void *a) {
    (void)a;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 20000000L);
    return NULL;
}

static void *late_interrupter(void *a) {
    (void)a;
    usleep(50000);
    pthread_t s;
    pthread_create(&s, NULL, spinner, NULL);
    usleep(1000);
    pthread_kill(late_target, late_signal);
    pthread_join(s, NULL);
    return NULL;
}
#endif
