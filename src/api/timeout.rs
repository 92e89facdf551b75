//! `Timeout`: a deadline for the current greenlet (gevent's `gevent.Timeout`).
//!
//! While a [`Timeout`] guard lives, the greenlet that created it has a deadline: when it passes,
//! the greenshim call the greenlet is parked in (sleep, join, an event, queue, semaphore or
//! cooperative socket wait), or its next one if it is running, *unwinds* with the timeout, as
//! gevent raises `Timeout` there. [`Timeout::run`] / [`with_timeout`] is the `with Timeout(t):`
//! block: it catches its own timeout and returns `Err`. Dropping the guard (or `cancel`)
//! cancels the deadline; a cancelled timeout never fires (the hub timer it armed for a park is
//! recognised as stale by the park token and ignored, so nothing outside the API sees it).
//!
//! Nested timeouts: every park waits for the earliest active deadline; the scope whose deadline
//! passed first is the one raised, and only the `run`/`catch` that owns it catches it — an
//! inner block lets an outer timeout through. A timeout fires at most once.
//!
//! Not interrupted: blocking calls that are not greenshim calls (under the shim, a libc `read`
//! of `std::net` is a park of the shim, which API timeouts never wake) and CPU-bound code
//! between parks (the timeout is raised at its next park, as gevent does at its next switch).

use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use super::rt::{self, current_id, deadline_after, Fired, Scope};

/// A deadline for the greenlet that created it, active until dropped.
///
/// ```
/// use std::time::Duration;
/// use greenshim::api::{sleep, Timeout};
/// let r = Timeout::run(Duration::from_millis(20), || sleep(Duration::from_secs(10)));
/// assert!(r.is_err());
/// // the guard form: the deadline covers the rest of the scope
/// let t = Timeout::start(Duration::from_millis(20));
/// assert!(t.catch(|| sleep(Duration::from_secs(10))).is_err());
/// ```
#[must_use = "a Timeout is cancelled when dropped"]
pub struct Timeout {
    id: u64,
    gid: u64,
    after: Duration,
    _not_send: PhantomData<*const ()>,
}

/// The error of a timeout that expired (gevent's `Timeout` exception).
///
/// ```
/// use std::time::Duration;
/// use greenshim::api::{sleep, with_timeout, Elapsed};
/// let e = with_timeout(Duration::from_millis(5), || sleep(Duration::from_secs(5))).unwrap_err();
/// assert_eq!(e, Elapsed { after: Duration::from_millis(5) });
/// assert_eq!(e.to_string(), "timed out after 5ms");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    pub after: Duration,
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:?}", self.after)
    }
}

impl std::error::Error for Elapsed {}

impl Timeout {
    /// Start a deadline `after` from now for the running greenlet.
    pub fn start(after: Duration) -> Timeout {
        let gid = current_id();
        let id = rt::fresh_id();
        let deadline = deadline_after(after);
        rt::with_g(gid, |g| g.scopes.push(Scope { id, deadline, after, fired: false }));
        rt::arm(1);
        Timeout { id, gid, after, _not_send: PhantomData }
    }

    /// Run `f` under a deadline (gevent's `with Timeout(after):`): `Err(Elapsed)` if it expired
    /// while `f` was parked in a greenshim call.
    pub fn run<R>(after: Duration, f: impl FnOnce() -> R) -> Result<R, Elapsed> {
        Timeout::start(after).catch(f)
    }

    /// [`run`](Self::run) with a custom error in place of [`Elapsed`] (gevent's
    /// `Timeout(seconds, exception)`).
    pub fn run_with<R, E>(after: Duration, error: E, f: impl FnOnce() -> R) -> Result<R, E> {
        Timeout::run(after, f).map_err(|_| error)
    }

    /// Run `f`, catching this timeout if it expires inside (other timeouts and panics pass).
    pub fn catch<R>(&self, f: impl FnOnce() -> R) -> Result<R, Elapsed> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => Ok(v),
            Err(p) => match p.downcast_ref::<Fired>() {
                Some(fired) if fired.id == self.id => Err(Elapsed { after: self.after }),
                _ => std::panic::resume_unwind(p),
            },
        }
    }

    /// True until it fired.
    pub fn pending(&self) -> bool {
        rt::with_existing(self.gid, |g| g.scopes.iter().any(|s| s.id == self.id && !s.fired)).unwrap_or(false)
    }

    /// Cancel it (the same as dropping it).
    pub fn cancel(self) {}
}

impl Drop for Timeout {
    fn drop(&mut self) {
        let id = self.id;
        let removed = rt::with_existing(self.gid, |g| {
            let n = g.scopes.len();
            g.scopes.retain(|s| s.id != id);
            n - g.scopes.len()
        });
        rt::arm(-(removed.unwrap_or(0) as isize));
    }
}

/// Run `f` with a deadline: [`Timeout::run`].
///
/// ```
/// use std::time::Duration;
/// use greenshim::api::{with_timeout, Queue};
/// let q: Queue<u8> = Queue::new();
/// assert!(with_timeout(Duration::from_millis(5), || q.get()).is_err());
/// q.put(1);
/// assert_eq!(with_timeout(Duration::from_millis(5), || q.get()), Ok(1));
/// ```
pub fn with_timeout<R>(after: Duration, f: impl FnOnce() -> R) -> Result<R, Elapsed> {
    Timeout::run(after, f)
}
