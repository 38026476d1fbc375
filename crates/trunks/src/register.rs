//! Outbound registration: the REGISTER client of one gateway
//! (RFC 3261 §10.2), with digest answers (§22.2), 423 handling (§10.2.8),
//! refresh (§10.2.1.1, §10.2.4) and back-off after failures.
//!
//! The state diagram is on [`RegState`].

use crate::client_auth::{self, Challenge, Cnonces, NonceCounts};
use crate::config::{uri_host, GatewayConfig, RegisterConfig};
use sip_msg::{HeaderName, Message, Method, RetryAfter, Uri};
use sip_proto::{Endpoint, Peer, Transport, TxId};
use std::time::{Duration, Instant};

/// Registration state of a gateway, as shown to operators.
///
/// ```text
///                 set_gateways
///                      │
///                      ▼            2xx (expiry E)
///                Registering ─────────────────────────▶ Registered ◀──┐
///                  │      ▲                               │    │      │ 2xx
///   final ≠ 2xx,   │      │ 401/407: answer the challenge │    │      │
///   timeout,       │      │ 423: ask Min-Expires          │    └──────┘
///   bad challenge  │      └───────── (same cycle)         │  refresh at
///                  ▼                                      │  min(0.85·E, E−5 s),
///                Failed ◀─────────────────────────────────┘  at least 1 s ahead
///              (code, retry in 2, 4, 8 … 300 s, or Retry-After)
///                  │
///                  └── retry: a new cycle; a 2xx makes it Registered
/// ```
///
/// One cycle is one REGISTER plus the immediate re-sends it provokes
/// (credentials, Min-Expires), bounded. Credentials already sent in answer
/// to a challenge that meet a new challenge without `stale=true` mean the
/// password is wrong (RFC 7616 §3.4: stale=true alone says the nonce, not
/// the password, was the problem). A cached challenge is reused on
/// refreshes with an increasing nonce-count; a challenge to such reused
/// credentials is simply answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegState {
    /// The gateway does not register (IP-authenticated trunk).
    Disabled,
    /// A REGISTER is on its way and no registration is in force.
    Registering,
    /// The registrar accepted us; the binding lasts `expires_in_secs` more
    /// (a refresh is sent well before).
    Registered {
        /// Seconds until the binding expires at the registrar.
        expires_in_secs: u64,
    },
    /// The last attempt failed; the next one is in `retry_in_secs` (0: in
    /// progress).
    Failed {
        /// Status code of the failure; 0 for no answer (Timer F, transport
        /// error) or a request that could not be sent.
        code: u16,
        /// Seconds until the next attempt.
        retry_in_secs: u64,
    },
}

impl RegState {
    /// `disabled` | `registering` | `registered` | `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RegState::Disabled => "disabled",
            RegState::Registering => "registering",
            RegState::Registered { .. } => "registered",
            RegState::Failed { .. } => "failed",
        }
    }
}

/// Longest back-off between attempts.
const MAX_BACKOFF_SECS: u64 = 300;
/// Bounds on what a registrar may make us wait or keep.
const MAX_RETRY_AFTER_SECS: u64 = 3600;
const MAX_EXPIRES_SECS: u32 = 365 * 24 * 3600;
/// Requests in one cycle (first + credentials + stale retry + 423s).
const MAX_CHAIN: u8 = 5;
/// Period asked for when the configuration says 0.
const DEFAULT_EXPIRES: u32 = 3600;

/// Back-off after the `n`th consecutive failure: 2, 4, 8 … capped at 300 s.
pub(crate) fn backoff(n: u32) -> Duration {
    let secs = 1u64.checked_shl(n.min(20)).unwrap_or(u64::MAX).min(MAX_BACKOFF_SECS);
    Duration::from_secs(secs.max(1))
}

/// When to refresh a binding of `expires` seconds registered by a request
/// sent at `sent_at`: at 85 % of it, at least 5 s before it expires, and
/// never less than 1 s from `now` (RFC 3261 §10.2.4 leaves the margin to us).
pub(crate) fn refresh_at(sent_at: Instant, now: Instant, expires: u32) -> Instant {
    let e_ms = u64::from(expires) * 1000;
    let at = (e_ms * 85 / 100).min(e_ms.saturating_sub(5000));
    (sent_at + Duration::from_millis(at)).max(now + Duration::from_secs(1))
}

