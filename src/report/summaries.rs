//! The figures the focused benches derive after their groups ran: fork's cost per MiB held
//! (`spawn_rss`), per-switch costs with lmbench's arithmetic (`ctx_switch_*`), the toy shop's
//! completion times in lecture units and the latency-hiding crossover (`models`).
//!
//! Each function prints what a user reads on stderr and returns the [`SideRecord`]s the bench
//! merges into its artefact (`spawn_rss.json`, `ctx_switch.json`, `models.json`). They sit
//! below the harness, so they never see a `Suite`: medians come in through a [`MedianNs`]
//! lookup (a bench passes `&|id| suite.median_ns(id)`), and the bench saves what they return:
//!
//! ```no_run
//! # let suite = threadbench::harness::Suite::start();
//! # let sizes = suite.sweep(threadbench::ids::Group::SpawnRss);
//! use threadbench::report::{results::SPAWN_RSS_JSON, summaries};
//! suite.save(SPAWN_RSS_JSON, summaries::rss_slopes(&sizes, &|id| suite.median_ns(id)));
//! ```
//!
//! An id the lookup does not know (not measured in this run) is left out, so a filtered run
//! keeps what an earlier run recorded for it.

use crate::blocks::ctx_switch::{self, Switch};
use crate::blocks::models::{self, Serving, ShopModel, WorkMode};
use crate::blocks::spawn::Creation;
use crate::ids::Group;
use crate::report::findings::ToyshopFigures;
use crate::report::results::SideRecord;
use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

/// The median (ns per iteration) criterion wrote for a benchmark id in this run, if it
/// measured it.
pub type MedianNs<'a> = &'a dyn Fn(&str) -> Option<f64>;

/// Toy-shop runs per model behind each figure (outside criterion's timing).
pub const TOYSHOP_RUNS: usize = 5;

/// RssAnon, VmPTE, the number of mappings and threads of this process, from /proc/self:
/// what fork's cost depends on.
pub fn memory_status() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| "?".into())
    };
    let maps = std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0);
    format!(
        "RssAnon {}, VmPTE {}, {maps} mappings, {} threads",
        field("RssAnon:"),
        field("VmPTE:"),
        field("Threads:")
    )
}

/// `spawn_rss`: each creation's medians over the MiB held in `sizes` and their slope
/// (µs per MiB held), printed and returned as one record per creation measured.
pub fn rss_slopes(sizes: &[u64], median_ns: MedianNs) -> Vec<SideRecord> {
    let thp =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    let mut records = Vec::new();
    for creation in Creation::RSS {
        let points: Vec<(f64, f64)> = sizes
            .iter()
            .filter_map(|&mib| {
                let id = Group::SpawnRss.id(creation.name(), Some(mib));
                median_ns(&id).map(|ns| (mib as f64, ns / 1000.0))
            })
            .collect();
        if points.is_empty() {
            continue; // not measured in this run: keep what an earlier run recorded
        }
        let s = crate::stats::slope(&points);
        eprintln!(
            "{}: {:<18} medians (MiB, µs) {:?}  slope {} µs/MiB",
            Group::SpawnRss,
            creation.name(),
            points
                .iter()
                .map(|(m, us)| (*m as u64, (us * 10.0).round() / 10.0))
                .collect::<Vec<_>>(),
            s.map_or("n/a".into(), |s| format!("{s:.3}"))
        );
        records.push(SideRecord::new(
            Group::SpawnRss.name(),
            &Group::SpawnRss.id(creation.name(), None),
            serde_json::json!({
                "median_us_by_mib": points,
                "slope_us_per_mib": s,
                "transparent_hugepage": thp.trim(),
            }),
        ));
    }
    records
}

