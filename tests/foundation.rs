//! Foundation tests: the C programs of `tests/c/` run natively and under the preload library,
//! and the launcher's command line, exit status and settings checks.
//!
//! Needs `cargo build --release` first (the preload library is not built by `cargo test`):
//!
//! ```sh
//! cargo build --release && cargo test --release --test foundation
//! ```
//!
//! Every run is bounded by a timeout (see `common::run`).

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// The words of a line (split at anything but letters, digits and `_`).
fn words(line: &str) -> Vec<&str> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect()
}

// ------------------------------------------------------------------------------ sleepers

#[test]
fn sleepers_native() {
    let bin = compile("sleepers");
    let out = run(native_command(&bin, &["2000"]), Duration::from_secs(30));
    assert_ok(&out);
    assert!(
        out.stdout.contains("joined=2000 ok=2000\n"),
        "{}",
        out.describe()
    );
    // natively every sleeper is a kernel thread: the count shows them (so the shim's 1 means something)
    let n = stdout_value(&out, "threads_while_sleeping").unwrap_or(-1);
    assert!(
        n > 1000,
        "natively expected > 1000 OS threads while sleeping, got {n}\n{}",
        out.describe()
    );
}

#[test]
fn sleepers_shim() {
    let bin = compile("sleepers");
    let out = run(shim_command(&bin, &["10000"], &[]), Duration::from_secs(15));
    assert_ok(&out);
    assert!(
        out.stdout.contains(&os_threads_line("threads_while_sleeping")),
        "expected all 10000 sleepers on {} OS thread(s)\n{}",
        expected_os_threads(),
        out.describe()
    );
    assert!(
        out.stdout.contains("joined=10000 ok=10000\n"),
        "{}",
        out.describe()
    );
    assert!(
        out.elapsed < Duration::from_secs(2),
        "10000 one-second sleepers took {:.3} s (want < 2 s)\n{}",
        out.elapsed.as_secs_f64(),
        out.describe()
    );
}

// ----------------------------------------------------------------------------- errno_keep

#[test]
fn errno_keep_native() {
    let out = run_native(&compile("errno_keep"), &[]);
    assert_ok(&out);
    assert_eq!(out.stdout, "errno ok\n", "{}", out.describe());
}

#[test]
fn errno_keep_shim() {
    let bin = compile("errno_keep");
    let native = run_native(&bin, &[]);
    let out = run_shim(&bin, &[], &[]);
    assert_ok(&out);
    assert_eq!(
        out.stdout,
        native.stdout,
        "shim stdout differs from native\n{}",
        out.describe()
    );
    assert_eq!(out.stdout, "errno ok\n", "{}", out.describe());
}

// -------------------------------------------------------------- main_exit / exit_from_thread

const MAIN_EXIT_STDOUT: &str = "main: pthread_exit\nthread 0 done\nthread 1 done\nthread 2 done\n";

#[test]
fn main_exit_native() {
    let out = run_native(&compile("main_exit"), &[]);
    assert_ok(&out);
    assert_eq!(out.stdout, MAIN_EXIT_STDOUT, "{}", out.describe());
}

#[test]
fn main_exit_shim() {
    let out = run_shim(&compile("main_exit"), &[], &[]);
    assert_ok(&out);
    assert_eq!(out.stdout, MAIN_EXIT_STDOUT, "{}", out.describe());
    assert!(
        out.elapsed < Duration::from_secs(2),
        "took {:.3} s\n{}",
        out.elapsed.as_secs_f64(),
        out.describe()
    );
}

fn check_exit_from_thread(out: &Output) {
    assert_eq!(
        out.code(),
        Some(3),
        "expected exit status 3\n{}",
        out.describe()
    );
    assert_eq!(out.stdout, "exiting with 3\n", "{}", out.describe());
    assert!(
        out.elapsed < Duration::from_secs(1),
        "exit(3) from a thread took {:.3} s to end the process (want < 1 s)\n{}",
        out.elapsed.as_secs_f64(),
        out.describe()
    );
}

#[test]
fn exit_from_thread_native() {
    check_exit_from_thread(&run(
        native_command(&compile("exit_from_thread"), &[]),
        Duration::from_secs(15),
    ));
}

