//! strace-style diagnostics: a line per interposed call (`--trace`), a per-call summary at exit
//! (`-c`), and the last-call bookkeeping the hub-blocking monitor reports.
//!
//! Off (the default) this costs each hook one load and one predictable branch: [`on`]. On,
//! a line is formatted into a stack buffer — never allocated, so a hook called from a signal
//! handler can trace too — and written with a single `write` syscall, so lines from different
//! greenlets (or processes sharing the file) never interleave mid-line. Tracing never calls our
//! own exports: it writes with raw syscalls.
//!
//! Line format, after strace's:
//! `[g12 worker-3] read(7, "GET / HTTP/1.1\r\nHost"..., 4096) = 78 <parked 0.003102>`,
//! with `-tt` a wall-clock time after the greenlet, with `-T` the time spent in the call as
//! `<0.000123>` at the end.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};


use gs::hub::{Greenlet, Hub};
use gs::sys;

/// Run `$body` (a hook's work on hub `$h`) and, when diagnostics are on, trace it as `$call`:
/// `traced!(h, read, body, |r, e| [args...], ret)` where `r` is the body's value and `e` the
/// errno after it (errno is preserved for the caller).
macro_rules! traced {
    ($h:expr, $call:ident, $body:expr, |$r:ident, $e:ident| [$($arg:expr),* $(,)?], $ret:expr) => {{
        if $crate::diag::trace::on() {
            #[allow(unused_imports)]
            use $crate::diag::trace::{Arg, Ret};
            let sp = $crate::diag::trace::begin($h, $crate::diag::trace::Call::$call);
            let $r = $body;
            let $e = gs::sys::errno();
            $crate::diag::trace::end($h, sp, $crate::diag::trace::Call::$call, &[$($arg),*], $ret);
            gs::sys::set_errno($e);
            $r
        } else {
            $body
        }
    }};
}

/// The one boundary of an export that reaches the hub: `hook!(h, call, ok, body, |r, e| [args],
/// ret)`. It enters a [`crate::hook::entry::Boundary`] (errno saved, hook depth raised for the whole
/// hook), runs and traces `body`, then restores the caller's errno if `ok(r)` says the call
/// succeeded ([`crate::hook::entry::nonneg`] for the libc convention, [`crate::hook::entry::always`] for
/// calls that return an error code).
macro_rules! hook {
    ($h:expr, $call:ident, $ok:expr, $body:expr, |$r:ident, $e:ident| [$($arg:expr),* $(,)?], $ret:expr) => {{
        let h__ = $h;
        let b__ = $crate::hook::entry::Boundary::enter_call(h__, $crate::diag::trace::Call::$call as u32 + 1);
        let r__ = traced!(h__, $call, $body, |$r, $e| [$($arg),*], $ret);
        b__.leave(($ok)(r__));
        r__
    }};
}

pub use gs::calls::{Call, NAMES};

const NCALLS: usize = NAMES.len();

/// Any diagnostic needs the per-call hook (trace, summary or monitor).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Trace lines on.
static TRACE: AtomicBool = AtomicBool::new(false);
static SUMMARY: AtomicBool = AtomicBool::new(false);
/// Output fd for lines and the summary.
static OUT_FD: AtomicU32 = AtomicU32::new(2);
static STRSIZE: AtomicU32 = AtomicU32::new(32);
static WALLTIME: AtomicBool = AtomicBool::new(false);
static CALLTIME: AtomicBool = AtomicBool::new(false);
/// Bit i: call i is traced (`-e trace=`). All set by default.
static FILTER: [AtomicU64; 2] = [AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)];

/// Per-call summary counters (hub thread only).
#[derive(Clone, Copy)]
struct Count {
    calls: u64,
    errors: u64,
    parks: u64,
    parked_ns: u64,
    total_ns: u64,
}
static mut COUNTS: [Count; NCALLS] = [Count { calls: 0, errors: 0, parks: 0, parked_ns: 0, total_ns: 0 }; NCALLS];

/// Is any diagnostic on? The one branch every hook pays.
#[inline(always)]
pub fn on() -> bool {
    ACTIVE.load(Relaxed)
}

/// Options, from the settings.
pub struct Options<'a> {
    pub trace: bool,
    pub summary: bool,
    pub monitor: bool,
    pub file: Option<&'a str>,
    pub filter: Option<&'a [String]>,
    pub strsize: u32,
    pub walltime: bool,
    pub calltime: bool,
}

