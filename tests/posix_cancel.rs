//! POSIX thread exit and cancellation, per greenlet: `pthread_exit` and an acted-on cancel run
//! the cleanup handlers innermost first (plain C's setjmp chain, `-fexceptions` C's cleanup
//! variables, C++ destructors and `catch (...)` blocks), then the key destructors, before a
//! joiner returns; every cooperative cancellation point wakes on a deferred cancel;
//! asynchronous cancel ends a `pthread_mutex_lock` wait; a cancelled `pthread_once` routine
//! leaves the once to be run again. Each program runs natively and under the preload library
//! with the same stdout and exit status.
//!
//! Run `cargo build --release` first (the preload library is another package's cdylib).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{compile, run_native, run_shim, Output};

/// Run `bin` natively and under the shim; both must exit with `code` and the same stdout.
fn same_as_native_code(bin: &Path, args: &[&str], code: Option<i32>, signal: Option<i32>) -> Output {
    let n = run_native(bin, args);
    assert_eq!((n.code(), n.signal()), (code, signal), "native run\n{}", n.describe());
    let s = run_shim(bin, args, &[]);
    assert_eq!((s.code(), s.signal()), (code, signal), "shim run\n{}", s.describe());
    assert!(s.greenshim_lines().is_empty(), "unexpected greenshim messages\n{}", s.describe());
    assert_eq!(s.stdout, n.stdout, "stdout differs from native\nnative:\n{}\nshim:\n{}", n.describe(), s.describe());
    s
}

fn same_as_native(bin: &Path, args: &[&str]) -> Output {
    same_as_native_code(bin, args, Some(0), None)
}

/// Compile `tests/c/NAME.EXT` with `compiler` and extra flags into `OUT`.
fn compile_with(name: &str, ext: &str, compiler: &str, flags: &[&str], out: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c").join(format!("{name}.{ext}"));
    let out = common::work_dir().join(out);
    let mut cmd = Command::new(compiler);
    cmd.args(["-O2", "-g", "-Wall", "-pthread"]).args(flags).arg("-o").arg(&out).arg(&src);
    let o = common::run(cmd, Duration::from_secs(120));
    assert_eq!(o.code(), Some(0), "compiling {} failed\n{}", src.display(), o.describe());
    out
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_string())
}

fn cxx() -> String {
    std::env::var("CXX").unwrap_or_else(|_| "g++".to_string())
}

const CLEANUP_LINES: &[&str] = &[
    "exit: join=0 ret=42 log=h-inner1 h-inner0 h-slow h-outer key-dtor ",
    "pop: join=0 ret=7 log=pop-exec ",
    "cancel: join=0 ret=CANCELED log=c-inner c-outer key-dtor-c ",
    "disabled: join=0 ret=CANCELED log=d-survived d-handler ",
    "handler-point: join=0 ret=CANCELED log=hp-inner hp-ran ",
    "self-async: join=0 ret=CANCELED log=sa-handler ",
];

/// Plain C (no -fexceptions): `pthread_cleanup_push` is glibc's setjmp chain
/// (`__pthread_register_cancel`), which greenshim keeps per greenlet; handlers run innermost
/// first across frames, then key destructors; a handler that parks still finishes before the
/// joiner returns; pop(1)/pop(0); disabled state; a cancellation point inside a handler does
/// not act again; asynchronous self-cancel; push_defer_np/pop_restore_np; old-style
/// `_pthread_cleanup_push` buffers (a second per-greenlet chain) mixed with the macro's.
#[test]
fn cleanup_handlers_plain_c() {
    let bin = compile("posix_cancel_cleanup");
    let o = same_as_native(&bin, &[]);
    for l in CLEANUP_LINES {
        assert!(o.stdout.contains(l), "missing {l:?}\n{}", o.describe());
    }
    assert!(o.stdout.contains("defer: join=0 ret=CANCELED log=df-type=0 df-still-running \n"), "{}", o.describe());
    assert!(o.stdout.contains("compat: join=0 ret=42 log=compat-popped compat-inner new-mid compat-outer \n"), "{}", o.describe());
}

/// C with -fexceptions: the macros are `__cleanup__` variables run by the forced unwind itself.
#[test]
fn cleanup_handlers_fexceptions_c() {
    let bin = compile_with("posix_cancel_cleanup", "c", &cc(), &["-fexceptions"], "posix_cancel_cleanup_exc");
    let o = same_as_native(&bin, &[]);
    for l in CLEANUP_LINES {
        assert!(o.stdout.contains(l), "missing {l:?}\n{}", o.describe());
    }
    // Here the handler's frame variable is still live when pop_restore acts on the cancel.
    assert!(o.stdout.contains("defer: join=0 ret=CANCELED log=df-type=0 df-still-running df-handler \n"), "{}", o.describe());
    // The old-style buffers are run by the stop function as their frames' addresses are left;
    // the macro's handler (a variable in the same frame) by the frame's landing pad after.
    assert!(o.stdout.contains("compat: join=0 ret=42 log=compat-popped compat-inner compat-outer new-mid \n"), "{}", o.describe());
}

