/* A pthread_once whose init routine is cancelled (or calls pthread_exit) is left as if never
 * run: the next caller runs the routine. A thread waiting on the once meanwhile runs it. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_once_t once_exit = PTHREAD_ONCE_INIT;
static int runs, runs_exit, waiter_saw;

static void init(void) {
    runs++;
    if (runs == 1) {
        for (;;)
            usleep(1000); /* cancelled here */
    }
}

static void init_exit(void) {
    runs_exit++;
    if (runs_exit == 1)
        pthread_exit((void *)9);
}

static void *first(void *arg) {
    (void)arg;
    pthread_once(&once, init);
    return NULL;
}

static void *waiter(void *arg) {
    (void)arg;
    pthread_once(&once, init);
    waiter_saw = runs;
    return NULL;
}

static void *exiter(void *arg) {
    (void)arg;
    pthread_once(&once_exit, init_exit);
    return NULL;
}

int main(void) {
    pthread_t a, w, e;
    void *ret;
    pthread_create(&a, NULL, first, NULL);
    usleep(20000);
    pthread_create(&w, NULL, waiter, NULL);
    usleep(20000);
    pthread_cancel(a);
    pthread_join(a, &ret);
    printf("first: canceled=%d\n", ret == PTHREAD_CANCELED);
    pthread_join(w, NULL);
    printf("waiter: once done, runs=%d\n", waiter_saw);
    pthread_once(&once, init);
    printf("main: runs=%d\n", runs);

    pthread_create(&e, NULL, exiter, NULL);
    pthread_join(e, &ret);
    printf("exiter: ret=%ld\n", (long)ret);
    pthread_once(&once_exit, init_exit);
    pthread_once(&once_exit, init_exit);
    printf("main: runs_exit=%d\n", runs_exit);
    return 0;
}
