//! Real servers on one OS thread (issue 4): a C thread-pool echo server (mutex + condvar queue
//! of accepted fds), `python3 -m http.server` (ThreadingHTTPServer) and a Python
//! `socketserver.ThreadingTCPServer` echo server, run natively and under greenshim, each
//! serving hundreds of concurrent clients; under greenshim the server must have one OS thread
//! (`Threads:` of /proc/PID/status) while it serves them.
//!
//! Needs `cargo build --release` first (the preload library is not built by `cargo test`):
//!
//! ```sh
//! cargo build --release && cargo test --release --test servers
//! ```
//!
//! The tests run one at a time (a lock), every process is bounded by a timeout, and servers are
//! started in process groups of their own that are killed (SIGKILL, by PID) when a test ends.

mod common;

use common::server::{port_line, proc_threads, Server};
use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Python interpreter itself (`sys.executable` of `python3`), not a wrapper script such as
/// a pyenv shim, so that the server's PID is the interpreter's.
fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let mut cmd = Command::new("python3");
        cmd.args(["-c", "import sys; print(sys.executable)"]);
        let out = run(cmd, Duration::from_secs(20));
        let p = PathBuf::from(out.stdout.trim());
        assert!(
            out.code() == Some(0) && p.is_file(),
            "python3 is needed for these tests\n{}",
            out.describe()
        );
        p
    })
}

/// Number of sockets open in process PID.
fn proc_sockets(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .map(|t| t.to_string_lossy().starts_with("socket:"))
                        .unwrap_or(false)
                })
                .count()
        })
        .unwrap_or(0)
}

fn has_shim_loaded(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map(|m| m.contains("libgreenshim.so"))
        .unwrap_or(false)
}

// ------------------------------------------------------------------- a background server

/// Start `cmd` (see [`Server`]) and wait (up to 15 s) for a stdout line from which `port_of`
/// reads the port. With `via_launcher`, the server is the launcher's child process.
fn start_server(cmd: Command, via_launcher: bool, port_of: fn(&str) -> Option<u16>) -> Server {
    let mut srv = Server::spawn(cmd);
    srv.wait_port(port_of, Duration::from_secs(15));
    if via_launcher {
        srv.follow_launcher();
    }
    srv
}

/// http.server's "Serving HTTP on 127.0.0.1 port 43211 (http://127.0.0.1:43211/) ...".
fn http_server_port_line(l: &str) -> Option<u16> {
    let rest = &l[l.find(" port ")? + 6..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Samples `Threads:` of a process every 2 ms until stopped: (highest value seen, samples).
struct ThreadSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(i64, usize)>,
}

impl ThreadSampler {
    fn start(pid: i32) -> ThreadSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut max, mut n) = (-1, 0);
            while !s.load(Ordering::Relaxed) {
                if let Some(t) = proc_threads(pid) {
                    max = max.max(t);
                    n += 1;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (max, n)
        });
        ThreadSampler { stop, handle }
    }

    fn finish(self) -> (i64, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("sampler thread")
    }
}

// -------------------------------------------- 1. the thread-pool echo server (echo_pool.c)

fn pool_command(mode: Mode, args: &[&str]) -> Command {
    command(mode, &compile("echo_pool"), args)
}

/// Payload of connection `i`: 1..=32 KiB of pseudo-random bytes (distinct per connection).
/// 32 KiB fits the loopback socket buffers, so a client may write all of it before reading.
fn payload(i: usize) -> Vec<u8> {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(2_685_821_657_736_338_717)
    };
    let len = 1 + (next() % 32768) as usize;
    (0..len).map(|_| (next() >> 56) as u8).collect()
}

struct PoolRun {
    failures: Vec<String>,
    /// Threads: of the server once all clients were connected and accepted.
    threads_connected: Option<i64>,
    sockets_connected: usize,
    /// Highest Threads: sampled from the first connect until the last echo.
    threads_max: i64,
    samples: usize,
    elapsed: Duration,
}

