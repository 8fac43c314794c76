//! End-to-end server benchmarks: what `benches/server.rs` does, as library code a test can
//! run too. The top layer of the library: bench orchestration over [`crate::server`],
//! [`crate::load`] and [`crate::report`] (nothing below imports it).
//!
//! ```text
//!   server cores                          client cores
//!   threadbench serve --model M  ◀─────── bench process: load::run (epoll, pinned)
//!   (own process, ChildGuard)             one criterion iteration = one request
//! ```
//!
//! The server runs as its own process (`threadbench serve`), pinned to the server cores,
//! started once per (model, workload) and stopped (SIGTERM, then SIGKILL of its process group)
//! at the end — also when the bench panics, since [`ServerProcess`] owns a
//! [`ChildGuard`]. Each timed call runs `iters` requests through a fresh [`load::run`]
//! (connections are opened inside the timed region: with keep-alive that is one connect per
//! connection per call, amortised over thousands of requests per sample). Side metrics
//! (server CPU, RSS/PSS, context switches over the server's process tree; client CPU) are
//! accumulated per benchmark and saved to `server.json`.
//!
//! It does not measure: the server's start-up, or anything over a real network.

use crate::blocks::Outcome;
use crate::load::workload::Workload;
use crate::load::{self, new_hist, ConnMode, ErrorCounts, LatencyUs, LoadReport, LoadSpec};
use crate::report::server_results::ServerRecord;
use crate::server::stats::{tree_stats, TreeStats};
use crate::server::Model;
use crate::sys::process::ChildGuard;
use nix::sys::signal::Signal;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How long a server may take to print `listening on ...`.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running server process.
pub struct ServerProcess {
    guard: ChildGuard,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Spawns `cmd` (guarded) and waits for its `listening on <ip>:<port>` line on stdout.
    pub fn spawn(cmd: &mut Command) -> io::Result<ServerProcess> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut guard = ChildGuard::spawn(cmd)?;
        let stdout = guard
            .child_mut()
            .and_then(|c| c.stdout.take())
            .ok_or_else(|| io::Error::other("server stdout not captured"))?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        // Reads the first line, then drains stdout until the server exits so it never blocks
        // on a full pipe.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            for _ in lines.by_ref() {}
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(l))) => l,
            Ok(_) => {
                return Err(io::Error::other(
                    "server exited before printing `listening on`",
                ))
            }
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "server did not print `listening on` in time",
                ))
            }
        };
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected server line {line:?}"),
                )
            })?;
        Ok(ServerProcess { guard, addr })
    }

    /// `exe serve --model <model> --docroot <docroot> --bind 127.0.0.1:0 --cores <cores> ...`, the
    /// pool sizes and cache budget from `cfg`.
    pub fn start(
        exe: &Path,
        model: Model,
        docroot: &Path,
        cores: &[usize],
        cfg: &crate::profile::ServerConfig,
    ) -> io::Result<ServerProcess> {
        let mut cmd = Command::new(exe);
        cmd.arg("serve")
            .args(["--model", model.name()])
            .arg("--docroot")
            .arg(docroot)
            .args(["--bind", "127.0.0.1:0"])
            .args(["--processes", &cfg.processes.to_string()])
            .args(["--threads", &cfg.threads.to_string()])
            .args(["--helpers", &cfg.helpers.to_string()])
            .args(["--cache-bytes", &cfg.cache_bytes.to_string()]);
        if cfg.loops > 0 {
            cmd.args(["--loops", &cfg.loops.to_string()]);
        }
        if !cores.is_empty() {
            let list: Vec<String> = cores.iter().map(|c| c.to_string()).collect();
            cmd.args(["--cores", &list.join(",")]);
        }
        Self::spawn(&mut cmd)
    }

    pub fn pid(&self) -> i32 {
        self.guard.pid().as_raw()
    }

    /// SIGTERM, up to 2 s for a clean exit, then SIGKILL of the process group. Returns whether
    /// it exited cleanly on SIGTERM.
    pub fn stop(mut self) -> io::Result<bool> {
        self.guard.signal(Signal::SIGTERM)?;
        let clean = matches!(
            self.guard.wait_timeout(Duration::from_secs(2))?,
            Some(nix::sys::wait::WaitStatus::Exited(_, 0))
        );
        // Whatever is left of its process group (an MP server's workers, a helper) goes too:
        // after the leader is reaped the guard no longer signals the group. The group id
        // cannot be reused while any member lives, so this reaches only the server's processes.
        let _ = nix::sys::signal::killpg(self.guard.pid(), Signal::SIGKILL);
        self.guard.kill_and_reap()?;
        Ok(clean)
    }
}

