//! Groups `models_toyshop`, `latency_hiding`, `matmul`: the lecture's threading-model
//! exercises, run for real (see `threadbench::blocks::models`). Ends by writing
//! `target/threadbench/models.json` and regenerating `target/threadbench/findings.md`.

use criterion::{BenchmarkId, SamplingMode, Throughput};
use std::collections::BTreeMap;
use std::time::Duration;
use threadbench::blocks::models::{
    crossover, ctx_switch_same_core, latency_hiding, toyshop, toyshop_runs, MatmulJob, Serving,
    ShopModel, Split, WorkMode,
};
use threadbench::harness::Suite;
use threadbench::report::findings::{ModelsFile, ToyshopFigures};

/// Median of a few values.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

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
    let mut group = suite.group(&mut c, "models_toyshop");
    group.throughput(Throughput::Elements(1));
    // One run lasts ~360 units: linear sampling would need 55 runs per benchmark.
    group.sampling_mode(SamplingMode::Flat);
    for model in ShopModel::ALL {
        group.bench_function(model.name(), |b| {
            b.iter_custom(|iters| {
                toyshop_runs(model, unit, mode, iters)
                    .expect("toy shop")
                    .checked(iters)
            })
        });
    }
    group.finish();
    // The figures in units: median of a few runs outside criterion's timing.
    let mut toy = BTreeMap::new();
    for model in ShopModel::ALL {
        let runs: Vec<_> = (0..5)
            .map(|_| toyshop(model, unit, mode).expect("toy shop"))
            .collect();
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
            "models_toyshop/{}: total {:.1} units (lecture {lt}), average {:.1} (lecture {la:.1}); virtual {:.0}/{:.1}; work {}",
            model.name(), fig.total_units, fig.average_units, fig.virtual_total_units, fig.virtual_average_units, mode.name()
        );
        toy.insert(model.name().to_string(), fig);
    }

    // --- latency hiding: one iteration = one request, everything on the bench core
    suite.pin_to_bench_core();
    let core = suite.bench_core();
    let cpu = Duration::from_micros(params.latency_cpu_us);
    let ctx = ctx_switch_same_core(core, if suite.test_mode { 100 } else { 20_000 })
        .expect("pipe ping-pong");
    eprintln!(
        "latency_hiding: t_ctx_switch (same core, pipe) = {:.2} µs",
        ctx.as_secs_f64() * 1e6
    );
    let mut group = suite.group(&mut c, "latency_hiding");
    group.throughput(Throughput::Elements(1));
    for serving in Serving::ALL {
        for idle_us in suite.sweep("latency_hiding") {
            group.bench_with_input(
                BenchmarkId::new(serving.name(), idle_us),
                &idle_us,
                |b, &idle_us| {
                    b.iter_custom(|iters| {
                        latency_hiding(serving, iters, cpu, Duration::from_micros(idle_us), core)
                            .expect("serve requests")
                            .checked(iters)
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
    let mut group = suite.group(&mut c, "matmul");
    group.throughput(Throughput::Elements(1));
    group.sampling_mode(SamplingMode::Flat);
    for split in Split::ALL {
        for n_workers in suite.sweep("matmul") {
            group.bench_with_input(
                BenchmarkId::new(split.name(), n_workers),
                &n_workers,
                |b, &k| {
                    b.iter_custom(|iters| {
                        job.run(split, k as usize, iters)
                            .expect("multiply")
                            .checked(iters)
                    })
                },
            );
        }
    }
    group.finish();
    let idle_sweep = suite.sweep("latency_hiding");
    let suite_test_mode = suite.test_mode;
    suite.finish(c);

    // --- models.json and the findings page, from what criterion saved
    let dir = threadbench::report::output_dir().expect("target/threadbench");
    let results = threadbench::report::findings::Results::load(
        &threadbench::report::findings::criterion_dir(),
        &dir,
    )
    .expect("read results");
    let series = |f: &str| -> Vec<(u64, f64)> {
        idle_sweep
            .iter()
            .copied()
            .filter_map(|p| Some((p, *results.medians.get(&format!("latency_hiding/{f}/{p}"))?)))
            .collect()
    };
    let (blocking, threads) = (series("blocking"), series("threads"));
    let points: Vec<(u64, f64, f64)> = blocking
        .iter()
        .zip(&threads)
        .map(|(b, t)| (b.0, b.1, t.1))
        .collect();
    let models = ModelsFile {
        cores: Some(cores),
        toyshop: toy,
        ctx_switch_ns: Some(ctx.as_secs_f64() * 1e9),
        crossover_idle_us: crossover(&points, threadbench::report::findings::NOISE),
    };
    eprintln!(
        "latency_hiding: crossover {:?} (2 · t_ctx = {:.2} µs)",
        models.crossover_idle_us,
        2.0 * ctx.as_secs_f64() * 1e6
    );
    // Test mode (a tiny unit, one unmeasured pass) must not overwrite a real run's figures.
    if !suite_test_mode {
        std::fs::write(
            dir.join("models.json"),
            serde_json::to_string_pretty(&models).expect("serialise models.json"),
        )
        .expect("write models.json");
    }
    let path = threadbench::report::findings::write_findings().expect("write findings.md");
    eprintln!("threadbench: findings in {}", path.display());
}
