//! The library's layering, checked by reading its source: a module may use only modules of
//! lower layers (and, within the bottom layers, the few pairs listed), never one above it, so
//! the arrows stay `sys → procfs/pin/profile/ids/stats/rng → blocks, server, load → report →
//! harness, e2e → bin, benches`. Test code (`#[cfg(test)]` to the end of a file) may use
//! helpers from anywhere.

use std::path::{Path, PathBuf};

/// Top-level modules and their layers (0 = bottom).
const LAYERS: [(&str, u8); 15] = [
    ("sys", 0),
    ("procfs", 1),
    ("pin", 1),
    ("profile", 1),
    ("ids", 1),
    ("stats", 1),
    ("rng", 1),
    ("blocks", 2),
    ("server", 2),
    ("load", 2),
    ("reference", 2),
    ("report", 3),
    ("harness", 4),
    ("e2e", 4),
    ("regress", 4),
];

/// Same-layer uses that are allowed (user, used): the profile names groups and resolves cores;
/// a reference lane names our models (`reference::Lane`) and their keep-alive limit, and runs
/// none of them.
const SAME_LAYER: [(&str, &str); 3] = [
    ("profile", "pin"),
    ("profile", "ids"),
    ("reference", "server"),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `crate::<module>` references in the non-test part of `text`.
fn uses(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `crate::some_macro!` names a macro exported at the crate root, not a module.
            let is_macro = after[name.len()..].starts_with('!');
            if !name.is_empty() && !is_macro {
                out.push(name);
            }
            rest = after;
        }
    }
    out
}

#[test]
fn no_module_uses_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a path")
            .trim_end_matches(".rs")
            .to_owned();
        // lib.rs declares the modules; the binary is the top layer.
        let Some(own) = layer(&top) else {
            assert!(
                top == "lib" || top == "bin",
                "{}: module `{top}` is missing from LAYERS in tests/layering.rs",
                rel.display()
            );
            continue;
        };
        let text = std::fs::read_to_string(f).expect("read source");
        for used in uses(&text) {
            checked += 1;
            if used == top {
                continue;
            }
            let Some(l) = layer(&used) else {
                violations.push(format!(
                    "{}: uses unknown module crate::{used}",
                    rel.display()
                ));
                continue;
            };
            let ok = l < own || (l == own && SAME_LAYER.contains(&(top.as_str(), used.as_str())));
            if !ok {
                violations.push(format!(
                    "{}: `{top}` (layer {own}) uses crate::{used} (layer {l})",
                    rel.display()
                ));
            }
        }
    }
    assert!(
        checked > 50,
        "the scan found only {checked} uses: is it reading src/?"
    );
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_scan_sees_a_violation() {
    let text = "use crate::report::results;\nfn f() { crate::e2e::run(); }\ncrate::m!(x);\n#[cfg(test)]\nuse crate::harness;";
    assert_eq!(uses(text), ["report", "e2e"]);
    assert!(layer("report") > layer("server"));
}
