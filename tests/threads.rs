//! Greenlets are threads in every runtime's eyes (issue 10): each has its own thread-local
//! storage and thread descriptor, and futex waits made through `syscall()` park only the
//! waiting greenlet. Each program runs natively and under the shim with the same stdout, and
//! under the shim on one OS thread (`Threads:` read while its threads are alive). With
//! `GREENSHIM_TLS=shared` the C program's thread-locals collide, which the same test shows.
//!
//! Run `cargo build --release` first (the preload library is another package's cdylib).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{compile, run, run_launcher, run_native, run_shim, Output};

/// Compile `tests/c/NAME.cpp` with `g++` (or `$CXX`).
fn compile_cxx(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c").join(format!("{name}.cpp"));
    let out = common::work_dir().join(name);
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".to_string());
    let mut cmd = Command::new(cxx);
    cmd.args(["-O2", "-g", "-Wall", "-pthread", "-o"]).arg(&out).arg(&src);
    let o = run(cmd, Duration::from_secs(120));
    assert_eq!(o.code(), Some(0), "compiling {} failed\n{}", src.display(), o.describe());
    out
}

/// Compile `tests/runtimes/NAME.rs` with the `rustc` that builds this crate: a plain Rust
/// program with no greenshim dependency. Once per test process (tests run in parallel).
fn compile_rust(name: &str) -> PathBuf {
    static DONE: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = done.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let p = compile_rust_now(name);
    done.push((name.to_string(), p.clone()));
    p
}

fn compile_rust_now(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/runtimes").join(format!("{name}.rs"));
    let out = common::work_dir().join(name);
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let mut cmd = Command::new(rustc);
    cmd.args(["-O", "--edition", "2021", "-o"]).arg(&out).arg(&src);
    let o = run(cmd, Duration::from_secs(180));
    assert_eq!(o.code(), Some(0), "compiling {} failed\n{}", src.display(), o.describe());
    out
}

/// The `Threads:` lines the program printed on stderr.
fn threads_lines(o: &Output) -> Vec<&str> {
    o.stderr.lines().filter(|l| l.starts_with("Threads:")).collect()
}

/// Native and shim runs exit 0 with the same stdout; under the shim every `Threads:` line the
/// program printed says 1 (one per hub: [`common::expected_os_threads`]), and it printed at
/// least one.
fn same_as_native_on_one_thread(native: Output, shim: Output) -> Output {
    assert_eq!(native.code(), Some(0), "native run failed\n{}", native.describe());
    assert_eq!(shim.code(), Some(0), "shim run failed\n{}", shim.describe());
    assert_eq!(shim.stdout, native.stdout, "stdout differs from native\nnative:\n{}\nshim:\n{}", native.describe(), shim.describe());
    let lines = threads_lines(&shim);
    assert!(!lines.is_empty(), "the program printed no Threads: line\n{}", shim.describe());
    let want = common::expected_os_threads().to_string();
    for l in lines {
        assert_eq!(l.split_whitespace().nth(1), Some(want.as_str()), "not {want} OS thread(s) (one per hub) under the shim\n{}", shim.describe());
    }
    shim
}

#[test]
fn c_thread_locals_stay_per_thread_across_blocking_calls_in_100_threads() {
    let bin = compile("tls_counters");
    let n = run_native(&bin, &[]);
    assert!(n.stdout.contains("threads whose checks held: 100 of 100"), "{}", n.describe());
    let s = same_as_native_on_one_thread(n, run_shim(&bin, &[], &[]));
    assert!(s.stdout.contains("distinct thread pointers: yes"), "{}", s.describe());
}

/// Threads on reused stacks (hot ones, and beyond the pool's 64 hot ones, stacks whose pages
/// went back to the kernel with their TLS) start with fresh thread-locals, errno and resolver
/// state, as new threads natively.
#[test]
fn tls_is_fresh_on_reused_stacks() {
    let bin = compile("tls_counters");
    let n = run_native(&bin, &["3"]);
    assert!(n.stdout.contains("threads whose checks held: 300 of 300"), "{}", n.describe());
    same_as_native_on_one_thread(n, run_shim(&bin, &["3"], &[]));
}

/// The previous behaviour, still available: shared TLS collides (the test above can fail).
#[test]
fn shared_tls_setting_makes_greenlets_share_thread_locals() {
    if common::single_hub_only("GREENSHIM_TLS=shared cannot run with several hubs (refused at start, tests/hubs.rs)") {
        return;
    }
    let bin = compile("tls_counters");
    let s = run_shim(&bin, &[], &[("GREENSHIM_TLS", "shared")]);
    assert_eq!(s.code(), Some(0), "{}", s.describe());
    assert!(s.stdout.contains("distinct thread pointers: no"), "{}", s.describe());
    assert!(!s.stdout.contains("checks held: 100 of 100"), "{}", s.describe());
}

