//! Calls: the legs, their state, and every SIP decision between them.

use crate::sdp_rewrite::{self, MediaMode};
use crate::Media;
use bytes::Bytes;
use sip_msg::{HeaderName, Message, Method};
use sip_proto::{Dialog, Endpoint, Peer, TxId};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Which leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The caller's leg.
    A,
    /// The callee's leg.
    B,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
    /// `caller` / `callee`.
    pub fn party(self) -> &'static str {
        match self {
            Side::A => "caller",
            Side::B => "callee",
        }
    }
}

/// Settings.
#[derive(Clone, Debug)]
pub struct B2buaConfig {
    /// Domain used in From/To of B-legs.
    pub domain: String,
    /// Address written into relayed SDP.
    pub media_ip: IpAddr,
    /// Relay or bypass.
    pub media_mode: MediaMode,
    /// Give up ringing after this long (480 to the caller).
    pub ring_timeout: Duration,
    /// Server / User-Agent value.
    pub user_agent: String,
    /// A gateway that has not rung (180/183) or answered within this is
    /// given up on (CANCEL) and the next gateway tried.
    pub gateway_progress_timeout: Duration,
    /// Codecs the media engine transcodes between (relay mode only; empty:
    /// no transcoding). Offers to a leg gain those of them the offer lacks;
    /// when the leg answers one, the call is transcoded (see [`Media::transcode`]).
    pub transcode: Vec<sdp::Codec>,
    /// Hand the 200 to a BYE that ends a call to the driver with the call's
    /// record ([`Cdr::bye_reply`]) instead of sending it at once, so the
    /// driver can send it once the record is durable: a phone that saw its
    /// hang-up acknowledged then finds the call's CDR even after a crash.
    pub hold_bye_reply: bool,
}

/// One contact to ring.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Request-URI (the registered Contact).
    pub uri: String,
    /// Where to send (the binding's source: works behind NAT).
    pub dest: Peer,
    /// Headers added to this leg's INVITE (name, value): a node-to-node
    /// call's signature.
    pub headers: Vec<(String, String)>,
}

/// A leg through a carrier gateway (serial hunting: one at a time; the
/// driver picks the next gateway when [`CallEvent::GatewayFailed`] comes).
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayLeg {
    /// The gateway's name (reported back in events and the CDR).
    pub gateway: String,
    /// Request-URI, e.g. `sip:0049301234@carrier.example`.
    pub uri: String,
    /// To URI (usually the Request-URI).
    pub to: String,
    /// The caller number to present (From user).
    pub from_user: String,
    /// Where to send.
    pub dest: Peer,
    /// Codecs the gateway accepts (empty: any): the offer is restricted to them.
    pub codecs: Vec<String>,
}

/// Whether a gateway's final answer should make the call try the next
/// gateway: server failures (5xx), 408 and no answer at all (0) do; a
/// definite answer about the callee (404, 486, 603, other 4xx/6xx) does not.
pub fn fails_over(code: u16) -> bool {
    matches!(code, 0 | 408 | 500..=599)
}

/// Why a call could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartError {
    /// No target to ring.
    NoTargets,
    /// The relay has no free ports.
    NoMediaPorts,
    /// The offer has nothing we can answer (488).
    NoCommonMedia,
    /// The caller's Session-Expires is below [`MIN_SE`] (422 with Min-SE).
    SessionIntervalTooSmall,
}

/// The shortest session interval we accept (RFC 4028 §4: at least 90 s).
pub const MIN_SE: u32 = 90;

/// The session timer a caller asked for (RFC 4028): its interval when it
/// supports timers; `Err` when the interval is below [`MIN_SE`]. Callers
/// that ask without supporting `timer` would need us as the refresher;
/// those get no timer.
fn session_timer(req: &Message) -> Result<Option<u32>, StartError> {
    let Some(se) = req.get(HeaderName::SessionExpires).and_then(|v| sip_msg::SessionExpires::parse(v).ok()) else { return Ok(None) };
    if se.delta < MIN_SE {
        return Err(StartError::SessionIntervalTooSmall);
    }
    let supports = req.tokens(HeaderName::Supported).any(|t| t.eq_ignore_ascii_case("timer")) || req.tokens(HeaderName::Require).any(|t| t.eq_ignore_ascii_case("timer"));
    Ok(supports.then_some(se.delta))
}

/// When a session with interval `se` refreshed at `now` is over: RFC 4028
/// §10 (the interval less a third of it or 32 s, whichever is less).
fn session_end(now: Instant, se: u32) -> Instant {
    now + Duration::from_secs(u64::from(se - (se / 3).min(32)))
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Answered.
    Answered,
    /// Callee busy (486/600).
    Busy,
    /// Nobody answered before the ring timeout, or 480/408.
    NoAnswer,
    /// Caller hung up before an answer.
    Cancelled,
    /// Callee declined (603).
    Declined,
    /// Anything else.
    Failed,
}

impl Disposition {
    /// Lower-case name for CDRs.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "answered",
            Disposition::Busy => "busy",
            Disposition::NoAnswer => "no_answer",
            Disposition::Cancelled => "cancelled",
            Disposition::Declined => "declined",
            Disposition::Failed => "failed",
        }
    }
}

/// Call detail record (times as instants; the driver makes them wall time).
#[derive(Clone, Debug)]
pub struct Cdr {
    /// Call UUID.
    pub id: String,
    /// Calling extension (authenticated).
    pub caller: String,
    /// Dialled number.
    pub callee: String,
    /// Caller's Call-ID.
    pub a_call_id: String,
    /// Creation.
    pub start: Instant,
    /// Answer, if any.
    pub answer: Option<Instant>,
    /// End.
    pub end: Instant,
    /// Outcome.
    pub disposition: Disposition,
    /// Who hung up: `caller`, `callee` or `system`.
    pub hangup_side: &'static str,
    /// Why, in words (`normal_clearing`, `no_answer`, `ack_timeout`, ...).
    pub hangup_cause: String,
    /// Final status sent to the caller.
    pub a_status: u16,
    /// Final status from the callee (the best fork), 0 if none.
    pub b_status: u16,
    /// Codec of the answer, e.g. `PCMU/8000`.
    pub codec: Option<String>,
    /// RTP packets relayed towards the caller and the callee.
    pub packets: (u64, u64),
    /// Loss and jitter of those two streams.
    pub quality: crate::Quality,
    /// The gateway of the B-leg, if the call went to a carrier.
    pub gateway: Option<String>,
    /// With [`B2buaConfig::hold_bye_reply`]: the 200 owed to the BYE that
    /// ended the call, for the driver to send (`Endpoint::respond`) once the
    /// record is stored.
    pub bye_reply: Option<(TxId, Message)>,
}

/// What the b2bua reports.
#[derive(Clone, Debug)]
pub enum CallEvent {
    /// A call started.
    Created {
        /// Call UUID.
        id: String,
        /// Calling extension.
        caller: String,
        /// Called number.
        callee: String,
        /// Caller's Call-ID.
        a_call_id: String,
        /// When.
        start: Instant,
    },
    /// The callee's phone rings (first 180/183).
    Ringing {
        /// Call UUID.
        id: String,
    },
    /// Answered.
    Answered {
        /// Call UUID.
        id: String,
        /// When.
        at: Instant,
    },
    /// Ended: the CDR.
    Ended(Box<Cdr>),
    /// An originated call's caller answered: the driver dials the callee
    /// with [`B2bua::dial_b`] (or gives up with [`B2bua::fail_call`]).
    CallerAnswered {
        /// Call UUID.
        id: String,
    },
    /// The callee sent early media (183 with SDP, relayed to the caller).
    EarlyMedia {
        /// Call UUID.
        id: String,
    },
    /// One side put the call on hold (`held`) or took it off hold, by a
    /// re-INVITE or UPDATE.
    Hold {
        /// Call UUID.
        id: String,
        /// Which side asked.
        by: Side,
        /// On hold now?
        held: bool,
    },
    /// A parked call's agent leg answered: the two are bridged.
    Bridged {
        /// Call UUID.
        id: String,
        /// When.
        at: Instant,
        /// The `group` it was dialled with ([`B2bua::dial_agent`]).
        group: u64,
    },
    /// A digit from a parked caller by SIP INFO (RFC 4733 digits come
    /// from the media relay).
    Dtmf {
        /// Call UUID.
        id: String,
        /// 0-9, *, #, A-D.
        digit: char,
    },
    /// Every leg of one `group` of a parked call's agent legs failed,
    /// the last with `code` (408: rang out or no response); the caller
    /// stays parked.
    AgentFailed {
        /// Call UUID.
        id: String,
        /// Final status.
        code: u16,
        /// The `group` it was dialled with ([`B2bua::dial_agent`]).
        group: u64,
    },
    /// A gateway leg was sent: the driver counts it against the
    /// gateway's limits until [`CallEvent::GatewayReleased`].
    GatewayUsed {
        /// Call UUID.
        id: String,
        /// Gateway name.
        gateway: String,
    },
    /// A gateway leg is over (failed, or the call ended).
    GatewayReleased {
        /// Call UUID.
        id: String,
        /// Gateway name.
        gateway: String,
    },
    /// A gateway leg failed with `code` (0: no answer). The call waits:
    /// the driver calls [`B2bua::hunt_next`] with the next gateway or
    /// [`B2bua::fail_call`].
    GatewayFailed {
        /// Call UUID.
        id: String,
        /// Gateway name.
        gateway: String,
        /// Final status (0 for a timeout or transport failure).
        code: u16,
    },
    /// The gateway asked for credentials (401/407). The call waits: the
    /// driver calls [`B2bua::authenticate`] or [`B2bua::fail_call`].
    GatewayChallenged {
        /// Call UUID.
        id: String,
        /// Gateway name.
        gateway: String,
        /// The 401/407.
        challenge: Box<Message>,
        /// The Request-URI the credentials are for.
        uri: String,
    },
}

impl CallEvent {
    /// The UUID of the call the event is about.
    pub fn call_id(&self) -> &str {
        match self {
            CallEvent::Ended(c) => &c.id,
            CallEvent::Created { id, .. }
            | CallEvent::Ringing { id }
            | CallEvent::Answered { id, .. }
            | CallEvent::CallerAnswered { id }
            | CallEvent::EarlyMedia { id }
            | CallEvent::Hold { id, .. }
            | CallEvent::Bridged { id, .. }
            | CallEvent::Dtmf { id, .. }
            | CallEvent::AgentFailed { id, .. }
            | CallEvent::GatewayUsed { id, .. }
            | CallEvent::GatewayReleased { id, .. }
            | CallEvent::GatewayFailed { id, .. }
            | CallEvent::GatewayChallenged { id, .. } => id,
        }
    }
}

