/* fidelity_fuzz SEED NOPS [VERBOSE]: a seeded, single-threaded random-operation fuzzer of fd
 * calls, for differential testing (native vs. under the shim).
 *
 * It keeps a pool of descriptors of every kind (unix stream/dgram/seqpacket pairs, pipes,
 * eventfds, a TCP listener and connected TCP pairs, a connected UDP pair, an epoll fd, dups,
 * closed fds and reused numbers) and runs NOPS random operations on them. Each operation prints
 * one canonical line: op index, op, logical fd name, the arguments that matter, the result,
 * errno (by name on failure; on success whether it was left untouched), a checksum of bytes
 * read, revents. Never fd numbers, addresses, ports or timings, so the transcript is a pure
 * function of SEED natively, and must be the same under the shim.
 *
 * A call that may block is made only where it returns natively in bounded time: the fd is
 * non-blocking, MSG_DONTWAIT is set, a short SO_RCVTIMEO/SO_SNDTIMEO is set, the model knows it
 * fails at once (EBADF, EINVAL, ENOTSOCK...), or a zero-timeout poll printed just before ("probe")
 * says the direction is ready (with sizes bounded so a ready fd cannot block). Otherwise the op
 * prints "skip". TCP and UDP delivery on loopback is settled (SIOCOUTQ drained, peer readable)
 * after each send, so the transcript does not depend on softirq timing.
 *
 * Signal operations (a few percent) change the mask, send signals to the process or to the
 * thread itself (raise, pthread_kill, pthread_sigqueue, kill, sigqueue), switch actions, read
 * the pending set and take pending signals with a zero-timeout sigtimedwait; the handlers print
 * what they received, in the order they ran.
 *
 * VERBOSE=1 prints fd numbers on stderr (never in the transcript), for debugging. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SENT 12345 /* errno sentinel set before every call */
#define MAXOBJ 400
#define MAXSLOT 360
#define MAXLIVE 56
#define BIG (256 * 1024)
#define TCP_CAP 16384 /* max unread bytes per TCP direction: never fills a window */
#define UDP_CAP 24    /* max queued datagrams per UDP socket */
#define PEND_CAP 8    /* max not-yet-accepted connections (listen backlog is 16) */

enum kind { K_US, K_UD, K_UQ, K_PR, K_PW, K_EFD, K_TL, K_TCP, K_TNEW, K_UDP, K_EP, K_CLOSED };
static const char *kname[] = {"ustream", "udgram", "useqpkt", "pipe_r", "pipe_w", "eventfd",
                              "tcp_listen", "tcp", "tcp_unconn", "udp", "epoll", "closed"};

struct obj {
    int kind, refs, peer;       /* peer object, -1 if none/unknown */
    int rcvtimeo, sndtimeo;     /* a short timeout is set */
    int tx_unread;              /* TCP: bytes sent by this end not yet read by the peer */
    int udpq;                   /* UDP: datagrams queued for this end */
    int pend[MAXOBJ], npend;    /* listener: connectors not accepted yet, oldest first */
    int protect;                /* never drop the last ref (frees a port others may take) */
};
struct slot {
    char name[16];
    int obj; /* -1: closed */
    int fd;  /* the number (stale once closed) */
};

static struct obj objs[MAXOBJ];
static int nobj;
static struct slot slots[MAXSLOT];
static int nslot;
static int verbose, opno, listener, refuser; /* setup makes them slots 0 and 1 */
static struct sockaddr_in laddr, raddr; /* listener's and the bound-not-listening port */
static unsigned char buf[BIG], wbuf[BIG];
static uint64_t rng;
static unsigned serial, wctr;

static uint64_t rnd64(void) {
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}
static unsigned rnd(unsigned n) { return n ? (unsigned)(rnd64() % n) : 0; }
static int chance(unsigned pct) { return rnd(100) < pct; }

static void out(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}
static void endline(void) {
    putchar('\n');
    fflush(stdout);
}
static void die(const char *what) {
    printf("FATAL %s: %s\n", what, strerrorname_np(errno));
    fflush(stdout);
    exit(2);
}

/* ---- model ---- */

static int kind_of(int s) { return slots[s].obj < 0 ? K_CLOSED : objs[slots[s].obj].kind; }
static int is_sock(int k) { return k == K_US || k == K_UD || k == K_UQ || k == K_TL || k == K_TCP || k == K_TNEW || k == K_UDP; }
static int is_stream(int k) { return k == K_US || k == K_TCP; }
static int fd_live(int fd) {
    for (int i = 0; i < nslot; i++)
        if (slots[i].obj >= 0 && slots[i].fd == fd) return 1;
    return 0;
}
static int nlive(void) {
    int n = 0;
    for (int i = 0; i < nslot; i++) n += slots[i].obj >= 0;
    if (nslot >= MAXSLOT - 4 || nobj >= MAXOBJ - 4) return MAXLIVE; /* no room: as if full */
    return n;
}
/* The number used for a closed slot: its old number if nothing live has it, else one never
 * allocated. Either way EBADF natively. */
static int fd_of(int s) {
    if (slots[s].obj >= 0) return slots[s].fd;
    return fd_live(slots[s].fd) ? 600 + s : slots[s].fd;
}
static int new_obj(int kind) {
    if (nobj >= MAXOBJ) { errno = EMFILE; die("too many objects"); }
    memset(&objs[nobj], 0, sizeof objs[nobj]);
    objs[nobj].kind = kind;
    objs[nobj].peer = -1;
    return nobj++;
}
static int new_slot(const char *name, int obj, int fd) {
    if (nslot >= MAXSLOT) { errno = EMFILE; die("too many slots"); }
    snprintf(slots[nslot].name, sizeof slots[nslot].name, "%s", name);
    slots[nslot].obj = obj;
    slots[nslot].fd = fd;
    objs[obj].refs++;
    if (verbose) fprintf(stderr, "[%s = fd %d]\n", name, fd);
    return nslot++;
}
static const char *nm(int s) { return slots[s].name; }

static int nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

/* Wait (bounded) until TCP data/FIN sent on fd is acked, i.e. delivered to the peer. */
static void settle_tcp_send(int fd) {
    for (int i = 0; i < 200; i++) {
        int q = 0;
        struct pollfd p = {fd, 0, 0};
        if (ioctl(fd, SIOCOUTQ, &q) < 0 || q == 0) return;
        if (poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP))) return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}
