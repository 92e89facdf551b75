//! Socket setup calls: `socket`, `socketpair`, `accept`, `accept4`, `connect`, `setsockopt`,
//! and `sendfile`/`sendfile64` to a socket.
//!
//! `accept` has no don't-wait flag, so on a blocking listener its attempt is a zero-timeout
//! `poll` followed by the real call (nothing in this process can take the connection in
//! between: one OS thread). A blocking `connect` is started with O_NONBLOCK set for the
//! duration of that one syscall — invisible to the program, which cannot run in between — and
//! its outcome is waited for on the hub and read from `SO_ERROR`: 0, ECONNREFUSED, ETIMEDOUT...
//! as natively. `sendfile` likewise needs O_NONBLOCK around each attempt.

use std::ffi::{c_int, c_void};

use gs::hub::{self, Wake};
use gs::reactor::Interest;
use gs::sys;
use libc::{off_t, size_t, sockaddr, socklen_t, ssize_t};

use crate::fd::coop::{self, ret, FALLBACK};
use crate::hook::entry;
use crate::fd::fdtab::{self, Kind};
use crate::diag::trace::{Arg, AF, SOCK_FLAGS};

mod real_fns {
    use super::*;
    real! {
        fn socket(d: c_int, t: c_int, p: c_int) -> c_int;
        fn socketpair(d: c_int, t: c_int, p: c_int, sv: *mut c_int) -> c_int;
        fn accept(fd: c_int, addr: *mut sockaddr, alen: *mut socklen_t) -> c_int;
        fn accept4(fd: c_int, addr: *mut sockaddr, alen: *mut socklen_t, flags: c_int) -> c_int;
        fn connect(fd: c_int, addr: *const sockaddr, alen: socklen_t) -> c_int;
        fn setsockopt(fd: c_int, level: c_int, opt: c_int, val: *const c_void, len: socklen_t) -> c_int;
        fn sendfile(out: c_int, inp: c_int, off: *mut off_t, n: size_t) -> ssize_t;
        fn sendfile64(out: c_int, inp: c_int, off: *mut off_t, n: size_t) -> ssize_t;
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn socket(d: c_int, t: c_int, p: c_int) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::socket(d, t, p) };
    let fd = hook!(h, socket, entry::nonneg, real_fns::socket(d, t, p), |r, e| [
        Arg::Sym(d as i64, AF), Arg::SockType(t as i64), Arg::Proto(d as i64, p as i64)
    ], Ret::Int(r as i64, e));
    fdtab::created(Some(h), fd);
    fd
}

#[no_mangle]
pub unsafe extern "C-unwind" fn socketpair(d: c_int, t: c_int, p: c_int, sv: *mut c_int) -> c_int {
    let r = match crate::diag::trace::on().then(entry::hub).flatten() {
        Some(h) => hook!(h, socketpair, entry::nonneg, real_fns::socketpair(d, t, p, sv), |r, e| [
            Arg::Sym(d as i64, AF), Arg::SockType(t as i64), Arg::Proto(d as i64, p as i64), Arg::Fds(sv, r == 0)
        ], Ret::Int(r as i64, e)),
        None => real_fns::socketpair(d, t, p, sv),
    };
    if r == 0 {
        fdtab::created(entry::hub(), *sv);
        fdtab::created(entry::hub(), *sv.add(1));
    }
    r
}

/// The peer address `accept` filled in, for its trace line (as strace: decoded once filled).
unsafe fn peer(addr: *mut sockaddr, alen: *mut socklen_t, r: c_int) -> Arg<'static> {
    match (r >= 0 && !addr.is_null() && !alen.is_null()).then(|| *alen) {
        Some(n) => Arg::Addr(addr, n),
        None => Arg::Hex(addr as u64),
    }
}

/// The address length of `accept`: `[16]` once filled, else the pointer (NULL).
fn peer_len(alen: *mut socklen_t, r: c_int) -> Arg<'static> {
    if r >= 0 && !alen.is_null() {
        Arg::IntRef(alen as *const c_int)
    } else {
        Arg::Hex(alen as u64)
    }
}

