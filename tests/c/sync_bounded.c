/* Bounded buffer: P producers, C consumers moving N items through a ring of 64 slots.
 * Mode "cond": one mutex + two condition variables (not_full, not_empty).
 * Mode "sem":  counting semaphores (slots, items) + a mutex for the ring indices.
 * Prints exact counts and sums, and the number of OS threads of the process. */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP 64
static long ring[CAP];
static int head, tail, count;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;
static sem_t slots, items;
static int use_sem;
static long n_items, n_prod, n_cons;
static long produced_total, consumed_total, consumed_sum;
static int threads_seen;

static int os_threads(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0) n = atoi(line + 8);
    if (f) fclose(f);
    return n;
}

static void put(long v) {
    if (use_sem) {
        sem_wait(&slots);
        pthread_mutex_lock(&mu);
        ring[tail] = v; tail = (tail + 1) % CAP;
        pthread_mutex_unlock(&mu);
        sem_post(&items);
    } else {
        pthread_mutex_lock(&mu);
        while (count == CAP) pthread_cond_wait(&not_full, &mu);
        ring[tail] = v; tail = (tail + 1) % CAP; count++;
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&mu);
    }
}

static long get(void) {
    long v;
    if (use_sem) {
        sem_wait(&items);
        pthread_mutex_lock(&mu);
        v = ring[head]; head = (head + 1) % CAP;
        pthread_mutex_unlock(&mu);
        sem_post(&slots);
    } else {
        pthread_mutex_lock(&mu);
        while (count == 0) pthread_cond_wait(&not_empty, &mu);
        v = ring[head]; head = (head + 1) % CAP; count--;
        pthread_cond_signal(&not_full);
        pthread_mutex_unlock(&mu);
    }
    return v;
}

static void *producer(void *arg) {
    long id = (long)arg;
    long share = n_items / n_prod + (id < n_items % n_prod);
    long start = id * (n_items / n_prod) + (id < n_items % n_prod ? id : n_items % n_prod);
    for (long i = 0; i < share; i++) put(start + i + 1);
    pthread_mutex_lock(&mu);
    produced_total += share;
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void *consumer(void *arg) {
    long id = (long)arg;
    long share = n_items / n_cons + (id < n_items % n_cons);
    long sum = 0;
    for (long i = 0; i < share; i++) sum += get();
    pthread_mutex_lock(&mu);
    consumed_total += share;
    consumed_sum += sum;
    int t = os_threads();
    if (t > threads_seen) threads_seen = t;
    pthread_mutex_unlock(&mu);
    return NULL;
}

int main(int argc, char **argv) {
    use_sem = argc > 1 && strcmp(argv[1], "sem") == 0;
    n_prod = argc > 2 ? atol(argv[2]) : 50;
    n_cons = argc > 3 ? atol(argv[3]) : 50;
    n_items = argc > 4 ? atol(argv[4]) : 1000000;
    sem_init(&slots, 0, CAP);
    sem_init(&items, 0, 0);
    pthread_t p[n_prod], c[n_cons];
    for (long i = 0; i < n_cons; i++) pthread_create(&c[i], NULL, consumer, (void *)i);
    for (long i = 0; i < n_prod; i++) pthread_create(&p[i], NULL, producer, (void *)i);
    for (long i = 0; i < n_prod; i++) pthread_join(p[i], NULL);
    for (long i = 0; i < n_cons; i++) pthread_join(c[i], NULL);
    long expect = n_items * (n_items + 1) / 2;
    printf("mode=%s produced=%ld consumed=%ld sum=%ld expected_sum=%ld\n", use_sem ? "sem" : "cond",
           produced_total, consumed_total, consumed_sum, expect);
    printf("threads=%d\n", threads_seen);
    int v1, v2;
    sem_getvalue(&slots, &v1);
    sem_getvalue(&items, &v2);
    printf("slots=%d items=%d\n", v1, v2);
    return !(produced_total == n_items && consumed_total == n_items && consumed_sum == expect);
}
