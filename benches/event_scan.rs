//! Groups `event_scan_fds/<function>/<n_fds>`, `event_scan_active/<function>/<k>` and
//! `event_register/<function>/<n_fds>`: the cost of one readiness wait call (select, poll,
//! epoll, epoll_et) as the watched and the readable descriptors grow, and of registering N.
//! One iteration = one wait call that returns the readable fds (register: all N registered).
//! Descriptors are allocated per benchmark, lazily, and closed when it ends.
//! See `threadbench::blocks::event_scan`.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Throughput};
use threadbench::blocks::event_scan::{register, FdPool, Scan, SetupError, Waiter};
use threadbench::harness::Suite;
use threadbench::ids::Group;

/// Times `waiter` over N fds with k readable; prints why and skips when it cannot run here.
fn bench_scan(
    suite: &Suite,
    group: &mut BenchmarkGroup<'_, WallTime>,
    label: Group,
    param: u64,
    waiter: Waiter,
    n_fds: u64,
    k: u64,
) {
    let setup = FdPool::new(n_fds as usize, k as usize).and_then(|pool| Scan::new(waiter, pool));
    let mut scan = match setup {
        Ok(scan) => scan,
        Err(SetupError::Skip(why)) => {
            eprintln!("{}: skipped: {why}", label.id(waiter.name(), Some(param)));
            return;
        }
        Err(SetupError::Io(e)) => panic!("setting up {} over {n_fds} fds: {e}", waiter.name()),
    };
    group.throughput(Throughput::Elements(1));
    let timer = suite.timer(label, &label.id(waiter.name(), Some(param)));
    group.bench_function(BenchmarkId::new(waiter.name(), param), |b| {
        b.iter_custom(|iters| timer.time(|| scan.run(iters).expect("wait calls").checked(iters)))
    });
}

fn main() {
    let suite = Suite::start();
    let mut c = suite.criterion();
    suite.pin_to_bench_core();

    let mut group = suite.group(&mut c, Group::EventScanFds);
    for n in suite.sweep(Group::EventScanFds) {
        for waiter in Waiter::ALL {
            bench_scan(&suite, &mut group, Group::EventScanFds, n, waiter, n, 1);
        }
    }
    group.finish();

    let n_fds = suite.profile.params.event_scan_active_n_fds;
    let mut group = suite.group(&mut c, Group::EventScanActive);
    for k in suite.sweep(Group::EventScanActive) {
        if k > n_fds {
            eprintln!(
                "{}/*/{k}: skipped: k > event_scan_active_n_fds = {n_fds}",
                Group::EventScanActive
            );
            continue;
        }
        for waiter in Waiter::ALL {
            bench_scan(
                &suite,
                &mut group,
                Group::EventScanActive,
                k,
                waiter,
                n_fds,
                k,
            );
        }
    }
    group.finish();

    let mut group = suite.group(&mut c, Group::EventRegister);
    for n in suite.sweep(Group::EventRegister) {
        let pool = match FdPool::new(n as usize, 0) {
            Ok(pool) => pool,
            Err(e) => {
                eprintln!("{}/*/{n}: {e}", Group::EventRegister);
                continue;
            }
        };
        group.throughput(Throughput::Elements(n));
        // epoll_et registers exactly like epoll: only the flag differs.
        for waiter in [Waiter::Select, Waiter::Poll, Waiter::Epoll] {
            if let Some(why) = pool.select_blocker().filter(|_| waiter == Waiter::Select) {
                eprintln!(
                    "{}: skipped: {why}",
                    Group::EventRegister.id(waiter.name(), Some(n))
                );
                continue;
            }
            let timer = suite.timer(
                Group::EventRegister,
                &Group::EventRegister.id(waiter.name(), Some(n)),
            );
            group.bench_function(BenchmarkId::new(waiter.name(), n), |b| {
                b.iter_custom(|iters| {
                    timer.time(|| {
                        register(waiter, &pool, iters)
                            .unwrap_or_else(|e| panic!("register {n} fds: {e}"))
                            .checked(iters)
                    })
                })
            });
        }
    }
    group.finish();
    suite.finish(c);
}
