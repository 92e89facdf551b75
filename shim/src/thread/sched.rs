//! Scheduling and the OS thread's properties: scheduling policy and priority, affinity, the
//! CPU-time clock, `sched_yield`.
//!
//! # Scheduling policy and priority of a greenlet
//! Natively every thread has two records of its policy and priority, and programs can see both:
//!
//! * the **kernel's** (`sched_getscheduler`/`sched_getparam` of its tid): inherited from the
//!   creating thread through `clone` (with `SCHED_RESET_ON_FORK` resetting a real-time policy),
//!   changed by `sched_setscheduler`, which applies the kernel's checks (EINVAL for a priority
//!   outside the policy's range, EPERM for a real-time policy without `CAP_SYS_NICE` beyond
//!   `RLIMIT_RTPRIO`, for leaving `SCHED_IDLE` beyond `RLIMIT_NICE`, for clearing
//!   `SCHED_RESET_ON_FORK`);
//! * **glibc's cache** in the thread descriptor (`schedpolicy`, `schedparam` and two "valid"
//!   flags), copied from the creator at `pthread_create`, filled from the kernel by
//!   `pthread_getschedparam`, set by `pthread_setschedparam`/`pthread_setschedprio` and by an
//!   attribute with `PTHREAD_EXPLICIT_SCHED`. `pthread_getschedparam` answers from the cache
//!   (stale if the kernel's record changed behind glibc's back), `pthread_getattr_np` copies
//!   the cache even where it was never filled (then it says `SCHED_OTHER`, 0).
//!
//! A greenlet keeps both records in its `ext[EXT_SCHED]` word ([`Sched`]) and every call
//! updates them as glibc and the kernel would, with the kernel's checks made here against the
//! process's real capabilities and limits, so results and errors are those of native threads.
//! The main greenlet is the real thread: calls about it go to glibc and the kernel, and its
//! word only mirrors them (for the greenlets it creates to inherit). `sched_setscheduler`,
//! `sched_setparam`, `sched_getscheduler` and `sched_getparam` with pid 0 in a greenlet act on
//! its kernel record alone, as the system calls do natively.
//!
//! A greenlet's policy is **recorded, not applied**: all greenlets run on one OS thread, in the
//! hub's FIFO order, whatever their priorities (a priority run queue would make every switch
//! pay for an order that native threads do not promise on several cores either). The OS
//! thread's own policy is the main thread's: `pthread_setschedparam` on main changes it for all.
//!
//! Calls about the OS thread itself (affinity, CPU clock) act on the one OS thread all greenlets
//! share.

use std::ffi::c_int;

use gs::hub::{self, Greenlet, Hub};
use libc::{pthread_attr_t, pthread_t, size_t};

use crate::hook::entry::{self, any_hub};
use crate::thread::lifecycle::{target, Target};

mod real_fns {
    use super::*;
    real! {
    fn pthread_getcpuclockid(t: pthread_t, clk: *mut libc::clockid_t) -> c_int;
    fn pthread_setaffinity_np(t: pthread_t, size: size_t, set: *const libc::cpu_set_t) -> c_int;
    fn pthread_getaffinity_np(t: pthread_t, size: size_t, set: *mut libc::cpu_set_t) -> c_int;
    fn pthread_setschedparam(t: pthread_t, policy: c_int, param: *const libc::sched_param) -> c_int;
    fn pthread_getschedparam(t: pthread_t, policy: *mut c_int, param: *mut libc::sched_param) -> c_int;
    fn pthread_setschedprio(t: pthread_t, prio: c_int) -> c_int;
    fn sched_yield() -> c_int;
    }
}

/// Greenlet word in `Greenlet::ext` used here (see [`Sched`]).
const EXT_SCHED: usize = 0;

/// glibc's thread and attribute flags (`nptl/internaltypes.h`) kept in the scheduling cache.
const ATTR_FLAG_NOTINHERITSCHED: c_int = 0x0002;
const ATTR_FLAG_SCHED_SET: c_int = 0x0020;
const ATTR_FLAG_POLICY_SET: c_int = 0x0040;
const CACHE_FLAGS: c_int = ATTR_FLAG_NOTINHERITSCHED | ATTR_FLAG_SCHED_SET | ATTR_FLAG_POLICY_SET;

