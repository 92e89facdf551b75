/* diag_output: deterministic multi-line stdout from several threads.
 *
 * Four threads are created and joined in order; each, in turn, prints 5 numbered lines
 * (printf and write(1, ...)) after a short sleep, so the output order is fixed both natively and
 * under greenshim. Thread k only starts printing after thread k-1 was joined (main creates
 * thread k after joining k-1), so no two threads print at once.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *worker(void *arg) {
    long k = (long)arg;
    usleep(1000);
    for (int i = 0; i < 5; i++) {
        printf("thread %ld line %d: %s\n", k, i, "the quick brown fox");
        fflush(stdout);
        char buf[64];
        int n = snprintf(buf, sizeof buf, "thread %ld raw %d \"quoted\"\t\\\n", k, i);
        if (write(1, buf, (size_t)n) != n) return (void *)1;
    }
    return NULL;
}

int main(void) {
    printf("start\n");
    fflush(stdout);
    for (long k = 0; k < 4; k++) {
        pthread_t t;
        void *ret;
        if (pthread_create(&t, NULL, worker, (void *)k) != 0) return 1;
        pthread_join(t, &ret);
        if (ret != NULL) return 1;
    }
    printf("end\n");
    return 0;
}
