//! `greenshim [OPTIONS] [--] COMMAND [ARGS...]`: run COMMAND with `libgreenshim.so` preloaded,
//! so that its pthreads run as greenlets on one OS thread.
//!
//! The launcher itself is a normal program: it validates the options and any `GREENSHIM_*`
//! variables (so that a mistake gives one clear line and status 2 before anything runs), sets
//! `LD_PRELOAD` and the settings for the child only, forwards termination signals to the child
//! and exits with the child's status (128+N if the child died by signal N).

use std::ffi::{OsStr, OsString};
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{exit, Command};
use std::sync::atomic::{AtomicI32, Ordering};

use greenshim::settings;

/// Name of the preload library, looked for next to the launcher by default.
const LIB_NAME: &str = greenshim::libpath::LIB_NAME;
/// The preload library, when this launcher was built by `cargo install` (see `build.rs`).
#[cfg(greenshim_embedded)]
const EMBEDDED: Option<(&[u8], &str)> = Some((include_bytes!(env!("GREENSHIM_EMBEDDED_LIB")), env!("GREENSHIM_EMBEDDED_HASH")));
#[cfg(not(greenshim_embedded))]
const EMBEDDED: Option<(&[u8], &str)> = None;
/// Signals the launcher forwards to the child.
const FORWARDED: [libc::c_int; 6] =
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2];
/// Exit status for bad usage, options or settings.
const USAGE: i32 = 2;

/// The child's pid once it runs; 0 before. Read by the signal handler.
static CHILD: AtomicI32 = AtomicI32::new(0);

fn help() -> String {
    let mut h = format!(
        "greenshim {} - run a program's pthreads as greenlets on one OS thread\n\
         \n\
         Usage: greenshim [OPTIONS] [--] COMMAND [ARGS...]\n\
         \x20      greenshim -p PID [--once]\n\
         \n\
         Options (they end at the first non-option argument or at --):\n\
         \x20 --stack-size SIZE  stack size of each greenlet (sets GREENSHIM_STACK_SIZE); bytes\n\
         \x20                    with an optional K, M or G suffix, {}..{}, default {}\n\
         \x20 --on-deadlock MODE on a deadlock print a report of every greenlet and then:\n\
         \x20                    report = keep waiting (default), abort = exit with status 86\n\
         \x20                    (sets GREENSHIM_ON_DEADLOCK)\n\
         \x20 --trace            print a line per interposed call, strace-style, to stderr\n\
         \x20                    (sets GREENSHIM_TRACE); each of the next five implies it\n\
         \x20                    (unless -c is given: then the table only, as strace -c):\n\
         \x20   -o FILE          empty FILE, then every process of the run appends its trace\n\
         \x20                    lines and -c table to it\n\
         \x20   -e trace=CALLS   trace only these calls (comma-separated, e.g. read,write;\n\
         \x20                    strace's names, e.g. openat, and %file, %desc, %network,\n\
         \x20                    %signal, %process select what greenshim traces for them)\n\
         \x20   -s N             show N bytes of each buffer (default 32)\n\
         \x20   -tt              wall-clock time on each line\n\
         \x20   -T               time spent in each call on each line\n\
         \x20 -f, --follow-forks accepted for strace users: greenshim always follows forks and\n\
         \x20                    execs; once the run has more than one process, each line\n\
         \x20                    starts with [pid N gM name]\n\
         \x20 -c                 at exit of each process, print a table of its calls and the\n\
         \x20                    hub's figures, headed by its pid and command line\n\
         \x20 --max-blocking-time MS  report a greenlet that runs MS ms without yielding\n\
         \x20 --dump-signal SIG  print every greenlet when SIG (e.g. USR2) arrives\n\
         \x20 -p PID             show PID's greenlets live (a process under greenshim), like top:\n\
         \x20                    state, time in it, last call; q or Ctrl-C quits; with:\n\
         \x20   --once           print one view and exit\n\
         \x20 --hubs N           run N hubs on N OS threads (sets GREENSHIM_HUBS; default 1;\n\
         \x20                    see the README, \"More than one hub\")\n\
         \x20 --lib PATH         the preload library (default: $GREENSHIM_LIB, else {LIB_NAME}\n\
         \x20                    next to this launcher, else in ../lib/greenshim/, else the\n\
         \x20                    copy embedded by 'cargo install')\n\
         \x20 -h, --help         print this help and exit\n\
         \x20 -V, --version      print the version and exit\n\
         \n\
         Settings (environment variables; the options above override them):\n",
        env!("CARGO_PKG_VERSION"),
        settings::format_size(settings::STACK_SIZE_MIN),
        settings::format_size(settings::STACK_SIZE_MAX),
        settings::format_size(settings::DEFAULT_STACK_SIZE),
    );
    for (name, desc) in settings::KNOWN {
        h.push_str(&format!("  {name}\n      {desc}\n"));
    }
    h.push_str(
        "\n\
         Exit status: COMMAND's status; 128+N if COMMAND died by signal N; 2 for a bad option,\n\
         setting or missing library; 126 if COMMAND cannot be executed; 127 if it is not found.\n\
         SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to the launcher are passed\n\
         on to COMMAND.\n",
    );
    h
}

