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
    check_nofile(cfg.threads.max(1))?;
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

/// Descriptors the pool needs besides its threads' (stdio, listener, docroot, helpers'
/// sockets, the process's own): a margin.
const NOFILE_MARGIN: u64 = 32;

/// Checks that `threads` pool threads fit RLIMIT_NOFILE: each may hold its connection and an
/// open file at once. The soft limit is raised to the hard one first; if that is not enough
/// the pool does not start (it would answer errors to everyone near the limit).
fn check_nofile(threads: usize) -> io::Result<()> {
    let lim = crate::sys::limits::raise_nofile()?;
    let need = 2 * threads as u64 + NOFILE_MARGIN;
    if lim.soft < need {
        return Err(io::Error::other(format!(
            "mt: {threads} threads need about {need} descriptors (2 per thread + {NOFILE_MARGIN}), \
             but RLIMIT_NOFILE is {} (hard limit {}): lower --threads / [server] threads or \
             raise the limit (ulimit -n)",
            lim.soft, lim.hard
        )));
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
