//! More than one hub (`GREENSHIM_HUBS=N`, `greenshim --hubs N`): N OS threads, each a hub
//! with its own run queue, timers, reactor and per-greenlet TLS; new threads are spread over
//! them round-robin and never migrate.
//!
//! # One lock for greenshim's state, the system calls in parallel
//! Everything greenshim keeps besides a hub's own queues — synchronisation objects' wait
//! queues, the fd table, thread keys, signal routing, the trace — was written for one OS
//! thread. Rather than make each of them safe across threads (and pay for it with one hub),
//! a hub thread holds one process-wide lock whenever it runs greenshim's code *or the
//! program's*, and lets go of it only where it waits or works in the kernel:
//!
//! * while the hub blocks in `epoll_wait` (`Hub::around_wait`);
//! * around the system call of each cooperative I/O attempt ([`unlocked`]) of the read/write
//!   and recv/send families — where a network server spends most of its time (the other
//!   calls keep the lock: correct, only not parallel).
//!
//! So at most one hub runs user-space code at a time (as in CPython, greenshim's state is
//! never touched by two threads at once), and the kernel work of N hubs runs on N cores.
//! Under the lock a hub may touch another hub's structures directly: that hub is either
//! waiting in `epoll_wait` (its fd slots are not in use; the wait returns when it is kicked) or
//! inside a plain system call that touches none of them. A greenlet made runnable on a
//! sleeping hub kicks that hub's eventfd (`Hub::kick`).
//!
//! The fast paths that recognise "the hub thread" with one load of a global (`hook::entry`'s
//! cached thread pointer, `tls::RUNNING_TP`) are for one hub: with several, each thread finds
//! its hub through its own thread-local hub pointer and its syscall-dispatch selector through
//! its hub (`hook::catch`), so no global is written at every switch or lock hand-over (each
//! such write would bounce a cache line between the hubs' cores). The lock word has a cache
//! line of its own.
//!
//! # Signals
//! The other hubs' OS threads block every signal but SIGSYS (the dispatch trap) and glibc's
//! own SIGCANCEL and SIGSETXID (`setuid` waits for every thread glibc knows to answer); the main
//! thread's hub counts every greenlet's mask (`Hub::mask_hub`), so the kernel delivers a
//! process-directed signal there whenever any greenlet takes it, and greenshim routes it to
//! that greenlet on whichever hub it runs.
//!
//! # Not here
//! With one hub none of this runs: [`on`] is false and every path is what it was (one load of
//! a flag that never changes after start-up, where a path must branch at all).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

use gs::hub::{self, Hub};
use gs::sys;

static ON: AtomicBool = AtomicBool::new(false);
/// Hubs running (the main one included).
static COUNT: AtomicUsize = AtomicUsize::new(1);
/// Round-robin cursor of [`place`].
static NEXT: AtomicUsize = AtomicUsize::new(0);
/// Display numbers shared by all hubs (`gN` is unique in the process).
static SEQ: AtomicU64 = AtomicU64::new(0);
/// The lock: 0 free, 1 held, 2 held and someone may sleep on it (futex). Alone in its cache
/// line: it changes hands at every system call of a busy hub, and the flags above are read
/// by every hook.
#[repr(align(64))]
struct Padded(AtomicU32);
static LOCK: Padded = Padded(AtomicU32::new(0));
/// Hub threads that registered or gave up (`start` waits for all of them).
static STARTED: AtomicU32 = AtomicU32::new(0);

/// More than one hub?
#[inline(always)]
pub fn on() -> bool {
    ON.load(Relaxed)
}

/// Take the process-wide lock.
///
/// # Safety
/// Called on a hub thread that does not hold the lock.
#[inline]
pub unsafe fn lock() {
    if LOCK.0.compare_exchange(0, 1, Acquire, Relaxed).is_err() {
        lock_slow();
    }
}

#[cold]
fn lock_slow() {
    for _ in 0..200 {
        std::hint::spin_loop();
        if LOCK.0.load(Relaxed) == 0 && LOCK.0.compare_exchange(0, 1, Acquire, Relaxed).is_ok() {
            return;
        }
    }
    while LOCK.0.swap(2, Acquire) != 0 {
        // SAFETY: a futex wait on a static word.
        unsafe { sys::raw_syscall(libc::SYS_futex, [LOCK.0.as_ptr() as usize, (libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG) as usize, 2, 0, 0, 0]) };
    }
}

/// Let go of the lock.
///
/// # Safety
/// The caller holds it and touches no shared state until it takes it again.
#[inline]
pub unsafe fn unlock() {
    if LOCK.0.swap(0, Release) == 2 {
        sys::raw_syscall(libc::SYS_futex, [LOCK.0.as_ptr() as usize, (libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG) as usize, 1, 0, 0, 0]);
    }
}

