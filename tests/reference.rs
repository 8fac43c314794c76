//! The reference lanes for real: every real server installed here (CI installs all of them
//! with scripts/install-reference-servers.sh) starts from the ci profile through the bench's
//! launcher, serves the generator's workloads byte-exact (status, length and checksum of
//! every response) in both send modes, keep-alive and close, runs pinned to the server cores,
//! closes a keep-alive connection after 100 requests as our blocking models do, and leaves
//! nothing behind (no process of its group, nothing listening on its port, no temp dir).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use threadbench::e2e::{self, ServerProcess, SideMetrics};
use threadbench::load::workload;
use threadbench::load::ConnMode;
use threadbench::profile::{Profile, ServerConfig};
use threadbench::reference::{Lane, RefServer, MAX_KEEPALIVE_REQUESTS};

/// The CPUs every thread of every process of group `pgid` may run on.
fn affinities(pgid: i32) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for pid in threadbench::procfs::group_members(pgid) {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            if let Some(l) = status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            {
                out.push((pid, l.trim().to_owned()));
            }
        }
    }
    out
}

/// `n` sequential GETs of `path` over one connection; the last answer's `Connection` header
/// and whether the server closed the connection after it.
fn requests_on_one_connection(addr: SocketAddr, path: &str, n: u32) -> (Vec<String>, bool) {
    let s = TcpStream::connect(addr).expect("connect");
    // One write per request, sent at once (no Nagle wait for the server's delayed ACK).
    s.set_nodelay(true).expect("nodelay");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let mut r = BufReader::new(s);
    let mut conn_headers = Vec::new();
    for i in 0..n {
        w.write_all(req.as_bytes()).expect("send");
        let mut len = 0usize;
        let mut conn = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).expect("read head");
            assert!(
                !line.is_empty(),
                "connection closed before answer {}",
                i + 1
            );
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                len = v.trim().parse().expect("length");
            }
            if let Some(v) = l.strip_prefix("connection:") {
                conn = v.trim().to_owned();
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).expect("body");
        conn_headers.push(conn);
    }
    let mut rest = [0u8; 1];
    let closed = matches!(r.read(&mut rest), Ok(0));
    (conn_headers, closed)
}

fn check_lane(
    r: RefServer,
    w: &workload::Workload,
    cfg: &ServerConfig,
    cores: &[usize],
    client: &[usize],
) {
    let probe = &w.files[0].path;
    let s = ServerProcess::start_reference(r, w.docroot.path(), probe, cores, cfg)
        .unwrap_or_else(|e| panic!("{r}: {e}"));
    let (pgid, addr) = (s.pid(), s.addr);
    let dir = s.conf_dir().expect("a configuration dir").to_owned();
    assert!(dir.is_dir());

    // The generator validates every response (status, length, checksum).
    let mut side = SideMetrics::start(pgid);
    for (mode, conns, n) in [(ConnMode::KeepAlive, 3, 300), (ConnMode::Close, 4, 60)] {
        let spec = e2e::spec_for(addr, w, conns, mode, client);
        let o = e2e::run_requests(&spec, n, &mut side).unwrap_or_else(|e| panic!("{r}: {e}"));
        assert_eq!(
            o.completed, n,
            "{r} {mode:?} ({}): every response valid",
            cfg.send
        );
    }
    let rec = side
        .finish("server_specweb", r.name(), None, 0.9)
        .expect("counters");
    assert_eq!((rec.requests, rec.errors), (360, 0), "{r}");
    assert!(
        rec.server_pss_bytes > 0 && rec.server_processes >= 1,
        "{r}: {rec:?}"
    );

    // One keep-alive policy: the 100th answer says close, and the server closes.
    let n = MAX_KEEPALIVE_REQUESTS;
    let (conn, closed) = requests_on_one_connection(addr, probe, n);
    assert_eq!(
        conn.iter().position(|c| c == "close").map(|i| i + 1),
        Some(n as usize),
        "{r}: answer {n} says close, no earlier one"
    );
    assert!(closed, "{r}: the connection is closed after {n} requests");

    // Pinned before exec: every thread of every process runs on the server cores only.
    if !cores.is_empty() {
        let want = threadbench::pin::format_cpu_list(cores);
        let aff = affinities(pgid);
        assert!(!aff.is_empty(), "{r}: no tasks found");
        for (pid, list) in aff {
            assert_eq!(list, want, "{r}: pid {pid} not pinned");
        }
    }

    // Stopped: nothing of the group left, the port closed, the temp dir gone.
    let t = std::time::Instant::now();
    let clean = s.stop().unwrap_or_else(|e| panic!("{r}: stop: {e}"));
    eprintln!(
        "reference: {r} ({}) stopped in {:?}, clean: {clean}",
        cfg.send,
        t.elapsed()
    );
    assert!(
        e2e::group_left(pgid, Duration::ZERO).is_empty(),
        "{r}: processes left"
    );
    assert!(
        TcpStream::connect(addr).is_err(),
        "{r}: {addr} still listens"
    );
    assert!(!dir.exists(), "{r}: {} left", dir.display());
}

