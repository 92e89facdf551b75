//! Process-shared condition variables between greenlets.
//!
//! glibc's condvar (2.36) is a protocol on the words of `pthread_cond_t`: waiters take a position
//! in a 64-bit waiter sequence (`__wseq`, whose low bit names the slot of the open group G2) and
//! a reference (`__wrefs`, 8 per waiter); signalers put signals into the oldest group G1
//! (`__g_signals[g]`, 2 per signal, low bit "group closed"), switch groups when G1 is used up
//! (`__g1_start`, `__g1_orig_size`, `__g_size`), under an internal lock in the low bits of
//! `__g1_orig_size`. A waiter sleeps on its group's `__g_signals` word until it can take a signal.
//!
//! greenshim's waiter is a glibc waiter in every respect the signalers see, so a signal or
//! broadcast from any process (glibc's own `pthread_cond_signal`, which greenshim's also calls)
//! reaches it: it registers in `__wseq` and `__wrefs`, releases the mutex, takes a signal from
//! its group with glibc's compare-and-swap (and gives back one it may have stolen from a newer
//! group), leaves when its group is closed or already past, and on a timeout or cancellation
//! shrinks its group or passes on the signal it was given, under the internal lock. Only its
//! sleep differs: it parks on the `__g_signals` word (see `pshared`) instead of the kernel.
//! A signal or broadcast made here calls glibc's and then wakes the greenlets parked on either
//! group's word (and on the internal lock); one from another process is seen by polling.
//!
//! One part of glibc's protocol is left out: the per-group futex reference (`__g_refs`) a glibc
//! waiter holds while it sleeps in the kernel. A signaler that closes a group waits (in the
//! kernel) until those references are gone; if a parked greenlet held one, a signaler greenlet
//! of the same process would block the OS thread waiting for it: a deadlock. Without it, a
//! greenlet may still look at a group's word after the group was reused; it checks `__g1_start`
//! at every wakeup, as glibc's waiter does before sleeping, and glibc's stolen-signal repair
//! covers a signal it takes from the newer group. Destruction waits cooperatively for the
//! waiters' references, as glibc's `pthread_cond_destroy` does in the kernel.

use std::ffi::c_int;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};

use gs::hub::Hub;
use libc::{pthread_cond_t, pthread_mutex_t};

use crate::sync::futex::{self, BITSET_ALL};

mod real_fns {
    use super::*;
    real! {
        fn pthread_cond_signal(c: *mut pthread_cond_t) -> c_int;
        fn pthread_cond_broadcast(c: *mut pthread_cond_t) -> c_int;
    }
}

/// glibc's `__PTHREAD_COND_MAX_GROUP_SIZE`.
const MAX_GROUP_SIZE: u32 = 1 << 29;

/// glibc's `struct __pthread_cond_s` (x86_64, 64-bit atomics).
#[repr(C)]
struct Words {
    wseq: AtomicU64,
    g1_start: AtomicU64,
    g_refs: [AtomicU32; 2],
    g_size: [AtomicU32; 2],
    g1_orig_size: AtomicU32,
    wrefs: AtomicU32,
    g_signals: [AtomicU32; 2],
}

const _: () = assert!(std::mem::size_of::<Words>() == std::mem::size_of::<pthread_cond_t>());

#[inline]
unsafe fn words<'a>(c: *mut pthread_cond_t) -> &'a Words {
    &*(c as *const Words)
}

#[inline]
fn addr(w: &AtomicU32) -> usize {
    w as *const AtomicU32 as usize
}

/// The futex flags glibc uses for this condvar (bit 0 of `__wrefs`: process-shared).
fn op(wrefs: u32) -> i32 {
    if wrefs & 1 != 0 {
        0
    } else {
        libc::FUTEX_PRIVATE_FLAG
    }
}

/// Wake `n` waiters of `w`: greenlets here and threads in the kernel.
unsafe fn wake(h: *mut Hub, w: &AtomicU32, n: i32, c: &Words) {
    futex::wake(h, addr(w), n, BITSET_ALL, op(c.wrefs.load(Relaxed)));
}

