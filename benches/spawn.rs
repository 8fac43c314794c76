//! Group `spawn`: creating a unit of work — a thread, a process (fork, fork+exec, posix_spawn,
//! Command, vfork-style clone) or a job handed to a running worker. One iteration = one unit
//! created, completed and reaped.
//! Group `spawn_rss/<function>/<MiB>`: fork vs posix_spawn vs vfork while this process holds
//! N MiB of touched memory. See `threadbench::blocks::spawn`.

use criterion::{BenchmarkId, Throughput};
use threadbench::blocks::spawn::{Creation, HeldMemory, Spawner};
use threadbench::harness::Suite;
use threadbench::ids::Group;
use threadbench::report::results::SPAWN_RSS_JSON;
use threadbench::report::summaries;

fn main() {
    let suite = Suite::start();
    let mut c = suite.criterion();
    suite.pin_to_bench_core();

    let mut group = suite.group(&mut c, Group::Spawn);
    group.throughput(Throughput::Elements(1));
    for creation in Creation::ALL {
        let mut spawner = Spawner::new(creation);
        let mut told = false;
        let timer = suite.timer(Group::Spawn, &Group::Spawn.id(creation.name(), None));
        group.bench_function(creation.name(), move |b| {
            // fork's cost depends on this process: its resident anonymous memory (page tables
            // to copy, see spawn_rss) and its thread count (criterion's helper thread makes it
            // a multi-threaded fork). Say what they were.
            if !told {
                told = true;
                // What the timed samples see: Spawner::run returns free heap first, too.
                threadbench::sys::spawn::release_free_heap();
                eprintln!(
                    "{}: bench process at first sample: {}",
                    Group::Spawn.id(creation.name(), None),
                    summaries::memory_status()
                );
            }
            b.iter_custom(|iters| {
                timer.time(|| spawner.run(iters).expect("create and reap").checked(iters))
            })
        });
    }
    group.finish();

    let sizes = suite.sweep(Group::SpawnRss);
    let mut group = suite.group(&mut c, Group::SpawnRss);
    group.throughput(Throughput::Elements(1));
    for &mib in &sizes {
        let wanted = Creation::RSS
            .iter()
            .any(|cr| suite.runs(&Group::SpawnRss.id(cr.name(), Some(mib))));
        if !wanted && !suite.listing() {
            continue; // filtered out: touch no memory
        }
        // `--list` registers the ids only (criterion runs nothing): touch nothing either.
        let held = match HeldMemory::touch(if suite.listing() { 0 } else { mib }) {
            Ok(h) => h,
            Err(reason) => {
                eprintln!("{}: {reason}", Group::SpawnRss);
                continue;
            }
        };
        for creation in Creation::RSS {
            let mut spawner = Spawner::new(creation);
            let timer = suite.timer(
                Group::SpawnRss,
                &Group::SpawnRss.id(creation.name(), Some(mib)),
            );
            group.bench_function(BenchmarkId::new(creation.name(), mib), move |b| {
                b.iter_custom(|iters| {
                    timer.time(|| spawner.run(iters).expect("create and reap").checked(iters))
                })
            });
        }
        drop(held);
    }
    group.finish();

    if suite.measuring() {
        // Each function's cost per MiB held, from the medians criterion wrote in this run.
        suite.save(
            SPAWN_RSS_JSON,
            summaries::rss_slopes(&sizes, &|id| suite.median_ns(id)),
        );
    }
    suite.finish(c);
}
