//! The Flash request steps, written once, as an API that every model calls: only *who* runs
//! which step *when* differs between models.
//!
//! ```text
//!  input ─▶ parse ─▶ translate ──hit──────────────▶ header ─▶ body ─▶ Response ─▶ Outgoing
//!                    │ (PathCache)        ▲          (HeaderCache) (MapCache)
//!                    └─miss─▶ lookup ─────┘ translated
//!                             (Docroot::stat: may block → inline, or in a helper)
//! ```
//!
//! | step | call | may block? | cache |
//! |------|------|------------|-------|
//! | parse | [`Handler::parse`] | no | – |
//! | translate | [`Handler::translate`] → [`Translation::Hit`] or [`Translation::Miss`] | no | [`cache::PathCache`] |
//! | … a miss | [`Handler::lookup`] (or [`docroot::Docroot::stat`] in a helper), then [`Handler::translated`] | yes (disk) | fills it |
//! | header | [`Handler::header`] | no | [`cache::HeaderCache`] |
//! | body | [`Handler::body`] | opening/mapping a file (paging happens at send) | [`cache::MapCache`] |
//!
//! [`Handler::respond`] runs header and body for a translated request, [`Handler::handle`]
//! all steps in order (the blocking models use it). SPED runs a miss's lookup inline, AMPED
//! and AMTED hand it to a helper (as Flash does) along with the paging of non-resident chunks.
//!
//! Per-connection limits: every step a model calls takes the connection's [`Session`], so
//! one place ([`Handler::parse`] with the [`Session`] and [`HandlerConfig`]) enforces a bound
//! for every model. The bounds, all here or in the submodules, applied by every model:
//!
//! | bound | where | what a model does |
//! |-------|-------|-------------------|
//! | target, head size (414, 431) | [`http::parse_head`] | answers the error, closes (lingering) |
//! | RFC 9112 framing (400) | [`http::parse_head`] | the same |
//! | header / idle keep-alive / send timeouts | [`Session`], [`Handler::expired`] | closes the connection |
//! | unread input, queued answers | [`Handler::may_read`] | the event loop stops reading it |
//! | pathname cache entries, normalised key | [`cache::PathCache`] | – |
//! | keep-alive requests (blocking models) | [`Session::capped`] | closes after the last |

pub mod cache;
pub mod docroot;
pub mod http;
pub mod send;
pub mod stamp;

pub use cache::{FileEntry, MappedFile};
pub use docroot::{Docroot, FileMeta};
pub use send::{Body, Outgoing, Response};
pub use stamp::Stamp;

use cache::{HeaderCache, MapCache, PathCache};
use http::DateClock;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Bound of the pathname cache (entries).
    pub path_cache_entries: usize,
    /// How long a connection may take to send a request head, from its first byte (or from
    /// the accept): nginx's `client_header_timeout`.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may stay idle between requests: `keepalive_timeout`.
    pub keepalive_timeout: Duration,
    /// How long an answer may make no progress (the client does not read): `send_timeout`.
    pub send_timeout: Duration,
}

/// Answers a connection may have queued (parsed, not yet sent) before the event loop stops
/// parsing and reading it: a client that pipelines and never reads costs at most this many
/// responses (heads of a few hundred bytes, bodies shared mappings), not its whole stream.
pub const MAX_QUEUED_RESPONSES: usize = 16;

/// Unread input (received, not yet parsed) a connection may hold beyond `max_header_bytes`
/// before the event loop stops reading it; enough that a full head always fits.
pub const UNREAD_SLACK_BYTES: usize = 16 * 1024;

/// Counters a model prints at shutdown.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests answered 200.
    pub requests: AtomicU64,
    /// Jobs handed to helpers (paging and translation).
    pub helper_jobs: AtomicU64,
    /// Of those, translation-cache misses looked up by a helper.
    pub translate_jobs: AtomicU64,
}

impl Counters {
    /// `requests=N helper_jobs=N translate_jobs=N`: what a model prints on stderr at its exit
    /// (the tests and `serve`'s users read it).
    pub fn summary(&self) -> String {
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "requests={} helper_jobs={} translate_jobs={}",
            count(&self.requests),
            count(&self.helper_jobs),
            count(&self.translate_jobs)
        )
    }
}

