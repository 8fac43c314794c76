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
//! The reference lanes ([`crate::reference`]: Apache, nginx, lighttpd) go through the same
//! launcher: [`ServerProcess::start_reference`] writes the server's configuration into a
//! temporary directory (removed with the process), picks a free loopback port, starts the
//! program with its CPU affinity set to the server cores before exec (every process and
//! thread it creates inherits it), waits until a probe request is answered 200, and on stop
//! signals it, reaps its whole process group and checks that nothing of it is left. A lane
//! is one of ours or a real server: [`start_lane`].
//!
//! With the profile's `[cores] network = "veth"` the server runs in a network namespace of
//! its own and the load in another ([`veth`]): the same groups over a real network path.
//!
//! It does not measure: the server's start-up, or a physical network (a veth link has no
//! wire, NIC or interrupt moderation: see `scripts/two-hosts.sh` and the README for two
//! machines).

pub mod veth;

use crate::blocks::Outcome;
use crate::load::workload::{TempDocroot, Workload};
use crate::load::{self, new_hist, ConnMode, ErrorCounts, LatencyUs, LoadReport, LoadSpec};
use crate::reference::{Lane, RefServer, Site};
use crate::report::server_results::ServerRecord;
use crate::server::stats::{tree_stats, TreeStats};
use crate::server::Model;
use crate::sys::process::ChildGuard;
use nix::sys::signal::Signal;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How long a server may take to print `listening on ...`.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running server process.
pub struct ServerProcess {
    // Dropped first: the server is killed and reaped before its configuration goes.
    guard: ChildGuard,
    pub addr: SocketAddr,
    /// A reference server's configuration directory (removed on drop).
    conf: Option<TempDocroot>,
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
        Ok(ServerProcess {
            guard,
            addr,
            conf: None,
        })
    }

    /// Starts real server `r` serving `docroot` on a free loopback port, pinned to `cores`,
    /// configured from `cfg` (see [`crate::reference`]), and waits until `GET probe_path`
    /// answers 200. An error names the server and quotes its stderr. A port another process
    /// took between our choice and the server's bind is retried on a new one.
    pub fn start_reference(
        r: RefServer,
        docroot: &Path,
        probe_path: &str,
        cores: &[usize],
        cfg: &crate::profile::ServerConfig,
    ) -> io::Result<ServerProcess> {
        let program = r
            .locate()
            .map_err(|m| io::Error::new(io::ErrorKind::NotFound, m.to_string()))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let dir = TempDocroot::new()?;
            let port = free_port()?;
            let site = Site {
                docroot,
                dir: dir.path(),
                port,
                cores,
                cfg,
                user: crate::reference::unprivileged_user(),
            };
            let mut cmd = r.prepare(&program, &site)?;
            let log = dir.path().join("stderr.log");
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log)?);
            let mut guard = ChildGuard::spawn_pinned(&mut cmd, cores)?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            match wait_answering(&mut guard, addr, probe_path, START_TIMEOUT) {
                Ok(()) => {
                    return Ok(ServerProcess {
                        guard,
                        addr,
                        conf: Some(dir),
                    })
                }
                Err(e) => {
                    drop(guard);
                    let err = std::fs::read_to_string(&log).unwrap_or_default();
                    if attempt < 3 && err.contains("Address already in use") {
                        continue;
                    }
                    let tail: Vec<&str> = err.lines().rev().take(5).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    return Err(io::Error::new(
                        e.kind(),
                        format!(
                            "{r} ({}) did not start: {e}; its stderr: {}",
                            program.display(),
                            if tail.is_empty() {
                                "(empty)".into()
                            } else {
                                tail.join(" | ")
                            }
                        ),
                    ));
                }
            }
        }
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
        Self::start_on(None, exe, model, docroot, cores, cfg)
    }

    /// [`Self::start`], on loopback (`veth` = `None`) or in the server namespace of `veth`,
    /// bound to its address.
    pub fn start_on(
        veth: Option<&veth::VethPair>,
        exe: &Path,
        model: Model,
        docroot: &Path,
        cores: &[usize],
        cfg: &crate::profile::ServerConfig,
    ) -> io::Result<ServerProcess> {
        let (mut cmd, bind) = match veth {
            None => (
                Command::new(exe),
                SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            ),
            Some(v) => (
                v.exec_in_server(exe),
                SocketAddr::from((veth::SERVER_ADDR, 0)),
            ),
        };
        cmd.arg("serve")
            .args(["--model", model.name()])
            .arg("--docroot")
            .arg(docroot)
            .args(["--bind", &bind.to_string()])
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

    /// A reference server's configuration directory (`None` for our models).
    pub fn conf_dir(&self) -> Option<&Path> {
        self.conf.as_ref().map(|d| d.path())
    }

    /// SIGTERM, up to 2 s for a clean exit, then SIGKILL of the process group; then up to 2 s
    /// for every process of the group to be gone, else an error naming them. Returns whether
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
        let left = group_left(self.pid(), Duration::from_secs(2));
        if !left.is_empty() {
            return Err(io::Error::other(format!(
                "processes {left:?} of server group {} outlived its stop",
                self.pid()
            )));
        }
        Ok(clean)
    }
}

