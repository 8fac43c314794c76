//! The lecture's threading-model exercises, run for real: the toy shop (boss-worker vs
//! pipeline), latency hiding (run-to-completion vs a pool that switches while a request
//! waits), and a matrix multiply split over threads (shared memory) or processes (a shared
//! anonymous mapping).
//!
//! ```text
//!  toy shop, boss-worker            toy shop, pipeline
//!   boss --orders--> [q] --> w1..w5   orders -> [s1] -> [s2] -> ... -> [s6] -> done
//!         each worker: 120 units       each stage: 20 units
//!
//!  latency hiding (all on one pinned core)
//!   blocking: [cpu c][wait t_idle][cpu c][wait t_idle] ...     one thread
//!   threads : t1 [cpu c][wait.......]  t2 [cpu c][wait...]      a pool switches on each wait
//!
//!  matmul: C = A x B, rows of C split over k workers (threads or forked processes)
//! ```
//!
//! Metrics and normalisation:
//! - `models_toyshop/<boss_worker|pipeline>`: one iteration = the whole shop run (11 orders).
//!   Besides criterion's wall time, [`toyshop`] reports each order's completion time in lecture
//!   units (wall time / unit) and the same figures in *virtual time* (see below).
//! - `latency_hiding/<blocking|threads>/<idle_us>`: one iteration = one request served.
//! - `matmul/<threads|processes>/<n_workers>`: one iteration = one N x N multiply (worker
//!   creation included: a real split pays it too), checked against a reference outside the
//!   timed region. Workers claim blocks of 8 rows from a shared atomic counter (in a shared
//!   mapping for processes), so a core shared with another tenant does not hold the rest up.
//!
//! **Honest toy shop on a small machine.** The lecture's answer assumes 6 workers running truly
//! in parallel. Six threads that *spin* for their work on a 2-core machine are time-shared, and
//! the wall-clock figures would measure the core count, not the model. So the work mode
//! depends on the cores: with at least 6 allowed cores a worker spins for its whole work
//! ([`WorkMode::Spin`]); with fewer, a worker is *occupied* for its work: it sleeps (timer slack
//! 1 ns) until shortly before the deadline and spins the last [`SPIN_TAIL`]
//! ([`WorkMode::SleepThenSpin`]), so the 6 workers really are busy at the same time while using
//! a small fraction of a core each. Hand-offs are real threads and real queues
//! (crossbeam channels) in both modes, and the completion times are real wall-clock times.
//! Alongside, every order carries a virtual clock (ready time, worker free time, + its work in
//! units) through those same queues: the virtual figures are what the lecture's idealised
//! model gives for the dispatch that really happened.
//!
//! Not measured: the toy shop's CPU cost (see `sync_queue` for hand-off costs); latency hiding
//! with more than one core (the lecture's rule is about one CPU); matmul cache blocking or
//! SIMD tuning (a plain i-k-j loop; the point is the split, not the kernel).

use super::Outcome;
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Workers in the toy shop (the lecture: 6).
pub const TOYSHOP_WORKERS: usize = 6;
/// Toy orders (the lecture: 11).
pub const TOYSHOP_ORDERS: usize = 11;
/// Units of work per order (both models: 120; the pipeline splits it into 6 x 20).
pub const ORDER_UNITS: u64 = 120;
/// In [`WorkMode::SleepThenSpin`], the last stretch of each work item is spun, not slept:
/// it absorbs the sleep's wake-up latency.
pub const SPIN_TAIL: Duration = Duration::from_micros(50);

/// The two answers of the lecture's quiz; `name()` is the bench function ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShopModel {
    BossWorker,
    Pipeline,
}

impl ShopModel {
    pub const ALL: [ShopModel; 2] = [ShopModel::BossWorker, ShopModel::Pipeline];

    pub fn name(self) -> &'static str {
        match self {
            ShopModel::BossWorker => "boss_worker",
            ShopModel::Pipeline => "pipeline",
        }
    }

    /// The lecture's answer: (total, average completion time) in units.
    pub fn lecture_answer(self) -> (f64, f64) {
        match self {
            ShopModel::BossWorker => (360.0, 2160.0 / 11.0),
            ShopModel::Pipeline => (320.0, 220.0),
        }
    }
}

/// How a worker spends its work time (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkMode {
    Spin,
    SleepThenSpin,
}

