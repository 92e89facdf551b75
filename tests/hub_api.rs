//! Behavioural tests of the hub through its gevent-like Rust API (`greenshim::api`), no shim.
//!
//! Every test body runs on a fresh OS thread (see [`on_fresh_hub`]), so it gets a hub of its own
//! whatever the test harness does with threads: counters and stack-pool figures start at zero.
//!
//! ```sh
//! cargo test --release --test hub_api            # add -- --nocapture to see the figures
//! ```

use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenshim as gs;
use gs::api::{current_id, joinall, sleep, spawn, yield_now, Greenlet};
use gs::hub::{current_hub, Hub};

/// Run `f` on a new OS thread (hence on a new hub) and propagate its panic, if any.
fn on_fresh_hub<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    match std::thread::Builder::new().name("hub".into()).spawn(f).expect("spawn test thread").join() {
        Ok(r) => r,
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// This thread's hub (installed by the first `spawn`/`sleep`/`yield_now`).
fn hub() -> *mut Hub {
    let h = current_hub();
    assert!(!h.is_null(), "the hub is installed by the first API call");
    h
}

fn live() -> usize {
    // SAFETY: this thread's hub, read between switches.
    unsafe { (*hub()).live() }
}

/// Greenlets not yet reaped (main included).
fn unreaped() -> usize {
    // SAFETY: as in `live`.
    unsafe { (*hub()).greenlets().count() }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// ------------------------------------------------------------------------- spawn and order

#[test]
fn spawn_is_fifo_and_starts_only_when_the_spawner_yields() {
    on_fresh_hub(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let gs: Vec<Greenlet<()>> = (0..5)
            .map(|i| {
                let log = log.clone();
                spawn(move || log.borrow_mut().push(i))
            })
            .collect();
        assert!(log.borrow().is_empty(), "nothing runs before the spawner parks");
        assert!(gs.iter().all(|g| !g.started() && !g.ready()));
        yield_now();
        assert_eq!(*log.borrow(), vec![0, 1, 2, 3, 4], "spawn order is run order");
        assert!(gs.iter().all(|g| g.started() && g.ready()));
        joinall(&gs);
        assert_eq!(unreaped(), 1, "joined greenlets are reaped");
    });
}

#[test]
fn spawned_greenlet_first_runs_when_the_spawner_parks() {
    on_fresh_hub(|| {
        let ran = Rc::new(Cell::new(false));
        let r2 = ran.clone();
        let g = spawn(move || r2.set(true));
        // some work that does not park: still not run
        black_box((0..1000).sum::<u64>());
        assert!(!ran.get() && !g.started());
        sleep(Duration::from_millis(1)); // a park (not a yield) lets it run too
        assert!(ran.get() && g.started() && g.ready());
    });
}

#[test]
fn yield_now_round_robins_between_greenlets() {
    on_fresh_hub(|| {
        let log = Rc::new(RefCell::new(String::new()));
        let mk = |c: char| {
            let log = log.clone();
            spawn(move || {
                for _ in 0..3 {
                    log.borrow_mut().push(c);
                    yield_now();
                }
            })
        };
        let gs = vec![mk('a'), mk('b'), mk('c')];
        joinall(&gs);
        assert_eq!(*log.borrow(), "abcabcabc");
    });
}

#[test]
fn current_id_differs_per_greenlet_and_matches_the_handle() {
    on_fresh_hub(|| {
        let main_id = current_id();
        let g = spawn(current_id);
        let gid = g.id();
        assert_eq!(g.get(), Ok(gid), "current_id inside a greenlet is its handle's id");
        assert_ne!(gid, main_id);
        assert_eq!(current_id(), main_id);
    });
}

// ------------------------------------------------------------------------ join and results

#[test]
fn join_returns_after_the_greenlet_ended() {
    on_fresh_hub(|| {
        let done = Rc::new(Cell::new(false));
        let d2 = done.clone();
        let g = spawn(move || {
            sleep(Duration::from_millis(20));
            d2.set(true);
        });
        let t0 = Instant::now();
        g.join();
        let took = t0.elapsed();
        assert!(done.get() && g.ready());
        assert!(took >= Duration::from_millis(20), "join returned after {:.1} ms, before the 20 ms sleep ended", ms(took));
        g.join(); // joining again is a no-op
        assert_eq!(live(), 1);
    });
}

#[test]
fn value_and_successful_for_a_normal_return() {
    on_fresh_hub(|| {
        let g = spawn(|| 6 * 7);
        assert!(!g.ready() && !g.successful());
        assert_eq!(g.value(), None, "no value before it ran");
        g.join();
        assert!(g.ready() && g.successful());
        assert_eq!(g.value(), Some(42));
        assert_eq!(g.exception(), None);
        assert_eq!(g.get(), Ok(42));

        let s = spawn(|| String::from("hello"));
        assert_eq!(s.get(), Ok("hello".to_string()));
    });
}

#[test]
fn panicking_greenlet_keeps_its_message_and_the_hub_keeps_working() {
    on_fresh_hub(|| {
        let g: Greenlet<u32> = spawn(|| {
            yield_now();
            panic!("boom {}", 7)
        });
        let s: Greenlet<u32> = spawn(|| panic!("static boom"));
        let after = spawn(|| 1u32);
        g.join();
        s.join();
        assert!(g.ready() && !g.successful());
        assert_eq!(g.value(), None);
        assert_eq!(g.exception().as_deref(), Some("boom 7"));
        assert_eq!(s.exception().as_deref(), Some("static boom"));
        assert_eq!(after.get(), Ok(1), "a greenlet queued behind the panicking ones still runs");
        assert_eq!(g.get(), Err("boom 7".to_string()));

        // the hub still schedules, sleeps and reuses the panicked greenlets' stacks
        let gs: Vec<_> = (0..10u32)
            .map(|i| {
                spawn(move || {
                    sleep(Duration::from_millis(1));
                    i * 2
                })
            })
            .collect();
        let vals: Vec<u32> = gs.into_iter().map(|g| g.get().unwrap()).collect();
        assert_eq!(vals, (0..10).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(live(), 1);
        assert_eq!(unreaped(), 1);
    });
}

#[test]
fn join_timeout_false_before_true_after() {
    on_fresh_hub(|| {
        let g = spawn(|| {
            sleep(Duration::from_millis(60));
            5
        });
        let t0 = Instant::now();
        assert!(!g.join_timeout(Duration::from_millis(10)), "ended before its sleep did");
        let t1 = t0.elapsed();
        assert!(t1 >= Duration::from_millis(10), "join_timeout(10 ms) gave up after {:.1} ms", ms(t1));
        assert!(!g.ready() && g.started());
        assert!(!g.join_timeout(Duration::ZERO));
        assert!(g.join_timeout(Duration::from_secs(2)));
        let t2 = t0.elapsed();
        assert!(
            (Duration::from_millis(60)..Duration::from_millis(500)).contains(&t2),
            "join_timeout(2 s) returned after {:.1} ms, want ~60",
            ms(t2)
        );
        assert!(g.join_timeout(Duration::ZERO), "true again once joined");
        assert_eq!(g.value(), Some(5));
    });
}

#[test]
fn joinall_waits_for_every_greenlet() {
    on_fresh_hub(|| {
        let gs: Vec<_> = [15u64, 5, 10].iter().map(|&d| spawn(move || sleep(Duration::from_millis(d)))).collect();
        let t0 = Instant::now();
        joinall(&gs);
        assert!(t0.elapsed() >= Duration::from_millis(15));
        assert!(gs.iter().all(|g| g.ready()));
    });
}

// ---------------------------------------------------------------------------------- sleep

#[test]
fn sleepers_wake_in_deadline_order_concurrently() {
    on_fresh_hub(|| {
        let order = Rc::new(RefCell::new(Vec::new()));
        let t0 = Instant::now();
        let gs: Vec<_> = [30u64, 10, 20]
            .iter()
            .map(|&d| {
                let order = order.clone();
                spawn(move || {
                    sleep(Duration::from_millis(d));
                    order.borrow_mut().push((d, t0.elapsed()));
                })
            })
            .collect();
        joinall(&gs);
        let total = t0.elapsed();
        let order = order.borrow();
        assert_eq!(order.iter().map(|x| x.0).collect::<Vec<_>>(), vec![10, 20, 30]);
        for &(d, at) in order.iter() {
            assert!(at >= Duration::from_millis(d), "the {d} ms sleeper woke after {:.1} ms", ms(at));
        }
        println!("sleep 30/10/20 ms: woke at {:?} ms, total {:.1} ms", order.iter().map(|x| ms(x.1).round()).collect::<Vec<_>>(), ms(total));
        assert!(
            total < Duration::from_millis(55),
            "three sleepers of 30/10/20 ms took {:.1} ms: they should sleep concurrently (~30 ms, not 60)",
            ms(total)
        );
    });
}

#[test]
fn ten_thousand_sleepers_of_100ms_finish_within_a_second() {
    on_fresh_hub(|| {
        const N: usize = 10_000;
        let t0 = Instant::now();
        let early = Rc::new(Cell::new(0usize));
        let gs: Vec<_> = (0..N)
            .map(|i| {
                let early = early.clone();
                spawn(move || {
                    let s = Instant::now();
                    sleep(Duration::from_millis(100));
                    if s.elapsed() < Duration::from_millis(100) {
                        early.set(early.get() + 1);
                    }
                    i
                })
            })
            .collect();
        let spawned = t0.elapsed();
        let mut sum = 0;
        for g in gs {
            sum += g.get().unwrap();
        }
        let total = t0.elapsed();
        // SAFETY: this thread's hub, between switches.
        let (peak, allocated) = unsafe { ((*hub()).stats.peak_live, (*hub()).stacks.stats.allocated) };
        println!(
            "{N} sleepers of 100 ms: spawned in {:.1} ms, all joined after {:.1} ms (peak live {peak}, stacks mapped {allocated})",
            ms(spawned),
            ms(total)
        );
        assert_eq!(sum, N * (N - 1) / 2);
        assert_eq!(early.get(), 0, "a sleep(100 ms) returned early");
        assert_eq!(peak as usize, N + 1);
        assert!(total < Duration::from_secs(1), "{N} sleepers of 100 ms took {:.3} s (want < 1 s)", total.as_secs_f64());
        assert_eq!(live(), 1);
    });
}

#[test]
fn sleep_zero_is_a_yield() {
    on_fresh_hub(|| {
        let ran = Rc::new(Cell::new(false));
        let r2 = ran.clone();
        let _g = spawn(move || r2.set(true));
        sleep(Duration::ZERO);
        assert!(ran.get());
    });
}

// --------------------------------------------------------------------------------- errno

fn errno() -> i32 {
    // SAFETY: always valid for the calling thread.
    unsafe { *libc::__errno_location() }
}

fn set_errno(v: i32) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = v }
}

