//! Multi-hub mode (`GREENSHIM_HUBS=2`): what only means something with more than one hub. Every
//! test here sets `GREENSHIM_HUBS=2` itself, so they run in the ordinary suite (whatever
//! `GREENSHIM_TEST_HUBS` says; `scripts/test.sh --hubs N` runs the rest of the suite with N).
//!
//! - a thread-per-connection echo server (`tests/c/echo_tpc.c`) serves 200 concurrent clients
//!   of `net_client` (checksummed random payloads, every byte compared) on exactly two OS
//!   threads, and both hubs take part;
//! - differential runs: the deterministic C programs that `tests/sync.rs`, `threads.rs`,
//!   `foundation.rs`, `fair.rs`, `posix_*.rs` and `edges_sync.rs` compare natively and under the
//!   shim (mutex counters, bounded buffers on condition variables and semaphores, barriers,
//!   rwlocks, once, keys, join, pthread_kill and signals, cancellation, futexes, C11 threads,
//!   process-shared objects) give the same canonical output with two hubs, where greenlets of
//!   one program run on two OS threads at once;
//! - CPU parallelism: two threads doing system calls get more than one core's worth of CPU time
//!   per second of wall time (checked against the native figure of the same moment, since the
//!   machine may be busy).
//!
//! Before multi-hub mode exists the library refuses `GREENSHIM_HUBS=2` at start (exit status 2,
//! one `greenshim:` line): every test here then fails, saying so and showing that line.
//!
//! Run `cargo build --release` first (the preload library is another package's cdylib).

mod common;

use std::time::Duration;

use common::server::{port_line, proc_threads, Server};
use common::{compile, native_command, run, run_native, run_shim, shim_command, value, Output};

/// The hub count these tests ask for.
const HUBS: &str = "2";
const HUBS_N: i64 = 2;

fn hubs_env() -> [(&'static str, &'static str); 1] {
    [("GREENSHIM_HUBS", HUBS)]
}

/// What to say first when a run under two hubs failed: the refusal of a library without
/// multi-hub mode is named as such, so that it is not mistaken for a multi-hub bug.
fn why(stderr: &str) -> String {
    match stderr.lines().find(|l| l.starts_with("greenshim:") && l.contains("GREENSHIM_HUBS")) {
        Some(l) if l.contains("not available") => {
            format!("the preload library refused GREENSHIM_HUBS={HUBS} (no multi-hub mode in this build): {l}\n")
        }
        _ => String::new(),
    }
}

/// `bin ARGS` under the preload library with two hubs.
fn run_hubs(bin: &std::path::Path, args: &[&str]) -> Output {
    run_shim(bin, args, &hubs_env())
}

/// Fail unless the run under two hubs exited with `code`, saying what happened.
fn expect_code(o: &Output, code: Option<i32>, what: &str) {
    assert_eq!(
        (o.code(), o.signal()),
        (code, None),
        "{}{what} under GREENSHIM_HUBS={HUBS}: expected exit status {code:?}\n{}",
        why(&o.stderr),
        o.describe()
    );
}

// ------------------------------------------------- (a) echo server, 200 clients, two hubs

/// The OS threads of `pid` (`/proc/PID/task`) with their voluntary context switches.
fn task_switches(pid: i32) -> Vec<(i32, i64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    let mut v: Vec<(i32, i64)> = dir
        .flatten()
        .filter_map(|e| {
            let tid: i32 = e.file_name().to_str()?.parse().ok()?;
            let status = std::fs::read_to_string(e.path().join("status")).ok()?;
            let n = status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok())?;
            Some((tid, n))
        })
        .collect();
    v.sort();
    v
}

