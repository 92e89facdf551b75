//! The machinery every export shares (and `catch`, for the calls that bypass them): how an export decides between the hub and libc and
//! enters the one boundary (`entry`), the real functions behind our exports (`real`), our
//! `dlsym` (RTLD_NEXT lookups from other libraries), `syscall()` (the futex dispatch), fault-safe reads of the program's pointers (`umem`), start-up (`init`), and `vfork`, whose child
//! must not touch the hub.

#[macro_use]
pub mod real;
pub mod catch;
pub mod dlsym;
pub mod entry;
pub mod init;
pub mod syscall;
pub mod umem;
pub mod vfork;
