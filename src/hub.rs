//! The hub: greenlets, the run queue, timers and the reactor of one OS thread.
//!
//! # Model
//! Every greenlet but one is a corosensei coroutine on a pooled stack. The exception is the
//! *main greenlet*: the OS thread's own stack (the program's `main`, or the Rust thread that
//! installed the hub). It is a greenlet like any other — it has an id, can park, be joined,
//! `pthread_exit` — but it is also where the scheduler runs. Corosensei is asymmetric (a
//! coroutine suspends back to whoever resumed it), which maps onto this directly:
//!
//! * when **main** parks, it runs [`run_loop`] on its own stack: resume the next runnable
//!   greenlet, wait for timers and fd events when none is runnable, and return as soon as main
//!   itself is picked from the run queue;
//! * when **another greenlet** parks, it suspends back into that loop.
//!
//! A switch between two coroutines is therefore suspend + resume (two register swaps, a few ns).
//!
//! # Invariants
//! * All hub state is touched only by its OS thread; the hub lives in leaked storage reached from
//!   a const-initialised thread-local pointer (no TLS destructor: `exit()` never drops a
//!   coroutine that is suspended inside an `extern "C"` hook, which would abort).
//! * Functions that may switch take `*mut Hub` and never hold a `&mut Hub` across the switch:
//!   another greenlet mutates the hub while this one is suspended.
//! * A greenlet's `token` changes on every park; wakeups carry the token they were armed with,
//!   so a stale timer or fd event can never wake a later, unrelated park.
//! * errno is saved when a greenlet switches out and restored when it switches in.
//! * A joinable greenlet's id stays valid until it is joined: ids carry a slot generation, so a
//!   reused slot never answers to an old id.

use std::cell::Cell;
use std::collections::VecDeque;
use std::ptr;

use corosensei::{CoroutineResult, Yielder};

use crate::reactor::{FdWake, Interest, Reactor, Waiter};
use crate::stack::{GuardMode, Stack, StackPool};
use crate::sys;
use crate::timer::Timers;

pub use crate::diag::{Diag, Monitor};
pub use crate::greenlet::{Greenlet, State, WaitOn, Wake};
pub(crate) use crate::greenlet::Coro;


/// Greenlet ids have the top bit set: never a valid user-space address, so never equal to a
/// real glibc `pthread_t` (which is the thread descriptor's address).
const ID_TAG: u64 = 1 << 63;
/// Bits of an id that hold the slot index; the 8 bits above them hold the hub's
/// [`Hub::index`] (0 with one hub, so single-hub ids are what they always were).
const SLOT_MASK: u64 = 0xff_ffff;
const HUB_SHIFT: u32 = 24;

/// Hubs by [`Hub::index`], registered by a multi-hub host (the preload library with
/// `GREENSHIM_HUBS` above 1) so that an id names its hub. Never read with one hub.
pub static HUBS: [std::sync::atomic::AtomicPtr<Hub>; 256] = [const { std::sync::atomic::AtomicPtr::new(ptr::null_mut()) }; 256];

/// The hub that owns greenlet `id`: `h` itself (always, with one hub: one compare), else the
/// registered hub of the id's index, or `h` when none is registered there (the id then simply
/// does not resolve).
#[inline(always)]
pub fn route(h: *mut Hub, id: u64) -> *mut Hub {
    let index = ((id >> HUB_SHIFT) & 0xff) as u32;
    // SAFETY: h is a live hub (callers' contract); its index never changes after registration.
    if id & ID_TAG != 0 && index == unsafe { (*h).index } {
        return h;
    }
    route_slow(h, id, index)
}

#[cold]
fn route_slow(h: *mut Hub, id: u64, index: u32) -> *mut Hub {
    use std::sync::atomic::Ordering::Acquire;
    if id & ID_TAG == 0 {
        // The real pthread_self() of a hub's OS thread names that hub's main greenlet.
        for slot in &HUBS {
            let t = slot.load(Acquire);
            if t.is_null() {
                break;
            }
            // SAFETY: registered hubs are leaked and live for the process.
            if id != 0 && unsafe { (*t).main_alias } == id {
                return t;
            }
        }
        return h;
    }
    let t = HUBS[index as usize].load(Acquire);
    if t.is_null() { h } else { t }
}

struct Slot {
    gen: u32,
    g: *mut Greenlet,
}

/// Options for [`spawn`].
#[derive(Default)]
pub struct SpawnOpts {
    /// Usable stack bytes; `None` = the hub's default.
    pub stack_size: Option<usize>,
    /// Memory the program supplied (`pthread_attr_setstack`): (lowest address, size).
    pub user_stack: Option<(usize, usize)>,
    pub detached: bool,
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub spawned: u64,
    pub peak_live: u64,
    pub switches: u64,
    pub epoll_waits: u64,
    /// Yields forced on a greenlet that ran past its time slice ([`Hub::fair_tick`]).
    pub slice_yields: u64,
    /// Yields at a yield point: a failed trylock, a signal sent to another greenlet,
    /// `sched_yield`, a zero-timeout poll/select/epoll_wait that found nothing.
    pub point_yields: u64,
}

/// How far below its stack a greenlet's stack pointer may be found and still count as an
/// overflow of that stack ([`Hub::overflow_at`]).
const OVERFLOW_REACH: usize = 64 << 20;

/// Default time slice: a greenlet that keeps making interposed calls this long without a switch
/// yields at its next one (`GREENSHIM_TIME_SLICE_MS`).
pub const DEFAULT_TIME_SLICE_NS: u64 = 5_000_000;

