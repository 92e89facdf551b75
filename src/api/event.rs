//! `Event` and `AsyncResult` (gevent's `gevent.event`): one greenlet signals, any number wait.
//!
//! Setting wakes every waiter at once. As in gevent, a waiter that was waiting when the event was
//! set returns true even if the event is cleared again before it runs: each `set` bumps a
//! generation counter and a waiter returns once the flag is set or the generation it started
//! with has passed. For `AsyncResult` the value stays, so every waiter gets it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use super::rt::{deadline_after, wait, On, Parked, WaitList};

/// A flag greenlets wait for (gevent's `Event`). Clones share the flag.
///
/// ```
/// use greenshim::api::{spawn, Event};
/// let e = Event::new();
/// let e2 = e.clone();
/// let waiter = spawn(move || { e2.wait(); "woken" });
/// e.set();
/// assert_eq!(waiter.get(), Ok("woken"));
/// ```
#[derive(Clone, Default)]
pub struct Event {
    inner: Rc<EventInner>,
}

#[derive(Default)]
struct EventInner {
    flag: Cell<bool>,
    /// Number of `set` calls so far: a waiter that saw it change was set while waiting.
    sets: Cell<u64>,
    waiters: WaitList,
}

impl Event {
    pub fn new() -> Event {
        Event::default()
    }

    /// Set the flag and wake every waiter.
    pub fn set(&self) {
        self.inner.flag.set(true);
        self.inner.sets.set(self.inner.sets.get().wrapping_add(1));
        self.inner.waiters.wake_all();
    }

    pub fn clear(&self) {
        self.inner.flag.set(false);
    }

    pub fn is_set(&self) -> bool {
        self.inner.flag.get()
    }

    /// Wait until the flag is set.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Wait at most `timeout`; the flag (true: it is set).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Some(deadline_after(timeout)))
    }

    fn wait_until(&self, deadline: Option<u64>) -> bool {
        let start = self.inner.sets.get();
        loop {
            if self.inner.flag.get() || self.inner.sets.get() != start {
                return true;
            }
            if wait(On::List(&self.inner.waiters), deadline) == Ok(Parked::TimedOut) {
                return self.inner.flag.get() || self.inner.sets.get() != start;
            }
        }
    }
}

/// A value (or an error) that greenlets wait for (gevent's `AsyncResult`): set once by one
/// greenlet, delivered to every waiter. Clones share it.
///
/// ```
/// use greenshim::api::{spawn, AsyncResult};
/// let r: AsyncResult<u32> = AsyncResult::new();
/// let r2 = r.clone();
/// let w = spawn(move || r2.get());
/// r.set(7);
/// assert_eq!(w.get(), Ok(Ok(7)));
/// assert!(r.ready() && r.successful());
/// ```
pub struct AsyncResult<T, E = String> {
    inner: Rc<ResInner<T, E>>,
}

struct ResInner<T, E> {
    value: RefCell<Option<Result<T, E>>>,
    waiters: WaitList,
}

impl<T, E> Clone for AsyncResult<T, E> {
    fn clone(&self) -> Self {
        AsyncResult { inner: self.inner.clone() }
    }
}

impl<T, E> Default for AsyncResult<T, E> {
    fn default() -> Self {
        AsyncResult { inner: Rc::new(ResInner { value: RefCell::new(None), waiters: WaitList::new() }) }
    }
}

impl<T, E> AsyncResult<T, E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Store the value and wake every waiter (a later `set` replaces it, as in gevent).
    pub fn set(&self, v: T) {
        *self.inner.value.borrow_mut() = Some(Ok(v));
        self.inner.waiters.wake_all();
    }

    /// Store an error (gevent's `set_exception`) and wake every waiter.
    pub fn set_error(&self, e: E) {
        *self.inner.value.borrow_mut() = Some(Err(e));
        self.inner.waiters.wake_all();
    }

    /// True once a value or an error is set.
    pub fn ready(&self) -> bool {
        self.inner.value.borrow().is_some()
    }

    /// True once a value (not an error) is set.
    pub fn successful(&self) -> bool {
        matches!(*self.inner.value.borrow(), Some(Ok(_)))
    }

}

/// Reading hands every waiter its own copy: `T` and `E` are `Clone`.
impl<T: Clone, E: Clone> AsyncResult<T, E> {
    /// The value or error if set, without waiting (gevent's `get(block=False)` / `peek`).
    pub fn peek(&self) -> Option<Result<T, E>> {
        self.inner.value.borrow().clone()
    }

    /// Wait for the value or error.
    pub fn get(&self) -> Result<T, E> {
        self.get_until(None).expect("an untimed get returns a result")
    }

    /// Wait at most `timeout`: `None` if nothing was set by then (gevent raises `Timeout`).
    pub fn get_timeout(&self, timeout: Duration) -> Option<Result<T, E>> {
        self.get_until(Some(deadline_after(timeout)))
    }

    fn get_until(&self, deadline: Option<u64>) -> Option<Result<T, E>> {
        loop {
            if let Some(v) = self.peek() {
                return Some(v);
            }
            if wait(On::List(&self.inner.waiters), deadline) == Ok(Parked::TimedOut) {
                return self.peek();
            }
        }
    }
}
