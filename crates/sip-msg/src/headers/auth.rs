use crate::error::ParseError;
use crate::scan::{is_lws, is_token, split_top, trim};
use crate::HeaderName;

/// The comma-separated `name=value` list of a Digest challenge or
/// credentials (RFC 3261 §25.1, RFC 7616 §3.3–3.4). Values are returned
/// without quotes (quoted-pairs are not expected in these fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigestParams<'a>(&'a str);

impl<'a> DigestParams<'a> {
    /// Iterate `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        split_top(self.0, b',').filter(|p| !p.is_empty()).map(|p| match p.find('=') {
            Some(i) => {
                let v = trim(&p[i + 1..]);
                let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
                (trim(&p[..i]), v)
            }
            None => (p, ""),
        })
    }
    /// Value of a parameter (name compared case-insensitively).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }
    /// The raw text.
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// `WWW-Authenticate`, `Proxy-Authenticate`, `Authorization` or
/// `Proxy-Authorization` value: an auth scheme and its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// `Digest` normally.
    pub scheme: &'a str,
    /// Parameters.
    pub params: DigestParams<'a>,
}

impl<'a> Credentials<'a> {
    /// Parse `scheme LWS param *(COMMA param)`.
    pub fn parse(s: &'a str) -> Result<Credentials<'a>, ParseError> {
        let s = trim(s);
        let i = s.bytes().position(is_lws).unwrap_or(s.len());
        let scheme = &s[..i];
        if !is_token(scheme) {
            return Err(ParseError::BadHeaderValue { header: HeaderName::Authorization, reason: "bad auth scheme" });
        }
        let rest = trim(&s[i..]);
        for (n, _) in DigestParams(rest).iter() {
            if !is_token(n) {
                return Err(ParseError::BadHeaderValue { header: HeaderName::Authorization, reason: "bad auth parameter" });
            }
        }
        Ok(Credentials { scheme, params: DigestParams(rest) })
    }
    /// Is the scheme Digest?
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }
}
