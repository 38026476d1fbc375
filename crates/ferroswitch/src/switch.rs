//! The switch's service on the runtime: the registrar, the directory, and
//! the user agent that answers what nothing else serves yet. OPTIONS gets
//! 200 with our capabilities; requests for dialogs we do not have get 481;
//! known methods we do not serve get 405 with Allow; unknown methods 501;
//! unsupported Require 420; other URI schemes 416 (RFC 3261 §8.2).
//!
//! Durable work (binding changes) goes to the store worker as [`Job`]s;
//! a REGISTER's 200 is sent only when the worker reports the commit.

mod cluster;
mod ivr;
mod queues;
mod standby;
pub use cluster::ClusterState;
pub use queues::{load as load_callcenter, CcConfig};

use crate::clock::Clock;
use b2bua::{B2bua, CallEvent, Target};
use registrar::{AuthOutcome, Binding, Change, DirectoryEntry, Outcome, Registrar};
use runtime::RelayPool;
use runtime::Service;
use sip_msg::{HeaderName, Message, Method, Scheme};
use sip_proto::{Endpoint, Event, TxId};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;
use tokio::sync::oneshot;

/// Methods this build serves.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER";
/// Option tags this build supports.
pub const SUPPORTED: &[&str] = &["path", "outbound", "timer"];

/// Durable work for the store worker.
pub enum Job {
    /// Persist, then answer `tx` with `reply` (or 500 if persisting failed).
    Commit { tx: TxId, changes: Vec<Change>, reply: Message },
    /// Persist in the background (expiries, dead keep-alives).
    Persist(Vec<Change>),
    /// Write a call detail record (with its recording and webhook details).
    Cdr(Box<b2bua::Cdr>, Box<CallExtra>),
    /// Note a call as live (becomes an interrupted CDR if we crash).
    /// `recording`: the file it is recorded into, if that started first
    /// (a recording started later is noted by `CallRecording`).
    CallStarted { id: String, caller: String, callee: String, a_call_id: String, start: Instant, webhook_url: Option<String>, ext_data: Option<String>, recording: Option<String> },
    /// Note a live call's answer.
    CallAnswered { id: String, at: Instant },
    /// Note the file a live call is recorded into (a name under the
    /// recordings directory), which a restart after a crash finishes and
    /// links from the interrupted CDR.
    CallRecording { id: String, file: String },
    /// An agent's status and counters (JSON) changed.
    AgentStatus { name: String, status: String, counters: String },
    /// A queue this node dispatches, as it sees it now (JSON statistics and
    /// members), for the other nodes of the cluster.
    QueueSnapshot { queue: String, stats: String, members: String, agents: String },
    /// This node holds (`true`) or no longer holds a uuid-standby agent's
    /// standing call.
    StandbyLine { agent: String, up: bool },
}

pub use api::{BlockView, RegistrationView};

/// What a call carries to its CDR besides the b2bua's record.
#[derive(Default)]
pub struct CallExtra {
    /// A click-to-call's opaque data, as given.
    pub ext_data: Option<Box<serde_json::value::RawValue>>,
    /// Its own webhook URL (else the configured default).
    pub webhook_url: Option<String>,
    /// The recording's file name under the recordings directory.
    pub recording: Option<String>,
    /// Where the recording was uploaded (object storage), if it was.
    pub recording_url: Option<String>,
    /// Queue calls: the queue's CDR fields.
    pub queue: Option<QueueCdr>,
    /// The 200 to the BYE that ended the call: sent once the CDR is
    /// committed, so an acknowledged hang-up is never recorded as
    /// interrupted after a crash.
    pub bye_reply: Option<(TxId, Message)>,
}

/// The CDR fields of a queue call.
#[derive(Clone, Debug, Default)]
pub struct QueueCdr {
    pub queue: String,
    pub agent: Option<String>,
    pub wait_ms: Option<i64>,
    pub position: Option<i64>,
    pub result: Option<String>,
    pub talk_ms: Option<i64>,
}

/// A click-to-call waiting for its caller to answer.
struct Origination {
    caller: String,
    callee: String,
    gateways: Option<Vec<String>>,
    caller_id: Option<String>,
}

/// Commands from the store worker, the API and the signal handler.
pub enum Command {
    /// Start answering 503 to new requests.
    Drain,
    /// A commit finished.
    Committed { tx: TxId, reply: Message, ok: bool },
    /// A new directory snapshot, with the gateways and routes of that version.
    Config { directory: HashMap<String, DirectoryEntry>, policy: crate::persist::ExtPolicy, trunking: crate::trunk_config::Trunking, callcenter: CcConfig },
    /// A digit or a finished prompt from a media relay.
    Media(runtime::RelayEvent),
    /// Settings from a reloaded configuration file.
    Reload { calls_per_minute: u32, ringback: Option<media::ToneSpec>, media_timeout: Option<std::time::Duration> },
    /// Set (Some) or read (None) the SIP trace.
    Trace(Option<api::Trace>, oneshot::Sender<Result<api::Trace, api::ApiError>>),
    /// The cluster's view and other nodes' agent statuses, every second.
    Cluster(Box<crate::cluster::Update>),
    /// Questions and actions for the queue engine.
    Callcenter(api::CcRequest, oneshot::Sender<Result<serde_json::Value, api::ApiError>>),
    /// Gateway states.
    GatewayStatus(oneshot::Sender<Vec<api::GatewayStatusView>>),
    /// Click-to-call.
    Originate(api::OriginateRequest, oneshot::Sender<Result<String, api::ApiError>>),
    /// List registrations.
    Registrations(oneshot::Sender<Vec<RegistrationView>>),
    /// List banned sources.
    Blocks(oneshot::Sender<Vec<BlockView>>),
    /// Lift a ban.
    ClearBlock(IpAddr, oneshot::Sender<bool>),
    /// Live calls.
    Calls(oneshot::Sender<Vec<api::CallView>>),
    /// Hang a call up.
    Hangup(String, oneshot::Sender<bool>),
    /// Hang every call up (end of a drain).
    HangupAll,
    /// Prometheus text.
    Metrics(oneshot::Sender<String>),
}

pub struct Switch {
    pub user_agent: String,
    /// Turn the service away (draining): new requests get 503.
    pub draining: bool,
    registrar: Registrar,
    directory: HashMap<String, DirectoryEntry>,
    jobs: crate::persist::Jobs,
    clock: Clock,
    pings: HashMap<TxId, (String, String)>,
    b2bua: B2bua,
    media: RelayPool,
    calls_ended: HashMap<&'static str, u64>,
    calls_started: u64,
    events: tokio::sync::broadcast::Sender<std::sync::Arc<api::LiveEvent>>,
    seq: u64,
    pending_events: HashMap<TxId, Vec<(&'static str, String, serde_json::Value)>>,
    parties: HashMap<String, (String, String)>,
    /// Hang up calls whose media stopped this long ago (None: never).
    pub media_timeout: Option<std::time::Duration>,
    next_media_check: Option<Instant>,
    store_overloads: u64,
    /// Carrier gateways: registration, health, limits, number rules.
    pub trunks: trunks::Trunks,
    routes: Vec<trunks::routes::Route>,
    /// Gateway calls still hunting: the gateways left to try, and the
    /// number and caller as routed.
    hunts: HashMap<String, Hunt>,
    /// Calls that came in from a gateway, counted against its limit.
    inbound_calls: HashMap<String, String>,
    /// Our SIP domain (To of legs to extensions).
    pub domain: String,
    /// Extensions whose calls are recorded.
    recorded: std::collections::HashSet<String>,
    /// Calls being started on a route that records (until their Created).
    record_calls: std::collections::HashSet<String>,
    /// Per-extension concurrent call limits.
    /// Extensions' codec preferences (their phones are offered only those).
    ext_codecs: HashMap<String, Vec<String>>,
    max_calls: HashMap<String, u32>,
    /// Calls each extension is in now (as caller or callee).
    active: HashMap<String, u32>,
    /// Call attempts per extension per minute (0: unlimited).
    pub calls_per_minute: u32,
    /// Recent attempts of each extension (at most `calls_per_minute` each).
    attempts: HashMap<String, std::collections::VecDeque<Instant>>,
    /// The directory INVITEs authenticate against: extensions plus the
    /// digest users issued to carriers.
    invite_directory: HashMap<String, DirectoryEntry>,
    /// Carrier digest usernames, with their gateway.
    carrier_users: HashMap<String, String>,
    /// Where recordings go.
    pub recordings_dir: std::path::PathBuf,
    /// Recordings start at a call's first packet (`recordings.start =
    /// "early_media"`) rather than at its answer.
    pub record_early_media: bool,
    /// Calls to be recorded once answered.
    record_at_answer: std::collections::HashSet<String>,
    /// Object storage for finished recordings (None: local only).
    pub s3: Option<std::sync::Arc<crate::uploads::S3>>,
    /// The ringback tone played to a click-to-call's caller (None: silence).
    pub ringback: Option<media::ToneSpec>,
    /// Click-to-calls whose caller has not answered yet.
    originations: HashMap<String, Origination>,
    /// Webhook details of click-to-calls, until their CDR.
    extras: HashMap<String, Box<CallExtra>>,
    /// The queue engine.
    cc: callcenter::Engine,
    /// Offers ringing: offer -> call.
    cc_offers: HashMap<callcenter::OfferId, String>,
    /// Offers to report failed later (unreachable agents).
    cc_deferred: Vec<(Instant, callcenter::OfferId)>,
    /// Queue calls.
    queue_calls: HashMap<String, queues::QueueCall>,
    /// uuid-standby agents' standing calls, by agent; and the agent of each such call.
    standby: HashMap<String, standby::Standby>,
    standby_calls: HashMap<String, String>,
    /// Agents by the extension they answer on.
    agent_of_ext: HashMap<String, Vec<String>>,
    /// Agents' last bridge end, unix ms (persisted with their counters).
    last_bridge_end: HashMap<String, u64>,
    /// IVR menus by name.
    ivr_menus: HashMap<String, callcenter::ivr::Menu>,
    /// Callers in a menu.
    ivr_sessions: HashMap<String, callcenter::ivr::Session>,
    /// Dissuaded callers hearing the queue's message, and where they go next.
    dissuading: HashMap<String, Option<String>>,
    /// Decoded prompts.
    prompts: ivr::Prompts,
    /// Parked calls being put through to an extension (IVR choice, queue fallback).
    transfers: std::collections::HashSet<String>,
    /// The SIP trace in force.
    sip_trace: api::Trace,
    /// RTP receive quality of ended calls' streams, for /metrics.
    rtp: RtpMetrics,
    /// Each gateway's last published (registration, ping) state.
    gw_states: HashMap<String, (String, String)>,
    /// When the switch started.
    started: Option<Instant>,
    /// Start times of the calls of the last 10 s (for calls per second).
    recent_calls: std::collections::VecDeque<Instant>,
    /// Webhook deliveries waiting in the outbox (kept by the webhook worker).
    pub webhook_outbox: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Calls ended, by the final SIP status sent to the caller.
    calls_by_code: HashMap<u16, u64>,
    /// This node's part in a cluster (`cluster.node_id` set).
    pub cluster: Option<ClusterState>,
}

/// Jitter histogram bounds, ms.
const JITTER_BUCKETS_MS: [f64; 7] = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0];
const LOSS_BUCKETS_PERCENT: [f64; 7] = [0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0];

