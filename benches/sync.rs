//! Groups `sync_threads`, `sync_critical_section`, `sync_false_sharing`, `sync_queue`: one
//! iteration = one protected increment (summed over threads) or one job handed off.
//! See `threadbench::blocks::sync`.

use criterion::{BenchmarkId, Throughput};
use threadbench::blocks::sync::{hand_off, Counter, Layout, Queue, SyncPool, PACKED_SLOTS};
use threadbench::harness::Suite;

fn main() {
    let suite = Suite::start();
    let mut c = suite.criterion();
    let cpus = threadbench::sys::cpu::allowed_cpus().expect("read allowed CPUs");
    let cs_ns = suite.profile.params.sync_cs_work_ns;

    let mut group = suite.group(&mut c, "sync_threads");
    group.throughput(Throughput::Elements(1));
    for n in suite.sweep("sync_threads") {
        let pool = SyncPool::start(n as usize, &cpus).expect("start sync pool");
        for counter in Counter::ALL {
            group.bench_with_input(BenchmarkId::new(counter.name(), n), &n, |b, _| {
                b.iter_custom(|iters| pool.count(counter, iters, cs_ns).checked(iters))
            });
        }
    }
    group.finish();

    let mut group = suite.group(&mut c, "sync_critical_section");
    group.throughput(Throughput::Elements(1));
    let pool = SyncPool::start(2 * cpus.len(), &cpus).expect("start sync pool");
    for ns in suite.sweep("sync_critical_section") {
        for counter in Counter::LOCKS {
            group.bench_with_input(BenchmarkId::new(counter.name(), ns), &ns, |b, &ns| {
                b.iter_custom(|iters| pool.count(counter, iters, ns).checked(iters))
            });
        }
    }
    drop(pool);
    group.finish();

    let mut group = suite.group(&mut c, "sync_false_sharing");
    group.throughput(Throughput::Elements(1));
    for n in suite.sweep("sync_false_sharing") {
        if n as usize > PACKED_SLOTS {
            eprintln!(
                "sync_false_sharing: skipping {n} threads: packed layout holds {PACKED_SLOTS}"
            );
            continue;
        }
        let pool = SyncPool::start(n as usize, &cpus).expect("start sync pool");
        for layout in Layout::ALL {
            group.bench_with_input(BenchmarkId::new(layout.name(), n), &n, |b, _| {
                b.iter_custom(|iters| pool.false_share(layout, iters).checked(iters))
            });
        }
    }
    group.finish();

    let mut group = suite.group(&mut c, "sync_queue");
    group.throughput(Throughput::Elements(1));
    for n in suite.sweep("sync_queue") {
        for queue in Queue::ALL {
            group.bench_with_input(BenchmarkId::new(queue.name(), n), &n, |b, &n| {
                b.iter_custom(|iters| {
                    hand_off(queue, n as usize, iters)
                        .expect("hand off jobs")
                        .checked(iters)
                })
            });
        }
    }
    group.finish();
    suite.finish(c);
}
