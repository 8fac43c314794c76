//! The results layer: the one place that knows where results live, what a record is keyed by,
//! where it came from, and which records belong to a group's latest run. Every reader (report,
//! findings, compare) and every writer (the bench harness, the server benches) goes through it.
//!
//! ```text
//!   criterion's tree            $CRITERION_HOME | $CARGO_TARGET_DIR/criterion | target/criterion
//!   the suite's artefacts       $CARGO_TARGET_DIR/threadbench | target/threadbench
//!     criterion.json   medians + confidence intervals of every benchmark this suite measured
//!     server.json      side metrics of the server groups (+ latency histograms)
//!     ctx_switch.json spawn_rss.json models.json   figures derived by a bench
//!     env.json         the machine and provenance of the latest run that measured anything
//! ```
//!
//! Every artefact is an [`Artefact`]: `runs` (run id → [`Provenance`]) and `records`, each
//! record carrying its key (`group/function[/param]`) and the id of the run that measured it.
//! A run merges only what it measured, by key, so a filtered run updates its own benchmarks
//! and leaves the rest — with their own provenance — as they were. Runs that measure nothing
//! (criterion's test mode, `--list`, `--help`, a filter that matched nothing) never write.
//!
//! Freshness has one rule: a record is *current* when it belongs to the latest run that
//! measured its group; records of the same group from older runs are *stale* and readers show
//! them apart (never in one chart or claim with current ones).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

mod criterion;
mod provenance;
pub use criterion::{criterion_written_since, read_criterion_new, CriterionRecord, Throughput};
pub use provenance::{cpuinfo_model, format_utc, git_state, run_id, Machine, Provenance};

/// Where criterion's tree and the suite's own artefacts are.
#[derive(Debug, Clone, PartialEq)]
pub struct Paths {
    pub criterion: PathBuf,
    pub out: PathBuf,
}

