//! A greenlet: its states, why a park ends, what it waits on, and the record the hub keeps.
//!
//! The hub (`hub.rs`) owns every `Greenlet` (boxed, leaked, freed when reaped); the shim reads
//! the public fields (id, name, state, what it waits on) for its pthread calls and reports.

use corosensei::{Coroutine, Yielder};

use crate::reactor::Interest;
use crate::stack::Stack;

/// The coroutine type of a greenlet (no values passed in or out: the hub keeps the state).
pub(crate) type Coro = Coroutine<(), (), (), Stack>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Runnable,
    Running,
    Parked,
    Dead,
}

/// Why a park ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Somebody woke it (fd ready, join target ended, explicit unpark).
    Woken,
    /// Its deadline passed.
    TimedOut,
    /// A signal handler ran while it was parked interruptibly (EINTR).
    Interrupted,
    /// The fd it waited on was closed by another greenlet (EBADF).
    Closed,
}

/// What a parked greenlet waits on: for the deadlock report and the greenlet dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOn {
    Nothing,
    Yield,
    Sleep,
    /// Only a signal can end this wait (a poll on no fds without a timeout): not a deadlock.
    Signal,
    Join(u64),
    Fd(i32, Interest),
    /// A synchronisation object: its kind ("mutex", "cond", ...) and address.
    Object(&'static str, usize),
}

/// One greenlet. Boxed and leaked; freed when reaped (joined, or ended while detached).
pub struct Greenlet {
    /// Tagged id (see `hub::ID_TAG`).
    pub id: u64,
    /// Display number: `g1` is main, then one more per spawn, never reused (traces, reports).
    pub seq: u64,
    /// The coroutine; `None` for the main greenlet and after the greenlet ended.
    pub(crate) coro: Option<Coro>,
    /// Set by the coroutine on its first run; valid while the coroutine is alive.
    pub(crate) yielder: *const Yielder<(), ()>,
    pub state: State,
    /// errno while switched out.
    pub(crate) errno: i32,
    /// Re-entrancy depth of the shim's hooks for this greenlet (0: running program code).
    pub hook_depth: u32,
    /// NUL-terminated name (`pthread_setname_np`), at most 15 bytes.
    pub name: [u8; 16],
    pub detached: bool,
    /// Return value (`pthread_exit` / start routine).
    pub retval: usize,
    /// Greenlet blocked in join on this one (0: none).
    pub(crate) joiner: u64,
    /// Changes on every park.
    pub(crate) token: u64,
    pub(crate) wake: Wake,
    pub(crate) interruptible: bool,
    pub wait: WaitOn,
    /// CLOCK_MONOTONIC ns when it last parked.
    pub parked_since: u64,
    pub(crate) entry: Option<Box<dyn FnOnce() -> usize>>,
    /// Usable stack range `(lo, hi)`; (0, 0) for main.
    pub stack: (usize, usize),
    /// Overflow zone below the stack (guard page and margin).
    pub(crate) guard: (usize, usize),
    /// The canary word checked after every run ([`Stack::canary_addr`](crate::stack::Stack::canary_addr)):
    /// only on stacks greenshim carved in Canary mode; 0 for none (main, guard pages, and
    /// stacks the program supplied).
    pub(crate) canary: usize,
    /// `pthread_exit` was called: the loop must reset the coroutine instead of resuming it.
    pub(crate) exit_requested: bool,
    /// The greenlet that spawned this one.
    pub parent: u64,
    /// Per-greenlet words for the shim (thread keys, cancellation, scheduling parameters).
    pub ext: [usize; 4],
    /// Parks and nanoseconds spent parked, counted while [`Hub::diag`] asks for it (traces).
    pub parks: u64,
    pub parked_ns: u64,
    /// The last interposed call it made (the diagnostics layer's call number + 1; 0: none).
    pub last_call: u32,
}

