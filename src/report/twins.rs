//! The twin table: each of our models beside its real counterpart ([`RefServer::twin`]:
//! `mp`↔Apache prefork, `mt`↔Apache worker, `sped`↔lighttpd, `sped_n`↔nginx) at 1 KiB
//! keep-alive with 64 connections (`server_conns`, or its measured point nearest 64) and on
//! SPECweb96 (`server_specweb`): req/s, server CPU µs per request, PSS, context switches per
//! request, and the real server's cost relative to ours. Where ours is cheaper than its twin
//! by more than [`CHEAPER_NOTE`]×, the table says what the real server does per request that
//! ours does not ([`RefServer::extra_work`]). A pair whose model this build lacks, or that
//! has no records, reads "not measured".

use super::findings::{Results, ServerRow};
use crate::ids::Group;
use crate::reference::RefServer;
use crate::server::Model;
use std::fmt::Write as _;

/// Ours cheaper (server CPU per request) than its twin by more than this: the note appears.
pub const CHEAPER_NOTE: f64 = 1.5;
/// The connections the issue compares twins at.
const CONNS: u64 = 64;

/// One pair on one workload.
#[derive(Debug, Clone)]
pub struct Twin<'a> {
    pub model: &'static str,
    pub real: RefServer,
    /// The benchmark ids' group and parameter (`server_conns/*/64`).
    pub group: Group,
    pub param: Option<u64>,
    /// Both rows, or why not.
    pub rows: Result<(&'a ServerRow, &'a ServerRow), String>,
}

impl Twin<'_> {
    pub fn workload(&self) -> String {
        self.group.id("*", self.param)
    }

    /// Real / ours server CPU per request (> 1: ours is cheaper).
    pub fn cpu_ratio(&self) -> Option<f64> {
        let (o, t) = self.rows.as_ref().ok()?;
        Some(t.server_cpu_us_per_req? / o.server_cpu_us_per_req.filter(|&c| c > 0.0)?)
    }

    /// Ours / real throughput.
    pub fn rps_ratio(&self) -> Option<f64> {
        let (o, t) = self.rows.as_ref().ok()?;
        Some(o.req_per_s? / t.req_per_s.filter(|&v| v > 0.0)?)
    }
}

fn row<'a>(r: &'a Results, group: Group, lane: &str, param: Option<u64>) -> Option<&'a ServerRow> {
    r.server
        .iter()
        .find(|s| s.group == group.name() && s.model == lane && s.param == param)
}

/// The `server_conns` point both lanes were measured at that is nearest 64 connections.
fn conns_point(r: &Results, model: &str, real: RefServer) -> Option<u64> {
    let g = Group::ServerConns.name();
    r.server
        .iter()
        .filter(|s| s.group == g && s.model == model)
        .filter_map(|s| s.param)
        .filter(|&p| row(r, Group::ServerConns, real.name(), Some(p)).is_some())
        .min_by_key(|&p| (p.abs_diff(CONNS), p))
}

/// Every pair on both workloads, in [`RefServer::ALL`] order.
pub fn twins(r: &Results) -> Vec<Twin<'_>> {
    let mut out = Vec::new();
    for real in RefServer::ALL {
        let Some(model) = real.twin() else { continue };
        for group in [Group::ServerConns, Group::ServerSpecweb] {
            let param = match group {
                Group::ServerConns => Some(conns_point(r, model, real).unwrap_or(CONNS)),
                _ => None,
            };
            let id = |lane: &str| group.id(lane, param);
            let rows = if Model::parse(model).is_none() {
                Err(format!("model {model} is not in this build"))
            } else {
                match (
                    row(r, group, model, param),
                    row(r, group, real.name(), param),
                ) {
                    (Some(o), Some(t)) => Ok((o, t)),
                    (o, _) => Err(format!(
                        "no {}",
                        if o.is_none() {
                            id(model)
                        } else {
                            id(real.name())
                        }
                    )),
                }
            };
            out.push(Twin {
                model,
                real,
                group,
                param,
                rows,
            });
        }
    }
    out
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn mib(v: Option<f64>) -> Option<f64> {
    v.map(|b| b / 1048576.0)
}

/// The cells of one measured pair: (lane, req/s, CPU µs/req, PSS MiB, cs/req) for each side.
fn cells(s: &ServerRow) -> [String; 4] {
    [
        fmt_opt(s.req_per_s, 0),
        fmt_opt(s.server_cpu_us_per_req, 2),
        fmt_opt(mib(s.pss_bytes), 1),
        fmt_opt(s.ctx_switches_per_req, 2),
    ]
}

/// The notes under the table: where ours is cheaper than its twin by more than
/// [`CHEAPER_NOTE`]×, what the real server does that ours does not.
fn notes(t: &[Twin<'_>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for x in t {
        let Some(ratio) = x.cpu_ratio().filter(|&q| q > CHEAPER_NOTE) else {
            continue;
        };
        out.push(format!(
            "{} on {}: ours costs 1/{ratio:.1} of {}'s server CPU per request (> {CHEAPER_NOTE}×). {}.",
            x.model,
            x.workload(),
            x.real,
            x.real.extra_work()
        ));
    }
    out
}

/// The policy every lane ran with, from the records (they all carry the same one).
fn policy(r: &Results) -> Option<&str> {
    r.server.iter().find_map(|s| s.policy.as_deref())
}

const HEAD: [&str; 12] = [
    "workload",
    "ours",
    "req/s",
    "CPU µs/req",
    "PSS MiB",
    "cs/req",
    "real twin",
    "req/s",
    "CPU µs/req",
    "PSS MiB",
    "cs/req",
    "real/ours CPU per req (ours/real req/s)",
];

