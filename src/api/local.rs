//! `Local<T>`: per-greenlet storage (gevent's `gevent.local.local`).
//!
//! Each greenlet sees only the value it set itself. In gevent, reading an attribute another
//! greenlet set raises `AttributeError`; here the value is simply *absent* in the other
//! greenlet: [`Local::get`] returns `None` and [`Local::with`] passes `None`. Values live in the
//! hub's per-greenlet API state (not in `thread_local!`, which under the shim is per greenlet but
//! without the shim is shared by every greenlet of the thread); a greenlet's values are dropped
//! when it ends (greenlets spawned by this API) or when the `Local` is dropped.

use std::any::Any;
use std::marker::PhantomData;

use super::rt::{self, current_id};

/// Per-greenlet storage for a `T`.
///
/// ```
/// use greenshim::api::{spawn, Local};
/// use std::rc::Rc;
/// let l = Rc::new(Local::new());
/// l.set(1);
/// let l2 = l.clone();
/// let other = spawn(move || { let before = l2.get(); l2.set(2); (before, l2.get()) });
/// assert_eq!(other.get(), Ok((None, Some(2)))); // main's 1 is absent there
/// assert_eq!(l.get(), Some(1));                  // and its 2 is absent here
/// ```
pub struct Local<T: 'static> {
    id: u64,
    _p: PhantomData<(T, *const ())>,
}

impl<T: 'static> Default for Local<T> {
    fn default() -> Self {
        Local { id: rt::fresh_id(), _p: PhantomData }
    }
}

impl<T: 'static> Local<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the running greenlet's value (returns the previous one).
    pub fn set(&self, v: T) -> Option<T> {
        let old = rt::with_g(current_id(), |g| g.locals.insert(self.id, Box::new(v) as Box<dyn Any>));
        old.and_then(|b| b.downcast::<T>().ok()).map(|b| *b)
    }

    /// Remove and return the running greenlet's value.
    pub fn take(&self) -> Option<T> {
        let old = rt::with_existing(current_id(), |g| g.locals.remove(&self.id)).flatten();
        old.and_then(|b| b.downcast::<T>().ok()).map(|b| *b)
    }

    /// True if the running greenlet has a value.
    pub fn is_set(&self) -> bool {
        rt::with_existing(current_id(), |g| g.locals.contains_key(&self.id)).unwrap_or(false)
    }

    /// Call `f` with the running greenlet's value (`None`: it set none). `f` may use the API
    /// (the value is taken out of the store meanwhile).
    pub fn with<R>(&self, f: impl FnOnce(Option<&mut T>) -> R) -> R {
        let id = current_id();
        let mut v = self.take();
        let r = f(v.as_mut());
        if let Some(v) = v {
            rt::with_g(id, |g| g.locals.insert(self.id, Box::new(v) as Box<dyn Any>));
        }
        r
    }

    /// A copy of the running greenlet's value.
    pub fn get(&self) -> Option<T>
    where
        T: Clone,
    {
        self.with(|v| v.cloned())
    }
}

impl<T: 'static> Drop for Local<T> {
    fn drop(&mut self) {
        let id = self.id;
        let vals: Vec<Box<dyn Any>> =
            rt::state().greenlets.borrow_mut().values_mut().filter_map(|g| g.locals.remove(&id)).collect();
        drop(vals); // outside the borrow
    }
}
