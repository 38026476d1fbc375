//! Parked calls: the switch answers the caller itself and holds it (a
//! queue member hearing music) while agent legs are tried one after
//! another with [`B2bua::dial_agent`]. The first agent leg to answer is
//! bridged ([`CallEvent::Bridged`]); a failed one is reported
//! ([`CallEvent::AgentFailed`]) and the caller stays.
//!
//! Media is always relayed: our answer to the caller names the relay port
//! facing it with a single G.711 codec chosen from its offer, and every
//! agent is offered that same description on the port facing B, so a
//! bridge never needs transcoding.

use super::*;
use sdp::{answer, CodecPreference, LocalCapabilities};


impl B2bua {
    /// Answer an authenticated INVITE ourselves and hold the caller: 200
    /// with our SDP (the caller's preferred G.711 codec), then
    /// [`CallEvent::Created`] and [`CallEvent::Answered`]. Errors: no media
    /// ports, or nothing in the offer we can take (the driver answers 503
    /// or 488; nothing was sent).
    #[allow(clippy::too_many_arguments)]
    pub fn park(&mut self, now: Instant, ep: &mut Endpoint, media: &mut dyn Media, tx: TxId, req: Message, source: Peer, caller: &str, caller_display: Option<&str>, callee: &str, id: String) -> Result<String, StartError> {
        if !is_sdp(&req) {
            // A late offer would need our offer in the 200; callers that
            // reach queues (phones, carriers) send early offers.
            return Err(StartError::NoCommonMedia);
        }
        let offer = sdp::Session::parse_bytes(req.body()).map_err(|_| StartError::NoCommonMedia)?;
        let ports = media.open(&id).ok_or(StartError::NoMediaPorts)?;
        self.seq += 1;
        let Some((ours, transcode)) = self.answer_caller(&offer, ports, self.seq) else {
            media.close(&id);
            return Err(StartError::NoCommonMedia);
        };
        if let Some(addr) = sdp_rewrite::audio_addr(req.body()) {
            media.set_peer(&id, Side::A, addr);
        }
        let a_tag = ep.new_tag();
        let mut r = Message::response_to(&req, 200, "OK", Some(&a_tag));
        r.push(HeaderName::Server, &self.cfg.user_agent);
        let contact = format!("<sip:ferroswitch@{}>", ep.config().sent_by(source.transport));
        r.push(HeaderName::Contact, &contact);
        r.push(HeaderName::Allow, "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO");
        add_body(&mut r, Some(ours.clone()));
        let Ok(a_dialog) = Dialog::from_uas(&req, &a_tag, true) else {
            media.close(&id);
            return Err(StartError::NoTargets);
        };
        self.index_dialog((a_dialog.call_id.clone(), a_dialog.local_tag.clone()), &id, Side::A);
        self.by_a_tx.insert(tx, id.clone());
        let display = caller_display.filter(|d| !d.is_empty()).map(|d| format!("\"{}\" ", d.replace('"', "'"))).unwrap_or_default();
        let a_call_id = req.call_id().unwrap_or("").to_owned();
        let (codec, b_offer) = match &transcode {
            // Agents are offered G.711 from the switch; the caller's codec
            // is transcoded to whichever they take.
            Some((plan, offer)) => {
                media.transcode(&id, Some(plan.clone()));
                (Some(plan.codecs()), Some(offer.clone()))
            }
            None => (sdp_rewrite::codec(&ours), sdp_rewrite::rewrite(&ours, self.cfg.media_ip, ports.1)),
        };
        let _ = ep.respond(now, tx, r);
        self.calls.insert(
            id.clone(),
            Call {
                a_dialog: Some(a_dialog),
                state: CallState::Answered,
                ports: Some(ports),
                answer: Some(now),
                a_status: 200,
                codec,
                b_offer,
                display,
                a_answer: Some(ours),
                parked: true,
                transcode: transcode.map(|(plan, _)| plan),
                ..Call::new(id.clone(), caller.to_owned(), callee.to_owned(), tx, req, source, a_tag, now)
            },
        );
        self.events.push_back(CallEvent::Created { id: id.clone(), caller: caller.to_owned(), callee: callee.to_owned(), a_call_id, start: now });
        self.events.push_back(CallEvent::Answered { id: id.clone(), at: now });
        Ok(id)
    }

