//! `tokio`: what a Rust engineer would write today — tokio's multi-threaded, work-stealing
//! runtime with one task per connection, and `spawn_blocking` (tokio's own helper-thread
//! pool) for the steps that may wait on the disk: AMTED in library form.
//!
//! ```text
//!  main thread: build runtime, poll the stop flag every 50 ms ─▶ shutdown
//!  worker × W (one per server core, pinned) ◀─work stealing─▶
//!     acceptor task: accept ─spawn─▶ task per connection:
//!        read (≤ 16 KiB, bounded) → parse → translate ─hit─▶ header+body → send in order
//!                                               └─miss─▶ spawn_blocking(stat)
//!        before each 64 KiB chunk of a mapped body: mincore ─non-resident─▶
//!                                               spawn_blocking(fault the chunk in)
//!  blocking pool: ≤ H threads (`--helpers`, the profile's `[server] helpers`), kept alive
//! ```
//!
//! The steps are the handler's ([`Handler::parse`], [`Handler::translate`],
//! [`Handler::respond`], [`Outgoing`] for the body from the mapped-file cache); the task only
//! decides when they run. A connection's task alternates between answering what it has
//! parsed (at most [`MAX_QUEUED_RESPONSES`] answers queued, sent in order, pipelining
//! included) and reading more (at most [`Handler::unread_limit`] buffered): while its answers
//! are not taken it does not read, so TCP flow control pushes back on a client that pipelines
//! and never reads, as in sped. The session's timeouts (header, idle keep-alive, send) are
//! deadlines from [`Handler::deadline`] on every wait (`tokio::time::timeout_at`). An error
//! answer (a 431 for a huge head included) closes with a lingering close; accept out of
//! descriptors backs off [`accept::BACKOFF`] and serves on (a file that cannot be opened
//! then answers 503), as in every model.
//!
//! Threads: every runtime thread starts on all the server cores (`on_thread_start`), as
//! amted's helpers do; each of the W workers then pins itself to one core of its own when it
//! first parks (`on_thread_park`, which only workers call: see [`runtime`]). The blocking threads are kept alive for an hour instead of tokio's 10 s, so that
//! they stay threads of the server process while a benchmark samples its tree statistics
//! (whose context switches count live threads only).
//!
//! Stop: SIGTERM/SIGINT set the stop flag, which the main thread sees within 50 ms; the
//! runtime is then shut down (every task dropped: its connection closes) with 500 ms for
//! blocking jobs in flight, and the process exits with no thread left. The counters are
//! printed as by the other event-driven models: `threadbench serve: requests=N
//! helper_jobs=M translate_jobs=T` (M: spawn_blocking jobs, T of them lookups).
//!
//! Not measured here: `tokio::fs` (it, too, is `spawn_blocking` underneath), io_uring.

use super::accept;
use super::handler::{
    FileMeta, Handler, Miss, Outgoing, Parse, Response, Session, Translation, MAX_QUEUED_RESPONSES,
};
use super::{pin, ServeConfig};
use crate::sys::signals::stop_requested;
use nix::errno::Errno;
use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// Residency is checked, and sent, in chunks of this size (as in amped/amted).
const CHUNK: usize = 64 * 1024;
/// Bytes one read takes from a connection (sped's read size).
const READ_BYTES: usize = 16 * 1024;
/// How long a closing connection may keep sending us bytes we discard (as in sped).
const LINGER: Duration = Duration::from_secs(2);
/// How often the main thread looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);
/// How long the shutdown waits for blocking jobs in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);
/// How long an idle blocking-pool thread lives (tokio's default: 10 s).
const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(3600);
/// Page size for faulting a chunk in (a touch per page).
const PAGE: usize = 4096;
/// The runtime's thread names: this prefix and the order in which it started them.
const THREAD_PREFIX: &str = "tokio-";

