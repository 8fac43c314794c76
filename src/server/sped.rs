//! `sped`: one thread, epoll (edge-triggered), non-blocking sockets, a state machine per
//! connection (`State`). The loop runs every handler step itself, so a translation miss (a
//! path lookup) or a non-resident page blocks the whole loop — faithful to SPED. With
//! [`Helpers`] (amped/amted) the two blocking steps go to a helper instead: a translation
//! miss is looked up by a helper, and each chunk's residency is checked with mincore() first,
//! a non-resident chunk paged in by a helper.
//!
//! ```text
//!  epoll_wait ─▶ listener: accept all
//!            ├▶ conn: read (≤ 64 KiB, while unread/queued bounds allow) → parse → translate
//!            │        ─hit─▶ header+body → send queue in order (≤ 16 answers)
//!            │        └─miss─▶ lookup here (sped) | helper (amped/amted)
//!            └▶ helper socket: job done → resume that conn (answer / send on)
//! ```
//!
//! Bounds per connection (issue 15): reading stops while [`Handler::may_read`] says no (the
//! client's answers are not being consumed) and resumes when they drain; a wake-up reads at
//! most `READ_BUDGET` from one connection and the loop comes back to it without waiting; a
//! sweep every `SWEEP_EVERY` closes connections past their session's timeout.

use super::accept::{accept, ConnMode};
use super::handler::{
    Handler, Miss, Outgoing, Parse, Request, Response, Session, Stamp, Translation,
    MAX_QUEUED_RESPONSES,
};
use super::helpers::{Helpers, Job, Reply};
use super::ServeConfig;
use crate::sys::signals::stop_requested;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Residency is checked and sent in chunks of this size.
const CHUNK: usize = 64 * 1024;
const LISTENER: u64 = 0;
const HELPER_BASE: u64 = 1;
const CONN_BASE: u64 = 1 << 32;
/// How long a closing connection may keep sending us bytes we discard.
const LINGER: Duration = Duration::from_secs(2);
/// How often the loop closes connections past their timeouts (so a timeout is applied up to
/// this late).
const SWEEP_EVERY: Duration = Duration::from_millis(200);
/// Bytes one connection may be read per wake-up: past it the loop serves the others and comes
/// back (without waiting on epoll), so one fast sender cannot hold the loop.
const READ_BUDGET: usize = 64 * 1024;

const IN_FLAGS: EpollFlags = EpollFlags::EPOLLIN
    .union(EpollFlags::EPOLLRDHUP)
    .union(EpollFlags::EPOLLET);

/// Where a connection is in its life. At most one helper job per connection is outstanding.
#[derive(Debug)]
enum State {
    /// Reading requests and answering them in order (pipelined answers queue in `out`).
    Serving,
    /// A helper looks up `miss` for `req` (a translation-cache miss). Later requests wait
    /// unparsed in `inbuf`; answers queued before it still go out while their pages are
    /// resident.
    Translating { req: Request, miss: Miss },
    /// A helper faults in the next chunk of the answer at the head of `out`; nothing else is
    /// sent or parsed until it is back.
    Paging,
    /// Lingering close since the instant: write side shut, late input read and discarded
    /// (so it cannot turn the close into a reset of the reply) until EOF or [`LINGER`].
    Lingering(Stamp),
}

/// What is known of the peer's side of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    Open,
    /// EPOLLRDHUP/EPOLLHUP came: the FIN is pending, so read on to EOF even after a short read.
    FinPending,
    /// A read returned 0.
    Eof,
}

struct Conn {
    s: TcpStream,
    sess: Session,
    state: State,
    input: Input,
    inbuf: Vec<u8>,
    out: VecDeque<Outgoing>,
    /// EPOLLOUT is in the registration: added when a send first hits EAGAIN, which saves the
    /// extra wake-up EPOLLOUT would cause on every new connection.
    watching_out: bool,
    /// Reading stopped (read budget, unread or queued bound) with input perhaps left in the
    /// socket: with edge-triggered epoll no new event announces it, so the loop comes back.
    pending_in: bool,
    /// An error answer is queued: it is the last, and the close after it lingers.
    ends_in_error: bool,
}

