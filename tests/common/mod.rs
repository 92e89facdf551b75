//! Helpers for the integration tests: compile the C programs of `tests/c/`, run them natively
//! and under the preload library (or through the launcher), always bounded by a timeout.
//!
//! The preload library and the launcher are looked up next to the test executable:
//! `target/<profile>/deps/<test-exe>` → `target/<profile>/{libgreenshim.so,greenshim}`.
//! `cargo test` builds the launcher for integration tests, but not the preload library (it is
//! another package's cdylib): run `cargo build --release` first.

#![allow(dead_code)]

pub mod server;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Default bound of a single run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// `target/<profile>`, found from the running test executable.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe
        .parent()
        .expect("test executable has a parent directory")
        .to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir
}

fn profile() -> String {
    target_dir()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `cargo ARGS` for this workspace, building into the target directory and profile this test
/// runs from (whatever flag or variable chose them), e.g. to build examples or another test.
pub fn cargo_here(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args(args).args(["--manifest-path", concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")]);
    cmd.arg("--target-dir").arg(target_dir().parent().unwrap());
    match profile().as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        p => {
            cmd.args(["--profile", p]);
        }
    }
    cmd
}

fn build_hint() -> String {
    match profile().as_str() {
        "release" => "run `cargo build --release` first".to_string(),
        "debug" => "run `cargo build` first (or test with `cargo test --release` after \
                    `cargo build --release`)"
            .to_string(),
        p => format!("run `cargo build --profile {p}` first"),
    }
}

/// The preload library, `target/<profile>/libgreenshim.so`.
pub fn shim_lib() -> PathBuf {
    let p = target_dir().join("libgreenshim.so");
    if !p.is_file() {
        panic!(
            "preload library {} not found: {} (cargo test does not build the library)",
            p.display(),
            build_hint()
        );
    }
    p
}

/// The launcher, `target/<profile>/greenshim`.
pub fn launcher() -> PathBuf {
    let p = target_dir().join("greenshim");
    if !p.is_file() {
        panic!("launcher {} not found: {}", p.display(), build_hint());
    }
    p
}

/// A fresh directory for this test process's binaries, under the target dir (not /tmp), named
/// after the process id; directories of processes that no longer exist are removed.
pub fn work_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = target_dir().join("greenshim-ctests");
        std::fs::create_dir_all(&base).expect("create greenshim-ctests dir");
        if let Ok(entries) = std::fs::read_dir(&base) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
                if let Some(pid) = pid {
                    if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = base.join(format!("{}-{}", std::process::id(), nanos));
        std::fs::create_dir_all(&dir).expect("create test work dir");
        dir
    })
}

/// Compile `tests/c/NAME.c` (once per test process) and return the binary's path.
pub fn compile(name: &str) -> PathBuf {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<OnceLock<PathBuf>>>>> = OnceLock::new();
    let cell = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(name.to_string())
        .or_default()
        .clone();
    cell.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/c")
            .join(format!("{name}.c"));
        assert!(src.is_file(), "C test program {} not found", src.display());
        let out = work_dir().join(name);
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
        let mut cmd = Command::new(&cc);
        cmd.args(["-O2", "-g", "-Wall", "-pthread", "-o"])
            .arg(&out)
            .arg(&src);
        let o = run(cmd, Duration::from_secs(120));
        if !o.status.success() {
            panic!("compiling {} failed:\n{}", src.display(), o.describe());
        }
        out
    })
    .clone()
}

/// The result of one bounded run.
pub struct Output {
    pub cmdline: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// Exit code, if the process exited normally.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The signal that killed the process, if any.
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }

    /// The status as a shell reports it: the exit code, or 128+N for death by signal N.
    pub fn shell_status(&self) -> i32 {
        match (self.status.code(), self.status.signal()) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            _ => -1,
        }
    }

    /// Lines of stderr that start with `greenshim:`.
    pub fn greenshim_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("greenshim:"))
            .collect()
    }

    /// Everything about the run, for assertion messages.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "command: {}", self.cmdline);
        let status = match (self.code(), self.signal()) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            _ => format!("{:?}", self.status),
        };
        let _ = writeln!(
            s,
            "status: {status}, wall time {:.3} s",
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "--- stdout ({} bytes)\n{}",
            self.stdout.len(),
            clip(&self.stdout)
        );
        let _ = writeln!(
            s,
            "--- stderr ({} bytes)\n{}",
            self.stderr.len(),
            clip(&self.stderr)
        );
        s
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 6000;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut head = MAX / 2;
    while !s.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = s.len() - MAX / 2;
    while !s.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}\n[... {} bytes left out ...]\n{}",
        &s[..head],
        tail - head,
        &s[tail..]
    )
}

