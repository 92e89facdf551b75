//! Reading the program's memory where the kernel would validate the pointer.
//!
//! A pointer the program hands to a system call (an iovec array, a `msghdr`, a timeout, a
//! signal set) may point to nothing: natively the kernel then says EFAULT, so the shim must not
//! fault dereferencing it first. [`read`] copies such memory with `process_vm_readv` on the
//! process itself, which fails with EFAULT instead of faulting, as the kernel's own copy does;
//! [`write`] stores a result (an old mask, the time left) with `process_vm_writev`.
//!
//! Memory on the running greenlet's own stack, between the stack pointer and the stack's top,
//! is mapped, and so is the `brk` heap up to glibc's current break: an iovec array or header
//! there (where programs mostly keep them: on the stack, or malloc'ed in the main arena, the
//! only one a program on one OS thread uses for small blocks) is read directly, sparing the hot
//! paths (`readv`, `writev`, `sendmsg`...) the system calls.
//!
//! Where a sandbox refuses `process_vm_readv` (seccomp: EPERM or ENOSYS), the memory is read
//! directly, as before this module existed: a bad pointer faults in the shim there.

use std::sync::atomic::{AtomicI32, AtomicU8, AtomicUsize, Ordering::Relaxed};

/// 0: not tried yet; 1: process_vm_readv works; 2: refused here (also taken for its writev).
static VM_READV: AtomicU8 = AtomicU8::new(0);

/// This process's id for `process_vm_readv` (0: not known yet), learnt at start-up and in a
/// `fork` child. A `vfork` child keeps its parent's, whose memory it shares (it must not store
/// its own: the parent would read another process after the child's exec).
static PID: AtomicI32 = AtomicI32::new(0);

fn pid() -> i32 {
    match PID.load(Relaxed) {
        0 => syscall!(SYS_getpid).unwrap_or(0) as i32,
        p => p,
    }
}

/// The start of the `brk` heap (0: not known), learnt at start-up; its end is glibc's
/// `__curbrk`. Between the two, memory is mapped: malloc's main arena, where a program on one OS
/// thread gets its small blocks (an iovec array or `msghdr` in a connection's record).
static HEAP_START: AtomicUsize = AtomicUsize::new(0);

/// At start-up and in the child of `fork()`: learn this process's id (and, once, the heap's start).
pub fn learn_pid() {
    PID.store(syscall!(SYS_getpid).unwrap_or(0) as i32, Relaxed);
    if HEAP_START.load(Relaxed) == 0 {
        HEAP_START.store(syscall!(SYS_brk, 0usize).unwrap_or(0) as usize, Relaxed);
    }
}

extern "C" {
    /// glibc's: the current program break, kept by its `brk`/`sbrk` (and so by malloc).
    static __curbrk: *mut libc::c_void;
}

/// Does `[addr, addr + len)` lie in the `brk` heap as glibc last set it? That memory is mapped
/// (a program shrinking the break with a raw system call, behind glibc's back, is not covered).
#[inline]
fn on_heap(addr: usize, len: usize) -> bool {
    let lo = HEAP_START.load(Relaxed);
    // SAFETY: a plain read of glibc's variable.
    let hi = unsafe { __curbrk } as usize;
    lo != 0 && addr >= lo && addr.checked_add(len).is_some_and(|end| end <= hi)
}

/// Copy `len` bytes from the program's `addr` to `out`: `Err(EFAULT)` unless all are readable.
///
/// # Safety
/// `out` is valid for `len` bytes of writes.
pub unsafe fn read_bytes(addr: usize, out: *mut u8, len: usize) -> Result<(), i32> {
    if len == 0 {
        return Ok(());
    }
    if addr == 0 {
        return Err(libc::EFAULT);
    }
    if on_own_stack(addr, len) || on_heap(addr, len) {
        // SAFETY: live stack memory of the running greenlet, or the mapped brk heap (see
        // on_own_stack, on_heap).
        std::ptr::copy_nonoverlapping(addr as *const u8, out, len);
        return Ok(());
    }
    if VM_READV.load(Relaxed) != 2 {
        let local = libc::iovec { iov_base: out.cast(), iov_len: len };
        let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: len };
        let pid = pid();
        match syscall!(SYS_process_vm_readv, pid, &local as *const libc::iovec, 1, &remote as *const libc::iovec, 1, 0) {
            Ok(n) if n as usize == len => {
                VM_READV.store(1, Relaxed);
                return Ok(());
            }
            // A short copy: the range runs into memory that is not readable.
            Ok(_) | Err(libc::EFAULT) => return Err(libc::EFAULT),
            Err(_) => VM_READV.store(2, Relaxed),
        }
    }
    // SAFETY: no fault-safe copy here (see the module docs); the caller's `out` holds `len`.
    std::ptr::copy_nonoverlapping(addr as *const u8, out, len);
    Ok(())
}

