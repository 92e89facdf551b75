//! The API's runtime: which hub it runs on, per-greenlet API state, and the one park every
//! blocking call of the API goes through.
//!
//! # One hub per OS thread, also under the shim
//! A Rust program that depends on this crate has its *own* copy of it, with its own
//! thread-local hub pointer. Run under the preload library, the process already has a hub: the
//! shim's copy of this crate installed it in the main thread, and every `std::thread` is a
//! greenlet of it. A second hub on the same thread would run its own scheduler inside whichever
//! greenlet first used the API, starving the shim's greenlets. So the API never touches a `Hub`
//! directly: it calls a small C-ABI table, [`HubOps`]. The crate has one built on its own hub
//! ([`LOCAL_OPS`]); the shim exports `greenshim_hub_ops_v1`, which returns the *same table
//! compiled into the shim*, operating on the shim's hub. At first use on a thread the API looks
//! the symbol up (`dlsym(RTLD_DEFAULT)`) and uses the shim's table when that thread has a shim
//! hub. C ABI because the two copies may come from different compilers: nothing but ids, tokens,
//! integers and one entry-point pointer crosses.
//!
//! # API state
//! Kill requests, `Timeout` scopes and `Local` values are per greenlet; they live in a map kept
//! per hub, reached through a word the hub keeps for the API ([`HubOps::user_slot`]): not in a
//! `thread_local!`, which under the shim is per *greenlet*.
//!
//! # The park
//! `wait` parks the current greenlet, optionally on a `WaitList`, until woken or a deadline.
//! The deadline handed to the hub is the earlier of the caller's own and the earliest active
//! `Timeout` scope of the greenlet, so a scope interrupts whatever API call is parked when it
//! expires. After the park, the greenlet's entry is removed from the list; then a kill or an
//! expired scope *unwinds* the greenlet from that park point (`resume_unwind`, no panic message):
//! gevent raises `GreenletExit`/`Timeout` there. A wakeup received by a greenlet that leaves this
//! way is passed on to the next waiter, so no wakeup is lost. A kill wakes its target through
//! [`HubOps::interrupt`], which acts only on parks made through the table (they wait on an
//! `Object` of kind `greenshim-api`/`greenshim-api-fd`): a park of the shim's own exports is
//! never woken by the API.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::ffi::c_void;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use std::time::Duration;

use crate::hub::{self, SpawnOpts, WaitOn, Wake};
use crate::reactor::Interest;
use crate::sys;

/// The hub operations the API needs, as a C-ABI table (see the module docs).
#[repr(C)]
pub struct HubOps {
    /// `size_of::<HubOps>()`: a later, longer table is still usable by an older program.
    pub size: usize,
    /// Whether the calling OS thread has a hub of this table's copy (non-zero: yes).
    pub has_hub: extern "C" fn() -> i32,
    /// The running greenlet's id (installs the hub if needed).
    pub current_id: extern "C" fn() -> u64,
    /// Spawn a detached greenlet running `entry(arg)`; 0 if no stack can be mapped.
    pub spawn: extern "C" fn(entry: extern "C" fn(*mut c_void), arg: *mut c_void) -> u64,
    /// Take a new park token for the running greenlet (to register it before parking).
    pub prepare_park: extern "C" fn() -> u64,
    /// Park with the token taken; `deadline` absolute CLOCK_MONOTONIC ns, 0 for none; `what`
    /// the address reported by dumps. Returns a `WAKE_*` code.
    pub park: extern "C" fn(deadline: u64, what: usize) -> i32,
    /// Wake greenlet `id` if it is still in park `token` (`why`: a `WAKE_*` code); 1 if woken.
    pub wake: extern "C" fn(id: u64, token: u64, why: i32) -> i32,
    pub yield_now: extern "C" fn(),
    /// Wait for `fd` readable (`write == 0`) or writable, with the token taken by
    /// `prepare_park`; `deadline` as in `park`. A `WAKE_*` code, or `-errno` if the fd cannot
    /// be watched.
    pub wait_fd: extern "C" fn(fd: i32, write: i32, deadline: u64) -> i32,
    /// `fd` is about to be closed: wake its waiters and drop its registration.
    pub fd_closing: extern "C" fn(fd: i32),
    /// A word per hub the API owns (its state), null before the API first used it.
    pub user_slot: extern "C" fn() -> *mut *mut c_void,
    /// Wake greenlet `id` with `WAKE_INTERRUPTED` if it is parked in an API park (`park` or
    /// `wait_fd` of this table), never in a park of anything else; 1 if woken.
    pub interrupt: extern "C" fn(id: u64) -> i32,
}

