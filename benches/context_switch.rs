//! Groups `ctx_switch_same_core`, `ctx_switch_cross_core` and `ctx_switch_ws/pipe_process/<KiB>`:
//! two long-lived peers hand a token back and forth; one iteration = one round trip = two
//! switches (`Throughput::Elements(2)`). Peers start lazily on a benchmark's first sample and
//! are reused across samples. See `threadbench::blocks::ctx_switch`.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Throughput};
use threadbench::blocks::ctx_switch::{PeerConfig, PingPong, Switch};
use threadbench::harness::clock::Timer;
use threadbench::harness::Suite;
use threadbench::ids::Group;
use threadbench::report::results::CTX_SWITCH_JSON;
use threadbench::report::summaries;

fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    timer: Timer,
    s: Switch,
    cfg: PeerConfig,
) {
    let mut pair: Option<PingPong> = None;
    group.throughput(Throughput::Elements(s.elements()));
    group.bench_function(id, move |b| {
        let p = pair.get_or_insert_with(|| PingPong::start(s, cfg).expect("start the peers"));
        b.iter_custom(|iters| {
            timer.time(|| p.round_trips(iters).expect("round trips").checked(iters))
        })
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
    let g = Group::CtxSwitchSameCore;
    let mut group = suite.group(&mut c, g);
    for s in Switch::ALL {
        let timer = suite.timer(g, &g.id(s.name(), None));
        bench(
            &mut group,
            BenchmarkId::from_parameter(s.name()),
            timer,
            s,
            same,
        );
    }
    group.finish();

    match core_b {
        Some(core_b) if !suite.plan.is_shared() => {
            let cross = PeerConfig {
                peer_cpu: Some(core_b),
                ws_kib: 0,
            };
            eprintln!(
                "{}: main on CPU {core_a}, peer on CPU {core_b}",
                Group::CtxSwitchCrossCore
            );
            let mut group = suite.group(&mut c, Group::CtxSwitchCrossCore);
            for s in Switch::ALL {
                if s.same_core_only() {
                    eprintln!(
                        "{}: skipping {}: meaningful on one core only",
                        Group::CtxSwitchCrossCore,
                        s.name()
                    );
                    continue;
                }
                let g = Group::CtxSwitchCrossCore;
                let timer = suite.timer(g, &g.id(s.name(), None));
                bench(
                    &mut group,
                    BenchmarkId::from_parameter(s.name()),
                    timer,
                    s,
                    cross,
                );
            }
            group.finish();
        }
        _ => eprintln!(
            "{}: skipped: only one CPU is available",
            Group::CtxSwitchCrossCore
        ),
    }

    let mut group = suite.group(&mut c, Group::CtxSwitchWs);
    for kib in suite.sweep(Group::CtxSwitchWs) {
        let cfg = PeerConfig {
            peer_cpu: Some(core_a),
            ws_kib: kib,
        };
        let id = BenchmarkId::new(Switch::PipeProcess.name(), kib);
        let g = Group::CtxSwitchWs;
        let timer = suite.timer(g, &g.id(Switch::PipeProcess.name(), Some(kib)));
        bench(&mut group, id, timer, Switch::PipeProcess, cfg);
    }
    group.finish();

    if suite.measuring() {
        // Per-switch costs (round trip / 2, and minus pipe_self as lmbench does) from the
        // medians criterion wrote in this run.
        suite.save(
            CTX_SWITCH_JSON,
            summaries::switch_costs(&|id| suite.median_ns(id)),
        );
    }
    suite.finish(c);
}
