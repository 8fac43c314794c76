//! The verdicts: each benchmark's change and each ratio metric's shift, judged against the
//! threshold with the rule in the module doc of [`super`].

use super::{
    stats, Bench, RatioMetric, Row, Verdict, Worse, ALPHA, MIN_PAIRS, MIN_ROUNDS, MIN_SHIFT,
    PAIRED_ALPHA, RATIOS,
};
use std::collections::BTreeMap;

/// One run per side: the whole interval beyond the threshold; with rounds: the point estimate
/// (the interval over a few rounds is too wide to ask more of it). Both need p < ALPHA.
/// `Regressed` means the value rose, `Improved` that it fell; `Unchanged` that it stayed within
/// ±threshold (interval, or point with rounds); anything else is `Inconclusive`.
pub(super) fn judge(change: &stats::Interval, p: f64, threshold: f64, rounds: usize) -> Verdict {
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
                paired: false,
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
        let (name, num, den) = (metric.name, metric.numerator.id(), metric.denominator.id());
        let (Some(n), Some(d)) = (by_id.get(num.as_str()), by_id.get(den.as_str())) else {
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
        let verdict = by_direction(judge(&change, p, threshold, rounds), metric.worse);
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
            paired: false,
            verdict,
            ratio: Some(*metric),
        });
    }
    rows
}

/// The paired rule (module doc, *Paired rounds*) over per-pair log ratios `d` (head over
/// base): the median ratio's change with its bootstrap interval, the signed-rank p, the
/// verdict. `Regressed`: the value rose.
pub(super) fn judge_pairs(d: &[f64], threshold: f64, seed: u64) -> (stats::Interval, f64, Verdict) {
    let change = stats::bootstrap(&[d], 2000, seed, |m| m[0].exp_m1());
    let (_, p) = stats::signed_rank(d);
    let (lo, mid, hi) = (change.lower, change.point, change.upper);
    let verdict = if d.len() < MIN_PAIRS {
        Verdict::Inconclusive
    } else if lo >= -threshold && hi <= threshold {
        Verdict::Unchanged
    } else if p < PAIRED_ALPHA && lo > 0.0 && mid > MIN_SHIFT * threshold {
        Verdict::Regressed
    } else if p < PAIRED_ALPHA && hi < 0.0 && mid < -MIN_SHIFT * threshold {
        Verdict::Improved
    } else {
        Verdict::Inconclusive
    };
    (change, p, verdict)
}

/// `ln(head_k / base_k)` for the pairs both sides have (round k of each side is pair k).
fn pair_logs(base: &[f64], head: &[f64]) -> Vec<f64> {
    base.iter().zip(head).map(|(b, h)| (h / b).ln()).collect()
}

/// Every benchmark and ratio metric judged over paired rounds: pair k is round k of the base
/// (`<name>@k`) and round k of the head, run back to back (ABBA). A benchmark only one side
/// has is `new` or `missing`, as in [`judge_benches`].
pub fn judge_paired(benches: &[Bench], threshold_for: &dyn Fn(&str) -> f64) -> Vec<Row> {
    let mut rows = judge_benches(benches, threshold_for);
    for (row, b) in rows.iter_mut().zip(benches) {
        if b.base.is_none() || b.new.is_none() {
            continue;
        }
        let d = pair_logs(&b.base_rounds, &b.new_rounds);
        let (change, p, verdict) = judge_pairs(&d, row.threshold, stats::seed_for(&b.id));
        let n = d.len();
        *row = Row {
            base: Some(stats::median(&b.base_rounds[..n])),
            new: Some(stats::median(&b.new_rounds[..n])),
            change: Some(change),
            p_value: Some(p),
            rounds: n,
            paired: true,
            verdict,
            ..row.clone()
        };
    }
    let by_id: BTreeMap<&str, &Bench> = benches.iter().map(|b| (b.id.as_str(), b)).collect();
    let threshold = threshold_for("ratio");
    for metric in RATIOS {
        let (Some(n), Some(d)) = (
            by_id.get(metric.numerator.id().as_str()),
            by_id.get(metric.denominator.id().as_str()),
        ) else {
            continue;
        };
        if [n, d]
            .iter()
            .any(|b| b.base_rounds.is_empty() || b.new_rounds.is_empty())
        {
            continue;
        }
        // A ratio's pair k needs both benchmarks' pair k: they run in one bench process.
        let ratios = |num: &[f64], den: &[f64]| -> Vec<f64> {
            num.iter().zip(den).map(|(x, y)| x / y).collect()
        };
        let (rb, rn) = (
            ratios(&n.base_rounds, &d.base_rounds),
            ratios(&n.new_rounds, &d.new_rounds),
        );
        let logs = pair_logs(&rb, &rn);
        let (change, p, verdict) = judge_pairs(&logs, threshold, stats::seed_for(metric.name));
        let k = logs.len();
        rows.push(Row {
            id: format!("ratio/{}", metric.name),
            kind: "ratio",
            unit: "ratio",
            base: Some(stats::median(&rb[..k])),
            new: Some(stats::median(&rn[..k])),
            new_interval: Some(stats::bootstrap(
                &[&rn[..k]],
                2000,
                stats::seed_for(metric.name) ^ 1,
                |m| m[0],
            )),
            change: Some(change),
            p_value: Some(p),
            threshold,
            rounds: k,
            paired: true,
            verdict: by_direction(verdict, metric.worse),
            ratio: Some(*metric),
        });
    }
    rows
}

/// A ratio's verdict from the rising (`Regressed`) / falling (`Improved`) verdict of its value.
fn by_direction(v: Verdict, worse: Worse) -> Verdict {
    match (v, worse) {
        (Verdict::Regressed, Worse::Lower) | (Verdict::Improved, Worse::Higher) => {
            Verdict::Improved
        }
        (Verdict::Regressed, Worse::Higher) | (Verdict::Improved, Worse::Lower) => {
            Verdict::Regressed
        }
        (v, _) => v,
    }
}
