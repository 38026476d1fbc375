//! The switch's own user agent: answers what reaches it that no other
//! service handles yet. OPTIONS gets 200 with our capabilities; requests
//! for dialogs we do not have get 481; known methods we do not serve get
//! 405 with Allow; unknown methods 501; unsupported Require 420; other URI
//! schemes 416 (RFC 3261 §8.2.1–§8.2.3, §11.2).

use runtime::Service;
use sip_msg::{HeaderName, Message, Method, Scheme};
use sip_proto::{Endpoint, Event, TxId};
use std::time::Instant;

/// Methods this build serves.
pub const ALLOW: &str = "OPTIONS, ACK, CANCEL";
/// Option tags this build supports (none yet).
pub const SUPPORTED: &[&str] = &[];

pub struct Switch {
    pub user_agent: String,
    /// Turn the service away (draining): new requests get 503.
    pub draining: bool,
}

impl Switch {
    pub fn new(user_agent: String) -> Switch {
        Switch { user_agent, draining: false }
    }

    fn reply(&self, now: Instant, ep: &mut Endpoint, tx: TxId, req: &Message, code: u16, reason: &str, extra: &[(HeaderName, &str)]) {
        let tag = ep.new_tag();
        let mut resp = Message::response_to(req, code, reason, Some(&tag));
        resp.push(HeaderName::Server, &self.user_agent);
        for (h, v) in extra {
            resp.push(*h, v);
        }
        if let Err(e) = ep.respond(now, tx, resp) {
            tracing::debug!(%tx, ?e, "could not respond");
        }
    }

    fn handle_request(&mut self, now: Instant, ep: &mut Endpoint, tx: TxId, req: Message) {
        let Some(method) = req.method().cloned() else { return };
        if self.draining {
            self.reply(now, ep, tx, &req, 503, "Service Unavailable", &[(HeaderName::RetryAfter, "30")]);
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
        match method {
            Method::Options if !in_dialog => {
                self.reply(
                    now,
                    ep,
                    tx,
                    &req,
                    200,
                    "OK",
                    &[(HeaderName::Allow, ALLOW), (HeaderName::Accept, "application/sdp"), (HeaderName::AcceptLanguage, "en")],
                );
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
}

/// Commands from the admin side.
pub enum Command {
    /// Start answering 503 to new requests.
    Drain,
}

impl Service for Switch {
    type Command = Command;

    fn on_event(&mut self, now: Instant, ep: &mut Endpoint, ev: Event) {
        match ev {
            Event::Request { tx, request, .. } => self.handle_request(now, ep, tx, request),
            Event::Cancelled { tx, .. } => {
                if let Some(req) = ep.server_request(tx).cloned() {
                    self.reply(now, ep, tx, &req, 487, "Request Terminated", &[]);
                }
            }
            _ => {}
        }
    }

    fn on_command(&mut self, _now: Instant, _ep: &mut Endpoint, cmd: Command) {
        match cmd {
            Command::Drain => self.draining = true,
        }
    }
}
