/* bench_alive: N threads alive at once. Creates N (argv[1], default 10000) threads with the
 * default attributes; each one records that it started and blocks on a condition variable until
 * every one has started. Times from the first pthread_create until all N have started (and,
 * except the last, blocked): the cost of a fresh thread when many live at once (new stacks,
 * nothing to reuse). Then opens the gate and joins them all.
 *
 * Output: "n=<N> ns_per_thread=<ns> threads=<Threads: while all are alive>
 *          maps=<lines of /proc/self/maps then> rss_kib=<Rss of smaps_rollup then>
 *          page_ns=<ns to fault in one fresh page of anonymous memory>"
 * page_ns (4096 fresh pages touched once each, before the threads) is the machine's floor for
 * any thread that needs memory nobody touched before: its stack's first page at least.
 * Exit 0 iff every thread ran and was joined. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_started = PTHREAD_COND_INITIALIZER;
static pthread_cond_t gate = PTHREAD_COND_INITIALIZER;
static long n, started, open_gate;

static void *body(void *arg) {
    pthread_mutex_lock(&mu);
    if (++started == n) pthread_cond_signal(&all_started);
    while (!open_gate) pthread_cond_wait(&gate, &mu);
    pthread_mutex_unlock(&mu);
    return arg;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The value after KEY in FILE's first line that starts with it (-1: none). */
static long proc_value(const char *file, const char *key) {
    FILE *f = fopen(file, "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0) { v = atol(line + kl); break; }
    fclose(f);
    return v;
}

static long maps_lines(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    long k = 0;
    int c;
    while ((c = getc(f)) != EOF) k += c == '\n';
    fclose(f);
    return k;
}

int main(int argc, char **argv) {
    n = argc > 1 ? atol(argv[1]) : 10000;
    if (n <= 0) n = 1;
    pthread_t *t = malloc(sizeof *t * (size_t)n);
    if (!t) return 1;
    const long pages = 4096;
    char *mem = mmap(NULL, (size_t)pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return 1;
    uint64_t p0 = now_ns();
    for (long i = 0; i < pages; i++) mem[i * 4096] = 1;
    double page_ns = (double)(now_ns() - p0) / (double)pages;
    munmap(mem, (size_t)pages * 4096);
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int rc = pthread_create(&t[i], NULL, body, (void *)(uintptr_t)(i + 1));
        if (rc != 0) {
            fprintf(stderr, "pthread_create #%ld: %s\n", i + 1, strerror(rc));
            return 1;
        }
    }
    pthread_mutex_lock(&mu);
    while (started < n) pthread_cond_wait(&all_started, &mu);
    pthread_mutex_unlock(&mu);
    uint64_t t1 = now_ns();
    long threads = proc_value("/proc/self/status", "Threads:");
    long maps = maps_lines();
    long rss = proc_value("/proc/self/smaps_rollup", "Rss:");
    pthread_mutex_lock(&mu);
    open_gate = 1;
    pthread_cond_broadcast(&gate);
    pthread_mutex_unlock(&mu);
    long ok = 0;
    for (long i = 0; i < n; i++) {
        void *r = NULL;
        if (pthread_join(t[i], &r) == 0 && r == (void *)(uintptr_t)(i + 1)) ok++;
    }
    printf("n=%ld ns_per_thread=%.1f threads=%ld maps=%ld rss_kib=%ld page_ns=%.0f\n", n,
           (double)(t1 - t0) / (double)n, threads, maps, rss, page_ns);
    if (ok != n) {
        fprintf(stderr, "only %ld of %ld threads joined with their argument\n", ok, n);
        return 1;
    }
    return 0;
}
