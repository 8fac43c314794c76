//! The findings page: each claim of the lecture and the Flash paper, the figures this run
//! measured for it (with the benchmark IDs they come from), and a verdict computed from them —
//! `holds`, `does not hold`, or `not measured in this run` (naming what is missing).
//!
//! Inputs, read through the results layer ([`super::results`]), current records only (each
//! group's latest run; a missing input turns the claims that need it into "not measured"):
//! - `criterion.json`: the median (ns per iteration) of every benchmark ID;
//! - `server.json`: the side metrics of every server benchmark — throughput, server CPU per
//!   request, PSS, context switches and whether the load generator was the bottleneck;
//! - `models.json`: toy-shop figures, the same-core context-switch time and the core count.
//!
//! A claim about server throughput is judged from figures that measure the server: when any
//! of its inputs was client-bound (the generator's CPU at the profile's
//! `[report] client_bound_util`), it judges on server CPU per request instead (capacity =
//! 1 / CPU per request) and says so; where that cannot stand in (disk-bound waits) it reads
//! "not measurable on this machine".
//!
//! Output: `target/threadbench/findings.md` and [`findings_html`] for the suite's index.html.
//! The claims and their thresholds are in [`claims`], one named function per claim.

use super::bench_ref::{self, Function};
use super::results::{Loaded, Paths, Provenance, SideRecord};
use crate::ids::Group;
use crate::server::Model;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

pub mod claims;
pub use claims::{Claim, CLAIMS, NOISE};

/// One row of server.json (see the module doc for the keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerRow {
    pub group: String,
    pub model: String,
    #[serde(default)]
    pub param: Option<u64>,
    #[serde(default)]
    pub req_per_s: Option<f64>,
    #[serde(default)]
    pub server_cpu_us_per_req: Option<f64>,
    #[serde(default)]
    pub pss_bytes: Option<f64>,
    #[serde(default)]
    pub ctx_switches_per_req: Option<f64>,
    /// The load generator was the bottleneck (see the module doc).
    #[serde(default)]
    pub client_bound: bool,
    #[serde(default)]
    pub client_cpu_util: Option<f64>,
    /// The keep-alive policy it ran with (see `ServerRecord::policy`).
    #[serde(default)]
    pub policy: Option<String>,
}

/// One toy-shop model's figures in models.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToyshopFigures {
    pub total_units: f64,
    pub average_units: f64,
    pub virtual_total_units: f64,
    pub virtual_average_units: f64,
    pub work_mode: String,
    pub unit_us: u64,
}

/// models.json, written by benches/models.rs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelsFile {
    /// Cores the run could use.
    pub cores: Option<usize>,
    /// Keyed by bench function ID (`boss_worker`, `pipeline`).
    #[serde(default)]
    pub toyshop: BTreeMap<String, ToyshopFigures>,
    /// One context switch on one pinned core (pipe ping-pong between two threads), ns.
    pub ctx_switch_ns: Option<f64>,
    /// latency_hiding's crossover as computed when the bench wrote the file (idle µs).
    pub crossover_idle_us: Option<(Option<u64>, u64)>,
}

impl ModelsFile {
    /// The view of models.json's current records (`models_toyshop/<model>`, `latency_hiding`).
    pub fn from_records(recs: &[&SideRecord]) -> Option<ModelsFile> {
        if recs.is_empty() {
            return None;
        }
        let mut m = ModelsFile::default();
        for r in recs {
            if let Some(model) = r.key.strip_prefix("models_toyshop/") {
                if let Ok(fig) = serde_json::from_value(r.data.clone()) {
                    m.toyshop.insert(model.to_owned(), fig);
                }
            } else if r.key == "latency_hiding" {
                m.cores = r.data["cores"].as_u64().map(|c| c as usize);
                m.ctx_switch_ns = r.data["ctx_switch_ns"].as_f64();
                m.crossover_idle_us =
                    serde_json::from_value(r.data["crossover_idle_us"].clone()).unwrap_or(None);
            }
        }
        Some(m)
    }
}

/// Everything the findings are computed from: the current records of each group.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// Benchmark ID → median ns per iteration.
    pub medians: BTreeMap<String, f64>,
    pub server: Vec<ServerRow>,
    pub models: Option<ModelsFile>,
    /// The most recent run any input came from (the page's header).
    pub latest: Option<Provenance>,
    /// Every run the current inputs came from, oldest first.
    pub runs: Vec<Provenance>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Holds,
    DoesNotHold,
    NotMeasured(String),
    /// The inputs were client-bound (the generator's limit) and no server figure can stand in.
    NotMeasurable(String),
}