impl WorkMode {
    /// Spin when every worker can have a core of its own, otherwise sleep-then-spin.
    pub fn for_cores(n_cores: usize) -> WorkMode {
        if n_cores >= TOYSHOP_WORKERS {
            WorkMode::Spin
        } else {
            WorkMode::SleepThenSpin
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            WorkMode::Spin => "spin",
            WorkMode::SleepThenSpin => "sleep_then_spin",
        }
    }
}

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

/// Keeps the calling thread occupied until `deadline`.
fn occupy_until(deadline: Instant, mode: WorkMode) {
    if mode == WorkMode::SleepThenSpin {
        let now = Instant::now();
        if deadline > now + SPIN_TAIL {
            std::thread::sleep(deadline - now - SPIN_TAIL);
        }
    }
    spin_until(deadline);
}

/// A short sleep means what it says only with a tiny timer slack (the default 50 µs would
/// round every wait up). Per thread; failure only costs precision.
fn tight_timer_slack() {
    let _ = nix::sys::prctl::set_timerslack(1);
}

/// One toy-shop run's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ToyshopRun {
    pub model: ShopModel,
    pub mode: WorkMode,
    /// Wall-clock completion time of each order, in units, in completion order.
    pub done_units: Vec<f64>,
    /// Virtual-clock completion time of each order, in units.
    pub virtual_done_units: Vec<u64>,
    pub elapsed: Duration,
}

impl ToyshopRun {
    pub fn total_units(&self) -> f64 {
        self.done_units.iter().cloned().fold(0.0, f64::max)
    }
    pub fn average_units(&self) -> f64 {
        self.done_units.iter().sum::<f64>() / self.done_units.len().max(1) as f64
    }
    pub fn virtual_total_units(&self) -> f64 {
        self.virtual_done_units.iter().max().copied().unwrap_or(0) as f64
    }
    pub fn virtual_average_units(&self) -> f64 {
        self.virtual_done_units.iter().sum::<u64>() as f64
            / self.virtual_done_units.len().max(1) as f64
    }
}

/// An order on its way through the shop: its id and the virtual time it became ready.
#[derive(Debug, Clone, Copy)]
struct Order {
    id: usize,
    ready_v: u64,
}

