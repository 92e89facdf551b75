//! Process-shared read-write locks between greenlets.
//!
//! The lock stays glibc's: every acquisition is glibc's `pthread_rwlock_tryrdlock` /
//! `trywrlock` in a loop, and while it answers EBUSY the greenlet parks on `__readers` (offset 0),
//! the word whose every change (a release, a phase change) can let a trylock in; a writer hand-over
//! between glibc's waiting writers leaves it unchanged, and the lock stays taken meanwhile. An
//! unlock is glibc's (it wakes the kernel's waiters, i.e. other processes') and then wakes every
//! greenlet parked on the lock: each tries again (readers may all get in).
//!
//! glibc's write holder (`__cur_writer`, offset 24) is the OS thread's id; `pshared::owner_of`
//! says which greenlet it is, so a lock by another greenlet waits where glibc would answer
//! EDEADLK to the same thread. Waiters are not ordered among themselves (glibc's own preference
//! between readers and writers applies through its trylock), and a waiting greenlet does not
//! announce itself to glibc's waiting-writer bookkeeping: with
//! `PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP`, readers of another process are not held back
//! for a writer greenlet that waits.

use std::ffi::c_int;
use std::sync::atomic::{AtomicU32, Ordering};

use gs::hub::Hub;
use libc::pthread_rwlock_t;

use super::{held_by_other, tid};
use crate::sync::mutex::me;

mod real_fns {
    use super::*;
    real! {
        fn pthread_rwlock_tryrdlock(l: *mut pthread_rwlock_t) -> c_int;
        fn pthread_rwlock_trywrlock(l: *mut pthread_rwlock_t) -> c_int;
        fn pthread_rwlock_unlock(l: *mut pthread_rwlock_t) -> c_int;
    }
}

#[inline]
unsafe fn readers<'a>(l: *mut pthread_rwlock_t) -> &'a AtomicU32 {
    &*(l as *const AtomicU32)
}
#[inline]
unsafe fn cur_writer(l: *mut pthread_rwlock_t) -> i32 {
    std::ptr::read_volatile((l as *const i32).add(6))
}

/// glibc's try call for greenlet `me`, recording it as the write holder; `None` when busy.
unsafe fn attempt(l: *mut pthread_rwlock_t, me: u64, write: bool) -> Option<c_int> {
    let r = if write { real_fns::pthread_rwlock_trywrlock(l) } else { real_fns::pthread_rwlock_tryrdlock(l) };
    match r {
        libc::EBUSY => None,
        0 if write => {
            super::set_owner(l as usize, me);
            Some(0)
        }
        r => Some(r),
    }
}

/// `rdlock`/`wrlock` and their timed forms (`deadline` validated by the caller, as glibc does
/// before anything else).
pub(crate) unsafe fn lock(h: *mut Hub, l: *mut pthread_rwlock_t, write: bool, deadline: Option<u64>) -> c_int {
    let me = me(h);
    loop {
        let w = cur_writer(l);
        let other = held_by_other(l as usize, w, me);
        if w != 0 && w == tid() && !other {
            return libc::EDEADLK;
        }
        if !other {
            if let Some(r) = attempt(l, me, write) {
                return r;
            }
        }
        if deadline.is_some_and(|d| d <= gs::sys::now()) {
            return libc::ETIMEDOUT;
        }
        let v = readers(l).load(Ordering::SeqCst);
        if let Err(libc::ETIMEDOUT) = super::wait_word(h, l as usize, v, deadline, "rwlock", false) {
            return libc::ETIMEDOUT;
        }
    }
}

/// `tryrdlock`/`trywrlock`: glibc's answer (EBUSY also yields, as for private locks).
pub(crate) unsafe fn trylock(h: *mut Hub, l: *mut pthread_rwlock_t, write: bool) -> c_int {
    match attempt(l, me(h), write) {
        Some(r) => r,
        None => crate::sync::mutex::busy(h),
    }
}

/// `pthread_rwlock_unlock`: glibc's, then the parked greenlets try again.
pub(crate) unsafe fn unlock(h: *mut Hub, l: *mut pthread_rwlock_t) -> c_int {
    let w = cur_writer(l);
    let writer = w != 0 && w == tid();
    let r = real_fns::pthread_rwlock_unlock(l);
    if r == 0 {
        if writer {
            super::clear_owner(l as usize);
        }
        super::wake_word(h, l as usize);
    }
    r
}
