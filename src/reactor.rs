//! The epoll reactor: fd readiness for parked greenlets.
//!
//! One epoll instance per hub, opened close-on-exec and moved above the program's fd range so
//! the program sees the fd numbers it would natively. An fd is registered once, edge-triggered,
//! for both directions (`EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`) the first time a greenlet
//! parks on it; later parks only add the greenlet to the fd's waiter list, with no syscall.
//!
//! Edge-triggered is safe because a greenlet always *tries* its call before parking: readiness
//! that existed before the park is consumed by the try, and any change after the failed try is a
//! new edge that the next `epoll_wait` reports. An edge reported for data a greenlet already
//! consumed only causes a spurious wakeup: the woken greenlet retries and parks again.
//!
//! `close`/`dup2` onto a watched fd must call [`Reactor::forget`], which wakes every waiter with
//! [`FdWake::Closed`] (they return EBADF) and deregisters the fd, so a later fd that reuses the
//! number starts clean.

use crate::sys;

/// Which readiness a greenlet waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Read,
    Write,
}

/// A parked waiter: greenlet id and its park token.
pub type Waiter = (u64, u64);

#[derive(Default)]
struct FdSlot {
    registered: bool,
    /// The fd was found drained (EAGAIN, or a short read of a stream) and epoll has reported
    /// no read readiness since. Only meaningful while `registered`.
    drained: bool,
    /// epoll reported the peer's shutdown, a hangup or an error: reads never block again (they
    /// return data, 0 or the error), and no new edge will come for it, so never park untried.
    eof: bool,
    readers: Waiters,
    writers: Waiters,
}

/// The greenlets parked on one direction of one fd, in park order. The first is kept inline:
/// an fd has one waiter almost always, and a `Vec`'s first push would allocate on the parking
/// greenlet (giving it a malloc cache of its own, ~0.6 KiB, with per-greenlet TLS).
#[derive(Default)]
struct Waiters {
    /// (0, 0): none (greenlet ids are never 0).
    first: Waiter,
    /// The others, boxed: an `FdSlot` per fd number stays as small as with two plain `Vec`s.
    rest: Option<Box<Vec<Waiter>>>,
}

impl Waiters {
    fn push(&mut self, w: Waiter) {
        if self.first.0 == 0 {
            self.first = w;
        } else {
            self.rest.get_or_insert_default().push(w);
        }
    }

    fn len(&self) -> usize {
        (self.first.0 != 0) as usize + self.rest.as_ref().map_or(0, |r| r.len())
    }

    /// Remove `w`; true if it was there.
    fn remove(&mut self, w: Waiter) -> bool {
        let rest = self.rest.as_deref_mut().filter(|r| !r.is_empty());
        if self.first == w && w.0 != 0 {
            self.first = rest.map_or((0, 0), |r| r.remove(0));
            return true;
        }
        rest.and_then(|r| r.iter().position(|x| *x == w).map(|p| r.remove(p))).is_some()
    }

    /// Take every waiter, in park order.
    fn drain(&mut self) -> impl Iterator<Item = Waiter> + '_ {
        let first = std::mem::take(&mut self.first);
        (first.0 != 0).then_some(first).into_iter().chain(self.rest.iter_mut().flat_map(|r| r.drain(..)))
    }
}

/// Why an fd waiter is woken by the reactor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdWake {
    Ready,
    Closed,
}

pub struct Reactor {
    epfd: i32,
    fds: Vec<FdSlot>,
    /// Waiters currently parked on some fd.
    waiting: usize,
    events: Vec<libc::epoll_event>,
    /// None until probed; Some(false) if the kernel lacks epoll_pwait2.
    have_pwait2: Option<bool>,
}

/// Lowest fd number the hub's own descriptors may take.
pub fn high_fd_floor() -> i32 {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid out-pointer; getrlimit is not interposed.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    let cur = rl.rlim_cur.min(1 << 20) as i32;
    // Stay clear of select()'s FD_SETSIZE range and of the low numbers programs expect.
    if cur > 1024 + 64 {
        (cur - 64).max(1024)
    } else {
        (cur - 16).max(3)
    }
}

/// Move `fd` to a close-on-exec descriptor at or above [`high_fd_floor`]; closes the original.
pub fn move_high(fd: i32) -> Result<i32, i32> {
    let hi = dup_high(fd);
    let _ = syscall!(SYS_close, fd);
    hi
}

