//! gevent's documented edge cases of the Rust API (`greenshim::api`), no shim: a timeout that
//! fires while waiting on each primitive, cancelled and nested timeouts, a greenlet killed while
//! waiting, queue bounds 0 and 1, semaphore over-release, a `Local` read from another greenlet,
//! pools, groups and the stream server.
//!
//! Every test body runs on a fresh OS thread, hence on a hub of its own, bounded by a watchdog.
//!
//! ```sh
//! cargo test --release --test api_edges
//! ```

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Read, Write};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use greenshim::api::*;

const MS: Duration = Duration::from_millis(1);

/// Run `f` on a new OS thread (a hub of its own); fail if it takes longer than 20 s.
fn on_fresh_hub(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(());
        r
    });
    if rx.recv_timeout(Duration::from_secs(20)).is_err() {
        panic!("the test body did not finish within 20 s");
    }
    if let Err(p) = t.join().unwrap() {
        std::panic::resume_unwind(p);
    }
}

/// `op` parks forever (nothing will wake it): a 50 ms `Timeout` must end it with `Err` after
/// about 50 ms, and the primitive must still work afterwards (`after`).
fn times_out(what: &str, op: impl FnOnce()) {
    let t0 = Instant::now();
    let r = Timeout::run(50 * MS, op);
    let took = t0.elapsed();
    assert_eq!(r, Err(Elapsed { after: 50 * MS }), "{what}: the timeout did not interrupt it");
    assert!(took >= 50 * MS && took < 2000 * MS, "{what}: interrupted after {took:?}");
}

#[test]
fn timeout_interrupts_a_wait_on_every_primitive() {
    on_fresh_hub(|| {
        let e = Event::new();
        times_out("Event::wait", || e.wait());
        let r: AsyncResult<u32> = AsyncResult::new();
        times_out("AsyncResult::get", || drop(r.get()));
        let q: Queue<u32> = Queue::new();
        times_out("Queue::get", || { let _ = q.get(); });
        let q1 = Queue::bounded(1);
        q1.put(1);
        times_out("Queue::put (full)", || q1.put(2));
        let s = Semaphore::new(0);
        times_out("Semaphore::acquire", || s.acquire());
        let b = BoundedSemaphore::new(1);
        b.acquire();
        times_out("BoundedSemaphore::acquire", || b.acquire());
        let sleeper = spawn(|| sleep(Duration::from_secs(30)));
        times_out("Greenlet::join", || sleeper.join());
        times_out("sleep", || sleep(Duration::from_secs(30)));
        let g = Group::new();
        g.spawn(|| sleep(Duration::from_secs(30)));
        times_out("Group::join", || g.join());
        let jq = JoinableQueue::new();
        jq.put(1);
        times_out("JoinableQueue::join", || jq.join());
        let pool = Pool::new(1);
        pool.spawn(|| sleep(Duration::from_secs(30)));
        times_out("Pool::spawn (full)", || drop(pool.spawn(|| ())));
        assert_eq!(pool.len(), 1, "the timed-out spawn spawned nothing");

        // a cooperative socket read: the peer never writes
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let client = spawn(move || TcpStream::connect(addr).unwrap());
        let (mut server_side, _) = l.accept().unwrap();
        let _client = client.get().unwrap();
        times_out("TcpStream::read", || {
            let mut b = [0u8; 1];
            let _ = server_side.read(&mut b);
        });
        times_out("TcpListener::accept", || drop(l.accept()));

        // the primitives still work: no stale waiter was left behind
        let e2 = e.clone();
        let w = spawn(move || e2.wait_timeout(Duration::from_secs(5)));
        yield_now();
        e.set();
        assert_eq!(w.get(), Ok(true));
        q.put(7);
        assert_eq!(q.get_timeout(MS), Ok(7));
        s.release();
        assert!(s.acquire_timeout(MS));
        sleeper.kill();
        g.kill();
        pool.kill();
    });
}

