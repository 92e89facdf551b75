//! The live thread: answers `greenshim -p PID` with the table of every greenlet, and writes the
//! greenlet dump itself when the dump signal gets no safe point from the hub in time.
//!
//! # Why a task of its own, and why a bare one
//! The view must come even when the hub cannot answer: a greenlet in a CPU loop that never
//! yields, or the OS thread blocked in a call greenshim cannot make cooperative. So something
//! else must answer, reading only what the hub publishes (`gs::live`, atomics in memory that is
//! never freed). That "live thread" is a bare `clone` sharing the memory
//! (`CLONE_VM`) but *not* the descriptor table nor the thread group: the program keeps exactly one
//! OS thread (`Threads: 1` in /proc/PID/status, greenshim's promise), glibc never learns of it
//! (so stdio and malloc keep skipping their locks), and process-directed signals never reach
//! it. With no exit signal it is invisible to the program's `wait`/`waitpid(-1)` (only
//! `__WCLONE` sees it) and sends no SIGCHLD; `PR_SET_PDEATHSIG` ends it with the program, and
//! the exec hooks end it before an `exec` (it would keep the old memory alive). It starts with a
//! copy of the descriptor table and closes all but its socket at once: a shared table would
//! keep the program's files open after the program ended, until the task got its PDEATHSIG (a
//! parent that reaped a forked child then found the child's listening address still bound). The
//! price is strict: it allocates nothing, touches no thread-local and calls no libc function
//! (only raw system calls), see `snapshot`. It runs with every signal blocked and sleeps in
//! `recvmsg` unless asked something. It shows in `ps` as a child named `greenshim-live`.
//!
//! # Transport
//! One unix datagram socket, `$XDG_RUNTIME_DIR/greenshim/PID.sock` (else
//! `/tmp/greenshim-UID/PID.sock`): the directory mode 0700, the socket 0600, the descriptor
//! close-on-exec and high, like the shim's others (`fd::ownfd`). Datagrams, not a stream: the
//! thread never `accept`s, which would put a descriptor at the lowest free number, one the
//! program may be about to get. A client (the launcher, from an autobound abstract address)
//! sends `view`; the kernel attaches its credentials (`SO_PASSCRED`), and only our own uid is
//! answered: chunks of text, then an empty datagram. The socket is removed at exit; a fork
//! child makes its own (its pid); an exec'd program under greenshim makes a fresh one.
//! `GREENSHIM_LIVE=0` turns the socket off.
//!
//! The thread's own code (requests, answers, the dump) is `live_serve`.
//!
//! # The dump signal when the hub is held
//! The dump signal's handler also sends `dump` to this socket. If the hub has not written the
//! dump at a safe point within [`DUMP_WAIT_MS`], this thread takes the request and writes the
//! dump from the published state (`snapshot::dump`).

use std::ffi::c_void;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, Ordering::{Acquire, Relaxed}};

use gs::hub::Hub;
use gs::live::Live;
use gs::settings::Settings;
use gs::sys;


/// How long the dump signal waits for the hub's safe point before this thread dumps.
pub const DUMP_WAIT_MS: u64 = 200;
const STACK: usize = 256 << 10;

pub(super) static LIVE: AtomicPtr<Live> = AtomicPtr::new(std::ptr::null_mut());
/// The socket (-1: none).
pub(super) static FD: AtomicI32 = AtomicI32::new(-1);
/// The process that bound `ADDR` to a path (removes it at exit), 0: not bound to a path.
static OWNER: AtomicI32 = AtomicI32::new(0);
pub(super) static TID: AtomicI32 = AtomicI32::new(0);
/// Multi-hub: the other hubs' published blocks and OS thread ids, by hub index (0: the main
/// hub's, which are [`LIVE`] and [`TID`]).
pub(super) static HUB_LIVES: [AtomicPtr<Live>; 256] = [const { AtomicPtr::new(std::ptr::null_mut()) }; 256];
pub(super) static HUB_TIDS: [AtomicI32; 256] = [const { AtomicI32::new(0) }; 256];

