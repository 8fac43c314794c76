//! Creating work: a thread vs a process.
//!
//! ```text
//!   bench thread (pinned to the first server core)
//!     |-- spawn -----> [thread: empty closure] --> join      thread_spawn_join
//!     |-- fork ------> [child: _exit(0)]        --> waitpid   fork_exit_wait
//! ```
//!
//! Metric: wall time of one create + complete + reap; one iteration = one unit.
//! Not measured: the work a real child does (page faults of its own), exec (see
//! `fork_exec_wait`), or scheduling on other cores (the children run wherever the kernel puts
//! them; they inherit the bench thread's pin, so on the same core).

use super::Outcome;
use std::io;
use std::time::Instant;

/// Ways of creating one unit of work; `name()` is the bench function ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    ThreadSpawnJoin,
    ForkExitWait,
}

impl Creation {
    pub const ALL: [Creation; 2] = [Creation::ThreadSpawnJoin, Creation::ForkExitWait];

    pub fn name(self) -> &'static str {
        match self {
            Creation::ThreadSpawnJoin => "thread_spawn_join",
            Creation::ForkExitWait => "fork_exit_wait",
        }
    }

    /// Creates, completes and reaps `iters` units; returns the time and the count reaped.
    pub fn run(self, iters: u64) -> io::Result<Outcome> {
        match self {
            Creation::ThreadSpawnJoin => thread_spawn_join(iters),
            Creation::ForkExitWait => fork_exit_wait(iters),
        }
    }
}

/// `std::thread::spawn` of an empty closure, then `join`, `iters` times.
pub fn thread_spawn_join(iters: u64) -> io::Result<Outcome> {
    let mut completed = 0;
    let start = Instant::now();
    for _ in 0..iters {
        std::thread::Builder::new()
            .spawn(|| {})?
            .join()
            .map_err(|_| io::Error::other("thread panicked"))?;
        completed += 1;
    }
    Ok(Outcome {
        elapsed: start.elapsed(),
        completed,
    })
}

/// fork; the child `_exit(0)`s at once; the parent reaps it with waitpid. `iters` times.
pub fn fork_exit_wait(iters: u64) -> io::Result<Outcome> {
    let mut completed = 0;
    let start = Instant::now();
    for _ in 0..iters {
        crate::sys::process::fork_exit_wait()?;
        completed += 1;
    }
    Ok(Outcome {
        elapsed: start.elapsed(),
        completed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_creation_reaps_what_it_was_asked_for() {
        let before = crate::procfs::children(std::process::id() as i32).unwrap();
        for c in Creation::ALL {
            let outcome = c.run(5).unwrap();
            assert_eq!(outcome.completed, 5, "{}", c.name());
        }
        // fork_exit_wait reaps each child: none left, in particular no zombie.
        let after = crate::procfs::children(std::process::id() as i32).unwrap();
        assert!(
            after.iter().all(|p| before.contains(p)),
            "left children: {after:?}"
        );
    }
}