#[test]
fn own_timeouts_return_errors_not_unwinds() {
    on_fresh_hub(|| {
        let t0 = Instant::now();
        assert!(!Event::new().wait_timeout(30 * MS));
        assert_eq!(AsyncResult::<u8>::new().get_timeout(30 * MS), None);
        assert_eq!(Queue::<u8>::new().get_timeout(30 * MS), Err(Empty));
        let q = Queue::bounded(1);
        q.put_nowait(1).unwrap();
        assert_eq!(q.put_timeout(2, 30 * MS), Err(Full(2)));
        assert!(!Semaphore::new(0).acquire_timeout(30 * MS));
        let g = spawn(|| sleep(Duration::from_secs(30)));
        assert!(!g.join_timeout(30 * MS));
        let took = t0.elapsed();
        assert!(took >= 180 * MS && took < 2000 * MS, "six 30 ms waits took {took:?}");
        g.kill();
        assert!(g.ready() && g.killed());
    });
}

#[test]
fn cancelled_timeout_never_fires() {
    on_fresh_hub(|| {
        let t = Timeout::start(20 * MS);
        assert!(t.pending());
        drop(t);
        sleep(60 * MS); // past the cancelled deadline: not interrupted
        // a run that finished in time leaves nothing armed either
        assert_eq!(Timeout::run(20 * MS, || 5), Ok(5));
        sleep(60 * MS);
        let t = Timeout::start(20 * MS);
        t.cancel();
        let e = Event::new();
        assert!(!e.wait_timeout(60 * MS));
    });
}

#[test]
fn timeout_expired_while_running_is_raised_at_the_next_park() {
    on_fresh_hub(|| {
        let r = Timeout::run(10 * MS, || {
            let t0 = Instant::now();
            while t0.elapsed() < 30 * MS {} // no park: nothing can interrupt this
            yield_now(); // the next switch raises it
            "not reached"
        });
        assert!(r.is_err());
    });
}

