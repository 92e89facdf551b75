//! Synchronisation across hubs with the multi-hub building blocks of the hub library (issue 13):
//! a mutex, a condition-variable ping-pong and a bounded buffer built on the striped locks
//! (`greenshim::stripe`) and cross-hub wait queues (`greenshim::xwaitq`), their greenlets
//! spread over two hub OS threads. A lost wakeup leaves a greenlet parked for ever, which the
//! main thread's bounded wait turns into a failure.
//!
//! ```sh
//! cargo test --release -p greenshim-hubs --test hub_multi_sync -- --nocapture   # shows the figures
//! ```

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use gs::greenlet::{WaitOn, Wake};
use gs::hub::{self, SpawnOpts};
use gs_hubs::multihub;
use gs_hubs::remote::{self, Remote};
use gs_hubs::stripe;
use gs_hubs::xwaitq::{self, XQueue};

fn extra_hubs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        multihub::set_hubs(2);
        for _ in 0..2 {
            multihub::start_hub_thread(256 * 1024, gs::stack::GuardMode::Page, |_| {}).expect("extra hub");
        }
    });
}

/// Run `n` greenlets made by `make(i)`, greenlet `i` on extra hub `i % 2`, and wait (bounded)
/// until all ended; on a fresh OS thread whose own hub only waits.
fn run_spread(n: usize, make: impl Fn(usize) -> Box<dyn FnOnce() + Send> + Send + 'static) -> f64 {
    extra_hubs();
    let t = std::thread::spawn(move || {
        let h = hub::get_or_install();
        // SAFETY: h is this thread's hub.
        let ra: &'static Remote = unsafe { remote::start_pump(h) }.unwrap();
        let left = Arc::new(AtomicUsize::new(n));
        let t0 = Instant::now();
        // SAFETY: h is this thread's hub; the token is armed before any greenlet can end.
        unsafe {
            let (id, tok) = (*h).prepare_park();
            for i in 0..n {
                let (f, left) = (make(i), left.clone());
                multihub::spawn_on(
                    multihub::hub(i % 2).unwrap(),
                    Box::new(move || {
                        f();
                        if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                            ra.wake(id, tok);
                        }
                        0
                    }),
                    SpawnOpts { detached: true, ..Default::default() },
                    |r| assert!(r.is_ok(), "spawn: {r:?}"),
                );
            }
            let why = hub::park_prepared(h, WaitOn::Nothing, Some(gs::sys::now() + 30_000_000_000), false);
            assert_eq!(why, Wake::Woken, "{} of {n} greenlets never ended: a lost wakeup", left.load(Ordering::Acquire));
        }
        t0.elapsed().as_secs_f64()
    });
    match t.join() {
        Ok(r) => r,
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// A mutex whose waiters may be on any hub (no hand-over: a woken waiter checks again).
struct XMutex {
    locked: UnsafeCell<bool>,
    q: UnsafeCell<XQueue>,
}

// SAFETY: every field is touched only under the stripe lock of the object's address.
unsafe impl Sync for XMutex {}

impl XMutex {
    const fn new() -> XMutex {
        XMutex { locked: UnsafeCell::new(false), q: UnsafeCell::new(XQueue::new()) }
    }
    fn addr(&self) -> usize {
        self as *const _ as usize
    }
    fn lock(&self) {
        let h = hub::current_hub();
        let mut g = stripe::lock(self.addr());
        // SAFETY: fields under the stripe lock; h is this greenlet's hub.
        unsafe {
            while *self.locked.get() {
                g = xwaitq::wait(h, self.q.get(), g, 0, WaitOn::Object("mutex", self.addr()), None, false).1;
            }
            *self.locked.get() = true;
        }
        drop(g);
    }
    fn unlock(&self) {
        let _g = stripe::lock(self.addr());
        // SAFETY: fields under the stripe lock.
        unsafe {
            *self.locked.get() = false;
            (*self.q.get()).wake_one();
        }
    }
}

/// 100 greenlets on two hubs add 1,000 times each to a plain counter under an [`XMutex`],
/// yielding inside the critical section now and then so that waiters pile up on both hubs.
#[test]
fn mutex_counter_across_hubs() {
    static M: XMutex = XMutex::new();
    struct Counter(UnsafeCell<u64>);
    // SAFETY: only touched with M held.
    unsafe impl Sync for Counter {}
    static COUNT: Counter = Counter(UnsafeCell::new(0));
    let secs = run_spread(100, |_| {
        Box::new(|| {
            for k in 0..1000 {
                M.lock();
                // SAFETY: M is held.
                unsafe {
                    let v = *COUNT.0.get();
                    if k % 10 == 0 {
                        gs::api::yield_now();
                    }
                    *COUNT.0.get() = v + 1;
                }
                M.unlock();
            }
        })
    });
    M.lock();
    // SAFETY: M is held.
    assert_eq!(unsafe { *COUNT.0.get() }, 100_000);
    M.unlock();
    println!("mutex across 2 hubs: 100,000 lock/unlock in {:.0} ms", secs * 1e3);
}

/// State of a ping-pong or a bounded buffer: a lock word and two queues, all under the stripe
/// lock of the object's address (a condition variable's wait: release the mutex and queue in
/// one step, which the stripe lock gives for free here).
struct Shared {
    turn: UnsafeCell<u64>,
    items: UnsafeCell<Vec<u64>>,
    a: UnsafeCell<XQueue>,
    b: UnsafeCell<XQueue>,
}

// SAFETY: every field is touched only under the stripe lock of the object's address.
unsafe impl Sync for Shared {}
// SAFETY: as above.
unsafe impl Send for Shared {}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            turn: UnsafeCell::new(0),
            items: UnsafeCell::new(Vec::new()),
            a: UnsafeCell::new(XQueue::new()),
            b: UnsafeCell::new(XQueue::new()),
        })
    }
    fn addr(&self) -> usize {
        self as *const _ as usize
    }
}

