/* diag_format: calls whose trace lines have a known form.
 *
 *  1. write(http_fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27) on one end of a socketpair, and a
 *     read of those 27 bytes on the other end (data already there: no park);
 *  2. read(eagain_fd, ...) on a socket the program itself made O_NONBLOCK, with nothing to
 *     read: -1 EAGAIN;
 *  3. a thread reads wait_fd (blocking socket) while main sleeps 30 ms and then writes "ping":
 *     that read parks for about 30 ms;
 *  4. write(http_fd, <2000 bytes of 0xff>, 2000) and a read of them on eagain_fd: with a
 *     large -s, a long (escaped) string must not push the result out of the trace line.
 * Prints "http_fd=N eagain_fd=M wait_fd=K" and "ok" on stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char REQ[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
static int wait_pair[2];
static char got[16];

static void *waiter(void *arg) {
    (void)arg;
    ssize_t r = read(wait_pair[1], got, sizeof got - 1);
    if (r != 4) return (void *)1;
    return NULL;
}

int main(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) { perror("socketpair"); return 1; }
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, wait_pair) != 0) { perror("socketpair"); return 1; }
    printf("http_fd=%d eagain_fd=%d wait_fd=%d\n", sv[0], sv[1], wait_pair[1]);
    fflush(stdout);

    if (write(sv[0], REQ, strlen(REQ)) != (ssize_t)strlen(REQ)) return 1;
    char buf[64];
    if (read(sv[1], buf, sizeof buf) != (ssize_t)strlen(REQ)) return 1;

    int fl = fcntl(sv[1], F_GETFL);
    fcntl(sv[1], F_SETFL, fl | O_NONBLOCK);
    ssize_t r = read(sv[1], buf, sizeof buf);
    if (r != -1 || errno != EAGAIN) { fprintf(stderr, "expected EAGAIN\n"); return 1; }

    pthread_t t;
    void *ret;
    if (pthread_create(&t, NULL, waiter, NULL) != 0) return 1;
    usleep(30000);
    if (write(wait_pair[0], "ping", 4) != 4) return 1;
    pthread_join(t, &ret);
    if (ret != NULL) return 1;

    static unsigned char big[2000];
    memset(big, 0xff, sizeof big);
    if (write(sv[0], big, sizeof big) != (ssize_t)sizeof big) return 1;
    static unsigned char back[4096];
    if (read(sv[1], back, sizeof back) != (ssize_t)sizeof big) return 1;
    printf("ok\n");
    return 0;
}