/// Print one error line and exit with status 2, pointing at --help.
fn usage_error(msg: &str) -> ! {
    eprintln!("greenshim: {msg}; try 'greenshim --help'");
    exit(USAGE)
}

/// Print one error line and exit with `code`.
fn fail(code: i32, msg: &str) -> ! {
    eprintln!("greenshim: {msg}");
    exit(code)
}

struct Options {
    stack_size: Option<usize>,
    on_deadlock: Option<String>,
    /// Diagnostics options, as the settings they set.
    set: Vec<(&'static str, String)>,
    lib: Option<PathBuf>,
    command: Vec<OsString>,
    /// -o, -e, -s, -tt or -T given: they imply --trace (as in strace, which always traces),
    /// unless -c asks for the table only.
    shapes_trace: bool,
    /// `-p PID [--once]`: the live view of PID instead of running a command.
    pid: Option<i32>,
    once: bool,
}

fn parse_args(mut args: impl Iterator<Item = OsString>) -> Options {
    let mut o = Options { stack_size: None, on_deadlock: None, set: Vec::new(), lib: None, command: Vec::new(), shapes_trace: false, pid: None, once: false };
    while let Some(arg) = args.next() {
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            break;
        }
        if !bytes.starts_with(b"-") || bytes == b"-" {
            o.command.push(arg);
            break;
        }
        // --name=value or --name value
        let (name, inline): (&[u8], Option<&[u8]>) = match bytes.iter().position(|&b| b == b'=') {
            Some(i) if bytes.starts_with(b"--") => (&bytes[..i], Some(&bytes[i + 1..])),
            _ => (bytes, None),
        };
        let shown = String::from_utf8_lossy(name).into_owned();
        if inline.is_some() && !matches!(name, b"--stack-size" | b"--on-deadlock" | b"--lib" | b"--max-blocking-time" | b"--dump-signal" | b"--hubs") {
            usage_error(&format!("option '{}' takes no value", shown.escape_debug()));
        }
        let value = |args: &mut dyn Iterator<Item = OsString>| -> OsString {
            match inline {
                Some(v) => OsStr::from_bytes(v).to_os_string(),
                None => args
                    .next()
                    .unwrap_or_else(|| usage_error(&format!("option '{shown}' needs a value"))),
            }
        };
        match name {
            b"-h" | b"--help" => {
                print!("{}", help());
                exit(0);
            }
            b"-V" | b"--version" => {
                println!("greenshim {}", env!("CARGO_PKG_VERSION"));
                exit(0);
            }
            b"--stack-size" => {
                let v = value(&mut args);
                let v = v.to_string_lossy();
                match settings::parse_size(&v) {
                    Ok(n) => o.stack_size = Some(n),
                    Err(form) => usage_error(&format!(
                        "--stack-size '{}' is not a valid stack size; {form}, e.g. --stack-size 512K",
                        v.escape_debug()
                    )),
                }
            }
            b"--on-deadlock" => {
                let v = value(&mut args);
                let v = v.to_string_lossy();
                match settings::parse_on_deadlock(&v) {
                    Ok(_) if !v.is_empty() => o.on_deadlock = Some(v.into_owned()),
                    Ok(_) => usage_error("option '--on-deadlock' needs a value: report or abort"),
                    Err(form) => usage_error(&format!(
                        "--on-deadlock '{}' is not a valid mode; {form}, e.g. --on-deadlock abort",
                        v.escape_debug()
                    )),
                }
            }
            b"--trace" => o.set.push(("GREENSHIM_TRACE", "1".into())),
            // strace's -f: greenshim always follows forks and execs (every process of the run
            // inherits the preload and the settings), so it is accepted and changes nothing.
            b"-f" | b"--follow-forks" => {}
            b"-tt" | b"-T" => {
                o.shapes_trace = true;
                o.set.push((if name == b"-tt" { "GREENSHIM_TRACE_TIMESTAMPS" } else { "GREENSHIM_TRACE_DURATIONS" }, "1".into()));
            }
            b"-c" => o.set.push(("GREENSHIM_SUMMARY", "1".into())),
            b"-o" | b"-e" | b"-s" | b"--max-blocking-time" | b"--dump-signal" | b"--hubs" => {
                let var = match name {
                    b"-o" => "GREENSHIM_TRACE_FILE",
                    b"-e" => "GREENSHIM_TRACE_FILTER",
                    b"-s" => "GREENSHIM_TRACE_STRSIZE",
                    b"--max-blocking-time" => "GREENSHIM_MAX_BLOCKING_MS",
                    b"--hubs" => "GREENSHIM_HUBS",
                    _ => "GREENSHIM_DUMP_SIGNAL",
                };
                let v = value(&mut args).to_string_lossy().into_owned();
                if v.is_empty() {
                    usage_error(&format!("option '{shown}' needs a non-empty value"));
                }
                // Validate now, naming the option the user typed rather than the variable.
                if let Err(bad) = settings::check_diag(var, &v) {
                    fail(USAGE, bad.for_option(&shown, &v).strip_prefix("greenshim: ").unwrap_or_default());
                }
                o.shapes_trace |= matches!(name, b"-o" | b"-e" | b"-s");
                o.set.push((var, v));
            }
            // The live view (the process answers from the shim's live thread).
            b"-p" => {
                let v = value(&mut args);
                match greenshim::live_client::parse_pid(&v) {
                    Some(p) => o.pid = Some(p),
                    None => usage_error(&format!("-p '{}' is not a process id", v.to_string_lossy().escape_debug())),
                }
            }
            b"--once" => o.once = true,
            b"--lib" => {
                let v = value(&mut args);
                if v.is_empty() {
                    usage_error("option '--lib' needs a non-empty path");
                }
                o.lib = Some(PathBuf::from(v));
            }
            _ => usage_error(&format!(
                "unknown option '{}'",
                String::from_utf8_lossy(bytes).escape_debug()
            )),
        }
    }
    o.command.extend(args);
    let has = |var: &str| o.set.iter().any(|(k, _)| *k == var);
    if o.shapes_trace && !has("GREENSHIM_TRACE") && !has("GREENSHIM_SUMMARY") {
        o.set.push(("GREENSHIM_TRACE", "1".into()));
    }
    if o.pid.is_some() && !o.command.is_empty() {
        usage_error("-p PID shows a running process: give no COMMAND with it");
    }
    if o.once && o.pid.is_none() {
        usage_error("--once goes with -p PID");
    }
    if o.command.is_empty() && o.pid.is_none() {
        usage_error("no COMMAND given");
    }
    o
}