/// Multi-hub: hub `index` (not 0) publishes into `l`; called on its own OS thread.
pub fn register_hub(index: u32, l: &'static Live) {
    let tid = syscall!(SYS_gettid).unwrap_or(0) as i32;
    HUB_TIDS[index as usize].store(tid, Relaxed);
    HUB_LIVES[index as usize].store(l as *const Live as *mut Live, std::sync::atomic::Ordering::Release);
}
/// The process under the shim (the live thread's getpid is its own).
pub(super) static PID: AtomicI32 = AtomicI32::new(0);
/// The live thread's pid (0: none).
static HELPER: AtomicI32 = AtomicI32::new(0);
/// Set to 1 by the live task once it holds none of the program's descriptors (a futex word):
/// its creator waits for it, so the program never runs on while a copy of its table is alive.
pub(crate) static CLOSED: AtomicU32 = AtomicU32::new(0);
pub(super) static UID: AtomicU32 = AtomicU32::new(0);
/// Answer views (a path is bound).
pub(super) static VIEWS: AtomicBool = AtomicBool::new(false);
/// Also dump when the hub is held (the dump signal is set).
pub(super) static DUMPS: AtomicBool = AtomicBool::new(false);
/// The socket's own address (path or abstract), written before the thread and the handler
/// can read it.
static mut ADDR: (libc::sockaddr_un, u32) = (libc::sockaddr_un { sun_family: 0, sun_path: [0; 108] }, 0);
/// The directory sockets go in (NUL-terminated), kept for a fork child.
static mut DIR: [u8; 108] = [0; 108];

/// The socket, if open (one of the shim's descriptors).
pub fn fd() -> Option<i32> {
    let fd = FD.load(Relaxed);
    (fd >= 0).then_some(fd)
}

/// Move the socket to another high number (the program wants this one).
pub fn move_fd() -> Result<(), i32> {
    if let Some(fd) = fd() {
        let hi = gs::reactor::dup_high(fd)?;
        FD.store(hi, Relaxed);
        let _ = syscall!(SYS_close, fd);
    }
    Ok(())
}

/// One line on stderr: the live view could not be set up (the program runs on without it).
fn warn(what: &str, detail: &[u8]) {
    let mut l = sys::LineBuf::new();
    l.str("greenshim: no live view: ").str(what).push(detail);
    l.str("; set GREENSHIM_LIVE=0 to run without it\n");
    sys::write_stderr(l.as_bytes());
}

/// The directory for sockets: `$XDG_RUNTIME_DIR/greenshim` if that variable names a directory
/// of ours (`sudo` may pass on another user's), else `/tmp/greenshim-UID`. The launcher's `-p`
/// looks in the same places.
pub fn socket_dir(xdg: Option<&std::ffi::OsStr>, uid: u32) -> std::path::PathBuf {
    use std::os::unix::fs::MetadataExt;
    let ours = |x: &&std::ffi::OsStr| std::fs::metadata(x).is_ok_and(|m| m.is_dir() && m.uid() == uid);
    match xdg.filter(|x| !x.is_empty()).filter(ours) {
        Some(x) => std::path::Path::new(x).join("greenshim"),
        None => std::path::PathBuf::from(format!("/tmp/greenshim-{uid}")),
    }
}

/// Create `dir` (0700) or check that it is ours and private. `Err(reason)`.
fn ensure_dir(dir: &std::ffi::CStr, uid: u32) -> Result<(), &'static str> {
    match syscall!(SYS_mkdir, dir.as_ptr(), 0o700) {
        Ok(_) | Err(libc::EEXIST) => {}
        Err(_) => return Err("cannot create the directory "),
    }
    // SAFETY: zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if syscall!(SYS_lstat, dir.as_ptr(), &mut st as *mut libc::stat).is_err() {
        return Err("cannot stat the directory ");
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR || st.st_uid != uid || st.st_mode & 0o077 != 0 {
        return Err("not a private directory of this user (mode 0700, our uid): ");
    }
    Ok(())
}

/// Start the live thread if the live view or the dump signal is on (constructor).
///
/// # Safety
/// `h` is this (main) thread's fresh hub.
pub unsafe fn init(h: *mut Hub, s: &Settings) {
    let views = s.live != Some(false);
    let dumps = s.dump_signal.is_some();
    if !views && !dumps {
        return;
    }
    LIVE.store((*h).published as *const Live as *mut Live, Relaxed);
    VIEWS.store(views, Relaxed);
    DUMPS.store(dumps, Relaxed);
    let uid = libc::geteuid();
    UID.store(uid, Relaxed);
    if views {
        let dir = socket_dir(std::env::var_os("XDG_RUNTIME_DIR").as_deref(), uid);
        let bytes = dir.as_os_str().as_encoded_bytes();
        // Room for "/PID.sock" in sun_path.
        if bytes.len() + 20 < 108 {
            let d = &mut *std::ptr::addr_of_mut!(DIR);
            d[..bytes.len()].copy_from_slice(bytes);
            d[bytes.len()] = 0;
        } else {
            warn("the socket directory's path is too long: ", bytes);
            VIEWS.store(false, Relaxed);
        }
    }
    if start() {
        libc::atexit(remove_at_exit);
    }
    if VIEWS.load(Relaxed) {
        sweep();
    }
}

