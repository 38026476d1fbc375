//! URIs: `sip:`, `sips:` (RFC 3261 §19.1), `tel:` (RFC 3966), IPv6
//! references (RFC 5118), and any other absolute URI kept as text.
//!
//! [`Uri`] borrows from the text it was parsed from and never allocates.

use crate::error::ParseError;
use crate::params::Params;
use crate::scan::percent_decode;
use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A host: a domain name or an IP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host<'a> {
    /// A host name, as written.
    Domain(&'a str),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written in brackets in a URI).
    V6(Ipv6Addr),
}

impl Host<'_> {
    /// Parse `host` as in RFC 3261 §25.1 (`hostname / IPv4address / IPv6reference`).
    pub fn parse(s: &str) -> Result<Host<'_>, ParseError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(ParseError::BadUri("unterminated IPv6 reference"))?;
            return inner.parse::<Ipv6Addr>().map(Host::V6).map_err(|_| ParseError::BadUri("bad IPv6 address"));
        }
        if s.is_empty() {
            return Err(ParseError::BadUri("empty host"));
        }
        if s.as_bytes()[0].is_ascii_digit() {
            if let Ok(v4) = s.parse::<Ipv4Addr>() {
                return Ok(Host::V4(v4));
            }
        }
        if s.contains(':') {
            // RFC 5118 §4.10: an IPv6 address must be in brackets in a URI.
            return Err(ParseError::BadUri("IPv6 address without brackets"));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_') {
            return Err(ParseError::BadUri("bad character in host name"));
        }
        Ok(Host::Domain(s))
    }

    /// The IP address, if the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match *self {
            Host::V4(a) => Some(IpAddr::V4(a)),
            Host::V6(a) => Some(IpAddr::V6(a)),
            Host::Domain(_) => None,
        }
    }

    /// Compare hosts as RFC 3261 §19.1.4 does: names case-insensitively,
    /// addresses by value.
    pub fn same_as(&self, other: &Host<'_>) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            (Host::V4(a), Host::V4(b)) => a == b,
            (Host::V6(a), Host::V6(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// URI scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:`
    Tel,
    /// Anything else (`mailto:`, `http:`, `urn:`, ...), kept as text.
    Other,
}

/// A parsed URI, borrowing from its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uri<'a> {
    raw: &'a str,
    scheme: Scheme,
    user: Option<&'a str>,
    password: Option<&'a str>,
    host: Option<Host<'a>>,
    host_raw: &'a str,
    port: Option<u16>,
    params: Params<'a>,
    headers: Option<&'a str>,
}

fn split_port(hostport: &str) -> Result<(&str, Option<u16>), ParseError> {
    let (host, port) = if hostport.starts_with('[') {
        match hostport.find(']') {
            Some(i) => {
                let rest = &hostport[i + 1..];
                if rest.is_empty() {
                    (hostport, None)
                } else if let Some(p) = rest.strip_prefix(':') {
                    (&hostport[..=i], Some(p))
                } else {
                    return Err(ParseError::BadUri("garbage after IPv6 reference"));
                }
            }
            None => return Err(ParseError::BadUri("unterminated IPv6 reference")),
        }
    } else {
        match hostport.rfind(':') {
            Some(i) => (&hostport[..i], Some(&hostport[i + 1..])),
            None => (hostport, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::BadUri("bad port"));
            }
            Some(p.parse::<u16>().map_err(|_| ParseError::BadUri("port out of range"))?)
        }
    };
    Ok((host, port))
}

/// Split `host[:port]` as found in a URI or a Via sent-by.
pub(crate) fn parse_hostport(s: &str) -> Result<(Host<'_>, &str, Option<u16>), ParseError> {
    let (h, p) = split_port(s)?;
    Ok((Host::parse(h)?, h, p))
}