/// What API parks wait on, as dumps show it: the object's address, or the fd.
const API_OBJECT: &str = "greenshim-api";
const API_FD: &str = "greenshim-api-fd";

pub const WAKE_WOKEN: i32 = 0;
pub const WAKE_TIMED_OUT: i32 = 1;
/// Interrupted: a kill request (fd waits drop their registration for it).
pub const WAKE_INTERRUPTED: i32 = 2;
pub const WAKE_CLOSED: i32 = 3;

fn wake_code(w: Wake) -> i32 {
    match w {
        Wake::Woken | Wake::Signal => WAKE_WOKEN,
        Wake::TimedOut => WAKE_TIMED_OUT,
        Wake::Interrupted => WAKE_INTERRUPTED,
        Wake::Closed => WAKE_CLOSED,
    }
}

fn deadline_opt(d: u64) -> Option<u64> {
    (d != 0).then_some(d)
}

/// This copy's hub of the calling thread, installed on first use. A hub installed here (a
/// program without the shim) gets the API's stall hook: see [`loop_exit`].
fn local_hub() -> *mut crate::hub::Hub {
    let h = hub::current_hub();
    if !h.is_null() {
        return h;
    }
    let h = hub::get_or_install();
    // SAFETY: h is this thread's hub, just installed by this copy; nothing else set the hook.
    unsafe { (*h).on_stall = Some(loop_exit) };
    h
}

/// The hub is about to wait with nothing that could ever wake it: every greenlet waits on an
/// API object or a join, no timer, no fd (only possible without the shim, which reports
/// deadlocks itself). gevent raises `LoopExit` in the main greenlet then; so does this: main's
/// blocking call panics with "LoopExit: ..." (see [`wait`]), instead of a hang.
unsafe fn loop_exit(h: *mut crate::hub::Hub) {
    let main = (*h).main();
    if (*main).state == crate::hub::State::Parked {
        LOOP_EXIT.with(|f| f.set(true));
        (*h).unpark(main, Wake::Interrupted);
    }
}

thread_local! {
    /// Set by [`loop_exit`] for the main greenlet's wait (a hub installed by this copy: the
    /// OS thread is the hub's, thread-locals are per hub).
    static LOOP_EXIT: Cell<bool> = const { Cell::new(false) };
}

extern "C" fn l_has_hub() -> i32 {
    (!hub::current_hub().is_null()) as i32
}
extern "C" fn l_current_id() -> u64 {
    // SAFETY: current is a live greenlet of this thread's hub.
    unsafe { (*(*local_hub()).current()).id }
}
extern "C" fn l_spawn(entry: extern "C" fn(*mut c_void), arg: *mut c_void) -> u64 {
    let h = local_hub();
    let arg = arg as usize;
    let f = Box::new(move || {
        entry(arg as *mut c_void);
        0usize
    });
    // SAFETY: h is this thread's hub.
    unsafe { hub::spawn(h, f, SpawnOpts { detached: true, ..SpawnOpts::default() }) }.unwrap_or(0)
}
extern "C" fn l_prepare_park() -> u64 {
    // SAFETY: this thread's hub, no switch here.
    unsafe { (*local_hub()).prepare_park().1 }
}
extern "C" fn l_park(deadline: u64, what: usize) -> i32 {
    let h = local_hub();
    // SAFETY: h is this thread's hub; the token was taken by prepare_park.
    wake_code(unsafe { hub::park_prepared(h, WaitOn::Object(API_OBJECT, what), deadline_opt(deadline), false) })
}
extern "C" fn l_wake(id: u64, token: u64, why: i32) -> i32 {
    let why = match why {
        WAKE_INTERRUPTED => Wake::Interrupted,
        WAKE_TIMED_OUT => Wake::TimedOut,
        _ => Wake::Woken,
    };
    // SAFETY: this thread's hub, or the registered hub of the id; wake_token only queues.
    unsafe { (*hub::route(local_hub(), id)).wake_token(id, token, why) as i32 }
}
extern "C" fn l_yield_now() {
    // SAFETY: this thread's hub.
    unsafe { hub::yield_now(local_hub()) }
}
extern "C" fn l_wait_fd(fd: i32, write: i32, deadline: u64) -> i32 {
    let h = local_hub();
    let i = if write != 0 { Interest::Write } else { Interest::Read };
    // SAFETY: h is this thread's hub; current is live; the token was taken by prepare_park.
    unsafe {
        let g = (*h).current();
        let w = ((*g).id, (*g).token);
        if let Err(e) = (*h).reactor.add_waiter(fd, i, w) {
            return -e;
        }
        // Marked as an API wait (not `WaitOn::Fd`): `interrupt` must tell it from the shim's.
        let what = (fd as usize) << 1 | (write != 0) as usize;
        let why = hub::park_prepared(h, WaitOn::Object(API_FD, what), deadline_opt(deadline), false);
        // The reactor consumed the waiter only if it woke it: a timeout or a kill leaves it.
        if matches!(why, Wake::TimedOut | Wake::Interrupted) {
            (*h).reactor.remove_waiter(fd, i, w);
        }
        wake_code(why)
    }
}
extern "C" fn l_fd_closing(fd: i32) {
    let h = hub::current_hub();
    if !h.is_null() {
        // SAFETY: h is this thread's hub.
        unsafe { hub::fd_closing(h, fd) }
    }
}
extern "C" fn l_user_slot() -> *mut *mut c_void {
    // SAFETY: this thread's hub; the field lives as long as the hub (forever).
    unsafe { &mut (*local_hub()).api_slot }
}

