//! HTTP/1.x on the wire, without state: the request head parsed (httparse) into what the steps
//! need, the target turned into a docroot-relative path, and response heads formatted. The
//! steps in [`super`] call these; nothing here touches the file system or a cache.
//!
//! Framing and header rules (RFC 9112: no request bodies, one `Host`, `Connection` as a token
//! list) live in [`parse_head`], the one parser every model's requests go through.

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The methods served; the `Allow` value of a 405.
pub const ALLOW: &str = "GET, HEAD";

/// A complete request head, checked against the configured limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Bytes of the input the head took.
    pub consumed: usize,
    /// HEAD: answer with the head only.
    pub head_only: bool,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// The request target as sent (origin or absolute form).
    pub target: String,
    /// What the client asked for: HTTP/1.1 keeps alive unless `Connection` says `close`,
    /// HTTP/1.0 only when it says `keep-alive`.
    pub wants_keep_alive: bool,
    /// `If-Modified-Since` as seconds since the epoch (an unparsable date is ignored, RFC 9110
    /// 13.1.3).
    pub if_modified_since: Option<u64>,
}

/// Whether a comma-separated header value (`Connection`) lists `token` (case-insensitive,
/// optional whitespace around each element, RFC 9110 5.6.1).
fn lists_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// RFC 9112 framing of a GET/HEAD head: `Err(400)` for what this server cannot read safely
/// (it reads no request bodies: a body left unread would be parsed as the next request, a
/// desync behind any proxy that forwards it). Rejected: any `Transfer-Encoding` (with or
/// without `Content-Length`), a `Content-Length` that is not 1*DIGIT, appears more than once
/// or is not 0, no `Host` on HTTP/1.1, more than one `Host`.
fn check_framing(headers: &[httparse::Header<'_>], version: u8) -> Result<(), u16> {
    let mut hosts = 0;
    let mut lengths = 0;
    for h in headers {
        if h.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if h.name.eq_ignore_ascii_case("content-length") {
            lengths += 1;
            let v = h.value.trim_ascii();
            if v.is_empty() || !v.iter().all(u8::is_ascii_digit) || v.iter().any(|&b| b != b'0') {
                return Err(400);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(400);
        }
    }
    if lengths > 1 || hosts > 1 || (version == 1 && hosts == 0) {
        return Err(400);
    }
    Ok(())
}

/// Parses the head at the start of `buf`: `Ok(None)` while it is incomplete (and within the
/// limits), `Err(status)` for a request that cannot be served.
pub fn parse_head(
    buf: &[u8],
    max_target_bytes: usize,
    max_header_bytes: usize,
) -> Result<Option<RequestHead>, u16> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let consumed = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            let line_end = buf.iter().position(|&b| b == b'\n');
            if line_end.unwrap_or(buf.len()) > max_target_bytes + 32 {
                return Err(414);
            }
            if buf.len() > max_header_bytes {
                return Err(431);
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(431),
        Err(httparse::Error::Version) => return Err(505),
        Err(_) => return Err(400),
    };
    if consumed > max_header_bytes {
        return Err(431);
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(400);
    };
    if target.len() > max_target_bytes {
        return Err(414);
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(405),
    };
    check_framing(req.headers, version)?;
    // `Connection` is a token list: `close` and `keep-alive` as elements, not substrings.
    let says = |token: &[u8]| {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .any(|h| lists_token(h.value, token))
    };
    let wants_keep_alive = match version {
        1 => !says(b"close"),
        _ => says(b"keep-alive"),
    };
    let if_modified_since = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("if-modified-since"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(parse_http_date);
    Ok(Some(RequestHead {
        consumed,
        head_only,
        version,
        target: target.to_owned(),
        wants_keep_alive,
        if_modified_since,
    }))
}

/// The path part of a target: absolute form (`http://host/path`) reduced to its path, query
/// and fragment cut off; 400 unless it starts with `/`. This is the translation cache's key.
pub fn origin_path(target: &str) -> Result<&str, u16> {
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
    Ok(t.split(['?', '#']).next().unwrap_or("/"))
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

/// An origin path → the relative, `..`-free path opened beneath the docroot (decoded once; a
/// directory means its `index.html`). 400 for a bad escape, NUL or non-UTF-8, 403 for `..`.
/// Pure: no file-system access, so an event loop may run it.
pub fn relative_path(path: &str) -> Result<PathBuf, u16> {
    // Decoding allocates only when there is an escape to decode (the common target has none).
    let decoded: Cow<str> = if path.contains('%') {
        let bytes = percent_decode(path.as_bytes()).ok_or(400u16)?;
        Cow::Owned(String::from_utf8(bytes).map_err(|_| 400u16)?)
    } else {
        Cow::Borrowed(path)
    };
    if decoded.contains('\0') {
        return Err(400);
    }
    // Built as one string: each kept segment is neither empty, `.` nor `..` and holds no `/`,
    // so it is a normal component and the result cannot leave the docroot.
    let mut rel = String::with_capacity(decoded.len() + "index.html".len());
    let mut push = |seg: &str| {
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str(seg);
    };
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(403),
            s => push(s),
        }
    }
    if decoded.ends_with('/') {
        push("index.html");
    }
    debug_assert!(Path::new(&rel)
        .components()
        .all(|c| matches!(c, Component::Normal(_))));
    Ok(PathBuf::from(rel))
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Internal Server Error",
    }
}

