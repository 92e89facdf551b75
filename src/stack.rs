//! Greenlet stacks: mmap'd, guarded, pooled.
//!
//! A fresh mapping costs microseconds (mmap + mprotect + later munmap), a spawn must cost well
//! under one, so a stack is never unmapped: when its greenlet ends it goes back to a free list of
//! its size class and the next spawn of that size takes it (LIFO, so its pages are still hot).
//!
//! Each pooled stack is one mapping whose lowest page is `PROT_NONE`: an overflow faults on the
//! guard instead of silently corrupting the neighbour, and [`Stack::guard_range`] lets the
//! SIGSEGV handler tell an overflow from any other fault. That layout costs two kernel memory
//! areas (VMAs) per stack, so the default `vm.max_map_count` (65530) caps a process near 32,700
//! stacks. The allocator is built around [`GuardMode`] so that a mode for 100,000+ greenlets can
//! carve unguarded stacks out of large shared slabs (one VMA per slab) and detect overflow with
//! a canary word instead; [`GuardMode::Canary`] is that mode.
//!
//! A stack the program supplied itself (`pthread_attr_setstack`) is wrapped without a guard and is
//! never pooled or unmapped: it stays the program's memory.

use std::io;

use corosensei::stack::{Stack as CoroStack, StackPointer};

/// Page size; x86_64 Linux.
pub const PAGE: usize = 4096;

/// Value written at the lowest usable word of a canary-mode stack.
const CANARY: u64 = 0x6772_6565_6e73_6869; // "greenshi"

/// How stacks are protected against overflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GuardMode {
    /// One mapping per stack with a `PROT_NONE` guard page below it (2 VMAs per stack).
    #[default]
    Page,
    /// Stacks carved from shared slabs with no guard page; a canary word at the bottom is checked
    /// when the greenlet switches out or ends. One VMA per slab: for 100,000+ greenlets.
    Canary,
}

/// Where a stack's memory came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// Our own mapping (Page mode): `[map, map + guard + size)`.
    Mapped,
    /// A piece of a slab (Canary mode); slabs are never unmapped.
    Slab,
    /// The program's memory (`pthread_attr_setstack`): never pooled, never unmapped.
    User,
}

/// One greenlet stack. `limit..base` is the usable range; `guard` bytes below `limit` are
/// the guard page (Page mode only).
#[derive(Debug)]
pub struct Stack {
    /// Highest address (exclusive), 16-byte aligned: the initial stack pointer.
    base: usize,
    /// Lowest usable address.
    limit: usize,
    /// Bytes of guard below `limit` (0 when there is none).
    guard: usize,
    origin: Origin,
}

// SAFETY: base/limit describe memory owned by this Stack (or lent by the program for the
// greenlet's lifetime), 16-byte aligned, and valid for reads and writes in between.
unsafe impl CoroStack for Stack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.base).expect("stack base is non-zero")
    }
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.limit).expect("stack limit is non-zero")
    }
}

impl Stack {
    /// Usable bytes.
    pub fn size(&self) -> usize {
        self.base - self.limit
    }
    /// Lowest usable address.
    pub fn limit_addr(&self) -> usize {
        self.limit
    }
    /// Highest address (exclusive).
    pub fn base_addr(&self) -> usize {
        self.base
    }
    /// The address range whose access means "this stack overflowed": the guard page, plus a
    /// margin below it for frames that jumped over it.
    pub fn guard_range(&self) -> (usize, usize) {
        let lo = self.limit.saturating_sub(self.guard + 64 * 1024);
        (lo, self.limit)
    }
    /// Address of the canary word to check at every switch: the lowest word of a stack carved
    /// in Canary mode; 0 for every other stack (guard-page stacks, and the program's own memory,
    /// which holds whatever the program put there: checking it would report false overflows).
    pub fn canary_addr(&self) -> usize {
        if self.origin == Origin::Slab {
            self.limit
        } else {
            0
        }
    }
    /// Canary mode: true if the bottom word was overwritten (the stack overflowed).
    pub fn canary_broken(&self) -> bool {
        let c = self.canary_addr();
        c != 0 && !canary_intact(c)
    }
}

/// True if the canary at a canary-mode stack's lowest word (`limit`) is intact.
#[inline]
pub fn canary_intact(limit: usize) -> bool {
    // SAFETY: limit is the mapped, 8-aligned lowest word of a slab stack.
    unsafe { *(limit as *const u64) == CANARY }
}

impl Stack {
    /// Wrap memory the program supplied (`pthread_attr_setstack(attr, addr, size)`).
    ///
    /// # Safety
    /// `addr..addr+size` must be writable memory that outlives the greenlet.
    pub unsafe fn from_user(addr: usize, size: usize) -> Stack {
        let base = (addr + size) & !15;
        let limit = (addr + 15) & !15;
        Stack { base, limit, guard: 0, origin: Origin::User }
    }
}

#[cfg(test)]
mod user_tests {
    use super::*;

