//! A trace line under construction and its formatting primitives: integers, hex, padded
//! fields, seconds, strace's string escapes; written with one system call (or gathered into a
//! block, for the `-c` table).

use std::sync::atomic::Ordering::Relaxed;

use super::OUT_FD;

/// Bytes of a line kept free for what follows a buffer argument (the remaining arguments, the
/// result, the park and call times).
pub(super) const TAIL_ROOM: usize = 256;

/// A trace line under construction: a stack buffer (small enough for a 16 KiB greenlet stack),
/// written with one syscall. Buffers longer than fit are cut with `...`.
pub struct Line {
    pub(super) buf: [u8; 2048],
    pub(super) len: usize,
    /// The call being printed succeeded: the memory it was given is readable (see `peek`).
    pub(super) ok: bool,
}

impl Line {
    pub(super) fn new() -> Line {
        Line { buf: [0; 2048], len: 0, ok: false }
    }
    pub(super) fn b(&mut self, s: &[u8]) -> &mut Self {
        // Keep room for the final newline.
        let n = s.len().min(self.buf.len() - 1 - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
        self
    }
    pub(super) fn s(&mut self, s: &str) -> &mut Self {
        self.b(s.as_bytes())
    }
    pub(super) fn int(&mut self, v: i64) -> &mut Self {
        if v < 0 {
            self.s("-");
        }
        let mut t = [0u8; 20];
        let mut i = t.len();
        let mut u = v.unsigned_abs();
        loop {
            i -= 1;
            t[i] = b'0' + (u % 10) as u8;
            u /= 10;
            if u == 0 {
                break;
            }
        }
        self.b(&t[i..])
    }
    pub(super) fn pad(&mut self, v: i64, width: usize) -> &mut Self {
        let mut t = [b'0'; 20];
        let mut u = v.unsigned_abs();
        let mut i = t.len();
        while u > 0 {
            i -= 1;
            t[i] = b'0' + (u % 10) as u8;
            u /= 10;
        }
        let start = (t.len() - width).min(i);
        self.b(&t[start..])
    }
    pub(super) fn hex(&mut self, mut v: u64) -> &mut Self {
        let mut t = [0u8; 16];
        let mut i = t.len();
        loop {
            i -= 1;
            t[i] = b"0123456789abcdef"[(v & 15) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        self.b(&t[i..])
    }
    pub(super) fn secs(&mut self, ns: u64) -> &mut Self {
        self.int((ns / 1_000_000_000) as i64).s(".").pad(((ns / 1000) % 1_000_000) as i64, 6)
    }
    /// One byte of a string, escaped as strace does.
    pub(super) fn esc(&mut self, c: u8) -> &mut Self {
        match c {
            b'"' => self.s("\\\""),
            b'\\' => self.s("\\\\"),
            b'\n' => self.s("\\n"),
            b'\r' => self.s("\\r"),
            b'\t' => self.s("\\t"),
            0x0b => self.s("\\v"),
            0x0c => self.s("\\f"),
            0x20..=0x7e => self.b(&[c]),
            _ => {
                let o = [b'\\', b'0' + (c >> 6), b'0' + ((c >> 3) & 7), b'0' + (c & 7)];
                self.b(&o)
            }
        }
    }
    /// End the line with a newline (once).
    fn finish(&mut self) {
        self.buf[self.len] = b'\n';
        if self.len == 0 || self.buf[self.len - 1] != b'\n' {
            self.len += 1;
        }
    }
    pub(super) fn emit(&mut self) {
        self.finish();
        let fd = OUT_FD.load(Relaxed) as i32;
        let _ = syscall!(SYS_write, fd, self.buf.as_ptr(), self.len);
    }
    /// Append the finished line to `out` (a block written at once).
    pub(super) fn add_to(&mut self, out: &mut Vec<u8>) {
        self.finish();
        out.extend_from_slice(&self.buf[..self.len]);
    }
}

