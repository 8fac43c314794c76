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
    /// Merge the interval logs of several `load --hist-log` runs (one per load host) into one
    /// result: histograms added (percentiles are never averaged), requests, errors and bytes
    /// summed, the slowest host's elapsed time. Prints what `load` prints.
    Merge {
        /// The logs, one per host (`load --hist-log FILE`).
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Print one JSON object (the keys of `load --json`).
        #[arg(long)]
        json: bool,
    },
    /// Regenerate target/threadbench/index.html from the results saved so far.
    Report,
    /// Print the machine facts the suite records (writes nothing: bench runs write
    /// target/threadbench/env.json).
    Env {
        /// Print the facts as env.json's JSON object instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Regenerate target/threadbench/findings.md (the lecture's claims, judged from the
    /// results saved so far) and print it.
    Findings,
    /// Run a static-file HTTP server under one concurrency model until SIGTERM/SIGINT.
    /// Prints `listening on <ip>:<port>` once it accepts connections.
    Serve(ServeArgs),
    /// Run a reference server (apache_prefork, apache_worker, apache_event, nginx, lighttpd)
    /// as the server benches do — configured from the profile's [server] in a temporary
    /// directory, on 127.0.0.1 and a free port, pinned to the server cores — until
    /// SIGTERM/SIGINT. Prints `listening on <ip>:<port>` once a probe request is answered.
    Reference {
        /// The reference lane.
        #[arg(long, value_parser = parse_reference)]
        server: threadbench::reference::RefServer,
        /// Directory to serve.
        #[arg(long)]
        docroot: std::path::PathBuf,
        /// A file under the docroot the readiness probe requests (e.g. `/index.html`).
        #[arg(long)]
        probe: String,
        /// Server cores (e.g. `0,1` or `0-1`); default: the profile's CorePlan server side.
        #[arg(long)]
        cores: Option<String>,
    },
    /// Print the process-tree statistics (CPU, RSS, PSS, context switches) of a pid as JSON.
    TreeStats {
        /// Root of the process tree (e.g. the pid of `threadbench serve`); its descendants
        /// are included.
        #[arg(long, value_parser = parse_pid)]
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
        /// Judge paired rounds (round k of the baseline with round k of the head, as
        /// `threadbench regress` saves them): per-pair ratios, signed-rank test.
        #[arg(long)]
        paired: bool,
    },
    /// Paired rounds of two builds until every benchmark is decided (exit 0 clean, 1
    /// regressed, 2 bad input, 3 still inconclusive when the budget ran out).
    ///
    /// Per bench file and pair k: a fresh base process and a fresh head process back to back,
    /// ABBA order (k odd: base then head; k even: head then base), saved as base[@k] and
    /// head[@k] in one criterion tree. After each pair every benchmark is judged on its
    /// per-pair ratios (compare --paired); files whose benchmarks are all decided stop, the
    /// others get another pair, until --max-rounds pairs or --max-minutes. Usually run by
    /// scripts/ci-regress.sh, which checks out and builds the base revision.
    #[command(verbatim_doc_comment)]
    Regress(Box<RegressArgs>),
    /// Keep a history of runs' medians and find change points in it.
    #[command(subcommand)]
    History(HistoryCmd),
}

