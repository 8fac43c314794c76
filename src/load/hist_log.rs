//! One load run as a standard HdrHistogram interval log, and several such logs — one per load
//! host — merged into one exact result.
//!
//! ```text
//!   host a: threadbench load --hist-log a.hlog ─┐
//!   host b: threadbench load --hist-log b.hlog ─┼─▶ threadbench merge a.hlog b.hlog
//!   host c: threadbench load --hist-log c.hlog ─┘   (histograms added, counts summed)
//! ```
//!
//! A log is what the Java `HistogramLogWriter` writes and `HistogramLogProcessor` reads
//! (`hdrhistogram::serialization::interval_log`): a `#[StartTime: …]` and `#[BaseTime: …]`
//! header (when the clock started, seconds since the epoch), then one interval line
//! `Tag=<host>,<start offset>,<length>,<max ms>,<compressed histogram>` holding every latency
//! of the run in ns. The counts a histogram does not hold (errors by kind, body bytes, elapsed
//! time, client CPU) ride in one comment line, `#threadbench: {json}`, which other readers skip.
//!
//! Merging adds the histograms — percentiles are never averaged, since the p99 of a union is
//! not the mean of p99s — sums requests, errors and bytes, and takes the slowest host's
//! elapsed time (the hosts ran side by side: the union's throughput is the summed requests
//! over the longest run) and the busiest host's client CPU.

use super::{ErrorCounts, LoadReport};
use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The comment line that carries what the histogram does not.
const COUNTS_PREFIX: &str = "#threadbench: ";

/// What a run counted besides its latencies.
#[derive(Debug, Serialize, Deserialize)]
struct Counts {
    ok: u64,
    errors: ErrorCounts,
    elapsed_s: f64,
    body_bytes: u64,
    client_cpu_util: f64,
    rate_shortfall: Option<(f64, f64)>,
    max_send_lag_s: f64,
}

fn bad(path: &Path, m: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {m}", path.display()),
    )
}

/// A tag the log format accepts (no `,`, space, CR or LF): other characters become `_`.
pub fn clean_tag(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if matches!(c, ',' | ' ' | '\r' | '\n') {
                '_'
            } else {
                c
            }
        })
        .collect();
    if t.is_empty() {
        "host".into()
    } else {
        t
    }
}

/// This machine's host name as a tag.
pub fn host_tag() -> String {
    clean_tag(
        &nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default(),
    )
}

/// Writes `r` as an interval log tagged `tag` to `path`.
pub fn write(path: &Path, r: &LoadReport, tag: &str) -> io::Result<()> {
    let tag = clean_tag(tag);
    let counts = Counts {
        ok: r.ok,
        errors: r.errors,
        elapsed_s: r.elapsed.as_secs_f64(),
        body_bytes: r.body_bytes,
        client_cpu_util: r.client_cpu_util,
        rate_shortfall: r.rate_shortfall,
        max_send_lag_s: r.max_send_lag.as_secs_f64(),
    };
    let mut buf = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment(&format!(
                "threadbench load on {tag}: latencies in ns; merge with `threadbench merge`"
            ))
            .add_comment(&format!(
                "{}{}",
                &COUNTS_PREFIX[1..],
                serde_json::to_string(&counts).map_err(io::Error::other)?
            ))
            .with_start_time(r.started)
            .with_base_time(r.started)
            // The max column in ms, as the Java tools write ns histograms.
            .with_max_value_divisor(1e6)
            .begin_log_with(&mut buf, &mut serializer)?;
        log.write_histogram(
            &r.latency_ns,
            Duration::ZERO,
            r.elapsed,
            Some(Tag::new(&tag).expect("cleaned tag")),
        )
        .map_err(|e| io::Error::other(format!("serialising the histogram: {e}")))?;
    }
    std::fs::write(path, buf)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// One host's log: its tag and its run (`latency_ns` from the log's histograms).
pub struct HostLog {
    pub tag: String,
    pub report: LoadReport,
}

