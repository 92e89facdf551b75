//! How an export decides between the hub and the real function.
//!
//! [`hub`] answers `Some(hub)` only when the call comes from a greenlet's own code on a hub
//! thread: not on another OS thread, not before our constructor installed the hub, and not from
//! inside the shim itself (a greenlet whose `hook_depth` is raised). Rust's std inside this
//! library resolves `write`, `nanosleep`, ... to our own exports; the depth check turns such
//! nested calls into plain real calls instead of recursion. The depth lives in the greenlet, so
//! a greenlet parked inside a hook does not disable the hooks for the one that runs next.
//!
//! Recognising the hub thread must cost less than the cheapest hooked call (an uncontended
//! mutex): instead of a `__tls_get_addr` call per hook, the main thread's thread pointer
//! (`%fs:0`) and its hub are cached in two globals, and a hook compares one register load.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use gs::hub::Hub;

/// The hub to park on, or `None`: behave natively.
#[inline(always)]
pub fn hub() -> Option<*mut Hub> {
    let h = any_hub()?;
    // SAFETY: a non-null hub pointer is this thread's hub, and its current greenlet is live.
    if unsafe { (*(*h).current()).hook_depth } != 0 {
        return None;
    }
    Some(h)
}

/// Thread pointer (`%fs:0`, the TCB's self pointer) of the process's main OS thread once it has
/// a hub, and that hub: lets the fast paths recognise the hub thread with one load instead of a
/// `__tls_get_addr` call (which alone would cost more than an uncontended native lock).
static HUB_TP: AtomicUsize = AtomicUsize::new(0);
static HUB_PTR: AtomicPtr<Hub> = AtomicPtr::new(std::ptr::null_mut());

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: on x86_64 Linux %fs:0 holds the thread control block's own address.
    unsafe { std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, readonly, preserves_flags, pure)) };
    tp
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn thread_pointer() -> usize {
    usize::MAX // never cached: always the thread-local lookup
}

/// This OS thread's hub, whatever the hook depth (calls that name a greenlet or a
/// synchronisation object must be recognised even from inside the shim).
#[inline(always)]
pub fn any_hub() -> Option<*mut Hub> {
    let tp = thread_pointer();
    // With per-greenlet TLS every greenlet has a thread pointer of its own; the hub publishes
    // the one that is live on its thread.
    if tp == HUB_TP.load(Ordering::Relaxed) || tp == gs::tls::RUNNING_TP.load(Ordering::Relaxed) {
        let h = HUB_PTR.load(Ordering::Relaxed);
        if !h.is_null() {
            return Some(h);
        }
    }
    any_hub_slow(tp)
}

#[cold]
#[inline(never)]
fn any_hub_slow(tp: usize) -> Option<*mut Hub> {
    let h = gs::hub::current_hub();
    if h.is_null() {
        return None;
    }
    if crate::multi::on() {
        // Several hubs: no cache (see `publish`); each thread's own pointer is the answer.
        return Some(h);
    }
    // Cache only for the main OS thread (the shim's hub thread), which lives as long as the
    // process, so its thread pointer is never reused by another thread. A fork child inherits
    // the thread pointer and the hub at the same addresses.
    // SAFETY: plain system calls.
    if tp != usize::MAX && unsafe { gs::sys::raw_syscall(libc::SYS_gettid, [0; 6]) == libc::getpid() as isize } {
        HUB_PTR.store(h, Ordering::Relaxed);
        if gs::tls::RUNNING_TP.load(Ordering::Relaxed) == 0 {
            HUB_TP.store(tp, Ordering::Relaxed);
        }
    }
    Some(h)
}

/// The fast paths name hub `h`, whose thread is the caller (one hub again: a fork child of a
/// multi-hub process), or nothing (`h` null: several hubs, where each thread finds its own
/// through its thread-local hub pointer instead of globals written by every hub).
#[inline]
pub fn publish(h: *mut Hub) {
    HUB_TP.store(0, Ordering::Relaxed);
    if h.is_null() {
        gs::tls::RUNNING_TP.store(0, Ordering::Relaxed);
    } else {
        HUB_PTR.store(h, Ordering::Relaxed);
        gs::tls::RUNNING_TP.store(thread_pointer(), Ordering::Relaxed);
    }
}

