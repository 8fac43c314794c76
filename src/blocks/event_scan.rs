//! Waiting for work: how the cost of one readiness wait grows with the descriptors watched.
//!
//! ```text
//!   N eventfds (allocated first, so the lowest numbers)     bench thread (pinned)
//!     fd 0 .. fd k-1: counter 1, never read  -> readable      loop {
//!     fd k .. fd N-1: counter 0               -> idle            select / poll / epoll_wait (blocking)
//!                                                                find the k readable fds
//!                                                              }
//! ```
//!
//! Metric: wall time of **one wait call that returns the readable descriptors**, including
//! the per-call work a real event loop does around it:
//! - `select`: rebuilds its `fd_set` of all N (`FD_ZERO` + N × `FD_SET`) every call, then tests
//!   every fd with `FD_ISSET` — the kernel scans all N bitmap bits too.
//! - `poll`: keeps its `pollfd` array, scans all N `revents` after the call; the kernel polls all N.
//! - `epoll` (level-triggered): the fds are registered once; `epoll_wait` copies the ready list
//!   (the readable fds stay on it, as level-triggered re-queues them).
//! - `epoll_et` (edge-triggered): a left-readable fd produces no new edge, so the loop re-arms
//!   each returned fd with `epoll_ctl(MOD)`, as an edge-triggered loop that did not drain its fd
//!   must. The `MOD` is inside the timing.
//! - `io_uring`: one one-shot `IORING_OP_POLL_ADD` per fd queued at setup; each call is one
//!   `io_uring_enter` that submits the re-arms of the previous call and waits, then reaps the
//!   completions and queues a new poll for each (the re-arm is inside the timing). Multishot
//!   poll is not used: it only posts on a new wake-up, and a left-readable fd gets none.
//!   Skipped with the kernel's error when io_uring is refused (seccomp, `io_uring_disabled`).
//!
//! The readable eventfds are never read, so every call finds them at once: the time is the
//! scan, not a wake-up. Each call checks it found exactly the k readable descriptors (and
//! which), so a wrong variant fails instead of looking fast.
//!
//! `event_register` times setting up interest in N descriptors: `epoll_ctl` ADD + DEL of each,
//! building the `pollfd` array, building the `fd_set` (one iteration = all N; throughput N).
//!
//! Limits: `select` runs only where every fd is below `FD_SETSIZE` (1024) — see
//! [`crate::sys::fdset`]; a size needing more descriptors than `RLIMIT_NOFILE` allows is
//! skipped with a message naming the limit. `event_register` does not cover `io_uring` or
//! `epoll_et` (the latter registers exactly like `epoll`).
//!
//! Not measured: wake-up latency of a sleeping waiter, reading the data, or `EPOLLEXCLUSIVE`
//! thundering herds.

use super::Outcome;
use crate::sys::fdset::{self, FdSet};
use crate::sys::uring::PollRing;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Instant;

/// Descriptors a bench process needs besides the scanned ones (stdio, criterion's files,
/// the epoll fd, pipes of peers): a size is skipped unless N + this fits under RLIMIT_NOFILE.
pub const FD_HEADROOM: u64 = 64;

/// One readiness API; `name()` is the bench function ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiter {
    Select,
    Poll,
    Epoll,
    EpollEt,
    IoUring,
}

impl Waiter {
    pub const ALL: [Waiter; 5] = [
        Waiter::Select,
        Waiter::Poll,
        Waiter::Epoll,
        Waiter::EpollEt,
        Waiter::IoUring,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Waiter::Select => "select",
            Waiter::Poll => "poll",
            Waiter::Epoll => "epoll",
            Waiter::EpollEt => "epoll_et",
            Waiter::IoUring => "io_uring",
        }
    }
}