/// Run `f` (a plain system call that touches nothing of greenshim's) without the lock when
/// there are several hubs, so that other hubs run meanwhile. With one hub: just `f()`.
///
/// # Safety
/// The caller holds the lock (it runs greenshim's code on a hub); `f` touches no greenshim
/// state.
#[inline(always)]
pub unsafe fn unlocked<R>(f: impl FnOnce() -> R) -> R {
    if !on() {
        return f();
    }
    unlock();
    let r = f();
    lock();
    r
}

/// Every registered hub (none with one hub).
pub fn hubs() -> impl Iterator<Item = *mut Hub> {
    let n = if on() { COUNT.load(Acquire) } else { 0 };
    hub::HUBS[..n].iter().map(|p| p.load(Acquire)).filter(|p| !p.is_null())
}

/// The hub a new thread created on hub `h` starts on: the next one round-robin.
#[inline]
pub fn place(h: *mut Hub) -> *mut Hub {
    if !on() {
        return h;
    }
    let n = COUNT.load(Relaxed);
    // A hub still starting (or that could not) is skipped: its turn goes to the next one.
    for _ in 0..n {
        let t = hub::HUBS[NEXT.fetch_add(1, Relaxed) % n].load(Acquire);
        if !t.is_null() {
            return t;
        }
    }
    h
}

/// `Hub::around_wait` of every hub: let go of the lock for the wait, take it back after.
unsafe fn around_wait(h: *mut Hub, before: bool) {
    if before {
        // A kick made while this hub was awake may have had its event taken by a poll that
        // did not block (timeout 0): with `kicked` still set, the next kick would write
        // nothing and this wait would never end. Consume it before saying "sleeping".
        consume_kick(h);
        (*h).sleeping.store(true, Relaxed);
        unlock();
    } else {
        lock();
        (*h).sleeping.store(false, Relaxed);
        consume_kick(h);
    }
}

/// Read the hub's kick eventfd back if it was written (under the lock).
#[inline]
unsafe fn consume_kick(h: *mut Hub) {
    if (*h).kicked.load(Relaxed) {
        let mut buf = 0u64;
        let _ = sys::raw_syscall(libc::SYS_read, [(*h).kick_fd as usize, &mut buf as *mut u64 as usize, 8, 0, 0, 0]);
        (*h).kicked.store(false, Release);
    }
}

/// `Hub::all_done`: main ended (`pthread_exit`) and no greenlet is left on any hub.
unsafe fn all_done(_h: *mut Hub) -> bool {
    let n = COUNT.load(Relaxed);
    let main = hub::HUBS[0].load(Acquire);
    if main.is_null() || (*(*main).main()).state != gs::hub::State::Dead || (*main).live() != 0 {
        return false;
    }
    // The other hubs' main greenlets are their schedulers, never ending.
    (1..n).all(|k| {
        let t = hub::HUBS[k].load(Acquire);
        t.is_null() || (*t).live() <= 1
    })
}

/// Give hub `h` (its thread's) what every hub needs with several: an index, the kick eventfd
/// in its epoll set, the wait callbacks, shared display numbers.
unsafe fn wire(h: *mut Hub, index: u32) -> Result<(), i32> {
    let fd = sys::raw_syscall(libc::SYS_eventfd2, [0, (libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) as usize, 0, 0, 0, 0]);
    if fd < 0 {
        return Err(-fd as i32);
    }
    let fd = gs::reactor::move_high(fd as i32)?;
    // Data u64::MAX: never an fd slot of the reactor, which ignores the event.
    let mut ev = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: u64::MAX };
    let r = sys::raw_syscall(libc::SYS_epoll_ctl, [(*h).reactor.epfd() as usize, libc::EPOLL_CTL_ADD as usize, fd as usize, &mut ev as *mut _ as usize, 0, 0]);
    if r < 0 {
        return Err(-r as i32);
    }
    (*h).index = index;
    (*h).kick_fd = fd;
    (*h).around_wait = Some(around_wait);
    (*h).all_done = Some(all_done);
    (*h).seq_source = Some(&SEQ);
    (*h).on_stall = None;
    Ok(())
}

