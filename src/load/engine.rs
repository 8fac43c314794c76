//! The epoll loop behind [`super::run`]: one thread per client core, each owning a share of
//! the connections, all non-blocking and edge-triggered.
//!
//! Each request is claimed from a shared budget before it is sent, and ends as exactly one
//! success or one counted error, so a run with `requests = N` accounts for N requests.
//!
//! With a think time a connection rests after each request ([`Idle`]) until a draw from an
//! exponential distribution has passed; a timerfd in the epoll set wakes the thread for the
//! earliest such connection (epoll's own timeout counts in whole milliseconds, which would
//! stretch a 1 ms mean think time by half).

use super::validate::{Invalid, Progress, ResponseReader};
use super::{ConnMode, ErrorCounts, LoadReport, LoadSpec};
use crate::rng::SplitMix64;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime};

/// The epoll token of the think-time timer (connection indexes are below it).
const TIMER: u64 = u64::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No request outstanding (keep-alive connection open, or no connection).
    Idle,
    Connecting,
    Writing,
    Reading,
}

struct Conn {
    stream: Option<TcpStream>,
    state: State,
    path_idx: usize,
    written: usize,
    reader: Option<ResponseReader>,
    /// Latency origin: the send time (closed loop) or the scheduled send time (open loop).
    origin: Instant,
    /// The stream has carried a whole exchange before this request (a reused keep-alive
    /// connection), and no byte of this request's answer has arrived yet: if the server closes
    /// it now, the request is sent again once on a new connection (RFC 9112 §9.3.1).
    retriable: bool,
}

enum Outcome {
    Ok(u64),
    Err(fn(&mut ErrorCounts)),
    /// The server closed a reused connection before answering: send the request again.
    Retry,
}

/// The connections with no request outstanding: ready to send, or thinking until a time.
struct Idle {
    ready: Vec<usize>,
    /// (wakes at, connection), earliest first.
    thinking: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Mean think time and the thread's draws; `None`: a connection is ready at once.
    think: Option<(Duration, SplitMix64)>,
    /// Fires at the earliest wake (registered in the thread's epoll as [`TIMER`]).
    timer: Option<TimerFd>,
    /// The wake the timer is set for.
    armed: Option<Instant>,
}

impl Idle {
    fn new(n_conns: usize, think: Option<(Duration, u64)>, epoll: &Epoll) -> io::Result<Idle> {
        let timer = match think {
            Some(_) => {
                let t = TimerFd::new(
                    ClockId::CLOCK_MONOTONIC,
                    TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
                )?;
                epoll.add(&t, EpollEvent::new(EpollFlags::EPOLLIN, TIMER))?;
                Some(t)
            }
            None => None,
        };
        Ok(Idle {
            ready: (0..n_conns).rev().collect(),
            thinking: BinaryHeap::new(),
            think: think.map(|(mean, seed)| (mean, SplitMix64::new(seed))),
            timer,
            armed: None,
        })
    }

    /// Connection `ci`'s request ended at `now`: it thinks (an exponential draw around the
    /// mean) or is ready at once.
    fn rest(&mut self, ci: usize, now: Instant) {
        match &mut self.think {
            Some((mean, rng)) => {
                // Inverse transform: -ln(1 - U) is exponential with mean 1 (U in [0, 1)).
                let draw = mean.mul_f64(-(1.0 - rng.next_f64()).ln());
                self.thinking.push(Reverse((now + draw, ci)));
            }
            None => self.ready.push(ci),
        }
    }

    /// Moves the connections whose think time is over to `ready`.
    fn wake(&mut self, now: Instant) {
        while let Some(&Reverse((at, ci))) = self.thinking.peek() {
            if at > now {
                break;
            }
            self.thinking.pop();
            self.ready.push(ci);
        }
    }

    /// The earliest wake of a thinking connection.
    fn next_wake(&self) -> Option<Instant> {
        self.thinking.peek().map(|Reverse((at, _))| *at)
    }

