/* A process-directed signal that every thread blocks, taken by a sigwait thread (MariaDB's
 * signal thread, which gets SIGTERM at shutdown): the handler never runs, in no thread. With
 * the hub-blocking monitor on, greenshim's own watchdog thread must not take it (it did, now
 * and then: the program's handler then ran there, outside the hub, and glibc's code locked a
 * mutex greenshim keeps, which aborted MariaDB). The signal comes from a child, as from
 * `kill -TERM`, 20 times. Prints what happened; same output natively. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 20
static atomic_int handled, taken;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static void on_term(int s) {
    (void)s;
    pthread_mutex_lock(&m);
    atomic_fetch_add(&handled, 1);
    pthread_mutex_unlock(&m);
}

static void *waiter(void *a) {
    sigset_t *set = a;
    for (int i = 0; i < ROUNDS; i++) {
        int sig = 0;
        sigwait(set, &sig);
        if (sig == SIGTERM) atomic_fetch_add(&taken, 1);
    }
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa = {.sa_handler = on_term};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t t;
    pthread_create(&t, NULL, waiter, &set);
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&m);
        if (fork() == 0) {
            kill(getppid(), SIGTERM);
            _exit(0);
        }
        wait(NULL);
        usleep(2000);
        pthread_mutex_unlock(&m);
        for (int k = 0; k < 200 && atomic_load(&taken) + atomic_load(&handled) <= i; k++) usleep(1000);
    }
    pthread_join(t, NULL);
    printf("sigwait took SIGTERM %d times, the handler ran %d times\n", atomic_load(&taken), atomic_load(&handled));
    return 0;
}
