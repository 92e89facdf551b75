/* Readers/writers: writers keep two counters equal and must be alone; readers check the
 * counters are equal and that no writer is inside, and may overlap with other readers.
 * Argument "writer" uses PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { READERS = 20, WRITERS = 5, ITER = 2000 };
static pthread_rwlock_t rw;
static long a, b;
static int readers_in, writers_in, max_readers, errors;
static long reads;

static void *reader(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < ITER; i++) {
        pthread_rwlock_rdlock(&rw);
        int n = __atomic_add_fetch(&readers_in, 1, __ATOMIC_SEQ_CST);
        if (n > max_readers) max_readers = n;
        if (writers_in) errors++;
        long x = a;
        if ((i + id) % 50 == 0) usleep(200); /* hold it while sleeping */
        if (x != b || a != b) errors++;
        __atomic_sub_fetch(&readers_in, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&reads, 1, __ATOMIC_SEQ_CST);
        pthread_rwlock_unlock(&rw);
        if (i % 100 == 0) sched_yield();
    }
    return NULL;
}

static void *writer(void *arg) {
    (void)arg;
    for (int i = 0; i < ITER; i++) {
        pthread_rwlock_wrlock(&rw);
        if (__atomic_add_fetch(&writers_in, 1, __ATOMIC_SEQ_CST) != 1 || readers_in) errors++;
        a++;
        if (i % 100 == 0) usleep(200);
        b++;
        __atomic_sub_fetch(&writers_in, 1, __ATOMIC_SEQ_CST);
        pthread_rwlock_unlock(&rw);
        if (i % 10 == 0) sched_yield();
    }
    return NULL;
}

int main(int argc, char **argv) {
    pthread_rwlockattr_t at;
    pthread_rwlockattr_init(&at);
    if (argc > 1 && strcmp(argv[1], "writer") == 0)
        pthread_rwlockattr_setkind_np(&at, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&rw, &at);
    pthread_t t[READERS + WRITERS];
    for (long i = 0; i < READERS; i++) pthread_create(&t[i], NULL, reader, (void *)i);
    for (long i = 0; i < WRITERS; i++) pthread_create(&t[READERS + i], NULL, writer, (void *)i);
    for (int i = 0; i < READERS + WRITERS; i++) pthread_join(t[i], NULL);
    printf("a=%ld b=%ld reads=%ld errors=%d overlapping_readers=%s\n", a, b, reads, errors, max_readers > 1 ? "yes" : "no");
    return errors != 0;
}
