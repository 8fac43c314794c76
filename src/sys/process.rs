//! Child processes that cannot outlive the suite.
//!
//! [`ChildGuard`] owns a child process and, on drop (also while the owner unwinds from a panic),
//! sends SIGKILL to the child's whole process group and reaps it, so no process or zombie
//! survives a run. Every guarded child is started in a process group of its own and asks the
//! kernel for SIGKILL when its parent dies (`PR_SET_PDEATHSIG`), which covers a bench that is
//! killed outright and never runs its destructors.
//!
//! Caveat of `PR_SET_PDEATHSIG`: "parent" means the *thread* that forked. Start long-lived
//! children from a thread that lives as long as they should (the bench's main thread).

use nix::errno::Errno;
use nix::sched::{sched_setaffinity, CpuSet};
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{getpid, getppid, setpgid, ForkResult, Pid};
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A child process that is killed (with its process group) and reaped when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    pid: Pid,
    /// Present when started from a `Command`: keeps the child's stdio handles.
    child: Option<Child>,
    reaped: Option<WaitStatus>,
}

/// In the child, between fork and exec/work: own process group, die with the parent.
/// Only async-signal-safe calls (setpgid, prctl, getppid).
fn child_setup(parent: Pid) -> io::Result<()> {
    setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    // The parent may have died before prctl took effect: then nobody would ever kill us.
    if getppid() != parent {
        return Err(io::Error::other("parent exited during child start-up"));
    }
    Ok(())
}

impl ChildGuard {
    /// Spawns `cmd` as a guarded child (own process group, SIGKILL on parent death).
    pub fn spawn(cmd: &mut Command) -> io::Result<ChildGuard> {
        let parent = getpid();
        // SAFETY: the closure runs between fork and exec in the child and only makes
        // async-signal-safe system calls; it allocates nothing and takes no locks.
        unsafe {
            cmd.pre_exec(move || child_setup(parent));
        }
        ChildGuard::from_child(cmd.spawn()?)
    }

    /// [`ChildGuard::spawn`] with the child's CPU affinity set to `cores` before `exec`, so
    /// the program and every process or thread it creates run on those cores only (an empty
    /// list: unpinned). For programs that cannot pin themselves (the reference servers).
    pub fn spawn_pinned(cmd: &mut Command, cores: &[usize]) -> io::Result<ChildGuard> {
        if cores.is_empty() {
            return ChildGuard::spawn(cmd);
        }
        // Built before the fork: the child only hands it to the kernel.
        let mut set = CpuSet::new();
        for &c in cores {
            set.set(c)?;
        }
        let parent = getpid();
        // SAFETY: the closure runs between fork and exec in the child and only makes
        // async-signal-safe system calls (setpgid, prctl, getppid, sched_setaffinity) on data
        // prepared before the fork; it allocates nothing and takes no locks.
        unsafe {
            cmd.pre_exec(move || {
                child_setup(parent)?;
                sched_setaffinity(Pid::from_raw(0), &set)?;
                Ok(())
            });
        }
        ChildGuard::from_child(cmd.spawn()?)
    }

    fn from_child(child: Child) -> io::Result<ChildGuard> {
        Ok(ChildGuard {
            pid: Pid::from_raw(child.id() as i32),
            child: Some(child),
            reaped: None,
        })
    }

    /// Forks a guarded child that runs `child_main` and exits with its return value.
    ///
    /// The parent may have other threads (criterion's): in the child only the forking thread
    /// exists, so `child_main` must not wait on locks another thread could have held at fork
    /// time. Plain system calls on descriptors it owns (pipes, sockets, futexes in shared
    /// memory) are fine; a panic in the child exits it with status 101 without unwinding
    /// into the parent's code.
    pub fn fork(child_main: impl FnOnce() -> i32) -> io::Result<ChildGuard> {
        let parent = getpid();
        // SAFETY: in the child we run only `child_setup` (async-signal-safe) and the caller's
        // closure, documented above to avoid locks held by other threads, then `_exit`, which
        // never returns into the parent's stack frames or runs its atexit handlers.
        match unsafe { nix::unistd::fork() }? {
            ForkResult::Child => {
                let code = match child_setup(parent) {
                    Ok(()) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(child_main))
                        .unwrap_or(101),
                    Err(_) => 127,
                };
                exit_now(code)
            }
            ForkResult::Parent { child } => {
                // Also set the group from the parent so a kill right after fork cannot miss it.
                let _ = setpgid(child, child);
                Ok(ChildGuard {
                    pid: child,
                    child: None,
                    reaped: None,
                })
            }
        }
    }

    /// The child's process id (also its process group id).
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The `std` handle (stdio pipes) when the child was started from a `Command`.
    pub fn child_mut(&mut self) -> Option<&mut Child> {
        self.child.as_mut()
    }

    /// Sends `signal` to the child (not its group), e.g. SIGTERM for a graceful stop.
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        if self.reaped.is_some() {
            return Ok(());
        }
        Ok(kill(self.pid, signal)?)
    }

    /// Reaps the child if it has exited; `None` while it runs.
    pub fn try_wait(&mut self) -> io::Result<Option<WaitStatus>> {
        if let Some(status) = self.reaped {
            return Ok(Some(status));
        }
        match waitpid(self.pid, Some(WaitPidFlag::WNOHANG))? {
            WaitStatus::StillAlive => Ok(None),
            status => {
                self.reaped = Some(status);
                Ok(Some(status))
            }
        }
    }

    /// Waits at most `timeout` for the child to exit and reaps it; `None` on timeout.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<WaitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// SIGKILLs the child's process group (then the child itself, in case it left the group)
    /// and reaps the child. Idempotent.
    pub fn kill_and_reap(&mut self) -> io::Result<WaitStatus> {
        if let Some(status) = self.reaped {
            return Ok(status);
        }
        let _ = killpg(self.pid, Signal::SIGKILL);
        let _ = kill(self.pid, Signal::SIGKILL);
        loop {
            match waitpid(self.pid, None) {
                Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                    self.reaped = Some(status);
                    return Ok(status);
                }
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.kill_and_reap();
    }
}

/// Ends the calling process at once with `code`: no destructors, no atexit handlers, no
/// stdio flush — what a forked child of a multi-threaded parent must do.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` is async-signal-safe and takes no pointers.
    unsafe { libc::_exit(code) }
}

/// One fork + `_exit(0)` in the child + `waitpid` in the parent: the unit that
/// `spawn/fork_exit_wait` times. Errors if the child did not exit with status 0.
pub fn fork_exit_wait() -> io::Result<()> {
    // SAFETY: the child calls only `_exit`, which is async-signal-safe.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => exit_now(0),
        ForkResult::Parent { child } => expect_clean_exit(child),
    }
}

/// Reaps `pid` (retrying on EINTR) and checks it exited with status 0.
pub fn expect_clean_exit(pid: Pid) -> io::Result<()> {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, 0)) => return Ok(()),
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                return Err(io::Error::other(format!(
                    "child {pid} ended with {status:?}"
                )))
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
