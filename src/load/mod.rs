//! The load generator: drives any HTTP/1.x server over loopback (or a remote host the user
//! names with `allow_remote`) and validates every response.
//!
//! ```text
//!   client core(s)                         server core(s)
//!   thread 0: epoll ── conn 0..k ──────▶  threadbench serve / nginx / ...
//!   thread 1: epoll ── conn k..C ──────▶
//! ```
//!
//! - **Closed loop**: each connection sends a request, reads the whole response, repeats
//!   (keep-alive), or opens a new connection per request (`Connection: close`, as in the Flash
//!   paper's HTTP/1.0 tests).
//! - **Open loop** (`rate`): requests leave on a fixed timetable; latency is measured from the
//!   *scheduled* send time, so a server (or client) that falls behind shows it in the
//!   percentiles instead of hiding it (coordinated omission, as wrk2 corrects it). A rate the
//!   generator could not keep is reported ([`LoadReport::rate_shortfall`]).
//! - Every response is validated ([`validate`]); errors, resets and timeouts are counted.
//! - Every run is bounded: a request budget and/or a duration, plus a hard deadline after which
//!   outstanding requests count as timeouts.
//! - Client CPU utilisation of the client cores is measured; ≥ 90 % marks the result
//!   `client_bound` (the server's figure is then a lower bound).
//!
//! It does not measure: DNS, TLS, HTTP pipelining, or request bodies.

pub mod engine;
pub mod hist_log;
pub mod plan;
pub mod validate;
pub mod workload;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use validate::Expected;

/// Longest open-loop send interval of one client thread (so `rate` has a floor of 0.001
/// req/s per thread).
pub const MAX_SEND_INTERVAL_S: f64 = 1000.0;

/// Client CPU utilisation at or above which a `threadbench load` result is `client_bound`:
/// the same default as the profiles' `[report] client_bound_util` (at ≥ 90 % the generator,
/// not the server, is suspect of setting the pace).
pub const CLIENT_BOUND_UTIL: f64 = 0.90;

/// How connections are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnMode {
    KeepAlive,
    /// `Connection: close`: a new connection per request.
    Close,
}

/// One load run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub addr: SocketAddr,
    /// The files that may be requested, with their expected size and checksum.
    pub paths: Arc<Vec<Expected>>,
    /// Indexes into `paths` in request order (cycled); threads interleave over it.
    pub sequence: Arc<Vec<u32>>,
    pub conns: usize,
    pub mode: ConnMode,
    /// Stop after this many requests (issued; each ends as a success or an error).
    pub requests: Option<u64>,
    /// Stop issuing after this long.
    pub duration: Option<Duration>,
    /// Hard end, counted from the call to [`run`] (connection set-up included): requests
    /// still outstanding then count as timeouts.
    pub deadline: Duration,
    /// Open loop: requests per second over all threads.
    pub rate: Option<f64>,
    /// Client cores: one thread per core, pinned.
    pub cores: Vec<usize>,
    /// Check the body checksum of every n-th response per thread (1 = all).
    pub checksum_every: u64,
    pub allow_remote: bool,
    /// Keep-alive: open every connection before the clock starts (the Flash tests' clients
    /// hold their connections; a connect storm inside the timing would measure the accept
    /// queue, not the server's steady state).
    pub preconnect: bool,
    /// Closed loop: each connection idles this long on average between a response and its
    /// next request (exponentially distributed, from `seed`): many mostly idle connections,
    /// as the Flash paper's WAN clients. Latency is still measured from the send.
    pub think_time: Option<Duration>,
    /// Seed of the think-time draws (each client thread draws from `seed + thread index`).
    pub seed: u64,
    /// A network namespace (`/run/netns/<name>`) the client threads enter before they
    /// connect: the two-host mode, where the server runs in another namespace.
    pub netns: Option<PathBuf>,
    /// Keep every latency in [`LoadReport::raw_latencies_ns`] too (tests check the
    /// histograms against them); off, nothing per request is kept.
    pub keep_latencies: bool,
}

impl LoadSpec {
    /// A closed-loop, keep-alive spec for one path, unpinned, 10 s deadline.
    pub fn new(addr: SocketAddr, paths: Vec<Expected>) -> LoadSpec {
        let n = paths.len() as u32;
        LoadSpec {
            addr,
            paths: Arc::new(paths),
            sequence: Arc::new((0..n).collect()),
            conns: 1,
            mode: ConnMode::KeepAlive,
            requests: None,
            duration: None,
            deadline: Duration::from_secs(10),
            rate: None,
            cores: Vec::new(),
            checksum_every: 16,
            allow_remote: false,
            preconnect: true,
            think_time: None,
            seed: 1999,
            netns: None,
            keep_latencies: false,
        }
    }
}

