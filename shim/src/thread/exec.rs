//! `exec` and `posix_spawn` carry the calling greenlet's signal mask, as natively they carry
//! the calling thread's.
//!
//! The OS thread's mask is what every greenlet blocks (see `signal`), so a program started from
//! a greenlet that blocks more would otherwise start with fewer signals blocked than natively.
//! For the duration of the call the OS thread takes the caller's mask (a superset of its own,
//! so nothing is delivered by the change); signals arriving meanwhile wait in the dispatcher's
//! inbox. `fork` needs nothing: the child keeps only the forking greenlet and takes its mask
//! (`hub::after_fork_child`); `vfork` does the same as here (`hook::vfork`).
//!
//! Traced, an exec prints its line before the call, as strace -f does for a call that another
//! line interrupts: `execve("/bin/cat", ["cat", "x"], 0x7ffd... /* 20 vars */ <unfinished ...>`;
//! the lines of the new program follow under the same pid.

use std::ffi::{c_char, c_int};

use libc::{pid_t, posix_spawn_file_actions_t, posix_spawnattr_t};

use crate::diag::trace::{self, Arg, Call, Ret};
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

/// Trace an exec when tracing is on: its line before the call (which returns only if it fails)
/// ends `<unfinished ...>`; a failure is printed as `<... execve resumed>) = -1 ENOENT (...)`.
unsafe fn exec_traced(call: Call, args: &[Arg], f: impl FnOnce() -> c_int) -> c_int {
    // Any hub, whatever the hook depth: a vfork child (dash runs commands so) has it raised,
    // and its exec is the one to show. The line is one write; nothing of the hub changes.
    let Some(h) = trace::on().then(entry::any_hub).flatten() else { return f() };
    trace::unfinished(h, call, args);
    let span = trace::begin(h, call);
    let r = f();
    let e = gs::sys::errno();
    trace::resumed(h, span, call, Ret::Int(r as i64, e));
    gs::sys::set_errno(e);
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
    exec_traced(Call::execve, &[Arg::Path(path), Arg::Argv(argv), Arg::Envp(envp)], || with_live_stopped(|| with_own_mask(|| real_fns::execve(path, argv, envp))))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    exec_traced(Call::execv, &[Arg::Path(path), Arg::Argv(argv)], || with_live_stopped(|| with_own_mask(|| real_fns::execv(path, argv))))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    exec_traced(Call::execvp, &[Arg::Path(file), Arg::Argv(argv)], || with_live_stopped(|| with_own_mask(|| real_fns::execvp(file, argv))))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    exec_traced(Call::execvpe, &[Arg::Path(file), Arg::Argv(argv), Arg::Envp(envp)], || with_live_stopped(|| with_own_mask(|| real_fns::execvpe(file, argv, envp))))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    exec_traced(Call::fexecve, &[Arg::Int(fd as i64), Arg::Argv(argv), Arg::Envp(envp)], || with_live_stopped(|| with_own_mask(|| real_fns::fexecve(fd, argv, envp))))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn posix_spawn(pid: *mut pid_t, path: *const c_char, fa: *const posix_spawn_file_actions_t, attr: *const posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int {
    crate::diag::trace::forked();
    with_own_mask(|| real_fns::posix_spawn(pid, path, fa, attr, argv, envp))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn posix_spawnp(pid: *mut pid_t, file: *const c_char, fa: *const posix_spawn_file_actions_t, attr: *const posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int {
    crate::diag::trace::forked();
    with_own_mask(|| real_fns::posix_spawnp(pid, file, fa, attr, argv, envp))
}
