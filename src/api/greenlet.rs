//! Greenlets: `spawn`, the [`Greenlet`] handle and its state (gevent's `Greenlet`), `join`,
//! `joinall`, `kill`, `sleep` and `yield_now`.
//!
//! `spawn` starts a greenlet on the calling thread's hub (creating the hub on first use: the
//! calling thread becomes its main greenlet; under the preload library, the shim's hub — see
//! [`super::rt`]). As in gevent, nothing runs in parallel and a greenlet runs until it
//! parks: a spawned greenlet first runs when its spawner parks or yields.
//!
//! A panic inside a greenlet is caught and kept as its exception (gevent's
//! `Greenlet.exception`), never propagated into the hub. A kill unwinds the greenlet from its
//! park point with the [`GreenletExit`] payload (destructors run); like gevent, a killed
//! greenlet counts as finished *successfully* (`GreenletExit` is not an error) and
//! [`Greenlet::killed`] says so. A `Timeout` scope that expires unhandled ends the greenlet with
//! the exception `"Timeout: ..."`.
//!
//! The hub greenlet is detached; the handle (cheap to clone) keeps the outcome, so any number of
//! greenlets may join it, with or without a timeout.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use super::rt::{self, deadline_after, ops, wait, Fired, On, Parked, WaitList};
pub use super::rt::{current_id, GreenletExit};

enum Outcome<T> {
    Value(T),
    /// The value was moved out by [`Greenlet::get`].
    Taken,
    Panicked(String),
    Killed,
}

pub(crate) struct Shared<T> {
    id: Cell<u64>,
    started: Cell<bool>,
    result: RefCell<Option<Outcome<T>>>,
    done: WaitList,
}

/// A handle to a spawned greenlet (gevent's `Greenlet`). Clones refer to the same greenlet.
/// Dropping every handle without joining detaches it: it still runs to completion.
///
/// ```
/// use std::time::Duration;
/// use greenshim::api::{sleep, spawn};
/// let winner = spawn(|| "You win!");
/// let loser = spawn(|| -> &str { panic!("You fail.") });
/// let stuck = spawn(|| sleep(Duration::from_secs(60)));
/// winner.join();
/// loser.join();
/// assert!(winner.ready() && winner.successful() && winner.value() == Some("You win!"));
/// assert!(loser.ready() && !loser.successful() && loser.exception().as_deref() == Some("You fail."));
/// stuck.kill(); // unwinds it at its sleep
/// assert!(stuck.ready() && stuck.killed());
/// ```
pub struct Greenlet<T> {
    s: Rc<Shared<T>>,
}

impl<T> Clone for Greenlet<T> {
    fn clone(&self) -> Self {
        Greenlet { s: self.s.clone() }
    }
}

/// The panic message of a caught payload (`Timeout` and `GreenletExit` named as such).
pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(f) = p.downcast_ref::<Fired>() {
        format!("Timeout: timed out after {:?}", f.after)
    } else if p.is::<GreenletExit>() {
        "GreenletExit".to_string()
    } else {
        "panic with a non-string payload".to_string()
    }
}

extern "C" fn trampoline(arg: *mut c_void) {
    // SAFETY: arg is the Box<Box<dyn FnOnce()>> leaked by spawn, handed over exactly once.
    let f = unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce()>) };
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        // The body catches the greenlet's own panics; one here came from a destructor of its
        // state. It must not unwind into the hub's C-ABI frames.
        crate::sys::write_stderr(b"greenshim: a panic escaped a greenlet's cleanup\n");
        std::process::abort();
    }
}

