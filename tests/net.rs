//! Network I/O tests (issue 3): C programs of `tests/c/` run natively and under the preload
//! library; blocking fd calls must park only the calling greenlet and keep native semantics.
//!
//! Needs `cargo build --release` first (the preload library is not built by `cargo test`):
//!
//! ```sh
//! cargo build --release && cargo test --release --test net
//! ```
//!
//! The tests take a lock so that they run one at a time: several of them check timings
//! (SO_RCVTIMEO windows, a stalled client) that a parallel 1,000-connection run would disturb.
//! Every process is bounded by a timeout and killed (by its own PID / process group) on failure.

mod common;

use common::server::Server;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// --------------------------------------------------- (a) echo server, 1,000 concurrent clients

/// `server` (a program of tests/c that prints `port=` and exits after `-n N` connections)
/// serves `conns` clients of net_client (checksummed random payloads of 1..64 KiB), all
/// connected at once; the client samples the server's `Threads:` while they are.
/// Returns (client output, server stdout and stderr).
fn echo_with(
    server: &str,
    server_mode: Mode,
    client_mode: Mode,
    conns: usize,
    extra_client: &[&str],
) -> (Output, String) {
    let server_bin = compile(server);
    let client_bin = compile("net_client");
    let n = conns.to_string();
    let mut srv = Server::start(command(server_mode, &server_bin, &["-n", &n]));
    let port = srv.port.to_string();
    let pid = srv.pid.to_string();
    let mut args = vec!["-p", &port, "-c", &n, "-s", "42", "-P", &pid, "-t", "25"];
    args.extend_from_slice(extra_client);
    let client = run(
        command(client_mode, &client_bin, &args),
        Duration::from_secs(40),
    );
    if client.code() != Some(0) {
        let d = srv.kill_and_describe();
        panic!(
            "client ({client_mode:?}) failed against {server} ({server_mode:?})\n{}\n{d}",
            client.describe()
        );
    }
    let st = srv.finish(Duration::from_secs(10));
    let d = srv.describe();
    assert!(st.success(), "server exit status {st:?}\n{d}");
    (client, srv.stdout() + "\n" + &d)
}

fn echo_run(mode: Mode, conns: usize, extra_client: &[&str]) -> (Output, String) {
    echo_with("echo_tpc", mode, Mode::Native, conns, extra_client)
}

fn check_echo(mode: Mode, conns: usize) {
    let (client, server) = echo_run(mode, conns, &[]);
    let report = format!("{}\n{}", client.describe(), server);
    assert!(client.stdout.contains(&format!("ok {conns}\n")), "{report}");
    let served = format!("served={conns} max_active={conns} ");
    assert!(
        server.contains(&served),
        "expected `{served}` (all {conns} connections open at once)\n{report}"
    );
    assert_eq!(value(&server, "errors"), Some(0), "{report}");
    let threads = value(&client.stdout, "server_threads").expect("server_threads=");
    match mode {
        Mode::Native => assert!(
            threads > conns as i64,
            "natively a thread per connection: expected > {conns} threads, got {threads}\n{report}"
        ),
        Mode::Shim => {
            let hubs = common::expected_os_threads();
            assert_eq!(
                threads, hubs,
                "Threads: of the server while {conns} clients were connected\n{report}"
            );
            assert_eq!(
                value(&server, "threads_at_last_accept"),
                Some(hubs),
                "{report}"
            );
            assert_eq!(value(&server, "threads_at_exit"), Some(hubs), "{report}");
        }
    }
}

#[test]
fn echo_1000_clients_native() {
    let _g = serial();
    check_echo(Mode::Native, 1000);
}

#[test]
fn echo_1000_clients_shim() {
    let _g = serial();
    check_echo(Mode::Shim, 1000);
}

