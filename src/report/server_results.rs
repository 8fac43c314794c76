//! `target/threadbench/server.json`: the side metrics of every (group, model, parameter) the
//! server benches measured, merged across runs (a new measurement replaces the old one).

use crate::load::LatencyUs;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// Side metrics of one server benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerRecord {
    pub group: String,
    pub model: String,
    /// The swept parameter (bytes, connections, KiB); `None` for unswept groups.
    pub param: Option<u64>,
    pub requests: u64,
    pub errors: u64,
    pub req_per_s: f64,
    pub mb_per_s: f64,
    pub latency_us: LatencyUs,
    pub server_cpu_us_per_req: f64,
    /// Summed over the server's process tree at the end of the measurement.
    pub server_rss_bytes: u64,
    pub server_pss_bytes: u64,
    pub server_processes: u64,
    pub voluntary_ctx_per_req: f64,
    pub involuntary_ctx_per_req: f64,
    pub client_cpu_util: f64,
    pub client_bound: bool,
    /// Disk workload: page-cache resident fraction of the set before the batches (mean).
    #[serde(default)]
    pub resident_before: Option<f64>,
    /// Seconds since the Unix epoch when measured.
    pub measured_at: u64,
}

/// All records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerResults {
    pub records: Vec<ServerRecord>,
}

impl ServerResults {
    /// `target/threadbench/server.json`.
    pub fn default_path() -> io::Result<PathBuf> {
        Ok(super::output_dir()?.join("server.json"))
    }

    /// Reads `path`; a missing file is an empty set.
    pub fn load(path: &Path) -> io::Result<ServerResults> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ServerResults::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes `path` atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(self)?)?;
        std::fs::rename(tmp, path)
    }

    /// Adds `rec`, replacing any earlier record of the same (group, model, param).
    pub fn upsert(&mut self, rec: ServerRecord) {
        self.records
            .retain(|r| !(r.group == rec.group && r.model == rec.model && r.param == rec.param));
        self.records.push(rec);
        self.records.sort_by(|a, b| {
            (a.group.as_str(), a.model.as_str(), a.param).cmp(&(
                b.group.as_str(),
                b.model.as_str(),
                b.param,
            ))
        });
    }

    /// Loads, upserts and saves in one step (what a bench does after each benchmark).
    pub fn record(rec: ServerRecord) -> io::Result<()> {
        let path = Self::default_path()?;
        let mut all = Self::load(&path)?;
        all.upsert(rec);
        all.save(&path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(model: &str, param: Option<u64>, rps: f64) -> ServerRecord {
        ServerRecord {
            group: "server_file_size".into(),
            model: model.into(),
            param,
            requests: 100,
            errors: 0,
            req_per_s: rps,
            mb_per_s: rps / 1000.0,
            latency_us: LatencyUs {
                min: 1.0,
                mean: 2.5,
                p50: 2.0,
                p90: 3.0,
                p95: 3.5,
                p99: 4.0,
                p999: 5.0,
                max: 6.0,
            },
            server_cpu_us_per_req: 12.5,
            server_rss_bytes: 1 << 20,
            server_pss_bytes: 1 << 19,
            server_processes: 3,
            voluntary_ctx_per_req: 0.5,
            involuntary_ctx_per_req: 0.01,
            client_cpu_util: 0.4,
            client_bound: false,
            resident_before: Some(0.02),
            measured_at: 1,
        }
    }

    #[test]
    fn round_trips_and_replaces() {
        let dir = crate::load::workload::TempDocroot::new().expect("temp dir");
        let path = dir.path().join("server.json");
        assert_eq!(
            ServerResults::load(&path).expect("missing is empty"),
            ServerResults::default()
        );
        let mut all = ServerResults::default();
        all.upsert(rec("sped", Some(1024), 10.0));
        all.upsert(rec("mp", Some(1024), 5.0));
        all.upsert(rec("mp", None, 7.0));
        all.upsert(rec("sped", Some(1024), 11.0));
        assert_eq!(all.records.len(), 3);
        all.save(&path).expect("save");
        let back = ServerResults::load(&path).expect("load");
        assert_eq!(back, all);
        assert_eq!(
            back.records
                .iter()
                .find(|r| r.model == "sped")
                .expect("sped")
                .req_per_s,
            11.0
        );
    }
}
