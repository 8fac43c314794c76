//! Target profiles: `target-profiles/<name>.toml` → [`Profile`].
//!
//! A profile is the suite's one knob (criterion has no environment variables for its timing):
//! criterion's warm-up, measurement time, sample size and noise threshold per group, the core
//! plan, every group's sweep, the server pool sizes and the regression threshold.
//! `THREADBENCH_PROFILE=<name|path>` selects one; the default is `default`, and `ci` when a
//! bench binary runs in criterion's test mode (`cargo test`). `target-profiles/README.md`
//! documents every key. Every error names the file and the key.

use crate::ids::Group;
use crate::pin::{CorePlan, CoreSpec, PlanError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every benchmark group the suite knows, with its sweep when the profile names none.
/// A profile may only configure groups listed here (a typo is an error, not a silent no-op).
/// Whether `name` is a benchmark group ([`Group`]).
fn known_group(name: &str) -> bool {
    Group::parse(name).is_some()
}

fn known_groups() -> String {
    Group::ALL.map(|g| g.name()).join(", ")
}

/// Criterion timing, as written (any field may be left to the `[criterion]` defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub warm_up_ms: Option<u64>,
    pub measurement_ms: Option<u64>,
    pub sample_size: Option<usize>,
    pub noise_threshold: Option<f64>,
    /// Criterion's bootstrap resamples. Its plots draw a density estimate over every resample,
    /// so this, more than the measurement time, sets how long a benchmark's report takes.
    pub nresamples: Option<usize>,
    /// The group's swept parameter values (bare numbers; see DESIGN.md §3).
    pub sweep: Option<Vec<u64>>,
    /// Server groups: the lanes (our models, reference servers) the group runs, by id name;
    /// unset: `[server] models`, else every lane.
    pub models: Option<Vec<String>>,
    /// What one sample's clock is: `"wall"` (the default) or `"cpu"` ([`Clock`]).
    pub measurement: Option<String>,
}

/// What a group's samples measure (`[groups.<g>] measurement`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// Elapsed time: what waking, waiting and servers are about.
    #[default]
    Wall,
    /// CPU time of the bench process (all its threads, not its children): steadier than wall
    /// time for CPU-bound work on a VM whose host steals time (steal is accounted apart).
    Cpu,
}

impl Clock {
    pub const ALL: [Clock; 2] = [Clock::Wall, Clock::Cpu];

    /// The profile's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Clock::Wall => "wall",
            Clock::Cpu => "cpu",
        }
    }

    pub fn parse(s: &str) -> Option<Clock> {
        Clock::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// `[criterion]`: the timing defaults of every group, and the report switch.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct CriterionSection {
    warm_up_ms: Option<u64>,
    measurement_ms: Option<u64>,
    sample_size: Option<usize>,
    noise_threshold: Option<f64>,
    nresamples: Option<usize>,
    /// Criterion's HTML report and plots (`--noplot` turns them off for one run, too).
    plots: Option<bool>,
}

impl CriterionSection {
    fn timing(&self) -> GroupConfig {
        GroupConfig {
            warm_up_ms: self.warm_up_ms,
            measurement_ms: self.measurement_ms,
            sample_size: self.sample_size,
            noise_threshold: self.noise_threshold,
            nresamples: self.nresamples,
            sweep: None,
            models: None,
            measurement: None,
        }
    }
}

/// Criterion timing for one group, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timing {
    pub warm_up: Duration,
    pub measurement: Duration,
    pub sample_size: usize,
    pub noise_threshold: f64,
    pub nresamples: usize,
}

/// `[cores]`: the core plan (see `pin.rs`) and the network path between the sides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cores {
    #[serde(default)]
    pub server: CoreSpec,
    #[serde(default)]
    pub client: CoreSpec,
    #[serde(default)]
    pub network: Network,
}

/// `[cores] network`: how the server groups' load reaches the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// 127.0.0.1 in the bench's own network namespace.
    #[default]
    Loopback,
    /// Two hosts: the server in one network namespace, the load in another, joined by a
    /// veth pair (10.77.0.1 ↔ 10.77.0.2): a TCP stack per side, no loopback shortcuts.
    Veth,
}

impl Network {
    /// The word the profile and the report use.
    pub fn name(self) -> &'static str {
        match self {
            Network::Loopback => "loopback",
            Network::Veth => "veth",
        }
    }
}