pub struct Hub {
    current: *mut Greenlet,
    main: *mut Greenlet,
    /// A second id that also means main: the real `pthread_self()` of the hub thread.
    main_alias: u64,
    runq: VecDeque<*mut Greenlet>,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    pub timers: Timers,
    pub reactor: Reactor,
    pub stacks: StackPool,
    /// Greenlets not yet ended, main included while it runs.
    live: usize,
    /// Entries left in the current scheduling round before timers/fds are checked again.
    round: usize,
    /// Scratch list of reactor wakeups (kept to avoid allocating per poll).
    woken: Vec<(Waiter, FdWake)>,
    /// Per-signal counts of the greenlets' masks, and the OS thread's mask derived from them
    /// (see [`crate::sigmask`]).
    pub sigmasks: crate::sigmask::Counts,
    /// Runs the pending, unblocked signals of the current greenlet, on its stack (the shim's
    /// handler dispatch). Called when a greenlet resumes from a park or a yield with such
    /// signals, and when it was made runnable only for them ([`Hub::signal_wake`]).
    pub sig_deliver: Option<unsafe fn(*mut Hub)>,
    pub default_stack_size: usize,
    pub stats: Stats,
    /// Display number of the last greenlet created.
    last_seq: u64,
    /// This hub's number in ids (see [`route`]); 0 unless a multi-hub host set it.
    pub index: u32,
    /// Multi-hub: true while this hub's thread waits (or is about to wait) in `epoll_wait`
    /// with nothing runnable; whoever queues one of its greenlets then [`Hub::kick`]s it.
    pub sleeping: std::sync::atomic::AtomicBool,
    /// A kick is pending (the eventfd was written and not yet read).
    pub kicked: std::sync::atomic::AtomicBool,
    /// Nonblocking eventfd in the reactor's epoll set that [`Hub::kick`] writes (-1: none).
    pub kick_fd: i32,
    /// Multi-hub: called with true right before the hub blocks in `epoll_wait` and with false
    /// right after (the host releases and retakes its process-wide lock there).
    pub around_wait: Option<unsafe fn(*mut Hub, bool)>,
    /// Multi-hub: asked when a greenlet ends or main is dead with nothing left on this hub:
    /// true when the whole process has nothing left to run (then the hub calls `exit(0)`, as
    /// the last thread of a process whose main called `pthread_exit` does). `None`: this hub
    /// alone decides.
    pub all_done: Option<unsafe fn(*mut Hub) -> bool>,
    /// Multi-hub: the process-wide counter of display numbers (`gN` is then unique across
    /// hubs); `None`: this hub's own.
    pub seq_source: Option<&'static std::sync::atomic::AtomicU64>,
    /// The host's per-hub word for its fast paths (the preload library: the address of the
    /// hub thread's syscall-dispatch selector byte; 0 until set).
    pub host_word: usize,
    /// Multi-hub: the hub whose [`Hub::sigmasks`] count this hub's greenlets (null: this one).
    /// Process-directed signals reach only the hub that counts every greenlet's mask (the main
    /// thread's); the other hubs' OS threads block them all.
    pub mask_hub: *mut Hub,
    /// Multi-hub, on the counting hub: greenlets of other hubs changed the counts; the OS
    /// thread's mask is brought in line at this hub's next scheduling round.
    pub mask_dirty: bool,
    /// Multi-hub, on the counting hub: its counts change from other OS threads too.
    pub masks_shared: bool,
    /// Called when the hub is about to wait with nothing that could ever wake it by itself: no
    /// runnable greenlet, no timer, no fd waiter (every greenlet waits on a primitive or a join).
    /// Only a signal handler can end that wait. The synchronisation layer reports deadlocks here.
    pub on_stall: Option<unsafe fn(*mut Hub)>,
    /// Called once, the first time the hub is about to block in `epoll_wait` (then cleared):
    /// work a fork child defers until it has nothing to run (the live view's task, which a child
    /// that only execs or exits should not pay for).
    pub on_first_sleep: Option<unsafe fn(*mut Hub)>,
    /// Safe point for work deferred by signal handlers (the semaphore layer's `sem_post`, which
    /// must stay async-signal-safe and so never touches the run queue itself). Called on the hub
    /// thread, outside any hub operation: at the start of every scheduling round, before and after
    /// each poll of the reactor. The flag is true right before a blocking wait (the hook may then
    /// arrange to be woken, e.g. by an eventfd in the reactor's epoll set) and false otherwise. If
    /// the hook makes a greenlet runnable, the hub does not block.
    pub safe_point: Option<unsafe fn(*mut Hub, bool)>,
    /// Diagnostics (trace, summary, monitor); `None` costs one branch on spawn, park, switch.
    pub diag: Option<&'static Diag>,
    /// Time slice in ns (see [`Hub::fair_tick`]).
    pub slice_ns: u64,
    /// Interposed calls counted by [`Hub::fair_tick`]; the clock is read every 128th.
    fair_calls: u32,
    /// `stats.switches` and the coarse time when the running stretch was last seen to start.
    fair_switches: u64,
    fair_since: u64,
    /// Per-greenlet thread-local storage, when on ([`Hub::enable_tls`]); `None`: greenlets share
    /// the OS thread's.
    pub tls: Option<Box<crate::tls::Tls>>,
    /// A word owned by the Rust API of whichever copy of this crate uses the hub (its
    /// per-greenlet state; see `api::rt`). Null until the API first runs on this hub.
    pub api_slot: *mut std::ffi::c_void,
    /// The state published for readers on other threads (live view, dump when held).
    pub published: &'static crate::live::Live,
    /// [`crate::live::stamp`] of the latest park or wait for events: when the greenlet switched in next
    /// started running, as far as the published state tells.
    stamp: u64,
}

thread_local! {
    static HUB: Cell<*mut Hub> = const { Cell::new(ptr::null_mut()) };
}

/// The calling OS thread's hub, or null if it has none.
#[inline(always)]
pub fn current_hub() -> *mut Hub {
    HUB.with(|h| h.get())
}

/// Make the calling OS thread a hub thread; its current stack becomes the main greenlet.
/// Idempotent. `Err(errno)` if the reactor cannot be created.
pub fn install(default_stack_size: usize, mode: GuardMode) -> Result<*mut Hub, i32> {
    let existing = current_hub();
    if !existing.is_null() {
        return Ok(existing);
    }
    let reactor = Reactor::new()?;
    let hub = Box::into_raw(Box::new(Hub {
        current: ptr::null_mut(),
        main: ptr::null_mut(),
        main_alias: 0,
        runq: VecDeque::with_capacity(1024),
        slots: Vec::new(),
        free_slots: Vec::new(),
        timers: Timers::new(),
        reactor,
        stacks: {
            let mut p = StackPool::new(mode);
            p.set_record_room(crate::greenlet::RECORD_ROOM);
            p
        },
        live: 0,
        round: 0,
        woken: Vec::new(),
        sigmasks: crate::sigmask::Counts::new(crate::sigmask::get_real()),
        sig_deliver: None,
        default_stack_size,
        stats: Stats::default(),
        last_seq: 0,
        index: 0,
        sleeping: std::sync::atomic::AtomicBool::new(false),
        kicked: std::sync::atomic::AtomicBool::new(false),
        kick_fd: -1,
        around_wait: None,
        all_done: None,
        seq_source: None,
        host_word: 0,
        mask_hub: ptr::null_mut(),
        mask_dirty: false,
        masks_shared: false,
        on_stall: None,
        on_first_sleep: None,
        safe_point: None,
        diag: None,
        slice_ns: DEFAULT_TIME_SLICE_NS,
        fair_calls: 0,
        fair_switches: 0,
        fair_since: 0,
        tls: None,
        api_slot: ptr::null_mut(),
        published: crate::live::Live::new_leaked(),
        stamp: crate::live::stamp(now_coarse()),
    }));
    // SAFETY: hub was just allocated and is only used by this thread.
    unsafe {
        let main = new_greenlet(hub, None, (0, 0), (0, 0), 0, None);
        (*main).state = State::Running;
        crate::live::Live::running((*main).live, (*hub).stamp);
        (*main).sigmask = (*hub).sigmasks.real; // counted by Counts::new
        (*hub).main = main;
        (*hub).current = main;
    }
    HUB.with(|h| h.set(hub));
    Ok(hub)
}

