//! The Flash request steps, written once: parse → translate path (cache) → response header
//! (cache) → body from the mapped-file cache. Every model calls [`Handler::handle`] on its
//! connection's input buffer and sends the [`Response`] it gets back; only *who* runs these
//! steps *when* differs between models.
//!
//! ```text
//!  bytes ─▶ httparse ─▶ path cache ─▶ header cache ─▶ mapped-file cache ─▶ writev/sendfile
//! ```
//!
//! Caches are behind `parking_lot` mutexes: uncontended in the single-threaded models, shared
//! by the `mt` pools, private per process in `mp`. The docroot is assumed static while served
//! (cache entries are never revalidated).
//!
//! Path safety: every file is opened with `openat2(docroot_fd, rel, RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)`, so no `..`, absolute symlink or symlink swapped in after the check
//! can leave the docroot (the kernel refuses with EXDEV → 403). On kernels without openat2
//! (< 5.6) the fallback canonicalizes the path and requires it beneath the canonical docroot
//! at each open — the same answer, but racy against a concurrent rename.

use crate::sys::mmap::Mapping;
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// How a body goes out (`serve --send`, the profile's `[server] send`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SendMode {
    #[value(name = "writev")]
    Writev,
    #[value(name = "sendfile")]
    Sendfile,
}

/// Handler limits and cache budget (from the profile's `[server]` section and the CLI).
#[derive(Debug, Clone)]
pub struct HandlerConfig {
    pub docroot: PathBuf,
    pub cache_bytes: u64,
    pub send: SendMode,
    pub max_target_bytes: usize,
    pub max_header_bytes: usize,
}

/// A translated, cached file: its header (minus Date/Connection) built once.
#[derive(Debug)]
pub struct FileEntry {
    /// Relative to the docroot: what is opened, beneath it, every time.
    rel: PathBuf,
    len: usize,
    head_200: String,
}

/// The body of a response.
#[derive(Debug, Clone)]
pub enum Body {
    Mapped(Arc<MappedFile>),
    File(Arc<File>, usize),
}

impl Body {
    pub fn len(&self) -> usize {
        match self {
            Body::Mapped(m) => m.map.bytes().len(),
            Body::File(_, n) => *n,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One response, ready to send.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: Vec<u8>,
    pub body: Option<Body>,
    pub keep_alive: bool,
}

/// What the input buffer holds.
#[derive(Debug)]
pub enum Step {
    /// Need more bytes.
    Incomplete,
    /// A request of `consumed` bytes and its response. After an error response `keep_alive`
    /// is false and the connection ends.
    Done { consumed: usize, resp: Response },
}

/// Counters a model may print at shutdown.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub helper_jobs: AtomicU64,
}

/// A whole-file mapping and the path it came from (the helpers fault pages in by path).
#[derive(Debug)]
pub struct MappedFile {
    pub path: PathBuf,
    pub map: Mapping,
}

/// LRU of whole-file mappings bounded by a byte budget.
#[derive(Debug, Default)]
struct MapCache {
    map: HashMap<PathBuf, (Arc<MappedFile>, u64)>,
    bytes: u64,
    tick: u64,
}

/// The shared request steps and their caches.
#[derive(Debug)]
pub struct Handler {
    cfg: HandlerConfig,
    root: PathBuf,
    /// The docroot, opened O_PATH: the directory every file is resolved beneath.
    root_fd: OwnedFd,
    resolver: Resolver,
    paths: Mutex<HashMap<String, Arc<FileEntry>>>,
    maps: Mutex<MapCache>,
    date: Mutex<(u64, String)>,
    pub counters: Counters,
}

/// How a path is kept beneath the docroot (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolver {
    Openat2,
    Canonicalize,
}

const ALLOW: &str = "GET, HEAD";

/// The status for a failed open of a translated path.
fn open_error_status(e: &io::Error) -> u16 {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => 404,
        Some(libc::EXDEV | libc::EACCES | libc::EPERM | libc::ELOOP) => 403,
        _ => 500,
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        505 => "HTTP Version Not Supported",
        _ => "Internal Server Error",
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html",
        "txt" => "text/plain",
        "css" => "text/css",
        "js" => "application/javascript",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// RFC 7231 IMF-fixdate of `secs` since the epoch.
pub fn http_date(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil-from-days (Howard Hinnant).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    let mn = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(mo - 1) as usize];
    format!("{wd}, {d:02} {mn} {y} {h:02}:{m:02}:{s:02} GMT")
}

