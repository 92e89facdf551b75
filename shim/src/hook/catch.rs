//! Catching the system calls the exports miss: Linux's syscall user dispatch.
//!
//! # Why
//! greenshim interposes libc's exported functions, but glibc makes most of its system calls
//! from inside itself: stdio reads and writes a `FILE`'s descriptor, the resolver sends and
//! polls its own sockets, `syslog` writes its socket, libraries call `syscall()` or inline the
//! instruction. Each would block the OS thread, and with it every greenlet.
//!
//! # How
//! `prctl(PR_SET_SYSCALL_USER_DISPATCH)` (Linux 5.11+) makes the kernel turn every system call
//! of the hub thread into a SIGSYS, except those made from one address range (greenshim's own
//! code: its raw `syscall` instructions never trap) and those made while a selector byte says
//! "allow". The selector is "block" exactly while the thread runs the program's code (libc
//! included) and "allow" while it runs greenshim's: every hook boundary, every call greenshim
//! makes to a real libc function (`real!`), the signal dispatcher and the SIGSYS handler save it,
//! set "allow", and put it back when they return to what they interrupted. A greenlet starts
//! the program's start routine with "block". Greenlets only switch inside greenshim, where it is
//! "allow". So the exports stay the fast path, with no trap; only what escapes them pays one.
//!
//! The SIGSYS handler ([`on_sigsys`]) runs on the greenlet's own stack (never the alternate
//! stack: it may park there) and performs the call: the blocking calls greenshim makes
//! cooperative go to the same code as their exports (see `hook::syscall`), so they park only the
//! greenlet, with the results and errno convention of the kernel; masks set with
//! `rt_sigprocmask` become the greenlet's own; everything else is executed as is. Details:
//! * returning from a signal handler through a restorer in libc (`rt_sigreturn`) traps too: the
//!   handler resumes the same `rt_sigreturn` from greenshim's code instead;
//! * a `clone` that shares memory (`vfork`, `posix_spawn`, a raw thread) must not run inside a
//!   signal frame (the child would write over it, or start on another stack): the handler
//!   returns to a two-instruction stub in greenshim's code that makes the same call with the
//!   same registers and jumps back to where the trapped one would have returned, for the parent
//!   and the child alike;
//! * SIGSYS can never be blocked on the OS thread while dispatch is on (the kernel would kill
//!   the process at the next trap): greenlets' masks record it, the OS thread's never has it,
//!   and the program's `sigaction(SIGSYS)` is kept in greenshim's table and used for a SIGSYS
//!   that is not a trap (`kill`, seccomp);
//! * the kernel clears dispatch on `fork` and `exec`: the fork child's hub turns it on again,
//!   an exec'd program's greenshim starts over.
//!
//! `GREENSHIM_CATCH=exports` (or a kernel without it) leaves only the exports.

use std::ffi::{c_int, c_long, c_void};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};

use gs::sys;
use libc::siginfo_t;

/// Selector values (the kernel's `SYSCALL_DISPATCH_FILTER_*`).
pub const ALLOW: u8 = 0;
pub const BLOCK: u8 = 1;
/// What [`enter`] returns when there is nothing to restore (dispatch off, or another thread).
const NONE: u8 = 2;

/// The byte the kernel reads at every system call of the main hub's thread.
static SELECTOR: AtomicU8 = AtomicU8::new(ALLOW);
/// The bytes of the other hubs' threads (multi-hub), by hub index (0 unused).
static SELECTORS: [AtomicU8; 256] = [const { AtomicU8::new(ALLOW) }; 256];
/// The calling hub thread's selector: [`SELECTOR`] with one hub; with several, its hub's.
#[inline(always)]
fn selector() -> &'static AtomicU8 {
    if !crate::multi::on() {
        return &SELECTOR;
    }
    selector_multi()
}

/// [`selector`] with several hubs (out of line: the callers are hot in the one-hub case).
#[cold]
#[inline(never)]
fn selector_multi() -> &'static AtomicU8 {
    let h = gs::hub::current_hub();
    // SAFETY: a non-null hub pointer is this thread's hub (live for the process).
    let index = if h.is_null() { 0 } else { unsafe { (*h).index } };
    // SAFETY: selector_of points at one of the static bytes.
    unsafe { &*selector_of(index) }
}

