//! Calls that create, copy, close or reconfigure descriptors: `close`, `close_range`, `dup`,
//! `dup2`, `dup3`, `fcntl`/`fcntl64`, `ioctl`, `pipe`, `pipe2`, `eventfd`, `open`/`openat`
//! (+64, fortify `_2` variants), `creat`, `epoll_create`/`epoll_create1`; and the libc functions
//! that close or replace descriptors with glibc's internal calls, which never reach the hooks
//! above: `closefrom` (glibc's internal `close_range`), `fclose`, `pclose`, `freopen`,
//! `daemon`, `login_tty`.
//!
//! They keep the fd table and the reactor true: a closed or replaced fd wakes its waiters with
//! EBADF and forgets its epoll registration, a new fd starts with no stale knowledge, and a
//! change of O_NONBLOCK or of a socket timeout invalidates the cached flags. They also keep the
//! shim's own descriptors out of the program's reach (see `ownfd`): they look closed (EBADF from
//! `close`, `fcntl`, `dup`, `fstat`, `ioctl`), `close_range`/`closefrom` spare them, and a
//! `dup2` onto one of their numbers first moves ours away, then succeeds as natively.
//!
//! In a `vfork` child (see `vfork`) `entry::hub()` says no: the child has its own fd table but
//! shares our memory, so these calls go straight to libc and leave the parent's state alone.

use std::ffi::{c_char, c_int, c_uint, c_ulong};

use gs::hub::Hub;

use crate::hook::entry;
use crate::fd::fdtab;
use crate::diag::trace::{FCNTL_CMDS, O_FLAGS};
use crate::fd::files::{fstat_traced, open_traced, Opener};