/// Call state, for the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallState {
    /// B-legs sent, nothing back yet.
    Trying,
    /// Ringing or early media.
    Ringing,
    /// Bridged.
    Answered,
    /// Tearing down.
    Ending,
}

/// A live call, for the API.
#[derive(Clone, Debug)]
pub struct CallInfo {
    /// UUID.
    pub id: String,
    /// Caller.
    pub caller: String,
    /// Callee.
    pub callee: String,
    /// State.
    pub state: CallState,
    /// Since.
    pub start: Instant,
    /// Answered at.
    pub answer: Option<Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ForkState {
    Calling,
    Proceeding,
    Done,
}

struct Fork {
    tx: TxId,
    target: Target,
    gateway: Option<String>,
    request: Message,
    state: ForkState,
    cancel_pending: bool,
    best: u16,
    /// A 180/183 or 2xx arrived.
    progressed: bool,
    /// Which agent offer of a parked call it rings for
    /// ([`B2bua::dial_agent`]); 0 otherwise.
    group: u64,
}

/// One leg to send an INVITE on (for calls the switch originates).
#[derive(Clone, Debug, PartialEq)]
pub struct Leg {
    /// Request-URI.
    pub uri: String,
    /// To URI.
    pub to: String,
    /// From user (the number the called party sees).
    pub from_user: String,
    /// Where to send.
    pub dest: Peer,
    /// The gateway, if the leg goes to a carrier.
    pub gateway: Option<String>,
    /// Codecs the far end accepts (empty: any).
    pub codecs: Vec<String>,
    /// Headers added to the INVITE (name, value).
    pub headers: Vec<(String, String)>,
}

impl From<GatewayLeg> for Leg {
    fn from(g: GatewayLeg) -> Leg {
        Leg { uri: g.uri, to: g.to, from_user: g.from_user, dest: g.dest, gateway: Some(g.gateway), codecs: g.codecs, headers: Vec::new() }
    }
}

/// An in-dialog request relayed to the other leg, waiting for its answer.
struct Relayed {
    server_tx: TxId,
    from: Side,
    request: Message,
}

struct Call {
    id: String,
    caller: String,
    callee: String,
    a_tx: TxId,
    a_req: Message,
    a_source: Peer,
    a_tag: String,
    a_dialog: Option<Dialog>,
    b_dialog: Option<Dialog>,
    b_dest: Option<Peer>,
    forks: Vec<Fork>,
    state: CallState,
    ports: Option<(u16, u16)>,
    start: Instant,
    answer: Option<Instant>,
    a_status: u16,
    b_status: u16,
    codec: Option<String>,
    cancelled: bool,
    hangup: Option<(&'static str, String)>,
    /// The B-leg offer (kept to send again to the next gateway).
    b_offer: Option<Bytes>,
    max_forwards: u8,
    display: String,
    /// Gateway of the current (or answering) B-leg, held against its limits.
    gateway: Option<String>,
    /// The last gateway tried (for the CDR).
    last_gateway: Option<String>,
    /// Waiting for the driver: next gateway, credentials, or give up.
    waiting: bool,
    /// Credentials already sent on the current gateway leg.
    auth_sent: bool,
    /// The fork whose 2xx won (its retransmitted 2xx are only re-ACKed).
    winner: Option<usize>,
    /// Originated by us (click-to-call): the A-leg is our UAC dialog too.
    originated: bool,
    /// Originated calls: index of the first B-leg fork (usize::MAX while
    /// the caller's phone rings).
    b_start: usize,
    /// Originated calls: the caller's answer SDP (the B-leg's offer).
    a_answer: Option<Bytes>,
    /// Originated calls: the A-leg's winning fork.
    a_winner: Option<usize>,
    /// Originated calls: the gateway of the A-leg, held against its limits.
    a_gateway: Option<String>,
    /// Answered by us and held (a queue member): B-legs come and go with
    /// [`B2bua::dial_agent`] until one answers.
    parked: bool,
    /// Early media was relayed (reported once).
    early_media: bool,
    /// On hold, and by which side.
    held: Option<Side>,
    /// The legs share no codec: what each speaks.
    transcode: Option<crate::Transcode>,
    /// Version of the SDP we write ourselves (transcoded answers).
    sdp_version: u64,
    /// The answered B-leg's description (its telephone-event for digits).
    b_answer: Option<Bytes>,
    /// The answered B-leg's 2xx allowed INFO.
    b_allows_info: bool,
    /// RFC 4028 session interval with the caller (it refreshes), and when
    /// the session ends without a refresh.
    session: Option<(u32, Instant)>,
}

/// The call controller.
pub struct B2bua {
    cfg: B2buaConfig,
    calls: HashMap<String, Call>,
    by_a_tx: HashMap<TxId, String>,
    by_fork: HashMap<TxId, (String, usize)>,
    by_dialog: HashMap<(String, String), (String, Side)>,
    relayed: HashMap<TxId, (String, Relayed)>,
    byes: HashMap<TxId, String>,
    deadlines: BTreeMap<(Instant, u64), String>,
    /// Gateway legs waiting for progress: (deadline, seq) -> (call, fork tx).
    progress: BTreeMap<(Instant, u64), (String, TxId)>,
    /// Per call, its keys in `by_dialog`, `relayed`, `deadlines` and
    /// `progress`, so ending a call removes exactly those.
    owned: HashMap<String, Owned>,
    /// Session timers (RFC 4028): (end, seq) -> call; stale entries are
    /// checked against the call's own end when they come up.
    sessions: BTreeMap<(Instant, u64), String>,
    seq: u64,
    events: VecDeque<CallEvent>,
    /// The 200 of the BYE being handled, until the call's record takes it.
    held_bye: Option<(TxId, Message)>,
}

fn add_body(m: &mut Message, body: Option<Bytes>) {
    if let Some(b) = body {
        m.push(HeaderName::ContentType, "application/sdp");
        m.set_body(b);
    }
}

/// The SDP for `to` when the other leg answered (or, in a re-INVITE,
/// offered then got) `answer` to `offer` (relay mode): the answer
/// rewritten to the relay port `port` facing `to`, or, when the answerer
/// chose a codec only the switch added, the switch's own answer in the
/// offerer's codec, with the relay told to transcode. `to` is the offerer.
#[allow(clippy::too_many_arguments)]
fn answer_for(cfg: &B2buaConfig, media: &mut dyn Media, id: &str, call: &mut Call, to: Side, offer: &[u8], answer: &[u8], port: u16) -> Option<Bytes> {
    if cfg.media_mode == MediaMode::Relay && !cfg.transcode.is_empty() {
        if let Some((mut offerer, answerer)) = sdp_rewrite::transcode_plan(offer, answer, &cfg.transcode) {
            call.sdp_version += 1;
            if let Some((body, events)) = sdp_rewrite::answer_transcoded(offer, &offerer, cfg.media_ip, port, call.sdp_version) {
                if let Some((pt, rate)) = events {
                    offerer.events = Some(pt);
                    offerer.events_rate = rate;
                }
                let plan = match to {
                    Side::A => crate::Transcode { a: offerer, b: answerer },
                    Side::B => crate::Transcode { a: answerer, b: offerer },
                };
                call.codec = Some(plan.codecs());
                if call.transcode.as_ref() != Some(&plan) {
                    media.transcode(id, Some(plan.clone()));
                    call.transcode = Some(plan);
                }
                return Some(body);
            }
        }
    }
    if call.transcode.take().is_some() {
        media.transcode(id, None);
    }
    if cfg.media_mode == MediaMode::Relay {
        // Relayed untouched: what the streams carry, for the media engine
        // to decode where it needs the audio. The offerer (`to`) sends in
        // the answerer's payload type, the answerer in the offerer's.
        let relayed = sdp_rewrite::relayed(offer, answer).map(|(codec, to_answerer, to_offerer)| match to {
            Side::A => crate::Relayed { codec, from_a: to_answerer, from_b: to_offerer },
            Side::B => crate::Relayed { codec, from_a: to_offerer, from_b: to_answerer },
        });
        media.relayed(id, relayed);
    }
    let rewritten = sdp_rewrite::rewrite(answer, cfg.media_ip, port)?;
    if to == Side::A && call.b_allows_info {
        // The callee takes digits as INFO: the caller may send RFC 4733
        // (the switch turns them into INFO, see `send_info_digit`).
        return Some(sdp_rewrite::add_offered_events(&rewritten, offer).unwrap_or(rewritten));
    }
    Some(rewritten)
}

/// Our side of the caller's session timer in a 2xx: it refreshes.
fn session_headers(r: &mut Message, se: u32) {
    r.push(HeaderName::SessionExpires, &format!("{se};refresher=uac"));
    r.push(HeaderName::Require, "timer");
}

fn is_sdp(m: &Message) -> bool {
    !m.body().is_empty()
        && m.get(HeaderName::ContentType).and_then(|c| sip_msg::ContentType::parse(c).ok()).is_some_and(|c| c.is("application", "sdp"))
}

/// Preference among failure codes (RFC 3261 §16.7 step 6, simplified):
/// 6xx beats everything, then 486/600-ish busy, then the lowest class.
fn better(a: u16, b: u16) -> bool {
    let rank = |c: u16| match c {
        0 => 0,
        600..=699 => 5,
        486 => 4,
        400..=499 if c != 408 && c != 480 => 3,
        300..=399 => 2,
        _ => 1,
    };
    rank(a) > rank(b)
}

impl B2bua {
    /// A controller.
    pub fn new(cfg: B2buaConfig) -> B2bua {
        B2bua {
            cfg,
            calls: HashMap::new(),
            by_a_tx: HashMap::new(),
            by_fork: HashMap::new(),
            by_dialog: HashMap::new(),
            relayed: HashMap::new(),
            byes: HashMap::new(),
            deadlines: BTreeMap::new(),
            progress: BTreeMap::new(),
            owned: HashMap::new(),
            sessions: BTreeMap::new(),
            seq: 0,
            events: VecDeque::new(),
            held_bye: None,
        }
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    /// Earliest deadline (ring timeouts).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ring = self.deadlines.keys().next().map(|(t, _)| *t);
        let progress = self.progress.keys().next().map(|(t, _)| *t);
        let session = self.sessions.keys().next().map(|(t, _)| *t);
        ring.into_iter().chain(progress).chain(session).min()
    }

