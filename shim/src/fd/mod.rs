//! Cooperative descriptor I/O: what the shim knows of each fd (`fdtab`), the
//! attempt-then-park loop every call shares (`coop`), the read/write families (`io`), socket
//! setup (`sock`), descriptor lifecycle (`fdops`), readiness calls (`poll`), file locks that
//! wait (`locks`), io_uring and Linux AIO waits for completions (`uring`, `aio`), and the shim's
//! own descriptors, which must look closed to the program (`ownfd`); file calls made natively
//! but traced (`files`).

pub mod aio;
pub mod coop;
pub mod fdops;
pub mod fdtab;
pub mod files;
pub mod io;
pub mod locks;
pub mod ownfd;
pub mod poll;
pub mod sock;
pub mod uring;
