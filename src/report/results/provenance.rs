//! Where a number came from: the run (id, profile, commit, start time) and the machine.

use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// What a number was measured on and by which run: the header of every artefact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// One `cargo bench` invocation (shared by all its bench binaries), or `$THREADBENCH_RUN_ID`.
    pub run_id: String,
    pub profile: String,
    pub git_commit: Option<String>,
    /// Uncommitted changes in the work tree when the run started.
    #[serde(default)]
    pub git_dirty: Option<bool>,
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    pub machine: Machine,
}

/// The machine facts a reader needs to judge a number (the full set is `env.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: String,
    pub cpu_model: String,
    pub online_cpus: String,
    pub n_cpus: usize,
    pub mem_total_bytes: u64,
    pub kernel: String,
    pub virtualized: bool,
}

impl Machine {
    pub fn collect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let online = crate::pin::online_cpus().unwrap_or_default();
        Machine {
            hostname: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "unknown".into()),
            cpu_model: cpuinfo_model(&cpuinfo),
            online_cpus: crate::pin::format_cpu_list(&online),
            n_cpus: online.len(),
            mem_total_bytes: meminfo_kib("MemTotal:").unwrap_or(0) * 1024,
            kernel: nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_else(|_| "unknown".into()),
            virtualized: cpuinfo
                .lines()
                .filter(|l| l.starts_with("flags"))
                .any(|l| l.split_whitespace().any(|f| f == "hypervisor")),
        }
    }
}

/// `/proc/cpuinfo`'s first `model name`.
pub fn cpuinfo_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn meminfo_kib(key: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `git rev-parse HEAD` and whether the tree has uncommitted changes, for this crate's checkout.
pub fn git_state() -> (Option<String>, Option<bool>) {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(["-C", env!("CARGO_MANIFEST_DIR")])
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
    };
    let commit = git(&["rev-parse", "HEAD"]).map(|s| s.trim().to_owned());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty());
    (commit, dirty)
}

/// This process's run id: `$THREADBENCH_RUN_ID`, else the start time and pid of the parent
/// `cargo` (every bench binary of one `cargo bench` shares it), else our own.
pub fn run_id() -> String {
    if let Ok(id) = std::env::var("THREADBENCH_RUN_ID") {
        if !id.trim().is_empty() {
            return id.trim().to_owned();
        }
    }
    let ppid = nix::unistd::getppid().as_raw();
    let parent_is_cargo =
        std::fs::read_to_string(format!("/proc/{ppid}/comm")).is_ok_and(|c| c.trim() == "cargo");
    let (pid, started) = if parent_is_cargo {
        (ppid, crate::procfs::start_time(ppid))
    } else {
        (std::process::id() as i32, None)
    };
    let started = started.unwrap_or_else(SystemTime::now);
    format!("{}-{pid}", format_utc_compact(unix_secs(started)))
}

impl Provenance {
    /// The provenance of a run starting now under `profile`.
    pub fn now(profile: &str) -> Provenance {
        let (git_commit, git_dirty) = git_state();
        Provenance {
            run_id: run_id(),
            profile: profile.to_owned(),
            git_commit,
            git_dirty,
            started_at: unix_secs(SystemTime::now()),
            machine: Machine::collect(),
        }
    }

    /// A run with a fixed id and start time on this machine (tests and fixtures).
    pub fn fixture(run_id: &str, started_at: u64, profile: &str) -> Provenance {
        Provenance {
            run_id: run_id.into(),
            profile: profile.into(),
            git_commit: Some("0123456789abcdef".into()),
            git_dirty: Some(false),
            started_at,
            machine: Machine::collect(),
        }
    }

    /// `2026-12-02 03:58 UTC`.
    pub fn started_utc(&self) -> String {
        format_utc(self.started_at)
    }

    /// `ci · 2026-12-02 03:58 UTC · c1cd3d4 (+changes) · host, 2 CPUs`: one line for a reader.
    pub fn one_line(&self) -> String {
        let commit = self.git_commit.as_deref().map_or("no git".to_owned(), |c| {
            let short = &c[..c.len().min(7)];
            if self.git_dirty == Some(true) {
                format!("{short} + uncommitted changes")
            } else {
                short.to_owned()
            }
        });
        format!(
            "profile {} · {} · commit {commit} · {} ({} CPUs) · run {}",
            self.profile,
            self.started_utc(),
            self.machine.hostname,
            self.machine.n_cpus,
            self.run_id
        )
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn utc_parts(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    (y, m, d, s / 3600, s / 60 % 60, s % 60)
}

/// `2026-12-02 03:58 UTC`.
pub fn format_utc(secs: u64) -> String {
    let (y, m, d, hh, mm, _) = utc_parts(secs);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
}

/// `20261202T035812Z` (run ids).
pub(super) fn format_utc_compact(secs: u64) -> String {
    let (y, m, d, hh, mm, ss) = utc_parts(secs);
    format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
}