/// `ctx_switch_same_core` and `ctx_switch_cross_core`: the baselines and each function's cost
/// per switch (round trip / 2, and minus `pipe_self` as lmbench does, see
/// [`ctx_switch::switch_costs`]), printed as a table and returned as one record per group.
pub fn switch_costs(median_ns: MedianNs) -> Vec<SideRecord> {
    let mut records = Vec::new();
    for group in [Group::CtxSwitchSameCore, Group::CtxSwitchCrossCore] {
        let medians: Vec<(Switch, f64)> = Switch::ALL
            .iter()
            .filter_map(|&s| median_ns(&group.id(s.name(), None)).map(|m| (s, m)))
            .collect();
        if medians.is_empty() {
            continue;
        }
        let find = |w: Switch| medians.iter().find(|(s, _)| *s == w).map(|m| m.1);
        let (pipe_self, syscall) = (find(Switch::PipeSelf), find(Switch::Syscall));
        eprintln!(
            "{group}: baselines {} {} ns, {} {} ns (median per iteration)",
            Switch::Syscall.name(),
            syscall.map_or("n/a".into(), |v| format!("{v:.0}")),
            Switch::PipeSelf.name(),
            pipe_self.map_or("n/a".into(), |v| format!("{v:.0}")),
        );
        eprintln!(
            "  {:<20} {:>14} {:>14} {:>24}",
            "function", "round trip ns", "per switch ns", "per switch − pipe ns"
        );
        let costs = ctx_switch::switch_costs(&medians, pipe_self);
        for c in &costs {
            eprintln!(
                "  {:<20} {:>14.0} {:>14.0} {:>24}",
                c.function,
                c.round_trip_ns,
                c.per_switch_ns,
                c.per_switch_minus_pipe_ns
                    .map_or("n/a".into(), |v| format!("{v:.0}"))
            );
        }
        records.push(SideRecord::new(
            group.name(),
            group.name(),
            serde_json::json!({ "syscall_ns": syscall, "pipe_self_ns": pipe_self, "costs": costs }),
        ));
    }
    records
}

/// `models_toyshop`: for each of `shop_models`, the median of [`TOYSHOP_RUNS`] whole shop runs
/// (outside criterion's timing) in lecture units, printed next to the lecture's answer.
pub fn toyshop_figures(
    shop_models: &[ShopModel],
    unit: Duration,
    mode: WorkMode,
) -> io::Result<BTreeMap<String, ToyshopFigures>> {
    let median = |v: Vec<f64>| crate::stats::median(&v).unwrap_or(f64::NAN);
    let mut figures = BTreeMap::new();
    for &model in shop_models {
        let runs = (0..TOYSHOP_RUNS)
            .map(|_| models::toyshop(model, unit, mode))
            .collect::<io::Result<Vec<_>>>()?;
        let fig = ToyshopFigures {
            total_units: median(runs.iter().map(|r| r.total_units()).collect()),
            average_units: median(runs.iter().map(|r| r.average_units()).collect()),
            virtual_total_units: median(runs.iter().map(|r| r.virtual_total_units()).collect()),
            virtual_average_units: median(runs.iter().map(|r| r.virtual_average_units()).collect()),
            work_mode: mode.name().into(),
            unit_us: unit.as_micros() as u64,
        };
        let (lt, la) = model.lecture_answer();
        eprintln!(
            "{}: total {:.1} units (lecture {lt}), average {:.1} (lecture {la:.1}); virtual {:.0}/{:.1}; work {}",
            Group::ModelsToyshop.id(model.name(), None), fig.total_units, fig.average_units, fig.virtual_total_units, fig.virtual_average_units, mode.name()
        );
        figures.insert(model.name().to_string(), fig);
    }
    Ok(figures)
}

/// The records of [`toyshop_figures`], one per model.
pub fn toyshop_records(figures: &BTreeMap<String, ToyshopFigures>) -> Vec<SideRecord> {
    figures
        .iter()
        .map(|(model, fig)| {
            SideRecord::new(
                Group::ModelsToyshop.name(),
                &Group::ModelsToyshop.id(model, None),
                serde_json::to_value(fig).expect("toy shop figures are plain numbers"),
            )
        })
        .collect()
}