/// Reads a log [`write`] wrote.
pub fn read(path: &Path) -> io::Result<HostLog> {
    let bytes = std::fs::read(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad(path, "not a text file"))?;
    let counts: Counts = text
        .lines()
        .find_map(|l| l.strip_prefix(COUNTS_PREFIX))
        .ok_or_else(|| {
            bad(
                path,
                "no `#threadbench:` line: not written by `threadbench load --hist-log`",
            )
        })
        .and_then(|j| serde_json::from_str(j).map_err(|e| bad(path, e)))?;
    let mut report = LoadReport::empty(SystemTime::UNIX_EPOCH);
    let mut tag = None;
    let mut intervals = 0;
    for entry in IntervalLogIterator::new(&bytes) {
        match entry.map_err(|e| bad(path, format!("not an interval log ({e:?})")))? {
            LogEntry::StartTime(t) => report.started = SystemTime::UNIX_EPOCH + t,
            LogEntry::BaseTime(_) => {}
            LogEntry::Interval(i) => {
                intervals += 1;
                tag = tag.or_else(|| i.tag().map(|t| t.as_str().to_owned()));
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(i.encoded_histogram())
                    .map_err(|e| bad(path, format!("histogram is not base64: {e}")))?;
                let h: hdrhistogram::Histogram<u64> = Deserializer::new()
                    .deserialize(&mut &raw[..])
                    .map_err(|e| bad(path, format!("cannot decode the histogram: {e:?}")))?;
                report
                    .latency_ns
                    .add(&h)
                    .map_err(|e| bad(path, format!("histogram out of range: {e:?}")))?;
            }
        }
    }
    if intervals == 0 {
        return Err(bad(path, "the log holds no histogram"));
    }
    if report.latency_ns.len() != counts.ok {
        return Err(bad(
            path,
            format!(
                "its histogram holds {} latencies but the run counted {} responses",
                report.latency_ns.len(),
                counts.ok
            ),
        ));
    }
    report.ok = counts.ok;
    report.errors = counts.errors;
    report.elapsed = Duration::from_secs_f64(counts.elapsed_s.max(0.0));
    report.body_bytes = counts.body_bytes;
    report.client_cpu_util = counts.client_cpu_util;
    report.rate_shortfall = counts.rate_shortfall;
    report.max_send_lag = Duration::from_secs_f64(counts.max_send_lag_s.max(0.0));
    Ok(HostLog {
        tag: tag.unwrap_or_default(),
        report,
    })
}

/// The union of several hosts' runs: histograms added, counts summed, the slowest host's
/// elapsed time, the busiest host's client CPU, the earliest start.
pub fn merge(logs: &[HostLog]) -> LoadReport {
    let mut total = LoadReport::empty(
        logs.iter()
            .map(|l| l.report.started)
            .min()
            .unwrap_or(SystemTime::UNIX_EPOCH),
    );
    for l in logs {
        let r = &l.report;
        total.merge(r);
        total.elapsed = total.elapsed.max(r.elapsed);
        total.client_cpu_util = total.client_cpu_util.max(r.client_cpu_util);
        if let Some((asked, got)) = r.rate_shortfall {
            let (a, g) = total.rate_shortfall.unwrap_or((0.0, 0.0));
            total.rate_shortfall = Some((a + asked, g + got));
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[u64], elapsed_ms: u64) -> LoadReport {
        let mut r = LoadReport::empty(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        for &v in values {
            r.latency_ns.record(v).unwrap();
        }
        r.ok = values.len() as u64;
        r.errors.reset = 2;
        r.body_bytes = 1024 * r.ok;
        r.elapsed = Duration::from_millis(elapsed_ms);
        r.client_cpu_util = 0.5;
        r
    }

    #[test]
    fn a_log_reads_back_and_logs_merge_by_adding() {
        let dir = std::env::temp_dir().join(format!("hist-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.hlog"), dir.join("b.hlog"));
        write(&a, &run(&[1_000, 2_000, 3_000], 1500), "host a").unwrap();
        write(&b, &run(&[50_000; 7], 2500), "b").unwrap();
        let text = std::fs::read_to_string(&a).unwrap();
        assert!(text.contains("#[StartTime: 1700000000.000"), "{text}");
        assert!(text.contains("\nTag=host_a,0.000,1.500,0.003,"), "{text}");
        let logs = [read(&a).unwrap(), read(&b).unwrap()];
        assert_eq!(logs[0].tag, "host_a");
        let m = merge(&logs);
        assert_eq!((m.ok, m.errors.reset, m.body_bytes), (10, 4, 10 * 1024));
        assert_eq!(m.elapsed, Duration::from_millis(2500), "the slowest host's");
        // 3 of 10 at ≤ 3 µs: the union's median is 50 µs (an average of the two medians
        // would say 26 µs).
        let us = m.latency_us();
        assert!(
            (us.p50 - 50.0).abs() < 0.1 && (us.min - 1.0).abs() < 0.01,
            "{us:?}"
        );
        std::fs::write(&b, text.replace("#threadbench: ", "#other: ")).unwrap();
        let e = read(&b).err().expect("no counts line").to_string();
        assert!(
            e.contains("not written by `threadbench load --hist-log`"),
            "{e}"
        );
        std::fs::write(&b, text.replace("\"ok\":3", "\"ok\":4")).unwrap();
        let e = read(&b).err().expect("counts disagree").to_string();
        assert!(e.contains("holds 3 latencies but the run counted 4"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
