//! Threads as greenlets: lifecycle and identity (`lifecycle`), cancellation (`cancel`), exit by
//! unwinding with per-greenlet cleanup handlers (`unwind`),
//! scheduling and the OS thread's properties (`sched`), signals (`signal`), thread keys (`key`),
//! and the sleep family (`sleep`).

pub mod cancel;
pub mod key;
pub mod lifecycle;
pub mod sched;
pub mod signal;
pub mod sleep;
pub mod unwind;
