//! `target/threadbench/index.html`: the suite's own report, regenerated from the results layer
//! ([`super::results`]) after every run that measured something, and by `threadbench report`.
//!
//! What a reader sees, top to bottom: the latest run's provenance and the findings' verdict
//! count; the machine as a small table; the runs the page draws on; for the server groups a
//! model × workload summary, then per group a throughput chart (the Flash paper's figures,
//! redrawn here: one line per model, a marker per point, criterion's confidence interval as
//! error bars), a latency CDF from the kept HDR histograms and the side-metrics table; the
//! building blocks' medians; the findings. Only each group's latest run is charted; records of
//! older runs are listed apart, marked with their own provenance. Every figure links to its
//! criterion page.

use super::findings::{findings, findings_html, Results, Verdict};
use super::results::{
    format_utc, sort_key, Artefact, CriterionRecord, GroupView, Loaded, Paths, Provenance,
};
use super::server_results::ServerRecord;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

mod charts;
use charts::{axes, fmt_rate, is_real, model_index, GroupAxes};
pub use charts::{fmt_bytes, fmt_ns, latency_cdf_chart, throughput_chart};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Links from `index.html` (in `paths.out`) to criterion's pages.
struct Links {
    criterion: String,
}

impl Links {
    fn new(paths: &Paths) -> Links {
        // Relative when both live in one target dir (the page then works when copied along).
        let criterion = match (paths.criterion.parent(), paths.out.parent()) {
            (Some(a), Some(b)) if a == b => format!(
                "../{}",
                paths
                    .criterion
                    .file_name()
                    .map_or("criterion".into(), |n| n.to_string_lossy().into_owned())
            ),
            _ => format!("file://{}", paths.criterion.display()),
        };
        Links { criterion }
    }

    /// Criterion's page of a group, or of one benchmark id.
    fn page(&self, id: &str) -> String {
        format!("{}/{}/report/index.html", self.criterion, esc(id))
    }
}

fn run_label(p: Option<&Provenance>) -> String {
    p.map_or("an unknown run".into(), |p| {
        format!("profile <b>{}</b>, {}", esc(&p.profile), p.started_utc())
    })
}

/// A lane's name for a table cell: real servers marked (and styled by `td.ref`).
fn lane_cell(model: &str) -> (&'static str, String) {
    if is_real(model) {
        (
            " class=\"ref\"",
            format!("{} <small>(real)</small>", esc(model)),
        )
    } else {
        ("", esc(model))
    }
}

fn server_table(recs: &[&ServerRecord], ax: &GroupAxes, links: &Links) -> String {
    let mut s = format!(
        "<div class=\"wide\"><table class=\"num server\"><tr><th>model</th><th>{}</th><th>requests</th><th>errors</th><th>req/s</th><th>MB/s</th>\
         <th>p50 µs</th><th>p90 µs</th><th>p99 µs</th><th>p99.9 µs</th><th>max µs</th><th>server CPU µs/req</th>\
         <th>RSS MiB</th><th>PSS MiB</th><th>procs</th><th>vol. cs/req</th><th>invol. cs/req</th><th>client CPU</th>\
         <th>resident before</th></tr>\n",
        esc(ax.param)
    );
    for r in recs {
        let _ = writeln!(
            s,
            "<tr{}><td{}><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.2}</td>\
             <td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.2}</td><td>{:.1}</td>\
             <td>{:.1}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.0} %{}</td><td>{}</td></tr>",
            if r.client_bound { " class=\"cb\"" } else { "" },
            lane_cell(&r.model).0,
            links.page(&r.id()),
            lane_cell(&r.model).1,
            r.param.map_or("–".into(), |p| (ax.param_fmt)(p as f64)),
            r.requests,
            if r.retries > 0 {
                // Not errors: sent again after the server closed a reused keep-alive
                // connection unanswered (Apache's event MPM when its workers are busy).
                format!(
                    "{} <span title=\"requests sent again on a new connection: the server closed a reused keep-alive connection before answering\">(+{} retried)</span>",
                    r.errors, r.retries
                )
            } else {
                r.errors.to_string()
            },
            r.req_per_s,
            r.mb_per_s,
            r.latency_us.p50,
            r.latency_us.p90,
            r.latency_us.p99,
            r.latency_us.p999,
            r.latency_us.max,
            r.server_cpu_us_per_req,
            r.server_rss_bytes as f64 / 1048576.0,
            r.server_pss_bytes as f64 / 1048576.0,
            r.server_processes,
            r.voluntary_ctx_per_req,
            r.involuntary_ctx_per_req,
            r.client_cpu_util * 100.0,
            if r.client_bound { " <b>client-bound</b>" } else { "" },
            r.resident_before
                .map_or("–".into(), |f| format!("{:.1} %", f * 100.0)),
        );
    }
    s + "</table></div>\n"
}

