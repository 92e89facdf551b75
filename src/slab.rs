//! Slabs: one mapping holding many greenlet stacks, with a guard page below each that costs no
//! kernel memory area (VMA).
//!
//! # Why
//! A guard page made with `mprotect` splits its mapping: two VMAs per stack, and the default
//! `vm.max_map_count` (65530) stops a process near 32,700 stacks, whether each stack is its own
//! mapping or a piece of a large one (`RW | NONE | RW | NONE ...` is still two areas per stack).
//! Linux 6.13 added *guard regions* (`madvise(MADV_GUARD_INSTALL)`): markers in the page tables
//! that fault like `PROT_NONE` without splitting the area, kept by `MADV_DONTNEED` and `fork`.
//! So a slab of stacks is one VMA however many guards it holds, and 100,000+ stacks keep a guard
//! page each. All guards of a slab are installed with one `process_madvise` (an iovec per
//! guard) on the calling process (`PIDFD_SELF`, Linux 6.14), else one `madvise` per guard.
//!
//! Where the kernel lacks guard regions, [`StackPool`](crate::stack::StackPool) falls back to a
//! mapping plus `mprotect` per stack while the map count allows, then to canary-checked stacks.
//!
//! Each mapping costs a system call, each guard another; a slab amortises both over hundreds of
//! stacks, so a fresh stack costs no system call on the spawn path.

/// `MADV_GUARD_INSTALL` (Linux 6.13).
const MADV_GUARD_INSTALL: i32 = 102;
/// `PIDFD_SELF` (Linux 6.14): the calling process, for `process_madvise`.
const PIDFD_SELF: i32 = -10000;
/// `UIO_MAXIOV`: most iovecs one `process_madvise` takes.
const MAX_IOV: usize = 1024;
/// Bytes a slab aims at (virtual, never reserved: `MAP_NORESERVE`).
pub const SLAB_BYTES: usize = 64 << 20;

/// Map `bytes` of anonymous, unreserved read-write memory for stacks.
pub fn map(bytes: usize) -> Option<usize> {
    // SAFETY: anonymous private mapping, no fixed address.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
            -1,
            0,
        )
    };
    (p != libc::MAP_FAILED).then_some(p as usize)
}

/// Unmap a slab this module mapped.
pub fn unmap(addr: usize, bytes: usize) {
    // SAFETY: exactly a mapping made by `map`, holding no live stack.
    unsafe { libc::munmap(addr as *mut libc::c_void, bytes) };
}

/// Install a one-page guard region at `addr + i * stride` for `i` in `0..count`. False if the
/// kernel has no guard regions (nothing installed then).
pub fn install_guards(addr: usize, stride: usize, count: usize) -> bool {
    let page = crate::stack::PAGE;
    let mut done = 0;
    // One call per MAX_IOV guards where the kernel takes process_madvise on itself.
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(count.min(MAX_IOV));
    while done < count {
        let n = (count - done).min(MAX_IOV);
        iov.clear();
        iov.extend((done..done + n).map(|i| libc::iovec { iov_base: (addr + i * stride) as *mut libc::c_void, iov_len: page }));
        // SAFETY: the iovecs name pages of our own mapping; the call only reads them.
        let r = unsafe { libc::syscall(libc::SYS_process_madvise, PIDFD_SELF, iov.as_ptr(), n, MADV_GUARD_INSTALL, 0) };
        if r != (n * page) as libc::c_long {
            break; // no PIDFD_SELF (or a partial install): one madvise per guard from here
        }
        done += n;
    }
    while done < count {
        // SAFETY: a page of our own mapping; guard installation discards nothing there.
        if unsafe { libc::madvise((addr + done * stride) as *mut libc::c_void, page, MADV_GUARD_INSTALL) } != 0 {
            return false;
        }
        done += 1;
    }
    true
}

/// Give the pages of `[lo, hi)` back to the kernel (they read as zeros afterwards; guard regions
/// stay).
pub fn release(lo: usize, hi: usize) {
    if hi > lo {
        // SAFETY: a range of an idle pooled stack: nothing lives there.
        unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_DONTNEED) };
    }
}

/// `vm.max_map_count`, the default where it cannot be read.
pub fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(65530)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_fault_and_cost_no_map_entry() {
        let stride = 16 * 4096;
        let base = map(stride * 64).unwrap();
        if !install_guards(base, stride, 64) {
            eprintln!("kernel without guard regions: skipped");
            unmap(base, stride * 64);
            return;
        }
        // The map entries that overlap the slab (not the whole map's count: the other tests of
        // this process map and unmap memory meanwhile).
        let (lo, hi) = (base, base + stride * 64);
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let entries = maps
            .lines()
            .filter_map(|l| l.split_whitespace().next()?.split_once('-').map(|(a, b)| (usize::from_str_radix(a, 16).ok(), usize::from_str_radix(b, 16).ok())))
            .filter(|r| matches!(r, (Some(a), Some(b)) if *a < hi && *b > lo))
            .count();
        assert_eq!(entries, 1, "64 guards must not split the slab: {entries} map entries over it\n{maps}");
        // A guard page reads as a fault: mincore-free check with a child process.
        // SAFETY: fork in a test; the child only touches memory and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: a guard page of our slab: this must fault and kill the child.
            unsafe { std::ptr::write_volatile((base + 5 * stride) as *mut u8, 1) };
            // SAFETY: reached only if the guard did not fault.
            unsafe { libc::_exit(0) };
        }
        let mut st = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        assert!(libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGSEGV, "status {st:#x}");
        // SAFETY: the page above a guard is ordinary memory.
        unsafe { std::ptr::write_volatile((base + 5 * stride + 4096) as *mut u8, 1) };
        unmap(base, stride * 64);
    }
}
