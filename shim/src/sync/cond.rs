//! Condition variables as greenlet waits: `pthread_cond_*`.
//!
//! Every cond call is taken over (all symbol versions: one unversioned export captures them), so
//! glibc never sees a cond object it did not initialise. The state lives in the caller's 48-byte
//! `pthread_cond_t`; the all-zero `PTHREAD_COND_INITIALIZER` is a valid, empty condvar:
//!
//! | bytes  | glibc      | here                                                        |
//! |--------|------------|-------------------------------------------------------------|
//! | 0..8   | `__wseq`   | wait queue (first waiter, see `gs::waitq`)                   |
//! | 36..40 | `__wrefs`  | flags as glibc keeps them: bit 0 process-shared, bit 1 CLOCK_MONOTONIC |
//!
//! The clock set with `pthread_condattr_setclock` is read with the real
//! `pthread_condattr_getclock` and kept in the same bit glibc uses, so an object initialised by
//! glibc before the hub existed keeps its clock.
//!
//! `pthread_cond_wait` queues the greenlet, releases the mutex (one level, as glibc does) and
//! parks; `signal` wakes the first waiter, `broadcast` all; a woken waiter re-locks the mutex
//! before returning. Waits are cancellation points: a pending `pthread_cancel` is acted on with
//! the mutex re-acquired (as glibc does; cleanup handlers are not run, see README). A signal
//! handler does not end a wait (glibc restarts the futex wait too). Timed waits return ETIMEDOUT
//! at the deadline; an invalid timespec or clock gives EINVAL without touching the mutex.
//!
//! Process-shared condvars keep glibc's layout and protocol (`pshared::cond`); calls from OS
//! threads without a hub go to glibc.

use std::ffi::c_int;

use gs::hub::{self, Wake, WaitOn};
use gs::waitq::{self, Node, Queue};
use libc::{clockid_t, pthread_cond_t, pthread_condattr_t, pthread_mutex_t, timespec};

use crate::sync::mutex::{self, sync_hub};
use crate::sync::pshared::cond as pshared;

mod real_fns {
    use super::*;
    real! {
        fn pthread_cond_init(c: *mut pthread_cond_t, a: *const pthread_condattr_t) -> c_int;
        fn pthread_cond_destroy(c: *mut pthread_cond_t) -> c_int;
        fn pthread_cond_wait(c: *mut pthread_cond_t, m: *mut pthread_mutex_t) -> c_int;
        fn pthread_cond_timedwait(c: *mut pthread_cond_t, m: *mut pthread_mutex_t, t: *const timespec) -> c_int;
        fn pthread_cond_clockwait(c: *mut pthread_cond_t, m: *mut pthread_mutex_t, k: clockid_t, t: *const timespec) -> c_int;
        fn pthread_cond_signal(c: *mut pthread_cond_t) -> c_int;
        fn pthread_cond_broadcast(c: *mut pthread_cond_t) -> c_int;
        fn pthread_condattr_getclock(a: *const pthread_condattr_t, k: *mut clockid_t) -> c_int;
        fn pthread_condattr_getpshared(a: *const pthread_condattr_t, p: *mut c_int) -> c_int;
    }
}

const SHARED: u32 = 1;
const MONOTONIC: u32 = 2;

#[repr(C)]
struct RawCond {
    queue: Queue,
    _a: [u64; 3],
    _b: u32,
    flags: u32,
    _c: u64,
}

const _: () = assert!(std::mem::size_of::<RawCond>() == std::mem::size_of::<pthread_cond_t>());

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_cond_init(c: *mut pthread_cond_t, a: *const pthread_condattr_t) -> c_int {
    let mut flags = 0;
    if !a.is_null() {
        let (mut clock, mut ps) = (libc::CLOCK_REALTIME, 0);
        real_fns::pthread_condattr_getclock(a, &mut clock);
        real_fns::pthread_condattr_getpshared(a, &mut ps);
        if ps == libc::PTHREAD_PROCESS_SHARED {
            return real_fns::pthread_cond_init(c, a);
        }
        if clock != libc::CLOCK_REALTIME {
            flags |= MONOTONIC;
        }
    }
    // Same bytes glibc would write for a private condvar.
    std::ptr::write_bytes(c as *mut u8, 0, std::mem::size_of::<pthread_cond_t>());
    (*(c as *mut RawCond)).flags = flags;
    0
}