impl Verdict {
    pub fn label(&self) -> String {
        match self {
            Verdict::Holds => "holds".into(),
            Verdict::DoesNotHold => "does not hold".into(),
            Verdict::NotMeasured(why) => format!("not measured in this run ({why})"),
            Verdict::NotMeasurable(why) => format!("not measurable on this machine ({why})"),
        }
    }
}

/// Why a claim got no verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum Unjudged {
    /// An input is missing.
    Missing(String),
    /// The inputs measure the load generator, not the server, and nothing can stand in.
    ClientBound(String),
}

impl From<String> for Unjudged {
    fn from(s: String) -> Self {
        Unjudged::Missing(s)
    }
}

impl From<&str> for Unjudged {
    fn from(s: &str) -> Self {
        Unjudged::Missing(s.to_owned())
    }
}

/// One claim's evidence and verdict.
#[derive(Debug, Clone)]
pub struct Finding {
    pub number: usize,
    pub claim: &'static str,
    pub evidence: Vec<String>,
    pub verdict: Verdict,
}

impl From<&super::server_results::ServerRecord> for ServerRow {
    fn from(r: &super::server_results::ServerRecord) -> ServerRow {
        ServerRow {
            group: r.group.clone(),
            model: r.model.clone(),
            param: r.param,
            req_per_s: Some(r.req_per_s),
            server_cpu_us_per_req: Some(r.server_cpu_us_per_req),
            pss_bytes: Some(r.server_pss_bytes as f64),
            ctx_switches_per_req: Some(r.voluntary_ctx_per_req + r.involuntary_ctx_per_req),
            client_bound: r.client_bound,
            client_cpu_util: Some(r.client_cpu_util),
            policy: r.policy.clone(),
        }
    }
}

impl Results {
    /// The current records of everything [`Loaded`] holds.
    pub fn from_loaded(l: &Loaded) -> Results {
        let server: Vec<ServerRow> = l
            .server
            .current()
            .into_iter()
            .map(ServerRow::from)
            .collect();
        let models = ModelsFile::from_records(&l.models.current());
        let mut used: Vec<&str> = l
            .criterion
            .current()
            .iter()
            .map(|r| r.run_id.as_str())
            .collect();
        used.extend(l.server.current().iter().map(|r| r.run_id.as_str()));
        used.extend(l.models.current().iter().map(|r| r.run_id.as_str()));
        let all = l.runs();
        let mut runs: Vec<Provenance> = all
            .values()
            .filter(|p| used.contains(&p.run_id.as_str()))
            .cloned()
            .collect();
        runs.sort_by(|a, b| (a.started_at, &a.run_id).cmp(&(b.started_at, &b.run_id)));
        Results {
            medians: l.current_medians(),
            server,
            models,
            latest: runs.last().cloned(),
            runs,
        }
    }

    /// Reads the artefacts under `paths`. Missing files are fine; unreadable ones are errors
    /// naming the file.
    pub fn load(paths: &Paths) -> io::Result<Results> {
        Ok(Results::from_loaded(&Loaded::load(paths)?))
    }

    fn median(&self, id: &str) -> Result<f64, String> {
        self.medians
            .get(id)
            .copied()
            .ok_or_else(|| format!("missing {id}"))
    }

    /// The median of benchmark `group/function[/param]`.
    fn median_of(
        &self,
        group: Group,
        function: impl Into<Function>,
        param: Option<u64>,
    ) -> Result<f64, String> {
        self.median(&bench_ref::id(group, function, param))
    }

    /// (param, median ns) of `group/function/*`, sorted by param.
    fn series(&self, group: Group, function: impl Into<Function>) -> Vec<(u64, f64)> {
        let prefix = format!("{}/", bench_ref::id(group, function, None));
        let mut s: Vec<(u64, f64)> = self
            .medians
            .iter()
            .filter_map(|(id, &v)| Some((id.strip_prefix(&prefix)?.parse().ok()?, v)))
            .collect();
        s.sort_by_key(|p| p.0);
        s
    }

    fn series_min(
        &self,
        group: Group,
        function: impl Into<Function>,
        n: usize,
    ) -> Result<Vec<(u64, f64)>, String> {
        let function = function.into();
        let s = self.series(group, function);
        if s.len() < n {
            Err(format!(
                "{}/* has {} of ≥{n} sweep points",
                bench_ref::id(group, function, None),
                s.len()
            ))
        } else {
            Ok(s)
        }
    }