/// Spawn a greenlet running `f` (gevent's `gevent.spawn`).
///
/// ```
/// let g = greenshim::spawn(|| 6 * 7);
/// assert!(!g.started()); // runs when the spawner parks
/// assert_eq!(g.get(), Ok(42));
/// ```
///
/// Panics if no stack can be mapped (the process is out of memory or of `vm.max_map_count`).
pub fn spawn<F, T>(f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let s = Rc::new(Shared { id: Cell::new(0), started: Cell::new(false), result: RefCell::new(None), done: WaitList::new() });
    let s2 = s.clone();
    let body: Box<dyn FnOnce()> = Box::new(move || {
        s2.started.set(true);
        let id = current_id();
        let killed_early = rt::with_existing(id, |g| g.killed).unwrap_or(false);
        let out = if killed_early {
            Outcome::Killed // gevent: a greenlet killed before it started never runs
        } else {
            match catch_unwind(AssertUnwindSafe(f)) {
                Ok(v) => Outcome::Value(v),
                Err(p) if p.is::<GreenletExit>() => Outcome::Killed,
                Err(p) => Outcome::Panicked(panic_message(&*p)),
            }
        };
        // The outcome first: from here on a kill is a no-op and creates no state entry again.
        *s2.result.borrow_mut() = Some(out);
        rt::forget_g(id); // drops its Local values (their destructors may park)
        s2.done.wake_all();
    });
    let arg = Box::into_raw(Box::new(body)) as *mut c_void;
    let id = (ops().spawn)(trampoline, arg);
    if id == 0 {
        // SAFETY: not handed over: the spawn failed.
        drop(unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce()>) });
        panic!("greenshim: cannot map a greenlet stack");
    }
    s.id.set(id);
    Greenlet { s }
}

/// Spawn a greenlet that runs `f` after `delay` (gevent's `spawn_later`).
///
/// ```
/// use std::time::{Duration, Instant};
/// let t0 = Instant::now();
/// let g = greenshim::api::spawn_later(Duration::from_millis(20), || "later");
/// assert_eq!(g.get(), Ok("later"));
/// assert!(t0.elapsed() >= Duration::from_millis(20));
/// ```
pub fn spawn_later<F, T>(delay: Duration, f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    spawn(move || {
        sleep(delay);
        f()
    })
}

impl<T> Greenlet<T> {
    /// The greenlet's id (the value `pthread_self()` returns inside it under the shim).
    pub fn id(&self) -> u64 {
        self.s.id.get()
    }

    /// True once the greenlet has begun running.
    pub fn started(&self) -> bool {
        self.s.started.get()
    }

    /// True once the greenlet has finished: returned, panicked or was killed (gevent's `ready()`).
    pub fn ready(&self) -> bool {
        self.s.result.borrow().is_some()
    }

    /// True if it finished without panicking. As in gevent, a killed greenlet counts as
    /// successful (`GreenletExit` is not an error); see [`killed`](Self::killed).
    pub fn successful(&self) -> bool {
        matches!(*self.s.result.borrow(), Some(Outcome::Value(_) | Outcome::Taken | Outcome::Killed))
    }

    /// True if it ended by a [`kill`](Self::kill).
    pub fn killed(&self) -> bool {
        matches!(*self.s.result.borrow(), Some(Outcome::Killed))
    }

    /// The panic message if it finished by panicking (gevent's `exception`).
    pub fn exception(&self) -> Option<String> {
        match &*self.s.result.borrow() {
            Some(Outcome::Panicked(e)) => Some(e.clone()),
            _ => None,
        }
    }

