//! The `GREENSHIM_*` settings, shared by the launcher (`greenshim`) and the preload library.
//!
//! Parsing is pure: the caller reads the environment and hands the `(name, value)` pairs to
//! [`from_vars`]. Nothing here does I/O; the only allocations are the `String`s of error lines,
//! so this is safe to call from the preload library's constructor.
//!
//! Every error is ONE complete line (no trailing newline) that names the variable, its value and
//! the accepted form, ready to be written to stderr as is.

/// Smallest accepted stack size (glibc's `PTHREAD_STACK_MIN`).
pub const STACK_SIZE_MIN: usize = 16 * 1024;
/// Largest accepted stack size: 1 GiB.
pub const STACK_SIZE_MAX: usize = 1 << 30;
/// Stack size of a greenlet when `GREENSHIM_STACK_SIZE` is not set.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Sizes are rounded up to a multiple of this (the page size).
const PAGE: usize = 4096;

/// Settings given through `GREENSHIM_*` environment variables. `None` means "not set".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    /// `GREENSHIM_STACK_SIZE`, in bytes (a multiple of 4096 within
    /// `STACK_SIZE_MIN..=STACK_SIZE_MAX`).
    pub stack_size: Option<usize>,
    /// `GREENSHIM_ON_DEADLOCK`: what to do when every greenlet waits and nothing can wake them.
    pub on_deadlock: OnDeadlock,
    /// `GREENSHIM_STACK_GUARD`: `page` (default, a guard page per stack) or `canary` (stacks
    /// carved from shared slabs, checked by a canary word instead).
    pub stack_guard: crate::stack::GuardMode,
    /// `GREENSHIM_TLS`: `per-greenlet` (default: each greenlet its own thread-local storage
    /// and thread descriptor, as each thread natively) or `shared` (greenlets share the OS
    /// thread's). `None`: not set.
    pub tls: Option<TlsMode>,
    /// `GREENSHIM_CATCH`: `all` (default where the kernel has syscall user dispatch: system
    /// calls glibc makes internally are caught too) or `exports` (only libc's exported
    /// functions). `None`: not set.
    pub catch: Option<CatchMode>,
    /// `GREENSHIM_TRACE`: a line per interposed call (`greenshim --trace`).
    pub trace: bool,
    /// `GREENSHIM_TRACE_FILE`: where trace lines and the summary go (`-o`); stderr if unset.
    pub trace_file: Option<String>,
    /// `GREENSHIM_TRACE_FILTER`: only these calls (`-e trace=read,write`).
    pub trace_filter: Option<Vec<String>>,
    /// `GREENSHIM_TRACE_STRSIZE`: bytes of a buffer shown (`-s`); 32 if unset.
    pub trace_strsize: Option<u32>,
    /// `GREENSHIM_TRACE_TIMESTAMPS`: wall-clock time on each line (`-tt`).
    pub trace_timestamps: bool,
    /// `GREENSHIM_TRACE_DURATIONS`: time spent in each call (`-T`).
    pub trace_durations: bool,
    /// `GREENSHIM_SUMMARY`: a table of calls at exit (`-c`).
    pub summary: bool,
    /// `GREENSHIM_MAX_BLOCKING_MS`: report a greenlet that holds the hub longer than this.
    pub max_blocking_ms: Option<u64>,
    /// `GREENSHIM_DUMP_SIGNAL`: signal number that prints every greenlet.
    pub dump_signal: Option<i32>,
    /// `GREENSHIM_TIME_SLICE_MS`: a greenlet making interposed calls without a switch for this
    /// long yields at its next one (`None`: the default, 5 ms).
    pub time_slice_ms: Option<u64>,
    /// `GREENSHIM_LIVE`: answer `greenshim -p PID` on a unix socket (`None`: the default, on).
    pub live: Option<bool>,
    /// `GREENSHIM_HUBS`: hubs (OS threads running greenlets) requested, 1..=[`HUBS_MAX`]
    /// (`None`: the default, one hub). The multi-hub code is the `greenshim-hubs` crate (`hubs/`).
    pub hubs: Option<u32>,
}

/// Largest `GREENSHIM_HUBS` accepted.
pub const HUBS_MAX: u32 = 256;

/// What the hub does on a deadlock (every greenlet waits on a primitive or a join, no timer, no
/// fd wait): always print a report of every greenlet to stderr, then...
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnDeadlock {
    /// ...keep waiting, as the native program would (`report`, the default).
    #[default]
    Report,
    /// ...exit with status [`DEADLOCK_EXIT_STATUS`] (`abort`).
    Abort,
}

/// Exit status of a process that `GREENSHIM_ON_DEADLOCK=abort` ended.
pub const DEADLOCK_EXIT_STATUS: i32 = 86;

/// `GREENSHIM_CATCH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatchMode {
    All,
    Exports,
}

/// `GREENSHIM_TLS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    PerGreenlet,
    Shared,
}

/// The accepted form of `GREENSHIM_ON_DEADLOCK`.
pub const ON_DEADLOCK_FORM: &str = "expected 'report' (print a report and keep waiting, the default) or 'abort' (print it and exit with status 86)";