/// The preload library to use, as an absolute, existing path.
fn find_lib(opt: Option<PathBuf>) -> PathBuf {
    let (lib, how) = match opt {
        Some(p) => (p, "given with --lib"),
        None => match std::env::var_os("GREENSHIM_LIB").filter(|v| !v.is_empty()) {
            Some(p) => (PathBuf::from(p), "given in GREENSHIM_LIB"),
            None => {
                let exe = std::env::current_exe().unwrap_or_else(|e| {
                    fail(USAGE, &format!("cannot find the launcher's own path ({e}); pass --lib PATH"))
                });
                let dir = exe.parent().unwrap_or(Path::new("/"));
                greenshim::libpath::default_lib(dir, EMBEDDED).unwrap_or_else(|e| fail(USAGE, &e))
            }
        },
    };
    let abs = match std::fs::canonicalize(&lib) {
        Ok(p) if p.is_file() => p,
        Ok(_) => fail(USAGE, &format!("preload library {} ({how}) is not a file", lib.display())),
        Err(e) => fail(
            USAGE,
            &format!(
                "preload library {} ({how}) not found: {e}; build it with 'cargo build --release', install with 'make install PREFIX=DIR', or pass --lib PATH",
                lib.display()
            ),
        ),
    };
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(&abs).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
    if let Err(e) = read {
        fail(USAGE, &format!("cannot read preload library {} ({how}): {e}", abs.display()));
    }
    if magic != *b"\x7fELF" {
        fail(USAGE, &format!("preload library {} ({how}) is not a shared library (no ELF header)", abs.display()));
    }
    if abs.as_os_str().as_bytes().iter().any(|&b| b == b':' || b == b' ' || b == b'\t' || b == b'\n') {
        fail(
            USAGE,
            &format!("preload library path {} contains a ':' or a space, which LD_PRELOAD cannot hold", abs.display()),
        );
    }
    abs
}

