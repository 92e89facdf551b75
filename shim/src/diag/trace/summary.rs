//! The `-c` table of a process: a header with its pid and command line, a row per call
//! (time, calls, errors, parks, parked time), the totals, the hub's figures and how system
//! calls are caught; written in one write so that tables of processes ending together do not
//! mix.

use std::sync::atomic::Ordering::Relaxed;

use gs::hub::Hub;

use super::{Count, Line, COUNTS, NAMES, OUT_FD, SUMMARY};

/// Print the `-c` table: one row per call made, then the hub's figures.
///
/// # Safety
/// `h` is this thread's hub; called once at exit.
pub unsafe fn print_summary(h: *mut Hub) {
    if !SUMMARY.load(Relaxed) {
        return;
    }
    // The whole table in one write: tables of processes ending together do not mix (one
    // write to an O_APPEND file is atomic, and to a pipe up to 4 KiB).
    let mut table: Vec<u8> = Vec::with_capacity(8192);
    let counts = &*std::ptr::addr_of!(COUNTS);
    let total: u64 = counts.iter().map(|c| c.total_ns).sum::<u64>().max(1);
    let mut rows: Vec<(usize, Count)> = counts.iter().copied().enumerate().filter(|(_, c)| c.calls > 0).collect();
    rows.sort_by(|a, b| b.1.total_ns.cmp(&a.1.total_ns).then(a.0.cmp(&b.0)));
    let mut l = Line::new();
    l.s("summary of pid ").int(syscall!(SYS_getpid).unwrap_or(0) as i64).s(": ");
    cmdline(&mut l);
    l.s("\n");
    l.add_to(&mut table);
    let mut l = Line::new();
    l.s("% time     seconds  usecs/call     calls    errors     parks  parked-secs call\n");
    l.add_to(&mut table);
    let mut l = Line::new();
    l.s("------ ----------- ----------- --------- --------- --------- ------------ ----------------\n");
    l.add_to(&mut table);
    let (mut calls, mut errors, mut parks, mut parked, mut secs) = (0, 0, 0, 0, 0);
    for (i, c) in rows {
        let mut l = Line::new();
        let pct = c.total_ns as u128 * 10000 / total as u128;
        l.lpad_int((pct / 100) as i64, 3).s(".").pad((pct % 100) as i64, 2).s(" ");
        l.lpad_secs(c.total_ns, 11).s(" ");
        l.lpad_int((c.total_ns / 1000 / c.calls) as i64, 11).s(" ");
        l.lpad_int(c.calls as i64, 9).s(" ");
        if c.errors > 0 { l.lpad_int(c.errors as i64, 9) } else { l.s("         ") }.s(" ");
        l.lpad_int(c.parks as i64, 9).s(" ");
        l.lpad_secs(c.parked_ns, 12).s(" ").s(NAMES[i]).s("\n");
        l.add_to(&mut table);
        calls += c.calls;
        errors += c.errors;
        parks += c.parks;
        parked += c.parked_ns;
        secs += c.total_ns;
    }
    let mut l = Line::new();
    l.s("------ ----------- ----------- --------- --------- --------- ------------ ----------------\n");
    l.add_to(&mut table);
    let mut l = Line::new();
    l.s("100.00 ").lpad_secs(secs, 11).s(" ").lpad_int((secs / 1000 / calls.max(1)) as i64, 11).s(" ");
    l.lpad_int(calls as i64, 9).s(" ").lpad_int(errors as i64, 9).s(" ").lpad_int(parks as i64, 9).s(" ");
    l.lpad_secs(parked, 12).s(" total\n");
    l.add_to(&mut table);
    let st = (*h).stats;
    let ss = (*h).stacks.stats;
    let mut l = Line::new();
    l.s("hub: greenlets spawned ").int(st.spawned as i64).s(", peak live ").int(st.peak_live as i64);
    l.s(", switches ").int(st.switches as i64).s(", epoll waits ").int(st.epoll_waits as i64);
    l.s(", stacks allocated ").int(ss.allocated as i64).s(", stacks reused ").int(ss.reused as i64);
    l.s(", stacks released ").int(ss.released as i64);
    l.s(", time-slice yields ").int(st.slice_yields as i64).s(", yield points ").int(st.point_yields as i64).s("\n");
    l.add_to(&mut table);
    let mut l = Line::new();
    l.s("stacks: ").s(ss.guards.describe());
    if ss.canary_after > 0 {
        l.s(" (guard pages on the first ").int(ss.canary_after as i64).s(")");
    }
    l.s("\n");
    l.add_to(&mut table);
    let mut l = Line::new();
    if crate::hook::catch::on() {
        l.s("catch: system calls made inside libc are caught too (syscall user dispatch): ").int(crate::hook::catch::traps() as i64).s(" caught\n");
    } else if !crate::hook::catch::off_reason().is_empty() {
        l.s("catch: libc's exported functions only: ").s(crate::hook::catch::off_reason()).s("\n");
    } else {
        l.s("catch: libc's exported functions only (GREENSHIM_CATCH=exports)\n");
    }
    l.add_to(&mut table);
    write_all(&table);
}

/// Write `b` to the output fd, all of it (a pipe may take it in pieces).
fn write_all(mut b: &[u8]) {
    let fd = OUT_FD.load(Relaxed) as i32;
    while !b.is_empty() {
        match syscall!(SYS_write, fd, b.as_ptr(), b.len()) {
            Ok(n) if n > 0 => b = &b[n as usize..],
            Err(libc::EINTR) => {}
            _ => return,
        }
    }
}

/// This process's command line (`/proc/self/cmdline`, arguments separated by spaces), read with
/// raw system calls.
fn cmdline(l: &mut Line) {
    let mut buf = [0u8; 512];
    let Ok(fd) = syscall!(SYS_openat, libc::AT_FDCWD, c"/proc/self/cmdline".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) else {
        l.s("?");
        return;
    };
    let n = syscall!(SYS_read, fd, buf.as_mut_ptr(), buf.len()).unwrap_or(0) as usize;
    let _ = syscall!(SYS_close, fd);
    let text = &buf[..n];
    let text = text.strip_suffix(b"\0").unwrap_or(text);
    for &c in text {
        if c == 0 {
            l.s(" ");
        } else {
            l.esc(c);
        }
    }
    if n == buf.len() {
        l.s("...");
    }
}

impl Line {
    /// Right-align what `f` writes in `width` columns.
    fn lpad(&mut self, width: usize, f: impl FnOnce(&mut Line)) -> &mut Self {
        let mut t = Line::new();
        f(&mut t);
        for _ in t.len..width {
            self.s(" ");
        }
        self.b(&t.buf[..t.len])
    }
    fn lpad_int(&mut self, v: i64, width: usize) -> &mut Self {
        self.lpad(width, |t| {
            t.int(v);
        })
    }
    fn lpad_secs(&mut self, ns: u64, width: usize) -> &mut Self {
        self.lpad(width, |t| {
            t.secs(ns);
        })
    }
}

