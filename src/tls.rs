//! Per-greenlet thread-local storage: each greenlet gets its own thread control block (TCB),
//! static TLS blocks and DTV, and the hub points the thread pointer (`%fs` base) at them while it
//! runs.
//!
//! # Why
//! Every runtime finds "the current thread" through thread-local storage: glibc (errno, the
//! thread descriptor `THREAD_SELF` that keys its recursive stdio locks, locale, malloc's
//! per-thread cache), C `_Thread_local`, C++ `thread_local` with destructors, Rust's
//! `thread_local!` (its `thread::current()`), the JVM's current `Thread*`. Greenlets that shared
//! the OS thread's block saw each other's values: Rust std aborted at its second spawn.
//!
//! # How
//! glibc lays out a thread's TLS on x86_64 as *variant II*: the static blocks of every module
//! loaded at startup sit right below the TCB (`struct pthread`, whose head is `tcbhead_t`),
//! and `%fs` points at the TCB. The dynamic loader exports (as `GLIBC_PRIVATE`) what nptl uses to
//! build a new thread's: `_dl_allocate_tls` (storage, DTV, initialisation images copied) and
//! `_dl_allocate_tls_init` (the images again, into a reused one). We use them as nptl does,
//! then fill in the TCB header the way `pthread_create` does: self pointers, the stack and
//! pointer guards and CET features copied from the creating thread (so canaries and mangled
//! pointers such as `jmp_buf`s and `atexit` entries stay valid), the OS thread's tid (the
//! kernel checks it for PI and robust futexes), an empty list node (glibc's `fork` moves the
//! forking thread's descriptor onto its lists in the child), and an rseq area marked
//! unregistered (the kernel updates only the OS thread's own; `sched_getcpu` then asks the
//! kernel). Offsets inside `struct pthread` come from the descriptors glibc exports for
//! libthread_db (`_thread_db_pthread_tid`, ...), not from a copy of its headers.
//!
//! A greenlet starts as a new thread does in glibc's `start_thread` (`__ctype_init`), and ends
//! as one does: C++/Rust TLS destructors (`__call_tls_dtors`), then (in the shim) the
//! thread-specific data destructors.
//!
//! # The TCB lives at the top of the greenlet's stack
//! As nptl places a native thread's (`allocate_stack`): `_dl_allocate_tls(tp)` on memory we
//! provide, the TCB at the top of the stack's TLS region ([`crate::stack::Stack::tls_region`]),
//! the static blocks right below it, then this greenlet's resolver state, then (below the TLS
//! region) the greenlet's record ([`crate::greenlet`]) and the stack proper.
//! A heap block (what `_dl_allocate_tls(NULL)` mallocs: 4.3 KiB here, the whole static size,
//! of which about 1.1 KiB is ever written) filled pages of its own; at the top of the stack the
//! static TLS surplus (1.6 KiB reserved for modules `dlopen`ed later, never written unless one
//! needs it) and the resolver state (zero until the resolver is used) stay untouched pages or
//! share the page of the stack's first frames. Fresh stacks are zero memory, so a fresh TCB is
//! not cleared. Only the DTV stays on the heap: glibc `realloc`s it when `dlopen` outgrows it.
//!
//! Stacks the program supplies (`pthread_attr_setstack`), or made before TLS was switched on,
//! have no TLS region: their greenlets get a heap TCB from a pool, as described next.
//!
//! # TCBs are pooled, and glibc's own block travels with the TCB
//! A native thread's exit frees glibc's per-thread malloc cache (`tcache`) and dlerror state
//! through `__libc_thread_freeres`, which glibc does not export. Freeing a TCB would leak them,
//! about 1 KiB per ended greenlet. So a TCB is never freed: it goes back to a pool, and the
//! next greenlet that takes it gets fresh blocks for every module *except libc's*, which it
//! inherits (malloc's cache and arena, the strerror buffer: caches a program cannot observe)
//! after errno, h_errno, the locale and the ctype tables are reset as for a new thread.
//! A TCB in a stack's TLS region is pooled with its stack; when the stack's pages go back to the
//! kernel, libc's block and the DTV pointer are saved first ([`Tls::save`]) and put back when
//! the stack is reused.
//!
//! # Switch cost
//! `wrfsbase` where the kernel enables FSGSBASE (`AT_HWCAP2` bit 1, Linux 5.9+), else the
//! `arch_prctl(ARCH_SET_FS)` system call. Two per switch to a greenlet (in and back to the
//! scheduler on main's block).
//!
//! # Invariants
//! * `%fs` is main's TCB whenever the scheduler runs (on main's stack) and a greenlet's own TCB
//!   whenever its coroutine runs; [`RUNNING_TP`] names it for the shim's hot-path check.
//! * A pooled TCB keeps its DTV (without dynamically allocated blocks); [`Tls::acquire`]
//!   clears it and has `_dl_allocate_tls_init` fill it again, as nptl does for a cached stack.
//!   (Freeing and allocating the DTV per greenlet made glibc consolidate its heap each time:
//!   `calloc` bypasses the per-thread cache that `free` fills.)

