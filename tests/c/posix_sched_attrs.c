/* Scheduling policy and priority of threads: given through attributes (explicit or inherited),
 * set with pthread_setschedparam / pthread_setschedprio, read back with pthread_getschedparam and
 * pthread_getattr_np, with the kernel's checks (EINVAL, EPERM). Prints what each call returns
 * and reports; the spec is what glibc and the kernel do natively.
 *
 * Phase 1 runs with the caller's privileges (as root with CAP_SYS_NICE real-time policies are
 * allowed); phase 2 drops CAP_SYS_NICE (if held) and sets RLIMIT_RTPRIO to 5 (if allowed), so
 * the unprivileged checks run on every machine. Capabilities are per OS thread natively: every
 * call of phase 2 is made by main or by threads created after the drop. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

static const char *en(int e) {
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case ESRCH: return "ESRCH";
    case EAGAIN: return "EAGAIN";
    default: return strerror(e);
    }
}

/* What pthread_getschedparam says about t. */
static void show(const char *what, pthread_t t) {
    int pol = -7;
    struct sched_param sp = {.sched_priority = -7};
    int r = pthread_getschedparam(t, &pol, &sp);
    printf("%s: get=%s policy=%#x prio=%d\n", what, en(r), pol, sp.sched_priority);
}

/* What the kernel says about the calling thread. */
static void show_kernel(const char *what) {
    struct sched_param sp = {.sched_priority = -7};
    int pol = sched_getscheduler(0);
    int r = sched_getparam(0, &sp);
    printf("%s: sched_getscheduler=%#x sched_getparam=%d prio=%d\n", what, pol, r, sp.sched_priority);
}

static void raw_set(const char *what, int policy, int prio) {
    struct sched_param sp = {.sched_priority = prio};
    errno = 0;
    int r = sched_setscheduler(0, policy, &sp);
    printf("%s: sched_setscheduler(0, %#x, %d)=%d %s\n", what, policy, prio, r, r ? en(errno) : "");
}

/* What pthread_getattr_np says about t. */
static void show_attr(const char *what, pthread_t t) {
    pthread_attr_t a;
    int r = pthread_getattr_np(t, &a);
    int inh = -7, pol = -7;
    struct sched_param sp = {.sched_priority = -7};
    if (r == 0) {
        pthread_attr_getinheritsched(&a, &inh);
        pthread_attr_getschedpolicy(&a, &pol);
        pthread_attr_getschedparam(&a, &sp);
        pthread_attr_destroy(&a);
    }
    printf("%s: getattr=%s inherit=%s policy=%#x prio=%d\n", what, en(r),
           inh == PTHREAD_EXPLICIT_SCHED ? "explicit" : inh == PTHREAD_INHERIT_SCHED ? "inherit" : "?",
           pol, sp.sched_priority);
}

/* A thread that reports itself (attr first: before anything fills glibc's cache), optionally
 * creates a child with default attributes, then waits until released. */
struct job {
    const char *name;
    int child;
    int self_set; /* >= 0: pthread_setschedparam(self, self_set, 0) */
    int raw;      /* change itself with sched_setscheduler(0, ..) behind glibc's cache */
    sem_t start, reported, go, cstart; /* main printed the create; the worker reported; worker may end */
};

static void *child(void *arg) {
    struct job *j = arg;
    const char *name = j->name;
    char b[64];
    sem_wait(&j->cstart); /* the creator printed its result */
    snprintf(b, sizeof b, "%s/child attr", name);
    show_attr(b, pthread_self());
    snprintf(b, sizeof b, "%s/child", name);
    show(b, pthread_self());
    return NULL;
}

static void *worker(void *arg) {
    struct job *j = arg;
    char b[64];
    sem_wait(&j->start);
    snprintf(b, sizeof b, "%s attr", j->name);
    show_attr(b, pthread_self());
    show(j->name, pthread_self());
    show_kernel(j->name);
    if (j->raw) {
        raw_set(j->name, SCHED_BATCH, 0);
        show(j->name, pthread_self()); /* glibc's cache: stale */
        show_kernel(j->name);
        raw_set(j->name, SCHED_OTHER, 3);
        raw_set(j->name, SCHED_FIFO, 10);
        show_kernel(j->name);
        struct sched_param sp = {.sched_priority = 0};
        errno = 0;
        int r = sched_setparam(0, &sp);
        printf("%s: sched_setparam(0, 0)=%d %s\n", j->name, r, r ? en(errno) : "");
        raw_set(j->name, SCHED_OTHER, 0);
        show_kernel(j->name);
        show(j->name, pthread_self());
    }
    if (j->self_set >= 0) {
        struct sched_param sp = {0};
        int r = pthread_setschedparam(pthread_self(), j->self_set, &sp);
        printf("%s: set self %#x: %s\n", j->name, j->self_set, en(r));
        show(j->name, pthread_self());
    }
    if (j->child) {
        pthread_t c;
        int r = pthread_create(&c, NULL, child, j);
        printf("%s: create child: %s\n", j->name, en(r));
        if (r == 0) {
            sem_post(&j->cstart);
            pthread_join(c, NULL);
        }
    }
    sem_post(&j->reported);
    sem_wait(&j->go);
    return NULL;
}