    /// Ring an agent for a parked call: one INVITE per leg (the agent's
    /// contacts), offering the caller's codec. Several agents may ring at
    /// once (ring-all), each under its own `group` (the queue's offer),
    /// which [`CallEvent::Bridged`] and [`CallEvent::AgentFailed`] name
    /// and [`B2bua::cancel_agent`] takes (0 for a leg that is no queue
    /// offer: a transfer, a fallback). `false` if the call is not
    /// parked, is already bridged, that group still rings, or nothing
    /// could be sent. No ring timeout here: the queue engine decides when
    /// to give up.
    pub fn dial_agent(&mut self, now: Instant, ep: &mut Endpoint, id: &str, group: u64, legs: Vec<Leg>) -> bool {
        let Some(call) = self.calls.get(id) else { return false };
        if !call.parked || call.b_dialog.is_some() || call.forks.iter().any(|f| f.group == group && f.state != ForkState::Done) {
            return false;
        }
        let offer = call.b_offer.clone();
        let display = call.display.clone();
        let call_id = ep.new_call_id();
        let from_tag = ep.new_tag();
        let mut sent = Vec::new();
        for leg in legs {
            let Some(m) = self.build_invite(ep, &leg, &call_id, &from_tag, &display, 70, offer.clone(), false) else { continue };
            let req = m.clone();
            if let Ok(ftx) = ep.send_request(now, m, leg.dest) {
                sent.push(Fork { tx: ftx, target: Target { uri: leg.uri, dest: leg.dest, headers: leg.headers }, gateway: None, request: req, state: ForkState::Calling, cancel_pending: false, best: 0, progressed: false, group });
            }
        }
        if sent.is_empty() {
            return false;
        }
        let Some(call) = self.calls.get_mut(id) else { return false };
        for f in sent {
            self.by_fork.insert(f.tx, (id.to_owned(), call.forks.len()));
            call.forks.push(f);
        }
        self.index_dialog((call_id, from_tag), id, Side::B);
        true
    }

    /// The far end of an answered call is gone for good (the cluster node
    /// it went through died): forget that leg without a word to it (no BYE
    /// to a peer that cannot answer) and hold the caller as a parked call,
    /// so that it can be put through elsewhere with [`B2bua::dial_agent`].
    /// The caller's dialog, media ports and codec stay as they are; the
    /// next leg is offered the codec the caller speaks now. `false`
    /// (nothing changed) unless the call is answered, relayed and bridged,
    /// and neither originated nor (unless already parked) transcoded.
    pub fn repark(&mut self, id: &str) -> bool {
        let Some(call) = self.calls.get_mut(id) else { return false };
        if call.originated || call.b_dialog.is_none() || call.state != CallState::Answered || (!call.parked && call.transcode.is_some()) {
            return false;
        }
        let Some((_, pb)) = call.ports else { return false };
        if !call.parked {
            // What the caller speaks, on our port facing B: the lost leg's
            // answer (its codec) rewritten, as a parked call's own offer.
            let Some(offer) = call.b_answer.as_ref().and_then(|b| sdp_rewrite::rewrite(b, self.cfg.media_ip, pb)) else { return false };
            call.b_offer = Some(offer);
            call.parked = true;
        }
        call.b_dialog = None;
        call.b_dest = None;
        call.winner = None;
        call.b_answer = None;
        call.held = None;
        for f in call.forks.drain(..) {
            self.by_fork.remove(&f.tx);
        }
        if let Some(o) = self.owned.get_mut(id) {
            let by_dialog = &mut self.by_dialog;
            o.dialogs.retain(|k| {
                let b_side = by_dialog.get(k).is_some_and(|(_, side)| *side == Side::B);
                if b_side {
                    by_dialog.remove(k);
                }
                !b_side
            });
        }
        true
    }

    /// The calls with a leg to or from `addr` (its caller's source, its
    /// answered leg's destination, or a leg still ringing there).
    pub fn calls_with_peer(&self, addr: std::net::SocketAddr) -> Vec<String> {
        self.calls
            .values()
            .filter(|c| c.a_source.addr == addr || c.b_dest.is_some_and(|d| d.addr == addr) || c.forks.iter().any(|f| f.state != ForkState::Done && f.target.dest.addr == addr))
            .map(|c| c.id.clone())
            .collect()
    }

    /// Stop ringing a parked call's agent legs of `group` (None: all):
    /// CANCEL them. Their outcome is not reported (a late 2xx is ACKed and
    /// hung up). `false` if none was ringing.
    pub fn cancel_agent(&mut self, now: Instant, ep: &mut Endpoint, id: &str, group: Option<u64>) -> bool {
        let Some(call) = self.calls.get_mut(id) else { return false };
        if !call.parked {
            return false;
        }
        let mut any = false;
        for f in call.forks.iter_mut().filter(|f| group.is_none_or(|g| f.group == g)) {
            match f.state {
                ForkState::Proceeding => {
                    let _ = ep.cancel(now, f.tx, None);
                }
                ForkState::Calling => f.cancel_pending = true,
                ForkState::Done => continue,
            }
            f.state = ForkState::Done;
            any = true;
        }
        any
    }

