//! Greenlet stacks: carved from slabs, guarded, pooled.
//!
//! A fresh mapping costs microseconds (mmap + mprotect + later munmap), a spawn must cost well
//! under one, so a stack is never unmapped: when its greenlet ends it goes back to a free list of
//! its size class and the next spawn of that size takes it (LIFO, so its pages are still hot).
//! Beyond [`HOT_STACKS`] idle stacks of a size, a stack that goes back returns its pages to the
//! kernel (`MADV_DONTNEED`): 100,000 greenlets that ended keep no memory.
//!
//! Every stack has a guard page below it: an overflow faults on the guard instead of silently
//! corrupting the neighbour, and [`Stack::guard_range`] lets the SIGSEGV handler tell an overflow
//! from any other fault. How the guard is made decides how many stacks fit (`slab.rs`):
//!
//! * **guard regions** (Linux 6.13+, the default where available): stacks are carved from slabs
//!   of about 64 MiB, one mapping each, whose guards are page-table markers installed with one
//!   system call per slab. A slab is one kernel memory area (VMA) whatever it holds, so
//!   `vm.max_map_count` no longer limits the number of greenlets, and a fresh stack costs no
//!   system call.
//! * **mprotect** (older kernels): one mapping per stack with a `PROT_NONE` lowest page, two VMAs
//!   per stack, so the default `vm.max_map_count` (65530) caps them near 32,700 (a slab with
//!   `mprotect`ed guards would split into the same two areas per stack). While the map count
//!   leaves [`MAP_RESERVE`] entries to the program, stacks are made this way; beyond, the pool
//!   carves canary-checked stacks from slabs ([`Guards::Exhausted`], said once in `-c` and the
//!   trace), so that the program keeps running instead of failing `pthread_create`.
//! * **canary** ([`GuardMode::Canary`], `GREENSHIM_STACK_GUARD=canary`): no guard pages; a canary
//!   word at the bottom of each stack is checked when the greenlet switches out or ends.
//!
//! A stack the program supplied itself (`pthread_attr_setstack`) is wrapped without a guard and is
//! never pooled or unmapped: it stays the program's memory.
//!
//! Above its usable range every stack the pool makes has room for its greenlet's record
//! ([`StackPool::set_record_room`]) and, with per-greenlet TLS ([`StackPool::set_tls_reserve`]),
//! a *TLS region* where [`crate::tls`] builds the greenlet's thread control block and static
//! TLS, as glibc does for a native thread's stack: both share pages with the stack's top frames
//! (which are resident anyway) instead of costing heap blocks, and they go back to the pool,
//! warm, with the stack ([`TlsMem`]).

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

/// What a stack's TLS region holds (see [`crate::tls`]).
#[derive(Debug, Default)]
pub enum TlsMem {
    /// Never used: zero memory.
    #[default]
    Fresh,
    /// A TCB was built there and its memory is intact.
    Warm,
    /// A TCB was built there, then the pages went back to the kernel (zero again); what must
    /// survive (saved by [`crate::tls::Tls::save`]) is kept here.
    Cold(Box<[u8]>),
}

/// One greenlet stack. `limit..base` is the usable range; `guard` bytes below `limit` are
/// the guard page (Page mode only); `base..base + record` is room for the greenlet's record and
/// `base + record..top` the TLS region (both empty for stacks the program supplies).
#[derive(Debug)]
pub struct Stack {
    /// Highest address (exclusive), 16-byte aligned: the initial stack pointer.
    base: usize,
    /// End of the TLS region (page-aligned for pool stacks).
    top: usize,
    /// Bytes at `base` for the greenlet's record (0: none).
    record: usize,
    /// The size class: the usable size asked for, rounded to pages (free lists are keyed by it).
    class: usize,
    /// What the TLS region holds.
    pub tls: TlsMem,
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
    /// The TLS region above the usable range and the record's room, `(lo, top)`.
    pub fn tls_region(&self) -> (usize, usize) {
        (self.base + self.record, self.top)
    }
    /// Where the greenlet's record may live, 16-aligned, with the room's size.
    pub fn record_room(&self) -> Option<(usize, usize)> {
        (self.record != 0).then_some((self.base, self.record))
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
        Stack { base, top: base, record: 0, class: 0, tls: TlsMem::Fresh, limit, guard: 0, origin: Origin::User }
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
    /// Idle pooled stacks whose memory went back to the kernel (beyond [`HOT_STACKS`]).
    pub released: u64,
    /// How guard pages are made (see [`Guards`]).
    pub guards: Guards,
    /// Stacks allocated with a guard page before the map count ran out and the pool went on
    /// with canary-checked stacks (0: it never did).
    pub canary_after: u64,
}

/// How Page mode makes guard pages, found at the first stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Guards {
    /// Not known yet (no stack allocated).
    #[default]
    Unknown,
    /// Guard regions in slabs (`MADV_GUARD_INSTALL`): one map entry per slab.
    Regions,
    /// A mapping and an `mprotect` per stack (kernels before 6.13): two map entries each.
    Mprotect,
    /// The map count is used up: canary-checked stacks from slabs from now on.
    Exhausted,
    /// Canary mode was asked for.
    Canary,
}

