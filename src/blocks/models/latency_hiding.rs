//! `latency_hiding/<blocking|threads>/<idle_us>`: the lecture's rule that threads pay on one
//! CPU when a request waits longer than about two context switches. Each request is `c` of CPU
//! work followed by a real blocking wait of `t_idle`; everything runs on one pinned core.
//!
//! ```text
//!   blocking: [cpu c][wait t_idle][cpu c][wait t_idle] ...     one thread
//!   threads : t1 [cpu c][wait.......]  t2 [cpu c][wait...]      a pool switches on each wait
//! ```
//!
//! One iteration = one request served. [`crossover`] finds the idle time from which the pool
//! wins, to compare with 2 · t_ctx_switch ([`ctx_switch_same_core`], measured the same way on
//! the same core).
//!
//! Not measured: latency hiding with more than one core (the lecture's rule is about one CPU).

use super::{cpu_rounds_per_us, cpu_work, tight_timer_slack};
use crate::blocks::Outcome;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Run-to-completion vs a switching pool; `name()` is the bench function ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    Blocking,
    Threads,
}

impl Serving {
    pub const ALL: [Serving; 2] = [Serving::Blocking, Serving::Threads];

    pub fn name(self) -> &'static str {
        match self {
            Serving::Blocking => "blocking",
            Serving::Threads => "threads",
        }
    }
}

/// Threads in the switching pool: enough to keep the core busy while others wait at the
/// largest swept idle time relative to the CPU part would need more, but the lecture's point
/// is the switch itself; 4 hides waits up to ~3 c.
pub const POOL_THREADS: usize = 4;

/// One request: `cpu_rounds` of calibrated CPU work (not a wall-clock spin: a thread switched
/// out mid-request must still do all of its work), then a real blocking wait of `idle` (a timed
/// sleep with 1 ns timer slack: the thread leaves the run queue like one waiting on a
/// device), done.
fn serve_one(cpu_rounds: u64, idle: Duration) {
    cpu_work(cpu_rounds);
    if !idle.is_zero() {
        std::thread::sleep(idle);
    }
}

/// Serves `n_requests` on `core` (all threads pinned to it: the lecture's rule is about
/// one CPU). Completed = requests served.
pub fn latency_hiding(
    serving: Serving,
    n_requests: u64,
    cpu: Duration,
    idle: Duration,
    core: usize,
) -> io::Result<Outcome> {
    let served = Arc::new(AtomicU64::new(0));
    let n_threads = match serving {
        Serving::Blocking => 1,
        Serving::Threads => POOL_THREADS,
    };
    let barrier = Arc::new(Barrier::new(n_threads + 1));
    let next = Arc::new(AtomicU64::new(0));
    let cpu_rounds = (cpu.as_secs_f64() * 1e6 * cpu_rounds_per_us()) as u64;
    let mut handles = Vec::new();
    for _ in 0..n_threads {
        let (served, barrier, next) = (served.clone(), barrier.clone(), next.clone());
        handles.push(std::thread::Builder::new().name("latency".into()).spawn(
            move || -> io::Result<()> {
                crate::pin::pin_current_thread(core)?;
                tight_timer_slack();
                barrier.wait();
                while next.fetch_add(1, Ordering::Relaxed) < n_requests {
                    serve_one(cpu_rounds, idle);
                    served.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            },
        )?);
    }
    barrier.wait();
    let start = Instant::now();
    let mut result = Ok(());
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err(io::Error::other("latency thread panicked")),
        }
    }
    let elapsed = start.elapsed();
    result?;
    Ok(Outcome {
        elapsed,
        completed: served.load(Ordering::Relaxed),
    })
}

