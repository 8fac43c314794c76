//! `matmul/<threads|processes>/<n_workers>`: C = A x B, the rows of C split over k workers,
//! threads (shared memory) or forked processes (a shared anonymous mapping).
//!
//! ```text
//!   [next row counter] --claim 8 rows--> worker 1..k --> rows of C
//!   (threads: the process's heap; processes: A, B, C and the counter in a shared mapping)
//! ```
//!
//! One iteration = one N x N multiply (worker creation included: a real split pays it too),
//! checked against a reference outside the timed region. Workers claim blocks of
//! [`MATMUL_BLOCK_ROWS`] rows from a shared atomic counter, so a core shared with another
//! tenant does not hold the rest up.
//!
//! Not measured: cache blocking or SIMD tuning (a plain i-k-j loop; the point is the split, not
//! the kernel).

use crate::blocks::Outcome;
use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Who computes the rows; `name()` is the bench function ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Threads,
    Processes,
}

impl Split {
    pub const ALL: [Split; 2] = [Split::Threads, Split::Processes];

    pub fn name(self) -> &'static str {
        match self {
            Split::Threads => "threads",
            Split::Processes => "processes",
        }
    }
}

/// Rows `rows` of C = A x B (all n x n, row-major) into `c_rows` (i-k-j order: streams B's
/// rows). Allocation-free: it also runs in forked children.
pub fn multiply_rows(
    a: &[f64],
    b: &[f64],
    c_rows: &mut [f64],
    rows: std::ops::Range<usize>,
    n: usize,
) {
    for (out, i) in c_rows.chunks_exact_mut(n).zip(rows) {
        out.fill(0.0);
        for k in 0..n {
            let aik = a[i * n + k];
            let b_row = &b[k * n..(k + 1) * n];
            for (o, &bkj) in out.iter_mut().zip(b_row) {
                *o += aik * bkj;
            }
        }
    }
}

/// Rows per block handed out: small enough to balance over a core that another tenant
/// shares (a static equal split waits for the slowest core), large enough that the shared
/// counter is touched rarely.
pub const MATMUL_BLOCK_ROWS: usize = 8;

/// A multiply to repeat: deterministic inputs, the reference product, and the shared
/// mapping the process split works in (A, B, C back to back).
pub struct MatmulJob {
    pub n: usize,
    a: Vec<f64>,
    b: Vec<f64>,
    reference: Vec<f64>,
    shm: crate::sys::shm::SharedF64s,
    next_row: crate::sys::shm::SharedCounter,
}

impl MatmulJob {
    pub fn new(n: usize) -> io::Result<MatmulJob> {
        let a: Vec<f64> = (0..n * n)
            .map(|x| ((x * 7 + 3) % 17) as f64 / 8.0 - 1.0)
            .collect();
        let b: Vec<f64> = (0..n * n)
            .map(|x| ((x * 5 + 1) % 13) as f64 / 6.0 - 1.0)
            .collect();
        // The reference: the textbook i-j-k dot products, a different loop from the workers'.
        let mut reference = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                reference[i * n + j] = (0..n).map(|k| a[i * n + k] * b[k * n + j]).sum();
            }
        }
        let mut shm = crate::sys::shm::SharedF64s::new(3 * n * n)?;
        let s = shm.as_mut_slice();
        s[..n * n].copy_from_slice(&a);
        s[n * n..2 * n * n].copy_from_slice(&b);
        Ok(MatmulJob {
            n,
            a,
            b,
            reference,
            shm,
            next_row: crate::sys::shm::SharedCounter::new()?,
        })
    }

    /// Whether `c` equals the reference (inputs are small multiples of 1/48: sums are exact up to
    /// ordering; allow a relative 1e-9).
    fn matches(&self, c: &[f64]) -> bool {
        c.len() == self.reference.len()
            && c.iter()
                .zip(&self.reference)
                .all(|(x, r)| (x - r).abs() <= 1e-9 * r.abs().max(1.0))
    }

    /// One multiply by `n_workers` that claim blocks of rows from a shared counter; returns the
    /// time and the product.
    pub fn multiply(&mut self, split: Split, n_workers: usize) -> io::Result<(Duration, Vec<f64>)> {
        let n = self.n;
        let k = n_workers.max(1);
        let next = self.next_row.get();
        next.store(0, Ordering::Relaxed);
        match split {
            Split::Threads => {
                // Each output row behind its own (never contended) lock: safe Rust's way to let
                // whichever worker claims a block write its rows; n uncontended lock operations
                // per multiply are noise against its n³ multiply-adds.
                let mut c = vec![0.0; n * n];
                let rows: Vec<std::sync::Mutex<&mut [f64]>> =
                    c.chunks_mut(n).map(std::sync::Mutex::new).collect();
                let (a, b) = (&self.a, &self.b);
                let start = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..k {
                        let rows = &rows;
                        s.spawn(move || loop {
                            let first = next.fetch_add(MATMUL_BLOCK_ROWS as u64, Ordering::Relaxed)
                                as usize;
                            if first >= n {
                                return;
                            }
                            let last = (first + MATMUL_BLOCK_ROWS).min(n);
                            for (i, row) in rows.iter().enumerate().take(last).skip(first) {
                                let mut row = row.lock().expect("row lock");
                                multiply_rows(a, b, &mut row, i..i + 1, n);
                            }
                        });
                    }
                });
                let elapsed = start.elapsed();
                drop(rows);
                Ok((elapsed, c))
            }
            Split::Processes => {
                let start = Instant::now();
                self.shm.fork_workers(k, Duration::from_secs(120), |_, s| {
                    let (ab, c) = s.split_at_mut(2 * n * n);
                    let (a, b) = ab.split_at(n * n);
                    loop {
                        let first =
                            next.fetch_add(MATMUL_BLOCK_ROWS as u64, Ordering::Relaxed) as usize;
                        if first >= n {
                            return 0;
                        }
                        let rows = first..(first + MATMUL_BLOCK_ROWS).min(n);
                        multiply_rows(a, b, &mut c[rows.start * n..rows.end * n], rows, n);
                    }
                })?;
                let elapsed = start.elapsed();
                Ok((elapsed, self.shm.as_slice()[2 * n * n..].to_vec()))
            }
        }
    }

    /// `iters` multiplies; completed = products equal to the reference (checked untimed).
    pub fn run(&mut self, split: Split, n_workers: usize, iters: u64) -> io::Result<Outcome> {
        let mut elapsed = Duration::ZERO;
        let mut completed = 0;
        for _ in 0..iters {
            if split == Split::Processes {
                // A stale product must not pass the check.
                self.shm.as_mut_slice()[2 * self.n * self.n..].fill(f64::NAN);
            }
            let (t, c) = self.multiply(split, n_workers)?;
            elapsed += t;
            completed += self.matches(&c) as u64;
        }
        Ok(Outcome { elapsed, completed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_equals_the_reference() {
        let mut job = MatmulJob::new(24).expect("job");
        for split in Split::ALL {
            for k in [1, 2, 3, 5] {
                assert_eq!(
                    job.run(split, k, 2).expect("multiply").completed,
                    2,
                    "{split:?} {k}"
                );
            }
        }
        // The check can fail: a wrong product is not counted.
        let mut c = job.reference.clone();
        c[7] += 1.0;
        assert!(!job.matches(&c));
    }
}
