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
//! Nothing here runs with one hub; the preload library does not use it yet (it refuses
//! `GREENSHIM_HUBS` above 1, see the README, "More than one hub").

pub mod multihub;
pub mod remote;
pub mod stripe;
pub mod xwaitq;
