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

/// The server's own layering, by a scan of its sources: the models (`mp`, `mt`, `sped`,
/// `amped`) sit on `blocking`, `helpers` and `accept`, which sit on `handler`; nothing points
/// back up, `sped` does not know `amped`, and no server file holds `unsafe` (that is `sys`'s).
#[test]
fn server_modules_point_down_only() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server");
    // Non-comment source up to the unit tests (which may `use super::*`).
    let read = |rel: &str| -> String {
        let text = std::fs::read_to_string(root.join(rel))
            .unwrap_or_else(|e| panic!("reading src/server/{rel}: {e}"));
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        text.lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // The identifiers of every `use super::…;` / `use crate::server::…;` statement.
    let imported = |src: &str| -> Vec<String> {
        let mut ids = Vec::new();
        for stmt in src.split("use ").skip(1) {
            let stmt = stmt.split(';').next().unwrap_or("");
            if stmt.starts_with("super::") || stmt.starts_with("crate::server::") {
                ids.extend(
                    stmt.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .filter(|w| !w.is_empty())
                        .map(str::to_owned),
                );
            }
        }
        ids
    };
    let mut files = vec![];
    for dir in ["", "handler/"] {
        for e in std::fs::read_dir(root.join(dir)).expect("listing src/server") {
            let name = e.expect("entry").file_name().into_string().expect("utf-8");
            if name.ends_with(".rs") {
                files.push(format!("{dir}{name}"));
            }
        }
    }
    assert!(files.len() >= 12, "{files:?}");
    let models = ["mp", "mt", "sped", "amped"];
    for f in &files {
        let src = read(f);
        assert!(!src.contains("unsafe"), "src/server/{f} holds unsafe code");
        if let Some(inner) = f.strip_prefix("handler/") {
            // The steps know nothing of who calls them.
            assert!(
                !src.contains("super::super") && !src.contains("crate::server"),
                "src/server/{f} reaches above the handler"
            );
            if inner == "mod.rs" {
                assert!(
                    imported(&src).is_empty(),
                    "handler/mod.rs imports from the server"
                );
            }
            continue;
        }
        let below_models = ["accept.rs", "blocking.rs", "helpers.rs"];
        let forbidden: &[&str] = match f.as_str() {
            f if below_models.contains(&f) => &models,
            "sped.rs" => &["amped", "mp", "mt"],
            "mp.rs" => &["mt", "sped", "amped"],
            "mt.rs" => &["mp", "sped", "amped"],
            _ => &[],
        };
        let ids = imported(&src);
        for m in forbidden {
            assert!(
                !ids.iter().any(|i| i == m),
                "src/server/{f} imports {m}: an arrow up or across"
            );
        }
    }
}
