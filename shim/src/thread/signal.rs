//! Signals per greenlet: each greenlet has its own mask and pending set, a thread-directed
//! signal runs its handler in the greenlet it was sent to, a process-directed one in a greenlet
//! that accepts it, and a handler may block like any other code.
//!
//! # The model
//! * **Masks.** `pthread_sigmask`/`sigprocmask` change the calling greenlet's mask only; a new
//!   greenlet starts with its creator's mask and nothing pending. The OS thread blocks a signal
//!   only while every greenlet blocks it ([`gs::sigmask`]), so the kernel keeps exactly the
//!   signals no thread would take pending, and delivers the others.
//! * **Dispatch.** For every signal the program handles, the kernel's handler is [`on_signal`]
//!   (see `sigact`). It runs the program's handler at once when the signal can be taken by the
//!   running greenlet right where it is: in the program's own code (not inside greenshim), with
//!   the signal unblocked in its mask. Otherwise it records the signal in the [`Inbox`] (a
//!   fixed ring: nothing allocates in a signal handler) and wakes the hub; the signal is routed
//!   at the next safe point — when a hook returns to the program, or in the scheduler.
//! * **Routing.** A thread-directed signal (`pthread_kill`, `pthread_sigqueue`, `raise`, a
//!   `tgkill` the program or glibc makes on the OS thread) is queued on its greenlet. A
//!   process-directed one goes to a greenlet that does not block it or waits for it in
//!   `sigwait` — the running one, else main, else the first in creation order — or stays
//!   process-pending if none does.
//! * **Delivery.** A greenlet runs its pending, unblocked signals on its own stack: right away
//!   if it is the sender, when its hook returns to the program, and when it is parked: an
//!   interruptible park (`read`, `nanosleep`, `sem_wait`, ...) ends with EINTR or restarts
//!   according to the handler's SA_RESTART, as signal(7) lists; any other park (a mutex, a join)
//!   is resumed to run the handlers and then goes on, as a native futex wait does. The handler
//!   runs with the greenlet's mask plus its `sa_mask` (and the signal itself unless
//!   SA_NODEFER); SA_RESETHAND resets the action. It may park, call `pthread_exit` or
//!   `siglongjmp`; the other greenlets run meanwhile.
//! * A handler whose signal is ignored or left at its default when it is delivered does what the
//!   kernel would: nothing, or the default action, performed by the kernel on the OS thread.

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use gs::hub::{Greenlet, Hub, State};
use gs::sigmask::{bit, UNBLOCKABLE};
use libc::{pthread_t, siginfo_t, sigset_t};

use crate::hook::entry::any_hub;
use crate::thread::lifecycle::{target, Target};
use crate::thread::sigact;

mod real_fns {
    use super::*;
    real! {
    fn pthread_kill(t: pthread_t, sig: c_int) -> c_int;
    fn pthread_sigqueue(t: pthread_t, sig: c_int, val: libc::sigval) -> c_int;
    fn pthread_sigmask(how: c_int, set: *const sigset_t, old: *mut sigset_t) -> c_int;
    fn sigprocmask(how: c_int, set: *const sigset_t, old: *mut sigset_t) -> c_int;
    fn sigpending(set: *mut sigset_t) -> c_int;
    fn raise(sig: c_int) -> c_int;
    }
}

// ---------------------------------------------------------------------------------------------
// siginfo
// ---------------------------------------------------------------------------------------------

/// The `kill`/`rt` view of x86_64's `siginfo_t` (the libc crate hides the union).
#[repr(C)]
struct KillInfo {
    signo: c_int,
    errno: c_int,
    code: c_int,
    _pad: c_int,
    pid: libc::pid_t,
    uid: libc::uid_t,
    value: usize,
}

fn getpid() -> libc::pid_t {
    syscall!(SYS_getpid).unwrap_or(0) as libc::pid_t
}

/// The info the kernel gives a signal sent by this process with `code` (SI_TKILL, SI_QUEUE).
pub fn info_for(sig: c_int, code: c_int, value: usize) -> siginfo_t {
    // SAFETY: siginfo_t is plain data; KillInfo is a prefix of its layout.
    unsafe {
        let mut i: siginfo_t = std::mem::zeroed();
        let k = &mut i as *mut siginfo_t as *mut KillInfo;
        (*k).signo = sig;
        (*k).code = code;
        (*k).pid = getpid();
        (*k).uid = libc::getuid();
        (*k).value = value;
        i
    }
}

fn info_pid(i: &siginfo_t) -> libc::pid_t {
    // SAFETY: as in info_for.
    unsafe { (*(i as *const siginfo_t as *const KillInfo)).pid }
}

/// The first 64 signals of a program's sigset (the kernel's size of it).
unsafe fn read_set(s: *const sigset_t) -> u64 {
    *(s as *const u64)
}

/// Write a mask as the kernel does: its 8 bytes only.
unsafe fn write_set(s: *mut sigset_t, m: u64) {
    *(s as *mut u64) = m;
}