#[test]
fn errno_is_kept_per_greenlet_across_switches() {
    on_fresh_hub(|| {
        const G: i32 = 8;
        const ROUNDS: usize = 500;
        let gs: Vec<_> = (0..G)
            .map(|i| {
                spawn(move || {
                    let mine = 1000 + i;
                    set_errno(mine);
                    let mut bad = 0;
                    for r in 0..ROUNDS {
                        if r % 7 == 3 {
                            sleep(Duration::from_micros(50)); // a timed park, not only yields
                        } else {
                            yield_now();
                        }
                        if errno() != mine {
                            bad += 1;
                            set_errno(mine);
                        }
                    }
                    bad
                })
            })
            .collect();
        set_errno(7);
        let mut main_bad = 0;
        for _ in 0..ROUNDS {
            yield_now();
            if errno() != 7 {
                main_bad += 1;
                set_errno(7);
            }
        }
        let bads: Vec<i32> = gs.into_iter().map(|g| g.get().unwrap()).collect();
        assert_eq!(bads, vec![0; G as usize], "switches that lost a greenlet's errno, per greenlet");
        assert_eq!(main_bad, 0, "switches that lost main's errno");
        assert_eq!(errno(), 7);
    });
}

// --------------------------------------------------------------------------------- stacks

#[test]
fn stacks_are_reused_by_sequential_greenlets() {
    on_fresh_hub(|| {
        spawn(|| ()).join();
        let h = hub();
        // SAFETY: this thread's hub, read between switches.
        let (a0, r0) = unsafe { ((*h).stacks.stats.allocated, (*h).stacks.stats.reused) };
        let t0 = Instant::now();
        for i in 0..1000u32 {
            assert_eq!(spawn(move || i + 1).get(), Ok(i + 1));
        }
        let took = t0.elapsed();
        // SAFETY: as above.
        let (a1, r1) = unsafe { ((*h).stacks.stats.allocated, (*h).stacks.stats.reused) };
        println!(
            "1000 sequential spawn+join: {:.0} ns per pair; stacks mapped {a0} -> {a1}, reused {r0} -> {r1}",
            took.as_nanos() as f64 / 1000.0
        );
        assert!(a1 <= 2, "1000 sequential greenlets mapped {a1} stacks (want them reused)");
        assert_eq!(a1, a0, "a stack was mapped although a pooled one was free");
        assert_eq!(r1 - r0, 1000);
        assert_eq!(unreaped(), 1);
    });
}

