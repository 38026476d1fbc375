//! Digest authentication as a client (RFC 3261 §22.2–22.4, RFC 7616,
//! RFC 2617 §3.2.2, RFC 8760): choose a challenge, compute the response.
//!
//! Server-side digest lives in `sip_proto::digest`; this is the other half,
//! for the REGISTERs and INVITEs we send to carriers.

use sip_msg::{Credentials, HeaderName, Message};
use sip_proto::digest::{client_response, ha1, Algorithm};
use std::collections::VecDeque;
use std::fmt::Write as _;

/// A usable digest challenge, copied out of a 401/407.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub alg: Algorithm,
    /// Was `algorithm=` written in the challenge? Then we echo it (RFC 7616 §3.4).
    pub alg_written: bool,
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// `qop` offered `auth`: answer with qop=auth, cnonce and nc (RFC 7616
    /// §3.4). Otherwise the RFC 2069 form without them (RFC 2617 §3.2.2.1).
    pub qop_auth: bool,
    pub stale: bool,
    /// 407 (Proxy-Authenticate → Proxy-Authorization) rather than 401.
    pub proxy: bool,
}

/// Why no challenge of a 401/407 could be answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Unusable {
    /// No Digest challenge we support (algorithm, qop, or malformed).
    NoSupportedChallenge,
    /// Every supported challenge names another realm than the configured one.
    RealmMismatch { offered: String },
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::NoSupportedChallenge => f.write_str("no supported digest challenge"),
            Unusable::RealmMismatch { offered } => write!(f, "challenge for realm \"{offered}\", not the configured one"),
        }
    }
}

/// Values we copy back into quoted strings must not break out of them
/// (quotes, backslashes) or out of the header line (CR, LF, controls).
fn safe(s: &str) -> bool {
    !s.chars().any(|c| c == '"' || c == '\\' || c.is_control())
}

fn parse_one(value: &str, proxy: bool) -> Option<Challenge> {
    let c = Credentials::parse(value).ok()?;
    if !c.is_digest() {
        return None;
    }
    let p = c.params;
    let alg_name = p.get("algorithm");
    // MD5-sess / SHA-256-sess and SHA-512-256 are not supported: skip them
    // and answer another challenge of the same response (RFC 8760 §2.4).
    let alg = Algorithm::from_name(alg_name)?;
    let realm = p.get("realm")?;
    let nonce = p.get("nonce").filter(|n| !n.is_empty())?;
    let opaque = p.get("opaque");
    if !safe(realm) || !safe(nonce) || !opaque.is_none_or(safe) {
        return None;
    }
    let qop_auth = match p.get("qop") {
        None => false,
        // qop-options is a quoted, comma-separated list (RFC 7616 §3.3).
        Some(q) => {
            if q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")) {
                true
            } else {
                // auth-int only: we do not hash bodies.
                return None;
            }
        }
    };
    let stale = p.get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true"));
    Some(Challenge {
        alg,
        alg_written: alg_name.is_some(),
        realm: realm.to_owned(),
        nonce: nonce.to_owned(),
        opaque: opaque.map(str::to_owned),
        qop_auth,
        stale,
        proxy,
    })
}

/// Pick the challenge to answer in a 401 (WWW-Authenticate) or 407
/// (Proxy-Authenticate): SHA-256 when offered, else MD5 (RFC 8760 §2.4:
/// the client uses the strongest algorithm it supports). `realm`, when
/// configured, must match.
pub(crate) fn pick(resp: &Message, realm: Option<&str>) -> Result<Challenge, Unusable> {
    let proxy = resp.status() == Some(407);
    let header = if proxy { HeaderName::ProxyAuthenticate } else { HeaderName::WwwAuthenticate };
    let mut best: Option<Challenge> = None;
    let mut offered: Option<String> = None;
    // One challenge per header line; a line cannot be split into several
    // challenges reliably because Digest parameters are comma-separated too.
    for line in resp.get_all(header) {
        let Some(ch) = parse_one(line, proxy) else { continue };
        if let Some(want) = realm {
            if ch.realm != want {
                offered.get_or_insert_with(|| ch.realm.clone());
                continue;
            }
        }
        let better = match &best {
            None => true,
            Some(b) => b.alg == Algorithm::Md5 && ch.alg == Algorithm::Sha256,
        };
        if better {
            best = Some(ch);
        }
    }
    match (best, offered) {
        (Some(b), _) => Ok(b),
        (None, Some(offered)) => Err(Unusable::RealmMismatch { offered }),
        (None, None) => Err(Unusable::NoSupportedChallenge),
    }
}

