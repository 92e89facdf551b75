/* Signals are per thread: handler target, masks, pending sets, EINTR/SA_RESTART, the sigwait
 * family, sigsuspend/pause, handlers that block, stop/continue. Each section prints canonical
 * lines; the test compares them with the native run. Usage: posix_signal SECTION */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <spawn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile pthread_t handler_self;
static volatile int handled;
static volatile int handled_usr2;

static void on_usr1(int sig) { (void)sig; handler_self = pthread_self(); handled++; }
static void on_usr2(int sig) { (void)sig; handled_usr2++; }

static void set_handler(int sig, void (*fn)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void ms(int n) { usleep(n * 1000); }

static void block(int sig) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static void unblock(int sig) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

static int blocked(int sig) {
    sigset_t s;
    pthread_sigmask(SIG_BLOCK, NULL, &s);
    return sigismember(&s, sig);
}

static int pending(int sig) {
    sigset_t s;
    sigpending(&s);
    return sigismember(&s, sig);
}

/* ---- target: a thread-directed handler runs in its target and interrupts only its call */
static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static void *sleeper(void *a) {
    (void)a;
    struct timespec ts = {2, 0};
    errno = 0;
    int r = nanosleep(&ts, NULL);
    printf("sleeper: nanosleep=%d %s, handler in me=%d\n", r, r ? strerror(errno) : "", pthread_equal(handler_self, pthread_self()));
    return NULL;
}
static void *locker(void *a) {
    (void)a;
    int r = pthread_mutex_lock(&mtx);
    printf("locker: lock=%d after handler, handler in me=%d\n", r, pthread_equal(handler_self, pthread_self()));
    pthread_mutex_unlock(&mtx);
    return NULL;
}
static void *locker2(void *a) {
    (void)a;
    pthread_mutex_lock(&mtx);
    printf("locker2: handler ran before the lock returned=%d\n", handled);
    pthread_mutex_unlock(&mtx);
    return NULL;
}
static void *bystander(void *a) {
    (void)a;
    struct timespec ts = {0, 300 * 1000 * 1000};
    int r = nanosleep(&ts, NULL);
    printf("bystander: nanosleep=%d\n", r);
    return NULL;
}
static void sec_target(void) {
    set_handler(SIGUSR1, on_usr1, 0);
    pthread_t s, b;
    pthread_create(&b, NULL, bystander, NULL);
    pthread_create(&s, NULL, sleeper, NULL);
    ms(50);
    pthread_kill(s, SIGUSR1);
    pthread_join(s, NULL);
    pthread_join(b, NULL);
    pthread_t l;
    pthread_mutex_lock(&mtx);
    pthread_create(&l, NULL, locker, NULL);
    ms(50);
    handler_self = 0;
    pthread_kill(l, SIGUSR1);
    ms(50);
    printf("main: handler ran while locker waited=%d\n", handler_self != 0);
    pthread_mutex_unlock(&mtx);
    pthread_join(l, NULL);
    /* a signal, then at once the unlock: the handler still runs before the lock returns */
    pthread_mutex_lock(&mtx);
    pthread_create(&l, NULL, locker2, NULL);
    ms(50);
    handled = 0;
    pthread_kill(l, SIGUSR1);
    pthread_mutex_unlock(&mtx);
    pthread_join(l, NULL);
    /* raise: the handler runs in the caller before raise returns */
    handler_self = 0;
    raise(SIGUSR1);
    printf("raise: handler in me before return=%d\n", pthread_equal(handler_self, pthread_self()));
}

/* ---- mask: per-thread masks, inheritance, process-directed routing, pending per thread */
static sem_t go, done;
static volatile pthread_t a_id, b_id;
static void *thread_a(void *x) {
    (void)x;
    block(SIGUSR1);
    a_id = pthread_self();
    sem_post(&done);
    sem_wait(&go); /* main sends a thread-directed SIGUSR1 to A meanwhile */
    printf("A: pending USR1=%d handled=%d\n", pending(SIGUSR1), handled);
    handler_self = 0;
    unblock(SIGUSR1);
    printf("A: after unblock handler in me=%d\n", pthread_equal(handler_self, pthread_self()));
    return NULL;
}
static void *thread_b(void *x) {
    (void)x;
    b_id = pthread_self();
    printf("B: inherited USR2 blocked=%d USR1 blocked=%d, pending USR1=%d\n", blocked(SIGUSR2), blocked(SIGUSR1), pending(SIGUSR1));
    sem_post(&done);
    sem_wait(&go);
    return NULL;
}
static void *thread_c(void *x) {
    (void)x;
    unblock(SIGUSR1);
    sem_post(&done);
    sem_wait(&go);
    return NULL;
}
static void sec_mask(void) {
    set_handler(SIGUSR1, on_usr1, 0);
    sem_init(&go, 0, 0);
    sem_init(&done, 0, 0);
    block(SIGUSR2);
    pthread_t a, b;
    pthread_create(&a, NULL, thread_a, NULL);
    sem_wait(&done);
    unblock(SIGUSR2);
    printf("main: USR2 blocked after unblock=%d, A's block did not touch mine: USR1 blocked=%d\n", blocked(SIGUSR2), blocked(SIGUSR1));
    block(SIGUSR2);
    block(SIGUSR1);
    pthread_create(&b, NULL, thread_b, NULL); /* inherits USR1+USR2 blocked */
    sem_wait(&done);
    unblock(SIGUSR2);
    pthread_kill(a, SIGUSR1);
    ms(20);
    printf("main: handled before A unblocks=%d, main pending USR1=%d\n", handled, pending(SIGUSR1));
    sem_post(&go);
    pthread_join(a, NULL);
    sem_post(&go);
    pthread_join(b, NULL);
    /* process-directed: main blocks it, C does not: C runs the handler */
    handler_self = 0;
    handled = 0;
    pthread_t c;
    pthread_create(&c, NULL, thread_c, NULL);
    sem_wait(&done);
    kill(getpid(), SIGUSR1);
    ms(50);
    printf("process-directed: handled=%d in C=%d main pending=%d\n", handled, pthread_equal(handler_self, c), pending(SIGUSR1));
    sem_post(&go);
    pthread_join(c, NULL);
    /* nobody accepts it: it stays pending for the process until main unblocks it */
    handled = 0;
    kill(getpid(), SIGUSR1);
    ms(20);
    printf("all blocked: handled=%d pending=%d\n", handled, pending(SIGUSR1));
    handler_self = 0;
    unblock(SIGUSR1);
    printf("after unblock: handled=%d in main=%d pending=%d\n", handled, pthread_equal(handler_self, pthread_self()), pending(SIGUSR1));
}

/* ---- restart: EINTR and SA_RESTART as in signal(7) */
static int pfd[2];
static void *reader(void *x) {
    (void)x;
    char buf[16];
    errno = 0;
    ssize_t n = read(pfd[0], buf, sizeof buf);
    printf("  read=%zd %s\n", n, n < 0 ? strerror(errno) : "");
    return NULL;
}
static void *poller(void *x) {
    (void)x;
    struct pollfd p = {pfd[0], POLLIN, 0};
    errno = 0;
    int r = poll(&p, 1, 2000);
    printf("  poll=%d %s\n", r, r < 0 ? strerror(errno) : "");
    return NULL;
}
static sem_t rs;
static void *semwaiter(void *x) {
    (void)x;
    errno = 0;
    int r = sem_wait(&rs);
    printf("  sem_wait=%d %s\n", r, r < 0 ? strerror(errno) : "");
    return NULL;
}
static void run_interrupted(void *(*fn)(void *), int feed) {
    pthread_t t;
    pthread_create(&t, NULL, fn, NULL);
    ms(50);
    pthread_kill(t, SIGUSR1);
    ms(50);
    if (feed == 1)
        write(pfd[1], "hello", 5);
    if (feed == 2)
        sem_post(&rs);
    pthread_join(t, NULL);
    char buf[16];
    int fl = 0;
    (void)fl;
    struct pollfd p = {pfd[0], POLLIN, 0};
    if (poll(&p, 1, 0) == 1)
        read(pfd[0], buf, sizeof buf); /* drain for the next case */
}
static void sec_restart(void) {
    pipe(pfd);
    sem_init(&rs, 0, 0);
    /* Another signal's handler lacks SA_RESTART: only the handler that ran decides. */
    set_handler(SIGUSR2, on_usr2, 0);
    for (int restart = 0; restart < 2; restart++) {
        set_handler(SIGUSR1, on_usr1, restart ? SA_RESTART : 0);
        printf("%s SA_RESTART:\n", restart ? "with" : "without");
        run_interrupted(reader, 1);
        run_interrupted(poller, 1);
        run_interrupted(semwaiter, 2);
        if (!restart) {
            int v;
            sem_getvalue(&rs, &v);
            if (v > 0)
                sem_wait(&rs);
        }
    }
}

/* ---- sigwait family: only the waiter parks; others run meanwhile */
static volatile int ticks;
static volatile int stop_ticker;
static void *ticker(void *x) {
    (void)x;
    while (!stop_ticker) {
        ms(10);
        ticks++;
    }
    return NULL;
}
static void *sender(void *x) {
    (void)x;
    ms(100);
    kill(getpid(), SIGUSR1);
    return NULL;
}
static void *waiter(void *x) {
    (void)x;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    int sig = 0;
    int r = sigwait(&s, &sig);
    printf("sigwait=%d sig=%s ticks meanwhile>=2: %d\n", r, sig == SIGUSR1 ? "USR1" : "?", ticks >= 2);
    return NULL;
}
static void sec_sigwait(void) {
    block(SIGUSR1); /* before any thread: every thread blocks it */
    block(SIGUSR2);
    set_handler(SIGUSR1, on_usr1, 0);
    pthread_t t, w, s;
    pthread_create(&t, NULL, ticker, NULL);
    pthread_create(&w, NULL, waiter, NULL);
    pthread_create(&s, NULL, sender, NULL);
    pthread_join(w, NULL);
    pthread_join(s, NULL);
    stop_ticker = 1;
    pthread_join(t, NULL);
    printf("handler ran=%d\n", handled);
    /* sigtimedwait: timeout, then a queued value */
    sigset_t s2;
    sigemptyset(&s2);
    sigaddset(&s2, SIGUSR2);
    struct timespec to = {0, 50 * 1000 * 1000};
    siginfo_t si;
    errno = 0;
    int r = sigtimedwait(&s2, &si, &to);
    printf("sigtimedwait timeout=%d %s\n", r, strerror(errno));
    union sigval v;
    v.sival_int = 42;
    pthread_sigqueue(pthread_self(), SIGUSR2, v);
    printf("USR2 pending for me=%d\n", pending(SIGUSR2));
    r = sigwaitinfo(&s2, &si);
    printf("sigwaitinfo=%s code=%s value=%d\n", r == SIGUSR2 ? "USR2" : "?", si.si_code == SI_QUEUE ? "SI_QUEUE" : "?", si.si_value.sival_int);
    /* a signal blocked by everyone, sent to the process, taken by sigwait in a thread */
    kill(getpid(), SIGUSR2);
    printf("process USR2 pending=%d\n", pending(SIGUSR2));
    int sig = 0;
    sigwait(&s2, &sig);
    printf("taken=%s pending after=%d\n", sig == SIGUSR2 ? "USR2" : "?", pending(SIGUSR2));
}

/* ---- sigsuspend and pause */
static void *suspender(void *x) {
    (void)x;
    block(SIGUSR1);
    sem_post(&done);
    sigset_t none;
    sigemptyset(&none);
    errno = 0;
    int r = sigsuspend(&none);
    printf("sigsuspend=%d %s handler in me=%d USR1 blocked again=%d\n", r, strerror(errno), pthread_equal(handler_self, pthread_self()), blocked(SIGUSR1));
    return NULL;
}
static void *pauser(void *x) {
    (void)x;
    sem_post(&done);
    errno = 0;
    int r = pause();
    printf("pause=%d %s handler in me=%d\n", r, strerror(errno), pthread_equal(handler_self, pthread_self()));
    return NULL;
}
static void sec_suspend(void) {
    set_handler(SIGUSR1, on_usr1, 0);
    sem_init(&done, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, suspender, NULL);
    sem_wait(&done);
    ms(30);
    pthread_kill(t, SIGUSR1);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, pauser, NULL);
    sem_wait(&done);
    ms(30);
    pthread_kill(t, SIGUSR1);
    pthread_join(t, NULL);
}