/// `accept4` on a socket of hub `h`.
unsafe fn accept_coop(h: *mut gs::hub::Hub, fd: c_int, addr: *mut sockaddr, alen: *mut socklen_t, flags: c_int) -> c_int {
    let nonblock = fdtab::cached_nonblock(fd) == Some(true);
    let mut dl = None;
    let r = coop::run(h, fd, Interest::Read, false, &mut dl, || {
        if !nonblock && !coop::ready(fd, libc::POLLIN) && listening(fd) {
            return Err(libc::EAGAIN);
        }
        syscall!(SYS_accept4, fd, addr, alen, flags).map(|n| n as usize)
    });
    let r = match r {
        Err(FALLBACK) => syscall!(SYS_accept4, fd, addr, alen, flags).map(|n| n as usize),
        r => r,
    };
    // The attempt's EAGAIN marked the listener drained for reads; a read of it is ENOTCONN.
    (*h).reactor.clear_drained(fd);
    let nfd = ret(r) as c_int;
    fdtab::created(Some(h), nfd);
    nfd
}

/// Is `fd` a listening socket? Only on one does a blocking `accept` wait: on any other socket
/// (connected or datagram) or a non-socket it fails at once natively (EINVAL, EOPNOTSUPP,
/// ENOTSOCK), and the real call is made to say so. Asked only when about to park.
fn listening(fd: c_int) -> bool {
    let mut on: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as socklen_t;
    matches!(syscall!(SYS_getsockopt, fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN, &mut on as *mut c_int, &mut len as *mut socklen_t), Ok(_) if on != 0)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn accept4(fd: c_int, addr: *mut sockaddr, alen: *mut socklen_t, flags: c_int) -> c_int {
    match entry::hub() {
        // Unknown flags fail at once natively (EINVAL): only valid ones may wait.
        Some(h) if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) == 0 && fdtab::kind(fd) == Ok(Kind::Socket) => hook!(h, accept4, entry::nonneg, accept_coop(h, fd, addr, alen, flags), |r, e| [
            Arg::Int(fd as i64), peer(addr, alen, r), peer_len(alen, r), Arg::Flags(flags as u64, SOCK_FLAGS)
        ], Ret::Int(r as i64, e)),
        _ => real_fns::accept4(fd, addr, alen, flags),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn accept(fd: c_int, addr: *mut sockaddr, alen: *mut socklen_t) -> c_int {
    match entry::hub() {
        Some(h) if fdtab::kind(fd) == Ok(Kind::Socket) => hook!(h, accept, entry::nonneg, accept_coop(h, fd, addr, alen, 0), |r, e| [
            Arg::Int(fd as i64), peer(addr, alen, r), peer_len(alen, r)
        ], Ret::Int(r as i64, e)),
        _ => real_fns::accept(fd, addr, alen),
    }
}

/// Set or clear O_NONBLOCK on the description; returns the previous flags.
fn set_nonblock(fd: c_int, on: bool) -> Result<i32, i32> {
    let fl = syscall!(SYS_fcntl, fd, libc::F_GETFL)? as i32;
    let want = if on { fl | libc::O_NONBLOCK } else { fl & !libc::O_NONBLOCK };
    if want != fl {
        syscall!(SYS_fcntl, fd, libc::F_SETFL, want)?;
    }
    Ok(fl)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn connect(fd: c_int, addr: *const sockaddr, alen: socklen_t) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::connect(fd, addr, alen) };
    hook!(h, connect, entry::nonneg, connect_coop(h, fd, addr, alen), |r, e| [
        Arg::Int(fd as i64), Arg::Addr(addr, alen), Arg::Int(alen as i64)
    ], Ret::Int(r as i64, e))
}

unsafe fn connect_coop(h: *mut gs::hub::Hub, fd: c_int, addr: *const sockaddr, alen: socklen_t) -> c_int {
    let info = match fdtab::full(fd) {
        Ok(i) if i.kind == Kind::Socket && !i.nonblock => i,
        _ => return real_fns::connect(fd, addr, alen),
    };
    let deadline = (info.sndtimeo != 0).then(|| sys::now() + info.sndtimeo);
    let Ok(fl) = set_nonblock(fd, true) else { return real_fns::connect(fd, addr, alen) };
    let r = syscall!(SYS_connect, fd, addr, alen);
    let _ = syscall!(SYS_fcntl, fd, libc::F_SETFL, fl);
    let again = match r {
        Ok(_) => return 0,
        Err(libc::EINPROGRESS) => false,
        Err(libc::EAGAIN) => true, // unix socket, backlog full: wait and try again
        Err(e) => return ret(Err(e)) as c_int,
    };
    loop {
        // A signal pending since a wakeup that found the connect unfinished interrupts now.
        let why = match crate::thread::signal::due(h) {
            true => Ok(Wake::Interrupted),
            false => hub::wait_fd(h, fd, Interest::Write, deadline, true),
        };
        match why {
            Err(_) => {
                // Cannot watch it: wait natively for the outcome.
                let mut p = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
                let _ = syscall!(SYS_poll, &mut p as *mut libc::pollfd, 1, -1);
            }
            Ok(Wake::Woken) => {}
            Ok(Wake::TimedOut) => return ret(Err(if again { libc::EAGAIN } else { libc::EINPROGRESS })) as c_int,
            Ok(Wake::Closed) => return ret(Err(libc::EBADF)) as c_int,
            Ok(Wake::Signal) => unreachable!("a park never returns Wake::Signal"),
            Ok(Wake::Interrupted) => {
                crate::thread::cancel::testcancel(h); // a cancellation point
                if !fdtab::restart_after_signal(h, info.sndtimeo) {
                    return ret(Err(libc::EINTR)) as c_int;
                }
                continue;
            }
        }
        if !coop::ready(fd, libc::POLLOUT) {
            continue;
        }
        // Finish as the native blocking connect does after its wait: connect again. The kernel
        // then marks the socket connected (0), or reports the error and disconnects it
        // (ECONNREFUSED...): the state a native program sees afterwards. Reading SO_ERROR
        // instead would leave it "connecting", and a later connect would say 0, not EISCONN.
        // EALREADY: still in progress (a stray wakeup); EAGAIN: a unix backlog still full.
        let Ok(fl) = set_nonblock(fd, true) else { return real_fns::connect(fd, addr, alen) };
        let r = syscall!(SYS_connect, fd, addr, alen);
        let _ = syscall!(SYS_fcntl, fd, libc::F_SETFL, fl);
        match r {
            Ok(_) => return 0,
            Err(libc::EALREADY) => {}
            Err(libc::EAGAIN) if again => {}
            Err(e) => return ret(Err(e)) as c_int,
        }
    }
}

const SOCKOPT_LEVELS: &[(i64, &str)] = &[
    (libc::SOL_SOCKET as i64, "SOL_SOCKET"),
    (libc::IPPROTO_IP as i64, "SOL_IP"),
    (libc::IPPROTO_TCP as i64, "SOL_TCP"),
    (libc::IPPROTO_IPV6 as i64, "SOL_IPV6"),
];

/// The option of `setsockopt`, by name for the common ones of `SOL_SOCKET` and `SOL_TCP`.
fn sockopt_name(level: c_int, opt: c_int) -> crate::diag::trace::Arg<'static> {
    use crate::diag::trace::Arg;
    const SOCKET: &[(i64, &str)] = &[
        (libc::SO_REUSEADDR as i64, "SO_REUSEADDR"),
        (libc::SO_REUSEPORT as i64, "SO_REUSEPORT"),
        (libc::SO_KEEPALIVE as i64, "SO_KEEPALIVE"),
        (libc::SO_RCVBUF as i64, "SO_RCVBUF"),
        (libc::SO_SNDBUF as i64, "SO_SNDBUF"),
        (libc::SO_RCVTIMEO as i64, "SO_RCVTIMEO_OLD"),
        (libc::SO_SNDTIMEO as i64, "SO_SNDTIMEO_OLD"),
        (libc::SO_LINGER as i64, "SO_LINGER"),
        (libc::SO_BROADCAST as i64, "SO_BROADCAST"),
    ];
    const TCP: &[(i64, &str)] = &[
        (libc::TCP_NODELAY as i64, "TCP_NODELAY"),
        (libc::TCP_KEEPIDLE as i64, "TCP_KEEPIDLE"),
        (libc::TCP_KEEPINTVL as i64, "TCP_KEEPINTVL"),
        (libc::TCP_KEEPCNT as i64, "TCP_KEEPCNT"),
    ];
    match level {
        libc::SOL_SOCKET => Arg::Sym(opt as i64, SOCKET),
        libc::IPPROTO_TCP => Arg::Sym(opt as i64, TCP),
        _ => Arg::Int(opt as i64),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn setsockopt(fd: c_int, level: c_int, opt: c_int, val: *const c_void, len: socklen_t) -> c_int {
    let r = match crate::fd::files::traced_hub() {
        Some(h) => hook!(h, setsockopt, entry::nonneg, real_fns::setsockopt(fd, level, opt, val, len), |r, e| [
            Arg::Int(fd as i64), Arg::Sym(level as i64, SOCKOPT_LEVELS), sockopt_name(level, opt),
            if len as usize == std::mem::size_of::<c_int>() && !val.is_null() { Arg::IntRef(val as *const c_int) } else { Arg::Hex(val as u64) },
            Arg::Int(len as i64)
        ], Ret::Int(r as i64, e)),
        None => real_fns::setsockopt(fd, level, opt, val, len),
    };
    if level == libc::SOL_SOCKET && (opt == libc::SO_RCVTIMEO || opt == libc::SO_SNDTIMEO || opt == 66 || opt == 67) {
        fdtab::flags_changed(); // SO_RCVTIMEO_NEW / SO_SNDTIMEO_NEW are 66 / 67
    }
    r
}

/// Blocking `sendfile` to a socket or pipe: repeated non-blocking attempts until `n` bytes are
/// sent, as the native blocking call does.
unsafe fn sendfile_coop(h: *mut gs::hub::Hub, out: c_int, inp: c_int, off: *mut off_t, n: size_t, real: unsafe fn(c_int, c_int, *mut off_t, size_t) -> ssize_t) -> ssize_t {
    match fdtab::kind(out) {
        Ok(Kind::Socket) | Ok(Kind::NoWait) => {}
        _ => return real(out, inp, off, n),
    }
    if fdtab::full(out).map_or(true, |i| i.nonblock) {
        return real(out, inp, off, n);
    }
    let mut done = 0usize;
    let mut dl = None;
    while done < n || n == 0 {
        let r = coop::run(h, out, Interest::Write, false, &mut dl, || {
            let fl = set_nonblock(out, true)?;
            let r = syscall!(SYS_sendfile, out, inp, off, n - done);
            let _ = syscall!(SYS_fcntl, out, libc::F_SETFL, fl);
            r.map(|k| k as usize)
        });
        match r {
            Ok(0) => break, // end of the input file
            Ok(k) => done += k,
            Err(FALLBACK) => return real(out, inp, off, n - done).max(0) + done as ssize_t,
            Err(e) if done == 0 => return ret(Err(e)),
            Err(_) => break,
        }
        if n == 0 {
            break;
        }
    }
    done as ssize_t
}

/// The boundary of `sendfile` and `sendfile64` (one call on x86_64; each has its real function).
unsafe fn sendfile_hook(out: c_int, inp: c_int, off: *mut off_t, n: size_t, real: unsafe fn(c_int, c_int, *mut off_t, size_t) -> ssize_t) -> ssize_t {
    let Some(h) = entry::hub() else { return real(out, inp, off, n) };
    hook!(h, sendfile, entry::nonneg, sendfile_coop(h, out, inp, off, n, real), |r, e| [
        Arg::Int(out as i64), Arg::Int(inp as i64), Arg::Hex(off as u64), Arg::Int(n as i64)
    ], Ret::Int(r as i64, e))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sendfile(out: c_int, inp: c_int, off: *mut off_t, n: size_t) -> ssize_t {
    sendfile_hook(out, inp, off, n, real_fns::sendfile)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sendfile64(out: c_int, inp: c_int, off: *mut off_t, n: size_t) -> ssize_t {
    sendfile_hook(out, inp, off, n, real_fns::sendfile64)
}
