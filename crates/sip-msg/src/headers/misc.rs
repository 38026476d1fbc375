use crate::error::ParseError;
use crate::method::Method;
use crate::params::Params;
use crate::scan::{is_lws, is_token, trim};
use crate::HeaderName;

fn bad(header: HeaderName, reason: &'static str) -> ParseError {
    ParseError::BadHeaderValue { header, reason }
}

fn digits_u32(s: &str, header: HeaderName) -> Result<u32, ParseError> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(header, "not a number"));
    }
    s.parse::<u32>().map_err(|_| bad(header, "number out of range"))
}

/// Split at the first run of LWS.
fn word_rest(s: &str) -> (&str, &str) {
    let s = trim(s);
    match s.bytes().position(is_lws) {
        Some(i) => (&s[..i], trim(&s[i..])),
        None => (s, ""),
    }
}

/// CSeq (RFC 3261 §20.16): sequence number (< 2^31) and method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number.
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    /// Parse `1*DIGIT LWS Method`.
    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        let (n, m) = word_rest(s);
        let seq = digits_u32(n, HeaderName::CSeq)?;
        if seq >= 1 << 31 {
            return Err(bad(HeaderName::CSeq, "sequence number must be less than 2**31"));
        }
        if !is_token(m) {
            return Err(bad(HeaderName::CSeq, "bad method"));
        }
        Ok(CSeq { seq, method: Method::from_token(m) })
    }
}

/// Content-Type (RFC 3261 §20.15): `type/subtype;params`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentType<'a> {
    /// Top-level type (`application`).
    pub kind: &'a str,
    /// Subtype (`sdp`).
    pub subtype: &'a str,
    /// Parameters.
    pub params: Params<'a>,
}

impl<'a> ContentType<'a> {
    /// Parse a media type.
    pub fn parse(s: &'a str) -> Result<ContentType<'a>, ParseError> {
        let s = trim(s);
        let (mt, params) = match s.find(';') {
            Some(i) => (&s[..i], Params::new(&s[i..])),
            None => (s, Params::EMPTY),
        };
        let (k, st) = mt.split_once('/').ok_or(bad(HeaderName::ContentType, "no subtype"))?;
        let (k, st) = (trim(k), trim(st));
        if !is_token(k) || !is_token(st) {
            return Err(bad(HeaderName::ContentType, "bad media type"));
        }
        Ok(ContentType { kind: k, subtype: st, params })
    }
    /// Is it `type/subtype` (case-insensitive)?
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
    }
}

/// Who refreshes a session (RFC 4028).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresher {
    /// `refresher=uac`
    Uac,
    /// `refresher=uas`
    Uas,
}

/// Session-Expires (RFC 4028 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionExpires {
    /// Interval in seconds.
    pub delta: u32,
    /// Refresher, if given.
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// Parse `delta-seconds *(;params)`.
    pub fn parse(s: &str) -> Result<SessionExpires, ParseError> {
        let s = trim(s);
        let (d, p) = match s.find(';') {
            Some(i) => (trim(&s[..i]), Params::new(&s[i..])),
            None => (s, Params::EMPTY),
        };
        let delta = digits_u32(d, HeaderName::SessionExpires)?;
        let refresher = match p.get("refresher").flatten() {
            Some(r) if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(r) if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            Some(_) => return Err(bad(HeaderName::SessionExpires, "bad refresher")),
            None => None,
        };
        Ok(SessionExpires { delta, refresher })
    }
}

/// RAck (RFC 3262 §7.2): response-num, CSeq-num, method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RAck {
    /// RSeq of the acknowledged response.
    pub rseq: u32,
    /// CSeq number of the request.
    pub cseq: u32,
    /// Method of the request.
    pub method: Method,
}