/// Error counts by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    pub status: u64,
    pub length: u64,
    pub checksum: u64,
    pub malformed: u64,
    /// Connection reset or closed before the response was complete.
    pub reset: u64,
    pub connect: u64,
    /// Outstanding at the deadline.
    pub timeout: u64,
}

impl ErrorCounts {
    pub fn total(&self) -> u64 {
        self.status
            + self.length
            + self.checksum
            + self.malformed
            + self.reset
            + self.connect
            + self.timeout
    }
    pub fn add(&mut self, o: &ErrorCounts) {
        self.status += o.status;
        self.length += o.length;
        self.checksum += o.checksum;
        self.malformed += o.malformed;
        self.reset += o.reset;
        self.connect += o.connect;
        self.timeout += o.timeout;
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyUs {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl LatencyUs {
    /// From a histogram recorded in nanoseconds.
    pub fn from_hist_ns(h: &Histogram<u64>) -> LatencyUs {
        if h.is_empty() {
            return LatencyUs::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        LatencyUs {
            min: us(h.min()),
            mean: h.mean() / 1000.0,
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p95: us(h.value_at_quantile(0.95)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        }
    }
}

/// The `--json` object: exactly the keys the CLI documents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoadJson {
    pub requests: u64,
    pub errors: u64,
    pub elapsed_s: f64,
    pub req_per_s: f64,
    pub bytes_per_s: f64,
    pub latency_us: LatencyUs,
    pub client_cpu_util: f64,
    pub client_bound: bool,
    /// Requests sent again on a new connection (see [`LoadReport::retries`]).
    pub retries: u64,
}

/// What one run did.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Successful (validated) responses.
    pub ok: u64,
    pub errors: ErrorCounts,
    pub elapsed: Duration,
    /// Body bytes of successful responses.
    pub body_bytes: u64,
    /// Latency in ns (from the scheduled send time in the open loop).
    pub latency_ns: Histogram<u64>,
    /// Highest CPU utilisation over the client cores during the run (0..1).
    pub client_cpu_util: f64,
    /// Open loop: `Some((asked, achieved))` when the generator fell behind its timetable
    /// (sent requests more than 10 % later than scheduled on average or finished under 90 % of
    /// the asked rate).
    pub rate_shortfall: Option<(f64, f64)>,
    /// Largest lag between a request's scheduled and actual send time (open loop).
    pub max_send_lag: Duration,
    /// Requests sent again, once, on a new connection because the server closed the reused
    /// keep-alive connection they went out on before any byte of their answer (RFC 9112
    /// §9.3.1: a client may retry an idempotent request then, as browsers and curl do; Apache's
    /// event MPM closes idle keep-alive connections when all its workers are busy). Their
    /// latency counts from the first send; a second failure is an error.
    pub retries: u64,
    /// Wall-clock time the clock started (the interval log's start timestamp).
    pub started: SystemTime,
    /// Every latency in ns, when [`LoadSpec::keep_latencies`].
    pub raw_latencies_ns: Option<Vec<u64>>,
}

impl LoadReport {
    /// Nothing done yet, started `started`.
    pub fn empty(started: SystemTime) -> LoadReport {
        LoadReport {
            ok: 0,
            errors: ErrorCounts::default(),
            elapsed: Duration::ZERO,
            body_bytes: 0,
            latency_ns: new_hist(),
            client_cpu_util: 0.0,
            rate_shortfall: None,
            max_send_lag: Duration::ZERO,
            retries: 0,
            started,
            raw_latencies_ns: None,
        }
    }

    pub fn client_bound(&self) -> bool {
        self.client_cpu_util >= CLIENT_BOUND_UTIL
    }
    pub fn req_per_s(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn bytes_per_s(&self) -> f64 {
        self.body_bytes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn latency_us(&self) -> LatencyUs {
        LatencyUs::from_hist_ns(&self.latency_ns)
    }
    pub fn json(&self) -> LoadJson {
        LoadJson {
            requests: self.ok,
            errors: self.errors.total(),
            elapsed_s: self.elapsed.as_secs_f64(),
            req_per_s: self.req_per_s(),
            bytes_per_s: self.bytes_per_s(),
            latency_us: self.latency_us(),
            client_cpu_util: self.client_cpu_util,
            client_bound: self.client_bound(),
            retries: self.retries,
        }
    }
    /// Readable summary for the CLI.
    pub fn summary(&self) -> String {
        let l = self.latency_us();
        let e = &self.errors;
        let mut s = format!(
            "requests    {} ok, {} errors (status {}, length {}, checksum {}, malformed {}, reset {}, connect {}, timeout {})\n\
             elapsed     {:.3} s\nthroughput  {:.0} req/s, {:.2} MB/s\n\
             latency µs  min {:.1} mean {:.1} p50 {:.1} p90 {:.1} p95 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}\n\
             client cpu  {:.0} %{}\n",
            self.ok, e.total(), e.status, e.length, e.checksum, e.malformed, e.reset, e.connect, e.timeout,
            self.elapsed.as_secs_f64(), self.req_per_s(), self.bytes_per_s() / 1e6,
            l.min, l.mean, l.p50, l.p90, l.p95, l.p99, l.p999, l.max,
            self.client_cpu_util * 100.0,
            if self.client_bound() { " — CLIENT BOUND: the server figure is a lower bound" } else { "" },
        );
        if self.retries > 0 {
            s += &format!(
                "retried     {} (the server closed a reused keep-alive connection before answering; sent again on a new one)\n",
                self.retries
            );
        }
        if let Some((asked, got)) = self.rate_shortfall {
            s += &format!(
                "RATE NOT SUSTAINED: asked {asked:.0} req/s, achieved {got:.0} req/s (sends up to {:.1} ms late)\n",
                self.max_send_lag.as_secs_f64() * 1e3
            );
        }
        s
    }
    /// Adds `o`'s counts and histogram (never its percentiles) to this report; elapsed and
    /// client CPU stay this report's (the callers know whether the runs were side by side).
    fn merge(&mut self, o: &LoadReport) {
        self.ok += o.ok;
        self.errors.add(&o.errors);
        self.body_bytes += o.body_bytes;
        self.latency_ns
            .add(&o.latency_ns)
            .expect("same histogram bounds");
        self.max_send_lag = self.max_send_lag.max(o.max_send_lag);
        self.retries += o.retries;
        if let Some(raw) = &o.raw_latencies_ns {
            self.raw_latencies_ns
                .get_or_insert_with(Vec::new)
                .extend_from_slice(raw);
        }
    }
}

/// A latency histogram in ns: 1 ns .. 100 s, 3 significant digits.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// Largest body a probe accepts (it streams the body through the checksum, not into memory).
const PROBE_MAX_BODY: u64 = 1 << 30;
/// Largest response head a probe accepts.
const PROBE_MAX_HEAD: usize = 64 * 1024;

/// `2 s`, `1.5 s`: a timeout as the error messages print it.
fn fmt_secs(d: Duration) -> String {
    format!("{} s", (d.as_secs_f64() * 1e3).round() / 1e3)
}

/// Fetches `path` once and returns what the server serves for it: its size and checksum
/// become the expectation every later response is held to. For servers whose docroot the
/// client does not know (nginx, Apache).
///
/// Exactly one response is read, framed by its `Content-Length`: the request says
/// `Connection: close`, but a server that keeps the connection open anyway must not make the
/// probe wait for an EOF. The whole probe (connect, send, every read) ends within `timeout`,
/// also against a server that drips one byte at a time; the error then says
/// `no response within <timeout>`.
pub fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<Expected> {
    use io::{ErrorKind, Read, Write};
    let end = Instant::now() + timeout;
    let timed_out = |got: u64| {
        let what = if got == 0 {
            String::new()
        } else {
            format!(" ({got} bytes received, response incomplete)")
        };
        io::Error::new(
            ErrorKind::TimedOut,
            format!("GET {path}: no response within {}{what}", fmt_secs(timeout)),
        )
    };
    let bad = |m: String| io::Error::new(ErrorKind::InvalidData, format!("GET {path}: {m}"));
    let left = || {
        let l = end.saturating_duration_since(Instant::now());
        (!l.is_zero()).then_some(l)
    };
    let mut s = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            return Err(timed_out(0))
        }
        Err(e) => return Err(io::Error::new(e.kind(), format!("connecting: {e}"))),
    };
    s.set_write_timeout(Some(left().ok_or_else(|| timed_out(0))?))?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    match s.write_all(req.as_bytes()) {
        Ok(()) => {}
        Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            return Err(timed_out(0))
        }
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("sending the request: {e}"),
            ))
        }
    }
    let mut head = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut received = 0u64;
    // Set once the head is parsed: (body bytes still to come, checksum so far, body size).
    let mut body: Option<(u64, validate::Fnv, u64)> = None;
    loop {
        if let Some((0, fnv, size)) = body {
            return Ok(Expected {
                path: path.to_owned(),
                size,
                checksum: fnv.finish(),
            });
        }
        // Re-armed before every read: the bound is the whole probe, not one read.
        s.set_read_timeout(Some(left().ok_or_else(|| timed_out(received))?))?;
        let n = match s.read(&mut chunk) {
            Ok(0) => {
                return Err(bad(format!(
                    "the server closed the connection after {received} bytes, before the \
                     response was complete"
                )))
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                return Err(timed_out(received))
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("reading the response: {e}"),
                ))
            }
        };
        received += n as u64;
        let data: &[u8] = match body.as_mut() {
            Some(_) => &chunk[..n],
            None => {
                head.extend_from_slice(&chunk[..n]);
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut resp = httparse::Response::new(&mut headers);
                let head_len = match resp.parse(&head) {
                    Ok(httparse::Status::Complete(h)) => h,
                    Ok(httparse::Status::Partial) if head.len() <= PROBE_MAX_HEAD => continue,
                    Ok(httparse::Status::Partial) => {
                        return Err(bad(format!(
                            "response head longer than {} KiB",
                            PROBE_MAX_HEAD / 1024
                        )))
                    }
                    Err(e) => return Err(bad(format!("malformed response ({e})"))),
                };
                let code = resp.code.unwrap_or(0);
                if code != 200 {
                    return Err(io::Error::new(
                        ErrorKind::InvalidData,
                        format!(
                            "GET {path} answered {code} {}; the load needs paths that answer 200",
                            resp.reason.unwrap_or("")
                        ),
                    ));
                }
                let header = |name: &str| {
                    resp.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
                };
                let size = match header("content-length") {
                    Some(v) => v
                        .parse::<u64>()
                        .map_err(|_| bad(format!("bad Content-Length {v:?}")))?,
                    None if header("transfer-encoding").is_some() => {
                        return Err(bad(
                            "answered with a chunked body; the load needs a Content-Length".into(),
                        ))
                    }
                    None => return Err(bad("the response has no Content-Length".into())),
                };
                if size > PROBE_MAX_BODY {
                    return Err(bad(format!(
                        "body of {size} bytes is over the probe's {} MiB cap",
                        PROBE_MAX_BODY >> 20
                    )));
                }
                body = Some((size, validate::Fnv::default(), size));
                // The bytes after the head are body: all from this read, since the head was
                // incomplete before it.
                let from_this_read = head.len() - head_len;
                &chunk[n - from_this_read..n]
            }
        };
        let (left_bytes, fnv, _) = body.as_mut().expect("head parsed");
        let take = (*left_bytes).min(data.len() as u64) as usize;
        fnv.update(&data[..take]);
        *left_bytes -= take as u64;
    }
}

