/* Threads on stacks the program supplies (pthread_attr_setstack), filled with a pattern and
 * used for real work; the result is the same natively and under the shim in every guard mode. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STACK_SIZE (256 * 1024)
#define N 4

static long depth(long n) {
    volatile char pad[512];
    memset((char *)pad, (int)n, sizeof pad);
    return n == 0 ? pad[0] : pad[7] + depth(n - 1);
}

static void *work(void *arg) {
    long i = (long)arg;
    return (void *)(depth(50 + i) + i);
}

int main(void) {
    void *stacks[N];
    pthread_t th[N];
    for (long i = 0; i < N; i++) {
        if (posix_memalign(&stacks[i], 4096, STACK_SIZE)) return 1;
        /* Whatever the program's memory holds, including at its lowest word. */
        memset(stacks[i], i == 0 ? 0 : 0x5a + (int)i, STACK_SIZE);
        pthread_attr_t a;
        pthread_attr_init(&a);
        int rc = pthread_attr_setstack(&a, stacks[i], STACK_SIZE);
        if (rc == 0) rc = pthread_create(&th[i], &a, work, (void *)i);
        pthread_attr_destroy(&a);
        if (rc) { printf("create %ld: %d\n", i, rc); return 1; }
    }
    for (long i = 0; i < N; i++) {
        void *r;
        int rc = pthread_join(th[i], &r);
        printf("thread %ld join=%d result=%ld\n", i, rc, (long)r);
    }
    /* A thread with a stack of ours next to them, in the same run. */
    pthread_t t;
    void *r;
    pthread_create(&t, NULL, work, (void *)9);
    pthread_join(t, &r);
    printf("own stack result=%ld\n", (long)r);
    for (long i = 0; i < N; i++) free(stacks[i]);
    return 0;
}
