//! Criterion's own results, read back: `<id>/new/{benchmark,estimates}.json` of the
//! benchmarks a run measured, as [`CriterionRecord`]s for `criterion.json`.

use super::sort_key;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How much work one iteration is (criterion's `Throughput`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Throughput {
    Elements(u64),
    Bytes(u64),
}

/// One criterion benchmark as this suite recorded it at the end of the run that measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionRecord {
    /// `group/function[/param]`, criterion's full id.
    pub id: String,
    pub group: String,
    pub function: String,
    pub param: Option<String>,
    /// Median time per iteration (ns) and its confidence interval (criterion's bootstrap).
    pub median_ns: f64,
    pub median_lower_ns: f64,
    pub median_upper_ns: f64,
    pub throughput: Option<Throughput>,
    #[serde(default)]
    pub run_id: String,
}

crate::keyed_record!(CriterionRecord, |r| r.id.clone());

#[derive(Deserialize)]
struct BenchmarkJson {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
    full_id: String,
    #[serde(default)]
    throughput: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct EstimatesJson {
    median: Estimate,
}

fn parse_throughput(v: &serde_json::Value) -> Option<Throughput> {
    if let Some(n) = v.get("Elements").and_then(|n| n.as_u64()) {
        return Some(Throughput::Elements(n));
    }
    if let Some(n) = v
        .get("Bytes")
        .or_else(|| v.get("BytesDecimal"))
        .and_then(|n| n.as_u64())
    {
        return Some(Throughput::Bytes(n));
    }
    None
}

/// Reads one benchmark's `<dir>/new/{benchmark,estimates}.json` if its estimates were written
/// at or after `since` (criterion keeps every id's last result, also of ids this run skipped).
pub fn read_criterion_new(dir: &Path, since: SystemTime) -> Option<CriterionRecord> {
    let new = dir.join("new");
    let est_path = new.join("estimates.json");
    if std::fs::metadata(&est_path).ok()?.modified().ok()? < since {
        return None;
    }
    let b: BenchmarkJson =
        serde_json::from_str(&std::fs::read_to_string(new.join("benchmark.json")).ok()?).ok()?;
    let e: EstimatesJson = serde_json::from_str(&std::fs::read_to_string(&est_path).ok()?).ok()?;
    // `BenchmarkId::from_parameter(name)` leaves the function empty and puts the name in
    // the value: for an unswept id (`group/name`) the name is the function.
    let (function, param) = match (b.function_id, b.value_str) {
        (None, Some(v)) => (v, None),
        (f, v) => (f.unwrap_or_default(), v),
    };
    Some(CriterionRecord {
        id: b.full_id,
        group: b.group_id,
        function,
        param,
        median_ns: e.median.point_estimate,
        median_lower_ns: e.median.confidence_interval.lower_bound,
        median_upper_ns: e.median.confidence_interval.upper_bound,
        throughput: b.throughput.as_ref().and_then(parse_throughput),
        run_id: String::new(),
    })
}

/// Every benchmark of `groups` whose estimates criterion wrote under `criterion_dir` at or
/// after `since`.
pub fn criterion_written_since(
    criterion_dir: &Path,
    groups: &[String],
    since: SystemTime,
) -> Vec<CriterionRecord> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = groups
        .iter()
        .map(|g| criterion_dir.join(criterion_dir_name(g)))
        .collect();
    stack.sort();
    stack.dedup();
    while let Some(dir) = stack.pop() {
        if let Some(rec) = read_criterion_new(&dir, since) {
            if groups.contains(&rec.group) {
                out.push(rec);
            }
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let skip = ["new", "base", "change", "report"]
                .iter()
                .any(|s| name == *s);
            if !skip && e.path().is_dir() && !e.path().join("sample.json").exists() {
                stack.push(e.path());
            }
        }
    }
    out.sort_by_key(|r| sort_key(&r.id));
    out
}

/// The directory name criterion gives a group or function (its `make_filename_safe`: path
/// separators and a few reserved characters become `_`).
fn criterion_dir_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '?' | '"' | '/' | '\\' | '*' | '<' | '>' | ':' | '|' | '^' => '_',
            c => c,
        })
        .collect()
}