impl<'a> Uri<'a> {
    /// Parse a URI. Whitespace anywhere in it is an error.
    pub fn parse(raw: &'a str) -> Result<Uri<'a>, ParseError> {
        if raw.is_empty() {
            return Err(ParseError::BadUri("empty"));
        }
        if raw.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(ParseError::BadUri("whitespace or control character"));
        }
        let colon = raw.find(':').ok_or(ParseError::BadUri("no scheme"))?;
        let scheme_s = &raw[..colon];
        if scheme_s.is_empty()
            || !scheme_s.as_bytes()[0].is_ascii_alphabetic()
            || !scheme_s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err(ParseError::BadUri("bad scheme"));
        }
        let rest = &raw[colon + 1..];
        let scheme = if scheme_s.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme_s.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme_s.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            return Ok(Uri {
                raw,
                scheme: Scheme::Other,
                user: None,
                password: None,
                host: None,
                host_raw: "",
                port: None,
                params: Params::EMPTY,
                headers: None,
            });
        };
        if scheme == Scheme::Tel {
            let (number, params) = match rest.find(';') {
                Some(i) => (&rest[..i], Params::new(&rest[i..])),
                None => (rest, Params::EMPTY),
            };
            if number.is_empty() {
                return Err(ParseError::BadUri("empty telephone number"));
            }
            return Ok(Uri {
                raw,
                scheme,
                user: Some(number),
                password: None,
                host: None,
                host_raw: "",
                port: None,
                params,
                headers: None,
            });
        }
        let (userinfo, after) = match rest.find('@') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.find(':') {
                    Some(i) => (&ui[..i], Some(&ui[i + 1..])),
                    None => (ui, None),
                };
                if u.is_empty() {
                    return Err(ParseError::BadUri("empty user part"));
                }
                (Some(u), p)
            }
        };
        let (before_headers, headers) = match after.find('?') {
            Some(i) => (&after[..i], Some(&after[i + 1..])),
            None => (after, None),
        };
        let (hostport, params) = match before_headers.find(';') {
            Some(i) => (&before_headers[..i], Params::new(&before_headers[i..])),
            None => (before_headers, Params::EMPTY),
        };
        let (host, host_raw, port) = parse_hostport(hostport)?;
        Ok(Uri { raw, scheme, user, password, host: Some(host), host_raw, port, params, headers })
    }

    /// The URI as written.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }
    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
    /// The user part as written (still %-escaped); for `tel:` the number.
    pub fn user(&self) -> Option<&'a str> {
        self.user
    }
    /// The user part with %-escapes decoded.
    pub fn user_decoded(&self) -> Option<Cow<'a, str>> {
        self.user.map(percent_decode)
    }
    /// The password, if the URI carries one (deprecated, but legal).
    pub fn password(&self) -> Option<&'a str> {
        self.password
    }
    /// The host (`None` for `tel:` and other schemes).
    pub fn host(&self) -> Option<Host<'a>> {
        self.host
    }
    /// The host as written (brackets included for IPv6).
    pub fn host_str(&self) -> &'a str {
        self.host_raw
    }
    /// The port, if written.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// The URI parameters (`;transport=tcp;lr`).
    pub fn params(&self) -> Params<'a> {
        self.params
    }
    /// The headers part after `?`, as written.
    pub fn headers(&self) -> Option<&'a str> {
        self.headers
    }
    /// `transport` parameter, lower-cased comparison left to the caller.
    pub fn transport(&self) -> Option<&'a str> {
        self.params.get("transport").flatten()
    }
    /// Is the `lr` parameter present (loose routing, RFC 3261 §16.12)?
    pub fn is_loose_route(&self) -> bool {
        self.params.contains("lr")
    }

    /// URI equivalence per RFC 3261 §19.1.4 for `sip:`/`sips:` (user and
    /// password case-sensitive after unescaping, host case-insensitive, ports
    /// and the user/ttl/method/maddr/transport parameters compared when either
    /// side has them, other parameters compared when both have them);
    /// byte equality for other schemes.
    pub fn equivalent(&self, other: &Uri<'_>) -> bool {
        if self.scheme != other.scheme {
            return false;
        }
        match self.scheme {
            Scheme::Sip | Scheme::Sips => {}
            Scheme::Tel => {
                let strip = |s: &str| s.chars().filter(|c| !matches!(c, '-' | '.' | '(' | ')')).collect::<String>();
                return self.user.map(strip) == other.user.map(strip)
                    && self.params.equivalent_all(&other.params);
            }
            Scheme::Other => return self.raw.eq_ignore_ascii_case(other.raw),
        }
        if self.user.map(percent_decode) != other.user.map(percent_decode)
            || self.password.map(percent_decode) != other.password.map(percent_decode)
        {
            return false;
        }
        match (self.host, other.host) {
            (Some(a), Some(b)) if a.same_as(&b) => {}
            _ => return false,
        }
        if self.port != other.port {
            return false;
        }
        for special in ["user", "ttl", "method", "maddr", "transport"] {
            let a = self.params.get(special);
            let b = other.params.get(special);
            match (a, b) {
                (None, None) => {}
                (Some(x), Some(y)) => {
                    let x = x.map(percent_decode);
                    let y = y.map(percent_decode);
                    let same = match (&x, &y) {
                        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
                        (None, None) => true,
                        _ => false,
                    };
                    if !same {
                        return false;
                    }
                }
                _ => return false,
            }
        }
        // Other parameters: compared when both sides have the name. A name
        // should appear once (§19.1.1); when a peer repeats one anyway, any
        // of its occurrences may match, which keeps the relation reflexive.
        let same_value = |a: Option<&str>, b: Option<&str>| match (a.map(percent_decode), b.map(percent_decode)) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(&b),
            (None, None) => true,
            _ => false,
        };
        for (name, value) in self.params.iter() {
            let mut theirs = other.params.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).peekable();
            if theirs.peek().is_some() && !theirs.any(|(_, v)| same_value(value, v)) {
                return false;
            }
        }
        // Headers: both must have the same set (compared loosely, as text).
        self.headers.map(percent_decode) == other.headers.map(percent_decode)
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

#[cfg(test)]
mod tests;
