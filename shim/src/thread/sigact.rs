//! The program's signal actions: `sigaction`, `signal`, `bsd_signal`, `sysv_signal`,
//! `siginterrupt`.
//!
//! # Why the shim keeps them
//! Natively the kernel picks the thread a signal goes to and runs the handler there. Under the
//! shim the kernel sees one thread, so for every signal the program handles, the kernel's action
//! is greenshim's dispatcher (`signal::on_signal`), which picks the greenlet and runs the
//! program's handler there, with that greenlet's mask (see `signal`). The program's actions live
//! in [`ACTIONS`]; `sigaction` reads and writes them exactly as the kernel would its own.
//!
//! Ignored and default actions go to the kernel unchanged: the kernel ignores, stops or kills
//! exactly as natively, since the OS thread blocks a signal only when every greenlet does.
//!
//! Not taken over: SIGKILL/SIGSTOP (the kernel refuses them), glibc's internal 32/33 (glibc
//! refuses them) and the shim's own dump signal. The fault signals SIGSEGV, SIGBUS, SIGILL,
//! SIGFPE, SIGTRAP and SIGSYS are dispatched like the others when they are sent (`kill`,
//! `raise`); when an instruction faults, the dispatcher runs the handler at once, where the
//! kernel would (the stack-overflow reporter's handler is one of them until the program sets
//! its own).
//!
//! The table is updated with every signal blocked on the OS thread, so the dispatcher never sees
//! half an action.

use std::cell::UnsafeCell;
use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, Ordering};

use gs::sigmask::bit;

mod real_fns {
    use super::*;
    real! {
        fn sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int;
    }
}

/// The program's actions, index = signal number. Valid where [`LOADED`] has the bit.
struct Table(UnsafeCell<[libc::sigaction; 65]>);
// SAFETY: written only with every signal blocked on the writing thread; the dispatcher reads a
// copy. Programs that change actions from several OS threads at once race as they would natively.
unsafe impl Sync for Table {}

static ACTIONS: Table = Table(UnsafeCell::new(unsafe { std::mem::zeroed() }));
/// Signals whose entry in [`ACTIONS`] has been read from the kernel or set by the program.
static LOADED: AtomicU64 = AtomicU64::new(0);
/// Signals whose kernel action is the dispatcher.
static DISPATCHED: AtomicU64 = AtomicU64::new(0);
/// Signals the shim leaves to the kernel (see the module docs), beyond the fault signals.
static RESERVED: AtomicU64 = AtomicU64::new(0);

const FAULTS: u64 = bit(libc::SIGSEGV) | bit(libc::SIGBUS) | bit(libc::SIGILL) | bit(libc::SIGFPE) | bit(libc::SIGTRAP) | bit(libc::SIGSYS);

/// Signals whose kernel action is greenshim's and stays so (SIGSYS while system calls are
/// trapped): the program's action is only recorded, and used by the dispatcher.
static KEPT: AtomicU64 = AtomicU64::new(0);

/// Keep `sig`'s kernel action greenshim's from now on (see [`KEPT`]); the program's action
/// starts as the default.
pub fn keep(sig: c_int) {
    // SAFETY: see `Table`; called at start-up.
    unsafe { (*ACTIONS.0.get())[sig as usize] = std::mem::zeroed() };
    LOADED.fetch_or(bit(sig), Ordering::Relaxed);
    KEPT.fetch_or(bit(sig), Ordering::Relaxed);
}

/// Leave `sig` to the kernel from now on (the shim's own handler, e.g. the dump signal).
pub fn reserve(sig: c_int) {
    RESERVED.fetch_or(bit(sig), Ordering::Relaxed);
}

/// Does the shim dispatch `sig` when the program handles it?
pub fn taken(sig: c_int) -> bool {
    (1..=64).contains(&sig)
        && !matches!(sig, libc::SIGKILL | libc::SIGSTOP | 32 | 33)
        && RESERVED.load(Ordering::Relaxed) & bit(sig) == 0
}

/// A synchronous fault signal (left to the kernel when it is a fault).
pub fn fault(sig: c_int) -> bool {
    (1..=64).contains(&sig) && FAULTS & bit(sig) != 0
}

/// The program's action for a taken signal (a copy).
pub fn get(sig: c_int) -> libc::sigaction {
    if LOADED.load(Ordering::Relaxed) & bit(sig) == 0 {
        let mut cur: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: querying into a valid out-pointer.
        unsafe { real_fns::sigaction(sig, std::ptr::null(), &mut cur) };
        return cur;
    }
    // SAFETY: see `Table`.
    unsafe { (*ACTIONS.0.get())[sig as usize] }
}

