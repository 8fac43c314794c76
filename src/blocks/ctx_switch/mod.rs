//! Switching between work: two long-lived peers hand a token back and forth.
//!
//! ```text
//!   bench thread (main, pinned)              peer (thread or forked process, pinned)
//!     write token t  ---- pipe / futex / eventfd / condvar / socket ---->  read, check t == expected
//!                                                                         (sum its working set)
//!     read reply, check == t  <------------------------------------------  write t back
//! ```
//!
//! Metric: wall time of one **round trip = two context switches** (criterion's throughput is
//! `Elements(2)`), timed over many round trips with the peers started once, outside the timing,
//! and reused across samples. Each peer checks every token it receives against a counter, so a
//! lost or doubled hand-off fails the run; a dead peer makes the workload return an error (EOF
//! on its pipe/socket, or a marker its exit guard leaves), it never hangs.
//!
//! - `ctx_switch_same_core`: both peers pinned to one core, so every hand-off is a switch.
//! - `ctx_switch_cross_core`: peers on two cores: each side sleeps and is woken by an IPI;
//!   the time includes the wake-up latency of an idle core, not a switch on one run queue.
//! - `ctx_switch_ws/pipe_process/<KiB>`: same core; each side sums its own K KiB between
//!   hand-offs (lmbench `lat_ctx -s`): the price of refilling caches after a switch. The sum
//!   itself is included (at 0 KiB there is none).
//! - Baselines: `syscall` (one `getppid`, one iteration = one system call) and `pipe_self`
//!   (the pipe work of one round trip — write+read twice on one pipe in one thread — with no
//!   switch: lmbench's overhead). Per switch = round trip / 2; switch without the pipe
//!   overhead = (round trip − pipe_self) / 2.
//!
//! `yield_thread` is a `sched_yield` ping-pong and only means something on ONE core: there the
//! yield hands the CPU to the peer. Unpinned or on two cores each thread's yield returns at
//! once (nothing else is runnable on its core) and the "round trip" is two cache-line
//! transfers plus system calls, no switch at all; it is therefore only run same-core.
//!
//! One file per mechanism, each a [`Handoff`] (start the peer, one round trip, stop):
//! `pipe.rs` (`pipe_process`, `pipe_thread`), `unix_socket.rs`, `futex.rs`, `eventfd.rs`,
//! `condvar.rs`, `sched_yield.rs` (`yield_thread`) and `baseline.rs` (`syscall`, `pipe_self`);
//! `fd.rs` is the one [`Handoff`] over descriptors (pipe and socket only say how to make the
//! ends and where the peer runs), `peer.rs` what every peer shares. [`PingPong`] owns one
//! running hand-off and holds the clock.
//!
//! Not measured: switches between more than two tasks (lmbench's ring), TLB effects of large
//! address spaces, or scheduler decisions under load (the peers are the only runnable tasks
//! on their cores, if the machine is otherwise idle).

mod baseline;
mod condvar;
mod eventfd;
mod fd;
mod futex;
mod peer;
mod pipe;
mod sched_yield;
mod unix_socket;

use super::Outcome;
use nix::unistd::Pid;
use std::io;
use std::time::Instant;

/// One way of handing the token over; `name()` is the bench function ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    PipeProcess,
    PipeThread,
    FutexThread,
    EventfdThread,
    CondvarThread,
    UnixSocketProcess,
    YieldThread,
    Syscall,
    PipeSelf,
}

