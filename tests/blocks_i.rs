//! Building blocks I (spawn, ctx_switch): every workload does the count it was asked for,
//! reaps every child, fails (does not hang) when its peer dies, and leaves no process or
//! descriptor behind. The tests here share one process and count its children and fds, so they
//! run one at a time (a lock), never in parallel with each other.

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;
use threadbench::blocks::ctx_switch::{PeerConfig, PingPong, Switch};
use threadbench::blocks::spawn::{Creation, HeldMemory, Spawner};
use threadbench::procfs;

static SERIAL: Mutex<()> = Mutex::new(());

/// How long a failing workload may take to notice its dead peer.
const BOUND: Duration = Duration::from_secs(20);

fn me() -> i32 {
    std::process::id() as i32
}

/// Children and open descriptors of this process.
fn snapshot() -> (Vec<i32>, usize) {
    (
        procfs::children(me()).expect("read children"),
        procfs::open_fd_count().expect("count fds"),
    )
}

fn assert_clean(before: &(Vec<i32>, usize), what: &str) {
    let after = snapshot();
    assert_eq!(after.0, before.0, "{what}: children left behind");
    assert_eq!(after.1, before.1, "{what}: descriptors left open");
}

/// Runs `f` on another thread and fails the test if it does not finish within BOUND.
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(BOUND)
        .unwrap_or_else(|_| panic!("{what}: did not finish within {BOUND:?} (hung)"))
}

#[test]
fn creations_complete_their_count_and_reap_everything() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = snapshot();
    for c in Creation::ALL {
        let mut spawner = Spawner::new(c);
        for iters in [1, 5] {
            let outcome = spawner
                .run(iters)
                .unwrap_or_else(|e| panic!("{}: {e}", c.name()));
            assert_eq!(outcome.completed, iters, "{}", c.name());
        }
        drop(spawner);
        assert_clean(&before, c.name());
    }
}

#[test]
fn spawn_rss_variants_run_while_memory_is_held() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = snapshot();
    let held = HeldMemory::touch(8).expect("8 MiB is available");
    for c in Creation::RSS {
        assert_eq!(
            c.run(3)
                .unwrap_or_else(|e| panic!("{}: {e}", c.name()))
                .completed,
            3,
            "{}",
            c.name()
        );
    }
    drop(held);
    assert_clean(&before, "spawn_rss");
}

#[test]
fn switches_complete_their_count_and_stop_their_peers() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = snapshot();
    for s in Switch::ALL {
        let mut pp = PingPong::start(s, PeerConfig::default())
            .unwrap_or_else(|e| panic!("{}: {e}", s.name()));
        for iters in [1, 20] {
            assert_eq!(
                pp.round_trips(iters)
                    .unwrap_or_else(|e| panic!("{}: {e}", s.name()))
                    .completed,
                iters
            );
        }
        let pid = pp.peer_pid();
        drop(pp);
        if let Some(pid) = pid {
            assert_eq!(
                procfs::state(pid.as_raw()),
                None,
                "{}: peer not reaped",
                s.name()
            );
        }
        assert_clean(&before, s.name());
    }
}

#[test]
fn a_killed_peer_process_is_an_error_not_a_hang() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = snapshot();
    for s in [Switch::PipeProcess, Switch::UnixSocketProcess] {
        let mut pp = PingPong::start(s, PeerConfig::default())
            .unwrap_or_else(|e| panic!("{}: {e}", s.name()));
        let pid = pp.peer_pid().expect("a process peer");
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("kill the peer");
        let (result, pp) = bounded(s.name(), move || {
            (pp.round_trips(1000).map(|o| o.completed), pp)
        });
        assert!(
            result.is_err(),
            "{}: a dead peer answered: {result:?}",
            s.name()
        );
        drop(pp);
        assert_clean(&before, s.name());
    }
}

#[test]
fn a_lost_hand_off_is_an_error_not_a_hang() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = snapshot();
    for s in Switch::ALL.into_iter().filter(|s| !s.is_baseline()) {
        let mut pp = PingPong::start(s, PeerConfig::default())
            .unwrap_or_else(|e| panic!("{}: {e}", s.name()));
        pp.skip_token();
        // The peer rejects the unexpected token and exits: the workload must report it.
        let (result, pp) = bounded(s.name(), move || {
            (pp.round_trips(10).map(|o| o.completed), pp)
        });
        assert!(
            result.is_err(),
            "{}: a lost hand-off went unnoticed",
            s.name()
        );
        drop(pp);
        assert_clean(&before, s.name());
    }
}

#[test]
fn working_set_peers_are_clean_too() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = snapshot();
    let cfg = PeerConfig {
        peer_cpu: None,
        ws_kib: 256,
    };
    let mut pp = PingPong::start(Switch::PipeProcess, cfg).expect("ws peer");
    assert_eq!(pp.round_trips(10).expect("ws round trips").completed, 10);
    drop(pp);
    assert_clean(&before, "ctx_switch_ws");
}
