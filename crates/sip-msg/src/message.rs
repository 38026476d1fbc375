//! The message: start line, header lines and body.
//!
//! A parsed [`Message`] keeps the start line and headers as one UTF-8 string
//! (`head`, copied once from the wire) and the body as [`Bytes`] sliced from
//! the received buffer. Each header line is a pair of spans into `head`; the
//! header list is one `Vec` allocated once per message, never per header.
//! Typed views ([`crate::Via`], [`crate::NameAddr`], ...) are parsed on demand
//! from those spans and borrow from the message.
//!
//! Edits append their text to `head` and add or drop spans, so a message
//! built or edited here is printed exactly like a parsed one.

use crate::error::ParseError;
use crate::headers::{CSeq, NameAddr, Via};
use crate::method::Method;
use crate::name::HeaderName;
use crate::scan::{split_top, trim};
use crate::uri::Uri;
use bytes::Bytes;
use std::fmt;

/// Bounds applied while parsing, so hostile input costs bounded memory.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest message accepted, head and body together.
    pub max_size: usize,
    /// Most header lines accepted.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_size: 65_535, max_headers: 256 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn of(start: usize, end: usize) -> Span {
        Span { start: start as u32, end: end as u32 }
    }
}

#[derive(Clone, Debug)]
struct HeaderEntry {
    name: HeaderName,
    name_span: Span,
    value: Span,
}

#[derive(Clone, Debug)]
enum Start {
    Request { method: Method, uri: Span, version: Span },
    Response { version: Span, code: u16, reason: Span },
}

/// A SIP request or response.
#[derive(Clone)]
pub struct Message {
    head: String,
    start: Start,
    headers: Vec<HeaderEntry>,
    body: Bytes,
}

/// One header line as seen through [`Message::headers`].
#[derive(Clone, Copy, Debug)]
pub struct HeaderRef<'a> {
    /// The recognised name.
    pub name: HeaderName,
    /// The name as it should be printed (canonical for known headers).
    pub name_str: &'a str,
    /// The raw value: leading and trailing whitespace removed, folding kept.
    pub value: &'a str,
}

#[inline]
fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn parse_request_line(head: &str, end: usize) -> Result<Start, ParseError> {
    let line = &head[..end];
    let sp1 = line.find(' ').ok_or(ParseError::BadStartLine)?;
    let method = &line[..sp1];
    if !crate::scan::is_token(method) {
        return Err(ParseError::BadMethod);
    }
    let rest = &line[sp1 + 1..];
    let sp2 = rest.rfind(' ').ok_or(ParseError::BadStartLine)?;
    let uri = &rest[..sp2];
    let version = &rest[sp2 + 1..];
    check_version(version)?;
    if uri.is_empty() || uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(ParseError::BadRequestUri);
    }
    let parsed = Uri::parse(uri).map_err(|_| ParseError::BadRequestUri)?;
    if parsed.headers().is_some() && matches!(parsed.scheme(), crate::Scheme::Sip | crate::Scheme::Sips) {
        // RFC 3261 §19.1.1 (table): headers are not allowed in a Request-URI.
        return Err(ParseError::BadRequestUri);
    }
    let uri_start = sp1 + 1;
    let version_start = uri_start + sp2 + 1;
    Ok(Start::Request {
        method: Method::from_token(method),
        uri: Span::of(uri_start, uri_start + uri.len()),
        version: Span::of(version_start, end),
    })
}

fn check_version(v: &str) -> Result<(), ParseError> {
    let b = v.as_bytes();
    if b.len() < 7 || !b[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(ParseError::BadVersion);
    }
    let num = &v[4..];
    let (maj, min) = num.split_once('.').ok_or(ParseError::BadVersion)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(maj) || !digits(min) {
        return Err(ParseError::BadVersion);
    }
    Ok(())
}