/// `[server]`: pool sizes and handler limits of the end-to-end servers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// `mp`: pre-forked processes (Flash-MP and Apache used 32).
    pub processes: usize,
    /// `mt`: pool threads (Flash-MT used 64).
    pub threads: usize,
    /// `amped`/`amted`: disk helpers; `tokio`: its blocking pool's threads.
    pub helpers: usize,
    /// `sped_n`: event loops (one process each); 0: one per server core.
    pub loops: usize,
    /// Mapped-file cache budget in bytes (LRU-bounded).
    pub cache_bytes: u64,
    /// `writev` or `sendfile`.
    pub send: String,
    /// Listen backlog.
    pub backlog: u32,
    /// Longest request target accepted (414 beyond).
    pub max_target_bytes: usize,
    /// Largest request head accepted (431 beyond).
    pub max_header_bytes: usize,
    /// Bound of the pathname-translation cache, in entries (per process in `mp`).
    pub path_cache_entries: usize,
    /// A request head must arrive within this, from its first byte (or the accept).
    pub header_timeout_ms: u64,
    /// An idle keep-alive connection is closed after this.
    pub keepalive_timeout_ms: u64,
    /// An answer that makes no progress for this long (the client does not read) is dropped.
    pub send_timeout_ms: u64,
    /// The lanes every server group runs unless the group names its own (`None`: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// Pools that scale with the machine: when set, `processes` (`threads`, `helpers`) is
    /// this many per server core of the resolved core plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes_per_server_core: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads_per_server_core: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helpers_per_server_core: Option<usize>,
}

impl ServerConfig {
    /// Applies the `*_per_server_core` keys for a plan with `server_cores` server cores.
    fn scale(&mut self, server_cores: usize) {
        for (per_core, pool) in [
            (self.processes_per_server_core, &mut self.processes),
            (self.threads_per_server_core, &mut self.threads),
            (self.helpers_per_server_core, &mut self.helpers),
        ] {
            if let Some(k) = per_core {
                *pool = k * server_cores.max(1);
            }
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            processes: 32,
            threads: 64,
            helpers: 4,
            loops: 0,
            cache_bytes: 64 << 20,
            send: "writev".into(),
            backlog: 1024,
            max_target_bytes: 2048,
            max_header_bytes: 8192,
            path_cache_entries: 10_000,
            header_timeout_ms: 20_000,
            keepalive_timeout_ms: 60_000,
            send_timeout_ms: 60_000,
            models: None,
            processes_per_server_core: None,
            threads_per_server_core: None,
            helpers_per_server_core: None,
        }
    }
}

/// `[params]`: scalar knobs of individual workloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// sync_threads: work done inside the critical section, in ns (calibrated spin).
    pub sync_cs_work_ns: u64,
    /// event_scan_active: registered descriptors.
    pub event_scan_active_n_fds: u64,
    /// matmul: the matrix dimension N.
    pub matmul_n: u64,
    /// models_toyshop: one lecture time unit, in µs.
    pub toyshop_unit_us: u64,
    /// latency_hiding: CPU work per request, in µs.
    pub latency_cpu_us: u64,
    /// server_specweb: directories in the SPECweb96 file set.
    pub specweb_dirs: u64,
    /// server_disk: files in the disk-bound set.
    pub disk_files: u64,
    /// server benches: connections for the groups that do not sweep them.
    pub server_conns: u64,
    /// server_wan: mean think time of each connection between requests, in µs.
    pub wan_think_time_us: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            sync_cs_work_ns: 20,
            event_scan_active_n_fds: 1000,
            matmul_n: 256,
            toyshop_unit_us: 100,
            latency_cpu_us: 20,
            specweb_dirs: 4,
            disk_files: 256,
            server_conns: 32,
            wan_think_time_us: 1000,
        }
    }
}

/// `[regression]`: what `threadbench compare` calls a regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Regression {
    /// Relative slowdown beyond which a statistically clear change is a regression.
    pub threshold: f64,
    /// Per-group overrides of `threshold`.
    pub groups: BTreeMap<String, f64>,
}

impl Default for Regression {
    fn default() -> Self {
        Regression {
            threshold: 0.10,
            groups: BTreeMap::new(),
        }
    }
}

