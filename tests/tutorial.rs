//! The gevent tutorial's examples (`examples/`), each run as a program and checked: its output
//! and its timing class; the API examples natively (the crate's own hub) and under the launcher
//! (the shim's hub), the std-only `monkey_patch` natively and under the launcher with the same
//! stdout on one OS thread, the echo server against the echo client under the launcher and
//! against `nc`, the echo client against an `nc -l` server.
//!
//! The example binaries are built by `cargo test` of the whole package; a test run alone
//! (`cargo test --release --test tutorial`) builds them first with `cargo build --examples` of
//! the same profile. The launcher and `libgreenshim.so` need `cargo build --release`.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::server::Server;
use common::{cargo_here, native_command, run, run_launcher, run_native, target_dir, Output};

/// `target/<profile>/examples/NAME`, building the examples once per test process.
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cmd = cargo_here(&["build", "--examples"]);
        let o = run(cmd, Duration::from_secs(300));
        assert_eq!(o.code(), Some(0), "building the examples failed\n{}", o.describe());
    });
    let p = target_dir().join("examples").join(name);
    assert!(p.is_file(), "{} was not built", p.display());
    p
}

fn native(name: &str, args: &[&str]) -> Output {
    let o = run(native_command(&example(name), args), Duration::from_secs(60));
    assert_eq!(o.code(), Some(0), "{name} failed natively\n{}", o.describe());
    o
}

fn launched(name: &str, args: &[&str]) -> Output {
    let bin = example(name);
    let mut all = vec!["--", bin.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = run_launcher(&all, &[]);
    assert_eq!(o.code(), Some(0), "{name} failed under the launcher\n{}", o.describe());
    o
}

/// The number after `key` in `line` (up to the next space or `s`/`ms` unit).
fn num_after(line: &str, key: &str) -> f64 {
    let rest = &line[line.find(key).unwrap_or_else(|| panic!("no {key:?} in {line:?}")) + key.len()..];
    let n: String = rest.trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    n.parse().unwrap_or_else(|_| panic!("no number after {key:?} in {line:?}"))
}

fn line_with<'a>(o: &'a Output, pat: &str) -> &'a str {
    o.stdout.lines().find(|l| l.contains(pat)).unwrap_or_else(|| panic!("no line with {pat:?}\n{}", o.describe()))
}

// ---------------------------------------------------------------------- 1. coroutines vs threads

#[test]
fn coroutines_vs_threads_measures_both_side_by_side() {
    let o = native("coroutines_vs_threads", &["10000"]);
    let cols = |pat: &str| -> (f64, f64) {
        let l = line_with(&o, pat);
        let nums: Vec<f64> = l.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        assert_eq!(nums.len(), 2, "two figures expected in {l:?}");
        (nums[0], nums[1])
    };
    assert!(o.stdout.starts_with("10000 units"), "{}", o.describe());
    let (t_create, g_create) = cols("create+start, per unit");
    let (t_switch, g_switch) = cols("one context switch");
    let (t_mem, g_mem) = cols("RSS per unit");
    println!("{}", o.stdout);
    assert!(g_switch < t_switch, "a greenlet switch ({g_switch} ns) is not cheaper than a thread's ({t_switch} ns)");
    assert!(g_create < t_create, "creating a greenlet ({g_create} us) is not cheaper than a thread ({t_create} us)");
    assert!(t_mem > 0.0 && g_mem > 0.0, "no memory measured: {t_mem} KB, {g_mem} KB");
}

// ------------------------------------------------------------------------- 2. monkey patching

#[test]
fn monkey_patch_std_program_runs_unmodified_on_one_os_thread() {
    let n = native("monkey_patch", &[]);
    let s = launched("monkey_patch", &[]);
    assert_eq!(s.stdout, n.stdout, "stdout differs\nnative:\n{}\nlauncher:\n{}", n.describe(), s.describe());
    assert!(n.stdout.contains("requests in flight at once: 3\n"), "{}", n.describe());
    let took = |o: &Output| num_after(o.stderr.lines().find(|l| l.starts_with("took")).expect("a took line"), "took");
    // one after another: 3 x (200 + 100) ms; at once: about 300 ms
    assert!(took(&s) < 850.0, "the fetchers did not run concurrently under the launcher\n{}", s.describe());
    for i in 1..=3 {
        assert!(n.stdout.contains(&format!("fetcher {i}: result of request {i}\n")), "{}", n.describe());
    }
    let threads = |o: &Output| -> i64 { num_after(o.stderr.lines().find(|l| l.starts_with("Threads:")).expect("a Threads: line"), "Threads:") as i64 };
    assert_eq!(threads(&n), 5, "natively: main, 3 fetchers and the server thread\n{}", n.describe());
    assert_eq!(threads(&s), common::expected_os_threads(), "under the launcher every thread is a greenlet of one OS thread (one per hub)\n{}", s.describe());
}

