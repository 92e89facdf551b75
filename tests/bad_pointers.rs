//! Bad pointers the kernel validates ((void *)8, a PROT_NONE page) given to the calls the shim
//! takes over: natively each returns an error (mostly EFAULT), blocks, or succeeds without
//! touching the memory; under the shim the same, never a crash in greenshim's code (which once
//! summed a bad iovec array, or read a bad `msghdr`, before the kernel saw it).
//!
//! `tests/c/bad_pointers.c` runs each case in a child of its own and prints its result (or
//! "killed by SEGV", or "blocks"); the output of each family must equal the native one.
//!
//! ```sh
//! cargo build --release && cargo test --release --test bad_pointers
//! ```

mod common;

use common::*;

/// The families the tests below run, by case-name prefix.
const FAMILIES: &[&str] = &[
    "readv_", "writev_", "preadv", "pwritev", "read_", "write_", "sendmsg_", "recvmsg_", "sendmmsg_", "recvmmsg_",
    "recvfrom_", "sendto_", "connect_", "accept", "getpeername_", "setsockopt_", "ioctl_", "socketpair_", "pipe",
    "io_", "uring_", "nanosleep_", "clock_nanosleep_", "futex_", "sig", "poll_", "ppoll_", "select_", "pselect_",
    "epoll_", "waitpid_", "wait4_", "waitid_",
];

/// Run the cases whose names start with `prefix` natively and under the shim: same stdout, and
/// natively at least one EFAULT (the cases ran; -14 is EFAULT as a returned code).
fn same_as_native(prefix: &str) {
    let bin = compile("bad_pointers");
    let native = run_native(&bin, &[prefix]);
    assert_ok(&native);
    assert!(
        native.stdout.contains(" -1 EFAULT") || native.stdout.contains(" -14 "),
        "no EFAULT case ran natively\n{}",
        native.describe()
    );
    let shim = run_shim(&bin, &[prefix], &[]);
    assert_eq!(
        shim.stdout,
        native.stdout,
        "shim output differs from native\n=== native\n{}\n=== shim\n{}",
        native.describe(),
        shim.describe()
    );
    assert_ok(&shim);
}

/// `readv` on sockets, pipes and a file: a bad array, a PROT_NONE one, a bad buffer (which on an
/// empty socket blocks natively), on full and empty fds.
#[test]
fn readv_with_bad_iovecs_fails_as_natively() {
    same_as_native("readv_");
}

#[test]
fn writev_with_bad_iovecs_fails_as_natively() {
    same_as_native("writev_");
}

/// `preadv`/`pwritev`(2), reaching the shim through syscall user dispatch or libc.
#[test]
fn preadv_pwritev_with_bad_iovecs_fail_as_natively() {
    same_as_native("preadv");
    same_as_native("pwritev");
}

#[test]
fn read_write_with_bad_buffers_fail_as_natively() {
    same_as_native("read_");
    same_as_native("write_");
}

/// `sendmsg`/`recvmsg`: a bad header, a bad array in a good header, a bad name buffer.
#[test]
fn sendmsg_recvmsg_with_bad_headers_fail_as_natively() {
    same_as_native("sendmsg_");
    same_as_native("recvmsg_");
}

/// `sendmmsg`/`recvmmsg`: a bad vector, a bad array in a good header, a bad timeout.
#[test]
fn sendmmsg_recvmmsg_with_bad_vectors_fail_as_natively() {
    same_as_native("sendmmsg_");
    same_as_native("recvmmsg_");
}

/// Socket addresses and lengths, socket options the shim records, `FIONBIO`, fd pairs.
#[test]
fn socket_calls_with_bad_pointers_fail_as_natively() {
    for p in ["recvfrom_", "sendto_", "connect_", "accept", "getpeername_", "setsockopt_", "ioctl_", "socketpair_", "pipe"] {
        same_as_native(p);
    }
}

/// Linux AIO waits: a bad timeout, a bad `__aio_sigset` or signal set (io_pgetevents), a bad
/// events array that is never written (nothing completes: 0 at the timeout, as natively).
#[test]
fn aio_waits_with_bad_pointers_fail_as_natively() {
    same_as_native("io_");
}

/// `io_uring_enter` waiting for a completion: a bad extended argument, timeout or signal mask.
/// (Where the kernel refuses io_uring, both sides say so alike: the comparison still holds.)
#[test]
fn io_uring_waits_with_bad_pointers_fail_as_natively() {
    let bin = compile("bad_pointers");
    let native = run_native(&bin, &["uring_"]);
    if native.stdout.contains("EFAULT") {
        same_as_native("uring_");
    } else {
        let shim = run_shim(&bin, &["uring_"], &[]);
        assert_eq!(shim.stdout, native.stdout, "{}\n{}", native.describe(), shim.describe());
    }
}

/// The sleeps' requests (`clock_nanosleep` returns its error), and `syscall(SYS_futex)`: a bad
/// word to wait on, a bad timeout; a private wake of a bad word succeeds natively.
#[test]
fn sleeps_and_futexes_with_bad_pointers_fail_as_natively() {
    same_as_native("nanosleep_");
    same_as_native("clock_nanosleep_");
    same_as_native("futex_");
}

/// The signal calls the shim takes over: an old mask or pending set it cannot store, a set or
/// timeout it cannot read (`sigwait` returns the error), an alternate stack.
#[test]
fn signal_calls_with_bad_pointers_fail_as_natively() {
    same_as_native("sig");
}

/// The readiness calls: a bad pollfd array, fd_set or call mask (the shim copies the sets and
/// masks before the first attempt); an idle epoll wait with a bad events array times out with
/// 0 natively, as the kernel writes it only for events.
#[test]
fn readiness_calls_with_bad_pointers_fail_as_natively() {
    for p in ["poll_", "ppoll_", "select_", "pselect_", "epoll_"] {
        same_as_native(p);
    }
}

/// `waitpid`/`wait4`/`waitid` reap the child and then say EFAULT for a result they cannot store.
#[test]
fn waits_for_children_with_bad_pointers_fail_as_natively() {
    for p in ["waitpid_", "wait4_", "waitid_"] {
        same_as_native(p);
    }
}

/// Every case of the program is in a family a test runs (a new case cannot go unchecked), and
/// the whole program under the tracer, which reads the same pointers for its lines, gives the
/// native output too.
#[test]
fn every_case_is_checked_and_the_tracer_reads_safely() {
    let bin = compile("bad_pointers");
    let native = run_native(&bin, &[]);
    assert_ok(&native);
    for line in native.stdout.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        assert!(FAMILIES.iter().any(|f| name.starts_with(f)), "case {name} is in no family a test runs");
    }
    let traced = run_shim(&bin, &[], &[("GREENSHIM_TRACE", "1"), ("GREENSHIM_TRACE_FILE", "/dev/null")]);
    assert_eq!(traced.stdout, native.stdout, "traced output differs from native\n=== native\n{}\n=== traced\n{}", native.describe(), traced.describe());
    assert_ok(&traced);
}
