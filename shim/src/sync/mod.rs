//! Greenlet-aware synchronisation: every primitive keeps glibc's object size and initialisers
//! but its own layout on the hub thread, and parks only the waiting greenlet.

pub mod barrier;
pub mod cond;
pub mod futex;
pub mod mutex;
pub mod once;
pub mod pshared;
pub mod rwlock;
pub mod sem;
pub mod spin;