fn describe_cmd(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            let _ = write!(s, "{}={} ", k.to_string_lossy(), v.to_string_lossy());
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        let _ = write!(s, " {}", a.to_string_lossy());
    }
    s
}

/// Remove the variables that would change how a run behaves from the inherited environment:
/// `LD_PRELOAD` and every `GREENSHIM_*` (an unknown one is an error for the library).
fn clean_env(cmd: &mut Command) {
    cmd.env_remove("LD_PRELOAD");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GREENSHIM_") {
            cmd.env_remove(&k);
        }
    }
}

/// `GREENSHIM_TEST_HUBS=N`: run every shim-run command of the suite with `GREENSHIM_HUBS=N`
/// (`scripts/test.sh --hubs N` sets it). Unset (or empty) means 1: the default single-hub model,
/// in which no command gets `GREENSHIM_HUBS` from the suite. The variable itself is never passed
/// to a program: the library rejects unknown `GREENSHIM_*` settings.
pub const TEST_HUBS_VAR: &str = "GREENSHIM_TEST_HUBS";

/// The hub count the suite runs the shim with: `GREENSHIM_TEST_HUBS`, 1 when unset. Panics on a
/// value that is not a positive integer (a typo must not silently test the default).
pub fn test_hubs() -> u32 {
    static HUBS: OnceLock<u32> = OnceLock::new();
    *HUBS.get_or_init(|| match std::env::var(TEST_HUBS_VAR) {
        Err(_) => 1,
        Ok(v) if v.trim().is_empty() => 1,
        Ok(v) => match v.trim().parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => panic!("{TEST_HUBS_VAR}='{v}': expected a positive integer (the hub count)"),
        },
    })
}

/// The OS threads a shim-run process has (`Threads:` of /proc/PID/status, or what a program
/// counts in /proc/self/task): one per hub. The shim's live-view task is not in the thread group.
pub fn expected_os_threads() -> i64 {
    test_hubs() as i64
}

/// `KEY=N\n` with N = [`expected_os_threads`]: the line a program of `tests/c/` prints with the
/// OS threads it counted, as the shim run must print it.
pub fn os_threads_line(key: &str) -> String {
    format!("{key}={}\n", expected_os_threads())
}

/// For a test that only makes sense with one hub: true (and a line on stderr saying why) when
/// the suite runs in multi-hub mode (`GREENSHIM_TEST_HUBS` > 1), so the test returns early.
pub fn single_hub_only(why: &str) -> bool {
    if test_hubs() > 1 {
        eprintln!("SKIPPED with {TEST_HUBS_VAR}={}: single-hub only: {why}", test_hubs());
        true
    } else {
        false
    }
}

/// The environment the suite's hub count gives a shim-run command: `GREENSHIM_HUBS=N` when
/// `GREENSHIM_TEST_HUBS` is above 1, nothing otherwise. For commands built by hand (a shell
/// running the launcher, a server started by a script): `cmd.envs(common::hubs_env())`.
pub fn hubs_env() -> Vec<(&'static str, String)> {
    match test_hubs() {
        1 => Vec::new(),
        n => vec![("GREENSHIM_HUBS", n.to_string())],
    }
}

/// Give a shim-run command the suite's hub count: removes `GREENSHIM_TEST_HUBS` (the library
/// would reject it) and, in multi-hub mode, sets `GREENSHIM_HUBS=N` unless the command already
/// sets `GREENSHIM_HUBS` itself or passes the launcher's `--hubs`. Every command of
/// [`shim_command`] and [`launcher_command`] goes through it; call it on commands built by hand
/// that set `LD_PRELOAD` or run the launcher.
pub fn apply_test_hubs(cmd: &mut Command) {
    cmd.env_remove(TEST_HUBS_VAR);
    let set_already = cmd
        .get_envs()
        .any(|(k, v)| k == "GREENSHIM_HUBS" && v.is_some());
    let hubs_arg = cmd.get_args().any(|a| {
        let a = a.to_string_lossy();
        a == "--hubs" || a.starts_with("--hubs=")
    });
    if !set_already && !hubs_arg {
        cmd.envs(hubs_env());
    }
}

/// Whether `cmd` runs under the shim: it sets `LD_PRELOAD` to a list naming the library, or its
/// program is the launcher.
fn runs_shim(cmd: &Command) -> bool {
    let preload = cmd.get_envs().any(|(k, v)| {
        k == "LD_PRELOAD" && v.is_some_and(|v| v.to_string_lossy().contains("libgreenshim"))
    });
    preload || Path::new(cmd.get_program()) == target_dir().join("greenshim")
}

