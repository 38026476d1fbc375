//! # sip-proto
//!
//! The sans-IO SIP endpoint of ferroswitch: the four transaction machines
//! of RFC 3261 §17 (with RFC 6026), their timers on an injected clock, the
//! demultiplexing of incoming messages (§17.1.3, §17.2.3 with the RFC 2543
//! fallback, CANCEL matching §9.2, merged-request detection §8.2.2.2),
//! response routing (§18.2.2, RFC 3581) and dialogs (§12).
//!
//! It owns no socket, task or clock. It does not decide whether a request
//! is accepted, challenged or refused: each new request is an
//! [`Event::Request`] for the application (registrar, B2BUA) to answer.
//!
//! ## The loop a driver runs
//!
//! ```text
//! loop {
//!     // 1. feed what happened
//!     on datagram/frame (source, bytes): endpoint.handle_input(now, source, bytes)
//!     on timer expiry:                    endpoint.handle_timeout(now)
//!     on application action:              endpoint.send_request / respond / cancel / send_ack
//!     // 2. drain what it produced
//!     while let Some(t) = endpoint.poll_transmit() { socket.send_to(t.data, t.dest) }
//!     while let Some(e) = endpoint.poll_event()    { application.handle(e) }
//!     // 3. sleep until the next deadline or input
//!     sleep_until(endpoint.poll_timeout())
//! }
//! ```
//!
//! `now` is a [`std::time::Instant`] supplied by the caller: tests drive it
//! from a virtual clock, so a 32-second Timer B expiry runs in microseconds.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dialog;
pub mod digest;
mod endpoint;
mod timers;
mod transaction;
mod transport;

pub use dialog::{Dialog, DialogError, DialogState};
pub use endpoint::{response_destination, Endpoint, Stats};
pub use timers::TimerConfig;
pub use transaction::TxId;
pub use transport::{ConnId, Peer, Transmit, Transport};

use sip_msg::Message;

/// What the endpoint tells the application.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A new request (not ACK, not a retransmission): answer it with
    /// [`Endpoint::respond`] on `tx`.
    Request {
        /// Its server transaction.
        tx: TxId,
        /// The request, top Via stamped with received/rport.
        request: Message,
        /// Where it came from.
        source: Peer,
    },
    /// An ACK that is not part of a transaction: the ACK of a 2xx.
    Ack {
        /// The ACK.
        request: Message,
        /// Where it came from.
        source: Peer,
        /// The INVITE server transaction it acknowledges, if still known.
        tx: Option<TxId>,
    },
    /// A CANCEL matched a pending INVITE server transaction; the endpoint
    /// answered the CANCEL with 200. Answer the INVITE `tx` with 487.
    Cancelled {
        /// The INVITE's server transaction.
        tx: TxId,
        /// The CANCEL request.
        cancel: Message,
        /// Where it came from.
        source: Peer,
    },
    /// A response on a client transaction (retransmissions filtered out,
    /// except 2xx to INVITE which the TU must ACK each time).
    Response {
        /// The client transaction.
        tx: TxId,
        /// The response.
        response: Message,
    },
    /// A 2xx to an INVITE whose client transaction is gone: ACK it again.
    StrayResponse {
        /// The response.
        response: Message,
        /// Where it came from.
        source: Peer,
    },
    /// No final response in time (Timer B or F): treat as 408.
    Timeout {
        /// The client transaction.
        tx: TxId,
    },
    /// A 2xx was sent but no ACK came within 64·T1 (§13.3.1.4): end the dialog.
    AckTimeout {
        /// The INVITE server transaction.
        tx: TxId,
    },
    /// The transport failed for this transaction (§17.1.4, §17.2.4).
    TransportError {
        /// The transaction.
        tx: TxId,
    },
}

/// Endpoint settings.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// T1, T2, T4.
    pub timers: TimerConfig,
    /// `host:port` written in Via sent-by, per transport.
    pub sent_by: Vec<(Transport, String)>,
    /// Send 100 Trying as soon as an INVITE arrives.
    pub auto_trying: bool,
    /// Bound on live transactions; beyond it new requests get 503
    /// (in-dialog requests and CANCEL, which finish admitted work, may go
    /// a quarter beyond it).
    pub max_transactions: usize,
    /// Seed for branches, tags and Call-IDs (the driver passes a random one).
    pub seed: u64,
    /// Agent named in Warning headers of stateless 400s.
    pub warning_agent: String,
    /// Load shedding: once the driver has reported its datagram receive
    /// queue non-empty for this long without a break
    /// ([`crate::Endpoint::note_receive_queue`]), new work is refused with a
    /// stateless 503 and Retry-After until the queue is found empty again.
    /// New work is an out-of-dialog request without credentials: the first
    /// INVITE or REGISTER of an attempt. In-dialog requests, ACK, CANCEL,
    /// responses and requests answering a challenge go on, so calls already
    /// admitted finish. `None`: never shed.
    pub overload_after: Option<std::time::Duration>,
    /// While shedding, one new request is still admitted this often, so
    /// an overload so deep that answering 503 alone keeps the queue full
    /// (the switch refuses all it can and still falls behind) does not
    /// lock every new caller out until it ends: the calls admitted so keep
    /// going (their requests answering a challenge are not new work).
    /// `None`: shed every new request.
    pub shed_admit_every: Option<std::time::Duration>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            timers: TimerConfig::default(),
            sent_by: vec![],
            auto_trying: true,
            max_transactions: 200_000,
            seed: 0x5eed_f00d,
            warning_agent: "ferroswitch".into(),
            overload_after: Some(std::time::Duration::from_millis(200)),
            shed_admit_every: Some(std::time::Duration::from_millis(50)),
        }
    }
}

impl EndpointConfig {
    /// The sent-by for a transport (first configured one as a fallback).
    pub fn sent_by(&self, t: Transport) -> String {
        self.sent_by
            .iter()
            .find(|(tr, _)| *tr == t)
            .or_else(|| self.sent_by.first())
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| "127.0.0.1:5060".into())
    }
}

/// Misuse of the endpoint API (our fault, never the peer's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtoError {
    /// No such live transaction.
    UnknownTransaction,
    /// The transaction's state does not allow this (e.g. a second final response).
    WrongState,
    /// A response was expected.
    NotAResponse,
    /// A request was expected.
    NotARequest,
    /// The transaction is a client transaction.
    NotAServerTransaction,
    /// ACK is sent with [`Endpoint::send_ack`], not as a transaction.
    AckIsNotATransaction,
}

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for ProtoError {}
