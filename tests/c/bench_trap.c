/* bench_trap: N (argv[1], default 100000) iterations of calls glibc makes internally, which
 * greenshim catches with syscall user dispatch: fopen + fclose of /dev/null (openat, close
 * inside libc: two trapped system calls per iteration), and getppid() (one, a call greenshim
 * does not export). Prints ns per iteration of each. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        FILE *f = fopen("/dev/null", "r");
        if (!f) return 1;
        fclose(f);
    }
    double t1 = now();
    long s = 0;
    for (long i = 0; i < n; i++) s += getppid();
    double t2 = now();
    printf("n=%ld fopen_fclose_ns=%.1f getppid_ns=%.1f (%ld)\n", n, (t1 - t0) / n, (t2 - t1) / n, s > 0);
    return 0;
}