impl Guards {
    /// For the summary.
    pub fn describe(self) -> &'static str {
        match self {
            Guards::Unknown => "none allocated",
            Guards::Regions => "guard pages (guard regions in slabs)",
            Guards::Mprotect => "guard pages (a mapping and mprotect each)",
            Guards::Exhausted => "guard pages until vm.max_map_count ran short, then canary-checked",
            Guards::Canary => "canary-checked (GREENSHIM_STACK_GUARD=canary)",
        }
    }
}

/// Idle pooled stacks per size kept with their memory: a burst of spawns reuses them without a
/// page fault. Beyond that, a stack that goes back to the pool returns its pages to the kernel
/// (`MADV_DONTNEED`), so that 100,000 ended greenlets do not keep their stacks' memory.
pub const HOT_STACKS: usize = 64;

/// Map entries Page mode leaves to the program when it falls back to `mprotect` guards.
const MAP_RESERVE: usize = 8192;

/// Free stacks of one size: `hot` ones (memory still there) at the back, released ones at the
/// front, so that a spawn takes the hottest.
struct FreeList {
    size: usize,
    stacks: std::collections::VecDeque<Stack>,
    hot: usize,
}

/// The slab stacks of one size are being carved from: `[next, end)` left, guards installed.
struct Carving {
    size: usize,
    next: usize,
    end: usize,
}

/// Free lists of stacks by usable size.
pub struct StackPool {
    mode: GuardMode,
    /// Programs use one or two sizes: a Vec scan beats a map.
    free: Vec<FreeList>,
    /// Page mode with guard regions: the current slab per size.
    carving: Vec<Carving>,
    /// Canary stacks: the unused tail of the current slab, `[next, end)`.
    slab_next: usize,
    slab_end: usize,
    /// Mprotect fallback: stacks mapped that way, and how many may be.
    mapped: usize,
    map_budget: usize,
    /// The switch to canary stacks happened and nobody was told yet.
    notice: bool,
    /// Bytes of TLS region above each new stack's usable range (0: none).
    tls_reserve: usize,
    /// Bytes for the greenlet's record above each new stack's usable range (0: none).
    record_room: usize,
    pub stats: StackStats,
}

/// Bytes per slab in Canary mode.
const SLAB_BYTES: usize = crate::slab::SLAB_BYTES;

impl StackPool {
    pub const fn new(mode: GuardMode) -> Self {
        let guards = match mode {
            GuardMode::Page => Guards::Unknown,
            GuardMode::Canary => Guards::Canary,
        };
        StackPool {
            mode,
            free: Vec::new(),
            carving: Vec::new(),
            slab_next: 0,
            slab_end: 0,
            mapped: 0,
            map_budget: 0,
            notice: false,
            tls_reserve: 0,
            record_room: 0,
            stats: StackStats { allocated: 0, reused: 0, released: 0, guards, canary_after: 0 },
        }
    }

    pub fn mode(&self) -> GuardMode {
        self.mode
    }

    /// Give every stack made from now on a TLS region of `bytes` above its usable range (stacks
    /// made before have none, and their greenlets' TLS goes to the heap).
    pub fn set_tls_reserve(&mut self, bytes: usize) {
        self.tls_reserve = bytes.next_multiple_of(16);
    }

    /// Give every stack made from now on room for a greenlet record of `bytes` above its usable
    /// range, below the TLS region.
    pub fn set_record_room(&mut self, bytes: usize) {
        self.record_room = bytes.next_multiple_of(16);
    }

    /// Bytes a new stack of usable `size` (a page multiple) spans above its guard.
    fn span(&self, size: usize) -> usize {
        size + (self.tls_reserve + self.record_room).next_multiple_of(PAGE)
    }

