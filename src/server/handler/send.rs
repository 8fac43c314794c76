//! A response and its progress on a (possibly non-blocking) socket: the head and the body go
//! out with one `writev` (mapped body) or `writev` + `sendfile` (file body), resumed after a
//! short write, and stoppable at a chunk boundary (so an event loop that checked a chunk's
//! residency never touches the pages after it).

use super::cache::MappedFile;
use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;

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

impl Response {
    /// An error answer: it closes the connection, and the input after the request that caused
    /// it is discarded unparsed.
    pub fn is_error(&self) -> bool {
        self.status >= 400
    }
}

/// Progress of one response on a socket.
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
    pub fn send<S: Write + AsRawFd>(&mut self, sock: &mut S) -> io::Result<bool> {
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

    /// Bytes sent so far (head and body).
    pub fn sent(&self) -> usize {
        self.off
    }

    /// What is still to send for a writer of its own (the `uring` model's writev): the rest
    /// of the head and of a mapped body up to `limit` bytes of body (a file body or none:
    /// an empty second slice).
    pub fn pending_upto(&self, limit: usize) -> [&[u8]; 2] {
        let hl = self.resp.head.len();
        let head = self.resp.head.get(self.off..).unwrap_or(&[]);
        let body: &[u8] = match &self.resp.body {
            Some(Body::Mapped(m)) => {
                let b = m.map.bytes();
                let from = self.off.saturating_sub(hl).min(b.len());
                &b[from..limit.clamp(from, b.len())]
            }
            _ => &[],
        };
        [head, body]
    }

    /// Records `n` more bytes as sent by a writer of its own.
    pub fn advance(&mut self, n: usize) {
        self.off = (self.off + n).min(self.total());
    }

    /// Whether everything was sent.
    pub fn done(&self) -> bool {
        self.off >= self.total()
    }

    /// Like [`send`](Self::send) but stops once `limit` bytes of the body are out.
    pub fn send_upto<S: Write + AsRawFd>(
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
