//! `unix_socket_process`: the token crosses one `AF_UNIX` stream socket pair to a forked peer
//! (both directions on one pair of descriptors).
//!
//! ```text
//!   main ──send──> [socketpair] ──recv──> peer process
//!   main <──recv── [socketpair] <──send── peer process
//! ```
//!
//! Against `pipe_process`: the same switch, with the socket layer's per-message cost in place
//! of the pipe's.

use super::fd::{Ends, PeerKind, Transport};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use std::io;

/// One stream socket pair, both directions on each end.
pub(super) enum UnixSocketProcess {}

impl Transport for UnixSocketProcess {
    const PEER: PeerKind = PeerKind::Process;
    fn ends() -> io::Result<Ends> {
        let (main, peer) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let main_tx = main.try_clone()?;
        let peer_tx = peer.try_clone()?;
        Ok(Ends {
            main_rx: main,
            main_tx,
            peer_rx: peer,
            peer_tx,
        })
    }
}