/// What a connection is waiting for, and so which timeout of [`HandlerConfig`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The (rest of the) request head: `header_timeout` since its first byte or the accept.
    Head,
    /// A next request on a keep-alive connection: `keepalive_timeout` since the last answer.
    Idle,
    /// The client to take answers: `send_timeout` since the last progress.
    Send,
}

/// One connection as the steps see it: created by the model when it accepts, passed to every
/// step. Per-connection policy and accounting live here, so a limit added to it (time per
/// header, idle keep-alive, unread input, queued output) holds for every model at once.
///
/// The timeouts: a model reports what happens on the connection ([`Session::received`],
/// [`Session::queued`], [`Session::sent_some`], [`Session::answered`]) and asks
/// [`Handler::expired`] when it wakes up (a blocking model at each socket timeout, the event
/// loop in its periodic sweep); an expired connection is closed.
#[derive(Debug, Clone)]
pub struct Session {
    served: u32,
    max_requests: Option<u32>,
    wait: Wait,
    since: Stamp,
}

impl Default for Session {
    fn default() -> Session {
        Session::new()
    }
}

impl Session {
    /// A connection without a request cap (the event-driven models multiplex connections),
    /// just accepted: waiting for a head.
    pub fn new() -> Session {
        Session {
            served: 0,
            max_requests: None,
            wait: Wait::Head,
            since: Stamp::now(),
        }
    }

    /// A connection closed after `max_requests` (the blocking models: a worker is tied to its
    /// connection, as with Apache's MaxKeepAliveRequests).
    pub fn capped(max_requests: u32) -> Session {
        Session {
            max_requests: Some(max_requests),
            ..Session::new()
        }
    }

    /// Requests parsed on this connection so far.
    pub fn served(&self) -> u32 {
        self.served
    }

    /// What the connection waits for now.
    pub fn wait(&self) -> Wait {
        self.wait
    }

    fn set(&mut self, wait: Wait) {
        self.wait = wait;
        self.since = Stamp::now();
    }

    /// Request bytes arrived: an idle connection now waits for the rest of a head.
    pub fn received(&mut self) {
        if self.wait == Wait::Idle {
            self.set(Wait::Head);
        }
    }

    /// An answer was queued: the connection waits for the client to take it.
    pub fn queued(&mut self) {
        if self.wait != Wait::Send {
            self.set(Wait::Send);
        }
    }

    /// Some of an answer went out: the send timeout starts again.
    pub fn sent_some(&mut self) {
        self.set(Wait::Send);
    }

    /// Every queued answer went out; `unread_empty`: no part of a next request is buffered.
    pub fn answered(&mut self, unread_empty: bool) {
        self.set(if unread_empty { Wait::Idle } else { Wait::Head });
    }

    /// Counts one request; whether the connection may stay open after it.
    fn next_request(&mut self) -> bool {
        let may = self.max_requests.map_or(true, |m| self.served + 1 < m);
        self.served += 1;
        may
    }
}

/// A parsed request: what the later steps need from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Bytes of the input buffer the request took (drain them).
    pub consumed: usize,
    pub head_only: bool,
    /// The answer keeps the connection open: the client asked for it and the session allows it.
    pub keep_alive: bool,
    /// The target as sent.
    pub target: String,
    /// `If-Modified-Since`, seconds since the epoch: a file not modified since gets 304.
    pub if_modified_since: Option<u64>,
}

/// What the parse step found at the start of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    /// Need more bytes.
    Incomplete,
    Request(Request),
    /// A request that cannot be served: answer this status ([`Handler::error`]) and close;
    /// the rest of the input is discarded.
    Invalid(u16),
}

/// What the translate step found.
#[derive(Debug)]
pub enum Translation {
    /// In the pathname cache.
    Hit(Arc<FileEntry>),
    /// Not cached: the file system must be asked ([`Handler::lookup`]), which may block.
    Miss(Miss),
}

/// A translation-cache miss: the request's path, already checked and made docroot-relative,
/// still to be looked up. A model looks it up inline ([`Handler::lookup`]) or sends
/// [`Miss::rel`] to a helper that calls [`Docroot::stat`]; either way the answer goes back
/// through [`Handler::translated`], which caches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    rel: PathBuf,
}

impl Miss {
    /// The path to look up, relative to the docroot.
    pub fn rel(&self) -> &Path {
        &self.rel
    }
}

