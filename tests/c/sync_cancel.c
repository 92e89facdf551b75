/* Cancellation points and signals: pthread_cancel ends a thread blocked in pthread_cond_wait or
 * sem_wait. A signal handler makes sem_timedwait fail with EINTR (even with SA_RESTART), and
 * sem_wait only without SA_RESTART (with it the wait goes on: ended here by a post); it does not
 * end a condition wait (it times out as usual). Output compared with the native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER, m2 = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER, c2 = PTHREAD_COND_INITIALIZER;
static sem_t s, s2;
static volatile int handled;

static void on_usr1(int sig) { (void)sig; handled++; }

static void *cond_waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&m);
    for (;;) pthread_cond_wait(&c, &m);
    return NULL;
}

static void *sem_waiter(void *arg) {
    (void)arg;
    for (;;) sem_wait(&s);
    return NULL;
}

static void *sem_eintr(void *arg) {
    long timed = (long)arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    errno = 0;
    int r = timed ? sem_timedwait(&s2, &ts) : sem_wait(&s2);
    int e = errno;
    printf("%s with a signal: %d %s\n", timed ? "sem_timedwait" : "sem_wait", r, r ? strerror(e) : "");
    fflush(stdout);
    return NULL;
}

static void sem_signal_case(int restart, long timed) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGUSR1, &sa, NULL);
    printf("handler %s SA_RESTART: ", restart ? "with" : "without");
    fflush(stdout);
    pthread_t t;
    pthread_create(&t, NULL, sem_eintr, (void *)timed);
    usleep(30 * 1000);
    pthread_kill(t, SIGUSR1);
    usleep(30 * 1000);
    sem_post(&s2); /* ends a restarted wait; otherwise leaves a unit behind */
    pthread_join(t, NULL);
    while (sem_trywait(&s2) == 0) {}
}

static void *cond_signalled(void *arg) {
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 200 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
    pthread_mutex_lock(&m2);
    int r;
    do r = pthread_cond_timedwait(&c2, &m2, &ts); while (r == 0);
    pthread_mutex_unlock(&m2);
    printf("cond_timedwait with a signal: %s\n", strerror(r));
    return NULL;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sem_init(&s, 0, 0);
    sem_init(&s2, 0, 0);
    pthread_t a, b, e;
    void *ra, *rb;
    pthread_create(&a, NULL, cond_waiter, NULL);
    pthread_create(&b, NULL, sem_waiter, NULL);
    usleep(50 * 1000);
    pthread_cancel(a);
    pthread_cancel(b);
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    printf("cond_wait cancelled: %s\n", ra == PTHREAD_CANCELED ? "yes" : "no");
    printf("sem_wait cancelled: %s\n", rb == PTHREAD_CANCELED ? "yes" : "no");
    pthread_create(&e, NULL, cond_signalled, NULL);
    usleep(50 * 1000);
    pthread_kill(e, SIGUSR1);
    pthread_join(e, NULL);
    fflush(stdout);
    for (int restart = 0; restart < 2; restart++)
        for (long timed = 0; timed < 2; timed++) sem_signal_case(restart, timed);
    printf("handler ran: %d\n", handled);
    return 0;
}
