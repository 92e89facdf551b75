/* Blocking calls made through syscall() park only their thread under the shim, with the
 * results and errno the raw system call gives natively: read, write, poll, accept, connect,
 * nanosleep, clock_nanosleep, and numbers passed through unchanged. A ticker counts while each
 * call waits (it must keep running). Prints results, never timings. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ticker.h"

static int p[2];

static void *feeder(void *a) {
    (void)a;
    usleep(60000);
    if (write(p[1], "hello", 5) != 5) return (void *)1;
    return NULL;
}

/* t0 < 0: a call that returns at once (no ticker check: timing is not compared). */
static void show(const char *what, long r, int t0) {
    printf("%-40s -> %ld%s%s", what, r, r < 0 ? " errno " : "", r < 0 ? strerrorname_np(errno) : "");
    if (t0 >= 0) printf(", ticker ran: %s", atomic_load(&ticks) - t0 >= 1 ? "yes" : "no");
    printf("\n");
}

static void *client(void *a) {
    usleep(60000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in *sa = a;
    long r = syscall(SYS_connect, fd, sa, sizeof *sa);
    static char buf[8];
    long n = syscall(SYS_read, fd, buf, sizeof buf);
    static char line[64];
    snprintf(line, sizeof line, "client: connect %ld, read %ld '%s'\n", r, n, buf);
    close(fd);
    return line; /* printed by main after the join: one order of lines */
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t tk, f, c;
    pthread_create(&tk, NULL, ticker, NULL);
    if (pipe(p)) return 1;

    char buf[16] = {0};
    pthread_create(&f, NULL, feeder, NULL);
    int t0 = atomic_load(&ticks);
    long r = syscall(SYS_read, p[0], buf, sizeof buf);
    show("SYS_read of a pipe fed later", r, t0);
    printf("read '%s'\n", buf);
    pthread_join(f, NULL);

    struct timespec d = {0, 40000000};
    t0 = atomic_load(&ticks);
    show("SYS_nanosleep 40 ms", syscall(SYS_nanosleep, &d, NULL), t0);
    t0 = atomic_load(&ticks);
    show("SYS_clock_nanosleep 40 ms", syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &d, NULL), t0);
    show("SYS_clock_nanosleep bad clock", syscall(SYS_clock_nanosleep, 12345, 0, &d, NULL), -1);
    struct pollfd pf = {p[0], POLLIN, 0};
    t0 = atomic_load(&ticks);
    show("SYS_poll 40 ms, nothing", syscall(SYS_poll, &pf, 1, 40), t0);
    show("SYS_read bad fd", syscall(SYS_read, -1, buf, 1), -1);
    show("SYS_write to the pipe", syscall(SYS_write, p[1], "abc", 3), -1);
    show("SYS_read what is there", syscall(SYS_read, p[0], buf, sizeof buf), -1);
    printf("SYS_getpid is getpid: %s\n", syscall(SYS_getpid) == getpid() ? "yes" : "no");
    show("unknown number", syscall(100000), -1);

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    bind(ls, (struct sockaddr *)&sa, sizeof sa);
    listen(ls, 4);
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    pthread_create(&c, NULL, client, &sa);
    t0 = atomic_load(&ticks);
    long cfd = syscall(SYS_accept4, ls, NULL, NULL, SOCK_CLOEXEC);
    show("SYS_accept4 of a later client", cfd < 0 ? cfd : 0, t0);
    show("SYS_sendto to it", syscall(SYS_sendto, cfd, "pong", 4, 0, NULL, 0), -1);
    void *line;
    pthread_join(c, &line);
    fputs(line, stdout);
    atomic_store(&stop, 1);
    pthread_join(tk, NULL);
    return 0;
}