fn selector_of(index: u32) -> *const AtomicU8 {
    if index == 0 { std::ptr::addr_of!(SELECTOR) } else { &SELECTORS[index as usize] }
}

/// Multi-hub: turn dispatch on for the calling OS thread, the thread of hub `index` (not the
/// main one), if it is on for the process. Its selector starts at "allow" (greenshim's code).
pub unsafe fn enable_extra(index: u32) {
    if !ON.load(Relaxed) {
        return;
    }
    let (lo, hi) = (TEXT.0.load(Relaxed), TEXT.1.load(Relaxed));
    if lo == 0 {
        return;
    }
    let p = selector_of(index);
    (*p).store(ALLOW, Relaxed);
    let h = gs::hub::current_hub();
    if !h.is_null() {
        (*h).host_word = p as usize;
    }
    let _ = sys::raw_syscall(libc::SYS_prctl, [PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, lo, hi - lo, p as usize, 0]);
}
/// Dispatch is on for the hub thread.
static ON: AtomicBool = AtomicBool::new(false);
/// Where [`clone_stub`] returns to: the instruction after the trapped `syscall`.
static CLONE_RET: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// System calls trapped so far (for the summary).
static TRAPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// System calls trapped so far.
pub fn traps() -> u64 {
    TRAPS.load(Relaxed)
}

/// Why dispatch is off, for the summary and the trace ("" while on or never tried).
static mut OFF_REASON: &str = "";

const PR_SET_SYSCALL_USER_DISPATCH: usize = 59;
const PR_SYS_DISPATCH_ON: usize = 1;
const SYS_USER_DISPATCH: c_int = 2;
const SA_RESTORER: u64 = 0x0400_0000;
const CLONE_VM: usize = 0x100;

/// Is dispatch on?
#[inline(always)]
pub fn on() -> bool {
    ON.load(Relaxed)
}

/// Why dispatch is off ("" if it is on or was not asked for).
pub fn off_reason() -> &'static str {
    // SAFETY: written once at start-up, before any reader.
    unsafe { OFF_REASON }
}

/// Entering greenshim's code from the program's: "allow", returning the value to restore.
#[inline(always)]
pub fn enter() -> u8 {
    if !ON.load(Relaxed) || !crate::hook::entry::on_hub_thread() {
        return NONE;
    }
    let old = selector().load(Relaxed);
    selector().store(ALLOW, Relaxed);
    old
}

/// [`enter`] for a caller known to be on hub `h`'s thread (the hook boundary): no thread
/// check; with one hub the static selector itself (one load of [`MODE`] decides, as the old
/// on/off flag did), with several the hub's (its address is the hub's host word).
/// Returns the value to restore with [`leave_hub`].
#[inline(always)]
pub fn enter_hub(h: *mut gs::hub::Hub) -> u8 {
    let Some(p) = hub_selector(h) else { return NONE };
    // A load and a store, not a swap: only this thread writes it, and `xchg` is a locked
    // instruction (a dozen cycles on every hook).
    // SAFETY: p points at a static selector byte.
    let old = unsafe { (*p).load(Relaxed) };
    unsafe { (*p).store(ALLOW, Relaxed) };
    old
}

/// [`leave`] for what [`enter_hub`] returned on the same hub (the address is found again
/// rather than kept: no register held across the hook's body).
#[inline(always)]
pub fn leave_hub(h: *mut gs::hub::Hub, old: u8) {
    if old != NONE {
        if let Some(p) = hub_selector(h) {
            // SAFETY: p points at a static selector byte.
            unsafe { (*p).store(old, Relaxed) };
        }
    }
}

#[inline(always)]
fn hub_selector(h: *mut gs::hub::Hub) -> Option<*const AtomicU8> {
    match MODE.load(Relaxed) {
        0 => None,
        1 => Some(std::ptr::addr_of!(SELECTOR)),
        // SAFETY: h is the caller's hub; its host word is one of the static selector bytes.
        _ => Some(unsafe { (*h).host_word as *const AtomicU8 }),
    }
}

