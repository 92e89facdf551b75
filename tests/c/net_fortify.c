/* net_fortify: the checked read variants that _FORTIFY_SOURCE=2 binaries (every Debian
 * package) import instead of read/recv/recvfrom/pread: __read_chk, __recv_chk, __recvfrom_chk.
 * A length that is not a compile-time constant, into a buffer of known size, makes gcc call
 * them. Each must wait like the plain call (a helper thread writes 40 ms later).
 *
 * Usage: net_fortify            the waiting cases, one line each, then "done"
 *        net_fortify overflow   read(fd, buf[8], 16): must abort ("buffer overflow detected")
 */
#undef _FORTIFY_SOURCE
#define _FORTIFY_SOURCE 2
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OUT(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)

static volatile size_t small = 5, big = 16; /* not constants: the _chk variants are called */

struct w { int fd; const char *s; };
static void *later(void *arg) {
    struct w *w = arg;
    usleep(40000);
    if (write(w->fd, w->s, strlen(w->s)) < 0) perror("write");
    return NULL;
}

int main(int argc, char **argv) {
    alarm(10);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    char buf[8] = {0};
    pthread_t t;
    if (argc > 1 && strcmp(argv[1], "overflow") == 0) {
        OUT("overflow: calling read with a length beyond the buffer\n");
        ssize_t r = read(sv[0], buf, big); /* __read_chk: aborts before reading */
        OUT("overflow: NOT caught, read=%zd\n", r);
        return 0;
    }
    struct w w1 = {sv[1], "hello"};
    pthread_create(&t, NULL, later, &w1);
    ssize_t r = read(sv[0], buf, small); /* __read_chk */
    pthread_join(t, NULL);
    OUT("__read_chk: rc=%zd \"%s\"\n", r, buf);

    memset(buf, 0, sizeof buf);
    struct w w2 = {sv[1], "peek!"};
    pthread_create(&t, NULL, later, &w2);
    r = recv(sv[0], buf, small, MSG_PEEK); /* __recv_chk */
    pthread_join(t, NULL);
    char b2[8] = {0};
    ssize_t r2 = recv(sv[0], b2, small, 0);
    OUT("__recv_chk: peek=%zd \"%s\" then=%zd \"%s\"\n", r, buf, r2, b2);

    int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(a, (struct sockaddr *)&sa, sizeof sa);
    socklen_t sl = sizeof sa;
    getsockname(a, (struct sockaddr *)&sa, &sl);
    connect(b, (struct sockaddr *)&sa, sizeof sa);
    memset(buf, 0, sizeof buf);
    struct w w3 = {b, "dgram"};
    pthread_create(&t, NULL, later, &w3);
    r = recvfrom(a, buf, small, 0, NULL, NULL); /* __recvfrom_chk */
    pthread_join(t, NULL);
    OUT("__recvfrom_chk: rc=%zd \"%s\"\n", r, buf);
    OUT("done\n");
    return 0;
}
