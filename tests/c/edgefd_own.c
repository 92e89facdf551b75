/* The shim's own descriptors (the hub's epoll fd, the eventfd that wakes it for semaphores, the
 * trace output) must look closed to the program, and the program's "close everything" calls must
 * not close them. Every case first makes the shim open all its fds (a greenlet parked on a pipe,
 * a parked sem_wait), does something to every fd number >= 3, then checks that blocking I/O and
 * semaphores still work. Output never names an fd number: natively and under the shim alike.
 *
 *   closefrom | close_range | closeall   close every fd >= 3 (closefrom(3) / close_range(3, ~0U, 0)
 *                                         / close() on each number), count the successes of close()
 *   probe                                 fcntl(F_GETFD), fstat, dup, dup2(n, n), dup3 from, close,
 *                                         ioctl(FIONREAD), epoll_ctl (either side) on every
 *                                         number >= 3: all EBADF natively
 *   dup2onto | dup3onto                   dup2/dup3 a pipe onto every number of the top 128 (the
 *                                         program believes they are free), check, close them; the
 *                                         other cases end with the dup2 variant of this too
 *   dupfdonto                             the same with fcntl(F_DUPFD, lowest of the 128)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static int limit(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur > (1 << 20) ? (1 << 20) : (int)rl.rlim_cur;
}

/* --- blocking work that needs the hub's epoll fd and its eventfd */

static int pipe_fds[2];
static sem_t sem_a, sem_b, sem_sig;

static void on_alarm(int sig) {
    (void)sig;
    sem_post(&sem_sig); /* from a signal handler while the hub sleeps: the shim's eventfd */
}

static void *reader(void *arg) {
    (void)arg;
    char buf[16] = {0};
    ssize_t n = read(pipe_fds[0], buf, sizeof buf - 1);
    int e = errno;
    printf("  reader: n=%zd %s\n", n, n < 0 ? strerror(e) : buf);
    return NULL;
}

static void *sleeper(void *arg) {
    (void)arg;
    usleep(150000);
    return NULL;
}

static void *poster(void *arg) {
    (void)arg;
    sem_wait(&sem_a); /* parks: the shim needs its wakeup eventfd */
    sem_post(&sem_b);
    return NULL;
}

/* A reader parked on a pipe and a parked sem_wait, both completed. */
static void work(const char *when) {
    printf("%s:\n", when);
    if (pipe(pipe_fds) != 0) {
        printf("  pipe: %s\n", strerror(errno));
        return;
    }
    sem_init(&sem_a, 0, 0);
    sem_init(&sem_b, 0, 0);
    pthread_t r, p;
    pthread_create(&r, NULL, reader, NULL);
    pthread_create(&p, NULL, poster, NULL);
    usleep(50000);
    if (write(pipe_fds[1], "hello", 5) != 5)
        printf("  write: %s\n", strerror(errno));
    sem_post(&sem_a);
    sem_wait(&sem_b);
    pthread_join(r, NULL);
    pthread_join(p, NULL);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    printf("  sem: done\n");
    sem_init(&sem_sig, 0, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 30000}};
    setitimer(ITIMER_REAL, &it, NULL);
    /* a sleeping thread meanwhile (the hub sleeps with a timeout; greenshim's deadlock report
     * does not know about interval timers) */
    pthread_t s;
    pthread_create(&s, NULL, sleeper, NULL);
    int rc;
    while ((rc = sem_wait(&sem_sig)) != 0 && errno == EINTR)
        ;
    pthread_join(s, NULL);
    printf("  sem from signal handler: %s\n", rc == 0 ? "ok" : strerror(errno));
}

static const char *err(int r) {
    return r < 0 ? strerrorname_np(errno) : "ok";
}

