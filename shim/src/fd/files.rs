//! File calls greenshim makes natively but traces, so that `greenshim --trace` shows what
//! `strace -f` shows: `lseek`, `pread`/`pwrite` (+64, fortify `__pread_chk`), `copy_file_range`
//! (what `cat` uses when its output is a regular file), `stat`, `lstat`, `fstatat` (+64),
//! `statx` (what `ls -l` uses); the
//! open family and `fstat` are exported by `fdops` (they keep the fd table right) and traced with
//! [`open_traced`] and [`fstat_traced`].
//!
//! Each export is the real libc function, called with the same arguments: same result, errno
//! untouched on success. Off, tracing costs one load and a branch. Before the constructor, on
//! another OS thread, in a vfork child or from inside the shim, `entry::hub()` says no and the
//! real function runs untraced.
//!
//! With syscall user dispatch, the same system calls made inside libc (`fopen`'s `openat`,
//! stdio's `fstat` and `ioctl(TCGETS)`, ...) are traced too: [`trapped`] performs them as is and traces them under
//! the system call's name.

use std::ffi::{c_char, c_int, c_long, c_uint, c_void};

use libc::{off_t, size_t, ssize_t};

use crate::hook::entry;

mod real_fns {
    use super::*;
    real! {
        fn lseek(fd: c_int, off: off_t, whence: c_int) -> off_t;
        fn lseek64(fd: c_int, off: off_t, whence: c_int) -> off_t;
        fn pread(fd: c_int, buf: *mut c_void, n: size_t, off: off_t) -> ssize_t;
        fn pread64(fd: c_int, buf: *mut c_void, n: size_t, off: off_t) -> ssize_t;
        fn pwrite(fd: c_int, buf: *const c_void, n: size_t, off: off_t) -> ssize_t;
        fn pwrite64(fd: c_int, buf: *const c_void, n: size_t, off: off_t) -> ssize_t;
        fn copy_file_range(fin: c_int, oin: *mut i64, fout: c_int, oout: *mut i64, n: size_t, flags: c_uint) -> ssize_t;
        fn stat(path: *const c_char, st: *mut libc::stat) -> c_int;
        fn stat64(path: *const c_char, st: *mut libc::stat) -> c_int;
        fn lstat(path: *const c_char, st: *mut libc::stat) -> c_int;
        fn lstat64(path: *const c_char, st: *mut libc::stat) -> c_int;
        fn fstatat(dir: c_int, path: *const c_char, st: *mut libc::stat, flags: c_int) -> c_int;
        fn fstatat64(dir: c_int, path: *const c_char, st: *mut libc::stat, flags: c_int) -> c_int;
        fn statx(dir: c_int, path: *const c_char, flags: c_int, mask: c_uint, buf: *mut libc::statx) -> c_int;
        fn __chk_fail() -> ();
    }
}

const WHENCE: &[(i64, &str)] = &[
    (libc::SEEK_SET as i64, "SEEK_SET"),
    (libc::SEEK_CUR as i64, "SEEK_CUR"),
    (libc::SEEK_END as i64, "SEEK_END"),
    (libc::SEEK_DATA as i64, "SEEK_DATA"),
    (libc::SEEK_HOLE as i64, "SEEK_HOLE"),
];

/// The hub when tracing (or the summary) is on and the caller is the program on a hub thread.
#[inline(always)]
pub fn traced_hub() -> Option<*mut gs::hub::Hub> {
    if crate::diag::trace::on() {
        entry::hub()
    } else {
        None
    }
}

/// Does an open with these flags take a mode (printed only then, as strace does)?
fn has_mode(flags: c_int) -> bool {
    flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE
}

/// Which open-family call, for its trace line.
#[derive(Clone, Copy)]
pub enum Opener {
    /// `open(path, flags[, mode])` (also `open64`, `__open_2`).
    Open,
    /// `openat(dir, path, flags[, mode])`.
    At(c_int),
    /// `creat(path, mode)`.
    Creat,
}