    /// Sets the timer to the earliest wake (when that changed).
    fn arm(&mut self, now: Instant) -> io::Result<()> {
        let (Some(timer), Some(at)) = (&self.timer, self.next_wake()) else {
            return Ok(());
        };
        if self.armed != Some(at) {
            // A zero expiration would disarm the timer: at least 1 µs.
            let left = at
                .saturating_duration_since(now)
                .max(Duration::from_micros(1));
            timer.set(
                Expiration::OneShot(TimeSpec::from_duration(left)),
                TimerSetTimeFlags::empty(),
            )?;
            self.armed = Some(at);
        }
        Ok(())
    }

    /// The timer fired: take its expiration (nothing to read is fine).
    fn fired(&mut self) {
        if let Some(t) = &self.timer {
            let _ = t.wait();
        }
        self.armed = None;
    }

    /// Every idle connection, thinking or ready.
    fn all(&self) -> impl Iterator<Item = usize> + '_ {
        self.ready
            .iter()
            .copied()
            .chain(self.thinking.iter().map(|Reverse((_, ci))| *ci))
    }
}

/// Shared across the client threads.
struct Shared {
    claimed: AtomicU64,
    requests: Option<u64>,
}

impl Shared {
    fn claim(&self) -> bool {
        match self.requests {
            None => true,
            Some(n) => self.claimed.fetch_add(1, Ordering::Relaxed) < n,
        }
    }
}

struct ThreadResult {
    report: LoadReport,
    cpu: Duration,
    core: Option<usize>,
    end: Instant,
    issued: u64,
    last_send: Option<Instant>,
}

pub(super) fn run(spec: &LoadSpec) -> io::Result<LoadReport> {
    // The deadline bounds the whole call, connection set-up included.
    let hard_end = Instant::now() + spec.deadline;
    let n_threads = spec.cores.len().max(1).min(spec.conns);
    let shared = Arc::new(Shared {
        claimed: AtomicU64::new(0),
        requests: spec.requests,
    });
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(
        spec.paths
            .iter()
            .map(|e| {
                let conn = match spec.mode {
                    ConnMode::KeepAlive => "",
                    ConnMode::Close => "Connection: close\r\n",
                };
                format!(
                    "GET {} HTTP/1.1\r\nHost: {}\r\n{conn}\r\n",
                    e.path, spec.addr
                )
                .into_bytes()
            })
            .collect(),
    );
    // `ready`: every thread pinned and (with preconnect) connected; `go`: t0 is set.
    let ready = Arc::new(Barrier::new(n_threads + 1));
    let go = Arc::new(Barrier::new(n_threads + 1));
    let start_cell = Arc::new(parking_lot::Mutex::new(None::<Instant>));
    let mut handles = Vec::new();
    for t in 0..n_threads {
        let spec = spec.clone();
        let shared = shared.clone();
        let requests = requests.clone();
        let (ready, go) = (ready.clone(), go.clone());
        let start_cell = start_cell.clone();
        let n_conns = spec.conns / n_threads + usize::from(t < spec.conns % n_threads);
        let core = spec.cores.get(t).copied();
        handles.push(
            std::thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn(move || -> io::Result<ThreadResult> {
                    let pinned = match core {
                        Some(c) => crate::pin::pin_current_thread(c),
                        None => Ok(()),
                    };
                    // The namespace is this thread's only: setns moves the caller alone.
                    let entered = pinned.and_then(|()| match &spec.netns {
                        Some(ns) => crate::sys::net::enter_netns(ns),
                        None => Ok(()),
                    });
                    let prepared = entered.and_then(|()| prepare(&spec, n_conns, hard_end));
                    // Both barriers are always reached, also on error, so nobody waits forever.
                    ready.wait();
                    go.wait();
                    let (epoll, conns) = prepared?;
                    let t0 = (*start_cell.lock()).expect("start time set before the barrier");
                    client_thread(
                        &spec, &shared, &requests, t, n_threads, epoll, conns, t0, hard_end, core,
                    )
                })
                .map_err(io::Error::other)?,
        );
    }
    ready.wait();
    let t0 = Instant::now();
    let started = SystemTime::now();
    *start_cell.lock() = Some(t0);
    go.wait();
    let mut results = Vec::new();
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => first_err = Some(e),
            Err(_) => first_err = Some(io::Error::other("client thread panicked")),
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let end = results.iter().map(|r| r.end).max().unwrap_or(t0);
    let elapsed = end.saturating_duration_since(t0);
    let mut total = LoadReport::empty(started);
    total.elapsed = elapsed;
    total.raw_latencies_ns = spec.keep_latencies.then(Vec::new);
    let mut per_core: std::collections::BTreeMap<Option<usize>, Duration> = Default::default();
    for r in &results {
        total.merge(&r.report);
        *per_core.entry(r.core).or_default() += r.cpu;
    }
    let secs = elapsed.as_secs_f64().max(1e-9);
    total.client_cpu_util = per_core
        .values()
        .map(|cpu| (cpu.as_secs_f64() / secs).min(1.0))
        .fold(0.0, f64::max);
    if let Some(rate) = spec.rate {
        let issued: u64 = results.iter().map(|r| r.issued).sum();
        let last = results
            .iter()
            .filter_map(|r| r.last_send)
            .max()
            .unwrap_or(t0);
        let interval = n_threads as f64 / rate;
        let span = last.saturating_duration_since(t0).as_secs_f64() + interval;
        let achieved = issued as f64 / span;
        if achieved < 0.9 * rate {
            total.rate_shortfall = Some((rate, achieved));
        }
    }
    Ok(total)
}

