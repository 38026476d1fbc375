//! HTTP Digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760):
//! MD5 and SHA-256 challenges offered together, qop=auth, self-validating
//! nonces with a lifetime (stale=true after it), and nonce-count replay
//! protection. Credentials are only ever HA1 values.
//!
//! Nonces are `hex(issued_ms ‖ counter) ‖ hex(HMAC-SHA256(secret, that ‖ realm)[..12])`:
//! the server keeps no state per challenge, only the highest nonce-count
//! seen per nonce actually used, in a fixed table indexed by the nonce's
//! counter (no allocation per REGISTER; a nonce pushed out of it is
//! answered stale).

use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest as _, Sha256};
use sip_msg::Credentials;
use subtle::ConstantTimeEq;

/// Digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// MD5 (RFC 2617, still what most phones use).
    Md5,
    /// SHA-256 (RFC 7616, RFC 8760).
    Sha256,
}

impl Algorithm {
    /// Name in headers.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }
    /// Parse a header value (absent means MD5).
    pub fn from_name(s: Option<&str>) -> Option<Algorithm> {
        match s {
            None => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            _ => None,
        }
    }
    /// Hex digest of `data`.
    pub fn hash(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data)),
            Algorithm::Sha256 => hex(&Sha256::digest(data)),
        }
    }
}

fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

/// HA1 = H(username:realm:password).
pub fn ha1(alg: Algorithm, user: &str, realm: &str, password: &str) -> String {
    alg.hash(format!("{user}:{realm}:{password}").as_bytes())
}

/// Stored credentials of one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ha1s {
    /// MD5 HA1.
    pub md5: String,
    /// SHA-256 HA1.
    pub sha256: String,
}

/// Why credentials were refused. A caller answers all of these the same
/// way (a fresh challenge), so users cannot be enumerated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Not a Digest header, or required fields missing.
    Malformed,
    /// Algorithm we did not offer, or qop other than auth.
    Unsupported,
    /// Realm is not ours.
    WrongRealm,
    /// The nonce was not issued by us.
    ForgedNonce,
    /// Nonce-count not above the last one seen for this nonce.
    Replay,
    /// Unknown user, disabled user, or wrong password (deliberately one case).
    BadCredentials,
}

/// Outcome of checking credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated as `user`.
    Ok {
        /// The username.
        user: String,
    },
    /// The response was right but the nonce expired: challenge with stale=true.
    Stale,
    /// The response was right, with the same nonce-count as the last one
    /// accepted for this nonce: a retransmission of that request (or a
    /// replay of it). Not an authentication; a caller that can tell the
    /// request is a retransmission of one it already served (a REGISTER
    /// answered statelessly) may answer it as before, any other refuses
    /// it as a replay.
    Repeated {
        /// The username.
        user: String,
    },
    /// Refused.
    Refused(Refusal),
}

type HmacSha256 = Hmac<Sha256>;

/// Issues challenges and verifies credentials for one realm.
pub struct DigestServer {
    realm: String,
    secret: [u8; 32],
    nonce_ttl_ms: u64,
    counter: u32,
    /// Highest nonce-count accepted per nonce, as `(counter, nc)` in the
    /// slot `counter % NC_SLOTS` (nc 0: unused). Fixed memory and no
    /// allocation per challenge; a nonce whose slot a newer one took is
    /// answered stale, so the client retries with a fresh nonce.
    nc: Vec<(u32, u32)>,
    offer: Vec<Algorithm>,
}

/// Nonces whose nonce-counts are remembered: the last 524,288 issued
/// (4 MB, committed as used; 87 minutes of challenges at 100 a second).
const NC_SLOTS: usize = 1 << 19;

impl DigestServer {
    /// A server for `realm`. `secret` must be random (the driver supplies it).
    pub fn new(realm: &str, secret: [u8; 32], nonce_ttl_ms: u64) -> DigestServer {
        DigestServer {
            realm: realm.to_owned(),
            secret,
            nonce_ttl_ms,
            counter: 0,
            nc: vec![(0, 0); NC_SLOTS],
            offer: vec![Algorithm::Md5, Algorithm::Sha256],
        }
    }

