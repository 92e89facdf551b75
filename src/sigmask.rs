//! The OS thread's real signal mask, derived from the greenlets' own masks.
//!
//! Every greenlet has its own signal mask, as every thread has natively (`Greenlet::sigmask`,
//! bit `sig - 1`). The kernel sees one thread, so the hub gives it the mask that makes the
//! kernel's choices right for the whole set: a signal is blocked on the OS thread exactly when
//! *every* live greenlet blocks it. Then
//! * a signal some greenlet accepts is delivered to the OS thread and the shim routes it to such
//!   a greenlet (its default action, or its ignoring, is the kernel's, as natively);
//! * a signal no greenlet accepts stays pending in the kernel, where `sigpending`, `sigwait`
//!   and `signalfd` find it, as natively.
//!
//! [`Counts`] keeps, per signal, how many live greenlets block it, so that a mask change, a
//! spawn or an exit costs a few operations and a system call only when the derived mask
//! changes.

/// Bit of signal `sig` (1-based) in a 64-bit mask.
#[inline(always)]
pub const fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// Signals no mask can block (SIGKILL, SIGSTOP) and glibc's internal ones (SIGCANCEL 32,
/// SIGSETXID 33), which glibc never lets a program block.
pub const UNBLOCKABLE: u64 = bit(libc::SIGKILL) | bit(libc::SIGSTOP) | bit(32) | bit(33);

/// How many live greenlets block each signal.
pub struct Counts {
    /// Per signal (index `sig - 1`): live greenlets whose mask has it.
    blockers: [u32; 64],
    /// Signals at least one live greenlet blocks (the only counts worth looking at).
    any: u64,
    /// Live greenlets counted.
    live: u32,
    /// The mask last given to the kernel.
    pub real: u64,
    /// Signals the hub never blocks on the OS thread (the shim's own: the dump signal).
    pub reserved: u64,
}

impl Counts {
    /// Counts for a hub whose only greenlet (main) has the OS thread's `mask`.
    pub fn new(mask: u64) -> Counts {
        let mut c = Counts { blockers: [0; 64], any: 0, live: 0, real: mask, reserved: 0 };
        c.add(mask);
        c
    }

    /// A greenlet with `mask` starts to count.
    pub fn add(&mut self, mask: u64) {
        self.live += 1;
        self.change(0, mask);
    }

    /// A greenlet with `mask` ended.
    pub fn remove(&mut self, mask: u64) {
        self.change(mask, 0);
        self.live -= 1;
    }

    /// A counted greenlet's mask changes from `old` to `new`.
    pub fn change(&mut self, old: u64, new: u64) {
        let mut gone = old & !new;
        while gone != 0 {
            let i = gone.trailing_zeros() as usize;
            self.blockers[i] -= 1;
            if self.blockers[i] == 0 {
                self.any &= !(1 << i);
            }
            gone &= gone - 1;
        }
        let mut came = new & !old;
        while came != 0 {
            let i = came.trailing_zeros() as usize;
            self.blockers[i] += 1;
            self.any |= 1 << i;
            came &= came - 1;
        }
    }

    /// Signals every live greenlet blocks (what the OS thread should block).
    pub fn all_blocked(&self) -> u64 {
        let mut out = 0;
        let mut any = self.any;
        while any != 0 {
            let i = any.trailing_zeros() as usize;
            if self.blockers[i] == self.live {
                out |= 1 << i;
            }
            any &= any - 1;
        }
        out & !self.reserved & !UNBLOCKABLE
    }

    /// Give the kernel the derived mask if it changed. Async-signal-safe (a raw system call).
    pub fn sync(&mut self) {
        let want = self.all_blocked();
        if want != self.real {
            self.real = want;
            set_real(want);
        }
    }
}

/// Signals the OS thread must never block (SIGSYS while system calls are trapped: the kernel kills
/// a process whose trap signal is blocked).
static NEVER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Never block `bits` on the OS thread from now on.
pub fn set_never(bits: u64) {
    NEVER.fetch_or(bits, std::sync::atomic::Ordering::Relaxed);
}

/// Signals never blocked (see [`set_never`]).
pub fn never() -> u64 {
    NEVER.load(std::sync::atomic::Ordering::Relaxed)
}

/// The OS thread's mask, from the kernel.
pub fn get_real() -> u64 {
    let mut old = 0u64;
    let _ = syscall!(SYS_rt_sigprocmask, libc::SIG_BLOCK, 0usize, &mut old as *mut u64, 8);
    old
}

/// Block every signal but glibc's own (SIGCANCEL 32, SIGSETXID 33: `setuid` and friends signal
/// every thread glibc knows and wait for each to answer) and the never-blocked ones: another
/// hub's OS thread (multi-hub), which takes no signal of the program's.
pub fn block_all_but_libc() -> u64 {
    let all = !never() & !((1u64 << 31) | (1u64 << 32));
    let mut old = 0u64;
    let _ = syscall!(SYS_rt_sigprocmask, libc::SIG_SETMASK, &all as *const u64, &mut old as *mut u64, 8);
    old
}

/// Block every signal on the calling OS thread; returns the mask it had (for [`set_real`]).
pub fn block_all() -> u64 {
    let all = !never();
    let mut old = 0u64;
    let _ = syscall!(SYS_rt_sigprocmask, libc::SIG_SETMASK, &all as *const u64, &mut old as *mut u64, 8);
    old
}

/// Set the OS thread's mask (raw: glibc's wrapper would be the shim's own export).
pub fn set_real(mask: u64) {
    let mask = mask & !never();
    let _ = syscall!(SYS_rt_sigprocmask, libc::SIG_SETMASK, &mask as *const u64, 0usize, 8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_only_when_every_greenlet_blocks() {
        let usr1 = bit(libc::SIGUSR1);
        let usr2 = bit(libc::SIGUSR2);
        let mut c = Counts::new(usr1 | usr2);
        assert_eq!(c.all_blocked(), usr1 | usr2);
        c.add(usr1);
        assert_eq!(c.all_blocked(), usr1);
        c.change(usr1, 0);
        assert_eq!(c.all_blocked(), 0);
        c.remove(0);
        assert_eq!(c.all_blocked(), usr1 | usr2);
    }

    #[test]
    fn unblockable_and_reserved_never_blocked() {
        let mut c = Counts::new(!0);
        c.reserved = bit(libc::SIGUSR2);
        assert_eq!(c.all_blocked() & (UNBLOCKABLE | bit(libc::SIGUSR2)), 0);
    }
}
