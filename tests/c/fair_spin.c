/* Fair scheduling: a thread that busy-polls for another thread's progress through interposed
 * calls (mutex lock/unlock, cond_signal, a failing trylock, pthread_kill) must let that thread
 * run. Natively the other thread runs on another CPU or is preempted. Usage: fair_spin MODE */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER, held = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static volatile int done, got;
static void on_usr1(int s) { (void)s; got++; }

static void *worker(void *a) {
    (void)a;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL); /* parked on a timer: runs only if the spinner yields */
    done = 1;
    return NULL;
}

static void *holder(void *a) {
    (void)a;
    pthread_mutex_lock(&held);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    pthread_mutex_unlock(&held);
    return NULL;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "lock";
    pthread_t t;
    long spins = 0;
    if (!strcmp(mode, "trylock")) {
        pthread_create(&t, NULL, holder, NULL);
        usleep(1000);
        while (pthread_mutex_trylock(&held) != 0)
            spins++;
        pthread_mutex_unlock(&held);
        printf("trylock: got the lock after the holder let go\n");
    } else if (!strcmp(mode, "kill")) {
        signal(SIGUSR1, on_usr1);
        pthread_create(&t, NULL, worker, NULL);
        while (!got) {
            pthread_kill(t, SIGUSR1); /* the target must run its handler */
            spins++;
        }
        printf("kill: the target ran its handler\n");
        while (!done)
            pthread_kill(t, 0), pthread_mutex_lock(&m), pthread_mutex_unlock(&m);
    } else {
        pthread_create(&t, NULL, worker, NULL);
        while (!done) {
            pthread_mutex_lock(&m);
            if (!strcmp(mode, "cond"))
                pthread_cond_signal(&c);
            pthread_mutex_unlock(&m);
            spins++;
        }
        printf("%s: the worker finished while we polled\n", mode);
    }
    pthread_join(t, NULL);
    return 0;
}