/// The server starts with a soft fd limit of 1024 and raises it itself (echo_tpc sets the soft
/// limit to the hard one), then serves 1,500 clients: fds past the limit the shim saw at start
/// must be cooperative too.
#[test]
fn echo_fds_beyond_initial_limit_shim() {
    let _g = serial();
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a local.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    if rl.rlim_max < 2000 {
        eprintln!("skipped: hard RLIMIT_NOFILE {} < 2000", rl.rlim_max);
        return;
    }
    let server_bin = compile("echo_tpc");
    let client_bin = compile("net_client");
    let mut cmd = command(Mode::Shim, &server_bin, &["-n", "1500"]);
    // SAFETY: the closure only calls setrlimit, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let mut rl = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
            rl.rlim_cur = 1024;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            Ok(())
        });
    }
    let mut srv = Server::start(cmd);
    let port = srv.port.to_string();
    let pid = srv.pid.to_string();
    let client = run(
        native_command(
            &client_bin,
            &[
                "-p", &port, "-c", "1500", "-s", "7", "-m", "8192", "-P", &pid, "-t", "25",
            ],
        ),
        Duration::from_secs(40),
    );
    if client.code() != Some(0) {
        let d = srv.kill_and_describe();
        panic!("client failed\n{}\n{d}", client.describe());
    }
    let st = srv.finish(Duration::from_secs(10));
    let report = format!("{}\n{}", client.describe(), srv.describe());
    assert!(st.success(), "{report}");
    assert!(client.stdout.contains("ok 1500\n"), "{report}");
    assert!(
        srv.stdout().contains("served=1500 max_active=1500 "),
        "{report}"
    );
    assert_eq!(value(&client.stdout, "server_threads"), Some(common::expected_os_threads()), "{report}");
}

// ------------------------------------------------------ (b) a stalled client delays nobody

fn check_staller(mode: Mode) {
    // 200 clients; client 0 sends half its message, stalls 2 s, then the rest
    let (client, server) = echo_run(mode, 200, &["-S", "2000"]);
    let report = format!("{}\n{}", client.describe(), server);
    assert!(client.stdout.contains("ok 200\n"), "{report}");
    assert!(
        client
            .stdout
            .contains("others_done_before_staller_resumed=yes"),
        "the other clients must all finish while the staller is stalled\n{report}"
    );
    let others = value(&client.stdout, "others_max_ms").unwrap_or(i64::MAX);
    let staller = value(&client.stdout, "staller_ms").unwrap_or(0);
    assert!(
        others < 1000 && staller >= 2000,
        "others took up to {others} ms (want < 1000), the staller {staller} ms (want >= 2000)\n{report}"
    );
}

#[test]
fn staller_does_not_delay_others_native() {
    let _g = serial();
    check_staller(Mode::Native);
}

#[test]
fn staller_does_not_delay_others_shim() {
    let _g = serial();
    check_staller(Mode::Shim);
}

// --------------------------------------------- an application's own epoll, under the shim

/// A single-threaded, level-triggered, non-blocking epoll echo server under the shim: the
/// program's own epoll instance and non-blocking sockets keep working.
#[test]
fn epoll_echo_server_shim() {
    let _g = serial();
    let (client, server) = echo_with("bench_epoll_echo", Mode::Shim, Mode::Native, 300, &[]);
    let report = format!("{}\n{}", client.describe(), server);
    assert!(client.stdout.contains("ok 300\n"), "{report}");
    assert!(server.contains("served=300"), "{report}");
    assert_eq!(value(&client.stdout, "server_threads"), Some(common::expected_os_threads()), "{report}");
}

/// The epoll-driven load client (non-blocking connect, EPOLLIN/EPOLLOUT, a staller driven by
/// epoll_wait timeouts) under the shim, against the native thread-per-connection server.
#[test]
fn epoll_client_shim() {
    let _g = serial();
    let (client, server) = echo_with("echo_tpc", Mode::Native, Mode::Shim, 300, &["-S", "500"]);
    let report = format!("{}\n{}", client.describe(), server);
    assert!(client.stdout.contains("ok 300\n"), "{report}");
    assert!(
        client
            .stdout
            .contains("others_done_before_staller_resumed=yes"),
        "{report}"
    );
}

// ------------------------------------------- (c) blocking client: same stdout as natively

