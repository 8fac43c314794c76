//! Process hygiene: a guarded child leaves no process and no zombie, after drop and after a
//! panic of its owner; a child dies with its parent.

use std::process::Command;
use std::time::{Duration, Instant};
use threadbench::procfs;
use threadbench::sys::process::ChildGuard;

fn gone(pid: i32) -> bool {
    // Reaped: /proc/<pid> no longer exists (a zombie would still show state 'Z').
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if procfs::state(pid).is_none() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn my_children() -> Vec<i32> {
    procfs::children(std::process::id() as i32).unwrap()
}

#[test]
fn guard_kills_and_reaps_on_drop() {
    let guard = ChildGuard::spawn(Command::new("sleep").arg("100")).expect("spawn sleep");
    let pid = guard.pid().as_raw();
    assert!(
        matches!(procfs::state(pid), Some('S' | 'R')),
        "child should be running"
    );
    drop(guard);
    assert!(
        gone(pid),
        "child {pid} survived its guard (state {:?})",
        procfs::state(pid)
    );
}

#[test]
fn guard_kills_whole_process_group() {
    // The shell forks a grandchild `sleep` in the same process group, then waits.
    let guard =
        ChildGuard::spawn(Command::new("sh").args(["-c", "sleep 100 & wait"])).expect("spawn sh");
    let pid = guard.pid().as_raw();
    let deadline = Instant::now() + Duration::from_secs(5);
    let grandchild = loop {
        if let Some(&g) = procfs::children(pid).unwrap_or_default().first() {
            break g;
        }
        assert!(Instant::now() < deadline, "grandchild never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(guard);
    assert!(gone(pid));
    assert!(
        gone(grandchild),
        "grandchild {grandchild} survived (state {:?})",
        procfs::state(grandchild)
    );
}

#[test]
fn guard_reaps_after_owner_panics() {
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let guard = ChildGuard::spawn(Command::new("sleep").arg("100")).expect("spawn sleep");
        tx.send(guard.pid().as_raw()).unwrap();
        panic!("owner panics while holding the guard");
    })
    .join();
    assert!(result.is_err());
    let pid = rx.recv().unwrap();
    assert!(
        gone(pid),
        "child {pid} survived a panicking owner (state {:?})",
        procfs::state(pid)
    );
}

#[test]
fn forked_child_runs_and_exits() {
    let mut guard = ChildGuard::fork(|| 7).expect("fork");
    let status = guard
        .wait_timeout(Duration::from_secs(5))
        .unwrap()
        .expect("child exits");
    assert_eq!(status, nix::sys::wait::WaitStatus::Exited(guard.pid(), 7));
    let pid = guard.pid().as_raw();
    drop(guard);
    assert!(!my_children().contains(&pid));
}

#[test]
fn child_dies_with_its_parent() {
    // An intermediate process (a guarded fork) starts a guarded `sleep`, reports its pid, and
    // exits without cleaning up: PR_SET_PDEATHSIG must kill the orphan.
    let (rd, wr) = std::io::pipe().unwrap();
    let mut middle = ChildGuard::fork(move || {
        use std::io::Write;
        let guard = ChildGuard::spawn(Command::new("sleep").arg("100")).expect("spawn");
        let mut w = wr;
        let _ = writeln!(w, "{}", guard.pid().as_raw());
        std::mem::forget(guard);
        0
    })
    .expect("fork");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(rd), &mut line).unwrap();
    let orphan: i32 = line.trim().parse().unwrap();
    middle
        .wait_timeout(Duration::from_secs(5))
        .unwrap()
        .expect("middle exits");
    // The orphan is reparented (to init or a subreaper) and killed; we cannot reap it, so
    // wait for it to disappear or become a zombie of someone else.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && matches!(procfs::state(orphan), Some('S' | 'R')) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !matches!(procfs::state(orphan), Some('S' | 'R')),
        "orphan {orphan} still alive"
    );
}

#[test]
fn raise_nofile_reaches_hard_limit() {
    let l = threadbench::sys::limits::raise_nofile().unwrap();
    assert_eq!(l.soft, l.hard);
}
