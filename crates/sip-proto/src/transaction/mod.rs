//! The four transaction state machines of RFC 3261 §17, with the RFC 6026
//! changes (the `Accepted` states of both INVITE machines).
//!
//! Each machine is its own type and owns only its state, its destination
//! and its deadlines. The endpoint feeds it messages and timeouts and it
//! writes transmissions and events into a [`Sink`]; it never reads a clock.

mod invite_client;
mod invite_server;
mod non_invite_client;
mod non_invite_server;

pub(crate) use invite_client::InviteClient;
pub(crate) use invite_server::InviteServer;
pub(crate) use non_invite_client::NonInviteClient;
pub(crate) use non_invite_server::NonInviteServer;

use crate::transport::Transmit;
use crate::Event;
use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// Identifies a transaction within one endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub(crate) u64);

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx{}", self.0)
    }
}

/// Where machines put what they produce.
pub(crate) struct Sink<'a> {
    pub transmits: &'a mut VecDeque<Transmit>,
    pub events: &'a mut VecDeque<Event>,
}

/// A one-shot deadline.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    pub fn set(&mut self, at: Instant) {
        self.0 = Some(at);
    }
    pub fn clear(&mut self) {
        self.0 = None;
    }
    /// Fire (and clear) if due.
    pub fn fire(&mut self, now: Instant) -> bool {
        match self.0 {
            Some(at) if at <= now => {
                self.0 = None;
                true
            }
            _ => false,
        }
    }
    pub fn get(&self) -> Option<Instant> {
        self.0
    }
}

/// A retransmission timer whose interval doubles, optionally up to a cap.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Backoff {
    at: Option<Instant>,
    interval: Duration,
}

impl Backoff {
    pub fn start(&mut self, now: Instant, interval: Duration) {
        self.interval = interval;
        self.at = Some(now + interval);
    }
    pub fn stop(&mut self) {
        self.at = None;
    }
    /// If due: rearm with the doubled interval (capped) and return true.
    pub fn fire(&mut self, now: Instant, cap: Option<Duration>) -> bool {
        match self.at {
            Some(at) if at <= now => {
                let next = self.interval * 2;
                self.interval = cap.map_or(next, |c| next.min(c));
                self.at = Some(at + self.interval);
                true
            }
            _ => false,
        }
    }
    /// Restart at a fixed interval (Timer E in Proceeding uses T2).
    pub fn set_interval(&mut self, now: Instant, interval: Duration) {
        if self.at.is_some() {
            self.interval = interval;
            self.at = Some(now + interval);
        }
    }
    pub fn get(&self) -> Option<Instant> {
        self.at
    }
}

/// Earliest of several optional deadlines.
pub(crate) fn earliest(ds: &[Option<Instant>]) -> Option<Instant> {
    ds.iter().flatten().min().copied()
}

/// Class of a status code.
pub(crate) fn is_provisional(code: u16) -> bool {
    (100..200).contains(&code)
}
pub(crate) fn is_success(code: u16) -> bool {
    (200..300).contains(&code)
}

#[cfg(test)]
mod tests;
