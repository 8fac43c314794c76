//! Groups `sync_threads/<function>/<n_threads>`, `sync_critical_section/<function>/<ns>`,
//! `sync_false_sharing/<padded|packed>/<n_threads>` and `sync_queue/<function>/<n_consumers>`.
//! One iteration = one protected increment summed over threads / one per-thread increment /
//! one job produced and consumed. Worker pools start lazily on a benchmark's first sample and
//! are reused across its samples. See `threadbench::blocks::sync`.

use criterion::{BenchmarkId, Throughput};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use threadbench::blocks::sync::{
    false_sharing, queue, shared_counter, Layout, QueueFn, SyncFn, WorkerPool,
    MAX_FALSE_SHARING_THREADS,
};
use threadbench::harness::Suite;
use threadbench::ids::Group;

/// Pools by thread count, shared by the benchmarks of one group (started lazily, once).
#[derive(Clone)]
struct Pools {
    cpus: Vec<usize>,
    by_n: Rc<RefCell<BTreeMap<usize, Rc<WorkerPool>>>>,
}

impl Pools {
    fn new(cpus: Vec<usize>) -> Pools {
        Pools {
            cpus,
            by_n: Rc::default(),
        }
    }

    fn get(&self, n: usize) -> Rc<WorkerPool> {
        self.by_n
            .borrow_mut()
            .entry(n)
            .or_insert_with(|| Rc::new(WorkerPool::start(n, &self.cpus).expect("start workers")))
            .clone()
    }

    /// Stops every pool (joins its threads) before the next group.
    fn clear(&self) {
        self.by_n.borrow_mut().clear();
    }
}

fn main() {
    let suite = Suite::start();
    let mut c = suite.criterion();
    // Workers go round-robin over every CPU the profile's plan knows (server first).
    let mut cpus: Vec<usize> = suite.plan.server.clone();
    cpus.extend(
        suite
            .plan
            .client
            .iter()
            .filter(|c| !suite.plan.server.contains(c)),
    );
    let cs_ns = suite.profile.params.sync_cs_work_ns;
    let pools = Pools::new(cpus.clone());
    eprintln!("sync: workers pinned round-robin over CPUs {cpus:?}; critical section {cs_ns} ns");

    let mut group = suite.group(&mut c, Group::SyncThreads);
    group.throughput(Throughput::Elements(1));
    for n in suite.sweep(Group::SyncThreads) {
        for f in SyncFn::ALL {
            let pools = pools.clone();
            let g = Group::SyncThreads;
            let timer = suite.timer(g, &g.id(f.name(), Some(n)));
            group.bench_function(BenchmarkId::new(f.name(), n), move |b| {
                let pool = pools.get(n as usize);
                b.iter_custom(|iters| {
                    timer.time(|| {
                        shared_counter(&pool, f, iters, cs_ns)
                            .expect("increments")
                            .checked(iters)
                    })
                })
            });
        }
    }
    group.finish();
    pools.clear();

    let oversubscribed = 2 * cpus.len();
    eprintln!(
        "{}: {oversubscribed} threads (2 x {} CPUs)",
        Group::SyncCriticalSection,
        cpus.len()
    );
    let mut group = suite.group(&mut c, Group::SyncCriticalSection);
    group.throughput(Throughput::Elements(1));
    for ns in suite.sweep(Group::SyncCriticalSection) {
        for f in SyncFn::LOCKS {
            let pools = pools.clone();
            let g = Group::SyncCriticalSection;
            let timer = suite.timer(g, &g.id(f.name(), Some(ns)));
            group.bench_function(BenchmarkId::new(f.name(), ns), move |b| {
                let pool = pools.get(oversubscribed);
                b.iter_custom(|iters| {
                    timer.time(|| {
                        shared_counter(&pool, f, iters, ns)
                            .expect("increments")
                            .checked(iters)
                    })
                })
            });
        }
    }
    group.finish();
    pools.clear();

    let mut group = suite.group(&mut c, Group::SyncFalseSharing);
    group.throughput(Throughput::Elements(1));
    for n in suite.sweep(Group::SyncFalseSharing) {
        if n as usize > MAX_FALSE_SHARING_THREADS {
            eprintln!(
                "{}/*/{n}: skipped: at most {MAX_FALSE_SHARING_THREADS}",
                Group::SyncFalseSharing
            );
            continue;
        }
        for layout in Layout::ALL {
            let pools = pools.clone();
            let g = Group::SyncFalseSharing;
            let timer = suite.timer(g, &g.id(layout.name(), Some(n)));
            group.bench_function(BenchmarkId::new(layout.name(), n), move |b| {
                let pool = pools.get(n as usize);
                b.iter_custom(|iters| {
                    timer.time(|| {
                        false_sharing(&pool, layout, iters)
                            .expect("increments")
                            .checked(iters)
                    })
                })
            });
        }
    }
    group.finish();
    pools.clear();

    let mut group = suite.group(&mut c, Group::SyncQueue);
    group.throughput(Throughput::Elements(1));
    for n in suite.sweep(Group::SyncQueue) {
        for f in QueueFn::ALL {
            let pools = pools.clone();
            let g = Group::SyncQueue;
            let timer = suite.timer(g, &g.id(f.name(), Some(n)));
            group.bench_function(BenchmarkId::new(f.name(), n), move |b| {
                // Worker 0 produces, workers 1..=n consume.
                let pool = pools.get(n as usize + 1);
                b.iter_custom(|iters| {
                    timer.time(|| queue(&pool, f, iters).expect("jobs").checked(iters))
                })
            });
        }
    }
    group.finish();
    pools.clear();
    suite.finish(c);
}
