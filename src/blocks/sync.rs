//! Synchronising work: mutex vs spinlock vs lock-free, false sharing, and boss-worker queues.
//!
//! ```text
//!   bench thread                 worker pool (n threads, pinned round-robin, started once)
//!     install job ----------->   start barrier  (all n released together)
//!     t0                           worker i: its share of the iterations
//!                                    lock; counter += 1; spin cs_ns; unlock     (sync_threads)
//!                                    counters[i] += 1                           (false sharing)
//!                                    producer push / consumers pop + sum        (sync_queue)
//!     t1  <------------------   end barrier
//!     check count / checksum
//! ```
//!
//! Metric: wall time of a batch divided by its units — **one protected increment summed
//! over all threads** (`sync_threads`, `sync_critical_section`), **one per-thread increment**
//! (`sync_false_sharing`), **one job produced and consumed** (`sync_queue`). The pool is
//! started once per benchmark and reused across samples; each batch is released by a start
//! barrier and timed until the end barrier (the barrier hand-off is in the time, negligible
//! against the thousands of units of a batch). Every batch asserts the final count (or the
//! checksum of consumed jobs) so a broken lock cannot look fast.
//!
//! - `sync_threads/<function>/<n_threads>`: n threads (past the core count on purpose) share
//!   ONE counter. Locks (`std_mutex`, `parking_lot_mutex`, `spinlock_ttas`,
//!   `spinlock_backoff`) hold the lock for `cs_ns` of calibrated spin work plus the
//!   increment. The spinlocks guard an `AtomicU64` updated by a plain load + store
//!   (not an atomic RMW), so mutual exclusion is what keeps the count right.
//!   `atomic_fetch_add` does the work, then one `fetch_add`; `atomic_cas_loop` loads, does
//!   the work, then `compare_exchange`, redoing the work on failure (optimistic update).
//! - `sync_critical_section/<function>/<ns>`: 2 × cores threads (oversubscribed), the lock
//!   variants only, sweeping `cs_ns`: a preempted spinlock holder makes every spinner burn
//!   its time slice, where a mutex sleeps.
//! - `sync_false_sharing/<padded|packed>/<n_threads>`: each thread increments its OWN
//!   counter: `CachePadded` (128 B on x86-64, because the adjacent-line prefetcher pulls
//!   pairs of 64 B lines) vs packed 8 B apart in one line.
//! - `sync_queue/<function>/<n_consumers>`: one producer, n consumers, u64 jobs 1..=iters
//!   through a queue bounded at [`QUEUE_CAP`]: `mutex_condvar` (`Mutex<VecDeque>` + two
//!   Condvars), `std_mpsc` (one `sync_channel` shared by all consumers behind a Mutex around
//!   the Receiver — std's receiver is single-consumer), `crossbeam` (crossbeam-channel's
//!   bounded MPMC channel). The producer sends n zero jobs to stop the consumers.
//!
//! Not measured: fairness, lock hand-off latency distribution, NUMA, reader-writer locks.

use super::Outcome;
use crossbeam_utils::{Backoff, CachePadded};
use std::collections::VecDeque;
use std::hint::black_box;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Capacity of every `sync_queue` variant: a bounded hand-off, as a real boss-worker pool.
pub const QUEUE_CAP: usize = 1024;

/// How one shared counter is protected; `name()` is the bench function ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncFn {
    StdMutex,
    ParkingLotMutex,
    SpinlockTtas,
    SpinlockBackoff,
    AtomicFetchAdd,
    AtomicCasLoop,
}

impl SyncFn {
    pub const ALL: [SyncFn; 6] = [
        SyncFn::StdMutex,
        SyncFn::ParkingLotMutex,
        SyncFn::SpinlockTtas,
        SyncFn::SpinlockBackoff,
        SyncFn::AtomicFetchAdd,
        SyncFn::AtomicCasLoop,
    ];
    /// The variants with a critical section (swept by `sync_critical_section`).
    pub const LOCKS: [SyncFn; 4] = [
        SyncFn::StdMutex,
        SyncFn::ParkingLotMutex,
        SyncFn::SpinlockTtas,
        SyncFn::SpinlockBackoff,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SyncFn::StdMutex => "std_mutex",
            SyncFn::ParkingLotMutex => "parking_lot_mutex",
            SyncFn::SpinlockTtas => "spinlock_ttas",
            SyncFn::SpinlockBackoff => "spinlock_backoff",
            SyncFn::AtomicFetchAdd => "atomic_fetch_add",
            SyncFn::AtomicCasLoop => "atomic_cas_loop",
        }
    }
}