/// Configure from the settings (constructor). `Err(line)` for an unusable output file or an
/// unknown call name in the filter.
pub fn configure(o: &Options) -> Result<(), String> {
    if let Some(names) = o.filter {
        let mut bits = [0u64; 2];
        for n in names {
            // The settings validated the names.
            if let Some(i) = gs::calls::by_name(n) {
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        FILTER[0].store(bits[0], Relaxed);
        FILTER[1].store(bits[1], Relaxed);
    }
    if let Some(path) = o.file {
        let c = std::ffi::CString::new(path).map_err(|_| format!("greenshim: GREENSHIM_TRACE_FILE '{path}' contains a NUL byte"))?;
        // Appended to, never truncated: processes the traced program starts inherit the
        // setting and write to the same file (the launcher empties it once, as strace -o).
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC;
        let fd = syscall!(SYS_openat, libc::AT_FDCWD, c.as_ptr(), flags, 0o644)
            .map_err(|e| format!("greenshim: cannot open the trace file GREENSHIM_TRACE_FILE='{path}': {}", errno_text(e).1))? as i32;
        let fd = gs::reactor::move_high(fd).map_err(|e| format!("greenshim: cannot place the trace file descriptor: errno {e}"))?;
        OUT_FD.store(fd as u32, Relaxed);
    } else if o.trace || o.summary {
        // Our own copy of stderr, as strace has its own: the program may close or redirect its
        // fd 2 (coreutils close it in an atexit handler that runs before our summary).
        if let Ok(fd) = syscall!(SYS_fcntl, 2, libc::F_DUPFD_CLOEXEC, gs::reactor::high_fd_floor()) {
            OUT_FD.store(fd as u32, Relaxed);
        }
    }
    STRSIZE.store(o.strsize, Relaxed);
    WALLTIME.store(o.walltime, Relaxed);
    CALLTIME.store(o.calltime, Relaxed);
    TRACE.store(o.trace, Relaxed);
    SUMMARY.store(o.summary, Relaxed);
    ACTIVE.store(o.trace || o.summary || o.monitor, Relaxed);
    Ok(())
}

/// The trace/summary output descriptor (the hub's own: protected from the program's close).
pub fn out_fd() -> Option<i32> {
    let fd = OUT_FD.load(Relaxed) as i32;
    (fd != 2).then_some(fd)
}

/// Move our output descriptor to another high number (the program `dup2`s onto its number).
/// The copy is published before the old number is closed, so a line written meanwhile (by the
/// watchdog thread) still reaches our file.
pub fn move_out_fd() -> Result<(), i32> {
    let Some(old) = out_fd() else { return Ok(()) };
    let new = gs::reactor::dup_high(old)?;
    OUT_FD.store(new as u32, Relaxed);
    let _ = syscall!(SYS_close, old);
    Ok(())
}

/// Snapshot taken when a traced call starts.
#[derive(Clone, Copy)]
pub struct Span {
    start: u64,
    parked: u64,
    parks: u64,
}

/// Start a traced call (only when [`on`]).
///
/// # Safety
/// `h` is this thread's hub.
#[inline]
pub unsafe fn begin(h: *mut Hub, call: Call) -> Span {
    let g = (*h).current();
    (*g).last_call = call as u32 + 1;
    if let Some(m) = (*h).diag.and_then(|d| d.monitor) {
        m.last_call.store(call as u32 + 1, Relaxed);
    }
    Span { start: sys::now(), parked: (*g).parked_ns, parks: (*g).parks }
}

/// An argument, decoded for the trace line.
pub enum Arg<'a> {
    Int(i64),
    Hex(u64),
    /// A buffer: shown as a string cut at `-s`, with `...` if longer. `None`: unknown (failed
    /// read), printed as its address.
    Buf(*const u8, Option<usize>),
    /// Bit flags with names; leftover bits in hex.
    Flags(u64, &'a [(u64, &'a str)]),
    /// One value among names.
    Sym(i64, &'a [(i64, &'a str)]),
    /// Nanoseconds, printed as a `{tv_sec=.., tv_nsec=..}`-like duration.
    Dur(Option<u64>),
    /// A socket type with its flags: `SOCK_STREAM|SOCK_CLOEXEC`.
    SockType(i64),
    /// The two fds of a pipe/socketpair: `[3, 4]` when filled (else the address).
    Fds(*const libc::c_int, bool),
    Raw(&'a str),
    /// Nothing: an argument the call does not take in this form (`fcntl(fd, F_GETFL)`).
    Skip,
}

