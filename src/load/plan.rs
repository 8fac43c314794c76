//! From what a user asks `threadbench load` for to a [`LoadSpec`]: check the input before any
//! file is written or connection opened (target syntax and loopback, `--conns` against
//! RLIMIT_NOFILE, `--deadline` against `--duration`), write a workload's files or read a path
//! list, and probe every path once — within the deadline, which bounds the whole run — to learn
//! its size and checksum. The CLI parses flags into a [`LoadPlan`]; this does the rest.

use super::{pick_reachable, probe, resolve_target, workload, ConnMode, LoadSpec};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to load, as the user said it.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// `HOST:PORT`; host names are resolved, loopback only unless `allow_remote`.
    pub target: String,
    pub paths: Vec<String>,
    /// A workload (`single:<bytes>`, `specweb96:<dirs>`, `disk:<kib>:<count>`, written into
    /// `docroot`) or a file listing paths, one per line.
    pub paths_from: Option<String>,
    pub docroot: Option<PathBuf>,
    pub conns: usize,
    /// Neither this nor `requests`: 5 s (said on stderr).
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    /// The end of the whole run, probes included (default: duration + 10 s, or 60 s).
    pub deadline: Option<Duration>,
    pub rate: Option<f64>,
    pub mode: ConnMode,
    pub cores: Vec<usize>,
    pub checksum_every: u64,
    pub allow_remote: bool,
}

/// How long one probe may take at most (less when the deadline is nearer).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Descriptors a load process needs besides its connections (stdio, epoll per thread,
/// probes, the allocator's and std's own).
const RESERVED_FDS: u64 = 64;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// `ctx: cause`, keeping the cause's kind.
fn context(ctx: impl std::fmt::Display) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{ctx}: {e}"))
}

/// A request path: starts with `/`, no whitespace or control characters (it goes into the
/// request line as is).
pub fn check_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err("must start with '/'".into());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".into());
    }
    Ok(s.to_owned())
}

/// Refuses `conns` above what RLIMIT_NOFILE allows, after raising the soft limit to the hard
/// one; otherwise the connections over the limit would fail one by one as connect errors.
pub fn check_conns(conns: usize) -> io::Result<()> {
    let lim = crate::sys::limits::raise_nofile().map_err(context("reading RLIMIT_NOFILE"))?;
    let max = lim.soft.saturating_sub(RESERVED_FDS);
    if conns as u64 > max {
        return Err(invalid(format!(
            "--conns {conns} is over the descriptor limit: RLIMIT_NOFILE is {} (soft, raised to \
             the hard limit {}), which leaves room for at most {max} connections; lower --conns \
             or raise the hard limit (ulimit -Hn, /etc/security/limits.conf)",
            lim.soft, lim.hard
        )));
    }
    Ok(())
}

/// `3 s`, `1.5 s`.
pub fn fmt_secs(d: Duration) -> String {
    format!("{} s", (d.as_secs_f64() * 1e3).round() / 1e3)
}

impl LoadPlan {
    /// The paths to request, in order: the plan's, a workload's (its files written into
    /// `docroot`), or a path list's.
    fn paths(&self) -> io::Result<Vec<String>> {
        let Some(f) = &self.paths_from else {
            return Ok(self.paths.clone());
        };
        let is_workload = ["single:", "specweb96:", "disk:"]
            .iter()
            .any(|p| f.starts_with(p));
        if is_workload {
            let dir = self.docroot.as_ref().ok_or_else(|| {
                invalid("--paths-from <workload> needs --docroot DIR (the server's docroot)".into())
            })?;
            let root = workload::TempDocroot::keep_at(dir)
                .map_err(context(format!("creating {}", dir.display())))?;
            let w = workload::from_spec(f, root).map_err(context(format!("generating {f}")))?;
            eprintln!(
                "threadbench: wrote {} files of {f} into {}",
                w.files.len(),
                dir.display()
            );
            return Ok(w
                .sequence
                .iter()
                .map(|&i| w.files[i as usize].path.clone())
                .collect());
        }
        let text = std::fs::read_to_string(f).map_err(context(format!("reading {f}")))?;
        let paths = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| check_path(l).map_err(|e| invalid(format!("{f}: path {l:?} {e}"))))
            .collect::<io::Result<Vec<_>>>()?;
        if paths.is_empty() {
            return Err(invalid(format!("{f} lists no paths")));
        }
        Ok(paths)
    }

    /// Checks the plan, prepares the paths and probes each once; the spec's deadline is what
    /// is left of the plan's after probing.
    pub fn spec(&self) -> io::Result<LoadSpec> {
        let started = Instant::now();
        let addrs = resolve_target(&self.target, self.allow_remote)
            .map_err(context(format!("--target {}", self.target)))?;
        check_conns(self.conns)?;
        let mut duration = self.duration;
        if self.requests.is_none() && duration.is_none() {
            duration = Some(Duration::from_secs(5));
            eprintln!("threadbench: no --duration or --requests given: running for 5 s");
        }
        let deadline = self.deadline.unwrap_or_else(|| {
            duration.map_or(Duration::from_secs(60), |d| d + Duration::from_secs(10))
        });
        if let (Some(d), Some(_)) = (duration, self.deadline) {
            if deadline < d {
                return Err(invalid(format!(
                    "--deadline {} is shorter than --duration {}",
                    fmt_secs(deadline),
                    fmt_secs(d)
                )));
            }
        }
        // Everything from here on, probes included, ends by the deadline.
        let end = started + deadline;
        let paths = self.paths()?;
        let left = || end.saturating_duration_since(Instant::now());
        let target = pick_reachable(&addrs, left().min(Duration::from_secs(1)));
        let mut uniq: Vec<String> = paths.clone();
        uniq.sort();
        uniq.dedup();
        let mut expected = Vec::new();
        for p in &uniq {
            let budget = left().min(PROBE_TIMEOUT);
            if budget.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "probing {target}: --deadline {} passed before GET {p}",
                        fmt_secs(deadline)
                    ),
                ));
            }
            let bound = if budget < PROBE_TIMEOUT {
                format!(" (bounded by --deadline {})", fmt_secs(deadline))
            } else {
                String::new()
            };
            expected.push(
                probe(target, p, budget).map_err(context(format!("probing {target}{bound}")))?,
            );
        }
        let sequence = paths
            .iter()
            .map(|p| uniq.binary_search(p).expect("path listed") as u32)
            .collect();
        let mut spec = LoadSpec::new(target, expected);
        spec.sequence = Arc::new(sequence);
        spec.conns = self.conns;
        spec.mode = self.mode;
        spec.requests = self.requests;
        spec.duration = duration;
        spec.deadline = left();
        if spec.deadline.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "--deadline {} passed while probing {target}",
                    fmt_secs(deadline)
                ),
            ));
        }
        spec.rate = self.rate;
        spec.cores = self.cores.clone();
        spec.checksum_every = self.checksum_every.max(1);
        spec.allow_remote = self.allow_remote;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_conns_are_checked() {
        assert!(check_path("/a/b").is_ok());
        assert!(check_path("a").is_err());
        assert!(check_path("/a b").is_err());
        assert!(check_conns(1).is_ok());
        let e = check_conns(usize::MAX).expect_err("over the limit");
        assert!(e.to_string().contains("RLIMIT_NOFILE"), "{e}");
        assert_eq!(fmt_secs(Duration::from_millis(1500)), "1.5 s");
    }
}