    /// The return value once it finished successfully (gevent's `value`).
    pub fn value(&self) -> Option<T>
    where
        T: Clone,
    {
        match &*self.s.result.borrow() {
            Some(Outcome::Value(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// Wait until the greenlet has finished.
    pub fn join(&self) {
        self.join_deadline(None);
    }

    /// Wait at most `timeout`; true if the greenlet has finished.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join_deadline(Some(deadline_after(timeout)))
    }

    pub(crate) fn join_deadline(&self, deadline: Option<u64>) -> bool {
        join_shared(&*self.s, deadline)
    }

    /// Wait for the greenlet and take its result (gevent's `get()`): `Err` holds the panic
    /// message, or `"GreenletExit"` if it was killed, or says the value was already taken by
    /// another handle's `get`.
    pub fn get(self) -> Result<T, String> {
        self.join();
        let mut r = self.s.result.borrow_mut();
        match r.replace(Outcome::Taken).expect("a joined greenlet has a result") {
            Outcome::Value(v) => Ok(v),
            Outcome::Taken => Err("the value was taken by another handle's get()".to_string()),
            Outcome::Panicked(m) => {
                *r = Some(Outcome::Panicked(m.clone()));
                Err(m)
            }
            Outcome::Killed => {
                *r = Some(Outcome::Killed);
                Err("GreenletExit".to_string())
            }
        }
    }

    /// Kill the greenlet and wait until it has ended (gevent's `kill(block=True)`): it unwinds
    /// with [`GreenletExit`] at its current park in a greenshim call, or at its next one; one not
    /// yet started never runs. No effect on a finished greenlet. Killing the running greenlet
    /// unwinds it at once.
    pub fn kill(&self) {
        self.kill_nowait();
        self.join();
    }

    /// Request the kill without waiting (gevent's `kill(block=False)`).
    pub fn kill_nowait(&self) {
        kill_shared(&*self.s);
    }

    /// [`kill`](Self::kill), waiting at most `timeout` for it to end; true if it ended.
    pub fn kill_timeout(&self, timeout: Duration) -> bool {
        self.kill_nowait();
        self.join_timeout(timeout)
    }

    pub(crate) fn erased(&self) -> Rc<dyn Joinable>
    where
        T: 'static,
    {
        self.s.clone()
    }
}

/// A greenlet of any result type, for groups.
pub(crate) trait Joinable {
    fn gid(&self) -> u64;
    fn is_ready(&self) -> bool;
    fn join_until(&self, deadline: Option<u64>) -> bool;
    fn request_kill(&self);
}

impl<T> Joinable for Shared<T> {
    fn gid(&self) -> u64 {
        self.id.get()
    }
    fn is_ready(&self) -> bool {
        self.result.borrow().is_some()
    }
    fn join_until(&self, deadline: Option<u64>) -> bool {
        join_shared(self, deadline)
    }
    fn request_kill(&self) {
        kill_shared(self)
    }
}

fn join_shared<T>(s: &Shared<T>, deadline: Option<u64>) -> bool {
    loop {
        if s.result.borrow().is_some() {
            return true;
        }
        if s.id.get() == current_id() {
            panic!("greenshim: a greenlet cannot join itself");
        }
        if wait(On::List(&s.done), deadline) == Ok(Parked::TimedOut) {
            return s.result.borrow().is_some();
        }
    }
}

fn kill_shared<T>(s: &Shared<T>) {
    if s.result.borrow().is_some() {
        return;
    }
    if s.id.get() == current_id() {
        std::panic::resume_unwind(Box::new(GreenletExit));
    }
    rt::request_kill(s.id.get());
}

/// Wait for all of `greenlets` (gevent's `joinall`).
pub fn joinall<T>(greenlets: &[Greenlet<T>]) {
    for g in greenlets {
        g.join();
    }
}

/// Wait for all of `greenlets` at most `timeout` (gevent's `joinall(timeout=)`): the indices of
/// those that finished, in order.
///
/// ```
/// use std::time::Duration;
/// use greenshim::api::{joinall_timeout, sleep, spawn};
/// let gs = vec![spawn(|| sleep(Duration::from_millis(1))), spawn(|| sleep(Duration::from_secs(5)))];
/// assert_eq!(joinall_timeout(&gs, Duration::from_millis(100)), vec![0]);
/// gs[1].kill();
/// ```
pub fn joinall_timeout<T>(greenlets: &[Greenlet<T>], timeout: Duration) -> Vec<usize> {
    let deadline = deadline_after(timeout);
    for g in greenlets {
        if !g.join_deadline(Some(deadline)) {
            break;
        }
    }
    greenlets.iter().enumerate().filter(|(_, g)| g.ready()).map(|(i, _)| i).collect()
}

/// Kill every greenlet of `greenlets` and wait for them (gevent's `killall`).
pub fn killall<T>(greenlets: &[Greenlet<T>]) {
    for g in greenlets {
        g.kill_nowait();
    }
    joinall(greenlets);
}

/// Park the calling greenlet for `d` (gevent's `gevent.sleep`); zero just yields.
pub fn sleep(d: Duration) {
    if d.is_zero() {
        yield_now();
        return;
    }
    let deadline = deadline_after(d);
    while wait(On::Sleep, Some(deadline)) != Ok(Parked::TimedOut) {}
}

/// Let every other runnable greenlet run once (gevent's `sleep(0)`). A kill or an expired
/// `Timeout` scope is raised here too.
pub fn yield_now() {
    (ops().yield_now)();
    rt::check_interrupt();
}