#[derive(clap::Args)]
struct RegressArgs {
    /// Source tree of the base side (e.g. a worktree of the base revision).
    #[arg(long)]
    base_dir: std::path::PathBuf,
    /// Cargo target dir of the base side; default <base-dir>/target.
    #[arg(long)]
    base_target: Option<std::path::PathBuf>,
    /// Source tree of the head side.
    #[arg(long, default_value = ".")]
    head_dir: std::path::PathBuf,
    /// Cargo target dir of the head side; default $CARGO_TARGET_DIR, else <head-dir>/target.
    #[arg(long)]
    head_target: Option<std::path::PathBuf>,
    /// Bench files to compare (comma-separated); default: every benches/*.rs of either side.
    #[arg(long, value_delimiter = ',')]
    benches: Vec<String>,
    /// The criterion tree both sides write (emptied first); default
    /// <head-target>/criterion-regress.
    #[arg(long)]
    criterion_dir: Option<std::path::PathBuf>,
    /// Pairs every bench file gets at least.
    #[arg(long, default_value_t = 6)]
    min_rounds: usize,
    /// Pairs after which no bench file gets another.
    #[arg(long, default_value_t = 30)]
    max_rounds: usize,
    /// Start no pair that would end after this many minutes.
    #[arg(long, default_value_t = 30.0)]
    max_minutes: f64,
    /// NAME=VALUE set for the head's bench processes only (repeatable), e.g.
    /// THREADBENCH_INJECT_SLOWDOWN=spawn/thread_spawn_join=0.25 for a trial.
    #[arg(long, value_parser = parse_env_pair)]
    head_env: Vec<(String, String)>,
    /// A criterion filter (regex) passed to every bench run.
    #[arg(long)]
    filter: Option<String>,
    /// Relative slowdown that counts (overrides the profile's per-group thresholds).
    #[arg(long)]
    threshold: Option<f64>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[arg(long)]
    only_changed: bool,
    #[arg(long, value_enum, default_value_t = GateArg::All)]
    gate: GateArg,
}

#[derive(Subcommand)]
enum HistoryCmd {
    /// Append the newest run's medians (target/threadbench/criterion.json) with its
    /// provenance to a JSON-lines history file.
    Add {
        /// The history file (created if missing).
        #[arg(long)]
        file: std::path::PathBuf,
        /// The criterion.json to read; default the results layer's (target/threadbench/).
        #[arg(long)]
        results: Option<std::path::PathBuf>,
    },
    /// Find change points per benchmark over the last runs; exit 1 when one of the newest
    /// runs started a regression beyond the threshold.
    Check {
        #[arg(long)]
        file: std::path::PathBuf,
        /// Runs to look at (the newest).
        #[arg(long, default_value_t = 50)]
        last: usize,
        /// A regression whose change point is among this many newest runs fails the check.
        #[arg(long, default_value_t = 5)]
        recent: usize,
        /// Relative slowdown that counts (overrides the profile's per-group thresholds).
        #[arg(long)]
        threshold: Option<f64>,
    },
}

fn parse_env_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The concurrency model.
    #[arg(long, value_enum)]
    model: threadbench::server::Model,
    /// Directory to serve.
    #[arg(long)]
    docroot: std::path::PathBuf,
    /// Address to bind (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: std::net::SocketAddr,
    /// Server cores (e.g. `0,1` or `0-1`); default: the profile's CorePlan server side.
    #[arg(long)]
    cores: Option<String>,
    /// mp: processes, at least 1 (default: profile [server].processes).
    #[arg(long, value_parser = parse_count)]
    processes: Option<usize>,
    /// mt: threads, at least 1 (default: profile [server].threads).
    #[arg(long, value_parser = parse_count)]
    threads: Option<usize>,
    /// amped/amted: helpers, at least 1; tokio: blocking-pool threads (default: profile
    /// [server].helpers).
    #[arg(long)]
    helpers: Option<usize>,
    /// sped_n: event loops, one process each, at least 1 (default: profile [server].loops;
    /// 0 there: one per server core).
    #[arg(long, value_parser = parse_count)]
    loops: Option<usize>,
    /// How bodies go out (default: profile [server].send).
    #[arg(long, value_enum)]
    send: Option<threadbench::server::handler::SendMode>,
    /// Mapped-file cache budget in bytes (default: profile [server].cache_bytes).
    #[arg(long)]
    cache_bytes: Option<u64>,
}

