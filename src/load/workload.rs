//! Workloads: deterministic, seeded file sets generated into a temporary docroot that is
//! removed when the [`Workload`] is dropped, plus the order in which they are requested.
//!
//! - [`single`]: one file requested over and over (Flash paper, Figures 6–7).
//! - [`specweb96`]: SPECweb96's file set — per directory 36 files in 4 classes of 9 sizes
//!   (102–922 B, 1–9 KiB, 10–90 KiB, 100–900 KiB), classes requested 35/50/14/1 %, the
//!   directory chosen by Zipf(α = 1). Within a class the 9 files are equally likely (a
//!   simplification of SPECweb96's per-file weights).
//! - [`disk`]: a disk-bound set of `count` files, synced, and evicted from the page cache
//!   before each measured batch ([`Workload::evict`]), which reports the resident fraction
//!   measured with `mincore`.

use super::validate::{checksum, Expected};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::rng::SplitMix64;

/// A temporary directory removed (recursively) on drop — unless made with
/// [`TempDocroot::keep_at`] (a docroot the user asked for, e.g. for nginx).
#[derive(Debug)]
pub struct TempDocroot {
    path: PathBuf,
    keep: bool,
}

impl TempDocroot {
    /// Creates `$TMPDIR/threadbench-<pid>-<n>`.
    pub fn new() -> io::Result<TempDocroot> {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "threadbench-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)?;
        Ok(TempDocroot { path, keep: false })
    }
    /// A docroot at `path` that is kept after the run.
    pub fn keep_at(path: &Path) -> io::Result<TempDocroot> {
        std::fs::create_dir_all(path)?;
        Ok(TempDocroot {
            path: path.to_owned(),
            keep: true,
        })
    }
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the `$TMPDIR/threadbench-<pid>-<n>` docroots whose process is gone — what an
    /// interrupted or killed run left (SIGINT and SIGKILL skip the drop) — and returns them.
    /// Docroots of live processes (another run, this one) are left alone.
    pub fn sweep_stale() -> io::Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for e in std::fs::read_dir(std::env::temp_dir())?.flatten() {
            let name = e.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("threadbench-")) else {
                continue;
            };
            let Some(pid) = rest
                .split_once('-')
                .filter(|(_, n)| n.parse::<u64>().is_ok())
                .and_then(|(p, _)| p.parse::<i32>().ok())
            else {
                continue;
            };
            let gone = matches!(crate::procfs::state(pid), None | Some('Z'));
            if gone && e.path().is_dir() && std::fs::remove_dir_all(e.path()).is_ok() {
                removed.push(e.path());
            }
        }
        Ok(removed)
    }
}

impl Drop for TempDocroot {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The SPECweb96 class sizes: class c, file i (1..=9) is i × 102.4 B × 10^c.
pub fn specweb_size(class: usize, i: usize) -> u64 {
    (1024 * i as u64 * 10u64.pow(class as u32)) / 10
}

/// Class mix of SPECweb96, in percent.
pub const SPECWEB_CLASS_MIX: [f64; 4] = [35.0, 50.0, 14.0, 1.0];

/// Draws SPECweb96 requests: (directory, class, file 1..=9).
#[derive(Debug, Clone)]
pub struct SpecwebMix {
    rng: SplitMix64,
    /// Cumulative Zipf(1) weights over directories.
    dir_cdf: Vec<f64>,
}

impl SpecwebMix {
    pub fn new(dirs: usize, seed: u64) -> SpecwebMix {
        let weights: Vec<f64> = (1..=dirs.max(1)).map(|d| 1.0 / d as f64).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let dir_cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        SpecwebMix {
            rng: SplitMix64::new(seed),
            dir_cdf,
        }
    }
    pub fn draw(&mut self) -> (usize, usize, usize) {
        let u = self.rng.next_f64();
        let dir = self
            .dir_cdf
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.dir_cdf.len() - 1);
        let u = self.rng.next_f64() * 100.0;
        let mut acc = 0.0;
        let mut class = 3;
        for (c, p) in SPECWEB_CLASS_MIX.iter().enumerate() {
            acc += p;
            if u < acc {
                class = c;
                break;
            }
        }
        let file = 1 + (self.rng.next_u64() % 9) as usize;
        (dir, class, file)
    }
}

/// A generated file set and its request order.
#[derive(Debug)]
pub struct Workload {
    pub docroot: TempDocroot,
    pub files: Vec<Expected>,
    /// Indexes into `files`, in request order (cycled).
    pub sequence: Vec<u32>,
}