/// The dispatcher's own kernel action for a handled signal: every signal blocked while it
/// runs (it unblocks what it may before it calls the program's handler), SA_RESTART as the
/// program asked (so that a call the kernel interrupts on the OS thread restarts as natively).
unsafe fn dispatcher_action(flags: c_int) -> libc::sigaction {
    let mut k: libc::sigaction = std::mem::zeroed();
    k.sa_sigaction = crate::thread::signal::on_signal as *const () as usize;
    // What the kernel itself acts on passes through: SA_RESTART for calls it interrupts on the
    // OS thread, SIGCHLD's SA_NOCLDSTOP/SA_NOCLDWAIT (which change what the kernel sends and
    // reaps), SA_ONSTACK (the dispatcher, and a handler it runs at once, use the alternate
    // stack the program set).
    k.sa_flags = libc::SA_SIGINFO | (flags & (libc::SA_RESTART | libc::SA_NOCLDSTOP | libc::SA_NOCLDWAIT | libc::SA_ONSTACK));
    libc::sigfillset(&mut k.sa_mask);
    let never = gs::sigmask::never();
    for s in 1..=64 {
        if never & bit(s) != 0 {
            libc::sigdelset(&mut k.sa_mask, s);
        }
    }
    k
}

fn is_handler(h: usize) -> bool {
    h != libc::SIG_DFL && h != libc::SIG_IGN
}

/// `sigaction` for a taken signal.
unsafe fn set(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    let saved = gs::sigmask::block_all();
    let cur = get(sig);
    if !act.is_null() {
        let new = *act;
        let kernel = if is_handler(new.sa_sigaction) { dispatcher_action(new.sa_flags) } else { new };
        let kept = KEPT.load(Ordering::Relaxed) & bit(sig) != 0;
        if !kept && real_fns::sigaction(sig, &kernel, std::ptr::null_mut()) != 0 {
            let e = gs::sys::errno();
            gs::sigmask::set_real(saved);
            gs::sys::set_errno(e);
            return -1;
        }
        (*ACTIONS.0.get())[sig as usize] = new;
        LOADED.fetch_or(bit(sig), Ordering::Relaxed);
        if new.sa_sigaction == libc::SIG_IGN
            || (new.sa_sigaction == libc::SIG_DFL && matches!(sig, libc::SIGCHLD | libc::SIGCONT | libc::SIGURG | libc::SIGWINCH))
        {
            // Setting "ignore" discards the signal where it is pending, blocked or not.
            crate::thread::signal::discard(sig);
        }
        if is_handler(new.sa_sigaction) {
            DISPATCHED.fetch_or(bit(sig), Ordering::Relaxed);
            if !gs::overflow::is_reporter(new.sa_sigaction) {
                // The hub's safe point and wakeup fd cost every scheduling round a few loads:
                // only once the program handles a signal (not for greenshim's own reporter, a
                // fault handler that runs where the fault is).
                crate::thread::signal::prepare();
            }
        } else {
            DISPATCHED.fetch_and(!bit(sig), Ordering::Relaxed);
        }
    } else if LOADED.load(Ordering::Relaxed) & bit(sig) == 0 {
        (*ACTIONS.0.get())[sig as usize] = cur;
        LOADED.fetch_or(bit(sig), Ordering::Relaxed);
    }
    gs::sigmask::set_real(saved);
    if !old.is_null() {
        *old = cur;
    }
    0
}

/// SA_RESETHAND: the action becomes the default once a handler is entered.
pub unsafe fn reset_to_default(sig: c_int) {
    let saved = gs::sigmask::block_all();
    let mut dfl: libc::sigaction = std::mem::zeroed();
    dfl.sa_sigaction = libc::SIG_DFL;
    if KEPT.load(Ordering::Relaxed) & bit(sig) == 0 {
        real_fns::sigaction(sig, &dfl, std::ptr::null_mut());
    }
    (*ACTIONS.0.get())[sig as usize] = dfl;
    DISPATCHED.fetch_and(!bit(sig), Ordering::Relaxed);
    gs::sigmask::set_real(saved);
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    match crate::fd::files::traced_hub() {
        Some(h) => traced!(h, sigaction, sigaction_untraced(sig, act, old), |r, e| [
            Arg::Sig(sig as i64), Arg::SigAction(act), if r == 0 { Arg::SigAction(old) } else { Arg::Hex(old as u64) }
        ], Ret::Int(r as i64, e)),
        None => sigaction_untraced(sig, act, old),
    }
}