/// The kernel's flag ORed into a policy (`sched_setscheduler`, `sched_getscheduler`).
const RESET_ON_FORK: c_int = 0x4000_0000;

/// The head of glibc's `struct pthread_attr` (`nptl/internaltypes.h`, unchanged since 2.3):
/// `pthread_attr_getschedpolicy` & co. read these fields, and `pthread_create` reads the flags
/// to tell a policy or priority that was set from the default one. glibc's setters accept only
/// `SCHED_OTHER`/`FIFO`/`RR`, so `pthread_getattr_np` writes the fields itself (a thread may be
/// `SCHED_BATCH`).
#[repr(C)]
struct GlibcAttr {
    schedparam: c_int,
    schedpolicy: c_int,
    flags: c_int,
}

const _: () = assert!(std::mem::size_of::<GlibcAttr>() <= std::mem::size_of::<pthread_attr_t>());

/// A greenlet's two scheduling records, packed into its `ext[EXT_SCHED]` word. The all-zero
/// word is a new thread's default: `SCHED_OTHER`, priority 0, nothing cached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sched {
    /// Kernel: policy (without `RESET_ON_FORK`), priority, reset-on-fork flag.
    kpolicy: c_int,
    kprio: c_int,
    reset: bool,
    /// Main only: the kernel fields hold the real thread's values (reloaded after a change).
    known: bool,
    /// glibc's cache: policy as given (may carry `RESET_ON_FORK`), priority, and the flags
    /// `SCHED_SET`, `POLICY_SET` (cache valid) and `NOTINHERITSCHED` (created explicit).
    cpolicy: c_int,
    cprio: c_int,
    flags: c_int,
}

impl Sched {
    // Layout: bits 0-7 kernel policy, 8-15 kernel priority, 16 reset-on-fork, 17 known,
    // 24-30 cached policy and 31 its RESET_ON_FORK, 32-39 cached priority, 40-47 flags.
    // Policies are below 128 and priorities 0..=99: both are checked before they are stored.
    fn unpack(w: usize) -> Sched {
        let w = w as u64;
        let b = |s: u32| ((w >> s) & 0xff) as c_int;
        Sched {
            kpolicy: b(0),
            kprio: b(8),
            reset: w & (1 << 16) != 0,
            known: w & (1 << 17) != 0,
            cpolicy: (b(24) & 0x7f) | if w & (1 << 31) != 0 { RESET_ON_FORK } else { 0 },
            cprio: b(32),
            flags: b(40),
        }
    }

    fn pack(self) -> usize {
        let b = |v: c_int| (v as u64) & 0xff;
        (b(self.kpolicy)
            | b(self.kprio) << 8
            | (self.reset as u64) << 16
            | (self.known as u64) << 17
            | b(self.cpolicy & 0x7f) << 24
            | ((self.cpolicy & RESET_ON_FORK != 0) as u64) << 31
            | b(self.cprio) << 32
            | b(self.flags & CACHE_FLAGS) << 40) as usize
    }

    /// What `sched_getscheduler` says.
    fn kernel_policy(&self) -> c_int {
        self.kpolicy | if self.reset { RESET_ON_FORK } else { 0 }
    }

    /// glibc's `pthread_getschedparam`: fill what the cache lacks from the kernel's record.
    fn fill_cache(&mut self) {
        if self.flags & ATTR_FLAG_SCHED_SET == 0 {
            self.cprio = self.kprio;
            self.flags |= ATTR_FLAG_SCHED_SET;
        }
        if self.flags & ATTR_FLAG_POLICY_SET == 0 {
            self.cpolicy = self.kernel_policy();
            self.flags |= ATTR_FLAG_POLICY_SET;
        }
    }
}

fn is_rt(policy: c_int) -> bool {
    policy == libc::SCHED_FIFO || policy == libc::SCHED_RR
}

/// Whether the calling OS thread has `CAP_SYS_NICE` in its effective set.
fn cap_sys_nice() -> bool {
    const CAP_SYS_NICE: u32 = 23;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header { version: 0x2008_0522, pid: 0 }; // _LINUX_CAPABILITY_VERSION_3
    let mut d = [Data::default(); 2];
    // SAFETY: capget writes two Data records for version 3; both point to live locals.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()) };
    r == 0 && d[0].effective & (1 << CAP_SYS_NICE) != 0
}