static void init_job(struct job *j) {
    sem_init(&j->start, 0, 0);
    sem_init(&j->reported, 0, 0);
    sem_init(&j->go, 0, 0);
    sem_init(&j->cstart, 0, 0);
}

/* Let the worker report (after main printed the create) and wait until it did. */
static void started(struct job *j) {
    sem_post(&j->start);
    sem_wait(&j->reported);
}

/* Create a worker with attributes: inherit (0/1), policy (-1: not set), prio (-1: not set). */
static int spawn(pthread_t *t, struct job *j, const char *name, int explicit_, int policy, int prio, int kid) {
    pthread_attr_t a;
    pthread_attr_init(&a);
    j->name = name;
    j->child = kid;
    j->self_set = -1;
    j->raw = 0;
    init_job(j);
    if (explicit_) pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
    if (policy >= 0) {
        int r = pthread_attr_setschedpolicy(&a, policy);
        if (r) printf("%s: attr policy %d: %s\n", name, policy, en(r));
    }
    if (prio >= 0) {
        struct sched_param sp = {.sched_priority = prio};
        int r = pthread_attr_setschedparam(&a, &sp);
        if (r) printf("%s: attr prio %d: %s\n", name, prio, en(r));
    }
    int r = pthread_create(t, &a, worker, j);
    pthread_attr_destroy(&a);
    printf("%s: create: %s\n", name, en(r));
    if (r == 0) started(j);
    return r;
}

static void finish(pthread_t t, struct job *j) {
    sem_post(&j->go);
    pthread_join(t, NULL);
    sem_destroy(&j->start);
    sem_destroy(&j->reported);
    sem_destroy(&j->go);
    sem_destroy(&j->cstart);
}

static void set(const char *what, pthread_t t, int policy, int prio) {
    struct sched_param sp = {.sched_priority = prio};
    printf("%s: set %#x/%d: %s\n", what, policy, prio, en(pthread_setschedparam(t, policy, &sp)));
}

static void setprio(const char *what, pthread_t t, int prio) {
    printf("%s: setprio %d: %s\n", what, prio, en(pthread_setschedprio(t, prio)));
}

