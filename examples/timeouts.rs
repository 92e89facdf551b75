//! gevent tutorial, "Timeouts": a scoped `Timeout` around a blocking call, `joinall` with a
//! timeout (which greenlets finished), a `Timeout` guard for the rest of a greenlet, a custom
//! error value, and timeouts on `AsyncResult::get` and a queue.

use std::time::{Duration, Instant};

use greenshim::api::{joinall_timeout, sleep, spawn, AsyncResult, Queue, Timeout};

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[derive(Debug)]
struct TooLong;

fn main() {
    let t0 = Instant::now();
    // with Timeout(0.3): gevent.sleep(10)
    match Timeout::run(Duration::from_millis(300), || sleep(Duration::from_secs(10))) {
        Ok(()) => println!("scoped: completed"),
        Err(e) => println!("scoped: could not complete: {e} (after {} ms)", ms(t0.elapsed())),
    }

    // the tutorial's "global" timeout: Timeout(0.2).start() in main, then join a greenlet that
    // sleeps 10 s; the join is interrupted
    let t5 = Instant::now();
    let timeout = Timeout::start(Duration::from_millis(200));
    let sleeper = spawn(|| sleep(Duration::from_secs(10)));
    match timeout.catch(|| sleeper.join()) {
        Ok(()) => println!("global: completed"),
        Err(_) => println!("global: could not complete (join interrupted after {} ms)", ms(t5.elapsed())),
    }
    drop(timeout);
    sleeper.kill();

    // joinall with a timeout: three greenlets sleeping 0.1, 0.2 and 2 s, joined for 0.5 s
    let t1 = Instant::now();
    let gs: Vec<_> = [100u64, 200, 2000].iter().map(|&d| spawn(move || sleep(Duration::from_millis(d)))).collect();
    let done = joinall_timeout(&gs, Duration::from_millis(500));
    println!("joinall_timeout: finished {:?} of 3 after {} ms", done, ms(t1.elapsed()));
    gs[2].kill();

    // a guard for the rest of a greenlet: gevent's Timeout(0.2).start()
    let t2 = Instant::now();
    let g = spawn(|| {
        let _deadline = Timeout::start(Duration::from_millis(200));
        sleep(Duration::from_millis(50));
        sleep(Duration::from_secs(10)); // interrupted here
    });
    g.join();
    println!("guard: greenlet ended with {:?} after {} ms", g.exception(), ms(t2.elapsed()));

    // a custom error in place of Timeout: gevent's Timeout(0.1, TooLong)
    let t3 = Instant::now();
    let r = Timeout::run_with(Duration::from_millis(100), TooLong, || sleep(Duration::from_secs(10)));
    println!("custom error: {:?} after {} ms", r, ms(t3.elapsed()));

    // a cancelled timeout never fires
    let t = Timeout::start(Duration::from_millis(50));
    drop(t);
    sleep(Duration::from_millis(100));
    println!("cancelled: slept 100 ms past a cancelled 50 ms timeout");

    // timeouts of the primitives themselves
    let r: AsyncResult<u32> = AsyncResult::new();
    let t4 = Instant::now();
    println!("AsyncResult::get_timeout: {:?} after {} ms", r.get_timeout(Duration::from_millis(100)), ms(t4.elapsed()));
    let q: Queue<u32> = Queue::new();
    println!("Queue::get_timeout: {:?}", q.get_timeout(Duration::from_millis(50)));
}