/// Escape a user part (RFC 3261 §25.1: unreserved / escaped / user-unreserved).
fn escape_user(u: &str) -> String {
    let mut s = String::with_capacity(u.len());
    for b in u.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fn transport_param(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "",
        Transport::Tcp => ";transport=tcp",
        Transport::Tls => ";transport=tls",
        Transport::Ws => ";transport=ws",
        Transport::Wss => ";transport=wss",
    }
}

/// What identifies a binding: the registrar, the address-of-record, our
/// Contact, and the Call-ID/From tag that stay the same for every
/// REGISTER of it (RFC 3261 §10.2: the same Call-ID for all registrations
/// of a UA during a boot cycle, so the registrar can order them by CSeq).
#[derive(Clone)]
pub(crate) struct Ident {
    peer: Peer,
    host: String,
    user: String,
    password: String,
    realm: Option<String>,
    contact_uri: String,
    call_id: String,
    tag: String,
}

/// Debug output leaves the password out.
impl std::fmt::Debug for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ident")
            .field("peer", &self.peer)
            .field("host", &self.host)
            .field("user", &self.user)
            .field("realm", &self.realm)
            .field("contact_uri", &self.contact_uri)
            .field("call_id", &self.call_id)
            .finish_non_exhaustive()
    }
}

impl Ident {
    /// The address-of-record: user and registrar host.
    fn aor(&self) -> (&str, &str) {
        (&self.user, &self.host)
    }

    pub fn new(gw: &GatewayConfig, reg: &RegisterConfig, contact_host: &str, call_id: String, tag: String) -> Ident {
        let user = escape_user(&reg.username);
        Ident {
            peer: gw.peer(),
            host: uri_host(&gw.domain),
            user: reg.username.clone(),
            password: reg.password.clone(),
            realm: reg.realm.clone(),
            contact_uri: format!("sip:{user}@{contact_host}{}", transport_param(gw.transport)),
            call_id,
            tag,
        }
    }

    fn request_uri(&self) -> String {
        format!("sip:{}", self.host)
    }

    /// The REGISTER (RFC 3261 §10.2): the endpoint adds Via and Content-Length is always printed.
    fn build(&self, cseq: u32, expires: u32, auth: Option<(HeaderName, String)>, user_agent: &str) -> Message {
        let mut m = Message::request(Method::Register, &self.request_uri());
        let aor = format!("<sip:{}@{}>", escape_user(&self.user), self.host);
        m.push(HeaderName::MaxForwards, "70");
        m.push(HeaderName::From, &format!("{aor};tag={}", self.tag));
        m.push(HeaderName::To, &aor);
        m.push(HeaderName::CallId, &self.call_id);
        m.push(HeaderName::CSeq, &format!("{cseq} REGISTER"));
        if expires == 0 {
            m.push(HeaderName::Contact, &format!("<{}>;expires=0", self.contact_uri));
        } else {
            m.push(HeaderName::Contact, &format!("<{}>", self.contact_uri));
        }
        m.push(HeaderName::Expires, &expires.to_string());
        if let Some((h, v)) = auth {
            m.push(h, &v);
        }
        m.push(HeaderName::UserAgent, user_agent);
        m.push(HeaderName::ContentLength, "0");
        m
    }

    fn credentials(&self, ch: &Challenge, nonces: &mut NonceCounts, cnonces: &mut Cnonces) -> (HeaderName, String) {
        let nc = nonces.next(&ch.nonce);
        client_auth::authorization(ch, &self.user, &self.password, "REGISTER", &self.request_uri(), nc, &cnonces.next())
    }

    /// The expiry the registrar granted us in a 2xx: the `expires` parameter
    /// of our Contact, else the Expires header, else what we asked
    /// (RFC 3261 §10.2.4).
    fn granted(&self, resp: &Message, asked: u32) -> u32 {
        let ours = Uri::parse(&self.contact_uri).ok();
        for c in resp.contacts().filter_map(|c| c.ok().flatten()) {
            let u = c.uri();
            let same = ours.is_some_and(|o| {
                u.equivalent(&o) || (u.user() == o.user() && u.host_str().eq_ignore_ascii_case(o.host_str()) && u.port() == o.port())
            });
            if same {
                if let Some(e) = c.params().get("expires").flatten().and_then(parse_delta) {
                    return e;
                }
                break;
            }
        }
        resp.expires().ok().flatten().unwrap_or(asked)
    }
}

