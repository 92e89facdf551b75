/* overflow: a thread with a 64 KiB stack, named "recurser", recurses without
 * bound (1 KiB volatile buffer per frame, not a tail call) until it overflows
 * its stack. Natively: killed by SIGSEGV. Under greenshim: a one-line
 * "greenshim: ... stack overflow ..." diagnosis on stderr, non-zero exit. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile int depth_limit = 1 << 30; /* never reached; defeats -Winfinite-recursion */

__attribute__((noinline)) static int recurse(int depth) {
    volatile char buf[1024];
    if (depth >= depth_limit)
        return depth;
    for (int i = 0; i < (int)sizeof buf; i += 64)
        buf[i] = (char)(depth + i);
    __asm__ volatile("" ::: "memory");
    int r = recurse(depth + 1); /* not a tail call: the result is used below */
    return r + buf[depth & 1023 & ~63];
}

static void *recurser(void *arg) {
    (void)arg;
    int rc = pthread_setname_np(pthread_self(), "recurser");
    if (rc != 0)
        fprintf(stderr, "pthread_setname_np: %s\n", strerror(rc));
    fprintf(stderr, "recursing\n");
    int r = recurse(0);
    fprintf(stderr, "recursion returned %d (unexpected)\n", r);
    return NULL;
}

int main(void) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_t t;
    if (pthread_create(&t, &attr, recurser, NULL) != 0) {
        perror("pthread_create");
        return 2;
    }
    pthread_join(t, NULL);
    printf("main: survived the overflow (unexpected)\n");
    return 0;
}
