//! INVITE client transaction (RFC 3261 §17.1.1, Figure 5, as changed by
//! RFC 6026 §7.2).
//!
//! ```text
//!                                |INVITE from TU
//!              Timer A fires     |INVITE sent
//!              Reset A,          V                      Timer B fires
//!              INVITE sent +-----------+                or Transport Err.
//!                +---------|           |---------------+inform TU
//!                |         |  Calling  |               |
//!                +-------->|           |-------------->|
//!                          +-----------+ 2xx           |
//!                             |  |       2xx to TU     |
//!                             |  |1xx                  |
//!     300-699 +---------------+  |1xx to TU            |
//!    ACK sent |                  |                     |
//! resp. to TU |  1xx             V                     |
//!             |  1xx to TU  -----------+               |
//!             |  +---------|           |               |
//!             |  |         |Proceeding |-------------->|
//!             |  +-------->|           | 2xx           |
//!             |            +-----------+ 2xx to TU     |
//!             |       300-699    |                     |
//!             |       ACK sent,  |                     |
//!             |       resp. to TU|                     |
//!             |                  |                     |
//!             |                  V                     |
//!             |            +-----------+               |
//!             |            |           |               |
//!             +----------->| Completed |               |
//!                          |           |               |
//!                          +-----------+               |
//!                           ^   |    |                 |
//!                           |   |    | Timer D fires   |
//!                           +---+    | -               |
//!                 300-699            |                 |
//!                 ACK sent           V                 |
//!                          +-----------+  2xx          |
//!            (RFC 6026)    |  Accepted | <-------------+
//!            2xx to TU  +--|           |
//!                       +->+-----------+--Timer M--> Terminated
//! ```

use super::{earliest, is_provisional, is_success, Backoff, Deadline, Sink, TxId};
use crate::timers::TimerConfig;
use crate::transport::{Peer, Transmit};
use crate::Event;
use bytes::Bytes;
use sip_msg::{HeaderName, Message, Method};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Calling,
    Proceeding,
    Completed,
    Accepted,
    Terminated,
}

pub(crate) struct InviteClient {
    id: TxId,
    pub(crate) dest: Peer,
    /// The INVITE, for the CANCEL and the ACK of a non-2xx; released at the
    /// final response (the transaction then lingers 32 s for
    /// retransmissions and needs neither).
    pub(crate) request: Option<Message>,
    /// Its bytes, for Timer A; released with it.
    encoded: Option<Bytes>,
    pub(crate) state: State,
    timer_a: Backoff,
    timer_b: Deadline,
    timer_d: Deadline,
    timer_m: Deadline,
    ack: Option<Bytes>,
}

impl InviteClient {
    pub fn start(id: TxId, now: Instant, cfg: &TimerConfig, dest: Peer, request: Message, sink: &mut Sink<'_>) -> Self {
        let encoded = request.to_bytes();
        sink.transmits.push_back(Transmit { dest, data: encoded.clone() });
        let mut tx = InviteClient {
            id,
            dest,
            request: Some(request),
            encoded: Some(encoded),
            state: State::Calling,
            timer_a: Backoff::default(),
            timer_b: Deadline::default(),
            timer_d: Deadline::default(),
            timer_m: Deadline::default(),
            ack: None,
        };
        if !dest.transport.is_reliable() {
            tx.timer_a.start(now, cfg.t1);
        }
        tx.timer_b.set(now + cfg.t1x64());
        tx
    }

    /// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3).
    fn build_ack(&self, response: &Message) -> Option<Message> {
        let req = self.request.as_ref()?;
        let mut ack = Message::request(Method::Ack, req.request_uri_str().unwrap_or("sip:invalid"));
        if let Some(v) = req.values(HeaderName::Via).next() {
            ack.push(HeaderName::Via, v);
        }
        for r in req.get_all(HeaderName::Route) {
            ack.push(HeaderName::Route, r);
        }
        ack.push(HeaderName::MaxForwards, "70");
        if let Some(f) = req.get(HeaderName::From) {
            ack.push(HeaderName::From, f);
        }
        if let Some(t) = response.get(HeaderName::To) {
            ack.push(HeaderName::To, t);
        }
        if let Some(c) = req.get(HeaderName::CallId) {
            ack.push(HeaderName::CallId, c);
        }
        let seq = req.cseq().map(|c| c.seq).unwrap_or(1);
        ack.push(HeaderName::CSeq, &format!("{seq} ACK"));
        Some(ack)
    }

    /// A final response came: only the ACK (non-2xx) and the timers are
    /// needed from now on.
    fn release(&mut self) {
        self.request = None;
        self.encoded = None;
    }

    pub fn on_response(&mut self, now: Instant, cfg: &TimerConfig, response: Message, sink: &mut Sink<'_>) {
        let Some(code) = response.status() else { return };
        match self.state {
            State::Calling | State::Proceeding => {
                if is_provisional(code) {
                    self.state = State::Proceeding;
                    self.timer_a.stop();
                    self.timer_b.clear();
                    sink.events.push_back(Event::Response { tx: self.id, response });
                } else if is_success(code) {
                    self.state = State::Accepted;
                    self.timer_a.stop();
                    self.timer_b.clear();
                    self.timer_m.set(now + cfg.t1x64());
                    self.release();
                    sink.events.push_back(Event::Response { tx: self.id, response });
                } else {
                    if let Some(ack) = self.build_ack(&response).map(|a| a.to_bytes()) {
                        sink.transmits.push_back(Transmit { dest: self.dest, data: ack.clone() });
                        self.ack = Some(ack);
                    }
                    self.release();
                    self.state = State::Completed;
                    self.timer_a.stop();
                    self.timer_b.clear();
                    self.timer_d.set(now + cfg.timer_d(self.dest.transport.is_reliable()));
                    sink.events.push_back(Event::Response { tx: self.id, response });
                }
            }
            State::Completed => {
                if code >= 300 {
                    if let Some(ack) = &self.ack {
                        sink.transmits.push_back(Transmit { dest: self.dest, data: ack.clone() });
                    }
                }
            }
            State::Accepted => {
                if is_success(code) {
                    // Retransmitted or forked 2xx: the TU acknowledges each.
                    sink.events.push_back(Event::Response { tx: self.id, response });
                }
            }
            State::Terminated => {}
        }
    }

    pub fn on_timeout(&mut self, now: Instant, cfg: &TimerConfig, sink: &mut Sink<'_>) {
        if self.state == State::Calling && self.timer_a.fire(now, None) {
            if let Some(data) = &self.encoded {
                sink.transmits.push_back(Transmit { dest: self.dest, data: data.clone() });
            }
        }
        if self.timer_b.fire(now) && self.state == State::Calling {
            self.timer_a.stop();
            self.state = State::Terminated;
            sink.events.push_back(Event::Timeout { tx: self.id });
        }
        if self.timer_d.fire(now) || self.timer_m.fire(now) {
            self.state = State::Terminated;
        }
        let _ = cfg;
    }

    pub fn transport_error(&mut self, sink: &mut Sink<'_>) {
        if matches!(self.state, State::Calling | State::Proceeding) {
            sink.events.push_back(Event::TransportError { tx: self.id });
        }
        self.state = State::Terminated;
    }

    pub fn deadline(&self) -> Option<Instant> {
        earliest(&[self.timer_a.get(), self.timer_b.get(), self.timer_d.get(), self.timer_m.get()])
    }

    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// May a CANCEL be sent (RFC 3261 §9.1: only after a provisional response)?
    pub fn is_proceeding(&self) -> bool {
        self.state == State::Proceeding
    }
}