mod real_fns {
    use super::*;
    real! {
        fn close(fd: c_int) -> c_int;
        fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
        fn closefrom(low: c_int) -> ();
        fn dup(fd: c_int) -> c_int;
        fn dup2(a: c_int, b: c_int) -> c_int;
        fn dup3(a: c_int, b: c_int, flags: c_int) -> c_int;
        fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int;
        fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int;
        fn ioctl(fd: c_int, req: c_ulong, arg: usize) -> c_int;
        fn pipe(p: *mut c_int) -> c_int;
        fn pipe2(p: *mut c_int, flags: c_int) -> c_int;
        fn eventfd(init: c_uint, flags: c_int) -> c_int;
        fn open(path: *const c_char, flags: c_int, mode: c_uint) -> c_int;
        fn open64(path: *const c_char, flags: c_int, mode: c_uint) -> c_int;
        fn openat(dir: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int;
        fn openat64(dir: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int;
        fn __open_2(path: *const c_char, flags: c_int) -> c_int;
        fn __open64_2(path: *const c_char, flags: c_int) -> c_int;
        fn __openat_2(dir: c_int, path: *const c_char, flags: c_int) -> c_int;
        fn __openat64_2(dir: c_int, path: *const c_char, flags: c_int) -> c_int;
        fn creat(path: *const c_char, mode: c_uint) -> c_int;
        fn creat64(path: *const c_char, mode: c_uint) -> c_int;
        fn epoll_create(size: c_int) -> c_int;
        fn epoll_create1(flags: c_int) -> c_int;
        fn epoll_ctl(ep: c_int, op: c_int, fd: c_int, ev: *mut libc::epoll_event) -> c_int;
        fn fclose(f: *mut libc::FILE) -> c_int;
        fn pclose(f: *mut libc::FILE) -> c_int;
        fn freopen(path: *const c_char, mode: *const c_char, f: *mut libc::FILE) -> *mut libc::FILE;
        fn freopen64(path: *const c_char, mode: *const c_char, f: *mut libc::FILE) -> *mut libc::FILE;
        fn daemon(nochdir: c_int, noclose: c_int) -> c_int;
        fn login_tty(fd: c_int) -> c_int;
        fn fstat(fd: c_int, buf: *mut libc::stat) -> c_int;
        fn fstat64(fd: c_int, buf: *mut libc::stat64) -> c_int;
        fn __fxstat(ver: c_int, fd: c_int, buf: *mut libc::stat) -> c_int;
        fn __fxstat64(ver: c_int, fd: c_int, buf: *mut libc::stat64) -> c_int;
    }
}

use crate::fd::ownfd::is_ours;

const EFD_FLAGS: &[(u64, &str)] = &[
    (libc::EFD_SEMAPHORE as u64, "EFD_SEMAPHORE"),
    (libc::EFD_CLOEXEC as u64, "EFD_CLOEXEC"),
    (libc::EFD_NONBLOCK as u64, "EFD_NONBLOCK"),
];
const CLOSE_RANGE_FLAGS: &[(u64, &str)] = &[
    (libc::CLOSE_RANGE_UNSHARE as u64, "CLOSE_RANGE_UNSHARE"),
    (libc::CLOSE_RANGE_CLOEXEC as u64, "CLOSE_RANGE_CLOEXEC"),
];
/// Requests strace names that programs commonly make.
pub const IOCTLS: &[(i64, &str)] = &[
    (libc::TCGETS as i64, "TCGETS"),
    (libc::TCSETS as i64, "TCSETS"),
    (libc::TIOCGWINSZ as i64, "TIOCGWINSZ"),
    (libc::TIOCSWINSZ as i64, "TIOCSWINSZ"),
    (libc::TIOCGPGRP as i64, "TIOCGPGRP"),
    (libc::TIOCSPGRP as i64, "TIOCSPGRP"),
    (libc::FIONBIO as i64, "FIONBIO"),
    (libc::FIONREAD as i64, "FIONREAD"),
    (libc::FIOCLEX as i64, "FIOCLEX"),
    (libc::FIONCLEX as i64, "FIONCLEX"),
];

fn ebadf() -> c_int {
    gs::sys::set_errno(libc::EBADF);
    -1
}

/// Mark a freshly returned fd as new (when the call succeeded).
#[inline]
fn new_fd(fd: c_int) -> c_int {
    if fd >= 0 {
        fdtab::created(entry::hub(), fd);
    }
    fd
}

#[no_mangle]
pub unsafe extern "C-unwind" fn close(fd: c_int) -> c_int {
    if let Some(h) = entry::hub() {
        if is_ours(h, fd) {
            return ebadf();
        }
        fdtab::closing(h, fd);
        return traced!(h, close, real_fns::close(fd), |r, e| [Arg::Int(fd as i64)], Ret::Int(r as i64, e));
    }
    real_fns::close(fd)
}

/// `close_range` must not close the shim's descriptors: the range is split around them.
#[no_mangle]
pub unsafe extern "C-unwind" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::close_range(first, last, flags) };
    traced!(h, close_range, close_range_around(h, first, last, flags, real_fns::close_range), |r, e| [
        Arg::Int(first as i64), Arg::Int(last as i64), Arg::Flags(flags as u64, CLOSE_RANGE_FLAGS)
    ], Ret::Int(r as i64, e))
}

/// The range minus the shim's descriptors, with `close_range` (the real one, or the raw syscall).
unsafe fn close_range_around(
    h: *mut Hub,
    first: c_uint,
    last: c_uint,
    flags: c_int,
    real: unsafe fn(c_uint, c_uint, c_int) -> c_int,
) -> c_int {
    if first > last {
        return real(first, last, flags); // EINVAL
    }
    let mut ours = crate::fd::ownfd::list(h);
    ours.sort();
    if flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 {
        let top = last.min(first.saturating_add(1 << 20));
        for fd in first..=top {
            if !ours.contains(&(fd as c_int)) {
                fdtab::closing(h, fd as c_int);
            }
        }
    }
    let mut lo = first;
    for &o in ours.iter().filter(|&&o| o >= 0) {
        let o = o as c_uint;
        if o < lo || o > last {
            continue;
        }
        if o > lo {
            let r = real(lo, o - 1, flags);
            if r != 0 {
                return r;
            }
        }
        if o == c_uint::MAX {
            return 0;
        }
        lo = o + 1;
    }
    if lo > last {
        return 0;
    }
    real(lo, last, flags)
}

unsafe fn sys_close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    match syscall!(SYS_close_range, first, last, flags) {
        Ok(_) => 0,
        Err(e) => {
            gs::sys::set_errno(e);
            -1
        }
    }
}