/// Runs the toy shop once: 6 threads, 11 orders, `unit` per work unit.
pub fn toyshop(model: ShopModel, unit: Duration, mode: WorkMode) -> io::Result<ToyshopRun> {
    let (done_tx, done_rx) = unbounded::<(Order, Instant)>();
    // The 6 shop threads and the timing thread start together.
    let barrier = Arc::new(Barrier::new(TOYSHOP_WORKERS + 1));
    let mut handles = Vec::new();
    let spawn = |f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name("toyshop".into())
            .spawn(move || {
                tight_timer_slack();
                f()
            })
    };
    match model {
        ShopModel::BossWorker => {
            let (order_tx, order_rx) = unbounded::<Order>();
            // The boss: hands out the 11 orders (its own time is not counted in units, as in
            // the lecture: it only dispatches).
            let b = barrier.clone();
            handles.push(spawn(Box::new(move || {
                b.wait();
                for id in 0..TOYSHOP_ORDERS {
                    let _ = order_tx.send(Order { id, ready_v: 0 });
                }
            }))?);
            for _ in 0..TOYSHOP_WORKERS - 1 {
                let (rx, tx, b) = (order_rx.clone(), done_tx.clone(), barrier.clone());
                handles.push(spawn(Box::new(move || {
                    b.wait();
                    let mut free_v = 0;
                    while let Ok(order) = rx.recv() {
                        let start = Instant::now();
                        let start_v = free_v.max(order.ready_v);
                        free_v = start_v + ORDER_UNITS;
                        occupy_until(start + unit * ORDER_UNITS as u32, mode);
                        let _ = tx.send((
                            Order {
                                id: order.id,
                                ready_v: free_v,
                            },
                            Instant::now(),
                        ));
                    }
                }))?);
            }
        }
        ShopModel::Pipeline => {
            let stage_units = ORDER_UNITS / TOYSHOP_WORKERS as u64;
            let (first_tx, mut prev_rx): (Sender<Order>, Receiver<Order>) = unbounded();
            for stage in 0..TOYSHOP_WORKERS {
                let last = stage + 1 == TOYSHOP_WORKERS;
                let (next_tx, next_rx) = unbounded::<Order>();
                let (rx, tx, b) = (prev_rx, done_tx.clone(), barrier.clone());
                handles.push(spawn(Box::new(move || {
                    b.wait();
                    let mut free_v = 0;
                    while let Ok(order) = rx.recv() {
                        let start = Instant::now();
                        let start_v = free_v.max(order.ready_v);
                        free_v = start_v + stage_units;
                        occupy_until(start + unit * stage_units as u32, mode);
                        let out = Order {
                            id: order.id,
                            ready_v: free_v,
                        };
                        if last {
                            let _ = tx.send((out, Instant::now()));
                        } else {
                            let _ = next_tx.send(out);
                        }
                    }
                    // Dropping next_tx here closes the next stage's queue.
                }))?);
                prev_rx = next_rx;
            }
            // All orders wait at the first stage from time 0.
            for id in 0..TOYSHOP_ORDERS {
                let _ = first_tx.send(Order { id, ready_v: 0 });
            }
            drop(first_tx);
        }
    }
    drop(done_tx);
    barrier.wait();
    let t0 = Instant::now();
    let mut done_units = Vec::with_capacity(TOYSHOP_ORDERS);
    let mut virtual_done_units = Vec::with_capacity(TOYSHOP_ORDERS);
    let mut seen = [false; TOYSHOP_ORDERS];
    let limit = unit * (ORDER_UNITS as u32) * (TOYSHOP_ORDERS as u32 + 1) + Duration::from_secs(5);
    while done_units.len() < TOYSHOP_ORDERS {
        let (order, at) = done_rx
            .recv_timeout(limit)
            .map_err(|_| io::Error::other("toy shop: an order never completed"))?;
        if std::mem::replace(&mut seen[order.id], true) {
            return Err(io::Error::other("toy shop: an order completed twice"));
        }
        done_units.push(at.saturating_duration_since(t0).as_secs_f64() / unit.as_secs_f64());
        virtual_done_units.push(order.ready_v);
    }
    let elapsed = t0.elapsed();
    for h in handles {
        h.join()
            .map_err(|_| io::Error::other("toy shop thread panicked"))?;
    }
    Ok(ToyshopRun {
        model,
        mode,
        done_units,
        virtual_done_units,
        elapsed,
    })
}

/// `iters` toy-shop runs; completed = runs that finished all 11 orders.
pub fn toyshop_runs(
    model: ShopModel,
    unit: Duration,
    mode: WorkMode,
    iters: u64,
) -> io::Result<Outcome> {
    let mut elapsed = Duration::ZERO;
    let mut completed = 0;
    for _ in 0..iters {
        let run = toyshop(model, unit, mode)?;
        elapsed += run.elapsed;
        completed += (run.done_units.len() == TOYSHOP_ORDERS) as u64;
    }
    Ok(Outcome { elapsed, completed })
}

// ---------------------------------------------------------------- latency hiding

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

// ---------------------------------------------------------------- matmul

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

    fn within(x: f64, want: f64, tol: f64) -> bool {
        (x - want).abs() <= tol * want
    }

    #[test]
    fn toyshop_gives_the_lecture_figures() {
        // A tiny unit keeps the test fast; the virtual figures (the dispatch that really
        // happened, in lecture units) must be the lecture's within 5 %. Wall-clock figures are
        // timing and belong to the bench.
        let unit = Duration::from_micros(50);
        for model in ShopModel::ALL {
            let run = toyshop(model, unit, WorkMode::SleepThenSpin).expect("toy shop run");
            assert_eq!(run.done_units.len(), TOYSHOP_ORDERS);
            let (total, avg) = model.lecture_answer();
            assert!(
                within(run.virtual_total_units(), total, 0.05),
                "{model:?} total {}",
                run.virtual_total_units()
            );
            assert!(
                within(run.virtual_average_units(), avg, 0.05),
                "{model:?} average {}",
                run.virtual_average_units()
            );
            // Real time cannot beat the model's critical path.
            assert!(
                run.total_units() >= total * 0.999,
                "{model:?} {}",
                run.total_units()
            );
        }
        assert_eq!(
            toyshop_runs(ShopModel::Pipeline, unit, WorkMode::Spin, 1)
                .expect("spin run")
                .completed,
            1
        );
    }

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
