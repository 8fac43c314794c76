//! The load generator against a tiny test server that can misbehave on purpose.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use threadbench::load::validate::{checksum, Expected};
use threadbench::load::{run, ConnMode, LoadSpec};

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Good,
    WrongLength,
    /// Answers every request with `Connection: close` and closes, even on keep-alive.
    CloseEach,
    Reset,
    Stall,
    /// Serves one request at a time, each after this delay (single thread: requests queue).
    Slow(Duration),
    /// Answers the first request of a connection and closes it on the second, unanswered (as
    /// Apache's event MPM closes keep-alive connections when its workers are all busy).
    DropSecond,
}

const BODY: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

struct TestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            t.join().expect("test server thread");
        }
    }
}

fn serve_conn(mut s: TcpStream, b: Behaviour, stop: &AtomicBool) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let mut answered = 0;
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    while !stop.load(Ordering::SeqCst) {
        match s.read(&mut tmp) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(_) => continue,
        }
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let close = String::from_utf8_lossy(&buf[..end])
                .to_ascii_lowercase()
                .contains("connection: close");
            buf.drain(..end + 4);
            match b {
                Behaviour::Reset => {
                    // SO_LINGER 0: close sends RST instead of FIN.
                    let _ = nix::sys::socket::setsockopt(
                        &s,
                        nix::sys::socket::sockopt::Linger,
                        &nix::libc::linger {
                            l_onoff: 1,
                            l_linger: 0,
                        },
                    );
                    return;
                }
                Behaviour::Stall => continue,
                Behaviour::Slow(d) => std::thread::sleep(d),
                Behaviour::DropSecond if answered == 1 => return,
                _ => {}
            }
            let len = if b == Behaviour::WrongLength {
                BODY.len() - 1
            } else {
                BODY.len()
            };
            // One write: head and body in separate small writes would meet Nagle + delayed ACK.
            let conn_hdr = if b == Behaviour::CloseEach {
                "Connection: close\r\n"
            } else {
                ""
            };
            let mut resp =
                format!("HTTP/1.1 200 OK\r\n{conn_hdr}Content-Length: {len}\r\n\r\n").into_bytes();
            resp.extend_from_slice(&BODY[..len]);
            if s.write_all(&resp).is_err() || close || b == Behaviour::CloseEach {
                return;
            }
            answered += 1;
        }
    }
}

fn start(b: Behaviour) -> TestServer {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind test server");
    let addr = l.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut kids = Vec::new();
        for s in l.incoming() {
            if st.load(Ordering::SeqCst) {
                break;
            }
            let Ok(s) = s else { continue };
            let st2 = st.clone();
            if matches!(b, Behaviour::Slow(_)) {
                serve_conn(s, b, &st2);
            } else {
                kids.push(std::thread::spawn(move || serve_conn(s, b, &st2)));
            }
        }
        for k in kids {
            let _ = k.join();
        }
    });
    TestServer {
        addr,
        stop,
        thread: Some(thread),
    }
}

fn spec(addr: SocketAddr) -> LoadSpec {
    let mut s = LoadSpec::new(
        addr,
        vec![Expected {
            path: "/f".into(),
            size: BODY.len() as u64,
            checksum: checksum(BODY),
        }],
    );
    s.checksum_every = 1;
    s.deadline = Duration::from_secs(10);
    s
}

#[test]
fn completes_exactly_the_requests_asked() {
    let srv = start(Behaviour::Good);
    for (mode, conns) in [(ConnMode::KeepAlive, 4), (ConnMode::Close, 3)] {
        let mut s = spec(srv.addr);
        s.mode = mode;
        s.conns = conns;
        s.requests = Some(1000);
        let r = run(&s).expect("load run");
        assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
        assert_eq!(r.ok, 1000);
        assert_eq!(r.body_bytes, 1000 * BODY.len() as u64);
        assert_eq!(r.latency_ns.len(), 1000);
        let j = r.json();
        assert_eq!(j.requests, 1000);
        let keys: Vec<String> = serde_json::to_value(&j)
            .expect("json")
            .as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys.len(), 9, "{keys:?}");
        assert_eq!(j.retries, 0);
    }
}

/// A server that serves one connection at a time (mp or mt with more connections than
/// workers): a connection whose client has nothing left to send must be hung up, or the
/// connections queued behind it are never served.
#[test]
fn hangs_up_finished_connections_so_a_serial_server_serves_the_rest() {
    let srv = start(Behaviour::Slow(Duration::from_millis(1)));
    let mut s = spec(srv.addr);
    s.conns = 4;
    s.requests = Some(4);
    s.deadline = Duration::from_secs(5);
    let r = run(&s).expect("load run");
    assert_eq!((r.ok, r.errors.total()), (4, 0), "{:?}", r.errors);
}

#[test]
fn honours_connection_close_from_the_server() {
    let srv = start(Behaviour::CloseEach);
    let mut s = spec(srv.addr);
    s.conns = 2;
    s.requests = Some(200);
    let r = run(&s).expect("load run");
    assert_eq!((r.ok, r.errors.total()), (200, 0), "{:?}", r.errors);
}