/// glibc's `closefrom` calls its internal `close_range`, which never reaches our export: without
/// this one, `closefrom(3)` (varnishd does it at start) closes the hub's epoll fd. As glibc's:
/// `close_range(lowfd, ~0U, 0)`, else close what `/proc/self/fd` lists, else abort.
#[no_mangle]
pub unsafe extern "C-unwind" fn closefrom(lowfd: c_int) {
    let Some(h) = entry::hub() else { return real_fns::closefrom(lowfd) };
    let low = lowfd.max(0) as c_uint;
    let saved = gs::sys::errno();
    if close_range_around(h, low, c_uint::MAX, 0, sys_close_range) == 0 {
        return;
    }
    gs::sys::set_errno(saved);
    if !closefrom_fallback(h, low as c_int) {
        gs::sys::write_stderr(b"*** closefrom failed to close a file descriptor ***: terminated\n");
        libc::abort();
    }
}

/// Close every fd >= `low` that `/proc/self/fd` lists, except the shim's (glibc's fallback, for
/// kernels without `close_range`).
unsafe fn closefrom_fallback(h: *mut Hub, low: c_int) -> bool {
    let Ok(dir) = syscall!(SYS_openat, libc::AT_FDCWD, c"/proc/self/fd".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)
    else {
        return false;
    };
    let dir = dir as c_int;
    let mut buf = [0u8; 1024];
    let mut ok = true;
    loop {
        let n = match syscall!(SYS_getdents64, dir, buf.as_mut_ptr(), buf.len()) {
            Ok(0) => break,
            Ok(n) => n as usize,
            Err(_) => {
                ok = false;
                break;
            }
        };
        let mut closed = false;
        let mut off = 0;
        while off < n {
            // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name...
            let rec = buf.as_ptr().add(off);
            let reclen = u16::from_ne_bytes([*rec.add(16), *rec.add(17)]) as usize;
            let name = rec.add(19);
            off += reclen;
            let mut fd: c_int = 0;
            let mut k = 0;
            while (*name.add(k)).is_ascii_digit() {
                fd = fd.saturating_mul(10).saturating_add((*name.add(k) - b'0') as c_int);
                k += 1;
            }
            if k == 0 || fd == dir || fd < low || is_ours(h, fd) {
                continue;
            }
            fdtab::closing(h, fd);
            let _ = syscall!(SYS_close, fd);
            closed = true;
        }
        if closed && syscall!(SYS_lseek, dir, 0, libc::SEEK_SET).is_err() {
            ok = false;
            break;
        }
    }
    let _ = syscall!(SYS_close, dir);
    ok
}

/// stdio closes its fd with glibc's internal `close`, which we never see: `fclose(fdopen(sock))`
/// is a classic way to close a socket. Forget the fd before glibc closes it.
#[no_mangle]
pub unsafe extern "C-unwind" fn fclose(f: *mut libc::FILE) -> c_int {
    if let Some(h) = entry::hub() {
        if !f.is_null() {
            fdtab::closing(h, libc::fileno(f));
        }
    }
    real_fns::fclose(f)
}

/// As `fclose`, for `popen`'s pipe.
#[no_mangle]
pub unsafe extern "C-unwind" fn pclose(f: *mut libc::FILE) -> c_int {
    if let Some(h) = entry::hub() {
        if !f.is_null() {
            crate::thread::process::before_pclose(h, f);
            fdtab::closing(h, libc::fileno(f));
        }
    }
    real_fns::pclose(f)
}

