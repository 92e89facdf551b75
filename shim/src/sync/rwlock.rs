//! Read-write locks as greenlet waits: `pthread_rwlock_*`.
//!
//! State in the caller's 56-byte `pthread_rwlock_t`; all-zero (`PTHREAD_RWLOCK_INITIALIZER`) is
//! an unlocked lock, and glibc's `__flags` (offset 48, the kind set by
//! `PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP` or `pthread_rwlockattr_setkind_np`) and
//! `__shared` (offset 28) keep their meaning:
//!
//! | bytes  | glibc        | here                                        |
//! |--------|--------------|---------------------------------------------|
//! | 0..4   | `__readers`  | read holders                                |
//! | 4..8   | `__writers`  | writers waiting                             |
//! | 8..16  | futex words  | write holder's greenlet id (0: none)        |
//! | 28..32 | `__shared`   | process-shared (then the layout is glibc's: `pshared::rwlock`) |
//! | 32..40 | elision, pad | wait queue (readers and writers, FIFO)      |
//! | 48..52 | `__flags`    | kind                                        |
//!
//! As glibc: readers are preferred (a reader gets in while a writer waits) unless the kind is
//! PREFER_WRITER_NONRECURSIVE; wrlock/rdlock by the write holder give EDEADLK; timed variants
//! check the clock and timespec first (EINVAL). When the lock frees up it is handed to the first
//! waiter (a writer), or to the waiting readers.

use std::ffi::c_int;

use gs::hub::{Hub, Wake, WaitOn};
use gs::waitq::{self, Node, Queue};
use libc::{clockid_t, pthread_rwlock_t, pthread_rwlockattr_t, timespec};

use crate::sync::mutex::{self, sync_hub};
use crate::sync::pshared::rwlock as pshared;

mod real_fns {
    use super::*;
    real! {
        fn pthread_rwlock_init(l: *mut pthread_rwlock_t, a: *const pthread_rwlockattr_t) -> c_int;
        fn pthread_rwlock_destroy(l: *mut pthread_rwlock_t) -> c_int;
        fn pthread_rwlock_rdlock(l: *mut pthread_rwlock_t) -> c_int;
        fn pthread_rwlock_wrlock(l: *mut pthread_rwlock_t) -> c_int;
        fn pthread_rwlock_tryrdlock(l: *mut pthread_rwlock_t) -> c_int;
        fn pthread_rwlock_trywrlock(l: *mut pthread_rwlock_t) -> c_int;
        fn pthread_rwlock_timedrdlock(l: *mut pthread_rwlock_t, t: *const timespec) -> c_int;
        fn pthread_rwlock_timedwrlock(l: *mut pthread_rwlock_t, t: *const timespec) -> c_int;
        fn pthread_rwlock_clockrdlock(l: *mut pthread_rwlock_t, c: clockid_t, t: *const timespec) -> c_int;
        fn pthread_rwlock_clockwrlock(l: *mut pthread_rwlock_t, c: clockid_t, t: *const timespec) -> c_int;
        fn pthread_rwlock_unlock(l: *mut pthread_rwlock_t) -> c_int;
        fn pthread_rwlockattr_getkind_np(a: *const pthread_rwlockattr_t, k: *mut c_int) -> c_int;
        fn pthread_rwlockattr_getpshared(a: *const pthread_rwlockattr_t, p: *mut c_int) -> c_int;
    }
}

const PREFER_WRITER_NONRECURSIVE: u32 = 2;
const READER: usize = 0;
const WRITER: usize = 1;

#[repr(C)]
struct RawRw {
    readers: u32,
    wwaiting: u32,
    writer: u64,
    _a: [u32; 3],
    shared: i32,
    queue: Queue,
    _b: u64,
    flags: u32,
    _c: u32,
}

const _: () = assert!(std::mem::size_of::<RawRw>() == std::mem::size_of::<pthread_rwlock_t>());

/// The write holder of the rwlock at `addr` (for reports).
unsafe fn holder(_h: *mut Hub, addr: usize) -> crate::diag::deadlock::Holder {
    match (*(addr as *const RawRw)).writer {
        0 => crate::diag::deadlock::Holder::Unknown, // read-locked: readers are not tracked
        w => crate::diag::deadlock::Holder::By(" write-locked by ", w),
    }
}

#[inline(always)]
unsafe fn raw(l: *mut pthread_rwlock_t) -> *mut RawRw {
    l as *mut RawRw
}

#[inline(always)]
unsafe fn prefer_writer(r: *mut RawRw) -> bool {
    (*r).flags == PREFER_WRITER_NONRECURSIVE
}

#[inline(always)]
unsafe fn hub_for(l: *mut pthread_rwlock_t) -> Option<*mut Hub> {
    sync_hub().filter(|_| (*raw(l)).shared == 0)
}

