//! The crate's one error type, sorted by who is at fault.

/// Who caused an [`Error`]: decides the SIP response and the leg to blame.
///
/// In a B2BUA the peer is the leg whose SDP we were handed (A-leg for an
/// offer in an INVITE, B-leg for the answer in its 200 OK); `Local` is us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The peer sent SDP that is not well-formed: answer `400 Bad Request`.
    Peer,
    /// The peer's SDP is well-formed but nothing in it is acceptable to us:
    /// answer `488 Not Acceptable Here` (RFC 3261 §21.4.26).
    Incompatible,
    /// We misused the API (invalid value handed to a setter, bad index):
    /// a bug on our side, answer `500 Server Internal Error`.
    Local,
}

/// Everything that can go wrong in this crate.
///
/// Parse errors carry the 1-based line number of the offending line (in the
/// input as given, blank lines included) and say what was wrong with it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    // ---- Fault::Peer: malformed SDP ---------------------------------------
    /// The input is longer than [`MAX_INPUT_LEN`](crate::MAX_INPUT_LEN).
    #[error("SDP is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Length of the input in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The line is not valid UTF-8.
    #[error("line {line}: not valid UTF-8")]
    InvalidUtf8 {
        /// 1-based line number.
        line: usize,
    },
    /// The line holds a NUL or a carriage return that does not end it.
    #[error("line {line}: NUL or stray carriage return")]
    InvalidCharacter {
        /// 1-based line number.
        line: usize,
    },
    /// The line is not of the form `<letter>=<value>`.
    #[error("line {line}: not of the form `<type>=<value>`")]
    MalformedLine {
        /// 1-based line number.
        line: usize,
    },
    /// The description does not start with a `v=` line (or is empty).
    #[error("line {line}: SDP must start with `v=0`")]
    MissingVersion {
        /// 1-based line number of the first line (1 for empty input).
        line: usize,
    },
    /// The `v=` line holds a version other than 0 (RFC 8866 §5.1).
    #[error("line {line}: unsupported SDP version (only `v=0` is defined)")]
    UnsupportedVersion {
        /// 1-based line number.
        line: usize,
    },
    /// A line that may only appear once, at a fixed place (`v=`), appears again.
    #[error("line {line}: `{field}=` is not allowed here")]
    Misplaced {
        /// 1-based line number.
        line: usize,
        /// The line's type letter.
        field: char,
    },
    /// An `o=`, `c=`, `t=`, `b=` or `m=` line does not follow its grammar.
    #[error("line {line}: malformed `{field}=` line")]
    MalformedField {
        /// 1-based line number.
        line: usize,
        /// The line's type letter.
        field: char,
    },
    /// An attribute this crate types (`rtpmap`, `fmtp`, `ptime`, `maxptime`,
    /// `rtcp`) does not follow its grammar, or an `a=` line has no name.
    #[error("line {line}: malformed `a={name}` attribute")]
    MalformedAttribute {
        /// 1-based line number.
        line: usize,
        /// The attribute name (empty when the name itself was missing).
        name: &'static str,
    },
    /// More media sections than [`MAX_MEDIA`](crate::MAX_MEDIA).
    #[error("line {line}: more than {max} media sections")]
    TooManyMedia {
        /// 1-based line number of the first `m=` line over the limit.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// An `m=` line lists more formats than [`MAX_FORMATS`](crate::MAX_FORMATS).
    #[error("line {line}: more than {max} formats on one m= line")]
    TooManyFormats {
        /// 1-based line number.
        line: usize,
        /// The limit.
        max: usize,
    },

    // ---- Fault::Incompatible: well-formed but unacceptable ------------------
    /// The offer has media, but no media section has anything in common with
    /// our capabilities (RFC 3264 §6: every stream would be rejected).
    #[error("no media stream of the offer is acceptable")]
    NoCommonMedia,

    // ---- Fault::Local: API misuse -----------------------------------------
    /// A value handed to a builder or setter would not print as valid SDP.
    #[error("invalid value for {what}")]
    InvalidValue {
        /// What the value was for.
        what: &'static str,
    },
    /// A media index is out of range.
    #[error("no media section {index} (the description has {count})")]
    NoSuchMedia {
        /// The index asked for.
        index: usize,
        /// How many media sections there are.
        count: usize,
    },
    /// A field the operation needs is absent (e.g. bumping a missing `o=`).
    #[error("the description has no `{field}=` line")]
    MissingField {
        /// The line's type letter.
        field: char,
    },
    /// Keeping only the given payload types would leave the `m=` line with
    /// no format at all; the description was left unchanged.
    #[error("line {line}: no format would remain on the m= line")]
    NoFormatLeft {
        /// 1-based line number of the `m=` line.
        line: usize,
    },
}

impl Error {
    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self {
            Error::TooLarge { .. }
            | Error::InvalidUtf8 { .. }
            | Error::InvalidCharacter { .. }
            | Error::MalformedLine { .. }
            | Error::MissingVersion { .. }
            | Error::UnsupportedVersion { .. }
            | Error::Misplaced { .. }
            | Error::MalformedField { .. }
            | Error::MalformedAttribute { .. }
            | Error::TooManyMedia { .. }
            | Error::TooManyFormats { .. } => Fault::Peer,
            Error::NoCommonMedia => Fault::Incompatible,
            Error::InvalidValue { .. }
            | Error::NoSuchMedia { .. }
            | Error::MissingField { .. }
            | Error::NoFormatLeft { .. } => Fault::Local,
        }
    }

    /// The SIP status code to answer with when this error came from a
    /// peer's SDP (400, 488) or from our own misuse (500).
    pub fn status_code(&self) -> u16 {
        match self.fault() {
            Fault::Peer => 400,
            Fault::Incompatible => 488,
            Fault::Local => 500,
        }
    }

    /// The 1-based line number the error points at, if it points at one.
    pub fn line(&self) -> Option<usize> {
        match *self {
            Error::InvalidUtf8 { line }
            | Error::InvalidCharacter { line }
            | Error::MalformedLine { line }
            | Error::MissingVersion { line }
            | Error::UnsupportedVersion { line }
            | Error::Misplaced { line, .. }
            | Error::MalformedField { line, .. }
            | Error::MalformedAttribute { line, .. }
            | Error::TooManyMedia { line, .. }
            | Error::TooManyFormats { line, .. }
            | Error::NoFormatLeft { line } => Some(line),
            Error::TooLarge { .. }
            | Error::NoCommonMedia
            | Error::InvalidValue { .. }
            | Error::NoSuchMedia { .. }
            | Error::MissingField { .. } => None,
        }
    }
}
