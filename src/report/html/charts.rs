//! The report's SVG charts (plotters) and the number formats they and the tables share: a
//! throughput chart per server group (log2 parameter axis, a marker per point, error bars) and
//! a latency CDF per group, one colour-blind-safe colour and marker shape per model. Real
//! servers (the reference lanes) are drawn dashed with hollow markers, in their twin model's
//! colour where they have one (`apache_prefork` like `mp`, `lighttpd` like `sped`).

use crate::reference::RefServer;
use crate::report::results::CriterionRecord;
use crate::report::server_results::ServerRecord;
use plotters::prelude::*;
use std::collections::BTreeMap;

/// Okabe & Ito's colour-blind-safe palette (yellow left out: unreadable on white), then three
/// darker tones for the models past the first seven, and one marker shape per colour so lines
/// stay apart in greyscale too.
const PALETTE: [(u8, u8, u8); 10] = [
    (0, 0, 0),       // black
    (230, 159, 0),   // orange
    (86, 180, 233),  // sky blue
    (0, 158, 115),   // bluish green
    (0, 114, 178),   // blue
    (213, 94, 0),    // vermillion
    (204, 121, 167), // reddish purple
    (136, 136, 136), // grey
    (153, 102, 51),  // brown
    (102, 51, 153),  // violet
];

/// A stable order of lanes: our models, then the real servers (unknown names last).
pub(super) fn model_index(model: &str) -> usize {
    crate::reference::Lane::all()
        .iter()
        .position(|l| l.name() == model)
        .unwrap_or_else(|| 1000 + model.bytes().map(usize::from).sum::<usize>())
}

/// Whether `model` is a real server (a reference lane): drawn dashed, hollow markers.
pub(super) fn is_real(model: &str) -> bool {
    RefServer::parse(model).is_some()
}

/// The palette slot of a lane: a real server takes its twin model's, so twins match.
fn colour_index(model: &str) -> usize {
    let twin = RefServer::parse(model)
        .and_then(RefServer::twin)
        .filter(|t| crate::server::Model::parse(t).is_some());
    model_index(twin.unwrap_or(model)) % PALETTE.len()
}

fn colour(model: &str) -> RGBColor {
    let (r, g, b) = PALETTE[colour_index(model)];
    RGBColor(r, g, b)
}

/// A legend sample's three segments (x from, x to): touching for a solid line, apart for
/// a real server's dashed one.
fn legend_segments(real: bool) -> [(i32, i32); 3] {
    if real {
        [(0, 6), (9, 15), (18, 22)]
    } else {
        [(0, 8), (8, 15), (15, 22)]
    }
}

/// `1 KiB`, `64 KiB`, `1 MiB` for byte counts.
pub fn fmt_bytes(b: f64) -> String {
    const KIB: f64 = 1024.0;
    if b >= KIB * KIB * KIB {
        format!("{} GiB", trim_num(b / (KIB * KIB * KIB)))
    } else if b >= KIB * KIB {
        format!("{} MiB", trim_num(b / (KIB * KIB)))
    } else if b >= KIB {
        format!("{} KiB", trim_num(b / KIB))
    } else {
        format!("{} B", trim_num(b))
    }
}

