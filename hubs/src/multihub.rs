//! Multi-hub mode (issue 13, `GREENSHIM_HUBS=N`): the one process-wide flag, the registry of
//! hubs, placement of new greenlets, and the extra hub OS threads.
//!
//! With one hub (the default, gevent's model) none of this runs: [`multi`] is false and every
//! single-hub path is what it was. The flag is set once, at init, before any second hub
//! exists ([`set_hubs`]), and never changes afterwards, so code that branches on it always
//! takes the same branch.
//!
//! Each hub is an OS thread with its own run queue, timers, reactor and per-greenlet TLS; a
//! greenlet stays on the hub that started it (its TLS and glibc's per-thread state stay
//! consistent). Hubs reach each other only through their [`Remote`] queues.
//!
//! Status: infrastructure for a lock-free multi-hub mode. The preload library's current one
//! (`shim/src/multi.rs`) uses a process-wide lock instead (README, "More than one hub").

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use gs::hub::{self, Hub, SpawnOpts};
use crate::remote::{self, Remote};
use gs::stack::GuardMode;

/// Hubs registered at most (`GREENSHIM_HUBS` is at most this).
pub const MAX: usize = gs::settings::HUBS_MAX as usize;

static HUBS: AtomicU32 = AtomicU32::new(1);
static REGISTRY: [AtomicPtr<Remote>; MAX] = [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX];
/// The hub of each registered remote queue (same index), for [`remote_of`].
static HUB_OF: [AtomicPtr<Hub>; MAX] = [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX];
static REGISTERED: AtomicUsize = AtomicUsize::new(0);
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Set the number of hubs, once, before a second hub exists (init). `n` is 1..=[`MAX`].
pub fn set_hubs(n: u32) {
    assert!((1..=MAX as u32).contains(&n), "hubs out of range");
    HUBS.store(n, Ordering::Relaxed);
}

/// True with more than one hub: the paths that must be safe across OS threads take their
/// multi-hub branch. One relaxed load of a value written before any second hub started.
#[inline(always)]
pub fn multi() -> bool {
    HUBS.load(Ordering::Relaxed) > 1
}

/// Number of hubs requested.
pub fn hubs() -> usize {
    HUBS.load(Ordering::Relaxed) as usize
}

/// Make the calling thread's hub `h` reachable from other hubs: start its remote queue and
/// pump, and register it. Returns its index in the registry.
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn register(h: *mut Hub) -> Result<(usize, &'static Remote), i32> {
    let r = remote::start_pump(h)?;
    let i = REGISTERED.fetch_add(1, Ordering::AcqRel);
    if i >= MAX {
        REGISTERED.fetch_sub(1, Ordering::AcqRel);
        return Err(libc::EAGAIN);
    }
    HUB_OF[i].store(h, Ordering::Relaxed);
    REGISTRY[i].store(r as *const Remote as *mut Remote, Ordering::Release);
    Ok((i, r))
}

/// The remote queue of hub `h`, if it is registered (a scan of at most [`MAX`] entries: for
/// the multi-hub paths only).
pub fn remote_of(h: *mut Hub) -> Option<&'static Remote> {
    (0..registered()).find(|&i| HUB_OF[i].load(Ordering::Relaxed) == h).and_then(hub)
}

/// The remote queue of registered hub `i`, if it is registered (and published) yet.
pub fn hub(i: usize) -> Option<&'static Remote> {
    let p = REGISTRY.get(i)?.load(Ordering::Acquire);
    // SAFETY: registered remotes are leaked, never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Hubs registered so far.
pub fn registered() -> usize {
    REGISTERED.load(Ordering::Acquire).min(MAX)
}

/// Where the next new thread goes: round-robin over the registered hubs (a greenlet stays on
/// its hub afterwards). `None` until a hub is registered.
pub fn place() -> Option<(usize, &'static Remote)> {
    let n = registered();
    if n == 0 {
        return None;
    }
    let i = NEXT.fetch_add(1, Ordering::Relaxed) % n;
    hub(i).map(|r| (i, r))
}

/// Start an extra hub on a new OS thread: it installs its hub, runs `setup` on it, registers it
/// and then its main greenlet only schedules (parks forever; the scheduler loop runs on its
/// stack). Returns once the hub is registered: its index and remote queue.
///
/// The OS thread is made with the real `pthread_create` of the Rust runtime: in the preload
/// library, call it at a raised hook depth so that it is not turned into a greenlet.
pub fn start_hub_thread(
    stack_size: usize,
    mode: GuardMode,
    setup: fn(*mut Hub),
) -> Result<(usize, &'static Remote), i32> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("greenshim-hub".into())
        .spawn(move || {
            let h = match hub::install(stack_size, mode) {
                Ok(h) => h,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            setup(h);
            // SAFETY: h is this thread's hub.
            let reg = unsafe { register(h) };
            let ok = reg.is_ok();
            let _ = tx.send(reg);
            if ok {
                loop {
                    // SAFETY: h is this thread's hub; nobody ever wakes its main greenlet, so
                    // the scheduler loop runs on this stack for the rest of the process.
                    unsafe { hub::park(h, gs::greenlet::WaitOn::Nothing, None, false) };
                }
            }
        })
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EAGAIN))?;
    rx.recv().unwrap_or(Err(libc::EAGAIN))
}

/// Spawn `entry` as a greenlet on registered hub `r` (from any thread); `done` receives its id
/// (or the errno) on the target hub's thread.
pub fn spawn_on(
    r: &'static Remote,
    entry: Box<dyn FnOnce() -> usize + Send>,
    opts: SpawnOpts,
    done: impl FnOnce(Result<u64, i32>) + Send + 'static,
) {
    r.run(move |h| {
        // SAFETY: Msg::Run closures run on the target hub's thread, with its hub.
        done(unsafe { hub::spawn(h, entry, opts) })
    });
}
