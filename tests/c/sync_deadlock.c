/* Two threads take two mutexes in opposite orders: a lock-order deadlock. Main waits on a
 * semaphore that a SIGALRM handler posts after 1 s (a signal handler can still end the wait),
 * then reports and exits without joining the deadlocked threads. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t first = PTHREAD_MUTEX_INITIALIZER, second = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t both_hold_one;
static sem_t wake_main;

static void *alpha(void *arg) {
    (void)arg;
    pthread_mutex_lock(&first);
    pthread_barrier_wait(&both_hold_one);
    pthread_mutex_lock(&second);
    return NULL;
}

static void *beta(void *arg) {
    (void)arg;
    pthread_mutex_lock(&second);
    pthread_barrier_wait(&both_hold_one);
    pthread_mutex_lock(&first);
    return NULL;
}

static void on_alarm(int sig) {
    (void)sig;
    sem_post(&wake_main);
}

int main(void) {
    printf("first=%p second=%p\n", (void *)&first, (void *)&second);
    fflush(stdout);
    sem_init(&wake_main, 0, 0);
    pthread_barrier_init(&both_hold_one, NULL, 2);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    pthread_t a, b;
    pthread_create(&a, NULL, alpha, NULL);
    pthread_setname_np(a, "alpha");
    pthread_create(&b, NULL, beta, NULL);
    pthread_setname_np(b, "beta");
    alarm(1);
    int r, interrupted = 0;
    while ((r = sem_wait(&wake_main)) != 0 && errno == EINTR) interrupted++;
    printf("main woke: sem_wait=%d after %s\n", r, interrupted ? "EINTR" : "no EINTR");
    printf("trylock first=%d second=%d\n", pthread_mutex_trylock(&first), pthread_mutex_trylock(&second));
    fflush(stdout);
    _exit(0);
}
