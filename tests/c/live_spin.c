/* live_spin: a thread-per-connection echo server whose hub a CPU loop holds, for the live view
 * and the dump when the hub is held (tests/live.rs).
 *
 * Usage: live_spin [-n N] [-b]
 * Listens on 127.0.0.1 (a port the kernel picks) and prints "port=<n>" (flushed). Accepts
 * connections, each served by a thread named "conn" that echoes until EOF. After the N-th
 * accept (default 1) it prints "accepted=<N>", starts a thread named "spinner" that runs a CPU
 * loop forever without calling anything (under greenshim it never yields: it holds the hub),
 * and goes back to accept(). With -b the "spinner" instead blocks the OS thread: a nanosleep of
 * 60 s (again after an EINTR) made with the syscall instruction itself, which greenshim only sees with
 * GREENSHIM_CATCH=all (with GREENSHIM_CATCH=exports it blocks natively). The test kills it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long spins;

static int block_instead = 0;

static void *spin(void *arg) {
    (void)arg;
    if (block_instead) {
        struct timespec ts = {60, 0};
        long ret;
        do /* a signal handler (the dump signal's) ends it with EINTR: sleep again */
            __asm__ volatile("syscall" : "=a"(ret) : "a"(35L /* nanosleep */), "D"(&ts), "S"(0L) : "rcx", "r11", "memory");
        while (ret == -4);
    }
    for (;;) spins++;
    return NULL;
}

static void *serve(void *arg) {
    int fd = (int)(long)arg;
    char buf[4096];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EINTR)) break;
        if (r > 0 && write(fd, buf, (size_t)r) < 0) break;
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    long n = 1;
    int opt;
    while ((opt = getopt(argc, argv, "n:b")) != -1) {
        if (opt == 'n') n = atol(optarg);
        else if (opt == 'b') block_instead = 1;
        else { fprintf(stderr, "usage: %s [-n N] [-b]\n", argv[0]); return 2; }
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0) { perror("socket"); return 1; }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, SOMAXCONN) < 0) { perror("bind/listen"); return 1; }
    socklen_t al = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &al);
    printf("port=%d\n", ntohs(a.sin_port));
    fflush(stdout);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (long k = 1;; k++) {
        int c = accept(ls, NULL, NULL);
        if (c < 0) { if (errno == EINTR) { k--; continue; } perror("accept"); return 1; }
        pthread_t t;
        if (pthread_create(&t, &attr, serve, (void *)(long)c) != 0) { fprintf(stderr, "pthread_create failed\n"); return 1; }
        pthread_setname_np(t, "conn");
        if (k == n) {
            printf("accepted=%ld\n", n);
            fflush(stdout);
            if (pthread_create(&t, &attr, spin, NULL) != 0) { fprintf(stderr, "pthread_create failed\n"); return 1; }
            pthread_setname_np(t, "spinner");
        }
    }
}