// ------------------------------------------------------------------------- 3. greenlet state

const STATE_LINES: &str = "before joinall: winner.started: false
winner.started: true
winner.ready: true
winner.successful: true
winner.value: Some(\"You win!\")
winner.exception: None
loser.started: true
loser.ready: true
loser.successful: false
loser.value: None
loser.exception: Some(\"You fail.\")
";

#[test]
fn greenlet_state_winner_and_loser() {
    let n = native("greenlet_state", &[]);
    assert_eq!(n.stdout, format!("{STATE_LINES}hub: this program's own\n"), "{}", n.describe());
    let s = launched("greenlet_state", &[]);
    assert_eq!(s.stdout, format!("{STATE_LINES}hub: the preload library's (greenlet id == pthread_self: yes)\n"), "{}", s.describe());
}

// ------------------------------------------------------------------------------- 4. timeouts

fn check_timeouts(o: &Output) {
    let scoped = line_with(o, "scoped: could not complete: timed out after 300ms");
    let ms = num_after(scoped, "(after");
    assert!((300.0..700.0).contains(&ms), "scoped timeout after {ms} ms\n{}", o.describe());
    let g = line_with(o, "global: could not complete (join interrupted after");
    let ms = num_after(g, "after");
    assert!((200.0..600.0).contains(&ms), "the global timeout interrupted the join after {ms} ms\n{}", o.describe());
    let j = line_with(o, "joinall_timeout: finished [0, 1] of 3");
    let ms = num_after(j, "after");
    assert!((500.0..900.0).contains(&ms), "joinall_timeout returned after {ms} ms\n{}", o.describe());
    let g = line_with(o, "guard: greenlet ended with Some(\"Timeout: timed out after 200ms\")");
    let ms = num_after(g, ") after");
    assert!((200.0..600.0).contains(&ms), "guard fired after {ms} ms\n{}", o.describe());
    let c = line_with(o, "custom error: Err(TooLong)");
    let ms = num_after(c, "after");
    assert!((100.0..500.0).contains(&ms), "custom-error timeout after {ms} ms\n{}", o.describe());
    line_with(o, "cancelled: slept 100 ms past a cancelled 50 ms timeout");
    line_with(o, "AsyncResult::get_timeout: None after");
    line_with(o, "Queue::get_timeout: Err(Empty)");
}

#[test]
fn timeouts_scoped_joinall_guard_custom_error() {
    check_timeouts(&native("timeouts", &[]));
    check_timeouts(&launched("timeouts", &[]));
}

// ---------------------------------------------------------------------- 5./6. Event, AsyncResult

/// Five `waiter N: ... at X s` lines, every X within 3 s ± 10 % and all within 250 ms of each
/// other (in one hub round: microseconds apart unless the machine is loaded), not before the
/// setter's `at S s`.
fn five_woken_together(o: &Output, woke: &str, set: &str) {
    let set_at = num_after(line_with(o, set), " at ");
    let times: Vec<f64> = o.stdout.lines().filter(|l| l.starts_with("waiter") && l.contains(woke)).map(|l| num_after(l, " at ")).collect();
    assert_eq!(times.len(), 5, "five waiters expected\n{}", o.describe());
    for &t in &times {
        assert!((2.7..3.3).contains(&t), "a waiter woke at {t} s, not 3 s ± 10 %\n{}", o.describe());
        assert!(t >= set_at, "a waiter woke at {t} s, before the set at {set_at} s\n{}", o.describe());
    }
    let spread = times.iter().cloned().fold(f64::MIN, f64::max) - times.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < 0.25, "waiters woke {spread} s apart\n{}", o.describe());
}

#[test]
fn event_wakes_five_waiters_together_after_3_s() {
    let o = native("event", &[]);
    assert_eq!(o.stdout.lines().filter(|l| l.ends_with(": waiting")).count(), 5, "{}", o.describe());
    five_woken_together(&o, "woke", "setter: setting the event");
    line_with(&o, "event is set: true");
    five_woken_together(&launched("event", &[]), "woke", "setter: setting the event");
}

#[test]
fn async_result_delivers_one_value_to_five_waiters_after_3_s() {
    let o = native("async_result", &[]);
    assert_eq!(o.stdout.matches("got Ok(\"Hello!\")").count(), 5, "{}", o.describe());
    five_woken_together(&o, "got Ok(\"Hello!\")", "setter: setting the value");
    line_with(&o, "ready: true successful: true");
    line_with(&o, "error result: Err(\"the backend is down\") (successful: false)");
    five_woken_together(&launched("async_result", &[]), "got Ok(\"Hello!\")", "setter: setting the value");
}

// ---------------------------------------------------------------------------------- 7. queue

fn check_queue(o: &Output) {
    let tasks = |prefix: &str| -> Vec<(String, u32)> {
        o.stdout
            .lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .filter_map(|l| l.strip_prefix("worker "))
            .filter_map(|l| {
                let (name, rest) = l.split_once(" got task ")?;
                Some((name.to_string(), rest.parse().ok()?))
            })
            .collect()
    };
    let unbounded = tasks("");
    let mut items: Vec<u32> = unbounded.iter().map(|t| t.1).collect();
    items.sort();
    assert_eq!(items, (1..=24).collect::<Vec<_>>(), "24 distinct tasks, each to one worker\n{}", o.describe());
    for w in ["steve", "john", "nancy"] {
        assert!(unbounded.iter().any(|t| t.0 == w), "{w} got no task\n{}", o.describe());
    }
    let bounded = tasks("bounded: ");
    let mut items: Vec<u32> = bounded.iter().map(|t| t.1).collect();
    items.sort();
    assert_eq!(items, (1..=10).collect::<Vec<_>>(), "{}", o.describe());
    // the boss's tenth put waits for room: at least 7 tasks were taken before it returned
    let lines: Vec<&str> = o.stdout.lines().collect();
    let boss = lines.iter().position(|l| l.starts_with("boss: all 10 put")).expect("boss line");
    let seventh = lines.iter().position(|l| l.starts_with("bounded: worker") && l.ends_with("got task 7")).expect("task 7");
    assert!(seventh < boss, "the bounded put did not block\n{}", o.describe());
    assert_eq!(o.stdout.matches("waited 1 s for work: quitting").count(), 3, "{}", o.describe());
    let took = num_after(line_with(o, "bounded: took"), "took");
    assert!((1.3..3.0).contains(&took), "bounded part took {took} s (4 rounds of 100 ms + 1 s)\n{}", o.describe());
    line_with(o, "put_nowait(1): Ok(())");
    line_with(o, "put_nowait(2): Err(\"Full, 2 handed back\")");
    line_with(o, "get_nowait: Ok(1)");
    line_with(o, "get_nowait: Err(\"Empty\")");
    line_with(o, "Queue::bounded(0) is unbounded, as in gevent: maxsize None");
    let ms = num_after(line_with(o, "channel: put returned after"), "after");
    assert!((50.0..400.0).contains(&ms), "the channel's put returned after {ms} ms, not when the getter took it\n{}", o.describe());
    line_with(o, "channel: the getter got Ok(\"hand-over\")");
}

#[test]
fn queue_workers_get_distinct_items_and_bounded_put_blocks() {
    check_queue(&native("queue", &[]));
    check_queue(&launched("queue", &[]));
}

// -------------------------------------------------------------------------- groups and pools

fn check_pool(o: &Output) {
    let done: Vec<&str> = o.stdout.lines().filter(|l| l.starts_with("group:") && l.ends_with(" done")).collect();
    assert_eq!(done, ["group: listen done", "group: think done", "group: talk done"], "{}", o.describe());
    line_with(o, "group: 3 running");
    let p = line_with(o, "pool: six 100 ms jobs in a pool of 2 took");
    let ms = num_after(p, "took");
    assert!((300.0..800.0).contains(&ms), "six 100 ms jobs, two at a time, took {ms} ms\n{}", o.describe());
    assert!(p.ends_with("at most 2 at once"), "{}", o.describe());
    assert_eq!(o.stdout.matches("pool: job ").count(), 6, "{}", o.describe());
    line_with(o, "map: Ok([1, 4, 9, 16, 25, 36])");
    line_with(o, "kill: 3 of 3 killed, 0 left");
}

#[test]
fn group_joins_pool_limits_to_two_map_keeps_order_kill_ends_all() {
    check_pool(&native("pool", &[]));
    check_pool(&launched("pool", &[]));
}

// ------------------------------------------------------------------------------ 8. semaphore

fn check_semaphore(o: &Output) {
    line_with(o, "max holders at once with BoundedSemaphore(2): 2");
    line_with(o, "max holders at once with BoundedSemaphore(1): 1 (a lock)");
    line_with(o, "release after acquire: Ok(())");
    line_with(o, "one release too many: Err(\"semaphore released too many times\") (counter stays 2)");
    for l in o.stdout.lines().filter(|l| l.contains(" acquired (")) {
        let n = num_after(l, "acquired (");
        let bound = if l.starts_with("semaphore(2)") { 2.0 } else { 1.0 };
        assert!(n >= 1.0 && n <= bound, "{l}\n{}", o.describe());
    }
    assert_eq!(o.stdout.matches(" acquired (").count(), 12, "{}", o.describe());
}

#[test]
fn bounded_semaphore_admits_two_and_refuses_over_release() {
    check_semaphore(&native("semaphore", &[]));
    check_semaphore(&launched("semaphore", &[]));
}

// ---------------------------------------------------------------------------------- 9. local

const LOCAL_OUT: &str = "f1: x = Some(1)
f1: y = None (set by f2 only: absent here)
f2: y = Some(2)
f2: x = None (set by f1 only: absent here)
main: x = None, y = None
";

#[test]
fn local_values_are_per_greenlet() {
    assert_eq!(native("local", &[]).stdout, LOCAL_OUT);
    assert_eq!(launched("local", &[]).stdout, LOCAL_OUT);
}

// ------------------------------------------------------------------------- 10. stream server

fn serving_port(l: &str) -> Option<u16> {
    l.strip_prefix("serving on ")?.rsplit(':').next()?.trim().parse().ok()
}

fn start_server(under_launcher: bool) -> Server {
    let bin = example("stream_server");
    let cmd = if under_launcher {
        common::launcher_command(&["--", bin.to_str().unwrap(), "127.0.0.1:0"], &[])
    } else {
        native_command(&bin, &["127.0.0.1:0"])
    };
    let mut srv = Server::spawn(cmd);
    srv.wait_port(serving_port, Duration::from_secs(10));
    if under_launcher {
        srv.follow_launcher();
    }
    srv
}

#[test]
fn stream_server_echoes_for_the_client_under_the_launcher_and_stops() {
    let mut srv = start_server(false);
    let addr = format!("127.0.0.1:{}", srv.port);
    let c = launched("echo_client", &[&addr, "20", "5"]);
    assert!(c.stdout.contains("20 clients, 100 of 100 echoes correct"), "{}\n{}", c.describe(), srv.describe());
    let c = native("echo_client", &[&addr, "3", "2", "--shutdown"]);
    assert!(c.stdout.contains("3 clients, 6 of 6 echoes correct"), "{}", c.describe());
    let st = srv.finish(Duration::from_secs(10));
    assert!(st.success(), "{}", srv.describe());
    assert!(srv.stdout().contains("server stopped"), "{}", srv.describe());
}

#[test]
fn stream_server_under_the_launcher_serves_50_clients_and_nc() {
    // The API server on the shim's hub (it is single-threaded natively too: the point is that the
    // API works on the shim's hub, not the thread count).
    let mut srv = start_server(true);
    let addr = format!("127.0.0.1:{}", srv.port);
    let c = run(native_command(&example("echo_client"), &[&addr, "50", "200"]), Duration::from_secs(60));
    assert!(c.stdout.contains("50 clients, 10000 of 10000 echoes correct"), "{}", c.describe());
    // ~0.1 s here; a round trip stalled by Nagle and delayed ACKs (40 ms each) would take 8 s+
    let took = num_after(c.stderr.lines().find(|l| l.starts_with("took")).expect("a took line"), "took");
    assert!(took < 4000.0, "10,000 echoes over 50 connections took {took} ms\n{}", c.describe());

    match Command::new("nc").arg("-h").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Err(_) => {
            assert!(std::env::var_os("CI").is_none(), "nc is required in CI");
            eprintln!("SKIP: nc not installed");
        }
        Ok(_) => {
            let mut nc = Command::new("nc")
                .args(["127.0.0.1", &srv.port.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("nc");
            nc.stdin.take().unwrap().write_all(b"hello\nworld\nquit\n").unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || tx.send(nc.wait_with_output()));
            let out = rx.recv_timeout(Duration::from_secs(10)).expect("nc did not finish in 10 s").unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "Welcome to the echo server! Type quit to exit.\r\nhello\nworld\n");
        }
    }
    let c = run_native(&example("echo_client"), &[&addr, "1", "1", "--shutdown"]);
    assert_eq!(c.code(), Some(0), "{}", c.describe());
    let st = srv.finish(Duration::from_secs(10));
    assert!(st.success() && srv.stdout().contains("server stopped"), "{}", srv.describe());
}