use std::ffi::{c_char, c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::stack::{Stack, TlsMem};

/// The thread pointer that is live on the process hub's OS thread right now (main's or the
/// running greenlet's TCB): lets the shim recognise its hub thread with one load. 0 until
/// per-greenlet TLS is on.
pub static RUNNING_TP: AtomicUsize = AtomicUsize::new(0);

// tcbhead_t (sysdeps/x86_64/nptl/tls.h): stable ABI, used by compilers (stack guard at 0x28)
// and by programs (sanitizers depend on its size).
const TCB_SELF: usize = 0x00;
const TCB_DTV: usize = 0x08;
const TCB_SELF2: usize = 0x10;
const TCB_MULTIPLE_THREADS: usize = 0x18; // int
const TCB_SYSINFO: usize = 0x20;
const TCB_STACK_GUARD: usize = 0x28;
const TCB_POINTER_GUARD: usize = 0x30;
const TCB_FEATURE_1: usize = 0x48; // unsigned int
const HWCAP2_FSGSBASE: u64 = 1 << 1;
const ARCH_SET_FS: c_int = 0x1002;
/// `RSEQ_CPU_ID_REGISTRATION_FAILED`: `sched_getcpu` and rseq users fall back to the kernel.
const RSEQ_CPU_UNREGISTERED: i32 = -2;

type AllocateFn = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
/// `_dl_allocate_tls_init(tcb)`; newer glibc versions take a second `bool` (pass true: the
/// blocks are initialised), which the older ABI ignores.
type InitFn = unsafe extern "C" fn(*mut c_void, bool) -> *mut c_void;
type VoidFn = unsafe extern "C" fn();

/// What per-greenlet TLS needs from glibc, found once, and the pool of TCBs.
pub struct Tls {
    allocate: AllocateFn,
    init: InitFn,
    ctype_init: VoidFn,
    call_tls_dtors: VoidFn,
    /// The OS thread's own TCB (main greenlet's, and the scheduler's).
    pub main_tp: usize,
    /// `sizeof(struct pthread)`: zeroed on reuse, as a fresh one is.
    tcb_size: usize,
    /// Alignment of the thread pointer (glibc's static TLS alignment).
    static_align: usize,
    /// Bytes of static TLS below the thread pointer (modules and surplus), rounded to
    /// `static_align`.
    below: usize,
    /// Offset of `struct pthread.tid`.
    tid_off: usize,
    /// Offset of `struct pthread.list` (glibc's list of thread descriptors).
    list_off: usize,
    /// Offset of `robust_head` (`struct robust_list_head`: list, futex_offset, list_op_pending),
    /// found as main's self-pointing word right after `list`, `tid` and `robust_prev`.
    robust_off: Option<usize>,
    /// The OS thread's tid, written into every TCB.
    tid: i32,
    /// Offset of the rseq area's `cpu_id` from the thread pointer, when glibc registers rseq.
    rseq_cpu_off: Option<usize>,
    /// libc's static TLS block: distance below the thread pointer and length (kept across reuse).
    libc_block: Option<(usize, usize)>,
    /// Distance below the thread pointer of glibc's `__resp` (the thread's resolver state, which
    /// `_res` names), found in libc's block as the word holding `&_res` on main: each greenlet
    /// gets a state of its own, as each thread natively (`&pd->res`).
    resp_off: Option<usize>,
    /// `&_res`, main's resolver state (what `__resp` holds in a fresh block). A TCB's own state
    /// (`struct __res_state`, zeroed for every new greenlet) is found through its `__resp`, which
    /// travels with libc's block.
    res_global: usize,
    /// Distance below the thread pointer of the hub's own thread-local hub pointer, when it is
    /// in static TLS (always, when the shim is preloaded): set in every new TCB.
    hub_off: Option<usize>,
    fsgsbase: bool,
    /// Switches publish the live thread pointer in [`RUNNING_TP`] (the process hub's fast-path
    /// check). Off for several hubs (multi-hub): a global written at every switch of two OS
    /// threads would bounce between their cores and name only one of them.
    publish: bool,
    /// TCBs of ended greenlets, ready for reuse.
    pool: Vec<usize>,
    /// TCBs ever allocated (the pool's high-water mark; for the summary).
    pub allocated: u64,
}

/// Look a symbol up in the process's global scope.
unsafe fn sym(name: &[u8]) -> Option<usize> {
    let p = libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr() as *const c_char);
    (!p.is_null()).then_some(p as usize)
}

