//! The live thread's code (see `live` for what the thread is and why it is built so): wait for
//! a request on the socket, check who sent it, answer `view` with the table and `dump` (from the
//! dump signal's handler) with the dump if the hub gives no safe point in time.
//!
//! Everything here runs on that bare task: raw system calls, fixed buffers, no allocation, no
//! thread-local, no libc call, no panic (see `snapshot`).

use std::ffi::c_void;
use std::sync::atomic::Ordering::Relaxed;

use gs::live::Live;
use gs::sys;

use crate::diag::live::{CLOSED, DUMPS, DUMP_WAIT_MS, FD, LIVE, PID, TID, UID, VIEWS};
use crate::diag::snapshot::{self, Out, Rates};

fn sleep_ms(ms: u64) {
    let ts = sys::ns_timespec(ms as i128 * 1_000_000);
    let _ = syscall!(SYS_nanosleep, &ts as *const libc::timespec, 0usize);
}

/// A request: its text, the sender's address and credentials.
struct Request {
    buf: [u8; 16],
    len: usize,
    from: libc::sockaddr_un,
    fromlen: u32,
    cred: Option<libc::ucred>,
}

fn receive(fd: i32) -> Result<Request, i32> {
    // SAFETY: zeroed plain C structs.
    let mut r = Request { buf: [0; 16], len: 0, from: unsafe { std::mem::zeroed() }, fromlen: 0, cred: None };
    let mut iov = libc::iovec { iov_base: r.buf.as_mut_ptr().cast(), iov_len: r.buf.len() };
    let mut control = [0u64; 8];
    // SAFETY: zeroed msghdr, then every pointer set to live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut r.from as *mut libc::sockaddr_un).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_un>() as u32;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    r.len = syscall!(SYS_recvmsg, fd, &mut msg as *mut libc::msghdr, libc::MSG_CMSG_CLOEXEC)? as usize;
    r.fromlen = msg.msg_namelen;
    // SAFETY: the kernel filled msg_control; CMSG_* walk it within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_CREDENTIALS {
                r.cred = Some(std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::ucred));
            } else if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                // Nobody should send us descriptors; close any (they arrive close-on-exec).
                let n = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                let p = libc::CMSG_DATA(c) as *const i32;
                for i in 0..n {
                    let _ = syscall!(SYS_close, std::ptr::read_unaligned(p.add(i)));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(r)
}

/// Send `chunk` to the client, waiting at most 2 s for room (a client that stopped reading
/// must not hold this thread). False once it failed.
fn send(fd: i32, to: &libc::sockaddr_un, tolen: u32, chunk: &[u8]) -> bool {
    for _ in 0..200 {
        match syscall!(SYS_sendto, fd, chunk.as_ptr(), chunk.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL, to as *const libc::sockaddr_un, tolen) {
            Ok(_) => return true,
            Err(libc::EAGAIN) | Err(libc::EINTR) => sleep_ms(10),
            Err(_) => return false,
        }
    }
    false
}

/// Switch and park counters at a moment (ns, switches, parks).
type Sample = (u64, u64, u64);

fn sample(l: &Live) -> Sample {
    (snapshot::now().1, l.switches.load(Relaxed), l.parks.load(Relaxed))
}

fn rates(prev: &mut Option<Sample>, l: &Live) -> Rates {
    let mut s0 = match *prev {
        Some(p) if snapshot::now().1.saturating_sub(p.0) < 5_000_000_000 => p,
        _ => {
            let p = sample(l);
            sleep_ms(200);
            p
        }
    };
    let s1 = sample(l);
    if s1.0 <= s0.0 {
        s0.0 = s1.0.saturating_sub(1);
    }
    let dt = s1.0 - s0.0;
    *prev = Some(s1);
    let per_s = |d: u64| (d as u128 * 1_000_000_000 / dt as u128) as u64;
    Rates { switches_per_s: per_s(s1.1.wrapping_sub(s0.1)), parks_per_s: per_s(s1.2.wrapping_sub(s0.2)) }
}

