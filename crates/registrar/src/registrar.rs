//! REGISTER processing and the location service.

use crate::bans::{BanConfig, Bans, BlockedSource};
use sip_msg::{Credentials, HeaderName, Message, NameAddr, Uri};
use sip_proto::digest::{DigestServer, Ha1s, Verdict};
use sip_proto::{Peer, Transport};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;

/// Registrar policy.
#[derive(Clone, Debug)]
pub struct RegistrarConfig {
    /// Shortest registration accepted (423 below it, RFC 3261 §10.3 step 7).
    pub min_expires: u32,
    /// Longer requests are clamped to this.
    pub max_expires: u32,
    /// Used when neither the contact nor the request says.
    pub default_expires: u32,
    /// Most bindings per address-of-record.
    pub max_contacts: usize,
    /// OPTIONS keep-alive interval for UDP bindings (None: off).
    pub keepalive_ms: Option<u64>,
    /// Brute-force bans.
    pub bans: BanConfig,
    /// User-Agent substrings of clients that get only the MD5 challenge
    /// (they reject a 401 listing an algorithm they do not know).
    pub md5_only_agents: Vec<String>,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 10,
            keepalive_ms: Some(30_000),
            bans: BanConfig::default(),
            md5_only_agents: vec!["baresip v0.".into(), "baresip v1.".into()],
        }
    }
}

/// A user as the registrar needs to know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// Disabled users cannot authenticate.
    pub enabled: bool,
    /// Credentials.
    pub ha1: Ha1s,
}

/// Where users are looked up.
pub trait Directory {
    /// The user, if known.
    fn entry(&self, user: &str) -> Option<&DirectoryEntry>;
}

impl Directory for HashMap<String, DirectoryEntry> {
    fn entry(&self, user: &str) -> Option<&DirectoryEntry> {
        self.get(user)
    }
}

/// One registered contact.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// Address-of-record: the extension number.
    pub aor: String,
    /// Contact URI as registered.
    pub contact: String,
    /// RFC 5626 `+sip.instance`.
    pub instance: Option<String>,
    /// RFC 5626 `reg-id`.
    pub reg_id: Option<u32>,
    /// `q` value as written.
    pub q: Option<String>,
    /// Expiry, unix ms.
    pub expires_at_ms: u64,
    /// Call-ID of the REGISTER that made it.
    pub call_id: String,
    /// Its CSeq.
    pub cseq: u32,
    /// Where the REGISTER came from (address, transport, connection):
    /// requests to the phone go here, which works behind NAT.
    pub source: Peer,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// Path header values (RFC 3327).
    pub path: Vec<String>,
}

impl Binding {
    fn same_key(&self, instance: Option<&str>, reg_id: Option<u32>, uri: &Uri<'_>) -> bool {
        match (instance, reg_id, &self.instance, self.reg_id) {
            (Some(i), Some(r), Some(si), Some(sr)) => i == si && r == sr,
            _ => Uri::parse(&self.contact).is_ok_and(|c| c.equivalent(uri)),
        }
    }
}

/// A change to persist.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Insert or replace a binding.
    Upsert(Binding),
    /// Remove one binding.
    Delete {
        /// Address-of-record.
        aor: String,
        /// Contact URI.
        contact: String,
    },
    /// Remove every binding of an address-of-record.
    DeleteAll {
        /// Address-of-record.
        aor: String,
    },
}

/// What to do with a REGISTER.
#[derive(Debug)]
pub enum Outcome {
    /// Send this reply; nothing changed.
    Reply(Message),
    /// Persist `changes` durably, then send `reply` (send 500 if that fails).
    Commit {
        /// The changes, in order.
        changes: Vec<Change>,
        /// The 200.
        reply: Message,
    },
    /// The source is banned: send nothing.
    Ignore,
}

/// Result of authenticating a non-REGISTER request.
#[derive(Debug)]
pub enum AuthOutcome {
    /// Authenticated as this user.
    Authenticated(String),
    /// Send this challenge (401/407).
    Challenge(Message),
    /// The source is banned: send nothing.
    Ignore,
}

/// Credentials that repeat the last accepted nonce-count of their nonce:
/// the user they name. Answered with a fresh challenge unless the caller
/// finds the request to be a retransmission it already served.
struct Repeat {
    user: String,
}

