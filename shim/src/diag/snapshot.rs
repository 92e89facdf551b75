//! Every greenlet's state, read from what the hub publishes (`gs::live`), formatted as the live
//! view's table or as dump lines.
//!
//! This runs on the live thread (see `live`), a bare `clone` thread that glibc does not know
//! about: it must allocate nothing, touch no thread-local (it shares the hub thread's thread
//! pointer), call no libc function (our own exports would take it for the hub thread), and
//! never panic. So: atomics loads, raw system calls, fixed buffers, `get` instead of indexing.
//! It reads nothing the hub owns, so it answers whatever the hub does, even when a greenlet
//! holds it forever.

use std::sync::atomic::Ordering::{Acquire, Relaxed};

use gs::live::{self, Live};
use gs::sys::LineBuf;

/// Output in chunks of up to [`Out::CAP`] bytes, handed to a sink (a datagram, a write).
pub struct Out<'a> {
    buf: [u8; Out::CAP],
    len: usize,
    sink: &'a mut dyn FnMut(&[u8]),
}

impl<'a> Out<'a> {
    pub const CAP: usize = 16384;

    pub fn new(sink: &'a mut dyn FnMut(&[u8])) -> Self {
        Out { buf: [0; Out::CAP], len: 0, sink }
    }

    /// Append a whole line (lines never straddle two chunks).
    pub fn line(&mut self, l: &[u8]) {
        if self.len + l.len() > Out::CAP {
            self.flush();
        }
        let n = l.len().min(Out::CAP);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.len..self.len + n), l.get(..n)) {
            dst.copy_from_slice(src);
            self.len += n;
        }
    }

    pub fn flush(&mut self) {
        if self.len > 0 {
            (self.sink)(self.buf.get(..self.len).unwrap_or(&[]));
            self.len = 0;
        }
    }
}

