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

use super::fd::{Ends, FdPeer};
use super::{Handoff, PeerConfig};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::unistd::Pid;
use std::io;

pub(super) struct UnixSocketProcess(FdPeer);

impl Handoff for UnixSocketProcess {
    fn start(config: PeerConfig) -> io::Result<Self> {
        let (main, peer) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let main_tx = main.try_clone()?;
        let peer_tx = peer.try_clone()?;
        let ends = Ends {
            main_rx: main,
            main_tx,
            peer_rx: peer,
            peer_tx,
        };
        FdPeer::process(ends, config).map(UnixSocketProcess)
    }

    #[inline]
    fn round_trip(&mut self, t: u64) -> io::Result<()> {
        self.0.round_trip(t)
    }

    fn stop(self: Box<Self>) {
        self.0.stop()
    }

    fn peer_pid(&self) -> Option<Pid> {
        self.0.peer_pid()
    }
}
