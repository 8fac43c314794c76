//! What every bench binary does around criterion: read the command line as criterion will
//! ([`args`]: is anything measured, which ids does the filter select), choose the profile,
//! raise the descriptor limit, resolve the core plan, configure each group's timing from the
//! profile, record what was measured with its provenance ([`crate::report::results`]), and
//! finish. Bench files stay thin:
//!
//! ```no_run
//! let suite = threadbench::harness::Suite::start();
//! let mut c = suite.criterion();
//! let mut group = suite.group(&mut c, threadbench::ids::Group::Spawn);
//! // group.bench_function(...)
//! group.finish();
//! suite.finish(c);
//! ```

pub mod args;
pub mod clock;

use crate::ids::Group;
use crate::pin::CorePlan;
use crate::profile::Profile;
use crate::report::env::MachineInfo;
use crate::report::results::{self, Artefact, Keyed, Paths, Provenance};
use crate::sys::limits::NofileLimit;
use args::{Mode, RunArgs};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The context of one bench binary's run.
pub struct Suite {
    pub profile: Profile,
    pub plan: CorePlan,
    pub nofile: Option<NofileLimit>,
    /// Criterion's test mode (`cargo test`): every benchmark runs once, unmeasured.
    pub test_mode: bool,
    pub args: RunArgs,
    pub paths: Paths,
    /// This run's provenance, stamped on everything it writes.
    pub run: Provenance,
    started: SystemTime,
    /// Injected slowdowns by benchmark id ([`clock::INJECT_ENV`]).
    slowdowns: BTreeMap<String, f64>,
    groups: RefCell<Vec<String>>,
    wrote: Cell<bool>,
}

/// Prints `threadbench: error: <msg>` and exits with status 2 (no panic backtrace).
pub fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("threadbench: error: {msg}");
    std::process::exit(2)
}

