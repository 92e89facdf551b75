/* bad_pointers: calls given pointers to nothing ((void *)8) and to a PROT_NONE page, where the
 * kernel validates them: natively each returns an error (mostly EFAULT), blocks, or succeeds
 * without touching the memory. Under the shim the result must be the same, never a crash in
 * greenshim's own code. Each case runs in a child of its own, so one crash does not hide the
 * others: a line gives the return value and errno name, or how the child ended, or "blocks"
 * when it was still waiting after 1.5 s. Only kernel-checked pointers are given (not pthread
 * attributes, which libc reads).
 *
 * usage: bad_pointers [CASE-PREFIX]   (all cases when none)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Opaque to the compiler, which would warn about a constant (void *)8. */
static void *volatile bad_ptr = (void *)8;
#define BAD bad_ptr
static void *none; /* a PROT_NONE page */
static const char *only;

/* The fds every case may use; made before the fork, fresh for each case. */
static int sk[2];        /* connected stream sockets; sk[0] has 4 bytes to read */
static int sk_empty[2];  /* connected stream sockets, nothing to read */
static int dg[2];        /* connected datagram sockets; dg[0] has a datagram */
static int pp[2];        /* a pipe with 4 bytes in it */
static int pe[2];        /* an empty pipe */
static int file;         /* a regular file holding 4 bytes, offset 0 */
static int lst;          /* a listening unix socket with a connection queued */

static void setup(void) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sk) || socketpair(AF_UNIX, SOCK_STREAM, 0, sk_empty)
        || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) || pipe(pp) || pipe(pe))
        exit(2);
    if (write(sk[1], "abcd", 4) != 4 || write(dg[1], "abcd", 4) != 4 || write(pp[1], "abcd", 4) != 4)
        exit(2);
    file = open("/tmp", O_TMPFILE | O_RDWR, 0600);
    if (file < 0 || pwrite(file, "abcd", 4, 0) != 4) exit(2);
    lst = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "gs-badptr-%d", getpid());
    socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(lst, (void *)&a, len) || listen(lst, 4) || connect(c, (void *)&a, len)) exit(2);
}

static void teardown(void) {
    int fds[] = {sk[0], sk[1], sk_empty[0], sk_empty[1], dg[0], dg[1], pp[0], pp[1], pe[0], pe[1], file, lst};
    for (unsigned i = 0; i < sizeof fds / sizeof *fds; i++) close(fds[i]);
}

/* Run `f` in a child and print how it went; `f` returns the call's result (errno kept). */
static void run_case(const char *name, long (*f)(void)) {
    if (only && strncmp(name, only, strlen(only)) != 0) return;
    setup();
    int p[2];
    if (pipe(p)) exit(2);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        errno = 0;
        long r = f();
        char line[128];
        int n = snprintf(line, sizeof line, "%ld %s", r, r < 0 ? strerrorname_np(errno) : "-");
        if (write(p[1], line, n) != n) _exit(3);
        _exit(0);
    }
    close(p[1]);
    teardown();
    char out[128] = "";
    struct pollfd w = {p[0], POLLIN, 0};
    int ready = poll(&w, 1, 1500);
    if (ready == 1) {
        ssize_t n = read(p[0], out, sizeof out - 1);
        out[n > 0 ? n : 0] = 0;
    }
    int st;
    if (!out[0] && ready != 1) { /* still running after 1.5 s */
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        snprintf(out, sizeof out, "blocks");
    } else if (!out[0]) { /* ended without a result */
        waitpid(pid, &st, 0);
        if (WIFSIGNALED(st))
            snprintf(out, sizeof out, "killed by %s", sigabbrev_np(WTERMSIG(st)) ?: "?");
        else
            snprintf(out, sizeof out, "exit %d, no result", WEXITSTATUS(st));
    } else {
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) strcat(out, " (then the child failed)");
    }
    close(p[0]);
    printf("%-34s %s\n", name, out);
}

static struct iovec bad_base = {(void *)8, 4};
static char buf[64];
static struct iovec good = {buf, sizeof buf};

/* An msghdr whose iovec array is `iov` (count 2) */
static struct msghdr msg_with(void *iov) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    return m;
}

#define CASE(name, expr) static long name(void) { return (long)(expr); }