/// Give every greenlet spawned from now on its own thread-local storage and thread control
/// block (see [`crate::tls`]). `Err` names what this glibc lacks; greenlets then keep sharing
/// the OS thread's.
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn enable_tls(h: *mut Hub) -> Result<(), &'static str> {
    if (*h).tls.is_some() {
        return Ok(());
    }
    let slot = HUB.with(|c| c.as_ptr() as usize);
    let tls = crate::tls::Tls::new(slot)?;
    if (*h).index == 0 {
        // The process hub's live thread pointer (another hub's thread, multi-hub, leaves it
        // alone: see `Tls::set_publish`).
        crate::tls::RUNNING_TP.store(tls.main_tp, std::sync::atomic::Ordering::Relaxed);
    }
    (*h).stacks.set_tls_reserve(tls.stack_reserve());
    (*h).tls = Some(Box::new(tls));
    Ok(())
}

/// [`enable_tls`] on another hub's thread (multi-hub), from the first hub's set-up `like`:
/// nothing asked of the dynamic loader, and the process hub's live thread pointer left alone.
///
/// # Safety
/// `h` is the calling thread's hub; `like` is a hub's TLS set-up.
pub unsafe fn enable_tls_like(h: *mut Hub, like: &crate::tls::Tls) {
    if (*h).tls.is_none() {
        let tls = like.for_this_thread();
        (*h).stacks.set_tls_reserve(tls.stack_reserve());
        (*h).tls = Some(Box::new(tls));
    }
}

/// The running greenlet is ending: run its TLS destructors now if it has its own TLS (exit
/// paths call this before the thread-specific data destructors, as glibc orders them).
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn tls_thread_exit(h: *mut Hub) {
    if (*(*h).current).tcb != 0 {
        if let Some(tls) = (*h).tls.as_ref() {
            tls.thread_exit();
        }
    }
}

/// The calling thread's hub, installed with defaults if there is none (the Rust API's entry).
pub fn get_or_install() -> *mut Hub {
    let h = current_hub();
    if !h.is_null() {
        return h;
    }
    install(crate::settings::DEFAULT_STACK_SIZE, GuardMode::Page).expect("greenshim: cannot create the hub's epoll instance")
}

/// Allocate a greenlet and its slot.
///
/// # Safety
/// `h` is the calling thread's hub.
/// `place`: where the record goes (a stack's record room), else a heap box.
unsafe fn new_greenlet(h: *mut Hub, coro: Option<Coro>, stack: (usize, usize), guard: (usize, usize), parent: u64, place: Option<usize>) -> *mut Greenlet {
    let hh = &mut *h;
    let index = match hh.free_slots.pop() {
        Some(i) => i,
        None => {
            hh.slots.push(Slot { gen: 0, g: ptr::null_mut() });
            (hh.slots.len() - 1) as u32
        }
    };
    let slot = &mut hh.slots[index as usize];
    assert!((index as u64) <= SLOT_MASK, "greenshim: more than 16 million greenlets on one hub");
    let id = ID_TAG | ((slot.gen as u64 & 0x7fff_ffff) << 32) | ((hh.index as u64) << HUB_SHIFT) | index as u64;
    let (name, sigmask) = match hh.current.is_null() {
        true => ([0; 16], 0),
        false => ((*hh.current).name, (*hh.current).sigmask),
    };
    hh.last_seq = match hh.seq_source {
        None => hh.last_seq + 1,
        Some(c) => c.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
    };
    let live = hh.published.entry_for(index as usize);
    live.seq.store(hh.last_seq, std::sync::atomic::Ordering::Relaxed);
    crate::live::Live::set_name(live, &name);
    live.call.store(0, std::sync::atomic::Ordering::Relaxed);
    live.what.store(crate::live::encode(crate::live::K_NEW, 0, hh.stamp) | crate::live::RUNNABLE, std::sync::atomic::Ordering::Relaxed);
    let record = Greenlet {
        id,
        seq: hh.last_seq,
        coro,
        yielder: ptr::null(),
        state: State::Runnable,
        errno: 0,
        hook_depth: 0,
        sig_attention: false,
        name,
        detached: false,
        retval: 0,
        joiner: 0,
        token: 0,
        wake: Wake::Woken,
        interruptible: false,
        wait: WaitOn::Nothing,
        parked_since: 0,
        entry: None,
        stack,
        guard,
        canary: 0,
        exit_requested: false,
        parent,
        ext: [0; 4],
        parks: 0,
        parked_ns: 0,
        last_call: 0,
        sigmask,
        sigpending: 0,
        siginfo: Vec::new(),
        sigwaiting: 0,
        sig_handled: 0,
        sig_context: 0,
        sig_norestart: false,
        outer_token: 0,
        outer_wake: None,
        token_seq: 0,
        tcb: 0,
        live,
        in_stack: place.is_some(),
        home: None,
    };
    let g = match place {
        Some(p) => {
            let p = p as *mut Greenlet;
            // SAFETY: the record room of a stack no greenlet uses, sized and aligned for it.
            ptr::write(p, record);
            p
        }
        None => Box::into_raw(Box::new(record)),
    };
    if !hh.current.is_null() {
        // A new thread starts with its creator's mask (main's was counted by Counts::new).
        (*mask_owner(h)).sigmasks.add(sigmask);
        if sigmask != 0 {
            masks_changed(h);
        }
    }
    slot.g = g;
    hh.live += 1;
    hh.stats.peak_live = hh.stats.peak_live.max(hh.live as u64);
    g
}

/// The hub whose signal-mask counts include `h`'s greenlets (see [`Hub::mask_hub`]).
#[inline(always)]
unsafe fn mask_owner(h: *mut Hub) -> *mut Hub {
    if (*h).mask_hub.is_null() { h } else { (*h).mask_hub }
}

/// The counts of `h`'s greenlets changed: bring the counting hub's OS thread mask in line, now
/// when the caller runs on that thread, else at that hub's next round (it is woken for it).
#[inline]
unsafe fn masks_changed(h: *mut Hub) {
    let m = mask_owner(h);
    if !(*m).masks_shared {
        (*m).sigmasks.sync();
    } else {
        masks_changed_shared(m);
    }
}

#[cold]
#[inline(never)]
unsafe fn masks_changed_shared(m: *mut Hub) {
    if current_hub() == m {
        (*m).sigmasks.sync();
    } else {
        (*m).mask_dirty = true;
        (*m).kick();
    }
}

/// Free a dead greenlet's slot and memory; its id stops resolving.
unsafe fn reap(h: *mut Hub, g: *mut Greenlet) {
    let hh = &mut *h;
    let index = ((*g).id & SLOT_MASK) as usize;
    let slot = &mut hh.slots[index];
    slot.gen = slot.gen.wrapping_add(1);
    slot.g = ptr::null_mut();
    (*g).live.seq.store(0, std::sync::atomic::Ordering::Relaxed);
    (*g).live.what.store(crate::live::K_FREE, std::sync::atomic::Ordering::Relaxed);
    hh.free_slots.push(index as u32);
    let home = (*g).home.take();
    if (*g).in_stack {
        ptr::drop_in_place(g);
    } else {
        drop(Box::from_raw(g));
    }
    if let Some(stack) = home {
        put_stack(hh, stack);
    }
}

/// Return an ended greenlet's stack to the pool (its TLS saved if the pages go back).
fn put_stack(hh: &mut Hub, stack: Stack) {
    let tls = hh.tls.as_deref();
    // SAFETY: on the hub; the stack's greenlet ended.
    hh.stacks.put(stack, |s| tls.into_iter().for_each(|t| unsafe { t.save(s) }));
}

