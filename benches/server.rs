//! End-to-end server groups, one table ([`GROUPS`]) over every [`Lane`] — our models and the
//! reference servers (Apache prefork/worker/event, nginx, lighttpd; the profile's `models`
//! keys choose which a group runs):
//! `server_file_size/<model>/<bytes>` (Connection: close), `server_conns/<model>/<n_conns>`
//! (keep-alive, 1 KiB), `server_specweb/<model>` (SPECweb96 set, warm cache) and
//! `server_disk/<model>/<kib>` (page cache evicted before each batch) and
//! `server_wan/<model>/<n_conns>` (keep-alive, 1 KiB, each connection thinking
//! `[params] wan_think_time_us` on average between requests: the Flash paper's WAN test, many
//! persistent and mostly idle connections standing in for slow clients).
//! In `server_disk` the server's mapped-file cache, summed over mp's processes (and sped_n's
//! loops), is a quarter of
//! the set: as in the Flash paper's disk-bound test, where the set exceeded memory, most
//! requests miss it and read evicted pages from disk (fadvise cannot evict a mapped file, so
//! without this bound the servers would keep the whole set in memory).
//! One iteration = one validated request. The server is `threadbench serve` (or the real
//! server, from a configuration written for the run) on the server cores; the load runs here
//! on the client cores. A reference lane whose program is missing is skipped with one line
//! naming its Debian package. With `[cores] network = "veth"` the server runs in a network
//! namespace of its own and the load in another (`threadbench::e2e::veth`; our models only).
//! See `threadbench::e2e` and `threadbench::reference`.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, SamplingMode, Throughput};
use threadbench::e2e::veth::{self, VethPair};
use threadbench::e2e::{self, SideMetrics};
use threadbench::harness::Suite;
use threadbench::ids::Group;
use threadbench::load::workload::{self, Workload};
use threadbench::load::ConnMode;
use threadbench::profile::{Network, Params};
use threadbench::reference::{Lane, Policy, RefServer};
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
    /// Each connection thinks `[params] wan_think_time_us` between requests.
    think: bool,
    /// The file set at parameter `p`.
    workload: fn(&Params, Option<u64>) -> std::io::Result<Workload>,
    /// Connections at parameter `p`.
    conns: fn(&Params, Option<u64>) -> usize,
    /// Criterion's throughput unit at parameter `p`.
    throughput: fn(Option<u64>) -> Throughput,
}

