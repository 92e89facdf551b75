/* sched_yield goes to the kernel when the caller is the only thread that can run (natively the
 * kernel then runs other processes; a yield that stays in user space lets nothing else run).
 * A seccomp filter traps the sched_yield system call; the SIGSYS handler counts the traps and
 * makes the call return 0. Prints how many of N calls reached the kernel: alone, and while
 * another thread sleeps (a pending timer, nothing runnable). */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static volatile sig_atomic_t traps;

static void on_sigsys(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    (void)si;
    ucontext_t *uc = ctx;
    uc->uc_mcontext.gregs[REG_RAX] = 0; /* the trapped call returns 0 */
    traps++;
}

static void *sleeper(void *arg) {
    (void)arg;
    usleep(200 * 1000);
    return NULL;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, NULL);
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_sched_yield, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        perror("seccomp");
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < 100; i++) bad |= sched_yield() != 0;
    printf("alone: %d of 100 yields reached the kernel, failures=%d\n", (int)traps, bad);

    traps = 0;
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    usleep(10 * 1000); /* the sleeper is asleep now */
    for (int i = 0; i < 100; i++) bad |= sched_yield() != 0;
    printf("with a sleeping thread: %d of 100 yields reached the kernel, failures=%d\n", (int)traps, bad);
    pthread_join(t, NULL);
    return 0;
}
