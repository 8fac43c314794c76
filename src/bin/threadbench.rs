//! `threadbench`: the suite's command line.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use threadbench::profile::Profile;
use threadbench::report::env::MachineInfo;

#[derive(Parser)]
#[command(
    name = "threadbench",
    version,
    about = "Multi-process vs multi-threaded vs event-driven, measured here"
)]
struct Cli {
    /// Target profile (name in target-profiles/ or a path); default: $THREADBENCH_PROFILE or `default`.
    #[arg(long, global = true)]
    profile: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Drive an HTTP server with a closed- or open-loop load and validate every response.
    Load(Box<LoadArgs>),
    /// Regenerate target/threadbench/index.html from the results saved so far.
    Report,
    /// Print the machine facts the suite records (and write target/threadbench/env.json).
    Env {
        /// Print env.json's content instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Regenerate target/threadbench/findings.md (the lecture's claims, judged from the
    /// results saved so far) and print it.
    Findings,
    /// Run a static-file HTTP server under one concurrency model until SIGTERM/SIGINT.
    /// Prints `listening on <ip>:<port>` once it accepts connections.
    Serve(ServeArgs),
    /// Print the process-tree statistics (CPU, RSS, PSS, context switches) of a pid as JSON.
    TreeStats {
        /// Root of the process tree (e.g. the pid of `threadbench serve`); its descendants
        /// are included.
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
        pid: i32,
    },
    /// Judge a run against a saved criterion baseline (exit 0 clean, 1 regressed, 2 bad input).
    ///
    /// Save a baseline on the old code, measure the new code against it, compare:
    ///
    ///   cargo bench -- --save-baseline base       # old code
    ///   cargo bench -- --baseline base            # new code; its run lands in new/
    ///   cargo run --release --bin threadbench -- compare --baseline base
    ///
    /// The second run must name the baseline (`--baseline-lenient base` if the change adds
    /// benchmarks): a plain `cargo bench` saves itself as `base` (criterion's default name),
    /// and the comparison would find the new code on both sides.
    ///
    /// Prints one summary line (N regressed, N improved, N unchanged, N inconclusive), then
    /// regressions, improvements and the rest, IDs in numeric order. A ratio metric (e.g.
    /// fork / thread spawn, same run) regresses only when it moves in the direction its row
    /// calls worse.
    #[command(verbatim_doc_comment)]
    Compare {
        /// The saved baseline's name (`cargo bench -- --save-baseline base` saves `base`).
        #[arg(long)]
        baseline: String,
        /// The run to judge: criterion's latest (`new`) or a saved name; `<name>@2`, `<name>@3`,
        /// … next to it (and to the baseline) are further rounds.
        #[arg(long, default_value = "new")]
        head: String,
        /// Criterion's output tree; default $CRITERION_HOME, else target/criterion.
        #[arg(long)]
        criterion_dir: Option<std::path::PathBuf>,
        /// Relative slowdown that counts (overrides the profile's per-group thresholds).
        #[arg(long)]
        threshold: Option<f64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// List only rows that did not come out unchanged (the summary still counts all);
        /// bencher output always lists every value.
        #[arg(long)]
        only_changed: bool,
        /// Which regressions set exit status 1: any benchmark or ratio, or ratio metrics only
        /// (for shared, noisy runners); a ratio fails only when it moved in its adverse
        /// direction.
        #[arg(long, value_enum, default_value_t = GateArg::All)]
        gate: GateArg,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// mp | mp_fork | mt | mt_spawn | sped | amped | amted
    #[arg(long)]
    model: String,
    /// Directory to serve.
    #[arg(long)]
    docroot: std::path::PathBuf,
    /// Address to bind (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: std::net::SocketAddr,
    /// Server cores (e.g. `0,1` or `0-1`); default: the profile's CorePlan server side.
    #[arg(long)]
    cores: Option<String>,
    /// mp: processes (default: profile [server].processes).
    #[arg(long)]
    processes: Option<usize>,
    /// mt: threads (default: profile [server].threads).
    #[arg(long)]
    threads: Option<usize>,
    /// amped/amted: helpers (default: profile [server].helpers).
    #[arg(long)]
    helpers: Option<usize>,
    /// writev | sendfile (default: profile [server].send).
    #[arg(long)]
    send: Option<String>,
    /// Mapped-file cache budget in bytes (default: profile [server].cache_bytes).
    #[arg(long)]
    cache_bytes: Option<u64>,
}

fn serve(profile: &Profile, a: ServeArgs) -> Result<()> {
    use threadbench::server::{handler, Model, ServeConfig};
    let model = Model::parse(&a.model).with_context(|| {
        format!(
            "unknown model {:?}; expected one of mp, mp_fork, mt, mt_spawn, sped, amped, amted",
            a.model
        )
    })?;
    let sc = &profile.server;
    let send = match a.send.as_deref().unwrap_or(&sc.send) {
        "writev" => handler::SendMode::Writev,
        "sendfile" => handler::SendMode::Sendfile,
        other => anyhow::bail!("unknown --send {other:?}; expected writev or sendfile"),
    };
    if !a.docroot.is_dir() {
        anyhow::bail!("docroot {} is not a directory", a.docroot.display());
    }
    let cores = match &a.cores {
        Some(c) => threadbench::pin::parse_cpu_list(c)
            .filter(|v| !v.is_empty())
            .with_context(|| format!("cannot parse --cores {c:?} (e.g. 0,1 or 0-1)"))?,
        None => profile.core_plan()?.server,
    };
    let _ = threadbench::sys::limits::raise_nofile();
    let cfg = ServeConfig {
        model,
        bind: a.bind,
        cores,
        processes: a.processes.unwrap_or(sc.processes),
        threads: a.threads.unwrap_or(sc.threads),
        helpers: a.helpers.unwrap_or(sc.helpers),
        backlog: sc.backlog.min(i32::MAX as u32) as i32,
        handler: handler::HandlerConfig {
            docroot: a.docroot,
            cache_bytes: a.cache_bytes.unwrap_or(sc.cache_bytes),
            send,
            max_target_bytes: sc.max_target_bytes,
            max_header_bytes: sc.max_header_bytes,
        },
    };
    threadbench::server::serve(cfg).with_context(|| format!("serving on {}", a.bind))
}

#[derive(clap::Args)]
struct LoadArgs {
    /// Server address (loopback unless --allow-remote).
    #[arg(long)]
    target: std::net::SocketAddr,
    /// Path to request (repeatable; each is fetched once first to learn its size and checksum).
    #[arg(long, default_value = "/")]
    path: Vec<String>,
    /// Where the request paths come from: a workload (`single:<bytes>`, `specweb96:<dirs>`,
    /// `disk:<kib>:<count>`; its files are written into --docroot, which the server must
    /// serve, and requested in the workload's order) or a file listing paths, one per line.
    #[arg(long)]
    paths_from: Option<String>,
    /// With a workload in --paths-from: the directory to write its files into (kept).
    #[arg(long)]
    docroot: Option<std::path::PathBuf>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Run for this long (e.g. 5s, 500ms).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<std::time::Duration>,
    /// Stop after this many requests.
    #[arg(long)]
    requests: Option<u64>,
    /// Hard deadline (default: duration + 10 s, or 60 s).
    #[arg(long, value_parser = parse_duration)]
    deadline: Option<std::time::Duration>,
    /// Open loop: requests per second on a fixed timetable (latency from the scheduled time).
    #[arg(long)]
    rate: Option<f64>,
    /// `Connection: close`, a new connection per request.
    #[arg(long)]
    close: bool,
    /// Client cores (comma list, e.g. 1 or 1,2); one pinned thread per core.
    #[arg(long, value_delimiter = ',')]
    cores: Vec<usize>,
    /// Check the body checksum of every n-th response (1 = all).
    #[arg(long, default_value_t = 16)]
    checksum_every: u64,
    /// Allow a non-loopback target.
    #[arg(long)]
    allow_remote: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let v: f64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?} (e.g. 5s, 500ms)"))?;
    let secs = match unit {
        "s" => v,
        "ms" => v / 1e3,
        "us" => v / 1e6,
        "m" => v * 60.0,
        _ => return Err(format!("bad duration unit in {s:?} (s, ms, us, m)")),
    };
    Ok(std::time::Duration::from_secs_f64(secs))
}

fn run_load(a: LoadArgs) -> Result<()> {
    use threadbench::load::{self, ConnMode, LoadSpec};
    let mut paths = a.path.clone();
    if let Some(f) = &a.paths_from {
        let is_workload = ["single:", "specweb96:", "disk:"]
            .iter()
            .any(|p| f.starts_with(p));
        if is_workload {
            let dir = a
                .docroot
                .as_ref()
                .context("--paths-from <workload> needs --docroot DIR (the server's docroot)")?;
            let root = load::workload::TempDocroot::keep_at(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
            let w =
                load::workload::from_spec(f, root).with_context(|| format!("generating {f}"))?;
            paths = w
                .sequence
                .iter()
                .map(|&i| w.files[i as usize].path.clone())
                .collect();
            eprintln!(
                "threadbench: wrote {} files of {f} into {}",
                w.files.len(),
                dir.display()
            );
        } else {
            let text = std::fs::read_to_string(f).with_context(|| format!("reading {f}"))?;
            paths = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
        }
    }
    if !a.allow_remote && !a.target.ip().is_loopback() {
        anyhow::bail!(
            "{} is not a loopback address (pass --allow-remote to load a remote host)",
            a.target
        );
    }
    let mut uniq: Vec<String> = paths.clone();
    uniq.sort();
    uniq.dedup();
    let mut expected = Vec::new();
    for p in &uniq {
        expected.push(
            load::probe(a.target, p, std::time::Duration::from_secs(5))
                .with_context(|| format!("probing http://{}{p}", a.target))?,
        );
    }
    let sequence = paths
        .iter()
        .map(|p| uniq.binary_search(p).expect("path listed") as u32)
        .collect();
    let mut spec = LoadSpec::new(a.target, expected);
    spec.sequence = std::sync::Arc::new(sequence);
    spec.conns = a.conns;
    spec.mode = if a.close {
        ConnMode::Close
    } else {
        ConnMode::KeepAlive
    };
    spec.requests = a.requests;
    spec.duration = a.duration;
    if spec.requests.is_none() && spec.duration.is_none() {
        spec.duration = Some(std::time::Duration::from_secs(5));
    }
    spec.deadline = a.deadline.unwrap_or_else(|| {
        spec.duration
            .map_or(std::time::Duration::from_secs(60), |d| {
                d + std::time::Duration::from_secs(10)
            })
    });
    spec.rate = a.rate;
    spec.cores = a.cores;
    spec.checksum_every = a.checksum_every.max(1);
    spec.allow_remote = a.allow_remote;
    let report = load::run(&spec).with_context(|| format!("loading {}", a.target))?;
    if a.json {
        println!("{}", serde_json::to_string(&report.json())?);
        if let Some((asked, got)) = report.rate_shortfall {
            eprintln!("threadbench: warning: rate not sustained: asked {asked:.0} req/s, achieved {got:.0} req/s");
        }
    } else {
        print!("{}", report.summary());
    }
    Ok(())
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// Aligned plain text: summary line, then regressed, improved, the rest.
    Table,
    /// A pull-request comment: unchanged rows folded into <details>.
    Markdown,
    /// Summary counts and every row's figures and verdict.
    Json,
    /// Bencher Metric Format (the new run's values, for bencher.dev).
    Bencher,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum GateArg {
    /// Exit 1 when any benchmark or ratio regressed.
    All,
    /// Exit 1 only when a ratio metric moved in its adverse direction.
    Ratios,
}

fn load_profile(sel: &Option<String>) -> Result<Profile> {
    Ok(match sel {
        Some(s) => Profile::load(s)?,
        None => Profile::from_env(false)?,
    })
}

fn main() {
    if let Err(e) = run() {
        eprintln!("threadbench: error: {e:#}");
        std::process::exit(2);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Load(a) => run_load(*a)?,
        Cmd::Report => {
            let path = threadbench::report::html::regenerate().context("writing index.html")?;
            println!("{}", path.display());
        }
        Cmd::Env { json } => {
            let profile = load_profile(&cli.profile)?;
            let plan = profile.core_plan()?;
            let nofile = threadbench::sys::limits::raise_nofile().ok();
            let info = MachineInfo::collect(&profile, &plan, nofile);
            let path = info.write().context("writing env.json")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", info.summary());
                println!("written to   {}", path.display());
            }
        }
        Cmd::Findings => {
            let path = threadbench::report::findings::write_findings()
                .context("regenerating target/threadbench/findings.md")?;
            print!(
                "{}",
                std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?
            );
            eprintln!("written to {}", path.display());
        }
        Cmd::TreeStats { pid } => {
            let t = threadbench::server::stats::tree_stats(pid)
                .with_context(|| format!("reading /proc of pid {pid}"))?;
            println!("{}", serde_json::to_string(&t)?);
        }
        Cmd::Serve(a) => {
            let profile = load_profile(&cli.profile)?;
            serve(&profile, a)?;
        }
        Cmd::Compare {
            baseline,
            head,
            criterion_dir,
            threshold,
            format,
            only_changed,
            gate,
        } => {
            let opts = threadbench::report::compare::RenderOptions {
                baseline,
                head,
                only_changed,
            };
            let code = compare(&cli.profile, opts, criterion_dir, threshold, format, gate)?;
            std::process::exit(code);
        }
    }
    Ok(())
}

/// Runs `compare`; returns the exit status (0 clean, 1 regressed). Bad input is an error
/// (exit status 2 from `main`).
fn compare(
    profile: &Option<String>,
    opts: threadbench::report::compare::RenderOptions,
    dir: Option<std::path::PathBuf>,
    threshold: Option<f64>,
    format: Format,
    gate: GateArg,
) -> Result<i32> {
    use threadbench::report::compare as cmp;
    if let Some(t) = threshold {
        anyhow::ensure!(
            t.is_finite() && t >= 0.0,
            "--threshold must be a non-negative number, got {t}"
        );
    }
    // A profile's thresholds apply only when one was asked for (--profile or
    // THREADBENCH_PROFILE); --threshold overrides them.
    let prof = if threshold.is_none()
        && (profile.is_some() || std::env::var_os("THREADBENCH_PROFILE").is_some())
    {
        Some(load_profile(profile)?)
    } else {
        None
    };
    let fixed = threshold.unwrap_or(0.10);
    let threshold_for = |group: &str| {
        prof.as_ref()
            .map_or(fixed, |p| p.regression_threshold(group))
    };
    let dir = cmp::criterion_dir(dir);
    let benches = cmp::load(&dir, &opts.baseline, &opts.head)?;
    let mut rows = cmp::judge_benches(&benches, &threshold_for);
    rows.extend(cmp::judge_ratios(&benches, threshold_for("ratio")));
    let out = match format {
        Format::Table => cmp::render_table(&rows, &opts),
        Format::Markdown => cmp::render_markdown(&rows, &opts),
        Format::Json => cmp::render_json(&rows, &opts, &dir),
        Format::Bencher => cmp::render_bmf(&rows),
    };
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", out.trim_end()).context("writing the report")?;
    stdout.flush().context("writing the report")?;
    let gate = match gate {
        GateArg::All => cmp::Gate::All,
        GateArg::Ratios => cmp::Gate::Ratios,
    };
    Ok(i32::from(cmp::any_regressed(&rows, gate)))
}
