//! Diagnostics tests (issue 5): `greenshim --trace` (and `-o`, `-e trace=`, `-s`, `-tt`, `-T`),
//! the `-c` summary, the hub-blocking monitor (`--max-blocking-time`) and the greenlet dump on a
//! signal (`--dump-signal`), run through the launcher on the C programs of `tests/c/`.
//!
//! Needs `cargo build --release` first (the preload library is not built by `cargo test`):
//!
//! ```sh
//! cargo build --release && cargo test --release --test diag
//! ```
//!
//! The tests run one at a time (a lock): the monitor test checks timings. Every process is
//! bounded by a timeout and started in a process group of its own, which is killed (by its
//! own id) when the test ends or fails. Servers listen on 127.0.0.1 on a port the kernel picks.

mod common;

use common::server::Server;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn bin_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A fresh scratch directory for one test (under the target dir), removed by [`Scratch::done`].
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let base = target_dir().join("greenshim-diag");
        // Directories of test processes that no longer exist.
        if let Ok(entries) = std::fs::read_dir(&base) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) {
                    if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let dir = base.join(format!("{}-{test}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    /// Remove it (only on success: a failed test leaves its files to look at).
    fn done(self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ------------------------------------------------------------------------------ clients

fn have_nc() -> bool {
    Command::new("nc")
        .arg("-h")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// An echo client that connects at once and sends its payload later: `nc -N 127.0.0.1 PORT`
/// (bounded by `timeout 10`), or a `TcpStream` where nc is missing.
enum Client {
    Nc(Child, Option<ChildStdin>, i32),
    Tcp(TcpStream),
}

impl Client {
    fn connect(port: u16) -> Client {
        if have_nc() {
            let mut cmd = Command::new("timeout");
            cmd.args(["-k", "2", "10", "nc", "-N", "127.0.0.1", &port.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0);
            let mut child = cmd.spawn().expect("start nc");
            let pid = child.id() as i32;
            let stdin = child.stdin.take();
            Client::Nc(child, stdin, pid)
        } else {
            let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            Client::Tcp(s)
        }
    }

    /// Send `payload`, half-close, and return everything received until the server closes.
    fn exchange(mut self, payload: &[u8]) -> Vec<u8> {
        match &mut self {
            Client::Nc(child, stdin, _) => {
                let mut stdin = stdin.take().unwrap();
                stdin.write_all(payload).expect("write to nc");
                drop(stdin);
                let mut out = Vec::new();
                child.stdout.take().unwrap().read_to_end(&mut out).expect("read nc");
                let _ = child.wait();
                out
            }
            Client::Tcp(s) => {
                s.write_all(payload).expect("send");
                s.shutdown(Shutdown::Write).expect("shutdown");
                let mut out = Vec::new();
                let _ = s.read_to_end(&mut out);
                out
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Client::Nc(child, _, pid) = self {
            if let Ok(None) = child.try_wait() {
                // SAFETY: kill(2) of the process group we created, leader not reaped yet.
                unsafe {
                    libc::kill(-*pid, libc::SIGKILL);
                }
                let _ = child.wait();
            }
        }
    }
}

/// One echo round trip on a fresh connection.
fn echo_once(port: u16, payload: &[u8]) -> Vec<u8> {
    Client::connect(port).exchange(payload)
}

// ---------------------------------------------------------------------------- trace lines

/// One trace line: `[gN name] <body>` (call lines) or `[gN] +++ ... +++` (events).
#[derive(Debug, Clone)]
struct TLine {
    g: u64,
    name: Option<String>,
    body: String,
    raw: String,
}

impl TLine {
    fn is_event(&self) -> bool {
        self.body.starts_with("+++ ") && self.body.ends_with(" +++")
    }
    /// The call name of a call line.
    fn call(&self) -> Option<&str> {
        if self.is_event() {
            return None;
        }
        let p = self.body.find('(')?;
        Some(&self.body[..p])
    }
    /// The first argument as an integer (the fd of read/write/accept).
    fn arg0(&self) -> Option<i64> {
        let p = self.body.find('(')?;
        let rest = &self.body[p + 1..];
        let end = rest.find([',', ')'])?;
        rest[..end].trim().parse().ok()
    }
    /// The text after the last `) = `.
    fn ret_text(&self) -> Option<&str> {
        let p = self.body.rfind(") = ")?;
        Some(&self.body[p + 4..])
    }
    /// The integer result.
    fn ret(&self) -> Option<i64> {
        self.ret_text()?.split(' ').next()?.parse().ok()
    }
}

/// Parse `[(pid <P> )?g<N>( <name>)?] <body>` (the pid once the run has more than one process);
/// `None` if the line does not have that form.
fn parse_tline(l: &str) -> Option<TLine> {
    let rest = l.strip_prefix('[')?;
    let rest = match rest.strip_prefix("pid ") {
        Some(r) => {
            let sp = r.find(' ')?;
            r[..sp].parse::<u32>().ok()?;
            &r[sp + 1..]
        }
        None => rest,
    };
    let rest = rest.strip_prefix('g')?;
    let close = rest.find("] ")?;
    let head = &rest[..close];
    let (num, name) = match head.split_once(' ') {
        Some((n, name)) => (n, Some(name.to_string())),
        None => (head, None),
    };
    let g = num.parse().ok()?;
    let body = rest[close + 2..].to_string();
    if body.is_empty() {
        return None;
    }
    Some(TLine { g, name, body, raw: l.to_string() })
}

/// Every line of a trace, each of which must parse (no partial or interleaved lines).
fn parse_trace(text: &str) -> Vec<TLine> {
    text.lines()
        .map(|l| {
            parse_tline(l).unwrap_or_else(|| {
                panic!("trace line `{l}` is not of the form `[gN name] ...`\n--- trace\n{text}")
            })
        })
        .collect()
}

fn read_file(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}

// ==================================================== 1. a traced thread-per-connection server

fn payload(k: usize, size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size + 32);
    let mut i = 0;
    while v.len() < size {
        v.extend_from_slice(format!("client{k}:{i:05}\n").as_bytes());
        i += 1;
    }
    v.truncate(size);
    v
}

#[test]
fn trace_echo_server_three_clients() {
    let _g = serial();
    let scratch = Scratch::new("trace-echo");
    let trace_path = scratch.path("trace");
    let echo = compile("echo_tpc");
    // -n 4: the 4th connection (after the three traced ones have ended) makes the server exit 0.
    let mut srv = Server::start(launcher_command(
        &["--trace", "-o", bin_str(&trace_path), "--", bin_str(&echo), "-n", "4", "-q"],
        &[],
    ));
    let port = srv.port;
    let trace = || parse_trace(&read_file(&trace_path));

    // Three clients connected at once (so the server holds three fds at the same time) ...
    let clients: Vec<Client> = (0..3).map(|_| Client::connect(port)).collect();
    let accepted = |t: &[TLine]| {
        let acc = t.iter().filter(|l| l.call() == Some("accept") && l.ret().is_some_and(|r| r >= 0)).count();
        let spawned = t.iter().filter(|l| l.body == "+++ spawned by g1 +++").count();
        acc >= 3 && spawned >= 3
    };
    if !srv.wait_until(Duration::from_secs(10), |_| accepted(&trace())) {
        let d = srv.kill_and_describe();
        panic!("3 accepts and spawns not traced within 10 s\n{d}\n--- trace\n{}", read_file(&trace_path));
    }
    // ... then each sends a payload of its own size and content.
    let sizes = [1000usize, 3000, 7000];
    let handles: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(k, c)| {
            let p = payload(k, sizes[k]);
            std::thread::spawn(move || (c.exchange(&p), p))
        })
        .collect();
    for (k, h) in handles.into_iter().enumerate() {
        let (got, want) = h.join().expect("client thread");
        if got != want {
            let d = srv.kill_and_describe();
            panic!("client {k}: echo of {} bytes came back as {} bytes\n{d}", want.len(), got.len());
        }
    }
    assert_eq!(echo_once(port, b"bye\n"), b"bye\n", "{}", srv.describe());
    let st = srv.finish(Duration::from_secs(10));
    let text = read_file(&trace_path);
    let report = format!("{}\n--- trace\n{text}", srv.describe());
    assert!(st.success(), "server status {st:?}\n{report}");
    assert!(!srv.stderr().contains("read("), "-o FILE: no trace lines on stderr\n{report}");
    let t = parse_trace(&text);

    // accept k (in g1) is followed by the spawn of the greenlet serving that connection.
    let mut conns: Vec<(i64, u64)> = Vec::new(); // (fd, greenlet)
    let mut last_accept: Option<i64> = None;
    for l in &t {
        if l.g == 1 && l.call() == Some("accept") {
            assert_eq!(l.arg0(), Some(3), "accept on the listening socket: {}\n{report}", l.raw);
            last_accept = l.ret().filter(|&r| r >= 0);
        }
        if l.body == "+++ spawned by g1 +++" {
            let fd = last_accept.take().unwrap_or_else(|| panic!("spawn without an accept before it: {}\n{report}", l.raw));
            conns.push((fd, l.g));
        }
    }
    assert_eq!(conns.len(), 4, "four connections, four spawns: {conns:?}\n{report}");
    let first3 = &conns[..3];
    let fds: BTreeSet<i64> = first3.iter().map(|c| c.0).collect();
    let gs: BTreeSet<u64> = first3.iter().map(|c| c.1).collect();
    assert_eq!(fds.len(), 3, "three connections open at once have three distinct fds: {first3:?}\n{report}");
    assert_eq!(gs.len(), 3, "three distinct greenlets: {first3:?}\n{report}");
    assert!(!gs.contains(&1), "{report}");

    let mut sizes_seen = BTreeSet::new();
    for &(fd, g) in first3 {
        let mine: Vec<&TLine> = t.iter().filter(|l| l.g == g).collect();
        let (mut read_sum, mut write_sum, mut reads, mut writes) = (0i64, 0i64, 0, 0);
        let mut client = None;
        for l in &mine {
            match l.call() {
                Some(c @ ("read" | "write")) => {
                    // `[gN echo_tpc] read(...)`: a new thread's name is its creator's, as natively.
                    assert_eq!(l.name.as_deref(), Some("echo_tpc"), "{}\n{report}", l.raw);
                    assert_eq!(l.arg0(), Some(fd), "g{g} serves fd {fd}: {}\n{report}", l.raw);
                    let r = l.ret().unwrap_or_else(|| panic!("no result in {}\n{report}", l.raw));
                    assert!(r >= 0, "{}\n{report}", l.raw);
                    if c == "read" {
                        read_sum += r;
                        reads += 1;
                        if r > 0 && client.is_none() {
                            // `read(5, "client1:00000\n"...`: which client this greenlet serves.
                            let s = l.body.split_once(", \"client").map(|(_, s)| s.as_bytes()[0]);
                            client = s.map(|b| (b - b'0') as usize);
                        }
                    } else {
                        writes += 1;
                        write_sum += r;
                    }
                }
                _ => {}
            }
        }
        let k = client.unwrap_or_else(|| panic!("g{g}: no read line with a client's data\n{report}"));
        assert!(k < 3, "{report}");
        let size = sizes[k] as i64;
        assert!(reads >= 2 && writes >= 1, "g{g}: {reads} reads, {writes} writes\n{report}");
        assert_eq!(read_sum, size, "g{g} (client {k}): bytes read in total\n{report}");
        assert_eq!(write_sum, size, "g{g} (client {k}): bytes written in total\n{report}");
        let last_read = mine.iter().rev().find(|l| l.call() == Some("read")).unwrap();
        assert_eq!(last_read.ret(), Some(0), "g{g} ends on EOF: {}\n{report}", last_read.raw);
        assert!(
            mine.iter().any(|l| l.body == "+++ exited with 0x0 +++"),
            "g{g}: no `+++ exited with 0x0 +++`\n{report}"
        );
        assert!(mine.iter().any(|l| l.call() == Some("close") && l.arg0() == Some(fd)), "g{g}: close({fd})\n{report}");
        // The spawn event precedes every call line of the greenlet, the exit event follows them.
        let first = t.iter().position(|l| l.g == g).unwrap();
        assert_eq!(t[first].body, "+++ spawned by g1 +++", "{report}");
        let exit = t.iter().position(|l| l.g == g && l.body.starts_with("+++ exited")).unwrap();
        assert!(t[exit + 1..].iter().all(|l| l.g != g), "g{g}: lines after its exit\n{report}");
        sizes_seen.insert(k);
    }
    assert_eq!(sizes_seen.len(), 3, "each client served by its own greenlet\n{report}");
    scratch.done();
}

#[test]
fn trace_filter_accept_only() {
    let _g = serial();
    let scratch = Scratch::new("trace-filter");
    let trace_path = scratch.path("trace");
    let echo = compile("echo_tpc");
    let mut srv = Server::start(launcher_command(
        &["--trace", "-o", bin_str(&trace_path), "-e", "trace=accept", "--", bin_str(&echo), "-n", "3", "-q"],
        &[],
    ));
    let port = srv.port;
    for k in 0..3 {
        let p = payload(k, 500);
        assert_eq!(echo_once(port, &p), p, "{}", srv.describe());
    }
    let st = srv.finish(Duration::from_secs(10));
    let text = read_file(&trace_path);
    let report = format!("{}\n--- trace\n{text}", srv.describe());
    assert!(st.success(), "{report}");
    let t = parse_trace(&text);
    let accepts = t.iter().filter(|l| l.call() == Some("accept")).count();
    assert!(accepts >= 3, "{accepts} accept lines\n{report}");
    for l in &t {
        assert!(l.is_event() || l.body.starts_with("accept("), "-e trace=accept kept `{}`\n{report}", l.raw);
    }
    scratch.done();
}

// =================================================================== 2. the -c summary

/// The rows of the `-c` table: call name -> column name -> cell (trimmed; "" if blank), and the
/// `hub:` line. Columns are cut at the dashes of the separator line.
fn parse_summary(text: &str) -> (BTreeMap<String, BTreeMap<String, String>>, Option<String>) {
    let lines: Vec<&str> = text.lines().collect();
    let Some(h) = lines.iter().position(|l| l.starts_with("% time")) else {
        return (BTreeMap::new(), None);
    };
    let header = lines[h];
    let dashes = lines.get(h + 1).copied().unwrap_or("");
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in dashes.char_indices().chain(std::iter::once((dashes.len(), ' '))) {
        match (c, start) {
            ('-', None) => start = Some(i),
            (' ', Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    let cell = |l: &str, (s, e): (usize, usize), last: bool| -> String {
        let e = if last { l.len() } else { e.min(l.len()) };
        l.get(s.min(l.len())..e).unwrap_or("").trim().to_string()
    };
    let names: Vec<String> = spans.iter().enumerate().map(|(i, &sp)| cell(header, sp, i + 1 == spans.len())).collect();
    let mut rows = BTreeMap::new();
    for l in &lines[h + 2..] {
        if l.starts_with("------") {
            continue;
        }
        if l.starts_with("hub:") || !l.starts_with(|c: char| c == ' ' || c.is_ascii_digit()) {
            break;
        }
        let cells: BTreeMap<String, String> =
            spans.iter().enumerate().map(|(i, &sp)| (names[i].clone(), cell(l, sp, i + 1 == spans.len()))).collect();
        let call = cells.get("call").cloned().unwrap_or_default();
        rows.insert(call, cells);
    }
    let hub = lines.iter().find(|l| l.starts_with("hub:")).map(|l| l.to_string());
    (rows, hub)
}

fn hub_figure(hub: &str, name: &str) -> Option<i64> {
    let rest = &hub[hub.find(name)? + name.len()..];
    rest.trim_start().split([',', ' ']).next()?.parse().ok()
}

fn check_summary(text: &str, report: &str) {
    let (rows, hub) = parse_summary(text);
    let calls = |c: &str| -> Option<i64> { rows.get(c)?.get("calls")?.parse().ok() };
    for (call, n) in [("usleep", 7), ("nanosleep", 3), ("read", 5), ("write", 5), ("pthread_create", 2), ("pthread_join", 2), ("pipe", 1)] {
        assert_eq!(calls(call), Some(n), "`calls` of {call}\n{report}");
    }
    for (call, row) in &rows {
        if call != "total" {
            assert!(row.get("errors").is_some_and(|e| e.is_empty() || e == "0"), "no call failed: {call} {row:?}\n{report}");
        }
    }
    let sum: i64 = rows.iter().filter(|(c, _)| *c != "total").filter_map(|(_, r)| r.get("calls")?.parse::<i64>().ok()).sum();
    assert_eq!(calls("total"), Some(sum), "the total row adds up the calls\n{report}");
    // 7 usleeps + 3 nanosleeps all park; so does at least one pthread_join.
    let parks = |c: &str| -> Option<i64> { rows.get(c)?.get("parks")?.parse().ok() };
    assert_eq!(parks("usleep"), Some(7), "{report}");
    assert_eq!(parks("nanosleep"), Some(3), "{report}");
    if common::test_hubs() > 1 {
        // the `hub:` line's figures (greenlets spawned, peak live) are one hub's
        eprintln!("SKIPPED the `hub:` line checks with {} hubs: its figures are one hub's", common::test_hubs());
        return;
    }
    let hub = hub.unwrap_or_else(|| panic!("no `hub:` line\n{report}"));
    assert_eq!(hub_figure(&hub, "greenlets spawned"), Some(2), "two threads created: {hub}\n{report}");
    let peak = hub_figure(&hub, "peak live").unwrap_or_else(|| panic!("peak live: {hub}\n{report}"));
    assert!((2..=3).contains(&peak), "{hub}\n{report}");
    for f in ["switches", "epoll waits", "stacks allocated", "stacks reused"] {
        assert!(hub_figure(&hub, f).is_some(), "`{f}` in {hub}\n{report}");
    }
}

#[test]
fn summary_counts_calls() {
    let _g = serial();
    let bin = compile("diag_counts");
    let out = run_launcher(&["-c", "--", bin_str(&bin)], &[]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert_eq!(out.stdout, "ok\n", "{}", out.describe());
    check_summary(&out.stderr, &out.describe());

    // The same through the variable, and to a file with -o.
    let scratch = Scratch::new("summary");
    let file = scratch.path("summary");
    let out = run_launcher(&["-c", "-o", bin_str(&file), "--", bin_str(&bin)], &[]);
    let text = read_file(&file);
    let report = format!("{}\n--- file\n{text}", out.describe());
    assert_eq!(out.code(), Some(0), "{report}");
    assert_eq!(out.stderr, "", "-c -o FILE: the table goes to the file\n{report}");
    check_summary(&text, &report);
    let out = run_shim(&bin, &[], &[("GREENSHIM_SUMMARY", "1")]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    check_summary(&out.stderr, &out.describe());
    scratch.done();
}

// ======================================================== 3. the hub-blocking monitor

const REPORT_MARK: &str = "has held the hub for ";

#[test]
fn monitor_reports_a_spinning_greenlet_once() {
    let _g = serial();
    let bin = compile("diag_spin");
    let mut p = Server::spawn(launcher_command(&["--max-blocking-time", "100", "--", bin_str(&bin), "500"], &[]));
    let st = p.finish(Duration::from_secs(10));
    let report = p.describe();
    assert!(st.success(), "{report}");
    assert!(p.stdout().contains("ok\n"), "{report}");
    let reports: Vec<(Instant, String)> = p.stderr_lines().into_iter().filter(|(_, l)| l.contains(REPORT_MARK)).collect();
    assert_eq!(reports.len(), 1, "exactly one report for one 500 ms episode\n{report}");
    let (when, line) = &reports[0];
    let after = when.duration_since(p.started);
    assert!(after < Duration::from_secs(1), "report {:.3} s after the start (want < 1 s)\n{report}", after.as_secs_f64());
    assert!(line.starts_with("greenshim: "), "{report}");
    let ms: u64 = line[line.find(REPORT_MARK).unwrap() + REPORT_MARK.len()..]
        .split(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no duration in {line}"));
    assert!((100..1000).contains(&ms), "held for {ms} ms: {line}");
    // Nothing else on stderr.
    assert_eq!(p.stderr().lines().count(), 1, "{report}");
    // Last: the name the thread gave itself after it started running.
    assert!(line.contains("g2 \"spinner\""), "the report names the spinner (`g2 \"spinner\"`, set with pthread_setname_np): {line}");
}

/// The monitor's watchdog thread is greenshim's: a process-directed signal every thread of the
/// program blocks (taken with `sigwait`, as MariaDB's signal thread takes SIGTERM at shutdown)
/// never runs the program's handler there. It did now and then (MariaDB aborted in glibc's
/// `pthread_mutex_lock`, called by its handler on the watchdog thread).
#[test]
fn monitor_thread_takes_none_of_the_programs_signals() {
    let _g = serial();
    let bin = compile("diag_monitor_signal");
    let n = run_native(&bin, &[]);
    assert_eq!(n.code(), Some(0), "{}", n.describe());
    for _ in 0..3 {
        let s = run_shim(&bin, &[], &[("GREENSHIM_MAX_BLOCKING_MS", "100")]);
        assert_eq!(s.code(), Some(0), "{}", s.describe());
        assert_eq!(s.stdout, n.stdout, "native:\n{}\nshim:\n{}", n.describe(), s.describe());
    }
}

#[test]
fn monitor_off_prints_nothing() {
    let _g = serial();
    let bin = compile("diag_spin");
    let out = run_launcher(&["--", bin_str(&bin), "500"], &[]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert_eq!(out.stderr, "", "monitor off: nothing on stderr\n{}", out.describe());
    // And through the variable, with the preload library directly.
    let out = run_shim(&bin, &["300"], &[("GREENSHIM_MAX_BLOCKING_MS", "100")]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert_eq!(out.stderr.matches(REPORT_MARK).count(), 1, "{}", out.describe());
}

// ======================================================== 4. the dump signal

/// The dump lines (`greenshim:   gN "name" parked T ms: WHAT`) after the `n`-th dump header.
fn dump_lines(stderr: &str, n: usize) -> Option<Vec<String>> {
    let mut lines = stderr.lines();
    let mut seen = 0;
    for l in lines.by_ref() {
        if l.contains("greenlet dump") {
            seen += 1;
            if seen == n {
                break;
            }
        }
    }
    if seen < n {
        return None;
    }
    Some(lines.take_while(|l| l.starts_with("greenshim:   g")).map(str::to_string).collect())
}

/// `fd N (read)` in a dump line.
fn waits_read_on(line: &str) -> Option<i64> {
    let rest = &line[line.find(": fd ")? + 5..];
    let (n, dir) = rest.split_once(' ')?;
    (dir == "(read)").then(|| n.parse().ok()).flatten()
}

#[test]
fn dump_signal_lists_idle_clients() {
    let _g = serial();
    let echo = compile("echo_tpc");
    let mut srv = Server::start(launcher_command(&["--dump-signal", "USR2", "--", bin_str(&echo), "-q"], &[]));
    let port = srv.port;
    let mut idle: Vec<TcpStream> = (0..3)
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s
        })
        .collect();
    // The server accepts them asynchronously: dump until the dump shows all three (at most a
    // few tries; each dump is complete in itself).
    let mut dump = Vec::new();
    let mut n = 0;
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(100));
        n += 1;
        srv.signal(libc::SIGUSR2);
        if !srv.wait_until(Duration::from_secs(5), |b| dump_lines(&b.stderr(), n).is_some_and(|d| d.len() >= 4)) {
            let d = srv.kill_and_describe();
            panic!("no dump with 4 greenlets within 5 s of SIGUSR2\n{d}");
        }
        std::thread::sleep(Duration::from_millis(50));
        dump = dump_lines(&srv.stderr(), n).unwrap();
        if dump.iter().filter(|l| waits_read_on(l).is_some()).count() >= 4 {
            break;
        }
    }
    let report = srv.describe();
    assert_eq!(dump.len(), 4, "main and the three connections\n{report}");
    let main = dump.iter().find(|l| l.starts_with("greenshim:   g1 ")).unwrap_or_else(|| panic!("no g1\n{report}"));
    let listen = waits_read_on(main).unwrap_or_else(|| panic!("main waits in accept: `fd N (read)`: {main}\n{report}"));
    let mut fds = BTreeSet::new();
    let mut gs = BTreeSet::new();
    for l in dump.iter().filter(|l| !l.starts_with("greenshim:   g1 ")) {
        let fd = waits_read_on(l).unwrap_or_else(|| panic!("a connection's greenlet waits to read: {l}\n{report}"));
        assert!(l.contains(" parked ") && l.contains(" ms: fd "), "{l}\n{report}");
        assert_ne!(fd, listen, "{report}");
        fds.insert(fd);
        gs.insert(l["greenshim:   ".len()..].split(' ').next().unwrap().to_string());
    }
    assert_eq!(fds.len(), 3, "three distinct fds\n{report}");
    assert_eq!(gs.len(), 3, "three distinct greenlets\n{report}");

    // The server keeps working: a 4th client, and the idle ones.
    assert_eq!(echo_once(port, b"fourth\n"), b"fourth\n", "{}", srv.describe());
    for (k, s) in idle.iter_mut().enumerate() {
        let msg = format!("idle {k}\n");
        s.write_all(msg.as_bytes()).unwrap();
        let mut buf = vec![0u8; msg.len()];
        s.read_exact(&mut buf).unwrap_or_else(|e| panic!("idle client {k}: {e}\n{}", srv.describe()));
        assert_eq!(buf, msg.as_bytes());
    }
    assert!(srv.stderr().lines().all(|l| l.starts_with("greenshim:")), "{}", srv.describe());
    srv.kill();
}

// ========================================================== 5. stdout is untouched

#[test]
fn traced_stdout_is_byte_identical() {
    let _g = serial();
    let bin = compile("diag_output");
    let native = run_native(&bin, &[]);
    assert_eq!(native.code(), Some(0), "{}", native.describe());
    assert_eq!(native.stdout.lines().count(), 2 + 4 * 10, "{}", native.describe());
    let plain = run_launcher(&["--", bin_str(&bin)], &[]);
    let traced = run_launcher(&["--trace", "--", bin_str(&bin)], &[]);
    let scratch = Scratch::new("stdout");
    let file = scratch.path("trace");
    let to_file = run_launcher(&["--trace", "-tt", "-T", "-o", bin_str(&file), "--", bin_str(&bin)], &[]);
    for out in [&plain, &traced, &to_file] {
        assert_eq!(out.code(), Some(0), "{}", out.describe());
        assert!(out.stdout == native.stdout, "stdout differs from the native run\n--- native\n{}\n{}", native.stdout, out.describe());
    }
    assert_eq!(plain.stderr, "", "{}", plain.describe());
    assert_eq!(to_file.stderr, "", "{}", to_file.describe());
    // The trace really ran: every write to fd 1 is in it (stdout is a pipe here): the 20 raw
    // ones and, caught inside libc, the 22 of stdio's fflush (20 lines, "start", "end").
    let t = parse_trace(&traced.stderr);
    let writes = t.iter().filter(|l| l.call() == Some("write") && l.arg0() == Some(1)).count();
    assert_eq!(writes, 42, "42 write(1, ...) lines\n{}", traced.describe());
    // (-tt: the body starts with the time, then the call)
    let f = parse_trace(&read_file(&file));
    let writes = f.iter().filter(|l| l.body.contains(" write(1, \"thread ")).count();
    assert_eq!(writes, 40, "{}", read_file(&file));
    scratch.done();
}

// ===================================================================== 6. bad values

#[test]
fn bad_values_are_refused() {
    let _g = serial();
    let bin = compile("diag_output");
    let b = bin_str(&bin);
    for (args, names) in [
        (vec!["--max-blocking-time", "0"], "--max-blocking-time"),
        (vec!["--max-blocking-time=0"], "--max-blocking-time"),
        (vec!["-s", "abc"], "-s"),
        (vec!["--dump-signal", "KILL"], "--dump-signal"),
        (vec!["--dump-signal", "SEGV"], "--dump-signal"),
        (vec!["-e", "trace=nosuchcall"], "nosuchcall"),
    ] {
        let mut a = args.clone();
        a.extend(["--", b]);
        let out = run_launcher(&a, &[]);
        assert_eq!(out.code(), Some(2), "{}", out.describe());
        assert_eq!(out.stdout, "", "the program must not run\n{}", out.describe());
        assert_eq!(out.stderr.lines().count(), 1, "one line\n{}", out.describe());
        assert!(out.stderr.contains(names), "names `{names}`\n{}", out.describe());
    }
    for (var, val) in [
        ("GREENSHIM_TRACE", "maybe"),
        ("GREENSHIM_SUMMARY", "2"),
        ("GREENSHIM_TRACE_STRSIZE", "abc"),
        ("GREENSHIM_MAX_BLOCKING_MS", "0"),
        ("GREENSHIM_DUMP_SIGNAL", "KILL"),
    ] {
        for out in [run_launcher(&["--", b], &[(var, val)]), run_shim(&bin, &[], &[(var, val)])] {
            assert_eq!(out.code(), Some(2), "{}", out.describe());
            assert_eq!(out.stdout, "", "the program must not run\n{}", out.describe());
            assert_eq!(out.stderr.lines().count(), 1, "one line\n{}", out.describe());
            assert!(out.stderr.contains(var), "names {var}\n{}", out.describe());
        }
    }
}

// ==================================================================== 7. line format

fn format_run(extra: &[&str]) -> (Output, Vec<TLine>, i64, i64, i64) {
    let bin = compile("diag_format");
    let mut a = vec!["--trace"];
    a.extend_from_slice(extra);
    a.extend(["--", bin_str(&bin)]);
    let out = run_launcher(&a, &[("TZ", "UTC")]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let t = parse_trace(&out.stderr);
    let v = |k| stdout_value(&out, k).unwrap_or_else(|| panic!("{k}=\n{}", out.describe()));
    let (h, e, w) = (v("http_fd"), v("eagain_fd"), v("wait_fd"));
    (out, t, h, e, w)
}

fn find<'a>(t: &'a [TLine], pred: impl Fn(&TLine) -> bool) -> Option<&'a TLine> {
    t.iter().find(|l| pred(l))
}

/// `<parked S.UUUUUU>` → seconds.
fn parked_secs(l: &TLine) -> Option<f64> {
    let rest = &l.body[l.body.find(" <parked ")? + 9..];
    let v = &rest[..rest.find('>')?];
    let (s, us) = v.split_once('.')?;
    (us.len() == 6).then_some(())?;
    Some(s.parse::<f64>().ok()? + us.parse::<f64>().ok()? / 1e6)
}

#[test]
fn trace_line_format() {
    let _g = serial();
    let (out, t, http, eagain, wait) = format_run(&[]);
    let d = out.describe();
    let prog = "diag_format";
    let want = format!("[g1 {prog}] write({http}, \"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n\", 27) = 27");
    assert!(t.iter().any(|l| l.raw == want), "want the line\n{want}\n{d}");
    let l = find(&t, |l| l.call() == Some("read") && l.arg0() == Some(eagain) && l.ret() == Some(-1))
        .unwrap_or_else(|| panic!("EAGAIN read on fd {eagain}\n{d}"));
    assert_eq!(l.ret_text(), Some("-1 EAGAIN (Resource temporarily unavailable)"), "{}\n{d}", l.raw);
    assert!(parked_secs(l).is_none(), "{}", l.raw);
    let l = find(&t, |l| l.call() == Some("read") && l.arg0() == Some(wait))
        .unwrap_or_else(|| panic!("read on fd {wait}\n{d}"));
    assert!(l.g != 1, "{}", l.raw);
    assert!(l.body.starts_with(&format!("read({wait}, \"ping\", 15) = 4 <parked 0.")), "{}\n{d}", l.raw);
    let p = parked_secs(l).unwrap_or_else(|| panic!("{}", l.raw));
    assert!((0.020..2.0).contains(&p), "parked {p} s: {}", l.raw);
    // Reads that did not wait have no <parked> suffix.
    let l = find(&t, |l| l.call() == Some("read") && l.arg0() == Some(eagain) && l.ret() == Some(27)).unwrap();
    assert!(!l.body.contains("<parked"), "{}", l.raw);
    assert!(l.body.ends_with(") = 27"), "{}", l.raw);

    // -s 8
    let (out, t, http, _, _) = format_run(&["-s", "8"]);
    let want = format!("[g1 {prog}] write({http}, \"GET / HT\"..., 27) = 27");
    assert!(t.iter().any(|l| l.raw == want), "want the line\n{want}\n{}", out.describe());
    let l = find(&t, |l| l.call() == Some("read") && l.ret() == Some(4)).unwrap();
    assert!(l.body.contains("\"ping\", 15"), "shorter than -s: not cut: {}", l.raw);

    // -tt and -T
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (out, t, http, _, _) = format_run(&["-tt", "-T"]);
    let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let d = out.describe();
    for l in &t {
        // HH:MM:SS.uuuuuu then the rest
        let (ts, rest) = l.body.split_once(' ').unwrap_or_else(|| panic!("{}", l.raw));
        let b = ts.as_bytes();
        let shape = b.len() == 15
            && b[2] == b':'
            && b[5] == b':'
            && b[8] == b'.'
            && b.iter().enumerate().all(|(i, c)| [2, 5, 8].contains(&i) || c.is_ascii_digit());
        assert!(shape, "-tt: `HH:MM:SS.uuuuuu` after the prefix: {}\n{d}", l.raw);
        let secs = |s: &str| s.parse::<u64>().unwrap();
        let day = secs(&ts[0..2]) * 3600 + secs(&ts[3..5]) * 60 + secs(&ts[6..8]);
        let ok = (before - 1..=after + 1).any(|s| s % 86400 == day);
        assert!(ok, "-tt: {ts} is not the wall-clock time (TZ=UTC): {}", l.raw);
        let call_line = !(rest.starts_with("+++ ") && rest.ends_with(" +++"));
        if call_line {
            let tail = &rest[rest.rfind(" <").unwrap_or_else(|| panic!("-T: {}", l.raw)) + 2..];
            let v = tail.strip_suffix('>').unwrap_or_else(|| panic!("-T: {}", l.raw));
            let (s, us) = v.split_once('.').unwrap_or_else(|| panic!("-T: {}", l.raw));
            assert!(s.parse::<u64>().is_ok() && us.len() == 6 && us.parse::<u64>().is_ok(), "-T: `<S.UUUUUU>` at the end: {}", l.raw);
        } else {
            assert!(!rest.contains(" <"), "events have no duration: {}", l.raw);
        }
    }
    let w = find(&t, |l| l.body.contains(&format!("write({http}, \"GET"))).unwrap_or_else(|| panic!("{d}"));
    assert!(w.body.ends_with(">") && w.body.contains(") = 27 <0.0"), "-T: `= 27 <0.0...>`: {}", w.raw);
    let r = find(&t, |l| l.body.contains("read(") && l.body.contains("\"ping\"")).unwrap();
    assert!(r.body.contains("<parked 0.") && r.body.matches(" <").count() == 2, "{}", r.raw);
}

/// With a large `-s`, a long string (2000 bytes of 0xff, 4 characters each once escaped) is cut
/// to fit the line; the line still ends with the call's result, as strace's does.
#[test]
fn trace_long_strings_keep_the_result() {
    let _g = serial();
    let (out, t, http, eagain, _) = format_run(&["-s", "4096"]);
    let d = out.describe();
    let w = find(&t, |l| l.call() == Some("write") && l.arg0() == Some(http) && l.body.contains("\\377"))
        .unwrap_or_else(|| panic!("write of 2000 bytes of 0xff on fd {http}\n{d}"));
    assert!(w.body.starts_with(&format!("write({http}, \"\\377\\377")), "{}", w.raw);
    assert!(w.body.ends_with(", 2000) = 2000"), "the result is on the line: ...{}", &w.raw[w.raw.len().saturating_sub(80)..]);
    let r = find(&t, |l| l.call() == Some("read") && l.arg0() == Some(eagain) && l.body.contains("\\377"))
        .unwrap_or_else(|| panic!("read of 2000 bytes on fd {eagain}\n{d}"));
    assert!(r.body.ends_with(", 4096) = 2000"), "the result is on the line: ...{}", &r.raw[r.raw.len().saturating_sub(80)..]);
}

/// A program that runs another (fork + exec) under `--trace -o FILE`: the child inherits the
/// settings and opens the same file; the parent's lines written before must stay in it.
#[test]
fn trace_file_keeps_lines_across_exec() {
    let _g = serial();
    let bin = compile("diag_exec");
    let scratch = Scratch::new("exec");
    let file = scratch.path("trace");
    let out = run_launcher(&["--trace", "-o", bin_str(&file), "--", bin_str(&bin)], &[]);
    let text = read_file(&file);
    let report = format!("{}\n--- trace\n{text}", out.describe());
    assert_eq!(out.code(), Some(0), "{report}");
    assert_eq!(out.stdout, "ok\n", "{report}");
    let t = parse_trace(&text);
    for want in ["usleep(2000) = 0", "usleep(1000) = 0", "usleep(3000) = 0"] {
        assert!(t.iter().any(|l| l.body.starts_with(want)), "`{want}` in the trace file\n{report}");
    }
    scratch.done();
}
