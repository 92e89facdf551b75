//! `GREENSHIM_HUBS` / `greenshim --hubs` (issue 13) as the preload library sees it: one hub
//! (the default, and `GREENSHIM_HUBS=1`) behaves exactly as without the setting; N hubs run
//! on N OS threads (what they do is tested in `tests/multihub.rs`); bad values and a
//! combination that cannot work are refused at start with one line.
//!
//! Run `cargo build --release` first (the preload library is another package's cdylib).

mod common;

use std::path::Path;

use common::{compile, run, run_launcher, run_native, run_shim, shim_command, Output, DEFAULT_TIMEOUT};

/// `GREENSHIM_HUBS=N` and `--hubs N` start N hubs: the program runs with N OS threads.
#[test]
fn more_than_one_hub_runs_on_that_many_os_threads() {
    let bin = compile("sync_bounded");
    let args = ["mutex", "50", "50", "200000"];
    let n = run_native(&bin, &args);
    common::assert_ok(&n);
    for hubs in ["2", "3"] {
        let s = run_shim(&bin, &args, &[("GREENSHIM_HUBS", hubs)]);
        common::assert_ok(&s);
        assert_eq!(common::value(&s.stdout, "threads"), Some(hubs.parse().unwrap()), "{}", s.describe());
        assert_eq!(s.stdout.lines().next(), n.stdout.lines().next(), "the counts as natively\n{}", s.describe());
    }
    for args in [&["--hubs", "2", "--"][..], &["--hubs=2"][..]] {
        let mut a = args.to_vec();
        let b = bin.to_string_lossy().into_owned();
        a.push(&b);
        a.extend_from_slice(&["mutex", "20", "20", "10000"]);
        let o = run_launcher(&a, &[]);
        common::assert_ok(&o);
        assert_eq!(common::value(&o.stdout, "threads"), Some(2), "{}", o.describe());
    }
}

/// Several hubs need per-greenlet TLS: with `GREENSHIM_TLS=shared` the run stops before `main`
/// with one line naming both settings.
#[test]
fn more_than_one_hub_with_shared_tls_is_refused() {
    let o = run(shim_command(Path::new("echo"), &["ran"], &[("GREENSHIM_HUBS", "2"), ("GREENSHIM_TLS", "shared")]), DEFAULT_TIMEOUT);
    assert_eq!(o.code(), Some(2), "{}", o.describe());
    assert!(o.stdout.is_empty(), "the program must not run\n{}", o.describe());
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line\n{}", o.describe());
    assert!(lines[0].starts_with("greenshim: GREENSHIM_HUBS=2 needs per-greenlet thread-local storage") && lines[0].contains("GREENSHIM_TLS"), "{}", o.describe());
}

#[test]
fn bad_hubs_values_are_rejected() {
    for v in ["0", "257", "two"] {
        let o = run(shim_command(Path::new("echo"), &["ran"], &[("GREENSHIM_HUBS", v)]), DEFAULT_TIMEOUT);
        assert_eq!(o.code(), Some(2), "{}", o.describe());
        assert!(o.stderr.contains("GREENSHIM_HUBS") && o.stderr.contains("from 1 to 256"), "{}", o.describe());
        let o = run_launcher(&["--hubs", v, "echo", "ran"], &[]);
        assert_eq!(o.code(), Some(2), "{}", o.describe());
        assert!(o.stderr.contains("--hubs") && o.stderr.contains("from 1 to 256"), "{}", o.describe());
    }
}

/// One hub, asked for explicitly: the same counts as natively, on one OS thread.
#[test]
fn one_hub_is_the_default_model() {
    if common::single_hub_only("checks that one hub is the default model (threads=1); with the suite in multi-hub mode that check is void (tests/multihub.rs covers N>1)") {
        return;
    }
    let bin = compile("sync_bounded");
    let args = ["mutex", "50", "50", "200000"];
    for env in [&[][..], &[("GREENSHIM_HUBS", "1")][..]] {
        let o = run_shim(&bin, &args, env);
        assert_eq!(o.code(), Some(0), "{}", o.describe());
        assert!(o.stdout.contains("threads=1\n"), "{}", o.describe());
        let first = o.stdout.lines().next().unwrap_or_default().to_string();
        let n = run_native(&bin, &args);
        assert_eq!(n.stdout.lines().next().unwrap_or_default(), first, "{}", n.describe());
    }
    let o = run_launcher(&["--hubs", "1", "--", bin.to_str().unwrap(), "mutex", "50", "50", "200000"], &[]);
    assert_eq!(o.code(), Some(0), "{}", o.describe());
    assert!(o.stdout.contains("threads=1\n"), "{}", o.describe());
}