/// Run `f`, an open of `path`, traced as `how` when tracing is on.
///
/// # Safety
/// `path` is null or a NUL-terminated string; `f` is the real call.
#[inline(always)]
pub unsafe fn open_traced(how: Opener, path: *const c_char, flags: c_int, mode: c_uint, f: impl FnOnce() -> c_int) -> c_int {
    let Some(h) = traced_hub() else { return f() };
    use crate::diag::trace::Arg;
    let m = if has_mode(flags) { Arg::Mode(mode as u64) } else { Arg::Skip };
    match how {
        Opener::Open => hook!(h, open, entry::nonneg, f(), |r, e| [Arg::Path(path), Arg::OpenFlags(flags as i64), m], Ret::Int(r as i64, e)),
        Opener::At(d) => hook!(h, openat, entry::nonneg, f(), |r, e| [
            Arg::Dirfd(d as i64), Arg::Path(path), Arg::OpenFlags(flags as i64), m
        ], Ret::Int(r as i64, e)),
        Opener::Creat => hook!(h, creat, entry::nonneg, f(), |r, e| [Arg::Path(path), Arg::Mode(mode as u64)], Ret::Int(r as i64, e)),
    }
}

/// Run `f`, an `fstat` of `fd` into `st`, traced when tracing is on.
///
/// # Safety
/// `st` is what the caller passed; `f` is the real call.
#[inline(always)]
pub unsafe fn fstat_traced(fd: c_int, st: *const libc::stat, f: impl FnOnce() -> c_int) -> c_int {
    let Some(h) = traced_hub() else { return f() };
    hook!(h, fstat, entry::nonneg, f(), |r, e| [Arg::Int(fd as i64), Arg::Stat(st, r == 0)], Ret::Int(r as i64, e))
}

