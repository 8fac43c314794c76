//! `uring`: one thread, one io_uring — the lecture's "asynchronous I/O instead of helpers".
//! A completion-based loop: every socket operation is an op on the ring (multishot accept,
//! recv, writev of head + body from the mapped-file cache), and a body chunk that `mincore`
//! reports non-resident is read with `IORING_OP_READ` into a buffer that is then sent — the
//! kernel performs that read asynchronously (its async buffered read, or an io-wq worker: a
//! thread of this process), so a disk-bound request never blocks the loop. AMTED's helper
//! threads, moved into the kernel.
//!
//! ```text
//!  ┌─▶ io_uring_enter: submit every op queued this turn, wait for ≥ 1 completion (≤ 100 ms)
//!  │     accept (multishot) ─▶ new conn: recv posted at once
//!  │     recv  ─▶ parse → translate (a miss looked up here, as sped) → header+body → queue
//!  │     write ─▶ next range of the front answer: resident chunks → writev from the mapping,
//!  │              a non-resident chunk (or a sendfile-mode file body) → READ, then writev
//!  │     read  ─▶ writev of the bytes read
//!  └──── every 200 ms: close connections past their timeouts; stop flag checked each turn
//! ```
//!
//! Syscalls per request on a keep-alive connection: none of its own — its recv and writev are
//! submitted with the turn's single `io_uring_enter`, shared by every connection that was
//! ready in the turn (no epoll_wait, no read/write, no EAGAIN). `mincore` runs once per chunk
//! of a mapping not seen whole-resident before; a mapping found whole-resident and sent from
//! (its pages are then mapped into this process, which `fadvise(DONTNEED)` cannot evict) is
//! trusted for [`RESIDENT_RECHECK`] before it is checked again.
//!
//! Recv is single-shot, one per connection at a time, into the connection's own input
//! buffer: a recv is posted only while [`Handler::may_read`] allows, so a client whose
//! answers are not consumed leaves its input in the kernel (TCP pushes back) with nothing to
//! cancel, and the read budget of a turn is one recv (≤ [`RECV_LARGE`]) per connection. A
//! multishot recv with provided buffers would save re-arming the socket's poll per request,
//! but keeps receiving from a non-reader until cancelled and makes every bound a cancel/re-arm
//! dance.
//!
//! Same bounds as sped (issue 15): queued answers ([`MAX_QUEUED_RESPONSES`]), unread input,
//! header / keep-alive / send timeouts (the session's, in the sweep), 431 and every error
//! answer followed by a lingering close, EMFILE back-off (the multishot accept ends on an
//! error: re-armed after [`ACCEPT_BACKOFF`], without sleeping). Closing a connection with ops
//! in flight shuts its socket down first, which completes them; their buffers are owned by
//! the ring until then ([`crate::sys::uring_io`]).
//!
//! Not done here: translation misses go to the disk inline (as in sped; `IORING_OP_STATX`
//! could take them), and sendfile mode has no zero-copy path (io_uring has no sendfile; the
//! file is read into a buffer and written).

use super::handler::{
    Body, Handler, MappedFile, Outgoing, Parse, Response, Session, Stamp, Translation,
    MAX_QUEUED_RESPONSES,
};
use super::ServeConfig;
use crate::sys::signals::stop_requested;
use crate::sys::uring_io::{ConnRing, Done};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Residency is checked, and a non-resident range read, in chunks of this size.
const CHUNK: usize = 64 * 1024;
/// Resident chunks one writev may take from a mapping.
const SEND_CHUNKS: usize = 4;
/// A recv's size; after a recv that filled it, the next one asks for [`RECV_LARGE`].
const RECV_SMALL: usize = 4096;
const RECV_LARGE: usize = 16 * 1024;
/// How long a closing connection may keep sending us bytes we discard.
const LINGER: Duration = Duration::from_secs(2);
/// How often the loop closes connections past their timeouts.
const SWEEP_EVERY: Duration = Duration::from_millis(200);
/// The longest wait in one enter: the stop flag is seen at least this often.
const WAIT: Duration = Duration::from_millis(100);
/// An accept that failed (out of descriptors or memory: EMFILE, ENFILE, ENOBUFS, ENOMEM) is
/// re-armed after this.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
/// How long a mapping found whole-resident (and sent from) is trusted without mincore.
const RESIDENT_RECHECK: Duration = Duration::from_secs(1);
/// Files kept open for READ ops before the loop starts over.
const MAX_OPEN_FILES: usize = 256;
/// Mappings remembered as resident before the memo is pruned.
const MAX_RESIDENT_MEMO: usize = 4096;
/// The submission queue: two ops per ready connection and turn fit for hundreds of them
/// (a full queue is submitted early, never dropped).
const SQ_ENTRIES: u32 = 1024;
const LISTENER: u64 = 0;

