//! Fair scheduling (issue 10, first part): a greenlet that busy-polls for another's progress
//! through interposed calls lets the others run — after a time slice of calls without parking,
//! at once after a failed trylock or a signal sent to another greenlet. Each mode of
//! `tests/c/fair_spin.c` runs natively and under the shim with the same output; on the
//! previous build each hangs.
//!
//! Run `cargo build --release` first (the preload library is another package's cdylib).

mod common;

use common::{compile, run_native, run_shim};

fn same_as_native(mode: &str) {
    let bin = compile("fair_spin");
    let n = run_native(&bin, &[mode]);
    assert_eq!(n.code(), Some(0), "native run failed\n{}", n.describe());
    let s = run_shim(&bin, &[mode], &[]);
    assert_eq!(s.code(), Some(0), "shim run failed\n{}", s.describe());
    assert_eq!(s.stdout, n.stdout, "stdout differs from native\nnative:\n{}\nshim:\n{}", n.describe(), s.describe());
}

#[test]
fn a_lock_unlock_spinner_lets_a_sleeper_finish() {
    same_as_native("lock");
}

#[test]
fn a_cond_signal_spinner_lets_a_sleeper_finish() {
    same_as_native("cond");
}

#[test]
fn a_failed_trylock_lets_the_holder_run() {
    same_as_native("trylock");
}

#[test]
fn pthread_kill_lets_the_target_run_its_handler() {
    same_as_native("kill");
}
