//! `threadbench serve` as a client meets it: every model answers one table of requests with
//! the same statuses and the files' bytes; event-driven models are not stalled by a slow
//! client; amped/amted fault evicted files in through their helpers; stopping leaves nothing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use threadbench::sys::process::ChildGuard;

mod common;
use common::TempDir;

/// The common docroot plus a file named like an escape and a symlink out of it.
fn docroot(tag: &str) -> TempDir {
    let d = common::docroot("server_models", tag);
    std::fs::write(d.0.join("%2e%2e"), "literal name\n").expect("writing literal");
    std::os::unix::fs::symlink("/etc/passwd", d.0.join("evil")).expect("symlink");
    d
}

struct Server {
    guard: ChildGuard,
    addr: SocketAddr,
}

fn start(model: &str, root: &Path) -> Server {
    start_with(model, root, &[])
}

fn start_with(model: &str, root: &Path, extra: &[&str]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_threadbench"));
    cmd.args(["--profile", "ci", "serve", "--model", model, "--docroot"])
        .arg(root)
        .args([
            "--processes",
            "2",
            "--threads",
            "4",
            "--helpers",
            "2",
            "--loops",
            "2",
        ])
        .args(extra);
    let (guard, addr) = common::listening(&mut cmd, model);
    Server { guard, addr }
}

/// SIGTERM, expect exit 0 within 2 s, return stderr; no descendant may survive.
fn stop(mut s: Server) -> String {
    common::stop_within(&mut s.guard, Duration::from_secs(2), "serve")
}

struct Case {
    name: &'static str,
    req: Vec<u8>,
    head: bool,
    split: bool,
    /// Expected (status, file whose bytes the body must equal).
    want: Vec<(u16, Option<&'static str>)>,
}

fn case(name: &'static str, req: &[u8], want: &[(u16, Option<&'static str>)]) -> Case {
    Case {
        name,
        req: req.to_vec(),
        head: false,
        split: false,
        want: want.to_vec(),
    }
}

fn table() -> Vec<Case> {
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(4000));
    let long_headers = format!(
        "GET /a.bin HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(10_000)
    );
    let mut v = vec![
        case("get11_close", b"GET /a.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &[(200, Some("a.bin"))]),
        case("get10", b"GET /a.bin HTTP/1.0\r\n\r\n", &[(200, Some("a.bin"))]),
        case("get11_pipelined_keepalive", b"GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /b.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &[(200, Some("a.bin")), (200, Some("b.txt")), (200, Some("index.html"))]),
        case("get10_keepalive", b"GET /b.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /a.bin HTTP/1.0\r\n\r\n", &[(200, Some("b.txt")), (200, Some("a.bin"))]),
        case("dir_index", b"GET /sub/ HTTP/1.0\r\n\r\n", &[(200, Some("sub/index.html"))]),
        case("query_string", b"GET /b.txt?x=1 HTTP/1.0\r\n\r\n", &[(200, Some("b.txt"))]),
        case("missing", b"GET /nope HTTP/1.0\r\n\r\n", &[(404, None)]),
        case("dotdot", b"GET /../etc/passwd HTTP/1.0\r\n\r\n", &[(403, None)]),
        case("encoded_dotdot", b"GET /%2e%2e/etc/passwd HTTP/1.0\r\n\r\n", &[(403, None)]),
        case("encoded_slash", b"GET /..%2fetc/passwd HTTP/1.0\r\n\r\n", &[(403, None)]),
        // Decoded once: `%252e%252e` names the literal file `%2e%2e` inside the docroot.
        case("double_encoded", b"GET /%252e%252e HTTP/1.0\r\n\r\n", &[(200, Some("%2e%2e"))]),
        case("double_encoded_escape", b"GET /%252e%252e/etc/passwd HTTP/1.0\r\n\r\n", &[(404, None)]),
        case("symlink_outside", b"GET /evil HTTP/1.0\r\n\r\n", &[(403, None)]),
        case("absolute_form", b"GET http://x/b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &[(200, Some("b.txt"))]),
        case("absolute_form_escape", b"GET http://x/../etc/passwd HTTP/1.0\r\n\r\n", &[(403, None)]),
        case("encoded_nul", b"GET /a.bin%00.txt HTTP/1.0\r\n\r\n", &[(400, None)]),
        case("raw_nul", b"GET /a.bin\0 HTTP/1.0\r\n\r\n", &[(400, None)]),
        case("long_target", long_target.as_bytes(), &[(414, None)]),
        case("long_headers", long_headers.as_bytes(), &[(431, None)]),
        case("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", &[(400, None)]),
        case("unknown_method", b"DELETE /a.bin HTTP/1.1\r\nHost: x\r\n\r\n", &[(405, None)]),
        case("bad_version", b"GET /a.bin HTTP/2.0\r\n\r\n", &[(505, None)]),
        case("error_ends_pipeline", b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n", &[(404, None), (200, Some("a.bin"))]),
    ];
    v.push(Case {
        head: true,
        ..case(
            "head11",
            b"HEAD /a.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            &[(200, None)],
        )
    });
    v.push(Case {
        head: true,
        ..case("head10", b"HEAD /b.txt HTTP/1.0\r\n\r\n", &[(200, None)])
    });
    v.push(Case {
        split: true,
        ..case(
            "split_1_byte_writes",
            b"GET /b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            &[(200, Some("b.txt"))],
        )
    });
    v
}

/// Parsed responses: (status, headers lowercased, body).
fn parse_responses(mut data: &[u8], head: bool) -> Vec<(u16, String, Vec<u8>)> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let end = data
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete response head")
            + 4;
        let h = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
        let status: u16 = h[9..12].parse().expect("status code");
        let len: usize = h
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().expect("content-length"))
            .expect("content-length header");
        let blen = if head { 0 } else { len };
        out.push((status, h, data[end..end + blen].to_vec()));
        data = &data[end + blen..];
    }
    out
}

