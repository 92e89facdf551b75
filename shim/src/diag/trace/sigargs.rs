//! Decoders for the arguments of the signal calls, as strace prints them: `SIGINT`,
//! `[INT TERM]` (`~[...]` for a set of more than half the signals), `SIG_BLOCK`, and a
//! `struct sigaction` as `{sa_handler=SIG_IGN, sa_mask=[], sa_flags=SA_RESTART}`.

use super::peek::peek_val;
use super::Line;

const NAMES: [&str; 32] = [
    "0", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM",
    "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// A signal's name without `SIG`: `INT`, `RTMIN`, `RT_3` (as strace's sets show them).
fn short(l: &mut Line, sig: i64) {
    match sig {
        1..=31 => {
            l.s(NAMES[sig as usize]);
        }
        34 => {
            l.s("RTMIN");
        }
        35..=64 => {
            l.s("RT_").int(sig - 34);
        }
        _ => {
            l.int(sig);
        }
    }
}

/// `SIGINT`; an out-of-range number as is.
pub(super) fn signal(l: &mut Line, sig: i64) {
    if (1..=31).contains(&sig) || (34..=64).contains(&sig) {
        l.s("SIG");
    }
    short(l, sig);
}

/// A `sigset_t` (its first 64 signals): `[INT TERM]`, or `~[...]` of the missing ones.
pub(super) fn sigset(l: &mut Line, p: *const libc::sigset_t) {
    let Some(m) = peek_val::<u64>(p as usize, l.ok).filter(|_| !p.is_null()) else {
        // SAFETY: an address argument reads no memory.
        unsafe { super::arg(l, &super::Arg::Hex(p as u64)) };
        return;
    };
    set_bits(l, m);
}

fn set_bits(l: &mut Line, m: u64) {
    // Signals 32 and 33 belong to glibc: strace leaves them out of a complement.
    let usable = !(3u64 << 31);
    let (neg, bits) = if (m & usable).count_ones() > 32 { (true, !m & usable) } else { (false, m) };
    if neg {
        l.s("~");
    }
    l.s("[");
    let mut first = true;
    for sig in 1..=64i64 {
        if bits & (1 << (sig - 1)) != 0 {
            if !first {
                l.s(" ");
            }
            short(l, sig);
            first = false;
        }
    }
    l.s("]");
}

/// `SIG_BLOCK`, `SIG_UNBLOCK`, `SIG_SETMASK`.
pub(super) fn how(l: &mut Line, h: i64) {
    match h as i32 {
        libc::SIG_BLOCK => l.s("SIG_BLOCK"),
        libc::SIG_UNBLOCK => l.s("SIG_UNBLOCK"),
        libc::SIG_SETMASK => l.s("SIG_SETMASK"),
        _ => l.int(h),
    };
}

/// A `struct sigaction`: `{sa_handler=0x55.., sa_mask=[], sa_flags=SA_RESTART|SA_SIGINFO}`.
pub(super) fn action(l: &mut Line, p: *const libc::sigaction) {
    if p.is_null() {
        l.s("NULL");
        return;
    }
    let Some(a) = peek_val::<libc::sigaction>(p as usize, l.ok) else {
        // SAFETY: an address argument reads no memory.
        unsafe { super::arg(l, &super::Arg::Hex(p as u64)) };
        return;
    };
    l.s("{sa_handler=");
    match a.sa_sigaction {
        libc::SIG_DFL => l.s("SIG_DFL"),
        libc::SIG_IGN => l.s("SIG_IGN"),
        h => l.s("0x").hex(h as u64),
    };
    l.s(", sa_mask=");
    // SAFETY: sigset_t starts with the bits of signals 1..64.
    set_bits(l, unsafe { *(&a.sa_mask as *const libc::sigset_t as *const u64) });
    l.s(", sa_flags=");
    const FLAGS: &[(u64, &str)] = &[
        (libc::SA_NOCLDSTOP as u64, "SA_NOCLDSTOP"),
        (libc::SA_NOCLDWAIT as u64, "SA_NOCLDWAIT"),
        (libc::SA_SIGINFO as u64, "SA_SIGINFO"),
        (0x0400_0000, "SA_RESTORER"),
        (libc::SA_ONSTACK as u64, "SA_ONSTACK"),
        (libc::SA_RESTART as u64, "SA_RESTART"),
        (libc::SA_NODEFER as u64, "SA_NODEFER"),
        (libc::SA_RESETHAND as u64, "SA_RESETHAND"),
    ];
    // SAFETY: a flags argument reads no memory.
    unsafe { super::arg(l, &super::Arg::Flags(a.sa_flags as u32 as u64, FLAGS)) };
    l.s("}");
}
