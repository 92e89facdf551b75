/* The textbook thread-per-connection server written with stdio: each connection's socket is
 * wrapped in FILE streams (fdopen), requests are read with fgets and answered with fprintf and
 * fflush. stdio reads and writes through glibc's internal calls, which only syscall user
 * dispatch makes cooperative under the shim. Prints port=N, then serves until killed; a line
 * "quit" ends a connection. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *serve(void *arg) {
    int fd = (int)(long)arg;
    FILE *in = fdopen(fd, "r");
    FILE *out = fdopen(dup(fd), "w");
    char line[512];
    unsigned n = 0;
    while (fgets(line, sizeof line, in)) {
        if (strcmp(line, "quit\n") == 0) break;
        fprintf(out, "%u %zu %s", ++n, strlen(line), line);
        fflush(out);
    }
    fclose(out);
    fclose(in);
    return NULL;
}

int main(void) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 512)) return 1;
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    printf("port=%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0) continue;
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        pthread_create(&t, &a, serve, (void *)(long)c);
        pthread_attr_destroy(&a);
    }
}
