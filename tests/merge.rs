//! Several load hosts, one exact result: two loads side by side against one server, each
//! written as an HdrHistogram interval log, merged by `threadbench merge` — the merged
//! percentiles equal the union of the two runs' raw latencies within the histogram's
//! precision (3 significant digits), never an average of the two runs' percentiles.

use std::path::Path;
use std::process::Command;
use threadbench::e2e::{self, ServerProcess};
use threadbench::load::{self, hist_log, workload, ConnMode, LoadJson, LoadReport};
use threadbench::profile::Profile;
use threadbench::server::Model;

const EXE: &str = env!("CARGO_BIN_EXE_threadbench");

/// The `q` quantile of sorted `v` as HdrHistogram counts it: the value at rank ⌈q·n⌉.
fn quantile(v: &[u64], q: f64) -> u64 {
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Within the histogram's precision: 3 significant digits, i.e. a bucket at most 1/1024 of
/// the value wide (reported as the bucket's highest value), plus a ns of rounding.
fn close(hist_us: f64, raw_ns: u64) -> bool {
    let raw_us = raw_ns as f64 / 1e3;
    (hist_us - raw_us).abs() <= raw_us * 2e-3 + 1e-3
}

fn merge_json(files: &[&Path]) -> LoadJson {
    let out = Command::new(EXE)
        .arg("merge")
        .args(files)
        .arg("--json")
        .output()
        .expect("run threadbench merge");
    assert!(
        out.status.success(),
        "merge: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("merge --json")
}

#[test]
fn two_loads_merged_equal_the_union_of_their_raw_latencies() {
    let w = workload::single(1024).expect("file set");
    let cfg = Profile::load("ci").expect("ci profile").server;
    let server = ServerProcess::start(Path::new(EXE), Model::Sped, w.docroot.path(), &[], &cfg)
        .expect("start sped");
    // Two "hosts" side by side, with different loads so their distributions differ.
    let runs: Vec<LoadReport> = std::thread::scope(|s| {
        let hosts: Vec<_> = [(2usize, 20_000u64), (32, 30_000)]
            .into_iter()
            .map(|(conns, requests)| {
                let mut spec = e2e::spec_for(server.addr, &w, conns, ConnMode::KeepAlive, &[]);
                spec.requests = Some(requests);
                spec.keep_latencies = true;
                s.spawn(move || load::run(&spec).expect("load"))
            })
            .collect();
        hosts.into_iter().map(|h| h.join().expect("host")).collect()
    });
    assert!(server.stop().expect("stop"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let files: Vec<_> = ["a", "b"]
        .iter()
        .zip(&runs)
        .map(|(tag, r)| {
            let f = dir.join(format!("{tag}.hlog"));
            hist_log::write(&f, r, &format!("host-{tag}")).expect("write log");
            f
        })
        .collect();
    let merged = merge_json(&[&files[0], &files[1]]);
    let mut union: Vec<u64> = runs
        .iter()
        .flat_map(|r| r.raw_latencies_ns.clone().expect("raw latencies kept"))
        .collect();
    union.sort_unstable();
    assert_eq!(merged.requests, 50_000);
    assert_eq!(union.len(), 50_000);
    assert_eq!(merged.errors, 0);
    let slowest = runs
        .iter()
        .map(|r| r.elapsed.as_secs_f64())
        .fold(0.0, f64::max);
    assert!(
        (merged.elapsed_s - slowest).abs() < 1e-6,
        "the slowest host's elapsed time"
    );
    eprintln!("            p50 µs    p99 µs    max µs   requests");
    for (name, r) in ["host a", "host b"].iter().zip(&runs) {
        let l = r.latency_us();
        eprintln!(
            "{name:10} {:9.1} {:9.1} {:9.1} {:10}",
            l.p50, l.p99, l.max, r.ok
        );
    }
    let l = &merged.latency_us;
    eprintln!(
        "merged     {:9.1} {:9.1} {:9.1} {:10}",
        l.p50, l.p99, l.max, merged.requests
    );
    let raw = |q: f64| quantile(&union, q) as f64 / 1e3;
    eprintln!(
        "raw union  {:9.1} {:9.1} {:9.1} {:10}",
        raw(0.5),
        raw(0.99),
        raw(1.0),
        union.len()
    );
    for (what, hist, q) in [
        ("p50", l.p50, 0.5),
        ("p90", l.p90, 0.9),
        ("p99", l.p99, 0.99),
        ("max", l.max, 1.0),
    ] {
        let exact = quantile(&union, q);
        assert!(
            close(hist, exact),
            "{what}: merged {hist} µs, raw union {exact} ns"
        );
    }
    assert!(close(l.min, union[0]), "min");
    std::fs::remove_dir_all(&dir).expect("remove logs");
}

#[test]
fn load_writes_a_log_that_merge_reads() {
    let w = workload::single(1024).expect("file set");
    let cfg = Profile::load("ci").expect("ci profile").server;
    let server = ServerProcess::start(Path::new(EXE), Model::Mt, w.docroot.path(), &[], &cfg)
        .expect("start mt");
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("load-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let log = dir.join("one.hlog");
    let out = Command::new(EXE)
        .args(["load", "--target", &server.addr.to_string(), "--path"])
        .arg(&w.files[0].path)
        .args([
            "--requests",
            "500",
            "--conns",
            "4",
            "--think-time",
            "200us",
            "--json",
        ])
        .arg("--hist-log")
        .arg(&log)
        .args(["--hist-tag", "loader one"])
        .output()
        .expect("run threadbench load");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: LoadJson = serde_json::from_slice(&out.stdout).expect("load --json");
    assert!(server.stop().expect("stop"));
    let text = std::fs::read_to_string(&log).expect("the log");
    assert!(
        text.contains("#[StartTime: ") && text.contains("\nTag=loader_one,0.000,"),
        "{text}"
    );
    // One host merged is that host: the same figures `load` printed.
    let merged = merge_json(&[&log]);
    assert_eq!(merged.requests, 500);
    assert_eq!(merged.latency_us, run.latency_us);
    assert!((merged.elapsed_s - run.elapsed_s).abs() < 1e-9);
    // Think time idles the connections: 500 requests over 4 connections, 200 µs each on
    // average between them, take at least ~25 ms.
    assert!(run.elapsed_s > 0.02, "{run:?}");
    // Not a log: a clear error, exit status 2.
    std::fs::write(dir.join("bad.hlog"), "hello\n").expect("write");
    let out = Command::new(EXE)
        .args(["merge"])
        .arg(dir.join("bad.hlog"))
        .output()
        .expect("merge");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("not written by `threadbench load --hist-log`"));
    std::fs::remove_dir_all(&dir).expect("remove");
}