/// `[report]`: how the report and the findings read the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// A server result whose load generator used at least this fraction of its CPU is
    /// client-bound: its throughput is the generator's limit, not the server's.
    pub client_bound_util: f64,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            client_bound_util: 0.90,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    description: Option<String>,
    #[serde(default)]
    criterion: CriterionSection,
    #[serde(default)]
    cores: Cores,
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    params: Params,
    #[serde(default)]
    regression: Regression,
    #[serde(default)]
    report: ReportConfig,
    #[serde(default)]
    groups: BTreeMap<String, GroupConfig>,
}

/// A loaded, validated profile.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: String,
    pub path: PathBuf,
    pub description: String,
    pub defaults: Timing,
    /// Whether criterion draws its HTML report (`[criterion] plots`).
    pub plots: bool,
    pub groups: BTreeMap<String, GroupConfig>,
    pub cores: Cores,
    pub server: ServerConfig,
    pub params: Params,
    pub regression: Regression,
    pub report: ReportConfig,
}

/// Why a profile cannot be used. Every message names the file (and key).
#[derive(Debug)]
pub enum ProfileError {
    UnknownName {
        name: String,
        dir: PathBuf,
        available: Vec<String>,
    },
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    Parse {
        path: PathBuf,
        message: String,
    },
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    Cores {
        path: PathBuf,
        error: PlanError,
    },
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileError::UnknownName {
                name,
                dir,
                available,
            } => write!(
                f,
                "unknown profile {name:?}: no {}/{name}.toml; available profiles: {}",
                dir.display(),
                available.join(", ")
            ),
            ProfileError::Read { path, error } => {
                write!(f, "{}: cannot read: {error}", path.display())
            }
            ProfileError::Parse { path, message } => {
                write!(f, "{}: {}", path.display(), message.trim_end())
            }
            ProfileError::Invalid { path, key, message } => {
                write!(f, "{}: {key}: {message}", path.display())
            }
            ProfileError::Cores { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for ProfileError {}

/// `target-profiles/` of this source tree.
pub fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target-profiles")
}

/// Names of the profiles in `dir` (files `*.toml`), sorted.
pub fn available_profiles(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".toml")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

impl Profile {
    /// The profile `THREADBENCH_PROFILE` names; else `ci` in test mode, `default` otherwise.
    pub fn from_env(test_mode: bool) -> Result<Profile, ProfileError> {
        match std::env::var("THREADBENCH_PROFILE") {
            Ok(sel) if !sel.is_empty() => Profile::load(&sel),
            _ => Profile::load(if test_mode { "ci" } else { "default" }),
        }
    }

    /// Loads a profile by name (`target-profiles/<name>.toml`) or by path (contains `/` or
    /// ends in `.toml`).
    pub fn load(selector: &str) -> Result<Profile, ProfileError> {
        let dir = profiles_dir();
        if selector.contains('/') || selector.ends_with(".toml") {
            return Profile::load_path(Path::new(selector));
        }
        let path = dir.join(format!("{selector}.toml"));
        if !path.is_file() {
            return Err(ProfileError::UnknownName {
                name: selector.to_owned(),
                available: available_profiles(&dir),
                dir,
            });
        }
        Profile::load_path(&path)
    }

    /// Loads and validates the profile at `path`.
    pub fn load_path(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|error| ProfileError::Read {
            path: path.to_owned(),
            error,
        })?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("profile")
            .to_owned();
        Profile::parse(&name, path, &text)
    }

