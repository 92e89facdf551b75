//! POSIX signal semantics per greenlet, native vs shim (`tests/c/posix_signal.c`): a
//! thread-directed handler runs in its target and interrupts only its call; masks and pending
//! sets are per thread and inherited; a process-directed signal goes to a thread that accepts
//! it or stays pending; EINTR and SA_RESTART per signal(7); the sigwait family, sigsuspend and
//! pause park only their greenlet; a handler may block while the others run; SA_RESETHAND;
//! a stop/continue does not interrupt sleeps; a handler may end its thread with cleanup.
//!
//! Run `cargo build --release` first (the preload library is another package's cdylib).

mod common;

use common::{compile, run_native, run_shim};

fn same_as_native(section: &str, must: &str) {
    let bin = compile("posix_signal");
    let n = run_native(&bin, &[section]);
    assert_eq!(n.code(), Some(0), "native run failed\n{}", n.describe());
    let s = run_shim(&bin, &[section], &[]);
    assert_eq!(s.code(), Some(0), "shim run failed\n{}", s.describe());
    assert!(s.greenshim_lines().is_empty(), "unexpected greenshim messages\n{}", s.describe());
    assert_eq!(s.stdout, n.stdout, "stdout differs from native\nnative:\n{}\nshim:\n{}", n.describe(), s.describe());
    assert!(n.stdout.contains(must), "native output lacks {must:?}\n{}", n.describe());
}

#[test]
fn handler_runs_in_the_target_thread() {
    same_as_native("target", "locker: lock=0 after handler, handler in me=1");
}

#[test]
fn masks_and_pending_sets_are_per_thread() {
    same_as_native("mask", "after unblock: handled=1 in main=1 pending=0");
}

#[test]
fn eintr_and_sa_restart_follow_signal_7() {
    same_as_native("restart", "  read=5");
}

#[test]
fn sigwait_family_parks_only_its_thread() {
    same_as_native("sigwait", "taken=USR2 pending after=0");
}

#[test]
fn sigsuspend_and_pause() {
    same_as_native("suspend", "pause=-1 Interrupted system call handler in me=1");
}

#[test]
fn handlers_may_block_and_reset() {
    same_as_native("blocking", "resethand: handled=1 now default=1");
}

#[test]
fn stop_and_continue_do_not_interrupt_sleeps() {
    same_as_native("stopcont", "nanosleep across stop/cont=0");
}

#[test]
fn a_handler_may_end_its_thread() {
    same_as_native("exit", "join=0 value=7");
}

/// A vfork child (which shares the hub's memory) sets its own mask and actions before exec, as
/// Python's subprocess does: the parent's mask and handlers stay as they were.
#[test]
fn a_vfork_child_does_not_change_ours() {
    same_as_native("vfork", "handler still ours=1");
}

/// Signals of an interval timer reach a thread that does nothing but lock and unlock a mutex
/// (so they mostly interrupt greenshim's own code, where they cannot run at once).
#[test]
fn signals_reach_a_thread_that_never_parks() {
    same_as_native("busy", "busy locker saw the timer: 1");
}

/// A program started by posix_spawn, vfork+execve or fork+execve from a thread that blocks a
/// signal starts with that signal blocked (the starting thread's mask), the others' not.
#[test]
fn exec_and_spawn_carry_the_callers_mask() {
    same_as_native("exec", "posix_spawn from the blocking thread: SigBlk:\t0000000000000200");
}
