//! Groups `models_toyshop`, `latency_hiding`, `matmul`: the lecture's threading-model
//! exercises, run for real (see `threadbench::blocks::models`). Ends by merging the figures
//! it measured into `target/threadbench/models.json` (the report and findings follow).

use criterion::{BenchmarkId, SamplingMode, Throughput};
use std::time::Duration;
use threadbench::blocks::models::{
    ctx_switch_same_core, latency_hiding, toyshop_runs, MatmulJob, Serving, ShopModel, Split,
    WorkMode,
};
use threadbench::harness::Suite;
use threadbench::ids::Group;
use threadbench::report::results::MODELS_JSON;
use threadbench::report::summaries;

fn main() {
    let suite = Suite::start();
    let mut c = suite.criterion();
    let params = suite.profile.params.clone();
    let cores = threadbench::pin::online_cpus()
        .map(|c| c.len())
        .unwrap_or(1)
        .max(1);
    // criterion's test mode runs each benchmark once: a tiny unit keeps `cargo test` fast.
    let unit = Duration::from_micros(if suite.test_mode {
        20
    } else {
        params.toyshop_unit_us
    });
    let mode = WorkMode::for_cores(cores);

    // --- toy shop: one iteration = one whole shop run (11 orders)
    let mut group = suite.group(&mut c, Group::ModelsToyshop);
    group.throughput(Throughput::Elements(1));
    // One run lasts ~360 units: linear sampling would need 55 runs per benchmark.
    group.sampling_mode(SamplingMode::Flat);
    for model in ShopModel::ALL {
        let g = Group::ModelsToyshop;
        let timer = suite.timer(g, &g.id(model.name(), None));
        group.bench_function(model.name(), |b| {
            b.iter_custom(|iters| {
                timer.time(|| {
                    toyshop_runs(model, unit, mode, iters)
                        .expect("toy shop")
                        .checked(iters)
                })
            })
        });
    }
    group.finish();
    // The figures in units: median of a few runs outside criterion's timing, for the models
    // this run measures.
    let measured: Vec<ShopModel> = ShopModel::ALL
        .into_iter()
        .filter(|m| suite.measures(&Group::ModelsToyshop.id(m.name(), None)))
        .collect();
    let toy = summaries::toyshop_figures(&measured, unit, mode).expect("toy shop");

    // --- latency hiding: one iteration = one request, everything on the bench core
    suite.pin_to_bench_core();
    let core = suite.bench_core();
    let cpu = Duration::from_micros(params.latency_cpu_us);
    let ctx = ctx_switch_same_core(core, if suite.test_mode { 100 } else { 20_000 })
        .expect("pipe ping-pong");
    eprintln!(
        "{}: t_ctx_switch (same core, pipe) = {:.2} µs",
        Group::LatencyHiding,
        ctx.as_secs_f64() * 1e6
    );
    let mut group = suite.group(&mut c, Group::LatencyHiding);
    group.throughput(Throughput::Elements(1));
    for serving in Serving::ALL {
        for idle_us in suite.sweep(Group::LatencyHiding) {
            let g = Group::LatencyHiding;
            let timer = suite.timer(g, &g.id(serving.name(), Some(idle_us)));
            group.bench_with_input(
                BenchmarkId::new(serving.name(), idle_us),
                &idle_us,
                |b, &idle_us| {
                    b.iter_custom(|iters| {
                        timer.time(|| {
                            let idle = Duration::from_micros(idle_us);
                            latency_hiding(serving, iters, cpu, idle, core)
                                .expect("serve requests")
                                .checked(iters)
                        })
                    })
                },
            );
        }
    }
    group.finish();

    // --- matmul: one iteration = one N x N multiply (unpinned: it should use every core)
    threadbench::pin::pin_current_thread_to_set(&threadbench::pin::online_cpus().expect("cpus"))
        .expect("unpin");
    let n = if suite.test_mode {
        32
    } else {
        params.matmul_n as usize
    };
    let mut job = MatmulJob::new(n).expect("matmul inputs");
    let mut group = suite.group(&mut c, Group::Matmul);
    group.throughput(Throughput::Elements(1));
    group.sampling_mode(SamplingMode::Flat);
    for split in Split::ALL {
        for n_workers in suite.sweep(Group::Matmul) {
            let g = Group::Matmul;
            let timer = suite.timer(g, &g.id(split.name(), Some(n_workers)));
            group.bench_with_input(
                BenchmarkId::new(split.name(), n_workers),
                &n_workers,
                |b, &k| {
                    b.iter_custom(|iters| {
                        timer.time(|| {
                            job.run(split, k as usize, iters)
                                .expect("multiply")
                                .checked(iters)
                        })
                    })
                },
            );
        }
    }
    group.finish();
    // --- the figures, and the latency-hiding crossover from the medians criterion just wrote
    let mut records = summaries::toyshop_records(&toy);
    records.extend(summaries::latency_crossover(
        &suite.sweep(Group::LatencyHiding),
        cores,
        ctx,
        &|id| suite.median_ns(id),
    ));
    suite.save(MODELS_JSON, records);
    suite.finish(c);
}
