//! What the suite writes besides criterion's own output: machine metadata (`env.json`),
//! and (grown by later work) side metrics, the HTML/SVG report and baseline comparison.

pub mod bench_ref;
pub mod compare;
pub mod env;
pub mod findings;
pub mod html;
pub mod results;
pub mod server_results;
pub mod summaries;

use std::path::PathBuf;

/// `target/threadbench/` (see [`results::Paths`]), created on demand.
pub fn output_dir() -> std::io::Result<PathBuf> {
    let dir = results::Paths::from_env().out;
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
