//! Groups `event_scan_fds`, `event_scan_active`, `event_register`: one iteration = one wait
//! call (or one registration of all N descriptors). See `threadbench::blocks::event_scan`.

use criterion::{BenchmarkId, Throughput};
use threadbench::blocks::event_scan::{register, scan, Fds, Register, Scan};
use threadbench::harness::Suite;

/// Opens the descriptors for one sweep point, or says why the point is skipped.
fn open(group: &str, n: u64, k: usize) -> Option<Fds> {
    match Fds::open(n as usize, k) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("{group}: skipping n_fds={n}: {e}");
            None
        }
    }
}

fn main() {
    let suite = Suite::start();
    let mut c = suite.criterion();
    suite.pin_to_bench_core();
    eprintln!(
        "event_scan: io_uring not benchmarked: not implemented in this suite yet (no io_uring \
         functions are registered)"
    );

    let mut group = suite.group(&mut c, "event_scan_fds");
    group.throughput(Throughput::Elements(1));
    for n in suite.sweep("event_scan_fds") {
        let Some(fds) = open("event_scan_fds", n, 1) else {
            continue;
        };
        for s in Scan::ALL {
            if s == Scan::Select {
                if let Some(why) = fds.select_unfit() {
                    eprintln!("event_scan_fds: skipping select/{n}: {why}");
                    continue;
                }
            }
            group.bench_with_input(BenchmarkId::new(s.name(), n), &n, |b, _| {
                b.iter_custom(|iters| scan(s, &fds, iters).expect("scan").checked(iters))
            });
        }
    }
    group.finish();

    let n_fds = suite.profile.params.event_scan_active_n_fds;
    let mut group = suite.group(&mut c, "event_scan_active");
    group.throughput(Throughput::Elements(1));
    for k in suite.sweep("event_scan_active") {
        if k > n_fds {
            eprintln!("event_scan_active: skipping k={k}: more than {n_fds} registered");
            continue;
        }
        let Some(fds) = open("event_scan_active", n_fds, k as usize) else {
            continue;
        };
        for s in Scan::ALL {
            if s == Scan::Select {
                if let Some(why) = fds.select_unfit() {
                    eprintln!("event_scan_active: skipping select/{k}: {why}");
                    continue;
                }
            }
            group.bench_with_input(BenchmarkId::new(s.name(), k), &k, |b, _| {
                b.iter_custom(|iters| scan(s, &fds, iters).expect("scan").checked(iters))
            });
        }
    }
    group.finish();

    let mut group = suite.group(&mut c, "event_register");
    for n in suite.sweep("event_register") {
        let Some(fds) = open("event_register", n, 1) else {
            continue;
        };
        group.throughput(Throughput::Elements(n));
        for r in Register::ALL {
            if r == Register::Select {
                if let Some(why) = fds.select_unfit() {
                    eprintln!("event_register: skipping select/{n}: {why}");
                    continue;
                }
            }
            group.bench_with_input(BenchmarkId::new(r.name(), n), &n, |b, _| {
                b.iter_custom(|iters| register(r, &fds, iters).expect("register").checked(iters))
            });
        }
    }
    group.finish();
    suite.finish(c);
}
