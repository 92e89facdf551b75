//! Decoders for the socket calls' arguments, as strace prints them: the address of `connect`
//! and `accept` (`{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}`,
//! `{sa_family=AF_UNIX, sun_path="/run/x"}`) and the protocol of `socket` (`IPPROTO_TCP`).

use super::Line;

/// A socket address as strace prints it (IPv4 and Unix; others as the address).
///
/// # Safety
/// Reads only through `peek`.
pub(super) unsafe fn sockaddr(l: &mut Line, p: *const libc::sockaddr, n: libc::socklen_t) {
    let n = (n as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
    let mut ss: libc::sockaddr_storage = std::mem::zeroed();
    // SAFETY: ss is plain bytes of that size.
    let bytes = std::slice::from_raw_parts_mut(&mut ss as *mut libc::sockaddr_storage as *mut u8, n);
    if p.is_null() || n < 2 || super::peek::peek(p as usize, bytes, l.ok) < n {
        super::arg(l, &super::Arg::Hex(p as u64));
        return;
    }
    let p = &ss as *const libc::sockaddr_storage as *const libc::sockaddr;
    match (*p).sa_family as i32 {
        libc::AF_INET if n >= std::mem::size_of::<libc::sockaddr_in>() => {
            let a = &*(p as *const libc::sockaddr_in);
            let ip = u32::from_be(a.sin_addr.s_addr).to_be_bytes();
            l.s("{sa_family=AF_INET, sin_port=htons(").int(u16::from_be(a.sin_port) as i64).s("), sin_addr=inet_addr(\"");
            for (i, b) in ip.iter().enumerate() {
                if i > 0 {
                    l.s(".");
                }
                l.int(*b as i64);
            }
            l.s("\")}");
        }
        libc::AF_UNIX => {
            let a = &*(p as *const libc::sockaddr_un);
            let path = &a.sun_path[..(n - 2).min(a.sun_path.len())];
            l.s("{sa_family=AF_UNIX");
            if !path.is_empty() {
                let abstract_ = path[0] == 0;
                let body = if abstract_ { &path[1..] } else { path };
                let end = if abstract_ { body.len() } else { body.iter().position(|&c| c == 0).unwrap_or(body.len()) };
                l.s(", sun_path=").s(if abstract_ { "@\"" } else { "\"" });
                for &c in &body[..end] {
                    l.esc(c as u8);
                }
                l.s("\"");
            }
            l.s("}");
        }
        _ => super::arg(l, &super::Arg::Hex(p as u64)),
    }
}

/// The protocol argument of `socket`/`socketpair`.
pub(super) fn proto(l: &mut Line, domain: i64, p: i64) {
    let ip = matches!(domain as i32, libc::AF_INET | libc::AF_INET6);
    match (ip, p as i32) {
        (true, 0) => l.s("IPPROTO_IP"),
        (_, libc::IPPROTO_TCP) if ip => l.s("IPPROTO_TCP"),
        (_, libc::IPPROTO_UDP) if ip => l.s("IPPROTO_UDP"),
        (_, libc::IPPROTO_ICMP) if ip => l.s("IPPROTO_ICMP"),
        _ => l.int(p),
    };
}

