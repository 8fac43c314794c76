//! Groups `ctx_switch_same_core`, `ctx_switch_cross_core` and `ctx_switch_ws/pipe_process/<KiB>`:
//! two long-lived peers hand a token back and forth; one iteration = one round trip = two
//! switches (`Throughput::Elements(2)`). Peers start lazily on a benchmark's first sample and
//! are reused across samples. See `threadbench::blocks::ctx_switch`.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Throughput};
use threadbench::blocks::ctx_switch::{switch_costs, PeerConfig, PingPong, Switch};
use threadbench::harness::Suite;
use threadbench::ids::Group;
use threadbench::report::results::{SideRecord, CTX_SWITCH_JSON};

fn bench(group: &mut BenchmarkGroup<'_, WallTime>, id: BenchmarkId, s: Switch, cfg: PeerConfig) {
    let mut pair: Option<PingPong> = None;
    group.throughput(Throughput::Elements(s.elements()));
    group.bench_function(id, move |b| {
        let p = pair.get_or_insert_with(|| PingPong::start(s, cfg).expect("start the peers"));
        b.iter_custom(|iters| p.round_trips(iters).expect("round trips").checked(iters))
    });
}

fn main() {
    let suite = Suite::start();
    let mut c = suite.criterion();
    suite.pin_to_bench_core();
    let core_a = suite.bench_core();
    let core_b = suite
        .plan
        .server
        .iter()
        .chain(&suite.plan.client)
        .copied()
        .find(|&cpu| cpu != core_a);

    let same = PeerConfig {
        peer_cpu: Some(core_a),
        ws_kib: 0,
    };
    let mut group = suite.group(&mut c, Group::CtxSwitchSameCore);
    for s in Switch::ALL {
        bench(&mut group, BenchmarkId::from_parameter(s.name()), s, same);
    }
    group.finish();

    match core_b {
        Some(core_b) if !suite.plan.is_shared() => {
            let cross = PeerConfig {
                peer_cpu: Some(core_b),
                ws_kib: 0,
            };
            eprintln!("ctx_switch_cross_core: main on CPU {core_a}, peer on CPU {core_b}");
            let mut group = suite.group(&mut c, Group::CtxSwitchCrossCore);
            for s in Switch::ALL {
                if s.same_core_only() {
                    eprintln!(
                        "ctx_switch_cross_core: skipping {}: meaningful on one core only",
                        s.name()
                    );
                    continue;
                }
                bench(&mut group, BenchmarkId::from_parameter(s.name()), s, cross);
            }
            group.finish();
        }
        _ => eprintln!("ctx_switch_cross_core: skipped: only one CPU is available"),
    }

    let mut group = suite.group(&mut c, Group::CtxSwitchWs);
    for kib in suite.sweep(Group::CtxSwitchWs) {
        let cfg = PeerConfig {
            peer_cpu: Some(core_a),
            ws_kib: kib,
        };
        let id = BenchmarkId::new(Switch::PipeProcess.name(), kib);
        bench(&mut group, id, Switch::PipeProcess, cfg);
    }
    group.finish();

    if suite.measuring() {
        report_switch_costs(&suite);
    }
    suite.finish(c);
}

/// Prints per-switch costs (round trip / 2, and minus pipe_self as lmbench does) from the
/// medians criterion wrote in this run, and merges them into target/threadbench/ctx_switch.json.
fn report_switch_costs(suite: &Suite) {
    let mut records = Vec::new();
    for group in ["ctx_switch_same_core", "ctx_switch_cross_core"] {
        let medians: Vec<(Switch, f64)> = Switch::ALL
            .iter()
            .filter_map(|&s| {
                suite
                    .median_ns(&format!("{group}/{}", s.name()))
                    .map(|m| (s, m))
            })
            .collect();
        if medians.is_empty() {
            continue;
        }
        let find = |w: Switch| medians.iter().find(|(s, _)| *s == w).map(|m| m.1);
        let (pipe_self, syscall) = (find(Switch::PipeSelf), find(Switch::Syscall));
        eprintln!(
            "{group}: baselines syscall {} ns, pipe_self {} ns (median per iteration)",
            syscall.map_or("n/a".into(), |v| format!("{v:.0}")),
            pipe_self.map_or("n/a".into(), |v| format!("{v:.0}")),
        );
        eprintln!(
            "  {:<20} {:>14} {:>14} {:>24}",
            "function", "round trip ns", "per switch ns", "per switch − pipe ns"
        );
        let costs = switch_costs(&medians, pipe_self);
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
            group,
            group,
            serde_json::json!({ "syscall_ns": syscall, "pipe_self_ns": pipe_self, "costs": costs }),
        ));
    }
    suite.save(CTX_SWITCH_JSON, records);
}
