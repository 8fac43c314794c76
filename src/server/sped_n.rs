//! `sped_n`: N single-threaded event loops in N processes — the lecture's "multiple CPUs ⇒
//! multiple event-driven processes", what nginx does with `worker_processes auto; listen …
//! reuseport`. Each process runs the unchanged `sped` loop ([`sped::event_loop`]) with its own
//! [`Handler`] (private caches, as in `mp`), pinned to one server core (loop i on core
//! `cores[i % cores.len()]`). N is `serve --loops N` or the profile's `[server] loops`;
//! 0 (the default) means one loop per server core.
//!
//! ```text
//!  parent ──bind×N (SO_REUSEPORT, one port)──fork×N──▶ [sped loop 0 · core 0 · listener 0]
//!    │  supervises, forwards SIGTERM, reaps          ▶ [sped loop 1 · core 1 · listener 1] …
//!    └◀── each loop's counters over a socket pair at exit
//! ```
//!
//! **Why `SO_REUSEPORT` and not one shared listener with `EPOLLEXCLUSIVE`.** With
//! `SO_REUSEPORT` every process has its own listening socket and accept queue, and the kernel
//! spreads incoming connections over the group by a hash of the 4-tuple: the split is decided
//! per connection, before any process wakes, so it does not depend on which loop happens to be
//! waiting. `EPOLLEXCLUSIVE` wakes one waiter per event, but the loop it wakes drains the whole
//! shared queue (sped accepts until EAGAIN, as every event loop does), and the kernel prefers
//! the waiter queued most recently: under a connect burst — the benches open 64 or 1024
//! keep-alive connections at once — one process takes nearly all of them and the other loops
//! idle, which would fail the point of the model (and its bar: each of 2 loops serves ≥ 25 %).
//! Each socket also keeps its own accept lock and queue, so there is no cross-process
//! contention on accept. The cost, stated: a connection hashed to a loop waits for that loop
//! even when another is idle (a loop stuck on a page fault delays its queue — SPED's weakness,
//! kept per process), and a loop that exits takes its queued connections with it (only at
//! shutdown here: a loop that dies unexpectedly stops the server, as in `mp`).
//!
//! Each listener is created in the parent just before its child is forked and closed in the
//! parent right after, so every child holds only its own listener: if one exits, its socket
//! leaves the group and the kernel stops routing connections to it. A fixed `--bind` port is
//! first bound once without `SO_REUSEPORT`, so a port that another server holds is still
//! "in use" (a reuseport group would otherwise silently join another process's group of the
//! same user).
//!
//! Shutdown: the parent polls the stop flag every 50 ms, forwards SIGTERM to the loops (each
//! sees it within its 100 ms epoll timeout), reaps them within 800 ms or SIGKILLs them. Each
//! loop prints `threadbench serve: loop=I pid=P loop_requests=N` on stderr as it exits, and
//! the parent the totals in the line the other event-driven models print
//! (`threadbench serve: requests=N helper_jobs=0 translate_jobs=0 loops=N`).

use super::handler::{Counters, Handler, HandlerConfig};
use super::{mp, pin, sped, ServeConfig};
use crate::sys::process::ChildGuard;
use crate::sys::signals::stop_requested;
use nix::sys::socket::{
    self, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage,
};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often the parent looks at the stop flag and its loops.
const SUPERVISE_EVERY: Duration = Duration::from_millis(50);

