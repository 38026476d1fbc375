//! INVITE server transaction (RFC 3261 §17.2.1, Figure 7, as changed by
//! RFC 6026 §7.1).
//!
//! ```text
//!                                |INVITE
//!                                |pass INV to TU
//!             INVITE             V send 100 if TU won't in 200 ms
//!             send response+-----------+
//!                 +--------|           |--------+ 101-199 from TU
//!                 |        |           |        | send response
//!                 +------->|           |<-------+
//!                          | Proceeding|
//!                          |           |--------+ Transport Err.
//!                          |           |        | Inform TU
//!                          |           |<-------+
//!                          +-----------+
//!             300-699 from TU |    |2xx from TU
//!             send response   |    |send response
//!              +--------------+    +------------+
//!              |                                |
//!     INVITE   V          Timer G fires         |
//!     send     +-----------+ send response      V
//!     response |           |--------+     +-----------+  2xx from TU
//!       +------|           |        |     |           |  send response
//!       |      | Completed |<-------+     |  Accepted |------+
//!       +----->|           |              |           |      |
//!              |           |              |           |<-----+
//!              +-----------+              +-----------+
//!                 |      |   ACK               ^   |    Timer L fires
//!                 |      |   -                 |   |    -
//!   Timer H fires |      V                  ACK|   V
//!   -             | +-----------+  to TU   -----  +------------+
//!   Inform TU     | |           |                 | Terminated |
//!                 | | Confirmed |                 +------------+
//!                 | +-----------+
//!                 |      | Timer I fires
//!                 V      V
//!              Terminated
//! ```
//!
//! ferroswitch sends 100 Trying at once (it is a B2BUA: its final answer
//! depends on another leg): the endpoint owes it to every new INVITE and
//! sends it with its next output, unless the TU has answered by then (a
//! 407 challenge, a 404), in which case no 100 precedes that answer. In `Accepted` this machine also performs the
//! UAS core's 2xx retransmission (§13.3.1.4: T1 doubling up to T2) until the
//! endpoint matches the ACK to it, and reports [`Event::AckTimeout`] if no
//! ACK came within 64·T1.

use super::{earliest, is_provisional, is_success, Backoff, Deadline, Sink, TxId};
use crate::timers::TimerConfig;
use crate::transport::{Peer, Transmit};
use crate::Event;
use bytes::Bytes;
use sip_msg::Message;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

pub(crate) struct InviteServer {
    id: TxId,
    pub(crate) state: State,
    last_response: Option<Bytes>,
    /// Where responses go (§18.2.2).
    pub(crate) response_dest: Peer,
    timer_g: Backoff,
    timer_h: Deadline,
    timer_i: Deadline,
    timer_l: Deadline,
    acked: bool,
}

impl InviteServer {
    pub fn new(id: TxId, response_dest: Peer) -> Self {
        InviteServer {
            id,
            state: State::Proceeding,
            last_response: None,
            response_dest,
            timer_g: Backoff::default(),
            timer_h: Deadline::default(),
            timer_i: Deadline::default(),
            timer_l: Deadline::default(),
            acked: false,
        }
    }

    /// Has any response (a 100 included) been sent?
    pub fn answered(&self) -> bool {
        self.last_response.is_some()
    }

    fn send(&mut self, data: Bytes, sink: &mut Sink<'_>) {
        sink.transmits.push_back(Transmit { dest: self.response_dest, data: data.clone() });
        self.last_response = Some(data);
    }

    /// A response from the TU. Returns false if the state does not allow it.
    pub fn respond(&mut self, now: Instant, cfg: &TimerConfig, response: &Message, sink: &mut Sink<'_>) -> bool {
        let Some(code) = response.status() else { return false };
        let unreliable = !self.response_dest.transport.is_reliable();
        match self.state {
            State::Proceeding => {
                self.send(response.to_bytes(), sink);
                if is_provisional(code) {
                    // stay
                } else if is_success(code) {
                    self.state = State::Accepted;
                    self.timer_l.set(now + cfg.t1x64());
                    if unreliable {
                        self.timer_g.start(now, cfg.t1);
                    }
                } else {
                    self.state = State::Completed;
                    if unreliable {
                        self.timer_g.start(now, cfg.t1);
                    }
                    self.timer_h.set(now + cfg.t1x64());
                }
                true
            }
            State::Accepted if is_success(code) => {
                // RFC 6026: further 2xx from the TU are sent.
                self.send(response.to_bytes(), sink);
                true
            }
            _ => false,
        }
    }

    /// A retransmission of the INVITE.
    pub fn on_retransmission(&mut self, sink: &mut Sink<'_>) {
        if matches!(self.state, State::Proceeding | State::Completed) {
            if let Some(r) = &self.last_response {
                sink.transmits.push_back(Transmit { dest: self.response_dest, data: r.clone() });
            }
        }
    }

    /// An ACK matched by branch: the ACK of a non-2xx final response.
    pub fn on_ack(&mut self, now: Instant, cfg: &TimerConfig) {
        if self.state == State::Completed {
            self.state = State::Confirmed;
            self.timer_g.stop();
            self.timer_h.clear();
            self.timer_i.set(now + cfg.t4_or_zero(self.response_dest.transport.is_reliable()));
        }
    }

    /// The ACK of a 2xx arrived (matched by dialog): stop retransmitting.
    pub fn on_2xx_ack(&mut self) {
        if self.state == State::Accepted {
            self.acked = true;
            self.timer_g.stop();
        }
    }

    pub fn on_timeout(&mut self, now: Instant, cfg: &TimerConfig, sink: &mut Sink<'_>) {
        if matches!(self.state, State::Completed | State::Accepted) && self.timer_g.fire(now, Some(cfg.t2)) {
            if let Some(r) = &self.last_response {
                sink.transmits.push_back(Transmit { dest: self.response_dest, data: r.clone() });
            }
        }
        if self.timer_h.fire(now) && self.state == State::Completed {
            self.timer_g.stop();
            self.state = State::Terminated;
        }
        if self.timer_i.fire(now) && self.state == State::Confirmed {
            self.state = State::Terminated;
        }
        if self.timer_l.fire(now) && self.state == State::Accepted {
            self.timer_g.stop();
            self.state = State::Terminated;
            if !self.acked {
                sink.events.push_back(Event::AckTimeout { tx: self.id });
            }
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        earliest(&[self.timer_g.get(), self.timer_h.get(), self.timer_i.get(), self.timer_l.get()])
    }

    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// Has a 2xx been sent (RFC 6026 Accepted)?
    pub fn is_accepted(&self) -> bool {
        self.state == State::Accepted
    }

    /// Can a CANCEL still stop it (no final response yet)?
    pub fn is_proceeding(&self) -> bool {
        self.state == State::Proceeding
    }
}
