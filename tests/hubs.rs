//! `GREENSHIM_HUBS` / `greenshim --hubs` (issue 13) as the preload library sees it today:
//! one hub (the default, and `GREENSHIM_HUBS=1`) behaves exactly as without the setting, and
//! more than one hub is refused at start with one line naming the cause, before the program
//! runs (the shim's synchronisation objects, fd table and greenlet ids are not yet safe across
//! hubs; the multi-hub infrastructure, crate `hubs/`, is tested in `hubs/tests/hub_multi.rs`).
//!
//! Run `cargo build --release` first (the preload library is another package's cdylib).

mod common;

use std::path::Path;

use common::{compile, run, run_launcher, run_native, run_shim, shim_command, Output, DEFAULT_TIMEOUT};

fn refused(o: &Output, n: &str) {
    assert_eq!(o.code(), Some(2), "{}", o.describe());
    assert!(o.stdout.is_empty(), "the program must not run\n{}", o.describe());
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line\n{}", o.describe());
    assert!(
        lines[0].starts_with(&format!("greenshim: GREENSHIM_HUBS={n} is not available yet: "))
            && lines[0].contains("not safe across hubs")
            && lines[0].contains("GREENSHIM_HUBS=1"),
        "{}",
        o.describe()
    );
}

#[test]
fn preload_more_than_one_hub_is_refused() {
    if common::single_hub_only("tests/hubs.rs checks how main refuses GREENSHIM_HUBS>1 and that one hub is the default model (threads=1); with the suite in multi-hub mode those checks are void (tests/multihub.rs covers N>1)") {
        return;
    }
    for n in ["2", "4"] {
        refused(&run(shim_command(Path::new("echo"), &["ran"], &[("GREENSHIM_HUBS", n)]), DEFAULT_TIMEOUT), n);
    }
}

#[test]
fn launcher_hubs_option_is_refused_above_one() {
    if common::single_hub_only("tests/hubs.rs checks how main refuses GREENSHIM_HUBS>1 and that one hub is the default model (threads=1); with the suite in multi-hub mode those checks are void (tests/multihub.rs covers N>1)") {
        return;
    }
    for (args, typed) in [(&["--hubs", "2", "--", "echo", "ran"][..], "--hubs 2"), (&["--hubs=3", "echo", "ran"][..], "--hubs 3")] {
        let o = run_launcher(args, &[]);
        assert_eq!(o.code(), Some(2), "{}", o.describe());
        assert!(o.stdout.is_empty(), "the program must not run\n{}", o.describe());
        let lines: Vec<&str> = o.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line\n{}", o.describe());
        assert!(
            lines[0].starts_with(&format!("greenshim: {typed} is not available yet: "))
                && lines[0].contains("not safe across hubs")
                && lines[0].ends_with("use --hubs 1"),
            "the line names the option typed\n{}",
            o.describe()
        );
    }
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
    if common::single_hub_only("tests/hubs.rs checks how main refuses GREENSHIM_HUBS>1 and that one hub is the default model (threads=1); with the suite in multi-hub mode those checks are void (tests/multihub.rs covers N>1)") {
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