fn trim_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A time in ns with a unit that keeps three significant figures (never `0.00 µs`).
pub fn fmt_ns(ns: f64) -> String {
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

/// `12 345` style thousands for rates.
pub(super) fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// What a server group's chart shows and how its parameter reads.
pub(super) struct GroupAxes {
    pub(super) metric: &'static str,
    pub(super) value: fn(&ServerRecord) -> f64,
    pub(super) param: &'static str,
    pub(super) param_fmt: fn(f64) -> String,
}

pub(super) fn axes(group: &str) -> GroupAxes {
    let plain = |v: f64| trim_num(v);
    match group {
        "server_file_size" => GroupAxes {
            metric: "throughput (MB/s)",
            value: |r| r.mb_per_s,
            param: "file size",
            param_fmt: fmt_bytes,
        },
        "server_disk" => GroupAxes {
            metric: "throughput (MB/s)",
            value: |r| r.mb_per_s,
            param: "file size, page cache evicted",
            param_fmt: |kib| fmt_bytes(kib * 1024.0),
        },
        "server_conns" => GroupAxes {
            metric: "throughput (requests/s)",
            value: |r| r.req_per_s,
            param: "concurrent connections",
            param_fmt: plain,
        },
        "server_wan" => GroupAxes {
            metric: "throughput (requests/s)",
            value: |r| r.req_per_s,
            param: "connections, each thinking between requests",
            param_fmt: plain,
        },
        _ => GroupAxes {
            metric: "throughput (requests/s)",
            value: |r| r.req_per_s,
            param: "parameter",
            param_fmt: plain,
        },
    }
}

fn svg_err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One model's line with its legend entry: solid for our models, dashed for a real server.
fn model_line<'a, DB, CT, I>(
    chart: &mut ChartContext<'a, DB, CT>,
    model: &str,
    line: I,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
    CT::From: Clone + 'static,
    I: Iterator<Item = CT::From> + Clone,
{
    let c = colour(model);
    let real = is_real(model);
    let drawn = if real {
        chart.draw_series(DashedLineSeries::new(line, 7, 4, c.stroke_width(2)))
    } else {
        chart.draw_series(LineSeries::new(line, c.stroke_width(2)))
    };
    drawn.map_err(svg_err)?.label(model).legend(move |(x, y)| {
        let [a, b, d] = legend_segments(real);
        let style = c.stroke_width(2);
        EmptyElement::at((x, y))
            + PathElement::new(vec![(a.0, 0), (a.1, 0)], style)
            + PathElement::new(vec![(b.0, 0), (b.1, 0)], style)
            + PathElement::new(vec![(d.0, 0), (d.1, 0)], style)
    });
    Ok(())
}

/// One model's line: (x, y, y_low, y_high) points, sorted by x.
type Series = Vec<(f64, f64, f64, f64)>;

/// Throughput against the swept parameter, one line per model, or per model for an unswept
/// group; error bars from criterion's confidence interval of the median time per request.
/// The parameter axis is log2 of the parameter — a log scale whose ticks fall on powers of
/// two (1 KiB, 4 KiB, … or 1, 2, 4, … connections) — so the sweep's points spread evenly.
pub fn throughput_chart(
    group: &str,
    recs: &[&ServerRecord],
    ci: &BTreeMap<String, &CriterionRecord>,
) -> Result<String, String> {
    let ax = axes(group);
    let swept = recs.iter().any(|r| r.param.is_some());
    let mut models: Vec<&str> = recs.iter().map(|r| r.model.as_str()).collect();
    models.sort_by_key(|m| model_index(m));
    models.dedup();
    let mut by_model: BTreeMap<&str, Series> = BTreeMap::new();
    for r in recs {
        let x = match r.param {
            Some(p) => (p.max(1) as f64).log2(),
            None if !swept => models.iter().position(|m| *m == r.model).unwrap_or(0) as f64,
            None => continue,
        };
        let y = (ax.value)(r);
        // The interval of time per request, applied to this point: rate ∝ 1 / time.
        let (lo, hi) = ci.get(&r.id()).map_or((y, y), |c| {
            (
                y * c.median_ns / c.median_upper_ns.max(1e-9),
                y * c.median_ns / c.median_lower_ns.max(1e-9),
            )
        });
        by_model.entry(&r.model).or_default().push((x, y, lo, hi));
    }
    if by_model.is_empty() {
        return Err("no points".into());
    }
    for pts in by_model.values_mut() {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let xs = by_model.values().flatten().map(|p| p.0);
    let (xmin, xmax) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let (xmin, xmax) = if swept {
        (xmin.floor() - 0.5, xmax.ceil() + 0.5)
    } else {
        (-0.6, models.len() as f64 - 0.4)
    };
    // Headroom above the highest point for the legend.
    let ymax = by_model
        .values()
        .flatten()
        .map(|p| p.3.max(p.1))
        .fold(0.0, f64::max)
        .max(1e-9)
        * if swept { 1.6 } else { 1.15 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(svg_err)?;
        let caption = if swept {
            format!("{group}: {} by {}", ax.metric, ax.param)
        } else {
            format!("{group}: {} by model", ax.metric)
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(14)
            .x_label_area_size(52)
            .y_label_area_size(84)
            .build_cartesian_2d(xmin..xmax, 0f64..ymax)
            .map_err(svg_err)?;
        let param_fmt = ax.param_fmt;
        let on_tick = |x: f64| (x - x.round()).abs() < 1e-6;
        let x_label = |x: &f64| match (swept, on_tick(*x)) {
            (_, false) => String::new(),
            (true, true) => param_fmt(x.round().exp2()),
            (false, true) => models
                .get(x.round() as usize)
                .map_or(String::new(), |m| m.to_string()),
        };
        chart
            .configure_mesh()
            .x_desc(if swept {
                format!("{} (log scale)", ax.param)
            } else {
                "model".to_owned()
            })
            .y_desc(ax.metric)
            .x_labels(((xmax - xmin).ceil() as usize + 1).min(24))
            // More lanes than fit at 14 px under an unswept chart (apache_prefork, apache_worker …).
            .label_style((
                "sans-serif",
                if swept || models.len() <= 7 { 14 } else { 11 },
            ))
            .axis_desc_style(("sans-serif", 15))
            .x_label_formatter(&x_label)
            .y_label_formatter(&|y| fmt_rate(*y))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(svg_err)?;
        for (model, pts) in &by_model {
            let c = colour(model);
            let idx = colour_index(model);
            let real = is_real(model);
            if swept {
                model_line(&mut chart, model, pts.iter().map(|p| (p.0, p.1)))?;
            }
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| ErrorBar::new_vertical(p.0, p.2, p.1, p.3, c.stroke_width(1), 8)),
                )
                .map_err(svg_err)?;
            let at = pts.iter().map(|p| (p.0, p.1));
            // Real servers: hollow markers (a cross has no inside: a hollow circle instead).
            let fill = if real { c.stroke_width(2) } else { c.filled() };
            match (idx % 4, real) {
                (0, _) | (2, true) => chart.draw_series(at.map(|p| Circle::new(p, 5, fill))),
                (1, _) => chart.draw_series(at.map(|p| TriangleMarker::new(p, 7, fill))),
                (2, false) => chart.draw_series(at.map(|p| Cross::new(p, 6, c.stroke_width(2)))),
                (_, true) => chart.draw_series(
                    at.map(|p| Rectangle::new([(p.0, p.1), (p.0, p.1)], c.stroke_width(2))),
                ),
                _ => chart.draw_series(at.map(|p| Rectangle::new([p, p], c.stroke_width(9)))),
            }
            .map_err(svg_err)?;
        }
        if swept {
            chart
                .configure_series_labels()
                .label_font(("sans-serif", 14))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(160, 160, 160))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(svg_err)?;
        }
        root.present().map_err(svg_err)?;
    }
    Ok(svg)
}

