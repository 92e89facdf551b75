//! Readiness waits park only the caller: `poll`, `ppoll`, `select`, `pselect`, `epoll_wait`,
//! `epoll_pwait`, `epoll_pwait2`, and the fortify variants `__poll_chk`, `__ppoll_chk`.
//!
//! # How
//! 1. **Fast path**: the real call once, without waiting (timeout 0; the program's own sigmask
//!    for the `p` variants). If it reports anything — ready fds, an error (EINVAL, EFAULT, EBADF,
//!    EINTR for a pending signal the sigmask lets through) — or the program's timeout is 0, that
//!    is the answer, exactly as the kernel gave it (revents, counts, fd_set contents, errno).
//!    A zero-timeout call that finds nothing lets the other runnable greenlets run once first,
//!    so that busy-polling loops cannot starve the greenlet they wait for.
//! 2. **Park**: every fd of interest is handed to [`hub::wait_fds`] (read-side events —
//!    `POLLIN`/`POLLPRI`/`POLLRDHUP`, select's read and except sets — as [`Interest::Read`],
//!    `POLLOUT`/the write set as [`Interest::Write`], an fd with neither as Read so that
//!    `POLLHUP`/`POLLERR` still wake it). For `epoll_wait` on the program's own epoll instance
//!    the hub watches that epoll fd for reading: it is readable while it has events.
//! 3. **Retry**: after a wakeup the real non-blocking call runs again and its answer is returned
//!    if it has one; a spurious wakeup parks again until the deadline. At the deadline one last
//!    non-blocking call decides between its answer and 0.
//!
//! A wakeup because another greenlet closed a watched fd ([`Wake::Closed`]) is a retry like any
//! other: the real call then reports `POLLNVAL` or EBADF, as it would on a closed fd.
//!
//! # Native semantics kept
//! * Timeouts: `poll`/`epoll_wait`/`epoll_pwait` in ms (negative: infinite), `ppoll`/`pselect`/
//!   `epoll_pwait2` a `timespec` (NULL: infinite; a negative or out-of-range one: EINVAL before
//!   anything else, as the kernel checks it first), `select` a `timeval`, normalised like the
//!   kernel does (`tv_usec` of 1.5 s is fine, a negative result is EINVAL). The deadline is taken
//!   at entry, on CLOCK_MONOTONIC.
//! * `select` writes the unslept time back into its `timeval` on every return (ready, timeout,
//!   EINTR, errors), except for a zero timeout, as Linux does; `ppoll`/`pselect` leave theirs
//!   alone (glibc's wrappers hide the kernel's update). On timeout select's sets are cleared; on
//!   EINTR they are left as the program passed them (the kernel writes them only on success).
//! * A signal whose handler runs while the caller is parked ([`Wake::Interrupted`]) gives
//!   -1/EINTR; these calls are never restarted, even with `SA_RESTART`. They are cancellation
//!   points.
//!
//! # Sigmasks (`ppoll`, `pselect`, `epoll_pwait`, `epoll_pwait2`)
//! Natively the mask is swapped in for the duration of the call. Here it becomes the calling
//! greenlet's own mask for the call (`signal::TempMask`; masks are per greenlet, see
//! `thread::signal`), and the real calls get none. A signal the call's mask lets through that
//! is pending at entry, or arrives while it is parked, ends it with EINTR after its handler
//! ran under that mask, as natively; the previous mask comes back afterwards. So the "wait for
//! a signal" idiom (block a signal, let it through only in `pselect`) works, for the greenlet
//! that uses it only.
//!
//! # Limits
//! * fds the hub cannot watch: regular files and others without poll support (EPERM from
//!   epoll) are always ready for reading and writing, so the fast path already returned them;
//!   they are dropped from the watch list (they can never change). An fd the kernel ignored
//!   (EBADF for epoll: a `select` bit beyond the fd table) is dropped too. Any other failure to
//!   watch (ENOMEM, ENOSPC from `max_user_watches`, ELOOP for deeply nested epoll instances)
//!   makes the call fall back to the real blocking call for the remaining time: correct, but it
//!   blocks every greenlet meanwhile.
//! * `select` reads at most `max(FD_SETSIZE, RLIMIT_NOFILE)` bits of each set for the park (no
//!   open fd lies above), so a huge `nfds` with small sets is safe.
//! * An unreadable timeout pointer crashes where the kernel would return EFAULT (the timeout is
//!   read in the shim to validate it first).