/// Parse a `GREENSHIM_ON_DEADLOCK` / `--on-deadlock` value; `Err` is the accepted form.
pub fn parse_on_deadlock(s: &str) -> Result<OnDeadlock, String> {
    match s {
        "report" | "" => Ok(OnDeadlock::Report),
        "abort" => Ok(OnDeadlock::Abort),
        _ => Err(ON_DEADLOCK_FORM.to_string()),
    }
}

impl Settings {
    /// The stack size to use: the one set, or [`DEFAULT_STACK_SIZE`].
    pub fn effective_stack_size(&self) -> usize {
        self.stack_size.unwrap_or(DEFAULT_STACK_SIZE)
    }
}

/// Every `GREENSHIM_*` setting the project knows, with a one-line description (for `--help`
/// and for rejecting unknown names). Add new settings here and in [`from_vars`].
pub const KNOWN: &[(&str, &str)] = &[
    (
        "GREENSHIM_STACK_SIZE",
        "stack size of each greenlet: bytes with an optional K, M or G suffix, 16K..1G (default 256K)",
    ),
    ("GREENSHIM_STACK_GUARD", "page = a guard page below each stack (default; guard regions in shared slabs on Linux 6.13+, else a mapping each while vm.max_map_count allows, then canary-checked stacks); canary = no guard pages, stacks carved from shared slabs and checked for overflow at every switch"),
    ("GREENSHIM_CATCH", "all = also catch the system calls libc makes internally (stdio, the resolver, system(), syscall(), ...) with syscall user dispatch, so that they park only their greenlet (default where the kernel has it, Linux 5.11+); exports = only libc's exported functions"),
    ("GREENSHIM_TLS", "per-greenlet = each greenlet has its own thread-local storage (__thread, errno, thread_local) and thread descriptor, as each thread natively (default); shared = greenlets share the OS thread's (cheaper switches, for programs that keep no per-thread state)"),
    ("GREENSHIM_TRACE", "1 = print a line per interposed call, strace-style (greenshim --trace); 0 = off (default; also on/off, yes/no, true/false); the five settings below switch it on unless it is 0 or GREENSHIM_SUMMARY is on"),
    ("GREENSHIM_TRACE_FILE", "append trace lines and the summary to this file instead of stderr (greenshim -o FILE, which empties it first)"),
    ("GREENSHIM_TRACE_FILTER", "trace only these calls, comma-separated, optionally after trace=; strace's names (openat, newfstatat, rt_sigaction, ...) and classes (%file, %desc, %network, %signal, %process) select what greenshim traces for them (greenshim -e trace=read,write)"),
    ("GREENSHIM_TRACE_STRSIZE", "bytes of each buffer shown in a trace line, 0..65536 (greenshim -s N; default 32)"),
    ("GREENSHIM_TRACE_TIMESTAMPS", "1 = wall-clock time on each trace line (greenshim -tt)"),
    ("GREENSHIM_TRACE_DURATIONS", "1 = time spent in each call on each trace line (greenshim -T)"),
    ("GREENSHIM_SUMMARY", "1 = print a table of calls and the hub's figures at exit, headed by the pid and command line (greenshim -c)"),
    ("GREENSHIM_MAX_BLOCKING_MS", "report a greenlet that runs this many ms without yielding, 1..3600000 (greenshim --max-blocking-time MS; off by default)"),
    ("GREENSHIM_DUMP_SIGNAL", "print every greenlet when this signal arrives, e.g. USR2 (greenshim --dump-signal SIG; off by default)"),
    ("GREENSHIM_LIVE", "answer the live view (greenshim -p PID) on a unix socket under $XDG_RUNTIME_DIR/greenshim or /tmp/greenshim-UID: 1 (default) or 0"),
    ("GREENSHIM_TIME_SLICE_MS", "a greenlet that keeps making interposed calls without parking for this many ms yields to the others at its next call, 1..60000 (default 5)"),
    ("GREENSHIM_HUBS", "hubs (OS threads running greenlets), 1..256 (greenshim --hubs N; default 1, gevent's model); more than 1: N hubs on N OS threads (README, \"More than one hub\")"),
    (
        "GREENSHIM_ON_DEADLOCK",
        "on a deadlock (every greenlet waits, nothing can wake them) print a report and: report = keep waiting (default), abort = exit with status 86",
    ),
];

/// `GREENSHIM_*` variables that are not settings of the preload library (the launcher's own);
/// [`from_vars`] ignores them instead of rejecting them as unknown.
pub const LAUNCHER_ONLY: &[&str] = &["GREENSHIM_LIB", LAUNCHER_PID];

/// Set by the launcher for the processes of its run: its own pid. A traced process whose parent
/// is not the launcher is not the run's first process, so its trace lines carry its pid.
pub const LAUNCHER_PID: &str = "GREENSHIM_LAUNCHER_PID";

/// The prefix that marks a variable as ours.
pub const PREFIX: &str = "GREENSHIM_";

