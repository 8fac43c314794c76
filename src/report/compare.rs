//! `threadbench compare`: judge a criterion run (`new/`) against a saved baseline (`<name>/`)
//! with a noise-aware rule, and export the verdicts (table, markdown, JSON, Bencher BMF).
//!
//! ```text
//!  target/criterion/<group>/<function>[/<param>]/{<baseline>,new}/{sample,estimates}.json
//!        │ per-iteration times = sample.times[i] / sample.iters[i]      (both runs)
//!        ▼
//!  median change r = median(new)/median(base) - 1, 95 % bootstrap CI [lo, hi]
//!  Mann-Whitney U on the per-iteration samples, two-sided p
//!        ▼
//!  regressed | improved | unchanged | new | missing     (+ ratio metrics, same rule)
//! ```
//!
//! # The rule, and why
//! A benchmark is `regressed` only when **both** hold:
//! 1. the whole 95 % bootstrap confidence interval of the median's relative change lies above
//!    the threshold (`lo > threshold`): the slowdown is larger than what we care about even at
//!    the optimistic end of its uncertainty, not just at the point estimate;
//! 2. the Mann-Whitney U rank test on the per-iteration samples rejects "same distribution" at
//!    p < 0.01: robust to the outliers a shared machine produces, with no normality assumption.
//!
//! `improved` is the mirror image (`hi < -threshold`, p < 0.01); anything else is `unchanged`.
//! A point estimate beyond the threshold with noisy samples therefore stays `unchanged`.
//! Requiring both keeps the false-alarm rate low when one of them is fooled (the bootstrap by
//! tiny samples, the rank test by a tiny but consistent shift). Neither can see drift *between*
//! the two runs (another job started in between): only interleaving runs (scripts/ci-regress.sh)
//! and a threshold above the machine's run-to-run drift help there — or ratio metrics.
//!
//! # Ratio metrics
//! Ratios of two benchmarks measured in the same run (fork / thread spawn, process / thread
//! switch, poll / epoll at 1000 fds, …) cancel most machine-wide drift. Each is computed for the
//! baseline and the new run from the same tree and judged with the same rule: the ratio of
//! medians is bootstrapped over the four sample sets; the rank test is applied to per-sample
//! ratios (each numerator sample divided by the denominator's median of the same run). A ratio that moves beyond the threshold is `shifted`
//! — a finding of the suite changed — and counts as a regression for the exit status.
//! A ratio is only reported when all four sample sets exist.
//!
//! # Rounds: the rule when one run is not enough
//! On a VM whose host changes speed by ±20–35 % from one second to the next, each run's own
//! samples are tight but two runs of the same code differ by more than any threshold worth
//! gating on, and the rule above flags most A/A comparisons. Run each side several times,
//! interleaved (`THREADBENCH_ROUNDS=R scripts/ci-regress.sh`), saving the rounds as
//! `<name>`, `<name>@2`, … `<name>@R` (and the head as `--head <name>` likewise). With at least
//! [`MIN_ROUNDS`] rounds on both sides a benchmark is judged on its per-round medians
//! instead: `regressed` when the median of the head's rounds exceeds the median of the base's
//! by more than the threshold *and* Mann-Whitney U over the rounds gives p < 0.01. A ratio
//! metric is judged the same way over its per-round ratios (numerator's over denominator's
//! median of the same round). The interval shown is a bootstrap over rounds. Run-to-run drift
//! is then part of the noise the test sees rather than a difference it mistakes for a change;
//! how many rounds a machine needs follows from its run-to-run spread (README, *Regression
//! tracking*).
//!
//! What it does not do: it does not rerun anything, and it trusts criterion's files.

pub mod stats;

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// p value below which the rank test calls a change statistically clear.
pub const ALPHA: f64 = 0.01;

/// Rounds per side from which benchmarks are judged on per-round medians (see the module doc):
/// with fewer, Mann-Whitney over the rounds cannot reach p < [`ALPHA`] (5 vs 5 fully separated:
/// p = 0.009).
pub const MIN_ROUNDS: usize = 5;

