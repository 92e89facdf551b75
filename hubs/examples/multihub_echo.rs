//! A greenlet-per-connection echo server on N hubs, written against the hub library directly
//! (no preload library): what the multi-hub infrastructure can reach on the echo benchmark
//! before the shim can use it (issue 13). Serves `tests/c/bench_pingpong.c`'s protocol (echo
//! whatever arrives), prints `port=<n>`, runs until killed.
//!
//! ```sh
//! cargo build --release -p greenshim-hubs --example multihub_echo
//! target/release/examples/multihub_echo 2     # 2 hubs: the main thread's and one more
//! ```
//!
//! The main greenlet accepts; each connection becomes a greenlet on the next hub, round-robin
//! over every hub (the accepting one included), and stays there.

use gs::hub::{self, SpawnOpts};
use gs_hubs::multihub;
use gs::reactor::Interest;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Wait on this greenlet's hub until `fd` may be ready.
fn wait(fd: i32, i: Interest) {
    let h = hub::current_hub();
    // SAFETY: h is the calling greenlet's hub.
    unsafe { hub::wait_fd(h, fd, i, None, false) }.expect("socket can be watched");
}

/// Echo on `fd` until the peer closes it.
fn serve(fd: i32) -> usize {
    let mut buf = [0u8; 4096];
    'conn: loop {
        // SAFETY: buf is ours; fd is this connection's nonblocking socket.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n == 0 {
            break;
        }
        if n < 0 {
            if errno() == libc::EAGAIN {
                wait(fd, Interest::Read);
                continue;
            }
            break;
        }
        let mut off = 0usize;
        while off < n as usize {
            // SAFETY: as above.
            let w = unsafe { libc::write(fd, buf[off..].as_ptr().cast(), n as usize - off) };
            if w < 0 {
                if errno() == libc::EAGAIN {
                    wait(fd, Interest::Write);
                    continue;
                }
                break 'conn;
            }
            off += w as usize;
        }
    }
    let h = hub::current_hub();
    // SAFETY: h is this greenlet's hub; the fd is closed right after.
    unsafe {
        hub::fd_closing(h, fd);
        libc::close(fd);
    }
    0
}

fn main() {
    let hubs: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let h = hub::get_or_install();
    multihub::set_hubs(hubs.max(1));
    // SAFETY: h is this thread's hub.
    unsafe { multihub::register(h) }.expect("main hub registered");
    for _ in 1..hubs {
        multihub::start_hub_thread(gs::settings::DEFAULT_STACK_SIZE, gs::stack::GuardMode::Page, |_| {})
            .expect("extra hub");
    }
    // SAFETY: plain socket calls on our own fd and address.
    let lfd = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0);
        let mut a: libc::sockaddr_in = std::mem::zeroed();
        a.sin_family = libc::AF_INET as u16;
        a.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(libc::bind(fd, (&a as *const libc::sockaddr_in).cast(), len), 0);
        assert_eq!(libc::listen(fd, 4096), 0);
        libc::getsockname(fd, (&mut a as *mut libc::sockaddr_in).cast(), &mut len);
        println!("port={}", u16::from_be(a.sin_port));
        fd
    };
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    loop {
        // SAFETY: accepting on our listening socket.
        let c = unsafe { libc::accept4(lfd, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) };
        if c < 0 {
            if errno() == libc::EAGAIN {
                wait(lfd, Interest::Read);
            }
            continue;
        }
        let one: libc::c_int = 1;
        // SAFETY: setting an option on our socket.
        unsafe {
            libc::setsockopt(c, libc::IPPROTO_TCP, libc::TCP_NODELAY, (&one as *const libc::c_int).cast(), 4);
        }
        let (_, r) = multihub::place().expect("a hub is registered");
        multihub::spawn_on(r, Box::new(move || serve(c)), SpawnOpts { detached: true, ..Default::default() }, |r| {
            r.expect("spawn a connection greenlet");
        });
    }
}
