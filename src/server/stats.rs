//! Process-tree statistics of a running server: given its pid, sums over the process and all
//! its descendants (and all their threads) CPU user/system time, RSS, PSS and context
//! switches. The server benches sample it before and after a measurement and divide the
//! difference by the requests served.
//!
//! CPU time comes from `/proc/<pid>/stat` (whole thread group, exited threads included) plus
//! `cutime`/`cstime` (children already reaped, e.g. `mp_fork`'s), in clock ticks (usually
//! 10 ms: sample over seconds, not milliseconds). Context switches are summed over the live
//! threads' `/proc/<pid>/task/<tid>/status` (threads that exited are not counted).

use crate::procfs::descendants;
use std::io;

/// Sums over a process tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeStats {
    pub processes: u64,
    pub threads: u64,
    pub user_us: u64,
    pub system_us: u64,
    pub rss_bytes: u64,
    pub pss_bytes: u64,
    pub voluntary_cs: u64,
    pub involuntary_cs: u64,
}

impl TreeStats {
    /// CPU time (user + system) in µs.
    pub fn cpu_us(&self) -> u64 {
        self.user_us + self.system_us
    }
}

fn ticks_us() -> u64 {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100)
        .max(1) as u64;
    1_000_000 / hz
}

fn kb_field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Adds one process; Err when it vanished meanwhile (skipped by the caller).
fn add_process(pid: i32, t: &mut TreeStats, tick: u64) -> io::Result<()> {
    let f = crate::procfs::stat_fields(pid)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no /proc/{pid}/stat")))?;
    // After the comm: field 3 (state) is index 0, so field N is index N-3.
    let get = |n: usize| f.get(n - 3).and_then(|v| v.parse().ok()).unwrap_or(0u64);
    t.user_us += (get(14) + get(16)) * tick;
    t.system_us += (get(15) + get(17)) * tick;
    t.processes += 1;
    if let Ok(sm) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
        t.rss_bytes += kb_field(&sm, "Rss:") * 1024;
        t.pss_bytes += kb_field(&sm, "Pss:") * 1024;
    }
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))?.flatten() {
        if let Ok(st) = std::fs::read_to_string(task.path().join("status")) {
            t.threads += 1;
            t.voluntary_cs += kb_field(&st, "voluntary_ctxt_switches:");
            t.involuntary_cs += kb_field(&st, "nonvoluntary_ctxt_switches:");
        }
    }
    Ok(())
}

/// Statistics of `pid` and all its descendants.
pub fn tree_stats(pid: i32) -> io::Result<TreeStats> {
    let tick = ticks_us();
    let mut t = TreeStats::default();
    add_process(pid, &mut t, tick)?;
    for p in descendants(pid) {
        let _ = add_process(p, &mut t, tick);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_threads_memory_and_cpu() {
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let t = tree_stats(std::process::id() as i32).expect("reading own stats");
        // Other unit tests of this binary may have a forked child alive at this moment.
        assert!(t.processes >= 1);
        assert!(t.threads >= 1);
        assert!(t.rss_bytes > 0 && t.pss_bytes > 0);
        assert!(t.voluntary_cs + t.involuntary_cs > 0);
    }
}