#[test]
fn greenlet_runs_on_its_own_stack_range() {
    on_fresh_hub(|| {
        let probe = || {
            let local = black_box(0u64);
            let addr = &local as *const u64 as usize;
            // SAFETY: this thread's hub; current is the running greenlet.
            let (lo, hi) = unsafe { (*(*current_hub()).current()).stack };
            yield_now(); // keep both alive at once, so their ranges must differ
            (addr, lo, hi)
        };
        let a = spawn(probe);
        let b = spawn(probe);
        let (addr, lo, hi) = a.get().unwrap();
        let (addr_b, lo_b, hi_b) = b.get().unwrap();
        assert!(lo < hi && hi - lo >= gs::settings::DEFAULT_STACK_SIZE, "stack range {lo:#x}..{hi:#x}");
        assert!(lo <= addr && addr < hi, "local at {addr:#x} outside the greenlet's stack {lo:#x}..{hi:#x}");
        assert!(lo_b <= addr_b && addr_b < hi_b);
        assert!(hi <= lo_b || hi_b <= lo, "two live greenlets share stack memory");
        // main runs on the thread's own stack
        let m = 0u8;
        let ma = &m as *const u8 as usize;
        assert!(!(lo..hi).contains(&ma) && !(lo_b..hi_b).contains(&ma));
        // SAFETY: as above.
        assert_eq!(unsafe { (*(*current_hub()).current()).stack }, (0, 0), "main has no pooled stack");
    });
}

