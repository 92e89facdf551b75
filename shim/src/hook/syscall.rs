//! `syscall()`: libc's generic system call entry, which programs and runtimes use for calls
//! libc has no wrapper for, or to bypass the wrapper.
//!
//! Numbers whose system call can block and that greenshim makes cooperative go to the same code
//! as the libc function of that name: futexes ([`crate::sync::futex`]: Rust std's locks and
//! parking, C11 runtimes), and `read`, `write`, `readv`, `writev`, `recvfrom`, `sendto`,
//! `recvmsg`, `sendmsg`, `accept`, `accept4`, `connect`, `poll`, `select`, `epoll_wait`,
//! `nanosleep`, `clock_nanosleep`, `wait4`, `io_uring_enter` ([`crate::fd::uring`]) and
//! `io_getevents`/`io_pgetevents` ([`crate::fd::aio`]), which have no libc function, and `close`, `close_range`, `dup2`, `dup3` (which keep
//! greenshim's fd table right), whose libc functions take the system call's arguments
//! unchanged. (One difference remains: those libc functions are cancellation points and the
//! raw calls are not, so a greenlet parked in one of them acts on a deferred cancellation.)
//!
//! Every other number does exactly what glibc's `syscall()` does, in the same instructions:
//! arguments shifted into the kernel's registers (the sixth from the stack), the `syscall`
//! instruction, errno and -1 on failure. Naked, so a call that never comes back the usual way
//! (`SYS_clone` with a new stack, `SYS_exit`) behaves as with glibc's; the choice costs one
//! bit test on a 512-bit map.

use std::ffi::{c_int, c_long, c_void};

/// Bit `nr`: the call goes to [`routed`]. Built at compile time from [`ROUTED_NRS`].
static ROUTED: [u64; 8] = routed_map();

const ROUTED_NRS: &[c_long] = &[
    libc::SYS_futex,
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_recvfrom,
    libc::SYS_sendto,
    libc::SYS_recvmsg,
    libc::SYS_sendmsg,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_connect,
    libc::SYS_poll,
    libc::SYS_select,
    libc::SYS_epoll_wait,
    libc::SYS_nanosleep,
    libc::SYS_clock_nanosleep,
    libc::SYS_wait4,
    libc::SYS_close,
    libc::SYS_close_range,
    libc::SYS_dup2,
    libc::SYS_dup3,
    libc::SYS_io_uring_enter,
    libc::SYS_io_getevents,
    crate::fd::aio::SYS_IO_PGETEVENTS,
];

/// Routed numbers that never park, only keep greenshim's fd table right (a descriptor closed or
/// replaced behind its back would keep a stale registration in the hub's epoll set): routed
/// even where a greenlet could not park.
pub fn is_bookkeeping(nr: c_long) -> bool {
    matches!(nr, libc::SYS_close | libc::SYS_close_range | libc::SYS_dup2 | libc::SYS_dup3)
}

const fn routed_map() -> [u64; 8] {
    let mut m = [0u64; 8];
    let mut i = 0;
    while i < ROUTED_NRS.len() {
        let nr = ROUTED_NRS[i] as usize;
        assert!(nr < 512);
        m[nr / 64] |= 1 << (nr % 64);
        i += 1;
    }
    m
}

/// Failure of the pass-through: errno from the kernel's `-errno`, and -1.
extern "C" fn fail(r: isize) -> c_long {
    gs::sys::set_errno(-r as i32);
    -1
}

/// Does `nr` go to greenshim's code rather than to the kernel as is?
#[inline]
pub fn is_routed(nr: c_long) -> bool {
    (0..512).contains(&nr) && ROUTED[nr as usize / 64] & (1 << (nr % 64)) != 0
}

