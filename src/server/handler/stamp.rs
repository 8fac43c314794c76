//! [`Stamp`]: the coarse monotonic clock the connection timeouts run on.
//!
//! A connection notes the time at every change of what it waits for (several times per
//! request), and the timeouts it serves are seconds long. `CLOCK_MONOTONIC_COARSE` is read
//! from the vDSO without the TSC: 8 ns a read on this suite's 2-vCPU VM against 44–60 ns
//! for `Instant::now` (`CLOCK_MONOTONIC`), at a resolution of one scheduler tick (≤ 4 ms).

use nix::time::{clock_gettime, ClockId};
use std::time::Duration;

/// A point on the coarse monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(Duration);

impl Stamp {
    pub fn now() -> Stamp {
        // The clock exists on every Linux since 2.6.32; should it fail, time stands still
        // and no connection times out (rather than every one at once).
        Stamp(
            clock_gettime(ClockId::CLOCK_MONOTONIC_COARSE)
                .map(Duration::from)
                .unwrap_or_default(),
        )
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Stamp) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl std::ops::Add<Duration> for Stamp {
    type Output = Stamp;
    fn add(self, d: Duration) -> Stamp {
        Stamp(self.0 + d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_advances_with_the_fine_one() {
        let (a, fine) = (Stamp::now(), std::time::Instant::now());
        std::thread::sleep(Duration::from_millis(30));
        let waited = Stamp::now().since(a);
        // One tick of resolution either side (HZ ≥ 100: at most 10 ms).
        assert!(
            waited + Duration::from_millis(10) >= fine.elapsed().min(Duration::from_millis(30))
        );
        assert!(
            waited <= fine.elapsed() + Duration::from_millis(10),
            "{waited:?}"
        );
        assert_eq!(a.since(a + Duration::from_secs(1)), Duration::ZERO);
    }
}
