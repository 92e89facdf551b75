//! `pthread_once` with greenlet waits.
//!
//! The `pthread_once_t` (an `int`) keeps glibc's encoding: 0 not run, bit 0 in progress, bit 1
//! done; so objects are interchangeable with glibc's. The first caller runs the init routine;
//! concurrent callers (other greenlets reaching the same once while the routine is parked) park
//! until it finishes. There is no room for a queue in 4 bytes, and waiting on a once is rare: the
//! waiters of every once are on one per-hub-thread list, tagged with the once's address.
//!
//! An init routine may unwind (a C++ exception out of `std::call_once`'s callable, which
//! reaches us as the init routine of `pthread_once`): as glibc's cleanup handler does, the once
//! goes back to "not run", its waiters are woken (one of them runs the routine), and the
//! exception continues to the caller, who may call again and run the routine again. The init
//! routine and the export are therefore `extern "C-unwind"`: foreign unwinding passes through
//! our frames (a Rust panic never does: the shim does not panic, and a panic hook reports it).
//!
//! `std::call_once` (libstdc++) hands its callable to `__once_proxy`, the init routine, in two
//! thread-local variables, which all greenlets share when TLS is shared (`GREENSHIM_TLS=shared`;
//! with per-greenlet TLS the save and restore below are no-ops): a greenlet that waited on the once while
//! another's callable ran would find them cleared (or another greenlet's) if it then has to run
//! the routine itself, after an exception. A waiter on `__once_proxy` therefore keeps its own
//! values (read before it parks) and puts them back before it runs the routine.
//!
//! An init routine that ends its greenlet with `pthread_exit` or an acted-on cancellation
//! unwinds too (a forced unwind, `thread::unwind`): the same guard puts the once back to "not
//! run" and wakes its waiters, as glibc's cleanup handler does, so the next caller (or a
//! waiter) runs the routine.

use std::ffi::c_int;
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

use gs::hub::WaitOn;
use gs::waitq::{self, Node, Queue};

use crate::sync::mutex::sync_hub;

/// An init routine: C code that may unwind (C++ exceptions).
type InitFn = unsafe extern "C-unwind" fn();

/// glibc's `pthread_once`, called with the `C-unwind` ABI: the init routine's exception passes
/// through it (glibc's is unwind-safe and resets the once).
unsafe fn real_pthread_once(o: *mut libc::pthread_once_t, init: InitFn) -> c_int {
    static CACHE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut p = CACHE.load(Ordering::Relaxed);
    if p == 0 {
        p = crate::hook::real::resolve("pthread_once\0", &CACHE);
    }
    // SAFETY: p is libc's pthread_once, whose C signature this is; it may unwind.
    let f: unsafe extern "C-unwind" fn(*mut libc::pthread_once_t, InitFn) -> c_int = std::mem::transmute(p);
    f(o, init)
}

/// While the init routine runs: if it unwinds (an exception, `pthread_exit`, a cancellation),
/// put the once back to "not run" and wake its waiters (glibc's `clear_once_control`), then let
/// the unwinding go on.
struct ResetOnUnwind {
    h: *mut gs::hub::Hub,
    o: *mut libc::pthread_once_t,
}

impl Drop for ResetOnUnwind {
    fn drop(&mut self) {
        // SAFETY: `o` is the once whose routine this greenlet was running (still valid: the
        // caller's object), `h` this thread's hub.
        unsafe {
            (*(self.o as *const AtomicI32)).store(0, Ordering::Release);
            wake(self.h, self.o as usize);
        }
    }
}

const IN_PROGRESS: i32 = 1;
const DONE: i32 = 2;

/// Greenlets waiting for some once; `Node::data` is its address. The hub's, not thread-local
/// (with per-greenlet TLS every greenlet has its own thread-locals); only the hub thread
/// touches it.
static WAITERS: AtomicPtr<Node> = AtomicPtr::new(std::ptr::null_mut());

