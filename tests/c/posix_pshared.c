/* Process-shared objects (PTHREAD_PROCESS_SHARED mutexes, condition variables, rwlocks,
 * barriers; sem_init(pshared=1) and sem_open semaphores) in MAP_SHARED memory, between threads
 * of this process and with a forked child. Prints every result, never a time or an address.
 *
 * Sections: mutex contended while its holder sleeps and reads a pipe; recursive, errorcheck and
 * robust mutexes (relock, trylock, unlock by a non-owner, lock by another thread); cond
 * signal/broadcast/timeout; barrier rounds; rwlock readers/writer; unnamed and named semaphores;
 * then a forked child that holds the mutex, posts the semaphore, signals the condition and meets
 * the barrier after a delay while a thread of the parent waits and another one ticks.
 *
 * On stderr (not compared): "threads=N" from /proc/self/status while section 1's threads live.
 * Everything is bounded: alarm(60) kills a hang. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *en(int e) {
    switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case EDEADLK: return "EDEADLK";
    case EPERM: return "EPERM";
    case EBUSY: return "EBUSY";
    case EAGAIN: return "EAGAIN";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EINTR: return "EINTR";
    default: return strerror(e);
    }
}

#define CHECK(what, expr) printf("%s: %s\n", what, en(expr))

struct shared {
    pthread_mutex_t m, rec, ec, rob;
    pthread_cond_t c;
    pthread_barrier_t b, b2;
    pthread_rwlock_t rw;
    sem_t s, s2;
    int counter, tokens, go, woken, flag, in_cs, overlap;
    int serial[4];
};
static struct shared *sh;

static void ms_sleep(int ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
}

static struct timespec in_ms(int ms) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += (ms % 1000) * 1000000L;
    t.tv_sec += ms / 1000 + t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    return t;
}

static pthread_t start(void *(*f)(void *), void *arg) {
    pthread_t t;
    if (pthread_create(&t, NULL, f, arg) != 0) { perror("pthread_create"); exit(1); }
    return t;
}

static void threads_line(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0) fprintf(stderr, "threads=%d\n", atoi(line + 8));
    if (f) fclose(f);
}

static void init_objects(void) {
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&sh->m, &ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&sh->rec, &ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&sh->ec, &ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_NORMAL);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&sh->rob, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    pthread_cond_init(&sh->c, &ca);
    pthread_condattr_destroy(&ca);
    pthread_barrierattr_t ba;
    pthread_barrierattr_init(&ba);
    pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
    pthread_barrier_init(&sh->b, &ba, 4);
    pthread_barrier_init(&sh->b2, &ba, 2);
    pthread_barrierattr_destroy(&ba);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setpshared(&ra, PTHREAD_PROCESS_SHARED);
    pthread_rwlock_init(&sh->rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    sem_init(&sh->s, 1, 0);
    sem_init(&sh->s2, 1, 0);
}

/* ---- 1: a contended mutex whose holder sleeps and reads a pipe ---- */
static int pipefd[2];

static void *holder(void *arg) {
    (void)arg;
    pthread_mutex_lock(&sh->m);
    sem_post(&sh->s);
    ms_sleep(50);
    char c = 0;
    ssize_t n = read(pipefd[0], &c, 1); /* the writer writes after its own sleep */
    printf("holder: read %zd byte '%c' while holding\n", n, c);
    sh->counter += 1000;
    pthread_mutex_unlock(&sh->m);
    return NULL;
}

static void *writer(void *arg) {
    (void)arg;
    ms_sleep(100);
    if (write(pipefd[1], "x", 1) != 1) perror("write");
    return NULL;
}

static void *contender(void *arg) {
    (void)arg;
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&sh->m);
        if (sh->in_cs++) sh->overlap++;
        sh->counter++;
        if (i % 100 == 0) sched_yield();
        sh->in_cs--;
        pthread_mutex_unlock(&sh->m);
    }
    return NULL;
}

static void section_mutex(void) {
    if (pipe(pipefd) != 0) { perror("pipe"); exit(1); }
    pthread_t h = start(holder, NULL);
    sem_wait(&sh->s);
    pthread_t w = start(writer, NULL), c[3];
    for (int i = 0; i < 3; i++) c[i] = start(contender, NULL);
    threads_line();
    pthread_join(h, NULL);
    pthread_join(w, NULL);
    for (int i = 0; i < 3; i++) pthread_join(c[i], NULL);
    printf("mutex: counter=%d overlaps=%d\n", sh->counter, sh->overlap);
    CHECK("mutex: trylock free", pthread_mutex_trylock(&sh->m));
    CHECK("mutex: unlock", pthread_mutex_unlock(&sh->m));
    close(pipefd[0]);
    close(pipefd[1]);
}

