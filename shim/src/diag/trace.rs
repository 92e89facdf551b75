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

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};


use gs::hub::{Greenlet, Hub};
use gs::sys;

mod fileargs;
mod peek;
mod sigargs;
mod sockargs;
mod errnos;
mod line;
mod summary;

pub use line::Line;
use line::TAIL_ROOM;

pub use errnos::errno_text;
pub use summary::print_summary;

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
// The filter holds 128 bits.
const _: () = assert!(NCALLS <= 128);

/// Any diagnostic needs the per-call hook (trace, summary or monitor).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Trace lines on.
static TRACE: AtomicBool = AtomicBool::new(false);
static SUMMARY: AtomicBool = AtomicBool::new(false);
/// What [`start`] switches on: bit 0 trace, bit 1 summary, bit 2 the monitor.
static PENDING: AtomicU8 = AtomicU8::new(0);
/// Output fd for lines and the summary.
static OUT_FD: AtomicU32 = AtomicU32::new(2);
static STRSIZE: AtomicU32 = AtomicU32::new(32);
static WALLTIME: AtomicBool = AtomicBool::new(false);
static CALLTIME: AtomicBool = AtomicBool::new(false);
/// More than one process in the run: lines start with `[pid N ...]`, as strace -f's once it
/// traces a second process. Set in a process that forked or spawned, in a fork child, and in a
/// program whose parent is not the launcher (a child of a traced process, after its exec).
static MULTI: AtomicBool = AtomicBool::new(false);
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
    /// The launcher's pid (`GREENSHIM_LAUNCHER_PID`), if it started the run.
    pub launcher_pid: Option<u32>,
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
        let c = std::ffi::CString::new(path).map_err(|_| format!("greenshim: GREENSHIM_TRACE_FILE='{path}' contains a NUL byte; set it to a plain path"))?;
        // Appended to, never truncated: processes the traced program starts inherit the
        // setting and write to the same file (the launcher empties it once, as strace -o).
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC;
        let fd = syscall!(SYS_openat, libc::AT_FDCWD, c.as_ptr(), flags, 0o644)
            .map_err(|e| format!("greenshim: cannot open the trace file GREENSHIM_TRACE_FILE='{path}': {}; set it to a path in a writable directory", errno_text(e).1))? as i32;
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
    if o.launcher_pid.is_some_and(|l| syscall!(SYS_getppid).is_ok_and(|pp| pp as u32 != l)) {
        MULTI.store(true, Relaxed);
    }
    WALLTIME.store(o.walltime, Relaxed);
    CALLTIME.store(o.calltime, Relaxed);
    // Switched on by `start`, once the constructor has made its own calls (the overflow
    // reporter's sigactions are greenshim's, not the program's).
    PENDING.store((o.trace as u8) | (o.summary as u8) << 1 | (o.monitor as u8) << 2, Relaxed);
    Ok(())
}

