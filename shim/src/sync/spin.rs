//! Spinlocks: `pthread_spin_*`.
//!
//! A spinlock (one `int`: 0 free, 1 held, as glibc) spun on by one greenlet while its holder is
//! switched out would spin forever: the holder can only run when the spinner lets it. So a
//! contended `pthread_spin_lock` on the hub thread yields to the other runnable greenlets between
//! attempts, and sleeps a millisecond when none is runnable (the holder then waits on something
//! else: a timer or an fd). The atomics are glibc's, so a spinlock also works between the hub
//! thread and other OS threads.

use std::ffi::c_int;
use std::sync::atomic::{AtomicI32, Ordering};

use gs::hub::{self, WaitOn};

use crate::sync::mutex::sync_hub;

#[inline(always)]
unsafe fn word<'a>(l: *mut libc::pthread_spinlock_t) -> &'a AtomicI32 {
    &*(l as *const AtomicI32)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_spin_init(l: *mut libc::pthread_spinlock_t, _pshared: c_int) -> c_int {
    word(l).store(0, Ordering::Release);
    0
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_spin_destroy(_l: *mut libc::pthread_spinlock_t) -> c_int {
    0
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_spin_trylock(l: *mut libc::pthread_spinlock_t) -> c_int {
    match word(l).compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed) {
        Ok(_) => 0,
        Err(_) => libc::EBUSY,
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_spin_lock(l: *mut libc::pthread_spinlock_t) -> c_int {
    let w = word(l);
    if w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok() {
        return 0;
    }
    let h = sync_hub();
    loop {
        match h {
            Some(h) => {
                if (*h).runnable() > 0 {
                    hub::yield_now(h);
                } else {
                    let d = gs::sys::now() + 1_000_000;
                    hub::park(h, WaitOn::Object("spinlock", l as usize), Some(d), false);
                }
            }
            None => std::hint::spin_loop(),
        }
        if w.load(Ordering::Relaxed) == 0 && w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return 0;
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_spin_unlock(l: *mut libc::pthread_spinlock_t) -> c_int {
    word(l).store(0, Ordering::Release);
    0
}
