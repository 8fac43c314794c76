//! `threadbench regress` end to end with a stand-in for cargo (`THREADBENCH_CARGO`): a script
//! that writes one criterion run per call (base: 100 µs, head: ×$FAKE_FACTOR for the bench
//! files in $FAKE_SLOW, each with a few % of jitter by round, no two pairs alike) and logs the calls. Checks the
//! ABBA order, that decided bench files stop while undecided ones get more pairs, the budget,
//! and the exit statuses 0 / 1 / 3.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The stand-in for cargo: builds nothing, writes one run of the bench file's one benchmark.
const FAKE: &str = r#"#!/usr/bin/env bash
set -euo pipefail
echo "$*" >>"$FAKE_LOG"
[[ " $* " == *" --no-run "* ]] && exit 0
bench="" name=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --bench) bench=$2; shift ;;
    --save-baseline) name=$2; shift ;;
  esac
  shift
done
case $bench in
  spawn) id=spawn/thread_spawn_join ;;
  sync) id=sync_threads/std_mutex/4 ;;
esac
side=${name%@*}
k=1; [[ $name == *@* ]] && k=${name#*@}
factor=1
if [[ $side == head && " ${FAKE_SLOW:-} " == *" $bench "* ]]; then factor=$FAKE_FACTOR; fi
salt=37; [[ $side == head ]] && salt=53
dir="$CRITERION_HOME/$id/$name"
mkdir -p "$dir"
awk -v k="$k" -v s="$salt" -v f="$factor" -v id="$id" -v dir="$dir" 'BEGIN {
  m = 100000 * f * (1 + ((k * s) % 7 - 3) / 100 + k / 10000)
  it = ""; ti = ""
  for (i = 1; i <= 10; i++) { it = it (i > 1 ? "," : "") i; ti = ti (i > 1 ? "," : "") i * m }
  printf "{\"sampling_mode\":\"Linear\",\"iters\":[%s],\"times\":[%s]}", it, ti > (dir "/sample.json")
  e = sprintf("{\"point_estimate\":%f,\"standard_error\":0,\"confidence_interval\":{\"confidence_level\":0.95,\"lower_bound\":%f,\"upper_bound\":%f}}", m, m, m)
  printf "{\"mean\":%s,\"median\":%s}", e, e > (dir "/estimates.json")
  split(id, p, "/")
  printf "{\"full_id\":\"%s\",\"group_id\":\"%s\"}", id, p[1] > (dir "/benchmark.json")
}'
"#;

struct Fixture {
    root: PathBuf,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let root =
            std::env::temp_dir().join(format!("threadbench-regress-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for side in ["base", "head"] {
            let benches = root.join(side).join("benches");
            std::fs::create_dir_all(&benches).expect("benches dir");
            for b in ["spawn", "sync"] {
                std::fs::write(benches.join(format!("{b}.rs")), "fn main() {}\n").expect("bench");
            }
        }
        let cargo = root.join("fake-cargo");
        std::fs::write(&cargo, FAKE).expect("fake cargo");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Fixture { root }
    }

    fn regress(&self, extra: &[&str], slow: &str) -> (Output, Vec<String>) {
        let log = self.root.join("calls.log");
        let _ = std::fs::remove_file(&log);
        let out = Command::new(env!("CARGO_BIN_EXE_threadbench"))
            .arg("regress")
            .arg("--base-dir")
            .arg(self.root.join("base"))
            .arg("--head-dir")
            .arg(self.root.join("head"))
            .arg("--criterion-dir")
            .arg(self.root.join("criterion"))
            .args(["--format", "json", "--head-env", "FAKE_FACTOR=1.25"])
            .args(extra)
            .env("THREADBENCH_CARGO", self.root.join("fake-cargo"))
            .env("FAKE_LOG", &log)
            .env("FAKE_SLOW", slow)
            .env_remove("THREADBENCH_PROFILE")
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .expect("run threadbench regress");
        let calls = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        (out, calls)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn verdict(v: &serde_json::Value, id: &str) -> (String, u64) {
    let row = v["benchmarks"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no {id}: {v}"));
    (
        row["verdict"].as_str().expect("verdict").to_owned(),
        row["rounds"].as_u64().expect("rounds"),
    )
}

/// The side and pair of each measuring call for `bench`, in order.
fn runs_of(calls: &[String], bench: &str) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.contains(&format!("--bench {bench} ")))
        .filter_map(|c| c.split("--save-baseline ").nth(1))
        .map(|rest| rest.split(' ').next().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn undecided_files_get_more_pairs_in_abba_order_until_decided() {
    let f = Fixture::new("decide");
    let (out, calls) = f.regress(&[], "spawn");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(1), "{v}");
    // sync is A/A: decided unchanged at the minimum of 6 pairs; spawn +25 %: regressed once the
    // signed-rank test can reach p < 0.001 (11 pairs, all the same sign).
    assert_eq!(
        verdict(&v, "sync_threads/std_mutex/4"),
        ("unchanged".into(), 6)
    );
    assert_eq!(
        verdict(&v, "spawn/thread_spawn_join"),
        ("regressed".into(), 11)
    );
    let spawn = runs_of(&calls, "spawn");
    assert_eq!(spawn.len(), 22, "{calls:?}");
    assert_eq!(
        &spawn[..6],
        ["base", "head", "head@2", "base@2", "base@3", "head@3"]
    );
    assert_eq!(
        runs_of(&calls, "sync").len(),
        12,
        "sync stopped after 6 pairs"
    );
    // Both sides were built first, without measuring.
    assert!(
        calls[0].contains("--no-run") && calls[1].contains("--no-run"),
        "{calls:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("every benchmark decided"), "{stderr}");
}

#[test]
fn a_spent_budget_is_inconclusive_exit_three() {
    let f = Fixture::new("budget");
    let (out, calls) = f.regress(&["--max-rounds", "8"], "spawn");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(out.status.code(), Some(3), "{v}");
    assert_eq!(
        verdict(&v, "spawn/thread_spawn_join"),
        ("inconclusive".into(), 8)
    );
    assert_eq!(runs_of(&calls, "spawn").len(), 16);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("inconclusive within budget: spawn"),
        "{stderr}"
    );
    // A/A everywhere: clean.
    let (out, _) = f.regress(&[], "");
    assert_eq!(out.status.code(), Some(0));
    // Bad budget: bad input.
    let (out, _) = f.regress(&["--min-rounds", "9", "--max-rounds", "8"], "");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_side_without_the_bench_file_leaves_its_rows_new() {
    let f = Fixture::new("new");
    std::fs::remove_file(f.root.join("base/benches/sync.rs")).expect("rm");
    let (out, calls) = f.regress(&[], "");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(verdict(&v, "sync_threads/std_mutex/4").0, "new");
    assert!(
        runs_of(&calls, "sync")
            .iter()
            .all(|r| r.starts_with("head")),
        "{calls:?}"
    );
}
