//! CorePlan: which CPUs the server (and the peers of the focused benches) use and which the
//! load generator uses, so that in pinned runs the two never share a core.
//!
//! `auto` splits the online CPUs the process may use in two halves, server first
//! (2 CPUs: server 0, client 1). With one CPU both sides get CPU 0 and the plan carries a
//! warning that the report shows. Explicit lists are checked against the machine.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::io;

/// One side of the plan as written in a profile: `"auto"` or explicit CPU numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CoreSpec {
    /// Only the word `auto` is accepted (checked when the profile is validated).
    Word(String),
    List(Vec<usize>),
}

impl Default for CoreSpec {
    fn default() -> Self {
        CoreSpec::Word("auto".into())
    }
}

/// The resolved plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorePlan {
    pub server: Vec<usize>,
    pub client: Vec<usize>,
    /// Set when the plan could not keep the sides apart (one CPU): shown in the report.
    pub warning: Option<String>,
}

/// Why a plan cannot be made; the message names the CPU and lists the machine's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    BadWord {
        side: &'static str,
        word: String,
    },
    Empty {
        side: &'static str,
    },
    NotOnline {
        side: &'static str,
        cpu: usize,
        online: Vec<usize>,
    },
    NotAllowed {
        side: &'static str,
        cpu: usize,
        allowed: Vec<usize>,
    },
    Overlap {
        cpu: usize,
    },
    NoCpus,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::BadWord { side, word } => write!(
                f,
                "cores.{side}: expected \"auto\" or a list of CPU numbers, found \"{word}\""
            ),
            PlanError::Empty { side } => write!(f, "cores.{side}: the CPU list is empty"),
            PlanError::NotOnline { side, cpu, online } => write!(
                f,
                "cores.{side}: CPU {cpu} is not online on this machine (online CPUs: {})",
                format_cpu_list(online)
            ),
            PlanError::NotAllowed { side, cpu, allowed } => write!(
                f,
                "cores.{side}: CPU {cpu} is not in this process's allowed CPU set ({})",
                format_cpu_list(allowed)
            ),
            PlanError::Overlap { cpu } => write!(
                f,
                "cores: CPU {cpu} is in both cores.server and cores.client; \
                 the server and the load generator must not share a core"
            ),
            PlanError::NoCpus => write!(f, "cores: no online CPU is in the allowed set"),
        }
    }
}

impl std::error::Error for PlanError {}

impl CorePlan {
    /// Resolves the profile's two specs against the machine's online and allowed CPUs.
    pub fn resolve(
        server: &CoreSpec,
        client: &CoreSpec,
        online: &[usize],
        allowed: &[usize],
    ) -> Result<CorePlan, PlanError> {
        let usable: Vec<usize> = online
            .iter()
            .copied()
            .filter(|c| allowed.contains(c))
            .collect();
        if usable.is_empty() {
            return Err(PlanError::NoCpus);
        }
        let explicit =
            |side: &'static str, spec: &CoreSpec| -> Result<Option<Vec<usize>>, PlanError> {
                match spec {
                    CoreSpec::Word(w) if w == "auto" => Ok(None),
                    CoreSpec::Word(w) => Err(PlanError::BadWord {
                        side,
                        word: w.clone(),
                    }),
                    CoreSpec::List(cpus) if cpus.is_empty() => Err(PlanError::Empty { side }),
                    CoreSpec::List(cpus) => {
                        for &cpu in cpus {
                            if !online.contains(&cpu) {
                                return Err(PlanError::NotOnline {
                                    side,
                                    cpu,
                                    online: online.to_vec(),
                                });
                            }
                            if !allowed.contains(&cpu) {
                                return Err(PlanError::NotAllowed {
                                    side,
                                    cpu,
                                    allowed: allowed.to_vec(),
                                });
                            }
                        }
                        Ok(Some(cpus.clone()))
                    }
                }
            };
        let server = explicit("server", server)?;
        let client = explicit("client", client)?;
        if usable.len() == 1 && server.is_none() && client.is_none() {
            return Ok(CorePlan {
                server: usable.clone(),
                client: usable.clone(),
                warning: Some(format!(
                    "only CPU {} is available: server and load generator share it, results are unpinned in effect",
                    usable[0]
                )),
            });
        }
        let half = usable.len().div_ceil(2);
        let (server, client) = match (server, client) {
            (Some(s), Some(c)) => (s, c),
            (Some(s), None) => {
                let rest: Vec<usize> = usable.iter().copied().filter(|c| !s.contains(c)).collect();
                (s, rest)
            }
            (None, Some(c)) => {
                let rest: Vec<usize> = usable.iter().copied().filter(|x| !c.contains(x)).collect();
                (rest, c)
            }
            (None, None) => (usable[..half].to_vec(), usable[half..].to_vec()),
        };
        if server.is_empty() {
            return Err(PlanError::Empty { side: "server" });
        }
        if client.is_empty() {
            return Err(PlanError::Empty { side: "client" });
        }
        if let Some(&cpu) = server.iter().find(|c| client.contains(c)) {
            return Err(PlanError::Overlap { cpu });
        }
        Ok(CorePlan {
            server,
            client,
            warning: None,
        })
    }

    /// Resolves against this machine (online CPUs from sysfs, allowed set from the kernel).
    pub fn for_this_machine(
        server: &CoreSpec,
        client: &CoreSpec,
    ) -> io::Result<Result<CorePlan, PlanError>> {
        Ok(CorePlan::resolve(
            server,
            client,
            &online_cpus()?,
            &crate::sys::cpu::allowed_cpus()?,
        ))
    }

    /// True when a second, distinct core exists for cross-core measurements.
    pub fn is_shared(&self) -> bool {
        self.warning.is_some()
    }
}

