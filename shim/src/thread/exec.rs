//! `exec` and `posix_spawn` carry the calling greenlet's signal mask, as natively they carry
//! the calling thread's.
//!
//! The OS thread's mask is what every greenlet blocks (see `signal`), so a program started from
//! a greenlet that blocks more would otherwise start with fewer signals blocked than natively.
//! For the duration of the call the OS thread takes the caller's mask (a superset of its own,
//! so nothing is delivered by the change); signals arriving meanwhile wait in the dispatcher's
//! inbox. `fork` needs nothing: the child keeps only the forking greenlet and takes its mask
//! (`hub::after_fork_child`); `vfork` does the same as here (`hook::vfork`).

use std::ffi::{c_char, c_int};

use libc::{pid_t, posix_spawn_file_actions_t, posix_spawnattr_t};

use crate::hook::entry;

mod real_fns {
    use super::*;
    real! {
        fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
        fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
        fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
        fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
        fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
        fn posix_spawn(pid: *mut pid_t, path: *const c_char, fa: *const posix_spawn_file_actions_t, attr: *const posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
        fn posix_spawnp(pid: *mut pid_t, file: *const c_char, fa: *const posix_spawn_file_actions_t, attr: *const posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
    }
}

/// Run `f` (an exec) with the live view's thread stopped, restarted if `f` returns (failed).
unsafe fn with_live_stopped<R>(f: impl FnOnce() -> R) -> R {
    crate::diag::live::before_exec();
    let r = f();
    let e = gs::sys::errno();
    crate::diag::live::after_failed_exec();
    gs::sys::set_errno(e);
    r
}

/// Run `f` with the OS thread's mask set to the calling greenlet's.
unsafe fn with_own_mask<R>(f: impl FnOnce() -> R) -> R {
    let Some(h) = entry::hub() else { return f() };
    let g = (*h).current();
    let mine = (*g).sigmask;
    if mine == (*h).sigmasks.real {
        return f();
    }
    (*g).hook_depth += 1;
    gs::sigmask::set_real(mine);
    let e = gs::sys::errno();
    let r = f();
    let e2 = gs::sys::errno();
    gs::sigmask::set_real((*h).sigmasks.real);
    (*g).hook_depth -= 1;
    if crate::thread::signal::arrived() {
        crate::thread::signal::at_hook_exit(h);
    }
    gs::sys::set_errno(if e2 != e { e2 } else { e });
    r
}

/// The child's mask for a vfork from the calling greenlet (see `hook::vfork`): set the OS
/// thread's mask to the caller's; returns the mask to restore in the parent, if changed.
pub unsafe fn vfork_enter() -> Option<u64> {
    let h = entry::any_hub()?;
    let g = (*h).current();
    if (*g).sigmask == (*h).sigmasks.real {
        return None;
    }
    gs::sigmask::set_real((*g).sigmask);
    Some((*h).sigmasks.real)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    with_live_stopped(|| with_own_mask(|| real_fns::execve(path, argv, envp)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    with_live_stopped(|| with_own_mask(|| real_fns::execv(path, argv)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    with_live_stopped(|| with_own_mask(|| real_fns::execvp(file, argv)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    with_live_stopped(|| with_own_mask(|| real_fns::execvpe(file, argv, envp)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    with_live_stopped(|| with_own_mask(|| real_fns::fexecve(fd, argv, envp)))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn posix_spawn(pid: *mut pid_t, path: *const c_char, fa: *const posix_spawn_file_actions_t, attr: *const posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int {
    with_own_mask(|| real_fns::posix_spawn(pid, path, fa, attr, argv, envp))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn posix_spawnp(pid: *mut pid_t, file: *const c_char, fa: *const posix_spawn_file_actions_t, attr: *const posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int {
    with_own_mask(|| real_fns::posix_spawnp(pid, file, fa, attr, argv, envp))
}
