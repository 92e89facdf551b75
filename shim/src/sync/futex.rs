//! Cooperative futexes: `syscall(SYS_futex, ...)` from a greenlet parks only that greenlet.
//!
//! Rust's std (`Mutex`, `Condvar`, `RwLock`, `park`, `Once`), C11 threads on recent glibc and many
//! runtimes wait with the futex system call made through libc's `syscall()`, not through a
//! pthread function. A contended wait in the kernel would block the OS thread, and with it the
//! greenlet that holds the lock: a deadlock. Here the hub keeps the waiters instead, as the
//! kernel keeps its hash buckets: a FIFO queue per futex address, each waiter with its bitset.
//!
//! Semantics follow the kernel (`kernel/futex/`): the value is compared atomically with the
//! hub not switching in between; EAGAIN on a mismatch; EINVAL for a misaligned address, a bad
//! timeout or an empty bitset; `FUTEX_WAKE` of 0 wakes one; relative timeouts for `FUTEX_WAIT`,
//! absolute ones on either clock for `FUTEX_WAIT_BITSET`; a signal handler ends a wait without a
//! timeout with EINTR unless it has SA_RESTART (then the wait starts over), and a wait with a
//! timeout always with EINTR; `FUTEX_REQUEUE`/`FUTEX_CMP_REQUEUE` move waiters, keeping their
//! park; `FUTEX_WAKE_OP` modifies the second word atomically and wakes on both.
//!
//! What reaches the kernel instead:
//! * wakes also go to the kernel for whatever count the hub's waiters did not take, so a thread
//!   that is not a greenlet (another OS thread, another process sharing the word) is woken too;
//! * a shared (non-`FUTEX_PRIVATE_FLAG`) wait may be woken by another process, which only the
//!   kernel sees: it parks in the hub like a private one but also looks at the word at growing
//!   intervals (1 ms up to 64 ms) and returns 0 once it changed (a wakeup a futex caller must
//!   always accept as possibly spurious);
//! * PI futexes (`FUTEX_LOCK_PI` and friends), `FUTEX_WAIT_REQUEUE_PI` and calls made inside the
//!   shim or from threads that are not greenlets go to the kernel unchanged.
//!
//! Wait queues live in a table keyed by address (boxed, so a queue stays put while its waiters
//! are parked), an entry removed as soon as its queue empties. Waiters are nodes on the parked
//! greenlet's own stack, as for every other primitive ([`gs::waitq`]).

use std::collections::HashMap;
use std::ffi::c_long;
use std::sync::atomic::{AtomicU32, Ordering};

use gs::hub::{self, Hub, Wake, WaitOn};
use gs::sys;
use gs::waitq::{self, Node, Queue};

use crate::hook::umem;

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_REQUEUE: i32 = 3;
const FUTEX_CMP_REQUEUE: i32 = 4;
const FUTEX_WAKE_OP: i32 = 5;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
const FUTEX_PRIVATE_FLAG: i32 = 128;
const FUTEX_CLOCK_REALTIME: i32 = 256;
const FUTEX_CMD_MASK: i32 = !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
pub(crate) const BITSET_ALL: u32 = u32::MAX;
/// Marks a shared waiter in `Node::data`: the kernel keys private and shared futexes apart, so
/// a private wake never wakes a shared waiter of the same address, nor the reverse.
const SHARED_KEY: usize = 1 << 32;
/// Polling interval bounds of a shared wait (see the module docs).
const SHARED_POLL_MIN_NS: u64 = 1_000_000;
const SHARED_POLL_MAX_NS: u64 = 64_000_000;

/// A parked waiter: its queue node (`data` = bitset, plus [`SHARED_KEY`] for a shared wait) and
/// the address it waits on now (a requeue changes it). `repr(C)` with the node first: a `*mut Node` of the queue is a `*mut Waiter`.
#[repr(C)]
struct Waiter {
    node: Node,
    addr: usize,
}

/// The hub's wait queues. Touched only on the hub thread, by code that never switches while it
/// holds a reference into it.
struct Table(std::cell::UnsafeCell<Option<HashMap<usize, Box<Queue>>>>);
// SAFETY: only the hub thread uses the table (see `Table`).
unsafe impl Sync for Table {}
static TABLE: Table = Table(std::cell::UnsafeCell::new(None));