/// echo_tpc (a detached thread per connection, blocking read/write) under two hubs serves 200
/// concurrent net_client connections, every echo byte-for-byte the message sent: all 200 open
/// at once, `Threads:` 2 while they are (sampled by the client) and when the last is accepted,
/// and each of the two OS threads has waited many times (a hub that served no connection
/// would have blocked in its first wait and stayed there). Then one more connection ends the
/// server, which must exit 0 with `threads_at_exit=2`.
#[test]
fn echo_server_200_clients_on_two_hubs() {
    const CONNS: usize = 200;
    let server_bin = compile("echo_tpc");
    let client_bin = compile("net_client");
    // one connection more than the client makes: the server is still there to be looked at
    let total = (CONNS + 1).to_string();
    let mut srv = Server::spawn(shim_command(&server_bin, &["-n", &total], &hubs_env()));
    let got_port = srv.wait_until(Duration::from_secs(10), |s| s.stdout().lines().any(|l| port_line(l).is_some()));
    if !got_port {
        let d = srv.kill_and_describe();
        panic!("{}echo_tpc under GREENSHIM_HUBS={HUBS} did not print its port within 10 s\n{d}", why(&d));
    }
    let port = srv.wait_port(port_line, Duration::from_secs(1)).to_string();
    let pid = srv.pid.to_string();
    let n = CONNS.to_string();
    let client = run(
        native_command(&client_bin, &["-p", &port, "-c", &n, "-s", "7", "-P", &pid, "-t", "25"]),
        Duration::from_secs(40),
    );
    let threads_after = proc_threads(srv.pid);
    let switches = task_switches(srv.pid);
    if client.code() != Some(0) || !client.stdout.contains(&format!("ok {CONNS}\n")) {
        let d = srv.kill_and_describe();
        panic!("{}net_client ({CONNS} connections) failed against echo_tpc under GREENSHIM_HUBS={HUBS}\n{}\n{d}", why(&d), client.describe());
    }
    // the last connection: the server exits after serving it
    {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", srv.port)).expect("connect the last client");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"last\n").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        let _ = s.read_to_end(&mut back);
        assert_eq!(back, b"last\n", "the last client's echo\n{}", srv.describe());
    }
    let st = srv.finish(Duration::from_secs(10));
    let out = srv.stdout();
    let report = format!("{}\n{}\nOS threads after the clients: {threads_after:?}; voluntary switches per task: {switches:?}", client.describe(), srv.describe());
    assert!(st.success(), "{}server exit status {st:?}\n{report}", why(&srv.stderr()));
    assert!(out.contains(&format!("served={total} ")), "{report}");
    assert!(value(&out, "max_active").unwrap_or(0) >= CONNS as i64, "all {CONNS} connections open at once\n{report}");
    assert_eq!(value(&out, "errors"), Some(0), "{report}");
    assert_eq!(value(&client.stdout, "server_threads"), Some(HUBS_N), "Threads: of the server while {CONNS} clients were connected: one per hub\n{report}");
    assert_eq!(value(&out, "threads_at_last_accept"), Some(HUBS_N), "{report}");
    assert_eq!(value(&out, "threads_at_exit"), Some(HUBS_N), "{report}");
    assert_eq!(threads_after, Some(HUBS_N), "{report}");
    assert_eq!(switches.len(), 2, "two OS threads in /proc/PID/task\n{report}");
    for (tid, n) in &switches {
        assert!(*n >= 10, "OS thread {tid} of the server waited only {n} times while 200 connections were served: its hub served none?\n{report}");
    }
    assert!(srv.stderr().lines().all(|l| !l.starts_with("greenshim:")), "{report}");
}

// ------------------------------------------------------------- (b) differential runs

/// `name ARGS` natively and under two hubs: both exit 0, no `greenshim:` line, and the same
/// stdout after `canon` (which the test of the single-hub suite applies too).
fn differential(name: &str, args: &[&str], canon: fn(&str) -> String) -> (Output, Output) {
    let bin = compile(name);
    let n = run_native(&bin, args);
    assert_eq!(n.code(), Some(0), "{name} {args:?}: native run failed\n{}", n.describe());
    let s = run_hubs(&bin, args);
    expect_code(&s, Some(0), &format!("{name} {args:?}"));
    assert!(s.greenshim_lines().is_empty(), "{name} {args:?}: unexpected greenshim messages\n{}", s.describe());
    assert_eq!(
        canon(&s.stdout),
        canon(&n.stdout),
        "{name} {args:?}: stdout differs from native under GREENSHIM_HUBS={HUBS}\nnative:\n{}\ntwo hubs:\n{}",
        n.describe(),
        s.describe()
    );
    (n, s)
}

