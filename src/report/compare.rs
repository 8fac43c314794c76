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
//!  regressed | improved | unchanged | inconclusive | new | missing   (+ ratio metrics)
//!        ▼
//!  one summary line, then regressed → improved → the rest; IDs in natural order (/5 < /20)
//! ```
//!
//! # Usage
//! ```text
//! cargo bench -- --save-baseline base     # on the old code: the baseline
//! cargo bench -- --baseline base          # on the new code: judged into new/, base/ is kept
//! cargo run --release --bin threadbench -- compare --baseline base
//!                                         # add --only-changed, --format markdown, --gate ratios
//! ```
//! The second run must name the baseline: a plain `cargo bench` saves its run as `base/`
//! (criterion's default baseline name) and the comparison would see the new code on both sides.
//! `--baseline-lenient base` instead of `--baseline base` when the change adds benchmarks.
//!
//! # The rule, and why
//! A benchmark is `regressed` only when **both** hold:
//! 1. the whole 95 % bootstrap confidence interval of the median's relative change lies above
//!    the threshold (`lo > threshold`): the slowdown is larger than what we care about even at
//!    the optimistic end of its uncertainty, not just at the point estimate;
//! 2. the Mann-Whitney U rank test on the per-iteration samples rejects "same distribution" at
//!    p < 0.01: robust to the outliers a shared machine produces, with no normality assumption.
//!
//! `improved` is the mirror image (`hi < -threshold`, p < 0.01). `unchanged` means the data
//! rule out a change beyond the threshold: the whole interval lies within ±threshold. Anything
//! else is `inconclusive`: the interval reaches beyond the threshold but the rule did not confirm
//! a change (a noisy point estimate of +30 %, a tight +9 % ± 3 % next to a 10 % threshold, or a
//! clear interval whose rank test is not significant). Neither counts for the exit status.
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
//! ratios (each numerator sample divided by the denominator's median of the same run).
//! A ratio is only reported when all four sample sets exist.
//!
//! A ratio has a direction: every entry of [`RATIOS`] states which way is worse
//! ([`Worse`]). The rule: a ratio backs one of the suite's claims (findings.md) that its
//! numerator costs more than its denominator — a process more than a thread, poll more than
//! epoll at 1000 fds — so the claim wants it large, and a ratio that falls beyond the threshold
//! is `regressed` (the finding weakened), one that rises is `improved`. Falling is also what the
//! failure the suite fears most looks like: overhead of the harness added to both sides
//! (measuring the harness instead of the kernel) pulls every such ratio toward 1. A ratio the
//! claims wanted small would say `Worse::Higher`. Only an adverse move sets exit status 1,
//! with `--gate all` and `--gate ratios` alike.
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

mod render;
pub mod stats;

pub use render::{render_bmf, render_json, render_markdown, render_table, RenderOptions, Summary};

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
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

/// A row's verdict. For a ratio metric `regressed`/`improved` mean it moved in its adverse/
/// favourable direction ([`Worse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    // Declared in the order rows are listed: what needs attention first.
    Regressed,
    Improved,
    Inconclusive,
    Missing,
    New,
    Unchanged,
}

impl Verdict {
    /// Every verdict, in the order rows are listed and counted.
    pub const ALL: [Verdict; 6] = [
        Verdict::Regressed,
        Verdict::Improved,
        Verdict::Inconclusive,
        Verdict::Missing,
        Verdict::New,
        Verdict::Unchanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regressed => "regressed",
            Verdict::Improved => "improved",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Unchanged => "unchanged",
            Verdict::New => "new",
            Verdict::Missing => "missing",
        }
    }
}

/// Which way a ratio metric moving is bad news (see the module doc for the rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Worse {
    /// The claim wants the ratio large: falling is adverse.
    Lower,
    /// The claim wants the ratio small: rising is adverse.
    Higher,
}

impl Worse {
    pub fn as_str(self) -> &'static str {
        match self {
            Worse::Lower => "lower",
            Worse::Higher => "higher",
        }
    }
}

