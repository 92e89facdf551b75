//! The constructor: validate the settings, make the main thread a hub, install the overflow
//! reporter and the fork handler.
//!
//! A bad `GREENSHIM_*` value must never become a silent default: it prints one line naming the
//! variable and the accepted form and exits with status 2, before the program's `main`.

use std::sync::atomic::{AtomicUsize, Ordering};

use gs::hub;
use gs::overflow;
use gs::settings;
use gs::sys;

real! {
    fn pthread_self() -> libc::pthread_t;
}

extern "C" {
    fn pthread_atfork(
        prepare: Option<unsafe extern "C" fn()>,
        parent: Option<unsafe extern "C" fn()>,
        child: Option<unsafe extern "C" fn()>,
    ) -> libc::c_int;
}

/// The child of `fork()` keeps only the forking greenlet and needs its own epoll instance.
unsafe extern "C" fn atfork_child() {
    let h = hub::current_hub();
    if !h.is_null() {
        hub::after_fork_child(h);
        crate::multi::after_fork_child(h);
        crate::diag::live::after_fork_child(h);
        crate::hook::catch::after_fork_child();
        crate::diag::trace::after_fork_child();
    }
    crate::hook::umem::learn_pid();
}

/// In the parent of `fork()`: the run has another process now (trace lines carry the pid).
unsafe extern "C" fn atfork_parent() {
    crate::diag::trace::forked();
}

/// `GREENSHIM_STACK_SIZE` when the user set it (0: not set).
pub static STACK_SETTING: AtomicUsize = AtomicUsize::new(0);

#[ctor::ctor(unsafe)]
fn greenshim_init() {
    crate::hook::umem::learn_pid();
    let vars = std::env::vars_os()
        .filter(|(k, _)| k.as_encoded_bytes().starts_with(b"GREENSHIM_"))
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned()));
    let s = match settings::from_vars(vars) {
        Ok(s) => s,
        Err(line) => {
            sys::write_stderr(line.as_bytes());
            sys::write_stderr(b"\n");
            // SAFETY: leaving before main, nothing to flush.
            unsafe { libc::_exit(2) };
        }
    };
    STACK_SETTING.store(s.stack_size.unwrap_or(0), Ordering::Relaxed);
    std::panic::set_hook(Box::new(|info| {
        let mut l = sys::LineBuf::new();
        l.str("greenshim: internal error: ");
        if let Some(s) = info.payload().downcast_ref::<&str>() {
            l.str(s);
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            l.str(s);
        }
        if let Some(loc) = info.location() {
            l.str(" at ").str(loc.file()).str(":").num(loc.line() as u64);
        }
        l.str("\n");
        sys::write_stderr(l.as_bytes());
    }));
    match hub::install(s.effective_stack_size(), s.stack_guard) {
        Ok(h) => {
            // SAFETY: h is this thread's fresh hub; pthread_self is the real one.
            unsafe { (*h).set_main_alias(pthread_self() as u64) };
            crate::thread::lifecycle::init_main_name(h);
            crate::thread::signal::init_text_range();
            // SAFETY: h is this thread's fresh hub.
            unsafe {
                (*h).sig_deliver = Some(crate::thread::signal::deliver);
                if let Some(ms) = s.time_slice_ms {
                    (*h).slice_ns = ms * 1_000_000;
                }
            }
            if s.tls != Some(settings::TlsMode::Shared) {
                // SAFETY: h is this thread's fresh hub; no greenlet was spawned yet.
                if let Err(why) = unsafe { hub::enable_tls(h) } {
                    if s.tls == Some(settings::TlsMode::PerGreenlet) {
                        let mut l = sys::LineBuf::new();
                        l.str("greenshim: GREENSHIM_TLS=per-greenlet is not available: ").str(why);
                        l.str("; unset it or set GREENSHIM_TLS=shared\n");
                        sys::write_stderr(l.as_bytes());
                        // SAFETY: leaving before main, nothing to flush.
                        unsafe { libc::_exit(2) };
                    }
                }
            }
            // SAFETY: h is this thread's fresh hub.
            unsafe { crate::diag::deadlock::ensure_hooks(h) };
            // SAFETY: h is this thread's fresh hub.
            if let Err(line) = unsafe { crate::diag::wiring::init(h, &s) } {
                sys::write_stderr(line.as_bytes());
                sys::write_stderr(b"\n");
                // SAFETY: leaving before main, nothing to flush.
                unsafe { libc::_exit(2) };
            }
            // SAFETY: h is this thread's fresh hub.
            unsafe { crate::diag::live::init(h, &s) };
        }
        Err(e) => {
            let mut l = sys::LineBuf::new();
            l.str("greenshim: cannot create the hub's epoll instance (errno ").num(e as u64);
            l.str("); running with native threads\n");
            sys::write_stderr(l.as_bytes());
            return;
        }
    }
    overflow::install();
    // The constructor's own calls are made: trace the program's from here.
    crate::diag::trace::start();
    // SAFETY: registering a plain function.
    unsafe { pthread_atfork(None, Some(atfork_parent), Some(atfork_child)) };
    if s.catch != Some(settings::CatchMode::Exports) {
        // SAFETY: the hub thread, with its hub.
        if let Err(why) = unsafe { crate::hook::catch::enable() } {
            let mut l = sys::LineBuf::new();
            l.str("catching libc's exported functions only: ").str(why);
            crate::diag::trace::note(std::str::from_utf8(l.as_bytes()).unwrap_or(why));
            if s.catch == Some(settings::CatchMode::All) {
                let mut l = sys::LineBuf::new();
                l.str("greenshim: GREENSHIM_CATCH=all is not available: ").str(why);
                l.str("; unset it or set GREENSHIM_CATCH=exports\n");
                sys::write_stderr(l.as_bytes());
                // SAFETY: leaving before main, nothing to flush.
                unsafe { libc::_exit(2) };
            }
        }
    }
    if let Some(n) = s.hubs.filter(|&n| n > 1) {
        let h = hub::current_hub();
        // SAFETY: the constructor, on the main thread, with its hub; no greenlet exists yet.
        if !h.is_null() {
            if let Err(line) = unsafe { crate::multi::start(h, n) } {
                sys::write_stderr(line.as_bytes());
                sys::write_stderr(b"\n");
                // SAFETY: leaving before main, nothing to flush.
                unsafe { libc::_exit(2) };
            }
        }
    }
    // Back to the loader and the program: their system calls are the program's.
    crate::hook::catch::to_program();
}
