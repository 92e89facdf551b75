//! Threads become greenlets: `pthread_create`, join, detach, exit, identity, names and attributes.
//! Signals (`signal`), cancellation (`cancel`) and scheduling (`sched`) have files of their own.
//!
//! A greenlet's `pthread_t` is its hub id (top bit set: never a glibc thread descriptor, so it
//! can never be confused with a real thread, and glibc never sees it). The main greenlet keeps
//! the real `pthread_self()` of the main thread, which stays valid for anything glibc does with
//! it. Calls that name a greenlet do what the call means for a greenlet, or what the kernel
//! would do to the OS thread all greenlets share where the call is about the OS thread (CPU
//! clock, affinity); ids of real threads (created before the hub, or on another OS thread) go to
//! glibc unchanged.
//!
//! A greenlet's start routine (and its thread-specific data destructors) run above
//! [`stack_root`], a frame that ends the stack for the unwinder, as `clone3` ends a native
//! thread's: a C++ exception nothing catches in the thread calls `std::terminate` at the throw,
//! without unwinding (no destructors run), exactly as natively, instead of unwinding into the
//! hub's frames.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::Ordering;

use gs::hub::{self, Greenlet, Hub, SpawnOpts};
use gs::sys;
use libc::{pthread_attr_t, pthread_t, size_t, timespec};

use crate::hook::entry;

/// A start routine: C code that may unwind (C++ exceptions).
type StartFn = extern "C-unwind" fn(*mut c_void) -> *mut c_void;

/// Body of a greenlet: the start routine, then its TLS destructors (C++ `thread_local`, Rust's
/// `thread_local!`) and thread-specific data destructors, in glibc's order.
extern "C-unwind" fn thread_body(f: StartFn, arg: *mut c_void) -> *mut c_void {
    let sel = crate::hook::catch::to_program();
    let r = f(arg);
    crate::hook::catch::leave(sel);
    if let Some(h) = entry::any_hub() {
        // SAFETY: h is this thread's hub; the running greenlet is ending.
        unsafe { hub::tls_thread_exit(h) };
    }
    crate::thread::key::thread_end(); // thread-specific data destructors, as at a native thread's end
    r
}

/// `thread_body(f, arg)` in a frame whose return address the unwinder is told is undefined
/// (`.cfi_undefined rip`): the end of the stack, where the search for a handler stops.
#[unsafe(naked)]
unsafe extern "C-unwind" fn stack_root(_f: StartFn, _arg: *mut c_void) -> *mut c_void {
    core::arch::naked_asm!(
        ".cfi_startproc",
        ".cfi_undefined rip",
        "sub rsp, 8", // 16-byte alignment for the call
        ".cfi_adjust_cfa_offset 8",
        "call {body}",
        "add rsp, 8",
        ".cfi_adjust_cfa_offset -8",
        "ret",
        ".cfi_endproc",
        body = sym thread_body,
    );
}

/// The real functions (a module of their own: our exports carry the same names).
mod real_fns {
    use super::*;
    real! {
    fn pthread_create(t: *mut pthread_t, attr: *const pthread_attr_t, f: StartFn, arg: *mut c_void) -> c_int;
    fn pthread_join(t: pthread_t, ret: *mut *mut c_void) -> c_int;
    fn pthread_tryjoin_np(t: pthread_t, ret: *mut *mut c_void) -> c_int;
    fn pthread_clockjoin_np(t: pthread_t, ret: *mut *mut c_void, clock: libc::clockid_t, abstime: *const timespec) -> c_int;
    fn pthread_detach(t: pthread_t) -> c_int;
    fn pthread_self() -> pthread_t;
    fn pthread_setname_np(t: pthread_t, name: *const c_char) -> c_int;
    fn pthread_getname_np(t: pthread_t, buf: *mut c_char, len: size_t) -> c_int;
    fn pthread_getattr_np(t: pthread_t, attr: *mut pthread_attr_t) -> c_int;
    fn pthread_attr_init(attr: *mut pthread_attr_t) -> c_int;
    fn pthread_attr_getdetachstate(attr: *const pthread_attr_t, state: *mut c_int) -> c_int;
    fn pthread_attr_setdetachstate(attr: *mut pthread_attr_t, state: c_int) -> c_int;
    fn pthread_attr_getstack(attr: *const pthread_attr_t, addr: *mut *mut c_void, size: *mut size_t) -> c_int;
    fn pthread_attr_getstackaddr(attr: *const pthread_attr_t, addr: *mut *mut c_void) -> c_int;
    fn pthread_attr_setstack(attr: *mut pthread_attr_t, addr: *mut c_void, size: size_t) -> c_int;
    fn pthread_attr_setguardsize(attr: *mut pthread_attr_t, size: size_t) -> c_int;
    }
}

