//! gevent tutorial, "Servers": an echo server that spawns a greenlet per client
//! (`StreamServer`), in a pool of at most 100 connections.
//!
//! `stream_server [ADDR]` (default 127.0.0.1:5000; port 0 picks a free one). Prints the address
//! it listens on, greets each client, echoes every line; `quit` closes that connection,
//! `shutdown` stops the server (running handlers get 1 s to finish).
//! Try it with `nc 127.0.0.1 5000` or the `echo_client` example.

use std::io::{BufRead, BufReader, Write};

use greenshim::api::{Event, StreamServer};

fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:5000".to_string());
    let shutdown = Event::new();
    let sd = shutdown.clone();
    let server = StreamServer::bind(addr.as_str(), move |s, peer| {
        let mut w = &s;
        if w.write_all(b"Welcome to the echo server! Type quit to exit.\r\n").is_err() {
            return;
        }
        for line in BufReader::new(&s).lines() {
            let Ok(line) = line else { break };
            match line.trim() {
                "quit" => break,
                "shutdown" => {
                    sd.set();
                    break;
                }
                l => {
                    // one write per line: two small writes would meet Nagle and delayed ACKs
                    if w.write_all(format!("{l}\n").as_bytes()).is_err() {
                        break;
                    }
                }
            }
        }
        eprintln!("client {peer} done");
    })
    .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"))
    .with_pool(100);
    println!("serving on {}", server.local_addr().unwrap());
    server.start();
    shutdown.wait();
    server.stop();
    println!("server stopped");
}
