//! C11 threads (`<threads.h>`): `thrd_*`, `mtx_*`, `cnd_*`, `tss_*`, `call_once`.
//!
//! glibc implements them as thin wrappers over its pthread functions, but calls those through
//! internal aliases that never reach our exports: `thrd_create` would start a real OS thread and
//! `mtx_lock` would wait in the kernel. So each is taken over here and mapped onto greenshim's
//! pthread exports exactly as glibc maps them onto its own (same types, same attribute choices,
//! same error translation: `thrd_success`, `thrd_busy` for EBUSY, `thrd_nomem` for ENOMEM,
//! `thrd_timedout` for ETIMEDOUT, `thrd_error` otherwise).
//!
//! A C11 start routine returns `int`; glibc marks such threads and converts the value
//! (`(void *)(uintptr_t) ret` at the end, `(int)(uintptr_t)` in `thrd_join`), because calling an
//! `int` function through a pointer-returning type leaves the upper half of the register
//! undefined. [`c11_start`] does the same.

use std::ffi::{c_int, c_void};

use libc::{pthread_cond_t, pthread_key_t, pthread_mutex_t, pthread_once_t, pthread_t, timespec};


const THRD_SUCCESS: c_int = 0;
const THRD_BUSY: c_int = 1;
const THRD_ERROR: c_int = 2;
const THRD_NOMEM: c_int = 3;
const THRD_TIMEDOUT: c_int = 4;
const MTX_RECURSIVE: c_int = 1;

type ThrdStart = unsafe extern "C-unwind" fn(*mut c_void) -> c_int;

/// glibc's `thrd_err_map`.
fn map(e: c_int) -> c_int {
    match e {
        0 => THRD_SUCCESS,
        libc::ENOMEM => THRD_NOMEM,
        libc::ETIMEDOUT => THRD_TIMEDOUT,
        libc::EBUSY => THRD_BUSY,
        _ => THRD_ERROR,
    }
}

/// A C11 thread's start: its `int` result as the thread's pointer-sized value, as glibc stores it.
extern "C-unwind" fn c11_start(p: *mut c_void) -> *mut c_void {
    // SAFETY: p is the box thrd_create made for this thread, consumed once here.
    let (f, arg) = *unsafe { Box::from_raw(p as *mut (ThrdStart, usize)) };
    // SAFETY: f is the program's start routine.
    let r = unsafe { f(arg as *mut c_void) };
    r as isize as usize as *mut c_void
}

#[no_mangle]
pub unsafe extern "C-unwind" fn thrd_create(thr: *mut pthread_t, func: ThrdStart, arg: *mut c_void) -> c_int {
    let p = Box::into_raw(Box::new((func, arg as usize)));
    let e = crate::thread::lifecycle::pthread_create(thr, std::ptr::null(), c11_start, p as *mut c_void);
    if e != 0 {
        drop(Box::from_raw(p));
    }
    map(e)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn thrd_join(thr: pthread_t, res: *mut c_int) -> c_int {
    let mut v: *mut c_void = std::ptr::null_mut();
    let e = crate::thread::lifecycle::pthread_join(thr, &mut v);
    if e == 0 && !res.is_null() {
        *res = v as usize as c_int;
    }
    map(e)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn thrd_detach(thr: pthread_t) -> c_int {
    map(crate::thread::lifecycle::pthread_detach(thr))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn thrd_current() -> pthread_t {
    crate::thread::lifecycle::pthread_self()
}

#[no_mangle]
pub unsafe extern "C-unwind" fn thrd_exit(res: c_int) -> ! {
    crate::thread::lifecycle::pthread_exit(res as isize as usize as *mut c_void)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn thrd_yield() {
    crate::thread::sched::sched_yield();
}

// `thrd_sleep` is with the sleep family (`thread::sleep`).

#[no_mangle]
pub unsafe extern "C-unwind" fn mtx_init(m: *mut pthread_mutex_t, kind: c_int) -> c_int {
    let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
    libc::pthread_mutexattr_init(&mut attr);
    let t = if kind & MTX_RECURSIVE != 0 { libc::PTHREAD_MUTEX_RECURSIVE } else { libc::PTHREAD_MUTEX_DEFAULT };
    libc::pthread_mutexattr_settype(&mut attr, t);
    map(crate::sync::mutex::pthread_mutex_init(m, &attr))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn mtx_lock(m: *mut pthread_mutex_t) -> c_int {
    map(crate::sync::mutex::pthread_mutex_lock(m))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn mtx_timedlock(m: *mut pthread_mutex_t, abs: *const timespec) -> c_int {
    map(crate::sync::mutex::pthread_mutex_timedlock(m, abs))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn mtx_trylock(m: *mut pthread_mutex_t) -> c_int {
    map(crate::sync::mutex::pthread_mutex_trylock(m))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn mtx_unlock(m: *mut pthread_mutex_t) -> c_int {
    map(crate::sync::mutex::pthread_mutex_unlock(m))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn mtx_destroy(m: *mut pthread_mutex_t) {
    crate::sync::mutex::pthread_mutex_destroy(m);
}

#[no_mangle]
pub unsafe extern "C-unwind" fn cnd_init(c: *mut pthread_cond_t) -> c_int {
    map(crate::sync::cond::pthread_cond_init(c, std::ptr::null()))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn cnd_signal(c: *mut pthread_cond_t) -> c_int {
    map(crate::sync::cond::pthread_cond_signal(c))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn cnd_broadcast(c: *mut pthread_cond_t) -> c_int {
    map(crate::sync::cond::pthread_cond_broadcast(c))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn cnd_wait(c: *mut pthread_cond_t, m: *mut pthread_mutex_t) -> c_int {
    map(crate::sync::cond::pthread_cond_wait(c, m))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn cnd_timedwait(c: *mut pthread_cond_t, m: *mut pthread_mutex_t, abs: *const timespec) -> c_int {
    map(crate::sync::cond::pthread_cond_timedwait(c, m, abs))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn cnd_destroy(c: *mut pthread_cond_t) {
    crate::sync::cond::pthread_cond_destroy(c);
}

#[no_mangle]
pub unsafe extern "C-unwind" fn tss_create(k: *mut pthread_key_t, dtor: Option<unsafe extern "C" fn(*mut c_void)>) -> c_int {
    map(crate::thread::key::pthread_key_create(k, dtor))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn tss_get(k: pthread_key_t) -> *mut c_void {
    crate::thread::key::pthread_getspecific(k)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn tss_set(k: pthread_key_t, v: *mut c_void) -> c_int {
    map(crate::thread::key::pthread_setspecific(k, v))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn tss_delete(k: pthread_key_t) {
    crate::thread::key::pthread_key_delete(k);
}

#[no_mangle]
pub unsafe extern "C-unwind" fn call_once(flag: *mut pthread_once_t, func: unsafe extern "C-unwind" fn()) {
    crate::sync::once::pthread_once(flag, func);
}
