/* bench_create_join: N (argv[1], default 20000) iterations of pthread_create of an empty
 * thread followed by pthread_join; a few warm-up pairs are not timed.
 * Output: n=<N> ns_per_pair=<ns>\n ; exit 0 iff every join returned the thread's argument. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *empty(void *arg) { return arg; }

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int pair(uintptr_t i) {
    pthread_t t;
    void *ret = NULL;
    int rc = pthread_create(&t, NULL, empty, (void *)i);
    if (rc != 0) {
        fprintf(stderr, "pthread_create: %s\n", strerror(rc));
        exit(1);
    }
    rc = pthread_join(t, &ret);
    if (rc != 0) {
        fprintf(stderr, "pthread_join: %s\n", strerror(rc));
        exit(1);
    }
    return ret == (void *)i;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000;
    if (n <= 0) n = 1;
    for (uintptr_t i = 0; i < 100; i++) pair(i);
    long ok = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) ok += pair((uintptr_t)i + 1000);
    uint64_t t1 = now_ns();
    printf("n=%ld ns_per_pair=%.1f\n", n, (double)(t1 - t0) / (double)n);
    if (ok != n) {
        fprintf(stderr, "only %ld of %ld joins returned the thread's argument\n", ok, n);
        return 1;
    }
    return 0;
}
