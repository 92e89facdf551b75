//! Waiting for child processes: `wait`, `waitpid`, `wait3`, `wait4`, `waitid` park only the
//! waiting greenlet.
//!
//! There is nothing to poll for "a child changed state" in general, so each wait is made of
//! non-blocking attempts (the same call with `WNOHANG`, which reports exactly what the blocking
//! call would) and parks in between:
//! * waiting for one child (`pid > 0`, `P_PID`) parks on a pidfd of it, which the kernel makes
//!   readable when the child exits: no delay, no polling. greenshim opens it high and
//!   close-on-exec, as its other descriptors, and closes it after the wait. Stop and continue
//!   events (`WUNTRACED`, `WCONTINUED`, `WSTOPPED`) do not make a pidfd readable: such waits
//!   also retry on a timer;
//! * waiting for any child or a process group retries on a timer, 1 ms doubling up to 32 ms
//!   (a child that ends during a long wait is reaped within 32 ms).
//!
//! A signal handler that runs while the greenlet waits ends the wait with EINTR, or restarts it
//! after SA_RESTART handlers, as signal(7) says for `wait` and friends; a deferred cancellation
//! acts (they are cancellation points). Calls with `WNOHANG`, and calls outside the hub, go to
//! libc unchanged.

use std::ffi::c_int;

use gs::hub::{self, Hub, Wake, WaitOn};
use gs::reactor::Interest;
use gs::sys;
use libc::{idtype_t, pid_t, rusage, siginfo_t};

use crate::hook::entry;

mod real_fns {
    use super::*;
    real! {
        fn wait4(pid: pid_t, status: *mut c_int, options: c_int, ru: *mut rusage) -> pid_t;
        fn waitid(idtype: idtype_t, id: libc::id_t, info: *mut siginfo_t, options: c_int) -> c_int;
    }
}

const RETRY_MIN_NS: u64 = 1_000_000;
const RETRY_MAX_NS: u64 = 32_000_000;

/// How a blocked wait waits for its next attempt.
struct Waiter {
    /// A pidfd of the one child waited for (-1: none, retry on the timer only).
    pidfd: i32,
    /// The timer's next interval; `None`: the pidfd alone tells (an exit is all it waits for).
    retry_ns: Option<u64>,
}

impl Waiter {
    /// For a wait on `pid` (0 or less: several children) with `options`.
    unsafe fn new(pid: pid_t, options: c_int) -> Waiter {
        let mut pidfd = -1;
        if pid > 0 {
            if let Ok(fd) = syscall!(SYS_pidfd_open, pid, 0) {
                match gs::reactor::dup_high(fd as i32) {
                    Ok(high) => pidfd = high,
                    Err(_) => {}
                }
                let _ = syscall!(SYS_close, fd);
            }
        }
        let stops = options & (libc::WUNTRACED | libc::WCONTINUED) != 0;
        let retry_ns = (pidfd < 0 || stops).then_some(RETRY_MIN_NS);
        Waiter { pidfd, retry_ns }
    }

    /// Park until the next attempt is due. `Err(EINTR)` when a signal handler interrupted the
    /// wait and it must not restart.
    unsafe fn park(&mut self, h: *mut Hub) -> Result<(), c_int> {
        let deadline = self.retry_ns.map(|ns| sys::now().saturating_add(ns));
        // A signal pending since the retry timer woke us interrupts now (see coop::run_from).
        let why = if crate::thread::signal::due(h) {
            Wake::Interrupted
        } else if self.pidfd >= 0 {
            hub::wait_fd(h, self.pidfd, Interest::Read, deadline, true).unwrap_or(Wake::TimedOut)
        } else {
            hub::park(h, WaitOn::Sleep, deadline, true)
        };
        if let Some(ns) = self.retry_ns.as_mut() {
            *ns = (*ns * 2).min(RETRY_MAX_NS);
        }
        if why == Wake::Interrupted {
            crate::thread::cancel::testcancel(h);
            if !crate::fd::fdtab::restart_after_signal(h, 0) {
                return Err(libc::EINTR);
            }
        }
        Ok(())
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if self.pidfd >= 0 {
            if let Some(h) = entry::any_hub() {
                // SAFETY: h is this thread's hub; the pidfd is ours and nobody waits on it now.
                unsafe { hub::fd_closing(h, self.pidfd) };
            }
            let _ = syscall!(SYS_close, self.pidfd);
        }
    }
}