/// The accepted form of a size, as [`parse_size`] reports it.
const SIZE_FORM: &str = "expected bytes with an optional K, M or G suffix between 16K and 1G";

/// Parse the settings from `(name, value)` pairs: all environment variables may be passed,
/// those not starting with `GREENSHIM_` are ignored. An empty value counts as not set.
///
/// `Err` is one line naming the variable, the bad value and the accepted form, e.g.
/// `greenshim: GREENSHIM_STACK_SIZE='-1' is not a valid stack size; expected bytes with an
/// optional K, M or G suffix between 16K and 1G, e.g. GREENSHIM_STACK_SIZE=512K`.
/// An unknown `GREENSHIM_*` variable is an error too. If a name occurs more than once, the
/// first occurrence wins (as with `getenv`), but every occurrence must be valid.
pub fn from_vars<I, K, V>(vars: I) -> Result<Settings, String>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut s = Settings::default();
    let mut seen_on_deadlock = false;
    let mut seen_diag: Vec<String> = Vec::new();
    for (name, value) in vars {
        let (name, value) = (name.as_ref(), value.as_ref());
        if !name.starts_with(PREFIX) || LAUNCHER_ONLY.contains(&name) {
            continue;
        }
        match name {
            "GREENSHIM_STACK_SIZE" => {
                if value.is_empty() {
                    continue;
                }
                let n = parse_size(value).map_err(|form| {
                    format!(
                        "greenshim: {name}='{}' is not a valid stack size; {form}, e.g. {name}=512K",
                        printable(value)
                    )
                })?;
                s.stack_size.get_or_insert(n);
            }
            "GREENSHIM_ON_DEADLOCK" => {
                if value.is_empty() {
                    continue;
                }
                let mode = parse_on_deadlock(value).map_err(|form| {
                    format!("greenshim: {name}='{}' is not a valid mode; {form}, e.g. {name}=abort", printable(value))
                })?;
                if !seen_on_deadlock {
                    s.on_deadlock = mode;
                    seen_on_deadlock = true;
                }
            }
            "GREENSHIM_STACK_GUARD" => {
                let mode = match value {
                    "" => continue,
                    "page" => crate::stack::GuardMode::Page,
                    "canary" => crate::stack::GuardMode::Canary,
                    _ => {
                        return Err(format!(
                            "greenshim: {name}='{}' is not a valid mode; expected page or canary, e.g. {name}=canary",
                            printable(value)
                        ))
                    }
                };
                if !seen_diag.iter().any(|n| n == name) {
                    s.stack_guard = mode;
                    seen_diag.push(name.to_string());
                }
            }
            "GREENSHIM_CATCH" => {
                let mode = match value {
                    "" => continue,
                    "all" => CatchMode::All,
                    "exports" => CatchMode::Exports,
                    _ => {
                        return Err(format!(
                            "greenshim: {name}='{}' is not a valid mode; expected all or exports, e.g. {name}=exports",
                            printable(value)
                        ))
                    }
                };
                if !seen_diag.iter().any(|n| n == name) {
                    s.catch = Some(mode);
                    seen_diag.push(name.to_string());
                }
            }
            "GREENSHIM_TLS" => {
                let mode = match value {
                    "" => continue,
                    "per-greenlet" => TlsMode::PerGreenlet,
                    "shared" => TlsMode::Shared,
                    _ => {
                        return Err(format!(
                            "greenshim: {name}='{}' is not a valid mode; expected per-greenlet or shared, e.g. {name}=shared",
                            printable(value)
                        ))
                    }
                };
                if !seen_diag.iter().any(|n| n == name) {
                    s.tls = Some(mode);
                    seen_diag.push(name.to_string());
                }
            }
            _ if diag_setting(name) => {
                if value.is_empty() {
                    continue;
                }
                // First occurrence wins; later ones are checked all the same.
                let first = !seen_diag.iter().any(|n| n == name);
                let mut scratch = Settings::default();
                parse_diag(if first { &mut s } else { &mut scratch }, name, value).map_err(|bad| bad.for_var(name, value))?;
                if first {
                    seen_diag.push(name.to_string());
                }
            }
            _ => return Err(unknown(name)),
        }
    }
    // As strace's -o, -e, -s, -tt and -T, the trace's own settings switch tracing on, unless
    // GREENSHIM_TRACE says otherwise or the summary was asked for (strace -c -e: the table only).
    let trace_set = seen_diag.iter().any(|n| n == "GREENSHIM_TRACE");
    let shaping = s.trace_file.is_some() || s.trace_filter.is_some() || s.trace_strsize.is_some() || s.trace_timestamps || s.trace_durations;
    if !trace_set && !s.summary && shaping {
        s.trace = true;
    }
    Ok(s)
}

/// The settings [`parse_diag`] parses.
fn diag_setting(name: &str) -> bool {
    matches!(
        name,
        "GREENSHIM_TRACE"
            | "GREENSHIM_TRACE_FILE"
            | "GREENSHIM_TRACE_FILTER"
            | "GREENSHIM_TRACE_STRSIZE"
            | "GREENSHIM_TRACE_TIMESTAMPS"
            | "GREENSHIM_TRACE_DURATIONS"
            | "GREENSHIM_SUMMARY"
            | "GREENSHIM_MAX_BLOCKING_MS"
            | "GREENSHIM_DUMP_SIGNAL"
            | "GREENSHIM_TIME_SLICE_MS"
            | "GREENSHIM_LIVE"
            | "GREENSHIM_HUBS"
    )
}

