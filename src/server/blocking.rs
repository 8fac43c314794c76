//! One connection served with blocking I/O: shared by mp, mp_fork, mt and mt_spawn. It runs
//! the handler's steps in order ([`Handler::handle`]: a translation miss is looked up inline,
//! which only blocks this worker) and sends each answer before reading on.

use super::accept::accept_until_stop;
use super::handler::{Handler, Outgoing, Session, Stamp, Step};
use crate::sys::signals::stop_requested;
use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Requests served on one keep-alive connection before the server closes it (Apache's
/// MaxKeepAliveRequests default). A blocking worker is tied to its connection; without a cap,
/// more busy keep-alive connections than workers would starve the rest in the accept queue
/// forever. The event-driven models multiplex connections and need no cap.
pub const MAX_KEEPALIVE_REQUESTS: u32 = 100;

/// How often a blocked read or write of a worker wakes up to look at the stop flag and the
/// connection's timeouts (SO_RCVTIMEO / SO_SNDTIMEO): a stop is seen within this even when
/// the client stalls, a slow client costs a timeout, not a worker for good.
const WAKE: Duration = Duration::from_millis(100);
/// How long, and how much, a closing connection's late input is read and discarded.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// Serves requests on `s` in order until close, error, stop or a timeout of the session
/// ([`Handler::expired`]: header, idle keep-alive, send). Errors (a peer reset mid-response
/// included) end this connection only.
pub fn serve_conn(h: &Handler, mut s: TcpStream) {
    let mut sess = Session::capped(MAX_KEEPALIVE_REQUESTS);
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(WAKE));
    let _ = s.set_write_timeout(Some(WAKE));
    let _ = s.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut tmp = [0u8; 16384];
    loop {
        loop {
            match h.handle(&mut sess, &buf) {
                Step::Incomplete => break,
                Step::Done { consumed, resp } => {
                    let keep = resp.keep_alive;
                    sess.queued();
                    if !send_all(h, &mut sess, &mut s, Outgoing::new(resp)) {
                        return;
                    }
                    buf.drain(..consumed.min(buf.len()));
                    sess.answered(buf.is_empty());
                    if !keep {
                        linger_close(s);
                        return;
                    }
                }
            }
        }
        if stop_requested() || h.expired(&sess, Stamp::now()) {
            return;
        }
        match s.read(&mut tmp) {
            Ok(0) => return,
            Ok(n) => {
                sess.received();
                buf.extend_from_slice(&tmp[..n])
            }
            Err(e) if is_wake(&e) => {}
            Err(_) => return,
        }
    }
}

/// A socket timeout ([`WAKE`]) or a signal: nothing wrong, look at the deadlines and go on.
fn is_wake(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Sends one answer in full, resuming after each [`WAKE`] without progress; false when the
/// connection must end (an error, a stop request, or the send timeout).
fn send_all(h: &Handler, sess: &mut Session, s: &mut TcpStream, mut out: Outgoing) -> bool {
    loop {
        let before = out.sent();
        let r = out.send(s);
        if out.sent() > before {
            sess.sent_some();
        }
        match r {
            Ok(true) => return true,
            Ok(false) => {}
            Err(e) if is_wake(&e) => {}
            Err(_) => return false,
        }
        if stop_requested() || h.expired(sess, Stamp::now()) {
            return false;
        }
    }
}

/// The life of one pool member (process or thread): accept and serve until stopped.
pub fn pool_member(h: &Handler, l: &TcpListener) {
    accept_until_stop(
        l,
        &mut (),
        |_| {},
        |_, s| {
            serve_conn(h, s);
            Ok(())
        },
    )
}

/// Lingering close: stop sending, then discard what the peer still sends (briefly) so that
/// unread input does not turn our close into a reset that destroys the response in flight.
fn linger_close(mut s: TcpStream) {
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut tmp = [0u8; 16384];
    // Until EOF, for at most LINGER and LINGER_BYTES (a client sending a 100 KB head after
    // its 431 must not reset the answer, as the former 80 KB linger let it).
    let until = Instant::now() + LINGER;
    let mut left = LINGER_BYTES;
    while Instant::now() < until && left > 0 {
        match s.read(&mut tmp) {
            Ok(0) => return,
            Ok(n) => left = left.saturating_sub(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if stop_requested() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}