    /// Keep an originated call whose caller answered as a standing call
    /// (a uuid-standby agent's line): nobody is dialled and its ring
    /// deadline goes; [`CallEvent::Answered`] follows. It lasts until
    /// either end hangs up; queue members are put through to it by the
    /// media engine ([`B2bua::standby_plan`]), not by SIP. `false` if the
    /// call is not an originated call just answered by its caller.
    pub fn stand(&mut self, now: Instant, id: &str) -> bool {
        let Some(call) = self.calls.get_mut(id) else { return false };
        if !call.originated || call.a_dialog.is_none() || call.b_start != call.forks.len() || call.cancelled || call.state == CallState::Answered {
            return false;
        }
        call.state = CallState::Answered;
        call.answer = Some(now);
        if let Some(o) = self.owned.get_mut(id) {
            for k in o.deadlines.drain(..) {
                self.deadlines.remove(&k);
            }
        }
        self.events.push_back(CallEvent::Answered { id: id.to_owned(), at: now });
        true
    }

    /// How the media of waiting caller `member` (a parked call) and of
    /// standing call `agent` ([`B2bua::stand`]) meet when put through:
    /// `Some(None)` when both phones speak the same codec in the same
    /// payload type (relayed untouched), `Some(Some(plan))` when the relay
    /// must transcode (the caller's side as `a`, the agent's as `b`),
    /// `None` when either call is not in that state.
    pub fn standby_plan(&self, member: &str, agent: &str) -> Option<Option<crate::Transcode>> {
        let (m, g) = (self.calls.get(member)?, self.calls.get(agent)?);
        if !m.parked || m.b_dialog.is_some() || !g.originated || g.state != CallState::Answered || g.b_dialog.is_some() {
            return None;
        }
        let a = match &m.transcode {
            Some(t) => t.a.clone(),
            None => sdp_rewrite::side(m.a_answer.as_ref()?)?,
        };
        let b = sdp_rewrite::side(g.a_answer.as_ref()?)?;
        let same = a.payload_type == b.payload_type && a.codec.name.eq_ignore_ascii_case(&b.codec.name) && a.codec.clock_rate == b.codec.clock_rate;
        Some((!same).then_some(crate::Transcode { a, b }))
    }

    /// Is this call parked and not yet bridged?
    pub fn is_waiting(&self, id: &str) -> bool {
        self.calls.get(id).is_some_and(|c| c.parked && c.b_dialog.is_none())
    }

    /// The RTP payload type of a parked call's codec towards the caller
    /// (for the music we play it). When the caller's codec is transcoded,
    /// the G.711 payload type the relay transcodes from.
    pub fn caller_payload_type(&self, id: &str) -> Option<u8> {
        let call = self.calls.get(id)?;
        if let Some(t) = &call.transcode {
            return Some(t.b.payload_type);
        }
        let body = call.a_answer.as_ref()?;
        let s = sdp::Session::parse_bytes(body).ok()?;
        let m = s.media().find(|m| m.media_type() == "audio" && !m.is_rejected())?;
        let pt = m.payload_types().next();
        pt
    }

    /// The telephone-event payload type the caller sends (for RFC 4733
    /// digit detection), if it offered one: from our answer to a parked
    /// caller, an originated caller's answer, or the caller's own offer.
    pub fn caller_event_pt(&self, id: &str) -> Option<u8> {
        let call = self.calls.get(id)?;
        let body = call.a_answer.as_ref().or_else(|| is_sdp(&call.a_req).then(|| call.a_req.body()))?;
        let s = sdp::Session::parse_bytes(body).ok()?;
        let m = s.media().find(|m| m.media_type() == "audio" && !m.is_rejected())?;
        let pt = m.payload_types().find(|pt| m.codec(*pt).is_some_and(|c| c.is_telephone_event()));
        pt
    }

    /// The telephone-event payload type the callee sends, if its answer
    /// has one (for RFC 4733 digit detection on its side).
    pub fn callee_event_pt(&self, id: &str) -> Option<u8> {
        let body = self.calls.get(id)?.b_answer.as_ref()?;
        let s = sdp::Session::parse_bytes(body).ok()?;
        let m = s.media().find(|m| m.media_type() == "audio" && !m.is_rejected())?;
        let pt = m.payload_types().find(|pt| m.codec(*pt).is_some_and(|c| c.is_telephone_event()));
        pt
    }