/// Records of older runs of a group: listed apart, with their own provenance, never charted.
fn stale_block<T>(stale: &[&T], art: &Artefact<T>, label: impl Fn(&T) -> String) -> String
where
    T: super::results::Keyed + serde::Serialize + serde::de::DeserializeOwned + Clone,
{
    if stale.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "<details class=\"stale\"><summary>{} older result{} from earlier runs (not charted, not judged)</summary><ul>\n",
        stale.len(),
        if stale.len() == 1 { "" } else { "s" }
    );
    for r in stale {
        let _ = writeln!(
            s,
            "<li><code>{}</code>: {} — {}</li>",
            esc(&r.key()),
            label(r),
            run_label(art.provenance_of(r))
        );
    }
    s + "</ul></details>\n"
}

/// Model × workload: each server group at its largest measured point, req/s and server CPU.
fn summary_table(groups: &BTreeMap<String, GroupView<'_, ServerRecord>>) -> String {
    let mut cols: Vec<(String, Option<u64>)> = Vec::new();
    for (g, v) in groups {
        let p = v.current.iter().filter_map(|r| r.param).max();
        cols.push((g.clone(), p));
    }
    let mut models: Vec<&str> = groups
        .values()
        .flat_map(|v| v.current.iter().map(|r| r.model.as_str()))
        .collect();
    models.sort_by_key(|m| model_index(m));
    models.dedup();
    if models.is_empty() {
        return String::new();
    }
    let mut s = String::from("<table class=\"num summary\"><tr><th>model</th>");
    for (g, p) in &cols {
        let ax = axes(g);
        let _ = write!(
            s,
            "<th><a href=\"#{0}\">{0}</a>{1}</th>",
            esc(g),
            p.map_or(String::new(), |p| format!(
                "<br>at {}",
                (ax.param_fmt)(p as f64)
            ))
        );
    }
    s += "</tr>\n";
    for m in &models {
        let (class, name) = lane_cell(m);
        let _ = write!(s, "<tr><td{class}>{name}</td>");
        for (g, p) in &cols {
            let recs = &groups[g].current;
            let at = |r: &&&ServerRecord| r.param == *p;
            let best = recs
                .iter()
                .filter(at)
                .map(|r| r.req_per_s)
                .fold(0.0, f64::max);
            match recs.iter().filter(at).find(|r| r.model == *m) {
                Some(r) => {
                    let _ = write!(
                        s,
                        "<td{}>{} req/s<br><small>{:.1} µs CPU/req{}</small></td>",
                        if r.req_per_s >= best {
                            " class=\"best\""
                        } else {
                            ""
                        },
                        fmt_rate(r.req_per_s),
                        r.server_cpu_us_per_req,
                        if r.client_bound { ", client-bound" } else { "" }
                    );
                }
                None => s += "<td>–</td>",
            }
        }
        s += "</tr>\n";
    }
    s + "</table>\n<p>Bold: the highest throughput of the column. Under each: the server's CPU time per request \
         (its capacity on one core is 1 / that), which stays meaningful where the load generator was the bottleneck.</p>\n"
}

