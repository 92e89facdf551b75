/* net_stdout: a thread writes a large buffer to stdout (an fd inherited from the parent, e.g.
 * a pipe the parent drains slowly) in ONE blocking write(), while another thread keeps ticking.
 * Natively the write blocks only its own thread; under greenshim it must park only its
 * greenlet (a pipe that polls writable can still block a big write: the shim must not let the
 * OS thread block), return the full count, and never change stdout's O_NONBLOCK.
 *
 * Usage: net_stdout [BYTES]   (default 1 MiB; byte i of the payload is (i * 7) % 251)
 * stdout: the payload only. stderr (each line flushed):
 *   write: rc=<BYTES or -1/errno>
 *   ticks_during_write=<ok|too_few>   (>= 10 ticks of 20 ms while the write was in progress)
 *   stdout_raw_nonblock_during_write=<no|yes>
 *   stdout_nonblock_at_end=<0|1> raw=<0|1>
 *   done
 * The parent must take at least ~0.3 s to drain it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int ticks, stop, writing, raw_nonblock_seen;
static size_t n = 1 << 20;

static int raw_nonblock(int fd) { return (syscall(SYS_fcntl, fd, F_GETFL) & O_NONBLOCK) ? 1 : 0; }

static void *ticker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
        usleep(20000);
        if (__atomic_load_n(&writing, __ATOMIC_SEQ_CST) && raw_nonblock(1))
            __atomic_store_n(&raw_nonblock_seen, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void *writer(void *arg) {
    (void)arg;
    char *buf = malloc(n);
    for (size_t i = 0; i < n; i++) buf[i] = (char)((i * 7) % 251);
    usleep(50000); /* let the ticker start */
    int t0 = __atomic_load_n(&ticks, __ATOMIC_SEQ_CST);
    __atomic_store_n(&writing, 1, __ATOMIC_SEQ_CST);
    ssize_t r = write(1, buf, n);
    int e = errno;
    __atomic_store_n(&writing, 0, __ATOMIC_SEQ_CST);
    int t1 = __atomic_load_n(&ticks, __ATOMIC_SEQ_CST);
    if (r < 0) fprintf(stderr, "write: rc=-1/%s\n", strerror(e));
    else fprintf(stderr, "write: rc=%zd\n", r);
    fprintf(stderr, "ticks_during_write=%s\n", t1 - t0 >= 10 ? "ok" : "too_few");
    fprintf(stderr, "stdout_raw_nonblock_during_write=%s\n", raw_nonblock_seen ? "yes" : "no");
    free(buf);
    return NULL;
}

int main(int argc, char **argv) {
    alarm(20);
    if (argc > 1) n = strtoull(argv[1], NULL, 0);
    setvbuf(stderr, NULL, _IONBF, 0);
    pthread_t tt, wt;
    pthread_create(&tt, NULL, ticker, NULL);
    pthread_create(&wt, NULL, writer, NULL);
    pthread_join(wt, NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(tt, NULL);
    fprintf(stderr, "stdout_nonblock_at_end=%d raw=%d\n", (fcntl(1, F_GETFL) & O_NONBLOCK) ? 1 : 0, raw_nonblock(1));
    fprintf(stderr, "done\n");
    return 0;
}
