/* Cleanup handlers on pthread_exit and cancellation, per thread, innermost first, then the
 * thread-specific data destructors, and only then may a joiner return. Built twice by
 * tests/posix_cancel.rs: plain C (the setjmp chain of __pthread_register_cancel) and with
 * -fexceptions (the macros become __cleanup__ variables run by the unwinder). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_key_t key;
static char log_buf[4096];

static void note(const char *s) {
    strcat(log_buf, s);
    strcat(log_buf, " ");
}

static void handler(void *arg) { note((const char *)arg); }

static void key_dtor(void *v) { note((const char *)v); }

/* A handler that parks (a sleep) before it records: the joiner must still wait for it. */
static void slow_handler(void *arg) {
    usleep(20000);
    note((const char *)arg);
}

__attribute__((noinline)) static void inner_exit1(void) {
    pthread_cleanup_push(handler, "h-inner1");
    pthread_exit((void *)42);
    pthread_cleanup_pop(0);
}

__attribute__((noinline)) static void inner_exit(void) {
    pthread_cleanup_push(handler, "h-inner0");
    inner_exit1();
    pthread_cleanup_pop(0);
}

static void *t_exit(void *arg) {
    (void)arg;
    pthread_setspecific(key, "key-dtor");
    pthread_cleanup_push(handler, "h-outer");
    pthread_cleanup_push(slow_handler, "h-slow");
    inner_exit();
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *t_pop(void *arg) {
    (void)arg;
    pthread_cleanup_push(handler, "pop-exec");
    pthread_cleanup_push(handler, "pop-noexec");
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(1);
    /* Popped handlers do not run at exit. */
    pthread_cleanup_push(handler, "after-pop");
    pthread_cleanup_pop(0);
    pthread_exit((void *)7);
}

static void *t_cancel(void *arg) {
    (void)arg;
    pthread_setspecific(key, "key-dtor-c");
    pthread_cleanup_push(handler, "c-outer");
    pthread_cleanup_push(handler, "c-inner");
    for (;;)
        pthread_testcancel(), sched_yield();
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

/* Cancel disabled around a cancellation point: not acted on until enabled again. */
static void *t_disabled(void *arg) {
    (void)arg;
    int old;
    pthread_cleanup_push(handler, "d-handler");
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    usleep(30000);
    pthread_testcancel();
    note("d-survived");
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    pthread_testcancel();
    note("d-not-reached");
    pthread_cleanup_pop(0);
    return NULL;
}

/* A cleanup handler that itself reaches a cancellation point: cancellation does not act twice. */
static void cancel_point_handler(void *arg) {
    usleep(1000);
    pthread_testcancel();
    note((const char *)arg);
}

static void *t_handler_point(void *arg) {
    (void)arg;
    pthread_cleanup_push(cancel_point_handler, "hp-ran");
    pthread_cleanup_push(handler, "hp-inner");
    for (;;)
        usleep(1000);
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

/* Self-cancel with asynchronous type acts at once inside pthread_cancel. */
static void *t_self_async(void *arg) {
    (void)arg;
    pthread_cleanup_push(handler, "sa-handler");
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
    pthread_cancel(pthread_self());
    note("sa-not-reached");
    pthread_cleanup_pop(0);
    return NULL;
}

/* pthread_cleanup_push_defer_np / pop_restore_np: deferred inside, async restored at the pop,
 * where a pending request then acts. */
static void *t_defer(void *arg) {
    (void)arg;
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
    pthread_cleanup_push_defer_np(handler, "df-handler");
    int type;
    pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &type);
    pthread_setcanceltype(type, NULL);
    char b[32];
    snprintf(b, sizeof b, "df-type=%d", type);
    note(b);
    pthread_cancel(pthread_self()); /* deferred now: recorded only */
    note("df-still-running");
    pthread_cleanup_pop_restore_np(0); /* async again: acts; the handler was popped */
    note("df-not-reached");
    return NULL;
}

/* Old-style handlers (_pthread_cleanup_push, glibc's second chain, run by its unwind_stop as
 * their frames are left), mixed with the macro's: innermost first either way. */
extern void _pthread_cleanup_push(struct _pthread_cleanup_buffer *, void (*)(void *), void *);
extern void _pthread_cleanup_pop(struct _pthread_cleanup_buffer *, int);

__attribute__((noinline)) static void compat_inner(void) {
    struct _pthread_cleanup_buffer b;
    _pthread_cleanup_push(&b, handler, "compat-inner");
    pthread_exit((void *)42);
    _pthread_cleanup_pop(&b, 0);
}

static void *t_compat(void *arg) {
    (void)arg;
    struct _pthread_cleanup_buffer b, p;
    _pthread_cleanup_push(&p, handler, "compat-popped");
    _pthread_cleanup_pop(&p, 1);
    _pthread_cleanup_push(&b, handler, "compat-outer");
    pthread_cleanup_push(handler, "new-mid");
    compat_inner();
    pthread_cleanup_pop(0);
    _pthread_cleanup_pop(&b, 0);
    return NULL;
}

static void run(const char *name, void *(*fn)(void *), int cancel_after_us) {
    pthread_t t;
    void *ret;
    log_buf[0] = 0;
    pthread_create(&t, NULL, fn, NULL);
    if (cancel_after_us >= 0) {
        usleep(cancel_after_us);
        pthread_cancel(t);
    }
    int r = pthread_join(t, &ret);
    printf("%s: join=%d ret=%s log=%s\n", name, r,
           ret == PTHREAD_CANCELED ? "CANCELED" : (ret == (void *)42 ? "42" : (ret == (void *)7 ? "7" : "other")), log_buf);
}

int main(void) {
    pthread_key_create(&key, key_dtor);
    run("exit", t_exit, -1);
    run("pop", t_pop, -1);
    run("cancel", t_cancel, 10000);
    run("disabled", t_disabled, 5000);
    run("handler-point", t_handler_point, 10000);
    run("self-async", t_self_async, -1);
    run("defer", t_defer, -1);
    run("compat", t_compat, -1);
    return 0;
}
