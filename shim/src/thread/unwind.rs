//! Thread exit by unwinding, per greenlet: `pthread_exit` and an acted-on cancellation run the
//! cleanup handlers (innermost first) and C++ destructors, then the thread-specific data
//! destructors, and only then end the greenlet (so a joiner sees it finished after its cleanup).
//!
//! # What glibc does (nptl/unwind.c, cleanup.c, cleanup_compat.c, sysdeps/nptl/pthread.h)
//! `pthread_exit` and a cancellation call `__pthread_unwind(self->cleanup_jmp_buf)`, which
//! starts `_Unwind_ForcedUnwind` with a stop function, `unwind_stop`. The unwinder walks the
//! frames outwards and runs every frame's cleanups: C++ destructors and `catch (...)` blocks
//! (which must rethrow), and the `pthread_cleanup_push` of C compiled with `-fexceptions` or of
//! C++ (there the macros are a `__cleanup__` variable or a class: plain unwinding, nothing
//! registered). C compiled without exceptions has no landing pads: its `pthread_cleanup_push`
//! macro `setjmp`s into a `__pthread_unwind_buf_t` on the pusher's frame and links it with
//! `__pthread_register_cancel` into a chain kept in the thread descriptor. Before each frame
//! the unwinder calls `unwind_stop`, which `longjmp`s into the innermost registered buffer when
//! the frame about to be unwound is the pusher's (its CFA, the callee's stack pointer, is no
//! longer below the buffer's saved stack pointer), or when the unwinder reached the end of the
//! stack. The macro's code then calls the handler and `__pthread_unwind_next(buf)`, which
//! unwinds again with the previous buffer. Old-style `_pthread_cleanup_push` buffers (a second
//! chain) are run by `unwind_stop` as the frames holding them are left. The bottom of the chain
//! is `start_thread`'s own buffer: the thread ends there (TSD destructors, then exit).
//!
//! # Here
//! Both chains live in the thread descriptor, which every greenlet shares, so greenshim
//! interposes the functions that touch them and keeps one chain pair per greenlet: the
//! `setjmp` chain head in `ext[EXT_JMP]`, the old-style head in the upper bits of the cancel
//! word (`cancel::EXT_CANCEL`, flags in its low 3 bits; the buffers are 8-aligned). The forced
//! unwind and [`unwind_stop`] are glibc's, with one difference: the chain has no bottom
//! buffer. A greenlet's start routine runs above `stack_root` (`lifecycle.rs`), whose frame
//! tells the unwinder the return address is undefined: the unwind reaches `_UA_END_OF_STACK`
//! there, and the stop function finishes the exit on the spot (TSD destructors, then
//! `hub::exit_current`, which never returns: the abandoned frames are the unwinder's and those
//! already unwound). The main greenlet's stack is the OS thread's own and ends at `_start`
//! (also `.cfi_undefined rip`); the frames between `main` and `_start` are glibc's, without
//! cleanups, which natively are left by `longjmp` instead.
//!
//! The exception object must outlive the frames it is thrown from (a landing pad reuses their
//! stack), so like glibc's `self->exc` it lives off the stack, one per exiting greenlet, in
//! [`EXITS`], which also says the greenlet is exiting (no second cancellation).
//!
//! Every Rust frame the unwind passes is `extern "C-unwind"` or Rust ABI: an `extern "C"`
//! frame would abort ("panic in a function that cannot unwind"). That is why the exports that
//! are cancellation points are `extern "C-unwind"`.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use gs::hub::{self, Greenlet, Hub};

use crate::hook::entry::any_hub;
use crate::thread::cancel::{self, EXT_CANCEL};

/// Greenlet word holding the head of the `__pthread_register_cancel` chain.
pub(crate) const EXT_JMP: usize = 3;
/// Low bits of the cancel word are flags; the rest is the old-style cleanup chain's head.
const FLAG_BITS: usize = 7;