/// Offset of a `struct pthread` field from glibc's libthread_db descriptor (`{bits, count,
/// offset}`).
unsafe fn db_offset(name: &[u8]) -> Option<usize> {
    let d = sym(name)? as *const u32;
    Some(*d.add(2) as usize)
}

/// The calling thread's thread pointer (`%fs:0`, the TCB's self pointer).
#[inline(always)]
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: on x86_64 Linux %fs:0 holds the thread control block's own address.
    unsafe { std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, readonly, preserves_flags)) };
    tp
}

struct Found {
    libc: Option<(usize, usize)>,
}

unsafe extern "C" fn find_blocks(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
    let f = &mut *(data as *mut Found);
    let i = &*info;
    if i.dlpi_tls_data.is_null() || i.dlpi_name.is_null() {
        return 0;
    }
    let name = std::ffi::CStr::from_ptr(i.dlpi_name).to_bytes();
    let base = name.rsplit(|&c| c == b'/').next().unwrap_or(name);
    if base.starts_with(b"libc.so") {
        for k in 0..i.dlpi_phnum as usize {
            let ph = &*i.dlpi_phdr.add(k);
            if ph.p_type == libc::PT_TLS {
                f.libc = Some((i.dlpi_tls_data as usize, ph.p_memsz as usize));
            }
        }
    }
    0
}

/// What `__resp` holds in a freshly allocated block (glibc's TLS image): `&_res`, the main
/// thread's resolver state, whichever thread asks (on another OS thread, `__res_state()` is
/// that thread's own state). `_res` exists only as a non-default symbol version.
unsafe fn res_image() -> usize {
    let p = libc::dlvsym(libc::RTLD_DEFAULT, c"_res".as_ptr(), c"GLIBC_2.2.5".as_ptr());
    if p.is_null() { __res_state() as usize } else { p as usize }
}

