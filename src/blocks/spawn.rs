//! Creating work: a thread vs a process vs reusing what already runs.
//!
//! ```text
//!   bench thread (pinned to the first server core; children and threads inherit the pin)
//!     |-- spawn --------> [thread: empty closure] --> join        thread_spawn_join
//!     |-- pthread_create  [thread: empty fn]      --> join        pthread_create_join
//!     |-- fork ---------> [child: _exit(0)]        --> waitpid     fork_exit_wait
//!     |-- fork ---------> [child: execve /bin/true] -> waitpid     fork_exec_wait
//!     |-- posix_spawn --> [/bin/true]              --> waitpid     posix_spawn_wait
//!     |-- Command::status() of /bin/true                           command_spawn_wait
//!     |-- clone(VM|VFORK) [child: _exit(0)]        --> waitpid     vfork_exit_wait
//!     `-- channel ------> [running worker: no-op] --> reply        pool_dispatch
//! ```
//!
//! Metric: wall time of one create + complete + reap; one iteration = one unit.
//! `spawn_rss/<function>/<MiB>` repeats fork / posix_spawn / vfork while the parent holds N MiB
//! of touched memory: fork copies the page tables of all of it (cost grows with N, "A fork() in
//! the road", HotOS 2019); posix_spawn and vfork share the parent's memory until exec/exit and
//! stay flat.
//!
//! Not measured: the work a real child does (its own page faults after fork), the dynamic
//! loading of a real program beyond `/bin/true`, or scheduling on other cores.

use super::Outcome;
use crate::sys::process::fork_exit_wait as fork_exit_wait_once;
use crate::sys::spawn::{vfork_exit_wait, CloneStack, ExecImage};
use crossbeam_channel::{Receiver, Sender};
use std::io;
use std::time::{Duration, Instant};

/// The program the exec variants run.
pub const TRUE_PATH: &str = "/bin/true";

/// Ways of creating one unit of work; `name()` is the bench function ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    ThreadSpawnJoin,
    PthreadCreateJoin,
    ForkExitWait,
    ForkExecWait,
    PosixSpawnWait,
    CommandSpawnWait,
    VforkExitWait,
    PoolDispatch,
}

impl Creation {
    /// Group `spawn`.
    pub const ALL: [Creation; 8] = [
        Creation::ThreadSpawnJoin,
        Creation::PthreadCreateJoin,
        Creation::ForkExitWait,
        Creation::ForkExecWait,
        Creation::PosixSpawnWait,
        Creation::CommandSpawnWait,
        Creation::VforkExitWait,
        Creation::PoolDispatch,
    ];

    /// Group `spawn_rss`: the ones whose cost may depend on the parent's memory.
    pub const RSS: [Creation; 3] = [
        Creation::ForkExitWait,
        Creation::PosixSpawnWait,
        Creation::VforkExitWait,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Creation::ThreadSpawnJoin => "thread_spawn_join",
            Creation::PthreadCreateJoin => "pthread_create_join",
            Creation::ForkExitWait => "fork_exit_wait",
            Creation::ForkExecWait => "fork_exec_wait",
            Creation::PosixSpawnWait => "posix_spawn_wait",
            Creation::CommandSpawnWait => "command_spawn_wait",
            Creation::VforkExitWait => "vfork_exit_wait",
            Creation::PoolDispatch => "pool_dispatch",
        }
    }

    /// Creates, completes and reaps `iters` units with a fresh [`Spawner`] (set-up untimed).
    pub fn run(self, iters: u64) -> io::Result<Outcome> {
        Spawner::new(self).run(iters)
    }
}

/// One creation method with its reusable state (exec image, clone stack, running worker),
/// prepared lazily on the first run and outside the timing.
pub struct Spawner {
    creation: Creation,
    image: Option<ExecImage>,
    stack: Option<CloneStack>,
    pool: Option<Worker>,
}

impl Spawner {
    pub fn new(creation: Creation) -> Spawner {
        Spawner {
            creation,
            image: None,
            stack: None,
            pool: None,
        }
    }

    /// Creates, completes and reaps `iters` units; returns the time and the count reaped.
    pub fn run(&mut self, iters: u64) -> io::Result<Outcome> {
        // Outside the timing: criterion's leftover heap would inflate every fork (page tables).
        crate::sys::spawn::release_free_heap();
        match self.creation {
            Creation::ThreadSpawnJoin => timed(iters, || {
                std::thread::Builder::new()
                    .spawn(|| {})?
                    .join()
                    .map_err(|_| io::Error::other("thread panicked"))
            }),
            Creation::PthreadCreateJoin => timed(iters, crate::sys::spawn::pthread_create_join),
            Creation::ForkExitWait => timed(iters, fork_exit_wait_once),
            Creation::ForkExecWait | Creation::PosixSpawnWait => {
                if self.image.is_none() {
                    self.image = Some(ExecImage::new(TRUE_PATH, &[])?);
                }
                let image = self.image.as_ref().expect("image prepared above");
                if self.creation == Creation::ForkExecWait {
                    timed(iters, || image.fork_exec_wait())
                } else {
                    timed(iters, || image.posix_spawn_wait())
                }
            }
            Creation::CommandSpawnWait => {
                let mut cmd = std::process::Command::new(TRUE_PATH);
                timed(iters, || {
                    let status = cmd.status()?;
                    if status.success() {
                        Ok(())
                    } else {
                        Err(io::Error::other(format!("{TRUE_PATH} ended with {status}")))
                    }
                })
            }
            Creation::VforkExitWait => {
                let stack = self.stack.get_or_insert_with(CloneStack::default);
                timed(iters, || vfork_exit_wait(stack))
            }
            Creation::PoolDispatch => {
                if self.pool.is_none() {
                    self.pool = Some(Worker::start()?);
                }
                self.pool
                    .as_mut()
                    .expect("worker started above")
                    .dispatch(iters)
            }
        }
    }
}