use std::ffi::c_int;

use gs::hub::{self, Hub, Wake};
use gs::reactor::Interest;
use gs::sys;
use libc::{epoll_event, fd_set, nfds_t, pollfd, sigset_t, timespec, timeval};

use crate::hook::{entry, umem};
use crate::thread::cancel::testcancel;

mod real_fns {
    use super::*;
    real! {
        fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int;
        fn ppoll(fds: *mut pollfd, nfds: nfds_t, tmo: *const timespec, mask: *const sigset_t) -> c_int;
        fn select(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, tv: *mut timeval) -> c_int;
        fn pselect(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, ts: *const timespec, mask: *const sigset_t) -> c_int;
        fn epoll_wait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int) -> c_int;
        fn epoll_pwait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int, mask: *const sigset_t) -> c_int;
        fn epoll_pwait2(epfd: c_int, ev: *mut epoll_event, max: c_int, ts: *const timespec, mask: *const sigset_t) -> c_int;
    }
}

extern "C" {
    fn __chk_fail() -> !;
}

const ZERO_TS: timespec = timespec { tv_sec: 0, tv_nsec: 0 };

// ---------------------------------------------------------------------------------------------
// The shared core
// ---------------------------------------------------------------------------------------------

/// How a park ended.
enum Out {
    /// The answer of a real call (a count, or -1 with errno set by it).
    Ret(c_int),
    /// The deadline passed with nothing ready (the last real call returned 0).
    Timeout,
    /// A signal handler ran (or a cancellation request arrived): EINTR.
    Intr,
}

/// Remaining ns until `deadline` (None: infinite).
fn remaining(deadline: Option<u64>) -> Option<u64> {
    deadline.map(|d| d.saturating_sub(sys::now()))
}

/// Relative ns of a `timespec` timeout (`ppoll`, `pselect`, `epoll_pwait2`): `Err(())` if the
/// kernel would say EINVAL.
fn timespec_timeout(ts: &timespec) -> Result<u64, ()> {
    match sys::timespec_ns(ts) {
        Some(ns) if ts.tv_sec >= 0 => Ok(ns.min(u64::MAX as i128) as u64),
        _ => Err(()),
    }
}

fn deadline_after(ns: u64) -> u64 {
    sys::now().saturating_add(ns)
}

/// Milliseconds for a real call's fallback, rounded up (so it never returns early).
fn ms_for(rem: Option<u64>) -> c_int {
    match rem {
        None => -1,
        Some(ns) => ns.div_ceil(1_000_000).min(i32::MAX as u64) as c_int,
    }
}

/// Drop from `watch` the fds the hub cannot watch but that also cannot become ready later
/// (EPERM: no poll support, always ready — the fast path saw them; EBADF: not open, so the
/// kernel ignored it). `false` if some fd cannot be watched for another reason.
unsafe fn drop_unwatchable(h: *mut Hub, watch: &mut Vec<(i32, Interest)>) -> bool {
    let r = &mut (*h).reactor;
    let mut ok = true;
    watch.retain(|&(fd, interest)| {
        if !ok || r.is_registered(fd) {
            return true;
        }
        // Greenlet id 0 is never a live greenlet: a probe waiter that can wake nobody.
        match r.add_waiter(fd, interest, (0, 0)) {
            Ok(()) => {
                r.remove_waiter(fd, interest, (0, 0));
                true
            }
            Err(libc::EPERM) | Err(libc::EBADF) => false,
            Err(_) => {
                ok = false;
                true
            }
        }
    });
    ok
}

