//! `system()` and `pclose()`, whose waits for the child glibc makes with its internal `waitpid`
//! (never our export): each would block every greenlet for as long as the command runs.
//!
//! `system` is glibc's `do_system` step by step, on greenshim's exports: SIGINT and SIGQUIT
//! ignored process-wide while any `system` runs (a count of the calls in progress; the first
//! saves and the last restores the dispositions), SIGCHLD blocked in the calling thread,
//! `/bin/sh -c -- line` spawned with `posix_spawn` with the caller's original mask and SIGINT
//! and SIGQUIT reset to default where they were not ignored, the child waited for (retried
//! after EINTR), 127 as the status when the shell cannot run (errno from the spawn), and
//! `system(NULL)` as "can a shell run `exit 0`". The wait is greenshim's cooperative
//! `waitpid`; a cancellation during it kills and reaps the child and restores the
//! dispositions, as glibc's cleanup handler does.
//!
//! `pclose` waits for the `popen` child to end cooperatively without reaping it (`waitid` with
//! `WNOWAIT`), then lets glibc's `pclose` close the stream and reap the child, which then takes
//! no time. The child's pid is the `pid` field glibc keeps right after the `FILE` in a
//! `popen` stream (`struct _IO_proc_file`, unchanged since glibc 2.1); greenshim checks that the
//! stream has `popen`'s jump table and that the pid names a child of the process before it
//! waits.

use std::ffi::{c_char, c_int};
use std::sync::atomic::{AtomicUsize, Ordering};

use gs::hub::Hub;
use libc::{pid_t, sigset_t};

use crate::hook::entry;

mod real_fns {
    use super::*;
    real! {
        fn system(line: *const c_char) -> c_int;
        fn popen(cmd: *const c_char, mode: *const c_char) -> *mut libc::FILE;
    }
}

/// `system` calls in progress, and the SIGINT/SIGQUIT dispositions the first of them saved.
struct Shared {
    refs: AtomicUsize,
    intr: std::cell::UnsafeCell<libc::sigaction>,
    quit: std::cell::UnsafeCell<libc::sigaction>,
}
// SAFETY: used only on the hub thread (greenlets), where nothing runs concurrently.
unsafe impl Sync for Shared {}
// SAFETY: an all-zero sigaction is a valid value (SIG_DFL, no flags).
static SHARED: Shared = Shared { refs: AtomicUsize::new(0), intr: std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }), quit: std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }) };

extern "C" {
    static environ: *const *mut c_char;
}

/// Restores what `system` changed, whether it returns or its greenlet is cancelled.
struct Restore {
    omask: sigset_t,
    /// The child still to kill and reap if the wait is abandoned (cancellation).
    child: pid_t,
}

impl Drop for Restore {
    fn drop(&mut self) {
        // SAFETY: our own exports, on the hub thread; the saved dispositions are valid.
        unsafe {
            if self.child > 0 {
                libc::kill(self.child, libc::SIGKILL);
                let mut st = 0;
                while crate::thread::wait::waitpid(self.child, &mut st, 0) < 0 && gs::sys::errno() == libc::EINTR {}
            }
            if SHARED.refs.fetch_sub(1, Ordering::Relaxed) == 1 {
                crate::thread::sigact::sigaction(libc::SIGINT, SHARED.intr.get(), std::ptr::null_mut());
                crate::thread::sigact::sigaction(libc::SIGQUIT, SHARED.quit.get(), std::ptr::null_mut());
            }
            crate::thread::signal::sigprocmask(libc::SIG_SETMASK, &self.omask, std::ptr::null_mut());
        }
    }
}