#[test]
fn every_reference_lane_serves_validated_requests_and_leaves_nothing() {
    let profile = Profile::load("ci").expect("ci profile");
    let plan = profile.core_plan().expect("core plan");
    // SPECweb96's four size classes (100 B to 900 KiB): small and large bodies.
    let w = workload::specweb96(1, 17).expect("specweb set");
    let mut ran = Vec::new();
    for r in RefServer::ALL {
        if let Err(m) = r.locate() {
            eprintln!("reference: not checked here: {m}");
            continue;
        }
        for send in ["writev", "sendfile"] {
            let cfg = ServerConfig {
                send: send.into(),
                ..profile.server.clone()
            };
            check_lane(r, &w, &cfg, &plan.server, &plan.client);
        }
        ran.push(r.name());
    }
    eprintln!("reference: checked {ran:?}");
    if std::env::var_os("CI").is_some() {
        assert_eq!(ran.len(), RefServer::ALL.len(), "CI installs every server");
    }
}

#[test]
fn the_launcher_starts_any_lane_and_a_missing_program_is_a_clear_error() {
    let w = workload::single(1024).expect("file set");
    let profile = Profile::load("ci").expect("ci profile");
    // Our model through the same entry point.
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_threadbench"));
    let s = e2e::start_lane(
        Lane::parse("sped").expect("a lane"),
        exe,
        w.docroot.path(),
        &w.files[0].path,
        &[],
        &profile.server,
        None,
    )
    .expect("start sped");
    assert_eq!(e2e::probe(s.addr, &w.files[0].path).expect("probe"), 200);
    assert!(s.stop().expect("stop"));
    // A server that is not installed: an error naming the package, nothing started.
    let missing = RefServer::ALL.into_iter().find(|r| r.locate().is_err());
    if let Some(r) = missing {
        let e = ServerProcess::start_reference(r, w.docroot.path(), "/", &[], &profile.server)
            .err()
            .expect("cannot start");
        assert!(e.to_string().contains(r.package()), "{e}");
    }
}

#[test]
fn servers_a_killed_run_left_are_swept() {
    let r = RefServer::ApachePrefork;
    if let Err(m) = r.locate() {
        eprintln!("reference: not checked here: {m}");
        return;
    }
    let w = workload::single(1024).expect("file set");
    // A run killed outright: `threadbench reference` gets SIGKILL while its server runs.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_threadbench"))
        .args(["reference", "--server", r.name()])
        .arg("--docroot")
        .arg(w.docroot.path())
        .args(["--probe", &w.files[0].path])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn threadbench reference");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    assert!(line.starts_with("listening on"), "{line:?}");
    let conf = std::env::temp_dir().join(format!("threadbench-{}-0", child.id()));
    let pgid: i32 = std::fs::read_to_string(conf.join("apache2.pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    // Its leader dies with it; Apache's children would not.
    let killed = e2e::sweep_stale_reference_servers();
    assert!(killed.contains(&pgid), "{killed:?} lacks {pgid}");
    assert!(
        e2e::group_left(pgid, Duration::from_secs(2)).is_empty(),
        "processes of {pgid} left"
    );
    let _ = std::fs::remove_dir_all(&conf);
}
