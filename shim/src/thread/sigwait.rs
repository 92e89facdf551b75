//! Waiting for signals parks only the caller: `sigwait`, `sigwaitinfo`, `sigtimedwait`,
//! `sigsuspend`, `pause`.
//!
//! A `sigwait`-family call takes, in this order, a signal of its set pending for its greenlet,
//! one pending for the process, then one the kernel holds (every greenlet blocks it: the OS
//! thread does too, so the kernel keeps it queued). While it waits, its greenlet accepts the
//! set as the kernel's waiting thread does (routing sends it such signals), and a `signalfd`
//! for the set in the hub's reactor wakes it when the kernel queues one. A handler that runs
//! for another signal meanwhile ends `sigwaitinfo`/`sigtimedwait` with EINTR (never restarted,
//! signal(7)); glibc's `sigwait` waits on. All are cancellation points.
//!
//! `sigsuspend` puts its mask in force, runs the first signals it lets through (their
//! handlers see that mask), restores the mask and fails with EINTR; `pause` is `sigsuspend`
//! with the current mask.

use std::ffi::c_int;

use gs::hub::{self, Hub, WaitOn, Wake};
use gs::reactor::Interest;
use gs::sigmask::UNBLOCKABLE;
use gs::sys;
use libc::{siginfo_t, sigset_t, timespec};

use crate::hook::{entry, umem};
use crate::thread::cancel::testcancel;
use crate::thread::signal::{self, take_from, take_proc, TempMask};

mod real_fns {
    use super::*;
    real! {
    fn sigwait(set: *const sigset_t, sig: *mut c_int) -> c_int;
    fn sigwaitinfo(set: *const sigset_t, info: *mut siginfo_t) -> c_int;
    fn sigtimedwait(set: *const sigset_t, info: *mut siginfo_t, ts: *const timespec) -> c_int;
    fn sigsuspend(set: *const sigset_t) -> c_int;
    fn pause() -> c_int;
    }
}

/// Take a signal of `set` for the running greenlet, if one is pending anywhere.
unsafe fn take(h: *mut Hub, set: u64) -> Option<siginfo_t> {
    let g = (*h).current();
    let mine = (*g).sigpending & set;
    if mine != 0 {
        return take_from(g, mine.trailing_zeros() as c_int + 1);
    }
    let proc = signal::proc_pending() & set;
    if proc != 0 {
        return take_proc(proc.trailing_zeros() as c_int + 1);
    }
    if signal::kernel_pending() & set != 0 {
        let zero = timespec { tv_sec: 0, tv_nsec: 0 };
        let mut info: siginfo_t = std::mem::zeroed();
        if syscall!(SYS_rt_sigtimedwait, &set as *const u64, &mut info as *mut siginfo_t, &zero as *const timespec, 8).is_ok() {
            return Some(info);
        }
    }
    None
}

/// A signalfd for `set`, high and close-on-exec (the program must not see it).
fn signalfd_for(set: u64) -> Option<i32> {
    let fd = syscall!(SYS_signalfd4, -1, &set as *const u64, 8, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC).ok()?;
    gs::reactor::move_high(fd as i32).ok()
}

/// The wait: `Ok(info)`, or `Err(errno)` (EAGAIN at the deadline, EINTR after a handler).
unsafe fn wait(h: *mut Hub, set: u64, deadline: Option<u64>) -> Result<siginfo_t, c_int> {
    let set = set & !UNBLOCKABLE;
    let g = (*h).current();
    testcancel(h);
    loop {
        signal::waiting_for(h, g, set);
        if let Some(info) = take(h, set) {
            (*g).sigwaiting = 0;
            return Ok(info);
        }
        if (*g).deliverable() != 0 {
            (*g).sigwaiting = 0;
            return Err(libc::EINTR); // a handler is due: it runs when the call returns
        }
        if deadline.is_some_and(|d| sys::now() >= d) {
            (*g).sigwaiting = 0;
            return Err(libc::EAGAIN);
        }
        let why = match signalfd_for(set) {
            Some(fd) => {
                let why = hub::wait_fd(h, fd, Interest::Read, deadline, true);
                hub::fd_closing(h, fd);
                let _ = syscall!(SYS_close, fd);
                why.unwrap_or(Wake::Woken)
            }
            None => hub::park(h, WaitOn::Signal, deadline.or(Some(sys::now() + 10_000_000)), true),
        };
        (*g).sigwaiting = 0;
        if why == Wake::Interrupted {
            testcancel(h);
        }
    }
}

/// The deadline of the program's timeout, copied fault-safely (EFAULT, EINVAL as the kernel).
unsafe fn deadline_of(ts: *const timespec) -> Result<Option<u64>, c_int> {
    if ts.is_null() {
        return Ok(None);
    }
    match sys::timespec_ns(&umem::read(ts)?) {
        Some(ns) if ns >= 0 => Ok(Some(sys::now().saturating_add(ns.min(u64::MAX as i128) as u64))),
        _ => Err(libc::EINVAL),
    }
}

