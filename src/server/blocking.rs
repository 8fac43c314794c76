//! One connection served with blocking I/O: shared by mp, mp_fork, mt and mt_spawn. It runs
//! the handler's steps in order ([`Handler::handle`]: a translation miss is looked up inline,
//! which only blocks this worker) and sends each answer before reading on.

use super::accept::accept_until_stop;
use super::handler::{Handler, Outgoing, Session, Step};
use crate::sys::signals::stop_requested;
use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Requests served on one keep-alive connection before the server closes it (Apache's
/// MaxKeepAliveRequests default). A blocking worker is tied to its connection; without a cap,
/// more busy keep-alive connections than workers would starve the rest in the accept queue
/// forever. The event-driven models multiplex connections and need no cap.
pub const MAX_KEEPALIVE_REQUESTS: u32 = 100;

/// Serves requests on `s` in order until close, error or stop. Errors (a peer reset
/// mid-response included) end this connection only.
pub fn serve_conn(h: &Handler, mut s: TcpStream) {
    let mut sess = Session::capped(MAX_KEEPALIVE_REQUESTS);
    let _ = s.set_nonblocking(false);
    // The read timeout bounds how late an idle keep-alive connection notices a stop request.
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    let _ = s.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut tmp = [0u8; 16384];
    loop {
        loop {
            match h.handle(&mut sess, &buf) {
                Step::Incomplete => break,
                Step::Done { consumed, resp } => {
                    let keep = resp.keep_alive;
                    let mut out = Outgoing::new(resp);
                    if out.send(&mut s).is_err() {
                        return;
                    }
                    buf.drain(..consumed.min(buf.len()));
                    if !keep {
                        linger_close(s);
                        return;
                    }
                }
            }
        }
        if stop_requested() {
            return;
        }
        match s.read(&mut tmp) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return,
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
    let mut tmp = [0u8; 4096];
    for _ in 0..20 {
        match s.read(&mut tmp) {
            Ok(0) => return,
            Ok(_) => {}
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
