//! Non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).
//!
//! ```text
//!                                   |Request received
//!                                   |pass to TU
//!                                   V
//!                             +-----------+
//!                             |           |
//!                             | Trying    |-------------+
//!                             |           |             |
//!                             +-----------+             |200-699 from TU
//!                                   |                   |send response
//!                                   |1xx from TU        |
//!                                   |send response      |
//!                                   |                   |
//!                Request            V      1xx from TU  |
//!                send response+-----------+send response|
//!                    +--------|           |--------+    |
//!                    |        | Proceeding|        |    |
//!                    +------->|           |<-------+    |
//!             +<--------------|           |             |
//!             |Trnsprt Err    +-----------+             |
//!             |Inform TU            |                   |
//!             |                     |                   |
//!             |                     |200-699 from TU    |
//!             |                     |send response      |
//!             |  Request            V                   |
//!             |  send response+-----------+             |
//!             |      +--------|           |             |
//!             |      |        | Completed |<------------+
//!             |      +------->|           |
//!             +<--------------|           |
//!             |Trnsprt Err    +-----------+
//!             |Inform TU            |
//!             |                     |Timer J fires
//!             |                     |-
//!             |                     |
//!             |                     V
//!             |               +-----------+
//!             |               |           |
//!             +-------------->| Terminated|
//!                             |           |
//!                             +-----------+
//! ```

use super::{is_provisional, Deadline, Sink};
use crate::timers::TimerConfig;
use crate::transport::{Peer, Transmit};
use bytes::Bytes;
use sip_msg::Message;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

pub(crate) struct NonInviteServer {
    pub(crate) state: State,
    pub(crate) response_dest: Peer,
    last_response: Option<Bytes>,
    timer_j: Deadline,
}

impl NonInviteServer {
    pub fn new(response_dest: Peer) -> Self {
        NonInviteServer { state: State::Trying, response_dest, last_response: None, timer_j: Deadline::default() }
    }

    pub fn respond(&mut self, now: Instant, cfg: &TimerConfig, response: &Message, sink: &mut Sink<'_>) -> bool {
        let Some(code) = response.status() else { return false };
        if !matches!(self.state, State::Trying | State::Proceeding) {
            return false;
        }
        let data = response.to_bytes();
        sink.transmits.push_back(Transmit { dest: self.response_dest, data: data.clone() });
        self.last_response = Some(data);
        if is_provisional(code) {
            self.state = State::Proceeding;
        } else {
            self.state = State::Completed;
            self.timer_j.set(now + cfg.timer_j(self.response_dest.transport.is_reliable()));
        }
        true
    }

    pub fn on_retransmission(&mut self, sink: &mut Sink<'_>) {
        if matches!(self.state, State::Proceeding | State::Completed) {
            if let Some(r) = &self.last_response {
                sink.transmits.push_back(Transmit { dest: self.response_dest, data: r.clone() });
            }
        }
    }

    pub fn on_timeout(&mut self, now: Instant) {
        if self.timer_j.fire(now) {
            self.state = State::Terminated;
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.timer_j.get()
    }

    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }
}
