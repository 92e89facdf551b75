//! The live view (`greenshim -p PID [--once]`) and the greenlet dump when the hub is held
//! (issue 14), on the C programs of `tests/c/`.
//!
//! Needs `cargo build --release` first (the preload library is not built by `cargo test`):
//!
//! ```sh
//! cargo build --release && cargo test --release --test live
//! ```
//!
//! The point of both is that they answer while a greenlet holds the hub (a CPU loop that never
//! yields) or while the OS thread is blocked in a call greenshim does not see: `live_spin`
//! provides both. Every process is bounded by a timeout and killed (by its own id) at the end.

mod common;

use common::server::Server;
use common::*;
use std::collections::BTreeSet;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Column where the STATE column starts (the shim's `snapshot::STATE_COL`).
const STATE_COL: usize = 52;

/// One row of the view: id (`g12`), name, last call, state.
#[derive(Debug)]
struct Row {
    id: String,
    name: String,
    call: String,
    state: String,
}

/// The rows of a view (the lines after the `ID NAME ...` header).
fn rows(view: &str) -> Vec<Row> {
    view.lines()
        .skip_while(|l| !l.trim_start().starts_with("ID "))
        .skip(1)
        .filter(|l| l.len() > STATE_COL)
        .map(|l| {
            let cols = &l[..STATE_COL];
            let id = cols.split_whitespace().next().unwrap_or("").to_string();
            let name = cols.get(8..24).unwrap_or("").trim().to_string();
            let call = cols.get(34..).unwrap_or("").trim().to_string();
            Row { id, name, call, state: l[STATE_COL..].to_string() }
        })
        .collect()
}

fn view_once(pid: i32) -> Output {
    run(launcher_command(&["-p", &pid.to_string(), "--once"], &[]), Duration::from_secs(10))
}

/// `greenshim -p PID --once` until `ok` accepts the view (at most 10 s); the last view.
fn view_until(srv: &mut Server, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = view_once(srv.server_pid);
        if out.status.success() && ok(&out.stdout) {
            return out.stdout;
        }
        if Instant::now() > deadline {
            let d = srv.kill_and_describe();
            panic!("no satisfying live view within 10 s; the last:\n{}\n{d}", out.describe());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The socket of `pid`, wherever the shim put it (the same places the launcher looks).
fn socket_of(pid: i32) -> Option<PathBuf> {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    greenshim::live_client::socket_paths(pid, uid).into_iter().find(|p| p.exists())
}

fn connect(port: u16, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect")).collect()
}

#[test]
fn live_view_answers_while_a_greenlet_holds_the_hub() {
    if common::single_hub_only("the view's header describes one hub (\"N running\", \"gN has held it for\", \"0 switches/s\", \"N fds watched\"); with several hubs the other hubs keep switching and watch their own fds") {
        return;
    }
    let bin = compile("live_spin");
    let mut srv = Server::start(shim_command(&bin, &["-n", "200"], &[]));
    let clients = connect(srv.port, 200);
    if !srv.wait_until(Duration::from_secs(10), |s| s.stdout().contains("accepted=200")) {
        panic!("the server did not accept 200 clients\n{}", srv.kill_and_describe());
    }
    let started = Instant::now();
    // Until the spinner has held the hub long enough to be called stuck (100 ms) and for a
    // whole rate window (the first view measures 200 ms).
    let view = view_until(&mut srv, |v| {
        let r = rows(v);
        r.iter().filter(|r| r.state.starts_with("parked on fd")).count() == 201
            && r.iter().any(|r| r.state == "running")
            && v.contains("(not at a safe point); 0 switches/s, 0 parks/s")
    });
    let report = format!("{view}\n{}", srv.describe());
    let r = rows(&view);
    assert_eq!(r.len(), 202, "main, 200 connections, the spinner\n{report}");
    // Main waits in accept() on the listening socket (fd 3: the first the program opened).
    let main = r.iter().find(|r| r.id == "g1").unwrap_or_else(|| panic!("no g1\n{report}"));
    assert_eq!((main.state.as_str(), main.call.as_str()), ("parked on fd 3 for read", "accept"), "{report}");
    // Every connection: its own fd, parked for read in read().
    let conns: Vec<&Row> = r.iter().filter(|r| r.name == "conn").collect();
    assert_eq!(conns.len(), 200, "{report}");
    let mut fds = BTreeSet::new();
    for c in &conns {
        let fd: u32 = c
            .state
            .strip_prefix("parked on fd ")
            .and_then(|s| s.strip_suffix(" for read"))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("connection not parked for read: {c:?}\n{report}"));
        assert!(fd > 3, "{c:?}");
        fds.insert(fd);
        assert_eq!(c.call, "read", "{c:?}");
    }
    assert_eq!(fds.len(), 200, "each connection its own fd\n{report}");
    // The spinner holds the hub: running, and the header says so.
    let spinner: Vec<&Row> = r.iter().filter(|r| r.state == "running").collect();
    assert_eq!(spinner.len(), 1, "{report}");
    assert_eq!(spinner[0].name, "spinner", "{report}");
    let header: Vec<&str> = view.lines().take(2).collect();
    assert!(header[0].contains("202 greenlets, 1 running, 0 runnable, 201 parked"), "{report}");
    assert!(header[1].contains(&format!("{} has held it for", spinner[0].id)), "{report}");
    assert!(header[1].contains("(not at a safe point)") && header[1].contains(" 0 switches/s"), "{report}");
    assert!(header[1].contains("201 fds watched"), "{report}");
    assert!(started.elapsed() < Duration::from_secs(5), "the view took {:?}", started.elapsed());
    // The socket: private, in a private directory.
    let sock = socket_of(srv.server_pid).expect("socket");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sock), 0o600, "{}", sock.display());
    assert_eq!(mode(sock.parent().unwrap()), 0o700, "{}", sock.display());
    drop(clients);
}