/// Whether `exe` has a working `serve` subcommand (`serve --help` succeeds).
pub fn serve_available(exe: &Path) -> bool {
    Command::new(exe)
        .args(["serve", "--help"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Accumulates one benchmark's load reports and the server's counters.
pub struct SideMetrics {
    server_pid: i32,
    before: TreeStats,
    ok: u64,
    errors: ErrorCounts,
    elapsed: Duration,
    bytes: u64,
    hist: hdrhistogram::Histogram<u64>,
    /// Σ client_cpu_util × elapsed, for the elapsed-weighted mean.
    util_weighted: f64,
    resident: Vec<f64>,
}

impl SideMetrics {
    /// Starts accumulating; `server_pid` is the root of the server's process tree.
    pub fn start(server_pid: i32) -> SideMetrics {
        SideMetrics {
            server_pid,
            before: tree_stats(server_pid).unwrap_or_default(),
            ok: 0,
            errors: ErrorCounts::default(),
            elapsed: Duration::ZERO,
            bytes: 0,
            hist: new_hist(),
            util_weighted: 0.0,
            resident: Vec::new(),
        }
    }

    /// Validated responses so far (0 when criterion filtered the benchmark out).
    pub fn requests(&self) -> u64 {
        self.ok
    }

    pub fn add(&mut self, r: &LoadReport) {
        self.ok += r.ok;
        self.errors = ErrorCounts {
            status: self.errors.status + r.errors.status,
            length: self.errors.length + r.errors.length,
            checksum: self.errors.checksum + r.errors.checksum,
            malformed: self.errors.malformed + r.errors.malformed,
            reset: self.errors.reset + r.errors.reset,
            connect: self.errors.connect + r.errors.connect,
            timeout: self.errors.timeout + r.errors.timeout,
        };
        self.elapsed += r.elapsed;
        self.bytes += r.body_bytes;
        let _ = self.hist.add(&r.latency_ns);
        self.util_weighted += r.client_cpu_util * r.elapsed.as_secs_f64();
    }

    /// The record for (group, model, param), with the server's counters since [`Self::start`];
    /// client-bound when the generator's CPU reached `client_bound_util` (the profile's
    /// `[report] client_bound_util`).
    pub fn finish(
        &self,
        group: &str,
        model: &str,
        param: Option<u64>,
        client_bound_util: f64,
    ) -> io::Result<ServerRecord> {
        // A server already stopped has no counters: an error, never a record of zeros.
        let after = tree_stats(self.server_pid).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "reading the counters of server pid {}: {e}",
                    self.server_pid
                ),
            )
        })?;
        let before = &self.before;
        let cpu_us = after.cpu_us().saturating_sub(before.cpu_us());
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let per_req = |v: f64| {
            if self.ok == 0 {
                0.0
            } else {
                v / self.ok as f64
            }
        };
        let util = self.util_weighted / secs;
        Ok(ServerRecord {
            group: group.into(),
            model: model.into(),
            param,
            requests: self.ok,
            errors: self.errors.total(),
            req_per_s: self.ok as f64 / secs,
            mb_per_s: self.bytes as f64 / secs / 1e6,
            latency_us: LatencyUs::from_hist_ns(&self.hist),
            server_cpu_us_per_req: per_req(cpu_us as f64),
            server_rss_bytes: after.rss_bytes,
            server_pss_bytes: after.pss_bytes,
            server_processes: after.processes,
            voluntary_ctx_per_req: per_req(
                after.voluntary_cs.saturating_sub(before.voluntary_cs) as f64
            ),
            involuntary_ctx_per_req: per_req(
                after.involuntary_cs.saturating_sub(before.involuntary_cs) as f64,
            ),
            client_cpu_util: util,
            client_bound: util >= client_bound_util,
            resident_before: (!self.resident.is_empty())
                .then(|| self.resident.iter().sum::<f64>() / self.resident.len() as f64),
            measured_at: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            latency_hist_ns: log_buckets(&self.hist),
            run_id: String::new(),
        })
    }
}

/// The histogram in buckets 5 % wide from 1 µs up (upper bound in ns, count), empty buckets
/// left out: ~50 buckets per decade of latency, enough for a CDF, small enough for a file.
fn log_buckets(h: &hdrhistogram::Histogram<u64>) -> Vec<(u64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    h.iter_log(1000, 1.05)
        .filter(|v| v.count_since_last_iteration() > 0)
        .map(|v| (v.value_iterated_to(), v.count_since_last_iteration()))
        .collect()
}

/// A load spec for `workload` against `addr` from `client_cores`.
pub fn spec_for(
    addr: SocketAddr,
    w: &Workload,
    conns: usize,
    mode: ConnMode,
    client_cores: &[usize],
) -> LoadSpec {
    let mut s = LoadSpec::new(addr, w.files.clone());
    s.sequence = Arc::new(w.sequence.clone());
    s.conns = conns;
    s.mode = mode;
    s.cores = client_cores.to_vec();
    s.deadline = Duration::from_secs(60);
    s
}

/// Runs exactly `iters` requests; the outcome's `completed` counts validated responses.
pub fn run_requests(spec: &LoadSpec, iters: u64, side: &mut SideMetrics) -> io::Result<Outcome> {
    let mut s = spec.clone();
    s.requests = Some(iters);
    s.conns = s.conns.min(iters.max(1) as usize);
    let r = load::run(&s)?;
    side.add(&r);
    report_errors(&r);
    Ok(Outcome {
        elapsed: r.elapsed,
        completed: r.ok,
    })
}

/// Disk-bound: `iters` requests in batches of at most one request per file, the set evicted
/// from the page cache before each batch (eviction untimed).
pub fn run_disk_requests(
    spec: &LoadSpec,
    w: &Workload,
    iters: u64,
    side: &mut SideMetrics,
) -> io::Result<Outcome> {
    let mut left = iters;
    let mut total = Outcome {
        elapsed: Duration::ZERO,
        completed: 0,
    };
    let batch_max = w.files.len().max(1) as u64;
    while left > 0 {
        let batch = left.min(batch_max);
        side.resident.push(w.evict()?);
        let o = run_requests(spec, batch, side)?;
        total.elapsed += o.elapsed;
        total.completed += o.completed;
        left -= batch;
    }
    Ok(total)
}

fn report_errors(r: &LoadReport) {
    if r.errors.total() > 0 {
        eprintln!("threadbench: load errors: {:?}", r.errors);
    }
}

/// Waits up to `timeout` for `pid` to be gone: no longer existing, or a zombie that is not
/// ours to reap (an orphaned grandchild waiting for init, which may reap lazily). A zombie
/// child of this process counts as a leak.
pub fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let me = std::process::id() as i32;
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        match crate::procfs::state(pid) {
            None => return true,
            Some('Z') if crate::procfs::parent_of(pid) != Some(me) => return true,
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}
