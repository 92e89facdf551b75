//! Reading the program's memory for a trace line without trusting its pointers.
//!
//! A call that fails with EFAULT (or EBADF before the kernel looked at the buffer) may have
//! been given a pointer to nothing: the tracer must not fault where the native call only
//! returned an error. So buffers, paths, addresses and iovec arrays are copied with
//! `process_vm_readv` on the process itself, which says EFAULT instead of faulting, as strace
//! reads a tracee's memory. Where a sandbox refuses that call (seccomp: EPERM or ENOSYS), the
//! tracer reads memory only for calls that succeeded (the kernel has read it then) and shows
//! the address otherwise.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

/// 0: not tried yet; 1: process_vm_readv works; 2: refused here.
static VM_READV: AtomicU8 = AtomicU8::new(0);

/// Copy up to `out.len()` bytes from `addr` into `out`; the number of bytes readable from its
/// start. `trusted`: the call succeeded, so the memory it used is readable.
pub(super) fn peek(addr: usize, out: &mut [u8], trusted: bool) -> usize {
    if addr == 0 || out.is_empty() {
        return 0;
    }
    if VM_READV.load(Relaxed) != 2 {
        let local = libc::iovec { iov_base: out.as_mut_ptr().cast(), iov_len: out.len() };
        let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: out.len() };
        let pid = syscall!(SYS_getpid).unwrap_or(0);
        match syscall!(SYS_process_vm_readv, pid, &local as *const libc::iovec, 1, &remote as *const libc::iovec, 1, 0) {
            Ok(n) => {
                VM_READV.store(1, Relaxed);
                return n as usize;
            }
            Err(libc::EFAULT) => return 0,
            Err(_) => VM_READV.store(2, Relaxed),
        }
    }
    if !trusted {
        return 0;
    }
    // SAFETY: the call succeeded with this memory: the caller passes only what it used.
    unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, out.as_mut_ptr(), out.len()) };
    out.len()
}

/// Copy a `T` from `addr`, if all of it is readable.
pub(super) fn peek_val<T: Copy>(addr: usize, trusted: bool) -> Option<T> {
    let mut v = std::mem::MaybeUninit::<T>::uninit();
    // SAFETY: the slice covers exactly v's bytes; any bytes are a valid T for the plain C types
    // this is used with (ints, iovecs, socket addresses).
    let out = unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of::<T>()) };
    // SAFETY: as above, once fully written.
    (peek(addr, out, trusted) == out.len()).then(|| unsafe { v.assume_init() })
}