unsafe fn sigtimedwait_impl(h: *mut Hub, set: *const sigset_t, info: *mut siginfo_t, ts: *const timespec) -> c_int {
    // The set, then the timeout, copied fault-safely as the kernel copies them.
    let set = umem::read(set as *const u64);
    let deadline = match set.and_then(|_| deadline_of(ts)) {
        Ok(d) => d,
        Err(e) => {
            sys::set_errno(e);
            return -1;
        }
    };
    match wait(h, set.unwrap_or(0), deadline) {
        Ok(mut i) => {
            // As glibc's wrapper: the kernel says SI_TKILL for tgkill (raise, pthread_kill),
            // POSIX wants SI_USER.
            if i.si_code == libc::SI_TKILL {
                let k = &mut i as *mut siginfo_t as *mut c_int;
                *k.add(2) = libc::SI_USER;
            }
            // The signal is taken even when `info` cannot be written: EFAULT, as natively.
            if !info.is_null() && umem::write(info, i).is_err() {
                sys::set_errno(libc::EFAULT);
                return -1;
            }
            i.si_signo
        }
        Err(e) => {
            sys::set_errno(e);
            -1
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sigtimedwait(set: *const sigset_t, info: *mut siginfo_t, ts: *const timespec) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::sigtimedwait(set, info, ts) };
    hook!(h, sigtimedwait, entry::nonneg, sigtimedwait_impl(h, set, info, ts), |r, e| [Arg::Hex(set as u64), Arg::Hex(info as u64), Arg::Dur(umem::read(ts).ok().and_then(|t| sys::timespec_ns(&t)).map(|n| n.max(0) as u64))], Ret::Int(r as i64, e))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sigwaitinfo(set: *const sigset_t, info: *mut siginfo_t) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::sigwaitinfo(set, info) };
    hook!(h, sigwaitinfo, entry::nonneg, sigtimedwait_impl(h, set, info, std::ptr::null()), |r, e| [Arg::Hex(set as u64), Arg::Hex(info as u64)], Ret::Int(r as i64, e))
}

unsafe fn sigwait_impl(h: *mut Hub, set: *const sigset_t, sig: *mut c_int) -> c_int {
    let set = match umem::read(set as *const u64) {
        Ok(s) => s,
        Err(e) => return e,
    };
    loop {
        match wait(h, set, None) {
            Ok(i) => {
                *sig = i.si_signo;
                return 0;
            }
            // glibc's sigwait waits on after a handler ran; the handler runs first.
            Err(libc::EINTR) => signal::deliver_now(h),
            Err(e) => return e,
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sigwait(set: *const sigset_t, sig: *mut c_int) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::sigwait(set, sig) };
    let r = hook!(h, sigwait, entry::always, sigwait_impl(h, set, sig), |r, e| [Arg::Hex(set as u64), Arg::Hex(sig as u64)], Ret::Code(r));
    if r == libc::EFAULT {
        sys::set_errno(r); // glibc's sigwait leaves its sigtimedwait's errno
    }
    r
}

/// Wait until a handler has run with `mask` in force; always -1/EINTR.
unsafe fn suspend(h: *mut Hub, mask: Option<u64>) -> c_int {
    let g = (*h).current();
    testcancel(h);
    {
        let _m = TempMask::enter(h, mask);
        let before = (*g).sig_handled;
        loop {
            if signal::due(h) {
                signal::deliver_now(h);
            }
            if (*g).sig_handled != before {
                break;
            }
            if hub::park(h, WaitOn::Signal, None, true) == Wake::Interrupted {
                testcancel(h);
            }
        }
    }
    sys::set_errno(libc::EINTR);
    -1
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sigsuspend(set: *const sigset_t) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::sigsuspend(set) };
    let s = match umem::read(set as *const u64) {
        Ok(s) => s,
        Err(e) => {
            sys::set_errno(e);
            return -1;
        }
    };
    hook!(h, sigsuspend, entry::nonneg, suspend(h, Some(s)), |r, e| [Arg::Hex(set as u64)], Ret::Int(r as i64, e))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pause() -> c_int {
    let Some(h) = entry::hub() else { return real_fns::pause() };
    hook!(h, pause, entry::nonneg, suspend(h, None), |r, e| [], Ret::Int(r as i64, e))
}

/// XSI `sigpause`: remove `sig` from the mask and suspend.
#[no_mangle]
pub unsafe extern "C-unwind" fn __xpg_sigpause(sig: c_int) -> c_int {
    let Some(h) = entry::hub() else { return real_xpg_sigpause(sig) };
    if !(1..=64).contains(&sig) {
        sys::set_errno(libc::EINVAL);
        return -1;
    }
    let mask = (*(*h).current()).sigmask & !gs::sigmask::bit(sig);
    hook!(h, sigsuspend, entry::nonneg, suspend(h, Some(mask)), |r, e| [Arg::Int(sig as i64)], Ret::Int(r as i64, e))
}

/// BSD `sigpause`: suspend with the first 32 signals' mask `mask`.
#[no_mangle]
pub unsafe extern "C-unwind" fn sigpause(mask: c_int) -> c_int {
    let Some(h) = entry::hub() else { return real_sigpause(mask) };
    hook!(h, sigsuspend, entry::nonneg, suspend(h, Some(mask as u32 as u64)), |r, e| [Arg::Hex(mask as u64)], Ret::Int(r as i64, e))
}

unsafe fn real_xpg_sigpause(sig: c_int) -> c_int {
    mod r {
        use super::*;
        real! { fn __xpg_sigpause(sig: c_int) -> c_int; }
    }
    r::__xpg_sigpause(sig)
}

unsafe fn real_sigpause(mask: c_int) -> c_int {
    mod r {
        use super::*;
        real! { fn sigpause(mask: c_int) -> c_int; }
    }
    r::sigpause(mask)
}