unsafe fn do_system(_h: *mut Hub, line: *const c_char) -> c_int {
    let mut ign: libc::sigaction = std::mem::zeroed();
    ign.sa_sigaction = libc::SIG_IGN;
    if SHARED.refs.fetch_add(1, Ordering::Relaxed) == 0 {
        crate::thread::sigact::sigaction(libc::SIGINT, &ign, SHARED.intr.get());
        crate::thread::sigact::sigaction(libc::SIGQUIT, &ign, SHARED.quit.get());
    }
    let mut chld: sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut chld);
    libc::sigaddset(&mut chld, libc::SIGCHLD);
    let mut restore = Restore { omask: std::mem::zeroed(), child: 0 };
    crate::thread::signal::sigprocmask(libc::SIG_BLOCK, &chld, &mut restore.omask);

    let mut reset: sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut reset);
    if (*SHARED.intr.get()).sa_sigaction != libc::SIG_IGN {
        libc::sigaddset(&mut reset, libc::SIGINT);
    }
    if (*SHARED.quit.get()).sa_sigaction != libc::SIG_IGN {
        libc::sigaddset(&mut reset, libc::SIGQUIT);
    }
    let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
    libc::posix_spawnattr_init(&mut attr);
    libc::posix_spawnattr_setsigmask(&mut attr, &restore.omask);
    libc::posix_spawnattr_setsigdefault(&mut attr, &reset);
    libc::posix_spawnattr_setflags(&mut attr, (libc::POSIX_SPAWN_SETSIGDEF | libc::POSIX_SPAWN_SETSIGMASK) as libc::c_short);
    let argv: [*mut c_char; 5] = [c"sh".as_ptr() as *mut c_char, c"-c".as_ptr() as *mut c_char, c"--".as_ptr() as *mut c_char, line as *mut c_char, std::ptr::null_mut()];
    let mut pid: pid_t = 0;
    let ret = crate::thread::exec::posix_spawn(&mut pid, c"/bin/sh".as_ptr(), std::ptr::null(), &attr, argv.as_ptr(), environ);
    libc::posix_spawnattr_destroy(&mut attr);

    let mut status: c_int = -1;
    if ret == 0 {
        restore.child = pid;
        let r = loop {
            let r = crate::thread::wait::waitpid(pid, &mut status, 0);
            if r >= 0 || gs::sys::errno() != libc::EINTR {
                break r;
            }
        };
        restore.child = 0;
        if r != pid {
            status = -1;
        }
    } else {
        status = 127 << 8; // as if the shell ended with _exit(127)
    }
    drop(restore);
    if ret != 0 {
        gs::sys::set_errno(ret);
    }
    status
}

#[no_mangle]
pub unsafe extern "C-unwind" fn system(line: *const c_char) -> c_int {
    let Some(h) = entry::hub() else { return real_fns::system(line) };
    if line.is_null() {
        return (do_system(h, c"exit 0".as_ptr()) == 0) as c_int;
    }
    do_system(h, line)
}

/// Offset of the jump table pointer in glibc's `struct _IO_FILE_plus` (after the 216-byte
/// `FILE`), and the jump table of `popen`'s streams, recorded from the first one.
const FILE_VTABLE: usize = 216;
static PROC_VTABLE: AtomicUsize = AtomicUsize::new(0);

/// Offset of `pid` in glibc's `struct _IO_proc_file` on x86_64: after the 216-byte `FILE` and
/// its vtable pointer (the `libc` crate's `FILE` is opaque).
const PROC_FILE_PID: usize = 216 + 8;

extern "C" {
    fn __fwritable(f: *mut libc::FILE) -> c_int;
}

/// Before glibc's `pclose`: do what it does first, parked where it would block. Flush a
/// writing stream, end the pipe as its close would (the number stays taken by `/dev/null`
/// until glibc closes it, so no other greenlet can get it meanwhile), and wait, parked, until
/// the child has ended. glibc's `pclose` then closes and reaps without waiting.
///
/// # Safety
/// `h` is this thread's hub; `f` is a stream the program passes to `pclose`.
pub unsafe fn before_pclose(h: *mut Hub, f: *mut libc::FILE) {
    // Only a stream `popen` made (its jump table, seen on the first `popen`) has the pid field.
    let vtable = PROC_VTABLE.load(Ordering::Relaxed);
    if vtable == 0 || *((f as *const u8).add(FILE_VTABLE) as *const usize) != vtable {
        return;
    }
    let pid = *((f as *const u8).add(PROC_FILE_PID) as *const pid_t);
    if pid <= 0 {
        return;
    }
    let mut info: libc::siginfo_t = std::mem::zeroed();
    if syscall!(SYS_waitid, libc::P_PID, pid, &mut info as *mut libc::siginfo_t, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT, 0).is_err() {
        return; // not a child of ours: not a popen stream, or reaped already
    }
    if __fwritable(f) != 0 {
        libc::fflush(f);
    }
    let fd = libc::fileno(f);
    if fd >= 0 {
        if let Ok(null) = syscall!(SYS_open, c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) {
            crate::fd::fdtab::closing(h, fd);
            let _ = syscall!(SYS_dup3, null, fd, libc::O_CLOEXEC);
            let _ = syscall!(SYS_close, null);
        }
    }
    crate::thread::wait::wait_exit_unreaped(h, pid);
}

/// glibc's `popen`, called as greenshim's own call: the child it spawns (a memory-sharing clone)
/// is not a system call of the program's to catch.
#[no_mangle]
pub unsafe extern "C-unwind" fn popen(cmd: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    let f = real_fns::popen(cmd, mode);
    if !f.is_null() {
        PROC_VTABLE.store(*((f as *const u8).add(FILE_VTABLE) as *const usize), Ordering::Relaxed);
    }
    f
}
