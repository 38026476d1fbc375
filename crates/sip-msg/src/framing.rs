//! Framing SIP on byte streams (TCP, TLS, WebSocket-less streams):
//! RFC 3261 §18.3 (Content-Length delimits the body) and RFC 5626 §3.5.1
//! (a double CRLF is a keep-alive ping, answered with a single CRLF pong).
//!
//! [`frame`] looks at the front of a receive buffer and says how many bytes
//! make the next unit, without parsing the message.

use crate::HeaderName;

/// What the front of a stream buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet; read more.
    Incomplete,
    /// `CRLFCRLF` keep-alive ping of this many bytes; answer with `CRLF`.
    Ping(usize),
    /// Lone `CRLF` (a pong, or noise between messages) of this many bytes; skip it.
    Pong(usize),
    /// A whole message of this many bytes.
    Message(usize),
}

/// Why a stream cannot be framed; the connection must be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// Headers (or headers plus declared body) exceed the bound.
    TooLarge,
    /// Content-Length is not a number.
    BadContentLength,
}

/// Frame the next unit at the front of `buf`, bounding a message at `max` bytes.
pub fn frame(buf: &[u8], max: usize) -> Result<Frame, FrameError> {
    if buf.is_empty() {
        return Ok(Frame::Incomplete);
    }
    if buf[0] == b'\r' || buf[0] == b'\n' {
        if buf.starts_with(b"\r\n\r\n") {
            return Ok(Frame::Ping(4));
        }
        if buf.len() < 4 && b"\r\n\r\n".starts_with(buf) {
            return Ok(Frame::Incomplete);
        }
        let n = if buf.starts_with(b"\r\n") { 2 } else { 1 };
        return Ok(Frame::Pong(n));
    }
    // Find the empty line ending the headers.
    let mut line_start = 0;
    let mut content_length: Option<usize> = None;
    loop {
        let Some(rel) = memchr::memchr(b'\n', &buf[line_start..]) else {
            return if buf.len() > max { Err(FrameError::TooLarge) } else { Ok(Frame::Incomplete) };
        };
        let nl = line_start + rel;
        let end = if nl > line_start && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
        if end == line_start {
            let total = nl + 1 + content_length.unwrap_or(0);
            if total > max {
                return Err(FrameError::TooLarge);
            }
            return Ok(if buf.len() >= total { Frame::Message(total) } else { Frame::Incomplete });
        }
        let line = &buf[line_start..end];
        if let Some(colon) = memchr::memchr(b':', line) {
            let name = trim_ws(&line[..colon]);
            let is_cl = name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l");
            if is_cl && !matches!(line.first(), Some(b' ' | b'\t')) {
                let v = trim_ws(&line[colon + 1..]);
                if v.is_empty() || v.len() > 10 || !v.iter().all(u8::is_ascii_digit) {
                    return Err(FrameError::BadContentLength);
                }
                let n = v.iter().fold(0usize, |acc, d| acc * 10 + (d - b'0') as usize);
                content_length = Some(n);
            }
        }
        line_start = nl + 1;
        if line_start > max {
            return Err(FrameError::TooLarge);
        }
    }
}

fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

// Keep the name used for Content-Length recognisable in one place.
const _: HeaderName = HeaderName::ContentLength;

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nl: 5\r\nVia: x\r\n\r\nhelloNEXT";

    #[test]
    fn frames_by_content_length() {
        let n = MSG.len() - 4;
        assert_eq!(frame(MSG, 65535), Ok(Frame::Message(n)));
        for cut in 0..n {
            let f = frame(&MSG[..cut], 65535);
            assert!(matches!(f, Ok(Frame::Incomplete) | Ok(Frame::Pong(_))), "cut {cut}: {f:?}");
        }
    }

    #[test]
    fn keepalives() {
        assert_eq!(frame(b"\r\n\r\nINVITE", 100), Ok(Frame::Ping(4)));
        assert_eq!(frame(b"\r\n", 100), Ok(Frame::Incomplete));
        assert_eq!(frame(b"\r\nINVITE", 100), Ok(Frame::Pong(2)));
    }

    #[test]
    fn bounds() {
        assert_eq!(frame(&[b'a'; 200], 100), Err(FrameError::TooLarge));
        assert_eq!(frame(b"A sip:x SIP/2.0\r\nContent-Length: 1000\r\n\r\n", 100), Err(FrameError::TooLarge));
        assert_eq!(frame(b"A sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n", 100), Err(FrameError::BadContentLength));
        assert_eq!(frame(b"A sip:x SIP/2.0\r\nNo-Length: 1\r\n\r\n", 100), Ok(Frame::Message(33)));
    }
}
