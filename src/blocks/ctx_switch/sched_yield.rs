//! `yield_thread` (same core only): the token is an atomic word each side polls, calling
//! `sched_yield` between polls, so on one core every yield hands the CPU to the peer.
//!
//! ```text
//!   main: ping = t; yield until pong == t ──┐ one run queue: each yield
//!   peer: yield until ping == t; pong = t <─┘ switches to the other side
//! ```
//!
//! A switch without any wait queue or wake-up: the scheduler's part of a switch alone. Not a
//! switch at all on two cores (see the `ctx_switch` module doc), so it is only run same-core.
//! A side that waits longer than [`SPIN_TIMEOUT`] calls its peer dead.

use super::peer::{gone, mismatch, spawn_peer, OnExit};
use super::{Handoff, PeerConfig};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a spinning (yield) side waits for its peer before calling it dead.
const SPIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct YieldShared {
    ping: AtomicU64,
    pong: AtomicU64,
    peer_dead: AtomicBool,
    stop: AtomicBool,
}

pub(super) struct YieldThread {
    shared: Arc<YieldShared>,
    thread: JoinHandle<io::Result<()>>,
}

fn yield_peer_loop(s: &YieldShared) -> io::Result<()> {
    let mut expected = 1u64;
    loop {
        if s.stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let v = s.ping.load(Ordering::Acquire);
        if v == expected {
            s.pong.store(v, Ordering::Release);
            expected += 1;
        } else if v != expected - 1 {
            return Err(mismatch(expected, v));
        }
        nix::sched::sched_yield()?;
    }
}

impl Handoff for YieldThread {
    fn start(config: PeerConfig) -> io::Result<Self> {
        let shared = Arc::new(YieldShared::default());
        let s = Arc::clone(&shared);
        let thread = spawn_peer("yield-peer", config.peer_cpu, move || {
            let _dead = OnExit(|| s.peer_dead.store(true, Ordering::Release));
            yield_peer_loop(&s)
        })?;
        Ok(YieldThread { shared, thread })
    }

    #[inline]
    fn round_trip(&mut self, t: u64) -> io::Result<()> {
        let shared = &self.shared;
        shared.ping.store(t, Ordering::Release);
        let deadline = Instant::now() + SPIN_TIMEOUT;
        let mut spins = 0u32;
        while shared.pong.load(Ordering::Acquire) != t {
            if shared.peer_dead.load(Ordering::Acquire) {
                return Err(gone("yield peer exited"));
            }
            spins = spins.wrapping_add(1);
            if spins % 1024 == 0 && Instant::now() > deadline {
                return Err(gone("yield peer did not answer in time"));
            }
            nix::sched::sched_yield()?;
        }
        Ok(())
    }

    fn stop(self: Box<Self>) {
        self.shared.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}
