//! No blocking call escapes the hub (issue 11): calls a program reaches without going through
//! one of libc's blocking wrappers still park only their own greenlet. Each program runs
//! natively and under the shim with the same stdout; its ticker thread must keep counting
//! while another thread waits.
//!
//! Run `cargo build --release` first (the preload library is another package's cdylib).

mod common;

use common::{compile, run_native, run_shim};

fn same_as_native(name: &str) -> common::Output {
    let bin = compile(name);
    let n = run_native(&bin, &[]);
    let s = run_shim(&bin, &[], &[]);
    assert_eq!(n.code(), Some(0), "native run failed\n{}", n.describe());
    assert_eq!(s.code(), Some(0), "shim run failed\n{}", s.describe());
    assert_eq!(s.stdout, n.stdout, "stdout differs from native\nnative:\n{}\nshim:\n{}", n.describe(), s.describe());
    s
}

/// `syscall(SYS_read, ...)`, `SYS_nanosleep`, `SYS_accept4`, ... park only their thread.
#[test]
fn blocking_calls_made_through_syscall_park_only_their_thread() {
    let s = same_as_native("syscall_raw");
    assert!(s.stdout.contains("SYS_read of a pipe fed later             -> 5, ticker ran: yes"), "{}", s.describe());
}

/// `io_uring_enter` waiting for completions (inline, as liburing makes it, and through
/// `syscall()`): submit-and-wait, several completions, EXT_ARG timeouts and signal masks,
/// EINTR even after SA_RESTART, errors; results as the kernel's, the ticker runs during every
/// wait (the previous build hangs at the first wait, in the kernel's `io_cqring_wait`). MariaDB's InnoDB waits
/// for its reads and writes this way.
#[test]
fn io_uring_waits_park_only_the_waiting_thread() {
    let s = same_as_native("io_uring");
    if s.stdout.starts_with("io_uring: unavailable") {
        eprintln!("skipped: the kernel refuses io_uring_setup ({})", s.stdout.trim());
        return;
    }
    assert!(s.stdout.contains("inline: wait 1, pipe fed later                       -> 0, ticker ran: yes"), "{}", s.describe());
    assert!(!s.stdout.contains("ticker ran: no"), "{}", s.describe());
}

/// Linux native AIO: `io_getevents` (through `syscall()`, as MariaDB calls it, and inline) and
/// `io_pgetevents` waiting for IOCB_CMD_POLL completions on pipes fed later: one and two
/// completions, timeouts, errors, EINTR after SA_RESTART (also for a signal sent while the
/// waiter is runnable, not parked), the call's mask; results as the
/// kernel's, the ticker runs during every wait (the previous build hangs at the first wait,
/// in the kernel's `read_events`).
#[test]
fn linux_aio_waits_park_only_the_waiting_thread() {
    let s = same_as_native("linux_aio");
    if s.stdout.starts_with("aio: unavailable") {
        eprintln!("skipped: the kernel refuses io_setup ({})", s.stdout.trim());
        return;
    }
    assert!(s.stdout.contains("inline: wait 2, fed after 60 and 90 ms               -> 2, ticker ran: yes"), "{}", s.describe());
    assert!(!s.stdout.contains("ticker ran: no"), "{}", s.describe());
    // A signal sent while the waiter's greenlet is runnable (its retry timer fired with the
    // sender's) interrupts the wait: it once stayed pending, and the wait hung for good.
    assert!(s.stdout.contains("signal while a retry is due, x8     -> EINTR 8 times"), "{}", s.describe());
}

/// `waitpid`, `wait`, `wait4`, `waitid`, `syscall(SYS_wait4)`: a pidfd for one child, retries
/// for any; EINTR and SA_RESTART, stops, ECHILD as natively.
#[test]
fn waiting_for_children_parks_only_the_waiting_thread() {
    let s = same_as_native("child_wait");
    assert!(s.stdout.contains("waitpid(pid)                       -> child exited 3, ticker ran: yes"), "{}", s.describe());
    assert!(!s.stdout.contains("ticker ran: no"), "{}", s.describe());
}

/// `flock`, `fcntl(F_SETLKW)`, `lockf(F_LOCK)` wait without freezing the others, also for a lock
/// another greenlet holds through another open file description; EINTR and SA_RESTART.
#[test]
fn file_locks_that_wait_park_only_the_waiting_thread() {
    let s = same_as_native("file_locks");
    assert!(s.stdout.contains("flock on another description, thread holds   -> 0, ticker ran: yes"), "{}", s.describe());
    assert!(!s.stdout.contains("ticker ran: no"), "{}", s.describe());
    // A signal sent while the waiter's greenlet is runnable (its retry timer fired with the
    // sender's) interrupts the wait: it once stayed pending while the lock stayed held.
    assert!(s.stdout.contains("flock, signal while a retry is due, x4       -> EINTR 4 times"), "{}", s.describe());
}

/// `system()` (taken over: glibc waits with its internal `waitpid`) and `pclose()` (which ends
/// the pipe and waits, parked, before glibc reaps): statuses and SIGINT handling as natively.
#[test]
fn system_and_pclose_wait_without_freezing_the_others() {
    let s = same_as_native("system_popen");
    assert!(s.stdout.contains("system(sleep; exit 3): exited 3, ticker ran: yes"), "{}", s.describe());
    assert!(!s.stdout.contains("ticker ran: no"), "{}", s.describe());
}