/// Park until an fd of `watch` may be ready, the deadline, or a signal; retry with `attempt`
/// (the real call, not waiting) after each wakeup. `blocking(remaining)` is the real call
/// waiting up to `remaining` (with the program's sigmask), used only when the hub cannot watch
/// an fd. `mask`: the program's sigmask for the park (see the module docs).
///
/// The caller has already made the fast-path attempt, which found nothing.
unsafe fn park_loop(
    h: *mut Hub,
    mut watch: Vec<(i32, Interest)>,
    deadline: Option<u64>,
    attempt: &mut dyn FnMut() -> c_int,
    blocking: &mut dyn FnMut(Option<u64>) -> c_int,
) -> Out {
    let mut filtered = false;
    loop {
        // A signal this call's mask lets through is pending: EINTR at once. Also on each
        // re-park: one sent while this greenlet was runnable (woken for an fd that turned out
        // not ready) found no park to interrupt.
        if crate::thread::signal::due(h) {
            return Out::Intr;
        }
        match hub::wait_fds(h, &watch, deadline, true) {
            Err(_) if !filtered && drop_unwatchable(h, &mut watch) => filtered = true,
            // The hub cannot watch some fd: the real call, blocking the whole thread.
            Err(_) => return Out::Ret(blocking(remaining(deadline))),
            Ok(Wake::Interrupted) => return Out::Intr,
            Ok(Wake::TimedOut) => {
                let r = attempt();
                return if r != 0 { Out::Ret(r) } else { Out::Timeout };
            }
            Ok(Wake::Woken) | Ok(Wake::Closed) | Ok(Wake::Signal) => {
                let r = attempt();
                if r != 0 {
                    return Out::Ret(r);
                }
                if deadline.is_some_and(|d| sys::now() >= d) {
                    return Out::Timeout;
                }
            }
        }
    }
}

/// Finish a call: -1/EINTR after acting on a pending cancellation, the real call's answer, or
/// 0. `saved_errno` is restored on success (the hub's own syscalls may have touched errno).
/// Called with nothing owned left on the stack (a cancellation ends the greenlet here).
unsafe fn finish(h: *mut Hub, out: Out, saved_errno: c_int) -> c_int {
    match out {
        Out::Intr => {
            testcancel(h);
            // The handlers run now, with the call's own mask in force (`ppoll`, `pselect`, ...).
            crate::thread::signal::deliver_now(h);
            sys::set_errno(libc::EINTR);
            -1
        }
        Out::Ret(r) => {
            if r >= 0 {
                sys::set_errno(saved_errno);
            }
            r
        }
        Out::Timeout => {
            sys::set_errno(saved_errno);
            0
        }
    }
}

/// A zero-timeout call found nothing: let the other runnable greenlets run once (a busy-polling
/// loop must not starve the greenlet it waits for), then report 0.
unsafe fn nothing_now(h: *mut Hub, saved_errno: c_int) -> c_int {
    hub::point_yield(h);
    sys::set_errno(saved_errno);
    0
}

// ---------------------------------------------------------------------------------------------
// Sigmasks for the park
// ---------------------------------------------------------------------------------------------

/// The first 64 signals of a program's `sigset_t` (the kernel's view of it), copied
/// fault-safely, and the mask the real calls then get: none, or the program's own when it
/// cannot be read (the first real call's EFAULT is the answer, as natively).
fn kernel_mask(m: *const sigset_t) -> (Option<u64>, *const sigset_t) {
    if m.is_null() {
        return (None, m);
    }
    match umem::read(m as *const u64) {
        Ok(v) => (Some(v), std::ptr::null()),
        Err(_) => (None, m),
    }
}

// ---------------------------------------------------------------------------------------------
// poll, ppoll
// ---------------------------------------------------------------------------------------------

const POLL_READ: i16 = libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP | libc::POLLRDNORM | libc::POLLRDBAND;
const POLL_WRITE: i16 = libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND;

