//! Where the launcher finds the preload library when neither `--lib` nor `GREENSHIM_LIB` says.
//!
//! One launcher binary serves three layouts, tried in this order:
//! 1. the build tree: `libgreenshim.so` next to the launcher (`target/release/`);
//! 2. `make install PREFIX=P`: the launcher in `P/bin`, the library in `P/lib/greenshim/`
//!    (a directory of its own, so it never lands on the linker's path by accident);
//! 3. `cargo install`: cargo installs binaries only, so the launcher carries the library
//!    (embedded at build time by `build.rs`) and writes it once to
//!    `$XDG_CACHE_HOME/greenshim/VERSION-HASH/libgreenshim.so` (else `~/.cache/...`, else
//!    `/tmp/greenshim-cache-UID/...`), named by a hash of its bytes so that launchers of
//!    different builds never share a copy. Written to a temporary name and renamed into place,
//!    so a concurrent first use never sees half a file.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const LIB_NAME: &str = "libgreenshim.so";

/// The places of layouts 1 and 2 for a launcher in `exe_dir`.
pub fn candidates(exe_dir: &Path) -> [PathBuf; 2] {
    [exe_dir.join(LIB_NAME), exe_dir.join("../lib/greenshim").join(LIB_NAME)]
}

/// The library to use for a launcher in `exe_dir` carrying `embedded` (bytes, hash tag): the
/// path and how it was found, for messages. `Err(line)` if the embedded copy cannot be written.
/// With nothing found, the first candidate (the caller reports it missing).
pub fn default_lib(exe_dir: &Path, embedded: Option<(&[u8], &str)>) -> Result<(PathBuf, &'static str), String> {
    let [next, installed] = candidates(exe_dir);
    if next.is_file() {
        return Ok((next, "expected next to the launcher"));
    }
    if installed.is_file() {
        return Ok((installed, "installed in ../lib/greenshim/ next to the launcher's directory"));
    }
    match embedded {
        Some((bytes, tag)) => Ok((extract(bytes, tag)?, "embedded in the launcher")),
        None => Ok((next, "expected next to the launcher or in ../lib/greenshim/")),
    }
}

fn cache_root() -> PathBuf {
    let home_cache = || std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache"));
    match std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()).map(PathBuf::from).or_else(home_cache) {
        Some(c) => c.join("greenshim"),
        // SAFETY: geteuid cannot fail.
        None => PathBuf::from(format!("/tmp/greenshim-cache-{}", unsafe { libc::geteuid() })),
    }
}

/// Write `bytes` to the cache (once) and return the path.
pub fn extract(bytes: &[u8], tag: &str) -> Result<PathBuf, String> {
    let dir = cache_root().join(format!("{}-{tag}", env!("CARGO_PKG_VERSION")));
    let path = dir.join(LIB_NAME);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
        return Ok(path);
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {} for the embedded preload library: {e}; set XDG_CACHE_HOME or pass --lib PATH", dir.display()))?;
    let tmp = dir.join(format!(".{LIB_NAME}.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o755).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write the embedded preload library to {}: {e}; set XDG_CACHE_HOME or pass --lib PATH", path.display())
    })?;
    Ok(path)
}