extern "C" {
    /// glibc's: the top of the main thread's stack, as the process started.
    static __libc_stack_end: *const libc::c_void;
}

/// The main thread's stack is assumed no deeper than this for the shortcut (a stack pointer
/// further down is on an alternate signal stack, or the stack is unusually deep: the slow way).
const MAIN_STACK_MAX: usize = 8 << 20;

/// Does `[addr, addr + len)` lie between the stack pointer and the top of the stack the
/// running greenlet runs on (its own, or the main thread's)? That memory is mapped.
#[inline]
fn on_own_stack(addr: usize, len: usize) -> bool {
    let here = 0u8;
    let sp = std::ptr::addr_of!(here) as usize;
    let Some(end) = addr.checked_add(len) else { return false };
    if addr < sp {
        return false;
    }
    let Some(h) = crate::hook::entry::any_hub() else { return false };
    // SAFETY: a hub's current greenlet is live.
    let (lo, hi) = unsafe { (*(*h).current()).stack };
    let (lo, hi) = if hi != 0 {
        (lo, hi)
    } else {
        // SAFETY: a plain read of glibc's variable, set before any constructor ran.
        let top = unsafe { __libc_stack_end } as usize;
        (top.saturating_sub(MAIN_STACK_MAX), top)
    };
    lo <= sp && sp < hi && end <= hi
}

/// A `T` copied from the program's `p`, or `Err(EFAULT)`.
///
/// `T` is a plain C type (integers, iovecs, headers, timespecs): any bytes are a valid `T`.
pub fn read<T: Copy>(p: *const T) -> Result<T, i32> {
    let mut v = std::mem::MaybeUninit::<T>::uninit();
    // SAFETY: `v` holds size_of::<T>() bytes, fully written on success; any bytes are a valid T.
    unsafe {
        read_bytes(p as usize, v.as_mut_ptr().cast(), std::mem::size_of::<T>())?;
        Ok(v.assume_init())
    }
}

/// `n` consecutive `T`s copied from the program's `p`, or `Err(EFAULT)`.
pub fn read_vec<T: Copy>(p: *const T, n: usize) -> Result<Vec<T>, i32> {
    let bytes = n.checked_mul(std::mem::size_of::<T>()).ok_or(libc::EFAULT)?;
    let mut v = Vec::<T>::with_capacity(n);
    // SAFETY: the vector's buffer holds `n` Ts, all written on success; any bytes are valid Ts.
    unsafe {
        read_bytes(p as usize, v.as_mut_ptr().cast(), bytes)?;
        v.set_len(n);
    }
    Ok(v)
}

/// Copy `len` bytes from `src` to the program's `addr`: `Err(EFAULT)` unless all are writable
/// (`process_vm_writev`; a direct write where that is refused, see the module docs).
///
/// # Safety
/// `src` is valid for `len` bytes of reads.
pub unsafe fn write_bytes(addr: usize, src: *const u8, len: usize) -> Result<(), i32> {
    if len == 0 {
        return Ok(());
    }
    if addr == 0 {
        return Err(libc::EFAULT);
    }
    if VM_READV.load(Relaxed) != 2 {
        let local = libc::iovec { iov_base: src as *mut libc::c_void, iov_len: len };
        let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: len };
        let pid = pid();
        match syscall!(SYS_process_vm_writev, pid, &local as *const libc::iovec, 1, &remote as *const libc::iovec, 1, 0) {
            Ok(n) if n as usize == len => return Ok(()),
            Ok(_) | Err(libc::EFAULT) => return Err(libc::EFAULT),
            Err(_) => VM_READV.store(2, Relaxed),
        }
    }
    // SAFETY: no fault-safe copy here (see the module docs); the caller's `src` holds `len`.
    std::ptr::copy_nonoverlapping(src, addr as *mut u8, len);
    Ok(())
}

/// Store `v` at the program's `p`, or `Err(EFAULT)`.
pub fn write<T: Copy>(p: *mut T, v: T) -> Result<(), i32> {
    // SAFETY: `v` is a whole T on our stack.
    unsafe { write_bytes(p as usize, (&v as *const T).cast(), std::mem::size_of::<T>()) }
}