extern "C" fn l_interrupt(id: u64) -> i32 {
    let h = hub::route(local_hub(), id); // the greenlet's own hub (several hubs under the shim)
    // SAFETY: this thread's hub; lookup returns a live greenlet; wake_token only queues.
    unsafe {
        let Some(g) = (*h).lookup(id) else { return 0 };
        let api_park = matches!((*g).wait, WaitOn::Object(k, _) if k == API_OBJECT || k == API_FD);
        if (*g).state != crate::hub::State::Parked || !api_park {
            return 0;
        }
        (*h).wake_token(id, (*g).token, Wake::Interrupted) as i32
    }
}

/// The table over this copy of the crate's own hub. The shim exports it as
/// `greenshim_hub_ops_v1`.
pub static LOCAL_OPS: HubOps = HubOps {
    size: std::mem::size_of::<HubOps>(),
    has_hub: l_has_hub,
    current_id: l_current_id,
    spawn: l_spawn,
    prepare_park: l_prepare_park,
    park: l_park,
    wake: l_wake,
    yield_now: l_yield_now,
    wait_fd: l_wait_fd,
    fd_closing: l_fd_closing,
    user_slot: l_user_slot,
    interrupt: l_interrupt,
};

/// The shim's table, looked up once per process: 0 not yet, 1 absent, 2 present.
static SHIM_STATE: AtomicU8 = AtomicU8::new(0);
static SHIM_OPS: AtomicPtr<HubOps> = AtomicPtr::new(std::ptr::null_mut());

fn shim_ops() -> Option<&'static HubOps> {
    if SHIM_STATE.load(Ordering::Acquire) == 0 {
        // SAFETY: dlsym with a NUL-terminated name; the symbol, if present, is a function
        // `extern "C" fn() -> *const HubOps` returning a static table.
        let p = unsafe {
            let f = libc::dlsym(libc::RTLD_DEFAULT, c"greenshim_hub_ops_v1".as_ptr());
            if f.is_null() {
                std::ptr::null()
            } else {
                let f: extern "C" fn() -> *const HubOps = std::mem::transmute(f);
                f()
            }
        };
        // Our own copy of the table (when this crate *is* the shim's copy) is no shim.
        // SAFETY: read only when non-null: a static table of the shim, its first field the size.
        let usable = !p.is_null() && !std::ptr::eq(p, &LOCAL_OPS) && unsafe { (*p).size } >= std::mem::size_of::<HubOps>();
        SHIM_OPS.store(p as *mut HubOps, Ordering::Relaxed);
        SHIM_STATE.store(if usable { 2 } else { 1 }, Ordering::Release);
    }
    if SHIM_STATE.load(Ordering::Acquire) == 2 {
        // SAFETY: a static table of the loaded shim, checked above.
        Some(unsafe { &*SHIM_OPS.load(Ordering::Relaxed) })
    } else {
        None
    }
}

/// The table the API uses on this thread: the shim's if this thread has a shim hub, else ours.
pub fn ops() -> &'static HubOps {
    if !hub::current_hub().is_null() {
        return &LOCAL_OPS; // this copy's hub is already installed here
    }
    match shim_ops() {
        Some(o) if (o.has_hub)() != 0 => o,
        _ => &LOCAL_OPS,
    }
}

/// True if the API on this thread runs on the preload library's hub.
pub fn on_shim_hub() -> bool {
    !std::ptr::eq(ops(), &LOCAL_OPS)
}

/// Monotonic now in ns (the hub's clock).
pub fn now() -> u64 {
    sys::now()
}

/// `now + d`, saturating.
pub fn deadline_after(d: Duration) -> u64 {
    now().saturating_add(d.as_nanos().min(u64::MAX as u128) as u64)
}