fn parse_status_line(head: &str, end: usize) -> Result<Start, ParseError> {
    let line = &head[..end];
    let sp1 = line.find(' ').ok_or(ParseError::BadStartLine)?;
    check_version(&line[..sp1])?;
    let rest = &line[sp1 + 1..];
    let (code, reason_off) = match rest.find(' ') {
        Some(i) => (&rest[..i], sp1 + 1 + i + 1),
        None => (rest, end),
    };
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadStatusCode);
    }
    let code: u16 = code.parse().map_err(|_| ParseError::BadStatusCode)?;
    if !(100..=699).contains(&code) {
        return Err(ParseError::BadStatusCode);
    }
    Ok(Start::Response {
        version: Span::of(0, sp1),
        code,
        reason: Span::of(reason_off.min(end), end),
    })
}

fn parse_content_length(v: &str) -> Result<usize, ParseError> {
    let v = trim(v);
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadContentLength);
    }
    v.parse().map_err(|_| ParseError::BadContentLength)
}

impl Message {
    /// Parse one message from a datagram (or a frame cut by
    /// [`crate::frame`]) with the default [`Limits`].
    ///
    /// Leading CRLFs are skipped (RFC 3261 §7.5). When Content-Length is
    /// present the body is cut to it and a shorter body is an error; bytes
    /// after it are ignored (§18.3). Without Content-Length the body is the
    /// rest of the buffer.
    pub fn parse(buf: Bytes) -> Result<Message, ParseError> {
        Self::parse_with(buf, &Limits::default())
    }

    /// [`Message::parse`] from a borrowed slice (copies it once).
    pub fn parse_slice(buf: &[u8]) -> Result<Message, ParseError> {
        Self::parse(Bytes::copy_from_slice(buf))
    }

    /// Parse with explicit bounds.
    pub fn parse_with(buf: Bytes, limits: &Limits) -> Result<Message, ParseError> {
        if buf.len() > limits.max_size {
            return Err(ParseError::TooLarge);
        }
        let b = &buf[..];
        let mut pos = 0;
        while pos < b.len() && (b[pos] == b'\r' || b[pos] == b'\n') {
            pos += 1;
        }
        if pos == b.len() {
            return Err(ParseError::Empty);
        }
        let msg_start = pos;
        // Find the end of the header section: the first empty line.
        let mut line_start = pos;
        let head_end; // end of the last header line (exclusive, before its line end)
        let body_start;
        loop {
            let nl = match memchr::memchr(b'\n', &b[line_start..]) {
                Some(i) => line_start + i,
                None => return Err(ParseError::NoHeaderEnd),
            };
            let content_end = if nl > line_start && b[nl - 1] == b'\r' { nl - 1 } else { nl };
            if content_end == line_start && line_start > msg_start {
                head_end = line_start;
                body_start = nl + 1;
                break;
            }
            line_start = nl + 1;
        }
        let head_bytes = &b[msg_start..head_end];
        let head = std::str::from_utf8(head_bytes).map_err(|_| ParseError::NotUtf8)?;
        let head = head.to_owned();
        let hb = head.as_bytes();

        // Start line.
        let first_nl = memchr::memchr(b'\n', hb).unwrap_or(hb.len());
        let first_end = if first_nl > 0 && hb[first_nl - 1] == b'\r' { first_nl - 1 } else { first_nl };
        let start = if hb.len() >= 4 && hb[..4].eq_ignore_ascii_case(b"SIP/") {
            parse_status_line(&head, first_end)?
        } else {
            parse_request_line(&head, first_end)?
        };

        // Header lines.
        let mut headers: Vec<HeaderEntry> = Vec::with_capacity(16);
        let mut content_length: Option<usize> = None;
        let mut pos = (first_nl + 1).min(hb.len());
        let mut line_no = 1;
        while pos < hb.len() {
            line_no += 1;
            let nl = memchr::memchr(b'\n', &hb[pos..]).map(|i| pos + i).unwrap_or(hb.len());
            let end = if nl > pos && hb[nl - 1] == b'\r' { nl - 1 } else { nl };
            if is_ws(hb[pos]) {
                // Folded continuation of the previous header (RFC 3261 §7.3.1).
                let last = headers.last_mut().ok_or(ParseError::BadHeaderLine { line: line_no })?;
                let mut e = end;
                while e > pos && is_ws(hb[e - 1]) {
                    e -= 1;
                }
                if e > pos {
                    last.value.end = e as u32;
                }
                pos = nl + 1;
                continue;
            }
            let colon = memchr::memchr(b':', &hb[pos..end])
                .map(|i| pos + i)
                .ok_or(ParseError::BadHeaderLine { line: line_no })?;
            let mut name_end = colon;
            while name_end > pos && is_ws(hb[name_end - 1]) {
                name_end -= 1;
            }
            let name = &head[pos..name_end];
            if !crate::scan::is_token(name) {
                return Err(ParseError::BadHeaderLine { line: line_no });
            }
            let mut vs = colon + 1;
            while vs < end && is_ws(hb[vs]) {
                vs += 1;
            }
            let mut ve = end;
            while ve > vs && is_ws(hb[ve - 1]) {
                ve -= 1;
            }
            if headers.len() >= limits.max_headers {
                return Err(ParseError::TooManyHeaders);
            }
            let hname = HeaderName::recognise(name);
            if hname == HeaderName::ContentLength {
                let v = parse_content_length(&head[vs..ve])?;
                if content_length.is_some_and(|c| c != v) {
                    return Err(ParseError::ConflictingContentLength);
                }
                content_length = Some(v);
            }
            headers.push(HeaderEntry { name: hname, name_span: Span::of(pos, name_end), value: Span::of(vs, ve) });
            pos = nl + 1;
        }

        let available = buf.len() - body_start.min(buf.len());
        let body = match content_length {
            Some(cl) if cl > available => {
                return Err(ParseError::BodyTooShort { declared: cl, available });
            }
            Some(cl) => buf.slice(body_start..body_start + cl),
            None => buf.slice(body_start.min(buf.len())..),
        };
        Ok(Message { head, start, headers, body })
    }

