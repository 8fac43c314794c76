//! Event scans: what one readiness wait costs as the number of registered descriptors grows,
//! when exactly one (or K) of them is readable — `select` and `poll` pass and scan the whole
//! set every call, `epoll` keeps the interest set in the kernel and returns only the ready list.
//!
//! ```text
//!   N eventfds (all owned)        one wait call per iteration
//!   fd0 [readable] ─┐
//!   fd1            ─┼─► select / poll / epoll_wait ─► returns fd0 (left readable)
//!   ...            ─┘
//! ```
//!
//! Metric: time per wait call (the per-call work a loop does included: select rebuilds its
//! fd_set, poll scans revents, epoll reads its ready list, epoll_et re-arms with
//! EPOLL_CTL_MOD). `event_register`: time to register N descriptors (epoll_ctl ADD then DEL
//! each; build the pollfd array; build the fd_set) — one iteration = all N, divide by N.
//! Not measured: reading the data, wake-up latency across threads (the fd is ready before
//! the call), io_uring (not implemented in this module).

use super::Outcome;
use crate::sys::fdset::{self, FdSet};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Instant;

/// How readiness is waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    Select,
    Poll,
    Epoll,
    EpollEt,
}

impl Scan {
    pub const ALL: [Scan; 4] = [Scan::Select, Scan::Poll, Scan::Epoll, Scan::EpollEt];
    pub fn name(self) -> &'static str {
        match self {
            Scan::Select => "select",
            Scan::Poll => "poll",
            Scan::Epoll => "epoll",
            Scan::EpollEt => "epoll_et",
        }
    }
}

/// How a set of N descriptors is registered (`event_register`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    Epoll,
    Poll,
    Select,
}

impl Register {
    pub const ALL: [Register; 3] = [Register::Epoll, Register::Poll, Register::Select];
    pub fn name(self) -> &'static str {
        match self {
            Register::Epoll => "epoll",
            Register::Poll => "poll",
            Register::Select => "select",
        }
    }
}

/// Descriptors a run may open beyond those already open, under the soft RLIMIT_NOFILE; an
/// error naming the limit when `n` (plus a small reserve for the harness) does not fit.
pub fn fits_fd_limit(n: u64) -> Result<(), String> {
    const RESERVE: u64 = 64;
    let limit = crate::sys::limits::nofile().map_err(|e| format!("RLIMIT_NOFILE: {e}"))?;
    let open = crate::procfs::open_fd_count().map_err(|e| format!("/proc/self/fd: {e}"))? as u64;
    if open + n + 1 + RESERVE > limit.soft {
        return Err(format!(
            "{n} descriptors do not fit RLIMIT_NOFILE {} (hard {}) with {open} already open",
            limit.soft, limit.hard
        ));
    }
    Ok(())
}

/// N owned eventfds, the first `k` readable (counter 1, never read so they stay readable).
pub struct Fds {
    fds: Vec<EventFd>,
    readable: Vec<usize>,
}

impl Fds {
    /// Opens `n` eventfds (lowest free numbers first, so they fit `select` when allocated
    /// early) and makes `k` of them, spread evenly, readable.
    pub fn open(n: usize, k: usize) -> io::Result<Fds> {
        assert!(k <= n && n >= 1, "need 1 <= n and k <= n");
        fits_fd_limit(n as u64).map_err(io::Error::other)?;
        let fds = (0..n)
            .map(|_| EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC))
            .collect::<Result<Vec<_>, _>>()?;
        let readable: Vec<usize> = (0..k).map(|i| i * n / k).collect();
        for &i in &readable {
            fds[i].write(1)?;
        }
        Ok(Fds { fds, readable })
    }

    pub fn len(&self) -> usize {
        self.fds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    fn borrowed(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.fds.iter().map(|f| f.as_fd())
    }

    /// Why `select` cannot use these descriptors, if it cannot.
    pub fn select_unfit(&self) -> Option<String> {
        let max = self.borrowed().map(|f| f.as_raw_fd()).max().unwrap_or(0);
        (max as usize >= fdset::FD_SETSIZE).then(|| {
            format!(
                "highest descriptor {max} >= FD_SETSIZE {}; select would write out of bounds",
                fdset::FD_SETSIZE
            )
        })
    }
}