impl Tls {
    /// Find what glibc offers for per-greenlet TLS, on the OS thread whose hub will use it.
    /// `hub_slot` is the address of the hub's thread-local hub pointer in this thread.
    /// `Err` names what is missing.
    ///
    /// # Safety
    /// Called on the hub thread, before any greenlet has its own TCB.
    pub unsafe fn new(hub_slot: usize) -> Result<Tls, &'static str> {
        if !cfg!(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu")) {
            return Err("per-greenlet TLS is implemented for x86_64 glibc only");
        }
        let allocate = sym(b"_dl_allocate_tls\0").ok_or("glibc does not export _dl_allocate_tls")?;
        let init = sym(b"_dl_allocate_tls_init\0").ok_or("glibc does not export _dl_allocate_tls_init")?;
        // The DTV layout nptl itself relies on when it reuses a thread's: 16-byte entries, the
        // value first (libthread_db describes it).
        match (db_offset(b"_thread_db_dtv_t_pointer_val\0"), db_offset(b"_thread_db_dtv_t_counter\0")) {
            (Some(0), Some(0)) => {}
            _ => return Err("glibc's DTV layout is not the expected one"),
        }
        let ctype_init = sym(b"__ctype_init\0").ok_or("glibc does not export __ctype_init")?;
        let call_tls_dtors = sym(b"__call_tls_dtors\0").ok_or("glibc does not export __call_tls_dtors")?;
        let tid_off = db_offset(b"_thread_db_pthread_tid\0").ok_or("glibc does not describe struct pthread (libthread_db symbols)")?;
        let list_off = db_offset(b"_thread_db_pthread_list\0").ok_or("glibc does not describe struct pthread (libthread_db symbols)")?;
        let tcb_size = sym(b"_thread_db_sizeof_pthread\0").map(|d| *(d as *const u32) as usize).ok_or("glibc does not describe struct pthread")?;
        let get_static = sym(b"_dl_get_tls_static_info\0").ok_or("glibc does not export _dl_get_tls_static_info")?;
        let get_static: unsafe extern "C" fn(*mut usize, *mut usize) = std::mem::transmute(get_static);
        let (mut static_size, mut static_align) = (0usize, 0usize);
        get_static(&mut static_size, &mut static_align);
        let main_tp = thread_pointer();
        if tcb_size < 0x80 || !static_align.is_power_of_two() || static_align > 4096 || tid_off + 4 > tcb_size || list_off + 16 > tcb_size || tcb_size > static_size {
            return Err("glibc's struct pthread layout is not the expected one");
        }
        let rseq_cpu_off = match (sym(b"__rseq_offset\0"), sym(b"__rseq_size\0")) {
            (Some(off), Some(size)) if *(size as *const u32) >= 8 => {
                let off = *(off as *const isize);
                // The area is inside struct pthread on glibc 2.35+.
                (off > 0 && (off as usize) + 8 <= tcb_size).then_some(off as usize + 4)
            }
            _ => None,
        };
        // glibc (2.34+) puts `robust_prev` and then `robust_head` right after `list` and the two
        // ids; both point at `robust_head` in a thread that holds no robust mutex (main, here, at
        // the hub's start). Without an empty list, glibc's robust and process-shared robust
        // mutexes crash on the greenlet's descriptor.
        let robust_off = Some(list_off + 32).filter(|&off| {
            off + 24 <= tcb_size && *((main_tp + off) as *const usize) == main_tp + off && *((main_tp + off - 8) as *const usize) == main_tp + off
        });
        let mut found = Found { libc: None };
        libc::dl_iterate_phdr(Some(find_blocks), &mut found as *mut Found as *mut c_void);
        let in_static = |addr: usize| addr < main_tp && main_tp - addr <= static_size;
        let libc_block = found.libc.filter(|&(a, len)| in_static(a) && len <= 4096).map(|(a, len)| (main_tp - a, len));
        let resp_off = libc_block.and_then(|(off, len)| {
            let global = __res_state() as usize; // this thread's (main's `_res`, or its own)
            let words = (0..len / 8).filter(|i| *((main_tp - off + i * 8) as *const usize) == global).collect::<Vec<_>>();
            // Exactly one word may hold it, or the guess is not safe.
            (words.len() == 1).then(|| off - words[0] * 8)
        });
        let hub_off = in_static(hub_slot).then(|| main_tp - hub_slot);
        let fsgsbase = libc::getauxval(libc::AT_HWCAP2) & HWCAP2_FSGSBASE != 0;
        Ok(Tls {
            allocate: std::mem::transmute::<usize, AllocateFn>(allocate),
            init: std::mem::transmute::<usize, InitFn>(init),
            ctype_init: std::mem::transmute::<usize, VoidFn>(ctype_init),
            call_tls_dtors: std::mem::transmute::<usize, VoidFn>(call_tls_dtors),
            main_tp,
            tcb_size,
            static_align: static_align.max(16),
            below: (static_size - tcb_size).next_multiple_of(static_align.max(16)),
            tid_off,
            list_off,
            robust_off,
            tid: *((main_tp + tid_off) as *const i32),
            rseq_cpu_off,
            libc_block,
            resp_off,
            res_global: res_image(),
            hub_off,
            fsgsbase,
            publish: true,
            pool: Vec::new(),
            allocated: 0,
        })
    }

    /// The same set-up for the calling OS thread (another hub's, multi-hub): what `new` found
    /// about glibc holds for every thread (function addresses, `struct pthread` offsets, the
    /// static TLS layout); only the thread's own TCB and tid differ. Unlike `new`, it asks
    /// nothing of the dynamic loader, whose lock the thread that starts hubs may hold.
    ///
    /// # Safety
    /// Called on the thread that will use the result, which glibc set up as a thread.
    pub unsafe fn for_this_thread(&self) -> Tls {
        let main_tp = thread_pointer();
        Tls {
            main_tp,
            tid: *((main_tp + self.tid_off) as *const i32),
            publish: false,
            pool: Vec::new(),
            allocated: 0,
            ..*self
        }
    }

    /// Whether switches publish the live thread pointer (see the field).
    pub fn set_publish(&mut self, on: bool) {
        self.publish = on;
    }

    /// Does switching use `wrfsbase` (else a system call)?
    pub fn uses_fsgsbase(&self) -> bool {
        self.fsgsbase
    }

    /// Bytes of TLS region a stack needs for its greenlet's TCB
    /// ([`StackPool::set_tls_reserve`](crate::stack::StackPool::set_tls_reserve)).
    pub fn stack_reserve(&self) -> usize {
        self.tcb_size.next_multiple_of(self.static_align) + self.below + RES_ROOM
    }

    /// The thread pointer of the TCB in `stack`'s TLS region, if it has room for one.
    fn tp_in(&self, stack: &Stack) -> Option<usize> {
        let (lo, top) = stack.tls_region();
        let tp = top.checked_sub(self.tcb_size)? & !(self.static_align - 1);
        (tp >= lo + self.below + RES_ROOM).then_some(tp)
    }

    /// A TCB for a new greenlet that will run on `stack`, set up as `pthread_create` sets up a
    /// new thread's, with `hub` in its hub slot: in the stack's TLS region if it has one, else
    /// from the heap pool. `None` when memory runs out.
    ///
    /// # Safety
    /// Called on the hub thread; nothing runs on `stack`.
    pub unsafe fn acquire(&mut self, hub: usize, stack: &mut Stack) -> Option<usize> {
        let (tcb, res) = match self.tp_in(stack) {
            Some(tp) => {
                let res = tp - self.below - RES_ROOM;
                match std::mem::take(&mut stack.tls) {
                    TlsMem::Fresh => {
                        // Zero memory, as nptl's fresh stacks: only the DTV is allocated.
                        if (self.allocate)(tp as *mut c_void).is_null() {
                            return None;
                        }
                        self.allocated += 1;
                    }
                    TlsMem::Warm => {
                        self.reuse(tp, *((tp + TCB_DTV) as *const *mut usize), true, None);
                        ptr::write_bytes(res as *mut u8, 0, RES_STATE_SIZE);
                    }
                    TlsMem::Cold(saved) => {
                        // Zero again since the pages went back; what `save` kept goes back in.
                        let dtv = usize::from_ne_bytes(saved[..8].try_into().expect("8 bytes")) as *mut usize;
                        self.reuse(tp, dtv, false, Some(&saved[8..]));
                    }
                }
                stack.tls = TlsMem::Warm;
                (tp, Some(res))
            }
            None => (self.acquire_heap()?, None),
        };
        self.set_up(tcb, hub, res)
    }

    /// A heap TCB: a pooled one, or a new one from `_dl_allocate_tls`.
    unsafe fn acquire_heap(&mut self) -> Option<usize> {
        let tcb = match self.pool.pop() {
            Some(tcb) => {
                self.reuse(tcb, *((tcb + TCB_DTV) as *const *mut usize), true, None);
                tcb
            }
            None => {
                let tcb = (self.allocate)(ptr::null_mut()) as usize;
                if tcb == 0 {
                    return None;
                }
                self.allocated += 1;
                tcb
            }
        };
        Some(tcb)
    }

    /// Set up a used TCB again as nptl reuses a cached thread's: the DTV `dtv` stays (its
    /// dynamic blocks were freed by `release`), cleared, and the static blocks get their images
    /// again. libc's block is kept (see the module docs): the one in place, or `libc`.
    /// `zero_tcb`: the TCB holds its previous greenlet's (not zero memory).
    unsafe fn reuse(&self, tcb: usize, dtv: *mut usize, zero_tcb: bool, libc: Option<&[u8]>) {
        let mut saved = std::mem::MaybeUninit::<[u8; 4096]>::uninit();
        let mut keep = saved.as_mut_ptr() as *const u8;
        match (self.libc_block, libc) {
            (Some((_, len)), Some(b)) if b.len() == len => keep = b.as_ptr(),
            (Some((off, len)), _) => ptr::copy_nonoverlapping((tcb - off) as *const u8, saved.as_mut_ptr() as *mut u8, len),
            (None, _) => {}
        }
        let entries = *dtv.sub(2); // dtv[-1].counter
        ptr::write_bytes(dtv, 0, 2 * (entries + 1));
        if zero_tcb {
            ptr::write_bytes(tcb as *mut u8, 0, self.tcb_size);
        }
        *((tcb + TCB_DTV) as *mut *mut usize) = dtv;
        (self.init)(tcb as *mut c_void, true);
        if let Some((off, len)) = self.libc_block {
            ptr::copy_nonoverlapping(keep, (tcb - off) as *mut u8, len);
        }
    }

    /// Before `stack`'s pages go back to the kernel: keep the DTV pointer and libc's block of
    /// the TCB in its TLS region, for [`Tls::acquire`] to put back.
    ///
    /// # Safety
    /// Called on the hub thread; nothing runs on `stack`.
    pub unsafe fn save(&self, stack: &mut Stack) {
        if !matches!(stack.tls, TlsMem::Warm) {
            return;
        }
        let Some(tp) = self.tp_in(stack) else { return };
        let mut saved = (*((tp + TCB_DTV) as *const usize)).to_ne_bytes().to_vec();
        if let Some((off, len)) = self.libc_block {
            saved.extend_from_slice(std::slice::from_raw_parts((tp - off) as *const u8, len));
        }
        stack.tls = TlsMem::Cold(saved.into_boxed_slice());
    }

    /// Fill in the TCB header and glibc's per-thread pointers as `pthread_create` does. `res`:
    /// where this greenlet's resolver state is (zeroed), else it has one of its own on the heap.
    unsafe fn set_up(&mut self, tcb: usize, hub: usize, res: Option<usize>) -> Option<usize> {
        let w = |off: usize, v: usize| *((tcb + off) as *mut usize) = v;
        let m = |off: usize| *((self.main_tp + off) as *const usize);
        w(TCB_SELF, tcb);
        w(TCB_SELF2, tcb);
        *((tcb + TCB_MULTIPLE_THREADS) as *mut i32) = *((self.main_tp + TCB_MULTIPLE_THREADS) as *const i32);
        w(TCB_SYSINFO, m(TCB_SYSINFO));
        w(TCB_STACK_GUARD, m(TCB_STACK_GUARD));
        w(TCB_POINTER_GUARD, m(TCB_POINTER_GUARD));
        *((tcb + TCB_FEATURE_1) as *mut u32) = *((self.main_tp + TCB_FEATURE_1) as *const u32);
        *((tcb + self.tid_off) as *mut i32) = self.tid;
        // An empty list node: glibc's fork unlinks the forking thread's descriptor from its
        // stack lists in the child (`__reclaim_stacks`), which must work on ours too.
        w(self.list_off, tcb + self.list_off);
        w(self.list_off + 8, tcb + self.list_off);
        // An empty robust list, as pthread_create's (the kernel walks only the OS thread's
        // registered one, main's, when the process dies).
        if let Some(off) = self.robust_off {
            w(off - 8, tcb + off);
            w(off, tcb + off);
            w(off + 8, m(off + 8));
            w(off + 16, 0);
        }
        if let Some(off) = self.rseq_cpu_off {
            *((tcb + off) as *mut i32) = RSEQ_CPU_UNREGISTERED;
        }
        if let (Some(off), Some(res)) = (self.resp_off, res) {
            *((tcb - off) as *mut usize) = res;
        } else if let Some(off) = self.resp_off {
            let cur = *((tcb - off) as *const usize);
            let res = if cur != 0 && cur != self.res_global {
                cur // this TCB's own, from a previous greenlet
            } else {
                let r = libc::malloc(RES_STATE_SIZE) as usize;
                if r == 0 {
                    self.pool.push(tcb);
                    return None;
                }
                r
            };
            ptr::write_bytes(res as *mut u8, 0, RES_STATE_SIZE);
            *((tcb - off) as *mut usize) = res;
        }
        if let Some(off) = self.hub_off {
            *((tcb - off) as *mut usize) = hub;
        }
        debug_assert!(*((tcb + TCB_DTV) as *const usize) != 0);
        Some(tcb)
    }

    /// Take back the TCB of an ended greenlet that ran on `stack`: its dynamically allocated
    /// blocks (modules loaded with `dlopen`) are freed now, the rest waits in the pool (a heap
    /// TCB) or with its stack.
    ///
    /// # Safety
    /// Called on the hub thread with `%fs` not on `tcb`; nothing runs on `tcb` any more.
    pub unsafe fn release(&mut self, tcb: usize, stack: Option<&Stack>) {
        let dtv = *((tcb + TCB_DTV) as *const *mut usize);
        let entries = *dtv.sub(2);
        for i in 1..=entries {
            let to_free = dtv.add(2 * i + 1);
            if *to_free != 0 {
                libc::free(*to_free as *mut c_void);
                *to_free = 0;
                *dtv.add(2 * i) = usize::MAX; // TLS_DTV_UNALLOCATED
            }
        }
        if stack.and_then(|s| self.tp_in(s)) != Some(tcb) {
            self.pool.push(tcb);
        }
    }

    /// First thing a greenlet with its own TCB does (glibc's `start_thread`): per-thread state
    /// a new thread has.
    ///
    /// # Safety
    /// Called on the greenlet's own TCB.
    pub unsafe fn thread_start(&self) {
        *libc::__errno_location() = 0;
        *h_errno_location() = 0;
        // A reused block may carry its previous greenlet's locale.
        // LC_GLOBAL_LOCALE is ((locale_t) -1L).
        let global = usize::MAX as libc::locale_t;
        if libc::uselocale(ptr::null_mut()) != global {
            libc::uselocale(global);
        }
        (self.ctype_init)();
    }

    /// A greenlet with its own TCB is ending: its TLS destructors (C++ `thread_local`, Rust's
    /// `thread_local!`), as at a native thread's end, and its dlerror state.
    ///
    /// # Safety
    /// Called on the ending greenlet's own TCB, before its key destructors.
    pub unsafe fn thread_exit(&self) {
        (self.call_tls_dtors)();
        libc::dlerror();
        if self.resp_off.is_some() {
            // glibc's __res_thread_freeres: the resolver's sockets and buffers.
            let res = __res_state();
            if *((res as *const u8).add(RES_OPTIONS) as *const u64) & RES_INIT != 0 {
                __res_nclose(res);
            }
        }
    }

    /// Point `%fs` at `tp`.
    ///
    /// # Safety
    /// `tp` is a TCB set up by [`Tls::acquire`] or `main_tp`; whatever runs next on this OS
    /// thread uses its TLS.
    #[inline(always)]
    pub unsafe fn set_thread_pointer(&self, tp: usize) {
        if self.publish {
            RUNNING_TP.store(tp, Ordering::Relaxed);
        }
        if self.fsgsbase {
            std::arch::asm!("wrfsbase {}", in(reg) tp, options(nostack, preserves_flags));
        } else {
            // The raw system call (libc's syscall() may be interposed).
            let r: isize;
            std::arch::asm!("syscall", inlateout("rax") libc::SYS_arch_prctl as isize => r,
                in("rdi") ARCH_SET_FS as isize, in("rsi") tp, lateout("rcx") _, lateout("r11") _, options(nostack));
            debug_assert!(r == 0);
        }
    }

    /// In the child of `fork()`: the OS thread has a new tid, and `main_tp` is the TCB the
    /// scheduler runs on there (unchanged: the forking greenlet's suspended loop is main's).
    ///
    /// # Safety
    /// Called once in the child, on the hub thread.
    pub unsafe fn after_fork_child(&mut self) {
        self.tid = crate::sys::raw_syscall(libc::SYS_gettid, [0; 6]) as i32;
        *((self.main_tp + self.tid_off) as *mut i32) = self.tid;
    }
}

extern "C" {
    #[link_name = "__h_errno_location"]
    fn h_errno_location() -> *mut c_int;
    fn __res_state() -> *mut c_void;
    fn __res_nclose(statp: *mut c_void);
}

/// `sizeof(struct __res_state)` and the offset of its `options` on x86_64 glibc.
const RES_STATE_SIZE: usize = 568;
/// Room for it in a stack's TLS region.
const RES_ROOM: usize = RES_STATE_SIZE.next_multiple_of(64);
const RES_OPTIONS: usize = 8;
const RES_INIT: u64 = 1;
