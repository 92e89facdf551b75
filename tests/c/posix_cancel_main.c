/* The main thread's pthread_exit runs its cleanup handlers (plain C: the setjmp chain) and key
 * destructors, then the process lives until the last thread ends and exits 0. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_key_t key;

static void handler(void *arg) {
    printf("main handler %s\n", (const char *)arg);
    fflush(stdout);
}

static void dtor(void *v) {
    printf("main key destructor %s\n", (const char *)v);
    fflush(stdout);
}

static void *late(void *arg) {
    (void)arg;
    usleep(30000);
    printf("late thread ends\n");
    fflush(stdout);
    return NULL;
}

static void nested(void) {
    pthread_cleanup_push(handler, "inner");
    pthread_exit(NULL);
    pthread_cleanup_pop(0);
}

int main(void) {
    pthread_t t;
    pthread_key_create(&key, dtor);
    pthread_setspecific(key, "main-value");
    pthread_create(&t, NULL, late, NULL);
    pthread_cleanup_push(handler, "outer");
    nested();
    pthread_cleanup_pop(0);
    return 3;
}
