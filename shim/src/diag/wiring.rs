//! Wiring the diagnostics into the hub: trace and summary (`trace`), the hub-blocking monitor
//! (a watchdog OS thread), and the greenlet dump on a signal.
//!
//! All off by default; each is switched on by a setting, and only then does greenshim take
//! anything of the program's: the watchdog is one extra OS thread (it only reads atomics the
//! hub publishes at each switch), the dump signal is the one the user named.
//!
//! The dump signal's handler only raises a flag: the dump itself is written by the hub thread
//! at its next safe point (at once if the hub was waiting for events, else when the running
//! greenlet next yields), where the greenlet table is consistent.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use gs::hub::{Diag, Greenlet, Hub, Monitor};
use gs::settings::Settings;
use gs::sys::{self, LineBuf};

use crate::diag::trace;

mod real_fns {
    use super::*;
    real! {
        fn pthread_create(t: *mut libc::pthread_t, a: *const libc::pthread_attr_t, f: extern "C" fn(*mut c_void) -> *mut c_void, arg: *mut c_void) -> libc::c_int;
    }
}

static MONITOR: Monitor = Monitor::new();
static DUMP_REQUEST: AtomicBool = AtomicBool::new(false);
/// The hub, for the exit-time summary.
static mut HUB: *mut Hub = std::ptr::null_mut();

unsafe fn spawned(g: *const Greenlet, parent: *const Greenlet) {
    trace::event(g, "spawned by g", Some(("", (*parent).seq)));
}

unsafe fn exited(g: *const Greenlet, retval: usize) {
    trace::exited(g, retval);
}

unsafe fn dump_now(h: *mut Hub) {
    crate::diag::deadlock::dump(h, "greenshim: greenlet dump (dump signal)");
}

extern "C" fn on_dump_signal(_sig: libc::c_int) {
    DUMP_REQUEST.store(true, Relaxed);
    // If the hub is held, the live thread dumps instead (after a short wait for a safe point).
    crate::diag::live::kick_dump();
}

/// A dump was asked for and the hub has not started it yet.
pub fn dump_pending() -> bool {
    DUMP_REQUEST.load(Relaxed)
}

/// Take the pending dump request away from the hub (the live thread dumps instead): true if
/// there was one.
pub fn take_dump_request() -> bool {
    DUMP_REQUEST.swap(false, Relaxed)
}

extern "C" fn summary_at_exit() {
    // SAFETY: HUB was set at init; atexit handlers run on the thread calling exit, and the
    // summary only reads counters.
    unsafe {
        let h = HUB;
        if !h.is_null() {
            trace::print_summary(h);
        }
    }
}

/// Configure the diagnostics from the settings (constructor). `Err` is the one-line message.
///
/// # Safety
/// `h` is the freshly installed hub of this (main) thread.
pub unsafe fn init(h: *mut Hub, s: &Settings) -> Result<(), String> {
    trace::configure(&trace::Options {
        trace: s.trace,
        summary: s.summary,
        monitor: s.max_blocking_ms.is_some(),
        file: s.trace_file.as_deref(),
        filter: s.trace_filter.as_deref(),
        strsize: s.trace_strsize.unwrap_or(32),
        walltime: s.trace_timestamps,
        calltime: s.trace_durations,
        launcher_pid: std::env::var(gs::settings::LAUNCHER_PID).ok().and_then(|v| v.parse().ok()),
    })?;
    let dump = s.dump_signal.is_some();
    if !(s.trace || s.summary || s.max_blocking_ms.is_some() || dump) {
        return Ok(());
    }
    let diag: &'static Diag = Box::leak(Box::new(Diag {
        measure_parks: s.trace || s.summary,
        on_spawn: if s.trace { Some(spawned) } else { None },
        on_exit: if s.trace { Some(exited) } else { None },
        monitor: s.max_blocking_ms.map(|_| &MONITOR),
        request: dump.then_some(&DUMP_REQUEST),
        on_request: if dump { Some(dump_now) } else { None },
    }));
    (*h).diag = Some(diag);
    HUB = h;
    if s.summary {
        libc::atexit(summary_at_exit);
    }
    if let Some(sig) = s.dump_signal {
        // The shim's own signal: left to the kernel and never blocked on the OS thread.
        crate::thread::sigact::reserve(sig);
        (*h).sigmasks.reserved |= gs::sigmask::bit(sig);
        (*h).sigmasks.sync();
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_dump_signal as *const () as usize;
        act.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut act.sa_mask);
        if libc::sigaction(sig, &act, std::ptr::null_mut()) != 0 {
            return Err(format!("greenshim: cannot install the dump signal handler for signal {sig}"));
        }
    }
    if let Some(ms) = s.max_blocking_ms {
        MONITOR.switched(Some(&*(*h).main()));
        let mut t: libc::pthread_t = 0;
        // The watchdog is greenshim's thread, not the program's: it must never take the
        // program's process-directed signals (the kernel gives one to any thread that does not
        // block it, and the program's handler would run there, outside the hub: MariaDB's
        // `print_signal_warning` then locked a greenshim mutex with glibc's code and aborted).
        // It starts with every signal blocked, inherited from this thread's mask meanwhile.
        let saved = gs::sigmask::block_all();
        let r = real_fns::pthread_create(&mut t, std::ptr::null(), watchdog, ms as usize as *mut c_void);
        gs::sigmask::set_real(saved);
        if r != 0 {
            return Err("greenshim: cannot start the hub-blocking monitor thread".to_string());
        }
    }
    Ok(())
}

/// The watchdog: reports once per episode when one greenlet has held the hub longer than the
/// limit without yielding.
extern "C" fn watchdog(arg: *mut c_void) -> *mut c_void {
    // Also those the hub thread never blocks (SIGSYS): this thread traps nothing.
    let all = u64::MAX;
    let _ = syscall!(SYS_rt_sigprocmask, libc::SIG_SETMASK, &all as *const u64, 0usize, 8);
    let limit = arg as u64 * 1_000_000;
    let period = (limit / 4).clamp(1_000_000, 50_000_000);
    let mut reported = u64::MAX;
    loop {
        let ts = sys::ns_timespec(period as i128);
        let _ = syscall!(SYS_nanosleep, &ts as *const libc::timespec, 0usize);
        let switches = MONITOR.switches.load(Relaxed);
        let seq = MONITOR.seq.load(Relaxed);
        let ran = sys::now().saturating_sub(MONITOR.since.load(Relaxed));
        if seq == 0 || ran < limit || switches == reported {
            continue;
        }
        if MONITOR.switches.load(Relaxed) != switches {
            continue; // it just switched: not one episode
        }
        reported = switches;
        let mut name = [0u8; 16];
        name[..8].copy_from_slice(&MONITOR.name[0].load(Relaxed).to_ne_bytes());
        name[8..].copy_from_slice(&MONITOR.name[1].load(Relaxed).to_ne_bytes());
        let n = name.iter().position(|&b| b == 0).unwrap_or(16);
        let last = MONITOR.last_call.load(Relaxed);
        let mut l = LineBuf::new();
        l.str("greenshim: greenlet g").num(seq);
        if n > 0 {
            l.str(" \"").push(&name[..n]).str("\"");
        }
        l.str(" has held the hub for ").num(ran / 1_000_000).str(" ms without yielding (limit ").num(arg as u64);
        l.str(" ms); its last interposed call: ");
        match last {
            0 => l.str("none"),
            c => l.str(trace::NAMES[c as usize - 1]),
        };
        l.str("; every other greenlet waits meanwhile: a CPU loop or a call greenshim cannot make cooperative\n");
        sys::write_stderr(l.as_bytes());
    }
}
