//! Prefetch what a woken greenlet touches first when it resumes.
//!
//! # Why
//! With thousands of connections, each greenlet's stack and thread control block are cold by
//! the time it runs again: profiles of the echo benchmark put the largest single user-space cost
//! on the first store to the resumed greenlet's stack (a cache and TLB miss), then on its first
//! TLS access. A wake happens while the hub drains a batch of epoll events, well before the
//! greenlet runs (it is queued behind the others woken by the same batch), so prefetching its
//! lines then overlaps those misses with the other greenlets' work. A prefetch never faults and
//! costs a cycle or two when the line is already cached.

use crate::greenlet::Greenlet;

/// Bytes below and above the saved stack pointer to prefetch: the switch frame below it, the
/// park's and the hook's frames above it.
const BELOW: usize = 256;
const ABOVE: usize = 768;
const LINE: usize = 64;

/// Start loading the lines `g` touches first when it resumes (its stack around the point where
/// it switched out, its TCB's first line).
#[inline]
pub fn resume_lines(g: &Greenlet) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        if g.sp_hint != 0 {
            let mut a = (g.sp_hint - BELOW) & !(LINE - 1);
            while a < g.sp_hint + ABOVE {
                // SAFETY: a prefetch is a hint: it never faults, whatever the address.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(a as *const i8) };
                a += LINE;
            }
        }
        if g.tcb != 0 {
            // SAFETY: as above.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(g.tcb as *const i8) };
        }
    }
}