    /// Our answer to a parked caller: G.711 when it offers it; otherwise,
    /// when the switch transcodes a codec it offers (Opus), that codec,
    /// with the transcoding plan (the B side a provisional PCMU until an
    /// agent answers) and the G.711 offer agents get on the port facing B.
    #[allow(clippy::type_complexity)]
    fn answer_caller(&self, offer: &sdp::Session, ports: (u16, u16), version: u64) -> Option<(Bytes, Option<(crate::Transcode, Bytes)>)> {
        if let Some(a) = self.local_answer(offer, ports.0, version, None) {
            return Some((a, None));
        }
        let other = self.transcoding().iter().find(|c| !c.name.eq_ignore_ascii_case("PCMU") && !c.name.eq_ignore_ascii_case("PCMA"))?;
        let ours = self.local_answer(offer, ports.0, version, Some(vec![other.clone(), sdp::Codec::TELEPHONE_EVENT, sdp::Codec::TELEPHONE_EVENT_48K]))?;
        // Opus towards the caller, G.711 towards agents: narrowband is all
        // the caller needs to send.
        let ours = sdp_rewrite::narrowband_opus(&ours).unwrap_or(ours);
        let a = sdp_rewrite::side(&ours)?;
        let mut local = LocalCapabilities::new(self.cfg.media_ip, ports.1);
        local.ptime = Some(20);
        local.rtcp_mux = false;
        local.session_id = version;
        local.session_version = version;
        let agents = Bytes::from(sdp::offer(&local).ok()?.into_string());
        let b = sdp_rewrite::side(&agents)?;
        Some((ours, Some((crate::Transcode { a, b }, agents))))
    }

    /// Our answer to an offer: one codec (the offerer's preference among
    /// G.711, or among `codecs`) plus telephone-event, at `port`, RTCP on
    /// the next port.
    fn local_answer(&self, offer: &sdp::Session, port: u16, version: u64, codecs: Option<Vec<sdp::Codec>>) -> Option<Bytes> {
        let mut local = LocalCapabilities::new(self.cfg.media_ip, port);
        if let Some(c) = codecs {
            local.codecs = c;
        }
        local.preference = CodecPreference::Theirs;
        local.single_codec = true;
        local.rtcp_mux = false;
        local.ptime = Some(20);
        local.session_id = version;
        local.session_version = version;
        answer(offer, &local).ok().map(|s| Bytes::from(s.into_string()))
    }

    /// A request inside a dialog whose other leg does not exist (a parked
    /// caller re-INVITEs, sends UPDATE or INFO): answer it ourselves.
    pub(super) fn answer_locally(&mut self, id: &str, side: Side, req: &Message, contact: String) -> Message {
        let method = req.method().cloned();
        let mut r = Message::response_to(req, 200, "OK", None);
        if method == Some(Method::Info) {
            // SIP INFO digits (application/dtmf-relay) from a parked caller.
            let dtmf = req.get(HeaderName::ContentType).is_some_and(|c| c.to_ascii_lowercase().starts_with("application/dtmf"));
            if let Some(d) = dtmf.then(|| media::dtmf::from_info(req.body())).flatten() {
                self.events.push_back(CallEvent::Dtmf { id: id.to_owned(), digit: d });
            }
            return r;
        }
        if !matches!(method, Some(Method::Invite) | Some(Method::Update)) {
            return r;
        }
        let Some(call) = self.calls.get(id) else { return r };
        let (Some((pa, _)), true) = (call.ports, side == Side::A) else {
            return Message::response_to(req, 491, "Request Pending", None);
        };
        r.push(HeaderName::Contact, &contact);
        if is_sdp(req) {
            self.seq += 1;
            let speaks = call.transcode.as_ref().map(|t| vec![t.a.codec.clone(), sdp::Codec::TELEPHONE_EVENT, sdp::Codec::TELEPHONE_EVENT_48K]);
            let ours = sdp::Session::parse_bytes(req.body()).ok().and_then(|o| self.local_answer(&o, pa, self.seq, speaks));
            match ours {
                Some(b) => add_body(&mut r, Some(b)),
                None => return Message::response_to(req, 488, "Not Acceptable Here", None),
            }
        } else if let Some(a) = call.a_answer.clone() {
            // An offerless re-INVITE: our description is the offer; the
            // answer comes in the ACK (ignored: nothing changes for us).
            add_body(&mut r, Some(a));
        }
        r
    }
}
