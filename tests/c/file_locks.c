/* File locks that wait park only the waiting thread: flock, fcntl F_SETLKW and F_OFD_SETLKW,
 * lockf F_LOCK, held by a child process or (flock, OFD) by another thread through another open
 * file description; EINTR without SA_RESTART, also for a signal sent while the waiter is runnable
 * under the shim (not parked). A ticker counts during each wait. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "late_signal.h"
#include "ticker.h"

static char path[] = "/tmp/greenshim-locks-XXXXXX";

static void report(const char *what, int r, int t0) {
    printf("%-44s -> %d%s%s", what, r, r < 0 ? " errno " : "", r < 0 ? strerrorname_np(errno) : "");
    if (t0 >= 0) printf(", ticker ran: %s", atomic_load(&ticks) - t0 >= 1 ? "yes" : "no");
    printf("\n");
}

/* A child that takes a lock of `kind` on the file, holds it `ms`, then exits. */
static pid_t holder(int kind, int ms) {
    int ready[2];
    if (pipe(ready)) exit(1);
    pid_t p = fork();
    if (p == 0) {
        int fd = open(path, O_RDWR);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        if (kind == 0) flock(fd, LOCK_EX);
        else if (kind == 1) fcntl(fd, F_SETLK, &fl);
        else lockf(fd, F_LOCK, 0);
        if (write(ready[1], "r", 1) != 1) _exit(1);
        usleep(ms * 1000);
        _exit(0);
    }
    char c;
    if (read(ready[0], &c, 1) != 1) exit(1);
    close(ready[0]);
    close(ready[1]);
    return p;
}

static int fd_a, fd_b;

static void *flock_holder(void *a) {
    (void)a;
    flock(fd_a, LOCK_EX);
    usleep(80000);
    flock(fd_a, LOCK_UN);
    return NULL;
}

static void on_alarm(int s) { (void)s; }


int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int tmp = mkstemp(path);
    if (tmp < 0) return 1;
    pthread_t tk;
    pthread_create(&tk, NULL, ticker, NULL);
    int fd = open(path, O_RDWR), t0, st;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};

    pid_t p = holder(0, 80);
    report("flock LOCK_EX|LOCK_NB while a child holds it", flock(fd, LOCK_EX | LOCK_NB), -1);
    t0 = atomic_load(&ticks);
    report("flock LOCK_EX while a child holds it", flock(fd, LOCK_EX), t0);
    flock(fd, LOCK_UN);
    waitpid(p, &st, 0);

    p = holder(1, 80);
    report("fcntl F_SETLK while a child holds it", fcntl(fd, F_SETLK, &fl), -1);
    t0 = atomic_load(&ticks);
    report("fcntl F_SETLKW while a child holds it", fcntl(fd, F_SETLKW, &fl), t0);
    fl.l_type = F_UNLCK;
    fcntl(fd, F_SETLK, &fl);
    waitpid(p, &st, 0);

    p = holder(2, 80);
    report("lockf F_TLOCK while a child holds it", lockf(fd, F_TLOCK, 0), -1);
    t0 = atomic_load(&ticks);
    report("lockf F_LOCK while a child holds it", lockf(fd, F_LOCK, 0), t0);
    lockf(fd, F_ULOCK, 0);
    waitpid(p, &st, 0);

    /* flock between two open file descriptions in one process, held by another thread */
    fd_a = open(path, O_RDWR);
    fd_b = open(path, O_RDWR);
    pthread_t th;
    pthread_create(&th, NULL, flock_holder, NULL);
    usleep(20000);
    t0 = atomic_load(&ticks);
    report("flock on another description, thread holds", flock(fd_b, LOCK_EX), t0);
    flock(fd_b, LOCK_UN);
    pthread_join(th, NULL);

    /* OFD locks between two descriptions of one process */
    struct flock ofd = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0, .l_pid = 0};
    report("F_OFD_SETLK on the first description", fcntl(fd_a, F_OFD_SETLK, &ofd), -1);
    report("F_OFD_SETLK on the second", fcntl(fd_b, F_OFD_SETLK, &ofd), -1);

    /* interrupted */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    p = holder(0, 200);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    report("flock interrupted, no SA_RESTART", flock(fd, LOCK_EX), -1);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    setitimer(ITIMER_REAL, &it, NULL);
    report("flock, SA_RESTART handler ran", flock(fd, LOCK_EX), -1);
    flock(fd, LOCK_UN);
    waitpid(p, &st, 0);

    /* interrupted by a signal sent while the waiter's retry is due (no SA_RESTART) */
    sa.sa_flags = 0;
    sigaction(SIGALRM, &sa, NULL);
    late_target = pthread_self();
    late_signal = SIGALRM;
    p = holder(0, 10000);
    int eintr = 0;
    for (int i = 0; i < 4; i++) {
        pthread_t li;
        pthread_create(&li, NULL, late_interrupter, NULL);
        if (flock(fd, LOCK_EX) < 0 && errno == EINTR) eintr++;
        pthread_join(li, NULL);
    }
    printf("flock, signal while a retry is due, x4       -> EINTR %d times\n", eintr);
    kill(p, SIGKILL);
    waitpid(p, &st, 0);

    atomic_store(&stop, 1);
    pthread_join(tk, NULL);
    unlink(path);
    return 0;
}