    /// The stack in `[lo, top)` (page-aligned) of size class `class`: the TLS region at the top,
    /// the record's room below it, the rest usable.
    fn make(&self, lo: usize, top: usize, class: usize, guard: usize, origin: Origin) -> Stack {
        let base = top - self.tls_reserve - self.record_room;
        Stack { base, top, record: self.record_room, class, tls: TlsMem::Fresh, limit: lo, guard, origin }
    }

    /// Once, after Page mode ran out of map entries and went on with canary-checked stacks: the
    /// line to say so (the trace prints it).
    pub fn take_notice(&mut self) -> Option<&'static str> {
        std::mem::take(&mut self.notice).then_some(
            "stacks: vm.max_map_count leaves no room for more guard pages (a kernel without guard regions); new stacks are canary-checked",
        )
    }

    /// A stack with at least `size` usable bytes (rounded up to whole pages).
    pub fn get(&mut self, size: usize) -> io::Result<Stack> {
        let size = size.max(PAGE).next_multiple_of(PAGE);
        if let Some(list) = self.free.iter_mut().find(|l| l.size == size) {
            if let Some(st) = list.stacks.pop_back() {
                list.hot = list.hot.saturating_sub(1);
                self.stats.reused += 1;
                return Ok(st);
            }
        }
        let st = match self.stats.guards {
            Guards::Unknown | Guards::Regions => match self.carve_guarded(size) {
                Some(r) => r,
                None => {
                    self.stats.guards = Guards::Mprotect;
                    self.map_budget = (crate::slab::max_map_count().saturating_sub(MAP_RESERVE)) / 2;
                    self.map_or_canary(size)
                }
            },
            Guards::Mprotect => self.map_or_canary(size),
            Guards::Exhausted | Guards::Canary => self.carve(size),
        }?;
        self.stats.allocated += 1;
        Ok(st)
    }

    /// Return a stack whose greenlet has finished. `save` is called on it before its pages go
    /// back to the kernel (beyond [`HOT_STACKS`]), to keep what its TLS region must not lose.
    pub fn put(&mut self, mut st: Stack, save: impl FnOnce(&mut Stack)) {
        if st.origin == Origin::User {
            return;
        }
        let size = st.class;
        let i = match self.free.iter().position(|l| l.size == size) {
            Some(i) => i,
            None => {
                self.free.push(FreeList { size, stacks: Default::default(), hot: 0 });
                self.free.len() - 1
            }
        };
        let list = &mut self.free[i];
        if list.hot < HOT_STACKS {
            list.hot += 1;
            list.stacks.push_back(st);
        } else {
            // A canary stack keeps its lowest page (the canary word lives there).
            let lo = if st.origin == Origin::Slab { st.limit + PAGE } else { st.limit };
            save(&mut st);
            crate::slab::release(lo, st.top);
            self.stats.released += 1;
            list.stacks.push_front(st);
        }
    }

    /// Page mode with guard regions: the next stack of the current slab of this size. `None` if
    /// the kernel has no guard regions.
    fn carve_guarded(&mut self, size: usize) -> Option<io::Result<Stack>> {
        let stride = self.span(size) + PAGE;
        let i = match self.carving.iter().position(|c| c.size == size) {
            Some(i) if self.carving[i].end - self.carving[i].next >= stride => i,
            found => {
                let count = (SLAB_BYTES / stride).clamp(1, 1024);
                let Some(base) = crate::slab::map(count * stride) else {
                    return Some(Err(io::Error::last_os_error()));
                };
                if !crate::slab::install_guards(base, stride, count) {
                    crate::slab::unmap(base, count * stride);
                    return None;
                }
                self.stats.guards = Guards::Regions;
                let c = Carving { size, next: base, end: base + count * stride };
                match found {
                    Some(i) => {
                        self.carving[i] = c; // the old slab is all handed out
                        i
                    }
                    None => {
                        self.carving.push(c);
                        self.carving.len() - 1
                    }
                }
            }
        };
        let c = &mut self.carving[i];
        let map = c.next;
        c.next += stride;
        Some(Ok(self.make(map + PAGE, map + stride, size, PAGE, Origin::Mapped)))
    }

    /// Mprotect fallback: a guarded mapping while the map count allows, then canary stacks.
    fn map_or_canary(&mut self, size: usize) -> io::Result<Stack> {
        if self.mapped < self.map_budget {
            let st = self.map_guarded(size)?;
            self.mapped += 1;
            return Ok(st);
        }
        self.stats.guards = Guards::Exhausted;
        self.stats.canary_after = self.stats.allocated;
        self.notice = true;
        self.carve(size)
    }

    fn map_guarded(&self, size: usize) -> io::Result<Stack> {
        let total = self.span(size) + PAGE;
        let p = crate::slab::map(total).ok_or_else(io::Error::last_os_error)?;
        // SAFETY: the first page lies inside the mapping just made.
        if unsafe { libc::mprotect(p as *mut libc::c_void, PAGE, libc::PROT_NONE) } != 0 {
            let e = io::Error::last_os_error();
            crate::slab::unmap(p, total);
            return Err(e);
        }
        Ok(self.make(p + PAGE, p + total, size, PAGE, Origin::Mapped))
    }

    fn carve(&mut self, size: usize) -> io::Result<Stack> {
        let span = self.span(size);
        if self.slab_end - self.slab_next < span {
            let bytes = SLAB_BYTES.max(span);
            let p = crate::slab::map(bytes).ok_or_else(io::Error::last_os_error)?;
            self.slab_next = p;
            self.slab_end = p + bytes;
        }
        let limit = self.slab_next;
        self.slab_next += span;
        // SAFETY: limit is the start of a fresh, writable, page-aligned piece of the slab.
        unsafe { *(limit as *mut u64) = CANARY };
        Ok(self.make(limit, limit + span, size, 0, Origin::Slab))
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
        pool.put(a, |_| {});
        let b = pool.get(64 * 1024 - 100).unwrap();
        assert_eq!(b.base_addr(), a_base, "same size class must reuse the freed stack");
        let c = pool.get(128 * 1024).unwrap();
        assert_ne!(c.base_addr(), a_base);
        assert_eq!(pool.stats.allocated, 2);
        assert_eq!(pool.stats.reused, 1);
    }

    #[test]
    fn idle_stacks_beyond_the_hot_ones_are_released_and_taken_last() {
        let mut pool = StackPool::new(GuardMode::Page);
        let stacks: Vec<Stack> = (0..HOT_STACKS + 3).map(|_| pool.get(16 * 1024).unwrap()).collect();
        for s in &stacks {
            // SAFETY: the top word of our own fresh stack.
            unsafe { *((s.base_addr() - 8) as *mut u64) = 7 };
        }
        let bases: Vec<usize> = stacks.iter().map(|s| s.base_addr()).collect();
        for s in stacks {
            pool.put(s, |_| {});
        }
        assert_eq!(pool.stats.released, 3);
        // The hot ones come back first, most recent first, with their contents.
        let first = pool.get(16 * 1024).unwrap();
        assert_eq!(first.base_addr(), bases[HOT_STACKS - 1]);
        // SAFETY: reading our own stack's top word.
        assert_eq!(unsafe { *((first.base_addr() - 8) as *const u64) }, 7);
        let rest: Vec<Stack> = (0..HOT_STACKS + 2).map(|_| pool.get(16 * 1024).unwrap()).collect();
        let released = rest.last().unwrap();
        // SAFETY: reading our own stack's top word: released memory reads as zero.
        assert_eq!(unsafe { *((released.base_addr() - 8) as *const u64) }, 0);
        assert_eq!(pool.stats.allocated, HOT_STACKS as u64 + 3);
    }

    #[test]
    fn without_guard_regions_stacks_turn_canary_when_the_map_budget_is_spent() {
        let mut pool = StackPool::new(GuardMode::Page);
        pool.stats.guards = Guards::Mprotect; // as on a kernel before 6.13
        pool.map_budget = 3;
        let guarded: Vec<Stack> = (0..3).map(|_| pool.get(16 * 1024).unwrap()).collect();
        assert!(guarded.iter().all(|s| s.canary_addr() == 0 && s.guard_range().1 == s.limit_addr()));
        assert_eq!(pool.take_notice(), None);
        let c = pool.get(16 * 1024).unwrap();
        assert_ne!(c.canary_addr(), 0, "beyond the budget: a canary-checked stack");
        assert_eq!(pool.stats.guards, Guards::Exhausted);
        assert_eq!(pool.stats.canary_after, 3);
        assert!(pool.take_notice().is_some());
        assert_eq!(pool.take_notice(), None, "said once");
        let _ = pool.get(16 * 1024).unwrap();
        assert_eq!(pool.take_notice(), None);
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
