//! Barriers as greenlet waits: `pthread_barrier_init`, `pthread_barrier_wait`,
//! `pthread_barrier_destroy`.
//!
//! State in the caller's 32-byte `pthread_barrier_t` (glibc's `count` and `shared` words keep
//! their offsets 8 and 12): greenlets arrived in this round (0..4), round number (4..8), count,
//! shared, wait queue (16..24). The greenlet whose arrival completes a round returns
//! `PTHREAD_BARRIER_SERIAL_THREAD`, the others 0. Not a cancellation point (as natively).
//! Process-shared barriers keep glibc's layout and protocol (`pshared::barrier`).

use std::ffi::{c_int, c_uint};

use gs::waitq::{self, Node, Queue};
use gs::hub::WaitOn;
use libc::{pthread_barrier_t, pthread_barrierattr_t};

use crate::sync::mutex::sync_hub;

mod real_fns {
    use super::*;
    real! {
        fn pthread_barrier_init(b: *mut pthread_barrier_t, a: *const pthread_barrierattr_t, n: c_uint) -> c_int;
        fn pthread_barrier_destroy(b: *mut pthread_barrier_t) -> c_int;
        fn pthread_barrier_wait(b: *mut pthread_barrier_t) -> c_int;
        fn pthread_barrierattr_getpshared(a: *const pthread_barrierattr_t, p: *mut c_int) -> c_int;
    }
}

const SERIAL: c_int = -1; // PTHREAD_BARRIER_SERIAL_THREAD

#[repr(C)]
struct RawBarrier {
    arrived: u32,
    round: u32,
    count: u32,
    shared: i32,
    queue: Queue,
    _pad: u64,
}

const _: () = assert!(std::mem::size_of::<RawBarrier>() == std::mem::size_of::<pthread_barrier_t>());

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_barrier_init(b: *mut pthread_barrier_t, a: *const pthread_barrierattr_t, count: c_uint) -> c_int {
    if count == 0 || count > i32::MAX as c_uint {
        return libc::EINVAL;
    }
    if !a.is_null() {
        let mut ps = 0;
        real_fns::pthread_barrierattr_getpshared(a, &mut ps);
        if ps == libc::PTHREAD_PROCESS_SHARED {
            return real_fns::pthread_barrier_init(b, a, count);
        }
    }
    let r = b as *mut RawBarrier;
    std::ptr::write_bytes(r as *mut u8, 0, std::mem::size_of::<pthread_barrier_t>());
    (*r).count = count;
    0
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_barrier_destroy(b: *mut pthread_barrier_t) -> c_int {
    let r = b as *mut RawBarrier;
    if sync_hub().is_none() || (*r).shared != 0 {
        return real_fns::pthread_barrier_destroy(b);
    }
    0
}

unsafe fn pthread_barrier_wait_impl(b: *mut pthread_barrier_t) -> c_int {
    let r = b as *mut RawBarrier;
    let Some(h) = sync_hub() else { return real_fns::pthread_barrier_wait(b) };
    if (*r).shared != 0 {
        return crate::sync::pshared::barrier::wait(h, b);
    }
    (*r).arrived += 1;
    if (*r).arrived >= (*r).count {
        (*r).arrived = 0;
        (*r).round = (*r).round.wrapping_add(1);
        if waitq::wake_all(h, &mut (*r).queue) != 0 {
            crate::diag::deadlock::progress();
        }
        return SERIAL;
    }
    crate::diag::deadlock::ensure_hooks(h);
    let round = (*r).round;
    let mut node = Node::new(0);
    while (*r).round == round {
        waitq::wait(h, &mut (*r).queue, &mut node, WaitOn::Object("barrier", r as usize), None, false);
    }
    0
}

/// The hook boundary (see `entry`); the work is in `pthread_barrier_wait_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_barrier_wait(b: *mut pthread_barrier_t) -> c_int {
    match crate::hook::entry::hub() {
        Some(h) => hook!(h, pthread_barrier_wait, crate::hook::entry::always, pthread_barrier_wait_impl(b), |r, e| [Arg::Hex(b as u64)], Ret::Code(if r == -1 { 0 } else { r })),
        None => pthread_barrier_wait_impl(b),
    }
}
