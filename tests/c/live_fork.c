/* live_fork: a process that forks, for the live view's sockets across fork (tests/live.rs).
 *
 * Usage: live_fork [MS]
 * Forks; the child prints "child=<pid>" (flushed), sleeps MS ms (default 2000) and exits 0; the
 * parent prints "parent=<pid>" (flushed), sleeps as long, waits for the child and exits with
 * its status. A live view meanwhile shows each of them sleeping.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long ms = 2000;

static void nap(void) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1) ms = atol(argv[1]);
    pid_t p = fork();
    if (p < 0) { perror("fork"); return 1; }
    if (p == 0) {
        printf("child=%d\n", (int)getpid());
        fflush(stdout);
        nap();
        return 0;
    }
    printf("parent=%d\n", (int)getpid());
    fflush(stdout);
    nap();
    int st;
    if (waitpid(p, &st, 0) != p) { perror("waitpid"); return 1; }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