/// Percent-decodes once; `None` on a malformed escape.
fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

impl Handler {
    /// A handler serving `cfg.docroot` (must exist and be a directory).
    pub fn new(cfg: HandlerConfig) -> io::Result<Handler> {
        let root = std::fs::canonicalize(&cfg.docroot)?;
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
        Ok(Handler {
            cfg,
            root,
            root_fd,
            resolver,
            paths: Mutex::new(HashMap::new()),
            maps: Mutex::new(MapCache::default()),
            date: Mutex::new((0, String::new())),
            counters: Counters::default(),
        })
    }

    fn how() -> OpenHow {
        // O_NONBLOCK: opening a FIFO must not block the server (it is then refused as not a
        // regular file); reads of regular files ignore the flag.
        OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS)
    }

    /// Open `rel` (relative, `..`-free) for reading so that it cannot resolve outside the
    /// docroot: EXDEV when it would.
    fn open_beneath(&self, rel: &Path) -> io::Result<File> {
        match self.resolver {
            Resolver::Openat2 => Ok(File::from(nix::fcntl::openat2(
                &self.root_fd,
                rel,
                Self::how(),
            )?)),
            Resolver::Canonicalize => {
                let full = std::fs::canonicalize(self.root.join(rel))?;
                if !full.starts_with(&self.root) {
                    return Err(io::Error::from_raw_os_error(libc::EXDEV));
                }
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
                    .open(full)
            }
        }
    }

    pub fn send_mode(&self) -> SendMode {
        self.cfg.send
    }

    /// The Date header value, rebuilt at most once a second.
    fn date(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut d = self.date.lock();
        if d.0 != now || d.1.is_empty() {
            *d = (now, http_date(now));
        }
        d.1.clone()
    }

    fn error(&self, status: u16) -> Response {
        let body = format!("{} {}\n", status, reason(status));
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nServer: threadbench\r\nDate: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n",
            status,
            reason(status),
            self.date(),
            body.len()
        );
        if status == 405 {
            head.push_str(&format!("Allow: {ALLOW}\r\n"));
        }
        head.push_str("\r\n");
        let mut head = head.into_bytes();
        head.extend_from_slice(body.as_bytes());
        Response {
            status,
            head,
            body: None,
            keep_alive: false,
        }
    }

    /// Runs the steps on the start of `buf`.
    pub fn handle(&self, buf: &[u8]) -> Step {
        self.handle_on(buf, true)
    }

    /// [`Handler::handle`], but when `may_keep_alive` is false the response closes the
    /// connection whatever the request asked (`Connection: close`): the blocking models use it
    /// to cap requests per connection, as Apache's MaxKeepAliveRequests does.
    pub fn handle_on(&self, buf: &[u8], may_keep_alive: bool) -> Step {
        let err = |s| Step::Done {
            consumed: buf.len(),
            resp: self.error(s),
        };
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        let consumed = match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                let line_end = buf.iter().position(|&b| b == b'\n');
                if line_end.unwrap_or(buf.len()) > self.cfg.max_target_bytes + 32 {
                    return err(414);
                }
                if buf.len() > self.cfg.max_header_bytes {
                    return err(431);
                }
                return Step::Incomplete;
            }
            Err(httparse::Error::TooManyHeaders) => return err(431),
            Err(httparse::Error::Version) => return err(505),
            Err(_) => return err(400),
        };
        if consumed > self.cfg.max_header_bytes {
            return err(431);
        }
        let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version)
        else {
            return err(400);
        };
        if target.len() > self.cfg.max_target_bytes {
            return err(414);
        }
        let head_only = match method {
            "GET" => false,
            "HEAD" => true,
            _ => return err(405),
        };
        let conn = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(",");
        let keep_alive = may_keep_alive
            && match version {
                1 => !conn.contains("close"),
                _ => conn.contains("keep-alive"),
            };
        let entry = match self.translate(target) {
            Ok(e) => e,
            Err(s) => return err(s),
        };
        let body = if head_only {
            None
        } else {
            match self.body(&entry) {
                Ok(b) => Some(b),
                Err(_) => return err(500),
            }
        };
        let mut head = Vec::with_capacity(entry.head_200.len() + 64);
        head.extend_from_slice(entry.head_200.as_bytes());
        head.extend_from_slice(b"Date: ");
        head.extend_from_slice(self.date().as_bytes());
        head.extend_from_slice(if keep_alive {
            b"\r\nConnection: keep-alive\r\n\r\n".as_slice()
        } else {
            b"\r\nConnection: close\r\n\r\n".as_slice()
        });
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        Step::Done {
            consumed,
            resp: Response {
                status: 200,
                head,
                body,
                keep_alive,
            },
        }
    }

    /// Target → cached file entry, or the error status.
    fn translate(&self, target: &str) -> Result<Arc<FileEntry>, u16> {
        // Absolute-form (`http://host/path`): keep only the path.
        let mut t = target;
        for scheme in ["http://", "https://"] {
            if t.len() >= scheme.len() && t[..scheme.len()].eq_ignore_ascii_case(scheme) {
                let rest = &t[scheme.len()..];
                t = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
            }
        }
        if !t.starts_with('/') {
            return Err(400);
        }
        let t = t.split(['?', '#']).next().unwrap_or("/");
        if let Some(e) = self.paths.lock().get(t) {
            return Ok(e.clone());
        }
        let decoded = percent_decode(t.as_bytes()).ok_or(400u16)?;
        if decoded.contains(&0) {
            return Err(400);
        }
        let decoded = String::from_utf8(decoded).map_err(|_| 400u16)?;
        let mut rel = PathBuf::new();
        for seg in decoded.split('/') {
            match seg {
                "" | "." => {}
                ".." => return Err(403),
                s => rel.push(s),
            }
        }
        if decoded.ends_with('/') {
            rel.push("index.html");
        }
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(403);
        }
        let file = self.open_beneath(&rel).map_err(|e| open_error_status(&e))?;
        let meta = file.metadata().map_err(|_| 500u16)?;
        if !meta.is_file() {
            return Err(404);
        }
        let mtime = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let len = meta.len() as usize;
        let head_200 = format!(
            "HTTP/1.1 200 OK\r\nServer: threadbench\r\nContent-Length: {}\r\nContent-Type: {}\r\nLast-Modified: {}\r\n",
            len,
            content_type(&rel),
            http_date(mtime)
        );
        let e = Arc::new(FileEntry { rel, len, head_200 });
        self.paths.lock().insert(t.to_string(), e.clone());
        Ok(e)
    }

    /// The body from the mapped-file cache (LRU by bytes), or an open file for sendfile.
    fn body(&self, e: &FileEntry) -> io::Result<Body> {
        if self.cfg.send == SendMode::Sendfile {
            return Ok(Body::File(Arc::new(self.open_beneath(&e.rel)?), e.len));
        }
        let mut c = self.maps.lock();
        c.tick += 1;
        let tick = c.tick;
        if let Some((m, t)) = c.map.get_mut(&e.rel) {
            *t = tick;
            return Ok(Body::Mapped(m.clone()));
        }
        drop(c);
        let m = Arc::new(MappedFile {
            path: self.root.join(&e.rel),
            map: Mapping::map(&self.open_beneath(&e.rel)?, e.len)?,
        });
        if (e.len as u64) <= self.cfg.cache_bytes {
            let mut c = self.maps.lock();
            while c.bytes + e.len as u64 > self.cfg.cache_bytes {
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
            c.bytes += e.len as u64;
            c.map.insert(e.rel.clone(), (m.clone(), tick));
        }
        Ok(Body::Mapped(m))
    }
}