// ------------------------------------------------------------------------ per-greenlet state

/// One active `Timeout` scope of a greenlet.
pub(crate) struct Scope {
    pub id: u64,
    pub deadline: u64,
    pub after: Duration,
    pub fired: bool,
}

#[derive(Default)]
pub(crate) struct GState {
    /// A kill was requested; raised at its next API park.
    pub killed: bool,
    pub scopes: Vec<Scope>,
    /// `Local` values: local id -> value.
    pub locals: HashMap<u64, Box<dyn Any>>,
}

/// Hashes a greenlet id (already unique, slot and generation bits) with one multiply: the map
/// is looked up on every API park and yield.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) type IdMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

#[derive(Default)]
pub(crate) struct ApiState {
    /// Entries exist only for greenlets with a kill request, a `Timeout` or a `Local` value;
    /// an API-spawned greenlet's is dropped when it ends.
    pub greenlets: RefCell<IdMap<GState>>,
    /// Kill requests and `Timeout` scopes alive on this hub: zero makes the interruption checks
    /// of a park a single load.
    pub armed: Cell<usize>,
    pub next_id: Cell<u64>,
}

/// This hub's API state.
pub(crate) fn state() -> &'static ApiState {
    let slot = (ops().user_slot)();
    // SAFETY: the slot is the hub's word for the API: null or an ApiState leaked below, used
    // only by this OS thread (the hub's). The hub is never freed, so neither is the state.
    unsafe {
        if (*slot).is_null() {
            *slot = Box::into_raw(Box::<ApiState>::default()) as *mut c_void;
        }
        &*(*slot as *const ApiState)
    }
}

/// A fresh id for API objects (timeouts, locals), unique on this hub.
pub(crate) fn fresh_id() -> u64 {
    let s = state();
    s.next_id.set(s.next_id.get() + 1);
    s.next_id.get()
}

/// Run `f` on the state of greenlet `id` (created if absent). Never switches.
pub(crate) fn with_g<R>(id: u64, f: impl FnOnce(&mut GState) -> R) -> R {
    f(state().greenlets.borrow_mut().entry(id).or_default())
}

/// Run `f` on the state of greenlet `id` if it has one.
pub(crate) fn with_existing<R>(id: u64, f: impl FnOnce(&mut GState) -> R) -> Option<R> {
    state().greenlets.borrow_mut().get_mut(&id).map(f)
}

/// Count a greenlet as armed (a kill request or a scope): see [`ApiState::armed`].
pub(crate) fn arm(delta: isize) {
    let a = &state().armed;
    a.set(a.get().wrapping_add_signed(delta));
}

/// Drop a greenlet's API state (it ended): its `Local` values are dropped here.
pub(crate) fn forget_g(id: u64) {
    let g = state().greenlets.borrow_mut().remove(&id);
    if let Some(g) = &g {
        arm(-(g.killed as isize) - g.scopes.len() as isize);
    }
    drop(g); // outside the borrow: a value's destructor may use the API
}

pub fn current_id() -> u64 {
    (ops().current_id)()
}

// -------------------------------------------------------------------------- interruptions

/// The payload a kill unwinds a greenlet with (gevent's `GreenletExit`): its destructors run,
/// the greenlet's outcome is "killed". Code that catches unwinds should let it pass.
///
/// ```
/// use greenshim::api::{spawn, Event, GreenletExit};
/// let e = Event::new();
/// let e2 = e.clone();
/// let g = spawn(move || {
///     let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e2.wait()));
///     let was_kill = matches!(&r, Err(p) if p.is::<GreenletExit>());
///     if let Err(p) = r { std::panic::resume_unwind(p) } // let it pass
///     was_kill
/// });
/// greenshim::api::yield_now();
/// g.kill();
/// assert!(g.killed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GreenletExit;

/// The payload an expired `Timeout` scope unwinds with.
#[derive(Debug)]
pub(crate) struct Fired {
    pub id: u64,
    pub after: Duration,
}

/// What is pending for greenlet `id` at time `now`: a kill, or the expired scope with the
/// earliest deadline (marked fired: it is raised once).
fn take_interrupt(id: u64, now: u64) -> Option<Box<dyn Any + Send>> {
    if state().armed.get() == 0 || std::thread::panicking() {
        // Nothing armed on this hub; or unwinding already (a destructor that parks): unwinding
        // again would abort.
        return None;
    }
    with_existing(id, |g| {
        if g.killed {
            return Some(Box::new(GreenletExit) as Box<dyn Any + Send>);
        }
        let s = g.scopes.iter_mut().filter(|s| !s.fired && s.deadline <= now).min_by_key(|s| (s.deadline, s.id))?;
        s.fired = true;
        Some(Box::new(Fired { id: s.id, after: s.after }) as Box<dyn Any + Send>)
    })
    .flatten()
}