/// The hub, for a process-shared lock (glibc's layout, `sync::pshared::rwlock`).
#[inline(always)]
unsafe fn pshared(l: *mut pthread_rwlock_t) -> Option<*mut Hub> {
    if (*raw(l)).shared == 0 {
        return None;
    }
    sync_hub()
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_rwlock_init(l: *mut pthread_rwlock_t, a: *const pthread_rwlockattr_t) -> c_int {
    let mut kind = 0;
    if !a.is_null() {
        let mut ps = 0;
        real_fns::pthread_rwlockattr_getpshared(a, &mut ps);
        if ps == libc::PTHREAD_PROCESS_SHARED {
            return real_fns::pthread_rwlock_init(l, a);
        }
        real_fns::pthread_rwlockattr_getkind_np(a, &mut kind);
    }
    std::ptr::write_bytes(l as *mut u8, 0, std::mem::size_of::<pthread_rwlock_t>());
    (*raw(l)).flags = kind as u32;
    0
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_rwlock_destroy(l: *mut pthread_rwlock_t) -> c_int {
    match hub_for(l) {
        None => real_fns::pthread_rwlock_destroy(l),
        Some(_) => 0,
    }
}

/// May a reader get in now?
#[inline(always)]
unsafe fn read_ok(r: *mut RawRw) -> bool {
    (*r).writer == 0 && (!prefer_writer(r) || (*r).wwaiting == 0) && (*r).readers != u32::MAX
}

/// Hand the lock to waiters as far as its state allows.
unsafe fn dispatch(h: *mut Hub, r: *mut RawRw) {
    let q: *mut Queue = &mut (*r).queue;
    loop {
        if (*r).writer != 0 {
            return;
        }
        let n = waitq::first(q);
        if n.is_null() {
            return;
        }
        if (*n).data == WRITER {
            if (*r).readers != 0 {
                // Readers hold it; with reader preference, readers queued behind may still enter.
                if prefer_writer(r) {
                    return;
                }
                let mut k = waitq::next(q, n);
                while !k.is_null() {
                    let nx = waitq::next(q, k);
                    if (*k).data == READER && waitq::wake_node(h, q, k) {
                        (*r).readers += 1;
                        crate::diag::deadlock::progress();
                    }
                    k = nx;
                }
                return;
            }
            if waitq::wake_node(h, q, n) {
                (*r).writer = (*n).id;
                crate::diag::deadlock::progress();
                return;
            }
            continue; // that writer was leaving anyway
        }
        // Readers first in line: let in every reader (up to the first writer if writers are
        // preferred).
        let mut k = n;
        while !k.is_null() {
            let nx = waitq::next(q, k);
            if (*k).data == WRITER {
                if prefer_writer(r) {
                    break;
                }
            } else if waitq::wake_node(h, q, k) {
                (*r).readers += 1;
                crate::diag::deadlock::progress();
            }
            k = nx;
        }
        let f = waitq::first(q);
        if f.is_null() || (*f).data != WRITER || (*r).readers != 0 {
            return;
        }
    }
}

/// Park as `kind` until granted; `Err(ETIMEDOUT)` at the deadline.
unsafe fn park(h: *mut Hub, r: *mut RawRw, kind: usize, deadline: Option<u64>) -> c_int {
    if let Some(d) = deadline {
        if d <= gs::sys::now() {
            return libc::ETIMEDOUT;
        }
    }
    crate::diag::deadlock::ensure_hooks(h);
    crate::diag::deadlock::describe("rwlock", holder);
    let mut node = Node::new(kind);
    if kind == WRITER {
        (*r).wwaiting += 1;
    }
    loop {
        let why = waitq::wait(h, &mut (*r).queue, &mut node, WaitOn::Object("rwlock", r as usize), deadline, false);
        if node.woken || why == Wake::TimedOut {
            break;
        }
    }
    if kind == WRITER {
        (*r).wwaiting -= 1;
    }
    if node.woken {
        return 0;
    }
    // Readers that queued only because this writer waited may go now.
    dispatch(h, r);
    libc::ETIMEDOUT
}

unsafe fn rdlock(h: *mut Hub, r: *mut RawRw, deadline: Option<u64>) -> c_int {
    if (*r).writer == mutex::me(h) {
        return libc::EDEADLK;
    }
    if read_ok(r) {
        (*r).readers += 1;
        return 0;
    }
    park(h, r, READER, deadline)
}

unsafe fn wrlock(h: *mut Hub, r: *mut RawRw, deadline: Option<u64>) -> c_int {
    let me = mutex::me(h);
    if (*r).writer == me {
        return libc::EDEADLK;
    }
    if (*r).writer == 0 && (*r).readers == 0 {
        (*r).writer = me;
        return 0;
    }
    park(h, r, WRITER, deadline)
}

/// Validate a timed call's clock and timespec (before anything else, as glibc).
unsafe fn timed(clock: clockid_t, abs: *const timespec) -> Result<u64, c_int> {
    if !mutex::valid_clock(clock) {
        return Err(libc::EINVAL);
    }
    mutex::deadline(clock, abs)
}

unsafe fn pthread_rwlock_rdlock_impl(l: *mut pthread_rwlock_t) -> c_int {
    if let Some(h) = pshared(l) {
        return pshared::lock(h, l, false, None);
    }
    let Some(h) = hub_for(l) else { return real_fns::pthread_rwlock_rdlock(l) };
    rdlock(h, raw(l), None)
}

unsafe fn pthread_rwlock_wrlock_impl(l: *mut pthread_rwlock_t) -> c_int {
    if let Some(h) = pshared(l) {
        return pshared::lock(h, l, true, None);
    }
    let Some(h) = hub_for(l) else { return real_fns::pthread_rwlock_wrlock(l) };
    wrlock(h, raw(l), None)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_rwlock_tryrdlock(l: *mut pthread_rwlock_t) -> c_int {
    if let Some(h) = pshared(l) {
        return pshared::trylock(h, l, false);
    }
    let Some(h) = hub_for(l) else { return real_fns::pthread_rwlock_tryrdlock(l) };
    let r = raw(l);
    if read_ok(r) {
        (*r).readers += 1;
        0
    } else if (*r).readers == u32::MAX {
        libc::EAGAIN
    } else {
        mutex::busy(h)
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_rwlock_trywrlock(l: *mut pthread_rwlock_t) -> c_int {
    if let Some(h) = pshared(l) {
        return pshared::trylock(h, l, true);
    }
    let Some(h) = hub_for(l) else { return real_fns::pthread_rwlock_trywrlock(l) };
    let r = raw(l);
    if (*r).writer == 0 && (*r).readers == 0 {
        (*r).writer = mutex::me(h);
        0
    } else {
        mutex::busy(h)
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_rwlock_clockrdlock(l: *mut pthread_rwlock_t, clock: clockid_t, abs: *const timespec) -> c_int {
    if let Some(h) = pshared(l) {
        return timed(clock, abs).map_or_else(|e| e, |d| pshared::lock(h, l, false, Some(d)));
    }
    let Some(h) = hub_for(l) else { return real_fns::pthread_rwlock_clockrdlock(l, clock, abs) };
    match timed(clock, abs) {
        Ok(d) => rdlock(h, raw(l), Some(d)),
        Err(e) => e,
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_rwlock_clockwrlock(l: *mut pthread_rwlock_t, clock: clockid_t, abs: *const timespec) -> c_int {
    if let Some(h) = pshared(l) {
        return timed(clock, abs).map_or_else(|e| e, |d| pshared::lock(h, l, true, Some(d)));
    }
    let Some(h) = hub_for(l) else { return real_fns::pthread_rwlock_clockwrlock(l, clock, abs) };
    match timed(clock, abs) {
        Ok(d) => wrlock(h, raw(l), Some(d)),
        Err(e) => e,
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_rwlock_timedrdlock(l: *mut pthread_rwlock_t, abs: *const timespec) -> c_int {
    if hub_for(l).is_none() && pshared(l).is_none() {
        return real_fns::pthread_rwlock_timedrdlock(l, abs);
    }
    pthread_rwlock_clockrdlock(l, libc::CLOCK_REALTIME, abs)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_rwlock_timedwrlock(l: *mut pthread_rwlock_t, abs: *const timespec) -> c_int {
    if hub_for(l).is_none() && pshared(l).is_none() {
        return real_fns::pthread_rwlock_timedwrlock(l, abs);
    }
    pthread_rwlock_clockwrlock(l, libc::CLOCK_REALTIME, abs)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_rwlock_unlock(l: *mut pthread_rwlock_t) -> c_int {
    if let Some(h) = pshared(l) {
        return pshared::unlock(h, l);
    }
    let Some(h) = hub_for(l) else { return real_fns::pthread_rwlock_unlock(l) };
    let r = raw(l);
    if (*r).writer != 0 && (*r).writer == mutex::me(h) {
        (*r).writer = 0;
    } else if (*r).readers > 0 {
        (*r).readers -= 1;
    } else if (*r).writer != 0 {
        (*r).writer = 0; // unlocked by another greenlet than the writer: glibc does not check
    }
    if !(*r).queue.is_null() {
        dispatch(h, r);
    }
    0
}

/// The hook boundary (see `entry`); the work is in `pthread_rwlock_rdlock_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_rwlock_rdlock(l: *mut pthread_rwlock_t) -> c_int {
    match crate::hook::entry::hub() {
        Some(h) => hook!(h, pthread_rwlock_rdlock, crate::hook::entry::always, pthread_rwlock_rdlock_impl(l), |r, e| [Arg::Hex(l as u64)], Ret::Code(r)),
        None => pthread_rwlock_rdlock_impl(l),
    }
}

/// The hook boundary (see `entry`); the work is in `pthread_rwlock_wrlock_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_rwlock_wrlock(l: *mut pthread_rwlock_t) -> c_int {
    match crate::hook::entry::hub() {
        Some(h) => hook!(h, pthread_rwlock_wrlock, crate::hook::entry::always, pthread_rwlock_wrlock_impl(l), |r, e| [Arg::Hex(l as u64)], Ret::Code(r)),
        None => pthread_rwlock_wrlock_impl(l),
    }
}