/// `latency_hiding`: the crossover of the sweep's medians (see [`models::crossover`]) next to
/// 2 · t_ctx_switch (`ctx_switch`: the time per switch measured on the bench core), printed and
/// returned as one record; `None` when no point of the sweep was measured.
pub fn latency_crossover(
    sweep: &[u64],
    cores: usize,
    ctx_switch: Duration,
    median_ns: MedianNs,
) -> Option<SideRecord> {
    let median = |s: Serving, p: u64| median_ns(&Group::LatencyHiding.id(s.name(), Some(p)));
    let points: Vec<(u64, f64, f64)> = sweep
        .iter()
        .filter_map(|&p| {
            Some((
                p,
                median(Serving::Blocking, p)?,
                median(Serving::Threads, p)?,
            ))
        })
        .collect();
    if points.is_empty() {
        return None;
    }
    let crossover = models::crossover(&points, crate::report::findings::NOISE);
    eprintln!(
        "{}: crossover {crossover:?} (2 · t_ctx = {:.2} µs)",
        Group::LatencyHiding,
        2.0 * ctx_switch.as_secs_f64() * 1e6
    );
    Some(SideRecord::new(
        Group::LatencyHiding.name(),
        Group::LatencyHiding.name(),
        serde_json::json!({
            "cores": cores,
            "ctx_switch_ns": ctx_switch.as_secs_f64() * 1e9,
            "crossover_idle_us": crossover,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_costs_cover_the_measured_groups_only() {
        let lookup = |id: &str| match id {
            "ctx_switch_same_core/pipe_process" => Some(3000.0),
            "ctx_switch_same_core/pipe_self" => Some(1000.0),
            "ctx_switch_same_core/syscall" => Some(100.0),
            _ => None,
        };
        let records = switch_costs(&lookup);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].key, "ctx_switch_same_core");
        assert_eq!(records[0].group, "ctx_switch_same_core");
        let d = &records[0].data;
        assert_eq!(d["syscall_ns"], 100.0);
        assert_eq!(d["pipe_self_ns"], 1000.0);
        assert_eq!(d["costs"][0]["function"], "pipe_process");
        assert_eq!(d["costs"][0]["per_switch_minus_pipe_ns"], 1000.0);
    }

    #[test]
    fn rss_slopes_skip_what_was_not_measured() {
        let lookup = |id: &str| match id {
            "spawn_rss/fork_exit_wait/1" => Some(100_000.0),
            "spawn_rss/fork_exit_wait/3" => Some(300_000.0),
            _ => None,
        };
        let records = rss_slopes(&[1, 3], &lookup);
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0].key, "spawn_rss/fork_exit_wait");
        assert_eq!(records[0].data["slope_us_per_mib"], 100.0);
        assert!(rss_slopes(&[1, 3], &|_| None).is_empty());
    }

    #[test]
    fn crossover_record_from_the_sweep() {
        let lookup = |id: &str| match id {
            "latency_hiding/blocking/0" | "latency_hiding/threads/0" => Some(10.0),
            "latency_hiding/blocking/50" => Some(60.0),
            "latency_hiding/threads/50" => Some(20.0),
            _ => None,
        };
        let r = latency_crossover(&[0, 50], 2, Duration::from_micros(2), &lookup).unwrap();
        assert_eq!(r.key, "latency_hiding");
        assert_eq!(r.data["crossover_idle_us"], serde_json::json!([0, 50]));
        assert_eq!(r.data["ctx_switch_ns"], 2000.0);
        assert!(latency_crossover(&[0, 50], 2, Duration::ZERO, &|_| None).is_none());
    }

    #[test]
    fn toyshop_records_are_keyed_by_model() {
        let figs = toyshop_figures(
            &[ShopModel::Pipeline],
            Duration::from_micros(20),
            WorkMode::SleepThenSpin,
        )
        .unwrap();
        let records = toyshop_records(&figs);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].key, "models_toyshop/pipeline");
        assert_eq!(records[0].data["virtual_total_units"], 320.0);
    }

    #[test]
    fn memory_status_names_its_fields() {
        let s = memory_status();
        assert!(s.starts_with("RssAnon ") && s.contains("mappings"), "{s}");
    }
}