fn serve(profile: &Profile, a: ServeArgs) -> Result<()> {
    use threadbench::server::{handler, Model, ServeConfig};
    let model = a.model;
    let sc = &profile.server;
    let send = match a.send {
        Some(s) => s,
        None => <handler::SendMode as clap::ValueEnum>::from_str(&sc.send, false)
            .map_err(|e| anyhow::anyhow!("profile [server] send: {e}"))?,
    };
    if !a.docroot.is_dir() {
        anyhow::bail!("docroot {} is not a directory", a.docroot.display());
    }
    let cores = match &a.cores {
        Some(c) => parse_cores(c)?,
        None => profile.core_plan()?.server,
    };
    if let Err(why) = model.available() {
        anyhow::bail!("--model {} cannot run on this machine: {why}", model.name());
    }
    let helpers = a.helpers.unwrap_or(sc.helpers);
    if helpers == 0 && matches!(model, Model::Amped | Model::Amted | Model::Tokio) {
        anyhow::bail!(
            "--helpers 0: {} needs at least one helper for its disk reads",
            model.name()
        );
    }
    let _ = threadbench::sys::limits::raise_nofile();
    let cfg = ServeConfig {
        model,
        bind: a.bind,
        cores,
        processes: a.processes.unwrap_or(sc.processes),
        threads: a.threads.unwrap_or(sc.threads),
        helpers,
        loops: a.loops.unwrap_or(sc.loops),
        backlog: sc.backlog.min(i32::MAX as u32) as i32,
        handler: handler::HandlerConfig {
            docroot: a.docroot,
            cache_bytes: a.cache_bytes.unwrap_or(sc.cache_bytes),
            send,
            max_target_bytes: sc.max_target_bytes,
            max_header_bytes: sc.max_header_bytes,
            path_cache_entries: sc.path_cache_entries,
            header_timeout: std::time::Duration::from_millis(sc.header_timeout_ms),
            keepalive_timeout: std::time::Duration::from_millis(sc.keepalive_timeout_ms),
            send_timeout: std::time::Duration::from_millis(sc.send_timeout_ms),
        },
    };
    threadbench::server::serve(cfg).with_context(|| format!("serving on {}", a.bind))
}

#[derive(clap::Args)]
struct LoadArgs {
    /// Server as HOST:PORT (`127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`); host names
    /// are resolved and must be loopback unless --allow-remote.
    #[arg(long)]
    target: String,
    /// Path to request (repeatable; each is fetched once first to learn its size and checksum,
    /// and must answer 200).
    #[arg(long, default_value = "/", value_parser = threadbench::load::plan::check_path)]
    path: Vec<String>,
    /// Where the request paths come from: a workload (`single:<bytes>`, `specweb96:<dirs>`,
    /// `disk:<kib>:<count>`; its files are written into --docroot, which the server must
    /// serve, and requested in the workload's order) or a file listing paths, one per line.
    #[arg(long)]
    paths_from: Option<String>,
    /// With a workload in --paths-from: the directory to write its files into (kept).
    #[arg(long)]
    docroot: Option<std::path::PathBuf>,
    /// Concurrent connections, at least 1 and below the RLIMIT_NOFILE soft limit (raised to
    /// the hard limit first).
    #[arg(long, default_value_t = 1, value_parser = parse_count)]
    conns: usize,
    /// Run for this long (e.g. 5s, 500ms). Without it and --requests: 5 s.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<std::time::Duration>,
    /// Stop after this many requests (at least 1).
    #[arg(long, value_parser = parse_count_u64)]
    requests: Option<u64>,
    /// Hard end of the whole run, probes included (default: duration + 10 s, or 60 s).
    #[arg(long, value_parser = parse_duration)]
    deadline: Option<std::time::Duration>,
    /// Open loop: requests per second on a fixed timetable (latency from the scheduled time);
    /// a positive number.
    #[arg(long, value_parser = parse_rate)]
    rate: Option<f64>,
    /// `Connection: close`, a new connection per request.
    #[arg(long)]
    close: bool,
    /// Client cores (e.g. 1, 1,2 or 2-3); one pinned thread per core.
    #[arg(long)]
    cores: Option<String>,
    /// Check the body checksum of every n-th response (1 = all).
    #[arg(long, default_value_t = 16, value_parser = parse_count_u64)]
    checksum_every: u64,
    /// Allow a non-loopback target.
    #[arg(long)]
    allow_remote: bool,
    /// Closed loop: each connection idles between a response and its next request, for a
    /// time drawn from an exponential distribution with this mean (e.g. 1ms): many mostly
    /// idle connections, as slow WAN clients.
    #[arg(long, value_parser = parse_duration)]
    think_time: Option<std::time::Duration>,
    /// Seed of the think-time draws.
    #[arg(long, default_value_t = 1999)]
    seed: u64,
    /// Start the clock at this Unix time in seconds (e.g. `$(( $(date +%s) + 10 ))`), after
    /// probing: load hosts started over ssh at different moments then run side by side.
    #[arg(long)]
    start_at: Option<f64>,
    /// Also write the latency histogram as an HdrHistogram interval log (start timestamp,
    /// tagged with --hist-tag) for `threadbench merge`.
    #[arg(long)]
    hist_log: Option<std::path::PathBuf>,
    /// The interval log's tag (default: this host's name).
    #[arg(long)]
    hist_tag: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// `5s`, `500ms`, `250us`, `1.5m`: a positive duration (a bare number is seconds).
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let num = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[num.len()..];
    let v: f64 = num
        .parse()
        .map_err(|_| "not a duration (e.g. 5s, 500ms)".to_string())?;
    let secs = match unit {
        "s" | "" => v,
        "ms" => v / 1e3,
        "us" => v / 1e6,
        "m" => v * 60.0,
        _ => return Err(format!("unknown unit {unit:?} (s, ms, us, m)")),
    };
    if secs.is_nan() || secs <= 0.0 {
        return Err("must be greater than 0 (e.g. 5s, 500ms)".into());
    }
    std::time::Duration::try_from_secs_f64(secs).map_err(|_| "too long".to_string())
}

