//! `compare`'s verdicts for people (plain table, markdown for a pull-request comment) and for
//! machines (JSON, Bencher's BMF).
//!
//! The human formats open with one summary line (`2 regressed, 1 improved, 150 unchanged,
//! 3 inconclusive`) and list the rows in [`row_order`]: what regressed, then what improved,
//! then the rest, IDs in natural order (`/5` before `/20` before `/100`). `--only-changed` drops
//! the unchanged rows (the summary still counts them); markdown folds them into a
//! `<details>` block instead. Every ratio row says which direction is worse.

use super::{
    row_order, stats, Row, Verdict, ALPHA, MIN_PAIRS, MIN_ROUNDS, MIN_SHIFT, PAIRED_ALPHA,
};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// What to render besides the rows.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// The baseline's name (a column header).
    pub baseline: String,
    /// The judged run's name (`new`: criterion's latest).
    pub head: String,
    /// Leave the unchanged rows out of the listing (table, markdown, JSON; not BMF, which
    /// tracks values rather than verdicts).
    pub only_changed: bool,
}

/// How many rows got each verdict, and what they were judged with.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// One count per [`Verdict::ALL`] entry, in that order.
    pub counts: [usize; 6],
    /// The most rounds per side (pairs, when `paired`) any row was judged over.
    pub max_rounds: usize,
    /// The rows were judged over paired rounds.
    pub paired: bool,
    /// The smallest and largest threshold any row was judged with.
    pub thresholds: Option<(f64, f64)>,
}

impl Summary {
    pub fn of(rows: &[Row]) -> Self {
        let mut counts = [0; 6];
        for r in rows {
            counts[Verdict::ALL
                .iter()
                .position(|&v| v == r.verdict)
                .expect("ALL lists every verdict")] += 1;
        }
        let thresholds = rows.iter().map(|r| r.threshold).fold(None, |acc, t| {
            Some(acc.map_or((t, t), |(lo, hi): (f64, f64)| (lo.min(t), hi.max(t))))
        });
        Summary {
            counts,
            max_rounds: rows.iter().map(|r| r.rounds).max().unwrap_or(1),
            paired: rows.iter().any(|r| r.paired),
            thresholds,
        }
    }

    pub fn count(&self, v: Verdict) -> usize {
        self.counts[Verdict::ALL
            .iter()
            .position(|&x| x == v)
            .expect("ALL lists every verdict")]
    }

    /// `2 regressed, 1 improved, 150 unchanged, 3 inconclusive[, 1 new][, 1 missing]
    /// (threshold ±10%)`: the four verdicts always, new and missing when there are any.
    pub fn line(&self) -> String {
        let mut parts: Vec<String> = [
            Verdict::Regressed,
            Verdict::Improved,
            Verdict::Unchanged,
            Verdict::Inconclusive,
        ]
        .iter()
        .map(|&v| format!("{} {}", self.count(v), v.as_str()))
        .collect();
        for v in [Verdict::New, Verdict::Missing] {
            if self.count(v) > 0 {
                parts.push(format!("{} {}", self.count(v), v.as_str()));
            }
        }
        let mut line = parts.join(", ");
        let mut notes = Vec::new();
        match self.thresholds {
            Some((lo, hi)) if lo == hi => notes.push(format!("threshold ±{}", pct(lo))),
            Some((lo, hi)) => notes.push(format!("thresholds ±{}..{} by group", pct(lo), pct(hi))),
            None => {}
        }
        if self.paired {
            notes.push(format!("judged over up to {} ABBA pairs", self.max_rounds));
        } else if self.max_rounds > 1 {
            notes.push(format!(
                "judged over up to {} rounds per side",
                self.max_rounds
            ));
        }
        if !notes.is_empty() {
            let _ = write!(line, " ({})", notes.join("; "));
        }
        line
    }