impl Paths {
    /// Criterion's rule (`$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else this
    /// crate's `target/criterion`) and `threadbench/` next to it in the same target dir.
    pub fn from_env() -> Paths {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
        let criterion = std::env::var_os("CRITERION_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| target.join("criterion"));
        Paths {
            criterion,
            out: target.join("threadbench"),
        }
    }

    /// Both under one target directory (tests).
    pub fn under(target: &Path) -> Paths {
        Paths {
            criterion: target.join("criterion"),
            out: target.join("threadbench"),
        }
    }

    /// `<out>/<name>` (not created).
    pub fn file(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }
}

/// A record of an artefact: keyed, and stamped with the run that measured it.
pub trait Keyed {
    /// `group/function[/param]` (or another unique key within the artefact).
    fn key(&self) -> String;
    /// The group whose latest run decides freshness.
    fn group(&self) -> String;
    fn run_id(&self) -> &str;
    fn set_run_id(&mut self, run_id: &str);
}

/// Implements [`Keyed`] for a record with `group: String` and `run_id: String` fields; the key
/// is the expression given for `self`.
#[macro_export]
macro_rules! keyed_record {
    ($t:ty, |$r:ident| $key:expr) => {
        impl $crate::report::results::Keyed for $t {
            fn key(&self) -> String {
                let $r = self;
                $key
            }
            fn group(&self) -> String {
                self.group.clone()
            }
            fn run_id(&self) -> &str {
                &self.run_id
            }
            fn set_run_id(&mut self, run_id: &str) {
                self.run_id = run_id.to_owned();
            }
        }
    };
}

/// One artefact file: the runs its records came from, and the records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: DeserializeOwned"))]
pub struct Artefact<T> {
    /// The run that last wrote this file.
    pub latest_run: Option<String>,
    pub runs: BTreeMap<String, Provenance>,
    pub records: Vec<T>,
}

impl<T> Default for Artefact<T> {
    fn default() -> Self {
        Artefact {
            latest_run: None,
            runs: BTreeMap::new(),
            records: Vec::new(),
        }
    }
}

impl<T: Keyed + Serialize + DeserializeOwned + Clone> Artefact<T> {
    /// Reads `path`; a missing file is empty. A file in an older layout (written before
    /// records carried provenance) is ignored with a warning, never half-read.
    pub fn load(path: &Path) -> io::Result<Artefact<T>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Artefact::default()),
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        };
        match serde_json::from_str(&text) {
            Ok(a) => Ok(a),
            Err(e) => {
                eprintln!(
                    "threadbench: warning: ignoring {} (not a results file of this version: {e}); \
                     the next run that measures its groups rewrites it",
                    path.display()
                );
                Ok(Artefact::default())
            }
        }
    }

    /// Writes `path` atomically (temp file + rename), creating its directory.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(self)?)?;
        std::fs::rename(tmp, path)
    }

    /// Adds `records` measured by `run`, replacing earlier records of the same keys; runs no
    /// record refers to any more are dropped.
    pub fn merge(&mut self, run: &Provenance, records: Vec<T>) {
        for mut rec in records {
            rec.set_run_id(&run.run_id);
            let key = rec.key();
            self.records.retain(|r| r.key() != key);
            self.records.push(rec);
        }
        self.runs.insert(run.run_id.clone(), run.clone());
        self.latest_run = Some(run.run_id.clone());
        let used: std::collections::BTreeSet<String> =
            self.records.iter().map(|r| r.run_id().to_owned()).collect();
        self.runs.retain(|id, _| used.contains(id));
        self.records.sort_by_key(|r| sort_key(&r.key()));
    }

    /// [`Self::load`], [`Self::merge`], [`Self::save`]; nothing is written for no records.
    pub fn merge_into(path: &Path, run: &Provenance, records: Vec<T>) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut a = Self::load(path)?;
        a.merge(run, records);
        a.save(path)
    }

    /// The provenance of `rec`'s run.
    pub fn provenance_of(&self, rec: &T) -> Option<&Provenance> {
        self.runs.get(rec.run_id())
    }

    /// Per group: its latest run (by start time) and which records are current / stale.
    pub fn by_group(&self) -> BTreeMap<String, GroupView<'_, T>> {
        let mut out: BTreeMap<String, GroupView<'_, T>> = BTreeMap::new();
        for r in &self.records {
            let started = self.runs.get(r.run_id()).map_or(0, |p| p.started_at);
            let v = out.entry(r.group()).or_insert_with(|| GroupView {
                latest: None,
                current: Vec::new(),
                stale: Vec::new(),
            });
            match &v.latest {
                Some((_, s)) if *s > started => {}
                Some((id, s)) if *s == started && id.as_str() >= r.run_id() => {}
                _ => v.latest = Some((r.run_id().to_owned(), started)),
            }
        }
        for r in &self.records {
            let v = out.get_mut(&r.group()).expect("group seen above");
            if v.latest.as_ref().is_some_and(|(id, _)| id == r.run_id()) {
                v.current.push(r);
            } else {
                v.stale.push(r);
            }
        }
        out
    }

    /// The records of each group's latest run only.
    pub fn current(&self) -> Vec<&T> {
        self.by_group()
            .into_values()
            .flat_map(|v| v.current)
            .collect()
    }
}

/// One group of an artefact, split by freshness.
#[derive(Debug)]
pub struct GroupView<'a, T> {
    /// (run id, start time) of the group's latest run.
    pub latest: Option<(String, u64)>,
    pub current: Vec<&'a T>,
    pub stale: Vec<&'a T>,
}

/// A benchmark id as criterion forms it: `group/function/param`, or `group/function`.
pub fn bench_id(group: &str, function: &str, param: Option<u64>) -> String {
    match param {
        Some(p) => format!("{group}/{function}/{p}"),
        None => format!("{group}/{function}"),
    }
}

/// Sorts `group/function/param` keys with numeric parts as numbers (`/5` before `/20`).
pub fn sort_key(key: &str) -> Vec<(u8, u64, String)> {
    key.split('/')
        .map(|part| match part.parse::<u64>() {
            Ok(n) => (0, n, String::new()),
            Err(_) => (1, 0, part.to_owned()),
        })
        .collect()
}

/// A side figure a bench derives (ctx_switch.json, spawn_rss.json, models.json): a key, its
/// group and a JSON value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideRecord {
    pub key: String,
    pub group: String,
    #[serde(default)]
    pub run_id: String,
    pub data: serde_json::Value,
}