impl Hub {
    /// The running greenlet.
    #[inline(always)]
    pub fn current(&self) -> *mut Greenlet {
        self.current
    }

    #[inline(always)]
    pub fn main(&self) -> *mut Greenlet {
        self.main
    }

    #[inline(always)]
    pub fn is_main(&self, g: *mut Greenlet) -> bool {
        g == self.main
    }

    /// Declare the real `pthread_self()` of the hub thread as another id for main.
    pub fn set_main_alias(&mut self, id: u64) {
        self.main_alias = id;
    }

    pub fn main_alias(&self) -> u64 {
        self.main_alias
    }

    /// Greenlets not yet ended.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Resolve a greenlet id (or main's alias). Dead-but-unjoined greenlets resolve.
    pub fn lookup(&self, id: u64) -> Option<*mut Greenlet> {
        if id == self.main_alias && id != 0 {
            return Some(self.main);
        }
        if id & ID_TAG == 0 || ((id >> HUB_SHIFT) & 0xff) as u32 != self.index {
            return None;
        }
        let slot = self.slots.get((id & SLOT_MASK) as usize)?;
        if slot.g.is_null() || (slot.gen as u64 & 0x7fff_ffff) != (id >> 32) & 0x7fff_ffff {
            return None;
        }
        Some(slot.g)
    }

    /// True if `id` has the shape of a greenlet id (whether or not it is still alive).
    pub fn is_greenlet_id(id: u64) -> bool {
        id & ID_TAG != 0
    }

    /// If `addr` lies in the overflow zone of the running greenlet's stack: (display number, name,
    /// stack size). Async-signal-safe (reads only).
    pub fn overflow_at(&self, addr: usize, sp: usize, alt: (usize, usize)) -> Option<(u64, [u8; 16], usize)> {
        let g = self.current;
        if g.is_null() || g == self.main {
            return None;
        }
        // SAFETY: current is a live greenlet.
        let g = unsafe { &*g };
        // The fault is in its guard zone, or (on a canary-checked stack, which has no guard page:
        // the first unmapped page may lie far below, past whatever is mapped there) its stack
        // pointer ran below its stack and is not on the alternate signal stack (`alt`: address
        // and size).
        let in_guard = g.guard.0 <= addr && addr < g.guard.1;
        let on_alt = alt.0 <= sp && sp < alt.0 + alt.1;
        let ran_off = g.canary != 0 && sp < g.stack.0 && g.stack.0 - sp < OVERFLOW_REACH && !on_alt;
        (in_guard || ran_off).then(|| (g.seq, g.name, g.stack.1 - g.stack.0))
    }

