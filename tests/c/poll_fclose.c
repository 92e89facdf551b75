/* An fd closed inside stdio (fclose of an fdopen'ed stream) whose number popen() then reuses
 * through glibc's internal pipe2: a poll on the new fd must wake when its data arrives, not
 * sleep until its timeout on a registration left over from the old fd. */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void) {
    int p[2];
    if (pipe(p) != 0)
        return 1;
    struct pollfd a = {p[0], POLLIN, 0};
    poll(&a, 1, 30); /* times out; under greenshim this registers p[0] with the hub */
    fclose(fdopen(p[0], "r"));
    close(p[1]);
    FILE *f = popen("sleep 0.2; echo hi", "r");
    if (!f)
        return 1;
    struct pollfd b = {fileno(f), POLLIN, 0};
    double t0 = now();
    int r = poll(&b, 1, 3000);
    double dt = now() - t0;
    printf("reused=%s poll=%d revents_in=%d woke_in_time=%s\n", fileno(f) == p[0] ? "yes" : "no", r,
           !!(b.revents & POLLIN), dt < 1.5 ? "yes" : "no");
    pclose(f);
    return 0;
}