fn table_rows(t: &[Twin<'_>]) -> Vec<Vec<String>> {
    t.iter()
        .map(|x| {
            let mut v = vec![x.workload(), x.model.to_owned()];
            match &x.rows {
                Ok((o, r)) => {
                    v.extend(cells(o));
                    v.push(x.real.name().to_owned());
                    v.extend(cells(r));
                    v.push(format!(
                        "{}× ({}×)",
                        fmt_opt(x.cpu_ratio(), 2),
                        fmt_opt(x.rps_ratio(), 2)
                    ));
                }
                Err(why) => {
                    v.extend(vec!["–".to_owned(); 4]);
                    v.push(x.real.name().to_owned());
                    v.extend(vec!["–".to_owned(); 4]);
                    v.push(format!("not measured ({why})"));
                }
            }
            v
        })
        .collect()
}

const INTRO: &str = "Each of our models beside the real server it stands for, loaded by the same \
    generator on the same cores with the same keep-alive policy and pool sizes. A ratio above 1 \
    in the last column: the real server costs more CPU per request than ours.";

/// The twin table as a Markdown section (for findings.md).
pub fn twins_markdown(r: &Results) -> String {
    let t = twins(r);
    let mut md = format!("## Twins: our models beside real servers\n\n{INTRO}\n\n");
    if let Some(p) = policy(r) {
        let _ = writeln!(md, "Policy: {p}.");
    }
    md.push('\n');
    let _ = writeln!(md, "| {} |", HEAD.join(" | "));
    let _ = writeln!(md, "|{}", " --- |".repeat(HEAD.len()));
    for row in table_rows(&t) {
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
    md.push('\n');
    for n in notes(&t) {
        let _ = writeln!(md, "- {n}");
    }
    md
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The twin table as an HTML section (for index.html).
pub fn twins_html(r: &Results) -> String {
    let t = twins(r);
    let mut h = format!("<h3 id=\"twins\">Twins: our models beside real servers</h3>\n<p>{INTRO}");
    if let Some(p) = policy(r) {
        let _ = write!(h, " Policy: {}.", esc(p));
    }
    h += "</p>\n<div class=\"wide\"><table class=\"num twins\"><tr>";
    for c in HEAD {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h += "</tr>\n";
    for row in table_rows(&t) {
        h += "<tr>";
        for (i, c) in row.iter().enumerate() {
            let class = if i == 6 { " class=\"ref\"" } else { "" };
            let _ = write!(h, "<td{class}>{}</td>", esc(c));
        }
        h += "</tr>\n";
    }
    h += "</table></div>\n";
    let n = notes(&t);
    if !n.is_empty() {
        h += "<ul class=\"notes\">\n";
        for x in n {
            let _ = writeln!(h, "<li>{}</li>", esc(&x));
        }
        h += "</ul>\n";
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srow(group: &str, model: &str, param: Option<u64>, cpu: f64) -> ServerRow {
        ServerRow {
            group: group.into(),
            model: model.into(),
            param,
            req_per_s: Some(1e6 / cpu),
            server_cpu_us_per_req: Some(cpu),
            pss_bytes: Some(4.0 * 1048576.0),
            ctx_switches_per_req: Some(0.5),
            client_bound: false,
            client_cpu_util: Some(0.5),
            policy: Some("every lane closes after 100 requests".into()),
        }
    }

    #[test]
    fn pairs_ratios_notes_and_what_is_not_measured() {
        let r = Results {
            server: vec![
                srow("server_conns", "mp", Some(64), 10.0),
                srow("server_conns", "apache_prefork", Some(64), 20.0),
                srow("server_conns", "mp", Some(16), 10.0),
                srow("server_conns", "sped", Some(16), 10.0),
                srow("server_conns", "lighttpd", Some(16), 12.0),
                srow("server_specweb", "mt", None, 10.0),
                srow("server_specweb", "apache_worker", None, 11.0),
            ],
            ..Results::default()
        };
        let t = twins(&r);
        // Four pairs (apache_event has no twin) × two workloads.
        assert_eq!(t.len(), 8);
        let mp = &t[0];
        assert_eq!(
            (mp.model, mp.workload()),
            ("mp", "server_conns/*/64".to_owned())
        );
        assert_eq!(mp.cpu_ratio(), Some(2.0));
        assert_eq!(mp.rps_ratio(), Some(2.0));
        // The nearest point both measured.
        let sped = t
            .iter()
            .find(|x| x.model == "sped" && x.param.is_some())
            .expect("sped");
        assert_eq!(sped.param, Some(16));
        assert!(sped.rows.is_ok());
        // No records: named; a model this build lacks: said so, not an error.
        assert!(matches!(&t[1].rows, Err(w) if w == "no server_specweb/mp"));
        let nginx = t
            .iter()
            .find(|x| x.real == RefServer::Nginx)
            .expect("nginx");
        assert!(
            matches!(&nginx.rows, Err(w) if w.contains("not in this build"))
                || Model::parse("sped_n").is_some()
        );
        let md = twins_markdown(&r);
        assert!(md.contains("| server_conns/*/64 | mp | 100000 | 10.00 | 4.0 | 0.50 | apache_prefork | 50000 | 20.00 |"), "{md}");
        assert!(md.contains("2.00× (2.00×)"));
        assert!(md.contains("Policy: every lane closes after 100 requests."));
        // mp is 2× cheaper than Apache prefork: the note says what Apache does; 1.1× is no note.
        let notes = notes(&t);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with("mp on server_conns/*/64: ours costs 1/2.0 of apache_prefork's")
        );
        assert!(notes[0].contains("Apache opens, fstats"));
        let html = twins_html(&r);
        assert!(html.contains("<table class=\"num twins\">") && html.contains("<li>mp on"));
    }
}
