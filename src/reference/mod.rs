//! Real servers as lanes beside the suite's own models: Apache (prefork, worker and event
//! MPMs), nginx and lighttpd, configured from the same profile `[server]` keys our models
//! read and loaded by the same generator.
//!
//! What it stresses: nothing of its own — it answers "is our `mp` what Apache prefork costs,
//! our `sped` what lighttpd costs?" and "does event-driven beat the MP server people run?"
//! (the Flash paper ran Apache and Zeus beside its own variants).
//!
//! ```text
//!   e2e (launcher: temp dir, free port, spawn pinned, probe, stop, reap the group)
//!    └─▶ RefServer::prepare ─▶ apache.rs | nginx.rs | lighttpd.rs  (one config writer each)
//!          127.0.0.1:<free port>, docroot = the workload's, foreground, access log off,
//!          logs to stderr, pid file and temp paths in the temp dir
//! ```
//!
//! One policy for every lane, from [`Policy`]: [`MAX_KEEPALIVE_REQUESTS`] requests per
//! connection (our blocking models' and Apache's default), the idle keep-alive, header and
//! send timeouts of `[server]`, the send path of `[server] send` (`sendfile`, or each
//! server's mmap/read + `writev` path), pool sizes from `processes`/`threads` (prefork:
//! `processes` children; worker/event: one child of `threads` threads, like our `mt`; nginx:
//! one worker per server core, each pinned; lighttpd: one process). Run as root, the servers'
//! workers run as `nobody` (Apache refuses to serve as root).
//!
//! A layer-2 module like [`crate::server`] and [`crate::load`]; the one exception to "layer 2
//! modules do not use each other": it names [`crate::server::Model`] in [`Lane`] (a lane is
//! one of our models or a real server) and never calls into the server.
//!
//! It does not measure anything itself, and does not configure TLS, logging or modules a
//! static-file benchmark does not need.

mod apache;
mod lighttpd;
mod nginx;

use crate::profile::ServerConfig;
use crate::server::Model;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The requests a keep-alive connection may carry before the server closes it, the same in
/// every lane: our blocking models' limit, which is also Apache's `MaxKeepAliveRequests`.
pub const MAX_KEEPALIVE_REQUESTS: u32 = crate::server::blocking::MAX_KEEPALIVE_REQUESTS;

/// Connection slots of the event-driven servers (nginx `worker_connections`, lighttpd
/// `server.max-connections`): the largest default sweep point (1024) with room. nginx
/// preallocates ~0.5 KiB per slot, which shows in its PSS.
pub const MAX_CONNS: usize = 4096;

/// The real servers the suite runs as reference lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefServer {
    ApachePrefork,
    ApacheWorker,
    ApacheEvent,
    Nginx,
    Lighttpd,
}

impl RefServer {
    pub const ALL: [RefServer; 5] = [
        RefServer::ApachePrefork,
        RefServer::ApacheWorker,
        RefServer::ApacheEvent,
        RefServer::Nginx,
        RefServer::Lighttpd,
    ];

