//! Decoders for the arguments of the file calls (`open`, `fstat`, `lseek`, ...), printed as
//! strace prints them: paths as quoted strings, `AT_FDCWD`, open flags with the access mode
//! first and the others in strace's order, modes in octal, a `struct stat` as
//! `{st_mode=S_IFREG|0644, st_size=3, ...}` (and `statx`'s flags, mask and struct); and an
//! exec's argv and environment.

use super::Line;

/// Open flags after the access mode, in the order strace prints them (`O_SYNC` includes
/// `O_DSYNC`, `O_TMPFILE` includes `O_DIRECTORY`: each comes before what it includes).
const OPEN_FLAGS: &[(i64, &str)] = &[
    (libc::O_CREAT as i64, "O_CREAT"),
    (libc::O_EXCL as i64, "O_EXCL"),
    (libc::O_NOCTTY as i64, "O_NOCTTY"),
    (libc::O_TRUNC as i64, "O_TRUNC"),
    (libc::O_APPEND as i64, "O_APPEND"),
    (libc::O_NONBLOCK as i64, "O_NONBLOCK"),
    (libc::O_SYNC as i64, "O_SYNC"),
    (libc::O_DSYNC as i64, "O_DSYNC"),
    (libc::O_ASYNC as i64, "FASYNC"),
    (libc::O_DIRECT as i64, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (libc::O_NOFOLLOW as i64, "O_NOFOLLOW"),
    (libc::O_NOATIME as i64, "O_NOATIME"),
    (libc::O_CLOEXEC as i64, "O_CLOEXEC"),
    (libc::O_PATH as i64, "O_PATH"),
    (libc::O_TMPFILE as i64, "O_TMPFILE"),
    (libc::O_DIRECTORY as i64, "O_DIRECTORY"),
];

impl Line {
    /// `0644`; 0 as `000`, as strace's `%#03o`.
    pub(super) fn oct(&mut self, v: u64) -> &mut Self {
        let mut t = [0u8; 23];
        let mut i = t.len();
        let mut u = v;
        while u > 0 {
            i -= 1;
            t[i] = b'0' + (u & 7) as u8;
            u >>= 3;
        }
        i -= 1;
        t[i] = b'0';
        while t.len() - i < 3 {
            i -= 1;
            t[i] = b'0';
        }
        self.b(&t[i..])
    }
}

/// A NUL-terminated path, quoted and escaped (`NULL` for a null pointer).
///
/// # Safety
/// Reads only through `peek`.
pub(super) unsafe fn path(l: &mut Line, p: *const libc::c_char) {
    if p.is_null() {
        l.s("NULL");
        return;
    }
    let mut chunk = [0u8; 128];
    let mut off = 0;
    loop {
        let got = super::peek::peek(p as usize + off, &mut chunk, l.ok);
        // A path at the end of its mapping: read what fits, byte by byte.
        let got = if got == 0 { super::peek::peek(p as usize + off, &mut chunk[..1], l.ok) } else { got };
        if got == 0 {
            if off == 0 {
                l.s("0x").hex(p as u64);
            } else {
                l.s("\"...");
            }
            return;
        }
        if off == 0 {
            l.s("\"");
        }
        for &c in &chunk[..got] {
            if c == 0 {
                l.s("\"");
                return;
            }
            if l.len + 4 > l.buf.len() - super::TAIL_ROOM || off >= 4096 {
                l.s("\"...");
                return;
            }
            l.esc(c);
            off += 1;
        }
    }
}

/// A directory fd of the `*at` calls.
pub(super) fn dirfd(l: &mut Line, fd: i64) {
    if fd == libc::AT_FDCWD as i64 {
        l.s("AT_FDCWD");
    } else {
        l.int(fd);
    }
}

/// `O_RDONLY|O_CLOEXEC`, leftover bits in hex.
pub(super) fn open_flags(l: &mut Line, v: i64) {
    l.s(match v & libc::O_ACCMODE as i64 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    });
    let mut left = v & !(libc::O_ACCMODE as i64);
    for &(bit, name) in OPEN_FLAGS {
        if left & bit == bit {
            l.s("|").s(name);
            left &= !bit;
        }
    }
    if left != 0 {
        l.s("|0x").hex(left as u64);
    }
}

/// `{st_mode=S_IFREG|0644, st_size=3, ...}` (devices: `st_rdev=makedev(0x1, 0x3)`).
///
/// # Safety
/// `st` points to a filled `struct stat`.
pub(super) unsafe fn stat(l: &mut Line, st: *const libc::stat) {
    l.s("{st_mode=");
    mode_bits(l, (*st).st_mode);
    let mode = (*st).st_mode;
    if matches!(mode & libc::S_IFMT, libc::S_IFCHR | libc::S_IFBLK) {
        let rdev = (*st).st_rdev;
        l.s(", st_rdev=makedev(0x").hex(libc::major(rdev) as u64).s(", 0x").hex(libc::minor(rdev) as u64).s(")");
    } else {
        l.s(", st_size=").int((*st).st_size);
    }
    l.s(", ...}");
}

/// `S_IFREG|0644`, `S_IFDIR|S_ISVTX|0777`.
fn mode_bits(l: &mut Line, mode: libc::mode_t) {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFREG => "S_IFREG",
        libc::S_IFDIR => "S_IFDIR",
        libc::S_IFCHR => "S_IFCHR",
        libc::S_IFBLK => "S_IFBLK",
        libc::S_IFIFO => "S_IFIFO",
        libc::S_IFLNK => "S_IFLNK",
        libc::S_IFSOCK => "S_IFSOCK",
        _ => "0",
    };
    l.s(kind);
    for (bit, name) in [(libc::S_ISUID, "S_ISUID"), (libc::S_ISGID, "S_ISGID"), (libc::S_ISVTX, "S_ISVTX")] {
        if mode & bit != 0 {
            l.s("|").s(name);
        }
    }
    l.s("|").oct((mode & 0o777) as u64);
}