/// Runs `unit` `iters` times, stopping at the first error.
fn timed(iters: u64, mut unit: impl FnMut() -> io::Result<()>) -> io::Result<Outcome> {
    let mut completed = 0;
    let start = Instant::now();
    for _ in 0..iters {
        unit()?;
        completed += 1;
    }
    Ok(Outcome {
        elapsed: start.elapsed(),
        completed,
    })
}

/// `fork_exit_wait`, `iters` times (kept as a plain function for callers of the Foundation).
pub fn fork_exit_wait(iters: u64) -> io::Result<Outcome> {
    Creation::ForkExitWait.run(iters)
}

/// `thread_spawn_join`, `iters` times.
pub fn thread_spawn_join(iters: u64) -> io::Result<Outcome> {
    Creation::ThreadSpawnJoin.run(iters)
}

type Job = Box<dyn FnOnce() + Send>;

/// One already-running worker thread: the "reuse, don't create" baseline of thread pools and
/// pre-forked servers. A job goes over a channel; the worker runs it and replies with how many
/// jobs it has run, which the dispatcher checks (a lost or doubled job fails the run).
pub struct Worker {
    jobs: Option<Sender<Job>>,
    done: Receiver<u64>,
    dispatched: u64,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How long a dispatch waits for the worker before calling it dead.
const WORKER_TIMEOUT: Duration = Duration::from_secs(10);

impl Worker {
    /// Starts the worker thread (it inherits the caller's CPU affinity).
    pub fn start() -> io::Result<Worker> {
        let (jobs_tx, jobs_rx) = crossbeam_channel::bounded::<Job>(1);
        let (done_tx, done_rx) = crossbeam_channel::bounded::<u64>(1);
        let thread = std::thread::Builder::new()
            .name("pool-worker".into())
            .spawn(move || {
                let mut ran = 0u64;
                for job in jobs_rx {
                    job();
                    ran += 1;
                    if done_tx.send(ran).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Worker {
            jobs: Some(jobs_tx),
            done: done_rx,
            dispatched: 0,
            thread: Some(thread),
        })
    }

    /// Hands `iters` no-op jobs to the worker, one at a time, waiting for each to complete.
    pub fn dispatch(&mut self, iters: u64) -> io::Result<Outcome> {
        let jobs = self.jobs.as_ref().expect("sender lives until drop");
        let mut completed = 0;
        let start = Instant::now();
        for _ in 0..iters {
            // A zero-sized closure: boxing it does not allocate.
            jobs.send(Box::new(|| {}))
                .map_err(|_| io::Error::other("pool worker is gone"))?;
            self.dispatched += 1;
            let ran = self
                .done
                .recv_timeout(WORKER_TIMEOUT)
                .map_err(|e| io::Error::other(format!("pool worker did not reply: {e}")))?;
            if ran != self.dispatched {
                return Err(io::Error::other(format!(
                    "pool worker ran {ran} jobs, {} were dispatched",
                    self.dispatched
                )));
            }
            completed += 1;
        }
        Ok(Outcome {
            elapsed: start.elapsed(),
            completed,
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the channel ends the worker's loop.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `MemAvailable` from `/proc/meminfo`, in MiB.
pub fn mem_available_mib() -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/meminfo")?;
    text.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|kib| kib / 1024)
        .ok_or_else(|| io::Error::other("no MemAvailable in /proc/meminfo"))
}

/// Memory the parent holds (and has touched) while `spawn_rss` forks.
pub struct HeldMemory {
    bytes: Vec<u8>,
}

impl HeldMemory {
    /// Allocates and touches `mib` MiB, or says why not: a size above half of `MemAvailable`
    /// is refused (the machine is shared; fork itself needs room for page tables).
    pub fn touch(mib: u64) -> Result<HeldMemory, String> {
        let available = mem_available_mib().map_err(|e| format!("cannot read memory: {e}"))?;
        if mib > available / 2 {
            return Err(format!(
                "skipping {mib} MiB: more than half of the {available} MiB available"
            ));
        }
        let len = usize::try_from(mib << 20).map_err(|_| format!("{mib} MiB does not fit"))?;
        // vec![1; n] writes every byte (unlike vec![0; n], which maps untouched zero pages).
        Ok(HeldMemory {
            bytes: vec![1u8; len],
        })
    }

    pub fn mib(&self) -> u64 {
        (self.bytes.len() >> 20) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_creation_completes_what_it_was_asked_for() {
        for c in Creation::ALL {
            let outcome = c.run(5).unwrap();
            assert_eq!(outcome.completed, 5, "{}", c.name());
        }
    }

    #[test]
    fn spawner_reuses_its_worker() {
        let mut s = Spawner::new(Creation::PoolDispatch);
        assert_eq!(s.run(3).unwrap().completed, 3);
        assert_eq!(s.run(4).unwrap().completed, 4);
        assert_eq!(s.pool.as_ref().unwrap().dispatched, 7);
    }

    #[test]
    fn held_memory_is_refused_beyond_available() {
        let held = HeldMemory::touch(1).unwrap();
        assert_eq!(held.mib(), 1);
        let err = HeldMemory::touch(u64::MAX >> 21).err().unwrap();
        assert!(err.contains("skipping"), "{err}");
    }
}
