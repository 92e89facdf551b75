/* Barrier: N threads, R rounds. Nobody may pass round r before all arrived at it, and exactly
 * one thread per round gets PTHREAD_BARRIER_SERIAL_THREAD. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

enum { N = 16, R = 200 };
static pthread_barrier_t b;
static int arrived[R];
static int serial[R];
static int violations;

static void *worker(void *arg) {
    long id = (long)arg;
    for (int r = 0; r < R; r++) {
        __atomic_fetch_add(&arrived[r], 1, __ATOMIC_SEQ_CST);
        if ((id + r) % 7 == 0) usleep(100);
        int rc = pthread_barrier_wait(&b);
        if (__atomic_load_n(&arrived[r], __ATOMIC_SEQ_CST) != N) __atomic_fetch_add(&violations, 1, __ATOMIC_SEQ_CST);
        if (rc == PTHREAD_BARRIER_SERIAL_THREAD) __atomic_fetch_add(&serial[r], 1, __ATOMIC_SEQ_CST);
        else if (rc != 0) __atomic_fetch_add(&violations, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

int main(void) {
    pthread_barrier_init(&b, NULL, N);
    pthread_t t[N];
    for (long i = 0; i < N; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    int bad_serial = 0;
    for (int r = 0; r < R; r++) bad_serial += serial[r] != 1;
    printf("rounds=%d violations=%d bad_serial=%d destroy=%d\n", R, violations, bad_serial, pthread_barrier_destroy(&b));
    return 0;
}