/* Wait (bounded) until fd shows any of `ev` (or ERR/HUP). */
static void settle_poll(int fd, short ev) {
    struct pollfd p = {fd, ev, 0};
    poll(&p, 1, 200);
}
static int peer_fd(int o) {
    int p = objs[o].peer;
    if (p < 0 || objs[p].refs == 0) return -1;
    for (int i = 0; i < nslot; i++)
        if (slots[i].obj == p) return slots[i].fd;
    return -1;
}

/* The last ref of object o went away. */
static void obj_closed(int o) {
    int pf = peer_fd(o);
    if (objs[o].kind == K_TCP && pf >= 0) settle_poll(pf, POLLRDHUP);
}
/* Drop slot s's ref to its object (the fd was closed or replaced by the kernel). */
static void unref(int s) {
    int o = slots[s].obj;
    slots[s].obj = -1;
    if (o >= 0 && --objs[o].refs == 0) obj_closed(o);
}
/* A new fd appeared: if it reuses the stale number of a closed slot, fd_of handles it. */

/* ---- printing ---- */

static void p_res(long r, int e) {
    if (r < 0 && e == SENT)
        out(" -> %ld errno-unset", r);
    else if (r < 0)
        out(" -> -1 %s", strerrorname_np(e) ? strerrorname_np(e) : "E?");
    else if (e != SENT)
        out(" -> %ld ERRNO-CHANGED(%s)", r, strerrorname_np(e) ? strerrorname_np(e) : "?");
    else
        out(" -> %ld", r);
}
/* Like p_res for calls that return a new descriptor: its number is not printed. */
static void p_fdres(long r, int e) {
    if (r < 0) {
        p_res(r, e);
        return;
    }
    out(" -> fd");
    if (e != SENT) out(" ERRNO-CHANGED(%s)", strerrorname_np(e) ? strerrorname_np(e) : "?");
}
static void p_rev(short rev) {
    static const struct { short b; const char *n; } t[] = {
        {POLLIN, "IN"}, {POLLPRI, "PRI"}, {POLLOUT, "OUT"}, {POLLERR, "ERR"},
        {POLLHUP, "HUP"}, {POLLNVAL, "NVAL"}, {POLLRDHUP, "RDHUP"}};
    int any = 0;
    for (unsigned i = 0; i < sizeof t / sizeof t[0]; i++)
        if (rev & t[i].b) out("%s%s", any++ ? "|" : "", t[i].n);
    if (!any) out("0");
}
static void p_epev(uint32_t ev) {
    static const struct { uint32_t b; const char *n; } t[] = {
        {EPOLLIN, "IN"}, {EPOLLPRI, "PRI"}, {EPOLLOUT, "OUT"}, {EPOLLERR, "ERR"},
        {EPOLLHUP, "HUP"}, {EPOLLRDHUP, "RDHUP"}, {EPOLLET, "ET"}, {EPOLLONESHOT, "ONESHOT"}};
    int any = 0;
    for (unsigned i = 0; i < sizeof t / sizeof t[0]; i++)
        if (ev & t[i].b) out("%s%s", any++ ? "|" : "", t[i].n);
    if (!any) out("0");
}
static void p_msgflags(int f) {
    static const struct { int b; const char *n; } t[] = {
        {MSG_PEEK, "PEEK"}, {MSG_TRUNC, "TRUNC"}, {MSG_DONTWAIT, "DONTWAIT"},
        {MSG_WAITALL, "WAITALL"}, {MSG_NOSIGNAL, "NOSIGNAL"}, {MSG_WAITFORONE, "WAITFORONE"},
        {MSG_CTRUNC, "CTRUNC"}, {MSG_EOR, "EOR"}};
    int any = 0;
    for (unsigned i = 0; i < sizeof t / sizeof t[0]; i++)
        if (f & t[i].b) out("%s%s", any++ ? "|" : "", t[i].n);
    if (!any) out("0");
}
static uint32_t fnv(const unsigned char *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}
static void p_data(long r, size_t cap) {
    if (r <= 0) return;
    size_t n = (size_t)r < cap ? (size_t)r : cap;
    out(" data=%08x", fnv(buf, n));
}
/* The O_NONBLOCK view of the slot after the op. */
static void p_nb(int s) {
    if (slots[s].obj >= 0) out(" nb=%d", nonblock(slots[s].fd));
}
static void head(const char *op, int s) { out("%d %s %s(%s)", opno, op, nm(s), kname[kind_of(s)]); }
/* Flush the start of the line before a call, so a hang shows the op it hangs in. */
static void go(void) { fflush(stdout); }

/* ---- random arguments ---- */

static size_t rsize(void) {
    unsigned r = rnd(100);
    if (r < 6) return 0;
    if (r < 35) return 1 + rnd(16);
    if (r < 65) return 1 + rnd(512);
    if (r < 90) return 1 + rnd(4096);
    if (r < 97) return 1 + rnd(65536);
    return 1 + rnd(BIG);
}
/* Split n bytes of base into 1..4 iovecs (some may be empty). */
static int split(struct iovec *iov, unsigned char *base, size_t n) {
    int cnt = 1 + rnd(4);
    size_t off = 0;
    for (int i = 0; i < cnt; i++) {
        size_t len = i == cnt - 1 ? n - off : (n - off ? rnd((unsigned)(n - off) + 1) : 0);
        iov[i].iov_base = base + off;
        iov[i].iov_len = len;
        off += len;
    }
    return cnt;
}
static void fill(size_t n, int efd) {
    for (size_t i = 0; i < n; i++)
        wbuf[i] = efd ? (i % 8 == 0 ? (unsigned char)(1 + wctr % 9) : 0) : (unsigned char)(wctr * 31 + i * 7);
    wctr++;
}
static int pick_slot(void) {
    for (int tries = 0; tries < 8; tries++) {
        int s = rnd(nslot);
        if (slots[s].obj >= 0 || chance(25)) return s;
    }
    return rnd(nslot);
}
static int pick_kind(int k) {
    int c = 0, r = -1;
    for (int i = 0; i < nslot; i++)
        if (kind_of(i) == k && rnd(++c) == 0) r = i;
    return r;
}

/* Probe readiness with a zero-timeout poll, printed. Returns revents. */
static short probe(int s, short ev, int *avail) {
    struct pollfd p = {fd_of(s), ev, 0};
    int e, r;
    go(), errno = SENT, r = poll(&p, 1, 0), e = errno;
    out("%d probe %s ", opno, nm(s));
    p_rev(ev);
    p_res(r, e);
    out(" rev=");
    p_rev(p.revents);
    if (avail) {
        *avail = 0;
        if (ioctl(fd_of(s), FIONREAD, avail) < 0) *avail = 0;
        out(" avail=%d", *avail);
    }
    endline();
    return p.revents;
}
static void skip(const char *op, int s, const char *why) {
    head(op, s);
    out(" skip (%s)", why);
    endline();
}

