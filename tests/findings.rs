//! The findings generator, fed fixture result trees written into a temp dir: every claim
//! holds in one, fails in another, and is reported as not measured (naming what is missing)
//! when its inputs are absent.

use serde_json::json;
use std::path::{Path, PathBuf};
use threadbench::report::findings::{findings, findings_html, findings_markdown, Results, Verdict};

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
    fn load(&self) -> Results {
        Results::load(&self.criterion(), &self.threadbench()).expect("load fixture results")
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
    let row = |m: &str, pss: f64, cs: f64| {
        json!({"group": "server_conns", "model": m, "param": 64, "req_per_s": 1e5,
               "server_cpu_us_per_req": 10.0, "pss_bytes": pss, "ctx_switches_per_req": cs})
    };
    let server = json!({"results": [
        row("sped", b(4e6, 400e6), 0.1), row("amped", 6e6, 0.2),
        row("mp", 200e6, 2.0), row("mt", 30e6, 1.5),
    ]});
    std::fs::write(t.threadbench().join("server.json"), server.to_string())
        .expect("write server.json");
    let toy = |total: f64, avg: f64| {
        json!({"total_units": total, "average_units": avg, "virtual_total_units": total,
               "virtual_average_units": avg, "work_mode": "sleep_then_spin", "unit_us": 100})
    };
    let models = json!({"cores": 2, "ctx_switch_ns": 1500.0, "crossover_idle_us": null,
        "toyshop": {"boss_worker": toy(360.0, 196.4), "pipeline": toy(b(320.0, 400.0), 220.0)}});
    std::fs::write(t.threadbench().join("models.json"), models.to_string())
        .expect("write models.json");
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
    assert_eq!(all.len(), 12);
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
    // A point only an earlier run (say, another profile) measured: 3 workers, 10× faster.
    put(&t.criterion(), "matmul/threads/3", 10.0);
    let est = t.criterion().join("matmul/threads/3/new/estimates.json");
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&est)
        .expect("open estimates.json")
        .set_modified(an_hour_ago)
        .expect("backdate estimates.json");
    let r = t.load();
    assert!(!r.medians.contains_key("matmul/threads/3"));
    assert_eq!(findings(&r)[11].verdict, Verdict::Holds);
    // Written in the same run, the same point counts (and breaks "no further").
    put(&t.criterion(), "matmul/threads/3", 10.0);
    assert_eq!(findings(&t.load())[11].verdict, Verdict::DoesNotHold);
}