/// Why `compare` could not judge: each names the directory or file (exit status 2).
#[derive(Debug)]
pub enum InputError {
    NoTree(PathBuf),
    Empty(PathBuf),
    NoBaseline {
        dir: PathBuf,
        name: String,
        found: Vec<String>,
    },
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    Malformed {
        path: PathBuf,
        reason: String,
    },
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::NoTree(d) => write!(f, "no criterion directory at {}", d.display()),
            InputError::Empty(d) => write!(
                f,
                "no benchmark results under {} (run `cargo bench` first)",
                d.display()
            ),
            InputError::NoBaseline { dir, name, found } => write!(
                f,
                "no baseline `{name}` under {}; baselines found: {}",
                dir.display(),
                if found.is_empty() {
                    "none".to_string()
                } else {
                    found.join(", ")
                }
            ),
            InputError::Read { path, error } => write!(f, "reading {}: {error}", path.display()),
            InputError::Malformed { path, reason } => {
                write!(f, "malformed {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for InputError {}

/// One run of one benchmark as criterion stored it.
#[derive(Debug, Clone)]
pub struct Run {
    /// Per-iteration times in ns, one per criterion sample.
    pub per_iter: Vec<f64>,
    /// Criterion's own median estimate (ns) and its interval, from estimates.json.
    pub median: stats::Interval,
}

#[derive(Debug, Clone)]
pub struct Bench {
    pub id: String,
    pub group: String,
    pub base: Option<Run>,
    pub new: Option<Run>,
    /// The median per-iteration time (ns) of every round of each side (`<name>`, `<name>@2`,
    /// …); one entry per side without rounds.
    pub base_rounds: Vec<f64>,
    pub new_rounds: Vec<f64>,
    /// Criterion's change/estimates.json median (relative), when it wrote one.
    pub criterion_change: Option<stats::Interval>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Regressed,
    Improved,
    Unchanged,
    Shifted,
    New,
    Missing,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regressed => "regressed",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Shifted => "shifted",
            Verdict::New => "new",
            Verdict::Missing => "missing",
        }
    }
}

/// A judged row: a benchmark or a ratio metric.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: String,
    pub kind: &'static str,
    /// "ns" for benchmarks (median time per iteration), "ratio" for ratio metrics.
    pub unit: &'static str,
    pub base: Option<f64>,
    pub new: Option<f64>,
    pub new_interval: Option<stats::Interval>,
    pub change: Option<stats::Interval>,
    pub p_value: Option<f64>,
    pub threshold: f64,
    /// Rounds per side the verdict was computed over (1: one run's samples).
    pub rounds: usize,
    pub verdict: Verdict,
}

/// The ratio metrics: (name, numerator id, denominator id).
pub const RATIOS: &[(&str, &str, &str)] = &[
    (
        "fork_vs_thread_spawn",
        "spawn/fork_exit_wait",
        "spawn/thread_spawn_join",
    ),
    (
        "process_vs_thread_switch",
        "ctx_switch_same_core/pipe_process",
        "ctx_switch_same_core/pipe_thread",
    ),
    (
        "cross_vs_same_core_switch",
        "ctx_switch_cross_core/pipe_thread",
        "ctx_switch_same_core/pipe_thread",
    ),
    (
        "poll_vs_epoll_1000_fds",
        "event_scan_fds/poll/1000",
        "event_scan_fds/epoll/1000",
    ),
    (
        "select_vs_epoll_1000_fds",
        "event_scan_fds/select/1000",
        "event_scan_fds/epoll/1000",
    ),
    (
        "spinlock_vs_mutex_8_threads",
        "sync_threads/spinlock_ttas/8",
        "sync_threads/std_mutex/8",
    ),
    (
        "mp_vs_sped_server_conns_64",
        "server_conns/mp/64",
        "server_conns/sped/64",
    ),
];