/// Start `n` hubs in all (the constructor, on the main thread, whose hub `h0` exists and has
/// per-greenlet TLS). `Err(line)`: why not, for the user.
///
/// The constructor runs with the dynamic loader's lock held: a new hub thread asks the loader
/// nothing (it copies main's TLS set-up and syscall-dispatch range), so waiting for it here
/// cannot deadlock.
///
/// # Safety
/// Called once, from the constructor, before any greenlet exists.
pub unsafe fn start(h0: *mut Hub, n: u32) -> Result<(), String> {
    if (*h0).tls.is_none() {
        return Err(format!(
            "greenshim: GREENSHIM_HUBS={n} needs per-greenlet thread-local storage, which is off (GREENSHIM_TLS=shared, or this glibc lacks it); unset GREENSHIM_TLS or set GREENSHIM_HUBS=1"
        ));
    }
    SEQ.store(1, Relaxed); // main is g1
    crate::sync::sem::ensure_kick_fd(h0); // the signal safe point and its eventfd, on hub 0
    wire(h0, 0).map_err(|e| format!("greenshim: GREENSHIM_HUBS={n}: cannot create the hub's eventfd (errno {e})"))?;
    hub::HUBS[0].store(h0, Release);
    (*h0).masks_shared = true;
    COUNT.store(n as usize, Release);
    if let Some(t) = (*h0).tls.as_mut() {
        t.set_publish(false);
    }
    ON.store(true, Relaxed);
    crate::hook::catch::set_multi();
    crate::hook::entry::publish(std::ptr::null_mut());
    lock();
    for k in 1..n {
        let mut t: libc::pthread_t = 0;
        // The real pthread_create: a hub is an OS thread.
        let r = crate::thread::lifecycle::real_create(&mut t, hub_thread as extern "C" fn(*mut libc::c_void) -> *mut libc::c_void, k as usize as *mut libc::c_void);
        if r != 0 {
            return Err(format!("greenshim: GREENSHIM_HUBS={n}: cannot start hub thread {k} (errno {r})"));
        }
    }
    // Wait (without the lock, which each new hub takes to register) until every hub answered,
    // so that the program's first threads are spread too.
    unlock();
    loop {
        let s = STARTED.load(Acquire);
        if s >= n - 1 {
            break;
        }
        sys::raw_syscall(libc::SYS_futex, [STARTED.as_ptr() as usize, (libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG) as usize, s as usize, 0, 0, 0]);
    }
    lock();
    Ok(())
}

/// An extra hub's OS thread: block the signals, become a hub, register, then run greenlets for
/// ever (its main greenlet parks on nothing; the scheduler runs on its stack).
extern "C" fn hub_thread(arg: *mut libc::c_void) -> *mut libc::c_void {
    let k = arg as usize as u32;
    let h0 = hub::HUBS[0].load(Acquire);
    // SAFETY: h0 is the main hub, registered before this thread started; `h` is this thread's
    // new hub, registered (published to the others) only under the lock, once complete.
    unsafe {
        gs::sigmask::block_all_but_libc();
        let h = match hub::install((*h0).default_stack_size, (*h0).stacks.mode()) {
            Ok(h) => h,
            Err(e) => return hub_failed(k, "cannot create its epoll instance", e),
        };
        (*h).index = k;
        // Main's TLS set-up, for this thread: the constructor that waits for us holds the
        // dynamic loader's lock, so nothing here may ask the loader.
        match (*h0).tls.as_deref() {
            Some(t) => hub::enable_tls_like(h, t),
            None => return hub_failed(k, "the main hub has no per-greenlet TLS", 0),
        }
        if let Err(e) = wire(h, k) {
            return hub_failed(k, "cannot create its eventfd", e);
        }
        crate::hook::catch::enable_extra(k);
        lock();
        (*h).sig_deliver = (*h0).sig_deliver;
        (*h).slice_ns = (*h0).slice_ns;
        (*h).diag = (*h0).diag;
        (*h).mask_hub = h0;
        (*h).safe_point = (*h0).safe_point;
        hub::HUBS[k as usize].store(h, Release);
        crate::diag::live::register_hub(k, (*h).published);
        STARTED.fetch_add(1, Release);
        sys::raw_syscall(libc::SYS_futex, [STARTED.as_ptr() as usize, (libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG) as usize, 1, 0, 0, 0]);
        loop {
            // Parked on nothing, for ever: the scheduler runs the hub's greenlets meanwhile.
            hub::park(h, gs::hub::WaitOn::Nothing, None, false);
        }
    }
}

/// Say once that hub `k` could not start; the others go on without it.
#[cold]
fn hub_failed(k: u32, why: &str, errno: i32) -> *mut libc::c_void {
    let mut l = sys::LineBuf::new();
    l.str("greenshim: hub ").num(k as u64).str(" could not start: ").str(why);
    if errno != 0 {
        l.str(" (errno ").num(errno as u64).str(")");
    }
    l.str("; its share of the threads runs on the other hubs\n");
    sys::write_stderr(l.as_bytes());
    STARTED.fetch_add(1, Release);
    // SAFETY: a futex wake on a static word.
    unsafe { sys::raw_syscall(libc::SYS_futex, [STARTED.as_ptr() as usize, (libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG) as usize, 1, 0, 0, 0]) };
    std::ptr::null_mut()
}

/// In a fork child: only the forking thread exists; its hub goes on alone.
///
/// # Safety
/// The child, right after `fork`.
pub unsafe fn after_fork_child(h: *mut Hub) {
    if !on() {
        return;
    }
    ON.store(false, Relaxed);
    COUNT.store(1, Relaxed);
    LOCK.0.store(1, Relaxed); // held by this, the only thread, for good (ON is false now)
    if let Some(t) = (*h).tls.as_mut() {
        t.set_publish(true);
    }
    crate::hook::entry::publish(h);
    (*h).around_wait = None;
    (*h).all_done = None;
    (*h).sleeping.store(false, Relaxed);
    (*h).mask_hub = std::ptr::null_mut();
    (*h).masks_shared = false;
}
