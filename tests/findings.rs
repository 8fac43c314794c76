//! The findings generator, fed fixture result trees written into a temp dir: every claim
//! holds in one, fails in another, and is reported as not measured (naming what is missing)
//! when its inputs are absent.

use serde_json::json;
use std::path::{Path, PathBuf};
use threadbench::report::findings::{findings, findings_html, findings_markdown, Results, Verdict};
use threadbench::report::results::{
    criterion_written_since, Artefact, CriterionRecord, Paths, Provenance, SideRecord,
};
use threadbench::report::server_results::ServerRecord;

/// A run with a fixed id and start time.
fn run(id: &str, started_at: u64) -> Provenance {
    Provenance::fixture(id, started_at, "ci")
}

/// A temp dir removed on drop (also when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p =
            std::env::temp_dir().join(format!("threadbench-findings-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("criterion")).expect("create criterion dir");
        std::fs::create_dir_all(p.join("threadbench")).expect("create threadbench dir");
        TempDir(p)
    }
    fn criterion(&self) -> PathBuf {
        self.0.join("criterion")
    }
    fn threadbench(&self) -> PathBuf {
        self.0.join("threadbench")
    }
    fn paths(&self) -> Paths {
        Paths::under(&self.0)
    }
    /// Records everything in the fixture's criterion tree as one run's `criterion.json` (what
    /// the harness does at the end of a run), then loads the results.
    fn load(&self) -> Results {
        let paths = self.paths();
        let groups: Vec<String> = std::fs::read_dir(&paths.criterion)
            .expect("criterion dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let recs = criterion_written_since(&paths.criterion, &groups, std::time::UNIX_EPOCH);
        let file = paths.file("criterion.json");
        let _ = std::fs::remove_file(&file);
        Artefact::merge_into(&file, &run("fixture", 1000), recs).expect("write criterion.json");
        Results::load(&paths).expect("load fixture results")
    }
    /// Adds server records measured by the fixture's run.
    fn server(&self, recs: Vec<ServerRecord>) {
        Artefact::merge_into(
            &self.paths().file("server.json"),
            &run("fixture", 1000),
            recs,
        )
        .expect("write server.json");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes criterion's files for `id` with median `ns` (the layout criterion 0.8 writes).
fn put(root: &Path, id: &str, ns: f64) {
    let dir = root.join(id).join("new");
    std::fs::create_dir_all(&dir).expect("create bench dir");
    let parts: Vec<&str> = id.split('/').collect();
    let bench = json!({"group_id": parts[0], "function_id": parts.get(1), "value_str": parts.get(2),
        "full_id": id, "directory_name": id, "title": id});
    let est = |v: f64| json!({"confidence_interval": {"confidence_level": 0.95, "lower_bound": v, "upper_bound": v}, "point_estimate": v, "standard_error": 0.0});
    let estimates = json!({"mean": est(ns * 1.01), "median": est(ns), "median_abs_dev": est(1.0), "slope": null, "std_dev": est(1.0)});
    std::fs::write(dir.join("benchmark.json"), bench.to_string()).expect("write benchmark.json");
    std::fs::write(dir.join("estimates.json"), estimates.to_string())
        .expect("write estimates.json");
}

/// A full run where every claim holds (`bad == false`) or every claim fails (`bad == true`).
fn fixture(t: &TempDir, bad: bool) {
    let c = t.criterion();
    let b = |good: f64, worse: f64| if bad { worse } else { good };
    put(&c, "spawn/thread_spawn_join", b(20e3, 200e3));
    put(&c, "spawn/fork_exit_wait", 150e3);
    put(&c, "spawn_rss/fork_exit_wait/1", 150e3);
    put(&c, "spawn_rss/fork_exit_wait/64", 1e6);
    put(&c, "spawn_rss/posix_spawn_wait/1", 500e3);
    put(&c, "spawn_rss/posix_spawn_wait/64", b(510e3, 1e6));
    put(&c, "ctx_switch_same_core/pipe_thread", 3000.0);
    put(&c, "ctx_switch_same_core/pipe_process", 3500.0);
    put(&c, "ctx_switch_cross_core/pipe_thread", b(9000.0, 2000.0));
    put(&c, "sync_critical_section/std_mutex/1000", b(100.0, 10e3));
    put(&c, "sync_critical_section/spinlock_ttas/1000", 5000.0);
    put(&c, "sync_false_sharing/padded/2", 2.0);
    put(&c, "sync_false_sharing/packed/2", 10.0);
    for f in ["select", "poll"] {
        put(&c, &format!("event_scan_fds/{f}/1"), 300.0);
        put(&c, &format!("event_scan_fds/{f}/1000"), 100e3);
    }
    put(&c, "event_scan_fds/epoll/1", 200.0);
    put(&c, "event_scan_fds/epoll/1000", b(220.0, 100e3));
    put(&c, "event_scan_active/epoll/1", 200.0);
    put(&c, "event_scan_active/epoll/100", 5000.0);
    put(&c, "server_specweb/sped", b(10e3, 20e3));
    put(&c, "server_specweb/amped", 10.2e3);
    put(&c, "server_specweb/mt", 12e3);
    // Claim 13: apache_prefork slower than every event-driven lane (sped, amped, nginx,
    // lighttpd) on SPECweb and at the most connections; in the bad run sped is slower.
    put(&c, "server_specweb/apache_prefork", 16e3);
    put(&c, "server_specweb/nginx", 11e3);
    put(&c, "server_specweb/lighttpd", 12e3);
    put(&c, "server_conns/apache_prefork/64", 12e3);
    put(&c, "server_conns/apache_prefork/1024", 25e3);
    put(&c, "server_conns/lighttpd/1024", 12e3);
    put(&c, "server_disk/amped/64", b(100e3, 400e3));
    put(&c, "server_disk/sped/64", 400e3);
    for (m, hi) in [
        ("mp", 30e3),
        ("mt", 15e3),
        ("sped", b(10.5e3, 30e3)),
        ("amped", 10.6e3),
    ] {
        put(&c, &format!("server_conns/{m}/64"), 10e3);
        put(&c, &format!("server_conns/{m}/1024"), hi);
    }
    for (idle, blocking, threads) in [
        (0, 20e3, 21e3),
        (2, 22.5e3, 22e3),
        (5, 25e3, 21e3),
        (20, 40e3, 21e3),
    ] {
        put(&c, &format!("latency_hiding/blocking/{idle}"), blocking);
        put(
            &c,
            &format!("latency_hiding/threads/{idle}"),
            b(threads, blocking),
        );
    }
    for split in ["threads", "processes"] {
        put(&c, &format!("matmul/{split}/1"), 100.0);
        put(&c, &format!("matmul/{split}/2"), 52.0);
        put(&c, &format!("matmul/{split}/4"), b(51.0, 20.0));
    }
    t.server(vec![
        server_record("server_conns", "sped", Some(64), b(4e6, 400e6), 0.1, 10.0),
        server_record("server_conns", "amped", Some(64), 6e6, 0.2, 10.0),
        server_record("server_conns", "mp", Some(64), 200e6, 2.0, 10.0),
        server_record("server_conns", "mt", Some(64), 30e6, 1.5, 10.0),
    ]);
    let toy = |total: f64, avg: f64| {
        json!({"total_units": total, "average_units": avg, "virtual_total_units": total,
               "virtual_average_units": avg, "work_mode": "sleep_then_spin", "unit_us": 100})
    };
    let models = vec![
        SideRecord::new(
            "models_toyshop",
            "models_toyshop/boss_worker",
            toy(360.0, 196.4),
        ),
        SideRecord::new(
            "models_toyshop",
            "models_toyshop/pipeline",
            toy(b(320.0, 400.0), 220.0),
        ),
        SideRecord::new(
            "latency_hiding",
            "latency_hiding",
            json!({"cores": 2, "ctx_switch_ns": 1500.0, "crossover_idle_us": null}),
        ),
    ];
    Artefact::merge_into(
        &t.paths().file("models.json"),
        &run("fixture", 1000),
        models,
    )
    .expect("write models.json");
}

/// A server record with the figures the claims read (client CPU 50 %: not client-bound).
fn server_record(
    group: &str,
    model: &str,
    param: Option<u64>,
    pss: f64,
    cs: f64,
    cpu_us: f64,
) -> ServerRecord {
    serde_json::from_value(json!({
        "group": group, "model": model, "param": param, "requests": 1000, "errors": 0,
        "req_per_s": 1e5, "mb_per_s": 100.0,
        "latency_us": {"min":1.0,"mean":1.0,"p50":1.0,"p90":1.0,"p95":1.0,"p99":1.0,"p999":1.0,"max":1.0},
        "server_cpu_us_per_req": cpu_us, "server_rss_bytes": pss as u64, "server_pss_bytes": pss as u64,
        "server_processes": 1, "voluntary_ctx_per_req": cs, "involuntary_ctx_per_req": 0.0,
        "client_cpu_util": 0.5, "client_bound": false, "measured_at": 0}))
    .expect("server record")
}

#[test]
fn every_claim_holds_on_a_run_that_shows_it() {
    let t = TempDir::new("holds");
    fixture(&t, false);
    let r = t.load();
    for f in findings(&r) {
        assert_eq!(
            f.verdict,
            Verdict::Holds,
            "claim {}: {:?}",
            f.number,
            f.evidence
        );
        assert!(!f.evidence.is_empty());
    }
    assert!(findings_markdown(&r).contains("**Verdict: holds**"));
    assert!(findings_html(&r).contains("<tr class=\"holds\">"));
}

#[test]
fn every_claim_fails_on_a_run_that_contradicts_it() {
    let t = TempDir::new("fails");
    fixture(&t, true);
    for f in findings(&t.load()) {
        assert_eq!(
            f.verdict,
            Verdict::DoesNotHold,
            "claim {}: {:?}",
            f.number,
            f.evidence
        );
    }
}

#[test]
fn missing_results_are_not_measured_and_say_what_is_missing() {
    let t = TempDir::new("missing");
    let all = findings(&t.load());
    assert_eq!(all.len(), 13);
    for f in &all {
        assert!(
            matches!(f.verdict, Verdict::NotMeasured(_)),
            "claim {}",
            f.number
        );
    }
    // One ID removed from a full run: only its claim turns to "not measured", naming it.
    fixture(&t, false);
    std::fs::remove_dir_all(t.criterion().join("spawn/fork_exit_wait")).expect("remove one result");
    std::fs::remove_file(t.threadbench().join("server.json")).expect("remove server.json");
    let f = findings(&t.load());
    assert_eq!(
        f[0].verdict,
        Verdict::NotMeasured("missing spawn/fork_exit_wait".into())
    );
    assert!(matches!(&f[5].verdict, Verdict::NotMeasured(why) if why.contains("server.json")));
    assert_eq!(f[1].verdict, Verdict::Holds);
    assert!(findings_markdown(&t.load())
        .contains("not measured in this run (missing spawn/fork_exit_wait)"));
}

#[test]
fn a_sweep_without_the_needed_range_is_not_measured() {
    let t = TempDir::new("range");
    fixture(&t, false);
    // server_conns only up to 64 connections: nothing to say about "above ~200".
    for m in ["mp", "mt", "sped", "amped"] {
        std::fs::remove_dir_all(t.criterion().join(format!("server_conns/{m}/1024")))
            .expect("remove");
        put(&t.criterion(), &format!("server_conns/{m}/1"), 9e3);
    }
    let f = findings(&t.load());
    assert!(
        matches!(&f[8].verdict, Verdict::NotMeasured(why) if why.contains("above 200")),
        "{:?}",
        f[8].verdict
    );
}

#[test]
fn results_of_an_earlier_run_are_ignored() {
    let t = TempDir::new("stale");
    fixture(&t, false);
    assert_eq!(findings(&t.load())[11].verdict, Verdict::Holds);
    // A point only an earlier run (say, another profile) measured: 3 workers, 10× faster.
    let file = t.paths().file("criterion.json");
    let point = |run_id: &str| CriterionRecord {
        id: "matmul/threads/3".into(),
        group: "matmul".into(),
        function: "threads".into(),
        param: Some("3".into()),
        median_ns: 10.0,
        median_lower_ns: 9.0,
        median_upper_ns: 11.0,
        throughput: None,
        run_id: run_id.into(),
    };
    Artefact::merge_into(&file, &run("earlier", 500), vec![point("")]).expect("merge");
    let r = Results::load(&t.paths()).expect("load");
    assert!(!r.medians.contains_key("matmul/threads/3"));
    assert_eq!(findings(&r)[11].verdict, Verdict::Holds);
    assert!(!findings_markdown(&r).contains("Groups come from several runs"));
    // Measured in the group's latest run, the same point counts (and breaks "no further").
    Artefact::merge_into(&file, &run("fixture", 1000), vec![point("")]).expect("merge");
    let r = Results::load(&t.paths()).expect("load");
    assert_eq!(findings(&r)[11].verdict, Verdict::DoesNotHold);
}

#[test]
fn client_bound_throughput_is_judged_on_server_cpu_or_not_at_all() {
    let t = TempDir::new("client-bound");
    fixture(&t, false);
    let _ = t.load();
    // The medians say "holds"; the generator was the limit for sped at 64 connections, and the
    // server's CPU per request shows sped's capacity falling 3× — claim 9 must follow the CPU.
    let mut bound = server_record("server_conns", "sped", Some(64), 4e6, 0.1, 10.0);
    bound.client_bound = true;
    bound.client_cpu_util = 0.97;
    let mut recs = vec![bound];
    for (m, lo, hi) in [
        ("mp", 10.0, 30.0),
        ("mt", 10.0, 15.0),
        ("amped", 10.0, 10.6),
    ] {
        recs.push(server_record("server_conns", m, Some(64), 6e6, 0.2, lo));
        recs.push(server_record("server_conns", m, Some(1024), 6e6, 0.2, hi));
    }
    recs.push(server_record(
        "server_conns",
        "sped",
        Some(1024),
        4e6,
        0.1,
        30.0,
    ));
    t.server(recs);
    let f = findings(&Results::load(&t.paths()).expect("load"));
    assert_eq!(f[8].verdict, Verdict::DoesNotHold, "{:?}", f[8].evidence);
    assert!(
        f[8].evidence
            .iter()
            .any(|e| e.contains("server CPU per request") && e.contains("server_conns/sped/64")),
        "{:?}",
        f[8].evidence
    );
    // A disk-bound claim cannot be judged on CPU: not measurable on this machine.
    let mut disk = server_record("server_disk", "sped", Some(64), 4e6, 0.1, 30.0);
    disk.client_bound = true;
    t.server(vec![disk]);
    let f = findings(&Results::load(&t.paths()).expect("load"));
    assert!(
        matches!(&f[7].verdict, Verdict::NotMeasurable(why) if why.contains("server_disk/sped/64")),
        "{:?}",
        f[7].verdict
    );
    assert!(findings_markdown(&Results::load(&t.paths()).expect("load"))
        .contains("not measurable on this machine"));
}

#[test]
fn event_driven_vs_apache_names_its_lanes_and_what_was_not_measured() {
    let t = TempDir::new("apache");
    fixture(&t, false);
    let r = t.load();
    let f = &findings(&r)[12];
    assert_eq!(f.verdict, Verdict::Holds, "{:?}", f.evidence);
    // At the most connections all required lanes share (1024); nginx was not measured there.
    assert!(
        f.evidence[1].starts_with("server_conns/*/1024: throughput relative to apache_prefork")
            && f.evidence[1].contains("sped 2.38×")
            && f.evidence[1].contains("lighttpd 2.08×")
            && f.evidence[1].contains("(nginx not measured)"),
        "{:?}",
        f.evidence
    );
    assert!(f.evidence[0].contains("nginx 1.45×"), "{:?}", f.evidence);
    // Without Apache prefork: not measured, naming it.
    std::fs::remove_dir_all(t.criterion().join("server_conns/apache_prefork")).expect("remove");
    let f = &findings(&t.load())[12];
    assert!(
        matches!(&f.verdict, Verdict::NotMeasured(w) if w.contains("apache_prefork")),
        "{:?}",
        f.verdict
    );
    // The twin table is in findings.md, with a pair this build cannot measure.
    let md = findings_markdown(&t.load());
    assert!(
        md.contains("## Twins: our models beside real servers"),
        "{md}"
    );
    assert!(md.contains("| server_specweb/* | mt |"), "{md}");
}

#[test]
fn many_connections_is_rejudged_under_think_time() {
    let t = TempDir::new("wan");
    fixture(&t, false);
    let c = t.criterion();
    // Under think time MP keeps its throughput and MT declines most: the claim holds on
    // server_conns and not on server_wan, so not at all.
    for (m, hi) in [
        ("mp", 10e3),
        ("mt", 30e3),
        ("sped", 10.5e3),
        ("amped", 10.6e3),
    ] {
        put(&c, &format!("server_wan/{m}/64"), 10e3);
        put(&c, &format!("server_wan/{m}/1024"), hi);
    }
    let f = &findings(&t.load())[8];
    assert_eq!(f.verdict, Verdict::DoesNotHold, "{:?}", f.evidence);
    for line in [
        "server_conns: holds",
        "server_wan: does not hold",
        "server_wan/mp: throughput at 1024 conns = 1.00× that at 64 conns",
    ] {
        assert!(
            f.evidence.iter().any(|e| e == line),
            "{line}: {:?}",
            f.evidence
        );
    }
    // A WAN run that shows the paper's curve: holds on both.
    put(&c, "server_wan/mp/1024", 40e3);
    put(&c, "server_wan/mt/1024", 15e3);
    let f = &findings(&t.load())[8];
    assert_eq!(f.verdict, Verdict::Holds, "{:?}", f.evidence);
    // Without server_wan the claim is judged on server_conns and says what is missing.
    std::fs::remove_dir_all(c.join("server_wan")).expect("remove");
    let f = &findings(&t.load())[8];
    assert_eq!(f.verdict, Verdict::Holds, "{:?}", f.evidence);
    assert!(
        f.evidence
            .iter()
            .any(|e| e.starts_with("server_wan not judged: ")),
        "{:?}",
        f.evidence
    );
}
