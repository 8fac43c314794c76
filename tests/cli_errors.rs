//! Bad input to the binary is a clear error (`threadbench: error: ...`, exit status 2), never a
//! panic (exit 101) or a run that silently does something else (issue 13, points 6 and 7).
//! The load probe against servers that misbehave: one that keeps the connection open after
//! `Connection: close`, one that drips a byte a second.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn threadbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_threadbench"))
        .args(args)
        .output()
        .expect("running threadbench")
}

/// Asserts exit status 2, the error prefix, no panic, and that stderr contains `needle`;
/// returns stderr.
fn fails_with(args: &[&str], needle: &str) -> String {
    let out = threadbench(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.starts_with("threadbench: "), "{args:?}: {err}");
    assert!(err.contains("threadbench: error: "), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: want {needle:?} in: {err}");
    err
}

/// A docroot that exists (serve checks it before anything else).
fn docroot() -> String {
    std::env::temp_dir().to_string_lossy().into_owned()
}

/// A loopback port nobody listens on (bound, then released).
fn dead_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("addr");
    drop(l);
    a.to_string()
}

fn offline_cpu() -> (usize, String) {
    let online = threadbench::pin::online_cpus().expect("online CPUs");
    let cpu = online.iter().max().expect("a CPU") + 1;
    (cpu, threadbench::pin::format_cpu_list(&online))
}

#[test]
fn cores_that_are_not_online_are_named_with_the_online_list() {
    let (cpu, online) = offline_cpu();
    let want = format!("CPU {cpu} is not online; online: {online}");
    let c = cpu.to_string();
    fails_with(
        &[
            "serve",
            "--model",
            "mt",
            "--docroot",
            &docroot(),
            "--cores",
            &c,
        ],
        &want,
    );
    fails_with(
        &[
            "load",
            "--target",
            &dead_port(),
            "--requests",
            "1",
            "--cores",
            &c,
        ],
        &want,
    );
    fails_with(
        &[
            "serve",
            "--model",
            "mt",
            "--docroot",
            &docroot(),
            "--cores",
            "x",
        ],
        "cannot parse --cores",
    );
}

#[test]
fn target_must_be_host_and_port_and_loopback() {
    fails_with(
        &["load", "--target", "localhost", "--requests", "1"],
        "\"localhost\" is not HOST:PORT",
    );
    fails_with(
        &["load", "--target", "10.1.2.3:80", "--requests", "1"],
        "10.1.2.3:80 is not a loopback address (pass --allow-remote",
    );
    // A host name is resolved (the connection is then refused: nobody listens there).
    let port = dead_port();
    let port = port.rsplit_once(':').expect("port").1;
    let err = fails_with(
        &[
            "load",
            "--target",
            &format!("localhost:{port}"),
            "--requests",
            "1",
        ],
        "Connection refused",
    );
    assert!(!err.contains("invalid value"), "{err}");
}

#[test]
fn zero_durations_counts_and_pool_sizes_are_refused() {
    let t = dead_port();
    fails_with(
        &["load", "--target", &t, "--duration", "0s"],
        "invalid value '0s' for '--duration <DURATION>': must be greater than 0",
    );
    fails_with(
        &["load", "--target", &t, "--requests", "0"],
        "invalid value '0' for '--requests <REQUESTS>': must be at least 1",
    );
    fails_with(
        &[
            "load",
            "--target",
            &t,
            "--requests",
            "1",
            "--checksum-every",
            "0",
        ],
        "invalid value '0' for '--checksum-every <CHECKSUM_EVERY>': must be at least 1",
    );
    fails_with(
        &["load", "--target", &t, "--requests", "1", "--conns", "0"],
        "invalid value '0' for '--conns <CONNS>': must be at least 1",
    );
    let d = docroot();
    fails_with(
        &["serve", "--model", "mt", "--docroot", &d, "--threads", "0"],
        "invalid value '0' for '--threads <THREADS>': must be at least 1",
    );
    fails_with(
        &[
            "serve",
            "--model",
            "mp",
            "--docroot",
            &d,
            "--processes",
            "0",
        ],
        "invalid value '0' for '--processes <PROCESSES>': must be at least 1",
    );
    fails_with(
        &[
            "reference", "--server", "apache", "--docroot", &d, "--probe", "/a",
        ],
        "invalid value 'apache' for '--server <SERVER>': unknown reference server; known: apache_prefork, apache_worker, apache_event, nginx, lighttpd",
    );
    for model in ["amped", "amted"] {
        fails_with(
            &["serve", "--model", model, "--docroot", &d, "--helpers", "0"],
            &format!("--helpers 0: {model} needs at least one helper"),
        );
    }
}

#[test]
fn bad_rates_and_negative_durations_are_errors_not_panics() {
    let t = dead_port();
    for rate in ["--rate=0", "--rate=-5", "--rate=NaN", "--rate=inf"] {
        fails_with(
            &["load", "--target", &t, "--requests", "1", rate],
            "must be a positive number of requests per second",
        );
    }
    for arg in ["--duration=-1", "--deadline=-1", "--duration=NaN"] {
        fails_with(&["load", "--target", &t, arg], "invalid value");
    }
    fails_with(
        &["load", "--target", &t, "--duration=1e30"],
        "'--duration <DURATION>': too long",
    );
    fails_with(
        &[
            "load",
            "--target",
            &t,
            "--duration",
            "5s",
            "--deadline",
            "2s",
        ],
        "--deadline 2 s is shorter than --duration 5 s",
    );
    fails_with(
        &[
            "load",
            "--target",
            &t,
            "--requests",
            "1",
            "--path",
            "nosuch",
        ],
        "must start with '/'",
    );
}

