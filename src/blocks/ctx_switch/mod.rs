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
//! Not measured: switches between more than two tasks (lmbench's ring), TLB effects of large
//! address spaces, or scheduler decisions under load (the peers are the only runnable tasks
//! on their cores, if the machine is otherwise idle).

use super::Outcome;
use crate::sys::futex;
use crate::sys::process::ChildGuard;
use nix::sys::eventfd::EventFd;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::unistd::{pipe2, Pid};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
}

/// Where the peer runs and how much memory each side sums between hand-offs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerConfig {
    /// CPU of the peer (thread or process); `None` leaves it unpinned (tests).
    pub peer_cpu: Option<usize>,
    /// Working set summed by each side between hand-offs, in KiB (pipe_process only).
    pub ws_kib: u64,
}

/// Marks a thread peer as gone: set on every exit of its body (return or panic).
const DEAD_U32: u32 = u32::MAX;
const STOP_U32: u32 = u32::MAX - 1;
/// eventfd markers: far above any token, below the counter's maximum.
const EFD_DEAD: u64 = 1 << 62;
const EFD_STOP: u64 = 1 << 61;
/// How long a spinning (yield) side waits for its peer before calling it dead.
const SPIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Two peers handing a token back and forth, started once and reused.
pub struct PingPong {
    switch: Switch,
    peer: Peer,
    /// The last token sent; tokens start at 1.
    token: u64,
    ws: WorkingSet,
}

enum Peer {
    None,
    PipeSelf {
        rx: OwnedFd,
        tx: OwnedFd,
    },
    Fd {
        rx: OwnedFd,
        tx: OwnedFd,
        /// Set for process peers; thread peers end when `rx`/`tx` close.
        child: Option<ChildGuard>,
        thread: Option<JoinHandle<io::Result<()>>>,
    },
    Futex {
        words: Arc<FutexWords>,
        thread: Option<JoinHandle<io::Result<()>>>,
    },
    Eventfd {
        ping: Arc<EventFd>,
        pong: Arc<EventFd>,
        thread: Option<JoinHandle<io::Result<()>>>,
    },
    Condvar {
        shared: Arc<CondvarShared>,
        thread: Option<JoinHandle<io::Result<()>>>,
    },
    Yield {
        shared: Arc<YieldShared>,
        thread: Option<JoinHandle<io::Result<()>>>,
    },
}

struct FutexWords {
    ping: AtomicU32,
    pong: AtomicU32,
}

#[derive(Default)]
struct Slot {
    ping: u64,
    pong: u64,
    peer_dead: bool,
    stop: bool,
}

#[derive(Default)]
struct CondvarShared {
    slot: Mutex<Slot>,
    ping_cv: Condvar,
    pong_cv: Condvar,
}

#[derive(Default)]
struct YieldShared {
    ping: AtomicU64,
    pong: AtomicU64,
    peer_dead: AtomicBool,
    stop: AtomicBool,
}

/// Memory a side sums between hand-offs (`ctx_switch_ws`).
#[derive(Clone)]
struct WorkingSet(Vec<u64>);

impl WorkingSet {
    fn new(kib: u64) -> WorkingSet {
        // Non-zero contents: every page is written, so it is really resident.
        WorkingSet(vec![1u64; (kib as usize * 1024) / 8])
    }

    /// Reads every word; the result is kept alive so the loop is not optimised away.
    #[inline]
    fn sum(&self) {
        if !self.0.is_empty() {
            let s = self.0.iter().fold(0u64, |a, &x| a.wrapping_add(x));
            std::hint::black_box(s);
        }
    }

    /// Writes every word: after fork the child gets its own copies of the pages.
    fn own(&mut self) {
        for w in self.0.iter_mut() {
            *w = w.wrapping_add(1);
        }
    }
}

fn gone(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, format!("peer is gone ({what})"))
}

fn mismatch(sent: u64, got: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("sent token {sent}, peer answered {got}"),
    )
}