/// Progress of one response on a (possibly non-blocking) socket.
#[derive(Debug)]
pub struct Outgoing {
    pub resp: Response,
    off: usize,
}

impl Outgoing {
    pub fn new(resp: Response) -> Outgoing {
        Outgoing { resp, off: 0 }
    }

    fn total(&self) -> usize {
        self.resp.head.len() + self.resp.body.as_ref().map_or(0, |b| b.len())
    }

    /// Sends as much as the socket takes; `Ok(true)` when complete. WouldBlock is returned
    /// as an error for the caller to wait on.
    pub fn send<S: Write + std::os::fd::AsRawFd>(&mut self, sock: &mut S) -> io::Result<bool> {
        self.send_upto(sock, usize::MAX)
    }

    /// The next `chunk`-sized range of a mapped body still to send: (file, offset, len).
    pub fn next_chunk(&self, chunk: usize) -> Option<(Arc<MappedFile>, usize, usize)> {
        let hl = self.resp.head.len();
        match &self.resp.body {
            Some(Body::Mapped(m)) => {
                let boff = self.off.saturating_sub(hl);
                let len = (m.map.bytes().len() - boff).min(chunk);
                (len > 0).then(|| (m.clone(), boff, len))
            }
            _ => None,
        }
    }

    /// Whether everything was sent.
    pub fn done(&self) -> bool {
        self.off >= self.total()
    }

