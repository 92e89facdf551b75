/* errno_keep: each of 4 threads (and main) sets errno to its own value, then
 * interleaves sched_yield() and usleep(1000) / nanosleep, checking after every
 * call that errno is still its own (successful calls do not modify errno).
 * Under a greenlet runtime all of them share one OS thread, so errno must be
 * saved and restored per greenlet. Prints "errno ok" and exits 0 on success. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 4
#define ITERS 60

static int check(int id, int want, int iter, const char *after) {
    int got = errno;
    if (got != want) {
        fprintf(stderr, "worker %d: errno %d after %s (iter %d), want %d\n", id, got,
                after, iter, want);
        return 1;
    }
    return 0;
}

static void *worker(void *arg) {
    int id = (int)(uintptr_t)arg;
    int want = 100 + id;
    int bad = 0;
    errno = want;
    for (int k = 0; k < ITERS && !bad; k++) {
        if (sched_yield() != 0) {
            fprintf(stderr, "worker %d: sched_yield failed\n", id);
            bad = 1;
            break;
        }
        bad |= check(id, want, k, "sched_yield");
        if ((k + id) % 3 == 0) {
            if (usleep(1000) != 0) {
                fprintf(stderr, "worker %d: usleep failed\n", id);
                bad = 1;
                break;
            }
            bad |= check(id, want, k, "usleep(1000)");
        } else if ((k + id) % 3 == 1) {
            struct timespec d = {0, 500000};
            if (nanosleep(&d, NULL) != 0) {
                fprintf(stderr, "worker %d: nanosleep failed\n", id);
                bad = 1;
                break;
            }
            bad |= check(id, want, k, "nanosleep(0.5ms)");
        }
    }
    return (void *)(uintptr_t)bad;
}

int main(void) {
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) != 0) {
            perror("pthread_create");
            return 2;
        }
    /* main takes part too, as worker 4 (errno 104) */
    int bad = (int)(uintptr_t)worker((void *)(uintptr_t)NTHREADS);
    for (int i = 0; i < NTHREADS; i++) {
        void *r;
        if (pthread_join(t[i], &r) != 0) {
            fprintf(stderr, "pthread_join failed\n");
            return 2;
        }
        bad |= (int)(uintptr_t)r;
    }
    if (bad) {
        printf("errno clobbered\n");
        return 1;
    }
    printf("errno ok\n");
    return 0;
}
