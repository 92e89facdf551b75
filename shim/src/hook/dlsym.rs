//! `dlsym(RTLD_NEXT, name)` from other libraries finds our exports.
//!
//! A library that wraps a libc function looks up "the next definition" with
//! `dlsym(RTLD_NEXT, ...)`. Called from a library loaded after us, that lookup skips greenshim
//! and returns glibc's function: jemalloc (redis's allocator) starts its background thread with
//! the `pthread_create` it got that way, so that thread would be a real OS thread sharing
//! jemalloc's mutexes and condition variables with the hub thread — whose objects have
//! greenshim's layout, not glibc's. For every name greenshim exports, `RTLD_NEXT` lookups from
//! other objects loaded after greenshim therefore return greenshim's definition, as if greenshim
//! were libc: greenshim's own call of the real function then goes on along the chain.
//!
//! Except from a library that defines the name itself: a wrapper (proxychains, libfaketime, a
//! sanitizer...) whose `connect` forwards to `dlsym(RTLD_NEXT, "connect")`. Loaded after
//! greenshim (`LD_PRELOAD="libgreenshim.so wrapper.so"`) it is the real `connect` greenshim
//! calls, so its own lookup must get the real next definition (the next wrapper or libc's):
//! greenshim's would call the wrapper again, forever. The chain is then
//! program → greenshim → wrapper → … → libc, every link once. Objects loaded before greenshim
//! (the executable, earlier preloads) always get the real answer too: what comes next for them
//! is greenshim or a wrapper in front of it.
//!
//! Every other lookup must behave exactly as the real `dlsym`, and `RTLD_NEXT` means "after
//! the *caller*": the real function finds its caller from its return address. So the export is
//! a naked function that asks [`override_for`] and otherwise *jumps* (not calls) to the real
//! `dlsym`, which then sees the original caller's return address. Our own lookups of real
//! functions (`real!`) are not overridden.

use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The real `dlsym`, resolved with `dlvsym` (which we do not export).
static REAL_DLSYM: AtomicUsize = AtomicUsize::new(0);
/// Load address of this library and a handle to it.
static OUR_BASE: AtomicUsize = AtomicUsize::new(0);
static OUR_HANDLE: AtomicUsize = AtomicUsize::new(0);

type DlsymFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;

/// Object (load base) containing `addr`, 0 if none.
fn base_of(addr: usize) -> usize {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables.
    if unsafe { libc::dladdr(addr as *const c_void, &mut info) } == 0 {
        return 0;
    }
    info.dli_fbase as usize
}

#[cold]
unsafe fn init() {
    for version in [c"GLIBC_2.34", c"GLIBC_2.2.5"] {
        let p = libc::dlvsym(libc::RTLD_NEXT, c"dlsym".as_ptr(), version.as_ptr());
        if !p.is_null() {
            REAL_DLSYM.store(p as usize, Relaxed);
            break;
        }
    }
    let mut info: libc::Dl_info = std::mem::zeroed();
    if libc::dladdr(override_for as *const () as *const c_void, &mut info) != 0 {
        OUR_BASE.store(info.dli_fbase as usize, Relaxed);
        let h = libc::dlopen(info.dli_fname, libc::RTLD_NOLOAD | libc::RTLD_LAZY);
        OUR_HANDLE.store(h as usize, Relaxed);
    }
}

/// `<dlfcn.h>`'s `RTLD_DL_LINKMAP`: `dladdr1` also stores the object's `struct link_map *`.
const RTLD_DL_LINKMAP: libc::c_int = 2;

/// The loader's entry for the object containing `addr` (null if none).
unsafe fn link_map_of(addr: usize) -> *mut libc::c_void {
    let mut info: libc::Dl_info = std::mem::zeroed();
    let mut lm: *mut libc::c_void = std::ptr::null_mut();
    if libc::dladdr1(addr as *const c_void, &mut info, (&mut lm as *mut *mut c_void).cast(), RTLD_DL_LINKMAP) == 0 {
        return std::ptr::null_mut();
    }
    lm
}