#[test]
fn exit_from_thread_shim() {
    check_exit_from_thread(&run(
        shim_command(&compile("exit_from_thread"), &[], &[]),
        Duration::from_secs(15),
    ));
}

// ------------------------------------------------------------------------------- overflow

#[test]
fn overflow_native() {
    let out = run(
        native_command(&compile("overflow"), &[]),
        Duration::from_secs(10),
    );
    assert_eq!(
        out.signal(),
        Some(libc::SIGSEGV),
        "natively expected death by SIGSEGV\n{}",
        out.describe()
    );
    assert!(out.greenshim_lines().is_empty(), "{}", out.describe());
}

#[test]
fn overflow_shim() {
    let out = run(
        shim_command(&compile("overflow"), &[], &[]),
        Duration::from_secs(10),
    );
    assert!(
        !out.status.success(),
        "the overflow must not exit 0\n{}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("survived"),
        "main went on after the thread overflowed its stack\n{}",
        out.describe()
    );
    let lines = out.greenshim_lines();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one `greenshim:` line on stderr\n{}",
        out.describe()
    );
    let line = lines[0];
    for needle in [
        "stack overflow",
        "GREENSHIM_STACK_SIZE",
        "--stack-size",
        "recurser",
    ] {
        assert!(
            line.contains(needle),
            "the overflow line lacks `{needle}`: {line}\n{}",
            out.describe()
        );
    }
    // main is greenlet g1, the one thread it creates is g2
    assert!(
        words(line).contains(&"g2"),
        "the overflow line does not name greenlet g2: {line}\n{}",
        out.describe()
    );
}

// ---------------------------------------------------------------------------- pthread_misc

fn check_misc_native(out: &Output) {
    assert_ok(out);
    assert!(
        !out.stdout.contains("FAIL"),
        "native baseline has failures\n{}",
        out.describe()
    );
    assert!(out.stdout.ends_with("all ok\n"), "{}", out.describe());
}

#[test]
fn pthread_misc_native() {
    check_misc_native(&run_native(&compile("pthread_misc"), &[]));
}

#[test]
fn pthread_misc_shim() {
    let bin = compile("pthread_misc");
    let native = run_native(&bin, &[]);
    check_misc_native(&native);
    let out = run_shim(&bin, &[], &[]);
    let failed: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert!(
        failed.is_empty(),
        "checks failing under the shim:\n{}\n\n{}",
        failed.join("\n"),
        out.describe()
    );
    assert_eq!(
        out.stdout,
        native.stdout,
        "shim stdout differs from native\n{}",
        out.describe()
    );
    assert_ok(&out);
}

// ------------------------------------------------------------------------------- launcher

