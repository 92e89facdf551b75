//! A greenlet: its states, why a park ends, what it waits on, and the record the hub keeps.
//!
//! The hub (`hub.rs`) owns every `Greenlet`, freed when reaped; the shim reads the public fields
//! (id, name, state, what it waits on) for its pthread calls and reports.
//!
//! A record lives in its stack's record room, just above the stack's first frames, whose page
//! is resident as long as the greenlet is (a heap box cost another 0.4 KiB per greenlet: its
//! pages held nothing else of the greenlet's); so an ended greenlet's stack goes back to the
//! pool when the record is reaped (at once if detached, else at join), as a native thread's
//! stack lives until it is joined. Main's record, and those of greenlets on stacks the program
//! supplied, are heap boxes.

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
    /// Made runnable only to run its signal handlers; the park goes on afterwards (internal to
    /// the hub: a park never returns it).
    Signal,
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
    /// It may have signal work (signals to route or deliver) when its hook returns to the
    /// program: the one flag a hook's exit reads.
    pub sig_attention: bool,
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
    /// What the greenlet runs. Called by reference and dropped on the hub when the greenlet
    /// ends ([`crate::hub`]'s `finish`), so that a greenlet that allocates nothing itself never
    /// frees on its own TLS (a first `free` there gives it a malloc cache of its own).
    pub(crate) entry: Option<Box<dyn FnMut() -> usize>>,
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
    /// Its signal mask (bit `sig - 1`), as a thread's natively. Change it only with
    /// [`Hub::set_sigmask`](crate::hub::Hub::set_sigmask), which keeps the OS thread's mask right.
    pub sigmask: u64,
    /// Signals sent to it and not yet delivered (bit `sig - 1`); their infos are in `siginfo`.
    pub sigpending: u64,
    /// Infos of the pending signals: one per standard signal, in order for real-time ones.
    pub siginfo: Vec<libc::siginfo_t>,
    /// Signals a `sigwait`-family call of it accepts while it is parked there (0: none).
    pub sigwaiting: u64,
    /// Handlers run on it (the shim counts; `sigsuspend` and `pause` look for a change).
    pub sig_handled: u64,
    /// Depth of signal handlers the shim runs on it straight from its kernel handler: in that
    /// context nothing may allocate (the interrupted code may be inside malloc).
    pub sig_context: u32,
    /// A handler without SA_RESTART ran during its current park (the restart decision of an
    /// interrupted call).
    pub sig_norestart: bool,
    /// Token of its park that is suspended while its signal handlers run (0: none), and the
    /// wakeup that park received meanwhile.
    pub(crate) outer_token: u64,
    pub(crate) outer_wake: Option<Wake>,
    /// Last token handed out: tokens only grow, even when a park's token is restored after its
    /// handlers parked in turn, so a stale wakeup can never match a later park.
    pub(crate) token_seq: u64,
    /// Its own thread control block (`%fs` while it runs; see `tls`), 0 when it shares the OS
    /// thread's (main, or per-greenlet TLS off).
    pub tcb: usize,
    /// Its slot's published words, for readers on other threads ([`crate::live`]).
    pub live: &'static crate::live::Entry,
    /// The record lives in its stack's record room ([`crate::stack::Stack::record_room`]), not
    /// in a heap box: the page of the stack's first frames holds it, resident anyway.
    pub(crate) in_stack: bool,
    /// A record in its stack, once the greenlet ended: the stack, returned to the pool when the
    /// record is reaped (as a native thread's stack lives until it is joined).
    pub(crate) home: Option<crate::stack::Stack>,
}

/// Bytes a stack keeps for its greenlet's record.
pub const RECORD_ROOM: usize = std::mem::size_of::<Greenlet>().next_multiple_of(64);

impl Greenlet {
    /// Signals pending for it that it does not block: to be delivered when it next runs.
    #[inline(always)]
    pub fn deliverable(&self) -> u64 {
        self.sigpending & !self.sigmask
    }
}