/* ---- reads ---- */

enum { R_READ, R_READV, R_RECV, R_RECVFROM, R_RECVMSG, R_RECVMMSG, R_EFDREAD, R_N };
static const char *rname[] = {"read", "readv", "recv", "recvfrom", "recvmsg", "recvmmsg", "eventfd_read"};

/* Does this read return at once natively, whatever the fd's readiness? */
static int read_immediate(int k, int v, size_t n) {
    int plain = v == R_READ || v == R_READV || v == R_EFDREAD;
    if (k == K_CLOSED || k == K_EP || k == K_TL || k == K_TNEW) return 1;
    if (!plain && !is_sock(k)) return 1;   /* ENOTSOCK */
    if (plain && k == K_PW) return 1;      /* EBADF */
    if (k == K_EFD && n < 8) return 1;     /* EINVAL */
    if ((v == R_READ || v == R_READV) && n == 0 && k != K_EFD) return 1; /* zero-length read */
    return 0;
}

static void account_read(int s, long got) {
    int o = slots[s].obj;
    if (o < 0 || got <= 0) return;
    if (objs[o].kind == K_TCP && objs[o].peer >= 0) {
        int p = objs[o].peer;
        objs[p].tx_unread -= got;
        if (objs[p].tx_unread < 0) objs[p].tx_unread = 0;
    }
}