#[test]
fn launcher_true() {
    let out = run_launcher(&["--", "true"], &[]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
}

#[test]
fn launcher_false() {
    let out = run_launcher(&["--", "false"], &[]);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
}

#[test]
fn launcher_ls() {
    let native = run(
        native_command(std::path::Path::new("ls"), &["/"]),
        DEFAULT_TIMEOUT,
    );
    assert_ok(&native);
    let out = run_launcher(&["--", "ls", "/"], &[]);
    assert_ok(&out);
    assert_eq!(out.stdout, native.stdout, "{}", out.describe());
}

#[test]
fn launcher_bash() {
    let out = run_launcher(&["--", "bash", "-c", "sleep 0.2; echo ok"], &[]);
    assert_ok(&out);
    assert_eq!(out.stdout, "ok\n", "{}", out.describe());
}

#[test]
fn launcher_python() {
    let out = run_launcher(
        &[
            "--",
            "python3",
            "-c",
            "import time; time.sleep(0.1); print(\"ok\")",
        ],
        &[],
    );
    assert_ok(&out);
    assert_eq!(out.stdout, "ok\n", "{}", out.describe());
}

#[test]
fn launcher_signal_status() {
    let out = run_launcher(&["--", "sh", "-c", "kill -TERM $$"], &[]);
    assert_eq!(
        out.code(),
        Some(143),
        "death by SIGTERM must give exit status 128+15\n{}",
        out.describe()
    );
}

/// A SIGSEGV or SIGBUS sent with kill (not caused by an instruction) kills the program as
/// natively, the first time: greenshim's overflow reporter queues it again under the restored
/// default action instead of returning, which only re-raises a fault.
#[test]
fn a_fault_signal_sent_with_kill_is_not_lost() {
    for (sig, num) in [("SEGV", libc::SIGSEGV), ("BUS", libc::SIGBUS)] {
        let status = 128 + num;
        let script = format!("kill -{sig} $$; echo after");
        let mut native = std::process::Command::new("sh");
        native.args(["-c", &script]);
        let n = run(native, std::time::Duration::from_secs(20));
        assert_eq!(n.signal(), Some(num), "{}", n.describe());
        let out = run_launcher(&["--", "sh", "-c", &script], &[]);
        assert_eq!(out.code(), Some(status), "SIG{sig} sent with kill must kill as natively\n{}", out.describe());
        assert_eq!(out.stdout, n.stdout, "{}", out.describe());
    }
}

#[test]
fn launcher_stack_size_option() {
    let out = run_launcher(&["--stack-size", "128K", "--", "true"], &[]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
}

#[test]
fn launcher_bad_stack_size_option() {
    let out = run_launcher(&["--stack-size", "abc", "--", "true"], &[]);
    assert_eq!(out.code(), Some(2), "{}", out.describe());
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr\n{}",
        out.describe()
    );
    assert!(
        lines[0].contains("--stack-size") && lines[0].contains("abc"),
        "{}",
        out.describe()
    );
}

fn check_bad_env(out: &Output) {
    assert_eq!(out.code(), Some(2), "{}", out.describe());
    let named: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("GREENSHIM_STACK_SIZE"))
        .collect();
    assert_eq!(
        named.len(),
        1,
        "expected one stderr line naming GREENSHIM_STACK_SIZE\n{}",
        out.describe()
    );
    assert!(
        named[0].contains("-1"),
        "the line does not show the bad value: {}\n{}",
        named[0],
        out.describe()
    );
}

#[test]
fn launcher_bad_stack_size_env() {
    check_bad_env(&run_launcher(
        &["--", "true"],
        &[("GREENSHIM_STACK_SIZE", "-1")],
    ));
}

#[test]
fn preload_bad_stack_size_env() {
    let out = run(
        shim_command(
            std::path::Path::new("true"),
            &[],
            &[("GREENSHIM_STACK_SIZE", "-1")],
        ),
        DEFAULT_TIMEOUT,
    );
    check_bad_env(&out);
}

#[test]
fn launcher_version() {
    let out = run_launcher(&["--version"], &[]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert!(
        out.stdout.contains(env!("CARGO_PKG_VERSION")),
        "no version in --version output\n{}",
        out.describe()
    );
}

#[test]
fn launcher_help() {
    let out = run_launcher(&["--help"], &[]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert!(
        out.stdout.contains("--stack-size"),
        "--help does not describe --stack-size\n{}",
        out.describe()
    );
}

// -------------------------------------------------------------------------------- harness

/// The harness itself: a run that outlives its timeout fails the test, and its whole process
/// group (here a background grandchild holding the output pipes too) is killed.
#[test]
fn harness_timeout_kills_process_group() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "sleep 30 & echo started; sleep 30"]);
    let t0 = Instant::now();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(cmd, Duration::from_millis(300))
    }));
    let took = t0.elapsed();
    let msg = match r {
        Ok(out) => panic!("a 30 s command did not time out\n{}", out.describe()),
        Err(e) => e.downcast_ref::<String>().cloned().unwrap_or_default(),
    };
    assert!(msg.starts_with("TIMEOUT"), "unexpected panic: {msg}");
    assert!(
        msg.contains("started"),
        "the partial output is missing: {msg}"
    );
    assert!(
        took < Duration::from_secs(3),
        "the timeout took {took:?} to fail the run"
    );
}

// ----------------------------------------------------------------------------- canary stacks