/// A count that must be at least 1 (pool sizes, connections).
fn parse_count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("not a whole number".into()),
    }
}

/// [`parse_count`] for `u64` values (request counts).
fn parse_count_u64(s: &str) -> Result<u64, String> {
    parse_count(s).map(|n| n as u64)
}

/// A process id: a positive number.
fn parse_pid(s: &str) -> Result<i32, String> {
    match s.parse::<i32>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err("must be a process id (a number greater than 0)".into()),
    }
}

/// Requests per second: positive and finite.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err("must be a positive number of requests per second".into()),
    }
}

/// `--cores 0,1` / `0-1`, each CPU online and allowed (checked here, not as `EINVAL` from
/// the pin).
fn parse_reference(s: &str) -> std::result::Result<threadbench::reference::RefServer, String> {
    use threadbench::reference::RefServer;
    RefServer::parse(s).ok_or_else(|| {
        let names: Vec<&str> = RefServer::ALL.iter().map(|r| r.name()).collect();
        format!("unknown reference server; known: {}", names.join(", "))
    })
}

/// `threadbench reference`: one real server until SIGTERM/SIGINT, then stopped and reaped.
fn run_reference(
    profile: &Profile,
    server: threadbench::reference::RefServer,
    docroot: &std::path::Path,
    probe: &str,
    cores: &Option<String>,
) -> Result<()> {
    let cores = match cores {
        Some(c) => parse_cores(c)?,
        None => profile.core_plan()?.server,
    };
    let s = threadbench::e2e::ServerProcess::start_reference(
        server,
        docroot,
        probe,
        &cores,
        &profile.server,
    )?;
    // After the start: the server must not inherit our ignored SIGPIPE.
    threadbench::sys::signals::install_stop_handlers()?;
    println!("listening on {}", s.addr);
    eprintln!(
        "{server}: pid {}, configuration in {}",
        s.pid(),
        s.conf_dir()
            .map_or(String::new(), |d| d.display().to_string())
    );
    while !threadbench::sys::signals::stop_requested() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    s.stop()?;
    Ok(())
}

fn parse_cores(c: &str) -> Result<Vec<usize>> {
    let cpus = threadbench::pin::parse_cpu_list(c)
        .filter(|v| !v.is_empty())
        .with_context(|| format!("cannot parse --cores {c:?} (e.g. 0,1 or 0-1)"))?;
    threadbench::pin::check_usable(&cpus).with_context(|| format!("--cores {c}"))?;
    Ok(cpus)
}

