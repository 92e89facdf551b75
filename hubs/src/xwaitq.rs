//! Cross-hub wait queues: the multi-hub counterpart of [`crate::waitq`], for a synchronisation
//! object whose waiters may sit on several hubs. Never used with one hub.
//!
//! The queue and the object's state are protected by the object's stripe lock
//! ([`crate::stripe`]), held by the caller of every function here. A waiter links a node on
//! its own stack, arms its park token, releases the lock and parks; a waker unlinks the first
//! node, marks it woken and wakes its greenlet by token: directly when the greenlet is on the
//! waker's own hub, through the waiter hub's remote queue otherwise.
//!
//! No lost wakeup: the token is armed before the node is visible, so a wake that arrives while
//! the waiter is still between the unlock and its park is not lost (a remote wake is carried
//! out by the waiter's hub only after the waiter switched out; a local one cannot run before).
//! A waiter whose park ends otherwise (deadline, signal) takes the lock again: if a waker
//! marked its node meanwhile, the wake-up is its (the object's hand-over is not dropped) and the
//! late wake by token finds the park over and does nothing.

use std::ptr;

use gs::greenlet::{WaitOn, Wake};
use gs::hub::{self, Hub};
use crate::remote::Remote;
use crate::stripe::{self, Guard};

/// A waiter, linked while it waits; lives on the waiting greenlet's stack.
pub struct XNode {
    next: *mut XNode,
    prev: *mut XNode,
    hub: *mut Hub,
    remote: &'static Remote,
    id: u64,
    token: u64,
    woken: bool,
    /// For the object's own use (e.g. a reader or a writer of an rwlock).
    pub tag: u64,
}

/// A FIFO of waiters; all access under the object's stripe lock.
pub struct XQueue {
    head: *mut XNode,
    tail: *mut XNode,
}

impl Default for XQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl XQueue {
    pub const fn new() -> XQueue {
        XQueue { head: ptr::null_mut(), tail: ptr::null_mut() }
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// # Safety
    /// The caller holds the stripe lock; `n` is not linked.
    unsafe fn push_back(&mut self, n: *mut XNode) {
        (*n).next = ptr::null_mut();
        (*n).prev = self.tail;
        if self.tail.is_null() {
            self.head = n;
        } else {
            (*self.tail).next = n;
        }
        self.tail = n;
    }

    /// # Safety
    /// The caller holds the stripe lock; `n` is linked in this queue.
    unsafe fn unlink(&mut self, n: *mut XNode) {
        if (*n).prev.is_null() {
            self.head = (*n).next;
        } else {
            (*(*n).prev).next = (*n).next;
        }
        if (*n).next.is_null() {
            self.tail = (*n).prev;
        } else {
            (*(*n).next).prev = (*n).prev;
        }
        (*n).next = ptr::null_mut();
        (*n).prev = ptr::null_mut();
    }

    /// Wake the first waiter; returns its tag, or `None` if none waits.
    ///
    /// # Safety
    /// The caller holds the stripe lock of the object that owns this queue.
    pub unsafe fn wake_one(&mut self) -> Option<u64> {
        let n = self.head;
        if n.is_null() {
            return None;
        }
        self.unlink(n);
        let (h, remote, id, token, tag) = ((*n).hub, (*n).remote, (*n).id, (*n).token, (*n).tag);
        (*n).woken = true; // the node may be gone once a remote wake is posted: nothing after
        if h == hub::current_hub() {
            (*h).wake_token(id, token, Wake::Woken);
        } else {
            remote.wake(id, token);
        }
        Some(tag)
    }

    /// Wake every waiter; returns how many.
    ///
    /// # Safety
    /// As [`XQueue::wake_one`].
    pub unsafe fn wake_all(&mut self) -> usize {
        let mut k = 0;
        while self.wake_one().is_some() {
            k += 1;
        }
        k
    }
}

/// Wait on `q` (of the object whose stripe lock `guard` holds) until woken, `deadline` passes
/// or a signal interrupts an `interruptible` park. Releases the lock while parked and returns
/// with it held again (the new guard). A park that a waker marked is [`Wake::Woken`] whatever
/// else ended it.
///
/// # Safety
/// `h` is the calling thread's hub, registered ([`crate::multihub::register`]); `q` belongs to
/// the object locked by `guard` and outlives the wait.
pub unsafe fn wait(
    h: *mut Hub,
    q: *mut XQueue,
    guard: Guard,
    tag: u64,
    what: WaitOn,
    deadline: Option<u64>,
    interruptible: bool,
) -> (Wake, Guard) {
    let remote = crate::multihub::remote_of(h).expect("a multi-hub wait on a registered hub");
    let (id, token) = (*h).prepare_park();
    let mut node = XNode { next: ptr::null_mut(), prev: ptr::null_mut(), hub: h, remote, id, token, woken: false, tag };
    let n: *mut XNode = &mut node;
    (*q).push_back(n);
    let addr = guard.addr();
    drop(guard);
    let why = hub::park_prepared(h, what, deadline, interruptible);
    let guard = stripe::lock(addr);
    // SAFETY: `woken` is written by a waker under this lock; read under it too.
    if ptr::read_volatile(&(*n).woken) {
        return (Wake::Woken, guard);
    }
    (*q).unlink(n);
    (why, guard)
}
