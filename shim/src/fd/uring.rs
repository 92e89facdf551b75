//! `io_uring_enter` that waits for completions parks only the waiting greenlet.
//!
//! # Why
//! glibc has no wrapper for io_uring: liburing (and programs that use the ring directly) make
//! the `io_uring_enter` system call inline or through `syscall()`, which greenshim catches
//! (`hook::catch`, `hook::syscall`). A call with `IORING_ENTER_GETEVENTS` and a non-zero
//! `min_complete` sleeps in the kernel until that many completions are in the ring: on one OS
//! thread, it would block every greenlet, including the ones that submit the work it waits for
//! or hold the locks its completions need. MariaDB's InnoDB (10.6+, `innodb_linux_aio=auto`
//! picks io_uring where the kernel has it) runs a completion thread that does exactly this
//! (`io_uring_wait_cqe`) while the server's other threads submit reads and writes: under the
//! shim the server hung at its start-up with the OS thread in `io_cqring_wait`.
//!
//! # How
//! The call is made in two parts, as the kernel itself orders them:
//! 1. the submission (`to_submit` entries, the caller's flags without the wait), whose count is
//!    the call's result whatever the wait gives, as natively; a short or failed submission
//!    returns at once, as the kernel skips the wait then;
//! 2. the wait, as non-blocking attempts: the same call with `to_submit` 0 and a zero timeout
//!    (`IORING_ENTER_EXT_ARG`, Linux 5.11+), which returns 0 once `min_complete` completions are
//!    there and ETIME otherwise; after ETIME the greenlet parks on the ring's descriptor in the
//!    hub's epoll set (a ring is readable while its completion queue is not empty, and every
//!    posted completion wakes its pollers, so each completion is an edge) and tries again.
//!    A wait that times out returns 0 rather than ETIME when the queue holds some completions,
//!    if fewer than `min_complete`: for `min_complete` > 1 the attempt's 0 is checked against
//!    the queue's length, which the ring's `/proc/self/fdinfo` entry shows (`CqHead`, `CqTail`).
//!    Completions the poll does not signal (rings with `IORING_SETUP_DEFER_TASKRUN` post them
//!    only inside the submitter's own `io_uring_enter`) are found by a retry timer that parks at
//!    most 1 ms, doubling up to 64 ms.
//!
//! The caller's timeout (`IORING_ENTER_EXT_ARG`'s `ts`, relative) is the park's deadline and
//! ends it with ETIME; its signal mask is the greenlet's for the call (as `ppoll`'s); a signal
//! handler ends the wait with EINTR, which the kernel never restarts. A call that does not wait
//! (no `GETEVENTS`, `min_complete` 0), or that names its ring by a registered index
//! (`IORING_ENTER_REGISTERED_RING`: no descriptor to poll), or an absolute or pre-registered
//! wait argument (`IORING_ENTER_ABS_TIMER`, `IORING_ENTER_EXT_ARG_REG`, Linux 6.12+), goes to
//! the kernel as it is.

use std::ffi::{c_int, c_long};

use gs::hub::{self, Hub, Wake};
use gs::reactor::Interest;
use gs::sys;

use crate::hook::{entry, umem};

const IORING_ENTER_GETEVENTS: u32 = 1 << 0;
const IORING_ENTER_EXT_ARG: u32 = 1 << 3;
const IORING_ENTER_REGISTERED_RING: u32 = 1 << 4;
const IORING_ENTER_ABS_TIMER: u32 = 1 << 5;
const IORING_ENTER_EXT_ARG_REG: u32 = 1 << 6;
/// Flags whose wait greenshim leaves to the kernel (see the module docs).
const KERNEL_ONLY: u32 = IORING_ENTER_REGISTERED_RING | IORING_ENTER_ABS_TIMER | IORING_ENTER_EXT_ARG_REG;

/// Bounds of the retry timer of a parked wait.
const RETRY_MIN_NS: u64 = 1_000_000;
const RETRY_MAX_NS: u64 = 64_000_000;

/// The kernel's `struct io_uring_getevents_arg`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// The kernel's `struct __kernel_timespec`.
#[repr(C)]
#[derive(Clone, Copy)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

/// `syscall(SYS_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz)`, libc
/// convention.
///
/// # Safety
/// The arguments are the system call's, as the program passed them.
pub unsafe fn io_uring_enter(a: [usize; 6]) -> c_long {
    let (flags, min_complete) = (a[3] as u32, a[2] as u32);
    let waits = flags & IORING_ENTER_GETEVENTS != 0 && min_complete != 0 && flags & KERNEL_ONLY == 0;
    let Some(h) = (if waits { entry::hub() } else { None }) else { return crate::fd::coop::ret(enter_raw(a)) as c_long };
    hook!(h, io_uring_enter, entry::nonneg, crate::fd::coop::ret(enter(h, a)) as c_long, |r, e| [
        Arg::Int(a[0] as i32 as i64), Arg::Int(a[1] as u32 as i64), Arg::Int(min_complete as i64), Arg::Hex(flags as u64)
    ], Ret::Int(r as i64, e))
}

/// The kernel's result as `Ok(value)` or `Err(errno)`.
unsafe fn enter_raw(a: [usize; 6]) -> Result<usize, i32> {
    sys::raw_result(libc::SYS_io_uring_enter, a)
}