/* ---- 2: recursive, errorcheck and robust mutexes between threads ---- */
static void *other_rec(void *arg) {
    (void)arg;
    CHECK("rec other: trylock while held", pthread_mutex_trylock(&sh->rec));
    struct timespec t = in_ms(100);
    CHECK("rec other: timedlock while held", pthread_mutex_timedlock(&sh->rec, &t));
    CHECK("rec other: unlock not owner", pthread_mutex_unlock(&sh->rec));
    sem_post(&sh->s2);
    int r = pthread_mutex_lock(&sh->rec); /* blocks until main's last unlock */
    printf("rec other: lock=%s after release=%d\n", en(r), sh->flag);
    CHECK("rec other: relock", pthread_mutex_lock(&sh->rec));
    CHECK("rec other: unlock", pthread_mutex_unlock(&sh->rec));
    CHECK("rec other: unlock", pthread_mutex_unlock(&sh->rec));
    return NULL;
}

static void *other_ec(void *arg) {
    (void)arg;
    CHECK("ec other: trylock while held", pthread_mutex_trylock(&sh->ec));
    struct timespec t = in_ms(100);
    CHECK("ec other: timedlock while held", pthread_mutex_timedlock(&sh->ec, &t));
    CHECK("ec other: unlock not owner", pthread_mutex_unlock(&sh->ec));
    sem_post(&sh->s2);
    int r = pthread_mutex_lock(&sh->ec);
    printf("ec other: lock=%s after release=%d\n", en(r), sh->flag);
    CHECK("ec other: relock", pthread_mutex_lock(&sh->ec));
    CHECK("ec other: unlock", pthread_mutex_unlock(&sh->ec));
    return NULL;
}

static void *other_rob(void *arg) {
    (void)arg;
    CHECK("robust other: trylock while held", pthread_mutex_trylock(&sh->rob));
    CHECK("robust other: unlock not owner", pthread_mutex_unlock(&sh->rob));
    sem_post(&sh->s2);
    int r = pthread_mutex_lock(&sh->rob);
    printf("robust other: lock=%s after release=%d\n", en(r), sh->flag);
    CHECK("robust other: unlock", pthread_mutex_unlock(&sh->rob));
    return NULL;
}

static void section_kinds(void) {
    CHECK("rec: lock", pthread_mutex_lock(&sh->rec));
    CHECK("rec: relock", pthread_mutex_lock(&sh->rec));
    CHECK("rec: trylock by owner", pthread_mutex_trylock(&sh->rec));
    sh->flag = 0;
    pthread_t t = start(other_rec, NULL);
    sem_wait(&sh->s2);
    ms_sleep(50);
    CHECK("rec: unlock", pthread_mutex_unlock(&sh->rec));
    CHECK("rec: unlock", pthread_mutex_unlock(&sh->rec));
    sh->flag = 1;
    int last = pthread_mutex_unlock(&sh->rec); /* printed after the join: the other thread prints meanwhile */
    pthread_join(t, NULL);
    CHECK("rec: unlock last", last);
    CHECK("rec: unlock unlocked", pthread_mutex_unlock(&sh->rec));

    CHECK("ec: lock", pthread_mutex_lock(&sh->ec));
    CHECK("ec: relock", pthread_mutex_lock(&sh->ec));
    CHECK("ec: trylock by owner", pthread_mutex_trylock(&sh->ec));
    sh->flag = 0;
    t = start(other_ec, NULL);
    sem_wait(&sh->s2);
    ms_sleep(50);
    sh->flag = 1;
    last = pthread_mutex_unlock(&sh->ec);
    pthread_join(t, NULL);
    CHECK("ec: unlock", last);
    CHECK("ec: unlock unlocked", pthread_mutex_unlock(&sh->ec));

    CHECK("robust: lock", pthread_mutex_lock(&sh->rob));
    sh->flag = 0;
    t = start(other_rob, NULL);
    sem_wait(&sh->s2);
    ms_sleep(50);
    sh->flag = 1;
    last = pthread_mutex_unlock(&sh->rob);
    pthread_join(t, NULL);
    CHECK("robust: unlock", last);
}

/* ---- 3: condition variable ---- */
static void *cond_waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&sh->m);
    while (sh->tokens == 0 && !sh->go) pthread_cond_wait(&sh->c, &sh->m);
    if (sh->tokens > 0) sh->tokens--;
    sh->woken++;
    pthread_mutex_unlock(&sh->m);
    return NULL;
}

