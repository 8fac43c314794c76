//! Reading criterion's own results back: `<criterion dir>/<benchmark id>/new/estimates.json`.
//! Criterion writes them only in benchmark mode (not in `cargo test`'s test mode), so callers
//! pass the time their run started and get `None` for results older than that (a filtered or
//! skipped benchmark must not report last week's number).

use std::path::PathBuf;
use std::time::SystemTime;

/// Criterion's output directory, found as criterion finds it: `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else this crate's `target/criterion`.
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("criterion")
}

/// The median time per iteration in ns of benchmark `id` (`group/function[/param]`), if
/// criterion wrote it at or after `since`.
pub fn median_ns(id: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_dir().join(id).join("new").join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("median")?.get("point_estimate")?.as_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_stale_results_are_none() {
        assert_eq!(
            median_ns("no_such_group/none", SystemTime::UNIX_EPOCH),
            None
        );
    }
}
