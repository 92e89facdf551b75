//! `pthread_once` with greenlet waits.
//!
//! The `pthread_once_t` (an `int`) keeps glibc's encoding: 0 not run, bit 0 in progress, bit 1
//! done; so objects are interchangeable with glibc's. The first caller runs the init routine;
//! concurrent callers (other greenlets reaching the same once while the routine is parked) park
//! until it finishes. There is no room for a queue in 4 bytes, and waiting on a once is rare: the
//! waiters of every once are on one per-hub-thread list, tagged with the once's address.
//!
//! Not handled (as documented in the README): an init routine that ends its greenlet with
//! `pthread_exit`/cancellation leaves the once in progress (glibc resets it); its waiters then
//! wait forever and the deadlock report names the once.

use std::cell::Cell;
use std::ffi::c_int;
use std::sync::atomic::{AtomicI32, Ordering};

use gs::hub::WaitOn;
use gs::waitq::{self, Node, Queue};

use crate::mutex::sync_hub;

mod real_fns {
    use super::*;
    real! {
        fn pthread_once(o: *mut libc::pthread_once_t, f: extern "C" fn()) -> c_int;
    }
}

const IN_PROGRESS: i32 = 1;
const DONE: i32 = 2;

thread_local! {
    /// Greenlets waiting for some once; `Node::data` is its address.
    static WAITERS: Cell<Queue> = const { Cell::new(std::ptr::null_mut()) };
}

unsafe fn pthread_once_impl(o: *mut libc::pthread_once_t, init: extern "C" fn()) -> c_int {
    let w = &*(o as *const AtomicI32);
    if w.load(Ordering::Acquire) & DONE != 0 {
        return 0;
    }
    let Some(h) = sync_hub() else { return real_fns::pthread_once(o, init) };
    loop {
        let v = w.load(Ordering::Acquire);
        if v & DONE != 0 {
            return 0;
        }
        if v & IN_PROGRESS == 0 {
            if w.compare_exchange(v, IN_PROGRESS, Ordering::Acquire, Ordering::Relaxed).is_err() {
                continue;
            }
            init();
            w.store(DONE, Ordering::Release);
            wake(h, o as usize);
            return 0;
        }
        crate::deadlock::ensure_hooks(h);
        let mut node = Node::new(o as usize);
        let q: *mut Queue = WAITERS.with(|c| c.as_ptr());
        waitq::wait(h, q, &mut node, WaitOn::Object("once", o as usize), None, false);
    }
}

unsafe fn wake(h: *mut gs::hub::Hub, addr: usize) {
    let q: *mut Queue = WAITERS.with(|c| c.as_ptr());
    let mut n = waitq::first(q);
    while !n.is_null() {
        let nx = waitq::next(q, n);
        if (*n).data == addr && waitq::wake_node(h, q, n) {
            crate::deadlock::progress();
        }
        n = nx;
    }
}

/// Traced entry (see `trace`); the work is in `pthread_once_impl`.
#[no_mangle]
pub unsafe extern "C" fn pthread_once(o: *mut libc::pthread_once_t, init: extern "C" fn()) -> c_int {
    if crate::trace::on() {
        if let Some(h) = crate::entry::hub() {
            return traced!(h, pthread_once, pthread_once_impl(o, init), |r, e| [Arg::Hex(o as u64), Arg::Hex(init as usize as u64)], Ret::Code(r));
        }
    }
    pthread_once_impl(o, init)
}
