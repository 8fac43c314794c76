//! The docroot and the only way a file is opened: beneath it, never outside.
//!
//! Every file is opened with `openat2(docroot_fd, rel, RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)`, so no `..`, absolute symlink or symlink swapped in after the check
//! can leave the docroot (the kernel refuses with EXDEV → 403). On kernels without openat2
//! (< 5.6) the fallback canonicalizes the path and requires it beneath the canonical docroot
//! at each open — the same answer, but racy against a concurrent rename.
//!
//! [`Docroot::stat`] is the part of pathname translation that may block on the disk (directory
//! and inode lookups): the event-driven models with helpers run it in a helper, the others
//! inline. A `Docroot` is shared (`Arc`) with helper threads and inherited by helper processes.

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// How a path is kept beneath the docroot (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    Openat2,
    Canonicalize,
}

/// What translation learns about a regular file: all a response head needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    pub len: u64,
    /// Last modification, seconds since the epoch.
    pub mtime_s: u64,
}

/// The directory served.
#[derive(Debug)]
pub struct Docroot {
    root: PathBuf,
    /// The docroot, opened O_PATH: the directory every file is resolved beneath.
    root_fd: OwnedFd,
    resolver: Resolver,
}

/// The status for a failed open of a translated path.
/// The status for a failed open beneath the docroot: out of descriptors or memory is the
/// server's temporary condition (503, as a client may retry), not a fault of the request.
pub fn open_error_status(e: &io::Error) -> u16 {
    match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::EMFILE | Errno::ENFILE | Errno::ENOMEM) => 503,
        Some(Errno::ENOENT | Errno::ENOTDIR) => 404,
        Some(Errno::EXDEV | Errno::EACCES | Errno::EPERM | Errno::ELOOP) => 403,
        _ => 500,
    }
}

impl Docroot {
    /// Opens `dir` (must exist and be a directory).
    pub fn open(dir: &Path) -> io::Result<Docroot> {
        let root = std::fs::canonicalize(dir)?;
        if !root.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        let root_fd = nix::fcntl::open(
            &root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        // Probe openat2 once: ENOSYS on kernels before 5.6 (or under a seccomp filter).
        let resolver = match nix::fcntl::openat2(&root_fd, ".", Self::how()) {
            Err(Errno::ENOSYS) => Resolver::Canonicalize,
            _ => Resolver::Openat2,
        };
        Ok(Docroot {
            root,
            root_fd,
            resolver,
        })
    }

    /// The same docroot resolved the other way (tests compare both resolvers).
    pub fn with_resolver(mut self, resolver: Resolver) -> Docroot {
        self.resolver = resolver;
        self
    }

    /// The canonical docroot.
    pub fn path(&self) -> &Path {
        &self.root
    }

    fn how() -> OpenHow {
        // O_NONBLOCK: opening a FIFO must not block the server (it is then refused as not a
        // regular file); reads of regular files ignore the flag.
        OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS)
    }

    /// Opens `rel` (relative, `..`-free) for reading so that it cannot resolve outside the
    /// docroot: EXDEV when it would.
    pub fn open_beneath(&self, rel: &Path) -> io::Result<File> {
        match self.resolver {
            Resolver::Openat2 => Ok(File::from(nix::fcntl::openat2(
                &self.root_fd,
                rel,
                Self::how(),
            )?)),
            Resolver::Canonicalize => {
                let full = std::fs::canonicalize(self.root.join(rel))?;
                if !full.starts_with(&self.root) {
                    return Err(Errno::EXDEV.into());
                }
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOCTTY).bits())
                    .open(full)
            }
        }
    }

    /// Looks `rel` up beneath the docroot: a regular file's metadata, or the status to answer
    /// (404 missing or not a regular file, 403 outside or forbidden, 500 otherwise). May block.
    pub fn stat(&self, rel: &Path) -> Result<FileMeta, u16> {
        let file = self.open_beneath(rel).map_err(|e| open_error_status(&e))?;
        let meta = file.metadata().map_err(|_| 500u16)?;
        if !meta.is_file() {
            return Err(404);
        }
        let mtime_s = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(FileMeta {
            len: meta.len(),
            mtime_s,
        })
    }
}
