//! The helper pools of `amped` (helper processes) and `amted` (helper threads): they run the
//! two steps that may block on the disk, so the event loop never does (Flash, §4.2):
//!
//! - **translate** a pathname-translation-cache miss: [`Docroot::stat`] (directory and inode
//!   lookups beneath the docroot); the loop caches the answer with `Handler::translated`;
//! - **page** a non-resident chunk of a mapped body: read it (pread) into the page cache; the
//!   loop then sends it without a fault.
//!
//! ```text
//!  event loop ──Job{conn, Translate{rel} | Page{rel, off, len}}──▶ helper i ── stat / pread
//!      ▲                                                              │
//!      └──────────── Done{conn, Translated(meta | status) | Paged} ◀──┘   unix socket per helper
//! ```
//!
//! Messages are length-prefixed frames on a stream socket; the loop's ends are non-blocking
//! and registered in its epoll set. Helper processes are forked at start (before any thread)
//! and inherit the docroot descriptor; helper threads share it. Jobs are counted and printed
//! on shutdown (`helper_jobs=N translate_jobs=M` on stderr).

use super::handler::{Docroot, FileMeta};
use super::pin;
use crate::sys::process::ChildGuard;
use crate::sys::signals::stop_requested;
use nix::sys::signal::Signal;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Processes (amped) or threads (amted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelperKind {
    Processes,
    Threads,
}

/// Work for a helper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job<'a> {
    /// Look `rel` up beneath the docroot (a translation-cache miss).
    Translate { rel: &'a Path },
    /// Fault `len` bytes at `off` of `rel` into the page cache.
    Page {
        rel: &'a Path,
        off: usize,
        len: usize,
    },
}

/// A helper's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The lookup's result: the file, or the status to answer.
    Translated(Result<FileMeta, u16>),
    /// The range was read (or could not be: the loop then takes the fault itself).
    Paged,
}

/// A finished job of connection `conn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub conn: u64,
    pub reply: Reply,
}

const TRANSLATE: u8 = 1;
const PAGE: u8 = 2;
/// No frame of this protocol comes near it; a longer one means a broken peer.
const MAX_FRAME: usize = 1 << 20;
/// Open files a helper keeps for paging before it starts over.
const MAX_OPEN_FILES: usize = 256;

