//! The Rust API inside a program run under the launcher shares the shim's hub: API greenlets
//! and the program's `std::thread`s are greenlets of one scheduler.
//!
//! An API greenlet ticks every 20 ms while the main greenlet blocks in a `std::sync::mpsc`
//! `recv` on a value a `std::thread` sends after 100 ms. Natively, `recv` blocks the OS thread —
//! the hub's — so the ticker cannot run meanwhile (0 ticks) and the program has 2 OS threads.
//! Under the launcher, `recv` parks only the main greenlet, the ticker runs (about 5 ticks)
//! and the program has 1 OS thread.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use greenshim::api::{rt, sleep, spawn, yield_now, Timeout};

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
}