/// One context switch on `core`: two threads pinned there ping-pong a byte over two pipes;
/// one round trip = two switches. Returns the time per switch.
pub fn ctx_switch_same_core(core: usize, round_trips: u64) -> io::Result<Duration> {
    use std::io::{Read, Write};
    let (ping_r, ping_w) = nix::unistd::pipe()?;
    let (pong_r, pong_w) = nix::unistd::pipe()?;
    let (mut ping_r, mut ping_w) = (std::fs::File::from(ping_r), std::fs::File::from(ping_w));
    let (mut pong_r, mut pong_w) = (std::fs::File::from(pong_r), std::fs::File::from(pong_w));
    let peer =
        std::thread::Builder::new()
            .name("ctx_peer".into())
            .spawn(move || -> io::Result<()> {
                crate::pin::pin_current_thread(core)?;
                let mut b = [0u8; 1];
                for i in 0..round_trips {
                    ping_r.read_exact(&mut b)?;
                    if b[0] != i as u8 {
                        return Err(io::Error::other("ping-pong token out of order"));
                    }
                    pong_w.write_all(&b)?;
                }
                Ok(())
            })?;
    let here = std::thread::Builder::new().name("ctx_main".into()).spawn(
        move || -> io::Result<Duration> {
            crate::pin::pin_current_thread(core)?;
            let mut b = [0u8; 1];
            let start = Instant::now();
            for i in 0..round_trips {
                ping_w.write_all(&[i as u8])?;
                pong_r.read_exact(&mut b)?;
            }
            Ok(start.elapsed())
        },
    )?;
    let elapsed = here
        .join()
        .map_err(|_| io::Error::other("ping-pong thread panicked"))??;
    peer.join()
        .map_err(|_| io::Error::other("ping-pong peer panicked"))??;
    Ok(elapsed / (2 * round_trips.max(1)) as u32)
}

/// The crossover of a latency-hiding sweep: points are (idle_us, blocking ns/request,
/// threads ns/request), sorted by idle. The pool's gain at a point is blocking / threads,
/// divided by its gain at t_idle = 0 when the sweep has that point: with nothing to wait for
/// there is nothing to hide, so a gain there is the variants' baseline (on a shared core: the
/// CPU share 4 runnable threads get against other tenants, vs 1). The pool *wins* at a point
/// when its gain exceeds `1 + margin` both outright and relative to that baseline. Returns the
/// interval (last idle where the pool does not win, first idle from which it wins at every
/// larger point). `None` when the pool never wins; `(None, x)` when it wins from the
/// first nonzero point on without a losing point before it.
pub fn crossover(points: &[(u64, f64, f64)], margin: f64) -> Option<(Option<u64>, u64)> {
    let base = match points.first() {
        Some(&(0, blocking, threads)) => blocking / threads,
        _ => 1.0,
    };
    let wins = |&(idle, blocking, threads): &(u64, f64, f64)| {
        let gain = blocking / threads;
        idle > 0 && gain > 1.0 + margin && gain / base > 1.0 + margin
    };
    let first_win = (0..points.len()).find(|&i| points[i..].iter().all(wins))?;
    let below = first_win.checked_sub(1).map(|i| points[i].0);
    Some((below, points[first_win].0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_hiding_serves_every_request() {
        for serving in Serving::ALL {
            let out = latency_hiding(
                serving,
                50,
                Duration::from_micros(5),
                Duration::from_micros(20),
                0,
            )
            .expect("serve");
            assert_eq!(out.completed, 50, "{serving:?}");
        }
        assert!(ctx_switch_same_core(0, 100).expect("ping-pong") > Duration::ZERO);
    }

    #[test]
    fn crossover_finds_where_the_pool_starts_winning() {
        let pts = [
            (0, 10.0, 10.0),
            (5, 15.0, 14.9),
            (20, 30.0, 20.0),
            (50, 60.0, 20.0),
        ];
        assert_eq!(crossover(&pts, 0.05), Some((Some(5), 20)));
        assert_eq!(crossover(&pts[2..], 0.05), Some((None, 20)));
        assert_eq!(crossover(&pts[..2], 0.05), None);
        // A win that is lost again further up is no crossover.
        let flaky = [(0, 10.0, 10.0), (5, 20.0, 10.0), (10, 10.0, 12.0)];
        assert_eq!(crossover(&flaky, 0.05), None);
        // The gain at t_idle = 0 is the baseline: 2x there and 2x at 5 µs is no win yet.
        let shared = [(0, 20.0, 10.0), (5, 30.0, 15.0), (20, 60.0, 15.0)];
        assert_eq!(crossover(&shared, 0.05), Some((Some(5), 20)));
    }
}
