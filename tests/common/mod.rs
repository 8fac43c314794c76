//! What the server integration tests share: the model names, a small docroot, and starting
//! and stopping `threadbench serve` as a guarded child.

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use threadbench::sys::process::ChildGuard;

/// Every model this machine can run, by the name `serve --model` takes (from the one
/// registry); a model it cannot run (uring without io_uring) is skipped with one line.
pub fn models() -> Vec<&'static str> {
    threadbench::server::Model::ALL
        .into_iter()
        .filter(|m| runs(m.name()))
        .map(|m| m.name())
        .collect()
}

/// Whether model `name` can run here; if not, prints one line saying why (the test skips it).
pub fn runs(name: &str) -> bool {
    let m = threadbench::server::Model::parse(name).expect("a model name");
    match m.available() {
        Ok(()) => true,
        Err(why) => {
            eprintln!("skipping model {name}: {why}");
            false
        }
    }
}

/// A temporary directory (docroot, test profile) removed on drop.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `<target tmp>/<test>-<pid>-<tag>` with `a.bin` (1 KiB), `index.html`, `sub/index.html` and
/// `b.txt`.
pub fn docroot(test: &str, tag: &str) -> TempDir {
    let d =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{test}-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("sub")).expect("creating docroot");
    let bin: Vec<u8> = (0..1024u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(d.join("a.bin"), bin).expect("writing a.bin");
    std::fs::write(d.join("index.html"), "<p>root</p>\n").expect("writing index");
    std::fs::write(d.join("sub/index.html"), "<p>sub</p>\n").expect("writing sub index");
    std::fs::write(d.join("b.txt"), "bee\n").expect("writing b.txt");
    TempDir(d)
}

/// The counter `name=N` that a stopped server printed on stderr.
pub fn counter(err: &str, name: &str) -> u64 {
    err.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} counter in {err:?}"))
}

/// Spawns `cmd` (a `serve`, or a shell that execs one) with piped stdout and stderr and reads
/// its first line, `listening on ADDR`; `what` names it in a failure.
pub fn listening(cmd: &mut Command, what: &str) -> (ChildGuard, SocketAddr) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut guard = ChildGuard::spawn(cmd).expect("spawning threadbench serve");
    let out = guard
        .child_mut()
        .and_then(|c| c.stdout.take())
        .expect("stdout");
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .expect("reading the listening line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{what}: unexpected first line {line:?}"))
        .parse()
        .expect("parsing the address");
    (guard, addr)
}

/// SIGTERM; the server must exit 0 within `within`, leaving no descendant. Returns stderr.
pub fn stop_within(guard: &mut ChildGuard, within: Duration, what: &str) -> String {
    let pid = guard.pid().as_raw();
    let tree = threadbench::procfs::descendants(pid);
    let t0 = Instant::now();
    guard.signal(Signal::SIGTERM).expect("SIGTERM");
    let st = guard
        .wait_timeout(within + Duration::from_secs(2))
        .expect("waiting for the server");
    let took = t0.elapsed();
    assert!(
        matches!(st, Some(WaitStatus::Exited(_, 0))),
        "{what}: server did not exit 0 on SIGTERM: {st:?}"
    );
    assert!(
        took <= within,
        "{what}: SIGTERM took {took:?} (bound {within:?})"
    );
    for p in tree {
        assert!(
            threadbench::procfs::state(p).is_none(),
            "{what}: process {p} of the server survived it"
        );
    }
    let mut err = String::new();
    if let Some(mut e) = guard.child_mut().and_then(|c| c.stderr.take()) {
        let _ = e.read_to_string(&mut err);
    }
    err
}