/// A reused keep-alive connection the server closes before answering: the request goes out
/// again on a new connection, once (counted as a retry, not an error); a fresh connection
/// closed unanswered stays an error (`counts_wrong_length_reset_and_stall_as_errors`).
#[test]
fn retries_a_request_once_when_the_server_closes_a_reused_connection() {
    let srv = start(Behaviour::DropSecond);
    let mut s = spec(srv.addr);
    s.requests = Some(100);
    let r = run(&s).expect("load run");
    assert_eq!((r.ok, r.errors.total()), (100, 0), "{:?}", r.errors);
    // Every request after the first went out on a reused connection first.
    assert_eq!(r.retries, 99);
    assert_eq!(r.latency_ns.len(), 100);
    assert!(r.summary().contains("retried     99"), "{}", r.summary());
}

#[test]
fn counts_wrong_length_reset_and_stall_as_errors() {
    let srv = start(Behaviour::WrongLength);
    let mut s = spec(srv.addr);
    s.requests = Some(50);
    let r = run(&s).expect("load run");
    assert_eq!((r.ok, r.errors.length), (0, 50));

    let srv = start(Behaviour::Reset);
    let mut s = spec(srv.addr);
    s.requests = Some(20);
    let r = run(&s).expect("load run");
    assert_eq!((r.ok, r.errors.reset), (0, 20));

    let srv = start(Behaviour::Stall);
    let mut s = spec(srv.addr);
    s.conns = 2;
    s.requests = Some(10);
    s.deadline = Duration::from_millis(300);
    let r = run(&s).expect("load run");
    assert_eq!(
        (r.ok, r.errors.timeout),
        (0, 2),
        "two requests outstanding at the deadline"
    );
    assert!(
        r.elapsed < Duration::from_secs(5),
        "bounded by the deadline"
    );
}

#[test]
fn refuses_remote_targets_and_counts_refused_connections() {
    let mut s = spec("10.1.2.3:80".parse().expect("addr"));
    s.requests = Some(1);
    assert!(run(&s).is_err());
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let mut s = spec(port);
    s.requests = Some(5);
    let r = run(&s).expect("load run");
    assert_eq!(r.errors.connect, 5);
}

#[test]
fn open_loop_latency_counts_from_the_scheduled_time() {
    // One connection, a server that takes 20 ms per request, and a schedule of one request
    // every 5 ms: each request waits for the ones before it. Measured from the scheduled
    // time the latency grows with the backlog (the last of 20 is ~300 ms late); measured from
    // the actual send it would stay ~20 ms.
    let srv = start(Behaviour::Slow(Duration::from_millis(20)));
    let mut s = spec(srv.addr);
    s.requests = Some(20);
    s.rate = Some(200.0);
    let r = run(&s).expect("load run");
    assert_eq!(r.ok, 20);
    let max_ms = r.latency_ns.max() as f64 / 1e6;
    assert!(
        max_ms > 200.0,
        "max latency {max_ms} ms must include the queueing behind the schedule"
    );
    assert!(
        r.rate_shortfall.is_some(),
        "200 req/s is not sustainable against 50 req/s"
    );

    // The same server on a sustainable schedule: no request can be faster than the service
    // time (20 ms).
    let mut s = spec(srv.addr);
    s.requests = Some(5);
    s.rate = Some(10.0);
    let r = run(&s).expect("load run");
    assert_eq!(r.ok, 5);
    assert!(
        r.latency_ns.min() >= 20_000_000,
        "min latency {} ns",
        r.latency_ns.min()
    );
}

#[test]
fn think_time_idles_each_connection_for_its_mean_and_excludes_it_from_latency() {
    let srv = start(Behaviour::Good);
    let mut s = spec(srv.addr);
    s.conns = 2;
    s.requests = Some(400);
    s.think_time = Some(Duration::from_millis(2));
    s.keep_latencies = true;
    let r = run(&s).expect("load run");
    assert_eq!((r.ok, r.errors.total()), (400, 0), "{:?}", r.errors);
    // 200 requests per connection, each after an exponential think of mean 2 ms: ~400 ms
    // (the mean of 400 draws is within ±15 % at 3 sigma), plus the responses' own time.
    let busy: Duration = r
        .raw_latencies_ns
        .as_ref()
        .expect("kept")
        .iter()
        .map(|&ns| Duration::from_nanos(ns))
        .sum::<Duration>()
        / 2;
    let thinking = r.elapsed.saturating_sub(busy).as_secs_f64();
    assert!(
        (0.34..0.55).contains(&thinking),
        "think {thinking:.3} s over {:?}",
        r.elapsed
    );
    assert!(
        r.latency_us().p50 < 1000.0,
        "latency counts from the send, not the think: {:?}",
        r.latency_us()
    );
    // Open loop and think time contradict each other.
    s.rate = Some(100.0);
    assert!(run(&s).is_err());
}
