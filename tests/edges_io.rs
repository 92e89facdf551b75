//! Edges of the fd calls, native against the shim: calls that natively return at once (an
//! error, or EOF) must not park under the shim, and a successful call must leave errno as the
//! caller had it even when the shim retried it internally (EAGAIN, EINPROGRESS, EOPNOTSUPP).
//!
//! Each test runs one section of `tests/c/edge_io.c` natively and under the preload library and
//! compares the transcripts line for line. The program gives itself 5 s (`alarm`) and prints
//! `HANG` if a call parked where native returned.
//!
//! Needs `cargo build --release` first.

mod common;

use common::*;

fn same_as_native(section: &str) {
    let bin = compile("edge_io");
    let native = run_native(&bin, &[section]);
    assert_ok(&native);
    assert!(native.stdout.ends_with("done\n"), "native run incomplete:\n{}", native.describe());
    let shim = run_shim(&bin, &[section], &[]);
    assert_eq!(
        shim.stdout, native.stdout,
        "section {section}: the shim diverges from native\n--- shim run:\n{}",
        shim.describe()
    );
    assert_ok(&shim);
}

/// accept/accept4 on a connected stream, a datagram socket, an eventfd, a pipe, an unbound or
/// shut-down listener: EINVAL, EOPNOTSUPP or ENOTSOCK at once (the readiness gate once parked).
#[test]
fn accept_on_a_non_listener_fails_at_once() {
    same_as_native("accept");
}

/// eventfd reads and writes of fewer than 8 bytes: EINVAL at once, also after a write (whose
/// RWF_NOWAIT attempt once demoted the fd to poll-then-call reads, which parked).
#[test]
fn eventfd_short_buffers_fail_at_once() {
    same_as_native("eventfd");
}

/// Datagram and seqpacket sockets: a zero-length datagram reads 0, a shut-down socket reads 0
/// (a MSG_DONTWAIT attempt says EAGAIN there), MSG_PEEK|MSG_TRUNC give the full length.
#[test]
fn datagram_eof_and_truncation_return_at_once() {
    same_as_native("dgram");
}

/// A read or recv that parked, and a blocking connect that completed: errno untouched.
#[test]
fn success_after_a_retry_keeps_errno() {
    same_as_native("errno");
}

/// Pinned limitation (README): a never-opened fd number beyond the kernel's fd table is ignored
/// by select natively (0), but the shim's own descriptors sit high and enlarge the table, so
/// under the shim the kernel checks the number and says EBADF. The fuzzer leaves such numbers
/// out of select; this test fails the day the difference goes away (then drop the exclusion).
#[test]
fn select_on_a_number_beyond_the_fd_table_is_a_known_difference() {
    let bin = compile("edge_io");
    let native = run_native(&bin, &["selecthigh"]);
    assert!(native.stdout.contains("select on never-opened fd 900                = 0 errno=kept"), "{}", native.describe());
    let shim = run_shim(&bin, &["selecthigh"], &[]);
    assert!(shim.stdout.contains("select on never-opened fd 900                = -1 errno=EBADF"), "{}", shim.describe());
}
