//! The two baselines, run in one thread with no peer and no switch:
//!
//! - `syscall`: one `getppid` per iteration, the price of entering and leaving the kernel.
//! - `pipe_self`: the pipe work of one round trip (write + read, twice, on one pipe) with no
//!   switch, lmbench's overhead: (round trip − pipe_self) / 2 is a pipe switch without it.
//!
//! ```text
//!   main: getppid()                               (syscall)
//!   main: write t -> [pipe] -> read t, twice      (pipe_self)
//! ```

use super::fd::{recv_token, send_token};
use super::peer::{gone, mismatch};
use super::{Handoff, PeerConfig};
use nix::unistd::pipe2;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

/// `syscall`: nothing to start or stop.
pub(super) struct Syscall;

impl Handoff for Syscall {
    fn start(_config: PeerConfig) -> io::Result<Self> {
        Ok(Syscall)
    }

    #[inline]
    fn round_trip(&mut self, _t: u64) -> io::Result<()> {
        std::hint::black_box(nix::unistd::getppid());
        Ok(())
    }

    fn stop(self: Box<Self>) {}
}

/// `pipe_self`: one pipe this thread writes and reads.
pub(super) struct PipeSelf {
    rx: OwnedFd,
    tx: OwnedFd,
}

impl Handoff for PipeSelf {
    fn start(_config: PeerConfig) -> io::Result<Self> {
        let (rx, tx) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        Ok(PipeSelf { rx, tx })
    }

    #[inline]
    fn round_trip(&mut self, t: u64) -> io::Result<()> {
        for _ in 0..2 {
            send_token(self.tx.as_fd(), t)?;
            let got = recv_token(self.rx.as_fd())?.ok_or_else(|| gone("own pipe"))?;
            if got != t {
                return Err(mismatch(t, got));
            }
        }
        Ok(())
    }

    fn stop(self: Box<Self>) {}
}
