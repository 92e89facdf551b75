//! The sleep family parks only the caller: `sleep`, `usleep`, `nanosleep`, `clock_nanosleep`
//! (and the C11 `thrd_sleep`).
//!
//! Native semantics kept: a zero duration returns at once (after letting the other runnable
//! greenlets run, as the native syscall lets other threads run); invalid arguments give EINVAL;
//! a signal handler that runs while the greenlet sleeps ends the sleep with EINTR and the
//! unslept time (`rem`, `sleep`'s return value); an absolute deadline already past returns 0.
//! Sleeps are cancellation points. Clocks the hub cannot follow (CPU-time clocks, alarm clocks)
//! go to the real call.

use std::ffi::{c_int, c_uint};

use gs::hub::{self, Hub, Wake};
use gs::sys;
use libc::{clockid_t, timespec};

use crate::hook::{entry, umem};
use crate::thread::cancel::park_sleep;
use crate::diag::trace::CLOCKS;

mod real_fns {
    use super::*;
    real! {
        fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int;
        fn clock_nanosleep(clock: clockid_t, flags: c_int, req: *const timespec, rem: *mut timespec) -> c_int;
        fn sleep(secs: c_uint) -> c_uint;
        fn usleep(us: libc::useconds_t) -> c_int;
        fn thrd_sleep(req: *const timespec, rem: *mut timespec) -> c_int;
    }
}

/// Sleep `ns` (> 0) relative nanoseconds. `Err(unslept ns)` if a signal interrupted it.
unsafe fn sleep_for(h: *mut Hub, ns: u64) -> Result<(), u64> {
    let deadline = sys::now().saturating_add(ns);
    loop {
        match park_sleep(h, deadline) {
            Wake::Interrupted => return Err(deadline.saturating_sub(sys::now())),
            _ if sys::now() >= deadline => return Ok(()),
            _ => {} // a stray wakeup: sleep on
        }
    }
}

/// Relative duration of a timespec: `Err(EINVAL)` if invalid or negative.
fn rel_ns(ts: &timespec) -> Result<u64, c_int> {
    match sys::timespec_ns(ts) {
        Some(ns) if ns >= 0 => Ok(ns.min(u64::MAX as i128) as u64),
        _ => Err(libc::EINVAL),
    }
}

/// `nanosleep`/`thrd_sleep` core: Ok(()) slept; Err(EINTR) interrupted, Err(EINVAL).
unsafe fn nanosleep_core(h: *mut Hub, req: &timespec, rem: *mut timespec) -> Result<(), c_int> {
    let ns = rel_ns(req)?;
    if ns == 0 {
        hub::yield_now(h);
        return Ok(());
    }
    sleep_for(h, ns).map_err(|left| store_rem(rem, left))
}

/// After an interrupted sleep: the time left stored at `rem` (if any), as the kernel stores it:
/// EINTR, or EFAULT when `rem` cannot be written.
fn store_rem(rem: *mut timespec, left: u64) -> c_int {
    match rem.is_null() || umem::write(rem, sys::ns_timespec(left as i128)).is_ok() {
        true => libc::EINTR,
        false => libc::EFAULT,
    }
}

/// The program's request, copied fault-safely (`None`: the kernel's EFAULT, from the real call).
fn req_copy(req: *const timespec) -> Option<timespec> {
    umem::read(req).ok()
}

#[no_mangle]
pub unsafe extern "C-unwind" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::nanosleep(req, rem) };
    hook!(h, nanosleep, entry::nonneg, nanosleep_impl(h, req, rem), |r, e| [Arg::Dur(req_copy(req).and_then(|t| gs::sys::timespec_ns(&t)).map(|n| n.max(0) as u64)), Arg::Hex(rem as u64)], Ret::Int(r as i64, e))
}