/// Ok when io_uring can run here; Err: one line saying why not (the CLI exits with it, the
/// bench and the tests skip the model with it).
///
/// Probed once per process, on a thread of its own: a thread that has used an io_uring gets
/// io_uring's task-work notifications, which interrupt its blocking socket calls that have a
/// timeout with EINTR — the callers (a test's client, the bench's load) are such threads.
pub fn available() -> Result<(), String> {
    static PROBED: OnceLock<Result<(), String>> = OnceLock::new();
    PROBED
        .get_or_init(|| {
            std::thread::spawn(crate::sys::uring_io::probe)
                .join()
                .unwrap_or_else(|_| Err("the io_uring probe panicked".into()))
        })
        .clone()
}

/// The front answer of a connection while it is being sent; moved into the ring (it holds
/// what the writev reads) while a write is in flight.
struct Sending {
    o: Outgoing,
    /// Body bytes read from the file for the range being sent: (body offset, bytes).
    chunk: Option<(usize, Vec<u8>)>,
    /// Body offset up to which the mapped body was found resident.
    limit: usize,
}

impl Sending {
    fn body_sent(&self) -> usize {
        self.o.sent().saturating_sub(self.o.resp.head.len())
    }

    /// What the next writev sends: the rest of the head, then the read chunk or the resident
    /// range of the mapping.
    fn slices(&self) -> [&[u8]; 2] {
        match &self.chunk {
            Some((start, buf)) => {
                let [head, _] = self.o.pending_upto(0);
                let from = self.body_sent().saturating_sub(*start).min(buf.len());
                [head, &buf[from..]]
            }
            None => self.o.pending_upto(self.limit),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Lingering close since the instant: write side shut, late input received and discarded
    /// until EOF or [`LINGER`].
    Lingering(Instant),
}

struct Conn {
    s: TcpStream,
    sess: Session,
    phase: Phase,
    /// A recv returned 0.
    eof: bool,
    /// Received, not yet parsed; in the ring (empty here) while a recv is in flight.
    inbuf: Vec<u8>,
    recv_in_flight: bool,
    /// Bytes `inbuf` held when it went into the ring.
    held: usize,
    /// The size of the recv in flight, and whether the last one filled its size.
    asked: usize,
    last_recv_filled: bool,
    /// Answers parsed, not yet started.
    out: VecDeque<Outgoing>,
    /// The front answer between ops (a read of its next chunk may be in flight).
    cur: Option<Box<Sending>>,
    /// The front answer is in the ring, being written.
    writing: bool,
    /// A chunk of the front answer is being read from its file.
    reading: bool,
    /// An answer that closes the connection is queued: nothing after it is parsed.
    closing_queued: bool,
    /// That answer is out.
    finished: bool,
    /// An error answer is queued: the close after it lingers.
    ends_in_error: bool,
}

impl Conn {
    fn new(s: TcpStream) -> Conn {
        Conn {
            s,
            sess: Session::new(),
            phase: Phase::Serving,
            eof: false,
            inbuf: Vec::new(),
            recv_in_flight: false,
            held: 0,
            asked: 0,
            last_recv_filled: false,
            out: VecDeque::new(),
            cur: None,
            writing: false,
            reading: false,
            closing_queued: false,
            finished: false,
            ends_in_error: false,
        }
    }

    fn unread(&self) -> usize {
        if self.recv_in_flight {
            self.held
        } else {
            self.inbuf.len()
        }
    }

    /// Answers parsed and not yet completely sent.
    fn queued(&self) -> usize {
        self.out.len() + usize::from(self.cur.is_some() || self.writing)
    }

    fn queue(&mut self, resp: Response) {
        self.sess.queued();
        if !resp.keep_alive {
            self.closing_queued = true;
        }
        if resp.is_error() {
            // The connection ends with this answer; what the client sent after is dropped,
            // and the close lingers so that input still arriving cannot reset the answer.
            self.inbuf.clear();
            self.ends_in_error = true;
        }
        self.out.push_back(Outgoing::new(resp));
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.recv_in_flight || self.writing {
            // The ring holds the socket while its ops are in flight: shut it down so they
            // complete (recv: 0, write: EPIPE) and the peer sees the close now.
            let _ = self.s.shutdown(Shutdown::Both);
        }
    }
}

/// The loop's own state.
struct Loop<'a> {
    ring: ConnRing<Sending>,
    h: &'a Handler,
    /// Mappings found whole-resident (keyed by address; the weak reference keeps the
    /// allocation, so the address is not reused while remembered) and when.
    resident: HashMap<usize, (Weak<MappedFile>, Instant)>,
    /// Files opened for READ ops of their non-resident chunks.
    files: HashMap<PathBuf, Arc<File>>,
    /// READ ops submitted (printed at shutdown as `file_reads=N`).
    file_reads: u64,
}

impl Loop<'_> {
    /// Advances one connection as far as it goes without waiting: parse what arrived, start
    /// the next send, post the next recv. False → close it.
    fn drive(&mut self, c: &mut Conn, id: u64) -> bool {
        loop {
            if let Phase::Lingering(since) = c.phase {
                if c.eof || since.elapsed() >= LINGER {
                    return false;
                }
                if !c.recv_in_flight {
                    c.inbuf.clear();
                    return self.post_recv(c, id, RECV_LARGE);
                }
                return true;
            }
            if c.finished {
                if c.inbuf.is_empty() && !c.ends_in_error && !c.recv_in_flight {
                    // Everything the client sent was consumed (a plain `Connection: close`):
                    // close at once; nothing unread can turn it into a reset.
                    return false;
                }
                let _ = c.s.shutdown(Shutdown::Write);
                c.phase = Phase::Lingering(Instant::now());
                continue;
            }
            if !c.recv_in_flight {
                self.parse_requests(c);
            }
            if self.start_send(c, id).is_err() {
                return false;
            }
            if c.eof && c.queued() == 0 && !c.reading {
                return false;
            }
            let readable = !c.recv_in_flight
                && !c.eof
                && !c.closing_queued
                && self.h.may_read(c.unread(), c.queued());
            if readable {
                let room = self.h.unread_limit().saturating_sub(c.inbuf.len());
                let size = if c.last_recv_filled {
                    RECV_LARGE
                } else {
                    RECV_SMALL
                };
                return self.post_recv(c, id, size.min(room).max(1));
            }
            return true;
        }
    }