/// The dump signal arrived: give the hub [`DUMP_WAIT_MS`] to dump at a safe point, else dump
/// from the published state.
fn dump_when_held(l: &Live) {
    for _ in 0..DUMP_WAIT_MS / 5 {
        if !crate::diag::wiring::dump_pending() {
            return;
        }
        sleep_ms(5);
    }
    if !crate::diag::wiring::take_dump_request() {
        return; // the hub got there first
    }
    // This task keeps none of the program's descriptors (see `serve`): reach the program's
    // current stderr through /proc, appending, for the time of the dump.
    let pid = PID.load(Relaxed);
    let mut p = sys::LineBuf::new();
    p.str("/proc/").num(pid as u64).str("/fd/2").push(&[0]);
    let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CLOEXEC | libc::O_NOCTTY;
    let Ok(err) = syscall!(SYS_open, p.as_bytes().as_ptr(), flags, 0) else { return };
    let err = err as i32;
    let mut sink = |mut chunk: &[u8]| {
        while !chunk.is_empty() {
            match syscall!(SYS_write, err, chunk.as_ptr(), chunk.len()) {
                Ok(n) if n > 0 => chunk = &chunk[n as usize..],
                Err(libc::EINTR) => {}
                _ => return,
            }
        }
    };
    let mut out = Out::new(&mut sink);
    snapshot::dump(&mut out, l, pid, TID.load(Relaxed), DUMP_WAIT_MS);
    let _ = syscall!(SYS_close, err);
}

/// Tell the creator that this task holds none of the program's descriptors (or is ending).
fn closed() {
    CLOSED.store(1, std::sync::atomic::Ordering::Release);
    let _ = syscall!(SYS_futex, CLOSED.as_ptr(), libc::FUTEX_WAKE, 1);
}

/// The thread's entry (never returns).
pub(super) extern "C" fn serve(_: *mut c_void) -> libc::c_int {
    // Every signal, even those the hub thread never blocks: nothing is delivered here.
    let all = u64::MAX;
    let _ = syscall!(SYS_rt_sigprocmask, libc::SIG_SETMASK, &all as *const u64, 0usize, 8);
    // This task has a copy of the program's descriptor table (no CLONE_FILES): keep only the
    // socket, first thing, and tell the creator, which waits for it. Sharing the table, or
    // keeping copies, would keep the program's files open after it ended — until this task got
    // its PDEATHSIG — so a parent that reaped it could still find its listening address bound
    // or a pipe without EOF.
    let fd = FD.load(Relaxed);
    if fd > 0 {
        let _ = syscall!(SYS_close_range, 0u32, (fd - 1) as u32, 0u32);
    }
    let _ = syscall!(SYS_close_range, (fd.max(-1) + 1) as u32, u32::MAX, 0u32);
    closed();
    // End with the program (the thread that made us: the hub's); it may already be gone.
    let _ = syscall!(SYS_prctl, libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    if syscall!(SYS_getppid).unwrap_or(0) as i32 != PID.load(Relaxed) {
        let _ = syscall!(SYS_exit, 0);
    }
    let _ = syscall!(SYS_prctl, libc::PR_SET_NAME, c"greenshim-live".as_ptr());
    let live = LIVE.load(Relaxed);
    if live.is_null() || fd < 0 {
        let _ = syscall!(SYS_exit, 0);
    }
    // SAFETY: the hub's published block is leaked: valid for the life of the process.
    let live = unsafe { &*live };
    let mut prev: Option<Sample> = None;
    loop {
        // Our own copy of the socket: whatever the program's table does, this number stays.
        let r = match receive(fd) {
            Ok(r) => r,
            Err(libc::EINTR) => continue,
            Err(_) => {
                sleep_ms(100);
                continue;
            }
        };
        let Some(cred) = r.cred else { continue };
        if cred.uid != UID.load(Relaxed) {
            continue;
        }
        let pid = PID.load(Relaxed);
        match r.buf.get(..r.len).unwrap_or(&[]) {
            b"view" if VIEWS.load(Relaxed) && r.fromlen > 2 => {
                let rates = rates(&mut prev, live);
                let mut ok = true;
                {
                    let mut sink = |chunk: &[u8]| {
                        ok = ok && send(fd, &r.from, r.fromlen, chunk);
                    };
                    snapshot::view(&mut Out::new(&mut sink), live, pid, TID.load(Relaxed), &rates);
                }
                // The end: an empty datagram (only after a complete answer).
                if ok {
                    send(fd, &r.from, r.fromlen, &[]);
                }
            }
            b"dump" if DUMPS.load(Relaxed) && cred.pid == pid => dump_when_held(live),
            _ => {}
        }
    }
}
