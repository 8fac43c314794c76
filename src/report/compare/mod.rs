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
//! the two runs (another job started in between): only rounds of fresh processes (best paired:
//! `threadbench regress`) and a threshold above the machine's run-to-run drift help there — or
//! ratio metrics.
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
//! interleaved (`threadbench regress` / `scripts/ci-regress.sh` save their pairs so), saving
//! the rounds as
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
//! # Paired rounds: the rule `threadbench regress` decides with
//! Unpaired rounds still let the host's drift between rounds into the noise the test sees.
//! Paired rounds cancel it: pair k is a fresh base process and a fresh head process run back
//! to back, in ABBA order (base, head, then head, base, …, so a linear drift within a pair
//! favours neither side), saved as round k of each side. The statistic is the per-pair log
//! ratio `d_k = ln(head_k / base_k)` of the two round medians; `compare --paired` (and
//! `threadbench regress`, which adds pairs until decided) judges each benchmark, and each ratio
//! metric over its per-pair ratios, by:
//! - the change `exp(median d) - 1` with the 95 % bootstrap interval [lo, hi] of that median;
//! - the Wilcoxon signed-rank test of the `d_k` against zero (two-sided p).
//!
//! `unchanged` when [lo, hi] lies within ±threshold (then the data rule out a change that
//! matters); `regressed` when p < [`PAIRED_ALPHA`], the interval lies above zero (lo > 0) and
//! the change is at least [`MIN_SHIFT`] × threshold (`improved` mirrored); anything else — and
//! fewer than [`MIN_PAIRS`] pairs — is `inconclusive`: run more pairs. A regression must be
//! significant and of a size that matters, but its interval need not lie wholly beyond the
//! threshold: a slowdown of exactly the threshold then could never be called (its lower bound
//! lies below it half the time however many pairs run). [`PAIRED_ALPHA`] is strict because
//! `regress` looks again after every pair, at every benchmark of a bench file: the false-alarm
//! rate of a whole A/A comparison, not of one test, is what a CI user sees.
//!
//! What it does not do: it does not rerun anything (`threadbench regress` does), and it
//! trusts criterion's files.

mod judge;
mod render;
pub mod stats;
mod tree;

pub use judge::{judge_benches, judge_paired, judge_ratio_metrics, judge_ratios};
pub use render::{render_bmf, render_json, render_markdown, render_table, RenderOptions, Summary};
pub use tree::{criterion_dir, load};

use super::bench_ref::{BenchRef, Function};
use crate::blocks::ctx_switch::Switch;
use crate::blocks::event_scan::Waiter;
use crate::blocks::spawn::Creation;
use crate::blocks::sync::SyncFn;
use crate::ids::Group;
use crate::server::Model;
use serde::Serialize;
use std::path::PathBuf;

/// p value below which the rank test calls a change statistically clear.
pub const ALPHA: f64 = 0.01;

/// Rounds per side from which benchmarks are judged on per-round medians (see the module doc):
/// with fewer, Mann-Whitney over the rounds cannot reach p < [`ALPHA`] (5 vs 5 fully separated:
/// p = 0.009).
pub const MIN_ROUNDS: usize = 5;

/// Paired rule: p value below which the signed-rank test over the pairs calls a change clear.
/// 0.001 needs at least 11 pairs (2 / 2^11 = 0.00098); see the module doc for why it is strict.
pub const PAIRED_ALPHA: f64 = 0.001;

/// Paired rule: a change must be at least this fraction of the threshold to be called.
pub const MIN_SHIFT: f64 = 0.5;

