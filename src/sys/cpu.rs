//! CPU placement: which CPU the calling thread runs on, and pinning it; the CPU time the
//! process has used.

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::time::{clock_gettime, ClockId};
use nix::unistd::Pid;
use std::io;
use std::time::Duration;

/// CPU time (user + system) used so far by all threads of this process, live and exited
/// (`CLOCK_PROCESS_CPUTIME_ID`); not that of child processes. Time the hypervisor stole from
/// the vCPU is not in it on a kernel with `CONFIG_PARAVIRT_TIME_ACCOUNTING`.
pub fn process_cpu_time() -> Duration {
    let t = clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .expect("CLOCK_PROCESS_CPUTIME_ID exists on every Linux");
    Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32)
}

/// The CPU the calling thread is running on right now (`sched_getcpu`).
pub fn current_cpu() -> io::Result<usize> {
    Ok(nix::sched::sched_getcpu()?)
}

/// The CPUs the calling thread may run on (`sched_getaffinity`), ascending.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    let set = sched_getaffinity(Pid::from_raw(0))?;
    Ok((0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .collect())
}

/// Restricts the calling thread to exactly `cpu`.
pub fn set_current_affinity(cpus: &[usize]) -> io::Result<()> {
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu)?;
    }
    Ok(sched_setaffinity(Pid::from_raw(0), &set)?)
}
