//! The launcher's side of the live view: `greenshim -p PID [--once]`.
//!
//! The process under the shim answers on a unix datagram socket named by its pid (see the
//! shim's `diag/live.rs` for the server and why it is built as it is). This side sends `view`
//! from an address the kernel picks (autobind), reads the text chunks up to an empty datagram
//! and shows them: once, or like `top` (clear the screen, every second, `q` or Ctrl-C quits).

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long to wait for an answer (the first view samples the hub's rates for 200 ms).
const TIMEOUT: Duration = Duration::from_secs(3);

/// Where a process of `uid` puts its socket: the same choice as the shim's, for each directory
/// it may have chosen (its `XDG_RUNTIME_DIR` may differ from ours).
pub fn socket_paths(pid: i32, uid: u32) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        v.push(PathBuf::from(x).join("greenshim").join(format!("{pid}.sock")));
    }
    v.push(PathBuf::from(format!("/run/user/{uid}/greenshim/{pid}.sock")));
    v.push(PathBuf::from(format!("/tmp/greenshim-{uid}/{pid}.sock")));
    v.dedup();
    v
}

/// An autobound unix datagram socket, closed on drop.
struct Sock(i32);

impl Drop for Sock {
    fn drop(&mut self) {
        // SAFETY: our own descriptor.
        unsafe { libc::close(self.0) };
    }
}

fn sockaddr(path: &std::path::Path) -> Option<(libc::sockaddr_un, u32)> {
    // SAFETY: zeroed sockaddr_un is valid.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let b = path.as_os_str().as_bytes();
    if b.len() >= a.sun_path.len() {
        return None;
    }
    for (d, s) in a.sun_path.iter_mut().zip(b) {
        *d = *s as libc::c_char;
    }
    Some((a, (2 + b.len() + 1) as u32))
}