#[test]
fn nested_timeouts_the_earliest_fires_and_only_its_owner_catches() {
    on_fresh_hub(|| {
        // outer earlier: the inner block lets it through
        let t0 = Instant::now();
        let r = Timeout::run(40 * MS, || Timeout::run(2000 * MS, || sleep(Duration::from_secs(30))));
        assert_eq!(r, Err(Elapsed { after: 40 * MS }));
        assert!(t0.elapsed() < 1000 * MS);
        // inner earlier: the inner fires, the outer goes on
        let r = Timeout::run(2000 * MS, || {
            let inner = Timeout::run(30 * MS, || sleep(Duration::from_secs(30)));
            sleep(10 * MS);
            inner
        });
        assert_eq!(r, Ok(Err(Elapsed { after: 30 * MS })));
        // custom error value
        #[derive(Debug, PartialEq)]
        struct TooSlow(&'static str);
        assert_eq!(Timeout::run_with(10 * MS, TooSlow("db"), || sleep(Duration::from_secs(30))), Err(TooSlow("db")));
        // the guard form
        let guard = Timeout::start(10 * MS);
        assert_eq!(guard.catch(|| sleep(Duration::from_secs(30))), Err(Elapsed { after: 10 * MS }));
        assert!(!guard.pending());
    });
}

#[test]
fn unhandled_timeout_ends_the_greenlet_with_a_timeout_exception() {
    on_fresh_hub(|| {
        let g = spawn(|| {
            let _t = Timeout::start(10 * MS);
            sleep(Duration::from_secs(30));
        });
        g.join();
        assert!(g.ready() && !g.successful());
        assert_eq!(g.exception().as_deref(), Some("Timeout: timed out after 10ms"));
    });
}

struct SetOnDrop(Rc<Cell<bool>>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn kill_unwinds_a_greenlet_parked_in_each_primitive() {
    on_fresh_hub(|| {
        let e = Event::new();
        let q: Queue<u8> = Queue::new();
        let s = Semaphore::new(0);
        let r: AsyncResult<u8> = AsyncResult::new();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let _peer = spawn(move || TcpStream::connect(addr).unwrap());
        let (conn, _) = l.accept().unwrap();
        let forever = spawn(|| sleep(Duration::from_secs(30)));
        type Op = Box<dyn FnOnce()>;
        let ops: Vec<(&str, Op)> = vec![
            ("event", Box::new({ let e = e.clone(); move || e.wait() })),
            ("queue", Box::new({ let q = q.clone(); move || { let _ = q.get(); } })),
            ("semaphore", Box::new({ let s = s.clone(); move || s.acquire() })),
            ("async result", Box::new({ let r = r.clone(); move || drop(r.get()) })),
            ("sleep", Box::new(|| sleep(Duration::from_secs(30)))),
            ("join", Box::new({ let f = forever.clone(); move || f.join() })),
            ("socket read", Box::new(move || { let mut b = [0u8; 1]; let _ = (&conn).read(&mut b); })),
        ];
        for (what, op) in ops {
            let dropped = Rc::new(Cell::new(false));
            let d = SetOnDrop(dropped.clone());
            let after = Rc::new(Cell::new(false));
            let a2 = after.clone();
            let g = spawn(move || {
                let _d = d;
                op();
                a2.set(true);
            });
            sleep(5 * MS);
            assert!(g.started() && !g.ready(), "{what}: not parked");
            let t0 = Instant::now();
            g.kill();
            assert!(t0.elapsed() < 2000 * MS, "{what}: kill took {:?}", t0.elapsed());
            assert!(g.ready() && g.killed() && g.successful(), "{what}: not killed");
            assert_eq!(g.exception(), None);
            assert!(dropped.get(), "{what}: destructors did not run");
            assert!(!after.get(), "{what}: code after the park ran");
            assert_eq!(g.get(), Err("GreenletExit".to_string()));
        }
        forever.kill();
        // killed before it started: never runs
        let ran = Rc::new(Cell::new(false));
        let r2 = ran.clone();
        let g = spawn(move || r2.set(true));
        g.kill();
        assert!(g.killed() && !ran.get());
        // killing a finished greenlet changes nothing
        let g = spawn(|| 3);
        g.join();
        g.kill();
        assert_eq!(g.value(), Some(3));
    });
}

#[test]
fn a_killed_waiter_passes_its_wakeup_on() {
    on_fresh_hub(|| {
        let q: Queue<u32> = Queue::new();
        let (q1, q2) = (q.clone(), q.clone());
        let g1 = spawn(move || q1.get());
        let g2 = spawn(move || q2.get());
        yield_now(); // both parked in get, g1 first
        q.put(1); // wakes g1 ...
        g1.kill_nowait(); // ... which is killed before it runs
        assert!(g2.join_timeout(Duration::from_secs(2)), "the item's wakeup was lost with g1");
        assert_eq!(g2.get(), Ok(1));
        assert!(g1.killed());
    });
}

#[test]
fn queue_bound_zero_is_unbounded_and_one_blocks_the_second_put() {
    on_fresh_hub(|| {
        let q0 = Queue::bounded(0);
        assert_eq!(q0.maxsize(), None);
        for i in 0..1000 {
            q0.put_nowait(i).unwrap();
        }
        assert_eq!(q0.len(), 1000);

        let q1 = Queue::bounded(1);
        q1.put_nowait('a').unwrap();
        assert!(q1.is_full());
        assert_eq!(q1.put_nowait('b'), Err(Full('b')));
        let q = q1.clone();
        let putter = spawn(move || {
            q.put('b'); // parks until 'a' is taken
            Instant::now()
        });
        sleep(20 * MS);
        assert!(!putter.ready(), "put on a full queue of 1 did not park");
        let taken = Instant::now();
        assert_eq!(q1.get(), 'a');
        let put_at = putter.get().unwrap();
        assert!(put_at >= taken);
        assert_eq!(q1.get_nowait(), Ok('b'));
        assert_eq!(q1.get_nowait(), Err(Empty));
    });
}

#[test]
fn consumers_get_distinct_items_fifo() {
    on_fresh_hub(|| {
        let q = Queue::new();
        let got = Rc::new(RefCell::new(Vec::new()));
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let (q, got) = (q.clone(), got.clone());
                spawn(move || {
                    while let Ok(v) = q.get_timeout(50 * MS) {
                        got.borrow_mut().push((w, v));
                        sleep(MS);
                    }
                })
            })
            .collect();
        for i in 0..30 {
            q.put(i);
        }
        joinall(&workers);
        let mut items: Vec<u32> = got.borrow().iter().map(|&(_, v)| v).collect();
        items.sort();
        assert_eq!(items, (0..30).collect::<Vec<_>>());
        for w in 0..3 {
            assert!(got.borrow().iter().any(|&(x, _)| x == w), "worker {w} got nothing");
        }
    });
}