/// glibc's `struct pthread_unwind_buf` (public: `__pthread_unwind_buf_t`), the part we touch.
#[repr(C)]
pub struct UnwindBuf {
    jmp_buf: [usize; 8],
    mask_was_saved: c_int,
    prev: *mut UnwindBuf,
    cleanup: *mut CleanupBuffer,
    canceltype: c_int,
}

/// `struct _pthread_cleanup_buffer` (old-style cleanup handlers).
#[repr(C)]
pub struct CleanupBuffer {
    routine: Option<unsafe extern "C-unwind" fn(*mut c_void)>,
    arg: *mut c_void,
    canceltype: c_int,
    prev: *mut CleanupBuffer,
}

const _: () = {
    assert!(std::mem::offset_of!(UnwindBuf, prev) == 72);
    assert!(std::mem::offset_of!(UnwindBuf, cleanup) == 80);
    assert!(std::mem::offset_of!(UnwindBuf, canceltype) == 88);
    assert!(std::mem::offset_of!(CleanupBuffer, prev) == 24);
};

/// Index of the saved stack pointer in x86_64's `__jmp_buf` (`JB_RSP`).
const JB_RSP: usize = 6;

/// libgcc's `struct _Unwind_Exception`.
#[repr(C, align(16))]
struct UnwindException {
    class: u64,
    cleanup: Option<unsafe extern "C" fn(c_int, *mut UnwindException)>,
    private_1: usize,
    private_2: usize,
}

type StopFn = unsafe extern "C" fn(c_int, c_int, u64, *mut UnwindException, *mut c_void, *mut c_void) -> c_int;

extern "C-unwind" {
    fn _Unwind_ForcedUnwind(exc: *mut UnwindException, stop: StopFn, param: *mut c_void) -> c_int;
}
extern "C" {
    fn _Unwind_GetCFA(ctx: *mut c_void) -> usize;
    fn longjmp(env: *mut c_void, val: c_int) -> !;
}

const UA_END_OF_STACK: c_int = 16;
const URC_NO_REASON: c_int = 0;

/// An exiting greenlet: its exception object (first: the unwinder hands us its address), the
/// value it exits with, and the next record of [`EXITS`].
#[repr(C)]
struct Exit {
    exc: UnwindException,
    g: *mut Greenlet,
    retval: usize,
    next: *mut Exit,
}

/// Exiting greenlets of the hub thread, a list through `Exit::next` (few at a time: an exit
/// parks only if a cleanup handler or destructor does). Process-wide, not thread-local: with
/// per-greenlet TLS each greenlet has its own thread-locals, and this list is the hub's. Only the
/// hub thread touches it (greenlets of other OS threads never unwind this way).
static EXITS: AtomicPtr<Exit> = AtomicPtr::new(std::ptr::null_mut());

/// The exit record of `g`, if it is exiting.
fn exit_of(g: *mut Greenlet) -> Option<*mut Exit> {
    let mut e = EXITS.load(Ordering::Relaxed);
    // SAFETY: the records are live boxes linked only here.
    unsafe {
        while !e.is_null() {
            if (*e).g == g {
                return Some(e);
            }
            e = (*e).next;
        }
    }
    None
}

/// Unlink `e` from [`EXITS`].
unsafe fn forget_exit(e: *mut Exit) {
    let mut link: *mut *mut Exit = EXITS.as_ptr();
    while !(*link).is_null() {
        if *link == e {
            *link = (*e).next;
            return;
        }
        link = &mut (**link).next;
    }
}

/// Is `g` running its cleanup (no cancellation acts any more, as glibc's EXITING bit)?
pub fn exiting(g: *mut Greenlet) -> bool {
    exit_of(g).is_some()
}