/// RTP receive quality over ended calls.
struct RtpMetrics {
    packets: u64,
    lost: u64,
    /// Interarrival jitter of each stream at hang-up, ms.
    jitter: Histogram,
    /// Share of each stream's packets lost, percent.
    loss: Histogram,
}

impl Default for RtpMetrics {
    fn default() -> Self {
        RtpMetrics { packets: 0, lost: 0, jitter: Histogram::new(&JITTER_BUCKETS_MS), loss: Histogram::new(&LOSS_BUCKETS_PERCENT) }
    }
}

impl RtpMetrics {
    fn observe(&mut self, q: &b2bua::Quality, packets: (u64, u64)) {
        for (p, lost, j) in [(packets.0, q.lost.0, q.jitter_us.0), (packets.1, q.lost.1, q.jitter_us.1)] {
            if p == 0 {
                continue;
            }
            self.packets += p;
            self.lost += lost;
            self.jitter.observe(j as f64 / 1000.0);
            self.loss.observe(100.0 * lost as f64 / (p + lost) as f64);
        }
    }
}

/// A Prometheus histogram (cumulative buckets, sum, count).
struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram { bounds, buckets: vec![0; bounds.len()], count: 0, sum: 0.0 }
    }

    fn observe(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        for (b, le) in self.buckets.iter_mut().zip(self.bounds) {
            if v <= *le {
                *b += 1;
            }
        }
    }

    /// Its samples, suffixes where labels would go: `_bucket{le=...}`, `_sum`, `_count`.
    fn samples(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = self.bounds.iter().zip(&self.buckets).map(|(le, n)| (format!("_bucket{{le=\"{le}\"}}"), *n as f64)).collect();
        out.push(("_bucket{le=\"+Inf\"}".into(), self.count as f64));
        out.push(("_sum".into(), self.sum));
        out.push(("_count".into(), self.count as f64));
        out
    }
}

