//! gevent tutorial, "Greenlets" and "Monkeypatching" — for native code the launcher *is* the
//! monkey patch: this program uses only `std::thread`, `std::net`, `std::sync` and
//! `std::thread::sleep`, no greenshim dependency, and runs unmodified as greenlets on one OS
//! thread under `greenshim -- target/release/examples/monkey_patch`.
//!
//! Three "fetcher" threads each make a request to a local TCP server thread and sleep; natively
//! they are OS threads, under the launcher greenlets. stdout is the same both ways (results in
//! join order); stderr shows the OS thread count while they are alive (`Threads:` line of
//! /proc/self/status: 5 natively, 1 under the launcher).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

fn os_threads() -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with("Threads:")).unwrap_or("Threads: ?").to_string()
}

fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // the server: one thread per connection, as a blocking program would. Its handlers meet at
    // a barrier: the three requests are provably in flight at once (a runtime that served them
    // one after another would never get past it).
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let (inf, maxf) = (in_flight.clone(), max_in_flight.clone());
    let server = thread::spawn(move || {
        let all_in = Arc::new(Barrier::new(3));
        let mut handlers = Vec::new();
        for _ in 0..3 {
            let (s, _) = listener.accept().unwrap();
            let (all_in, inf, maxf) = (all_in.clone(), inf.clone(), maxf.clone());
            handlers.push(thread::spawn(move || {
                let mut line = String::new();
                BufReader::new(&s).read_line(&mut line).unwrap();
                let now = inf.fetch_add(1, Ordering::SeqCst) + 1;
                maxf.fetch_max(now, Ordering::SeqCst);
                all_in.wait();
                thread::sleep(Duration::from_millis(200)); // a slow backend
                inf.fetch_sub(1, Ordering::SeqCst);
                (&s).write_all(format!("result of {}", line.trim()).as_bytes()).unwrap();
            }));
        }
        handlers.into_iter().for_each(|h| h.join().unwrap());
    });

    let log = Arc::new(Mutex::new(Vec::new()));
    // main counts the OS threads between the two barriers: the 3 fetchers, the server thread
    // (in accept) and main are alive, nothing else yet
    let all_alive = Arc::new(Barrier::new(4));
    let go = Arc::new(Barrier::new(4));
    let t0 = Instant::now();
    let fetchers: Vec<_> = (1..=3)
        .map(|i| {
            let (log, all_alive, go) = (log.clone(), all_alive.clone(), go.clone());
            thread::spawn(move || {
                all_alive.wait();
                go.wait();
                let mut s = TcpStream::connect(addr).unwrap();
                writeln!(s, "request {i}").unwrap();
                let mut reply = String::new();
                BufReader::new(&s).read_line(&mut reply).unwrap();
                thread::sleep(Duration::from_millis(100));
                log.lock().unwrap().push(i);
                format!("fetcher {i}: {reply}")
            })
        })
        .collect();
    all_alive.wait();
    eprintln!("{} (main, 3 fetchers and the server thread alive)", os_threads());
    go.wait();
    for f in fetchers {
        println!("{}", f.join().unwrap());
    }
    server.join().unwrap();
    let took = t0.elapsed();
    println!("requests in flight at once: {}", max_in_flight.load(Ordering::SeqCst));
    println!("fetchers finished: {}", log.lock().unwrap().len());
    // sequentially: 3 x (200 + 100) ms; concurrently: about 300 ms (stderr: timing varies)
    eprintln!("took {:.0} ms", took.as_secs_f64() * 1e3);
}
