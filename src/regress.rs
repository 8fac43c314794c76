//! `threadbench regress`: paired rounds of two builds until every benchmark is decided.
//!
//! ```text
//!  pair k, per still-undecided bench file:   k odd: base, head    k even: head, base   (ABBA)
//!    each side a fresh `cargo bench --bench <file> -- --save-baseline <side>[@k]` process
//!        ▼
//!  compare::judge_paired over the tree: per-pair log ratios, signed-rank test, bootstrap CI
//!        ▼
//!  a file whose rows are all decided (regressed / improved / unchanged / new / missing) stops;
//!  the rest get pair k + 1 — until none is left or the budget (pairs, minutes) is spent
//! ```
//!
//! The rule is `report::compare`'s (*Paired rounds*). Both sides write into one criterion tree
//! (emptied first) as `base`, `base@2`, … and `head`, `head@2`, …, so `threadbench compare
//! --baseline base --head head [--paired]` can judge the same rounds again afterwards, paired
//! or not. Each side runs in its own source directory with its own cargo target directory,
//! built before the first pair so nothing compiles between measurements.

use crate::ids::Group;
use crate::report::compare::{self, Row, Verdict};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One side of the comparison: a source tree and where cargo builds it.
#[derive(Debug, Clone)]
pub struct Side {
    /// `base` or `head`: the saved baseline's name (round k: `<name>@k`).
    pub name: String,
    pub dir: PathBuf,
    pub target: PathBuf,
    /// Extra environment of this side's bench processes (e.g. an injected slowdown).
    pub env: Vec<(String, String)>,
}

/// What to run and when to stop.
pub struct Plan {
    /// The cargo to run (`$THREADBENCH_CARGO`, else `cargo` on the PATH).
    pub cargo: PathBuf,
    pub base: Side,
    pub head: Side,
    /// Bench files (`benches/<name>.rs`) to compare.
    pub benches: Vec<String>,
    /// The shared criterion tree (`CRITERION_HOME` of both sides); emptied first.
    pub criterion_dir: PathBuf,
    /// Pairs every bench file gets before it may stop.
    pub min_pairs: usize,
    /// Pairs after which no bench file gets another.
    pub max_pairs: usize,
    /// No pair is started that would end after this (judged from the file's last pair).
    pub max_time: Duration,
    /// Criterion arguments after `--` besides the baseline name (e.g. a filter).
    pub bench_args: Vec<String>,
}

/// What a run ended with.
#[derive(Debug)]
pub struct Outcome {
    /// The final verdicts, benchmarks and ratios ([`compare::judge_paired`]).
    pub rows: Vec<Row>,
    /// Pairs each bench file got.
    pub pairs: BTreeMap<String, usize>,
    pub elapsed: Duration,
    /// Bench files still undecided when the budget ran out (empty: all decided).
    pub undecided: Vec<String>,
}

/// `name` for round 1, `name@k` after: criterion's baseline directory of round k.
pub fn round_name(name: &str, k: usize) -> String {
    if k == 1 {
        name.to_owned()
    } else {
        format!("{name}@{k}")
    }
}

/// The bench file a row's benchmarks come from (a ratio: its numerator's).
pub fn bench_file_of(row: &Row) -> Option<&'static str> {
    match &row.ratio {
        Some(m) => Some(m.numerator.group.bench_file()),
        None => Group::parse(row.id.split('/').next()?).map(Group::bench_file),
    }
}

/// Bench files with a row still to decide.
fn undecided(rows: &[Row]) -> BTreeSet<&'static str> {
    rows.iter()
        .filter(|r| r.verdict == Verdict::Inconclusive)
        .filter_map(bench_file_of)
        .collect()
}

/// The bench files (`benches/*.rs`) of a source tree, sorted.
pub fn bench_files(dir: &Path) -> io::Result<Vec<String>> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("benches"))?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    v.sort();
    Ok(v)
}

