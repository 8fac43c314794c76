//! Workloads the focused benches time. Each is a `pub` function returning an [`Outcome`]
//! that the bench checks (so a broken variant cannot look fast) and that unit tests run too.

pub mod ctx_switch;
pub mod event_scan;
pub mod models;
pub mod spawn;
pub mod sync;

use std::time::Duration;

/// What one timed run did: how long it took and how many units it completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub elapsed: Duration,
    pub completed: u64,
}

impl Outcome {
    /// The elapsed time after checking that exactly `expected` units were done; panics
    /// otherwise (a bench must not report the time of work that did not happen).
    pub fn checked(self, expected: u64) -> Duration {
        assert_eq!(
            self.completed, expected,
            "workload completed {} of {expected} units",
            self.completed
        );
        self.elapsed
    }
}
