/* system() and popen()/pclose() wait for their child without freezing other threads: results,
 * statuses and the SIGINT disposition during system() as natively. A ticker counts during each
 * wait. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ticker.h"

static void *sigint_probe(void *a) {
    (void)a;
    usleep(40000);
    struct sigaction old;
    sigaction(SIGINT, NULL, &old);
    printf("SIGINT during system(): %s\n", old.sa_handler == SIG_IGN ? "ignored" : "not ignored");
    return NULL;
}

/* Each check reads the ticker right after the call returns: a wait that froze every thread
 * ends before the ticker could run again. */
static void *concurrent(void *a) {
    int t0 = atomic_load(&ticks);
    int st = system((const char *)a);
    int ran = atomic_load(&ticks) - t0 >= 1;
    return (void *)(long)((WIFEXITED(st) ? WEXITSTATUS(st) : -1) * 10 + ran);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t tk, pr;
    pthread_create(&tk, NULL, ticker, NULL);

    pthread_create(&pr, NULL, sigint_probe, NULL);
    int t0 = atomic_load(&ticks);
    int st = system("sleep 0.1; exit 3");
    int ran = atomic_load(&ticks) - t0 >= 1;
    pthread_join(pr, NULL);
    printf("system(sleep; exit 3): exited %d, ticker ran: %s\n", WEXITSTATUS(st), ran ? "yes" : "no");
    struct sigaction old;
    sigaction(SIGINT, NULL, &old);
    printf("SIGINT after system(): %s\n", old.sa_handler == SIG_IGN ? "ignored" : "default");
    printf("system(NULL): %d\n", system(NULL));
    st = system("exec /nonexistent/command 2>/dev/null");
    printf("system(missing command): exited %d\n", WEXITSTATUS(st));
    st = system("kill -TERM $$");
    printf("system(kill itself): signaled %d by %d\n", WIFSIGNALED(st), WTERMSIG(st));

    pthread_t c1, c2;
    pthread_create(&c1, NULL, concurrent, "sleep 0.08; exit 5");
    pthread_create(&c2, NULL, concurrent, "sleep 0.05; exit 6");
    void *r1, *r2;
    pthread_join(c1, &r1);
    pthread_join(c2, &r2);
    printf("two system() at once: %ld %ld, ticker ran: %s %s\n", (long)r1 / 10, (long)r2 / 10, (long)r1 % 10 ? "yes" : "no", (long)r2 % 10 ? "yes" : "no");

    /* (fgets reads through glibc's internal read: only pclose's wait is checked) */
    FILE *f = popen("echo hello; sleep 0.08; exit 4", "r");
    char line[64] = {0};
    char *got = fgets(line, sizeof line, f);
    t0 = atomic_load(&ticks);
    st = pclose(f);
    printf("popen r: %s", got ? line : "(nothing)\n");
    printf("pclose: exited %d, ticker ran: %s\n", WEXITSTATUS(st), atomic_load(&ticks) - t0 >= 1 ? "yes" : "no");

    /* the child reads until EOF: pclose must end the pipe before it waits */
    f = popen("wc -c > /dev/null; sleep 0.08; exit 2", "w");
    fputs("some input for the child\n", f);
    t0 = atomic_load(&ticks);
    st = pclose(f);
    printf("popen w + pclose: exited %d, ticker ran: %s\n", WEXITSTATUS(st), atomic_load(&ticks) - t0 >= 1 ? "yes" : "no");

    errno = 0;
    printf("pclose of a reaped child: ");
    f = popen("exit 0", "r");
    usleep(50000);
    while (waitpid(-1, &st, WNOHANG) > 0) {}
    st = pclose(f);
    printf("%d %s\n", st, st < 0 ? strerrorname_np(errno) : "");

    atomic_store(&stop, 1);
    pthread_join(tk, NULL);
    return 0;
}