/// `count` blocking clients, one thread each, against a server that may serve only a few at a
/// time: each connects and sends the first 100 bytes (at most) of its payload; once all are
/// connected (a barrier) and the server has accepted them all, the server's Threads: is read;
/// then all send the rest, shut down their write side and read the echo until EOF, which must
/// equal the payload. The clients never wait for each other's echoes, so a server that serves
/// W at a time and queues the others completes them all.
fn pool_clients(port: u16, count: usize, server_pid: i32) -> PoolRun {
    let start = Instant::now();
    let sampler = ThreadSampler::start(server_pid);
    let connected = Arc::new(Barrier::new(count + 1));
    let go = Arc::new(Barrier::new(count + 1));
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut handles = Vec::with_capacity(count);
    for i in 0..count {
        let (connected, go) = (connected.clone(), go.clone());
        let h = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || -> Result<(), String> {
                let msg = payload(i);
                let first = msg.len().min(100);
                let setup = (|| -> std::io::Result<TcpStream> {
                    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
                    s.set_nodelay(true)?;
                    s.set_read_timeout(Some(Duration::from_secs(20)))?;
                    s.set_write_timeout(Some(Duration::from_secs(20)))?;
                    s.write_all(&msg[..first])?;
                    Ok(s)
                })();
                // Always pass both barriers, so that one failed client cannot hang the others.
                connected.wait();
                go.wait();
                let mut s = setup.map_err(|e| format!("connect / first bytes: {e}"))?;
                s.write_all(&msg[first..])
                    .map_err(|e| format!("sending the rest: {e}"))?;
                s.shutdown(Shutdown::Write)
                    .map_err(|e| format!("shutdown: {e}"))?;
                let mut got = Vec::with_capacity(msg.len());
                s.read_to_end(&mut got)
                    .map_err(|e| format!("reading the echo ({} bytes so far): {e}", got.len()))?;
                if got != msg {
                    let at = got.iter().zip(&msg).take_while(|(a, b)| a == b).count();
                    return Err(format!(
                        "echo differs: sent {} bytes, got {}, first difference at byte {at}",
                        msg.len(),
                        got.len()
                    ));
                }
                Ok(())
            })
            .expect("spawn client thread");
        handles.push(h);
    }
    connected.wait();
    // The server accepts asynchronously: wait (up to 5 s) until it holds all connections.
    let until = Instant::now() + Duration::from_secs(5);
    let mut sockets = proc_sockets(server_pid);
    while sockets < count + 1 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
        sockets = proc_sockets(server_pid);
    }
    let threads_connected = proc_threads(server_pid);
    go.wait();
    let mut failures = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("client {i}: {e}")),
            Err(_) => failures.push(format!("client {i}: panicked")),
        }
    }
    let (threads_max, samples) = sampler.finish();
    PoolRun {
        failures,
        threads_connected,
        sockets_connected: sockets,
        threads_max,
        samples,
        elapsed: start.elapsed(),
    }
}

/// echo_pool with a pool of `workers` serves `count` concurrent clients of `pool_clients`.
fn check_pool(mode: Mode, workers: usize, count: usize) {
    let (w, n) = (workers.to_string(), count.to_string());
    let mut srv = start_server(pool_command(mode, &["-w", &w, "-n", &n]), false, port_line);
    let pid = srv.server_pid;
    if mode == Mode::Shim {
        assert!(
            has_shim_loaded(pid),
            "libgreenshim.so is not loaded in the server"
        );
    }
    let r = pool_clients(srv.port, count, pid);
    let st = srv.finish(Duration::from_secs(15));
    let (out, d) = (srv.stdout(), srv.describe());
    let report = format!(
        "mode {mode:?}, {workers} workers, {count} clients: {} failed; server Threads: {:?} with \
         {} sockets once all were connected, at most {} over {} samples; clients took {:.3} s\n{}\n{d}",
        r.failures.len(),
        r.threads_connected,
        r.sockets_connected,
        r.threads_max,
        r.samples,
        r.elapsed.as_secs_f64(),
        r.failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
    );
    eprintln!("{}", report.lines().next().unwrap_or_default());
    assert!(r.failures.is_empty(), "{report}");
    assert!(st.success(), "server exit status {st:?}\n{report}");
    assert!(
        out.contains(&format!(
            "served={count} workers={workers} max_busy={workers} "
        )),
        "want served={count} workers={workers} max_busy={workers}\n{report}"
    );
    assert_eq!(value(&out, "errors"), Some(0), "{report}");
    let max_queued = value(&out, "max_queued").unwrap_or(-1);
    assert!(
        max_queued >= (count - workers) as i64,
        "all {count} clients were connected at once with {workers} workers: want \
         max_queued >= {}, got {max_queued}\n{report}",
        count - workers
    );
    assert!(
        r.sockets_connected > count,
        "want the server to hold {count} accepted sockets + its listening one\n{report}"
    );
    assert!(r.samples > 0, "no Threads: sample\n{report}");
    match mode {
        Mode::Native => {
            assert_eq!(
                r.threads_connected,
                Some(1 + workers as i64),
                "natively: the main thread and {workers} workers\n{report}"
            );
        }
        Mode::Shim => {
            let hubs = common::expected_os_threads();
            assert_eq!(r.threads_connected, Some(hubs), "{report}");
            assert_eq!(r.threads_max, hubs, "Threads: while serving\n{report}");
            assert_eq!(value(&out, "threads_at_last_accept"), Some(hubs), "{report}");
            assert_eq!(value(&out, "threads_at_exit"), Some(hubs), "{report}");
        }
    }
}