fn send_token(fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
    let buf = token.to_le_bytes();
    let mut done = 0;
    while done < buf.len() {
        match nix::unistd::write(fd, &buf[done..]) {
            Ok(n) => done += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The next token, or `None` at end of file (the other side closed or died).
fn recv_token(fd: BorrowedFd<'_>) -> io::Result<Option<u64>> {
    let mut buf = [0u8; 8];
    let mut done = 0;
    while done < buf.len() {
        match nix::unistd::read(fd, &mut buf[done..]) {
            Ok(0) => return Ok(None),
            Ok(n) => done += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(u64::from_le_bytes(buf)))
}

/// Why an fd peer stopped. No allocation: a forked peer must not call the allocator.
#[derive(Debug)]
enum PeerFault {
    Mismatch { expected: u64, got: u64 },
    Io(io::Error),
}

impl From<io::Error> for PeerFault {
    fn from(e: io::Error) -> Self {
        PeerFault::Io(e)
    }
}

impl From<PeerFault> for io::Error {
    fn from(f: PeerFault) -> Self {
        match f {
            PeerFault::Mismatch { expected, got } => mismatch(expected, got),
            PeerFault::Io(e) => e,
        }
    }
}

/// The peer's side over a pipe pair or socket: read, check, sum, reply; returns at EOF.
/// Runs in forked children too, so it allocates nothing (errors from errno carry no string).
fn fd_peer_loop(rx: BorrowedFd<'_>, tx: BorrowedFd<'_>, ws: &WorkingSet) -> Result<(), PeerFault> {
    let mut expected = 1u64;
    while let Some(token) = recv_token(rx)? {
        if token != expected {
            return Err(PeerFault::Mismatch {
                expected,
                got: token,
            });
        }
        ws.sum();
        send_token(tx, token)?;
        expected += 1;
    }
    Ok(())
}

/// Pins the calling thread (peer side) if asked, checking the kernel honoured it.
fn pin_peer(cpu: Option<usize>) -> io::Result<()> {
    match cpu {
        Some(cpu) => crate::pin::pin_current_thread(cpu),
        None => Ok(()),
    }
}

/// Starts a thread peer; a failure to pin it surfaces as an error of `start`.
fn spawn_peer(
    name: &str,
    cpu: Option<usize>,
    body: impl FnOnce() -> io::Result<()> + Send + 'static,
) -> io::Result<JoinHandle<io::Result<()>>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            pin_peer(cpu)?;
            body()
        })
}

/// Runs `f` when dropped: thread peers use it to leave a "dead" mark on every exit path.
struct OnExit<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnExit<F> {
    fn drop(&mut self) {
        (self.0)()
    }
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
        let ws = WorkingSet::new(config.ws_kib);
        let cpu = config.peer_cpu;
        let peer = match switch {
            Switch::Syscall => Peer::None,
            Switch::PipeSelf => {
                let (rx, tx) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
                Peer::PipeSelf { rx, tx }
            }
            Switch::PipeProcess | Switch::PipeThread => {
                let (main_rx, peer_tx) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
                let (peer_rx, main_tx) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
                Self::fd_peer(switch, main_rx, main_tx, peer_rx, peer_tx, cpu, &ws)?
            }
            Switch::UnixSocketProcess => {
                let (main, peer) = socketpair(
                    AddressFamily::Unix,
                    SockType::Stream,
                    None,
                    SockFlag::SOCK_CLOEXEC,
                )?;
                let main_tx = main.try_clone()?;
                let peer_tx = peer.try_clone()?;
                Self::fd_peer(switch, main, main_tx, peer, peer_tx, cpu, &ws)?
            }
            Switch::FutexThread => {
                let words = Arc::new(FutexWords {
                    ping: AtomicU32::new(0),
                    pong: AtomicU32::new(0),
                });
                let w = Arc::clone(&words);
                let thread = spawn_peer("futex-peer", cpu, move || {
                    let _dead = OnExit(|| {
                        w.pong.store(DEAD_U32, Ordering::Release);
                        let _ = futex::wake(&w.pong, 1);
                    });
                    futex_peer_loop(&w)
                })?;
                Peer::Futex {
                    words,
                    thread: Some(thread),
                }
            }
            Switch::EventfdThread => {
                let ping = Arc::new(EventFd::from_flags(
                    nix::sys::eventfd::EfdFlags::EFD_CLOEXEC,
                )?);
                let pong = Arc::new(EventFd::from_flags(
                    nix::sys::eventfd::EfdFlags::EFD_CLOEXEC,
                )?);
                let (pi, po) = (Arc::clone(&ping), Arc::clone(&pong));
                let thread = spawn_peer("eventfd-peer", cpu, move || {
                    let _dead = OnExit(|| {
                        let _ = po.write(EFD_DEAD);
                    });
                    let mut expected = 1u64;
                    loop {
                        let token = pi.read()?;
                        if token == EFD_STOP {
                            return Ok(());
                        }
                        if token != expected {
                            return Err(mismatch(expected, token));
                        }
                        po.write(token)?;
                        expected += 1;
                    }
                })?;
                Peer::Eventfd {
                    ping,
                    pong,
                    thread: Some(thread),
                }
            }
            Switch::CondvarThread => {
                let shared = Arc::new(CondvarShared::default());
                let s = Arc::clone(&shared);
                let thread = spawn_peer("condvar-peer", cpu, move || {
                    let _dead = OnExit(|| {
                        // Also after a panic that poisoned the lock: the mark must be left.
                        s.slot.lock().unwrap_or_else(|e| e.into_inner()).peer_dead = true;
                        s.pong_cv.notify_one();
                    });
                    condvar_peer_loop(&s)
                })?;
                Peer::Condvar {
                    shared,
                    thread: Some(thread),
                }
            }
            Switch::YieldThread => {
                let shared = Arc::new(YieldShared::default());
                let s = Arc::clone(&shared);
                let thread = spawn_peer("yield-peer", cpu, move || {
                    let _dead = OnExit(|| s.peer_dead.store(true, Ordering::Release));
                    yield_peer_loop(&s)
                })?;
                Peer::Yield {
                    shared,
                    thread: Some(thread),
                }
            }
        };
        let mut pp = PingPong {
            switch,
            peer,
            token: 0,
            ws,
        };
        pp.round_trips(1)?;
        Ok(pp)
    }

    fn fd_peer(
        switch: Switch,
        main_rx: OwnedFd,
        main_tx: OwnedFd,
        peer_rx: OwnedFd,
        peer_tx: OwnedFd,
        cpu: Option<usize>,
        ws: &WorkingSet,
    ) -> io::Result<Peer> {
        if switch == Switch::PipeThread {
            let ws = ws.clone();
            let thread = spawn_peer("pipe-peer", cpu, move || {
                Ok(fd_peer_loop(peer_rx.as_fd(), peer_tx.as_fd(), &ws)?)
            })?;
            return Ok(Peer::Fd {
                rx: main_rx,
                tx: main_tx,
                child: None,
                thread: Some(thread),
            });
        }
        // Allocated here, before fork: the child must not allocate (other threads may hold
        // the allocator's lock at fork time). It writes its copy once so that it owns
        // separate pages, then only reads them.
        let mut child_ws = ws.clone();
        let child = ChildGuard::fork(move || {
            let (rx, tx) = (peer_rx.as_raw_fd(), peer_tx.as_raw_fd());
            if crate::sys::spawn::close_fds_except(&[rx, tx]).is_err() {
                return 3;
            }
            if let Some(cpu) = cpu {
                if crate::sys::cpu::set_current_affinity(&[cpu]).is_err()
                    || crate::sys::cpu::current_cpu().ok() != Some(cpu)
                {
                    return 4;
                }
            }
            child_ws.own();
            match fd_peer_loop(peer_rx.as_fd(), peer_tx.as_fd(), &child_ws) {
                Ok(()) => 0,
                Err(_) => 2,
            }
        })?;
        // The closure (with the peer's descriptors) was dropped in the parent: only the child
        // holds the peer's ends, so its death closes them and our reads see EOF.
        Ok(Peer::Fd {
            rx: main_rx,
            tx: main_tx,
            child: Some(child),
            thread: None,
        })
    }

    pub fn switch(&self) -> Switch {
        self.switch
    }

    /// The peer process, for process variants.
    pub fn peer_pid(&self) -> Option<Pid> {
        match &self.peer {
            Peer::Fd {
                child: Some(child), ..
            } => Some(child.pid()),
            _ => None,
        }
    }

    /// Simulates a lost hand-off: the next token skips one number, which the peer must
    /// reject (it then exits, and the next round trip fails).
    pub fn skip_token(&mut self) {
        self.token += 1;
    }

    /// Makes `iters` round trips; returns the time and the count completed.
    pub fn round_trips(&mut self, iters: u64) -> io::Result<Outcome> {
        let mut completed = 0;
        let start = Instant::now();
        for _ in 0..iters {
            self.token += 1;
            self.one(self.token)?;
            completed += 1;
        }
        Ok(Outcome {
            elapsed: start.elapsed(),
            completed,
        })
    }

    #[inline]
    fn one(&mut self, t: u64) -> io::Result<()> {
        match &mut self.peer {
            Peer::None => {
                std::hint::black_box(nix::unistd::getppid());
            }
            Peer::PipeSelf { rx, tx } => {
                for _ in 0..2 {
                    send_token(tx.as_fd(), t)?;
                    let got = recv_token(rx.as_fd())?.ok_or_else(|| gone("own pipe"))?;
                    if got != t {
                        return Err(mismatch(t, got));
                    }
                }
            }
            Peer::Fd { rx, tx, .. } => {
                send_token(tx.as_fd(), t).map_err(|e| gone(&format!("write: {e}")))?;
                let got = recv_token(rx.as_fd())?.ok_or_else(|| gone("end of file"))?;
                if got != t {
                    return Err(mismatch(t, got));
                }
                self.ws.sum();
            }
            Peer::Futex { words, .. } => {
                let t = futex_token(t);
                words.ping.store(t, Ordering::Release);
                futex::wake(&words.ping, 1)?;
                loop {
                    let v = words.pong.load(Ordering::Acquire);
                    if v == t {
                        break;
                    }
                    if v == DEAD_U32 {
                        return Err(gone("futex peer exited"));
                    }
                    futex::wait(&words.pong, v)?;
                }
            }
            Peer::Eventfd { ping, pong, .. } => {
                ping.write(t)?;
                let got = pong.read()?;
                if got >= EFD_DEAD {
                    return Err(gone("eventfd peer exited"));
                }
                if got != t {
                    return Err(mismatch(t, got));
                }
            }
            Peer::Condvar { shared, .. } => {
                let mut slot = shared.slot.lock().map_err(|_| gone("poisoned"))?;
                slot.ping = t;
                shared.ping_cv.notify_one();
                while slot.pong != t && !slot.peer_dead {
                    slot = shared.pong_cv.wait(slot).map_err(|_| gone("poisoned"))?;
                }
                if slot.pong != t {
                    return Err(gone("condvar peer exited"));
                }
            }
            Peer::Yield { shared, .. } => {
                shared.ping.store(t, Ordering::Release);
                let deadline = Instant::now() + SPIN_TIMEOUT;
                let mut spins = 0u32;
                while shared.pong.load(Ordering::Acquire) != t {
                    if shared.peer_dead.load(Ordering::Acquire) {
                        return Err(gone("yield peer exited"));
                    }
                    spins = spins.wrapping_add(1);
                    if spins % 1024 == 0 && Instant::now() > deadline {
                        return Err(gone("yield peer did not answer in time"));
                    }
                    nix::sched::sched_yield()?;
                }
            }
        }
        Ok(())
    }
}