/// 0: dispatch off; 1: on, one hub ([`SELECTOR`]); 2: on, several hubs (each its own byte).
static MODE: AtomicU8 = AtomicU8::new(0);

/// Several hubs from now on (`multi::start`, before any other hub exists).
pub fn set_multi() {
    if ON.load(Relaxed) {
        MODE.store(2, Relaxed);
    }
}

/// Going back to what [`enter`] interrupted.
#[inline(always)]
pub fn leave(old: u8) {
    if old != NONE {
        selector().store(old, Relaxed);
    }
}

/// Running the program's code from greenshim's (a start routine, a signal handler): "block",
/// returning the value to restore with [`leave`].
#[inline(always)]
pub fn to_program() -> u8 {
    if !ON.load(Relaxed) || !crate::hook::entry::on_hub_thread() {
        return NONE;
    }
    let old = selector().load(Relaxed);
    selector().store(BLOCK, Relaxed);
    old
}

/// [`to_program`] for a signal handler: on the alternate signal stack the handler's system calls
/// are left alone (nothing can park there, and a trap's signal frame would need room the
/// program's small alternate stack may not have).
#[inline]
pub fn to_handler() -> u8 {
    if !ON.load(Relaxed) || !crate::hook::entry::on_hub_thread() {
        return NONE;
    }
    let old = selector().load(Relaxed);
    // SAFETY: a raw sigaltstack query into a local.
    selector().store(if unsafe { on_altstack() } { ALLOW } else { BLOCK }, Relaxed);
    old
}

/// `rt_sigreturn` from greenshim's own code: the restorer of greenshim's SIGSYS handler, and
/// where a trapped `rt_sigreturn` resumes.
#[unsafe(naked)]
unsafe extern "C" fn sigreturn_stub() -> ! {
    core::arch::naked_asm!("mov rax, {nr}", "syscall", "ud2", nr = const libc::SYS_rt_sigreturn);
}

/// A memory-sharing `clone`, from greenshim's code (never trapped) with the registers of the
/// trapped one, then back after the trapped instruction: in the parent, and in the child (which
/// shares this memory, or starts on its own stack right here).
#[unsafe(naked)]
unsafe extern "C" fn clone_stub() -> ! {
    core::arch::naked_asm!("syscall", "jmp qword ptr [rip + {ret}]", ret = sym CLONE_RET);
}

/// The address range of greenshim's executable code.
unsafe fn own_text() -> Option<(usize, usize)> {
    struct Find {
        addr: usize,
        range: Option<(usize, usize)>,
    }
    unsafe extern "C" fn each(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        let f = &mut *(data as *mut Find);
        let i = &*info;
        for k in 0..i.dlpi_phnum as usize {
            let ph = &*i.dlpi_phdr.add(k);
            if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0 {
                let lo = i.dlpi_addr as usize + ph.p_vaddr as usize;
                let hi = lo + ph.p_memsz as usize;
                if (lo..hi).contains(&f.addr) {
                    f.range = Some((lo, hi));
                    return 1;
                }
            }
        }
        0
    }
    let mut f = Find { addr: own_text as *const () as usize, range: None };
    libc::dl_iterate_phdr(Some(each), &mut f as *mut Find as *mut c_void);
    f.range
}

/// The kernel's `struct sigaction` (what `rt_sigaction` takes).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// Turn dispatch on for the calling (hub) thread. On failure, record why and stay off.
///
/// # Safety
/// Called on the hub thread, in the constructor or a fork child, with the selector's users
/// ready (the hub exists).
pub unsafe fn enable() -> Result<(), &'static str> {
    let r = enable_inner();
    if let Err(why) = r {
        OFF_REASON = why;
    }
    r
}

/// greenshim's code range as given to the kernel (for other hubs' threads, which must not ask
/// the dynamic loader: see `multi`).
static TEXT: (std::sync::atomic::AtomicUsize, std::sync::atomic::AtomicUsize) = (std::sync::atomic::AtomicUsize::new(0), std::sync::atomic::AtomicUsize::new(0));