impl Switch {
    pub const ALL: [Switch; 9] = [
        Switch::PipeProcess,
        Switch::PipeThread,
        Switch::FutexThread,
        Switch::EventfdThread,
        Switch::CondvarThread,
        Switch::UnixSocketProcess,
        Switch::YieldThread,
        Switch::Syscall,
        Switch::PipeSelf,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Switch::PipeProcess => "pipe_process",
            Switch::PipeThread => "pipe_thread",
            Switch::FutexThread => "futex_thread",
            Switch::EventfdThread => "eventfd_thread",
            Switch::CondvarThread => "condvar_thread",
            Switch::UnixSocketProcess => "unix_socket_process",
            Switch::YieldThread => "yield_thread",
            Switch::Syscall => "syscall",
            Switch::PipeSelf => "pipe_self",
        }
    }

    /// Baselines run in one thread: no peer, no switch.
    pub fn is_baseline(self) -> bool {
        matches!(self, Switch::Syscall | Switch::PipeSelf)
    }

    /// Only meaningful with both peers on one core (see the module doc).
    pub fn same_core_only(self) -> bool {
        self == Switch::YieldThread
    }

    /// Elements per iteration for criterion's throughput line: 2 switches per round trip
    /// (pipe_self: the 2 hand-offs of a round trip without the switches); 1 system call.
    pub fn elements(self) -> u64 {
        if self == Switch::Syscall {
            1
        } else {
            2
        }
    }

    /// Starts this mechanism's [`Handoff`] (the one place a `Switch` becomes a mechanism).
    fn start(self, config: PeerConfig) -> io::Result<Box<dyn Handoff>> {
        fn boxed<H: Handoff + 'static>(config: PeerConfig) -> io::Result<Box<dyn Handoff>> {
            Ok(Box::new(H::start(config)?))
        }
        match self {
            Switch::PipeProcess => boxed::<fd::FdHandoff<pipe::PipeProcess>>(config),
            Switch::PipeThread => boxed::<fd::FdHandoff<pipe::PipeThread>>(config),
            Switch::FutexThread => boxed::<futex::FutexThread>(config),
            Switch::EventfdThread => boxed::<eventfd::EventfdThread>(config),
            Switch::CondvarThread => boxed::<condvar::CondvarThread>(config),
            Switch::UnixSocketProcess => {
                boxed::<fd::FdHandoff<unix_socket::UnixSocketProcess>>(config)
            }
            Switch::YieldThread => boxed::<sched_yield::YieldThread>(config),
            Switch::Syscall => boxed::<baseline::Syscall>(config),
            Switch::PipeSelf => boxed::<baseline::PipeSelf>(config),
        }
    }
}

/// Where the peer runs and how much memory each side sums between hand-offs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerConfig {
    /// CPU of the peer (thread or process); `None` leaves it unpinned (tests).
    pub peer_cpu: Option<usize>,
    /// Working set summed by each side between hand-offs, in KiB (pipe_process only).
    pub ws_kib: u64,
}

/// One mechanism of handing the token over, one file each: it starts its peer(s), makes one
/// round trip at a time, and stops what it started. The peer checks every token against its
/// own count; a dead peer is an error of the round trip, never a hang. `Send`: a [`PingPong`]
/// may be moved to another thread (tests bound a round trip in time that way).
pub trait Handoff: Send {
    /// Starts the peer(s) where `config` says (a thread, a forked process, or nothing for
    /// the baselines).
    fn start(config: PeerConfig) -> io::Result<Self>
    where
        Self: Sized;

    /// One round trip carrying token `t` (tokens count up from 1): hand it over, wait for the
    /// peer's answer, check it is `t`.
    fn round_trip(&mut self, t: u64) -> io::Result<()>;

    /// Tells the peer(s) to stop and waits for them (a process peer is killed and reaped by
    /// its guard). Nothing the mechanism started survives it.
    fn stop(self: Box<Self>);

    /// The peer process, for process peers.
    fn peer_pid(&self) -> Option<Pid> {
        None
    }

    /// `iters` round trips carrying the tokens after `*token` (which is advanced for each one
    /// attempted). Compiled once per mechanism, so the timed loop makes no dynamic call per
    /// round trip, only one per batch.
    fn round_trips(&mut self, token: &mut u64, iters: u64) -> io::Result<()> {
        for _ in 0..iters {
            *token += 1;
            self.round_trip(*token)?;
        }
        Ok(())
    }
}

/// Two peers handing a token back and forth, started once and reused.
pub struct PingPong {
    switch: Switch,
    /// `Some` from `start` until `drop` stops it.
    handoff: Option<Box<dyn Handoff>>,
    /// The last token sent; tokens start at 1.
    token: u64,
}

impl PingPong {
    /// Starts the peer for `switch` and makes one round trip, so that set-up costs (thread
    /// or process start, pinning, page faults of the working set) stay outside any timing.
    pub fn start(switch: Switch, config: PeerConfig) -> io::Result<PingPong> {
        if config.ws_kib > 0 && switch != Switch::PipeProcess {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a working set is only supported for pipe_process",
            ));
        }
        let mut pp = PingPong {
            switch,
            handoff: Some(switch.start(config)?),
            token: 0,
        };
        pp.round_trips(1)?;
        Ok(pp)
    }

    pub fn switch(&self) -> Switch {
        self.switch
    }

    fn handoff(&self) -> &dyn Handoff {
        self.handoff.as_deref().expect("running until dropped")
    }

    /// The peer process, for process variants.
    pub fn peer_pid(&self) -> Option<Pid> {
        self.handoff().peer_pid()
    }

    /// Simulates a lost hand-off: the next token skips one number, which the peer must
    /// reject (it then exits, and the next round trip fails).
    pub fn skip_token(&mut self) {
        self.token += 1;
    }

    /// Makes `iters` round trips; returns the time and the count completed.
    pub fn round_trips(&mut self, iters: u64) -> io::Result<Outcome> {
        let handoff = self.handoff.as_mut().expect("running until dropped");
        let start = Instant::now();
        handoff.round_trips(&mut self.token, iters)?;
        Ok(Outcome {
            elapsed: start.elapsed(),
            completed: iters,
        })
    }
}

