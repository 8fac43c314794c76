//! `target/threadbench/index.html`: the suite's own report, regenerated from everything saved
//! so far — per server group an SVG chart (plotters) of MB/s or req/s against the swept
//! parameter, one line per model (the Flash paper's figures, redrawn on this machine), tables
//! of the side metrics from `server.json`, the building blocks' medians and ratios from
//! criterion's `estimates.json`, and the machine facts from `env.json`.

use super::server_results::{ServerRecord, ServerResults};
use plotters::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// One criterion benchmark's median (from `<id>/new/estimates.json` + `benchmark.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionMedian {
    pub group: String,
    pub function: String,
    pub param: Option<String>,
    pub median_ns: f64,
}

#[derive(Deserialize)]
struct BenchmarkJson {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

#[derive(Deserialize)]
struct Estimates {
    median: Estimate,
}

/// Every criterion result under `criterion_dir` (up to four levels deep).
pub fn read_criterion(criterion_dir: &Path) -> Vec<CriterionMedian> {
    let mut out = Vec::new();
    let mut stack = vec![(criterion_dir.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let new = dir.join("new");
        if let (Ok(b), Ok(e)) = (
            std::fs::read_to_string(new.join("benchmark.json")),
            std::fs::read_to_string(new.join("estimates.json")),
        ) {
            if let (Ok(b), Ok(e)) = (
                serde_json::from_str::<BenchmarkJson>(&b),
                serde_json::from_str::<Estimates>(&e),
            ) {
                out.push(CriterionMedian {
                    group: b.group_id,
                    function: b.function_id.unwrap_or_default(),
                    param: b.value_str,
                    median_ns: e.median.point_estimate,
                });
            }
            continue;
        }
        if depth >= 4 {
            continue;
        }
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for ent in rd.flatten() {
                let name = ent.file_name();
                if ent.path().is_dir() && name != "report" {
                    stack.push((ent.path(), depth + 1));
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.group, &a.param, &a.function).cmp(&(&b.group, &b.param, &b.function)));
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Which metric a group's chart shows.
fn chart_metric(group: &str) -> (&'static str, fn(&ServerRecord) -> f64) {
    match group {
        "server_conns" | "server_specweb" => ("req/s", |r| r.req_per_s),
        _ => ("MB/s", |r| r.mb_per_s),
    }
}

fn param_label(group: &str) -> &'static str {
    match group {
        "server_file_size" => "file size (bytes)",
        "server_conns" => "connections",
        "server_disk" => "file size (KiB), page cache evicted",
        _ => "parameter",
    }
}

/// An SVG line chart of one server group: one line per model.
pub fn group_chart(group: &str, recs: &[&ServerRecord]) -> Result<String, String> {
    let (unit, metric) = chart_metric(group);
    let mut by_model: BTreeMap<&str, Vec<(u64, f64)>> = BTreeMap::new();
    for r in recs {
        if let Some(p) = r.param {
            by_model
                .entry(&r.model)
                .or_default()
                .push((p.max(1), metric(r)));
        }
    }
    if by_model.is_empty() {
        return Err("no swept points".into());
    }
    let xs: Vec<u64> = by_model.values().flatten().map(|p| p.0).collect();
    let (xmin, xmax) = (
        *xs.iter().min().expect("points") as f64,
        *xs.iter().max().expect("points") as f64,
    );
    let (xmin, xmax) = if xmin == xmax {
        (xmin / 2.0, xmax * 2.0)
    } else {
        (xmin, xmax)
    };
    let ymax = by_model
        .values()
        .flatten()
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    let mut svg = String::new();
    {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let root = SVGBackend::with_string(&mut svg, (720, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{group}: {unit} vs {}", param_label(group)),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((xmin..xmax).log_scale(), 0f64..ymax)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc(param_label(group))
            .y_desc(unit)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(|x| e(&x))?;
        for (i, (model, pts)) in by_model.iter_mut().enumerate() {
            pts.sort_by_key(|p| p.0);
            let color = Palette99::pick(i).to_rgba();
            let line: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (x as f64, y)).collect();
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
                .map_err(|x| e(&x))?
                .label(*model)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(line.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(|x| e(&x))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    Ok(svg)
}

fn server_table(recs: &[&ServerRecord]) -> String {
    let mut s = String::from(
        "<table><tr><th>model</th><th>param</th><th>requests</th><th>errors</th><th>req/s</th><th>MB/s</th>\
         <th>p50 µs</th><th>p99 µs</th><th>p99.9 µs</th><th>server CPU µs/req</th><th>RSS MiB</th><th>PSS MiB</th>\
         <th>procs</th><th>vol. cs/req</th><th>invol. cs/req</th><th>client CPU</th><th>resident before</th></tr>\n",
    );
    for r in recs {
        let _ = writeln!(
            s,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.2}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td>\
             <td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.0} %{}</td><td>{}</td></tr>",
            if r.client_bound { " class=\"cb\"" } else { "" },
            esc(&r.model),
            r.param.map_or("-".into(), |p| p.to_string()),
            r.requests,
            r.errors,
            r.req_per_s,
            r.mb_per_s,
            r.latency_us.p50,
            r.latency_us.p99,
            r.latency_us.p999,
            r.server_cpu_us_per_req,
            r.server_rss_bytes as f64 / 1048576.0,
            r.server_pss_bytes as f64 / 1048576.0,
            r.server_processes,
            r.voluntary_ctx_per_req,
            r.involuntary_ctx_per_req,
            r.client_cpu_util * 100.0,
            if r.client_bound { " client-bound" } else { "" },
            r.resident_before.map_or("-".into(), |f| format!("{:.1} %", f * 100.0)),
        );
    }
    s + "</table>\n"
}

fn blocks_tables(medians: &[CriterionMedian]) -> String {
    let mut s = String::new();
    let mut groups: BTreeMap<(&str, Option<&str>), Vec<&CriterionMedian>> = BTreeMap::new();
    for m in medians.iter().filter(|m| !m.group.starts_with("server_")) {
        groups
            .entry((&m.group, m.param.as_deref()))
            .or_default()
            .push(m);
    }
    if groups.is_empty() {
        return "<p>No building-block results yet (run <code>cargo bench</code>).</p>\n".into();
    }
    s += "<table><tr><th>group</th><th>param</th><th>function</th><th>median</th><th>× fastest</th></tr>\n";
    for ((group, param), ms) in groups {
        let fastest = ms.iter().map(|m| m.median_ns).fold(f64::INFINITY, f64::min);
        for m in ms {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td></tr>",
                esc(group),
                esc(param.unwrap_or("-")),
                esc(&m.function),
                fmt_ns(m.median_ns),
                m.median_ns / fastest
            );
        }
    }
    s + "</table>\n"
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.3} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// The whole page.
pub fn render(
    results: &ServerResults,
    env: Option<&serde_json::Value>,
    medians: &[CriterionMedian],
) -> String {
    let mut s = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>threadbench report</title><style>\
         body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em}\
         table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}\
         th{background:#eee}td:first-child{text-align:left}tr.cb{background:#fff3cd}pre{background:#f6f6f6;padding:0.5em}\
         </style></head><body><h1>threadbench report</h1>\n\
         <p>Generated from <code>target/threadbench/server.json</code>, <code>target/criterion/*/new/estimates.json</code> \
         and <code>target/threadbench/env.json</code>. Rows shaded yellow were <b>client-bound</b> (load generator ≥ 95 % CPU): \
         their server figures are lower bounds. Compare variants measured in the same run, as ratios.</p>\n",
    );
    s += "<h2>Machine and profile</h2>\n";
    match env {
        Some(v) => {
            let _ = writeln!(
                s,
                "<pre>{}</pre>",
                esc(&serde_json::to_string_pretty(v).unwrap_or_default())
            );
        }
        None => s += "<p>No env.json yet.</p>\n",
    }
    s += "<h2>End-to-end servers</h2>\n";
    let mut groups: BTreeMap<&str, Vec<&ServerRecord>> = BTreeMap::new();
    for r in &results.records {
        groups.entry(&r.group).or_default().push(r);
    }
    if groups.is_empty() {
        s += "<p>No server results yet (run <code>cargo bench --bench server</code>).</p>\n";
    }
    for (group, recs) in &groups {
        let _ = writeln!(s, "<h3 id=\"{0}\">{0}</h3>", esc(group));
        if let Ok(svg) = group_chart(group, recs) {
            s += &svg;
            s += "\n";
        }
        s += &server_table(recs);
    }
    let bound = results.records.iter().filter(|r| r.client_bound).count();
    let _ = writeln!(
        s,
        "<p>{bound} of {} server results were client-bound.</p>",
        results.records.len()
    );
    s += "<h2>Building blocks (criterion medians)</h2>\n";
    s += &blocks_tables(medians);
    s += "</body></html>\n";
    s
}

/// `target/criterion` next to `target/threadbench`.
fn criterion_dir(out: &Path) -> PathBuf {
    out.parent().map_or_else(
        || PathBuf::from("target/criterion"),
        |t| t.join("criterion"),
    )
}

/// Rebuilds `target/threadbench/index.html` from everything saved so far; returns its path.
pub fn regenerate() -> io::Result<PathBuf> {
    let out = super::output_dir()?;
    let results = ServerResults::load(&out.join("server.json"))?;
    let env = std::fs::read_to_string(out.join("env.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    let medians = read_criterion(&criterion_dir(&out));
    // The findings page is regenerated with the report, and is one section of it.
    super::findings::write_findings()?;
    let findings = super::findings::findings_html(&super::findings::Results::load_default()?);
    let page = render(&results, env.as_ref(), &medians)
        .replace("</body></html>\n", &format!("{findings}\n</body></html>\n"));
    let path = out.join("index.html");
    std::fs::write(&path, page)?;
    Ok(path)
}

/// [`regenerate`] for the end of a bench run: a failure is a warning, not a failed bench.
pub fn regenerate_or_warn() {
    match regenerate() {
        Ok(p) => eprintln!("threadbench: report {}", p.display()),
        Err(e) => eprintln!("threadbench: warning: cannot regenerate the report: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_chart_tables_and_criterion_medians() {
        let dir = crate::load::workload::TempDocroot::new().expect("temp dir");
        let c = dir.path().join("criterion/spawn/fork_exit_wait/new");
        std::fs::create_dir_all(&c).expect("mkdir");
        std::fs::write(
            c.join("benchmark.json"),
            r#"{"group_id":"spawn","function_id":"fork_exit_wait","value_str":null}"#,
        )
        .expect("write");
        std::fs::write(
            c.join("estimates.json"),
            r#"{"median":{"point_estimate":50000.0}}"#,
        )
        .expect("write");
        let medians = read_criterion(&dir.path().join("criterion"));
        assert_eq!(medians.len(), 1);
        assert_eq!(medians[0].median_ns, 50000.0);

        let mut results = ServerResults::default();
        for (model, rps) in [("sped", 2000.0), ("mp", 1000.0)] {
            for p in [1024u64, 65536] {
                let mut r: ServerRecord = serde_json::from_value(serde_json::json!({
                    "group":"server_file_size","model":model,"param":p,"requests":10,"errors":0,
                    "req_per_s":rps,"mb_per_s":rps * p as f64 / 1e6,
                    "latency_us":{"min":1.0,"mean":1.0,"p50":1.0,"p90":1.0,"p95":1.0,"p99":1.0,"p999":1.0,"max":1.0},
                    "server_cpu_us_per_req":1.0,"server_rss_bytes":1,"server_pss_bytes":1,"server_processes":1,
                    "voluntary_ctx_per_req":0.0,"involuntary_ctx_per_req":0.0,"client_cpu_util":0.5,
                    "client_bound":false,"measured_at":0}))
                .expect("record");
                r.client_bound = model == "mp";
                results.upsert(r);
            }
        }
        let html = render(&results, None, &medians);
        assert!(html.contains("<svg"), "chart drawn");
        assert!(html.contains(">sped<") && html.contains(">mp<"));
        assert!(html.contains("fork_exit_wait"));
        assert!(html.contains("2 of 4 server results were client-bound"));
    }
}
