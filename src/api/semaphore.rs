//! `Semaphore` and `BoundedSemaphore` (gevent's `gevent.lock`): a counter greenlets acquire
//! and release; `acquire` parks while it is zero. A semaphore of 1 is a lock.
//!
//! Releasing a `BoundedSemaphore` above its initial value is an error ([`OverRelease`]; gevent
//! raises `ValueError`) and leaves the counter unchanged. A plain `Semaphore` may be released
//! above its initial value, as in gevent. Waiters are woken FIFO; a greenlet that acquires
//! without parking may take the unit before a woken waiter runs (the waiter then waits again).

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::rt::{deadline_after, wait, On, Parked, WaitList};

struct Inner {
    count: Cell<usize>,
    bound: Option<usize>,
    waiters: WaitList,
}

/// A counting semaphore (gevent's `Semaphore`). Clones share the counter.
///
/// ```
/// use greenshim::api::Semaphore;
/// let s = Semaphore::new(1);
/// {
///     let _held = s.guard();          // acquire; released when dropped
///     assert!(!s.try_acquire());
/// }
/// assert!(s.try_acquire());
/// s.release();
/// ```
#[derive(Clone)]
pub struct Semaphore {
    inner: Rc<Inner>,
}

/// Releasing a [`BoundedSemaphore`] more often than it was acquired (gevent's `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverRelease;

impl fmt::Display for OverRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore released too many times")
    }
}
impl std::error::Error for OverRelease {}

impl Semaphore {
    pub fn new(value: usize) -> Semaphore {
        Semaphore { inner: Rc::new(Inner { count: Cell::new(value), bound: None, waiters: WaitList::new() }) }
    }

    /// The current counter.
    pub fn counter(&self) -> usize {
        self.inner.count.get()
    }

    /// True if `acquire` would park.
    pub fn locked(&self) -> bool {
        self.inner.count.get() == 0
    }

    /// Take one unit if available now.
    pub fn try_acquire(&self) -> bool {
        let c = self.inner.count.get();
        if c == 0 {
            return false;
        }
        self.inner.count.set(c - 1);
        true
    }

    /// Take one unit, parking while none is available.
    pub fn acquire(&self) {
        self.acquire_until(None);
    }

    /// Take one unit, parking at most `timeout`; false if none became available.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.acquire_until(Some(deadline_after(timeout)))
    }

    fn acquire_until(&self, deadline: Option<u64>) -> bool {
        loop {
            if self.try_acquire() {
                return true;
            }
            if wait(On::List(&self.inner.waiters), deadline) == Ok(Parked::TimedOut) {
                return self.try_acquire();
            }
        }
    }

    /// Give one unit back and wake one waiter.
    pub fn release(&self) {
        self.inner.count.set(self.inner.count.get() + 1);
        self.inner.waiters.wake_one();
    }

    /// Acquire, released when the guard drops (gevent's `with sem:`).
    pub fn guard(&self) -> SemaphoreGuard {
        self.acquire();
        SemaphoreGuard { s: self.clone() }
    }

    /// [`guard`](Self::guard) with a timeout.
    pub fn guard_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard> {
        self.acquire_timeout(timeout).then(|| SemaphoreGuard { s: self.clone() })
    }

    fn release_bounded(&self) -> Result<(), OverRelease> {
        if self.inner.bound.is_some_and(|b| self.inner.count.get() >= b) {
            return Err(OverRelease);
        }
        self.release();
        Ok(())
    }
}

/// A held unit of a semaphore, released on drop.
#[must_use = "the unit is released when the guard drops"]
pub struct SemaphoreGuard {
    s: Semaphore,
}

impl Drop for SemaphoreGuard {
    fn drop(&mut self) {
        // A guard always holds a unit, so even a bounded semaphore has room for it.
        let _ = self.s.release_bounded();
    }
}

/// A semaphore that refuses to be released above its initial value (gevent's
/// `BoundedSemaphore`).
///
/// ```
/// use greenshim::api::{BoundedSemaphore, OverRelease};
/// let s = BoundedSemaphore::new(2);
/// s.acquire();
/// assert_eq!(s.release(), Ok(()));
/// assert_eq!(s.release(), Err(OverRelease));
/// assert_eq!(s.counter(), 2);
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    s: Semaphore,
}

impl BoundedSemaphore {
    pub fn new(value: usize) -> BoundedSemaphore {
        BoundedSemaphore { s: Semaphore { inner: Rc::new(Inner { count: Cell::new(value), bound: Some(value), waiters: WaitList::new() }) } }
    }

    pub fn counter(&self) -> usize {
        self.s.counter()
    }
    pub fn locked(&self) -> bool {
        self.s.locked()
    }
    pub fn try_acquire(&self) -> bool {
        self.s.try_acquire()
    }
    pub fn acquire(&self) {
        self.s.acquire()
    }
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.s.acquire_timeout(timeout)
    }
    pub fn guard(&self) -> SemaphoreGuard {
        self.s.guard()
    }
    pub fn guard_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard> {
        self.s.guard_timeout(timeout)
    }

    /// Give one unit back; `Err(OverRelease)` (counter unchanged) if that would exceed the
    /// initial value.
    pub fn release(&self) -> Result<(), OverRelease> {
        self.s.release_bounded()
    }
}