/// What a `pthread_t` names.
pub(crate) enum Target {
    /// A greenlet of this hub (main included).
    Greenlet(*mut Greenlet),
    /// Not ours: a real thread, or no hub on this OS thread.
    Native,
    /// A greenlet id that no longer resolves.
    Gone,
}

pub(crate) fn target(h: *mut Hub, t: pthread_t) -> Target {
    // SAFETY: h is this thread's hub.
    // SAFETY: h is this thread's hub; route names a registered hub.
    match unsafe { (*hub::route(h, t as u64)).lookup(t as u64) } {
        Some(g) => Target::Greenlet(g),
        None if Hub::is_greenlet_id(t as u64) => Target::Gone,
        None => Target::Native,
    }
}

use crate::hook::entry::any_hub;

/// The real `pthread_create`, with default attributes (a hub's OS thread, multi-hub).
///
/// # Safety
/// As `pthread_create`.
pub unsafe fn real_create(t: *mut pthread_t, f: extern "C" fn(*mut c_void) -> *mut c_void, arg: *mut c_void) -> c_int {
    // SAFETY: a C start routine that does not unwind has the same ABI as StartFn.
    real_fns::pthread_create(t, std::ptr::null(), std::mem::transmute::<extern "C" fn(*mut c_void) -> *mut c_void, StartFn>(f), arg)
}

/// Record the main thread's name (natively, new threads inherit their creator's name).
pub fn init_main_name(h: *mut Hub) {
    let mut buf = [0u8; 16];
    // SAFETY: buf holds 16 bytes; the real call names the real main thread.
    unsafe {
        if real_fns::pthread_getname_np(real_fns::pthread_self(), buf.as_mut_ptr().cast(), 16) == 0 {
            (*h).set_name((*h).main(), buf);
        }
    }
}

/// Explicit `GREENSHIM_STACK_SIZE`, if any.
fn stack_setting() -> usize {
    crate::hook::init::STACK_SETTING.load(Ordering::Relaxed)
}

/// Spawn options from a pthread attribute object (glibc owns the object; we only read it).
unsafe fn spawn_opts(attr: *const pthread_attr_t) -> SpawnOpts {
    let mut opts = SpawnOpts::default();
    if attr.is_null() {
        return opts;
    }
    let mut ds = 0;
    real_fns::pthread_attr_getdetachstate(attr, &mut ds);
    opts.detached = ds == libc::PTHREAD_CREATE_DETACHED;
    let mut top: *mut c_void = std::ptr::null_mut();
    let mut addr: *mut c_void = std::ptr::null_mut();
    let mut size: size_t = 0;
    real_fns::pthread_attr_getstackaddr(attr, &mut top);
    // getstack reports the size as set (0: never set), unlike getstacksize's default.
    real_fns::pthread_attr_getstack(attr, &mut addr, &mut size);
    if !top.is_null() {
        opts.user_stack = Some((top as usize - size, size));
    } else if size != 0 {
        opts.stack_size = Some(size.max(stack_setting()));
    }
    opts
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_create(t: *mut pthread_t, attr: *const pthread_attr_t, f: StartFn, arg: *mut c_void) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::pthread_create(t, attr, f, arg) };
    hook!(h, pthread_create, crate::hook::entry::always, create(h, t, attr, f, arg), |r, e| [
        Arg::Hex(t as u64), Arg::Hex(attr as u64), Arg::Hex(f as usize as u64), Arg::Hex(arg as u64)
    ], Ret::Code(r))
}