    fn post_recv(&mut self, c: &mut Conn, id: u64, size: usize) -> bool {
        let buf = std::mem::take(&mut c.inbuf);
        c.held = buf.len();
        match self.ring.recv(c.s.as_fd(), buf, size, id) {
            Ok(()) => {
                c.recv_in_flight = true;
                c.asked = size;
                true
            }
            Err((_, buf)) => {
                c.inbuf = buf;
                false
            }
        }
    }

    /// Parses and translates every complete request in `inbuf`, queueing their answers, up to
    /// [`MAX_QUEUED_RESPONSES`] (the rest waits until answers drain). A translation miss is
    /// looked up here (may block, as in sped).
    fn parse_requests(&mut self, c: &mut Conn) {
        let h = self.h;
        while c.phase == Phase::Serving && !c.closing_queued && c.queued() < MAX_QUEUED_RESPONSES {
            let req = match h.parse(&mut c.sess, &c.inbuf) {
                Parse::Incomplete => return,
                Parse::Invalid(status) => {
                    let resp = h.reject(&c.inbuf, status);
                    c.queue(resp);
                    return;
                }
                Parse::Request(r) => r,
            };
            c.inbuf.drain(..req.consumed.min(c.inbuf.len()));
            let resp = match h.translate(&req) {
                Err(status) => h.answer(&req, Err(status)),
                Ok(Translation::Hit(file)) => h.respond(&req, &file),
                Ok(Translation::Miss(miss)) => {
                    let found = h.lookup(&miss);
                    h.answer(&req, h.translated(miss, found))
                }
            };
            c.queue(resp);
        }
    }