    fn server_row(&self, group: Group, model: Model, param: Option<u64>) -> Option<&ServerRow> {
        self.server
            .iter()
            .find(|r| r.group == group.name() && r.model == model.name() && r.param == param)
    }

    /// The core count: models.json, else this machine's.
    fn cores(&self) -> usize {
        self.models
            .as_ref()
            .and_then(|m| m.cores)
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1)
    }
}

/// Every claim, judged from `r`.
pub fn findings(r: &Results) -> Vec<Finding> {
    CLAIMS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let claim = c.text;
            let (evidence, verdict) = match (c.judge)(r) {
                Ok((ev, ok)) => (ev, claims::verdict(ok)),
                Err(Unjudged::Missing(why)) => (Vec::new(), Verdict::NotMeasured(why)),
                Err(Unjudged::ClientBound(why)) => (Vec::new(), Verdict::NotMeasurable(why)),
            };
            Finding {
                number: i + 1,
                claim,
                evidence,
                verdict,
            }
        })
        .collect()
}

/// Which runs, profiles, commits and machine the verdicts were judged from.
fn provenance_markdown(r: &Results) -> String {
    let Some(latest) = &r.latest else {
        return "No results yet: run `cargo bench`.\n\n".into();
    };
    let m = &latest.machine;
    let mut md = format!(
        "Judged from: {}.\nMachine: {}, {} ({} CPUs online: {}), {:.1} GiB, Linux {}{}.\n",
        latest.one_line(),
        m.hostname,
        m.cpu_model,
        m.n_cpus,
        m.online_cpus,
        m.mem_total_bytes as f64 / (1u64 << 30) as f64,
        m.kernel,
        if m.virtualized { ", virtualised" } else { "" }
    );
    if r.runs.len() > 1 {
        md += "Groups come from several runs: ";
        md += &r
            .runs
            .iter()
            .map(|p| format!("{} (profile {}, {})", p.run_id, p.profile, p.started_utc()))
            .collect::<Vec<_>>()
            .join("; ");
        md += ".\n";
    }
    md + "\n"
}

/// The findings page as Markdown.
pub fn findings_markdown(r: &Results) -> String {
    let mut md = String::from("# Findings: the lecture's claims, checked on this machine\n\n");
    md += &provenance_markdown(r);
    md += "Verdicts are computed from each group's latest run (criterion medians, server.json, \
           models.json); results an earlier run left are ignored. Throughput claims whose inputs \
           were client-bound judge on server CPU per request. The machine may have been shared, \
           so read ratios, not absolutes.\n\n";
    for f in findings(r) {
        let _ = writeln!(
            md,
            "## {}. {}\n\n**Verdict: {}**\n",
            f.number,
            f.claim,
            f.verdict.label()
        );
        for e in &f.evidence {
            let _ = writeln!(md, "- {e}");
        }
        md.push('\n');
    }
    md + &super::twins::twins_markdown(r)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The findings as an HTML fragment (a `<section>`) for the suite's index.html.
pub fn findings_html(r: &Results) -> String {
    let mut h = String::from("<section id=\"findings\">\n<h2>Findings: the lecture's claims</h2>\n<table>\n<tr><th>#</th><th>Claim</th><th>Verdict</th><th>Evidence</th></tr>\n");
    for f in findings(r) {
        let class = match f.verdict {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "fails",
            Verdict::NotMeasured(_) => "missing",
            Verdict::NotMeasurable(_) => "unmeasurable",
        };
        let ev: Vec<String> = f.evidence.iter().map(|e| escape(e)).collect();
        let _ = writeln!(
            h,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            f.number,
            escape(f.claim),
            escape(&f.verdict.label()),
            ev.join("<br>")
        );
    }
    h.push_str("</table>\n</section>\n");
    h
}

impl Results {
    /// [`Results::load`] from the default places (see [`Paths::from_env`]).
    pub fn load_default() -> io::Result<Results> {
        Results::load(&Paths::from_env())
    }
}

/// Regenerates `findings.md` under `paths` from what is saved; returns its path.
pub fn write_findings(paths: &Paths) -> io::Result<PathBuf> {
    let results = Results::load(paths)?;
    std::fs::create_dir_all(&paths.out)?;
    let path = paths.file("findings.md");
    std::fs::write(&path, findings_markdown(&results))?;
    Ok(path)
}