/* ---- a handler that blocks: the other threads go on */
static volatile pthread_t sleeper_target;
static void on_usr1_sleeps(int sig) {
    (void)sig;
    int before = ticks;
    ms(150);
    printf("handler slept in its target=%d, ticks went on=%d\n", pthread_equal(pthread_self(), sleeper_target), ticks - before >= 2);
    handled++;
}
static sem_t hs;
static void *sem_sleeper(void *x) {
    (void)x;
    int r = sem_wait(&hs);
    printf("target: sem_wait=%d after its handler\n", r);
    return NULL;
}
static void sec_blocking_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1_sleeps;
    sigfillset(&sa.sa_mask); /* every signal blocked while it runs */
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t, w;
    sem_init(&hs, 0, 0);
    pthread_create(&t, NULL, ticker, NULL);
    pthread_create(&w, NULL, sem_sleeper, NULL);
    sleeper_target = w;
    ms(20);
    pthread_kill(w, SIGUSR1);
    ms(300);
    printf("main: handled=%d\n", handled);
    sem_post(&hs);
    pthread_join(w, NULL);
    sleeper_target = pthread_self();
    raise(SIGUSR1);
    stop_ticker = 1;
    pthread_join(t, NULL);
    printf("handled=%d\n", handled);
    /* SA_RESETHAND: once, then the default */
    set_handler(SIGUSR2, on_usr2, SA_RESETHAND);
    raise(SIGUSR2);
    struct sigaction now;
    sigaction(SIGUSR2, NULL, &now);
    printf("resethand: handled=%d now default=%d\n", handled_usr2, now.sa_handler == SIG_DFL);
}

