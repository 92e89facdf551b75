//! Scheduling and the OS thread's properties: scheduling parameters, affinity, the CPU-time
//! clock, `sched_yield`.
//!
//! Calls about the OS thread itself (affinity, CPU clock) act on the one OS thread all greenlets
//! share; scheduling parameters of a greenlet are recorded in its `ext[EXT_SCHED]` word.

use std::ffi::c_int;

use gs::hub;
use libc::{pthread_t, size_t};

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

/// Greenlet word in `Greenlet::ext` used here.
const EXT_SCHED: usize = 0; // (policy + 1) << 32 | priority; 0: SCHED_OTHER, 0

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

/// Scheduling parameters of a greenlet are recorded (and validated as the kernel would) but do
/// not change the cooperative order.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_setschedparam(t: pthread_t, policy: c_int, param: *const libc::sched_param) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_setschedparam(t, policy, param) };
    match target(h, t) {
        Target::Native => real_fns::pthread_setschedparam(t, policy, param),
        Target::Gone => libc::ESRCH,
        Target::Greenlet(g) if g == (*h).main() => real_fns::pthread_setschedparam((*h).main_alias() as pthread_t, policy, param),
        Target::Greenlet(g) => {
            let prio = (*param).sched_priority;
            let (lo, hi) = (libc::sched_get_priority_min(policy), libc::sched_get_priority_max(policy));
            if lo < 0 || prio < lo || prio > hi {
                return libc::EINVAL;
            }
            (*g).ext[EXT_SCHED] = ((policy as usize + 1) << 32) | prio as u32 as usize;
            0
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_getschedparam(t: pthread_t, policy: *mut c_int, param: *mut libc::sched_param) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_getschedparam(t, policy, param) };
    match target(h, t) {
        Target::Native => real_fns::pthread_getschedparam(t, policy, param),
        Target::Gone => libc::ESRCH,
        Target::Greenlet(g) if g == (*h).main() => real_fns::pthread_getschedparam((*h).main_alias() as pthread_t, policy, param),
        Target::Greenlet(g) => {
            let v = (*g).ext[EXT_SCHED];
            *policy = if v == 0 { libc::SCHED_OTHER } else { ((v >> 32) - 1) as c_int };
            (*param).sched_priority = (v & 0xffff_ffff) as u32 as c_int;
            0
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_setschedprio(t: pthread_t, prio: c_int) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_setschedprio(t, prio) };
    match target(h, t) {
        Target::Greenlet(g) if g != (*h).main() => {
            let mut policy = 0;
            let mut p: libc::sched_param = std::mem::zeroed();
            pthread_getschedparam(t, &mut policy, &mut p);
            p.sched_priority = prio;
            pthread_setschedparam(t, policy, &p)
        }
        Target::Gone => libc::ESRCH,
        _ => real_fns::pthread_setschedprio(os_thread_of(t).unwrap_or(t), prio),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sched_yield() -> c_int {
    match entry::hub() {
        Some(h) => hook!(h, sched_yield, crate::hook::entry::nonneg, {
            hub::yield_now(h);
            0
        }, |r, e| [], Ret::Int(r as i64, e)),
        None => real_fns::sched_yield(),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_yield() -> c_int {
    sched_yield()
}