/// A keep-alive OPTIONS to send.
#[derive(Clone, Debug, PartialEq)]
pub struct PingDue {
    /// Address-of-record.
    pub aor: String,
    /// Contact URI (the Request-URI of the OPTIONS).
    pub contact: String,
    /// Where to send it.
    pub dest: Peer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Expire,
    Ping,
}

/// The registrar.
pub struct Registrar {
    cfg: RegistrarConfig,
    digest: DigestServer,
    bindings: HashMap<String, Vec<Binding>>,
    bans: Bans,
    schedule: BinaryHeap<Reverse<(u64, Due, String, String)>>,
    next_ping: HashMap<(String, String), u64>,
    /// REGISTERs answered 200 in the last [`APPLIED_FOR_MS`] (address-of-
    /// record, Call-ID, CSeq, Via branch), oldest first, and the same as a
    /// set: a retransmission of one (the same nonce-count too) is answered
    /// 200 again rather than challenged as a replay, so the 200 can be sent
    /// statelessly. Kept by time, not a few per address-of-record: one
    /// device re-registering hundreds of times a second (a load test) had
    /// pushed a REGISTER whose 200 was lost out of a per-record list before
    /// its retransmission came. Memory only.
    applied: VecDeque<(u64, AppliedKey)>,
    applied_keys: HashSet<AppliedKey>,
}

/// (address-of-record, Call-ID, CSeq, Via branch) of a REGISTER.
type AppliedKey = (String, String, u32, String);

/// How long a REGISTER answered 200 is recognised when retransmitted:
/// Timer F (64 × T1, RFC 3261 §17.1.2.2), after which its client has given
/// up retransmitting.
const APPLIED_FOR_MS: u64 = 32_000;

/// REGISTERs remembered at most (the oldest are forgotten first): 32 s of
/// 2,000 a second.
const APPLIED_MAX: usize = 65_536;

fn reply(req: &Message, code: u16, reason: &str, tag: &str) -> Message {
    Message::response_to(req, code, reason, Some(tag))
}

impl Registrar {
    /// A registrar using `digest` for its realm.
    pub fn new(cfg: RegistrarConfig, digest: DigestServer) -> Registrar {
        let bans = Bans::new(cfg.bans);
        Registrar { cfg, digest, bindings: HashMap::new(), bans, schedule: BinaryHeap::new(), next_ping: HashMap::new(), applied: VecDeque::new(), applied_keys: HashSet::new() }
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        self.digest.realm()
    }

    /// Reload bindings kept in the store (at start).
    pub fn restore(&mut self, bindings: Vec<Binding>, now_ms: u64) {
        for b in bindings {
            if b.expires_at_ms <= now_ms {
                continue;
            }
            self.schedule_binding(&b, now_ms, None);
            self.bindings.entry(b.aor.clone()).or_default().push(b);
        }
    }

    /// Queue `b`'s expiry (unless an entry at or before it is queued
    /// already: `queued` is the expiry of the binding it refreshes, whose
    /// entry, when due, re-queues itself at the binding's new expiry) and
    /// its first keep-alive. A phone re-registering often thus adds
    /// nothing to the schedule.
    fn schedule_binding(&mut self, b: &Binding, now_ms: u64, queued: Option<u64>) {
        if queued.is_none_or(|q| b.expires_at_ms < q) {
            self.schedule.push(Reverse((b.expires_at_ms, Due::Expire, b.aor.clone(), b.contact.clone())));
        }
        if let (Some(iv), Transport::Udp) = (self.cfg.keepalive_ms, b.source.transport) {
            let key = (b.aor.clone(), b.contact.clone());
            if !self.next_ping.contains_key(&key) {
                let at = now_ms + iv;
                self.next_ping.insert(key, at);
                self.schedule.push(Reverse((at, Due::Ping, b.aor.clone(), b.contact.clone())));
            }
        }
    }

