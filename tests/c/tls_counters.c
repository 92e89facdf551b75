/* Thread-local storage is per thread under the shim as natively: `_Thread_local`/`__thread`
 * values kept across blocking calls in 100 threads, errno, the per-thread locale, the thread
 * pointer, a stack-protected frame and a jmp_buf (mangled with the pointer guard) across parks,
 * sched_getcpu. Prints order-independent results; the OS thread count while all threads live
 * goes to stderr. With an argument R, R rounds of N threads: later rounds run on reused stacks
 * (under the shim, beyond its 64 hot ones, stacks whose pages went back to the kernel), and
 * every thread checks that it starts with fresh thread-locals, errno and resolver state. */
#define _GNU_SOURCE
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <resolv.h>
#include <sched.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 100

static _Thread_local long counter = 1000;
static __thread char name[32];
static __thread int big[512]; /* a larger .tbss block */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int arrived;
static int pipes[N][2];
static uintptr_t tps[N];

static uintptr_t thread_pointer(void) {
    uintptr_t tp;
    __asm__ volatile("mov %%fs:0, %0" : "=r"(tp));
    return tp;
}

/* A frame the stack protector guards, parked in the middle. */
static int guarded(long id) {
    char buf[64];
    snprintf(buf, sizeof buf, "frame-%ld", id);
    usleep(200);
    return strncmp(buf, "frame-", 6) == 0;
}

/* A jmp_buf taken before a park and used after it. */
static int jumps(void) {
    jmp_buf jb;
    volatile int n = 0;
    if (setjmp(jb) == 0) {
        usleep(100);
        n = 1;
        longjmp(jb, 7);
    }
    return n == 1;
}

static void *run(void *arg) {
    long id = (long)arg;
    int ok = 1;
    /* a new thread's: the initial images, zeroed .tbss, errno 0, a resolver state never set up */
    ok &= counter == 1000 && name[0] == 0 && errno == 0 && !(_res.options & RES_INIT);
    for (int i = 0; i < 512; i++) ok &= big[i] == 0;
    tps[id] = thread_pointer();
    snprintf(name, sizeof name, "thread-%ld", id);
    for (int i = 0; i < 512; i++) big[i] = (int)id;
    errno = (int)(id % 30) + 1;
    for (int round = 0; round < 4; round++) {
        counter += id;
        usleep(100 + (id % 7) * 50);            /* park: others run and change theirs */
        pthread_mutex_lock(&mu);                  /* contended */
        counter += 1;
        pthread_mutex_unlock(&mu);
    }
    ok &= errno == (int)(id % 30) + 1;
    /* a blocking read, fed by the next thread */
    char c;
    if (write(pipes[(id + 1) % N][1], "x", 1) != 1) ok = 0;
    if (read(pipes[id][0], &c, 1) != 1) ok = 0;
    /* everyone meets on a condition variable */
    pthread_mutex_lock(&mu);
    if (++arrived == N) pthread_cond_broadcast(&cv);
    while (arrived < N) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    if (id == 0) { /* every thread is alive here: natively N + 1 OS threads */
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "Threads:", 8) == 0) fputs(line, stderr);
        if (f) fclose(f);
    }
    /* per-thread locale */
    locale_t mine = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (id % 2 == 0) uselocale(mine);
    usleep(100);
    ok &= (id % 2 == 0) ? uselocale((locale_t)0) == mine : uselocale((locale_t)0) == LC_GLOBAL_LOCALE;
    if (id % 2 == 0) uselocale(LC_GLOBAL_LOCALE);
    freelocale(mine);
    ok &= guarded(id);
    ok &= jumps();
    ok &= sched_getcpu() >= 0;
    for (int i = 0; i < 512; i++) ok &= big[i] == (int)id;
    char want[32];
    snprintf(want, sizeof want, "thread-%ld", id);
    ok &= strcmp(name, want) == 0;
    ok &= thread_pointer() == tps[id];
    if (id % 3 == 0) res_init(); /* leaves this thread's resolver state set up */
    return (void *)(counter * 2 + ok);
}

int main(int argc, char **argv) {
    pthread_t t[N];
    int rounds = argc > 1 ? atoi(argv[1]) : 1;
    for (int i = 0; i < N; i++)
        if (pipe(pipes[i])) return 1;
    long sum = 0, oks = 0;
    for (int k = 0; k < rounds; k++) {
        arrived = 0;
        for (long i = 0; i < N; i++) pthread_create(&t[i], NULL, run, (void *)i);
        for (int i = 0; i < N; i++) {
            void *r;
            pthread_join(t[i], &r);
            sum += (long)r / 2;
            oks += (long)r & 1;
        }
    }
    sum /= rounds;
    int distinct = 1;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (tps[i] == tps[j]) distinct = 0;
    printf("counters sum %ld (expected %ld)\n", sum, N * 1004L + 4L * (N * (N - 1) / 2));
    printf("threads whose checks held: %ld of %d\n", oks, N * rounds);
    printf("distinct thread pointers: %s, main's differs: %s\n", distinct ? "yes" : "no",
           thread_pointer() != tps[0] ? "yes" : "no");
    printf("main's counter %ld, errno kept %s\n", counter, errno == 0 ? "yes" : "no");
    return 0;
}
