//! No blocking call escapes the hub (issue 11): calls a program reaches without going through
//! one of libc's blocking wrappers still park only their own greenlet. Each program runs
//! natively and under the shim with the same stdout; its ticker thread must keep counting
//! while another thread waits.
//!
//! Run `cargo build --release` first (the preload library is another package's cdylib).

mod common;

use common::{compile, run_native, run_shim};

fn same_as_native(name: &str) -> common::Output {
    let bin = compile(name);
    let n = run_native(&bin, &[]);
    let s = run_shim(&bin, &[], &[]);
    assert_eq!(n.code(), Some(0), "native run failed\n{}", n.describe());
    assert_eq!(s.code(), Some(0), "shim run failed\n{}", s.describe());
    assert_eq!(s.stdout, n.stdout, "stdout differs from native\nnative:\n{}\nshim:\n{}", n.describe(), s.describe());
    s
}

/// `syscall(SYS_read, ...)`, `SYS_nanosleep`, `SYS_accept4`, ... park only their thread.
#[test]
fn blocking_calls_made_through_syscall_park_only_their_thread() {
    let s = same_as_native("syscall_raw");
    assert!(s.stdout.contains("SYS_read of a pipe fed later             -> 5, ticker ran: yes"), "{}", s.describe());
}

/// `waitpid`, `wait`, `wait4`, `waitid`, `syscall(SYS_wait4)`: a pidfd for one child, retries
/// for any; EINTR and SA_RESTART, stops, ECHILD as natively.
#[test]
fn waiting_for_children_parks_only_the_waiting_thread() {
    let s = same_as_native("child_wait");
    assert!(s.stdout.contains("waitpid(pid)                       -> child exited 3, ticker ran: yes"), "{}", s.describe());
    assert!(!s.stdout.contains("ticker ran: no"), "{}", s.describe());
}

/// `flock`, `fcntl(F_SETLKW)`, `lockf(F_LOCK)` wait without freezing the others, also for a lock
/// another greenlet holds through another open file description; EINTR and SA_RESTART.
#[test]
fn file_locks_that_wait_park_only_the_waiting_thread() {
    let s = same_as_native("file_locks");
    assert!(s.stdout.contains("flock on another description, thread holds   -> 0, ticker ran: yes"), "{}", s.describe());
    assert!(!s.stdout.contains("ticker ran: no"), "{}", s.describe());
}

/// `system()` (taken over: glibc waits with its internal `waitpid`) and `pclose()` (which ends
/// the pipe and waits, parked, before glibc reaps): statuses and SIGINT handling as natively.
#[test]
fn system_and_pclose_wait_without_freezing_the_others() {
    let s = same_as_native("system_popen");
    assert!(s.stdout.contains("system(sleep; exit 3): exited 3, ticker ran: yes"), "{}", s.describe());
    assert!(!s.stdout.contains("ticker ran: no"), "{}", s.describe());
}
