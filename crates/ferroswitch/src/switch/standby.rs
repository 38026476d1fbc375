//! uuid-standby agents (mod_callcenter's second agent type): the agent
//! stays on one standing call, and each queue caller offered to it is put
//! through to that call at once, with no ringing and no new INVITE.
//!
//! Logging in (`POST /v1/agents/{id}/login` or `ready`) calls the agent's
//! extension; once it answers, the call stands ([`b2bua::B2bua::stand`]),
//! the agent hears silence and becomes Available. An offer then joins the
//! caller's relay to the standing call's ([`runtime::RelayPool::join`]):
//! the caller's relay relays, transcodes and records both phones as for
//! any bridged queue call. When the caller hangs up, the standing call
//! takes its side back and the agent hears silence again (wrap-up, then
//! the next caller). The agent hanging up its standing call ends the
//! caller's call too and logs the agent out; logging out hangs the
//! standing call up.

use super::*;
use callcenter::{AgentStatus, AgentType, OfferFailure, OfferId};

/// A uuid-standby agent's standing call.
pub(crate) struct Standby {
    /// The call (the switch's UUID).
    pub call: String,
    /// Answered by the agent (it rings before that).
    pub up: bool,
    /// The queue caller put through to it now.
    pub member: Option<String>,
}

/// 20 ms of silence, looped: what a standing call plays its agent between
/// callers (phones such as Linphone hang up after some seconds without RTP).
fn silence(pt: u8) -> Option<media::Player> {
    let quiet: std::sync::Arc<[i16]> = vec![0i16; 160].into();
    let ssrc = u32::from_le_bytes(crate::secrets::random_bytes::<4>());
    media::PromptPlayer::new(quiet, pt, ssrc, true).map(media::Player::Prompt)
}

impl Switch {
    /// Is `name` a uuid-standby agent?
    pub(crate) fn is_standby_agent(&self, name: &str) -> bool {
        self.cc.agent(name).is_some_and(|a| a.config.kind == AgentType::UuidStandby)
    }

    /// Is `name`'s standing call answered?
    pub(crate) fn standby_up(&self, name: &str) -> bool {
        self.standby.get(name).is_some_and(|s| s.up)
    }

    /// Login (or ready) of a uuid-standby agent without a standing call:
    /// call its extension. Its status changes when the call is answered.
    pub(crate) fn standby_login(&mut self, now: Instant, ep: &mut Endpoint, name: &str) -> Result<(), api::ApiError> {
        if self.standby.contains_key(name) {
            return Ok(());
        }
        if self.draining {
            return Err(api::ApiError::status(503, "draining", "the switch is shutting down"));
        }
        let contact = self.cc.agent(name).map(|a| a.config.contact.clone()).unwrap_or_default();
        let legs = self.agent_legs(now, &contact, "standby");
        if legs.is_empty() {
            return Err(api::ApiError::status(409, "agent_unreachable", format!("extension {contact} of agent {name} is not registered")));
        }
        let id = crate::secrets::uuid();
        match self.b2bua.originate(now, ep, &mut self.media, id, &contact, "standby", Some("standby"), legs) {
            Ok(id) => {
                tracing::info!(call = %id, agent = %name, "calling a uuid-standby agent for its standing call");
                self.standby_calls.insert(id.clone(), name.to_owned());
                self.standby.insert(name.to_owned(), Standby { call: id, up: false, member: None });
                self.drain_calls(now, ep);
                Ok(())
            }
            Err(e) => Err(api::ApiError::status(503, "no_media_ports", format!("cannot call the agent: {e:?}"))),
        }
    }

    /// The agent answered its standing call's INVITE: keep the call.
    /// `false` if `id` is not a standing call.
    pub(crate) fn standby_answered(&mut self, now: Instant, ep: &mut Endpoint, id: &str) -> bool {
        let Some(name) = self.standby_calls.get(id).cloned() else { return false };
        if !self.b2bua.stand(now, id) {
            self.b2bua.hangup_with(now, ep, &mut self.media, id, "standby_failed");
            return true;
        }
        if let Some(s) = self.standby.get_mut(&name) {
            s.up = true;
        }
        tracing::info!(call = %id, agent = %name, "uuid-standby agent on its standing call");
        true
    }