/// The process to ask for `pid`: itself, or, if `pid` is a `greenshim` launcher (which is not
/// under the shim itself), the program it runs (its only child).
fn target(pid: i32, uid: u32) -> i32 {
    if socket_paths(pid, uid).iter().any(|p| p.exists()) {
        return pid;
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let kids: Vec<i32> = children.split_whitespace().filter_map(|c| c.parse().ok()).collect();
    match kids[..] {
        [child] if comm.trim_end() == "greenshim" => child,
        _ => pid,
    }
}

/// One view of `pid` (or of the program a `greenshim` launcher of that pid runs), as text.
/// `Err(line)` says why not, and what to do.
pub fn fetch(pid: i32) -> Result<Vec<u8>, String> {
    // SAFETY: plain libc calls on our own descriptor and buffers.
    unsafe {
        let uid = libc::geteuid();
        let pid = target(pid, uid);
        let paths = socket_paths(pid, uid);
        let Some(path) = paths.iter().find(|p| p.exists()) else {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return Err(format!("no process {pid}"));
            }
            return Err(format!(
                "process {pid} has no live view socket ({}): it does not run under greenshim, runs as another user, or has GREENSHIM_LIVE=0",
                paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" or ")
            ));
        };
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(format!("cannot create a unix socket: {}", std::io::Error::last_os_error()));
        }
        let s = Sock(fd);
        // Autobind: an abstract address the kernel picks, for the answer to come back to.
        let mut any: libc::sockaddr_un = std::mem::zeroed();
        any.sun_family = libc::AF_UNIX as libc::sa_family_t;
        if libc::bind(s.0, (&any as *const libc::sockaddr_un).cast(), 2) != 0 {
            return Err(format!("cannot bind a unix socket: {}", std::io::Error::last_os_error()));
        }
        let tv = libc::timeval { tv_sec: TIMEOUT.as_secs() as _, tv_usec: 0 };
        libc::setsockopt(s.0, libc::SOL_SOCKET, libc::SO_RCVTIMEO, (&tv as *const libc::timeval).cast(), std::mem::size_of::<libc::timeval>() as u32);
        let (to, tolen) = sockaddr(path).ok_or_else(|| format!("socket path {} is too long", path.display()))?;
        if libc::sendto(s.0, b"view".as_ptr().cast(), 4, 0, (&to as *const libc::sockaddr_un).cast(), tolen) < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ECONNREFUSED) {
                return Err(format!(
                    "process {pid} does not answer on {} (it ended, or exec'd a program not under greenshim): a stale socket",
                    path.display()
                ));
            }
            return Err(format!("cannot send to {}: {e}", path.display()));
        }
        let mut text = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = libc::recv(s.0, buf.as_mut_ptr().cast(), buf.len(), 0);
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) && !STOP.load(Ordering::Relaxed) {
                    continue;
                }
                if matches!(e.raw_os_error(), Some(libc::EAGAIN)) {
                    return Err(format!("process {pid} did not answer within {} s", TIMEOUT.as_secs()));
                }
                return Err(format!("reading the answer of process {pid}: {e}"));
            }
            if n == 0 {
                return Ok(text);
            }
            text.extend_from_slice(&buf[..n as usize]);
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// `greenshim -p PID [--once]`: the exit status (0, or 1 with one line on stderr).
pub fn run(pid: i32, once: bool) -> i32 {
    let fail = |e: String| {
        eprintln!("greenshim: -p {pid}: {e}");
        1
    };
    if once {
        return match fetch(pid) {
            Ok(t) => {
                let _ = std::io::stdout().write_all(&t);
                0
            }
            Err(e) => fail(e),
        };
    }
    // SAFETY: isatty, termios and sigaction on our own process, with valid arguments.
    unsafe {
        let tty_out = libc::isatty(1) == 1;
        let tty_in = libc::isatty(0) == 1;
        let mut saved: libc::termios = std::mem::zeroed();
        let raw = tty_in && libc::tcgetattr(0, &mut saved) == 0;
        if raw {
            let mut t = saved;
            t.c_lflag &= !(libc::ICANON | libc::ECHO);
            t.c_cc[libc::VMIN] = 1;
            t.c_cc[libc::VTIME] = 0;
            libc::tcsetattr(0, libc::TCSANOW, &t);
        }
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_stop as *const () as usize;
            libc::sigaction(sig, &sa, std::ptr::null_mut()); // no SA_RESTART: poll returns
        }
        let mut status = 0;
        let mut shown = false;
        while !STOP.load(Ordering::Relaxed) {
            match fetch(pid) {
                Ok(t) => {
                    shown = true;
                    let mut out = std::io::stdout().lock();
                    if tty_out {
                        let _ = out.write_all(b"\x1b[H\x1b[2J");
                    }
                    let _ = out.write_all(&t);
                    if tty_out && tty_in {
                        let _ = out.write_all(b"\n(refreshing every second; q or Ctrl-C quits)");
                    } else if !tty_out {
                        let _ = out.write_all(b"\n");
                    }
                    let _ = out.flush();
                }
                Err(_) if STOP.load(Ordering::Relaxed) => break,
                // It was shown and has ended since (or its launcher has), or its socket went away
                // (asked twice): not an error.
                Err(_) if shown && (!std::path::Path::new(&format!("/proc/{pid}")).exists() || fetch(pid).is_err()) => {
                    println!("\ngreenshim: process {pid} ended");
                    break;
                }
                Err(e) => {
                    status = fail(e);
                    break;
                }
            }
            // Wait a second, or for 'q' on the terminal.
            let mut pfd = libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 };
            let n = libc::poll(&mut pfd, if tty_in { 1 } else { 0 }, 1000);
            if n > 0 && pfd.revents & libc::POLLIN != 0 {
                let mut c = [0u8; 16];
                let r = libc::read(0, c.as_mut_ptr().cast(), c.len());
                if r <= 0 || c[..r as usize].iter().any(|&b| b == b'q' || b == b'Q') {
                    break;
                }
            }
        }
        if raw {
            libc::tcsetattr(0, libc::TCSANOW, &saved);
        }
        if tty_out {
            let _ = std::io::stdout().write_all(b"\n");
        }
        status
    }
}

/// Parse the PID of `-p`.
pub fn parse_pid(v: &OsStr) -> Option<i32> {
    v.to_str()?.parse::<i32>().ok().filter(|&p| p > 0)
}
