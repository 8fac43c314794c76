//! lighttpd 1.4 (`lighttpd -D -f <conf>`): one process, one event loop.

use super::{secs, Site, MAX_CONNS};
use std::fmt::Write as _;

/// The whole `lighttpd.conf`. No `server.errorlog`: in the foreground lighttpd logs to
/// stderr, which the launcher keeps (it would open a log file only after dropping root).
pub(super) fn config(site: &Site<'_>) -> String {
    let p = site.policy();
    let cfg = site.cfg;
    let mut c = String::new();
    let _ = writeln!(
        c,
        "server.document-root = \"{}\"\nserver.bind = \"127.0.0.1\"\nserver.port = {}\n\
         server.pid-file = \"{}/lighttpd.pid\"\nserver.listen-backlog = {}",
        site.docroot.display(),
        site.port,
        site.dir.display(),
        cfg.backlog
    );
    if let Some((user, group)) = &site.user {
        let _ = writeln!(
            c,
            "server.username = \"{user}\"\nserver.groupname = \"{group}\""
        );
    }
    let _ = writeln!(
        c,
        "server.max-keep-alive-requests = {}\nserver.max-keep-alive-idle = {}\n\
         server.max-read-idle = {}\nserver.max-write-idle = {}\n\
         server.max-request-field-size = {}\nserver.max-connections = {MAX_CONNS}\n\
         server.max-fds = {}\nserver.network-backend = \"{}\"",
        // Counts the requests after the first, like Apache.
        p.keepalives_after_first(),
        secs(p.keepalive_timeout_ms),
        secs(p.header_timeout_ms),
        secs(p.send_timeout_ms),
        cfg.max_header_bytes,
        2 * MAX_CONNS,
        if p.sendfile { "sendfile" } else { "writev" }
    );
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ServerConfig;
    use std::path::Path;

    #[test]
    fn the_shared_policy_in_seconds() {
        let cfg = ServerConfig {
            keepalive_timeout_ms: 2500,
            header_timeout_ms: 999,
            ..ServerConfig::default()
        };
        let site = Site {
            docroot: Path::new("/d/www"),
            dir: Path::new("/t/c"),
            port: 77,
            cores: &[],
            cfg: &cfg,
            user: Some(("nobody".into(), "nogroup".into())),
        };
        let c = config(&site);
        for line in [
            "server.port = 77",
            "server.max-keep-alive-requests = 99",
            "server.max-keep-alive-idle = 3",
            "server.max-read-idle = 1",
            "server.network-backend = \"writev\"",
            "server.username = \"nobody\"",
            "server.pid-file = \"/t/c/lighttpd.pid\"",
        ] {
            assert!(c.lines().any(|l| l == line), "no {line:?} in\n{c}");
        }
        assert!(!c.contains("accesslog"), "access log off");
    }
}