/// The exception's cleanup: called when a C++ `catch (...)` swallowed the forced unwind
/// instead of rethrowing it. glibc cannot go on either (`unwind_cleanup`).
unsafe extern "C" fn exception_not_rethrown(_reason: c_int, _exc: *mut UnwindException) {
    gs::sys::write_stderr(b"FATAL: exception not rethrown\n");
    libc::abort();
}

/// End the running greenlet with `retval` by unwinding its stack (pthread_exit, cancellation).
///
/// # Safety
/// `h` is this thread's hub.
pub unsafe fn exit(h: *mut Hub, retval: usize) -> ! {
    let g = (*h).current();
    // Cleanup handlers and destructors are the program's code: hooked as usual.
    (*g).hook_depth = 0;
    let e = match exit_of(g) {
        Some(e) => e,
        None => {
            let e = Box::into_raw(Box::new(Exit {
                exc: UnwindException { class: 0, cleanup: Some(exception_not_rethrown), private_1: 0, private_2: 0 },
                g,
                retval,
                next: EXITS.load(Ordering::Relaxed),
            }));
            EXITS.store(e, Ordering::Relaxed);
            e
        }
    };
    (*e).retval = retval;
    unwind(e, (*g).ext[EXT_JMP] as *mut UnwindBuf)
}

/// `__pthread_unwind(buf)`: unwind until the frame of `buf` (or the end of the stack).
unsafe fn unwind(e: *mut Exit, buf: *mut UnwindBuf) -> ! {
    _Unwind_ForcedUnwind(&mut (*e).exc, unwind_stop, buf.cast());
    // Only an unwinder failure returns here (no unwind information for a frame it must pass);
    // glibc aborts too.
    gs::sys::write_stderr(b"greenshim: pthread_exit/cancellation: the forced unwind failed\n");
    libc::abort();
}

/// The stack pointer saved in a `jmp_buf` (glibc mangles it with the pointer guard at `%fs:0x30`:
/// rotate left by 17 after xor).
unsafe fn jmpbuf_sp(buf: *const UnwindBuf) -> usize {
    let guard: usize;
    // SAFETY: on x86_64 glibc, %fs:0x30 is tcbhead_t.pointer_guard of this thread.
    std::arch::asm!("mov {}, qword ptr fs:[0x30]", out(reg) guard, options(nostack, readonly, preserves_flags));
    (*buf).jmp_buf[JB_RSP].rotate_right(0x11) ^ guard
}

/// glibc's `unwind_stop`, on the greenlet's own chains; at the end of the chain and stack, the
/// end of the greenlet.
unsafe extern "C" fn unwind_stop(_version: c_int, actions: c_int, _class: u64, exc: *mut UnwindException, ctx: *mut c_void, param: *mut c_void) -> c_int {
    let buf = param as *mut UnwindBuf;
    let e = exc as *mut Exit;
    let g = (*e).g;
    let cfa = _Unwind_GetCFA(ctx);
    let end = actions & UA_END_OF_STACK != 0;
    let do_longjmp = end || (!buf.is_null() && cfa >= jmpbuf_sp(buf));

    // Old-style handlers whose frames this step leaves, down to the state the buffer recorded.
    let mut curp = ((*g).ext[EXT_CANCEL] & !FLAG_BITS) as *mut CleanupBuffer;
    let oldp = if buf.is_null() { std::ptr::null_mut() } else { (*buf).cleanup };
    if curp != oldp && (do_longjmp || cfa >= curp as usize) {
        loop {
            let next = (*curp).prev;
            set_compat_head(g, next);
            if let Some(f) = (*curp).routine {
                f((*curp).arg);
            }
            curp = next;
            if curp == oldp || !(do_longjmp || cfa >= curp as usize) {
                break;
            }
        }
    }

    if do_longjmp {
        if buf.is_null() {
            finish(e)
        }
        // SAFETY: buf was filled by __sigsetjmp in a frame that is still live (the unwinder
        // has not passed it); without a saved mask, longjmp only restores registers.
        longjmp(buf.cast(), 1);
    }
    URC_NO_REASON
}