/// A ratio metric: two benchmarks of the same run, and the direction that is worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RatioMetric {
    /// Reported as `ratio/<name>` (the row's id, so not repeated in JSON).
    #[serde(skip)]
    pub name: &'static str,
    pub numerator: &'static str,
    pub denominator: &'static str,
    pub worse: Worse,
    /// The claim the ratio backs: why `worse` is the adverse direction.
    pub claim: &'static str,
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
    /// Ratio metrics only: what the ratio is and which way is worse.
    #[serde(flatten)]
    pub ratio: Option<RatioMetric>,
}

/// The ratio metrics. Every one backs a claim that the numerator costs more than the
/// denominator, so every one is worse lower (see the module doc).
pub const RATIOS: &[RatioMetric] = &[
    RatioMetric {
        name: "fork_vs_thread_spawn",
        numerator: "spawn/fork_exit_wait",
        denominator: "spawn/thread_spawn_join",
        worse: Worse::Lower,
        claim: "creating a process costs more than creating a thread",
    },
    RatioMetric {
        name: "process_vs_thread_switch",
        numerator: "ctx_switch_same_core/pipe_process",
        denominator: "ctx_switch_same_core/pipe_thread",
        worse: Worse::Lower,
        claim: "a process switch costs more than a thread switch",
    },
    RatioMetric {
        name: "cross_vs_same_core_switch",
        numerator: "ctx_switch_cross_core/pipe_thread",
        denominator: "ctx_switch_same_core/pipe_thread",
        worse: Worse::Lower,
        claim: "a wake-up on another core costs more than a switch on one core",
    },
    RatioMetric {
        name: "poll_vs_epoll_1000_fds",
        numerator: "event_scan_fds/poll/1000",
        denominator: "event_scan_fds/epoll/1000",
        worse: Worse::Lower,
        claim: "poll scans every descriptor, epoll only the ready ones",
    },
    RatioMetric {
        name: "select_vs_epoll_1000_fds",
        numerator: "event_scan_fds/select/1000",
        denominator: "event_scan_fds/epoll/1000",
        worse: Worse::Lower,
        claim: "select scans every descriptor, epoll only the ready ones",
    },
    RatioMetric {
        name: "spinlock_vs_mutex_8_threads",
        numerator: "sync_threads/spinlock_ttas/8",
        denominator: "sync_threads/std_mutex/8",
        worse: Worse::Lower,
        claim: "with more threads than cores a spinlock loses to a sleeping mutex",
    },
    RatioMetric {
        name: "mp_vs_sped_server_conns_64",
        numerator: "server_conns/mp/64",
        denominator: "server_conns/sped/64",
        worse: Worse::Lower,
        claim: "a request costs a multi-process server more than an event-driven one (Flash)",
    },
];

/// Orders benchmark IDs as people read them: digit runs compare as numbers, so
/// `event_scan_fds/poll/5` < `/20` < `/100` (text order puts `/100` first); everything else
/// compares as text. Parameters are bare integers (DESIGN.md §3), so no decimal points.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> impl Iterator<Item = &str> {
        let mut rest = s;
        std::iter::from_fn(move || {
            let first = rest.chars().next()?;
            let digit = first.is_ascii_digit();
            let end = rest
                .find(|c: char| c.is_ascii_digit() != digit)
                .unwrap_or(rest.len());
            let (chunk, tail) = rest.split_at(end);
            rest = tail;
            Some(chunk)
        })
    }
    let (mut x, mut y) = (chunks(a), chunks(b));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(p), Some(q)) => {
                let both_digits =
                    p.as_bytes()[0].is_ascii_digit() && q.as_bytes()[0].is_ascii_digit();
                let ord = if both_digits {
                    // No parse: any length of digits compares without overflow.
                    let (p, q) = (p.trim_start_matches('0'), q.trim_start_matches('0'));
                    p.len().cmp(&q.len()).then_with(|| p.cmp(q))
                } else {
                    p.cmp(q)
                };
                if ord.is_ne() {
                    return ord;
                }
            }
        }
    }
}

