//! Threads as greenlets: lifecycle, identity and cancellation (`lifecycle`), thread keys
//! (`key`), and the sleep family (`sleep`).

pub mod key;
pub mod lifecycle;
pub mod sleep;
