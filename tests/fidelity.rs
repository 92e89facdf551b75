//! The differential harness, fixed seeds: `tests/c/fidelity_fuzz.c` runs a seeded random
//! sequence of fd operations over every kind of descriptor, natively and under the preload
//! library, and the two canonical transcripts (results, errno, bytes, revents, O_NONBLOCK views;
//! never fd numbers, ports or timings) must be equal line for line.
//!
//! Native behaviour is the specification: a difference is a shim bug, or a documented
//! limitation excluded from the fuzzer with a test that pins it. `scripts/fidelity.sh` runs any
//! number of other seeds. Needs `cargo build --release` first.

mod common;

use common::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Seeds and operations per seed run by CI.
const SEEDS: std::ops::RangeInclusive<u64> = 1..=100;
const OPS: &str = "400";
const PER_RUN: Duration = Duration::from_secs(15);

/// The first difference of two transcripts, with two lines of context.
fn first_difference(native: &str, shim: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (native.lines().collect(), shim.lines().collect());
    let i = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    let from = i.saturating_sub(2);
    let mut s = String::new();
    for l in &a[from..i.min(a.len())] {
        s += &format!("    {l}\n");
    }
    s += &format!("  native: {}\n", a.get(i).unwrap_or(&"<end of transcript>"));
    s += &format!("  shim:   {}\n", b.get(i).unwrap_or(&"<end of transcript: hung or died>"));
    s
}

#[test]
fn fixed_seeds_match_native() {
    let bin = compile("fidelity_fuzz");
    let _ = shim_lib();
    let seeds: Vec<u64> = SEEDS.collect();
    let next = Arc::new(Mutex::new(seeds.into_iter()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (bin, next, failures) = (bin.clone(), next.clone(), failures.clone());
            std::thread::spawn(move || loop {
                let Some(seed) = next.lock().unwrap().next() else { break };
                let s = seed.to_string();
                let native = run(native_command(&bin, &[&s, OPS]), PER_RUN);
                let shim = run(shim_command(&bin, &[&s, OPS], &[]), PER_RUN);
                if !native.stdout.ends_with("done\n") {
                    failures.lock().unwrap().push(format!("seed {seed}: the native run did not finish:\n{}", native.describe()));
                } else if shim.stdout != native.stdout {
                    failures.lock().unwrap().push(format!(
                        "seed {seed} (rerun: {}scripts/fidelity.sh {seed} 1 {OPS}):\n{}",
                        hubs_env().iter().map(|(k, v)| format!("{k}={v} ")).collect::<String>(),
                        first_difference(&native.stdout, &shim.stdout)
                    ));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let f = failures.lock().unwrap();
    assert!(f.is_empty(), "{} of {} seeds diverge from native:\n{}", f.len(), SEEDS.count(), f.join("\n"));
}

/// The transcript is a pure function of the seed natively (else a difference means nothing).
#[test]
fn native_transcript_is_deterministic() {
    let bin = compile("fidelity_fuzz");
    for seed in ["7", "23", "41"] {
        let a = run(native_command(&bin, &[seed, OPS]), PER_RUN);
        let b = run(native_command(&bin, &[seed, OPS]), PER_RUN);
        assert!(a.stdout.ends_with("done\n"), "{}", a.describe());
        assert_eq!(a.stdout, b.stdout, "seed {seed}: two native runs differ:\n{}", first_difference(&a.stdout, &b.stdout));
    }
}
