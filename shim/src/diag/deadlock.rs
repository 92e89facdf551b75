//! The deadlock report and the greenlet dump.
//!
//! The hub calls [`on_stall`] when it is about to wait with nothing that could ever wake it by
//! itself: no runnable greenlet, no timer, no fd waiter. Every greenlet then waits on a primitive
//! or a join: natively the process would hang. We print, once per episode, a report of every
//! greenlet to stderr and keep waiting as a native program would (a signal handler may still
//! `sem_post`, or the user may want to attach a debugger). With `GREENSHIM_ON_DEADLOCK=abort`
//! the process exits with status [`ABORT_STATUS`] (86) right after the report instead (stdio is
//! flushed first; atexit handlers do not run: they could wait on the deadlocked locks).
//!
//! Format (the dump lines are [`write_dump`], reusable for a dump-on-signal):
//!
//! ```text
//! greenshim: deadlock: every greenlet is waiting and nothing can wake them
//! greenshim:   g1 "main" parked 1503 ms: join g2 "worker"
//! greenshim:   g2 "worker" parked 1502 ms: mutex 0x55d0c3a1e040 held by g3 "other"
//! greenshim:   g3 "other" parked 1502 ms: mutex 0x55d0c3a1e080 held by g2 "worker"
//! greenshim: the program keeps waiting, as natively (GREENSHIM_ON_DEADLOCK=abort exits with status 86)
//! ```
//!
//! The hooks are installed on the hub the first time a greenlet parks on a primitive.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use gs::hub::{Greenlet, Hub, State, WaitOn};
use gs::reactor::Interest;
use gs::sys::{self, LineBuf};

/// Exit status of `GREENSHIM_ON_DEADLOCK=abort`.
pub const ABORT_STATUS: i32 = 86;

/// Bumped whenever a primitive wakes a greenlet: tells one deadlock episode from the next.
static PROGRESS: AtomicU64 = AtomicU64::new(0);
/// Signature of the last episode reported.
static LAST: AtomicU64 = AtomicU64::new(0);
/// 0: not read yet, 1: report, 2: abort.
static MODE: AtomicU8 = AtomicU8::new(0);

