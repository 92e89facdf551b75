/* multihub_cpu: are two threads doing system calls run in parallel? (tests/multihub.rs)
 *
 * Usage: multihub_cpu [THREADS [ITERATIONS]]   (defaults 2 and 200000)
 *
 * Each thread has a socketpair of its own and does ITERATIONS times a 1-byte write on one end
 * and a 1-byte read on the other (the read never waits: the byte is there), checking the byte.
 * Natively the threads run on two cores at once; under greenshim with one hub they take turns
 * on one OS thread; with two hubs (GREENSHIM_HUBS=2, threads spread over the hubs) they should
 * run in parallel again. Main starts them together (a barrier), joins them, and prints
 *   "threads=<T> iterations=<N> errors=<k> wall_ms=<ms> cpu_ms=<ms> cpu_over_wall=<r>"
 * where cpu is the process's CPU time (CLOCK_PROCESS_CPUTIME_ID: every thread, user + system)
 * over the same interval as wall: about T when the threads ran in parallel, about 1 when they
 * took turns. Exits 0 when every byte came back as written.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long iterations = 200000;
static pthread_barrier_t start;

static double now(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *worker(void *arg) {
    long *errors = arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        perror("socketpair");
        exit(1);
    }
    pthread_barrier_wait(&start);
    for (long i = 0; i < iterations; i++) {
        unsigned char out = (unsigned char)i, in = 0;
        if (write(sv[0], &out, 1) != 1 || read(sv[1], &in, 1) != 1 || in != out)
            (*errors)++;
    }
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2;
    if (argc > 2)
        iterations = atol(argv[2]);
    if (n < 1 || n > 64 || iterations < 1) {
        fprintf(stderr, "usage: multihub_cpu [THREADS (1..64) [ITERATIONS]]\n");
        return 2;
    }
    pthread_t t[64];
    long errors[64] = {0};
    pthread_barrier_init(&start, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, worker, &errors[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    pthread_barrier_wait(&start);
    double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    double wall = now(CLOCK_MONOTONIC) - w0, cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    long errs = 0;
    for (int i = 0; i < n; i++)
        errs += errors[i];
    printf("threads=%d iterations=%ld errors=%ld wall_ms=%.0f cpu_ms=%.0f cpu_over_wall=%.2f\n", n,
           iterations, errs, wall, cpu, wall > 0 ? cpu / wall : 0.0);
    return errs == 0 ? 0 : 1;
}
