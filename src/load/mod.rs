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
//! - Client CPU utilisation of the client cores is measured; ≥ 95 % marks the result
//!   `client_bound` (the server's figure is then a lower bound).
//!
//! It does not measure: DNS, TLS, HTTP pipelining, or request bodies.

pub mod e2e;
pub mod engine;
pub mod validate;
pub mod workload;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use validate::Expected;

/// Client CPU utilisation at or above which a result is `client_bound`.
pub const CLIENT_BOUND_UTIL: f64 = 0.95;

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
    /// Hard end: requests still outstanding then count as timeouts.
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
    fn add(&mut self, o: &ErrorCounts) {
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
}

impl LoadReport {
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
        if let Some((asked, got)) = self.rate_shortfall {
            s += &format!(
                "RATE NOT SUSTAINED: asked {asked:.0} req/s, achieved {got:.0} req/s (sends up to {:.1} ms late)\n",
                self.max_send_lag.as_secs_f64() * 1e3
            );
        }
        s
    }
    fn merge(&mut self, o: &LoadReport) {
        self.ok += o.ok;
        self.errors.add(&o.errors);
        self.body_bytes += o.body_bytes;
        self.latency_ns
            .add(&o.latency_ns)
            .expect("same histogram bounds");
        self.max_send_lag = self.max_send_lag.max(o.max_send_lag);
    }
}

/// A latency histogram in ns: 1 ns .. 100 s, 3 significant digits.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// Fetches `path` once (keep-alive off) and returns what the server serves for it: its size
/// and checksum become the expectation every later response is held to. For servers whose
/// docroot the client does not know (nginx, Apache).
pub fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<Expected> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    // Bounded by the read timeout and a 1 GiB cap.
    s.take(1 << 30).read_to_end(&mut buf)?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, format!("probe {path}: {m}"));
    let n = match resp.parse(&buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err(bad("malformed response")),
    };
    if resp.code != Some(200) {
        return Err(bad(&format!("status {:?}", resp.code)));
    }
    let body = &buf[n..];
    let len = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .ok_or_else(|| bad("no Content-Length"))?;
    if len != body.len() as u64 {
        return Err(bad("body shorter than Content-Length"));
    }
    Ok(Expected {
        path: path.to_owned(),
        size: len,
        checksum: validate::checksum(body),
    })
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
    engine::run(spec)
}