    /// Like [`send`](Self::send) but stops once `limit` bytes of the body are out (so a
    /// loop that checked residency of a chunk never touches the pages after it).
    pub fn send_upto<S: Write + std::os::fd::AsRawFd>(
        &mut self,
        sock: &mut S,
        limit: usize,
    ) -> io::Result<bool> {
        let hl = self.resp.head.len();
        let end = self.total().min(hl.saturating_add(limit));
        while self.off < end {
            let n = match &self.resp.body {
                Some(Body::File(f, _)) if self.off >= hl => {
                    let mut o = (self.off - hl) as u64;
                    crate::sys::mmap::sendfile(sock, f, &mut o, end - self.off)?
                }
                body => {
                    let b: &[u8] = match body {
                        Some(Body::Mapped(m)) => m.map.bytes(),
                        _ => &[],
                    };
                    if self.off < hl {
                        let b = &b[..(end - hl).min(b.len())];
                        sock.write_vectored(&[
                            IoSlice::new(&self.resp.head[self.off..]),
                            IoSlice::new(b),
                        ])?
                    } else {
                        sock.write(&b[self.off - hl..end - hl])?
                    }
                }
            };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.off += n;
        }
        Ok(self.done())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::load::workload::TempDocroot;

    /// A docroot `www` with `www/d/f` ("inside"), and `outside/f` ("secret") next to it, in a
    /// temporary directory removed on drop.
    fn tree() -> TempDocroot {
        let t = TempDocroot::new().expect("temp dir");
        std::fs::create_dir_all(t.path().join("www/d")).unwrap();
        std::fs::create_dir_all(t.path().join("outside")).unwrap();
        std::fs::write(t.path().join("www/d/f"), "inside").unwrap();
        std::fs::write(t.path().join("outside/f"), "secret").unwrap();
        t
    }

    fn handler(docroot: PathBuf, resolver: Resolver) -> Handler {
        let mut h = Handler::new(HandlerConfig {
            docroot,
            cache_bytes: 1 << 20,
            send: SendMode::Writev,
            max_target_bytes: 1024,
            max_header_bytes: 8192,
        })
        .expect("handler");
        h.resolver = resolver;
        h
    }

    fn body_of(h: &Handler, e: &FileEntry) -> io::Result<Vec<u8>> {
        match h.body(e)? {
            Body::Mapped(m) => Ok(m.map.bytes().to_vec()),
            Body::File(..) => unreachable!("writev mode"),
        }
    }

    #[test]
    fn nothing_resolves_outside_the_docroot_with_either_resolver() {
        for resolver in [Resolver::Openat2, Resolver::Canonicalize] {
            let t = tree();
            let www = t.path().join("www");
            std::os::unix::fs::symlink(t.path().join("outside/f"), www.join("abs")).unwrap();
            std::os::unix::fs::symlink("../outside/f", www.join("rel")).unwrap();
            std::os::unix::fs::symlink("d/f", www.join("inner")).unwrap();
            nix::unistd::mkfifo(&www.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
            let h = handler(www.clone(), resolver);
            let e = h.translate("/d/f").expect("regular file");
            assert_eq!(body_of(&h, &e).unwrap(), b"inside", "{resolver:?}");
            assert_eq!(h.translate("/abs").unwrap_err(), 403, "{resolver:?}");
            assert_eq!(h.translate("/rel").unwrap_err(), 403, "{resolver:?}");
            assert_eq!(h.translate("/missing").unwrap_err(), 404, "{resolver:?}");
            assert_eq!(h.translate("/d/f/x").unwrap_err(), 404, "{resolver:?}");
            // A FIFO is neither opened for ever nor served.
            assert_eq!(h.translate("/fifo").unwrap_err(), 404, "{resolver:?}");
            let inner = h.translate("/inner").expect("relative symlink inside");
            assert_eq!(body_of(&h, &inner).unwrap(), b"inside", "{resolver:?}");

            // Swap `d` for a symlink to the outside after the path was translated and
            // cached: the body is opened beneath the docroot again and refused.
            let h = handler(www.clone(), resolver);
            let e = h.translate("/d/f").expect("regular file");
            std::fs::rename(www.join("d"), www.join("d.old")).unwrap();
            std::os::unix::fs::symlink("../outside", www.join("d")).unwrap();
            let err = body_of(&h, &e).expect_err("escaped through a swapped symlink");
            assert_eq!(err.raw_os_error(), Some(libc::EXDEV), "{resolver:?}");
        }
    }
}
