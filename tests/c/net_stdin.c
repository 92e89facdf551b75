/* net_stdin: a thread reads stdin (an fd inherited from the parent, e.g. a pipe) blocking,
 * while another thread keeps ticking; the shared O_NONBLOCK flag of stdin must never change.
 *
 * Output (stdout, each line flushed):
 *   stdin_nonblock_at_start=<0|1>        (fcntl(0, F_GETFL))
 *   reading                              (the reader thread is about to block in read(0))
 *   read: rc=<n> "<data without newline>"
 *   ticks_during_read=<ok|too_few>       (>= 5 ticks of 20 ms while read(0) waited)
 *   stdin_raw_nonblock_during_read=<no|yes>  (raw syscall F_GETFL, sampled by the ticker)
 *   read2: rc=<n>                        (the second read: 0 once the parent closed the pipe)
 *   stdin_nonblock_at_end=<0|1> raw=<0|1>
 *   done
 * The parent writes one line some time after "reading", then closes its end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define OUT(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)

static int ticks, stop, reading, raw_nonblock_seen;

static int raw_nonblock(int fd) { return (syscall(SYS_fcntl, fd, F_GETFL) & O_NONBLOCK) ? 1 : 0; }

static void *ticker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
        usleep(20000);
        if (__atomic_load_n(&reading, __ATOMIC_SEQ_CST) && raw_nonblock(0))
            __atomic_store_n(&raw_nonblock_seen, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void *reader(void *arg) {
    (void)arg;
    char buf[256] = {0};
    OUT("reading\n");
    int t0 = __atomic_load_n(&ticks, __ATOMIC_SEQ_CST);
    __atomic_store_n(&reading, 1, __ATOMIC_SEQ_CST);
    ssize_t r = read(0, buf, sizeof buf - 1);
    __atomic_store_n(&reading, 0, __ATOMIC_SEQ_CST);
    int t1 = __atomic_load_n(&ticks, __ATOMIC_SEQ_CST);
    if (r > 0 && buf[r - 1] == '\n') buf[r - 1] = 0;
    OUT("read: rc=%zd \"%s\"\n", r, r > 0 ? buf : "");
    OUT("ticks_during_read=%s\n", t1 - t0 >= 5 ? "ok" : "too_few");
    OUT("stdin_raw_nonblock_during_read=%s\n", raw_nonblock_seen ? "yes" : "no");
    r = read(0, buf, sizeof buf);
    OUT("read2: rc=%zd\n", r);
    return NULL;
}

int main(void) {
    alarm(20);
    OUT("stdin_nonblock_at_start=%d\n", (fcntl(0, F_GETFL) & O_NONBLOCK) ? 1 : 0);
    pthread_t tt, rt;
    pthread_create(&tt, NULL, ticker, NULL);
    pthread_create(&rt, NULL, reader, NULL);
    pthread_join(rt, NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(tt, NULL);
    OUT("stdin_nonblock_at_end=%d raw=%d\n", (fcntl(0, F_GETFL) & O_NONBLOCK) ? 1 : 0, raw_nonblock(0));
    OUT("done\n");
    return 0;
}
