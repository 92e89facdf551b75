//! Build script of the `greenshim` package: embed the preload library in the launcher when the
//! launcher is being installed with `cargo install`.
//!
//! Why: `cargo install --path .` builds only this package (the hub library and the launcher),
//! not the workspace's `shim` package that makes `libgreenshim.so`, and installs only binaries.
//! So in that case this script builds the shim itself (a nested `cargo build --release -p
//! greenshim-shim` in a target directory of its own under `OUT_DIR`, offline if the outer one
//! is) and the launcher embeds the result (`include_bytes!`), writing it to a cache directory
//! on first use (`src/libpath.rs`).
//!
//! Only then: every ordinary `cargo build` would otherwise build the shim twice. "Installing"
//! means the cargo that runs this script was started as `cargo install`, or
//! `GREENSHIM_EMBED_LIB=1` (`=0` never embeds). In a tree that was already built with
//! `cargo build --release`, cargo may reuse this script's earlier (non-embedding) result for
//! `cargo install`: set `GREENSHIM_EMBED_LIB=1` there (a changed variable reruns this script).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=GREENSHIM_EMBED_LIB");
    println!("cargo:rustc-check-cfg=cfg(greenshim_embedded)");
    if std::env::var_os("GREENSHIM_EMBED_NESTED").is_some() {
        return; // the nested build of the shim builds this package too
    }
    let parent = parent_args();
    let want = match std::env::var("GREENSHIM_EMBED_LIB").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => parent.iter().find(|a| !a.starts_with('-') && !a.starts_with('+')).is_some_and(|a| a == "install"),
    };
    if !want {
        return;
    }
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    for p in ["src", "shim/src", "shim/Cargo.toml", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let target = out.join("shim-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "-p", "greenshim-shim", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env("GREENSHIM_EMBED_NESTED", "1")
        .env_remove("CARGO_TARGET_DIR");
    let offline = std::env::var("CARGO_NET_OFFLINE").is_ok_and(|v| v == "true");
    if offline || parent.iter().any(|a| a == "--offline" || a == "--frozen") {
        cmd.arg("--offline");
    }
    if parent.iter().any(|a| a == "--locked" || a == "--frozen") {
        cmd.arg("--locked");
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("greenshim: cannot run cargo to build the preload library to embed: {e}"));
    if !status.success() {
        panic!("greenshim: building the preload library to embed in the launcher failed ({status}); see the cargo output above, or install with 'make install PREFIX=...'");
    }
    let built = target.join("release").join("libgreenshim.so");
    let copy = out.join("libgreenshim.so");
    std::fs::copy(&built, &copy).unwrap_or_else(|e| panic!("greenshim: cannot copy {}: {e}", built.display()));
    let bytes = std::fs::read(&copy).unwrap_or_default();
    println!("cargo:rustc-cfg=greenshim_embedded");
    println!("cargo:rustc-env=GREENSHIM_EMBEDDED_LIB={}", copy.display());
    println!("cargo:rustc-env=GREENSHIM_EMBEDDED_HASH={:016x}", fnv1a(&bytes));
}

/// The arguments of the cargo process that runs this script (its parent), without argv[0].
fn parent_args() -> Vec<String> {
    let ppid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("PPid:").map(|v| v.trim().to_string())));
    let Some(ppid) = ppid else { return Vec::new() };
    let raw = std::fs::read(Path::new("/proc").join(ppid).join("cmdline")).unwrap_or_default();
    raw.split(|&b| b == 0).skip(1).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

/// 64-bit FNV-1a: names the cache directory of this exact library.
fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| (h ^ x as u64).wrapping_mul(0x100_0000_01b3))
}
