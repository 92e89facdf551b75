/* exit_from_thread: a thread calls exit(3) after 0.1 s while main is in
 * sleep(10) and another thread is in sleep(10). The whole process must exit
 * with status 3 at once. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *long_sleeper(void *arg) {
    (void)arg;
    sleep(10);
    printf("long sleeper woke (unexpected)\n");
    return NULL;
}

static void *exiter(void *arg) {
    (void)arg;
    usleep(100000);
    printf("exiting with 3\n");
    fflush(stdout);
    exit(3);
}

int main(void) {
    pthread_t a, b;
    if (pthread_create(&a, NULL, long_sleeper, NULL) != 0 ||
        pthread_create(&b, NULL, exiter, NULL) != 0) {
        perror("pthread_create");
        return 2;
    }
    sleep(10);
    printf("main woke (unexpected)\n");
    return 0;
}