fn exchange(addr: SocketAddr, c: &Case) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    if c.split {
        for b in &c.req {
            s.write_all(std::slice::from_ref(b))
                .expect("writing a byte");
            std::thread::sleep(Duration::from_millis(1));
        }
    } else {
        // The server may answer an error and close before reading everything: ignore EPIPE.
        let _ = s.write_all(&c.req);
    }
    let mut data = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("{}: reading: {e}", c.name),
        }
    }
    data
}

#[test]
fn every_model_answers_the_table_identically() {
    let root = docroot("table");
    let mut per_model = Vec::new();
    for model in common::models() {
        let srv = start(model, &root.0);
        let mut statuses = Vec::new();
        for c in table() {
            let data = exchange(srv.addr, &c);
            let resps = parse_responses(&data, c.head);
            let got: Vec<u16> = resps.iter().map(|r| r.0).collect();
            let want: Vec<u16> = c.want.iter().map(|w| w.0).collect();
            // An error ends the connection: later pipelined requests get no answer.
            let want_upto = want
                .iter()
                .position(|&s| s != 200)
                .map_or(want.len(), |i| i + 1);
            assert_eq!(got, want[..want_upto], "{model}/{}", c.name);
            for (r, w) in resps.iter().zip(&c.want) {
                assert!(r.1.contains("\r\ndate: "), "{model}/{}: no Date", c.name);
                if let Some(f) = w.1 {
                    let file = std::fs::read(root.0.join(f)).expect("reading the file");
                    assert_eq!(r.2, file, "{model}/{}: body differs from {f}", c.name);
                }
                if r.0 == 405 {
                    assert!(
                        r.1.contains("\r\nallow: get, head"),
                        "{model}: 405 lacks Allow"
                    );
                }
                if c.head {
                    assert!(r.1.contains(&format!(
                        "content-length: {}",
                        std::fs::metadata(root.0.join(if c.name == "head11" {
                            "a.bin"
                        } else {
                            "b.txt"
                        }))
                        .expect("stat")
                        .len()
                    )));
                }
            }
            statuses.push((c.name, got));
        }
        stop(srv);
        per_model.push((model, statuses));
    }
    for (m, s) in &per_model[1..] {
        assert_eq!(s, &per_model[0].1, "{m} differs from {}", per_model[0].0);
    }
}