/// Two greenlets on two hubs take turns 20,000 times, each waking the other (one wake per
/// turn, as with `pthread_cond_signal`).
#[test]
fn condvar_ping_pong_across_hubs() {
    let s = Shared::new();
    const TURNS: u64 = 20_000;
    let secs = run_spread(2, move |i| {
        let s = s.clone();
        Box::new(move || {
            let h = hub::current_hub();
            let me = i as u64;
            let (mine, other) = if me == 0 { (s.a.get(), s.b.get()) } else { (s.b.get(), s.a.get()) };
            let mut g = stripe::lock(s.addr());
            // SAFETY: fields under the stripe lock; h is this greenlet's hub.
            unsafe {
                loop {
                    while *s.turn.get() < TURNS && *s.turn.get() % 2 != me {
                        g = xwaitq::wait(h, mine, g, 0, WaitOn::Object("cond", s.addr()), None, false).1;
                    }
                    if *s.turn.get() >= TURNS {
                        (*other).wake_all();
                        break;
                    }
                    *s.turn.get() += 1;
                    (*other).wake_one();
                }
            }
            drop(g);
        })
    });
    println!("cond ping-pong across 2 hubs: {:.1} us per hand-over", secs * 1e6 / TURNS as f64);
}

/// 10 producers and 10 consumers, half of each on either hub: a bounded buffer of 16 items with
/// "not full" and "not empty" queues, 100,000 items; every item consumed once.
#[test]
fn producer_consumer_across_hubs() {
    producer_consumer(false);
}

/// The same with every wait bounded by a 20 µs deadline, so that deadlines race wake-ups all the
/// time: a wake-up that lands on a waiter whose deadline passed must still count as a wake-up.
#[test]
fn producer_consumer_timed_waits_across_hubs() {
    producer_consumer(true);
}

fn producer_consumer(timed: bool) {
    let s = Shared::new();
    let consumed = Arc::new(AtomicUsize::new(0));
    let sum = Arc::new(AtomicUsize::new(0));
    const PER_PRODUCER: u64 = 10_000;
    let (c2, s2) = (consumed.clone(), sum.clone());
    let secs = run_spread(20, move |i| {
        let (s, consumed, sum) = (s.clone(), c2.clone(), s2.clone());
        Box::new(move || {
            let h = hub::current_hub();
            let (not_full, not_empty) = (s.a.get(), s.b.get());
            let wait = WaitOn::Object("cond", s.addr());
            if i < 10 {
                for k in 0..PER_PRODUCER {
                    let mut g = stripe::lock(s.addr());
                    // SAFETY: fields under the stripe lock; h is this greenlet's hub.
                    unsafe {
                        while (*s.items.get()).len() >= 16 {
                            let d = timed.then(|| gs::sys::now() + 20_000);
                            g = xwaitq::wait(h, not_full, g, 0, wait, d, false).1;
                        }
                        (*s.items.get()).push(i as u64 * PER_PRODUCER + k + 1);
                        (*not_empty).wake_one();
                    }
                    drop(g);
                }
            } else {
                loop {
                    let mut g = stripe::lock(s.addr());
                    // SAFETY: fields under the stripe lock; h is this greenlet's hub.
                    let item = unsafe {
                        while (*s.items.get()).is_empty() && *s.turn.get() < 10 * PER_PRODUCER {
                            let d = timed.then(|| gs::sys::now() + 20_000);
                            g = xwaitq::wait(h, not_empty, g, 0, wait, d, false).1;
                        }
                        if *s.turn.get() >= 10 * PER_PRODUCER {
                            (*not_empty).wake_all();
                            None
                        } else {
                            *s.turn.get() += 1;
                            (*not_full).wake_one();
                            (*s.items.get()).pop()
                        }
                    };
                    drop(g);
                    match item {
                        Some(v) => {
                            consumed.fetch_add(1, Ordering::Relaxed);
                            sum.fetch_add(v as usize, Ordering::Relaxed);
                        }
                        None => break,
                    }
                }
            }
        })
    });
    let n = (10 * PER_PRODUCER) as usize;
    assert_eq!(consumed.load(Ordering::Relaxed), n);
    assert_eq!(sum.load(Ordering::Relaxed), n * (n + 1) / 2);
    println!("bounded buffer across 2 hubs (timed waits: {timed}): {n} items in {:.0} ms", secs * 1e3);
}
