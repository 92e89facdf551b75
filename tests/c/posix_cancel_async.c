/* Asynchronous cancellation of a thread blocked in pthread_mutex_lock: on a mutex another
 * thread holds, and on its own NORMAL mutex (a self-deadlock natively ended only by the cancel).
 * A deferred request leaves a mutex waiter waiting (not a cancellation point). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t own = PTHREAD_MUTEX_INITIALIZER;
static const char *cleaned;
static volatile int got_lock;

static void cleanup(void *arg) { cleaned = (const char *)arg; }

static void *t_held(void *arg) {
    (void)arg;
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
    pthread_cleanup_push(cleanup, "held");
    pthread_mutex_lock(&held);
    got_lock = 1;
    pthread_cleanup_pop(0);
    return NULL;
}

static void *t_own(void *arg) {
    (void)arg;
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
    pthread_cleanup_push(cleanup, "own");
    pthread_mutex_lock(&own);
    pthread_mutex_lock(&own); /* NORMAL: waits for itself */
    got_lock = 1;
    pthread_cleanup_pop(0);
    return NULL;
}

/* Deferred: the cancel is recorded; the lock is taken when the holder unlocks, and the cancel
 * acts at the next cancellation point. */
static void *t_deferred(void *arg) {
    (void)arg;
    pthread_cleanup_push(cleanup, "deferred");
    pthread_mutex_lock(&held);
    got_lock = 1;
    pthread_mutex_unlock(&held);
    pthread_testcancel();
    got_lock = 2;
    pthread_cleanup_pop(0);
    return NULL;
}

static void run(const char *name, void *(*fn)(void *), int hold) {
    pthread_t t;
    void *ret;
    cleaned = "none";
    got_lock = 0;
    if (hold)
        pthread_mutex_lock(&held);
    pthread_create(&t, NULL, fn, NULL);
    usleep(20000);
    pthread_cancel(t);
    usleep(20000);
    int locked_while_held = got_lock;
    if (hold)
        pthread_mutex_unlock(&held);
    int r = pthread_join(t, &ret);
    printf("%s: join=%d canceled=%d cleanup=%s got_lock_before_unlock=%d got_lock=%d\n", name, r, ret == PTHREAD_CANCELED, cleaned,
           locked_while_held, got_lock);
}

int main(void) {
    run("async-held", t_held, 1);
    run("async-own", t_own, 0);
    run("deferred-held", t_deferred, 1);
    int r = pthread_mutex_trylock(&held);
    printf("held free afterwards: %d\n", r == 0);
    return 0;
}
