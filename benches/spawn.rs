//! Group `spawn`: creating a unit of work — a thread, a process (fork, fork+exec, posix_spawn,
//! Command, vfork-style clone) or a job handed to a running worker. One iteration = one unit
//! created, completed and reaped.
//! Group `spawn_rss/<function>/<MiB>`: fork vs posix_spawn vs vfork while this process holds
//! N MiB of touched memory. See `threadbench::blocks::spawn`.

use criterion::{BenchmarkId, Throughput};
use threadbench::blocks::spawn::{slope, Creation, HeldMemory, Spawner};
use threadbench::harness::Suite;
use threadbench::ids::Group;
use threadbench::report::results::{SideRecord, SPAWN_RSS_JSON};

fn main() {
    let suite = Suite::start();
    let mut c = suite.criterion();
    suite.pin_to_bench_core();

    let mut group = suite.group(&mut c, Group::Spawn);
    group.throughput(Throughput::Elements(1));
    for creation in Creation::ALL {
        let mut spawner = Spawner::new(creation);
        let mut told = false;
        group.bench_function(creation.name(), move |b| {
            // fork's cost depends on this process: its resident anonymous memory (page tables
            // to copy, see spawn_rss) and its thread count (criterion's helper thread makes it
            // a multi-threaded fork). Say what they were.
            if !told {
                told = true;
                // What the timed samples see: Spawner::run returns free heap first, too.
                threadbench::sys::spawn::release_free_heap();
                eprintln!(
                    "spawn/{}: bench process at first sample: {}",
                    creation.name(),
                    memory_status()
                );
            }
            b.iter_custom(|iters| spawner.run(iters).expect("create and reap").checked(iters))
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
                eprintln!("spawn_rss: {reason}");
                continue;
            }
        };
        for creation in Creation::RSS {
            let mut spawner = Spawner::new(creation);
            group.bench_function(BenchmarkId::new(creation.name(), mib), move |b| {
                b.iter_custom(|iters| spawner.run(iters).expect("create and reap").checked(iters))
            });
        }
        drop(held);
    }
    group.finish();

    if suite.measuring() {
        report_rss_slopes(&suite, &sizes);
    }
    suite.finish(c);
}

/// Prints (and merges into target/threadbench/spawn_rss.json) each function's cost per MiB
/// held, from the medians criterion wrote in this run.
fn report_rss_slopes(suite: &Suite, sizes: &[u64]) {
    let thp =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    let mut records = Vec::new();
    for creation in Creation::RSS {
        let points: Vec<(f64, f64)> = sizes
            .iter()
            .filter_map(|&mib| {
                let id = Group::SpawnRss.id(creation.name(), Some(mib));
                suite.median_ns(&id).map(|ns| (mib as f64, ns / 1000.0))
            })
            .collect();
        if points.is_empty() {
            continue; // not measured in this run: keep what an earlier run recorded
        }
        let s = slope(&points);
        eprintln!(
            "spawn_rss: {:<18} medians (MiB, µs) {:?}  slope {} µs/MiB",
            creation.name(),
            points
                .iter()
                .map(|(m, us)| (*m as u64, (us * 10.0).round() / 10.0))
                .collect::<Vec<_>>(),
            s.map_or("n/a".into(), |s| format!("{s:.3}"))
        );
        records.push(SideRecord::new(
            "spawn_rss",
            &format!("spawn_rss/{}", creation.name()),
            serde_json::json!({
                "median_us_by_mib": points,
                "slope_us_per_mib": s,
                "transparent_hugepage": thp.trim(),
            }),
        ));
    }
    suite.save(SPAWN_RSS_JSON, records);
}

/// RssAnon, VmPTE and the number of mappings of this process, from /proc/self.
fn memory_status() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| "?".into())
    };
    let maps = std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0);
    format!(
        "RssAnon {}, VmPTE {}, {maps} mappings, {} threads",
        field("RssAnon:"),
        field("VmPTE:"),
        field("Threads:")
    )
}
