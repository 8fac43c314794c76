//! The three caches of the Flash design, one per step:
//!
//! ```text
//!  translate ─▶ PathCache    request path → FileEntry (docroot-relative path, length, mtime)
//!  header    ─▶ HeaderCache  file → the cacheable part of its 200 head
//!  body      ─▶ MapCache     file → whole-file mapping, LRU bounded by a byte budget
//! ```
//!
//! Each is behind its own `parking_lot` mutex: uncontended in the single-threaded models,
//! shared by the `mt` pools, private per process in `mp`. The docroot is assumed static while
//! served (entries are never revalidated). The path cache is bounded by entries
//! (`[server] path_cache_entries`) and keyed by the normalised path; the header cache holds
//! one entry per file the path cache ever admitted, so it is bounded by the docroot.

use super::docroot::FileMeta;
use crate::sys::mmap::Mapping;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The caches' key: a docroot-relative path's bytes. Hashing and comparing bytes is a
/// fraction of what `Path`'s component-wise `Hash` and `Eq` cost, on every request.
type Key = Box<[u8]>;

fn key(rel: &Path) -> &[u8] {
    rel.as_os_str().as_bytes()
}

/// A translated file: what a translation-cache hit returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative to the docroot: what is opened, beneath it, every time.
    pub rel: PathBuf,
    pub meta: FileMeta,
}

impl FileEntry {
    pub fn len(&self) -> usize {
        self.meta.len as usize
    }
    pub fn is_empty(&self) -> bool {
        self.meta.len == 0
    }
}

/// Pathname translation cache, keyed by the normalised docroot-relative path (decoded once,
/// `//` and `/./` removed, a directory's `index.html` appended: [`super::http::relative_path`]),
/// so the many spellings of one file share one entry, and bounded by entries: a client
/// cannot grow it beyond `max_entries` with distinct paths either.
#[derive(Debug)]
pub struct PathCache {
    max_entries: usize,
    map: Mutex<HashMap<Key, Arc<FileEntry>>>,
}

impl PathCache {
    /// A cache of at most `max_entries` (at least 1).
    pub fn new(max_entries: usize) -> PathCache {
        PathCache {
            max_entries: max_entries.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }
    pub fn get(&self, rel: &Path) -> Option<Arc<FileEntry>> {
        self.map.lock().get(key(rel)).cloned()
    }
    /// Keeps `e` under its `rel`; when full, an arbitrary entry goes first (no recency is
    /// kept on the hit path: a hit costs one lookup, as before the bound).
    pub fn insert(&self, e: Arc<FileEntry>) {
        let mut m = self.map.lock();
        if m.len() >= self.max_entries && !m.contains_key(key(&e.rel)) {
            if let Some(k) = m.keys().next().cloned() {
                m.remove(&k);
            }
        }
        m.insert(key(&e.rel).into(), e);
    }
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Response header cache: per file, the head of a 200 minus `Date` and `Connection`.
#[derive(Debug, Default)]
pub struct HeaderCache(Mutex<HashMap<Key, Arc<str>>>);

impl HeaderCache {
    /// The cached head of `rel`, built by `make` on a miss.
    pub fn get_or_insert(&self, rel: &Path, make: impl FnOnce() -> String) -> Arc<str> {
        let mut c = self.0.lock();
        if let Some(h) = c.get(key(rel)) {
            return h.clone();
        }
        let h: Arc<str> = make().into();
        c.insert(key(rel).into(), h.clone());
        h
    }
}

/// A whole-file mapping and the file it came from (helpers fault its pages in by `rel`).
#[derive(Debug)]
pub struct MappedFile {
    pub rel: PathBuf,
    pub map: Mapping,
}

/// LRU of whole-file mappings bounded by a byte budget.
#[derive(Debug)]
pub struct MapCache {
    budget: u64,
    inner: Mutex<Lru>,
}

#[derive(Debug, Default)]
struct Lru {
    map: HashMap<Key, (Arc<MappedFile>, u64)>,
    bytes: u64,
    tick: u64,
}

impl MapCache {
    pub fn new(budget_bytes: u64) -> MapCache {
        MapCache {
            budget: budget_bytes,
            inner: Mutex::new(Lru::default()),
        }
    }

    /// The mapping of `rel`, marked as just used.
    pub fn get(&self, rel: &Path) -> Option<Arc<MappedFile>> {
        let mut c = self.inner.lock();
        c.tick += 1;
        let tick = c.tick;
        let (m, t) = c.map.get_mut(key(rel))?;
        *t = tick;
        Some(m.clone())
    }

    /// Keeps `m` if it fits the budget at all, evicting the least recently used first.
    pub fn insert(&self, m: Arc<MappedFile>) {
        let len = m.map.bytes().len() as u64;
        if len > self.budget {
            return;
        }
        let mut c = self.inner.lock();
        while c.bytes + len > self.budget {
            let Some(old) = c
                .map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((om, _)) = c.map.remove(&old) {
                c.bytes -= om.map.bytes().len() as u64;
            }
        }
        c.tick += 1;
        let tick = c.tick;
        c.bytes += len;
        if let Some((om, _)) = c.map.insert(key(&m.rel).into(), (m, tick)) {
            // Two misses of one file raced (mt): count the replaced mapping out again.
            c.bytes -= om.map.bytes().len() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_cache_is_bounded_by_entries() {
        let c = PathCache::new(2);
        let e = |p: &str| {
            Arc::new(FileEntry {
                rel: p.into(),
                meta: FileMeta { len: 1, mtime_s: 0 },
            })
        };
        for p in ["a", "b", "c", "d", "c"] {
            c.insert(e(p));
            assert!(c.len() <= 2);
        }
        assert!(c.get(Path::new("c")).is_some());
        assert_eq!(c.len(), 2);
    }
}