    /// Live calls.
    pub fn calls(&self) -> Vec<CallInfo> {
        self.calls
            .values()
            .map(|c| CallInfo { id: c.id.clone(), caller: c.caller.clone(), callee: c.callee.clone(), state: c.state, start: c.start, answer: c.answer })
            .collect()
    }

    /// Does this Call-ID belong to one of call `id`'s legs (the caller's,
    /// or any leg we sent)? For the SIP trace.
    pub fn has_call_id(&self, id: &str, call_id: &str) -> bool {
        self.calls.get(id).is_some_and(|c| c.a_req.call_id().ok() == Some(call_id) || c.forks.iter().any(|f| f.request.call_id().ok() == Some(call_id)))
    }

    /// The codec a call negotiated so far (e.g. `PCMU/8000`).
    pub fn codec_of(&self, id: &str) -> Option<String> {
        self.calls.get(id).and_then(|c| c.codec.clone())
    }

    /// Number of live calls.
    pub fn count(&self) -> usize {
        self.calls.len()
    }

    /// Number of live channels (legs): each call's caller leg, plus its
    /// answered callee leg or, before the answer, each fork still ringing.
    pub fn channel_count(&self) -> usize {
        self.calls.values().map(|c| 1 + if c.b_dialog.is_some() { 1 } else { c.forks.iter().filter(|f| f.state != ForkState::Done).count() }).sum()
    }

    /// Is this server transaction an A-leg INVITE of ours?
    pub fn owns_server_tx(&self, tx: TxId) -> bool {
        self.by_a_tx.contains_key(&tx)
    }

    /// Does an in-dialog request belong to one of our calls?
    pub fn owns_dialog(&self, req: &Message) -> bool {
        self.dialog_of(req).is_some()
    }

    fn dialog_of(&self, req: &Message) -> Option<(String, Side)> {
        let call_id = req.call_id().ok()?;
        let tag = req.to().ok()?.tag()?.to_owned();
        self.by_dialog.get(&(call_id.to_owned(), tag)).cloned()
    }

    /// Offers gain the codecs the media engine transcodes.
    fn transcodes(&self) -> bool {
        self.cfg.media_mode == MediaMode::Relay && !self.cfg.transcode.is_empty()
    }

    fn transcoding(&self) -> &[sdp::Codec] {
        if self.transcodes() {
            &self.cfg.transcode
        } else {
            &[]
        }
    }

    fn contact(&self, ep: &Endpoint, dest: Peer) -> String {
        let host = ep.config().sent_by(dest.transport);
        match dest.transport {
            sip_proto::Transport::Udp => format!("<sip:ferroswitch@{host}>"),
            t => format!("<sip:ferroswitch@{host};transport={}>", t.via_name().to_ascii_lowercase()),
        }
    }

    /// Start a call for an authenticated INVITE on server transaction `tx`
    /// from `caller` to `callee`, ringing every target. `codecs`: the
    /// callee's codec preference (empty: any); its phones are offered only
    /// those (plus, when transcoding, those of them the switch can add).
    #[allow(clippy::too_many_arguments)]
    pub fn start_call(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        media: &mut dyn Media,
        tx: TxId,
        req: Message,
        source: Peer,
        caller: &str,
        caller_display: Option<&str>,
        callee: &str,
        targets: Vec<Target>,
        codecs: &[String],
        id: String,
        mode: Option<MediaMode>,
    ) -> Result<String, StartError> {
        let to = format!("sip:{callee}@{}", self.cfg.domain);
        let legs = targets.into_iter().map(|t| Leg { uri: t.uri, to: to.clone(), from_user: caller.to_owned(), dest: t.dest, gateway: None, codecs: codecs.to_vec(), headers: t.headers }).collect();
        self.start_inner(now, ep, media, tx, req, source, caller, caller_display, callee, legs, id, mode)
    }

    /// Start a call that goes out through a carrier gateway (the first of
    /// the driver's hunt list). On a failure that warrants it the call
    /// waits for [`B2bua::hunt_next`] (see [`CallEvent::GatewayFailed`]).
    #[allow(clippy::too_many_arguments)]
    pub fn start_gateway_call(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        media: &mut dyn Media,
        tx: TxId,
        req: Message,
        source: Peer,
        caller: &str,
        caller_display: Option<&str>,
        callee: &str,
        leg: GatewayLeg,
        id: String,
        mode: Option<MediaMode>,
    ) -> Result<String, StartError> {
        let spec = Leg::from(leg);
        self.start_inner(now, ep, media, tx, req, source, caller, caller_display, callee, vec![spec], id, mode)
    }