    /// The function part of its benchmark ids (`server_conns/apache_prefork/64`).
    pub fn name(self) -> &'static str {
        match self {
            RefServer::ApachePrefork => "apache_prefork",
            RefServer::ApacheWorker => "apache_worker",
            RefServer::ApacheEvent => "apache_event",
            RefServer::Nginx => "nginx",
            RefServer::Lighttpd => "lighttpd",
        }
    }

    pub fn parse(s: &str) -> Option<RefServer> {
        RefServer::ALL.into_iter().find(|r| r.name() == s)
    }

    /// The Debian/Ubuntu package that installs it.
    pub fn package(self) -> &'static str {
        match self {
            RefServer::ApachePrefork | RefServer::ApacheWorker | RefServer::ApacheEvent => {
                "apache2"
            }
            RefServer::Nginx => "nginx",
            RefServer::Lighttpd => "lighttpd",
        }
    }

    fn program(self) -> &'static str {
        self.package()
    }

    /// The files it needs besides the program (Apache's MPM module).
    fn needs(self) -> Vec<PathBuf> {
        match self {
            RefServer::ApachePrefork | RefServer::ApacheWorker | RefServer::ApacheEvent => {
                vec![apache::module_path(apache::Mpm::of(self).module())]
            }
            RefServer::Nginx | RefServer::Lighttpd => Vec::new(),
        }
    }

    /// Our model it is the real counterpart of (the report's twin table): `mp`↔Apache
    /// prefork, `mt`↔Apache worker, `sped`↔lighttpd, `sped_n`↔nginx. A name, resolved with
    /// [`Model::parse`]: a model this build lacks is "not measured" there, not an error.
    pub fn twin(self) -> Option<&'static str> {
        match self {
            RefServer::ApachePrefork => Some("mp"),
            RefServer::ApacheWorker => Some("mt"),
            RefServer::ApacheEvent => None,
            RefServer::Nginx => Some("sped_n"),
            RefServer::Lighttpd => Some("sped"),
        }
    }

    /// Whether it serves from an event loop (nginx, lighttpd) rather than a process or thread
    /// per connection (Apache prefork and worker; event hands idle keep-alive connections to
    /// a listener thread but still runs every request on a worker thread).
    pub fn event_driven(self) -> bool {
        matches!(self, RefServer::Nginx | RefServer::Lighttpd)
    }

    /// What it does per request that our models do not, from `strace -c -f` of each server
    /// and model under the same load (docs/benchmarks.md has the counts; our models make a
    /// recv and a writev per keep-alive request): the report shows it where ours is much
    /// cheaper than its twin.
    pub fn extra_work(self) -> &'static str {
        match self {
            RefServer::ApachePrefork | RefServer::ApacheWorker => {
                "Apache opens, fstats, maps, unmaps and closes the file on every request (no \
                 open-file cache; EnableMMAP even for small files), and after each answer reads \
                 the socket again and polls it before the next request arrives"
            }
            RefServer::ApacheEvent => {
                "Apache event opens, fstats, maps, unmaps and closes the file on every request, \
                 and hands every keep-alive connection from a worker thread to its listener \
                 thread and back (epoll_ctl and futex wake-ups per request)"
            }
            RefServer::Nginx => {
                "nginx opens, fstats and closes the file on every request (open_file_cache is \
                 off by default) and, without sendfile, preads it into a buffer before writev"
            }
            RefServer::Lighttpd => {
                "lighttpd reads the socket a second time per request (finding nothing) and, \
                 with its writev backend, preads the file into a buffer before writev"
            }
        }
    }

    /// Where its program is: the first of `dirs` that has it, with every file it needs.
    pub fn locate_in(self, dirs: &[PathBuf]) -> Result<PathBuf, Missing> {
        let missing = |what: PathBuf| Missing {
            server: self,
            what,
            searched: dirs.to_vec(),
        };
        let program = dirs
            .iter()
            .map(|d| d.join(self.program()))
            .find(|p| is_executable(p))
            .ok_or_else(|| missing(PathBuf::from(self.program())))?;
        if let Some(file) = self.needs().into_iter().find(|f| !f.is_file()) {
            return Err(missing(file));
        }
        Ok(program)
    }

    /// [`Self::locate_in`] the sbin directories and `$PATH`.
    pub fn locate(self) -> Result<PathBuf, Missing> {
        self.locate_in(&search_dirs())
    }

    /// Writes its configuration for `site` into `site.dir` and returns the command that runs
    /// it in the foreground (`program` from [`Self::locate`]).
    pub fn prepare(self, program: &Path, site: &Site<'_>) -> io::Result<Command> {
        let (file, text) = match self {
            RefServer::ApachePrefork | RefServer::ApacheWorker | RefServer::ApacheEvent => {
                ("apache2.conf", apache::config(apache::Mpm::of(self), site))
            }
            RefServer::Nginx => ("nginx.conf", nginx::config(site)),
            RefServer::Lighttpd => ("lighttpd.conf", lighttpd::config(site)),
        };
        let conf = site.dir.join(file);
        std::fs::write(&conf, text)?;
        let mut cmd = Command::new(program);
        match self {
            RefServer::ApachePrefork | RefServer::ApacheWorker | RefServer::ApacheEvent => {
                cmd.arg("-DFOREGROUND").arg("-f").arg(&conf)
            }
            RefServer::Nginx => cmd
                .arg("-p")
                .arg(site.dir)
                .args(["-e", "stderr", "-g", "daemon off;", "-c"])
                .arg(&conf),
            RefServer::Lighttpd => cmd.arg("-D").arg("-f").arg(&conf),
        };
        // Apache reads its environment for nothing it needs; keep the locale out of logs.
        cmd.env("LANG", "C");
        Ok(cmd)
    }
}

