//! How an export decides between the hub and the real function.
//!
//! [`hub`] answers `Some(hub)` only when the call comes from a greenlet's own code on a hub
//! thread: not on another OS thread, not before our constructor installed the hub, and not from
//! inside the shim itself (a greenlet whose `hook_depth` is raised). Rust's std inside this
//! library resolves `write`, `nanosleep`, ... to our own exports; the depth check turns such
//! nested calls into plain real calls instead of recursion. The depth lives in the greenlet, so
//! a greenlet parked inside a hook does not disable the hooks for the one that runs next.

use gs::hub::{current_hub, Hub};

/// The hub to park on, or `None`: behave natively.
#[inline(always)]
pub fn hub() -> Option<*mut Hub> {
    let h = current_hub();
    if h.is_null() {
        return None;
    }
    // SAFETY: a non-null hub pointer is this thread's hub, and its current greenlet is live.
    if unsafe { (*(*h).current()).hook_depth } != 0 {
        return None;
    }
    Some(h)
}