/// What net_blocking_client prints natively on Linux (checked on the project's machine kind:
/// Debian 12 userland). Under the shim every case must print exactly the same.
const BLOCKING_CLIENT_NATIVE: &str = r#"connect_refused: rc=-1 errno=ECONNREFUSED
connect_ok: rc=0 accepted=yes socket_nonblock=0 accepted_nonblock=0 cloexec=0
connect_nonblocking: rc=-1 errno=EINPROGRESS poll=1 pollout=yes so_error=0
connect_nonblocking_refused: rc=-1 errno=EINPROGRESS poll=1 so_error=ECONNREFUSED
socket_flags: plain nonblock=0 cloexec=0; SOCK_NONBLOCK|SOCK_CLOEXEC nonblock=1 cloexec=1; socketpair(SOCK_NONBLOCK) nonblock=1,1
rcvtimeo: getsockopt=200ms rc=-1 errno=EAGAIN in_200+-30ms=yes nonblock=0
rcvtimeo_waitall_partial: rc=10 in_200+-30ms=yes
rcvtimeo_data_in_time: rc=4 before_timeout=yes
sndtimeo: partial=yes in_200+-30ms=yes
sndtimeo_full: rc=-1 errno=EAGAIN in_200+-30ms=yes
user_nonblock_read: nonblock=1 read=-1 errno=EAGAIN recv=-1 errno=EAGAIN immediate=yes
user_nonblock_write: filled=yes then errno=EAGAIN immediate=yes
user_blocking_again: nonblock=0 read=3 waited=yes
fionbio: on nonblock=1 read=-1 errno=EAGAIN; off nonblock=0
msg_dontwait: rc=-1 errno=EAGAIN immediate=yes socket_nonblock=0
msg_peek: peek=5 "hello" read=5 "hello" same=yes
msg_waitall: rc=30000 full=yes
eof: read=3 then=0 then=0
eof_unix_and_pipe: socketpair=0 pipe=0
reset_read: rc=-1 errno=ECONNRESET then=0
epipe_ignored: rc=-1 errno=EPIPE
epipe_tcp_after_reset: first=1 then=-1/EPIPE then=-1/EPIPE
msg_nosignal: rc=-1 errno=EPIPE sigpipes=0
sigpipe_raised: rc=-1 errno=EPIPE sigpipes=1
big_write: rc=8388608 reader_got=8388608 checksum_ok=yes
big_send_tcp: rc=8388608 reader_got=8388608 checksum_ok=yes
accept4_flags: ok=yes nonblock=1 cloexec=1 listener_nonblock=0
accept4_nonblock_read: rc=-1 errno=EAGAIN
accept_plain_flags: ok=yes nonblock=0 cloexec=0
accept_nonblocking_listener: rc=-1 errno=EAGAIN immediate=yes
dup_shares_nonblock: set_on_orig dup_sees=1 dup_read=-1 errno=EAGAIN
dup_shares_blocking: cleared_on_dup orig_sees=0 orig_read=2
dup_fd_flags: dup3=100 cloexec=1 F_DUPFD_CLOEXEC>=200=yes cloexec=1 dup2=101 cloexec=0 orig_cloexec=0
dup_after_close_orig: read=1
dup2_replaces: read=1 byte=q
readv_writev: wrote=11 read=11 first="hell" second="o world"
sendmsg_recvmsg: sent=8 got=8 first="abc" second="defgh"
readv_waits: read=6
scm_rights: sent=1 recv=1 got_fd=yes nonblock=0 read=6 "via fd"
sendfile: total=300000 offset=300000 reader_got=300000 checksum_ok=yes
pipe2_nonblock: nonblock=1,1 read=-1 errno=EAGAIN immediate=yes
pipe_blocking: nonblock=0 cloexec=1 read=5 waited=yes
eventfd: read=8 value=7 nonblock=0; EFD_NONBLOCK nonblock=1 read=-1 errno=EAGAIN
udp_recvfrom: rc=5 "dgram" from_loopback=yes
udp_mmsg: sendto=3 sendmmsg=2 recvmmsg_total=3 "one" "two" "three"
udp_dontwait: rc=-1 errno=EAGAIN immediate=yes
shutdown_rd_wakes_reader: shutdown=0 read=0 woke=yes
connect_sndtimeo: first=0 second=-1 errno=EINPROGRESS in_200+-30ms=yes
connect_waits_for_backlog: rc=0 waited=yes
zero_length: read=0 write=0 send=0 pipe_read=0 immediate=yes
bad_fds: read(-1)=-1/EBADF read(4000)=-1/EBADF write(4000)=-1/EBADF recv(pipe)=-1/ENOTSOCK accept(unlistened)=-1/EINVAL read(unconnected)=-1/ENOTCONN write(unconnected)=-1/EPIPE read(closed)=-1/EBADF
two_readers_one_fd: after_first_byte_done=1 reads=1,1 distinct=yes
duplex_one_fd: reader=1 writer_still_blocked_then=yes writer=4194304 drained=4194304
eintr_no_restart: read=-1 errno=EINTR handler_ran=1
eintr_sa_restart: returned_at_signal=no read=1 errno=0 handler_ran=2
done
"#;