/// What [`run`] and [`server::Server::spawn`] do to every command before starting it: never pass
/// `GREENSHIM_TEST_HUBS` on, and give a command that runs under the shim the suite's hub count
/// ([`apply_test_hubs`]), so commands built by hand with `LD_PRELOAD` get it too.
pub(crate) fn prepare(cmd: &mut Command) {
    if runs_shim(cmd) {
        apply_test_hubs(cmd);
    } else {
        cmd.env_remove(TEST_HUBS_VAR);
    }
}

/// The program run natively.
pub fn native_command(bin: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args);
    clean_env(&mut cmd);
    cmd
}

/// The program run with `LD_PRELOAD=<shim_lib>` and `extra_env`.
pub fn shim_command(bin: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Command {
    let lib = shim_lib();
    let mut cmd = native_command(bin, args);
    cmd.env("LD_PRELOAD", &lib);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    apply_test_hubs(&mut cmd);
    cmd
}

/// `greenshim ARGS` with `extra_env`.
pub fn launcher_command(args: &[&str], extra_env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(launcher());
    cmd.args(args);
    clean_env(&mut cmd);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    apply_test_hubs(&mut cmd);
    cmd
}

/// How a test runs a program of `tests/c/`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Mode {
    Native,
    Shim,
}

/// The program run natively or with the preload library (no extra variables).
pub fn command(mode: Mode, bin: &Path, args: &[&str]) -> Command {
    match mode {
        Mode::Native => native_command(bin, args),
        Mode::Shim => shim_command(bin, args, &[]),
    }
}

pub fn run_native(bin: &Path, args: &[&str]) -> Output {
    run(native_command(bin, args), DEFAULT_TIMEOUT)
}

pub fn run_shim(bin: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    run(shim_command(bin, args, extra_env), DEFAULT_TIMEOUT)
}

pub fn run_launcher(args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    run(launcher_command(args, extra_env), DEFAULT_TIMEOUT)
}

fn reader<R: Read + Send + 'static>(r: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        let _ = tx.send(buf);
    });
    rx
}

/// Start `cmd` with stdin from /dev/null and stdout and stderr piped, in a process group of
/// its own (whose id is the child's PID).
fn spawn_in_group(cmd: &mut Command, cmdline: &str) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    cmd.spawn()
        .unwrap_or_else(|e| panic!("cannot run `{cmdline}`: {e}"))
}

/// Run `cmd` (stdin from /dev/null, stdout and stderr captured) in a process group of its own.
/// If it is not done within `timeout`, its process group is killed (SIGKILL, by its PID) and
/// the test fails with whatever output it had produced.
pub fn run(mut cmd: Command, timeout: Duration) -> Output {
    prepare(&mut cmd);
    let cmdline = describe_cmd(&cmd);
    let start = Instant::now();
    let mut child = spawn_in_group(&mut cmd, &cmdline);
    let pid = child.id() as libc::pid_t;
    let out_rx = reader(child.stdout.take());
    let err_rx = reader(child.stderr.take());
    let deadline = start + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {}
            Err(e) => panic!("waiting for `{cmdline}`: {e}"),
        }
        if Instant::now() >= deadline {
            timed_out = true;
            // SAFETY: plain kill(2); the child is not reaped yet, so its PID (and process group
            // id) cannot have been reused.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
            break child.wait().expect("wait after kill");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    let collect = |rx: mpsc::Receiver<Vec<u8>>, what: &str| -> String {
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(_) => format!(
                "<{what} still open 5 s after the process ended (a stray process holds it)>"
            ),
        }
    };
    let out = Output {
        cmdline,
        status,
        stdout: collect(out_rx, "stdout"),
        stderr: collect(err_rx, "stderr"),
        elapsed,
    };
    if timed_out {
        panic!(
            "TIMEOUT: killed after {:.1} s\n{}",
            timeout.as_secs_f64(),
            out.describe()
        );
    }
    if out.stderr.contains("from LD_PRELOAD cannot be preloaded") {
        panic!(
            "the dynamic loader did not load the preload library\n{}",
            out.describe()
        );
    }
    out
}

/// Fail, with everything about the run, unless it exited with status 0.
pub fn assert_ok(out: &Output) {
    assert_eq!(
        out.code(),
        Some(0),
        "expected exit status 0\n{}",
        out.describe()
    );
}

/// Parse `key=<integer>` out of the program's stdout.
pub fn stdout_value(out: &Output, key: &str) -> Option<i64> {
    value(&out.stdout, key)
}

/// Parse `key=<integer>` out of `text` (the first line that has `key=`).
pub fn value(text: &str, key: &str) -> Option<i64> {
    let pat = format!("{key}=");
    text.lines().find_map(|l| {
        let rest = &l[l.find(&pat)? + pat.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    })
}