/// Is the caller on the process hub's OS thread (any greenlet, main included)? One or two loads.
#[inline(always)]
pub fn on_hub_thread() -> bool {
    let tp = thread_pointer();
    if (tp == HUB_TP.load(Ordering::Relaxed) || tp == gs::tls::RUNNING_TP.load(Ordering::Relaxed)) && !HUB_PTR.load(Ordering::Relaxed).is_null() {
        return true;
    }
    crate::multi::on() && on_hub_thread_multi()
}

/// [`on_hub_thread`] with several hubs: any hub's thread (kept out of line: the callers are
/// hot paths of the one-hub case).
#[cold]
#[inline(never)]
fn on_hub_thread_multi() -> bool {
    !gs::hub::current_hub().is_null()
}

/// The caller's errno, saved when a hook starts, and the greenlet whose hook depth the hook
/// raised. Every export that reaches the hub goes through [`hook!`], which builds one.
pub struct Boundary {
    h: *mut Hub,
    g: *mut gs::hub::Greenlet,
    errno: i32,
    /// The syscall-dispatch selector to restore (`hook::catch`).
    sel: u8,
}

impl Boundary {
    /// Enter a hook on hub `h`: save errno and raise the running greenlet's hook depth for the
    /// whole hook, so that anything the hook reaches — Rust's std calling our `write`, a signal
    /// handler that runs while the hook is halfway through the fd table or a wait queue — goes
    /// straight to libc instead of re-entering the hub.
    ///
    /// # Safety
    /// `h` is this thread's hub.
    #[inline(always)]
    pub unsafe fn enter(h: *mut Hub) -> Self {
        let sel = crate::hook::catch::enter_hub(h);
        let g = (*h).current();
        (*g).hook_depth += 1;
        Boundary { h, g, errno: gs::sys::errno(), sel }
    }

    /// [`Boundary::enter`] for interposed call number `call` (+1), published as the greenlet's
    /// last call for the live view (one relaxed store).
    ///
    /// # Safety
    /// `h` is this thread's hub.
    #[inline(always)]
    pub unsafe fn enter_call(h: *mut Hub, call: u32) -> Self {
        let b = Self::enter(h);
        (*b.g).live.call.store(call, std::sync::atomic::Ordering::Relaxed);
        b
    }

    /// Leave the hook: lower the depth, run the signals that are due for the greenlet, yield if
    /// it used up its time slice, and, when
    /// the call succeeded (`ok`), give the caller back
    /// the errno it had (natively a successful call never touches errno; our attempts may have
    /// set EAGAIN, EINPROGRESS, ...).
    ///
    /// # Safety
    /// Called once, by the greenlet that entered.
    #[inline(always)]
    pub unsafe fn leave(self, ok: bool) {
        (*self.g).hook_depth -= 1;
        if (*self.g).hook_depth == 0 {
            if (*self.g).sig_attention && (*self.g).sig_context == 0 {
                // Signals for this greenlet run on its way back to the program, as natively at
                // the return of a system call.
                crate::thread::signal::at_hook_exit(self.h);
            }
            if (*self.h).fair_tick() {
                // It kept calling without parking for a whole time slice: the others run.
                gs::hub::fair_yield(self.h, true);
            }
        }
        if ok {
            gs::sys::set_errno(self.errno);
        }
        crate::hook::catch::leave_hub(self.h, self.sel);
    }
}

/// Success of a call with the libc convention (a count or 0, or -1 with errno).
#[inline(always)]
pub fn nonneg<T: PartialOrd + Default>(r: T) -> bool {
    r >= T::default()
}

/// Calls that report failure in their return value and never set errno (the pthread
/// convention): the caller's errno is always restored.
#[inline(always)]
pub fn always<T>(_: T) -> bool {
    true
}