fn parse_delta(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Overlong delta-seconds are clamped, not refused (RFC 3261 §20.19).
    Some(s.parse::<u64>().map(|n| n.min(u64::from(u32::MAX)) as u32).unwrap_or(u32::MAX))
}

/// Credentials carried by the REGISTER in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Creds {
    None,
    /// From a cached challenge, not in answer to one.
    Reused,
    /// In answer to the challenge in the previous response.
    Answer { stale_retried: bool },
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    tx: TxId,
    sent_at: Instant,
    expires: u32,
    creds: Creds,
    /// Requests sent in this cycle so far.
    chain: u8,
    /// The configuration changed while this was in flight: disregard its
    /// outcome and send a REGISTER with the new one.
    superseded: bool,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Wait { due: Instant },
    InFlight(Pending),
}

#[derive(Clone, Copy, Debug)]
enum Standing {
    Registering,
    Registered { expires_at: Instant },
    Failed { code: u16, retry_at: Instant },
}

/// Per-call context the registration needs from [`crate::Trunks`].
pub(crate) struct Ctx<'a> {
    pub user_agent: &'a str,
    pub cnonces: &'a mut Cnonces,
}

/// The REGISTER client of one gateway.
#[derive(Debug)]
pub(crate) struct Registration {
    ident: Ident,
    cseq: u32,
    interval: u32,
    standing: Standing,
    phase: Phase,
    failures: u32,
    challenge: Option<Challenge>,
    nonces: NonceCounts,
    last_error: Option<String>,
}

/// The part of a gateway's configuration that names the binding: when it
/// changes, the old binding is removed and a new one made.
pub(crate) fn same_binding(a: &GatewayConfig, b: &GatewayConfig) -> bool {
    let user = |g: &GatewayConfig| g.register.as_ref().map(|r| r.username.clone());
    (a.proxy, a.transport, &a.domain, user(a)) == (b.proxy, b.transport, &b.domain, user(b))
}

impl Registration {
    /// A registration whose first REGISTER is due at once.
    pub fn new(now: Instant, ep: &mut Endpoint, gw: &GatewayConfig, reg: &RegisterConfig, contact_host: &str) -> Registration {
        let ident = Ident::new(gw, reg, contact_host, ep.new_call_id(), ep.new_tag());
        Registration {
            ident,
            cseq: 0,
            interval: if reg.expires == 0 { DEFAULT_EXPIRES } else { reg.expires },
            standing: Standing::Registering,
            phase: Phase::Wait { due: now },
            failures: 0,
            challenge: None,
            nonces: NonceCounts::default(),
            last_error: None,
        }
    }

    /// New credentials or period for the same binding: keep Call-ID and
    /// CSeq (the registrar orders our requests by them), forget the cached
    /// challenge and back-off, and register again at once (after the
    /// request in flight, if any: never two at a time).
    pub fn reconfigure(&mut self, now: Instant, gw: &GatewayConfig, reg: &RegisterConfig, contact_host: &str) {
        self.ident = Ident::new(gw, reg, contact_host, self.ident.call_id.clone(), self.ident.tag.clone());
        self.interval = if reg.expires == 0 { DEFAULT_EXPIRES } else { reg.expires };
        self.challenge = None;
        self.failures = 0;
        match &mut self.phase {
            Phase::Wait { due } => *due = now,
            Phase::InFlight(p) => p.superseded = true,
        }
    }

