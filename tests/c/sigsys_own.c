/* A program's own SIGSYS uses while greenshim catches system calls with SIGSYS: its handler for a
 * SIGSYS sent with kill, sigaction reading back its action, and a seccomp filter (errno for
 * getppid, a trap to its handler for getpgrp, which the handler answers by setting the return
 * value in the context). Results as natively. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <unistd.h>

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1 /* si_code of a seccomp SIGSYS */
#endif

static volatile int got, code;

static void on_sys(int sig, siginfo_t *si, void *uc) {
    got++;
    code = si->si_code;
    if (si->si_code == SYS_SECCOMP) {
        ucontext_t *u = uc;
        u->uc_mcontext.gregs[REG_RAX] = 4242; /* the trapped call's result */
    }
    (void)sig;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, NULL);
    sigaction(SIGSYS, NULL, &old);
    printf("sigaction reads back the handler: %s\n", old.sa_sigaction == on_sys ? "yes" : "no");
    kill(getpid(), SIGSYS);
    printf("SIGSYS sent with kill: handled %d, si_code %s\n", got, code == SI_USER ? "SI_USER" : "other");

    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpgrp, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
        printf("seccomp: %s\n", strerror(errno));
        return 1;
    }
    errno = 0;
    long r = getppid();
    printf("getppid under a filter returning EPERM: %ld %s\n", r, r < 0 ? strerrorname_np(errno) : "");
    got = 0;
    r = syscall(SYS_getpgrp);
    printf("getpgrp trapped by the filter: %ld, handled %d, si_code %s\n", r, got, code == SYS_SECCOMP ? "SYS_SECCOMP" : "other");
    return 0;
}