/// Recurse with frames of over 1 KiB until the frames below `top` span `bytes`; returns (a
/// checksum, recursion depth, lowest frame address).
#[inline(never)]
fn deep(top: usize, bytes: usize, depth: u64) -> (u64, u64, usize) {
    let mut frame = [0u8; 1024];
    frame[(depth as usize * 31) % 1024] = depth as u8;
    let frame = black_box(frame);
    let here = frame.as_ptr() as usize;
    let (sum, d, low) = if top - here < bytes { deep(top, bytes, depth + 1) } else { (0, depth, here) };
    (sum + frame.iter().map(|&b| b as u64).sum::<u64>(), d, low)
}

#[test]
fn deep_recursion_fits_the_default_stack() {
    on_fresh_hub(|| {
        const BYTES: usize = 160 * 1024; // of the default 256 KiB
        let g = spawn(|| {
            let top = black_box(0u8);
            let top = &top as *const u8 as usize;
            let r = deep(top, BYTES, 0);
            // SAFETY: this thread's hub; current is the running greenlet.
            let stack = unsafe { (*(*current_hub()).current()).stack };
            (r, top, stack)
        });
        let ((sum, depth, low), top, (lo, hi)) = g.get().unwrap();
        println!("deep recursion: {depth} frames, {} KiB of stack", (top - low) / 1024);
        assert!(top - low >= BYTES && lo <= low && top < hi);
        assert_eq!(sum, (0..=depth).map(|d| d % 256).sum::<u64>());
        // again on the (reused) stack, this time from main's join of two at once
        fn here() -> usize {
            let local = black_box(0u8);
            &local as *const u8 as usize
        }
        let a = spawn(|| deep(here(), 100 * 1024, 0).1);
        let b = spawn(|| {
            yield_now();
            deep(here(), 100 * 1024, 0).1
        });
        assert!(a.get().unwrap() >= 30 && b.get().unwrap() >= 30, "frames are about 2 KiB");
    });
}

// ------------------------------------------------------------------------------- yielding

#[test]
fn yield_now_alone_returns_immediately() {
    on_fresh_hub(|| {
        let t0 = Instant::now();
        yield_now(); // installs the hub
        let h = hub();
        // SAFETY: this thread's hub.
        let sw0 = unsafe { (*h).stats.switches };
        for _ in 0..100_000 {
            yield_now();
        }
        let took = t0.elapsed();
        // SAFETY: as above.
        let sw1 = unsafe { (*h).stats.switches };
        println!("100000 lone yield_now: {:.1} ns each", took.as_nanos() as f64 / 100_000.0);
        assert_eq!(sw1, sw0, "a lone yield switched");
        assert!(took < Duration::from_millis(200), "100000 lone yields took {:.1} ms", ms(took));
        // SAFETY: as above.
        assert_eq!(unsafe { (*h).stats.epoll_waits }, 0);
    });
}