/* Counts of successes over [lo, hi). */
static void probe(int lo, int hi) {
    int getfd = 0, st = 0, dp = 0, dp2 = 0, dp3 = 0, cl = 0, io = 0, ec = 0;
    int devnull = open("/dev/null", O_RDONLY);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int pp[2];
    if (pipe(pp) != 0)
        return;
    for (int fd = lo; fd < hi; fd++) {
        struct stat sb;
        int avail;
        if (fd == devnull || fd == ep || fd == pp[0] || fd == pp[1])
            continue;
        struct epoll_event ev = {EPOLLIN, {0}};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0)
            ec++;
        if (epoll_ctl(fd, EPOLL_CTL_ADD, pp[0], &ev) == 0)
            ec++;
        if (fcntl(fd, F_GETFD) >= 0)
            getfd++;
        if (fstat(fd, &sb) == 0)
            st++;
        int d = dup(fd);
        if (d >= 0) {
            dp++;
            close(d);
        }
        if (dup2(fd, fd) >= 0)
            dp2++;
        d = dup3(fd, devnull, O_CLOEXEC);
        if (d >= 0)
            dp3++;
        if (ioctl(fd, FIONREAD, &avail) == 0)
            io++;
        if (close(fd) == 0)
            cl++;
    }
    close(devnull);
    close(ep);
    close(pp[0]);
    close(pp[1]);
    printf("probe: F_GETFD=%d fstat=%d dup=%d dup2=%d dup3=%d ioctl=%d epoll_ctl=%d close=%d\n", getfd, st, dp, dp2,
           dp3, io, ec, cl);
    /* the errors themselves, on a number the program never opened */
    errno = 0;
    printf("probe: close(top)=%s ", err(close(hi - 1)));
    printf("F_GETFD(top)=%s\n", err(fcntl(hi - 1, F_GETFD)));
}

/* The program believes the top numbers are free: put a pipe's write end on each (dup2 or dup3),
 * run the blocking work, and check that nothing the shim writes lands in the program's pipe. */
static void onto(int use_dup3) {
    int lim = limit();
    int lo = lim > 128 + 16 ? lim - 128 : 16;
    int trap[2];
    if (pipe(trap) != 0)
        return;
    int ok = 0, same = 0, bad = 0, avail = -1;
    for (int fd = lo; fd < lim; fd++) {
        int r = use_dup3 == 2 ? fcntl(trap[1], F_DUPFD, lo) /* the lowest free >= lo: fd */
                : use_dup3    ? dup3(trap[1], fd, 0)
                              : dup2(trap[1], fd);
        if (r == fd)
            ok++;
        else
            printf("  dup onto a free number: r=%d %s\n", r, strerrorname_np(errno));
    }
    printf("onto: placed=%d\n", ok);
    work("with the top numbers taken");
    struct stat a, b;
    fstat(trap[1], &a);
    for (int fd = lo; fd < lim; fd++) {
        if (fstat(fd, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev &&
            (fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0)
            same++;
        if (close(fd) != 0)
            bad++;
    }
    ioctl(trap[0], FIONREAD, &avail);
    printf("onto: still the pipe without cloexec=%d close failures=%d stray bytes=%d\n", same, bad, avail);
    close(trap[0]);
    close(trap[1]);
}

int main(int argc, char **argv) {
    const char *c = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    work("before");
    int lim = limit();
    if (!strcmp(c, "closefrom")) {
        errno = 0;
        closefrom(3);
        printf("closefrom: errno=%d\n", errno);
    } else if (!strcmp(c, "close_range")) {
        int r = close_range(3, ~0U, 0);
        printf("close_range: %s\n", err(r));
        r = close_range(0, ~0U, CLOSE_RANGE_CLOEXEC);
        printf("close_range cloexec: %s\n", err(r));
        int flags = fcntl(1, F_GETFD);
        printf("stdout cloexec=%d\n", flags >= 0 && (flags & FD_CLOEXEC));
        fcntl(1, F_SETFD, 0);
        fcntl(2, F_SETFD, 0);
        fcntl(0, F_SETFD, 0);
    } else if (!strcmp(c, "closeall")) {
        int n = 0;
        for (int fd = 3; fd < lim; fd++)
            if (close(fd) == 0)
                n++;
        printf("closeall: closed=%d\n", n);
    } else if (!strcmp(c, "probe")) {
        probe(3, lim);
    } else if (!strcmp(c, "dup2onto") || !strcmp(c, "dup3onto")) {
        onto(c[3] == '3');
    } else if (!strcmp(c, "dupfdonto")) {
        onto(2);
    } else {
        fprintf(stderr, "unknown case\n");
        return 2;
    }
    if (strcmp(c, "dup2onto") && strcmp(c, "dup3onto") && strcmp(c, "dupfdonto"))
        onto(0);
    work("after");
    return 0;
}
