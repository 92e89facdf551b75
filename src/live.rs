//! The hub's state, published for a reader on another OS thread: the live view (`greenshim -p`)
//! and the dump when the hub is held (a greenlet that never yields, or the OS thread blocked in
//! a call greenshim cannot make cooperative).
//!
//! Why published words and not the hub's own tables: the reader must answer exactly when the
//! hub cannot (it is held), and must never crash or block the host. So it reads nothing the hub
//! owns (greenlets are freed when reaped, the slot table reallocates, and the hub takes no lock
//! a reader could share). Instead every greenlet slot has an [`Entry`] of atomics in chunks that
//! are allocated once and never freed; the hub writes them with relaxed stores, the reader loads
//! them. A torn view (one word new, another old) only shows a state a moment out of date.
//!
//! Cost, by design one or two relaxed stores (plain `mov`s) per event and a handful of
//! instructions: a park writes `what` (and `arg` for a primitive, a join or a sleep) and bumps
//! `parks`; a switch writes the greenlet's `what` (running) and `switches`; a wakeup sets the
//! runnable bit; an interposed call writes `call`. Timestamps reuse the coarse clock the park
//! reads anyway, kept pre-shifted ([`stamp`]) so that a switch only ORs it in.
//!
//! `what` layout: bits 0..4 kind ([`K_RUNNING`]...), bit 4 runnable (woken, in the run queue),
//! bits 5..25 payload (an fd modulo 2^20, or a primitive kind's index in [`Live::kinds`]), bits
//! 25..64 since when, in ticks of 2^20 ns (1.05 ms) of the coarse monotonic clock (modulo
//! 2^39 ticks, about 18 years).

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering::{Acquire, Relaxed, Release}};

use crate::greenlet::WaitOn;
use crate::reactor::Interest;

pub const K_FREE: u64 = 0;
pub const K_RUNNING: u64 = 1;
/// Spawned, not run yet.
pub const K_NEW: u64 = 2;
pub const K_YIELD: u64 = 3;
/// Parked with no particular wait (an explicit unpark ends it).
pub const K_PARKED: u64 = 4;
/// `arg`: the deadline, CLOCK_MONOTONIC ns (0: none).
pub const K_SLEEP: u64 = 5;
/// Only a signal ends it (sigwait, sigsuspend, pause, a poll on no fds).
pub const K_SIGNAL: u64 = 6;
/// `arg`: the display number of the greenlet joined (0: gone).
pub const K_JOIN: u64 = 7;
pub const K_FD_READ: u64 = 8;
pub const K_FD_WRITE: u64 = 9;
/// payload: kind index; `arg`: the primitive's address.
pub const K_OBJECT: u64 = 10;
/// Ended, not joined yet.
pub const K_DEAD: u64 = 11;

pub const RUNNABLE: u64 = 1 << 4;
const PAYLOAD_SHIFT: u32 = 5;
const PAYLOAD_MAX: u64 = (1 << 20) - 1;
const SINCE_SHIFT: u32 = 25;
/// Mask of the ms field (39 bits).
pub const SINCE_MASK: u64 = (1 << 39) - 1;

/// One greenlet slot as the reader sees it.
pub struct Entry {
    pub what: AtomicU64,
    pub arg: AtomicU64,
    /// Display number (`g<seq>`); 0: the slot is free.
    pub seq: AtomicU64,
    /// `pthread_setname_np` name, 16 bytes.
    pub name: [AtomicU64; 2],
    /// Last interposed call (`calls::NAMES` index + 1; 0: none yet).
    pub call: AtomicU32,
}

impl Default for Entry {
    fn default() -> Self {
        Entry::new()
    }
}

impl Entry {
    pub const fn new() -> Entry {
        Entry { what: AtomicU64::new(0), arg: AtomicU64::new(0), seq: AtomicU64::new(0), name: [AtomicU64::new(0), AtomicU64::new(0)], call: AtomicU32::new(0) }
    }
}

/// Where greenlets past the last chunk publish (never read).
pub static SPARE: Entry = Entry::new();

const CHUNK: usize = 256;
const CHUNKS: usize = 4096;

/// Everything the hub publishes.
pub struct Live {
    chunks: [AtomicPtr<Entry>; CHUNKS],
    /// Slot indices in use are below this.
    pub slots: AtomicUsize,
    pub switches: AtomicU64,
    pub parks: AtomicU64,
    /// Primitive kinds greenlets parked on ("mutex", "cond"...): pointer and length of a
    /// `&'static str` (its bytes live as long as the library).
    kinds: [(AtomicUsize, AtomicUsize); 32],
    /// Kinds used (hub side).
    nkinds: AtomicUsize,
    /// Hub side: kind pointer << 8 | index, by a hash of the pointer (a miss searches).
    kind_cache: [AtomicUsize; 16],
}