fn run_load(a: LoadArgs) -> Result<()> {
    use threadbench::load::{self, plan::LoadPlan, ConnMode};
    let cores = match &a.cores {
        Some(c) => parse_cores(c)?,
        None => Vec::new(),
    };
    let plan = LoadPlan {
        target: a.target,
        paths: a.path,
        paths_from: a.paths_from,
        docroot: a.docroot,
        conns: a.conns,
        duration: a.duration,
        requests: a.requests,
        deadline: a.deadline,
        rate: a.rate,
        mode: if a.close {
            ConnMode::Close
        } else {
            ConnMode::KeepAlive
        },
        cores,
        checksum_every: a.checksum_every,
        allow_remote: a.allow_remote,
    };
    let mut spec = plan.spec()?;
    spec.think_time = a.think_time;
    spec.seed = a.seed;
    if let Some(at) = a.start_at {
        let at = std::time::UNIX_EPOCH + std::time::Duration::try_from_secs_f64(at.max(0.0))?;
        match at.duration_since(std::time::SystemTime::now()) {
            Ok(wait) if wait > std::time::Duration::from_secs(24 * 3600) => {
                anyhow::bail!("--start-at is more than a day away")
            }
            Ok(wait) => std::thread::sleep(wait),
            Err(late) => eprintln!(
                "threadbench: warning: --start-at passed {:.3} s ago: starting now",
                late.duration().as_secs_f64()
            ),
        }
    }
    let report = load::run(&spec).with_context(|| format!("loading {}", spec.addr))?;
    if let Some(path) = &a.hist_log {
        let tag = a.hist_tag.clone().unwrap_or_else(load::hist_log::host_tag);
        load::hist_log::write(path, &report, &tag)?;
    }
    print_load(&report, a.json)
}

/// What `load` and `merge` print: the summary, or one JSON object.
fn print_load(report: &threadbench::load::LoadReport, json: bool) -> Result<()> {
    if json {
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
    let p = match sel {
        Some(s) => Profile::load(s)?,
        None => Profile::from_env(false)?,
    };
    p.check_models(&threadbench::reference::Lane::names())?;
    Ok(p)
}

fn main() {
    if let Err(e) = run(parse_cli()) {
        eprintln!("threadbench: error: {e:#}");
        std::process::exit(2);
    }
}

/// Parses the command line; a usage error is reported like every other error
/// (`threadbench: error: ...`, exit status 2), `--help` and `--version` print and exit 0.
fn parse_cli() -> Cli {
    use clap::error::ErrorKind;
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            let text = e.to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            eprint!("threadbench: error: {text}");
            std::process::exit(2);
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Load(a) => run_load(*a)?,
        Cmd::Merge { files, json } => {
            let logs = files
                .iter()
                .map(|f| threadbench::load::hist_log::read(f))
                .collect::<std::io::Result<Vec<_>>>()?;
            for l in &logs {
                eprintln!(
                    "threadbench: {}: {} requests in {:.3} s",
                    l.tag,
                    l.report.ok,
                    l.report.elapsed.as_secs_f64()
                );
            }
            print_load(&threadbench::load::hist_log::merge(&logs), json)?;
        }
        Cmd::Report => {
            let path = threadbench::report::html::regenerate(
                &threadbench::report::results::Paths::from_env(),
            )
            .context("writing index.html")?;
            println!("{}", path.display());
        }
        Cmd::Env { json } => {
            let profile = load_profile(&cli.profile)?;
            let plan = profile.core_plan()?;
            let nofile = threadbench::sys::limits::raise_nofile().ok();
            // Only printed: env.json is written by the runs that measure (a later report
            // must not take this command's profile for theirs).
            let info = MachineInfo::collect(&profile, &plan, nofile);
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", info.summary());
            }
        }
        Cmd::Findings => {
            let path = threadbench::report::findings::write_findings(
                &threadbench::report::results::Paths::from_env(),
            )
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
        Cmd::Reference {
            server,
            docroot,
            probe,
            cores,
        } => {
            let profile = load_profile(&cli.profile)?;
            run_reference(&profile, server, &docroot, &probe, &cores)?;
        }
        Cmd::Compare {
            baseline,
            head,
            criterion_dir,
            threshold,
            format,
            only_changed,
            gate,
            paired,
        } => {
            let opts = threadbench::report::compare::RenderOptions {
                baseline,
                head,
                only_changed,
            };
            let threshold_for = thresholds(&cli.profile, threshold)?;
            let dir = threadbench::report::compare::criterion_dir(criterion_dir);
            let code = compare(opts, &dir, &threshold_for, format, gate, paired)?;
            std::process::exit(code);
        }
        Cmd::Regress(a) => std::process::exit(regress(&cli.profile, *a)?),
        Cmd::History(h) => std::process::exit(history(&cli.profile, h)?),
    }
    Ok(())
}

