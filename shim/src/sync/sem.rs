//! Unnamed semaphores as greenlet waits: `sem_init`, `sem_wait`, `sem_trywait`, `sem_timedwait`,
//! `sem_clockwait`, `sem_post`, `sem_getvalue`, `sem_destroy`.
//!
//! The state lives in the caller's 32-byte `sem_t`, compatible with glibc's where both look:
//!
//! | bytes  | glibc                    | here                                          |
//! |--------|--------------------------|-----------------------------------------------|
//! | 0..4   | value (low half of data) | value (atomic)                                |
//! | 4..8   | waiter count             | same: OS threads without a hub in glibc's wait  |
//! | 8..12  | `private` (0: private)   | same; 128 = process-shared: glibc handles it  |
//! | 12..16 | pad                      | greenlets waiting (atomic)                    |
//! | 16..24 | -                        | wait queue (first waiter, see `gs::waitq`)    |
//! | 24..32 | -                        | link in the list of semaphores to wake, low bit set while listed |
//!
//! # `sem_post` is async-signal-safe
//! A signal handler running on the hub thread may call `sem_post` at any moment, including in the
//! middle of a hub operation (the run queue being updated, another greenlet's `sem_wait` linking
//! its waiter). So `sem_post` never touches the run queue or a wait queue: it increments the
//! value with a CAS and, only if greenlets wait, pushes the semaphore (once) on a lock-free list
//! of semaphores that need attention. The hub drains that list at its safe point
//! ([`safe_point`]: every scheduling round, and around each wait of the reactor) and wakes as many
//! waiters as the value allows; a woken waiter takes the value with a CAS or waits again at the
//! front of the queue. A handler that posts while the hub sleeps in `epoll_wait` interrupts it
//! (EINTR); one that posts just before the hub goes to sleep is caught by an eventfd in the
//! reactor's epoll set, written only when the hub has announced it is about to sleep. The same
//! path makes `sem_post` from another OS thread wake a greenlet (though an object should not be
//! shared between OS threads otherwise).
//!
//! `sem_wait` and friends are cancellation points and interruptible, as natively (checked on
//! Linux 6.x, glibc 2.36): a signal handler that runs while a greenlet waits makes
//! `sem_timedwait`/`sem_clockwait` return -1/EINTR always, and `sem_wait` only if the handler
//! lacks SA_RESTART (otherwise the kernel restarts glibc's futex wait). The hub does not say which
//! signal ran, so `sem_wait` is restarted only if every installed handler has SA_RESTART (the
//! same rule as the fd calls; fault signals such as the overflow reporter's SIGSEGV, which cannot
//! interrupt a wait, do not count).
//!
//! Named semaphores (`sem_open`) and `pshared` ones live in shared memory with another process
//! and stay glibc's; `pshared::sem` waits for them cooperatively.

use std::ffi::{c_int, c_uint};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicUsize, Ordering::*};

use gs::hub::{self, Hub, Wake, WaitOn};
use gs::waitq::{self, Node, Queue};
use libc::{clockid_t, sem_t, timespec};

use crate::sync::mutex::{self, sync_hub};

mod real_fns {
    use super::*;
    real! {
        fn sem_init(s: *mut sem_t, pshared: c_int, value: c_uint) -> c_int;
        fn sem_destroy(s: *mut sem_t) -> c_int;
        fn sem_wait(s: *mut sem_t) -> c_int;
        fn sem_trywait(s: *mut sem_t) -> c_int;
        fn sem_timedwait(s: *mut sem_t, t: *const timespec) -> c_int;
        fn sem_clockwait(s: *mut sem_t, c: clockid_t, t: *const timespec) -> c_int;
        fn sem_getvalue(s: *mut sem_t, v: *mut c_int) -> c_int;
    }
}

const SEM_VALUE_MAX: u32 = i32::MAX as u32;
/// glibc's `private` word of a process-shared (or named) semaphore (its LLL_SHARED).
const SHARED: i32 = 128;

#[repr(C)]
struct RawSem {
    value: AtomicU32,
    /// glibc's: OS threads (without a hub) blocked in the real sem_wait.
    nwaiters: AtomicU32,
    private: i32,
    /// Greenlets waiting.
    gwaiters: AtomicU32,
    queue: Queue,
    /// Next on the PENDING list | 1 while listed; 0 when not listed.
    next: AtomicUsize,
}

const _: () = assert!(std::mem::size_of::<RawSem>() == std::mem::size_of::<sem_t>());

