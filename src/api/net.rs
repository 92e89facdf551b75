//! Cooperative TCP sockets and `StreamServer` (gevent's `gevent.socket` and
//! `gevent.server.StreamServer`).
//!
//! Without the preload library, a `std::net` call blocks the OS thread and with it every
//! greenlet. [`TcpListener`] and [`TcpStream`] wrap std's sockets in non-blocking mode: a call
//! that would block parks only the calling greenlet on the hub's reactor (and is interrupted by
//! a `Timeout` scope or a kill like any greenshim park). Under the shim `std::net` is already
//! cooperative; these types work there too (the non-blocking calls pass through the shim, the
//! waits go to the shim's hub).
//!
//! [`StreamServer`] accepts in a greenlet of its own and spawns a handler greenlet per
//! connection, optionally in a [`Pool`] (accepting pauses while the pool is full).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use super::greenlet::{sleep, spawn, Greenlet};
use super::pool::{Group, Pool};
use super::rt::{ops, wait, On, Parked};

/// Park until `fd` is ready for reading (`write == false`) or writing.
fn wait_io(fd: RawFd, write: bool) -> io::Result<()> {
    match wait(On::Fd(fd, write), None) {
        Ok(Parked::Closed) => Err(io::Error::from_raw_os_error(libc::EBADF)),
        Ok(_) => Ok(()),
        Err(e) => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Retry `f` until it does not report `WouldBlock`, parking on `fd` in between.
fn retry<R>(fd: RawFd, write: bool, mut f: impl FnMut() -> io::Result<R>) -> io::Result<R> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_io(fd, write)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// A listening socket whose `accept` parks only the calling greenlet.
///
/// ```
/// use std::io::{Read, Write};
/// use greenshim::api::{spawn, TcpListener, TcpStream};
/// let l = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = l.local_addr().unwrap();
/// let client = spawn(move || {
///     let mut s = TcpStream::connect(addr).unwrap();
///     s.write_all(b"ping").unwrap();
/// });
/// let (mut conn, _peer) = l.accept().unwrap(); // parks; the client runs meanwhile
/// let mut buf = [0; 4];
/// conn.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"ping");
/// client.join();
/// ```
pub struct TcpListener {
    inner: std::net::TcpListener,
}

impl TcpListener {
    /// Bind and listen (binding never blocks).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        TcpListener::from_std(std::net::TcpListener::bind(addr)?)
    }

    /// Adopt a std listener (switched to non-blocking mode).
    pub fn from_std(l: std::net::TcpListener) -> io::Result<TcpListener> {
        l.set_nonblocking(true)?;
        Ok(TcpListener { inner: l })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Wait for a connection.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, a) = retry(self.inner.as_raw_fd(), false, || self.inner.accept())?;
        Ok((TcpStream::from_std(s)?, a))
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        (ops().fd_closing)(self.inner.as_raw_fd());
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

/// A TCP connection whose reads, writes and connect park only the calling greenlet. `&TcpStream`
/// reads and writes too, so one greenlet may read while another writes.
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use greenshim::api::{spawn, TcpListener, TcpStream};
/// let l = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = l.local_addr().unwrap();
/// let server = spawn(move || {
///     let (s, _) = l.accept().unwrap();
///     let mut line = String::new();
///     BufReader::new(&s).read_line(&mut line).unwrap();
///     (&s).write_all(line.to_uppercase().as_bytes()).unwrap();
/// });
/// let s = TcpStream::connect(addr).unwrap();
/// (&s).write_all(b"hi\n").unwrap();
/// let mut reply = String::new();
/// BufReader::new(&s).read_line(&mut reply).unwrap();
/// assert_eq!(reply, "HI\n");
/// server.join();
/// ```
pub struct TcpStream {
    inner: std::net::TcpStream,
}

impl TcpStream {
    /// Connect to the first address that accepts (a non-blocking connect, parked until done).
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to");
        for a in addr.to_socket_addrs()? {
            match connect_one(a) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Adopt a std stream (switched to non-blocking mode).
    pub fn from_std(s: std::net::TcpStream) -> io::Result<TcpStream> {
        s.set_nonblocking(true)?;
        Ok(TcpStream { inner: s })
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.set_nodelay(on)
    }
}

fn connect_one(a: SocketAddr) -> io::Result<TcpStream> {
    // SAFETY: zeroed sockaddr_storage is valid; we fill the family's fields.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_flowinfo = v6.flowinfo();
            sin6.sin6_scope_id = v6.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    let family = if a.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: plain socket creation.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket we own; the std stream closes it.
    let s = TcpStream { inner: unsafe { std::net::TcpStream::from_raw_fd(fd) } };
    // SAFETY: ss holds a valid address of `len` bytes.
    let r = unsafe { libc::connect(fd, &ss as *const _ as *const libc::sockaddr, len as libc::socklen_t) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        wait_io(fd, true)?;
        if let Some(e) = s.inner.take_error()? {
            return Err(e);
        }
    }
    Ok(s)
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.inner.as_raw_fd();
        retry(fd, false, || (&self.inner).read(buf))
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let fd = self.inner.as_raw_fd();
        retry(fd, true, || (&self.inner).write(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        (ops().fd_closing)(self.inner.as_raw_fd());
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

type Handler = Rc<dyn Fn(TcpStream, SocketAddr)>;

/// Accepts connections and runs `handler(stream, peer)` in a greenlet per connection (gevent's
/// `StreamServer`).
///
/// ```no_run
/// use std::io::{BufRead, BufReader, Write};
/// use greenshim::api::StreamServer;
/// let server = StreamServer::bind("127.0.0.1:0", |s, _peer| {
///     let mut w = &s;
///     for line in BufReader::new(&s).lines() {
///         let _ = writeln!(w, "{}", line.unwrap());
///     }
/// }).unwrap();
/// println!("echo on {}", server.local_addr().unwrap());
/// server.serve_forever();
/// ```
pub struct StreamServer {
    /// Taken by `stop`: the listening socket closes once the acceptor has ended too.
    listener: std::cell::RefCell<Option<Rc<TcpListener>>>,
    handler: Handler,
    pool: Option<Pool>,
    group: Group,
    acceptor: std::cell::RefCell<Option<Greenlet<()>>>,
}

impl StreamServer {
    /// Listen on `addr`; nothing is accepted before [`start`](Self::start) or
    /// [`serve_forever`](Self::serve_forever).
    pub fn bind<A: ToSocketAddrs>(addr: A, handler: impl Fn(TcpStream, SocketAddr) + 'static) -> io::Result<StreamServer> {
        Ok(StreamServer::new(TcpListener::bind(addr)?, handler))
    }

    pub fn new(listener: TcpListener, handler: impl Fn(TcpStream, SocketAddr) + 'static) -> StreamServer {
        StreamServer { listener: std::cell::RefCell::new(Some(Rc::new(listener))), handler: Rc::new(handler), pool: None, group: Group::new(), acceptor: Default::default() }
    }

    /// Run handlers in a pool of `size`: at most `size` connections are served at once, and
    /// accepting pauses while the pool is full (gevent's `spawn=Pool(size)`).
    pub fn with_pool(mut self, size: usize) -> StreamServer {
        self.pool = Some(Pool::new(size));
        self
    }

    /// The address it listens on (an error once stopped).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &*self.listener.borrow() {
            Some(l) => l.local_addr(),
            None => Err(io::Error::new(io::ErrorKind::NotConnected, "the server was stopped")),
        }
    }

    /// Start accepting in a greenlet of its own and return (no effect once stopped).
    pub fn start(&self) {
        if self.acceptor.borrow().as_ref().is_some_and(|g| !g.ready()) {
            return;
        }
        let Some(l) = self.listener.borrow().clone() else { return };
        let (h, pool, group) = (self.handler.clone(), self.pool.clone(), self.group.clone());
        let g = spawn(move || loop {
            match l.accept() {
                Ok((s, peer)) => {
                    let h = h.clone();
                    match &pool {
                        Some(p) => drop(p.spawn(move || h(s, peer))),
                        None => drop(group.spawn(move || h(s, peer))),
                    }
                }
                Err(e) => {
                    // EMFILE and friends: wait a little instead of spinning (gevent does too).
                    eprintln!("greenshim: StreamServer accept failed: {e}");
                    sleep(Duration::from_millis(10));
                }
            }
        });
        *self.acceptor.borrow_mut() = Some(g);
    }

    /// [`start`](Self::start), then wait until [`stop`](Self::stop) is called (from another
    /// greenlet, e.g. a handler).
    pub fn serve_forever(&self) {
        self.start();
        let g = self.acceptor.borrow().clone();
        if let Some(g) = g {
            g.join();
        }
    }

    /// True while accepting.
    pub fn started(&self) -> bool {
        self.acceptor.borrow().as_ref().is_some_and(|g| !g.ready())
    }

    /// Connections being served now.
    pub fn active(&self) -> usize {
        self.pool.as_ref().map_or_else(|| self.group.len(), |p| p.len())
    }

    /// Stop accepting and close the listening socket, give running handlers `timeout` to
    /// finish, then kill them (gevent's `stop(timeout)`).
    pub fn stop_timeout(&self, timeout: Duration) {
        let g = self.acceptor.borrow().clone();
        if let Some(g) = g {
            g.kill();
        }
        drop(self.listener.borrow_mut().take()); // the acceptor's reference went with it
        let handlers = self.pool.as_ref().map_or(&self.group, |p| p.group()).clone();
        if !handlers.join_timeout(timeout) {
            handlers.kill();
        }
    }

    /// [`stop_timeout`](Self::stop_timeout) with gevent's default of 1 s.
    pub fn stop(&self) {
        self.stop_timeout(Duration::from_secs(1));
    }
}
