//! Multi-hub infrastructure (issue 13), through the hub library alone (no shim): extra hub OS
//! threads, greenlets placed on them, and cross-hub wakeups through the remote queues, with no
//! wakeup lost under concurrent posters.
//!
//! ```sh
//! cargo test --release -p greenshim-hubs --test hub_multi -- --nocapture   # --nocapture shows the figures
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use gs::greenlet::{WaitOn, Wake};
use gs::hub::{self, Hub, SpawnOpts};
use gs_hubs::multihub;
use gs_hubs::remote::{self, Remote};

/// Two extra hubs on their own OS threads, started once for the whole test binary.
fn extra_hubs() -> (&'static Remote, &'static Remote) {
    static HUBS: OnceLock<(&'static Remote, &'static Remote)> = OnceLock::new();
    *HUBS.get_or_init(|| {
        multihub::set_hubs(3);
        let b = multihub::start_hub_thread(256 * 1024, gs::stack::GuardMode::Page, with_tls).expect("hub B");
        let c = multihub::start_hub_thread(256 * 1024, gs::stack::GuardMode::Page, with_tls).expect("hub C");
        assert_eq!(multihub::registered(), 2);
        (b.1, c.1)
    })
}

/// Setup of the extra hubs: per-greenlet TLS on, as the preload library's default.
fn with_tls(h: *mut Hub) {
    // SAFETY: h is the calling hub thread's fresh hub, before any greenlet.
    unsafe { hub::enable_tls(h) }.expect("glibc offers what per-greenlet TLS needs");
}

thread_local! {
    static COUNTER: std::cell::Cell<u64> = const { std::cell::Cell::new(1000) };
}

/// Run `f` on a fresh OS thread with a hub of its own and a remote queue (not registered:
/// placement only ever picks the two extra hubs).
fn on_hub_a<R: Send + 'static>(f: impl FnOnce(*mut Hub, &'static Remote) -> R + Send + 'static) -> R {
    let t = std::thread::spawn(move || {
        let h = hub::get_or_install();
        // SAFETY: h is this thread's hub.
        let ra = unsafe { remote::start_pump(h) }.expect("remote queue of hub A");
        f(h, ra)
    });
    match t.join() {
        Ok(r) => r,
        Err(p) => std::panic::resume_unwind(p),
    }
}

fn gettid() -> i64 {
    // SAFETY: a plain system call.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

fn deadline(secs: u64) -> Option<u64> {
    Some(gs::sys::now() + secs * 1_000_000_000)
}

#[test]
fn flag_set_once_and_placement_round_robin() {
    extra_hubs();
    assert!(multihub::multi());
    assert_eq!(multihub::hubs(), 3);
    // Other tests place 100 greenlets meanwhile at most: of 1,000 placements here, at least
    // 450 go to each hub whatever the interleaving.
    let mut per_hub = [0usize; 2];
    for _ in 0..1000 {
        per_hub[multihub::place().unwrap().0] += 1;
    }
    assert!(per_hub.iter().all(|&n| n >= 450), "round-robin: {per_hub:?}");
}

/// A greenlet of hub A parks; hub B wakes it through A's remote queue; 20,000 times. A lost
/// wakeup shows as a timed-out park.
#[test]
fn cross_hub_ping_pong_loses_no_wakeup() {
    let (rb, _) = extra_hubs();
    let n = 20_000;
    let ns = on_hub_a(move |h, ra| {
        let t0 = Instant::now();
        for i in 0..n {
            // SAFETY: h is this thread's hub; the token is armed before the request is posted.
            unsafe {
                let (id, tok) = (*h).prepare_park();
                rb.run(move |_hb| ra.wake(id, tok));
                let why = hub::park_prepared(h, WaitOn::Nothing, deadline(10), false);
                assert_eq!(why, Wake::Woken, "round trip {i} lost its wakeup");
            }
        }
        t0.elapsed().as_nanos() as u64 / n
    });
    println!("cross-hub round trip (A -> B -> A, two posts): {ns} ns");
}

/// 100 greenlets spawned on hub B from hub A run there (B's OS thread, B's hub), use B's
/// timers, and the last to end wakes A.
#[test]
fn remote_spawn_runs_on_target_hub() {
    let (rb, _) = extra_hubs();
    on_hub_a(move |h, ra| {
        let a_tid = gettid();
        let tids = Arc::new(Mutex::new(Vec::new()));
        let left = Arc::new(AtomicUsize::new(100));
        // SAFETY: h is this thread's hub; the token is armed before any greenlet can end.
        unsafe {
            let (id, tok) = (*h).prepare_park();
            for _ in 0..100 {
                let (tids, left) = (tids.clone(), left.clone());
                multihub::spawn_on(
                    rb,
                    Box::new(move || {
                        gs::api::sleep(std::time::Duration::from_millis(5));
                        tids.lock().unwrap().push((gettid(), hub::current_hub() as usize));
                        if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                            ra.wake(id, tok);
                        }
                        0
                    }),
                    SpawnOpts { detached: true, ..Default::default() },
                    |r| assert!(r.is_ok(), "spawn on hub B: {r:?}"),
                );
            }
            assert_eq!(hub::park_prepared(h, WaitOn::Nothing, deadline(10), false), Wake::Woken);
        }
        let tids = tids.lock().unwrap();
        assert_eq!(tids.len(), 100);
        assert!(tids.iter().all(|&t| t == tids[0]), "all on one hub thread: {tids:?}");
        assert_ne!(tids[0].0, a_tid, "not on hub A's thread");
    });
}