// ---------------------------------------------------------------------------------------------
// The inbox: signals the dispatcher could not deliver where it ran
// ---------------------------------------------------------------------------------------------

const RING: usize = 128;

/// A single-producer single-consumer ring: the dispatcher (with every signal blocked, so never
/// nested) pushes, the hub thread pops.
struct Inbox {
    slots: UnsafeCell<[(siginfo_t, u64); RING]>,
    head: AtomicUsize,
    tail: AtomicUsize,
}
// SAFETY: slot i is written only before `head` passes it and read only before `tail` passes it.
unsafe impl Sync for Inbox {}

static INBOX: Inbox = Inbox {
    // SAFETY: zeroed siginfo_t and u64 are valid.
    slots: UnsafeCell::new(unsafe { std::mem::zeroed() }),
    head: AtomicUsize::new(0),
    tail: AtomicUsize::new(0),
};
/// The inbox may hold something: the one check a hook pays on its way out.
static ARRIVED: AtomicBool = AtomicBool::new(false);

/// Record `info` for greenlet `target` (0: process-directed). Async-signal-safe. A full ring
/// drops the signal, as the kernel does once its queue limit is reached.
fn push(info: &siginfo_t, target: u64) {
    let head = INBOX.head.load(Ordering::Relaxed);
    if head.wrapping_sub(INBOX.tail.load(Ordering::Acquire)) < RING {
        // SAFETY: slot `head` is not readable by the consumer until head moves past it.
        unsafe { (*INBOX.slots.get())[head % RING] = (*info, target) };
        INBOX.head.store(head.wrapping_add(1), Ordering::Release);
    }
    ARRIVED.store(true, Ordering::Release);
    crate::sync::sem::kick();
}

fn pop() -> Option<(siginfo_t, u64)> {
    let tail = INBOX.tail.load(Ordering::Relaxed);
    if tail == INBOX.head.load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: the producer finished slot `tail` before publishing head past it.
    let v = unsafe { (*INBOX.slots.get())[tail % RING] };
    INBOX.tail.store(tail.wrapping_add(1), Ordering::Release);
    Some(v)
}