/// `freopen` closes the stream's fd with glibc's internal `close` (and may put the new file on
/// the same number with its internal `dup3`): forget the old one first.
#[no_mangle]
pub unsafe extern "C-unwind" fn freopen(path: *const c_char, mode: *const c_char, f: *mut libc::FILE) -> *mut libc::FILE {
    if let Some(h) = entry::hub() {
        if !f.is_null() {
            fdtab::closing(h, libc::fileno(f));
        }
    }
    real_fns::freopen(path, mode, f)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn freopen64(path: *const c_char, mode: *const c_char, f: *mut libc::FILE) -> *mut libc::FILE {
    if let Some(h) = entry::hub() {
        if !f.is_null() {
            fdtab::closing(h, libc::fileno(f));
        }
    }
    real_fns::freopen64(path, mode, f)
}

/// `daemon` puts /dev/null on 0, 1 and 2 with glibc's internal `dup2` (in the forked child that
/// returns): what we knew of those numbers is stale.
#[no_mangle]
pub unsafe extern "C-unwind" fn daemon(nochdir: c_int, noclose: c_int) -> c_int {
    let r = real_fns::daemon(nochdir, noclose);
    if r == 0 && noclose == 0 {
        if let Some(h) = entry::hub() {
            for fd in 0..3 {
                fdtab::closing(h, fd);
            }
        }
    }
    r
}

/// `login_tty` puts `fd` on 0, 1 and 2 and closes it, with glibc's internal calls.
#[no_mangle]
pub unsafe extern "C-unwind" fn login_tty(fd: c_int) -> c_int {
    if let Some(h) = entry::hub() {
        if is_ours(h, fd) {
            return ebadf();
        }
    }
    let r = real_fns::login_tty(fd);
    if r == 0 {
        if let Some(h) = entry::hub() {
            for n in [0, 1, 2, fd] {
                fdtab::closing(h, n);
            }
        }
    }
    r
}

/// The `fstat` family: the shim's descriptors look closed.
#[no_mangle]
pub unsafe extern "C-unwind" fn fstat(fd: c_int, buf: *mut libc::stat) -> c_int {
    if hidden(fd) {
        return ebadf();
    }
    fstat_traced(fd, buf, || real_fns::fstat(fd, buf))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn fstat64(fd: c_int, buf: *mut libc::stat64) -> c_int {
    if hidden(fd) {
        return ebadf();
    }
    fstat_traced(fd, buf as *const libc::stat, || real_fns::fstat64(fd, buf))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __fxstat(ver: c_int, fd: c_int, buf: *mut libc::stat) -> c_int {
    if hidden(fd) {
        return ebadf();
    }
    fstat_traced(fd, buf, || real_fns::__fxstat(ver, fd, buf))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __fxstat64(ver: c_int, fd: c_int, buf: *mut libc::stat64) -> c_int {
    if hidden(fd) {
        return ebadf();
    }
    fstat_traced(fd, buf as *const libc::stat, || real_fns::__fxstat64(ver, fd, buf))
}

/// The program (not the shim itself, not a vfork child) names one of the shim's descriptors.
#[inline]
fn hidden(fd: c_int) -> bool {
    entry::hub().is_some_and(|h| is_ours(h, fd))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn dup(fd: c_int) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::dup(fd) };
    if is_ours(h, fd) {
        return ebadf();
    }
    let n = traced!(h, dup, real_fns::dup(fd), |r, e| [Arg::Int(fd as i64)], Ret::Int(r as i64, e));
    if n >= 0 {
        fdtab::copied(h, fd, n);
    }
    n
}

unsafe fn dup_onto(a: c_int, b: c_int, call: impl FnOnce() -> c_int) -> c_int {
    let Some(h) = entry::hub() else { return call() };
    if is_ours(h, a) {
        return ebadf();
    }
    if is_ours(h, b) {
        // The program believes b is free (natively it is): move ours out of the way.
        if let Err(e) = crate::fd::ownfd::evict(h, b) {
            gs::sys::set_errno(e);
            return -1;
        }
    }
    if a != b {
        // The old b is closed by the kernel: wake its waiters first.
        fdtab::closing(h, b);
    }
    let r = call();
    if r >= 0 && a != b {
        fdtab::copied(h, a, r);
    }
    r
}

#[no_mangle]
pub unsafe extern "C-unwind" fn dup2(a: c_int, b: c_int) -> c_int {
    dup_onto(a, b, || match entry::hub() {
        Some(h) => traced!(h, dup2, real_fns::dup2(a, b), |r, e| [Arg::Int(a as i64), Arg::Int(b as i64)], Ret::Int(r as i64, e)),
        None => real_fns::dup2(a, b),
    })
}

#[no_mangle]
pub unsafe extern "C-unwind" fn dup3(a: c_int, b: c_int, flags: c_int) -> c_int {
    dup_onto(a, b, || match entry::hub() {
        Some(h) => traced!(h, dup3, real_fns::dup3(a, b, flags), |r, e| [
            Arg::Int(a as i64), Arg::Int(b as i64), Arg::Flags(flags as u64, O_FLAGS)
        ], Ret::Int(r as i64, e)),
        None => real_fns::dup3(a, b, flags),
    })
}

unsafe fn fcntl_common(fd: c_int, cmd: c_int, arg: usize, real: unsafe fn(c_int, c_int, usize) -> c_int) -> c_int {
    let Some(h) = entry::hub() else { return real(fd, cmd, arg) };
    if is_ours(h, fd) {
        return ebadf();
    }
    if matches!(cmd, libc::F_SETLKW | libc::F_OFD_SETLKW) {
        return hook!(h, fcntl, entry::nonneg, crate::fd::locks::setlkw(h, fd, cmd, arg, real), |r, e| [
            Arg::Int(fd as i64), Arg::Sym(cmd as i64, FCNTL_CMDS), Arg::Hex(arg as u64)
        ], Ret::Int(r as i64, e));
    }
    let r = traced!(h, fcntl, real(fd, cmd, arg), |r, e| [
        Arg::Int(fd as i64), Arg::Sym(cmd as i64, FCNTL_CMDS),
        match cmd {
            libc::F_SETFL => Arg::Flags(arg as u64, O_FLAGS),
            libc::F_GETFL | libc::F_GETFD | libc::F_GETOWN | libc::F_GETLEASE | libc::F_GETPIPE_SZ => Arg::Skip,
            _ => Arg::Int(arg as i64),
        }
    ], Ret::Int(r as i64, e));
    match cmd {
        libc::F_SETFL if r == 0 => fdtab::flags_changed(),
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC if r >= 0 || gs::sys::errno() == libc::EMFILE => {
            let r = dupfd_below_ours(h, fd, cmd, arg, r, real);
            if r >= 0 {
                fdtab::copied(h, fd, r);
            }
            return r;
        }
        _ => {}
    }
    r
}

/// `F_DUPFD` gives the lowest free number >= arg. If the kernel skipped one of ours to give `r`
/// (or found none free, EMFILE), natively the program would have got ours: move ours away and
/// give the program that number.
unsafe fn dupfd_below_ours(h: *mut Hub, fd: c_int, cmd: c_int, arg: usize, mut r: c_int, real: unsafe fn(c_int, c_int, usize) -> c_int) -> c_int {
    loop {
        let end = if r < 0 { c_int::MAX } else { r };
        let skipped = crate::fd::ownfd::list(h).into_iter().filter(|&o| o >= 0 && (o as usize) >= arg && o < end).min();
        let Some(o) = skipped else { return r };
        if crate::fd::ownfd::evict(h, o).is_err() {
            // ours cannot move: keep what the kernel said
            if r < 0 {
                gs::sys::set_errno(libc::EMFILE);
            }
            return r;
        }
        if r >= 0 {
            let _ = syscall!(SYS_close, r);
        }
        r = real(fd, cmd, arg);
        if r < 0 {
            return r;
        }
    }
}

/// Variadic in C; the third argument is passed as one more register (x86_64 SysV).
#[no_mangle]
pub unsafe extern "C-unwind" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl_common(fd, cmd, arg, real_fns::fcntl)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl_common(fd, cmd, arg, real_fns::fcntl64)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn ioctl(fd: c_int, req: c_ulong, arg: usize) -> c_int {
    if hidden(fd) {
        return ebadf();
    }
    let r = match crate::fd::files::traced_hub() {
        Some(h) => hook!(h, ioctl, entry::nonneg, real_fns::ioctl(fd, req, arg), |r, e| [
            Arg::Int(fd as i64), Arg::Sym(req as i64, IOCTLS), Arg::Hex(arg as u64)
        ], Ret::Int(r as i64, e)),
        None => real_fns::ioctl(fd, req, arg),
    };
    if req == libc::FIONBIO as c_ulong && r == 0 {
        fdtab::flags_changed();
    }
    r
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pipe(p: *mut c_int) -> c_int {
    let r = match entry::hub() {
        Some(h) => traced!(h, pipe, real_fns::pipe(p), |r, e| [Arg::Fds(p, r == 0)], Ret::Int(r as i64, e)),
        None => real_fns::pipe(p),
    };
    if r == 0 {
        new_fd(*p);
        new_fd(*p.add(1));
    }
    r
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pipe2(p: *mut c_int, flags: c_int) -> c_int {
    let r = match entry::hub() {
        Some(h) => traced!(h, pipe2, real_fns::pipe2(p, flags), |r, e| [Arg::Fds(p, r == 0), Arg::Flags(flags as u64, O_FLAGS)], Ret::Int(r as i64, e)),
        None => real_fns::pipe2(p, flags),
    };
    if r == 0 {
        new_fd(*p);
        new_fd(*p.add(1));
    }
    r
}

#[no_mangle]
pub unsafe extern "C-unwind" fn eventfd(init: c_uint, flags: c_int) -> c_int {
    new_fd(match crate::fd::files::traced_hub() {
        Some(h) => hook!(h, eventfd, entry::nonneg, real_fns::eventfd(init, flags), |r, e| [
            Arg::Int(init as i64), Arg::Flags(flags as u64, EFD_FLAGS)
        ], Ret::Int(r as i64, e)),
        None => real_fns::eventfd(init, flags),
    })
}

#[no_mangle]
pub unsafe extern "C-unwind" fn epoll_create(size: c_int) -> c_int {
    new_fd(match crate::fd::files::traced_hub() {
        Some(h) => hook!(h, epoll_create, entry::nonneg, real_fns::epoll_create(size), |r, e| [Arg::Int(size as i64)], Ret::Int(r as i64, e)),
        None => real_fns::epoll_create(size),
    })
}

#[no_mangle]
pub unsafe extern "C-unwind" fn epoll_create1(flags: c_int) -> c_int {
    new_fd(match crate::fd::files::traced_hub() {
        Some(h) => hook!(h, epoll_create1, entry::nonneg, real_fns::epoll_create1(flags), |r, e| [
            Arg::Flags(flags as u64, &[(libc::EPOLL_CLOEXEC as u64, "EPOLL_CLOEXEC")])
        ], Ret::Int(r as i64, e)),
        None => real_fns::epoll_create1(flags),
    })
}

/// Not a hook of the reactor (the program's epoll instances are its own): only keeps the shim's
/// descriptors looking closed, on either side.
#[no_mangle]
pub unsafe extern "C-unwind" fn epoll_ctl(ep: c_int, op: c_int, fd: c_int, ev: *mut libc::epoll_event) -> c_int {
    if hidden(ep) || hidden(fd) {
        return ebadf();
    }
    const OPS: &[(i64, &str)] = &[
        (libc::EPOLL_CTL_ADD as i64, "EPOLL_CTL_ADD"),
        (libc::EPOLL_CTL_MOD as i64, "EPOLL_CTL_MOD"),
        (libc::EPOLL_CTL_DEL as i64, "EPOLL_CTL_DEL"),
    ];
    match crate::fd::files::traced_hub() {
        Some(h) => hook!(h, epoll_ctl, entry::nonneg, real_fns::epoll_ctl(ep, op, fd, ev), |r, e| [
            Arg::Int(ep as i64), Arg::Sym(op as i64, OPS), Arg::Int(fd as i64), Arg::Hex(ev as u64)
        ], Ret::Int(r as i64, e)),
        None => real_fns::epoll_ctl(ep, op, fd, ev),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn open(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    new_fd(open_traced(Opener::Open, path, flags, mode, || real_fns::open(path, flags, mode)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn open64(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    new_fd(open_traced(Opener::Open, path, flags, mode, || real_fns::open64(path, flags, mode)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn openat(dir: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    new_fd(open_traced(Opener::At(dir), path, flags, mode, || real_fns::openat(dir, path, flags, mode)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn openat64(dir: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    new_fd(open_traced(Opener::At(dir), path, flags, mode, || real_fns::openat64(dir, path, flags, mode)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    new_fd(open_traced(Opener::Open, path, flags, 0, || real_fns::__open_2(path, flags)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
    new_fd(open_traced(Opener::Open, path, flags, 0, || real_fns::__open64_2(path, flags)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __openat_2(dir: c_int, path: *const c_char, flags: c_int) -> c_int {
    new_fd(open_traced(Opener::At(dir), path, flags, 0, || real_fns::__openat_2(dir, path, flags)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __openat64_2(dir: c_int, path: *const c_char, flags: c_int) -> c_int {
    new_fd(open_traced(Opener::At(dir), path, flags, 0, || real_fns::__openat64_2(dir, path, flags)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn creat(path: *const c_char, mode: c_uint) -> c_int {
    new_fd(open_traced(Opener::Creat, path, 0, mode, || real_fns::creat(path, mode)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn creat64(path: *const c_char, mode: c_uint) -> c_int {
    new_fd(open_traced(Opener::Creat, path, 0, mode, || real_fns::creat64(path, mode)))
}