/// The soft limit of `resource`.
fn rlimit_cur(resource: libc::__rlimit_resource_t) -> u64 {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: rl is a live local.
    unsafe { libc::getrlimit(resource, &mut rl) };
    rl.rlim_cur
}

/// The kernel's `sched_setscheduler` (`policy` given) or `sched_setparam` (`None`) on a thread
/// whose kernel record is `k`, checked as `__sched_setscheduler` and
/// `user_check_sched_setscheduler` check it: `Ok` with the new record, or the errno.
fn kernel_set(k: Sched, policy: Option<c_int>, prio: c_int) -> Result<Sched, c_int> {
    let (pol, reset) = match policy {
        None => (k.kpolicy, k.reset),
        Some(p) if p < 0 => return Err(libc::EINVAL),
        Some(p) => {
            let p2 = p & !RESET_ON_FORK;
            // The kernel's own list of policies (SCHED_EXT exists only in some kernels).
            // SAFETY: a plain system call.
            if unsafe { libc::sched_get_priority_max(p2) } < 0 {
                return Err(libc::EINVAL);
            }
            (p2, p & RESET_ON_FORK != 0)
        }
    };
    // sched_priority is unsigned in the kernel: a negative one is out of range.
    if prio as u32 > 99 || pol == libc::SCHED_DEADLINE || is_rt(pol) != (prio != 0) {
        // SCHED_DEADLINE needs sched_setattr's parameters: zero ones are invalid.
        return Err(libc::EINVAL);
    }
    if !cap_sys_nice() {
        if is_rt(pol) {
            let rlim = rlimit_cur(libc::RLIMIT_RTPRIO);
            let cur = if is_rt(k.kpolicy) { k.kprio } else { 0 };
            if (pol != k.kpolicy && rlim == 0) || (prio > cur && prio as u64 > rlim) {
                return Err(libc::EPERM);
            }
        }
        if k.kpolicy == libc::SCHED_IDLE && pol != libc::SCHED_IDLE {
            // Leaving SCHED_IDLE counts as lowering the nice value to the current one.
            // SAFETY: plain calls; PRIO_PROCESS 0 is the calling thread (greenlets share it).
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            if (20 - nice) as u64 > rlimit_cur(libc::RLIMIT_NICE) {
                return Err(libc::EPERM);
            }
        }
        if k.reset && !reset {
            return Err(libc::EPERM);
        }
    }
    Ok(Sched { kpolicy: pol, kprio: prio, reset, ..k })
}

/// The records of `g`; for main, with the real thread's kernel values loaded.
unsafe fn load(h: *mut Hub, g: *mut Greenlet) -> Sched {
    let mut s = Sched::unpack((*g).ext[EXT_SCHED]);
    if g == (*h).main() && !s.known {
        let mut p = libc::sched_param { sched_priority: 0 };
        let pol = libc::syscall(libc::SYS_sched_getscheduler, 0) as c_int;
        libc::syscall(libc::SYS_sched_getparam, 0, &mut p as *mut libc::sched_param);
        if pol >= 0 {
            s.kpolicy = pol & !RESET_ON_FORK;
            s.reset = pol & RESET_ON_FORK != 0;
            s.kprio = p.sched_priority;
        }
        s.known = true;
        (*g).ext[EXT_SCHED] = s.pack();
    }
    s
}

unsafe fn store(g: *mut Greenlet, s: Sched) {
    (*g).ext[EXT_SCHED] = s.pack();
}

/// The scheduling records of a thread the running greenlet creates with `attr`, or the error
/// `pthread_create` returns natively (EPERM, EINVAL from the kernel's check of an explicit
/// policy). Mirrors glibc's `pthread_create`/`collect_default_sched`/`create_thread`.
#[inline]
pub(crate) unsafe fn for_new_thread(h: *mut Hub, attr: *const pthread_attr_t) -> Result<usize, c_int> {
    const KNOWN: usize = 1 << 17;
    const RESET: usize = 1 << 16;
    const NOTINHERIT: usize = (ATTR_FLAG_NOTINHERITSCHED as usize) << 40;
    let cur = (*h).current();
    let w = (*cur).ext[EXT_SCHED];
    if (attr.is_null() || (*(attr as *const GlibcAttr)).flags & ATTR_FLAG_NOTINHERITSCHED == 0)
        && w & RESET == 0
        && (w & KNOWN != 0 || cur != (*h).main())
    {
        // The common case, inherited as is: the creator's records, minus main's "known" mark
        // and the creator's own "created explicit" flag.
        return Ok(w & !(KNOWN | NOTINHERIT));
    }
    new_thread_slow(h, attr)
}