impl Suite {
    /// Reads the command line as criterion will, loads the profile and plan, raises
    /// RLIMIT_NOFILE. Writes nothing: artefacts are written by [`Suite::save`] and
    /// [`Suite::finish`], and only for what this run measured. A bad profile, a bad filter or
    /// a missing core ends the process with a clear message and exit status 2.
    pub fn start() -> Suite {
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let args = RunArgs::parse(&argv).unwrap_or_else(|e| fail(e));
        let test_mode = args.mode == Mode::Test;
        let profile = Profile::from_env(test_mode).unwrap_or_else(|e| fail(e));
        profile
            .check_models(&crate::reference::Lane::names())
            .unwrap_or_else(|e| fail(e));
        let plan = profile.core_plan().unwrap_or_else(|e| fail(e));
        let nofile = match crate::sys::limits::raise_nofile() {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("threadbench: warning: cannot raise RLIMIT_NOFILE: {e}");
                None
            }
        };
        if let Some(w) = &plan.warning {
            eprintln!("threadbench: warning: {w}");
        }
        if args.mode == Mode::Benchmark {
            if let Some(l) = nofile {
                eprintln!(
                    "threadbench: profile {} | server cores {:?} client cores {:?} | RLIMIT_NOFILE {}",
                    profile.name, plan.server, plan.client, l.soft
                );
            }
        }
        let slowdowns = match std::env::var(clock::INJECT_ENV) {
            Ok(text) => clock::parse_slowdowns(&text).unwrap_or_else(|e| fail(e)),
            Err(_) => BTreeMap::new(),
        };
        if args.mode == Mode::Benchmark {
            for (id, frac) in &slowdowns {
                eprintln!(
                    "threadbench: warning: {}: {id} is made {:.0} % slower on purpose",
                    clock::INJECT_ENV,
                    frac * 100.0
                );
            }
        }
        let run = Provenance::now(&profile.name);
        Suite {
            profile,
            plan,
            nofile,
            test_mode,
            args,
            paths: Paths::from_env(),
            run,
            started: SystemTime::now(),
            slowdowns,
            groups: RefCell::new(Vec::new()),
            wrote: Cell::new(false),
        }
    }

    /// Criterion with the profile's defaults, writing where the results layer reads;
    /// command-line flags still apply.
    pub fn criterion(&self) -> Criterion {
        let t = self.profile.defaults;
        let c = Criterion::default()
            .output_directory(&self.paths.criterion)
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

    /// A benchmark group with the profile's timing for `g`.
    pub fn group<'a>(&self, c: &'a mut Criterion, g: Group) -> BenchmarkGroup<'a, WallTime> {
        self.groups.borrow_mut().push(g.name().to_owned());
        let t = self.profile.timing(g.name());
        let mut group = c.benchmark_group(g.name());
        group
            .warm_up_time(t.warm_up)
            .measurement_time(t.measurement)
            .sample_size(t.sample_size)
            .noise_threshold(t.noise_threshold)
            .nresamples(t.nresamples);
        group
    }

    /// How benchmark `id` of `group` times its samples: the group's clock
    /// (`[groups.<g>] measurement`) and any injected slowdown. Wrap each `iter_custom` routine:
    /// `b.iter_custom(|iters| timer.time(|| work(iters)))`.
    pub fn timer(&self, group: Group, id: &str) -> clock::Timer {
        clock::Timer {
            clock: self.profile.clock(group),
            slowdown: self.slowdowns.get(id).copied().unwrap_or(0.0),
        }
    }

    /// The profile's sweep for `group`.
    pub fn sweep(&self, group: Group) -> Vec<u64> {
        self.profile.sweep(group)
    }

    /// Whether criterion will run benchmark `id` (`group/function[/param]`) at all: measured,
    /// or once in test mode. Not under `--list`/`--help`, nor when a filter excludes it.
    pub fn runs(&self, id: &str) -> bool {
        self.args.runs(id)
    }

    /// Whether benchmark `id` is measured in this run (benchmark mode, selected by the filter).
    pub fn measures(&self, id: &str) -> bool {
        self.args.measures(id)
    }

    /// `--list`: criterion prints the ids of the benchmarks a bench registers and runs none, so
    /// a bench registers them without starting anything.
    pub fn listing(&self) -> bool {
        self.args.mode == Mode::List
    }

    /// Whether this run measures anything at all.
    pub fn measuring(&self) -> bool {
        self.args.mode == Mode::Benchmark
    }

    /// The median (ns) criterion wrote for `id` in this run, if it measured it.
    pub fn median_ns(&self, id: &str) -> Option<f64> {
        let dir = id
            .split('/')
            .fold(self.paths.criterion.clone(), |d, part| d.join(part));
        results::read_criterion_new(&dir, self.started)
            .filter(|r| r.id == id)
            .map(|r| r.median_ns)
    }

    /// Merges `records` this run measured into artefact `file` (under `target/threadbench/`),
    /// stamped with this run's provenance. Outside benchmark mode, and for no records, it
    /// writes nothing.
    pub fn save<T: Keyed + Serialize + DeserializeOwned + Clone>(
        &self,
        file: &str,
        records: Vec<T>,
    ) {
        if !self.measuring() || records.is_empty() {
            return;
        }
        let path = self.paths.file(file);
        if let Err(e) = Artefact::merge_into(&path, &self.run, records) {
            fail(format!("writing {}: {e}", path.display()));
        }
        self.wrote.set(true);
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

    /// Ends the run: criterion's summary; then, if this run measured anything, the medians
    /// criterion wrote for this binary's groups go into `criterion.json`, the machine and
    /// provenance into `env.json`, and the report is regenerated. A run that measured nothing
    /// leaves every file under `target/threadbench/` as it was.
    pub fn finish(self, c: Criterion) {
        c.final_summary();
        if self.measuring() {
            let groups = self.groups.borrow().clone();
            let measured: Vec<_> =
                results::criterion_written_since(&self.paths.criterion, &groups, self.started)
                    .into_iter()
                    .filter(|r| self.measures(&r.id))
                    .collect();
            self.save(results::CRITERION_JSON, measured);
        }
        if !self.wrote.get() {
            if self.args.mode != Mode::List && self.args.mode != Mode::Help {
                eprintln!(
                    "threadbench: nothing measured in this run ({}): no file under {} was written",
                    match self.args.mode {
                        Mode::Test => "test mode",
                        Mode::Profile => "--profile-time",
                        _ => "the filter selected no benchmark of this target",
                    },
                    self.paths.out.display()
                );
            }
            return;
        }
        let mut info = MachineInfo::collect(&self.profile, &self.plan, self.nofile);
        info.run = Some(self.run.clone());
        if let Err(e) = info.write(&self.paths) {
            fail(format!(
                "writing {}: {e}",
                self.paths.file(results::ENV_JSON).display()
            ));
        }
        crate::report::html::regenerate_or_warn(&self.paths);
    }
}