fn write_file(
    root: &Path,
    rel: &str,
    size: u64,
    rng: &mut SplitMix64,
    sync: bool,
) -> io::Result<Expected> {
    let path = root.join(rel.trim_start_matches('/'));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut data = vec![0u8; size as usize];
    rng.fill(&mut data);
    let mut f = File::create(&path)?;
    f.write_all(&data)?;
    if sync {
        f.sync_all()?;
    }
    Ok(Expected {
        path: rel.to_owned(),
        size,
        checksum: checksum(&data),
    })
}

/// One file of `size` bytes, `/file_<size>`, requested over and over.
pub fn single(size: u64) -> io::Result<Workload> {
    single_in(TempDocroot::new()?, size)
}

/// [`single`] into `docroot`.
pub fn single_in(docroot: TempDocroot, size: u64) -> io::Result<Workload> {
    let mut rng = SplitMix64::new(size);
    let f = write_file(
        docroot.path(),
        &format!("/file_{size}"),
        size,
        &mut rng,
        false,
    )?;
    Ok(Workload {
        docroot,
        files: vec![f],
        sequence: vec![0],
    })
}

/// Draws of the SPECweb96 mix precomputed per run (then cycled).
pub const SPECWEB_SEQUENCE_LEN: usize = 100_000;

/// The SPECweb96 file set over `dirs` directories, `/dirNNN/classC_I`, and a seeded request order.
pub fn specweb96(dirs: usize, seed: u64) -> io::Result<Workload> {
    specweb96_in(TempDocroot::new()?, dirs, seed)
}

/// [`specweb96`] into `docroot`.
pub fn specweb96_in(docroot: TempDocroot, dirs: usize, seed: u64) -> io::Result<Workload> {
    let mut rng = SplitMix64::new(seed ^ 0x5bec);
    let mut files = Vec::with_capacity(dirs * 36);
    for d in 0..dirs {
        for class in 0..4 {
            for i in 1..=9 {
                let rel = format!("/dir{d:03}/class{class}_{i}");
                files.push(write_file(
                    docroot.path(),
                    &rel,
                    specweb_size(class, i),
                    &mut rng,
                    false,
                )?);
            }
        }
    }
    let mut mix = SpecwebMix::new(dirs, seed);
    let sequence = (0..SPECWEB_SEQUENCE_LEN)
        .map(|_| {
            let (d, c, i) = mix.draw();
            (d * 36 + c * 9 + (i - 1)) as u32
        })
        .collect();
    Ok(Workload {
        docroot,
        files,
        sequence,
    })
}

/// `count` files of `size` bytes, `/disk/NNNNN`, synced to disk; requested in order so a
/// batch of up to `count` requests touches each file at most once.
pub fn disk(size: u64, count: usize) -> io::Result<Workload> {
    disk_in(TempDocroot::new()?, size, count)
}

/// [`disk`] into `docroot`.
pub fn disk_in(docroot: TempDocroot, size: u64, count: usize) -> io::Result<Workload> {
    let mut rng = SplitMix64::new(size ^ count as u64);
    let files = (0..count)
        .map(|i| {
            write_file(
                docroot.path(),
                &format!("/disk/{i:05}"),
                size,
                &mut rng,
                true,
            )
        })
        .collect::<io::Result<Vec<_>>>()?;
    Ok(Workload {
        docroot,
        files,
        sequence: (0..count as u32).collect(),
    })
}

/// Generates a workload named on the command line: `single:<bytes>`, `specweb96:<dirs>` or
/// `disk:<kib>:<count>`, into `docroot`.
pub fn from_spec(spec: &str, docroot: TempDocroot) -> io::Result<Workload> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "unknown workload {spec:?} (single:<bytes>, specweb96:<dirs>, disk:<kib>:<count>)"
            ),
        )
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let num = |i: usize| {
        parts
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(bad)
    };
    match parts[0] {
        "single" => single_in(docroot, num(1)?),
        "specweb96" => specweb96_in(docroot, num(1)? as usize, 1996),
        "disk" => disk_in(docroot, num(1)? * 1024, num(2)? as usize),
        _ => Err(bad()),
    }
}

impl Workload {
    pub fn file_path(&self, e: &Expected) -> PathBuf {
        self.docroot.path().join(e.path.trim_start_matches('/'))
    }

