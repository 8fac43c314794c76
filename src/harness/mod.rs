//! What every bench binary does around criterion: choose the profile, raise the descriptor
//! limit, resolve and record the core plan (`env.json`), configure each group's timing from the
//! profile, and finish. Bench files stay thin:
//!
//! ```no_run
//! let suite = threadbench::harness::Suite::start();
//! let mut c = suite.criterion();
//! let mut group = suite.group(&mut c, "spawn");
//! // group.bench_function(...)
//! group.finish();
//! suite.finish(c);
//! ```

use crate::pin::CorePlan;
use crate::profile::Profile;
use crate::report::env::MachineInfo;
use crate::sys::limits::NofileLimit;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};

/// The context of one bench binary's run.
pub struct Suite {
    pub profile: Profile,
    pub plan: CorePlan,
    pub nofile: Option<NofileLimit>,
    /// Criterion's test mode (`cargo test`): every benchmark runs once, unmeasured.
    pub test_mode: bool,
}

/// Criterion's own rule: benchmark mode needs `--bench` (cargo bench passes it) and no `--test`.
pub fn is_test_mode(args: &[String]) -> bool {
    let has = |flag: &str| args.iter().any(|a| a == flag);
    !has("--bench") || has("--test")
}

/// Prints `threadbench: error: <msg>` and exits with status 2 (no panic backtrace).
pub fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("threadbench: error: {msg}");
    std::process::exit(2)
}

impl Suite {
    /// Loads the profile and plan, raises RLIMIT_NOFILE, writes `env.json`. A bad profile
    /// or a missing core ends the process with a clear message and exit status 2.
    pub fn start() -> Suite {
        let args: Vec<String> = std::env::args().collect();
        let test_mode = is_test_mode(&args);
        let profile = Profile::from_env(test_mode).unwrap_or_else(|e| fail(e));
        let plan = profile.core_plan().unwrap_or_else(|e| fail(e));
        let nofile = match crate::sys::limits::raise_nofile() {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("threadbench: warning: cannot raise RLIMIT_NOFILE: {e}");
                None
            }
        };
        let info = MachineInfo::collect(&profile, &plan, nofile);
        if let Err(e) = info.write() {
            fail(format!("writing env.json: {e}"));
        }
        if let Some(w) = &plan.warning {
            eprintln!("threadbench: warning: {w}");
        }
        if let Some(l) = nofile {
            eprintln!(
                "threadbench: profile {} | server cores {:?} client cores {:?} | RLIMIT_NOFILE {}",
                profile.name, plan.server, plan.client, l.soft
            );
        }
        Suite {
            profile,
            plan,
            nofile,
            test_mode,
        }
    }

    /// Criterion with the profile's defaults; command-line flags still apply.
    pub fn criterion(&self) -> Criterion {
        let t = self.profile.defaults;
        let c = Criterion::default()
            .warm_up_time(t.warm_up)
            .measurement_time(t.measurement)
            .sample_size(t.sample_size)
            .noise_threshold(t.noise_threshold)
            .nresamples(t.nresamples);
        let c = if self.profile.plots {
            c
        } else {
            c.without_plots()
        };
        c.configure_from_args()
    }

    /// A benchmark group with the profile's timing for `name`.
    pub fn group<'a>(&self, c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
        let t = self.profile.timing(name);
        let mut group = c.benchmark_group(name);
        group
            .warm_up_time(t.warm_up)
            .measurement_time(t.measurement)
            .sample_size(t.sample_size)
            .noise_threshold(t.noise_threshold)
            .nresamples(t.nresamples);
        group
    }

    /// The profile's sweep for `group`.
    pub fn sweep(&self, group: &str) -> Vec<u64> {
        self.profile.sweep(group)
    }

    /// The first server core: where single-threaded building blocks run.
    pub fn bench_core(&self) -> usize {
        self.plan.server[0]
    }

    /// Pins the calling (bench) thread to the first server core, or ends the run with a clear
    /// error when the kernel does not honour it.
    pub fn pin_to_bench_core(&self) {
        crate::pin::pin_current_thread(self.bench_core()).unwrap_or_else(|e| fail(e));
    }

    /// Ends the run: criterion's summary.
    pub fn finish(self, c: Criterion) {
        c.final_summary();
        crate::report::html::regenerate_or_warn();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_mode_follows_criterion() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_test_mode(&v(&["bin"])));
        assert!(!is_test_mode(&v(&["bin", "--bench"])));
        assert!(is_test_mode(&v(&["bin", "--bench", "--test"])));
    }
}
