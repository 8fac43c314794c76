//! End-to-end server groups: `server_file_size/<model>/<bytes>` (Connection: close),
//! `server_conns/<model>/<n_conns>` (keep-alive, 1 KiB), `server_specweb/<model>` (SPECweb96
//! set, warm cache) and `server_disk/<model>/<kib>` (page cache evicted before each batch).
//! In `server_disk` the server's mapped-file cache, summed over mp's processes, is a quarter of
//! the set: as in the Flash paper's disk-bound test, where the set exceeded memory, most
//! requests miss it and read evicted pages from disk (fadvise cannot evict a mapped file, so
//! without this bound the servers would keep the whole set in memory).
//! One iteration = one validated request. The server is `threadbench serve` on the server
//! cores; the load runs here on the client cores. See `threadbench::load::e2e`.

use criterion::{BenchmarkId, SamplingMode, Throughput};
use threadbench::harness::Suite;
use threadbench::load::e2e::{self, ServerProcess, SideMetrics, MODELS};
use threadbench::load::workload::{self, Workload};
use threadbench::load::ConnMode;

const EXE: &str = env!("CARGO_BIN_EXE_threadbench");

/// The program whose `serve` subcommand runs the servers: this crate's binary, or
/// `$THREADBENCH_SERVER_EXE` (same command-line contract) to bench another implementation.
fn server_exe() -> std::path::PathBuf {
    std::env::var_os("THREADBENCH_SERVER_EXE").map_or_else(|| EXE.into(), Into::into)
}

/// One (group, model, param) benchmark against a server started for it.
#[allow(clippy::too_many_arguments)]
fn bench_one(
    suite: &Suite,
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    group_name: &str,
    model: &str,
    param: Option<u64>,
    w: &Workload,
    conns: usize,
    mode: ConnMode,
    disk: bool,
) {
    let mut cfg = suite.profile.server.clone();
    if disk {
        let set: u64 = w.files.iter().map(|f| f.size).sum();
        // The same mapped bytes in every model: mp's processes each keep their own cache.
        let owners = if model == "mp" {
            cfg.processes as u64
        } else {
            1
        };
        cfg.cache_bytes = cfg.cache_bytes.min(set / 4) / owners;
    }
    let server = ServerProcess::start(
        &server_exe(),
        model,
        w.docroot.path(),
        &suite.plan.server,
        &cfg,
    )
    .expect("start threadbench serve");
    let spec = e2e::spec_for(server.addr, w, conns, mode, &suite.plan.client);
    let mut side = SideMetrics::start(server.pid());
    let id = match param {
        Some(p) => BenchmarkId::new(model, p),
        None => BenchmarkId::from_parameter(model),
    };
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let o = if disk {
                e2e::run_disk_requests(&spec, w, iters, &mut side)
            } else {
                e2e::run_requests(&spec, iters, &mut side)
            };
            o.expect("load run").checked(iters)
        })
    });
    if side.requests() == 0 {
        // Filtered out on the command line: nothing measured, nothing to record.
        server.stop().expect("stop server");
        return;
    }
    let rec = side
        .save(group_name, model, param)
        .expect("write server.json");
    if rec.client_bound {
        eprintln!(
            "threadbench: {group_name}/{model}: client-bound (client CPU {:.0} %)",
            rec.client_cpu_util * 100.0
        );
    }
    let clean = server.stop().expect("stop server");
    if !clean {
        eprintln!(
            "threadbench: {group_name}/{model}: server did not exit cleanly on SIGTERM (killed)"
        );
    }
}

fn main() {
    let suite = Suite::start();
    let mut c = suite.criterion();
    if !e2e::serve_available(&server_exe()) {
        eprintln!(
            "threadbench: SKIPPING the server benches: `{} serve` is not available in this build \
             (the servers issue is not merged yet)",
            server_exe().display()
        );
        suite.finish(c);
        return;
    }
    let p = suite.profile.params.clone();
    let conns = p.server_conns as usize;

    let name = "server_file_size";
    let mut group = suite.group(&mut c, name);
    group.sampling_mode(SamplingMode::Flat);
    for size in suite.sweep(name) {
        let w = workload::single(size).expect("generate file");
        group.throughput(Throughput::Bytes(size));
        for model in MODELS {
            bench_one(
                &suite,
                &mut group,
                name,
                model,
                Some(size),
                &w,
                conns,
                ConnMode::Close,
                false,
            );
        }
    }
    group.finish();

    let name = "server_conns";
    let mut group = suite.group(&mut c, name);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Bytes(1024));
    let w = workload::single(1024).expect("generate file");
    for n in suite.sweep(name) {
        for model in MODELS {
            bench_one(
                &suite,
                &mut group,
                name,
                model,
                Some(n),
                &w,
                n as usize,
                ConnMode::KeepAlive,
                false,
            );
        }
    }
    group.finish();

    let name = "server_specweb";
    let mut group = suite.group(&mut c, name);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(1));
    let w = workload::specweb96(p.specweb_dirs as usize, 1996).expect("generate SPECweb96 set");
    for model in MODELS {
        bench_one(
            &suite,
            &mut group,
            name,
            model,
            None,
            &w,
            conns,
            ConnMode::KeepAlive,
            false,
        );
    }
    group.finish();

    let name = "server_disk";
    let mut group = suite.group(&mut c, name);
    group.sampling_mode(SamplingMode::Flat);
    for kib in suite.sweep(name) {
        let w = workload::disk(kib * 1024, p.disk_files as usize).expect("generate disk set");
        group.throughput(Throughput::Bytes(kib * 1024));
        for model in MODELS {
            bench_one(
                &suite,
                &mut group,
                name,
                model,
                Some(kib),
                &w,
                conns,
                ConnMode::KeepAlive,
                true,
            );
        }
    }
    group.finish();

    // Hygiene: every server (and anything it forked) is gone before the run ends.
    let me = std::process::id() as i32;
    let left: Vec<i32> = threadbench::procfs::descendants(me)
        .into_iter()
        .filter(|&p| !e2e::wait_gone(p, std::time::Duration::from_secs(2)))
        .collect();
    assert!(
        left.is_empty(),
        "server processes outlived the bench: {left:?}"
    );
    suite.finish(c);
}