fn blocks_section(l: &Loaded, links: &Links) -> String {
    let groups = l.criterion.by_group();
    let blocks: Vec<_> = groups
        .iter()
        .filter(|(g, _)| !g.starts_with("server_"))
        .collect();
    if blocks.is_empty() {
        return "<p>No building-block results yet (run <code>cargo bench</code>).</p>\n".into();
    }
    let mut s = String::new();
    for (group, v) in blocks {
        let run = v
            .latest
            .as_ref()
            .and_then(|(id, _)| l.criterion.runs.get(id));
        let _ = writeln!(
            s,
            "<h3 id=\"{0}\">{0}</h3>\n<p class=\"meta\">Measured in {1}. <a href=\"{2}\">criterion's report for {0}</a></p>",
            esc(group),
            run_label(run),
            links.page(group)
        );
        // ×fastest compares functions at the same parameter; unswept groups compare all.
        let mut by_param: BTreeMap<Vec<(u8, u64, String)>, Vec<&CriterionRecord>> = BTreeMap::new();
        for r in &v.current {
            by_param
                .entry(sort_key(r.param.as_deref().unwrap_or("")))
                .or_default()
                .push(r);
        }
        s += "<table class=\"num\"><tr><th>benchmark</th><th>median</th><th>95 % interval</th><th>× fastest at this parameter</th><th>throughput</th></tr>\n";
        for recs in by_param.values() {
            let fastest = recs
                .iter()
                .map(|r| r.median_ns)
                .fold(f64::INFINITY, f64::min);
            for r in recs {
                let thr = match r.throughput {
                    Some(super::results::Throughput::Elements(n)) => {
                        format!("{} elem/s", fmt_rate(n as f64 * 1e9 / r.median_ns))
                    }
                    Some(super::results::Throughput::Bytes(n)) => {
                        format!("{}/s", fmt_bytes(n as f64 * 1e9 / r.median_ns))
                    }
                    None => "–".into(),
                };
                let _ = writeln!(
                    s,
                    "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{} – {}</td><td>{:.2}</td><td>{}</td></tr>",
                    links.page(&r.id),
                    esc(&r.id),
                    fmt_ns(r.median_ns),
                    fmt_ns(r.median_lower_ns),
                    fmt_ns(r.median_upper_ns),
                    r.median_ns / fastest,
                    thr
                );
            }
        }
        s += "</table>\n";
        s += &stale_block(&v.stale, &l.criterion, |r| fmt_ns(r.median_ns));
    }
    s
}