/* ---- stop/continue without a handler does not interrupt sleeps */
static void *nap(void *x) {
    (void)x;
    struct timespec ts = {0, 400 * 1000 * 1000};
    errno = 0;
    int r = nanosleep(&ts, NULL);
    printf("nanosleep across stop/cont=%d %s\n", r, r ? strerror(errno) : "");
    unsigned left = sleep(1);
    printf("sleep across stop/cont left=%u\n", left);
    return NULL;
}
static void sec_stopcont(void) {
    pid_t me = getpid();
    pid_t kid = fork();
    if (kid == 0) {
        usleep(100 * 1000);
        kill(me, SIGSTOP);
        usleep(100 * 1000);
        kill(me, SIGCONT);
        usleep(500 * 1000);
        kill(me, SIGSTOP);
        usleep(100 * 1000);
        kill(me, SIGCONT);
        _exit(0);
    }
    pthread_t t;
    pthread_create(&t, NULL, nap, NULL);
    pthread_join(t, NULL);
    waitpid(kid, NULL, 0);
}

/* ---- a handler that ends its thread: cleanup handlers run, the joiner gets the value */
static void on_usr1_exits(int sig) {
    (void)sig;
    pthread_exit((void *)7);
}
static void cleanup(void *arg) { printf("cleanup ran: %s\n", (const char *)arg); }
static void *exiter(void *x) {
    (void)x;
    pthread_cleanup_push(cleanup, "exiter");
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL);
    printf("not reached\n");
    pthread_cleanup_pop(0);
    return NULL;
}
static void sec_exit(void) {
    set_handler(SIGUSR1, on_usr1_exits, 0);
    pthread_t t;
    pthread_create(&t, NULL, exiter, NULL);
    ms(50);
    pthread_kill(t, SIGUSR1);
    void *v = NULL;
    int r = pthread_join(t, &v);
    printf("join=%d value=%ld\n", r, (long)v);
}