/// The unwind is over: thread-specific data destructors, then the end of the greenlet.
unsafe fn finish(e: *mut Exit) -> ! {
    let g = (*e).g;
    let retval = (*e).retval;
    forget_exit(e);
    // SAFETY: allocated by `exit`; the unwinder that held it is abandoned (never returned to).
    drop(Box::from_raw(e));
    (*g).ext[EXT_JMP] = 0;
    set_compat_head(g, std::ptr::null_mut());
    let Some(h) = any_hub() else {
        // Unreachable: only greenlets of a hub unwind with this stop function.
        gs::sys::write_stderr(b"greenshim: a greenlet exit ended off its hub\n");
        libc::abort();
    };
    (*g).hook_depth = 0;
    hub::tls_thread_exit(h); // C++/Rust thread_local destructors first, as glibc orders them
    crate::thread::key::run_destructors(h);
    hub::exit_current(h, retval)
}

unsafe fn set_compat_head(g: *mut Greenlet, p: *mut CleanupBuffer) {
    let w = &mut (*g).ext[EXT_CANCEL];
    *w = (*w & FLAG_BITS) | p as usize;
}

/// The running greenlet, if this OS thread has a hub.
#[inline(always)]
unsafe fn greenlet() -> Option<*mut Greenlet> {
    any_hub().map(|h| (*h).current())
}