/// A primitive woke a greenlet.
#[inline(always)]
pub fn progress() {
    PROGRESS.store(PROGRESS.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// Install the stall hook and the safe-point hook on `h` (idempotent, cheap).
#[inline(always)]
pub unsafe fn ensure_hooks(h: *mut Hub) {
    if (*h).on_stall.is_none() {
        install(h);
    }
}

#[cold]
unsafe fn install(h: *mut Hub) {
    (*h).on_stall = Some(on_stall);
}

fn abort_mode() -> bool {
    let mut m = MODE.load(Ordering::Relaxed);
    if m == 0 {
        let v = std::env::var("GREENSHIM_ON_DEADLOCK").unwrap_or_default();
        m = match gs::settings::parse_on_deadlock(&v) {
            Ok(gs::settings::OnDeadlock::Abort) => 2,
            _ => 1, // validated at start-up; an unreadable value means the default
        };
        MODE.store(m, Ordering::Relaxed);
    }
    m == 2
}

/// The hub is about to wait forever.
unsafe fn on_stall(h: *mut Hub) {
    if crate::multi::on() {
        return; // another hub may still wake this one's greenlets: not reported (README)
    }
    let hh = &*h;
    // A greenlet waiting for a signal (poll on no fds, no timeout) can still be woken.
    if hh.greenlets().any(|g| (*g).state == gs::hub::State::Parked && (*g).wait == WaitOn::Signal) {
        return;
    }
    // The same episode keeps the same signature: nothing ran, nothing parked anew.
    let mut sig = hh.stats.switches.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ hh.stats.spawned.rotate_left(17)
        ^ PROGRESS.load(Ordering::Relaxed).rotate_left(33);
    for g in hh.greenlets() {
        sig = sig.rotate_left(5) ^ (*g).parked_since ^ (*g).id ^ ((*g).state as u64);
    }
    sig |= 1;
    if LAST.load(Ordering::Relaxed) == sig {
        return;
    }
    LAST.store(sig, Ordering::Relaxed);
    let abort = abort_mode();
    sys::write_stderr(b"greenshim: deadlock: every greenlet is waiting and nothing can wake them\n");
    write_dump(h, &mut |line| sys::write_stderr(line));
    if abort {
        sys::write_stderr(b"greenshim: GREENSHIM_ON_DEADLOCK=abort: exiting with status 86\n");
        libc::fflush(std::ptr::null_mut());
        libc::_exit(ABORT_STATUS);
    }
    sys::write_stderr(b"greenshim: the program keeps waiting, as natively (GREENSHIM_ON_DEADLOCK=abort exits with status 86)\n");
}

/// `g<seq> "name"`
unsafe fn push_greenlet(l: &mut LineBuf, g: *mut Greenlet) {
    let name = &(*g).name;
    let n = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    l.str("g").num((*g).seq).str(" \"").push(&name[..n]).str("\"");
}

fn push_hex(l: &mut LineBuf, v: usize) {
    let mut tmp = [0u8; 18];
    tmp[0] = b'0';
    tmp[1] = b'x';
    let mut digits = [0u8; 16];
    let mut k = 0;
    let mut x = v;
    loop {
        digits[k] = b"0123456789abcdef"[x & 15];
        k += 1;
        x >>= 4;
        if x == 0 {
            break;
        }
    }
    for i in 0..k {
        tmp[2 + i] = digits[k - 1 - i];
    }
    l.push(&tmp[..2 + k]);
}

/// One line per greenlet (`greenshim:   g2 "name" parked 12 ms: mutex 0x... held by g3 "x"`),
/// handed to `out`. No allocation: usable from a signal handler that the hub thread runs between
/// hub operations.
///
/// # Safety
/// `h` is this thread's hub.
pub unsafe fn write_dump(h: *mut Hub, out: &mut dyn FnMut(&[u8])) {
    let now = sys::clock_ns(libc::CLOCK_MONOTONIC_COARSE).unwrap_or(0) as u64;
    // With several hubs (under the process-wide lock): every hub's greenlets, main's hub first;
    // another hub's main greenlet is only its scheduler, not a thread of the program.
    let others = crate::multi::hubs().filter(|&t| t != h);
    let all = (*h).greenlets().chain(others.flat_map(|t| (*t).greenlets().filter(move |&g| g != (*t).main())));
    for g in all {
        let mut l = LineBuf::new();
        l.str("greenshim:   ");
        push_greenlet(&mut l, g);
        match (*g).state {
            State::Running => {
                l.str(" running");
            }
            State::Runnable => {
                l.str(" runnable");
            }
            State::Dead => {
                l.str(" ended, not joined");
            }
            State::Parked => {
                l.str(" parked ").num(now.saturating_sub((*g).parked_since) / 1_000_000).str(" ms: ");
                describe_wait(&mut l, h, (*g).wait);
            }
        }
        l.str("\n");
        out(l.as_bytes());
    }
}

unsafe fn describe_wait(l: &mut LineBuf, h: *mut Hub, w: WaitOn) {
    match w {
        WaitOn::Nothing => {
            l.str("unpark");
        }
        WaitOn::Yield => {
            l.str("yield");
        }
        WaitOn::Sleep => {
            l.str("sleep");
        }
        WaitOn::Signal => {
            l.str("a signal");
        }
        WaitOn::Join(id) => {
            l.str("join ");
            match (*h).lookup(id) {
                Some(t) => push_greenlet(l, t),
                None => {
                    l.str("(gone)");
                }
            }
        }
        WaitOn::Fd(fd, i) => {
            l.str("fd ").num(fd as u64).str(if i == Interest::Read { " (read)" } else { " (write)" });
        }
        WaitOn::Object(kind, addr) => {
            l.str(kind).str(" ");
            push_hex(l, addr);
            match holder(h, kind, addr) {
                Holder::By(how, id) => match (*h).lookup(id) {
                    Some(o) => {
                        l.str(how);
                        push_greenlet(l, o);
                    }
                    None => {
                        l.str(how).str("an ended greenlet");
                    }
                },
                Holder::Free => {
                    l.str(" (unlocked)");
                }
                Holder::Unknown => {}
            }
        }
    }
}

/// Who holds a primitive a greenlet waits on, as its own module tells (see [`describe`]).
pub enum Holder {
    /// Held by greenlet `id`; the text goes before its name (" held by ").
    By(&'static str, u64),
    /// Not held (the waiter is about to get it).
    Free,
    /// The primitive does not say (a condition variable, a semaphore).
    Unknown,
}

/// How a primitive of one kind names its holder: `f(h, addr)`.
pub type Describe = unsafe fn(*mut Hub, usize) -> Holder;

/// The primitives that described themselves, by the kind name their waiters park with (hub
/// thread only; a handful of kinds).
static mut DESCRIBERS: [Option<(&'static str, Describe)>; 8] = [None; 8];

/// A primitive of `kind` can tell who holds it: the report asks `f`. Primitives call this where
/// they park (cheap, idempotent), so the report reads no primitive's layout itself.
///
/// # Safety
/// Hub thread only.
#[inline]
pub unsafe fn describe(kind: &'static str, f: Describe) {
    let d = &mut *std::ptr::addr_of_mut!(DESCRIBERS);
    for slot in d.iter_mut() {
        match slot {
            Some((k, _)) if std::ptr::eq(*k, kind) || *k == kind => return,
            Some(_) => {}
            None => {
                *slot = Some((kind, f));
                return;
            }
        }
    }
}

unsafe fn holder(h: *mut Hub, kind: &'static str, addr: usize) -> Holder {
    let d = &*std::ptr::addr_of!(DESCRIBERS);
    match d.iter().flatten().find(|(k, _)| *k == kind) {
        Some((_, f)) => f(h, addr),
        None => Holder::Unknown,
    }
}

/// A dump of every greenlet to stderr under a header line (e.g. for a dump signal).
///
/// # Safety
/// `h` is this thread's hub, called at a safe point of the hub thread.
pub unsafe fn dump(h: *mut Hub, header: &str) {
    let mut l = LineBuf::new();
    l.str(header).str("\n");
    sys::write_stderr(l.as_bytes());
    write_dump(h, &mut |line| sys::write_stderr(line));
}
