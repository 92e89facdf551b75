//! Scheduling attributes per greenlet (policy and priority through attributes, inherited, set
//! and read back; the kernel's EINVAL/EPERM checks), mutex priority ceilings, and `sched_yield`
//! giving the CPU to other processes. Each C program runs natively and under the preload
//! library; the outputs must be the same (native is the specification).
//!
//! Run `cargo build --release` first (the preload library is another package's cdylib).

mod common;

use common::{compile, run_native, run_shim, Output};

fn ok(o: &Output) {
    assert_eq!(o.code(), Some(0), "run failed\n{}", o.describe());
}

/// Run `bin` natively and under the shim; both must exit 0 with the same stdout.
fn same_as_native(bin: &std::path::Path, args: &[&str]) -> Output {
    let n = run_native(bin, args);
    ok(&n);
    let s = run_shim(bin, args, &[]);
    ok(&s);
    assert!(s.greenshim_lines().is_empty(), "unexpected greenshim messages\n{}", s.describe());
    assert_eq!(s.stdout, n.stdout, "stdout differs from native\nnative:\n{}\nshim:\n{}", n.describe(), s.describe());
    s
}

/// Policies and priorities given through attributes (explicit, inherited, only one of the two
/// set), through pthread_setschedparam/pthread_setschedprio on other threads and on the calling
/// one, SCHED_IDLE and SCHED_RESET_ON_FORK rules, inheritance by children: what
/// pthread_getschedparam and pthread_getattr_np report and every error, first with the
/// privileges the test runs with, then without CAP_SYS_NICE (EPERM for real-time policies).
#[test]
fn sched_attributes_match_native() {
    if common::single_hub_only("its phase 2 drops CAP_SYS_NICE with capset, which the kernel applies to the calling OS thread only: natively to main, whose later threads inherit it; with several hubs the other hub threads keep it (README, \"More than one hub\", Limits)") {
        return;
    }
    let bin = compile("posix_sched_attrs");
    let o = same_as_native(&bin, &[]);
    // The unprivileged phase always runs, whatever the machine allows the test.
    assert!(o.stdout.contains("unprivileged explicit FIFO 10: create: EPERM"), "{}", o.describe());
    assert!(o.stdout.contains("unprivileged target: set 0x3/0: EPERM"), "{}", o.describe());
    assert!(o.stdout.contains("explicit nothing set attr: getattr=0 inherit=explicit"), "{}", o.describe());
    assert!(o.stdout.contains("self reset-on-fork/child: get=0 policy=0x40000003"), "{}", o.describe());
    assert!(o.stdout.ends_with("done\n"), "{}", o.describe());
}

/// sched_yield with no other greenlet runnable (alone, and while another one sleeps on a timer)
/// reaches the kernel on every call, as natively (counted by a seccomp trap): other processes
/// get the CPU. Before, the hub returned at once without a system call.
#[test]
fn sched_yield_alone_reaches_the_kernel() {
    let bin = compile("posix_sched_yield");
    let o = same_as_native(&bin, &[]);
    assert!(o.stdout.contains("alone: 100 of 100 yields reached the kernel, failures=0"), "{}", o.describe());
    assert!(o.stdout.contains("with a sleeping thread: 100 of 100"), "{}", o.describe());
}

/// The priority ceiling of a priority-protect mutex survives pthread_mutex_init (glibc's
/// default when unset) and is read and changed as natively: EINVAL for other protocols (static,
/// plain, inheritance) and ceilings outside SCHED_FIFO's range, EDEADLK for the owner of an
/// error-checking mutex, a wait while another thread holds the mutex; process-shared ones are
/// glibc's. Before, the shim's mutex layout made glibc's getter fail and its setter hang.
#[test]
fn mutex_priority_ceiling_matches_native() {
    let bin = compile("posix_sched_mutex");
    let o = same_as_native(&bin, &[]);
    assert!(o.stdout.contains("protect default: getprioceiling=0 ceiling=1"), "{}", o.describe());
    assert!(o.stdout.contains("contended: setprioceiling=0 old=4 after release=1"), "{}", o.describe());
    assert!(o.stdout.contains("errorcheck owner: setprioceiling(8)=EDEADLK"), "{}", o.describe());
    assert!(o.stdout.ends_with("done\n"), "{}", o.describe());
}
