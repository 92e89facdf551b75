//! Cancellation: `pthread_cancel`, the cancel state and type, `pthread_testcancel`, and the
//! cancellation point every blocking hook calls.
//!
//! A greenlet's cancel state lives in its `ext[EXT_CANCEL]` word. A deferred cancel is acted on
//! at the target's next cancellation point (a parked target is interrupted and reaches one at
//! once).

use std::ffi::c_int;

use gs::hub::{self, Hub, State, WaitOn, Wake};
use libc::pthread_t;

use crate::hook::entry::any_hub;
use crate::thread::lifecycle::{target, Target};

mod real_fns {
    use super::*;
    real! {
    fn pthread_cancel(t: pthread_t) -> c_int;
    fn pthread_setcancelstate(state: c_int, old: *mut c_int) -> c_int;
    fn pthread_setcanceltype(ty: c_int, old: *mut c_int) -> c_int;
    fn pthread_testcancel() -> ();
    }
}

// glibc's <pthread.h> values (the libc crate lacks them).
const PTHREAD_CANCEL_ENABLE: c_int = 0;
const PTHREAD_CANCEL_DISABLE: c_int = 1;
const PTHREAD_CANCEL_DEFERRED: c_int = 0;
const PTHREAD_CANCEL_ASYNCHRONOUS: c_int = 1;
const PTHREAD_CANCELED: usize = usize::MAX; // (void *) -1

/// Greenlet word in `Greenlet::ext` used here.
pub(crate) const EXT_CANCEL: usize = 1; // bit 0: cancel pending, bit 1: disabled, bit 2: asynchronous
const CANCEL_PENDING: usize = 1;
const CANCEL_DISABLED: usize = 2;
const CANCEL_ASYNC: usize = 4;

/// Deferred cancellation: the request is recorded and acted on at the target's next
/// cancellation point (a sleep, a join, `pthread_testcancel`), which a parked target reaches at
/// once. Cleanup handlers pushed with `pthread_cleanup_push` are not run (see README).
#[no_mangle]
pub unsafe extern "C" fn pthread_cancel(t: pthread_t) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_cancel(t) };
    match target(h, t) {
        Target::Native => real_fns::pthread_cancel(t),
        Target::Gone => libc::ESRCH,
        Target::Greenlet(g) => {
            if (*g).state == State::Dead {
                return 0;
            }
            (*g).ext[EXT_CANCEL] |= CANCEL_PENDING;
            if (*g).ext[EXT_CANCEL] & CANCEL_DISABLED == 0 {
                if g == (*h).current() {
                    if (*g).ext[EXT_CANCEL] & CANCEL_ASYNC != 0 {
                        testcancel(h);
                    }
                } else {
                    (*h).interrupt_greenlet(g);
                }
            }
            0
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_setcancelstate(state: c_int, old: *mut c_int) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_setcancelstate(state, old) };
    if state != PTHREAD_CANCEL_ENABLE && state != PTHREAD_CANCEL_DISABLE {
        return libc::EINVAL;
    }
    let g = (*h).current();
    let was = (*g).ext[EXT_CANCEL];
    if !old.is_null() {
        *old = if was & CANCEL_DISABLED != 0 { PTHREAD_CANCEL_DISABLE } else { PTHREAD_CANCEL_ENABLE };
    }
    (*g).ext[EXT_CANCEL] = if state == PTHREAD_CANCEL_DISABLE { was | CANCEL_DISABLED } else { was & !CANCEL_DISABLED };
    0
}

#[no_mangle]
pub unsafe extern "C" fn pthread_setcanceltype(ty: c_int, old: *mut c_int) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_setcanceltype(ty, old) };
    if ty != PTHREAD_CANCEL_DEFERRED && ty != PTHREAD_CANCEL_ASYNCHRONOUS {
        return libc::EINVAL;
    }
    let g = (*h).current();
    let was = (*g).ext[EXT_CANCEL];
    if !old.is_null() {
        *old = if was & CANCEL_ASYNC != 0 { PTHREAD_CANCEL_ASYNCHRONOUS } else { PTHREAD_CANCEL_DEFERRED };
    }
    (*g).ext[EXT_CANCEL] = if ty == PTHREAD_CANCEL_ASYNCHRONOUS { was | CANCEL_ASYNC } else { was & !CANCEL_ASYNC };
    0
}

#[no_mangle]
pub unsafe extern "C" fn pthread_testcancel() {
    match any_hub() {
        Some(h) => testcancel(h),
        None => real_fns::pthread_testcancel(),
    }
}

/// A cancellation point: end the running greenlet with PTHREAD_CANCELED if a cancel is pending
/// and enabled.
pub unsafe fn testcancel(h: *mut Hub) {
    let g = (*h).current();
    if (*g).ext[EXT_CANCEL] & (CANCEL_PENDING | CANCEL_DISABLED) == CANCEL_PENDING {
        (*g).hook_depth = 0; // exiting: the destructors are user code, hooked as usual
        (*g).ext[EXT_CANCEL] = CANCEL_DISABLED; // as glibc: no second cancellation while exiting
        crate::thread::key::run_destructors(h);
        hub::exit_current(h, PTHREAD_CANCELED);
    }
}

/// Park for the sleep family: a cancellation point, interruptible by signals.
pub unsafe fn park_sleep(h: *mut Hub, deadline: u64) -> Wake {
    testcancel(h);
    let why = hub::park(h, WaitOn::Sleep, Some(deadline), true);
    testcancel(h);
    why
}