    // ----- construction -------------------------------------------------

    /// A new request with no headers.
    pub fn request(method: Method, uri: &str) -> Message {
        let mut head = String::with_capacity(512);
        head.push_str(method.as_str());
        head.push(' ');
        let us = head.len();
        head.push_str(uri);
        let ue = head.len();
        head.push_str(" SIP/2.0");
        let ve = head.len();
        Message {
            start: Start::Request { method, uri: Span::of(us, ue), version: Span::of(ue + 1, ve) },
            head,
            headers: Vec::with_capacity(12),
            body: Bytes::new(),
        }
    }

    /// A new response with no headers.
    pub fn response(code: u16, reason: &str) -> Message {
        let mut head = String::with_capacity(512);
        head.push_str("SIP/2.0 ");
        use std::fmt::Write;
        let _ = write!(head, "{code} ");
        let rs = head.len();
        head.push_str(reason);
        let re = head.len();
        Message {
            start: Start::Response { version: Span::of(0, 7), code, reason: Span::of(rs, re) },
            head,
            headers: Vec::with_capacity(12),
            body: Bytes::new(),
        }
    }

    fn push_text(&mut self, s: &str) -> Span {
        let start = self.head.len();
        self.head.push_str(s);
        Span::of(start, self.head.len())
    }

    fn entry(&mut self, name: HeaderName, other_name: &str, value: &str) -> HeaderEntry {
        let name_span = if name == HeaderName::Other { self.push_text(other_name) } else { Span::of(0, 0) };
        let value = self.push_text(value);
        HeaderEntry { name, name_span, value }
    }

    /// Append a header line.
    pub fn push(&mut self, name: HeaderName, value: &str) {
        let e = self.entry(name, "", value);
        self.headers.push(e);
    }

