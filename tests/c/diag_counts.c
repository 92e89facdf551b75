/* diag_counts: a program making a known number of interposed calls, for `greenshim -c`.
 *
 * Two threads (plus main, which only creates and joins them):
 *   writer: 5 x write(pipe, 10 bytes), 4 x usleep(1000)
 *   reader: 5 x read(pipe, 10 bytes),  3 x usleep(1000), 3 x nanosleep(1 ms)
 * Totals: usleep 7, nanosleep 3, write 5, read 5, pthread_create 2, pthread_join 2.
 * Each pipe write is 10 bytes (< PIPE_BUF, atomic) and each read asks for exactly 10 bytes, so
 * every read returns one whole message: exactly 5 reads. Nothing else is printed (stdio goes
 * through glibc's internal write anyway) except a final "ok" line.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fds[2];
static int bad = 0;

static void *writer(void *arg) {
    (void)arg;
    for (int i = 0; i < 5; i++) {
        char msg[10];
        memset(msg, 'a' + i, sizeof msg);
        if (write(fds[1], msg, sizeof msg) != (ssize_t)sizeof msg) bad = 1;
        if (i < 4) usleep(1000);
    }
    return NULL;
}

static void *reader(void *arg) {
    (void)arg;
    for (int i = 0; i < 5; i++) {
        char buf[10];
        if (read(fds[0], buf, sizeof buf) != (ssize_t)sizeof buf || buf[0] != 'a' + i) bad = 1;
        if (i < 3) usleep(1000);
        if (i < 3) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int main(void) {
    if (pipe(fds) != 0) { perror("pipe"); return 1; }
    pthread_t r, w;
    pthread_create(&r, NULL, reader, NULL);
    pthread_create(&w, NULL, writer, NULL);
    pthread_join(r, NULL);
    pthread_join(w, NULL);
    printf(bad ? "bad\n" : "ok\n");
    return bad;
}