#[test]
fn live_view_names_a_blocking_call() {
    if common::single_hub_only("the view's header describes one hub (\"N running\", \"gN has held it for\", \"0 switches/s\", \"N fds watched\"); with several hubs the other hubs keep switching and watch their own fds") {
        return;
    }
    let bin = compile("live_spin");
    // The raw syscall instruction is only caught with GREENSHIM_CATCH=all: here it blocks.
    let env = [("GREENSHIM_CATCH", "exports"), ("GREENSHIM_DUMP_SIGNAL", "USR2")];
    let mut srv = Server::start(shim_command(&bin, &["-n", "1", "-b"], &env));
    let _c = connect(srv.port, 1);
    let view = view_until(&mut srv, |v| rows(v).iter().any(|r| r.state.starts_with("in a blocking call")));
    let r = rows(&view);
    let b = r.iter().find(|r| r.name == "spinner").unwrap_or_else(|| panic!("{view}"));
    // nanosleep is syscall 35 on x86-64.
    assert!(b.state.ends_with("(syscall 35)"), "{view}");
    assert!(view.lines().nth(1).unwrap_or("").contains("(in a blocking call)"), "{view}");
    // The dump signal interrupts the nanosleep, whose restart blocks again: no safe point.
    // SAFETY: kill(2) of our own child, still running (the test holds it).
    unsafe { libc::kill(srv.server_pid, libc::SIGUSR2) };
    let dumped = |s: &mut Server| s.stderr().contains("\"spinner\" in a blocking call");
    if !srv.wait_until(Duration::from_secs(5), dumped) {
        panic!("no dump within 5 s of SIGUSR2\n{}", srv.kill_and_describe());
    }
    let err = srv.stderr();
    let line = err.lines().find(|l| l.contains("\"spinner\"")).unwrap();
    assert!(line.starts_with("greenshim:   g3 \"spinner\" in a blocking call") && line.contains("(syscall 35) for "), "{err}");
}