static void op_read(void) {
    int s = pick_slot(), k = kind_of(s), fd = fd_of(s);
    int v = rnd(R_N);
    if (v == R_EFDREAD && k != K_EFD && chance(70)) v = R_READ;
    size_t n = v == R_EFDREAD ? 8 : rsize();
    if (k == K_EFD && v != R_EFDREAD && chance(60)) n = 8 + rnd(8);
    int flags = 0;
    if (v >= R_RECV && v <= R_RECVMMSG) {
        if (chance(20)) flags |= MSG_PEEK;
        if (chance(15)) flags |= MSG_TRUNC;
        if (chance(30)) flags |= MSG_DONTWAIT;
        if (v != R_RECVMMSG && chance(20)) flags |= MSG_WAITALL;
        if (v == R_RECVMMSG && chance(40)) flags |= MSG_WAITFORONE;
    }
    unsigned vlen = v == R_RECVMMSG ? 1 + rnd(3) : 1;
    int timeo = slots[s].obj >= 0 && objs[slots[s].obj].rcvtimeo;
    int bounded = read_immediate(k, v, n) || (flags & MSG_DONTWAIT) || timeo || nonblock(fd);
    if (!bounded) {
        int avail = 0;
        short rev = probe(s, POLLIN | POLLRDHUP, &avail);
        if (!(rev & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
            skip(rname[v], s, "would block");
            return;
        }
        if (n > BIG / 4) n = BIG / 4;
        /* MSG_WAITALL on a stream waits for all n bytes unless EOF/error is already there. */
        if ((flags & MSG_WAITALL) && is_stream(k) && (size_t)avail < n &&
            !(rev & (POLLRDHUP | POLLHUP | POLLERR)))
            flags &= ~MSG_WAITALL;
        /* recvmmsg waits for every message unless MSG_WAITFORONE. */
        if (v == R_RECVMMSG && vlen > 1) flags |= MSG_WAITFORONE;
    }
    memset(buf, 0xa5, n < BIG ? n + 1 : n);
    head(rname[v], s);
    out(" n=%zu flags=", n);
    p_msgflags(flags);
    long r;
    int e;
    struct iovec iov[4];
    if (v == R_READ) {
        go(), errno = SENT, r = read(fd, buf, n), e = errno;
        p_res(r, e), p_data(r, n);
    } else if (v == R_READV) {
        int cnt = split(iov, buf, n);
        out(" iov=%d", cnt);
        go(), errno = SENT, r = readv(fd, iov, cnt), e = errno;
        p_res(r, e), p_data(r, n);
    } else if (v == R_RECV) {
        go(), errno = SENT, r = recv(fd, buf, n, flags), e = errno;
        p_res(r, e), p_data(r, n);
    } else if (v == R_RECVFROM) {
        struct sockaddr_storage a;
        socklen_t alen = sizeof a;
        memset(&a, 0, sizeof a);
        go(), errno = SENT, r = recvfrom(fd, buf, n, flags, (struct sockaddr *)&a, &alen), e = errno;
        p_res(r, e), p_data(r, n);
        if (r >= 0) out(" alen=%u fam=%d", (unsigned)alen, alen ? a.ss_family : -1);
    } else if (v == R_RECVMSG) {
        struct sockaddr_storage a;
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_name = &a, m.msg_namelen = sizeof a;
        m.msg_iov = iov, m.msg_iovlen = split(iov, buf, n);
        out(" iov=%zu", (size_t)m.msg_iovlen);
        go(), errno = SENT, r = recvmsg(fd, &m, flags), e = errno;
        p_res(r, e), p_data(r, n);
        if (r >= 0) {
            out(" namelen=%u mflags=", (unsigned)m.msg_namelen);
            p_msgflags(m.msg_flags);
        }
    } else if (v == R_RECVMMSG) {
        struct mmsghdr mm[3];
        struct iovec miov[3];
        size_t each = n / vlen;
        memset(mm, 0, sizeof mm);
        for (unsigned i = 0; i < vlen; i++) {
            miov[i].iov_base = buf + i * each, miov[i].iov_len = each;
            mm[i].msg_hdr.msg_iov = &miov[i], mm[i].msg_hdr.msg_iovlen = 1;
        }
        out(" vlen=%u each=%zu", vlen, each);
        go(), errno = SENT, r = recvmmsg(fd, mm, vlen, flags, NULL), e = errno;
        p_res(r, e);
        long tot = 0;
        for (long i = 0; i < r; i++) {
            out(" [%u ", mm[i].msg_len);
            p_msgflags(mm[i].msg_hdr.msg_flags);
            out(" %08x]", fnv(buf + i * each, mm[i].msg_len < each ? mm[i].msg_len : each));
            tot += mm[i].msg_len;
        }
        if (!(flags & MSG_PEEK)) account_read(s, tot);
        if (r > 0 && k == K_UDP && !(flags & MSG_PEEK)) {
            objs[slots[s].obj].udpq -= (int)r;
            if (objs[slots[s].obj].udpq < 0) objs[slots[s].obj].udpq = 0;
        }
        p_nb(s);
        endline();
        return;
    } else {
        eventfd_t val = 0;
        go(), errno = SENT, r = eventfd_read(fd, &val), e = errno;
        p_res(r, e);
        if (r == 0) out(" val=%llu", (unsigned long long)val);
        p_nb(s);
        endline();
        return;
    }
    if (r > 0 && !(flags & MSG_PEEK)) {
        account_read(s, r);
        if (k == K_UDP && objs[slots[s].obj].udpq > 0) objs[slots[s].obj].udpq--;
    }
    p_nb(s);
    endline();
}

/* ---- writes ---- */

enum { W_WRITE, W_WRITEV, W_SEND, W_SENDTO, W_SENDMSG, W_SENDMMSG, W_EFDWRITE, W_N };
static const char *wname[] = {"write", "writev", "send", "sendto", "sendmsg", "sendmmsg", "eventfd_write"};

static int write_immediate(int k, int v) {
    int plain = v == W_WRITE || v == W_WRITEV || v == W_EFDWRITE;
    if (k == K_CLOSED || k == K_EP || k == K_TL || k == K_TNEW || k == K_UDP) return 1;
    if (!plain && !is_sock(k)) return 1; /* ENOTSOCK */
    if (plain && k == K_PR) return 1;    /* EBADF */
    if (k == K_EFD) return 1;            /* small counts never overflow; short writes EINVAL */
    return 0;
}

static void after_send(int s, long sent) {
    int o = slots[s].obj;
    if (o < 0 || sent <= 0) return;
    if (objs[o].kind == K_TCP) {
        objs[o].tx_unread += sent;
        settle_tcp_send(slots[s].fd);
    } else if (objs[o].kind == K_UDP && objs[o].peer >= 0) {
        int p = objs[o].peer, pf = peer_fd(o);
        if (pf >= 0 && objs[p].udpq++ == 0) settle_poll(pf, POLLIN);
    }
}

static void op_write(void) {
    int s = pick_slot(), k = kind_of(s), fd = fd_of(s), o = slots[s].obj;
    int v = rnd(W_N);
    if (v == W_EFDWRITE && k != K_EFD && chance(70)) v = W_WRITE;
    size_t n = rsize();
    if (k == K_EFD && chance(70)) n = 8 * (1 + rnd(2));
    if (k == K_UDP) n = chance(3) ? 70000 : n % 1500;
    if (k == K_UDP && objs[o].udpq >= 0 && objs[o].peer >= 0 && objs[objs[o].peer].udpq >= UDP_CAP) {
        skip(wname[v], s, "udp queue cap");
        return;
    }
    if (k == K_TCP) {
        int room = TCP_CAP - objs[o].tx_unread;
        if (n > (size_t)room) n = room > 0 ? rnd(room + 1) : 0;
    }
    int flags = 0;
    if (v >= W_SEND && v <= W_SENDMMSG) {
        if (chance(30)) flags |= MSG_DONTWAIT;
        if (chance(50)) flags |= MSG_NOSIGNAL;
    }
    int timeo = o >= 0 && objs[o].sndtimeo;
    int bounded = write_immediate(k, v) || (flags & MSG_DONTWAIT) || nonblock(fd);
    if (!bounded && timeo && k != K_TCP) bounded = 1; /* returns after the timeout */
    if (!bounded) {
        short rev = probe(s, POLLOUT, NULL);
        if (!(rev & (POLLOUT | POLLHUP | POLLERR | POLLNVAL))) {
            skip(wname[v], s, "would block");
            return;
        }
        size_t cap = k == K_PW ? 4096 : 16384; /* fits in a pipe slot / a quarter sndbuf */
        if (n > cap) n = rnd(cap + 1);
    }
    fill(n, k == K_EFD);
    head(wname[v], s);
    out(" n=%zu flags=", n);
    p_msgflags(flags);
    long r;
    int e;
    struct iovec iov[4];
    if (v == W_WRITE) {
        go(), errno = SENT, r = write(fd, wbuf, n), e = errno;
    } else if (v == W_WRITEV) {
        int cnt = split(iov, wbuf, n);
        out(" iov=%d", cnt);
        go(), errno = SENT, r = writev(fd, iov, cnt), e = errno;
    } else if (v == W_SEND) {
        go(), errno = SENT, r = send(fd, wbuf, n, flags), e = errno;
    } else if (v == W_SENDTO) {
        struct sockaddr_un none = {AF_UNIX, "\0greenshim-fuzz-nowhere"};
        const struct sockaddr *to = NULL;
        socklen_t tolen = 0;
        if ((k == K_US || k == K_UD || k == K_UQ) && chance(40)) {
            to = (const struct sockaddr *)&none, tolen = sizeof none;
            out(" to=unix-nowhere");
        } else if (k == K_TCP && chance(40)) {
            to = (const struct sockaddr *)&laddr, tolen = sizeof laddr;
            out(" to=listener");
        }
        go(), errno = SENT, r = sendto(fd, wbuf, n, flags, to, tolen), e = errno;
    } else if (v == W_SENDMSG) {
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = iov, m.msg_iovlen = split(iov, wbuf, n);
        out(" iov=%zu", (size_t)m.msg_iovlen);
        go(), errno = SENT, r = sendmsg(fd, &m, flags), e = errno;
    } else if (v == W_SENDMMSG) {
        unsigned vlen = 1 + rnd(3);
        struct mmsghdr mm[3];
        struct iovec miov[3];
        size_t each = n / vlen;
        memset(mm, 0, sizeof mm);
        for (unsigned i = 0; i < vlen; i++) {
            miov[i].iov_base = wbuf + i * each, miov[i].iov_len = each;
            mm[i].msg_hdr.msg_iov = &miov[i], mm[i].msg_hdr.msg_iovlen = 1;
        }
        out(" vlen=%u each=%zu", vlen, each);
        go(), errno = SENT, r = sendmmsg(fd, mm, vlen, flags), e = errno;
        p_res(r, e);
        long tot = 0;
        for (long i = 0; i < r; i++) out(" [%u]", mm[i].msg_len), tot += mm[i].msg_len;
        if (k == K_UDP) {
            for (long i = 0; i < r; i++) after_send(s, 1); /* one datagram each */
        } else {
            after_send(s, tot);
        }
        p_nb(s);
        endline();
        return;
    } else {
        eventfd_t val = chance(5) ? ~0ull : 1 + rnd(9);
        out(" val=%llu", (unsigned long long)val);
        go(), errno = SENT, r = eventfd_write(fd, val), e = errno;
        p_res(r, e);
        if (r == 0) after_send(s, 8);
        p_nb(s);
        endline();
        return;
    }
    p_res(r, e);
    after_send(s, r);
    p_nb(s);
    endline();
}

/* ---- accept / connect / shutdown ---- */

/* Link a freshly accepted fd to the oldest pending connector. */
static void accepted(int nfd) {
    int l = slots[listener].obj, a = new_obj(K_TCP);
    char name[16];
    if (objs[l].npend > 0) {
        int c = objs[l].pend[0];
        memmove(objs[l].pend, objs[l].pend + 1, --objs[l].npend * sizeof(int));
        objs[a].peer = c, objs[c].peer = a;
    }
    snprintf(name, sizeof name, "ta%u", serial++);
    new_slot(name, a, nfd);
}

static void op_accept(void) {
    int s = chance(50) ? listener : pick_slot();
    int k = kind_of(s), fd = fd_of(s), o = slots[s].obj;
    int v = rnd(3); /* 0 accept, 1 accept4, 2 accept4 with bad flags */
    int fl = 0;
    if (v == 1) fl = (chance(50) ? SOCK_NONBLOCK : 0) | (chance(50) ? SOCK_CLOEXEC : 0);
    if (v == 2) fl = 0x1;
    int bounded = k != K_TL || v == 2 || objs[o].rcvtimeo || nonblock(fd);
    if (!bounded && !(probe(s, POLLIN, NULL) & (POLLIN | POLLERR | POLLHUP | POLLNVAL))) {
        skip("accept", s, "would block");
        return;
    }
    if (nlive() >= MAXLIVE && k == K_TL) {
        skip("accept", s, "pool full");
        return;
    }
    struct sockaddr_storage a;
    socklen_t alen = sizeof a;
    int r, e;
    head(v ? "accept4" : "accept", s);
    if (v) out(" flags=%s%s%s", fl & SOCK_NONBLOCK ? "NONBLOCK" : "", fl & SOCK_CLOEXEC ? "|CLOEXEC" : "", fl == 0x1 ? "BAD" : "");
    go(), errno = SENT;
    r = v ? accept4(fd, (struct sockaddr *)&a, &alen, fl) : accept(fd, (struct sockaddr *)&a, &alen);
    e = errno;
    p_fdres(r, e);
    if (r >= 0) {
        out(" alen=%u fam=%d", (unsigned)alen, a.ss_family);
        if (k == K_TL) {
            accepted(r);
            out(" new=%s", nm(nslot - 1));
            p_nb(nslot - 1);
        } else {
            close(r); /* cannot happen natively */
        }
    }
    p_nb(s);
    endline();
}

static void op_connect(void) {
    int s, r, e, nb = 0, tgt_listener = chance(75);
    const struct sockaddr_in *to = tgt_listener ? &laddr : &raddr;
    int l = slots[listener].obj;
    if (tgt_listener && objs[l].npend >= PEND_CAP) {
        skip("connect", listener, "backlog cap");
        return;
    }
    if (chance(50) && nlive() < MAXLIVE) { /* a new connector */
        nb = chance(50);
        int fd = socket(AF_INET, SOCK_STREAM | (nb ? SOCK_NONBLOCK : 0), 0);
        if (fd < 0) die("socket");
        char name[16];
        snprintf(name, sizeof name, "tc%u", serial++);
        s = new_slot(name, new_obj(K_TNEW), fd);
        out("%d socket %s nb=%d", opno, nm(s), nb);
        endline();
    } else {
        s = pick_slot();
        if (kind_of(s) == K_UDP) { /* would retarget the pair to a port others may own */
            skip("connect", s, "udp");
            return;
        }
        if (!tgt_listener && slots[s].obj >= 0 && slots[s].obj == slots[refuser].obj) {
            skip("connect", s, "self-connect"); /* would make a connected socket */
            return;
        }
    }
    int k = kind_of(s), fd = fd_of(s);
    head("connect", s);
    out(" to=%s", tgt_listener ? "listener" : "refuser");
    go(), errno = SENT, r = connect(fd, (const struct sockaddr *)to, sizeof *to), e = errno;
    p_res(r, e);
    if (k == K_TNEW && (r == 0 || e == EINPROGRESS) && tgt_listener) {
        int o = slots[s].obj, first = objs[l].npend == 0;
        objs[o].kind = K_TCP;
        objs[l].pend[objs[l].npend++] = o;
        if (first) settle_poll(slots[listener].fd, POLLIN);
        settle_tcp_send(fd);
    }
    p_nb(s);
    endline();
}

static void op_shutdown(void) {
    int s = pick_slot(), k = kind_of(s), fd = fd_of(s), r, e;
    static const int hows[] = {SHUT_RD, SHUT_WR, SHUT_RDWR, 7};
    static const char *hn[] = {"RD", "WR", "RDWR", "BAD"};
    int h = rnd(chance(5) ? 4 : 3);
    if (k == K_TL) {
        skip("shutdown", s, "listener");
        return;
    }
    head("shutdown", s);
    out(" how=%s", hn[h]);
    go(), errno = SENT, r = shutdown(fd, hows[h]), e = errno;
    p_res(r, e);
    if (r == 0 && k == K_TCP && hows[h] != SHUT_RD) settle_tcp_send(fd);
    p_nb(s);
    endline();
}

/* ---- descriptors: dup, close, reuse, flags ---- */

static int can_drop(int s) {
    int o = slots[s].obj;
    if (s == listener || s == refuser) return 0; /* these names must keep their objects */
    return o < 0 || !objs[o].protect || objs[o].refs > 1;
}

static void op_dup(void) {
    int s = pick_slot(), fd = fd_of(s), r, e, v = rnd(5);
    static const char *vn[] = {"dup", "dup2", "dup3", "F_DUPFD_CLOEXEC", "dup2-self"};
    if (nlive() >= MAXLIVE && v != 4) {
        skip(vn[v], s, "pool full");
        return;
    }
    int t = -1;
    if (v == 1 || v == 2) {
        t = pick_slot();
        if (!can_drop(t)) {
            skip(vn[v], t, "protected");
            return;
        }
    }
    head(vn[v], s);
    if (t >= 0) out(" onto=%s%s", nm(t), t == s ? "(self)" : "");
    int tfd = t >= 0 ? fd_of(t) : -1;
    go(), errno = SENT;
    if (v == 0) r = dup(fd);
    else if (v == 1) r = dup2(fd, tfd);
    else if (v == 2) r = dup3(fd, tfd, O_CLOEXEC);
    else if (v == 3) r = fcntl(fd, F_DUPFD_CLOEXEC, chance(50) ? 0 : 100);
    else r = dup2(fd, fd);
    e = errno;
    p_fdres(r, e);
    if (r >= 0 && v != 4 && !(t >= 0 && slots[t].obj == slots[s].obj && fd == tfd)) {
        if (t >= 0) {
            if (slots[t].obj != slots[s].obj || slots[t].fd != r) {
                if (slots[t].obj >= 0) unref(t);
                slots[t].obj = slots[s].obj;
                slots[t].fd = r;
                objs[slots[s].obj].refs++;
            }
        } else {
            char name[16];
            snprintf(name, sizeof name, "d%u", serial++);
            new_slot(name, slots[s].obj, r);
            out(" new=%s", nm(nslot - 1));
        }
    }
    p_nb(s);
    endline();
}

static void op_close(void) {
    int s = pick_slot(), r, e;
    if (!can_drop(s)) {
        skip("close", s, "protected");
        return;
    }
    head("close", s);
    int fd = fd_of(s);
    go(), errno = SENT, r = close(fd), e = errno;
    p_res(r, e);
    endline();
    if (slots[s].obj >= 0) unref(s);
}

static void op_flags(void) {
    int s = pick_slot(), fd = fd_of(s), r, e, v = rnd(5), arg = 0;
    static const char *vn[] = {"F_GETFL", "F_SETFL^NONBLOCK", "FIONBIO", "FIONREAD", "F_GETFD"};
    head(vn[v], s);
    go(), errno = SENT;
    if (v == 0 || v == 4) {
        r = fcntl(fd, v ? F_GETFD : F_GETFL), e = errno;
        p_res(r, e);
        if (r >= 0 && !v) out(" acc=%d nb=%d", r & O_ACCMODE, !!(r & O_NONBLOCK));
        if (r >= 0 && v) out(" cloexec=%d", r & FD_CLOEXEC);
    } else if (v == 1) {
        int fl = fcntl(fd, F_GETFL);
        go(), errno = SENT, r = fcntl(fd, F_SETFL, (fl < 0 ? 0 : fl) ^ O_NONBLOCK), e = errno;
        p_res(r, e);
    } else if (v == 2) {
        arg = rnd(2);
        out(" on=%d", arg);
        r = ioctl(fd, FIONBIO, &arg), e = errno;
        p_res(r, e);
    } else {
        arg = -7;
        r = ioctl(fd, FIONREAD, &arg), e = errno;
        p_res(r, e);
        if (r >= 0) out(" val=%d", arg);
    }
    p_nb(s);
    endline();
}

static void op_timeo(void) {
    int s = pick_slot(), fd = fd_of(s), r, e, snd = rnd(2), on = chance(70);
    struct timeval tv = {0, on ? 20000 + 1000 * (int)rnd(31) : 0};
    head(snd ? "SO_SNDTIMEO" : "SO_RCVTIMEO", s);
    out(" %s", on ? "short" : "off");
    go(), errno = SENT, r = setsockopt(fd, SOL_SOCKET, snd ? SO_SNDTIMEO : SO_RCVTIMEO, &tv, sizeof tv), e = errno;
    p_res(r, e);
    if (r == 0 && slots[s].obj >= 0) {
        if (snd) objs[slots[s].obj].sndtimeo = on;
        else objs[slots[s].obj].rcvtimeo = on;
    }
    endline();
}

/* ---- readiness: poll, ppoll, select, epoll ---- */

static void op_poll(void) {
    int v = rnd(3), cnt = 1 + rnd(6), ss[6], r, e;
    static const short evs[] = {POLLIN, POLLOUT, POLLIN | POLLOUT, POLLIN | POLLRDHUP, POLLPRI, 0};
    struct pollfd p[6];
    for (int i = 0; i < cnt; i++) {
        ss[i] = pick_slot();
        p[i].fd = chance(5) ? -1 : fd_of(ss[i]);
        p[i].events = evs[rnd(6)];
        p[i].revents = 0;
    }
    out("%d %s", opno, v == 0 ? "poll" : v == 1 ? "ppoll" : "select");
    if (v < 2) {
        struct timespec ts = {0, 0};
        for (int i = 0; i < cnt; i++) {
            out(" %s:", p[i].fd < 0 ? "neg" : nm(ss[i]));
            p_rev(p[i].events);
        }
        go(), errno = SENT, r = v ? ppoll(p, cnt, &ts, NULL) : poll(p, cnt, 0), e = errno;
        p_res(r, e);
        for (int i = 0; i < cnt; i++) {
            out(" %s=", p[i].fd < 0 ? "neg" : nm(ss[i]));
            p_rev(p[i].revents);
        }
    } else {
        fd_set rs, ws;
        struct timeval tv = {0, 0};
        int maxfd = -1;
        FD_ZERO(&rs);
        FD_ZERO(&ws);
        for (int i = 0; i < cnt; i++) {
            /* A closed number beyond the kernel's fd table (600+: the placeholder of a closed
             * slot whose number was reused) is ignored by select natively but EBADF under the
             * shim, whose own high fds enlarge the table: a documented limitation, pinned by
             * tests/edges_io.rs, not fuzzed. */
            if (p[i].fd < 0 || p[i].fd >= 600) continue;
            int rd = p[i].events & POLLIN, wr = p[i].events & POLLOUT;
            if (rd) FD_SET(p[i].fd, &rs);
            if (wr) FD_SET(p[i].fd, &ws);
            if ((rd || wr) && p[i].fd > maxfd) maxfd = p[i].fd;
            out(" %s:%s%s", nm(ss[i]), rd ? "r" : "", wr ? "w" : "");
        }
        go(), errno = SENT, r = select(maxfd + 1, &rs, &ws, NULL, &tv), e = errno;
        p_res(r, e);
        for (int i = 0; r > 0 && i < cnt; i++) {
            if (p[i].fd < 0 || p[i].fd >= 600) continue;
            int rd = FD_ISSET(p[i].fd, &rs), wr = FD_ISSET(p[i].fd, &ws);
            if (rd || wr) out(" %s=%s%s", nm(ss[i]), rd ? "r" : "", wr ? "w" : "");
        }
    }
    endline();
}

static void op_epoll(void) {
    int ep = pick_kind(K_EP);
    if (ep < 0 || chance(10)) ep = pick_slot();
    int epfd = fd_of(ep), r, e;
    if (chance(55)) {
        static const int ops[] = {EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL};
        static const char *on[] = {"ADD", "MOD", "DEL"};
        static const uint32_t evs[] = {EPOLLIN, EPOLLOUT, EPOLLIN | EPOLLOUT, EPOLLIN | EPOLLET,
                                       EPOLLIN | EPOLLRDHUP, EPOLLOUT | EPOLLONESHOT, EPOLLIN | EPOLLOUT | EPOLLET};
        int t = pick_slot(), op = rnd(3);
        struct epoll_event ev = {evs[rnd(7)], {.u64 = (uint64_t)t}};
        head("epoll_ctl", ep);
        out(" %s %s ", on[op], nm(t));
        p_epev(ev.events);
        go(), errno = SENT, r = epoll_ctl(epfd, ops[op], fd_of(t), &ev), e = errno;
        p_res(r, e);
    } else {
        struct epoll_event evs[8];
        int max = 1 + rnd(8), pw = rnd(2);
        head(pw ? "epoll_pwait" : "epoll_wait", ep);
        out(" max=%d", max);
        go(), errno = SENT;
        r = pw ? epoll_pwait(epfd, evs, max, 0, NULL) : epoll_wait(epfd, evs, max, 0);
        e = errno;
        p_res(r, e);
        for (int i = 0; i < r; i++) {
            int t = (int)evs[i].data.u64;
            out(" %s=", t >= 0 && t < nslot ? nm(t) : "?");
            p_epev(evs[i].events);
        }
    }
    endline();
}

/* ---- creating objects ---- */

static void pair_slots(const char *pfx, int kind_a, int kind_b, int fa, int fb) {
    char na[16], nb[16];
    unsigned id = serial++;
    int a = new_obj(kind_a), b = new_obj(kind_b);
    objs[a].peer = b, objs[b].peer = a;
    snprintf(na, sizeof na, "%s%ua", pfx, id);
    snprintf(nb, sizeof nb, "%s%ub", pfx, id);
    new_slot(na, a, fa);
    new_slot(nb, b, fb);
    out("%d new %s %s %s(%s) %s(%s) nb=%d,%d", opno, pfx, kname[kind_a], na, kname[kind_a], nb,
        kname[kind_b], nonblock(fa), nonblock(fb));
    endline();
}

static void new_tcp_pair(void) {
    int l = slots[listener].obj;
    if (objs[l].npend > 0) return; /* the accept below must get our connection */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&laddr, sizeof laddr) < 0) die("tcp connect");
    int lnb = nonblock(slots[listener].fd);
    int a = lnb ? -1 : accept(slots[listener].fd, NULL, NULL);
    if (lnb) {
        struct pollfd p = {slots[listener].fd, POLLIN, 0};
        poll(&p, 1, 1000);
        a = accept(slots[listener].fd, NULL, NULL);
    }
    if (a < 0) die("tcp accept");
    pair_slots("t", K_TCP, K_TCP, c, a);
}