/// Futex words carry 32-bit tokens below the DEAD/STOP markers.
fn futex_token(t: u64) -> u32 {
    (t % u64::from(STOP_U32 - 1)) as u32 + 1
}

fn futex_peer_loop(w: &FutexWords) -> io::Result<()> {
    let mut n = 1u64;
    loop {
        let expected = futex_token(n);
        let previous = if n == 1 { 0 } else { futex_token(n - 1) };
        loop {
            let v = w.ping.load(Ordering::Acquire);
            if v == expected {
                break;
            }
            if v == STOP_U32 {
                return Ok(());
            }
            if v != previous {
                return Err(mismatch(u64::from(expected), u64::from(v)));
            }
            futex::wait(&w.ping, v)?;
        }
        w.pong.store(expected, Ordering::Release);
        futex::wake(&w.pong, 1)?;
        n += 1;
    }
}

fn condvar_peer_loop(s: &CondvarShared) -> io::Result<()> {
    let mut expected = 1u64;
    let mut slot = s.slot.lock().map_err(|_| gone("poisoned"))?;
    loop {
        while slot.ping == expected - 1 && !slot.stop {
            slot = s.ping_cv.wait(slot).map_err(|_| gone("poisoned"))?;
        }
        if slot.stop {
            return Ok(());
        }
        if slot.ping != expected {
            return Err(mismatch(expected, slot.ping));
        }
        slot.pong = expected;
        s.pong_cv.notify_one();
        expected += 1;
    }
}