#[test]
fn pool_echo_500_clients_8_workers_native() {
    let _g = serial();
    check_pool(Mode::Native, 8, 500);
}

#[test]
fn pool_echo_500_clients_8_workers_shim() {
    let _g = serial();
    check_pool(Mode::Shim, 8, 500);
}

/// net_client waits until its first byte is echoed on EVERY connection before it sends the
/// rest, so against a pool it needs a worker per connection: 500 workers, all parked on the
/// queue's condition variable, woken one per accepted connection.
fn check_pool_net_client(mode: Mode) {
    let mut srv = start_server(
        pool_command(mode, &["-w", "500", "-n", "500"]),
        false,
        port_line,
    );
    let (port, pid) = (srv.port.to_string(), srv.server_pid.to_string());
    let client = run(
        native_command(
            &compile("net_client"),
            &["-p", &port, "-c", "500", "-s", "4", "-P", &pid, "-t", "25"],
        ),
        Duration::from_secs(40),
    );
    if client.code() != Some(0) {
        let d = srv.kill_and_describe();
        panic!("net_client failed ({mode:?})\n{}\n{d}", client.describe());
    }
    let st = srv.finish(Duration::from_secs(15));
    let out = srv.stdout();
    let report = format!("{}\n{}", client.describe(), srv.describe());
    eprintln!(
        "mode {mode:?}: net_client -c 500 against 500 workers: {} in {:.3} s, server_threads={:?}",
        client.stdout.lines().last().unwrap_or_default(),
        client.elapsed.as_secs_f64(),
        value(&client.stdout, "server_threads")
    );
    assert!(st.success(), "{report}");
    assert!(client.stdout.contains("ok 500\n"), "{report}");
    assert!(
        out.contains("served=500 workers=500 max_busy=500 "),
        "{report}"
    );
    assert_eq!(value(&out, "errors"), Some(0), "{report}");
    let threads = value(&client.stdout, "server_threads");
    match mode {
        Mode::Native => assert_eq!(threads, Some(501), "{report}"),
        Mode::Shim => {
            assert_eq!(threads, Some(common::expected_os_threads()), "{report}");
            assert_eq!(value(&out, "threads_at_exit"), Some(common::expected_os_threads()), "{report}");
        }
    }
}

#[test]
fn pool_echo_net_client_500_workers_native() {
    let _g = serial();
    check_pool_net_client(Mode::Native);
}

#[test]
fn pool_echo_net_client_500_workers_shim() {
    let _g = serial();
    check_pool_net_client(Mode::Shim);
}