impl Drop for PingPong {
    fn drop(&mut self) {
        if let Some(handoff) = self.handoff.take() {
            handoff.stop();
        }
    }
}

/// lmbench's arithmetic on one group's medians (ns per iteration): per switch = round trip / 2;
/// without the pipe overhead = (round trip − pipe_self) / 2, for the pipe variants only.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SwitchCost {
    pub function: String,
    pub round_trip_ns: f64,
    pub per_switch_ns: f64,
    pub per_switch_minus_pipe_ns: Option<f64>,
}

/// Applies [`SwitchCost`]'s arithmetic to `(function, median round trip ns)` pairs; baselines
/// are skipped, `pipe_self_ns` is the same group's `pipe_self` median.
pub fn switch_costs(medians: &[(Switch, f64)], pipe_self_ns: Option<f64>) -> Vec<SwitchCost> {
    medians
        .iter()
        .filter(|(s, _)| !s.is_baseline())
        .map(|&(s, rt)| SwitchCost {
            function: s.name().into(),
            round_trip_ns: rt,
            per_switch_ns: rt / 2.0,
            // Only the pipe variants carry pipe_self's overhead.
            per_switch_minus_pipe_ns: pipe_self_ns
                .filter(|_| matches!(s, Switch::PipeProcess | Switch::PipeThread))
                .map(|p| (rt - p) / 2.0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_switch_makes_the_round_trips_asked_for() {
        for s in Switch::ALL {
            let mut pp = PingPong::start(s, PeerConfig::default()).unwrap();
            assert_eq!(pp.round_trips(50).unwrap().completed, 50, "{}", s.name());
            assert_eq!(pp.round_trips(7).unwrap().completed, 7, "{}", s.name());
        }
    }

    #[test]
    fn lmbench_arithmetic() {
        let c = switch_costs(
            &[
                (Switch::PipeProcess, 3000.0),
                (Switch::FutexThread, 2000.0),
                (Switch::PipeSelf, 1000.0),
            ],
            Some(1000.0),
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].per_switch_ns, 1500.0);
        assert_eq!(c[0].per_switch_minus_pipe_ns, Some(1000.0));
        assert_eq!(c[1].per_switch_ns, 1000.0);
        assert_eq!(c[1].per_switch_minus_pipe_ns, None);
    }

    #[test]
    fn working_set_round_trips() {
        let cfg = PeerConfig {
            peer_cpu: None,
            ws_kib: 16,
        };
        let mut pp = PingPong::start(Switch::PipeProcess, cfg).unwrap();
        assert_eq!(pp.round_trips(10).unwrap().completed, 10);
        assert!(PingPong::start(Switch::PipeThread, cfg).is_err());
    }

    #[test]
    fn a_lost_hand_off_fails_instead_of_hanging() {
        for s in Switch::ALL.into_iter().filter(|s| !s.is_baseline()) {
            let mut pp = PingPong::start(s, PeerConfig::default()).unwrap();
            pp.skip_token();
            let err = pp.round_trips(3).expect_err(s.name());
            assert!(
                matches!(
                    err.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::InvalidData
                ),
                "{}: {err}",
                s.name()
            );
        }
    }

    #[test]
    fn a_killed_peer_process_fails_the_workload() {
        for s in [Switch::PipeProcess, Switch::UnixSocketProcess] {
            let mut pp = PingPong::start(s, PeerConfig::default()).unwrap();
            let pid = pp.peer_pid().unwrap();
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
            assert!(pp.round_trips(100).is_err(), "{}", s.name());
            drop(pp);
            assert_eq!(crate::procfs::state(pid.as_raw()), None, "{pid} not reaped");
        }
    }

    #[test]
    fn pinned_peers_run_where_asked() {
        let cpu = *crate::sys::cpu::allowed_cpus().unwrap().last().unwrap();
        for s in [Switch::PipeProcess, Switch::FutexThread] {
            let cfg = PeerConfig {
                peer_cpu: Some(cpu),
                ws_kib: 0,
            };
            let mut pp = PingPong::start(s, cfg).unwrap();
            assert_eq!(pp.round_trips(5).unwrap().completed, 5);
        }
    }
}