/* readv / writev: a bad array, a PROT_NONE array, a bad buffer in a good array. */
CASE(readv_sock_bad, readv(sk[0], BAD, 2))
CASE(readv_sock_none, readv(sk[0], none, 2))
CASE(readv_sock_one_bad, readv(sk[0], BAD, 1))
CASE(readv_sock_base, readv(sk[0], &bad_base, 1))
CASE(readv_sock_empty_bad, readv(sk_empty[0], BAD, 2))
CASE(readv_sock_empty_base, readv(sk_empty[0], &bad_base, 1))
CASE(readv_pipe_bad, readv(pp[0], BAD, 2))
CASE(readv_pipe_none, readv(pp[0], none, 2))
CASE(readv_pipe_base, readv(pp[0], &bad_base, 1))
CASE(readv_pipe_empty_bad, readv(pe[0], BAD, 2))
CASE(readv_pipe_empty_none, readv(pe[0], none, 1))
CASE(readv_file_bad, readv(file, BAD, 2))
CASE(readv_dgram_bad, readv(dg[0], BAD, 2))
CASE(writev_sock_bad, writev(sk[0], BAD, 2))
CASE(writev_sock_none, writev(sk[0], none, 2))
CASE(writev_sock_one_bad, writev(sk[0], BAD, 1))
CASE(writev_sock_base, writev(sk[0], &bad_base, 1))
CASE(writev_pipe_bad, writev(pp[1], BAD, 2))
CASE(writev_pipe_none, writev(pp[1], none, 2))
CASE(writev_pipe_base, writev(pp[1], &bad_base, 1))
CASE(writev_file_bad, writev(file, BAD, 2))
CASE(writev_dgram_bad, writev(dg[0], BAD, 2))
CASE(preadv_file_bad, preadv(file, BAD, 2, 0))
CASE(pwritev_file_bad, pwritev(file, BAD, 2, 0))
CASE(preadv2_pipe_bad, preadv2(pp[0], BAD, 2, -1, 0))
CASE(pwritev2_pipe_bad, pwritev2(pp[1], BAD, 2, -1, 0))
CASE(preadv2_sock_bad, preadv2(sk[0], BAD, 2, -1, 0))
CASE(read_sock_bad, read(sk[0], BAD, 4))
CASE(read_pipe_empty_bad, read(pe[0], BAD, 4))
CASE(write_sock_bad, write(sk[0], BAD, 4))
CASE(write_pipe_none, write(pp[1], none, 4))

/* sendmsg / recvmsg and the multi-message forms: a bad header, a bad array inside a good one. */
static long sendmsg_iov_bad(void) { struct msghdr m = msg_with(BAD); return sendmsg(sk[0], &m, 0); }
static long sendmsg_iov_none(void) { struct msghdr m = msg_with(none); return sendmsg(sk[0], &m, 0); }
static long recvmsg_iov_bad(void) { struct msghdr m = msg_with(BAD); return recvmsg(sk[0], &m, 0); }
static long recvmsg_iov_none(void) { struct msghdr m = msg_with(none); return recvmsg(sk[0], &m, 0); }
static long recvmsg_empty_iov_bad(void) { struct msghdr m = msg_with(BAD); return recvmsg(sk_empty[0], &m, 0); }
static long recvmsg_dgram_iov_bad(void) { struct msghdr m = msg_with(BAD); return recvmsg(dg[0], &m, 0); }
static long recvmsg_name_bad(void) {
    struct msghdr m = msg_with(&good);
    m.msg_iovlen = 1;
    m.msg_name = BAD;
    m.msg_namelen = 16;
    return recvmsg(dg[0], &m, 0);
}
CASE(sendmsg_hdr_bad, sendmsg(sk[0], BAD, 0))
CASE(sendmsg_hdr_none, sendmsg(sk[0], none, 0))
CASE(recvmsg_hdr_bad, recvmsg(sk[0], BAD, 0))
CASE(recvmsg_hdr_none, recvmsg(sk[0], none, 0))
CASE(recvmsg_empty_hdr_bad, recvmsg(sk_empty[0], BAD, 0))
static long sendmmsg_iov_bad(void) { struct mmsghdr m[2]; memset(m, 0, sizeof m); m[0].msg_hdr = msg_with(BAD); return sendmmsg(dg[0], m, 1, 0); }
static long recvmmsg_iov_bad(void) { struct mmsghdr m[2]; memset(m, 0, sizeof m); m[0].msg_hdr = msg_with(BAD); return recvmmsg(dg[0], m, 1, 0, NULL); }
static long recvmmsg_timeout_bad(void) {
    struct mmsghdr m[1];
    memset(m, 0, sizeof m);
    m[0].msg_hdr = msg_with(&good);
    m[0].msg_hdr.msg_iovlen = 1;
    return recvmmsg(dg[0], m, 1, 0, BAD);
}
CASE(sendmmsg_vec_bad, sendmmsg(dg[0], BAD, 2, 0))
CASE(sendmmsg_vec_none, sendmmsg(dg[0], none, 2, 0))
CASE(recvmmsg_vec_bad, recvmmsg(dg[0], BAD, 2, 0, NULL))
CASE(recvmmsg_vec_none, recvmmsg(dg[0], none, 2, 0, NULL))
CASE(recvmmsg_stream_vec_bad, recvmmsg(sk[0], BAD, 2, 0, NULL))

