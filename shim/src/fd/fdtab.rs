//! What the shim knows about each fd number: its kind, and (lazily) the user's O_NONBLOCK and
//! the socket timeouts.
//!
//! greenshim never changes a descriptor's O_NONBLOCK behind the program's back: the flag lives
//! in the open file description, shared with `dup`s, with child processes and across `exec`, so
//! flipping it would leak into other programs (a shell's pipes). Instead every hooked call makes
//! a *non-blocking attempt* that leaves the flags alone — `MSG_DONTWAIT` for sockets,
//! `RWF_NOWAIT` (`preadv2`/`pwritev2`) for pipes, FIFOs and eventfds, a zero-timeout `poll` for
//! the rest (ttys, listening sockets) — and parks only when that attempt says EAGAIN and the
//! program's own fd is blocking.
//!
//! The kind of an fd is learned with one `fstat` at its first hooked I/O and kept until the
//! number is closed or reused through one of our hooks. The user's O_NONBLOCK and
//! `SO_RCVTIMEO`/`SO_SNDTIMEO` are only needed on the slow path (about to park) and are read
//! then with `fcntl`/`getsockopt`, cached, and invalidated by our `fcntl`, `ioctl(FIONBIO)` and
//! `setsockopt` hooks through a global generation (a change on one fd may concern its `dup`s,
//! which share the description).
//!
//! Only the hub thread touches the table (hooks reach it only after `entry::hub()` said yes).

use std::cell::UnsafeCell;

use gs::hub::{self, Hub};

/// How the hooks treat an fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Not yet looked at.
    Unknown,
    /// Regular file, block device, directory: never "not ready"; calls go to libc unchanged
    /// (a `RWF_NOWAIT` read could return a short count where the real one would not).
    Native,
    /// A socket: `MSG_DONTWAIT` attempts.
    Socket,
    /// Pipe, FIFO, eventfd, ...: `RWF_NOWAIT` attempts.
    NoWait,
    /// Pollable but without `RWF_NOWAIT` support (ttys, some devices): poll, then the real call.
    PollFirst,
    /// `RWF_NOWAIT` reads, poll-then-call writes: an eventfd (its write has no `RWF_NOWAIT`
    /// support, its read has, and only the read's attempt says EINVAL at once for a short buffer).
    NoWaitRead,
}

/// Per-fd knowledge. All-zero bits are the empty entry (the table is zero-filled memory).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct FdInfo {
    pub kind: Kind,
    /// Generation at which the fields below were read; stale unless equal to the table's.
    gen: u32,
    /// The description's O_NONBLOCK.
    pub nonblock: bool,
    /// SO_RCVTIMEO / SO_SNDTIMEO in ns (0: none); sockets only.
    pub rcvtimeo: u64,
    pub sndtimeo: u64,
    /// SOCK_STREAM (MSG_WAITALL loops only on streams).
    pub stream: bool,
}

const EMPTY: FdInfo = FdInfo { kind: Kind::Unknown, gen: 0, nonblock: false, rcvtimeo: 0, sndtimeo: 0, stream: false };

/// The table is one zero-filled mapping sized for the highest fd the process may ever open,
/// never reallocated: a hook that a signal handler runs in the middle of another hook's table
/// access finds every entry where it was.
struct Table {
    fds: *mut FdInfo,
    /// Entries mapped; fds at or above it are treated as [`Kind::Native`].
    cap: usize,
    /// Starts at 1 so a zeroed entry is stale.
    gen: u32,
}

/// Most fds the table covers (RLIMIT_NOFILE's hard limit, at most this).
const MAX_FDS: usize = 1 << 20;
/// The entry for fds beyond the table: always Native.
static mut BEYOND: FdInfo = FdInfo { kind: Kind::Native, gen: 0, nonblock: false, rcvtimeo: 0, sndtimeo: 0, stream: false };

struct Global(UnsafeCell<Table>);
// SAFETY: only the hub thread uses the table (see module docs).
unsafe impl Sync for Global {}

static TABLE: Global = Global(UnsafeCell::new(Table { fds: std::ptr::null_mut(), cap: 0, gen: 1 }));

#[inline(always)]
fn table() -> &'static mut Table {
    // SAFETY: single-threaded use by the hub thread; no reference outlives a hook call.
    unsafe { &mut *TABLE.0.get() }
}

#[inline(always)]
fn slot(fd: i32) -> &'static mut FdInfo {
    let t = table();
    let i = fd as usize;
    if i >= t.cap {
        return beyond(t, i);
    }
    // SAFETY: i < cap entries of the mapping.
    unsafe { &mut *t.fds.add(i) }
}

#[cold]
fn beyond(t: &mut Table, i: usize) -> &'static mut FdInfo {
    if t.fds.is_null() {
        let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: valid out-pointer.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
        let cap = (rl.rlim_max as usize).clamp(1024, MAX_FDS);
        // SAFETY: anonymous mapping; zero-filled, untouched pages cost nothing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                cap * std::mem::size_of::<FdInfo>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            t.fds = p.cast();
            t.cap = cap;
            if i < cap {
                // SAFETY: as in slot.
                return unsafe { &mut *t.fds.add(i) };
            }
        }
    }
    // SAFETY: the hub thread's scratch entry; reset so a caller's write never sticks.
    unsafe {
        let b = &mut *std::ptr::addr_of_mut!(BEYOND);
        b.kind = Kind::Native;
        b
    }
}

