//! Thread-specific data per greenlet: `pthread_key_create`, `pthread_key_delete`,
//! `pthread_getspecific`, `pthread_setspecific`, and the destructors when a greenlet ends.
//!
//! Keys are glibc's: `pthread_key_create` allocates the key with the real call (so the key also
//! works on OS threads without a hub, where the real get/set are used), and we record its
//! destructor and a sequence number in a table of our own (odd: in use; every create and delete
//! bumps it, so a value stored under a deleted key is never seen through a new key that reuses
//! the number, as with glibc).
//!
//! Values: the main greenlet is the real main thread, so its values stay in glibc's storage (a
//! value set before the hub existed is still there). Every other greenlet has a table of
//! `(sequence, value)` hung from its `ext[2]` word, allocated on its first `setspecific`.
//!
//! When a greenlet ends — its start routine returns, or it calls `pthread_exit`, or it acts on a
//! cancellation — [`run_destructors`] does what glibc does at thread exit: up to
//! PTHREAD_DESTRUCTOR_ITERATIONS (4) rounds, each clearing every non-null value and calling its
//! key's destructor with it, ending early when a round left no new value. The main greenlet runs
//! them when it calls `pthread_exit`; returning from `main` runs none (exit() does not, natively).

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use gs::hub::Hub;
use libc::pthread_key_t;

use crate::sync::mutex::sync_hub;

mod real_fns {
    use super::*;
    real! {
        fn pthread_key_create(k: *mut pthread_key_t, d: Option<unsafe extern "C" fn(*mut c_void)>) -> c_int;
        fn pthread_key_delete(k: pthread_key_t) -> c_int;
        fn pthread_getspecific(k: pthread_key_t) -> *mut c_void;
        fn pthread_setspecific(k: pthread_key_t, v: *const c_void) -> c_int;
    }
}

const KEYS_MAX: usize = 1024; // PTHREAD_KEYS_MAX
const DESTRUCTOR_ITERATIONS: usize = 4; // PTHREAD_DESTRUCTOR_ITERATIONS
/// The greenlet word that holds the table (see `gs::hub::Greenlet::ext`).
const EXT_TSD: usize = 2;

static SEQ: [AtomicU64; KEYS_MAX] = [const { AtomicU64::new(0) }; KEYS_MAX];
static DTOR: [AtomicUsize; KEYS_MAX] = [const { AtomicUsize::new(0) }; KEYS_MAX];
/// One more than the highest key ever created.
static HIGH: AtomicUsize = AtomicUsize::new(0);

