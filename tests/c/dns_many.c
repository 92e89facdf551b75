/* 50 threads resolve 50 names at once with getaddrinfo against the DNS stub at 127.0.0.1:PORT
 * (argv[1]; tests/py/dns_stub.py answers each query after 200 ms). Natively the lookups overlap:
 * about 0.2 s in total. glibc's resolver sends and polls its own socket inside libc: under the
 * shim only catching those calls lets the lookups overlap instead of taking 10 s. Prints the
 * answers and whether the whole took under a second; the OS thread count during the lookups
 * goes to stderr. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N 50
static char answers[N][32];
static int stub_port;

/* Point the calling thread's resolver at the stub (the resolver state is per thread). */
static void use_stub(void) {
    res_init();
    _res.nscount = 1;
    _res.nsaddr_list[0].sin_family = AF_INET;
    _res.nsaddr_list[0].sin_port = htons((unsigned short)stub_port);
    _res.nsaddr_list[0].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    _res.retrans = 5;
    _res.retry = 1;
}

static void *resolve(void *arg) {
    long i = (long)arg;
    use_stub();
    char name[64];
    snprintf(name, sizeof name, "host%ld.test", i + 1);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    int e = getaddrinfo(name, "80", &hints, &ai);
    if (e) {
        snprintf(answers[i], sizeof answers[i], "error %d", e);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, answers[i], sizeof answers[i]);
        freeaddrinfo(ai);
    }
    if (i == N / 2) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "Threads:", 8) == 0) fputs(line, stderr);
        if (f) fclose(f);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    stub_port = atoi(argv[1]);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t t[N];
    for (long i = 0; i < N; i++) pthread_create(&t[i], NULL, resolve, (void *)i);
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    for (int i = 0; i < N; i++) printf("host%d.test %s\n", i + 1, answers[i]);
    printf("all %d lookups under a second: %s\n", N, s < 1.0 ? "yes" : "no");
    fprintf(stderr, "elapsed %.3f s\n", s);
    return 0;
}