/// The table.
///
/// # Safety
/// On the hub thread; the reference is not held across a switch.
unsafe fn table() -> &'static mut HashMap<usize, Box<Queue>> {
    (*TABLE.0.get()).get_or_insert_with(HashMap::new)
}

/// The queue of `addr`, created if absent.
unsafe fn queue(addr: usize) -> *mut Queue {
    &mut **table().entry(addr).or_insert_with(|| Box::new(std::ptr::null_mut())) as *mut Queue
}

/// The queue of `addr`, if it has one.
unsafe fn existing(addr: usize) -> Option<*mut Queue> {
    table().get_mut(&addr).map(|b| &mut **b as *mut Queue)
}

/// Whether greenlets wait on `addr`.
pub(crate) unsafe fn has_waiters(addr: usize) -> bool {
    existing(addr).is_some_and(|q| !(*q).is_null())
}

/// Drop `addr`'s entry if its queue is empty.
unsafe fn forget_if_empty(addr: usize) {
    if let Some(q) = existing(addr) {
        if (*q).is_null() {
            table().remove(&addr);
        }
    }
}

/// The raw system call with libc's convention (count, or -1 and errno).
#[inline]
pub unsafe fn passthrough(a: [usize; 6]) -> c_long {
    crate::fd::coop::ret(sys::raw_result(libc::SYS_futex, a)) as c_long
}

/// `syscall(SYS_futex, uaddr, op, val, timeout_or_val2, uaddr2, val3)`.
///
/// # Safety
/// The arguments are those the program passed to `syscall`.
pub unsafe fn futex(a: [usize; 6]) -> c_long {
    let op = a[1] as i32;
    let cmd = op & FUTEX_CMD_MASK;
    let handled = matches!(cmd, FUTEX_WAIT | FUTEX_WAKE | FUTEX_REQUEUE | FUTEX_CMP_REQUEUE | FUTEX_WAKE_OP | FUTEX_WAIT_BITSET | FUTEX_WAKE_BITSET);
    let Some(h) = (if handled { crate::hook::entry::hub() } else { None }) else { return passthrough(a) };
    hook!(h, futex, crate::hook::entry::nonneg, futex_impl(h, a), |r, e| [
        Arg::Hex(a[0] as u64), Arg::Sym(cmd as i64, OPS), Arg::Int(a[2] as i32 as i64)
    ], Ret::Int(r as i64, e))
}

/// Names of the operations, for traces.
const OPS: &[(i64, &str)] = &[
    (FUTEX_WAIT as i64, "FUTEX_WAIT"),
    (FUTEX_WAKE as i64, "FUTEX_WAKE"),
    (FUTEX_REQUEUE as i64, "FUTEX_REQUEUE"),
    (FUTEX_CMP_REQUEUE as i64, "FUTEX_CMP_REQUEUE"),
    (FUTEX_WAKE_OP as i64, "FUTEX_WAKE_OP"),
    (FUTEX_WAIT_BITSET as i64, "FUTEX_WAIT_BITSET"),
    (FUTEX_WAKE_BITSET as i64, "FUTEX_WAKE_BITSET"),
];

unsafe fn futex_impl(h: *mut Hub, a: [usize; 6]) -> c_long {
    match run(h, a) {
        Ok(n) => n as c_long,
        Err(e) => {
            sys::set_errno(e);
            -1
        }
    }
}

