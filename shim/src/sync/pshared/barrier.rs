//! Process-shared barriers between greenlets.
//!
//! glibc's barrier (`struct pthread_barrier`: `in`, `current_round`, `count`, `shared`, `out`)
//! is a protocol on plain words with futex waits, so greenshim runs the same protocol on the same
//! words and only its waits differ: a greenlet parks on the word (see `pshared`) where glibc's
//! thread would sleep in the kernel, and the completion wakes both the kernel's waiters and the
//! hub's ([`crate::sync::futex::wake`]). Processes mixing glibc's code and greenshim's on one
//! barrier therefore agree on every round.
//!
//! The protocol: an arriving thread takes a ticket `i` (1-based) by incrementing `in`; the
//! ticket's round ends at the next multiple of `count`. Whoever sees `current_round + count <= i`
//! advances `current_round` to its own round's start and wakes the sleepers; the others sleep
//! until `current_round` reaches their ticket. Leaving increments `out`; `in` is reset once
//! `in` nears half the `u32` range (the last of those tickets to leave resets it, and
//! tickets drawn past the threshold wait for the reset and draw again). The ticket that is a
//! multiple of `count` returns `PTHREAD_BARRIER_SERIAL_THREAD`.

use std::ffi::c_int;
use std::sync::atomic::{fence, AtomicU32, Ordering::*};

use gs::hub::Hub;

const IN_THRESHOLD: u32 = u32::MAX / 2;
const SERIAL: c_int = -1;

/// glibc's barrier words.
#[repr(C)]
struct Words {
    enter: AtomicU32,
    round: AtomicU32,
    count: u32,
    shared: i32,
    out: AtomicU32,
}

/// Wake everybody waiting on `w`, here and in the kernel (with the barrier's futex flags).
unsafe fn wake_all(h: *mut Hub, w: &AtomicU32, shared: i32) {
    let op = if shared == 0 { libc::FUTEX_PRIVATE_FLAG } else { 0 };
    crate::sync::futex::wake(h, w as *const AtomicU32 as usize, i32::MAX, crate::sync::futex::BITSET_ALL, op);
}

/// Park until `w` may have left `v` (a signal does not end a barrier wait).
unsafe fn sleep_on(h: *mut Hub, w: &AtomicU32, v: u32) {
    let _ = super::wait_word(h, w as *const AtomicU32 as usize, v, None, "barrier", false);
}

/// `pthread_barrier_wait` on a process-shared barrier.
pub(crate) unsafe fn wait(h: *mut Hub, b: *mut libc::pthread_barrier_t) -> c_int {
    let b = &*(b as *const Words);
    let (ticket, last_before_reset) = loop {
        let i = b.enter.fetch_add(1, AcqRel).wrapping_add(1);
        let count = std::ptr::read_volatile(&b.count);
        let max = IN_THRESHOLD - IN_THRESHOLD % count;
        if i <= max {
            break (i, max);
        }
        // A reset is due: wait for it, then draw again.
        let mut cur = i;
        while cur > max {
            sleep_on(h, &b.enter, cur);
            cur = b.enter.load(Relaxed);
        }
    };
    let count = std::ptr::read_volatile(&b.count);
    let mut round = b.round.load(Relaxed);
    let mut done = false;
    // Finish the rounds our ticket completes (ours too, if the ticket ends it).
    while round.wrapping_add(count) <= ticket {
        let start = ticket - ticket % count;
        match b.round.compare_exchange_weak(round, start, Release, Relaxed) {
            Ok(_) => {
                round = start;
                wake_all(h, &b.round, b.shared);
                done = ticket <= round;
                break;
            }
            Err(now) => round = now,
        }
    }
    if !done {
        while ticket > round {
            sleep_on(h, &b.round, round);
            round = b.round.load(Relaxed);
        }
        fence(Acquire);
    }
    if b.out.fetch_add(1, Release).wrapping_add(1) == last_before_reset {
        fence(Acquire);
        b.round.store(0, Relaxed);
        b.out.store(0, Relaxed);
        let shared = b.shared;
        b.enter.store(0, Release);
        wake_all(h, &b.enter, shared);
    }
    if ticket % count == 0 {
        SERIAL
    } else {
        0
    }
}
