/* A preloadable wrapper of connect, the proxychains/libfaketime pattern: counts the calls and
 * forwards to the next definition found with dlsym(RTLD_NEXT, "connect"). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <sys/socket.h>

static int depth;
static int calls;

/* How many times the program's connect went through this wrapper. */
int wrapped_connect_calls(void) { return calls; }

int connect(int fd, const struct sockaddr *sa, socklen_t len) {
    static int (*next)(int, const struct sockaddr *, socklen_t);
    if (!next)
        next = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
    if (!next)
        return -1;
    if (depth > 100) { /* a lookup that leads back here would recurse forever */
        fprintf(stderr, "wrapper: connect recursion\n");
        return -1;
    }
    depth++;
    calls++;
    int r = next(fd, sa, len);
    depth--;
    return r;
}