    pub fn state(&self, now: Instant) -> RegState {
        match self.standing {
            Standing::Registering => RegState::Registering,
            Standing::Registered { expires_at } if now < expires_at => {
                RegState::Registered { expires_in_secs: (expires_at - now).as_secs() }
            }
            // The binding lapsed while a refresh is still out.
            Standing::Registered { .. } => RegState::Registering,
            Standing::Failed { code, retry_at } => {
                let left = retry_at.saturating_duration_since(now);
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                RegState::Failed { code, retry_in_secs: secs }
            }
        }
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The address-of-record registered.
    pub fn aor(&self) -> (&str, &str) {
        self.ident.aor()
    }

    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Wait { due } => Some(due),
            Phase::InFlight(_) => None,
        }
    }

    pub fn in_flight(&self) -> Option<TxId> {
        match self.phase {
            Phase::InFlight(p) => Some(p.tx),
            Phase::Wait { .. } => None,
        }
    }

    /// Is a binding in force (or being refreshed) at the registrar?
    fn is_registered(&self, now: Instant) -> bool {
        matches!(self.standing, Standing::Registered { expires_at } if now < expires_at)
    }

    /// Send the REGISTER that is due, if any.
    pub fn on_timeout(&mut self, now: Instant, ep: &mut Endpoint, ctx: &mut Ctx<'_>) -> Option<TxId> {
        match self.phase {
            Phase::Wait { due } if due <= now => {
                let creds = if self.challenge.is_some() { Creds::Reused } else { Creds::None };
                self.send(now, ep, ctx, creds, 1)
            }
            _ => None,
        }
    }

    fn send(&mut self, now: Instant, ep: &mut Endpoint, ctx: &mut Ctx<'_>, creds: Creds, chain: u8) -> Option<TxId> {
        self.cseq = self.cseq.wrapping_add(1);
        let auth = match (creds, &self.challenge) {
            (Creds::None, _) | (_, None) => None,
            (_, Some(ch)) => Some(self.ident.credentials(ch, &mut self.nonces, ctx.cnonces)),
        };
        let creds = if auth.is_some() { creds } else { Creds::None };
        let m = self.ident.build(self.cseq, self.interval, auth, ctx.user_agent);
        match ep.send_request(now, m, self.ident.peer) {
            Ok(tx) => {
                self.phase = Phase::InFlight(Pending { tx, sent_at: now, expires: self.interval, creds, chain, superseded: false });
                Some(tx)
            }
            Err(e) => {
                self.fail(now, 0, format!("REGISTER not sent: {e}"), None);
                None
            }
        }
    }

    fn fail(&mut self, now: Instant, code: u16, error: String, retry_after: Option<u32>) {
        self.failures = self.failures.saturating_add(1);
        let delay = match retry_after {
            Some(s) => Duration::from_secs(u64::from(s).clamp(1, MAX_RETRY_AFTER_SECS)),
            None => backoff(self.failures),
        };
        let retry_at = now + delay;
        self.standing = Standing::Failed { code, retry_at };
        self.phase = Phase::Wait { due: retry_at };
        self.last_error = Some(error);
    }

    /// A response to the REGISTER `tx`; returns a new transaction when one
    /// was sent in answer (credentials, Min-Expires, superseding config).
    /// The caller has checked `tx` is ours ([`Registration::in_flight`]).
    pub fn on_response(&mut self, now: Instant, ep: &mut Endpoint, ctx: &mut Ctx<'_>, tx: TxId, resp: &Message) -> Option<TxId> {
        let Phase::InFlight(p) = self.phase else { return None };
        let code = resp.status()?;
        if p.tx != tx || code < 200 {
            return None;
        }
        if p.superseded {
            let creds = if self.challenge.is_some() { Creds::Reused } else { Creds::None };
            return self.send(now, ep, ctx, creds, 1);
        }
        let reason = resp.reason().unwrap_or("");
        match code {
            200..=299 => {
                let granted = self.ident.granted(resp, p.expires).min(MAX_EXPIRES_SECS);
                if granted == 0 {
                    self.fail(now, code, format!("REGISTER {code} {reason} kept no binding (expires 0)"), None);
                    return None;
                }
                self.failures = 0;
                self.last_error = None;
                let expires_at = p.sent_at + Duration::from_secs(u64::from(granted));
                self.standing = Standing::Registered { expires_at };
                self.phase = Phase::Wait { due: refresh_at(p.sent_at, now, granted) };
                None
            }
            401 | 407 => {
                if p.chain >= MAX_CHAIN {
                    self.fail(now, code, format!("REGISTER {code}: too many challenges"), None);
                    return None;
                }
                let ch = match client_auth::pick(resp, self.ident.realm.as_deref()) {
                    Ok(ch) => ch,
                    Err(e) => {
                        self.fail(now, code, format!("REGISTER {code} {reason}: {e}"), None);
                        return None;
                    }
                };
                let creds = match p.creds {
                    Creds::None | Creds::Reused => Creds::Answer { stale_retried: false },
                    Creds::Answer { stale_retried: false } if ch.stale => Creds::Answer { stale_retried: true },
                    Creds::Answer { .. } => {
                        self.challenge = None;
                        self.fail(now, code, format!("REGISTER {code} {reason}: credentials refused"), None);
                        return None;
                    }
                };
                self.challenge = Some(ch);
                self.send(now, ep, ctx, creds, p.chain + 1)
            }
            423 => {
                // RFC 3261 §10.2.8: ask again with at least Min-Expires.
                match resp.min_expires().ok().flatten() {
                    Some(min) if min > p.expires && p.chain < MAX_CHAIN => {
                        self.interval = min.min(MAX_EXPIRES_SECS);
                        let creds = if self.challenge.is_some() { Creds::Reused } else { Creds::None };
                        self.send(now, ep, ctx, creds, p.chain + 1)
                    }
                    _ => {
                        self.fail(now, code, format!("REGISTER {code} {reason} without a usable Min-Expires"), None);
                        None
                    }
                }
            }
            _ => {
                let retry_after = resp.get(HeaderName::RetryAfter).and_then(|v| RetryAfter::parse(v).ok()).map(|r| r.seconds);
                self.fail(now, code, format!("REGISTER {code} {reason}"), retry_after);
                None
            }
        }
    }

    /// Timer F or a transport error for the REGISTER `tx`.
    pub fn on_failure(&mut self, now: Instant, ep: &mut Endpoint, ctx: &mut Ctx<'_>, tx: TxId, what: &str) -> Option<TxId> {
        let Phase::InFlight(p) = self.phase else { return None };
        if p.tx != tx {
            return None;
        }
        if p.superseded {
            let creds = if self.challenge.is_some() { Creds::Reused } else { Creds::None };
            return self.send(now, ep, ctx, creds, 1);
        }
        self.fail(now, 0, format!("REGISTER {what}"), None);
        None
    }

    /// Leave: when a binding is in force, send an un-REGISTER (Expires: 0,
    /// RFC 3261 §10.2.2) and hand back what is needed to answer one
    /// challenge to it. The REGISTER in flight, if any, is the caller's to
    /// forget.
    pub fn unregister(self, now: Instant, ep: &mut Endpoint, ctx: &mut Ctx<'_>) -> Option<(TxId, Leaving)> {
        if !self.is_registered(now) {
            return None;
        }
        let mut l = Leaving { ident: self.ident, cseq: self.cseq, challenge: self.challenge, nonces: self.nonces, answered: false };
        let tx = l.send(now, ep, ctx)?;
        Some((tx, l))
    }
}

