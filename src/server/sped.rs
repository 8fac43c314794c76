//! `sped`: one thread, epoll (edge-triggered), non-blocking sockets, a state machine per
//! connection. Bodies come from the mapped-file cache, so a non-resident page blocks the whole
//! loop — faithful to SPED. With [`Helpers`] (amped/amted) each chunk's residency is checked
//! with mincore() first and a non-resident chunk is handed to a helper instead.
//!
//! ```text
//!  epoll_wait ─▶ listener: accept all ─▶ conn: read all → handle* → send queue in order
//!            └▶ helper socket: job done → resume that conn's send
//! ```

use super::amped::Helpers;
use super::handler::{Handler, Outgoing, Step};
use super::{accept_backoff, ServeConfig};
use crate::sys::signals::stop_requested;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::socket::{accept4, SockFlag};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Residency is checked and sent in chunks of this size.
const CHUNK: usize = 64 * 1024;
const LISTENER: u64 = 0;
const HELPER_BASE: u64 = 1;
const CONN_BASE: u64 = 1 << 32;
/// How long a closing connection may keep sending us bytes we discard.
const LINGER: Duration = Duration::from_secs(2);

struct Conn {
    s: TcpStream,
    inbuf: Vec<u8>,
    out: VecDeque<Outgoing>,
    /// No further requests are parsed (an error or `Connection: close` was queued).
    closing: bool,
    /// A helper job for this connection's next chunk is outstanding.
    waiting: bool,
    eof: bool,
    /// The last event carried EPOLLRDHUP/EPOLLHUP: the peer's FIN is pending, read to EOF.
    peer_closed: bool,
    draining: Option<Instant>,
    /// A send hit EAGAIN: the caller must watch EPOLLOUT (registered lazily, which saves
    /// the extra wake-up EPOLLOUT would cause on every new connection).
    blocked_write: bool,
    out_registered: bool,
}

const IN_FLAGS: EpollFlags = EpollFlags::EPOLLIN
    .union(EpollFlags::EPOLLRDHUP)
    .union(EpollFlags::EPOLLET);

/// Drives a connection and registers EPOLLOUT when it first needs it; false → close.
fn step(ep: &Epoll, c: &mut Conn, h: &Handler, helpers: &mut Option<Helpers>, id: u64) -> bool {
    if !drive(c, h, helpers, id) {
        return false;
    }
    if c.blocked_write && !c.out_registered {
        c.out_registered = true;
        let mut ev = EpollEvent::new(IN_FLAGS | EpollFlags::EPOLLOUT, id);
        if ep.modify(&c.s, &mut ev).is_err() {
            return false;
        }
    }
    true
}