    /// Every greenlet that has not been reaped (for dumps and reports).
    pub fn greenlets(&self) -> impl Iterator<Item = *mut Greenlet> + '_ {
        self.slots.iter().filter(|s| !s.g.is_null()).map(|s| s.g)
    }

    /// Runnable greenlets waiting for their turn.
    pub fn runnable(&self) -> usize {
        self.runq.len()
    }

    /// Make a parked greenlet runnable with the given reason. No effect unless it is parked.
    ///
    /// # Safety
    /// `g` is a live greenlet of this hub.
    pub unsafe fn unpark(&mut self, g: *mut Greenlet, why: Wake) {
        if (*g).state == State::Parked {
            (*g).state = State::Runnable;
            crate::live::Live::woken((*g).live);
            (*g).wake = why;
            self.enqueue(g);
        } else if (*g).state == State::Runnable && (*g).wake == Wake::Signal {
            (*g).wake = why; // queued for its handlers: the park ends after them
        }
    }

    /// Wake the greenlet `id` if it is still in the park identified by `token`.
    pub fn wake_token(&mut self, id: u64, token: u64, why: Wake) -> bool {
        let Some(g) = self.lookup(id) else { return false };
        // SAFETY: lookup returned a live greenlet.
        unsafe {
            if (*g).token == token && matches!((*g).state, State::Parked | State::Runnable) {
                if (*g).state == State::Parked || (*g).wake == Wake::Signal {
                    self.unpark(g, why);
                    return true;
                }
                return false;
            }
            if (*g).outer_token == token && token != 0 {
                // Its handlers run (and may park) inside this park: the park ends after them.
                (*g).outer_wake.get_or_insert(why);
                return true;
            }
        }
        false
    }

    /// End the join park of `j` (its target ended). If `j` is running signal handlers inside
    /// that park, the park ends after them (a handler's own park must not be the one woken).
    pub unsafe fn wake_joiner(&mut self, j: *mut Greenlet) {
        if (*j).outer_token != 0 {
            (*j).outer_wake.get_or_insert(Wake::Woken);
        } else {
            self.unpark(j, Wake::Woken);
        }
    }

    /// Make greenlet `g` run its pending signals (see [`Hub::sig_deliver`]): a park that signals
    /// interrupt ends with [`Wake::Interrupted`] (EINTR, unless the call restarts); any other
    /// park is resumed for the handlers and then goes on, as a native futex wait does.
    /// A runnable greenlet delivers when it next runs; the running one is the caller's business.
    ///
    /// # Safety
    /// `g` is a live greenlet of this hub.
    pub unsafe fn signal_wake(&mut self, g: *mut Greenlet) {
        if (*g).state != State::Parked {
            return;
        }
        if (*g).interruptible {
            self.unpark(g, Wake::Interrupted);
        } else {
            (*g).state = State::Runnable;
            crate::live::Live::woken((*g).live);
            (*g).wake = Wake::Signal;
            self.enqueue(g);
        }
    }

    /// Queue a greenlet of this hub that became runnable, waking the hub's thread if it sleeps
    /// (multi-hub: the caller may be another hub; with one hub `sleeping` is never set).
    #[inline(always)]
    fn enqueue(&mut self, g: *mut Greenlet) {
        self.runq.push_back(g);
        if self.sleeping.load(std::sync::atomic::Ordering::Relaxed) {
            self.kick();
        }
    }

    /// Make this hub's thread return from `epoll_wait` (multi-hub). At most one write per
    /// sleep: the hub reads the eventfd back when it wakes.
    #[cold]
    pub fn kick(&self) {
        if self.kick_fd >= 0 && !self.kicked.swap(true, std::sync::atomic::Ordering::AcqRel) {
            let one: u64 = 1;
            let _ = syscall!(SYS_write, self.kick_fd, &one as *const u64, 8);
        }
    }

    /// An interposed call of the running greenlet: true when it has run longer than its time
    /// slice without a switch while another greenlet could run or a timer or fd may be due (the
    /// caller then yields, see [`fair_yield`]). Counts calls; reads the coarse clock every 128th,
    /// so a greenlet that busy-polls for another's progress through calls (`pthread_kill`,
    /// `cond_signal`, an uncontended lock...) cannot keep the others from running.
    #[inline(always)]
    pub fn fair_tick(&mut self) -> bool {
        self.fair_calls = self.fair_calls.wrapping_add(1);
        if self.fair_calls & 127 != 0 {
            return false;
        }
        self.fair_check()
    }

    #[cold]
    #[inline(never)]
    fn fair_check(&mut self) -> bool {
        let now = now_coarse();
        if self.stats.switches != self.fair_switches || self.fair_since == 0 {
            self.fair_switches = self.stats.switches;
            self.fair_since = now;
            return false;
        }
        now.saturating_sub(self.fair_since) >= self.slice_ns
            && !(self.runq.is_empty() && self.reactor.waiting() == 0 && self.timers.is_empty())
    }

    /// Set `g`'s name (`pthread_setname_np`), also for readers on other threads.
    ///
    /// # Safety
    /// `g` is a live greenlet of this hub.
    pub unsafe fn set_name(&mut self, g: *mut Greenlet, name: [u8; 16]) {
        (*g).name = name;
        crate::live::Live::set_name((*g).live, &name);
    }

    /// Set greenlet `g`'s signal mask, keeping the OS thread's derived mask right.
    ///
    /// # Safety
    /// `g` is a live greenlet of this hub.
    pub unsafe fn set_sigmask(&mut self, g: *mut Greenlet, mask: u64) {
        let mask = mask & !crate::sigmask::UNBLOCKABLE;
        let old = std::mem::replace(&mut (*g).sigmask, mask);
        if old != mask && (*g).state != State::Dead {
            let me: *mut Hub = self;
            (*mask_owner(me)).sigmasks.change(old, mask);
            masks_changed(me);
        }
    }

    /// The current park's token of the running greenlet, for registering a wakeup before parking
    /// with [`park_prepared`].
    pub fn prepare_park(&mut self) -> (u64, u64) {
        // SAFETY: current is always a live greenlet.
        unsafe {
            let g = self.current;
            (*g).token_seq += 1;
            (*g).token = (*g).token_seq;
            ((*g).id, (*g).token)
        }
    }

    /// Interrupt greenlet `g` if it is parked interruptibly (a cancellation request).
    ///
    /// # Safety
    /// `g` is a live greenlet of this hub.
    pub unsafe fn interrupt_greenlet(&mut self, g: *mut Greenlet) {
        if (*g).state == State::Parked && (*g).interruptible {
            self.unpark(g, Wake::Interrupted);
        }
    }

    /// Fire due timers; returns how many greenlets they woke.
    fn fire_timers(&mut self, now: u64) -> usize {
        let mut n = 0;
        while let Some(e) = self.timers.pop_due(now) {
            if self.wake_token(e.id, e.token, Wake::TimedOut) {
                n += 1;
            }
        }
        n
    }

    /// Look for timer and fd events; if `block` and nothing is runnable, wait for one.
    unsafe fn poll(&mut self, block: bool) {
        if self.mask_dirty {
            self.mask_dirty = false;
            self.sigmasks.sync();
        }
        if let Some(f) = self.safe_point {
            f(self, false);
        }
        let have_timers = !self.timers.is_empty();
        let mut now = if have_timers { sys::now() } else { 0 };
        if have_timers {
            self.fire_timers(now);
            if self.timers.len() > 4096 && self.timers.len() > 4 * self.live {
                let slots = &self.slots;
                self.timers.compact(|e| {
                    let s = &slots[(e.id & SLOT_MASK) as usize];
                    !s.g.is_null() && (*s.g).token == e.token && (*s.g).state == State::Parked
                });
            }
        }
        let timeout = if !block || !self.runq.is_empty() {
            Some(0)
        } else {
            self.timers.next_deadline().map(|d| d.saturating_sub(now))
        };
        if timeout == Some(0) && self.reactor.waiting() == 0 {
            return;
        }
        if timeout.is_none() && self.reactor.waiting() == 0 {
            if let Some(f) = self.on_stall {
                f(self);
            }
            if !self.runq.is_empty() {
                return;
            }
        }
        if timeout != Some(0) {
            if let Some(f) = self.on_first_sleep.take() {
                f(self);
            }
        }
        let sleeping = timeout != Some(0) && self.safe_point.is_some();
        if sleeping {
            (self.safe_point.unwrap())(self, true);
            if !self.runq.is_empty() {
                (self.safe_point.unwrap())(self, false);
                return;
            }
        }
        self.stats.epoll_waits += 1;
        if timeout != Some(0) {
            if let Some(m) = self.diag.and_then(|d| d.monitor) {
                m.switched(None);
            }
        }
        let mut woken = std::mem::take(&mut self.woken);
        let around = if timeout != Some(0) { self.around_wait } else { None };
        let me: *mut Hub = self;
        let polled = self.reactor.poll_around(
            timeout,
            |before| {
                if let Some(f) = around {
                    // SAFETY: `me` is this hub; the callback touches only its wait flags and the
                    // host's lock, not the reactor borrowed here.
                    unsafe { f(me, before) };
                }
            },
            |w, why| woken.push((w, why)),
        );
        match polled {
            // A diagnostics request (dump signal) is not a signal for the program's greenlets.
            // A signal: the shim's handler recorded it; the safe point below routes it.
            Err(libc::EINTR) => {
                if let Some(d) = self.diag {
                    d.serve(self);
                }
            }
            Err(e) => {
                let mut l = sys::LineBuf::new();
                l.str("greenshim: epoll_wait on the hub failed with errno ").num(e as u64).str("\n");
                sys::write_stderr(l.as_bytes());
                libc::abort();
            }
            Ok(_) => {}
        }
        if timeout != Some(0) {
            // Whoever runs next starts now, not at the last park before the wait.
            self.stamp = crate::live::stamp(now_coarse());
        }
        if let Some(f) = self.safe_point {
            f(self, false);
        }
        for ((id, token), why) in woken.drain(..) {
            let why = if why == FdWake::Closed { Wake::Closed } else { Wake::Woken };
            self.wake_token(id, token, why);
        }
        self.woken = woken;
        if !self.timers.is_empty() {
            now = sys::now();
            self.fire_timers(now);
        }
    }
}

/// Spawn a greenlet running `entry`; it is queued behind the runnable ones and starts when the
/// spawner next parks or yields. Returns its id, or `Err(EAGAIN)` when no stack can be mapped.
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn spawn(h: *mut Hub, entry: Box<dyn FnOnce() -> usize>, opts: SpawnOpts) -> Result<u64, i32> {
    let mut once = Some(entry);
    spawn_mut(h, Box::new(move || once.take().expect("entry runs once")()), opts)
}