/* Addresses and their lengths. */
static long recvfrom_alen_bad(void) { struct sockaddr_un a; return recvfrom(dg[0], buf, 4, 0, (void *)&a, BAD); }
static long sendto_addr_bad(void) { int s = socket(AF_UNIX, SOCK_DGRAM, 0); return sendto(s, "x", 1, 0, BAD, 16); }
static long connect_addr_bad(void) { int s = socket(AF_INET, SOCK_STREAM, 0); return connect(s, BAD, 16); }
static long connect_addr_none(void) { int s = socket(AF_UNIX, SOCK_STREAM, 0); return connect(s, none, 16); }
static long accept_alen_bad(void) { struct sockaddr_un a; return accept(lst, (void *)&a, BAD); }
static long accept4_alen_none(void) { struct sockaddr_un a; return accept4(lst, (void *)&a, none, 0); }
static long accept_addr_bad(void) { socklen_t n = 16; return accept(lst, BAD, &n); }
CASE(getpeername_bad, getpeername(sk[0], BAD, BAD))
CASE(setsockopt_rcvtimeo_bad, setsockopt(sk[0], SOL_SOCKET, SO_RCVTIMEO, BAD, sizeof(struct timeval)))
CASE(setsockopt_sndtimeo_none, setsockopt(sk[0], SOL_SOCKET, SO_SNDTIMEO, none, sizeof(struct timeval)))
CASE(ioctl_fionbio_bad, ioctl(sk[0], FIONBIO, BAD))
CASE(socketpair_bad, socketpair(AF_UNIX, SOCK_STREAM, 0, BAD))
CASE(pipe_bad, pipe(BAD))
CASE(pipe2_none, pipe2(none, 0))