/// Escape a value for a quoted-string (RFC 3261 §25.1 quoted-pair).
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// The Authorization / Proxy-Authorization header for `ch`.
///
/// With qop=auth: `response = H(HA1:nonce:nc:cnonce:auth:HA2)` (RFC 7616
/// §3.4.1); without qop, the RFC 2069 form `H(HA1:nonce:HA2)` and no
/// cnonce/nc (RFC 2617 §3.2.2.1). `HA1 = H(user:realm:password)`,
/// `HA2 = H(method:uri)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn authorization(ch: &Challenge, user: &str, password: &str, method: &str, uri: &str, nc: u32, cnonce: &str) -> (HeaderName, String) {
    let h1 = ha1(ch.alg, user, &ch.realm, password);
    let response = if ch.qop_auth {
        client_response(ch.alg, &h1, &ch.nonce, nc, cnonce, method, uri)
    } else {
        let h2 = ch.alg.hash(format!("{method}:{uri}").as_bytes());
        ch.alg.hash(format!("{h1}:{}:{h2}", ch.nonce).as_bytes())
    };
    let mut v = String::with_capacity(256);
    let _ = write!(
        v,
        "Digest username={}, realm=\"{}\", nonce=\"{}\", uri={}, response=\"{response}\"",
        quote(user),
        ch.realm,
        ch.nonce,
        quote(uri)
    );
    if ch.alg_written || ch.alg != Algorithm::Md5 {
        let _ = write!(v, ", algorithm={}", ch.alg.name());
    }
    if ch.qop_auth {
        let _ = write!(v, ", cnonce=\"{cnonce}\", qop=auth, nc={nc:08x}");
    }
    if let Some(o) = &ch.opaque {
        let _ = write!(v, ", opaque=\"{o}\"");
    }
    let name = if ch.proxy { HeaderName::ProxyAuthorization } else { HeaderName::Authorization };
    (name, v)
}

/// Client nonces: `cnonce` guards the client against chosen-plaintext
/// attacks by the server (RFC 7616 §5.12), so it must vary and should be
/// hard to predict. We read no clock or OS random source: the values are
/// hashes of a seed (mixed with the endpoint's random generator when one is
/// at hand) and a counter.
#[derive(Clone, Debug)]
pub(crate) struct Cnonces {
    seed: String,
    counter: u64,
}

impl Cnonces {
    pub fn new(seed: &str) -> Cnonces {
        Cnonces { seed: Algorithm::Sha256.hash(seed.as_bytes()), counter: 0 }
    }

    /// Mix more entropy into the seed.
    pub fn mix(&mut self, more: &str) {
        self.seed = Algorithm::Sha256.hash(format!("{}:{more}", self.seed).as_bytes());
    }

    pub fn next(&mut self) -> String {
        self.counter += 1;
        let h = Algorithm::Sha256.hash(format!("{}:{}", self.seed, self.counter).as_bytes());
        h[..16].to_owned()
    }
}

/// Nonce counts of nonces we answered (RFC 7616 §3.4: the nc of a nonce
/// increases every time the client uses it again). Bounded.
#[derive(Clone, Debug, Default)]
pub(crate) struct NonceCounts {
    seen: VecDeque<(String, u32)>,
}

impl NonceCounts {
    const MAX: usize = 16;

    /// The nc to send with `nonce` now.
    pub fn next(&mut self, nonce: &str) -> u32 {
        if let Some(i) = self.seen.iter().position(|(n, _)| n == nonce) {
            if let Some(e) = self.seen.get_mut(i) {
                e.1 = e.1.saturating_add(1);
                return e.1;
            }
        }
        if self.seen.len() >= Self::MAX {
            self.seen.pop_front();
        }
        self.seen.push_back((nonce.to_owned(), 1));
        1
    }
}

#[cfg(test)]
mod tests;
