//! Side metrics of a server under load, summed over its process tree (the server process,
//! every descendant, every thread): CPU user/sys time, RSS, PSS, voluntary and involuntary
//! context switches. Read from `/proc`; a process that exits between two reads is skipped.
//!
//! (The servers issue's `server::stats` computes the same; the integrator may keep one.)

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A snapshot of a process tree's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TreeStats {
    pub processes: u64,
    pub cpu_user: Duration,
    pub cpu_sys: Duration,
    pub rss_bytes: u64,
    pub pss_bytes: u64,
    pub voluntary_ctx: u64,
    pub involuntary_ctx: u64,
}

fn clock_ticks() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100, |v| v as u64)
}

/// `/proc/<pid>/status` field in kB (or a plain count), summed.
fn status_field(text: &str, key: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l[key.len()..].split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

impl TreeStats {
    /// Counters of `pid` and all its descendants now.
    pub fn of_tree(pid: i32) -> TreeStats {
        let mut s = TreeStats::default();
        let tick = clock_ticks();
        let mut pids = vec![pid];
        pids.extend(crate::procfs::descendants(pid));
        for p in pids {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            // After the command: state(0) ... utime(11) stime(12) (fields 14 and 15 of stat).
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let to_d = |t: u64| Duration::from_nanos(t * 1_000_000_000 / tick);
            s.cpu_user += to_d(ticks(11));
            s.cpu_sys += to_d(ticks(12));
            s.processes += 1;
            if let Ok(st) = std::fs::read_to_string(format!("/proc/{p}/status")) {
                s.rss_bytes += status_field(&st, "VmRSS:") * 1024;
            }
            if let Ok(r) = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")) {
                s.pss_bytes += status_field(&r, "Pss:") * 1024;
            }
            // Context switches are per thread: the process's status shows only its main thread.
            if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
                for t in tasks.flatten() {
                    if let Ok(st) = std::fs::read_to_string(t.path().join("status")) {
                        s.voluntary_ctx += status_field(&st, "voluntary_ctxt_switches:");
                        s.involuntary_ctx += status_field(&st, "nonvoluntary_ctxt_switches:");
                    }
                }
            }
        }
        s
    }

    /// Counter growth from `before` to `self` (memory: the later snapshot's value).
    pub fn since(&self, before: &TreeStats) -> TreeStats {
        TreeStats {
            processes: self.processes,
            cpu_user: self.cpu_user.saturating_sub(before.cpu_user),
            cpu_sys: self.cpu_sys.saturating_sub(before.cpu_sys),
            rss_bytes: self.rss_bytes,
            pss_bytes: self.pss_bytes,
            voluntary_ctx: self.voluntary_ctx.saturating_sub(before.voluntary_ctx),
            involuntary_ctx: self.involuntary_ctx.saturating_sub(before.involuntary_ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_memory_and_switches() {
        let me = std::process::id() as i32;
        let a = TreeStats::of_tree(me);
        std::thread::sleep(Duration::from_millis(5));
        let b = TreeStats::of_tree(me);
        assert!(a.processes >= 1 && a.rss_bytes > 0 && a.pss_bytes > 0);
        assert!(
            b.since(&a).voluntary_ctx >= 1,
            "sleeping switches voluntarily"
        );
    }
}