/// The criterion tree to read: `--criterion-dir`, else `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else `target/criterion`.
pub fn criterion_dir(explicit: Option<PathBuf>) -> PathBuf {
    explicit
        .or_else(|| std::env::var_os("CRITERION_HOME").map(PathBuf::from))
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("criterion"))
        })
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
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
    let mut benches = Vec::new();
    for d in dirs {
        let (bdir, ndir) = (d.join(baseline), d.join(head));
        let read_rounds = |name: &str| -> Result<Vec<Run>, InputError> {
            rounds_of(&d, name).iter().map(|r| read_run(r)).collect()
        };
        let (base_runs, new_runs) = (read_rounds(baseline)?, read_rounds(head)?);
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
    benches.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(benches)
}

/// One run per side: the whole interval beyond the threshold; with rounds: the point estimate
/// (the interval over a few rounds is too wide to ask more of it). Both need p < ALPHA.
fn judge(change: &stats::Interval, p: f64, threshold: f64, rounds: usize) -> Verdict {
    let (lo, hi) = if rounds >= MIN_ROUNDS {
        (change.point, change.point)
    } else {
        (change.lower, change.upper)
    };
    if lo > threshold && p < ALPHA {
        Verdict::Regressed
    } else if hi < -threshold && p < ALPHA {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    }
}

/// Judge every benchmark; `threshold_for(group)` gives its threshold.
pub fn judge_benches(benches: &[Bench], threshold_for: &dyn Fn(&str) -> f64) -> Vec<Row> {
    benches
        .iter()
        .map(|b| {
            let threshold = threshold_for(&b.group);
            let mut row = Row {
                id: b.id.clone(),
                kind: "benchmark",
                unit: "ns",
                base: b.base.as_ref().map(|r| stats::median(&r.per_iter)),
                new: b.new.as_ref().map(|r| stats::median(&r.per_iter)),
                new_interval: b.new.as_ref().map(|r| r.median),
                change: None,
                p_value: None,
                threshold,
                rounds: 1,
                verdict: Verdict::Unchanged,
            };
            match (&b.base, &b.new) {
                (Some(base), Some(new)) => {
                    let rounds = b.base_rounds.len().min(b.new_rounds.len());
                    // Per-round medians with enough rounds, else this run's samples.
                    let (x, y) = if rounds >= MIN_ROUNDS {
                        row.rounds = rounds;
                        row.base = Some(stats::median(&b.base_rounds));
                        row.new = Some(stats::median(&b.new_rounds));
                        (&b.base_rounds, &b.new_rounds)
                    } else {
                        (&base.per_iter, &new.per_iter)
                    };
                    let c = stats::median_change(x, y, stats::seed_for(&b.id));
                    let (_, p) = stats::mann_whitney_u(y, x);
                    row.verdict = judge(&c, p, threshold, row.rounds);
                    row.change = Some(c);
                    row.p_value = Some(p);
                }
                (None, Some(_)) => row.verdict = Verdict::New,
                (Some(_), None) => row.verdict = Verdict::Missing,
                (None, None) => {}
            }
            row
        })
        .collect()
}

