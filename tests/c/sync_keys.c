/* Thread-specific data: values are per thread, destructors run when a thread ends (return,
 * pthread_exit) for every key with a non-null value, and again (up to 4 rounds) when a
 * destructor sets a new value. Counts are printed and compared with the native run. Main ends
 * with pthread_exit, which runs its destructors too. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <semaphore.h>

static sem_t set_done, go;

static pthread_key_t k1, k2, k_again, k_none, k_deleted;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int calls1, calls2, calls_again, bad_values;
static long sum1;

static void dtor1(void *v) {
    pthread_mutex_lock(&mu);
    calls1++;
    sum1 += (long)v;
    pthread_mutex_unlock(&mu);
    if (pthread_getspecific(k1) != NULL) bad_values++; /* cleared before the call */
}

static void dtor2(void *v) {
    (void)v;
    pthread_mutex_lock(&mu);
    calls2++;
    pthread_mutex_unlock(&mu);
}

/* Sets its value again every time: glibc gives up after PTHREAD_DESTRUCTOR_ITERATIONS rounds. */
static void dtor_again(void *v) {
    pthread_mutex_lock(&mu);
    calls_again++;
    pthread_mutex_unlock(&mu);
    pthread_setspecific(k_again, (char *)v + 1);
}

static void dtor_deleted(void *v) {
    (void)v;
    printf("destructor of a deleted key ran\n");
}

static void *worker(void *arg) {
    long id = (long)arg;
    pthread_setspecific(k1, (void *)(id + 1));
    if (id % 2) pthread_setspecific(k2, (void *)id);
    if (id == 3) pthread_setspecific(k_again, (void *)1);
    pthread_setspecific(k_deleted, (void *)1);
    sem_post(&set_done);
    while (sem_wait(&go) != 0) {}
    usleep(1000 * (id % 3)); /* interleave: others run and set their own values */
    if (pthread_getspecific(k1) != (void *)(id + 1)) bad_values++;
    void *v2 = pthread_getspecific(k2);
    if ((id % 2 && v2 != (void *)id) || (!(id % 2) && v2 != NULL)) bad_values++;
    if (id == 5) pthread_setspecific(k1, NULL); /* no destructor call for a null value */
    if (id == 7) pthread_exit(NULL);            /* destructors run on pthread_exit too */
    return NULL;
}

static void main_dtor(void *v) {
    printf("main destructor ran with %ld\n", (long)v);
    fflush(stdout);
}

int main(void) {
    pthread_key_t km;
    sem_init(&set_done, 0, 0);
    sem_init(&go, 0, 0);
    pthread_key_create(&k1, dtor1);
    pthread_key_create(&k2, dtor2);
    pthread_key_create(&k_again, dtor_again);
    pthread_key_create(&k_none, NULL);
    pthread_key_create(&k_deleted, dtor_deleted);
    pthread_key_create(&km, main_dtor);
    pthread_setspecific(k1, (void *)1000); /* main's own values: no destructor at join time */
    enum { N = 10 };
    pthread_t t[N];
    for (long i = 0; i < N; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < N; i++) while (sem_wait(&set_done) != 0) {}
    pthread_key_delete(k_deleted); /* every thread holds a value for it: no destructor call */
    for (int i = 0; i < N; i++) sem_post(&go);
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    printf("k1 destructor calls=%d sum=%ld\n", calls1, sum1);
    printf("k2 destructor calls=%d\n", calls2);
    printf("re-setting destructor calls=%d\n", calls_again);
    printf("bad values=%d\n", bad_values);
    printf("main value=%ld\n", (long)pthread_getspecific(k1));
    fflush(stdout);
    pthread_setspecific(k1, NULL);
    pthread_setspecific(km, (void *)42);
    pthread_exit(NULL);
}