static void new_udp_pair(void) {
    int u[2];
    struct sockaddr_in ad[2];
    for (int i = 0; i < 2; i++) {
        socklen_t len = sizeof ad[i];
        u[i] = socket(AF_INET, SOCK_DGRAM, 0);
        memset(&ad[i], 0, sizeof ad[i]);
        ad[i].sin_family = AF_INET;
        ad[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (u[i] < 0 || bind(u[i], (struct sockaddr *)&ad[i], sizeof ad[i]) < 0 ||
            getsockname(u[i], (struct sockaddr *)&ad[i], &len) < 0)
            die("udp");
    }
    if (connect(u[0], (struct sockaddr *)&ad[1], sizeof ad[1]) < 0 ||
        connect(u[1], (struct sockaddr *)&ad[0], sizeof ad[0]) < 0)
        die("udp connect");
    pair_slots("u", K_UDP, K_UDP, u[0], u[1]);
    objs[nobj - 1].protect = objs[nobj - 2].protect = 1;
}

static int new_object(int which) {
    int fds[2], nb = chance(30) ? SOCK_NONBLOCK : 0;
    switch (which) {
    case 0: case 1: case 2: {
        static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
        static const char *pf[] = {"us", "ud", "uq"};
        static const int kinds[] = {K_US, K_UD, K_UQ};
        if (socketpair(AF_UNIX, types[which] | nb, 0, fds) < 0) die("socketpair");
        pair_slots(pf[which], kinds[which], kinds[which], fds[0], fds[1]);
        return 0;
    }
    case 3:
        if (pipe2(fds, nb ? O_NONBLOCK : 0) < 0) die("pipe");
        pair_slots("p", K_PR, K_PW, fds[0], fds[1]);
        return 0;
    case 4: case 5: {
        int sem = which == 5, fd = eventfd(rnd(3), (sem ? EFD_SEMAPHORE : 0) | (nb ? EFD_NONBLOCK : 0));
        char name[16];
        if (fd < 0) die("eventfd");
        snprintf(name, sizeof name, "%s%u", sem ? "es" : "ef", serial++);
        new_slot(name, new_obj(K_EFD), fd);
        out("%d new eventfd %s sem=%d nb=%d", opno, name, sem, nonblock(fd));
        endline();
        return 0;
    }
    case 6:
        new_tcp_pair();
        return 0;
    default: {
        int fd = epoll_create1(chance(50) ? EPOLL_CLOEXEC : 0);
        char name[16];
        if (fd < 0) die("epoll_create1");
        snprintf(name, sizeof name, "ep%u", serial++);
        new_slot(name, new_obj(K_EP), fd);
        out("%d new epoll %s", opno, name);
        endline();
        return 0;
    }
    }
}

/* ---- signals: a handful sent only by this thread to itself or its process, so that every
 * delivery happens at a defined point (before the sending call returns, or when unblocked). */
static int fsigs[4];
static const char *fsname[] = {"USR1", "USR2", "RT0", "RT1"};
static int fsig_index(int sig) {
    for (int i = 0; i < 4; i++)
        if (fsigs[i] == sig) return i;
    return -1;
}
static void on_fsig(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    int i = fsig_index(sig);
    printf(" [h %s code=%d val=%d]", i < 0 ? "?" : fsname[i], si->si_code, si->si_code == SI_QUEUE ? si->si_value.sival_int : 0);
}
static void p_fset(const sigset_t *s) {
    out(" {");
    for (int i = 0; i < 4; i++)
        if (sigismember(s, fsigs[i])) out(" %s", fsname[i]);
    out(" }");
}
static void random_fset(sigset_t *s) {
    sigemptyset(s);
    for (int i = 0; i < 4; i++)
        if (chance(40)) sigaddset(s, fsigs[i]);
}
static void set_fsig_action(int i, int which) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    if (which == 0) {
        sa.sa_sigaction = on_fsig;
        sa.sa_flags = SA_SIGINFO | (i == 0 ? SA_RESTART : 0);
        if (i == 3) sigaddset(&sa.sa_mask, fsigs[2]);
    } else {
        sa.sa_handler = SIG_IGN;
    }
    sigaction(fsigs[i], &sa, NULL);
}
static void setup_signals(void) {
    fsigs[0] = SIGUSR1, fsigs[1] = SIGUSR2, fsigs[2] = SIGRTMIN, fsigs[3] = SIGRTMIN + 1;
    for (int i = 0; i < 4; i++) set_fsig_action(i, 0);
}
static void op_signal(void) {
    int i = rnd(4), sig = fsigs[i], r, e;
    sigset_t set, old;
    union sigval v;
    v.sival_int = (int)rnd(1000);
    out("%d ", opno);
    errno = 0;
    switch (rnd(9)) {
    case 0: case 1: {
        static const int hows[] = {SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK};
        static const char *hn[] = {"BLOCK", "UNBLOCK", "SETMASK"};
        int h = rnd(3);
        random_fset(&set);
        out("sigprocmask %s", hn[h]);
        p_fset(&set);
        r = sigprocmask(hows[h], &set, &old);
        e = errno;
        out(" old");
        p_fset(&old);
        p_res(r, e);
        break;
    }
    case 2: out("raise %s", fsname[i]); r = raise(sig); e = errno; p_res(r, e); break;
    case 3: out("pthread_kill %s", fsname[i]); r = pthread_kill(pthread_self(), sig); out(" = %d", r); break;
    case 4: out("pthread_sigqueue %s %d", fsname[i], v.sival_int); r = pthread_sigqueue(pthread_self(), sig, v); out(" = %d", r); break;
    case 5: out("kill %s", fsname[i]); r = kill(getpid(), sig); e = errno; p_res(r, e); break;
    case 6: {
        out("sigpending");
        r = sigpending(&set);
        p_fset(&set);
        out(" = %d", r);
        break;
    }
    case 7: {
        struct timespec zero = {0, 0};
        siginfo_t si;
        random_fset(&set);
        out("sigtimedwait");
        p_fset(&set);
        r = sigtimedwait(&set, &si, &zero);
        e = errno;
        if (r > 0)
            out(" = %s code=%d val=%d", fsig_index(r) < 0 ? "?" : fsname[fsig_index(r)], si.si_code, si.si_code == SI_QUEUE ? si.si_value.sival_int : 0);
        else
            p_res(r, e);
        break;
    }
    default: {
        int w = rnd(2);
        out("sigaction %s %s", fsname[i], w ? "IGN" : "handler");
        set_fsig_action(i, w);
        break;
    }
    }
    endline();
}