fn machine_table(env: Option<&serde_json::Value>, latest: Option<&Provenance>) -> String {
    let mut rows: Vec<(&str, String)> = Vec::new();
    if let Some(p) = latest {
        let m = &p.machine;
        rows.push(("host", m.hostname.clone()));
        rows.push(("CPU", m.cpu_model.clone()));
        rows.push(("CPUs online", format!("{} ({})", m.n_cpus, m.online_cpus)));
        rows.push(("memory", fmt_bytes(m.mem_total_bytes as f64)));
        rows.push(("kernel", m.kernel.clone()));
        rows.push((
            "virtualised",
            if m.virtualized {
                "yes (hypervisor flag)"
            } else {
                "no"
            }
            .into(),
        ));
    }
    if let Some(v) = env {
        let list = |k: &str| {
            v["core_plan"][k].as_array().map_or("–".into(), |a| {
                a.iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
        };
        rows.push(("server cores", list("server")));
        rows.push(("client cores", list("client")));
        if let Some(w) = v["core_plan"]["warning"].as_str() {
            rows.push(("core plan warning", w.to_owned()));
        }
        if let Some(g) = v["cpufreq_governor"].as_str() {
            rows.push(("cpufreq governor", g.to_owned()));
        }
        if let Some(n) = v["nofile_limit"]["soft"].as_u64() {
            rows.push(("RLIMIT_NOFILE", n.to_string()));
        }
        if let Some(r) = v["rustc_version"].as_str() {
            rows.push(("compiler", r.to_owned()));
        }
    }
    if rows.is_empty() {
        return "<p>No run has recorded the machine yet.</p>\n".into();
    }
    let mut s = String::from("<table class=\"kv\">\n");
    for (k, v) in rows {
        let _ = writeln!(s, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    s + "</table>\n"
}

fn runs_table(
    runs: &BTreeMap<String, Provenance>,
    groups_of: &BTreeMap<String, Vec<String>>,
) -> String {
    let mut runs: Vec<&Provenance> = runs.values().collect();
    runs.sort_by(|a, b| (b.started_at, &b.run_id).cmp(&(a.started_at, &a.run_id)));
    let mut s = String::from(
        "<table><tr><th>run</th><th>profile</th><th>started</th><th>commit</th><th>groups it is the latest run of</th></tr>\n",
    );
    for p in runs {
        let groups = groups_of.get(&p.run_id).cloned().unwrap_or_default();
        let commit = p.git_commit.as_deref().map_or("–".into(), |c| {
            format!(
                "{}{}",
                &c[..c.len().min(10)],
                if p.git_dirty == Some(true) {
                    " + changes"
                } else {
                    ""
                }
            )
        });
        let _ = writeln!(
            s,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            esc(&p.run_id),
            esc(&p.profile),
            p.started_utc(),
            esc(&commit),
            if groups.is_empty() { "– (only older results)".into() } else { esc(&groups.join(", ")) }
        );
    }
    s + "</table>\n"
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;font-size:15px;line-height:1.45;max-width:1250px;margin:1em auto;padding:0 1em;color:#222}\
h1{margin-bottom:0.2em}h2{border-bottom:2px solid #ddd;padding-bottom:0.15em;margin-top:1.8em}\
table{border-collapse:collapse;margin:0.5em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}\
th{background:#f0f0f0}table.num td{text-align:right}table.num td:first-child{text-align:left}\
table.kv th{text-align:left;width:11em}td.best{font-weight:bold}\
tr.cb td{background:#fde9c8}.prov{font-size:16px;background:#f4f6fa;border-left:4px solid #0072b2;padding:0.5em 0.8em}\
.verdicts span{padding:1px 7px;border-radius:3px;margin-right:0.3em}\
.holds{background:#d6efe4}.fails{background:#fbd9c9}.missing{background:#e8e8e8}\
tr.holds td:nth-child(3){background:#d6efe4;font-weight:bold}tr.fails td:nth-child(3){background:#fbd9c9;font-weight:bold}\
tr.missing td:nth-child(3){background:#e8e8e8}tr.unmeasurable td:nth-child(3){background:#e8e8e8;font-style:italic}\
.meta{color:#555}.stale{color:#555;margin-bottom:1em}details summary{cursor:pointer}\
div.wide{overflow-x:auto}table.server{font-size:13px}table.server td{white-space:nowrap}\
figure{margin:0.5em 0}figcaption{color:#555;font-size:14px}svg{max-width:100%;height:auto}\
nav a{margin-right:0.9em}.generated{color:#777;font-size:13px}td.ref{font-style:italic}";

/// The whole page.
pub fn render(l: &Loaded, paths: &Paths) -> String {
    let links = Links::new(paths);
    let results = Results::from_loaded(l);
    let found = findings(&results);
    let count = |f: fn(&Verdict) -> bool| found.iter().filter(|x| f(&x.verdict)).count();
    let holds = count(|v| matches!(v, Verdict::Holds));
    let fails = count(|v| matches!(v, Verdict::DoesNotHold));
    let unmeasurable = count(|v| matches!(v, Verdict::NotMeasurable(_)));
    let missing = found.len() - holds - fails - unmeasurable;
    let latest = l.latest_run();
    let server_groups = l.server.by_group();
    let current_server: Vec<&ServerRecord> = server_groups
        .values()
        .flat_map(|v| v.current.iter().copied())
        .collect();
    let bound = current_server.iter().filter(|r| r.client_bound).count();
    let threshold = latest.as_ref().map_or(String::new(), |_| {
        "the profile's <code>[report] client_bound_util</code>".into()
    });

    let mut s = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>threadbench report</title>\
         <style>{STYLE}</style></head><body>\n<h1>threadbench report</h1>\n"
    );
    match &latest {
        Some(p) => {
            let _ = writeln!(s, "<p class=\"prov\">Latest run: {}</p>", esc(&p.one_line()));
        }
        None => s += "<p class=\"prov\">No results yet: run <code>cargo bench</code> (or <code>THREADBENCH_PROFILE=ci cargo bench</code> for a five-minute run).</p>\n",
    }
    let _ = writeln!(
        s,
        "<p class=\"verdicts\">Findings (the lecture's and the Flash paper's claims, judged from these results): \
         <span class=\"holds\">{holds} hold</span><span class=\"fails\">{fails} do not hold</span>\
         <span class=\"missing\">{unmeasurable} not measurable here</span><span class=\"missing\">{missing} not measured</span> \
         <a href=\"#findings\">details</a></p>"
    );
    let _ = writeln!(
        s,
        "<p>{bound} of {} current server results were <b>client-bound</b> (the load generator used at least \
         {threshold} of its CPU; rows shaded orange): their throughput is the generator's limit, so claims judge them \
         on server CPU per request instead. Compare variants of one run as ratios; the machine may be shared.</p>",
        current_server.len()
    );
    s += "<nav><a href=\"#machine\">Machine</a><a href=\"#runs\">Runs</a><a href=\"#servers\">Servers</a><a href=\"#blocks\">Building blocks</a><a href=\"#findings\">Findings</a>";
    let _ = writeln!(
        s,
        "<a href=\"{}/report/index.html\">criterion's report</a></nav>",
        links.criterion
    );

    s += "<h2 id=\"machine\">Machine</h2>\n";
    s += &machine_table(l.env.as_ref(), latest.as_ref());

    // Which groups each run is the latest of.
    let mut groups_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (g, v) in l.criterion.by_group() {
        if let Some((id, _)) = v.latest {
            groups_of.entry(id).or_default().push(g);
        }
    }
    for (g, v) in &server_groups {
        if let Some((id, _)) = &v.latest {
            let e = groups_of.entry(id.clone()).or_default();
            if !e.contains(g) {
                e.push(g.clone());
            }
        }
    }
    s += "<h2 id=\"runs\">Runs in this report</h2>\n<p>Each group is shown from its latest run only; \
          results that an earlier run left (another profile, a sweep point the latest run did not include) are listed \
          apart under their group.</p>\n";
    s += &runs_table(&l.runs(), &groups_of);

    s += "<h2 id=\"servers\">End-to-end servers</h2>\n";
    if server_groups.is_empty() {
        s += "<p>No server results yet (run <code>cargo bench --bench server</code>).</p>\n";
    } else {
        s += "<h3>Summary: model × workload</h3>\n";
        s += &summary_table(&server_groups);
        s += &super::twins::twins_html(&results);
    }
    let ci: BTreeMap<String, &CriterionRecord> = l
        .criterion
        .current()
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    for (group, v) in &server_groups {
        let ax = axes(group);
        let mut recs = v.current.clone();
        recs.sort_by_key(|r| (r.param, model_index(&r.model)));
        let run = v.latest.as_ref().and_then(|(id, _)| l.server.runs.get(id));
        let _ = writeln!(
            s,
            "<h3 id=\"{0}\">{0}</h3>\n<p class=\"meta\">Measured in {1}. <a href=\"{2}\">criterion's report for {0}</a> \
             (its line chart and the distribution of every point).</p>",
            esc(group),
            run_label(run),
            links.page(group)
        );
        if let Ok(svg) = throughput_chart(group, &recs, &ci) {
            let _ = writeln!(
                s,
                "<figure><a href=\"{}\">{svg}</a><figcaption>Error bars: criterion's 95 % confidence interval of the \
                 median time per request, applied to the point. Dashed lines and hollow markers: real servers \
                 (Apache, nginx, lighttpd), in their twin model's colour. Click for criterion's page.</figcaption></figure>",
                links.page(group)
            );
        }
        // The CDF at the group's largest point (or its only one).
        let at = recs.iter().filter_map(|r| r.param).max();
        let at_recs: Vec<&ServerRecord> = recs.iter().copied().filter(|r| r.param == at).collect();
        let title = match at {
            Some(p) => format!("{group}: latency CDF at {}", (ax.param_fmt)(p as f64)),
            None => format!("{group}: latency CDF"),
        };
        if let Ok(svg) = latency_cdf_chart(&title, &at_recs) {
            let _ = writeln!(
                s,
                "<figure>{svg}<figcaption>From each model's HDR histogram of response latency (kept in server.json).</figcaption></figure>"
            );
        }
        s += &server_table(&recs, &ax, &links);
        s += &stale_block(&v.stale, &l.server, |r| format!("{:.0} req/s", r.req_per_s));
    }

    s += "<h2 id=\"blocks\">Building blocks (criterion medians)</h2>\n";
    s += &blocks_section(l, &links);
    s += &findings_html(&results);
    let _ = writeln!(
        s,
        "<p class=\"generated\">Generated {} from {} and {}.</p>",
        format_utc(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        ),
        esc(&paths.out.display().to_string()),
        esc(&paths.criterion.display().to_string())
    );
    s += "</body></html>\n";
    s
}

/// Rebuilds `index.html` and `findings.md` under `paths` from everything saved; returns the
/// page's path.
pub fn regenerate(paths: &Paths) -> io::Result<PathBuf> {
    let loaded = Loaded::load(paths)?;
    std::fs::create_dir_all(&paths.out)?;
    super::findings::write_findings(paths)?;
    let path = paths.file("index.html");
    std::fs::write(&path, render(&loaded, paths))?;
    Ok(path)
}

/// [`regenerate`] for the end of a bench run: a failure is a warning, not a failed bench.
pub fn regenerate_or_warn(paths: &Paths) {
    match regenerate(paths) {
        Ok(p) => eprintln!("threadbench: report {}", p.display()),
        Err(e) => eprintln!("threadbench: warning: cannot regenerate the report: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::results::Throughput;

    fn run(id: &str, at: u64, profile: &str) -> Provenance {
        Provenance::fixture(id, at, profile)
    }

    fn server(model: &str, p: u64, rps: f64, util: f64) -> ServerRecord {
        serde_json::from_value(serde_json::json!({
            "group":"server_file_size","model":model,"param":p,"requests":10,"errors":0,
            "req_per_s":rps,"mb_per_s":rps * p as f64 / 1e6,
            "latency_us":{"min":1.0,"mean":1.0,"p50":1.0,"p90":1.0,"p95":1.0,"p99":1.0,"p999":1.0,"max":1.0},
            "server_cpu_us_per_req":10.0,"server_rss_bytes":1,"server_pss_bytes":1,"server_processes":1,
            "voluntary_ctx_per_req":0.0,"involuntary_ctx_per_req":0.0,"client_cpu_util":util,
            "client_bound":util >= 0.9,"measured_at":0,
            "latency_hist_ns":[[1000,5],[2000,4],[40000,1]]}))
        .expect("record")
    }

    #[test]
    fn renders_provenance_charts_cdf_links_and_marks_stale_results() {
        let dir = crate::load::workload::TempDocroot::new().expect("temp dir");
        let paths = Paths::under(dir.path());
        let old = run("old", 100, "default");
        let new = run("new", 200, "ci");
        // An earlier default run measured mt_spawn at 1024 connections …
        let mut stale = server("mt_spawn", 1_048_576, 500.0, 0.5);
        stale.group = "server_conns".into();
        Artefact::merge_into(&paths.file("server.json"), &old, vec![stale]).expect("old run");
        // … the latest ci run measured two models at two sizes, one of them client-bound.
        let recs = vec![
            server("sped", 1024, 2000.0, 0.95),
            server("mp", 1024, 1000.0, 0.5),
            server("sped", 65536, 900.0, 0.5),
            server("mp", 65536, 800.0, 0.5),
        ];
        let mut conns = server("sped", 64, 3000.0, 0.5);
        conns.group = "server_conns".into();
        let mut all = recs.clone();
        all.push(conns);
        Artefact::merge_into(&paths.file("server.json"), &new, all).expect("new run");
        let crit = CriterionRecord {
            id: "ctx_switch_same_core/pipe_thread".into(),
            group: "ctx_switch_same_core".into(),
            function: "pipe_thread".into(),
            param: None,
            median_ns: 2500.0,
            median_lower_ns: 2400.0,
            median_upper_ns: 2600.0,
            throughput: Some(Throughput::Elements(2)),
            run_id: String::new(),
        };
        Artefact::merge_into(&paths.file("criterion.json"), &new, vec![crit]).expect("criterion");
        let page = regenerate(&paths).expect("render");
        let html = std::fs::read_to_string(page).expect("read");
        assert!(html.contains("Latest run: profile ci"), "provenance header");
        assert!(html.contains("<svg"), "charts drawn");
        assert!(html.contains("latency CDF"), "CDF drawn");
        assert!(html.contains("(log scale)"), "log axes say so");
        assert!(html.contains("64 KiB"), "sizes in KiB");
        assert!(html.contains("1 of 5 current server results were <b>client-bound</b>"));
        assert!(
            html.contains("../criterion/server_file_size/report/index.html"),
            "links"
        );
        assert!(
            html.contains("1 older result from earlier runs"),
            "stale marked"
        );
        assert!(
            html.contains("profile <b>default</b>"),
            "with its own provenance"
        );
        assert!(html.contains("2.500 µs"), "blocks in readable units");
        assert!(html.contains("Summary: model × workload"));
        assert!(std::fs::read_to_string(paths.file("findings.md"))
            .expect("findings written")
            .contains("profile ci"));
    }

    #[test]
    fn units_read_well() {
        assert_eq!(fmt_bytes(1024.0), "1 KiB");
        assert_eq!(fmt_bytes(65536.0), "64 KiB");
        assert_eq!(fmt_bytes(1_048_576.0), "1 MiB");
        assert_eq!(fmt_bytes(512.0), "512 B");
        assert_eq!(fmt_ns(115.0), "115.0 ns");
        assert_eq!(fmt_ns(2500.0), "2.500 µs");
    }
}
