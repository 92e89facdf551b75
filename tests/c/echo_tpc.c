/* echo_tpc: a classic thread-per-connection echo server, written the naive blocking way.
 *
 * Usage: echo_tpc [-p PORT] [-n N] [-q]
 *   -p PORT  listen on 127.0.0.1:PORT (default 0: the kernel picks a free port)
 *   -n N     exit(0) once N connections have been served completely (default: serve forever)
 *   -q       quiet: do not print the per-exit summary
 *
 * socket/bind/listen(SOMAXCONN backlog), print "port=<n>" (flushed), then forever: blocking
 * accept(), pthread_create a detached thread per client that loops read() / write-all until
 * EOF, then close(). SIGPIPE is ignored so that a client resetting the connection only ends
 * its own thread; the soft fd limit is raised to the hard one.
 *
 * With -n N, when the N-th connection is accepted the server prints
 *   "threads_at_last_accept=<Threads: of /proc/self/status>"
 * and when the N-th connection has been served it prints
 *   "served=<N> max_active=<most connections open at once> threads_at_exit=<Threads:> errors=<k>"
 * and exits 0. Under greenshim every Threads: figure is 1; natively it is 1 + live clients.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

static long exit_after = 0;
static int quiet = 0;
static long accepted = 0; /* touched only by the accept loop */
static long served = 0;   /* atomics: natively the handlers run in parallel */
static long active = 0;
static long max_active = 0;
static long errors = 0;

static int status_threads(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    fclose(f);
    return n;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *serve(void *arg) {
    int fd = (int)(long)arg;
    char buf[16384];
    long now = __atomic_add_fetch(&active, 1, __ATOMIC_SEQ_CST);
    long m = __atomic_load_n(&max_active, __ATOMIC_SEQ_CST);
    while (now > m && !__atomic_compare_exchange_n(&max_active, &m, now, 0, __ATOMIC_SEQ_CST,
                                                   __ATOMIC_SEQ_CST)) {
    }
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0) break;
        if (r < 0) {
            if (errno == EINTR) continue;
            __atomic_add_fetch(&errors, 1, __ATOMIC_SEQ_CST);
            break;
        }
        if (write_all(fd, buf, (size_t)r) < 0) {
            __atomic_add_fetch(&errors, 1, __ATOMIC_SEQ_CST);
            break;
        }
    }
    close(fd);
    __atomic_sub_fetch(&active, 1, __ATOMIC_SEQ_CST);
    long done = __atomic_add_fetch(&served, 1, __ATOMIC_SEQ_CST);
    if (exit_after > 0 && done == exit_after) {
        if (!quiet)
            printf("served=%ld max_active=%ld threads_at_exit=%d errors=%ld\n", done,
                   __atomic_load_n(&max_active, __ATOMIC_SEQ_CST), status_threads(),
                   __atomic_load_n(&errors, __ATOMIC_SEQ_CST));
        fflush(stdout);
        exit(0);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int port = 0, opt;
    while ((opt = getopt(argc, argv, "p:n:q")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'n': exit_after = atol(optarg); break;
        case 'q': quiet = 1; break;
        default:
            fprintf(stderr, "usage: %s [-p PORT] [-n N] [-q]\n", argv[0]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl; /* room for many clients: soft fd limit up to the hard one */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0) { perror("socket"); return 1; }
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
    if (listen(ls, SOMAXCONN) < 0) { perror("listen"); return 1; }
    socklen_t al = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &al);
    printf("port=%d\n", ntohs(a.sin_port));
    fflush(stdout);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            perror("accept");
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                usleep(10000);
                continue;
            }
            return 1;
        }
        accepted++;
        if (exit_after > 0 && accepted == exit_after && !quiet) {
            printf("threads_at_last_accept=%d\n", status_threads());
            fflush(stdout);
        }
        pthread_t t;
        int e = pthread_create(&t, &attr, serve, (void *)(long)c);
        if (e != 0) {
            fprintf(stderr, "pthread_create: %s\n", strerror(e));
            close(c);
        }
    }
}
