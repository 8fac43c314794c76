//! The per-group clocks and the injected slowdown, in a process of their own: the CPU clock is
//! the whole process's, so the library's tests running beside it in one binary would count.

use criterion::measurement::Measurement;
use std::time::{Duration, Instant};
use threadbench::harness::clock::Timer;
use threadbench::profile::Clock;

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// One test only: libtest runs the tests of a binary on parallel threads.
#[test]
fn cpu_clock_counts_work_not_sleep_and_the_timer_adds_the_slowdown() {
    let c = Clock::Cpu;
    let s = c.start();
    std::thread::sleep(Duration::from_millis(40));
    let slept = c.end(s);
    let s = c.start();
    spin(Duration::from_millis(40));
    let worked = c.end(s);
    assert!(
        slept < Duration::from_millis(15),
        "sleeping used {slept:?} of CPU"
    );
    // The spin may be descheduled on a busy machine, but not for most of its time.
    assert!(
        worked > Duration::from_millis(15),
        "spinning used {worked:?} of CPU"
    );
    let w = Clock::Wall;
    let s = w.start();
    std::thread::sleep(Duration::from_millis(20));
    assert!(w.end(s) >= Duration::from_millis(20));
    assert_eq!(c.to_f64(&Duration::from_micros(3)), 3000.0);

    let plain = Timer {
        clock: Clock::Wall,
        slowdown: 0.0,
    };
    // Wall time is the work's own window, not the call's.
    let t = plain.time(|| {
        std::thread::sleep(Duration::from_millis(5));
        Duration::from_millis(1)
    });
    assert_eq!(t, Duration::from_millis(1));
    let slow = Timer {
        clock: Clock::Wall,
        slowdown: 0.5,
    };
    let t = slow.time(|| Duration::from_millis(20));
    assert!(t >= Duration::from_millis(30), "{t:?}");
    let cpu = Timer {
        clock: Clock::Cpu,
        slowdown: 0.0,
    };
    let t = cpu.time(|| {
        std::thread::sleep(Duration::from_millis(20));
        Duration::from_millis(20)
    });
    assert!(t < Duration::from_millis(10), "a sleep costs no CPU: {t:?}");
}