/// A close-on-exec copy of `fd` as high as possible: the lowest free number at or above
/// [`high_fd_floor`], or, when the program has taken every number up there (it may `dup2` onto
/// any number it believes free), the lowest free one above a base that is lowered step by step.
/// The original stays open.
pub fn dup_high(fd: i32) -> Result<i32, i32> {
    let floor = high_fd_floor();
    let mut base = floor;
    let mut step = 64;
    loop {
        match syscall!(SYS_fcntl, fd, libc::F_DUPFD_CLOEXEC, base) {
            Ok(v) => return Ok(v as i32),
            Err(libc::EMFILE) if base > 3 => {
                base = (floor - step).max(3);
                step = step.saturating_mul(2);
            }
            Err(e) => return Err(e),
        }
    }
}

impl Reactor {
    pub fn new() -> Result<Reactor, i32> {
        let fd = syscall!(SYS_epoll_create1, libc::EPOLL_CLOEXEC)? as i32;
        let epfd = move_high(fd)?;
        Ok(Reactor {
            epfd,
            fds: Vec::new(),
            waiting: 0,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 1024],
            have_pwait2: None,
        })
    }

    /// The epoll descriptor (for diagnostics and fork handling).
    pub fn epfd(&self) -> i32 {
        self.epfd
    }

    /// Move the epoll descriptor to another high number and close the old one (the program
    /// wants that number: it `dup2`s onto it). The instance, and every registration, stay.
    pub fn move_epfd(&mut self) -> Result<i32, i32> {
        let old = self.epfd;
        self.epfd = dup_high(old)?;
        let _ = syscall!(SYS_close, old);
        Ok(self.epfd)
    }

    /// After `fork()` the child shares the parent's epoll instance: give it its own, at the same
    /// number, with no registrations and no waiters (the child has none of the parent's greenlets).
    pub fn reinit_after_fork(&mut self) -> Result<(), i32> {
        let fd = syscall!(SYS_epoll_create1, libc::EPOLL_CLOEXEC)? as i32;
        syscall!(SYS_dup3, fd, self.epfd, libc::O_CLOEXEC)?;
        let _ = syscall!(SYS_close, fd);
        self.fds.clear();
        self.waiting = 0;
        Ok(())
    }

    /// Greenlets parked on fds.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Record that greenlet `w` waits for `interest` on `fd`, registering `fd` with epoll if it
    /// is not yet. `Err(errno)` if the fd cannot be watched (EPERM: a regular file; EBADF).
    pub fn add_waiter(&mut self, fd: i32, interest: Interest, w: Waiter) -> Result<(), i32> {
        if fd < 0 {
            return Err(libc::EBADF);
        }
        let i = fd as usize;
        if i >= self.fds.len() {
            self.fds.resize_with(i + 1, FdSlot::default);
        }
        if !self.fds[i].registered {
            let mut ev = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET) as u32,
                u64: fd as u64,
            };
            match syscall!(SYS_epoll_ctl, self.epfd, libc::EPOLL_CTL_ADD, fd, &mut ev as *mut _) {
                Ok(_) => {}
                Err(libc::EEXIST) => {}
                Err(e) => return Err(e),
            }
            self.fds[i].registered = true;
        }
        let slot = &mut self.fds[i];
        match interest {
            Interest::Read => slot.readers.push(w),
            Interest::Write => slot.writers.push(w),
        }
        self.waiting += 1;
        Ok(())
    }

    /// Remove waiter `w` (its park ended some other way: timeout, signal).
    pub fn remove_waiter(&mut self, fd: i32, interest: Interest, w: Waiter) {
        let Some(slot) = self.fds.get_mut(fd as usize) else { return };
        let list = match interest {
            Interest::Read => &mut slot.readers,
            Interest::Write => &mut slot.writers,
        };
        if list.remove(w) {
            self.waiting -= 1;
        }
    }

    /// The fd is being closed (or replaced by dup2): wake its waiters with `Closed` and drop its
    /// registration. Costs a syscall only if the fd was registered.
    pub fn forget(&mut self, fd: i32, mut wake: impl FnMut(Waiter, FdWake)) {
        let Some(slot) = self.fds.get_mut(fd as usize) else { return };
        if slot.registered {
            let _ = syscall!(SYS_epoll_ctl, self.epfd, libc::EPOLL_CTL_DEL, fd, 0usize);
            slot.registered = false;
        }
        slot.drained = false;
        slot.eof = false;
        let n = slot.readers.len() + slot.writers.len();
        for w in slot.readers.drain().chain(slot.writers.drain()) {
            wake(w, FdWake::Closed);
        }
        self.waiting -= n;
    }

    /// True if `fd` is registered and known to have nothing to read since its last drain: a
    /// blocking stream read may then park without first trying the call (edge-triggered
    /// registration guarantees an event for any data that arrives after the drain).
    #[inline]
    pub fn known_drained(&self, fd: i32) -> bool {
        self.fds.get(fd as usize).is_some_and(|s| s.registered && s.drained && !s.eof)
    }

    /// A read of `fd` found it empty (EAGAIN, or a short read of a stream socket).
    #[inline]
    pub fn set_drained(&mut self, fd: i32) {
        if let Some(s) = self.fds.get_mut(fd as usize) {
            s.drained = true;
        }
    }

    /// Forget a drain seen by a call other than a read (an `accept` on a listener: a `read` of
    /// it fails at once with ENOTCONN and must not park as if waiting for data).
    #[inline]
    pub fn clear_drained(&mut self, fd: i32) {
        if let Some(s) = self.fds.get_mut(fd as usize) {
            s.drained = false;
        }
    }

    /// True if `fd` is registered with our epoll (so its readiness is already being tracked).
    pub fn is_registered(&self, fd: i32) -> bool {
        self.fds.get(fd as usize).is_some_and(|s| s.registered)
    }

    /// Wait up to `timeout_ns` (None: forever; Some(0): just look) for events, calling `wake`
    /// for every waiter whose fd became ready. `Err(EINTR)` when a signal handler ran.
    pub fn poll(&mut self, timeout_ns: Option<u64>, wake: impl FnMut(Waiter, FdWake)) -> Result<usize, i32> {
        self.poll_around(timeout_ns, |_| {}, wake)
    }

    /// [`Reactor::poll`], calling `around(true)` right before the `epoll_wait` and
    /// `around(false)` right after it, before any of the reactor's state is touched again (a
    /// multi-hub host releases its process-wide lock for the wait: the fd slots are then
    /// reachable by other hubs, the event buffer is not).
    pub fn poll_around(&mut self, timeout_ns: Option<u64>, mut around: impl FnMut(bool), mut wake: impl FnMut(Waiter, FdWake)) -> Result<usize, i32> {
        around(true);
        let n = self.wait(timeout_ns);
        around(false);
        let n = n?;
        for k in 0..n {
            let ev = self.events[k];
            let (fd, bits) = (ev.u64 as usize, ev.events as i32);
            let Some(slot) = self.fds.get_mut(fd) else { continue };
            let err = bits & (libc::EPOLLERR | libc::EPOLLHUP) != 0;
            if err || bits & libc::EPOLLRDHUP != 0 {
                slot.eof = true;
            }
            if err || bits & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) != 0 {
                slot.drained = false;
                self.waiting -= slot.readers.len();
                for w in slot.readers.drain() {
                    wake(w, FdWake::Ready);
                }
            }
            if err || bits & libc::EPOLLOUT != 0 {
                self.waiting -= slot.writers.len();
                for w in slot.writers.drain() {
                    wake(w, FdWake::Ready);
                }
            }
        }
        Ok(n)
    }

    fn wait(&mut self, timeout_ns: Option<u64>) -> Result<usize, i32> {
        let (ptr, max) = (self.events.as_mut_ptr(), self.events.len());
        // The OS thread's own mask (the greenlets' masks are in the shim's hands).
        let maskp: *const u64 = std::ptr::null();
        if self.have_pwait2 != Some(false) {
            let ts = timeout_ns.map(|ns| sys::ns_timespec(ns as i128));
            let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // epoll_pwait2 takes a nanosecond timeout (Linux 5.11+).
            match syscall!(SYS_epoll_pwait2, self.epfd, ptr, max, tsp, maskp, 8usize) {
                Ok(n) => {
                    self.have_pwait2 = Some(true);
                    return Ok(n as usize);
                }
                Err(libc::ENOSYS) => self.have_pwait2 = Some(false),
                Err(e) => return Err(e),
            }
        }
        let ms = match timeout_ns {
            None => -1,
            Some(ns) => ns.div_ceil(1_000_000).min(i32::MAX as u64) as i64,
        };
        syscall!(SYS_epoll_pwait, self.epfd, ptr, max, ms, maskp, 8usize).map(|n| n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoll_fd_is_high_and_cloexec() {
        let r = Reactor::new().unwrap();
        assert!(r.epfd() >= high_fd_floor());
        let flags = syscall!(SYS_fcntl, r.epfd(), libc::F_GETFD).unwrap();
        assert_eq!(flags as i32 & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    }

    #[test]
    fn moved_epfd_keeps_registrations() {
        let mut r = Reactor::new().unwrap();
        let mut p = [0i32; 2];
        syscall!(SYS_pipe2, p.as_mut_ptr(), libc::O_NONBLOCK).unwrap();
        r.add_waiter(p[0], Interest::Read, (7, 1)).unwrap();
        let old = r.epfd();
        let new = r.move_epfd().unwrap();
        assert_ne!(old, new);
        assert!(new >= high_fd_floor());
        assert_eq!(syscall!(SYS_fcntl, old, libc::F_GETFD), Err(libc::EBADF));
        syscall!(SYS_write, p[1], b"x".as_ptr(), 1).unwrap();
        let mut woken = vec![];
        r.poll(Some(100_000_000), |w, why| woken.push((w, why))).unwrap();
        assert_eq!(woken, vec![((7, 1), FdWake::Ready)]);
    }

    #[test]
    fn readable_pipe_wakes_reader_once() {
        let mut r = Reactor::new().unwrap();
        let mut p = [0i32; 2];
        syscall!(SYS_pipe2, p.as_mut_ptr(), libc::O_NONBLOCK).unwrap();
        r.add_waiter(p[0], Interest::Read, (7, 1)).unwrap();
        let mut woken = vec![];
        r.poll(Some(0), |w, why| woken.push((w, why))).unwrap();
        assert!(woken.is_empty(), "empty pipe is not readable");
        syscall!(SYS_write, p[1], b"x".as_ptr(), 1).unwrap();
        r.poll(Some(100_000_000), |w, why| woken.push((w, why))).unwrap();
        assert_eq!(woken, vec![((7, 1), FdWake::Ready)]);
        assert_eq!(r.waiting(), 0);
        r.add_waiter(p[0], Interest::Read, (8, 1)).unwrap();
        r.forget(p[0], |w, why| woken.push((w, why)));
        assert_eq!(woken[1], ((8, 1), FdWake::Closed));
        assert!(!r.is_registered(p[0]));
    }

    #[test]
    fn regular_files_are_not_pollable() {
        let mut r = Reactor::new().unwrap();
        let fd = syscall!(SYS_openat, libc::AT_FDCWD, c"/proc/self/status".as_ptr(), libc::O_RDONLY).unwrap() as i32;
        assert_eq!(r.add_waiter(fd, Interest::Read, (1, 1)), Err(libc::EPERM));
        assert_eq!(r.waiting(), 0);
    }

    #[test]
    fn timeout_is_honoured_in_nanoseconds() {
        let mut r = Reactor::new().unwrap();
        let t0 = sys::now();
        r.poll(Some(3_000_000), |_, _| {}).unwrap();
        let dt = sys::now() - t0;
        assert!(dt >= 3_000_000 && dt < 50_000_000, "{dt}");
    }
}

#[cfg(test)]
mod waiters_tests {
    use super::Waiters;

    #[test]
    fn waiters_keep_park_order_through_removals() {
        let mut w = Waiters::default();
        assert_eq!(w.len(), 0);
        for i in 1..=4 {
            w.push((i, i));
        }
        assert!(w.remove((1, 1)), "the inline first");
        assert!(w.remove((3, 3)));
        assert!(!w.remove((3, 3)));
        assert!(!w.remove((0, 0)), "the empty marker is never a waiter");
        w.push((5, 5));
        assert_eq!(w.len(), 3);
        assert_eq!(w.drain().collect::<Vec<_>>(), [(2, 2), (4, 4), (5, 5)]);
        assert_eq!(w.len(), 0);
        w.push((6, 6));
        assert_eq!(w.drain().collect::<Vec<_>>(), [(6, 6)]);
    }
}