/// Pins the calling thread to `cpu` and checks with `sched_getcpu` that the kernel moved it
/// there. Errors name the CPU.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // One thread to one core: core_affinity's call (sets of cores go through sys::cpu).
    if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        // It reports only failure; name the machine's CPUs when that is the reason.
        let why = check_usable(&[cpu]).err().map_or_else(
            || "the kernel refused the affinity".to_owned(),
            |u| u.to_string(),
        );
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("pinning to CPU {cpu}: {why}"),
        ));
    }
    let now = crate::sys::cpu::current_cpu()?;
    if now != cpu {
        return Err(io::Error::other(format!(
            "pinned to CPU {cpu} but sched_getcpu reports CPU {now}: the kernel did not honour the pin"
        )));
    }
    Ok(())
}

/// Checks that every CPU of `cpus` is online and in this process's allowed set, so a bad
/// `--cores` is refused up front instead of as `EINVAL` from `sched_setaffinity`.
pub fn check_usable(cpus: &[usize]) -> io::Result<()> {
    let online = online_cpus()?;
    let allowed = crate::sys::cpu::allowed_cpus()?;
    match unusable_cpu(cpus, &online, &allowed) {
        Some(msg) => Err(io::Error::new(io::ErrorKind::InvalidInput, msg)),
        None => Ok(()),
    }
}

/// Why one of `cpus` cannot be used (`CPU 5 is not online; online: 0-1`), or `None`.
pub fn unusable_cpu(cpus: &[usize], online: &[usize], allowed: &[usize]) -> Option<String> {
    for &cpu in cpus {
        if !online.contains(&cpu) {
            return Some(format!(
                "CPU {cpu} is not online; online: {}",
                format_cpu_list(online)
            ));
        }
        if !allowed.contains(&cpu) {
            return Some(format!(
                "CPU {cpu} is not in this process's allowed CPU set; allowed: {}",
                format_cpu_list(allowed)
            ));
        }
    }
    None
}

/// Restricts the calling thread to a set of CPUs (no single-CPU check is possible).
pub fn pin_current_thread_to_set(cpus: &[usize]) -> io::Result<()> {
    crate::sys::cpu::set_current_affinity(cpus)
}

/// Online CPUs from `/sys/devices/system/cpu/online`.
pub fn online_cpus() -> io::Result<Vec<usize>> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online")?;
    parse_cpu_list(text.trim())
        .ok_or_else(|| io::Error::other(format!("cannot parse online CPU list {text:?}")))
}