impl std::fmt::Display for RefServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A reference lane that cannot run here: its program or a file it needs is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub server: RefServer,
    pub what: PathBuf,
    pub searched: Vec<PathBuf>,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dirs: Vec<String> = self
            .searched
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        write!(
            f,
            "{}: {} not found (searched {}): install the Debian package {} \
             (scripts/install-reference-servers.sh does)",
            self.server,
            self.what.display(),
            dirs.join(":"),
            self.server.package()
        )
    }
}

impl std::error::Error for Missing {}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The sbin directories (where Debian puts daemons), then `$PATH`.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["/usr/sbin", "/usr/local/sbin", "/sbin"]
        .into_iter()
        .map(PathBuf::from)
        .collect();
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    dirs
}

/// One lane of a server group: one of our models, or a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lane {
    Model(Model),
    Reference(RefServer),
}

impl Lane {
    /// Every lane: our models in their order, then the real servers.
    pub fn all() -> Vec<Lane> {
        Model::ALL
            .into_iter()
            .map(Lane::Model)
            .chain(RefServer::ALL.into_iter().map(Lane::Reference))
            .collect()
    }

    /// The function part of the benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Lane::Model(m) => m.name(),
            Lane::Reference(r) => r.name(),
        }
    }

    pub fn parse(s: &str) -> Option<Lane> {
        Model::parse(s)
            .map(Lane::Model)
            .or_else(|| RefServer::parse(s).map(Lane::Reference))
    }

    /// The names a profile's `models = [...]` may use.
    pub fn names() -> Vec<&'static str> {
        Lane::all().into_iter().map(Lane::name).collect()
    }
}

impl std::fmt::Display for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The keep-alive and timeout policy every lane gets, from the profile's `[server]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub requests_per_conn: u32,
    pub keepalive_timeout_ms: u64,
    pub header_timeout_ms: u64,
    pub send_timeout_ms: u64,
    pub sendfile: bool,
}

impl Policy {
    pub fn of(cfg: &ServerConfig) -> Policy {
        Policy {
            requests_per_conn: MAX_KEEPALIVE_REQUESTS,
            keepalive_timeout_ms: cfg.keepalive_timeout_ms,
            header_timeout_ms: cfg.header_timeout_ms,
            send_timeout_ms: cfg.send_timeout_ms,
            sendfile: cfg.send == "sendfile",
        }
    }

    /// The requests after the first one a connection may carry: what Apache's
    /// `MaxKeepAliveRequests` and lighttpd's `server.max-keep-alive-requests` count (both
    /// answer 101 requests on a connection at 100, measured), at least 1.
    pub fn keepalives_after_first(&self) -> u32 {
        self.requests_per_conn.saturating_sub(1).max(1)
    }

