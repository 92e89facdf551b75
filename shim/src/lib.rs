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
//! One hook family per module.

#[macro_use]
extern crate gs;

#[macro_use]
mod real;
#[macro_use]
mod trace;
mod barrier;
mod cond;
mod coop;
mod deadlock;
mod diag;
mod dlsym;
mod entry;
mod fdops;
mod fdtab;
mod init;
mod io;
mod key;
mod mutex;
mod once;
mod ownfd;
mod poll;
mod rwlock;
mod sem;
mod sleep;
mod sock;
mod spin;
mod thread;
mod vfork;
