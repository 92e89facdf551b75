//! Calls that create, copy, close or reconfigure descriptors: `close`, `close_range`, `dup`,
//! `dup2`, `dup3`, `fcntl`/`fcntl64`, `ioctl`, `pipe`, `pipe2`, `eventfd`, `open`/`openat`
//! (+64, fortify `_2` variants), `creat`, `epoll_create`/`epoll_create1`.
//!
//! They keep the fd table and the reactor true: a closed or replaced fd wakes its waiters with
//! EBADF and forgets its epoll registration, a new fd starts with no stale knowledge, and a
//! change of O_NONBLOCK or of a socket timeout invalidates the cached flags. They also keep the
//! hub's own descriptor (its epoll fd, placed high) out of the program's reach: closing it, or
//! replacing it with `dup2`, fails with EBADF as it would natively for an fd that was never
//! opened.

use std::ffi::{c_char, c_int, c_uint, c_ulong};

use gs::hub::Hub;

use crate::entry;
use crate::fdtab;
use crate::trace::{FCNTL_CMDS, O_FLAGS};

mod real_fns {
    use super::*;
    real! {
        fn close(fd: c_int) -> c_int;
        fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
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
        fn fclose(f: *mut libc::FILE) -> c_int;
        fn pclose(f: *mut libc::FILE) -> c_int;
    }
}

/// True if `fd` is one of the hub's own descriptors.
fn is_ours(h: *mut Hub, fd: c_int) -> bool {
    // SAFETY: h is this thread's hub.
    fd >= 0 && (unsafe { (*h).reactor.epfd() } == fd || crate::trace::out_fd() == Some(fd))
}

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
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if let Some(h) = entry::hub() {
        if is_ours(h, fd) {
            return ebadf();
        }
        fdtab::closing(h, fd);
        return traced!(h, close, real_fns::close(fd), |r, e| [Arg::Int(fd as i64)], Ret::Int(r as i64, e));
    }
    real_fns::close(fd)
}

/// `close_range` (and glibc's `closefrom`, which uses it) must not close the hub's descriptors:
/// the range is split around them.
#[no_mangle]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::close_range(first, last, flags) };
    if first > last {
        return real_fns::close_range(first, last, flags); // EINVAL
    }
    let mut ours = [(*h).reactor.epfd(), crate::trace::out_fd().unwrap_or(-1)];
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
            let r = real_fns::close_range(lo, o - 1, flags);
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
    real_fns::close_range(lo, last, flags)
}

/// stdio closes its fd with glibc's internal `close`, which we never see: `fclose(fdopen(sock))`
/// is a classic way to close a socket. Forget the fd before glibc closes it.
#[no_mangle]
pub unsafe extern "C" fn fclose(f: *mut libc::FILE) -> c_int {
    if let Some(h) = entry::hub() {
        if !f.is_null() {
            fdtab::closing(h, libc::fileno(f));
        }
    }
    real_fns::fclose(f)
}

/// As `fclose`, for `popen`'s pipe.
#[no_mangle]
pub unsafe extern "C" fn pclose(f: *mut libc::FILE) -> c_int {
    if let Some(h) = entry::hub() {
        if !f.is_null() {
            fdtab::closing(h, libc::fileno(f));
        }
    }
    real_fns::pclose(f)
}

#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
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
    if is_ours(h, a) || is_ours(h, b) {
        return ebadf();
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
pub unsafe extern "C" fn dup2(a: c_int, b: c_int) -> c_int {
    dup_onto(a, b, || match entry::hub() {
        Some(h) => traced!(h, dup2, real_fns::dup2(a, b), |r, e| [Arg::Int(a as i64), Arg::Int(b as i64)], Ret::Int(r as i64, e)),
        None => real_fns::dup2(a, b),
    })
}

#[no_mangle]
pub unsafe extern "C" fn dup3(a: c_int, b: c_int, flags: c_int) -> c_int {
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
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC if r >= 0 => fdtab::copied(h, fd, r),
        _ => {}
    }
    r
}

/// Variadic in C; the third argument is passed as one more register (x86_64 SysV).
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl_common(fd, cmd, arg, real_fns::fcntl)
}

#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl_common(fd, cmd, arg, real_fns::fcntl64)
}

#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, req: c_ulong, arg: usize) -> c_int {
    let r = real_fns::ioctl(fd, req, arg);
    if req == libc::FIONBIO as c_ulong && r == 0 {
        fdtab::flags_changed();
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn pipe(p: *mut c_int) -> c_int {
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
pub unsafe extern "C" fn pipe2(p: *mut c_int, flags: c_int) -> c_int {
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
pub unsafe extern "C" fn eventfd(init: c_uint, flags: c_int) -> c_int {
    new_fd(real_fns::eventfd(init, flags))
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create(size: c_int) -> c_int {
    new_fd(real_fns::epoll_create(size))
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create1(flags: c_int) -> c_int {
    new_fd(real_fns::epoll_create1(flags))
}

#[no_mangle]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    new_fd(real_fns::open(path, flags, mode))
}

#[no_mangle]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    new_fd(real_fns::open64(path, flags, mode))
}

#[no_mangle]
pub unsafe extern "C" fn openat(dir: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    new_fd(real_fns::openat(dir, path, flags, mode))
}

#[no_mangle]
pub unsafe extern "C" fn openat64(dir: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    new_fd(real_fns::openat64(dir, path, flags, mode))
}

#[no_mangle]
pub unsafe extern "C" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    new_fd(real_fns::__open_2(path, flags))
}

#[no_mangle]
pub unsafe extern "C" fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
    new_fd(real_fns::__open64_2(path, flags))
}

#[no_mangle]
pub unsafe extern "C" fn __openat_2(dir: c_int, path: *const c_char, flags: c_int) -> c_int {
    new_fd(real_fns::__openat_2(dir, path, flags))
}

#[no_mangle]
pub unsafe extern "C" fn __openat64_2(dir: c_int, path: *const c_char, flags: c_int) -> c_int {
    new_fd(real_fns::__openat64_2(dir, path, flags))
}

#[no_mangle]
pub unsafe extern "C" fn creat(path: *const c_char, mode: c_uint) -> c_int {
    new_fd(real_fns::creat(path, mode))
}

#[no_mangle]
pub unsafe extern "C" fn creat64(path: *const c_char, mode: c_uint) -> c_int {
    new_fd(real_fns::creat64(path, mode))
}
