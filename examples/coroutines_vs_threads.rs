//! gevent tutorial, "Core: greenlets" — coroutines vs threads, measured side by side:
//! N OS threads against N greenlets (default 10,000): creation (spawn + start + join), one
//! context switch, and resident memory per unit while all of them are alive.
//!
//! Run it natively (`cargo run --release --example coroutines_vs_threads [N]`): under the
//! launcher the "OS threads" would be greenlets too.

use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use greenshim::api::{spawn, yield_now, Event};

/// Resident set size in bytes (/proc/self/statm).
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn per(d: Duration, n: u64) -> f64 {
    d.as_nanos() as f64 / n as f64
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);

    // ---- OS threads: create all, each parks on a barrier, measure RSS, release, join
    let rss0 = rss();
    let barrier = Arc::new(Barrier::new(n + 1));
    let t0 = Instant::now();
    let hs: Vec<_> = (0..n)
        .map(|_| {
            let b = barrier.clone();
            std::thread::Builder::new().stack_size(64 << 10).spawn(move || {
                b.wait();
            })
        })
        .collect::<Result<_, _>>()
        .expect("cannot create the OS threads (ulimit -u / threads-max?)");
    let t_create = t0.elapsed();
    let thread_mem = rss().saturating_sub(rss0) / n as u64;
    let t1 = Instant::now();
    barrier.wait();
    for h in hs {
        h.join().unwrap();
    }
    let t_thread_total = t_create + t1.elapsed();

    // ---- OS threads: switch time, a ping-pong through channels (two switches per round trip)
    const ROUNDS: u64 = 20_000;
    let (to_b, from_a) = mpsc::channel::<u64>();
    let (to_a, from_b) = mpsc::channel::<u64>();
    let echo = std::thread::spawn(move || {
        for v in from_a {
            to_a.send(v).unwrap();
        }
    });
    let t2 = Instant::now();
    for i in 0..ROUNDS {
        to_b.send(i).unwrap();
        from_b.recv().unwrap();
    }
    let thread_switch = per(t2.elapsed(), 2 * ROUNDS);
    drop(to_b);
    echo.join().unwrap();

    // ---- greenlets: the same, parked on an Event
    spawn(|| ()).join(); // install the hub
    let rss1 = rss();
    let go = Event::new();
    let t3 = Instant::now();
    let gs: Vec<_> = (0..n)
        .map(|_| {
            let go = go.clone();
            spawn(move || go.wait())
        })
        .collect();
    yield_now(); // every greenlet starts and parks on the event
    let g_create = t3.elapsed();
    let green_mem = rss().saturating_sub(rss1) / n as u64;
    let t4 = Instant::now();
    go.set();
    for g in &gs {
        g.join();
    }
    let g_total = g_create + t4.elapsed();

    // ---- greenlets: switch time, two greenlets yielding to each other
    let mk = || spawn(|| (0..ROUNDS).for_each(|_| yield_now()));
    let (a, b) = (mk(), mk());
    let t5 = Instant::now();
    a.join();
    b.join();
    let green_switch = per(t5.elapsed(), 2 * ROUNDS);

    println!("{:<28} {:>14} {:>14}", format!("{n} units"), "OS threads", "greenlets");
    println!("{:<28} {:>11.1} us {:>11.1} us", "create+start, per unit", per(t_create, n as u64) / 1e3, per(g_create, n as u64) / 1e3);
    println!("{:<28} {:>11.1} ms {:>11.1} ms", "create+start+join, all", t_thread_total.as_secs_f64() * 1e3, g_total.as_secs_f64() * 1e3);
    println!("{:<28} {:>11.0} ns {:>11.0} ns", "one context switch", thread_switch, green_switch);
    println!("{:<28} {:>11.1} KB {:>11.1} KB", "RSS per unit (all alive)", thread_mem as f64 / 1024.0, green_mem as f64 / 1024.0);
    println!("greenlet switch is {:.0}x cheaper; creation {:.0}x", thread_switch / green_switch.max(0.1), per(t_create, 1) / per(g_create, 1).max(1.0));
}