unsafe fn wait4_impl(h: *mut Hub, pid: pid_t, status: *mut c_int, options: c_int, ru: *mut rusage) -> pid_t {
    let mut waiter: Option<Waiter> = None;
    let mut interrupted = false;
    loop {
        // After an interruption too: a child that changed state (or the last one gone, ECHILD)
        // is the answer, as when the kernel finds it before it looks at the signal.
        match syscall!(SYS_wait4, pid, status, options | libc::WNOHANG, ru) {
            Ok(0) => {}
            Ok(child) => return child as pid_t,
            Err(e) => {
                sys::set_errno(e);
                return -1;
            }
        }
        if interrupted {
            sys::set_errno(libc::EINTR);
            return -1;
        }
        let w = waiter.get_or_insert_with(|| Waiter::new(pid, options));
        interrupted = w.park(h).is_err();
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn wait4(pid: pid_t, status: *mut c_int, options: c_int, ru: *mut rusage) -> pid_t {
    let Some(h) = entry::hub() else { return real_fns::wait4(pid, status, options, ru) };
    if options & libc::WNOHANG != 0 {
        return real_fns::wait4(pid, status, options, ru);
    }
    hook!(h, wait4, entry::nonneg, wait4_impl(h, pid, status, options, ru), |r, e| [
        Arg::Int(pid as i64), Arg::Hex(status as u64), Arg::Hex(options as u64)
    ], Ret::Int(r as i64, e))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn waitpid(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t {
    wait4(pid, status, options, std::ptr::null_mut())
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __waitpid(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t {
    wait4(pid, status, options, std::ptr::null_mut())
}

#[no_mangle]
pub unsafe extern "C-unwind" fn wait(status: *mut c_int) -> pid_t {
    wait4(-1, status, 0, std::ptr::null_mut())
}

#[no_mangle]
pub unsafe extern "C-unwind" fn wait3(status: *mut c_int, options: c_int, ru: *mut rusage) -> pid_t {
    wait4(-1, status, options, ru)
}

unsafe fn waitid_impl(h: *mut Hub, idtype: idtype_t, id: libc::id_t, info: *mut siginfo_t, options: c_int) -> c_int {
    let pid = if idtype == libc::P_PID { id as pid_t } else { -1 };
    let mut waiter: Option<Waiter> = None;
    let mut interrupted = false;
    loop {
        // The attempts fill a siginfo of ours (zeroed: with WNOHANG and nothing to report, the
        // kernel leaves it so); the program's gets the result, written fault-safely: a child
        // reaped into memory that is not there is EFAULT, as natively.
        let mut got: siginfo_t = std::mem::zeroed();
        match syscall!(SYS_waitid, idtype, id, &mut got as *mut siginfo_t, options | libc::WNOHANG, 0) {
            Ok(_) if got.si_signo != 0 => {
                if let Err(e) = crate::hook::umem::write(info, got) {
                    sys::set_errno(e);
                    return -1;
                }
                return 0;
            }
            Ok(_) => {}
            Err(e) => {
                sys::set_errno(e);
                return -1;
            }
        }
        if interrupted {
            sys::set_errno(libc::EINTR);
            return -1;
        }
        let w = waiter.get_or_insert_with(|| Waiter::new(pid, options | if options & libc::WSTOPPED != 0 { libc::WUNTRACED } else { 0 }));
        interrupted = w.park(h).is_err();
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn waitid(idtype: idtype_t, id: libc::id_t, info: *mut siginfo_t, options: c_int) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::waitid(idtype, id, info, options) };
    // Without somewhere to see the result, the attempts could not tell "nothing yet".
    if options & libc::WNOHANG != 0 || info.is_null() {
        return real_fns::waitid(idtype, id, info, options);
    }
    hook!(h, waitid, entry::nonneg, waitid_impl(h, idtype, id, info, options), |r, e| [
        Arg::Int(idtype as i64), Arg::Int(id as i64), Arg::Hex(options as u64)
    ], Ret::Int(r as i64, e))
}

/// Park until child `pid` has exited, leaving it unreaped for whoever reaps it next (`pclose`);
/// return at once if it is not a child of ours. Signal handlers that interrupt the wait run and
/// the wait goes on (the caller retries EINTR, as glibc's `pclose` does).
///
/// # Safety
/// `h` is this thread's hub.
pub unsafe fn wait_exit_unreaped(h: *mut Hub, pid: pid_t) {
    let mut info: siginfo_t = std::mem::zeroed();
    let mut waiter: Option<Waiter> = None;
    loop {
        info.si_signo = 0;
        *(&mut info as *mut siginfo_t as *mut u8).add(16).cast::<pid_t>() = 0;
        match syscall!(SYS_waitid, libc::P_PID, pid, &mut info as *mut siginfo_t, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT, 0) {
            Ok(_) if info.si_signo != 0 => return,
            Ok(_) => {}
            Err(_) => return, // not our child (or already reaped): glibc's pclose reports it
        }
        if waiter.get_or_insert_with(|| Waiter::new(pid, 0)).park(h).is_err() {
            crate::thread::signal::deliver_now(h);
        }
    }
}
