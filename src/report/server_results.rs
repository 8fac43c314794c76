//! `target/threadbench/server.json`: the side metrics of every (group, model, parameter) the
//! server benches measured, merged by key across runs (see [`super::results`]).

use super::results::{Artefact, Keyed};
use crate::load::LatencyUs;
use serde::{Deserialize, Serialize};

/// Side metrics of one server benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerRecord {
    pub group: String,
    pub model: String,
    /// The swept parameter (bytes, connections, KiB); `None` for unswept groups.
    pub param: Option<u64>,
    pub requests: u64,
    pub errors: u64,
    /// Requests the generator sent again because the server closed a reused keep-alive
    /// connection before answering ([`crate::load::LoadReport::retries`]); not errors.
    #[serde(default)]
    pub retries: u64,
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
    /// The latency histogram: (upper bound of the bucket in ns, responses), buckets 5 % wide
    /// from 1 µs up, empty ones left out — the report draws the CDF from it.
    #[serde(default)]
    pub latency_hist_ns: Vec<(u64, u64)>,
    /// The run that measured it (see [`super::results::Provenance`]).
    #[serde(default)]
    pub run_id: String,
    /// The keep-alive and timeout policy the lane ran with (`reference::Policy::describe`:
    /// the profile's `[server]` keys every lane, ours and the real servers, is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The network path when it was not loopback (`veth`: server and load in network
    /// namespaces of their own, `[cores] network`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// `server.json`: the server groups' records with their runs' provenance.
pub type ServerResults = Artefact<ServerRecord>;

crate::keyed_record!(ServerRecord, |r| super::results::bench_id(
    &r.group, &r.model, r.param
));

impl ServerRecord {
    /// The benchmark id this record belongs to (`server_conns/sped/64`).
    pub fn id(&self) -> String {
        self.key()
    }

    /// Whether the load generator was the bottleneck: its CPU at or above `threshold`
    /// (a fraction; the profile's `[report] client_bound_util`).
    pub fn client_bound_at(&self, threshold: f64) -> bool {
        self.client_cpu_util >= threshold
    }

    /// Capacity the server's CPU allows: 1 / server CPU per request, in requests per second of
    /// one core (what a claim can judge when the client, not the server, set the pace).
    pub fn capacity_req_per_core_s(&self) -> Option<f64> {
        (self.server_cpu_us_per_req > 0.0).then(|| 1e6 / self.server_cpu_us_per_req)
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
            retries: 0,
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
            latency_hist_ns: vec![(1000, 5), (2000, 95)],
            run_id: String::new(),
            policy: None,
            network: None,
        }
    }

    #[test]
    fn round_trips_and_replaces_by_key() {
        let dir = crate::load::workload::TempDocroot::new().expect("temp dir");
        let path = dir.path().join("server.json");
        assert_eq!(
            ServerResults::load(&path).expect("missing is empty"),
            ServerResults::default()
        );
        let run = crate::report::results::Provenance::now("ci");
        ServerResults::merge_into(
            &path,
            &run,
            vec![
                rec("sped", Some(1024), 10.0),
                rec("mp", Some(1024), 5.0),
                rec("mp", None, 7.0),
            ],
        )
        .expect("save");
        ServerResults::merge_into(&path, &run, vec![rec("sped", Some(1024), 11.0)]).expect("save");
        let back = ServerResults::load(&path).expect("load");
        assert_eq!(back.records.len(), 3);
        let sped = back
            .records
            .iter()
            .find(|r| r.model == "sped")
            .expect("sped");
        assert_eq!(sped.req_per_s, 11.0);
        assert_eq!(sped.run_id, run.run_id);
        assert_eq!(sped.latency_hist_ns, vec![(1000, 5), (2000, 95)]);
        assert_eq!(sped.id(), "server_file_size/sped/1024");
        assert!(sped.client_bound_at(0.4) && !sped.client_bound_at(0.9));
        assert_eq!(sped.capacity_req_per_core_s(), Some(80_000.0));
    }
}
