/* C11 threads (<threads.h>) under the shim as natively: thrd_create/join/detach/exit with int
 * results (negative too), mtx plain/recursive/timed with contention across a blocking read,
 * cnd wait/signal/broadcast/timedwait, tss with destructors, call_once, thrd_sleep,
 * thrd_yield. A ticker shows the waits park only their thread; the OS thread count while
 * every thread lives goes to stderr. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

static mtx_t mu, rec;
static cnd_t cv;
static int ready, go;
static once_flag once = ONCE_FLAG_INIT;
static atomic_int once_runs, dtor_runs, ticks, stop;
static tss_t key;
static int pipefd[2];

static void once_fn(void) { atomic_fetch_add(&once_runs, 1); }
static void dtor(void *p) { (void)p; atomic_fetch_add(&dtor_runs, 1); }

static int ticker(void *a) {
    (void)a;
    while (!atomic_load(&stop)) {
        struct timespec d = {0, 2000000};
        thrd_sleep(&d, NULL);
        atomic_fetch_add(&ticks, 1);
    }
    return 0;
}

static int worker(void *a) {
    long id = (long)a;
    tss_set(key, (void *)(id + 1));
    call_once(&once, once_fn);
    mtx_lock(&mu);
    ready++;
    cnd_broadcast(&cv);
    while (!go) cnd_wait(&cv, &mu);
    mtx_unlock(&mu);
    if (id == 0) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "Threads:", 8) == 0) fputs(line, stderr);
        if (f) fclose(f);
    }
    thrd_yield();
    int ok = tss_get(key) == (void *)(id + 1);
    if (id == 3) thrd_exit(-3);
    return ok ? (int)id * 10 : -100;
}

static int holder(void *a) {
    (void)a;
    mtx_lock(&mu);
    char c;
    ssize_t n = read(pipefd[0], &c, 1); /* blocks while holding the mutex */
    mtx_unlock(&mu);
    return (int)n;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int i1 = mtx_init(&mu, mtx_timed), i2 = mtx_init(&rec, mtx_plain | mtx_recursive), i3 = cnd_init(&cv), i4 = tss_create(&key, dtor);
    printf("init: mtx %d rec %d cnd %d tss %d\n", i1, i2, i3, i4);
    thrd_t tick;
    thrd_create(&tick, ticker, NULL);
    thrd_t t[6];
    for (long i = 0; i < 6; i++) thrd_create(&t[i], worker, (void *)i);
    mtx_lock(&mu);
    while (ready < 6) cnd_wait(&cv, &mu);
    go = 1;
    cnd_broadcast(&cv);
    mtx_unlock(&mu);
    for (int i = 0; i < 6; i++) {
        int r = 12345;
        int e = thrd_join(t[i], &r);
        printf("join %d: %d result %d\n", i, e, r);
    }
    printf("once runs %d, tss destructors %d\n", atomic_load(&once_runs), atomic_load(&dtor_runs));
    int r1 = mtx_lock(&rec), r2 = mtx_lock(&rec), r3 = mtx_unlock(&rec), r4 = mtx_unlock(&rec);
    printf("recursive: %d %d %d %d\n", r1, r2, r3, r4);

    /* contention across a blocking read */
    if (pipe(pipefd)) return 1;
    thrd_t h;
    thrd_create(&h, holder, NULL);
    struct timespec d = {0, 20000000};
    thrd_sleep(&d, NULL);
    printf("trylock while held: %d\n", mtx_trylock(&mu));
    struct timespec abs;
    timespec_get(&abs, TIME_UTC);
    abs.tv_nsec += 30000000;
    if (abs.tv_nsec >= 1000000000) { abs.tv_sec++; abs.tv_nsec -= 1000000000; }
    int t0 = atomic_load(&ticks);
    int tl = mtx_timedlock(&mu, &abs);
    int ran = atomic_load(&ticks) - t0 >= 1; /* read at once: a frozen wait ends before the ticker runs */
    printf("timedlock while held: %d\n", tl);
    printf("ticker ran during the wait: %s\n", ran ? "yes" : "no");
    if (write(pipefd[1], "x", 1) != 1) return 1;
    int hr;
    thrd_join(h, &hr);
    printf("holder read %d, lock now: %d\n", hr, mtx_lock(&mu));
    timespec_get(&abs, TIME_UTC);
    abs.tv_nsec += 20000000;
    if (abs.tv_nsec >= 1000000000) { abs.tv_sec++; abs.tv_nsec -= 1000000000; }
    printf("cnd_timedwait: %d\n", cnd_timedwait(&cv, &mu, &abs));
    mtx_unlock(&mu);
    thrd_t det;
    int c1 = thrd_create(&det, ticker, NULL);
    printf("detach: %d %d\n", c1, thrd_detach(det));
    printf("thrd_equal self: %d, other: %d\n", thrd_equal(thrd_current(), thrd_current()) != 0, thrd_equal(thrd_current(), h) != 0);
    struct timespec bad = {0, -1};
    printf("thrd_sleep bad: %d\n", thrd_sleep(&bad, NULL));
    atomic_store(&stop, 1);
    thrd_join(tick, NULL);
    d.tv_nsec = 10000000;
    thrd_sleep(&d, NULL); /* the detached ticker ends too */
    mtx_destroy(&mu);
    mtx_destroy(&rec);
    cnd_destroy(&cv);
    tss_delete(key);
    return 0;
}
