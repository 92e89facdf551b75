//! `vfork`: the child runs on the parent's memory until it execs or exits, so it must not touch
//! the hub.
//!
//! A vfork child has its own fd table but shares every byte of the parent's memory, the hub
//! included. Without this export its `dup2(devnull, fd)` or `close(fd)` would run our hooks:
//! wake the parent's greenlets waiting on `fd` with EBADF, drop `fd` from the (shared) epoll
//! instance, forget the fd's kind — all for a change that natively concerns only the child. A
//! blocking call in the child would even park and switch to one of the parent's greenlets.
//!
//! So `vfork` raises the calling greenlet's hook depth for the child's whole life: every hook
//! then sees `entry::hub() == None` and calls libc as it would with no shim. The parent lowers
//! it again when the kernel resumes it (after the child's exec or exit).
//!
//! It cannot be an ordinary function around libc's `vfork`: the child would return from our
//! frame and its later calls would overwrite the frame the parent then returns through. As
//! glibc's own `vfork`, it is a naked function that keeps its return address in a register
//! (registers are per task; the stack is shared) and makes the system call itself. No
//! `pthread_atfork` handlers run for `vfork`, as natively.

use std::ffi::c_int;

use gs::greenlet::Greenlet;

/// Before the system call: raise the hook depth of the calling greenlet; returns it (null if
/// the caller is not on a hub thread), handed back to [`leave`] by the parent.
extern "C" fn enter() -> *mut Greenlet {
    crate::diag::trace::forked();
    let Some(h) = crate::hook::entry::any_hub() else { return std::ptr::null_mut() };
    // SAFETY: h is this thread's hub and its current greenlet is live (it is the caller).
    unsafe {
        let g = (*h).current();
        (*g).hook_depth += 1;
        // The child starts with the caller's signal mask, as natively (see `thread::exec`).
        crate::thread::exec::vfork_enter();
        g
    }
}

/// In the parent, once the child has exec'd or exited: undo [`enter`].
extern "C" fn leave(g: *mut Greenlet) {
    if !g.is_null() {
        // SAFETY: g is the greenlet that called vfork (still running: it is us); the hub's
        // derived mask is the OS thread's again.
        unsafe {
            if let Some(h) = crate::hook::entry::any_hub() {
                gs::sigmask::set_real((*h).sigmasks.real);
            }
            (*g).hook_depth -= 1
        };
    }
}

/// A failed vfork (no child): errno, -1.
extern "C" fn failed(neg: isize) -> c_int {
    gs::sys::set_errno(-neg as c_int);
    -1
}

/// `vfork()`. The stack at entry is 8 mod 16 (the return address).
#[no_mangle]
#[unsafe(naked)]
pub unsafe extern "C-unwind" fn vfork() -> libc::pid_t {
    std::arch::naked_asm!(
        "sub rsp, 8",          // align for the call
        "call {enter}",
        "add rsp, 8",
        "mov rsi, rax",        // the greenlet: rsi survives the syscall, and is ours to clobber
        "pop rdi",             // the return address, out of the shared stack
        "mov eax, {nr}",
        "syscall",
        "push rdi",
        "test rax, rax",
        "jz 2f",               // the child: return 0 with the depth raised
        "push rax",            // the parent (or no child): lower it, then return the pid
        "mov rdi, rsi",
        "call {leave}",
        "pop rax",
        "cmp rax, -4095",
        "jae 3f",
        "2:",
        "ret",
        "3:",
        "mov rdi, rax",
        "jmp {failed}",
        enter = sym enter,
        leave = sym leave,
        failed = sym failed,
        nr = const libc::SYS_vfork,
    )
}

/// glibc exports `vfork` under this name too.
#[no_mangle]
#[unsafe(naked)]
pub unsafe extern "C-unwind" fn __vfork() -> libc::pid_t {
    std::arch::naked_asm!("jmp {v}", v = sym vfork)
}
