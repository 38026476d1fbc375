use crate::error::ParseError;
use crate::params::Params;
use crate::scan::{is_lws, is_token, trim};
use crate::uri::Host;
use crate::HeaderName;

const E: HeaderName = HeaderName::Via;

/// One Via value (RFC 3261 §20.42): `SIP/2.0/UDP host:port;branch=...`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Via<'a> {
    protocol: &'a str,
    version: &'a str,
    transport: &'a str,
    host: Host<'a>,
    host_raw: &'a str,
    port: Option<u16>,
    params: Params<'a>,
}

fn lws_split<'a>(s: &'a str, sep: u8) -> Option<(&'a str, &'a str)> {
    let i = s.bytes().position(|b| b == sep)?;
    Some((trim(&s[..i]), trim(&s[i + 1..])))
}

impl<'a> Via<'a> {
    /// Parse one Via value.
    pub fn parse(s: &'a str) -> Result<Via<'a>, ParseError> {
        let s = trim(s);
        let (protocol, rest) = lws_split(s, b'/').ok_or(ParseError::BadHeaderValue { header: E, reason: "no protocol" })?;
        let (version, rest) = lws_split(rest, b'/').ok_or(ParseError::BadHeaderValue { header: E, reason: "no version" })?;
        // transport ends at LWS
        let t_end = rest.bytes().position(is_lws).ok_or(ParseError::BadHeaderValue { header: E, reason: "no sent-by" })?;
        let transport = &rest[..t_end];
        if !is_token(protocol) || !is_token(version) || !is_token(transport) {
            return Err(ParseError::BadHeaderValue { header: E, reason: "bad sent-protocol" });
        }
        let rest = trim(&rest[t_end..]);
        let (sent_by, params) = match rest.find(';') {
            Some(i) => (trim(&rest[..i]), Params::new(&rest[i..])),
            None => (rest, Params::EMPTY),
        };
        // sent-by = host [ COLON port ]; LWS is allowed around the colon.
        let (h, p) = if sent_by.starts_with('[') {
            let close = sent_by.find(']').ok_or(ParseError::BadHeaderValue { header: E, reason: "unterminated IPv6 reference" })?;
            let after = trim(&sent_by[close + 1..]);
            let port = match after.strip_prefix(':') {
                Some(p) => Some(trim(p)),
                None if after.is_empty() => None,
                None => return Err(ParseError::BadHeaderValue { header: E, reason: "garbage after host" }),
            };
            (&sent_by[..=close], port)
        } else {
            match sent_by.rfind(':') {
                Some(i) => (trim(&sent_by[..i]), Some(trim(&sent_by[i + 1..]))),
                None => (sent_by, None),
            }
        };
        if h.bytes().any(is_lws) {
            return Err(ParseError::BadHeaderValue { header: E, reason: "whitespace in sent-by" });
        }
        let host = Host::parse(h).map_err(|e| e.for_header(E))?;
        let port = match p {
            None => None,
            Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse::<u16>().map_err(|_| ParseError::BadHeaderValue { header: E, reason: "port out of range" })?)
            }
            Some(_) => return Err(ParseError::BadHeaderValue { header: E, reason: "bad port" }),
        };
        let host_raw = h;
        if !params.well_formed() {
            return Err(ParseError::BadHeaderValue { header: E, reason: "bad parameter" });
        }
        Ok(Via { protocol, version, transport, host, host_raw, port, params })
    }

    /// `SIP` normally.
    pub fn protocol(&self) -> &'a str {
        self.protocol
    }
    /// `2.0` normally.
    pub fn version(&self) -> &'a str {
        self.version
    }
    /// `UDP`, `TCP`, `TLS`, `WS`, `WSS`, `SCTP`, as written.
    pub fn transport(&self) -> &'a str {
        self.transport
    }
    /// sent-by host.
    pub fn host(&self) -> Host<'a> {
        self.host
    }
    /// sent-by host as written.
    pub fn host_str(&self) -> &'a str {
        self.host_raw
    }
    /// sent-by port, if written.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// All parameters.
    pub fn params(&self) -> Params<'a> {
        self.params
    }
    /// `branch` parameter.
    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch").flatten()
    }
    /// `received` parameter (RFC 3261 §18.2.1).
    pub fn received(&self) -> Option<&'a str> {
        self.params.get("received").flatten()
    }
    /// `rport` (RFC 3581): `Some(None)` when present without a value.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params.get("rport").map(|v| v.and_then(|p| p.parse().ok()))
    }
    /// `maddr` parameter.
    pub fn maddr(&self) -> Option<&'a str> {
        self.params.get("maddr").flatten()
    }
    /// Does the branch carry the RFC 3261 magic cookie (`z9hG4bK`)?
    pub fn is_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with("z9hG4bK"))
    }
    /// Is the transport reliable (anything but UDP)?
    pub fn is_reliable(&self) -> bool {
        !self.transport.eq_ignore_ascii_case("UDP")
    }
}
