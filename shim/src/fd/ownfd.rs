//! The shim's own descriptors, and how they stay out of the program's way.
//!
//! greenshim takes nothing of the program's: the descriptors it needs — the hub's epoll fd, the
//! eventfd that lets a `sem_post` from a signal handler wake a sleeping hub, the trace output, the live view's socket —
//! are opened close-on-exec and placed high (`gs::reactor::dup_high`), so the numbers the
//! program gets from `open`, `socket`, `dup`... are the ones it gets natively. To the program
//! they look closed:
//! * `close`, `fcntl`, `dup`, `dup2`/`dup3` from them, `fstat`, `ioctl` on them fail with EBADF
//!   (see `fdops`), and `close_range`/`closefrom` close everything around them;
//! * `dup2`/`dup3`/`F_DUPFD` *onto* one of their numbers succeed as natively, where the number
//!   is free: the shim's descriptor first moves to another high number ([`evict`]).
//!
//! Not covered (documented limits): the read/write family on our numbers goes to the kernel
//! (the hooks live in `io`; a program reads only fds it opened, which ours never are);
//! `/proc/self/fd` lists our descriptors; `syscall(SYS_close, ...)` and other raw syscalls
//! bypass every hook; a program that fills every number below ours gets numbers above them
//! from `open`/`socket` (natively it would get ours).

use gs::hub::Hub;

/// The shim's descriptors (-1: not open); with several hubs, every hub's epoll fd and kick
/// eventfd too.
pub fn list(h: *mut Hub) -> Vec<i32> {
    // SAFETY: h is this thread's hub (callers got it from `entry::hub()`).
    let ep = unsafe { (*h).reactor.epfd() };
    let mut v = vec![ep, crate::sync::sem::kick_fd().unwrap_or(-1), crate::diag::trace::out_fd().unwrap_or(-1), crate::diag::live::fd().unwrap_or(-1)];
    for t in crate::multi::hubs() {
        // SAFETY: registered hubs live for the process; read under the process-wide lock.
        unsafe { v.extend_from_slice(&[(*t).reactor.epfd(), (*t).kick_fd]) };
    }
    v
}

/// True if `fd` is one of the shim's descriptors.
#[inline]
pub fn is_ours(h: *mut Hub, fd: i32) -> bool {
    if fd < 0 {
        return false;
    }
    // SAFETY: as in `list`.
    let ep = unsafe { (*h).reactor.epfd() };
    if fd == ep || crate::sync::sem::kick_fd() == Some(fd) || crate::diag::trace::out_fd() == Some(fd) || crate::diag::live::fd() == Some(fd) {
        return true;
    }
    // SAFETY: as in `list`.
    crate::multi::on() && crate::multi::hubs().any(|t| unsafe { (*t).reactor.epfd() == fd || (*t).kick_fd == fd })
}

/// The program is about to put a descriptor on `fd`, one of ours: move ours to another high
/// number and free `fd`, so that the program's call then does exactly what it does natively on
/// a free number. `Err(errno)` if no number is left for ours (EMFILE).
///
/// # Safety
/// `h` is this thread's hub.
pub unsafe fn evict(h: *mut Hub, fd: i32) -> Result<(), i32> {
    if (*h).reactor.epfd() == fd {
        (*h).reactor.move_epfd()?;
    }
    for t in crate::multi::hubs() {
        // Another hub may be waiting in epoll_wait on its epoll fd: the wait goes on on the same
        // instance under the old number, later calls use the new one. A moved eventfd keeps
        // its registration (the open file is the same).
        if (*t).reactor.epfd() == fd {
            (*t).reactor.move_epfd()?;
        }
        if (*t).kick_fd == fd {
            (*t).kick_fd = gs::reactor::dup_high(fd)?;
            let _ = gs::sys::raw_syscall(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]);
        }
    }
    if crate::sync::sem::kick_fd() == Some(fd) {
        crate::sync::sem::move_kick_fd(h)?;
    }
    if crate::diag::trace::out_fd() == Some(fd) {
        crate::diag::trace::move_out_fd()?;
    }
    if crate::diag::live::fd() == Some(fd) {
        crate::diag::live::move_fd()?;
    }
    Ok(())
}