/// Every form a boolean setting accepts, for messages.
pub const BOOL_FORM: &str = "expected 1/0/on/off/yes/no/true/false (any case)";

/// A boolean setting: `1`/`0`, `on`/`off`, `yes`/`no`, `true`/`false`, in any case.
fn parse_bool(value: &str) -> Result<bool, Invalid> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "on" | "true" | "yes" => Ok(true),
        "0" | "off" | "false" | "no" => Ok(false),
        _ => Err(Invalid::new(BOOL_FORM, "1")),
    }
}

/// Why a value was refused: the accepted form and an example value. The caller names what the
/// user typed — the variable ([`Invalid::for_var`]) or the launcher option
/// ([`Invalid::for_option`]) — so that the message shows the fix in the user's own terms.
#[derive(Clone, Debug, PartialEq)]
pub struct Invalid {
    /// Every accepted form, e.g. `expected a number of bytes from 0 to 65536`.
    pub form: String,
    /// A valid value, shown as the example.
    pub example: String,
}

impl Invalid {
    fn new(form: impl Into<String>, example: &str) -> Invalid {
        Invalid { form: form.into(), example: example.to_string() }
    }

    /// `greenshim: NAME='VALUE' is not valid: FORM, e.g. NAME=EXAMPLE`.
    pub fn for_var(&self, name: &str, value: &str) -> String {
        format!("greenshim: {name}='{}' is not valid: {}, e.g. {name}={}", printable(value), self.form, self.example)
    }

    /// `greenshim: OPTION 'VALUE' is not valid: FORM, e.g. OPTION EXAMPLE`.
    pub fn for_option(&self, option: &str, value: &str) -> String {
        format!("greenshim: {option} '{}' is not valid: {}, e.g. {option} {}", printable(value), self.form, self.example)
    }
}

/// Check the value of one diagnostics setting (`GREENSHIM_TRACE_STRSIZE`, ...), for the
/// launcher, which names its own option in the message.
pub fn check_diag(name: &str, value: &str) -> Result<(), Invalid> {
    parse_diag(&mut Settings::default(), name, value)
}

/// A signal by name or number: `USR2`, `SIGUSR2`, `12`. Signals the program cannot catch or
/// that mean a fault are refused.
pub fn parse_signal(value: &str) -> Result<i32, String> {
    const NAMES: &[(&str, i32)] = &[
        ("HUP", 1), ("INT", 2), ("QUIT", 3), ("USR1", 10), ("USR2", 12), ("PIPE", 13), ("ALRM", 14),
        ("TERM", 15), ("CHLD", 17), ("CONT", 18), ("TSTP", 20), ("TTIN", 21), ("TTOU", 22), ("URG", 23),
        ("XCPU", 24), ("XFSZ", 25), ("VTALRM", 26), ("PROF", 27), ("WINCH", 28), ("IO", 29), ("PWR", 30),
    ];
    let form = || "expected a signal name or number the program may catch (USR2, SIGUSR2 or 12)".to_string();
    let up = value.to_ascii_uppercase();
    let bare = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(&(_, n)) = NAMES.iter().find(|(k, _)| *k == bare) {
        return Ok(n);
    }
    if let Some(rt) = bare.strip_prefix("RTMIN+") {
        let k: i32 = rt.parse().map_err(|_| form())?;
        return if (0..=30).contains(&k) { Ok(34 + k) } else { Err(form()) };
    }
    let n: i32 = value.parse().map_err(|_| form())?;
    // Not KILL/STOP (uncatchable), not the fault signals (ILL, TRAP, ABRT, BUS, FPE, SEGV).
    match n {
        1..=3 | 10 | 12..=15 | 17..=31 | 34..=64 => Ok(n),
        _ => Err(form()),
    }
}

