/* trace_files: the calls an strace user looks for first, made through libc's exported
 * functions, between two marker writes to stdout ("begin", "end"):
 * open/creat a regular file, write, close, open, fstat, read, lseek, pread, stat, statx, lstat and
 * open of missing paths (ENOENT), close(-1) (EBADF), ioctl(TIOCGWINSZ) on stdout (a pipe:
 * ENOTTY), epoll_create1, eventfd, a socketpair, a TCP listener on 127.0.0.1 (SO_REUSEADDR)
 * with a blocking connect and accept, sigaction and sigprocmask, and writes to stdout.
 *
 * Usage: trace_files DIR     (DIR: an existing scratch directory)
 * tests/trace_strace.rs compares greenshim's trace of it with strace's.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <signal.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void on_usr1(int sig) { (void)sig; }

static void must(int ok, const char *what) {
    if (!ok) {
        perror(what);
        _exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    char path[4096], buf[64];
    struct stat st;
    snprintf(path, sizeof path, "%s/data", argv[1]);
    must(write(1, "begin\n", 6) == 6, "write");

    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    must(fd >= 0, "open for writing");
    must(write(fd, "hello strace\n", 13) == 13, "write file");
    must(close(fd) == 0, "close");
    fd = open(path, O_RDONLY);
    must(fd >= 0, "open for reading");
    must(fstat(fd, &st) == 0 && st.st_size == 13, "fstat");
    must(read(fd, buf, sizeof buf) == 13, "read");
    must(lseek(fd, 6, SEEK_SET) == 6, "lseek");
    must(pread(fd, buf, 5, 0) == 5, "pread");
    must(read(fd, buf, sizeof buf) == 7, "read after lseek");
    must(read(fd, buf, sizeof buf) == 0, "read at EOF");
    must(close(fd) == 0, "close");
    must(stat(path, &st) == 0, "stat");
    struct statx stx;
    must(statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_MODE | STATX_SIZE, &stx) == 0 && stx.stx_size == 13, "statx");
    must(open("/nonexistent-greenshim/x", O_RDONLY) == -1, "open of a missing file");
    must(lstat("/nonexistent-greenshim", &st) == -1, "lstat of a missing file");
    must(close(-1) == -1, "close(-1)");
    must(lseek(0, 0, SEEK_CUR) == -1 || 1, "lseek of stdin");

    struct winsize ws;
    must(ioctl(1, TIOCGWINSZ, &ws) == -1, "ioctl on a pipe");
    int ep = epoll_create1(EPOLL_CLOEXEC), efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    must(ep >= 0 && efd >= 0, "epoll_create1/eventfd");
    must(close(efd) == 0 && close(ep) == 0, "close");

    int sv[2];
    must(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    must(write(sv[0], "ping", 4) == 4, "write to the pair");
    must(read(sv[1], buf, sizeof buf) == 4, "read from the pair");
    must(close(sv[0]) == 0 && close(sv[1]) == 0, "close the pair");

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    must(lfd >= 0, "socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int one = 1;
    must(setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "setsockopt");
    must(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, 1) == 0, "bind/listen");
    must(getsockname(lfd, (struct sockaddr *)&a, &alen) == 0, "getsockname");
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    must(cfd >= 0, "socket");
    must(connect(cfd, (struct sockaddr *)&a, sizeof a) == 0, "connect");
    int afd = accept(lfd, NULL, NULL);
    must(afd >= 0, "accept");
    must(write(cfd, "GET\n", 4) == 4, "write to the connection");
    must(read(afd, buf, sizeof buf) == 4, "read from the connection");
    int c2 = socket(AF_INET, SOCK_STREAM, 0);
    must(c2 >= 0 && connect(c2, (struct sockaddr *)&a, sizeof a) == 0, "second connect");
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int a2 = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
    must(a2 >= 0, "accept4");
    must(close(a2) == 0 && close(c2) == 0, "close the second connection");
    must(close(afd) == 0 && close(cfd) == 0 && close(lfd) == 0, "close the sockets");

    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART}, osa;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGTERM);
    must(sigaction(SIGUSR1, &sa, &osa) == 0, "sigaction");
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    must(sigprocmask(SIG_BLOCK, &set, &old) == 0 && sigprocmask(SIG_SETMASK, &old, NULL) == 0, "sigprocmask");

    must(unlink(path) == 0, "unlink");
    must(write(1, "end\n", 4) == 4, "write");
    return 0;
}