const STATX_BITS: &[(u32, &str)] = &[
    (0x1, "STATX_TYPE"),
    (0x2, "STATX_MODE"),
    (0x4, "STATX_NLINK"),
    (0x8, "STATX_UID"),
    (0x10, "STATX_GID"),
    (0x20, "STATX_ATIME"),
    (0x40, "STATX_MTIME"),
    (0x80, "STATX_CTIME"),
    (0x100, "STATX_INO"),
    (0x200, "STATX_SIZE"),
    (0x400, "STATX_BLOCKS"),
    (0x800, "STATX_BTIME"),
    (0x1000, "STATX_MNT_ID"),
    (0x2000, "STATX_DIOALIGN"),
];

/// A `statx` mask: `STATX_BASIC_STATS|STATX_MNT_ID`, `STATX_MODE|STATX_SIZE`.
pub(super) fn statx_mask(l: &mut Line, m: u32) {
    let mut left = m;
    let mut first = true;
    let mut put = |l: &mut Line, name: &str| {
        if !first {
            l.s("|");
        }
        l.s(name);
        first = false;
    };
    if left & 0x7ff == 0x7ff {
        put(l, "STATX_BASIC_STATS");
        left &= !0x7ff;
    }
    for &(bit, name) in STATX_BITS {
        if left & bit != 0 {
            put(l, name);
            left &= !bit;
        }
    }
    if left != 0 {
        put(l, "");
        l.s("0x").hex(left as u64);
    } else if first {
        l.s("0");
    }
}

/// `statx`'s flags: the sync mode, then the `AT_*` flags.
pub(super) fn statx_flags(l: &mut Line, v: i64) {
    l.s(match v & 0x6000 {
        0 => "AT_STATX_SYNC_AS_STAT",
        0x2000 => "AT_STATX_FORCE_SYNC",
        0x4000 => "AT_STATX_DONT_SYNC",
        _ => "AT_STATX_SYNC_TYPE",
    });
    let rest = v & !0x6000;
    if rest != 0 {
        l.s("|");
        at_flags(l, rest);
    }
}

/// A filled `struct statx`: `{stx_mask=.., stx_attributes=0, stx_mode=S_IFREG|0644,
/// stx_size=3, ...}`.
///
/// # Safety
/// `st` points to a filled `struct statx`.
pub(super) unsafe fn statx(l: &mut Line, st: *const libc::statx) {
    l.s("{stx_mask=");
    statx_mask(l, (*st).stx_mask);
    l.s(", stx_attributes=");
    match (*st).stx_attributes {
        0 => l.s("0"),
        a => l.s("0x").hex(a),
    };
    l.s(", stx_mode=");
    mode_bits(l, (*st).stx_mode as libc::mode_t);
    l.s(", stx_size=").int((*st).stx_size as i64).s(", ...}");
}

/// `AT_EMPTY_PATH|AT_SYMLINK_NOFOLLOW` of the `*at` calls; 0 as `0` (a flag set, as
/// [`super::Arg::Flags`] prints them).
pub(super) fn at_flags(l: &mut Line, v: i64) {
    const AT: &[(u64, &str)] = &[
        (libc::AT_SYMLINK_NOFOLLOW as u64, "AT_SYMLINK_NOFOLLOW"),
        (libc::AT_REMOVEDIR as u64, "AT_REMOVEDIR"),
        (libc::AT_SYMLINK_FOLLOW as u64, "AT_SYMLINK_FOLLOW"),
        (libc::AT_NO_AUTOMOUNT as u64, "AT_NO_AUTOMOUNT"),
        (libc::AT_EMPTY_PATH as u64, "AT_EMPTY_PATH"),
    ];
    // SAFETY: a flag set is printed from its value alone; no program memory is read.
    unsafe { super::arg(l, &super::Arg::Flags(v as u64, AT)) };
}

/// An exec's argv: `["sh", "-c", "echo hi"]`; at most 32 strings, then `...`.
///
/// # Safety
/// Reads only through `peek`.
pub(super) unsafe fn argv(l: &mut Line, v: *const *const libc::c_char) {
    if v.is_null() || super::peek::peek_val::<usize>(v as usize, l.ok).is_none() {
        super::arg(l, &super::Arg::Hex(v as u64));
        return;
    }
    l.s("[");
    for k in 0.. {
        let Some(p) = super::peek::peek_val::<usize>(v.add(k) as usize, l.ok) else { break };
        if p == 0 {
            break;
        }
        if k > 0 {
            l.s(", ");
        }
        if k == 32 || l.len + 8 > l.buf.len() - super::TAIL_ROOM {
            l.s("...");
            break;
        }
        path(l, p as *const libc::c_char);
    }
    l.s("]");
}

/// An exec's environment, as strace shows it: the address and the number of variables.
///
/// # Safety
/// Reads only through `peek`.
pub(super) unsafe fn envp(l: &mut Line, v: *const *const libc::c_char) {
    super::arg(l, &super::Arg::Hex(v as u64));
    if v.is_null() {
        return;
    }
    let mut n = 0usize;
    while let Some(p) = super::peek::peek_val::<usize>(v.add(n) as usize, l.ok) {
        if p == 0 {
            l.s(" /* ").int(n as i64).s(if n == 1 { " var */" } else { " vars */" });
            return;
        }
        n += 1;
        if n > 100_000 {
            return;
        }
    }
}