/// Split an `LD_PRELOAD` value into its entries (colon- or whitespace-separated).
fn preload_entries(v: &OsStr) -> Vec<&[u8]> {
    v.as_bytes()
        .split(|&b| b == b':' || b == b' ' || b == b'\t' || b == b'\n')
        .filter(|e| !e.is_empty())
        .collect()
}

/// Whether an `LD_PRELOAD` entry is the greenshim library (by name or by identity with `lib`).
fn is_greenshim(entry: &[u8], lib: &Path) -> bool {
    let p = Path::new(OsStr::from_bytes(entry));
    p.file_name() == Some(OsStr::new(LIB_NAME))
        || std::fs::canonicalize(p).map(|c| c == lib).unwrap_or(false)
}

/// `LD_PRELOAD` with the greenshim library removed (`None` if nothing is left), and whether
/// it held the library.
fn without_greenshim(lib: &Path) -> (Option<OsString>, bool) {
    let Some(v) = std::env::var_os("LD_PRELOAD") else { return (None, false) };
    let mut kept: Vec<u8> = Vec::new();
    let mut removed = false;
    for e in preload_entries(&v) {
        if is_greenshim(e, lib) {
            removed = true;
            continue;
        }
        if !kept.is_empty() {
            kept.push(b':');
        }
        kept.extend_from_slice(e);
    }
    let kept = (!kept.is_empty()).then(|| OsString::from(OsStr::from_bytes(&kept)));
    (kept, removed)
}

/// If this launcher was itself started with the greenshim library preloaded (e.g. from a
/// program already running under greenshim), run it again without, so it stays a normal program.
fn reexec_unshimmed(lib: &Path) {
    let (kept, removed) = without_greenshim(lib);
    if !removed {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let mut cmd = Command::new(&exe);
    cmd.arg0(argv0).args(args);
    match kept {
        Some(k) => cmd.env("LD_PRELOAD", k),
        None => cmd.env_remove("LD_PRELOAD"),
    };
    let e = cmd.exec();
    // Could not re-execute: carry on shimmed, which works but is not ideal.
    eprintln!("greenshim: warning: could not re-execute without LD_PRELOAD ({e})");
}

extern "C" fn forward(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid <= 0 {
        return;
    }
    // SAFETY: only async-signal-safe system calls below; `info` is given by the kernel.
    unsafe {
        let saved = *libc::__errno_location();
        // A signal from the kernel (si_code > 0: the terminal's ^C, ^\, hangup) went to the
        // whole foreground process group, child included: forwarding it would deliver it twice.
        // Forward it only if the child has left our process group.
        let from_kernel = !info.is_null() && (*info).si_code > 0;
        if !from_kernel || libc::getpgid(pid) != libc::getpgrp() {
            libc::kill(pid, sig);
        }
        *libc::__errno_location() = saved;
    }
}

/// Block the forwarded signals (so none is lost between spawn and recording the pid) and
/// install the forwarding handler for each one that is not ignored. Returns the old mask.
fn install_forwarding() -> libc::sigset_t {
    // SAFETY: plain libc signal API calls with valid, initialised arguments.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
        for s in FORWARDED {
            let mut prev: libc::sigaction = std::mem::zeroed();
            libc::sigaction(s, std::ptr::null(), &mut prev);
            // A signal ignored when we started (e.g. SIGINT for a background job) stays
            // ignored, and the child inherits that, as with a shell.
            if prev.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigfillset(&mut sa.sa_mask);
            libc::sigaction(s, &sa, std::ptr::null_mut());
        }
        old
    }
}