/// One worker per server core (the CPUs this process may use when the run is unpinned).
pub fn worker_count(cores: &[usize]) -> usize {
    if !cores.is_empty() {
        return cores.len();
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

thread_local! {
    /// This runtime thread has pinned itself to its worker's core.
    static PINNED_AS_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// The core of the worker that parks for the first time as the `nth` (0-based).
fn worker_core(nth: usize, cores: &[usize]) -> Option<usize> {
    (!cores.is_empty()).then(|| cores[nth % cores.len()])
}

/// The runtime: `workers` worker threads, at most `blocking` blocking-pool threads, every
/// thread started on all of `cores`; a worker pins itself to one core when it first parks.
///
/// Why at the first park: `on_thread_start` cannot tell a worker from a blocking-pool thread
/// (tokio runs its workers as jobs of the blocking pool, and which started thread takes which
/// job is a race), but only workers park in the scheduler (`on_thread_park`), and each
/// parks as soon as it finds no task — at start-up, before the server accepts anything.
fn runtime(workers: usize, blocking: usize, cores: &[usize]) -> io::Result<Runtime> {
    let started = AtomicUsize::new(0);
    let parked = AtomicUsize::new(0);
    let all = cores.to_vec();
    let each = cores.to_vec();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .max_blocking_threads(blocking)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .thread_name_fn(move || {
            format!("{THREAD_PREFIX}{}", started.fetch_add(1, Ordering::Relaxed))
        })
        .on_thread_start(move || {
            let _ = pin(&all);
        })
        .on_thread_park(move || {
            if !PINNED_AS_WORKER.with(Cell::get) {
                PINNED_AS_WORKER.with(|p| p.set(true));
                let nth = parked.fetch_add(1, Ordering::Relaxed);
                if let Some(core) = worker_core(nth, &each) {
                    let _ = pin(&[core]);
                }
            }
        })
        .enable_io()
        .enable_time()
        .build()
}

pub fn run(
    cfg: &ServeConfig,
    l: std::net::TcpListener,
    h: Handler,
    announce: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    let rt = runtime(worker_count(&cfg.cores), cfg.helpers.max(1), &cfg.cores)?;
    let h = Arc::new(h);
    let listener = {
        let _in_runtime = rt.enter();
        TcpListener::from_std(l)?
    };
    announce()?;
    rt.spawn(accept_loop(listener, h.clone()));
    rt.block_on(async {
        while !stop_requested() {
            tokio::time::sleep(STOP_POLL).await;
        }
    });
    rt.shutdown_timeout(SHUTDOWN_GRACE);
    eprintln!("threadbench serve: {}", h.counters.summary());
    Ok(())
}

async fn accept_loop(l: TcpListener, h: Arc<Handler>) {
    loop {
        match l.accept().await {
            Ok((s, _)) => {
                let _ = s.set_nodelay(true);
                tokio::spawn(serve_conn(h.clone(), s));
            }
            Err(e) => {
                let errno = e
                    .raw_os_error()
                    .map_or(Errno::UnknownErrno, Errno::from_raw);
                // The pending connection stays queued; accept again after the back-off.
                if accept::out_of_resources(errno) {
                    tokio::time::sleep(accept::BACKOFF).await;
                }
            }
        }
    }
}

async fn serve_conn(h: Arc<Handler>, s: TcpStream) {
    let mut c = Conn {
        s,
        sess: Session::new(),
        inbuf: Vec::new(),
        out: VecDeque::new(),
        eof: false,
        maybe_more: false,
        ends_in_error: false,
    };
    if let Ok(true) = c.serve(&h).await {
        c.linger().await;
    }
}

/// The raw socket for [`Outgoing::send_upto`] (a `Write` + `AsRawFd`): plain `write`/`writev`
/// (and `sendfile` on the descriptor) on the non-blocking socket. Called only inside
/// `TcpStream::try_io`, so a `WouldBlock` clears tokio's readiness and the task waits.
struct RawSock<'a>(&'a TcpStream);

impl Write for RawSock<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(nix::unistd::write(self.0, buf)?)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(nix::sys::uio::writev(self.0, bufs)?)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for RawSock<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Reads one byte per page of `bytes`: each page fault reads its page in on the calling
/// (blocking-pool) thread, so the worker that sends it next does not wait on the disk.
fn fault_in(bytes: &[u8]) {
    let sum = bytes
        .iter()
        .step_by(PAGE)
        .fold(0u8, |s, b| s.wrapping_add(*b));
    std::hint::black_box(sum);
}

/// A translation-cache miss looked up on a blocking-pool thread.
async fn lookup(h: &Handler, miss: &Miss) -> Result<FileMeta, u16> {
    let docroot = h.docroot().clone();
    let rel = miss.rel().to_owned();
    h.counters.helper_jobs.fetch_add(1, Ordering::Relaxed);
    h.counters.translate_jobs.fetch_add(1, Ordering::Relaxed);
    match tokio::task::spawn_blocking(move || docroot.stat(&rel)).await {
        Ok(found) => found,
        // The pool refused the job (shutting down): look it up here.
        Err(_) => h.lookup(miss),
    }
}

fn would_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// One connection's state, owned by its task.
struct Conn {
    s: TcpStream,
    sess: Session,
    /// Received, not yet parsed.
    inbuf: Vec<u8>,
    /// Parsed and answered, not yet sent (in request order).
    out: VecDeque<Outgoing>,
    /// A read returned 0.
    eof: bool,
    /// The last read filled its buffer: more input may wait in the socket.
    maybe_more: bool,
    /// An error answer is queued: it is the last, and the close after it lingers.
    ends_in_error: bool,
}

impl Conn {
    /// Serves the connection; `Ok(true)` when the answer that closes it is out and the close
    /// must linger (an error answer, or input after the last request), otherwise close now.
    async fn serve(&mut self, h: &Handler) -> io::Result<bool> {
        loop {
            self.parse_requests(h).await;
            if !self.out.is_empty() {
                if self.send_answers(h).await? {
                    return Ok(self.ends_in_error || !self.inbuf.is_empty() || self.maybe_more);
                }
                // Every answer went out: parse on (the queue bound may have stopped it).
                continue;
            }
            if self.eof {
                return Ok(false);
            }
            self.read_some(h).await?;
        }
    }

    /// The last request of this connection (an error or `Connection: close`) is queued:
    /// nothing after it is parsed.
    fn last_request_seen(&self) -> bool {
        self.out.back().is_some_and(|o| !o.resp.keep_alive)
    }

    fn queue(&mut self, resp: Response) {
        self.sess.queued();
        if resp.is_error() {
            // The connection ends with this answer; what the client sent after is dropped.
            self.inbuf.clear();
            self.ends_in_error = true;
        }
        self.out.push_back(Outgoing::new(resp));
    }

    /// Parses and answers the complete requests in `inbuf`, at most [`MAX_QUEUED_RESPONSES`]
    /// queued; a translation miss is looked up on the blocking pool (in order: the answers
    /// after it wait for it).
    async fn parse_requests(&mut self, h: &Handler) {
        while self.out.len() < MAX_QUEUED_RESPONSES && !self.last_request_seen() {
            let req = match h.parse(&mut self.sess, &self.inbuf) {
                Parse::Incomplete => return,
                Parse::Invalid(status) => {
                    let resp = h.reject(&self.inbuf, status);
                    self.queue(resp);
                    return;
                }
                Parse::Request(r) => r,
            };
            self.inbuf.drain(..req.consumed.min(self.inbuf.len()));
            let resp = match h.translate(&req) {
                Err(status) => h.answer(&req, Err(status)),
                Ok(Translation::Hit(file)) => h.respond(&req, &file),
                Ok(Translation::Miss(miss)) => {
                    let found = lookup(h, &miss).await;
                    h.answer(&req, h.translated(miss, found))
                }
            };
            self.queue(resp);
        }
    }

    /// Reads what the socket has (at most [`READ_BYTES`], and `inbuf` never past the
    /// handler's unread limit), waiting until the session's deadline (header or idle
    /// keep-alive timeout): past it, `Err` (close).
    async fn read_some(&mut self, h: &Handler) -> io::Result<()> {
        let room = h
            .unread_limit()
            .saturating_sub(self.inbuf.len())
            .min(READ_BYTES);
        if room == 0 {
            // Cannot happen: a head this long is answered 431 by the parse step.
            return Err(io::Error::other("unread input at its bound"));
        }
        let deadline = h.deadline(&self.sess);
        loop {
            match tokio::time::timeout_at(deadline.into(), self.s.readable()).await {
                Err(_) => return Err(io::ErrorKind::TimedOut.into()),
                Ok(r) => r?,
            }
            let mut tmp = [0u8; READ_BYTES];
            match self.s.try_read(&mut tmp[..room]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.sess.received();
                    self.inbuf.extend_from_slice(&tmp[..n]);
                    self.maybe_more = n == room;
                    return Ok(());
                }
                Err(e) if would_wait(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends the queued answers in order; `Ok(true)` once the one that closes the connection
    /// is out, `Ok(false)` when all went out. A chunk that mincore reports non-resident is
    /// faulted in on the blocking pool first. A send waits at most until the session's send
    /// deadline (no progress for the send timeout: `Err`, close).
    async fn send_answers(&mut self, h: &Handler) -> io::Result<bool> {
        let Conn {
            s,
            sess,
            inbuf,
            out,
            ..
        } = self;
        while let Some(o) = out.front_mut() {
            let mut limit = usize::MAX;
            if let Some((mf, off, len)) = o.next_chunk(CHUNK) {
                if !mf.map.resident(off, len).unwrap_or(true) {
                    h.counters.helper_jobs.fetch_add(1, Ordering::Relaxed);
                    let chunk = mf.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        fault_in(&chunk.map.bytes()[off..off + len])
                    })
                    .await;
                }
                limit = off + len;
            }
            let before = o.sent();
            let r = s.try_io(Interest::WRITABLE, || o.send_upto(&mut RawSock(s), limit));
            if o.sent() > before {
                sess.sent_some();
            }
            match r {
                Ok(true) => {
                    let sent = out.pop_front().expect("the front answer");
                    if !sent.resp.keep_alive {
                        return Ok(true);
                    }
                    if out.is_empty() {
                        sess.answered(inbuf.is_empty());
                    }
                }
                // Stopped at the end of the chunk: check the next one.
                Ok(false) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let deadline = h.deadline(sess);
                    match tokio::time::timeout_at(deadline.into(), s.writable()).await {
                        Err(_) => return Err(io::ErrorKind::TimedOut.into()),
                        Ok(r) => r?,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Lingering close: stop sending, then discard what the peer still sends, until its EOF
    /// or [`LINGER`], so that unread input does not turn the close into a reset that destroys
    /// the answer in flight.
    async fn linger(self) {
        use nix::sys::socket::{shutdown, Shutdown};
        let _ = shutdown(self.s.as_raw_fd(), Shutdown::Write);
        let s = &self.s;
        let _ = tokio::time::timeout(LINGER, async {
            let mut tmp = vec![0u8; READ_BYTES];
            loop {
                if s.readable().await.is_err() {
                    return;
                }
                match s.try_read(&mut tmp) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if would_wait(&e) => {}
                    Err(_) => return,
                }
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a connection costs while it waits: its task's future holds the connection's state,
    /// not the read buffer (a stack array that never lives across an await).
    #[test]
    fn a_connection_task_is_small() {
        let rt = runtime(1, 1, &[]).expect("runtime");
        let size = rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let c = TcpStream::connect(l.local_addr().expect("addr"))
                .await
                .expect("connect");
            let dir = std::env::temp_dir();
            let h = Handler::new(crate::server::handler::HandlerConfig {
                docroot: dir,
                cache_bytes: 0,
                send: crate::server::handler::SendMode::Writev,
                max_target_bytes: 1024,
                max_header_bytes: 8192,
                path_cache_entries: 1,
                header_timeout: Duration::from_secs(1),
                keepalive_timeout: Duration::from_secs(1),
                send_timeout: Duration::from_secs(1),
            })
            .expect("handler");
            std::mem::size_of_val(&serve_conn(Arc::new(h), c))
        });
        eprintln!("a connection task's future: {size} bytes");
        assert!(size < READ_BYTES / 4, "{size} bytes per connection task");
    }

    #[test]
    fn the_nth_parked_worker_takes_the_nth_core() {
        let cores = [2, 5];
        assert_eq!(worker_core(0, &cores), Some(2));
        assert_eq!(worker_core(1, &cores), Some(5));
        assert_eq!(worker_core(2, &cores), Some(2));
        assert_eq!(worker_core(0, &[]), None);
    }

    /// Once the workers have parked, every task runs on a thread pinned to one core (each
    /// core one worker's), and a blocking job on a thread with all the cores; a blocking job
    /// spawned at once after the build cannot take a worker's pin.
    #[test]
    fn workers_pin_themselves_and_blocking_threads_keep_all_cores() {
        let allowed = crate::sys::cpu::allowed_cpus().expect("allowed CPUs");
        if allowed.len() < 2 {
            eprintln!("workers_pin_themselves: one CPU allowed: nothing to tell apart");
            return;
        }
        let cores = allowed[..2].to_vec();
        let rt = runtime(2, 1, &cores).expect("runtime");
        let (early, tasks, late) = rt.block_on(async {
            let cpus = || crate::sys::cpu::allowed_cpus().expect("affinity");
            let early = tokio::task::spawn_blocking(cpus)
                .await
                .expect("blocking job");
            // Both workers have found nothing to do by now, and parked.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut tasks = Vec::new();
            for _ in 0..32 {
                tasks.push(tokio::spawn(async move { cpus() }));
            }
            let mut seen = Vec::new();
            for t in tasks {
                seen.push(t.await.expect("task"));
            }
            let late = tokio::task::spawn_blocking(cpus)
                .await
                .expect("blocking job");
            (early, seen, late)
        });
        rt.shutdown_timeout(Duration::from_secs(1));
        assert_eq!(early, cores, "a blocking thread was pinned like a worker");
        assert_eq!(late, cores, "a blocking thread was pinned like a worker");
        for t in &tasks {
            assert!(
                t.len() == 1 && cores.contains(&t[0]),
                "a task ran on a thread pinned to {t:?}, not to one server core"
            );
        }
    }

    /// A chunk evicted from the page cache is resident after `fault_in`.
    #[test]
    fn fault_in_reads_every_page() {
        let path = std::env::temp_dir().join(format!("threadbench-faultin-{}", std::process::id()));
        let len = 3 * PAGE + 5;
        {
            let mut f = std::fs::File::create(&path).expect("file");
            f.write_all(&vec![1u8; len]).expect("write");
            f.sync_all().expect("fsync");
        }
        let f = std::fs::File::open(&path).expect("open");
        let m = crate::sys::mmap::Mapping::map(&f, len).expect("map");
        crate::sys::mmap::fadvise_dontneed(&f).expect("evict");
        let _ = std::fs::remove_file(&path);
        if m.resident(0, len).expect("mincore") {
            eprintln!(
                "fault_in_reads_every_page: the page cache kept the file (tmpfs?): not checked"
            );
            return;
        }
        fault_in(m.bytes());
        assert!(m.resident(0, len).expect("mincore"));
    }
}