/// `iters` wait calls with `scan` over `fds`; a call counts as completed when it returns
/// exactly the readable descriptors.
pub fn scan(scan: Scan, fds: &Fds, iters: u64) -> io::Result<Outcome> {
    let k = fds.readable.len();
    match scan {
        Scan::Select => {
            let mut base = FdSet::new();
            for fd in fds.borrowed() {
                base.insert(fd)?;
            }
            let t = Instant::now();
            let mut ok = 0;
            for _ in 0..iters {
                // select overwrites its set: a real loop rebuilds it every call.
                let mut set = base.clone();
                let n = fdset::select_read(&mut set)?;
                let found = fds
                    .readable
                    .iter()
                    .filter(|&&i| set.contains(fds.fds[i].as_fd()))
                    .count();
                ok += u64::from(n == k && found == k);
            }
            Ok(Outcome {
                elapsed: t.elapsed(),
                completed: ok,
            })
        }
        Scan::Poll => {
            let mut pfds: Vec<PollFd> = fds
                .borrowed()
                .map(|f| PollFd::new(f, PollFlags::POLLIN))
                .collect();
            let t = Instant::now();
            let mut ok = 0;
            for _ in 0..iters {
                let n = nix::poll::poll(&mut pfds, PollTimeout::NONE)?;
                // The application's share of poll: walk every revents to find the ready ones.
                let found = pfds
                    .iter()
                    .filter(|p| p.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
                    .count();
                ok += u64::from(n as usize == k && found == k);
            }
            Ok(Outcome {
                elapsed: t.elapsed(),
                completed: ok,
            })
        }
        Scan::Epoll | Scan::EpollEt => {
            let et = scan == Scan::EpollEt;
            let flags = if et {
                EpollFlags::EPOLLIN | EpollFlags::EPOLLET
            } else {
                EpollFlags::EPOLLIN
            };
            let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
            for (i, fd) in fds.borrowed().enumerate() {
                ep.add(fd, EpollEvent::new(flags, i as u64))?;
            }
            let mut events = vec![EpollEvent::empty(); k.max(1)];
            let t = Instant::now();
            let mut ok = 0;
            for _ in 0..iters {
                let n = ep.wait(&mut events, EpollTimeout::NONE)?;
                if et {
                    // Edge-triggered reports a level once; re-arm so the next call sees it.
                    for ev in &events[..n] {
                        let fd = fds.fds[ev.data() as usize].as_fd();
                        ep.modify(fd, &mut EpollEvent::new(flags, ev.data()))?;
                    }
                }
                ok += u64::from(n == k);
            }
            Ok(Outcome {
                elapsed: t.elapsed(),
                completed: ok,
            })
        }
    }
}

/// `iters` registrations of all of `fds` with `how`; `completed` counts iterations that
/// registered every descriptor.
pub fn register(how: Register, fds: &Fds, iters: u64) -> io::Result<Outcome> {
    let n = fds.len();
    let mut ok = 0;
    let t;
    match how {
        Register::Epoll => {
            let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
            t = Instant::now();
            for _ in 0..iters {
                for (i, fd) in fds.borrowed().enumerate() {
                    ep.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, i as u64))?;
                }
                for fd in fds.borrowed() {
                    ep.delete(fd)?;
                }
                ok += 1;
            }
        }
        Register::Poll => {
            t = Instant::now();
            for _ in 0..iters {
                let pfds: Vec<PollFd> = fds
                    .borrowed()
                    .map(|f| PollFd::new(f, PollFlags::POLLIN))
                    .collect();
                ok += u64::from(std::hint::black_box(pfds).len() == n);
            }
        }
        Register::Select => {
            t = Instant::now();
            for _ in 0..iters {
                let mut set = FdSet::new();
                for fd in fds.borrowed() {
                    set.insert(fd)?;
                }
                ok += u64::from(std::hint::black_box(&set).highest() >= 0);
            }
        }
    }
    Ok(Outcome {
        elapsed: t.elapsed(),
        completed: ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scan_finds_the_readable_fds() {
        for (n, k) in [(1, 1), (50, 1), (50, 7)] {
            let fds = Fds::open(n, k).expect("open eventfds");
            for s in Scan::ALL {
                let o = scan(s, &fds, 5).expect("scan");
                assert_eq!(o.completed, 5, "{} n={n} k={k}", s.name());
            }
            for r in Register::ALL {
                assert_eq!(register(r, &fds, 3).expect("register").completed, 3);
            }
        }
    }

    #[test]
    fn a_size_over_the_fd_limit_is_refused_not_crashed() {
        let limit = crate::sys::limits::nofile().expect("nofile").soft;
        let err = fits_fd_limit(limit).expect_err("limit itself cannot fit");
        assert!(err.contains("RLIMIT_NOFILE"), "{err}");
        let err = Fds::open(limit as usize + 1, 1).err().expect("refused");
        assert!(err.to_string().contains(&limit.to_string()), "{err}");
    }
}
