/* Return codes of the mutex types (and a few rwlock/sem/cond/key cases), printed one per line:
 * compared between the native run and the run under the shim. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define P(what, call) do { int r_ = (call); printf("%-44s %s\n", what, r_ == 0 ? "0" : r_ == -1 ? "-1" : strerror(r_)); } while (0)
#define PE(what, call) do { errno = 0; int r_ = (call); int e_ = errno; printf("%-44s %d %s\n", what, r_, r_ ? strerror(e_) : ""); } while (0)

static pthread_mutex_t shared_m;
static int which;

static void *other(void *arg) {
    (void)arg;
    /* Another thread: unlock (not owner) and trylock of a mutex main holds. */
    P("other: unlock held-by-main", pthread_mutex_unlock(&shared_m));
    P("other: trylock held-by-main", pthread_mutex_trylock(&shared_m));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 20 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
    P("other: timedlock held-by-main", pthread_mutex_timedlock(&shared_m, &ts));
    return NULL;
}

static void mutex_type(int type, const char *name) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, type);
    pthread_mutex_t m;
    pthread_mutex_init(&m, &a);
    pthread_mutexattr_destroy(&a);
    char b[96];
    struct timespec past = {0, 0}, bad = {0, -1};
#define Q(what, call) do { snprintf(b, sizeof b, "%s: %s", name, what); P(b, call); } while (0)
    Q("unlock unlocked", type == PTHREAD_MUTEX_NORMAL ? 0 : pthread_mutex_unlock(&m));
    Q("lock", pthread_mutex_lock(&m));
    if (type != PTHREAD_MUTEX_NORMAL) Q("lock again", pthread_mutex_lock(&m));
    Q("trylock again", pthread_mutex_trylock(&m));
    if (type != PTHREAD_MUTEX_NORMAL) Q("timedlock again past", pthread_mutex_timedlock(&m, &past));
    if (type != PTHREAD_MUTEX_NORMAL) Q("timedlock again bad", pthread_mutex_timedlock(&m, &bad));
    Q("destroy locked", pthread_mutex_destroy(&m));
    shared_m = m;
    pthread_t t;
    pthread_create(&t, NULL, other, NULL);
    pthread_join(t, NULL);
    m = shared_m;
    Q("unlock", pthread_mutex_unlock(&m));
    if (type == PTHREAD_MUTEX_RECURSIVE) {
        Q("unlock 2", pthread_mutex_unlock(&m));
        Q("unlock 3", pthread_mutex_unlock(&m));
    }
    if (type == PTHREAD_MUTEX_ERRORCHECK) Q("unlock again", pthread_mutex_unlock(&m));
    Q("trylock free", pthread_mutex_trylock(&m));
    Q("unlock", pthread_mutex_unlock(&m));
    Q("timedlock free bad timespec", pthread_mutex_timedlock(&m, &bad));
    Q("unlock", pthread_mutex_unlock(&m));
    Q("clocklock bad clock", pthread_mutex_clocklock(&m, CLOCK_PROCESS_CPUTIME_ID, &past));
    Q("destroy", pthread_mutex_destroy(&m));
}

