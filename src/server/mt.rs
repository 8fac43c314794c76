//! `mt` (pool of T threads, blocking accept, caches shared behind locks) and `mt_spawn` (a
//! thread per connection).
//!
//! ```text
//!  [thread: accept→serve] × T        (mt)
//!  main: accept ──spawn──▶ [thread: serve one connection]   (mt_spawn)
//! ```

use super::blocking::serve_conn;
use super::handler::Handler;
use super::mp::accept_loop;
use super::{accept_backoff, pin, wait_readable, ServeConfig};
use crate::sys::signals::stop_requested;
use std::io;
use std::net::TcpListener;
use std::sync::Arc;

pub fn run_pool(
    cfg: &ServeConfig,
    l: TcpListener,
    h: Handler,
    announce: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    super::mp::pool_listener(&l)?;
    let h = Arc::new(h);
    let l = Arc::new(l);
    let mut joins = Vec::new();
    for i in 0..cfg.threads.max(1) {
        let (h, l, cores) = (h.clone(), l.clone(), cfg.cores.clone());
        joins.push(
            std::thread::Builder::new()
                .name(format!("mt-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    let _ = pin(&cores);
                    accept_loop(&h, &l)
                })?,
        );
    }
    announce()?;
    for j in joins {
        let _ = j.join();
    }
    Ok(())
}

pub fn run_spawn(
    cfg: &ServeConfig,
    l: TcpListener,
    h: Handler,
    announce: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    announce()?;
    let h = Arc::new(h);
    let mut joins: Vec<std::thread::JoinHandle<()>> = Vec::new();
    while !stop_requested() {
        joins.retain(|j| !j.is_finished());
        if !wait_readable(&l, 100) {
            continue;
        }
        match l.accept() {
            Ok((s, _)) => {
                let (h, cores) = (h.clone(), cfg.cores.clone());
                match std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        let _ = pin(&cores);
                        serve_conn(&h, s)
                    }) {
                    Ok(j) => joins.push(j),
                    Err(e) => accept_backoff(&e),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => accept_backoff(&e),
        }
    }
    for j in joins {
        let _ = j.join();
    }
    Ok(())
}
