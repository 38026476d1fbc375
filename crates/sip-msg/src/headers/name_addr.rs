use crate::error::ParseError;
use crate::params::Params;
use crate::scan::{is_lws, quoted_prefix, trim, unescape_quoted};
use crate::uri::Uri;
use crate::HeaderName;
use std::borrow::Cow;

/// `name-addr` or `addr-spec` followed by header parameters: the value of
/// From, To, Contact, Route, Record-Route, Refer-To, P-Asserted-Identity...
/// (RFC 3261 §20.10, §25.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    display: Option<&'a str>,
    display_quoted: bool,
    uri: Uri<'a>,
    params: Params<'a>,
    angle: bool,
}

const E: HeaderName = HeaderName::Other;

impl<'a> NameAddr<'a> {
    /// Parse one value (not a comma-separated list).
    pub fn parse(s: &'a str) -> Result<NameAddr<'a>, ParseError> {
        let s = trim(s);
        if s.is_empty() {
            return Err(ParseError::BadHeaderValue { header: E, reason: "empty" });
        }
        let (display, display_quoted, rest) = if s.starts_with('"') {
            let (raw, rest) = quoted_prefix(s).ok_or(ParseError::BadHeaderValue { header: E, reason: "unterminated quoted display name" })?;
            let rest = rest.trim_start_matches(|c: char| c.is_ascii() && is_lws(c as u8));
            if !rest.starts_with('<') {
                return Err(ParseError::BadHeaderValue { header: E, reason: "display name without <uri>" });
            }
            (Some(raw), true, rest)
        } else if let Some(lt) = s.find('<') {
            let d = trim(&s[..lt]);
            // Unquoted display name: tokens separated by LWS.
            if !d.bytes().all(|b| crate::scan::is_token_char(b) || is_lws(b)) {
                return Err(ParseError::BadHeaderValue { header: E, reason: "bad display name" });
            }
            (if d.is_empty() { None } else { Some(d) }, false, &s[lt..])
        } else {
            (None, false, s)
        };
        if let Some(inner) = rest.strip_prefix('<') {
            let gt = inner.find('>').ok_or(ParseError::BadHeaderValue { header: E, reason: "missing >" })?;
            let uri = Uri::parse(&inner[..gt])?;
            let after = trim(&inner[gt + 1..]);
            if !after.is_empty() && !after.starts_with(';') {
                return Err(ParseError::BadHeaderValue { header: E, reason: "garbage after >" });
            }
            let params = Params::new(after);
            if !params.well_formed() {
                return Err(ParseError::BadHeaderValue { header: E, reason: "bad parameter" });
            }
            Ok(NameAddr { display, display_quoted, uri, params, angle: true })
        } else {
            // addr-spec: parameters after the URI belong to the header (RFC 3261 §20.10).
            let (u, p) = match rest.find(';') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let u = trim(u);
            if u.contains(['?', ',']) {
                return Err(ParseError::BadHeaderValue { header: E, reason: "addr-spec with reserved characters needs <>" });
            }
            let uri = Uri::parse(u)?;
            let params = Params::new(p);
            if !params.well_formed() {
                return Err(ParseError::BadHeaderValue { header: E, reason: "bad parameter" });
            }
            Ok(NameAddr { display: None, display_quoted: false, uri, params, angle: false })
        }
    }

    /// Display name as written (without the quotes, escapes kept).
    pub fn display_raw(&self) -> Option<&'a str> {
        self.display
    }
    /// Display name with quoted-pairs resolved.
    pub fn display(&self) -> Option<Cow<'a, str>> {
        self.display.map(|d| if self.display_quoted { unescape_quoted(d) } else { Cow::Borrowed(d) })
    }
    /// The URI.
    pub fn uri(&self) -> Uri<'a> {
        self.uri
    }
    /// Header parameters (`;tag=...;q=...;expires=...`).
    pub fn params(&self) -> Params<'a> {
        self.params
    }
    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").flatten()
    }
    /// Was the URI written in angle brackets?
    pub fn has_angle_brackets(&self) -> bool {
        self.angle
    }
}