#[inline(never)]
unsafe fn new_thread_slow(h: *mut Hub, attr: *const pthread_attr_t) -> Result<usize, c_int> {
    let parent = load(h, (*h).current());
    // The kernel's record, through clone.
    let mut c = Sched { kpolicy: parent.kpolicy, kprio: parent.kprio, ..Sched::default() };
    if parent.reset && (is_rt(c.kpolicy) || c.kpolicy == libc::SCHED_DEADLINE) {
        c.kpolicy = libc::SCHED_OTHER;
        c.kprio = 0;
    }
    // glibc's cache, copied from the creator's (valid or not).
    c.cpolicy = parent.cpolicy;
    c.cprio = parent.cprio;
    let a = attr as *const GlibcAttr;
    let aflags = if attr.is_null() { 0 } else { (*a).flags };
    c.flags = (aflags & ATTR_FLAG_NOTINHERITSCHED) | (parent.flags & (ATTR_FLAG_SCHED_SET | ATTR_FLAG_POLICY_SET));
    if aflags & ATTR_FLAG_NOTINHERITSCHED != 0 {
        if aflags & (ATTR_FLAG_SCHED_SET | ATTR_FLAG_POLICY_SET) != 0 {
            if aflags & ATTR_FLAG_POLICY_SET != 0 {
                c.cpolicy = (*a).schedpolicy;
                c.flags |= ATTR_FLAG_POLICY_SET;
            }
            if aflags & ATTR_FLAG_SCHED_SET != 0 {
                c.cprio = (*a).schedparam;
                c.flags |= ATTR_FLAG_SCHED_SET;
            }
            // collect_default_sched: the rest from the creator's kernel record.
            if c.flags & ATTR_FLAG_POLICY_SET == 0 {
                c.cpolicy = parent.kernel_policy();
                c.flags |= ATTR_FLAG_POLICY_SET;
            }
            if c.flags & ATTR_FLAG_SCHED_SET == 0 {
                c.cprio = parent.kprio;
                c.flags |= ATTR_FLAG_SCHED_SET;
            }
        }
        // create_thread: sched_setscheduler(new tid, pd->schedpolicy, &pd->schedparam).
        c = kernel_set(c, Some(c.cpolicy), c.cprio)?;
    }
    Ok(c.pack())
}

/// Give a greenlet just spawned the records [`for_new_thread`] computed.
pub(crate) unsafe fn set_new_thread(g: *mut Greenlet, word: usize) {
    (*g).ext[EXT_SCHED] = word;
}

/// `pthread_getattr_np` of a greenlet other than main: glibc copies the descriptor's cache.
pub(crate) unsafe fn fill_attr(g: *mut Greenlet, attr: *mut pthread_attr_t) {
    let s = Sched::unpack((*g).ext[EXT_SCHED]);
    let a = attr as *mut GlibcAttr;
    (*a).schedparam = s.cprio;
    (*a).schedpolicy = s.cpolicy;
    (*a).flags |= s.flags & CACHE_FLAGS;
}

/// Map a greenlet id onto the real main thread for calls about the OS thread itself.
unsafe fn os_thread_of(t: pthread_t) -> Result<pthread_t, c_int> {
    let Some(h) = any_hub() else { return Ok(t) };
    match target(h, t) {
        Target::Native => Ok(t),
        Target::Gone => Err(libc::ESRCH),
        Target::Greenlet(_) => Ok((*h).main_alias() as pthread_t),
    }
}

/// A greenlet's CPU-time clock is that of the OS thread all greenlets share.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_getcpuclockid(t: pthread_t, clk: *mut libc::clockid_t) -> c_int {
    match os_thread_of(t) {
        Ok(r) => real_fns::pthread_getcpuclockid(r, clk),
        Err(e) => e,
    }
}