/// The routed numbers: the same arguments as `syscall()` (the seventh from the stack).
pub unsafe extern "C-unwind" fn routed(nr: c_long, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize, a6: usize) -> c_long {
    use crate::fd::{io, poll, sock};
    use crate::thread::sleep;
    let (i1, i2, i3) = (a1 as c_int, a2 as c_int, a3 as c_int);
    match nr {
        libc::SYS_futex => crate::sync::futex::futex([a1, a2, a3, a4, a5, a6]),
        libc::SYS_io_uring_enter => crate::fd::uring::io_uring_enter([a1, a2, a3, a4, a5, a6]),
        libc::SYS_io_getevents | crate::fd::aio::SYS_IO_PGETEVENTS => crate::fd::aio::io_getevents(nr, [a1, a2, a3, a4, a5, a6]),
        libc::SYS_read => io::read(i1, a2 as *mut c_void, a3) as c_long,
        libc::SYS_write => io::write(i1, a2 as *const c_void, a3) as c_long,
        libc::SYS_readv => io::readv(i1, a2 as *const libc::iovec, i3) as c_long,
        libc::SYS_writev => io::writev(i1, a2 as *const libc::iovec, i3) as c_long,
        libc::SYS_recvfrom => io::recvfrom(i1, a2 as *mut c_void, a3, a4 as c_int, a5 as *mut libc::sockaddr, a6 as *mut libc::socklen_t) as c_long,
        libc::SYS_sendto => io::sendto(i1, a2 as *const c_void, a3, a4 as c_int, a5 as *const libc::sockaddr, a6 as libc::socklen_t) as c_long,
        libc::SYS_recvmsg => io::recvmsg(i1, a2 as *mut libc::msghdr, i3) as c_long,
        libc::SYS_sendmsg => io::sendmsg(i1, a2 as *const libc::msghdr, i3) as c_long,
        libc::SYS_accept => sock::accept(i1, a2 as *mut libc::sockaddr, a3 as *mut libc::socklen_t) as c_long,
        libc::SYS_accept4 => sock::accept4(i1, a2 as *mut libc::sockaddr, a3 as *mut libc::socklen_t, a4 as c_int) as c_long,
        libc::SYS_connect => sock::connect(i1, a2 as *const libc::sockaddr, a3 as libc::socklen_t) as c_long,
        libc::SYS_poll => poll::poll(a1 as *mut libc::pollfd, a2 as libc::nfds_t, i3) as c_long,
        libc::SYS_select => poll::select(i1, a2 as *mut libc::fd_set, a3 as *mut libc::fd_set, a4 as *mut libc::fd_set, a5 as *mut libc::timeval) as c_long,
        libc::SYS_epoll_wait => poll::epoll_wait(i1, a2 as *mut libc::epoll_event, i3, a4 as c_int) as c_long,
        libc::SYS_close => crate::fd::fdops::close(i1) as c_long,
        libc::SYS_close_range => crate::fd::fdops::close_range(a1 as libc::c_uint, a2 as libc::c_uint, i3) as c_long,
        libc::SYS_dup2 => crate::fd::fdops::dup2(i1, i2) as c_long,
        libc::SYS_dup3 => crate::fd::fdops::dup3(i1, i2, i3) as c_long,
        libc::SYS_wait4 => crate::thread::wait::wait4(i1, a2 as *mut c_int, i3, a4 as *mut libc::rusage) as c_long,
        libc::SYS_nanosleep => sleep::nanosleep(a1 as *const libc::timespec, a2 as *mut libc::timespec) as c_long,
        libc::SYS_clock_nanosleep => {
            // The libc function returns the error number; the system call -1 and errno.
            match sleep::clock_nanosleep(i1 as libc::clockid_t, i2, a3 as *const libc::timespec, a4 as *mut libc::timespec) {
                0 => 0,
                e => {
                    gs::sys::set_errno(e);
                    -1
                }
            }
        }
        _ => {
            let r = gs::sys::raw_syscall(nr, [a1, a2, a3, a4, a5, a6]);
            if r < 0 {
                fail(r)
            } else {
                r as c_long
            }
        }
    }
}

/// `long syscall(long number, ...)`: C-variadic, but its integer arguments sit where a
/// seven-argument function's do (x86_64 SysV).
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn syscall() -> c_long {
    core::arch::naked_asm!(
        "cmp rdi, 512",
        "jae 1f",
        "bt qword ptr [rip + {map}], rdi",
        "jc {routed}",
        "1:",
        "mov rax, rdi",
        "mov rdi, rsi",
        "mov rsi, rdx",
        "mov rdx, rcx",
        "mov r10, r8",
        "mov r8, r9",
        "mov r9, [rsp + 8]",
        "syscall",
        "cmp rax, -4095",
        "jae 2f",
        "ret",
        "2:",
        "mov rdi, rax",
        "jmp {fail}",
        map = sym ROUTED,
        routed = sym routed,
        fail = sym fail,
    );
}