// ------------------------------------------------------------------------------ lifecycle

#[test]
fn dropped_handle_still_runs_to_completion() {
    on_fresh_hub(|| {
        let done = Rc::new(Cell::new(0));
        {
            let d = done.clone();
            let g = spawn(move || {
                sleep(Duration::from_millis(10));
                d.set(d.get() + 1);
            });
            drop(g); // never started
        }
        {
            let d = done.clone();
            let g = spawn(move || {
                yield_now();
                yield_now();
                d.set(d.get() + 1);
            });
            yield_now(); // started, parked mid-way
            assert!(g.started() && !g.ready());
            drop(g);
        }
        {
            let d = done.clone();
            let g = spawn(move || d.set(d.get() + 1));
            yield_now(); // already ended when dropped
            assert!(g.ready());
            drop(g);
        }
        // let everything finish: only sleeps from main, no joins
        let t0 = Instant::now();
        while done.get() < 3 && t0.elapsed() < Duration::from_secs(2) {
            sleep(Duration::from_millis(5));
        }
        assert_eq!(done.get(), 3, "a detached greenlet did not run to completion");
        assert_eq!(live(), 1);
        assert_eq!(unreaped(), 1, "detached greenlets are reaped when they end");
    });
}

#[test]
fn greenlets_spawn_and_join_greenlets() {
    on_fresh_hub(|| {
        fn tree(depth: u32) -> u64 {
            if depth == 0 {
                yield_now();
                return 1;
            }
            let kids: Vec<_> = (0..3).map(|_| spawn(move || tree(depth - 1))).collect();
            assert!(kids.iter().all(|k| !k.started()), "children wait for their parent to park");
            1 + kids.into_iter().map(|k| k.get().unwrap()).sum::<u64>()
        }
        let root = spawn(|| tree(4));
        assert_eq!(root.get(), Ok(1 + 3 + 9 + 27 + 81));
        // SAFETY: this thread's hub.
        let spawned = unsafe { (*hub()).stats.spawned };
        assert_eq!(spawned, 121);
        assert_eq!(live(), 1);
        assert_eq!(unreaped(), 1);

        // a child's handle dropped by its parent: the child outlives the parent
        let flag = Rc::new(Cell::new(false));
        let f2 = flag.clone();
        let parent = spawn(move || {
            let f3 = f2.clone();
            drop(spawn(move || {
                sleep(Duration::from_millis(5));
                f3.set(true);
            }));
        });
        parent.join();
        assert!(!flag.get());
        sleep(Duration::from_millis(20));
        assert!(flag.get());
    });
}

// ------------------------------------------------------------------------------- figures

/// Costs through the Rust API (informative; the assertions are loose bounds against gross
/// regressions only): spawn+join of an empty greenlet, and one switch of a yield ping-pong.
#[test]
fn api_costs() {
    on_fresh_hub(|| {
        spawn(|| ()).join(); // warm the stack pool
        const N: u32 = 100_000;
        let t0 = Instant::now();
        for i in 0..N {
            black_box(spawn(move || i).get().unwrap());
        }
        let pair = t0.elapsed().as_nanos() as f64 / N as f64;

        const Y: u32 = 200_000;
        let mk = || spawn(|| (0..Y).for_each(|_| yield_now()));
        let (a, b) = (mk(), mk());
        let h = hub();
        // SAFETY: this thread's hub.
        let sw0 = unsafe { (*h).stats.switches };
        let t1 = Instant::now();
        joinall(&[a, b]);
        let took = t1.elapsed();
        // SAFETY: as above.
        let sw = unsafe { (*h).stats.switches } - sw0;
        let per_switch = took.as_nanos() as f64 / (2.0 * Y as f64);
        println!("api: spawn+get {pair:.0} ns per pair; yield ping-pong {per_switch:.1} ns per yield ({sw} coroutine resumes)");
        assert!(pair < 20_000.0, "spawn+join costs {pair:.0} ns");
        assert!(per_switch < 5_000.0, "a yield costs {per_switch:.0} ns");
    });
}