/// Parse one diagnostics setting into `s`. Names that are not diagnostics settings are the
/// caller's business (see [`diag_setting`]).
fn parse_diag(s: &mut Settings, name: &str, value: &str) -> Result<(), Invalid> {
    let number = |form: &str, eg: &str, range: std::ops::RangeInclusive<u64>| -> Result<u64, Invalid> {
        match value.parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(Invalid::new(form, eg)),
        }
    };
    match name {
        "GREENSHIM_TRACE" => s.trace = parse_bool(value)?,
        "GREENSHIM_TRACE_TIMESTAMPS" => s.trace_timestamps = parse_bool(value)?,
        "GREENSHIM_TRACE_DURATIONS" => s.trace_durations = parse_bool(value)?,
        "GREENSHIM_SUMMARY" => s.summary = parse_bool(value)?,
        "GREENSHIM_TRACE_FILE" => s.trace_file = Some(value.to_string()),
        "GREENSHIM_TRACE_FILTER" => s.trace_filter = Some(parse_filter(value)?),
        "GREENSHIM_TRACE_STRSIZE" => {
            s.trace_strsize = Some(number("expected a number of bytes from 0 to 65536", "64", 0..=65536)? as u32)
        }
        "GREENSHIM_MAX_BLOCKING_MS" => {
            s.max_blocking_ms = Some(number("expected milliseconds from 1 to 3600000", "100", 1..=3_600_000)?)
        }
        "GREENSHIM_DUMP_SIGNAL" => s.dump_signal = Some(parse_signal(value).map_err(|form| Invalid::new(form, "USR2"))?),
        "GREENSHIM_LIVE" => s.live = Some(parse_bool(value)?),
        "GREENSHIM_TIME_SLICE_MS" => s.time_slice_ms = Some(number("expected milliseconds from 1 to 60000", "5", 1..=60_000)?),
        "GREENSHIM_HUBS" => {
            let form = "expected a number of hubs from 1 to 256";
            let n: u32 = value.parse().map_err(|_| Invalid::new(form, "1"))?;
            if !(1..=HUBS_MAX).contains(&n) {
                return Err(Invalid::new(form, "1"));
            }
            s.hubs = Some(n);
        }
        _ => return Err(Invalid::new("not a diagnostics setting", "")),
    }
    Ok(())
}

/// A call filter, as strace's `-e`: `trace=read,write` or just `read,write`; strace's names
/// (`openat`, `newfstatat`, `rt_sigaction`, ...) and classes (`%file`, `%network`, ...) select
/// the calls greenshim traces for them. The result lists greenshim's call names.
fn parse_filter(value: &str) -> Result<Vec<String>, Invalid> {
    let form = |why: String| {
        Invalid::new(
            format!(
                "{why}; expected [trace=]CALL[,CALL...] with CALLs among: {}; or strace's {}",
                crate::calls::NAMES.join(","),
                crate::calls::other_names()
            ),
            "trace=read,write",
        )
    };
    let list = match value.split_once('=') {
        None => value,
        Some(("trace", list)) => list,
        Some((q, _)) => return Err(form(format!("greenshim has no '{}=' qualifier, only trace=", printable(q)))),
    };
    let mut names: Vec<String> = Vec::new();
    for n in list.split(',').map(str::trim) {
        let Some(calls) = crate::calls::select(n) else {
            return Err(form(format!("'{}' is not a call greenshim traces", printable(n))));
        };
        for c in calls {
            if !names.iter().any(|x| x == c) {
                names.push(c.to_string());
            }
        }
    }
    Ok(names)
}

/// The error line for an unknown `GREENSHIM_*` variable.
fn unknown(name: &str) -> String {
    let mut known = String::new();
    for (i, (k, _)) in KNOWN.iter().enumerate() {
        if i > 0 {
            known.push_str(", ");
        }
        known.push_str(k);
    }
    format!(
        "greenshim: unknown setting {}; known settings: {known} (unset it or fix its name)",
        printable(name)
    )
}

/// Parse a size: decimal bytes with an optional binary suffix `K`/`KiB`, `M`/`MiB`, `G`/`GiB`
/// (any case), e.g. `65536`, `64K`, `64k`, `64KiB`, `1M`, `1G`. The result is rounded up to a
/// multiple of 4096 and must lie within `STACK_SIZE_MIN..=STACK_SIZE_MAX`.
/// `Err` is the description of the accepted form.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let err = || SIZE_FORM.to_string();
    let digits_end = s.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(s.len());
    let (digits, suffix) = s.split_at(digits_end);
    if digits.is_empty() {
        return Err(err());
    }
    let unit: usize = match suffix.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => return Err(err()),
    };
    // Too many digits to fit is simply too large.
    let n: usize = digits.parse().map_err(|_| err())?;
    let bytes = n.checked_mul(unit).ok_or_else(err)?;
    if !(STACK_SIZE_MIN..=STACK_SIZE_MAX).contains(&bytes) {
        return Err(err());
    }
    // STACK_SIZE_MAX is a multiple of PAGE, so rounding up cannot leave the range.
    Ok(bytes.div_ceil(PAGE) * PAGE)
}

/// A size in the shortest exact form `parse_size` accepts back: `256K`, `1M`, `12345`.
pub fn format_size(n: usize) -> String {
    if n != 0 && n.is_multiple_of(1 << 30) {
        format!("{}G", n >> 30)
    } else if n != 0 && n.is_multiple_of(1 << 20) {
        format!("{}M", n >> 20)
    } else if n != 0 && n.is_multiple_of(1 << 10) {
        format!("{}K", n >> 10)
    } else {
        n.to_string()
    }
}

