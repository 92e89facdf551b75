//! Process-shared mutexes between greenlets (see the module docs of `pshared` for the scheme).
//!
//! The mutex stays glibc's, every type and protocol (normal, adaptive, recursive, errorcheck;
//! robust, priority-inheritance, priority-protect): a lock is glibc's `pthread_mutex_trylock` in
//! a loop, and while it answers EBUSY the greenlet parks on the lock word (`__lock`, offset 0,
//! which every kind changes on release), with the deadline of a timed lock. An unlock is glibc's
//! `pthread_mutex_unlock` (it wakes the kernel's waiters, i.e. other processes') and then wakes
//! one greenlet parked on the word.
//!
//! Which greenlet holds it: for the kinds where glibc checks the owner (recursive, errorcheck,
//! robust, PI), glibc's `__owner` stays the OS thread's id and `pshared::owner_of` records the
//! greenlet; a lock by another greenlet of this process then waits (natively: another thread),
//! its trylock answers EBUSY and its unlock EPERM. Normal and adaptive mutexes need no record:
//! glibc checks nothing for them.
//!
//! Limits: a robust mutex held by a greenlet that ends is not marked owner-dead (natively the
//! kernel does it at thread exit; a greenlet's end is not a thread's): the next locker waits
//! instead of getting EOWNERDEAD, unless the whole process dies (then the kernel walks the robust
//! list of the OS thread's registered descriptor, which covers only main's locks). A
//! priority-inheritance mutex gives no priority to anybody (greenlets have none that matters).

use std::ffi::c_int;
use std::sync::atomic::{AtomicU32, Ordering};

use gs::hub::Hub;
use libc::{clockid_t, pthread_mutex_t, timespec};

use super::{held_by_other, tid};
use crate::sync::mutex::{deadline, me};

mod real_fns {
    use super::*;
    real! {
        fn pthread_mutex_trylock(m: *mut pthread_mutex_t) -> c_int;
        fn pthread_mutex_unlock(m: *mut pthread_mutex_t) -> c_int;
    }
}

const RECURSIVE: i32 = 1;
const ERRORCHECK: i32 = 2;
const ROBUST_BIT: i32 = 16;
const PI_BIT: i32 = 32;

/// glibc's words of a `pthread_mutex_t` that greenshim reads.
#[inline]
unsafe fn lock_word<'a>(m: *mut pthread_mutex_t) -> &'a AtomicU32 {
    &*(m as *const AtomicU32)
}
#[inline]
unsafe fn count(m: *mut pthread_mutex_t) -> u32 {
    std::ptr::read_volatile((m as *const u32).add(1))
}
#[inline]
unsafe fn owner(m: *mut pthread_mutex_t) -> i32 {
    std::ptr::read_volatile((m as *const i32).add(2))
}
#[inline]
unsafe fn kind(m: *mut pthread_mutex_t) -> i32 {
    std::ptr::read_volatile((m as *const i32).add(4))
}

/// Whether glibc checks the owner for this `__kind` (and so greenshim records the greenlet).
#[inline]
fn owner_checked(kind: i32) -> bool {
    matches!(kind & 3, RECURSIVE | ERRORCHECK) || kind & (ROBUST_BIT | PI_BIT) != 0
}

/// One attempt for greenlet `me`: `Some(result)` when glibc answered, `None` while another
/// thread, process or greenlet holds it. `blocking`: for a lock, whose errorcheck relock is
/// EDEADLK (a trylock's is glibc's own answer).
unsafe fn attempt(m: *mut pthread_mutex_t, me: u64, blocking: bool) -> Option<c_int> {
    let kind = kind(m);
    let checked = owner_checked(kind);
    if checked {
        if held_by_other(m as usize, owner(m), me) {
            return None;
        }
        // glibc's lock checks this before anything else (its trylock does not, for plain ones).
        if blocking && kind & 3 == ERRORCHECK && owner(m) == tid() {
            return Some(libc::EDEADLK);
        }
    }
    match real_fns::pthread_mutex_trylock(m) {
        libc::EBUSY => None,
        r @ (0 | libc::EOWNERDEAD) => {
            if checked {
                super::set_owner(m as usize, me);
            }
            Some(r)
        }
        r => Some(r),
    }
}

/// `pthread_mutex_lock` (`dl`: `clocklock`/`timedlock`'s clock and absolute time, the clock
/// already checked).
pub(crate) unsafe fn lock(h: *mut Hub, m: *mut pthread_mutex_t, dl: Option<(clockid_t, *const timespec)>) -> c_int {
    let me = me(h);
    let mut until = None;
    loop {
        if let Some(r) = attempt(m, me, true) {
            return r;
        }
        // As glibc: the timespec is looked at only when the lock has to wait.
        if let (None, Some((clock, abs))) = (until, dl) {
            match deadline(clock, abs) {
                Ok(d) => until = Some(d),
                Err(e) => return e,
            }
        }
        if until.is_some_and(|d| d <= gs::sys::now()) {
            return libc::ETIMEDOUT;
        }
        let v = lock_word(m).load(Ordering::SeqCst);
        if v == 0 {
            // Free again, or busy only for our record (a holder greenlet that released it through
            // a path greenshim does not see): let the others run, then retry.
            gs::hub::fair_yield(h, false);
            continue;
        }
        // A signal handler does not end a mutex wait (glibc retries the futex wait too).
        if let Err(libc::ETIMEDOUT) = super::wait_word(h, m as usize, v, until, "mutex", false) {
            return libc::ETIMEDOUT;
        }
    }
}

/// `pthread_mutex_trylock`: glibc's answer, or EBUSY while another greenlet holds it.
pub(crate) unsafe fn trylock(h: *mut Hub, m: *mut pthread_mutex_t) -> c_int {
    match attempt(m, me(h), false) {
        Some(r) => r,
        None => crate::sync::mutex::busy(h),
    }
}

/// `pthread_mutex_unlock`: EPERM for a greenlet that does not hold an owner-checked mutex, else
/// glibc's unlock, then one parked greenlet is woken when the mutex became free.
pub(crate) unsafe fn unlock(h: *mut Hub, m: *mut pthread_mutex_t) -> c_int {
    let kind = kind(m);
    let checked = owner_checked(kind);
    if checked && held_by_other(m as usize, owner(m), me(h)) {
        return libc::EPERM;
    }
    let last = kind & 3 != RECURSIVE || count(m) <= 1;
    let r = real_fns::pthread_mutex_unlock(m);
    if r == 0 && last {
        if checked {
            super::clear_owner(m as usize);
        }
        crate::sync::futex::wake_local(h, m as usize, 1, crate::sync::futex::BITSET_ALL);
    }
    r
}