fn restore_mask(old: &libc::sigset_t) {
    // SAFETY: `old` is a mask returned by sigprocmask.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}

fn main() {
    let opts = parse_args(std::env::args_os().skip(1));
    if let Some(pid) = opts.pid {
        exit(greenshim::live_client::run(pid, opts.once));
    }

    // The settings the child will see: the environment's, with the options applied on top.
    let mut vars: Vec<(String, String)> = Vec::new();
    for (k, v) in std::env::vars_os() {
        if !k.as_bytes().starts_with(settings::PREFIX.as_bytes())
            || settings::LAUNCHER_ONLY.iter().any(|l| k.as_bytes() == l.as_bytes())
        {
            continue;
        }
        let (Some(k), Some(v)) = (k.to_str(), v.to_str()) else {
            fail(
                USAGE,
                &format!(
                    "{}='{}' is not valid UTF-8",
                    k.to_string_lossy().escape_debug(),
                    v.to_string_lossy().escape_debug()
                ),
            )
        };
        if k == "GREENSHIM_STACK_SIZE" && opts.stack_size.is_some() {
            continue; // overridden by --stack-size
        }
        if k == "GREENSHIM_ON_DEADLOCK" && opts.on_deadlock.is_some() {
            continue; // overridden by --on-deadlock
        }
        if opts.set.iter().any(|(var, _)| *var == k) {
            continue; // overridden by an option
        }
        vars.push((k.to_string(), v.to_string()));
    }
    if let Some(n) = opts.stack_size {
        vars.push(("GREENSHIM_STACK_SIZE".into(), n.to_string()));
    }
    if let Some(m) = &opts.on_deadlock {
        vars.push(("GREENSHIM_ON_DEADLOCK".into(), m.clone()));
    }
    for (var, v) in &opts.set {
        vars.push((var.to_string(), v.clone()));
    }
    if let Err(line) = settings::from_vars(vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        eprintln!("{line}");
        exit(USAGE);
    }

    // A launcher started by a process of a greenshim run (it has the run's launcher pid) is
    // part of that run: it keeps the run's pid, and the trace file the run appends to.
    let nested = std::env::var_os(settings::LAUNCHER_PID).is_some_and(|v| !v.is_empty());
    let file_option = opts.set.iter().any(|(k, _)| *k == "GREENSHIM_TRACE_FILE");
    // Trace output is appended to by every process of the run; start it empty, as strace -o.
    let to_empty = vars.iter().find(|(k, _)| k == "GREENSHIM_TRACE_FILE").filter(|_| file_option || !nested);
    if let Some((_, path)) = to_empty {
        if let Err(e) = std::fs::File::create(path) {
            // Name what the user typed: the option, or the variable from the environment.
            let what = if file_option { "-o " } else { "GREENSHIM_TRACE_FILE=" };
            fail(USAGE, &format!("cannot create the trace file {what}'{}': {e}; give a path in a writable directory", path.escape_debug()));
        }
    }

    let lib = find_lib(opts.lib);
    reexec_unshimmed(&lib);

    let mut preload = lib.clone().into_os_string();
    if let (Some(rest), _) = without_greenshim(&lib) {
        preload.push(":");
        preload.push(rest);
    }

    let program = &opts.command[0];
    let mut cmd = Command::new(program);
    cmd.args(&opts.command[1..]).env("LD_PRELOAD", &preload);
    if let Some(n) = opts.stack_size {
        cmd.env("GREENSHIM_STACK_SIZE", n.to_string());
    }
    if let Some(m) = &opts.on_deadlock {
        cmd.env("GREENSHIM_ON_DEADLOCK", m);
    }
    for (var, v) in &opts.set {
        cmd.env(var, v);
    }
    // Lets each process of the run tell whether it is the first one (trace lines carry the pid
    // of the others).
    if !nested {
        cmd.env(settings::LAUNCHER_PID, std::process::id().to_string());
    }

    let old_mask = install_forwarding();
    // The child must not inherit the forwarded signals blocked (std leaves the mask as it is):
    // give it the mask the launcher was started with. Handlers are reset by exec itself.
    // SAFETY: sigprocmask is async-signal-safe; `old_mask` is a copy owned by the closure.
    unsafe {
        cmd.pre_exec(move || {
            restore_mask(&old_mask);
            Ok(())
        });
    }
    let spawned = cmd.spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            restore_mask(&old_mask);
            let name = program.to_string_lossy();
            let has_slash = program.as_bytes().contains(&b'/');
            match e.kind() {
                ErrorKind::NotFound if has_slash => fail(127, &format!("{name}: No such file or directory")),
                ErrorKind::NotFound => fail(127, &format!("{name}: command not found")),
                ErrorKind::PermissionDenied => fail(126, &format!("{name}: Permission denied")),
                _ => fail(126, &format!("{name}: cannot execute: {e}")),
            }
        }
    };
    CHILD.store(child.id() as i32, Ordering::SeqCst);
    restore_mask(&old_mask);

    let status = loop {
        match child.wait() {
            Ok(s) => break s,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => fail(1, &format!("waiting for {}: {e}", program.to_string_lossy())),
        }
    };
    if let Some(code) = status.code() {
        exit(code);
    }
    exit(128 + status.signal().unwrap_or(0))
}
