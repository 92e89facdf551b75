//! Signals aimed at greenlets: `pthread_kill`, `pthread_sigqueue`.

use std::ffi::c_int;

use gs::hub::{Greenlet, Hub, State};
use libc::pthread_t;

use crate::hook::entry::any_hub;
use crate::thread::lifecycle::{target, Target};

mod real_fns {
    use super::*;
    real! {
    fn pthread_kill(t: pthread_t, sig: c_int) -> c_int;
    fn pthread_sigqueue(t: pthread_t, sig: c_int, val: libc::sigval) -> c_int;
    }
}

/// True if delivering `sig` now would run a handler (so a blocking call would see EINTR).
unsafe fn would_interrupt(sig: c_int) -> bool {
    let mut old: libc::sigaction = std::mem::zeroed();
    if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
        return false;
    }
    let mut mask: libc::sigset_t = std::mem::zeroed();
    libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
    old.sa_sigaction != libc::SIG_IGN && old.sa_sigaction != libc::SIG_DFL && libc::sigismember(&mask, sig) == 0
}

/// Send `sig` to greenlet `g`: the signal goes to the OS thread all greenlets share (its handler
/// runs there), and `g`, if parked in an interruptible call, sees EINTR.
unsafe fn signal_greenlet(h: *mut Hub, g: *mut Greenlet, sig: c_int, send: impl FnOnce(pthread_t) -> c_int) -> c_int {
    if !(0..=64).contains(&sig) {
        return libc::EINVAL;
    }
    if sig == 0 || (*g).state == State::Dead {
        return 0; // glibc: a joinable thread that ended still accepts signals, as a no-op
    }
    (*h).signal_target = (*g).id;
    let r = send((*h).main_alias() as pthread_t);
    (*h).signal_target = 0;
    if r == 0 && g != (*h).current() && would_interrupt(sig) {
        (*h).interrupt_greenlet(g);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn pthread_kill(t: pthread_t, sig: c_int) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_kill(t, sig) };
    match target(h, t) {
        Target::Native => real_fns::pthread_kill(t, sig),
        Target::Gone => libc::ESRCH,
        Target::Greenlet(g) => signal_greenlet(h, g, sig, |real| real_fns::pthread_kill(real, sig)),
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_sigqueue(t: pthread_t, sig: c_int, val: libc::sigval) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_sigqueue(t, sig, val) };
    match target(h, t) {
        Target::Native => real_fns::pthread_sigqueue(t, sig, val),
        Target::Gone => libc::ESRCH,
        Target::Greenlet(g) => signal_greenlet(h, g, sig, |real| real_fns::pthread_sigqueue(real, sig, val)),
    }
}