/// Parses the kernel's CPU list format: `0-3,8,10-11`.
pub fn parse_cpu_list(text: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

/// Formats CPUs in the kernel's list format (`0-3,8`).
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        parts.push(if sorted[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", sorted[i])
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto() -> CoreSpec {
        CoreSpec::default()
    }

    #[test]
    fn auto_one_cpu_shares_cpu0_with_warning() {
        let plan = CorePlan::resolve(&auto(), &auto(), &[0], &[0]).unwrap();
        assert_eq!(plan.server, vec![0]);
        assert_eq!(plan.client, vec![0]);
        assert!(plan.warning.as_deref().unwrap().contains("share"));
    }

    #[test]
    fn auto_two_cpus_server_first() {
        let plan = CorePlan::resolve(&auto(), &auto(), &[0, 1], &[0, 1]).unwrap();
        assert_eq!(
            (plan.server, plan.client, plan.warning),
            (vec![0], vec![1], None)
        );
    }

    #[test]
    fn auto_eight_cpus_halves() {
        let all: Vec<usize> = (0..8).collect();
        let plan = CorePlan::resolve(&auto(), &auto(), &all, &all).unwrap();
        assert_eq!(plan.server, vec![0, 1, 2, 3]);
        assert_eq!(plan.client, vec![4, 5, 6, 7]);
    }

    /// `auto` on the machine classes the profiles target: every usable CPU used once, the
    /// sides apart (sharing, with a warning, only on one CPU), the server taking the larger
    /// half and the lower numbers, both halves contiguous.
    #[test]
    fn auto_plans_are_sensible_from_1_to_64_cpus() {
        for n in [1usize, 2, 3, 4, 16, 64] {
            let all: Vec<usize> = (0..n).collect();
            let plan = CorePlan::resolve(&auto(), &auto(), &all, &all).unwrap();
            if n == 1 {
                assert_eq!((&plan.server, &plan.client), (&vec![0], &vec![0]));
                assert!(plan.is_shared(), "1 CPU: {:?}", plan.warning);
                continue;
            }
            assert_eq!(plan.warning, None, "{n} CPUs");
            assert_eq!(plan.server.len(), n.div_ceil(2), "{n} CPUs: {plan:?}");
            assert_eq!(plan.client.len(), n / 2, "{n} CPUs: {plan:?}");
            let mut both: Vec<usize> = plan.server.iter().chain(&plan.client).copied().collect();
            both.sort_unstable();
            assert_eq!(both, all, "{n} CPUs: each used once");
            assert_eq!(plan.server, (0..n.div_ceil(2)).collect::<Vec<_>>());
        }
        // A taskset of one CPU on a big machine is the one-CPU case, on that CPU.
        let all: Vec<usize> = (0..64).collect();
        let plan = CorePlan::resolve(&auto(), &auto(), &all, &[37]).unwrap();
        assert!(plan.is_shared());
        assert_eq!((plan.server, plan.client), (vec![37], vec![37]));
    }

    #[test]
    fn auto_respects_allowed_set() {
        let all: Vec<usize> = (0..8).collect();
        let plan = CorePlan::resolve(&auto(), &auto(), &all, &[2, 3, 6, 7]).unwrap();
        assert_eq!((plan.server, plan.client), (vec![2, 3], vec![6, 7]));
    }

    #[test]
    fn explicit_lists_and_complement() {
        let all: Vec<usize> = (0..8).collect();
        let plan = CorePlan::resolve(
            &CoreSpec::List(vec![5]),
            &CoreSpec::List(vec![1, 2]),
            &all,
            &all,
        )
        .unwrap();
        assert_eq!((plan.server, plan.client), (vec![5], vec![1, 2]));
        let plan = CorePlan::resolve(&CoreSpec::List(vec![0, 1]), &auto(), &all, &all).unwrap();
        assert_eq!(plan.client, vec![2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn missing_core_is_named_with_online_list() {
        let err =
            CorePlan::resolve(&CoreSpec::List(vec![7]), &auto(), &[0, 1], &[0, 1]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("CPU 7") && msg.contains("online CPUs: 0-1"),
            "{msg}"
        );
    }

    #[test]
    fn overlap_and_bad_word_are_errors() {
        let all = [0, 1, 2, 3];
        let err = CorePlan::resolve(
            &CoreSpec::List(vec![1]),
            &CoreSpec::List(vec![1, 2]),
            &all,
            &all,
        )
        .unwrap_err();
        assert_eq!(err, PlanError::Overlap { cpu: 1 });
        let err =
            CorePlan::resolve(&CoreSpec::Word("all".into()), &auto(), &all, &all).unwrap_err();
        assert!(err.to_string().contains("\"all\""));
    }

    #[test]
    fn cpu_list_round_trip() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11").unwrap(),
            vec![0, 1, 2, 3, 8, 10, 11]
        );
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
        assert!(parse_cpu_list("3-1").is_none());
        assert!(parse_cpu_list("x").is_none());
    }

    #[test]
    fn unusable_cpu_names_the_cpu_and_the_machine() {
        assert_eq!(unusable_cpu(&[0, 1], &[0, 1], &[0, 1]), None);
        assert_eq!(
            unusable_cpu(&[5], &[0, 1], &[0, 1]).as_deref(),
            Some("CPU 5 is not online; online: 0-1")
        );
        assert_eq!(
            unusable_cpu(&[1], &[0, 1, 2, 3], &[0, 2, 3]).as_deref(),
            Some("CPU 1 is not in this process's allowed CPU set; allowed: 0,2-3")
        );
    }

    #[test]
    fn pin_is_verified() {
        let allowed = crate::sys::cpu::allowed_cpus().unwrap();
        let cpu = *allowed.last().unwrap();
        std::thread::spawn(move || {
            pin_current_thread(cpu).expect("pin to an allowed CPU");
            assert_eq!(crate::sys::cpu::current_cpu().unwrap(), cpu);
        })
        .join()
        .unwrap();
    }
}