static void op_new(void) {
    if (nlive() >= MAXLIVE - 4) {
        out("%d new skip (pool full)", opno);
        endline();
        return;
    }
    new_object(rnd(chance(5) ? 8 : 7));
}

/* Put a new object on the stale number of a closed slot (dup2 onto it, close the original). */
static void op_reuse(void) {
    int s = -1, c = 0, first = nslot, r, e;
    if (nlive() >= MAXLIVE - 4) {
        out("%d reuse skip", opno);
        endline();
        return;
    }
    new_object(rnd(6)); /* first: the kernel may give it a stale number itself */
    for (int i = 0; i < first; i++)
        if (slots[i].obj < 0 && !fd_live(slots[i].fd) && slots[i].fd < 600 && rnd(++c) == 0) s = i;
    if (s < 0) {
        out("%d reuse skip", opno);
        endline();
        return;
    }
    int from = first + rnd(nslot - first);
    out("%d reuse %s <- %s(%s)", opno, nm(s), nm(from), kname[kind_of(from)]);
    go(), errno = SENT, r = dup2(slots[from].fd, slots[s].fd), e = errno;
    p_fdres(r, e);
    if (r >= 0) {
        slots[s].obj = slots[from].obj;
        objs[slots[s].obj].refs++;
        go(), errno = SENT, r = close(slots[from].fd), e = errno;
        out(" close-orig");
        p_res(r, e);
        slots[from].obj = -1;
        objs[slots[s].obj].refs--;
    }
    endline();
}