/// Semaphores posted while greenlets wait on them, not yet handled by the hub.
static PENDING: AtomicPtr<RawSem> = AtomicPtr::new(ptr::null_mut());
/// The hub announced it is about to block in the reactor.
static SLEEPING: AtomicBool = AtomicBool::new(false);
/// The eventfd was written since the hub last read it.
static KICKED: AtomicBool = AtomicBool::new(false);
/// Eventfd in the hub's epoll set (-1: not created yet).
static KICK_FD: AtomicI32 = AtomicI32::new(-1);

#[inline(always)]
unsafe fn raw(s: *mut sem_t) -> *mut RawSem {
    s as *mut RawSem
}

#[inline(always)]
unsafe fn ours(s: *mut RawSem) -> bool {
    (*s).private != SHARED
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sem_init(s: *mut sem_t, pshared: c_int, value: c_uint) -> c_int {
    if pshared != 0 {
        return real_fns::sem_init(s, pshared, value);
    }
    if value > SEM_VALUE_MAX {
        gs::sys::set_errno(libc::EINVAL);
        return -1;
    }
    // A layout glibc reads the same way (value, no waiters, private), for OS threads without a hub.
    ptr::write_bytes(s as *mut u8, 0, std::mem::size_of::<sem_t>());
    let r = raw(s);
    (*r).value.store(value, Relaxed);
    0
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sem_destroy(s: *mut sem_t) -> c_int {
    let r = raw(s);
    if !ours(r) {
        if sync_hub().is_some() {
            crate::sync::pshared::sem::forget(s);
        }
        return real_fns::sem_destroy(s);
    }
    // Never leave a destroyed (soon freed) semaphore on the list of those to wake.
    if (*r).next.load(SeqCst) != 0 {
        if let Some(h) = sync_hub() {
            drain(h);
        }
    }
    0
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sem_getvalue(s: *mut sem_t, v: *mut c_int) -> c_int {
    let r = raw(s);
    if !ours(r) {
        return real_fns::sem_getvalue(s, v);
    }
    *v = (*r).value.load(Relaxed) as c_int;
    0
}

/// Take one unit if there is one.
#[inline(always)]
unsafe fn try_take(r: *mut RawSem) -> bool {
    let mut v = (*r).value.load(Relaxed);
    while v != 0 {
        match (*r).value.compare_exchange_weak(v, v - 1, Acquire, Relaxed) {
            Ok(_) => return true,
            Err(x) => v = x,
        }
    }
    false
}

/// Async-signal-safe: atomics and, rarely, one `write` to an eventfd.
#[no_mangle]
pub unsafe extern "C-unwind" fn sem_post(s: *mut sem_t) -> c_int {
    let r = raw(s);
    if !ours(r) {
        return crate::sync::pshared::sem::post(s);
    }
    let mut v = (*r).value.load(Relaxed);
    loop {
        if v >= SEM_VALUE_MAX {
            gs::sys::set_errno(libc::EOVERFLOW);
            return -1;
        }
        match (*r).value.compare_exchange_weak(v, v + 1, SeqCst, Relaxed) {
            Ok(_) => break,
            Err(x) => v = x,
        }
    }
    if (*r).gwaiters.load(SeqCst) != 0 {
        notify(r);
    }
    if (*r).nwaiters.load(SeqCst) != 0 {
        // An OS thread without a hub waits in glibc's sem_wait (a futex on the value).
        let _ = syscall!(SYS_futex, r as usize, libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1, 0usize);
    }
    0
}

/// Queue `r` for the hub's attention and wake the hub if it sleeps.
#[inline(never)]
unsafe fn notify(r: *mut RawSem) {
    if (*r).next.compare_exchange(0, 1, SeqCst, SeqCst).is_ok() {
        let mut head = PENDING.load(SeqCst);
        loop {
            (*r).next.store(head as usize | 1, SeqCst);
            match PENDING.compare_exchange_weak(head, r, SeqCst, SeqCst) {
                Ok(_) => break,
                Err(x) => head = x,
            }
        }
    }
    kick();
}

/// Wake the hub if it sleeps (or is about to) in its reactor. Async-signal-safe: the signal
/// dispatcher uses it too.
pub fn kick() {
    if SLEEPING.load(SeqCst) {
        let fd = KICK_FD.load(SeqCst);
        if fd >= 0 && !KICKED.swap(true, SeqCst) {
            let one: u64 = 1;
            let _ = syscall!(SYS_write, fd, &one as *const u64, 8);
        }
    }
}

/// The hub's safe point (see `gs::hub::Hub::safe_point`): wake the waiters of posted semaphores.
pub unsafe fn safe_point(h: *mut Hub, sleeping: bool) {
    if sleeping {
        SLEEPING.store(true, SeqCst);
    } else if SLEEPING.load(Relaxed) {
        SLEEPING.store(false, SeqCst);
    }
    if KICKED.load(Relaxed) {
        let mut buf = 0u64;
        let _ = syscall!(SYS_read, KICK_FD.load(Relaxed), &mut buf as *mut u64, 8);
        KICKED.store(false, SeqCst);
    }
    if !PENDING.load(SeqCst).is_null() {
        drain(h);
    }
    crate::sync::pshared::sem::drain(h);
}

/// Wake, for every queued semaphore, as many waiters as its value allows. Hub thread only, never
/// from a signal handler.
unsafe fn drain(h: *mut Hub) {
    let mut r = PENDING.swap(ptr::null_mut(), SeqCst);
    while !r.is_null() {
        let next = ((*r).next.load(SeqCst) & !1) as *mut RawSem;
        (*r).next.store(0, SeqCst);
        let mut avail = (*r).value.load(SeqCst);
        while avail > 0 {
            if waitq::wake_one(h, &mut (*r).queue).is_null() {
                break;
            }
            crate::diag::deadlock::progress();
            avail -= 1;
        }
        r = next;
    }
}

/// Register the eventfd that lets a post wake a sleeping hub (once, on the hub thread).
#[cold]
pub(crate) unsafe fn ensure_kick_fd(h: *mut Hub) {
    crate::diag::deadlock::ensure_hooks(h);
    if (*h).safe_point.is_none() {
        // wake the waiters of posted semaphores, route the signals that arrived
        (*h).safe_point = Some(crate::thread::signal::safe_point);
    }
    if KICK_FD.load(Relaxed) >= 0 {
        return;
    }
    let Ok(fd) = syscall!(SYS_eventfd2, 0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) else { return };
    let Ok(fd) = gs::reactor::move_high(fd as i32) else { return };
    // Data u64::MAX: never an fd slot of the reactor, which ignores the event; the wakeup of
    // epoll_wait is all we need.
    let mut ev = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: u64::MAX };
    if syscall!(SYS_epoll_ctl, (*h).reactor.epfd(), libc::EPOLL_CTL_ADD, fd, &mut ev as *mut _).is_err() {
        let _ = syscall!(SYS_close, fd);
        return;
    }
    KICK_FD.store(fd, SeqCst);
    extern "C" {
        fn pthread_atfork(a: Option<unsafe extern "C" fn()>, b: Option<unsafe extern "C" fn()>, c: Option<unsafe extern "C" fn()>) -> c_int;
    }
    pthread_atfork(None, None, Some(atfork_child));
}

/// The eventfd that wakes a sleeping hub, once made.
pub fn kick_fd() -> Option<i32> {
    let fd = KICK_FD.load(Relaxed);
    (fd >= 0).then_some(fd)
}

/// Move the eventfd to another high number (the program `dup2`s onto its number): register the
/// copy, publish it, then drop the old number. A `sem_post` from a signal handler meanwhile
/// writes to one of the two, which name the same eventfd.
pub unsafe fn move_kick_fd(h: *mut Hub) -> Result<(), i32> {
    let Some(old) = kick_fd() else { return Ok(()) };
    let new = gs::reactor::dup_high(old)?;
    let mut ev = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: u64::MAX };
    if let Err(e) = syscall!(SYS_epoll_ctl, (*h).reactor.epfd(), libc::EPOLL_CTL_ADD, new, &mut ev as *mut _) {
        let _ = syscall!(SYS_close, new);
        return Err(e);
    }
    KICK_FD.store(new, SeqCst);
    let _ = syscall!(SYS_epoll_ctl, (*h).reactor.epfd(), libc::EPOLL_CTL_DEL, old, 0usize);
    let _ = syscall!(SYS_close, old);
    Ok(())
}

/// The child has a fresh epoll instance: make a new eventfd when needed.
unsafe extern "C" fn atfork_child() {
    let fd = KICK_FD.swap(-1, SeqCst);
    if fd >= 0 {
        let _ = syscall!(SYS_close, fd);
    }
    KICKED.store(false, SeqCst);
    SLEEPING.store(false, SeqCst);
}

/// The blocking part; `deadline` already validated. Returns 0 or an errno.
unsafe fn wait(h: *mut Hub, r: *mut RawSem, deadline: Option<u64>) -> c_int {
    crate::thread::cancel::testcancel(h);
    if try_take(r) {
        return 0;
    }
    if KICK_FD.load(Relaxed) < 0 || (*h).on_stall.is_none() || (*h).safe_point.is_none() {
        ensure_kick_fd(h);
    }
    let q: *mut Queue = &mut (*r).queue;
    let what = WaitOn::Object("sem", r as usize);
    let mut node = Node::new(0);
    let mut front = false;
    loop {
        if let Some(d) = deadline {
            if d <= gs::sys::now() {
                return libc::ETIMEDOUT;
            }
        }
        (*r).gwaiters.fetch_add(1, SeqCst);
        let (id, token) = (*h).prepare_park();
        node.id = id;
        node.token = token;
        node.woken = false;
        if front {
            waitq::push_front(q, &mut node);
        } else {
            waitq::push_back(q, &mut node);
        }
        // A post between the failed take and the count above did not queue us for a wakeup.
        if try_take(r) {
            waitq::remove(q, &mut node);
            leave(h, r);
            return 0;
        }
        let why = hub::park_prepared(h, what, deadline, true);
        waitq::remove(q, &mut node);
        let got = try_take(r);
        leave(h, r);
        if got {
            return 0;
        }
        match why {
            Wake::Interrupted => {
                crate::thread::cancel::testcancel(h);
                // As the kernel does for glibc's futex wait: an untimed wait is restarted after
                // an SA_RESTART handler, a timed one never is.
                if deadline.is_some() || !crate::thread::signal::restart_after_signal(h) {
                    return libc::EINTR;
                }
                crate::thread::signal::deliver_now(h);
                front = true;
            }
            Wake::TimedOut if !node.woken => return libc::ETIMEDOUT,
            _ => front = true, // woken, but another greenlet took the unit first
        }
    }
}


/// A waiter leaves: uncount it and make sure no wakeup for this semaphore stays pending (the
/// program may free the semaphore once its waiters are gone).
#[inline]
unsafe fn leave(h: *mut Hub, r: *mut RawSem) {
    (*r).gwaiters.fetch_sub(1, SeqCst);
    if (*r).next.load(SeqCst) != 0 {
        drain(h);
    }
}

#[inline]
unsafe fn ret(e: c_int) -> c_int {
    if e == 0 {
        0
    } else {
        gs::sys::set_errno(e);
        -1
    }
}

unsafe fn sem_wait_impl(s: *mut sem_t) -> c_int {
    let r = raw(s);
    let Some(h) = sync_hub() else { return real_fns::sem_wait(s) };
    if !ours(r) {
        return ret(crate::sync::pshared::sem::wait(h, s, None));
    }
    ret(wait(h, r, None))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sem_trywait(s: *mut sem_t) -> c_int {
    let r = raw(s);
    if !ours(r) {
        return real_fns::sem_trywait(s);
    }
    if try_take(r) {
        0
    } else {
        ret(libc::EAGAIN)
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sem_clockwait(s: *mut sem_t, clock: clockid_t, abs: *const timespec) -> c_int {
    let r = raw(s);
    let Some(h) = sync_hub() else { return real_fns::sem_clockwait(s, clock, abs) };
    // glibc checks the clock and the timespec before looking at the value.
    if !mutex::valid_clock(clock) {
        return ret(libc::EINVAL);
    }
    match mutex::deadline(clock, abs) {
        Ok(d) if !ours(r) => ret(crate::sync::pshared::sem::wait(h, s, Some(d))),
        Ok(d) => ret(wait(h, r, Some(d))),
        Err(e) => ret(e),
    }
}

unsafe fn sem_timedwait_impl(s: *mut sem_t, abs: *const timespec) -> c_int {
    if sync_hub().is_none() {
        return real_fns::sem_timedwait(s, abs);
    }
    sem_clockwait(s, libc::CLOCK_REALTIME, abs)
}

/// The hook boundary (see `entry`); the work is in `sem_wait_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn sem_wait(s: *mut sem_t) -> c_int {
    match crate::hook::entry::hub() {
        Some(h) => hook!(h, sem_wait, crate::hook::entry::nonneg, sem_wait_impl(s), |r, e| [Arg::Hex(s as u64)], Ret::Int(r as i64, e)),
        None => sem_wait_impl(s),
    }
}

/// The hook boundary (see `entry`); the work is in `sem_timedwait_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn sem_timedwait(s: *mut sem_t, abs: *const timespec) -> c_int {
    match crate::hook::entry::hub() {
        Some(h) => hook!(h, sem_timedwait, crate::hook::entry::nonneg, sem_timedwait_impl(s, abs), |r, e| [Arg::Hex(s as u64), Arg::Hex(abs as u64)], Ret::Int(r as i64, e)),
        None => sem_timedwait_impl(s, abs),
    }
}