/// What to watch for a pollfd array (negative fds are ignored, as by the kernel).
unsafe fn poll_watch(fds: *const pollfd, nfds: nfds_t) -> Vec<(i32, Interest)> {
    let mut w = Vec::with_capacity(nfds as usize);
    for p in std::slice::from_raw_parts(fds, nfds as usize) {
        if p.fd < 0 {
            continue;
        }
        let read = p.events & POLL_READ != 0;
        let write = p.events & POLL_WRITE != 0;
        if read || !write {
            w.push((p.fd, Interest::Read));
        }
        if write {
            w.push((p.fd, Interest::Write));
        }
    }
    w
}

/// `poll`/`ppoll` after the fast path found nothing.
unsafe fn poll_park(h: *mut Hub, fds: *mut pollfd, nfds: nfds_t, deadline: Option<u64>, mask: *const sigset_t) -> Out {
    let watch = poll_watch(fds, nfds);
    let mut attempt = || real_fns::ppoll(fds, nfds, &ZERO_TS, mask);
    let mut blocking = |rem: Option<u64>| {
        let ts = rem.map(|ns| sys::ns_timespec(ns as i128));
        real_fns::ppoll(fds, nfds, ts.as_ref().map_or(std::ptr::null(), |t| t as *const timespec), mask)
    };
    park_loop(h, watch, deadline, &mut attempt, &mut blocking)
}

unsafe fn poll_impl(h: *mut Hub, fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    let saved = sys::errno();
    testcancel(h);
    let deadline = (timeout >= 0).then(|| deadline_after(timeout as u64 * 1_000_000));
    let r = real_fns::poll(fds, nfds, 0);
    if r != 0 {
        return r;
    }
    if timeout == 0 {
        return nothing_now(h, saved);
    }
    let out = poll_park(h, fds, nfds, deadline, std::ptr::null());
    finish(h, out, saved)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    poll(fds, nfds, timeout)
}