/// libstdc++'s `std::__once_call` and `std::__once_callable` (thread-local) with the values a
/// waiting greenlet had put there for its own `std::call_once`.
struct CxxOnceTls {
    vars: [*mut usize; 2],
    vals: [usize; 2],
}

impl CxxOnceTls {
    /// Read the variables if `init` is libstdc++'s `__once_proxy` (only on the rare waiting path).
    unsafe fn save(init: InitFn) -> Option<CxxOnceTls> {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(init as *const libc::c_void, &mut info) == 0
            || info.dli_sname.is_null()
            || info.dli_saddr != init as *mut libc::c_void
            || std::ffi::CStr::from_ptr(info.dli_sname).to_bytes() != b"__once_proxy"
        {
            return None;
        }
        let lib = libc::dlopen(info.dli_fname, libc::RTLD_NOLOAD | libc::RTLD_LAZY);
        if lib.is_null() {
            return None;
        }
        // Addresses of this OS thread's instances: every greenlet's.
        let call = libc::dlsym(lib, c"_ZSt11__once_call".as_ptr()) as *mut usize;
        let callable = libc::dlsym(lib, c"_ZSt15__once_callable".as_ptr()) as *mut usize;
        libc::dlclose(lib);
        if call.is_null() || callable.is_null() {
            return None;
        }
        Some(CxxOnceTls { vars: [call, callable], vals: [*call, *callable] })
    }

    unsafe fn restore(&self) {
        for (var, val) in self.vars.iter().zip(self.vals) {
            **var = val;
        }
    }
}

unsafe fn pthread_once_impl(o: *mut libc::pthread_once_t, init: InitFn) -> c_int {
    let w = &*(o as *const AtomicI32);
    if w.load(Ordering::Acquire) & DONE != 0 {
        return 0;
    }
    let Some(h) = sync_hub() else { return real_pthread_once(o, init) };
    // Set once this greenlet has waited (see the module docs).
    let mut cxx: Option<Option<CxxOnceTls>> = None;
    loop {
        let v = w.load(Ordering::Acquire);
        if v & DONE != 0 {
            return 0;
        }
        if v & IN_PROGRESS == 0 {
            if w.compare_exchange(v, IN_PROGRESS, Ordering::Acquire, Ordering::Relaxed).is_err() {
                continue;
            }
            if let Some(Some(tls)) = &cxx {
                tls.restore();
            }
            let guard = ResetOnUnwind { h, o };
            init();
            std::mem::forget(guard);
            w.store(DONE, Ordering::Release);
            wake(h, o as usize);
            return 0;
        }
        if cxx.is_none() {
            cxx = Some(CxxOnceTls::save(init));
        }
        crate::diag::deadlock::ensure_hooks(h);
        let mut node = Node::new(o as usize);
        let q: *mut Queue = WAITERS.as_ptr();
        waitq::wait(h, q, &mut node, WaitOn::Object("once", o as usize), None, false);
    }
}

unsafe fn wake(h: *mut gs::hub::Hub, addr: usize) {
    let q: *mut Queue = WAITERS.as_ptr();
    let mut n = waitq::first(q);
    while !n.is_null() {
        let nx = waitq::next(q, n);
        if (*n).data == addr && waitq::wake_node(h, q, n) {
            crate::diag::deadlock::progress();
        }
        n = nx;
    }
}

/// Traced entry (see `trace`); the work is in `pthread_once_impl`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_once(o: *mut libc::pthread_once_t, init: InitFn) -> c_int {
    if crate::diag::trace::on() {
        if let Some(h) = crate::hook::entry::hub() {
            return traced!(h, pthread_once, pthread_once_impl(o, init), |r, e| [Arg::Hex(o as u64), Arg::Hex(init as usize as u64)], Ret::Code(r));
        }
    }
    pthread_once_impl(o, init)
}
