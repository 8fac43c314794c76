//! Two hosts on one machine: `scripts/two-hosts.sh` and the bench's veth mode
//! (`threadbench::e2e::veth`) serve and load across a veth pair between two network
//! namespaces, and leave nothing behind — `ip netns list` and `ip link` read the same before
//! and after, also after a Ctrl-C and after a pair that failed half-way. Without root or
//! `ip` the tests say why and return.

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use threadbench::e2e::veth::{self, VethPair};
use threadbench::e2e::{self, ServerProcess, SideMetrics};
use threadbench::load::{workload, ConnMode, LoadJson};
use threadbench::profile::Profile;
use threadbench::server::Model;

const EXE: &str = env!("CARGO_BIN_EXE_threadbench");

/// One test at a time: each compares the machine's namespaces and links before and after.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `ip netns list` and `ip link`, or why they cannot be read or namespaces made here.
fn net_state() -> Result<(Vec<String>, String), String> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the effective user.
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        != 0
    {
        return Err("not root: network namespaces need CAP_SYS_ADMIN".into());
    }
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .map_err(|e| format!("no `ip` (iproute2): {e}"))?;
    if !std::path::Path::new("/proc/self/ns/net").exists() {
        return Err("the kernel has no network namespaces (CONFIG_NET_NS)".into());
    }
    let links = String::from_utf8_lossy(&links.stdout)
        .lines()
        // `3: name@if2: <...> ...`: the interface list without counters.
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n");
    Ok((veth::list_netns().map_err(|e| e.to_string())?, links))
}

fn state_or_skip(test: &str) -> Option<(Vec<String>, String)> {
    match net_state() {
        Ok(s) => Some(s),
        Err(why) => {
            eprintln!("{test}: skipped: {why}");
            None
        }
    }
}

fn script() -> Command {
    let mut cmd = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/two-hosts.sh"));
    cmd.env("TB", EXE).env("THREADBENCH_PROFILE", "ci");
    cmd
}

#[test]
fn the_script_serves_and_loads_across_the_pair_and_removes_it() {
    let _serial = serial();
    let Some(before) = state_or_skip("two-hosts.sh") else {
        return;
    };
    let out = script()
        .args(["sped", "--", "--requests", "3000", "--conns", "8", "--json"])
        .output()
        .expect("run two-hosts.sh");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "two-hosts.sh: {err}");
    let line = String::from_utf8_lossy(&out.stdout);
    let j: LoadJson = serde_json::from_str(line.trim()).expect("load --json");
    assert_eq!((j.requests, j.errors), (3000, 0), "{err}");
    assert!(err.contains("on 10.77.0.1:"), "{err}");
    assert_eq!(
        net_state().expect("state"),
        before,
        "two-hosts.sh left something"
    );
}

#[test]
fn ctrl_c_leaves_no_namespace_link_or_process() {
    let _serial = serial();
    let Some(before) = state_or_skip("two-hosts.sh Ctrl-C") else {
        return;
    };
    let mut child = script()
        .args(["mt", "--", "--duration", "60s", "--conns", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start two-hosts.sh");
    let pgid = Pid::from_raw(child.id() as i32);
    let server_ns = format!("tb{}s0", child.id());
    let end = Instant::now() + Duration::from_secs(20);
    // Loading: both namespaces exist and the group has the server and the load in it.
    while Instant::now() < end
        && !(veth::list_netns().unwrap().contains(&server_ns)
            && threadbench::procfs::group_members(pgid.as_raw()).len() >= 3)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        veth::list_netns().unwrap().contains(&server_ns),
        "never started"
    );
    // Ctrl-C in a terminal: SIGINT to the foreground process group.
    killpg(pgid, Signal::SIGINT).expect("SIGINT");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "interrupted: {status:?}");
    assert!(
        e2e::group_left(pgid.as_raw(), Duration::from_secs(3)).is_empty(),
        "processes of the script outlived it"
    );
    assert_eq!(net_state().expect("state"), before, "Ctrl-C left something");
}

#[test]
fn the_bench_pair_carries_a_measured_load_and_never_stays_half_built() {
    let _serial = serial();
    let Some(before) = state_or_skip("veth pair") else {
        return;
    };
    let pair = VethPair::create().expect("create the pair");
    let listed = veth::list_netns().unwrap();
    assert!(listed.contains(&pair.server_ns) && listed.contains(&pair.client_ns));
    let w = workload::single(1024).expect("file set");
    let cfg = Profile::load("ci").expect("ci profile").server;
    let server = ServerProcess::start_on(
        Some(&pair),
        std::path::Path::new(EXE),
        Model::Sped,
        w.docroot.path(),
        &[],
        &cfg,
    )
    .expect("start sped in the server namespace");
    assert_eq!(server.addr.ip(), veth::SERVER_ADDR);
    // Not loopback: refused until the spec goes through the client namespace.
    let mut spec = e2e::spec_for(server.addr, &w, 8, ConnMode::KeepAlive, &[]);
    let refused = threadbench::load::run(&spec).expect_err("not loopback");
    assert!(
        refused.to_string().contains("not a loopback address"),
        "{refused}"
    );
    pair.client_side(&mut spec);
    let mut side = SideMetrics::start(server.pid());
    let o = e2e::run_requests(&spec, 2000, &mut side).expect("load across the pair");
    assert!(o.checked(2000) > Duration::ZERO);
    let rec = side
        .finish("server_conns", "sped", Some(8), 0.9)
        .expect("record");
    assert!(rec.server_cpu_us_per_req > 0.0, "{rec:?}");
    assert!(server.stop().expect("stop"));
    drop(pair);
    assert_eq!(
        net_state().expect("state"),
        before,
        "the pair outlived its drop"
    );

    // A pair whose second namespace cannot be made (its name is taken) removes the first.
    let n: u32 = {
        let p = VethPair::create().expect("create");
        p.server_ns.rsplit('s').next().unwrap().parse().unwrap()
    };
    let taken = format!("tb{}c{}", std::process::id(), n + 1);
    assert!(Command::new("ip")
        .args(["netns", "add", &taken])
        .status()
        .unwrap()
        .success());
    let err = VethPair::create().expect_err("name taken");
    assert!(err.to_string().contains("ip netns add"), "{err}");
    let left = veth::list_netns().unwrap();
    let _ = Command::new("ip").args(["netns", "del", &taken]).status();
    assert!(
        !left.contains(&format!("tb{}s{}", std::process::id(), n + 1)),
        "half-built pair left {left:?}"
    );
    assert!(
        left.contains(&taken),
        "the failed pair deleted a namespace it had not made"
    );
    assert_eq!(net_state().expect("state"), before);
}