/// [`spawn`] for an entry that can be called by reference: its box is freed on the hub when the
/// greenlet ends, not by the greenlet (see [`Greenlet::entry`]).
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn spawn_mut(h: *mut Hub, entry: Box<dyn FnMut() -> usize>, opts: SpawnOpts) -> Result<u64, i32> {
    let hh = &mut *h;
    let mut stack = match opts.user_stack {
        Some((addr, size)) => Stack::from_user(addr, size),
        None => hh.stacks.get(opts.stack_size.unwrap_or(hh.default_stack_size)).map_err(|_| libc::EAGAIN)?,
    };
    let range = (stack.limit_addr(), stack.base_addr());
    let guard = if opts.user_stack.is_some() { (0, 0) } else { stack.guard_range() };
    let parent = (*hh.current).id;
    let tcb = match hh.tls.as_mut() {
        Some(tls) => match tls.acquire(h as usize, &mut stack) {
            Some(tcb) => tcb,
            None => {
                hh.stacks.put(stack, |_| {});
                return Err(libc::EAGAIN);
            }
        },
        None => 0,
    };
    let place = stack.record_room().filter(|&(_, n)| n >= std::mem::size_of::<Greenlet>()).map(|(a, _)| a);
    let g = new_greenlet(h, None, range, guard, parent, place);
    (*g).canary = stack.canary_addr();
    (*g).tcb = tcb;
    let coro = Coro::with_stack(stack, move |y: &Yielder<(), ()>, ()| {
        // SAFETY: `g` outlives its coroutine: it is reaped only after the coroutine ended.
        unsafe {
            (*g).yielder = y;
            if (*g).tcb != 0 {
                HUB.with(|c| c.set(h)); // if the TCB had no static slot for it
                (*h).tls.as_ref().expect("a greenlet with a TCB has a hub with TLS").thread_start();
            }
            if (*g).deliverable() != 0 {
                let h = current_hub();
                if let Some(deliver) = (*h).sig_deliver {
                    deliver(h); // signals sent to it before it first ran
                }
            }
            let f: *mut dyn FnMut() -> usize = &mut **(*g).entry.as_mut().expect("a new greenlet has an entry");
            (*g).retval = (*f)();
            if (*g).tcb != 0 {
                // TLS destructors, unless the entry's own exit path ran them already.
                (*h).tls.as_ref().expect("a greenlet with a TCB has a hub with TLS").thread_exit();
            }
        }
    });
    (*g).coro = Some(coro);
    (*g).entry = Some(entry);
    if let Some(f) = hh.diag.and_then(|d| d.on_spawn) {
        f(g, hh.current);
    }
    (*g).detached = opts.detached;
    hh.enqueue(g);
    hh.stats.spawned += 1;
    Ok((*g).id)
}

/// Park the running greenlet until it is woken or `deadline` (absolute CLOCK_MONOTONIC ns)
/// passes. `interruptible`: a signal handler running on the hub may end the park with
/// [`Wake::Interrupted`].
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn park(h: *mut Hub, wait: WaitOn, deadline: Option<u64>, interruptible: bool) -> Wake {
    (*h).prepare_park();
    park_prepared(h, wait, deadline, interruptible)
}

/// [`park`] for a caller that already took the park's token with [`Hub::prepare_park`] (to
/// register the wakeup somewhere first).
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn park_prepared(h: *mut Hub, wait: WaitOn, deadline: Option<u64>, interruptible: bool) -> Wake {
    let g = (*h).current;
    (*g).state = State::Parked;
    (*g).wake = Wake::Woken;
    (*g).interruptible = interruptible;
    (*g).wait = wait;
    if let Some(d) = deadline {
        (*h).timers.push(d, (*g).id, (*g).token);
    }
    // Only for reports (deadlocks, dumps) and for choosing which parked greenlet a signal's
    // EINTR goes to: the coarse clock (no rdtsc, a few ns) is precise enough.
    (*g).parked_since = now_coarse();
    (*h).stamp = crate::live::stamp((*g).parked_since);
    let join_seq = match wait {
        WaitOn::Join(id) => publish_join_target(h, id),
        _ => 0,
    };
    (*h).published.parked((*g).live, wait, (*h).stamp, deadline, join_seq);
    (*g).sig_norestart = false;
    loop {
        match (*h).diag {
            Some(d) if d.measure_parks => {
                let t0 = sys::now();
                switch_out(h, g);
                (*g).parks += 1;
                (*g).parked_ns += sys::now() - t0;
            }
            _ => switch_out(h, g),
        }
        if (*g).wake != Wake::Signal {
            break;
        }
        // Resumed only for its handlers: run them inside the park, which goes on afterwards
        // unless it was woken meanwhile.
        run_signals(h, g);
        if (*g).wake != Wake::Signal {
            break;
        }
        (*g).state = State::Parked;
        (*g).wake = Wake::Woken;
    }
    if !interruptible && (*g).deliverable() != 0 {
        // Woken for real while queued for its handlers (or a signal came with the wakeup): a
        // non-interruptible park runs them before it returns, as a native futex wait would.
        run_signals(h, g);
    }
    // Signals that interrupted an interruptible park (or came with its wakeup) are run by the
    // caller's hook when it leaves, after the park's registrations are gone (or before it
    // restarts).
    (*g).wait = WaitOn::Nothing;
    (*g).wake
}

/// Run the running greenlet `g`'s deliverable signals inside its park: the park's token, wait
/// and flags are kept for it (handlers may park in turn), and a wakeup of the park that
/// arrives meanwhile is recorded and returned afterwards.
#[cold]
unsafe fn run_signals(h: *mut Hub, g: *mut Greenlet) {
    let Some(deliver) = (*h).sig_deliver else { return };
    let (token, wait, interruptible, wake) = ((*g).token, (*g).wait, (*g).interruptible, (*g).wake);
    let (outer, outer_wake) = ((*g).outer_token, (*g).outer_wake.take());
    (*g).outer_token = token;
    deliver(h);
    (*g).token = token;
    (*g).wait = wait;
    (*g).interruptible = interruptible;
    (*g).wake = match (*g).outer_wake.take() {
        Some(w) if wake == Wake::Signal => w,
        _ => wake,
    };
    (*g).outer_token = outer;
    (*g).outer_wake = outer_wake;
}

/// Display number of the greenlet `id` a join waits for, for the published state (0: gone).
#[cold]
unsafe fn publish_join_target(h: *mut Hub, id: u64) -> u64 {
    (*route(h, id)).lookup(id).map_or(0, |t| (*t).seq)
}

/// CLOCK_MONOTONIC_COARSE in ns (same epoch as [`sys::now`], millisecond resolution).
#[inline]
fn now_coarse() -> u64 {
    sys::clock_ns(libc::CLOCK_MONOTONIC_COARSE).unwrap_or(0) as u64
}

/// Yield because the running greenlet used up its time slice (`slice`) or reached a yield
/// point; its next slice starts when it runs again.
///
/// # Safety
/// `h` is the calling thread's hub; the caller is at a point where the program could be
/// preempted natively (outside greenshim's bookkeeping).
pub unsafe fn fair_yield(h: *mut Hub, slice: bool) {
    if slice {
        (*h).stats.slice_yields += 1;
    } else {
        (*h).stats.point_yields += 1;
    }
    yield_now(h);
    (*h).fair_switches = (*h).stats.switches;
    (*h).fair_since = now_coarse();
}

/// A yield point of the program's own (`sched_yield`, a zero-timeout poll that found nothing):
/// counted with the other yield points, then [`yield_now`].
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn point_yield(h: *mut Hub) {
    (*h).stats.point_yields += 1;
    yield_now(h);
}