impl Conn {
    fn new(s: TcpStream) -> Conn {
        Conn {
            s,
            sess: Session::new(),
            state: State::Serving,
            input: Input::Open,
            inbuf: Vec::new(),
            out: VecDeque::new(),
            watching_out: false,
            pending_in: false,
            ends_in_error: false,
        }
    }

    /// The last request of this connection (an error or `Connection: close`) is queued or
    /// being translated: nothing after it is parsed.
    fn last_request_seen(&self) -> bool {
        match &self.state {
            State::Translating { req, .. } => !req.keep_alive,
            _ => self.out.back().is_some_and(|o| !o.resp.keep_alive),
        }
    }

    fn queue(&mut self, resp: Response) {
        self.sess.queued();
        if resp.is_error() {
            // The connection ends with this answer; what the client sent after is dropped.
            // The client may still be sending (a 431 for a huge head): linger, so that the
            // input still arriving does not turn the close into a reset of the answer.
            self.inbuf.clear();
            self.ends_in_error = true;
        }
        self.out.push_back(Outgoing::new(resp));
    }

    /// Reads what the socket holds (discarding it while lingering), at most `budget` bytes and
    /// until `inbuf` holds `limit`. `Ok(true)`: it stopped with input perhaps left in the
    /// socket; `Err`: close.
    fn read_input(&mut self, tmp: &mut [u8], budget: &mut usize, limit: usize) -> Result<bool, ()> {
        let discard = matches!(self.state, State::Lingering(_));
        loop {
            if *budget == 0 || (!discard && self.inbuf.len() >= limit) {
                return Ok(true);
            }
            let want = (*budget).min(tmp.len());
            match self.s.read(&mut tmp[..want]) {
                Ok(0) => {
                    self.input = Input::Eof;
                    return Ok(false);
                }
                Ok(n) => {
                    *budget -= n;
                    if !discard {
                        self.sess.received();
                        self.inbuf.extend_from_slice(&tmp[..n])
                    }
                    if n < want && self.input != Input::FinPending {
                        // A short read drained the socket; bytes arriving later raise a new
                        // edge. Saves the read that would only return EAGAIN (as nginx does).
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
    }
}

/// The event loop's own state: what every connection's steps need.
struct Loop<'a> {
    ep: Epoll,
    h: &'a Handler,
    helpers: Option<Helpers>,
    /// Connections to drive again without an event (their read stopped at the budget).
    again: Vec<u64>,
    /// Where reads land before they join a connection's `inbuf`: allocated (and zeroed) once,
    /// not per read.
    scratch: Box<[u8]>,
}

impl Loop<'_> {
    /// Advances one connection as far as it goes without blocking, reading at most
    /// [`READ_BUDGET`] bytes and no further than the handler's unread/queued bounds allow
    /// ([`Handler::may_read`]); false → close it.
    fn drive(&mut self, c: &mut Conn, id: u64) -> bool {
        let mut budget = READ_BUDGET;
        loop {
            let lingering = matches!(c.state, State::Lingering(_));
            if lingering || !c.last_request_seen() {
                if lingering || self.h.may_read(c.inbuf.len(), c.out.len()) {
                    let limit = self.h.unread_limit();
                    match c.read_input(&mut self.scratch, &mut budget, limit) {
                        Err(()) => return false,
                        Ok(more) => c.pending_in = more,
                    }
                } else {
                    // Its answers are not being consumed: leave its input in the kernel.
                    c.pending_in = true;
                }
            }
            if let State::Lingering(since) = c.state {
                if c.pending_in && budget == 0 {
                    self.again.push(id);
                }
                return c.input != Input::Eof && Stamp::now().since(since) < LINGER;
            }
            let queue_was_full = self.parse_requests(c, id);
            match self.send_answers(c, id) {
                Err(_) => return false,
                Ok(true) => {
                    if c.inbuf.is_empty() && !c.pending_in && !c.ends_in_error {
                        // Everything the client sent was consumed (a plain `Connection:
                        // close`): close at once; nothing unread can turn it into a reset.
                        return false;
                    }
                    let _ = c.s.shutdown(Shutdown::Write);
                    c.state = State::Lingering(Stamp::now());
                }
                Ok(false) => {
                    // Parsing stopped at the queue bound and answers have left since: parse on.
                    if queue_was_full && c.out.len() < MAX_QUEUED_RESPONSES {
                        continue;
                    }
                    if c.input == Input::Eof
                        && c.out.is_empty()
                        && matches!(c.state, State::Serving)
                    {
                        return false;
                    }
                    let readable =
                        !c.last_request_seen() && self.h.may_read(c.inbuf.len(), c.out.len());
                    if !(c.pending_in && readable) {
                        return true;
                    }
                    if budget == 0 {
                        self.again.push(id);
                        return true;
                    }
                    // Answers drained and input is waiting: read on within the budget.
                }
            }
        }
    }

    /// Parse and translate every complete request in `inbuf`, queueing their answers; a
    /// translation miss goes to a helper when there are helpers (and parsing pauses). True
    /// when it stopped at [`MAX_QUEUED_RESPONSES`] (the rest waits for the queue to drain).
    fn parse_requests(&mut self, c: &mut Conn, id: u64) -> bool {
        let h = self.h;
        while matches!(c.state, State::Serving) && !c.last_request_seen() {
            if c.out.len() >= MAX_QUEUED_RESPONSES {
                return true;
            }
            let req = match h.parse(&mut c.sess, &c.inbuf) {
                Parse::Incomplete => return false,
                Parse::Invalid(status) => {
                    let resp = h.reject(&c.inbuf, status);
                    c.queue(resp);
                    return false;
                }
                Parse::Request(r) => r,
            };
            c.inbuf.drain(..req.consumed.min(c.inbuf.len()));
            match h.translate(&req) {
                Err(status) => c.queue(h.answer(&req, Err(status))),
                Ok(Translation::Hit(file)) => c.queue(h.respond(&req, &file)),
                Ok(Translation::Miss(miss)) => {
                    if let Some(hp) = self.helpers.as_mut() {
                        if hp.submit(id, Job::Translate { rel: miss.rel() }).is_ok() {
                            h.counters.helper_jobs.fetch_add(1, Ordering::Relaxed);
                            h.counters.translate_jobs.fetch_add(1, Ordering::Relaxed);
                            c.state = State::Translating { req, miss };
                            return false;
                        }
                    }
                    // SPED, or no helper could take the job: look it up here (may block).
                    let found = h.lookup(&miss);
                    c.queue(h.answer(&req, h.translated(miss, found)));
                }
            }
        }
        false
    }

    /// Sends queued answers in order; `Ok(true)` once the answer that closes the connection
    /// is out. A non-resident chunk goes to a helper first (amped/amted).
    fn send_answers(&mut self, c: &mut Conn, id: u64) -> io::Result<bool> {
        while !matches!(c.state, State::Paging) {
            let Some(o) = c.out.front_mut() else {
                break;
            };
            let mut limit = usize::MAX;
            if let Some(hp) = self.helpers.as_mut() {
                if let Some((mf, off, len)) = o.next_chunk(CHUNK) {
                    if !mf.map.resident(off, len).unwrap_or(true) {
                        if matches!(c.state, State::Translating { .. }) {
                            // One job at a time: this chunk is paged once the lookup is back.
                            break;
                        }
                        if hp
                            .submit(
                                id,
                                Job::Page {
                                    rel: &mf.rel,
                                    off,
                                    len,
                                },
                            )
                            .is_ok()
                        {
                            self.h.counters.helper_jobs.fetch_add(1, Ordering::Relaxed);
                            c.state = State::Paging;
                            break;
                        }
                    }
                    limit = off + len;
                }
            }
            let before = o.sent();
            let r = o.send_upto(&mut c.s, limit);
            if o.sent() > before {
                c.sess.sent_some();
            }
            match r {
                Ok(true) => {
                    let sent = c.out.pop_front().expect("the front answer");
                    if !sent.resp.keep_alive {
                        return Ok(true);
                    }
                    if c.out.is_empty() {
                        c.sess.answered(c.inbuf.is_empty());
                    }
                }
                Ok(false) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !c.watching_out {
                        c.watching_out = true;
                        let mut ev = EpollEvent::new(IN_FLAGS | EpollFlags::EPOLLOUT, id);
                        self.ep.modify(&c.s, &mut ev)?;
                    }
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// A helper finished this connection's job: answer the translated request, or send on.
    fn helper_done(&mut self, c: &mut Conn, reply: Reply) {
        let h = self.h;
        match std::mem::replace(&mut c.state, State::Serving) {
            State::Translating { req, miss } => {
                let found = match reply {
                    Reply::Translated(found) => found,
                    // Not the lookup's answer (cannot happen): look it up here.
                    Reply::Paged => h.lookup(&miss),
                };
                c.queue(h.answer(&req, h.translated(miss, found)));
            }
            State::Paging => {}
            other => c.state = other,
        }
    }
}

pub fn run(
    _cfg: &ServeConfig,
    l: TcpListener,
    h: Handler,
    helpers: Option<Helpers>,
    announce: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    event_loop(&l, &h, helpers, announce)?;
    eprintln!("threadbench serve: {}", h.counters.summary());
    Ok(())
}

/// The event loop on `l` until a stop request (then its connections close and its helpers
/// stop): `sped`, `amped` and `amted` run one in their process, `sped_n` one per process.
pub fn event_loop(
    l: &TcpListener,
    h: &Handler,
    helpers: Option<Helpers>,
    announce: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    ep.add(l, EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))?;
    if let Some(hp) = &helpers {
        for (i, s) in hp.socks().iter().enumerate() {
            ep.add(
                s,
                EpollEvent::new(EpollFlags::EPOLLIN, HELPER_BASE + i as u64),
            )?;
        }
    }
    announce()?;
    let mut lp = Loop {
        ep,
        h,
        helpers,
        again: Vec::new(),
        scratch: vec![0u8; 16384].into_boxed_slice(),
    };
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut next_id = CONN_BASE;
    let mut events = vec![EpollEvent::empty(); 256];
    let mut done = Vec::new();
    let mut last_sweep = Stamp::now();
    while !stop_requested() {
        // Connections left with input by their read budget: look at epoll without sleeping.
        let wait_ms = if lp.again.is_empty() { 100u16 } else { 0u16 };
        let n = match lp.ep.wait(&mut events, wait_ms) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        for ev in &events[..n] {
            let tok = ev.data();
            if tok == LISTENER {
                while let Some(s) = accept(l, ConnMode::NonBlocking) {
                    let _ = s.set_nodelay(true);
                    let id = next_id;
                    next_id += 1;
                    if lp.ep.add(&s, EpollEvent::new(IN_FLAGS, id)).is_ok() {
                        // Not read yet: the request rarely arrives with the handshake; the
                        // edge-triggered registration reports it when it does.
                        conns.insert(id, Conn::new(s));
                    }
                }
            } else if tok < CONN_BASE {
                if let Some(hp) = lp.helpers.as_mut() {
                    hp.completions((tok - HELPER_BASE) as usize, &mut done);
                }
                for d in done.drain(..) {
                    if let Some(c) = conns.get_mut(&d.conn) {
                        lp.helper_done(c, d.reply);
                        if !lp.drive(c, d.conn) {
                            conns.remove(&d.conn);
                        }
                    }
                }
            } else if let Some(c) = conns.get_mut(&tok) {
                let hup = EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLHUP;
                if ev.events().intersects(hup) && c.input == Input::Open {
                    c.input = Input::FinPending;
                }
                if !lp.drive(c, tok) {
                    conns.remove(&tok);
                }
            }
        }
        for id in std::mem::take(&mut lp.again) {
            if let Some(c) = conns.get_mut(&id) {
                if !lp.drive(c, id) {
                    conns.remove(&id);
                }
            }
        }
        let now = Stamp::now();
        if now.since(last_sweep) > SWEEP_EVERY {
            // Timeouts (header, idle keep-alive, send: the session's) and lingering closes.
            last_sweep = now;
            conns.retain(|_, c| match c.state {
                State::Lingering(since) => now.since(since) < LINGER,
                _ => !h.expired(&c.sess, now),
            });
        }
    }
    drop(conns);
    if let Some(hp) = lp.helpers.take() {
        hp.stop();
    }
    Ok(())
}