fn exact(s: &str) -> String {
    s.to_string()
}

/// The `Threads:` lines a program printed on stderr (tls_counters, c11_threads): each says 2.
fn threads_lines_say_two(s: &Output) {
    let lines: Vec<&str> = s.stderr.lines().filter(|l| l.starts_with("Threads:")).collect();
    assert!(!lines.is_empty(), "the program printed no Threads: line\n{}", s.describe());
    for l in lines {
        assert_eq!(l.split_whitespace().nth(1), Some(HUBS), "one OS thread per hub\n{}", s.describe());
    }
}

/// sync_bounded: 50 producers and 50 consumers on a 64-slot buffer (mutex + two condition
/// variables, or semaphores): the same counts, sum and final semaphore values as natively
/// (every line but the OS thread count), and `threads=2`.
#[test]
fn bounded_buffer_on_conds_and_on_semaphores() {
    for mode in ["cond", "sem"] {
        let args = [mode, "50", "50", "200000"];
        let but_threads = |s: &str| s.lines().filter(|l| !l.starts_with("threads=")).map(|l| format!("{l}\n")).collect();
        let (_, s) = differential("sync_bounded", &args, but_threads);
        assert!(s.stdout.contains("produced=200000 consumed=200000 sum=20000100000 expected_sum=20000100000\n"), "{}", s.describe());
        assert_eq!(value(&s.stdout, "threads"), Some(HUBS_N), "{mode}: OS threads while running\n{}", s.describe());
    }
}

#[test]
fn sync_errors_keys_once_barrier_rwlock_named_sem() {
    differential("sync_errors", &[], exact);
    let (_, s) = differential("sync_keys", &[], exact);
    assert!(s.stdout.contains("k1 destructor calls=9 sum=49"), "{}", s.describe());
    let (_, s) = differential("sync_once", &[], exact);
    assert_eq!(s.stdout, "init_runs=1 callers=20 early_returns=0\n");
    let (_, s) = differential("sync_barrier", &[], exact);
    assert_eq!(s.stdout, "rounds=200 violations=0 bad_serial=0 destroy=0\n");
    for args in [&[][..], &["writer"][..]] {
        let (_, s) = differential("sync_rwlock", args, exact);
        assert_eq!(s.stdout, "a=10000 b=10000 reads=40000 errors=0 overlapping_readers=yes\n");
    }
    differential("sync_named_sem", &[], exact);
}

/// Cancellation of condition and semaphore waits, signal handlers and sem waits.
#[test]
fn sync_cancel_and_signal_wait() {
    let (_, s) = differential("sync_cancel", &[], exact);
    assert!(s.stdout.contains("cond_wait cancelled: yes\nsem_wait cancelled: yes\n"), "{}", s.describe());
    differential("sync_signal_wait", &[], exact);
}

/// Timed waits time out with the same codes (the lateness figures differ by nature).
#[test]
fn timed_waits_give_native_codes() {
    let codes = |s: &str| s.lines().map(|l| l.split(" late_us").next().unwrap_or_default().to_string() + "\n").collect();
    differential("sync_timed", &[], codes);
}

/// join, detach, pthread_kill, sleeps interrupted by signals, attributes: every check of
/// pthread_misc, as natively.
#[test]
fn pthread_misc_join_kill_and_the_rest() {
    let (_, s) = differential("pthread_misc", &[], exact);
    assert!(s.stdout.ends_with("all ok\n") && !s.stdout.contains("FAIL"), "{}", s.describe());
}