/// glibc's `struct link_map` (public part, `<link.h>`).
#[repr(C)]
struct LinkMap {
    l_addr: usize,
    l_name: *const c_char,
    l_ld: *mut c_void,
    l_next: *const LinkMap,
    l_prev: *const LinkMap,
}

/// Whether the object of `caller` comes after greenshim in the loader's list (load order: the
/// executable, the preloads in order, their dependencies, then `dlopen`ed objects).
unsafe fn loaded_after_us(caller: usize) -> bool {
    let them = link_map_of(caller) as *const LinkMap;
    let us = link_map_of(override_for as *const () as usize) as *const LinkMap;
    if them.is_null() || us.is_null() {
        return true;
    }
    let mut l = (*us).l_next;
    while !l.is_null() {
        if l == them {
            return true;
        }
        l = (*l).l_next;
    }
    false
}

/// Whether the object at load base `base` (file `file`) defines `name` itself: it wraps it.
unsafe fn defines(base: usize, file: *const c_char, name: *const c_char) -> bool {
    let h = libc::dlopen(file, libc::RTLD_NOLOAD | libc::RTLD_LAZY);
    if h.is_null() {
        return false;
    }
    let real: DlsymFn = std::mem::transmute(REAL_DLSYM.load(Relaxed));
    // Searches the object first, then its dependencies: keep only its own definition.
    let p = real(h, name);
    libc::dlclose(h);
    !p.is_null() && base_of(p as usize) == base
}

/// Our definition of `name` if this lookup should get it (an `RTLD_NEXT` lookup of a name we
/// export from another object loaded after us that does not define the name itself), else
/// null: the real `dlsym` answers. Also makes sure the real `dlsym` is resolved before the naked
/// export jumps to it.
unsafe extern "C" fn override_for(handle: *mut c_void, name: *const c_char, caller: usize) -> *mut c_void {
    if REAL_DLSYM.load(Relaxed) == 0 {
        init();
        if REAL_DLSYM.load(Relaxed) == 0 {
            gs::sys::write_stderr(b"greenshim: cannot find the real dlsym in libc\n");
            libc::abort();
        }
    }
    let ours = OUR_BASE.load(Relaxed);
    if handle != libc::RTLD_NEXT || name.is_null() || ours == 0 || base_of(caller) == ours {
        return std::ptr::null_mut();
    }
    let own = OUR_HANDLE.load(Relaxed);
    if own == 0 {
        return std::ptr::null_mut();
    }
    let real: DlsymFn = std::mem::transmute(REAL_DLSYM.load(Relaxed));
    // A lookup in our own handle searches our dependencies too: keep only our definitions.
    let p = real(own as *mut c_void, name);
    if p.is_null() || base_of(p as usize) != ours || CStr::from_ptr(name).to_bytes() == b"dlsym" {
        return std::ptr::null_mut();
    }
    if !loaded_after_us(caller) {
        return std::ptr::null_mut();
    }
    let mut info: libc::Dl_info = std::mem::zeroed();
    if libc::dladdr(caller as *const c_void, &mut info) != 0 && defines(info.dli_fbase as usize, info.dli_fname, name) {
        return std::ptr::null_mut();
    }
    p
}

/// `dlsym`: see the module docs. Naked so that the fall-through is a jump that keeps the
/// caller's return address for the real `dlsym`'s `RTLD_NEXT` logic.
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C-unwind" fn dlsym(_handle: *mut c_void, _name: *const c_char) -> *mut c_void {
    core::arch::naked_asm!(
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        // The caller's return address: at [rsp] on entry, now 24 bytes up.
        "mov rdx, [rsp + 24]",
        "call {over}",
        "add rsp, 8",
        "pop rsi",
        "pop rdi",
        "test rax, rax",
        "jz 2f",
        "ret",
        "2:",
        "jmp qword ptr [rip + {real}]",
        over = sym override_for,
        real = sym REAL_DLSYM,
    );
}