/// Resolves a target (`127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`) to its addresses,
/// IPv4 first (`threadbench serve` binds 127.0.0.1). Without `allow_remote` only loopback
/// addresses are kept and a target that has none is refused.
pub fn resolve_target(target: &str, allow_remote: bool) -> io::Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs;
    let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
    let mut addrs: Vec<SocketAddr> = match target.parse::<SocketAddr>() {
        Ok(a) => vec![a],
        Err(_) => {
            let (host, port) = target
                .rsplit_once(':')
                .filter(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "{target:?} is not HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080, localhost:8080)"
                    ))
                })?;
            (host, port.parse::<u16>().expect("checked"))
                .to_socket_addrs()
                .map_err(|e| invalid(format!("cannot resolve {host:?}: {e}")))?
                .collect()
        }
    };
    addrs.sort_by_key(|a| a.is_ipv6());
    addrs.dedup();
    let all = addrs.clone();
    if !allow_remote {
        addrs.retain(|a| a.ip().is_loopback());
    }
    if addrs.is_empty() {
        let list: Vec<String> = all.iter().map(ToString::to_string).collect();
        return Err(invalid(if list.is_empty() {
            format!("{target} resolves to no address")
        } else if list.len() == 1 && list[0] == target {
            format!(
                "{target} is not a loopback address (pass --allow-remote to load a remote host)"
            )
        } else {
            format!(
                "{target} resolves to {}, not a loopback address (pass --allow-remote to load a remote host)",
                list.join(", ")
            )
        }));
    }
    Ok(addrs)
}