/// Why a request is refused: the SIP status and reason phrase.
type Refusal = (u16, &'static str);

/// What a gateway call needs to try the next gateway.
struct Hunt {
    left: std::collections::VecDeque<String>,
    number: String,
    caller: String,
}

impl Switch {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        user_agent: String,
        registrar: Registrar,
        directory: HashMap<String, DirectoryEntry>,
        jobs: crate::persist::Jobs,
        clock: Clock,
        b2bua: B2bua,
        media: RelayPool,
        events: tokio::sync::broadcast::Sender<std::sync::Arc<api::LiveEvent>>,
        trunks: trunks::Trunks,
    ) -> Switch {
        Switch { user_agent, draining: false, registrar, directory, jobs, clock, pings: HashMap::new(), b2bua, media, calls_ended: HashMap::new(), calls_started: 0, events, seq: 0, pending_events: HashMap::new(), parties: HashMap::new(), media_timeout: None, next_media_check: None, store_overloads: 0, trunks, routes: Vec::new(), hunts: HashMap::new(), inbound_calls: HashMap::new(), originations: HashMap::new(), extras: HashMap::new(), domain: String::new(), recorded: Default::default(), record_calls: Default::default(), max_calls: HashMap::new(), ext_codecs: HashMap::new(), active: HashMap::new(), calls_per_minute: 0, attempts: HashMap::new(), invite_directory: HashMap::new(), carrier_users: HashMap::new(), recordings_dir: std::path::PathBuf::from("recordings"), record_early_media: false, record_at_answer: Default::default(), ringback: Some(media::ToneSpec::ringback_cn()), s3: None, cc: callcenter::Engine::new(u64::from_le_bytes(crate::secrets::random_bytes::<8>())), cc_offers: HashMap::new(), cc_deferred: Vec::new(), queue_calls: HashMap::new(), standby: HashMap::new(), standby_calls: HashMap::new(), agent_of_ext: HashMap::new(), last_bridge_end: HashMap::new(), ivr_menus: HashMap::new(), ivr_sessions: HashMap::new(), dissuading: HashMap::new(), prompts: HashMap::new(), transfers: Default::default(), sip_trace: api::Trace::default(), rtp: RtpMetrics::default(), gw_states: HashMap::new(), started: None, recent_calls: Default::default(), webhook_outbox: Default::default(), calls_by_code: HashMap::new(), cluster: None }
    }

    /// An INVITE outside a dialog: from a carrier gateway (by source
    /// address) or an authenticated extension; to an extension, or through
    /// the route table to gateways.
    fn handle_invite(&mut self, now: Instant, ep: &mut Endpoint, tx: TxId, req: Message, source: sip_proto::Peer) {
        // The call's UUID is chosen before anything is decided about it, so
        // every line logged about this INVITE (a refusal, a gateway skipped,
        // a queue that dissuades) is in the same `call` span as the rest of
        // the call's life; the SIP Call-ID ties it to a SIP trace.
        let id = crate::secrets::uuid();
        let span = tracing::info_span!("call", uuid = %id, sip_call_id = %req.call_id().unwrap_or(""));
        let _entered = span.enter();
        self.handle_new_invite(now, ep, tx, req, source, id);
    }

    fn handle_new_invite(&mut self, now: Instant, ep: &mut Endpoint, tx: TxId, req: Message, source: sip_proto::Peer, id: String) {
        let now_ms = self.clock.unix_ms(now);
        let Some(dialled) = req.request_uri().and_then(|u| u.user_decoded().map(|u| u.into_owned())) else {
            return self.reply(now, ep, tx, &req, 404, "Not Found", &[]);
        };
        // Another node of the cluster, with a good signature: trusted for
        // its one target here (see node_call).
        let node_call = self.node_invite(now, &req);
        let mut from_gateway = if node_call.is_some() { None } else { self.trunks.gateway_for_source(source.addr.ip()).map(str::to_owned) };
        let from_user = || req.from().ok().and_then(|f| f.uri().user_decoded().map(|u| u.into_owned())).unwrap_or_else(|| "anonymous".into());
        if let Some(v) = node_call {
            let caller = from_user();
            return self.node_call(now, ep, tx, req, source, &caller, v, id);
        }
        let caller = match &from_gateway {
            // A carrier on its listed address: no credentials (IP trust).
            Some(_) => from_user(),
            None => {
                let tag = ep.new_tag();
                let dir = if self.carrier_users.is_empty() { &self.directory } else { &self.invite_directory };
                match self.registrar.authenticate(now_ms, &req, source, dir, &tag) {
                    AuthOutcome::Authenticated(u) => match self.carrier_users.get(&u) {
                        // A carrier with the credentials we issued it: the
                        // caller is whom its From names.
                        Some(g) => {
                            from_gateway = Some(g.clone());
                            from_user()
                        }
                        None => u,
                    },
                    AuthOutcome::Challenge(m) => return self.respond_stateless(now, ep, tx, m),
                    AuthOutcome::Ignore => return ep.discard(tx),
                }
            }
        };
        if req.max_forwards().ok().flatten() == Some(0) {
            return self.reply(now, ep, tx, &req, 483, "Too Many Hops", &[]);
        }
        if from_gateway.is_none() && !self.attempt_allowed(now, &caller) {
            tracing::warn!(%caller, limit = self.calls_per_minute, "call attempts per minute exceeded");
            return self.reply(now, ep, tx, &req, 403, "Call Rate Exceeded", &[]);
        }
        if from_gateway.is_none() && self.at_limit(&caller) {
            tracing::info!(%caller, "caller at its concurrent call limit");
            return self.reply(now, ep, tx, &req, 403, "Call Limit Reached", &[]);
        }
        // The caller extension's codec preference: its phone's offer keeps
        // only those codecs, in that order, wherever the call goes.
        let mut req = req;
        if let (None, Some(prefs)) = (&from_gateway, self.ext_codecs.get(&caller).filter(|p| !p.is_empty())) {
            let sdp = req.get(HeaderName::ContentType).and_then(|c| sip_msg::ContentType::parse(c).ok()).is_some_and(|c| c.is("application", "sdp"));
            if sdp && !req.body().is_empty() {
                match b2bua::prefer_codecs(req.body(), prefs) {
                    Some(body) => req.set_body(body),
                    None => {
                        tracing::info!(%caller, ?prefs, "the caller's phone offers none of its extension's codecs");
                        return self.reply(now, ep, tx, &req, 488, "Not Acceptable Here", &[]);
                    }
                }
            }
        }
        // A local extension is rung directly (from a phone, or a carrier's DID
        // equal to an extension number); anything else goes by the routes.
        let origin = match &from_gateway {
            Some(g) => trunks::routes::Origin::Gateway(g),
            None => trunks::routes::Origin::Extension(&caller),
        };
        let decision = if self.directory.contains_key(&dialled) { None } else { trunks::routes::route(&self.routes, &dialled, &caller, origin) };
        // The route's media choice, else media.mode.
        let media = decision.as_ref().and_then(|d| d.media_bypass).map(|b| if b { b2bua::MediaMode::Bypass } else { b2bua::MediaMode::Relay });
        // A recording route: noted for the call's Created event, which
        // starts the recording; forgotten right after the start if the call
        // did not start.
        let record_route = decision.as_ref().is_some_and(|d| d.record);
        let (callee, presented) = match decision {
            None => (dialled, caller.clone()),
            Some(d) => match d.action {
                trunks::routes::Action::Extension(e) => (e, d.caller_id.unwrap_or_else(|| caller.clone())),
                trunks::routes::Action::Reject { code, reason } => return self.reply(now, ep, tx, &req, code, &reason, &[]),
                trunks::routes::Action::Queue(q) => {
                    let presented = d.caller_id.unwrap_or_else(|| caller.clone());
                    if let Some((owner, target)) = self.queue_owner_target(now, &q) {
                        return self.forward_to_queue_owner(now, ep, tx, req, source, &presented, &q, &owner, target, id);
                    }
                    return self.enter_queue(now, ep, tx, req, source, &presented, &q, id);
                }
                trunks::routes::Action::Ivr(m) => {
                    let presented = d.caller_id.unwrap_or_else(|| caller.clone());
                    return self.enter_ivr(now, ep, tx, req, source, &presented, &m, id);
                }
                trunks::routes::Action::Gateways(list) => {
                    // Transit (carrier to carrier) only where a route says so
                    // for calls from gateways explicitly: no open relay.
                    let from_gw_ok = from_gateway.is_none() || self.routes.iter().any(|r| r.name == d.route && matches!(r.source, trunks::routes::Source::Gateway(_)));
                    if !from_gw_ok {
                        return self.reply(now, ep, tx, &req, 403, "Forbidden", &[]);
                    }
                    let presented = d.caller_id.unwrap_or_else(|| caller.clone());
                    if record_route {
                        self.record_calls.insert(id.clone());
                    }
                    let rid = id.clone();
                    self.start_gateway_call(now, ep, tx, req, source, &caller, &presented, &d.number, list, id, media);
                    self.drain_calls(now, ep);
                    self.record_calls.remove(&rid);
                    return;
                }
            },
        };
        let (callee_codecs, targets) = match self.extension_targets(now, &callee, false) {
            Ok(t) => t,
            Err((code, reason)) => return self.reply(now, ep, tx, &req, code, reason, &[]),
        };
        if let Some(g) = &from_gateway {
            if let Err(why) = self.trunks.acquire_inbound(now, g) {
                tracing::info!(gateway = %g, why = why.as_str(), "inbound call over the gateway's limit");
                return self.reply(now, ep, tx, &req, 503, "Service Unavailable", &[(HeaderName::RetryAfter, "5")]);
            }
        }
        let display = req.from().ok().and_then(|f| f.display().map(|d| d.into_owned()));
        if record_route {
            self.record_calls.insert(id.clone());
        }
        let rid = id.clone();
        match self.b2bua.start_call(now, ep, &mut self.media, tx, req.clone(), source, &presented, display.as_deref(), &callee, targets, &callee_codecs, id, media) {
            Ok(id) => {
                tracing::info!(call = %id, caller = %presented, %callee, gateway = from_gateway.as_deref().unwrap_or(""), "call started");
                if let Some(g) = from_gateway {
                    self.inbound_calls.insert(id, g);
                }
            }
            Err(e) => {
                if let Some(g) = &from_gateway {
                    self.trunks.release(g);
                }
                self.refuse_start(now, ep, tx, &req, e, (480, "Temporarily Unavailable"));
            }
        }
        self.drain_calls(now, ep);
        self.record_calls.remove(&rid);
    }

    /// Extension `ext`'s codec preference and the phones to ring (see
    /// [`Switch::ext_targets`]), or why it cannot be rung: 404 unknown, 480
    /// disabled or not registered, 486 at its call limit.
    fn extension_targets(&self, now: Instant, ext: &str, from_node: bool) -> Result<(Vec<String>, Vec<Target>), Refusal> {
        let codecs = match self.directory.get(ext) {
            None => return Err((404, "Not Found")),
            Some(e) if !e.enabled => return Err((480, "Temporarily Unavailable")),
            Some(_) => self.ext_codecs.get(ext).cloned().unwrap_or_default(),
        };
        let targets = self.ext_targets(now, ext, from_node);
        if targets.is_empty() {
            return Err((480, "Temporarily Unavailable"));
        }
        if self.at_limit(ext) {
            // Its phones are as busy as the extension may be.
            return Err((486, "Busy Here"));
        }
        Ok((codecs, targets))
    }

    /// Answer an INVITE the b2bua could not start a call (or park) for:
    /// 503 with Retry-After when media ports ran out, 488 when the offer
    /// has nothing we take, 422 with Min-SE for a too short session
    /// interval, else `otherwise`.
    fn refuse_start(&self, now: Instant, ep: &mut Endpoint, tx: TxId, req: &Message, e: b2bua::StartError, otherwise: Refusal) {
        match e {
            b2bua::StartError::NoMediaPorts => self.reply(now, ep, tx, req, 503, "No Media Ports", &[(HeaderName::RetryAfter, "5")]),
            b2bua::StartError::NoCommonMedia => self.reply(now, ep, tx, req, 488, "Not Acceptable Here", &[]),
            b2bua::StartError::SessionIntervalTooSmall => self.reply(now, ep, tx, req, 422, "Session Interval Too Small", &[(HeaderName::MinSe, &b2bua::MIN_SE.to_string())]),
            _ => self.reply(now, ep, tx, req, otherwise.0, otherwise.1, &[]),
        }
    }

    /// The first gateway of `list` that admits the call (up, under its
    /// limits), as a leg; the rest stay in `left`.
    fn next_leg(&mut self, now: Instant, left: &mut std::collections::VecDeque<String>, number: &str, caller: &str) -> Option<b2bua::GatewayLeg> {
        while let Some(g) = left.pop_front() {
            match self.trunks.acquire(now, &g) {
                Ok(()) => {
                    let (Some(cfg), Some(num), Some(from)) = (self.trunks.get(&g), self.trunks.callee_number(&g, number), self.trunks.caller_number(&g, caller)) else {
                        self.trunks.release(&g);
                        continue;
                    };
                    let host = if cfg.domain.parse::<std::net::Ipv6Addr>().is_ok() { format!("[{}]", cfg.domain) } else { cfg.domain.clone() };
                    let uri = if cfg.proxy.port() == 5060 || cfg.domain != cfg.proxy.ip().to_string() { format!("sip:{num}@{host}") } else { format!("sip:{num}@{host}:{}", cfg.proxy.port()) };
                    return Some(b2bua::GatewayLeg { gateway: g, to: uri.clone(), uri, from_user: from, dest: cfg.peer(), codecs: cfg.codecs.clone() });
                }
                Err(why) => tracing::info!(gateway = %g, why = why.as_str(), "gateway skipped"),
            }
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn start_gateway_call(&mut self, now: Instant, ep: &mut Endpoint, tx: TxId, req: Message, source: sip_proto::Peer, caller: &str, presented: &str, number: &str, list: Vec<String>, id: String, media: Option<b2bua::MediaMode>) {
        let mut left: std::collections::VecDeque<String> = list.into();
        let Some(leg) = self.next_leg(now, &mut left, number, presented) else {
            return self.reply(now, ep, tx, &req, 503, "No Gateway Available", &[(HeaderName::RetryAfter, "5")]);
        };
        let gw = leg.gateway.clone();
        let display = req.from().ok().and_then(|f| f.display().map(|d| d.into_owned()));
        match self.b2bua.start_gateway_call(now, ep, &mut self.media, tx, req.clone(), source, caller, display.as_deref(), number, leg, id, media) {
            Ok(id) => {
                tracing::info!(call = %id, %caller, %number, gateway = %gw, "call started through a gateway");
                self.hunts.insert(id, Hunt { left, number: number.to_owned(), caller: presented.to_owned() });
            }
            Err(e) => {
                self.trunks.release(&gw);
                self.refuse_start(now, ep, tx, &req, e, (503, "Service Unavailable"));
            }
        }
        self.drain_calls(now, ep);
    }

    /// The legs that ring `number` for an originated call: an extension's
    /// registered phones, or the first admissible gateway (of `gateways`,
    /// else of the route table's answer). `Err` is (status, code, why).
    fn legs_for(&mut self, now: Instant, number: &str, shown: &str, gateways: Option<&[String]>, hunt_for: Option<&str>) -> Result<Vec<b2bua::Leg>, (u16, &'static str, String)> {
        if let Some(e) = self.directory.get(number) {
            if !e.enabled {
                return Err((409, "unavailable", format!("extension {number} is disabled")));
            }
            let to = format!("sip:{number}@{}", self.registrar_domain());
            let legs: Vec<b2bua::Leg> = self
                .ext_targets(now, number, false)
                .into_iter()
                .map(|t| b2bua::Leg { uri: t.uri, to: to.clone(), from_user: shown.to_owned(), dest: t.dest, gateway: None, codecs: Vec::new(), headers: t.headers })
                .collect();
            if legs.is_empty() {
                return Err((409, "not_registered", format!("extension {number} is not registered")));
            }
            return Ok(legs);
        }
        let (list, routed) = match gateways {
            Some(g) => (g.to_vec(), number.to_owned()),
            None => match trunks::routes::route(&self.routes, number, shown, trunks::routes::Origin::Extension(shown)) {
                Some(trunks::routes::Decision { action: trunks::routes::Action::Gateways(g), number: n, .. }) => (g, n),
                Some(trunks::routes::Decision { action: trunks::routes::Action::Extension(e), .. }) => return self.legs_for(now, &e, shown, None, hunt_for),
                _ => return Err((404, "no_route", format!("no extension or route for {number}"))),
            },
        };
        let mut left: std::collections::VecDeque<String> = list.into();
        let Some(leg) = self.next_leg(now, &mut left, &routed, shown) else {
            return Err((503, "no_gateway", "no gateway is available (down or at its limits)".into()));
        };
        if let Some(id) = hunt_for {
            self.hunts.insert(id.to_owned(), Hunt { left, number: routed, caller: shown.to_owned() });
        }
        Ok(vec![leg.into()])
    }

    fn registrar_domain(&self) -> String {
        self.domain.clone()
    }

    /// Count a call attempt by `ext`; false when it made `calls_per_minute`
    /// attempts in the last 60 s already (sliding window).
    fn attempt_allowed(&mut self, now: Instant, ext: &str) -> bool {
        if self.calls_per_minute == 0 {
            return true;
        }
        let w = self.attempts.entry(ext.to_owned()).or_default();
        while w.front().is_some_and(|t| now.saturating_duration_since(*t) >= std::time::Duration::from_secs(60)) {
            w.pop_front();
        }
        if w.len() >= self.calls_per_minute as usize {
            return false;
        }
        w.push_back(now);
        true
    }

    /// Is this extension in as many calls as its `max_calls` allows?
    fn at_limit(&self, ext: &str) -> bool {
        self.max_calls.get(ext).is_some_and(|max| self.active.get(ext).copied().unwrap_or(0) >= *max)
    }

    /// A new call is to be recorded: from its answer, or at once (its
    /// early media too) with `recordings.start = "early_media"`.
    fn record_from_start(&mut self, id: &str) {
        if self.record_early_media {
            self.start_recording(id);
        } else {
            self.record_at_answer.insert(id.to_owned());
        }
    }

    /// Record this call (stereo WAV under the recordings directory).
    fn start_recording(&mut self, id: &str) {
        self.start_recording_as(id, None);
    }

    /// Record this call into `name` (a plain file name) under the
    /// recordings directory, or `<id>.wav`.
    fn start_recording_as(&mut self, id: &str, name: Option<String>) {
        let path = self.recordings_dir.join(name.unwrap_or_else(|| format!("{id}.wav")));
        tracing::info!(call = %id, path = %path.display(), "recording");
        // The law of a G.711 recording: the call's (A-law where it speaks
        // PCMA, else μ-law; another law's audio is converted).
        let law = self.originated_g711_pt(id).and_then(media::g711::Law::of).unwrap_or(media::g711::Law::Mulaw);
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
        if self.media.record(id, path, law) {
            if let Some(file) = file {
                self.jobs.send(Job::CallRecording { id: id.to_owned(), file });
            }
        }
    }

    /// The G.711 payload type an originated call's caller answered our offer
    /// (PCMU, PCMA) with: what we play it.
    fn originated_g711_pt(&self, id: &str) -> Option<u8> {
        match self.b2bua.codec_of(id).as_deref().map(|c| c.to_ascii_uppercase()) {
            Some(c) if c.starts_with("PCMA") => Some(8),
            Some(c) if c.starts_with("PCMU") => Some(0),
            _ => None,
        }
    }

    /// Click-to-call: ring the caller now; the callee when the caller answers.
    fn originate(&mut self, now: Instant, ep: &mut Endpoint, req: api::OriginateRequest) -> Result<String, api::ApiError> {
        if self.draining {
            return Err(api::ApiError::status(503, "draining", "the switch is shutting down"));
        }
        if self.at_limit(&req.caller) {
            return Err(api::ApiError::status(409, "call_limit", format!("{} is at its concurrent call limit", req.caller)));
        }
        // The caller's phone shows whom it is about to be connected to.
        let legs = self.legs_for(now, &req.caller, &req.callee, req.gateways.as_deref(), None).map_err(|(s, c, m)| api::ApiError::status(s, c, m))?;
        let gw = legs.iter().find_map(|l| l.gateway.clone());
        let id = crate::secrets::uuid();
        match self.b2bua.originate(now, ep, &mut self.media, id, &req.caller, &req.callee, None, legs) {
            Ok(id) => {
                tracing::info!(call = %id, caller = %req.caller, callee = %req.callee, "click-to-call: ringing the caller");
                if req.record == Some(true) && !(self.recorded.contains(&req.caller) || self.recorded.contains(&req.callee)) {
                    self.record_from_start(&id);
                }
                self.originations.insert(id.clone(), Origination { caller: req.caller, callee: req.callee, gateways: req.gateways, caller_id: req.caller_id });
                self.extras.insert(id.clone(), Box::new(CallExtra { ext_data: req.ext_data, webhook_url: req.webhook_url, ..Default::default() }));
                Ok(id)
            }
            Err(e) => {
                if let Some(g) = gw {
                    self.trunks.release(&g);
                }
                Err(match e {
                    b2bua::StartError::NoMediaPorts => api::ApiError::status(503, "no_media_ports", "no free media ports"),
                    _ => api::ApiError::status(409, "unreachable", "the caller could not be rung"),
                })
            }
        }
    }

    /// A click-to-call's caller answered: dial the callee.
    fn dial_callee(&mut self, now: Instant, ep: &mut Endpoint, id: &str) {
        let Some(o) = self.originations.remove(id) else {
            return self.b2bua.fail_call(now, ep, &mut self.media, id, 480);
        };
        let shown = o.caller_id.clone().unwrap_or_else(|| o.caller.clone());
        match self.legs_for(now, &o.callee, &shown, o.gateways.as_deref(), Some(id)) {
            Ok(legs) => {
                let gw = legs.iter().find_map(|l| l.gateway.clone());
                if self.b2bua.dial_b(now, ep, id, legs) {
                    tracing::info!(call = %id, callee = %o.callee, "click-to-call: caller answered, dialling the callee");
                    // Ringback to the caller in its codec, until the callee's
                    // own early media or answer.
                    let pt = self.originated_g711_pt(id);
                    tracing::debug!(call = %id, ?pt, "ringback");
                    if let (Some(pt), Some(spec)) = (pt, self.ringback.clone()) {
                        let ssrc = u32::from_le_bytes(crate::secrets::random_bytes::<4>());
                        self.media.tone(id, media::ToneGen::new(spec, pt, ssrc, 1));
                    }
                } else {
                    if let Some(g) = gw {
                        self.trunks.release(&g);
                    }
                    self.hunts.remove(id);
                    self.b2bua.fail_call(now, ep, &mut self.media, id, 480);
                }
            }
            Err((status, code, why)) => {
                tracing::info!(call = %id, callee = %o.callee, code, %why, "click-to-call: the callee cannot be dialled");
                self.b2bua.fail_call(now, ep, &mut self.media, id, if status == 503 { 503 } else { 480 });
            }
        }
    }

    /// A gateway leg failed over: the next gateway, or give up.
    fn hunt_next(&mut self, now: Instant, ep: &mut Endpoint, id: &str) {
        let Some(mut h) = self.hunts.remove(id) else {
            return self.b2bua.fail_call(now, ep, &mut self.media, id, 0);
        };
        while let Some(leg) = self.next_leg(now, &mut h.left, &h.number, &h.caller) {
            let gw = leg.gateway.clone();
            if self.b2bua.hunt_next(now, ep, id, leg) {
                self.hunts.insert(id.to_owned(), h);
                return;
            }
            self.trunks.release(&gw);
        }
        self.b2bua.fail_call(now, ep, &mut self.media, id, 0);
    }

    /// Publish an event to /v1/events subscribers (never waits).
    fn publish(&mut self, kind: &'static str, call: Option<&str>, extensions: &[&str], body: serde_json::Value) {
        let extensions = extensions.iter().map(|e| e.to_string()).collect();
        self.publish_event(kind, call, extensions, None, None, body);
    }

    /// The one place events get their sequence number, type, time and call.
    fn publish_event(&mut self, kind: &'static str, call: Option<&str>, extensions: Vec<String>, queue: Option<&str>, agent: Option<&str>, mut body: serde_json::Value) {
        self.seq += 1;
        if self.events.receiver_count() == 0 {
            return; // nobody listens: not worth serialising
        }
        if let Some(o) = body.as_object_mut() {
            o.insert("seq".into(), self.seq.into());
            o.insert("type".into(), kind.into());
            o.insert("ts_ms".into(), self.clock.now_ms().into());
            if let Some(c) = call {
                o.insert("call".into(), c.into());
            }
        }
        if let (Some(o), Some(c)) = (body.as_object_mut(), &self.cluster) {
            o.insert("node".into(), c.signer.node().into());
        }
        let ev = api::LiveEvent { seq: self.seq, kind, call: call.map(str::to_owned), extensions, queue: queue.map(str::to_owned), agent: agent.map(str::to_owned), json: body.to_string(), remote: false };
        let _ = self.events.send(std::sync::Arc::new(ev));
    }

    /// Publish `gateway_state` for each gateway whose registration or
    /// health changed since last time (and `gateway_removed`).
    fn gateway_events(&mut self, now: Instant) {
        let mut seen = std::collections::HashSet::new();
        for g in self.trunks.status(now) {
            seen.insert(g.name.clone());
            let state = (g.registration.as_str().to_owned(), g.ping.as_str().to_owned());
            if self.gw_states.get(&g.name) != Some(&state) {
                tracing::info!(gateway = %g.name, registration = %state.0, ping = %state.1, "gateway state");
                let body = serde_json::json!({"gateway": g.name, "registration": state.0, "ping": state.1, "latency_ms": g.latency_ms, "calls": g.calls, "last_error": g.last_error});
                self.gw_states.insert(g.name.clone(), state);
                self.publish("gateway_state", None, &[], body);
            }
        }
        let gone: Vec<String> = self.gw_states.keys().filter(|k| !seen.contains(*k)).cloned().collect();
        for g in gone {
            self.gw_states.remove(&g);
            self.publish("gateway_removed", None, &[], serde_json::json!({"gateway": g}));
        }
    }

    /// Publish a queue or agent event (found by the agent's extension too).
    fn publish_cc(&mut self, kind: &'static str, call: Option<&str>, queue: Option<&str>, agent: Option<&str>, body: serde_json::Value) {
        let contact = agent.and_then(|a| self.cc.agent(a)).map(|a| a.config.contact);
        self.publish_event(kind, call, contact.into_iter().collect(), queue, agent, body);
    }

    fn drain_calls(&mut self, now: Instant, ep: &mut Endpoint) {
        // Check relays for silence once a second while any is open.
        if self.media_timeout.is_some() && !self.media.is_empty() && self.next_media_check.is_none() {
            self.next_media_check = Some(now + std::time::Duration::from_secs(1));
        }
        while let Some(ev) = self.b2bua.poll_event() {
            // Everything logged while handling a call's event carries its
            // UUID. A root span: the events drained here may belong to
            // calls other than the one whose message is being handled.
            let span = tracing::info_span!(parent: None, "call", uuid = %ev.call_id());
            let _entered = span.enter();
            match &ev {
                CallEvent::Created { id, caller, callee, .. } => {
                    for p in [caller, callee] {
                        *self.active.entry(p.clone()).or_default() += 1;
                    }
                    for p in [caller.clone(), callee.clone()] {
                        self.agent_busy_changed(now, &p);
                    }
                    if self.recorded.contains(caller) || self.recorded.contains(callee) || self.record_calls.remove(id) {
                        self.record_from_start(id);
                    }
                    self.parties.insert(id.clone(), (caller.clone(), callee.clone()));
                    let body = serde_json::json!({"caller": caller, "callee": callee});
                    self.publish("channel_created", Some(id), &[caller, callee], body);
                }
                CallEvent::Ringing { id } | CallEvent::Answered { id, .. } | CallEvent::EarlyMedia { id } => {
                    let kind = match ev {
                        CallEvent::Ringing { .. } => "channel_ringing",
                        CallEvent::EarlyMedia { .. } => "channel_early_media",
                        _ => "channel_answered",
                    };
                    let (a, b) = self.parties.get(id).cloned().unwrap_or_default();
                    self.publish(kind, Some(id), &[&a, &b], serde_json::json!({"caller": a, "callee": b}));
                    if kind == "channel_answered" && !self.queue_calls.contains_key(id) && !self.ivr_sessions.contains_key(id) && !self.originations.contains_key(id) {
                        // Both legs are up: the B2BUA bridges them as it answers.
                        self.publish("channel_bridged", Some(id), &[&a, &b], serde_json::json!({"caller": a, "callee": b}));
                    }
                }
                CallEvent::Bridged { id, group, .. } => {
                    // The agent's (or the transferred-to phone's) RFC 4733 digits become events.
                    self.media.detect_callee_dtmf(id, self.b2bua.callee_event_pt(id));
                    let (a, b) = self.parties.get(id).cloned().unwrap_or_default();
                    let agent = self.queue_calls.get(id).and_then(|q| q.offers.iter().find(|(o, _)| o.0 == *group).map(|(_, a)| a.clone()).or_else(|| q.agent.clone()));
                    self.publish("channel_bridged", Some(id), &[&a, &b], serde_json::json!({"caller": a, "callee": b, "agent": agent}));
                }
                CallEvent::Hold { id, by, held } => {
                    let (a, b) = self.parties.get(id).cloned().unwrap_or_default();
                    let kind = if *held { "channel_hold" } else { "channel_unhold" };
                    self.publish(kind, Some(id), &[&a, &b], serde_json::json!({"caller": a, "callee": b, "by": by.party()}));
                }

                CallEvent::Ended(c) => {
                    self.parties.remove(&c.id);
                    self.dissuading.remove(&c.id);
                    for p in [&c.caller, &c.callee] {
                        if let Some(n) = self.active.get_mut(p) {
                            *n = n.saturating_sub(1);
                            if *n == 0 {
                                self.active.remove(p);
                            }
                        }
                    }
                    for p in [c.caller.clone(), c.callee.clone()] {
                        self.agent_busy_changed(now, &p);
                    }
                    let body = serde_json::json!({"caller": c.caller, "callee": c.callee, "disposition": c.disposition.as_str(), "hangup_side": c.hangup_side, "hangup_cause": c.hangup_cause});
                    let (id, caller, callee) = (c.id.clone(), c.caller.clone(), c.callee.clone());
                    self.publish("channel_hangup", Some(&id), &[&caller, &callee], body);
                }
                _ => {}
            }
            match ev {
                CallEvent::GatewayUsed { id, gateway } => tracing::info!(call = %id, %gateway, "trying gateway"),
                CallEvent::CallerAnswered { id } => {
                    if !self.standby_answered(now, ep, &id) {
                        self.dial_callee(now, ep, &id);
                    }
                }
                CallEvent::GatewayReleased { gateway, .. } => self.trunks.release(&gateway),
                CallEvent::GatewayFailed { id, gateway, code } => {
                    tracing::info!(call = %id, %gateway, code, "gateway failed; trying the next");
                    self.hunt_next(now, ep, &id);
                }
                CallEvent::GatewayChallenged { id, gateway, challenge, uri } => match self.trunks.authorize(&gateway, &challenge, "INVITE", &uri) {
                    Some((h, v)) if self.b2bua.authenticate(now, ep, &id, h, &v) => {}
                    _ => {
                        tracing::warn!(call = %id, %gateway, "gateway challenged the call and we have no credentials for it");
                        self.b2bua.fail_call(now, ep, &mut self.media, &id, 503);
                    }
                },
                CallEvent::Ended(cdr) => {
                    self.hunts.remove(&cdr.id);
                    self.record_at_answer.remove(&cdr.id);
                    self.standby_call_ended(now, ep, &cdr.id);
                    self.ivr_sessions.remove(&cdr.id);
                    self.transfers.remove(&cdr.id);
                    if let Some(c) = self.cluster.as_mut() {
                        c.forwarded.remove(&cdr.id);
                        c.orphans.remove(&cdr.id);
                        if let Some(agent) = c.standby_members.remove(&cdr.id) {
                            // Another node's caller put through to a line here.
                            self.standby_member_gone(&cdr.id, Some(&agent));
                        }
                    }
                    if let Some(g) = self.inbound_calls.remove(&cdr.id) {
                        self.trunks.release(&g);
                    }
                    *self.calls_ended.entry(cdr.disposition.as_str()).or_default() += 1;
                    self.rtp.observe(&cdr.quality, cdr.packets);
                    *self.calls_by_code.entry(cdr.a_status).or_default() += 1;
                    tracing::info!(call = %cdr.id, disposition = cdr.disposition.as_str(), hangup = cdr.hangup_side, cause = %cdr.hangup_cause, "call ended");
                    self.originations.remove(&cdr.id);
                    let mut extra = self.extras.remove(&cdr.id).unwrap_or_default();
                    let mut cdr = cdr;
                    extra.bye_reply = cdr.bye_reply.take();
                    if self.jobs.closed() {
                        // No store worker to confirm the record: answer now.
                        if let Some((tx, r)) = extra.bye_reply.take() {
                            self.respond(now, ep, tx, r);
                        }
                    }
                    if let Some(q) = self.queue_call_ended(now, ep, &cdr.id) {
                        extra.queue = Some(queues::cdr_fields(&q));
                    }
                    match self.media.take_recording(&cdr.id) {
                        // The CDR (and its webhook) wait for the file to be
                        // complete and durable; a few milliseconds.
                        Some(done) => {
                            let jobs = self.jobs.clone();
                            let s3 = self.s3.clone();
                            self.media.spawn(async move {
                                let mut extra = extra;
                                match tokio::time::timeout(std::time::Duration::from_secs(30), done).await {
                                    Ok(Ok(Some(r))) => {
                                        extra.recording = r.path.file_name().map(|f| f.to_string_lossy().into_owned());
                                        if let Some(s3) = s3 {
                                            match s3.upload_retrying(&r.path).await {
                                                Ok(url) => {
                                                    tracing::info!(call = %cdr.id, %url, "recording uploaded");
                                                    extra.recording_url = Some(url);
                                                }
                                                Err(e) => tracing::error!(call = %cdr.id, error = %format!("{e:#}"), "recording upload failed; the webhook names the local copy"),
                                            }
                                        }
                                    }
                                    _ => tracing::error!(call = %cdr.id, "the recording could not be finished"),
                                }
                                jobs.send(Job::Cdr(cdr, extra));
                            });
                        }
                        None => {
                            self.jobs.send(Job::Cdr(cdr, extra));
                        }
                    }
                }
                CallEvent::Bridged { id, .. } if self.transfers.contains(&id) => {
                    tracing::info!(call = %id, "parked call put through");
                    self.media.play(&id, None);
                }
                CallEvent::Bridged { id, group, .. } => {
                    tracing::info!(call = %id, "queue call bridged to an agent");
                    self.queue_bridged(now, ep, &id, group);
                }
                CallEvent::AgentFailed { id, code, .. } if self.transfers.remove(&id) => {
                    tracing::info!(call = %id, code, "parked call could not be put through");
                    self.b2bua.hangup_with(now, ep, &mut self.media, &id, "unreachable");
                }
                CallEvent::AgentFailed { id, code, group } => self.queue_agent_failed(now, ep, &id, code, group),
                CallEvent::Dtmf { id, digit } => self.caller_digit(now, ep, &id, digit),
                CallEvent::Answered { id, at } => {
                    tracing::info!(call = %id, "call answered");
                    if self.record_at_answer.remove(&id) {
                        self.start_recording(&id);
                    }
                    // Digits the caller sends (RFC 4733) become events, and
                    // those the callee sends as RFC 4733 (none yet for a
                    // parked caller: see Bridged).
                    let pt = self.b2bua.caller_event_pt(&id);
                    self.media.detect_dtmf(&id, runtime::Digits::for_caller(pt));
                    self.media.detect_callee_dtmf(&id, self.b2bua.callee_event_pt(&id));
                    if self.queue_calls.contains_key(&id) {
                        self.play_moh(&id);
                    } else if self.ivr_sessions.contains_key(&id) || self.dissuading.contains_key(&id) {
                        // The menu's prompt (or the dissuade message) plays.
                    } else if self.standby_started(now, ep, &id) {
                        // A uuid-standby agent's standing call: silence plays.
                    } else {
                        self.media.tone(&id, None);
                    }
                    self.jobs.send(Job::CallAnswered { id, at });
                }
                CallEvent::Ringing { id } => tracing::debug!(call = %id, "ringing"),
                CallEvent::EarlyMedia { id } => tracing::debug!(call = %id, "early media"),
                CallEvent::Hold { id, by, held } => tracing::info!(call = %id, by = by.party(), held, "hold"),
                CallEvent::Created { id, caller, callee, a_call_id, start } => {
                    self.calls_started += 1;
                    self.recent_calls.push_back(start);
                    while self.recent_calls.len() > 100_000 || self.recent_calls.front().is_some_and(|t| start.saturating_duration_since(*t) > std::time::Duration::from_secs(10)) {
                        self.recent_calls.pop_front();
                    }
                    // A click-to-call's webhook URL and ext_data go with
                    // it, for the CDR of a call a crash interrupts.
                    let extra = self.extras.get(&id);
                    let webhook_url = extra.and_then(|e| e.webhook_url.clone());
                    let ext_data = extra.and_then(|e| e.ext_data.as_ref()).map(|e| e.get().to_owned());
                    // A recording started before this event (a click-to-call
                    // recorded from its start): its `CallRecording` may
                    // be written before this row exists, so the row names it.
                    let recording = self.media.recording_path(&id).and_then(|p| p.file_name()).map(|f| f.to_string_lossy().into_owned());
                    self.jobs.send(Job::CallStarted { id, caller, callee, a_call_id, start, webhook_url, ext_data, recording });
                }
            }
        }
    }

    fn respond(&self, now: Instant, ep: &mut Endpoint, tx: TxId, mut resp: Message) {
        resp.push(HeaderName::Server, &self.user_agent);
        if let Err(e) = ep.respond(now, tx, resp) {
            tracing::debug!(%tx, ?e, "could not respond");
        }
    }

    fn respond_stateless(&self, now: Instant, ep: &mut Endpoint, tx: TxId, mut resp: Message) {
        resp.push(HeaderName::Server, &self.user_agent);
        if let Err(e) = ep.respond_stateless(now, tx, resp) {
            tracing::debug!(%tx, ?e, "could not respond");
        }
    }

    fn reply(&self, now: Instant, ep: &mut Endpoint, tx: TxId, req: &Message, code: u16, reason: &str, extra: &[(HeaderName, &str)]) {
        let tag = ep.new_tag();
        let mut resp = Message::response_to(req, code, reason, Some(&tag));
        for (h, v) in extra {
            resp.push(*h, v);
        }
        self.respond(now, ep, tx, resp);
    }

    fn handle_request(&mut self, now: Instant, ep: &mut Endpoint, tx: TxId, req: Message, source: sip_proto::Peer) {
        let Some(method) = req.method().cloned() else { return };
        let now_ms = self.clock.unix_ms(now);
        if self.registrar.is_blocked(source.addr.ip(), now_ms) {
            ep.discard(tx);
            return;
        }
        let in_dialog_early = req.to().map(|t| t.tag().is_some()).unwrap_or(false);
        if self.draining && !in_dialog_early {
            // Shutting down: live calls go on (their in-dialog requests are
            // served below), new work is refused with a hint to retry.
            self.reply(now, ep, tx, &req, 503, "Service Unavailable", &[(HeaderName::RetryAfter, "30")]);
            return;
        }
        if !in_dialog_early && matches!(method, Method::Invite | Method::Register) && self.jobs.overloaded() {
            // The store is behind: what we would accept now could not be
            // recorded in time. Stateless, so the refusal costs nothing.
            self.store_overloads += 1;
            let tag = ep.new_tag();
            let mut resp = Message::response_to(&req, 503, "Store Overloaded", Some(&tag));
            resp.push(HeaderName::RetryAfter, "5");
            self.respond_stateless(now, ep, tx, resp);
            return;
        }
        if !matches!(req.request_uri().map(|u| u.scheme()), Some(Scheme::Sip | Scheme::Sips)) {
            self.reply(now, ep, tx, &req, 416, "Unsupported URI Scheme", &[]);
            return;
        }
        // §8.2.2.3: refuse option tags we do not support.
        if method != Method::Cancel {
            let unsupported: Vec<&str> =
                req.tokens(HeaderName::Require).filter(|t| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t))).collect();
            if !unsupported.is_empty() {
                let list = unsupported.join(", ");
                self.reply(now, ep, tx, &req, 420, "Bad Extension", &[(HeaderName::Unsupported, &list)]);
                return;
            }
        }
        let in_dialog = req.to().map(|t| t.tag().is_some()).unwrap_or(false);
        if in_dialog && self.b2bua.handle_in_dialog(now, ep, &mut self.media, tx, req.clone()) {
            self.drain_calls(now, ep);
            return;
        }
        match method {
            Method::Invite if !in_dialog => self.handle_invite(now, ep, tx, req, source),
            Method::Register => {
                let tag = ep.new_tag();
                match self.registrar.handle_register(now_ms, &req, source, &self.directory, &tag) {
                    // Challenges and refusals change nothing: answered
                    // statelessly (RFC 3261 §8.2.7), so they hold no
                    // transaction for Timer J's 32 s.
                    Outcome::Reply(r) => self.respond_stateless(now, ep, tx, r),
                    Outcome::Commit { changes, reply } => {
                        let listened = self.events.receiver_count() > 0;
                        let evs: Vec<_> = changes
                            .iter()
                            .filter(|_| listened)
                            .map(|c| match c {
                                Change::Upsert(b) => ("registration", b.aor.clone(), serde_json::json!({"extension": b.aor, "contact": b.contact, "source": b.source.addr.to_string(), "expires_at_ms": b.expires_at_ms})),
                                Change::Delete { aor, contact } => ("unregistration", aor.clone(), serde_json::json!({"extension": aor, "contact": contact})),
                                Change::DeleteAll { aor } => ("unregistration", aor.clone(), serde_json::json!({"extension": aor, "contact": "*"})),
                            })
                            .collect();
                        self.pending_events.insert(tx, evs);
                        if !self.jobs.send(Job::Commit { tx, changes, reply }) {
                            self.reply(now, ep, tx, &req, 500, "Store Unavailable", &[]);
                        }
                    }
                    Outcome::Ignore => ep.discard(tx),
                }
            }
            Method::Options if !in_dialog => {
                // Answered statelessly: OPTIONS pings (NAT keep-alives,
                // monitoring) must not fill the transaction table for 32 s.
                let tag = ep.new_tag();
                let mut resp = Message::response_to(&req, 200, "OK", Some(&tag));
                for (h, v) in [(HeaderName::Allow, ALLOW), (HeaderName::Accept, "application/sdp"), (HeaderName::AcceptLanguage, "en"), (HeaderName::Supported, &SUPPORTED.join(", ")), (HeaderName::Server, &self.user_agent)] {
                    resp.push(h, v);
                }
                if let Err(e) = ep.respond_stateless(now, tx, resp) {
                    tracing::debug!(%tx, ?e, "could not answer OPTIONS");
                }
            }
            Method::Extension(_) => {
                self.reply(now, ep, tx, &req, 501, "Not Implemented", &[(HeaderName::Allow, ALLOW)]);
            }
            _ if in_dialog => {
                self.reply(now, ep, tx, &req, 481, "Call/Transaction Does Not Exist", &[]);
            }
            _ => {
                self.reply(now, ep, tx, &req, 405, "Method Not Allowed", &[(HeaderName::Allow, ALLOW)]);
            }
        }
    }

    fn send_ping(&mut self, now: Instant, ep: &mut Endpoint, ping: registrar::PingDue) {
        let mut m = Message::request(Method::Options, &ping.contact);
        let tag = ep.new_tag();
        let call_id = ep.new_call_id();
        m.push(HeaderName::From, &format!("<sip:keepalive@{}>;tag={tag}", self.registrar.realm()));
        // To names the extension (the logical recipient, RFC 3261 §8.1.1.2),
        // not the contact: a SIP trace of the extension then shows its
        // keep-alives and their answers, whatever user part its Contact has.
        m.push(HeaderName::To, &format!("<sip:{}@{}>", ping.aor, self.registrar.realm()));
        m.push(HeaderName::CallId, &call_id);
        m.push(HeaderName::CSeq, "1 OPTIONS");
        m.push(HeaderName::UserAgent, &self.user_agent);
        match ep.send_request(now, m, ping.dest) {
            Ok(tx) => {
                self.pings.insert(tx, (ping.aor, ping.contact));
            }
            Err(e) => tracing::debug!(?e, "keep-alive not sent"),
        }
    }

    /// Prometheus text exposition (version 0.0.4).
    fn metrics(&self, now: Instant, ep: &Endpoint) -> String {
        use std::fmt::Write;
        let mut o = String::with_capacity(2048);
        let mut gauge = |name: &str, help: &str, kind: &str, samples: &[(String, f64)]| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(o, "{name}{labels} {v}");
            }
        };
        let st = ep.stats();
        let (auth_fail, bans) = self.registrar.auth_counters();
        gauge("ferroswitch_calls_active", "Calls in progress.", "gauge", &[(String::new(), self.b2bua.count() as f64)]);
        gauge("ferroswitch_channels_active", "Call legs in progress: each call's caller leg and its answered or ringing callee legs.", "gauge", &[(String::new(), self.b2bua.channel_count() as f64)]);
        gauge("ferroswitch_calls_started_total", "Calls started.", "counter", &[(String::new(), self.calls_started as f64)]);
        let recent = self.recent_calls.iter().filter(|t| now.saturating_duration_since(**t) <= std::time::Duration::from_secs(10)).count();
        gauge("ferroswitch_calls_per_second", "Calls started per second over the last 10 s.", "gauge", &[(String::new(), recent as f64 / 10.0)]);
        let up = self.started.map(|s| now.saturating_duration_since(s).as_secs()).unwrap_or(0);
        gauge("ferroswitch_uptime_seconds", "Seconds since the switch started.", "gauge", &[(String::new(), up as f64)]);
        if let Some(cpu) = std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| {
            // utime and stime, fields 14 and 15, after the parenthesised name.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        }) {
            gauge("process_cpu_seconds_total", "CPU time used by the process (user + system).", "counter", &[(String::new(), cpu)]);
        }
        if let Some(load) = std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<f64>().ok())) {
            gauge("node_load1", "The host's 1-minute load average.", "gauge", &[(String::new(), load)]);
        }
        let mut ended: Vec<_> = self.calls_ended.iter().map(|(d, n)| (format!("{{disposition=\"{d}\"}}"), *n as f64)).collect();
        ended.sort_by(|a, b| a.0.cmp(&b.0));
        gauge("ferroswitch_calls_ended_total", "Calls ended, by disposition.", "counter", &ended);
        gauge("ferroswitch_relay_sessions", "Open media relays.", "gauge", &[(String::new(), self.media.len() as f64)]);
        gauge("ferroswitch_transcoding_sessions", "Relays transcoding between two codecs.", "gauge", &[(String::new(), self.media.transcoding() as f64)]);
        if let Some(c) = &self.cluster {
            let me = c.signer.node();
            gauge("ferroswitch_cluster_nodes_live", "Other live nodes of the cluster, as of the last refresh.", "gauge", &[(String::new(), c.view.nodes.len() as f64)]);
            let owned = c.view.owners.values().filter(|o| o.as_str() == me).count();
            gauge("ferroswitch_cluster_queues_owned", "Queues this node dispatches.", "gauge", &[(String::new(), owned as f64)]);
            gauge("ferroswitch_cluster_remote_extensions", "Extensions reachable only through another node.", "gauge", &[(String::new(), c.view.remote.keys().filter(|aor| c.view.locate(aor).is_some()).count() as f64)]);
        }
        let (rec_queued, rec_dropped) = runtime::recording_backlog();
        gauge("ferroswitch_recording_write_queue_bytes", "Recorded audio handed to the recording writer and not yet written.", "gauge", &[(String::new(), rec_queued as f64)]);
        gauge("ferroswitch_recording_dropped_bytes_total", "Recorded audio dropped because the recording writer was too far behind the calls.", "counter", &[(String::new(), rec_dropped as f64)]);
        gauge("ferroswitch_registrations", "Registered contacts.", "gauge", &[(String::new(), self.registrar.count() as f64)]);
        gauge("ferroswitch_auth_failures_total", "Failed digest authentications.", "counter", &[(String::new(), auth_fail as f64)]);
        gauge("ferroswitch_auth_bans_total", "Sources banned for failed authentications.", "counter", &[(String::new(), bans as f64)]);
        gauge("ferroswitch_blocked_sources", "Sources blocked now for failed authentications.", "gauge", &[(String::new(), self.registrar.blocked_count(self.clock.unix_ms(now)) as f64)]);
        gauge("ferroswitch_sip_transactions", "Live SIP transactions.", "gauge", &[(String::new(), ep.transaction_count() as f64)]);
        let by_state: Vec<_> = ep.transaction_states().into_iter().map(|(k, st, n)| (format!("{{kind=\"{k}\",state=\"{st}\"}}"), n as f64)).collect();
        gauge("ferroswitch_sip_transactions_by_state", "Live SIP transactions by kind and state.", "gauge", &by_state);
        gauge("ferroswitch_sip_parse_errors_total", "Messages that failed to parse or lacked core headers.", "counter", &[(String::new(), st.parse_errors as f64)]);
        gauge("ferroswitch_sip_bad_requests_total", "Stateless 400/505 answers.", "counter", &[(String::new(), st.bad_requests_answered as f64)]);
        gauge("ferroswitch_sip_retransmissions_absorbed_total", "Request retransmissions absorbed.", "counter", &[(String::new(), st.retransmissions_absorbed as f64)]);
        gauge("ferroswitch_sip_overload_rejections_total", "Requests refused with 503 (transaction table full).", "counter", &[(String::new(), st.overload_rejections as f64)]);
        gauge("ferroswitch_sip_load_shed_total", "New calls and registrations refused with 503 while the SIP receive queue stayed full (sip.overload_after_ms).", "counter", &[(String::new(), st.load_shed as f64)]);
        gauge("ferroswitch_sip_admitted_while_shedding_total", "New calls and registrations let through while shedding (one each 50 ms), so a deep overload does not lock every new caller out.", "counter", &[(String::new(), st.admitted_while_shedding as f64)]);
        gauge("ferroswitch_sip_overload_episodes_total", "Times load shedding started.", "counter", &[(String::new(), st.overload_episodes as f64)]);
        gauge("ferroswitch_sip_shedding", "1 while new calls and registrations are being shed.", "gauge", &[(String::new(), if ep.is_shedding() { 1.0 } else { 0.0 })]);
        gauge("ferroswitch_store_queue", "Records waiting to be written to the store.", "gauge", &[(String::new(), self.jobs.depth() as f64)]);
        gauge("ferroswitch_store_overload_rejections_total", "INVITEs and REGISTERs refused with 503 because the store was behind.", "counter", &[(String::new(), self.store_overloads as f64)]);
        gauge("ferroswitch_draining", "1 while shutting down.", "gauge", &[(String::new(), if self.draining { 1.0 } else { 0.0 })]);
        {
            let gws = self.trunks.status(now);
            let per = |f: &dyn Fn(&trunks::GatewayStatus) -> f64| gws.iter().map(|g| (format!("{{gateway=\"{}\"}}", g.name), f(g))).collect::<Vec<_>>();
            gauge("ferroswitch_gateway_registered", "1 if the gateway's outbound registration is in force (0 also when it does not register).", "gauge", &per(&|g| if g.registration.as_str() == "registered" { 1.0 } else { 0.0 }));
            gauge("ferroswitch_gateway_up", "0 if the gateway's OPTIONS pings fail, else 1.", "gauge", &per(&|g| if g.ping.as_str() == "down" { 0.0 } else { 1.0 }));
            gauge("ferroswitch_gateway_calls", "Calls through the gateway now.", "gauge", &per(&|g| f64::from(g.calls)));
        }
        let mut by_code: Vec<_> = self.calls_by_code.iter().map(|(c, n)| (format!("{{code=\"{c}\"}}"), *n as f64)).collect();
        by_code.sort_by(|a, b| a.0.cmp(&b.0));
        gauge("ferroswitch_calls_ended_by_code_total", "Calls ended, by the final SIP status the caller got.", "counter", &by_code);
        gauge("ferroswitch_webhook_outbox", "Webhook deliveries waiting to be made.", "gauge", &[(String::new(), self.webhook_outbox.load(std::sync::atomic::Ordering::Relaxed) as f64)]);
        gauge("ferroswitch_rtp_packets_total", "RTP packets received in ended relayed calls.", "counter", &[(String::new(), self.rtp.packets as f64)]);
        gauge("ferroswitch_rtp_lost_total", "RTP packets lost (RFC 3550) in ended relayed calls.", "counter", &[(String::new(), self.rtp.lost as f64)]);
        gauge("ferroswitch_rtp_jitter_ms", "Interarrival jitter (RFC 3550) of each stream of ended relayed calls, at hang-up.", "histogram", &self.rtp.jitter.samples());
        gauge("ferroswitch_rtp_loss_percent", "Share of packets lost (RFC 3550) in each stream of ended relayed calls.", "histogram", &self.rtp.loss.samples());
        let mut cc_lines = self.cc_metrics(now);
        cc_lines.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let mut i = 0;
        while i < cc_lines.len() {
            let name = cc_lines[i].0.clone();
            let samples: Vec<(String, f64)> = cc_lines[i..].iter().take_while(|l| l.0 == name).map(|l| (l.1.clone(), l.2)).collect();
            i += samples.len();
            let (help, kind) = match name.as_str() {
                "ferroswitch_agents" => ("Call-center agents by status.", "gauge"),
                "ferroswitch_queue_members_waiting" => ("Callers waiting in the queue.", "gauge"),
                "ferroswitch_queue_longest_wait_seconds" => ("Longest current wait in the queue.", "gauge"),
                "ferroswitch_queue_answered_total" => ("Queue callers answered by an agent.", "counter"),
                "ferroswitch_queue_abandoned_total" => ("Queue callers who hung up while waiting.", "counter"),
                _ => ("Queue callers who left on a timeout.", "counter"),
            };
            gauge(&name, help, kind, &samples);
        }
        if let Some(rss) = std::fs::read_to_string("/proc/self/statm").ok().and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<f64>().ok())) {
            gauge("process_resident_memory_bytes", "Resident memory.", "gauge", &[(String::new(), rss * 4096.0)]);
        }
        o
    }

    fn view(&self, b: &Binding, now_ms: u64) -> RegistrationView {
        RegistrationView {
            extension: b.aor.clone(),
            contact: b.contact.clone(),
            transport: b.source.transport.via_name().to_ascii_lowercase(),
            source: b.source.addr.to_string(),
            user_agent: b.user_agent.clone(),
            expires_in: b.expires_at_ms.saturating_sub(now_ms) / 1000,
            expires_at_ms: b.expires_at_ms,
        }
    }
}