/// Lines that differ between `want` and `got`, as a readable list.
fn line_diff(want: &str, got: &str) -> String {
    let w: Vec<&str> = want.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    let mut s = String::new();
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i).copied(), g.get(i).copied());
        if a != b {
            s.push_str(&format!(
                "  want: {}\n  got:  {}\n",
                a.unwrap_or("<nothing>"),
                b.unwrap_or("<nothing>")
            ));
        }
    }
    s
}

#[test]
fn blocking_client_native() {
    let _g = serial();
    let bin = compile("net_blocking_client");
    let out = run(native_command(&bin, &[]), Duration::from_secs(30));
    assert_ok(&out);
    assert!(
        out.stdout == BLOCKING_CLIENT_NATIVE,
        "native output differs from the recorded one:\n{}\n{}",
        line_diff(BLOCKING_CLIENT_NATIVE, &out.stdout),
        out.describe()
    );
}

/// Each case in a process of its own (a case that hangs or crashes under the shim then shows
/// alone), compared with the same case run natively.
#[test]
fn blocking_client_shim_matches_native() {
    let _g = serial();
    let bin = compile("net_blocking_client");
    let list = run(native_command(&bin, &["--list"]), Duration::from_secs(10));
    assert_ok(&list);
    let mut failures = String::new();
    let mut passed = 0;
    for case in list.stdout.lines() {
        let native = run(native_command(&bin, &[case]), Duration::from_secs(20));
        let shim = std::panic::catch_unwind(|| {
            run(shim_command(&bin, &[case], &[]), Duration::from_secs(20))
        });
        let shim = match shim {
            Ok(o) => o,
            Err(_) => {
                failures.push_str(&format!("[{case}] timed out under the shim (see above)\n"));
                continue;
            }
        };
        if shim.stdout == native.stdout && shim.code() == Some(0) && native.code() == Some(0) {
            passed += 1;
        } else {
            let how = match (shim.code(), shim.signal()) {
                (_, Some(libc::SIGALRM)) => "hung: killed by the case's alarm(5)".to_string(),
                (Some(c), _) => format!("exit status {c}"),
                (_, Some(sig)) => format!("killed by signal {sig}"),
                _ => "?".to_string(),
            };
            failures.push_str(&format!(
                "[{case}] native exit status {:?}; shim: {how}\n{}  shim stderr: {}\n",
                native.code(),
                line_diff(&native.stdout, &shim.stdout),
                shim.stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{passed} cases identical; these differ (want = native, got = shim):\n{failures}"
    );
}

/// The checked variants a `_FORTIFY_SOURCE=2` binary imports (`__read_chk`, `__recv_chk`,
/// `__recvfrom_chk`) wait like the plain calls, and still catch an overflow.
#[test]
fn fortify_variants_shim_match_native() {
    let _g = serial();
    let bin = compile("net_fortify");
    let want = "__read_chk: rc=5 \"hello\"\n__recv_chk: peek=5 \"peek!\" then=5 \"peek!\"\n\
                __recvfrom_chk: rc=5 \"dgram\"\ndone\n";
    for mode in [Mode::Native, Mode::Shim] {
        let out = run(command(mode, &bin, &[]), Duration::from_secs(15));
        assert!(
            out.code() == Some(0) && out.stdout == want,
            "{mode:?}\n{}\n{}",
            line_diff(want, &out.stdout),
            out.describe()
        );
        let out = run(command(mode, &bin, &["overflow"]), Duration::from_secs(15));
        assert!(
            out.signal() == Some(libc::SIGABRT)
                && out.stderr.contains("buffer overflow detected")
                && !out.stdout.contains("NOT caught"),
            "{mode:?}: read(fd, buf[8], 16) must abort with `buffer overflow detected`\n{}",
            out.describe()
        );
    }
}

// ----------------------------------------------------------- (d) close while another waits

const CLOSE_WAIT_NATIVE: &str = r#"read_close: reader=still_blocked
read_close_reuse: same_number=yes new_reader=read=3 "new" old_reader=read=3 "old"
accept_close: acceptor=still_blocked
read_dup2: reader=still_blocked
serving: echo=4 "ping"
done
"#;

/// The shim's documented behaviour (issue 3, "no lost wakeups, no stale fds"): the waiter
/// gets EBADF, the fd number's next user is never confused with the old one, and the process
/// keeps serving.
const CLOSE_WAIT_SHIM: &str = r#"read_close: reader=EBADF
read_close_reuse: same_number=yes new_reader=read=3 "new" old_reader=EBADF
accept_close: acceptor=EBADF
read_dup2: reader=EBADF
serving: echo=4 "ping"
done
"#;

/// A probe of what Linux does (the blocked call keeps waiting on the old open file
/// description, and even receives data sent to it later): why the shim must do better.
#[test]
fn close_while_waiting_native_probe() {
    let _g = serial();
    let bin = compile("net_close_wait");
    let out = run(native_command(&bin, &[]), Duration::from_secs(20));
    assert_ok(&out);
    assert!(
        out.stdout == CLOSE_WAIT_NATIVE,
        "{}\n{}",
        line_diff(CLOSE_WAIT_NATIVE, &out.stdout),
        out.describe()
    );
}

#[test]
fn close_while_waiting_shim() {
    let _g = serial();
    let bin = compile("net_close_wait");
    let out = run(shim_command(&bin, &[], &[]), Duration::from_secs(20));
    assert!(
        out.code() == Some(0) && out.stdout == CLOSE_WAIT_SHIM,
        "want = the shim's documented behaviour\n{}\n{}",
        line_diff(CLOSE_WAIT_SHIM, &out.stdout),
        out.describe()
    );
}

// ------------------------------------------------- (e) an inherited fd keeps its O_NONBLOCK

fn nonblock_of(fd: i32) -> bool {
    // SAFETY: F_GETFL on an fd we own.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(fl >= 0, "fcntl(F_GETFL) on our copy of the pipe failed");
    fl & libc::O_NONBLOCK != 0
}

/// O_NONBLOCK of fd `fd` of process `pid`, from the `flags:` line of /proc/PID/fdinfo/FD.
fn child_fd_nonblock(pid: i32, fd: i32) -> Option<bool> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    let flags = s.lines().find_map(|l| l.strip_prefix("flags:"))?.trim();
    let v = i64::from_str_radix(flags, 8).ok()?;
    Some(v & libc::O_NONBLOCK as i64 != 0)
}

/// net_stdin's stdin is a pipe whose read end the test keeps a copy of (the same open file
/// description, so the same O_NONBLOCK). While the child's greenlet is blocked reading it (and
/// another greenlet ticks), the flag must stay clear from the parent's side too.
fn check_stdin(mode: Mode) {
    let bin = compile("net_stdin");
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 into a local array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh fds from pipe2, owned here.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let child_stdin = rd.try_clone().expect("dup of the read end");
    let mut cmd = command(mode, &bin, &[]);
    cmd.stdin(Stdio::from(child_stdin))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().expect("spawn net_stdin");
    let pid = child.id() as i32;
    let kill = |child: &mut Child| {
        // SAFETY: kill(2) of the process group we created, child not reaped yet.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = child.wait();
    };
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    // wait for "reading" (bounded: the child's own alarm(20) ends it in the worst case)
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        loop {
            line.clear();
            match out.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(line.clone()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) => {
                text.push_str(&l);
                if l == "reading\n" {
                    break;
                }
            }
            Err(_) => {
                kill(&mut child);
                panic!("net_stdin ({mode:?}) did not print `reading`; stdout so far:\n{text}");
            }
        }
    }
    // the child's reader is (about to be) blocked in read(0); give it time to really block
    std::thread::sleep(Duration::from_millis(300));
    let nonblock_while_waiting = nonblock_of(rd.as_raw_fd());
    let child_view = child_fd_nonblock(pid, 0);
    let mut w = std::fs::File::from(wr);
    w.write_all(b"hello\n").expect("write to the child's stdin");
    std::thread::sleep(Duration::from_millis(50));
    drop(w); // EOF for the second read
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() >= deadline {
            kill(&mut child);
            panic!("net_stdin ({mode:?}) did not exit; stdout so far:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
        text.push_str(&l);
    }
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    let nonblock_after = nonblock_of(rd.as_raw_fd());
    let want = "stdin_nonblock_at_start=0\nreading\nread: rc=6 \"hello\"\nticks_during_read=ok\n\
                stdin_raw_nonblock_during_read=no\nread2: rc=0\nstdin_nonblock_at_end=0 raw=0\ndone\n";
    assert!(
        status.success()
            && text == want
            && !nonblock_while_waiting
            && !nonblock_after
            && child_view == Some(false),
        "net_stdin ({mode:?}): status {status:?}; O_NONBLOCK of the pipe seen from the parent: \
         while the child waited {nonblock_while_waiting}, after {nonblock_after}; in \
         /proc/PID/fdinfo/0 while it waited {child_view:?} (want false)\n\
         {}\n--- stdout\n{text}--- stderr\n{err}",
        line_diff(want, &text)
    );
}

#[test]
fn inherited_stdin_keeps_flags_native() {
    let _g = serial();
    check_stdin(Mode::Native);
}

#[test]
fn inherited_stdin_keeps_flags_shim() {
    let _g = serial();
    check_stdin(Mode::Shim);
}

/// net_stdout writes 1 MiB to its stdout (a pipe the test drains slowly, ~0.5 s) in one
/// blocking write() while another thread ticks: the write returns the full count, the other
/// thread keeps running, and stdout's O_NONBLOCK never changes (checked in
/// /proc/PID/fdinfo/1 while the write is in progress).
fn check_stdout(mode: Mode) {
    let bin = compile("net_stdout");
    let mut cmd = command(mode, &bin, &[]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().expect("spawn net_stdout");
    let pid = child.id() as i32;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let n = 1usize << 20;
    let mut got = Vec::with_capacity(n);
    let mut buf = vec![0u8; 65536];
    let mut child_view = Vec::new();
    let start = Instant::now();
    loop {
        // child's alarm(20) bounds this loop
        let k = out.read(&mut buf).expect("read the child's stdout");
        if k == 0 {
            break;
        }
        got.extend_from_slice(&buf[..k]);
        if got.len() < n {
            child_view.push(child_fd_nonblock(pid, 1));
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    let drained_in = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() >= deadline {
            // SAFETY: kill(2) of the process group we created, child not reaped yet.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = child.wait();
            panic!("net_stdout ({mode:?}) did not exit");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let err = err_thread.join().unwrap();
    let payload_ok = got.len() == n
        && got
            .iter()
            .enumerate()
            .all(|(i, &b)| b as usize == (i * 7) % 251);
    let want = "write: rc=1048576\nticks_during_write=ok\nstdout_raw_nonblock_during_write=no\n\
                stdout_nonblock_at_end=0 raw=0\ndone\n";
    // A sample taken after the child exited reads nothing (None): only the readable ones count.
    let flag_ok = child_view.iter().flatten().count() > 0 && child_view.iter().flatten().all(|v| !*v);
    assert!(
        status.success() && err == want && payload_ok && flag_ok,
        "net_stdout ({mode:?}): status {status:?}; payload {} bytes, intact {payload_ok}; drained in \
         {:.2} s; O_NONBLOCK of the child's fd 1 while it wrote (fdinfo): {child_view:?}\n{}\n\
         --- stderr\n{err}",
        got.len(),
        drained_in.as_secs_f64(),
        line_diff(want, &err)
    );
}

#[test]
fn inherited_stdout_big_write_native() {
    let _g = serial();
    check_stdout(Mode::Native);
}

#[test]
fn inherited_stdout_big_write_shim() {
    let _g = serial();
    check_stdout(Mode::Shim);
}
