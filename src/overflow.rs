//! Stack overflow reporting.
//!
//! A greenlet that overflows its stack touches the guard page below it and gets SIGSEGV — on a
//! stack that has no room left, so the handler runs on an alternate signal stack. If the fault
//! address lies in the running greenlet's guard zone, the handler prints one line naming the
//! greenlet, its stack size and the setting that raises it, then restores the default action and
//! returns: the faulting instruction runs again and the process dies of SIGSEGV, as it would
//! natively, only no longer silently. Any other fault is handed back to whatever handled SIGSEGV
//! before us (the program's handler, or the default action), so the program keeps its own
//! behaviour; a SIGSEGV or SIGBUS that was sent (`kill`), not caused by an instruction, is queued
//! again to the thread so that the restored action takes it. A program that installs its own
//! SIGSEGV handler later simply replaces ours.

use std::ptr;

use crate::hub::current_hub;
use crate::sys::{write_stderr, LineBuf};

/// The previous SIGSEGV / SIGBUS actions, restored for faults that are not ours.
static mut OLD_SEGV: Option<libc::sigaction> = None;
static mut OLD_BUS: Option<libc::sigaction> = None;

const ALT_STACK: usize = 64 * 1024;

/// Print the overflow line. Async-signal-safe: no allocation, raw write.
pub fn report(seq: u64, name: &[u8; 16], stack_size: usize) {
    let mut l = LineBuf::new();
    let name_len = name.iter().position(|&b| b == 0).unwrap_or(16);
    let suggest = (stack_size * 2).next_power_of_two() / 1024;
    l.str("greenshim: stack overflow in greenlet g").num(seq);
    if name_len > 0 {
        l.str(" \"").push(&name[..name_len]).str("\"");
    }
    l.str(" (stack size ").num((stack_size / 1024) as u64).str(" KiB); raise it with GREENSHIM_STACK_SIZE=");
    l.num(suggest as u64).str("K or greenshim --stack-size ").num(suggest as u64).str("K\n");
    write_stderr(l.as_bytes());
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and context for SA_SIGINFO handlers.
    let (addr, sp) = unsafe { ((*info).si_addr() as usize, (*(ctx as *const libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RSP as usize] as usize) };
    let mut ss: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: a raw query into a local.
    let alt = match unsafe { crate::sys::raw_syscall(libc::SYS_sigaltstack, [0, &mut ss as *mut libc::stack_t as usize, 0, 0, 0, 0]) } {
        0 => (ss.ss_sp as usize, ss.ss_size),
        _ => (0, 0),
    };
    let h = current_hub();
    // SAFETY: the hub pointer is the thread's own; overflow_at only reads.
    let hit = if h.is_null() { None } else { unsafe { (*h).overflow_at(addr, sp, alt) } };
    // SAFETY: restoring an action with sigaction is async-signal-safe.
    unsafe {
        match hit {
            Some((seq, name, size)) => {
                report(seq, &name, size);
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, ptr::null_mut());
            }
            None => {
                let old = if sig == libc::SIGSEGV { ptr::addr_of!(OLD_SEGV) } else { ptr::addr_of!(OLD_BUS) };
                match &*old {
                    Some(a) => libc::sigaction(sig, a, ptr::null_mut()),
                    None => {
                        let mut dfl: libc::sigaction = std::mem::zeroed();
                        dfl.sa_sigaction = libc::SIG_DFL;
                        libc::sigaction(sig, &dfl, ptr::null_mut())
                    }
                };
            }
        }
    }
    // SAFETY: info is the kernel's; raw system calls only.
    unsafe {
        if (*info).si_code <= 0 {
            // Sent (kill, sigqueue, tgkill), not caused by an instruction: returning would lose
            // it. Queue the same signal, with the same info, to this thread again: it is blocked
            // until this handler returns, then the restored action (the default: the process
            // dies of it, as natively) takes it.
            let pid = libc::getpid();
            let tid = crate::sys::raw_syscall(libc::SYS_gettid, [0; 6]);
            let _ = crate::sys::raw_syscall(libc::SYS_rt_tgsigqueueinfo, [pid as usize, tid as usize, sig as usize, info as usize, 0, 0]);
        }
    }
    // Returning re-runs the faulting instruction under the restored action.
}

/// The alternate signal stack greenshim set for the reporter (0: none): the shim's
/// `sigaltstack` hides it from the program, which natively has none until it sets one.
pub static OWN_ALT_STACK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Is `handler` greenshim's own fault reporter (installed through the program's `sigaction`)?
pub fn is_reporter(handler: usize) -> bool {
    handler == on_fault as *const () as usize
}

/// The reporter's alternate stack: (address, size), if greenshim set one.
pub fn own_alt_stack() -> Option<(usize, usize)> {
    match OWN_ALT_STACK.load(std::sync::atomic::Ordering::Relaxed) {
        0 => None,
        p => Some((p, ALT_STACK)),
    }
}

/// Install the overflow handler and an alternate signal stack on the calling (hub) thread.
/// Leaves an alternate stack the program already set alone.
pub fn install() {
    // SAFETY: plain libc calls with valid pointers; the statics are written once, before the
    // handler can run (it is installed last).
    unsafe {
        let mut cur: libc::stack_t = std::mem::zeroed();
        libc::sigaltstack(ptr::null(), &mut cur);
        if cur.ss_flags & libc::SS_DISABLE != 0 {
            let mem = libc::mmap(
                ptr::null_mut(),
                ALT_STACK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if mem != libc::MAP_FAILED {
                let ss = libc::stack_t { ss_sp: mem, ss_flags: 0, ss_size: ALT_STACK };
                if libc::sigaltstack(&ss, ptr::null_mut()) == 0 {
                    OWN_ALT_STACK.store(mem as usize, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        for (sig, slot) in [(libc::SIGSEGV, ptr::addr_of_mut!(OLD_SEGV)), (libc::SIGBUS, ptr::addr_of_mut!(OLD_BUS))] {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_fault as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
            libc::sigemptyset(&mut act.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, &act, &mut old) == 0 {
                *slot = Some(old);
            }
        }
    }
}
