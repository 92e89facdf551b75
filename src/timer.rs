//! The hub's timers: a min-heap of deadlines with lazy cancellation.
//!
//! Every timed park pushes `(deadline, greenlet id, park token)`. A park that ends early (the fd
//! became ready, the mutex was released) does not search the heap: its entry stays and is
//! recognised as stale when it surfaces, because the greenlet's park token has moved on (or the
//! greenlet id no longer resolves). Pushing and popping are O(log n); cancelling is free. A
//! program that keeps arming long timeouts it never reaches would grow the heap, so
//! [`Timers::compact`] drops stale entries once they outnumber the live ones.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One armed timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// Absolute CLOCK_MONOTONIC nanoseconds.
    pub deadline: u64,
    /// Insertion order: equal deadlines fire in the order they were armed.
    seq: u64,
    /// The greenlet to wake.
    pub id: u64,
    /// The park this timer belongs to (the greenlet's park token at arming time).
    pub token: u64,
}

#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

impl Timers {
    pub const fn new() -> Self {
        Timers { heap: BinaryHeap::new(), seq: 0 }
    }

    pub fn push(&mut self, deadline: u64, id: u64, token: u64) {
        self.seq += 1;
        self.heap.push(Reverse(Entry { deadline, seq: self.seq, id, token }));
    }

    /// The earliest deadline, stale or not (a stale one only causes an early, harmless wakeup).
    pub fn next_deadline(&self) -> Option<u64> {
        self.heap.peek().map(|e| e.0.deadline)
    }

    /// Pop one entry whose deadline is `<= now`.
    pub fn pop_due(&mut self, now: u64) -> Option<Entry> {
        match self.heap.peek() {
            Some(e) if e.0.deadline <= now => self.heap.pop().map(|e| e.0),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Drop every entry for which `live` says false.
    pub fn compact(&mut self, mut live: impl FnMut(&Entry) -> bool) {
        let v = std::mem::take(&mut self.heap).into_vec();
        self.heap = v.into_iter().filter(|e| live(&e.0)).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_then_arming_order() {
        let mut t = Timers::new();
        t.push(30, 1, 0);
        t.push(10, 2, 0);
        t.push(10, 3, 0);
        t.push(20, 4, 0);
        assert_eq!(t.next_deadline(), Some(10));
        assert!(t.pop_due(9).is_none());
        let order: Vec<u64> = std::iter::from_fn(|| t.pop_due(25)).map(|e| e.id).collect();
        assert_eq!(order, vec![2, 3, 4]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn compact_drops_stale_entries() {
        let mut t = Timers::new();
        for i in 0..100 {
            t.push(i, i, i % 2);
        }
        t.compact(|e| e.token == 0);
        assert_eq!(t.len(), 50);
        assert!(std::iter::from_fn(|| t.pop_due(u64::MAX)).all(|e| e.token == 0));
    }
}
