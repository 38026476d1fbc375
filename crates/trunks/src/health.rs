//! Gateway health by OPTIONS pings (RFC 3261 §11).
//!
//! The state diagram is on [`PingState`].

use crate::config::GatewayConfig;
use sip_msg::{HeaderName, Message, Method};
use sip_proto::{Endpoint, TxId};
use std::time::{Duration, Instant};

/// Health of a gateway as seen by its OPTIONS pings.
///
/// ```text
///            any response                       any response
///  Unknown ───────────────▶ Up ◀──────────────────────────── Down
///     │                      │                                 ▲
///     │ 2 failures in a row  │ 2 failures in a row             │
///     └──────────────────────┴─────────────────────────────────┘
/// ```
///
/// Any response, even 404, 405 or 501, proves the carrier's SIP stack is
/// alive and reachable, which is all a ping asks. A failure is a Timer F
/// expiry or a transport error; one alone is not enough to stop routing
/// calls (a single lost datagram on UDP is retransmitted by the transaction
/// anyway, so a timeout already means 32 s of silence). At most one OPTIONS
/// is in flight per gateway: when the period is shorter than Timer F, the
/// next ping waits for the outcome of the previous one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PingState {
    /// No pings configured, or no result yet: treated as up.
    Unknown,
    /// The last ping got a response.
    Up,
    /// The last two pings (at least) got none: new calls are refused.
    Down,
}

impl PingState {
    /// `unknown` | `up` | `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            PingState::Unknown => "unknown",
            PingState::Up => "up",
            PingState::Down => "down",
        }
    }
}

/// Consecutive failures that make a gateway Down.
const DOWN_AFTER: u32 = 2;

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Next ping at `due`.
    Wait { due: Instant },
    /// A ping is out; `answered` once any response came back.
    InFlight { tx: TxId, sent_at: Instant, answered: bool },
}

/// The pinger of one gateway.
#[derive(Debug)]
pub(crate) struct Health {
    interval: Duration,
    state: PingState,
    failures: u32,
    latency: Option<Duration>,
    call_id: String,
    tag: String,
    cseq: u32,
    phase: Phase,
    last_error: Option<String>,
}

/// The part of a gateway's configuration pings depend on: when it changes,
/// the pinger starts over.
pub(crate) fn same_identity(a: &GatewayConfig, b: &GatewayConfig) -> bool {
    (a.proxy, a.transport, &a.domain, a.ping_interval) == (b.proxy, b.transport, &b.domain, b.ping_interval)
}

impl Health {
    /// A pinger whose first ping is due at once.
    pub fn new(now: Instant, ep: &mut Endpoint, interval: Duration) -> Health {
        Health {
            interval: interval.max(Duration::from_secs(1)),
            state: PingState::Unknown,
            failures: 0,
            latency: None,
            call_id: ep.new_call_id(),
            tag: ep.new_tag(),
            cseq: 0,
            phase: Phase::Wait { due: now },
            last_error: None,
        }
    }

    pub fn state(&self) -> PingState {
        self.state
    }

    pub fn latency(&self) -> Option<Duration> {
        self.latency
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Wait { due } => Some(due),
            Phase::InFlight { .. } => None,
        }
    }

    /// The transaction of the ping in flight.
    pub fn in_flight(&self) -> Option<TxId> {
        match self.phase {
            Phase::InFlight { tx, .. } => Some(tx),
            Phase::Wait { .. } => None,
        }
    }

    /// Send the ping if it is due; returns its transaction.
    pub fn on_timeout(&mut self, now: Instant, ep: &mut Endpoint, cfg: &GatewayConfig, contact_host: &str, user_agent: &str) -> Option<TxId> {
        let Phase::Wait { due } = self.phase else { return None };
        if due > now {
            return None;
        }
        self.cseq = self.cseq.wrapping_add(1);
        let host = cfg.uri_host();
        let mut m = Message::request(Method::Options, &format!("sip:{host}"));
        m.push(HeaderName::MaxForwards, "70");
        m.push(HeaderName::From, &format!("<sip:ping@{contact_host}>;tag={}", self.tag));
        m.push(HeaderName::To, &format!("<sip:{host}>"));
        m.push(HeaderName::CallId, &self.call_id);
        m.push(HeaderName::CSeq, &format!("{} OPTIONS", self.cseq));
        m.push(HeaderName::Contact, &format!("<sip:ping@{contact_host}>"));
        m.push(HeaderName::Accept, "application/sdp");
        m.push(HeaderName::UserAgent, user_agent);
        match ep.send_request(now, m, cfg.peer()) {
            Ok(tx) => {
                self.phase = Phase::InFlight { tx, sent_at: now, answered: false };
                Some(tx)
            }
            Err(e) => {
                // Our own misuse of the endpoint; count it like a failed ping.
                self.fail(now, now, format!("OPTIONS not sent: {e}"));
                None
            }
        }
    }

    /// A response to the ping `tx`. Provisional responses already prove the
    /// carrier alive; the ping ends with the final one.
    pub fn on_response(&mut self, now: Instant, tx: TxId, code: u16) -> bool {
        let Phase::InFlight { tx: t, sent_at, answered } = self.phase else { return false };
        if t != tx {
            return false;
        }
        if !answered {
            self.latency = Some(now.saturating_duration_since(sent_at));
            self.state = PingState::Up;
            self.failures = 0;
            self.last_error = None;
        }
        self.phase = if code >= 200 {
            Phase::Wait { due: (sent_at + self.interval).max(now) }
        } else {
            Phase::InFlight { tx, sent_at, answered: true }
        };
        true
    }

    /// Timer F or a transport error for the ping `tx`.
    pub fn on_failure(&mut self, now: Instant, tx: TxId, what: &str) -> bool {
        let Phase::InFlight { tx: t, sent_at, answered } = self.phase else { return false };
        if t != tx {
            return false;
        }
        if answered {
            // A provisional came back, then nothing: the carrier is there.
            self.phase = Phase::Wait { due: (sent_at + self.interval).max(now) };
        } else {
            self.fail(now, sent_at, format!("OPTIONS {what}"));
        }
        true
    }

    fn fail(&mut self, now: Instant, sent_at: Instant, error: String) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= DOWN_AFTER {
            self.state = PingState::Down;
        }
        self.last_error = Some(error);
        self.phase = Phase::Wait { due: (sent_at + self.interval).max(now) };
    }
}