    /// Starts the next op of the front answer unless one is in flight: a READ of its next
    /// chunk when that is not resident (or the body is a file), else a writev.
    fn start_send(&mut self, c: &mut Conn, id: u64) -> io::Result<()> {
        if c.writing || c.reading {
            return Ok(());
        }
        let mut s = match c.cur.take() {
            Some(s) => s,
            None => match c.out.pop_front() {
                Some(o) => Box::new(Sending {
                    o,
                    chunk: None,
                    limit: 0,
                }),
                None => return Ok(()),
            },
        };
        let boff = s.body_sent();
        if let Some((start, buf)) = &s.chunk {
            if boff >= start + buf.len() {
                s.chunk = None;
            }
        }
        if s.chunk.is_none() {
            let read = match &s.o.resp.body {
                Some(Body::Mapped(m)) if boff < m.map.bytes().len() && s.limit <= boff => {
                    match self.resident_upto(m, boff) {
                        Some(limit) => {
                            s.limit = limit;
                            None
                        }
                        None => {
                            let len = CHUNK.min(m.map.bytes().len() - boff);
                            match self.file_of(&m.rel) {
                                Ok(f) => Some((f, len)),
                                Err(_) => {
                                    // Cannot open it for a read: take the fault here.
                                    s.limit = boff + len;
                                    None
                                }
                            }
                        }
                    }
                }
                Some(Body::File(f, len)) if boff < *len => {
                    Some((f.clone(), CHUNK.min(*len - boff)))
                }
                _ => None,
            };
            if let Some((f, len)) = read {
                self.ring.read(&f, boff as u64, len, id)?;
                self.file_reads += 1;
                c.reading = true;
                c.cur = Some(s);
                return Ok(());
            }
        }
        match self.ring.writev(c.s.as_fd(), s, Sending::slices, id) {
            Ok(()) => {
                c.writing = true;
                Ok(())
            }
            Err((e, s)) => {
                c.cur = Some(s);
                Err(e)
            }
        }
    }

    /// The body offset up to which `m` is resident from `boff` (at most [`SEND_CHUNKS`]
    /// chunks), or None when the chunk at `boff` is not.
    fn resident_upto(&mut self, m: &Arc<MappedFile>, boff: usize) -> Option<usize> {
        let blen = m.map.bytes().len();
        let most = blen.min(boff + SEND_CHUNKS * CHUNK);
        let key = Arc::as_ptr(m) as usize;
        if let Some((w, at)) = self.resident.get(&key) {
            if w.strong_count() > 0 && at.elapsed() < RESIDENT_RECHECK {
                return Some(most);
            }
        }
        let mut limit = boff;
        while limit < most {
            let len = CHUNK.min(blen - limit);
            if !m.map.resident(limit, len).unwrap_or(true) {
                break;
            }
            limit += len;
        }
        if limit == boff {
            return None;
        }
        if boff == 0 && limit == blen {
            if self.resident.len() >= MAX_RESIDENT_MEMO {
                self.resident.retain(|_, (w, _)| w.strong_count() > 0);
                if self.resident.len() >= MAX_RESIDENT_MEMO {
                    self.resident.clear();
                }
            }
            self.resident
                .insert(key, (Arc::downgrade(m), Instant::now()));
        }
        Some(limit)
    }

    fn file_of(&mut self, rel: &Path) -> io::Result<Arc<File>> {
        if let Some(f) = self.files.get(rel) {
            return Ok(f.clone());
        }
        if self.files.len() >= MAX_OPEN_FILES {
            self.files.clear();
        }
        let f = Arc::new(self.h.docroot().open_beneath(rel)?);
        self.files.insert(rel.to_owned(), f.clone());
        Ok(f)
    }

    /// A completion for connection `c`; false → close it.
    fn complete(&mut self, c: &mut Conn, d: Done<Sending>) -> bool {
        match d {
            Done::Accepted { .. } => true,
            Done::Received {
                result, mut buf, ..
            } => {
                c.recv_in_flight = false;
                match result {
                    Ok(0) => c.eof = true,
                    Ok(n) => {
                        c.last_recv_filled = n >= c.asked;
                        if c.phase == Phase::Serving {
                            c.sess.received();
                        } else {
                            buf.clear();
                        }
                    }
                    Err(e) if retry(&e) => {}
                    Err(_) => return false,
                }
                c.inbuf = buf;
                true
            }
            Done::Written {
                result, mut keep, ..
            } => {
                c.writing = false;
                match result {
                    Ok(0) => return false,
                    Ok(n) => {
                        keep.o.advance(n);
                        c.sess.sent_some();
                        if keep.o.done() {
                            if !keep.o.resp.keep_alive {
                                c.finished = true;
                            } else if c.out.is_empty() {
                                c.sess.answered(c.unread() == 0);
                            }
                        } else {
                            c.cur = Some(keep);
                        }
                    }
                    Err(e) if retry(&e) => c.cur = Some(keep),
                    Err(_) => return false,
                }
                true
            }
            Done::Read { result, buf, .. } => {
                c.reading = false;
                let Some(s) = c.cur.as_mut() else {
                    return false;
                };
                match result {
                    Ok(n) if n > 0 => {
                        s.chunk = Some((s.body_sent(), buf));
                        true
                    }
                    Err(e) if retry(&e) => true,
                    // The file shrank under us (the docroot is static by contract) or failed.
                    _ => false,
                }
            }
        }
    }
}

fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
    ) || e.raw_os_error() == Some(libc::ENOBUFS)
}

/// Out of descriptors or memory: the accept is re-armed only after a back-off.
fn resource_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

pub fn run(
    _cfg: &ServeConfig,
    l: TcpListener,
    h: Handler,
    announce: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    available().map_err(io::Error::other)?;
    let ring = ConnRing::new(SQ_ENTRIES)?;
    let mut lp = Loop {
        ring,
        h: &h,
        resident: HashMap::new(),
        files: HashMap::new(),
        file_reads: 0,
    };
    // Multishot accept needs 5.19; an older kernel fails its first completion with EINVAL
    // and the loop falls back to one accept op per connection.
    let mut multishot = true;
    let mut accepted_any = false;
    lp.ring.accept(l.as_fd(), LISTENER, multishot)?;
    announce()?;
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut next_id = LISTENER + 1;
    let mut done = Vec::new();
    let mut rearm_at: Option<Instant> = None;
    let mut accept_backoffs = 0u64;
    let mut last_sweep = Instant::now();
    while !stop_requested() {
        let now = Instant::now();
        if rearm_at.is_some_and(|at| now >= at) {
            rearm_at = None;
            lp.ring.accept(l.as_fd(), LISTENER, multishot)?;
        }
        let wait = rearm_at.map_or(WAIT, |at| at.saturating_duration_since(now).min(WAIT));
        lp.ring.submit_and_wait(wait, &mut done)?;
        for d in done.drain(..) {
            let id = d.tag();
            if let Done::Accepted { result, more, .. } = d {
                let mut backoff = false;
                match result {
                    Ok(s) => {
                        accepted_any = true;
                        let _ = s.set_nodelay(true);
                        let id = next_id;
                        next_id += 1;
                        let mut c = Conn::new(s);
                        // The recv goes in at once: it waits in the kernel for the request.
                        if lp.drive(&mut c, id) {
                            conns.insert(id, c);
                        }
                    }
                    Err(e) => {
                        if multishot && !accepted_any && e.raw_os_error() == Some(libc::EINVAL) {
                            // No multishot accept here (before 5.19): one op per connection.
                            multishot = false;
                        } else {
                            // Out of descriptors or memory (the pending connection stays
                            // queued), or anything else: never re-armed in a hot loop.
                            backoff = true;
                            if resource_error(&e) {
                                accept_backoffs += 1;
                            }
                        }
                    }
                }
                if !more {
                    if backoff {
                        rearm_at = Some(Instant::now() + ACCEPT_BACKOFF);
                    } else {
                        lp.ring.accept(l.as_fd(), LISTENER, multishot)?;
                    }
                }
                continue;
            }
            // A completion of a connection closed meanwhile: its buffers are dropped here.
            let Some(c) = conns.get_mut(&id) else {
                continue;
            };
            if !(lp.complete(c, d) && lp.drive(c, id)) {
                conns.remove(&id);
            }
        }
        if last_sweep.elapsed() > SWEEP_EVERY {
            // Timeouts (header, idle keep-alive, send: the session's) and lingering closes.
            last_sweep = Instant::now();
            let now = Stamp::now();
            conns.retain(|_, c| match c.phase {
                Phase::Lingering(since) => since.elapsed() < LINGER,
                Phase::Serving => !h.expired(&c.sess, now),
            });
        }
    }
    drop(conns);
    eprintln!(
        "threadbench serve: {} file_reads={} accept_backoffs={}",
        h.counters.summary(),
        lp.file_reads,
        accept_backoffs
    );
    Ok(())
}
