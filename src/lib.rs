//! greenshim: gevent for native binaries.
//!
//! This crate is the *hub*: greenlets (stackful corosensei coroutines on pooled stacks), a run
//! queue, timers and an epoll reactor, all on one OS thread. The preload library (`shim/`)
//! builds on it to turn a program's threads into greenlets and its blocking libc calls into
//! parks on the hub; the [`api`] module offers the same machinery to Rust code in gevent's terms
//! (`spawn`, `join`, `sleep`, a `Greenlet` handle).

#[macro_use]
pub mod sys;
pub mod api;
pub mod calls;
pub mod diag;
pub mod greenlet;
pub mod hub;
pub mod overflow;
pub mod reactor;
pub mod settings;
pub mod sigmask;
pub mod slab;
pub mod stack;
pub mod timer;
pub mod tls;
pub mod waitq;

pub use api::{joinall, sleep, spawn, yield_now, Greenlet};