static void setup(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t len = sizeof laddr;
    memset(&laddr, 0, sizeof laddr);
    laddr.sin_family = AF_INET;
    laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    raddr = laddr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&laddr, sizeof laddr) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&laddr, &len) < 0)
        die("listener");
    listener = new_slot("tl", new_obj(K_TL), fd);
    objs[slots[listener].obj].protect = 1;
    /* A bound, not listening TCP port: connecting to it is refused, and nobody else can take it. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    len = sizeof raddr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&raddr, sizeof raddr) < 0 ||
        getsockname(fd, (struct sockaddr *)&raddr, &len) < 0)
        die("refuser");
    refuser = new_slot("tr", new_obj(K_TNEW), fd);
    objs[slots[refuser].obj].protect = 1;
    opno = -1;
    for (int w = 0; w < 8; w++) new_object(w);
    new_object(0);
    new_object(6);
    new_udp_pair();
    int ep = pick_kind(K_EP);
    for (int i = 0; i < nslot; i += 2) {
        struct epoll_event ev = {EPOLLIN, {.u64 = (uint64_t)i}};
        if (i != ep) epoll_ctl(slots[ep].fd, EPOLL_CTL_ADD, slots[i].fd, &ev);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s SEED NOPS [VERBOSE]\n", argv[0]);
        return 2;
    }
    unsigned long long seed = strtoull(argv[1], NULL, 0);
    int nops = atoi(argv[2]);
    verbose = argc > 3 ? atoi(argv[3]) : 0;
    rng = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (!rng) rng = 1;
    signal(SIGPIPE, SIG_IGN);
    printf("fidelity_fuzz seed=%llu nops=%d\n", seed, nops);
    setup();
    setup_signals();
    for (opno = 0; opno < nops; opno++) {
        unsigned r = rnd(100);
        if (r < 22) op_read();
        else if (r < 42) op_write();
        else if (r < 48) op_accept();
        else if (r < 52) op_connect();
        else if (r < 56) op_shutdown();
        else if (r < 61) op_dup();
        else if (r < 66) op_close();
        else if (r < 73) op_flags();
        else if (r < 77) op_timeo();
        else if (r < 84) op_poll();
        else if (r < 91) op_epoll();
        else if (r < 95) op_new();
        else if (r < 97) op_reuse();
        else op_signal();
    }
    printf("done\n");
    return 0;
}