/// What the input buffer holds, after all steps ([`Handler::handle`]).
#[derive(Debug)]
pub enum Step {
    /// Need more bytes.
    Incomplete,
    /// A request of `consumed` bytes and its response. After an error response `keep_alive`
    /// is false, `consumed` is the whole buffer and the connection ends.
    Done { consumed: usize, resp: Response },
}

/// The shared request steps and their caches.
#[derive(Debug)]
pub struct Handler {
    cfg: HandlerConfig,
    docroot: Arc<Docroot>,
    paths: PathCache,
    headers: HeaderCache,
    maps: MapCache,
    date: DateClock,
    pub counters: Counters,
}

impl Handler {
    /// A handler serving `cfg.docroot` (must exist and be a directory).
    pub fn new(cfg: HandlerConfig) -> io::Result<Handler> {
        let docroot = Docroot::open(&cfg.docroot)?;
        Ok(Handler::with_docroot(cfg, docroot))
    }

    /// A handler over an opened docroot (`cfg.docroot` is not read again).
    pub fn with_docroot(cfg: HandlerConfig, docroot: Docroot) -> Handler {
        Handler {
            maps: MapCache::new(cfg.cache_bytes),
            paths: PathCache::new(cfg.path_cache_entries),
            cfg,
            docroot: Arc::new(docroot),
            headers: HeaderCache::default(),
            date: DateClock::default(),
            counters: Counters::default(),
        }
    }

    /// Most unread input a connection may hold: reading stops there (the head then parses, or
    /// is too large: 431).
    pub fn unread_limit(&self) -> usize {
        self.cfg.max_header_bytes + UNREAD_SLACK_BYTES
    }

    /// Whether a connection holding `unread` input bytes and `queued` unsent answers may be
    /// read (and parsed) further; when not, its input waits in the kernel (TCP flow control
    /// pushes back on the client) until the answers drain.
    pub fn may_read(&self, unread: usize, queued: usize) -> bool {
        unread < self.unread_limit() && queued < MAX_QUEUED_RESPONSES
    }

    /// Whether `sess` has waited longer than its timeout allows (close it).
    pub fn expired(&self, sess: &Session, now: Stamp) -> bool {
        now.since(sess.since) > self.limit(sess)
    }

    /// The instant after which `sess` has waited longer than its timeout allows: a model that
    /// waits with a timer (tokio) waits until it; the others ask [`Handler::expired`].
    pub fn deadline(&self, sess: &Session) -> Instant {
        let left = self
            .limit(sess)
            .saturating_sub(Stamp::now().since(sess.since));
        // A timeout too large to add (a profile may say u64::MAX ms) is a deadline a century
        // away: never reached.
        const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
        let now = Instant::now();
        now.checked_add(left).unwrap_or_else(|| now + NEVER)
    }

    /// The timeout of what `sess` waits for now.
    fn limit(&self, sess: &Session) -> Duration {
        match sess.wait {
            Wait::Head => self.cfg.header_timeout,
            Wait::Idle => self.cfg.keepalive_timeout,
            Wait::Send => self.cfg.send_timeout,
        }
    }

    pub fn send_mode(&self) -> SendMode {
        self.cfg.send
    }

    /// The docroot, for helpers that look up misses and page files in beneath it.
    pub fn docroot(&self) -> &Arc<Docroot> {
        &self.docroot
    }

    /// Step 1: the request at the start of `buf`, if complete.
    pub fn parse(&self, sess: &mut Session, buf: &[u8]) -> Parse {
        match http::parse_head(buf, self.cfg.max_target_bytes, self.cfg.max_header_bytes) {
            Ok(None) => Parse::Incomplete,
            Err(status) => Parse::Invalid(status),
            Ok(Some(h)) => {
                let may_keep_alive = sess.next_request();
                Parse::Request(Request {
                    consumed: h.consumed,
                    head_only: h.head_only,
                    keep_alive: may_keep_alive && h.wants_keep_alive,
                    target: h.target,
                    if_modified_since: h.if_modified_since,
                })
            }
        }
    }

    /// Step 2: target → file, from the pathname cache; a miss is returned for a lookup. Never
    /// touches the file system. `Err` is the status to answer (a malformed or escaping path).
    pub fn translate(&self, req: &Request) -> Result<Translation, u16> {
        // The cache key is the normalised path: `//b.txt`, `/./b.txt` and `/%62.txt` are one
        // entry (a key per spelling let one client grow the cache without bound).
        let rel = http::relative_path(http::origin_path(&req.target)?)?;
        if let Some(e) = self.paths.get(&rel) {
            return Ok(Translation::Hit(e));
        }
        Ok(Translation::Miss(Miss { rel }))
    }