// ------------------------------------------------------- the API inside a preloaded process

/// Under the launcher the API drives the shim's hub: an API greenlet keeps running while the
/// main greenlet blocks in a std channel fed by a std::thread (natively it cannot: `recv` blocks
/// the hub's OS thread).
#[test]
fn api_greenlets_and_std_threads_share_the_shims_hub() {
    let n = native("api_and_std_threads", &[]);
    let s = launched("api_and_std_threads", &[]);
    for o in [&n, &s] {
        line_with(o, "received 42 from a std::thread");
        line_with(o, "joining the endless ticker under a 30 ms Timeout: timed out");
        line_with(o, "ticker killed: true");
        line_with(o, "event woken early: true; std sleep of 100 ms after it lasted >= 100 ms: true");
        let l = line_with(o, "Timeout(30 ms) around a std sleep of 80 ms then a yield: timed out after");
        let ms = num_after(l, "timed out after");
        assert!((80.0..500.0).contains(&ms), "raised after {ms} ms: not at the yield after the sleep\n{}", o.describe());
    }
    assert_eq!(num_after(line_with(&n, "ticks while main waited"), "channel:"), 0.0, "{}", n.describe());
    line_with(&n, "OS threads while the std::thread lived: 2");
    line_with(&n, "hub: this program's own");
    let ticks = num_after(line_with(&s, "ticks while main waited"), "channel:");
    assert!((2.0..=6.0).contains(&ticks), "{ticks} ticks of 20 ms during a 100 ms wait\n{}", s.describe());
    line_with(&s, &format!("OS threads while the std::thread lived: {}", common::expected_os_threads()));
    line_with(&s, "hub: the preload library's");
}

