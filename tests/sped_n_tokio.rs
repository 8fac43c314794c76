//! What only `sped_n` and `tokio` promise (issue 16); the shared tables of
//! `tests/server_models.rs` and `tests/robustness.rs` run them like every other model.
//!
//! - `sped_n` with 2 loops on one core: both loop processes serve, each at least a quarter
//!   of the requests of a 64-connection run (counted by each loop at its exit:
//!   `loop=I pid=P loop_requests=N` on stderr, summed by the parent's `requests=`), both pinned
//!   to that core; with 1 loop it is one sped process serving every request.
//! - `tokio`: one worker thread per server core, each pinned to its core, blocking-pool threads
//!   on all the server cores, and all of them threads of the server process (its tree stats
//!   count them); a stop leaves nothing.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use threadbench::load::{self, ConnMode, LoadSpec};
use threadbench::sys::process::ChildGuard;

mod common;

struct Server {
    guard: ChildGuard,
    addr: SocketAddr,
}

fn start(root: &Path, args: &[&str]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_threadbench"));
    cmd.args(["--profile", "ci", "serve", "--docroot"])
        .arg(root)
        .args(args);
    let (guard, addr) = common::listening(&mut cmd, &format!("{args:?}"));
    Server { guard, addr }
}

/// SIGTERM: exit 0 within 1 s, no descendant left; returns stderr.
fn stop(mut s: Server) -> String {
    common::stop_within(&mut s.guard, Duration::from_secs(1), "serve")
}

fn load_run(addr: SocketAddr, path: &str, conns: usize, requests: u64) -> u64 {
    let expected = load::probe(addr, path, Duration::from_secs(5)).expect("probing");
    let mut spec = LoadSpec::new(addr, vec![expected]);
    spec.conns = conns;
    spec.mode = ConnMode::KeepAlive;
    spec.requests = Some(requests);
    spec.deadline = Duration::from_secs(30);
    spec.checksum_every = 1;
    let r = load::run(&spec).expect("load run");
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(r.ok, requests);
    r.ok
}

/// `Cpus_allowed_list` of a process or thread (`/proc/<pid>[/task/<tid>]/status`).
fn allowed_list(status_path: &Path) -> String {
    let st = std::fs::read_to_string(status_path).expect("reading status");
    st.lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list")
        .trim()
        .to_owned()
}

/// The `loop=I pid=P loop_requests=N` lines of a stopped sped_n: (loop, pid, requests).
fn loop_lines(err: &str) -> Vec<(usize, i32, u64)> {
    err.lines()
        .filter(|l| l.contains(" loop="))
        .map(|l| {
            let field = |name: &str| -> u64 {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("no {name} in {l:?}"))
            };
            (
                field("loop") as usize,
                field("pid") as i32,
                field("loop_requests"),
            )
        })
        .collect()
}

/// The shared tables iterate over the model registry: both models are in it.
#[test]
fn both_models_are_in_the_registry_the_shared_tests_use() {
    let models = common::models();
    for m in ["sped_n", "tokio"] {
        assert!(models.contains(&m), "{m} missing from {models:?}");
    }
}

fn first_cpu() -> usize {
    threadbench::sys::cpu::allowed_cpus().expect("allowed CPUs")[0]
}

/// Issue 16's bar: `sped_n` with N = 2 on one core — both processes serve, each at least 25 %
/// of the requests of a 64-connection run.
#[test]
fn sped_n_two_loops_on_one_core_each_serve_a_quarter() {
    let root = common::docroot("sped_n_tokio", "two");
    let cpu = first_cpu().to_string();
    let srv = start(
        &root.0,
        &["--model", "sped_n", "--loops", "2", "--cores", &cpu],
    );
    let loops = threadbench::procfs::descendants(srv.guard.pid().as_raw());
    assert_eq!(loops.len(), 2, "two loop processes: {loops:?}");
    for p in &loops {
        let allowed = allowed_list(&Path::new("/proc").join(p.to_string()).join("status"));
        assert_eq!(allowed, cpu, "loop process {p} not pinned to CPU {cpu}");
    }
    let ok = load_run(srv.addr, "/a.bin", 64, 6400);
    let err = stop(srv);
    let lines = loop_lines(&err);
    let mut pids: Vec<i32> = lines.iter().map(|l| l.1).collect();
    pids.sort_unstable();
    let mut want = loops.clone();
    want.sort_unstable();
    assert_eq!(pids, want, "one report per loop process: {err}");
    let total: u64 = lines.iter().map(|l| l.2).sum();
    assert_eq!(total, common::counter(&err, "requests"), "{err}");
    // The load's requests and its probe's.
    assert_eq!(total, ok + 1, "{err}");
    for (idx, pid, n) in &lines {
        eprintln!(
            "sped_n loop {idx} (pid {pid}): {n} of {total} requests ({:.1} %)",
            100.0 * *n as f64 / total as f64
        );
        assert!(
            4 * n >= total,
            "loop {idx} served {n} of {total} requests (< 25 %): {err}"
        );
    }
}