fn thread_cpu() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_THREAD) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000)
            };
            tv(u.user_time()) + tv(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

fn register(epoll: &Epoll, s: &TcpStream, ci: usize) -> io::Result<()> {
    let flags =
        EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT | EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLET;
    Ok(epoll.add(s, EpollEvent::new(flags, ci as u64))?)
}

/// The thread's epoll and connections; with `spec.preconnect` (keep-alive only) every
/// connection is opened here, before the clock starts. A connection that fails here is left
/// closed and opened again by its first request (where a failure counts as an error).
fn prepare(spec: &LoadSpec, n_conns: usize, hard_end: Instant) -> io::Result<(Epoll, Vec<Conn>)> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    let now = Instant::now();
    let mut conns: Vec<Conn> = (0..n_conns)
        .map(|_| Conn {
            stream: None,
            state: State::Idle,
            path_idx: 0,
            written: 0,
            reader: None,
            origin: now,
            retriable: false,
        })
        .collect();
    if !spec.preconnect || spec.mode != ConnMode::KeepAlive {
        return Ok((epoll, conns));
    }
    let mut pending = 0usize;
    for (ci, c) in conns.iter_mut().enumerate() {
        if let Ok((s, done)) = crate::sys::connect::connect_nonblocking(spec.addr) {
            register(&epoll, &s, ci)?;
            c.stream = Some(s);
            if !done {
                c.state = State::Connecting;
                pending += 1;
            }
        }
    }
    let end = hard_end.min(now + Duration::from_secs(10));
    let mut events = vec![EpollEvent::empty(); 256];
    while pending > 0 && Instant::now() < end {
        let n = match epoll.wait(&mut events, EpollTimeout::from(50u16)) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        for ev in &events[..n] {
            let c = &mut conns[ev.data() as usize];
            if c.state != State::Connecting {
                continue;
            }
            let s = c.stream.as_ref().expect("connecting has a stream");
            match (s.take_error(), s.peer_addr()) {
                (Ok(None), Ok(_)) => c.state = State::Idle,
                (Ok(None), Err(e)) if e.kind() == ErrorKind::NotConnected => continue,
                _ => {
                    c.stream = None;
                    c.state = State::Idle;
                }
            }
            pending -= 1;
        }
    }
    for c in conns.iter_mut().filter(|c| c.state == State::Connecting) {
        c.stream = None;
        c.state = State::Idle;
    }
    Ok((epoll, conns))
}

