//! The real libc functions behind our exports, resolved lazily with `dlsym(RTLD_NEXT)`.
//!
//! Lazily, because exports can be called before our constructor (other libraries' constructors
//! run first) and because most programs use a fraction of what we export. Each resolution is
//! cached in its own atomic: after the first call, reaching the real function costs one load.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Look `name` (NUL-terminated) up in the libraries after us; abort with a clear line if absent.
#[cold]
pub fn resolve(name: &'static str, cache: &AtomicUsize) -> usize {
    // SAFETY: name is NUL-terminated (the macro appends "\0").
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) } as usize;
    if p == 0 {
        let mut l = gs::sys::LineBuf::new();
        l.str("greenshim: cannot find the real ").push(&name.as_bytes()[..name.len() - 1]).str(" in libc\n");
        gs::sys::write_stderr(l.as_bytes());
        // SAFETY: plain abort.
        unsafe { libc::abort() };
    }
    cache.store(p, Ordering::Relaxed);
    p
}

/// Declare accessors for real functions: `real!(fn nanosleep(a: *const timespec, b: *mut timespec) -> c_int);`
/// gives `real::nanosleep(a, b)`, which calls libc's.
macro_rules! real {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;)*) => {$(
        #[inline(always)]
        #[allow(clippy::missing_safety_doc)]
        pub unsafe fn $name($($arg: $ty),*) -> $ret {
            static CACHE: ::std::sync::atomic::AtomicUsize = ::std::sync::atomic::AtomicUsize::new(0);
            let mut p = CACHE.load(::std::sync::atomic::Ordering::Relaxed);
            if p == 0 {
                p = $crate::hook::real::resolve(concat!(stringify!($name), "\0"), &CACHE);
            }
            // SAFETY: p is libc's function of this name, whose C signature this is.
            let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { ::std::mem::transmute(p) };
            // Its system calls are greenshim's, not the program's: they must not trap.
            let sel = $crate::hook::catch::enter();
            let r = unsafe { f($($arg),*) };
            $crate::hook::catch::leave(sel);
            r
        }
    )*};
}
