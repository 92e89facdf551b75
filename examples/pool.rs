//! gevent tutorial, "Groups and Pools": a `Group` joins greenlets of different lengths together;
//! a `Pool(2)` runs six 100 ms jobs at most two at a time (the spawner parks while it is full),
//! so they take about 300 ms; `map` collects results in order; `kill` ends a whole group.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenshim::api::{sleep, Group, Pool};

fn main() {
    let t0 = Instant::now();
    let group = Group::new();
    for (name, ms) in [("talk", 30u64), ("listen", 10), ("think", 20)] {
        group.spawn(move || {
            sleep(Duration::from_millis(ms));
            println!("group: {name} done");
        });
    }
    println!("group: {} running", group.len());
    group.join();
    println!("group: all joined after {} ms", t0.elapsed().as_millis());

    let pool = Pool::new(2);
    let (now, max) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let t1 = Instant::now();
    for job in 1..=6 {
        let (now, max) = (now.clone(), max.clone());
        pool.spawn(move || {
            now.set(now.get() + 1);
            max.set(max.get().max(now.get()));
            println!("pool: job {job} started at {} ms ({} running)", t1.elapsed().as_millis() / 10 * 10, now.get());
            sleep(Duration::from_millis(100));
            now.set(now.get() - 1);
        });
    }
    pool.join();
    println!("pool: six 100 ms jobs in a pool of 2 took {} ms, at most {} at once", t1.elapsed().as_millis(), max.get());

    println!("map: {:?}", Pool::new(3).map(1..=6, |x: u32| {
        sleep(Duration::from_millis(10 * (6 - x as u64))); // finish in reverse order
        x * x
    }));

    let doomed = Group::new();
    let members: Vec<_> = (0..3).map(|_| doomed.spawn(|| sleep(Duration::from_secs(60)))).collect();
    sleep(Duration::from_millis(10));
    doomed.kill();
    println!("kill: {} of 3 killed, {} left", members.iter().filter(|g| g.killed()).count(), doomed.len());
}
