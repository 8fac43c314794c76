//! Getting connections, for every model: the listener's setup and the one accept call with
//! its error policy, plus the accept shell of the blocking models (mp, mp_fork, mt,
//! mt_spawn). The event loop of sped/amped/amted/sped_n drains the same [`accept`] when epoll
//! reports the listener; the tokio model applies the same back-off ([`out_of_resources`]) to
//! its runtime's accept.
//!
//! Policy: a stop request is seen within ~100 ms (a blocking accept times out every 100 ms);
//! out of descriptors or buffers → back off 10 ms and serve on (the pending connection stays
//! queued; no busy loop); any other error ends nothing.

use crate::sys::signals::stop_requested;
use nix::errno::Errno;
use nix::sys::socket::{accept4, SockFlag};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// How often a blocking accept wakes up to look for a stop request.
pub const ACCEPT_TIMEOUT_MS: u64 = 100;

/// Binds with the configured backlog; the listener is non-blocking (the event loop's mode;
/// the blocking models switch with [`pool_listener`]).
pub fn bind(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let l = TcpListener::bind(addr)?;
    crate::sys::net::set_backlog(&l, backlog)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Puts a listener into the blocking models' mode: blocking accept (the kernel wakes one
/// waiter per connection: no thundering herd in a pool) that times out every
/// [`ACCEPT_TIMEOUT_MS`] so a stop request is seen.
pub fn pool_listener(l: &TcpListener) -> io::Result<()> {
    l.set_nonblocking(false)?;
    crate::sys::net::set_accept_timeout(l, ACCEPT_TIMEOUT_MS)
}

/// Whether accepted sockets are blocking (worker per connection) or not (event loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnMode {
    Blocking,
    /// `accept4(SOCK_NONBLOCK)`: no extra fcntl per connection.
    NonBlocking,
}

/// How long accept backs off when the process or system is out of descriptors or memory.
pub const BACKOFF: Duration = Duration::from_millis(10);

/// Whether `e` says the process or system is out of descriptors or memory: accept then backs
/// off [`BACKOFF`] (the pending connection stays queued) instead of retrying at once.
pub fn out_of_resources(e: Errno) -> bool {
    matches!(
        e,
        Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM
    )
}

/// Back off when the process or system is out of descriptors or memory.
fn backoff(e: Errno) {
    if out_of_resources(e) {
        std::thread::sleep(BACKOFF);
    }
}

/// One connection, or `None`: nothing pending (timeout / EAGAIN), interrupted, or an error
/// (after the back-off above). A caller loops, checking for a stop request in between.
pub fn accept(l: &TcpListener, mode: ConnMode) -> Option<TcpStream> {
    let flags = match mode {
        ConnMode::Blocking => SockFlag::SOCK_CLOEXEC,
        ConnMode::NonBlocking => SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
    };
    match accept4(l, flags) {
        Ok(fd) => Some(TcpStream::from(fd)),
        Err(e) => {
            backoff(e);
            None
        }
    }
}

/// The accept shell of the blocking models, on a listener in [`pool_listener`] mode: until a
/// stop request, `reap(workers)` (finished children or threads), then hand the next
/// connection to `serve(workers, conn)`. A failing `serve` (fork or spawn out of resources)
/// backs off like accept does.
pub fn accept_until_stop<W>(
    l: &TcpListener,
    workers: &mut W,
    mut reap: impl FnMut(&mut W),
    mut serve: impl FnMut(&mut W, TcpStream) -> io::Result<()>,
) {
    while !stop_requested() {
        reap(workers);
        if let Some(s) = accept(l, ConnMode::Blocking) {
            if let Err(e) = serve(workers, s) {
                backoff(
                    e.raw_os_error()
                        .map_or(Errno::UnknownErrno, Errno::from_raw),
                );
            }
        }
    }
}
