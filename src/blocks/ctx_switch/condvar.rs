//! `condvar_thread`: the token sits in a slot behind a `std::sync::Mutex`; each side sets it
//! and signals the other's `Condvar`, then waits on its own.
//!
//! ```text
//!   main: lock; slot.ping = t; notify(ping_cv); wait(pong_cv) until slot.pong == t
//!   peer: lock; wait(ping_cv) until slot.ping == t; slot.pong = t; notify(pong_cv)
//! ```
//!
//! What a program written with the standard library's primitives pays: the futex hand-off
//! plus the mutex around it (std's Condvar is futex-based on Linux).

use super::peer::{gone, mismatch, spawn_peer, OnExit};
use super::{Handoff, PeerConfig};
use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

#[derive(Default)]
struct Slot {
    ping: u64,
    pong: u64,
    peer_dead: bool,
    stop: bool,
}

#[derive(Default)]
struct CondvarShared {
    slot: Mutex<Slot>,
    ping_cv: Condvar,
    pong_cv: Condvar,
}

pub(super) struct CondvarThread {
    shared: Arc<CondvarShared>,
    thread: JoinHandle<io::Result<()>>,
}

fn condvar_peer_loop(s: &CondvarShared) -> io::Result<()> {
    let mut expected = 1u64;
    let mut slot = s.slot.lock().map_err(|_| gone("poisoned"))?;
    loop {
        while slot.ping == expected - 1 && !slot.stop {
            slot = s.ping_cv.wait(slot).map_err(|_| gone("poisoned"))?;
        }
        if slot.stop {
            return Ok(());
        }
        if slot.ping != expected {
            return Err(mismatch(expected, slot.ping));
        }
        slot.pong = expected;
        s.pong_cv.notify_one();
        expected += 1;
    }
}

impl Handoff for CondvarThread {
    fn start(config: PeerConfig) -> io::Result<Self> {
        let shared = Arc::new(CondvarShared::default());
        let s = Arc::clone(&shared);
        let thread = spawn_peer("condvar-peer", config.peer_cpu, move || {
            let _dead = OnExit(|| {
                // Also after a panic that poisoned the lock: the mark must be left.
                s.slot.lock().unwrap_or_else(|e| e.into_inner()).peer_dead = true;
                s.pong_cv.notify_one();
            });
            condvar_peer_loop(&s)
        })?;
        Ok(CondvarThread { shared, thread })
    }

    #[inline]
    fn round_trip(&mut self, t: u64) -> io::Result<()> {
        let shared = &self.shared;
        let mut slot = shared.slot.lock().map_err(|_| gone("poisoned"))?;
        slot.ping = t;
        shared.ping_cv.notify_one();
        while slot.pong != t && !slot.peer_dead {
            slot = shared.pong_cv.wait(slot).map_err(|_| gone("poisoned"))?;
        }
        if slot.pong != t {
            return Err(gone("condvar peer exited"));
        }
        Ok(())
    }

    fn stop(self: Box<Self>) {
        self.shared
            .slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stop = true;
        self.shared.ping_cv.notify_one();
        let _ = self.thread.join();
    }
}