/* Waits: the poll family, epoll, select, sleeps, futexes, signals, children, Linux AIO. */
CASE(poll_fds_bad, poll(BAD, 1, 0))
CASE(poll_fds_none_wait, poll(none, 1, 100))
CASE(ppoll_fds_bad, ppoll(BAD, 1, NULL, NULL))
static long ppoll_mask_bad(void) { struct pollfd p = {pe[0], POLLIN, 0}; struct timespec t = {0, 1000000}; return ppoll(&p, 1, &t, BAD); }
CASE(select_set_bad, select(4, BAD, NULL, NULL, NULL))
static long select_set_none(void) { struct timeval t = {0, 1000}; return select(4, none, NULL, NULL, &t); }
static long pselect_mask_bad(void) { fd_set r; FD_ZERO(&r); FD_SET(pe[0], &r); struct timespec t = {0, 1000000}; return pselect(pe[0] + 1, &r, NULL, NULL, &t, BAD); }
static long epoll_events_bad(void) {
    int ep = epoll_create1(0);
    struct epoll_event e = {EPOLLIN, {0}};
    epoll_ctl(ep, EPOLL_CTL_ADD, sk[0], &e);
    return epoll_wait(ep, BAD, 1, 100);
}
static long epoll_events_none_idle(void) {
    int ep = epoll_create1(0);
    struct epoll_event e = {EPOLLIN, {0}};
    epoll_ctl(ep, EPOLL_CTL_ADD, pe[0], &e);
    return epoll_wait(ep, none, 1, 100);
}
static long epoll_ctl_event_bad(void) { int ep = epoll_create1(0); return epoll_ctl(ep, EPOLL_CTL_ADD, sk[0], BAD); }
static long epoll_pwait_mask_bad(void) { int ep = epoll_create1(0); return epoll_pwait(ep, (void *)buf, 1, 10, BAD); }
CASE(nanosleep_req_bad, nanosleep(BAD, NULL))
CASE(nanosleep_req_none, nanosleep(none, NULL))
CASE(clock_nanosleep_req_bad, -clock_nanosleep(CLOCK_MONOTONIC, 0, BAD, NULL))
CASE(futex_wait_bad, syscall(SYS_futex, BAD, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0))
CASE(futex_wait_none, syscall(SYS_futex, none, FUTEX_WAIT, 0, NULL, NULL, 0))
static long futex_timeout_bad(void) { static int w; return syscall(SYS_futex, &w, FUTEX_WAIT_PRIVATE, 0, BAD, NULL, 0); }
CASE(futex_wake_bad, syscall(SYS_futex, BAD, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0))
CASE(sigprocmask_old_bad, sigprocmask(SIG_BLOCK, NULL, BAD))
CASE(sigpending_bad, sigpending(BAD))
CASE(sigsuspend_bad, sigsuspend(BAD))
CASE(sigwait_set_bad, -sigwait(BAD, (int *)buf))
static long sigtimedwait_timeout_bad(void) { sigset_t s; sigemptyset(&s); sigaddset(&s, SIGUSR2); return sigtimedwait(&s, NULL, BAD); }
CASE(sigtimedwait_set_bad, sigtimedwait(BAD, NULL, NULL))
CASE(sigaltstack_bad, sigaltstack(BAD, NULL))
static long waitpid_status_bad(void) { pid_t c = fork(); if (c == 0) _exit(0); return waitpid(c, BAD, 0) == c ? 0 : -1; }
static long wait4_rusage_bad(void) { pid_t c = fork(); if (c == 0) _exit(0); return wait4(c, NULL, 0, BAD) == c ? 0 : -1; }
static long waitid_info_bad(void) { pid_t c = fork(); if (c == 0) _exit(0); return waitid(P_PID, c, BAD, WEXITED); }
static aio_context_t aio_ctx(void) {
    aio_context_t c = 0;
    return syscall(SYS_io_setup, 4, &c) ? 0 : c;
}
CASE(io_getevents_timeout_bad, syscall(SYS_io_getevents, aio_ctx(), 1, 1, buf, BAD))
static long io_getevents_events_bad(void) {
    aio_context_t c = aio_ctx();
    struct timespec t = {0, 20000000};
    return syscall(SYS_io_getevents, c, 1, 1, BAD, &t);
}
static long io_pgetevents_usig_bad(void) {
    aio_context_t c = aio_ctx();
    struct timespec t = {0, 20000000};
    return syscall(333 /* io_pgetevents */, c, 1, 1, buf, &t, BAD);
}
static long io_pgetevents_set_bad(void) {
    aio_context_t c = aio_ctx();
    struct timespec t = {0, 20000000};
    struct { void *set; size_t size; } u = {BAD, 8};
    return syscall(333, c, 1, 1, buf, &t, &u);
}

/* io_uring_enter waiting for a completion (none comes), with a bad wait argument. */
struct ext_arg { unsigned long long sigmask; unsigned sigmask_sz, min_wait_usec; unsigned long long ts; };
static long uring_enter(void *arg, size_t argsz, unsigned flags) {
    struct { unsigned sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd, resv[3]; unsigned long long off[10]; } p;
    memset(&p, 0, sizeof p);
    long fd = syscall(425 /* io_uring_setup */, 4, &p);
    if (fd < 0) return fd;
    return syscall(426 /* io_uring_enter */, fd, 0, 1, 1 /* GETEVENTS */ | flags, arg, argsz);
}
CASE(uring_enter_arg_bad, uring_enter(BAD, sizeof(struct ext_arg), 8 /* EXT_ARG */))
static long uring_enter_ts_bad(void) { struct ext_arg a = {0, 0, 0, (unsigned long long)BAD}; return uring_enter(&a, sizeof a, 8); }
static long uring_enter_mask_bad(void) { struct ext_arg a = {(unsigned long long)BAD, 8, 0, 0}; return uring_enter(&a, sizeof a, 8); }
CASE(uring_enter_sigmask_bad, uring_enter(BAD, 8, 0))
static long epoll_pwait2_timeout_bad(void) { int ep = epoll_create1(0); return epoll_pwait2(ep, (void *)buf, 1, BAD, NULL); }

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    only = argc > 1 ? argv[1] : NULL;
    none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (none == MAP_FAILED) return 2;