/// The number of loops: `loops`, or one per server core (the CPUs this process may use when
/// the run is unpinned).
pub fn loop_count(loops: usize, cores: &[usize]) -> usize {
    if loops > 0 {
        return loops;
    }
    if !cores.is_empty() {
        return cores.len();
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A non-blocking listener on `addr` in the port's `SO_REUSEPORT` group. A fixed port is
/// checked first with a plain bind (see the module doc); port 0 picks a free port, which the
/// later listeners of the group then bind to.
pub fn bind(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    if addr.port() != 0 {
        drop(TcpListener::bind(addr)?);
    }
    reuseport_listener(addr, backlog)
}

fn reuseport_listener(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    // SO_REUSEADDR as std sets it (a restart need not wait out TIME_WAIT); SO_REUSEPORT must
    // be set on every member before its bind.
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    socket::setsockopt(&fd, sockopt::ReusePort, &true)?;
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    socket::listen(&fd, Backlog::MAXCONN)?;
    let l = TcpListener::from(fd);
    crate::sys::net::set_backlog(&l, backlog)?;
    Ok(l)
}

/// A loop's counters as sent to the parent: requests, helper jobs, translate jobs.
const REPORT_BYTES: usize = 24;

fn encode_report(c: &Counters) -> [u8; REPORT_BYTES] {
    let mut b = [0u8; REPORT_BYTES];
    for (i, v) in [&c.requests, &c.helper_jobs, &c.translate_jobs]
        .into_iter()
        .enumerate()
    {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.load(Ordering::Relaxed).to_le_bytes());
    }
    b
}

fn decode_report(b: &[u8; REPORT_BYTES]) -> [u64; 3] {
    let at = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    [at(0), at(1), at(2)]
}

/// Writes `line` with one `write` (stderr is shared by every loop: a line must not be split).
fn print_line(line: String) {
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

/// One loop's process: pin, build its own caches, run sped's loop until stopped, report.
fn loop_main(
    idx: usize,
    l: TcpListener,
    hc: HandlerConfig,
    core: Option<usize>,
    mut report: UnixStream,
) -> i32 {
    if let Some(c) = core {
        if pin(&[c]).is_err() {
            return 3;
        }
    }
    let h = match Handler::new(hc) {
        Ok(h) => h,
        Err(_) => return 4,
    };
    let r = sped::event_loop(&l, &h, None, || Ok(()));
    print_line(format!(
        "threadbench serve: loop={idx} pid={} loop_requests={}\n",
        std::process::id(),
        h.counters.requests.load(Ordering::Relaxed)
    ));
    let _ = report.write_all(&encode_report(&h.counters));
    match r {
        Ok(()) => 0,
        Err(_) => 5,
    }
}

pub fn run(
    cfg: &ServeConfig,
    first: TcpListener,
    announce: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    let n = loop_count(cfg.loops, &cfg.cores);
    let addr = first.local_addr()?;
    let mut first = Some(first);
    let mut kids = Vec::with_capacity(n);
    let mut reports = Vec::with_capacity(n);
    for idx in 0..n {
        let l = match first.take() {
            Some(l) => l,
            None => reuseport_listener(addr, cfg.backlog)?,
        };
        let (mine, theirs) = UnixStream::pair()?;
        let core = (!cfg.cores.is_empty()).then(|| cfg.cores[idx % cfg.cores.len()]);
        let hc = cfg.handler.clone();
        // The closure owns this loop's listener and report end: the parent's copies close
        // when `fork` drops it, so the next child inherits neither.
        kids.push(ChildGuard::fork(move || {
            loop_main(idx, l, hc, core, theirs)
        })?);
        reports.push(mine);
    }
    announce()?;
    let mut failed = None;
    while !stop_requested() && failed.is_none() {
        std::thread::sleep(SUPERVISE_EVERY);
        // A loop that died takes its share of the port with it: stop rather than serve less.
        for (idx, k) in kids.iter_mut().enumerate() {
            if let Some(st) = k.try_wait()? {
                failed = Some(format!("sped_n: loop {idx} exited unexpectedly ({st:?})"));
            }
        }
    }
    mp::stop_children(kids);
    let mut totals = [0u64; 3];
    for mut r in reports {
        r.set_nonblocking(true)?;
        let mut b = [0u8; REPORT_BYTES];
        // Written before the loop exited, and the loop has been reaped: it is there, or the
        // loop was killed before it could report.
        if r.read_exact(&mut b).is_ok() {
            for (t, v) in totals.iter_mut().zip(decode_report(&b)) {
                *t += v;
            }
        }
    }
    print_line(format!(
        "threadbench serve: requests={} helper_jobs={} translate_jobs={} loops={n}\n",
        totals[0], totals[1], totals[2]
    ));
    match failed {
        Some(why) => Err(io::Error::other(why)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_default_to_one_per_server_core() {
        assert_eq!(loop_count(3, &[0]), 3);
        assert_eq!(loop_count(0, &[0, 1]), 2);
        assert_eq!(
            loop_count(0, &[]),
            std::thread::available_parallelism().unwrap().get()
        );
    }

    #[test]
    fn reports_survive_the_socket() {
        let c = Counters::default();
        c.requests.store(1 << 40, Ordering::Relaxed);
        c.helper_jobs.store(7, Ordering::Relaxed);
        c.translate_jobs.store(3, Ordering::Relaxed);
        assert_eq!(decode_report(&encode_report(&c)), [1 << 40, 7, 3]);
    }

    /// Two listeners of one group share the port; a plain bind of it is refused while they
    /// listen (so a fixed port in use is still an error).
    #[test]
    fn reuseport_group_shares_a_port_and_keeps_it_in_use() {
        let a = bind("127.0.0.1:0".parse().unwrap(), 16).expect("first listener");
        let addr = a.local_addr().unwrap();
        let b = reuseport_listener(addr, 16).expect("second listener on the same port");
        assert_eq!(b.local_addr().unwrap(), addr);
        let e = bind(addr, 16).expect_err("the port is in use");
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    }
}
