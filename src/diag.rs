//! What the hub tells the diagnostics layer (trace, summary, hub-blocking monitor, dump signal).
//!
//! Kept apart from the scheduler: with diagnostics off (`Hub::diag == None`), the hub pays one
//! branch on spawn, park and switch.

use crate::greenlet::Greenlet;
use crate::hub::Hub;
use crate::sys;

/// What the diagnostics layer wants to hear from the hub.
pub struct Diag {
    /// Count parks and parked time per greenlet ([`Greenlet::parks`], [`Greenlet::parked_ns`]).
    pub measure_parks: bool,
    /// A greenlet was spawned (the new one, its parent).
    pub on_spawn: Option<unsafe fn(*const Greenlet, *const Greenlet)>,
    /// A greenlet ended (returned or `pthread_exit`), with its return value.
    pub on_exit: Option<unsafe fn(*const Greenlet, usize)>,
    /// Published at every switch for the watchdog thread of the hub-blocking monitor.
    pub monitor: Option<&'static Monitor>,
    /// Set by a signal handler (the dump signal); the hub then calls `on_request` at its next
    /// safe point, and does not treat the interrupted epoll wait as a signal for a greenlet.
    pub request: Option<&'static std::sync::atomic::AtomicBool>,
    pub on_request: Option<unsafe fn(*mut Hub)>,
}

impl Diag {
    /// Serve a pending request; true if there was one.
    ///
    /// # Safety
    /// `h` is this thread's hub, at a safe point.
    #[inline]
    pub unsafe fn serve(&self, h: *mut Hub) -> bool {
        match (self.request, self.on_request) {
            (Some(flag), Some(f)) if flag.swap(false, std::sync::atomic::Ordering::Relaxed) => {
                f(h);
                true
            }
            _ => false,
        }
    }
}

/// Written by the hub thread at every switch, read by a watchdog thread: atomics only.
pub struct Monitor {
    /// Bumped at every switch.
    pub switches: std::sync::atomic::AtomicU64,
    /// CLOCK_MONOTONIC ns when the running greenlet was switched in.
    pub since: std::sync::atomic::AtomicU64,
    /// Display number of the running greenlet (0: the hub itself, waiting).
    pub seq: std::sync::atomic::AtomicU64,
    /// Its name, 16 bytes in two words.
    pub name: [std::sync::atomic::AtomicU64; 2],
    /// Its last interposed call (see [`Greenlet::last_call`]).
    pub last_call: std::sync::atomic::AtomicU32,
}

impl Monitor {
    pub const fn new() -> Monitor {
        use std::sync::atomic::AtomicU64;
        Monitor {
            switches: AtomicU64::new(0),
            since: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            name: [AtomicU64::new(0), AtomicU64::new(0)],
            last_call: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// `g` starts running now (`None`: the hub is about to wait for events).
    pub fn switched(&self, g: Option<&Greenlet>) {
        use std::sync::atomic::Ordering::Relaxed;
        self.since.store(sys::now(), Relaxed);
        match g {
            Some(g) => {
                self.name[0].store(u64::from_ne_bytes(g.name[..8].try_into().unwrap()), Relaxed);
                self.name[1].store(u64::from_ne_bytes(g.name[8..].try_into().unwrap()), Relaxed);
                self.seq.store(g.seq, Relaxed);
                self.last_call.store(g.last_call, Relaxed);
            }
            None => self.seq.store(0, Relaxed),
        }
        self.switches.fetch_add(1, Relaxed);
    }
}