/// Per-thread counter layout of `sync_false_sharing`; `name()` is the bench function ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Padded,
    Packed,
}

impl Layout {
    pub const ALL: [Layout; 2] = [Layout::Padded, Layout::Packed];

    pub fn name(self) -> &'static str {
        match self {
            Layout::Padded => "padded",
            Layout::Packed => "packed",
        }
    }
}

/// A boss-worker queue; `name()` is the bench function ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueFn {
    MutexCondvar,
    StdMpsc,
    Crossbeam,
}

impl QueueFn {
    pub const ALL: [QueueFn; 3] = [QueueFn::MutexCondvar, QueueFn::StdMpsc, QueueFn::Crossbeam];

    pub fn name(self) -> &'static str {
        match self {
            QueueFn::MutexCondvar => "mutex_condvar",
            QueueFn::StdMpsc => "std_mpsc",
            QueueFn::Crossbeam => "crossbeam",
        }
    }
}

// ---------------------------------------------------------------- calibrated spin work

/// Nanoseconds per unit of [`spin_units`], measured once per process.
fn ns_per_unit() -> f64 {
    static NS: OnceLock<f64> = OnceLock::new();
    *NS.get_or_init(|| {
        const UNITS: u64 = 200_000;
        (0..5)
            .map(|_| {
                let t = Instant::now();
                spin_units(UNITS);
                t.elapsed().as_nanos() as f64 / UNITS as f64
            })
            .fold(f64::INFINITY, f64::min)
            .max(0.01)
    })
}

/// A fixed amount of CPU work that the optimiser cannot remove.
#[inline]
fn spin_units(units: u64) {
    let mut x = 0u64;
    for i in 0..units {
        x = black_box(x.wrapping_add(i));
    }
    black_box(x);
}

/// Spin units that take about `ns` on this machine (0 for 0).
pub fn units_for_ns(ns: u64) -> u64 {
    if ns == 0 {
        0
    } else {
        ((ns as f64 / ns_per_unit()).round() as u64).max(1)
    }
}

// ---------------------------------------------------------------- the worker pool

type Job = Arc<dyn Fn(usize) + Send + Sync>;

struct PoolShared {
    start: Barrier,
    end: Barrier,
    job: Mutex<Option<Job>>,
    stop: AtomicBool,
    /// Set when a worker's job panicked: the batch reports an error instead of a time.
    failed: AtomicBool,
}

