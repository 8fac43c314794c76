//! Response validation: every response must be `200` with a `Content-Length` equal to the
//! requested file's size; on a sample of responses the body's FNV-1a checksum must match too.
//! The parser is incremental so the engine can feed it whatever each `read` returned.

/// FNV-1a, 64-bit: cheap enough to run over every sampled body at memory speed.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// The checksum of a whole body (or file).
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut f = Fnv::default();
    f.update(bytes);
    f.finish()
}

/// What the client expects back for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub path: String,
    pub size: u64,
    pub checksum: u64,
}

/// Why a response was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Status(u16),
    Length { got: Option<u64>, want: u64 },
    Checksum,
    Malformed,
}

/// Progress of one response being read.
#[derive(Debug)]
pub enum Progress {
    /// Needs more bytes.
    More,
    /// The whole response arrived and was valid; `extra` bytes past its end were received
    /// (a pipelining server; an error for us since we never pipeline).
    Done {
        body_bytes: u64,
        extra: usize,
    },
    Invalid(Invalid),
}

/// Incremental reader of one response.
#[derive(Debug)]
pub struct ResponseReader {
    head: Vec<u8>,
    body_left: Option<u64>,
    body_len: u64,
    fnv: Option<Fnv>,
    want_size: u64,
    want_sum: u64,
    /// The server said `Connection: close` (or answered HTTP/1.0 without keep-alive): the
    /// connection must not be reused.
    pub server_closes: bool,
}

const MAX_HEAD: usize = 16 * 1024;

impl ResponseReader {
    pub fn new(expected: &Expected, check_body: bool) -> ResponseReader {
        ResponseReader {
            head: Vec::new(),
            body_left: None,
            body_len: 0,
            fnv: check_body.then(Fnv::default),
            want_size: expected.size,
            want_sum: expected.checksum,
            server_closes: false,
        }
    }

    /// Feeds bytes just read.
    pub fn feed(&mut self, mut data: &[u8]) -> Progress {
        if self.body_left.is_none() {
            let start = self.head.len();
            self.head.extend_from_slice(data);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            let head_len = match resp.parse(&self.head) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) if self.head.len() < MAX_HEAD => {
                    return Progress::More
                }
                _ => return Progress::Invalid(Invalid::Malformed),
            };
            let status = resp.code.unwrap_or(0);
            if status != 200 {
                return Progress::Invalid(Invalid::Status(status));
            }
            let len = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if len != Some(self.want_size) {
                return Progress::Invalid(Invalid::Length {
                    got: len,
                    want: self.want_size,
                });
            }
            let conn_hdr = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("connection"))
                .map(|h| h.value.to_ascii_lowercase());
            self.server_closes = match resp.version {
                Some(0) => conn_hdr.as_deref() != Some(b"keep-alive".as_slice()),
                _ => conn_hdr.as_deref() == Some(b"close".as_slice()),
            };
            self.body_left = Some(self.want_size);
            // The part of `data` after the head is body.
            let consumed_from_data = head_len - start;
            data = &data[consumed_from_data..];
            self.head = Vec::new();
        }
        let left = self.body_left.as_mut().expect("head parsed");
        let take = (*left).min(data.len() as u64) as usize;
        if let Some(f) = self.fnv.as_mut() {
            f.update(&data[..take]);
        }
        *left -= take as u64;
        self.body_len += take as u64;
        if *left > 0 {
            return Progress::More;
        }
        if let Some(f) = self.fnv {
            if f.finish() != self.want_sum {
                return Progress::Invalid(Invalid::Checksum);
            }
        }
        Progress::Done {
            body_bytes: self.body_len,
            extra: data.len() - take,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(body: &[u8]) -> Expected {
        Expected {
            path: "/f".into(),
            size: body.len() as u64,
            checksum: checksum(body),
        }
    }

    #[test]
    fn accepts_split_response_and_rejects_bad_ones() {
        let body = b"hello world";
        let e = exp(body);
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
        for split in 1..resp.len() {
            let mut r = ResponseReader::new(&e, true);
            assert!(
                matches!(r.feed(&resp[..split]), Progress::More),
                "split {split}"
            );
            assert!(matches!(
                r.feed(&resp[split..]),
                Progress::Done {
                    body_bytes: 11,
                    extra: 0
                }
            ));
        }
        let mut r = ResponseReader::new(&e, false);
        let bad = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        assert!(matches!(
            r.feed(bad),
            Progress::Invalid(Invalid::Length {
                got: Some(10),
                want: 11
            })
        ));
        let mut r = ResponseReader::new(&e, true);
        let wrong = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello_world";
        assert!(matches!(
            r.feed(wrong),
            Progress::Invalid(Invalid::Checksum)
        ));
        let mut r = ResponseReader::new(&e, true);
        assert!(matches!(
            r.feed(b"HTTP/1.1 404 Not Found\r\n\r\n"),
            Progress::Invalid(Invalid::Status(404))
        ));
    }
}
