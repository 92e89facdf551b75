/* echo_pool: a thread-pool echo server, written the classic blocking way.
 *
 * Usage: echo_pool [-p PORT] [-w WORKERS] [-n N] [-q]
 *   -p PORT     listen on 127.0.0.1:PORT (default 0: the kernel picks a free port)
 *   -w WORKERS  size of the fixed worker pool (default 8)
 *   -n N        exit(0) once N connections have been served completely (default: forever)
 *   -q          quiet: do not print the summary lines
 *
 * The main thread starts WORKERS worker threads, binds, listens (SOMAXCONN backlog), prints
 * "port=<n>" (flushed) and then forever accept()s (blocking) and appends the new fd to a queue
 * guarded by one mutex, signalling a condition variable. Each worker pops an fd (waiting on the
 * condition variable while the queue is empty), echoes (read / write-all) until EOF, closes the
 * fd and pops the next one. So at most WORKERS connections are served at a time; the others
 * wait, accepted, in the queue. SIGPIPE is ignored; the soft fd limit is raised to the hard one.
 *
 * With -n N, when the N-th connection is accepted the server prints
 *   "threads_at_last_accept=<Threads: of /proc/self/status> queued=<queue length then>"
 * and when the N-th connection has been served it prints
 *   "served=<N> workers=<W> max_busy=<most workers echoing at once>
 *    max_queued=<longest queue> threads_at_exit=<Threads:> errors=<k>"
 * and exits 0. Under greenshim every Threads: figure is 1; natively it is 1 + WORKERS.
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

/* The queue of accepted fds: a growable ring buffer, everything below guarded by `mu`. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nonempty = PTHREAD_COND_INITIALIZER;
static int *ring = NULL;
static size_t cap = 0, head = 0, len = 0;
static size_t max_queued = 0;
static long busy = 0, max_busy = 0, served = 0, errors = 0;
static int workers = 8;

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

/* Called with `mu` held. */
static void push(int fd) {
    if (len == cap) {
        size_t ncap = cap ? cap * 2 : 64;
        int *n = malloc(ncap * sizeof *n);
        if (!n) { perror("malloc"); exit(1); }
        for (size_t i = 0; i < len; i++) n[i] = ring[(head + i) % cap];
        free(ring);
        ring = n;
        cap = ncap;
        head = 0;
    }
    ring[(head + len) % cap] = fd;
    len++;
    if (len > max_queued) max_queued = len;
}

/* Called with `mu` held and len > 0. */
static int pop(void) {
    int fd = ring[head];
    head = (head + 1) % cap;
    len--;
    return fd;
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

/* Echo until EOF; 0 on a clean EOF, -1 on an error. */
static int echo(int fd) {
    char buf[16384];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0) return 0;
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (write_all(fd, buf, (size_t)r) < 0) return -1;
    }
}

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&mu);
        while (len == 0) pthread_cond_wait(&nonempty, &mu);
        int fd = pop();
        if (++busy > max_busy) max_busy = busy;
        pthread_mutex_unlock(&mu);

        int rc = echo(fd);
        close(fd);

        pthread_mutex_lock(&mu);
        busy--;
        if (rc < 0) errors++;
        long done = ++served;
        if (exit_after > 0 && done == exit_after) {
            if (!quiet)
                printf("served=%ld workers=%d max_busy=%ld max_queued=%zu threads_at_exit=%d "
                       "errors=%ld\n",
                       done, workers, max_busy, max_queued, status_threads(), errors);
            fflush(stdout);
            exit(0); /* with `mu` held: nobody else gets to print */
        }
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int port = 0, opt;
    while ((opt = getopt(argc, argv, "p:w:n:q")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'w': workers = atoi(optarg); break;
        case 'n': exit_after = atol(optarg); break;
        case 'q': quiet = 1; break;
        default:
            fprintf(stderr, "usage: %s [-p PORT] [-w WORKERS] [-n N] [-q]\n", argv[0]);
            return 2;
        }
    }
    if (workers < 1) {
        fprintf(stderr, "echo_pool: need WORKERS >= 1\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl; /* room for many queued clients: soft fd limit up to the hard one */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    for (int i = 0; i < workers; i++) {
        pthread_t t;
        int e = pthread_create(&t, NULL, worker, NULL);
        if (e != 0) {
            fprintf(stderr, "pthread_create: %s\n", strerror(e));
            return 1;
        }
        pthread_detach(t);
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

    long accepted = 0;
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
        pthread_mutex_lock(&mu);
        push(c);
        size_t queued = len;
        pthread_cond_signal(&nonempty);
        pthread_mutex_unlock(&mu);
        if (exit_after > 0 && accepted == exit_after && !quiet) {
            printf("threads_at_last_accept=%d queued=%zu\n", status_threads(), queued);
            fflush(stdout);
        }
    }
}