/// Decoded `what`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct What {
    pub kind: u64,
    pub runnable: bool,
    pub payload: u64,
    /// Ticks of 2^20 ns.
    pub since: u64,
}

pub fn decode(w: u64) -> What {
    What { kind: w & 15, runnable: w & RUNNABLE != 0, payload: (w >> PAYLOAD_SHIFT) & PAYLOAD_MAX, since: w >> SINCE_SHIFT }
}

/// The `what` bits of coarse monotonic time `ns` (shifts only: the upper bits fall off).
#[inline(always)]
pub fn stamp(ns: u64) -> u64 {
    (ns >> 20) << SINCE_SHIFT
}

/// `what` of `kind` with `payload` at `stamp` (from [`stamp`]).
#[inline(always)]
pub fn encode(kind: u64, payload: u64, stamp: u64) -> u64 {
    kind | ((payload & PAYLOAD_MAX) << PAYLOAD_SHIFT) | stamp
}

/// Milliseconds from `since` (decoded ticks) to coarse monotonic time `now_ns`.
pub fn elapsed_ms(since: u64, now_ns: u64) -> u64 {
    let ticks = ((now_ns >> 20) & SINCE_MASK).wrapping_sub(since) & SINCE_MASK;
    (ticks as u128 * (1 << 20) / 1_000_000) as u64
}