/// `sped_n` with one loop: one sped process, pinned, that serves every request.
#[test]
fn sped_n_one_loop_is_one_sped_process() {
    let root = common::docroot("sped_n_tokio", "one");
    let cpu = first_cpu().to_string();
    let srv = start(
        &root.0,
        &["--model", "sped_n", "--loops", "1", "--cores", &cpu],
    );
    let loops = threadbench::procfs::descendants(srv.guard.pid().as_raw());
    assert_eq!(loops.len(), 1, "one loop process: {loops:?}");
    let ok = load_run(srv.addr, "/b.txt", 4, 400);
    let err = stop(srv);
    let lines = loop_lines(&err);
    assert_eq!(lines, [(0, loops[0], ok + 1)], "{err}");
    assert_eq!(common::counter(&err, "requests"), ok + 1, "{err}");
    assert_eq!(common::counter(&err, "helper_jobs"), 0, "{err}");
}

/// `tokio`: W = server cores workers, each pinned to a core of its own, the blocking pool's threads
/// (a translation miss is looked up on one) on all the server cores, every one a thread of the
/// server process in its tree stats; the counters count the blocking jobs.
#[test]
fn tokio_workers_are_pinned_and_blocking_threads_counted() {
    let root = common::docroot("sped_n_tokio", "tokio");
    let cpus = threadbench::sys::cpu::allowed_cpus().expect("allowed CPUs");
    let cores: Vec<usize> = cpus.iter().copied().take(2).collect();
    let list: Vec<String> = cores.iter().map(|c| c.to_string()).collect();
    let srv = start(
        &root.0,
        &[
            "--model",
            "tokio",
            "--cores",
            &list.join(","),
            "--helpers",
            "2",
        ],
    );
    let pid = srv.guard.pid().as_raw();
    // Three distinct paths: three lookups on the blocking pool.
    for path in ["/a.bin", "/b.txt", "/index.html"] {
        load_run(srv.addr, path, 2, 20);
    }
    let task_dir = Path::new("/proc").join(pid.to_string()).join("task");
    let mut worker_cores = Vec::new();
    let mut blocking = 0;
    let mut tasks = 0u64;
    for t in std::fs::read_dir(&task_dir).expect("task dir").flatten() {
        tasks += 1;
        let comm = std::fs::read_to_string(t.path().join("comm")).expect("comm");
        if !comm.starts_with("tokio-") {
            continue; // the main thread
        }
        let allowed = threadbench::pin::parse_cpu_list(&allowed_list(&t.path().join("status")))
            .expect("cpu list");
        if allowed == cores {
            blocking += 1;
        } else {
            assert_eq!(allowed.len(), 1, "{}: pinned to {allowed:?}", comm.trim());
            worker_cores.push(allowed[0]);
        }
    }
    worker_cores.sort_unstable();
    if cores.len() > 1 {
        assert_eq!(worker_cores, cores, "one worker pinned to each server core");
    } else {
        // One core: a worker's pin and the blocking threads' set are the same.
        blocking -= 1;
    }
    assert!(
        (1..=2).contains(&blocking),
        "blocking-pool threads: {blocking} (at least one lookup ran, at most --helpers 2)"
    );
    let stats = threadbench::server::stats::tree_stats(pid).expect("tree stats");
    assert_eq!(
        stats.threads, tasks,
        "tree stats count every runtime thread"
    );
    assert_eq!(stats.processes, 1);
    let err = stop(srv);
    assert_eq!(common::counter(&err, "translate_jobs"), 3, "{err}");
    assert_eq!(common::counter(&err, "requests"), 3 * 21, "{err}");
}

/// The server bench's path for both models, unmeasured (a test, not a timing): started as the
/// bench starts it (`e2e::ServerProcess`, the `ci` profile's pools, sped_n with 2 loops),
/// loaded keep-alive on a warm file and on an evicted disk set, its side metrics read from
/// the whole process tree (sped_n: parent + 2 loops; tokio: one process), stopped cleanly.
#[test]
fn the_bench_path_serves_and_records_both_models() {
    use threadbench::e2e::{self, ServerProcess, SideMetrics};
    use threadbench::load::workload;
    use threadbench::server::Model;
    let profile = threadbench::profile::Profile::load("ci").expect("ci profile");
    let mut cfg = profile.server.clone();
    cfg.loops = 2;
    let cores = [first_cpu()];
    let warm = workload::single(1024).expect("a 1 KiB file");
    let disk = workload::disk(16 * 1024, 8).expect("a disk set");
    for (model, processes) in [(Model::SpedN, 3), (Model::Tokio, 1)] {
        for (w, evict) in [(&warm, false), (&disk, true)] {
            let exe = Path::new(env!("CARGO_BIN_EXE_threadbench"));
            let server = ServerProcess::start(exe, model, w.docroot.path(), &cores, &cfg)
                .expect("start threadbench serve");
            let spec = e2e::spec_for(server.addr, w, 16, ConnMode::KeepAlive, &[]);
            let mut side = SideMetrics::start(server.pid());
            let o = if evict {
                e2e::run_disk_requests(&spec, w, 200, &mut side)
            } else {
                e2e::run_requests(&spec, 200, &mut side)
            }
            .expect("load run");
            assert_eq!(o.completed, 200, "{model}");
            let rec = side
                .finish("server_test", model.name(), None, 0.9)
                .expect("side metrics");
            assert_eq!((rec.requests, rec.errors), (200, 0), "{model}");
            assert_eq!(rec.server_processes, processes, "{model}");
            assert!(rec.server_rss_bytes > 0, "{model}");
            assert!(server.stop().expect("stop"), "{model}: unclean stop");
        }
    }
}