#[inline(always)]
unsafe fn lseek_traced(fd: c_int, off: off_t, whence: c_int, f: impl FnOnce() -> off_t) -> off_t {
    let Some(h) = traced_hub() else { return f() };
    hook!(h, lseek, entry::nonneg, f(), |r, e| [Arg::Int(fd as i64), Arg::Int(off), Arg::Sym(whence as i64, WHENCE)], Ret::Int(r, e))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn lseek(fd: c_int, off: off_t, whence: c_int) -> off_t {
    lseek_traced(fd, off, whence, || real_fns::lseek(fd, off, whence))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn lseek64(fd: c_int, off: off_t, whence: c_int) -> off_t {
    lseek_traced(fd, off, whence, || real_fns::lseek64(fd, off, whence))
}

#[inline(always)]
unsafe fn pread_traced(fd: c_int, buf: *mut c_void, n: size_t, off: off_t, f: impl FnOnce() -> ssize_t) -> ssize_t {
    let Some(h) = traced_hub() else { return f() };
    hook!(h, pread64, entry::nonneg, f(), |r, e| [
        Arg::Int(fd as i64), Arg::Buf(buf as *const u8, (r >= 0).then_some(r as usize)), Arg::Int(n as i64), Arg::Int(off)
    ], Ret::Int(r as i64, e))
}

#[inline(always)]
unsafe fn pwrite_traced(fd: c_int, buf: *const c_void, n: size_t, off: off_t, f: impl FnOnce() -> ssize_t) -> ssize_t {
    let Some(h) = traced_hub() else { return f() };
    hook!(h, pwrite64, entry::nonneg, f(), |r, e| [
        Arg::Int(fd as i64), Arg::Buf(buf as *const u8, Some(n)), Arg::Int(n as i64), Arg::Int(off)
    ], Ret::Int(r as i64, e))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pread(fd: c_int, buf: *mut c_void, n: size_t, off: off_t) -> ssize_t {
    pread_traced(fd, buf, n, off, || real_fns::pread(fd, buf, n, off))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pread64(fd: c_int, buf: *mut c_void, n: size_t, off: off_t) -> ssize_t {
    pread_traced(fd, buf, n, off, || real_fns::pread64(fd, buf, n, off))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __pread_chk(fd: c_int, buf: *mut c_void, n: size_t, off: off_t, buflen: size_t) -> ssize_t {
    if n > buflen {
        real_fns::__chk_fail();
    }
    pread(fd, buf, n, off)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn __pread64_chk(fd: c_int, buf: *mut c_void, n: size_t, off: off_t, buflen: size_t) -> ssize_t {
    if n > buflen {
        real_fns::__chk_fail();
    }
    pread64(fd, buf, n, off)
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pwrite(fd: c_int, buf: *const c_void, n: size_t, off: off_t) -> ssize_t {
    pwrite_traced(fd, buf, n, off, || real_fns::pwrite(fd, buf, n, off))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn pwrite64(fd: c_int, buf: *const c_void, n: size_t, off: off_t) -> ssize_t {
    pwrite_traced(fd, buf, n, off, || real_fns::pwrite64(fd, buf, n, off))
}

#[inline(always)]
unsafe fn copy_traced(fin: c_int, oin: *mut i64, fout: c_int, oout: *mut i64, n: size_t, flags: c_uint, f: impl FnOnce() -> ssize_t) -> ssize_t {
    let Some(h) = traced_hub() else { return f() };
    hook!(h, copy_file_range, entry::nonneg, f(), |r, e| [
        Arg::Int(fin as i64), Arg::OffPtr(oin), Arg::Int(fout as i64), Arg::OffPtr(oout), Arg::Int(n as i64), Arg::Int(flags as i64)
    ], Ret::Int(r as i64, e))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn copy_file_range(fin: c_int, oin: *mut i64, fout: c_int, oout: *mut i64, n: size_t, flags: c_uint) -> ssize_t {
    copy_traced(fin, oin, fout, oout, n, flags, || real_fns::copy_file_range(fin, oin, fout, oout, n, flags))
}

/// The path-based stat calls, traced as `stat`, `lstat` or `fstatat`.
#[inline(always)]
unsafe fn stat_traced(at: Option<(c_int, c_int)>, nofollow: bool, path: *const c_char, st: *mut libc::stat, f: impl FnOnce() -> c_int) -> c_int {
    let Some(h) = traced_hub() else { return f() };
    match at {
        Some((dir, flags)) => hook!(h, fstatat, entry::nonneg, f(), |r, e| [
            Arg::Dirfd(dir as i64), Arg::Path(path), Arg::Stat(st, r == 0), Arg::AtFlags(flags as i64)
        ], Ret::Int(r as i64, e)),
        None if nofollow => hook!(h, lstat, entry::nonneg, f(), |r, e| [Arg::Path(path), Arg::Stat(st, r == 0)], Ret::Int(r as i64, e)),
        None => hook!(h, stat, entry::nonneg, f(), |r, e| [Arg::Path(path), Arg::Stat(st, r == 0)], Ret::Int(r as i64, e)),
    }
}

#[no_mangle]
pub unsafe extern "C-unwind" fn stat(path: *const c_char, st: *mut libc::stat) -> c_int {
    stat_traced(None, false, path, st, || real_fns::stat(path, st))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn stat64(path: *const c_char, st: *mut libc::stat) -> c_int {
    stat_traced(None, false, path, st, || real_fns::stat64(path, st))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn lstat(path: *const c_char, st: *mut libc::stat) -> c_int {
    stat_traced(None, true, path, st, || real_fns::lstat(path, st))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn lstat64(path: *const c_char, st: *mut libc::stat) -> c_int {
    stat_traced(None, true, path, st, || real_fns::lstat64(path, st))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn fstatat(dir: c_int, path: *const c_char, st: *mut libc::stat, flags: c_int) -> c_int {
    stat_traced(Some((dir, flags)), false, path, st, || real_fns::fstatat(dir, path, st, flags))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn fstatat64(dir: c_int, path: *const c_char, st: *mut libc::stat, flags: c_int) -> c_int {
    stat_traced(Some((dir, flags)), false, path, st, || real_fns::fstatat64(dir, path, st, flags))
}

#[inline(always)]
unsafe fn statx_traced(dir: c_int, path: *const c_char, flags: c_int, mask: c_uint, buf: *mut libc::statx, f: impl FnOnce() -> c_int) -> c_int {
    let Some(h) = traced_hub() else { return f() };
    hook!(h, statx, entry::nonneg, f(), |r, e| [
        Arg::Dirfd(dir as i64), Arg::Path(path), Arg::StatxFlags(flags as i64), Arg::StatxMask(mask), Arg::Statx(buf, r == 0)
    ], Ret::Int(r as i64, e))
}

#[no_mangle]
pub unsafe extern "C-unwind" fn statx(dir: c_int, path: *const c_char, flags: c_int, mask: c_uint, buf: *mut libc::statx) -> c_int {
    statx_traced(dir, path, flags, mask, buf, || real_fns::statx(dir, path, flags, mask, buf))
}

/// A system call trapped inside libc (syscall user dispatch) that one of the calls above makes:
/// when tracing is on, perform it as is and trace it; `None` otherwise (the caller performs it).
/// The result is the kernel's convention (`-errno`).
///
/// # Safety
/// Called from the SIGSYS handler where a hook may run (a greenlet on the hub thread), with the
/// trapped call's arguments.
pub unsafe fn trapped(nr: c_long, a: [usize; 6]) -> Option<isize> {
    traced_hub()?;
    let raw = || {
        let r = gs::sys::raw_syscall(nr, a);
        if r < 0 {
            gs::sys::set_errno(-r as i32);
            -1
        } else {
            r
        }
    };
    let (i0, i1) = (a[0] as c_int, a[1] as c_int);
    let r = match nr {
        libc::SYS_openat => open_traced(Opener::At(i0), a[1] as *const c_char, a[2] as c_int, a[3] as c_uint, || raw() as c_int) as isize,
        libc::SYS_open => open_traced(Opener::Open, a[0] as *const c_char, i1, a[2] as c_uint, || raw() as c_int) as isize,
        libc::SYS_fstat => fstat_traced(i0, a[1] as *const libc::stat, || raw() as c_int) as isize,
        libc::SYS_newfstatat => {
            stat_traced(Some((i0, a[3] as c_int)), false, a[1] as *const c_char, a[2] as *mut libc::stat, || raw() as c_int) as isize
        }
        libc::SYS_statx => statx_traced(i0, a[1] as *const c_char, a[2] as c_int, a[3] as c_uint, a[4] as *mut libc::statx, || raw() as c_int) as isize,
        libc::SYS_lseek => lseek_traced(i0, a[1] as off_t, a[2] as c_int, || raw() as off_t) as isize,
        libc::SYS_pread64 => pread_traced(i0, a[1] as *mut c_void, a[2], a[3] as off_t, || raw() as ssize_t),
        libc::SYS_pwrite64 => pwrite_traced(i0, a[1] as *const c_void, a[2], a[3] as off_t, || raw() as ssize_t),
        libc::SYS_ioctl => {
            let h = traced_hub()?;
            let (req, arg) = (a[1], a[2]);
            hook!(h, ioctl, entry::nonneg, raw() as c_int, |r, e| [
                Arg::Int(i0 as i64), Arg::Sym(req as i64, crate::fd::fdops::IOCTLS), Arg::Hex(arg as u64)
            ], Ret::Int(r as i64, e)) as isize
        }
        _ => return None,
    };
    Some(if r == -1 { -(gs::sys::errno() as isize) } else { r })
}
