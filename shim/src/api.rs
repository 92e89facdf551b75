//! The hub operations for the Rust API of a program run under the shim.
//!
//! A Rust program that uses the `greenshim` crate has its own copy of it; under the preload
//! library it must not install a second hub (see `greenshim::api::rt`). It looks this symbol
//! up and then drives the shim's hub through the table: the same functions its own copy would
//! use, compiled into the shim, operating on the shim's hub.

/// The API's C-ABI hub table over the shim's hub.
#[no_mangle]
pub extern "C" fn greenshim_hub_ops_v1() -> *const gs::api::rt::HubOps {
    &gs::api::rt::LOCAL_OPS
}
