//! Linux native AIO: `io_getevents` / `io_pgetevents` that wait for completions park only the
//! waiting greenlet.
//!
//! # Why
//! glibc has no wrapper for Linux AIO: libaio makes the system calls, and programs make them
//! through `syscall()` (MariaDB's InnoDB calls `syscall(__NR_io_getevents, ctx, 1, 256, ev,
//! NULL)` in its completion thread, to skip libaio's user-space shortcut). MariaDB uses it where
//! io_uring is unavailable (`innodb_linux_aio=aio`, or `auto` on a kernel without io_uring or
//! with `kernel.io_uring_disabled`, or under a seccomp filter that refuses it, as container
//! runtimes' defaults do): a wait in the kernel there blocked the OS thread, so the server hung
//! at start-up, its other threads never submitting the reads it waited for.
//!
//! # How
//! An AIO context has no descriptor to poll, so a wait is made of zero-timeout calls, which
//! take the completions that are there (up to the room left in the caller's array), parked on
//! a retry timer in between: 100 µs, doubling up to 4 ms while nothing arrives, back to 100 µs
//! after each completion. Completions taken accumulate in the caller's array, as the kernel's
//! own wait accumulates them: the call returns once `min_nr` are there, at the caller's
//! timeout with what is there, and after a signal handler with what is there, or EINTR if
//! nothing (the kernel never restarts these calls). `io_pgetevents`'s signal mask is the
//! greenlet's for the call. A call that cannot wait (`min_nr` 0, a zero timeout) goes to the
//! kernel as it is.
//!
//! What differs: a completion is noticed up to 4 ms late (natively the kernel wakes the
//! waiter at once), and while a greenlet waits, an otherwise idle hub wakes up at that rate.

use std::ffi::c_long;

use gs::hub::{self, Hub, Wake, WaitOn};
use gs::sys;

use crate::hook::{entry, umem};

/// x86_64's `__NR_io_pgetevents` (not in the libc crate).
pub const SYS_IO_PGETEVENTS: c_long = 333;

/// Bounds of the retry timer.
const RETRY_MIN_NS: u64 = 100_000;
const RETRY_MAX_NS: u64 = 4_000_000;
/// The kernel's `struct io_event`.
const IO_EVENT_SIZE: usize = 32;

/// The kernel's `struct __kernel_timespec`.
#[derive(Clone, Copy)]
#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

/// `syscall(SYS_io_getevents, ctx, min_nr, nr, events, timeout)` and
/// `syscall(SYS_io_pgetevents, ctx, min_nr, nr, events, timeout, usig)`, libc convention.
///
/// # Safety
/// The arguments are the system call's, as the program passed them.
pub unsafe fn io_getevents(nr_sys: c_long, a: [usize; 6]) -> c_long {
    let min_nr = a[1] as c_long;
    // Copied fault-safely: a timeout the kernel cannot read is its EFAULT, at once.
    let timeout = match a[4] {
        0 => Ok(None),
        p => umem::read(p as *const KernelTimespec).map(Some),
    };
    let waits = min_nr > 0 && matches!(timeout, Ok(t) if t.is_none_or(|t| t.tv_sec != 0 || t.tv_nsec != 0));
    let (Some(h), Ok(timeout)) = (if waits { entry::hub() } else { None }, timeout) else {
        return crate::fd::coop::ret(sys::raw_result(nr_sys, a)) as c_long;
    };
    hook!(h, io_getevents, entry::nonneg, crate::fd::coop::ret(getevents(h, nr_sys, a, timeout)) as c_long, |r, e| [
        Arg::Hex(a[0] as u64), Arg::Int(min_nr as i64), Arg::Int(a[2] as c_long as i64), Arg::Hex(a[3] as u64)
    ], Ret::Int(r as i64, e))
}


/// A waiting call, made of zero-timeout attempts and parks (see the module docs); `timeout` is
/// the program's, copied.
unsafe fn getevents(h: *mut Hub, nr_sys: c_long, a: [usize; 6], timeout: Option<KernelTimespec>) -> Result<usize, i32> {
    let [ctx, min_nr, nr, events, _, usig] = a;
    let (min_nr, nr) = (min_nr as c_long, nr as c_long);
    let deadline = timeout.map(|t| {
        let ns = (t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128).clamp(0, u64::MAX as i128) as u64;
        sys::now().saturating_add(ns)
    });
    // io_pgetevents: `struct __aio_sigset { const sigset_t *sigmask; size_t sigsetsize; }`.
    let mut mask = None;
    // Both copied fault-safely, in the kernel's order: EFAULT, EINVAL for the size, EFAULT.
    if nr_sys == SYS_IO_PGETEVENTS && usig != 0 {
        let [set, size] = umem::read(usig as *const [usize; 2])?;
        if set != 0 {
            if size != 8 {
                return Err(libc::EINVAL);
            }
            mask = Some(umem::read(set as *const u64)?);
        }
    }
    let _mask = crate::thread::signal::TempMask::enter(h, mask);
    let zero = KernelTimespec { tv_sec: 0, tv_nsec: 0 };
    let zero_p = &zero as *const KernelTimespec as usize;
    let mut got: c_long = 0;
    let mut retry_ns = RETRY_MIN_NS;
    loop {
        let want = (min_nr - got).max(0) as usize;
        let at = events + got as usize * IO_EVENT_SIZE;
        match sys::raw_result(libc::SYS_io_getevents, [ctx, want, (nr - got) as usize, at, zero_p, 0]) {
            Ok(k) => {
                got += k as c_long;
                if k > 0 {
                    retry_ns = RETRY_MIN_NS;
                }
            }
            // The first attempt checks the arguments as the real call does.
            Err(e) => return if got > 0 { Ok(got as usize) } else { Err(e) },
        }
        if got >= min_nr {
            return Ok(got as usize);
        }
        let now = sys::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(got as usize);
        }
        // A signal sent while this greenlet was runnable (woken by its retry timer, not yet
        // running) did not interrupt a park: it is pending now, and would be until a completion
        // that may never come. Natively it interrupts the call: so here, before parking again.
        if crate::thread::signal::due(h)
            || hub::park(h, WaitOn::Object("io_getevents", ctx), Some(deadline.unwrap_or(u64::MAX).min(now.saturating_add(retry_ns))), true) == Wake::Interrupted
        {
            return if got > 0 { Ok(got as usize) } else { Err(libc::EINTR) };
        }
        retry_ns = (retry_ns * 2).min(RETRY_MAX_NS);
    }
}