/// A function of libc this file passes calls to (off the hub), with the `C-unwind` ABI: they
/// may unwind (cancellation of a real thread).
macro_rules! real_unwind {
    ($name:literal, $ty:ty) => {{
        static CACHE: AtomicUsize = AtomicUsize::new(0);
        let mut p = CACHE.load(Ordering::Relaxed);
        if p == 0 {
            p = crate::hook::real::resolve(concat!($name, "\0"), &CACHE);
        }
        // SAFETY: p is libc's function of this name, whose C signature $ty is.
        std::mem::transmute::<usize, $ty>(p)
    }};
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __pthread_register_cancel(buf: *mut UnwindBuf) {
    let Some(g) = greenlet() else {
        return real_unwind!("__pthread_register_cancel", unsafe extern "C-unwind" fn(*mut UnwindBuf))(buf);
    };
    (*buf).prev = (*g).ext[EXT_JMP] as *mut UnwindBuf;
    (*buf).cleanup = ((*g).ext[EXT_CANCEL] & !FLAG_BITS) as *mut CleanupBuffer;
    (*g).ext[EXT_JMP] = buf as usize;
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __pthread_unregister_cancel(buf: *mut UnwindBuf) {
    let Some(g) = greenlet() else {
        return real_unwind!("__pthread_unregister_cancel", unsafe extern "C-unwind" fn(*mut UnwindBuf))(buf);
    };
    (*g).ext[EXT_JMP] = (*buf).prev as usize;
}

/// `pthread_cleanup_push_defer_np`: register, and switch to deferred cancellation until the pop.
#[no_mangle]
pub unsafe extern "C-unwind" fn __pthread_register_cancel_defer(buf: *mut UnwindBuf) {
    let Some(g) = greenlet() else {
        return real_unwind!("__pthread_register_cancel_defer", unsafe extern "C-unwind" fn(*mut UnwindBuf))(buf);
    };
    (*buf).prev = (*g).ext[EXT_JMP] as *mut UnwindBuf;
    (*buf).cleanup = ((*g).ext[EXT_CANCEL] & !FLAG_BITS) as *mut CleanupBuffer;
    (*buf).canceltype = cancel::make_deferred(g);
    (*g).ext[EXT_JMP] = buf as usize;
}

/// `pthread_cleanup_pop_restore_np`: unregister and restore the cancel type (acting on a pending
/// cancellation if that makes it asynchronous again).
#[no_mangle]
pub unsafe extern "C-unwind" fn __pthread_unregister_cancel_restore(buf: *mut UnwindBuf) {
    let Some(g) = greenlet() else {
        return real_unwind!("__pthread_unregister_cancel_restore", unsafe extern "C-unwind" fn(*mut UnwindBuf))(buf);
    };
    (*g).ext[EXT_JMP] = (*buf).prev as usize;
    cancel::restore_type((*buf).canceltype);
}

/// Called by the C cleanup macro after its handler ran: go on unwinding to the previous buffer.
#[no_mangle]
pub unsafe extern "C-unwind" fn __pthread_unwind_next(buf: *mut UnwindBuf) -> ! {
    let Some(h) = any_hub() else {
        real_unwind!("__pthread_unwind_next", unsafe extern "C-unwind" fn(*mut UnwindBuf) -> !)(buf)
    };
    let g = (*h).current();
    match exit_of(g) {
        Some(e) => unwind(e, (*buf).prev),
        // Not exiting (a program calling it by hand): glibc would unwind with its stale state;
        // end the greenlet as cancelled.
        None => {
            (*g).ext[EXT_JMP] = (*buf).prev as usize;
            exit(h, cancel::PTHREAD_CANCELED)
        }
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn _pthread_cleanup_push(b: *mut CleanupBuffer, routine: Option<unsafe extern "C-unwind" fn(*mut c_void)>, arg: *mut c_void) {
    let Some(g) = greenlet() else {
        return real_unwind!("_pthread_cleanup_push", unsafe extern "C-unwind" fn(*mut CleanupBuffer, Option<unsafe extern "C-unwind" fn(*mut c_void)>, *mut c_void))(b, routine, arg);
    };
    (*b).routine = routine;
    (*b).arg = arg;
    (*b).prev = ((*g).ext[EXT_CANCEL] & !FLAG_BITS) as *mut CleanupBuffer;
    set_compat_head(g, b);
}

#[no_mangle]
pub unsafe extern "C-unwind" fn _pthread_cleanup_pop(b: *mut CleanupBuffer, execute: c_int) {
    let Some(g) = greenlet() else {
        return real_unwind!("_pthread_cleanup_pop", unsafe extern "C-unwind" fn(*mut CleanupBuffer, c_int))(b, execute);
    };
    set_compat_head(g, (*b).prev);
    if execute != 0 {
        if let Some(f) = (*b).routine {
            f((*b).arg);
        }
    }
}

/// Old-style push that also switches to deferred cancellation (GLIBC_2.0 compatibility).
#[no_mangle]
pub unsafe extern "C-unwind" fn _pthread_cleanup_push_defer(b: *mut CleanupBuffer, routine: Option<unsafe extern "C-unwind" fn(*mut c_void)>, arg: *mut c_void) {
    let Some(g) = greenlet() else {
        return real_unwind!("_pthread_cleanup_push_defer", unsafe extern "C-unwind" fn(*mut CleanupBuffer, Option<unsafe extern "C-unwind" fn(*mut c_void)>, *mut c_void))(b, routine, arg);
    };
    (*b).routine = routine;
    (*b).arg = arg;
    (*b).canceltype = cancel::make_deferred(g);
    (*b).prev = ((*g).ext[EXT_CANCEL] & !FLAG_BITS) as *mut CleanupBuffer;
    set_compat_head(g, b);
}

#[no_mangle]
pub unsafe extern "C-unwind" fn _pthread_cleanup_pop_restore(b: *mut CleanupBuffer, execute: c_int) {
    let Some(g) = greenlet() else {
        return real_unwind!("_pthread_cleanup_pop_restore", unsafe extern "C-unwind" fn(*mut CleanupBuffer, c_int))(b, execute);
    };
    set_compat_head(g, (*b).prev);
    cancel::restore_type((*b).canceltype);
    if execute != 0 {
        if let Some(f) = (*b).routine {
            f((*b).arg);
        }
    }
}