#define RUN(f) run_case(#f, f)
    RUN(readv_sock_bad); RUN(readv_sock_none); RUN(readv_sock_one_bad); RUN(readv_sock_base);
    RUN(readv_sock_empty_bad); RUN(readv_sock_empty_base); RUN(readv_pipe_bad); RUN(readv_pipe_none);
    RUN(readv_pipe_base); RUN(readv_pipe_empty_bad); RUN(readv_pipe_empty_none); RUN(readv_file_bad);
    RUN(readv_dgram_bad); RUN(writev_sock_bad); RUN(writev_sock_none); RUN(writev_sock_one_bad);
    RUN(writev_sock_base); RUN(writev_pipe_bad); RUN(writev_pipe_none); RUN(writev_pipe_base);
    RUN(writev_file_bad); RUN(writev_dgram_bad); RUN(preadv_file_bad); RUN(pwritev_file_bad);
    RUN(preadv2_pipe_bad); RUN(pwritev2_pipe_bad); RUN(preadv2_sock_bad); RUN(read_sock_bad);
    RUN(read_pipe_empty_bad); RUN(write_sock_bad); RUN(write_pipe_none);
    RUN(sendmsg_iov_bad); RUN(sendmsg_iov_none); RUN(recvmsg_iov_bad); RUN(recvmsg_iov_none);
    RUN(recvmsg_empty_iov_bad); RUN(recvmsg_dgram_iov_bad); RUN(recvmsg_name_bad);
    RUN(sendmsg_hdr_bad); RUN(sendmsg_hdr_none); RUN(recvmsg_hdr_bad); RUN(recvmsg_hdr_none);
    RUN(recvmsg_empty_hdr_bad); RUN(sendmmsg_iov_bad); RUN(recvmmsg_iov_bad); RUN(recvmmsg_timeout_bad);
    RUN(sendmmsg_vec_bad); RUN(sendmmsg_vec_none); RUN(recvmmsg_vec_bad); RUN(recvmmsg_vec_none);
    RUN(recvmmsg_stream_vec_bad);
    RUN(recvfrom_alen_bad); RUN(sendto_addr_bad); RUN(connect_addr_bad); RUN(connect_addr_none);
    RUN(accept_alen_bad); RUN(accept4_alen_none); RUN(accept_addr_bad); RUN(getpeername_bad);
    RUN(setsockopt_rcvtimeo_bad); RUN(setsockopt_sndtimeo_none); RUN(ioctl_fionbio_bad);
    RUN(socketpair_bad); RUN(pipe_bad); RUN(pipe2_none);
    RUN(poll_fds_bad); RUN(poll_fds_none_wait); RUN(ppoll_fds_bad);
    RUN(ppoll_mask_bad); RUN(select_set_bad); RUN(select_set_none);
    RUN(pselect_mask_bad); RUN(epoll_events_bad); RUN(epoll_events_none_idle);
    RUN(epoll_ctl_event_bad); RUN(epoll_pwait_mask_bad);
    RUN(nanosleep_req_bad); RUN(nanosleep_req_none); RUN(clock_nanosleep_req_bad);
    RUN(futex_wait_bad); RUN(futex_wait_none); RUN(futex_timeout_bad); RUN(futex_wake_bad);
    RUN(sigprocmask_old_bad);
    RUN(sigpending_bad); RUN(sigsuspend_bad);
    RUN(sigwait_set_bad); RUN(sigtimedwait_timeout_bad); RUN(sigtimedwait_set_bad); RUN(sigaltstack_bad);
    RUN(waitpid_status_bad); RUN(wait4_rusage_bad); RUN(waitid_info_bad);
    RUN(io_getevents_timeout_bad); RUN(io_getevents_events_bad); RUN(io_pgetevents_usig_bad);
    RUN(io_pgetevents_set_bad);
    RUN(uring_enter_arg_bad); RUN(uring_enter_ts_bad); RUN(uring_enter_mask_bad); RUN(uring_enter_sigmask_bad);
    RUN(epoll_pwait2_timeout_bad);
    return 0;
}
