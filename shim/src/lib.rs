//! `libgreenshim.so`: the preload library.
//!
//! Loaded with `LD_PRELOAD` (or by the `greenshim` launcher), its exports take the place of
//! libc's for the whole process. The constructor turns the main thread into a hub (see the
//! `greenshim` crate); `pthread_create` then starts greenlets instead of OS threads and the
//! blocking calls park only the calling greenlet.
//!
//! Every export follows the same ground rules (see `entry`):
//! * the real function is resolved lazily with `dlsym(RTLD_NEXT)`, so an export works even when
//!   called before our constructor ran;
//! * on an OS thread without a hub, before init, or re-entered from inside the shim, the call
//!   goes straight to the real function: native behaviour;
//! * nothing panics across the FFI boundary (a panic aborts with a `greenshim:` line).
//!
//! The parts, one folder each, one hook family per file:
//! * [`hook`]: the machinery every export shares — the one boundary ([`hook::entry`], with the
//!   `hook!` macro of [`diag::trace`]), the real functions behind our exports, `dlsym`,
//!   start-up, and the `vfork` guard;
//! * [`fd`]: cooperative descriptor I/O — what the shim knows of each fd, the attempt-then-park
//!   loop, the read/write and socket families, descriptor lifecycle, poll/select/epoll, and the
//!   shim's own descriptors;
//! * [`sync`]: greenlet-aware mutexes, condition variables, read-write locks, semaphores,
//!   barriers, spinlocks and `pthread_once`;
//! * [`thread`]: thread lifecycle and identity, cancellation, thread keys, the sleep family;
//! * [`diag`]: trace and summary, the deadlock report and greenlet dump, and their wiring.
//! * [`api`]: the hub table a program using the `greenshim` crate drives the shim's hub with.

#[macro_use]
extern crate gs;

// Order matters: `real!` (hook) and `traced!`/`hook!` (diag) are used by the modules after them.
#[macro_use]
mod hook;
mod multi;
#[macro_use]
mod diag;
mod fd;
mod sync;
mod thread;
mod api;