/// Let every other runnable greenlet run once, then continue.
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn yield_now(h: *mut Hub) {
    let hh = &mut *h;
    if hh.runq.is_empty() && hh.reactor.waiting() == 0 && hh.timers.is_empty() {
        return;
    }
    let g = hh.current;
    (*g).state = State::Runnable;
    (*g).wait = WaitOn::Yield;
    (*g).live.what.store(crate::live::encode(crate::live::K_YIELD, 0, hh.stamp) | crate::live::RUNNABLE, std::sync::atomic::Ordering::Relaxed);
    hh.runq.push_back(g);
    switch_out(h, g);
    (*g).wait = WaitOn::Nothing;
}

/// Wait until `fd` may be ready for `interest`, or the deadline, a signal or a `close` of the fd.
/// `Err(errno)` if the fd cannot be watched (EPERM for regular files: do the call natively).
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn wait_fd(h: *mut Hub, fd: i32, interest: Interest, deadline: Option<u64>, interruptible: bool) -> Result<Wake, i32> {
    let w = (*h).prepare_park();
    (*h).reactor.add_waiter(fd, interest, w)?;
    let why = park_prepared(h, WaitOn::Fd(fd, interest), deadline, interruptible);
    if matches!(why, Wake::TimedOut | Wake::Interrupted) {
        (*h).reactor.remove_waiter(fd, interest, w);
    }
    Ok(why)
}

/// Wait until any of `fds` may be ready (poll/select/epoll on several fds): like [`wait_fd`] for
/// a set. Every waiter the park did not consume is removed afterwards. `Err(errno)` if one fd
/// cannot be watched (nothing stays registered then).
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn wait_fds(h: *mut Hub, fds: &[(i32, Interest)], deadline: Option<u64>, interruptible: bool) -> Result<Wake, i32> {
    let w = (*h).prepare_park();
    for (k, &(fd, interest)) in fds.iter().enumerate() {
        if let Err(e) = (*h).reactor.add_waiter(fd, interest, w) {
            for &(fd, interest) in &fds[..k] {
                (*h).reactor.remove_waiter(fd, interest, w);
            }
            return Err(e);
        }
    }
    let wait = fds.first().map_or(WaitOn::Signal, |&(fd, i)| WaitOn::Fd(fd, i));
    let why = park_prepared(h, wait, deadline, interruptible);
    for &(fd, interest) in fds {
        (*h).reactor.remove_waiter(fd, interest, w);
    }
    Ok(why)
}

/// `close`/`dup2` is about to replace `fd`: wake its waiters with [`Wake::Closed`].
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn fd_closing(h: *mut Hub, fd: i32) {
    fd_closing_on(h, fd);
    if (*h).around_wait.is_some() {
        // Several hubs (the host's lock is held): each may watch the fd in its own epoll set.
        for slot in &HUBS {
            let t = slot.load(std::sync::atomic::Ordering::Acquire);
            if t.is_null() {
                break;
            }
            if t != h {
                fd_closing_on(t, fd);
            }
        }
    }
}

unsafe fn fd_closing_on(h: *mut Hub, fd: i32) {
    let mut woken = std::mem::take(&mut (*h).woken);
    (*h).reactor.forget(fd, |w, why| woken.push((w, why)));
    for ((id, token), _) in woken.drain(..) {
        (*h).wake_token(id, token, Wake::Closed);
    }
    (*h).woken = woken;
}

/// Switch away from `g` (the running greenlet, already parked or queued).
///
/// Its hook depth is raised meanwhile: a signal handler that runs while the hub is inside its
/// own bookkeeping (the scheduler loop runs as main) must not re-enter the hub through a hook;
/// its calls go to libc natively.
#[inline]
unsafe fn switch_out(h: *mut Hub, g: *mut Greenlet) {
    (*g).hook_depth += 1;
    if g == (*h).main {
        (*g).errno = sys::errno();
        run_loop(h);
    } else {
        // The loop saves errno when the suspend lands there.
        (*(*g).yielder).suspend(());
    }
    (*g).hook_depth -= 1;
}

/// The scheduler, run on main's stack while main is parked; returns when main is picked.
unsafe fn run_loop(h: *mut Hub) {
    loop {
        let hh = &mut *h;
        if hh.round == 0 {
            if let Some(d) = hh.diag {
                d.serve(h);
            }
            if let Some(f) = hh.safe_point {
                f(h, false);
            }
            if hh.reactor.waiting() != 0 || !hh.timers.is_empty() {
                hh.poll(false);
            }
            hh.round = hh.runq.len();
        }
        let Some(g) = hh.runq.pop_front() else {
            if (*hh.main).state == State::Dead && hh.live == 0 && hh.all_done.map_or(true, |f| f(h)) {
                // The last thread ended after main called pthread_exit: exit(0), as natively.
                libc::exit(0);
            }
            hh.poll(true);
            hh.round = 0;
            continue;
        };
        hh.round = hh.round.saturating_sub(1);
        if g == hh.main {
            (*g).state = State::Running;
            crate::live::Live::running((*g).live, hh.stamp);
            if let Some(m) = hh.diag.and_then(|d| d.monitor) {
                m.switched(Some(&*g));
            }
            hh.current = g;
            sys::set_errno((*g).errno);
            return;
        }
        resume(h, g);
    }
}

/// Run `g` until it parks, yields or ends.
unsafe fn resume(h: *mut Hub, g: *mut Greenlet) {
    (*h).current = g;
    (*g).state = State::Running;
    crate::live::Live::running((*g).live, (*h).stamp);
    if let Some(m) = (*h).diag.and_then(|d| d.monitor) {
        m.switched(Some(&*g));
    }
    let coro: *mut Coro = (*g).coro.as_mut().expect("a queued greenlet has a coroutine");
    let tcb = (*g).tcb;
    let r = if tcb == 0 {
        sys::set_errno((*g).errno);
        let r = (*coro).resume(());
        (*g).errno = sys::errno();
        r
    } else {
        // Its errno lives in its own TLS.
        let tls: *const crate::tls::Tls = &**(*h).tls.as_ref().expect("a greenlet with a TCB has a hub with TLS");
        (*tls).set_thread_pointer(tcb);
        let r = (*coro).resume(());
        (*tls).set_thread_pointer((*tls).main_tp);
        r
    };
    if (*g).canary != 0 && !crate::stack::canary_intact((*g).canary) {
        // No guard page in this mode: the overwritten bottom word is the overflow, caught at
        // the first switch after it. Memory below may be damaged: stop now. Only stacks we
        // carved have a canary; the program's own (`pthread_attr_setstack`) are not checked.
        crate::overflow::report((*g).seq, &(*g).name, (*g).stack.1 - (*g).stack.0);
        libc::abort();
    }
    (*h).current = (*h).main;
    (*h).stats.switches += 1;
    (*h).published.switches.store((*h).stats.switches, std::sync::atomic::Ordering::Relaxed);
    if matches!(r, CoroutineResult::Return(())) || (*g).exit_requested {
        finish(h, g);
    }
}