/// A greenlet's values.
struct Tsd {
    /// A non-null value was stored since the last destructor round.
    used: bool,
    vals: Vec<(u64, usize)>,
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_key_create(k: *mut pthread_key_t, d: Option<unsafe extern "C" fn(*mut c_void)>) -> c_int {
    let r = real_fns::pthread_key_create(k, d);
    if r == 0 {
        let i = *k as usize;
        if i < KEYS_MAX {
            DTOR[i].store(d.map_or(0, |f| f as usize), Ordering::Release);
            let s = SEQ[i].load(Ordering::Relaxed);
            SEQ[i].store(if s & 1 == 0 { s + 1 } else { s + 2 }, Ordering::Release);
            HIGH.fetch_max(i + 1, Ordering::AcqRel);
        }
    }
    r
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_key_delete(k: pthread_key_t) -> c_int {
    let r = real_fns::pthread_key_delete(k);
    if r == 0 && (k as usize) < KEYS_MAX {
        let s = SEQ[k as usize].load(Ordering::Relaxed);
        if s & 1 == 1 {
            SEQ[k as usize].store(s + 1, Ordering::Release);
        }
        DTOR[k as usize].store(0, Ordering::Release);
    }
    r
}

/// The greenlet whose own table is used, or `None`: glibc's storage (main, or no hub).
#[inline(always)]
unsafe fn table_owner() -> Option<*mut gs::hub::Greenlet> {
    let h = sync_hub()?;
    let g = (*h).current();
    (g != (*h).main()).then_some(g)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_getspecific(k: pthread_key_t) -> *mut c_void {
    let Some(g) = table_owner() else { return real_fns::pthread_getspecific(k) };
    let t = (*g).ext[EXT_TSD] as *const Tsd;
    let i = k as usize;
    if t.is_null() || i >= KEYS_MAX {
        return std::ptr::null_mut();
    }
    match (&(*t).vals).get(i) {
        Some(&(seq, v)) if seq == SEQ[i].load(Ordering::Relaxed) => v as *mut c_void,
        _ => std::ptr::null_mut(),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_setspecific(k: pthread_key_t, v: *const c_void) -> c_int {
    let Some(g) = table_owner() else { return real_fns::pthread_setspecific(k, v) };
    let i = k as usize;
    if i >= KEYS_MAX {
        return libc::EINVAL;
    }
    let seq = SEQ[i].load(Ordering::Acquire);
    if seq & 1 == 0 {
        return libc::EINVAL;
    }
    let mut t = (*g).ext[EXT_TSD] as *mut Tsd;
    if t.is_null() {
        if v.is_null() {
            return 0;
        }
        t = Box::into_raw(Box::new(Tsd { used: false, vals: Vec::new() }));
        (*g).ext[EXT_TSD] = t as usize;
    }
    let t = &mut *t;
    if t.vals.len() <= i {
        t.vals.resize(i + 1, (0, 0));
    }
    t.vals[i] = (seq, v as usize);
    if !v.is_null() {
        t.used = true;
    }
    0
}

/// Run the running greenlet's key destructors as glibc does at thread exit, then free its table.
/// Called by `pthread_exit`, by cancellation, and when a start routine returns.
///
/// # Safety
/// `h` is this thread's hub; the running greenlet is ending.
pub unsafe fn run_destructors(h: *mut Hub) {
    let g = (*h).current();
    if g == (*h).main() {
        run_main(h);
        return;
    }
    for _ in 0..DESTRUCTOR_ITERATIONS {
        let t = (*g).ext[EXT_TSD] as *mut Tsd;
        if t.is_null() {
            return;
        }
        (*t).used = false;
        let high = HIGH.load(Ordering::Acquire).min(KEYS_MAX);
        for i in 0..high {
            // Re-read every time: a destructor may set values (and grow the table).
            let t = &mut *((*g).ext[EXT_TSD] as *mut Tsd);
            let Some(&(seq, v)) = t.vals.get(i) else { break };
            if v == 0 {
                continue;
            }
            t.vals[i].1 = 0;
            let d = DTOR[i].load(Ordering::Acquire);
            if seq == SEQ[i].load(Ordering::Acquire) && d != 0 {
                let f: unsafe extern "C-unwind" fn(*mut c_void) = std::mem::transmute(d);
                f(v as *mut c_void);
            }
        }
        if !(*((*g).ext[EXT_TSD] as *mut Tsd)).used {
            break;
        }
    }
    let t = std::mem::replace(&mut (*g).ext[EXT_TSD], 0) as *mut Tsd;
    drop(Box::from_raw(t));
}

/// Main's values live in glibc's storage: read and clear them with the real calls.
unsafe fn run_main(_h: *mut Hub) {
    for _ in 0..DESTRUCTOR_ITERATIONS {
        let mut any = false;
        let high = HIGH.load(Ordering::Acquire).min(KEYS_MAX);
        for i in 0..high {
            if SEQ[i].load(Ordering::Acquire) & 1 == 0 {
                continue;
            }
            let v = real_fns::pthread_getspecific(i as pthread_key_t);
            if v.is_null() {
                continue;
            }
            any = true;
            real_fns::pthread_setspecific(i as pthread_key_t, std::ptr::null());
            let d = DTOR[i].load(Ordering::Acquire);
            if d != 0 {
                let f: unsafe extern "C-unwind" fn(*mut c_void) = std::mem::transmute(d);
                f(v);
            }
        }
        if !any {
            break;
        }
    }
}

/// The start routine of the running greenlet returned (called from the spawn entry).
pub fn thread_end() {
    if let Some(h) = sync_hub() {
        // SAFETY: the running greenlet is ending on this thread's hub.
        unsafe { run_destructors(h) };
    }
}
