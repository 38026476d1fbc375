//! Fuzz target for stream framing (`sip_msg::frame`, RFC 3261 §18.3,
//! RFC 5626 §3.5.1): the fuzz input is a TCP receive buffer. Framing is
//! repeated over it the way the runtime consumes a stream, and must always
//! make progress. Each message frame is parsed like the runtime would.
//!
//! Invariants checked:
//! * `Message(n)`, `Ping(n)`, `Pong(n)`: `0 < n <= len`; a ping is 4 bytes, a
//!   pong 1 or 2.
//! * A frame does not depend on what follows it: the `n`-byte prefix alone,
//!   and the prefix with more bytes appended, frame to the same `Message(n)`;
//!   every shorter prefix is `Incomplete` (the framer never reports a
//!   message, ping or error before it has the bytes for it).
//!
//! Seed corpus: the same SIP messages as `sip_parse` (see `fuzz/seed.sh`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_msg::{frame, Frame, Message};
use std::hint::black_box;

const MAX: usize = 65535;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    // Every step consumes at least one byte, so this is bounded by data.len().
    loop {
        let len = rest.len();
        let n = match frame(rest, MAX) {
            Ok(Frame::Incomplete) | Err(_) => break,
            Ok(Frame::Ping(n)) => {
                assert_eq!(n, 4, "ping of {n} bytes");
                assert!(rest.starts_with(b"\r\n\r\n"));
                n
            }
            Ok(Frame::Pong(n)) => {
                assert!(n == 1 || n == 2, "pong of {n} bytes");
                n
            }
            Ok(Frame::Message(n)) => {
                assert!(n > 0 && n <= len, "Message({n}) with {len} bytes buffered");
                assert!(n <= MAX, "Message({n}) over the bound {MAX}");
                check_message_frame(&rest[..n], &rest[n..]);
                n
            }
        };
        assert!(n > 0 && n <= len, "frame of {n} bytes with {len} buffered: no progress");
        rest = &rest[n..];
    }
});

/// `msg` was framed as one whole message, `after` is what followed it.
fn check_message_frame(msg: &[u8], after: &[u8]) {
    let n = msg.len();

    // Alone, the frame is still exactly one message.
    assert_eq!(frame(msg, MAX), Ok(Frame::Message(n)), "frame changes without the bytes after it");

    // More bytes appended change nothing: garbage, a ping, another message.
    for tail in [after, b"\r\n\r\n".as_slice(), b"X".as_slice(), b"Content-Length: 99\r\n\r\n".as_slice()] {
        let mut buf = Vec::with_capacity(n + tail.len());
        buf.extend_from_slice(msg);
        buf.extend_from_slice(tail);
        assert_eq!(frame(&buf, MAX), Ok(Frame::Message(n)), "frame changes when {} bytes are appended", tail.len());
    }

    // Shorter prefixes are incomplete. All of them for small frames; for
    // larger ones the cuts that matter, on either side of each line end.
    let cuts: Vec<usize> = if n <= 64 {
        (1..n).collect()
    } else {
        let line_ends = msg.iter().enumerate().filter(|&(_, &b)| b == b'\n').flat_map(|(i, _)| [i, i + 1]);
        [1, n / 2, n - 1].into_iter().chain(line_ends).filter(|&k| k > 0 && k < n).collect()
    };
    for k in cuts {
        assert_eq!(frame(&msg[..k], MAX), Ok(Frame::Incomplete), "{k}-byte prefix of a {n}-byte message");
    }

    // Parse it like the runtime would; whatever parses must print back to
    // something that frames as exactly one message.
    if let Ok(m) = Message::parse_slice(msg) {
        black_box(m.check_core().is_ok());
        let printed = m.to_bytes();
        if printed.len() <= MAX {
            assert_eq!(
                frame(&printed, MAX),
                Ok(Frame::Message(printed.len())),
                "a printed message does not frame as itself: {:?}",
                String::from_utf8_lossy(&printed)
            );
        }
    }
}