#[allow(clippy::too_many_arguments)]
fn client_thread(
    spec: &LoadSpec,
    shared: &Shared,
    requests: &[Vec<u8>],
    t: usize,
    n_threads: usize,
    epoll: Epoll,
    mut conns: Vec<Conn>,
    t0: Instant,
    hard_end: Instant,
    core: Option<usize>,
) -> io::Result<ThreadResult> {
    let cpu0 = thread_cpu();
    let n_conns = conns.len();
    // Each thread its own stream of draws, reproducible per seed.
    let think = spec
        .think_time
        .map(|mean| (mean, spec.seed.wrapping_add(t as u64)));
    let mut idle = Idle::new(n_conns, think, &epoll)?;
    let mut report = LoadReport::empty(SystemTime::now());
    report.raw_latencies_ns = spec.keep_latencies.then(Vec::new);
    let deadline = hard_end;
    let stop_issuing = spec.duration.map(|d| t0 + d);
    let interval = spec
        .rate
        .map(|r| Duration::from_secs_f64(n_threads as f64 / r));
    let mut next_sched =
        t0 + interval.map_or(Duration::ZERO, |i| i.mul_f64(t as f64 / n_threads as f64));
    let mut seq_pos = t;
    let mut issued = 0u64;
    let mut done_count = 0u64;
    let mut budget_left = true;
    let mut last_send = None;
    let mut in_flight = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let mut events = vec![EpollEvent::empty(); 256];
    let end;

    // Issues what is due on idle connections: at the top of every loop pass, and right after
    // a response completes so its connection goes out again at once (as wrk does) instead
    // of waiting for the rest of the event batch.
    macro_rules! issue_due {
        ($now:expr) => {{
            let now: Instant = $now;
            if stop_issuing.is_some_and(|s| now >= s) {
                budget_left = false;
            }
            idle.wake(now);
            let mut passes = 0usize;
            while budget_left && passes < n_conns {
                passes += 1;
                let origin = match interval {
                    None => now,
                    Some(_) if next_sched <= now => next_sched,
                    Some(_) => break,
                };
                let Some(ci) = idle.ready.pop() else { break };
                if !shared.claim() {
                    idle.ready.push(ci);
                    budget_left = false;
                    break;
                }
                if let Some(i) = interval {
                    next_sched += i;
                    report.max_send_lag = report.max_send_lag.max(now - origin);
                }
                issued += 1;
                last_send = Some(now);
                in_flight += 1;
                let path_idx = spec.sequence[seq_pos % spec.sequence.len()] as usize;
                seq_pos += n_threads;
                let check_body = spec.checksum_every <= 1 || issued % spec.checksum_every == 1;
                let c = &mut conns[ci];
                c.path_idx = path_idx;
                c.written = 0;
                c.reader = Some(ResponseReader::new(&spec.paths[path_idx], check_body));
                c.origin = origin;
                c.retriable = c.stream.is_some();
                let started = if c.retriable {
                    c.state = State::Writing;
                    true
                } else {
                    open(c, ci, spec, &epoll)?
                };
                let outcome = if started {
                    drive(c, requests, &mut buf, false)
                } else {
                    Some(Outcome::Err(|e| e.connect += 1))
                };
                let outcome = retry_if_closed(
                    c,
                    ci,
                    outcome,
                    spec,
                    &epoll,
                    requests,
                    &mut buf,
                    &mut report,
                )?;
                if let Some(o) = outcome {
                    finish(
                        c,
                        o,
                        spec.mode,
                        &mut report,
                        &mut idle,
                        ci,
                        &mut in_flight,
                        &mut done_count,
                    );
                }
            }
        }};
    }

    loop {
        let now = Instant::now();
        if now >= deadline {
            for c in conns.iter_mut().filter(|c| c.state != State::Idle) {
                report.errors.timeout += 1;
                c.stream = None;
                c.state = State::Idle;
            }
            end = now;
            break;
        }
        issue_due!(now);
        if !budget_left {
            // Nothing left to send: hang up the idle connections, as a finished client does.
            // A server that gives each connection a process or thread (mp, mt) is then free
            // to serve the connections still waiting in its backlog.
            for ci in idle.all() {
                conns[ci].stream = None;
            }
        }
        if !budget_left && in_flight == 0 {
            end = Instant::now();
            break;
        }
        // Sleep until an event, the next scheduled send, or a bound.
        let mut wake = deadline.min(now + Duration::from_millis(50));
        if let Some(s) = stop_issuing {
            if budget_left {
                wake = wake.min(s);
            }
        }
        if interval.is_some() && budget_left && !idle.ready.is_empty() {
            wake = wake.min(next_sched);
        }
        if budget_left {
            if let Some(at) = idle.next_wake() {
                // Precise wake-up by the timer; epoll's timeout only as a coarse bound.
                idle.arm(now)?;
                wake = wake.min(at + Duration::from_millis(1));
            }
        }
        let ms = wake
            .saturating_duration_since(now)
            .as_micros()
            .div_ceil(1000);
        let n = match epoll.wait(
            &mut events,
            EpollTimeout::from(ms.min(u16::MAX as u128) as u16),
        ) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        for ev in &events[..n] {
            if ev.data() == TIMER {
                idle.fired();
                issue_due!(Instant::now());
                continue;
            }
            let ci = ev.data() as usize;
            let c = &mut conns[ci];
            if c.state == State::Idle {
                // An idle keep-alive connection became readable: the server closed it (or
                // sent something unasked). Drop it; the next request reconnects. Not an error:
                // no request was outstanding.
                if c.stream.is_some() {
                    let mut probe = [0u8; 1];
                    match c.stream.as_mut().expect("checked").read(&mut probe) {
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        _ => c.stream = None,
                    }
                }
                continue;
            }
            // The readiness this event reports is consumed here (edge-triggered): if it says
            // the socket is readable, `drive` must read after its write, or an EOF that
            // arrived with it (a server that closed the connection) would never be seen.
            let readable = ev.events().intersects(
                EpollFlags::EPOLLIN
                    | EpollFlags::EPOLLRDHUP
                    | EpollFlags::EPOLLHUP
                    | EpollFlags::EPOLLERR,
            );
            let outcome = drive(c, requests, &mut buf, readable);
            if let Some(o) = retry_if_closed(
                c,
                ci,
                outcome,
                spec,
                &epoll,
                requests,
                &mut buf,
                &mut report,
            )? {
                finish(
                    c,
                    o,
                    spec.mode,
                    &mut report,
                    &mut idle,
                    ci,
                    &mut in_flight,
                    &mut done_count,
                );
                issue_due!(Instant::now());
            }
        }
    }
    let cpu = thread_cpu().saturating_sub(cpu0);
    let _ = done_count;
    Ok(ThreadResult {
        report,
        cpu,
        core,
        end,
        issued,
        last_send,
    })
}

