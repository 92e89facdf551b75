//! gevent tutorial, "Events" (AsyncResult): five waiters block on one `AsyncResult`; a setter
//! stores a value after 3 s (the delay may be given in ms as the first argument) and every
//! waiter gets it. Then one with an error.

use std::time::{Duration, Instant};

use greenshim::api::{joinall, sleep, spawn, AsyncResult};

fn main() {
    let delay = Duration::from_millis(std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3000));
    let result: AsyncResult<String> = AsyncResult::new();
    let t0 = Instant::now();
    let r = result.clone();
    let setter = spawn(move || {
        sleep(delay);
        println!("setter: setting the value at {:.3} s", t0.elapsed().as_secs_f64());
        r.set("Hello!".to_string());
    });
    let waiters: Vec<_> = (1..=5)
        .map(|i| {
            let r = result.clone();
            spawn(move || {
                let v = r.get();
                println!("waiter {i}: got {:?} at {:.3} s", v, t0.elapsed().as_secs_f64());
            })
        })
        .collect();
    setter.join();
    joinall(&waiters);
    println!("ready: {} successful: {}", result.ready(), result.successful());

    let failing: AsyncResult<String> = AsyncResult::new();
    let f = failing.clone();
    spawn(move || f.set_error("the backend is down".to_string()));
    println!("error result: {:?} (successful: {})", failing.get(), failing.successful());
}