/// Stops what a killed run's reference servers left: a bench killed outright (SIGKILL) takes
/// the server's leader with it (`PR_SET_PDEATHSIG`), but not Apache's children or nginx's
/// workers, and not lighttpd, whose switch to `nobody` clears the death signal. For every
/// configuration directory of a process that is gone (`$TMPDIR/threadbench-<pid>-<n>`), the
/// process group named by its pid file is killed if a live member of it is that server.
/// Returns the groups killed. Run before [`TempDocroot::sweep_stale`] removes the directories.
pub fn sweep_stale_reference_servers() -> Vec<i32> {
    let mut killed = Vec::new();
    let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) else {
        return killed;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix("threadbench-"))
            .and_then(|r| r.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if crate::procfs::state(owner).is_some() {
            continue; // a live run's
        }
        for (file, program) in [
            ("apache2.pid", "apache2"),
            ("nginx.pid", "nginx"),
            ("lighttpd.pid", "lighttpd"),
        ] {
            let Some(pgid) = std::fs::read_to_string(e.path().join(file))
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
            else {
                continue;
            };
            let ours = crate::procfs::group_members(pgid).into_iter().any(|p| {
                !is_gone(p)
                    && std::fs::read_to_string(format!("/proc/{p}/comm"))
                        .is_ok_and(|c| c.trim() == program)
            });
            if ours
                && nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), Signal::SIGKILL)
                    .is_ok()
            {
                killed.push(pgid);
            }
        }
    }
    killed
}

/// Starts `lane`: one of our models as `exe serve` ([`ServerProcess::start_on`], on loopback
/// or across `veth`), or a real server ([`ServerProcess::start_reference`], probed with
/// `GET probe_path`; loopback only).
pub fn start_lane(
    lane: Lane,
    exe: &Path,
    docroot: &Path,
    probe_path: &str,
    cores: &[usize],
    cfg: &crate::profile::ServerConfig,
    veth: Option<&veth::VethPair>,
) -> io::Result<ServerProcess> {
    match (lane, veth) {
        (Lane::Model(m), _) => ServerProcess::start_on(veth, exe, m, docroot, cores, cfg),
        (Lane::Reference(r), None) => {
            ServerProcess::start_reference(r, docroot, probe_path, cores, cfg)
        }
        (Lane::Reference(r), Some(_)) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{r}: the reference lanes run on loopback only (network = \"veth\")"),
        )),
    }
}

/// A loopback port nobody listens on now (the kernel's choice for an ephemeral bind).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// One `GET path` with `Connection: close`; the status code of the answer.
pub fn probe(addr: SocketAddr, path: &str) -> io::Result<u16> {
    let timeout = Duration::from_secs(2);
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    // One write: `write!` would send the pieces apart, each after the last one's ACK.
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    std::str::from_utf8(&head[..n])
        .ok()
        .and_then(|l| l.strip_prefix("HTTP/1."))
        .and_then(|l| l.get(2..5))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status line"))
}

/// Waits until `GET path` on `addr` answers 200, the child exits, or `timeout` passes.
fn wait_answering(
    guard: &mut ChildGuard,
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> io::Result<()> {
    let end = Instant::now() + timeout;
    let mut last = String::from("no answer yet");
    while Instant::now() < end {
        if let Some(status) = guard.try_wait()? {
            return Err(io::Error::other(format!("it exited ({status:?})")));
        }
        match probe(addr, path) {
            Ok(200) => return Ok(()),
            Ok(code) => last = format!("GET {path} answered {code}"),
            Err(e) => last = format!("GET {path}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("not answering within {timeout:?} ({last})"),
    ))
}

/// The processes of group `pgid` still there after up to `timeout` (zombies that are not ours
/// to reap count as gone, as in [`wait_gone`]).
pub fn group_left(pgid: i32, timeout: Duration) -> Vec<i32> {
    let end = Instant::now() + timeout;
    loop {
        let left: Vec<i32> = crate::procfs::group_members(pgid)
            .into_iter()
            .filter(|&p| !is_gone(p))
            .collect();
        if left.is_empty() || Instant::now() >= end {
            return left;
        }
        std::thread::sleep(Duration::from_millis(10));
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
    retries: u64,
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
            retries: 0,
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
        self.errors.add(&r.errors);
        self.retries += r.retries;
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
            retries: self.retries,
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
            policy: None,
            network: None,
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
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if is_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Whether `pid` is gone now, in the sense of [`wait_gone`].
fn is_gone(pid: i32) -> bool {
    match crate::procfs::state(pid) {
        None => true,
        Some('Z') => crate::procfs::parent_of(pid) != Some(std::process::id() as i32),
        _ => false,
    }
}
