//! The endpoint: demultiplexes incoming messages to transactions, creates
//! server transactions for new requests, runs the timers, and answers on
//! its own only where RFC 3261 says the transaction layer must (100 Trying,
//! retransmissions, ACK of non-2xx, 200 to a matched CANCEL, 481 to an
//! unmatched one, 482 to a merged request, 400 to a request too broken to
//! form a transaction, 505 to another SIP version).
//!
//! Everything else is the application's decision: each new request is an
//! [`Event::Request`] and the application answers with [`Endpoint::respond`].

use crate::transaction::{InviteClient, InviteServer, NonInviteClient, NonInviteServer, Sink, TxId};
use crate::transport::{Peer, Transmit, Transport};
use crate::{Event, EndpointConfig, ProtoError};
use bytes::Bytes;
use sip_msg::{HeaderName, Host, Message, Method, ParseError, Via};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Method as used in transaction keys: ACK matches the INVITE (§17.2.3).
fn key_method(m: &Method) -> Method {
    if *m == Method::Ack {
        Method::Invite
    } else {
        m.clone()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ServerKey {
    /// RFC 3261 §17.2.3: branch, sent-by, method.
    Rfc3261 { branch: Box<str>, sent_by: Box<str>, method: Method },
    /// RFC 2543 fallback (§17.2.3 last paragraphs) for branches without the magic cookie.
    Rfc2543 { call_id: Box<str>, from_tag: Box<str>, cseq: u32, method: Method, via: Box<str>, ruri: Box<str> },
}

fn server_key(req: &Message, via: &Via<'_>, method: &Method) -> Result<ServerKey, ParseError> {
    let method = key_method(method);
    if let Some(branch) = via.branch().filter(|_| via.is_rfc3261_branch()) {
        let sent_by = match via.port() {
            Some(p) => format!("{}:{}", via.host_str().to_ascii_lowercase(), p),
            None => via.host_str().to_ascii_lowercase(),
        };
        return Ok(ServerKey::Rfc3261 { branch: branch.into(), sent_by: sent_by.into(), method });
    }
    let from = req.from()?;
    let cseq = req.cseq()?;
    // The top Via without received/rport, which we may have added.
    let via_text = format!("{}/{}/{} {}:{}", via.protocol(), via.version(), via.transport(), via.host_str(), via.port().unwrap_or(0));
    Ok(ServerKey::Rfc2543 {
        call_id: req.call_id()?.into(),
        from_tag: from.tag().unwrap_or("").into(),
        cseq: cseq.seq,
        method,
        via: via_text.into(),
        ruri: req.request_uri_str().unwrap_or("").into(),
    })
}

type MergeKey = (Box<str>, Box<str>, u32, Method);
type DialogKey = (Box<str>, u32, Box<str>);

enum Machine {
    InviteClient(InviteClient),
    NonInviteClient(NonInviteClient),
    InviteServer(InviteServer),
    NonInviteServer(NonInviteServer),
}

struct Entry {
    machine: Machine,
    server_key: Option<ServerKey>,
    client_key: Option<(Box<str>, Method)>,
    merge_key: Option<MergeKey>,
    dialog_key: Option<DialogKey>,
    /// For INVITE server transactions until their final answer: the
    /// request, for the CANCEL's 487 and the 100 Trying.
    request: Option<Message>,
}

impl Entry {
    fn deadline(&self) -> Option<Instant> {
        match &self.machine {
            Machine::InviteClient(t) => t.deadline(),
            Machine::NonInviteClient(t) => t.deadline(),
            Machine::InviteServer(t) => t.deadline(),
            Machine::NonInviteServer(t) => t.deadline(),
        }
    }
    fn is_terminated(&self) -> bool {
        match &self.machine {
            Machine::InviteClient(t) => t.is_terminated(),
            Machine::NonInviteClient(t) => t.is_terminated(),
            Machine::InviteServer(t) => t.is_terminated(),
            Machine::NonInviteServer(t) => t.is_terminated(),
        }
    }
}

/// Counters, for metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Messages that failed to parse.
    pub parse_errors: u64,
    /// Stateless 400 responses sent.
    pub bad_requests_answered: u64,
    /// Request retransmissions absorbed by server transactions.
    pub retransmissions_absorbed: u64,
    /// Responses that matched no client transaction and were dropped.
    pub stray_responses: u64,
    /// Requests refused with 503 because the transaction table was full.
    pub overload_rejections: u64,
    /// New requests refused with 503 while shedding load
    /// ([`EndpointConfig::overload_after`]).
    pub load_shed: u64,
    /// Times shedding started.
    pub overload_episodes: u64,
    /// New requests admitted while shedding
    /// ([`EndpointConfig::shed_admit_every`]).
    pub admitted_while_shedding: u64,
}

/// The sans-IO SIP endpoint. See the crate docs for the driving loop.
pub struct Endpoint {
    cfg: EndpointConfig,
    next_id: u64,
    rng: u64,
    /// Boxed: an `Entry` is hundreds of bytes, and a table that churns
    /// (every call adds and removes several) is rebuilt at twice its size
    /// when its tombstones run out while more than half full. Inline, that
    /// step cost about 190 MB at 150,000 live transactions; boxed, the
    /// table holds 16 bytes a slot.
    entries: HashMap<TxId, Box<Entry>>,
    server_keys: HashMap<ServerKey, TxId>,
    client_keys: HashMap<(Box<str>, Method), TxId>,
    merge_index: HashMap<MergeKey, TxId>,
    accepted: HashMap<DialogKey, TxId>,
    timers: BinaryHeap<Reverse<(Instant, TxId)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    /// INVITE server transactions owed a 100 Trying: sent with the next
    /// output ([`Endpoint::poll_transmit`]) unless the TU has answered by
    /// then. A TU that answers while handling the request's event (a 407
    /// challenge, a 404) sends no 100 first, so a stateless final answer
    /// stays safe: the UAC, having seen no provisional, still retransmits
    /// its INVITE if that answer is lost.
    pending_trying: Vec<(TxId, Instant)>,
    /// Since when the driver's receive queue has been non-empty.
    backlog_since: Option<Instant>,
    /// Shedding new work (see [`EndpointConfig::overload_after`]).
    shedding: bool,
    /// When shedding last let a new request through
    /// ([`EndpointConfig::shed_admit_every`]).
    shed_admitted_at: Option<Instant>,
    /// Requests shed in this episode (the latest [`SHED_MEMORY`], by a
    /// 64-bit hash of their transaction key: no copy of the key, one hash
    /// per shed request), so that a retransmission of one is shed again:
    /// when the queue waits longer than T1, it holds a retransmission of
    /// most requests, and one of those let through would be a call its
    /// client has already given up.
    shed_keys: HashSet<u64>,
    shed_order: VecDeque<u64>,
}

/// Shed requests remembered per episode ([`Endpoint`]'s `shed_keys`): at
/// 3,000 new calls a second, the last 1.3 s of them.
const SHED_MEMORY: usize = 4096;

impl Endpoint {
    /// A new endpoint.
    pub fn new(cfg: EndpointConfig) -> Endpoint {
        let rng = cfg.seed | 1;
        Endpoint {
            cfg,
            next_id: 1,
            rng,
            entries: HashMap::new(),
            server_keys: HashMap::new(),
            client_keys: HashMap::new(),
            merge_index: HashMap::new(),
            accepted: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            pending_trying: Vec::new(),
            stats: Stats::default(),
            backlog_since: None,
            shedding: false,
            shed_admitted_at: None,
            shed_keys: HashSet::new(),
            shed_order: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// The driver's report after reading its datagram socket: `empty` when
    /// it read all that was queued, `false` when it stopped with datagrams
    /// still waiting; `waited`, when the driver knows arrival times, the
    /// longest any datagram it just read spent in the queue. The queue
    /// *stands* when it was not emptied and that wait reached a tenth of
    /// [`EndpointConfig::overload_after`] (20 ms at the default; without
    /// arrival times, whenever it was not emptied). A queue standing for
    /// `overload_after` means requests arrive faster than they are served:
    /// new work is then shed (stateless 503, Retry-After) until the queue
    /// no longer stands, which keeps the calls already admitted fast
    /// instead of letting every call slow down and time out. (A queue that
    /// never empties while nothing in it waits long is a busy server, not
    /// an overloaded one: the CoDel rule, sojourn time over queue length.)
    pub fn note_receive_queue(&mut self, now: Instant, empty: bool, waited: Option<Duration>) {
        let target = self.cfg.overload_after.map(|a| a / 10);
        let standing = !empty && match (waited, target) {
            (Some(w), Some(t)) => w >= t,
            _ => true,
        };
        if !standing {
            self.backlog_since = None;
            self.shedding = false;
            self.shed_keys.clear();
            self.shed_order.clear();
            return;
        }
        let since = *self.backlog_since.get_or_insert(now);
        if let Some(after) = self.cfg.overload_after {
            if !self.shedding && now.saturating_duration_since(since) >= after {
                self.shedding = true;
                self.stats.overload_episodes += 1;
            }
        }
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// While shedding: is it time to let one new request through
    /// ([`EndpointConfig::shed_admit_every`])? Counts it if so.
    fn admit_while_shedding(&mut self, now: Instant) -> bool {
        let Some(every) = self.cfg.shed_admit_every else { return false };
        if self.shed_admitted_at.is_some_and(|t| now.saturating_duration_since(t) < every) {
            return false;
        }
        self.shed_admitted_at = Some(now);
        self.stats.admitted_while_shedding += 1;
        true
    }

    /// Count a shed request (hash `h` of its key) and remember it, unless
    /// it is one remembered `again`.
    fn shed(&mut self, h: u64, again: bool) {
        self.stats.load_shed += 1;
        if !again {
            self.shed_keys.insert(h);
            self.shed_order.push_back(h);
            if self.shed_order.len() > SHED_MEMORY {
                if let Some(old) = self.shed_order.pop_front() {
                    self.shed_keys.remove(&old);
                }
            }
        }
    }

    /// New work is being shed (see [`Endpoint::note_receive_queue`]).
    pub fn is_shedding(&self) -> bool {
        self.shedding
    }

    /// Live transactions.
    pub fn transaction_count(&self) -> usize {
        self.entries.len()
    }

    /// Live transactions by kind and state (`("invite_server", "Accepted")`,
    /// ...), for metrics: which state holds memory, and for how long.
    pub fn transaction_states(&self) -> Vec<(&'static str, String, usize)> {
        let mut counts: HashMap<(&'static str, String), usize> = HashMap::new();
        for e in self.entries.values() {
            let k = match &e.machine {
                Machine::InviteClient(t) => ("invite_client", format!("{:?}", t.state)),
                Machine::NonInviteClient(t) => ("non_invite_client", format!("{:?}", t.state)),
                Machine::InviteServer(t) => ("invite_server", format!("{:?}", t.state)),
                Machine::NonInviteServer(t) => ("non_invite_server", format!("{:?}", t.state)),
            };
            *counts.entry(k).or_default() += 1;
        }
        let mut v: Vec<_> = counts.into_iter().map(|((k, s), n)| (k, s, n)).collect();
        v.sort();
        v
    }

    // ----- identifiers ------------------------------------------------------

    fn next_random(&mut self) -> u64 {
        // xorshift64*: unpredictable enough for tags and branches given a
        // random seed from the driver; no clock or OS call here.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn random_token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        let mut s = String::with_capacity(len);
        let mut r = self.next_random();
        for i in 0..len {
            if i % 12 == 11 {
                r = self.next_random();
            }
            s.push(ALPHABET[(r & 31) as usize] as char);
            r >>= 5;
        }
        s
    }

    /// A fresh RFC 3261 branch (`z9hG4bK...`).
    pub fn new_branch(&mut self) -> String {
        let t = self.random_token(16);
        format!("z9hG4bK{t}")
    }

    /// A fresh tag for From/To.
    pub fn new_tag(&mut self) -> String {
        self.random_token(12)
    }

    /// A fresh Call-ID.
    pub fn new_call_id(&mut self) -> String {
        self.random_token(24)
    }

    fn alloc_id(&mut self) -> TxId {
        let id = TxId(self.next_id);
        self.next_id += 1;
        id
    }

    // ----- driver interface ---------------------------------------------------

    /// Next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if !self.pending_trying.is_empty() {
            self.flush_trying();
        }
        self.transmits.pop_front()
    }

    /// Send the 100 Trying owed to each INVITE the TU has not answered yet.
    fn flush_trying(&mut self) {
        for (id, at) in std::mem::take(&mut self.pending_trying) {
            let Some(e) = self.entries.get_mut(&id) else { continue };
            let (Machine::InviteServer(t), Some(req)) = (&mut e.machine, &e.request) else { continue };
            if t.answered() {
                continue;
            }
            let trying = Message::response_to(req, 100, "Trying", None);
            let mut sink = Sink { transmits: &mut self.transmits, events: &mut self.events };
            t.respond(at, &self.cfg.timers, &trying, &mut sink);
        }
    }

    /// Next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Earliest deadline; call [`Endpoint::handle_timeout`] at (or after) it.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let timers = &self.cfg.timers;
            let Some(entry) = self.entries.get_mut(&id) else { continue };
            match entry.deadline() {
                None => continue,
                Some(d) if d > now => {
                    // Stale heap entry (a timer was stopped or moved): make
                    // sure the real deadline is queued, or the transaction
                    // would never be reaped. One push per stale pop keeps
                    // the heap's size where it was.
                    self.timers.push(Reverse((d, id)));
                    continue;
                }
                Some(_) => {}
            }
            let mut sink = Sink { transmits: &mut self.transmits, events: &mut self.events };
            match &mut entry.machine {
                Machine::InviteClient(t) => t.on_timeout(now, timers, &mut sink),
                Machine::NonInviteClient(t) => t.on_timeout(now, timers, &mut sink),
                Machine::InviteServer(t) => t.on_timeout(now, timers, &mut sink),
                Machine::NonInviteServer(t) => t.on_timeout(now),
            }
            self.after(id);
        }
    }

    /// Requeue the transaction's deadline or drop it if terminated.
    fn after(&mut self, id: TxId) {
        let Some(entry) = self.entries.get(&id) else { return };
        if entry.is_terminated() {
            if let Some(e) = self.entries.remove(&id) {
                if let Some(k) = e.server_key {
                    self.server_keys.remove(&k);
                }
                if let Some(k) = e.client_key {
                    self.client_keys.remove(&k);
                }
                if let Some(k) = e.merge_key {
                    if self.merge_index.get(&k) == Some(&id) {
                        self.merge_index.remove(&k);
                    }
                }
                if let Some(k) = e.dialog_key {
                    if self.accepted.get(&k) == Some(&id) {
                        self.accepted.remove(&k);
                    }
                }
            }
            return;
        }
        if let Some(d) = entry.deadline() {
            self.timers.push(Reverse((d, id)));
        }
    }

    /// A datagram, or one message framed from a stream, arrived from `source`.
    pub fn handle_input(&mut self, now: Instant, source: Peer, data: Bytes) {
        let msg = match Message::parse(data.clone()) {
            Ok(m) => m,
            Err(e) => {
                self.stats.parse_errors += 1;
                if let Some(salvaged) = Message::salvage_request(&data) {
                    self.reject_malformed(&salvaged, source, &e);
                }
                return;
            }
        };
        if msg.is_request() {
            self.handle_request(now, source, msg);
        } else {
            self.handle_response(now, source, msg);
        }
    }

    fn reject_malformed(&mut self, req: &Message, source: Peer, e: &ParseError) {
        if req.method() == Some(&Method::Ack) {
            return; // never answer an ACK
        }
        let status = e.status();
        let reason = match status {
            505 => "Version Not Supported",
            513 => "Message Too Large",
            _ => "Bad Request",
        };
        let mut resp = Message::response_to(req, status, reason, None);
        let warning = format!("399 {} \"{}\"", self.cfg.warning_agent, e.to_string().replace('"', "'"));
        resp.push(HeaderName::Warning, &warning);
        let dest = req.top_via().map(|v| response_destination(&v, source)).unwrap_or(source);
        self.stats.bad_requests_answered += 1;
        self.transmits.push_back(Transmit { dest, data: resp.to_bytes() });
    }

    fn stateless(&mut self, req: &Message, dest: Peer, code: u16, reason: &str, tag: bool) {
        let tag = if tag { Some(self.new_tag()) } else { None };
        let mut resp = Message::response_to(req, code, reason, tag.as_deref());
        if code == 503 {
            resp.push(HeaderName::RetryAfter, "5");
        }
        self.transmits.push_back(Transmit { dest, data: resp.to_bytes() });
    }

    fn handle_request(&mut self, now: Instant, source: Peer, mut req: Message) {
        if let Err(e) = req.check_core() {
            self.stats.parse_errors += 1;
            self.reject_malformed(&req, source, &e);
            return;
        }
        if !req.is_sip2() {
            self.reject_malformed(&req, source, &ParseError::UnsupportedVersion);
            return;
        }
        stamp_received(&mut req, source);
        let Ok(via) = req.top_via() else { return };
        let dest = response_destination(&via, source);
        let Some(method) = req.method().cloned() else { return };
        let key = match server_key(&req, &via, &method) {
            Ok(k) => k,
            Err(e) => {
                self.reject_malformed(&req, source, &e);
                return;
            }
        };

        if method == Method::Ack {
            self.handle_ack(now, source, req, &key);
            return;
        }

        // Retransmission of a request we have a transaction for.
        if let Some(&id) = self.server_keys.get(&key) {
            if let Some(entry) = self.entries.get_mut(&id) {
                self.stats.retransmissions_absorbed += 1;
                let mut sink = Sink { transmits: &mut self.transmits, events: &mut self.events };
                match &mut entry.machine {
                    Machine::InviteServer(t) => t.on_retransmission(&mut sink),
                    Machine::NonInviteServer(t) => t.on_retransmission(&mut sink),
                    _ => {}
                }
                return;
            }
        }

        if self.shedding && is_new_work(&req, &method) {
            let h = std::hash::BuildHasher::hash_one(&std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default(), &key);
            let again = self.shed_keys.contains(&h);
            if again || !self.admit_while_shedding(now) {
                self.shed(h, again);
                self.stateless(&req, dest, 503, "Service Unavailable", true);
                return;
            }
        }

        // At the bound, new work is refused; requests that finish work
        // already admitted (in-dialog: a BYE, a re-INVITE; CANCEL) may use
        // a quarter more, so a full table never loses a call it took.
        let finishes = method == Method::Cancel || req.to().map(|t| t.tag().is_some()).unwrap_or(false);
        let bound = if finishes { self.cfg.max_transactions.saturating_add(self.cfg.max_transactions / 4) } else { self.cfg.max_transactions };
        if self.entries.len() >= bound {
            self.stats.overload_rejections += 1;
            self.stateless(&req, dest, 503, "Service Unavailable", false);
            return;
        }

        // Merged requests (§8.2.2.2): same From tag, Call-ID and CSeq as a
        // live transaction but another branch (a forked copy looped back).
        let to_tagged = req.to().map(|t| t.tag().is_some()).unwrap_or(false);
        let merge_key: Option<MergeKey> = if to_tagged || method == Method::Cancel {
            None
        } else {
            let from_tag = req.from().ok().and_then(|f| f.tag()).unwrap_or("");
            let cseq = req.cseq().map(|c| c.seq).unwrap_or(0);
            Some((req.call_id().unwrap_or("").into(), from_tag.into(), cseq, method.clone()))
        };
        if let Some(mk) = &merge_key {
            if self.merge_index.contains_key(mk) {
                self.stateless(&req, dest, 482, "Loop Detected", true);
                return;
            }
        }

        let id = self.alloc_id();
        let is_invite = method == Method::Invite;
        let machine = if is_invite {
            if self.cfg.auto_trying {
                self.pending_trying.push((id, now));
            }
            Machine::InviteServer(InviteServer::new(id, dest))
        } else {
            Machine::NonInviteServer(NonInviteServer::new(dest))
        };
        self.server_keys.insert(key.clone(), id);
        if let Some(mk) = &merge_key {
            self.merge_index.insert(mk.clone(), id);
        }
        let keep_request = is_invite.then(|| req.clone());
        self.entries.insert(
            id,
            Box::new(Entry { machine, server_key: Some(key.clone()), client_key: None, merge_key, dialog_key: None, request: keep_request }),
        );

        if method == Method::Cancel {
            self.handle_cancel(now, id, key, req, source);
            return;
        }
        self.events.push_back(Event::Request { tx: id, request: req, source });
    }

    /// CANCEL (§9.2): answer it ourselves and tell the application which
    /// INVITE it cancels; the application then answers that INVITE with 487.
    fn handle_cancel(&mut self, now: Instant, cancel_tx: TxId, key: ServerKey, req: Message, source: Peer) {
        let invite_key = match key {
            ServerKey::Rfc3261 { branch, sent_by, .. } => ServerKey::Rfc3261 { branch, sent_by, method: Method::Invite },
            ServerKey::Rfc2543 { call_id, from_tag, cseq, via, ruri, .. } => {
                ServerKey::Rfc2543 { call_id, from_tag, cseq, method: Method::Invite, via, ruri }
            }
        };
        let invite = self.server_keys.get(&invite_key).copied().filter(|id| {
            matches!(self.entries.get(id).map(|e| &e.machine), Some(Machine::InviteServer(t)) if t.is_proceeding())
        });
        let (code, reason) = if invite.is_some() { (200, "OK") } else { (481, "Call/Transaction Does Not Exist") };
        let to_tag = self
            .entries
            .get(&invite.unwrap_or(cancel_tx))
            .and_then(|e| e.request.as_ref())
            .and_then(|r| r.to().ok().and_then(|t| t.tag().map(str::to_owned)));
        let tag = match to_tag {
            Some(t) => t,
            None => self.new_tag(),
        };
        let resp = Message::response_to(&req, code, reason, Some(&tag));
        let _ = self.respond(now, cancel_tx, resp);
        if let Some(invite) = invite {
            self.events.push_back(Event::Cancelled { tx: invite, cancel: req, source });
        }
    }

    fn handle_ack(&mut self, now: Instant, source: Peer, req: Message, key: &ServerKey) {
        // ACK of a non-2xx: same branch as the INVITE.
        if let Some(&id) = self.server_keys.get(key) {
            if let Some(Entry { machine: Machine::InviteServer(t), .. }) = self.entries.get_mut(&id).map(|e| &mut **e) {
                if !t.is_accepted() {
                    t.on_ack(now, &self.cfg.timers);
                    self.after(id);
                    return;
                }
            }
        }
        // ACK of a 2xx: matched by dialog (RFC 6026 §7.1).
        let dk: Option<DialogKey> = (|| {
            let call_id = req.call_id().ok()?;
            let seq = req.cseq().ok()?.seq;
            let from = req.from().ok()?;
            Some((call_id.into(), seq, from.tag().unwrap_or("").into()))
        })();
        let tx = dk.as_ref().and_then(|k| self.accepted.get(k)).copied();
        if let Some(id) = tx {
            if let Some(Entry { machine: Machine::InviteServer(t), .. }) = self.entries.get_mut(&id).map(|e| &mut **e) {
                t.on_2xx_ack();
                // Timer G stopped: Timer L is now the deadline to queue.
                self.after(id);
            }
        }
        self.events.push_back(Event::Ack { request: req, source, tx });
    }

    fn handle_response(&mut self, now: Instant, source: Peer, resp: Message) {
        let (branch, method) = match (resp.top_via(), resp.cseq()) {
            (Ok(v), Ok(c)) => match v.branch() {
                Some(b) => (b.to_owned(), c.method),
                None => {
                    self.stats.stray_responses += 1;
                    return;
                }
            },
            _ => {
                self.stats.parse_errors += 1;
                return;
            }
        };
        let key: (Box<str>, Method) = (branch.into(), method);
        let Some(&id) = self.client_keys.get(&key) else {
            let code = resp.status().unwrap_or(0);
            if (200..300).contains(&code) && key.1 == Method::Invite {
                // A 2xx retransmission after the transaction ended: the
                // dialog layer must ACK it again (§13.2.2.4).
                self.events.push_back(Event::StrayResponse { response: resp, source });
            } else {
                self.stats.stray_responses += 1;
            }
            return;
        };
        let timers = &self.cfg.timers;
        let Some(entry) = self.entries.get_mut(&id) else { return };
        let mut sink = Sink { transmits: &mut self.transmits, events: &mut self.events };
        match &mut entry.machine {
            Machine::InviteClient(t) => t.on_response(now, timers, resp, &mut sink),
            Machine::NonInviteClient(t) => t.on_response(now, timers, resp, &mut sink),
            _ => {}
        }
        self.after(id);
    }

    // ----- application interface ------------------------------------------

    fn add_via(&mut self, req: &mut Message, transport: Transport) -> String {
        let branch = self.new_branch();
        let sent_by = self.cfg.sent_by(transport);
        req.prepend(HeaderName::Via, &format!("SIP/2.0/{} {};branch={};rport", transport.via_name(), sent_by, branch));
        if req.get(HeaderName::MaxForwards).is_none() {
            req.push(HeaderName::MaxForwards, "70");
        }
        branch
    }

    /// Start a client transaction for `req` towards `dest`. A top Via with a
    /// fresh branch is added. ACK is not a transaction: use [`Endpoint::send_ack`].
    pub fn send_request(&mut self, now: Instant, mut req: Message, dest: Peer) -> Result<TxId, ProtoError> {
        let method = req.method().cloned().ok_or(ProtoError::NotARequest)?;
        if method == Method::Ack {
            return Err(ProtoError::AckIsNotATransaction);
        }
        let branch = self.add_via(&mut req, dest.transport);
        Ok(self.start_client(now, req, dest, branch, method))
    }

    fn start_client(&mut self, now: Instant, req: Message, dest: Peer, branch: String, method: Method) -> TxId {
        let id = self.alloc_id();
        let timers = &self.cfg.timers;
        let mut sink = Sink { transmits: &mut self.transmits, events: &mut self.events };
        let machine = if method == Method::Invite {
            Machine::InviteClient(InviteClient::start(id, now, timers, dest, req, &mut sink))
        } else {
            Machine::NonInviteClient(NonInviteClient::start(id, now, timers, dest, &req, &mut sink))
        };
        let ck: (Box<str>, Method) = (branch.into(), method);
        self.client_keys.insert(ck.clone(), id);
        self.entries.insert(id, Box::new(Entry { machine, server_key: None, client_key: Some(ck), merge_key: None, dialog_key: None, request: None }));
        self.after(id);
        id
    }

    /// Send an ACK for a 2xx (built by the dialog layer) with a fresh branch.
    pub fn send_ack(&mut self, mut ack: Message, dest: Peer) {
        self.add_via(&mut ack, dest.transport);
        self.transmits.push_back(Transmit { dest, data: ack.to_bytes() });
    }

    /// Send a message outside any transaction, unchanged.
    pub fn send_stateless(&mut self, msg: &Message, dest: Peer) {
        self.transmits.push_back(Transmit { dest, data: msg.to_bytes() });
    }

    /// CANCEL a pending INVITE client transaction (§9.1): built from the
    /// INVITE with the same branch; only after a provisional response.
    pub fn cancel(&mut self, now: Instant, invite: TxId, reason: Option<&str>) -> Result<TxId, ProtoError> {
        let Some(Entry { machine: Machine::InviteClient(t), .. }) = self.entries.get(&invite).map(|e| &**e) else {
            return Err(ProtoError::UnknownTransaction);
        };
        if !t.is_proceeding() {
            return Err(ProtoError::WrongState);
        }
        let Some(orig) = &t.request else { return Err(ProtoError::WrongState) };
        let dest = t.dest;
        let mut c = Message::request(Method::Cancel, orig.request_uri_str().unwrap_or("sip:invalid"));
        let top_via = orig.values(HeaderName::Via).next().ok_or(ProtoError::WrongState)?.to_owned();
        c.push(HeaderName::Via, &top_via);
        for r in orig.get_all(HeaderName::Route) {
            c.push(HeaderName::Route, r);
        }
        c.push(HeaderName::MaxForwards, "70");
        for h in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
            if let Some(v) = orig.get(h) {
                c.push(h, v);
            }
        }
        let seq = orig.cseq().map(|c| c.seq).unwrap_or(1);
        c.push(HeaderName::CSeq, &format!("{seq} CANCEL"));
        if let Some(r) = reason {
            c.push(HeaderName::Reason, r);
        }
        let branch = Via::parse(&top_via).ok().and_then(|v| v.branch().map(str::to_owned)).unwrap_or_default();
        Ok(self.start_client(now, c, dest, branch, Method::Cancel))
    }

    /// Answer a server transaction.
    pub fn respond(&mut self, now: Instant, tx: TxId, resp: Message) -> Result<(), ProtoError> {
        let code = resp.status().ok_or(ProtoError::NotAResponse)?;
        let timers = &self.cfg.timers;
        let entry = self.entries.get_mut(&tx).ok_or(ProtoError::UnknownTransaction)?;
        let mut sink = Sink { transmits: &mut self.transmits, events: &mut self.events };
        let ok = match &mut entry.machine {
            Machine::InviteServer(t) => t.respond(now, timers, &resp, &mut sink),
            Machine::NonInviteServer(t) => t.respond(now, timers, &resp, &mut sink),
            _ => return Err(ProtoError::NotAServerTransaction),
        };
        if !ok {
            return Err(ProtoError::WrongState);
        }
        if (200..300).contains(&code) {
            if let (Machine::InviteServer(_), Some(req)) = (&entry.machine, &entry.request) {
                let dk = (|| {
                    Some((req.call_id().ok()?.into(), req.cseq().ok()?.seq, req.from().ok()?.tag().unwrap_or("").into()))
                })();
                if let Some(dk) = dk {
                    entry.dialog_key = Some(dk.clone());
                    self.accepted.insert(dk, tx);
                }
            }
        }
        if code >= 200 {
            // The request was kept for a CANCEL's 487 and the 100 Trying;
            // neither can come after a final answer. What the transaction
            // lingers for (retransmissions, the ACK) needs only its keys
            // and the response bytes.
            entry.request = None;
        }
        self.after(tx);
        Ok(())
    }

    /// Answer a server transaction statelessly (RFC 3261 §8.2.7) and forget
    /// it at once: a retransmitted request is then a new request and is
    /// answered again. For cheap idempotent answers (OPTIONS) this keeps
    /// no state for Timer J's 32 s, as a stateless proxy would.
    pub fn respond_stateless(&mut self, now: Instant, tx: TxId, resp: Message) -> Result<(), ProtoError> {
        if resp.status().is_none() {
            return Err(ProtoError::NotAResponse);
        }
        let dest = match self.entries.get(&tx).map(|e| &e.machine) {
            Some(Machine::NonInviteServer(t)) => t.response_dest,
            // A final non-2xx to an INVITE (a 407 challenge) before any
            // provisional: a lost answer is recovered by the UAC's
            // retransmission getting a new one; its ACK then matches
            // nothing and is dropped.
            Some(Machine::InviteServer(t)) if resp.status().is_some_and(|c| c >= 300) && !t.answered() => t.response_dest,
            // After a 100 the UAC no longer retransmits (§17.1.1.2): only
            // the transaction's own retransmissions (Timer G) can make up
            // for a lost final answer, so it is sent statefully.
            Some(Machine::InviteServer(_)) if resp.status().is_some_and(|c| c >= 300) => return self.respond(now, tx, resp),
            Some(Machine::InviteServer(_)) => return Err(ProtoError::WrongState),
            _ => return Err(ProtoError::UnknownTransaction),
        };
        self.transmits.push_back(Transmit { dest, data: resp.to_bytes() });
        self.discard(tx);
        Ok(())
    }

    /// Drop a server transaction without answering (a banned source):
    /// retransmissions of its request will be new requests again.
    pub fn discard(&mut self, tx: TxId) {
        if let Some(e) = self.entries.get(&tx) {
            if matches!(e.machine, Machine::InviteServer(_) | Machine::NonInviteServer(_)) {
                if let Some(e) = self.entries.remove(&tx) {
                    if let Some(k) = e.server_key {
                        self.server_keys.remove(&k);
                    }
                    if let Some(k) = e.merge_key {
                        if self.merge_index.get(&k) == Some(&tx) {
                            self.merge_index.remove(&k);
                        }
                    }
                }
            }
        }
    }

    /// The request that created an INVITE server transaction, until its
    /// final answer (only INVITEs are kept, and only that long).
    pub fn server_request(&self, tx: TxId) -> Option<&Message> {
        self.entries.get(&tx).and_then(|e| e.request.as_ref())
    }

    /// The driver could not deliver to `dest` (connection refused or lost):
    /// every client transaction towards it fails with [`Event::TransportError`].
    pub fn handle_transport_error(&mut self, dest: Peer) {
        let ids: Vec<TxId> = self
            .entries
            .iter()
            .filter(|(_, e)| match &e.machine {
                Machine::InviteClient(t) => t.dest.addr == dest.addr && t.dest.transport == dest.transport,
                Machine::NonInviteClient(t) => t.dest.addr == dest.addr && t.dest.transport == dest.transport,
                _ => false,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(e) = self.entries.get_mut(&id) {
                let mut sink = Sink { transmits: &mut self.transmits, events: &mut self.events };
                match &mut e.machine {
                    Machine::InviteClient(t) => t.transport_error(&mut sink),
                    Machine::NonInviteClient(t) => t.transport_error(&mut sink),
                    _ => {}
                }
            }
            self.after(id);
        }
    }
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: note where the request really came from.
fn stamp_received(req: &mut Message, source: Peer) {
    let Ok(via) = req.top_via() else { return };
    let src_ip = source.addr.ip();
    let host_matches = match via.host() {
        Host::V4(a) => IpAddr::V4(a) == src_ip,
        Host::V6(a) => IpAddr::V6(a) == src_ip,
        Host::Domain(_) => false,
    };
    let wants_rport = matches!(via.rport(), Some(None));
    if host_matches && !wants_rport {
        return;
    }
    let mut text = String::with_capacity(via.params().as_str().len() + 64);
    text.push_str(via.protocol());
    text.push('/');
    text.push_str(via.version());
    text.push('/');
    text.push_str(via.transport());
    text.push(' ');
    text.push_str(via.host_str());
    if let Some(p) = via.port() {
        text.push(':');
        text.push_str(&p.to_string());
    }
    for (name, value) in via.params().iter() {
        if name.eq_ignore_ascii_case("received") || name.eq_ignore_ascii_case("rport") {
            continue;
        }
        text.push(';');
        text.push_str(name);
        if let Some(v) = value {
            text.push('=');
            text.push_str(v);
        }
    }
    text.push_str(";received=");
    text.push_str(&src_ip.to_string());
    if via.rport().is_some() {
        text.push_str(";rport=");
        text.push_str(&source.addr.port().to_string());
    }
    req.remove_first_value(HeaderName::Via);
    req.prepend(HeaderName::Via, &text);
}

/// Where to send a response (RFC 3261 §18.2.2, RFC 3581 §4), given the top
/// Via as stamped on receipt and the peer the request came from.
pub fn response_destination(via: &Via<'_>, source: Peer) -> Peer {
    if source.transport.is_reliable() {
        // Same connection while it lives; the driver reconnects to addr otherwise.
        return source;
    }
    let port = match via.rport() {
        Some(Some(p)) => p,
        _ => via.port().unwrap_or(5060),
    };
    let ip = via
        .received()
        .and_then(|r| r.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok())
        .or_else(|| via.host().ip())
        .unwrap_or(source.addr.ip());
    Peer { transport: source.transport, addr: SocketAddr::new(ip, port), conn: None }
}

/// What load shedding refuses: an out-of-dialog request that carries no
/// credentials, i.e. the first request of a new call or registration
/// attempt. A request answering a challenge continues an attempt the
/// switch already spent work on; in-dialog requests and CANCEL end or
/// steer calls already admitted.
fn is_new_work(req: &Message, method: &Method) -> bool {
    !matches!(method, Method::Ack | Method::Cancel)
        && !req.to().map(|t| t.tag().is_some()).unwrap_or(false)
        && req.get(HeaderName::Authorization).is_none()
        && req.get(HeaderName::ProxyAuthorization).is_none()
}