#[test]
fn joinable_queue_join_waits_for_task_done() {
    on_fresh_hub(|| {
        let q = JoinableQueue::new();
        let done = Rc::new(Cell::new(0));
        for i in 0..5 {
            q.put(i);
        }
        let (q2, d2) = (q.clone(), done.clone());
        let w = spawn(move || loop {
            let _ = q2.get();
            sleep(2 * MS);
            d2.set(d2.get() + 1);
            q2.task_done().unwrap();
        });
        assert!(!q.join_timeout(MS));
        q.join();
        assert_eq!(done.get(), 5);
        assert!(q.task_done().is_err(), "task_done below zero is an error");
        w.kill();
    });
}

#[test]
fn semaphore_over_release_and_guards() {
    on_fresh_hub(|| {
        let b = BoundedSemaphore::new(2);
        assert_eq!(b.release(), Err(OverRelease));
        assert_eq!(b.counter(), 2);
        {
            let _g1 = b.guard();
            let _g2 = b.guard();
            assert!(b.locked() && !b.try_acquire());
            assert!(b.guard_timeout(10 * MS).is_none());
        }
        assert_eq!(b.counter(), 2);
        let s = Semaphore::new(1);
        s.release(); // a plain semaphore may go above its initial value, as in gevent
        assert_eq!(s.counter(), 2);

        // at most two holders at once
        let sem = BoundedSemaphore::new(2);
        let (now, max) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let gs: Vec<_> = (0..6)
            .map(|_| {
                let (sem, now, max) = (sem.clone(), now.clone(), max.clone());
                spawn(move || {
                    let _g = sem.guard();
                    now.set(now.get() + 1);
                    max.set(max.get().max(now.get()));
                    sleep(5 * MS);
                    now.set(now.get() - 1);
                })
            })
            .collect();
        joinall(&gs);
        assert_eq!(max.get(), 2);
    });
}

#[test]
fn local_values_are_absent_in_other_greenlets() {
    on_fresh_hub(|| {
        let l = Rc::new(Local::new());
        l.set(String::from("main"));
        let (l1, l2) = (l.clone(), l.clone());
        let a = spawn(move || {
            let seen = l1.get();
            l1.set("a".to_string());
            sleep(5 * MS);
            (seen, l1.get())
        });
        let b = spawn(move || {
            l2.set("b".to_string());
            sleep(5 * MS);
            l2.with(|v| v.cloned())
        });
        assert_eq!(a.get(), Ok((None, Some("a".to_string()))));
        assert_eq!(b.get(), Ok(Some("b".to_string())));
        assert_eq!(l.get(), Some("main".to_string()));
        assert_eq!(l.take(), Some("main".to_string()));
        assert!(!l.is_set());
    });
}

#[test]
fn pool_parks_the_spawner_while_full_and_group_kills_all() {
    on_fresh_hub(|| {
        let p = Pool::new(3);
        let (now, max) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let t0 = Instant::now();
        for _ in 0..9 {
            let (now, max) = (now.clone(), max.clone());
            p.spawn(move || {
                now.set(now.get() + 1);
                max.set(max.get().max(now.get()));
                sleep(20 * MS);
                now.set(now.get() - 1);
            });
            assert!(p.len() <= 3);
        }
        p.join();
        let took = t0.elapsed();
        assert_eq!(max.get(), 3);
        assert!(took >= 60 * MS && took < 2000 * MS, "9 jobs of 20 ms in a pool of 3 took {took:?}");

        let g = Group::new();
        let members: Vec<_> = (0..4).map(|_| g.spawn(|| sleep(Duration::from_secs(30)))).collect();
        assert!(!g.join_timeout(10 * MS));
        g.kill();
        assert!(members.iter().all(|m| m.killed()));
        assert!(g.is_empty());
        let r = joinall_timeout(&[spawn(|| ()), spawn(|| sleep(Duration::from_secs(30)))], 20 * MS);
        assert_eq!(r, vec![0]);
    });
}

