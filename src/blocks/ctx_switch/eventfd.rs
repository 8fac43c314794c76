//! `eventfd_thread`: the token is added to an eventfd counter; a read returns it and resets
//! the counter to zero, blocking while it is zero.
//!
//! ```text
//!   main: write(ping, t) ─────> peer: read(ping) == t
//!   main: read(pong) == t <──── peer: write(pong, t)
//! ```
//!
//! One descriptor per direction and 8 bytes per call, like a pipe, but no buffer: between
//! `futex_thread` and `pipe_thread` in what the kernel does per hand-off.

use super::peer::{gone, mismatch, spawn_peer, OnExit};
use super::{Handoff, PeerConfig};
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Markers: far above any token, below the counter's maximum.
const EFD_DEAD: u64 = 1 << 62;
const EFD_STOP: u64 = 1 << 61;

pub(super) struct EventfdThread {
    ping: Arc<EventFd>,
    pong: Arc<EventFd>,
    thread: JoinHandle<io::Result<()>>,
}

impl Handoff for EventfdThread {
    fn start(config: PeerConfig) -> io::Result<Self> {
        let ping = Arc::new(EventFd::from_flags(EfdFlags::EFD_CLOEXEC)?);
        let pong = Arc::new(EventFd::from_flags(EfdFlags::EFD_CLOEXEC)?);
        let (pi, po) = (Arc::clone(&ping), Arc::clone(&pong));
        let thread = spawn_peer("eventfd-peer", config.peer_cpu, move || {
            let _dead = OnExit(|| {
                let _ = po.write(EFD_DEAD);
            });
            let mut expected = 1u64;
            loop {
                let token = pi.read()?;
                if token == EFD_STOP {
                    return Ok(());
                }
                if token != expected {
                    return Err(mismatch(expected, token));
                }
                po.write(token)?;
                expected += 1;
            }
        })?;
        Ok(EventfdThread { ping, pong, thread })
    }

    #[inline]
    fn round_trip(&mut self, t: u64) -> io::Result<()> {
        self.ping.write(t)?;
        let got = self.pong.read()?;
        if got >= EFD_DEAD {
            return Err(gone("eventfd peer exited"));
        }
        if got != t {
            return Err(mismatch(t, got));
        }
        Ok(())
    }

    fn stop(self: Box<Self>) {
        let _ = self.ping.write(EFD_STOP);
        let _ = self.thread.join();
    }
}