/// A waiting call, made of the submission and parked wait attempts (see the module docs).
unsafe fn enter(h: *mut Hub, a: [usize; 6]) -> Result<usize, i32> {
    let [fd, to_submit, min_complete, flags, arg, argsz] = a;
    let flags = flags as u32;
    let mut submitted = 0;
    if to_submit as u32 != 0 {
        let nowait = (flags & !(IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG)) as usize;
        let n = enter_raw([fd, to_submit, 0, nowait, 0, 0])?;
        if n != to_submit as u32 as usize {
            return Ok(n);
        }
        submitted = n;
    }
    // The kernel answers with the submitted count if there is one, else with the wait's result.
    let result = |w: Result<usize, i32>| if submitted > 0 { Ok(submitted) } else { w };
    // The caller's wait argument: a signal mask and, with EXT_ARG, a relative timeout.
    let (mask, mask_sz, ts) = if flags & IORING_ENTER_EXT_ARG != 0 {
        if argsz != std::mem::size_of::<GeteventsArg>() {
            return result(Err(libc::EINVAL));
        }
        // The program's argument, timeout and mask are copied fault-safely (EFAULT, as the
        // kernel says for memory it cannot read).
        let Ok(g) = umem::read(arg as *const GeteventsArg) else { return result(Err(libc::EFAULT)) };
        (g.sigmask as usize, g.sigmask_sz as usize, g.ts as usize)
    } else {
        (arg, argsz, 0)
    };
    if mask != 0 && mask_sz != 8 {
        return result(Err(libc::EINVAL));
    }
    let ts = match ts {
        0 => None,
        p => match umem::read(p as *const KernelTimespec) {
            Ok(t) => Some(t),
            Err(e) => return result(Err(e)),
        },
    };
    let mask = match mask {
        0 => None,
        p => match umem::read(p as *const u64) {
            Ok(m) => Some(m),
            Err(e) => return result(Err(e)),
        },
    };
    let deadline = match ts {
        None => None,
        Some(t) => {
            let ns = (t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128).clamp(0, u64::MAX as i128) as u64;
            Some(sys::now().saturating_add(ns))
        }
    };
    let _mask = crate::thread::signal::TempMask::enter(h, mask);
    let zero = KernelTimespec { tv_sec: 0, tv_nsec: 0 };
    let attempt_arg = GeteventsArg { ts: &zero as *const KernelTimespec as u64, ..GeteventsArg::default() };
    let attempt_flags = (flags & !KERNEL_ONLY) | IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
    let attempt = [fd, 0, min_complete, attempt_flags as usize, &attempt_arg as *const GeteventsArg as usize, std::mem::size_of::<GeteventsArg>()];
    let mut retry_ns = RETRY_MIN_NS;
    loop {
        let r = enter_raw(attempt);
        match r {
            // A wait that ends by its timeout still says 0 when the queue holds fewer
            // completions than asked for, but some: count them.
            Ok(_) if min_complete as u32 > 1 => match cq_ready(fd as c_int) {
                // The kernel waits for no more than the queue can hold.
                Some((n, size)) if n < (min_complete as u32).min(size) => {}
                Some(_) => return result(r),
                None => return result(enter_raw([fd, 0, min_complete, flags as usize, arg, argsz])),
            },
            Err(libc::ETIME) => {}
            r => return result(r),
        }
        let now = sys::now();
        if deadline.is_some_and(|d| now >= d) {
            // The kernel's answer at its timeout: 0 if some completions are there, else ETIME.
            return result(r);
        }
        let park_until = deadline.unwrap_or(u64::MAX).min(now.saturating_add(retry_ns));
        // A signal sent while this greenlet was runnable (its retry timer fired) interrupts
        // now: it found no park to interrupt (see coop::run_from).
        let why = match crate::thread::signal::due(h) {
            true => Ok(Wake::Interrupted),
            false => hub::wait_fd(h, fd as c_int, Interest::Read, Some(park_until), true),
        };
        match why {
            // Not pollable (the hub cannot watch it): the kernel's own wait.
            Err(_) => return result(enter_raw([fd, 0, min_complete, flags as usize, arg, argsz])),
            Ok(Wake::Interrupted) => return result(Err(libc::EINTR)),
            Ok(Wake::Closed) => return result(Err(libc::EBADF)),
            Ok(Wake::TimedOut) => retry_ns = (retry_ns * 2).min(RETRY_MAX_NS),
            Ok(Wake::Woken | Wake::Signal) => {}
        }
    }
}

/// Completions waiting in the ring `fd`'s queue (`CqTail - CqHead` of its fdinfo) and the
/// queue's size (`CqMask + 1`), `None` if the kernel does not show them.
unsafe fn cq_ready(fd: c_int) -> Option<(u32, u32)> {
    let mut path = *b"/proc/self/fdinfo/\0\0\0\0\0\0\0\0\0\0\0\0";
    let digits = fd.to_string();
    path[18..18 + digits.len()].copy_from_slice(digits.as_bytes());
    let f = sys::raw_syscall(libc::SYS_openat, [libc::AT_FDCWD as usize, path.as_ptr() as usize, (libc::O_RDONLY | libc::O_CLOEXEC) as usize, 0, 0, 0]);
    if f < 0 {
        return None;
    }
    let mut buf = [0u8; 1024];
    let n = sys::raw_syscall(libc::SYS_read, [f as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0]);
    sys::raw_syscall(libc::SYS_close, [f as usize, 0, 0, 0, 0, 0]);
    let text = std::str::from_utf8(buf.get(..usize::try_from(n).ok()?)?).ok()?;
    let field = |name: &str| -> Option<u32> {
        let line = text.lines().find_map(|l| l.strip_prefix(name))?;
        line.trim().parse().ok()
    };
    let mask = text.lines().find_map(|l| l.strip_prefix("CqMask:"))?.trim().strip_prefix("0x")?;
    let size = u32::from_str_radix(mask, 16).ok()?.wrapping_add(1);
    Some((field("CqTail:")?.wrapping_sub(field("CqHead:")?), size))
}
