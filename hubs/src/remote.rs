//! A hub's remote queue: how other OS threads (other hubs) reach greenlets of this hub.
//!
//! Part of the multi-hub mode (issue 13, [`crate::multihub`]); nothing here runs with one hub.
//! Everything else of a hub is touched only by its own OS thread, so another hub never wakes
//! one of its greenlets directly: it posts a [`Msg`] to the target hub's [`Remote`] and the
//! target's *pump* greenlet carries it out on the target's own thread.
//!
//! # Protocol (no lost wakeup)
//! * A poster pushes under a small spinlock and writes the hub's eventfd only when the queue
//!   was empty before its push: a non-empty queue already has a write pending for it.
//! * The pump takes the whole queue under the lock, runs it, and when it found the queue empty
//!   reads the eventfd; only when that read finds nothing does it park on the eventfd in the
//!   hub's reactor (edge-triggered: a write after the failed read is a new edge). Every write
//!   happens after its message is queued, and every message queued after the pump's last look
//!   was preceded by a write the pump has not consumed yet (the queue was empty), so the pump
//!   never sleeps on a non-empty queue.
//! * A wakeup carries the park token it was armed with ([`Hub::wake_token`]), so a late remote
//!   wake can never end a later, unrelated park.
//!
//! The pump is a detached greenlet parked on an fd: with more than one hub a hub never reports
//! a deadlock (another hub may still wake its greenlets).

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

use gs::hub::{self, Hub, SpawnOpts};
use gs::reactor::{self, Interest};
use gs::greenlet::Wake;

/// Work for a hub, posted from another OS thread.
pub enum Msg {
    /// Wake greenlet `id` if it is still in the park `token` (see [`Hub::prepare_park`]).
    Wake { id: u64, token: u64 },
    /// Run this on the target hub's thread, in its pump greenlet: it must not park (spawning a
    /// greenlet, waking some, answering through another hub's [`Remote`] are fine).
    Run(Box<dyn FnOnce(*mut Hub) + Send>),
}

/// The remote queue of one hub, shared by every OS thread (leaked: lives as long as the process).
pub struct Remote {
    lock: AtomicBool,
    queue: UnsafeCell<Vec<Msg>>,
    /// Nonblocking, close-on-exec eventfd above the program's fd range, in the hub's epoll set
    /// while its pump waits.
    efd: i32,
}

// SAFETY: `queue` is only touched with `lock` held; `efd` is an immutable number.
unsafe impl Sync for Remote {}
// SAFETY: as above; the messages themselves are Send.
unsafe impl Send for Remote {}

impl Remote {
    /// A new queue with its eventfd. `Err(errno)` if the eventfd cannot be made.
    fn new() -> Result<&'static Remote, i32> {
        let fd = gs::syscall!(SYS_eventfd2, 0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC)? as i32;
        let efd = reactor::move_high(fd)?;
        // move_high keeps O_NONBLOCK (a file status flag, shared by the duplicate).
        Ok(Box::leak(Box::new(Remote { lock: AtomicBool::new(false), queue: UnsafeCell::new(Vec::new()), efd })))
    }

    /// The eventfd (for reports and tests).
    pub fn eventfd(&self) -> i32 {
        self.efd
    }

    fn with_queue<R>(&self, f: impl FnOnce(&mut Vec<Msg>) -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: the lock is held: no other thread touches the queue until it is released.
        let r = f(unsafe { &mut *self.queue.get() });
        self.lock.store(false, Ordering::Release);
        r
    }

    /// Post `m` to this hub, from any thread (this hub's own included). Never blocks beyond the
    /// spinlock (held for a `Vec` push or swap).
    pub fn post(&self, m: Msg) {
        let was_empty = self.with_queue(|q| {
            let e = q.is_empty();
            q.push(m);
            e
        });
        if was_empty {
            let one: u64 = 1;
            // An eventfd write fails only when the counter would overflow (it is then readable).
            let _ = gs::syscall!(SYS_write, self.efd, &one as *const u64, 8usize);
        }
    }

    /// Wake greenlet `id` of this hub if it is still in the park `token`.
    pub fn wake(&self, id: u64, token: u64) {
        self.post(Msg::Wake { id, token });
    }

    /// Run `f` on this hub's thread (see [`Msg::Run`]).
    pub fn run(&self, f: impl FnOnce(*mut Hub) + Send + 'static) {
        self.post(Msg::Run(Box::new(f)));
    }

    fn take(&self) -> Vec<Msg> {
        self.with_queue(std::mem::take)
    }

    /// The pump: carries out posted messages on its hub, forever.
    ///
    /// # Safety
    /// `h` is the calling thread's hub and the caller is the greenlet spawned by [`start_pump`].
    unsafe fn pump(&'static self, h: *mut Hub) -> ! {
        loop {
            let batch = self.take();
            if batch.is_empty() {
                let mut n: u64 = 0;
                let failed = match gs::syscall!(SYS_read, self.efd, &mut n as *mut u64, 8usize) {
                    Ok(_) | Err(libc::EINTR) => continue,
                    Err(libc::EAGAIN) => match hub::wait_fd(h, self.efd, Interest::Read, None, false) {
                        Ok(_) => continue,
                        Err(e) => e,
                    },
                    Err(e) => e,
                };
                // Only if the program closed or replaced the hub's own eventfd: wakeups of this
                // hub could no longer arrive, so stop rather than hang.
                let mut l = gs::sys::LineBuf::new();
                l.str("greenshim: a hub's remote queue cannot be watched (errno ").num(failed as u64).str(")\n");
                gs::sys::write_stderr(l.as_bytes());
                libc::abort();
            }
            for m in batch {
                match m {
                    Msg::Wake { id, token } => {
                        (*h).wake_token(id, token, Wake::Woken);
                    }
                    Msg::Run(f) => f(h),
                }
            }
        }
    }
}

/// Give hub `h` a remote queue and its pump greenlet (detached, named `hub-remote`).
/// `Err(errno)` if the eventfd or the pump's stack cannot be made.
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn start_pump(h: *mut Hub) -> Result<&'static Remote, i32> {
    let r = Remote::new()?;
    let id = hub::spawn(
        h,
        Box::new(move || {
            // SAFETY: the pump runs on the hub that spawned it, as a greenlet of that hub.
            unsafe { r.pump(hub::current_hub()) }
        }),
        SpawnOpts { stack_size: Some(64 * 1024), user_stack: None, detached: true },
    )?;
    if let Some(g) = (*h).lookup(id) {
        let name = &mut (*g).name;
        name[..11].copy_from_slice(b"hub-remote\0");
    }
    Ok(r)
}