unsafe fn run(h: *mut Hub, a: [usize; 6]) -> Result<usize, i32> {
    let [uaddr, op, val, timeout, uaddr2, val3] = a;
    let op = op as i32;
    let cmd = op & FUTEX_CMD_MASK;
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    if uaddr % 4 != 0 {
        return Err(libc::EINVAL);
    }
    if op & FUTEX_CLOCK_REALTIME != 0 && !matches!(cmd, FUTEX_WAIT | FUTEX_WAIT_BITSET) {
        return Err(libc::ENOSYS);
    }
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT { BITSET_ALL } else { val3 as u32 };
            if bitset == 0 {
                return Err(libc::EINVAL);
            }
            // The program's timeout and word, read fault-safely in the kernel's order (EFAULT for
            // either, EINVAL for a bad time in between); the word stays mapped while we wait.
            let ts = match timeout {
                0 => None,
                t => Some(umem::read(t as *const libc::timespec)?),
            };
            let deadline = match ts.as_ref() {
                None => None,
                Some(ts) => {
                    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
                        return Err(libc::EINVAL);
                    }
                    if cmd == FUTEX_WAIT {
                        Some(sys::now().saturating_add(sys::timespec_ns(ts).unwrap_or(0).min(u64::MAX as i128) as u64))
                    } else {
                        let clock = if op & FUTEX_CLOCK_REALTIME != 0 { libc::CLOCK_REALTIME } else { libc::CLOCK_MONOTONIC };
                        Some(crate::thread::lifecycle::deadline_from_abs(clock, ts).map_err(|_| libc::EINVAL)?)
                    }
                }
            };
            umem::read(uaddr as *const u32)?;
            wait(h, uaddr, val as u32, bitset, deadline, private, Park::FUTEX).map(|()| 0)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE { BITSET_ALL } else { val3 as u32 };
            if bitset == 0 {
                return Err(libc::EINVAL);
            }
            Ok(wake(h, uaddr, val as i32, bitset, op))
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            let (nwake, nreq) = (val as i32, timeout as i32);
            if nwake < 0 || nreq < 0 {
                return Err(libc::EINVAL);
            }
            if uaddr2 % 4 != 0 {
                return Err(libc::EINVAL);
            }
            if cmd == FUTEX_CMP_REQUEUE && umem::read(uaddr as *const u32)? != val3 as u32 {
                return Err(libc::EAGAIN);
            }
            let (woken, moved) = requeue(h, uaddr, uaddr2, nwake, nreq, op);
            Ok(if cmd == FUTEX_CMP_REQUEUE { woken + moved } else { woken })
        }
        FUTEX_WAKE_OP => {
            if uaddr2 % 4 != 0 {
                return Err(libc::EINVAL);
            }
            // The word the operation changes: natively EFAULT if it is not there (read-only
            // memory, which only a write would find, is not checked).
            umem::read(uaddr2 as *const u32)?;
            wake_op(h, uaddr, uaddr2, val as i32, timeout as i32, val3 as u32, op)
        }
        _ => unreachable!("futex() sends only handled commands here"),
    }
}

#[inline]
unsafe fn word<'a>(addr: usize) -> &'a AtomicU32 {
    &*(addr as *const AtomicU32)
}

/// How a wait shows in reports and reacts to `pthread_cancel`.
#[derive(Clone, Copy)]
pub(crate) struct Park {
    /// Name in deadlock reports and `--dump-signal` lists.
    pub what: &'static str,
    /// A cancellation point: an interrupted park with a cancellation pending returns
    /// `Err(ECANCELED)` (the caller cleans up, then acts on it).
    pub cancel: bool,
}

impl Park {
    /// The futex system call itself: glibc's `syscall()` is not a cancellation point.
    pub const FUTEX: Park = Park { what: "futex", cancel: false };
}