/// Remove the sockets of processes that no longer exist (killed, so no exit handler removed
/// theirs): the directory would otherwise fill up. Once per program start (not per fork).
fn sweep() {
    // SAFETY: DIR was written by init() before.
    let dir = unsafe { &*std::ptr::addr_of!(DIR) };
    let n = dir.iter().position(|&b| b == 0).unwrap_or(0);
    let dir = std::path::Path::new(std::ffi::OsStr::from_bytes(&dir[..n]));
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_suffix(".sock")).and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// In a fork child: the parent's socket and thread are not ours. Our own are made the first
/// time the child's hub is about to block: a child that only execs or exits (the shell's,
/// `system`'s, `popen`'s) never pays for them (about 0.4 ms per fork here).
///
/// # Safety
/// `h` is the calling thread's hub.
pub unsafe fn after_fork_child(h: *mut gs::hub::Hub) {
    if let Some(fd) = fd() {
        let _ = syscall!(SYS_close, fd);
        FD.store(-1, Relaxed);
        OWNER.store(0, Relaxed);
        HELPER.store(0, Relaxed);
        PID.store(syscall!(SYS_getpid).unwrap_or(0) as i32, Relaxed);
        (*h).on_first_sleep = Some(start_in_child);
    }
}

/// The deferred start of a fork child (see [`after_fork_child`]).
unsafe fn start_in_child(_: *mut gs::hub::Hub) {
    start();
}

extern "C" fn remove_at_exit() {
    // SAFETY: getpid is async-signal-safe; ADDR was written before OWNER was set.
    unsafe {
        if OWNER.load(Relaxed) != 0 && OWNER.load(Relaxed) == libc::getpid() {
            let a = &*std::ptr::addr_of!(ADDR);
            let _ = syscall!(SYS_unlink, a.0.sun_path.as_ptr());
        }
    }
}

/// Open and bind the socket, then start the thread. False if nothing was started.
fn start() -> bool {
    let tid = syscall!(SYS_gettid).unwrap_or(0) as i32;
    TID.store(tid, Relaxed);
    PID.store(syscall!(SYS_getpid).unwrap_or(0) as i32, Relaxed);
    let Ok(fd) = syscall!(SYS_socket, libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) else {
        warn("cannot create a unix socket", b"");
        return false;
    };
    let Ok(fd) = gs::reactor::move_high(fd as i32) else {
        warn("cannot place the socket's descriptor", b"");
        return false;
    };
    let one: libc::c_int = 1;
    let _ = syscall!(SYS_setsockopt, fd, libc::SOL_SOCKET, libc::SO_PASSCRED, &one as *const libc::c_int, 4);
    // SAFETY: ADDR is written here only, before the thread and the handler can read it (the
    // constructor, or a fork child's only thread).
    let addr = unsafe { &mut *std::ptr::addr_of_mut!(ADDR) };
    // SAFETY: zeroed sockaddr_un is valid.
    addr.0 = unsafe { std::mem::zeroed() };
    addr.0.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let pid = syscall!(SYS_getpid).unwrap_or(0) as i32;
    let mut bound = false;
    if VIEWS.load(Relaxed) {
        // SAFETY: DIR is written before start() only.
        let dir = unsafe { &*std::ptr::addr_of!(DIR) };
        let n = dir.iter().position(|&b| b == 0).unwrap_or(0);
        let dir_c = std::ffi::CStr::from_bytes_until_nul(dir).unwrap_or(c"/nonexistent");
        match ensure_dir(dir_c, UID.load(Relaxed)) {
            Err(why) => warn(why, &dir[..n]),
            Ok(()) => {
                let mut p = sys::LineBuf::new();
                p.push(&dir[..n]).str("/").num(pid as u64).str(".sock");
                let path = p.as_bytes();
                for (d, s) in addr.0.sun_path.iter_mut().zip(path) {
                    *d = *s as libc::c_char;
                }
                addr.1 = (2 + path.len() + 1) as u32;
                // A stale socket of an earlier program with our pid (exec, a crash) is ours.
                let _ = syscall!(SYS_unlink, addr.0.sun_path.as_ptr());
                match syscall!(SYS_bind, fd, &addr.0 as *const libc::sockaddr_un, addr.1) {
                    Ok(_) => {
                        let _ = syscall!(SYS_chmod, addr.0.sun_path.as_ptr(), 0o600);
                        OWNER.store(pid, Relaxed);
                        bound = true;
                    }
                    Err(e) => {
                        let mut l = sys::LineBuf::new();
                        l.push(path).str(" (errno ").num(e as u64).str(")");
                        warn("cannot bind the socket ", l.as_bytes());
                    }
                }
            }
        }
    }
    if !bound {
        if !DUMPS.load(Relaxed) {
            let _ = syscall!(SYS_close, fd);
            return false;
        }
        // Only for the dump signal's note to this thread: an address the kernel picks.
        let mut len: u32 = std::mem::size_of::<libc::sockaddr_un>() as u32;
        let _ = syscall!(SYS_bind, fd, &addr.0 as *const libc::sockaddr_un, 2);
        let _ = syscall!(SYS_getsockname, fd, &mut addr.0 as *mut libc::sockaddr_un, &mut len as *mut u32);
        addr.1 = len;
    }
    FD.store(fd, Relaxed);
    if !spawn_thread() {
        warn("cannot start its thread", b"");
        FD.store(-1, Relaxed);
        let _ = syscall!(SYS_close, fd);
        if bound {
            let _ = syscall!(SYS_unlink, addr.0.sun_path.as_ptr());
            OWNER.store(0, Relaxed);
        }
        return false;
    }
    true
}

