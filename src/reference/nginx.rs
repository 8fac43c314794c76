//! nginx (`nginx -p <dir> -e stderr -g 'daemon off;' -c <conf>`): one worker per server core,
//! each pinned to its core.

use super::{Site, MAX_CONNS};
use std::fmt::Write as _;
use std::path::Path;

/// `worker_cpu_affinity` masks, one per worker: CPU n is bit n, written as binary digits with
/// CPU 0 rightmost (`01 10` pins two workers to CPUs 0 and 1).
fn affinity_masks(cores: &[usize]) -> String {
    let width = cores.iter().max().map_or(1, |m| m + 1);
    cores
        .iter()
        .map(|&c| {
            (0..width)
                .rev()
                .map(|b| if b == c { '1' } else { '0' })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole `nginx.conf`.
pub(super) fn config(site: &Site<'_>) -> String {
    let p = site.policy();
    let cfg = site.cfg;
    let dir = site.dir.display();
    let mut c = String::new();
    let _ = writeln!(
        c,
        "worker_processes {};\nworker_rlimit_nofile {};\npid \"{dir}/nginx.pid\";\nerror_log stderr warn;",
        site.cores.len().max(1),
        2 * MAX_CONNS
    );
    if !site.cores.is_empty() {
        let _ = writeln!(c, "worker_cpu_affinity {};", affinity_masks(site.cores));
    }
    if let Some((user, group)) = &site.user {
        let _ = writeln!(c, "user {user} {group};");
    }
    let _ = writeln!(
        c,
        "events {{\n  worker_connections {MAX_CONNS};\n}}\nhttp {{\n  access_log off;"
    );
    for t in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        let _ = writeln!(c, "  {t}_temp_path \"{dir}/{t}_temp\";");
    }
    if Path::new("/etc/nginx/mime.types").is_file() {
        c += "  include /etc/nginx/mime.types;\n";
    }
    let _ = writeln!(
        c,
        "  default_type application/octet-stream;\n  sendfile {};\n  keepalive_requests {};\n  \
         keepalive_timeout {}ms;\n  client_header_timeout {}ms;\n  send_timeout {}ms;\n  \
         large_client_header_buffers 4 {};\n  server {{\n    listen 127.0.0.1:{} backlog={};\n    \
         root \"{}\";\n  }}\n}}",
        if p.sendfile { "on" } else { "off" },
        p.requests_per_conn,
        p.keepalive_timeout_ms,
        p.header_timeout_ms,
        p.send_timeout_ms,
        cfg.max_header_bytes,
        site.port,
        cfg.backlog,
        site.docroot.display()
    );
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ServerConfig;

    #[test]
    fn one_pinned_worker_per_server_core_and_the_shared_policy() {
        assert_eq!(affinity_masks(&[0]), "1");
        assert_eq!(affinity_masks(&[0, 1]), "01 10");
        assert_eq!(affinity_masks(&[2, 3]), "0100 1000");
        let cfg = ServerConfig {
            keepalive_timeout_ms: 3000,
            send: "sendfile".into(),
            ..ServerConfig::default()
        };
        let site = Site {
            docroot: Path::new("/d/www"),
            dir: Path::new("/t/c"),
            port: 9,
            cores: &[2, 3],
            cfg: &cfg,
            user: None,
        };
        let c = config(&site);
        for line in [
            "worker_processes 2;",
            "worker_cpu_affinity 0100 1000;",
            "pid \"/t/c/nginx.pid\";",
            "  access_log off;",
            "  sendfile on;",
            "  keepalive_requests 100;",
            "  keepalive_timeout 3000ms;",
            "  client_header_timeout 20000ms;",
            "    listen 127.0.0.1:9 backlog=1024;",
            "    root \"/d/www\";",
            "  client_body_temp_path \"/t/c/client_body_temp\";",
        ] {
            assert!(c.lines().any(|l| l == line), "no {line:?} in\n{c}");
        }
        assert!(!c.contains("user "), "no user directive when not root");
    }
}