impl Live {
    /// A leaked, zeroed block (one per hub; never freed: a reader may hold it).
    pub fn new_leaked() -> &'static Live {
        Box::leak(Box::new(Live {
            chunks: [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS],
            slots: AtomicUsize::new(0),
            switches: AtomicU64::new(0),
            parks: AtomicU64::new(0),
            kinds: [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; 32],
            nkinds: AtomicUsize::new(0),
            kind_cache: [const { AtomicUsize::new(0) }; 16],
        }))
    }

    /// The entry of slot `index`, allocating its chunk (hub thread only). Past 1M slots,
    /// [`SPARE`] (such greenlets are not shown).
    pub fn entry_for(&self, index: usize) -> &'static Entry {
        let Some(c) = self.chunks.get(index / CHUNK) else { return &SPARE };
        let mut p = c.load(Acquire);
        if p.is_null() {
            let chunk: Box<[Entry]> = (0..CHUNK).map(|_| Entry::new()).collect();
            p = Box::leak(chunk).as_mut_ptr();
            c.store(p, Release);
        }
        if index + 1 > self.slots.load(Relaxed) {
            self.slots.store(index + 1, Release);
        }
        // SAFETY: chunks are CHUNK entries long, leaked (never freed).
        unsafe { &*p.add(index % CHUNK) }
    }

    /// The entry of slot `index` for a reader (`None`: never allocated).
    pub fn entry(&self, index: usize) -> Option<&'static Entry> {
        let p = self.chunks.get(index / CHUNK)?.load(Acquire);
        // SAFETY: as in entry_for; a non-null chunk is fully initialised before it is published.
        (!p.is_null()).then(|| unsafe { &*p.add(index % CHUNK) })
    }

    /// Index of a primitive kind, registering it (hub thread only): one load when cached.
    #[inline(always)]
    fn kind_index(&self, kind: &'static str) -> u64 {
        let p = kind.as_ptr() as usize;
        let slot = &self.kind_cache[(p.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60) & 15];
        let c = slot.load(Relaxed);
        if c >> 8 == p {
            return (c & 255) as u64;
        }
        let i = self.kind_lookup(kind);
        slot.store(p << 8 | i as usize, Relaxed);
        i
    }

    #[cold]
    fn kind_lookup(&self, kind: &'static str) -> u64 {
        let n = self.nkinds.load(Relaxed);
        if let Some(i) = (0..n).find(|&i| self.kinds[i].0.load(Relaxed) == kind.as_ptr() as usize) {
            return i as u64;
        }
        self.add_kind(kind, n)
    }

    #[cold]
    fn add_kind(&self, kind: &'static str, n: usize) -> u64 {
        // Same text at another address (another crate's literal): reuse its index.
        if let Some(i) = (0..n).find(|&i| self.kind_str(i) == Some(kind)) {
            return i as u64;
        }
        if n == self.kinds.len() {
            return PAYLOAD_MAX;
        }
        self.kinds[n].1.store(kind.len(), Relaxed);
        self.kinds[n].0.store(kind.as_ptr() as usize, Release);
        self.nkinds.store(n + 1, Relaxed);
        n as u64
    }

    /// The primitive kind of index `i`, if registered.
    pub fn kind_str(&self, i: usize) -> Option<&'static str> {
        let (p, l) = self.kinds.get(i)?;
        let p = p.load(Acquire);
        if p == 0 {
            return None;
        }
        // SAFETY: (p, l) was published from a `&'static str` (length stored before the pointer).
        let b = unsafe { std::slice::from_raw_parts(p as *const u8, l.load(Relaxed)) };
        std::str::from_utf8(b).ok()
    }

    /// A park of the greenlet of `e` on `wait` at `stamp` (hub thread). `join_seq`: the display
    /// number of a join's target; `deadline` in ns.
    #[inline(always)]
    pub fn parked(&self, e: &Entry, wait: WaitOn, stamp: u64, deadline: Option<u64>, join_seq: u64) {
        let (kind, payload) = match wait {
            WaitOn::Fd(fd, Interest::Read) => (K_FD_READ, fd as u64),
            WaitOn::Fd(fd, Interest::Write) => (K_FD_WRITE, fd as u64),
            WaitOn::Object(k, addr) => {
                e.arg.store(addr as u64, Relaxed);
                (K_OBJECT, self.kind_index(k))
            }
            WaitOn::Sleep => {
                e.arg.store(deadline.unwrap_or(0), Relaxed);
                (K_SLEEP, 0)
            }
            WaitOn::Join(_) => {
                e.arg.store(join_seq, Relaxed);
                (K_JOIN, 0)
            }
            WaitOn::Signal => (K_SIGNAL, 0),
            WaitOn::Yield => (K_YIELD, 0),
            WaitOn::Nothing => (K_PARKED, 0),
        };
        e.what.store(encode(kind, payload, stamp), Relaxed);
        self.parks.store(self.parks.load(Relaxed) + 1, Relaxed);
    }

    /// The greenlet of `e` was made runnable.
    #[inline(always)]
    pub fn woken(e: &Entry) {
        e.what.store(e.what.load(Relaxed) | RUNNABLE, Relaxed);
    }

    /// The greenlet of `e` runs from now on (`stamp`: the hub's latest coarse time).
    #[inline(always)]
    pub fn running(e: &Entry, stamp: u64) {
        e.what.store(K_RUNNING | stamp, Relaxed);
    }

    /// Set `e`'s name (NUL-padded 16 bytes).
    pub fn set_name(e: &Entry, name: &[u8; 16]) {
        e.name[0].store(u64::from_ne_bytes(name[..8].try_into().unwrap_or([0; 8])), Relaxed);
        e.name[1].store(u64::from_ne_bytes(name[8..].try_into().unwrap_or([0; 8])), Relaxed);
    }

    /// `e`'s name as stored.
    pub fn name(e: &Entry) -> [u8; 16] {
        let mut n = [0u8; 16];
        n[..8].copy_from_slice(&e.name[0].load(Relaxed).to_ne_bytes());
        n[8..].copy_from_slice(&e.name[1].load(Relaxed).to_ne_bytes());
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_round_trips() {
        let ns = ((1u64 << 39) + 77) << 20;
        let w = encode(K_FD_READ, 1234, stamp(ns));
        let d = decode(w | RUNNABLE);
        assert_eq!(d, What { kind: K_FD_READ, runnable: true, payload: 1234, since: 77 });
        assert!((999..=1000).contains(&elapsed_ms(d.since, ns + 1_000_000_000)));
        assert_eq!(elapsed_ms(SINCE_MASK, 1 << 21), 3 * 1_048_576 / 1_000_000); // wraps: 3 ticks
    }

    #[test]
    fn entries_and_kinds() {
        let l = Live::new_leaked();
        assert!(l.entry(300).is_none());
        let e = l.entry_for(300);
        assert_eq!(l.slots.load(Relaxed), 301);
        assert!(std::ptr::eq(e, l.entry(300).unwrap()));
        l.parked(e, WaitOn::Object("mutex", 0x1000), stamp(9 << 20), None, 0);
        let d = decode(e.what.load(Relaxed));
        assert_eq!((d.kind, l.kind_str(d.payload as usize), e.arg.load(Relaxed)), (K_OBJECT, Some("mutex"), 0x1000));
        l.parked(e, WaitOn::Object("cond", 8), stamp(9 << 20), None, 0);
        assert_eq!(l.kind_str(decode(e.what.load(Relaxed)).payload as usize), Some("cond"));
        l.parked(e, WaitOn::Object("mutex", 0x1000), stamp(9 << 20), None, 0);
        assert_eq!(l.kind_str(decode(e.what.load(Relaxed)).payload as usize), Some("mutex"));
        assert_eq!(l.parks.load(Relaxed), 3);
        Live::set_name(e, b"worker\0\0\0\0\0\0\0\0\0\0");
        assert_eq!(&Live::name(e)[..7], b"worker\0");
    }
}
