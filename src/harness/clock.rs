//! What a sample's time is: wall time or the bench process's CPU time, chosen per group by the
//! profile (`[groups.<g>] measurement`, [`Clock`]); and the injected-slowdown hook the
//! regression trials use.
//!
//! [`Clock`] is a criterion [`Measurement`] (value: a `Duration`, printed like wall time), so
//! `Criterion::default().with_measurement(Clock::Cpu)` times `b.iter` benchmarks on the CPU
//! clock. The suite's benches time themselves (`iter_custom`: the workload returns its own
//! elapsed time), and one criterion instance serves every group of a bench binary, so the
//! per-group choice is made by [`Timer::time`], which wraps each `iter_custom` routine with the
//! same `start`/`end`: wall time is the workload's own window, CPU time is the process CPU
//! time across the whole call (the workload's few set-up steps outside its window included).
//!
//! `THREADBENCH_INJECT_SLOWDOWN="<id>=<fraction>[,<id>=<fraction>…]"` makes the named
//! benchmarks slower by that fraction: after each sample's work the bench thread spins for
//! fraction × the work's time, inside the measurement. A real, noisy slowdown of known size:
//! what `scripts/regress-trials.sh` uses to check that `threadbench regress` catches one.

use crate::profile::Clock;
use crate::sys::cpu::process_cpu_time;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The environment variable of the injected slowdown.
pub const INJECT_ENV: &str = "THREADBENCH_INJECT_SLOWDOWN";

/// A reading of a [`Clock`] at the start of a measurement.
#[derive(Debug, Clone, Copy)]
pub enum ClockStart {
    Wall(Instant),
    Cpu(Duration),
}

/// Formats like criterion's wall time: both clocks count nanoseconds.
static NANOS: WallTime = WallTime;

impl Measurement for Clock {
    type Intermediate = ClockStart;
    type Value = Duration;

    fn start(&self) -> ClockStart {
        match self {
            Clock::Wall => ClockStart::Wall(Instant::now()),
            Clock::Cpu => ClockStart::Cpu(process_cpu_time()),
        }
    }

    fn end(&self, start: ClockStart) -> Duration {
        match start {
            ClockStart::Wall(t) => t.elapsed(),
            ClockStart::Cpu(c) => process_cpu_time().saturating_sub(c),
        }
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        NANOS.formatter()
    }
}

/// How one benchmark's samples are timed: its group's clock and any injected slowdown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timer {
    pub clock: Clock,
    /// Extra time as a fraction of the work's (0: none).
    pub slowdown: f64,
}

impl Timer {
    /// Times one `iter_custom` sample: `work` runs the iterations and returns its own elapsed
    /// wall time.
    pub fn time(&self, work: impl FnOnce() -> Duration) -> Duration {
        let start = self.clock.start();
        let own = work();
        let extra = if self.slowdown > 0.0 {
            spin(own.mul_f64(self.slowdown))
        } else {
            Duration::ZERO
        };
        match self.clock {
            Clock::Wall => own + extra,
            Clock::Cpu => self.clock.end(start),
        }
    }
}

/// Busy-waits for `d` on the calling thread; returns the time it took.
fn spin(d: Duration) -> Duration {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
    t.elapsed()
}

/// Parses [`INJECT_ENV`]'s value: benchmark id → fraction (> 0, < 10).
pub fn parse_slowdowns(text: &str) -> Result<BTreeMap<String, f64>, String> {
    let mut out = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, frac) = item
            .rsplit_once('=')
            .ok_or_else(|| format!("{INJECT_ENV}: {item:?} is not <benchmark id>=<fraction>"))?;
        let frac: f64 = frac
            .parse()
            .ok()
            .filter(|f: &f64| *f > 0.0 && *f < 10.0)
            .ok_or_else(|| format!("{INJECT_ENV}: {item:?}: the fraction must be in (0, 10)"))?;
        out.insert(id.to_owned(), frac);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowdowns_parse_and_reject_bad_items() {
        let m = parse_slowdowns("spawn/thread_spawn_join=0.25, sync_threads/std_mutex/4=0.1")
            .expect("valid");
        assert_eq!(m.get("spawn/thread_spawn_join"), Some(&0.25));
        assert_eq!(m.get("sync_threads/std_mutex/4"), Some(&0.1));
        assert!(parse_slowdowns("").expect("empty").is_empty());
        for bad in ["spawn/x", "spawn/x=0", "spawn/x=abc", "spawn/x=-1"] {
            let e = parse_slowdowns(bad).unwrap_err();
            assert!(e.contains(INJECT_ENV), "{e}");
        }
    }
}