    /// Current bindings of an address-of-record.
    pub fn lookup(&self, aor: &str) -> &[Binding] {
        self.bindings.get(aor).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every binding.
    pub fn all(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.values().flatten()
    }

    /// Entries in the expiry and keep-alive schedule (a gauge: it stays
    /// about one or two per binding, however often phones re-register).
    pub fn scheduled(&self) -> usize {
        self.schedule.len()
    }

    /// Number of bindings.
    pub fn count(&self) -> usize {
        self.bindings.values().map(Vec::len).sum()
    }

    /// Banned sources.
    pub fn blocked(&mut self, now_ms: u64) -> Vec<BlockedSource> {
        self.bans.list(now_ms)
    }

    /// Number of sources banned at `now_ms`.
    pub fn blocked_count(&self, now_ms: u64) -> usize {
        self.bans.blocked_count(now_ms)
    }

    /// (failed authentications, bans) since start.
    pub fn auth_counters(&self) -> (u64, u64) {
        (self.bans.failures_total(), self.bans.bans_total())
    }

    /// Lift a ban.
    pub fn clear_block(&mut self, ip: IpAddr) -> bool {
        self.bans.clear(ip)
    }

    /// Is a source banned?
    pub fn is_blocked(&self, ip: IpAddr, now_ms: u64) -> bool {
        self.bans.is_blocked(ip, now_ms)
    }

    fn challenge(&mut self, req: &Message, code: u16, stale: bool, tag: &str, now_ms: u64) -> Message {
        let (reason, header) = if code == 407 {
            ("Proxy Authentication Required", HeaderName::ProxyAuthenticate)
        } else {
            ("Unauthorized", HeaderName::WwwAuthenticate)
        };
        let mut r = reply(req, code, reason, tag);
        let ua = req.get(HeaderName::UserAgent).unwrap_or("");
        let md5_only = self.cfg.md5_only_agents.iter().any(|a| !a.is_empty() && ua.contains(a.as_str()));
        for c in self.digest.challenges_limited(now_ms, stale, md5_only) {
            r.push(header, &c);
        }
        r
    }

    /// Authenticate any request: REGISTER with 401/Authorization, others
    /// with 407/Proxy-Authorization. Failures count towards a ban.
    pub fn authenticate(&mut self, now_ms: u64, req: &Message, source: Peer, dir: &impl Directory, tag: &str) -> AuthOutcome {
        match self.check_credentials(now_ms, req, source, dir, tag) {
            Ok(o) => o,
            Err(_) => AuthOutcome::Challenge(self.fresh_challenge(req, tag, now_ms)),
        }
    }

    /// A plain challenge (401 for REGISTER, 407 otherwise), counted as no failure.
    fn fresh_challenge(&mut self, req: &Message, tag: &str, now_ms: u64) -> Message {
        let code = if req.method().is_some_and(|m| *m == sip_msg::Method::Register) { 401 } else { 407 };
        self.challenge(req, code, false, tag, now_ms)
    }

    /// [`Registrar::authenticate`], but a request repeating the last
    /// accepted nonce-count of its nonce (a retransmission, or a replay of
    /// a captured request) is handed back as `Err` for the caller to judge.
    fn check_credentials(&mut self, now_ms: u64, req: &Message, source: Peer, dir: &impl Directory, tag: &str) -> Result<AuthOutcome, Repeat> {
        let ip = source.addr.ip();
        if self.bans.is_blocked(ip, now_ms) {
            return Ok(AuthOutcome::Ignore);
        }
        let is_register = req.method().is_some_and(|m| *m == sip_msg::Method::Register);
        let (code, header) = if is_register { (401, HeaderName::Authorization) } else { (407, HeaderName::ProxyAuthorization) };
        let method = req.method().map(|m| m.as_str().to_owned()).unwrap_or_default();
        // Use the credentials for our realm (a request may carry several).
        let realm = self.digest.realm().to_owned();
        let creds = req.get_all(header).filter_map(|v| Credentials::parse(v).ok()).find(|c| c.params.get("realm") == Some(realm.as_str()));
        let Some(creds) = creds else {
            if req.get(header).is_some() {
                // Credentials for another realm or unparseable: a failure.
                self.bans.record_failure(ip, now_ms);
            }
            return Ok(AuthOutcome::Challenge(self.challenge(req, code, false, tag, now_ms)));
        };
        let verdict = self.digest.verify(now_ms, &creds, &method, |u| dir.entry(u).filter(|e| e.enabled).map(|e| e.ha1.clone()));
        Ok(match verdict {
            Verdict::Ok { user } => {
                self.bans.record_success(ip);
                AuthOutcome::Authenticated(user)
            }
            Verdict::Stale => AuthOutcome::Challenge(self.challenge(req, code, true, tag, now_ms)),
            // The response was right, so this is no guess at a password:
            // not counted towards a ban, whatever the caller decides.
            Verdict::Repeated { user } => return Err(Repeat { user }),
            Verdict::Refused(why) => {
                // A nonce we cannot verify (e.g. issued before the secret
                // changed) is not an attack: challenge again without counting.
                let counts = !matches!(why, sip_proto::digest::Refusal::ForgedNonce | sip_proto::digest::Refusal::WrongRealm);
                if counts && self.bans.record_failure(ip, now_ms) {
                    return Ok(AuthOutcome::Ignore);
                }
                AuthOutcome::Challenge(self.challenge(req, code, false, tag, now_ms))
            }
        })
    }

    /// The (Call-ID, CSeq, RFC 3261 branch) that identify a REGISTER.
    fn register_key(req: &Message) -> Option<(&str, u32, &str)> {
        let (Ok(call_id), Ok(cseq), Ok(via)) = (req.call_id(), req.cseq(), req.top_via()) else { return None };
        let branch = via.branch().filter(|b| b.starts_with("z9hG4bK"))?;
        Some((call_id, cseq.seq, branch))
    }

    /// Is `req` a retransmission of a REGISTER of `aor`'s that was applied
    /// (and committed) and answered 200, whose 200 was lost?
    fn retransmission_of_applied(&self, req: &Message, aor: &str) -> bool {
        let Some((call_id, seq, branch)) = Self::register_key(req) else { return false };
        self.applied_keys.contains(&(aor.to_owned(), call_id.to_owned(), seq, branch.to_owned()))
    }

    /// Remember a REGISTER answered 200 (see [`Registrar::retransmission_of_applied`]),
    /// forgetting those older than [`APPLIED_FOR_MS`].
    fn note_applied(&mut self, now_ms: u64, aor: &str, req: &Message) {
        while let Some((at, _)) = self.applied.front() {
            if now_ms.saturating_sub(*at) <= APPLIED_FOR_MS && self.applied.len() < APPLIED_MAX {
                break;
            }
            if let Some((_, k)) = self.applied.pop_front() {
                self.applied_keys.remove(&k);
            }
        }
        let Some((call_id, seq, branch)) = Self::register_key(req) else { return };
        let key = (aor.to_owned(), call_id.to_owned(), seq, branch.to_owned());
        if self.applied_keys.insert(key.clone()) {
            self.applied.push_back((now_ms, key));
        }
    }

    /// Process a REGISTER (RFC 3261 §10.3).
    pub fn handle_register(&mut self, now_ms: u64, req: &Message, source: Peer, dir: &impl Directory, tag: &str) -> Outcome {
        // Steps 1-3: authenticate.
        let user = match self.check_credentials(now_ms, req, source, dir, tag) {
            Ok(AuthOutcome::Authenticated(u)) => u,
            Ok(AuthOutcome::Challenge(m)) => return Outcome::Reply(m),
            Ok(AuthOutcome::Ignore) => return Outcome::Ignore,
            // The 200 goes out statelessly (no transaction absorbs
            // retransmissions for Timer J): a retransmission arrives here
            // with the nonce-count already used, and is answered again.
            Err(repeat) if self.retransmission_of_applied(req, &repeat.user) => {
                return Outcome::Reply(self.ok(req, &repeat.user, now_ms, tag));
            }
            Err(_) => return Outcome::Reply(self.fresh_challenge(req, tag, now_ms)),
        };
        // Step 5: the address-of-record is the To URI; only one's own.
        let Ok(to) = req.to() else { return Outcome::Reply(reply(req, 400, "Bad To", tag)) };
        let aor_user = to.uri().user_decoded().map(|u| u.into_owned()).unwrap_or_default();
        if aor_user != user {
            return Outcome::Reply(reply(req, 403, "Forbidden (To does not match credentials)", tag));
        }
        let (Ok(call_id), Ok(cseq)) = (req.call_id(), req.cseq()) else {
            return Outcome::Reply(reply(req, 400, "Bad Request", tag));
        };
        let header_expires = match req.expires() {
            Ok(e) => e,
            Err(_) => return Outcome::Reply(reply(req, 400, "Bad Expires", tag)),
        };
        let contacts: Vec<Option<NameAddr<'_>>> = match req.contacts().collect() {
            Ok(c) => c,
            Err(_) => return Outcome::Reply(reply(req, 400, "Bad Contact", tag)),
        };
        let mut changes = Vec::new();
        let aor = user.clone();
        if contacts.iter().any(Option::is_none) {
            // Step 6: `*` only alone and with Expires: 0.
            if contacts.len() != 1 || header_expires != Some(0) {
                return Outcome::Reply(reply(req, 400, "Invalid Wildcard Contact", tag));
            }
            let existing = self.bindings.get(&aor).map(Vec::as_slice).unwrap_or(&[]);
            if existing.iter().any(|b| b.call_id == call_id && cseq.seq <= b.cseq) {
                return Outcome::Reply(reply(req, 500, "Out Of Order CSeq", tag));
            }
            for b in self.bindings.remove(&aor).unwrap_or_default() {
                self.next_ping.remove(&(b.aor, b.contact));
            }
            changes.push(Change::DeleteAll { aor: aor.clone() });
            self.note_applied(now_ms, &aor, req);
            return Outcome::Commit { changes, reply: self.ok(req, &aor, now_ms, tag) };
        }
        // Step 7: each contact.
        let mut current: Vec<Binding> = self.bindings.get(&aor).cloned().unwrap_or_default();
        let user_agent = req.get(HeaderName::UserAgent).map(str::to_owned);
        let path: Vec<String> = req.values(HeaderName::Path).map(str::to_owned).collect();
        for c in contacts.iter().flatten() {
            let p = c.params();
            let expires = match p.get("expires").flatten().map(|e| e.parse::<u64>()) {
                Some(Ok(e)) => e.min(u32::MAX as u64) as u32,
                Some(Err(_)) | None => header_expires.unwrap_or(self.cfg.default_expires),
            };
            if expires != 0 && expires < self.cfg.min_expires {
                let mut r = reply(req, 423, "Interval Too Brief", tag);
                r.push(HeaderName::MinExpires, &self.cfg.min_expires.to_string());
                return Outcome::Reply(r);
            }
            let expires = expires.min(self.cfg.max_expires);
            let uri = c.uri();
            let instance = p.get_unquoted("+sip.instance").map(str::to_owned);
            let reg_id = p.get("reg-id").flatten().and_then(|r| r.parse().ok());
            let pos = current.iter().position(|b| b.same_key(instance.as_deref(), reg_id, &uri));
            if let Some(i) = pos {
                let b = &current[i];
                if b.call_id == call_id && cseq.seq <= b.cseq {
                    // (A retransmission never gets here: it repeats its
                    // nonce-count and is answered above, or, its count
                    // forgotten, is challenged stale.)
                    return Outcome::Reply(reply(req, 500, "Out Of Order CSeq", tag));
                }
            }
            if expires == 0 {
                if let Some(i) = pos {
                    let old = current.remove(i);
                    changes.push(Change::Delete { aor: aor.clone(), contact: old.contact });
                }
                continue;
            }
            let b = Binding {
                aor: aor.clone(),
                contact: uri.as_str().to_owned(),
                instance,
                reg_id,
                q: p.get("q").flatten().map(str::to_owned),
                expires_at_ms: now_ms + expires as u64 * 1000,
                call_id: call_id.to_owned(),
                cseq: cseq.seq,
                source,
                user_agent: user_agent.clone(),
                path: path.clone(),
            };
            match pos {
                Some(i) => {
                    if current[i].contact != b.contact {
                        changes.push(Change::Delete { aor: aor.clone(), contact: current[i].contact.clone() });
                    }
                    current[i] = b.clone();
                }
                None => {
                    if current.len() >= self.cfg.max_contacts {
                        return Outcome::Reply(reply(req, 403, "Too Many Contacts", tag));
                    }
                    current.push(b.clone());
                }
            }
            changes.push(Change::Upsert(b));
        }
        let previous = self.bindings.get(&aor).map(Vec::as_slice).unwrap_or(&[]);
        // Only this AOR's gone contacts stop being pinged (not a scan of
        // every binding per REGISTER).
        let gone: Vec<(String, String)> =
            previous.iter().filter(|p| !current.iter().any(|b| b.contact == p.contact)).map(|p| (p.aor.clone(), p.contact.clone())).collect();
        let queued: Vec<Option<u64>> = current.iter().map(|b| previous.iter().find(|p| p.contact == b.contact).map(|p| p.expires_at_ms)).collect();
        for k in gone {
            self.next_ping.remove(&k);
        }
        for (b, queued) in current.iter().zip(queued) {
            if changes.iter().any(|c| matches!(c, Change::Upsert(u) if u.contact == b.contact)) {
                self.schedule_binding(b, now_ms, queued);
            }
        }
        self.note_applied(now_ms, &aor, req);
        if current.is_empty() {
            self.bindings.remove(&aor);
        } else {
            self.bindings.insert(aor.clone(), current);
        }
        let reply = self.ok(req, &aor, now_ms, tag);
        if changes.is_empty() {
            return Outcome::Reply(reply);
        }
        Outcome::Commit { changes, reply }
    }