/// How a call returned.
pub enum Ret {
    /// The libc convention: a value, or -1 with errno.
    Int(i64, i32),
    /// pthread convention: 0 or an error number.
    Code(i32),
}

/// Finish a traced call: count it, and print its line if tracing and not filtered out.
///
/// # Safety
/// `h` is this thread's hub; `span` came from [`begin`] in the same greenlet.
pub unsafe fn end(h: *mut Hub, span: Span, call: Call, args: &[Arg], ret: Ret) {
    let g = &*(*h).current();
    let now = sys::now();
    let parked = g.parked_ns.saturating_sub(span.parked);
    let parks = g.parks - span.parks;
    let failed = matches!(ret, Ret::Int(v, _) if v < 0) || matches!(ret, Ret::Code(c) if c != 0);
    if SUMMARY.load(Relaxed) {
        let c = &mut (*std::ptr::addr_of_mut!(COUNTS))[call as usize];
        c.calls += 1;
        c.errors += failed as u64;
        c.parks += parks;
        c.parked_ns += parked;
        c.total_ns += now - span.start;
    }
    let i = call as usize;
    if !TRACE.load(Relaxed) || FILTER[i / 64].load(Relaxed) & (1 << (i % 64)) == 0 {
        return;
    }
    let mut l = Line::new();
    prefix(&mut l, g);
    l.s(NAMES[i]).s("(");
    for (k, a) in args.iter().filter(|a| !matches!(a, Arg::Skip)).enumerate() {
        if k > 0 {
            l.s(", ");
        }
        arg(&mut l, a);
    }
    l.s(") = ");
    match ret {
        Ret::Int(v, e) if v < 0 => {
            let (name, text) = errno_text(e);
            l.s("-1 ").s(name).s(" (").s(text).s(")");
        }
        Ret::Int(v, _) => {
            l.int(v);
        }
        Ret::Code(0) => {
            l.s("0");
        }
        Ret::Code(e) => {
            let (name, text) = errno_text(e);
            l.s(name).s(" (").s(text).s(")");
        }
    }
    if parks > 0 {
        l.s(" <parked ").secs(parked).s(">");
    }
    if CALLTIME.load(Relaxed) {
        l.s(" <").secs(now - span.start).s(">");
    }
    l.s("\n");
    l.emit();
}

/// A line about the run itself, when tracing: `+++ greenshim: TEXT +++`.
pub fn note(text: &str) {
    if !TRACE.load(Relaxed) {
        return;
    }
    let mut l = Line::new();
    l.s("+++ greenshim: ").s(text).s(" +++\n");
    l.emit();
}

/// A greenlet life event: `[g12] +++ spawned by g1 +++`.
///
/// # Safety
/// `g` is a live greenlet.
pub unsafe fn event(g: *const Greenlet, what: &str, num: Option<(&str, u64)>) {
    if !TRACE.load(Relaxed) {
        return;
    }
    let mut l = Line::new();
    l.s("[g").int((*g).seq as i64).s("] ");
    if WALLTIME.load(Relaxed) {
        walltime(&mut l);
    }
    l.s("+++ ").s(what);
    if let Some((pre, v)) = num {
        l.s(pre).int(v as i64);
    }
    l.s(" +++\n");
    l.emit();
}

/// `[g12] +++ exited with 0x0 +++`.
///
/// # Safety
/// `g` is a live greenlet.
pub unsafe fn exited(g: *const Greenlet, retval: usize) {
    if !TRACE.load(Relaxed) {
        return;
    }
    let mut l = Line::new();
    l.s("[g").int((*g).seq as i64).s("] ");
    if WALLTIME.load(Relaxed) {
        walltime(&mut l);
    }
    l.s("+++ exited with 0x").hex(retval as u64).s(" +++\n");
    l.emit();
}

unsafe fn prefix(l: &mut Line, g: &Greenlet) {
    l.s("[g").int(g.seq as i64);
    let n = g.name.iter().position(|&b| b == 0).unwrap_or(16);
    if n > 0 {
        l.s(" ").b(&g.name[..n]);
    }
    l.s("] ");
    if WALLTIME.load(Relaxed) {
        walltime(l);
    }
}

