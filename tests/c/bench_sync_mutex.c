/* Uncontended pthread_mutex_lock + pthread_mutex_unlock: ns per pair.
 * Usage: bench_sync_mutex [N]   (for scripts/bench_sync.sh) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000000;
    for (long i = 0; i < n / 10; i++) { pthread_mutex_lock(&m); pthread_mutex_unlock(&m); }
    double t0 = now();
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&m);
        __asm__ volatile("" ::: "memory");
        pthread_mutex_unlock(&m);
    }
    double t1 = now();
    printf("ns_per_pair=%.2f\n", (t1 - t0) / n);
    return 0;
}
