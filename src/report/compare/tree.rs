//! Reading criterion's tree: every benchmark directory's baseline and head runs (and their
//! rounds `<name>@k`), leaving out `new/` leftovers of an earlier run.

use super::natural_cmp;
use super::{stats, Bench, InputError, Run};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The criterion tree to read: `--criterion-dir`, else `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else `target/criterion`.
pub fn criterion_dir(explicit: Option<PathBuf>) -> PathBuf {
    explicit.unwrap_or_else(|| crate::report::results::Paths::from_env().criterion)
}

fn read_json(path: &Path) -> Result<Value, InputError> {
    let text = std::fs::read_to_string(path).map_err(|error| InputError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    serde_json::from_str(&text).map_err(|e| InputError::Malformed {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn malformed(path: &Path, reason: &str) -> InputError {
    InputError::Malformed {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn interval(v: &Value, key: &str, path: &Path) -> Result<stats::Interval, InputError> {
    let e = v
        .get(key)
        .ok_or_else(|| malformed(path, &format!("no `{key}` estimate")))?;
    let num = |x: Option<&Value>, what: &str| {
        x.and_then(Value::as_f64)
            .ok_or_else(|| malformed(path, &format!("`{key}.{what}` is not a number")))
    };
    let ci = e.get("confidence_interval");
    Ok(stats::Interval {
        point: num(e.get("point_estimate"), "point_estimate")?,
        lower: num(
            ci.and_then(|c| c.get("lower_bound")),
            "confidence_interval.lower_bound",
        )?,
        upper: num(
            ci.and_then(|c| c.get("upper_bound")),
            "confidence_interval.upper_bound",
        )?,
    })
}

fn read_run(dir: &Path) -> Result<Run, InputError> {
    let sample_path = dir.join("sample.json");
    let sample = read_json(&sample_path)?;
    let arr = |k: &str| -> Result<Vec<f64>, InputError> {
        sample
            .get(k)
            .and_then(Value::as_array)
            .ok_or_else(|| malformed(&sample_path, &format!("no `{k}` array")))?
            .iter()
            .map(|x| {
                x.as_f64()
                    .ok_or_else(|| malformed(&sample_path, &format!("`{k}` holds a non-number")))
            })
            .collect()
    };
    let (iters, times) = (arr("iters")?, arr("times")?);
    if iters.len() != times.len() || iters.is_empty() || iters.iter().any(|&i| i <= 0.0) {
        return Err(malformed(
            &sample_path,
            "`iters` and `times` must be non-empty, equally long, iters > 0",
        ));
    }
    let per_iter = times.iter().zip(&iters).map(|(t, i)| t / i).collect();
    let est_path = dir.join("estimates.json");
    let median = interval(&read_json(&est_path)?, "median", &est_path)?;
    Ok(Run { per_iter, median })
}

/// How much older than the first saved baseline a `new/` must be to count as an earlier
/// run's leftover. `--save-baseline` writes each `new/` a moment before copying it to the
/// baseline, and anything measured before the saving run began is older than its first copy
/// by at least one benchmark's warm-up and measurement; 2 s covers the copy and the clock.
const LEFTOVER_SLACK: std::time::Duration = std::time::Duration::from_secs(2);

/// When criterion wrote the run in `d` (its sample.json).
fn written_at(d: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(d.join("sample.json"))
        .ok()?
        .modified()
        .ok()
}

/// A directory holding a run (criterion writes estimates.json and sample.json into each).
fn is_run_dir(d: &Path) -> bool {
    d.join("sample.json").is_file()
}

fn subdirs(d: &Path) -> Result<Vec<PathBuf>, InputError> {
    let rd = std::fs::read_dir(d).map_err(|error| InputError::Read {
        path: d.to_path_buf(),
        error,
    })?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    Ok(v)
}

/// Benchmark directories: those with at least one run directory inside.
fn bench_dirs(root: &Path, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let subs = subdirs(root)?;
    if subs.iter().any(|s| is_run_dir(s)) {
        out.push(root.to_path_buf());
    }
    for s in subs {
        let name = s.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name != "report" && !is_run_dir(&s) {
            bench_dirs(&s, out)?;
        }
    }
    Ok(())
}

/// The run directories of `name` in benchmark directory `d`: `name`, then `name@2`, `name@3`,
/// … as long as they exist.
fn rounds_of(d: &Path, name: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let mut dir = d.join(name);
    while is_run_dir(&dir) {
        v.push(dir);
        dir = d.join(format!("{name}@{}", v.len() + 1));
    }
    v
}

/// Read every benchmark of the tree for `baseline` vs `head` (criterion's latest run is
/// `new`), with their rounds.
pub fn load(root: &Path, baseline: &str, head: &str) -> Result<Vec<Bench>, InputError> {
    if !root.is_dir() {
        return Err(InputError::NoTree(root.to_path_buf()));
    }
    let mut dirs = Vec::new();
    bench_dirs(root, &mut dirs)?;
    if dirs.is_empty() {
        return Err(InputError::Empty(root.to_path_buf()));
    }
    let mut found = std::collections::BTreeSet::new();
    for d in &dirs {
        for s in subdirs(d)? {
            let name = s
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            if is_run_dir(&s) && name != "new" {
                found.insert(name);
            }
        }
    }
    for name in [baseline, head] {
        if name != "new" && !found.contains(name) {
            return Err(InputError::NoBaseline {
                dir: root.to_path_buf(),
                name: name.to_string(),
                found: found.into_iter().collect(),
            });
        }
    }
    // Criterion keeps every id's last `new/`, also of ids the head run did not measure (an
    // earlier run with another profile or filter). Those are leftovers, not the head's results:
    // a `new/` written well before the baseline was saved is not compared.
    let baseline_saved = dirs
        .iter()
        .filter_map(|d| written_at(&d.join(baseline)))
        .min();
    let leftover = |run_dir: &Path| {
        head == "new"
            && matches!((written_at(run_dir), baseline_saved),
                (Some(w), Some(b)) if w + LEFTOVER_SLACK < b)
    };
    let mut benches = Vec::new();
    for d in dirs {
        let (bdir, ndir) = (d.join(baseline), d.join(head));
        let read_rounds = |name: &str| -> Result<Vec<Run>, InputError> {
            rounds_of(&d, name).iter().map(|r| read_run(r)).collect()
        };
        let base_runs = read_rounds(baseline)?;
        let new_runs = if leftover(&ndir) {
            Vec::new()
        } else {
            read_rounds(head)?
        };
        let medians = |runs: &[Run]| runs.iter().map(|r| stats::median(&r.per_iter)).collect();
        let (base_rounds, new_rounds) = (medians(&base_runs), medians(&new_runs));
        let base = base_runs.into_iter().next();
        let new = new_runs.into_iter().next();
        if base.is_none() && new.is_none() {
            continue; // only other baselines here
        }
        let meta_dir = if new.is_some() { &ndir } else { &bdir };
        let meta_path = meta_dir.join("benchmark.json");
        let rel = d
            .strip_prefix(root)
            .unwrap_or(&d)
            .to_string_lossy()
            .replace('\\', "/");
        let (id, group) = if meta_path.is_file() {
            let m = read_json(&meta_path)?;
            let id = m
                .get("full_id")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed(&meta_path, "no `full_id`"))?;
            let group = m
                .get("group_id")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed(&meta_path, "no `group_id`"))?;
            (id.to_string(), group.to_string())
        } else {
            (rel.clone(), rel.split('/').next().unwrap_or("").to_string())
        };
        let change_path = d.join("change/estimates.json");
        let criterion_change = if change_path.is_file() && base.is_some() {
            Some(interval(&read_json(&change_path)?, "median", &change_path)?)
        } else {
            None
        };
        benches.push(Bench {
            id,
            group,
            base,
            new,
            base_rounds,
            new_rounds,
            criterion_change,
        });
    }
    benches.sort_by(|a, b| natural_cmp(&a.id, &b.id));
    Ok(benches)
}