/// n threads pinned round-robin over `cpus`, started once; each batch runs one job on all.
pub struct WorkerPool {
    shared: Arc<PoolShared>,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts `n_threads` workers, worker i pinned to `cpus[i % len]` (unpinned if empty).
    pub fn start(n_threads: usize, cpus: &[usize]) -> io::Result<WorkerPool> {
        assert!(n_threads > 0, "a pool needs a thread");
        // Workers are spawned first and handed the shared state only once all exist, so a
        // failed spawn can release the ones already started (None) and join them.
        let mut threads = Vec::with_capacity(n_threads);
        let mut handoff = Vec::with_capacity(n_threads);
        for idx in 0..n_threads {
            let (tx, rx) = mpsc::channel::<Option<Arc<PoolShared>>>();
            let cpu = (!cpus.is_empty()).then(|| cpus[idx % cpus.len()]);
            let spawned = std::thread::Builder::new()
                .name(format!("sync-worker-{idx}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        // Round-robin pinning; a failure leaves the worker unpinned.
                        let _ = crate::pin::pin_current_thread_to_set(&[cpu]);
                    }
                    let Ok(Some(shared)) = rx.recv() else { return };
                    loop {
                        shared.start.wait();
                        if shared.stop.load(Ordering::Acquire) {
                            return;
                        }
                        let job = shared.job.lock().unwrap_or_else(|e| e.into_inner()).clone();
                        if let Some(job) = job {
                            // Still reach the end barrier after a panic, so the bench
                            // thread is not left waiting forever.
                            let run = std::panic::AssertUnwindSafe(|| job(idx));
                            if std::panic::catch_unwind(run).is_err() {
                                shared.failed.store(true, Ordering::Release);
                            }
                        }
                        shared.end.wait();
                    }
                });
            match spawned {
                Ok(h) => {
                    threads.push(h);
                    handoff.push(tx);
                }
                Err(e) => {
                    for tx in handoff {
                        let _ = tx.send(None);
                    }
                    for t in threads {
                        let _ = t.join();
                    }
                    return Err(e);
                }
            }
        }
        let shared = Arc::new(PoolShared {
            start: Barrier::new(n_threads + 1),
            end: Barrier::new(n_threads + 1),
            job: Mutex::new(None),
            stop: AtomicBool::new(false),
            failed: AtomicBool::new(false),
        });
        for tx in handoff {
            tx.send(Some(shared.clone()))
                .map_err(|_| io::Error::other("a sync worker exited before its start"))?;
        }
        Ok(WorkerPool { shared, threads })
    }

    pub fn n_threads(&self) -> usize {
        self.threads.len()
    }

    /// Runs `job(worker_idx)` on every worker at once; returns the wall time from the
    /// release of the start barrier to the last worker's arrival at the end barrier.
    fn batch(&self, job: Job) -> io::Result<Duration> {
        *self.shared.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(job);
        let t0 = Instant::now();
        self.shared.start.wait();
        self.shared.end.wait();
        let elapsed = t0.elapsed();
        *self.shared.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if self.shared.failed.swap(false, Ordering::AcqRel) {
            return Err(io::Error::other("a sync worker panicked during the batch"));
        }
        Ok(elapsed)
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.start.wait();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Worker `idx`'s share of `total` units split over `n` workers.
pub fn share(total: u64, n: usize, idx: usize) -> u64 {
    let n = n as u64;
    total / n + u64::from((idx as u64) < total % n)
}

// ---------------------------------------------------------------- one shared counter

/// Test-and-test-and-set lock word: spin on a plain load (the line stays shared in every
/// cache) and only try the swap when it looks free.
struct SpinLock {
    locked: AtomicBool,
}

impl SpinLock {
    fn lock_ttas(&self) {
        loop {
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
            while self.locked.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        }
    }

    fn lock_backoff(&self) {
        let backoff = Backoff::new();
        loop {
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
            while self.locked.load(Ordering::Relaxed) {
                // spin_loop hints, doubling, then yield_now once past the spin limit.
                backoff.snooze();
            }
        }
    }

    fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

struct Counter {
    std: Mutex<u64>,
    pl: parking_lot::Mutex<u64>,
    spin: SpinLock,
    /// Guarded by `spin` (plain load + store) or updated atomically by the atomic variants.
    value: CachePadded<AtomicU64>,
}

/// Runs `iters` protected increments of one counter with `f`, shared over the pool's
/// threads, each holding the lock for `cs_units` of spin work. Checks the final count.
pub fn shared_counter(pool: &WorkerPool, f: SyncFn, iters: u64, cs_ns: u64) -> io::Result<Outcome> {
    let units = units_for_ns(cs_ns);
    let n = pool.n_threads();
    let counter = Arc::new(Counter {
        std: Mutex::new(0),
        pl: parking_lot::Mutex::new(0),
        spin: SpinLock {
            locked: AtomicBool::new(false),
        },
        value: CachePadded::new(AtomicU64::new(0)),
    });
    let c = counter.clone();
    let elapsed = pool.batch(Arc::new(move |idx| {
        let mine = share(iters, n, idx);
        for _ in 0..mine {
            increment(&c, f, units);
        }
    }))?;
    let total = match f {
        SyncFn::StdMutex => *counter.std.lock().unwrap_or_else(|e| e.into_inner()),
        SyncFn::ParkingLotMutex => *counter.pl.lock(),
        _ => counter.value.load(Ordering::Acquire),
    };
    Ok(Outcome {
        elapsed,
        completed: total,
    })
}

#[inline]
fn increment(c: &Counter, f: SyncFn, units: u64) {
    match f {
        SyncFn::StdMutex => {
            let mut g = c.std.lock().unwrap_or_else(|e| e.into_inner());
            spin_units(units);
            *g += 1;
        }
        SyncFn::ParkingLotMutex => {
            let mut g = c.pl.lock();
            spin_units(units);
            *g += 1;
        }
        SyncFn::SpinlockTtas | SyncFn::SpinlockBackoff => {
            if f == SyncFn::SpinlockTtas {
                c.spin.lock_ttas();
            } else {
                c.spin.lock_backoff();
            }
            spin_units(units);
            // Not an atomic RMW: only the lock makes this increment safe.
            let v = c.value.load(Ordering::Relaxed);
            c.value.store(v + 1, Ordering::Relaxed);
            c.spin.unlock();
        }
        SyncFn::AtomicFetchAdd => {
            spin_units(units);
            c.value.fetch_add(1, Ordering::AcqRel);
        }
        SyncFn::AtomicCasLoop => {
            let mut cur = c.value.load(Ordering::Relaxed);
            loop {
                // The "critical section" of an optimistic update: redone when the CAS fails.
                spin_units(units);
                match c.value.compare_exchange_weak(
                    cur,
                    cur + 1,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => cur = now,
                }
            }
        }
    }
}

// ---------------------------------------------------------------- false sharing

/// Up to 16 counters packed 8 B apart, the array aligned to 128 B so that 8 of them share
/// one 64 B line (and 16 one adjacent-line pair).
#[repr(align(128))]
struct Packed([AtomicU64; 16]);

/// Most threads `sync_false_sharing` supports with the packed layout.
pub const MAX_FALSE_SHARING_THREADS: usize = 16;

/// `iters` increments, each thread of the pool on its own counter laid out by `layout`.
pub fn false_sharing(pool: &WorkerPool, layout: Layout, iters: u64) -> io::Result<Outcome> {
    let n = pool.n_threads();
    if n > MAX_FALSE_SHARING_THREADS {
        return Err(io::Error::other(format!(
            "false sharing supports up to {MAX_FALSE_SHARING_THREADS} threads, got {n}"
        )));
    }
    let padded: Arc<Vec<CachePadded<AtomicU64>>> = Arc::new(
        (0..n)
            .map(|_| CachePadded::new(AtomicU64::new(0)))
            .collect(),
    );
    let packed = Arc::new(Packed(std::array::from_fn(|_| AtomicU64::new(0))));
    let (pa, pk) = (padded.clone(), packed.clone());
    let elapsed = pool.batch(Arc::new(move |idx| {
        let c: &AtomicU64 = match layout {
            Layout::Padded => &pa[idx],
            Layout::Packed => &pk.0[idx],
        };
        for _ in 0..share(iters, n, idx) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }))?;
    let completed = match layout {
        Layout::Padded => padded.iter().map(|c| c.load(Ordering::Acquire)).sum(),
        Layout::Packed => packed.0.iter().map(|c| c.load(Ordering::Acquire)).sum(),
    };
    Ok(Outcome { elapsed, completed })
}

// ---------------------------------------------------------------- boss-worker queues

/// `Mutex<VecDeque>` bounded at [`QUEUE_CAP`] with `not_empty` / `not_full` condvars.
struct CondvarQueue {
    q: Mutex<VecDeque<u64>>,
    not_empty: Condvar,
    not_full: Condvar,
}

impl CondvarQueue {
    fn push(&self, job: u64) {
        let mut q = self.q.lock().unwrap_or_else(|e| e.into_inner());
        while q.len() >= QUEUE_CAP {
            q = self.not_full.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        q.push_back(job);
        drop(q);
        self.not_empty.notify_one();
    }

    fn pop(&self) -> u64 {
        let mut q = self.q.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = q.pop_front() {
                drop(q);
                self.not_full.notify_one();
                return job;
            }
            q = self.not_empty.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// One producer (worker 0) and `pool.n_threads() - 1` consumers pass jobs 1..=iters through
/// `f`; `completed` is the number of jobs consumed, checked against their checksum.
pub fn queue(pool: &WorkerPool, f: QueueFn, iters: u64) -> io::Result<Outcome> {
    let n_consumers = pool.n_threads() - 1;
    if n_consumers == 0 {
        return Err(io::Error::other(
            "sync_queue needs a producer and a consumer",
        ));
    }
    let consumed = Arc::new(AtomicU64::new(0));
    let checksum = Arc::new(AtomicU64::new(0));
    // A zero job stops one consumer; real jobs are 1..=iters.
    let produce = move |send: &dyn Fn(u64)| {
        for job in 1..=iters {
            send(job);
        }
        for _ in 0..n_consumers {
            send(0);
        }
    };
    let consume = {
        let (consumed, checksum) = (consumed.clone(), checksum.clone());
        move |recv: &dyn Fn() -> u64| {
            let (mut count, mut sum) = (0u64, 0u64);
            loop {
                let job = recv();
                if job == 0 {
                    break;
                }
                count += 1;
                sum = sum.wrapping_add(job);
            }
            consumed.fetch_add(count, Ordering::AcqRel);
            checksum.fetch_add(sum, Ordering::AcqRel);
        }
    };
    let job: Job = match f {
        QueueFn::MutexCondvar => {
            let q = Arc::new(CondvarQueue {
                q: Mutex::new(VecDeque::with_capacity(QUEUE_CAP)),
                not_empty: Condvar::new(),
                not_full: Condvar::new(),
            });
            Arc::new(move |idx| {
                if idx == 0 {
                    produce(&|j| q.push(j));
                } else {
                    consume(&|| q.pop());
                }
            })
        }
        QueueFn::StdMpsc => {
            let (tx, rx) = mpsc::sync_channel::<u64>(QUEUE_CAP);
            // std's Receiver is single-consumer: the consumers share it behind a mutex.
            let rx = Arc::new(Mutex::new(rx));
            let tx = Mutex::new(Some(tx));
            Arc::new(move |idx| {
                if idx == 0 {
                    let tx = tx.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(tx) = tx {
                        produce(&|j| tx.send(j).expect("consumers alive"));
                    }
                } else {
                    consume(&|| {
                        rx.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .recv()
                            .unwrap_or(0)
                    });
                }
            })
        }
        QueueFn::Crossbeam => {
            let (tx, rx) = crossbeam_channel::bounded::<u64>(QUEUE_CAP);
            Arc::new(move |idx| {
                if idx == 0 {
                    produce(&|j| tx.send(j).expect("consumers alive"));
                } else {
                    consume(&|| rx.recv().unwrap_or(0));
                }
            })
        }
    };
    let elapsed = pool.batch(job)?;
    let completed = consumed.load(Ordering::Acquire);
    let expected_sum = iters.wrapping_mul(iters.wrapping_add(1)) / 2;
    let sum = checksum.load(Ordering::Acquire);
    if completed == iters && sum != expected_sum {
        return Err(io::Error::other(format!(
            "{}: consumed {completed} jobs with checksum {sum}, expected {expected_sum}",
            f.name()
        )));
    }
    Ok(Outcome { elapsed, completed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpus() -> Vec<usize> {
        crate::sys::cpu::allowed_cpus().expect("allowed CPUs")
    }

    #[test]
    fn shares_add_up() {
        for (total, n) in [(10, 3), (0, 4), (7, 7), (1_000_003, 8)] {
            assert_eq!((0..n).map(|i| share(total, n, i)).sum::<u64>(), total);
        }
    }

    #[test]
    fn every_counter_variant_counts_exactly() {
        for n in [1, 3, 4] {
            let pool = WorkerPool::start(n, &cpus()).expect("pool");
            for f in SyncFn::ALL {
                for cs_ns in [0, 50] {
                    let out = shared_counter(&pool, f, 10_007, cs_ns).expect("count");
                    assert_eq!(out.completed, 10_007, "{} n={n} cs={cs_ns}", f.name());
                }
            }
        }
    }

    #[test]
    fn false_sharing_layouts_count_exactly() {
        let pool = WorkerPool::start(3, &cpus()).expect("pool");
        for layout in Layout::ALL {
            let out = false_sharing(&pool, layout, 30_001).expect("increments");
            assert_eq!(out.completed, 30_001, "{}", layout.name());
        }
    }

    #[test]
    fn every_queue_delivers_every_job_once() {
        for n_consumers in [1, 3] {
            let pool = WorkerPool::start(n_consumers + 1, &cpus()).expect("pool");
            for f in QueueFn::ALL {
                for iters in [1, 5_000] {
                    let out = queue(&pool, f, iters).expect("hand-off");
                    assert_eq!(out.completed, iters, "{} consumers={n_consumers}", f.name());
                }
            }
        }
    }

    #[test]
    fn a_panicking_job_is_an_error_not_a_hang() {
        let pool = WorkerPool::start(2, &[]).expect("pool");
        let err = pool
            .batch(Arc::new(|idx| {
                assert_ne!(idx, 1, "worker 1 fails on purpose")
            }))
            .unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
        // The pool is still usable afterwards.
        let out = shared_counter(&pool, SyncFn::StdMutex, 100, 0).expect("count");
        assert_eq!(out.completed, 100);
    }

    #[test]
    fn spin_work_scales() {
        assert_eq!(units_for_ns(0), 0);
        assert!(units_for_ns(10_000) > units_for_ns(100));
    }
}
