//! End-to-end server groups, one table ([`GROUPS`]) over every [`Model`]:
//! `server_file_size/<model>/<bytes>` (Connection: close), `server_conns/<model>/<n_conns>`
//! (keep-alive, 1 KiB), `server_specweb/<model>` (SPECweb96 set, warm cache) and
//! `server_disk/<model>/<kib>` (page cache evicted before each batch).
//! In `server_disk` the server's mapped-file cache, summed over mp's processes (and sped_n's
//! loops), is a quarter of the set: as in the Flash paper's disk-bound test, where the set
//! exceeded memory, most requests miss it and read evicted pages from disk (fadvise cannot
//! evict a mapped file, so without this bound the servers would keep the whole set in memory).
//! One iteration = one validated request. The server is `threadbench serve` on the server
//! cores; the load runs here on the client cores. See `threadbench::e2e`.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, SamplingMode, Throughput};
use threadbench::e2e::{self, ServerProcess, SideMetrics};
use threadbench::harness::Suite;
use threadbench::ids::Group;
use threadbench::load::workload::{self, Workload};
use threadbench::load::ConnMode;
use threadbench::profile::Params;
use threadbench::report::results::SERVER_JSON;
use threadbench::server::{sped_n, Model};

const EXE: &str = env!("CARGO_BIN_EXE_threadbench");

/// The program whose `serve` subcommand runs the servers: this crate's binary, or
/// `$THREADBENCH_SERVER_EXE` (same command-line contract) to bench another implementation.
fn server_exe() -> std::path::PathBuf {
    std::env::var_os("THREADBENCH_SERVER_EXE").map_or_else(|| EXE.into(), Into::into)
}

/// How a server group loads the server.
struct GroupSpec {
    group: Group,
    /// Swept (its parameter is the profile's sweep) or one point.
    swept: bool,
    mode: ConnMode,
    /// Evict the set before each batch and bound the server's mapped-file cache.
    disk: bool,
    /// The file set at parameter `p`.
    workload: fn(&Params, Option<u64>) -> std::io::Result<Workload>,
    /// Connections at parameter `p`.
    conns: fn(&Params, Option<u64>) -> usize,
    /// Criterion's throughput unit at parameter `p`.
    throughput: fn(Option<u64>) -> Throughput,
}

const GROUPS: [GroupSpec; 4] = [
    GroupSpec {
        group: Group::ServerFileSize,
        swept: true,
        mode: ConnMode::Close,
        disk: false,
        workload: |_, p| workload::single(p.unwrap_or(1024)),
        conns: |params, _| params.server_conns as usize,
        throughput: |p| Throughput::Bytes(p.unwrap_or(0)),
    },
    GroupSpec {
        group: Group::ServerConns,
        swept: true,
        mode: ConnMode::KeepAlive,
        disk: false,
        workload: |_, _| workload::single(1024),
        conns: |_, p| p.unwrap_or(1) as usize,
        throughput: |_| Throughput::Bytes(1024),
    },
    GroupSpec {
        group: Group::ServerSpecweb,
        swept: false,
        mode: ConnMode::KeepAlive,
        disk: false,
        workload: |params, _| workload::specweb96(params.specweb_dirs as usize, 1996),
        conns: |params, _| params.server_conns as usize,
        throughput: |_| Throughput::Elements(1),
    },
    GroupSpec {
        group: Group::ServerDisk,
        swept: true,
        mode: ConnMode::KeepAlive,
        disk: true,
        workload: |params, p| workload::disk(p.unwrap_or(4) * 1024, params.disk_files as usize),
        conns: |params, _| params.server_conns as usize,
        throughput: |p| Throughput::Bytes(p.unwrap_or(0) * 1024),
    },
];

impl GroupSpec {
    fn params(&self, suite: &Suite) -> Vec<Option<u64>> {
        if self.swept {
            suite.sweep(self.group).into_iter().map(Some).collect()
        } else {
            vec![None]
        }
    }
}