impl Service for Switch {
    type Command = Command;

    fn on_event(&mut self, now: Instant, ep: &mut Endpoint, ev: Event) {
        match ev {
            Event::Request { tx, request, source } => self.handle_request(now, ep, tx, request, source),
            Event::Cancelled { tx, .. } => {
                if !self.b2bua.handle_cancel(now, ep, &mut self.media, tx) {
                    if let Some(req) = ep.server_request(tx).cloned() {
                        self.reply(now, ep, tx, &req, 487, "Request Terminated", &[]);
                    }
                }
            }
            Event::Response { tx, response } => {
                if self.pings.contains_key(&tx) {
                    if response.status().is_some_and(|c| c >= 200) {
                        // Any final answer means the phone is reachable.
                        self.pings.remove(&tx);
                    }
                } else if self.trunks.handle_response(now, ep, tx, &response) {
                    self.gateway_events(now);
                } else {
                    self.b2bua.handle_response(now, ep, &mut self.media, tx, response);
                }
            }
            Event::Timeout { tx } | Event::TransportError { tx } if self.trunks.handle_tx_failure(now, ep, tx) => self.gateway_events(now),
            Event::Timeout { tx } | Event::TransportError { tx } => {
                if let Some((aor, contact)) = self.pings.remove(&tx) {
                    if let Some(change) = self.registrar.ping_failed(&aor, &contact) {
                        tracing::info!(%aor, %contact, "keep-alive unanswered: binding dropped");
                        self.jobs.send(Job::Persist(vec![change]));
                    }
                } else {
                    self.b2bua.handle_tx_failure(now, ep, &mut self.media, tx);
                }
            }
            Event::Ack { request, .. } => {
                self.b2bua.handle_ack(&request);
            }
            Event::StrayResponse { response, .. } => {
                self.b2bua.handle_stray_2xx(ep, &response);
            }
            Event::AckTimeout { tx } => {
                self.b2bua.handle_ack_timeout(now, ep, &mut self.media, tx);
            }
            _ => {}
        }
        self.drain_calls(now, ep);
    }