/// The stdio server (`fdopen` + `fgets` + `fprintf` + `fflush` per connection): 200 clients
/// served, 50 at a time, while 100 others stay connected and idle; every reply as expected, and
/// under the shim one OS thread. With only the exports caught, the first idle client's `fgets`
/// would block the OS thread and every other client with it.
fn stdio_server(mode: common::Mode) {
    use common::server::{port_line, proc_threads, Server};
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpStream;
    use std::time::Duration;
    let bin = compile("stdio_server");
    let mut srv = Server::start(common::command(mode, &bin, &[]));
    let port = srv.wait_port(port_line, Duration::from_secs(10));
    let idle: Vec<TcpStream> = (0..100).map(|_| TcpStream::connect(("127.0.0.1", port)).expect("idle client connects")).collect();
    let failures = std::sync::Mutex::new(Vec::<String>::new());
    for batch in 0..4 {
        std::thread::scope(|s| {
            for i in 0..50 {
                let failures = &failures;
                s.spawn(move || {
                    let id = batch * 50 + i;
                    let run = || -> std::io::Result<Vec<String>> {
                        let c = TcpStream::connect(("127.0.0.1", port))?;
                        c.set_read_timeout(Some(Duration::from_secs(20)))?;
                        let mut w = c.try_clone()?;
                        let mut r = BufReader::new(c);
                        let mut got = Vec::new();
                        for k in 0..3 {
                            writeln!(w, "client {id} request {k}")?;
                            let mut line = String::new();
                            r.read_line(&mut line)?;
                            got.push(line);
                        }
                        writeln!(w, "quit")?;
                        Ok(got)
                    };
                    let want: Vec<String> = (0..3).map(|k| {
                        let req = format!("client {id} request {k}\n");
                        format!("{} {} {}", k + 1, req.len(), req)
                    }).collect();
                    match run() {
                        Ok(got) if got == want => {}
                        Ok(got) => failures.lock().unwrap().push(format!("client {id}: {got:?} != {want:?}")),
                        Err(e) => failures.lock().unwrap().push(format!("client {id}: {e}")),
                    }
                });
            }
        });
    }
    let threads = proc_threads(srv.server_pid);
    drop(idle);
    let f = failures.into_inner().unwrap();
    let d = srv.kill_and_describe();
    assert!(f.is_empty(), "{mode:?}: {} clients failed, first: {}\n{d}", f.len(), f[0]);
    if mode == common::Mode::Shim {
        assert_eq!(threads, Some(common::expected_os_threads()), "{d}");
    }
}

#[test]
fn stdio_server_native() {
    stdio_server(common::Mode::Native);
}

#[test]
fn stdio_server_serves_200_clients_beside_100_idle_ones_on_one_thread() {
    stdio_server(common::Mode::Shim);
}

/// 50 threads resolve at once with `getaddrinfo` against a stub DNS server (tests/py/dns_stub.py)
/// that answers after 200 ms: about 0.2 s in all, natively and under the shim, where the
/// resolver's own socket calls (inside libc) park only their greenlet. Each thread points its own
/// resolver state (`_res`, per thread natively and per greenlet under the shim) at the stub.
#[test]
fn fifty_concurrent_dns_lookups_overlap() {
    use common::server::{port_line, Server};
    use std::time::Duration;
    let mut py = std::process::Command::new("python3");
    py.arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/dns_stub.py")).arg("0.2");
    let mut stub = Server::start(py);
    let port = stub.wait_port(port_line, Duration::from_secs(10)).to_string();
    let bin = compile("dns_many");
    let n = run_native(&bin, &[&port]);
    let s = run_shim(&bin, &[&port], &[]);
    let d = stub.kill_and_describe();
    assert_eq!(n.code(), Some(0), "native run failed\n{}\n{d}", n.describe());
    assert_eq!(s.code(), Some(0), "shim run failed\n{}\n{d}", s.describe());
    assert!(n.stdout.contains("host50.test 10.0.0.51") && n.stdout.contains("under a second: yes"), "{}", n.describe());
    assert_eq!(s.stdout, n.stdout, "stdout differs from native\nnative:\n{}\nshim:\n{}", n.describe(), s.describe());
    let want = format!("Threads:\t{}", common::expected_os_threads());
    assert!(s.stderr.contains(&want), "expected `{want}`\n{}", s.describe());
}

/// glibc's internal `FILE` lock contended while its holder is parked in a read: the waiter's
/// futex call (inside libc) parks only its greenlet and the holder's unlock wakes it.
#[test]
fn contended_stdio_lock_waits_only_its_thread() {
    let s = same_as_native("stdio_lock");
    assert!(s.stdout.contains("ticker ran while main waited for stdout: yes"), "{}", s.describe());
}

/// The program's own SIGSYS, while greenshim catches system calls with SIGSYS: its handler for a
/// SIGSYS sent with kill, its action read back, and a seccomp filter (errno, and a trap its
/// handler answers through the context), as natively.
#[test]
fn programs_own_sigsys_and_seccomp_still_work() {
    let s = same_as_native("sigsys_own");
    assert!(s.stdout.contains("getpgrp trapped by the filter: 4242, handled 1, si_code SYS_SECCOMP"), "{}", s.describe());
}