/// `GREENSHIM_STACK_GUARD=canary` lifts the `vm.max_map_count` limit of guarded stacks
/// (about 32,700): 100,000 sleeping threads on one OS thread.
#[test]
fn hundred_thousand_greenlets_with_canary_stacks() {
    let bin = compile("sleepers");
    let out = run(shim_command(&bin, &["100000"], &[("GREENSHIM_STACK_GUARD", "canary")]), Duration::from_secs(60));
    assert_ok(&out);
    assert!(out.stdout.contains(&os_threads_line("threads_while_sleeping")), "{}", out.describe());
    assert!(out.stdout.contains("joined=100000 ok=100000\n"), "{}", out.describe());
}

/// Guarded stacks (the default) pass the map-count limit (about 32,700 stacks with two map
/// entries each, which used to end in EAGAIN): with guard regions (Linux 6.13+) every one of
/// 100,000 keeps its guard page in a few map entries; on older kernels stacks beyond the limit
/// are canary-checked, and `-c` says which.
#[test]
fn guarded_stacks_pass_the_map_limit() {
    let bin = compile("sleepers");
    let out = run(shim_command(&bin, &["100000"], &[("GREENSHIM_SUMMARY", "1")]), Duration::from_secs(60));
    assert_ok(&out);
    assert!(out.stdout.contains(&os_threads_line("threads_while_sleeping")), "{}", out.describe());
    assert!(out.stdout.contains("joined=100000 ok=100000\n"), "{}", out.describe());
    let stacks = out.stderr.lines().find(|l| l.starts_with("stacks: ")).unwrap_or_else(|| panic!("{}", out.describe()));
    assert!(stacks.contains("guard regions") || stacks.contains("canary-checked"), "{stacks}");
}

/// A canary-mode overflow is reported with the same line as a guard-page one.
#[test]
fn overflow_shim_canary() {
    let out = run(shim_command(&compile("overflow"), &[], &[("GREENSHIM_STACK_GUARD", "canary")]), Duration::from_secs(10));
    assert!(!out.status.success(), "{}", out.describe());
    let lines = out.greenshim_lines();
    assert_eq!(lines.len(), 1, "{}", out.describe());
    assert!(lines[0].contains("stack overflow") && lines[0].contains("recurser"), "{}", out.describe());
}

// ----------------------------------------------------------------------------- dlsym(RTLD_NEXT)

/// Build `dlsym_next` against its library `libdlsym_next.so` (tests/c/dlsym_next_lib.c).
fn build_dlsym_next() -> std::path::PathBuf {
    let lib_src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/dlsym_next_lib.c");
    let lib = common::work_dir().join("libdlsym_next.so");
    let mut cc = std::process::Command::new("cc");
    cc.args(["-O2", "-shared", "-fPIC", "-o"]).arg(&lib).arg(&lib_src).arg("-ldl");
    let o = run(cc, Duration::from_secs(60));
    assert!(o.status.success(), "{}", o.describe());
    let bin = lib.with_file_name("dlsym_next_linked");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/dlsym_next.c");
    let mut cc = std::process::Command::new("cc");
    cc.args(["-O2", "-pthread", "-o"]).arg(&bin).arg(&src).arg(&lib).arg("-Wl,-rpath,$ORIGIN");
    let o = run(cc, Duration::from_secs(60));
    assert!(o.status.success(), "{}", o.describe());
    bin
}

/// A library that takes `pthread_create` from `dlsym(RTLD_NEXT, ...)` (jemalloc does, for its
/// background thread) gets greenshim's: its thread is a greenlet, not a real OS thread that
/// would share the library's mutexes with the hub. Other RTLD_NEXT lookups are unchanged.
#[test]
fn rtld_next_lookups_get_greenshim_exports() {
    let bin = build_dlsym_next();
    let native = run(native_command(&bin, &[]), Duration::from_secs(10));
    assert_ok(&native);
    assert!(native.stdout.contains("threads_while_running=2\n"), "{}", native.describe());
    let shim = run(shim_command(&bin, &[], &[]), Duration::from_secs(10));
    assert_ok(&shim);
    assert_eq!(shim.stdout, os_threads_line("threads_while_running") + "joined=42\nstrlen_found=yes\n", "{}", shim.describe());
}