/// The bare task: its own stack (with a guard page), every signal blocked from its first
/// instruction (the mask is inherited from this thread, blocked meanwhile).
fn spawn_thread() -> bool {
    HELPER.store(0, Relaxed);
    CLOSED.store(0, Relaxed);
    let Ok(base) = syscall!(SYS_mmap, 0usize, STACK, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK, -1, 0) else {
        return false;
    };
    let _ = syscall!(SYS_mprotect, base, 4096, libc::PROT_NONE);
    let top = (base as usize + STACK) & !15;
    // No CLONE_THREAD (see the module docs); exit signal 0 (the low byte): no SIGCHLD.
    // Nor CLONE_FILES: the task closes every copied descriptor but its socket (live_serve::serve).
    let flags = libc::CLONE_VM | libc::CLONE_FS | libc::CLONE_SYSVSEM;
    let saved = gs::sigmask::block_all();
    let sel = crate::hook::catch::enter();
    // SAFETY: a fresh stack of STACK bytes; `serve` never returns and uses no TLS (see the
    // module docs).
    let r = unsafe { libc::clone(crate::diag::live_serve::serve, top as *mut c_void, flags, std::ptr::null_mut()) };
    crate::hook::catch::leave(sel);
    gs::sigmask::set_real(saved);
    if r < 0 {
        let _ = syscall!(SYS_munmap, base, STACK);
        return false;
    }
    HELPER.store(r, Relaxed);
    // Until the task has closed its copies, a file the program closes stays open (a forked child
    // that exits at once would leave its listening address bound): wait for it, at most 1 s.
    let ts = libc::timespec { tv_sec: 0, tv_nsec: 10_000_000 };
    for _ in 0..100 {
        if CLOSED.load(Acquire) != 0 {
            break;
        }
        let _ = syscall!(SYS_futex, CLOSED.as_ptr(), libc::FUTEX_WAIT, 0u32, &ts as *const libc::timespec);
    }
    true
}

/// The process is about to `exec`: end the live thread (it shares this descriptor table and
/// memory, which it would keep alive after the exec) and reap it.
pub fn before_exec() {
    // Not from a vfork child (it shares our memory, not our live thread).
    if syscall!(SYS_getpid).unwrap_or(0) as i32 != PID.load(Relaxed) {
        return;
    }
    let pid = HELPER.swap(0, Relaxed);
    if pid > 0 {
        let _ = syscall!(SYS_kill, pid, libc::SIGKILL);
        let _ = syscall!(SYS_wait4, pid, 0usize, libc::__WCLONE, 0usize);
    }
}

/// The `exec` failed: the program goes on, and so does the live view.
pub fn after_failed_exec() {
    if syscall!(SYS_getpid).unwrap_or(0) as i32 == PID.load(Relaxed) && fd().is_some() && HELPER.load(Relaxed) == 0 && !spawn_thread() {
        warn("cannot restart its thread after a failed exec", b"");
    }
}

/// Note for the live thread that the dump signal arrived (called from its handler:
/// async-signal-safe, one raw `sendto`).
pub fn kick_dump() {
    let Some(fd) = fd() else { return };
    // SAFETY: ADDR is only written before the handler is installed or in a fork child.
    let a = unsafe { &*std::ptr::addr_of!(ADDR) };
    let _ = syscall!(SYS_sendto, fd, b"dump".as_ptr(), 4, libc::MSG_DONTWAIT, &a.0 as *const libc::sockaddr_un, a.1);
}
