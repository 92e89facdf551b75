//! poll / ppoll / select / pselect / epoll_wait / epoll_pwait / epoll_pwait2 (and the fortify
//! variants) park only the calling greenlet, and answer exactly as natively: each C program of
//! `tests/c/poll_*.c` runs natively and under the shim, and the two outputs must be equal
//! (the programs print their own timing verdicts, so timing is compared too).
//!
//! Needs `cargo build --release` first:
//!
//! ```sh
//! cargo build --release && cargo test --release --test poll
//! ```

mod common;

use common::*;

/// Run `poll_cases CASE` natively and under the shim; the outputs must match line for line and
/// every timing verdict must be "t=ok".
fn same_as_native(case: &str) {
    let bin = compile("poll_cases");
    let native = run_native(&bin, &[case]);
    let shim = run_shim(&bin, &[case], &[]);
    assert_ok(&native);
    assert_ok(&shim);
    assert!(!native.stdout.is_empty(), "no output\n{}", native.describe());
    assert!(
        !native.stdout.contains("t=BAD"),
        "the native run itself missed its timing (machine overloaded?)\n{}",
        native.describe()
    );
    assert_eq!(
        shim.stdout,
        native.stdout,
        "shim output differs from native\n=== native\n{}\n=== shim\n{}",
        native.describe(),
        shim.describe()
    );
    assert!(shim.greenshim_lines().is_empty(), "{}", shim.describe());
}

#[test]
fn timeout_zero_returns_at_once() {
    same_as_native("zero");
}

#[test]
fn timeout_200ms() {
    same_as_native("timeout");
}

#[test]
fn wakes_when_another_thread_writes() {
    same_as_native("wake");
}

#[test]
fn waiters_do_not_block_each_other() {
    same_as_native("parallel");
}

#[test]
fn signal_handler_gives_eintr() {
    same_as_native("eintr");
}

#[test]
fn pthread_kill_interrupts_the_target() {
    same_as_native("kill");
}

#[test]
fn sigmask_of_the_p_variants() {
    same_as_native("sigmask");
}

#[test]
fn closed_fd_is_pollnval_or_ebadf() {
    same_as_native("nval");
}

#[test]
fn writer_closed_is_pollhup() {
    same_as_native("hup");
}

#[test]
fn regular_files_are_always_ready() {
    same_as_native("regular");
}

#[test]
fn errors_and_timeout_normalisation() {
    same_as_native("errors");
}

/// Natively poll sleeps on when another thread closes its fd (until the timeout, then reports
/// POLLNVAL); under the shim the close wakes it at once with POLLNVAL.
#[test]
fn close_while_polling_wakes_with_pollnval() {
    let bin = compile("poll_cases");
    let out = run_shim(&bin, &["closewait"], &[]);
    assert_ok(&out);
    assert_eq!(out.stdout, "closewait poll: r=1 revents=0x20 t=ok\n", "{}", out.describe());
}

/// A single-threaded epoll echo server and clients waiting with each call, on one OS thread.
#[test]
fn epoll_echo_server_and_poll_select_clients() {
    let bin = compile("poll_echo");
    let native = run_native(&bin, &["300"]);
    let shim = run_shim(&bin, &["300"], &[]);
    assert_ok(&native);
    assert_ok(&shim);
    // clients finish in any order; the thread count differs by design
    let lines = |o: &Output| {
        let mut v: Vec<String> = o.stdout.lines().filter(|l| !l.starts_with("threads=")).map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(lines(&shim), lines(&native), "\n=== native\n{}\n=== shim\n{}", native.describe(), shim.describe());
    assert_eq!(lines(&shim).iter().filter(|l| l.ends_with("rounds=300 ok=1")).count(), 6, "{}", shim.describe());
    assert_eq!(stdout_value(&shim, "threads"), Some(common::expected_os_threads()), "expected one OS thread per hub\n{}", shim.describe());
    // Natively some clients may have ended before the count: only say it is more than one.
    assert!(stdout_value(&native, "threads").unwrap_or(0) > 1, "{}", native.describe());
}

/// `-D_FORTIFY_SOURCE=2` binaries call `__poll_chk` / `__ppoll_chk`.
#[test]
fn fortify_variants() {
    let bin = compile("poll_fortify");
    let native = run_native(&bin, &["ok"]);
    let shim = run_shim(&bin, &["ok"], &[]);
    assert_ok(&native);
    assert_ok(&shim);
    let mut n: Vec<&str> = native.stdout.lines().collect();
    let mut s: Vec<&str> = shim.stdout.lines().collect();
    n.sort();
    s.sort();
    assert_eq!(s, n, "\n=== native\n{}\n=== shim\n{}", native.describe(), shim.describe());
    assert!(shim.stdout.contains("total: t=ok"), "{}", shim.describe());

    let native = run_native(&bin, &["overflow"]);
    let shim = run_shim(&bin, &["overflow"], &[]);
    for o in [&native, &shim] {
        assert_eq!(o.signal(), Some(libc::SIGABRT), "{}", o.describe());
        assert!(o.stderr.contains("buffer overflow detected"), "{}", o.describe());
        assert_eq!(o.stdout, "before overflow\n", "{}", o.describe());
    }
}

/// A descriptor closed inside stdio (`fclose(fdopen(fd))`) and reused by `popen`'s internal pipe:
/// the poll wakes when the data arrives, as natively, instead of sleeping until its timeout on
/// a registration left over from the old descriptor.
#[test]
fn fd_reused_after_fclose_wakes_poll() {
    let bin = compile("poll_fclose");
    let native = run_native(&bin, &[]);
    let shim = run_shim(&bin, &[], &[]);
    assert_ok(&native);
    assert_ok(&shim);
    assert_eq!(native.stdout, "reused=yes poll=1 revents_in=1 woke_in_time=yes\n", "{}", native.describe());
    assert_eq!(shim.stdout, native.stdout, "{}", shim.describe());
}