unsafe fn create(h: *mut Hub, t: *mut pthread_t, attr: *const pthread_attr_t, f: StartFn, arg: *mut c_void) -> c_int {
    let opts = spawn_opts(attr);
    // Scheduling policy and priority: inherited, or the attribute's, checked by the kernel's
    // rules (natively an explicit real-time policy fails here with EPERM when unprivileged).
    let sched = match crate::thread::sched::for_new_thread(h, attr) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let arg = arg as usize;
    let entry = Box::new(move || {
        // SAFETY: f is the program's start routine; stack_root only calls thread_body(f, arg).
        unsafe { stack_root(f, arg as *mut c_void) as usize }
    });
    // With several hubs the new thread starts on the next one (round-robin), keeping its
    // creator's name and signal mask as on the creator's hub.
    let ht = crate::multi::place(h);
    let spawned = hub::spawn_mut(ht, entry, opts);
    if let Some(text) = (*ht).stacks.take_notice() {
        crate::diag::trace::note(text);
    }
    match spawned {
        Ok(id) => {
            if let Some(g) = (*ht).lookup(id) {
                if ht != h {
                    let me = (*h).current();
                    (*g).parent = (*me).id;
                    (*ht).set_name(g, (*me).name);
                    (*ht).set_sigmask(g, (*me).sigmask);
                }
                crate::thread::sched::set_new_thread(g, sched);
            }
            *t = id as pthread_t;
            0
        }
        Err(e) => e,
    }
}


/// Absolute time on `clock` to a hub deadline (CLOCK_MONOTONIC ns). `Err(EINVAL)` for a bad
/// timespec or clock.
pub fn deadline_from_abs(clock: libc::clockid_t, abs: &timespec) -> Result<u64, c_int> {
    let when = sys::timespec_ns(abs).ok_or(libc::EINVAL)?;
    let now_c = sys::clock_ns(clock).ok_or(libc::EINVAL)?;
    let now_m = sys::now() as i128;
    Ok((now_m + (when - now_c)).max(0) as u64)
}