/// Paired rule: fewer pairs than this decide nothing (a bootstrap over fewer is too narrow).
pub const MIN_PAIRS: usize = 6;

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
    pub numerator: BenchRef,
    pub denominator: BenchRef,
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
    /// Rounds per side the verdict was computed over (1: one run's samples); pairs when
    /// `paired`.
    pub rounds: usize,
    /// Judged over paired rounds (per-pair ratios, signed-rank test).
    pub paired: bool,
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
        numerator: BenchRef {
            group: Group::Spawn,
            function: Function::Creation(Creation::ForkExitWait),
            param: None,
        },
        denominator: BenchRef {
            group: Group::Spawn,
            function: Function::Creation(Creation::ThreadSpawnJoin),
            param: None,
        },
        worse: Worse::Lower,
        claim: "creating a process costs more than creating a thread",
    },
    RatioMetric {
        name: "process_vs_thread_switch",
        numerator: BenchRef {
            group: Group::CtxSwitchSameCore,
            function: Function::Switch(Switch::PipeProcess),
            param: None,
        },
        denominator: BenchRef {
            group: Group::CtxSwitchSameCore,
            function: Function::Switch(Switch::PipeThread),
            param: None,
        },
        worse: Worse::Lower,
        claim: "a process switch costs more than a thread switch",
    },
    RatioMetric {
        name: "cross_vs_same_core_switch",
        numerator: BenchRef {
            group: Group::CtxSwitchCrossCore,
            function: Function::Switch(Switch::PipeThread),
            param: None,
        },
        denominator: BenchRef {
            group: Group::CtxSwitchSameCore,
            function: Function::Switch(Switch::PipeThread),
            param: None,
        },
        worse: Worse::Lower,
        claim: "a wake-up on another core costs more than a switch on one core",
    },
    RatioMetric {
        name: "poll_vs_epoll_1000_fds",
        numerator: BenchRef {
            group: Group::EventScanFds,
            function: Function::Waiter(Waiter::Poll),
            param: Some(1000),
        },
        denominator: BenchRef {
            group: Group::EventScanFds,
            function: Function::Waiter(Waiter::Epoll),
            param: Some(1000),
        },
        worse: Worse::Lower,
        claim: "poll scans every descriptor, epoll only the ready ones",
    },
    RatioMetric {
        name: "select_vs_epoll_1000_fds",
        numerator: BenchRef {
            group: Group::EventScanFds,
            function: Function::Waiter(Waiter::Select),
            param: Some(1000),
        },
        denominator: BenchRef {
            group: Group::EventScanFds,
            function: Function::Waiter(Waiter::Epoll),
            param: Some(1000),
        },
        worse: Worse::Lower,
        claim: "select scans every descriptor, epoll only the ready ones",
    },
    RatioMetric {
        name: "spinlock_vs_mutex_8_threads",
        numerator: BenchRef {
            group: Group::SyncThreads,
            function: Function::Sync(SyncFn::SpinlockTtas),
            param: Some(8),
        },
        denominator: BenchRef {
            group: Group::SyncThreads,
            function: Function::Sync(SyncFn::StdMutex),
            param: Some(8),
        },
        worse: Worse::Lower,
        claim: "with more threads than cores a spinlock loses to a sleeping mutex",
    },
    RatioMetric {
        name: "mp_vs_sped_server_conns_64",
        numerator: BenchRef {
            group: Group::ServerConns,
            function: Function::Model(Model::Mp),
            param: Some(64),
        },
        denominator: BenchRef {
            group: Group::ServerConns,
            function: Function::Model(Model::Sped),
            param: Some(64),
        },
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
    fn put_run(dir: &std::path::Path, id: &str, ns: f64, written: std::time::SystemTime) {
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
        assert_eq!(
            judge::judge(&iv(0.3, 0.2, 0.4), 0.001, 0.1, 1),
            Verdict::Regressed
        );
        assert_eq!(
            judge::judge(&iv(-0.3, -0.4, -0.2), 0.001, 0.1, 1),
            Verdict::Improved
        );
        assert_eq!(
            judge::judge(&iv(0.01, -0.02, 0.04), 0.5, 0.1, 1),
            Verdict::Unchanged
        );
        // Tiny but consistent: significant, yet within the threshold.
        assert_eq!(
            judge::judge(&iv(0.01, 0.0, 0.02), 0.001, 0.1, 1),
            Verdict::Unchanged
        );
        // The interval reaches beyond the threshold without confirming a change.
        assert_eq!(
            judge::judge(&iv(0.3, -0.2, 0.8), 0.2, 0.1, 1),
            Verdict::Inconclusive
        );
        assert_eq!(
            judge::judge(&iv(0.09, 0.06, 0.12), 0.001, 0.1, 1),
            Verdict::Inconclusive
        );
        assert_eq!(
            judge::judge(&iv(0.3, 0.2, 0.4), 0.05, 0.1, 1),
            Verdict::Inconclusive
        );
        // With rounds only the point counts.
        assert_eq!(
            judge::judge(&iv(0.05, -0.3, 0.4), 0.5, 0.1, 5),
            Verdict::Unchanged
        );
        assert_eq!(
            judge::judge(&iv(0.2, -0.3, 0.4), 0.2, 0.1, 5),
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
        let b = |c| BenchRef {
            group: Group::Spawn,
            function: Function::Creation(c),
            param: None,
        };
        let metric = |worse| RatioMetric {
            name: "a_vs_b",
            numerator: b(Creation::ForkExitWait),
            denominator: b(Creation::ThreadSpawnJoin),
            worse,
            claim: "test",
        };
        let (a, bb) = ("spawn/fork_exit_wait", "spawn/thread_spawn_join");
        // a/b rises from 2 to 3.
        let rising = [bench(a, 200.0, 300.0), bench(bb, 100.0, 100.0)];
        // a/b falls from 2 to 1.5.
        let falling = [bench(a, 200.0, 150.0), bench(bb, 100.0, 100.0)];
        let one = |benches: &[Bench], worse| {
            let rows = judge_ratio_metrics(benches, 0.1, &[metric(worse)]);
            assert_eq!(rows.len(), 1);
            (rows[0].verdict, any_regressed(&rows, Gate::Ratios))
        };
        assert_eq!(one(&rising, Worse::Lower), (Verdict::Improved, false));
        assert_eq!(one(&rising, Worse::Higher), (Verdict::Regressed, true));
        assert_eq!(one(&falling, Worse::Lower), (Verdict::Regressed, true));
        assert_eq!(one(&falling, Worse::Higher), (Verdict::Improved, false));
        let flat = [bench(a, 200.0, 201.0), bench(bb, 100.0, 100.0)];
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