    /// The 200 listing every current binding (step 8).
    fn ok(&self, req: &Message, aor: &str, now_ms: u64, tag: &str) -> Message {
        let mut r = reply(req, 200, "OK", tag);
        let mut outbound = false;
        for b in self.lookup(aor) {
            let left = b.expires_at_ms.saturating_sub(now_ms).div_ceil(1000);
            let mut v = format!("<{}>;expires={left}", b.contact);
            if let Some(q) = &b.q {
                v.push_str(";q=");
                v.push_str(q);
            }
            if let Some(i) = &b.instance {
                v.push_str(";+sip.instance=\"");
                v.push_str(i);
                v.push('"');
            }
            if let Some(id) = b.reg_id {
                v.push_str(&format!(";reg-id={id}"));
                outbound = true;
            }
            r.push(HeaderName::Contact, &v);
        }
        if outbound && req.has_token(HeaderName::Supported, "outbound") {
            r.push(HeaderName::Require, "outbound");
        }
        if req.has_token(HeaderName::Supported, "path") {
            for p in req.get_all(HeaderName::Path) {
                r.push(HeaderName::Path, p);
            }
        }
        r.push(HeaderName::Date, &crate::date::http_date(now_ms));
        r
    }

    /// Earliest deadline (unix ms): a binding expiry or a keep-alive.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.schedule.peek().map(|Reverse((t, ..))| *t)
    }

    /// Expire bindings due at `now_ms` and collect keep-alives to send.
    /// Returns the changes to persist and the pings to send.
    pub fn handle_timeout(&mut self, now_ms: u64) -> (Vec<Change>, Vec<PingDue>) {
        let mut changes = vec![];
        let mut pings = vec![];
        while let Some(Reverse((at, _, _, _))) = self.schedule.peek() {
            if *at > now_ms {
                break;
            }
            let Some(Reverse((at, due, aor, contact))) = self.schedule.pop() else { break };
            let Some(list) = self.bindings.get_mut(&aor) else { continue };
            let Some(i) = list.iter().position(|b| b.contact == contact) else { continue };
            match due {
                Due::Expire => {
                    let expires = list[i].expires_at_ms;
                    if expires > now_ms {
                        // Refreshed since: queue it again at its new expiry
                        // (a refresh queues nothing itself).
                        if expires != at {
                            self.schedule.push(Reverse((expires, Due::Expire, aor, contact)));
                        }
                        continue;
                    }
                    list.remove(i);
                    if list.is_empty() {
                        self.bindings.remove(&aor);
                    }
                    self.next_ping.remove(&(aor.clone(), contact.clone()));
                    changes.push(Change::Delete { aor, contact });
                }
                Due::Ping => {
                    let key = (aor.clone(), contact.clone());
                    if self.next_ping.get(&key) != Some(&at) {
                        continue;
                    }
                    let dest = list[i].source;
                    if let Some(iv) = self.cfg.keepalive_ms {
                        let next = now_ms + iv;
                        self.next_ping.insert(key, next);
                        self.schedule.push(Reverse((next, Due::Ping, aor.clone(), contact.clone())));
                    }
                    pings.push(PingDue { aor, contact, dest });
                }
            }
        }
        (changes, pings)
    }

    /// Drop a binding from memory only, with no change to persist: another
    /// node of a cluster serves it now (the phone registered there, and the
    /// stored row is that node's). `false` if there was none.
    pub fn forget(&mut self, aor: &str, contact: &str) -> bool {
        self.ping_failed(aor, contact).is_some()
    }

    /// A keep-alive got no answer at all (Timer F): drop the binding.
    pub fn ping_failed(&mut self, aor: &str, contact: &str) -> Option<Change> {
        let list = self.bindings.get_mut(aor)?;
        let i = list.iter().position(|b| b.contact == contact)?;
        list.remove(i);
        if list.is_empty() {
            self.bindings.remove(aor);
        }
        self.next_ping.remove(&(aor.to_owned(), contact.to_owned()));
        Some(Change::Delete { aor: aor.to_owned(), contact: contact.to_owned() })
    }
}