/// The ratio metrics whose four sample sets exist, judged like benchmarks; a significant move
/// beyond the threshold in either direction is `shifted`. With [`MIN_ROUNDS`] rounds of both
/// benchmarks on both sides a ratio is judged over its per-round ratios (numerator's median over
/// denominator's median of the same round), like a benchmark over its round medians.
pub fn judge_ratios(benches: &[Bench], threshold: f64) -> Vec<Row> {
    let by_id: BTreeMap<&str, &Bench> = benches.iter().map(|b| (b.id.as_str(), b)).collect();
    let mut rows = Vec::new();
    for (name, num, den) in RATIOS {
        let (Some(n), Some(d)) = (by_id.get(num), by_id.get(den)) else {
            continue;
        };
        let (Some(nb), Some(nn), Some(db), Some(dn)) = (&n.base, &n.new, &d.base, &d.new) else {
            continue;
        };
        let seed = stats::seed_for(name);
        let per_round = |num: &[f64], den: &[f64]| -> Vec<f64> {
            num.iter().zip(den).map(|(x, y)| x / y).collect()
        };
        // Rounds pair up by index, so both benchmarks need the same rounds on each side.
        let rounds = n.base_rounds.len().min(n.new_rounds.len());
        let (base, new, change, p, new_interval, rounds) = if rounds >= MIN_ROUNDS
            && n.base_rounds.len() == d.base_rounds.len()
            && n.new_rounds.len() == d.new_rounds.len()
        {
            let rb = per_round(&n.base_rounds, &d.base_rounds);
            let rn = per_round(&n.new_rounds, &d.new_rounds);
            let (_, p) = stats::mann_whitney_u(&rn, &rb);
            (
                stats::median(&rb),
                stats::median(&rn),
                stats::median_change(&rb, &rn, seed),
                p,
                stats::bootstrap(&[&rn], 2000, seed ^ 1, |m| m[0]),
                rounds,
            )
        } else {
            let sets: [&[f64]; 4] = [&nb.per_iter, &db.per_iter, &nn.per_iter, &dn.per_iter];
            let change =
                stats::bootstrap(&sets, 2000, seed, |m| (m[2] / m[3]) / (m[0] / m[1]) - 1.0);
            // Per-sample ratios: each numerator sample over the denominator's median of its run.
            let (mdb, mdn) = (stats::median(&db.per_iter), stats::median(&dn.per_iter));
            let rb: Vec<f64> = nb.per_iter.iter().map(|x| x / mdb).collect();
            let rn: Vec<f64> = nn.per_iter.iter().map(|x| x / mdn).collect();
            let (_, p) = stats::mann_whitney_u(&rn, &rb);
            (
                stats::median(&nb.per_iter) / mdb,
                stats::median(&nn.per_iter) / mdn,
                change,
                p,
                stats::bootstrap(&[&nn.per_iter, &dn.per_iter], 2000, seed ^ 1, |m| {
                    m[0] / m[1]
                }),
                1,
            )
        };
        let verdict = match judge(&change, p, threshold, rounds) {
            Verdict::Unchanged => Verdict::Unchanged,
            _ => Verdict::Shifted,
        };
        rows.push(Row {
            id: format!("ratio/{name}"),
            kind: "ratio",
            unit: "ratio",
            base: Some(base),
            new: Some(new),
            new_interval: Some(new_interval),
            change: Some(change),
            p_value: Some(p),
            threshold,
            rounds,
            verdict,
        });
    }
    rows
}

/// Which rows decide the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    All,
    Ratios,
}

/// True when a gated row regressed (or, for ratios, shifted).
pub fn any_regressed(rows: &[Row], gate: Gate) -> bool {
    rows.iter().any(|r| match r.verdict {
        Verdict::Regressed => gate == Gate::All,
        Verdict::Shifted => true,
        _ => false,
    })
}

fn fmt_value(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "-".to_string(),
        Some(x) if unit == "ratio" => format!("{x:.3}"),
        Some(ns) if ns >= 1e9 => format!("{:.3} s", ns / 1e9),
        Some(ns) if ns >= 1e6 => format!("{:.3} ms", ns / 1e6),
        Some(ns) if ns >= 1e3 => format!("{:.3} µs", ns / 1e3),
        Some(ns) => format!("{ns:.1} ns"),
    }
}

fn fmt_change(c: Option<stats::Interval>) -> String {
    match c {
        None => "-".to_string(),
        Some(c) => format!(
            "{:+.1}% [{:+.1}%, {:+.1}%]",
            c.point * 100.0,
            c.lower * 100.0,
            c.upper * 100.0
        ),
    }
}

fn fmt_p(p: Option<f64>) -> String {
    p.map(|p| {
        if p < 1e-4 {
            "<0.0001".to_string()
        } else {
            format!("{p:.4}")
        }
    })
    .unwrap_or_else(|| "-".into())
}

fn counts(rows: &[Row]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r.verdict.as_str()).or_insert(0) += 1;
    }
    m
}

fn summary_line(rows: &[Row]) -> String {
    let mut line = counts(rows)
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(r) = rows.iter().map(|r| r.rounds).max().filter(|&r| r > 1) {
        let _ = write!(line, " (judged over up to {r} rounds per side)");
    }
    line
}

