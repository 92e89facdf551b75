//! `Queue` and `JoinableQueue` (gevent's `gevent.queue`): FIFO hand-over between greenlets.
//!
//! Bound semantics follow gevent's current documentation: `None` is unbounded, and so is a
//! bound of **0**. (Before gevent 1.0, `Queue(0)` was a rendezvous channel; 1.0 adopted the
//! standard library's "0 = infinite" and its `Queue(0)` now warns "Queue(0) now equivalent to
//! Queue(None); if you want a channel, use Channel" — here that is [`Channel`](super::Channel).)
//! A bound of `n > 0` makes `put` park while `n` items are
//! queued. Waiters are served FIFO; a woken waiter re-checks the queue, and a waiter woken but
//! leaving (timeout, kill) passes its wakeup on.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::rt::{deadline_after, wait, On, Parked, WaitList};

/// `put_nowait`/`put_timeout` found the queue full; the item is handed back.
#[derive(PartialEq, Eq)]
pub struct Full<T>(pub T);

impl<T> fmt::Debug for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Full")
    }
}
impl<T> fmt::Display for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is full")
    }
}
impl<T> std::error::Error for Full<T> {}

/// `get_nowait`/`get_timeout` found the queue empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Empty;

impl fmt::Display for Empty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is empty")
    }
}
impl std::error::Error for Empty {}

struct Inner<T> {
    items: RefCell<VecDeque<T>>,
    bound: Option<usize>,
    getters: WaitList,
    putters: WaitList,
}

/// A FIFO queue between greenlets, optionally bounded. Clones share the queue.
///
/// ```
/// use greenshim::api::{spawn, Empty, Full, Queue};
/// let q = Queue::bounded(1);
/// q.put_nowait(1).unwrap();
/// assert_eq!(q.put_nowait(2), Err(Full(2)));
/// let q2 = q.clone();
/// let consumer = spawn(move || (q2.get(), q2.get()));
/// q.put(2); // parks until the consumer took 1
/// assert_eq!(consumer.get(), Ok((1, 2)));
/// assert_eq!(q.get_nowait(), Err(Empty));
/// ```
pub struct Queue<T> {
    inner: Rc<Inner<T>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue { inner: self.inner.clone() }
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::with_maxsize(None)
    }
}

impl<T> Queue<T> {
    /// An unbounded queue (gevent's `Queue()`).
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `n` items queued; `0` means unbounded, as in current gevent.
    pub fn bounded(n: usize) -> Self {
        Queue::with_maxsize(Some(n))
    }

    /// gevent's `Queue(maxsize)`: `None` or `Some(0)` unbounded.
    pub fn with_maxsize(maxsize: Option<usize>) -> Self {
        let bound = maxsize.filter(|&n| n > 0);
        Queue { inner: Rc::new(Inner { items: RefCell::new(VecDeque::new()), bound, getters: WaitList::new(), putters: WaitList::new() }) }
    }

    /// The bound (`None`: unbounded).
    pub fn maxsize(&self) -> Option<usize> {
        self.inner.bound
    }

    pub fn len(&self) -> usize {
        self.inner.items.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_full(&self) -> bool {
        self.inner.bound.is_some_and(|b| self.len() >= b)
    }

    /// Add `v`, parking while the queue is full.
    pub fn put(&self, v: T) {
        if self.put_until(v, None).is_err() {
            unreachable!("an untimed put does not time out");
        }
    }

    /// Add `v` if there is room now.
    pub fn put_nowait(&self, v: T) -> Result<(), Full<T>> {
        if self.is_full() {
            return Err(Full(v));
        }
        self.push(v);
        Ok(())
    }

    /// Add `v`, parking at most `timeout` for room.
    pub fn put_timeout(&self, v: T, timeout: Duration) -> Result<(), Full<T>> {
        self.put_until(v, Some(deadline_after(timeout)))
    }

    fn push(&self, v: T) {
        self.inner.items.borrow_mut().push_back(v);
        self.inner.getters.wake_one();
    }

    fn put_until(&self, v: T, deadline: Option<u64>) -> Result<(), Full<T>> {
        loop {
            if !self.is_full() {
                self.push(v);
                return Ok(());
            }
            if wait(On::List(&self.inner.putters), deadline) == Ok(Parked::TimedOut) && self.is_full() {
                return Err(Full(v));
            }
        }
    }

    /// Take the first item, parking while the queue is empty.
    pub fn get(&self) -> T {
        self.get_until(None).expect("an untimed get does not time out")
    }

    /// Take the first item if there is one.
    pub fn get_nowait(&self) -> Result<T, Empty> {
        let v = self.inner.items.borrow_mut().pop_front().ok_or(Empty)?;
        self.inner.putters.wake_one();
        Ok(v)
    }

    /// Take the first item, parking at most `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Empty> {
        self.get_until(Some(deadline_after(timeout)))
    }

