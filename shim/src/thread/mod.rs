//! Threads as greenlets: lifecycle and identity (`lifecycle`), cancellation (`cancel`), exit by
//! unwinding with per-greenlet cleanup handlers (`unwind`), scheduling and the OS thread's
//! properties (`sched`), signals (`sigact` the actions, `signal` masks, sending and dispatch,
//! `sigwait` waiting for them; `exec` carries a greenlet's mask into exec and spawn), thread keys
//! (`key`), the sleep family (`sleep`), waits for child processes (`wait`) and the libc calls
//! that wait for them internally (`process`: `system`, `pclose`), and C11 threads on top of
//! them (`c11`).

pub mod c11;
pub mod cancel;
pub mod exec;
pub mod key;
pub mod lifecycle;
pub mod process;
pub mod sched;
pub mod sigact;
pub mod signal;
pub mod sigwait;
pub mod sleep;
pub mod unwind;
pub mod wait;