int main(void) {
    (void)which;
    mutex_type(PTHREAD_MUTEX_NORMAL, "normal");
    mutex_type(PTHREAD_MUTEX_ERRORCHECK, "errorcheck");
    mutex_type(PTHREAD_MUTEX_RECURSIVE, "recursive");
    /* Static initialisers with a kind. */
    pthread_mutex_t rs = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
    P("static recursive: lock", pthread_mutex_lock(&rs));
    P("static recursive: lock again", pthread_mutex_lock(&rs));
    P("static recursive: unlock", pthread_mutex_unlock(&rs));
    P("static recursive: unlock", pthread_mutex_unlock(&rs));
    P("static recursive: unlock unlocked", pthread_mutex_unlock(&rs));
    pthread_mutex_t es = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
    P("static errorcheck: lock", pthread_mutex_lock(&es));
    P("static errorcheck: lock again", pthread_mutex_lock(&es));
    P("static errorcheck: unlock", pthread_mutex_unlock(&es));
    P("static errorcheck: unlock again", pthread_mutex_unlock(&es));
    /* Zeroed object. */
    pthread_mutex_t z;
    memset(&z, 0, sizeof z);
    P("zeroed: lock", pthread_mutex_lock(&z));
    P("zeroed: trylock", pthread_mutex_trylock(&z));
    P("zeroed: unlock", pthread_mutex_unlock(&z));
    /* cond with an errorcheck mutex not held. */
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_t em;
    pthread_mutex_init(&em, &a);
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    struct timespec past = {0, 0}, bad = {0, -1}, neg = {-1, 0};
    P("cond: timedwait errorcheck not held", pthread_cond_timedwait(&c, &em, &past));
    pthread_mutex_lock(&em);
    P("cond: timedwait past", pthread_cond_timedwait(&c, &em, &past));
    P("cond: timedwait negative", pthread_cond_timedwait(&c, &em, &neg));
    P("cond: timedwait bad timespec", pthread_cond_timedwait(&c, &em, &bad));
    P("cond: clockwait bad clock", pthread_cond_clockwait(&c, &em, CLOCK_PROCESS_CPUTIME_ID, &past));
    P("cond: mutex still held (lock again)", pthread_mutex_lock(&em));
    P("cond: signal nobody", pthread_cond_signal(&c));
    P("cond: broadcast nobody", pthread_cond_broadcast(&c));
    P("cond: destroy", pthread_cond_destroy(&c));
    /* rwlock */
    pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    P("rwlock: wrlock", pthread_rwlock_wrlock(&rw));
    P("rwlock: wrlock again", pthread_rwlock_wrlock(&rw));
    P("rwlock: rdlock while writing", pthread_rwlock_rdlock(&rw));
    P("rwlock: tryrdlock while writing", pthread_rwlock_tryrdlock(&rw));
    P("rwlock: trywrlock while writing", pthread_rwlock_trywrlock(&rw));
    P("rwlock: timedwrlock bad timespec", pthread_rwlock_timedwrlock(&rw, &bad));
    P("rwlock: clockrdlock bad clock", pthread_rwlock_clockrdlock(&rw, CLOCK_PROCESS_CPUTIME_ID, &past));
    P("rwlock: unlock", pthread_rwlock_unlock(&rw));
    P("rwlock: rdlock", pthread_rwlock_rdlock(&rw));
    P("rwlock: rdlock again", pthread_rwlock_rdlock(&rw));
    P("rwlock: trywrlock while reading", pthread_rwlock_trywrlock(&rw));
    P("rwlock: timedwrlock negative", pthread_rwlock_timedwrlock(&rw, &neg));
    P("rwlock: unlock", pthread_rwlock_unlock(&rw));
    P("rwlock: unlock", pthread_rwlock_unlock(&rw));
    P("rwlock: destroy", pthread_rwlock_destroy(&rw));
    /* semaphores */
    sem_t s;
    PE("sem: init too large", sem_init(&s, 0, 0x80000000u));
    PE("sem: init", sem_init(&s, 0, 1));
    PE("sem: trywait", sem_trywait(&s));
    PE("sem: trywait empty", sem_trywait(&s));
    PE("sem: timedwait past", sem_timedwait(&s, &past));
    PE("sem: timedwait bad timespec", sem_timedwait(&s, &bad));
    PE("sem: clockwait bad clock", sem_clockwait(&s, CLOCK_PROCESS_CPUTIME_ID, &past));
    PE("sem: post", sem_post(&s));
    PE("sem: timedwait bad timespec, available", sem_timedwait(&s, &bad));
    int v = -1;
    sem_getvalue(&s, &v);
    printf("sem: value %d\n", v);
    PE("sem: init max", sem_init(&s, 0, 0x7fffffff));
    PE("sem: post overflow", sem_post(&s));
    PE("sem: destroy", sem_destroy(&s));
    /* barrier, spin, keys */
    pthread_barrier_t b;
    P("barrier: init 0", pthread_barrier_init(&b, NULL, 0));
    P("barrier: init 1", pthread_barrier_init(&b, NULL, 1));
    printf("%-44s %d\n", "barrier: wait (count 1)", pthread_barrier_wait(&b));
    P("barrier: destroy", pthread_barrier_destroy(&b));
    pthread_spinlock_t sp;
    P("spin: init", pthread_spin_init(&sp, 0));
    P("spin: lock", pthread_spin_lock(&sp));
    P("spin: trylock held", pthread_spin_trylock(&sp));
    P("spin: unlock", pthread_spin_unlock(&sp));
    P("spin: trylock", pthread_spin_trylock(&sp));
    pthread_key_t k;
    P("key: create", pthread_key_create(&k, NULL));
    printf("%-44s %p\n", "key: getspecific unset", pthread_getspecific(k));
    P("key: setspecific", pthread_setspecific(k, (void *)0x1234));
    printf("%-44s %p\n", "key: getspecific", pthread_getspecific(k));
    P("key: delete", pthread_key_delete(k));
    P("key: delete again", pthread_key_delete(k));
    P("key: setspecific deleted", pthread_setspecific(k, (void *)1));
    P("key: setspecific out of range", pthread_setspecific(5000, (void *)1));
    printf("%-44s %p\n", "key: getspecific out of range", pthread_getspecific(5000));
    return 0;
}