    /// Parses and validates profile text; `path` is only used in messages.
    pub fn parse(name: &str, path: &Path, text: &str) -> Result<Profile, ProfileError> {
        let file: ProfileFile = toml::from_str(text).map_err(|e| ProfileError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let invalid = |key: String, message: &str| ProfileError::Invalid {
            path: path.to_owned(),
            key,
            message: message.to_owned(),
        };
        for (group, cfg) in &file.groups {
            if !known_group(group) {
                return Err(invalid(
                    format!("groups.{group}"),
                    &format!("unknown group; known groups: {}", known_groups()),
                ));
            }
            if let Some(sweep) = &cfg.sweep {
                if sweep.is_empty() {
                    return Err(invalid(
                        format!("groups.{group}.sweep"),
                        "the sweep is empty",
                    ));
                }
            }
            check_timing(cfg).map_err(|m| invalid(format!("groups.{group}.{}", m.0), m.1))?;
            if let Some(models) = &cfg.models {
                if !Group::parse(group).is_some_and(Group::is_server) {
                    return Err(invalid(
                        format!("groups.{group}.models"),
                        "only the server groups run models",
                    ));
                }
                check_model_list(models)
                    .map_err(|m| invalid(format!("groups.{group}.models"), &m))?;
            }
            if let Some(m) = &cfg.measurement {
                let key = format!("groups.{group}.measurement");
                match Clock::parse(m) {
                    None => return Err(invalid(key, "must be \"wall\" or \"cpu\"")),
                    // A request's cost is spread over the server's and the generator's processes.
                    Some(Clock::Cpu) if Group::parse(group).is_some_and(Group::is_server) => {
                        return Err(invalid(
                            key,
                            "the server groups measure wall time (their CPU is in server.json)",
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(models) = &file.server.models {
            check_model_list(models).map_err(|m| invalid("server.models".into(), &m))?;
        }
        check_timing(&file.criterion.timing())
            .map_err(|m| invalid(format!("criterion.{}", m.0), m.1))?;
        for group in file.regression.groups.keys() {
            if !known_group(group) {
                return Err(invalid(
                    format!("regression.groups.{group}"),
                    "unknown group",
                ));
            }
        }
        if !(file.regression.threshold > 0.0 && file.regression.threshold < 10.0) {
            return Err(invalid(
                "regression.threshold".into(),
                "must be a fraction > 0 (0.10 = 10 %)",
            ));
        }
        if !(file.report.client_bound_util > 0.0 && file.report.client_bound_util <= 1.0) {
            return Err(invalid(
                "report.client_bound_util".into(),
                "must be a fraction in (0, 1] (0.90 = 90 % of the client's CPU)",
            ));
        }
        if !["writev", "sendfile"].contains(&file.server.send.as_str()) {
            return Err(invalid(
                "server.send".into(),
                "must be \"writev\" or \"sendfile\"",
            ));
        }
        for (key, value) in [
            ("server.processes", file.server.processes),
            ("server.threads", file.server.threads),
            ("server.helpers", file.server.helpers),
            (
                "server.processes_per_server_core",
                file.server.processes_per_server_core.unwrap_or(1),
            ),
            (
                "server.threads_per_server_core",
                file.server.threads_per_server_core.unwrap_or(1),
            ),
            (
                "server.helpers_per_server_core",
                file.server.helpers_per_server_core.unwrap_or(1),
            ),
            ("server.path_cache_entries", file.server.path_cache_entries),
            (
                "server.header_timeout_ms",
                file.server.header_timeout_ms as usize,
            ),
            (
                "server.keepalive_timeout_ms",
                file.server.keepalive_timeout_ms as usize,
            ),
            (
                "server.send_timeout_ms",
                file.server.send_timeout_ms as usize,
            ),
            ("server.backlog", file.server.backlog as usize),
            ("server.max_target_bytes", file.server.max_target_bytes),
            ("server.max_header_bytes", file.server.max_header_bytes),
            ("params.matmul_n", file.params.matmul_n as usize),
            ("params.server_conns", file.params.server_conns as usize),
            ("params.specweb_dirs", file.params.specweb_dirs as usize),
            ("params.disk_files", file.params.disk_files as usize),
            (
                "params.wan_think_time_us",
                file.params.wan_think_time_us as usize,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key.into(), "must be at least 1"));
            }
        }
        let c = &file.criterion;
        let defaults = Timing {
            warm_up: Duration::from_millis(c.warm_up_ms.unwrap_or(1000)),
            measurement: Duration::from_millis(c.measurement_ms.unwrap_or(3000)),
            sample_size: c.sample_size.unwrap_or(50),
            noise_threshold: c.noise_threshold.unwrap_or(0.02),
            nresamples: c.nresamples.unwrap_or(100_000),
        };
        let mut profile = Profile {
            name: name.to_owned(),
            path: path.to_owned(),
            description: file.description.unwrap_or_default(),
            defaults,
            plots: file.criterion.plots.unwrap_or(true),
            groups: file.groups,
            cores: file.cores,
            server: file.server,
            params: file.params,
            regression: file.regression,
            report: file.report,
        };
        let plan = profile.core_plan()?;
        profile.server.scale(plan.server.len());
        Ok(profile)
    }

    /// Criterion timing for `group`: the group's own settings over the `[criterion]` defaults.
    pub fn timing(&self, group: &str) -> Timing {
        let g = self.groups.get(group).cloned().unwrap_or_default();
        Timing {
            warm_up: g
                .warm_up_ms
                .map(Duration::from_millis)
                .unwrap_or(self.defaults.warm_up),
            measurement: g
                .measurement_ms
                .map(Duration::from_millis)
                .unwrap_or(self.defaults.measurement),
            sample_size: g.sample_size.unwrap_or(self.defaults.sample_size),
            noise_threshold: g.noise_threshold.unwrap_or(self.defaults.noise_threshold),
            nresamples: g.nresamples.unwrap_or(self.defaults.nresamples),
        }
    }

    /// What `group`'s samples measure: its `measurement`, else wall time.
    pub fn clock(&self, group: Group) -> Clock {
        self.groups
            .get(group.name())
            .and_then(|g| g.measurement.as_deref())
            .and_then(Clock::parse)
            .unwrap_or_default()
    }

    /// The swept values of `group`: the profile's, else the built-in default.
    pub fn sweep(&self, group: Group) -> Vec<u64> {
        self.groups
            .get(group.name())
            .and_then(|g| g.sweep.clone())
            .unwrap_or_else(|| group.default_sweep().to_vec())
    }

    /// The lanes `group` runs, by name: the group's `models`, else `[server] models`; `None`
    /// when the profile names none (every lane).
    pub fn models(&self, group: Group) -> Option<&[String]> {
        self.groups
            .get(group.name())
            .and_then(|g| g.models.as_deref())
            .or(self.server.models.as_deref())
    }

    /// Checks every `models` list against the lanes this build knows (`known`: the model
    /// registry and the reference servers, which this layer cannot name itself).
    pub fn check_models(&self, known: &[&str]) -> Result<(), ProfileError> {
        let lists = self
            .groups
            .iter()
            .filter_map(|(g, c)| Some((format!("groups.{g}.models"), c.models.as_ref()?)))
            .chain(
                self.server
                    .models
                    .as_ref()
                    .map(|m| ("server.models".to_owned(), m)),
            );
        for (key, models) in lists {
            if let Some(bad) = models.iter().find(|m| !known.contains(&m.as_str())) {
                return Err(ProfileError::Invalid {
                    path: self.path.clone(),
                    key,
                    message: format!("unknown model {bad:?}; known: {}", known.join(", ")),
                });
            }
        }
        Ok(())
    }

    /// The regression threshold for `group` (per-group override, else the global one).
    pub fn regression_threshold(&self, group: &str) -> f64 {
        self.regression
            .groups
            .get(group)
            .copied()
            .unwrap_or(self.regression.threshold)
    }

    /// The core plan resolved against this machine; an error names the file and the CPU.
    pub fn core_plan(&self) -> Result<CorePlan, ProfileError> {
        let resolved = CorePlan::for_this_machine(&self.cores.server, &self.cores.client).map_err(
            |error| ProfileError::Read {
                path: PathBuf::from("/sys/devices/system/cpu/online"),
                error,
            },
        )?;
        resolved.map_err(|error| ProfileError::Cores {
            path: self.path.clone(),
            error,
        })
    }
}

/// A `models` list: not empty, no name twice (names are checked by [`Profile::check_models`]).
fn check_model_list(models: &[String]) -> Result<(), String> {
    if models.is_empty() {
        return Err("the list is empty (leave the key out to run every model)".into());
    }
    for (i, m) in models.iter().enumerate() {
        if models[..i].contains(m) {
            return Err(format!("{m:?} twice"));
        }
    }
    Ok(())
}

/// Checks one timing table; on error returns (key, message).
fn check_timing(cfg: &GroupConfig) -> Result<(), (&'static str, &'static str)> {
    if cfg.sample_size.is_some_and(|n| n < 10) {
        return Err(("sample_size", "criterion needs at least 10 samples"));
    }
    if cfg.measurement_ms == Some(0) {
        return Err(("measurement_ms", "must be greater than 0"));
    }
    if cfg
        .noise_threshold
        .is_some_and(|t| !(0.0..1.0).contains(&t))
    {
        return Err(("noise_threshold", "must be a fraction in [0, 1)"));
    }
    if cfg.nresamples.is_some_and(|n| n < 1000) {
        return Err(("nresamples", "use at least 1000 bootstrap resamples"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Profile, ProfileError> {
        Profile::parse("t", Path::new("/x/t.toml"), text)
    }

    #[test]
    fn shipped_profiles_load_and_cover_every_group() {
        for name in ["default", "ci", "many-core"] {
            let p = Profile::load(name).unwrap_or_else(|e| panic!("{e}"));
            for group in Group::ALL {
                assert!(
                    p.groups.contains_key(group.name()),
                    "{name}.toml has no [groups.{group}]"
                );
            }
        }
    }

    #[test]
    fn unknown_name_lists_available() {
        let msg = Profile::load("nope").unwrap_err().to_string();
        assert!(
            msg.contains("\"nope\"") && msg.contains("ci") && msg.contains("default"),
            "{msg}"
        );
    }

    #[test]
    fn syntax_error_names_file() {
        let msg = parse("[criterion\nwarm_up_ms = 1").unwrap_err().to_string();
        assert!(msg.starts_with("/x/t.toml:"), "{msg}");
    }

    #[test]
    fn unknown_key_is_named() {
        let msg = parse("[criterion]\nwarmup_ms = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("/x/t.toml") && msg.contains("warmup_ms"),
            "{msg}"
        );
        let msg = parse("[groups.spawn]\nsweeps = [1]\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("sweeps"), "{msg}");
        let msg = parse("[groups.spwan]\nsweep = [1]\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("groups.spwan") && msg.contains("known groups"),
            "{msg}"
        );
    }

    #[test]
    fn empty_or_non_numeric_sweep() {
        let msg = parse("[groups.spawn_rss]\nsweep = []\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("groups.spawn_rss.sweep") && msg.contains("empty"),
            "{msg}"
        );
        let msg = parse("[groups.spawn_rss]\nsweep = [\"a\"]\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/x/t.toml") && msg.contains("sweep"), "{msg}");
    }

    #[test]
    fn missing_core_names_cpu_and_online_list() {
        let msg = parse("[cores]\nserver = [4096]\n").unwrap_err().to_string();
        assert!(
            msg.contains("/x/t.toml") && msg.contains("CPU 4096") && msg.contains("online CPUs"),
            "{msg}"
        );
    }

    #[test]
    fn group_timing_overrides_defaults() {
        let p = parse(
            "[criterion]\nmeasurement_ms = 500\n[groups.spawn]\nsample_size = 20\nsweep=[3]\n",
        )
        .unwrap();
        let t = p.timing("spawn");
        assert_eq!(
            (t.measurement, t.sample_size),
            (Duration::from_millis(500), 20)
        );
        assert_eq!(p.sweep(Group::Spawn), vec![3]);
        assert_eq!(p.sweep(Group::SpawnRss), vec![1, 64, 256, 1024]);
        assert_eq!(p.timing("matmul").sample_size, 50);
        assert_eq!(p.timing("matmul").nresamples, 100_000);
        assert!(p.plots);
        let p = parse(
            "[criterion]\nnresamples = 5000\nplots = false\n[groups.spawn]\nnresamples = 2000\n",
        )
        .unwrap();
        assert_eq!(
            (p.timing("spawn").nresamples, p.timing("matmul").nresamples),
            (2000, 5000)
        );
        assert!(!p.plots);
        let msg = parse("[criterion]\nsweep = [1]\n").unwrap_err().to_string();
        assert!(msg.contains("/x/t.toml") && msg.contains("sweep"), "{msg}");
    }

    #[test]
    fn measurement_is_per_group_and_checked() {
        let p = parse("[groups.event_scan_fds]\nmeasurement = \"cpu\"\n[groups.spawn]\nmeasurement = \"wall\"\n")
            .unwrap();
        assert_eq!(p.clock(Group::EventScanFds), Clock::Cpu);
        assert_eq!(p.clock(Group::Spawn), Clock::Wall);
        assert_eq!(p.clock(Group::Matmul), Clock::Wall, "wall unless named");
        let msg = parse("[groups.sync_threads]\nmeasurement = \"cycles\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("/x/t.toml: groups.sync_threads.measurement") && msg.contains("\"cpu\""),
            "{msg}"
        );
        let msg = parse("[groups.server_conns]\nmeasurement = \"cpu\"\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("groups.server_conns.measurement"), "{msg}");
        let msg = parse("[criterion]\nmeasurement = \"cpu\"\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("measurement"), "per group only: {msg}");
    }

    #[test]
    fn models_lists_are_checked_and_resolved_per_group() {
        let known = ["mp", "sped", "nginx"];
        let p = parse(
            "[server]\nmodels = [\"mp\", \"nginx\"]\n[groups.server_conns]\nmodels = [\"sped\"]\n",
        )
        .unwrap();
        p.check_models(&known).unwrap();
        assert_eq!(p.models(Group::ServerConns), Some(&["sped".to_owned()][..]));
        assert_eq!(
            p.models(Group::ServerSpecweb).map(<[String]>::len),
            Some(2),
            "[server] models is the default"
        );
        assert_eq!(parse("").unwrap().models(Group::ServerConns), None);
        let msg = parse("[groups.server_disk]\nmodels = [\"mp\", \"apache\"]\n")
            .unwrap()
            .check_models(&known)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("/x/t.toml")
                && msg.contains("groups.server_disk.models")
                && msg.contains("unknown model \"apache\"")
                && msg.contains("known: mp, sped, nginx"),
            "{msg}"
        );
        for (text, key, what) in [
            ("[server]\nmodels = []\n", "server.models", "empty"),
            (
                "[groups.server_conns]\nmodels = [\"mp\", \"mp\"]\n",
                "groups.server_conns.models",
                "twice",
            ),
            (
                "[groups.spawn]\nmodels = [\"mp\"]\n",
                "groups.spawn.models",
                "only the server groups",
            ),
        ] {
            let msg = parse(text).unwrap_err().to_string();
            assert!(msg.contains(key) && msg.contains(what), "{text}: {msg}");
        }
    }

    #[test]
    fn network_and_per_core_pools() {
        assert_eq!(parse("").unwrap().cores.network, Network::Loopback);
        let p = parse("[cores]\nnetwork = \"veth\"\n").unwrap();
        assert_eq!(p.cores.network, Network::Veth);
        let msg = parse("[cores]\nnetwork = \"wifi\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("/x/t.toml") && msg.contains("network") && msg.contains("veth"),
            "{msg}"
        );
        // Pools per server core follow the resolved plan (auto: half the CPUs, rounded up).
        let p = parse("[server]\nprocesses = 3\nprocesses_per_server_core = 8\nthreads_per_server_core = 16\n").unwrap();
        let server_cores = p.core_plan().unwrap().server.len();
        assert_eq!(p.server.processes, 8 * server_cores);
        assert_eq!(p.server.threads, 16 * server_cores);
        assert_eq!(p.server.helpers, 4, "unscaled keys keep their value");
        let msg = parse("[server]\nhelpers_per_server_core = 0\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("server.helpers_per_server_core"), "{msg}");
    }

    #[test]
    fn bad_values_are_named() {
        let msg = parse("[groups.spawn]\nsample_size = 3\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("groups.spawn.sample_size"), "{msg}");
        let msg = parse("[criterion]\nnresamples = 10\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("criterion.nresamples"), "{msg}");
        let msg = parse("[criterion]\nplots = 1\n").unwrap_err().to_string();
        assert!(msg.contains("/x/t.toml") && msg.contains("plots"), "{msg}");
        let msg = parse("[server]\nsend = \"splice\"\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("server.send"), "{msg}");
        let msg = parse("[report]\nclient_bound_util = 1.5\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("report.client_bound_util"), "{msg}");
        assert_eq!(parse("").unwrap().report.client_bound_util, 0.90);
        for (text, key) in [
            (
                "[server]\nmax_header_bytes = 0\n",
                "server.max_header_bytes",
            ),
            ("[server]\nbacklog = 0\n", "server.backlog"),
            ("[params]\nmatmul_n = 0\n", "params.matmul_n"),
            (
                "[server]\npath_cache_entries = 0\n",
                "server.path_cache_entries",
            ),
            (
                "[server]\nheader_timeout_ms = 0\n",
                "server.header_timeout_ms",
            ),
            (
                "[server]\nkeepalive_timeout_ms = 0\n",
                "server.keepalive_timeout_ms",
            ),
            ("[server]\nsend_timeout_ms = 0\n", "server.send_timeout_ms"),
        ] {
            let msg = parse(text).unwrap_err().to_string();
            assert!(
                msg.contains("/x/t.toml") && msg.contains(key) && msg.contains("at least 1"),
                "{text}: {msg}"
            );
        }
    }
}