unsafe fn ppoll_impl(h: *mut Hub, fds: *mut pollfd, nfds: nfds_t, tmo: *const timespec, mask: *const sigset_t) -> c_int {
    let saved = sys::errno();
    testcancel(h);
    // The call's mask is the greenlet's for the whole call (signals it lets through interrupt
    // the park, and their handlers run under it); the real calls then need none.
    let (km, mask) = kernel_mask(mask);
    let _mask = crate::thread::signal::TempMask::enter(h, km);
    let Ok(deadline) = timespec_deadline(tmo) else { return einval() };
    let r = real_fns::ppoll(fds, nfds, &ZERO_TS, mask);
    if r != 0 {
        return r;
    }
    if is_zero_ts(tmo) {
        return nothing_now(h, saved);
    }
    let out = poll_park(h, fds, nfds, deadline, mask);
    finish(h, out, saved)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __poll_chk(fds: *mut pollfd, nfds: nfds_t, timeout: c_int, fdslen: usize) -> c_int {
    if fdslen / std::mem::size_of::<pollfd>() < nfds as usize {
        __chk_fail();
    }
    poll(fds, nfds, timeout)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __ppoll_chk(fds: *mut pollfd, nfds: nfds_t, tmo: *const timespec, mask: *const sigset_t, fdslen: usize) -> c_int {
    if fdslen / std::mem::size_of::<pollfd>() < nfds as usize {
        __chk_fail();
    }
    ppoll(fds, nfds, tmo, mask)
}

/// Deadline of a `timespec` timeout (NULL: none); `Err` for EINVAL.
unsafe fn timespec_deadline(ts: *const timespec) -> Result<Option<u64>, ()> {
    match ts.as_ref() {
        None => Ok(None),
        Some(t) => Ok(Some(deadline_after(timespec_timeout(t)?))),
    }
}

unsafe fn is_zero_ts(ts: *const timespec) -> bool {
    ts.as_ref().is_some_and(|t| t.tv_sec == 0 && t.tv_nsec == 0)
}

fn einval() -> c_int {
    sys::set_errno(libc::EINVAL);
    -1
}

// ---------------------------------------------------------------------------------------------
// select, pselect
// ---------------------------------------------------------------------------------------------

/// Copies of select's three sets as the program passed them (the kernel overwrites them).
struct Sets {
    ptrs: [*mut u64; 3],
    /// `words` words per set, read set first (zeros for a null set).
    copies: Vec<u64>,
    words: usize,
    /// Bits of each set that matter.
    n: usize,
}

impl Sets {
    /// Copy the first `n` bits of each non-null set. Beyond FD_SETSIZE, at most RLIMIT_NOFILE
    /// bits: no open fd lies above, and the sets may be smaller than `n` says (the kernel
    /// itself reads no further than its fd table).
    /// `Err(EFAULT)` for a set that cannot be read (copied fault-safely): the real call says so.
    unsafe fn save(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set) -> Result<Sets, i32> {
        let mut n = n.max(0) as usize;
        if n > libc::FD_SETSIZE {
            let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
            n = n.min((rl.rlim_cur.min(1 << 24) as usize).max(libc::FD_SETSIZE));
        }
        let words = n.div_ceil(64);
        let ptrs = [r as *mut u64, w as *mut u64, e as *mut u64];
        let mut copies = Vec::with_capacity(3 * words);
        for p in ptrs {
            if p.is_null() {
                copies.resize(copies.len() + words, 0);
            } else {
                copies.extend_from_slice(&umem::read_vec(p, words)?);
            }
        }
        Ok(Sets { ptrs, copies, words, n })
    }

    fn set(&self, k: usize) -> &[u64] {
        &self.copies[k * self.words..(k + 1) * self.words]
    }

    /// Put the program's sets back (before each retry, and for EINTR).
    unsafe fn restore(&self) {
        for (k, p) in self.ptrs.iter().enumerate() {
            if !p.is_null() {
                std::ptr::copy_nonoverlapping(self.set(k).as_ptr(), *p, self.words);
            }
        }
    }

    /// What to watch: the read and except sets for reading, the write set for writing.
    fn watch(&self) -> Vec<(i32, Interest)> {
        let mut out = Vec::new();
        let (r, w, e) = (self.set(0), self.set(1), self.set(2));
        for i in 0..self.words {
            let valid = if (i + 1) * 64 <= self.n { !0u64 } else { (1u64 << (self.n % 64)) - 1 };
            let mut read = (r[i] | e[i]) & valid;
            while read != 0 {
                out.push(((i * 64) as i32 + read.trailing_zeros() as i32, Interest::Read));
                read &= read - 1;
            }
            let mut write = w[i] & valid;
            while write != 0 {
                out.push(((i * 64) as i32 + write.trailing_zeros() as i32, Interest::Write));
                write &= write - 1;
            }
        }
        out
    }
}

/// select's timeout: relative ns, normalised as the kernel does (`tv_usec` may exceed a
/// second); `Err(())` for EINVAL.
fn timeval_timeout(tv: &timeval) -> Result<u64, ()> {
    let sec = tv.tv_sec as i128 + (tv.tv_usec / 1_000_000) as i128;
    let nsec = (tv.tv_usec % 1_000_000) as i128 * 1000;
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(());
    }
    Ok((sec * 1_000_000_000 + nsec).min(u64::MAX as i128) as u64)
}

/// The park shared by select and pselect. `attempt` and `blocking` are the real call (not
/// waiting / waiting up to a remaining time); the program's sets are put back before each.
unsafe fn select_park(
    h: *mut Hub,
    sets: &Sets,
    deadline: Option<u64>,
    attempt: &mut dyn FnMut() -> c_int,
    blocking: &mut dyn FnMut(Option<u64>) -> c_int,
) -> Out {
    let mut attempt = || {
        sets.restore();
        attempt()
    };
    let mut blocking = |rem| {
        sets.restore();
        blocking(rem)
    };
    let out = park_loop(h, sets.watch(), deadline, &mut attempt, &mut blocking);
    if let Out::Intr = out {
        sets.restore(); // natively the sets are written only on success
    }
    out
}

/// Linux writes the unslept time back into select's timeval (not for a zero timeout).
unsafe fn select_update(tv: *mut timeval, deadline: Option<u64>) {
    if let (Some(tv), Some(d)) = (tv.as_mut(), deadline) {
        if tv.tv_sec == 0 && tv.tv_usec == 0 {
            return;
        }
        let rem = d.saturating_sub(sys::now());
        tv.tv_sec = (rem / 1_000_000_000) as libc::time_t;
        tv.tv_usec = ((rem % 1_000_000_000) / 1000) as libc::suseconds_t;
    }
}

unsafe fn select_impl(h: *mut Hub, n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, tv: *mut timeval) -> c_int {
    let saved = sys::errno();
    testcancel(h);
    let deadline = match tv.as_ref().map(timeval_timeout) {
        None => None,
        Some(Ok(ns)) => Some(deadline_after(ns)),
        Some(Err(())) => return einval(),
    };
    let zero_timeout = tv.as_ref().is_some_and(|t| t.tv_sec == 0 && t.tv_usec == 0);
    let out = {
        let sets = match zero_timeout {
            true => None,
            false => match Sets::save(n, r, w, e) {
                Ok(s) => Some(s),
                Err(_) => return real_fns::select(n, r, w, e, tv), // EFAULT, at once
            },
        };
        let mut ztv = timeval { tv_sec: 0, tv_usec: 0 };
        let res = real_fns::select(n, r, w, e, &mut ztv);
        match sets {
            None if res == 0 => Err(()),
            Some(sets) if res == 0 => {
                let mut attempt = || {
                    let mut ztv = timeval { tv_sec: 0, tv_usec: 0 };
                    real_fns::select(n, r, w, e, &mut ztv)
                };
                let mut blocking = |rem: Option<u64>| {
                    let mut t = rem.map(|ns| timeval { tv_sec: (ns / 1_000_000_000) as _, tv_usec: (ns % 1_000_000_000).div_ceil(1000) as _ });
                    real_fns::select(n, r, w, e, t.as_mut().map_or(std::ptr::null_mut(), |t| t as *mut timeval))
                };
                Ok(select_park(h, &sets, deadline, &mut attempt, &mut blocking))
            }
            _ => Ok(Out::Ret(res)),
        }
    };
    let res = match out {
        Err(()) => nothing_now(h, saved),
        Ok(out) => {
            if matches!(out, Out::Intr) {
                select_update(tv, deadline); // before a cancellation may end the greenlet
            }
            finish(h, out, saved)
        }
    };
    let err = sys::errno();
    select_update(tv, deadline);
    sys::set_errno(err);
    res
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __select(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, tv: *mut timeval) -> c_int {
    select(n, r, w, e, tv)
}

unsafe fn pselect_impl(h: *mut Hub, n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, ts: *const timespec, mask: *const sigset_t) -> c_int {
    let saved = sys::errno();
    testcancel(h);
    // The call's mask is the greenlet's for the whole call (signals it lets through interrupt
    // the park, and their handlers run under it); the real calls then need none.
    let (km, mask) = kernel_mask(mask);
    let _mask = crate::thread::signal::TempMask::enter(h, km);
    let Ok(deadline) = timespec_deadline(ts) else { return einval() };
    let out = {
        let sets = match is_zero_ts(ts) {
            true => None,
            false => match Sets::save(n, r, w, e) {
                Ok(s) => Some(s),
                Err(_) => return real_fns::pselect(n, r, w, e, ts, mask), // EFAULT, at once
            },
        };
        let res = real_fns::pselect(n, r, w, e, &ZERO_TS, mask);
        match sets {
            None if res == 0 => return nothing_now(h, saved),
            Some(sets) if res == 0 => {
                let mut attempt = || real_fns::pselect(n, r, w, e, &ZERO_TS, mask);
                let mut blocking = |rem: Option<u64>| {
                    let t = rem.map(|ns| sys::ns_timespec(ns as i128));
                    real_fns::pselect(n, r, w, e, t.as_ref().map_or(std::ptr::null(), |t| t as *const timespec), mask)
                };
                select_park(h, &sets, deadline, &mut attempt, &mut blocking)
            }
            _ => return res,
        }
    };
    finish(h, out, saved)
}

// ---------------------------------------------------------------------------------------------
// epoll_wait, epoll_pwait, epoll_pwait2
// ---------------------------------------------------------------------------------------------

/// The epoll family after a fast path (`first`, the real call without waiting) found nothing:
/// park on the program's epoll fd becoming readable.
#[allow(clippy::too_many_arguments)]
unsafe fn epoll_core(
    h: *mut Hub,
    first: c_int,
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    deadline: Option<u64>,
    mask: *const sigset_t,
    zero_timeout: bool,
    saved: c_int,
) -> c_int {
    if first != 0 {
        return first;
    }
    if zero_timeout {
        return nothing_now(h, saved);
    }
    let out = {
        let mut attempt = || real_fns::epoll_pwait(epfd, ev, max, 0, mask);
        let mut blocking = |rem: Option<u64>| real_fns::epoll_pwait(epfd, ev, max, ms_for(rem), mask);
        park_loop(h, vec![(epfd, Interest::Read)], deadline, &mut attempt, &mut blocking)
    };
    finish(h, out, saved)
}

unsafe fn epoll_wait_impl(h: *mut Hub, epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int) -> c_int {
    let saved = sys::errno();
    testcancel(h);
    let deadline = (timeout >= 0).then(|| deadline_after(timeout as u64 * 1_000_000));
    let first = real_fns::epoll_wait(epfd, ev, max, 0);
    epoll_core(h, first, epfd, ev, max, deadline, std::ptr::null(), timeout == 0, saved)
}

unsafe fn epoll_pwait_impl(h: *mut Hub, epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int, mask: *const sigset_t) -> c_int {
    let saved = sys::errno();
    testcancel(h);
    // The call's mask is the greenlet's for the whole call (signals it lets through interrupt
    // the park, and their handlers run under it); the real calls then need none.
    let (km, mask) = kernel_mask(mask);
    let _mask = crate::thread::signal::TempMask::enter(h, km);
    let deadline = (timeout >= 0).then(|| deadline_after(timeout as u64 * 1_000_000));
    let first = real_fns::epoll_pwait(epfd, ev, max, 0, mask);
    epoll_core(h, first, epfd, ev, max, deadline, mask, timeout == 0, saved)
}

unsafe fn epoll_pwait2_impl(h: *mut Hub, epfd: c_int, ev: *mut epoll_event, max: c_int, ts: *const timespec, mask: *const sigset_t) -> c_int {
    let saved = sys::errno();
    testcancel(h);
    // The call's mask is the greenlet's for the whole call (signals it lets through interrupt
    // the park, and their handlers run under it); the real calls then need none.
    let (km, mask) = kernel_mask(mask);
    let _mask = crate::thread::signal::TempMask::enter(h, km);
    // The timeout, copied fault-safely (glibc hands it to the kernel as it is: EFAULT).
    let ts = match ts.is_null() {
        true => None,
        false => match umem::read(ts) {
            Ok(t) => Some(t),
            Err(_) => return real_fns::epoll_pwait2(epfd, ev, max, ts, mask),
        },
    };
    let ts = ts.as_ref().map_or(std::ptr::null(), |t| t as *const timespec);
    let Ok(deadline) = timespec_deadline(ts) else { return einval() };
    let first = real_fns::epoll_pwait2(epfd, ev, max, &ZERO_TS, mask);
    epoll_core(h, first, epfd, ev, max, deadline, mask, is_zero_ts(ts), saved)
}

/// The hook boundary (see `entry`); the work is in `poll_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::poll(fds, nfds, timeout) };
    hook!(h, poll, entry::nonneg, poll_impl(h, fds, nfds, timeout), |r, e| [Arg::Hex(fds as u64), Arg::Int(nfds as i64), Arg::Int(timeout as i64)], Ret::Int(r as i64, e))
}

/// The hook boundary (see `entry`); the work is in `ppoll_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn ppoll(fds: *mut pollfd, nfds: nfds_t, tmo: *const timespec, mask: *const sigset_t) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::ppoll(fds, nfds, tmo, mask) };
    hook!(h, ppoll, entry::nonneg, ppoll_impl(h, fds, nfds, tmo, mask), |r, e| [Arg::Hex(fds as u64), Arg::Int(nfds as i64), Arg::Dur(tmo.as_ref().and_then(|t| sys::timespec_ns(t)).map(|n| n.max(0) as u64)), Arg::Hex(mask as u64)], Ret::Int(r as i64, e))
}

