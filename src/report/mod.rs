//! What the suite writes besides criterion's own output: machine metadata (`env.json`),
//! and (grown by later work) side metrics, the HTML/SVG report and baseline comparison.

pub mod compare;
pub mod env;
pub mod estimates;
pub mod findings;
pub mod html;
pub mod server_results;

use std::path::PathBuf;

/// `target/threadbench/` (under `CARGO_TARGET_DIR` when set), created on demand.
pub fn output_dir() -> std::io::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("threadbench");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
