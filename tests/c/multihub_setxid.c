/* tests/multihub.rs: setuid/setgid (to the ids the process has, allowed unprivileged) while
 * threads run. glibc makes every thread it knows (here: the other hubs' OS threads) take
 * SIGSETXID and waits for each to answer; a hub thread that blocked it, or whose answer the
 * waiting greenlet could not see, hung the call for ever (memcached -u, which drops privileges
 * after starting its threads). Prints each result and the count of threads that ran. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static pthread_barrier_t b;
static void *worker(void *a) { pthread_barrier_wait(&b); usleep(1000); pthread_barrier_wait(&b); return a; }
int main(void) {
    pthread_t t[4];
    pthread_barrier_init(&b, NULL, 5);
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, NULL);
    pthread_barrier_wait(&b);
    int r1 = setgid(getgid()), r2 = setuid(getuid()), r3 = setegid(getegid()), r4 = seteuid(geteuid());
    printf("setgid=%d setuid=%d setegid=%d seteuid=%d\n", r1, r2, r3, r4);
    pthread_barrier_wait(&b);
    int n = 0;
    for (int i = 0; i < 4; i++) n += pthread_join(t[i], NULL) == 0;
    printf("joined=%d\n", n);
    return 0;
}
