//! Two hosts on one machine: the server in one network namespace, the load generator in
//! another, joined by a veth pair — a TCP stack per side and a real (virtual) link between
//! them, where loopback would short-cut both stacks into one.
//!
//! ```text
//!   namespace tb<pid>s<n>                      namespace tb<pid>c<n>
//!   threadbench serve on 10.77.0.1  ◀─ veth ─▶  load threads (setns) from 10.77.0.2
//! ```
//!
//! The addresses are the project's own, inside namespaces that hold nothing else: nothing
//! outside them is ever addressed, and the machine's own namespace gains no interface or
//! route. The pair is made with `ip` (iproute2) and needs root (`CAP_SYS_ADMIN`,
//! `CONFIG_NET_NS`); [`VethPair::create`] says why when it cannot, and removes whatever it had
//! made. Dropping the pair deletes both namespaces (the veth ends inside go with them); the
//! namespaces of a run that was killed are removed by the next run ([`sweep_stale`]).
//! `scripts/two-hosts.sh` builds the same pair by hand for `serve` and `load`.

use crate::load::LoadSpec;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The server's end.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The load generator's end.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

/// Where `ip netns add` puts a namespace.
const NETNS_DIR: &str = "/run/netns";

/// A pair of network namespaces joined by a veth link; deleted on drop.
#[derive(Debug)]
pub struct VethPair {
    /// The server's namespace (and the name of its veth end).
    pub server_ns: String,
    /// The load generator's namespace (and the name of its veth end).
    pub client_ns: String,
    /// The namespaces this pair made (deleted on drop; a name that was taken is not ours).
    made: Vec<String>,
}

/// Runs `ip <args>`; an error quotes its stderr.
fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("running `ip` (iproute2): {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// The namespaces `ip netns list` shows.
pub fn list_netns() -> io::Result<Vec<String>> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .stdin(Stdio::null())
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        // `name (id: 3)`
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect())
}

/// The pid that named namespace `name` (`tb<pid>s<n>`, `tb<pid>c<n>`).
fn owner(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("tb")?;
    let end = rest.find(['s', 'c'])?;
    let tail = &rest[end + 1..];
    (!tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()))
        .then(|| rest[..end].parse().ok())
        .flatten()
}

/// Deletes the namespaces of runs that are gone (killed before their drop); returns their
/// names.
pub fn sweep_stale() -> Vec<String> {
    let mut gone = Vec::new();
    for name in list_netns().unwrap_or_default() {
        let Some(pid) = owner(&name) else { continue };
        if crate::procfs::state(pid).is_none() && ip(&["netns", "del", &name]).is_ok() {
            gone.push(name);
        }
    }
    gone
}

impl VethPair {
    /// Creates both namespaces, the veth pair between them, the addresses, and brings every
    /// link (loopback too) up. On any failure what was made is removed and the error says
    /// which step failed (not root, no network namespaces, no `ip`).
    pub fn create() -> io::Result<VethPair> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Owned before the first step: a failure half-way drops (deletes) what exists.
        let mut pair = VethPair {
            server_ns: format!("tb{pid}s{n}"),
            client_ns: format!("tb{pid}c{n}"),
            made: Vec::new(),
        };
        for ns in [pair.server_ns.clone(), pair.client_ns.clone()] {
            ip(&["netns", "add", &ns])?;
            pair.made.push(ns);
        }
        let (s, c) = (pair.server_ns.as_str(), pair.client_ns.as_str());
        ip(&[
            "link", "add", s, "netns", s, "type", "veth", "peer", "name", c, "netns", c,
        ])?;
        for (ns, addr) in [(s, SERVER_ADDR), (c, CLIENT_ADDR)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", ns])?;
            ip(&["-n", ns, "link", "set", ns, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(pair)
    }

    /// `ip netns exec <server namespace> <program>`: `ip` enters the namespace and execs the
    /// program in its own process (the pid a guard holds is the server's).
    pub fn exec_in_server(&self, program: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.server_ns]).arg(program);
        cmd
    }

    /// The client namespace's file, for [`LoadSpec::netns`].
    pub fn client_netns(&self) -> PathBuf {
        Path::new(NETNS_DIR).join(&self.client_ns)
    }

    /// Points `spec` across the link: its threads enter the client namespace, and the
    /// (non-loopback) server address is allowed.
    pub fn client_side(&self, spec: &mut LoadSpec) {
        spec.netns = Some(self.client_netns());
        spec.allow_remote = true;
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        for ns in &self.made {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("threadbench: warning: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_read_from_names() {
        assert_eq!(owner("tb1234s0"), Some(1234));
        assert_eq!(owner("tb1234c17"), Some(1234));
        for other in ["tb1234", "tb1234s", "tbxs1", "other", "tb12x3s1", "tb7s1x"] {
            assert_eq!(owner(other), None, "{other}");
        }
    }
}