    /// Step 2 of a miss, the part that may block: asks the file system, beneath the docroot.
    pub fn lookup(&self, miss: &Miss) -> Result<FileMeta, u16> {
        self.docroot.stat(&miss.rel)
    }

    /// Step 2 completed: a lookup's answer (run here or in a helper) enters the pathname cache.
    pub fn translated(
        &self,
        miss: Miss,
        found: Result<FileMeta, u16>,
    ) -> Result<Arc<FileEntry>, u16> {
        let e = Arc::new(FileEntry {
            rel: miss.rel,
            meta: found?,
        });
        self.paths.insert(e.clone());
        Ok(e)
    }

    /// Step 2 whole, looking a miss up inline (blocking models, SPED).
    pub fn translate_inline(&self, req: &Request) -> Result<Arc<FileEntry>, u16> {
        match self.translate(req)? {
            Translation::Hit(e) => Ok(e),
            Translation::Miss(m) => {
                let found = self.lookup(&m);
                self.translated(m, found)
            }
        }
    }

    /// Step 3: the response head for `file`, from the header cache plus `Date` and
    /// `Connection`.
    pub fn header(&self, req: &Request, file: &FileEntry) -> Vec<u8> {
        let cached = self.headers.get_or_insert(&file.rel, || {
            http::head_200(
                file.meta.len,
                http::content_type(&file.rel),
                file.meta.mtime_s,
            )
        });
        let mut head = Vec::with_capacity(cached.len() + 64);
        head.extend_from_slice(cached.as_bytes());
        self.finish_head(&mut head, req.keep_alive);
        head
    }

    /// Appends `Date`, `Connection` and the blank line to a response head.
    fn finish_head(&self, head: &mut Vec<u8>, keep_alive: bool) {
        head.extend_from_slice(b"Date: ");
        head.extend_from_slice(self.date.now().as_bytes());
        head.extend_from_slice(if keep_alive {
            b"\r\nConnection: keep-alive\r\n\r\n".as_slice()
        } else {
            b"\r\nConnection: close\r\n\r\n".as_slice()
        });
    }

    /// Step 4: the body from the mapped-file cache (LRU by bytes), or an open file for
    /// sendfile. Pages of a mapping are faulted in when sent (or by a helper before).
    pub fn body(&self, file: &FileEntry) -> io::Result<Body> {
        if self.cfg.send == SendMode::Sendfile {
            return Ok(Body::File(
                Arc::new(self.docroot.open_beneath(&file.rel)?),
                file.len(),
            ));
        }
        if let Some(m) = self.maps.get(&file.rel) {
            return Ok(Body::Mapped(m));
        }
        let m = Arc::new(MappedFile {
            rel: file.rel.clone(),
            map: crate::sys::mmap::Mapping::map(
                &self.docroot.open_beneath(&file.rel)?,
                file.len(),
            )?,
        });
        self.maps.insert(m.clone());
        Ok(Body::Mapped(m))
    }

    /// Steps 3 and 4 for a translated request (500 when the body cannot be opened).
    pub fn respond(&self, req: &Request, file: &FileEntry) -> Response {
        // Conditional GET: not modified since the client's copy → 304, no body.
        if req
            .if_modified_since
            .is_some_and(|since| file.meta.mtime_s <= since)
        {
            let mut head = http::head_304(file.meta.mtime_s).into_bytes();
            self.finish_head(&mut head, req.keep_alive);
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            return Response {
                status: 304,
                head,
                body: None,
                keep_alive: req.keep_alive,
            };
        }
        let body = if req.head_only {
            None
        } else {
            match self.body(file) {
                Ok(b) => Some(b),
                Err(e) => return self.error(docroot::open_error_status(&e), false),
            }
        };
        let head = self.header(req, file);
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        Response {
            status: 200,
            head,
            body,
            keep_alive: req.keep_alive,
        }
    }

    /// The answer to a request once translation is over, successful or not.
    pub fn answer(&self, req: &Request, file: Result<Arc<FileEntry>, u16>) -> Response {
        match file {
            Ok(f) => self.respond(req, &f),
            Err(status) => self.error(status, req.head_only),
        }
    }