impl SideRecord {
    pub fn new(group: &str, key: &str, data: serde_json::Value) -> SideRecord {
        SideRecord {
            key: key.to_owned(),
            group: group.to_owned(),
            run_id: String::new(),
            data,
        }
    }
}

crate::keyed_record!(SideRecord, |r| r.key.clone());

/// The artefact file names.
pub const CRITERION_JSON: &str = "criterion.json";
pub const SERVER_JSON: &str = "server.json";
pub const CTX_SWITCH_JSON: &str = "ctx_switch.json";
pub const SPAWN_RSS_JSON: &str = "spawn_rss.json";
pub const MODELS_JSON: &str = "models.json";
pub const ENV_JSON: &str = "env.json";

/// Everything the report and findings read, loaded once.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub criterion: Artefact<CriterionRecord>,
    pub server: Artefact<crate::report::server_results::ServerRecord>,
    pub ctx_switch: Artefact<SideRecord>,
    pub spawn_rss: Artefact<SideRecord>,
    pub models: Artefact<SideRecord>,
    /// env.json of the latest run that measured anything.
    pub env: Option<serde_json::Value>,
}

impl Loaded {
    pub fn load(paths: &Paths) -> io::Result<Loaded> {
        Ok(Loaded {
            criterion: Artefact::load(&paths.file(CRITERION_JSON))?,
            server: Artefact::load(&paths.file(SERVER_JSON))?,
            ctx_switch: Artefact::load(&paths.file(CTX_SWITCH_JSON))?,
            spawn_rss: Artefact::load(&paths.file(SPAWN_RSS_JSON))?,
            models: Artefact::load(&paths.file(MODELS_JSON))?,
            env: std::fs::read_to_string(paths.file(ENV_JSON))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok()),
        })
    }

    /// Every run any artefact refers to.
    pub fn runs(&self) -> BTreeMap<String, Provenance> {
        let mut all = BTreeMap::new();
        for runs in [
            &self.criterion.runs,
            &self.server.runs,
            &self.ctx_switch.runs,
            &self.spawn_rss.runs,
            &self.models.runs,
        ] {
            all.extend(runs.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        all
    }

    /// The most recent run of all.
    pub fn latest_run(&self) -> Option<Provenance> {
        self.runs()
            .into_values()
            .max_by(|a, b| (a.started_at, &a.run_id).cmp(&(b.started_at, &b.run_id)))
    }

    /// Medians (ns) of each group's latest run, by benchmark id.
    pub fn current_medians(&self) -> BTreeMap<String, f64> {
        self.criterion
            .current()
            .into_iter()
            .map(|r| (r.id.clone(), r.median_ns))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn run(id: &str, at: u64, profile: &str) -> Provenance {
        Provenance::fixture(id, at, profile)
    }

    fn side(group: &str, key: &str, v: f64) -> SideRecord {
        SideRecord::new(group, key, serde_json::json!(v))
    }

    #[test]
    fn merge_replaces_by_key_and_keeps_other_runs() {
        let dir = crate::load::workload::TempDocroot::new().expect("temp dir");
        let path = dir.path().join("x.json");
        let a = run("a", 100, "ci");
        let b = run("b", 200, "default");
        Artefact::merge_into(
            &path,
            &a,
            vec![
                side("g", "g/x/5", 1.0),
                side("g", "g/x/20", 2.0),
                side("h", "h/y", 3.0),
            ],
        )
        .expect("first run");
        // A filtered second run measures only g/x/20.
        Artefact::merge_into(&path, &b, vec![side("g", "g/x/20", 4.0)]).expect("second run");
        // A run that measured nothing writes nothing.
        let before = std::fs::read(&path).expect("read");
        Artefact::<SideRecord>::merge_into(&path, &run("c", 300, "ci"), vec![]).expect("no-op");
        assert_eq!(std::fs::read(&path).expect("read"), before);

        let art: Artefact<SideRecord> = Artefact::load(&path).expect("load");
        assert_eq!(art.latest_run.as_deref(), Some("b"));
        let keys: Vec<String> = art.records.iter().map(|r| r.key.clone()).collect();
        assert_eq!(keys, ["g/x/5", "g/x/20", "h/y"], "numeric order, by key");
        let groups = art.by_group();
        let g = &groups["g"];
        assert_eq!(g.latest.as_ref().map(|l| l.0.as_str()), Some("b"));
        assert_eq!(g.current.len(), 1);
        assert_eq!(g.current[0].data, serde_json::json!(4.0));
        assert_eq!(g.stale.len(), 1);
        assert_eq!(g.stale[0].key, "g/x/5");
        assert_eq!(art.provenance_of(g.stale[0]).expect("run a").profile, "ci");
        let h = &groups["h"];
        assert_eq!(h.current.len(), 1, "h's latest run is still a");
        assert_eq!(art.current().len(), 2);
    }

    #[test]
    fn an_old_layout_is_ignored_not_half_read() {
        let dir = crate::load::workload::TempDocroot::new().expect("temp dir");
        let path = dir.path().join("old.json");
        std::fs::write(&path, r#"{"records":[{"group":"g"}]}"#).expect("write");
        let a: Artefact<SideRecord> = Artefact::load(&path).expect("load");
        assert!(a.records.is_empty());
    }

    #[test]
    fn dates_and_sort_keys() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(1_796_183_880), "2026-12-02 03:58 UTC");
        assert_eq!(
            provenance::format_utc_compact(951_782_400),
            "20000229T000000Z"
        );
        let mut v = vec!["s/mp/20", "s/mp/5", "s/amped/100", "s/mp/100"];
        v.sort_by_key(|k| sort_key(k));
        assert_eq!(v, ["s/amped/100", "s/mp/5", "s/mp/20", "s/mp/100"]);
    }

    #[test]
    fn reads_only_estimates_written_since() {
        let dir = crate::load::workload::TempDocroot::new().expect("temp dir");
        let new = dir.path().join("spawn/fork_exit_wait/new");
        std::fs::create_dir_all(&new).expect("mkdir");
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"spawn","function_id":"fork_exit_wait","value_str":null,
                "full_id":"spawn/fork_exit_wait","throughput":{"Elements":1}}"#,
        )
        .expect("write");
        std::fs::write(
            new.join("estimates.json"),
            r#"{"median":{"point_estimate":5.0,"confidence_interval":{"lower_bound":4.0,"upper_bound":6.0}}}"#,
        )
        .expect("write");
        let groups = vec!["spawn".to_string()];
        let got = criterion_written_since(dir.path(), &groups, SystemTime::UNIX_EPOCH);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, "spawn/fork_exit_wait");
        assert_eq!(got[0].throughput, Some(Throughput::Elements(1)));
        assert_eq!((got[0].median_lower_ns, got[0].median_upper_ns), (4.0, 6.0));
        assert_eq!(
            (got[0].function.as_str(), got[0].param.as_deref()),
            ("fork_exit_wait", None)
        );
        // `BenchmarkId::from_parameter("pipe_thread")`: the name is the function.
        let new = dir.path().join("ctx_switch_same_core/pipe_thread/new");
        std::fs::create_dir_all(&new).expect("mkdir");
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"ctx_switch_same_core","function_id":null,"value_str":"pipe_thread",
                "full_id":"ctx_switch_same_core/pipe_thread","throughput":{"Elements":2}}"#,
        )
        .expect("write");
        std::fs::copy(
            dir.path().join("spawn/fork_exit_wait/new/estimates.json"),
            new.join("estimates.json"),
        )
        .expect("copy");
        let groups2 = vec!["ctx_switch_same_core".to_string()];
        let got2 = criterion_written_since(dir.path(), &groups2, SystemTime::UNIX_EPOCH);
        assert_eq!(got2.len(), 1);
        assert_eq!(
            (got2[0].function.as_str(), got2[0].param.as_deref()),
            ("pipe_thread", None)
        );
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert!(criterion_written_since(dir.path(), &groups, later).is_empty());
        let other = vec!["sync_threads".to_string()];
        assert!(criterion_written_since(dir.path(), &other, SystemTime::UNIX_EPOCH).is_empty());
    }
}
