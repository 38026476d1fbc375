//! Dialog state (RFC 3261 §12) for the UAC and UAS sides: identifiers,
//! route set, remote target, CSeq spaces, and building in-dialog requests
//! (§12.2.1.1, loose and strict routing).

use sip_msg::{HeaderName, Message, Method, NameAddr, ParseError};
use std::fmt;

/// Early (after a tagged 1xx) or confirmed (after a 2xx).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response with a To tag.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
}

/// Why a message could not create or update a dialog. The peer is at fault;
/// [`DialogError::status`] is what to answer a request with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialogError {
    /// A header the dialog needs is malformed or missing.
    Parse(ParseError),
    /// No Contact in a dialog-creating message (§12.1.1, §12.1.2).
    NoContact,
    /// The response has no To tag.
    NoRemoteTag,
    /// A request's CSeq is lower than the last one (§12.2.2: 500).
    CSeqOutOfOrder,
}

impl DialogError {
    /// Status to answer an offending request with.
    pub fn status(&self) -> u16 {
        match self {
            DialogError::CSeqOutOfOrder => 500,
            _ => 400,
        }
    }
}

impl From<ParseError> for DialogError {
    fn from(e: ParseError) -> Self {
        DialogError::Parse(e)
    }
}

impl fmt::Display for DialogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialogError::Parse(e) => write!(f, "{e}"),
            DialogError::NoContact => f.write_str("no Contact"),
            DialogError::NoRemoteTag => f.write_str("no To tag"),
            DialogError::CSeqOutOfOrder => f.write_str("CSeq lower than the last one"),
        }
    }
}

impl std::error::Error for DialogError {}

/// One dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// Their tag.
    pub remote_tag: String,
    /// Our From/To header value (with our tag).
    pub local: String,
    /// Their From/To header value (with their tag).
    pub remote: String,
    /// Last CSeq we used.
    pub local_seq: u32,
    /// Last CSeq they used.
    pub remote_seq: Option<u32>,
    /// Where in-dialog requests go (their Contact URI).
    pub remote_target: String,
    /// Route set, in the order requests carry it.
    pub route_set: Vec<String>,
    /// Was the dialog created over sips (§12.1.1)?
    pub secure: bool,
    /// Early or confirmed.
    pub state: DialogState,
}

fn contact_uri(msg: &Message) -> Result<String, DialogError> {
    match msg.contacts().next() {
        Some(Ok(Some(c))) => Ok(c.uri().as_str().to_owned()),
        Some(Err(e)) => Err(e.into()),
        _ => Err(DialogError::NoContact),
    }
}

fn route_values(msg: &Message) -> Result<Vec<String>, DialogError> {
    msg.record_routes().map(|r| r.map(|n| n.uri().as_str().to_owned()).map_err(DialogError::from)).collect()
}

impl Dialog {
    /// The UAC side, from the request we sent and a response carrying a To
    /// tag (a 1xx makes an early dialog, a 2xx a confirmed one; §12.1.2).
    pub fn from_uac(request: &Message, response: &Message) -> Result<Dialog, DialogError> {
        let to = response.to()?;
        let remote_tag = to.tag().ok_or(DialogError::NoRemoteTag)?.to_owned();
        let from = request.from()?;
        let mut route_set = route_values(response)?;
        route_set.reverse();
        let code = response.status().unwrap_or(0);
        Ok(Dialog {
            call_id: request.call_id()?.to_owned(),
            local_tag: from.tag().unwrap_or("").to_owned(),
            remote_tag,
            local: request.get(HeaderName::From).unwrap_or("").to_owned(),
            remote: response.get(HeaderName::To).unwrap_or("").to_owned(),
            local_seq: request.cseq()?.seq,
            remote_seq: None,
            remote_target: contact_uri(response)?,
            route_set,
            secure: request.request_uri().is_some_and(|u| u.scheme() == sip_msg::Scheme::Sips),
            state: if (200..300).contains(&code) { DialogState::Confirmed } else { DialogState::Early },
        })
    }

