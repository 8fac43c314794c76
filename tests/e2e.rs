//! The end-to-end bench machinery: server processes never outlive a run (also after a panic),
//! and a whole measured benchmark (load + side metrics + disk batches) against a small file
//! server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use threadbench::e2e::{self, ServerProcess, SideMetrics};
use threadbench::load::{workload, ConnMode};

fn fake_server() -> Command {
    let mut cmd = Command::new("/bin/sh");
    // A child of its own (sleep) too, to check the whole tree goes.
    cmd.args([
        "-c",
        "sleep 30 & trap 'kill $!; exit 0' TERM; echo listening on 127.0.0.1:9; wait",
    ]);
    cmd
}

#[test]
fn no_server_process_outlives_a_panic_or_a_stop() {
    let mut pids = Vec::new();
    let result = std::panic::catch_unwind(|| {
        let s = ServerProcess::spawn(&mut fake_server()).expect("spawn fake server");
        assert_eq!(s.addr.port(), 9);
        let me = s.pid();
        let kids = threadbench::procfs::descendants(me);
        (me, kids, s)
    });
    let (pid, kids, s) = result.expect("started");
    pids.push(pid);
    pids.extend(kids);
    // A panic in the middle of a benchmark that owns the server.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _server = s;
        panic!("bench panics mid-run");
    }));
    assert!(r.is_err());
    for p in &pids {
        assert!(
            e2e::wait_gone(*p, Duration::from_secs(5)),
            "process {p} outlived the panic"
        );
    }
    // A normal stop.
    let s = ServerProcess::spawn(&mut fake_server()).expect("spawn fake server");
    let mut pids = vec![s.pid()];
    pids.extend(threadbench::procfs::descendants(s.pid()));
    assert!(
        s.stop().expect("stop"),
        "a server that exits 0 on SIGTERM stops cleanly"
    );
    for p in &pids {
        assert!(
            e2e::wait_gone(*p, Duration::from_secs(5)),
            "process {p} outlived stop"
        );
    }
    // A server that never announces itself is an error, not a hang.
    let mut silent = Command::new("/bin/sh");
    silent.args(["-c", "exit 3"]);
    assert!(ServerProcess::spawn(&mut silent).is_err());
}

/// A minimal static-file server thread over `root` (keep-alive, one thread per connection).
fn file_server(root: PathBuf) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || serve(s, root));
        }
    });
    addr
}

fn serve(mut s: TcpStream, root: PathBuf) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = match s.read(&mut tmp) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&tmp[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            buf.drain(..end + 4);
            let path = head
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            let body = std::fs::read(root.join(path)).unwrap_or_default();
            let mut resp =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
            resp.extend_from_slice(&body);
            if s.write_all(&resp).is_err()
                || head.to_ascii_lowercase().contains("connection: close")
            {
                return;
            }
        }
    }
}

#[test]
fn a_measured_benchmark_records_its_side_metrics() {
    let w = workload::specweb96(1, 3).expect("specweb set");
    let addr = file_server(w.docroot.path().to_owned());
    let spec = e2e::spec_for(addr, &w, 4, ConnMode::KeepAlive, &[]);
    let mut side = SideMetrics::start(std::process::id() as i32);
    let o = e2e::run_requests(&spec, 300, &mut side).expect("load");
    assert!(o.checked(300) > Duration::ZERO);
    let rec = side
        .finish("server_specweb", "test", None, 0.9)
        .expect("counters");
    assert_eq!((rec.requests, rec.errors), (300, 0));
    assert!(rec.req_per_s > 0.0 && rec.server_rss_bytes > 0 && rec.server_cpu_us_per_req > 0.0);
    // The latency histogram is kept: its counts add up to the validated responses.
    let counted: u64 = rec.latency_hist_ns.iter().map(|b| b.1).sum();
    assert_eq!(counted, 300);
    assert!(rec.latency_hist_ns.windows(2).all(|w| w[0].0 < w[1].0));

    let d = workload::disk(16 * 1024, 16).expect("disk set");
    let addr = file_server(d.docroot.path().to_owned());
    let spec = e2e::spec_for(addr, &d, 2, ConnMode::Close, &[]);
    let mut side = SideMetrics::start(std::process::id() as i32);
    let o = e2e::run_disk_requests(&spec, &d, 40, &mut side).expect("disk load");
    assert_eq!(o.completed, 40);
    let rec = side
        .finish("server_disk", "test", Some(16), 0.9)
        .expect("counters");
    // A stopped server has no counters: an error, not a record of zeros.
    assert!(SideMetrics::start(std::process::id() as i32)
        .finish("g", "m", None, 0.9)
        .is_ok());
    assert!(SideMetrics::start(i32::MAX)
        .finish("g", "m", None, 0.9)
        .is_err());
    assert!(
        rec.resident_before.is_some(),
        "eviction measured before each batch"
    );
    assert_eq!(rec.requests, 40);
}
