//! `greenshim --trace` against `strace -f` (issue 14): the same program's calls, as both show
//! them; `[pid N gM name]` prefixes once a run has more than one process; `-e`/`-o`/`-s` imply
//! tracing and `-o` appends across exec; `-c` tables headed by pid and command line; bad option
//! and variable values named as the user typed them, with every accepted form.
//!
//! Needs `cargo build --release` first, and strace (`apt-get install strace`):
//!
//! ```sh
//! cargo build --release && cargo test --release --test trace_strace
//! ```

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A fresh scratch directory (under the test work dir).
fn scratch(name: &str) -> PathBuf {
    let d = work_dir().join(format!("trace-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

fn read(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}

/// The call part of a trace line of either tool: greenshim's `[pid N gM name] ` prefix or
/// strace -f -o's `PID ` prefix removed, and greenshim's ` <parked S>` suffix.
fn body(line: &str) -> &str {
    let mut b = line;
    if b.starts_with('[') {
        b = b.split_once("] ").map_or(b, |(_, r)| r);
    } else if let Some((pid, rest)) = b.split_once(' ') {
        if !pid.is_empty() && pid.bytes().all(|c| c.is_ascii_digit()) {
            b = rest.trim_start();
        }
    }
    match b.find(" <parked ") {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Split `name(a, b, {x, y}, "c, d") = R` into name, arguments and result text; braces,
/// brackets and strings keep their commas.
fn split_call(b: &str) -> Option<(String, Vec<String>, String)> {
    let open = b.find('(')?;
    let name = b[..open].to_string();
    let mut args = Vec::new();
    let (mut depth, mut quoted, mut esc, mut cur) = (0, false, false, String::new());
    let mut end = None;
    for (i, c) in b[open + 1..].char_indices() {
        if quoted {
            cur.push(c);
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                cur.push(c);
            }
            '{' | '[' => {
                depth += 1;
                cur.push(c);
            }
            '}' | ']' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => {
                args.push(cur.trim().to_string());
                cur.clear();
            }
            ')' if depth == 0 => {
                end = Some(open + 1 + i);
                break;
            }
            _ => cur.push(c),
        }
    }
    let end = end?;
    if !cur.trim().is_empty() {
        args.push(cur.trim().to_string());
    }
    // strace pads the result to a column: `)        = 3`.
    let ret = b[end + 1..].trim_start().strip_prefix("= ")?.trim().to_string();
    Some((name, args, ret))
}

/// One call in a form both tools share: the libc function's name where strace shows the
/// system call glibc makes for it (`open` → `openat(AT_FDCWD, ..)`, `fstat` →
/// `newfstatat(fd, "", .., AT_EMPTY_PATH)`, `stat`/`lstat` → `newfstatat(AT_FDCWD, ..)`),
/// and addresses (different in each run) as `ADDR`.
fn canonical(line: &str) -> Option<String> {
    let (mut name, mut args, ret) = split_call(body(line))?;
    for a in args.iter_mut() {
        if a.starts_with("0x") && a.len() > 8 {
            *a = "ADDR".into();
        }
        // A handler's address differs from run to run.
        if let Some(i) = a.find("sa_handler=0x") {
            let j = i + a[i..].find(',').unwrap_or(a.len() - i);
            a.replace_range(i..j, "sa_handler=ADDR");
        }
        // The listener's port: the kernel picks one per run.
        if let Some(i) = a.find("sin_port=htons(") {
            let j = i + a[i..].find(')').unwrap_or(0);
            a.replace_range(i..j, "sin_port=htons(PORT");
        }
    }
    match (name.as_str(), args.len()) {
        // The kernel's sigaction has glibc's restorer and the set's size: the libc call has not.
        ("rt_sigaction", 4) | ("rt_sigprocmask", 4) if args[3] == "8" => {
            name = name.trim_start_matches("rt_").to_string();
            args.truncate(3);
            for a in args.iter_mut() {
                *a = a.replace("SA_RESTORER|", "");
                if let Some(i) = a.find(", sa_restorer=") {
                    a.replace_range(i..a.len() - 1, "");
                }
            }
        }
        // glibc's eventfd() is the eventfd2 system call.
        ("eventfd2", 2) => name = "eventfd".into(),
        ("openat", _) if args[0] == "AT_FDCWD" => {
            name = "open".into();
            args.remove(0);
        }
        ("newfstatat", 4) if args[1] == "\"\"" && args[3] == "AT_EMPTY_PATH" => {
            name = "fstat".into();
            args = vec![args[0].clone(), args[2].clone()];
        }
        ("newfstatat", 4) if args[0] == "AT_FDCWD" && (args[3] == "0" || args[3] == "AT_SYMLINK_NOFOLLOW") => {
            name = if args[3] == "0" { "stat" } else { "lstat" }.into();
            args = vec![args[1].clone(), args[2].clone()];
        }
        _ => {}
    }
    Some(format!("{name}({}) = {ret}", args.join(", ")))
}

/// The canonical calls from `write(1, "begin\n", 6)` to `write(1, "end\n", 4)`.
fn between_markers(text: &str) -> Vec<String> {
    let calls: Vec<String> = text.lines().filter_map(canonical).collect();
    let start = calls.iter().position(|c| c.starts_with("write(1, \"begin\\n\""));
    let end = calls.iter().position(|c| c.starts_with("write(1, \"end\\n\""));
    match (start, end) {
        (Some(s), Some(e)) if s < e => calls[s..=e].to_vec(),
        _ => panic!("no begin/end markers in the trace\n{text}"),
    }
}

fn strace() -> &'static str {
    let p = "/usr/bin/strace";
    assert!(Path::new(p).exists(), "strace not found at {p}: install it (apt-get install strace)");
    p
}

/// The calls of `tests/c/trace_files.c` that greenshim interposes, as strace names them.
const STRACE_CALLS: &str =
    "open,openat,creat,read,write,close,newfstatat,fstat,statx,lseek,pread64,pwrite64,ioctl,epoll_create1,eventfd2,socket,socketpair,setsockopt,connect,accept,accept4,rt_sigaction,rt_sigprocmask";

#[test]
fn same_calls_as_strace() {
    let bin = compile("trace_files");
    let dir = scratch("same");
    let sfile = dir.join("strace.out");
    let mut cmd = Command::new(strace());
    cmd.args(["-f", "-qq", "-s", "64", "-e", &format!("trace={STRACE_CALLS}"), "-o", s(&sfile), s(&bin), s(&dir)]);
    let native = run(cmd, DEFAULT_TIMEOUT);
    assert_eq!(native.code(), Some(0), "{}", native.describe());
    let gfile = dir.join("greenshim.out");
    // The same -e as strace's (its names select greenshim's: openat selects open, ...); -o
    // without --trace traces, as strace -o.
    let filter = format!("trace={STRACE_CALLS}");
    let out = run_launcher(&["-s", "64", "-e", &filter, "-o", s(&gfile), "--", s(&bin), s(&dir)], &[]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert_eq!(out.stdout, native.stdout, "{}", out.describe());
    let (st, gt) = (read(&sfile), read(&gfile));
    let (want, got) = (between_markers(&st), between_markers(&gt));
    let report = format!("--- strace\n{st}\n--- greenshim\n{gt}");
    // Every call strace shows appears in greenshim's trace, in the same order, with the same
    // arguments and result.
    assert!(want.len() >= 30, "the program's calls: {want:#?}\n{report}");
    for (i, w) in want.iter().enumerate() {
        assert_eq!(got.get(i), Some(w), "call {i} of strace's trace\n{report}");
    }
    assert_eq!(got.len(), want.len(), "no extra calls\n{report}");
    // The decodings this checks are really there.
    for must in ["open(", "fstat(3, {st_mode=S_IFREG|0640, st_size=13, ...})", "lseek(3, 6, SEEK_SET) = 6", "pread64(3, \"hello\", 5, 0) = 5",
        "-1 ENOENT (No such file or directory)", "close(-1) = -1 EBADF", "socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, [", "sin_addr=inet_addr(\"127.0.0.1\")", "accept(3, NULL, NULL) = 5",
        "accept4(3, {sa_family=AF_INET, sin_port=htons(PORT), sin_addr=inet_addr(\"127.0.0.1\")}, [16], SOCK_CLOEXEC) = 7",
        "ioctl(1, TIOCGWINSZ, ADDR) = -1 ENOTTY", "statx(AT_FDCWD, ", "AT_SYMLINK_NOFOLLOW, STATX_MODE|STATX_SIZE, {stx_mask=", "epoll_create1(EPOLL_CLOEXEC) = ", "eventfd(0, EFD_CLOEXEC|EFD_NONBLOCK) = ", "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0",
        "sigaction(SIGUSR1, {sa_handler=ADDR, sa_mask=[TERM], sa_flags=SA_RESTART}, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}) = 0",
        "sigprocmask(SIG_BLOCK, [INT CHLD], []) = 0"] {
        assert!(got.iter().any(|g| g.contains(must)), "`{must}` in greenshim's trace\n{report}");
    }
}

/// The issue's example: `cat FILE` shows its open, and its copy — with copy_file_range to a
/// regular file (coreutils 9), else read and write — and read/write to a pipe.
#[test]
fn cat_shows_its_open_and_copy() {
    let dir = scratch("cat");
    std::fs::write(dir.join("in"), "vm\n").unwrap();
    let mut cmd = launcher_command(&["--trace", "--", "sh", "-c", "cat in > out; cat in | cat"], &[]);
    cmd.current_dir(&dir);
    let out = run(cmd, DEFAULT_TIMEOUT);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert_eq!(out.stdout, "vm\n", "{}", out.describe());
    assert_eq!(std::fs::read_to_string(dir.join("out")).unwrap_or_default(), "vm\n");
    let has = |want: &str| out.stderr.lines().any(|l| body(l).starts_with(want));
    let d = out.describe();
    assert_eq!(out.stderr.lines().filter(|l| body(l).starts_with("open(\"in\", O_RDONLY) = 3")).count(), 2, "both cats' open\n{d}");
    assert!(has("copy_file_range(3, NULL, 1, NULL, ") || has("write(1, \"vm\\n\", 3) = 3"), "the first cat's copy\n{d}");
    assert!(has("read(3, \"vm\\n\", ") && has("write(1, \"vm\\n\", 3) = 3"), "the piped cat's read and write\n{d}");
    assert!(has("read(0, \"vm\\n\", ") && has("close(3) = 0"), "the last cat's read, the closes\n{d}");
}

/// With more than one process, every line from the first fork on carries `[pid N gM name]`;
/// a one-process run has no pid.
#[test]
fn processes_are_told_apart_by_pid() {
    let one = run_launcher(&["--trace", "--", "cat", "/etc/hostname"], &[]);
    assert_eq!(one.code(), Some(0), "{}", one.describe());
    assert!(one.stderr.lines().all(|l| l.starts_with("[g")), "one process: no pid\n{}", one.describe());

    let out = run_launcher(&["-e", "trace=read,write,wait4,execve", "--", "sh", "-c", "echo hi | cat; /nonexistent-greenshim; true"], &[]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    // Execs, as strace -f shows a call that another line interrupts; a failed one resumes.
    let d = out.describe();
    let exec_cat = out.stderr.lines().find(|l| body(l).starts_with("execve(") && body(l).contains(", [\"cat\"], 0x"));
    assert!(exec_cat.is_some_and(|l| l.ends_with(" vars */ <unfinished ...>") && l.contains(" g1 sh] ")), "cat's execve\n{d}");
    let failed = out.stderr.lines().position(|l| body(l) == "<... execve resumed>) = -1 ENOENT (No such file or directory)");
    let failed = failed.unwrap_or_else(|| panic!("the failed execve resumes\n{d}"));
    // Its first half is the same process's previous line.
    let lines_all: Vec<&str> = out.stderr.lines().collect();
    let head = |l: &str| l.split(']').next().unwrap_or("").to_string();
    let before = lines_all[..failed].iter().rev().find(|l| head(l) == head(lines_all[failed])).unwrap_or_else(|| panic!("{d}"));
    assert!(body(before).starts_with("execve(\"/nonexistent-greenshim\", [\"/nonexistent-greenshim\"], 0x"), "{d}");
    assert_eq!(out.stdout, "hi\n", "{}", out.describe());
    let lines: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with('[')).collect();
    let pid_of = |l: &str| -> Option<(u32, String)> {
        let r = l.strip_prefix("[pid ")?;
        let (pid, rest) = r.split_once(' ')?;
        let head = &rest[..rest.find("] ")?];
        Some((pid.parse().ok()?, head.to_string()))
    };
    // The subshell's echo and cat each write "hi": two processes, two pids, each named.
    let hi: Vec<(u32, String)> = lines
        .iter()
        .filter(|l| body(l).starts_with("write(1, \"hi\\n\", 3) = 3"))
        .map(|l| pid_of(l).unwrap_or_else(|| panic!("`{l}` starts with [pid N gM name]\n{}", out.describe())))
        .collect();
    assert_eq!(hi.len(), 2, "{}", out.describe());
    let mut names = [hi[0].1.as_str(), hi[1].1.as_str()];
    names.sort();
    assert_eq!(names, ["g1 cat", "g1 sh"], "{}", out.describe());
    let wait = lines.iter().find(|l| body(l).starts_with("wait4(")).unwrap_or_else(|| panic!("the shell's wait4\n{}", out.describe()));
    let (sh_pid, head) = pid_of(wait).unwrap_or_else(|| panic!("`{wait}` carries the pid: the shell forked\n{}", out.describe()));
    assert_eq!(head, "g1 sh", "{wait}");
    let pids: std::collections::BTreeSet<u32> = [hi[0].0, hi[1].0, sh_pid].into();
    assert_eq!(pids.len(), 3, "three processes, three pids\n{}", out.describe());
    // Once a line carries a pid, every later one does.
    let first = lines.iter().position(|l| l.starts_with("[pid ")).unwrap();
    assert!(lines[first..].iter().all(|l| pid_of(l).is_some()), "{}", out.describe());
}

/// -o empties the file once; every process appends, across fork and exec; -e and -o imply
/// tracing; -c with -e gives the table of the selected calls only, headed by pid and command.
#[test]
fn implied_tracing_file_appends_and_summary_header() {
    let bin = compile("diag_exec");
    let dir = scratch("implied");
    let file = dir.join("trace");
    std::fs::write(&file, "OLD CONTENT\n").unwrap();
    let out = run_launcher(&["-o", s(&file), "--", s(&bin)], &[]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert_eq!(out.stderr, "", "{}", out.describe());
    let text = read(&file);
    assert!(!text.contains("OLD CONTENT"), "-o empties the file once\n{text}");
    let usleeps: Vec<&str> = text.lines().filter(|l| body(l).starts_with("usleep(")).collect();
    assert_eq!(usleeps.len(), 3, "the parent's two usleeps and the exec'd child's\n{text}");
    assert!(usleeps[0].starts_with("[g1 diag_exec] usleep(2000) = 0"), "before the fork: no pid\n{text}");
    let pid = |l: &str| l.strip_prefix("[pid ").and_then(|r| r.split(' ').next()).map(str::to_string);
    let (child, parent) = (pid(usleeps[1]), pid(usleeps[2]));
    assert!(usleeps[1].contains("usleep(1000)") && child.is_some(), "the child's line, with its pid\n{text}");
    assert!(usleeps[2].contains("usleep(3000)") && parent.is_some() && parent != child, "{text}");

    // A launcher started inside the run (a script that calls greenshim) appends to the run's
    // file instead of emptying it, and its program's lines carry their pid.
    let script = format!("{} -- {}; true", s(&launcher()), s(&bin));
    let out = run_launcher(&["-e", "trace=usleep,execve", "-o", s(&file), "--", "sh", "-c", &script], &[]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let text = read(&file);
    let exec_line = format!("execve(\"{}\"", s(&launcher()));
    assert!(text.lines().any(|l| l.contains(" g1 sh] ") && body(l).starts_with(&exec_line)), "the outer shell's exec of the launcher, written before it ran, stays\n{text}");
    let usleeps: Vec<&str> = text.lines().filter(|l| body(l).starts_with("usleep(")).collect();
    assert_eq!(usleeps.len(), 3, "{text}");
    assert!(usleeps.iter().all(|l| l.starts_with("[pid ")), "a nested run's processes are not the first\n{text}");

    // -e alone traces, only the selected calls.
    let out = run_launcher(&["-e", "trace=usleep", "--", s(&bin)], &[]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let calls: Vec<&str> = out.stderr.lines().filter(|l| !body(l).starts_with("+++")).collect();
    assert_eq!(calls.len(), 3, "{}", out.describe());
    assert!(calls.iter().all(|l| body(l).starts_with("usleep(")), "{}", out.describe());

    // -s, -tt and -T alone trace too.
    let out = run_launcher(&["-s", "3", "--", s(&bin)], &[]);
    assert!(out.stderr.lines().any(|l| body(l).starts_with("write(1, \"ok\\n\", 3) = 3")), "-s 3\n{}", out.describe());
    let out = run_launcher(&["-s", "2", "--", s(&bin)], &[]);
    assert!(out.stderr.lines().any(|l| body(l).starts_with("write(1, \"ok\"..., 3) = 3")), "-s 2 cuts\n{}", out.describe());
    let out = run_launcher(&["-T", "-e", "trace=usleep", "--", s(&bin)], &[]);
    let timed = out.stderr.lines().filter(|l| body(l).starts_with("usleep(") && l.ends_with('>') && l.contains("> <0.")).count();
    assert_eq!(timed, 3, "-T: each line ends with the time in the call\n{}", out.describe());
    let out = run_launcher(&["-tt", "--", s(&bin)], &[]);
    let stamped = out.stderr.lines().filter(|l| {
        let b = body(l);
        b.len() > 16 && b.as_bytes()[2] == b':' && b.as_bytes()[5] == b':' && b.as_bytes()[8] == b'.' && b.as_bytes()[15] == b' '
    });
    assert!(stamped.count() >= 3, "-tt: a wall-clock time on each line\n{}", out.describe());

    // -c -e: tables only (one per process), of usleep only, each headed by pid and command.
    let out = run_launcher(&["-c", "-e", "trace=usleep", "--", s(&bin)], &[]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert!(!out.stderr.contains("usleep(2000)"), "no trace lines with -c\n{}", out.describe());
    let lines: Vec<&str> = out.stderr.lines().collect();
    let heads: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].starts_with("summary of pid ")).collect();
    assert_eq!(heads.len(), 2, "a table for the child and one for the parent\n{}", out.describe());
    assert!(lines[heads[0]].ends_with(&format!("{} child", s(&bin))), "the child's command line\n{}", out.describe());
    assert!(lines[heads[1]].ends_with(&format!(": {}", s(&bin))), "the parent's command line\n{}", out.describe());
    for &h in &heads {
        assert!(lines[h + 1].starts_with("% time"), "{}", out.describe());
    }
    let rows: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with(' ') || l.starts_with(|c: char| c.is_ascii_digit())).collect();
    assert!(rows.iter().all(|r| r.ends_with(" usleep") || r.ends_with(" total")), "only usleep is counted\n{}", out.describe());
}

/// Each bad value: status 2, one line naming what the user typed and every accepted form, and
/// the program does not run.
#[test]
fn bad_values_name_what_was_typed() {
    let cases: &[(&[&str], &[(&str, &str)], &str)] = &[
        (&["-s", "abc"], &[], "greenshim: -s 'abc' is not valid: expected a number of bytes from 0 to 65536, e.g. -s 64"),
        (&["--max-blocking-time", "x"], &[], "greenshim: --max-blocking-time 'x' is not valid: expected milliseconds from 1 to 3600000, e.g. --max-blocking-time 100"),
        (&["--dump-signal", "KILL"], &[], "greenshim: --dump-signal 'KILL' is not valid: expected a signal name or number the program may catch (USR2, SIGUSR2 or 12), e.g. --dump-signal USR2"),
        (&[], &[("GREENSHIM_TRACE", "maybe")], "greenshim: GREENSHIM_TRACE='maybe' is not valid: expected 1/0/on/off/yes/no/true/false (any case), e.g. GREENSHIM_TRACE=1"),
        (&[], &[("GREENSHIM_TRACE_STRSIZE", "abc")], "greenshim: GREENSHIM_TRACE_STRSIZE='abc' is not valid: expected a number of bytes from 0 to 65536, e.g. GREENSHIM_TRACE_STRSIZE=64"),
        (&[], &[("GREENSHIM_SUMMARY", "2")], "greenshim: GREENSHIM_SUMMARY='2' is not valid: expected 1/0/on/off/yes/no/true/false (any case), e.g. GREENSHIM_SUMMARY=1"),
    ];
    for (args, env, want) in cases {
        let mut a = args.to_vec();
        a.extend(["--", "echo", "ran"]);
        let out = run_launcher(&a, env);
        assert_eq!(out.code(), Some(2), "{}", out.describe());
        assert_eq!(out.stdout, "", "the program must not run\n{}", out.describe());
        assert_eq!(out.stderr, format!("{want}\n"), "{}", out.describe());
    }
    let out = run_launcher(&["-e", "trace=bogus", "--", "echo", "ran"], &[]);
    assert_eq!(out.code(), Some(2), "{}", out.describe());
    let e = out.stderr.trim_end();
    assert!(e.starts_with("greenshim: -e 'trace=bogus' is not valid: 'bogus' is not a call greenshim traces;"), "{e}");
    assert!(e.contains("openat") && e.ends_with("e.g. -e trace=read,write") && !e.contains('\n'), "{e}");
    // An unwritable -o names the option; the same path from the environment names the variable.
    let out = run_launcher(&["-o", "/nonexistent-greenshim/t", "--", "echo", "ran"], &[]);
    assert_eq!(out.code(), Some(2), "{}", out.describe());
    assert!(out.stderr.starts_with("greenshim: cannot create the trace file -o '/nonexistent-greenshim/t': "), "{}", out.describe());
    let out = run_launcher(&["--", "echo", "ran"], &[("GREENSHIM_TRACE_FILE", "/nonexistent-greenshim/t")]);
    assert_eq!(out.code(), Some(2), "{}", out.describe());
    assert!(out.stderr.starts_with("greenshim: cannot create the trace file GREENSHIM_TRACE_FILE='/nonexistent-greenshim/t': "), "{}", out.describe());
    // -f is accepted (greenshim always follows forks).
    let out = run_launcher(&["-f", "--", "echo", "ran"], &[]);
    assert_eq!((out.code(), out.stdout.as_str()), (Some(0), "ran\n"), "{}", out.describe());
}

/// Pointers to nothing: natively EFAULT; traced, the same results and errno, no fault in the
/// tracer, and each bad pointer shown as its address.
#[test]
fn bad_pointers_do_not_fault_the_tracer() {
    let bin = compile("trace_badptr");
    let native = run(native_command(&bin, &[]), DEFAULT_TIMEOUT);
    assert_eq!(native.code(), Some(0), "{}", native.describe());
    let out = run_launcher(&["--trace", "--", s(&bin)], &[]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert_eq!(out.stdout, native.stdout, "{}", out.describe());
    for want in ["open(0x8, O_RDONLY) = -1 EFAULT", "connect(3, 0x8, 16) = -1 EFAULT", "writev(4, 0x8, 2) = -1 EFAULT", "write(4, 0x8, 5) = -1 EFAULT", "write(5, 0x8, 5) = 5", "write(99, 0x8, 5) = -1 EBADF",
        "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, 0x8, 4) = -1 EFAULT", "stat(0x8, 0x8) = -1 EFAULT", "writev(4, [{iov_base=0x8, iov_len=4}], 1) = -1 EFAULT"] {
        assert!(out.stderr.lines().any(|l| body(l).starts_with(want)), "`{want}`\n{}", out.describe());
    }
}