#[test]
fn stream_server_serves_clients_concurrently_and_stops() {
    on_fresh_hub(|| {
        let (now, max) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let (n2, m2) = (now.clone(), max.clone());
        let server = Rc::new(
            StreamServer::bind("127.0.0.1:0", move |s, _| {
                n2.set(n2.get() + 1);
                m2.set(m2.get().max(n2.get()));
                let mut w = &s;
                for line in BufReader::new(&s).lines() {
                    let line = line.unwrap();
                    sleep(20 * MS); // a slow backend
                    writeln!(w, "echo {line}").unwrap();
                }
                n2.set(n2.get() - 1);
            })
            .unwrap()
            .with_pool(10),
        );
        let addr = server.local_addr().unwrap();
        server.start();
        let t0 = Instant::now();
        let clients: Vec<_> = (0..5)
            .map(|i| {
                spawn(move || {
                    let s = TcpStream::connect(addr).unwrap();
                    let mut w = &s;
                    let mut r = BufReader::new(&s);
                    let mut out = Vec::new();
                    for k in 0..3 {
                        writeln!(w, "{i}.{k}").unwrap();
                        let mut l = String::new();
                        r.read_line(&mut l).unwrap();
                        out.push(l.trim().to_string());
                    }
                    out
                })
            })
            .collect();
        for (i, c) in clients.into_iter().enumerate() {
            assert_eq!(c.get().unwrap(), (0..3).map(|k| format!("echo {i}.{k}")).collect::<Vec<_>>());
        }
        let took = t0.elapsed();
        assert_eq!(max.get(), 5, "the five clients were not served at once");
        assert!(took < 2000 * MS, "5 clients x 3 lines x 20 ms took {took:?}");
        assert!(server.started());
        server.stop();
        assert!(!server.started());
        assert!(server.local_addr().is_err());
        let e = TcpStream::connect(addr).err().expect("the listening socket was closed by stop");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        assert_eq!(server.active(), 0);
    });
}

/// Natively the API installs its own hub on the test body's thread; run under the launcher by
/// `tests/api_under_shim.rs` (which sets `API_EDGES_EXPECT_SHIM_HUB=1`) it must use the shim's,
/// where an API greenlet is a pthread of the shim.
#[test]
fn the_hub_is_the_shims_exactly_when_preloaded() {
    let expect_shim = std::env::var_os("API_EDGES_EXPECT_SHIM_HUB").is_some();
    on_fresh_hub(move || {
        assert_eq!(greenshim::api::rt::on_shim_hub(), expect_shim);
        // SAFETY: pthread_self has no preconditions.
        let same = spawn(|| current_id() == unsafe { libc::pthread_self() } as u64).get().unwrap();
        assert_eq!(same, expect_shim, "an API greenlet is a pthread of the shim exactly under the shim");
        assert_eq!(greenshim::hub::current_hub().is_null(), expect_shim, "a second hub was installed under the shim");
    });
}

/// gevent raises `LoopExit` in the main greenlet when it waits and nothing can ever wake it;
/// without the shim so does the API (a panic "LoopExit: ..." from the blocking call), instead
/// of a hang. Under the shim the shim's deadlock report applies instead (it keeps waiting, as
/// the program would natively): skipped there.
#[test]
fn main_waiting_forever_gets_loop_exit_not_a_hang() {
    if std::env::var_os("API_EDGES_EXPECT_SHIM_HUB").is_some() {
        return;
    }
    on_fresh_hub(|| {
        let e = Event::new();
        let e2 = e.clone();
        let other = spawn(move || e2.wait()); // waits too: nobody will ever set it
        let t0 = Instant::now();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.wait()));
        let msg = r.err().map(|p| match p.downcast_ref::<&str>() {
            Some(s) => s.to_string(),
            None => p.downcast_ref::<String>().cloned().unwrap_or_default(),
        });
        assert!(msg.as_deref().is_some_and(|m| m.starts_with("LoopExit")), "{msg:?}");
        assert!(t0.elapsed() < Duration::from_secs(1));
        // the hub is usable afterwards; the other waiter is still there
        assert!(!other.ready());
        e.set();
        other.join();
        // a stall with a timer pending is no stall: the timer ends it
        assert!(!Event::new().wait_timeout(20 * MS));
    });
}