/// A user-supplied value made safe for a one-line message: control characters escaped,
/// long values shortened.
fn printable(v: &str) -> String {
    const MAX: usize = 64;
    let mut out = String::new();
    for (i, c) in v.chars().enumerate() {
        if i == MAX {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: usize = 1024;
    const M: usize = 1024 * 1024;

    #[test]
    fn size_plain_bytes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("16384"), Ok(STACK_SIZE_MIN));
        assert_eq!(parse_size("1073741824"), Ok(STACK_SIZE_MAX));
        assert_eq!(parse_size("000065536"), Ok(65536));
    }

    #[test]
    fn size_suffixes_any_case() {
        for s in ["64K", "64k", "64KiB", "64kib", "64KIB", "64Kib"] {
            assert_eq!(parse_size(s), Ok(64 * K), "{s}");
        }
        for s in ["1M", "1m", "1MiB", "1mib"] {
            assert_eq!(parse_size(s), Ok(M), "{s}");
        }
        for s in ["1G", "1g", "1GiB", "1gib"] {
            assert_eq!(parse_size(s), Ok(STACK_SIZE_MAX), "{s}");
        }
        assert_eq!(parse_size("16K"), Ok(STACK_SIZE_MIN));
        assert_eq!(parse_size("1024M"), Ok(STACK_SIZE_MAX));
        assert_eq!(parse_size("1048576K"), Ok(STACK_SIZE_MAX));
        assert_eq!(parse_size("512K"), Ok(512 * K));
    }

    #[test]
    fn size_rounded_up_to_page() {
        assert_eq!(parse_size("16385"), Ok(20480));
        assert_eq!(parse_size("65535"), Ok(65536));
        assert_eq!(parse_size("65537"), Ok(65536 + 4096));
        assert_eq!(parse_size("17K"), Ok(20 * K));
        assert_eq!(parse_size("1073741823"), Ok(STACK_SIZE_MAX));
        for s in ["16385", "99999", "100K", "3M"] {
            assert_eq!(parse_size(s).unwrap() % 4096, 0, "{s}");
        }
    }

    #[test]
    fn size_rejected_forms() {
        for s in [
            "", " ", "K", "abc", "-1", "+64K", "64 K", " 64K", "64K ", "6 4K", "64KB", "64kb",
            "64B", "64Ki", "64KK", "64T", "1.5M", "0x1000", "1e6", "64K1", "1_000_000", "１２３",
        ] {
            assert_eq!(parse_size(s), Err(SIZE_FORM.to_string()), "{s:?}");
        }
    }

    #[test]
    fn size_out_of_range() {
        for s in [
            "0", "0K", "1", "4096", "16383", "15K", "1073741825", "1025M", "2G", "1048577K",
            "18446744073709551615", "18446744073709551616", "99999999999999999999999G",
            "17179869184G",
        ] {
            assert_eq!(parse_size(s), Err(SIZE_FORM.to_string()), "{s:?}");
        }
    }

    #[test]
    fn vars_none_set() {
        let none: [(&str, &str); 0] = [];
        assert_eq!(from_vars(none), Ok(Settings::default()));
        assert_eq!(Settings::default().effective_stack_size(), DEFAULT_STACK_SIZE);
        assert_eq!(
            from_vars([("PATH", "/bin"), ("HOME", "/root"), ("greenshim_stack_size", "x")]),
            Ok(Settings::default())
        );
    }

    #[test]
    fn vars_stack_size() {
        let s = from_vars([("PATH", "/bin"), ("GREENSHIM_STACK_SIZE", "512K")]).unwrap();
        assert_eq!(s.stack_size, Some(512 * K));
        assert_eq!(s.effective_stack_size(), 512 * K);
        // Owned strings work too (as from std::env::vars()).
        let owned = vec![("GREENSHIM_STACK_SIZE".to_string(), "65537".to_string())];
        assert_eq!(from_vars(owned).unwrap().stack_size, Some(69632));
    }

    #[test]
    fn vars_empty_value_is_unset() {
        assert_eq!(from_vars([("GREENSHIM_STACK_SIZE", "")]), Ok(Settings::default()));
    }

    #[test]
    fn vars_first_wins_but_all_checked() {
        let s = from_vars([("GREENSHIM_STACK_SIZE", "64K"), ("GREENSHIM_STACK_SIZE", "1M")]);
        assert_eq!(s.unwrap().stack_size, Some(64 * K));
        assert!(from_vars([("GREENSHIM_STACK_SIZE", "64K"), ("GREENSHIM_STACK_SIZE", "x")]).is_err());
    }

    #[test]
    fn vars_bad_value_message() {
        let e = from_vars([("GREENSHIM_STACK_SIZE", "-1")]).unwrap_err();
        assert_eq!(
            e,
            "greenshim: GREENSHIM_STACK_SIZE='-1' is not a valid stack size; expected bytes with \
             an optional K, M or G suffix between 16K and 1G, e.g. GREENSHIM_STACK_SIZE=512K"
        );
        for v in ["abc", "0", "2G", "64KB", " 1M"] {
            let e = from_vars([("GREENSHIM_STACK_SIZE", v)]).unwrap_err();
            assert!(e.starts_with("greenshim: GREENSHIM_STACK_SIZE='"), "{e}");
            assert!(e.contains(&format!("'{v}'")), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn vars_message_is_one_line() {
        let e = from_vars([("GREENSHIM_STACK_SIZE", "1\n2\r3\t")]).unwrap_err();
        assert!(!e.contains('\n') && !e.contains('\r'), "{e}");
        assert!(e.contains(r"'1\n2\r3\t'"), "{e}");
        let long = "9".repeat(500);
        let e = from_vars([("GREENSHIM_STACK_SIZE", long.as_str())]).unwrap_err();
        assert!(e.len() < 300, "{e}");
        let e = from_vars([("GREENSHIM_X\nY", "1")]).unwrap_err();
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn vars_unknown_rejected() {
        for name in ["GREENSHIM_STACKSIZE", "GREENSHIM_TRACING", "GREENSHIM_", "GREENSHIM_stack_size"] {
            let e = from_vars([(name, "1")]).unwrap_err();
            assert!(e.starts_with("greenshim: unknown setting "), "{e}");
            assert!(e.contains(name), "{e}");
            assert!(e.contains("GREENSHIM_STACK_SIZE"), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        // Rejected even when empty: a misspelt name is never silently ignored.
        assert!(from_vars([("GREENSHIM_STAK_SIZE", "")]).is_err());
    }

    #[test]
    fn vars_launcher_only_ignored() {
        assert_eq!(from_vars([("GREENSHIM_LIB", "/x/libgreenshim.so")]), Ok(Settings::default()));
    }

    #[test]
    fn vars_time_slice() {
        assert_eq!(from_vars([("GREENSHIM_TIME_SLICE_MS", "20")]).unwrap().time_slice_ms, Some(20));
        for v in ["0", "60001", "5ms", "-1"] {
            let e = from_vars([("GREENSHIM_TIME_SLICE_MS", v)]).unwrap_err();
            assert!(e.contains("GREENSHIM_TIME_SLICE_MS"), "{e}");
        }
    }

    #[test]
    fn vars_hubs() {
        assert_eq!(from_vars([("GREENSHIM_HUBS", "2")]).unwrap().hubs, Some(2));
        assert_eq!(from_vars([("GREENSHIM_HUBS", "")]).unwrap().hubs, None);
        for v in ["0", "257", "two", "-1", "2.0"] {
            let e = from_vars([("GREENSHIM_HUBS", v)]).unwrap_err();
            assert!(e.contains("GREENSHIM_HUBS") && e.contains("from 1 to 256"), "{e}");
        }
    }

    #[test]
    fn known_list_is_consistent() {
        for (name, desc) in KNOWN {
            assert!(name.starts_with(PREFIX));
            assert!(!desc.is_empty() && !desc.contains('\n'));
            assert!(!LAUNCHER_ONLY.contains(name));
            // Every known name is accepted by from_vars (with an empty value = unset).
            assert_eq!(from_vars([(*name, "")]), Ok(Settings::default()), "{name}");
        }
    }

    #[test]
    fn vars_on_deadlock() {
        assert_eq!(from_vars([("GREENSHIM_ON_DEADLOCK", "abort")]).unwrap().on_deadlock, OnDeadlock::Abort);
        assert_eq!(from_vars([("GREENSHIM_ON_DEADLOCK", "report")]).unwrap().on_deadlock, OnDeadlock::Report);
        assert_eq!(from_vars([("GREENSHIM_ON_DEADLOCK", "")]).unwrap().on_deadlock, OnDeadlock::Report);
        let s = from_vars([("GREENSHIM_ON_DEADLOCK", "abort"), ("GREENSHIM_ON_DEADLOCK", "report")]);
        assert_eq!(s.unwrap().on_deadlock, OnDeadlock::Abort);
        for v in ["Abort", "exit", "1", " abort"] {
            let e = from_vars([("GREENSHIM_ON_DEADLOCK", v)]).unwrap_err();
            assert!(e.starts_with("greenshim: GREENSHIM_ON_DEADLOCK='"), "{e}");
            assert!(e.contains("'report'") && e.contains("'abort'") && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn format_round_trips() {
        assert_eq!(format_size(DEFAULT_STACK_SIZE), "256K");
        assert_eq!(format_size(STACK_SIZE_MAX), "1G");
        assert_eq!(format_size(M), "1M");
        assert_eq!(format_size(69632), "68K");
        assert_eq!(format_size(12345), "12345");
        for n in [STACK_SIZE_MIN, DEFAULT_STACK_SIZE, 69632, 3 * M, STACK_SIZE_MAX] {
            assert_eq!(parse_size(&format_size(n)), Ok(n));
        }
    }

    #[test]
    fn diag_settings() {
        let s = from_vars([
            ("GREENSHIM_TRACE", "1"),
            ("GREENSHIM_TRACE_FILE", "/tmp/t"),
            ("GREENSHIM_TRACE_FILTER", "trace=read,write"),
            ("GREENSHIM_TRACE_STRSIZE", "64"),
            ("GREENSHIM_SUMMARY", "on"),
            ("GREENSHIM_MAX_BLOCKING_MS", "100"),
            ("GREENSHIM_DUMP_SIGNAL", "SIGUSR2"),
        ])
        .unwrap();
        assert!(s.trace && s.summary);
        assert_eq!(s.trace_file.as_deref(), Some("/tmp/t"));
        assert_eq!(s.trace_filter, Some(vec!["read".to_string(), "write".to_string()]));
        assert_eq!(s.trace_strsize, Some(64));
        assert_eq!(s.max_blocking_ms, Some(100));
        assert_eq!(s.dump_signal, Some(libc::SIGUSR2));
        for (k, v) in [
            ("GREENSHIM_TRACE", "maybe"),
            ("GREENSHIM_TRACE_FILTER", "read,bogus"),
            ("GREENSHIM_TRACE_STRSIZE", "-1"),
            ("GREENSHIM_MAX_BLOCKING_MS", "0"),
            ("GREENSHIM_DUMP_SIGNAL", "KILL"),
            ("GREENSHIM_DUMP_SIGNAL", "11"),
        ] {
            let e = from_vars([(k, v)]).unwrap_err();
            assert!(e.contains(k) && !e.contains('\n'), "{e}");
        }
        assert_eq!(parse_signal("usr1"), Ok(libc::SIGUSR1));
        // A misspelt name that starts like a diagnostics setting is unknown, not a panic.
        assert!(from_vars([("GREENSHIM_TRACEFILE", "x")]).unwrap_err().contains("unknown setting"));
    }

    #[test]
    fn bad_values_name_the_variable_and_every_form() {
        assert_eq!(
            from_vars([("GREENSHIM_TRACE", "maybe")]).unwrap_err(),
            "greenshim: GREENSHIM_TRACE='maybe' is not valid: expected 1/0/on/off/yes/no/true/false (any case), e.g. GREENSHIM_TRACE=1"
        );
        assert_eq!(
            from_vars([("GREENSHIM_TRACE_STRSIZE", "abc")]).unwrap_err(),
            "greenshim: GREENSHIM_TRACE_STRSIZE='abc' is not valid: expected a number of bytes from 0 to 65536, e.g. GREENSHIM_TRACE_STRSIZE=64"
        );
        for v in ["1", "0", "on", "OFF", "Yes", "no", "TRUE", "false"] {
            assert!(from_vars([("GREENSHIM_SUMMARY", v)]).is_ok(), "{v}");
        }
        let e = from_vars([("GREENSHIM_TRACE_FILTER", "signal=all")]).unwrap_err();
        assert!(e.contains("'signal='") && e.contains("e.g. GREENSHIM_TRACE_FILTER=trace=read,write"), "{e}");
    }

    #[test]
    fn filter_takes_strace_names_and_classes() {
        let f = |v: &str| from_vars([("GREENSHIM_TRACE_FILTER", v)]).unwrap().trace_filter.unwrap();
        assert_eq!(f("trace=openat,read"), ["open", "openat", "creat", "read"]);
        assert_eq!(f("newfstatat"), ["fstat", "stat", "lstat", "fstatat"]);
        assert!(f("%network").contains(&"connect".to_string()));
        assert_eq!(f("read,read"), ["read"]);
    }

    #[test]
    fn launcher_messages_name_the_option() {
        let bad = check_diag("GREENSHIM_TRACE_STRSIZE", "abc").unwrap_err();
        assert_eq!(bad.for_option("-s", "abc"), "greenshim: -s 'abc' is not valid: expected a number of bytes from 0 to 65536, e.g. -s 64");
        let bad = check_diag("GREENSHIM_TRACE_FILTER", "trace=nosuch").unwrap_err();
        let m = bad.for_option("-e", "trace=nosuch");
        assert!(m.starts_with("greenshim: -e 'trace=nosuch' is not valid: 'nosuch' is not a call greenshim traces;"), "{m}");
        assert!(m.ends_with(", e.g. -e trace=read,write") && m.contains("read,readv,write"), "{m}");
        assert!(check_diag("GREENSHIM_MAX_BLOCKING_MS", "100").is_ok());
    }

    #[test]
    fn trace_shaping_settings_imply_tracing() {
        for (k, v) in [
            ("GREENSHIM_TRACE_FILE", "/tmp/x"),
            ("GREENSHIM_TRACE_FILTER", "read"),
            ("GREENSHIM_TRACE_STRSIZE", "8"),
            ("GREENSHIM_TRACE_TIMESTAMPS", "1"),
            ("GREENSHIM_TRACE_DURATIONS", "yes"),
        ] {
            assert!(from_vars([(k, v)]).unwrap().trace, "{k} implies tracing");
            assert!(!from_vars([(k, v), ("GREENSHIM_TRACE", "0")]).unwrap().trace, "{k} with GREENSHIM_TRACE=0");
            let s = from_vars([(k, v), ("GREENSHIM_SUMMARY", "1")]).unwrap();
            assert!(!s.trace && s.summary, "{k} with the summary: the table only, as strace -c");
        }
        assert!(!from_vars([("GREENSHIM_TRACE_TIMESTAMPS", "0")]).unwrap().trace);
        assert!(!from_vars([("GREENSHIM_MAX_BLOCKING_MS", "100")]).unwrap().trace);
        assert_eq!(parse_signal("RTMIN+1"), Ok(35));
    }
}