unsafe fn enable_inner() -> Result<(), &'static str> {
    let (lo, hi) = own_text().ok_or("greenshim cannot find its own code")?;
    TEXT.0.store(lo, Relaxed);
    TEXT.1.store(hi, Relaxed);
    let act = KernelSigaction {
        handler: on_sigsys as *const () as usize,
        flags: (libc::SA_SIGINFO | libc::SA_NODEFER) as u64 | SA_RESTORER,
        restorer: sigreturn_stub as *const () as usize,
        mask: 0,
    };
    if sys::raw_syscall(libc::SYS_rt_sigaction, [libc::SIGSYS as usize, &act as *const _ as usize, 0, 8, 0, 0]) < 0 {
        return Err("cannot install the SIGSYS handler");
    }
    crate::thread::sigact::keep(libc::SIGSYS);
    gs::sigmask::set_never(gs::sigmask::bit(libc::SIGSYS));
    if let Some(h) = crate::hook::entry::any_hub() {
        (*h).sigmasks.reserved |= gs::sigmask::bit(libc::SIGSYS);
        (*h).sigmasks.sync();
    }
    selector().store(ALLOW, Relaxed);
    let r = sys::raw_syscall(libc::SYS_prctl, [PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, lo, hi - lo, std::ptr::addr_of!(SELECTOR) as usize, 0]);
    if r < 0 {
        return Err(match -r as i32 {
            libc::EINVAL => "the kernel has no syscall user dispatch (Linux 5.11+ with CONFIG_GENERIC_ENTRY)",
            _ => "prctl(PR_SET_SYSCALL_USER_DISPATCH) failed",
        });
    }
    if let Some(h) = crate::hook::entry::any_hub() {
        (*h).host_word = std::ptr::addr_of!(SELECTOR) as usize;
    }
    ON.store(true, Relaxed);
    MODE.store(1, Relaxed);
    Ok(())
}

/// In the child of `fork()`: the kernel cleared dispatch for it; turn it on again.
pub unsafe fn after_fork_child() {
    MODE.store(0, Relaxed);
    if ON.swap(false, Relaxed) {
        let _ = enable();
    }
}

/// Is the stack pointer on the program's alternate signal stack?
unsafe fn on_altstack() -> bool {
    let mut ss: libc::stack_t = std::mem::zeroed();
    sys::raw_syscall(libc::SYS_sigaltstack, [0, &mut ss as *mut libc::stack_t as usize, 0, 0, 0, 0]) == 0 && ss.ss_flags & libc::SS_ONSTACK != 0
}

/// The SIGSYS handler: perform the trapped system call.
unsafe extern "C" fn on_sigsys(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    let sel = selector().load(Relaxed);
    selector().store(ALLOW, Relaxed);
    let e = sys::errno();
    if (*info).si_code != SYS_USER_DISPATCH {
        // Not a trap: sent with kill, or seccomp's. The program's SIGSYS.
        crate::thread::signal::on_signal(sig, info, ctx);
        sys::set_errno(e);
        selector().store(sel, Relaxed);
        return;
    }
    TRAPS.fetch_add(1, Relaxed);
    let uc = &mut *(ctx as *mut libc::ucontext_t);
    let gr = &mut uc.uc_mcontext.gregs;
    let nr = gr[libc::REG_RAX as usize] as c_long;
    let a = [
        gr[libc::REG_RDI as usize] as usize,
        gr[libc::REG_RSI as usize] as usize,
        gr[libc::REG_RDX as usize] as usize,
        gr[libc::REG_R10 as usize] as usize,
        gr[libc::REG_R8 as usize] as usize,
        gr[libc::REG_R9 as usize] as usize,
    ];
    match nr {
        libc::SYS_rt_sigreturn => {
            // A restorer in libc: the same rt_sigreturn, from our code, on the same frame.
            gr[libc::REG_RIP as usize] = sigreturn_stub as *const () as usize as i64;
            selector().store(sel, Relaxed);
            return;
        }
        libc::SYS_vfork => {
            crate::diag::trace::forked();
            return clone_outside(gr, sel);
        }
        libc::SYS_clone | libc::SYS_clone3 => {
            let flags = if nr == libc::SYS_clone { a[0] } else if a[0] != 0 { *(a[0] as *const u64) as usize } else { 0 };
            if flags & libc::CLONE_THREAD as usize == 0 {
                crate::diag::trace::forked(); // a new process (posix_spawn, popen, fork)
            }
            if flags & CLONE_VM != 0 {
                return clone_outside(gr, sel);
            }
        }
        _ => {}
    }
    let r = perform(nr, a, uc);
    uc.uc_mcontext.gregs[libc::REG_RAX as usize] = r as i64;
    // As at the return of a system call: the greenlet's signals that arrived meanwhile (a
    // `kill` of the process by itself, ...) run now, before the program goes on.
    if let Some(h) = crate::hook::entry::hub() {
        let g = (*h).current();
        if (*g).sig_attention && (*g).sig_context == 0 {
            crate::thread::signal::at_hook_exit(h);
            *(&mut uc.uc_sigmask as *mut libc::sigset_t as *mut u64) = (*h).sigmasks.real;
        }
    }
    sys::set_errno(e);
    selector().store(sel, Relaxed);
}