/// Park until woken through `addr`'s queue (bitset `bitset`), `deadline`, or a signal. A shared
/// (`!private`) wait also returns `Ok` once another process changed the word (polled).
/// `Err`: EAGAIN (the word is not `val`), ETIMEDOUT, EINTR (a signal handler ran and the wait is
/// not restarted: it has a deadline or the handler lacks SA_RESTART), ECANCELED (see [`Park`]).
pub(crate) unsafe fn wait(h: *mut Hub, addr: usize, val: u32, bitset: u32, deadline: Option<u64>, private: bool, park: Park) -> Result<(), i32> {
    let mut poll_ns = SHARED_POLL_MIN_NS;
    // With several hubs a private wait is polled too: glibc's own handlers on another hub's
    // thread (the SIGSETXID that `setuid` sends to every thread, whose acknowledgement wakes
    // the caller's futex) may wake it with a real FUTEX_WAKE that only the kernel sees.
    let polled = !private || crate::multi::on();
    let mut addr = addr;
    // Set once a requeue moved the wait to another word: it goes on there, as in the kernel,
    // with no value to compare (`val` was the first word's).
    let mut moved = false;
    loop {
        if !moved && word(addr).load(Ordering::SeqCst) != val {
            return Err(libc::EAGAIN);
        }
        let key = if private { 0 } else { SHARED_KEY };
        let mut w = Waiter { node: Node::new(bitset as usize | key), addr };
        let (id, token) = (*h).prepare_park();
        w.node.id = id;
        w.node.token = token;
        waitq::push_back(queue(addr), &mut w.node);
        // A shared wait also wakes up now and then to look for another process's change.
        let park_deadline = match !polled {
            true => deadline,
            false => Some(deadline.unwrap_or(u64::MAX).min(sys::now().saturating_add(poll_ns))),
        };
        let why = hub::park_prepared(h, WaitOn::Object(park.what, addr), park_deadline, true);
        if w.node.is_linked() {
            let q = existing(w.addr).expect("a linked waiter's queue exists");
            waitq::remove(q, &mut w.node);
        }
        forget_if_empty(w.addr);
        if w.node.woken {
            return Ok(());
        }
        match why {
            Wake::TimedOut if polled && deadline.is_none_or(|d| sys::now() < d) => {
                if w.addr != addr {
                    // Requeued meanwhile (FUTEX_CMP_REQUEUE): wait on the new word.
                    addr = w.addr;
                    moved = true;
                } else if !moved && word(addr).load(Ordering::SeqCst) != val {
                    return Ok(()); // changed by someone the hub cannot see: a wakeup
                }
                poll_ns = (poll_ns * 2).min(SHARED_POLL_MAX_NS);
            }
            Wake::TimedOut => return Err(libc::ETIMEDOUT),
            Wake::Interrupted => {
                if park.cancel && crate::sync::cond::cancel_pending(h) {
                    return Err(libc::ECANCELED);
                }
                // Not a cancellation point (glibc's syscall() is not one). No timeout: restarted after SA_RESTART handlers (ERESTARTSYS); with one, EINTR
                // (the kernel's restart block is not taken when a handler ran).
                if deadline.is_some() || !crate::thread::signal::restart_after_signal(h) {
                    return Err(libc::EINTR);
                }
                crate::thread::signal::deliver_now(h);
            }
            Wake::Woken | Wake::Closed | Wake::Signal => return Ok(()),
        }
    }
}

/// Wake up to `n` (at least one, as the kernel does for 0) waiters of `addr` whose bitset meets
/// `bitset` and whose key (private or shared) is `op`'s; what the hub's waiters did not take goes
/// to the kernel.
pub(crate) unsafe fn wake(h: *mut Hub, addr: usize, n: i32, bitset: u32, op: i32) -> usize {
    let want = n.max(1) as usize;
    let mut woken = wake_keyed(h, addr, want, bitset, key_of(op));
    if woken < want {
        woken += kernel_wake(addr, (want - woken) as i32, bitset, op);
    }
    woken
}

/// Wake up to `want` of the hub's own shared-key waiters of `addr` (the process-shared objects'
/// waits), not the kernel's: for callers whose real glibc call already woke the kernel's.
pub(crate) unsafe fn wake_local(h: *mut Hub, addr: usize, want: usize, bitset: u32) -> usize {
    wake_keyed(h, addr, want, bitset, SHARED_KEY)
}

unsafe fn wake_keyed(h: *mut Hub, addr: usize, want: usize, bitset: u32, key: usize) -> usize {
    let mut woken = 0;
    if let Some(q) = existing(addr) {
        let mut node = waitq::first(q);
        while !node.is_null() && woken < want {
            let next = waitq::next(q, node);
            if (*node).data & SHARED_KEY == key && (*node).data as u32 & bitset != 0 && waitq::wake_node(h, q, node) {
                woken += 1;
            }
            node = next;
        }
        forget_if_empty(addr);
    }
    if woken > 0 {
        crate::diag::deadlock::progress();
    }
    woken
}

