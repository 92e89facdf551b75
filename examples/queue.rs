//! gevent tutorial, "Queues": a boss puts 24 tasks, three workers take them (each task goes to
//! exactly one worker); then a bounded queue of 3 where the boss's `put` blocks until workers
//! make room and workers give up after 1 s without work; then `put_nowait`/`get_nowait`
//! reporting `Full`/`Empty`; a `Channel` whose `put` waits for its getter.

use std::time::{Duration, Instant};

use greenshim::api::{joinall, sleep, spawn, Channel, Empty, Full, Queue};

fn main() {
    // --- unbounded: the boss fills the queue first
    let tasks = Queue::new();
    let boss = {
        let q = tasks.clone();
        spawn(move || (1..=24).for_each(|i| q.put(i)))
    };
    boss.join();
    let workers: Vec<_> = ["steve", "john", "nancy"]
        .into_iter()
        .map(|name| {
            let q = tasks.clone();
            spawn(move || {
                while let Ok(task) = q.get_nowait() {
                    println!("worker {name} got task {task}");
                    sleep(Duration::ZERO);
                }
                println!("worker {name}: quitting time");
            })
        })
        .collect();
    joinall(&workers);

    // --- bounded to 3: the boss's put blocks until a worker takes one
    let t0 = Instant::now();
    let q = Queue::bounded(3);
    let q2 = q.clone();
    let boss = spawn(move || {
        for i in 1..=10 {
            q2.put(i);
        }
        println!("boss: all 10 put (the queue never held more than {})", q2.maxsize().unwrap());
    });
    let workers: Vec<_> = ["steve", "john", "bob"]
        .into_iter()
        .map(|name| {
            let q = q.clone();
            spawn(move || {
                while let Ok(task) = q.get_timeout(Duration::from_secs(1)) {
                    assert!(q.len() <= 3);
                    println!("bounded: worker {name} got task {task}");
                    sleep(Duration::from_millis(100));
                }
                println!("bounded: worker {name} waited 1 s for work: quitting");
            })
        })
        .collect();
    boss.join();
    joinall(&workers);
    println!("bounded: took {:.1} s", t0.elapsed().as_secs_f64());

    // --- non-blocking calls
    let q = Queue::bounded(1);
    println!("put_nowait(1): {:?}", q.put_nowait(1));
    println!("put_nowait(2): {:?}", q.put_nowait(2).map_err(|Full(v)| format!("Full, {v} handed back")));
    println!("get_nowait: {:?}", q.get_nowait());
    println!("get_nowait: {:?}", q.get_nowait().map_err(|Empty| "Empty"));
    println!("Queue::bounded(0) is unbounded, as in gevent: maxsize {:?}", Queue::<u8>::bounded(0).maxsize());

    // --- a channel (gevent's Channel, a queue of size zero): put waits for the getter
    let ch = Channel::new();
    let c2 = ch.clone();
    let getter = spawn(move || {
        sleep(Duration::from_millis(50));
        c2.get()
    });
    let t1 = Instant::now();
    ch.put("hand-over");
    println!("channel: put returned after {} ms, when the getter took it", t1.elapsed().as_millis());
    println!("channel: the getter got {:?}", getter.get());
}