#[inline(always)]
unsafe fn native(c: *mut pthread_cond_t) -> bool {
    (*(c as *mut RawCond)).flags & SHARED != 0
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_cond_destroy(c: *mut pthread_cond_t) -> c_int {
    let Some(h) = sync_hub() else { return real_fns::pthread_cond_destroy(c) };
    if native(c) {
        return pshared::destroy(h, c);
    }
    0
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_cond_signal(c: *mut pthread_cond_t) -> c_int {
    let Some(h) = sync_hub() else { return real_fns::pthread_cond_signal(c) };
    if native(c) {
        let r = pshared::signal(h, c);
        crate::thread::signal::after_export(h);
        return r;
    }
    let q = &mut (*(c as *mut RawCond)).queue;
    if !q.is_null() && !waitq::wake_one(h, q).is_null() {
        crate::diag::deadlock::progress();
    }
    crate::thread::signal::after_export(h);
    0
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_cond_broadcast(c: *mut pthread_cond_t) -> c_int {
    let Some(h) = sync_hub() else { return real_fns::pthread_cond_broadcast(c) };
    if native(c) {
        let r = pshared::broadcast(h, c);
        crate::thread::signal::after_export(h);
        return r;
    }
    let q = &mut (*(c as *mut RawCond)).queue;
    if !q.is_null() && waitq::wake_all(h, q) != 0 {
        crate::diag::deadlock::progress();
    }
    crate::thread::signal::after_export(h);
    0
}

/// The wait itself; `dl`: the clock and absolute time of a timed wait.
unsafe fn wait(c: *mut pthread_cond_t, m: *mut pthread_mutex_t, dl: Option<(clockid_t, *const timespec)>) -> c_int {
    let h = sync_hub().unwrap();
    crate::thread::cancel::testcancel(h);
    let deadline = match dl {
        None => None,
        Some((clock, abs)) => {
            if !mutex::valid_clock(clock) {
                return libc::EINVAL;
            }
            match mutex::deadline(clock, abs) {
                Ok(d) => Some(d),
                Err(e) => return e,
            }
        }
    };
    if native(c) {
        return pshared::wait(h, c, m, deadline);
    }
    let rc = c as *mut RawCond;
    let q: *mut Queue = &mut (*rc).queue;
    let mut node = Node::new(0);
    let (id, token) = (*h).prepare_park();
    node.id = id;
    node.token = token;
    waitq::push_back(q, &mut node);
    let r = crate::sync::mutex::pthread_mutex_unlock(m);
    if r != 0 {
        waitq::remove(q, &mut node);
        return r;
    }
    crate::diag::deadlock::ensure_hooks(h);
    let what = WaitOn::Object("cond", c as usize);
    let timed_out;
    if deadline.is_some_and(|d| d <= gs::sys::now()) {
        waitq::remove(q, &mut node);
        timed_out = true;
    } else {
        // Interruptible only so that pthread_cancel reaches a waiter; a signal alone re-parks.
        let mut why = hub::park_prepared(h, what, deadline, true);
        loop {
            if node.woken || why != Wake::Interrupted || !node.is_linked() || cancel_pending(h) {
                break;
            }
            why = waitq::rewait(h, q, &mut node, what, deadline, true);
            if node.woken || why != Wake::Interrupted {
                break;
            }
        }
        waitq::remove(q, &mut node);
        timed_out = !node.woken && why == Wake::TimedOut;
    }
    // Re-acquire (a recursive mutex gets back the level the wait released).
    let r = crate::sync::mutex::pthread_mutex_lock_impl(m);
    crate::thread::cancel::testcancel(h);
    if r != 0 {
        return r;
    }
    if timed_out {
        libc::ETIMEDOUT
    } else {
        0
    }
}

/// True if a cancellation request is pending and enabled for the running greenlet (the bits
/// `thread::cancel` keeps in `ext[EXT_CANCEL]`: bit 0 pending, bit 1 disabled).
pub(crate) unsafe fn cancel_pending(h: *mut gs::hub::Hub) -> bool {
    (*(*h).current()).ext[crate::thread::cancel::EXT_CANCEL] & 3 == 1
}

unsafe fn pthread_cond_wait_impl(c: *mut pthread_cond_t, m: *mut pthread_mutex_t) -> c_int {
    if sync_hub().is_none() {
        return real_fns::pthread_cond_wait(c, m);
    }
    wait(c, m, None)
}

unsafe fn pthread_cond_timedwait_impl(c: *mut pthread_cond_t, m: *mut pthread_mutex_t, abs: *const timespec) -> c_int {
    if sync_hub().is_none() {
        return real_fns::pthread_cond_timedwait(c, m, abs);
    }
    let clock = if (*(c as *mut RawCond)).flags & MONOTONIC != 0 { libc::CLOCK_MONOTONIC } else { libc::CLOCK_REALTIME };
    wait(c, m, Some((clock, abs)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_cond_clockwait(c: *mut pthread_cond_t, m: *mut pthread_mutex_t, clock: clockid_t, abs: *const timespec) -> c_int {
    if sync_hub().is_none() {
        return real_fns::pthread_cond_clockwait(c, m, clock, abs);
    }
    wait(c, m, Some((clock, abs)))
}

/// The hook boundary (see `entry`); the work is in `pthread_cond_wait_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_cond_wait(c: *mut pthread_cond_t, m: *mut pthread_mutex_t) -> c_int {
    match crate::hook::entry::hub() {
        Some(h) => hook!(h, pthread_cond_wait, crate::hook::entry::always, pthread_cond_wait_impl(c, m), |r, e| [Arg::Hex(c as u64), Arg::Hex(m as u64)], Ret::Code(r)),
        None => pthread_cond_wait_impl(c, m),
    }
}

/// The hook boundary (see `entry`); the work is in `pthread_cond_timedwait_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_cond_timedwait(c: *mut pthread_cond_t, m: *mut pthread_mutex_t, abs: *const timespec) -> c_int {
    match crate::hook::entry::hub() {
        Some(h) => hook!(h, pthread_cond_timedwait, crate::hook::entry::always, pthread_cond_timedwait_impl(c, m, abs), |r, e| [Arg::Hex(c as u64), Arg::Hex(m as u64), Arg::Hex(abs as u64)], Ret::Code(r)),
        None => pthread_cond_timedwait_impl(c, m, abs),
    }
}