/// The cumulative distribution of response latency (µs, log scale), one line per model, from
/// the HDR histograms the server benches keep. For a swept group, the point `param`.
pub fn latency_cdf_chart(title: &str, recs: &[&ServerRecord]) -> Result<String, String> {
    let mut lines: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
    for r in recs {
        let total: u64 = r.latency_hist_ns.iter().map(|b| b.1).sum();
        if total == 0 {
            continue;
        }
        let mut seen = 0u64;
        let pts = r
            .latency_hist_ns
            .iter()
            .map(|&(ns, n)| {
                seen += n;
                ((ns as f64 / 1e3).max(0.1), seen as f64 / total as f64)
            })
            .collect();
        lines.push((&r.model, pts));
    }
    if lines.is_empty() {
        return Err("no latency histograms".into());
    }
    let xs = lines.iter().flat_map(|l| l.1.iter().map(|p| p.0));
    let (xmin, xmax) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(svg_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(14)
            .x_label_area_size(52)
            .y_label_area_size(84)
            .build_cartesian_2d((xmin / 1.3..xmax * 1.3).log_scale(), 0f64..1.0)
            .map_err(svg_err)?;
        chart
            .configure_mesh()
            .x_desc("response latency (µs, log scale)")
            .y_desc("fraction of responses ≤ latency")
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .x_label_formatter(&|x| trim_num(*x))
            .y_label_formatter(&|y| format!("{:.0} %", y * 100.0))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(svg_err)?;
        for (model, pts) in &lines {
            model_line(&mut chart, model, pts.iter().copied())?;
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(svg_err)?;
        root.present().map_err(svg_err)?;
    }
    Ok(svg)
}