/// The echo client under the launcher against a server that is not ours: `nc -l` replays a
/// greeting and the expected echoes from its stdin and prints what the client sent.
#[test]
fn echo_client_under_the_launcher_talks_to_an_nc_server() {
    if Command::new("nc").arg("-h").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
        assert!(std::env::var_os("CI").is_none(), "nc is required in CI");
        eprintln!("SKIP: nc not installed");
        return;
    }
    // a free port: bound, read, released, then taken by nc (retried if another process won it)
    for attempt in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut nc = Command::new("nc")
            .args(["-l", "127.0.0.1", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nc");
        nc.stdin.take().unwrap().write_all(b"Welcome\r\nclient 0 line 0\nclient 0 line 1\nclient 0 line 2\n").unwrap();
        let pid = nc.id() as i32;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(nc.wait_with_output()));
        // wait until nc listens
        let listening = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| t.lines().any(|l| l.contains(&format!(":{port:04X} 00000000:0000 0A"))))
        });
        if !listening {
            // SAFETY: kill(2) of the nc we started, not yet reaped (its waiter thread holds it).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = rx.recv_timeout(Duration::from_secs(5));
            assert!(attempt < 4, "nc never listened on a free port");
            continue;
        }
        let c = launched("echo_client", &[&format!("127.0.0.1:{port}"), "1", "3"]);
        assert!(c.stdout.contains("1 clients, 3 of 3 echoes correct"), "{}", c.describe());
        let out = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(o) => o.unwrap(),
            Err(_) => {
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("nc did not exit after the client closed");
            }
        };
        assert_eq!(String::from_utf8_lossy(&out.stdout), "client 0 line 0\nclient 0 line 1\nclient 0 line 2\nquit\n");
        return;
    }
}
