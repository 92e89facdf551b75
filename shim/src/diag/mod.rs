//! Diagnostics: a strace-style line per call and the `-c` summary (`trace`, which also defines
//! the `traced!` and `hook!` macros every export uses), the deadlock report and greenlet dump
//! (`deadlock`), and their wiring into the hub (`wiring`: the monitor thread, the dump signal);
//! the live view and the dump when the hub is held (`live`: a bare thread reading the state the
//! hub publishes, formatted by `snapshot`).

#[macro_use]
pub mod trace;
pub mod deadlock;
pub mod live;
mod live_serve;
pub mod snapshot;
pub mod wiring;