unsafe fn join_common(t: pthread_t, ret: *mut *mut c_void, deadline: Option<u64>, try_only: bool) -> Option<c_int> {
    let h = any_hub()?;
    match target(h, t) {
        Target::Native => None,
        Target::Gone => Some(libc::ESRCH),
        Target::Greenlet(_) => loop {
            // A cancellation point (not tryjoin): a cancel ends the wait with EINTR (the
            // target stays joinable), acted on here.
            if !try_only {
                crate::thread::cancel::testcancel(h);
            }
            break Some(match hub::join(h, t as u64, deadline, try_only) {
                Ok(v) => {
                    if !ret.is_null() {
                        *ret = v as *mut c_void;
                    }
                    0
                }
                Err(libc::EINTR) => continue,
                Err(e) => e,
            });
        },
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_join(t: pthread_t, ret: *mut *mut c_void) -> c_int {
    match entry::hub() {
        Some(h) if !matches!(target(h, t), Target::Native) => hook!(h, pthread_join, crate::hook::entry::always, join_common(t, ret, None, false).unwrap_or(libc::ESRCH), |r, e| [
            Arg::Hex(t as u64), Arg::Hex(ret as u64)
        ], Ret::Code(r)),
        _ => join_common(t, ret, None, false).unwrap_or_else(|| real_fns::pthread_join(t, ret)),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_tryjoin_np(t: pthread_t, ret: *mut *mut c_void) -> c_int {
    join_common(t, ret, None, true).unwrap_or_else(|| real_fns::pthread_tryjoin_np(t, ret))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_timedjoin_np(t: pthread_t, ret: *mut *mut c_void, abstime: *const timespec) -> c_int {
    pthread_clockjoin_np(t, ret, libc::CLOCK_REALTIME, abstime)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_clockjoin_np(t: pthread_t, ret: *mut *mut c_void, clock: libc::clockid_t, abstime: *const timespec) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_clockjoin_np(t, ret, clock, abstime) };
    if let Target::Native = target(h, t) {
        return real_fns::pthread_clockjoin_np(t, ret, clock, abstime);
    }
    let deadline = if abstime.is_null() {
        None
    } else {
        if clock != libc::CLOCK_REALTIME && clock != libc::CLOCK_MONOTONIC {
            return libc::EINVAL;
        }
        match deadline_from_abs(clock, &*abstime) {
            Ok(d) => Some(d),
            Err(e) => return e,
        }
    };
    join_common(t, ret, deadline, false).unwrap_or(libc::ESRCH)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_detach(t: pthread_t) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_detach(t) };
    match target(h, t) {
        Target::Native => real_fns::pthread_detach(t),
        Target::Gone => libc::ESRCH,
        Target::Greenlet(_) => hook!(h, pthread_detach, crate::hook::entry::always, match hub::detach(h, t as u64) {
            Ok(()) => 0,
            Err(e) => e,
        }, |r, e| [Arg::Hex(t as u64)], Ret::Code(r)),
    }
}

/// End the calling greenlet (main included: the process then lives until the last greenlet
/// ends) by unwinding its stack: cleanup handlers and C++ destructors run, then the
/// thread-specific data destructors (`thread::unwind`). `C-unwind`: the unwind passes this frame.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_exit(ret: *mut c_void) -> ! {
    match any_hub() {
        Some(h) => crate::thread::unwind::exit(h, ret as usize),
        None => real_exit(ret),
    }
}

unsafe fn real_exit(ret: *mut c_void) -> ! {
    static CACHE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut p = CACHE.load(Ordering::Relaxed);
    if p == 0 {
        p = crate::hook::real::resolve("pthread_exit\0", &CACHE);
    }
    // SAFETY: p is libc's pthread_exit, which unwinds the real thread through our frame.
    let f: unsafe extern "C-unwind" fn(*mut c_void) -> ! = std::mem::transmute(p);
    f(ret)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_self() -> pthread_t {
    let h = hub::current_hub();
    if !h.is_null() {
        let g = (*h).current();
        if g != (*h).main() {
            return (*g).id as pthread_t;
        }
    }
    real_fns::pthread_self()
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_setname_np(t: pthread_t, name: *const c_char) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_setname_np(t, name) };
    match target(h, t) {
        Target::Native => real_fns::pthread_setname_np(t, name),
        Target::Gone => libc::ESRCH,
        Target::Greenlet(g) => {
            let bytes = CStr::from_ptr(name).to_bytes();
            if bytes.len() > 15 {
                return libc::ERANGE;
            }
            if g == (*h).main() {
                // Main is the real thread: its name is the process name, as natively.
                let r = real_fns::pthread_setname_np((*h).main_alias() as pthread_t, name);
                if r != 0 {
                    return r;
                }
            }
            let mut buf = [0u8; 16];
            buf[..bytes.len()].copy_from_slice(bytes);
            (*h).set_name(g, buf);
            if g == (*h).current() {
                // The hub-blocking monitor copied the name when g was switched in.
                if let Some(m) = (*h).diag.and_then(|d| d.monitor) {
                    m.switched(Some(&*g));
                }
            }
            0
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_getname_np(t: pthread_t, buf: *mut c_char, len: size_t) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_getname_np(t, buf, len) };
    match target(h, t) {
        Target::Native => real_fns::pthread_getname_np(t, buf, len),
        Target::Gone => libc::ESRCH,
        Target::Greenlet(g) if g == (*h).main() => real_fns::pthread_getname_np((*h).main_alias() as pthread_t, buf, len),
        Target::Greenlet(g) => {
            if len < 16 {
                return libc::ERANGE;
            }
            std::ptr::copy_nonoverlapping((*g).name.as_ptr(), buf.cast(), 16);
            0
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_getattr_np(t: pthread_t, attr: *mut pthread_attr_t) -> c_int {
    let Some(h) = any_hub() else { return real_fns::pthread_getattr_np(t, attr) };
    match target(h, t) {
        Target::Native => real_fns::pthread_getattr_np(t, attr),
        Target::Gone => libc::ESRCH,
        Target::Greenlet(g) if g == (*h).main() => real_fns::pthread_getattr_np((*h).main_alias() as pthread_t, attr),
        Target::Greenlet(g) => {
            real_fns::pthread_attr_init(attr);
            let (lo, hi) = (*g).stack;
            real_fns::pthread_attr_setstack(attr, lo as *mut c_void, hi - lo);
            real_fns::pthread_attr_setguardsize(attr, if (*g).stack == (0, 0) { 0 } else { gs::stack::PAGE });
            if (*g).detached {
                real_fns::pthread_attr_setdetachstate(attr, libc::PTHREAD_CREATE_DETACHED);
            }
            crate::thread::sched::fill_attr(g, attr);
            0
        }
    }
}

