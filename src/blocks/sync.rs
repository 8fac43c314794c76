//! Synchronisation building blocks: what one protected increment of ONE shared counter costs
//! through a lock or an atomic as threads are added (past the core count on purpose), how the
//! critical-section length decides spinlock vs sleeping mutex, false sharing, and the
//! boss-worker hand-off through three queues.
//!
//! ```text
//!   pool (started once, pinned round-robin)    main
//!   t0 ─┐                                        │ set job
//!   t1 ─┼─ barrier ─► lock; cs work; +1; unlock ─┼─ barrier ─► read counter == iters
//!   tn ─┘                                        │
//! ```
//!
//! Metric: wall time from the start barrier to the end barrier; one iteration = one protected
//! increment (summed over threads) or, for `sync_queue`, one job produced and consumed.
//! Not measured: thread creation (the pool is reused), fairness, memory-ordering costs of
//! other architectures. The atomic variants do the critical-section work before the
//! atomic update (there is no lock to hold during it).
//!
//! `sync_queue/std_mpsc` uses ONE channel per consumer, filled round-robin by the producer
//! (an mpsc receiver cannot be shared without a mutex, which would measure that mutex).

use super::Outcome;
use crate::sys::spin::SpinLock;
use crossbeam_utils::CachePadded;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a shared counter is incremented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    StdMutex,
    ParkingLotMutex,
    SpinlockTtas,
    SpinlockBackoff,
    AtomicFetchAdd,
    AtomicCasLoop,
}

impl Counter {
    pub const ALL: [Counter; 6] = [
        Counter::StdMutex,
        Counter::ParkingLotMutex,
        Counter::SpinlockTtas,
        Counter::SpinlockBackoff,
        Counter::AtomicFetchAdd,
        Counter::AtomicCasLoop,
    ];
    /// The lock-based variants (the critical-section sweep).
    pub const LOCKS: [Counter; 4] = [
        Counter::StdMutex,
        Counter::ParkingLotMutex,
        Counter::SpinlockTtas,
        Counter::SpinlockBackoff,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Counter::StdMutex => "std_mutex",
            Counter::ParkingLotMutex => "parking_lot_mutex",
            Counter::SpinlockTtas => "spinlock_ttas",
            Counter::SpinlockBackoff => "spinlock_backoff",
            Counter::AtomicFetchAdd => "atomic_fetch_add",
            Counter::AtomicCasLoop => "atomic_cas_loop",
        }
    }
}

/// Per-thread counters: one cache-line pair each, or all packed into one line.
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

/// Most threads the packed layout holds in one 128-byte block.
pub const PACKED_SLOTS: usize = 16;

#[repr(align(128))]
struct Packed([AtomicU64; PACKED_SLOTS]);

/// Calibrated busy work: about `ns` nanoseconds of dependent arithmetic, no memory traffic.
pub fn work(ns: u64) {
    if ns == 0 {
        return;
    }
    let rounds = (ns as f64 * rounds_per_ns()).round().max(1.0) as u64;
    spin_rounds(rounds);
}

#[inline(never)]
fn spin_rounds(rounds: u64) -> u64 {
    let mut x = std::hint::black_box(0x9E37_79B9_7F4A_7C15u64);
    for _ in 0..rounds {
        x = x.rotate_left(5).wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 1;
    }
    std::hint::black_box(x)
}

/// Measured once per process: loop rounds per nanosecond (best of a few tries, so a
/// preempted try does not make the work shorter than asked).
fn rounds_per_ns() -> f64 {
    static RATE: OnceLock<f64> = OnceLock::new();
    *RATE.get_or_init(|| {
        let rounds = 200_000u64;
        let best = (0..5)
            .map(|_| {
                let t = Instant::now();
                spin_rounds(rounds);
                t.elapsed()
            })
            .min()
            .unwrap_or(Duration::from_millis(1));
        rounds as f64 / (best.as_nanos().max(1) as f64)
    })
}

#[derive(Clone, Copy)]
enum Task {
    Count(Counter),
    FalseShare(Layout),
}

