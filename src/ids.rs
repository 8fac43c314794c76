//! The benchmark groups: one registry whose [`Group::name`] is the first part of every
//! benchmark id (`<group>/<function>/<parameter>`). Benches, profiles, ratios, findings and
//! the report name a group through this enum, so renaming an id is a compile error everywhere
//! at once (the strings are an interface users' history and tools read: change them only
//! deliberately, and say so in the README). Functions are enums next to their workloads
//! (`blocks::spawn::Creation`, `blocks::ctx_switch::Switch`, `server::Model`, …).

/// Every benchmark group of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    Spawn,
    SpawnRss,
    CtxSwitchSameCore,
    CtxSwitchCrossCore,
    CtxSwitchWs,
    SyncThreads,
    SyncCriticalSection,
    SyncFalseSharing,
    SyncQueue,
    EventScanFds,
    EventScanActive,
    EventRegister,
    ServerFileSize,
    ServerConns,
    ServerSpecweb,
    ServerDisk,
    ServerWan,
    ModelsToyshop,
    LatencyHiding,
    Matmul,
}

impl Group {
    pub const ALL: [Group; 20] = [
        Group::Spawn,
        Group::SpawnRss,
        Group::CtxSwitchSameCore,
        Group::CtxSwitchCrossCore,
        Group::CtxSwitchWs,
        Group::SyncThreads,
        Group::SyncCriticalSection,
        Group::SyncFalseSharing,
        Group::SyncQueue,
        Group::EventScanFds,
        Group::EventScanActive,
        Group::EventRegister,
        Group::ServerFileSize,
        Group::ServerConns,
        Group::ServerSpecweb,
        Group::ServerDisk,
        Group::ServerWan,
        Group::ModelsToyshop,
        Group::LatencyHiding,
        Group::Matmul,
    ];

    /// The id string.
    pub fn name(self) -> &'static str {
        match self {
            Group::Spawn => "spawn",
            Group::SpawnRss => "spawn_rss",
            Group::CtxSwitchSameCore => "ctx_switch_same_core",
            Group::CtxSwitchCrossCore => "ctx_switch_cross_core",
            Group::CtxSwitchWs => "ctx_switch_ws",
            Group::SyncThreads => "sync_threads",
            Group::SyncCriticalSection => "sync_critical_section",
            Group::SyncFalseSharing => "sync_false_sharing",
            Group::SyncQueue => "sync_queue",
            Group::EventScanFds => "event_scan_fds",
            Group::EventScanActive => "event_scan_active",
            Group::EventRegister => "event_register",
            Group::ServerFileSize => "server_file_size",
            Group::ServerConns => "server_conns",
            Group::ServerSpecweb => "server_specweb",
            Group::ServerDisk => "server_disk",
            Group::ServerWan => "server_wan",
            Group::ModelsToyshop => "models_toyshop",
            Group::LatencyHiding => "latency_hiding",
            Group::Matmul => "matmul",
        }
    }

    pub fn parse(s: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.name() == s)
    }

    /// The sweep a profile that says nothing about the group gets (empty: unswept).
    pub fn default_sweep(self) -> &'static [u64] {
        match self {
            Group::SpawnRss => &[1, 64, 256, 1024],
            Group::CtxSwitchWs => &[0, 16, 256, 2048],
            Group::SyncThreads => &[1, 2, 4, 8],
            Group::SyncCriticalSection => &[0, 100, 1000, 10000],
            Group::SyncFalseSharing | Group::SyncQueue => &[1, 2, 4],
            Group::EventScanFds => &[1, 10, 100, 1000, 10000],
            Group::EventScanActive => &[1, 10, 100, 1000],
            Group::EventRegister => &[10, 100, 1000, 10000],
            Group::ServerFileSize => &[1024, 8192, 65536, 262144],
            Group::ServerConns => &[1, 16, 64, 256, 1024],
            Group::ServerDisk => &[4, 64],
            Group::ServerWan => &[64, 256, 1024],
            Group::LatencyHiding => &[0, 5, 10, 20, 50, 100, 200],
            Group::Matmul => &[1, 2, 3, 4],
            Group::Spawn
            | Group::CtxSwitchSameCore
            | Group::CtxSwitchCrossCore
            | Group::ServerSpecweb
            | Group::ModelsToyshop => &[],
        }
    }

    /// Whether the group is one of the end-to-end server groups.
    pub fn is_server(self) -> bool {
        matches!(
            self,
            Group::ServerFileSize
                | Group::ServerConns
                | Group::ServerSpecweb
                | Group::ServerDisk
                | Group::ServerWan
        )
    }

    /// The benchmark id of `function` (at `param`) in this group.
    /// The bench target (`benches/<file>.rs`, `cargo bench --bench <file>`) that measures the
    /// group: what `threadbench regress` reruns when one of its benchmarks is undecided.
    pub fn bench_file(self) -> &'static str {
        use Group::*;
        match self {
            Spawn | SpawnRss => "spawn",
            CtxSwitchSameCore | CtxSwitchCrossCore | CtxSwitchWs => "context_switch",
            SyncThreads | SyncCriticalSection | SyncFalseSharing | SyncQueue => "sync",
            EventScanFds | EventScanActive | EventRegister => "event_scan",
            ServerFileSize | ServerConns | ServerSpecweb | ServerDisk | ServerWan => "server",
            ModelsToyshop | LatencyHiding | Matmul => "models",
        }
    }

    pub fn id(self, function: &str, param: Option<u64>) -> String {
        match param {
            Some(p) => format!("{}/{function}/{p}", self.name()),
            None => format!("{}/{function}", self.name()),
        }
    }
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lower_snake_and_parse_back() {
        let mut seen = std::collections::BTreeSet::new();
        for g in Group::ALL {
            assert!(seen.insert(g.name()), "{} twice", g.name());
            assert!(g
                .name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert_eq!(Group::parse(g.name()), Some(g));
        }
        assert_eq!(
            Group::ServerConns.id("sped", Some(64)),
            "server_conns/sped/64"
        );
        assert_eq!(
            Group::Spawn.id("fork_exit_wait", None),
            "spawn/fork_exit_wait"
        );
    }

    /// Each group's bench file exists and opens its group (`suite.group(.., Group::X)`).
    #[test]
    fn every_group_is_measured_by_its_bench_file() {
        let benches = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches");
        for g in Group::ALL {
            let path = benches.join(format!("{}.rs", g.bench_file()));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let variant = format!("{g:?}");
            assert!(
                text.contains(&format!("Group::{variant}")),
                "{} does not name Group::{variant}",
                path.display()
            );
        }
    }
}