/// [`SHARED_KEY`] if `op` is a shared operation, else 0.
fn key_of(op: i32) -> usize {
    if op & FUTEX_PRIVATE_FLAG != 0 {
        0
    } else {
        SHARED_KEY
    }
}

/// Wake waiters outside the hub (other OS threads, other processes).
unsafe fn kernel_wake(addr: usize, n: i32, bitset: u32, op: i32) -> usize {
    let cmd = FUTEX_WAKE_BITSET | (op & FUTEX_PRIVATE_FLAG);
    sys::raw_syscall(libc::SYS_futex, [addr, cmd as usize, n as usize, 0, 0, bitset as usize]).max(0) as usize
}

/// Wake up to `nwake` waiters of `from`, then move up to `nreq` of the rest to `to`.
unsafe fn requeue(h: *mut Hub, from: usize, to: usize, nwake: i32, nreq: i32, op: i32) -> (usize, usize) {
    let mut woken = 0;
    let mut moved = 0;
    let key = key_of(op);
    if let Some(q) = existing(from) {
        let want = nwake.max(1) as usize;
        let mut node = waitq::first(q);
        while !node.is_null() {
            let next = waitq::next(q, node);
            if (*node).data & SHARED_KEY != key {
                node = next;
                continue;
            }
            if woken < want {
                if waitq::wake_node(h, q, node) {
                    woken += 1;
                }
            } else if from != to && moved < nreq as usize {
                waitq::remove(q, node);
                (*(node as *mut Waiter)).addr = to;
                waitq::push_back(queue(to), node);
                moved += 1;
            } else {
                break;
            }
            node = next;
        }
        forget_if_empty(from);
    }
    if woken > 0 {
        crate::diag::deadlock::progress();
    }
    if woken < nwake.max(1) as usize {
        // Threads outside the hub: the kernel's own requeue for what is left.
        let rest = nwake.max(1) as usize - woken;
        let cmd = FUTEX_REQUEUE | (op & FUTEX_PRIVATE_FLAG);
        let r = sys::raw_syscall(libc::SYS_futex, [from, cmd as usize, rest, (nreq as usize).saturating_sub(moved), to, 0]);
        woken += r.max(0) as usize;
    }
    (woken, moved)
}

/// `FUTEX_WAKE_OP`: `old = *uaddr2; *uaddr2 = old OP oparg` atomically, wake up to `nwake` on
/// `uaddr`, and if `old CMP cmparg`, up to `nwake2` on `uaddr2`.
unsafe fn wake_op(h: *mut Hub, uaddr: usize, uaddr2: usize, nwake: i32, nwake2: i32, enc: u32, op: i32) -> Result<usize, i32> {
    let mut oparg = sign_extend_12((enc >> 12) & 0xfff);
    let cmparg = sign_extend_12(enc & 0xfff);
    let kind = (enc >> 28) & 7;
    if (enc >> 28) & 8 != 0 {
        // FUTEX_OP_OPARG_SHIFT
        if !(0..=31).contains(&oparg) {
            oparg &= 31;
        }
        oparg = 1 << oparg;
    }
    let w = word(uaddr2);
    let old = match kind {
        0 => w.swap(oparg as u32, Ordering::SeqCst),
        1 => w.fetch_add(oparg as u32, Ordering::SeqCst),
        2 => w.fetch_or(oparg as u32, Ordering::SeqCst),
        3 => w.fetch_and(!(oparg as u32), Ordering::SeqCst),
        4 => w.fetch_xor(oparg as u32, Ordering::SeqCst),
        _ => return Err(libc::ENOSYS),
    } as i32;
    let cond = match (enc >> 24) & 15 {
        0 => old == cmparg,
        1 => old != cmparg,
        2 => old < cmparg,
        3 => old <= cmparg,
        4 => old > cmparg,
        5 => old >= cmparg,
        _ => return Err(libc::ENOSYS),
    };
    let mut woken = wake(h, uaddr, nwake, BITSET_ALL, op);
    if cond {
        woken += wake(h, uaddr2, nwake2, BITSET_ALL, op);
    }
    Ok(woken)
}

fn sign_extend_12(v: u32) -> i32 {
    ((v << 20) as i32) >> 20
}
