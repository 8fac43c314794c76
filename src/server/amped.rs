//! Disk helpers for `amped` (helper processes) and `amted` (helper threads): the event loop
//! checks a chunk's residency with mincore(); a non-resident chunk becomes a job for a helper,
//! which faults the range into the page cache (pread) and replies, so the loop never blocks
//! on disk.
//!
//! ```text
//!  sped loop ──(id, path, off, len)──▶ helper i ── pread ──▶ page cache
//!      ▲                                   │
//!      └───────────── id (done) ◀──────────┘        unix socket per helper
//! ```
//!
//! The number of jobs is counted and printed on shutdown (`helper_jobs=N` on stderr).

use super::handler::Handler;
use super::{pin, sped, Model, ServeConfig};
use crate::sys::process::ChildGuard;
use crate::sys::signals::stop_requested;
use nix::sys::signal::Signal;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The helpers and the loop's ends of their sockets.
pub struct Helpers {
    pub socks: Vec<UnixStream>,
    next: usize,
    kids: Vec<ChildGuard>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on EOF or a stop request.
fn read_full(s: &mut UnixStream, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) => return Ok(false),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                if stop_requested() {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// A helper: for each job read its range (faulting it into the page cache), reply the id.
pub fn helper_main(mut s: UnixStream) {
    let mut files: HashMap<PathBuf, File> = HashMap::new();
    let mut scratch = vec![0u8; 64 * 1024];
    let mut hdr = [0u8; 26];
    loop {
        if !matches!(read_full(&mut s, &mut hdr), Ok(true)) {
            return;
        }
        let id = u64::from_le_bytes(hdr[0..8].try_into().expect("8 bytes"));
        let off = u64::from_le_bytes(hdr[8..16].try_into().expect("8 bytes"));
        let len = u64::from_le_bytes(hdr[16..24].try_into().expect("8 bytes")) as usize;
        let plen = u16::from_le_bytes(hdr[24..26].try_into().expect("2 bytes")) as usize;
        let mut p = vec![0u8; plen];
        if !matches!(read_full(&mut s, &mut p), Ok(true)) {
            return;
        }
        let path = PathBuf::from(String::from_utf8_lossy(&p).into_owned());
        if !files.contains_key(&path) {
            if let Ok(f) = File::open(&path) {
                files.insert(path.clone(), f);
            }
        }
        if let Some(f) = files.get(&path) {
            let mut done = 0;
            while done < len {
                let n = (len - done).min(scratch.len());
                match f.read_at(&mut scratch[..n], off + done as u64) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => done += k,
                }
            }
        }
        // Reply even on failure: the loop then sends and takes the fault itself.
        if s.write_all(&id.to_le_bytes()).is_err() {
            return;
        }
    }
}

impl Helpers {
    /// Starts `n` helpers: processes (forked now, so before any thread) or threads.
    pub fn start(n: usize, processes: bool, cores: &[usize]) -> io::Result<Helpers> {
        let mut h = Helpers {
            socks: Vec::new(),
            next: 0,
            kids: Vec::new(),
            threads: Vec::new(),
        };
        for i in 0..n.max(1) {
            let (mine, theirs) = UnixStream::pair()?;
            let cores = cores.to_vec();
            if processes {
                h.kids.push(ChildGuard::fork(move || {
                    let _ = pin(&cores);
                    helper_main(theirs);
                    0
                })?);
            } else {
                h.threads.push(
                    std::thread::Builder::new()
                        .name(format!("helper-{i}"))
                        .spawn(move || {
                            let _ = pin(&cores);
                            helper_main(theirs)
                        })?,
                );
            }
            mine.set_nonblocking(true)?;
            h.socks.push(mine);
        }
        Ok(h)
    }

    /// Hands a job to the next helper (round robin). The message is ~100 bytes and the
    /// socket buffer holds thousands, so the write completes at once.
    pub fn submit(&mut self, id: u64, path: &Path, off: usize, len: usize) -> io::Result<()> {
        let p = path.as_os_str().as_encoded_bytes();
        let mut msg = Vec::with_capacity(26 + p.len());
        msg.extend_from_slice(&id.to_le_bytes());
        msg.extend_from_slice(&(off as u64).to_le_bytes());
        msg.extend_from_slice(&(len as u64).to_le_bytes());
        msg.extend_from_slice(&(p.len() as u16).to_le_bytes());
        msg.extend_from_slice(p);
        let i = self.next % self.socks.len();
        self.next += 1;
        let s = &mut self.socks[i];
        let mut sent = 0;
        let deadline = Instant::now() + Duration::from_secs(1);
        while sent < msg.len() {
            match s.write(&msg[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Ids of finished jobs available on helper `i` (non-blocking).
    pub fn completions(&mut self, i: usize, out: &mut Vec<u64>) {
        let mut buf = [0u8; 8 * 64];
        loop {
            match self.socks[i].read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    // Replies are 8 bytes and written whole; a short tail cannot occur on a
                    // stream socket with writes this small unless the helper died.
                    for c in buf[..n].chunks_exact(8) {
                        out.push(u64::from_le_bytes(c.try_into().expect("8 bytes")));
                    }
                }
            }
        }
    }

    /// Closes the sockets (helpers see EOF), SIGTERMs helper processes, reaps/joins all.
    pub fn stop(self) {
        drop(self.socks);
        for k in &self.kids {
            let _ = k.signal(Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_millis(800);
        let mut kids = self.kids;
        for k in &mut kids {
            let _ = k.wait_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        drop(kids);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

pub fn run(
    cfg: &ServeConfig,
    l: TcpListener,
    h: Handler,
    announce: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    let helpers = Helpers::start(cfg.helpers, cfg.model == Model::Amped, &cfg.cores)?;
    sped::run(cfg, l, h, Some(helpers), announce)
}
