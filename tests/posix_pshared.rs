//! Process-shared objects between greenlets: PTHREAD_PROCESS_SHARED mutexes (plain, recursive,
//! errorcheck, robust), condition variables, rwlocks and barriers, sem_init(pshared=1) and
//! sem_open semaphores in MAP_SHARED memory, between threads and with a forked child. The C
//! program runs natively and under the preload library; the outputs must be the same (native is
//! the specification), and under the shim it runs on one OS thread.
//!
//! Run `cargo build --release` first (the preload library is another package's cdylib).

mod common;

use common::{compile, run_native, run_shim, Output};

fn ok(o: &Output) {
    assert_eq!(o.code(), Some(0), "run failed\n{}", o.describe());
}

/// The `threads=N` line the program writes to stderr while section 1's threads are alive.
fn threads(o: &Output) -> i64 {
    common::value(&o.stderr, "threads").unwrap_or_else(|| panic!("no threads= line\n{}", o.describe()))
}

/// Every section's results as natively; the previous build blocks the OS thread in the kernel
/// at the first contended lock (the holder greenlet never runs again) and is killed by the
/// program's alarm. Under the shim one OS thread does it all, and a thread that ticks keeps
/// ticking while another waits for the forked child to release the mutex and rwlock, post the
/// semaphores, broadcast the condition and meet the barrier.
#[test]
fn pshared_objects_match_native() {
    let bin = compile("posix_pshared");
    let n = run_native(&bin, &[]);
    ok(&n);
    assert!(threads(&n) > 1, "natively the threads are real\n{}", n.describe());
    let s = run_shim(&bin, &[], &[]);
    ok(&s);
    assert!(s.greenshim_lines().is_empty(), "unexpected greenshim messages\n{}", s.describe());
    assert_eq!(s.stdout, n.stdout, "stdout differs from native\nnative:\n{}\nshim:\n{}", n.describe(), s.describe());
    assert_eq!(threads(&s), common::expected_os_threads(), "{}", s.describe());
    let o = &s.stdout;
    for line in [
        "mutex: counter=2500 overlaps=0",
        "rec other: trylock while held: EBUSY",
        "rec other: unlock not owner: EPERM",
        "rec other: lock=0 after release=1",
        "ec: relock: EDEADLK",
        "ec other: timedlock while held: ETIMEDOUT",
        "robust other: unlock not owner: EPERM",
        "cond: woken after 2 signals=2",
        "cond: woken after broadcast=4 tokens=0",
        "barrier: serial per round 1 1 1",
        "rw reader: rdlock=0 after release=1",
        "sem waiter: wait=0 after post=1",
        "cross mutex: ticker ran during the wait=yes",
        "cross rwlock: ticker ran during the wait=yes",
        "cross sem: ticker ran during the wait=yes",
        "cross named sem: ticker ran during the wait=yes",
        "cross cond: ticker ran during the wait=yes",
        "cross barrier: ticker ran during the wait=yes",
        "child: exited=1 status=0",
    ] {
        assert!(o.contains(line), "missing {line:?}\n{}", s.describe());
    }
    assert!(o.ends_with("done\n"), "{}", s.describe());
}
