//! `Channel`: a queue of size zero (gevent's `gevent.queue.Channel`).
//!
//! Before gevent 1.0, `Queue(0)` was this; 1.0 made `Queue(0)` an unbounded queue, like the
//! standard library's, and kept the rendezvous behaviour as a class of its own: a `put` does not return until a getter has taken the item. Items are handed
//! over in `put` order; a putter interrupted (timeout, kill) before its item was taken withdraws
//! it, and a timed-out `put_timeout` hands it back in `Full`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use super::queue::{Empty, Full};
use super::rt::{deadline_after, wait, On, Parked, WaitList};

struct Inner<T> {
    /// Items of putters not yet taken, with the putter's ticket.
    offers: RefCell<VecDeque<(u64, T)>>,
    getters: WaitList,
    /// Putters waiting for their item to be taken.
    putters: WaitList,
    tickets: Cell<u64>,
}

impl<T> Inner<T> {
    fn withdraw(&self, ticket: u64) -> Option<T> {
        let mut o = self.offers.borrow_mut();
        let i = o.iter().position(|(t, _)| *t == ticket)?;
        o.remove(i).map(|(_, v)| v)
    }

    fn offered(&self, ticket: u64) -> bool {
        self.offers.borrow().iter().any(|(t, _)| *t == ticket)
    }
}

/// Withdraws a putter's item if the putter leaves (unwinds) before it was taken.
struct Offer<'a, T> {
    inner: &'a Inner<T>,
    ticket: u64,
}

impl<T> Drop for Offer<'_, T> {
    fn drop(&mut self) {
        drop(self.inner.withdraw(self.ticket));
    }
}

/// A rendezvous between greenlets: `put` parks until a `get` took the item. Clones share it.
///
/// ```
/// use greenshim::api::{spawn, Channel, Full};
/// let ch = Channel::new();
/// assert_eq!(ch.put_nowait(1), Err(Full(1))); // nobody is getting
/// let ch2 = ch.clone();
/// let getter = spawn(move || ch2.get());
/// ch.put(2); // returns once the getter took it
/// assert!(getter.ready());
/// assert_eq!(getter.get(), Ok(2));
/// ```
pub struct Channel<T> {
    inner: Rc<Inner<T>>,
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel { inner: self.inner.clone() }
    }
}

impl<T> Default for Channel<T> {
    fn default() -> Self {
        Channel { inner: Rc::new(Inner { offers: RefCell::new(VecDeque::new()), getters: WaitList::new(), putters: WaitList::new(), tickets: Cell::new(0) }) }
    }
}

impl<T> Channel<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Items offered by parked putters and not yet taken.
    pub fn balance(&self) -> usize {
        self.inner.offers.borrow().len()
    }

    /// Hand `v` to a getter, parking until one took it.
    pub fn put(&self, v: T) {
        if self.put_until(v, None).is_err() {
            unreachable!("an untimed put does not time out");
        }
    }

    /// Hand `v` to a getter, parking at most `timeout`; `Err(Full(v))` if none took it.
    pub fn put_timeout(&self, v: T, timeout: Duration) -> Result<(), Full<T>> {
        self.put_until(v, Some(deadline_after(timeout)))
    }

    /// Hand `v` over only if a getter is waiting for it now (gevent: `put(block=False)`).
    pub fn put_nowait(&self, v: T) -> Result<(), Full<T>> {
        if self.inner.getters.len() <= self.balance() {
            return Err(Full(v));
        }
        let t = self.next_ticket();
        self.inner.offers.borrow_mut().push_back((t, v));
        self.inner.getters.wake_one();
        Ok(())
    }

    fn next_ticket(&self) -> u64 {
        self.inner.tickets.set(self.inner.tickets.get() + 1);
        self.inner.tickets.get()
    }

    fn put_until(&self, v: T, deadline: Option<u64>) -> Result<(), Full<T>> {
        let ticket = self.next_ticket();
        self.inner.offers.borrow_mut().push_back((ticket, v));
        self.inner.getters.wake_one();
        let offer = Offer { inner: &self.inner, ticket };
        loop {
            if !self.inner.offered(ticket) {
                std::mem::forget(offer); // taken: nothing to withdraw
                return Ok(());
            }
            if wait(On::List(&self.inner.putters), deadline) == Ok(Parked::TimedOut) && self.inner.offered(ticket) {
                std::mem::forget(offer);
                let v = self.inner.withdraw(ticket).expect("an offered item is in the list");
                return Err(Full(v));
            }
        }
    }

    /// Take an item from a putter, parking until one offers.
    pub fn get(&self) -> T {
        self.get_until(None).expect("an untimed get does not time out")
    }

    /// Take an item a putter offers now.
    pub fn get_nowait(&self) -> Result<T, Empty> {
        let (_, v) = self.inner.offers.borrow_mut().pop_front().ok_or(Empty)?;
        self.inner.putters.wake_all(); // its putter returns; the others check and wait again
        Ok(v)
    }

    /// Take an item, parking at most `timeout`.
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