impl Plan {
    fn cargo(&self, side: &Side, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.cargo);
        cmd.args(args)
            .current_dir(&side.dir)
            .env("CARGO_TARGET_DIR", &side.target)
            .env("CRITERION_HOME", &self.criterion_dir)
            .envs(side.env.iter().map(|(k, v)| (k, v)))
            // Our stdout is the verdict; the benches' chatter goes to stderr.
            .stdout(Stdio::from(io::stderr()));
        cmd
    }

    fn check(what: String, status: io::Result<std::process::ExitStatus>) -> io::Result<()> {
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(io::Error::other(format!("{what}: {s}"))),
            Err(e) => Err(io::Error::other(format!("{what}: {e}"))),
        }
    }

    /// Builds both sides' bench binaries (before any measurement).
    pub fn build(&self) -> io::Result<()> {
        for side in [&self.base, &self.head] {
            let status = self.cargo(side, &["bench", "--no-run", "--quiet"]).status();
            Plan::check(
                format!("building {} in {}", side.name, side.dir.display()),
                status,
            )?;
        }
        Ok(())
    }

    /// One side's round `k` of bench file `bench`, if that side has the file.
    fn run_side(&self, side: &Side, bench: &str, k: usize) -> io::Result<()> {
        if !side
            .dir
            .join("benches")
            .join(format!("{bench}.rs"))
            .is_file()
        {
            return Ok(());
        }
        eprintln!("== {} {bench}: pair {k}", side.name);
        let baseline = round_name(&side.name, k);
        let mut args = vec!["bench", "--quiet", "--bench", bench, "--"];
        args.extend(["--noplot", "--save-baseline", baseline.as_str()]);
        args.extend(self.bench_args.iter().map(String::as_str));
        let status = self.cargo(side, &args).status();
        Plan::check(format!("{} {bench} round {k}", side.name), status)
    }

    /// Pair `k` of `bench`: ABBA order.
    fn run_pair(&self, bench: &str, k: usize) -> io::Result<()> {
        let (first, second) = if k % 2 == 1 {
            (&self.base, &self.head)
        } else {
            (&self.head, &self.base)
        };
        self.run_side(first, bench, k)?;
        self.run_side(second, bench, k)
    }

    fn judge(&self, threshold_for: &dyn Fn(&str) -> f64) -> io::Result<Vec<Row>> {
        let benches = compare::load(&self.criterion_dir, &self.base.name, &self.head.name)
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(compare::judge_paired(&benches, threshold_for))
    }

    /// Runs pairs until every bench file is decided or the budget is spent. Does not build:
    /// call [`Plan::build`] first.
    pub fn run(&self, threshold_for: &dyn Fn(&str) -> f64) -> io::Result<Outcome> {
        let start = Instant::now();
        if self.criterion_dir.exists() {
            std::fs::remove_dir_all(&self.criterion_dir)?;
        }
        std::fs::create_dir_all(&self.criterion_dir)?;
        let mut open: Vec<String> = self.benches.clone();
        let mut pairs: BTreeMap<String, usize> = BTreeMap::new();
        let mut last_pair: BTreeMap<String, Duration> = BTreeMap::new();
        let mut budget_spent = false;
        for k in 1..=self.max_pairs {
            for bench in &open {
                let estimate = last_pair.get(bench).copied().unwrap_or_default();
                if k > 1 && start.elapsed() + estimate > self.max_time {
                    budget_spent = true;
                    break;
                }
                let t = Instant::now();
                self.run_pair(bench, k)?;
                last_pair.insert(bench.clone(), t.elapsed());
                pairs.insert(bench.clone(), k);
            }
            if budget_spent {
                break;
            }
            let rows = self.judge(threshold_for)?;
            let still = undecided(&rows);
            open.retain(|b| k < self.min_pairs || still.contains(b.as_str()));
            eprintln!(
                "== after pair {k} ({:.1} min): {}; undecided: {}",
                start.elapsed().as_secs_f64() / 60.0,
                compare::Summary::of(&rows).line(),
                if open.is_empty() {
                    "none".to_owned()
                } else {
                    open.join(", ")
                }
            );
            if open.is_empty() {
                break;
            }
        }
        let rows = self.judge(threshold_for)?;
        let still = undecided(&rows);
        Ok(Outcome {
            undecided: self
                .benches
                .iter()
                .filter(|b| still.contains(b.as_str()))
                .cloned()
                .collect(),
            rows,
            pairs,
            elapsed: start.elapsed(),
        })
    }
}

/// The exit status of a `regress` run: 1 when a gated row regressed, else 3 when a gated row
/// is still inconclusive (the budget ran out first), else 0.
pub fn exit_status(rows: &[Row], gate: compare::Gate) -> i32 {
    let gated = |r: &&Row| gate == compare::Gate::All || r.kind == "ratio";
    if compare::any_regressed(rows, gate) {
        1
    } else if rows
        .iter()
        .filter(gated)
        .any(|r| r.verdict == Verdict::Inconclusive)
    {
        INCONCLUSIVE_EXIT
    } else {
        0
    }
}

/// `regress`'s exit status when the budget ran out before every benchmark was decided.
pub const INCONCLUSIVE_EXIT: i32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_names_and_row_files() {
        assert_eq!(round_name("base", 1), "base");
        assert_eq!(round_name("head", 3), "head@3");
        let row = |id: &str, verdict| Row {
            id: id.into(),
            kind: "benchmark",
            unit: "ns",
            base: None,
            new: None,
            new_interval: None,
            change: None,
            p_value: None,
            threshold: 0.1,
            rounds: 6,
            paired: true,
            verdict,
            ratio: None,
        };
        let mut ratio = row("ratio/fork_vs_thread_spawn", Verdict::Inconclusive);
        ratio.kind = "ratio";
        ratio.ratio = Some(compare::RATIOS[0]);
        let rows = [
            row("spawn/fork_exit_wait", Verdict::Unchanged),
            row("sync_threads/std_mutex/4", Verdict::Inconclusive),
            row("event_scan_fds/epoll/1", Verdict::New),
            ratio,
        ];
        assert_eq!(bench_file_of(&rows[1]), Some("sync"));
        assert_eq!(bench_file_of(&rows[3]), Some("spawn"));
        assert_eq!(
            undecided(&rows).into_iter().collect::<Vec<_>>(),
            ["spawn", "sync"]
        );
        assert_eq!(exit_status(&rows, compare::Gate::All), INCONCLUSIVE_EXIT);
        let decided = [row("spawn/fork_exit_wait", Verdict::Unchanged)];
        assert_eq!(exit_status(&decided, compare::Gate::All), 0);
        let bad = [
            row("spawn/fork_exit_wait", Verdict::Regressed),
            row("sync_threads/std_mutex/4", Verdict::Inconclusive),
        ];
        assert_eq!(exit_status(&bad, compare::Gate::All), 1);
        // Only ratios gate: a benchmark still open does not make it inconclusive.
        assert_eq!(exit_status(&bad, compare::Gate::Ratios), 0);
    }
}