    fn json(&self) -> Value {
        Value::Object(
            Verdict::ALL
                .iter()
                .map(|&v| (v.as_str().to_string(), Value::from(self.count(v))))
                .collect(),
        )
    }
}

fn pct(x: f64) -> String {
    let p = x * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// The rows to list, in [`row_order`], and how many unchanged ones were left out.
fn listed<'a>(rows: &'a [Row], opts: &RenderOptions) -> (Vec<&'a Row>, usize) {
    let mut v: Vec<&Row> = rows.iter().collect();
    v.sort_by(|a, b| row_order(a, b));
    if !opts.only_changed {
        return (v, 0);
    }
    let before = v.len();
    v.retain(|r| r.verdict != Verdict::Unchanged);
    (v.clone(), before - v.len())
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

/// The verdict cell: a ratio adds its adverse direction.
fn fmt_verdict(r: &Row) -> String {
    match &r.ratio {
        Some(m) => format!("{} ({} is worse)", r.verdict.as_str(), m.worse.as_str()),
        None => r.verdict.as_str().to_string(),
    }
}

fn cells(r: &Row) -> [String; 6] {
    [
        r.id.clone(),
        fmt_value(r.base, r.unit),
        fmt_value(r.new, r.unit),
        fmt_change(r.change),
        fmt_p(r.p_value),
        fmt_verdict(r),
    ]
}

/// What each listed ratio divides and why its `worse` direction is adverse.
fn ratio_legend(rows: &[&Row], code: &str) -> Vec<String> {
    rows.iter()
        .filter_map(|r| {
            let m = r.ratio.as_ref()?;
            Some(format!(
                "{code}{}{code} = {code}{}{code} / {code}{}{code}: {} is worse (the claim: {})",
                r.id,
                m.numerator,
                m.denominator,
                m.worse.as_str(),
                m.claim
            ))
        })
        .collect()
}

/// Plain-text table in the spirit of critcmp: the summary line, then the rows (a blank line
/// between verdicts), then what the ratios mean.
pub fn render_table(rows: &[Row], opts: &RenderOptions) -> String {
    let (shown, hidden) = listed(rows, opts);
    let mut out = format!(
        "{} → {}: {}\n\n",
        opts.baseline,
        opts.head,
        Summary::of(rows).line()
    );
    let head = [
        "benchmark",
        opts.baseline.as_str(),
        opts.head.as_str(),
        "change [95% CI]",
        "p",
        "verdict",
    ]
    .map(String::from);
    let table: Vec<[String; 6]> = shown.iter().map(|r| cells(r)).collect();
    let mut w = head.clone().map(|h| h.chars().count());
    for c in &table {
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
            .trim_end()
            .to_string()
    };
    if shown.is_empty() {
        out.push_str("nothing changed beyond the threshold\n");
    } else {
        let _ = writeln!(out, "{}", line(&head));
        let rule: Vec<String> = w.iter().map(|n| "-".repeat(*n)).collect();
        let _ = writeln!(out, "{}", rule.join("  "));
        for (k, (r, c)) in shown.iter().zip(&table).enumerate() {
            if k > 0 && shown[k - 1].verdict != r.verdict {
                out.push('\n');
            }
            let _ = writeln!(out, "{}", line(c));
        }
    }
    let legend = ratio_legend(&shown, "");
    if !legend.is_empty() {
        out.push_str("\nratios, numerator / denominator of the same run:\n");
        for l in legend {
            let _ = writeln!(out, "  {l}");
        }
    }
    if hidden > 0 {
        let _ = writeln!(out, "\n{hidden} unchanged not shown (--only-changed)");
    }
    out
}

fn markdown_table(out: &mut String, rows: &[&Row], opts: &RenderOptions) {
    let _ = writeln!(
        out,
        "| benchmark | {} | {} | change [95% CI] | p | verdict |",
        opts.baseline, opts.head
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    for r in rows {
        let c = cells(r);
        let verdict = match r.verdict {
            Verdict::Regressed => format!("**{}**", c[5]),
            _ => c[5].clone(),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {verdict} |",
            c[0], c[1], c[2], c[3], c[4]
        );
    }
}

/// Markdown for a pull-request comment: the summary, a table of what changed, the unchanged
/// rows folded into `<details>` (left out with `--only-changed`), what the ratios mean, the
/// rule.
pub fn render_markdown(rows: &[Row], opts: &RenderOptions) -> String {
    let (shown, hidden) = listed(rows, opts);
    let summary = Summary::of(rows);
    let mut out = format!(
        "### threadbench compare: `{}` → `{}`\n\n",
        opts.baseline, opts.head
    );
    let line = summary.line();
    let _ = writeln!(
        out,
        "{}\n",
        if summary.count(Verdict::Regressed) > 0 {
            format!("**{line}**")
        } else {
            line
        }
    );
    let (unchanged, changed): (Vec<&Row>, Vec<&Row>) = shown
        .iter()
        .copied()
        .partition(|r| r.verdict == Verdict::Unchanged);
    if changed.is_empty() {
        out.push_str("Nothing changed beyond the threshold.\n");
    } else {
        markdown_table(&mut out, &changed, opts);
    }
    if !unchanged.is_empty() {
        let _ = writeln!(
            out,
            "\n<details><summary>{} unchanged</summary>\n",
            unchanged.len()
        );
        markdown_table(&mut out, &unchanged, opts);
        out.push_str("\n</details>\n");
    }
    if hidden > 0 {
        let _ = writeln!(out, "\n{hidden} unchanged not shown (`--only-changed`).");
    }
    let legend = ratio_legend(&shown, "`");
    if !legend.is_empty() {
        out.push_str("\nRatios, numerator / denominator of the same run:\n");
        for l in legend {
            let _ = writeln!(out, "- {l}");
        }
    }
    let _ = writeln!(out, "\nRule: {}", rule(&summary));
    out
}

/// The rule the rows were judged by, in one sentence.
fn rule(summary: &Summary) -> String {
    if summary.paired {
        format!("per pair of rounds (ABBA, fresh processes) the log ratio head/base of the round medians; regressed when the Wilcoxon signed-rank p < {PAIRED_ALPHA}, the 95 % bootstrap CI of the median ratio lies above 1 and the change is at least {MIN_SHIFT} × the threshold (improved mirrored); unchanged when the CI lies within ±threshold; inconclusive otherwise, and below {MIN_PAIRS} pairs: run more pairs.")
    } else {
        format!("regressed when the 95 % CI of the median's change lies beyond the threshold and Mann-Whitney p < {ALPHA} (with ≥ {MIN_ROUNDS} rounds per side: the median over rounds beyond the threshold and Mann-Whitney over the rounds' medians p < {ALPHA}); unchanged when the CI lies within ±threshold; inconclusive otherwise.")
    }
}

/// Machine-readable report: the summary counts (every verdict, zeros included) and line, then
/// the rows in listing order; ratio rows carry `numerator`, `denominator`, `worse` and `claim`.
pub fn render_json(rows: &[Row], opts: &RenderOptions, dir: &Path) -> String {
    let (shown, _) = listed(rows, opts);
    let summary = Summary::of(rows);
    let doc = serde_json::json!({
        "baseline": opts.baseline,
        "head": opts.head,
        "criterion_dir": dir.display().to_string(),
        "rule": rule(&summary),
        "paired": summary.paired,
        "ratio_rule": "a ratio is regressed when it moved beyond the threshold in its `worse` direction, improved when in the other",
        "summary": summary.json(),
        "summary_line": summary.line(),
        "only_changed": opts.only_changed,
        "benchmarks": shown.iter().filter(|r| r.kind == "benchmark").collect::<Vec<_>>(),
        "ratios": shown.iter().filter(|r| r.kind == "ratio").collect::<Vec<_>>(),
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
