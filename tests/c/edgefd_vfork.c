/* A vfork child's dup2/close changes only the child's fd table: the parent's thread blocked
 * reading the pipe must keep waiting and then get its data. The child shares the parent's memory,
 * so under the shim it must not touch the hub's fd bookkeeping.
 *
 *   exit   the child dup2s /dev/null onto the pipe's read end, closes the write end, _exits
 *   exec   the same, then execs `true`
 *   close  the child closes both pipe ends and the reader's fd numbers, _exits
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int p[2];

static void *reader(void *arg) {
    (void)arg;
    char buf[16] = {0};
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    int e = errno;
    printf("reader: n=%zd %s\n", n, n < 0 ? strerrorname_np(e) : buf);
    return NULL;
}

int main(int argc, char **argv) {
    const char *c = argc > 1 ? argv[1] : "exit";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (pipe(p) != 0)
        return 1;
    int devnull = open("/dev/null", O_RDONLY);
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    usleep(50000); /* the reader is blocked in read() now */
    pid_t pid = vfork();
    if (pid == 0) {
        if (!strcmp(c, "close")) {
            close(p[0]);
            close(p[1]);
        } else {
            dup2(devnull, p[0]);
            close(p[1]);
        }
        if (!strcmp(c, "exec"))
            execlp("true", "true", (char *)NULL);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    printf("child: exited=%d status=%d\n", WIFEXITED(st), WEXITSTATUS(st));
    int fl = fcntl(p[0], F_GETFL);
    printf("parent read end still open=%d\n", fl >= 0);
    usleep(20000);
    if (write(p[1], "hello", 5) != 5)
        printf("write: %s\n", strerrorname_np(errno));
    pthread_join(t, NULL);
    /* and a later blocking read still parks and wakes */
    pthread_create(&t, NULL, reader, NULL);
    usleep(20000);
    write(p[1], "again", 5);
    pthread_join(t, NULL);
    return 0;
}
