//! `mt` (pool of T threads, blocking accept, caches shared behind locks) and `mt_spawn` (a
//! thread per connection).
//!
//! ```text
//!  [thread: accept→serve] × T        (mt)
//!  main: accept ──spawn──▶ [thread: serve one connection]   (mt_spawn)
//! ```

use super::accept::{accept_until_stop, pool_listener};
use super::blocking::{pool_member, serve_conn};
use super::handler::Handler;
use super::{pin, ServeConfig};
use std::io;
use std::net::TcpListener;
use std::sync::Arc;

pub fn run_pool(
    cfg: &ServeConfig,
    l: TcpListener,
    h: Handler,
    announce: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    pool_listener(&l)?;
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
                    pool_member(&h, &l)
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
    pool_listener(&l)?;
    announce()?;
    let h = Arc::new(h);
    let mut joins: Vec<std::thread::JoinHandle<()>> = Vec::new();
    accept_until_stop(
        &l,
        &mut joins,
        |joins| joins.retain(|j| !j.is_finished()),
        |joins, s| {
            let (h, cores) = (h.clone(), cfg.cores.clone());
            joins.push(
                std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        let _ = pin(&cores);
                        serve_conn(&h, s)
                    })?,
            );
            Ok(())
        },
    );
    for j in joins {
        let _ = j.join();
    }
    Ok(())
}