#[derive(Clone, Copy)]
struct Job {
    task: Task,
    iters: u64,
    cs_ns: u64,
    quit: bool,
}

struct Shared {
    job: Mutex<Job>,
    start: Barrier,
    end: Barrier,
    std: Mutex<u64>,
    pl: parking_lot::Mutex<u64>,
    spin: SpinLock<u64>,
    atomic: AtomicU64,
    padded: Vec<CachePadded<AtomicU64>>,
    packed: Packed,
}

/// `n` pinned threads, started once, released together by a barrier for each run.
pub struct SyncPool {
    n: usize,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// The share of `iters` that thread `i` of `n` does.
fn share(iters: u64, i: usize, n: usize) -> u64 {
    iters / n as u64 + u64::from((i as u64) < iters % n as u64)
}

impl SyncPool {
    /// Starts `n` threads pinned round-robin over `cpus` (empty: unpinned).
    pub fn start(n: usize, cpus: &[usize]) -> io::Result<SyncPool> {
        assert!(n >= 1, "a pool needs at least one thread");
        let shared = Arc::new(Shared {
            job: Mutex::new(Job {
                task: Task::Count(Counter::AtomicFetchAdd),
                iters: 0,
                cs_ns: 0,
                quit: false,
            }),
            start: Barrier::new(n + 1),
            end: Barrier::new(n + 1),
            std: Mutex::new(0),
            pl: parking_lot::Mutex::new(0),
            spin: SpinLock::new(0),
            atomic: AtomicU64::new(0),
            padded: (0..n)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            packed: Packed(std::array::from_fn(|_| AtomicU64::new(0))),
        });
        work(1); // calibrate before any thread runs
        let mut pool = SyncPool {
            n,
            shared,
            threads: Vec::new(),
        };
        for i in 0..n {
            let shared = Arc::clone(&pool.shared);
            let cpu = (!cpus.is_empty()).then(|| cpus[i % cpus.len()]);
            let h = std::thread::Builder::new()
                .name(format!("sync-{i}"))
                .spawn(move || worker(i, n, cpu, &shared))?;
            pool.threads.push(h);
        }
        Ok(pool)
    }

    pub fn threads(&self) -> usize {
        self.n
    }

    fn run(&self, task: Task, iters: u64, cs_ns: u64) -> Duration {
        *self.shared.job.lock().expect("job lock") = Job {
            task,
            iters,
            cs_ns,
            quit: false,
        };
        self.shared.start.wait();
        let t = Instant::now();
        self.shared.end.wait();
        t.elapsed()
    }

    /// `iters` increments of one shared counter through `counter`, each holding the lock for
    /// `cs_ns` of work; `completed` is the final counter value.
    pub fn count(&self, counter: Counter, iters: u64, cs_ns: u64) -> Outcome {
        let s = &self.shared;
        *s.std.lock().expect("std lock") = 0;
        *s.pl.lock() = 0;
        *s.spin.lock_ttas() = 0;
        s.atomic.store(0, Ordering::SeqCst);
        let elapsed = self.run(Task::Count(counter), iters, cs_ns);
        let completed = match counter {
            Counter::StdMutex => *s.std.lock().expect("std lock"),
            Counter::ParkingLotMutex => *s.pl.lock(),
            Counter::SpinlockTtas | Counter::SpinlockBackoff => *s.spin.lock_ttas(),
            Counter::AtomicFetchAdd | Counter::AtomicCasLoop => s.atomic.load(Ordering::SeqCst),
        };
        Outcome { elapsed, completed }
    }