/// main's pthread_exit waits for the other threads; errno stays per thread.
#[test]
fn main_exit_and_errno() {
    differential("main_exit", &[], exact);
    differential("errno_keep", &[], exact);
}

/// Signals: handlers run in the target thread, per-thread masks, EINTR and SA_RESTART,
/// sigwait, sigsuspend, blocking handlers, stop/continue, a handler that ends its thread.
#[test]
fn posix_signal_sections() {
    for section in ["target", "mask", "restart", "sigwait", "suspend", "blocking", "stopcont", "exit"] {
        differential("posix_signal", &[section], exact);
    }
}

/// Cancellation: cleanup handlers, every cancellation point, asynchronous cancel of a mutex
/// wait, a cancelled once, main's pthread_exit.
#[test]
fn posix_cancel_programs() {
    for name in ["posix_cancel_cleanup", "posix_cancel_points", "posix_cancel_async", "posix_cancel_once", "posix_cancel_main"] {
        differential(name, &[], exact);
    }
}

/// Busy-polling greenlets let the others run (fair_spin's four modes).
#[test]
fn fair_spin_modes() {
    for mode in ["lock", "cond", "trylock", "kill"] {
        differential("fair_spin", &[mode], exact);
    }
}

/// futex operations through syscall(), C11 threads, per-thread C thread-locals across blocking
/// calls in 100 threads; the programs' `Threads:` lines say 2.
#[test]
fn futexes_c11_threads_and_thread_locals() {
    let (_, s) = differential("futex_ops", &[], exact);
    assert!(!s.stdout.contains("ticker ran during the wait: no"), "{}", s.describe());
    let (_, s) = differential("c11_threads", &[], exact);
    threads_lines_say_two(&s);
    let (_, s) = differential("tls_counters", &[], exact);
    assert!(s.stdout.contains("threads whose checks held: 100 of 100"), "{}", s.describe());
    threads_lines_say_two(&s);
}

/// Process-shared mutex, rwlock, semaphores, condition and barrier between threads and a forked
/// child; `threads=2` while section 1's threads are alive.
#[test]
fn process_shared_objects() {
    let (_, s) = differential("posix_pshared", &[], exact);
    assert_eq!(value(&s.stderr, "threads"), Some(HUBS_N), "{}", s.describe());
}

/// Mutex unlock checks by type, as natively.
#[test]
fn mutex_unlock_checks() {
    differential("edge_mutex_unlock", &[], exact);
}

// ----------------------------------------------------------------- (c) CPU parallelism

/// `cpu_over_wall=` of a multihub_cpu run.
fn cpu_over_wall(o: &Output) -> f64 {
    o.stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("cpu_over_wall="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{}no cpu_over_wall= in the output\n{}", why(&o.stderr), o.describe()))
}

/// Two threads, each doing 200,000 one-byte write+read pairs on a socketpair of its own: with
/// two hubs they run on two cores at once, so the process's CPU time over the wall time of the
/// work exceeds 1.3 (one hub: about 1.0; natively: up to 2). The machine may be busy: up to
/// three rounds, each a native run then a two-hub run, stopping at the first two-hub run above
/// 1.3; the bound applies only if some native run showed the machine can give two threads more
/// than 1.5 cores (otherwise the test says so and checks only that the runs were correct).
#[test]
fn two_threads_doing_syscalls_use_two_cores() {
    let bin = compile("multihub_cpu");
    let args = ["2", "200000"];
    let mut natives = Vec::new();
    let mut hubs = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let n = run_native(&bin, &args);
        assert_eq!(n.code(), Some(0), "native run failed\n{}", n.describe());
        natives.push(cpu_over_wall(&n));
        let s = run(shim_command(&bin, &args, &hubs_env()), Duration::from_secs(60));
        expect_code(&s, Some(0), "multihub_cpu 2 200000");
        assert_eq!(value(&s.stdout, "errors"), Some(0), "{}", s.describe());
        hubs.push(cpu_over_wall(&s));
        last = Some(s);
        if *hubs.last().unwrap() > 1.3 {
            break;
        }
    }
    let best = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    let (bn, bh) = (best(&natives), best(&hubs));
    let one_hub = run_shim(&bin, &args, &[("GREENSHIM_HUBS", "1")]);
    eprintln!(
        "CPU time over wall time, two threads: native {natives:?}, two hubs {hubs:?}, one hub {:?}",
        one_hub.stdout.trim()
    );
    if bn <= 1.5 {
        eprintln!("SKIPPED the parallelism bound: the machine is busy (natively at best {bn:.2} cores for two threads)");
        return;
    }
    let s = last.unwrap();
    assert!(
        bh > 1.3,
        "two threads under GREENSHIM_HUBS={HUBS} got at best {bh:.2} cores' worth of CPU per second (want > 1.3; natively {bn:.2} in the same rounds): the hubs do not run in parallel\nruns: native {natives:?}, two hubs {hubs:?}\n{}",
        s.describe()
    );
}

