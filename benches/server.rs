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
use threadbench::report::results::{bench_id, SERVER_JSON};

const EXE: &str = env!("CARGO_BIN_EXE_threadbench");

/// The program whose `serve` subcommand runs the servers: this crate's binary, or
/// `$THREADBENCH_SERVER_EXE` (same command-line contract) to bench another implementation.
fn server_exe() -> std::path::PathBuf {
    std::env::var_os("THREADBENCH_SERVER_EXE").map_or_else(|| EXE.into(), Into::into)
}

/// One point of a server group: which workload, how it is loaded.
struct Point<'w> {
    group: &'static str,
    param: Option<u64>,
    workload: &'w Workload,
    conns: usize,
    mode: ConnMode,
    /// Evict the set before each batch and bound the server's mapped-file cache.
    disk: bool,
}

impl Point<'_> {
    fn id(&self, model: &str) -> String {
        bench_id(self.group, model, self.param)
    }
}

/// The models of `group` (at `param`) this run measures; the rest start no server.
fn selected(suite: &Suite, group: &str, param: Option<u64>) -> Vec<&'static str> {
    MODELS
        .into_iter()
        .filter(|m| suite.measures(&bench_id(group, m, param)))
        .collect()
}

/// One (group, model, param) benchmark against a server started for it.
fn bench_one(
    suite: &Suite,
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    model: &str,
    pt: &Point<'_>,
) {
    let w = pt.workload;
    let mut cfg = suite.profile.server.clone();
    if pt.disk {
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
    let spec = e2e::spec_for(server.addr, w, pt.conns, pt.mode, &suite.plan.client);
    let mut side = SideMetrics::start(server.pid());
    let id = match pt.param {
        Some(p) => BenchmarkId::new(model, p),
        None => BenchmarkId::from_parameter(model),
    };
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let o = if pt.disk {
                e2e::run_disk_requests(&spec, w, iters, &mut side)
            } else {
                e2e::run_requests(&spec, iters, &mut side)
            };
            o.expect("load run").checked(iters)
        })
    });
    // The server's counters are read while it still runs.
    let rec = (side.requests() > 0).then(|| {
        side.finish(
            pt.group,
            model,
            pt.param,
            suite.profile.report.client_bound_util,
        )
        .expect("read the server's counters before stopping it")
    });
    let clean = server.stop().expect("stop server");
    if !clean {
        eprintln!(
            "threadbench: {}: server did not exit cleanly on SIGTERM (killed)",
            pt.id(model)
        );
    }
    let Some(rec) = rec else { return };
    if rec.client_bound {
        eprintln!(
            "threadbench: {}: client-bound (client CPU {:.0} %)",
            pt.id(model),
            rec.client_cpu_util * 100.0
        );
    }
    suite.save(SERVER_JSON, vec![rec]);
}

/// Every selected model at one point of a group.
fn bench_point(
    suite: &Suite,
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    models: &[&str],
    pt: &Point<'_>,
) {
    for model in models {
        bench_one(suite, group, model, pt);
    }
}

fn main() {
    let suite = Suite::start();
    let mut c = suite.criterion();
    if suite.test_mode {
        // Test mode runs each benchmark once, unmeasured: it would start a server per model
        // and record nothing. tests/e2e.rs and tests/server_models.rs cover the servers.
        eprintln!("threadbench: test mode: the server benches start no server (see tests/e2e.rs)");
        suite.finish(c);
        return;
    }
    if !e2e::serve_available(&server_exe()) {
        eprintln!(
            "threadbench: SKIPPING the server benches: `{} serve` is not available",
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
        let models = selected(&suite, name, Some(size));
        if models.is_empty() {
            continue;
        }
        let w = workload::single(size).expect("generate file");
        group.throughput(Throughput::Bytes(size));
        let pt = Point {
            group: name,
            param: Some(size),
            workload: &w,
            conns,
            mode: ConnMode::Close,
            disk: false,
        };
        bench_point(&suite, &mut group, &models, &pt);
    }
    group.finish();

    let name = "server_conns";
    let mut group = suite.group(&mut c, name);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Bytes(1024));
    let sweep = suite.sweep(name);
    if sweep
        .iter()
        .any(|&n| !selected(&suite, name, Some(n)).is_empty())
    {
        let w = workload::single(1024).expect("generate file");
        for n in sweep {
            let pt = Point {
                group: name,
                param: Some(n),
                workload: &w,
                conns: n as usize,
                mode: ConnMode::KeepAlive,
                disk: false,
            };
            bench_point(&suite, &mut group, &selected(&suite, name, Some(n)), &pt);
        }
    }
    group.finish();

    let name = "server_specweb";
    let mut group = suite.group(&mut c, name);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(1));
    let models = selected(&suite, name, None);
    if !models.is_empty() {
        let w = workload::specweb96(p.specweb_dirs as usize, 1996).expect("generate SPECweb96 set");
        let pt = Point {
            group: name,
            param: None,
            workload: &w,
            conns,
            mode: ConnMode::KeepAlive,
            disk: false,
        };
        bench_point(&suite, &mut group, &models, &pt);
    }
    group.finish();

    let name = "server_disk";
    let mut group = suite.group(&mut c, name);
    group.sampling_mode(SamplingMode::Flat);
    for kib in suite.sweep(name) {
        let models = selected(&suite, name, Some(kib));
        if models.is_empty() {
            continue;
        }
        let w = workload::disk(kib * 1024, p.disk_files as usize).expect("generate disk set");
        group.throughput(Throughput::Bytes(kib * 1024));
        let pt = Point {
            group: name,
            param: Some(kib),
            workload: &w,
            conns,
            mode: ConnMode::KeepAlive,
            disk: true,
        };
        bench_point(&suite, &mut group, &models, &pt);
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