/// `HH:MM:SS.uuuuuu ` in local time, as strace -tt.
fn walltime(l: &mut Line) {
    let ns = sys::clock_ns(libc::CLOCK_REALTIME).unwrap_or(0);
    let secs = (ns / 1_000_000_000) as libc::time_t;
    let us = ((ns / 1000) % 1_000_000) as i64;
    // SAFETY: localtime_r writes only into tm.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&secs, &mut tm) };
    l.pad(tm.tm_hour as i64, 2).s(":").pad(tm.tm_min as i64, 2).s(":").pad(tm.tm_sec as i64, 2).s(".").pad(us, 6).s(" ");
}

unsafe fn arg(l: &mut Line, a: &Arg) {
    match *a {
        Arg::Int(v) => {
            l.int(v);
        }
        Arg::Hex(0) => {
            l.s("NULL");
        }
        Arg::Hex(v) => {
            l.s("0x").hex(v);
        }
        Arg::Raw(s) => {
            l.s(s);
        }
        Arg::Skip => {}
        Arg::Buf(p, None) => {
            l.s("0x").hex(p as u64);
        }
        Arg::Buf(p, Some(n)) => {
            let max = STRSIZE.load(Relaxed) as usize;
            let shown = n.min(max);
            let mut cut = n > max;
            l.s("\"");
            if !p.is_null() {
                for &b in std::slice::from_raw_parts(p, shown) {
                    // Keep room for the rest of the line (result, park time): cut the string.
                    if l.len + 4 > l.buf.len() - TAIL_ROOM {
                        cut = true;
                        break;
                    }
                    l.esc(b);
                }
            }
            l.s("\"");
            if cut {
                l.s("...");
            }
        }
        Arg::Flags(v, names) => {
            let mut left = v;
            let mut first = true;
            for &(bit, name) in names {
                if bit != 0 && left & bit == bit {
                    if !first {
                        l.s("|");
                    }
                    l.s(name);
                    left &= !bit;
                    first = false;
                }
            }
            if left != 0 || first {
                if !first {
                    l.s("|");
                }
                if left == 0 {
                    l.s("0");
                } else {
                    l.s("0x").hex(left);
                }
            }
        }
        Arg::Sym(v, names) => match names.iter().find(|(k, _)| *k == v) {
            Some((_, n)) => {
                l.s(n);
            }
            None => {
                l.int(v);
            }
        },
        Arg::SockType(t) => {
            const BASE: &[(i64, &str)] = &[(1, "SOCK_STREAM"), (2, "SOCK_DGRAM"), (3, "SOCK_RAW"), (5, "SOCK_SEQPACKET")];
            arg(l, &Arg::Sym(t & 0xf, BASE));
            let f = (t & !0xf) as u64;
            if f != 0 {
                l.s("|");
                arg(l, &Arg::Flags(f, SOCK_FLAGS));
            }
        }
        Arg::Fds(p, true) => {
            l.s("[").int(*p as i64).s(", ").int(*p.add(1) as i64).s("]");
        }
        Arg::Fds(p, false) => {
            l.s("0x").hex(p as u64);
        }
        Arg::Dur(None) => {
            l.s("NULL");
        }
        Arg::Dur(Some(ns)) => {
            l.s("{tv_sec=").int((ns / 1_000_000_000) as i64).s(", tv_nsec=").int((ns % 1_000_000_000) as i64).s("}");
        }
    }
}

/// Bytes of a line kept free for what follows a buffer argument (the remaining arguments, the
/// result, the park and call times).
const TAIL_ROOM: usize = 256;

/// A trace line under construction: a stack buffer (small enough for a 16 KiB greenlet stack),
/// written with one syscall. Buffers longer than fit are cut with `...`.
pub struct Line {
    buf: [u8; 2048],
    len: usize,
}