/// The internal lock (low two bits of `__g1_orig_size`: 0 free, 1 held, 2 held with waiters).
unsafe fn acquire_lock(h: *mut Hub, c: &Words) {
    let mut s = c.g1_orig_size.load(Relaxed);
    while s & 3 == 0 {
        match c.g1_orig_size.compare_exchange_weak(s, s | 1, Acquire, Relaxed) {
            Ok(_) => return,
            Err(now) => s = now,
        }
    }
    loop {
        while s & 3 != 2 {
            match c.g1_orig_size.compare_exchange_weak(s, (s & !3) | 2, Acquire, Relaxed) {
                Ok(_) if s & 3 == 0 => return,
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        let _ = super::wait_word(h, addr(&c.g1_orig_size), (s & !3) | 2, None, "cond", false);
        s = c.g1_orig_size.load(Relaxed);
    }
}

unsafe fn release_lock(h: *mut Hub, c: &Words) {
    if c.g1_orig_size.fetch_and(!3, Release) & 3 == 2 {
        wake(h, &c.g1_orig_size, 1, c);
    }
}

/// Stop waiting at position `seq` of group `g` without having taken a signal: shrink the group
/// if it is still open, or pass on the signal it effectively gave us.
unsafe fn cancel_waiting(h: *mut Hub, cp: *mut pthread_cond_t, seq: u64, g: usize) {
    let c = words(cp);
    acquire_lock(h, c);
    let g1 = c.g1_start.load(Relaxed) >> 1;
    let mut consumed = false;
    if g1 > seq {
        consumed = true; // our group is closed: enough signals were given for it
    } else if g1 + (c.g1_orig_size.load(Relaxed) >> 2) as u64 <= seq {
        // In G2: no signal can be ours yet. Its size counts down from 0 (unsigned wrap).
        if c.g_size[g].load(Relaxed).wrapping_add(MAX_GROUP_SIZE) != 0 {
            c.g_size[g].fetch_sub(1, Relaxed);
        } else {
            release_lock(h, c);
            broadcast(h, cp);
            return;
        }
    } else if c.g_size[g].load(Relaxed) == 0 {
        consumed = true; // in G1, and every remaining signal of it is ours
    } else {
        c.g_size[g].fetch_sub(1, Relaxed);
    }
    release_lock(h, c);
    if consumed {
        signal(h, cp);
    }
}

/// We took a signal from slot `g` although our position `seq` may be older than the current G1:
/// it may have been meant for that group; give one back to it (a spurious wakeup at worst).
unsafe fn undo_steal(h: *mut Hub, c: &Words, seq: u64, g: usize) {
    let g1s = c.g1_start.load(Relaxed);
    if seq >= g1s >> 1 || ((g1s & 1) ^ 1) as usize != g {
        return;
    }
    let mut s = c.g_signals[g].load(Relaxed);
    while c.g1_start.load(Relaxed) == g1s {
        if s & 1 != 0 {
            wake(h, &c.g_signals[g], 1, c);
            return;
        }
        match c.g_signals[g].compare_exchange_weak(s, s + 2, Relaxed, Relaxed) {
            Ok(_) => {
                wake(h, &c.g_signals[g], 1, c);
                return;
            }
            Err(now) => s = now,
        }
    }
}

/// Drop our waiter reference; the last one wakes a pending `pthread_cond_destroy`.
unsafe fn confirm_wakeup(h: *mut Hub, c: &Words) {
    if c.wrefs.fetch_sub(8, Release) >> 2 == 3 {
        wake(h, &c.wrefs, i32::MAX, c);
    }
}

/// How a wait ended.
enum End {
    Signalled,
    TimedOut,
    Cancelled,
}

/// `pthread_cond_wait` family on a process-shared condvar (`deadline` validated). Returns 0,
/// ETIMEDOUT or the mutex's error; acts on a cancellation with the mutex re-acquired.
pub(crate) unsafe fn wait(h: *mut Hub, cp: *mut pthread_cond_t, m: *mut pthread_mutex_t, deadline: Option<u64>) -> c_int {
    let c = words(cp);
    let wseq = c.wseq.fetch_add(2, Acquire);
    let g = (wseq & 1) as usize;
    let seq = wseq >> 1;
    c.wrefs.fetch_add(8, Relaxed);
    let r = crate::sync::mutex::pthread_mutex_unlock(m);
    if r != 0 {
        cancel_waiting(h, cp, seq, g);
        confirm_wakeup(h, c);
        return r;
    }
    let end = 'wait: loop {
        let mut s = c.g_signals[g].load(Acquire);
        loop {
            if s & 1 != 0 {
                break 'wait End::Signalled; // the group is closed: it was signalled in full
            }
            if s != 0 {
                match c.g_signals[g].compare_exchange_weak(s, s - 2, Acquire, Relaxed) {
                    Ok(_) => {
                        undo_steal(h, c, seq, g);
                        break 'wait End::Signalled;
                    }
                    Err(now) => {
                        s = now;
                        continue;
                    }
                }
            }
            break;
        }
        if seq < c.g1_start.load(Relaxed) >> 1 {
            break End::Signalled; // our group is already past
        }
        match super::wait_word(h, addr(&c.g_signals[g]), 0, deadline, "cond", true) {
            Err(libc::ETIMEDOUT) => break End::TimedOut,
            Err(libc::ECANCELED) => break End::Cancelled,
            _ => {}
        }
        if crate::sync::cond::cancel_pending(h) {
            break End::Cancelled;
        }
    };
    if !matches!(end, End::Signalled) {
        cancel_waiting(h, cp, seq, g);
    }
    confirm_wakeup(h, c);
    let r = crate::sync::mutex::pthread_mutex_lock_impl(m);
    if let End::Cancelled = end {
        crate::thread::cancel::testcancel(h);
    }
    match (r, end) {
        (0, End::TimedOut) => libc::ETIMEDOUT,
        (r, _) => r,
    }
}

/// Wake the greenlets parked on the condvar's words after glibc's signal or broadcast.
unsafe fn wake_parked(h: *mut Hub, c: &Words) {
    for w in &c.g_signals {
        super::wake_word(h, addr(w));
    }
    super::wake_word(h, addr(&c.g1_orig_size));
}

/// `pthread_cond_signal`: glibc's (it puts the signal into G1 and wakes the kernel's waiters),
/// then the greenlets parked here look again.
pub(crate) unsafe fn signal(h: *mut Hub, c: *mut pthread_cond_t) -> c_int {
    let r = real_fns::pthread_cond_signal(c);
    wake_parked(h, words(c));
    r
}

/// `pthread_cond_broadcast`: glibc's, then the greenlets parked here look again.
pub(crate) unsafe fn broadcast(h: *mut Hub, c: *mut pthread_cond_t) -> c_int {
    let r = real_fns::pthread_cond_broadcast(c);
    wake_parked(h, words(c));
    r
}

/// `pthread_cond_destroy`: as glibc, ask the last waiter to wake us and wait (parked) until no
/// waiter holds a reference.
pub(crate) unsafe fn destroy(h: *mut Hub, cp: *mut pthread_cond_t) -> c_int {
    let c = words(cp);
    let mut flags = c.wrefs.fetch_or(4, Relaxed);
    while flags >> 3 != 0 {
        let _ = super::wait_word(h, addr(&c.wrefs), flags, None, "cond", false);
        flags = c.wrefs.load(Acquire);
    }
    0
}
