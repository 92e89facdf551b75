//! gevent tutorial, "Locks and Semaphores": six workers share a `BoundedSemaphore(2)`: at most
//! two hold it at once. Releasing it once too often is an error. With a count of 1 it is a lock.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use greenshim::api::{joinall, sleep, spawn, BoundedSemaphore};

fn run(count: usize) -> usize {
    let sem = BoundedSemaphore::new(count);
    let (now, max) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let workers: Vec<_> = (0..6)
        .map(|i| {
            let (sem, now, max) = (sem.clone(), now.clone(), max.clone());
            spawn(move || {
                let _held = sem.guard();
                now.set(now.get() + 1);
                max.set(max.get().max(now.get()));
                println!("semaphore({count}): worker {i} acquired ({} holding)", now.get());
                sleep(Duration::from_millis(50));
                now.set(now.get() - 1);
                println!("semaphore({count}): worker {i} released");
            })
        })
        .collect();
    joinall(&workers);
    max.get()
}

fn main() {
    println!("max holders at once with BoundedSemaphore(2): {}", run(2));
    println!("max holders at once with BoundedSemaphore(1): {} (a lock)", run(1));
    let sem = BoundedSemaphore::new(2);
    sem.acquire();
    println!("release after acquire: {:?}", sem.release());
    println!("one release too many: {:?} (counter stays {})", sem.release().map_err(|e| e.to_string()), sem.counter());
}
