/* pthread_once with concurrent callers: the init routine sleeps (so, under the shim, the other
 * greenlets reach pthread_once while it is in progress); every caller must return only after
 * it finished, and it runs exactly once. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static volatile int init_runs, init_done, early_returns, callers;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void init(void) {
    init_runs++;
    usleep(50 * 1000);
    init_done = 1;
}

static void *worker(void *arg) {
    usleep(1000 * (long)arg);
    pthread_once(&once, init);
    pthread_mutex_lock(&mu);
    callers++;
    if (!init_done) early_returns++;
    pthread_mutex_unlock(&mu);
    return NULL;
}

int main(void) {
    enum { N = 20 };
    pthread_t t[N];
    for (long i = 0; i < N; i++) pthread_create(&t[i], NULL, worker, (void *)(i % 5));
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    pthread_once(&once, init);
    printf("init_runs=%d callers=%d early_returns=%d\n", init_runs, callers, early_returns);
    return 0;
}