    fn on_command(&mut self, now: Instant, ep: &mut Endpoint, cmd: Command) {
        match cmd {
            Command::Drain => self.draining = true,
            Command::Committed { tx, reply, ok } => {
                let evs = self.pending_events.remove(&tx).unwrap_or_default();
                if ok {
                    for (kind, ext, body) in evs {
                        self.publish(kind, None, &[&ext], body);
                    }
                    if reply.cseq().is_ok_and(|c| c.method == Method::Register) {
                        // Statelessly, as Kamailio's registrar does: the
                        // registrar answers a retransmission of this
                        // REGISTER 200 again (same Call-ID, CSeq, branch),
                        // so no transaction is held for Timer J's 32 s.
                        self.respond_stateless(now, ep, tx, reply);
                    } else {
                        self.respond(now, ep, tx, reply);
                    }
                } else {
                    // The 200 was not made durable: say so instead.
                    let mut r = Message::response(500, "Store Unavailable");
                    for h in [HeaderName::Via, HeaderName::From, HeaderName::To, HeaderName::CallId, HeaderName::CSeq] {
                        for v in reply.get_all(h) {
                            r.push(h, v);
                        }
                    }
                    r.push(HeaderName::RetryAfter, "5");
                    self.respond(now, ep, tx, r);
                }
            }
            Command::Media(ev) => match ev {
                runtime::RelayEvent::Dtmf(call, d) => self.caller_digit(now, ep, &call, d),
                runtime::RelayEvent::CalleeDtmf(call, d) => self.callee_digit(&call, d),
                runtime::RelayEvent::PlayDone(call) => self.prompt_finished(now, ep, &call),
            },
            Command::Reload { calls_per_minute, ringback, media_timeout } => {
                self.calls_per_minute = calls_per_minute;
                self.ringback = ringback;
                self.media_timeout = media_timeout;
            }
            Command::Trace(req, reply) => {
                let r = match req {
                    Some(t) if t.call.as_ref().is_some_and(|c| !self.b2bua.calls().iter().any(|x| &x.id == c)) => Err(api::ApiError::not_found("call")),
                    Some(t) => {
                        tracing::info!(enabled = t.enabled, call = ?t.call, extension = ?t.extension, "SIP trace");
                        self.sip_trace = t;
                        Ok(self.sip_trace.clone())
                    }
                    None => Ok(self.sip_trace.clone()),
                };
                let _ = reply.send(r);
            }
            Command::Cluster(u) => self.apply_cluster(now, ep, *u),
            Command::Callcenter(req, reply) => {
                let r = self.cc_request(now, ep, req);
                let _ = reply.send(r);
            }
            Command::Config { directory, policy, trunking, callcenter } => {
                // The first configuration arrives as the switch starts.
                self.started.get_or_insert(now);
                // Carriers with digest credentials authenticate INVITEs
                // only (never REGISTER): a directory of their own, merged
                // under the extensions (an extension number wins).
                let realm = self.domain.clone();
                let mut invite_directory = directory.clone();
                self.carrier_users.clear();
                for c in trunking.carriers {
                    if invite_directory.contains_key(&c.username) {
                        tracing::warn!(username = %c.username, gateway = %c.gateway, "carrier username is also an extension number; the extension wins");
                        continue;
                    }
                    let ha1 = sip_proto::digest::Ha1s {
                        md5: sip_proto::digest::ha1(sip_proto::digest::Algorithm::Md5, &c.username, &realm, &c.password),
                        sha256: sip_proto::digest::ha1(sip_proto::digest::Algorithm::Sha256, &c.username, &realm, &c.password),
                    };
                    invite_directory.insert(c.username.clone(), DirectoryEntry { enabled: true, ha1 });
                    self.carrier_users.insert(c.username, c.gateway);
                }
                self.directory = directory;
                self.invite_directory = invite_directory;
                self.recorded = policy.recorded;
                self.max_calls = policy.max_calls;
                self.ext_codecs = policy.codecs;
                self.trunks.set_gateways(now, ep, trunking.gateways);
                self.gateway_events(now);
                self.routes = trunking.routes;
                self.apply_cc_config(now, ep, callcenter);
            }
            Command::Originate(req, reply) => {
                let r = self.originate(now, ep, req);
                self.drain_calls(now, ep);
                let _ = reply.send(r);
            }
            Command::GatewayStatus(reply) => {
                let v = self
                    .trunks
                    .status(now)
                    .into_iter()
                    .map(|g| {
                        let expires = match g.registration {
                            trunks::RegState::Registered { expires_in_secs } => Some(expires_in_secs),
                            trunks::RegState::Failed { retry_in_secs, .. } => Some(retry_in_secs),
                            _ => None,
                        };
                        api::GatewayStatusView {
                            name: g.name,
                            registration: g.registration.as_str().to_owned(),
                            registration_expires_in: expires,
                            ping: g.ping.as_str().to_owned(),
                            latency_ms: g.latency_ms,
                            calls: g.calls,
                            last_error: g.last_error,
                        }
                    })
                    .collect();
                let _ = reply.send(v);
            }
            Command::Registrations(reply) => {
                let now_ms = self.clock.unix_ms(now);
                let mut v: Vec<_> = self.registrar.all().map(|b| self.view(b, now_ms)).collect();
                v.sort_by(|a, b| (&a.extension, &a.contact).cmp(&(&b.extension, &b.contact)));
                let _ = reply.send(v);
            }
            Command::Blocks(reply) => {
                let now_ms = self.clock.unix_ms(now);
                let v = self
                    .registrar
                    .blocked(now_ms)
                    .into_iter()
                    .map(|b| BlockView { ip: b.ip.to_string(), expires_in: b.until_ms.saturating_sub(now_ms) / 1000, failures: b.failures })
                    .collect();
                let _ = reply.send(v);
            }
            Command::ClearBlock(ip, reply) => {
                let _ = reply.send(self.registrar.clear_block(ip));
            }
            Command::Calls(reply) => {
                let v = self
                    .b2bua
                    .calls()
                    .into_iter()
                    .map(|c| api::CallView {
                        id: c.id,
                        caller: c.caller,
                        callee: c.callee,
                        state: format!("{:?}", c.state).to_ascii_lowercase(),
                        start_ms: self.clock.unix_ms(c.start),
                        answer_ms: c.answer.map(|a| self.clock.unix_ms(a)),
                    })
                    .collect();
                let _ = reply.send(v);
            }
            Command::Metrics(reply) => {
                let _ = reply.send(self.metrics(now, ep));
            }
            Command::HangupAll => {
                for c in self.b2bua.calls() {
                    self.b2bua.hangup_with(now, ep, &mut self.media, &c.id, "shutdown");
                }
                self.drain_calls(now, ep);
            }
            Command::Hangup(id, reply) => {
                let ok = self.b2bua.hangup(now, ep, &mut self.media, &id);
                self.drain_calls(now, ep);
                let _ = reply.send(ok);
            }
        }
    }

