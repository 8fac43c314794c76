//! What the server integration tests share: the model names and a small docroot.

use std::path::{Path, PathBuf};

/// Every model, by the name `serve --model` takes (from the one registry).
pub fn models() -> Vec<&'static str> {
    threadbench::server::Model::ALL
        .iter()
        .map(|m| m.name())
        .collect()
}

/// A temporary directory (docroot, test profile) removed on drop.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `<target tmp>/<test>-<pid>-<tag>` with `a.bin` (1 KiB), `index.html`, `sub/index.html` and
/// `b.txt`.
pub fn docroot(test: &str, tag: &str) -> TempDir {
    let d =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{test}-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("sub")).expect("creating docroot");
    let bin: Vec<u8> = (0..1024u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(d.join("a.bin"), bin).expect("writing a.bin");
    std::fs::write(d.join("index.html"), "<p>root</p>\n").expect("writing index");
    std::fs::write(d.join("sub/index.html"), "<p>sub</p>\n").expect("writing sub index");
    std::fs::write(d.join("b.txt"), "bee\n").expect("writing b.txt");
    TempDir(d)
}

/// The counter `name=N` that a stopped server printed on stderr.
pub fn counter(err: &str, name: &str) -> u64 {
    err.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} counter in {err:?}"))
}
