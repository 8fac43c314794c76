//! Machine metadata: what the numbers were measured on (`threadbench env`, `env.json`).

use crate::pin::{format_cpu_list, parse_cpu_list, CorePlan};
use crate::profile::Profile;
use crate::sys::limits::NofileLimit;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything a reader needs to judge where a number came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MachineInfo {
    pub kernel_release: String,
    pub cpu_model: String,
    pub online_cpus: String,
    pub allowed_cpus: String,
    /// Sibling lists of SMT threads (one per physical core), e.g. `["0,2", "1,3"]`.
    pub smt_siblings: Vec<String>,
    pub cpufreq_governor: Option<String>,
    /// cpuinfo's `hypervisor` flag: numbers come from a virtual machine.
    pub virtualized: bool,
    pub rustc_version: String,
    pub profile_name: String,
    pub profile_path: PathBuf,
    pub core_plan: CorePlan,
    /// The server groups' network path (`[cores] network`: `loopback` or `veth`).
    #[serde(default = "loopback")]
    pub network: String,
    pub nofile_limit: Option<NofileLimit>,
    pub git_commit: Option<String>,
    /// The run that wrote this file (bench runs; `threadbench env` prints without one).
    #[serde(default)]
    pub run: Option<crate::report::results::Provenance>,
}

fn loopback() -> String {
    crate::profile::Network::Loopback.name().to_owned()
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

impl MachineInfo {
    /// Reads the machine's facts now.
    pub fn collect(profile: &Profile, plan: &CorePlan, nofile: Option<NofileLimit>) -> MachineInfo {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = crate::report::results::cpuinfo_model(&cpuinfo);
        let virtualized = cpuinfo
            .lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "hypervisor"));
        let online = crate::pin::online_cpus().unwrap_or_default();
        let mut smt_siblings: Vec<String> = online
            .iter()
            .filter_map(|cpu| {
                read_trim(&format!(
                    "/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
                ))
            })
            .filter_map(|s| parse_cpu_list(&s).map(|l| format_cpu_list(&l)))
            .collect();
        smt_siblings.sort();
        smt_siblings.dedup();
        let git_commit = crate::report::results::git_state().0;
        MachineInfo {
            kernel_release: nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_else(|_| "unknown".into()),
            cpu_model,
            online_cpus: format_cpu_list(&online),
            allowed_cpus: format_cpu_list(&crate::sys::cpu::allowed_cpus().unwrap_or_default()),
            smt_siblings,
            cpufreq_governor: read_trim("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
            virtualized,
            rustc_version: env!("THREADBENCH_RUSTC_VERSION").to_owned(),
            profile_name: profile.name.clone(),
            profile_path: profile.path.clone(),
            core_plan: plan.clone(),
            network: profile.cores.network.name().to_owned(),
            nofile_limit: nofile,
            git_commit,
            run: None,
        }
    }

    /// Writes `env.json` under `paths` (bench runs that measured something) and returns its
    /// path.
    pub fn write(&self, paths: &super::results::Paths) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&paths.out)?;
        let path = paths.file(super::results::ENV_JSON);
        std::fs::write(&path, serde_json::to_string_pretty(self)?)?;
        Ok(path)
    }

    /// Human-readable lines for `threadbench env`.
    pub fn summary(&self) -> String {
        let plan = &self.core_plan;
        let mut s = format!(
            "kernel        {}\ncpu           {}\nonline cpus   {}\nallowed cpus  {}\nsmt siblings  {}\ngovernor      {}\nvirtualized   {}\nrustc         {}\nprofile       {} ({})\nserver cores  {}\nclient cores  {}\nnetwork       {}\n",
            self.kernel_release,
            self.cpu_model,
            self.online_cpus,
            self.allowed_cpus,
            self.smt_siblings.join(" | "),
            self.cpufreq_governor.as_deref().unwrap_or("n/a"),
            if self.virtualized { "yes (hypervisor flag)" } else { "no" },
            self.rustc_version,
            self.profile_name,
            self.profile_path.display(),
            format_cpu_list(&plan.server),
            format_cpu_list(&plan.client),
            self.network,
        );
        if let Some(l) = self.nofile_limit {
            s += &format!("nofile limit  soft {} / hard {}\n", l.soft, l.hard);
        }
        if let Some(c) = &self.git_commit {
            s += &format!("git commit    {c}\n");
        }
        if let Some(w) = &plan.warning {
            s += &format!("WARNING       {w}\n");
        }
        s
    }
}
