//! `futex_thread`: the token is a 32-bit word; each side stores it, `FUTEX_WAKE`s the other
//! and `FUTEX_WAIT`s on its own word: the cheapest blocking hand-off the kernel offers.
//!
//! ```text
//!   main: ping = t; wake(ping) ─────> peer: wait(ping) until ping == t
//!   main: wait(pong) until == t <──── peer: pong = t; wake(pong)
//! ```
//!
//! No descriptors, no copy: against `pipe_thread` it shows what the pipe's system calls add
//! to the switch itself.

use super::peer::{gone, mismatch, spawn_peer, OnExit};
use super::{Handoff, PeerConfig};
use crate::sys::futex;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Marks the peer as gone: set on every exit of its body (return or panic).
const DEAD_U32: u32 = u32::MAX;
const STOP_U32: u32 = u32::MAX - 1;

struct FutexWords {
    ping: AtomicU32,
    pong: AtomicU32,
}

pub(super) struct FutexThread {
    words: Arc<FutexWords>,
    thread: JoinHandle<io::Result<()>>,
}

/// Futex words carry 32-bit tokens below the DEAD/STOP markers.
fn futex_token(t: u64) -> u32 {
    (t % u64::from(STOP_U32 - 1)) as u32 + 1
}

fn futex_peer_loop(w: &FutexWords) -> io::Result<()> {
    let mut n = 1u64;
    loop {
        let expected = futex_token(n);
        let previous = if n == 1 { 0 } else { futex_token(n - 1) };
        loop {
            let v = w.ping.load(Ordering::Acquire);
            if v == expected {
                break;
            }
            if v == STOP_U32 {
                return Ok(());
            }
            if v != previous {
                return Err(mismatch(u64::from(expected), u64::from(v)));
            }
            futex::wait(&w.ping, v)?;
        }
        w.pong.store(expected, Ordering::Release);
        futex::wake(&w.pong, 1)?;
        n += 1;
    }
}

impl Handoff for FutexThread {
    fn start(config: PeerConfig) -> io::Result<Self> {
        let words = Arc::new(FutexWords {
            ping: AtomicU32::new(0),
            pong: AtomicU32::new(0),
        });
        let w = Arc::clone(&words);
        let thread = spawn_peer("futex-peer", config.peer_cpu, move || {
            let _dead = OnExit(|| {
                w.pong.store(DEAD_U32, Ordering::Release);
                let _ = futex::wake(&w.pong, 1);
            });
            futex_peer_loop(&w)
        })?;
        Ok(FutexThread { words, thread })
    }

    #[inline]
    fn round_trip(&mut self, t: u64) -> io::Result<()> {
        let words = &self.words;
        let t = futex_token(t);
        words.ping.store(t, Ordering::Release);
        futex::wake(&words.ping, 1)?;
        loop {
            let v = words.pong.load(Ordering::Acquire);
            if v == t {
                break;
            }
            if v == DEAD_U32 {
                return Err(gone("futex peer exited"));
            }
            futex::wait(&words.pong, v)?;
        }
        Ok(())
    }

    fn stop(self: Box<Self>) {
        self.words.ping.store(STOP_U32, Ordering::Release);
        let _ = futex::wake(&self.words.ping, 1);
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_stay_below_the_markers_and_never_zero() {
        for t in [
            1,
            2,
            u64::from(STOP_U32) - 2,
            u64::from(STOP_U32) - 1,
            u64::MAX,
        ] {
            let w = futex_token(t);
            assert!(w != 0 && w < STOP_U32, "{t} -> {w}");
        }
        assert_ne!(futex_token(1), futex_token(2));
    }
}
