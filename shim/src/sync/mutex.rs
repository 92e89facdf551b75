//! Mutexes as greenlet waits: `pthread_mutex_*`.
//!
//! On one OS thread a real glibc mutex held by a parked greenlet deadlocks the process, so on the
//! hub thread every mutex is ours. Its state lives in the caller's 40-byte `pthread_mutex_t`, laid
//! out so that glibc's all-zero `PTHREAD_MUTEX_INITIALIZER` (and a zeroed object) is an unlocked
//! mutex and glibc's `__kind` word (byte offset 16, set by `PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP`
//! and friends, and by `pthread_mutex_init`) keeps its meaning:
//!
//! | bytes | glibc            | here                                               |
//! |-------|------------------|----------------------------------------------------|
//! | 0..8  | `__lock, __count`| owner greenlet id (0: unlocked)                    |
//! | 8..12 | `__owner`        | recursion count                                    |
//! | 12..16| `__nusers`       | `__nusers`: acquisitions minus releases, as glibc  |
//! | 16..20| `__kind`         | `__kind` (type bits 0-1, robust 16, PI 32, PP 64, pshared 128) |
//! | 20..24| `__spins`, `__elision` | priority ceiling of a priority-protect mutex     |
//! | 24..32| `__list.__prev`  | wait queue (first waiter, see `gs::waitq`)          |
//!
//! Uncontended lock and unlock are a few loads and stores: no atomic, no syscall, no lookup.
//! Unlocking with waiters hands the mutex to the first waiter (FIFO, no starvation); a waiter is
//! made runnable and owns the mutex when it runs.
//!
//! Types NORMAL, ADAPTIVE, RECURSIVE and ERRORCHECK return what glibc returns (EDEADLK,
//! EPERM, EBUSY, EAGAIN). A NORMAL mutex relocked by its owner waits forever, as natively: the
//! deadlock report names it. Like glibc, unlock checks the owner (EPERM) only where glibc does:
//! for RECURSIVE and ERRORCHECK, and for every type of a robust or priority-inheritance mutex;
//! a plain NORMAL or ADAPTIVE mutex is released by whoever unlocks it, locked or not. Robust and
//! PI errorcheck mutexes answer a trylock by their owner with EDEADLK (plain ones: EBUSY), and
//! `pthread_mutex_destroy` answers EBUSY when `__nusers` is not 0 and the mutex is not robust
//! (so also after a stray unlock of a NORMAL mutex), as glibc. Otherwise robust, priority-
//! inheritance and priority-protect mutexes behave like the plain type (a greenlet never dies
//! holding a mutex without the whole program ending with it, except via `pthread_exit`, which
//! glibc also leaves locked for non-robust mutexes); robust priority-protect is refused
//! (ENOTSUP), as glibc.
//!
//! Passed to glibc unchanged: calls from OS threads without a hub (and before the hub exists).
//! Process-shared mutexes (`PTHREAD_PROCESS_SHARED`, which must work across processes) keep
//! glibc's layout and are driven through glibc's own calls by `pshared::mutex`, parking only the
//! waiting greenlet. An object must not be shared between the hub thread and other OS threads:
//! its layout differs.

use std::ffi::c_int;

use gs::hub::{Hub, WaitOn};
use gs::waitq::{self, Node, Queue};
use libc::{clockid_t, pthread_mutex_t, pthread_mutexattr_t, timespec};

use crate::diag::deadlock;

mod real_fns {
    use super::*;
    real! {
        fn pthread_mutex_init(m: *mut pthread_mutex_t, a: *const pthread_mutexattr_t) -> c_int;
        fn pthread_mutex_destroy(m: *mut pthread_mutex_t) -> c_int;
        fn pthread_mutex_lock(m: *mut pthread_mutex_t) -> c_int;
        fn pthread_mutex_trylock(m: *mut pthread_mutex_t) -> c_int;
        fn pthread_mutex_unlock(m: *mut pthread_mutex_t) -> c_int;
        fn pthread_mutex_timedlock(m: *mut pthread_mutex_t, t: *const timespec) -> c_int;
        fn pthread_mutex_clocklock(m: *mut pthread_mutex_t, c: clockid_t, t: *const timespec) -> c_int;
        fn pthread_mutexattr_gettype(a: *const pthread_mutexattr_t, t: *mut c_int) -> c_int;
        fn pthread_mutexattr_getpshared(a: *const pthread_mutexattr_t, t: *mut c_int) -> c_int;
        fn pthread_mutexattr_getrobust(a: *const pthread_mutexattr_t, t: *mut c_int) -> c_int;
        fn pthread_mutexattr_getprotocol(a: *const pthread_mutexattr_t, t: *mut c_int) -> c_int;
        fn pthread_mutexattr_getprioceiling(a: *const pthread_mutexattr_t, c: *mut c_int) -> c_int;
        fn pthread_mutex_getprioceiling(m: *const pthread_mutex_t, c: *mut c_int) -> c_int;
        fn pthread_mutex_setprioceiling(m: *mut pthread_mutex_t, c: c_int, old: *mut c_int) -> c_int;
    }
}