pub fn content_type(path: &Path) -> &'static str {
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

/// The cacheable part of a 200 head (everything but `Date` and `Connection`).
pub fn head_200(len: u64, content_type: &str, mtime_s: u64) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nServer: threadbench\r\nContent-Length: {}\r\nContent-Type: {}\r\nLast-Modified: {}\r\n",
        len,
        content_type,
        http_date(mtime_s)
    )
}

/// The head of a 304 Not Modified (no body, no Content-Length: RFC 9110 15.4.5); `Date` and
/// `Connection` follow as for a 200.
pub fn head_304(mtime_s: u64) -> String {
    format!(
        "HTTP/1.1 304 Not Modified\r\nServer: threadbench\r\nLast-Modified: {}\r\n",
        http_date(mtime_s)
    )
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, the form this server sends) as seconds
/// since the epoch; `None` for anything else.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let mut it = s.trim().split(' ');
    let (_wd, d, mon, y, hms, gmt) = (
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    );
    if gmt != "GMT" || it.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|&x| x == mon)? as i64 + 1;
    let (d, y): (i64, i64) = (d.parse().ok()?, y.parse().ok()?);
    let mut t = hms.split(':').map(|v| v.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days-from-civil (Howard Hinnant), the inverse of `http_date`'s.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// A complete error response (head and its short text body); it always closes. For a HEAD
/// request (`head_only`) the head is the same (its `Content-Length` included, RFC 9110
/// 9.3.2) and nothing follows it.
pub fn error_response(status: u16, date: &str, head_only: bool) -> Vec<u8> {
    let body = format!("{} {}\n", status, reason(status));
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nServer: threadbench\r\nDate: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n",
        status,
        reason(status),
        date,
        body.len()
    );
    if status == 405 {
        head.push_str(&format!("Allow: {ALLOW}\r\n"));
    }
    if status == 503 {
        // Out of descriptors or memory: over in a moment.
        head.push_str("Retry-After: 1\r\n");
    }
    head.push_str("\r\n");
    let mut head = head.into_bytes();
    if !head_only {
        head.extend_from_slice(body.as_bytes());
    }
    head
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

/// The `Date` value, formatted at most once a second.
#[derive(Debug, Default)]
pub struct DateClock(parking_lot::Mutex<(u64, String)>);

impl DateClock {
    pub fn now(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut d = self.0.lock();
        if d.0 != now || d.1.is_empty() {
            *d = (now, http_date(now));
        }
        d.1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_round_trip() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        for t in [0u64, 784111777, 951_782_400, 1_796_183_880] {
            assert_eq!(parse_http_date(&http_date(t)), Some(t), "{}", http_date(t));
        }
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn heads_targets_and_dates() {
        let h = parse_head(
            b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\nrest",
            64,
            1024,
        )
        .expect("valid")
        .expect("complete");
        assert_eq!((h.consumed, h.head_only, h.version), (47, false, 1));
        assert!(!h.wants_keep_alive);
        let h = parse_head(
            b"HEAD /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            64,
            1024,
        )
        .unwrap()
        .unwrap();
        assert!(h.head_only && h.wants_keep_alive);
        assert_eq!(parse_head(b"GET /a HTTP/1.1\r\n", 64, 1024), Ok(None));
        assert_eq!(parse_head(b"PUT /a HTTP/1.1\r\n\r\n", 64, 1024), Err(405));
        assert_eq!(origin_path("http://h/x/y?q#f"), Ok("/x/y"));
        assert_eq!(origin_path("x"), Err(400));
        assert_eq!(relative_path("/d/"), Ok(PathBuf::from("d/index.html")));
        assert_eq!(relative_path("/a/%2e%2e/b"), Err(403));
        assert_eq!(relative_path("/a%00"), Err(400));
        assert_eq!(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn framing_per_rfc_9112() {
        let p = |head: &str| {
            parse_head(head.as_bytes(), 64, 1024).map(|h| h.map(|h| h.wants_keep_alive))
        };
        let bad = [
            "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: +0\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 0\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n",
            "GET /a HTTP/1.1\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "GET /a HTTP/1.0\r\nHost: x\r\nHost: y\r\n\r\n",
        ];
        for h in bad {
            assert_eq!(p(h), Err(400), "{h:?}");
        }
        assert_eq!(
            p("GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 00\r\n\r\n"),
            Ok(Some(true))
        );
        assert_eq!(p("GET /a HTTP/1.0\r\n\r\n"), Ok(Some(false)));
        assert_eq!(
            p("GET /a HTTP/1.1\r\nHost: x\r\nConnection: notclose-ish\r\n\r\n"),
            Ok(Some(true))
        );
        assert_eq!(
            p("GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive , CLOSE\r\n\r\n"),
            Ok(Some(false))
        );
        assert_eq!(
            p("GET /a HTTP/1.0\r\nConnection: te,Keep-Alive\r\n\r\n"),
            Ok(Some(true))
        );
        assert_eq!(
            p("GET /a HTTP/1.0\r\nConnection: keep-alive-ish\r\n\r\n"),
            Ok(Some(false))
        );
    }
}
