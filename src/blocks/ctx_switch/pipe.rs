//! `pipe_process`, `pipe_thread` and `ctx_switch_ws/pipe_process/<KiB>`: the token crosses two
//! pipes (one each way), lmbench's `lat_ctx` and `perf bench sched pipe`.
//!
//! ```text
//!   main ──write──> [pipe ping] ──read──> peer (forked process | thread)
//!   main <──read─── [pipe pong] <──write── peer      (each side sums its K KiB, ws only)
//! ```
//!
//! A process peer switches address spaces on every hand-off (page-table switch, and with the
//! working set: refilling caches the other side evicted); a thread peer shares one. Both pay
//! the pipe's system calls, which `pipe_self` measures without a switch.

use super::fd::{Ends, FdPeer};
use super::{Handoff, PeerConfig};
use nix::unistd::{pipe2, Pid};
use std::io;

/// Two pipes, one each way.
fn pipe_pair() -> io::Result<Ends> {
    let (main_rx, peer_tx) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (peer_rx, main_tx) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok(Ends {
        main_rx,
        main_tx,
        peer_rx,
        peer_tx,
    })
}

/// `pipe_process`: the peer is a forked process.
pub(super) struct PipeProcess(FdPeer);

impl Handoff for PipeProcess {
    fn start(config: PeerConfig) -> io::Result<Self> {
        FdPeer::process(pipe_pair()?, config).map(PipeProcess)
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

/// `pipe_thread`: the peer is a thread of this process.
pub(super) struct PipeThread(FdPeer);

impl Handoff for PipeThread {
    fn start(config: PeerConfig) -> io::Result<Self> {
        FdPeer::thread(pipe_pair()?, config).map(PipeThread)
    }

    #[inline]
    fn round_trip(&mut self, t: u64) -> io::Result<()> {
        self.0.round_trip(t)
    }

    fn stop(self: Box<Self>) {
        self.0.stop()
    }
}