unsafe fn sigaction_untraced(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    // A vfork child shares our memory but not our actions: it must not touch the table.
    let in_vfork_child = crate::hook::entry::any_hub().is_some_and(|h| (*(*h).current()).hook_depth != 0);
    if !taken(sig) || in_vfork_child {
        return real_fns::sigaction(sig, act, old);
    }
    set(sig, act, old)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    sigaction(sig, act, old)
}

/// Signals `siginterrupt(sig, 1)` made interrupting for `signal`/`bsd_signal` (glibc's
/// `_sigintr`, which its own `signal` consults but we cannot see).
static INTERRUPTING: AtomicU64 = AtomicU64::new(0);

/// BSD semantics, as glibc's `signal`: the handler stays, the signal is blocked while it runs,
/// calls restart unless `siginterrupt` said otherwise.
unsafe fn bsd(sig: c_int, handler: usize) -> usize {
    if !(1..=64).contains(&sig) {
        gs::sys::set_errno(libc::EINVAL);
        return libc::SIG_ERR;
    }
    let mut act: libc::sigaction = std::mem::zeroed();
    act.sa_sigaction = handler;
    libc::sigemptyset(&mut act.sa_mask);
    libc::sigaddset(&mut act.sa_mask, sig);
    act.sa_flags = if INTERRUPTING.load(Ordering::Relaxed) & bit(sig) != 0 { 0 } else { libc::SA_RESTART };
    let mut old: libc::sigaction = std::mem::zeroed();
    if sigaction(sig, &act, &mut old) < 0 {
        return libc::SIG_ERR;
    }
    old.sa_sigaction
}