/// The hook boundary (see `entry`); the work is in `select_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn select(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, tv: *mut timeval) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::select(n, r, w, e, tv) };
    hook!(h, select, entry::nonneg, select_impl(h, n, r, w, e, tv), |ret, err| [Arg::Int(n as i64), Arg::Hex(r as u64), Arg::Hex(w as u64), Arg::Hex(e as u64), Arg::Hex(tv as u64)], Ret::Int(ret as i64, err))
}

/// The hook boundary (see `entry`); the work is in `pselect_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pselect(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, ts: *const timespec, mask: *const sigset_t) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::pselect(n, r, w, e, ts, mask) };
    hook!(h, pselect, entry::nonneg, pselect_impl(h, n, r, w, e, ts, mask), |ret, err| [Arg::Int(n as i64), Arg::Hex(r as u64), Arg::Hex(w as u64), Arg::Hex(e as u64), Arg::Dur(ts.as_ref().and_then(|t| sys::timespec_ns(t)).map(|n| n.max(0) as u64)), Arg::Hex(mask as u64)], Ret::Int(ret as i64, err))
}

/// The hook boundary (see `entry`); the work is in `epoll_wait_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn epoll_wait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::epoll_wait(epfd, ev, max, timeout) };
    hook!(h, epoll_wait, entry::nonneg, epoll_wait_impl(h, epfd, ev, max, timeout), |r, e| [Arg::Int(epfd as i64), Arg::Hex(ev as u64), Arg::Int(max as i64), Arg::Int(timeout as i64)], Ret::Int(r as i64, e))
}

