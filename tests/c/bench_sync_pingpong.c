/* Handoff between two threads through one mutex and two condition variables: each side waits
 * for its turn, passes the turn and signals the other. ns per handoff.
 * Usage: bench_sync_pingpong [N]   (for scripts/bench_sync.sh) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c[2] = {PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};
static int turn;
static long n;

static void *side(void *arg) {
    int me = (int)(long)arg;
    pthread_mutex_lock(&m);
    for (long i = 0; i < n; i++) {
        while (turn != me) pthread_cond_wait(&c[me], &m);
        turn = !me;
        pthread_cond_signal(&c[!me]);
    }
    pthread_mutex_unlock(&m);
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    n = argc > 1 ? atol(argv[1]) : 200000;
    pthread_t a, b;
    double t0 = now();
    pthread_create(&a, NULL, side, (void *)0L);
    pthread_create(&b, NULL, side, (void *)1L);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    double t1 = now();
    printf("ns_per_handoff=%.2f\n", (t1 - t0) / (2.0 * n));
    return 0;
}