#[test]
fn slow_client_does_not_stall_event_driven_models() {
    let root = docroot("slow");
    for model in ["sped", "amped", "amted", "uring", "sped_n", "tokio"] {
        if !common::runs(model) {
            continue;
        }
        let srv = start(model, &root.0);
        let req = b"GET /b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let mut slow = TcpStream::connect(srv.addr).expect("connecting slow client");
        slow.set_nodelay(true).expect("nodelay");
        for b in &req[..6] {
            slow.write_all(std::slice::from_ref(b)).expect("slow byte");
            std::thread::sleep(Duration::from_millis(100));
        }
        // While the slow request is incomplete, a second client is served in full.
        let fast = Case {
            name: "fast",
            req: req.to_vec(),
            head: false,
            split: false,
            want: vec![],
        };
        let r = parse_responses(&exchange(srv.addr, &fast), false);
        assert_eq!(r.len(), 1, "{model}: second client not served");
        assert_eq!(r[0].0, 200);
        for b in &req[6..] {
            slow.write_all(std::slice::from_ref(b)).expect("slow byte");
        }
        slow.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut data = Vec::new();
        slow.read_to_end(&mut data).expect("slow client's response");
        let r = parse_responses(&data, false);
        assert_eq!(
            (r[0].0, r[0].2.as_slice()),
            (200, b"bee\n".as_slice()),
            "{model}"
        );
        stop(srv);
    }
}

#[test]
fn evicted_files_go_through_the_helpers() {
    let root = docroot("evict");
    let big: Vec<u8> = (0..4u32 * 1024 * 1024)
        .map(|i| (i ^ (i >> 9)) as u8)
        .collect();
    let path = root.0.join("big.bin");
    for model in ["amped", "amted", "tokio"] {
        {
            let mut f = std::fs::File::create(&path).expect("creating big.bin");
            f.write_all(&big).expect("writing big.bin");
            f.sync_all().expect("fsync big.bin");
            threadbench::sys::mmap::fadvise_dontneed(&f).expect("evicting big.bin");
        }
        let srv = start(model, &root.0);
        let c = case("big", b"GET /big.bin HTTP/1.0\r\n\r\n", &[]);
        let r = parse_responses(&exchange(srv.addr, &c), false);
        assert_eq!(r[0].0, 200);
        assert!(r[0].2 == big, "{model}: big.bin bytes differ");
        let err = stop(srv);
        // Helper jobs are lookups (the miss of /big.bin is one) and pagings: count pagings.
        let jobs = common::counter(&err, "helper_jobs");
        let lookups = common::counter(&err, "translate_jobs");
        assert!(
            jobs > lookups,
            "{model}: evicted file served without paging by helpers ({err:?})"
        );
    }
}

#[test]
fn bad_invocations_fail_clearly() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_threadbench"))
            .args(["--profile", "ci", "serve"])
            .args(args)
            .output()
            .expect("running threadbench")
    };
    let o = run(&["--model", "nope", "--docroot", "/"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("invalid value 'nope'") && err.contains("mp, mp_fork, mt, mt_spawn, sped"),
        "{err}"
    );
    let o = run(&["--model", "sped", "--docroot", "/nonexistent-docroot"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("docroot"));
    // A port in use (sped_n's SO_REUSEPORT group must not hide that).
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding");
    let a = l.local_addr().expect("addr").to_string();
    for model in ["sped", "sped_n", "tokio"] {
        let o = run(&["--model", model, "--docroot", "/", "--bind", &a]);
        assert!(!o.status.success(), "{model}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("in use"),
            "{model}"
        );
    }
}

#[test]
fn peer_reset_mid_response_kills_nothing() {
    let root = docroot("reset");
    let big: Vec<u8> = (0..4u32 * 1024 * 1024).map(|i| (i >> 3) as u8).collect();
    std::fs::write(root.0.join("big.bin"), &big).expect("writing big.bin");
    for model in common::models() {
        let srv = start(model, &root.0);
        let workers = threadbench::procfs::descendants(srv.guard.pid().as_raw());
        for _ in 0..3 {
            let mut s = TcpStream::connect(srv.addr).expect("connecting");
            s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("request");
            let mut buf = [0u8; 1000];
            s.read_exact(&mut buf).expect("start of the response");
            // Closing with unread data makes the kernel send RST: the server is mid-response.
        }
        let c = case("after", b"GET /b.txt HTTP/1.0\r\n\r\n", &[]);
        let r = parse_responses(&exchange(srv.addr, &c), false);
        assert_eq!(r[0].0, 200, "{model}: not serving after resets");
        if model == "mp" || model == "amped" {
            // The pool (or the helpers) is still the same set of processes.
            assert_eq!(
                threadbench::procfs::descendants(srv.guard.pid().as_raw()),
                workers,
                "{model}: a worker died"
            );
        }
        stop(srv);
    }
}

#[test]
fn sendfile_mode_sends_the_same_bytes() {
    let root = docroot("sendfile");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.0.join("mid.bin"), &big).expect("writing mid.bin");
    for model in common::models() {
        let srv = start_with(model, &root.0, &["--send", "sendfile"]);
        let c = case(
            "pipelined",
            b"GET /mid.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /a.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            &[],
        );
        let r = parse_responses(&exchange(srv.addr, &c), false);
        assert_eq!(r.len(), 2, "{model}");
        assert!(r[0].2 == big, "{model}: mid.bin differs with sendfile");
        assert_eq!(r[1].2, std::fs::read(root.0.join("a.bin")).expect("a.bin"));
        stop(srv);
    }
}