// ------------------------------------------------- 2. python3 -m http.server, 200 clients

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicI64 = AtomicI64::new(0);
        let p = std::env::temp_dir().join(format!(
            "greenshim-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A known file of a few KB: lines of text, each numbered.
fn index_html() -> String {
    let mut s = String::from("<!doctype html>\n<html><body><pre>\n");
    for i in 0..120 {
        s.push_str(&format!(
            "line {i:04}: greenshim serves this from one OS thread\n"
        ));
    }
    s.push_str("</pre></body></html>\n");
    s
}

fn check_http_server(mode: Mode) {
    let dir = TempDir::new("http");
    let file = dir.0.join("index.html");
    std::fs::write(&file, index_html()).expect("write index.html");
    let py = python();
    let dir_s = dir.0.to_string_lossy().into_owned();
    let py_s = py.to_string_lossy().into_owned();
    let server_args = [
        "-m",
        "http.server",
        "0",
        "--bind",
        "127.0.0.1",
        "--directory",
        &dir_s,
    ];
    let mut cmd = match mode {
        Mode::Native => native_command(py, &server_args),
        Mode::Shim => {
            let mut a = vec!["--", &py_s];
            a.extend_from_slice(&server_args);
            launcher_command(&a, &[])
        }
    };
    cmd.env("PYTHONUNBUFFERED", "1");
    let mut srv = start_server(cmd, mode == Mode::Shim, http_server_port_line);
    if mode == Mode::Shim {
        assert!(
            has_shim_loaded(srv.server_pid),
            "libgreenshim.so is not loaded in the server (pid {})",
            srv.server_pid
        );
    }
    let script = repo().join("tests/py/http_clients.py");
    let (port, pid) = (srv.port.to_string(), srv.server_pid.to_string());
    let client = run(
        native_command(
            py,
            &[
                &script.to_string_lossy(),
                "--port",
                &port,
                "--expect",
                &file.to_string_lossy(),
                "--count",
                "200",
                "--server-pid",
                &pid,
                "--timeout",
                "25",
            ],
        ),
        Duration::from_secs(40),
    );
    let d = srv.stop();
    let err = srv.stderr();
    let report = format!("{}\n{d}", client.describe());
    eprintln!(
        "mode {mode:?}: http.server, 200 clients: {} (client {:.3} s), server_threads={:?} server_sockets={:?}",
        client.stdout.lines().last().unwrap_or_default(),
        client.elapsed.as_secs_f64(),
        value(&client.stdout, "server_threads"),
        value(&client.stdout, "server_sockets"),
    );
    assert_eq!(client.code(), Some(0), "{report}");
    assert!(client.stdout.contains("ok 200/200"), "{report}");
    assert!(
        value(&client.stdout, "server_sockets").unwrap_or(0) > 200,
        "the server should have held all 200 connections at once\n{report}"
    );
    let logged = err
        .lines()
        .filter(|l| l.contains("\"GET /index.html HTTP/1.1\" 200 "))
        .count();
    assert_eq!(logged, 200, "requests in the server's log\n{report}");
    let threads = value(&client.stdout, "server_threads");
    match mode {
        Mode::Native => assert!(
            threads.unwrap_or(0) > 200,
            "natively a thread per request in flight\n{report}"
        ),
        Mode::Shim => assert_eq!(threads, Some(common::expected_os_threads()), "{report}"),
    }
}

#[test]
fn http_server_200_clients_native() {
    let _g = serial();
    check_http_server(Mode::Native);
}

#[test]
fn http_server_200_clients_shim() {
    let _g = serial();
    check_http_server(Mode::Shim);
}

// ------------------------------------- 3. socketserver.ThreadingTCPServer echo, 200 x nc

fn check_tcp_echo_script(mode: Mode) {
    let _ = python();
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("scripts/t_python_servers.sh"))
        .arg("200")
        .env("GS", launcher())
        .env_remove("LD_PRELOAD");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GREENSHIM_") {
            cmd.env_remove(&k);
        }
    }
    if mode == Mode::Native {
        cmd.env("GS_NATIVE", "1");
    } else {
        let _ = shim_lib();
        // the script runs the server under $GS, which inherits GREENSHIM_HUBS
        cmd.envs(common::hubs_env());
    }
    let out = run(cmd, Duration::from_secs(90));
    eprintln!(
        "mode {mode:?}: {}",
        out.stdout
            .lines()
            .filter(|l| l.starts_with("mode:") || l.starts_with("times:"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert!(
        out.stdout.contains("PASS: 200 nc clients"),
        "{}",
        out.describe()
    );
}

#[test]
fn python_threading_tcp_server_200_nc_native() {
    let _g = serial();
    check_tcp_echo_script(Mode::Native);
}

#[test]
fn python_threading_tcp_server_200_nc_shim() {
    let _g = serial();
    check_tcp_echo_script(Mode::Shim);
}
