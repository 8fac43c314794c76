//! Apache httpd 2.4 (`apache2 -DFOREGROUND -f <conf>`): one configuration for the three MPMs,
//! every module loaded explicitly (nothing from `/etc/apache2`).

use super::{secs, RefServer, Site};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Where Debian installs Apache's modules.
const MODULE_DIR: &str = "/usr/lib/apache2/modules";

/// The modules a static-file server needs: access control (`Require`), MIME types, and the
/// header timeout.
const MODULES: [(&str, &str); 3] = [
    ("authz_core_module", "mod_authz_core.so"),
    ("mime_module", "mod_mime.so"),
    ("reqtimeout_module", "mod_reqtimeout.so"),
];

/// Apache's multi-processing modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mpm {
    Prefork,
    Worker,
    Event,
}

impl Mpm {
    pub(super) fn of(r: RefServer) -> Mpm {
        match r {
            RefServer::ApacheWorker => Mpm::Worker,
            RefServer::ApacheEvent => Mpm::Event,
            _ => Mpm::Prefork,
        }
    }

    pub(super) fn module(self) -> &'static str {
        match self {
            Mpm::Prefork => "mod_mpm_prefork.so",
            Mpm::Worker => "mod_mpm_worker.so",
            Mpm::Event => "mod_mpm_event.so",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mpm::Prefork => "mpm_prefork_module",
            Mpm::Worker => "mpm_worker_module",
            Mpm::Event => "mpm_event_module",
        }
    }
}

pub(super) fn module_path(file: &str) -> PathBuf {
    PathBuf::from(MODULE_DIR).join(file)
}

/// The whole `apache2.conf`.
pub(super) fn config(mpm: Mpm, site: &Site<'_>) -> String {
    let p = site.policy();
    let cfg = site.cfg;
    let dir = site.dir.display();
    let docroot = site.docroot.display();
    let mut c = String::new();
    let _ = writeln!(c, "ServerRoot \"{dir}\"\nDefaultRuntimeDir \"{dir}\"");
    let _ = writeln!(
        c,
        "LoadModule {} \"{}\"",
        mpm.name(),
        module_path(mpm.module()).display()
    );
    for (name, file) in MODULES {
        let _ = writeln!(c, "LoadModule {name} \"{}\"", module_path(file).display());
    }
    let _ = writeln!(
        c,
        "ServerName 127.0.0.1\nListen 127.0.0.1:{}\nListenBacklog {}\nPidFile \"{dir}/apache2.pid\"\n\
         ErrorLog /dev/stderr\nLogLevel warn\nHostnameLookups Off",
        site.port, cfg.backlog
    );
    if let Some((user, group)) = &site.user {
        let _ = writeln!(c, "User {user}\nGroup {group}");
    }
    // The keep-alive policy every lane shares; no access log (mod_log_config has no
    // CustomLog here). MaxKeepAliveRequests counts the requests after the first.
    let _ = writeln!(
        c,
        "KeepAlive On\nMaxKeepAliveRequests {}\nKeepAliveTimeout {}ms\n\
         RequestReadTimeout header={} body={}\nTimeout {}\n\
         LimitRequestLine {}\nLimitRequestFieldSize {}",
        p.keepalives_after_first(),
        p.keepalive_timeout_ms,
        secs(p.header_timeout_ms),
        secs(p.header_timeout_ms),
        secs(p.send_timeout_ms),
        cfg.max_header_bytes,
        cfg.max_header_bytes
    );
    // sendfile, or the mmap + writev path (Apache's writev-style variant).
    let _ = writeln!(
        c,
        "EnableSendfile {}\nEnableMMAP On",
        if p.sendfile { "On" } else { "Off" }
    );
    match mpm {
        // A fixed pool of `processes` children, as our mp pre-forks them: never more, never
        // fewer, never recycled.
        Mpm::Prefork => {
            let n = cfg.processes;
            let _ = writeln!(
                c,
                "StartServers {n}\nServerLimit {n}\nMaxRequestWorkers {n}\nMinSpareServers 1\n\
                 MaxSpareServers {n}\nMaxConnectionsPerChild 0"
            );
        }
        // One child of `threads` threads: our mt's pool in one process.
        Mpm::Worker | Mpm::Event => {
            let t = cfg.threads;
            let _ = writeln!(
                c,
                "StartServers 1\nServerLimit 1\nThreadLimit {t}\nThreadsPerChild {t}\n\
                 MaxRequestWorkers {t}\nMinSpareThreads 1\nMaxSpareThreads {t}\nMaxConnectionsPerChild 0"
            );
        }
    }
    let _ = writeln!(
        c,
        "TypesConfig /etc/mime.types\nDocumentRoot \"{docroot}\"\n\
         <Directory />\n  Options FollowSymLinks\n  AllowOverride None\n  Require all denied\n</Directory>\n\
         <Directory \"{docroot}\">\n  Require all granted\n</Directory>"
    );
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ServerConfig;
    use std::path::Path;

    fn site(cfg: &ServerConfig) -> Site<'_> {
        Site {
            docroot: Path::new("/d/www"),
            dir: Path::new("/t/conf"),
            port: 4242,
            cores: &[0],
            cfg,
            user: Some(("nobody".into(), "nogroup".into())),
        }
    }

    #[test]
    fn pools_policy_and_paths_come_from_the_profile() {
        let cfg = ServerConfig {
            processes: 7,
            threads: 48,
            keepalive_timeout_ms: 2500,
            header_timeout_ms: 1200,
            ..ServerConfig::default()
        };
        let pre = config(Mpm::Prefork, &site(&cfg));
        for line in [
            "LoadModule mpm_prefork_module \"/usr/lib/apache2/modules/mod_mpm_prefork.so\"",
            "Listen 127.0.0.1:4242",
            "StartServers 7",
            "ServerLimit 7",
            "MaxRequestWorkers 7",
            "MaxConnectionsPerChild 0",
            "MaxKeepAliveRequests 99",
            "KeepAliveTimeout 2500ms",
            "RequestReadTimeout header=2 body=2",
            "EnableSendfile Off",
            "PidFile \"/t/conf/apache2.pid\"",
            "DocumentRoot \"/d/www\"",
            "User nobody",
        ] {
            assert!(pre.lines().any(|l| l == line), "no {line:?} in\n{pre}");
        }
        assert!(!pre.contains("CustomLog"), "access log off");
        let ev = config(Mpm::Event, &site(&cfg));
        assert!(ev.contains("mod_mpm_event.so") && ev.contains("ThreadsPerChild 48\n"));
        assert!(ev.contains("MaxRequestWorkers 48\n") && ev.contains("ServerLimit 1\n"));
        let send = ServerConfig {
            send: "sendfile".into(),
            ..cfg
        };
        assert!(config(Mpm::Worker, &site(&send)).contains("EnableSendfile On\n"));
    }
}