#[test]
fn conns_over_the_descriptor_limit_name_the_limit() {
    let lim = threadbench::sys::limits::nofile().expect("RLIMIT_NOFILE");
    if lim.hard >= u64::from(u32::MAX) {
        println!("skipped: RLIMIT_NOFILE's hard limit is unlimited here");
        return;
    }
    let conns = (lim.hard + 1).to_string();
    let started = Instant::now();
    let err = fails_with(
        &[
            "load",
            "--target",
            &dead_port(),
            "--duration",
            "2s",
            "--conns",
            &conns,
        ],
        &format!("--conns {conns} is over the descriptor limit: RLIMIT_NOFILE is"),
    );
    assert!(err.contains(&lim.hard.to_string()), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused up front"
    );
}

#[test]
fn load_without_a_bound_says_it_runs_five_seconds() {
    // Nobody listens: the probe fails at once, after the notice.
    fails_with(
        &["load", "--target", &dead_port()],
        "no --duration or --requests given: running for 5 s",
    );
}

#[test]
fn usage_errors_use_the_same_prefix_and_status() {
    fails_with(&["load", "--bogus"], "unexpected argument '--bogus'");
    fails_with(
        &["tree-stats", "--pid", "0"],
        "invalid value '0' for '--pid <PID>': must be a process id",
    );
}

#[test]
fn tree_stats_pid_has_help_text() {
    let out = threadbench(&["tree-stats", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let line = help
        .lines()
        .find(|l| l.trim_start().starts_with("--pid <PID>"))
        .unwrap_or_else(|| panic!("no --pid in: {help}"));
    assert!(line.contains("Root of the process tree"), "{help}");
}

/// How the test server answers.
#[derive(Clone, Copy)]
enum Behaviour {
    /// `200` with a Content-Length, then the connection stays open (also after
    /// `Connection: close`) and serves further requests.
    KeepOpen,
    /// `404 Not Found`.
    NotFound,
    /// One byte of a `200` response per second.
    Drip,
}

/// A tiny HTTP server on 127.0.0.1, stopped and joined on drop.
struct TestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    fn start(b: Behaviour) -> TestServer {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let addr = l.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let accept = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        let stop = stop2.clone();
                        conns.push(std::thread::spawn(move || serve_conn(s, b, &stop)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            for c in conns {
                c.join().expect("connection thread");
            }
        });
        TestServer {
            addr,
            stop,
            accept: Some(accept),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.accept.take() {
            h.join().expect("accept thread");
        }
    }
}

const BODY: &[u8] = b"hello";

fn serve_conn(mut s: TcpStream, b: Behaviour, stop: &AtomicBool) {
    s.set_nonblocking(false).expect("blocking");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        // One response per complete request head.
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            let ok = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", BODY.len());
            let resp = [ok.as_bytes(), BODY].concat();
            match b {
                Behaviour::KeepOpen => {
                    if s.write_all(&resp).is_err() {
                        return;
                    }
                }
                Behaviour::NotFound => {
                    let nf = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
                    if s.write_all(nf).is_err() {
                        return;
                    }
                }
                Behaviour::Drip => {
                    for byte in resp {
                        let next = Instant::now() + Duration::from_secs(1);
                        while Instant::now() < next {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        if s.write_all(&[byte]).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn load_measures_a_server_that_keeps_the_connection_open() {
    let srv = TestServer::start(Behaviour::KeepOpen);
    let target = srv.addr.to_string();
    for extra in [None, Some("--close")] {
        let mut args = vec!["load", "--target", &target, "--requests", "20", "--json"];
        args.extend(extra);
        let started = Instant::now();
        let out = threadbench(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["requests"], 20, "{args:?}: {v}");
        assert_eq!(v["errors"], 0, "{args:?}: {v}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the probe read the response by its Content-Length, not to EOF"
        );
    }
    // The host name form reaches the same server.
    let out = threadbench(&[
        "load",
        "--target",
        &format!("localhost:{}", srv.addr.port()),
        "--requests",
        "5",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn probe_of_a_missing_path_says_what_answered() {
    let srv = TestServer::start(Behaviour::NotFound);
    fails_with(
        &[
            "load",
            "--target",
            &srv.addr.to_string(),
            "--path",
            "/nosuch",
            "--requests",
            "1",
        ],
        "GET /nosuch answered 404 Not Found; the load needs paths that answer 200",
    );
}

#[test]
fn a_dripping_server_cannot_outlast_the_deadline() {
    let srv = TestServer::start(Behaviour::Drip);
    let started = Instant::now();
    let err = fails_with(
        &[
            "load",
            "--target",
            &srv.addr.to_string(),
            "--duration",
            "1s",
            "--deadline",
            "2s",
        ],
        "no response within 2 s",
    );
    let took = started.elapsed();
    assert!(err.contains("--deadline 2 s"), "{err}");
    assert!(took < Duration::from_secs(8), "took {took:?}: {err}");
}