/// Advances one connection; false when it should be closed.
fn drive(c: &mut Conn, h: &Handler, helpers: &mut Option<Helpers>, id: u64) -> bool {
    let mut tmp = [0u8; 16384];
    if !c.closing || c.draining.is_some() {
        loop {
            match c.s.read(&mut tmp) {
                Ok(0) => {
                    c.eof = true;
                    break;
                }
                Ok(n) => {
                    if c.draining.is_none() {
                        c.inbuf.extend_from_slice(&tmp[..n])
                    }
                    if n < tmp.len() && !c.peer_closed {
                        // A short read drained the socket; bytes arriving later raise a new
                        // edge. Saves the read that would only return EAGAIN (as nginx does).
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
    if let Some(t) = c.draining {
        return !c.eof && t.elapsed() < LINGER;
    }
    while !c.closing {
        match h.handle(&c.inbuf) {
            Step::Incomplete => break,
            Step::Done { consumed, resp } => {
                c.inbuf.drain(..consumed.min(c.inbuf.len()));
                c.closing = !resp.keep_alive;
                c.out.push_back(Outgoing::new(resp));
            }
        }
    }
    while !c.waiting {
        let Some(o) = c.out.front_mut() else { break };
        let mut limit = usize::MAX;
        if let Some(hp) = helpers.as_mut() {
            if let Some((mf, off, len)) = o.next_chunk(CHUNK) {
                if !mf.map.resident(off, len).unwrap_or(true)
                    && hp.submit(id, &mf.path, off, len).is_ok()
                {
                    h.counters.helper_jobs.fetch_add(1, Ordering::Relaxed);
                    c.waiting = true;
                    break;
                }
                limit = off + len;
            }
        }
        match o.send_upto(&mut c.s, limit) {
            Ok(true) => {
                c.out.pop_front();
            }
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.blocked_write = true;
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    if c.out.is_empty() && c.closing {
        if c.inbuf.is_empty() {
            // Everything the client sent was consumed (a plain `Connection: close`): close
            // at once; nothing unread can turn the close into a reset of the reply.
            return false;
        }
        // Lingering close: stop sending, discard late input so it cannot reset the reply.
        let _ = c.s.shutdown(Shutdown::Write);
        c.draining = Some(Instant::now());
        return drive(c, h, helpers, id);
    }
    !(c.eof && c.out.is_empty())
}

pub fn run(
    _cfg: &ServeConfig,
    l: TcpListener,
    h: Handler,
    mut helpers: Option<Helpers>,
    announce: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    ep.add(&l, EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))?;
    if let Some(hp) = &helpers {
        for (i, s) in hp.socks.iter().enumerate() {
            ep.add(
                s,
                EpollEvent::new(EpollFlags::EPOLLIN, HELPER_BASE + i as u64),
            )?;
        }
    }
    announce()?;
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut next_id = CONN_BASE;
    let mut events = vec![EpollEvent::empty(); 256];
    let mut done = Vec::new();
    let mut last_sweep = Instant::now();
    while !stop_requested() {
        let n = match ep.wait(&mut events, 100u16) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        for ev in &events[..n] {
            let tok = ev.data();
            if tok == LISTENER {
                loop {
                    // accept4(SOCK_NONBLOCK): no extra ioctl per connection.
                    match accept4(&l, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC)
                        .map(TcpStream::from)
                        .map_err(io::Error::from)
                    {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            let id = next_id;
                            next_id += 1;
                            if ep.add(&s, EpollEvent::new(IN_FLAGS, id)).is_err() {
                                continue;
                            }
                            let c = Conn {
                                s,
                                inbuf: Vec::new(),
                                out: VecDeque::new(),
                                closing: false,
                                waiting: false,
                                eof: false,
                                peer_closed: false,
                                draining: None,
                                blocked_write: false,
                                out_registered: false,
                            };
                            // Not read yet: the request rarely arrives with the handshake;
                            // the edge-triggered registration reports it when it does.
                            conns.insert(id, c);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            // EMFILE: the pending connection stays queued; back off, serve on.
                            accept_backoff(&e);
                            break;
                        }
                    }
                }
            } else if tok < CONN_BASE {
                let i = (tok - HELPER_BASE) as usize;
                done.clear();
                if let Some(hp) = helpers.as_mut() {
                    hp.completions(i, &mut done);
                }
                for id in std::mem::take(&mut done) {
                    if let Some(c) = conns.get_mut(&id) {
                        c.waiting = false;
                        if !step(&ep, c, &h, &mut helpers, id) {
                            conns.remove(&id);
                        }
                    }
                }
            } else if let Some(c) = conns.get_mut(&tok) {
                c.peer_closed |= ev
                    .events()
                    .intersects(EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLHUP);
                if !step(&ep, c, &h, &mut helpers, tok) {
                    conns.remove(&tok);
                }
            }
        }
        if last_sweep.elapsed() > Duration::from_millis(500) {
            last_sweep = Instant::now();
            conns.retain(|_, c| c.draining.map_or(true, |t| t.elapsed() < LINGER));
        }
    }
    drop(conns);
    if let Some(hp) = helpers {
        hp.stop();
    }
    eprintln!(
        "threadbench serve: requests={} helper_jobs={}",
        h.counters.requests.load(Ordering::Relaxed),
        h.counters.helper_jobs.load(Ordering::Relaxed)
    );
    Ok(())
}
