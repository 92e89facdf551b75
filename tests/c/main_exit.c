/* main_exit: main creates 3 threads sleeping 0.2, 0.3, 0.4 s that then print
 * "thread i done", and calls pthread_exit(NULL). The process must keep running
 * until the last thread finishes, then exit with status 0. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static void *worker(void *arg) {
    int i = (int)(uintptr_t)arg;
    usleep(200000 + 100000 * i);
    printf("thread %d done\n", i);
    fflush(stdout);
    return NULL;
}

int main(void) {
    pthread_t t;
    for (int i = 0; i < 3; i++)
        if (pthread_create(&t, NULL, worker, (void *)(uintptr_t)i) != 0) {
            perror("pthread_create");
            return 2;
        }
    printf("main: pthread_exit\n");
    fflush(stdout);
    pthread_exit(NULL);
}