#[no_mangle]
pub unsafe extern "C-unwind" fn signal(sig: c_int, handler: usize) -> usize {
    bsd(sig, handler)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn bsd_signal(sig: c_int, handler: usize) -> usize {
    bsd(sig, handler)
}

/// System V semantics: the action resets to the default when the handler is entered, and the
/// signal is not blocked meanwhile; calls are not restarted.
#[no_mangle]
pub unsafe extern "C-unwind" fn sysv_signal(sig: c_int, handler: usize) -> usize {
    if !(1..=64).contains(&sig) {
        gs::sys::set_errno(libc::EINVAL);
        return libc::SIG_ERR;
    }
    let mut act: libc::sigaction = std::mem::zeroed();
    act.sa_sigaction = handler;
    act.sa_flags = libc::SA_RESETHAND | libc::SA_NODEFER;
    let mut old: libc::sigaction = std::mem::zeroed();
    if sigaction(sig, &act, &mut old) < 0 {
        return libc::SIG_ERR;
    }
    old.sa_sigaction
}

#[no_mangle]
pub unsafe extern "C-unwind" fn siginterrupt(sig: c_int, flag: c_int) -> c_int {
    if !(1..=64).contains(&sig) {
        gs::sys::set_errno(libc::EINVAL);
        return -1;
    }
    let mut act: libc::sigaction = std::mem::zeroed();
    if sigaction(sig, std::ptr::null(), &mut act) < 0 {
        return -1;
    }
    if flag != 0 {
        INTERRUPTING.fetch_or(bit(sig), Ordering::Relaxed);
        act.sa_flags &= !libc::SA_RESTART;
    } else {
        INTERRUPTING.fetch_and(!bit(sig), Ordering::Relaxed);
        act.sa_flags |= libc::SA_RESTART;
    }
    sigaction(sig, &act, std::ptr::null_mut())
}

/// Would a delivery of `sig` now run a handler without SA_RESTART (so that an interrupted call
/// fails with EINTR)?
pub fn interrupts(sig: c_int) -> bool {
    let a = get(sig);
    is_handler(a.sa_sigaction) && a.sa_flags & libc::SA_RESTART == 0
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sigignore(sig: c_int) -> c_int {
    let mut act: libc::sigaction = std::mem::zeroed();
    act.sa_sigaction = libc::SIG_IGN;
    sigaction(sig, &act, std::ptr::null_mut())
}

/// glibc's `SIG_HOLD`.
const SIG_HOLD: usize = 2;

/// System V `sigset`: `SIG_HOLD` blocks the signal and keeps its action; anything else becomes
/// the action and unblocks it. Returns `SIG_HOLD` if it was blocked, else the old action.
#[no_mangle]
pub unsafe extern "C-unwind" fn sigset(sig: c_int, disp: usize) -> usize {
    if !(1..=64).contains(&sig) {
        gs::sys::set_errno(libc::EINVAL);
        return libc::SIG_ERR;
    }
    let mut old: libc::sigaction = std::mem::zeroed();
    if disp == SIG_HOLD {
        if sigaction(sig, std::ptr::null(), &mut old) < 0 {
            return libc::SIG_ERR;
        }
    } else {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = disp;
        libc::sigemptyset(&mut act.sa_mask);
        if sigaction(sig, &act, &mut old) < 0 {
            return libc::SIG_ERR;
        }
    }
    let was_blocked = crate::thread::signal::current_mask() & bit(sig) != 0;
    let r = if disp == SIG_HOLD { crate::thread::signal::sighold(sig) } else { crate::thread::signal::sigrelse(sig) };
    if r < 0 {
        return libc::SIG_ERR;
    }
    if was_blocked {
        SIG_HOLD
    } else {
        old.sa_sigaction
    }
}

/// What `signal` is in a strict-standard build (glibc's <signal.h> redirects it here).
#[no_mangle]
pub unsafe extern "C-unwind" fn __sysv_signal(sig: c_int, handler: usize) -> usize {
    sysv_signal(sig, handler)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn ssignal(sig: c_int, handler: usize) -> usize {
    bsd(sig, handler)
}

/// `gsignal` is glibc's other name for `raise`.
#[no_mangle]
pub unsafe extern "C-unwind" fn gsignal(sig: c_int) -> c_int {
    crate::thread::signal::raise(sig)
}

mod real_alt {
    use super::*;
    real! {
        fn sigaltstack(ss: *const libc::stack_t, old: *mut libc::stack_t) -> c_int;
    }
}

/// The alternate signal stack as the program sees it: greenshim's own (for the stack-overflow
/// report) is hidden, as if none were set; a stack the program sets replaces it, and when the
/// program disables its own, greenshim's comes back, hidden again.
#[no_mangle]
pub unsafe extern "C-unwind" fn sigaltstack(ss: *const libc::stack_t, old: *mut libc::stack_t) -> c_int {
    let own = gs::overflow::own_alt_stack();
    let mut cur: libc::stack_t = std::mem::zeroed();
    if real_alt::sigaltstack(std::ptr::null(), &mut cur) != 0 {
        return real_alt::sigaltstack(ss, old);
    }
    let ours = own.is_some_and(|(p, _)| cur.ss_sp as usize == p) && cur.ss_flags & libc::SS_DISABLE == 0;
    if !ss.is_null() {
        // Copied fault-safely: one the kernel cannot read is its EFAULT, from the real call.
        let Ok(new) = crate::hook::umem::read(ss) else { return real_alt::sigaltstack(ss, old) };
        // The kernel's rule: the mode (flags without SS_AUTODISARM) is 0, SS_ONSTACK or
        // SS_DISABLE; anything else is EINVAL, which the real call reports.
        let disable = new.ss_flags & !(1 << 31) == libc::SS_DISABLE;
        let r = match own {
            Some((p, size)) if disable && (ours || cur.ss_flags & libc::SS_ONSTACK == 0) => {
                // Put ours back instead of none.
                let mine = libc::stack_t { ss_sp: p as *mut libc::c_void, ss_flags: 0, ss_size: size };
                real_alt::sigaltstack(&mine, std::ptr::null_mut())
            }
            _ => real_alt::sigaltstack(ss, std::ptr::null_mut()),
        };
        if r != 0 {
            return r;
        }
    }
    if !old.is_null() {
        let shown = if ours && cur.ss_flags & libc::SS_ONSTACK == 0 {
            libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 }
        } else {
            cur
        };
        // As the kernel: the new stack is set even when the old one cannot be stored.
        if crate::hook::umem::write(old, shown).is_err() {
            gs::sys::set_errno(libc::EFAULT);
            return -1;
        }
    }
    0
}

/// Has the program an alternate stack of its own (for SA_ONSTACK handlers)?
pub fn program_alt_stack() -> bool {
    let mut cur: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: querying into a valid out-pointer.
    if unsafe { real_alt::sigaltstack(std::ptr::null(), &mut cur) } != 0 || cur.ss_flags & libc::SS_DISABLE != 0 {
        return false;
    }
    gs::overflow::own_alt_stack().is_none_or(|(p, _)| cur.ss_sp as usize != p)
}
