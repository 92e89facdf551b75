//! Cancellation: `pthread_cancel`, the cancel state and type, `pthread_testcancel`, and the
//! cancellation point every blocking hook calls.
//!
//! A greenlet's cancel state lives in the low bits of its `ext[EXT_CANCEL]` word (the rest of
//! the word is the head of its old-style cleanup chain, see `unwind`). Acting on a cancellation
//! is `pthread_exit(PTHREAD_CANCELED)`: the greenlet unwinds, running its cleanup handlers and
//! C++ destructors, then its key destructors (`unwind`).
//!
//! * Deferred (the default): the request is recorded and acted on at the target's next
//!   cancellation point. A target parked at one — an interruptible park (fd waits, poll family,
//!   sleeps, cond and semaphore waits) or `pthread_join` — is woken and acts at once.
//! * Asynchronous: natively the request acts wherever the thread is. One OS thread runs one
//!   greenlet at a time, so a target other than the caller is parked or queued: it acts when
//!   it is woken at a cancellation point, and also when it is parked in `pthread_mutex_lock`
//!   (woken there, including on its own NORMAL mutex, where it would otherwise wait forever).
//!   Setting the type (or enabling the state) while a request is pending acts at once, as
//!   glibc does.
//! * Disabled, or exiting (running its cleanup): recorded, never acted on meanwhile.

use std::ffi::c_int;

use gs::hub::{self, Greenlet, Hub, State, WaitOn, Wake};
use libc::pthread_t;

use crate::hook::entry::any_hub;
use crate::thread::lifecycle::{target, Target};
use crate::thread::unwind;

/// libc's functions, with the `C-unwind` ABI: on a real thread they may unwind.
mod real_fns {
    use super::*;
    macro_rules! real_unwind {
        ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {$(
            pub unsafe fn $name($($arg: $ty),*) -> $ret {
                static CACHE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let mut p = CACHE.load(std::sync::atomic::Ordering::Relaxed);
                if p == 0 {
                    p = crate::hook::real::resolve(concat!(stringify!($name), "\0"), &CACHE);
                }
                // SAFETY: p is libc's function of this name, whose C signature this is.
                let f: unsafe extern "C-unwind" fn($($ty),*) -> $ret = std::mem::transmute(p);
                f($($arg),*)
            }
        )*};
    }
    real_unwind! {
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
pub(crate) const PTHREAD_CANCELED: usize = usize::MAX; // (void *) -1

/// Greenlet word used here: flags in bits 0-2, the rest belongs to `unwind`.
pub(crate) const EXT_CANCEL: usize = 1; // bit 0: cancel pending, bit 1: disabled, bit 2: asynchronous
const CANCEL_PENDING: usize = 1;
const CANCEL_DISABLED: usize = 2;
const CANCEL_ASYNC: usize = 4;

/// Pending, enabled and asynchronous.
const ACTS_ASYNC: usize = CANCEL_PENDING | CANCEL_ASYNC;

/// Is a cancellation pending and enabled for `g` (whatever the type)?
#[inline(always)]
unsafe fn due(g: *mut Greenlet) -> bool {
    (*g).ext[EXT_CANCEL] & (CANCEL_PENDING | CANCEL_DISABLED) == CANCEL_PENDING && !unwind::exiting(g)
}

/// Act on the running greenlet's cancellation now.
unsafe fn act(h: *mut Hub) -> ! {
    unwind::exit(h, PTHREAD_CANCELED)
}

/// Record a request; wake the target where it would act natively (see the module docs).
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_cancel(t: pthread_t) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_cancel(t) };
    match target(h, t) {
        Target::Native => real_fns::pthread_cancel(t),
        Target::Gone => libc::ESRCH,
        Target::Greenlet(g) => {
            if (*g).state == State::Dead {
                return 0;
            }
            (*g).ext[EXT_CANCEL] |= CANCEL_PENDING;
            if !due(g) {
                return 0;
            }
            if g == (*h).current() {
                if (*g).ext[EXT_CANCEL] & CANCEL_ASYNC != 0 {
                    act(h);
                }
            } else if (*g).state == State::Parked {
                let gh = gs::hub::route(h, (*g).id); // its own hub (several hubs)
                match (*g).wait {
                    WaitOn::Join(_) => (*gh).unpark(g, Wake::Interrupted),
                    WaitOn::Object("mutex", _) if (*g).ext[EXT_CANCEL] & CANCEL_ASYNC != 0 => (*gh).unpark(g, Wake::Interrupted),
                    _ => (*gh).interrupt_greenlet(g),
                }
            }
            0
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_setcancelstate(state: c_int, old: *mut c_int) -> c_int {
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
    act_if_async(h);
    0
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_setcanceltype(ty: c_int, old: *mut c_int) -> c_int {
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
    act_if_async(h);
    0
}

/// The running greenlet acts on a pending, enabled, asynchronous cancellation (glibc's
/// `cancel_enabled_and_canceled_and_async` checks after a state or type change, and the check
/// of a mutex wait woken by `pthread_cancel`).
///
/// # Safety
/// `h` is this thread's hub; nothing on the caller's stack needs undoing (wait queues left).
pub unsafe fn act_if_async(h: *mut Hub) {
    let g = (*h).current();
    if (*g).ext[EXT_CANCEL] & (ACTS_ASYNC | CANCEL_DISABLED) == ACTS_ASYNC && due(g) {
        act(h);
    }
}

/// Switch `g` to deferred cancellation; returns the type it had (`pthread_cleanup_push_defer_np`).
pub(crate) unsafe fn make_deferred(g: *mut Greenlet) -> c_int {
    let was = (*g).ext[EXT_CANCEL];
    (*g).ext[EXT_CANCEL] = was & !CANCEL_ASYNC;
    if was & CANCEL_ASYNC != 0 {
        PTHREAD_CANCEL_ASYNCHRONOUS
    } else {
        PTHREAD_CANCEL_DEFERRED
    }
}

/// Restore the type saved by [`make_deferred`]; back to asynchronous with a request pending,
/// act on it (`pthread_cleanup_pop_restore_np`, as glibc's `__pthread_unregister_cancel_restore`).
pub(crate) unsafe fn restore_type(ty: c_int) {
    let Some(h) = any_hub() else { return };
    let g = (*h).current();
    if ty == PTHREAD_CANCEL_DEFERRED || (*g).ext[EXT_CANCEL] & CANCEL_ASYNC != 0 {
        return;
    }
    (*g).ext[EXT_CANCEL] |= CANCEL_ASYNC;
    act_if_async(h);
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_testcancel() {
    match any_hub() {
        Some(h) => testcancel(h),
        None => real_fns::pthread_testcancel(),
    }
}

/// A cancellation point: end the running greenlet with PTHREAD_CANCELED (cleanup handlers,
/// destructors, key destructors) if a cancel is pending and enabled.
///
/// # Safety
/// `h` is this thread's hub; the caller left every wait queue and holds nothing that must be
/// released (frames between here and the program's are unwound, their Rust values dropped).
#[inline]
pub unsafe fn testcancel(h: *mut Hub) {
    let g = (*h).current();
    if (*g).ext[EXT_CANCEL] & (CANCEL_PENDING | CANCEL_DISABLED) == CANCEL_PENDING && !unwind::exiting(g) {
        act(h);
    }
}

/// Park for the sleep family: a cancellation point, interruptible by signals.
pub unsafe fn park_sleep(h: *mut Hub, deadline: u64) -> Wake {
    testcancel(h);
    let why = hub::park(h, WaitOn::Sleep, Some(deadline), true);
    testcancel(h);
    why
}