/* Scenarios that run in both phases. */
static void scenarios(const char *ph) {
    pthread_t t;
    struct job j;
    char n[64];

    snprintf(n, sizeof n, "%s explicit FIFO 10", ph);
    if (spawn(&t, &j, n, 1, SCHED_FIFO, 10, 1) == 0) finish(t, &j);
    snprintf(n, sizeof n, "%s explicit RR 1", ph);
    if (spawn(&t, &j, n, 1, SCHED_RR, 1, 0) == 0) finish(t, &j);
    snprintf(n, sizeof n, "%s inherit FIFO 10", ph);
    if (spawn(&t, &j, n, 0, SCHED_FIFO, 10, 0) == 0) finish(t, &j);

    /* A default thread, changed by main. */
    snprintf(n, sizeof n, "%s target", ph);
    if (spawn(&t, &j, n, 0, -1, -1, 0) == 0) {
        set(n, t, 99, 0);
        set(n, t, -1, 0);
        set(n, t, SCHED_OTHER, 5);
        set(n, t, SCHED_FIFO, 0);
        set(n, t, SCHED_FIFO, 100);
        set(n, t, SCHED_FIFO, -1);
        set(n, t, SCHED_DEADLINE, 0);
        set(n, t, SCHED_BATCH, 0);
        show(n, t);
        setprio(n, t, 3);
        setprio(n, t, 0);
        set(n, t, SCHED_FIFO, 10);
        show(n, t);
        setprio(n, t, 5);
        setprio(n, t, 20);
        setprio(n, t, 0);
        show(n, t);
        set(n, t, SCHED_RR, 3);
        show(n, t);
        set(n, t, SCHED_FIFO, 6);
        set(n, t, SCHED_FIFO, 5);
        show(n, t);
        show_attr(n, t);
        set(n, t, SCHED_OTHER, 0);
        set(n, t, SCHED_IDLE, 0);
        show(n, t);
        set(n, t, SCHED_OTHER, 0);
        set(n, t, SCHED_IDLE, 0);
        set(n, t, SCHED_BATCH | SCHED_RESET_ON_FORK, 0);
        show(n, t);
        show_attr(n, t);
        set(n, t, SCHED_BATCH, 0);
        show(n, t);
        set(n, t, SCHED_OTHER, 0);
        show(n, t);
        finish(t, &j);
    }

    /* A thread that changes its kernel record behind glibc. */
    snprintf(n, sizeof n, "%s self raw", ph);
    j.name = n;
    j.child = 0;
    j.self_set = -1;
    j.raw = 1;
    init_job(&j);
    printf("%s: create: %s\n", n, en(pthread_create(&t, NULL, worker, &j)));
    started(&j);
    finish(t, &j);

    /* A thread that changes itself, then creates a child that inherits. */
    snprintf(n, sizeof n, "%s self idle", ph);
    j.name = n;
    j.child = 1;
    j.self_set = SCHED_IDLE;
    j.raw = 0;
    init_job(&j);
    printf("%s: create: %s\n", n, en(pthread_create(&t, NULL, worker, &j)));
    started(&j);
    set(n, t, SCHED_OTHER, 0);
    set(n, t, SCHED_BATCH, 0);
    show(n, t);
    finish(t, &j);

    snprintf(n, sizeof n, "%s self reset-on-fork", ph);
    j.name = n;
    j.child = 1;
    j.self_set = SCHED_BATCH | SCHED_RESET_ON_FORK;
    j.raw = 0;
    init_job(&j);
    printf("%s: create: %s\n", n, en(pthread_create(&t, NULL, worker, &j)));
    started(&j);
    finish(t, &j);
}

static void drop_sys_nice(void) {
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0) {
        printf("capget failed\n");
        return;
    }
    d[CAP_SYS_NICE / 32].effective &= ~(1u << (CAP_SYS_NICE % 32));
    d[CAP_SYS_NICE / 32].permitted &= ~(1u << (CAP_SYS_NICE % 32));
    if (syscall(SYS_capset, &h, d) != 0) printf("capset failed\n");
}

int main(void) {
    pthread_t t;
    struct job j;

    show("main", pthread_self());
    show_attr("main", pthread_self());

    if (spawn(&t, &j, "default", 0, -1, -1, 1) == 0) finish(t, &j);
    if (spawn(&t, &j, "explicit nothing set", 1, -1, -1, 0) == 0) finish(t, &j);
    if (spawn(&t, &j, "explicit BATCH", 1, SCHED_BATCH, -1, 1) == 0) finish(t, &j);
    if (spawn(&t, &j, "explicit IDLE", 1, SCHED_IDLE, -1, 1) == 0) finish(t, &j);
    if (spawn(&t, &j, "explicit OTHER 0", 1, SCHED_OTHER, 0, 0) == 0) finish(t, &j);
    if (spawn(&t, &j, "explicit prio only", 1, -1, 0, 0) == 0) finish(t, &j);
    if (spawn(&t, &j, "inherit BATCH", 0, SCHED_BATCH, -1, 0) == 0) finish(t, &j);

    scenarios("privileged-as-run");

    /* Phase 2: without CAP_SYS_NICE, with a real-time priority limit of 5 where it can be set
     * (raising the hard limit needs CAP_SYS_RESOURCE; without it the limit stays as it is). */
    struct rlimit rl = {5, 5};
    if (setrlimit(RLIMIT_RTPRIO, &rl) != 0) {
        getrlimit(RLIMIT_RTPRIO, &rl);
        if (rl.rlim_max >= 5) {
            rl.rlim_cur = 5;
            setrlimit(RLIMIT_RTPRIO, &rl);
        }
    }
    drop_sys_nice();
    getrlimit(RLIMIT_RTPRIO, &rl);
    printf("RLIMIT_RTPRIO now %s\n", rl.rlim_cur == 5 ? "5" : "unchanged");
    scenarios("unprivileged");

    /* RLIMIT_RTPRIO 0 again: no real-time policy at all. */
    rl.rlim_cur = 0;
    setrlimit(RLIMIT_RTPRIO, &rl);
    scenarios("rtprio0");

    show("main", pthread_self());
    printf("done\n");
    return 0;
}
