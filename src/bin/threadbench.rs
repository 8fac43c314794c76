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
    }
    Ok(())
}