/// The order rows are listed in: by verdict (regressed, improved, inconclusive, missing, new,
/// unchanged), benchmarks before ratios, then by ID in [`natural_cmp`] order.
pub fn row_order(a: &Row, b: &Row) -> std::cmp::Ordering {
    a.verdict
        .cmp(&b.verdict)
        .then_with(|| (a.kind == "ratio").cmp(&(b.kind == "ratio")))
        .then_with(|| natural_cmp(&a.id, &b.id))
}

/// The criterion tree to read: `--criterion-dir`, else `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else `target/criterion`.
pub fn criterion_dir(explicit: Option<PathBuf>) -> PathBuf {
    explicit.unwrap_or_else(|| super::results::Paths::from_env().criterion)
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
/// How much older than the baseline a `new/` must be to count as an earlier run's leftover
/// (`--save-baseline` writes `new/` a moment before copying it to the baseline).
const LEFTOVER_SLACK: std::time::Duration = std::time::Duration::from_secs(60);

/// When criterion wrote the run in `d` (its sample.json).
fn written_at(d: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(d.join("sample.json"))
        .ok()?
        .modified()
        .ok()
}

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

/// One run per side: the whole interval beyond the threshold; with rounds: the point estimate
/// (the interval over a few rounds is too wide to ask more of it). Both need p < ALPHA.
/// `Regressed` means the value rose, `Improved` that it fell; `Unchanged` that it stayed within
/// ±threshold (interval, or point with rounds); anything else is `Inconclusive`.
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
    } else if lo >= -threshold && hi <= threshold {
        Verdict::Unchanged
    } else {
        Verdict::Inconclusive
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
                ratio: None,
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

/// The ratio metrics whose four sample sets exist, judged like benchmarks; a move beyond the
/// threshold in the ratio's [`Worse`] direction is `regressed`, in the other `improved`. With [`MIN_ROUNDS`] rounds of both
/// benchmarks on both sides a ratio is judged over its per-round ratios (numerator's median over
/// denominator's median of the same round), like a benchmark over its round medians.
pub fn judge_ratios(benches: &[Bench], threshold: f64) -> Vec<Row> {
    judge_ratio_metrics(benches, threshold, RATIOS)
}

/// [`judge_ratios`] over any list of ratio metrics.
pub fn judge_ratio_metrics(benches: &[Bench], threshold: f64, metrics: &[RatioMetric]) -> Vec<Row> {
    let by_id: BTreeMap<&str, &Bench> = benches.iter().map(|b| (b.id.as_str(), b)).collect();
    let mut rows = Vec::new();
    for metric in metrics {
        let (name, num, den) = (metric.name, metric.numerator, metric.denominator);
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
        // judge() speaks of a rising (`Regressed`) or falling (`Improved`) value.
        let verdict = match (judge(&change, p, threshold, rounds), metric.worse) {
            (Verdict::Regressed, Worse::Lower) | (Verdict::Improved, Worse::Higher) => {
                Verdict::Improved
            }
            (Verdict::Regressed, Worse::Higher) | (Verdict::Improved, Worse::Lower) => {
                Verdict::Regressed
            }
            (v, _) => v,
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
            ratio: Some(*metric),
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

/// True when a gated row regressed: any benchmark or ratio ([`Gate::All`]), or a ratio that
/// moved in its adverse direction ([`Gate::Ratios`]). Improvements and inconclusive rows never
/// fail the gate.
pub fn any_regressed(rows: &[Row], gate: Gate) -> bool {
    rows.iter()
        .any(|r| r.verdict == Verdict::Regressed && (gate == Gate::All || r.kind == "ratio"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    /// Writes a criterion run dir (`sample.json`, `estimates.json`, `benchmark.json`).
    fn put_run(dir: &Path, id: &str, ns: f64, written: std::time::SystemTime) {
        std::fs::create_dir_all(dir).expect("mkdir");
        let iters: Vec<f64> = (1..=10).map(f64::from).collect();
        let times: Vec<f64> = iters.iter().map(|i| i * ns).collect();
        let est = serde_json::json!({"point_estimate": ns, "standard_error": 0.0,
            "confidence_interval": {"confidence_level": 0.95, "lower_bound": ns, "upper_bound": ns}});
        let files = [
            (
                "sample.json",
                serde_json::json!({"sampling_mode": "Linear", "iters": iters, "times": times}),
            ),
            (
                "estimates.json",
                serde_json::json!({"mean": est, "median": est}),
            ),
            (
                "benchmark.json",
                serde_json::json!({"full_id": id, "group_id": id.split('/').next()}),
            ),
        ];
        for (name, v) in files {
            let path = dir.join(name);
            std::fs::write(&path, v.to_string()).expect("write");
            std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(written))
                .expect("set mtime");
        }
    }

    #[test]
    fn leftovers_of_an_earlier_run_are_not_compared() {
        let root = std::env::temp_dir().join(format!("tb-compare-left-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let now = std::time::SystemTime::now();
        let hour_ago = now - std::time::Duration::from_secs(3600);
        // The baseline run and the head run measured g/a; an earlier run (another profile)
        // left g/left/new only, and g/b/new from before the baseline.
        put_run(&root.join("g/a/before"), "g/a", 100.0, now);
        put_run(&root.join("g/a/new"), "g/a", 100.0, now);
        put_run(&root.join("g/left/new"), "g/left", 50.0, hour_ago);
        put_run(&root.join("g/b/before"), "g/b", 100.0, now);
        put_run(&root.join("g/b/new"), "g/b", 100.0, hour_ago);
        let benches = load(&root, "before", "new").expect("load");
        let _ = std::fs::remove_dir_all(&root);
        let ids: Vec<(&str, bool, bool)> = benches
            .iter()
            .map(|b| (b.id.as_str(), b.base.is_some(), b.new.is_some()))
            .collect();
        assert_eq!(
            ids,
            [("g/a", true, true), ("g/b", true, false)],
            "no `new` leftover"
        );
    }

    #[test]
    fn natural_order_sorts_parameters_as_numbers() {
        let mut ids = vec![
            "event_scan_fds/poll/100",
            "event_scan_fds/poll/20",
            "event_scan_fds/epoll/5",
            "event_scan_fds/poll/5",
            "event_scan_fds/poll/1000",
            "event_scan_active/epoll/5",
            "spawn_rss/fork_exit_wait/64",
            "spawn/fork_exit_wait",
        ];
        ids.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            ids,
            [
                "event_scan_active/epoll/5",
                "event_scan_fds/epoll/5",
                "event_scan_fds/poll/5",
                "event_scan_fds/poll/20",
                "event_scan_fds/poll/100",
                "event_scan_fds/poll/1000",
                "spawn/fork_exit_wait",
                "spawn_rss/fork_exit_wait/64",
            ]
        );
        assert_eq!(natural_cmp("g/f/007", "g/f/7"), "g/f/007".cmp("g/f/7"));
        assert_eq!(natural_cmp("a", "a"), Ordering::Equal);
        assert_eq!(
            natural_cmp(
                "g/f/99999999999999999999999",
                "g/f/100000000000000000000000"
            ),
            Ordering::Less
        );
    }

    #[test]
    fn judge_tells_unchanged_from_inconclusive() {
        let iv = |point, lower, upper| stats::Interval {
            point,
            lower,
            upper,
        };
        assert_eq!(judge(&iv(0.3, 0.2, 0.4), 0.001, 0.1, 1), Verdict::Regressed);
        assert_eq!(
            judge(&iv(-0.3, -0.4, -0.2), 0.001, 0.1, 1),
            Verdict::Improved
        );
        assert_eq!(
            judge(&iv(0.01, -0.02, 0.04), 0.5, 0.1, 1),
            Verdict::Unchanged
        );
        // Tiny but consistent: significant, yet within the threshold.
        assert_eq!(
            judge(&iv(0.01, 0.0, 0.02), 0.001, 0.1, 1),
            Verdict::Unchanged
        );
        // The interval reaches beyond the threshold without confirming a change.
        assert_eq!(
            judge(&iv(0.3, -0.2, 0.8), 0.2, 0.1, 1),
            Verdict::Inconclusive
        );
        assert_eq!(
            judge(&iv(0.09, 0.06, 0.12), 0.001, 0.1, 1),
            Verdict::Inconclusive
        );
        assert_eq!(
            judge(&iv(0.3, 0.2, 0.4), 0.05, 0.1, 1),
            Verdict::Inconclusive
        );
        // With rounds only the point counts.
        assert_eq!(judge(&iv(0.05, -0.3, 0.4), 0.5, 0.1, 5), Verdict::Unchanged);
        assert_eq!(
            judge(&iv(0.2, -0.3, 0.4), 0.2, 0.1, 5),
            Verdict::Inconclusive
        );
    }

    fn bench(id: &str, base: f64, new: f64) -> Bench {
        // Ten tight samples around the value.
        let run = |v: f64| {
            let per_iter: Vec<f64> = (0..10).map(|k| v * (1.0 + 0.001 * k as f64)).collect();
            let m = stats::median(&per_iter);
            Run {
                per_iter,
                median: stats::Interval {
                    point: m,
                    lower: m,
                    upper: m,
                },
            }
        };
        Bench {
            id: id.into(),
            group: "g".into(),
            base: Some(run(base)),
            new: Some(run(new)),
            base_rounds: vec![base],
            new_rounds: vec![new],
            criterion_change: None,
        }
    }

    #[test]
    fn a_ratio_regresses_only_in_its_worse_direction() {
        let metric = |worse| RatioMetric {
            name: "a_vs_b",
            numerator: "g/a",
            denominator: "g/b",
            worse,
            claim: "test",
        };
        // a/b rises from 2 to 3.
        let rising = [bench("g/a", 200.0, 300.0), bench("g/b", 100.0, 100.0)];
        // a/b falls from 2 to 1.5.
        let falling = [bench("g/a", 200.0, 150.0), bench("g/b", 100.0, 100.0)];
        let one = |benches: &[Bench], worse| {
            let rows = judge_ratio_metrics(benches, 0.1, &[metric(worse)]);
            assert_eq!(rows.len(), 1);
            (rows[0].verdict, any_regressed(&rows, Gate::Ratios))
        };
        assert_eq!(one(&rising, Worse::Lower), (Verdict::Improved, false));
        assert_eq!(one(&rising, Worse::Higher), (Verdict::Regressed, true));
        assert_eq!(one(&falling, Worse::Lower), (Verdict::Regressed, true));
        assert_eq!(one(&falling, Worse::Higher), (Verdict::Improved, false));
        let flat = [bench("g/a", 200.0, 201.0), bench("g/b", 100.0, 100.0)];
        assert_eq!(one(&flat, Worse::Lower), (Verdict::Unchanged, false));
    }

    #[test]
    fn gate_all_counts_benchmarks_gate_ratios_only_ratios() {
        let benches = [bench("g/a", 100.0, 150.0), bench("g/b", 100.0, 150.0)];
        let rows = judge_benches(&benches, &|_| 0.1);
        assert!(rows.iter().all(|r| r.verdict == Verdict::Regressed));
        assert!(any_regressed(&rows, Gate::All));
        assert!(!any_regressed(&rows, Gate::Ratios));
    }

    #[test]
    fn every_ratio_states_its_adverse_direction_and_claim() {
        for m in RATIOS {
            assert!(!m.claim.is_empty(), "{}", m.name);
            assert_ne!(m.numerator, m.denominator, "{}", m.name);
        }
    }
}
