//! Installing (issue 14): `make install PREFIX=...` / `make uninstall PREFIX=...` and
//! `cargo install --path . --root ...` / `cargo uninstall`, into temporary prefixes; each
//! installed launcher must find its library and run a program under the shim.
//!
//! Needs `cargo build --release` first. `make` installs what `target/release` holds (`make -o
//! build`: the outer `cargo test` owns the target directory meanwhile). `cargo install` builds
//! in a target directory of its own (`target/install-test`, kept between runs, so only the first
//! run pays a full build, about 30 s), offline.
//!
//! ```sh
//! cargo build --release && cargo test --release --test install
//! ```

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A fresh, empty directory under the target dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = target_dir().join(format!("install-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir`, relative to it, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Run `launcher -c live_fork 50` from a directory far from the build tree, with a clean
/// environment (no GREENSHIM_LIB) and `cache` as XDG_CACHE_HOME: the program runs, and the
/// shim's `-c` summary proves it ran under the shim.
fn runs_under_shim(launcher: &Path, cache: &Path) -> Output {
    let prog = compile("live_fork");
    let mut cmd = Command::new(launcher);
    cmd.args(["-c"]).arg(&prog).arg("50").current_dir("/").env_remove("GREENSHIM_LIB").env_remove("LD_PRELOAD").env("XDG_CACHE_HOME", cache);
    // an installed launcher, not target/<profile>/greenshim: give it the suite's hub count here
    cmd.envs(common::hubs_env());
    let out = run(cmd, Duration::from_secs(30));
    assert!(out.status.success(), "{}", out.describe());
    assert!(out.stdout.contains("parent=") && out.stdout.contains("child="), "{}", out.describe());
    assert!(out.stderr.contains("hub: greenlets spawned"), "no summary: not under the shim?\n{}", out.describe());
    out
}

#[test]
fn make_install_and_uninstall() {
    let _ = shim_lib();
    let _ = launcher();
    let prefix = TempDir::new("make");
    let make = |target: &str| {
        let mut cmd = Command::new("make");
        cmd.current_dir(repo()).args(["-o", "build", target]).arg(format!("PREFIX={}", prefix.0.display()));
        run(cmd, Duration::from_secs(60))
    };
    let out = make("install");
    assert!(out.status.success(), "{}", out.describe());
    assert_eq!(files(&prefix.0), ["bin/greenshim", "lib/greenshim/libgreenshim.so"], "{}", out.describe());
    let cache = TempDir::new("make-cache");
    runs_under_shim(&prefix.0.join("bin/greenshim"), &cache.0);
    assert!(files(&cache.0).is_empty(), "the installed library is used, nothing extracted");
    let out = make("uninstall");
    assert!(out.status.success(), "{}", out.describe());
    assert!(files(&prefix.0).is_empty(), "left behind: {:?}", files(&prefix.0));
}

#[test]
fn cargo_install_embeds_the_library() {
    let root = TempDir::new("cargo");
    let cache = TempDir::new("cargo-cache");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(repo())
        .args(["install", "--path", ".", "--offline", "--root"])
        .arg(&root.0)
        .arg("--target-dir")
        .arg(target_dir().join("../install-test"))
        .env_remove("GREENSHIM_EMBED_LIB")
        .env_remove("CARGO_TARGET_DIR");
    let out = run(cmd, Duration::from_secs(600));
    assert!(out.status.success(), "{}", out.describe());
    let installed: Vec<String> = files(&root.0).into_iter().filter(|f| !f.starts_with('.')).collect();
    assert_eq!(installed, ["bin/greenshim"], "cargo installs the launcher only");
    runs_under_shim(&root.0.join("bin/greenshim"), &cache.0);
    let extracted = files(&cache.0);
    assert_eq!(extracted.len(), 1, "{extracted:?}");
    assert!(extracted[0].starts_with(&format!("greenshim/{}-", env!("CARGO_PKG_VERSION"))) && extracted[0].ends_with("/libgreenshim.so"), "{extracted:?}");
    // A second run reuses the copy.
    let before = std::fs::metadata(cache.0.join(&extracted[0])).unwrap().modified().unwrap();
    runs_under_shim(&root.0.join("bin/greenshim"), &cache.0);
    assert_eq!(std::fs::metadata(cache.0.join(&extracted[0])).unwrap().modified().unwrap(), before);
    let mut cmd = Command::new(&cargo);
    cmd.args(["uninstall", "greenshim", "--root"]).arg(&root.0);
    let out = run(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", out.describe());
    assert!(!root.0.join("bin/greenshim").exists());
}
