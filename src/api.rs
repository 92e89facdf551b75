//! gevent's greenlet API for Rust code.
//!
//! `spawn` starts a greenlet on the calling thread's hub (creating the hub on first use: the
//! calling thread becomes its main greenlet); `sleep`, `yield_now` and [`Greenlet::join`] park
//! the caller and let the others run. As in gevent, nothing runs in parallel and a greenlet runs
//! until it parks: a spawned greenlet first runs when its spawner parks or yields.
//!
//! A panic inside a greenlet is caught and kept as its exception (gevent's
//! `Greenlet.exception`), never propagated into the hub.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use crate::hub::{self, Hub, SpawnOpts, WaitOn};
use crate::sys;

struct Shared<T> {
    started: Cell<bool>,
    result: RefCell<Option<Result<T, String>>>,
}

/// A handle to a spawned greenlet (gevent's `Greenlet`). Dropping it without joining detaches
/// the greenlet: it still runs to completion.
pub struct Greenlet<T> {
    id: u64,
    hub: *mut Hub,
    shared: Rc<Shared<T>>,
    /// The hub-level join happened (the greenlet is reaped).
    joined: Cell<bool>,
}

fn panic_message(p: Box<dyn Any + Send>) -> String {
    match p.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => match p.downcast::<&'static str>() {
            Ok(s) => (*s).to_string(),
            Err(_) => "panic with a non-string payload".to_string(),
        },
    }
}

/// Spawn a greenlet running `f` (gevent's `gevent.spawn`).
///
/// Panics if no stack can be mapped (the process is out of memory or of `vm.max_map_count`).
pub fn spawn<F, T>(f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let h = hub::get_or_install();
    let shared = Rc::new(Shared { started: Cell::new(false), result: RefCell::new(None) });
    let s2 = shared.clone();
    let entry = Box::new(move || {
        s2.started.set(true);
        let r = catch_unwind(AssertUnwindSafe(f)).map_err(panic_message);
        *s2.result.borrow_mut() = Some(r);
        0usize
    });
    // SAFETY: h is this thread's hub.
    let id = unsafe { hub::spawn(h, entry, SpawnOpts::default()) }.expect("greenshim: cannot map a greenlet stack");
    Greenlet { id, hub: h, shared, joined: Cell::new(false) }
}

impl<T> Greenlet<T> {
    /// The greenlet's id (the value `pthread_self()` returns inside it under the shim).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// True once the greenlet has begun running.
    pub fn started(&self) -> bool {
        self.shared.started.get()
    }

    /// True once the greenlet has finished, successfully or not (gevent's `ready()`).
    pub fn ready(&self) -> bool {
        self.shared.result.borrow().is_some()
    }

    /// True if it finished without panicking.
    pub fn successful(&self) -> bool {
        matches!(*self.shared.result.borrow(), Some(Ok(_)))
    }

    /// The panic message if it finished by panicking (gevent's `exception`).
    pub fn exception(&self) -> Option<String> {
        match &*self.shared.result.borrow() {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        }
    }

    /// The return value once it finished successfully (gevent's `value`).
    pub fn value(&self) -> Option<T>
    where
        T: Clone,
    {
        match &*self.shared.result.borrow() {
            Some(Ok(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// Wait until the greenlet has finished.
    pub fn join(&self) {
        self.join_deadline(None);
    }

    /// Wait at most `timeout`; true if the greenlet has finished.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join_deadline(Some(sys::now() + timeout.as_nanos() as u64))
    }

    fn join_deadline(&self, deadline: Option<u64>) -> bool {
        if self.joined.get() {
            return true;
        }
        // SAFETY: the handle is used on the thread whose hub spawned it (Greenlet is !Send).
        match unsafe { hub::join(self.hub, self.id, deadline, false) } {
            Ok(_) => {
                self.joined.set(true);
                true
            }
            Err(libc::ETIMEDOUT) => false,
            Err(e) => panic!("greenshim: join failed with errno {e}"),
        }
    }

    /// Wait for the greenlet and take its result (gevent's `get()`): `Err` holds the panic message.
    pub fn get(self) -> Result<T, String> {
        self.join();
        self.shared.result.borrow_mut().take().expect("a joined greenlet has a result")
    }
}

impl<T> Drop for Greenlet<T> {
    fn drop(&mut self) {
        if !self.joined.get() {
            // SAFETY: as in join_deadline.
            let _ = unsafe { hub::detach(self.hub, self.id) };
        }
    }
}

/// Wait for all of `greenlets` (gevent's `joinall`).
pub fn joinall<T>(greenlets: &[Greenlet<T>]) {
    for g in greenlets {
        g.join();
    }
}

/// Park the calling greenlet for `d` (gevent's `gevent.sleep`); zero just yields.
pub fn sleep(d: Duration) {
    let h = hub::get_or_install();
    if d.is_zero() {
        // SAFETY: h is this thread's hub.
        unsafe { hub::yield_now(h) };
        return;
    }
    let deadline = sys::now().saturating_add(d.as_nanos().min(u64::MAX as u128) as u64);
    // SAFETY: h is this thread's hub.
    unsafe { hub::park(h, WaitOn::Sleep, Some(deadline), false) };
}

/// Let every other runnable greenlet run once (gevent's `sleep(0)`).
pub fn yield_now() {
    // SAFETY: get_or_install returns this thread's hub.
    unsafe { hub::yield_now(hub::get_or_install()) };
}

/// The running greenlet's id on this thread's hub.
pub fn current_id() -> u64 {
    // SAFETY: current is a live greenlet of this thread's hub.
    unsafe { (*(*hub::get_or_install()).current()).id }
}