impl RAck {
    /// Parse `1*DIGIT LWS 1*DIGIT LWS Method`.
    pub fn parse(s: &str) -> Result<RAck, ParseError> {
        let (a, rest) = word_rest(s);
        let (b, m) = word_rest(rest);
        let rseq = digits_u32(a, HeaderName::RAck)?;
        let cseq = digits_u32(b, HeaderName::RAck)?;
        if !is_token(m) {
            return Err(bad(HeaderName::RAck, "bad method"));
        }
        Ok(RAck { rseq, cseq, method: Method::from_token(m) })
    }
}

/// Replaces (RFC 3891 §6.1): the dialog to replace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replaces<'a> {
    /// Call-ID of the dialog.
    pub call_id: &'a str,
    /// Its to-tag.
    pub to_tag: &'a str,
    /// Its from-tag.
    pub from_tag: &'a str,
    /// `early-only` flag.
    pub early_only: bool,
}

impl<'a> Replaces<'a> {
    /// Parse `callid;to-tag=..;from-tag=..[;early-only]`.
    pub fn parse(s: &'a str) -> Result<Replaces<'a>, ParseError> {
        let s = trim(s);
        let i = s.find(';').ok_or(bad(HeaderName::Replaces, "no tags"))?;
        let call_id = trim(&s[..i]);
        let p = Params::new(&s[i..]);
        let to_tag = p.get("to-tag").flatten().ok_or(bad(HeaderName::Replaces, "no to-tag"))?;
        let from_tag = p.get("from-tag").flatten().ok_or(bad(HeaderName::Replaces, "no from-tag"))?;
        if call_id.is_empty() {
            return Err(bad(HeaderName::Replaces, "empty call-id"));
        }
        Ok(Replaces { call_id, to_tag, from_tag, early_only: p.contains("early-only") })
    }
}

/// One Reason value (RFC 3326): `SIP ;cause=200 ;text="Call completed elsewhere"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reason<'a> {
    /// `SIP`, `Q.850`, ...
    pub protocol: &'a str,
    /// The cause code.
    pub cause: Option<u32>,
    /// The text, quotes removed.
    pub text: Option<&'a str>,
}

impl<'a> Reason<'a> {
    /// Parse one Reason value.
    pub fn parse(s: &'a str) -> Result<Reason<'a>, ParseError> {
        let s = trim(s);
        let (proto, p) = match s.find(';') {
            Some(i) => (trim(&s[..i]), Params::new(&s[i..])),
            None => (s, Params::EMPTY),
        };
        if !is_token(proto) {
            return Err(bad(HeaderName::Reason, "bad protocol"));
        }
        let cause = p.get("cause").flatten().map(|c| digits_u32(c, HeaderName::Reason)).transpose()?;
        Ok(Reason { protocol: proto, cause, text: p.get_unquoted("text") })
    }
}

/// Retry-After (RFC 3261 §20.33): seconds, optional comment, duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter<'a> {
    /// Seconds to wait.
    pub seconds: u32,
    /// Comment text without parentheses.
    pub comment: Option<&'a str>,
    /// `duration` parameter.
    pub duration: Option<u32>,
}

impl<'a> RetryAfter<'a> {
    /// Parse `delta-seconds [ comment ] *( ;params )`.
    pub fn parse(s: &'a str) -> Result<RetryAfter<'a>, ParseError> {
        let s = trim(s);
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let seconds = digits_u32(&s[..end], HeaderName::RetryAfter)?;
        let mut rest = trim(&s[end..]);
        let mut comment = None;
        if let Some(r) = rest.strip_prefix('(') {
            let close = r.rfind(')').ok_or(bad(HeaderName::RetryAfter, "unterminated comment"))?;
            comment = Some(&r[..close]);
            rest = trim(&r[close + 1..]);
        }
        if !rest.is_empty() && !rest.starts_with(';') {
            return Err(bad(HeaderName::RetryAfter, "garbage"));
        }
        let p = Params::new(rest);
        let duration = p.get("duration").flatten().map(|d| digits_u32(d, HeaderName::RetryAfter)).transpose()?;
        Ok(RetryAfter { seconds, comment, duration })
    }
}