#[test]
fn a_bad_tls_setting_is_refused_with_the_accepted_forms() {
    let bin = compile("tls_counters");
    let s = run_shim(&bin, &[], &[("GREENSHIM_TLS", "per-thread")]);
    assert_eq!(s.code(), Some(2), "{}", s.describe());
    assert!(s.stderr.contains("GREENSHIM_TLS='per-thread' is not a valid mode; expected per-greenlet or shared"), "{}", s.describe());
}

#[test]
fn cxx_thread_local_destructors_mutex_condvar_call_once_async() {
    let bin = compile_cxx("tls_cxx");
    let s = same_as_native_on_one_thread(run_native(&bin, &[]), run_shim(&bin, &[], &[]));
    for i in 0..10 {
        assert!(s.stdout.contains(&format!("dtor {i}\n")), "thread_local destructor {i} did not run\n{}", s.describe());
    }
}

#[test]
fn rust_std_threads_locks_channels_and_sockets_unmodified() {
    let bin = compile_rust("std_threads");
    let s = same_as_native_on_one_thread(run_native(&bin, &[]), run_shim(&bin, &[], &[]));
    assert!(s.stdout.contains("mutex 536 reply ok"), "{}", s.describe());
    assert!(s.stdout.contains("tls dtors [0, 1, 2, 3, 4, 5, 6, 7]"), "{}", s.describe());
}

/// The same Rust program started by the launcher.
#[test]
fn rust_std_program_under_the_launcher() {
    let bin = compile_rust("std_threads");
    let n = run_native(&bin, &[]);
    let s = run_launcher(&["--", bin.to_str().unwrap()], &[]);
    same_as_native_on_one_thread(n, s);
}

/// node: an http server and client, zlib and dns on libuv's thread pool. Skipped (with a line
/// saying so) where node is not installed; CI installs it.
#[test]
fn node_http_zlib_dns_script() {
    let Some(node) = which("node") else {
        assert!(std::env::var_os("CI").is_none(), "node is required in CI (.ci/run installs nodejs)");
        eprintln!("SKIP: node not installed");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/runtimes/http_zlib_dns.js");
    let script = script.to_str().unwrap();
    let n = run_native(&node, &[script]);
    let s = run_shim(&node, &[script], &[]);
    assert_eq!(n.code(), Some(0), "native run failed\n{}", n.describe());
    assert_eq!(s.code(), Some(0), "shim run failed\n{}", s.describe());
    assert!(n.stdout.contains("requests ok 200") && n.stdout.contains("all done"), "{}", n.describe());
    // dns.lookup answers arrive in completion order: compare sorted lines.
    let sorted = |t: &str| {
        let mut v: Vec<String> = t.lines().map(String::from).collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&s.stdout), sorted(&n.stdout), "stdout differs from native\nnative:\n{}\nshim:\n{}", n.describe(), s.describe());
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|f| f.is_file()))
}

/// Every futex operation the shim takes over (`tests/c/futex_ops.c`): errors, timeouts on both
/// clocks, wake counts and bitsets, requeue, wake-op, EINTR and SA_RESTART, private and shared
/// keys, PI passed to the kernel; a ticker keeps running during each wait.
#[test]
fn futex_calls_through_syscall_match_the_kernel() {
    let bin = compile("futex_ops");
    let n = run_native(&bin, &[]);
    let s = run_shim(&bin, &[], &[]);
    assert_eq!(n.code(), Some(0), "native run failed\n{}", n.describe());
    assert_eq!(s.code(), Some(0), "shim run failed\n{}", s.describe());
    assert_eq!(s.stdout, n.stdout, "stdout differs from native\nnative:\n{}\nshim:\n{}", n.describe(), s.describe());
    assert!(!s.stdout.contains("ticker ran during the wait: no"), "{}", s.describe());
}

/// C11 threads: glibc's `thrd_*`/`mtx_*`/`cnd_*` call its pthread internals directly, so
/// they are taken over too; `thrd_create` makes a greenlet, not an OS thread.
#[test]
fn c11_threads_are_greenlets_with_native_results() {
    let bin = compile("c11_threads");
    let s = same_as_native_on_one_thread(run_native(&bin, &[]), run_shim(&bin, &[], &[]));
    assert!(s.stdout.contains("ticker ran during the wait: yes"), "{}", s.describe());
    assert!(s.stdout.contains("join 3: 0 result -3"), "{}", s.describe());
}
