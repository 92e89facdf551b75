//! Per-greenlet thread-local storage at the hub level (`greenshim::tls`), without the shim: a hub
//! with TLS on gives every greenlet its own `thread_local!` values, errno and TLS destructors, and
//! reuses TCBs with fresh values. Each test runs on a fresh OS thread, hence a fresh hub.

use std::cell::Cell;

use greenshim as gs;
use gs::api::{joinall, spawn, yield_now};

fn on_fresh_hub<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    match std::thread::Builder::new().name("hub".into()).spawn(f).expect("spawn test thread").join() {
        Ok(r) => r,
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// Install this thread's hub and turn per-greenlet TLS on.
fn hub_with_tls() {
    let h = gs::hub::get_or_install();
    // SAFETY: this thread's fresh hub, before any greenlet.
    unsafe { gs::hub::enable_tls(h) }.expect("glibc offers what per-greenlet TLS needs");
}

thread_local! {
    static COUNTER: Cell<u64> = const { Cell::new(1000) };
}

#[test]
fn thread_locals_are_per_greenlet_across_switches() {
    let sums = on_fresh_hub(|| {
        hub_with_tls();
        let gs: Vec<_> = (0..20u64)
            .map(|i| {
                spawn(move || {
                    for _ in 0..5 {
                        COUNTER.with(|c| c.set(c.get() + i));
                        yield_now(); // every other greenlet runs and changes its own
                    }
                    COUNTER.with(|c| c.get())
                })
            })
            .collect();
        joinall(&gs);
        let main_value = COUNTER.with(|c| c.get());
        (gs.iter().map(|g| g.value().expect("ended")).collect::<Vec<_>>(), main_value)
    });
    let want: Vec<u64> = (0..20).map(|i| 1000 + 5 * i).collect();
    assert_eq!(sums.0, want);
    assert_eq!(sums.1, 1000, "main's value is its own");
}

#[test]
fn errno_is_per_greenlet() {
    let ok = on_fresh_hub(|| {
        hub_with_tls();
        let gs: Vec<_> = (1..=10)
            .map(|e| {
                spawn(move || {
                    gs::sys::set_errno(e);
                    yield_now();
                    gs::sys::errno() == e
                })
            })
            .collect();
        joinall(&gs);
        gs.iter().all(|g| g.value() == Some(true))
    });
    assert!(ok);
}

struct Noisy(std::sync::Arc<std::sync::atomic::AtomicUsize>);
impl Drop for Noisy {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

thread_local! {
    static NOISY: std::cell::RefCell<Option<Noisy>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn tls_destructors_run_when_a_greenlet_ends_and_reused_tcbs_start_fresh() {
    let (dropped, fresh) = on_fresh_hub(|| {
        hub_with_tls();
        let drops = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut fresh = true;
        for round in 0..3 {
            let gs: Vec<_> = (0..8)
                .map(|_| {
                    let d = drops.clone();
                    spawn(move || {
                        let start = COUNTER.with(|c| c.get());
                        COUNTER.with(|c| c.set(7));
                        NOISY.with(|n| *n.borrow_mut() = Some(Noisy(d)));
                        yield_now();
                        start
                    })
                })
                .collect();
            joinall(&gs);
            // Rounds after the first reuse the pooled TCBs: initial values again.
            fresh &= gs.iter().all(|g| g.value() == Some(1000));
            let _ = round;
        }
        (drops.load(std::sync::atomic::Ordering::SeqCst), fresh)
    });
    assert_eq!(dropped, 24, "one destructor per greenlet");
    assert!(fresh, "a reused TCB starts with the initial values");
}
