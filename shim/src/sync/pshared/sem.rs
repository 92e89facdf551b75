//! Process-shared and named semaphores between greenlets: `sem_init(s, 1, n)` and `sem_open`.
//!
//! The semaphore stays glibc's (`struct new_sem`: the value in the low 32 bits of the first word,
//! glibc's count of kernel waiters in the high ones, `private` = 128 for shared): another process
//! may post or wait on it with glibc's code. `sem_wait` is glibc's `sem_trywait` in a loop; while
//! the value is 0 the greenlet parks on the value word (see `pshared`), interruptible and a
//! cancellation point as glibc's futex wait is (EINTR after a handler without SA_RESTART, or
//! always for a timed wait). `sem_post` is glibc's (it wakes the kernel's waiters, i.e. other
//! processes') plus a wakeup of this process's parked greenlets.
//!
//! `sem_post` is async-signal-safe, so it touches no hub structure: when greenlets wait on some
//! process-shared semaphore it raises [`POSTED`] and kicks the hub (`sync::sem::kick`); the hub's
//! safe point ([`drain`]) then wakes the greenlets parked on every such semaphore that has a value
//! (they retry; losers park again). [`WAITED`] lists the addresses greenlets have parked on since
//! the last drain that found them gone.

use std::cell::UnsafeCell;
use std::collections::HashSet;
use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};

use gs::hub::Hub;
use libc::sem_t;

mod real_fns {
    use super::*;
    real! {
        fn sem_trywait(s: *mut sem_t) -> c_int;
        fn sem_post(s: *mut sem_t) -> c_int;
    }
}

/// A post happened while greenlets waited on some process-shared semaphore.
static POSTED: AtomicBool = AtomicBool::new(false);
/// [`WAITED`] is not empty.
static ANY_WAITED: AtomicBool = AtomicBool::new(false);

/// Addresses of process-shared semaphores greenlets park on (hub thread only, never from a
/// signal handler, not held across a switch).
struct Waited(UnsafeCell<Option<HashSet<usize>>>);
// SAFETY: see `Waited`.
unsafe impl Sync for Waited {}
static WAITED: Waited = Waited(UnsafeCell::new(None));

unsafe fn waited() -> &'static mut HashSet<usize> {
    (*WAITED.0.get()).get_or_insert_with(HashSet::new)
}

#[inline]
unsafe fn value<'a>(s: *mut sem_t) -> &'a AtomicU32 {
    &*(s as *const AtomicU32)
}

/// The blocking part of `sem_wait`/`sem_timedwait`/`sem_clockwait` (`deadline` already
/// validated, as glibc validates first). Returns 0 or an errno.
pub(crate) unsafe fn wait(h: *mut Hub, s: *mut sem_t, deadline: Option<u64>) -> c_int {
    crate::thread::cancel::testcancel(h);
    if crate::sync::sem::kick_fd().is_none() || (*h).safe_point.is_none() {
        crate::sync::sem::ensure_kick_fd(h);
    }
    loop {
        if real_fns::sem_trywait(s) == 0 {
            return 0;
        }
        if deadline.is_some_and(|d| d <= gs::sys::now()) {
            return libc::ETIMEDOUT;
        }
        waited().insert(s as usize);
        ANY_WAITED.store(true, SeqCst);
        match super::wait_word(h, s as usize, 0, deadline, "sem", true) {
            Err(e @ (libc::ETIMEDOUT | libc::EINTR)) => return e,
            Err(libc::ECANCELED) => crate::thread::cancel::testcancel(h),
            _ => {}
        }
    }
}

/// `sem_post`: glibc's, then (async-signal-safely) the hub is asked to wake this process's
/// waiters. Returns glibc's result with its errno.
pub(crate) unsafe fn post(s: *mut sem_t) -> c_int {
    let r = real_fns::sem_post(s);
    if r == 0 && ANY_WAITED.load(SeqCst) {
        POSTED.store(true, SeqCst);
        crate::sync::sem::kick();
    }
    r
}

/// The hub's safe point: after a post, wake the greenlets parked on each semaphore with a value.
pub(crate) unsafe fn drain(h: *mut Hub) {
    if !POSTED.load(SeqCst) || !POSTED.swap(false, SeqCst) {
        return;
    }
    waited().retain(|&a| {
        if value(a as *mut sem_t).load(SeqCst) != 0 {
            super::wake_word(h, a);
        }
        crate::sync::futex::has_waiters(a)
    });
    if waited().is_empty() {
        ANY_WAITED.store(false, SeqCst);
    }
}

/// `sem_destroy` of a process-shared semaphore: forget it.
pub(crate) unsafe fn forget(s: *mut sem_t) {
    if let Some(w) = (*WAITED.0.get()).as_mut() {
        w.remove(&(s as usize));
    }
}
