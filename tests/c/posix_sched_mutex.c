/* Priority-protect and priority-inheritance mutexes: the protocol and the ceiling survive
 * pthread_mutex_init; pthread_mutex_getprioceiling / pthread_mutex_setprioceiling answer as glibc
 * (EINVAL for other protocols and out-of-range ceilings, EDEADLK for the owner of an
 * error-checking mutex, waiting while another thread holds the mutex). Prints each result.
 *
 * Locking a priority-protect mutex is not printed: natively glibc raises the thread to the
 * ceiling with sched_setscheduler, which a SCHED_OTHER thread cannot take (the first lock fails
 * with EINVAL and leaves glibc's per-thread count raised, so the next one succeeds); the shim
 * does not model that boost. pp_lock() retries until the lock is held. For the same reason
 * neither pthread_mutex_trylock of such a mutex nor pthread_mutex_setprioceiling by the owner of
 * a recursive one (which raises the owner) is printed. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *en(int e) {
    switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case EDEADLK: return "EDEADLK";
    case EPERM: return "EPERM";
    case EBUSY: return "EBUSY";
    default: return strerror(e);
    }
}

static int pp_lock(pthread_mutex_t *m) {
    int r = EINVAL;
    for (int i = 0; i < 3 && r == EINVAL; i++) r = pthread_mutex_lock(m);
    return r;
}

static void get(const char *what, pthread_mutex_t *m) {
    int c = -7;
    int r = pthread_mutex_getprioceiling(m, &c);
    printf("%s: getprioceiling=%s ceiling=%d\n", what, en(r), c);
}

static void set(const char *what, pthread_mutex_t *m, int ceiling) {
    int old = -7;
    int r = pthread_mutex_setprioceiling(m, ceiling, &old);
    printf("%s: setprioceiling(%d)=%s old=%d\n", what, ceiling, en(r), old);
}

static pthread_mutex_t held;
static sem_t locked;
static volatile int released;

static void *holder(void *arg) {
    (void)arg;
    printf("holder: lock=%s\n", en(pp_lock(&held)));
    sem_post(&locked);
    usleep(50 * 1000);
    released = 1;
    pthread_mutex_unlock(&held);
    return NULL;
}

static void init(pthread_mutex_t *m, int type, int proto, int ceiling, int pshared) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, type);
    if (proto >= 0) pthread_mutexattr_setprotocol(&a, proto);
    if (ceiling >= 0) pthread_mutexattr_setprioceiling(&a, ceiling);
    if (pshared) pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    int r = pthread_mutex_init(m, &a);
    if (r) printf("init: %s\n", en(r));
    pthread_mutexattr_destroy(&a);
}

int main(void) {
    pthread_mutex_t m;
    pthread_mutex_t st = PTHREAD_MUTEX_INITIALIZER;

    get("static", &st);
    set("static", &st, 5);

    init(&m, PTHREAD_MUTEX_NORMAL, -1, 5, 0);
    get("plain with ceiling attr", &m);
    set("plain with ceiling attr", &m, 5);
    pthread_mutex_destroy(&m);

    init(&m, PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_INHERIT, -1, 0);
    get("inherit", &m);
    set("inherit", &m, 5);
    pthread_mutex_destroy(&m);

    init(&m, PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_PROTECT, -1, 0);
    get("protect default", &m);
    pthread_mutex_destroy(&m);

    init(&m, PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_PROTECT, 5, 0);
    get("protect 5", &m);
    set("protect 5", &m, 0);
    set("protect 5", &m, 100);
    set("protect 5", &m, -1);
    set("protect 5", &m, 99);
    set("protect 5", &m, 9);
    set("protect 5", &m, 3);
    get("protect 5", &m);
    printf("protect 5: lock=%s\n", en(pp_lock(&m)));
    pthread_mutex_unlock(&m);
    get("protect 5 after lock", &m);
    pthread_mutex_destroy(&m);

    init(&m, PTHREAD_MUTEX_ERRORCHECK, PTHREAD_PRIO_PROTECT, 7, 0);
    printf("errorcheck: lock=%s\n", en(pp_lock(&m)));
    set("errorcheck owner", &m, 8);
    get("errorcheck owner", &m);
    pthread_mutex_unlock(&m);
    set("errorcheck free", &m, 8);
    get("errorcheck free", &m);
    pthread_mutex_destroy(&m);

    init(&m, PTHREAD_MUTEX_RECURSIVE, PTHREAD_PRIO_PROTECT, 7, 0);
    printf("recursive: lock=%s\n", en(pp_lock(&m)));
    get("recursive owner", &m);
    printf("recursive: trylock again=%s\n", en(pthread_mutex_trylock(&m)));
    pthread_mutex_unlock(&m);
    pthread_mutex_unlock(&m);
    printf("recursive: destroy=%s\n", en(pthread_mutex_destroy(&m)));

    /* Held by another thread: the change waits for it. */
    init(&held, PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_PROTECT, 4, 0);
    sem_init(&locked, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, holder, NULL);
    sem_wait(&locked);
    int old = -7;
    int r = pthread_mutex_setprioceiling(&held, 6, &old);
    printf("contended: setprioceiling=%s old=%d after release=%d\n", en(r), old, released);
    pthread_join(t, NULL);
    get("contended", &held);
    printf("contended: trylock=%s\n", en(pthread_mutex_trylock(&held) == 0 ? 0 : EBUSY));
    pthread_mutex_unlock(&held);
    printf("contended: destroy=%s\n", en(pthread_mutex_destroy(&held)));

    /* Process-shared: glibc's own object. */
    init(&m, PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_PROTECT, 5, 1);
    get("pshared", &m);
    set("pshared", &m, 11);
    get("pshared", &m);
    pthread_mutex_destroy(&m);
    printf("done\n");
    return 0;
}
