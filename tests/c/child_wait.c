/* Waiting for children parks only the waiting thread: waitpid for one child, wait for any,
 * wait4 with rusage, waitid, waits that end by EINTR or restart after SA_RESTART, stops with
 * WUNTRACED, ECHILD. A ticker counts during each wait; results as natively. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ticker.h"

static pid_t child(int ms, int code) {
    pid_t p = fork();
    if (p == 0) {
        usleep(ms * 1000);
        _exit(code);
    }
    return p;
}

static void report(const char *what, long r, int status, int t0) {
    printf("%-34s -> %s%s", what, r > 0 ? "child" : r == 0 ? "0" : "-1 errno ", r < 0 ? strerrorname_np(errno) : "");
    if (r > 0 && WIFEXITED(status)) printf(" exited %d", WEXITSTATUS(status));
    if (r > 0 && WIFSIGNALED(status)) printf(" killed by %d", WTERMSIG(status));
    if (r > 0 && WIFSTOPPED(status)) printf(" stopped by %d", WSTOPSIG(status));
    if (t0 >= 0) printf(", ticker ran: %s", atomic_load(&ticks) - t0 >= 1 ? "yes" : "no");
    printf("\n");
}

static void on_alarm(int s) { (void)s; }

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t tk;
    pthread_create(&tk, NULL, ticker, NULL);
    int st = 0, t0;

    pid_t p = child(80, 3);
    t0 = atomic_load(&ticks);
    long r = waitpid(p, &st, 0);
    report("waitpid(pid)", r == p ? 1 : r, st, t0);

    child(60, 4);
    t0 = atomic_load(&ticks);
    r = wait(&st);
    report("wait() for any", r, st, t0);

    p = child(60, 5);
    struct rusage ru;
    t0 = atomic_load(&ticks);
    r = wait4(p, &st, 0, &ru);
    report("wait4(pid, rusage)", r == p ? 1 : r, st, t0);

    p = child(60, 6);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    t0 = atomic_load(&ticks);
    r = waitid(P_PID, p, &si, WEXITED);
    printf("waitid(P_PID) -> %ld, pid matches %s, code %s, status %d, ticker ran: %s\n", r, si.si_pid == p ? "yes" : "no",
           si.si_code == CLD_EXITED ? "CLD_EXITED" : "other", si.si_status, atomic_load(&ticks) - t0 >= 1 ? "yes" : "no");

    p = child(60, 7);
    memset(&si, 0, sizeof si);
    r = waitid(P_ALL, 0, &si, WEXITED);
    printf("waitid(P_ALL) -> %ld, status %d\n", r, si.si_status);

    r = waitpid(-1, &st, 0);
    report("waitpid(-1) without children", r, st, -1);
    r = waitpid(p, &st, WNOHANG);
    report("waitpid(reaped pid, WNOHANG)", r, st, -1);

    /* a stop, seen with WUNTRACED */
    p = fork();
    if (p == 0) {
        raise(SIGSTOP);
        _exit(9);
    }
    r = waitpid(p, &st, WUNTRACED);
    report("waitpid(WUNTRACED) on a stop", r == p ? 1 : r, st, -1);
    kill(p, SIGCONT);
    r = waitpid(p, &st, 0);
    report("waitpid after SIGCONT", r == p ? 1 : r, st, -1);

    /* interrupted: no SA_RESTART -> EINTR; SA_RESTART -> the wait goes on */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    p = child(200, 10);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    r = waitpid(p, &st, 0);
    report("waitpid interrupted, no SA_RESTART", r, st, -1);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    setitimer(ITIMER_REAL, &it, NULL);
    r = waitpid(p, &st, 0);
    report("waitpid, SA_RESTART handler ran", r == p ? 1 : r, st, -1);

    p = child(40, 11);
    t0 = atomic_load(&ticks);
    r = syscall(SYS_wait4, p, &st, 0, NULL);
    report("syscall(SYS_wait4)", r == p ? 1 : r, st, t0);

    atomic_store(&stop, 1);
    pthread_join(tk, NULL);
    return 0;
}