fn frame(conn: u64, tag: u8, rest: &[&[u8]]) -> Vec<u8> {
    let len = 9 + rest.iter().map(|r| r.len()).sum::<usize>();
    let mut f = Vec::with_capacity(4 + len);
    f.extend_from_slice(&(len as u32).to_le_bytes());
    f.extend_from_slice(&conn.to_le_bytes());
    f.push(tag);
    for r in rest {
        f.extend_from_slice(r);
    }
    f
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn encode_job(conn: u64, job: &Job) -> Vec<u8> {
    match job {
        Job::Translate { rel } => frame(conn, TRANSLATE, &[rel.as_os_str().as_bytes()]),
        Job::Page { rel, off, len } => frame(
            conn,
            PAGE,
            &[
                &(*off as u64).to_le_bytes(),
                &(*len as u64).to_le_bytes(),
                rel.as_os_str().as_bytes(),
            ],
        ),
    }
}

/// A frame body (after the length) → (conn, job).
fn decode_job(b: &[u8]) -> Option<(u64, Job<'_>)> {
    let conn = u64_at(b, 0)?;
    let job = match *b.get(8)? {
        TRANSLATE => Job::Translate {
            rel: Path::new(OsStr::from_bytes(&b[9..])),
        },
        PAGE => Job::Page {
            off: u64_at(b, 9)? as usize,
            len: u64_at(b, 17)? as usize,
            rel: Path::new(OsStr::from_bytes(b.get(25..)?)),
        },
        _ => return None,
    };
    Some((conn, job))
}

fn encode_reply(d: &Done) -> Vec<u8> {
    match &d.reply {
        Reply::Paged => frame(d.conn, PAGE, &[]),
        Reply::Translated(r) => {
            let (status, m) = match r {
                Ok(m) => (0u16, *m),
                Err(s) => (*s, FileMeta { len: 0, mtime_s: 0 }),
            };
            frame(
                d.conn,
                TRANSLATE,
                &[
                    &status.to_le_bytes(),
                    &m.len.to_le_bytes(),
                    &m.mtime_s.to_le_bytes(),
                ],
            )
        }
    }
}

fn decode_reply(b: &[u8]) -> Option<Done> {
    let conn = u64_at(b, 0)?;
    let reply = match *b.get(8)? {
        PAGE => Reply::Paged,
        TRANSLATE => {
            let status = u16::from_le_bytes(b.get(9..11)?.try_into().ok()?);
            Reply::Translated(match status {
                0 => Ok(FileMeta {
                    len: u64_at(b, 11)?,
                    mtime_s: u64_at(b, 19)?,
                }),
                s => Err(s),
            })
        }
        _ => return None,
    };
    Some(Done { conn, reply })
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

/// Faults `len` bytes at `off` of `rel` in by reading them (errors ignored: the loop then
/// takes the fault itself when it sends).
fn page_in(
    files: &mut HashMap<PathBuf, File>,
    docroot: &Docroot,
    rel: &Path,
    off: u64,
    len: usize,
) {
    if !files.contains_key(rel) {
        if files.len() >= MAX_OPEN_FILES {
            files.clear();
        }
        let Ok(f) = docroot.open_beneath(rel) else {
            return;
        };
        files.insert(rel.to_owned(), f);
    }
    let Some(f) = files.get(rel) else { return };
    let mut scratch = [0u8; 64 * 1024];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(scratch.len());
        match f.read_at(&mut scratch[..n], off + done as u64) {
            Ok(0) | Err(_) => break,
            Ok(k) => done += k,
        }
    }
}

/// A helper: answers jobs until its socket closes or a stop is requested.
pub fn helper_main(mut s: UnixStream, docroot: &Docroot) {
    let mut files: HashMap<PathBuf, File> = HashMap::new();
    let mut body = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if !matches!(read_full(&mut s, &mut len), Ok(true)) {
            return;
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_FRAME {
            return;
        }
        body.resize(len, 0);
        if !matches!(read_full(&mut s, &mut body), Ok(true)) {
            return;
        }
        let Some((conn, job)) = decode_job(&body) else {
            return;
        };
        let reply = match job {
            Job::Translate { rel } => Reply::Translated(docroot.stat(rel)),
            Job::Page { rel, off, len } => {
                page_in(&mut files, docroot, rel, off as u64, len);
                Reply::Paged
            }
        };
        if s.write_all(&encode_reply(&Done { conn, reply })).is_err() {
            return;
        }
    }
}

/// The helpers and the event loop's ends of their sockets.
pub struct Helpers {
    socks: Vec<UnixStream>,
    /// Bytes received from each helper, not yet a whole frame.
    rx: Vec<Vec<u8>>,
    next: usize,
    kids: Vec<ChildGuard>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Helpers {
    /// Starts `n` (at least 1) helpers pinned to `cores`: processes are forked now, so call
    /// this before the process has any thread.
    pub fn start(
        n: usize,
        kind: HelperKind,
        cores: &[usize],
        docroot: &Arc<Docroot>,
    ) -> io::Result<Helpers> {
        let mut h = Helpers {
            socks: Vec::new(),
            rx: Vec::new(),
            next: 0,
            kids: Vec::new(),
            threads: Vec::new(),
        };
        for i in 0..n.max(1) {
            let (mine, theirs) = UnixStream::pair()?;
            let cores = cores.to_vec();
            let docroot = docroot.clone();
            match kind {
                HelperKind::Processes => h.kids.push(ChildGuard::fork(move || {
                    let _ = pin(&cores);
                    helper_main(theirs, &docroot);
                    0
                })?),
                HelperKind::Threads => h.threads.push(
                    std::thread::Builder::new()
                        .name(format!("helper-{i}"))
                        .spawn(move || {
                            let _ = pin(&cores);
                            helper_main(theirs, &docroot)
                        })?,
                ),
            }
            mine.set_nonblocking(true)?;
            h.socks.push(mine);
            h.rx.push(Vec::new());
        }
        Ok(h)
    }

    /// The loop's ends, to watch for replies (helper `i` is `socks()[i]`).
    pub fn socks(&self) -> &[UnixStream] {
        &self.socks
    }

    /// Hands a job to the next helper (round robin). A job is ~100 bytes and the socket
    /// buffer holds thousands, so the write completes at once; a full buffer is waited on
    /// for up to 1 s before the job is refused (the caller then runs the step itself).
    pub fn submit(&mut self, conn: u64, job: Job) -> io::Result<()> {
        let msg = encode_job(conn, &job);
        let i = self.next % self.socks.len();
        self.next += 1;
        let s = &mut self.socks[i];
        let mut sent = 0;
        let deadline = Instant::now() + Duration::from_secs(1);
        while sent < msg.len() {
            match s.write(&msg[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Once part of a frame is out the rest must follow, or the stream desyncs.
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        && (sent > 0 || Instant::now() < deadline) =>
                {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Jobs finished by helper `i` so far (non-blocking).
    pub fn completions(&mut self, i: usize, out: &mut Vec<Done>) {
        let mut buf = [0u8; 4096];
        loop {
            match self.socks[i].read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.rx[i].extend_from_slice(&buf[..n]),
            }
        }
        let rx = &mut self.rx[i];
        let mut at = 0;
        while let Some(len) = rx.get(at..at + 4) {
            let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
            let Some(body) = rx.get(at + 4..at + 4 + len) else {
                break;
            };
            if let Some(d) = decode_reply(body) {
                out.push(d);
            }
            at += 4 + len;
        }
        rx.drain(..at);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_and_replies_survive_the_wire() {
        let rel = Path::new("d/ä b");
        for job in [
            Job::Translate { rel },
            Job::Page {
                rel,
                off: 1 << 40,
                len: 65536,
            },
        ] {
            let f = encode_job(7, &job);
            assert_eq!(
                f.len(),
                4 + u32::from_le_bytes(f[..4].try_into().unwrap()) as usize
            );
            assert_eq!(decode_job(&f[4..]), Some((7, job)));
        }
        for reply in [
            Reply::Paged,
            Reply::Translated(Err(404)),
            Reply::Translated(Ok(FileMeta {
                len: 5,
                mtime_s: 1_700_000_000,
            })),
        ] {
            let d = Done {
                conn: 1 << 33,
                reply,
            };
            assert_eq!(decode_reply(&encode_reply(&d)[4..]), Some(d));
        }
    }

    /// Helper threads translate and page for a loop that reads their replies non-blocking,
    /// possibly split across reads.
    #[test]
    fn helper_threads_translate_and_page() {
        let dir = std::env::temp_dir().join(format!("threadbench-helpers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("f"), vec![7u8; 100_000]).expect("file");
        let docroot = Arc::new(Docroot::open(&dir).expect("docroot"));
        let mut h = Helpers::start(2, HelperKind::Threads, &[], &docroot).expect("helpers");
        h.submit(
            1,
            Job::Translate {
                rel: Path::new("f"),
            },
        )
        .unwrap();
        h.submit(
            2,
            Job::Translate {
                rel: Path::new("missing"),
            },
        )
        .unwrap();
        let (rel, off, len) = (Path::new("f"), 4096, 8192);
        h.submit(3, Job::Page { rel, off, len }).unwrap();
        let mut done = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while done.len() < 3 && Instant::now() < deadline {
            for i in 0..h.socks().len() {
                h.completions(i, &mut done);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        h.stop();
        let _ = std::fs::remove_dir_all(&dir);
        done.sort_by_key(|d| d.conn);
        let replies: Vec<Reply> = done.into_iter().map(|d| d.reply).collect();
        assert_eq!(replies.len(), 3, "{replies:?}");
        assert!(matches!(
            replies[0],
            Reply::Translated(Ok(FileMeta { len: 100_000, .. }))
        ));
        assert_eq!(replies[1], Reply::Translated(Err(404)));
        assert_eq!(replies[2], Reply::Paged);
    }
}