    /// The standing call was answered (after [`Switch::standby_answered`]):
    /// silence to the agent, and the agent is Available. `false` if `id`
    /// is not a standing call.
    pub(crate) fn standby_started(&mut self, now: Instant, ep: &mut Endpoint, id: &str) -> bool {
        let Some(name) = self.standby_calls.get(id).cloned() else { return false };
        self.media.play(id, silence(self.originated_g711_pt(id).unwrap_or(0)));
        // Its own line does not make the agent busy.
        let ext = self.cc.agent(&name).map(|a| a.config.contact.clone()).unwrap_or_default();
        self.agent_busy_changed(now, &ext);
        if self.cc.agent(&name).is_some_and(|a| a.status == AgentStatus::LoggedOut) {
            let _ = self.cc.set_agent_status(now, &name, AgentStatus::Available);
        }
        self.persist_agent(&name);
        if self.cluster.is_some() {
            // The queue's owner may be another node: it puts callers
            // through to this line here.
            self.jobs.send(Job::StandbyLine { agent: name.clone(), up: true });
        }
        self.drain_cc(now, ep);
        true
    }

    /// An offer to uuid-standby agent `agent`: put caller `call_id`
    /// through to its standing call now. `true` when done (the caller
    /// counts as answered, see [`Switch::drain_cc`]); `false` if the agent
    /// has no standing call free (it is logged out, as it cannot take
    /// calls) or the media cannot meet.
    pub(crate) fn standby_offer(&mut self, now: Instant, offer: OfferId, call_id: &str, agent: &str) -> bool {
        let line = self.standby.get(agent).filter(|s| s.up && s.member.is_none()).map(|s| s.call.clone());
        let plan = line.as_deref().and_then(|l| self.b2bua.standby_plan(call_id, l));
        let (Some(line), Some(plan)) = (line, plan) else {
            tracing::warn!(call = %call_id, %agent, "uuid-standby agent has no free standing call; logging it out");
            let _ = self.cc.set_agent_status(now, agent, AgentStatus::LoggedOut);
            let _ = self.cc.offer_failed(now, offer, OfferFailure::Unreachable);
            return false;
        };
        if plan.is_some() {
            b2bua::Media::transcode(&mut self.media, call_id, plan);
        }
        if !self.media.join(call_id, &line) {
            let _ = self.cc.offer_failed(now, offer, OfferFailure::Unreachable);
            return false;
        }
        tracing::info!(call = %call_id, %agent, standing_call = %line, "caller put through to a uuid-standby agent");
        if let Some(s) = self.standby.get_mut(agent) {
            s.member = Some(call_id.to_owned());
        }
        true
    }

    /// Queue caller `id` ended (or left): its agent's standing call is
    /// free again (its relay takes its side back by itself).
    pub(crate) fn standby_member_gone(&mut self, id: &str, agent: Option<&str>) {
        if let Some(s) = agent.and_then(|a| self.standby.get_mut(a)).filter(|s| s.member.as_deref() == Some(id)) {
            s.member = None;
        }
    }

    /// A call ended: when it was a standing call, the caller put through
    /// to it is hung up and the agent is logged out.
    pub(crate) fn standby_call_ended(&mut self, now: Instant, ep: &mut Endpoint, id: &str) {
        let Some(name) = self.standby_calls.remove(id) else { return };
        let Some(s) = self.standby.remove(&name) else { return };
        tracing::info!(call = %id, agent = %name, "uuid-standby agent's standing call ended; agent logged out");
        if self.cluster.is_some() {
            self.jobs.send(Job::StandbyLine { agent: name.clone(), up: false });
        }
        if let Some(m) = s.member {
            self.b2bua.hangup_with(now, ep, &mut self.media, &m, "agent_hangup");
        }
        if self.cc.agent(&name).is_some_and(|a| a.status != AgentStatus::LoggedOut) {
            let _ = self.cc.set_agent_status(now, &name, AgentStatus::LoggedOut);
            self.persist_agent(&name);
        }
        let ext = self.cc.agent(&name).map(|a| a.config.contact.clone()).unwrap_or_default();
        self.agent_busy_changed(now, &ext);
        self.drain_cc(now, ep);
    }

    /// Logout of a uuid-standby agent: hang its standing call up.
    pub(crate) fn standby_logout(&mut self, now: Instant, ep: &mut Endpoint, name: &str) {
        if let Some(s) = self.standby.get(name) {
            let call = s.call.clone();
            self.b2bua.hangup_with(now, ep, &mut self.media, &call, "agent_logout");
        }
    }

    /// Calls of extension `ext` that make its agent `name` busy: all but
    /// a uuid-standby agent's own standing call.
    pub(crate) fn calls_busying(&self, ext: &str, name: &str) -> u32 {
        let n = self.active.get(ext).copied().unwrap_or(0);
        n.saturating_sub(u32::from(self.standby.contains_key(name)))
    }
}
