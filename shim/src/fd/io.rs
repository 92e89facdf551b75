//! The read and write families: `read`, `readv`, `write`, `writev`, `recv`, `recvfrom`,
//! `recvmsg`, `recvmmsg`, `send`, `sendto`, `sendmsg`, `sendmmsg`, and the fortify variants
//! `__read_chk`, `__recv_chk`, `__recvfrom_chk`, and glibc's `eventfd_read`/`eventfd_write`
//! (which call the hidden internal `read`/`write`, so they need exports of their own).
//!
//! Reads return after one successful attempt (a short count is what the kernel gives
//! natively too); `MSG_WAITALL` on a stream socket keeps reading until the count is complete,
//! EOF, an error, a signal or the timeout. Writes on a blocking fd keep going until everything
//! is written (see `coop::write_all`). Attempts are made per fd kind (see `fdtab`).

use std::ffi::{c_int, c_uint, c_void};

use gs::hub::Hub;
use gs::reactor::Interest;
use libc::{iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

use crate::fd::coop::{self, ret, FALLBACK};
use crate::hook::{entry, umem};
use crate::fd::fdtab::{self, Kind};
use crate::diag::trace::{MSG_FLAGS};

mod real_fns {
    use super::*;
    real! {
        fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
        fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
        fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t;
        fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
        fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t;
        fn recvfrom(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, alen: *mut socklen_t) -> ssize_t;
        fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
        fn recvmmsg(fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int, t: *mut libc::timespec) -> c_int;
        fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t;
        fn sendto(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, alen: socklen_t) -> ssize_t;
        fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
        fn sendmmsg(fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int) -> c_int;
        fn __chk_fail() -> ();
    }
}

const RWF_NOWAIT: usize = 8;

/// The hub and the fd's kind, or `None`: call the real function.
///
/// Nothing to transfer (`want == 0`) goes to the real call too: it never waits natively, and
/// its answer depends on the very syscall made — `read`/`write` of 0 bytes reach the file's
/// read/write (an eventfd says EINVAL, a shut-down socket EPIPE), `readv`/`writev` of 0 bytes
/// return 0 before reaching it.
#[inline(always)]
fn coop_io(fd: c_int, want: usize) -> Option<(*mut Hub, Kind)> {
    if want == 0 {
        return None;
    }
    coop_fd(fd)
}

/// [`coop_io`] for an iovec array, with the total of its lengths: `None` (the real call) for a
/// count the kernel refuses (EINVAL), an array it cannot read (EFAULT: the array is copied
/// fault-safely, never dereferenced here) and nothing to transfer. Read only for an fd the hub
/// handles: a regular file's array goes to the kernel untouched.
#[inline(always)]
unsafe fn coop_iov(fd: c_int, iov: *const iovec, cnt: c_int) -> Option<(*mut Hub, Kind, usize)> {
    if !(1..=libc::UIO_MAXIOV).contains(&cnt) {
        return None;
    }
    let (h, k) = coop_fd(fd)?;
    match iov_total(iov, cnt as usize) {
        Ok(n) if n > 0 => Some((h, k, n)),
        _ => None,
    }
}

/// Sum of the lengths of the program's `cnt` iovecs at `iov`, read fault-safely (saturating, as
/// the kernel's EINVAL for a sum over `SSIZE_MAX` is the real call's to give).
pub(crate) fn iov_total(iov: *const iovec, cnt: usize) -> Result<usize, i32> {
    const CHUNK: usize = 16;
    let mut buf = [iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; CHUNK];
    let mut total = 0usize;
    let mut done = 0;
    while done < cnt {
        let k = (cnt - done).min(CHUNK);
        // SAFETY: `buf` holds CHUNK >= k iovecs.
        unsafe { umem::read_bytes(iov.wrapping_add(done) as usize, buf.as_mut_ptr().cast(), k * std::mem::size_of::<iovec>())? };
        total = buf[..k].iter().fold(total, |a, v| a.saturating_add(v.iov_len));
        done += k;
    }
    Ok(total)
}

/// The hub and the fd's kind, or `None`: call the real function.
#[inline(always)]
fn coop_fd(fd: c_int) -> Option<(*mut Hub, Kind)> {
    let h = entry::hub()?;
    match fdtab::kind(fd) {
        Ok(Kind::Native) | Err(_) => None,
        Ok(k) => Some((h, k)),
    }
}

/// The hub when diagnostics are on, for tracing a call made natively (regular files): one
/// branch when they are off.
#[inline(always)]
fn native_traced() -> Option<*mut Hub> {
    if crate::diag::trace::on() {
        entry::hub()
    } else {
        None
    }
}

/// A raw syscall returning `Ok(count)` or `Err(errno)` (the number chosen at run time).
///
/// The instruction itself, not libc's `syscall()`: that one is our own export, which would
/// route the number back through our `recvfrom`/`sendto` exports to glibc's wrappers (and,
/// once glibc knows of several threads, their cancellation bookkeeping): four calls for one
/// system call. errno is left alone (the callers return the error).
#[inline(always)]
unsafe fn raw(nr: libc::c_long, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> Result<usize, i32> {
    // The attempt's system call: with several hubs, the others run meanwhile (`multi`).
    let r = crate::multi::unlocked(|| gs::sys::raw_syscall(nr, [a, b, c, d, e, f]));
    if r < 0 {
        Err(-r as i32)
    } else {
        Ok(r as usize)
    }
}

/// One non-blocking read (`Interest::Read`) into, or write from, `iov`, by the fd's kind:
/// sockets with `MSG_DONTWAIT` (recvfrom/sendto for one buffer, the cheaper syscalls),
/// pipes and the like with `RWF_NOWAIT`, others after a zero-timeout poll. `iov` is readable:
/// the shim's own array, or the program's once [`coop_iov`] has copied it.
unsafe fn try_io(fd: c_int, dir: Interest, iov: *const iovec, cnt: usize) -> Result<usize, i32> {
    let read = dir == Interest::Read;
    loop {
        let k = fdtab::kind(fd)?;
        let r = match k {
            Kind::Socket => {
                let r = if cnt == 1 {
                    let nr = if read { libc::SYS_recvfrom } else { libc::SYS_sendto };
                    raw(nr, fd as usize, (*iov).iov_base as usize, (*iov).iov_len, libc::MSG_DONTWAIT as usize, 0, 0)
                } else {
                    let mut m: msghdr = std::mem::zeroed();
                    m.msg_iov = iov as *mut iovec;
                    m.msg_iovlen = cnt;
                    let nr = if read { libc::SYS_recvmsg } else { libc::SYS_sendmsg };
                    raw(nr, fd as usize, &mut m as *mut msghdr as usize, libc::MSG_DONTWAIT as usize, 0, 0, 0)
                };
                if r == Err(libc::ENOTSOCK) {
                    fdtab::forget(fd); // our idea of the fd was stale
                    continue;
                }
                r
            }
            Kind::NoWait | Kind::NoWaitRead if read || k == Kind::NoWait => {
                let nr = if read { libc::SYS_preadv2 } else { libc::SYS_pwritev2 };
                let r = raw(nr, fd as usize, iov as usize, cnt, usize::MAX /* offset -1 */, 0, RWF_NOWAIT);
                if r == Err(libc::EOPNOTSUPP) {
                    fdtab::demote_to_poll_first(fd, !read);
                    continue;
                }
                r
            }
            Kind::PollFirst | Kind::NoWaitRead if !coop::ready(fd, if read { libc::POLLIN } else { libc::POLLOUT }) => Err(libc::EAGAIN),
            _ => raw(if read { libc::SYS_readv } else { libc::SYS_writev }, fd as usize, iov as usize, cnt, 0, 0, 0),
        };
        return r;
    }
}

/// Blocking-read semantics over `iov` for `read`/`readv`.
///
/// A blocking stream socket found drained (by EAGAIN or a short read) with no read event since
/// parks without first trying: the attempt could only say EAGAIN. That saves a syscall per
/// request in a ping-pong server. Edge-triggered registration makes it safe: any data arriving
/// after the drain produces an event.
unsafe fn readv_coop(h: *mut Hub, fd: c_int, iov: *const iovec, cnt: usize, want: usize) -> ssize_t {
    let stream = fdtab::cached_blocking_stream(fd);
    let park_first = stream && (*h).reactor.known_drained(fd);
    let mut dl = None;
    let r = match coop::run_from(h, fd, Interest::Read, false, &mut dl, park_first, || try_io(fd, Interest::Read, iov, cnt)) {
        Err(FALLBACK) => syscall!(SYS_readv, fd, iov, cnt).map(|n| n as usize),
        r => r,
    };
    if stream && matches!(r, Ok(n) if n > 0 && n < want) {
        (*h).reactor.set_drained(fd);
    }
    ret(r)
}

unsafe fn writev_coop(h: *mut Hub, fd: c_int, iov: *const iovec, cnt: usize, total: usize) -> ssize_t {
    ret(coop::write_all(
        h,
        fd,
        false,
        iov,
        cnt,
        total,
        |v, n| try_io(fd, Interest::Write, v, n),
        |v, n| syscall!(SYS_writev, fd, v, n).map(|n| n as usize),
    ))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    match coop_io(fd, n) {
        Some((h, _)) => {
            let iov = iovec { iov_base: buf, iov_len: n };
            hook!(h, read, entry::nonneg, readv_coop(h, fd, &iov, 1, n), |r, e| [
                Arg::Int(fd as i64), Arg::Buf(buf as *const u8, (r >= 0).then_some(r as usize)), Arg::Int(n as i64)
            ], Ret::Int(r as i64, e))
        }
        None => match native_traced() {
            Some(h) => hook!(h, read, entry::nonneg, real_fns::read(fd, buf, n), |r, e| [
                Arg::Int(fd as i64), Arg::Buf(buf as *const u8, (r >= 0).then_some(r as usize)), Arg::Int(n as i64)
            ], Ret::Int(r as i64, e)),
            None => real_fns::read(fd, buf, n),
        },
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __read_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) -> ssize_t {
    if n > buflen {
        real_fns::__chk_fail();
    }
    read(fd, buf, n)
}

/// The hub for a call made cooperatively (`coop`: true) or natively but traced (false);
/// `None`: the real call, untraced.
#[inline(always)]
fn coop_or_traced(coop: Option<*mut Hub>) -> Option<(*mut Hub, bool)> {
    match coop {
        Some(h) => Some((h, true)),
        None => native_traced().map(|h| (h, false)),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    let c = coop_iov(fd, iov, cnt);
    match coop_or_traced(c.map(|(h, _, _)| h)) {
        Some((h, coop)) => hook!(h, readv, entry::nonneg,
            if let (true, Some((_, _, want))) = (coop, c) { readv_coop(h, fd, iov, cnt as usize, want) } else { real_fns::readv(fd, iov, cnt) }, |r, e| [
            Arg::Int(fd as i64), Arg::Iov(iov, cnt as i64, (r >= 0).then_some(r as usize)), Arg::Int(cnt as i64)
        ], Ret::Int(r as i64, e)),
        _ => real_fns::readv(fd, iov, cnt),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    match coop_io(fd, n) {
        Some((h, _)) => {
            let iov = iovec { iov_base: buf as *mut c_void, iov_len: n };
            hook!(h, write, entry::nonneg, writev_coop(h, fd, &iov, 1, n), |r, e| [
                Arg::Int(fd as i64), Arg::Buf(buf as *const u8, Some(n)), Arg::Int(n as i64)
            ], Ret::Int(r as i64, e))
        }
        None => match native_traced() {
            Some(h) => hook!(h, write, entry::nonneg, real_fns::write(fd, buf, n), |r, e| [
                Arg::Int(fd as i64), Arg::Buf(buf as *const u8, Some(n)), Arg::Int(n as i64)
            ], Ret::Int(r as i64, e)),
            None => real_fns::write(fd, buf, n),
        },
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    let c = coop_iov(fd, iov, cnt);
    match coop_or_traced(c.map(|(h, _, _)| h)) {
        Some((h, coop)) => hook!(h, writev, entry::nonneg,
            if let (true, Some((_, _, total))) = (coop, c) { writev_coop(h, fd, iov, cnt as usize, total) } else { real_fns::writev(fd, iov, cnt) }, |r, e| [
            Arg::Int(fd as i64), Arg::Iov(iov, cnt as i64, Some(usize::MAX)), Arg::Int(cnt as i64)
        ], Ret::Int(r as i64, e)),
        _ => real_fns::writev(fd, iov, cnt),
    }
}

/// Socket receive with the user's flags: one attempt with `MSG_DONTWAIT` added; `MSG_WAITALL`
/// on a blocking stream socket loops until `want` bytes, EOF, error, signal or timeout.
/// `attempt(offset, flags)` receives into the caller's buffer from `offset`.
unsafe fn recv_coop(h: *mut Hub, fd: c_int, flags: c_int, want: usize, mut attempt: impl FnMut(usize, c_int) -> Result<usize, i32>) -> Result<usize, i32> {
    let dontwait = flags & libc::MSG_DONTWAIT != 0;
    if want == 0 && fdtab::full(fd).is_ok_and(|i| i.stream) {
        // Nothing to receive on a stream returns 0 at once natively (after the kernel has
        // processed its backlog, which a MSG_DONTWAIT attempt does not wait for: EAGAIN).
        return Err(FALLBACK);
    }
    let f = flags | libc::MSG_DONTWAIT;
    let mut dl = None;
    let n = coop::run(h, fd, Interest::Read, dontwait, &mut dl, || crate::multi::unlocked(|| attempt(0, f)))?;
    if flags & libc::MSG_WAITALL == 0 || dontwait || n == 0 || n >= want || flags & libc::MSG_PEEK != 0 {
        return Ok(n);
    }
    match fdtab::full(fd) {
        Ok(i) if i.stream && !i.nonblock => {}
        _ => return Ok(n),
    }
    let mut done = n;
    while done < want {
        // Natively, once some bytes are copied, a pending error, EOF or shutdown ends the call
        // with the count and leaves the error for the next call; a fresh attempt with nothing
        // copied yet would consume it. Stop where the native loop stops.
        let mut p = libc::pollfd { fd, events: libc::POLLIN | libc::POLLRDHUP, revents: 0 };
        // (POLLIN is no help: a shut-down stream is "readable". Ask for the bytes queued.)
        if matches!(syscall!(SYS_poll, &mut p as *mut libc::pollfd, 1, 0), Ok(1))
            && p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLRDHUP) != 0
        {
            let mut queued: c_int = 0;
            if syscall!(SYS_ioctl, fd, libc::FIONREAD, &mut queued as *mut c_int).is_ok() && queued == 0 {
                break;
            }
        }
        match coop::run(h, fd, Interest::Read, false, &mut dl, || crate::multi::unlocked(|| attempt(done, f))) {
            Ok(0) => break,
            Ok(k) => done += k,
            Err(_) => break,
        }
    }
    Ok(done)
}

/// `recvfrom` semantics on a socket of hub `h`.
unsafe fn recvfrom_coop(h: *mut Hub, fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, alen: *mut socklen_t) -> ssize_t {
    ret(recv_coop(h, fd, flags, n, |off, f| syscall!(SYS_recvfrom, fd, (buf as usize + off), n - off, f, addr, alen).map(|n| n as usize))
        .or_else(|e| if e == FALLBACK { syscall!(SYS_recvfrom, fd, buf, n, flags, addr, alen).map(|n| n as usize) } else { Err(e) }))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn recvfrom(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, alen: *mut socklen_t) -> ssize_t {
    let sock = match coop_fd(fd) {
        Some((h, Kind::Socket)) => Some(h),
        _ => None,
    };
    match coop_or_traced(sock) {
        Some((h, coop)) => hook!(h, recvfrom, entry::nonneg, if coop { recvfrom_coop(h, fd, buf, n, flags, addr, alen) } else { real_fns::recvfrom(fd, buf, n, flags, addr, alen) }, |r, e| [
            Arg::Int(fd as i64), Arg::Buf(buf as *const u8, (r >= 0).then_some(r as usize)), Arg::Int(n as i64),
            Arg::Flags(flags as u64, MSG_FLAGS), Arg::Hex(addr as u64), Arg::Hex(alen as u64)
        ], Ret::Int(r as i64, e)),
        _ => real_fns::recvfrom(fd, buf, n, flags, addr, alen),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t {
    let sock = match coop_fd(fd) {
        Some((h, Kind::Socket)) => Some(h),
        _ => None,
    };
    match coop_or_traced(sock) {
        Some((h, coop)) => hook!(h, recv, entry::nonneg, if coop { recvfrom_coop(h, fd, buf, n, flags, std::ptr::null_mut(), std::ptr::null_mut()) } else { real_fns::recv(fd, buf, n, flags) }, |r, e| [
            Arg::Int(fd as i64), Arg::Buf(buf as *const u8, (r >= 0).then_some(r as usize)), Arg::Int(n as i64),
            Arg::Flags(flags as u64, MSG_FLAGS)
        ], Ret::Int(r as i64, e)),
        _ => real_fns::recv(fd, buf, n, flags),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int) -> ssize_t {
    if n > buflen {
        real_fns::__chk_fail();
    }
    recv(fd, buf, n, flags)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    alen: *mut socklen_t,
) -> ssize_t {
    if n > buflen {
        real_fns::__chk_fail();
    }
    recvfrom(fd, buf, n, flags, addr, alen)
}

/// The program's `msghdr` and the total of its iovec array, copied fault-safely; `None`: the
/// real call, which says EFAULT (or EMSGSIZE for too long an array).
fn msg_copy(msg: *const msghdr) -> Option<(msghdr, usize)> {
    let m = umem::read(msg).ok()?;
    if m.msg_iovlen > libc::UIO_MAXIOV as usize {
        return None;
    }
    Some((m, iov_total(m.msg_iov, m.msg_iovlen).ok()?))
}

/// `recvmsg` semantics on a socket of hub `h`: `hdr` and `want` are `msg`'s copy and total
/// (see [`msg_copy`]); the first attempt hands the kernel the program's own header, which it
/// fills in.
unsafe fn recvmsg_coop(h: *mut Hub, fd: c_int, msg: *mut msghdr, hdr: msghdr, want: usize, flags: c_int) -> ssize_t {
    let r = recv_coop(h, fd, flags, want, |off, f| {
        if off == 0 {
            return syscall!(SYS_recvmsg, fd, msg, f).map(|n| n as usize);
        }
        // MSG_WAITALL continuation: receive into the rest of the caller's buffers (the kernel
        // leaves the caller's iovec array as it was).
        let mut rest = umem::read_vec(hdr.msg_iov, hdr.msg_iovlen)?;
        coop::advance(&mut rest, off);
        let mut m: msghdr = std::mem::zeroed();
        m.msg_iov = rest.as_mut_ptr();
        m.msg_iovlen = rest.len();
        syscall!(SYS_recvmsg, fd, &mut m as *mut msghdr, f).map(|n| n as usize)
    });
    ret(r.or_else(|e| if e == FALLBACK { syscall!(SYS_recvmsg, fd, msg, flags).map(|n| n as usize) } else { Err(e) }))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let sock = match coop_fd(fd) {
        Some((h, Kind::Socket)) => msg_copy(msg).map(|c| (h, c)),
        _ => None,
    };
    match coop_or_traced(sock.map(|(h, _)| h)) {
        Some((h, coop)) => hook!(h, recvmsg, entry::nonneg, if let (true, Some((_, (hdr, want)))) = (coop, sock) { recvmsg_coop(h, fd, msg, hdr, want, flags) } else { real_fns::recvmsg(fd, msg, flags) }, |r, e| [
            Arg::Int(fd as i64), Arg::Hex(msg as u64), Arg::Flags(flags as u64, MSG_FLAGS)
        ], Ret::Int(r as i64, e)),
        _ => real_fns::recvmsg(fd, msg, flags),
    }
}

unsafe fn sendto_coop(h: *mut Hub, fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, alen: socklen_t) -> ssize_t {
    let iov = iovec { iov_base: buf as *mut c_void, iov_len: n };
    let f = flags | libc::MSG_DONTWAIT;
    ret(coop::write_all(
        h,
        fd,
        flags & libc::MSG_DONTWAIT != 0,
        &iov,
        1,
        n,
        |v, _| syscall!(SYS_sendto, fd, (*v).iov_base, (*v).iov_len, f, addr, alen).map(|n| n as usize),
        |v, _| syscall!(SYS_sendto, fd, (*v).iov_base, (*v).iov_len, flags, addr, alen).map(|n| n as usize),
    ))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sendto(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, alen: socklen_t) -> ssize_t {
    let sock = match coop_fd(fd) {
        Some((h, Kind::Socket)) => Some(h),
        _ => None,
    };
    match coop_or_traced(sock) {
        Some((h, coop)) => hook!(h, sendto, entry::nonneg, if coop { sendto_coop(h, fd, buf, n, flags, addr, alen) } else { real_fns::sendto(fd, buf, n, flags, addr, alen) }, |r, e| [
            Arg::Int(fd as i64), Arg::Buf(buf as *const u8, Some(n)), Arg::Int(n as i64),
            Arg::Flags(flags as u64, MSG_FLAGS), Arg::Hex(addr as u64), Arg::Int(alen as i64)
        ], Ret::Int(r as i64, e)),
        _ => real_fns::sendto(fd, buf, n, flags, addr, alen),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t {
    let sock = match coop_fd(fd) {
        Some((h, Kind::Socket)) => Some(h),
        _ => None,
    };
    match coop_or_traced(sock) {
        Some((h, coop)) => hook!(h, send, entry::nonneg, if coop { sendto_coop(h, fd, buf, n, flags, std::ptr::null(), 0) } else { real_fns::send(fd, buf, n, flags) }, |r, e| [
            Arg::Int(fd as i64), Arg::Buf(buf as *const u8, Some(n)), Arg::Int(n as i64), Arg::Flags(flags as u64, MSG_FLAGS)
        ], Ret::Int(r as i64, e)),
        _ => real_fns::send(fd, buf, n, flags),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    let sock = match coop_fd(fd) {
        Some((h, Kind::Socket)) => msg_copy(msg).map(|c| (h, c)),
        _ => None,
    };
    match sock {
        Some((h, (hdr, total))) => {
            let f = flags | libc::MSG_DONTWAIT;
            let first = std::cell::Cell::new(true);
            // Ancillary data goes with the first piece only (a continuation must not repeat it).
            let send_one = |v: *const iovec, n: usize, f: c_int| {
                let mut m = hdr;
                m.msg_iov = v as *mut iovec;
                m.msg_iovlen = n;
                if !first.get() {
                    m.msg_control = std::ptr::null_mut();
                    m.msg_controllen = 0;
                }
                let r = syscall!(SYS_sendmsg, fd, &m as *const msghdr, f).map(|n| n as usize);
                if r.is_ok() {
                    first.set(false);
                }
                r
            };
            hook!(h, sendmsg, entry::nonneg, ret(coop::write_all(
                h,
                fd,
                flags & libc::MSG_DONTWAIT != 0,
                hdr.msg_iov,
                hdr.msg_iovlen,
                total,
                |v, n| send_one(v, n, f),
                |v, n| send_one(v, n, flags),
            )), |r, e| [Arg::Int(fd as i64), Arg::Hex(msg as u64), Arg::Flags(flags as u64, MSG_FLAGS)], Ret::Int(r as i64, e))
        }
        _ => match native_traced() {
            Some(h) => hook!(h, sendmsg, entry::nonneg, real_fns::sendmsg(fd, msg, flags), |r, e| [
                Arg::Int(fd as i64), Arg::Hex(msg as u64), Arg::Flags(flags as u64, MSG_FLAGS)
            ], Ret::Int(r as i64, e)),
            None => real_fns::sendmsg(fd, msg, flags),
        },
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn recvmmsg(fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int, t: *mut libc::timespec) -> c_int {
    let sock = match coop_fd(fd) {
        Some((h, Kind::Socket)) => Some(h),
        _ => None,
    };
    match coop_or_traced(sock) {
        Some((h, coop)) => hook!(h, recvmmsg, entry::nonneg, if coop { recvmmsg_coop(h, fd, v, n, flags, t) } else { real_fns::recvmmsg(fd, v, n, flags, t) }, |r, e| [
            Arg::Int(fd as i64), Arg::Hex(v as u64), Arg::Int(n as i64), Arg::Flags(flags as u64, MSG_FLAGS), Arg::Hex(t as u64)
        ], Ret::Int(r as i64, e)),
        _ => real_fns::recvmmsg(fd, v, n, flags, t),
    }
}

/// Whether the program's `n` headers at `v` have nothing to receive into (a copied header
/// at a time); `Err(EFAULT)` for one the kernel cannot read (the real call says so).
fn mmsg_empty(v: *const libc::mmsghdr, n: c_uint) -> Result<bool, i32> {
    for i in 0..(n as usize).min(libc::UIO_MAXIOV as usize) {
        let m = umem::read(v.wrapping_add(i))?;
        if m.msg_hdr.msg_iovlen > libc::UIO_MAXIOV as usize || iov_total(m.msg_hdr.msg_iov, m.msg_hdr.msg_iovlen)? > 0 {
            return Ok(false);
        }
    }
    Ok(n > 0)
}

unsafe fn recvmmsg_coop(h: *mut Hub, fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int, t: *mut libc::timespec) -> c_int {
    if fdtab::full(fd).is_ok_and(|i| i.stream) && mmsg_empty(v, n) != Ok(false) {
        // As in recv_coop: nothing to receive on a stream never waits natively.
        return ret(syscall!(SYS_recvmmsg, fd, v, n, flags, t).map(|n| n as usize)) as c_int;
    }
    // The kernel checks the timeout only after each datagram it received (recvmmsg(2), BUGS):
    // a blocking call waits for all `n` (for one with MSG_WAITFORONE), however long.
    let ts = match t.is_null() {
        true => None,
        // A timeout the kernel cannot read: its EFAULT, at once.
        false => match umem::read(t) {
            Ok(ts) => Some(ts),
            Err(_) => return ret(syscall!(SYS_recvmmsg, fd, v, n, flags, t).map(|n| n as usize)) as c_int,
        },
    };
    let end = match ts.as_ref() {
        Some(ts) => match gs::sys::timespec_ns(ts) {
            Some(ns) if ns >= 0 => Some(gs::sys::now() + ns as u64),
            _ => return ret(Err(libc::EINVAL)) as c_int,
        },
        None => None,
    };
    let once = flags & (libc::MSG_DONTWAIT | libc::MSG_WAITFORONE) != 0;
    let f = (flags & !libc::MSG_WAITFORONE) | libc::MSG_DONTWAIT;
    let mut got = 0usize;
    loop {
        let (rest, left) = (v.add(got), n - got as c_uint);
        let mut dl = None;
        let r = coop::run(h, fd, Interest::Read, flags & libc::MSG_DONTWAIT != 0, &mut dl, || {
            syscall!(SYS_recvmmsg, fd, rest, left, f, 0usize).map(|n| n as usize)
        });
        let r = match r {
            // A shut-down datagram socket: the real call returns at once (empty datagrams).
            Err(FALLBACK) => syscall!(SYS_recvmmsg, fd, rest, left, flags, 0usize).map(|n| n as usize),
            r => r,
        };
        match r {
            Ok(k) => {
                got += k;
                // (The kernel has just written this header: it is there.)
                let oob = k > 0 && (*v.add(got - 1)).msg_hdr.msg_flags & libc::MSG_OOB != 0;
                if got >= n as usize || once || oob || k == 0 || end.is_some_and(|e| gs::sys::now() >= e) {
                    break;
                }
            }
            // An error after some datagrams ends the call with their count, as natively.
            Err(_) if got > 0 => break,
            Err(e) => return ret(Err(e)) as c_int,
        }
    }
    ret(Ok(got)) as c_int
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sendmmsg(fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int) -> c_int {
    let sock = match coop_fd(fd) {
        Some((h, Kind::Socket)) => Some(h),
        _ => None,
    };
    match coop_or_traced(sock) {
        Some((h, coop)) => hook!(h, sendmmsg, entry::nonneg, if coop { sendmmsg_coop(h, fd, v, n, flags) } else { real_fns::sendmmsg(fd, v, n, flags) }, |r, e| [
            Arg::Int(fd as i64), Arg::Hex(v as u64), Arg::Int(n as i64), Arg::Flags(flags as u64, MSG_FLAGS)
        ], Ret::Int(r as i64, e)),
        _ => real_fns::sendmmsg(fd, v, n, flags),
    }
}

/// Blocking `sendmmsg`: keep sending until every message is sent; an error after the first
/// message ends the call with the count sent, as natively.
unsafe fn sendmmsg_coop(h: *mut Hub, fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int) -> c_int {
    let dontwait = flags & libc::MSG_DONTWAIT != 0;
    let f = flags | libc::MSG_DONTWAIT;
    let mut sent = 0usize;
    let mut dl = None;
    while sent < n as usize {
        let r = coop::run(h, fd, Interest::Write, dontwait, &mut dl, || {
            syscall!(SYS_sendmmsg, fd, v.add(sent), n as usize - sent, f).map(|n| n as usize)
        });
        match r {
            Ok(k) => sent += k,
            Err(FALLBACK) => {
                sent += syscall!(SYS_sendmmsg, fd, v.add(sent), n as usize - sent, flags).unwrap_or(0) as usize;
                break;
            }
            Err(e) if sent == 0 => return ret(Err(e)) as c_int,
            Err(_) => break,
        }
        if dontwait || fdtab::full(fd).map_or(true, |i| i.nonblock) {
            break;
        }
    }
    sent as c_int
}

#[no_mangle]
pub unsafe extern "C-unwind" fn eventfd_read(fd: c_int, value: *mut u64) -> c_int {
    if read(fd, value.cast(), 8) == 8 { 0 } else { -1 }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn eventfd_write(fd: c_int, value: u64) -> c_int {
    if write(fd, (&value as *const u64).cast(), 8) == 8 { 0 } else { -1 }
}