/// Make the trapped memory-sharing clone from [`clone_stub`], outside this signal frame.
unsafe fn clone_outside(gr: &mut [libc::greg_t; 23], sel: u8) {
    CLONE_RET.store(gr[libc::REG_RIP as usize] as usize, Relaxed);
    gr[libc::REG_RIP as usize] = clone_stub as *const () as usize as i64; // rax still holds the number
    selector().store(sel, Relaxed);
}

/// Perform system call `nr`: cooperatively where greenshim can and the greenlet may park here,
/// else as is. Returns the kernel's convention (`-errno` on failure).
unsafe fn perform(nr: c_long, a: [usize; 6], uc: &mut libc::ucontext_t) -> isize {
    let park_ok = match crate::hook::entry::hub() {
        Some(h) => (*(*h).current()).sig_context == 0 && !on_altstack(),
        None => false,
    };
    if crate::hook::syscall::is_bookkeeping(nr) && crate::hook::entry::hub().is_some() {
        let r = crate::hook::syscall::routed(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        return if r == -1 { -(sys::errno() as isize) } else { r as isize };
    }
    if park_ok {
        if crate::hook::syscall::is_routed(nr) {
            let r = crate::hook::syscall::routed(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
            return if r == -1 { -(sys::errno() as isize) } else { r as isize };
        }
        if nr == libc::SYS_rt_sigprocmask && a[3] == 8 {
            return sigprocmask(a, uc);
        }
        if let Some(r) = crate::fd::files::trapped(nr, a) {
            return r;
        }
    }
    sys::raw_syscall(nr, a)
}

/// `rt_sigprocmask` from inside libc (`sigsetjmp`/`siglongjmp`, `abort`, ...): the greenlet's
/// own mask, as through `pthread_sigmask`. The kernel restores the mask saved in the SIGSYS frame
/// at sigreturn: it becomes the OS thread's mask as it is now.
unsafe fn sigprocmask(a: [usize; 6], uc: &mut libc::ucontext_t) -> isize {
    let mut set: libc::sigset_t = std::mem::zeroed();
    let mut old: libc::sigset_t = std::mem::zeroed();
    let setp = if a[1] != 0 {
        *(&mut set as *mut libc::sigset_t as *mut u64) = *(a[1] as *const u64);
        &set as *const libc::sigset_t
    } else {
        std::ptr::null()
    };
    let r = crate::thread::signal::pthread_sigmask(a[0] as c_int, setp, &mut old);
    if r != 0 {
        return -(r as isize);
    }
    if a[2] != 0 {
        *(a[2] as *mut u64) = *(&old as *const libc::sigset_t as *const u64);
    }
    if let Some(h) = crate::hook::entry::any_hub() {
        *(&mut uc.uc_sigmask as *mut libc::sigset_t as *mut u64) = (*h).sigmasks.real;
    }
    0
}
