/* diag_exec: a process that runs a child program (fork + exec of itself) between two traced
 * calls, as a shell or a server spawning helpers does.
 *
 * Usage: diag_exec          parent: usleep(2000), fork+exec "diag_exec child", waitpid,
 *                           usleep(3000); prints "ok"
 *        diag_exec child    usleep(1000), exit 0
 * Under `greenshim --trace -o FILE` both processes inherit the settings: the file must keep the
 * parent's usleep(2000) line written before the child started.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        usleep(1000);
        return 0;
    }
    usleep(2000);
    fflush(stdout);
    pid_t p = fork();
    if (p < 0) { perror("fork"); return 1; }
    if (p == 0) {
        execl("/proc/self/exe", argv[0], "child", (char *)0);
        _exit(127);
    }
    int st;
    if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 1;
    usleep(3000);
    printf("ok\n");
    return 0;
}
