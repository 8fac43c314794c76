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

use super::fd::{Ends, PeerKind, Transport};
use nix::unistd::pipe2;
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
pub(super) enum PipeProcess {}

impl Transport for PipeProcess {
    const PEER: PeerKind = PeerKind::Process;
    fn ends() -> io::Result<Ends> {
        pipe_pair()
    }
}

/// `pipe_thread`: the peer is a thread of this process.
pub(super) enum PipeThread {}

impl Transport for PipeThread {
    const PEER: PeerKind = PeerKind::Thread;
    fn ends() -> io::Result<Ends> {
        pipe_pair()
    }
}
