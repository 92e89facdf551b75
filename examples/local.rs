//! gevent tutorial, "Thread Locals" (`gevent.local`): each greenlet sees only what it stored.
//! gevent raises `AttributeError` when a greenlet reads what another one set; in Rust the value
//! is simply absent there (`None`).

use std::rc::Rc;

use greenshim::api::{joinall, spawn, Local};

fn main() {
    let x: Rc<Local<u32>> = Rc::new(Local::new());
    let y: Rc<Local<u32>> = Rc::new(Local::new());
    let (x1, y1) = (x.clone(), y.clone());
    let f1 = spawn(move || {
        x1.set(1);
        greenshim::api::yield_now(); // let f2 store its y meanwhile
        println!("f1: x = {:?}", x1.get());
        println!("f1: y = {:?} (set by f2 only: absent here)", y1.get());
    });
    let (x2, y2) = (x.clone(), y.clone());
    let f2 = spawn(move || {
        y2.set(2);
        greenshim::api::yield_now();
        println!("f2: y = {:?}", y2.get());
        println!("f2: x = {:?} (set by f1 only: absent here)", x2.get());
    });
    joinall(&[f1, f2]);
    println!("main: x = {:?}, y = {:?}", x.get(), y.get());
}