#[test]
fn out_of_descriptors_backs_off_and_keeps_serving() {
    let root = docroot("emfile");
    for model in ["sped", "mt_spawn", "uring", "sped_n", "tokio"] {
        if !common::runs(model) {
            continue;
        }
        let srv = start(model, &root.0);
        let pid = srv.guard.pid().as_raw();
        // sped_n accepts in its loop processes: each is limited the same way.
        let mut limited = threadbench::procfs::descendants(pid);
        limited.push(pid);
        for p in limited {
            let open_now = std::fs::read_dir(format!("/proc/{p}/fd"))
                .expect("fds")
                .count() as u64;
            threadbench::sys::limits::set_nofile_of(p, open_now + 4).expect("prlimit");
        }
        // More idle connections than the server has descriptors: accept hits EMFILE.
        let mut idle = Vec::new();
        for _ in 0..12 {
            let mut s = TcpStream::connect(srv.addr).expect("connecting");
            s.write_all(b"GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("request");
            idle.push(s);
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            matches!(threadbench::procfs::state(pid), Some('S') | Some('R')),
            "{model}: server gone under EMFILE"
        );
        // Free the descriptors: every queued connection is then accepted and answered.
        idle.truncate(2);
        answered_after_emfile(model, srv.addr, idle);
        // (uring's armed multishot accept took the descriptor limit when it was submitted, so
        // a limit lowered later may never stop it: `uring_accept_backs_off_on_emfile`.)
        stop(srv);
    }
}

/// Once descriptors are free again, each of `held` (connections that sent a request while
/// the server was out of them) gets an answer, and a new connection is served. While
/// descriptors are short the file itself may not open: 503 (try again) is the correct answer
/// then, not 500; what must not happen is silence or a crash.
fn answered_after_emfile(model: &str, addr: SocketAddr, mut held: Vec<TcpStream>) {
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut b = [0u8; 12];
        s.read_exact(&mut b).expect("answer on a held connection");
        assert!(
            &b == b"HTTP/1.1 200" || &b == b"HTTP/1.1 503",
            "{model}: held connection got {:?}",
            String::from_utf8_lossy(&b)
        );
    }
    drop(held);
    let c = case("after", b"GET /b.txt HTTP/1.0\r\n\r\n", &[]);
    let r = parse_responses(&exchange(addr, &c), false);
    assert_eq!(r[0].0, 200, "{model}: not serving after EMFILE");
}

#[test]
fn blocking_models_cap_requests_per_keep_alive_connection() {
    use threadbench::server::blocking::MAX_KEEPALIVE_REQUESTS;
    let root = docroot("cap");
    let n = MAX_KEEPALIVE_REQUESTS as usize + 5;
    for (model, expect_cap) in [
        ("mt", true),
        ("mp", true),
        ("sped", false),
        ("uring", false),
        ("sped_n", false),
        ("tokio", false),
    ] {
        if !common::runs(model) {
            continue;
        }
        let srv = start(model, &root.0);
        let mut s = TcpStream::connect(srv.addr).expect("connecting");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let reqs = b"GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n".repeat(n);
        s.write_all(&reqs).expect("pipelined requests");
        let mut got = Vec::new();
        if expect_cap {
            // The server answers the capped number, the last with Connection: close, then closes.
            s.read_to_end(&mut got).expect("reading to EOF");
        } else {
            let mut buf = [0u8; 65536];
            while got.windows(12).filter(|w| w == b"HTTP/1.1 200").count() < n {
                let k = s.read(&mut buf).expect("reading");
                assert!(k > 0, "{model}: closed early");
                got.extend_from_slice(&buf[..k]);
            }
        }
        let text = String::from_utf8_lossy(&got);
        let answered = text.matches("HTTP/1.1 200").count();
        let closes = text.matches("Connection: close").count();
        if expect_cap {
            assert_eq!(
                (answered, closes),
                (MAX_KEEPALIVE_REQUESTS as usize, 1),
                "{model}"
            );
        } else {
            assert_eq!((answered, closes), (n, 0), "{model}");
        }
        stop(srv);
    }
}