/// 200 greenlets of hub A park concurrently, 500 times each; every park is ended by hub B or
/// hub C (alternately) through A's remote queue, so posts from two OS threads race each other
/// and A's pump. Every park must end woken.
#[test]
fn concurrent_remote_wakers_lose_nothing() {
    let (rb, rc) = extra_hubs();
    let (k, rounds) = (200, 500);
    let woken = on_hub_a(move |h, ra| {
        let total = Arc::new(AtomicUsize::new(0));
        let mut ids = Vec::new();
        for j in 0..k {
            let total = total.clone();
            let entry = Box::new(move || {
                let h = hub::current_hub();
                for r in 0..rounds {
                    // SAFETY: h is this greenlet's hub; the token is armed before the post.
                    unsafe {
                        let (id, tok) = (*h).prepare_park();
                        let via = if (j + r) % 2 == 0 { rb } else { rc };
                        via.run(move |_| ra.wake(id, tok));
                        assert_eq!(hub::park_prepared(h, WaitOn::Nothing, deadline(20), false), Wake::Woken);
                    }
                    total.fetch_add(1, Ordering::Relaxed);
                }
                0
            });
            // SAFETY: h is this thread's hub.
            ids.push(unsafe { hub::spawn(h, entry, SpawnOpts::default()) }.unwrap());
        }
        for id in ids {
            // SAFETY: h is this thread's hub; the ids are joinable greenlets of it.
            unsafe { hub::join(h, id, None, false) }.unwrap();
        }
        total.load(Ordering::Relaxed)
    });
    assert_eq!(woken, k * rounds);
}

/// 100 greenlets placed round-robin on hubs B and C (both with per-greenlet TLS, running at
/// the same time on two OS threads) each see only their own `thread_local!` across switches.
#[test]
fn per_greenlet_tls_on_every_hub() {
    extra_hubs();
    on_hub_a(move |h, ra| {
        let results = Arc::new(Mutex::new(Vec::new()));
        let left = Arc::new(AtomicUsize::new(100));
        // SAFETY: h is this thread's hub; the token is armed before any greenlet can end.
        unsafe {
            let (id, tok) = (*h).prepare_park();
            for i in 0..100u64 {
                let (results, left) = (results.clone(), left.clone());
                let (at, r) = multihub::place().expect("two hubs registered");
                multihub::spawn_on(
                    r,
                    Box::new(move || {
                        for _ in 0..20 {
                            COUNTER.with(|c| c.set(c.get() + i));
                            gs::api::yield_now();
                        }
                        results.lock().unwrap().push((i, at, gettid(), COUNTER.with(|c| c.get())));
                        if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                            ra.wake(id, tok);
                        }
                        0
                    }),
                    SpawnOpts { detached: true, ..Default::default() },
                    |r| assert!(r.is_ok(), "spawn: {r:?}"),
                );
            }
            assert_eq!(hub::park_prepared(h, WaitOn::Nothing, deadline(10), false), Wake::Woken);
        }
        let results = results.lock().unwrap();
        assert_eq!(results.len(), 100);
        for &(i, _, _, v) in results.iter() {
            assert_eq!(v, 1000 + 20 * i, "greenlet {i} saw another's thread-local");
        }
        let hubs: std::collections::HashSet<usize> = results.iter().map(|r| r.1).collect();
        let tids: std::collections::HashSet<i64> = results.iter().map(|r| r.2).collect();
        assert_eq!((hubs.len(), tids.len()), (2, 2), "spread over two hubs, two OS threads");
    });
}