/// Anything for [`at_hook_exit`]?
#[inline(always)]
pub fn arrived() -> bool {
    ARRIVED.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------
// Process-pending signals (no greenlet accepted them when they were routed)
// ---------------------------------------------------------------------------------------------

struct ProcPending(UnsafeCell<Vec<siginfo_t>>);
// SAFETY: used only on the hub thread, outside signal handlers.
unsafe impl Sync for ProcPending {}
static PROC: ProcPending = ProcPending(UnsafeCell::new(Vec::new()));

fn signo(i: &siginfo_t) -> c_int {
    i.si_signo
}

/// Standard signals merge while pending; real-time ones (32 and up) queue.
fn merges(sig: c_int) -> bool {
    sig < 32
}

/// Process-pending signals as a mask.
pub fn proc_pending() -> u64 {
    // SAFETY: hub thread only.
    unsafe { (*PROC.0.get()).iter().fold(0, |m, i| m | bit(signo(i))) }
}

/// Take a process-pending `sig`.
pub fn take_proc(sig: c_int) -> Option<siginfo_t> {
    // SAFETY: hub thread only.
    let v = unsafe { &mut *PROC.0.get() };
    let k = v.iter().position(|i| signo(i) == sig)?;
    Some(v.remove(k))
}

// ---------------------------------------------------------------------------------------------
// Per-greenlet pending signals
// ---------------------------------------------------------------------------------------------

/// Which pending set a queued info belongs to, kept in the padding word after `si_code` of our
/// own copy (as the kernel, a standard signal can be pending once for the thread and once for
/// the process; the thread's goes first).
unsafe fn class(i: &siginfo_t) -> c_int {
    (*(i as *const siginfo_t as *const KillInfo))._pad
}

unsafe fn set_class(i: &mut siginfo_t, shared: bool) {
    (*(i as *mut siginfo_t as *mut KillInfo))._pad = shared as c_int;
}

/// Queue `info` on `g`, as directed at it (`shared` false) or routed to it from the process's
/// set. A standard signal already pending in the same set merges.
unsafe fn queue_on(g: *mut Greenlet, mut info: siginfo_t, shared: bool) {
    let sig = signo(&info);
    if merges(sig) && (*g).siginfo.iter().any(|i| signo(i) == sig && class(i) == shared as c_int) {
        return;
    }
    set_class(&mut info, shared);
    (*g).siginfo.push(info);
    (*g).sigpending |= bit(sig);
}

/// Take `g`'s pending `sig`: the oldest directed at it, else the oldest routed to it.
pub unsafe fn take_from(g: *mut Greenlet, sig: c_int) -> Option<siginfo_t> {
    let v = &mut (*g).siginfo;
    let k = v.iter().position(|i| signo(i) == sig && class(i) == 0).or_else(|| v.iter().position(|i| signo(i) == sig))?;
    let mut info = v.remove(k);
    if !v.iter().any(|i| signo(i) == sig) {
        (*g).sigpending &= !bit(sig);
    }
    set_class(&mut info, false);
    Some(info)
}

/// SIGCHLD, SIGCONT, SIGURG and SIGWINCH are ignored by default.
fn default_ignores(sig: c_int) -> bool {
    matches!(sig, libc::SIGCHLD | libc::SIGCONT | libc::SIGURG | libc::SIGWINCH)
}

/// Would the kernel drop `sig` at once for a thread that does not block it?
fn ignored(sig: c_int) -> bool {
    let a = sigact::get(sig);
    a.sa_sigaction == libc::SIG_IGN || (a.sa_sigaction == libc::SIG_DFL && default_ignores(sig))
}

/// Does `g` take `sig` now (unblocked, or waited for in `sigwait`)?
unsafe fn accepts(g: *mut Greenlet, sig: c_int) -> bool {
    (*g).state != State::Dead && ((*g).sigmask & bit(sig) == 0 || (*g).sigwaiting & bit(sig) != 0)
}

/// A signal for greenlet `g`. Hub thread, outside signal handlers. The running greenlet
/// delivers at its caller's next step; any other is woken if the signal is for it now.
unsafe fn send_to(h: *mut Hub, g: *mut Greenlet, info: siginfo_t, shared: bool) {
    let sig = signo(&info);
    if (*g).state == State::Dead {
        return;
    }
    if (*g).sigmask & bit(sig) == 0 && (*g).sigwaiting & bit(sig) == 0 && ignored(sig) {
        return; // discarded when generated, as the kernel does for an unblocked ignored signal
    }
    queue_on(g, info, shared);
    if accepts(g, sig) {
        (*g).sig_attention = true;
        if (*g).state != State::Running {
            (*gs::hub::route(h, (*g).id)).signal_wake(g); // its own hub (several hubs)
        }
    }
}

/// The hubs other than `h` (none with one hub).
fn other_hubs(h: *mut Hub) -> impl Iterator<Item = *mut Hub> {
    let n = if crate::multi::on() { gs::hub::HUBS.len() } else { 0 };
    gs::hub::HUBS[..n].iter().map(|p| p.load(Ordering::Acquire)).take_while(|p| !p.is_null()).filter(move |&p| p != h)
}

/// Route a process-directed signal to a greenlet that accepts it.
unsafe fn route(h: *mut Hub, info: siginfo_t) {
    let sig = signo(&info);
    let cur = (*h).current();
    let main = (*h).main();
    let target = if (*cur).state == State::Running && accepts(cur, sig) {
        Some(cur)
    } else if accepts(main, sig) {
        Some(main)
    } else {
        (*h).greenlets().find(|&g| accepts(g, sig)).or_else(|| other_hubs(h).find_map(|o| (*o).greenlets().find(|&g| accepts(g, sig))))
    };
    match target {
        Some(g) => send_to(h, g, info, true),
        None if ignored(sig) => {}
        None => {
            let v = &mut *PROC.0.get();
            if !(merges(sig) && v.iter().any(|i| signo(i) == sig)) {
                v.push(info);
            }
        }
    }
}

/// The action of `sig` became "ignore": like the kernel, drop it wherever it is pending (every
/// greenlet's set, the process's). Hub thread only.
pub unsafe fn discard(sig: c_int) {
    let Some(h) = any_hub() else { return };
    drain(h);
    for o in std::iter::once(h).chain(other_hubs(h)) {
        for g in (*o).greenlets() {
            while take_from(g, sig).is_some() {}
        }
    }
    while take_proc(sig).is_some() {}
}

/// Route everything in the inbox. Hub thread, outside signal handlers.
#[inline]
pub unsafe fn drain(h: *mut Hub) {
    // A plain load first: this runs at every scheduling round, and a swap is a locked
    // instruction.
    if !ARRIVED.load(Ordering::Relaxed) || !ARRIVED.swap(false, Ordering::AcqRel) {
        return;
    }
    drain_slow(h);
}

#[cold]
#[inline(never)]
unsafe fn drain_slow(h: *mut Hub) {
    while let Some((info, target)) = pop() {
        match (*gs::hub::route(h, target)).lookup(target) {
            Some(g) if target != 0 && (*g).state != State::Dead => send_to(h, g, info, false),
            _ => route(h, info),
        }
    }
}

/// Give greenlet `g` the process-pending signals it now accepts (it unblocked them, or waits
/// for them).
unsafe fn adopt_proc(h: *mut Hub, g: *mut Greenlet) {
    let v = &mut *PROC.0.get();
    if v.is_empty() {
        return;
    }
    let mut k = 0;
    while k < v.len() {
        if accepts(g, signo(&v[k])) {
            let info = v.remove(k);
            send_to(h, g, info, true);
        } else {
            k += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------------------------

/// Run the running greenlet's pending, unblocked signals (the hub's `sig_deliver`).
pub unsafe fn deliver(h: *mut Hub) {
    let g = (*h).current();
    loop {
        let d = (*g).deliverable();
        if d == 0 {
            break;
        }
        let sig = next_to_dequeue(g, d);
        let mut info = take_from(g, sig).unwrap_or_else(|| info_for(sig, libc::SI_TKILL, 0));
        run_action(h, g, &mut info, std::ptr::null_mut());
    }
}

/// The kernel's synchronous signals, dequeued before the others of the same set.
const SYNCHRONOUS: u64 = bit(libc::SIGSEGV) | bit(libc::SIGBUS) | bit(libc::SIGILL) | bit(libc::SIGTRAP) | bit(libc::SIGFPE) | bit(libc::SIGSYS);

/// Which of the deliverable signals `d` of `g` the kernel would dequeue next
/// (`dequeue_signal`): the thread's own pending set before the process's, and in each the
/// synchronous signals first, then the lowest number. (Each dequeued signal's handler frame goes
/// on top of the previous one's, so the last dequeued runs first.)
unsafe fn next_to_dequeue(g: *mut Greenlet, d: u64) -> c_int {
    let mut own = 0u64;
    for i in (*g).siginfo.iter() {
        if class(i) == 0 {
            own |= bit(signo(i));
        }
    }
    // Pending without an info of ours (sent before the greenlet's infos were kept) counts as its
    // own, as a tkill would.
    own |= d & !(*g).siginfo.iter().fold(0, |m, i| m | bit(signo(i)));
    let set = if d & own != 0 { d & own } else { d };
    let pick = if set & SYNCHRONOUS != 0 { set & SYNCHRONOUS } else { set };
    pick.trailing_zeros() as c_int + 1
}

/// The program's handler type (a one-argument handler ignores the other two).
type Handler = unsafe extern "C-unwind" fn(c_int, *mut siginfo_t, *mut c_void);

/// Run the action for `info` on `g`, the running greenlet, on its stack. `uc`: the kernel's
/// context when called from the dispatcher, else null (a context is made up, with the mask).
unsafe fn run_action(h: *mut Hub, g: *mut Greenlet, info: *mut siginfo_t, uc: *mut c_void) {
    run_action_in(h, g, info, uc, false)
}

/// [`run_action`]; `from_kernel`: called by the dispatcher, with every signal blocked on the OS
/// thread: the OS thread's mask opens only once the handler's mask is the greenlet's (else the
/// kernel would deliver the next queued signal at once, nested, before this handler runs).
unsafe fn run_action_in(h: *mut Hub, g: *mut Greenlet, info: *mut siginfo_t, uc: *mut c_void, from_kernel: bool) {
    let sig = signo(&*info);
    let a = sigact::get(sig);
    if a.sa_sigaction == libc::SIG_IGN || (a.sa_sigaction == libc::SIG_DFL && default_ignores(sig)) {
        if from_kernel {
            gs::sigmask::set_real((*h).sigmasks.real);
        }
        return;
    }
    if a.sa_sigaction == libc::SIG_DFL {
        if from_kernel {
            gs::sigmask::set_real((*h).sigmasks.real);
        }
        default_action(sig);
        return;
    }
    let old = (*g).sigmask;
    let mut during = old | read_set(&a.sa_mask);
    if a.sa_flags & libc::SA_NODEFER == 0 {
        during |= bit(sig);
    }
    if a.sa_flags & libc::SA_RESETHAND != 0 {
        sigact::reset_to_default(sig);
    }
    (*h).set_sigmask(g, during);
    if from_kernel {
        gs::sigmask::set_real((*h).sigmasks.real);
    }
    if a.sa_flags & libc::SA_RESTART == 0 {
        (*g).sig_norestart = true;
    }
    (*g).sig_handled += 1;
    if (*g).deliverable() != 0 && (*g).sig_context == 0 {
        // As the kernel stacks frames: another signal this handler's mask lets through is set
        // up on top of it, so it runs first (and so on), then this handler runs.
        deliver(h);
    }
    let depth = std::mem::replace(&mut (*g).hook_depth, 0);
    let e = gs::sys::errno();
    let mut made: libc::ucontext_t = std::mem::zeroed();
    let ucp = if uc.is_null() {
        write_set(&mut made.uc_sigmask, old);
        &mut made as *mut libc::ucontext_t as *mut c_void
    } else {
        uc
    };
    let f: Handler = std::mem::transmute(a.sa_sigaction);
    let sel = crate::hook::catch::to_handler();
    f(sig, info, ucp);
    crate::hook::catch::leave(sel);
    gs::sys::set_errno(e);
    (*g).hook_depth = depth;
    (*h).set_sigmask(g, old);
    if (*g).deliverable() != 0 {
        // As at a native sigreturn: what the handler's mask held back runs now.
        deliver(h);
    }
}

/// The default action of `sig` (terminate, dump core, stop): the kernel performs it on the OS
/// thread, where the program's action is the default too.
unsafe fn default_action(sig: c_int) {
    let tid = syscall!(SYS_gettid).unwrap_or(0);
    let _ = syscall!(SYS_tgkill, getpid(), tid, sig);
}

/// Called by a hook on its way back to the program (its depth back at 0): route what arrived,
/// then run the greenlet's deliverable signals.
#[cold]
pub unsafe fn at_hook_exit(h: *mut Hub) {
    (*(*h).current()).sig_attention = false;
    drain(h);
    if (*(*h).current()).deliverable() != 0 {
        deliver(h);
    }
}

/// Exports without the hook boundary (the mutex and condition fast paths) call this on their
/// way out: a signal the dispatcher deferred because it interrupted greenshim's code there runs
/// now rather than at the next hook or park, which a computing loop may never reach; and a
/// greenlet past its time slice yields.
#[inline(always)]
pub unsafe fn after_export(h: *mut Hub) {
    after_lock(h);
    if (*h).fair_tick() && (*(*h).current()).hook_depth == 0 {
        // A greenlet that only locks, unlocks and signals for a whole time slice lets the
        // others run (a spin on another thread's progress).
        gs::hub::fair_yield(h, true);
    }
}

/// [`after_export`] without the time-slice count (`pthread_mutex_lock`: a spin on a lock is
/// counted once per lock/unlock pair, at the unlock).
#[inline(always)]
pub unsafe fn after_lock(h: *mut Hub) {
    if arrived() {
        after_export_slow(h);
    }
}

#[cold]
#[inline(never)]
unsafe fn after_export_slow(h: *mut Hub) {
    let g = (*h).current();
    if (*g).hook_depth == 0 && (*g).sig_context == 0 {
        at_hook_exit(h);
    }
}

/// The hub's safe point: the semaphore layer's, then route the signals that arrived.
pub unsafe fn safe_point(h: *mut Hub, sleeping: bool) {
    crate::sync::sem::safe_point(h, sleeping);
    drain(h);
}

/// Set up what dispatch needs on the hub (the safe point and its wakeup eventfd, the delivery
/// hook). Called when the program installs a handler; cheap after the first time.
pub fn prepare() {
    let Some(h) = any_hub() else { return };
    // SAFETY: h is this thread's hub.
    unsafe {
        if (*h).sig_deliver.is_none() {
            (*h).sig_deliver = Some(deliver);
        }
        if crate::sync::sem::kick_fd().is_none() || (*h).safe_point.is_none() {
            crate::sync::sem::ensure_kick_fd(h);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The dispatcher
// ---------------------------------------------------------------------------------------------

/// The range of greenshim's own code (set at start-up): a signal that interrupts it is not
/// delivered there.
static TEXT: (AtomicUsize, AtomicUsize) = (AtomicUsize::new(0), AtomicUsize::new(0));

/// Find the executable segment of this library.
pub fn init_text_range() {
    unsafe extern "C" fn each(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        let me = data as usize;
        let base = (*info).dlpi_addr as usize;
        for k in 0..(*info).dlpi_phnum as usize {
            let ph = &*(*info).dlpi_phdr.add(k);
            if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0 {
                let lo = base + ph.p_vaddr as usize;
                let hi = lo + ph.p_memsz as usize;
                if (lo..hi).contains(&me) {
                    TEXT.0.store(lo, Ordering::Relaxed);
                    TEXT.1.store(hi, Ordering::Relaxed);
                    return 1;
                }
            }
        }
        0
    }
    // SAFETY: the callback only reads the program headers the loader hands it.
    unsafe { libc::dl_iterate_phdr(Some(each), on_signal as *const () as *mut c_void) };
}

/// Did the signal interrupt greenshim's own code?
unsafe fn in_shim(uc: *mut c_void) -> bool {
    if uc.is_null() {
        return true;
    }
    let rip = (*(uc as *mut libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RIP as usize] as usize;
    (TEXT.0.load(Ordering::Relaxed)..TEXT.1.load(Ordering::Relaxed)).contains(&rip)
}

/// The kernel's handler for every signal the program handles (every signal blocked while it
/// runs). See the module docs.
pub unsafe extern "C-unwind" fn on_signal(sig: c_int, info: *mut siginfo_t, uc: *mut c_void) {
    // The dispatcher is greenshim's code: its system calls must not trap.
    let sel = crate::hook::catch::enter();
    dispatch(sig, info, uc);
    crate::hook::catch::leave(sel);
}

unsafe fn dispatch(sig: c_int, info: *mut siginfo_t, uc: *mut c_void) {
    let e = gs::sys::errno();
    let h = gs::hub::current_hub();
    if h.is_null() {
        on_foreign_thread(sig, info, uc);
        gs::sys::set_errno(e);
        return;
    }
    let code = (*info).si_code;
    if sigact::fault(sig) && code > 0 {
        // A fault of the instruction the running greenlet executes: its handler, right here
        // (on the alternate stack if it asked for one), as the kernel would.
        on_foreign_thread(sig, info, uc);
        gs::sys::set_errno(e);
        return;
    }
    let g = (*h).current();
    let own = info_pid(&*info) == getpid();
    // Thread-directed at the OS thread: by this process (glibc's raise/abort, SIGPIPE from a
    // write) it is for the running greenlet; from elsewhere, for main (the OS thread's identity).
    let target = if own && (code == libc::SI_TKILL || (sig == libc::SIGPIPE && code == libc::SI_USER)) {
        (*g).id
    } else if code == libc::SI_TKILL {
        (*(*h).main()).id
    } else {
        0
    };
    let here = (*g).hook_depth == 0
        && (*g).state == State::Running
        && (*g).sigmask & bit(sig) == 0
        && (target == 0 || target == (*g).id)
        && !in_shim(uc);
    if here {
        (*g).sig_context += 1;
        run_action_in(h, g, info, uc, true);
        (*g).sig_context -= 1;
        // sigreturn restores the mask saved in the context: make it the mask the OS thread
        // should have now.
        write_set(&mut (*(uc as *mut libc::ucontext_t)).uc_sigmask, (*h).sigmasks.real);
    } else {
        push(&*info, target);
        // The running greenlet's hook (if it is in one) routes it on its way out.
        (*g).sig_attention = true;
    }
    gs::sys::set_errno(e);
}

/// A handled signal on an OS thread without a hub, or a fault: the program's handler, as the
/// kernel runs it.
unsafe fn on_foreign_thread(sig: c_int, info: *mut siginfo_t, uc: *mut c_void) {
    let a = sigact::get(sig);
    if a.sa_sigaction == libc::SIG_DFL || a.sa_sigaction == libc::SIG_IGN {
        return;
    }
    let before = read_set(&(*(uc as *mut libc::ucontext_t)).uc_sigmask);
    let mut during = before | read_set(&a.sa_mask);
    if a.sa_flags & libc::SA_NODEFER == 0 {
        during |= bit(sig);
    }
    if a.sa_flags & libc::SA_RESETHAND != 0 {
        sigact::reset_to_default(sig);
    }
    gs::sigmask::set_real(during & !UNBLOCKABLE);
    let f: Handler = std::mem::transmute(a.sa_sigaction);
    let sel = crate::hook::catch::to_handler();
    f(sig, info, uc);
    crate::hook::catch::leave(sel);
}

// ---------------------------------------------------------------------------------------------
// Masks
// ---------------------------------------------------------------------------------------------
//
// Calls from inside greenshim, and from a `vfork` child (which shares the hub's memory but has
// its own mask: see `hook::vfork`), go to the kernel unchanged.

/// The calling greenlet's mask change (`how` as sigprocmask). Returns an errno value.
unsafe fn change_mask(h: *mut Hub, how: c_int, set: *const sigset_t, old: *mut sigset_t) -> c_int {
    let g = (*h).current();
    let was = (*g).sigmask;
    if !set.is_null() {
        let s = read_set(set);
        let new = match how {
            libc::SIG_BLOCK => was | s,
            libc::SIG_UNBLOCK => was & !s,
            libc::SIG_SETMASK => s,
            _ => return libc::EINVAL,
        };
        // Signals the kernel delivers as the OS thread's mask opens wait in the inbox (in their
        // order) and run below, not nested inside the change.
        (*g).hook_depth += 1;
        (*h).set_sigmask(g, new);
        (*g).hook_depth -= 1;
    }
    // The change stands even when the old mask cannot be stored: EFAULT, as the kernel does.
    let stored = old.is_null() || crate::hook::umem::write(old as *mut u64, was).is_ok();
    if !set.is_null() {
        // Signals it unblocked that were pending (for it, for the process, or in the kernel,
        // which delivers them to the dispatcher as the OS thread's mask opens) run before the
        // call returns, as natively.
        adopt_proc(h, g);
        if (*g).hook_depth == 0 && (*g).sig_context == 0 {
            at_hook_exit(h);
        }
    }
    if stored {
        0
    } else {
        libc::EFAULT
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_sigmask(how: c_int, set: *const sigset_t, old: *mut sigset_t) -> c_int {
    match crate::hook::entry::hub() {
        Some(h) if crate::diag::trace::on() => traced!(h, pthread_sigmask, change_mask(h, how, set, old), |r, e| [
            Arg::How(how as i64), Arg::SigSet(set), if r == 0 { Arg::SigSet(old) } else { Arg::Hex(old as u64) }
        ], Ret::Code(r)),
        Some(h) => change_mask(h, how, set, old),
        None => real_fns::pthread_sigmask(how, set, old),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sigprocmask(how: c_int, set: *const sigset_t, old: *mut sigset_t) -> c_int {
    let Some(h) = crate::hook::entry::hub() else { return real_fns::sigprocmask(how, set, old) };
    let body = || match change_mask(h, how, set, old) {
        0 => 0,
        e => {
            gs::sys::set_errno(e);
            -1
        }
    };
    if !crate::diag::trace::on() {
        return body();
    }
    traced!(h, sigprocmask, body(), |r, e| [
        Arg::How(how as i64), Arg::SigSet(set), if r == 0 { Arg::SigSet(old) } else { Arg::Hex(old as u64) }
    ], Ret::Int(r as i64, e))
}

/// Signals pending in the kernel for the OS thread or the process (those every greenlet blocks).
pub fn kernel_pending() -> u64 {
    let mut m = 0u64;
    let _ = syscall!(SYS_rt_sigpending, &mut m as *mut u64, 8);
    m
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sigpending(set: *mut sigset_t) -> c_int {
    let Some(h) = crate::hook::entry::hub() else { return real_fns::sigpending(set) };
    let g = (*h).current();
    if (*g).hook_depth == 0 && (*g).sig_context == 0 {
        at_hook_exit(h);
    }
    match crate::hook::umem::write(set as *mut u64, (*g).sigpending | proc_pending() | kernel_pending()) {
        Ok(()) => 0,
        Err(e) => {
            gs::sys::set_errno(e);
            -1
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/// Send `info` to greenlet `g` (`pthread_kill`, `pthread_sigqueue`, `raise`): an errno value.
unsafe fn kill_greenlet(h: *mut Hub, g: *mut Greenlet, info: siginfo_t, real: impl FnOnce(pthread_t) -> c_int) -> c_int {
    let sig = signo(&info);
    if !(0..=64).contains(&sig) || sig == 32 || sig == 33 {
        return libc::EINVAL;
    }
    if sig == 0 || (*g).state == State::Dead {
        return 0; // glibc: a joinable thread that ended still accepts signals, as a no-op
    }
    if !sigact::taken(sig) {
        // SIGKILL, SIGSTOP and reserved signals: the kernel acts on the OS thread.
        return real((*h).main_alias() as pthread_t);
    }
    let cur = (*h).current();
    if g == cur && (*g).sigmask & bit(sig) == 0 && (*g).hook_depth == 0 {
        // To itself, unblocked: the handler runs before the call returns, as natively (also
        // from inside a handler: a chained handler re-raises for the previous action).
        if sigact::get(sig).sa_flags & libc::SA_ONSTACK != 0 && sigact::program_alt_stack() && (*g).sig_context == 0 {
            // It asked for the alternate stack: let the kernel deliver it to the dispatcher,
            // which then runs on that stack and calls the handler there.
            return real((*h).main_alias() as pthread_t);
        }
        let mut info = info;
        run_action(h, g, &mut info, std::ptr::null_mut());
        return 0;
    }
    if (*cur).sig_context != 0 {
        // Inside a handler the dispatcher runs: nothing may allocate; route it later.
        let saved = gs::sigmask::block_all();
        push(&info, (*g).id);
        gs::sigmask::set_real(saved);
        (*cur).sig_attention = true; // routed at its next hook exit after the handler
        return 0;
    }
    send_to(h, g, info, false);
    if g != cur && (*cur).hook_depth == 0 && (*cur).sig_context == 0 {
        // A yield point: the target runs its handler before the sender goes on checking on it
        // (natively it would on another CPU).
        gs::hub::fair_yield(h, false);
    }
    0
}


#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_kill(t: pthread_t, sig: c_int) -> c_int {
    match crate::fd::files::traced_hub() {
        Some(h) => traced!(h, pthread_kill, pthread_kill_untraced(t, sig), |r, e| [Arg::Hex(t), Arg::Sig(sig as i64)], Ret::Code(r)),
        None => pthread_kill_untraced(t, sig),
    }
}

unsafe fn pthread_kill_untraced(t: pthread_t, sig: c_int) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_kill(t, sig) };
    match target(h, t) {
        Target::Native => real_fns::pthread_kill(t, sig),
        Target::Gone => libc::ESRCH,
        Target::Greenlet(g) => kill_greenlet(h, g, info_for(sig, libc::SI_TKILL, 0), |real| real_fns::pthread_kill(real, sig)),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_sigqueue(t: pthread_t, sig: c_int, val: libc::sigval) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_sigqueue(t, sig, val) };
    match target(h, t) {
        Target::Native => real_fns::pthread_sigqueue(t, sig, val),
        Target::Gone => libc::ESRCH,
        Target::Greenlet(g) => {
            kill_greenlet(h, g, info_for(sig, libc::SI_QUEUE, val.sival_ptr as usize), |real| real_fns::pthread_sigqueue(real, sig, val))
        }
    }
}

/// `raise` is `pthread_kill(pthread_self(), sig)`.
#[no_mangle]
pub unsafe extern "C-unwind" fn raise(sig: c_int) -> c_int {
    match crate::fd::files::traced_hub() {
        Some(h) => traced!(h, raise, raise_untraced(sig), |r, e| [Arg::Sig(sig as i64)], Ret::Int(r as i64, e)),
        None => raise_untraced(sig),
    }
}

unsafe fn raise_untraced(sig: c_int) -> c_int {
    let Some(h) = crate::hook::entry::hub() else { return real_fns::raise(sig) };
    let g = (*h).current();
    match kill_greenlet(h, g, info_for(sig, libc::SI_TKILL, 0), |_| real_fns::raise(sig)) {
        0 => 0,
        e => {
            gs::sys::set_errno(e);
            -1
        }
    }
}

/// Should a call interrupted by signals restart (SA_RESTART)? Looks at the signals about to be
/// delivered to the running greenlet and those its park already ran: restart only if none has
/// a handler without SA_RESTART. Calls with a timeout never restart (the caller checks that).
pub unsafe fn restart_after_signal(h: *mut Hub) -> bool {
    let g = (*h).current();
    drain(h);
    if std::mem::take(&mut (*g).sig_norestart) {
        return false;
    }
    let mut d = (*g).deliverable();
    while d != 0 {
        let sig = d.trailing_zeros() as c_int + 1;
        if sigact::interrupts(sig) {
            return false;
        }
        d &= d - 1;
    }
    true
}

/// Run the running greenlet's deliverable signals now (a call that restarts runs the handlers
/// first, as the kernel does before it restarts a system call).
pub unsafe fn deliver_now(h: *mut Hub) {
    let g = (*h).current();
    if (*g).deliverable() != 0 {
        deliver(h);
    }
}

/// Route what arrived and hand the running greenlet the process-pending signals it accepts:
/// does it now have a signal to deliver (so that a wait it is about to start ends with EINTR)?
pub unsafe fn due(h: *mut Hub) -> bool {
    drain(h);
    let g = (*h).current();
    adopt_proc(h, g);
    (*g).deliverable() != 0
}

/// A mask in force for the running greenlet during one call (`ppoll`, `pselect`,
/// `epoll_pwait`, `sigsuspend`): the previous mask comes back when it is dropped.
pub struct TempMask {
    h: *mut Hub,
    g: *mut Greenlet,
    old: Option<u64>,
}

impl TempMask {
    /// # Safety
    /// `h` is this thread's hub; drop it on the same greenlet.
    pub unsafe fn enter(h: *mut Hub, mask: Option<u64>) -> TempMask {
        let g = (*h).current();
        let old = mask.map(|m| {
            let old = (*g).sigmask;
            (*h).set_sigmask(g, m);
            adopt_proc(h, g);
            old
        });
        TempMask { h, g, old }
    }
}

impl Drop for TempMask {
    fn drop(&mut self) {
        if let Some(old) = self.old {
            // SAFETY: same hub and greenlet as at enter.
            unsafe {
                (*self.h).set_sigmask(self.g, old);
                if (*self.g).deliverable() != 0 {
                    (*self.g).sig_attention = true;
                }
            }
        }
    }
}

/// `g` parks in a `sigwait`-family call for `set`: route what arrived and give it what it may
/// take (the process's pending signals in `set`).
pub unsafe fn waiting_for(h: *mut Hub, g: *mut Greenlet, set: u64) {
    (*g).sigwaiting = set;
    drain(h);
    adopt_proc(h, g);
}


// ---------------------------------------------------------------------------------------------
// The System V and BSD mask calls: glibc implements them with its internal sigprocmask, which
// never reaches the export above, so each is taken over here.
// ---------------------------------------------------------------------------------------------

/// `sigprocmask(how, {set})` with a mask value; the old mask, or `Err(errno)`.
unsafe fn mask_call(how: c_int, set: u64) -> Result<u64, c_int> {
    let mut s: sigset_t = std::mem::zeroed();
    let mut old: sigset_t = std::mem::zeroed();
    write_set(&mut s, set);
    match pthread_sigmask(how, &s, &mut old) {
        0 => Ok(read_set(&old)),
        e => Err(e),
    }
}

fn one(sig: c_int) -> Result<u64, c_int> {
    if (1..=64).contains(&sig) {
        Ok(bit(sig))
    } else {
        Err(libc::EINVAL)
    }
}

fn ret_int(r: Result<u64, c_int>) -> c_int {
    match r {
        Ok(_) => 0,
        Err(e) => {
            gs::sys::set_errno(e);
            -1
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sighold(sig: c_int) -> c_int {
    ret_int(one(sig).and_then(|b| mask_call(libc::SIG_BLOCK, b)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sigrelse(sig: c_int) -> c_int {
    ret_int(one(sig).and_then(|b| mask_call(libc::SIG_UNBLOCK, b)))
}

/// BSD masks are the first 32 signals as an int.
#[no_mangle]
pub unsafe extern "C-unwind" fn sigblock(mask: c_int) -> c_int {
    mask_call(libc::SIG_BLOCK, mask as u32 as u64).map_or(-1, |old| old as u32 as c_int)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sigsetmask(mask: c_int) -> c_int {
    mask_call(libc::SIG_SETMASK, mask as u32 as u64).map_or(-1, |old| old as u32 as c_int)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn siggetmask() -> c_int {
    mask_call(libc::SIG_BLOCK, 0).map_or(-1, |old| old as u32 as c_int)
}

/// The calling greenlet's mask (for `sigset` and `sigpause`).
pub unsafe fn current_mask() -> u64 {
    mask_call(libc::SIG_BLOCK, 0).unwrap_or(0)
}
