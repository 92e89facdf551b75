//! Process-shared objects between greenlets: `PTHREAD_PROCESS_SHARED` mutexes, condition
//! variables, read-write locks and barriers, and process-shared or named (`sem_open`) semaphores.
//!
//! # Why these are different
//! Private objects are greenshim's own inside the program's memory (see `sync::mutex`). A
//! process-shared one may be used at the same time by another process, native or under another
//! hub, that runs glibc's code on the same bytes: its layout and protocol must stay glibc's. And
//! glibc waits for such an object in the kernel (a futex wait), which blocks the OS thread and
//! with it the greenlet that would release it: a deadlock.
//!
//! # How
//! Every operation goes through glibc's own non-blocking call (`pthread_mutex_trylock`,
//! `sem_trywait`, `pthread_rwlock_try*lock`) or follows glibc's protocol on glibc's words (the
//! barrier, the condvar's waiter side). Where glibc would sleep in the kernel, the greenlet
//! parks on the hub's cooperative futex table ([`super::futex`]) on the word that changes when
//! the object may have become available; a release by a greenlet of this process makes its real
//! glibc call (which wakes the kernel's waiters: threads of other processes) and then wakes the
//! hub's waiters of that word. A release by another process reaches only the kernel: a shared
//! wait in the hub also looks at the word at growing intervals (1 ms doubling to 64 ms) and
//! retries once it changed. So another process's release is seen after up to 64 ms, and a waiter
//! may find the object taken again by then (no FIFO hand-over across processes, as glibc's own
//! waits have none either).
//!
//! # Ownership between greenlets
//! glibc records the owner of a mutex (`__owner`, and the lock word of robust and PI mutexes) and
//! the write holder of an rwlock (`__cur_writer`) as the kernel thread id, which every greenlet
//! shares. That id must stay the OS thread's (another process, and the kernel for PI and robust
//! futexes, read it), so greenshim keeps it and records on the side, in this process only, which
//! greenlet holds an object whose glibc owner is this thread ([`owner_of`], keyed by address).
//! Where glibc sees "owned by me", the side record decides whether that is the calling greenlet
//! (glibc's answer stands: EDEADLK, recursion) or another one (the object is busy: wait, EBUSY,
//! EPERM on unlock). Limits: the record is per address (the same shared memory mapped twice in
//! one process gives two records); an object locked before the hub existed, or by a glibc-internal
//! path greenshim does not see, has no record and counts as the caller's.

pub mod barrier;
pub mod cond;
pub mod mutex;
pub mod rwlock;
pub mod sem;

use std::cell::UnsafeCell;
use std::collections::HashMap;

use gs::hub::Hub;

/// Greenlet holding each process-shared object whose glibc owner is this OS thread.
struct Owners(UnsafeCell<Option<HashMap<usize, u64>>>);
// SAFETY: only the hub thread touches it, never across a switch (see `owners`).
unsafe impl Sync for Owners {}
static OWNERS: Owners = Owners(UnsafeCell::new(None));

/// The table.
///
/// # Safety
/// On the hub thread, not from a signal handler; the reference is not held across a switch.
unsafe fn owners() -> &'static mut HashMap<usize, u64> {
    (*OWNERS.0.get()).get_or_insert_with(HashMap::new)
}

/// The greenlet recorded as holding the object at `addr`.
pub(crate) unsafe fn owner_of(addr: usize) -> Option<u64> {
    owners().get(&addr).copied()
}

/// Record greenlet `g` as the holder of `addr`.
pub(crate) unsafe fn set_owner(addr: usize, g: u64) {
    owners().insert(addr, g);
}

/// Forget the holder of `addr`.
pub(crate) unsafe fn clear_owner(addr: usize) {
    if let Some(t) = (*OWNERS.0.get()).as_mut() {
        t.remove(&addr);
    }
}

/// Whether glibc's owner field `owner_tid` names this OS thread but the recorded holder is another
/// greenlet than `me`: the object is busy for `me`.
pub(crate) unsafe fn held_by_other(addr: usize, owner_tid: i32, me: u64) -> bool {
    owner_tid != 0 && owner_tid == tid() && owner_of(addr).is_some_and(|g| g != me)
}

/// The OS thread's kernel id, which glibc stores as owner (every greenlet's descriptor has it).
pub(crate) fn tid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { gs::sys::raw_syscall(libc::SYS_gettid, [0; 6]) as i32 }
}

/// Park the calling greenlet until the 32-bit word at `addr` may have left `val`: a wake from
/// this process through the hub's futex table, or a change another process made (polled). `Err`
/// as [`super::futex::wait`] (EAGAIN when it already differs).
pub(crate) unsafe fn wait_word(h: *mut Hub, addr: usize, val: u32, deadline: Option<u64>, what: &'static str, cancel: bool) -> Result<(), i32> {
    super::futex::wait(h, addr, val, super::futex::BITSET_ALL, deadline, false, super::futex::Park { what, cancel })
}

/// Wake every greenlet of this process parked on `addr` (the real glibc call that made the change
/// has already woken the kernel's waiters, i.e. other processes').
pub(crate) unsafe fn wake_word(h: *mut Hub, addr: usize) {
    super::futex::wake_local(h, addr, usize::MAX, super::futex::BITSET_ALL);
}
