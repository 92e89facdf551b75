/* poll_fortify ok|overflow: built with _FORTIFY_SOURCE=2, so poll and ppoll on an array of
 * known size become __poll_chk / __ppoll_chk.
 *   ok        two threads wait in __poll_chk and __ppoll_chk on pipes written after 100 ms:
 *             both wake with POLLIN, together in ~100 ms
 *   overflow  nfds larger than the array: "*** buffer overflow detected ***" and SIGABRT */
#undef _FORTIFY_SOURCE
#define _FORTIFY_SOURCE 2
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int pipes[2][2];

static void *waiter(void *arg) {
    int i = (int)(long)arg;
    struct pollfd p[1] = {{pipes[i][0], POLLIN, 0}};
    struct timespec ts = {5, 0};
    volatile nfds_t n = 1; /* not known at compile time: the checked variants are called */
    int r = i == 0 ? poll(p, n, 5000) : ppoll(p, n, &ts, NULL);
    printf("%s: r=%d revents=0x%x\n", i == 0 ? "__poll_chk" : "__ppoll_chk", r, p[0].revents);
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && !strcmp(argv[1], "overflow")) {
        int p[2];
        if (pipe(p) < 0 || write(p[1], "x", 1) != 1)
            return 1;
        struct pollfd one[1] = {{p[0], POLLIN, 0}};
        volatile nfds_t n = 2;
        printf("before overflow\n");
        int r = poll(one, n, 0);
        printf("not reached: r=%d\n", r);
        return 0;
    }
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        if (pipe(pipes[i]) < 0)
            return 1;
        pthread_create(&t[i], NULL, waiter, (void *)(long)i);
    }
    double t0 = now_ms();
    struct timespec d = {0, 100000000};
    nanosleep(&d, NULL);
    if (write(pipes[0][1], "x", 1) != 1 || write(pipes[1][1], "x", 1) != 1)
        return 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    double dt = now_ms() - t0;
    printf("total: %s\n", dt >= 99 && dt < 400 ? "t=ok" : "t=BAD");
    return 0;
}
