//! The lecture's threading-model exercises, run for real, one file each:
//!
//! - [`toyshop`](mod@toyshop) (`models_toyshop`): boss-worker vs pipeline, 6 workers, 11
//!   orders;
//! - [`latency_hiding`](mod@latency_hiding) (`latency_hiding`): run-to-completion vs a pool
//!   that switches while a request waits, on one core, and the crossover against
//!   2 · t_ctx_switch;
//! - [`matmul`](mod@matmul) (`matmul`): a matrix multiply split over threads or processes.
//!
//! Each file's doc draws its threads, states its metric (one iteration = one shop run, one
//! request, one multiply) and what it does not measure. This module holds the work primitives
//! they share (spinning to a deadline, calibrated CPU work, tight timer slack) and re-exports
//! their items, so `blocks::models::{toyshop, crossover, MatmulJob, ...}` name them directly.

pub mod latency_hiding;
pub mod matmul;
pub mod toyshop;

pub use latency_hiding::{crossover, ctx_switch_same_core, latency_hiding, Serving, POOL_THREADS};
pub use matmul::{multiply_rows, MatmulJob, Split, MATMUL_BLOCK_ROWS};
pub use toyshop::{
    toyshop, toyshop_runs, ShopModel, ToyshopRun, WorkMode, ORDER_UNITS, SPIN_TAIL, TOYSHOP_ORDERS,
    TOYSHOP_WORKERS,
};

use std::time::{Duration, Instant};

/// Spins until `deadline` (the `spin_loop` hint keeps a sibling hyperthread happy).
pub fn spin_until(deadline: Instant) {
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
}

/// A fixed amount of CPU work: `rounds` steps of an xorshift the optimiser cannot drop.
/// Unlike [`spin_until`], preemption stretches it: the work still has to be done.
pub fn cpu_work(rounds: u64) -> u64 {
    let mut x = std::hint::black_box(0x9E37_79B9_7F4A_7C15u64);
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    std::hint::black_box(x)
}

/// Rounds of [`cpu_work`] per µs on this machine: the fastest of several 2 ms trials (the
/// least disturbed by other tenants), measured once per process.
pub fn cpu_rounds_per_us() -> f64 {
    static RATE: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *RATE.get_or_init(|| {
        let rounds = 20_000;
        let mut best = f64::MAX;
        let deadline = Instant::now() + Duration::from_millis(20);
        while Instant::now() < deadline {
            let start = Instant::now();
            cpu_work(rounds);
            best = best.min(start.elapsed().as_secs_f64() * 1e6);
        }
        rounds as f64 / best.max(1e-3)
    })
}

/// A short sleep means what it says only with a tiny timer slack (the default 50 µs would
/// round every wait up). Per thread; failure only costs precision.
fn tight_timer_slack() {
    let _ = nix::sys::prctl::set_timerslack(1);
}