/// Switch on what [`configure`] set up: from here on, calls are the program's.
pub fn start() {
    let p = PENDING.load(Relaxed);
    TRACE.store(p & 1 != 0, Relaxed);
    SUMMARY.store(p & 2 != 0, Relaxed);
    ACTIVE.store(p != 0, Relaxed);
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

/// This process created another (fork, vfork, posix_spawn, a trapped clone): from now on the
/// run has more than one process and lines carry the pid.
pub fn forked() {
    MULTI.store(true, Relaxed);
}

/// In a fork child: the run has more than one process.
pub fn after_fork_child() {
    MULTI.store(true, Relaxed);
}

/// `pid N ` when the run has more than one process. Asked of the kernel at each line (a vfork
/// child shares our memory but has a pid of its own; a raw fork runs no handler).
fn pid_prefix(l: &mut Line) {
    if MULTI.load(Relaxed) {
        l.s("pid ").int(syscall!(SYS_getpid).unwrap_or(0)).s(" ");
    }
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
    /// A NUL-terminated path (`"/etc/hostname"`), or `NULL`.
    Path(*const libc::c_char),
    /// The directory fd of an `*at` call: `AT_FDCWD` or the number.
    Dirfd(i64),
    /// Open flags: `O_WRONLY|O_CREAT|O_TRUNC`.
    OpenFlags(i64),
    /// A file mode in octal: `0644`.
    Mode(u64),
    /// A `struct stat`: decoded when filled (the call succeeded), else its address.
    Stat(*const libc::stat, bool),
    /// The flags of the `*at` calls: `AT_EMPTY_PATH`.
    AtFlags(i64),
    /// `statx`'s flags: `AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW`.
    StatxFlags(i64),
    /// `statx`'s mask: `STATX_BASIC_STATS`.
    StatxMask(u32),
    /// A `struct statx`: decoded when filled (the call succeeded), else its address.
    Statx(*const libc::statx, bool),
    /// A socket address of the given length: `{sa_family=AF_INET, sin_port=htons(80),
    /// sin_addr=inet_addr("127.0.0.1")}`, `{sa_family=AF_UNIX, sun_path="/run/x"}`; other
    /// families as the address.
    Addr(*const libc::sockaddr, libc::socklen_t),
    /// The protocol of `socket(domain, ..)`: `IPPROTO_TCP`, and for IP domains `IPPROTO_IP` for 0.
    Proto(i64, i64),
    /// An iovec array of `cnt` entries: `[{iov_base="ab", iov_len=2}, ...]` with the first
    /// `Some(n)` bytes of data shown (read by the call; `usize::MAX`: all, written); `None`: the
    /// address. The array is read through `peek`: a bad one is shown as its address.
    Iov(*const libc::iovec, i64, Option<usize>),
    /// A NULL-terminated array of strings (an exec's argv): `["cat", "/etc/hostname"]`.
    Argv(*const *const libc::c_char),
    /// An exec's environment: its address and size, `0x7ffd... /* 20 vars */`.
    Envp(*const *const libc::c_char),
    /// A signal number: `SIGINT`.
    Sig(i64),
    /// A signal set: `[INT TERM]`, `NULL`.
    SigSet(*const libc::sigset_t),
    /// `SIG_BLOCK`, `SIG_UNBLOCK`, `SIG_SETMASK`.
    How(i64),
    /// A `struct sigaction`: `{sa_handler=SIG_IGN, sa_mask=[], sa_flags=SA_RESTART}`, `NULL`.
    SigAction(*const libc::sigaction),
    /// A pointer to an int, shown as `[1]`.
    IntRef(*const libc::c_int),
    /// An optional pointer to a 64-bit offset (`copy_file_range`): `[4096]` or `NULL`.
    OffPtr(*const i64),
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
    end_line(h, span, call, Some(args), ret)
}

/// Selected by `-e trace=` (and so traced and counted)?
fn selected(call: Call) -> bool {
    let i = call as usize;
    FILTER[i / 64].load(Relaxed) & (1 << (i % 64)) != 0
}

/// The first half of the line of a call that may never return (an exec that succeeds replaces
/// the program): `execve("/bin/cat", ["cat"], 0x7ffd... /* 20 vars */ <unfinished ...>`, as
/// strace -f prints a call whose end comes later. If it returns, [`resumed`] prints the rest.
///
/// # Safety
/// `h` is this thread's hub.
pub unsafe fn unfinished(h: *mut Hub, call: Call, args: &[Arg]) {
    if !TRACE.load(Relaxed) || !selected(call) {
        return;
    }
    let mut l = Line::new();
    prefix(&mut l, &*(*h).current());
    l.s(NAMES[call as usize]).s("(");
    args_list(&mut l, args);
    l.s(" <unfinished ...>\n");
    l.emit();
}

/// The end of a call [`unfinished`] printed: `<... execve resumed>) = -1 ENOENT (...)`; counted
/// for `-c` as [`end`] counts.
///
/// # Safety
/// As [`end`].
pub unsafe fn resumed(h: *mut Hub, span: Span, call: Call, ret: Ret) {
    end_line(h, span, call, None, ret)
}

unsafe fn args_list(l: &mut Line, args: &[Arg]) {
    for (k, a) in args.iter().filter(|a| !matches!(a, Arg::Skip)).enumerate() {
        if k > 0 {
            l.s(", ");
        }
        arg(l, a);
    }
}

/// [`end`]; `args` `None`: the second half of an [`unfinished`] line.
unsafe fn end_line(h: *mut Hub, span: Span, call: Call, args: Option<&[Arg]>, ret: Ret) {
    let g = &*(*h).current();
    let now = sys::now();
    let parked = g.parked_ns.saturating_sub(span.parked);
    let parks = g.parks - span.parks;
    let failed = matches!(ret, Ret::Int(v, _) if v < 0) || matches!(ret, Ret::Code(c) if c != 0);
    let i = call as usize;
    // -e trace= selects the calls of the table too, as with strace -c.
    let selected = selected(call);
    if SUMMARY.load(Relaxed) && selected {
        let c = &mut (*std::ptr::addr_of_mut!(COUNTS))[call as usize];
        c.calls += 1;
        c.errors += failed as u64;
        c.parks += parks;
        c.parked_ns += parked;
        c.total_ns += now - span.start;
    }
    if !TRACE.load(Relaxed) || !selected {
        return;
    }
    let mut l = Line::new();
    l.ok = !failed;
    prefix(&mut l, g);
    match args {
        Some(args) => {
            l.s(NAMES[i]).s("(");
            args_list(&mut l, args);
        }
        None => {
            l.s("<... ").s(NAMES[i]).s(" resumed>");
        }
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
    if MULTI.load(Relaxed) {
        l.s("[pid ").int(syscall!(SYS_getpid).unwrap_or(0)).s("] ");
    }
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
    l.s("[");
    pid_prefix(&mut l);
    l.s("g").int((*g).seq as i64).s("] ");
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
    l.s("[");
    pid_prefix(&mut l);
    l.s("g").int((*g).seq as i64).s("] ");
    if WALLTIME.load(Relaxed) {
        walltime(&mut l);
    }
    l.s("+++ exited with 0x").hex(retval as u64).s(" +++\n");
    l.emit();
}

unsafe fn prefix(l: &mut Line, g: &Greenlet) {
    l.s("[");
    pid_prefix(l);
    l.s("g").int(g.seq as i64);
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
            // Copied in small pieces (the stack of a greenlet is small), none if unreadable.
            let mut chunk = [0u8; 256];
            let first = peek::peek(p as usize, &mut chunk[..shown.min(256)], l.ok);
            if shown > 0 && first == 0 {
                arg(l, &Arg::Hex(p as u64)); // NULL, or the address of nothing
                return;
            }
            l.s("\"");
            let mut off = 0;
            let mut got = first;
            'copy: loop {
                for &b in &chunk[..got] {
                    // Keep room for the rest of the line (result, park time): cut the string.
                    if l.len + 4 > l.buf.len() - TAIL_ROOM {
                        cut = true;
                        break 'copy;
                    }
                    l.esc(b);
                }
                off += got;
                if off >= shown || got == 0 {
                    cut |= off < shown;
                    break;
                }
                got = peek::peek(p as usize + off, &mut chunk[..(shown - off).min(256)], l.ok);
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
        Arg::Path(p) => fileargs::path(l, p),
        Arg::Dirfd(fd) => fileargs::dirfd(l, fd),
        Arg::OpenFlags(v) => fileargs::open_flags(l, v),
        Arg::Mode(m) => {
            l.oct(m);
        }
        Arg::Stat(st, true) if !st.is_null() => fileargs::stat(l, st),
        Arg::Stat(st, _) => {
            arg(l, &Arg::Hex(st as u64));
        }
        Arg::AtFlags(v) => fileargs::at_flags(l, v),
        Arg::StatxFlags(v) => fileargs::statx_flags(l, v),
        Arg::StatxMask(m) => fileargs::statx_mask(l, m),
        Arg::Statx(st, true) if !st.is_null() => fileargs::statx(l, st),
        Arg::Statx(st, _) => {
            arg(l, &Arg::Hex(st as u64));
        }
        Arg::Addr(p, n) => sockargs::sockaddr(l, p, n),
        Arg::Proto(d, p) => sockargs::proto(l, d, p),
        Arg::Iov(v, cnt, Some(mut left))
            if (0..=libc::UIO_MAXIOV as i64).contains(&cnt) && (cnt == 0 || peek::peek_val::<libc::iovec>(v as usize, l.ok).is_some()) =>
        {
            l.s("[");
            for k in 0..cnt as usize {
                if k > 0 {
                    l.s(", ");
                }
                let io = peek::peek_val::<libc::iovec>(v.add(k) as usize, l.ok);
                let Some(io) = io.filter(|_| k < 16 && l.len + 64 <= l.buf.len() - TAIL_ROOM) else {
                    l.s("...");
                    break;
                };
                let shown = io.iov_len.min(left);
                left -= shown;
                l.s("{iov_base=");
                arg(l, &Arg::Buf(io.iov_base as *const u8, Some(shown)));
                l.s(", iov_len=").int(io.iov_len as i64).s("}");
            }
            l.s("]");
        }
        Arg::Iov(v, _, _) => {
            arg(l, &Arg::Hex(v as u64));
        }
        Arg::Argv(v) => fileargs::argv(l, v),
        Arg::Envp(v) => fileargs::envp(l, v),
        Arg::Sig(v) => sigargs::signal(l, v),
        Arg::SigSet(p) if p.is_null() => {
            l.s("NULL");
        }
        Arg::SigSet(p) => sigargs::sigset(l, p),
        Arg::How(v) => sigargs::how(l, v),
        Arg::SigAction(p) => sigargs::action(l, p),
        Arg::IntRef(p) => match peek::peek_val::<libc::c_int>(p as usize, l.ok) {
            Some(v) => {
                l.s("[").int(v as i64).s("]");
            }
            None => arg(l, &Arg::Hex(p as u64)),
        },
        Arg::OffPtr(p) if p.is_null() => {
            l.s("NULL");
        }
        Arg::OffPtr(p) => match peek::peek_val::<i64>(p as usize, l.ok) {
            Some(v) => {
                l.s("[").int(v).s("]");
            }
            None => arg(l, &Arg::Hex(p as u64)),
        },
        Arg::Dur(Some(ns)) => {
            l.s("{tv_sec=").int((ns / 1_000_000_000) as i64).s(", tv_nsec=").int((ns % 1_000_000_000) as i64).s("}");
        }
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