    /// Append a header line by name; known names are recognised.
    pub fn push_named(&mut self, name: &str, value: &str) {
        let hn = HeaderName::recognise(name);
        let e = self.entry(hn, name, value);
        self.headers.push(e);
    }

    /// Insert a header line before every other line of that name (or at
    /// the top when there is none), as a proxy or UA adds its Via.
    pub fn prepend(&mut self, name: HeaderName, value: &str) {
        let at = self.headers.iter().position(|h| h.name == name).unwrap_or(0);
        let e = self.entry(name, "", value);
        self.headers.insert(at, e);
    }

    /// Remove every line of a header.
    pub fn remove(&mut self, name: HeaderName) {
        self.headers.retain(|h| h.name != name);
    }

    /// Remove every line of an unrecognised header, by name.
    pub fn remove_named(&mut self, name: &str) {
        let hn = HeaderName::recognise(name);
        let head = &self.head;
        self.headers.retain(|h| {
            if hn != HeaderName::Other {
                h.name != hn
            } else {
                !(h.name == HeaderName::Other
                    && head[h.name_span.start as usize..h.name_span.end as usize].eq_ignore_ascii_case(name))
            }
        });
    }

    /// Remove the first value of a (possibly comma-separated) list header,
    /// as a proxy pops its own Via or a loose router its Route entry.
    /// Returns whether anything was removed.
    pub fn remove_first_value(&mut self, name: HeaderName) -> bool {
        let Some(idx) = self.headers.iter().position(|h| h.name == name) else { return false };
        let span = self.headers[idx].value;
        let text = &self.head[span.start as usize..span.end as usize];
        match crate::scan::find_top(text, b',') {
            None => {
                self.headers.remove(idx);
            }
            Some(comma) => {
                let mut s = span.start as usize + comma + 1;
                let hb = self.head.as_bytes();
                while s < span.end as usize && crate::scan::is_lws(hb[s]) {
                    s += 1;
                }
                self.headers[idx].value.start = s as u32;
            }
        }
        true
    }

    /// Replace all lines of a header by one line with `value`, at the
    /// position of the first (or at the end).
    pub fn set(&mut self, name: HeaderName, value: &str) {
        let at = self.headers.iter().position(|h| h.name == name);
        self.remove(name);
        let e = self.entry(name, "", value);
        match at {
            Some(i) => self.headers.insert(i.min(self.headers.len()), e),
            None => self.headers.push(e),
        }
    }

    /// Replace the Request-URI (requests only; no-op on responses).
    pub fn set_request_uri(&mut self, uri: &str) {
        let span = self.push_text(uri);
        if let Start::Request { uri, .. } = &mut self.start {
            *uri = span;
        }
    }

    /// Set the body. Content-Length is written when printing.
    pub fn set_body(&mut self, body: Bytes) {
        self.body = body;
    }

