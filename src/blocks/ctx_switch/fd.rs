//! A token over a pair of descriptors, the one hand-off `pipe_*` and `unix_socket_process`
//! share: 8-byte little-endian tokens, the peer's read-check-sum-reply loop, and a peer that is
//! a thread or a forked process.
//!
//! ```text
//!   main: write t --> [tx ... peer_rx] --> peer: read, check t == expected, sum ws
//!   main: read, check <-- [rx ... peer_tx] <-- peer: write t
//! ```
//!
//! A process peer holds the only copies of its ends, so its death closes them and the main
//! side's read sees end of file (an error, never a hang). A thread peer ends when the main
//! side closes its ends (EOF in the peer's read).

use super::peer::{gone, mismatch, spawn_peer, WorkingSet};
use super::{Handoff, PeerConfig};
use crate::sys::process::ChildGuard;
use nix::unistd::Pid;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::thread::JoinHandle;

pub(super) fn send_token(fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
    let buf = token.to_le_bytes();
    let mut done = 0;
    while done < buf.len() {
        match nix::unistd::write(fd, &buf[done..]) {
            Ok(n) => done += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The next token, or `None` at end of file (the other side closed or died).
pub(super) fn recv_token(fd: BorrowedFd<'_>) -> io::Result<Option<u64>> {
    let mut buf = [0u8; 8];
    let mut done = 0;
    while done < buf.len() {
        match nix::unistd::read(fd, &mut buf[done..]) {
            Ok(0) => return Ok(None),
            Ok(n) => done += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(u64::from_le_bytes(buf)))
}

/// Why an fd peer stopped. No allocation: a forked peer must not call the allocator.
#[derive(Debug)]
enum PeerFault {
    Mismatch { expected: u64, got: u64 },
    Io(io::Error),
}

impl From<io::Error> for PeerFault {
    fn from(e: io::Error) -> Self {
        PeerFault::Io(e)
    }
}

impl From<PeerFault> for io::Error {
    fn from(f: PeerFault) -> Self {
        match f {
            PeerFault::Mismatch { expected, got } => mismatch(expected, got),
            PeerFault::Io(e) => e,
        }
    }
}

/// The peer's side over a pipe pair or socket: read, check, sum, reply; returns at EOF.
/// Runs in forked children too, so it allocates nothing (errors from errno carry no string).
fn fd_peer_loop(rx: BorrowedFd<'_>, tx: BorrowedFd<'_>, ws: &WorkingSet) -> Result<(), PeerFault> {
    let mut expected = 1u64;
    while let Some(token) = recv_token(rx)? {
        if token != expected {
            return Err(PeerFault::Mismatch {
                expected,
                got: token,
            });
        }
        ws.sum();
        send_token(tx, token)?;
        expected += 1;
    }
    Ok(())
}

/// The four ends of a descriptor pair: the main side's and the peer's.
pub(super) struct Ends {
    pub(super) main_rx: OwnedFd,
    pub(super) main_tx: OwnedFd,
    pub(super) peer_rx: OwnedFd,
    pub(super) peer_tx: OwnedFd,
}

/// Where an fd peer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PeerKind {
    Thread,
    Process,
}

/// A descriptor transport (`pipe.rs`, `unix_socket.rs`): how to make the four ends, and
/// where its peer runs. [`FdHandoff`] does the rest.
pub(super) trait Transport {
    const PEER: PeerKind;
    fn ends() -> io::Result<Ends>;
}

/// The main side of an fd hand-off over transport `T`, with its peer (a thread or a process).
pub(super) struct FdHandoff<T> {
    rx: OwnedFd,
    tx: OwnedFd,
    /// Set for process peers; thread peers end when `rx`/`tx` close.
    child: Option<ChildGuard>,
    thread: Option<JoinHandle<io::Result<()>>>,
    ws: WorkingSet,
    transport: PhantomData<fn() -> T>,
}

/// A thread peer on `cpu`, summing its own clone of the working set.
fn thread_peer(
    peer_rx: OwnedFd,
    peer_tx: OwnedFd,
    cpu: Option<usize>,
    ws: &WorkingSet,
) -> io::Result<JoinHandle<io::Result<()>>> {
    let ws = ws.clone();
    spawn_peer("pipe-peer", cpu, move || {
        Ok(fd_peer_loop(peer_rx.as_fd(), peer_tx.as_fd(), &ws)?)
    })
}

/// A forked peer process on `cpu`, with its own copy of the working set.
fn process_peer(
    peer_rx: OwnedFd,
    peer_tx: OwnedFd,
    cpu: Option<usize>,
    ws: &WorkingSet,
) -> io::Result<ChildGuard> {
    // Allocated here, before fork: the child must not allocate (other threads may hold
    // the allocator's lock at fork time). It writes its copy once so that it owns
    // separate pages, then only reads them.
    let mut child_ws = ws.clone();
    let child = ChildGuard::fork(move || {
        let (rx, tx) = (peer_rx.as_raw_fd(), peer_tx.as_raw_fd());
        if crate::sys::spawn::close_fds_except(&[rx, tx]).is_err() {
            return 3;
        }
        if let Some(cpu) = cpu {
            if crate::sys::cpu::set_current_affinity(&[cpu]).is_err()
                || crate::sys::cpu::current_cpu().ok() != Some(cpu)
            {
                return 4;
            }
        }
        child_ws.own();
        match fd_peer_loop(peer_rx.as_fd(), peer_tx.as_fd(), &child_ws) {
            Ok(()) => 0,
            Err(_) => 2,
        }
    })?;
    // The closure (with the peer's descriptors) was dropped in the parent: only the child
    // holds the peer's ends, so its death closes them and our reads see EOF.
    Ok(child)
}

impl<T: Transport> Handoff for FdHandoff<T> {
    fn start(config: PeerConfig) -> io::Result<Self> {
        let ws = WorkingSet::new(config.ws_kib);
        let Ends {
            main_rx,
            main_tx,
            peer_rx,
            peer_tx,
        } = T::ends()?;
        let cpu = config.peer_cpu;
        let (child, thread) = match T::PEER {
            PeerKind::Thread => (None, Some(thread_peer(peer_rx, peer_tx, cpu, &ws)?)),
            PeerKind::Process => (Some(process_peer(peer_rx, peer_tx, cpu, &ws)?), None),
        };
        Ok(FdHandoff {
            rx: main_rx,
            tx: main_tx,
            child,
            thread,
            ws,
            transport: PhantomData,
        })
    }

    /// Hands `t` over, reads the answer, checks it, sums the working set.
    #[inline]
    fn round_trip(&mut self, t: u64) -> io::Result<()> {
        send_token(self.tx.as_fd(), t).map_err(|e| gone(&format!("write: {e}")))?;
        let got = recv_token(self.rx.as_fd())?.ok_or_else(|| gone("end of file"))?;
        if got != t {
            return Err(mismatch(t, got));
        }
        self.ws.sum();
        Ok(())
    }

    /// Closes our ends first (a thread peer sees EOF; a process peer is killed and reaped by
    /// its guard), then joins a thread peer.
    fn stop(self: Box<Self>) {
        let FdHandoff {
            rx,
            tx,
            child,
            thread,
            ..
        } = *self;
        drop((rx, tx, child));
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    fn peer_pid(&self) -> Option<Pid> {
        self.child.as_ref().map(|c| c.pid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_cross_a_pipe_and_eof_is_none() {
        let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        send_token(tx.as_fd(), 0x0102_0304_0506_0708).unwrap();
        assert_eq!(recv_token(rx.as_fd()).unwrap(), Some(0x0102_0304_0506_0708));
        drop(tx);
        assert_eq!(recv_token(rx.as_fd()).unwrap(), None);
    }
}