/// The kind of `fd`, learned with `fstat` on first use. `Err(errno)` (EBADF) for a bad fd.
#[inline]
pub fn kind(fd: i32) -> Result<Kind, i32> {
    if fd < 0 {
        return Err(libc::EBADF);
    }
    let s = slot(fd);
    if s.kind != Kind::Unknown {
        return Ok(s.kind);
    }
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    syscall!(SYS_fstat, fd, &mut st as *mut libc::stat)?;
    s.kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFSOCK => Kind::Socket,
        libc::S_IFIFO => Kind::NoWait,
        libc::S_IFCHR => Kind::PollFirst,
        libc::S_IFREG | libc::S_IFBLK | libc::S_IFDIR => Kind::Native,
        // eventfd, timerfd, signalfd, epoll, inotify...: anonymous inodes (no S_IFMT type).
        _ => Kind::NoWait,
    };
    s.gen = 0;
    Ok(s.kind)
}

/// Our idea of `fd`'s kind proved stale (ENOTSOCK from a socket call): look again.
pub fn forget(fd: i32) {
    if fd >= 0 {
        *slot(fd) = EMPTY;
    }
}

/// O_NONBLOCK if known without a syscall.
pub fn cached_nonblock(fd: i32) -> Option<bool> {
    if fd < 0 {
        return None;
    }
    let gen = table().gen;
    let s = slot(fd);
    (s.gen == gen && s.kind != Kind::Unknown).then_some(s.nonblock)
}

/// A socket known (from the cache, without a syscall) to be a blocking stream socket.
#[inline]
pub fn cached_blocking_stream(fd: i32) -> bool {
    if fd < 0 {
        return false;
    }
    let gen = table().gen;
    let s = slot(fd);
    s.gen == gen && s.kind == Kind::Socket && s.stream && !s.nonblock
}

/// `dup`-family: `to` names the same description as `from` (same kind).
pub fn copied(h: *mut Hub, from: i32, to: i32) {
    let k = if from >= 0 { slot(from).kind } else { Kind::Unknown };
    created(Some(h), to);
    if to >= 0 {
        slot(to).kind = k;
    }
}

/// A `RWF_NOWAIT` attempt in direction `write` said EOPNOTSUPP: use poll-then-call for that
/// direction of this fd from now on (the other keeps `RWF_NOWAIT` until it says the same).
pub fn demote_to_poll_first(fd: i32, write: bool) {
    let s = slot(fd);
    s.kind = match (s.kind, write) {
        (Kind::NoWait, true) => Kind::NoWaitRead,
        _ => Kind::PollFirst,
    };
}

/// Full knowledge of `fd` for the slow path (reads flags and timeouts if stale).
pub fn full(fd: i32) -> Result<FdInfo, i32> {
    kind(fd)?;
    let gen = table().gen;
    let s = slot(fd);
    if s.gen == gen {
        return Ok(*s);
    }
    let fl = syscall!(SYS_fcntl, fd, libc::F_GETFL)?;
    s.nonblock = fl as i32 & libc::O_NONBLOCK != 0;
    if s.kind == Kind::Socket {
        s.rcvtimeo = sock_timeout(fd, libc::SO_RCVTIMEO);
        s.sndtimeo = sock_timeout(fd, libc::SO_SNDTIMEO);
        let mut ty: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let _ = syscall!(SYS_getsockopt, fd, libc::SOL_SOCKET, libc::SO_TYPE, &mut ty as *mut libc::c_int, &mut len as *mut libc::socklen_t);
        s.stream = ty == libc::SOCK_STREAM;
    }
    s.gen = gen;
    Ok(*s)
}

fn sock_timeout(fd: i32, opt: libc::c_int) -> u64 {
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    match syscall!(SYS_getsockopt, fd, libc::SOL_SOCKET, opt, &mut tv as *mut libc::timeval, &mut len as *mut libc::socklen_t) {
        Ok(_) => tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1000,
        Err(_) => 0,
    }
}

/// O_NONBLOCK or a socket timeout may have changed (on this fd or one sharing its description).
pub fn flags_changed() {
    if crate::hook::entry::any_hub().is_none() {
        return; // not the hub thread: the table is not ours to touch
    }
    let t = table();
    t.gen = t.gen.wrapping_add(1).max(1);
}

/// `fd` now names a new description (returned by socket/accept/open/pipe/dup...): forget what
/// we knew, and wake anything still waiting on the number's previous owner (it was closed
/// behind our back, e.g. by stdio's internal close).
pub fn created(h: Option<*mut Hub>, fd: i32) {
    let Some(h) = h else { return }; // not the hub thread: the table is not ours to touch
    if fd < 0 {
        return;
    }
    *slot(fd) = EMPTY;
    // SAFETY: h is this thread's hub.
    unsafe { hub::fd_closing(h, fd) };
}

/// `fd` is about to be closed or replaced: wake its waiters (they get EBADF) and forget it.
pub fn closing(h: *mut Hub, fd: i32) {
    if fd < 0 {
        return;
    }
    *slot(fd) = EMPTY;
    // SAFETY: h is this thread's hub.
    unsafe { hub::fd_closing(h, fd) };
}

/// After signals interrupted a park in an I/O call: restart it (every handler about to run, or
/// that ran, has SA_RESTART; the handlers then run first) or fail with EINTR (they run when the
/// hook returns)? Socket calls with a timeout are never restarted (signal(7)).
pub fn restart_after_signal(h: *mut Hub, timeout_ns: u64) -> bool {
    // SAFETY: h is this thread's hub and the caller runs on it.
    unsafe {
        if timeout_ns != 0 || !crate::thread::signal::restart_after_signal(h) {
            return false;
        }
        crate::thread::signal::deliver_now(h);
    }
    true
}