    /// Build a response to `req` per RFC 3261 §8.2.6.2: the Via lines, From,
    /// To (with `to_tag` added when it has none), Call-ID and CSeq are copied.
    pub fn response_to(req: &Message, code: u16, reason: &str, to_tag: Option<&str>) -> Message {
        let mut r = Message::response(code, reason);
        for h in req.headers.iter() {
            match h.name {
                HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                    let v = req.text(h.value);
                    let e = r.entry(h.name, "", v);
                    r.headers.push(e);
                }
                HeaderName::To => {
                    let v = req.text(h.value);
                    let has_tag = NameAddr::parse(v).map(|n| n.tag().is_some()).unwrap_or(true);
                    let e = match to_tag {
                        Some(tag) if !has_tag => {
                            let mut with = String::with_capacity(v.len() + tag.len() + 5);
                            with.push_str(v);
                            with.push_str(";tag=");
                            with.push_str(tag);
                            r.entry(h.name, "", &with)
                        }
                        _ => r.entry(h.name, "", v),
                    };
                    r.headers.push(e);
                }
                _ => {}
            }
        }
        r
    }

    /// Recover enough of a request that failed to parse to answer it with
    /// 400 (RFC 3261 §8.2, §21.4.1): the method word and the raw Via, From,
    /// To, Call-ID and CSeq lines. `None` for responses, or when there is no
    /// Via to send an answer to.
    pub fn salvage_request(buf: &[u8]) -> Option<Message> {
        let buf = &buf[..buf.len().min(Limits::default().max_size)];
        let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
        let text = String::from_utf8_lossy(&buf[start..]);
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let first = lines.next()?;
        if first.as_bytes().get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/")) {
            return None;
        }
        let method = first.split(' ').next().filter(|m| crate::scan::is_token(m))?;
        let mut r = Message::request(Method::from_token(method), "sip:invalid");
        let mut any_via = false;
        for line in lines.take(Limits::default().max_headers) {
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else { continue };
            let hn = HeaderName::recognise(trim(name));
            if matches!(hn, HeaderName::Via | HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq) {
                any_via |= hn == HeaderName::Via;
                r.push(hn, trim(value));
            }
        }
        any_via.then_some(r)
    }

    // ----- access -------------------------------------------------------

    fn text(&self, s: Span) -> &str {
        &self.head[s.start as usize..s.end as usize]
    }

    /// Is this a request?
    pub fn is_request(&self) -> bool {
        matches!(self.start, Start::Request { .. })
    }

    /// The request method, `None` for a response.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            Start::Request { method, .. } => Some(method),
            Start::Response { .. } => None,
        }
    }

    /// The Request-URI text, `None` for a response.
    pub fn request_uri_str(&self) -> Option<&str> {
        match &self.start {
            Start::Request { uri, .. } => Some(self.text(*uri)),
            Start::Response { .. } => None,
        }
    }

    /// The parsed Request-URI (it was validated while parsing).
    pub fn request_uri(&self) -> Option<Uri<'_>> {
        self.request_uri_str().and_then(|u| Uri::parse(u).ok())
    }

    /// The status code, `None` for a request.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            Start::Response { code, .. } => Some(code),
            Start::Request { .. } => None,
        }
    }

    /// The reason phrase, `None` for a request.
    pub fn reason(&self) -> Option<&str> {
        match &self.start {
            Start::Response { reason, .. } => Some(self.text(*reason)),
            Start::Request { .. } => None,
        }
    }

    /// The SIP-Version text as written (`SIP/2.0`).
    pub fn version(&self) -> &str {
        match &self.start {
            Start::Request { version, .. } | Start::Response { version, .. } => self.text(*version),
        }
    }

    /// Is the version SIP/2.0 (RFC 3261 §8.2.2.1 answers 505 otherwise)?
    pub fn is_sip2(&self) -> bool {
        self.version().eq_ignore_ascii_case("SIP/2.0")
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Every header line in order.
    pub fn headers(&self) -> impl Iterator<Item = HeaderRef<'_>> + '_ {
        self.headers.iter().map(move |h| HeaderRef {
            name: h.name,
            name_str: h.name.canonical().unwrap_or_else(|| self.text(h.name_span)),
            value: self.text(h.value),
        })
    }

    /// Number of header lines.
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// The first line of a header, raw.
    pub fn get(&self, name: HeaderName) -> Option<&str> {
        self.headers.iter().find(|h| h.name == name).map(|h| self.text(h.value))
    }

    /// Every line of a header, raw.
    pub fn get_all(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.headers.iter().filter(move |h| h.name == name).map(move |h| self.text(h.value))
    }

    /// The first line of an unrecognised header, by name (case-insensitive).
    pub fn get_named(&self, name: &str) -> Option<&str> {
        let hn = HeaderName::recognise(name);
        if hn != HeaderName::Other {
            return self.get(hn);
        }
        self.headers
            .iter()
            .find(|h| h.name == HeaderName::Other && self.text(h.name_span).eq_ignore_ascii_case(name))
            .map(|h| self.text(h.value))
    }

    /// Every value of a list header across all its lines (RFC 3261 §7.3.1).
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.get_all(name).flat_map(|line| split_top(line, b',')).filter(|v| !v.is_empty())
    }

    // ----- typed access ---------------------------------------------------

    /// Call-ID (mandatory). Must be a single word without whitespace.
    pub fn call_id(&self) -> Result<&str, ParseError> {
        let v = self.single(HeaderName::CallId)?;
        if v.is_empty() || v.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(ParseError::BadHeaderValue { header: HeaderName::CallId, reason: "not a word" });
        }
        Ok(v)
    }

    /// CSeq (mandatory).
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        CSeq::parse(self.single(HeaderName::CSeq)?)
    }

    /// From (mandatory).
    pub fn from(&self) -> Result<NameAddr<'_>, ParseError> {
        NameAddr::parse(self.single(HeaderName::From)?).map_err(|e| e.for_header(HeaderName::From))
    }

    /// To (mandatory).
    pub fn to(&self) -> Result<NameAddr<'_>, ParseError> {
        NameAddr::parse(self.single(HeaderName::To)?).map_err(|e| e.for_header(HeaderName::To))
    }

    /// The topmost Via value (mandatory).
    pub fn top_via(&self) -> Result<Via<'_>, ParseError> {
        let v = self.values(HeaderName::Via).next().ok_or(ParseError::MissingHeader(HeaderName::Via))?;
        Via::parse(v)
    }

    /// Every Via value, topmost first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, ParseError>> + '_ {
        self.values(HeaderName::Via).map(Via::parse)
    }

    /// Max-Forwards, if present (0..=255 per RFC 3261 §20.22; larger values are errors).
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        self.small_number(HeaderName::MaxForwards)?
            .map(|n| u8::try_from(n).map_err(|_| ParseError::BadHeaderValue { header: HeaderName::MaxForwards, reason: "out of range" }))
            .transpose()
    }

    /// Expires header as delta-seconds (values over 2^32-1 are clamped, per RFC 3261 §20.19).
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.small_number(HeaderName::Expires)
    }

    /// Min-Expires, if present.
    pub fn min_expires(&self) -> Result<Option<u32>, ParseError> {
        self.small_number(HeaderName::MinExpires)
    }

    /// Contact values (`None` inside means `*`).
    pub fn contacts(&self) -> impl Iterator<Item = Result<Option<NameAddr<'_>>, ParseError>> + '_ {
        self.values(HeaderName::Contact).map(|v| {
            if v == "*" {
                Ok(None)
            } else {
                NameAddr::parse(v).map(Some).map_err(|e| e.for_header(HeaderName::Contact))
            }
        })
    }

    /// Route values, topmost first.
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.values(HeaderName::Route).map(|v| NameAddr::parse(v).map_err(|e| e.for_header(HeaderName::Route)))
    }

    /// Record-Route values, topmost first.
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.values(HeaderName::RecordRoute)
            .map(|v| NameAddr::parse(v).map_err(|e| e.for_header(HeaderName::RecordRoute)))
    }

    /// Option tags of a list header such as Supported, Require, Allow.
    pub fn tokens(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.values(name)
    }

    /// Does a token list header (Supported, Require, ...) contain `tag`?
    pub fn has_token(&self, name: HeaderName, tag: &str) -> bool {
        self.values(name).any(|t| t.eq_ignore_ascii_case(tag))
    }

    /// The header must appear at most once (or repeat the same value).
    fn single(&self, name: HeaderName) -> Result<&str, ParseError> {
        let mut it = self.get_all(name);
        let first = it.next().ok_or(ParseError::MissingHeader(name))?;
        for other in it {
            if other != first {
                return Err(ParseError::DuplicateHeader(name));
            }
        }
        Ok(first)
    }

    fn small_number(&self, name: HeaderName) -> Result<Option<u32>, ParseError> {
        let Some(v) = self.get(name) else { return Ok(None) };
        let v = trim(v);
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::BadHeaderValue { header: name, reason: "not a number" });
        }
        // Clamp overlong delta-seconds rather than fail (RFC 3261 §20.19, RFC 4475 §3.1.2.? scalarlg).
        Ok(Some(v.parse::<u64>().map(|n| n.min(u32::MAX as u64) as u32).unwrap_or(u32::MAX)))
    }

    /// Check what every request and response needs before a transaction
    /// can be formed (RFC 3261 §8.1.1): Via, From, To, Call-ID, CSeq, and
    /// for requests a CSeq method equal to the request method.
    pub fn check_core(&self) -> Result<(), ParseError> {
        self.top_via()?;
        self.from()?;
        self.to()?;
        self.call_id()?;
        let cseq = self.cseq()?;
        if let Some(m) = self.method() {
            if *m != cseq.method {
                return Err(ParseError::BadHeaderValue { header: HeaderName::CSeq, reason: "method differs from request line" });
            }
        }
        Ok(())
    }

    // ----- printing -------------------------------------------------------

    /// Bytes needed to print this message (an upper bound).
    pub fn encoded_len_hint(&self) -> usize {
        self.head.len() + self.headers.len() * 24 + self.body.len() + 32
    }

    /// Print into `out`. Content-Length is always written, last among the
    /// headers, with the body's real length.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len_hint());
        match &self.start {
            Start::Request { method, uri, version } => {
                out.extend_from_slice(method.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(self.text(*uri).as_bytes());
                out.push(b' ');
                out.extend_from_slice(self.text(*version).as_bytes());
            }
            Start::Response { version, code, reason } => {
                out.extend_from_slice(self.text(*version).as_bytes());
                out.push(b' ');
                let mut buf = itoa_u16(*code);
                out.extend_from_slice(&buf.as_mut()[..3]);
                out.push(b' ');
                out.extend_from_slice(self.text(*reason).as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
        for h in &self.headers {
            if h.name == HeaderName::ContentLength {
                continue;
            }
            match h.name.canonical() {
                Some(n) => out.extend_from_slice(n.as_bytes()),
                None => out.extend_from_slice(self.text(h.name_span).as_bytes()),
            }
            out.extend_from_slice(b": ");
            out.extend_from_slice(self.text(h.value).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(self.body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&self.body);
    }

    /// Print into a new buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::with_capacity(self.encoded_len_hint());
        self.encode(&mut v);
        Bytes::from(v)
    }
}

fn itoa_u16(code: u16) -> [u8; 3] {
    [b'0' + (code / 100 % 10) as u8, b'0' + (code / 10 % 10) as u8, b'0' + (code % 10) as u8]
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

/// Structural equality: same start line, same header lines in the same
/// order (names compared case-insensitively, values as text), same body.
/// Content-Length lines are not compared: printing always writes the true one.
impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        let start_eq = match (&self.start, &other.start) {
            (Start::Request { method: m1, uri: u1, version: v1 }, Start::Request { method: m2, uri: u2, version: v2 }) => {
                m1 == m2 && self.text(*u1) == other.text(*u2) && self.text(*v1) == other.text(*v2)
            }
            (Start::Response { version: v1, code: c1, reason: r1 }, Start::Response { version: v2, code: c2, reason: r2 }) => {
                c1 == c2 && self.text(*r1) == other.text(*r2) && self.text(*v1) == other.text(*v2)
            }
            _ => false,
        };
        if !start_eq || self.body != other.body {
            return false;
        }
        let a = self.headers().filter(|h| h.name != HeaderName::ContentLength);
        let mut b = other.headers().filter(|h| h.name != HeaderName::ContentLength);
        for x in a {
            match b.next() {
                Some(y) if x.name == y.name && x.name_str.eq_ignore_ascii_case(y.name_str) && x.value == y.value => {}
                _ => return false,
            }
        }
        b.next().is_none()
    }
}

#[cfg(test)]
mod tests;
