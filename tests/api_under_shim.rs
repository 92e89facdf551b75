//! The Rust API inside a preloaded process: the whole of `tests/api_edges.rs` (a test program
//! that depends on this crate) run under the launcher, where every test body's thread is a
//! greenlet of the shim and the API drives the shim's hub through `greenshim_hub_ops_v1`
//! instead of installing a hub of its own. The same edge cases must hold there.
//!
//! The `api_edges` test executable is built (or found up to date) with `cargo test --no-run`
//! of the same profile. Needs `cargo build --release` for the launcher and library.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{cargo_here, run, run_launcher};

/// The `api_edges` test executable of this profile.
fn api_edges_exe() -> PathBuf {
    let cmd = cargo_here(&["test", "--no-run", "--test", "api_edges", "--message-format=json"]);
    let o = run(cmd, Duration::from_secs(300));
    assert_eq!(o.code(), Some(0), "building api_edges failed\n{}", o.describe());
    // the compiler-artifact message of the test target carries "executable":"<path>"
    let line = o.stdout.lines().rfind(|l| l.contains("\"name\":\"api_edges\"") && l.contains("\"executable\":\"")).expect("no api_edges executable in cargo's messages");
    let start = line.find("\"executable\":\"").unwrap() + "\"executable\":\"".len();
    PathBuf::from(&line[start..start + line[start..].find('"').unwrap()])
}

#[test]
fn api_edge_cases_hold_on_the_shims_hub() {
    let exe = api_edges_exe();
    // one test at a time: their timing classes assume nothing else runs on the hub's thread
    let o = run_launcher(&["--", exe.to_str().unwrap(), "--test-threads", "1"], &[("API_EDGES_EXPECT_SHIM_HUB", "1")]);
    assert_eq!(o.code(), Some(0), "api_edges failed under the launcher\n{}", o.describe());
    assert!(o.stdout.contains("test result: ok.") && o.stdout.contains(" 0 failed"), "{}", o.describe());
    // the test that checks the API runs on the shim's hub there did run
    assert!(o.stdout.contains("test the_hub_is_the_shims_exactly_when_preloaded ... ok"), "{}", o.describe());
}
