/* tests/multihub.rs: threads spread over hubs are created and joined in a loop; each blocks a signal (so its end
 * changes the signal-mask counts of the main hub, from another hub) and the main hub keeps an
 * fd waiter (so its scheduler also polls without blocking). Prints "joined N". */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
static int sv[2];
static void *reader(void *a) { char c; while (read(sv[0], &c, 1) == 1 && c != 'q') ; return a; }
static void *worker(void *a) { sigset_t s; sigemptyset(&s); sigaddset(&s, SIGUSR1 + ((long)a & 3)); pthread_sigmask(SIG_BLOCK, &s, 0); usleep(((long)a % 3) * 50); return a; }
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pthread_t r; pthread_create(&r, 0, reader, 0);
    long done = 0;
    for (long i = 0; i < n; i++) {
        pthread_t t[3];
        for (int k = 0; k < 3; k++) pthread_create(&t[k], 0, worker, (void *)(i * 3 + k));
        for (int k = 0; k < 3; k++) { void *v; pthread_join(t[k], &v); done += (long)v == i * 3 + k; }
        if (i % 64 == 0) write(sv[1], "x", 1);
    }
    write(sv[1], "q", 1); pthread_join(r, 0);
    printf("joined %ld\n", done); return 0;
}
