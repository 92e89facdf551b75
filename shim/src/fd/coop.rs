//! The loop every cooperative fd call shares: attempt without blocking, park on EAGAIN.
//!
//! Fast path: one attempt, which is exactly the syscall the native call makes (with a
//! don't-wait flag). Only when it says EAGAIN do we look at what the program asked for — its
//! O_NONBLOCK, a `MSG_DONTWAIT`, the socket's timeout — and either return EAGAIN as natively or
//! park the greenlet on the hub until the fd may be ready, then attempt again.

use gs::hub::{self, Hub, Wake};
use gs::reactor::Interest;
use gs::sys;

use crate::fd::fdtab;

/// `attempt` cannot be made cooperative for this fd (the hub cannot watch it): make the real,
/// blocking call instead.
pub const FALLBACK: i32 = i32::MIN;

/// Run `attempt` until it succeeds or fails for good, with blocking semantics unless
/// `dontwait` or the fd is non-blocking. `deadline` carries the socket-timeout deadline across
/// the calls of one operation (a write-all loop).
///
/// # Safety
/// `h` is this thread's hub.
pub unsafe fn run(
    h: *mut Hub,
    fd: i32,
    dir: Interest,
    dontwait: bool,
    deadline: &mut Option<u64>,
    attempt: impl FnMut() -> Result<usize, i32>,
) -> Result<usize, i32> {
    run_from(h, fd, dir, dontwait, deadline, false, attempt)
}

/// [`run`], optionally parking before the first attempt (`park_first`: the caller knows the fd
/// is drained and blocking, so the attempt would only say EAGAIN).
///
/// # Safety
/// As [`run`].
pub unsafe fn run_from(
    h: *mut Hub,
    fd: i32,
    dir: Interest,
    dontwait: bool,
    deadline: &mut Option<u64>,
    park_first: bool,
    mut attempt: impl FnMut() -> Result<usize, i32>,
) -> Result<usize, i32> {
    let mut armed = false;
    let mut skip = park_first;
    loop {
        if !std::mem::take(&mut skip) {
            match attempt() {
                Err(libc::EAGAIN) => {
                    if dir == Interest::Read {
                        (*h).reactor.set_drained(fd);
                    }
                }
                r => return r,
            }
        }
        if dontwait {
            return Err(libc::EAGAIN);
        }
        let info = fdtab::full(fd)?;
        if info.nonblock {
            return Err(libc::EAGAIN);
        }
        if dir == Interest::Read && info.kind == fdtab::Kind::Socket && !info.stream && ready(fd, libc::POLLIN) {
            // A datagram or seqpacket socket that is shut down for reading says EAGAIN to a
            // MSG_DONTWAIT attempt but 0 (EOF) to a blocking one, at once: poll shows it
            // readable. The real blocking call returns without waiting.
            return Err(FALLBACK);
        }
        let timeout = if dir == Interest::Read { info.rcvtimeo } else { info.sndtimeo };
        if !armed && deadline.is_none() && timeout != 0 {
            *deadline = Some(sys::now().saturating_add(timeout));
        }
        armed = true;
        // A signal sent while this greenlet was runnable (woken, not yet running) found no park
        // to interrupt and is pending: it interrupts the call now, as natively, rather than
        // waiting behind a wakeup that may never come.
        let why = match crate::thread::signal::due(h) {
            true => Ok(Wake::Interrupted),
            false => hub::wait_fd(h, fd, dir, *deadline, true),
        };
        match why {
            Err(_) => return Err(FALLBACK),
            Ok(Wake::Woken) => {}
            Ok(Wake::TimedOut) => return Err(libc::EAGAIN),
            Ok(Wake::Closed) => return Err(libc::EBADF),
            Ok(Wake::Signal) => unreachable!("a park never returns Wake::Signal"),
            Ok(Wake::Interrupted) => {
                // A cancellation request also interrupts: these calls are cancellation points.
                crate::thread::cancel::testcancel(h);
                if !fdtab::restart_after_signal(h, timeout) {
                    return Err(libc::EINTR);
                }
            }
        }
    }
}

/// Zero-timeout poll: is `fd` ready for `events` now?
pub fn ready(fd: i32, events: i16) -> bool {
    let mut p = libc::pollfd { fd, events, revents: 0 };
    matches!(syscall!(SYS_poll, &mut p as *mut libc::pollfd, 1, 0), Ok(1))
}

/// Turn a result into the C convention: the count, or -1 with errno.
#[inline]
pub fn ret(r: Result<usize, i32>) -> isize {
    match r {
        Ok(n) => n as isize,
        Err(e) => {
            sys::set_errno(e);
            -1
        }
    }
}

/// Advance an iovec array past `n` written bytes.
pub fn advance(v: &mut Vec<libc::iovec>, mut n: usize) {
    while n > 0 && !v.is_empty() {
        if n >= v[0].iov_len {
            n -= v[0].iov_len;
            v.remove(0);
        } else {
            v[0].iov_base = (v[0].iov_base as usize + n) as *mut libc::c_void;
            v[0].iov_len -= n;
            n = 0;
        }
    }
    while v.first().is_some_and(|x| x.iov_len == 0) {
        v.remove(0);
    }
}

/// Blocking-write semantics over `iov`: keep writing until all is written, unless the fd is
/// non-blocking or `dontwait` (then one attempt's count, as natively). An error after some
/// bytes were written returns the partial count, as natively. `attempt(iov, cnt)` makes one
/// non-blocking write; `native(iov, cnt)` the real blocking one (fallback). `total`: the sum of
/// the lengths. The program's array is only read (fault-safely) to continue after a partial
/// write: the attempts hand it to the kernel as it is.
///
/// # Safety
/// `h` is this thread's hub; `iov` and `cnt` are the program's (the kernel validates them).
#[allow(clippy::too_many_arguments)]
pub unsafe fn write_all(
    h: *mut Hub,
    fd: i32,
    dontwait: bool,
    iov: *const libc::iovec,
    cnt: usize,
    total: usize,
    mut attempt: impl FnMut(*const libc::iovec, usize) -> Result<usize, i32>,
    mut native: impl FnMut(*const libc::iovec, usize) -> Result<usize, i32>,
) -> Result<usize, i32> {
    let mut deadline = None;
    let n = match run(h, fd, Interest::Write, dontwait, &mut deadline, || attempt(iov, cnt)) {
        Err(FALLBACK) => return native(iov, cnt),
        r => r?,
    };
    if n >= total || dontwait || fdtab::full(fd).map_or(true, |i| i.nonblock) {
        return Ok(n);
    }
    // The kernel has just read the array; were it gone meanwhile, the count written stands.
    let Ok(mut v) = crate::hook::umem::read_vec(iov, cnt) else { return Ok(n) };
    let mut done = n;
    advance(&mut v, n);
    while done < total {
        match run(h, fd, Interest::Write, false, &mut deadline, || attempt(v.as_ptr(), v.len())) {
            Ok(k) => {
                done += k;
                advance(&mut v, k);
            }
            Err(FALLBACK) => return Ok(done + native(v.as_ptr(), v.len()).unwrap_or(0)),
            Err(_) => return Ok(done),
        }
    }
    Ok(done)
}