fn bench_id(model: Model, p: Option<u64>) -> BenchmarkId {
    match p {
        Some(p) => BenchmarkId::new(model.name(), p),
        None => BenchmarkId::from_parameter(model.name()),
    }
}

/// One (group, model, param) benchmark against a server started for it.
fn bench_one(
    suite: &Suite,
    group: &mut BenchmarkGroup<'_, WallTime>,
    spec: &GroupSpec,
    model: Model,
    param: Option<u64>,
    w: &Workload,
) {
    let id = spec.group.id(model.name(), param);
    let mut cfg = suite.profile.server.clone();
    if spec.disk {
        let set: u64 = w.files.iter().map(|f| f.size).sum();
        // The same mapped bytes in every model: mp's processes and sped_n's loops each keep
        // their own cache.
        let owners = match model {
            Model::Mp => cfg.processes as u64,
            Model::SpedN => sped_n::loop_count(cfg.loops, &suite.plan.server) as u64,
            _ => 1,
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
    let conns = (spec.conns)(&suite.profile.params, param);
    let load = e2e::spec_for(server.addr, w, conns, spec.mode, &suite.plan.client);
    let mut side = SideMetrics::start(server.pid());
    group.bench_function(bench_id(model, param), |b| {
        b.iter_custom(|iters| {
            let o = if spec.disk {
                e2e::run_disk_requests(&load, w, iters, &mut side)
            } else {
                e2e::run_requests(&load, iters, &mut side)
            };
            o.expect("load run").checked(iters)
        })
    });
    // The server's counters are read while it still runs.
    let rec = (side.requests() > 0).then(|| {
        side.finish(
            spec.group.name(),
            model.name(),
            param,
            suite.profile.report.client_bound_util,
        )
        .expect("read the server's counters before stopping it")
    });
    if !server.stop().expect("stop server") {
        eprintln!("threadbench: {id}: server did not exit cleanly on SIGTERM (killed)");
    }
    let Some(rec) = rec else { return };
    if rec.client_bound {
        eprintln!(
            "threadbench: {id}: client-bound (client CPU {:.0} %)",
            rec.client_cpu_util * 100.0
        );
    }
    suite.save(SERVER_JSON, vec![rec]);
}

/// Every group × point × model the filter selects; under `--list` only the ids (no file set
/// generated, no server started).
fn run_groups(suite: &Suite, c: &mut criterion::Criterion) {
    let params = suite.profile.params.clone();
    for spec in &GROUPS {
        let mut group = suite.group(c, spec.group);
        group.sampling_mode(SamplingMode::Flat);
        for p in spec.params(suite) {
            if suite.listing() {
                for model in Model::ALL {
                    group.bench_function(bench_id(model, p), |_| {});
                }
                continue;
            }
            let models: Vec<Model> = Model::ALL
                .into_iter()
                .filter(|m| suite.measures(&spec.group.id(m.name(), p)))
                .collect();
            if models.is_empty() {
                continue; // filtered out: no file set, no server
            }
            let w = (spec.workload)(&params, p).expect("generate the file set");
            group.throughput((spec.throughput)(p));
            for model in models {
                bench_one(suite, &mut group, spec, model, p, &w);
            }
        }
        group.finish();
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
    if !suite.listing() && !e2e::serve_available(&server_exe()) {
        eprintln!(
            "threadbench: SKIPPING the server benches: `{} serve` is not available",
            server_exe().display()
        );
        suite.finish(c);
        return;
    }
    // Docroots an interrupted run left (SIGINT/SIGKILL skip their drop) go first.
    match workload::TempDocroot::sweep_stale() {
        Ok(v) if !v.is_empty() => eprintln!(
            "threadbench: removed {} docroot(s) left by interrupted runs in {}",
            v.len(),
            std::env::temp_dir().display()
        ),
        Ok(_) => {}
        Err(e) => eprintln!("threadbench: warning: cannot sweep stale docroots: {e}"),
    }
    run_groups(&suite, &mut c);

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
