/* diag_spin: one thread named "spinner" runs a CPU loop for SPIN_MS (default 500) ms without
 * calling anything greenshim interposes, while main waits in pthread_join.
 *
 * Usage: diag_spin [SPIN_MS]
 * Prints "spun_ms=<N>" (measured with clock_gettime, a vDSO call) and "ok" on stdout; nothing on
 * stderr.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long spin_ms = 500;
static long spun_ms = 0;

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void *spinner(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "spinner");
    long start = now_ms();
    volatile unsigned long x = 0;
    while (now_ms() - start < spin_ms) x++;
    spun_ms = now_ms() - start;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) spin_ms = atol(argv[1]);
    pthread_t t;
    if (pthread_create(&t, NULL, spinner, NULL) != 0) return 1;
    pthread_join(t, NULL);
    printf("spun_ms=%ld\nok\n", spun_ms);
    return 0;
}
