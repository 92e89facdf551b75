//! gevent tutorial, "Events": five waiters block on one `Event`; a setter sets it after 3 s
//! (the delay may be given in ms as the first argument) and all five wake together.

use std::time::{Duration, Instant};

use greenshim::api::{joinall, sleep, spawn, Event};

fn main() {
    let delay = Duration::from_millis(std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3000));
    let evt = Event::new();
    let t0 = Instant::now();
    let e = evt.clone();
    let setter = spawn(move || {
        println!("setter: a few seconds of work, then the event");
        sleep(delay);
        println!("setter: setting the event at {:.3} s", t0.elapsed().as_secs_f64());
        e.set();
    });
    let waiters: Vec<_> = (1..=5)
        .map(|i| {
            let e = evt.clone();
            spawn(move || {
                println!("waiter {i}: waiting");
                e.wait();
                println!("waiter {i}: woke at {:.3} s", t0.elapsed().as_secs_f64());
            })
        })
        .collect();
    setter.join();
    joinall(&waiters);
    println!("event is set: {}", evt.is_set());
}
