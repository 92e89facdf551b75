//! `syscall()`: libc's generic system call entry, which programs and runtimes use for calls
//! libc has no wrapper for. The futex calls (Rust std's locks and parking, C11 threads) go to
//! the hub ([`crate::sync::futex`]); every other number does exactly what glibc's `syscall()`
//! does, in the same instructions: arguments shifted into the kernel's registers (the sixth
//! from the stack), the `syscall` instruction, errno and -1 on failure. Naked, so a call that
//! never comes back the usual way (`SYS_clone` with a new stack, `SYS_exit`) behaves as with
//! glibc's.

use std::ffi::c_long;

/// Failure of the pass-through: errno from the kernel's `-errno`, and -1.
extern "C" fn fail(r: isize) -> c_long {
    gs::sys::set_errno(-r as i32);
    -1
}

/// The futex path: the same arguments as `syscall()` (the seventh from the stack).
unsafe extern "C" fn futex_call(_nr: c_long, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize, a6: usize) -> c_long {
    crate::sync::futex::futex([a1, a2, a3, a4, a5, a6])
}

/// `long syscall(long number, ...)`: C-variadic, but its integer arguments sit where a
/// seven-argument function's do (x86_64 SysV).
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn syscall() -> c_long {
    core::arch::naked_asm!(
        "cmp rdi, {futex}",
        "je {futex_call}",
        "mov rax, rdi",
        "mov rdi, rsi",
        "mov rsi, rdx",
        "mov rdx, rcx",
        "mov r10, r8",
        "mov r8, r9",
        "mov r9, [rsp + 8]",
        "syscall",
        "cmp rax, -4095",
        "jae 2f",
        "ret",
        "2:",
        "mov rdi, rax",
        "jmp {fail}",
        futex = const libc::SYS_futex,
        futex_call = sym futex_call,
        fail = sym fail,
    );
}
