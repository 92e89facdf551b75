//! Multi-hub mode (issue 13, `GREENSHIM_HUBS=N`), built on the hub library (`greenshim`):
//! several hubs on several OS threads, each with its own run queue, timers, reactor and
//! per-greenlet TLS, reaching each other through remote queues.
//!
//! * [`multihub`]: the process-wide flag (set once), the registry of hubs, placement of new
//!   greenlets, extra hub OS threads;
//! * [`remote`]: a hub's remote queue (wake a greenlet by park token, run a closure) and the
//!   pump greenlet that carries it out;
//! * [`stripe`]: striped spinlocks keyed by address, for synchronisation objects shared by hubs;
//! * [`xwaitq`]: wait queues whose waiters may sit on any hub.
//!
//! Nothing here runs with one hub. The preload library's own multi-hub mode
//! (`shim/src/multi.rs`) serialises greenshim's and the program's code under one lock and runs
//! only system calls in parallel; this crate is the lock-free alternative (remote queues,
//! striped locks, cross-hub wait queues) on which a later version may let program code run on
//! several cores at once (README, "More than one hub").

pub mod multihub;
pub mod remote;
pub mod stripe;
pub mod xwaitq;