    fn get_until(&self, deadline: Option<u64>) -> Result<T, Empty> {
        loop {
            if let Ok(v) = self.get_nowait() {
                return Ok(v);
            }
            if wait(On::List(&self.inner.getters), deadline) == Ok(Parked::TimedOut) {
                return self.get_nowait();
            }
        }
    }
}

/// A [`Queue`] that counts unfinished tasks (gevent's `JoinableQueue`): every `put` adds one,
/// [`task_done`](Self::task_done) removes one, [`join`](Self::join) waits for zero.
///
/// ```
/// use greenshim::api::{spawn, JoinableQueue};
/// let q = JoinableQueue::new();
/// for i in 0..3 { q.put(i); }
/// let q2 = q.clone();
/// spawn(move || loop { let _ = q2.get(); q2.task_done().unwrap(); });
/// q.join(); // all three processed
/// assert_eq!(q.unfinished(), 0);
/// ```
pub struct JoinableQueue<T> {
    q: Queue<T>,
    unfinished: Rc<(Cell<usize>, WaitList)>,
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue { q: self.q.clone(), unfinished: self.unfinished.clone() }
    }
}

impl<T> Default for JoinableQueue<T> {
    fn default() -> Self {
        JoinableQueue::with_maxsize(None)
    }
}

/// `task_done` called more times than there were items (gevent's `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyTaskDone;

impl<T> JoinableQueue<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_maxsize(maxsize: Option<usize>) -> Self {
        JoinableQueue { q: Queue::with_maxsize(maxsize), unfinished: Rc::new((Cell::new(0), WaitList::new())) }
    }

    /// The queue itself (gets, lengths; puts made through it are not counted).
    pub fn queue(&self) -> &Queue<T> {
        &self.q
    }

    pub fn put(&self, v: T) {
        // Counted once queued (an interrupted put queues nothing); no switch in between.
        self.q.put(v);
        self.unfinished.0.set(self.unfinished.0.get() + 1);
    }

    pub fn put_nowait(&self, v: T) -> Result<(), Full<T>> {
        self.q.put_nowait(v)?;
        self.unfinished.0.set(self.unfinished.0.get() + 1);
        Ok(())
    }

    pub fn get(&self) -> T {
        self.q.get()
    }

    pub fn get_nowait(&self) -> Result<T, Empty> {
        self.q.get_nowait()
    }

    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Empty> {
        self.q.get_timeout(timeout)
    }

    /// Tasks put and not yet marked done.
    pub fn unfinished(&self) -> usize {
        self.unfinished.0.get()
    }

    /// Mark one task done; at zero, wake every `join`.
    pub fn task_done(&self) -> Result<(), TooManyTaskDone> {
        let n = self.unfinished.0.get();
        if n == 0 {
            return Err(TooManyTaskDone);
        }
        self.unfinished.0.set(n - 1);
        if n == 1 {
            self.unfinished.1.wake_all();
        }
        Ok(())
    }

    /// Wait until every task put was marked done.
    pub fn join(&self) {
        while self.unfinished.0.get() != 0 {
            let _ = wait(On::List(&self.unfinished.1), None);
        }
    }

    /// [`join`](Self::join) for at most `timeout`; true if every task is done.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        let d = deadline_after(timeout);
        while self.unfinished.0.get() != 0 {
            if wait(On::List(&self.unfinished.1), Some(d)) == Ok(Parked::TimedOut) {
                break;
            }
        }
        self.unfinished.0.get() == 0
    }
}
