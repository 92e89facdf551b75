//! Greenlet-aware synchronisation (issue 4): C programs of `tests/c/sync_*.c` and a CPython
//! threading script, run natively and under the preload library; every run bounded in time.
//!
//! Run `cargo build --release` first (the preload library is another package's cdylib).

mod common;

use std::path::Path;

use common::{compile, native_command, run, run_launcher, run_native, run_shim, shim_command, Output};

fn ok(o: &Output) {
    assert_eq!(o.code(), Some(0), "run failed\n{}", o.describe());
}

fn no_greenshim_lines(o: &Output) {
    assert!(o.greenshim_lines().is_empty(), "unexpected greenshim messages\n{}", o.describe());
}

fn bounded(mode: &str) {
    let bin = compile("sync_bounded");
    let o = run_shim(&bin, &[mode, "50", "50", "1000000"], &[]);
    ok(&o);
    no_greenshim_lines(&o);
    let expected = format!(
        "mode={mode} produced=1000000 consumed=1000000 sum=500000500000 expected_sum=500000500000\n{}slots=64 items=0\n",
        common::os_threads_line("threads")
    );
    assert_eq!(o.stdout, expected, "{}", o.describe());
    // The same program natively: the same counts (and more than one OS thread).
    let n = run_native(&bin, &[mode, "50", "50", "1000000"]);
    ok(&n);
    assert_eq!(n.stdout.lines().next(), expected.lines().next(), "{}", n.describe());
}

#[test]
fn bounded_buffer_mutex_and_two_conds() {
    bounded("cond");
}

#[test]
fn bounded_buffer_semaphores() {
    bounded("sem");
}