/// C++: destructors of every frame, cleanup handlers (a class) in between, a rethrowing
/// `catch (abi::__forced_unwind&)` and `catch (...)`; main's pthread_exit unwinds main's frame
/// while another thread lives on.
#[test]
fn cxx_destructors_run_on_exit_and_cancel() {
    let bin = compile_with("posix_cancel_cxx", "cpp", &cxx(), &[], "posix_cancel_cxx");
    let o = same_as_native(&bin, &[]);
    assert!(o.stdout.contains("exit: join=0 ret=5 log=d-deep caught-forced d-block h-start d-start \n"), "{}", o.describe());
    assert!(o.stdout.contains("cancel: join=0 ret=CANCELED log=c-try catch-all c-start \n"), "{}", o.describe());
    assert!(o.stdout.contains("late thread: log=main-handler main-local \n"), "{}", o.describe());
}

/// A `catch (...)` that swallows the forced unwind: glibc prints "FATAL: exception not
/// rethrown" and aborts; so does greenshim.
#[test]
fn swallowed_forced_unwind_aborts() {
    let bin = compile_with("posix_cancel_cxx", "cpp", &cxx(), &[], "posix_cancel_cxx_sw");
    let o = same_as_native_code(&bin, &["swallow"], None, Some(libc::SIGABRT));
    assert!(o.stderr.contains("FATAL: exception not rethrown"), "{}", o.describe());
}

/// The main thread's pthread_exit: its handlers (plain C chain) and key destructors, then the
/// process waits for the last thread and exits 0.
#[test]
fn main_thread_exit_runs_cleanup() {
    let bin = compile("posix_cancel_main");
    let o = same_as_native(&bin, &[]);
    assert_eq!(o.stdout, "main handler inner\nmain handler outer\nmain key destructor main-value\nlate thread ends\n", "{}", o.describe());
}

/// A deferred cancel wakes a thread blocked at each cooperative cancellation point (fd reads
/// and writes, socket calls, the poll family, sleeps, semaphore and condition waits with the
/// mutex re-acquired for the handler, pthread_join, pthread_testcancel); a cancelled joiner
/// leaves its target joinable.
#[test]
fn every_cancellation_point_wakes() {
    let bin = compile("posix_cancel_points");
    let o = same_as_native(&bin, &[]);
    let cases = [
        "read", "readv", "write", "writev", "recv", "recvfrom", "recvmsg", "send", "sendto", "sendmsg", "accept", "accept4",
        "poll", "ppoll", "select", "pselect", "epoll_wait", "epoll_pwait", "sleep", "usleep", "nanosleep", "clock_nanosleep",
        "sem_wait", "sem_timedwait", "cond_wait", "cond_timedwait", "join", "testcancel",
    ];
    for c in cases {
        let want = format!("{c:<16} join=0 canceled=1 cleanup={c} mutex_free=1\n");
        assert!(o.stdout.contains(&want), "missing {want:?}\n{}", o.describe());
    }
    assert!(o.stdout.contains("forever: join=0 canceled=1\n"), "{}", o.describe());
}

/// Asynchronous cancellation ends a wait in pthread_mutex_lock (also a NORMAL mutex's
/// self-deadlock); a deferred one does not (the lock is taken, the cancel acts later).
#[test]
fn async_cancel_ends_mutex_wait() {
    let bin = compile("posix_cancel_async");
    let o = same_as_native(&bin, &[]);
    assert!(o.stdout.contains("async-held: join=0 canceled=1 cleanup=held got_lock_before_unlock=0 got_lock=0\n"), "{}", o.describe());
    assert!(o.stdout.contains("async-own: join=0 canceled=1 cleanup=own got_lock_before_unlock=0 got_lock=0\n"), "{}", o.describe());
    assert!(o.stdout.contains("deferred-held: join=0 canceled=1 cleanup=deferred got_lock_before_unlock=0 got_lock=1\n"), "{}", o.describe());
}

/// A once whose init routine is cancelled, or calls pthread_exit, is left not run: a waiter
/// runs the routine, and so does the next caller.
#[test]
fn cancelled_once_runs_again() {
    let bin = compile("posix_cancel_once");
    let o = same_as_native(&bin, &[]);
    assert_eq!(o.stdout, "first: canceled=1\nwaiter: once done, runs=2\nmain: runs=2\nexiter: ret=9\nmain: runs_exit=2\n", "{}", o.describe());
}
