//! Raw access to the kernel for the hub.
//!
//! The hub is linked into `libgreenshim.so`, whose exports replace libc's `read`, `epoll_wait`,
//! `nanosleep`, ... for the whole process, *including this crate*: a call to `libc::epoll_wait`
//! from here would land in our own export and recurse. Everything the hub asks of the kernel
//! therefore goes through [`syscall!`] (the `syscall` instruction: libc's `syscall()` is interposed too) or through
//! libc functions the shim does not export (`clock_gettime`, `mmap`, `__errno_location`).

/// Issue a raw system call; yields `Ok(ret)` or `Err(errno)` like the kernel reports it.
#[macro_export]
macro_rules! syscall {
    ($nr:ident $(, $arg:expr)* $(,)?) => {{
        let v: &[usize] = &[$(($arg) as ::libc::c_long as usize),*];
        let mut a = [0usize; 6];
        a[..v.len()].copy_from_slice(v);
        // SAFETY: the caller passes arguments valid for this system call.
        let r = unsafe { $crate::sys::raw_syscall(::libc::$nr, a) };
        if r < 0 { Err(-r as i32) } else { Ok(r as ::libc::c_long) }
    }};
}

/// [`raw_syscall`] as `Ok(value)` or `Err(errno)`.
///
/// # Safety
/// As [`raw_syscall`].
#[inline]
pub unsafe fn raw_result(nr: libc::c_long, a: [usize; 6]) -> Result<usize, i32> {
    let r = raw_syscall(nr, a);
    if r < 0 {
        Err(-r as i32)
    } else {
        Ok(r as usize)
    }
}

/// The `syscall` instruction itself: returns the kernel's value (`-errno` on failure) and never
/// touches errno. Not libc's `syscall()`, which the shim interposes (futexes).
///
/// # Safety
/// The arguments are valid for system call `nr`.
#[inline(always)]
pub unsafe fn raw_syscall(nr: libc::c_long, a: [usize; 6]) -> isize {
    let r: isize;
    std::arch::asm!("syscall",
        inlateout("rax") nr as isize => r,
        in("rdi") a[0], in("rsi") a[1], in("rdx") a[2], in("r10") a[3], in("r8") a[4], in("r9") a[5],
        lateout("rcx") _, lateout("r11") _, options(nostack));
    r
}

/// The calling OS thread's errno.
#[inline(always)]
pub fn errno() -> i32 {
    // SAFETY: __errno_location always returns a valid pointer for the calling thread.
    unsafe { *libc::__errno_location() }
}

/// Set the calling OS thread's errno.
#[inline(always)]
pub fn set_errno(e: i32) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = e }
}

/// Nanoseconds on `clock` (CLOCK_MONOTONIC, CLOCK_REALTIME, ...), or `None` for a clock the
/// kernel rejects.
#[inline]
pub fn clock_ns(clock: libc::clockid_t) -> Option<i128> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-pointer; clock_gettime is not interposed (vDSO fast path).
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128)
}

/// Monotonic time in nanoseconds: the hub's only time base. Deadlines are absolute values of it.
#[inline]
pub fn now() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC).unwrap_or(0) as u64
}

/// Convert a `timespec` to nanoseconds; `None` if `tv_nsec` is outside `0..1e9` (EINVAL natively).
#[inline]
pub fn timespec_ns(ts: &libc::timespec) -> Option<i128> {
    if !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return None;
    }
    Some(ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128)
}

/// Nanoseconds to a `timespec` (non-negative input).
#[inline]
pub fn ns_timespec(ns: i128) -> libc::timespec {
    let ns = ns.max(0);
    libc::timespec { tv_sec: (ns / 1_000_000_000) as libc::time_t, tv_nsec: (ns % 1_000_000_000) as _ }
}

/// Write all of `msg` to stderr with raw syscalls; usable in signal handlers and inside hooks.
pub fn write_stderr(msg: &[u8]) {
    let mut off = 0;
    while off < msg.len() {
        match syscall!(SYS_write, 2, msg[off..].as_ptr(), msg.len() - off) {
            Ok(n) => off += n as usize,
            Err(libc::EINTR) => continue,
            Err(_) => return,
        }
    }
}

/// A fixed-capacity line buffer for messages built without allocating (signal handlers).
pub struct LineBuf {
    buf: [u8; 512],
    len: usize,
}

impl LineBuf {
    pub const fn new() -> Self {
        LineBuf { buf: [0; 512], len: 0 }
    }
    pub fn push(&mut self, s: &[u8]) -> &mut Self {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
        self
    }
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.push(s.as_bytes())
    }
    pub fn num(&mut self, mut v: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&tmp[i..])
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}