/* ---- a vfork child changes its own mask and actions (as _posixsubprocess does), not ours */
static void sec_vfork(void) {
    set_handler(SIGUSR1, on_usr1, 0);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t kid = vfork();
    if (kid == 0) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGUSR1, &dfl, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    int st;
    waitpid(kid, &st, 0);
    char l[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (fgets(l, sizeof l, f))
        if (!strncmp(l, "SigBlk", 6))
            printf("after vfork: %s", l);
    fclose(f);
    handled = 0;
    raise(SIGUSR1);
    printf("handler still ours=%d\n", handled);
}

/* ---- a timer's signals reach a thread that only locks and unlocks a mutex */
static void sec_busy(void) {
    set_handler(SIGALRM, on_usr1, 0);
    struct itimerval it = {{0, 10000}, {0, 10000}};
    setitimer(ITIMER_REAL, &it, NULL);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        for (int i = 0; i < 1000; i++) {
            pthread_mutex_lock(&mtx);
            pthread_mutex_unlock(&mtx);
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (handled < 5 && t.tv_sec - t0.tv_sec < 5);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("busy locker saw the timer: %d\n", handled >= 5);
}

/* ---- a program started from a thread gets that thread's mask (not another thread's) */
extern char **environ;
static void child_mask(const char *how, int use_vfork, int use_spawn) {
    int p[2];
    pipe(p);
    char *argv[] = {"posix_signal", "printmask", NULL};
    pid_t kid;
    if (use_spawn) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        posix_spawn(&kid, "/proc/self/exe", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
    } else {
        kid = use_vfork ? vfork() : fork();
        if (kid == 0) {
            dup2(p[1], 1);
            execve("/proc/self/exe", argv, environ);
            _exit(127);
        }
    }
    close(p[1]);
    char buf[256] = {0};
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    waitpid(kid, NULL, 0);
    printf("%s: %s", how, n > 0 ? buf : "?\n");
}
static void *masked_spawner(void *x) {
    (void)x;
    block(SIGUSR1);
    child_mask("posix_spawn from the blocking thread", 0, 1);
    child_mask("vfork+execve from the blocking thread", 1, 0);
    child_mask("fork+execve from the blocking thread", 0, 0);
    return NULL;
}
static void sec_exec(void) {
    pthread_t t;
    pthread_create(&t, NULL, masked_spawner, NULL);
    pthread_join(t, NULL);
    child_mask("posix_spawn from main", 0, 1);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *s = argc > 1 ? argv[1] : "";
    if (!strcmp(s, "target")) sec_target();
    else if (!strcmp(s, "mask")) sec_mask();
    else if (!strcmp(s, "restart")) sec_restart();
    else if (!strcmp(s, "sigwait")) sec_sigwait();
    else if (!strcmp(s, "suspend")) sec_suspend();
    else if (!strcmp(s, "blocking")) sec_blocking_handler();
    else if (!strcmp(s, "stopcont")) sec_stopcont();
    else if (!strcmp(s, "exit")) sec_exit();
    else if (!strcmp(s, "vfork")) sec_vfork();
    else if (!strcmp(s, "busy")) sec_busy();
    else if (!strcmp(s, "exec")) sec_exec();
    else if (!strcmp(s, "printmask")) {
        char l[256];
        FILE *f = fopen("/proc/self/status", "r");
        while (fgets(l, sizeof l, f))
            if (!strncmp(l, "SigBlk", 6)) printf("%s", l);
        fclose(f);
    }
    else { fprintf(stderr, "unknown section\n"); return 2; }
    return 0;
}
