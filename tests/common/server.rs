//! A process in the background, typically a server: started in a process group of its own,
//! its stdout and stderr read line by line (with arrival times) on threads of their own, its
//! port read from a line it prints. Dropping it kills that process group (SIGKILL, by the id
//! of the process it started) if it is still running; nothing else is ever signalled.

use super::{clip, describe_cmd, spawn_in_group};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long [`Server::start`] waits for the `port=<n>` line.
pub const PORT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long, once the process has ended, its output may take to reach end of file.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The lines of one output stream, each with the time it arrived, and whether it has ended.
#[derive(Default)]
struct Stream {
    lines: Vec<(Instant, String)>,
    eof: bool,
}

type Shared = Arc<Mutex<Stream>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Stream> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Read `r` line by line (invalid UTF-8 replaced) into `into` until end of file.
fn collect_lines<R: Read + Send + 'static>(r: R, into: Shared) {
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        loop {
            let mut buf = Vec::new();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let l = String::from_utf8_lossy(&buf)
                        .trim_end_matches('\n')
                        .to_string();
                    lock(&into).lines.push((Instant::now(), l));
                }
            }
        }
        lock(&into).eof = true;
    });
}

fn text(s: &Shared) -> String {
    lock(s)
        .lines
        .iter()
        .map(|(_, l)| format!("{l}\n"))
        .collect()
}

/// `port=<n>`: the line the C servers of `tests/c/` print once they listen.
pub fn port_line(l: &str) -> Option<u16> {
    l.strip_prefix("port=")?.trim().parse().ok()
}

/// `Threads:` of /proc/PID/status.
pub fn proc_threads(pid: i32) -> Option<i64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

pub struct Server {
    child: Child,
    cmdline: String,
    /// The process started (the launcher, when run through it): the leader of the group.
    pub pid: i32,
    /// The server program itself: `pid`, or the launcher's child after
    /// [`Server::follow_launcher`].
    pub server_pid: i32,
    /// The port it printed (0 until [`Server::wait_port`]).
    pub port: u16,
    /// When it was started (just before the spawn).
    pub started: Instant,
    out: Shared,
    err: Shared,
    reaped: bool,
}

impl Server {
    /// Start `cmd` (stdin from /dev/null) and return at once.
    pub fn spawn(mut cmd: Command) -> Server {
        super::prepare(&mut cmd);
        let cmdline = describe_cmd(&cmd);
        let started = Instant::now();
        let mut child = spawn_in_group(&mut cmd, &cmdline);
        let pid = child.id() as i32;
        let out = Shared::default();
        let err = Shared::default();
        collect_lines(child.stdout.take().unwrap(), out.clone());
        collect_lines(child.stderr.take().unwrap(), err.clone());
        Server {
            child,
            cmdline,
            pid,
            server_pid: pid,
            port: 0,
            started,
            out,
            err,
            reaped: false,
        }
    }

    /// Start `cmd` and wait (up to [`PORT_TIMEOUT`]) for its `port=<n>` line.
    pub fn start(cmd: Command) -> Server {
        let mut srv = Server::spawn(cmd);
        srv.wait_port(port_line, PORT_TIMEOUT);
        srv
    }

    /// Wait up to `timeout` for a stdout line from which `port_of` reads the port; kills the
    /// server and panics if none comes.
    pub fn wait_port(&mut self, port_of: fn(&str) -> Option<u16>, timeout: Duration) -> u16 {
        let mut port = None;
        let ok = self.wait_until(timeout, |s| {
            port = lock(&s.out).lines.iter().find_map(|(_, l)| port_of(l));
            port.is_some()
        });
        if !ok {
            let d = self.kill_and_describe();
            panic!(
                "the server did not print its port within {:.0} s\n{d}",
                timeout.as_secs_f64()
            );
        }
        self.port = port.unwrap();
        self.port
    }

    /// The started process is the launcher: the server is its child process (panics, after
    /// killing the group, if it has none).
    pub fn follow_launcher(&mut self) {
        let path = format!("/proc/{0}/task/{0}/children", self.pid);
        let child = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok());
        match child {
            Some(p) => self.server_pid = p,
            None => {
                let d = self.kill_and_describe();
                panic!("cannot find the launcher's child process\n{d}")
            }
        }
    }

    /// Everything it printed on stdout so far, each line ended by `\n`.
    pub fn stdout(&self) -> String {
        text(&self.out)
    }

    /// Everything it printed on stderr so far, each line ended by `\n`.
    pub fn stderr(&self) -> String {
        text(&self.err)
    }

    /// The stderr lines so far, each with the time it arrived.
    pub fn stderr_lines(&self) -> Vec<(Instant, String)> {
        lock(&self.err).lines.clone()
    }

    /// Everything about it, for assertion messages.
    pub fn describe(&self) -> String {
        let (out, err) = (self.stdout(), self.stderr());
        format!(
            "process: {} (pid {}, server pid {})\n--- stdout ({} bytes)\n{}--- stderr ({} bytes)\n{}",
            self.cmdline,
            self.pid,
            self.server_pid,
            out.len(),
            clip(&out),
            err.len(),
            clip(&err)
        )
    }

    /// Wait up to `timeout` for `cond` to hold (checked every 5 ms); false on timeout.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        mut cond: impl FnMut(&mut Server) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Send `sig` to the process we started (the launcher forwards it to its child).
    pub fn signal(&self, sig: i32) {
        assert!(!self.reaped);
        // SAFETY: plain kill(2) of our own child, not reaped yet (its PID cannot be reused).
        unsafe {
            libc::kill(self.pid, sig);
        }
    }

    /// Kill its process group (SIGKILL) and reap it; None if it was reaped already.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        if self.reaped {
            return None;
        }
        // SAFETY: kill(2) of the process group we created; our child (its leader) is not
        // reaped yet, so the id cannot have been reused.
        unsafe {
            libc::kill(-self.pid, libc::SIGKILL);
        }
        self.reaped = true;
        self.child.wait().ok()
    }

    /// Wait (up to 2 s) for the readers to reach the end of stdout and stderr.
    fn drain(&self) {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while !(lock(&self.out).eof && lock(&self.err).eof) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn kill_and_describe(&mut self) -> String {
        let st = self.kill();
        self.drain();
        format!("server killed (status {st:?})\n{}", self.describe())
    }

    /// Wait up to `timeout` for it to exit by itself (and its output to end); its status.
    /// Kills it and panics on timeout.
    pub fn finish(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.reaped = true;
                self.drain();
                return st;
            }
            if Instant::now() >= deadline {
                let d = self.kill_and_describe();
                panic!(
                    "server did not exit within {:.0} s\n{d}",
                    timeout.as_secs_f64()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kill a server that serves forever; a description of it. Panics if it had exited by
    /// itself.
    pub fn stop(&mut self) -> String {
        let alive = matches!(self.child.try_wait(), Ok(None));
        let st = self.kill();
        self.drain();
        let d = format!(
            "server {} when stopped (status {st:?})\n{}",
            if alive {
                "was running"
            } else {
                "had already exited"
            },
            self.describe()
        );
        assert!(alive, "the server exited by itself\n{d}");
        d
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
