/* A forked child's descriptors are closed when the parent has reaped it: the parent can bind the
 * abstract address the child had bound, and sees EOF on a pipe whose write end only the child
 * still held. Natively this holds every time; under greenshim the shim's live task must not keep
 * a copy of the child's descriptor table alive after the child ended. */
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static socklen_t addr(struct sockaddr_un *a) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "gs-fork-fds-%d", (int)getpid());
    return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a->sun_path + 1);
}

int main(void) {
    int binds = 0, eofs = 0, rounds = 50;
    for (int i = 0; i < rounds; i++) {
        int p[2];
        if (pipe(p)) return 2;
        struct sockaddr_un a;
        socklen_t len = addr(&a);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        pid_t pid = fork();
        if (pid == 0) {
            /* The child binds the address with its own copy, then the parent's copy is closed
             * below: once the child is gone, nothing holds it. */
            if (bind(s, (void *)&a, len) || listen(s, 1)) _exit(3);
            _exit(0);
        }
        close(s);
        close(p[1]);
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 4;
        int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
        if (bind(s2, (void *)&a, len) == 0) binds++;
        close(s2);
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        char c;
        if (poll(&pf, 1, 0) == 1 && read(p[0], &c, 1) == 0) eofs++;
        close(p[0]);
    }
    printf("rounds=%d rebinds=%d eofs=%d\n", rounds, binds, eofs);
    return 0;
}