/// The hook boundary (see `entry`); the work is in `epoll_pwait_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn epoll_pwait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int, mask: *const sigset_t) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::epoll_pwait(epfd, ev, max, timeout, mask) };
    hook!(h, epoll_pwait, entry::nonneg, epoll_pwait_impl(h, epfd, ev, max, timeout, mask), |r, e| [Arg::Int(epfd as i64), Arg::Hex(ev as u64), Arg::Int(max as i64), Arg::Int(timeout as i64), Arg::Hex(mask as u64)], Ret::Int(r as i64, e))
}

/// The hook boundary (see `entry`); the work is in `epoll_pwait2_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn epoll_pwait2(epfd: c_int, ev: *mut epoll_event, max: c_int, ts: *const timespec, mask: *const sigset_t) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::epoll_pwait2(epfd, ev, max, ts, mask) };
    hook!(h, epoll_pwait2, entry::nonneg, epoll_pwait2_impl(h, epfd, ev, max, ts, mask), |r, e| [Arg::Int(epfd as i64), Arg::Hex(ev as u64), Arg::Int(max as i64), Arg::Dur(umem::read(ts).ok().and_then(|t| sys::timespec_ns(&t)).map(|n| n.max(0) as u64)), Arg::Hex(mask as u64)], Ret::Int(r as i64, e))
}