    #[test]
    fn user_stacks_have_no_canary() {
        let mut mem = vec![0u64; 4096];
        // SAFETY: the vector outlives the wrapper, which is never run on.
        let s = unsafe { Stack::from_user(mem.as_mut_ptr() as usize, 4096 * 8) };
        assert_eq!(s.canary_addr(), 0);
        assert!(!s.canary_broken());
    }
}

/// Statistics for the summary (`greenshim -c`).
#[derive(Clone, Copy, Debug, Default)]
pub struct StackStats {
    pub allocated: u64,
    pub reused: u64,
}

/// Free lists of stacks by usable size.
pub struct StackPool {
    mode: GuardMode,
    /// (usable size, free stacks of that size). Programs use one or two sizes: a Vec scan beats
    /// a map.
    free: Vec<(usize, Vec<Stack>)>,
    /// Canary mode: the unused tail of the current slab, `[next, end)`.
    slab_next: usize,
    slab_end: usize,
    pub stats: StackStats,
}

/// Bytes per slab in Canary mode.
const SLAB_BYTES: usize = 64 << 20;

impl StackPool {
    pub const fn new(mode: GuardMode) -> Self {
        StackPool { mode, free: Vec::new(), slab_next: 0, slab_end: 0, stats: StackStats { allocated: 0, reused: 0 } }
    }

    pub fn mode(&self) -> GuardMode {
        self.mode
    }

    /// A stack with at least `size` usable bytes (rounded up to whole pages).
    pub fn get(&mut self, size: usize) -> io::Result<Stack> {
        let size = size.max(PAGE).next_multiple_of(PAGE);
        if let Some((_, list)) = self.free.iter_mut().find(|(s, _)| *s == size) {
            if let Some(st) = list.pop() {
                self.stats.reused += 1;
                return Ok(st);
            }
        }
        self.stats.allocated += 1;
        match self.mode {
            GuardMode::Page => Self::map_guarded(size),
            GuardMode::Canary => self.carve(size),
        }
    }

    /// Return a stack whose greenlet has finished.
    pub fn put(&mut self, st: Stack) {
        if st.origin == Origin::User {
            return;
        }
        let size = st.size();
        match self.free.iter_mut().find(|(s, _)| *s == size) {
            Some((_, list)) => list.push(st),
            None => self.free.push((size, vec![st])),
        }
    }

    fn map_guarded(size: usize) -> io::Result<Stack> {
        let total = size + PAGE;
        // SAFETY: anonymous private mapping, no fixed address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the first page lies inside the mapping just made.
        if unsafe { libc::mprotect(p, PAGE, libc::PROT_NONE) } != 0 {
            let e = io::Error::last_os_error();
            // SAFETY: unmapping exactly what we mapped.
            unsafe { libc::munmap(p, total) };
            return Err(e);
        }
        let map = p as usize;
        Ok(Stack { base: map + total, limit: map + PAGE, guard: PAGE, origin: Origin::Mapped })
    }

    fn carve(&mut self, size: usize) -> io::Result<Stack> {
        if self.slab_end - self.slab_next < size {
            let bytes = SLAB_BYTES.max(size);
            // SAFETY: anonymous private mapping, no fixed address.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    bytes,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            self.slab_next = p as usize;
            self.slab_end = p as usize + bytes;
        }
        let limit = self.slab_next;
        self.slab_next += size;
        // SAFETY: limit is the start of a fresh, writable, page-aligned piece of the slab.
        unsafe { *(limit as *mut u64) = CANARY };
        Ok(Stack { base: limit + size, limit, guard: 0, origin: Origin::Slab })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_stacks_are_reused_by_size() {
        let mut pool = StackPool::new(GuardMode::Page);
        let a = pool.get(64 * 1024).unwrap();
        assert_eq!(a.size(), 64 * 1024);
        let a_base = a.base_addr();
        pool.put(a);
        let b = pool.get(64 * 1024 - 100).unwrap();
        assert_eq!(b.base_addr(), a_base, "same size class must reuse the freed stack");
        let c = pool.get(128 * 1024).unwrap();
        assert_ne!(c.base_addr(), a_base);
        assert_eq!(pool.stats.allocated, 2);
        assert_eq!(pool.stats.reused, 1);
    }

    #[test]
    fn guard_page_is_below_limit() {
        let mut pool = StackPool::new(GuardMode::Page);
        let s = pool.get(16 * 1024).unwrap();
        let (lo, hi) = s.guard_range();
        assert_eq!(hi, s.limit_addr());
        assert!(lo < hi);
        assert_eq!(s.base_addr() % 16, 0);
    }

    #[test]
    fn canary_mode_detects_overwrite() {
        let mut pool = StackPool::new(GuardMode::Canary);
        let s = pool.get(16 * 1024).unwrap();
        assert!(!s.canary_broken());
        // SAFETY: writing the lowest word of our own stack memory.
        unsafe { *(s.limit_addr() as *mut u64) = 0 };
        assert!(s.canary_broken());
        let t = pool.get(16 * 1024).unwrap();
        assert_eq!(t.limit_addr(), s.base_addr(), "canary stacks are carved contiguously");
    }
}