const KIND_MASK: i32 = 3;
const NORMAL: i32 = 0;
const RECURSIVE: i32 = 1;
const ERRORCHECK: i32 = 2;
const ADAPTIVE: i32 = 3;
const ROBUST_BIT: i32 = 16;
/// glibc's PTHREAD_MUTEX_PRIO_INHERIT_NP and PTHREAD_MUTEX_PRIO_PROTECT_NP bits of `__kind`.
const PI_BIT: i32 = 32;
const PP_BIT: i32 = 64;
/// glibc's PTHREAD_MUTEX_PSHARED_BIT; a destroyed mutex has `__kind == -1`, which has it too,
/// so glibc answers for it (EINVAL), as natively.
const PSHARED_BIT: i32 = 128;

#[repr(C)]
pub struct RawMutex {
    pub owner: u64,
    count: u32,
    /// glibc's `__nusers`: only `pthread_mutex_destroy` looks at it.
    nusers: u32,
    kind: i32,
    /// Priority ceiling (`PTHREAD_PRIO_PROTECT`; glibc keeps it in the high bits of `__lock`).
    ceiling: u32,
    queue: Queue,
    _pad3: u64,
}

const _: () = assert!(std::mem::size_of::<RawMutex>() == std::mem::size_of::<pthread_mutex_t>());

/// The hub to use for synchronisation objects: any hub of this OS thread (also from calls nested
/// in the shim: the object's layout is ours on the hub thread whoever calls).
pub use crate::hook::entry::any_hub as sync_hub;

/// The running greenlet's id.
#[inline(always)]
pub unsafe fn me(h: *mut Hub) -> u64 {
    (*(*h).current()).id
}

/// Clocks a timed wait accepts (as glibc's `futex_abstimed_supported_clockid`).
#[inline]
pub fn valid_clock(clock: clockid_t) -> bool {
    clock == libc::CLOCK_REALTIME || clock == libc::CLOCK_MONOTONIC
}

/// Hub deadline for an absolute time on `clock`; `Err(EINVAL)` for an invalid timespec.
#[inline]
pub unsafe fn deadline(clock: clockid_t, abs: *const timespec) -> Result<u64, c_int> {
    crate::thread::lifecycle::deadline_from_abs(clock, &*abs)
}

#[inline(always)]
unsafe fn is_native(m: *mut RawMutex) -> bool {
    (*m).kind & PSHARED_BIT != 0
}

/// Whether glibc checks the owner on unlock: RECURSIVE and ERRORCHECK, and every robust or PI
/// mutex. NORMAL and ADAPTIVE (also priority-protect ones) are unlocked by anyone.
#[inline(always)]
fn owner_checked(kind: i32) -> bool {
    let ty = kind & KIND_MASK;
    (ty != NORMAL && ty != ADAPTIVE) || kind & (ROBUST_BIT | PI_BIT) != 0
}

/// `m` is now held by `me` (first level).
#[inline(always)]
unsafe fn acquired(m: *mut RawMutex, me: u64) {
    (*m).owner = me;
    (*m).count = 1;
    (*m).nusers = (*m).nusers.wrapping_add(1);
}

/// Lock result of the contended path.
#[inline(never)]
unsafe fn lock_slow(h: *mut Hub, m: *mut RawMutex, me: u64, dl: Option<(clockid_t, *const timespec)>) -> c_int {
    let kind = (*m).kind & KIND_MASK;
    if (*m).owner == me {
        match kind {
            RECURSIVE => {
                if (*m).count == u32::MAX {
                    return libc::EAGAIN;
                }
                (*m).count += 1;
                return 0;
            }
            ERRORCHECK => return libc::EDEADLK,
            _ => {} // NORMAL: waits forever (or until the deadline), as natively
        }
    }
    let deadline = match dl {
        None => None,
        Some((clock, abs)) => match deadline(clock, abs) {
            Ok(d) => Some(d),
            Err(e) => return e,
        },
    };
    if let Some(d) = deadline {
        if d <= gs::sys::now() {
            return libc::ETIMEDOUT;
        }
    }
    deadlock::ensure_hooks(h);
    deadlock::describe("mutex", holder);
    let mut node = Node::new(0);
    loop {
        let why = waitq::wait(h, &mut (*m).queue, &mut node, WaitOn::Object("mutex", m as usize), deadline, false);
        if node.woken {
            // Handed over by the unlocker.
            return 0;
        }
        if why == gs::hub::Wake::Interrupted {
            // Woken by pthread_cancel: an asynchronous cancellation acts here (the node is
            // already unlinked), as natively it interrupts the futex wait.
            crate::thread::cancel::act_if_async(h);
        }
        if (*m).owner == 0 {
            acquired(m, me);
            return 0;
        }
        if why == gs::hub::Wake::TimedOut {
            return libc::ETIMEDOUT;
        }
    }
}