impl Line {
    fn new() -> Line {
        Line { buf: [0; 2048], len: 0 }
    }
    fn b(&mut self, s: &[u8]) -> &mut Self {
        // Keep room for the final newline.
        let n = s.len().min(self.buf.len() - 1 - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
        self
    }
    fn s(&mut self, s: &str) -> &mut Self {
        self.b(s.as_bytes())
    }
    fn int(&mut self, v: i64) -> &mut Self {
        if v < 0 {
            self.s("-");
        }
        let mut t = [0u8; 20];
        let mut i = t.len();
        let mut u = v.unsigned_abs();
        loop {
            i -= 1;
            t[i] = b'0' + (u % 10) as u8;
            u /= 10;
            if u == 0 {
                break;
            }
        }
        self.b(&t[i..])
    }
    fn pad(&mut self, v: i64, width: usize) -> &mut Self {
        let mut t = [b'0'; 20];
        let mut u = v.unsigned_abs();
        let mut i = t.len();
        while u > 0 {
            i -= 1;
            t[i] = b'0' + (u % 10) as u8;
            u /= 10;
        }
        let start = (t.len() - width).min(i);
        self.b(&t[start..])
    }
    fn hex(&mut self, mut v: u64) -> &mut Self {
        let mut t = [0u8; 16];
        let mut i = t.len();
        loop {
            i -= 1;
            t[i] = b"0123456789abcdef"[(v & 15) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        self.b(&t[i..])
    }
    fn secs(&mut self, ns: u64) -> &mut Self {
        self.int((ns / 1_000_000_000) as i64).s(".").pad(((ns / 1000) % 1_000_000) as i64, 6)
    }
    /// One byte of a string, escaped as strace does.
    fn esc(&mut self, c: u8) -> &mut Self {
        match c {
            b'"' => self.s("\\\""),
            b'\\' => self.s("\\\\"),
            b'\n' => self.s("\\n"),
            b'\r' => self.s("\\r"),
            b'\t' => self.s("\\t"),
            0x0b => self.s("\\v"),
            0x0c => self.s("\\f"),
            0x20..=0x7e => self.b(&[c]),
            _ => {
                let o = [b'\\', b'0' + (c >> 6), b'0' + ((c >> 3) & 7), b'0' + (c & 7)];
                self.b(&o)
            }
        }
    }
    fn emit(&mut self) {
        self.buf[self.len] = b'\n';
        if self.len == 0 || self.buf[self.len - 1] != b'\n' {
            self.len += 1;
        }
        let fd = OUT_FD.load(Relaxed) as i32;
        let _ = syscall!(SYS_write, fd, self.buf.as_ptr(), self.len);
    }
}

/// Name and description of an errno value, as strace prints them.
pub fn errno_text(e: i32) -> (&'static str, &'static str) {
    match e {
        libc::EPERM => ("EPERM", "Operation not permitted"),
        libc::ENOENT => ("ENOENT", "No such file or directory"),
        libc::ESRCH => ("ESRCH", "No such process"),
        libc::EINTR => ("EINTR", "Interrupted system call"),
        libc::EIO => ("EIO", "Input/output error"),
        libc::EBADF => ("EBADF", "Bad file descriptor"),
        libc::EAGAIN => ("EAGAIN", "Resource temporarily unavailable"),
        libc::ENOMEM => ("ENOMEM", "Cannot allocate memory"),
        libc::EACCES => ("EACCES", "Permission denied"),
        libc::EFAULT => ("EFAULT", "Bad address"),
        libc::EBUSY => ("EBUSY", "Device or resource busy"),
        libc::EEXIST => ("EEXIST", "File exists"),
        libc::EINVAL => ("EINVAL", "Invalid argument"),
        libc::ENFILE => ("ENFILE", "Too many open files in system"),
        libc::EMFILE => ("EMFILE", "Too many open files"),
        libc::ENOTTY => ("ENOTTY", "Inappropriate ioctl for device"),
        libc::ENOSPC => ("ENOSPC", "No space left on device"),
        libc::ESPIPE => ("ESPIPE", "Illegal seek"),
        libc::EPIPE => ("EPIPE", "Broken pipe"),
        libc::ERANGE => ("ERANGE", "Numerical result out of range"),
        libc::EDEADLK => ("EDEADLK", "Resource deadlock avoided"),
        libc::ENOSYS => ("ENOSYS", "Function not implemented"),
        libc::ENOTSOCK => ("ENOTSOCK", "Socket operation on non-socket"),
        libc::EDESTADDRREQ => ("EDESTADDRREQ", "Destination address required"),
        libc::EMSGSIZE => ("EMSGSIZE", "Message too long"),
        libc::EPROTOTYPE => ("EPROTOTYPE", "Protocol wrong type for socket"),
        libc::ENOPROTOOPT => ("ENOPROTOOPT", "Protocol not available"),
        libc::EPROTONOSUPPORT => ("EPROTONOSUPPORT", "Protocol not supported"),
        libc::EOPNOTSUPP => ("EOPNOTSUPP", "Operation not supported"),
        libc::EAFNOSUPPORT => ("EAFNOSUPPORT", "Address family not supported by protocol"),
        libc::EADDRINUSE => ("EADDRINUSE", "Address already in use"),
        libc::EADDRNOTAVAIL => ("EADDRNOTAVAIL", "Cannot assign requested address"),
        libc::ENETDOWN => ("ENETDOWN", "Network is down"),
        libc::ENETUNREACH => ("ENETUNREACH", "Network is unreachable"),
        libc::ECONNABORTED => ("ECONNABORTED", "Software caused connection abort"),
        libc::ECONNRESET => ("ECONNRESET", "Connection reset by peer"),
        libc::ENOBUFS => ("ENOBUFS", "No buffer space available"),
        libc::EISCONN => ("EISCONN", "Transport endpoint is already connected"),
        libc::ENOTCONN => ("ENOTCONN", "Transport endpoint is not connected"),
        libc::ETIMEDOUT => ("ETIMEDOUT", "Connection timed out"),
        libc::ETIME => ("ETIME", "Timer expired"),
        libc::ECONNREFUSED => ("ECONNREFUSED", "Connection refused"),
        libc::EHOSTUNREACH => ("EHOSTUNREACH", "No route to host"),
        libc::EALREADY => ("EALREADY", "Operation already in progress"),
        libc::EINPROGRESS => ("EINPROGRESS", "Operation now in progress"),
        _ => ("E?", "Unknown error"),
    }
}

/// Print the `-c` table: one row per call made, then the hub's figures.
///
/// # Safety
/// `h` is this thread's hub; called once at exit.
pub unsafe fn print_summary(h: *mut Hub) {
    if !SUMMARY.load(Relaxed) {
        return;
    }
    let counts = &*std::ptr::addr_of!(COUNTS);
    let total: u64 = counts.iter().map(|c| c.total_ns).sum::<u64>().max(1);
    let mut rows: Vec<(usize, Count)> = counts.iter().copied().enumerate().filter(|(_, c)| c.calls > 0).collect();
    rows.sort_by(|a, b| b.1.total_ns.cmp(&a.1.total_ns).then(a.0.cmp(&b.0)));
    let mut l = Line::new();
    l.s("% time     seconds  usecs/call     calls    errors     parks  parked-secs call\n");
    l.emit();
    let mut l = Line::new();
    l.s("------ ----------- ----------- --------- --------- --------- ------------ ----------------\n");
    l.emit();
    let (mut calls, mut errors, mut parks, mut parked, mut secs) = (0, 0, 0, 0, 0);
    for (i, c) in rows {
        let mut l = Line::new();
        let pct = c.total_ns as u128 * 10000 / total as u128;
        l.lpad_int((pct / 100) as i64, 3).s(".").pad((pct % 100) as i64, 2).s(" ");
        l.lpad_secs(c.total_ns, 11).s(" ");
        l.lpad_int((c.total_ns / 1000 / c.calls) as i64, 11).s(" ");
        l.lpad_int(c.calls as i64, 9).s(" ");
        if c.errors > 0 { l.lpad_int(c.errors as i64, 9) } else { l.s("         ") }.s(" ");
        l.lpad_int(c.parks as i64, 9).s(" ");
        l.lpad_secs(c.parked_ns, 12).s(" ").s(NAMES[i]).s("\n");
        l.emit();
        calls += c.calls;
        errors += c.errors;
        parks += c.parks;
        parked += c.parked_ns;
        secs += c.total_ns;
    }
    let mut l = Line::new();
    l.s("------ ----------- ----------- --------- --------- --------- ------------ ----------------\n");
    l.emit();
    let mut l = Line::new();
    l.s("100.00 ").lpad_secs(secs, 11).s(" ").lpad_int((secs / 1000 / calls.max(1)) as i64, 11).s(" ");
    l.lpad_int(calls as i64, 9).s(" ").lpad_int(errors as i64, 9).s(" ").lpad_int(parks as i64, 9).s(" ");
    l.lpad_secs(parked, 12).s(" total\n");
    l.emit();
    let st = (*h).stats;
    let ss = (*h).stacks.stats;
    let mut l = Line::new();
    l.s("hub: greenlets spawned ").int(st.spawned as i64).s(", peak live ").int(st.peak_live as i64);
    l.s(", switches ").int(st.switches as i64).s(", epoll waits ").int(st.epoll_waits as i64);
    l.s(", stacks allocated ").int(ss.allocated as i64).s(", stacks reused ").int(ss.reused as i64);
    l.s(", time-slice yields ").int(st.slice_yields as i64).s(", yield points ").int(st.point_yields as i64).s("\n");
    l.emit();
    let mut l = Line::new();
    if crate::hook::catch::on() {
        l.s("catch: system calls made inside libc are caught too (syscall user dispatch): ").int(crate::hook::catch::traps() as i64).s(" caught\n");
    } else if !crate::hook::catch::off_reason().is_empty() {
        l.s("catch: libc's exported functions only: ").s(crate::hook::catch::off_reason()).s("\n");
    } else {
        l.s("catch: libc's exported functions only (GREENSHIM_CATCH=exports)\n");
    }
    l.emit();
}

impl Line {
    /// Right-align what `f` writes in `width` columns.
    fn lpad(&mut self, width: usize, f: impl FnOnce(&mut Line)) -> &mut Self {
        let mut t = Line::new();
        f(&mut t);
        for _ in t.len..width {
            self.s(" ");
        }
        self.b(&t.buf[..t.len])
    }
    fn lpad_int(&mut self, v: i64, width: usize) -> &mut Self {
        self.lpad(width, |t| {
            t.int(v);
        })
    }
    fn lpad_secs(&mut self, ns: u64, width: usize) -> &mut Self {
        self.lpad(width, |t| {
            t.secs(ns);
        })
    }
}

/// Flag names for trace lines.
pub const MSG_FLAGS: &[(u64, &str)] = &[
    (libc::MSG_OOB as u64, "MSG_OOB"),
    (libc::MSG_PEEK as u64, "MSG_PEEK"),
    (libc::MSG_DONTROUTE as u64, "MSG_DONTROUTE"),
    (libc::MSG_DONTWAIT as u64, "MSG_DONTWAIT"),
    (libc::MSG_WAITALL as u64, "MSG_WAITALL"),
    (libc::MSG_NOSIGNAL as u64, "MSG_NOSIGNAL"),
    (libc::MSG_MORE as u64, "MSG_MORE"),
    (libc::MSG_TRUNC as u64, "MSG_TRUNC"),
    (libc::MSG_CMSG_CLOEXEC as u64, "MSG_CMSG_CLOEXEC"),
];
pub const SOCK_FLAGS: &[(u64, &str)] = &[(libc::SOCK_NONBLOCK as u64, "SOCK_NONBLOCK"), (libc::SOCK_CLOEXEC as u64, "SOCK_CLOEXEC")];
pub const O_FLAGS: &[(u64, &str)] = &[
    (libc::O_NONBLOCK as u64, "O_NONBLOCK"),
    (libc::O_CLOEXEC as u64, "O_CLOEXEC"),
    (libc::O_APPEND as u64, "O_APPEND"),
    (libc::O_RDWR as u64, "O_RDWR"),
    (libc::O_WRONLY as u64, "O_WRONLY"),
    (libc::O_DIRECT as u64, "O_DIRECT"),
    (libc::O_ASYNC as u64, "O_ASYNC"),
];
pub const AF: &[(i64, &str)] = &[
    (libc::AF_UNIX as i64, "AF_UNIX"),
    (libc::AF_INET as i64, "AF_INET"),
    (libc::AF_INET6 as i64, "AF_INET6"),
    (libc::AF_NETLINK as i64, "AF_NETLINK"),
];
pub const FCNTL_CMDS: &[(i64, &str)] = &[
    (libc::F_DUPFD as i64, "F_DUPFD"),
    (libc::F_GETFD as i64, "F_GETFD"),
    (libc::F_SETFD as i64, "F_SETFD"),
    (libc::F_GETFL as i64, "F_GETFL"),
    (libc::F_SETFL as i64, "F_SETFL"),
    (libc::F_DUPFD_CLOEXEC as i64, "F_DUPFD_CLOEXEC"),
];
pub const CLOCKS: &[(i64, &str)] = &[
    (libc::CLOCK_REALTIME as i64, "CLOCK_REALTIME"),
    (libc::CLOCK_MONOTONIC as i64, "CLOCK_MONOTONIC"),
    (libc::CLOCK_BOOTTIME as i64, "CLOCK_BOOTTIME"),
    (libc::CLOCK_TAI as i64, "CLOCK_TAI"),
];