    /// Fraction (0..1) of the set's pages resident in the page cache now.
    pub fn resident_fraction(&self) -> io::Result<f64> {
        let (mut res, mut total) = (0usize, 0usize);
        for e in &self.files {
            let (r, t) = crate::sys::pagecache::resident_pages(&File::open(self.file_path(e))?)?;
            res += r;
            total += t;
        }
        Ok(if total == 0 {
            0.0
        } else {
            res as f64 / total as f64
        })
    }

    /// Evicts every file from the page cache and returns the resident fraction afterwards
    /// (what the next batch starts with). Pages a process keeps mapped cannot be evicted.
    pub fn evict(&self) -> io::Result<f64> {
        for e in &self.files {
            crate::sys::pagecache::evict(&File::open(self.file_path(e))?)?;
        }
        self.resident_fraction()
    }

    /// Mean size of the requested sequence, in bytes.
    pub fn mean_request_bytes(&self) -> f64 {
        let total: u64 = self
            .sequence
            .iter()
            .map(|&i| self.files[i as usize].size)
            .sum();
        total as f64 / self.sequence.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_docroots_of_dead_processes_are_swept() {
        let dead = std::process::Command::new("true")
            .spawn()
            .and_then(|mut c| c.wait().map(|_| c.id()))
            .expect("run true");
        let stale = std::env::temp_dir().join(format!("threadbench-{dead}-0"));
        std::fs::create_dir_all(stale.join("d")).expect("mkdir stale");
        let live = TempDocroot::new().expect("live docroot");
        let removed = TempDocroot::sweep_stale().expect("sweep");
        assert!(removed.contains(&stale), "{removed:?}");
        assert!(!stale.exists());
        assert!(live.path().exists(), "a live process's docroot stays");
    }

    #[test]
    fn specweb_mix_matches_and_is_deterministic() {
        let mut mix = SpecwebMix::new(4, 42);
        let mut counts = [0u64; 4];
        let mut dirs = [0u64; 4];
        let draws: Vec<_> = (0..100_000).map(|_| mix.draw()).collect();
        for &(d, c, _) in &draws {
            counts[c] += 1;
            dirs[d] += 1;
        }
        for (c, want) in SPECWEB_CLASS_MIX.iter().enumerate() {
            let got = counts[c] as f64 / 1000.0;
            assert!((got - want).abs() < 1.0, "class {c}: {got} % vs {want} %");
        }
        // Zipf(1): directory 0 about twice as popular as directory 1.
        let ratio = dirs[0] as f64 / dirs[1] as f64;
        assert!((1.8..2.2).contains(&ratio), "zipf ratio {ratio}");
        let mut again = SpecwebMix::new(4, 42);
        assert!(draws.iter().all(|d| *d == again.draw()));
        let mut other = SpecwebMix::new(4, 43);
        assert!(draws.iter().take(100).any(|d| *d != other.draw()));
    }

    #[test]
    fn specweb_set_has_the_sizes_and_is_removed() {
        let w = specweb96(1, 7).expect("generate specweb set");
        assert_eq!(w.files.len(), 36);
        assert_eq!(w.files[0].size, 102);
        assert_eq!(w.files[8].size, 921);
        assert_eq!(w.files[9].size, 1024);
        assert_eq!(w.files[35].size, 900 * 1024);
        for e in &w.files {
            assert_eq!(
                std::fs::metadata(w.file_path(e))
                    .expect("file exists")
                    .len(),
                e.size
            );
        }
        let root = w.docroot.path().to_owned();
        drop(w);
        assert!(!root.exists(), "temp docroot removed on drop");
    }

    #[test]
    fn workload_specs_parse() {
        let w = from_spec("single:100", TempDocroot::new().expect("tmp")).expect("single");
        assert_eq!(w.files[0].size, 100);
        let w = from_spec("disk:4:3", TempDocroot::new().expect("tmp")).expect("disk");
        assert_eq!((w.files.len(), w.files[0].size), (3, 4096));
        assert!(from_spec("nope:1", TempDocroot::new().expect("tmp")).is_err());
    }

    #[test]
    fn disk_eviction_leaves_little_resident() {
        let w = disk(64 * 1024, 32).expect("generate disk set");
        // Warm the cache, then evict.
        for e in &w.files {
            std::fs::read(w.file_path(e)).expect("read file");
        }
        let warm = w.resident_fraction().expect("mincore");
        let after = w.evict().expect("evict");
        if warm < 0.5 {
            eprintln!(
                "skipping: the file system does not keep these files in the page cache ({warm})"
            );
            return;
        }
        assert!(after < 0.10, "resident after eviction: {after}");
    }
}