/// A wake-up of a sleeping hub is never lost: threads spread over the hubs are created and
/// joined in a loop while each ending thread changes the main hub's signal-mask counts from the
/// other hub (which kicks it awake) and the main hub keeps an fd waiter (so it also polls
/// without blocking, which may take a kick's event). Before the fix a kick made while the main
/// hub was awake left it deaf to the next one: about one run in five hung in a join here (and
/// node hung at exit, joining libuv's threadpool).
#[test]
fn joins_across_hubs_never_lose_a_wakeup() {
    let bin = compile("multihub_joins");
    let n = run_native(&bin, &["3000"]);
    expect_code(&n, Some(0), "native run");
    for _ in 0..3 {
        let s = run_hubs(&bin, &["3000"]);
        expect_code(&s, Some(0), "joins across hubs");
        assert_eq!(s.stdout, n.stdout, "{}", s.describe());
    }
}

/// `setuid` and friends while threads run: glibc signals every OS thread it knows (the other
/// hubs') with SIGSETXID and waits for their answers (memcached `-u` hung here).
#[test]
fn setuid_with_threads_on_several_hubs() {
    let bin = compile("multihub_setxid");
    let n = run_native(&bin, &[]);
    expect_code(&n, Some(0), "native run");
    let s = run_hubs(&bin, &[]);
    expect_code(&s, Some(0), "setuid across hubs");
    assert_eq!(s.stdout, n.stdout, "{}", s.describe());
}

/// The live view (`greenshim -p PID --once`) shows every hub: a `hub 1:` line and the
/// greenlets of both hubs (6 connection threads spread over two hubs, plus main in accept).
#[test]
fn live_view_shows_every_hub() {
    use std::io::Write;
    let server_bin = compile("echo_tpc");
    let mut srv = Server::spawn(shim_command(&server_bin, &["-q"], &hubs_env()));
    let port = srv.wait_port(port_line, Duration::from_secs(10));
    let mut clients = Vec::new();
    for _ in 0..6 {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.write_all(b"x").unwrap();
        clients.push(c);
    }
    // every connection's thread exists and has echoed (so each is parked in read)
    for c in &mut clients {
        use std::io::Read;
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).expect("echo");
    }
    let v = run(common::launcher_command(&["-p", &srv.pid.to_string(), "--once"], &[]), Duration::from_secs(10));
    let d = srv.kill_and_describe();
    assert_eq!(v.code(), Some(0), "{}\n{d}", v.describe());
    assert!(v.stdout.contains("\nhub 1: "), "a line for the second hub\n{}\n{d}", v.describe());
    let is_row = |l: &str| l.trim_start().strip_prefix('g').is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
    let rows = v.stdout.lines().filter(|l| is_row(l)).count();
    assert_eq!(rows, 7, "main and the 6 connection threads, whichever hub they run on\n{}\n{d}", v.describe());
    let parked_in_read = v.stdout.lines().filter(|l| l.contains("parked on fd") && l.contains(" read ")).count();
    assert_eq!(parked_in_read, 6, "{}\n{d}", v.describe());
}