#[test]
fn dump_signal_dumps_a_process_whose_greenlet_spins() {
    if common::single_hub_only("the dump from the published state (no safe point: a greenlet holds the hub) covers the main thread's hub only; with several hubs the spinner may be on another") {
        return;
    }
    let bin = compile("live_spin");
    let bin = bin.to_str().unwrap();
    let mut srv = Server::start(launcher_command(&["--dump-signal", "USR2", "--", bin, "-n", "2"], &[]));
    srv.follow_launcher();
    let _c = connect(srv.port, 2);
    if !srv.wait_until(Duration::from_secs(10), |s| s.stdout().contains("accepted=2")) {
        panic!("{}", srv.kill_and_describe());
    }
    // Let the spinner start, then ask: the hub has no safe point to offer.
    std::thread::sleep(Duration::from_millis(300));
    // -p with the launcher's pid shows the program it runs.
    let v = view_once(srv.pid);
    assert!(v.stdout.starts_with(&format!("greenshim live view of pid {} ", srv.server_pid)), "{}", v.describe());
    let sent = Instant::now();
    // SAFETY: kill(2) of our own child's child, still running (the test holds it).
    unsafe { libc::kill(srv.server_pid, libc::SIGUSR2) };
    let done = |s: &mut Server| s.stderr().lines().filter(|l| l.starts_with("greenshim:   g")).count() >= 4;
    if !srv.wait_until(Duration::from_secs(5), done) {
        panic!("no dump within 5 s of SIGUSR2\n{}", srv.kill_and_describe());
    }
    let took = sent.elapsed();
    let err = srv.stderr();
    let report = srv.describe();
    assert!(err.contains("greenshim: greenlet dump (dump signal; no safe point within 200 ms"), "{report}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("greenshim:   g")).collect();
    assert_eq!(lines.len(), 4, "{report}");
    assert!(lines[0].starts_with("greenshim:   g1 \"live_spin\" parked ") && lines[0].ends_with(" ms: fd 3 (read)"), "{report}");
    assert_eq!(lines.iter().filter(|l| l.contains("\"conn\" parked ") && l.ends_with(" (read)")).count(), 2, "{report}");
    let spin = lines.iter().find(|l| l.contains("\"spinner\"")).unwrap_or_else(|| panic!("{report}"));
    assert!(spin.contains("running (not at a safe point) for "), "{report}");
    assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn dump_signal_without_the_live_socket() {
    if common::single_hub_only("the dump from the published state (no safe point: a greenlet holds the hub) covers the main thread's hub only; with several hubs the spinner may be on another") {
        return;
    }
    // GREENSHIM_LIVE=0: no socket file, but the live thread still dumps a held hub.
    let bin = compile("live_spin");
    let env = [("GREENSHIM_LIVE", "0"), ("GREENSHIM_DUMP_SIGNAL", "USR2")];
    let mut srv = Server::start(shim_command(&bin, &["-n", "1"], &env));
    let _c = connect(srv.port, 1);
    if !srv.wait_until(Duration::from_secs(10), |s| s.stdout().contains("accepted=1")) {
        panic!("{}", srv.kill_and_describe());
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(socket_of(srv.server_pid).is_none());
    // SAFETY: kill(2) of our own child, still running (the test holds it).
    unsafe { libc::kill(srv.server_pid, libc::SIGUSR2) };
    let done = |s: &mut Server| s.stderr().contains("running (not at a safe point)");
    if !srv.wait_until(Duration::from_secs(5), done) {
        panic!("no dump within 5 s of SIGUSR2\n{}", srv.kill_and_describe());
    }
    let err = srv.stderr();
    assert!(err.contains("greenshim:   g3 \"spinner\" running (not at a safe point) for "), "{err}");
    assert!(err.contains("greenshim:   g2 \"conn\" parked ") && err.contains("greenshim:   g1 \"live_spin\" parked "), "{err}");
}

#[test]
fn sockets_follow_fork_and_are_removed_at_exit() {
    let bin = compile("live_fork");
    let mut srv = Server::spawn(shim_command(&bin, &["3000"], &[]));
    let pid_of = |s: &Server, key: &str| value(&s.stdout(), key).map(|v| v as i32);
    if !srv.wait_until(Duration::from_secs(10), |s| pid_of(s, "child").is_some() && pid_of(s, "parent").is_some()) {
        panic!("{}", srv.kill_and_describe());
    }
    let (parent, child) = (pid_of(&srv, "parent").unwrap(), pid_of(&srv, "child").unwrap());
    for pid in [parent, child] {
        let out = view_once(pid);
        assert!(out.status.success(), "{}", out.describe());
        assert!(out.stdout.starts_with(&format!("greenshim live view of pid {pid} ")), "{}", out.describe());
        let r = rows(&out.stdout);
        assert_eq!(r.len(), 1, "one greenlet each\n{}", out.stdout);
        assert!(r[0].state.starts_with("sleeping"), "{}", out.stdout);
    }
    let (ps, cs) = (socket_of(parent).expect("parent's socket"), socket_of(child).expect("child's socket"));
    assert_ne!(ps, cs);
    let st = srv.finish(Duration::from_secs(10));
    assert!(st.success(), "{}", srv.describe());
    assert!(!ps.exists() && !cs.exists(), "sockets left: {} {}", ps.display(), cs.display());
    // Gone: the launcher says why, in one line, status 1.
    let out = view_once(parent);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
    // The socket of a process killed with SIGKILL stays: the next program started removes it.
    let dead = std::process::Command::new("true").spawn().and_then(|mut c| c.wait().map(|_| c.id())).unwrap();
    let stale = ps.parent().unwrap().join(format!("{dead}.sock"));
    std::fs::write(&stale, b"").unwrap();
    let out = run(shim_command(&bin, &["0"], &[]), Duration::from_secs(10));
    assert!(out.status.success(), "{}", out.describe());
    assert!(!stale.exists(), "stale {} not removed", stale.display());
}

#[test]
fn live_off_and_bad_usage() {
    let bin = compile("live_fork");
    let mut srv = Server::spawn(shim_command(&bin, &["2000"], &[("GREENSHIM_LIVE", "0")]));
    if !srv.wait_until(Duration::from_secs(10), |s| s.stdout().contains("parent=")) {
        panic!("{}", srv.kill_and_describe());
    }
    let pid = srv.server_pid;
    assert!(socket_of(pid).is_none());
    let out = view_once(pid);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    assert!(out.stderr.contains("GREENSHIM_LIVE=0") && out.stderr.lines().count() == 1, "{}", out.describe());
    for (args, what) in [(vec!["-p", "x"], "not a process id"), (vec!["--once", "true"], "--once goes with -p"), (vec!["-p", "1", "true"], "no COMMAND")] {
        let out = run_launcher(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{}", out.describe());
        assert!(out.stderr.contains(what), "{what}: {}", out.describe());
    }
}

#[test]
fn refresh_mode_repeats_until_the_process_ends() {
    let bin = compile("live_fork");
    let mut srv = Server::spawn(shim_command(&bin, &["2500"], &[]));
    if !srv.wait_until(Duration::from_secs(10), |s| s.stdout().contains("parent=")) {
        panic!("{}", srv.kill_and_describe());
    }
    let pid = value(&srv.stdout(), "parent").unwrap() as i32;
    // Not a terminal: no screen clearing, a frame a second, then the end of the process.
    let out = run(launcher_command(&["-p", &pid.to_string()], &[]), Duration::from_secs(15));
    assert!(out.status.success(), "{}", out.describe());
    let frames = out.stdout.matches(&format!("greenshim live view of pid {pid} ")).count();
    assert!((2..=4).contains(&frames), "{frames} frames in about 2.5 s\n{}", out.describe());
    assert!(!out.stdout.contains('\x1b'), "no terminal escapes when not on a terminal");
    assert!(out.stdout.trim_end().ends_with(&format!("greenshim: process {pid} ended")), "{}", out.describe());
    srv.finish(Duration::from_secs(10));
}

/// The live task of a forked child must not keep the child's descriptors open after the child
/// ended (it once shared the child's descriptor table: the parent, having reaped the child,
/// found the child's abstract address still bound and its pipe without EOF).
#[test]
fn a_reaped_childs_descriptors_are_closed() {
    let bin = compile("fork_fds");
    let native = run_native(&bin, &[]);
    let shim = run_shim(&bin, &[], &[]);
    assert_ok(&native);
    assert_ok(&shim);
    assert_eq!(native.stdout, "rounds=50 rebinds=50 eofs=50\n", "{}", native.describe());
    assert_eq!(shim.stdout, native.stdout, "{}", shim.describe());
}