/// Opens a new connection for `c` (registered under `ci`); its state is then `Connecting`
/// until the connect completes. `Ok(false)`: the connect failed at once.
fn open(c: &mut Conn, ci: usize, spec: &LoadSpec, epoll: &Epoll) -> io::Result<bool> {
    match crate::sys::connect::connect_nonblocking(spec.addr) {
        Ok((s, done)) => {
            register(epoll, &s, ci)?;
            c.stream = Some(s);
            c.state = if done {
                State::Writing
            } else {
                State::Connecting
            };
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}

/// On [`Outcome::Retry`], sends the request again on a new connection (counted in
/// `retries`; the latency origin stays); every other outcome passes through.
#[allow(clippy::too_many_arguments)]
fn retry_if_closed(
    c: &mut Conn,
    ci: usize,
    outcome: Option<Outcome>,
    spec: &LoadSpec,
    epoll: &Epoll,
    requests: &[Vec<u8>],
    buf: &mut [u8],
    report: &mut LoadReport,
) -> io::Result<Option<Outcome>> {
    if !matches!(outcome, Some(Outcome::Retry)) {
        return Ok(outcome);
    }
    report.retries += 1;
    c.retriable = false;
    c.stream = None;
    c.written = 0;
    if !open(c, ci, spec, epoll)? {
        return Ok(Some(Outcome::Err(|e| e.connect += 1)));
    }
    Ok(drive(c, requests, buf, false))
}

#[allow(clippy::too_many_arguments)]
fn finish(
    c: &mut Conn,
    o: Outcome,
    mode: ConnMode,
    report: &mut LoadReport,
    idle: &mut Idle,
    ci: usize,
    in_flight: &mut usize,
    done_count: &mut u64,
) {
    let now = Instant::now();
    match o {
        Outcome::Ok(body) => {
            report.ok += 1;
            report.body_bytes += body;
            let ns = (now.saturating_duration_since(c.origin).as_nanos() as u64).max(1);
            report.latency_ns.saturating_record(ns);
            if let Some(raw) = report.raw_latencies_ns.as_mut() {
                raw.push(ns);
            }
            let server_closes = c.reader.as_ref().is_some_and(|r| r.server_closes);
            if mode == ConnMode::Close || server_closes {
                c.stream = None;
            }
        }
        Outcome::Err(count) => {
            count(&mut report.errors);
            c.stream = None;
        }
        Outcome::Retry => unreachable!("retry_if_closed resends before finish"),
    }
    c.reader = None;
    c.state = State::Idle;
    idle.rest(ci, now);
    *in_flight -= 1;
    *done_count += 1;
}

/// Advances one connection as far as it can go without blocking. `Some` when its request ended.
/// `readable`: the event being handled said the socket is readable (or hung up), so after the
/// request is written the socket is read at once instead of waiting for an edge already spent.
fn drive(c: &mut Conn, requests: &[Vec<u8>], buf: &mut [u8], readable: bool) -> Option<Outcome> {
    loop {
        let stream = c.stream.as_mut()?;
        match c.state {
            State::Idle => return None,
            State::Connecting => match stream.take_error() {
                Ok(None) => {
                    // Connected only if the peer address is known; otherwise still in progress.
                    match stream.peer_addr() {
                        Ok(_) => c.state = State::Writing,
                        Err(e) if e.kind() == ErrorKind::NotConnected => return None,
                        Err(_) => return Some(Outcome::Err(|e| e.connect += 1)),
                    }
                }
                _ => return Some(Outcome::Err(|e| e.connect += 1)),
            },
            State::Writing => {
                let req = &requests[c.path_idx];
                match stream.write(&req[c.written..]) {
                    Ok(n) => {
                        c.written += n;
                        if c.written == req.len() {
                            // No speculative read unless the event said the socket is readable:
                            // the response cannot be there yet, and the edge-triggered
                            // registration reports it when it arrives (saves one EAGAIN read
                            // per request). But an EOF that came with this event (the server
                            // closed the connection as it was opened or reused) has had its
                            // edge: read now, or the request waits for the deadline.
                            c.state = State::Reading;
                            if !readable {
                                return None;
                            }
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return Some(closed(c.retriable)),
                }
            }
            State::Reading => match stream.read(buf) {
                Ok(0) => return Some(closed(c.retriable)),
                Ok(n) => {
                    c.retriable = false;
                    let reader = c.reader.as_mut().expect("reader set with the request");
                    match reader.feed(&buf[..n]) {
                        Progress::More => {}
                        Progress::Done {
                            body_bytes,
                            extra: 0,
                        } => return Some(Outcome::Ok(body_bytes)),
                        Progress::Done { .. } => return Some(Outcome::Err(|e| e.malformed += 1)),
                        Progress::Invalid(Invalid::Status(_)) => {
                            return Some(Outcome::Err(|e| e.status += 1))
                        }
                        Progress::Invalid(Invalid::Length { .. }) => {
                            return Some(Outcome::Err(|e| e.length += 1))
                        }
                        Progress::Invalid(Invalid::Checksum) => {
                            return Some(Outcome::Err(|e| e.checksum += 1))
                        }
                        Progress::Invalid(Invalid::Malformed) => {
                            return Some(Outcome::Err(|e| e.malformed += 1))
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Some(closed(c.retriable)),
            },
        }
    }
}

/// The server closed or reset the connection before the whole answer: a retry while no byte
/// of it came on a reused connection, otherwise a `reset` error.
fn closed(retriable: bool) -> Outcome {
    if retriable {
        Outcome::Retry
    } else {
        Outcome::Err(|e| e.reset += 1)
    }
}
