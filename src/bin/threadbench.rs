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
        #[arg(long)]
        pid: i32,
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
            cache_bytes: sc.cache_bytes,
            send,
            max_target_bytes: sc.max_target_bytes,
            max_header_bytes: sc.max_header_bytes,
        },
    };
    threadbench::server::serve(cfg).with_context(|| format!("serving on {}", a.bind))
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
    }
    Ok(())
}