    /// An error response (it closes the connection); a HEAD request's (`head_only`) carries
    /// no body.
    pub fn error(&self, status: u16, head_only: bool) -> Response {
        Response {
            status,
            head: http::error_response(status, &self.date.now(), head_only),
            body: None,
            keep_alive: false,
        }
    }

    /// The error response to input that [`Handler::parse`] found [`Parse::Invalid`]: the
    /// request line may not parse, so a HEAD is recognised by its first bytes.
    pub fn reject(&self, buf: &[u8], status: u16) -> Response {
        self.error(status, buf.starts_with(b"HEAD "))
    }

    /// All steps in order on the start of `buf`, a miss looked up inline.
    pub fn handle(&self, sess: &mut Session, buf: &[u8]) -> Step {
        let req = match self.parse(sess, buf) {
            Parse::Incomplete => return Step::Incomplete,
            Parse::Invalid(status) => {
                return Step::Done {
                    consumed: buf.len(),
                    resp: self.reject(buf, status),
                }
            }
            Parse::Request(r) => r,
        };
        let resp = self.answer(&req, self.translate_inline(&req));
        let consumed = if resp.is_error() {
            buf.len()
        } else {
            req.consumed
        };
        Step::Done { consumed, resp }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use docroot::Resolver;
    use nix::sys::stat::Mode;

    /// A temporary directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static N: AtomicU64 = AtomicU64::new(0);
            let p = std::env::temp_dir().join(format!(
                "threadbench-handler-{}-{tag}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&p).expect("temp dir");
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A docroot `www` with `www/d/f` ("inside"), and `outside/f` ("secret") next to it.
    fn tree() -> TempDir {
        let t = TempDir::new("tree");
        std::fs::create_dir_all(t.0.join("www/d")).unwrap();
        std::fs::create_dir_all(t.0.join("outside")).unwrap();
        std::fs::write(t.0.join("www/d/f"), "inside").unwrap();
        std::fs::write(t.0.join("outside/f"), "secret").unwrap();
        t
    }

    fn config(docroot: PathBuf, send: SendMode) -> HandlerConfig {
        HandlerConfig {
            docroot,
            cache_bytes: 1 << 20,
            send,
            max_target_bytes: 1024,
            max_header_bytes: 8192,
            path_cache_entries: 16,
            header_timeout: Duration::from_millis(50),
            keepalive_timeout: Duration::from_millis(100),
            send_timeout: Duration::from_secs(1),
        }
    }

    fn handler(docroot: PathBuf, resolver: Resolver) -> Handler {
        let d = Docroot::open(&docroot)
            .expect("docroot")
            .with_resolver(resolver);
        Handler::with_docroot(config(docroot, SendMode::Writev), d)
    }

    fn get(target: &str) -> Request {
        Request {
            consumed: 0,
            head_only: false,
            keep_alive: true,
            target: target.into(),
            if_modified_since: None,
        }
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
            let www = t.0.join("www");
            std::os::unix::fs::symlink(t.0.join("outside/f"), www.join("abs")).unwrap();
            std::os::unix::fs::symlink("../outside/f", www.join("rel")).unwrap();
            std::os::unix::fs::symlink("d/f", www.join("inner")).unwrap();
            nix::unistd::mkfifo(&www.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
            let h = handler(www.clone(), resolver);
            let tr = |t: &str| h.translate_inline(&get(t));
            let e = tr("/d/f").expect("regular file");
            assert_eq!(body_of(&h, &e).unwrap(), b"inside", "{resolver:?}");
            assert_eq!(tr("/abs").unwrap_err(), 403, "{resolver:?}");
            assert_eq!(tr("/rel").unwrap_err(), 403, "{resolver:?}");
            assert_eq!(tr("/missing").unwrap_err(), 404, "{resolver:?}");
            assert_eq!(tr("/d/f/x").unwrap_err(), 404, "{resolver:?}");
            // A FIFO is neither opened for ever nor served.
            assert_eq!(tr("/fifo").unwrap_err(), 404, "{resolver:?}");
            let inner = tr("/inner").expect("relative symlink inside");
            assert_eq!(body_of(&h, &inner).unwrap(), b"inside", "{resolver:?}");

            // Swap `d` for a symlink to the outside after the path was translated and
            // cached: the body is opened beneath the docroot again and refused.
            let h = handler(www.clone(), resolver);
            let e = h.translate_inline(&get("/d/f")).expect("regular file");
            std::fs::rename(www.join("d"), www.join("d.old")).unwrap();
            std::os::unix::fs::symlink("../outside", www.join("d")).unwrap();
            let err = body_of(&h, &e).expect_err("escaped through a swapped symlink");
            assert_eq!(err.raw_os_error(), Some(libc::EXDEV), "{resolver:?}");
        }
    }

    /// The steps one by one, with the miss looked up on another thread as a helper would,
    /// give the same bytes as `handle`; the second request is a cache hit.
    #[test]
    fn steps_by_hand_answer_as_handle_does() {
        let t = tree();
        let www = t.0.join("www");
        for send in [SendMode::Writev, SendMode::Sendfile] {
            let h = Handler::new(config(www.clone(), send)).expect("handler");
            let input = b"GET /d/f HTTP/1.1\r\nHost: x\r\n\r\nGET /d/f HTTP/1.1\r\nHost: x\r\n\r\n";
            let mut sess = Session::new();
            let Parse::Request(req) = h.parse(&mut sess, input) else {
                panic!("a request")
            };
            assert!(req.keep_alive && req.consumed == input.len() / 2);
            let Ok(Translation::Miss(miss)) = h.translate(&req) else {
                panic!("a miss first")
            };
            let docroot = h.docroot().clone();
            let rel = miss.rel().to_owned();
            let found = std::thread::spawn(move || docroot.stat(&rel))
                .join()
                .expect("helper thread");
            assert_eq!(found.map(|m| m.len), Ok(6));
            let by_steps = h.answer(&req, h.translated(miss, found));
            let Ok(Translation::Hit(_)) = h.translate(&req) else {
                panic!("a hit after the miss was translated")
            };
            let Step::Done { consumed, resp } = h.handle(&mut sess, &input[req.consumed..]) else {
                panic!("a response")
            };
            assert_eq!(consumed, req.consumed);
            assert_eq!(sess.served(), 2);
            // Date may tick between the two: compare without it.
            let strip = |r: &Response| {
                let s = String::from_utf8(r.head.clone()).unwrap();
                s.lines()
                    .filter(|l| !l.starts_with("Date:"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(strip(&by_steps), strip(&resp), "{send:?}");
            assert_eq!(
                by_steps.body.as_ref().map(Body::len),
                resp.body.as_ref().map(Body::len)
            );
        }
    }

    #[test]
    fn session_caps_keep_alive_and_errors_consume_everything() {
        let t = tree();
        let h = Handler::new(config(t.0.join("www"), SendMode::Writev)).expect("handler");
        let req = b"GET /d/f HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut sess = Session::capped(2);
        let keep: Vec<bool> = (0..2)
            .map(|_| match h.handle(&mut sess, req) {
                Step::Done { resp, .. } => resp.keep_alive,
                Step::Incomplete => panic!("complete request"),
            })
            .collect();
        assert_eq!(keep, [true, false]);
        let two = b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /d/f HTTP/1.1\r\n\r\n";
        match h.handle(&mut Session::new(), two) {
            Step::Done { consumed, resp } => {
                assert_eq!(
                    (resp.status, resp.keep_alive, consumed),
                    (404, false, two.len())
                )
            }
            Step::Incomplete => panic!("complete request"),
        }
        assert_eq!(h.counters.requests.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn session_timeouts_follow_what_the_connection_waits_for() {
        let t = tree();
        let h = Handler::new(config(t.0.join("www"), SendMode::Writev)).expect("handler");
        let mut sess = Session::new();
        let now = Stamp::now();
        assert_eq!(sess.wait(), Wait::Head);
        assert!(!h.expired(&sess, now));
        // Bytes of the head do not restart the header timeout.
        sess.received();
        assert!(h.expired(&sess, now + Duration::from_millis(60)));
        sess.queued();
        assert_eq!(sess.wait(), Wait::Send);
        assert!(!h.expired(&sess, Stamp::now() + Duration::from_millis(500)));
        sess.answered(true);
        assert_eq!(sess.wait(), Wait::Idle);
        let idle = Stamp::now();
        assert!(!h.expired(&sess, idle + Duration::from_millis(60)));
        assert!(h.expired(&sess, idle + Duration::from_millis(150)));
        sess.received();
        assert_eq!(sess.wait(), Wait::Head);
    }
}
