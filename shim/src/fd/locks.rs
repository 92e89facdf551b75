//! File locks that wait: `flock` without `LOCK_NB`, `fcntl` `F_SETLKW`/`F_OFD_SETLKW`,
//! `lockf` `F_LOCK` park only the waiting greenlet.
//!
//! The kernel offers nothing to poll for "this lock became free", so a wait is made of the
//! non-blocking form of the same request (`LOCK_NB`, `F_SETLK`/`F_OFD_SETLK`, `F_TLOCK`), which
//! takes the lock exactly when the blocking one would return, and parks on a retry timer in
//! between: 1 ms doubling up to 32 ms (a lock released during a long wait is taken within
//! 32 ms; natively the kernel hands it over at once). A signal handler ends the wait with EINTR
//! or restarts it after SA_RESTART (signal(7) lists these calls as restartable). What differs:
//! the kernel's deadlock detection between `F_SETLKW` waiters (EDEADLK) never triggers, since
//! the greenlet never waits in the kernel, and waiters are not served in the kernel's order.

use std::ffi::c_int;

use gs::hub::{self, Hub, Wake, WaitOn};
use gs::sys;

use crate::hook::entry;

mod real_fns {
    use super::*;
    real! {
        fn flock(fd: c_int, op: c_int) -> c_int;
        fn lockf(fd: c_int, cmd: c_int, len: libc::off_t) -> c_int;
        fn lockf64(fd: c_int, cmd: c_int, len: libc::off64_t) -> c_int;
    }
}

const RETRY_MIN_NS: u64 = 1_000_000;
const RETRY_MAX_NS: u64 = 32_000_000;

/// Run `attempt` (the non-blocking form, libc convention) until it succeeds or fails with
/// something other than "held by another" (`busy`), parking on the retry timer in between.
/// `cancel`: the call is a cancellation point (`fcntl(F_SETLKW)` and `lockf` are; glibc's
/// `flock` is not).
pub unsafe fn retry(h: *mut Hub, what: &'static str, fd: c_int, busy: &[c_int], cancel: bool, mut attempt: impl FnMut() -> c_int) -> c_int {
    let mut wait_ns = RETRY_MIN_NS;
    loop {
        let r = attempt();
        if r == 0 || !busy.contains(&sys::errno()) {
            return r;
        }
        // A signal pending since the retry timer woke us interrupts now (see coop::run_from).
        let why = match crate::thread::signal::due(h) {
            true => Wake::Interrupted,
            false => hub::park(h, WaitOn::Object(what, fd as usize), Some(sys::now().saturating_add(wait_ns)), true),
        };
        wait_ns = (wait_ns * 2).min(RETRY_MAX_NS);
        if why == Wake::Interrupted {
            if cancel {
                crate::thread::cancel::testcancel(h);
            }
            if !crate::fd::fdtab::restart_after_signal(h, 0) {
                sys::set_errno(libc::EINTR);
                return -1;
            }
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn flock(fd: c_int, op: c_int) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::flock(fd, op) };
    if op & libc::LOCK_NB != 0 || op & (libc::LOCK_SH | libc::LOCK_EX) == 0 || crate::fd::ownfd::is_ours(h, fd) {
        return real_fns::flock(fd, op);
    }
    hook!(h, flock, entry::nonneg, retry(h, "flock", fd, &[libc::EWOULDBLOCK], false, || real_fns::flock(fd, op | libc::LOCK_NB)),
        |r, e| [Arg::Int(fd as i64), Arg::Int(op as i64)], Ret::Int(r as i64, e))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn lockf(fd: c_int, cmd: c_int, len: libc::off_t) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::lockf(fd, cmd, len) };
    if cmd != libc::F_LOCK {
        return real_fns::lockf(fd, cmd, len);
    }
    hook!(h, lockf, entry::nonneg, retry(h, "lockf", fd, &[libc::EAGAIN, libc::EACCES], true, || real_fns::lockf(fd, libc::F_TLOCK, len)),
        |r, e| [Arg::Int(fd as i64), Arg::Int(cmd as i64), Arg::Int(len)], Ret::Int(r as i64, e))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn lockf64(fd: c_int, cmd: c_int, len: libc::off64_t) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::lockf64(fd, cmd, len) };
    if cmd != libc::F_LOCK {
        return real_fns::lockf64(fd, cmd, len);
    }
    hook!(h, lockf, entry::nonneg, retry(h, "lockf", fd, &[libc::EAGAIN, libc::EACCES], true, || real_fns::lockf64(fd, libc::F_TLOCK, len)),
        |r, e| [Arg::Int(fd as i64), Arg::Int(cmd as i64), Arg::Int(len)], Ret::Int(r as i64, e))
}

/// `fcntl(fd, F_SETLKW | F_OFD_SETLKW, lock)` through `real` (fcntl or fcntl64).
pub unsafe fn setlkw(h: *mut Hub, fd: c_int, cmd: c_int, arg: usize, real: unsafe fn(c_int, c_int, usize) -> c_int) -> c_int {
    let nb = if cmd == libc::F_OFD_SETLKW { libc::F_OFD_SETLK } else { libc::F_SETLK };
    retry(h, "fcntl lock", fd, &[libc::EAGAIN, libc::EACCES], true, || real(fd, nb, arg))
}