/// A benchmark group's regression threshold.
type ThresholdFor = Box<dyn Fn(&str) -> f64>;

/// Per-group thresholds: --threshold, else the profile's when one was asked for (--profile or
/// THREADBENCH_PROFILE), else 0.10.
fn thresholds(profile: &Option<String>, threshold: Option<f64>) -> Result<ThresholdFor> {
    if let Some(t) = threshold {
        anyhow::ensure!(
            t.is_finite() && t >= 0.0,
            "--threshold must be a non-negative number, got {t}"
        );
        return Ok(Box::new(move |_: &str| t));
    }
    if profile.is_some() || std::env::var_os("THREADBENCH_PROFILE").is_some() {
        let p = load_profile(profile)?;
        return Ok(Box::new(move |g: &str| p.regression_threshold(g)));
    }
    Ok(Box::new(|_: &str| 0.10))
}

fn gate_of(g: GateArg) -> threadbench::report::compare::Gate {
    match g {
        GateArg::All => threadbench::report::compare::Gate::All,
        GateArg::Ratios => threadbench::report::compare::Gate::Ratios,
    }
}

/// Prints the rows in `format`.
fn render(
    rows: &[threadbench::report::compare::Row],
    opts: &threadbench::report::compare::RenderOptions,
    dir: &std::path::Path,
    format: Format,
) -> Result<()> {
    use threadbench::report::compare as cmp;
    let out = match format {
        Format::Table => cmp::render_table(rows, opts),
        Format::Markdown => cmp::render_markdown(rows, opts),
        Format::Json => cmp::render_json(rows, opts, dir),
        Format::Bencher => cmp::render_bmf(rows),
    };
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", out.trim_end()).context("writing the report")?;
    stdout.flush().context("writing the report")
}

/// Runs `regress`; returns its exit status (0, 1, 3). Bad input is an error (status 2).
fn regress(profile: &Option<String>, a: RegressArgs) -> Result<i32> {
    use threadbench::regress::{bench_files, Plan, Side};
    anyhow::ensure!(
        a.min_rounds >= 1 && a.max_rounds >= a.min_rounds,
        "need 1 <= --min-rounds <= --max-rounds"
    );
    anyhow::ensure!(
        a.max_minutes.is_finite() && a.max_minutes > 0.0,
        "--max-minutes must be positive"
    );
    let threshold_for = thresholds(profile, a.threshold)?;
    let abs = |p: &std::path::Path| {
        std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))
    };
    let (base_dir, head_dir) = (abs(&a.base_dir)?, abs(&a.head_dir)?);
    let head_target = match (a.head_target, std::env::var_os("CARGO_TARGET_DIR")) {
        (Some(t), _) => abs(&t)?,
        (None, Some(t)) => abs(std::path::Path::new(&t))?,
        (None, None) => head_dir.join("target"),
    };
    let base_target = match a.base_target {
        Some(t) => abs(&t)?,
        None => base_dir.join("target"),
    };
    let mut benches = a.benches;
    if benches.is_empty() {
        for dir in [&base_dir, &head_dir] {
            benches.extend(
                bench_files(dir).with_context(|| format!("listing {}/benches", dir.display()))?,
            );
        }
        benches.sort();
        benches.dedup();
    }
    let plan = Plan {
        cargo: std::env::var_os("THREADBENCH_CARGO")
            .map_or_else(|| "cargo".into(), std::path::PathBuf::from),
        base: Side {
            name: "base".into(),
            dir: base_dir,
            target: base_target,
            env: Vec::new(),
        },
        head: Side {
            name: "head".into(),
            dir: head_dir,
            target: head_target.clone(),
            env: a.head_env,
        },
        benches,
        criterion_dir: a
            .criterion_dir
            .unwrap_or_else(|| head_target.join("criterion-regress")),
        min_pairs: a.min_rounds,
        max_pairs: a.max_rounds,
        max_time: std::time::Duration::from_secs_f64(a.max_minutes * 60.0),
        bench_args: a.filter.into_iter().collect(),
    };
    plan.build()?;
    let outcome = plan.run(&threshold_for)?;
    let opts = threadbench::report::compare::RenderOptions {
        baseline: "base".into(),
        head: "head".into(),
        only_changed: a.only_changed,
    };
    render(&outcome.rows, &opts, &plan.criterion_dir, a.format)?;
    let pairs: Vec<String> = outcome
        .pairs
        .iter()
        .map(|(b, k)| format!("{b} {k}"))
        .collect();
    eprintln!(
        "threadbench regress: {:.1} min; pairs per bench file: {}; {}",
        outcome.elapsed.as_secs_f64() / 60.0,
        pairs.join(", "),
        if outcome.undecided.is_empty() {
            "every benchmark decided".to_owned()
        } else {
            format!(
                "inconclusive within budget: {}",
                outcome.undecided.join(", ")
            )
        }
    );
    Ok(threadbench::regress::exit_status(
        &outcome.rows,
        gate_of(a.gate),
    ))
}