    /// One sentence for the report.
    pub fn describe(&self) -> String {
        format!(
            "every real server closes a keep-alive connection after {} requests (as our blocking \
             models do; our event-driven ones set no cap), and every lane an idle one after {} ms, \
             a request head that takes longer than {} ms and an answer stalled for {} ms \
             (servers that count in seconds get the value rounded up); bodies go out with {}",
            self.requests_per_conn,
            self.keepalive_timeout_ms,
            self.header_timeout_ms,
            self.send_timeout_ms,
            if self.sendfile {
                "sendfile"
            } else {
                "each server's writev path (Apache mmap + writev, nginx read + writev, lighttpd writev)"
            }
        )
    }
}

/// Whole seconds for servers that count in seconds: rounded up, at least 1.
fn secs(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

/// Everything a configuration writer needs: where to serve, what, and with which policy.
#[derive(Debug, Clone)]
pub struct Site<'a> {
    pub docroot: &'a Path,
    /// The temporary directory the configuration, pid file and temp paths go into.
    pub dir: &'a Path,
    pub port: u16,
    /// The server cores (the launcher pins the process before exec; nginx also pins each
    /// worker to one of them). Empty: unpinned.
    pub cores: &'a [usize],
    pub cfg: &'a ServerConfig,
    /// The unprivileged user and group the workers switch to when started as root.
    pub user: Option<(String, String)>,
}

impl Site<'_> {
    fn policy(&self) -> Policy {
        Policy::of(self.cfg)
    }
}

/// `nobody` and its primary group, when this process runs as root (servers drop to it, and
/// Apache will not serve as root); `None` otherwise, or when the system has no `nobody`.
pub fn unprivileged_user() -> Option<(String, String)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?;
    if euid != "0" {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let gid = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"nobody"))?
        .get(3)?
        .to_string();
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    let group = groups
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&gid.as_str()))?
        .first()?
        .to_string();
    Some(("nobody".into(), group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_ids_parse_back_and_do_not_clash_with_models() {
        let names = Lane::names();
        let mut seen = std::collections::BTreeSet::new();
        for n in &names {
            assert!(seen.insert(*n), "{n} twice");
            assert!(n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert_eq!(Lane::parse(n).map(Lane::name), Some(*n));
        }
        assert_eq!(names.len(), Model::ALL.len() + RefServer::ALL.len());
        assert_eq!(
            Lane::parse("apache_prefork"),
            Some(Lane::Reference(RefServer::ApachePrefork))
        );
        assert_eq!(Lane::parse("mp"), Some(Lane::Model(Model::Mp)));
        assert_eq!(Lane::parse("apache"), None);
    }

    #[test]
    fn a_missing_program_names_the_package() {
        let empty = std::env::temp_dir().join(format!("threadbench-nobin-{}", std::process::id()));
        std::fs::create_dir_all(&empty).expect("mkdir");
        let e = RefServer::Nginx
            .locate_in(std::slice::from_ref(&empty))
            .unwrap_err();
        let msg = e.to_string();
        std::fs::remove_dir_all(&empty).expect("rmdir");
        assert!(
            msg.starts_with("nginx: nginx not found") && msg.contains("Debian package nginx"),
            "{msg}"
        );
    }

    #[test]
    fn policy_comes_from_the_server_section() {
        let mut cfg = ServerConfig {
            keepalive_timeout_ms: 1500,
            ..ServerConfig::default()
        };
        let p = Policy::of(&cfg);
        assert_eq!(
            (p.requests_per_conn, p.keepalive_timeout_ms, p.sendfile),
            (100, 1500, false)
        );
        let d = p.describe();
        assert!(
            d.contains("after 100 requests (as our blocking models"),
            "{d}"
        );
        assert!(d.contains("an idle one after 1500 ms"), "{d}");
        cfg.send = "sendfile".into();
        assert!(Policy::of(&cfg).describe().ends_with("with sendfile"));
        assert_eq!((secs(1), secs(1000), secs(1001)), (1, 1, 2));
    }

    #[test]
    fn every_twin_names_a_model_or_a_model_to_come() {
        for r in RefServer::ALL {
            if let Some(t) = r.twin() {
                assert!(Model::parse(t).is_some() || t == "sped_n", "{r}: {t}");
            }
        }
    }
}
