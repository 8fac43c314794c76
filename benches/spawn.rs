//! Group `spawn`: creating a unit of work — a thread vs a process. One iteration = one unit
//! created, completed and reaped. See `threadbench::blocks::spawn`.

use criterion::Throughput;
use threadbench::blocks::spawn::Creation;
use threadbench::harness::Suite;

fn main() {
    let suite = Suite::start();
    let mut c = suite.criterion();
    suite.pin_to_bench_core();

    let mut group = suite.group(&mut c, "spawn");
    group.throughput(Throughput::Elements(1));
    for creation in Creation::ALL {
        group.bench_function(creation.name(), |b| {
            b.iter_custom(|iters| creation.run(iters).expect("create and reap").checked(iters))
        });
    }
    group.finish();
    suite.finish(c);
}