/// The first of `addrs` that accepts a TCP connection within `timeout` (`localhost` may
/// resolve to `::1` and `127.0.0.1` while the server listens on one); with none, the first
/// address, whose probe then reports the error.
pub fn pick_reachable(addrs: &[SocketAddr], timeout: Duration) -> SocketAddr {
    if addrs.len() > 1 {
        let end = Instant::now() + timeout;
        for a in addrs {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if TcpStream::connect_timeout(a, left).is_ok() {
                return *a;
            }
        }
    }
    addrs[0]
}

/// Runs the load described by `spec` (see [`engine`]).
pub fn run(spec: &LoadSpec) -> io::Result<LoadReport> {
    if !spec.allow_remote && !spec.addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is not a loopback address (pass --allow-remote to load a remote host)",
                spec.addr
            ),
        ));
    }
    if spec.requests.is_none() && spec.duration.is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a run needs a request count or a duration",
        ));
    }
    if spec.paths.is_empty() || spec.sequence.is_empty() || spec.conns == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no paths or no connections",
        ));
    }
    if spec.duration.is_some_and(|d| d.is_zero()) || spec.requests == Some(0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a zero duration or request count does nothing",
        ));
    }
    if spec.think_time.is_some() && spec.rate.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "think time is for the closed loop: with a rate the timetable sets when requests leave",
        ));
    }
    if let Some(rate) = spec.rate {
        // The engine turns the rate into a per-thread send interval; refuse what cannot be
        // one instead of panicking in a client thread.
        let interval_s = spec.cores.len().max(1) as f64 / rate;
        if !(rate.is_finite() && rate > 0.0 && interval_s <= MAX_SEND_INTERVAL_S) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "rate {rate} req/s: need a finite rate of at least {} req/s",
                    spec.cores.len().max(1) as f64 / MAX_SEND_INTERVAL_S
                ),
            ));
        }
    }
    engine::run(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Serves `resp` to one connection, in `chunks` bytes every `gap`, then holds the
    /// connection open until the client closes it.
    fn one_shot(
        resp: &'static [u8],
        chunk: usize,
        gap: Duration,
    ) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req);
            for part in resp.chunks(chunk) {
                if s.write_all(part).is_err() {
                    return;
                }
                std::thread::sleep(gap);
            }
            // Keep the connection open (despite `Connection: close`) until the client goes.
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let _ = s.read(&mut req);
        });
        (addr, h)
    }

    #[test]
    fn probe_reads_one_response_by_its_content_length() {
        let (addr, h) = one_shot(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            7,
            Duration::ZERO,
        );
        let started = Instant::now();
        let e = probe(addr, "/f", Duration::from_secs(5)).expect("probe");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "did not wait for EOF"
        );
        assert_eq!((e.size, e.checksum), (5, validate::checksum(b"hello")));
        h.join().expect("server");
    }

    #[test]
    fn probe_of_a_dripping_server_ends_at_its_timeout() {
        let (addr, h) = one_shot(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            1,
            Duration::from_millis(200),
        );
        let started = Instant::now();
        let err = probe(addr, "/f", Duration::from_millis(500)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "{err}");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            err.to_string().contains("GET /f: no response within 0.5 s"),
            "{err}"
        );
        h.join().expect("server");
    }

    #[test]
    fn probe_names_a_non_200_answer() {
        let (addr, h) = one_shot(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            64,
            Duration::ZERO,
        );
        let err = probe(addr, "/nosuch", Duration::from_secs(5)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "GET /nosuch answered 404 Not Found; the load needs paths that answer 200"
        );
        h.join().expect("server");
    }

    #[test]
    fn targets_resolve_and_stay_on_loopback() {
        assert_eq!(
            resolve_target("127.0.0.1:8080", false).unwrap(),
            vec!["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
        );
        let local = resolve_target("localhost:8080", false).unwrap();
        assert!(
            local
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8080),
            "{local:?}"
        );
        let err = resolve_target("10.1.2.3:80", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a loopback address"), "{err}");
        assert!(resolve_target("10.1.2.3:80", true).is_ok());
        for bad in ["localhost", "localhost:", ":80", "localhost:99999"] {
            let err = resolve_target(bad, false).unwrap_err().to_string();
            assert!(err.contains("is not HOST:PORT"), "{bad}: {err}");
        }
    }

    #[test]
    fn run_refuses_rates_it_cannot_schedule() {
        let mut spec = LoadSpec::new(
            "127.0.0.1:9".parse().unwrap(),
            vec![validate::Expected {
                path: "/".into(),
                size: 0,
                checksum: 0,
            }],
        );
        spec.requests = Some(1);
        for rate in [0.0, -5.0, f64::NAN, f64::INFINITY, 1e-9] {
            spec.rate = Some(rate);
            let err = run(&spec).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{rate}: {err}");
        }
        spec.rate = None;
        spec.duration = Some(Duration::ZERO);
        spec.requests = None;
        assert!(run(&spec).is_err());
    }
}