/// Raise a pending kill or expired scope of the running greenlet, if any.
pub(crate) fn check_interrupt() {
    if state().armed.get() == 0 {
        return;
    }
    let id = current_id();
    if let Some(p) = take_interrupt(id, now()) {
        std::panic::resume_unwind(p);
    }
}

/// The earliest deadline of the greenlet's active scopes.
fn scope_deadline(id: u64) -> Option<u64> {
    if state().armed.get() == 0 {
        return None;
    }
    with_existing(id, |g| g.scopes.iter().filter(|s| !s.fired).map(|s| s.deadline).min()).flatten()
}

// ------------------------------------------------------------------------------ wait lists

/// Greenlets parked on an API object, FIFO: (greenlet id, park token).
#[derive(Default)]
pub(crate) struct WaitList {
    q: RefCell<VecDeque<(u64, u64)>>,
}

impl WaitList {
    pub const fn new() -> Self {
        WaitList { q: RefCell::new(VecDeque::new()) }
    }

    /// Wake the first waiter still in its park; true if one was woken.
    pub fn wake_one(&self) -> bool {
        let o = ops();
        loop {
            let Some((id, tok)) = self.q.borrow_mut().pop_front() else { return false };
            if (o.wake)(id, tok, WAKE_WOKEN) != 0 {
                return true;
            }
        }
    }

    pub fn wake_all(&self) -> usize {
        let mut n = 0;
        while self.wake_one() {
            n += 1;
        }
        n
    }

    /// Waiters in the list (some may be leaving already: woken, not yet run).
    pub fn len(&self) -> usize {
        self.q.borrow().len()
    }

    fn remove(&self, w: (u64, u64)) {
        let mut q = self.q.borrow_mut();
        if let Some(p) = q.iter().position(|x| *x == w) {
            q.remove(p);
        }
    }
}

/// How an API park ended (an interruption unwinds instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parked {
    Woken,
    /// The caller's own deadline passed.
    TimedOut,
    /// The fd was closed by another greenlet (fd waits only).
    Closed,
}

/// What a park waits on.
pub(crate) enum On<'a> {
    List(&'a WaitList),
    Sleep,
    Fd(i32, bool),
}

/// Park the running greenlet (see the module docs). Raises a pending kill or expired scope
/// before parking and after. `deadline`: absolute ns.
pub(crate) fn wait(on: On<'_>, deadline: Option<u64>) -> Result<Parked, i32> {
    let o = ops();
    let id = (o.current_id)();
    let t = now();
    if let Some(p) = take_interrupt(id, t) {
        std::panic::resume_unwind(p);
    }
    let scope = scope_deadline(id);
    let eff = match (deadline, scope) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if deadline.is_some_and(|d| d <= t) {
        return Ok(Parked::TimedOut);
    }
    let code = match on {
        On::List(l) => {
            let tok = (o.prepare_park)();
            l.q.borrow_mut().push_back((id, tok));
            let c = (o.park)(eff.unwrap_or(0), l as *const _ as usize);
            l.remove((id, tok));
            c
        }
        On::Sleep => {
            (o.prepare_park)();
            (o.park)(eff.unwrap_or(0), 0)
        }
        On::Fd(fd, write) => {
            (o.prepare_park)();
            (o.wait_fd)(fd, write as i32, eff.unwrap_or(0))
        }
    };
    if code < 0 {
        return Err(-code);
    }
    if code == WAKE_INTERRUPTED && LOOP_EXIT.with(|f| f.replace(false)) {
        panic!("LoopExit: this operation would block forever (every greenlet waits and nothing can wake them)");
    }
    if let Some(p) = take_interrupt(id, now()) {
        if code == WAKE_WOKEN {
            if let On::List(l) = on {
                l.wake_one(); // pass the wakeup on: we are leaving without using it
            }
        }
        std::panic::resume_unwind(p);
    }
    Ok(match code {
        WAKE_TIMED_OUT if deadline.is_some_and(|d| d <= now()) => Parked::TimedOut,
        WAKE_CLOSED => Parked::Closed,
        _ => Parked::Woken, // a scope deadline that another scope's cancel made moot: re-check
    })
}

/// Request a kill of greenlet `id`: raised at its current API park (woken now) or its next.
pub(crate) fn request_kill(id: u64) {
    with_g(id, |g| {
        if !g.killed {
            g.killed = true;
            arm(1);
        }
    });
    (ops().interrupt)(id);
}
