//! `Group` and `Pool` (gevent's `gevent.pool`): greenlets managed together.
//!
//! A [`Group`] tracks the greenlets spawned through it: join them all (with a timeout), kill
//! them all. A [`Pool`] is a group with a size limit: [`Pool::spawn`] parks the spawner while
//! `size` of its greenlets are running, which is how gevent bounds concurrency (a server
//! accepting through a pool stops accepting while it is full).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::greenlet::{spawn, Greenlet, Joinable};
use super::rt::{deadline_after, wait, On, Parked, WaitList};

#[derive(Default)]
struct Inner {
    members: RefCell<Vec<Rc<dyn Joinable>>>,
    /// Spawners waiting for a free slot (pools).
    slots: WaitList,
    size: Option<usize>,
}

impl Inner {
    fn prune(&self) -> usize {
        let mut m = self.members.borrow_mut();
        m.retain(|g| !g.is_ready());
        m.len()
    }

    /// Unfinished members other than the running greenlet (a member may join or kill its
    /// group, e.g. a server handler stopping the server).
    fn others(&self) -> Vec<Rc<dyn Joinable>> {
        self.prune();
        let me = super::rt::current_id();
        self.members.borrow().iter().filter(|g| g.gid() != me).cloned().collect()
    }
}

/// Wakes one waiting spawner when the greenlet it belongs to ends (however it ends).
struct SlotFree(Rc<Inner>);

impl Drop for SlotFree {
    fn drop(&mut self) {
        self.0.slots.wake_one();
    }
}

/// Spawn `f(item)` for every item with `spawn_one`, then collect the results in order.
fn map_with<I, F, T>(items: I, f: F, spawn_one: impl Fn(Box<dyn FnOnce() -> T>) -> Greenlet<T>) -> Result<Vec<T>, String>
where
    I: IntoIterator,
    I::Item: 'static,
    F: Fn(I::Item) -> T + 'static,
    T: 'static,
{
    let f = Rc::new(f);
    let gs: Vec<Greenlet<T>> = items
        .into_iter()
        .map(|item| {
            let f = f.clone();
            spawn_one(Box::new(move || f(item)))
        })
        .collect();
    gs.into_iter().map(Greenlet::get).collect()
}

/// A set of greenlets (gevent's `Group`). Clones share the set.
///
/// ```
/// use std::time::Duration;
/// use greenshim::api::{sleep, Group};
/// let g = Group::new();
/// for i in 0..3 { g.spawn(move || sleep(Duration::from_millis(i))); }
/// assert_eq!(g.len(), 3);
/// g.join();
/// assert_eq!(g.len(), 0);
/// ```
#[derive(Clone, Default)]
pub struct Group {
    inner: Rc<Inner>,
}

impl Group {
    pub fn new() -> Group {
        Group::default()
    }

    /// Spawn `f` as a member.
    pub fn spawn<F, T>(&self, f: F) -> Greenlet<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let free = SlotFree(self.inner.clone());
        let g = spawn(move || {
            let _free = free;
            f()
        });
        self.add(&g);
        g
    }

    /// Add a greenlet spawned elsewhere.
    pub fn add<T: 'static>(&self, g: &Greenlet<T>) {
        self.inner.members.borrow_mut().push(g.erased());
    }

    /// Members not yet finished.
    pub fn len(&self) -> usize {
        self.inner.prune()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wait until every member (including ones added meanwhile) has finished; a member calling
    /// this waits for the others.
    pub fn join(&self) {
        self.join_until(None);
    }

    /// [`join`](Self::join) for at most `timeout`; true if every member finished.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join_until(Some(deadline_after(timeout)))
    }

    fn join_until(&self, deadline: Option<u64>) -> bool {
        loop {
            let Some(g) = self.inner.others().into_iter().next() else { return true };
            if !g.join_until(deadline) {
                return false;
            }
        }
    }

    /// Run `f` on every item, each in a greenlet of the group, and collect the results in the
    /// items' order (gevent's `Group.map`): the first panic message if one panicked.
    ///
    /// ```
    /// use greenshim::api::Group;
    /// assert_eq!(Group::new().map(1..=4, |x| x * x), Ok(vec![1, 4, 9, 16]));
    /// ```
    pub fn map<I, F, T>(&self, items: I, f: F) -> Result<Vec<T>, String>
    where
        I: IntoIterator,
        I::Item: 'static,
        F: Fn(I::Item) -> T + 'static,
        T: 'static,
    {
        map_with(items, f, |job| self.spawn(job))
    }

    /// Kill every member and wait until they have ended (gevent's `Group.kill`). A member
    /// calling this kills the others, not itself.
    pub fn kill(&self) {
        for g in &self.inner.others() {
            g.request_kill();
        }
        self.join();
    }
}

/// A [`Group`] of at most `size` running greenlets (gevent's `Pool`).
///
/// ```
/// use std::time::Duration;
/// use greenshim::api::{sleep, Pool};
/// let p = Pool::new(2);
/// for _ in 0..4 { p.spawn(|| sleep(Duration::from_millis(5))); } // the 3rd spawn parks
/// assert!(p.len() <= 2);
/// p.join();
/// ```
#[derive(Clone)]
pub struct Pool {
    group: Group,
}

impl Pool {
    /// A pool of `size` slots (at least 1).
    pub fn new(size: usize) -> Pool {
        Pool { group: Group { inner: Rc::new(Inner { size: Some(size.max(1)), ..Inner::default() }) } }
    }

    pub fn size(&self) -> usize {
        self.group.inner.size.unwrap_or(usize::MAX)
    }

    /// Slots free now.
    pub fn free_count(&self) -> usize {
        self.size().saturating_sub(self.len())
    }

    pub fn is_full(&self) -> bool {
        self.free_count() == 0
    }

    /// Wait for a free slot, then spawn `f` in it.
    pub fn spawn<F, T>(&self, f: F) -> Greenlet<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        self.wait_available(None);
        self.group.spawn(f)
    }

    /// Wait at most `timeout` for a free slot; true if there is one.
    pub fn wait_available_timeout(&self, timeout: Duration) -> bool {
        self.wait_available(Some(deadline_after(timeout)))
    }

    fn wait_available(&self, deadline: Option<u64>) -> bool {
        loop {
            if self.group.inner.prune() < self.size() {
                return true;
            }
            if wait(On::List(&self.group.inner.slots), deadline) == Ok(Parked::TimedOut) {
                return self.group.inner.prune() < self.size();
            }
        }
    }

    /// [`Group::map`] with at most `size` items in progress at once (gevent's `Pool.map`).
    ///
    /// ```
    /// use greenshim::api::Pool;
    /// assert_eq!(Pool::new(2).map(vec!["a", "bb", "ccc"], |s| s.len()), Ok(vec![1, 2, 3]));
    /// ```
    pub fn map<I, F, T>(&self, items: I, f: F) -> Result<Vec<T>, String>
    where
        I: IntoIterator,
        I::Item: 'static,
        F: Fn(I::Item) -> T + 'static,
        T: 'static,
    {
        map_with(items, f, |job| self.spawn(job))
    }

    pub fn len(&self) -> usize {
        self.group.len()
    }
    pub fn is_empty(&self) -> bool {
        self.group.is_empty()
    }
    pub fn join(&self) {
        self.group.join()
    }
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.group.join_timeout(timeout)
    }
    pub fn kill(&self) {
        self.group.kill()
    }
    /// The pool as a group.
    pub fn group(&self) -> &Group {
        &self.group
    }
}