/// Affinity is a property of the OS thread all greenlets share.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_setaffinity_np(t: pthread_t, size: size_t, set: *const libc::cpu_set_t) -> c_int {
    match os_thread_of(t) {
        Ok(r) => real_fns::pthread_setaffinity_np(r, size, set),
        Err(e) => e,
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_getaffinity_np(t: pthread_t, size: size_t, set: *mut libc::cpu_set_t) -> c_int {
    match os_thread_of(t) {
        Ok(r) => real_fns::pthread_getaffinity_np(r, size, set),
        Err(e) => e,
    }
}

/// What a scheduling call names: a greenlet other than main (`Ok`), or the real thread
/// (`None`, with the `pthread_t` glibc knows it by), or nothing (`Err(ESRCH)`).
unsafe fn sched_target(h: *mut Hub, t: pthread_t) -> Result<*mut Greenlet, (pthread_t, c_int)> {
    match target(h, t) {
        Target::Native => Err((t, 0)),
        Target::Gone => Err((t, libc::ESRCH)),
        Target::Greenlet(g) if g == (*h).main() => Err(((*h).main_alias() as pthread_t, 0)),
        Target::Greenlet(g) => Ok(g),
    }
}

/// The record of main after a call glibc answered for it: the kernel's part is reloaded when
/// next needed; `cache` updates glibc's cache as the call did.
unsafe fn main_changed(h: *mut Hub, t: pthread_t, cache: impl FnOnce(&mut Sched)) {
    let main = (*h).main();
    if (*h).lookup(t as u64) == Some(main) {
        let mut s = Sched::unpack((*main).ext[EXT_SCHED]);
        s.known = false;
        cache(&mut s);
        store(main, s);
    }
}

/// Scheduling parameters of a greenlet are checked as the kernel checks them and recorded
/// (see the module documentation); they do not change the cooperative order.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_setschedparam(t: pthread_t, policy: c_int, param: *const libc::sched_param) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_setschedparam(t, policy, param) };
    match sched_target(h, t) {
        Err((_, e)) if e != 0 => e,
        Err((rt, _)) => {
            let r = real_fns::pthread_setschedparam(rt, policy, param);
            if r == 0 {
                let prio = (*param).sched_priority;
                main_changed(h, t, |s| {
                    s.cpolicy = policy;
                    s.cprio = prio;
                    s.flags |= ATTR_FLAG_SCHED_SET | ATTR_FLAG_POLICY_SET;
                });
            }
            r
        }
        Ok(g) => {
            if param.is_null() {
                return libc::EINVAL; // the kernel's answer to a null parameter
            }
            let prio = (*param).sched_priority;
            match kernel_set(load(h, g), Some(policy), prio) {
                Err(e) => e,
                Ok(mut s) => {
                    s.cpolicy = policy;
                    s.cprio = prio;
                    s.flags |= ATTR_FLAG_SCHED_SET | ATTR_FLAG_POLICY_SET;
                    store(g, s);
                    0
                }
            }
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_getschedparam(t: pthread_t, policy: *mut c_int, param: *mut libc::sched_param) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_getschedparam(t, policy, param) };
    match sched_target(h, t) {
        Err((_, e)) if e != 0 => e,
        Err((rt, _)) => {
            let r = real_fns::pthread_getschedparam(rt, policy, param);
            if r == 0 {
                let (pol, prio) = (*policy, (*param).sched_priority);
                main_changed(h, t, |s| {
                    s.cpolicy = pol;
                    s.cprio = prio;
                    s.flags |= ATTR_FLAG_SCHED_SET | ATTR_FLAG_POLICY_SET;
                });
            }
            r
        }
        Ok(g) => {
            let mut s = load(h, g);
            s.fill_cache();
            store(g, s);
            *policy = s.cpolicy;
            (*param).sched_priority = s.cprio;
            0
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_setschedprio(t: pthread_t, prio: c_int) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_setschedprio(t, prio) };
    match sched_target(h, t) {
        Err((_, e)) if e != 0 => e,
        Err((rt, _)) => {
            let r = real_fns::pthread_setschedprio(rt, prio);
            if r == 0 {
                main_changed(h, t, |s| {
                    s.cprio = prio;
                    s.flags |= ATTR_FLAG_SCHED_SET;
                });
            }
            r
        }
        Ok(g) => {
            // sched_setparam: the policy stays; glibc caches only the priority.
            match kernel_set(load(h, g), None, prio) {
                Err(e) => e,
                Ok(mut s) => {
                    s.cprio = prio;
                    s.flags |= ATTR_FLAG_SCHED_SET;
                    store(g, s);
                    0
                }
            }
        }
    }
}

/// Let every other runnable greenlet run once. With none runnable the kernel's `sched_yield`
/// runs too, so that other processes (and threads outside the hub) get the CPU as natively;
/// the hub then looks for fd and timer events that arrived meanwhile.
#[no_mangle]
pub unsafe extern "C-unwind" fn sched_yield() -> c_int {
    match entry::hub() {
        Some(h) => hook!(h, sched_yield, crate::hook::entry::nonneg, {
            if (*h).runnable() == 0 {
                real_fns::sched_yield();
            }
            hub::point_yield(h);
            0
        }, |r, e| [], Ret::Int(r as i64, e)),
        None => real_fns::sched_yield(),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_yield() -> c_int {
    sched_yield()
}

/// The running greenlet if it is not main (calls about "the calling thread", pid 0, then mean
/// its own records; main's are the real thread's).
unsafe fn self_greenlet() -> Option<(*mut Hub, *mut Greenlet)> {
    let h = any_hub()?;
    let g = (*h).current();
    (g != (*h).main()).then_some((h, g))
}

/// -1 with errno `e` (the libc convention of the `sched_*` calls).
unsafe fn fail(e: c_int) -> c_int {
    *libc::__errno_location() = e;
    -1
}

/// `sched_setscheduler(0, ..)` in a greenlet changes its kernel record only (glibc's cache, read
/// by `pthread_getschedparam`, stays as it was, as natively).
#[no_mangle]
pub unsafe extern "C" fn sched_setscheduler(pid: libc::pid_t, policy: c_int, param: *const libc::sched_param) -> c_int {
    let Some((h, g)) = (if pid == 0 { self_greenlet() } else { None }) else {
        let r = libc::syscall(libc::SYS_sched_setscheduler, pid, policy, param) as c_int;
        if r == 0 && pid == 0 {
            main_kernel_changed();
        }
        return r;
    };
    if policy < 0 || param.is_null() {
        return fail(libc::EINVAL);
    }
    match kernel_set(load(h, g), Some(policy), (*param).sched_priority) {
        Ok(s) => {
            store(g, s);
            0
        }
        Err(e) => fail(e),
    }
}

#[no_mangle]
pub unsafe extern "C" fn sched_setparam(pid: libc::pid_t, param: *const libc::sched_param) -> c_int {
    let Some((h, g)) = (if pid == 0 { self_greenlet() } else { None }) else {
        let r = libc::syscall(libc::SYS_sched_setparam, pid, param) as c_int;
        if r == 0 && pid == 0 {
            main_kernel_changed();
        }
        return r;
    };
    if param.is_null() {
        return fail(libc::EINVAL);
    }
    match kernel_set(load(h, g), None, (*param).sched_priority) {
        Ok(s) => {
            store(g, s);
            0
        }
        Err(e) => fail(e),
    }
}

#[no_mangle]
pub unsafe extern "C" fn sched_getscheduler(pid: libc::pid_t) -> c_int {
    match if pid == 0 { self_greenlet() } else { None } {
        Some((h, g)) => load(h, g).kernel_policy(),
        None => libc::syscall(libc::SYS_sched_getscheduler, pid) as c_int,
    }
}

#[no_mangle]
pub unsafe extern "C" fn sched_getparam(pid: libc::pid_t, param: *mut libc::sched_param) -> c_int {
    match if pid == 0 { self_greenlet() } else { None } {
        Some(_) if param.is_null() => fail(libc::EINVAL),
        Some((h, g)) => {
            (*param).sched_priority = load(h, g).kprio;
            0
        }
        None => libc::syscall(libc::SYS_sched_getparam, pid, param) as c_int,
    }
}

/// Main's kernel record changed behind glibc (a raw `sched_set*` from main): reload it when next
/// needed.
unsafe fn main_kernel_changed() {
    if let Some(h) = any_hub() {
        let main = (*h).main();
        if (*h).current() == main {
            let mut s = Sched::unpack((*main).ext[EXT_SCHED]);
            s.known = false;
            store(main, s);
        }
    }
}
