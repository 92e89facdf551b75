//! The hub's part of per-greenlet signals, without the shim: a greenlet made runnable only for
//! its handlers ([`Hub::signal_wake`]) runs them inside a non-interruptible park, which then
//! goes on; a wakeup of that park arriving while the handlers run (even while they park in
//! turn) ends it afterwards; an interruptible park ends with `Interrupted` and leaves the
//! handlers to its caller; the OS thread's mask is what every greenlet blocks.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use greenshim as gs;
use gs::api::{sleep, spawn, yield_now};
use gs::hub::{current_hub, Hub, State, WaitOn, Wake};
use gs::sigmask::bit;

thread_local! {
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static HANDLER_SLEEPS: RefCell<Option<Duration>> = const { RefCell::new(None) };
}

fn log(s: String) {
    LOG.with(|l| l.borrow_mut().push(s));
}

fn take_log() -> Vec<String> {
    LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// The test's "handler dispatch": record, clear the pending set, optionally park.
unsafe fn deliver(h: *mut Hub) {
    let g = (*h).current();
    log(format!("handler in g{}", (*g).seq));
    (*g).sigpending = 0;
    if let Some(d) = HANDLER_SLEEPS.with(|s| *s.borrow()) {
        sleep(d);
        log(format!("handler in g{} slept", (*g).seq));
    }
}

fn on_fresh_hub(f: impl FnOnce() + Send + 'static) {
    if let Err(p) = std::thread::spawn(f).join() {
        std::panic::resume_unwind(p);
    }
}

fn hub() -> *mut Hub {
    yield_now(); // installs the hub
    let h = current_hub();
    // SAFETY: this thread's hub.
    unsafe { (*h).sig_deliver = Some(deliver) };
    h
}

/// Park the current greenlet (test helper): `interruptible`, optional deadline from now.
fn park(interruptible: bool, timeout: Option<Duration>) -> Wake {
    let h = current_hub();
    let deadline = timeout.map(|d| gs::sys::now() + d.as_nanos() as u64);
    // SAFETY: this thread's hub, called from a greenlet of it.
    unsafe { gs::hub::park(h, WaitOn::Nothing, deadline, interruptible) }
}

fn greenlet_of(h: *mut Hub, id: u64) -> *mut gs::hub::Greenlet {
    // SAFETY: this thread's hub.
    unsafe { (*h).lookup(id).expect("live greenlet") }
}

/// Make SIGUSR1 pending for greenlet `id` and wake it for it, as the shim's routing does.
fn usr1_for(h: *mut Hub, id: u64) -> *mut gs::hub::Greenlet {
    let g = greenlet_of(h, id);
    // SAFETY: g is live; the hub is this thread's.
    unsafe {
        (*g).sigpending = bit(libc::SIGUSR1);
        (*h).signal_wake(g);
    }
    g
}

#[test]
fn handlers_run_inside_a_non_interruptible_park_which_goes_on() {
    on_fresh_hub(|| {
        let h = hub();
        let a = spawn(|| park(false, None));
        yield_now();
        let g = usr1_for(h, a.id());
        yield_now();
        assert_eq!(take_log(), vec![format!("handler in g{}", unsafe { (*g).seq })]);
        assert_eq!(unsafe { (*g).state }, State::Parked, "the park goes on after the handler");
        unsafe { (*h).unpark(g, Wake::Woken) };
        a.join();
        assert_eq!(a.get(), Ok(Wake::Woken));
    });
}

#[test]
fn a_wakeup_during_a_parking_handler_ends_the_park_after_it() {
    on_fresh_hub(|| {
        let h = hub();
        HANDLER_SLEEPS.with(|s| *s.borrow_mut() = Some(Duration::from_millis(100)));
        let t0 = Instant::now();
        // The park's own deadline (30 ms) passes while its handler sleeps (100 ms).
        let a = spawn(|| park(false, Some(Duration::from_millis(30))));
        yield_now();
        let g = usr1_for(h, a.id());
        a.join();
        let took = t0.elapsed();
        assert_eq!(a.get(), Ok(Wake::TimedOut));
        assert!(took >= Duration::from_millis(100), "the park ended only after the handler: {took:?}");
        assert!(took < Duration::from_millis(1000), "{took:?}");
        let seq = unsafe { (*g).seq };
        assert_eq!(take_log(), vec![format!("handler in g{seq}"), format!("handler in g{seq} slept")]);
    });
}

#[test]
fn an_interruptible_park_ends_interrupted_and_leaves_the_handlers_to_its_caller() {
    on_fresh_hub(|| {
        let h = hub();
        let a = spawn(|| park(true, None));
        yield_now();
        let g = usr1_for(h, a.id());
        a.join();
        assert_eq!(a.get(), Ok(Wake::Interrupted));
        assert!(take_log().is_empty());
        assert_eq!(unsafe { (*g).deliverable() }, bit(libc::SIGUSR1));
    });
}

#[test]
fn the_os_thread_blocks_what_every_greenlet_blocks() {
    on_fresh_hub(|| {
        let h = hub();
        let usr1 = bit(libc::SIGUSR1);
        let usr2 = bit(libc::SIGUSR2);
        let real = || gs::sigmask::get_real() & (usr1 | usr2);
        unsafe {
            let main = (*h).current();
            (*h).set_sigmask(main, usr1 | usr2);
            assert_eq!(real(), usr1 | usr2);
            // A new greenlet inherits main's mask: still both blocked.
            let a = spawn(move || {
                let h = current_hub();
                let me = (*h).current();
                (*h).set_sigmask(me, usr1);
                yield_now();
            });
            yield_now();
            assert_eq!(real(), usr1, "the greenlet let USR2 through");
            a.join();
            assert_eq!(real(), usr1 | usr2, "the greenlet ended");
            (*h).set_sigmask(main, 0);
            assert_eq!(real(), 0);
        }
    });
}
