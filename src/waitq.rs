//! Intrusive FIFO wait queues for synchronisation objects.
//!
//! A queue is ONE word inside the caller's object (a pthread mutex, condvar, semaphore, ...): a
//! pointer to the first waiter, or null. Waiters are [`Node`]s that live on the parked greenlet's
//! own stack for the duration of the wait (a parked greenlet's stack stays mapped and untouched),
//! linked in a circular doubly-linked list: the first node's `prev` is the last node, so
//! appending and unlinking from anywhere are O(1) and nothing is ever allocated.
//!
//! Waking follows the hub's token discipline: a node records the greenlet id and the park token
//! it was armed with, and [`wake_one`] only counts a waiter as woken if
//! [`Hub::wake_token`] accepted it. A waiter whose park already ended another way (its deadline
//! fired, a signal interrupted it) but has not run yet is unlinked and skipped; when it runs it
//! sees `woken == false` and reports its own reason. So a wakeup is never lost on a waiter that
//! is leaving anyway, and a primitive that hands ownership to the woken waiter (mutex handoff)
//! can rely on `woken`.
//!
//! Everything here runs on the hub's OS thread and is NOT async-signal-safe: a signal handler
//! must never touch a queue (the semaphore layer defers its wakeups for that reason).

use std::ptr;

use crate::hub::{self, Hub, Wake, WaitOn};

/// One waiter, on the waiting greenlet's stack.
#[repr(C)]
pub struct Node {
    next: *mut Node,
    prev: *mut Node,
    /// Greenlet id and park token of the wait.
    pub id: u64,
    pub token: u64,
    /// Free for the primitive (e.g. reader/writer).
    pub data: usize,
    /// Set by [`wake_one`]/[`wake_all`] when the hub accepted the wakeup.
    pub woken: bool,
    linked: bool,
}

impl Node {
    pub const fn new(data: usize) -> Node {
        Node { next: ptr::null_mut(), prev: ptr::null_mut(), id: 0, token: 0, data, woken: false, linked: false }
    }

    pub fn is_linked(&self) -> bool {
        self.linked
    }
}

/// A queue is a pointer to its first node (null: empty), stored in the caller's object.
pub type Queue = *mut Node;

/// Append `n` at the back.
///
/// # Safety
/// `q` points to a valid queue word; `n` is not linked and stays valid while linked.
#[inline]
pub unsafe fn push_back(q: *mut Queue, n: *mut Node) {
    let head = *q;
    if head.is_null() {
        (*n).next = n;
        (*n).prev = n;
        *q = n;
    } else {
        let tail = (*head).prev;
        (*n).next = head;
        (*n).prev = tail;
        (*tail).next = n;
        (*head).prev = n;
    }
    (*n).linked = true;
}

/// Insert `n` at the front (a waiter that was woken but lost the race keeps its turn).
///
/// # Safety
/// As [`push_back`].
#[inline]
pub unsafe fn push_front(q: *mut Queue, n: *mut Node) {
    push_back(q, n);
    *q = n;
}

/// Unlink `n` (no effect if it is not linked).
///
/// # Safety
/// `n` is linked in `q` or not linked at all.
#[inline]
pub unsafe fn remove(q: *mut Queue, n: *mut Node) {
    if !(*n).linked {
        return;
    }
    if (*n).next == n {
        *q = ptr::null_mut();
    } else {
        (*(*n).prev).next = (*n).next;
        (*(*n).next).prev = (*n).prev;
        if *q == n {
            *q = (*n).next;
        }
    }
    (*n).next = ptr::null_mut();
    (*n).prev = ptr::null_mut();
    (*n).linked = false;
}

/// The first node, or null.
#[inline]
pub unsafe fn first(q: *const Queue) -> *mut Node {
    *q
}

/// The node after `n`, or null at the end.
#[inline]
pub unsafe fn next(q: *const Queue, n: *mut Node) -> *mut Node {
    let nx = (*n).next;
    if nx == *q {
        ptr::null_mut()
    } else {
        nx
    }
}

/// Number of waiters (O(n), for diagnostics).
pub unsafe fn len(q: *const Queue) -> usize {
    let mut k = 0;
    let mut n = first(q);
    while !n.is_null() {
        k += 1;
        n = next(q, n);
    }
    k
}

/// Park the running greenlet on `q` until woken through the queue, the deadline passes or (if
/// `interruptible`) a signal handler runs. The node is unlinked on return whatever the reason;
/// `node.woken` tells whether the queue woke it.
///
/// # Safety
/// `h` is the calling thread's hub; `q` is a valid queue word that outlives the wait.
pub unsafe fn wait(h: *mut Hub, q: *mut Queue, node: &mut Node, what: WaitOn, deadline: Option<u64>, interruptible: bool) -> Wake {
    let (id, token) = (*h).prepare_park();
    node.id = id;
    node.token = token;
    node.woken = false;
    push_back(q, node);
    let why = hub::park_prepared(h, what, deadline, interruptible);
    remove(q, node);
    why
}

/// Re-arm a node that is still linked (or was re-linked) for another park, e.g. after a stray
/// interruption, keeping its place in the queue.
///
/// # Safety
/// As [`wait`]; `node` is linked in `q`.
pub unsafe fn rewait(h: *mut Hub, q: *mut Queue, node: &mut Node, what: WaitOn, deadline: Option<u64>, interruptible: bool) -> Wake {
    let (_, token) = (*h).prepare_park();
    node.token = token;
    node.woken = false;
    let why = hub::park_prepared(h, what, deadline, interruptible);
    remove(q, node);
    why
}

/// Wake the first waiter whose park is still current (skipping and unlinking those that are
/// leaving anyway). Returns the woken node (still valid until the woken greenlet runs).
///
/// # Safety
/// `h` is the calling thread's hub; `q` is a valid queue word.
#[inline]
pub unsafe fn wake_one(h: *mut Hub, q: *mut Queue) -> *mut Node {
    loop {
        let n = *q;
        if n.is_null() {
            return n;
        }
        remove(q, n);
        if (*hub::route(h, (*n).id)).wake_token((*n).id, (*n).token, Wake::Woken) {
            (*n).woken = true;
            return n;
        }
    }
}

/// Wake every waiter; returns how many were woken.
///
/// # Safety
/// As [`wake_one`].
pub unsafe fn wake_all(h: *mut Hub, q: *mut Queue) -> usize {
    let mut k = 0;
    while !wake_one(h, q).is_null() {
        k += 1;
    }
    k
}

/// Wake the specific node `n` (linked in `q`); false if its park had already ended.
///
/// # Safety
/// As [`wake_one`]; `n` is linked in `q`.
pub unsafe fn wake_node(h: *mut Hub, q: *mut Queue, n: *mut Node) -> bool {
    remove(q, n);
    if (*hub::route(h, (*n).id)).wake_token((*n).id, (*n).token, Wake::Woken) {
        (*n).woken = true;
        true
    } else {
        false
    }
}