static void section_cond(void) {
    pthread_mutex_lock(&sh->m);
    struct timespec t = in_ms(50);
    CHECK("cond: timedwait with nobody signalling", pthread_cond_timedwait(&sh->c, &sh->m, &t));
    pthread_mutex_unlock(&sh->m);
    sh->tokens = sh->go = sh->woken = 0;
    pthread_t w[4];
    for (int i = 0; i < 4; i++) w[i] = start(cond_waiter, NULL);
    ms_sleep(50);
    for (int i = 0; i < 2; i++) {
        pthread_mutex_lock(&sh->m);
        sh->tokens++;
        CHECK("cond: signal", pthread_cond_signal(&sh->c));
        pthread_mutex_unlock(&sh->m);
        ms_sleep(30);
    }
    pthread_mutex_lock(&sh->m);
    printf("cond: woken after 2 signals=%d\n", sh->woken);
    sh->go = 1;
    CHECK("cond: broadcast", pthread_cond_broadcast(&sh->c));
    pthread_mutex_unlock(&sh->m);
    for (int i = 0; i < 4; i++) pthread_join(w[i], NULL);
    printf("cond: woken after broadcast=%d tokens=%d\n", sh->woken, sh->tokens);
}

/* ---- 4: barrier ---- */
static void *barrier_thread(void *arg) {
    long id = (long)arg;
    for (int round = 0; round < 3; round++) {
        ms_sleep(5 * (int)id);
        int r = pthread_barrier_wait(&sh->b);
        if (r == PTHREAD_BARRIER_SERIAL_THREAD) __atomic_add_fetch(&sh->serial[round], 1, __ATOMIC_SEQ_CST);
        else if (r != 0) printf("barrier: wait=%s\n", en(r));
    }
    return NULL;
}

static void section_barrier(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++) t[i] = start(barrier_thread, (void *)i);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    printf("barrier: serial per round %d %d %d\n", sh->serial[0], sh->serial[1], sh->serial[2]);
}

/* ---- 5: rwlock ---- */
static void *rw_reader(void *arg) {
    (void)arg;
    CHECK("rw reader: tryrdlock while written", pthread_rwlock_tryrdlock(&sh->rw));
    struct timespec t = in_ms(50);
    CHECK("rw reader: timedrdlock while written", pthread_rwlock_timedrdlock(&sh->rw, &t));
    sem_post(&sh->s2);
    int r = pthread_rwlock_rdlock(&sh->rw);
    printf("rw reader: rdlock=%s after release=%d\n", en(r), sh->flag);
    sem_post(&sh->s2);
    sem_wait(&sh->s); /* hold the read lock until the other reader has it too */
    CHECK("rw reader: unlock", pthread_rwlock_unlock(&sh->rw));
    return NULL;
}

static void section_rwlock(void) {
    CHECK("rw: wrlock", pthread_rwlock_wrlock(&sh->rw));
    CHECK("rw: wrlock again", pthread_rwlock_wrlock(&sh->rw));
    CHECK("rw: rdlock by writer", pthread_rwlock_rdlock(&sh->rw));
    sh->flag = 0;
    pthread_t r = start(rw_reader, NULL);
    sem_wait(&sh->s2);
    ms_sleep(50);
    sh->flag = 1;
    int unlocked = pthread_rwlock_unlock(&sh->rw);
    sem_wait(&sh->s2);
    CHECK("rw: unlock write", unlocked);
    CHECK("rw: second reader rdlock", pthread_rwlock_rdlock(&sh->rw));
    CHECK("rw: trywrlock while read", pthread_rwlock_trywrlock(&sh->rw));
    sem_post(&sh->s);
    pthread_join(r, NULL);
    CHECK("rw: unlock read", pthread_rwlock_unlock(&sh->rw));
    CHECK("rw: trywrlock free", pthread_rwlock_trywrlock(&sh->rw));
    CHECK("rw: unlock", pthread_rwlock_unlock(&sh->rw));
}

/* ---- 6: semaphores ---- */
static sem_t *named;

static void *sem_waiter(void *arg) {
    sem_t *s = arg;
    int r = sem_wait(s);
    printf("sem waiter: wait=%d after post=%d\n", r, sh->flag);
    return NULL;
}