    /// The UAS side, from the request and the tag we put in our To (§12.1.1).
    pub fn from_uas(request: &Message, local_tag: &str, confirmed: bool) -> Result<Dialog, DialogError> {
        let from = request.from()?;
        let to_value = request.get(HeaderName::To).unwrap_or("");
        let local = if NameAddr::parse(to_value).map(|n| n.tag().is_some()).unwrap_or(false) {
            to_value.to_owned()
        } else {
            format!("{to_value};tag={local_tag}")
        };
        Ok(Dialog {
            call_id: request.call_id()?.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: from.tag().unwrap_or("").to_owned(),
            local,
            remote: request.get(HeaderName::From).unwrap_or("").to_owned(),
            local_seq: 0,
            remote_seq: Some(request.cseq()?.seq),
            remote_target: contact_uri(request)?,
            route_set: route_values(request)?,
            secure: request.request_uri().is_some_and(|u| u.scheme() == sip_msg::Scheme::Sips),
            state: if confirmed { DialogState::Confirmed } else { DialogState::Early },
        })
    }

    /// Does an incoming request belong to this dialog (§12.2.2)?
    pub fn matches_request(&self, req: &Message) -> bool {
        req.call_id().is_ok_and(|c| c == self.call_id)
            && req.to().ok().and_then(|t| t.tag().map(|t| t == self.local_tag)).unwrap_or(false)
            && req.from().ok().and_then(|f| f.tag().map(|t| t == self.remote_tag)).unwrap_or(false)
    }

    /// Build an in-dialog request (§12.2.1.1). CSeq is incremented.
    pub fn request(&mut self, method: Method) -> Message {
        self.local_seq = self.local_seq.wrapping_add(1) & 0x7fff_ffff;
        let seq = self.local_seq;
        self.build(method, seq)
    }

    /// The ACK of a 2xx to the INVITE with CSeq `invite_seq` (§13.2.2.4).
    pub fn ack(&self, invite_seq: u32) -> Message {
        self.build(Method::Ack, invite_seq)
    }

    fn build(&self, method: Method, seq: u32) -> Message {
        let strict = self.route_set.first().is_some_and(|r| sip_msg::Uri::parse(r).map(|u| !u.is_loose_route()).unwrap_or(false));
        let (ruri, routes): (&str, Vec<&str>) = if self.route_set.is_empty() {
            (&self.remote_target, vec![])
        } else if strict {
            // Strict router (§12.2.1.1): its URI becomes the Request-URI and
            // the remote target goes last in Route.
            let mut r: Vec<&str> = self.route_set[1..].iter().map(String::as_str).collect();
            r.push(&self.remote_target);
            (&self.route_set[0], r)
        } else {
            (&self.remote_target, self.route_set.iter().map(String::as_str).collect())
        };
        let mut m = Message::request(method.clone(), ruri);
        for r in routes {
            m.push(HeaderName::Route, &format!("<{r}>"));
        }
        m.push(HeaderName::MaxForwards, "70");
        m.push(HeaderName::From, &self.local);
        m.push(HeaderName::To, &self.remote);
        m.push(HeaderName::CallId, &self.call_id);
        m.push(HeaderName::CSeq, &format!("{seq} {method}"));
        m
    }

    /// The URI of the next hop for in-dialog requests: first Route, else the target.
    pub fn next_hop(&self) -> &str {
        self.route_set.first().unwrap_or(&self.remote_target)
    }

    /// Process an in-dialog request from the peer (§12.2.2): CSeq order and
    /// target refresh (re-INVITE, UPDATE with Contact).
    pub fn on_request(&mut self, req: &Message) -> Result<(), DialogError> {
        let cseq = req.cseq()?;
        let m = req.method().cloned().unwrap_or(Method::Ack);
        if !matches!(m, Method::Ack | Method::Cancel) {
            if let Some(last) = self.remote_seq {
                if cseq.seq <= last {
                    return Err(DialogError::CSeqOutOfOrder);
                }
            }
            self.remote_seq = Some(cseq.seq);
        }
        if matches!(m, Method::Invite | Method::Update) {
            if let Ok(target) = contact_uri(req) {
                self.remote_target = target;
            }
        }
        Ok(())
    }

    /// Process a response to one of our in-dialog requests: a 2xx to a
    /// target refresh updates the remote target and confirms an early dialog.
    pub fn on_response(&mut self, method: &Method, resp: &Message) {
        let code = resp.status().unwrap_or(0);
        if (200..300).contains(&code) {
            if matches!(method, Method::Invite | Method::Update) {
                if let Ok(target) = contact_uri(resp) {
                    self.remote_target = target;
                }
            }
            if *method == Method::Invite {
                self.state = DialogState::Confirmed;
            }
        }
    }
}

#[cfg(test)]
mod tests;
