//! Descriptor edge cases: the shim's own fds (the hub's epoll fd, its wakeup eventfd, the trace
//! output) look closed to the program and survive its "close everything" calls (`closefrom`,
//! `close_range`, a `close` loop); a `dup2` onto their numbers succeeds as natively; and a
//! `vfork` child's `dup2`/`close` leave the parent's waiting greenlets alone.
//!
//! Each C program of `tests/c/edgefd_*.c` runs natively and under the shim; outputs (which never
//! name an fd number) must be equal.
//!
//! ```sh
//! cargo build --release && cargo test --release --test edges_fd
//! ```

mod common;

use common::*;

/// Run `NAME CASE` natively and under the shim (with `env`); same stdout, status 0, no
/// `greenshim:` line.
fn same_as_native(name: &str, case: &str, env: &[(&str, &str)]) {
    let bin = compile(name);
    let native = run_native(&bin, &[case]);
    let shim = run_shim(&bin, &[case], env);
    assert_ok(&native);
    assert!(!native.stdout.is_empty(), "no output\n{}", native.describe());
    assert_eq!(
        shim.stdout,
        native.stdout,
        "shim output differs from native\n=== native\n{}\n=== shim\n{}",
        native.describe(),
        shim.describe()
    );
    assert_ok(&shim);
    assert!(shim.greenshim_lines().is_empty(), "{}", shim.describe());
}

/// All three of the shim's fds exist: the trace output too (to /dev/null).
const TRACED: &[(&str, &str)] = &[("GREENSHIM_TRACE", "1"), ("GREENSHIM_TRACE_FILE", "/dev/null")];

/// varnishd's start: `closefrom(3)`, which glibc implements with its internal `close_range`.
#[test]
fn closefrom_spares_the_hub() {
    same_as_native("edgefd_own", "closefrom", &[]);
    same_as_native("edgefd_own", "closefrom", TRACED);
}

#[test]
fn close_range_spares_the_hub() {
    same_as_native("edgefd_own", "close_range", &[]);
    same_as_native("edgefd_own", "close_range", TRACED);
}

/// `close()` on every number: the shim's fds answer EBADF and stay open.
#[test]
fn close_loop_spares_the_hub() {
    same_as_native("edgefd_own", "closeall", &[]);
    same_as_native("edgefd_own", "closeall", TRACED);
}

/// fcntl, fstat, dup, dup2, dup3, ioctl, close on the shim's numbers: EBADF, as for any
/// number the program never opened.
#[test]
fn own_fds_look_closed() {
    same_as_native("edgefd_own", "probe", &[]);
    same_as_native("edgefd_own", "probe", TRACED);
}

/// `dup2`/`dup3` onto the shim's numbers (free for the program) succeed; the shim's fds move.
#[test]
fn dup2_onto_own_fds_moves_them() {
    same_as_native("edgefd_own", "dup2onto", &[]);
    same_as_native("edgefd_own", "dup2onto", TRACED);
}

#[test]
fn dup3_onto_own_fds_moves_them() {
    same_as_native("edgefd_own", "dup3onto", &[]);
    same_as_native("edgefd_own", "dup3onto", TRACED);
}

/// `fcntl(F_DUPFD, n)` gives the lowest free number >= n: natively that may be one of ours.
#[test]
fn f_dupfd_onto_own_fds_moves_them() {
    same_as_native("edgefd_own", "dupfdonto", &[]);
    same_as_native("edgefd_own", "dupfdonto", TRACED);
}

/// A vfork child's dup2 onto the fd a thread of the parent waits on changes only the child.
#[test]
fn vfork_child_dup2_leaves_parent_waiter() {
    same_as_native("edgefd_vfork", "exit", &[]);
}

#[test]
fn vfork_child_dup2_then_exec() {
    same_as_native("edgefd_vfork", "exec", &[]);
}

#[test]
fn vfork_child_close_leaves_parent_waiter() {
    same_as_native("edgefd_vfork", "close", &[]);
}