    /// Which algorithms to challenge with, most preferred first (RFC 8760
    /// §2.4). The default lists MD5 first: many deployed phones and sipp
    /// answer only the first challenge and know only MD5. Operators whose
    /// phones all support SHA-256 put it first. Credentials for any offered
    /// algorithm are accepted; an empty list keeps the current one.
    pub fn with_algorithms(mut self, algs: &[Algorithm]) -> DigestServer {
        if !algs.is_empty() {
            self.offer = algs.to_vec();
        }
        self
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn mac(&self, body: &str) -> String {
        let Ok(mut m) = HmacSha256::new_from_slice(&self.secret) else { return String::new() };
        m.update(body.as_bytes());
        m.update(b"|");
        m.update(self.realm.as_bytes());
        hex(&m.finalize().into_bytes()[..12])
    }

    /// A new nonce issued at `now_ms` (unix milliseconds).
    pub fn nonce(&mut self, now_ms: u64) -> String {
        self.counter = self.counter.wrapping_add(1);
        let body = format!("{now_ms:012x}{:08x}", self.counter);
        let mac = self.mac(&body);
        format!("{body}{mac}")
    }

    /// Challenge header values, one per offered algorithm in order of
    /// preference (RFC 8760 §2.4), sharing one nonce.
    pub fn challenges(&mut self, now_ms: u64, stale: bool) -> Vec<String> {
        self.challenges_limited(now_ms, stale, false)
    }

    /// Like [`DigestServer::challenges`], but with `md5_only` a single MD5
    /// challenge: for clients known to fail on a challenge list that holds
    /// an algorithm they lack (libre before SHA-256 support rejects the
    /// whole 401 instead of skipping the challenge, against RFC 8760 §2.4).
    pub fn challenges_limited(&mut self, now_ms: u64, stale: bool, md5_only: bool) -> Vec<String> {
        let nonce = self.nonce(now_ms);
        let stale = if stale { ", stale=true" } else { "" };
        self.offer
            .iter()
            .filter(|a| !md5_only || **a == Algorithm::Md5)
            .map(|alg| format!("Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{stale}", self.realm, alg.name()))
            .collect()
    }

    /// Check a nonce; returns its issue time and counter if it is ours.
    fn nonce_parts(&self, nonce: &str) -> Option<(u64, u32)> {
        if nonce.len() != 20 + 24 || !nonce.is_ascii() {
            return None;
        }
        let (body, mac) = nonce.split_at(20);
        if !bool::from(self.mac(body).as_bytes().ct_eq(mac.as_bytes())) {
            return None;
        }
        Some((u64::from_str_radix(&body[..12], 16).ok()?, u32::from_str_radix(&body[12..], 16).ok()?))
    }

    /// Verify `creds` for a request with `method`. `lookup` returns the
    /// user's HA1s (None for unknown or disabled users).
    pub fn verify(&mut self, now_ms: u64, creds: &Credentials<'_>, method: &str, lookup: impl FnOnce(&str) -> Option<Ha1s>) -> Verdict {
        if !creds.is_digest() {
            return Verdict::Refused(Refusal::Malformed);
        }
        let p = creds.params;
        let (Some(user), Some(realm), Some(nonce), Some(uri), Some(response)) =
            (p.get("username"), p.get("realm"), p.get("nonce"), p.get("uri"), p.get("response"))
        else {
            return Verdict::Refused(Refusal::Malformed);
        };
        let Some(alg) = Algorithm::from_name(p.get("algorithm")).filter(|a| self.offer.contains(a)) else {
            return Verdict::Refused(Refusal::Unsupported);
        };
        if realm != self.realm {
            return Verdict::Refused(Refusal::WrongRealm);
        }
        let Some((issued, counter)) = self.nonce_parts(nonce) else {
            return Verdict::Refused(Refusal::ForgedNonce);
        };
        let qop = p.get("qop");
        let (nc, cnonce) = match qop {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let (Some(nc), Some(cnonce)) = (p.get("nc"), p.get("cnonce")) else {
                    return Verdict::Refused(Refusal::Malformed);
                };
                let Ok(n) = u32::from_str_radix(nc, 16) else { return Verdict::Refused(Refusal::Malformed) };
                if nc.len() != 8 || n == 0 {
                    return Verdict::Refused(Refusal::Malformed);
                }
                (Some((nc, n)), Some(cnonce))
            }
            Some(_) => return Verdict::Refused(Refusal::Unsupported),
            // RFC 2069 style without qop: no replay protection possible; refuse.
            None => return Verdict::Refused(Refusal::Unsupported),
        };
        // Always compute a hash, even for unknown users, so timing does not tell.
        let known = lookup(user);
        let ha1 = match (&known, alg) {
            (Some(h), Algorithm::Md5) => h.md5.clone(),
            (Some(h), Algorithm::Sha256) => h.sha256.clone(),
            (None, a) => a.hash(b"unknown:user"),
        };
        let ha2 = alg.hash(format!("{method}:{uri}").as_bytes());
        let expected = match (nc, cnonce) {
            (Some((nc, _)), Some(cn)) => alg.hash(format!("{ha1}:{nonce}:{nc}:{cn}:auth:{ha2}").as_bytes()),
            _ => alg.hash(format!("{ha1}:{nonce}:{ha2}").as_bytes()),
        };
        let right = bool::from(expected.as_bytes().ct_eq(response.to_ascii_lowercase().as_bytes()));
        if known.is_none() || !right {
            return Verdict::Refused(Refusal::BadCredentials);
        }
        if now_ms.saturating_sub(issued) > self.nonce_ttl_ms {
            return Verdict::Stale;
        }
        if let Some((_, n)) = nc {
            let slots = self.nc.len().max(1);
            let Some(slot) = self.nc.get_mut(counter as usize % slots) else { return Verdict::Stale };
            let (held, last) = *slot;
            if last != 0 && held == counter {
                if n == last {
                    return Verdict::Repeated { user: user.to_owned() };
                }
                if n < last {
                    return Verdict::Refused(Refusal::Replay);
                }
            } else if last != 0 && (held.wrapping_sub(counter) as i32) > 0 {
                // A newer nonce took the slot: this one's count is
                // forgotten, so it cannot be trusted again. Stale makes
                // the client retry with a fresh nonce, no password asked.
                return Verdict::Stale;
            }
            *slot = (counter, n);
        }
        Verdict::Ok { user: user.to_owned() }
    }
}

/// Build credentials as a client would (for tests and for outbound registration).
#[allow(clippy::too_many_arguments)]
pub fn client_response(alg: Algorithm, ha1: &str, nonce: &str, nc: u32, cnonce: &str, method: &str, uri: &str) -> String {
    let ha2 = alg.hash(format!("{method}:{uri}").as_bytes());
    alg.hash(format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}").as_bytes())
}

#[cfg(test)]
mod tests;