unsafe fn nanosleep_impl(h: *mut Hub, req: *const timespec, rem: *mut timespec) -> c_int {
    let Some(req) = req_copy(req) else {
        return real_fns::nanosleep(req, rem); // EFAULT, from the kernel
    };
    match nanosleep_core(h, &req, rem) {
        Ok(()) => 0,
        Err(e) => {
            sys::set_errno(e);
            -1
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    nanosleep(req, rem)
}

/// C11: 0 slept, -1 interrupted, other negative on error.
#[no_mangle]
pub unsafe extern "C-unwind" fn thrd_sleep(req: *const timespec, rem: *mut timespec) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::thrd_sleep(req, rem) };
    let Some(req) = req_copy(req) else { return real_fns::thrd_sleep(req, rem) };
    match nanosleep_core(h, &req, rem) {
        Ok(()) => 0,
        Err(libc::EINTR) => -1,
        Err(_) => -2,
    }
}

/// Clocks whose absolute deadlines we can map onto the hub's monotonic time.
fn hub_clock(clock: clockid_t) -> bool {
    matches!(clock, libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME | libc::CLOCK_TAI)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn clock_nanosleep(clock: clockid_t, flags: c_int, req: *const timespec, rem: *mut timespec) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::clock_nanosleep(clock, flags, req, rem) };
    hook!(h, clock_nanosleep, entry::always, clock_nanosleep_impl(h, clock, flags, req, rem), |r, e| [Arg::Sym(clock as i64, CLOCKS), Arg::Raw(if flags & libc::TIMER_ABSTIME != 0 { "TIMER_ABSTIME" } else { "0" }), Arg::Dur(req_copy(req).and_then(|t| gs::sys::timespec_ns(&t)).map(|n| n.max(0) as u64)), Arg::Hex(rem as u64)], Ret::Code(r))
}

unsafe fn clock_nanosleep_impl(h: *mut Hub, clock: clockid_t, flags: c_int, req: *const timespec, rem: *mut timespec) -> c_int {
    let (Some(req), true) = (req_copy(req), hub_clock(clock)) else {
        return real_fns::clock_nanosleep(clock, flags, req, rem);
    };
    let req = &req;
    if flags & libc::TIMER_ABSTIME != 0 {
        let Ok(deadline) = crate::thread::lifecycle::deadline_from_abs(clock, req) else { return libc::EINVAL };
        if deadline <= sys::now() {
            return 0; // already past: natively no sleep at all
        }
        loop {
            match park_sleep(h, deadline) {
                Wake::Interrupted => return libc::EINTR,
                _ if sys::now() >= deadline => return 0,
                _ => {}
            }
        }
    }
    let ns = match rel_ns(req) {
        Ok(ns) => ns,
        Err(e) => return e,
    };
    if ns == 0 {
        hub::yield_now(h);
        return 0;
    }
    match sleep_for(h, ns) {
        Ok(()) => 0,
        Err(left) => store_rem(rem, left),
    }
}

/// Returns the whole seconds not slept when a signal interrupts it (glibc truncates).
#[no_mangle]
pub unsafe extern "C-unwind" fn sleep(secs: c_uint) -> c_uint {
    let Some(h) = entry::hub() else { return real_fns::sleep(secs) };
    hook!(h, sleep, |r: c_uint| r == 0, sleep_impl(h, secs), |r, e| [Arg::Int(secs as i64)], Ret::Int(r as i64, 0))
}

unsafe fn sleep_impl(h: *mut Hub, secs: c_uint) -> c_uint {
    if secs == 0 {
        hub::yield_now(h);
        return 0;
    }
    match sleep_for(h, secs as u64 * 1_000_000_000) {
        Ok(()) => 0,
        Err(left) => {
            sys::set_errno(libc::EINTR);
            (left / 1_000_000_000) as c_uint
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn usleep(us: libc::useconds_t) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::usleep(us) };
    hook!(h, usleep, entry::nonneg, usleep_impl(h, us), |r, e| [Arg::Int(us as i64)], Ret::Int(r as i64, e))
}

unsafe fn usleep_impl(h: *mut Hub, us: libc::useconds_t) -> c_int {
    if us == 0 {
        hub::yield_now(h);
        return 0;
    }
    match sleep_for(h, us as u64 * 1000) {
        Ok(()) => 0,
        Err(_) => {
            sys::set_errno(libc::EINTR);
            -1
        }
    }
}
