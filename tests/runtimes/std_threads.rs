//! Rust std as a program uses it, with no greenshim dependency: std::thread (names, join,
//! park/unpark), thread_local! with destructors, Mutex held across a blocking socket read while
//! others contend, Condvar, Barrier, RwLock, mpsc (async and rendezvous). Order-independent
//! output on stdout; the OS thread count while threads are alive on stderr.
use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Barrier, Condvar, Mutex, RwLock};
use std::thread;

thread_local! { static LOCAL: RefCell<Vec<u32>> = RefCell::new(Vec::new()); }
struct Noisy(u32);
impl Drop for Noisy { fn drop(&mut self) { DROPS.lock().unwrap().push(self.0); } }
thread_local! { static NOISY: RefCell<Option<Noisy>> = RefCell::new(None); }
static DROPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn main() {
    // thread_local per thread
    let hs: Vec<_> = (0..8u32).map(|i| thread::spawn(move || {
        for k in 0..100 { LOCAL.with(|l| l.borrow_mut().push(i * 1000 + k)); if k % 10 == 0 { thread::yield_now(); } }
        NOISY.with(|n| *n.borrow_mut() = Some(Noisy(i)));
        LOCAL.with(|l| l.borrow().iter().map(|&v| v as u64).sum::<u64>())
    })).collect();
    let sums: Vec<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    println!("tls sums {:?}", sums);
    let mut d = DROPS.lock().unwrap().clone(); d.sort();
    println!("tls dtors {:?}", d);
    println!("names {:?}", thread::Builder::new().name("worker".into()).spawn(|| thread::current().name().map(String::from)).unwrap().join().unwrap());
    // Mutex held across blocking read, contended
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let m = Arc::new(Mutex::new(0u64));
    let m2 = m.clone();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut g = m2.lock().unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap(); // blocks while holding the lock
        *g += buf.iter().map(|&b| b as u64).sum::<u64>();
        s.write_all(b"ok").unwrap();
    });
    let contenders: Vec<_> = (0..4).map(|_| { let m = m.clone(); thread::spawn(move || { thread::sleep(std::time::Duration::from_millis(20)); *m.lock().unwrap() += 1; }) }).collect();
    let mut c = TcpStream::connect(addr).unwrap();
    thread::sleep(std::time::Duration::from_millis(50));
    c.write_all(b"hello").unwrap();
    let mut r = [0u8; 2]; c.read_exact(&mut r).unwrap();
    server.join().unwrap(); for t in contenders { t.join().unwrap(); }
    println!("mutex {} reply {}", *m.lock().unwrap(), String::from_utf8_lossy(&r));
    // Condvar + Barrier + RwLock + mpsc
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p2 = pair.clone();
    let t = thread::spawn(move || { let (l, c) = &*p2; let mut g = l.lock().unwrap(); while !*g { g = c.wait(g).unwrap(); } "woken" });
    thread::sleep(std::time::Duration::from_millis(10));
    { let (l, c) = &*pair; *l.lock().unwrap() = true; c.notify_all(); }
    println!("condvar {}", t.join().unwrap());
    let b = Arc::new(Barrier::new(5));
    let rw = Arc::new(RwLock::new(0));
    let ts: Vec<_> = (0..5).map(|i| { let b = b.clone(); let rw = rw.clone(); thread::spawn(move || { *rw.write().unwrap() += i; let leader = b.wait().is_leader(); if leader { eprintln!("{}", threads_line()); } let v = *rw.read().unwrap(); (leader, v) }) }).collect();
    let res: Vec<_> = ts.into_iter().map(|t| t.join().unwrap()).collect();
    println!("barrier leaders {} values {:?}", res.iter().filter(|r| r.0).count(), res.iter().map(|r| r.1).collect::<Vec<_>>());
    let (tx, rx) = mpsc::channel();
    let ps: Vec<_> = (0..4).map(|i| { let tx = tx.clone(); thread::spawn(move || for k in 0..250 { tx.send(i * 1000 + k).unwrap(); }) }).collect();
    drop(tx);
    let total: u64 = rx.iter().map(|v: u64| v).sum();
    for p in ps { p.join().unwrap(); }
    let (stx, srx) = mpsc::sync_channel(0);
    let p = thread::spawn(move || { for i in 0..10 { stx.send(i).unwrap(); } });
    let s: i32 = srx.iter().sum(); p.join().unwrap();
    println!("mpsc {} sync {}", total, s);
    // park/unpark
    let main = thread::current();
    let t = thread::spawn(move || { thread::sleep(std::time::Duration::from_millis(10)); main.unpark(); });
    thread::park(); t.join().unwrap();
    println!("parked and unparked");
}

fn threads_line() -> String {
    std::fs::read_to_string("/proc/self/status").unwrap().lines().find(|l| l.starts_with("Threads:")).unwrap().to_string()
}