/// An un-REGISTER on its way: fire and forget, except that one challenge is
/// answered (carriers challenge un-REGISTERs like any REGISTER).
#[derive(Debug)]
pub(crate) struct Leaving {
    ident: Ident,
    cseq: u32,
    challenge: Option<Challenge>,
    nonces: NonceCounts,
    answered: bool,
}

impl Leaving {
    /// The address-of-record being unregistered.
    pub fn aor(&self) -> (&str, &str) {
        self.ident.aor()
    }

    fn send(&mut self, now: Instant, ep: &mut Endpoint, ctx: &mut Ctx<'_>) -> Option<TxId> {
        self.cseq = self.cseq.wrapping_add(1);
        let auth = self.challenge.as_ref().map(|ch| self.ident.credentials(ch, &mut self.nonces, ctx.cnonces));
        let m = self.ident.build(self.cseq, 0, auth, ctx.user_agent);
        ep.send_request(now, m, self.ident.peer).ok()
    }

    /// A final response; returns the new transaction if a challenge was answered.
    pub fn on_response(&mut self, now: Instant, ep: &mut Endpoint, ctx: &mut Ctx<'_>, resp: &Message) -> Option<TxId> {
        let code = resp.status()?;
        if self.answered || !(code == 401 || code == 407) {
            return None;
        }
        let ch = client_auth::pick(resp, self.ident.realm.as_deref()).ok()?;
        self.answered = true;
        self.challenge = Some(ch);
        self.send(now, ep, ctx)
    }
}

#[cfg(test)]
mod tests;