/// Plain-text table in the spirit of critcmp.
pub fn render_table(rows: &[Row], baseline: &str) -> String {
    let head = [
        "benchmark",
        baseline,
        "new",
        "change [95% CI]",
        "p",
        "verdict",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.id.clone(),
                fmt_value(r.base, r.unit),
                fmt_value(r.new, r.unit),
                fmt_change(r.change),
                fmt_p(r.p_value),
                r.verdict.as_str().to_string(),
            ]
        })
        .collect();
    let mut w = head.map(|h| h.chars().count());
    for c in &cells {
        for (i, s) in c.iter().enumerate() {
            w[i] = w[i].max(s.chars().count());
        }
    }
    let line = |c: &[String]| {
        c.iter()
            .enumerate()
            .map(|(i, s)| format!("{s}{}", " ".repeat(w[i] - s.chars().count())))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}", line(&head.map(String::from)).trim_end());
    let _ = writeln!(
        out,
        "{}",
        w.iter()
            .map(|n| "-".repeat(*n))
            .collect::<Vec<_>>()
            .join("  ")
    );
    for c in &cells {
        let _ = writeln!(out, "{}", line(c).trim_end());
    }
    let _ = writeln!(out, "\n{}", summary_line(rows));
    out
}

/// Markdown for a pull-request comment.
pub fn render_markdown(rows: &[Row], baseline: &str) -> String {
    let mut out = String::from("### threadbench: regression check\n\n");
    let _ = writeln!(
        out,
        "| benchmark | {baseline} | new | change [95% CI] | p | verdict |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    for r in rows {
        let v = match r.verdict {
            Verdict::Regressed | Verdict::Shifted => format!("**{}**", r.verdict.as_str()),
            v => v.as_str().to_string(),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            r.id,
            fmt_value(r.base, r.unit),
            fmt_value(r.new, r.unit),
            fmt_change(r.change),
            fmt_p(r.p_value),
            v
        );
    }
    let _ = writeln!(
        out,
        "\n{}. Rule: regressed when the 95 % CI of the median's change lies beyond the threshold and Mann-Whitney p < {ALPHA} (with ≥ {MIN_ROUNDS} rounds per side: the median over rounds beyond the threshold and Mann-Whitney over the rounds' medians p < {ALPHA}).",
        summary_line(rows)
    );
    out
}

/// Machine-readable report.
pub fn render_json(rows: &[Row], baseline: &str, dir: &Path) -> String {
    let doc = serde_json::json!({
        "baseline": baseline,
        "criterion_dir": dir.display().to_string(),
        "rule": format!("regressed: 95% bootstrap CI of the median's relative change above the threshold AND Mann-Whitney U p < {ALPHA}; with >= {MIN_ROUNDS} rounds per side: median over rounds above the threshold AND Mann-Whitney U over the rounds' medians p < {ALPHA}"),
        "summary": counts(rows),
        "benchmarks": rows.iter().filter(|r| r.kind == "benchmark").collect::<Vec<_>>(),
        "ratios": rows.iter().filter(|r| r.kind == "ratio").collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
}

/// Bencher Metric Format: `{ id: { measure: { value, lower_value, upper_value } } }` for the new
/// run; benchmarks absent from it (`missing`) are left out.
pub fn render_bmf(rows: &[Row]) -> String {
    let mut doc = serde_json::Map::new();
    for r in rows {
        let (Some(v), Some(iv)) = (r.new, r.new_interval) else {
            continue;
        };
        let measure = if r.kind == "ratio" {
            "ratio"
        } else {
            "latency"
        };
        let (lo, hi) = (iv.lower, iv.upper);
        doc.insert(
            r.id.clone(),
            serde_json::json!({ measure: { "value": v, "lower_value": lo.min(v), "upper_value": hi.max(v) } }),
        );
    }
    serde_json::to_string_pretty(&Value::Object(doc)).expect("a JSON value serialises")
}
