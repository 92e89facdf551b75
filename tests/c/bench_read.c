/* bench_read: the cost of a read() that needs no wait, for scripts/bench_echo.sh.
 *
 * Usage: bench_read [N]   (default 1000000)
 *
 * A blocking AF_UNIX socketpair always has data when read() is called: each batch writes 64
 * bytes (untimed), then 64 read()s of 1 byte each are timed together (one clock pair per
 * batch, so clock overhead is negligible). Prints "reads=<N> ns_per_read=<t>" (best of 5
 * passes, each over N reads) and exits 1 if a read ever returns anything but 1 byte.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) { perror("socketpair"); return 1; }
    char batch[64], c;
    for (int i = 0; i < 64; i++) batch[i] = (char)i;
    double best = 1e18;
    for (int pass = 0; pass < 5; pass++) {
        double total = 0;
        for (long done = 0; done < n; done += 64) {
            if (write(sv[1], batch, sizeof batch) != (ssize_t)sizeof batch) { perror("write"); return 1; }
            double t0 = now_ns();
            for (int i = 0; i < 64; i++)
                if (read(sv[0], &c, 1) != 1) { perror("read"); return 1; }
            total += now_ns() - t0;
        }
        long reads = (n + 63) / 64 * 64;
        if (total / reads < best) best = total / reads;
    }
    printf("reads=%ld ns_per_read=%.1f\n", n, best);
    return 0;
}