static void section_sem(void) {
    int v = -1;
    errno = 0;
    int r = sem_trywait(&sh->s2);
    printf("sem: trywait empty=%d errno=%s\n", r, en(errno));
    struct timespec t = in_ms(50);
    r = sem_timedwait(&sh->s2, &t);
    printf("sem: timedwait empty=%d errno=%s\n", r, en(errno));
    sh->flag = 0;
    pthread_t w = start(sem_waiter, &sh->s2);
    ms_sleep(50);
    sh->flag = 1;
    errno = 0;
    r = sem_post(&sh->s2);
    int e = errno;
    pthread_join(w, NULL);
    printf("sem: post=%d errno=%s\n", r, en(e));
    sem_getvalue(&sh->s2, &v);
    printf("sem: value=%d\n", v);

    char name[64];
    snprintf(name, sizeof name, "/greenshim_pshared_%d", (int)getpid());
    named = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    if (named == SEM_FAILED) { perror("sem_open"); exit(1); }
    sem_unlink(name);
    sh->flag = 0;
    w = start(sem_waiter, named);
    ms_sleep(50);
    sh->flag = 1;
    r = sem_post(named);
    pthread_join(w, NULL);
    CHECK("named: post", r);
    t = in_ms(30);
    r = sem_timedwait(named, &t);
    printf("named: timedwait empty=%d errno=%s\n", r, en(errno));
}

/* ---- 7: another process ---- */
static volatile int ticking, ticks;

static void *ticker(void *arg) {
    (void)arg;
    while (ticking) {
        ms_sleep(5);
        ticks++;
    }
    return NULL;
}

/* Run `wait` in a thread while a ticker thread ticks; report whether it ticked meanwhile. */
static void waited_with_ticker(const char *what, void *(*wait)(void *)) {
    ticks = 0;
    ticking = 1;
    pthread_t tk = start(ticker, NULL), w = start(wait, NULL);
    pthread_join(w, NULL);
    int seen = ticks;
    ticking = 0;
    pthread_join(tk, NULL);
    printf("%s: ticker ran during the wait=%s\n", what, seen >= 5 ? "yes" : "no");
}

static void *wait_mutex(void *a) { (void)a; CHECK("cross: mutex lock", pthread_mutex_lock(&sh->m)); CHECK("cross: mutex unlock", pthread_mutex_unlock(&sh->m)); return NULL; }
static void *wait_sem(void *a) { (void)a; CHECK("cross: sem_wait", sem_wait(&sh->s)); return NULL; }
static void *wait_named(void *a) { (void)a; CHECK("cross: named sem_wait", sem_wait(named)); return NULL; }
static void *wait_cond(void *a) {
    (void)a;
    pthread_mutex_lock(&sh->m);
    while (!sh->go) pthread_cond_wait(&sh->c, &sh->m);
    pthread_mutex_unlock(&sh->m);
    printf("cross: cond woken go=%d\n", sh->go);
    return NULL;
}
static void *wait_barrier(void *a) { (void)a; int r = pthread_barrier_wait(&sh->b2); printf("cross: barrier=%s\n", r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD ? "passed" : en(r)); return NULL; }
static void *wait_rw(void *a) { (void)a; CHECK("cross: rdlock", pthread_rwlock_rdlock(&sh->rw)); CHECK("cross: rw unlock", pthread_rwlock_unlock(&sh->rw)); return NULL; }

static void child(int tell) {
    pthread_mutex_lock(&sh->m);
    pthread_rwlock_wrlock(&sh->rw);
    if (write(tell, "h", 1) != 1) _exit(2);
    ms_sleep(200);
    pthread_mutex_unlock(&sh->m);
    ms_sleep(200);
    pthread_rwlock_unlock(&sh->rw);
    ms_sleep(200);
    sem_post(&sh->s);
    ms_sleep(200);
    sem_post(named);
    ms_sleep(200);
    pthread_mutex_lock(&sh->m);
    sh->go = 1;
    pthread_cond_broadcast(&sh->c);
    pthread_mutex_unlock(&sh->m);
    ms_sleep(200);
    pthread_barrier_wait(&sh->b2);
    _exit(0);
}

static void section_cross(void) {
    int p[2];
    if (pipe(p) != 0) { perror("pipe"); exit(1); }
    sh->go = 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        child(p[1]);
    }
    close(p[1]);
    char c;
    if (read(p[0], &c, 1) != 1) { printf("child did not start\n"); exit(1); }
    waited_with_ticker("cross mutex", wait_mutex);
    waited_with_ticker("cross rwlock", wait_rw);
    waited_with_ticker("cross sem", wait_sem);
    waited_with_ticker("cross named sem", wait_named);
    waited_with_ticker("cross cond", wait_cond);
    waited_with_ticker("cross barrier", wait_barrier);
    int st = 0;
    waitpid(pid, &st, 0);
    printf("child: exited=%d status=%d\n", WIFEXITED(st), WEXITSTATUS(st));
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(60);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) { perror("mmap"); return 1; }
    init_objects();
    section_mutex();
    section_kinds();
    section_cond();
    section_barrier();
    section_rwlock();
    section_sem();
    section_cross();
    printf("done\n");
    return 0;
}