/// Lock `m` for greenlet `me` (the cond layer relocks with this).
#[inline(always)]
pub unsafe fn lock(h: *mut Hub, m: *mut RawMutex, me: u64) -> c_int {
    if (*m).owner == 0 {
        acquired(m, me);
        return 0;
    }
    lock_slow(h, m, me, None)
}

/// Release one level of `m` held by `me`, handing it to the first waiter when it becomes free.
#[inline(always)]
pub unsafe fn unlock(h: *mut Hub, m: *mut RawMutex, me: u64) -> c_int {
    let kind = (*m).kind;
    if owner_checked(kind) {
        if (*m).owner != me {
            return libc::EPERM;
        }
        if kind & KIND_MASK == RECURSIVE {
            (*m).count -= 1;
            if (*m).count != 0 {
                return 0;
            }
        }
    }
    // As glibc, also for a NORMAL mutex that was not locked (destroy then says EBUSY).
    (*m).nusers = (*m).nusers.wrapping_sub(1);
    if (*m).queue.is_null() {
        (*m).owner = 0;
        return 0;
    }
    hand_over(h, m);
    0
}

#[inline(never)]
unsafe fn hand_over(h: *mut Hub, m: *mut RawMutex) {
    let n = waitq::wake_one(h, &mut (*m).queue);
    if n.is_null() {
        (*m).owner = 0;
    } else {
        acquired(m, (*n).id);
        deadlock::progress();
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_mutex_init(m: *mut pthread_mutex_t, a: *const pthread_mutexattr_t) -> c_int {
    let mut kind = NORMAL;
    let mut ceiling = 0;
    if !a.is_null() {
        let (mut t, mut ps, mut rb, mut pr) = (0, 0, 0, 0);
        real_fns::pthread_mutexattr_gettype(a, &mut t);
        real_fns::pthread_mutexattr_getpshared(a, &mut ps);
        real_fns::pthread_mutexattr_getrobust(a, &mut rb);
        real_fns::pthread_mutexattr_getprotocol(a, &mut pr);
        if ps == libc::PTHREAD_PROCESS_SHARED {
            return real_fns::pthread_mutex_init(m, a);
        }
        kind = (t & KIND_MASK) | if rb != 0 { ROBUST_BIT } else { 0 };
        match pr {
            libc::PTHREAD_PRIO_INHERIT => kind |= PI_BIT,
            libc::PTHREAD_PRIO_PROTECT if rb != 0 => return libc::ENOTSUP,
            libc::PTHREAD_PRIO_PROTECT => {
                kind |= PP_BIT;
                // glibc's getter answers the lowest SCHED_FIFO priority for an unset ceiling,
                // which is what glibc's init gives the mutex too.
                real_fns::pthread_mutexattr_getprioceiling(a, &mut ceiling);
            }
            _ => {}
        }
    }
    // The zero state is valid for glibc too (for OS threads without a hub).
    std::ptr::write_bytes(m as *mut u8, 0, std::mem::size_of::<pthread_mutex_t>());
    (*(m as *mut RawMutex)).kind = kind;
    (*(m as *mut RawMutex)).ceiling = ceiling as u32;
    0
}

/// The ceiling of a priority-protect mutex; EINVAL for any other, as glibc.
#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_getprioceiling(m: *const pthread_mutex_t, ceiling: *mut c_int) -> c_int {
    let r = m as *mut RawMutex;
    if sync_hub().is_none() || is_native(r) {
        return real_fns::pthread_mutex_getprioceiling(m, ceiling);
    }
    if (*r).kind & PP_BIT == 0 {
        return libc::EINVAL;
    }
    *ceiling = (*r).ceiling as c_int;
    0
}

/// Change the ceiling of a priority-protect mutex as glibc does: EINVAL for another protocol or
/// a ceiling outside SCHED_FIFO's priorities; the mutex is taken for the change (waiting while
/// another greenlet holds it; the owner of an error-checking one gets EDEADLK, of a recursive
/// one changes it in place, of a normal one waits forever, as natively).
#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_setprioceiling(m: *mut pthread_mutex_t, ceiling: c_int, old: *mut c_int) -> c_int {
    let r = m as *mut RawMutex;
    let Some(h) = sync_hub() else { return real_fns::pthread_mutex_setprioceiling(m, ceiling, old) };
    if is_native(r) {
        return real_fns::pthread_mutex_setprioceiling(m, ceiling, old);
    }
    if (*r).kind & PP_BIT == 0 {
        return libc::EINVAL;
    }
    let (lo, hi) = (libc::sched_get_priority_min(libc::SCHED_FIFO), libc::sched_get_priority_max(libc::SCHED_FIFO));
    if ceiling < lo || ceiling > hi {
        return libc::EINVAL;
    }
    let me = me(h);
    let held = (*r).owner == me && (*r).kind & KIND_MASK == RECURSIVE;
    if (*r).owner == me && (*r).kind & KIND_MASK == ERRORCHECK {
        return libc::EDEADLK;
    }
    if !held {
        let e = lock(h, r, me);
        if e != 0 {
            return e;
        }
    }
    if !old.is_null() {
        *old = (*r).ceiling as c_int;
    }
    (*r).ceiling = ceiling as u32;
    if !held {
        unlock(h, r, me);
    }
    0
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_mutex_destroy(m: *mut pthread_mutex_t) -> c_int {
    let r = m as *mut RawMutex;
    if sync_hub().is_none() || is_native(r) {
        return real_fns::pthread_mutex_destroy(m);
    }
    // glibc looks at `__nusers` only, and not for robust mutexes (a locked one is destroyed).
    if (*r).kind & ROBUST_BIT == 0 && (*r).nusers != 0 {
        return libc::EBUSY;
    }
    (*r).kind = -1;
    0
}

#[inline(always)]
pub(crate) unsafe fn pthread_mutex_lock_impl(m: *mut pthread_mutex_t) -> c_int {
    let Some(h) = sync_hub() else { return real_fns::pthread_mutex_lock(m) };
    let r = m as *mut RawMutex;
    if is_native(r) {
        return pshared_or_real(h, m, false, |h| crate::sync::pshared::mutex::lock(h, m, None), || real_fns::pthread_mutex_lock(m));
    }
    let ret = lock(h, r, me(h));
    crate::thread::signal::after_lock(h);
    ret
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_mutex_trylock(m: *mut pthread_mutex_t) -> c_int {
    let Some(h) = sync_hub() else { return real_fns::pthread_mutex_trylock(m) };
    let r = m as *mut RawMutex;
    if is_native(r) {
        return pshared_or_real(h, m, true, |h| crate::sync::pshared::mutex::trylock(h, m), || real_fns::pthread_mutex_trylock(m));
    }
    let me = me(h);
    if (*r).owner == 0 {
        acquired(r, me);
        return 0;
    }
    if (*r).owner == me {
        let kind = (*r).kind;
        match kind & KIND_MASK {
            RECURSIVE => {
                if (*r).count == u32::MAX {
                    return libc::EAGAIN;
                }
                (*r).count += 1;
                return 0;
            }
            // glibc's robust and PI trylock paths check for the owner; the plain one does not.
            ERRORCHECK if kind & (ROBUST_BIT | PI_BIT) != 0 => return libc::EDEADLK,
            _ => {}
        }
    }
    busy(h)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_mutex_unlock(m: *mut pthread_mutex_t) -> c_int {
    let Some(h) = sync_hub() else { return real_fns::pthread_mutex_unlock(m) };
    let r = m as *mut RawMutex;
    if is_native(r) {
        return pshared_or_real(h, m, true, |h| crate::sync::pshared::mutex::unlock(h, m), || real_fns::pthread_mutex_unlock(m));
    }
    let ret = unlock(h, r, me(h));
    crate::thread::signal::after_export(h);
    ret
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_mutex_clocklock(m: *mut pthread_mutex_t, clock: clockid_t, abs: *const timespec) -> c_int {
    let Some(h) = sync_hub() else { return real_fns::pthread_mutex_clocklock(m, clock, abs) };
    let r = m as *mut RawMutex;
    // glibc checks the clock first, for every kind.
    if !valid_clock(clock) {
        return libc::EINVAL;
    }
    if is_native(r) {
        return pshared_or_real(h, m, false, |h| crate::sync::pshared::mutex::lock(h, m, Some((clock, abs))), || real_fns::pthread_mutex_clocklock(m, clock, abs));
    }
    let me = me(h);
    if (*r).owner == 0 {
        // glibc takes a free mutex without looking at the timeout.
        acquired(r, me);
        return 0;
    }
    lock_slow(h, r, me, Some((clock, abs)))
}

unsafe fn pthread_mutex_timedlock_impl(m: *mut pthread_mutex_t, abs: *const timespec) -> c_int {
    let Some(_) = sync_hub() else { return real_fns::pthread_mutex_timedlock(m, abs) };
    pthread_mutex_clocklock(m, libc::CLOCK_REALTIME, abs)
}

/// A process-shared mutex (`pshared::mutex`) for a greenlet; glibc's own call for a destroyed
/// one (`__kind` -1, which glibc answers with EINVAL) and inside the shim's own code. `slice`:
/// count the call toward the time slice (not a lock: a spinner must not be made to yield while
/// it holds the lock, or the others it lets run only find the lock taken; as for the hub's own
/// mutexes, a lock/unlock pair counts once, at the unlock).
#[inline(never)]
unsafe fn pshared_or_real(h: *mut Hub, m: *mut pthread_mutex_t, slice: bool, coop: impl FnOnce(*mut Hub) -> c_int, real: impl FnOnce() -> c_int) -> c_int {
    if (*(m as *mut RawMutex)).kind == -1 {
        return real();
    }
    let r = coop(h);
    if slice {
        crate::thread::signal::after_export(h);
    } else {
        crate::thread::signal::after_lock(h);
    }
    r
}

/// A failed trylock is a yield point: a greenlet that polls a lock lets its holder run (natively
/// the holder runs on another CPU meanwhile).
pub(crate) unsafe fn busy(h: *mut Hub) -> c_int {
    if (*(*h).current()).hook_depth == 0 {
        gs::hub::fair_yield(h, false);
    }
    libc::EBUSY
}

// glibc's old internal aliases, still exported and used by some libraries.
#[no_mangle]
pub unsafe extern "C-unwind" fn __pthread_mutex_lock(m: *mut pthread_mutex_t) -> c_int {
    pthread_mutex_lock(m)
}
#[no_mangle]
pub unsafe extern "C-unwind" fn __pthread_mutex_unlock(m: *mut pthread_mutex_t) -> c_int {
    pthread_mutex_unlock(m)
}
#[no_mangle]
pub unsafe extern "C-unwind" fn __pthread_mutex_trylock(m: *mut pthread_mutex_t) -> c_int {
    pthread_mutex_trylock(m)
}
#[no_mangle]
pub unsafe extern "C-unwind" fn __pthread_mutex_init(m: *mut pthread_mutex_t, a: *const pthread_mutexattr_t) -> c_int {
    pthread_mutex_init(m, a)
}
#[no_mangle]
pub unsafe extern "C-unwind" fn __pthread_mutex_destroy(m: *mut pthread_mutex_t) -> c_int {
    pthread_mutex_destroy(m)
}

/// The owner's display number of the mutex at `addr`, for reports (0: unlocked or unknown).
unsafe fn holder(h: *mut Hub, addr: usize) -> deadlock::Holder {
    let owner = (*(addr as *const RawMutex)).owner;
    match (*gs::hub::route(h, owner)).lookup(owner) {
        _ if owner == 0 => deadlock::Holder::Free,
        // The owner id is a live greenlet only if its sequence still matches.
        Some(g) if (*g).seq != 0 => deadlock::Holder::By(" held by ", owner),
        _ => deadlock::Holder::By(" held by ", 0),
    }
}

/// Traced entry (see `trace`); the work is in `pthread_mutex_lock_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_mutex_lock(m: *mut pthread_mutex_t) -> c_int {
    if crate::diag::trace::on() {
        if let Some(h) = crate::hook::entry::hub() {
            return traced!(h, pthread_mutex_lock, pthread_mutex_lock_impl(m), |r, e| [Arg::Hex(m as u64)], Ret::Code(r));
        }
    }
    pthread_mutex_lock_impl(m)
}

/// Traced entry (see `trace`); the work is in `pthread_mutex_timedlock_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_mutex_timedlock(m: *mut pthread_mutex_t, abs: *const timespec) -> c_int {
    if crate::diag::trace::on() {
        if let Some(h) = crate::hook::entry::hub() {
            return traced!(h, pthread_mutex_timedlock, pthread_mutex_timedlock_impl(m, abs), |r, e| [Arg::Hex(m as u64), Arg::Hex(abs as u64)], Ret::Code(r));
        }
    }
    pthread_mutex_timedlock_impl(m, abs)
}