/// CLOCK_MONOTONIC_COARSE (the hub's stamps) and CLOCK_MONOTONIC, in ns, by raw syscall.
pub fn now() -> (u64, u64) {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    let _ = syscall!(SYS_clock_gettime, libc::CLOCK_MONOTONIC_COARSE, &mut ts as *mut libc::timespec);
    let coarse_ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
    let _ = syscall!(SYS_clock_gettime, libc::CLOCK_MONOTONIC, &mut ts as *mut libc::timespec);
    (coarse_ns, ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// What the OS thread of the hub is doing, from `/proc/self/task/TID/{stat,syscall}`.
#[derive(Clone, Copy)]
pub struct Thread {
    /// In the kernel, waiting (state S or D).
    pub blocked: bool,
    /// The system call it waits in, if the kernel says.
    pub syscall: Option<u64>,
}

fn read_proc(path: &[u8], buf: &mut [u8]) -> usize {
    let Ok(fd) = syscall!(SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) else { return 0 };
    let n = syscall!(SYS_read, fd, buf.as_mut_ptr(), buf.len()).unwrap_or(0) as usize;
    let _ = syscall!(SYS_close, fd);
    n
}

/// `/proc/PID/task/TID/` + `leaf`, NUL-terminated (not `/proc/self`: the reader is a task of
/// its own).
fn task_path(pid: i32, tid: i32, leaf: &str) -> LineBuf {
    let mut p = LineBuf::new();
    p.str("/proc/").num(pid as u64).str("/task/").num(tid as u64).str("/").str(leaf).str("\0");
    p
}

pub fn hub_thread(pid: i32, tid: i32) -> Thread {
    let path = task_path(pid, tid, "stat");
    let mut buf = [0u8; 512];
    let n = read_proc(path.as_bytes(), &mut buf);
    let text = buf.get(..n).unwrap_or(&[]);
    // "pid (comm) S ...": the state follows the last ')'.
    let state = text.iter().rposition(|&b| b == b')').and_then(|i| text.get(i + 2)).copied().unwrap_or(b'R');
    let blocked = matches!(state, b'S' | b'D');
    let mut syscall = None;
    if blocked {
        let path = task_path(pid, tid, "syscall");
        let n = read_proc(path.as_bytes(), &mut buf);
        let mut v = 0u64;
        let mut any = false;
        for &b in buf.get(..n).unwrap_or(&[]) {
            if !b.is_ascii_digit() {
                break;
            }
            v = v * 10 + (b - b'0') as u64;
            any = true;
        }
        syscall = any.then_some(v);
    }
    Thread { blocked, syscall }
}

/// The process's name (`/proc/PID/comm`), without the newline.
fn comm(pid: i32, buf: &mut [u8; 32]) -> &[u8] {
    let mut path = LineBuf::new();
    path.str("/proc/").num(pid as u64).str("/comm\0");
    let n = read_proc(path.as_bytes(), buf);
    let s = buf.get(..n).unwrap_or(&[]);
    s.strip_suffix(b"\n").unwrap_or(s)
}

/// One greenlet as read.
#[derive(Clone, Copy)]
pub struct Row {
    pub seq: u64,
    pub name: [u8; 16],
    pub what: live::What,
    pub arg: u64,
    pub call: u32,
}

/// The other hubs' published blocks and OS thread ids (none with one hub), by hub index.
pub fn other_hubs(mut f: impl FnMut(usize, &Live, i32)) {
    for (k, p) in super::live::HUB_LIVES.iter().enumerate() {
        let p = p.load(Acquire);
        if !p.is_null() {
            // SAFETY: published blocks are leaked: valid for the life of the process.
            f(k, unsafe { &*p }, super::live::HUB_TIDS[k].load(Relaxed));
        }
    }
}

/// Every published greenlet, in slot order.
pub fn rows(l: &Live, f: impl FnMut(&Row)) {
    rows_from(l, 0, f)
}

/// Another hub's greenlets: slot 0 is its main greenlet, which only schedules.
pub fn hub_rows(l: &Live, f: impl FnMut(&Row)) {
    rows_from(l, 1, f)
}

fn rows_from(l: &Live, first: usize, mut f: impl FnMut(&Row)) {
    let n = l.slots.load(Acquire);
    for i in first..n {
        let Some(e) = l.entry(i) else { continue };
        let seq = e.seq.load(Relaxed);
        let w = e.what.load(Relaxed);
        if seq == 0 || w & 15 == live::K_FREE {
            continue;
        }
        let row = Row { seq, name: Live::name(e), what: live::decode(w), arg: e.arg.load(Relaxed), call: e.call.load(Relaxed) };
        f(&row);
    }
}

/// Totals for the header.
#[derive(Default)]
pub struct Totals {
    pub greenlets: u64,
    pub running: Option<Row>,
    pub runnable: u64,
    pub parked: u64,
    /// Greenlets parked on an fd (each counted once; a poll on several fds shows its first).
    pub fd_waits: u64,
}

pub fn totals(l: &Live) -> Totals {
    totals_of(l, 0)
}

fn totals_of(l: &Live, first: usize) -> Totals {
    let mut t = Totals::default();
    rows_from(l, first, |r| {
        if r.what.kind == live::K_DEAD {
            return;
        }
        t.greenlets += 1;
        if r.what.kind == live::K_RUNNING {
            t.running = Some(*r);
        } else if r.what.runnable || matches!(r.what.kind, live::K_NEW | live::K_YIELD) {
            t.runnable += 1;
        } else {
            t.parked += 1;
            if matches!(r.what.kind, live::K_FD_READ | live::K_FD_WRITE) {
                t.fd_waits += 1;
            }
        }
    });
    t
}

pub fn push_hex(l: &mut LineBuf, v: u64) {
    l.str("0x");
    let mut started = false;
    for k in (0..16).rev() {
        let d = (v >> (k * 4)) & 15;
        if d != 0 || started || k == 0 {
            started = true;
            l.push(&[b"0123456789abcdef"[d as usize]]);
        }
    }
}

/// A duration for people: `850ms`, `12.3s`, `5m02s`, `3h04m`, `2d03h`.
pub fn push_dur(l: &mut LineBuf, ms: u64) {
    let two = |l: &mut LineBuf, v: u64| {
        if v < 10 {
            l.str("0");
        }
        l.num(v);
    };
    if ms < 1000 {
        l.num(ms).str("ms");
    } else if ms < 60_000 {
        l.num(ms / 1000).str(".").num(ms % 1000 / 100).str("s");
    } else if ms < 3_600_000 {
        l.num(ms / 60_000).str("m");
        two(l, ms % 60_000 / 1000);
        l.str("s");
    } else if ms < 86_400_000 {
        l.num(ms / 3_600_000).str("h");
        two(l, ms % 3_600_000 / 60_000);
        l.str("m");
    } else {
        l.num(ms / 86_400_000).str("d");
        two(l, ms % 86_400_000 / 3_600_000);
        l.str("h");
    }
}

fn push_call(l: &mut LineBuf, call: u32) {
    match call.checked_sub(1).and_then(|c| gs::calls::NAMES.get(c as usize)) {
        Some(n) => l.str(n),
        None => l.str("-"),
    };
}

/// A name, with anything unprintable shown as '?'.
fn push_name(l: &mut LineBuf, name: &[u8; 16]) {
    for &b in name.iter().take_while(|&&b| b != 0) {
        l.push(&[if (0x20..0x7f).contains(&b) { b } else { b'?' }]);
    }
}

/// What a parked greenlet waits for, in the words of the safe-point dump (`deadlock.rs`):
/// `fd 5 (read)`, `mutex 0x...`, `join g3`, `sleep`, `a signal`.
fn push_dump_wait(l: &mut LineBuf, live: &Live, r: &Row) {
    let w = r.what;
    match w.kind {
        live::K_FD_READ => l.str("fd ").num(w.payload).str(" (read)"),
        live::K_FD_WRITE => l.str("fd ").num(w.payload).str(" (write)"),
        live::K_OBJECT => {
            l.str(live.kind_str(w.payload as usize).unwrap_or("object")).str(" ");
            push_hex(l, r.arg);
            &mut *l
        }
        live::K_JOIN if r.arg != 0 => l.str("join g").num(r.arg),
        live::K_JOIN => l.str("join (gone)"),
        live::K_SLEEP => l.str("sleep"),
        live::K_SIGNAL => l.str("a signal"),
        _ => l.str("unpark"),
    };
    if w.runnable {
        l.str(" (woken, runnable)");
    }
}

/// The state of `r` in words (`parked on fd 7 for read`, `on mutex 0x...`); `thread`: the
/// hub thread's, which tells a running greenlet in a blocking call from one that computes.
pub fn push_state(l: &mut LineBuf, live: &Live, r: &Row, thread: Thread, now_ns: u64) {
    let w = r.what;
    if w.kind == live::K_RUNNING {
        if thread.blocked {
            l.str("in a blocking call");
            if r.call != 0 {
                l.str(" ");
                push_call(l, r.call);
            }
            if let Some(nr) = thread.syscall {
                l.str(" (syscall ").num(nr).str(")");
            }
        } else {
            l.str("running");
        }
        return;
    }
    if w.kind == live::K_DEAD {
        l.str("ended, not joined");
        return;
    }
    if w.kind == live::K_NEW {
        l.str("runnable, not started");
        return;
    }
    if w.kind == live::K_YIELD {
        l.str("runnable (yielded)");
        return;
    }
    if w.runnable {
        l.str("runnable, woken from: ");
    }
    match w.kind {
        live::K_FD_READ | live::K_FD_WRITE => {
            l.str("parked on fd ").num(w.payload).str(if w.kind == live::K_FD_READ { " for read" } else { " for write" });
        }
        live::K_OBJECT => {
            l.str("on ");
            match live.kind_str(w.payload as usize) {
                Some(k) => l.str(k),
                None => l.str("object"),
            };
            l.str(" ");
            push_hex(l, r.arg);
        }
        live::K_JOIN => {
            l.str("joining ");
            match r.arg {
                0 => l.str("an ended thread"),
                s => l.str("g").num(s),
            };
        }
        live::K_SLEEP => {
            l.str("sleeping");
            if r.arg > now_ns {
                l.str(", ");
                push_dur(l, (r.arg - now_ns) / 1_000_000);
                l.str(" left");
            }
        }
        live::K_SIGNAL => {
            l.str("waiting for a signal (sigwait, sigsuspend, pause or poll on no fd)");
        }
        _ => {
            l.str("parked");
        }
    };
}

/// Left-pad what `f` writes to `width` columns.
fn rpad(l: &mut LineBuf, width: usize, f: impl FnOnce(&mut LineBuf)) {
    let mut t = LineBuf::new();
    f(&mut t);
    for _ in t.as_bytes().len()..width {
        l.str(" ");
    }
    l.push(t.as_bytes());
}

fn to_col(l: &mut LineBuf, col: usize) {
    while l.as_bytes().len() < col {
        l.str(" ");
    }
}

/// The live view's columns up to STATE: `    g12 name-up-to-15     12.3s  read    `.
fn columns(l: &mut LineBuf, id: &[u8], name: &[u8], time: &[u8], call: &[u8]) {
    rpad(l, 7, |t| {
        t.push(id);
    });
    l.str(" ");
    l.push(name);
    to_col(l, 24);
    rpad(l, 8, |t| {
        t.push(time);
    });
    l.str("  ");
    l.push(call);
    to_col(l, STATE_COL - 1);
    l.str(" ");
}

/// Column where the STATE column starts in the live view (tests rely on it).
pub const STATE_COL: usize = 52;

/// Hub figures measured over an interval by the caller.
pub struct Rates {
    pub switches_per_s: u64,
    pub parks_per_s: u64,
}

/// The live view: a header and a row per greenlet.
pub fn view(out: &mut Out, live: &Live, pid: i32, tid: i32, rates: &Rates) {
    let (coarse_ns, now_ns) = now();
    let thread = hub_thread(pid, tid);
    let t = totals(live);
    let mut all = Totals { running: None, ..t };
    let mut running = t.running.is_some() as u64;
    other_hubs(|_, o, _| {
        let u = totals_of(o, 1);
        all.greenlets += u.greenlets;
        all.runnable += u.runnable;
        all.parked += u.parked;
        running += u.running.is_some() as u64;
    });
    let mut name = [0u8; 32];
    let mut l = LineBuf::new();
    l.str("greenshim live view of pid ").num(pid as u64).str(" (").push(comm(pid, &mut name)).str("): ").num(all.greenlets).str(" greenlets, ");
    l.num(running).str(" running, ").num(all.runnable).str(" runnable, ").num(all.parked).str(" parked\n");
    out.line(l.as_bytes());
    let mut l = LineBuf::new();
    l.str("hub: ");
    match &t.running {
        Some(r) => {
            let ms = live::elapsed_ms(r.what.since, coarse_ns);
            l.str("g").num(r.seq).str(" has held it for ");
            push_dur(&mut l, ms);
            if thread.blocked {
                l.str(" (in a blocking call)");
            } else if ms >= 100 {
                l.str(" (not at a safe point)");
            }
        }
        None => {
            l.str(if thread.blocked { "waiting for events" } else { "scheduling" });
        }
    }
    l.str("; ").num(rates.switches_per_s).str(" switches/s, ").num(rates.parks_per_s).str(" parks/s, run queue ");
    l.num(t.runnable).str(", ").num(t.fd_waits).str(" fds watched\n");
    out.line(l.as_bytes());
    other_hubs(|k, o, otid| {
        let u = totals_of(o, 1);
        let th = hub_thread(pid, otid);
        let mut l = LineBuf::new();
        l.str("hub ").num(k as u64).str(": ");
        match &u.running {
            Some(r) => {
                l.str("g").num(r.seq).str(" has held it for ");
                push_dur(&mut l, live::elapsed_ms(r.what.since, coarse_ns));
                if th.blocked {
                    l.str(" (in a blocking call)");
                }
            }
            None => {
                l.str(if th.blocked { "waiting for events" } else { "scheduling" });
            }
        }
        l.str("; run queue ").num(u.runnable).str(", ").num(u.fd_waits).str(" fds watched\n");
        out.line(l.as_bytes());
    });
    out.line(b"\n");
    let mut l = LineBuf::new();
    columns(&mut l, b"ID", b"NAME", b"TIME", b"LAST CALL");
    l.str("STATE\n");
    out.line(l.as_bytes());
    rows(live, |r| view_row(out, live, r, thread, coarse_ns, now_ns));
    other_hubs(|_, o, otid| {
        let th = hub_thread(pid, otid);
        hub_rows(o, |r| view_row(out, o, r, th, coarse_ns, now_ns));
    });
    out.flush();
}

/// One greenlet's row of [`view`].
fn view_row(out: &mut Out, live: &Live, r: &Row, thread: Thread, coarse_ns: u64, now_ns: u64) {
    let mut l = LineBuf::new();
    let (mut id, mut name, mut time, mut call) = (LineBuf::new(), LineBuf::new(), LineBuf::new(), LineBuf::new());
    id.str("g").num(r.seq);
    push_name(&mut name, &r.name);
    push_dur(&mut time, live::elapsed_ms(r.what.since, coarse_ns));
    push_call(&mut call, r.call);
    columns(&mut l, id.as_bytes(), name.as_bytes(), time.as_bytes(), call.as_bytes());
    push_state(&mut l, live, r, thread, now_ns);
    l.str("\n");
    out.line(l.as_bytes());
}

/// The greenlet dump from the published state (the hub did not reach a safe point): the lines
/// of the safe-point dump (`greenshim:   g2 "name" parked 12 ms: fd 5 (read)`), the running
/// greenlet marked `running (not at a safe point)` or `in a blocking call NAME`.
pub fn dump(out: &mut Out, live: &Live, pid: i32, tid: i32, waited_ms: u64) {
    let (coarse_ns, now_ns) = now();
    let thread = hub_thread(pid, tid);
    let mut l = LineBuf::new();
    l.str("greenshim: greenlet dump (dump signal; no safe point within ").num(waited_ms);
    l.str(" ms: from the state the hub publishes)\n");
    out.line(l.as_bytes());
    rows(live, |r| dump_row(out, live, r, thread, coarse_ns, now_ns));
    other_hubs(|_, o, otid| {
        let th = hub_thread(pid, otid);
        hub_rows(o, |r| dump_row(out, o, r, th, coarse_ns, now_ns));
    });
    out.flush();
}

/// One line of [`dump`].
fn dump_row(out: &mut Out, live: &Live, r: &Row, thread: Thread, coarse_ns: u64, now_ns: u64) {
    let mut l = LineBuf::new();
    l.str("greenshim:   g").num(r.seq).str(" \"");
    push_name(&mut l, &r.name);
    l.str("\" ");
    let ms = live::elapsed_ms(r.what.since, coarse_ns);
    if r.what.kind == live::K_RUNNING {
        if thread.blocked {
            push_state(&mut l, live, r, thread, now_ns);
            l.str(" for ").num(ms).str(" ms");
        } else {
            l.str("running (not at a safe point) for ").num(ms).str(" ms; last call: ");
            push_call(&mut l, r.call);
        }
    } else if r.what.kind == live::K_DEAD {
        l.str("ended, not joined");
    } else if matches!(r.what.kind, live::K_NEW | live::K_YIELD) {
        l.str("runnable");
    } else {
        l.str("parked ").num(ms).str(" ms: ");
        push_dump_wait(&mut l, live, r);
    }
    l.str("\n");
    out.line(l.as_bytes());
}