/// Runs `compare`; returns the exit status (0 clean, 1 regressed). Bad input is an error
/// (exit status 2 from `main`).
fn compare(
    opts: threadbench::report::compare::RenderOptions,
    dir: &std::path::Path,
    threshold_for: &dyn Fn(&str) -> f64,
    format: Format,
    gate: GateArg,
    paired: bool,
) -> Result<i32> {
    use threadbench::report::compare as cmp;
    let benches = cmp::load(dir, &opts.baseline, &opts.head)?;
    let rows = if paired {
        cmp::judge_paired(&benches, threshold_for)
    } else {
        let mut rows = cmp::judge_benches(&benches, threshold_for);
        rows.extend(cmp::judge_ratios(&benches, threshold_for("ratio")));
        rows
    };
    render(&rows, &opts, dir, format)?;
    Ok(i32::from(cmp::any_regressed(&rows, gate_of(gate))))
}

/// Runs `history add` (exit 0) or `history check` (exit 1 on a recent regression).
fn history(profile: &Option<String>, cmd: HistoryCmd) -> Result<i32> {
    use threadbench::report::history as h;
    match cmd {
        HistoryCmd::Add { file, results } => {
            let results = results.unwrap_or_else(|| {
                threadbench::report::results::Paths::from_env()
                    .file(threadbench::report::results::CRITERION_JSON)
            });
            let entry = h::latest_entry(&results)?;
            let added = h::append(&file, &entry)
                .with_context(|| format!("appending to {}", file.display()))?;
            eprintln!(
                "{} run {} ({} benchmarks, profile {}, commit {}) {} {}",
                if added { "added" } else { "already there:" },
                entry.run.run_id,
                entry.medians.len(),
                entry.run.profile,
                entry.run.git_commit.as_deref().unwrap_or("unknown"),
                if added { "to" } else { "in" },
                file.display()
            );
            Ok(0)
        }
        HistoryCmd::Check {
            file,
            last,
            recent,
            threshold,
        } => {
            let threshold_for = thresholds(profile, threshold)?;
            let entries = h::read(&file)?;
            anyhow::ensure!(!entries.is_empty(), "{}: no runs recorded", file.display());
            let changes = h::check(&entries, last, &threshold_for);
            let hits = h::recent_regressions(&changes, recent);
            println!(
                "{} change point(s) over the last {} runs of profile {}; {} regression(s) starting in the newest {recent}",
                changes.len(),
                last.min(entries.len()),
                entries.last().map_or("", |e| e.run.profile.as_str()),
                hits.len()
            );
            for c in &changes {
                println!(
                    "{}: {:+.1}% from run {} of {} (run {}, commit {}){}",
                    c.id,
                    c.step * 100.0,
                    c.at + 1,
                    c.of,
                    c.run_id,
                    c.commit.as_deref().unwrap_or("unknown"),
                    if hits.iter().any(|x| std::ptr::eq(*x, c)) {
                        "  REGRESSION"
                    } else {
                        ""
                    }
                );
            }
            Ok(i32::from(!hits.is_empty()))
        }
    }
}
