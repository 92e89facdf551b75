//! The Rust API inside a program run under the launcher shares the shim's hub: API greenlets
//! and the program's `std::thread`s are greenlets of one scheduler.
//!
//! An API greenlet ticks every 20 ms while the main greenlet blocks in a `std::sync::mpsc`
//! `recv` on a value a `std::thread` sends after 100 ms. Natively, `recv` blocks the OS thread —
//! the hub's — so the ticker cannot run meanwhile (0 ticks) and the program has 2 OS threads.
//! Under the launcher, `recv` parks only the main greenlet, the ticker runs (about 5 ticks)
//! and the program has 1 OS thread. Then: API timeouts never touch parks of the shim.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use std::time::Instant;

use greenshim::api::{rt, sleep, spawn, yield_now, Event, Timeout};

fn os_threads() -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with("Threads:")).map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string()).unwrap_or_default()
}

fn main() {
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let ticker = spawn(move || loop {
        sleep(Duration::from_millis(20));
        t.set(t.get() + 1);
    });
    yield_now(); // the ticker starts and parks in its first sleep
    let (tx, rx) = mpsc::channel();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        tx.send(42).unwrap();
    });
    let threads = os_threads();
    let v = rx.recv().unwrap();
    println!("received {v} from a std::thread");
    println!("ticks while main waited on a std channel: {}", ticks.get());
    println!("OS threads while the std::thread lived: {threads}");
    println!("hub: {}", if rt::on_shim_hub() { "the preload library's" } else { "this program's own" });
    sender.join().unwrap();
    // a Timeout on an API wait works the same under the shim
    let r = Timeout::run(Duration::from_millis(30), || ticker.join());
    println!("joining the endless ticker under a 30 ms Timeout: {}", if r.is_err() { "timed out" } else { "returned" });
    ticker.kill();
    println!("ticker killed: {}", ticker.killed());

    // An API wait woken early leaves a stale hub timer behind; it must not cut short a later
    // park of the shim's (here std's sleep, a nanosleep park under the launcher).
    let e = Event::new();
    let e2 = e.clone();
    spawn(move || e2.set());
    let woken = e.wait_timeout(Duration::from_millis(50));
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(100));
    println!("event woken early: {woken}; std sleep of 100 ms after it lasted >= 100 ms: {}", t0.elapsed() >= Duration::from_millis(100));

    // A Timeout scope does not interrupt a park of the shim: it is raised at the next API park.
    let t1 = Instant::now();
    let r = Timeout::run(Duration::from_millis(30), || {
        std::thread::sleep(Duration::from_millis(80));
        yield_now();
    });
    println!("Timeout(30 ms) around a std sleep of 80 ms then a yield: {} after {} ms", if r.is_err() { "timed out" } else { "completed" }, t1.elapsed().as_millis());
}
