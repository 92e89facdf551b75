/* Timed waits that must time out: cond (both clocks, via condattr_setclock and clockwait),
 * mutex (timedlock, clocklock), semaphore (timedwait, clockwait), rwlock (timed/clock rd/wr).
 * A helper thread holds the mutex/rwlock meanwhile. For each: the return value and how late
 * it returned relative to the deadline, in microseconds: "NAME rc=110 late_us=N". */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 40

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static sem_t ready, release_sem;

static long long now_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct timespec deadline(clockid_t c) {
    long long d = now_ns(c) + WAIT_MS * 1000000LL;
    struct timespec ts = {d / 1000000000LL, d % 1000000000LL};
    return ts;
}

static void report(const char *name, int rc, clockid_t c, struct timespec dl) {
    long long late = now_ns(c) - (dl.tv_sec * 1000000000LL + dl.tv_nsec);
    printf("%s rc=%d late_us=%lld\n", name, rc, late / 1000);
}

static void *holder(void *arg) {
    (void)arg;
    pthread_mutex_lock(&held);
    pthread_rwlock_wrlock(&rw);
    sem_post(&ready);
    while (sem_wait(&release_sem) != 0) {}
    pthread_rwlock_unlock(&rw);
    pthread_mutex_unlock(&held);
    return NULL;
}

int main(void) {
    clockid_t clocks[2] = {CLOCK_REALTIME, CLOCK_MONOTONIC};
    const char *cn[2] = {"realtime", "monotonic"};
    sem_init(&ready, 0, 0);
    sem_init(&release_sem, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, holder, NULL);
    sem_wait(&ready);
    char name[64];
    for (int i = 0; i < 2; i++) {
        clockid_t c = clocks[i];
        struct timespec dl;
        int rc;
        /* cond with the clock set in the attribute */
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, c);
        pthread_cond_t cv;
        pthread_cond_init(&cv, &ca);
        pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&m);
        dl = deadline(c);
        rc = pthread_cond_timedwait(&cv, &m, &dl);
        snprintf(name, sizeof name, "cond_timedwait_%s", cn[i]);
        report(name, rc, c, dl);
        dl = deadline(c);
        rc = pthread_cond_clockwait(&cv, &m, c, &dl);
        snprintf(name, sizeof name, "cond_clockwait_%s", cn[i]);
        report(name, rc, c, dl);
        pthread_mutex_unlock(&m);
        /* mutex held by the helper */
        dl = deadline(c);
        rc = c == CLOCK_REALTIME ? pthread_mutex_timedlock(&held, &dl) : pthread_mutex_clocklock(&held, c, &dl);
        snprintf(name, sizeof name, "mutex_%s_%s", c == CLOCK_REALTIME ? "timedlock" : "clocklock", cn[i]);
        report(name, rc, c, dl);
        /* semaphore */
        sem_t s;
        sem_init(&s, 0, 0);
        dl = deadline(c);
        rc = c == CLOCK_REALTIME ? sem_timedwait(&s, &dl) : sem_clockwait(&s, c, &dl);
        snprintf(name, sizeof name, "sem_%s_%s", c == CLOCK_REALTIME ? "timedwait" : "clockwait_first", cn[i]);
        report(name, rc == -1 ? errno : rc, c, dl);
        dl = deadline(c);
        rc = sem_clockwait(&s, c, &dl);
        snprintf(name, sizeof name, "sem_clockwait_%s", cn[i]);
        report(name, rc == -1 ? errno : rc, c, dl);
        /* rwlock write-held by the helper */
        dl = deadline(c);
        rc = c == CLOCK_REALTIME ? pthread_rwlock_timedrdlock(&rw, &dl) : pthread_rwlock_clockrdlock(&rw, c, &dl);
        snprintf(name, sizeof name, "rwlock_rd_%s", cn[i]);
        report(name, rc, c, dl);
        dl = deadline(c);
        rc = c == CLOCK_REALTIME ? pthread_rwlock_timedwrlock(&rw, &dl) : pthread_rwlock_clockwrlock(&rw, c, &dl);
        snprintf(name, sizeof name, "rwlock_wr_%s", cn[i]);
        report(name, rc, c, dl);
    }
    sem_post(&release_sem);
    pthread_join(t, NULL);
    /* After release, a timed lock succeeds at once. */
    struct timespec dl = deadline(CLOCK_REALTIME);
    printf("mutex_after_release rc=%d\n", pthread_mutex_timedlock(&held, &dl));
    return 0;
}
