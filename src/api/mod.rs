//! gevent's API for Rust code: the concepts of the gevent tutorial with Rust naming.
//!
//! | gevent | here |
//! |---|---|
//! | `gevent.spawn`, `spawn_later`, `Greenlet`, `joinall`, `killall`, `sleep` | [`spawn`], [`spawn_later`], [`Greenlet`], [`joinall`], [`joinall_timeout`], [`killall`], [`sleep`], [`yield_now`] |
//! | `Timeout`, `with Timeout(t)` | [`Timeout`] (RAII guard), [`Timeout::run`], [`with_timeout`] |
//! | `event.Event`, `event.AsyncResult` | [`Event`], [`AsyncResult`] |
//! | `queue.Queue`, `JoinableQueue`, `Channel`, `Full`, `Empty` | [`Queue`], [`JoinableQueue`], [`Channel`], [`Full`], [`Empty`] |
//! | `lock.Semaphore`, `BoundedSemaphore` | [`Semaphore`], [`BoundedSemaphore`] |
//! | `local.local` | [`Local`] |
//! | `pool.Group`, `pool.Pool` | [`Group`], [`Pool`] |
//! | `server.StreamServer`, cooperative sockets | [`StreamServer`], [`TcpListener`], [`TcpStream`] |
//!
//! Everything is single-threaded, as in gevent: the types are `!Send` and belong to the OS
//! thread whose hub they were used on. Blocking calls park only the calling greenlet. Without
//! the preload library, the first call installs a hub on the calling thread; under it (program
//! started by `greenshim` or with `LD_PRELOAD`), the API runs on the shim's hub, so greenlets of
//! the API and the program's `std::thread`s are greenlets of one scheduler (see [`rt`]).
//!
//! Interruptions: a [`Timeout`] scope that expires, or a kill, *unwinds* the greenlet from the
//! greenshim call it is parked in (or its next one) — gevent raises `Timeout`/`GreenletExit`
//! there. Blocking calls of the program that are not greenshim calls (a libc `read` under the
//! shim) are not interrupted; they are parks of the shim.
//!
//! Without the shim, a main greenlet that waits when nothing can ever wake any greenlet gets a
//! panic "LoopExit: ..." from its blocking call (gevent's `LoopExit`) instead of a hang.

pub mod channel;
pub mod event;
pub mod greenlet;
pub mod local;
pub mod net;
pub mod pool;
pub mod queue;
pub mod rt;
pub mod semaphore;
pub mod timeout;

pub use channel::Channel;
pub use event::{AsyncResult, Event};
pub use greenlet::{current_id, joinall, joinall_timeout, killall, sleep, spawn, spawn_later, yield_now, Greenlet, GreenletExit};
pub use local::Local;
pub use net::{StreamServer, TcpListener, TcpStream};
pub use pool::{Group, Pool};
pub use queue::{Empty, Full, JoinableQueue, Queue};
pub use semaphore::{BoundedSemaphore, OverRelease, Semaphore, SemaphoreGuard};
pub use timeout::{with_timeout, Elapsed, Timeout};