    #[allow(clippy::too_many_arguments)]
    fn start_inner(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        media: &mut dyn Media,
        tx: TxId,
        req: Message,
        source: Peer,
        caller: &str,
        caller_display: Option<&str>,
        callee: &str,
        legs: Vec<Leg>,
        id: String,
        mode: Option<MediaMode>,
    ) -> Result<String, StartError> {
        if legs.is_empty() {
            return Err(StartError::NoTargets);
        }
        let session = session_timer(&req)?;
        let ports = match mode.unwrap_or(self.cfg.media_mode) {
            MediaMode::Relay => Some(media.open(&id).ok_or(StartError::NoMediaPorts)?),
            MediaMode::Bypass => None,
        };
        let offer = if is_sdp(&req) { Some(req.body().clone()) } else { None };
        if let (Some((_, _)), Some(o)) = (ports, &offer) {
            if let Some(addr) = sdp_rewrite::audio_addr(o) {
                media.set_peer(&id, Side::A, addr);
            }
        }
        let b_offer = match (ports, &offer) {
            (Some((_, pb)), Some(o)) => sdp_rewrite::rewrite(o, self.cfg.media_ip, pb).or(Some(o.clone())),
            (None, o) => o.clone(),
            (Some(_), None) => None,
        };
        let max_forwards = req.max_forwards().ok().flatten().unwrap_or(70).saturating_sub(1);
        let a_tag = ep.new_tag();
        let b_call_id = ep.new_call_id();
        let b_from_tag = ep.new_tag();
        let display = caller_display.filter(|d| !d.is_empty()).map(|d| format!("\"{}\" ", d.replace('"', "'"))).unwrap_or_default();
        let mut forks = Vec::with_capacity(legs.len());
        let mut gateway = None;
        let mut no_codec = false;
        for leg in legs {
            let Some(m) = self.build_invite(ep, &leg, &b_call_id, &b_from_tag, &display, max_forwards, b_offer.clone(), ports.is_some()) else {
                // Nothing in the offer this leg may take.
                no_codec = true;
                continue;
            };
            let sent = m.clone();
            if let Ok(ftx) = ep.send_request(now, m, leg.dest) {
                self.by_fork.insert(ftx, (id.clone(), forks.len()));
                if let Some(g) = &leg.gateway {
                    gateway = Some(g.clone());
                }
                forks.push(Fork {
                    tx: ftx,
                    target: Target { uri: leg.uri, dest: leg.dest, headers: leg.headers },
                    gateway: leg.gateway,
                    request: sent,
                    state: ForkState::Calling,
                    cancel_pending: false,
                    best: 0,
                    progressed: false,
                    group: 0,
                });
            }
        }
        if forks.is_empty() {
            if ports.is_some() {
                media.close(&id);
            }
            return Err(if no_codec { StartError::NoCommonMedia } else { StartError::NoTargets });
        }
        self.index_dialog((b_call_id, b_from_tag), &id, Side::B);
        let ring_deadline = now + self.cfg.ring_timeout;
        self.seq += 1;
        self.index_deadline((ring_deadline, self.seq), &id);
        self.by_a_tx.insert(tx, id.clone());
        self.calls.insert(
            id.clone(),
            Call {
                forks,
                ports,
                b_offer,
                max_forwards,
                display,
                session: session.map(|se| (se, now)),
                gateway: gateway.clone(),
                last_gateway: gateway.clone(),
                ..Call::new(id.clone(), caller.to_owned(), callee.to_owned(), tx, req, source, a_tag, now)
            },
        );
        let a_call_id = self.calls.get(&id).and_then(|c| c.a_req.call_id().ok()).unwrap_or("").to_owned();
        self.events.push_back(CallEvent::Created { id: id.clone(), caller: caller.to_owned(), callee: callee.to_owned(), a_call_id, start: now });
        if let Some(g) = gateway {
            if let Some(f) = self.calls.get(&id).and_then(|c| c.forks.last()) {
                self.seq += 1;
                self.index_progress((now + self.cfg.gateway_progress_timeout, self.seq), &id, f.tx);
            }
            self.events.push_back(CallEvent::GatewayUsed { id: id.clone(), gateway: g });
        }
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    /// `transcode`: the offer may gain the codecs the switch transcodes
    /// (calls bridged through [`answer_for`]; parked and originated calls
    /// offer what they already speak).
    #[allow(clippy::too_many_arguments)]
    fn build_invite(&self, ep: &Endpoint, leg: &Leg, call_id: &str, from_tag: &str, display: &str, max_forwards: u8, offer: Option<Bytes>, transcode: bool) -> Option<Message> {
        // A gateway that takes only some codecs gets only those offered;
        // none in common: this leg cannot be tried.
        let add: &[sdp::Codec] = if transcode { self.transcoding() } else { &[] };
        let offer = match offer {
            Some(o) if !leg.codecs.is_empty() || !add.is_empty() => Some(sdp_rewrite::offer_for_leg(&o, &leg.codecs, add)?),
            o => o,
        };
        let mut m = Message::request(Method::Invite, &leg.uri);
        m.push(HeaderName::MaxForwards, &max_forwards.to_string());
        m.push(HeaderName::From, &format!("{display}<sip:{}@{}>;tag={from_tag}", leg.from_user, self.cfg.domain));
        m.push(HeaderName::To, &format!("<{}>", leg.to));
        m.push(HeaderName::CallId, call_id);
        m.push(HeaderName::CSeq, "1 INVITE");
        let contact = self.contact(ep, leg.dest);
        m.push(HeaderName::Contact, &contact);
        m.push(HeaderName::Allow, "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO");
        m.push(HeaderName::UserAgent, &self.cfg.user_agent);
        for (name, value) in &leg.headers {
            m.push_named(name, value);
        }
        add_body(&mut m, offer);
        Some(m)
    }

    /// Try the next gateway for a call waiting after
    /// [`CallEvent::GatewayFailed`]. `false` if the call is not waiting (it
    /// ended or was cancelled meanwhile) or the request could not be sent.
    pub fn hunt_next(&mut self, now: Instant, ep: &mut Endpoint, id: &str, leg: GatewayLeg) -> bool {
        let Some(call) = self.calls.get(id) else { return false };
        if !call.waiting || call.cancelled || call.winner_decided() {
            return false;
        }
        let spec = Leg::from(leg.clone());
        let call_id = ep.new_call_id();
        let from_tag = ep.new_tag();
        let Some(m) = self.build_invite(ep, &spec, &call_id, &from_tag, &call.display, call.max_forwards, call.b_offer.clone(), call.ports.is_some()) else { return false };
        let sent = m.clone();
        let Ok(ftx) = ep.send_request(now, m, spec.dest) else { return false };
        let Some(call) = self.calls.get_mut(id) else { return false };
        self.by_fork.insert(ftx, (id.to_owned(), call.forks.len()));
        call.forks.push(Fork { tx: ftx, target: Target { uri: spec.uri, dest: spec.dest, headers: spec.headers }, gateway: spec.gateway, request: sent, state: ForkState::Calling, cancel_pending: false, best: 0, progressed: false, group: 0 });
        call.waiting = false;
        call.auth_sent = false;
        call.gateway = Some(leg.gateway.clone());
        call.last_gateway = Some(leg.gateway.clone());
        self.index_dialog((call_id, from_tag), &id, Side::B);
        self.seq += 1;
        self.index_progress((now + self.cfg.gateway_progress_timeout, self.seq), &id, ftx);
        self.events.push_back(CallEvent::GatewayUsed { id: id.to_owned(), gateway: leg.gateway });
        true
    }

    /// Answer a gateway's 401/407 (see [`CallEvent::GatewayChallenged`]):
    /// send the INVITE again with `header: value` and the next CSeq.
    pub fn authenticate(&mut self, now: Instant, ep: &mut Endpoint, id: &str, header: HeaderName, value: &str) -> bool {
        let Some(call) = self.calls.get_mut(id) else { return false };
        if !call.waiting || call.cancelled || call.winner_decided() {
            return false;
        }
        let Some(idx) = call.forks.len().checked_sub(1) else { return false };
        let fork = &mut call.forks[idx];
        let mut m = fork.request.clone();
        let seq = m.cseq().map(|c| c.seq).unwrap_or(1).saturating_add(1);
        m.set(HeaderName::CSeq, &format!("{seq} INVITE"));
        m.remove(HeaderName::Via);
        m.remove(HeaderName::Authorization);
        m.remove(HeaderName::ProxyAuthorization);
        m.push(header, value);
        let sent = m.clone();
        let Ok(ftx) = ep.send_request(now, m, fork.target.dest) else { return false };
        self.by_fork.remove(&fork.tx);
        fork.tx = ftx;
        fork.request = sent;
        fork.state = ForkState::Calling;
        fork.best = 0;
        call.waiting = false;
        call.auth_sent = true;
        self.by_fork.insert(ftx, (id.to_owned(), idx));
        self.seq += 1;
        self.index_progress((now + self.cfg.gateway_progress_timeout, self.seq), &id, ftx);
        true
    }

    /// Give up on a call waiting for the driver (no gateway left, no
    /// credentials): the caller gets the failure (`code`, or the best
    /// seen so far when 0), a gateway failure maps to 503 when nothing
    /// better is known.
    pub fn fail_call(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, id: &str, code: u16) {
        let Some(call) = self.calls.get_mut(id) else { return };
        if call.winner_decided() || call.cancelled {
            return;
        }
        if code != 0 {
            call.b_status = code;
        }
        self.fail_caller(now, ep, media, id);
    }

    /// Refuse the caller with the best B-leg failure and end the call.
    fn fail_caller(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, id: &str) {
        let user_agent = self.cfg.user_agent.clone();
        let Some(call) = self.calls.get_mut(id) else { return };
        if call.originated {
            // The caller's phone is up (or still ringing): hang it up.
            let cause = match call.b_status {
                486 | 600 => "user_busy",
                603 => "call_rejected",
                0 | 408 | 480 => "no_answer",
                401 | 407 | 500..=599 => "gateway_failure",
                _ => "failed",
            };
            self.abandon_originated(now, ep, id);
            return self.finish(ep, media, id, now, "callee", cause.into());
        }
        let code = call.b_status;
        let reason = match code {
            486 => "Busy Here",
            600 => "Busy Everywhere",
            603 => "Decline",
            404 => "Not Found",
            408 | 480 => "Temporarily Unavailable",
            487 => "Request Terminated",
            401 | 407 | 500..=599 => "Service Unavailable",
            _ => "Call Failed",
        };
        let out = match code {
            408 => 480, // a timeout on the B-leg is "no answer" to the caller
            0 => 480,
            // Never pass a gateway's challenge to the caller (it would try
            // to authenticate to us with it).
            401 | 407 | 500..=599 => 503,
            c => c,
        };
        let mut r = Message::response_to(&call.a_req, out, reason, Some(&call.a_tag));
        r.push(HeaderName::Server, &user_agent);
        call.a_status = out;
        let _ = ep.respond(now, call.a_tx, r);
        let cause = match out {
            486 | 600 => "user_busy",
            603 => "call_rejected",
            480 => "no_answer",
            503 => "gateway_failure",
            _ => "failed",
        };
        self.finish(ep, media, id, now, "callee", cause.into());
    }

    /// A response on one of our client transactions. Returns false if it
    /// was not ours.
    pub fn handle_response(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, tx: TxId, resp: Message) -> bool {
        if let Some((id, idx)) = self.by_fork.get(&tx).cloned() {
            self.fork_response(now, ep, media, &id, idx, resp);
            return true;
        }
        if let Some((id, rel)) = self.relayed.remove(&tx) {
            self.relay_response_back(now, ep, media, &id, rel, tx, resp);
            return true;
        }
        if self.byes.contains_key(&tx) {
            if resp.status().is_some_and(|c| c >= 200) {
                self.byes.remove(&tx);
            }
            return true;
        }
        false
    }

    fn fork_response(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, id: &str, idx: usize, resp: Message) {
        let Some(code) = resp.status() else { return };
        let Some(call) = self.calls.get_mut(id) else { return };
        // This call's media mode (the configured one, or its route's).
        let mode = if call.ports.is_some() { MediaMode::Relay } else { MediaMode::Bypass };
        if call.originated && idx < call.b_start {
            return self.a_leg_response(now, ep, media, id, idx, resp, code);
        }
        if code < 200 {
            let stop = call.cancelled || call.winner_decided() || call.forks[idx].state == ForkState::Done;
            let fork = &mut call.forks[idx];
            if code > 100 {
                fork.progressed = true;
            }
            if fork.state == ForkState::Calling {
                fork.state = ForkState::Proceeding;
            }
            if fork.cancel_pending || stop {
                fork.cancel_pending = false;
                let _ = ep.cancel(now, fork.tx, None);
                return;
            }
            if code == 100 {
                return;
            }
            if call.parked {
                // A queue member hears our music until the agent answers.
                return;
            }
            if call.originated {
                // The caller is already up: the callee's early media (a
                // carrier's ringback) reaches it through the relay.
                if is_sdp(&resp) {
                    if let Some(addr) = sdp_rewrite::audio_addr(resp.body()) {
                        media.set_peer(id, Side::B, addr);
                    }
                }
                if call.state == CallState::Trying {
                    call.state = CallState::Ringing;
                    self.events.push_back(CallEvent::Ringing { id: id.to_owned() });
                }
                return;
            }
            // Relay 180/183 to the caller, with early media when there is SDP.
            let mut r = Message::response_to(&call.a_req, code, resp.reason().unwrap_or(""), Some(&call.a_tag));
            r.push(HeaderName::Server, &self.cfg.user_agent);
            let contact = format!("<sip:ferroswitch@{}>", ep.config().sent_by(call.a_source.transport));
            r.push(HeaderName::Contact, &contact);
            if is_sdp(&resp) {
                if let Some((pa, _)) = call.ports {
                    if let Some(addr) = sdp_rewrite::audio_addr(resp.body()) {
                        media.set_peer(id, Side::B, addr);
                    }
                    let offer = call.a_req.body().clone();
                    add_body(&mut r, answer_for(&self.cfg, media, id, call, Side::A, &offer, resp.body(), pa));
                } else if mode == MediaMode::Bypass {
                    add_body(&mut r, Some(resp.body().clone()));
                }
                if !call.early_media {
                    call.early_media = true;
                    self.events.push_back(CallEvent::EarlyMedia { id: id.to_owned() });
                }
            }
            if call.state == CallState::Trying {
                call.state = CallState::Ringing;
                self.events.push_back(CallEvent::Ringing { id: id.to_owned() });
            }
            let _ = ep.respond(now, call.a_tx, r);
            return;
        }
        if (200..300).contains(&code) {
            if call.winner == Some(idx) {
                // A retransmission of the winning 2xx: our ACK was lost.
                if let (Some(d), Some(dest)) = (&call.b_dialog, call.b_dest) {
                    let seq = resp.cseq().map(|c| c.seq).unwrap_or(1);
                    ep.send_ack(d.ack(seq), dest);
                }
                return;
            }
            if call.winner_decided() || call.cancelled || call.forks[idx].state == ForkState::Done {
                // A second fork answered, or the caller already left: hang it up.
                call.forks[idx].state = ForkState::Done;
                let req = call.forks[idx].request.clone();
                let dest = call.forks[idx].target.dest;
                if let Ok(mut d) = Dialog::from_uac(&req, &resp) {
                    ep.send_ack(d.ack(1), dest);
                    let bye = d.request(Method::Bye);
                    if let Ok(btx) = ep.send_request(now, bye, dest) {
                        self.byes.insert(btx, id.to_owned());
                    }
                }
                if call.cancelled {
                    self.maybe_finish_cancel(now, ep, media, id);
                }
                return;
            }
            call.forks[idx].state = ForkState::Done;
            call.winner = Some(idx);
            call.b_status = code;
            if is_sdp(&resp) {
                call.b_answer = Some(resp.body().clone());
            }
            call.b_allows_info = resp.get_all(HeaderName::Allow).any(|a| a.split(',').any(|m| m.trim().eq_ignore_ascii_case("INFO")));
            let req = call.forks[idx].request.clone();
            let dest = call.forks[idx].target.dest;
            let dialog = match Dialog::from_uac(&req, &resp) {
                Ok(d) => d,
                Err(_) => {
                    // Unusable 2xx (no Contact): ACK it via the To/Contact we have and fail.
                    return;
                }
            };
            ep.send_ack(dialog.ack(1), dest);
            call.b_dialog = Some(dialog);
            call.b_dest = Some(dest);
            // Cancel the other forks.
            for (i, f) in call.forks.iter_mut().enumerate() {
                if i != idx && f.state != ForkState::Done {
                    match f.state {
                        ForkState::Proceeding => {
                            let _ = ep.cancel(now, f.tx, Some("SIP;cause=200;text=\"Call completed elsewhere\""));
                        }
                        _ => f.cancel_pending = true,
                    }
                }
            }
            if call.parked {
                if is_sdp(&resp) {
                    call.codec = sdp_rewrite::codec(resp.body()).or(call.codec.take());
                    if let Some(addr) = sdp_rewrite::audio_addr(resp.body()) {
                        media.set_peer(id, Side::B, addr);
                    }
                    // A transcoded caller: the agent's codec is the B side.
                    if let (Some(plan), Some(b)) = (call.transcode.clone(), sdp_rewrite::side(resp.body())) {
                        let plan = crate::Transcode { a: plan.a, b };
                        call.codec = Some(plan.codecs());
                        media.transcode(id, Some(plan.clone()));
                        call.transcode = Some(plan);
                    }
                }
                self.events.push_back(CallEvent::Bridged { id: id.to_owned(), at: now, group: call.forks[idx].group });
                return;
            }
            if call.originated {
                // The caller is already up: bridge the media and go.
                if is_sdp(&resp) {
                    call.codec = sdp_rewrite::codec(resp.body());
                    if let Some(addr) = sdp_rewrite::audio_addr(resp.body()) {
                        media.set_peer(id, Side::B, addr);
                    }
                }
                call.state = CallState::Answered;
                call.answer = Some(now);
                self.events.push_back(CallEvent::Answered { id: id.to_owned(), at: now });
                return;
            }
            // Answer the caller.
            let mut r = Message::response_to(&call.a_req, 200, "OK", Some(&call.a_tag));
            r.push(HeaderName::Server, &self.cfg.user_agent);
            let contact = format!("<sip:ferroswitch@{}>", ep.config().sent_by(call.a_source.transport));
            r.push(HeaderName::Contact, &contact);
            r.push(HeaderName::Allow, "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO");
            if is_sdp(&resp) {
                call.codec = sdp_rewrite::codec(resp.body());
                match call.ports {
                    Some((pa, _)) => {
                        if let Some(addr) = sdp_rewrite::audio_addr(resp.body()) {
                            media.set_peer(id, Side::B, addr);
                        }
                        let offer = call.a_req.body().clone();
                        add_body(&mut r, answer_for(&self.cfg, media, id, call, Side::A, &offer, resp.body(), pa));
                    }
                    None => add_body(&mut r, Some(resp.body().clone())),
                }
            }
            if let Ok(a_dialog) = Dialog::from_uas(&call.a_req, &call.a_tag, true) {
                note_dialog(&mut self.owned, &mut self.by_dialog, (a_dialog.call_id.clone(), a_dialog.local_tag.clone()), id, Side::A);
                call.a_dialog = Some(a_dialog);
            }
            if let Some((se, _)) = call.session {
                session_headers(&mut r, se);
                let end = session_end(now, se);
                call.session = Some((se, end));
                self.seq += 1;
                self.sessions.insert((end, self.seq), id.to_owned());
            }
            call.state = CallState::Answered;
            call.answer = Some(now);
            call.a_status = 200;
            let _ = ep.respond(now, call.a_tx, r);
            self.events.push_back(CallEvent::Answered { id: id.to_owned(), at: now });
            return;
        }
        // Final failure of one fork.
        let fork = &mut call.forks[idx];
        if fork.state == ForkState::Done {
            // Already given up on (progress timeout): its 487 changes nothing.
            return;
        }
        fork.state = ForkState::Done;
        fork.best = code;
        let gateway = fork.gateway.clone();
        if better(code, call.b_status) || call.b_status == 0 {
            call.b_status = code;
        }
        if let Some(gw) = gateway {
            // Serial hunting through gateways: the driver decides what next.
            if !call.cancelled && matches!(code, 401 | 407) && !call.auth_sent {
                call.waiting = true;
                let uri = call.forks[idx].target.uri.clone();
                self.events.push_back(CallEvent::GatewayChallenged { id: id.to_owned(), gateway: gw, challenge: Box::new(resp), uri });
                return;
            }
            call.gateway = None;
            self.events.push_back(CallEvent::GatewayReleased { id: id.to_owned(), gateway: gw.clone() });
            if call.cancelled {
                self.maybe_finish_cancel(now, ep, media, id);
                return;
            }
            // A gateway refusing our credentials is the gateway's problem,
            // not an answer about the callee: try the next one.
            if fails_over(code) || matches!(code, 401 | 407) {
                call.b_status = code;
                call.waiting = true;
                self.events.push_back(CallEvent::GatewayFailed { id: id.to_owned(), gateway: gw, code });
                return;
            }
            call.b_status = code;
            self.fail_caller(now, ep, media, id);
            return;
        }
        let group = call.forks[idx].group;
        if code >= 600 {
            // A global failure ends every fork (RFC 3261 §16.7 step 5);
            // for a parked call, every leg of that agent (another agent
            // rung for the same caller is another call).
            for f in call.forks.iter_mut().filter(|f| !call.parked || f.group == group) {
                if f.state == ForkState::Proceeding {
                    let _ = ep.cancel(now, f.tx, None);
                } else if f.state == ForkState::Calling {
                    f.cancel_pending = true;
                }
            }
        }
        if call.cancelled {
            self.maybe_finish_cancel(now, ep, media, id);
            return;
        }
        if call.parked {
            // The agent's legs failed; the member keeps waiting.
            if code >= 600 || call.forks.iter().filter(|f| f.group == group).all(|f| f.state == ForkState::Done) {
                self.events.push_back(CallEvent::AgentFailed { id: id.to_owned(), code: call.forks[idx].best, group });
            }
            return;
        }
        let all_done = call.forks.iter().all(|f| f.state == ForkState::Done) || code >= 600;
        if all_done && !call.winner_decided() {
            self.fail_caller(now, ep, media, id);
        }
    }

    /// The caller cancelled (the endpoint already answered the CANCEL).
    pub fn handle_cancel(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, tx: TxId) -> bool {
        let Some(id) = self.by_a_tx.get(&tx).cloned() else { return false };
        let Some(call) = self.calls.get_mut(&id) else { return false };
        if call.state == CallState::Answered || call.cancelled {
            return true;
        }
        call.cancelled = true;
        let r = Message::response_to(&call.a_req, 487, "Request Terminated", Some(&call.a_tag));
        call.a_status = 487;
        let _ = ep.respond(now, call.a_tx, r);
        for f in call.forks.iter_mut() {
            match f.state {
                ForkState::Proceeding => {
                    let _ = ep.cancel(now, f.tx, None);
                }
                ForkState::Calling => f.cancel_pending = true,
                ForkState::Done => {}
            }
        }
        call.hangup = Some(("caller", "originator_cancel".into()));
        self.maybe_finish_cancel(now, ep, media, &id);
        true
    }

    /// The caller has its 487: record the call. Forks still unwinding do
    /// not keep it alive; their CANCEL/BYE transactions finish on their own.
    fn maybe_finish_cancel(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, id: &str) {
        self.finish(ep, media, id, now, "caller", "originator_cancel".into());
    }

    /// A request inside one of our dialogs.
    pub fn handle_in_dialog(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, tx: TxId, req: Message) -> bool {
        let Some((id, side)) = self.dialog_of(&req) else { return false };
        let Some(method) = req.method().cloned() else { return false };
        let Some(call) = self.calls.get_mut(&id) else { return false };
        // CSeq order and target refresh on the receiving dialog.
        let dialog = match side {
            Side::A => call.a_dialog.as_mut(),
            Side::B => call.b_dialog.as_mut(),
        };
        let Some(dialog) = dialog else {
            // B-leg request before the answer (e.g. BYE on an early dialog): refuse.
            let r = Message::response_to(&req, 481, "Call/Transaction Does Not Exist", None);
            let _ = ep.respond(now, tx, r);
            return true;
        };
        if let Err(e) = dialog.on_request(&req) {
            let r = Message::response_to(&req, e.status(), "Out Of Order", None);
            let _ = ep.respond(now, tx, r);
            return true;
        }
        if method == Method::Bye {
            let r = Message::response_to(&req, 200, "OK", None);
            if self.cfg.hold_bye_reply {
                self.held_bye = Some((tx, r));
            } else {
                let _ = ep.respond(now, tx, r);
            }
            self.hangup_from(now, ep, media, &id, side, "normal_clearing");
            if let Some((tx, r)) = self.held_bye.take() {
                // No record was made (the call was already ending): answer now.
                let _ = ep.respond(now, tx, r);
            }
            return true;
        }
        if method == Method::Refer {
            // A transfer request is not passed on: relayed to a carrier leg
            // it would make the carrier call a number of the sender's
            // choosing at our expense (toll fraud). Transfers are the
            // switch's job, not the far end's.
            let mut r = Message::response_to(&req, 405, "Method Not Allowed", None);
            r.push(HeaderName::Allow, "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO");
            let _ = ep.respond(now, tx, r);
            return true;
        }
        if method == Method::Info && call.ports.is_some() {
            // A SIP INFO digit goes to the other side as RFC 4733 when that
            // side negotiated telephone-event (phones that only send INFO
            // still reach an IVR, a carrier's or an agent's RFC 4733).
            let dtmf = req.get(HeaderName::ContentType).is_some_and(|c| c.to_ascii_lowercase().starts_with("application/dtmf"));
            let digit = dtmf.then(|| media::dtmf::from_info(req.body())).flatten();
            if let (Some(d), Some((pt, rate))) = (digit, call.events(side.other())) {
                let ms = media::dtmf::info_duration(req.body()).unwrap_or(160);
                if media.send_digit(&id, side.other(), d, pt, rate, ms) {
                    let r = Message::response_to(&req, 200, "OK", None);
                    let _ = ep.respond(now, tx, r);
                    if side == Side::A {
                        self.events.push_back(CallEvent::Dtmf { id: id.clone(), digit: d });
                    }
                    return true;
                }
            }
        }
        // Relay anything else (re-INVITE, UPDATE, INFO, ...) to the other leg.
        let (other_dialog, dest) = match side.other() {
            Side::A => (call.a_dialog.as_mut(), Some(call.a_source)),
            Side::B => (call.b_dialog.as_mut(), call.b_dest),
        };
        let (Some(od), Some(dest)) = (other_dialog, dest) else {
            // Nobody on the other side (a parked caller): we answer.
            let contact = format!("<sip:ferroswitch@{}>", ep.config().sent_by(call.a_source.transport));
            let r = self.answer_locally(&id, side, &req, contact);
            let _ = ep.respond(now, tx, r);
            return true;
        };
        let mut out = od.request(method.clone());
        let contact = format!("<sip:ferroswitch@{}>", ep.config().sent_by(dest.transport));
        if matches!(method, Method::Invite | Method::Update) {
            out.push(HeaderName::Contact, &contact);
        }
        for h in [HeaderName::Event, HeaderName::SubscriptionState, HeaderName::ContentDisposition] {
            if let Some(v) = req.get(h) {
                out.push(h, v);
            }
        }
        if is_sdp(&req) && matches!(method, Method::Invite | Method::Update) {
            if let Some(h) = sdp_rewrite::is_hold(req.body()) {
                if h != call.held.is_some() {
                    call.held = h.then_some(side);
                    self.events.push_back(CallEvent::Hold { id: id.clone(), by: side, held: h });
                }
            }
        }
        if is_sdp(&req) {
            let (mine, theirs) = (side, side.other());
            if let Some((pa, pb)) = call.ports {
                if let Some(addr) = sdp_rewrite::audio_addr(req.body()) {
                    media.set_peer(&id, mine, addr);
                }
                let port = if theirs == Side::A { pa } else { pb };
                let body = sdp_rewrite::rewrite(req.body(), self.cfg.media_ip, port);
                let body = match body {
                    Some(b) if self.transcodes() => sdp_rewrite::offer_for_leg(&b, &[], &self.cfg.transcode).or(Some(b)),
                    b => b,
                };
                add_body(&mut out, body);
            } else {
                add_body(&mut out, Some(req.body().clone()));
            }
        } else if !req.body().is_empty() {
            if let Some(ct) = req.get(HeaderName::ContentType) {
                out.push(HeaderName::ContentType, ct);
            }
            out.set_body(req.body().clone());
        }
        match ep.send_request(now, out, dest) {
            Ok(ctx) => {
                self.index_relayed(ctx, id, Relayed { server_tx: tx, from: side, request: req });
            }
            Err(_) => {
                let r = Message::response_to(&req, 500, "Relay Failed", None);
                let _ = ep.respond(now, tx, r);
            }
        }
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn relay_response_back(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, id: &str, rel: Relayed, ctx: TxId, resp: Message) {
        let Some(code) = resp.status() else { return };
        let Some(call) = self.calls.get_mut(id) else { return };
        let method = rel.request.method().cloned().unwrap_or(Method::Options);
        let responder = rel.from.other();
        // The other leg answered: ACK a 2xx to a re-INVITE ourselves.
        if method == Method::Invite && (200..300).contains(&code) {
            let d = match responder {
                Side::A => call.a_dialog.as_mut(),
                Side::B => call.b_dialog.as_mut(),
            };
            let dest = match responder {
                Side::A => Some(call.a_source),
                Side::B => call.b_dest,
            };
            if let (Some(d), Some(dest)) = (d, dest) {
                d.on_response(&method, &resp);
                let seq = resp.cseq().map(|c| c.seq).unwrap_or(d.local_seq);
                ep.send_ack(d.ack(seq), dest);
            }
        }
        if code < 200 && code != 183 && code != 180 {
            self.index_relayed(ctx, id.to_owned(), rel);
            return;
        }
        let mut r = Message::response_to(&rel.request, code, resp.reason().unwrap_or(""), None);
        if matches!(method, Method::Invite | Method::Update) && (200..300).contains(&code) {
            let contact = format!("<sip:ferroswitch@{}>", ep.config().sent_by(call.a_source.transport));
            r.push(HeaderName::Contact, &contact);
            if let (Some((se, _)), Side::A) = (call.session, rel.from) {
                // The caller's refresh (RFC 4028 §9): a new interval if it
                // asks for one we accept, and the session runs on.
                let asked = rel.request.get(HeaderName::SessionExpires).and_then(|v| sip_msg::SessionExpires::parse(v).ok()).map(|s| s.delta).filter(|d| *d >= MIN_SE);
                let se = asked.unwrap_or(se);
                session_headers(&mut r, se);
                let end = session_end(now, se);
                call.session = Some((se, end));
                self.seq += 1;
                self.sessions.insert((end, self.seq), id.to_owned());
            }
        }
        if is_sdp(&resp) {
            if let Some((pa, pb)) = call.ports {
                if let Some(addr) = sdp_rewrite::audio_addr(resp.body()) {
                    media.set_peer(id, responder, addr);
                }
                let port = if rel.from == Side::A { pa } else { pb };
                if is_sdp(&rel.request) {
                    add_body(&mut r, answer_for(&self.cfg, media, id, call, rel.from, rel.request.body(), resp.body(), port));
                } else {
                    add_body(&mut r, sdp_rewrite::rewrite(resp.body(), self.cfg.media_ip, port));
                }
            } else {
                add_body(&mut r, Some(resp.body().clone()));
            }
        }
        let _ = ep.respond(now, rel.server_tx, r);
        if code < 200 {
            self.index_relayed(ctx, id.to_owned(), rel);
        }
    }

    /// Send a digit the caller sent (RFC 4733, found by the relay) to the
    /// callee as SIP INFO (`application/dtmf-relay`), when the callee's leg
    /// negotiated no telephone-event but allows INFO: the leg asked for
    /// digits that way. `false` (nothing sent) otherwise.
    pub fn send_info_digit(&mut self, now: Instant, ep: &mut Endpoint, id: &str, digit: char) -> bool {
        let Some(call) = self.calls.get_mut(id) else { return false };
        if !call.b_allows_info || call.events(Side::B).is_some() {
            return false;
        }
        let (Some(d), Some(dest)) = (call.b_dialog.as_mut(), call.b_dest) else { return false };
        let mut m = d.request(Method::Info);
        m.push(HeaderName::ContentType, "application/dtmf-relay");
        m.set_body(Bytes::from(format!("Signal={digit}\r\nDuration=160\r\n")));
        ep.send_request(now, m, dest).is_ok()
    }

    /// An ACK for a 2xx on an A-leg or B-leg dialog: nothing to relay (we
    /// ACK each leg ourselves). Returns whether it was ours.
    pub fn handle_ack(&mut self, req: &Message) -> bool {
        self.dialog_of(req).is_some()
    }

    /// A 2xx retransmitted after our INVITE transaction ended: ACK again.
    pub fn handle_stray_2xx(&mut self, ep: &mut Endpoint, resp: &Message) -> bool {
        let Ok(call_id) = resp.call_id() else { return false };
        let Some(tag) = resp.from().ok().and_then(|f| f.tag().map(str::to_owned)) else { return false };
        let Some((id, side)) = self.by_dialog.get(&(call_id.to_owned(), tag)).cloned() else { return false };
        let Some(call) = self.calls.get(&id) else { return false };
        let (d, dest) = match side {
            Side::B => (&call.b_dialog, call.b_dest),
            // Only an originated call's A-leg is our UAC dialog.
            Side::A if call.originated => (&call.a_dialog, Some(call.a_source)),
            Side::A => return false,
        };
        if let (Some(d), Some(dest)) = (d, dest) {
            let seq = resp.cseq().map(|c| c.seq).unwrap_or(1);
            ep.send_ack(d.ack(seq), dest);
        }
        true
    }

    /// A transaction of ours failed without a response (Timer B/F or transport).
    pub fn handle_tx_failure(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, tx: TxId) -> bool {
        if self.by_fork.contains_key(&tx) {
            let timeout = Message::response(408, "Request Timeout");
            // Feed a synthetic 408 through the normal path.
            if let Some((id, idx)) = self.by_fork.get(&tx).cloned() {
                self.fork_response(now, ep, media, &id, idx, timeout);
            }
            return true;
        }
        if let Some((id, rel)) = self.relayed.remove(&tx) {
            let r = Message::response_to(&rel.request, 408, "Request Timeout", None);
            let _ = ep.respond(now, rel.server_tx, r);
            let _ = id;
            return true;
        }
        self.byes.remove(&tx).is_some()
    }

    /// The caller never ACKed our 2xx (§13.3.1.4): end the call.
    pub fn handle_ack_timeout(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, tx: TxId) -> bool {
        let Some(id) = self.by_a_tx.get(&tx).cloned() else { return false };
        self.hangup_from(now, ep, media, &id, Side::A, "ack_timeout");
        true
    }

    /// Hang a call up from outside (API `DELETE /v1/calls/{id}`).
    pub fn hangup(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, id: &str) -> bool {
        self.hangup_with(now, ep, media, id, "api_hangup")
    }

    /// Hang a call up on the switch's own initiative, naming the cause
    /// (`media_timeout`, `shutdown`, ...).
    pub fn hangup_with(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, id: &str, cause: &str) -> bool {
        let Some(call) = self.calls.get_mut(id) else { return false };
        if call.originated && call.state != CallState::Answered {
            self.abandon_originated(now, ep, id);
            self.finish(ep, media, id, now, "system", cause.into());
            return true;
        }
        if call.state != CallState::Answered {
            // Not answered: refuse the caller and cancel the forks.
            call.cancelled = true;
            let r = Message::response_to(&call.a_req, 480, "Temporarily Unavailable", Some(&call.a_tag));
            call.a_status = 480;
            let _ = ep.respond(now, call.a_tx, r);
            for f in call.forks.iter_mut() {
                if f.state == ForkState::Proceeding {
                    let _ = ep.cancel(now, f.tx, None);
                } else if f.state == ForkState::Calling {
                    f.cancel_pending = true;
                }
            }
            self.finish(ep, media, id, now, "system", cause.into());
            return true;
        }
        // RFC 3326: the switch's own BYEs say why, in Q.850 terms (timer
        // expiry for media and session timers, normal clearing otherwise),
        // with our cause name as the text.
        let q850 = if matches!(cause, "media_timeout" | "session_timer_expired") { 102 } else { 16 };
        let reason = format!("Q.850;cause={q850};text=\"{cause}\"");
        self.bye_with(now, ep, Side::A, id, Some(&reason));
        self.bye_with(now, ep, Side::B, id, Some(&reason));
        self.finish(ep, media, id, now, "system", cause.into());
        true
    }

    fn bye(&mut self, now: Instant, ep: &mut Endpoint, side: Side, id: &str) {
        self.bye_with(now, ep, side, id, None)
    }

    fn bye_with(&mut self, now: Instant, ep: &mut Endpoint, side: Side, id: &str, reason: Option<&str>) {
        let Some(call) = self.calls.get_mut(id) else { return };
        let (d, dest) = match side {
            Side::A => (call.a_dialog.as_mut(), Some(call.a_source)),
            Side::B => (call.b_dialog.as_mut(), call.b_dest),
        };
        if let (Some(d), Some(dest)) = (d, dest) {
            let mut bye = d.request(Method::Bye);
            if let Some(r) = reason {
                bye.push(HeaderName::Reason, r);
            }
            if let Ok(btx) = ep.send_request(now, bye, dest) {
                self.byes.insert(btx, id.to_owned());
            }
        }
    }

    fn hangup_from(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, id: &str, side: Side, cause: &str) {
        if let Some(call) = self.calls.get_mut(id) {
            // (Originated calls: the caller may hang up while the callee rings.)
            call.cancelled = call.cancelled || call.state != CallState::Answered;
            for f in call.forks.iter_mut() {
                match f.state {
                    ForkState::Proceeding => {
                        let _ = ep.cancel(now, f.tx, None);
                    }
                    ForkState::Calling => f.cancel_pending = true,
                    ForkState::Done => {}
                }
            }
        }
        self.bye(now, ep, side.other(), id);
        self.finish(ep, media, id, now, side.party(), cause.into());
    }

    fn finish(&mut self, _ep: &mut Endpoint, media: &mut dyn Media, id: &str, now: Instant, side: &'static str, cause: String) {
        let Some(call) = self.calls.remove(id) else { return };
        self.by_a_tx.remove(&call.a_tx);
        for f in &call.forks {
            self.by_fork.remove(&f.tx);
        }
        // What the call put in the shared indexes, by the keys it noted
        // (not a scan of every call's entries per call ended).
        if let Some(o) = self.owned.remove(id) {
            for k in o.dialogs {
                if self.by_dialog.get(&k).is_some_and(|(c, _)| c == id) {
                    self.by_dialog.remove(&k);
                }
            }
            for t in o.relayed {
                if self.relayed.get(&t).is_some_and(|(c, _)| c == id) {
                    self.relayed.remove(&t);
                }
            }
            for k in o.deadlines {
                self.deadlines.remove(&k);
            }
            for k in o.progress {
                self.progress.remove(&k);
            }
        }
        let (packets, quality) = if call.ports.is_some() {
            let s = media.stats(id);
            let q = media.quality(id);
            media.close(id);
            (s, q)
        } else {
            ((0, 0), crate::Quality::default())
        };
        for g in [call.gateway.clone(), call.a_gateway.clone()].into_iter().flatten() {
            self.events.push_back(CallEvent::GatewayReleased { id: id.to_owned(), gateway: g });
        }
        let (hangup_side, hangup_cause) = call.hangup.clone().unwrap_or((side, cause));
        let disposition = if call.answer.is_some() {
            Disposition::Answered
        } else if call.cancelled && call.a_status == 487 {
            Disposition::Cancelled
        } else {
            // What decided the outcome: the status sent to the caller, or,
            // for a call we originated, the leg that failed.
            let decisive = match (call.originated, call.a_dialog.is_some()) {
                (true, true) => call.b_status,
                _ => call.a_status,
            };
            match decisive {
                486 | 600 => Disposition::Busy,
                603 => Disposition::Declined,
                480 | 408 => Disposition::NoAnswer,
                _ => Disposition::Failed,
            }
        };
        self.events.push_back(CallEvent::Ended(Box::new(Cdr {
            id: call.id,
            caller: call.caller,
            callee: call.callee,
            a_call_id: call.a_req.call_id().unwrap_or("").to_owned(),
            start: call.start,
            answer: call.answer,
            end: now,
            disposition,
            hangup_side,
            hangup_cause,
            a_status: call.a_status,
            b_status: call.b_status,
            codec: call.codec,
            packets,
            quality,
            gateway: call.last_gateway,
            bye_reply: self.held_bye.take(),
        })));
    }

    /// Ring timeouts.
    pub fn handle_timeout(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media) {
        while let Some((&(t, s), _)) = self.sessions.iter().next() {
            if t > now {
                break;
            }
            let Some(id) = self.sessions.remove(&(t, s)) else { break };
            if self.calls.get(&id).and_then(|c| c.session).is_some_and(|(_, end)| end <= now) {
                // The caller stopped refreshing: it is gone (RFC 4028 §10).
                self.hangup_with(now, ep, media, &id, "session_timer_expired");
            }
        }
        while let Some((&(t, s), _)) = self.progress.iter().next() {
            if t > now {
                break;
            }
            let Some((id, ftx)) = self.progress.remove(&(t, s)) else { break };
            self.progress_timeout(now, ep, media, &id, ftx);
        }
        while let Some((&(t, s), _)) = self.deadlines.iter().next() {
            if t > now {
                break;
            }
            let Some(id) = self.deadlines.remove(&(t, s)) else { break };
            let Some(call) = self.calls.get_mut(&id) else { continue };
            if call.state == CallState::Answered || call.cancelled {
                continue;
            }
            if call.originated {
                if call.a_dialog.is_some() {
                    call.b_status = call.b_status.max(408);
                } else {
                    call.a_status = 408;
                }
                self.abandon_originated(now, ep, &id);
                self.finish(ep, media, &id, now, "system", "no_answer".into());
                continue;
            }
            call.cancelled = true;
            for f in call.forks.iter_mut() {
                if f.state == ForkState::Proceeding {
                    let _ = ep.cancel(now, f.tx, None);
                } else if f.state == ForkState::Calling {
                    f.cancel_pending = true;
                }
            }
            let r = Message::response_to(&call.a_req, 480, "Temporarily Unavailable", Some(&call.a_tag));
            call.a_status = 480;
            call.b_status = call.b_status.max(408);
            let _ = ep.respond(now, call.a_tx, r);
            self.finish(ep, media, &id, now, "system", "no_answer".into());
        }
    }
}

/// Our own SDP offer to an originated call's caller: the relay port facing
/// A, G.711 both laws and RFC 4733 events.
fn own_offer(ip: IpAddr, port: u16, version: u64) -> Bytes {
    let (fam, addr) = match ip {
        IpAddr::V4(a) => ("IP4", a.to_string()),
        IpAddr::V6(a) => ("IP6", a.to_string()),
    };
    Bytes::from(format!(
        "v=0\r\no=ferroswitch {version} 1 IN {fam} {addr}\r\ns=ferroswitch\r\nc=IN {fam} {addr}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    ))
}

impl B2bua {
    /// Originate a call (click-to-call): ring the caller on every leg of
    /// `legs` (its registered contacts, or a gateway leg) with our own
    /// offer; when one answers, [`CallEvent::CallerAnswered`] asks the
    /// driver to dial the callee ([`B2bua::dial_b`]). Media is always
    /// relayed (both offers are ours).
    #[allow(clippy::too_many_arguments)]
    pub fn originate(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, id: String, caller: &str, callee: &str, shown: Option<&str>, legs: Vec<Leg>) -> Result<String, StartError> {
        if legs.is_empty() {
            return Err(StartError::NoTargets);
        }
        let ports = media.open(&id).ok_or(StartError::NoMediaPorts)?;
        self.seq += 1;
        let offer = own_offer(self.cfg.media_ip, ports.0, self.seq);
        let call_id = ep.new_call_id();
        let from_tag = ep.new_tag();
        let display = shown.filter(|d| !d.is_empty()).map(|d| format!("\"{}\" ", d.replace('"', "'"))).unwrap_or_default();
        let mut forks: Vec<Fork> = Vec::with_capacity(legs.len());
        let mut a_gateway = None;
        for leg in legs {
            let Some(m) = self.build_invite(ep, &leg, &call_id, &from_tag, &display, 70, Some(offer.clone()), false) else { continue };
            let sent = m.clone();
            if let Ok(ftx) = ep.send_request(now, m, leg.dest) {
                self.by_fork.insert(ftx, (id.clone(), forks.len()));
                if leg.gateway.is_some() {
                    a_gateway = leg.gateway.clone();
                }
                forks.push(Fork { tx: ftx, target: Target { uri: leg.uri, dest: leg.dest, headers: leg.headers }, gateway: None, request: sent, state: ForkState::Calling, cancel_pending: false, best: 0, progressed: false, group: 0 });
            }
        }
        let Some(first) = forks.first() else {
            media.close(&id);
            return Err(StartError::NoTargets);
        };
        let (a_tx, a_req, a_source) = (first.tx, first.request.clone(), first.target.dest);
        self.index_dialog((call_id, from_tag.clone()), &id, Side::A);
        self.seq += 1;
        self.index_deadline((now + self.cfg.ring_timeout, self.seq), &id);
        self.calls.insert(
            id.clone(),
            Call {
                forks,
                ports: Some(ports),
                display,
                last_gateway: a_gateway.clone(),
                originated: true,
                b_start: usize::MAX,
                a_gateway: a_gateway.clone(),
                ..Call::new(id.clone(), caller.to_owned(), callee.to_owned(), a_tx, a_req, a_source, from_tag, now)
            },
        );
        let a_call_id = self.calls.get(&id).and_then(|c| c.a_req.call_id().ok()).unwrap_or("").to_owned();
        self.events.push_back(CallEvent::Created { id: id.clone(), caller: caller.to_owned(), callee: callee.to_owned(), a_call_id, start: now });
        if let Some(g) = a_gateway {
            self.events.push_back(CallEvent::GatewayUsed { id: id.clone(), gateway: g });
        }
        Ok(id)
    }

    /// Dial the callee of an originated call whose caller answered: one
    /// INVITE per leg (forking to contacts, or one gateway leg; gateway
    /// failover then works as for any gateway call). The offer is the
    /// caller's answer, so both phones use the same codec. `false` if the
    /// call is not in that state or nothing could be sent.
    pub fn dial_b(&mut self, now: Instant, ep: &mut Endpoint, id: &str, legs: Vec<Leg>) -> bool {
        let Some(call) = self.calls.get(id) else { return false };
        if !call.originated || call.a_dialog.is_none() || call.b_start != call.forks.len() || call.cancelled {
            return false;
        }
        let Some((_, pb)) = call.ports else { return false };
        let offer = call.a_answer.as_ref().and_then(|a| sdp_rewrite::rewrite(a, self.cfg.media_ip, pb));
        let call_id = ep.new_call_id();
        let from_tag = ep.new_tag();
        let display = call.display.clone();
        let mut sent_forks = Vec::new();
        for leg in legs {
            let Some(m) = self.build_invite(ep, &leg, &call_id, &from_tag, &display, 70, offer.clone(), false) else { continue };
            let sent = m.clone();
            if let Ok(ftx) = ep.send_request(now, m, leg.dest) {
                sent_forks.push(Fork { tx: ftx, target: Target { uri: leg.uri, dest: leg.dest, headers: leg.headers }, gateway: leg.gateway, request: sent, state: ForkState::Calling, cancel_pending: false, best: 0, progressed: false, group: 0 });
            }
        }
        if sent_forks.is_empty() {
            return false;
        }
        let Some(call) = self.calls.get_mut(id) else { return false };
        let mut used = None;
        for f in sent_forks {
            self.by_fork.insert(f.tx, (id.to_owned(), call.forks.len()));
            if let Some(g) = &f.gateway {
                used = Some((g.clone(), f.tx));
            }
            call.forks.push(f);
        }
        call.b_offer = offer;
        note_dialog(&mut self.owned, &mut self.by_dialog, (call_id, from_tag), id, Side::B);
        // The callee gets its own ring time.
        if let Some(o) = self.owned.get_mut(id) {
            for k in o.deadlines.drain(..) {
                self.deadlines.remove(&k);
            }
        }
        self.seq += 1;
        let key = (now + self.cfg.ring_timeout, self.seq);
        self.owned.entry(id.to_owned()).or_default().deadlines.push(key);
        self.deadlines.insert(key, id.to_owned());
        if let Some((g, ftx)) = used {
            call.gateway = Some(g.clone());
            call.last_gateway = Some(g.clone());
            self.seq += 1;
            self.index_progress((now + self.cfg.gateway_progress_timeout, self.seq), &id, ftx);
            self.events.push_back(CallEvent::GatewayUsed { id: id.to_owned(), gateway: g });
        }
        true
    }

    /// A response from an originated call's caller leg.
    #[allow(clippy::too_many_arguments)]
    fn a_leg_response(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, id: &str, idx: usize, resp: Message, code: u16) {
        let Some(call) = self.calls.get_mut(id) else { return };
        let decided = call.a_dialog.is_some();
        if code < 200 {
            let fork = &mut call.forks[idx];
            if fork.state == ForkState::Calling {
                fork.state = ForkState::Proceeding;
            }
            if fork.cancel_pending || decided || call.cancelled {
                fork.cancel_pending = false;
                let _ = ep.cancel(now, fork.tx, None);
                return;
            }
            if code > 100 && call.state == CallState::Trying {
                call.state = CallState::Ringing;
                self.events.push_back(CallEvent::Ringing { id: id.to_owned() });
            }
            return;
        }
        if (200..300).contains(&code) {
            if call.a_winner == Some(idx) {
                if let Some(d) = &call.a_dialog {
                    let seq = resp.cseq().map(|c| c.seq).unwrap_or(1);
                    ep.send_ack(d.ack(seq), call.a_source);
                }
                return;
            }
            let req = call.forks[idx].request.clone();
            let dest = call.forks[idx].target.dest;
            call.forks[idx].state = ForkState::Done;
            let Ok(d) = Dialog::from_uac(&req, &resp) else { return };
            if decided || call.cancelled {
                // Another of the caller's phones answered first, or the call
                // is over: this one is not wanted.
                ep.send_ack(d.ack(1), dest);
                let mut d = d;
                let bye = d.request(Method::Bye);
                if let Ok(btx) = ep.send_request(now, bye, dest) {
                    self.byes.insert(btx, id.to_owned());
                }
                return;
            }
            ep.send_ack(d.ack(1), dest);
            call.a_dialog = Some(d);
            call.a_source = dest;
            call.a_winner = Some(idx);
            call.a_status = code;
            if is_sdp(&resp) {
                call.a_answer = Some(resp.body().clone());
                call.codec = sdp_rewrite::codec(resp.body());
                if let Some(addr) = sdp_rewrite::audio_addr(resp.body()) {
                    media.set_peer(id, Side::A, addr);
                }
            }
            for (i, f) in call.forks.iter_mut().enumerate() {
                if i != idx && f.state != ForkState::Done {
                    match f.state {
                        ForkState::Proceeding => {
                            let _ = ep.cancel(now, f.tx, Some("SIP;cause=200;text=\"Call completed elsewhere\""));
                        }
                        _ => f.cancel_pending = true,
                    }
                }
            }
            call.b_start = call.forks.len();
            call.state = CallState::Trying;
            self.events.push_back(CallEvent::CallerAnswered { id: id.to_owned() });
            return;
        }
        // The caller's phone refused or did not answer.
        let fork = &mut call.forks[idx];
        if fork.state == ForkState::Done {
            return;
        }
        fork.state = ForkState::Done;
        if better(code, call.a_status) || call.a_status == 0 {
            call.a_status = code;
        }
        let all_done = call.forks.iter().all(|f| f.state == ForkState::Done);
        if all_done && !decided && !call.cancelled {
            let cause = match call.a_status {
                486 | 600 => "user_busy",
                603 => "call_rejected",
                408 | 480 => "no_answer",
                _ => "failed",
            };
            self.finish(ep, media, id, now, "caller", cause.into());
        }
    }

    /// End what an originated call has going: cancel ringing legs, BYE an
    /// answered caller.
    fn abandon_originated(&mut self, now: Instant, ep: &mut Endpoint, id: &str) {
        let Some(call) = self.calls.get_mut(id) else { return };
        call.cancelled = true;
        for f in call.forks.iter_mut() {
            match f.state {
                ForkState::Proceeding => {
                    let _ = ep.cancel(now, f.tx, None);
                }
                ForkState::Calling => f.cancel_pending = true,
                ForkState::Done => {}
            }
        }
        self.bye(now, ep, Side::A, id);
    }

    /// A gateway leg neither rang nor answered in time: CANCEL it and fail
    /// over as if it had answered 408.
    fn progress_timeout(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, id: &str, ftx: TxId) {
        let Some(call) = self.calls.get_mut(id) else { return };
        let Some(idx) = call.forks.iter().position(|f| f.tx == ftx) else { return };
        let f = &call.forks[idx];
        if f.progressed || f.state == ForkState::Done || call.cancelled || call.winner_decided() {
            return;
        }
        match f.state {
            ForkState::Proceeding => {
                let _ = ep.cancel(now, ftx, None);
            }
            _ => call.forks[idx].cancel_pending = true,
        }
        let timeout = Message::response(408, "Request Timeout");
        self.fork_response(now, ep, media, id, idx, timeout);
        // fork_response marked it Done; its 487 (or late 2xx) is ignored.
    }
}

impl Call {
    /// A call with its caller leg and everything else at its starting value.
    #[allow(clippy::too_many_arguments)]
    fn new(id: String, caller: String, callee: String, a_tx: TxId, a_req: Message, a_source: Peer, a_tag: String, start: Instant) -> Call {
        Call {
            id,
            caller,
            callee,
            a_tx,
            a_req,
            a_source,
            a_tag,
            a_dialog: None,
            b_dialog: None,
            b_dest: None,
            forks: Vec::new(),
            state: CallState::Trying,
            answer: None,
            a_status: 0,
            b_status: 0,
            codec: None,
            cancelled: false,
            hangup: None,
            b_offer: None,
            max_forwards: 70,
            display: String::new(),
            gateway: None,
            last_gateway: None,
            waiting: false,
            auth_sent: false,
            winner: None,
            originated: false,
            b_start: 0,
            a_answer: None,
            a_winner: None,
            a_gateway: None,
            parked: false,
            early_media: false,
            held: None,
            transcode: None,
            sdp_version: 0,
            b_answer: None,
            b_allows_info: false,
            session: None,
            ports: None,
            start,
        }
    }

    /// The telephone-event `side` receives, payload type and clock rate:
    /// the transcoding plan's, else from that side's description (B's
    /// answer, A's offer).
    fn events(&self, side: Side) -> Option<(u8, u32)> {
        let of = |t: &crate::TranscodeSide| t.events.map(|pt| (pt, t.events_rate));
        if let Some(t) = &self.transcode {
            return of(if side == Side::A { &t.a } else { &t.b });
        }
        let body = match side {
            Side::A => self.a_answer.as_ref().or_else(|| is_sdp(&self.a_req).then(|| self.a_req.body()))?,
            Side::B => self.b_answer.as_ref()?,
        };
        sdp_rewrite::side(body).and_then(|s| of(&s))
    }

    fn winner_decided(&self) -> bool {
        self.b_dialog.is_some()
    }
}

/// A call's keys in the b2bua's shared indexes.
#[derive(Default)]
struct Owned {
    dialogs: Vec<(String, String)>,
    relayed: Vec<TxId>,
    deadlines: Vec<(Instant, u64)>,
    progress: Vec<(Instant, u64)>,
}

/// Index a call's dialog (a free function, so it can run while the call
/// itself is borrowed).
fn note_dialog(owned: &mut HashMap<String, Owned>, by_dialog: &mut HashMap<(String, String), (String, Side)>, key: (String, String), id: &str, side: Side) {
    owned.entry(id.to_owned()).or_default().dialogs.push(key.clone());
    by_dialog.insert(key, (id.to_owned(), side));
}

impl B2bua {
    fn index_dialog(&mut self, key: (String, String), id: &str, side: Side) {
        note_dialog(&mut self.owned, &mut self.by_dialog, key, id, side);
    }

    fn index_relayed(&mut self, tx: TxId, id: String, rel: Relayed) {
        let o = self.owned.entry(id.clone()).or_default();
        if o.relayed.len() >= 16 {
            // In-dialog requests answered long ago: forget their keys.
            o.relayed.retain(|t| self.relayed.contains_key(t));
        }
        o.relayed.push(tx);
        self.relayed.insert(tx, (id, rel));
    }

    fn index_deadline(&mut self, key: (Instant, u64), id: &str) {
        self.owned.entry(id.to_owned()).or_default().deadlines.push(key);
        self.deadlines.insert(key, id.to_owned());
    }

    fn index_progress(&mut self, key: (Instant, u64), id: &str, fork: TxId) {
        self.owned.entry(id.to_owned()).or_default().progress.push(key);
        self.progress.insert(key, (id.to_owned(), fork));
    }

    /// Entries in the shared indexes (tests: nothing outlives its call).
    pub fn index_sizes(&self) -> [usize; 5] {
        [self.by_dialog.len(), self.relayed.len(), self.deadlines.len(), self.progress.len(), self.owned.len()]
    }
}

mod park;
