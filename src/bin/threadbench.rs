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
    /// Judge criterion's latest run (`new/`) against a saved baseline; exit 1 on a regression,
    /// 2 on bad input.
    Compare {
        /// The saved baseline's name (`cargo bench -- --save-baseline <name>`).
        #[arg(long)]
        baseline: String,
        /// Criterion's output tree; default $CRITERION_HOME, else target/criterion.
        #[arg(long)]
        criterion_dir: Option<std::path::PathBuf>,
        /// Relative slowdown that counts (overrides the profile's per-group thresholds).
        #[arg(long)]
        threshold: Option<f64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Which verdicts set the exit status: every benchmark and ratio, or ratio metrics only
        /// (for shared, noisy runners).
        #[arg(long, value_enum, default_value_t = GateArg::All)]
        gate: GateArg,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Markdown,
    Json,
    Bencher,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum GateArg {
    All,
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
        Cmd::Compare {
            baseline,
            criterion_dir,
            threshold,
            format,
            gate,
        } => {
            let code = compare(
                &cli.profile,
                baseline,
                criterion_dir,
                threshold,
                format,
                gate,
            )?;
            std::process::exit(code);
        }
    }
    Ok(())
}

/// Runs `compare`; returns the exit status (0 clean, 1 regressed). Bad input is an error
/// (exit status 2 from `main`).
fn compare(
    profile: &Option<String>,
    baseline: String,
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
    let benches = cmp::load(&dir, &baseline)?;
    let mut rows = cmp::judge_benches(&benches, &threshold_for);
    rows.extend(cmp::judge_ratios(&benches, threshold_for("ratio")));
    let out = match format {
        Format::Table => cmp::render_table(&rows, &baseline),
        Format::Markdown => cmp::render_markdown(&rows, &baseline),
        Format::Json => cmp::render_json(&rows, &baseline, &dir),
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