fn yield_peer_loop(s: &YieldShared) -> io::Result<()> {
    let mut expected = 1u64;
    loop {
        if s.stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let v = s.ping.load(Ordering::Acquire);
        if v == expected {
            s.pong.store(v, Ordering::Release);
            expected += 1;
        } else if v != expected - 1 {
            return Err(mismatch(expected, v));
        }
        nix::sched::sched_yield()?;
    }
}

impl Drop for PingPong {
    fn drop(&mut self) {
        // Tell thread peers to stop, then join them; process peers are killed and reaped by
        // their guard. Fd thread peers end when our descriptors close (EOF).
        let thread = match &mut self.peer {
            Peer::None | Peer::PipeSelf { .. } => None,
            Peer::Fd { thread, .. } => thread.take(),
            Peer::Futex { words, thread } => {
                words.ping.store(STOP_U32, Ordering::Release);
                let _ = futex::wake(&words.ping, 1);
                thread.take()
            }
            Peer::Eventfd { ping, thread, .. } => {
                let _ = ping.write(EFD_STOP);
                thread.take()
            }
            Peer::Condvar { shared, thread } => {
                shared.slot.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
                shared.ping_cv.notify_one();
                thread.take()
            }
            Peer::Yield { shared, thread } => {
                shared.stop.store(true, Ordering::Release);
                thread.take()
            }
        };
        // Close our ends first (fd peers see EOF), then join.
        let peer = std::mem::replace(&mut self.peer, Peer::None);
        drop(peer);
        if let Some(t) = thread {
            let _ = t.join();
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