/// `g` returned from its entry or called `pthread_exit`: recycle its stack, wake its joiner,
/// reap it if detached.
unsafe fn finish(h: *mut Hub, g: *mut Greenlet) {
    let hh = &mut *h;
    let stack = (*g).coro.take().map(|mut coro| {
        if !coro.done() {
            // pthread_exit: abandon the frames without unwinding (C frames have nothing to drop;
            // our own frames on a greenlet stack hold no owning values at a park point).
            coro.force_reset();
        }
        coro.into_stack()
    });
    if stack.as_ref().is_some_and(|s| s.canary_broken()) {
        crate::overflow::report((*g).seq, &(*g).name, (*g).stack.1 - (*g).stack.0);
        libc::abort();
    }
    if (*g).tcb != 0 {
        if let Some(tls) = hh.tls.as_mut() {
            tls.release((*g).tcb, stack.as_ref());
        }
        (*g).tcb = 0;
    }
    if let Some(stack) = stack {
        if (*g).in_stack {
            (*g).home = Some(stack); // holds the record: back to the pool at reap
        } else {
            put_stack(hh, stack);
        }
    }
    (*g).entry = None; // on the hub's TLS (see Greenlet::entry)
    (*g).state = State::Dead;
    (*g).live.what.store(crate::live::encode(crate::live::K_DEAD, 0, hh.stamp), std::sync::atomic::Ordering::Relaxed);
    hh.live -= 1;
    (*mask_owner(h)).sigmasks.remove((*g).sigmask);
    masks_changed(h);
    if let Some(f) = hh.diag.and_then(|d| d.on_exit) {
        f(g, (*g).retval);
    }
    if (*g).detached {
        reap(h, g);
    } else if (*g).joiner != 0 {
        let jh = route(h, (*g).joiner);
        if let Some(j) = (*jh).lookup((*g).joiner) {
            (*jh).wake_joiner(j);
        }
    }
    if let Some(f) = (*h).all_done {
        if f(h) {
            libc::exit(0); // the process's last thread ended (multi-hub)
        }
    }
}

/// End the running greenlet with `retval` (`pthread_exit`). From main, the process lives on until
/// the last greenlet ends and then exits with status 0, as natively.
///
/// # Safety
/// `h` is the calling thread's hub; nothing on the caller's stack needs dropping.
pub unsafe fn exit_current(h: *mut Hub, retval: usize) -> ! {
    let g = (*h).current;
    (*g).retval = retval;
    if g == (*h).main {
        (*g).state = State::Dead;
        (*g).live.what.store(crate::live::encode(crate::live::K_DEAD, 0, (*h).stamp), std::sync::atomic::Ordering::Relaxed);
        (*h).live -= 1;
        (*mask_owner(h)).sigmasks.remove((*g).sigmask);
        masks_changed(h);
        if let Some(f) = (*h).diag.and_then(|d| d.on_exit) {
            f(g, retval);
        }
        if let Some(j) = (*h).lookup((*g).joiner) {
            (*h).wake_joiner(j);
        }
        (*g).hook_depth += 1; // as in switch_out: the loop is hub code
        run_loop(h); // exits the process when the last greenlet ends
        unreachable!("main never becomes runnable again after pthread_exit");
    }
    (*g).exit_requested = true;
    (*g).state = State::Running;
    (*(*g).yielder).suspend(());
    unreachable!("an exited greenlet is never resumed");
}

/// Join errors mirror pthread_join's.
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn join(h: *mut Hub, id: u64, deadline: Option<u64>, try_only: bool) -> Result<usize, i32> {
    let me = (*h).current;
    let th = route(h, id); // the target's hub (multi-hub: another hub's, under the host's lock)
    let Some(t) = (*th).lookup(id) else { return Err(libc::ESRCH) };
    if t == me {
        return Err(libc::EDEADLK);
    }
    if (*t).detached {
        return Err(libc::EINVAL);
    }
    if (*t).state != State::Dead {
        if try_only {
            return Err(libc::EBUSY);
        }
        if (*t).joiner != 0 && (*t).joiner != (*me).id {
            return Err(libc::EINVAL);
        }
        if (*t).joiner == 0 && (*me).joiner == (*t).id {
            return Err(libc::EDEADLK); // the two would wait for each other
        }
        (*t).joiner = (*me).id;
        loop {
            let why = park(h, WaitOn::Join(id), deadline, false);
            // Re-resolve: the target may have been detached and reaped meanwhile.
            let Some(t) = (*th).lookup(id) else { return Err(libc::ESRCH) };
            if (*t).state == State::Dead {
                break;
            }
            if why == Wake::TimedOut || why == Wake::Interrupted {
                (*t).joiner = 0;
                // Interrupted: woken by a cancellation request (join is a cancellation point;
                // signals never end a join). The caller acts on it; the target stays joinable.
                return Err(if why == Wake::TimedOut { libc::ETIMEDOUT } else { libc::EINTR });
            }
        }
    }
    let t = (*th).lookup(id).ok_or(libc::ESRCH)?;
    let v = (*t).retval;
    if t != (*th).main {
        reap(th, t);
    }
    Ok(v)
}

/// `pthread_detach`.
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn detach(h: *mut Hub, id: u64) -> Result<(), i32> {
    let h = route(h, id);
    let Some(t) = (*h).lookup(id) else { return Err(libc::ESRCH) };
    if (*t).detached {
        return Err(libc::EINVAL);
    }
    if (*t).state == State::Dead {
        if t != (*h).main {
            reap(h, t);
        }
    } else {
        (*t).detached = true;
    }
    Ok(())
}

/// In the child of `fork()`: only the forking greenlet exists there, as only the forking thread
/// does natively. Gives the child its own epoll instance and forgets every other greenlet
/// (their memory is the parent's copy; it is leaked, never resumed).
///
/// # Safety
/// `h` is the calling thread's hub, called once in the child right after fork.
pub unsafe fn after_fork_child(h: *mut Hub) {
    let hh = &mut *h;
    if hh.reactor.reinit_after_fork().is_err() {
        sys::write_stderr(b"greenshim: cannot create an epoll instance in the forked child\n");
        libc::_exit(127);
    }
    hh.runq.clear();
    hh.timers = Timers::new();
    if let Some(tls) = hh.tls.as_mut() {
        tls.after_fork_child();
    }
    let cur = hh.current;
    for i in 0..hh.slots.len() {
        let g = hh.slots[i].g;
        if !g.is_null() && g != cur && (*g).state != State::Dead {
            (*g).state = State::Dead;
            // Natively these threads do not exist in the child: not shown either.
            (*g).live.seq.store(0, std::sync::atomic::Ordering::Relaxed);
            (*g).live.what.store(crate::live::K_FREE, std::sync::atomic::Ordering::Relaxed);
            (*g).joiner = 0;
            if g != hh.main {
                // Its coroutine is suspended in the parent's copy of memory: never drop it.
                std::mem::forget((*g).coro.take());
            }
        }
    }
    hh.live = 1;
    // Only the forking thread's mask counts now: the child's OS thread gets it, as natively.
    let mask = (*cur).sigmask;
    let reserved = hh.sigmasks.reserved;
    hh.sigmasks = crate::sigmask::Counts::new(crate::sigmask::get_real());
    hh.sigmasks.reserved = reserved;
    hh.sigmasks.change(hh.sigmasks.real, mask);
    hh.sigmasks.sync();
}
