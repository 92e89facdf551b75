/* sleepers: N threads (argv[1], default 10000) each sleep S s (argv[2], default 1), using by i%4:
 * sleep(1), usleep(1000000), nanosleep({1,0}), clock_nanosleep(TIMER_ABSTIME)
 * (CLOCK_MONOTONIC or CLOCK_REALTIME by i%8). Each returns i*7+3.
 * Main, once all are created, sleeps 0.3 s, reports the OS thread count
 * (Threads: in /proc/self/status), joins all and checks every value.
 * Output: threads_while_sleeping=<n>\njoined=<N> ok=<count>\n ; exit 0 iff all ok. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int secs = 1;

static void *sleeper(void *arg) {
    uintptr_t i = (uintptr_t)arg;
    double t0 = mono_now();
    int rc = 0;
    const char *how = "?";
    switch (i % 4) {
    case 0:
        how = "sleep";
        rc = (int)sleep((unsigned)secs);
        break;
    case 1:
        how = "usleep";
        rc = usleep((useconds_t)secs * 1000000);
        break;
    case 2: {
        how = "nanosleep";
        struct timespec req = {secs, 0};
        rc = nanosleep(&req, NULL);
        break;
    }
    case 3: {
        clockid_t clk = (i % 8 == 3) ? CLOCK_MONOTONIC : CLOCK_REALTIME;
        how = (clk == CLOCK_MONOTONIC) ? "clock_nanosleep(MONOTONIC,ABS)"
                                       : "clock_nanosleep(REALTIME,ABS)";
        struct timespec dl;
        clock_gettime(clk, &dl);
        dl.tv_sec += secs;
        do {
            rc = clock_nanosleep(clk, TIMER_ABSTIME, &dl, NULL);
        } while (rc == EINTR);
        break;
    }
    }
    double slept = mono_now() - t0;
    if (rc != 0 || slept < secs - 0.01) {
        if (i < 20 || i % 1000 == 0)
            fprintf(stderr, "thread %lu: %s returned %d after %.3f s\n",
                    (unsigned long)i, how, rc, slept);
        return (void *)(uintptr_t)0;
    }
    return (void *)(uintptr_t)(i * 7 + 3);
}

static long os_threads(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long n = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0) {
            n = strtol(line + 8, NULL, 10);
            break;
        }
    fclose(f);
    return n;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
    if (argc > 2) secs = (int)strtol(argv[2], NULL, 10);
    if (n <= 0) {
        fprintf(stderr, "bad N\n");
        return 2;
    }
    pthread_t *ts = calloc((size_t)n, sizeof *ts);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    int rc = pthread_attr_setstacksize(&attr, 64 * 1024);
    if (rc) {
        fprintf(stderr, "pthread_attr_setstacksize: %s\n", strerror(rc));
        return 2;
    }
    for (long i = 0; i < n; i++) {
        rc = pthread_create(&ts[i], &attr, sleeper, (void *)(uintptr_t)i);
        if (rc) {
            fprintf(stderr, "pthread_create #%ld: %s\n", i, strerror(rc));
            return 2;
        }
    }
    pthread_attr_destroy(&attr);
    struct timespec d = {0, 300000000};
    nanosleep(&d, NULL);
    printf("threads_while_sleeping=%ld\n", os_threads());
    fflush(stdout);
    long ok = 0;
    for (long i = 0; i < n; i++) {
        void *ret = NULL;
        rc = pthread_join(ts[i], &ret);
        if (rc) {
            fprintf(stderr, "pthread_join #%ld: %s\n", i, strerror(rc));
            continue;
        }
        if ((uintptr_t)ret == (uintptr_t)(i * 7 + 3))
            ok++;
        else if (ok < 20)
            fprintf(stderr, "thread %ld returned %lu, want %lu\n", i,
                    (unsigned long)(uintptr_t)ret, (unsigned long)(i * 7 + 3));
    }
    printf("joined=%ld ok=%ld\n", n, ok);
    free(ts);
    return ok == n ? 0 : 1;
}
