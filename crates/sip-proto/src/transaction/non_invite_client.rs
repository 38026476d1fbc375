//! Non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).
//!
//! ```text
//!                                |Request from TU
//!                                |send request
//!            Timer E             V
//!            send request  +-----------+
//!                +---------|           |-------------------+
//!                |         |  Trying   |  Timer F          |
//!                +-------->|           |  or Transport Err.|
//!                          +-----------+  inform TU        |
//!             200-699         |  |                         |
//!             resp. to TU     |  |1xx                      |
//!             +---------------+  |resp. to TU              |
//!             |                  |                         |
//!             |   Timer E        V       Timer F           |
//!             |   send req +-----------+ or Transport Err. |
//!             |  +---------|           | inform TU         |
//!             |  |         |Proceeding |------------------>|
//!             |  +-------->|           |-----+             |
//!             |            +-----------+     |1xx          |
//!             |              |      ^        |resp to TU   |
//!             | 200-699      |      +--------+             |
//!             | resp. to TU  |                             |
//!             |              |                             |
//!             |              V                             |
//!             |            +-----------+                   |
//!             |            |           |                   |
//!             |            | Completed |                   |
//!             |            |           |                   |
//!             |            +-----------+                   |
//!             |              ^   |                         |
//!             |              |   | Timer K                 |
//!             +--------------+   | -                       |
//!                                |                         |
//!                                V                         |
//!          NOTE:           +-----------+                   |
//!                          |           |                   |
//!      transitions         | Terminated|<------------------+
//!      labeled with        |           |
//!      the event           +-----------+
//!      over the action
//!      to take
//! ```

use super::{earliest, is_provisional, Backoff, Deadline, Sink, TxId};
use crate::timers::TimerConfig;
use crate::transport::{Peer, Transmit};
use crate::Event;
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

pub(crate) struct NonInviteClient {
    id: TxId,
    pub(crate) dest: Peer,
    encoded: Bytes,
    pub(crate) state: State,
    timer_e: Backoff,
    timer_f: Deadline,
    timer_k: Deadline,
}

impl NonInviteClient {
    pub fn start(id: TxId, now: Instant, cfg: &TimerConfig, dest: Peer, request: &Message, sink: &mut Sink<'_>) -> Self {
        let encoded = request.to_bytes();
        sink.transmits.push_back(Transmit { dest, data: encoded.clone() });
        let mut tx = NonInviteClient {
            id,
            dest,
            encoded,
            state: State::Trying,
            timer_e: Backoff::default(),
            timer_f: Deadline::default(),
            timer_k: Deadline::default(),
        };
        if !dest.transport.is_reliable() {
            tx.timer_e.start(now, cfg.t1);
        }
        tx.timer_f.set(now + cfg.t1x64());
        tx
    }

    pub fn on_response(&mut self, now: Instant, cfg: &TimerConfig, response: Message, sink: &mut Sink<'_>) {
        let Some(code) = response.status() else { return };
        match self.state {
            State::Trying | State::Proceeding => {
                if is_provisional(code) {
                    if self.state == State::Trying {
                        // §17.1.2.2: in Proceeding, Timer E fires every T2.
                        self.timer_e.set_interval(now, cfg.t2);
                    }
                    self.state = State::Proceeding;
                } else {
                    self.state = State::Completed;
                    self.timer_e.stop();
                    self.timer_f.clear();
                    self.timer_k.set(now + cfg.t4_or_zero(self.dest.transport.is_reliable()));
                }
                sink.events.push_back(Event::Response { tx: self.id, response });
            }
            State::Completed | State::Terminated => {}
        }
    }

    pub fn on_timeout(&mut self, now: Instant, cfg: &TimerConfig, sink: &mut Sink<'_>) {
        if matches!(self.state, State::Trying | State::Proceeding) {
            if self.timer_e.fire(now, Some(cfg.t2)) {
                sink.transmits.push_back(Transmit { dest: self.dest, data: self.encoded.clone() });
            }
            if self.timer_f.fire(now) {
                self.timer_e.stop();
                self.state = State::Terminated;
                sink.events.push_back(Event::Timeout { tx: self.id });
            }
        }
        if self.timer_k.fire(now) {
            self.state = State::Terminated;
        }
    }

    pub fn transport_error(&mut self, sink: &mut Sink<'_>) {
        if matches!(self.state, State::Trying | State::Proceeding) {
            sink.events.push_back(Event::TransportError { tx: self.id });
        }
        self.state = State::Terminated;
    }

    pub fn deadline(&self) -> Option<Instant> {
        earliest(&[self.timer_e.get(), self.timer_f.get(), self.timer_k.get()])
    }

    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }
}