/// A keep-alive client that half-closes after its request gets the answer and then EOF (the
/// event loop must notice a FIN that arrives with, or after, the request).
#[test]
fn half_closed_client_gets_its_answer_then_eof() {
    let root = docroot("halfclose");
    for model in common::models() {
        let srv = start(model, &root.0);
        for pause in [false, true] {
            let mut s = TcpStream::connect(srv.addr).expect("connecting");
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            s.write_all(b"GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("request");
            if pause {
                std::thread::sleep(Duration::from_millis(50));
            }
            s.shutdown(std::net::Shutdown::Write).expect("half-close");
            let mut got = Vec::new();
            s.read_to_end(&mut got)
                .unwrap_or_else(|e| panic!("{model}: no EOF after half-close: {e}"));
            let text = String::from_utf8_lossy(&got);
            assert_eq!(text.matches("HTTP/1.1 200").count(), 1, "{model}: {text}");
        }
        stop(srv);
    }
}

/// Every model answers with the same bytes (apart from `Date`), pipelined requests whose paths
/// are translation-cache misses included: amped/amted look those up in helpers, and the
/// answers still leave in request order.
#[test]
fn responses_are_byte_identical_across_models() {
    let root = docroot("bytes");
    let reqs: [&[u8]; 4] = [
        b"GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /sub/ HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html HTTP/1.1\r\nHost: x\r\n\r\nGET /b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /b.txt HTTP/1.0\r\n\r\n",
        b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PUT /a.bin HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    let without_date = |data: Vec<u8>| -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = data.as_slice();
        while let Some(i) = rest.windows(8).position(|w| w == b"\r\nDate: ") {
            out.extend_from_slice(&rest[..i]);
            let after = &rest[i + 2..];
            let eol = after
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("end of Date");
            rest = &after[eol..];
        }
        out.extend_from_slice(rest);
        out
    };
    let mut first: Option<(&str, Vec<Vec<u8>>)> = None;
    for model in common::models() {
        let srv = start(model, &root.0);
        let got: Vec<Vec<u8>> = reqs
            .iter()
            .map(|r| {
                let c = case("bytes", r, &[]);
                without_date(exchange(srv.addr, &c))
            })
            .collect();
        stop(srv);
        assert_eq!(
            got[0].windows(12).filter(|w| w == b"HTTP/1.1 200").count(),
            5,
            "{model}: {}",
            String::from_utf8_lossy(&got[0])
        );
        match &first {
            None => first = Some((model, got)),
            Some((m0, want)) => {
                for (i, (g, w)) in got.iter().zip(want).enumerate() {
                    assert!(
                        g == w,
                        "{model} differs from {m0} on request set {i}:\n{}\n---\n{}",
                        String::from_utf8_lossy(g),
                        String::from_utf8_lossy(w)
                    );
                }
            }
        }
    }
}

/// amped/amted hand each translation-cache miss to a helper (Flash's helpers translate as
/// well as page); a hit stays in the loop; sped looks misses up itself.
#[test]
fn helpers_look_up_translation_misses() {
    let root = docroot("translate");
    for (model, via_helpers) in [
        ("amped", true),
        ("amted", true),
        ("sped", false),
        ("uring", false),
        ("sped_n", false),
        ("tokio", true),
    ] {
        if !common::runs(model) {
            continue;
        }
        let srv = start(model, &root.0);
        for target in ["/b.txt", "/a.bin", "/b.txt", "/sub/", "/nope", "/a.bin"] {
            let req = format!("GET {target} HTTP/1.0\r\n\r\n");
            let c = case("translate", req.as_bytes(), &[]);
            let r = parse_responses(&exchange(srv.addr, &c), false);
            let want = if target == "/nope" { 404 } else { 200 };
            assert_eq!(r[0].0, want, "{model} {target}");
        }
        let err = stop(srv);
        // Four distinct paths, one of them missing (errors are not cached, but it was asked
        // once): four lookups; the repeated paths were hits.
        let want = if via_helpers { 4 } else { 0 };
        assert_eq!(
            common::counter(&err, "translate_jobs"),
            want,
            "{model}: {err}"
        );
        assert_eq!(common::counter(&err, "requests"), 5, "{model}: {err}");
    }
}

/// uring reads a chunk that mincore reports non-resident with IORING_OP_READ (counted as
/// `file_reads`) instead of faulting it in inside the loop, and sends exactly the file; a
/// resident file needs no read.
#[test]
fn uring_reads_evicted_chunks_through_the_ring() {
    if !common::runs("uring") {
        return;
    }
    let root = docroot("uring-evict");
    let big: Vec<u8> = (0..4u32 * 1024 * 1024)
        .map(|i| (i ^ (i >> 11)) as u8)
        .collect();
    let path = root.0.join("big.bin");
    {
        let mut f = std::fs::File::create(&path).expect("creating big.bin");
        f.write_all(&big).expect("writing big.bin");
        f.sync_all().expect("fsync big.bin");
    }
    let srv = start("uring", &root.0);
    let c = case("resident", b"GET /a.bin HTTP/1.0\r\n\r\n", &[]);
    let r = parse_responses(&exchange(srv.addr, &c), false);
    assert_eq!(r[0].0, 200);
    let err = stop(srv);
    assert_eq!(common::counter(&err, "file_reads"), 0, "{err}");

    let f = std::fs::File::open(&path).expect("opening big.bin");
    threadbench::sys::mmap::fadvise_dontneed(&f).expect("evicting big.bin");
    let (resident, pages) = threadbench::sys::pagecache::resident_pages(&f).expect("mincore");
    if resident == pages {
        eprintln!("skipping: fadvise(DONTNEED) evicted nothing of big.bin here");
        return;
    }
    let srv = start("uring", &root.0);
    // Pipelined behind a small answer, and again once read (then from the page cache).
    let c = case(
        "big",
        b"GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        &[],
    );
    let r = parse_responses(&exchange(srv.addr, &c), false);
    assert_eq!(r.iter().map(|r| r.0).collect::<Vec<_>>(), [200, 200, 200]);
    assert_eq!(r[0].2, b"bee\n");
    assert!(
        r[1].2 == big && r[2].2 == big,
        "uring: big.bin bytes differ"
    );
    let err = stop(srv);
    assert!(
        common::counter(&err, "file_reads") > 0,
        "uring: evicted file served without a ring read ({err})"
    );
}

/// Where io_uring is refused (here forced with THREADBENCH_URING_DISABLE, as the probe
/// would find a kernel without it or `io_uring_disabled` set), `serve --model uring` exits
/// non-zero with one line saying why, and starts nothing.
#[test]
fn uring_unavailable_exits_with_one_line() {
    let o = Command::new(env!("CARGO_BIN_EXE_threadbench"))
        .args([
            "--profile",
            "ci",
            "serve",
            "--model",
            "uring",
            "--docroot",
            "/",
        ])
        .env(threadbench::sys::uring_io::DISABLE_ENV, "1")
        .output()
        .expect("running threadbench");
    assert!(!o.status.success(), "{o:?}");
    assert!(o.stdout.is_empty(), "it announced a listener: {o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("uring") && err.contains(threadbench::sys::uring_io::DISABLE_ENV),
        "{err}"
    );
}

/// uring under a descriptor limit it was started with: its multishot accept ends on EMFILE,
/// is re-armed after a back-off (counted as `accept_backoffs`) instead of in a hot loop, and
/// once descriptors are free again the waiting connections are accepted and answered.
#[test]
fn uring_accept_backs_off_on_emfile() {
    if !common::runs("uring") {
        return;
    }
    let root = docroot("uring-emfile");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n 24 && exec \"$0\" --profile ci serve --model uring --docroot \"$1\"")
        .arg(env!("CARGO_BIN_EXE_threadbench"))
        .arg(&root.0);
    let (guard, addr) = common::listening(&mut cmd, "uring under ulimit -n 24");
    let srv = Server { guard, addr };
    // More connections than the limit leaves descriptors: accept hits EMFILE.
    let mut held: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connecting");
            s.write_all(b"GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("request");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let pid = srv.guard.pid().as_raw();
    assert!(
        matches!(threadbench::procfs::state(pid), Some('S') | Some('R')),
        "uring: server gone under EMFILE"
    );
    // Free descriptors (the first connections were accepted and answered): the last ones,
    // still queued, are accepted after a back-off and answered.
    let last = held.split_off(36);
    drop(held);
    answered_after_emfile("uring", addr, last);
    let err = stop(srv);
    // Re-armed after a back-off each time: a few per 10 ms of EMFILE, never a hot loop.
    let backoffs = common::counter(&err, "accept_backoffs");
    eprintln!("uring: {backoffs} accept back-offs under EMFILE");
    assert!((1..=200).contains(&backoffs), "{err}");
}