const GROUPS: [GroupSpec; 5] = [
    GroupSpec {
        group: Group::ServerFileSize,
        swept: true,
        mode: ConnMode::Close,
        disk: false,
        think: false,
        workload: |_, p| workload::single(p.unwrap_or(1024)),
        conns: |params, _| params.server_conns as usize,
        throughput: |p| Throughput::Bytes(p.unwrap_or(0)),
    },
    GroupSpec {
        group: Group::ServerConns,
        swept: true,
        mode: ConnMode::KeepAlive,
        disk: false,
        think: false,
        workload: |_, _| workload::single(1024),
        conns: |_, p| p.unwrap_or(1) as usize,
        throughput: |_| Throughput::Bytes(1024),
    },
    GroupSpec {
        group: Group::ServerSpecweb,
        swept: false,
        mode: ConnMode::KeepAlive,
        disk: false,
        think: false,
        workload: |params, _| workload::specweb96(params.specweb_dirs as usize, 1996),
        conns: |params, _| params.server_conns as usize,
        throughput: |_| Throughput::Elements(1),
    },
    GroupSpec {
        group: Group::ServerDisk,
        swept: true,
        mode: ConnMode::KeepAlive,
        disk: true,
        think: false,
        workload: |params, p| workload::disk(p.unwrap_or(4) * 1024, params.disk_files as usize),
        conns: |params, _| params.server_conns as usize,
        throughput: |p| Throughput::Bytes(p.unwrap_or(0) * 1024),
    },
    GroupSpec {
        group: Group::ServerWan,
        swept: true,
        mode: ConnMode::KeepAlive,
        disk: false,
        think: true,
        workload: |_, _| workload::single(1024),
        conns: |_, p| p.unwrap_or(1) as usize,
        throughput: |_| Throughput::Bytes(1024),
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

fn bench_id(lane: Lane, p: Option<u64>) -> BenchmarkId {
    match p {
        Some(p) => BenchmarkId::new(lane.name(), p),
        None => BenchmarkId::from_parameter(lane.name()),
    }
}

/// The lanes `group` runs: the profile's `models` for it (checked when the profile loaded),
/// else every lane.
fn lanes(suite: &Suite, group: Group) -> Vec<Lane> {
    match suite.profile.models(group) {
        Some(names) => names.iter().filter_map(|n| Lane::parse(n)).collect(),
        None => Lane::all(),
    }
}

/// The reference lanes this run selects whose program (or a file it needs) is missing, each
/// announced with one line naming its Debian package.
fn missing_reference_lanes(suite: &Suite) -> Vec<RefServer> {
    let mut selected: Vec<RefServer> = GROUPS
        .iter()
        .flat_map(|spec| {
            spec.params(suite).into_iter().flat_map(move |p| {
                lanes(suite, spec.group)
                    .into_iter()
                    .filter(move |l| suite.runs(&spec.group.id(l.name(), p)))
            })
        })
        .filter_map(|l| match l {
            Lane::Reference(r) => Some(r),
            Lane::Model(_) => None,
        })
        .collect();
    selected.sort();
    selected.dedup();
    selected
        .into_iter()
        .filter(|r| match r.locate() {
            Ok(_) => false,
            Err(m) => {
                eprintln!("threadbench: SKIPPING {m}");
                true
            }
        })
        .collect()
}

/// One (group, lane, param) benchmark against a server started for it (across `veth` in
/// the two-host mode).
fn bench_one(
    suite: &Suite,
    group: &mut BenchmarkGroup<'_, WallTime>,
    spec: &GroupSpec,
    lane: Lane,
    param: Option<u64>,
    w: &Workload,
    veth: Option<&VethPair>,
) {
    let id = spec.group.id(lane.name(), param);
    let mut cfg = suite.profile.server.clone();
    if spec.disk {
        let set: u64 = w.files.iter().map(|f| f.size).sum();
        // The same mapped bytes in every model: mp's processes and sped_n's loops each keep
        // their own cache.
        let owners = match lane {
            Lane::Model(Model::Mp) => cfg.processes as u64,
            Lane::Model(Model::SpedN) => sped_n::loop_count(cfg.loops, &suite.plan.server) as u64,
            _ => 1,
        };
        cfg.cache_bytes = cfg.cache_bytes.min(set / 4) / owners;
    }
    let probe = &w.files.first().expect("a file set has files").path;
    let server = e2e::start_lane(
        lane,
        &server_exe(),
        w.docroot.path(),
        probe,
        &suite.plan.server,
        &cfg,
        veth,
    )
    .unwrap_or_else(|e| panic!("{id}: start the server: {e}"));
    let params = &suite.profile.params;
    let conns = (spec.conns)(params, param);
    let mut load = e2e::spec_for(server.addr, w, conns, spec.mode, &suite.plan.client);
    if spec.think {
        load.think_time = Some(std::time::Duration::from_micros(params.wan_think_time_us));
    }
    if let Some(v) = veth {
        v.client_side(&mut load);
    }
    let mut side = SideMetrics::start(server.pid());
    group.bench_function(bench_id(lane, param), |b| {
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
            lane.name(),
            param,
            suite.profile.report.client_bound_util,
        )
        .expect("read the server's counters before stopping it")
    });
    if !server.stop().expect("stop server") {
        eprintln!("threadbench: {id}: server did not exit cleanly on SIGTERM (killed)");
    }
    let Some(mut rec) = rec else { return };
    rec.policy = Some(Policy::of(&cfg).describe());
    rec.network = veth.map(|_| Network::Veth.name().to_owned());
    if rec.client_bound {
        eprintln!(
            "threadbench: {id}: client-bound (client CPU {:.0} %)",
            rec.client_cpu_util * 100.0
        );
    }
    suite.save(SERVER_JSON, vec![rec]);
}

/// Whether the filter selects any server benchmark to measure.
fn measures_any(suite: &Suite) -> bool {
    GROUPS.iter().any(|spec| {
        spec.params(suite).into_iter().any(|p| {
            lanes(suite, spec.group)
                .iter()
                .any(|l| suite.measures(&spec.group.id(l.name(), p)))
        })
    })
}

/// Every group × point × lane the filter selects (lanes in `missing` skipped; across `veth`
/// our models only); under `--list` only the ids (no file set generated, no server started).
fn run_groups(
    suite: &Suite,
    c: &mut criterion::Criterion,
    missing: &[RefServer],
    veth: Option<&VethPair>,
) {
    let params = suite.profile.params.clone();
    // A model this machine cannot run (uring without io_uring) is skipped, with one line the
    // first time the filter selects it.
    let mut skipped: Vec<Model> = Vec::new();
    let mut said_veth = false;
    let mut runs_here = |m: Model| match m.available() {
        Ok(()) => true,
        Err(why) => {
            if !skipped.contains(&m) {
                skipped.push(m);
                eprintln!("threadbench: SKIPPING model {}: {why}", m.name());
            }
            false
        }
    };
    for spec in &GROUPS {
        let mut group = suite.group(c, spec.group);
        group.sampling_mode(SamplingMode::Flat);
        let lanes = lanes(suite, spec.group);
        for p in spec.params(suite) {
            if suite.listing() {
                for &lane in &lanes {
                    group.bench_function(bench_id(lane, p), |_| {});
                }
                continue;
            }
            let run: Vec<Lane> = lanes
                .iter()
                .copied()
                .filter(|l| !matches!(l, Lane::Reference(r) if missing.contains(r)))
                .filter(|l| suite.measures(&spec.group.id(l.name(), p)))
                .filter(|l| match (l, veth) {
                    (Lane::Reference(_), Some(_)) => {
                        if !std::mem::replace(&mut said_veth, true) {
                            eprintln!("threadbench: SKIPPING the reference lanes: network = \"veth\" runs our models only");
                        }
                        false
                    }
                    _ => true,
                })
                .filter(|l| !matches!(l, Lane::Model(m) if !runs_here(*m)))
                .collect();
            if run.is_empty() {
                continue; // filtered out: no file set, no server
            }
            let w = (spec.workload)(&params, p).expect("generate the file set");
            group.throughput((spec.throughput)(p));
            for lane in run {
                bench_one(suite, &mut group, spec, lane, p, &w, veth);
            }
        }
        group.finish();
    }
}

fn main() {
    let suite = Suite::start();
    let mut c = suite.criterion();
    if suite.test_mode {
        // Test mode runs each benchmark once, unmeasured: it would start a server per lane
        // and record nothing. tests/e2e.rs, tests/server_models.rs and tests/reference.rs
        // cover the servers; here only which reference lanes could not run.
        missing_reference_lanes(&suite);
        eprintln!("threadbench: test mode: the server benches start no server (see tests/e2e.rs, tests/reference.rs)");
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
    // Reference servers a killed run left, then its docroots and configuration directories.
    let killed = e2e::sweep_stale_reference_servers();
    if !killed.is_empty() {
        eprintln!("threadbench: stopped reference servers left by killed runs (process groups {killed:?})");
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
    // The two-host mode: a pair of network namespaces for the whole run, made only when a
    // server benchmark is measured.
    let stale = if suite.listing() {
        Vec::new()
    } else {
        veth::sweep_stale()
    };
    if !stale.is_empty() {
        eprintln!("threadbench: removed network namespaces left by killed runs: {stale:?}");
    }
    let two_hosts = suite.profile.cores.network == Network::Veth;
    let veth = if two_hosts && measures_any(&suite) {
        match VethPair::create() {
            Ok(v) => {
                eprintln!(
                    "threadbench: network = \"veth\": server in namespace {} ({}), load in {} ({})",
                    v.server_ns,
                    veth::SERVER_ADDR,
                    v.client_ns,
                    veth::CLIENT_ADDR
                );
                Some(v)
            }
            Err(e) => {
                eprintln!("threadbench: SKIPPING the server benches: network = \"veth\" needs two network namespaces (root, CONFIG_NET_NS, iproute2): {e}");
                suite.finish(c);
                return;
            }
        }
    } else {
        None
    };
    let missing = if suite.listing() || two_hosts {
        Vec::new()
    } else {
        missing_reference_lanes(&suite)
    };
    run_groups(&suite, &mut c, &missing, veth.as_ref());
    drop(veth);

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
