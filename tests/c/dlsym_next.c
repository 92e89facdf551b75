/* A thread started through dlsym(RTLD_NEXT, "pthread_create") from a library: under the shim it
 * is a greenlet too (one OS thread); other RTLD_NEXT lookups still work. Prints the thread count
 * while the thread sleeps, and the thread's result. Build: cc dlsym_next.c ./libdlsym_next.so */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

int start_via_rtld_next(pthread_t *t, void *(*f)(void *), void *arg);
void *lookup_next(const char *name);

static void *worker(void *arg) {
    usleep(300000);
    return (void *)((long)arg * 2);
}

static int threads(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0)
            n = atoi(line + 8);
    if (f)
        fclose(f);
    return n;
}

int main(void) {
    pthread_t t;
    if (start_via_rtld_next(&t, worker, (void *)21) != 0) {
        printf("start failed\n");
        return 1;
    }
    usleep(100000);
    printf("threads_while_running=%d\n", threads());
    void *r;
    pthread_join(t, &r);
    printf("joined=%ld\n", (long)r);
    printf("strlen_found=%s\n", lookup_next("strlen") ? "yes" : "no");
    return 0;
}
