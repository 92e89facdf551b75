/* Connects to a 127.0.0.1 listener of its own, from main and from a thread, with a connect
 * wrapper library preloaded (edge_wrap_connect_lib.c): prints what connect returned, that the
 * bytes went through, and how many calls the wrapper saw.
 * Usage: edge_wrap_connect nonblock|blocking (the sockets' mode at connect). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in addr;
static int nonblock;

static void *client(void *arg) {
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    int r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    const char *how = r == 0 ? "0" : errno == EINPROGRESS ? "in progress" : strerror(errno);
    if (r != 0 && errno == EINPROGRESS) {
        struct pollfd p = {fd, POLLOUT, 0};
        poll(&p, 1, 5000);
        int err = -1;
        socklen_t l = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err == 0) how = "0";
    }
    char c = *(char *)arg;
    ssize_t w = write(fd, &c, 1);
    printf("client %c: connect=%s write=%zd\n", c, how, w);
    fflush(stdout);
    close(fd);
    return NULL;
}

static void serve_one(int lfd) {
    int c = accept(lfd, NULL, NULL);
    char b = '?';
    ssize_t n = read(c, &b, 1);
    printf("server: read=%zd byte=%c\n", n, b);
    fflush(stdout);
    close(c);
}

int main(int argc, char **argv) {
    nonblock = argc > 1 && !strcmp(argv[1], "nonblock");
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, 8) ||
        getsockname(lfd, (struct sockaddr *)&addr, &len)) {
        perror("listener");
        return 1;
    }
    char a = 'm';
    client(&a); /* from main: the backlog holds it */
    serve_one(lfd);
    char b = 't';
    pthread_t t;
    pthread_create(&t, NULL, client, &b);
    serve_one(lfd);
    pthread_join(t, NULL);
    int (*calls)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "wrapped_connect_calls");
    printf("wrapper calls=%d\n", calls ? calls() : -1);
    close(lfd);
    return 0;
}