    /// `iters` increments spread over per-thread counters laid out as `layout`;
    /// `completed` is their sum.
    pub fn false_share(&self, layout: Layout, iters: u64) -> Outcome {
        assert!(
            layout == Layout::Padded || self.n <= PACKED_SLOTS,
            "packed layout holds at most {PACKED_SLOTS} threads"
        );
        let s = &self.shared;
        s.padded.iter().for_each(|c| c.store(0, Ordering::SeqCst));
        s.packed.0.iter().for_each(|c| c.store(0, Ordering::SeqCst));
        let elapsed = self.run(Task::FalseShare(layout), iters, 0);
        let completed = match layout {
            Layout::Padded => s.padded.iter().map(|c| c.load(Ordering::SeqCst)).sum(),
            Layout::Packed => s.packed.0.iter().map(|c| c.load(Ordering::SeqCst)).sum(),
        };
        Outcome { elapsed, completed }
    }
}

impl Drop for SyncPool {
    fn drop(&mut self) {
        if let Ok(mut job) = self.shared.job.lock() {
            job.quit = true;
        }
        self.shared.start.wait();
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

fn worker(i: usize, n: usize, cpu: Option<usize>, s: &Shared) {
    if let Some(cpu) = cpu {
        // Pinning is best effort here: a refused CPU leaves the thread where the OS puts it.
        let _ = crate::pin::pin_current_thread(cpu);
    }
    loop {
        s.start.wait();
        let job = *s.job.lock().expect("job lock");
        if job.quit {
            return;
        }
        let mine = share(job.iters, i, n);
        match job.task {
            Task::Count(c) => increment(s, c, mine, job.cs_ns),
            Task::FalseShare(layout) => {
                let slot = match layout {
                    Layout::Padded => &*s.padded[i],
                    Layout::Packed => &s.packed.0[i],
                };
                for _ in 0..mine {
                    slot.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        s.end.wait();
    }
}

fn increment(s: &Shared, c: Counter, times: u64, cs_ns: u64) {
    for _ in 0..times {
        match c {
            Counter::StdMutex => {
                let mut g = s.std.lock().expect("std lock");
                work(cs_ns);
                *g += 1;
            }
            Counter::ParkingLotMutex => {
                let mut g = s.pl.lock();
                work(cs_ns);
                *g += 1;
            }
            Counter::SpinlockTtas => {
                let mut g = s.spin.lock_ttas();
                work(cs_ns);
                *g += 1;
            }
            Counter::SpinlockBackoff => {
                let mut g = s.spin.lock_backoff();
                work(cs_ns);
                *g += 1;
            }
            Counter::AtomicFetchAdd => {
                work(cs_ns);
                s.atomic.fetch_add(1, Ordering::AcqRel);
            }
            Counter::AtomicCasLoop => {
                work(cs_ns);
                let mut cur = s.atomic.load(Ordering::Relaxed);
                while let Err(now) = s.atomic.compare_exchange_weak(
                    cur,
                    cur + 1,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    cur = now;
                    std::hint::spin_loop();
                }
            }
        }
    }
}

/// A one-producer, n-consumer hand-off queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    MutexCondvar,
    StdMpsc,
    Crossbeam,
}

impl Queue {
    pub const ALL: [Queue; 3] = [Queue::MutexCondvar, Queue::StdMpsc, Queue::Crossbeam];
    pub fn name(self) -> &'static str {
        match self {
            Queue::MutexCondvar => "mutex_condvar",
            Queue::StdMpsc => "std_mpsc",
            Queue::Crossbeam => "crossbeam",
        }
    }
}

/// Job value 0 tells a consumer to stop; real jobs are 1..=iters.
const STOP: u64 = 0;

/// One producer passes jobs 1..=`iters` to `consumers` threads through `queue`. Timed from
/// the moment all consumers are ready to the last consumer's last job (thread start and
/// exit excluded). `completed` is the number of jobs consumed, reported only when the
/// checksum of consumed values is exactly 1+2+..+iters (else 0).
pub fn hand_off(queue: Queue, consumers: usize, iters: u64) -> io::Result<Outcome> {
    assert!(consumers >= 1, "need a consumer");
    let ready = Barrier::new(consumers + 1);
    let expected_sum: u128 = u128::from(iters) * (u128::from(iters) + 1) / 2;
    let mcq = (Mutex::new(VecDeque::<u64>::new()), Condvar::new());
    let (start, results) = std::thread::scope(|s| -> io::Result<_> {
        let mut handles = Vec::new();
        let start;
        match queue {
            Queue::MutexCondvar => {
                let q = &mcq;
                for _ in 0..consumers {
                    let ready = &ready;
                    handles.push(s.spawn(move || {
                        ready.wait();
                        consume(|| {
                            let mut g = q.0.lock().expect("queue lock");
                            loop {
                                if let Some(v) = g.pop_front() {
                                    return v;
                                }
                                g = q.1.wait(g).expect("queue wait");
                            }
                        })
                    }));
                }
                ready.wait();
                start = Instant::now();
                let push = |v| {
                    q.0.lock().expect("queue lock").push_back(v);
                    q.1.notify_one();
                };
                (1..=iters).for_each(push);
                (0..consumers).for_each(|_| push(STOP));
            }
            Queue::StdMpsc => {
                let mut txs = Vec::new();
                for _ in 0..consumers {
                    let (tx, rx) = std::sync::mpsc::channel::<u64>();
                    txs.push(tx);
                    let ready = &ready;
                    handles.push(s.spawn(move || {
                        ready.wait();
                        consume(|| rx.recv().unwrap_or(STOP))
                    }));
                }
                ready.wait();
                start = Instant::now();
                for v in 1..=iters {
                    let _ = txs[(v as usize) % consumers].send(v);
                }
                txs.iter().for_each(|tx| {
                    let _ = tx.send(STOP);
                });
            }
            Queue::Crossbeam => {
                let (tx, rx) = crossbeam_channel::unbounded::<u64>();
                for _ in 0..consumers {
                    let rx = rx.clone();
                    let ready = &ready;
                    handles.push(s.spawn(move || {
                        ready.wait();
                        consume(|| rx.recv().unwrap_or(STOP))
                    }));
                }
                ready.wait();
                start = Instant::now();
                for v in 1..=iters {
                    let _ = tx.send(v);
                }
                (0..consumers).for_each(|_| {
                    let _ = tx.send(STOP);
                });
            }
        }
        let results: Vec<(u64, u128, Instant)> = handles
            .into_iter()
            .map(|h| h.join().map_err(|_| io::Error::other("consumer panicked")))
            .collect::<io::Result<_>>()?;
        Ok((start, results))
    })?;
    let count: u64 = results.iter().map(|r| r.0).sum();
    let sum: u128 = results.iter().map(|r| r.1).sum();
    let last = results.iter().map(|r| r.2).max().unwrap_or(start);
    Ok(Outcome {
        elapsed: last.saturating_duration_since(start),
        completed: if sum == expected_sum { count } else { 0 },
    })
}

/// Takes jobs until STOP: (jobs, checksum, time of the last job).
fn consume(mut next: impl FnMut() -> u64) -> (u64, u128, Instant) {
    let (mut n, mut sum) = (0u64, 0u128);
    loop {
        let v = next();
        if v == STOP {
            return (n, sum, Instant::now());
        }
        n += 1;
        sum += u128::from(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_exact_oversubscribed() {
        let pool = SyncPool::start(4, &crate::sys::cpu::allowed_cpus().expect("cpus"))
            .expect("start pool");
        for c in Counter::ALL {
            for iters in [0, 1, 7, 5_003] {
                assert_eq!(pool.count(c, iters, 20).completed, iters, "{}", c.name());
            }
        }
    }

    #[test]
    fn false_sharing_sums_exact() {
        let pool = SyncPool::start(3, &[]).expect("start pool");
        for l in Layout::ALL {
            assert_eq!(
                pool.false_share(l, 10_001).completed,
                10_001,
                "{}",
                l.name()
            );
        }
    }

    #[test]
    fn every_queue_checksum_exact() {
        for q in Queue::ALL {
            for consumers in [1, 3] {
                let o = hand_off(q, consumers, 10_000).expect("hand off");
                assert_eq!(o.completed, 10_000, "{} x{consumers}", q.name());
            }
        }
    }
}