/// Every timed wait times out (ETIMEDOUT) within a few ms of its deadline, on both clocks.
#[test]
fn timed_waits_time_out_on_time() {
    let bin = compile("sync_timed");
    let o = run_shim(&bin, &[], &[]);
    ok(&o);
    no_greenshim_lines(&o);
    let mut names = Vec::new();
    for line in o.stdout.lines() {
        if line.starts_with("mutex_after_release") {
            assert_eq!(line, "mutex_after_release rc=0", "{}", o.describe());
            continue;
        }
        let mut it = line.split_whitespace();
        let name = it.next().unwrap();
        let rc = it.next().unwrap();
        let late: i64 = it.next().unwrap().trim_start_matches("late_us=").parse().unwrap();
        assert_eq!(rc, "rc=110", "{name} did not time out\n{}", o.describe());
        assert!((0..20000).contains(&late), "{name} returned {late} us after its deadline\n{}", o.describe());
        names.push(name.to_string());
    }
    for kind in ["cond_timedwait", "cond_clockwait", "mutex_", "sem_", "rwlock_rd", "rwlock_wr"] {
        for clock in ["realtime", "monotonic"] {
            assert!(
                names.iter().any(|n| n.starts_with(kind) && n.ends_with(clock)),
                "no {kind} on {clock}\n{}",
                o.describe()
            );
        }
    }
    assert_eq!(names.len(), 14, "{}", o.describe());
    // Natively the same waits give the same codes.
    let n = run_native(&bin, &[]);
    ok(&n);
    let codes = |s: &str| s.lines().map(|l| l.split(" late_us").next().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(codes(&o.stdout), codes(&n.stdout));
}

fn same_as_native(name: &str, args: &[&str]) -> Output {
    let bin = compile(name);
    let n = run_native(&bin, args);
    let o = run_shim(&bin, args, &[]);
    assert_eq!(o.code(), n.code(), "exit status differs\nnative:\n{}\nshim:\n{}", n.describe(), o.describe());
    assert_eq!(o.stdout, n.stdout, "output differs\nnative:\n{}\nshim:\n{}", n.describe(), o.describe());
    no_greenshim_lines(&o);
    o
}

/// NORMAL, ERRORCHECK and RECURSIVE mutexes (and rwlock, cond, sem, barrier, spin, key edge
/// cases) return what glibc returns.
#[test]
fn error_codes_match_native() {
    let o = same_as_native("sync_errors", &[]);
    assert!(o.stdout.contains("errorcheck: lock again"), "{}", o.describe());
    assert!(o.stdout.lines().any(|l| l.starts_with("errorcheck: lock again") && l.ends_with("Resource deadlock avoided")));
    assert!(o.stdout.lines().any(|l| l.starts_with("errorcheck: unlock again") && l.ends_with("Operation not permitted")));
}

/// Key destructors run for each thread that set a value, exactly as often as natively
/// (including re-set values for up to 4 rounds, pthread_exit, and main's pthread_exit).
#[test]
fn key_destructors_match_native() {
    let o = same_as_native("sync_keys", &[]);
    assert!(o.stdout.contains("k1 destructor calls=9 sum=49"), "{}", o.describe());
    assert!(o.stdout.contains("re-setting destructor calls=4"), "{}", o.describe());
    assert!(o.stdout.contains("main destructor ran with 42"), "{}", o.describe());
}

#[test]
fn once_with_concurrent_callers() {
    let o = same_as_native("sync_once", &[]);
    assert_eq!(o.stdout, "init_runs=1 callers=20 early_returns=0\n");
}

#[test]
fn barrier_rounds() {
    let o = same_as_native("sync_barrier", &[]);
    assert_eq!(o.stdout, "rounds=200 violations=0 bad_serial=0 destroy=0\n");
}

#[test]
fn rwlock_readers_and_writers() {
    for args in [&[][..], &["writer"][..]] {
        let o = same_as_native("sync_rwlock", args);
        assert_eq!(o.stdout, "a=10000 b=10000 reads=40000 errors=0 overlapping_readers=yes\n");
    }
}

/// pthread_cancel reaches threads blocked in pthread_cond_wait and sem_wait; signal handlers
/// interrupt sem waits exactly as natively (EINTR for timed waits, and for sem_wait without
/// SA_RESTART) and do not end condition waits.
#[test]
fn cancellation_and_signals_match_native() {
    let o = same_as_native("sync_cancel", &[]);
    assert!(o.stdout.contains("cond_wait cancelled: yes\nsem_wait cancelled: yes\n"), "{}", o.describe());
    assert!(o.stdout.contains("handler with SA_RESTART: sem_wait with a signal: 0"), "{}", o.describe());
}

/// Named and process-shared semaphores are left to glibc: they work across processes.
#[test]
fn named_and_pshared_semaphores_stay_native() {
    let o = same_as_native("sync_named_sem", &[]);
    assert_eq!(o.stdout, "named: 0 value 0; pshared: 0 value 0\n");
}

/// The addresses the deadlock program prints, as the report writes them.
fn mutex_addrs(o: &Output) -> (String, String) {
    let line = o.stdout.lines().next().unwrap_or_default();
    let mut it = line.split_whitespace();
    let first = it.next().unwrap_or_default().trim_start_matches("first=").to_string();
    let second = it.next().unwrap_or_default().trim_start_matches("second=").to_string();
    (first, second)
}

fn check_report(o: &Output) {
    let lines = o.greenshim_lines();
    let header = "greenshim: deadlock: every greenlet is waiting and nothing can wake them";
    assert_eq!(lines.iter().filter(|l| **l == header).count(), 1, "one report\n{}", o.describe());
    let (first, second) = mutex_addrs(o);
    assert!(first.starts_with("0x") && second.starts_with("0x"), "{}", o.describe());
    let alpha = lines.iter().find(|l| l.contains("\"alpha\" parked")).unwrap_or_else(|| panic!("{}", o.describe()));
    let beta = lines.iter().find(|l| l.contains("\"beta\" parked")).unwrap_or_else(|| panic!("{}", o.describe()));
    assert!(alpha.contains(&format!("mutex {second} held by g3 \"beta\"")), "{alpha}\n{}", o.describe());
    assert!(beta.contains(&format!("mutex {first} held by g2 \"alpha\"")), "{beta}\n{}", o.describe());
    assert!(lines.iter().any(|l| l.contains("g1 ") && l.contains(": sem 0x")), "{}", o.describe());
}

/// A two-greenlet lock-order deadlock: the report names both greenlets and both mutexes; the
/// process keeps waiting and a signal handler's sem_post still wakes main.
#[test]
fn deadlock_report_names_greenlets_and_mutexes() {
    if common::single_hub_only("the report's greenlet ids (g1 main, g2 alpha, g3 beta) and its \"every greenlet is waiting\" verdict are one hub's") {
        return;
    }
    let bin = compile("sync_deadlock");
    let o = run_shim(&bin, &[], &[]);
    ok(&o);
    check_report(&o);
    assert!(o.stdout.contains("main woke: sem_wait=0"), "{}", o.describe());
    assert!(o.stdout.contains("trylock first=16 second=16"), "{}", o.describe());
    assert!(o.elapsed.as_millis() >= 900, "main must have waited for the alarm\n{}", o.describe());
}

#[test]
fn deadlock_abort_exits_86() {
    if common::single_hub_only("the report's greenlet ids (g1 main, g2 alpha, g3 beta) and its \"every greenlet is waiting\" verdict are one hub's") {
        return;
    }
    let bin = compile("sync_deadlock");
    let o = run_shim(&bin, &[], &[("GREENSHIM_ON_DEADLOCK", "abort")]);
    assert_eq!(o.code(), Some(86), "{}", o.describe());
    check_report(&o);
    assert!(o.elapsed.as_millis() < 900, "abort must not wait for the alarm\n{}", o.describe());
    let bin_s = bin.to_string_lossy().into_owned();
    let l = run_launcher(&["--on-deadlock", "abort", &bin_s], &[]);
    assert_eq!(l.code(), Some(86), "{}", l.describe());
    check_report(&l);
}

#[test]
fn bad_on_deadlock_setting_is_rejected() {
    let bin = compile("sync_once");
    let o = run_shim(&bin, &[], &[("GREENSHIM_ON_DEADLOCK", "explode")]);
    assert_eq!(o.code(), Some(2), "{}", o.describe());
    assert!(
        o.stderr.starts_with("greenshim: GREENSHIM_ON_DEADLOCK='explode' is not a valid mode"),
        "{}",
        o.describe()
    );
    let bin_s = bin.to_string_lossy().into_owned();
    let l = run_launcher(&["--on-deadlock", "explode", &bin_s], &[]);
    assert_eq!(l.code(), Some(2), "{}", l.describe());
    assert!(l.stderr.contains("--on-deadlock 'explode' is not a valid mode"), "{}", l.describe());
}

/// CPython's threading (GIL = mutex + condvar; Lock = sem_t; Queue, Condition, Event,
/// BoundedSemaphore, RLock, local) gives the same output natively and on one OS thread.
#[test]
fn python_threading_primitives() {
    if run(native_command(Path::new("python3"), &["-c", "pass"]), common::DEFAULT_TIMEOUT).code() != Some(0) {
        eprintln!("python3 not available: skipped");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/sync_threading.py");
    let py = Path::new("python3");
    let n = run(native_command(py, &[script]), common::DEFAULT_TIMEOUT);
    let o = run(shim_command(py, &[script], &[]), common::DEFAULT_TIMEOUT);
    ok(&n);
    ok(&o);
    no_greenshim_lines(&o);
    let strip = |s: &str| s.lines().filter(|l| !l.starts_with("os threads")).map(String::from).collect::<Vec<_>>();
    assert_eq!(strip(&o.stdout), strip(&n.stdout), "native:\n{}\nshim:\n{}", n.describe(), o.describe());
    let want = format!("os threads while working: {}\n", common::expected_os_threads());
    assert!(o.stdout.contains(&want), "expected `{}`\n{}", want.trim_end(), o.describe());
    assert!(o.stdout.contains("items: 200 sum: 20100 local ok: True"), "{}", o.describe());
}

/// Waiting for a signal (`poll(NULL, 0, -1)` ended by SIGALRM) is not a deadlock: no report, and
/// `GREENSHIM_ON_DEADLOCK=abort` does not end the process.
#[test]
fn signal_wait_is_not_a_deadlock() {
    let bin = compile("sync_signal_wait");
    let native = run_native(&bin, &[]);
    let o = run_shim(&bin, &[], &[("GREENSHIM_ON_DEADLOCK", "abort")]);
    ok(&o);
    no_greenshim_lines(&o);
    assert_eq!(o.stdout, native.stdout, "{}", o.describe());
}