/// `serve_forever` in a greenlet of its own returns once a handler calls `stop` (a member of
/// the server's group stopping it: it is neither joined nor killed by itself); the pool bounds
/// the connections served at once.
#[test]
fn serve_forever_returns_after_a_handler_stops_the_server() {
    on_fresh_hub(|| {
        let slot: Rc<RefCell<Option<Rc<StreamServer>>>> = Rc::new(RefCell::new(None));
        let (now, max) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let (s2, n2, m2) = (slot.clone(), now.clone(), max.clone());
        let server = Rc::new(
            StreamServer::bind("127.0.0.1:0", move |s, _| {
                n2.set(n2.get() + 1);
                m2.set(m2.get().max(n2.get()));
                let mut line = String::new();
                let _ = BufReader::new(&s).read_line(&mut line);
                if line.trim() == "stop" {
                    let srv = s2.borrow().clone();
                    if let Some(srv) = srv {
                        srv.stop();
                    }
                } else {
                    sleep(20 * MS);
                    let _ = (&s).write_all(b"ok\n");
                }
                n2.set(n2.get() - 1);
            })
            .unwrap()
            .with_pool(2),
        );
        *slot.borrow_mut() = Some(server.clone());
        let addr = server.local_addr().unwrap();
        let srv = server.clone();
        let serving = spawn(move || srv.serve_forever());
        let clients: Vec<_> = (0..6)
            .map(|_| {
                spawn(move || {
                    let s = TcpStream::connect(addr).unwrap();
                    (&s).write_all(b"hi\n").unwrap();
                    let mut l = String::new();
                    BufReader::new(&s).read_line(&mut l).unwrap();
                    l
                })
            })
            .collect();
        for c in clients {
            assert_eq!(c.get().unwrap(), "ok\n");
        }
        assert_eq!(max.get(), 2, "the pool of 2 did not bound the handlers");
        assert!(!serving.ready());
        let stopper = TcpStream::connect(addr).unwrap();
        (&stopper).write_all(b"stop\n").unwrap();
        assert!(serving.join_timeout(Duration::from_secs(5)), "serve_forever did not return after stop");
        assert!(serving.successful() && !server.started());
        slot.borrow_mut().take(); // the handler's reference cycle
    });
}

/// gevent's `Channel` (what `Queue(0)` was before gevent 1.0): a put parks until a getter took
/// its item; items go in put order; a putter that leaves first withdraws its item.
#[test]
fn channel_put_waits_for_a_getter_and_withdraws_when_interrupted() {
    on_fresh_hub(|| {
        let ch: Channel<u32> = Channel::new();
        assert_eq!(ch.put_nowait(1), Err(Full(1)), "no getter waits");
        assert_eq!(ch.get_nowait(), Err(Empty));
        let putters: Vec<_> = (1..=3)
            .map(|i| {
                let ch = ch.clone();
                spawn(move || ch.put(i))
            })
            .collect();
        sleep(10 * MS);
        assert!(putters.iter().all(|p| !p.ready()), "a put returned with nobody getting");
        assert_eq!(ch.balance(), 3);
        assert_eq!((ch.get(), ch.get()), (1, 2));
        sleep(MS);
        assert!(putters[0].ready() && putters[1].ready() && !putters[2].ready());
        assert_eq!(ch.get_timeout(MS), Ok(3));
        joinall(&putters);

        // a waiting getter makes put_nowait succeed
        let ch2 = ch.clone();
        let getter = spawn(move || ch2.get());
        yield_now();
        assert_eq!(ch.put_nowait(7), Ok(()));
        assert_eq!(getter.get(), Ok(7));

        // timed out: the item comes back and is gone from the channel
        let t0 = Instant::now();
        assert_eq!(ch.put_timeout(8, 30 * MS), Err(Full(8)));
        assert!(t0.elapsed() >= 30 * MS);
        assert_eq!(ch.balance(), 0);
        // a Timeout scope or a kill withdraws it too
        times_out("Channel::put", || ch.put(9));
        assert_eq!(ch.balance(), 0);
        let ch3 = ch.clone();
        let p = spawn(move || ch3.put(10));
        yield_now();
        assert_eq!(ch.balance(), 1);
        p.kill();
        assert_eq!(ch.balance(), 0);
        assert_eq!(ch.get_timeout(10 * MS), Err(Empty));
        times_out("Channel::get", || {
            let _ = ch.get();
        });
    });
}

#[test]
fn event_set_then_cleared_still_wakes_the_waiters_it_found() {
    on_fresh_hub(|| {
        let e = Event::new();
        let ws: Vec<_> = (0..3)
            .map(|_| {
                let e = e.clone();
                spawn(move || e.wait_timeout(2000 * MS))
            })
            .collect();
        sleep(5 * MS); // every waiter parks
        e.set();
        e.clear(); // before any woken waiter runs: gevent still returns true to them
        for w in ws {
            assert_eq!(w.get(), Ok(true));
        }
        // A waiter that starts after the clear waits again (and times out).
        assert!(!e.wait_timeout(20 * MS));
    });
}
