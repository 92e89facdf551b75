/* ticker.h: the ticker thread of the differential tests. It counts every 2 ms until `stop` is
 * set. A test reads `ticks` right before and right after a call that waits: natively the ticker
 * runs in parallel; under the shim it must keep running too (the wait parks only its thread).
 * Reading right after the call matters: a wait that froze every thread ends before the ticker
 * can run again. */
#ifndef TICKER_H
#define TICKER_H
#include <stdatomic.h>
#include <unistd.h>

static atomic_int ticks, stop;

static void *ticker(void *a) {
    (void)a;
    while (!atomic_load(&stop)) {
        usleep(2000);
        atomic_fetch_add(&ticks, 1);
    }
    return NULL;
}
#endif
