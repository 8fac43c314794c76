//! `mp` (pre-forked pool of P processes, each a blocking accept loop with private caches) and
//! `mp_fork` (a process forked per connection: process creation in the request path).
//!
//! ```text
//!  parent ──fork×P──▶ [accept→serve]  [accept→serve] ...   (mp)
//!  parent: accept ──fork──▶ [serve one connection, exit]   (mp_fork)
//! ```
//!
//! Both fork before any thread exists. Children die with the parent (PR_SET_PDEATHSIG via
//! `ChildGuard`) and the parent reaps every one.

use super::accept::{accept_until_stop, pool_listener};
use super::blocking::{pool_member, serve_conn};
use super::handler::Handler;
use super::{pin, ServeConfig};
use crate::sys::process::ChildGuard;
use crate::sys::signals::stop_requested;
use nix::sys::signal::Signal;
use std::io;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Stops and reaps children: SIGTERM, up to 800 ms grace, then SIGKILL (ChildGuard's drop).
pub(super) fn stop_children(mut kids: Vec<ChildGuard>) {
    for k in &kids {
        let _ = k.signal(Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_millis(800);
    for k in &mut kids {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = k.wait_timeout(left);
    }
    drop(kids);
}

pub fn run_prefork(
    cfg: &ServeConfig,
    l: TcpListener,
    announce: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    pool_listener(&l)?;
    let mut kids = Vec::new();
    for _ in 0..cfg.processes.max(1) {
        let hc = cfg.handler.clone();
        let cores = cfg.cores.clone();
        let l2 = &l;
        kids.push(ChildGuard::fork(move || {
            if pin(&cores).is_err() {
                return 3;
            }
            // Each process builds its own caches: per-process memory is the MP cost.
            match Handler::new(hc) {
                Ok(h) => {
                    pool_member(&h, l2);
                    0
                }
                Err(_) => 4,
            }
        })?);
    }
    announce()?;
    while !stop_requested() {
        std::thread::sleep(Duration::from_millis(50));
        // A pool member that died is an error worth stopping on rather than serving degraded.
        for k in &mut kids {
            if k.try_wait()?.is_some() {
                stop_children(kids);
                return Err(io::Error::other("an mp worker exited unexpectedly"));
            }
        }
    }
    stop_children(kids);
    Ok(())
}

pub fn run_fork_per_conn(
    cfg: &ServeConfig,
    l: TcpListener,
    h: Handler,
    announce: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    pool_listener(&l)?;
    announce()?;
    let mut kids: Vec<ChildGuard> = Vec::new();
    accept_until_stop(
        &l,
        &mut kids,
        |kids| kids.retain_mut(|k| !matches!(k.try_wait(), Ok(Some(_)) | Err(_))),
        |kids, s| {
            let h = &h;
            let cores = &cfg.cores;
            // The parent's copy of the socket is moved into the closure and dropped here.
            kids.push(ChildGuard::fork(move || {
                let _ = pin(cores);
                serve_conn(h, s);
                0
            })?);
            Ok(())
        },
    );
    stop_children(kids);
    Ok(())
}