/// Why a configuration cannot run here: a skip (print it and go on) or a real error.
#[derive(Debug)]
pub enum SetupError {
    Skip(String),
    Io(io::Error),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Skip(why) => write!(f, "skipped: {why}"),
            SetupError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for SetupError {
    fn from(e: io::Error) -> Self {
        SetupError::Io(e)
    }
}

impl From<nix::Error> for SetupError {
    fn from(e: nix::Error) -> Self {
        SetupError::Io(e.into())
    }
}

/// Checks that `n_fds` descriptors (plus [`FD_HEADROOM`]) fit under RLIMIT_NOFILE `soft`.
pub fn check_fd_budget(n_fds: u64, soft: u64) -> Result<(), SetupError> {
    if n_fds + FD_HEADROOM > soft {
        return Err(SetupError::Skip(format!(
            "{n_fds} descriptors (+{FD_HEADROOM} headroom) exceed RLIMIT_NOFILE {soft}"
        )));
    }
    Ok(())
}

/// N eventfds, the first `k` readable (counter 1, never read), the rest idle.
pub struct FdPool {
    fds: Vec<EventFd>,
    n_ready: usize,
}

impl FdPool {
    /// Allocates the descriptors; call before any other descriptor the run needs so they get
    /// the lowest numbers (select needs them below 1024). Skips when RLIMIT_NOFILE is too low.
    pub fn new(n_fds: usize, n_ready: usize) -> Result<FdPool, SetupError> {
        assert!(n_ready <= n_fds, "k = {n_ready} readable of N = {n_fds}");
        let limit = crate::sys::limits::nofile()?;
        check_fd_budget(n_fds as u64, limit.soft)?;
        let mut fds = Vec::with_capacity(n_fds);
        for i in 0..n_fds {
            let init = u32::from(i < n_ready);
            match EventFd::from_value_and_flags(
                init,
                EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK,
            ) {
                Ok(fd) => fds.push(fd),
                Err(nix::Error::EMFILE) => {
                    return Err(SetupError::Skip(format!(
                        "ran out of descriptors at {i} of {n_fds} (RLIMIT_NOFILE {})",
                        limit.soft
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(FdPool { fds, n_ready })
    }

    pub fn len(&self) -> usize {
        self.fds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// The reason `select` cannot watch this pool, if any descriptor is ≥ FD_SETSIZE.
    pub fn select_blocker(&self) -> Option<String> {
        let max = self.fds.iter().map(|f| f.as_raw_fd()).max()?;
        (!fdset::fits(max)).then(|| {
            format!(
                "descriptor {max} ≥ FD_SETSIZE ({}): select cannot watch {} fds",
                fdset::FD_SETSIZE,
                self.fds.len()
            )
        })
    }
}

/// A waiter set up over a pool: registered once, waited on many times.
pub struct Scan {
    waiter: Waiter,
    pool: FdPool,
    epoll: Option<Epoll>,
    events: Vec<EpollEvent>,
    ring: Option<PollRing>,
}

impl Scan {
    /// Registers the pool with `waiter` (epoll: ADD of every fd; select: checks FD_SETSIZE).
    pub fn new(waiter: Waiter, pool: FdPool) -> Result<Scan, SetupError> {
        if waiter == Waiter::Select {
            if let Some(why) = pool.select_blocker() {
                return Err(SetupError::Skip(why));
            }
        }
        let epoll = match waiter {
            Waiter::Epoll | Waiter::EpollEt => {
                let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
                let flags = interest(waiter);
                for (i, fd) in pool.fds.iter().enumerate() {
                    ep.add(fd, EpollEvent::new(flags, i as u64))?;
                }
                Some(ep)
            }
            _ => None,
        };
        let ring = match waiter {
            Waiter::IoUring => {
                let mut ring = PollRing::new(pool.n_ready as u32)
                    .map_err(|e| SetupError::Skip(format!("io_uring is unavailable here: {e}")))?;
                for (i, fd) in pool.fds.iter().enumerate() {
                    ring.poll_add(fd.as_fd(), i as u64)?;
                }
                Some(ring)
            }
            _ => None,
        };
        // A real loop sizes its event buffer for a burst; it must hold all k ready fds.
        let events = vec![EpollEvent::empty(); pool.n_ready.max(64)];
        Ok(Scan {
            waiter,
            pool,
            epoll,
            events,
            ring,
        })
    }

    /// `iters` wait calls; each must report exactly the pool's readable fds.
    pub fn run(&mut self, iters: u64) -> io::Result<Outcome> {
        let want = self.pool.n_ready;
        // The readable fds are 0..k, so the sum of their indexes identifies the set.
        let want_sum: u64 = (0..want as u64).sum();
        let fds = &self.pool.fds;
        let mut completed = 0;
        let start = Instant::now();
        match self.waiter {
            Waiter::Select => {
                let mut set = FdSet::new();
                for _ in 0..iters {
                    set.clear();
                    for fd in fds {
                        set.insert(fd.as_fd())?;
                    }
                    set.select_readable()?;
                    let (mut found, mut sum) = (0, 0);
                    for (i, fd) in fds.iter().enumerate() {
                        if set.contains(fd.as_fd()) {
                            found += 1;
                            sum += i as u64;
                        }
                    }
                    completed += check(found, sum, want, want_sum)?;
                }
            }
            Waiter::Poll => {
                let mut pfds: Vec<PollFd> = fds
                    .iter()
                    .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                    .collect();
                for _ in 0..iters {
                    poll(&mut pfds, PollTimeout::NONE)?;
                    let (mut found, mut sum) = (0, 0);
                    for (i, p) in pfds.iter().enumerate() {
                        if p.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)) {
                            found += 1;
                            sum += i as u64;
                        }
                    }
                    completed += check(found, sum, want, want_sum)?;
                }
            }
            Waiter::Epoll | Waiter::EpollEt => {
                let ep = self.epoll.as_ref().expect("epoll set up in Scan::new");
                let rearm = self.waiter == Waiter::EpollEt;
                let flags = interest(self.waiter);
                for _ in 0..iters {
                    let n = ep.wait(&mut self.events, EpollTimeout::NONE)?;
                    let mut sum = 0;
                    for ev in &self.events[..n] {
                        let i = ev.data();
                        sum += i;
                        if rearm {
                            // No new edge will come for a fd left readable: MOD re-queues it.
                            ep.modify(&fds[i as usize], &mut EpollEvent::new(flags, i))?;
                        }
                    }
                    completed += check(n, sum, want, want_sum)?;
                }
            }
            Waiter::IoUring => {
                let ring = self.ring.as_mut().expect("ring set up in Scan::new");
                let mut done = Vec::with_capacity(want.max(1));
                for _ in 0..iters {
                    // Submits the re-arms of the previous call (the first call: the N polls
                    // of setup) and waits; polls on ready fds complete at submission.
                    ring.submit_and_wait(1)?;
                    done.clear();
                    ring.drain(&mut done);
                    let mut sum = 0;
                    for &(tag, res) in &done {
                        if res < 0 {
                            return Err(io::Error::from_raw_os_error(-res));
                        }
                        sum += tag;
                        // One-shot poll: re-arm it, as epoll_et re-arms with MOD.
                        ring.poll_add(fds[tag as usize].as_fd(), tag)?;
                    }
                    completed += check(done.len(), sum, want, want_sum)?;
                }
            }
        }
        Ok(Outcome {
            elapsed: start.elapsed(),
            completed,
        })
    }
}

fn interest(waiter: Waiter) -> EpollFlags {
    if waiter == Waiter::EpollEt {
        EpollFlags::EPOLLIN | EpollFlags::EPOLLET
    } else {
        EpollFlags::EPOLLIN
    }
}

/// 1 when the call found exactly the expected fds, else an error naming what it found.
fn check(found: usize, sum: u64, want: usize, want_sum: u64) -> io::Result<u64> {
    if found == want && sum == want_sum {
        Ok(1)
    } else {
        Err(io::Error::other(format!(
            "wait call reported {found} readable fds (index sum {sum}), expected {want} (sum {want_sum})"
        )))
    }
}

/// `iters` registrations of all N descriptors of `pool` with `waiter`: epoll ADD + DEL of each,
/// building the `pollfd` array, or building the `fd_set`. One iteration = all N.
pub fn register(waiter: Waiter, pool: &FdPool, iters: u64) -> Result<Outcome, SetupError> {
    let fds = &pool.fds;
    let mut completed = 0;
    let start;
    match waiter {
        Waiter::Select => {
            if let Some(why) = pool.select_blocker() {
                return Err(SetupError::Skip(why));
            }
            start = Instant::now();
            for _ in 0..iters {
                let mut set = FdSet::new();
                for fd in fds {
                    set.insert(fd.as_fd()).map_err(io::Error::from)?;
                }
                // Keeps the optimiser from dropping the build; also checks it.
                completed += u64::from(match fds.last() {
                    Some(fd) => set.contains(fd.as_fd()),
                    None => true,
                });
            }
        }
        Waiter::Poll => {
            start = Instant::now();
            for _ in 0..iters {
                let pfds: Vec<PollFd> = fds
                    .iter()
                    .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                    .collect();
                completed += u64::from(std::hint::black_box(&pfds).len() == fds.len());
            }
        }
        Waiter::IoUring => {
            return Err(SetupError::Skip(
                "io_uring registration is a poll submission per fd; not measured".into(),
            ))
        }
        Waiter::Epoll | Waiter::EpollEt => {
            let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
            let flags = interest(waiter);
            start = Instant::now();
            for _ in 0..iters {
                for (i, fd) in fds.iter().enumerate() {
                    ep.add(fd, EpollEvent::new(flags, i as u64))?;
                }
                for fd in fds {
                    ep.delete(fd)?;
                }
                completed += 1;
            }
        }
    }
    Ok(Outcome {
        elapsed: start.elapsed(),
        completed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Tests here open hundreds of descriptors; run them one at a time so a parallel test
    /// cannot push select's fds past FD_SETSIZE or disturb the descriptor count.
    static FDS: Mutex<()> = Mutex::new(());

    /// The scan, or None after printing why io_uring cannot run here (other waiters must).
    fn setup_or_skip(waiter: Waiter, pool: FdPool) -> Option<Scan> {
        match Scan::new(waiter, pool) {
            Ok(scan) => Some(scan),
            Err(SetupError::Skip(why)) if waiter == Waiter::IoUring => {
                eprintln!("io_uring {why}");
                None
            }
            Err(e) => panic!("{}: {e}", waiter.name()),
        }
    }

    #[test]
    fn every_waiter_finds_exactly_the_readable_fds() {
        let _g = FDS.lock().unwrap_or_else(|e| e.into_inner());
        for waiter in Waiter::ALL {
            for (n, k) in [(1, 1), (100, 1), (100, 10), (300, 300)] {
                let pool = FdPool::new(n, k).expect("eventfds");
                let Some(mut scan) = setup_or_skip(waiter, pool) else {
                    continue;
                };
                let out = scan.run(5).expect("scan");
                assert_eq!(out.completed, 5, "{} N={n} k={k}", waiter.name());
            }
        }
    }

    #[test]
    fn a_wrong_readable_set_is_an_error() {
        let _g = FDS.lock().unwrap_or_else(|e| e.into_inner());
        // Make a second fd readable behind the scan's back: the check must fail.
        for waiter in Waiter::ALL {
            let pool2 = FdPool::new(10, 1).expect("eventfds");
            pool2.fds[5].write(1).expect("eventfd write");
            let Some(mut scan) = setup_or_skip(waiter, pool2) else {
                continue;
            };
            assert!(scan.run(1).is_err(), "{}", waiter.name());
        }
    }

    #[test]
    fn register_all_waiters() {
        let _g = FDS.lock().unwrap_or_else(|e| e.into_inner());
        let pool = FdPool::new(200, 0).expect("eventfds");
        for waiter in [Waiter::Select, Waiter::Poll, Waiter::Epoll, Waiter::EpollEt] {
            let out = register(waiter, &pool, 3).expect("register");
            assert_eq!(out.completed, 3, "{}", waiter.name());
        }
    }

    #[test]
    fn select_is_skipped_above_fd_setsize() {
        let _g = FDS.lock().unwrap_or_else(|e| e.into_inner());
        let soft = crate::sys::limits::raise_nofile().expect("raise").soft;
        if soft < 1100 + FD_HEADROOM {
            eprintln!("skipping: RLIMIT_NOFILE {soft} is too low for 1100 fds");
            return;
        }
        let pool = FdPool::new(1100, 1).expect("eventfds");
        match Scan::new(Waiter::Select, pool) {
            Err(SetupError::Skip(why)) => assert!(why.contains("FD_SETSIZE"), "{why}"),
            _ => panic!("select over 1100 fds must be skipped"),
        }
    }
}
