//! Striped spinlocks keyed by address: the lock of a synchronisation object's state and wait
//! queue in multi-hub mode ([`crate::multihub`]), where greenlets of several OS threads touch
//! the same object. Never used with one hub.
//!
//! A table of 256 cache-line-padded locks; an object's lock is chosen by a hash of its address,
//! so objects need no room for a lock of their own (the program's `pthread_mutex_t` keeps its
//! glibc layout) and unrelated objects rarely share one. Critical sections are a few loads and
//! stores and a queue link: a holder never parks and never takes a second stripe, so spinning
//! is short and deadlock-free; a spinner that waits long (its holder's OS thread was preempted)
//! gives its CPU up with `sched_yield`.

use std::sync::atomic::{AtomicBool, Ordering};

const STRIPES: usize = 256;

#[repr(align(64))]
struct Stripe(AtomicBool);

static TABLE: [Stripe; STRIPES] = [const { Stripe(AtomicBool::new(false)) }; STRIPES];

/// The held lock of one address's stripe; released on drop.
pub struct Guard {
    stripe: &'static AtomicBool,
    addr: usize,
}

impl Guard {
    /// The address this guard was taken for (to take it again after a park).
    pub fn addr(&self) -> usize {
        self.addr
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stripe.store(false, Ordering::Release);
    }
}

fn index(addr: usize) -> usize {
    // Fibonacci hashing of the address without its alignment bits.
    ((addr >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - 8)) & (STRIPES - 1)
}

/// Take the stripe lock of `addr`.
pub fn lock(addr: usize) -> Guard {
    let stripe = &TABLE[index(addr)].0;
    let mut spins = 0u32;
    while stripe
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        spins += 1;
        if spins.is_multiple_of(128) {
            // SAFETY: a plain system call (raw: libc's may be interposed).
            unsafe { gs::sys::raw_syscall(libc::SYS_sched_yield, [0; 6]) };
        } else {
            std::hint::spin_loop();
        }
    }
    Guard { stripe, addr }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_exclusive() {
        let used: std::collections::HashSet<usize> = (0..4096usize).map(|i| index(0x7f00_0000_0000 + i * 40)).collect();
        assert!(used.len() > 200, "neighbouring objects use most stripes: {}", used.len());
        let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ts: Vec<_> = (0..4)
            .map(|_| {
                let n = n.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        let _g = lock(0x1000);
                        // A non-atomic read-modify-write made of two atomics: torn without the lock.
                        let v = n.load(Ordering::Relaxed);
                        n.store(v + 1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(n.load(Ordering::Relaxed), 80_000);
    }
}
