//! Parse errors. Every one of them is the peer's fault (it sent a message we
//! cannot accept); [`ParseError::status`] gives the response to send when one
//! can be formed.

use crate::HeaderName;
use std::fmt;

/// What was wrong with a message or a header value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing but whitespace.
    Empty,
    /// No empty line ends the header section.
    NoHeaderEnd,
    /// Larger than the configured bound.
    TooLarge,
    /// More header lines than the bound allows.
    TooManyHeaders,
    /// The start line and headers are not UTF-8.
    NotUtf8,
    /// The start line is neither a request line nor a status line.
    BadStartLine,
    /// The method is not a token.
    BadMethod,
    /// The Request-URI is malformed (whitespace, no scheme, ...).
    BadRequestUri,
    /// Not `SIP/<digits>.<digits>`.
    BadVersion,
    /// A SIP version other than 2.0 (answer 505).
    UnsupportedVersion,
    /// The status code is not three digits between 100 and 699.
    BadStatusCode,
    /// A header line has no colon or its name is not a token (1-based line number).
    BadHeaderLine {
        /// Line number within the message, counting the start line as 1.
        line: usize,
    },
    /// Content-Length is not a non-negative decimal number that fits.
    BadContentLength,
    /// Several Content-Length headers disagree.
    ConflictingContentLength,
    /// Content-Length is larger than the bytes that followed the headers.
    BodyTooShort {
        /// Value of Content-Length.
        declared: usize,
        /// Bytes actually present.
        available: usize,
    },
    /// A mandatory header is absent.
    MissingHeader(HeaderName),
    /// A header that may appear once appears several times with different values.
    DuplicateHeader(HeaderName),
    /// A header value does not follow its grammar.
    BadHeaderValue {
        /// Which header.
        header: HeaderName,
        /// What was wrong.
        reason: &'static str,
    },
    /// A URI does not follow RFC 3261 §19.1 / RFC 3966.
    BadUri(&'static str),
}

impl ParseError {
    /// The SIP status a server answers with (RFC 3261 §8.2, §21.4).
    pub fn status(&self) -> u16 {
        match self {
            ParseError::UnsupportedVersion => 505,
            ParseError::TooLarge => 513,
            _ => 400,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty message"),
            ParseError::NoHeaderEnd => f.write_str("no empty line after the headers"),
            ParseError::TooLarge => f.write_str("message too large"),
            ParseError::TooManyHeaders => f.write_str("too many header lines"),
            ParseError::NotUtf8 => f.write_str("headers are not valid UTF-8"),
            ParseError::BadStartLine => f.write_str("malformed start line"),
            ParseError::BadMethod => f.write_str("malformed method"),
            ParseError::BadRequestUri => f.write_str("malformed Request-URI"),
            ParseError::BadVersion => f.write_str("malformed SIP version"),
            ParseError::UnsupportedVersion => f.write_str("unsupported SIP version"),
            ParseError::BadStatusCode => f.write_str("malformed status code"),
            ParseError::BadHeaderLine { line } => write!(f, "malformed header line {line}"),
            ParseError::BadContentLength => f.write_str("malformed Content-Length"),
            ParseError::ConflictingContentLength => f.write_str("conflicting Content-Length headers"),
            ParseError::BodyTooShort { declared, available } => {
                write!(f, "Content-Length {declared} but only {available} body bytes")
            }
            ParseError::MissingHeader(h) => {
                write!(f, "missing {} header", h.canonical().unwrap_or("?"))
            }
            ParseError::DuplicateHeader(h) => {
                write!(f, "conflicting {} headers", h.canonical().unwrap_or("?"))
            }
            ParseError::BadHeaderValue { header, reason } => {
                write!(f, "malformed {} header: {reason}", header.canonical().unwrap_or("?"))
            }
            ParseError::BadUri(why) => write!(f, "malformed URI: {why}"),
        }
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    /// Attribute a value-level error to the header it was found in.
    pub fn for_header(self, header: HeaderName) -> ParseError {
        match self {
            ParseError::BadUri(reason) => ParseError::BadHeaderValue { header, reason },
            ParseError::BadHeaderValue { header: HeaderName::Other, reason } => ParseError::BadHeaderValue { header, reason },
            other => other,
        }
    }
}
