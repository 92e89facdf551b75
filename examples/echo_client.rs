//! The client of the `stream_server` example: `echo_client ADDR [CLIENTS] [LINES]` opens
//! CLIENTS connections at once (default 10), each in a greenlet of its own, sends LINES lines
//! (default 5) and checks every echo; with `--shutdown` it then asks the server to stop.
//! Under the launcher its greenlets are the shim's (`greenshim -- echo_client ADDR`).

use std::io::{BufRead, BufReader, Write};
use std::time::Instant;

use greenshim::api::{spawn, TcpStream};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--shutdown").collect();
    let shutdown = std::env::args().any(|a| a == "--shutdown");
    let addr = args.first().cloned().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    let clients: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(10);
    let lines: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(5);
    let t0 = Instant::now();
    let gs: Vec<_> = (0..clients)
        .map(|c| {
            let addr = addr.clone();
            spawn(move || -> Result<usize, String> {
                let s = TcpStream::connect(addr.as_str()).map_err(|e| format!("connect: {e}"))?;
                let mut r = BufReader::new(&s);
                let mut w = &s;
                let mut greeting = String::new();
                r.read_line(&mut greeting).map_err(|e| e.to_string())?;
                let mut ok = 0;
                for k in 0..lines {
                    let msg = format!("client {c} line {k}");
                    // one write per line: two small writes would meet Nagle and delayed ACKs
                    w.write_all(format!("{msg}\n").as_bytes()).map_err(|e| e.to_string())?;
                    let mut back = String::new();
                    r.read_line(&mut back).map_err(|e| e.to_string())?;
                    if back.trim_end() == msg {
                        ok += 1;
                    }
                }
                w.write_all(b"quit\n").map_err(|e| e.to_string())?;
                Ok(ok)
            })
        })
        .collect();
    let mut total = 0;
    for (c, g) in gs.into_iter().enumerate() {
        match g.get() {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => println!("client {c}: {e}"),
            Err(p) => println!("client {c} panicked: {p}"),
        }
    }
    println!("{clients} clients, {total} of {} echoes correct", clients * lines);
    eprintln!("took {:.0} ms", t0.elapsed().as_secs_f64() * 1e3);
    if shutdown {
        let mut s = TcpStream::connect(addr.as_str()).expect("connect for shutdown");
        let _ = s.write_all(b"shutdown\n");
        let mut rest = String::new();
        let _ = BufReader::new(&s).read_line(&mut rest);
    }
}