    fn on_timeout(&mut self, now: Instant, ep: &mut Endpoint) {
        if self.next_media_check.is_some_and(|t| t <= now) {
            self.next_media_check = None;
            if let Some(limit) = self.media_timeout {
                for id in self.media.idle(limit) {
                    tracing::info!(call = %id, "no media for {limit:?}: hanging up");
                    self.b2bua.hangup_with(now, ep, &mut self.media, &id, "media_timeout");
                }
                self.drain_calls(now, ep);
            }
        }
        if self.b2bua.poll_timeout().is_some_and(|t| t <= now) {
            self.b2bua.handle_timeout(now, ep, &mut self.media);
            self.drain_calls(now, ep);
        }
        if self.trunks.poll_timeout().is_some_and(|t| t <= now) {
            self.trunks.handle_timeout(now, ep);
            self.gateway_events(now);
        }
        if self.cc_poll_timeout().is_some_and(|t| t <= now) {
            self.cc_timeouts(now, ep);
            self.drain_calls(now, ep);
        }
        if self.ivr_poll_timeout().is_some_and(|t| t <= now) {
            self.ivr_timeouts(now, ep);
        }
        let now_ms = self.clock.unix_ms(now);
        let (changes, pings) = self.registrar.handle_timeout(now_ms);
        if !changes.is_empty() {
            self.jobs.send(Job::Persist(changes));
        }
        for p in pings {
            self.send_ping(now, ep, p);
        }
    }

    fn trace(&self, data: &[u8]) -> bool {
        if !self.sip_trace.enabled {
            return false;
        }
        if self.sip_trace.call.is_none() && self.sip_trace.extension.is_none() {
            return true;
        }
        let Ok(m) = Message::parse_slice(data) else { return false };
        if let Some(call) = &self.sip_trace.call {
            return m.call_id().is_ok_and(|cid| self.b2bua.has_call_id(call, cid));
        }
        let Some(ext) = &self.sip_trace.extension else { return false };
        let user_is = |u: Option<std::borrow::Cow<'_, str>>| u.is_some_and(|u| u == ext.as_str());
        user_is(m.request_uri().and_then(|u| u.user_decoded())) || m.from().is_ok_and(|f| user_is(f.uri().user_decoded())) || m.to().is_ok_and(|t| user_is(t.uri().user_decoded()))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let r = self.registrar.poll_timeout().map(|ms| self.clock.instant(ms));
        [r, self.b2bua.poll_timeout(), self.next_media_check, self.trunks.poll_timeout(), self.cc_poll_timeout(), self.ivr_poll_timeout()].into_iter().flatten().min()
    }
}
