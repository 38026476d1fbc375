//! Call-center queues on the switch: the `callcenter` engine decides, the
//! b2bua parks callers and rings agents, the relay plays music on hold.
//!
//! A caller routed to a queue is answered by the switch (parked) and
//! joins the engine's queue. Each engine [`callcenter::Action::Offer`]
//! becomes an INVITE to the agent's registered phones
//! ([`b2bua::B2bua::dial_agent`]); the b2bua's `Bridged` / `AgentFailed`
//! become `offer_answered` / `offer_failed`; a caller hanging up becomes
//! `leave` (waiting) or `bridge_ended` (bridged). Agents' status and
//! counters are persisted through the store worker on every change, and
//! restored on start.

use super::*;
use callcenter::{Action, AgentStatus, AgentType, Event as CcEvent, ExitCause, MemberInfo, OfferFailure, OfferId};

/// The prompts around a spoken estimated wait: "estimated wait" before the
/// number of minutes, "minutes" after it.
const WAIT_PROMPTS: [&str; 2] = ["estimated_wait.wav", "minutes.wav"];

/// What the switch keeps about one queue call.
#[derive(Default)]
pub(crate) struct QueueCall {
    pub queue: String,
    /// The offers ringing now, with their agents (several under
    /// ring-all and ring-progressively); each is the b2bua's dial group.
    pub offers: Vec<(OfferId, String)>,
    /// The agent bridged.
    pub agent: Option<String>,
    pub position: Option<u32>,
    pub wait_ms: Option<u64>,
    pub result: Option<ExitCause>,
    pub bridged: Option<Instant>,
    pub talk_ms: Option<u64>,
    /// Leaving for the queue's fallback: the leg ringing is not an agent.
    pub exiting: bool,
    /// Music for this caller: a tone (`tone:SPEC`) or a prompt file.
    pub moh: Option<String>,
}

/// Queue configuration as loaded from the store.
#[derive(Clone, Debug, Default)]
pub struct CcConfig {
    pub queues: Vec<callcenter::QueueConfig>,
    pub agents: Vec<callcenter::AgentConfig>,
    pub tiers: Vec<callcenter::Tier>,
    /// Agents' last persisted status and counters.
    pub status: Vec<store::AgentStatusRow>,
    /// IVR menus.
    pub ivrs: Vec<callcenter::ivr::Menu>,
    /// The prompt files the queues and menus name, decoded.
    pub prompts: super::ivr::Prompts,
}

/// Load the queue and IVR configuration, and decode the prompts they name
/// from `prompts_dir`.
pub async fn load(store: &store::Store, prompts_dir: &std::path::Path) -> Result<CcConfig, store::StoreError> {
    fn parse<T: serde::de::DeserializeOwned>(rows: Vec<store::ConfigRow>, what: &str) -> Vec<T> {
        rows.into_iter()
            .filter_map(|r| match serde_json::from_value(r.spec) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::error!(name = %r.name, error = %e, "stored {what} unreadable; skipped");
                    None
                }
            })
            .collect()
    }
    let queues: Vec<callcenter::QueueConfig> = parse(store.list_configs(store::ConfigKind::Queue).await?, "queue");
    let ivrs: Vec<callcenter::ivr::Menu> = parse(store.list_configs(store::ConfigKind::Ivr).await?, "IVR menu");
    let mut names: Vec<String> = queues.iter().flat_map(|q| q.moh.clone().into_iter().chain(q.announce.clone()).chain(q.dissuade_prompt.clone())).chain(ivrs.iter().flat_map(|m| std::iter::once(m.prompt.clone()).chain(m.invalid_prompt.clone()))).collect();
    if queues.iter().any(|q| q.announce.is_some()) {
        // Positions are said with digits/0.wav ... digits/9.wav when
        // present; the estimated wait with estimated_wait.wav, the digits
        // and minutes.wav.
        for name in (0..10).map(|d| format!("digits/{d}.wav")).chain(WAIT_PROMPTS.iter().map(|n| (*n).to_owned())) {
            if tokio::fs::try_exists(prompts_dir.join(&name)).await.unwrap_or(false) {
                names.push(name);
            }
        }
    }
    let prompts = super::ivr::load_prompts(prompts_dir, names).await;
    Ok(CcConfig {
        queues,
        agents: parse(store.list_configs(store::ConfigKind::Agent).await?, "agent"),
        tiers: parse(store.list_configs(store::ConfigKind::Tier).await?, "tier"),
        status: store.agent_statuses().await?,
        ivrs,
        prompts,
    })
}

fn status_str(s: AgentStatus) -> String {
    serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

pub(crate) fn parse_status(s: &str) -> Option<AgentStatus> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

/// Music on hold of a queue: `tone:SPEC`, a prompt file, `silence`, or
/// the switch's ringback tone when the queue names none (silence would
/// sound like a dead line).
pub(crate) fn moh_name(moh: Option<&str>, default: Option<&media::ToneSpec>) -> Option<String> {
    match moh.map(str::trim) {
        Some("silence") => None,
        Some(m) if !m.is_empty() => Some(m.to_owned()),
        _ => default.map(|s| format!("tone:{}", super::ivr::spec_text(s))),
    }
}

impl Switch {
    /// Apply a (re)loaded queue configuration to the engine: new and
    /// changed queues, agents and tiers set, missing ones removed. Agents
    /// new to the engine get their persisted status and counters back.
    pub(crate) fn apply_cc_config(&mut self, now: Instant, ep: &mut Endpoint, cfg: CcConfig) {
        self.cc.set_wall_clock(now, self.clock.unix_ms(now));
        self.ivr_menus = cfg.ivrs.into_iter().map(|m| (m.name.clone(), m)).collect();
        self.prompts = cfg.prompts;
        let tier_key = |t: &callcenter::Tier| (t.queue.clone(), t.agent.clone());
        let want_tiers: std::collections::HashSet<_> = cfg.tiers.iter().map(tier_key).collect();
        for t in self.cc.tiers() {
            if !want_tiers.contains(&tier_key(&t)) {
                let _ = self.cc.remove_tier(now, &t.queue, &t.agent);
            }
        }
        let want_q: std::collections::HashSet<_> = cfg.queues.iter().map(|q| q.name.clone()).collect();
        for q in self.cc.queues() {
            if !want_q.contains(&q.name) {
                let _ = self.cc.remove_queue(now, &q.name);
            }
        }
        let want_a: std::collections::HashSet<_> = cfg.agents.iter().map(|a| a.name.clone()).collect();
        for a in self.cc.agents() {
            if !want_a.contains(&a.config.name) {
                let _ = self.cc.remove_agent(now, &a.config.name);
            }
        }
        for q in cfg.queues {
            if self.cc.queue(&q.name) != Some(&q) {
                self.cc.set_queue(now, q);
            }
        }
        let status: HashMap<String, store::AgentStatusRow> = cfg.status.into_iter().map(|r| (r.name.clone(), r)).collect();
        for a in cfg.agents {
            match self.cc.agent(&a.name) {
                Some(v) if v.config == a => {}
                Some(_) => self.cc.set_agent(now, a),
                None => match status.get(&a.name) {
                    Some(row) => {
                        let counters: callcenter::AgentCounters = serde_json::from_value(row.counters.clone()).unwrap_or_default();
                        let st = parse_status(&row.status).unwrap_or_default();
                        // A uuid-standby agent's standing call did not survive the restart.
                        let st = if a.kind == callcenter::AgentType::UuidStandby && !self.standby_up(&a.name) { AgentStatus::LoggedOut } else { st };
                        let last = (counters.last_bridge_end_ms > 0).then(|| self.clock.instant(counters.last_bridge_end_ms));
                        self.last_bridge_end.insert(a.name.clone(), counters.last_bridge_end_ms);
                        self.cc.restore_agent(now, a, st, counters, last);
                    }
                    None => self.cc.set_agent(now, a),
                },
            }
        }
        let current: HashMap<(String, String), callcenter::Tier> = self.cc.tiers().into_iter().map(|t| (tier_key(&t), t)).collect();
        for t in cfg.tiers {
            let same = current.get(&tier_key(&t)).is_some_and(|c| c.level == t.level && c.position == t.position && (c.state == callcenter::TierState::Standby) == (t.state == callcenter::TierState::Standby));
            if !same {
                if let Err(e) = self.cc.set_tier(now, t.clone()) {
                    tracing::warn!(queue = %t.queue, agent = %t.agent, ?e, "tier not applied");
                }
            }
        }
        self.agent_of_ext.clear();
        for a in self.cc.agents() {
            self.agent_of_ext.entry(a.config.contact.clone()).or_default().push(a.config.name.clone());
        }
        self.drain_cc(now, ep);
    }

    /// A call routed to `queue`: join it, answer the caller, play music.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn enter_queue(&mut self, now: Instant, ep: &mut Endpoint, tx: TxId, req: Message, source: sip_proto::Peer, presented: &str, queue: &str, id: String) {
        let Some(q) = self.cc.queue(queue).cloned() else {
            tracing::warn!(%queue, "route to a queue that does not exist");
            return self.reply(now, ep, tx, &req, 404, "Not Found", &[]);
        };
        let caller_name = req.from().ok().and_then(|f| f.display().map(|d| d.into_owned()));
        let member = MemberInfo { call_id: id.clone(), caller_number: presented.to_owned(), caller_name: caller_name.clone(), base_score: 0, call_start: now };
        match self.cc.join(now, queue, member) {
            Ok(j) => {
                self.queue_calls.insert(id.clone(), QueueCall { queue: queue.to_owned(), position: Some(j.position), moh: moh_name(q.moh.as_deref(), self.ringback.as_ref()), ..Default::default() });
            }
            Err(callcenter::JoinError::Dissuaded { fallback }) => {
                tracing::info!(%queue, caller = %presented, ?fallback, "queue too long: caller dissuaded");
                let fallback = fallback.filter(|f| self.directory.contains_key(f));
                let publish = |sw: &mut Self, message: bool| sw.publish_cc("queue_dissuaded", Some(&id), Some(queue), None, serde_json::json!({"caller": presented, "fallback": fallback, "message": message}));
                if let Some(prompt) = q.dissuade_prompt.as_deref().filter(|p| self.prompts.contains_key(p.trim())) {
                    // Answer, say why, then the fallback (or hang up): see
                    // dissuade_done.
                    let caller_name = req.from().ok().and_then(|f| f.display().map(|d| d.into_owned()));
                    return match self.b2bua.park(now, ep, &mut self.media, tx, req.clone(), source, presented, caller_name.as_deref(), queue, id.clone()) {
                        Ok(_) => {
                            publish(self, true);
                            self.dissuading.insert(id.clone(), fallback);
                            let plays = self.play_prompt(&id, prompt, false);
                            // The answer's events first, while the call is
                            // still marked as hearing its message.
                            self.drain_calls(now, ep);
                            if !plays {
                                self.dissuade_done(now, ep, &id);
                            }
                        }
                        Err(b2bua::StartError::NoMediaPorts) => self.reply(now, ep, tx, &req, 503, "No Media Ports", &[(HeaderName::RetryAfter, "5")]),
                        Err(_) => self.reply(now, ep, tx, &req, 486, "Busy Here", &[]),
                    };
                }
                publish(self, false);
                return match fallback {
                    Some(ext) => self.ring_extension(now, ep, tx, req, source, presented, &ext, id),
                    None => self.reply(now, ep, tx, &req, 486, "Busy Here", &[]),
                };
            }
            Err(e) => {
                tracing::warn!(%queue, ?e, "could not join the queue");
                return self.reply(now, ep, tx, &req, 480, "Temporarily Unavailable", &[]);
            }
        }
        match self.b2bua.park(now, ep, &mut self.media, tx, req.clone(), source, presented, caller_name.as_deref(), queue, id.clone()) {
            Ok(_) => {
                tracing::info!(call = %id, caller = %presented, %queue, "caller waiting in queue");
                self.drain_calls(now, ep);
            }
            Err(e) => {
                let _ = self.cc.leave(now, &id);
                self.queue_calls.remove(&id);
                self.refuse_start(now, ep, tx, &req, e, (480, "Temporarily Unavailable"));
            }
        }
        self.drain_cc(now, ep);
    }

    /// A parked caller (from an IVR menu) joins `queue`: music, offers. A
    /// dissuaded caller goes to the queue's fallback extension or is hung up.
    pub(crate) fn join_parked(&mut self, now: Instant, ep: &mut Endpoint, id: &str, queue: &str) {
        if let Some((owner, t)) = self.queue_owner_target(now, queue) {
            // Another node dispatches the queue: the caller goes there.
            let caller = self.parties.get(id).map(|p| p.0.clone()).unwrap_or_default();
            tracing::info!(call = %id, %caller, %queue, %owner, "IVR caller sent to the node that owns the queue");
            let leg = b2bua::Leg { uri: t.uri, to: format!("sip:{queue}@{}", self.domain), from_user: caller, dest: t.dest, gateway: None, codecs: Vec::new(), headers: t.headers };
            self.put_parked_through(now, ep, id, queue, vec![leg]);
            if self.transfers.contains(id) {
                if let Some(c) = self.cluster.as_mut() {
                    c.forwarded.insert(id.to_owned(), queue.to_owned());
                }
            }
            return;
        }
        let Some(q) = self.cc.queue(queue).cloned() else {
            tracing::warn!(call = %id, %queue, "IVR choice names a queue that does not exist; hanging up");
            self.b2bua.hangup_with(now, ep, &mut self.media, id, "no_such_queue");
            return;
        };
        let caller = self.parties.get(id).map(|p| p.0.clone()).unwrap_or_default();
        let member = MemberInfo { call_id: id.to_owned(), caller_number: caller.clone(), caller_name: None, base_score: 0, call_start: self.b2bua.calls().iter().find(|c| c.id == id).map(|c| c.start).unwrap_or(now) };
        match self.cc.join(now, queue, member) {
            Ok(j) => {
                tracing::info!(call = %id, %caller, %queue, "caller waiting in queue");
                self.queue_calls.insert(id.to_owned(), QueueCall { queue: queue.to_owned(), position: Some(j.position), moh: moh_name(q.moh.as_deref(), self.ringback.as_ref()), ..Default::default() });
                self.play_moh(id);
            }
            Err(callcenter::JoinError::Dissuaded { fallback: Some(f) }) if self.directory.contains_key(&f) => self.transfer_parked(now, ep, id, &f),
            Err(e) => {
                tracing::info!(call = %id, %queue, ?e, "could not join the queue; hanging up");
                self.b2bua.hangup_with(now, ep, &mut self.media, id, "queue_full");
            }
        }
        self.drain_cc(now, ep);
    }

    /// Ring an extension for an INVITE (the dissuaded caller's fallback).
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::too_many_arguments)]
    fn ring_extension(&mut self, now: Instant, ep: &mut Endpoint, tx: TxId, req: Message, source: sip_proto::Peer, presented: &str, ext: &str, id: String) {
        let targets = self.ext_targets(now, ext, false);
        if targets.is_empty() {
            return self.reply(now, ep, tx, &req, 480, "Temporarily Unavailable", &[]);
        }
        let display = req.from().ok().and_then(|f| f.display().map(|d| d.into_owned()));
        if self.b2bua.start_call(now, ep, &mut self.media, tx, req.clone(), source, presented, display.as_deref(), ext, targets, &self.ext_codecs.get(ext).cloned().unwrap_or_default(), id, None).is_err() {
            self.reply(now, ep, tx, &req, 480, "Temporarily Unavailable", &[]);
        }
        self.drain_calls(now, ep);
    }

    /// A dissuaded caller heard the message: on to the queue's fallback
    /// extension, or hung up.
    pub(crate) fn dissuade_done(&mut self, now: Instant, ep: &mut Endpoint, id: &str) {
        let Some(fallback) = self.dissuading.remove(id) else { return };
        match fallback {
            Some(ext) => self.transfer_parked(now, ep, id, &ext),
            None => {
                self.b2bua.hangup_with(now, ep, &mut self.media, id, "dissuaded");
            }
        }
        self.drain_calls(now, ep);
    }

    /// The legs ringing extension `ext` for a queue call of `caller`.
    pub(crate) fn agent_legs(&self, now: Instant, ext: &str, caller: &str) -> Vec<b2bua::Leg> {
        let to = format!("sip:{ext}@{}", self.domain);
        self.ext_targets(now, ext, false)
            .into_iter()
            .map(|t| b2bua::Leg { uri: t.uri, to: to.clone(), from_user: caller.to_owned(), dest: t.dest, gateway: None, codecs: Vec::new(), headers: t.headers })
            .collect()
    }

    pub(crate) fn play_moh(&mut self, id: &str) {
        match self.queue_calls.get(id).and_then(|q| q.moh.clone()) {
            Some(name) => {
                self.play_prompt(id, &name, true);
            }
            None => self.media.play(id, None),
        }
    }

    /// Play a queue's announcement, followed by the caller's position in
    /// digits when `digits/N.wav` prompts are loaded; the music resumes at
    /// its end.
    /// The queue's announcement, then the caller's position, then (when
    /// the engine has an estimate and both prompts exist) "estimated wait,
    /// N minutes", N rounded up. Numbers are said digit by digit.
    fn announce(&mut self, id: &str, prompt: &str, position: u32, estimated_wait: u64) {
        let Some(pt) = self.b2bua.caller_payload_type(id) else { return };
        let mut audio: Vec<i16> = self.prompts.get(prompt.trim()).map(|p| p.to_vec()).unwrap_or_default();
        let say = |audio: &mut Vec<i16>, n: u64| {
            for d in n.to_string().chars() {
                if let Some(p) = self.prompts.get(&format!("digits/{d}.wav")) {
                    audio.extend_from_slice(p);
                }
            }
        };
        say(&mut audio, u64::from(position));
        let [before, after] = WAIT_PROMPTS.map(|n| self.prompts.get(n));
        if let (Some(before), Some(after), true) = (before, after, estimated_wait > 0) {
            audio.extend_from_slice(before);
            say(&mut audio, estimated_wait.div_ceil(60));
            audio.extend_from_slice(after);
        }
        if audio.is_empty() {
            return;
        }
        let ssrc = u32::from_le_bytes(crate::secrets::random_bytes::<4>());
        self.media.play(id, media::PromptPlayer::new(audio.into(), pt, ssrc, false).map(media::Player::Prompt));
    }

    /// Carry out what the engine asks, until it has nothing more. Offers
    /// to uuid-standby agents are put through at once; they count as
    /// answered once the engine's actions are drained (not from inside
    /// the loop, so a dispatch to many such agents does not recurse).
    pub(crate) fn drain_cc(&mut self, now: Instant, ep: &mut Endpoint) {
        // Bounded: a pathological configuration cannot spin the core.
        for _ in 0..100_000 {
            let answered = self.drain_cc_actions(now, ep);
            if answered.is_empty() {
                break;
            }
            for (id, group) in answered {
                // (Unless the engine withdrew the offer meanwhile.)
                if self.queue_calls.get(&id).is_some_and(|q| q.offers.iter().any(|(o, _)| o.0 == group)) {
                    self.queue_bridged_here(now, ep, &id, group);
                }
            }
        }
    }

    /// One pass of [`Switch::drain_cc`]: the offers answered at once by
    /// uuid-standby agents, as (caller's call, offer).
    fn drain_cc_actions(&mut self, now: Instant, ep: &mut Endpoint) -> Vec<(String, u64)> {
        let mut touched: Vec<String> = Vec::new();
        let mut answered = Vec::new();
        for _ in 0..100_000 {
            let Some(action) = self.cc.poll_action() else { break };
            match action {
                Action::Offer { offer, call_id, queue, agent, .. } if self.is_standby_agent(&agent) && self.standby_line_elsewhere(&agent) => {
                    // Its standing call is on another node: put through there.
                    let caller = self.parties.get(&call_id).map(|p| p.0.clone()).unwrap_or_default();
                    let legs = self.remote_standby_legs(now, &agent, &caller).unwrap_or_default();
                    if self.b2bua.dial_agent(now, ep, &call_id, offer.0, legs) {
                        tracing::info!(call = %call_id, %queue, %agent, "offering the call to a uuid-standby agent whose line is on another node");
                        self.cc_offers.insert(offer, call_id.clone());
                        if let Some(q) = self.queue_calls.get_mut(&call_id) {
                            q.offers.push((offer, agent));
                        }
                    } else {
                        self.cc_deferred.push((now + std::time::Duration::from_secs(1), offer));
                    }
                }
                Action::Offer { offer, call_id, agent, .. } if self.is_standby_agent(&agent) => {
                    if self.standby_offer(now, offer, &call_id, &agent) {
                        self.cc_offers.insert(offer, call_id.clone());
                        if let Some(q) = self.queue_calls.get_mut(&call_id) {
                            q.offers.push((offer, agent));
                        }
                        answered.push((call_id, offer.0));
                    }
                }
                Action::Offer { offer, call_id, queue, agent, contact, .. } => {
                    let caller = self.parties.get(&call_id).map(|p| p.0.clone()).unwrap_or_default();
                    let legs = self.agent_legs(now, &contact, &caller);
                    let sent = !legs.is_empty() && self.b2bua.dial_agent(now, ep, &call_id, offer.0, legs);
                    if sent {
                        tracing::info!(call = %call_id, %queue, %agent, "offering the call to an agent");
                        self.cc_offers.insert(offer, call_id.clone());
                        if let Some(q) = self.queue_calls.get_mut(&call_id) {
                            q.offers.push((offer, agent));
                        }
                    } else {
                        // Not registered (or the call is gone): a failure,
                        // reported a moment later so an unreachable agent
                        // cannot make the engine spin.
                        tracing::info!(call = %call_id, %queue, %agent, "agent unreachable");
                        self.cc_deferred.push((now + std::time::Duration::from_secs(1), offer));
                    }
                }
                Action::CancelOffer { offer, call_id, agent } => {
                    tracing::info!(call = %call_id, %agent, "offer withdrawn");
                    self.cc_offers.remove(&offer);
                    if self.standby.get(&agent).is_some_and(|s| s.member.as_deref() == Some(call_id.as_str())) {
                        // Put through to a standing call already: take it back.
                        self.media.unjoin(&call_id);
                        self.standby_member_gone(&call_id, Some(&agent));
                    }
                    if let Some(q) = self.queue_calls.get_mut(&call_id) {
                        if let Some(i) = q.offers.iter().position(|(o, _)| *o == offer) {
                            q.offers.remove(i);
                            let idle = q.offers.is_empty();
                            self.b2bua.cancel_agent(now, ep, &call_id, Some(offer.0));
                            if idle {
                                self.play_moh(&call_id);
                            }
                        }
                    }
                }
                Action::Exit { call_id, queue, cause, fallback } => {
                    tracing::info!(call = %call_id, %queue, ?cause, ?fallback, "caller leaves the queue");
                    let caller = self.parties.get(&call_id).map(|p| p.0.clone()).unwrap_or_default();
                    let legs = fallback.as_deref().map(|f| self.agent_legs(now, f, &caller)).unwrap_or_default();
                    if let Some(q) = self.queue_calls.get_mut(&call_id) {
                        q.exiting = true;
                        q.result.get_or_insert(cause);
                    }
                    if legs.is_empty() || !self.b2bua.dial_agent(now, ep, &call_id, 0, legs) {
                        self.b2bua.hangup_with(now, ep, &mut self.media, &call_id, if cause == ExitCause::Timeout { "queue_timeout" } else { "queue_exit" });
                    }
                }
                Action::Announce { call_id, queue, prompt, position, estimated_wait } => {
                    self.announce(&call_id, &prompt, position, estimated_wait);
                    self.publish_cc("member_announced", Some(&call_id), Some(&queue), None, serde_json::json!({"queue": queue, "call_id": call_id, "position": position, "estimated_wait": estimated_wait}));
                }
                Action::Event(e) => {
                    self.on_cc_event(now, e, &mut touched);
                }
            }
        }
        touched.sort();
        touched.dedup();
        for a in touched {
            self.persist_agent(&a);
        }
        answered
    }

    pub(crate) fn persist_agent(&mut self, name: &str) {
        if !self.agent_write_wanted(name) {
            return;
        }
        let Some(v) = self.cc.agent(name) else { return };
        let mut counters = v.counters.clone();
        if counters.last_bridge_end_ms == 0 {
            counters.last_bridge_end_ms = self.last_bridge_end.get(name).copied().unwrap_or(0);
        }
        let json = serde_json::to_string(&counters).unwrap_or_else(|_| "{}".into());
        self.jobs.send(Job::AgentStatus { name: name.to_owned(), status: status_str(v.status), counters: json });
    }

    fn on_cc_event(&mut self, now: Instant, e: CcEvent, touched: &mut Vec<String>) {
        let body = serde_json::to_value(&e).unwrap_or_default();
        match &e {
            CcEvent::MemberJoined { queue, call_id, position, .. } => {
                if let Some(q) = self.queue_calls.get_mut(call_id) {
                    q.position = Some(*position);
                }
                self.publish_cc("member_joined", Some(call_id), Some(queue), None, body);
            }
            CcEvent::MemberLeft { queue, call_id, cause, wait_ms, agent } => {
                if let Some(q) = self.queue_calls.get_mut(call_id) {
                    q.wait_ms = Some(*wait_ms);
                    q.result.get_or_insert(*cause);
                    if agent.is_some() {
                        q.agent = agent.clone();
                    }
                }
                self.publish_cc("member_left", Some(call_id), Some(queue), agent.as_deref(), body);
            }
            CcEvent::AgentOffering { queue, agent, call_id, .. } => {
                // The screen pop: the call's own data (a click-to-call's
                // ext_data) goes along.
                let mut body = body;
                if let (Some(o), Some(x)) = (body.as_object_mut(), self.extras.get(call_id).and_then(|x| x.ext_data.as_ref())) {
                    o.insert("ext_data".into(), serde_json::from_str(x.get()).unwrap_or_default());
                }
                touched.push(agent.clone());
                let (q, a, c) = (queue.clone(), agent.clone(), call_id.clone());
                self.publish_cc("agent_offering", Some(&c), Some(&q), Some(&a), body);
            }
            CcEvent::Bridged { queue, agent, call_id } => {
                if let Some(q) = self.queue_calls.get_mut(call_id) {
                    q.bridged = Some(now);
                    q.agent = Some(agent.clone());
                }
                touched.push(agent.clone());
                let (q, a, c) = (queue.clone(), agent.clone(), call_id.clone());
                self.publish_cc("agent_bridged", Some(&c), Some(&q), Some(&a), body);
            }
            CcEvent::BridgeEnded { queue, agent, call_id, talk_ms } => {
                if let Some(q) = self.queue_calls.get_mut(call_id) {
                    q.talk_ms = Some(*talk_ms);
                }
                self.last_bridge_end.insert(agent.clone(), self.clock.unix_ms(now));
                touched.push(agent.clone());
                let (q, a, c) = (queue.clone(), agent.clone(), call_id.clone());
                self.publish_cc("agent_bridge_ended", Some(&c), Some(&q), Some(&a), body);
            }
            CcEvent::AgentStatusChanged { agent, .. } => {
                touched.push(agent.clone());
                let a = agent.clone();
                self.publish_cc("agent_status", None, None, Some(&a), body);
            }
            CcEvent::AgentStateChanged { agent, .. } => {
                touched.push(agent.clone());
                let a = agent.clone();
                self.publish_cc("agent_state", None, None, Some(&a), body);
            }
        }
    }

    /// A parked call's agent answered: the one of offer `group`.
    pub(crate) fn queue_bridged(&mut self, now: Instant, ep: &mut Endpoint, id: &str, group: u64) {
        self.queue_bridged_here(now, ep, id, group);
        self.drain_cc(now, ep);
    }

    /// [`Switch::queue_bridged`] without draining the engine's actions.
    fn queue_bridged_here(&mut self, now: Instant, ep: &mut Endpoint, id: &str, group: u64) {
        let Some(q) = self.queue_calls.get_mut(id) else { return };
        self.media.tone(id, None);
        if q.exiting {
            return;
        }
        if let Some(i) = q.offers.iter().position(|(o, _)| o.0 == group) {
            let (offer, agent) = q.offers.remove(i);
            q.agent = Some(agent);
            self.cc_offers.remove(&offer);
            if let Err(e) = self.cc.offer_answered(now, offer) {
                tracing::warn!(call = %id, ?e, "agent answered an offer the engine no longer has; hanging up");
                self.b2bua.hangup_with(now, ep, &mut self.media, id, "offer_withdrawn");
            }
        }
        let (record, template) = self.cc.queue(&q.queue).map(|c| (c.record || c.record_template.is_some(), c.record_template.clone())).unwrap_or_default();
        if record && !self.media.is_recording(id) {
            let fields = RecordFields { call_id: id, queue: &q.queue, agent: q.agent.as_deref().unwrap_or(""), caller: self.parties.get(id).map_or("", |p| p.0.as_str()) };
            let name = template.map(|t| fields.file_name(&t, self.clock.unix_ms(now)));
            self.start_recording_as(id, name);
        }
    }

    /// A parked call's agent legs of offer `group` failed.
    pub(crate) fn queue_agent_failed(&mut self, now: Instant, ep: &mut Endpoint, id: &str, code: u16, group: u64) {
        let Some(q) = self.queue_calls.get_mut(id) else { return };
        if q.exiting {
            // The fallback did not answer either.
            self.b2bua.hangup_with(now, ep, &mut self.media, id, "queue_exit");
            return;
        }
        let Some(i) = q.offers.iter().position(|(o, _)| o.0 == group) else { return };
        let (offer, agent) = q.offers.remove(i);
        let idle = q.offers.is_empty();
        self.cc_offers.remove(&offer);
        let why = match code {
            486 | 600 => OfferFailure::Busy,
            603 => OfferFailure::Rejected,
            0 | 408 | 480 | 487 => OfferFailure::NoAnswer,
            _ => OfferFailure::Unreachable,
        };
        tracing::info!(call = %id, %agent, code, ?why, "agent did not take the call");
        if idle {
            self.play_moh(id);
        }
        let _ = self.cc.offer_failed(now, offer, why);
        self.drain_cc(now, ep);
    }

    /// A queue call ended: tell the engine; the CDR's queue fields.
    pub(crate) fn queue_call_ended(&mut self, now: Instant, ep: &mut Endpoint, id: &str) -> Option<QueueCall> {
        let agent = self.queue_calls.get(id)?.agent.clone();
        self.standby_member_gone(id, agent.as_deref());
        let bridged = self.queue_calls.get(id)?.bridged.is_some();
        if bridged {
            let _ = self.cc.bridge_ended(now, id);
        } else if let Some(q) = self.queue_calls.get_mut(id).filter(|q| !q.offers.is_empty()) {
            for (offer, _) in q.offers.drain(..) {
                self.cc_offers.remove(&offer);
            }
            let _ = self.cc.leave(now, id);
        } else {
            let _ = self.cc.leave(now, id);
        }
        self.drain_cc(now, ep);
        self.queue_calls.remove(id)
    }

    /// Offers whose failure was deferred (unreachable agents).
    pub(crate) fn cc_timeouts(&mut self, now: Instant, ep: &mut Endpoint) {
        if self.cc_deferred.iter().any(|(t, _)| *t <= now) {
            let (due, later): (Vec<_>, Vec<_>) = self.cc_deferred.drain(..).partition(|(t, _)| *t <= now);
            self.cc_deferred = later;
            for (_, offer) in due {
                let _ = self.cc.offer_failed(now, offer, OfferFailure::Unreachable);
            }
        }
        if self.cc.poll_timeout().is_some_and(|t| t <= now) {
            self.cc.handle_timeout(now);
        }
        self.drain_cc(now, ep);
    }

    pub(crate) fn cc_poll_timeout(&self) -> Option<Instant> {
        [self.cc.poll_timeout(), self.cc_deferred.iter().map(|(t, _)| *t).min()].into_iter().flatten().min()
    }

    /// An extension's calls changed: agents on it are skipped while busy.
    pub(crate) fn agent_busy_changed(&mut self, now: Instant, ext: &str) {
        let Some(agents) = self.agent_of_ext.get(ext).cloned() else { return };
        for a in agents {
            let busy = self.calls_busying(ext, &a) > 0;
            let _ = self.cc.set_agent_busy(now, &a, busy);
        }
    }

    /// The API's questions to the engine.
    pub(crate) fn cc_request(&mut self, now: Instant, ep: &mut Endpoint, req: api::CcRequest) -> Result<serde_json::Value, api::ApiError> {
        let to_json = |v: Result<serde_json::Value, serde_json::Error>| v.map_err(api::ApiError::internal);
        if let api::CcRequest::Stats(q) | api::CcRequest::Members(q) = &req {
            // A queue another node dispatches: as its owner last wrote it
            // (at most about two seconds old).
            if let Some(v) = self.remote_queue_view(q, matches!(req, api::CcRequest::Members(_))) {
                return Ok(v);
            }
        }
        match req {
            api::CcRequest::Agents => {
                // In a cluster, an agent of queues another node dispatches
                // is shown as that node sees it.
                let mut remote = self.remote_agent_views();
                self.cc.agents().iter().map(|a| remote.remove(&a.config.name).map_or_else(|| self.agent_json(&a.config.name), Ok)).collect::<Result<Vec<_>, _>>().map(serde_json::Value::Array)
            }
            api::CcRequest::Stats(q) => match self.cc.stats(now, &q) {
                Some(s) => to_json(serde_json::to_value(s)),
                None => Err(api::ApiError::not_found("queue")),
            },
            api::CcRequest::Members(q) => {
                if self.cc.queue(&q).is_none() {
                    return Err(api::ApiError::not_found("queue"));
                }
                to_json(serde_json::to_value(self.cc.members(now, &q)))
            }
            api::CcRequest::AgentAction(name, action) if self.is_standby_agent(&name) && !self.standby_up(&name) && matches!(action, api::AgentAction::Login | api::AgentAction::Ready) => {
                // No standing call yet: call the agent; it becomes
                // Available when it answers.
                self.standby_login(now, ep, &name)?;
                tracing::info!(agent = %name, ?action, "agent action: calling the agent's phone for its standing call");
                self.agent_json(&name)
            }
            api::CcRequest::AgentAction(name, action) => {
                if action == api::AgentAction::Logout && self.is_standby_agent(&name) {
                    self.standby_logout(now, ep, &name);
                }
                let r = match action {
                    api::AgentAction::Login => self.cc.set_agent_status(now, &name, AgentStatus::Available),
                    api::AgentAction::Logout => self.cc.set_agent_status(now, &name, AgentStatus::LoggedOut),
                    api::AgentAction::Break => self.cc.set_agent_status(now, &name, AgentStatus::OnBreak),
                    api::AgentAction::Ready => {
                        let keep = self.cc.agent(&name).is_some_and(|a| a.status == AgentStatus::AvailableOnDemand);
                        let r = if keep { Ok(()) } else { self.cc.set_agent_status(now, &name, AgentStatus::Available) };
                        r.and_then(|()| self.cc.set_agent_state(now, &name, callcenter::AgentState::Waiting))
                    }
                };
                if r.is_err() {
                    return Err(api::ApiError::not_found("agent"));
                }
                tracing::info!(agent = %name, ?action, "agent action");
                self.persist_agent(&name);
                self.drain_cc(now, ep);
                self.agent_json(&name)
            }
        }
    }

    /// An agent as the API shows it: the engine's view, and a
    /// uuid-standby agent's standing call (`standby_call`, `null` while
    /// it has none or it still rings).
    pub(crate) fn agent_json(&self, name: &str) -> Result<serde_json::Value, api::ApiError> {
        let v = self.cc.agent(name).ok_or_else(|| api::ApiError::not_found("agent"))?;
        let kind = v.config.kind;
        let mut j = serde_json::to_value(v).map_err(api::ApiError::internal)?;
        if let (Some(o), AgentType::UuidStandby) = (j.as_object_mut(), kind) {
            let line = self.standby.get(name).filter(|s| s.up).map(|s| s.call.clone());
            if line.is_none() {
                // In a cluster, the line may stand on another node.
                if let Some((node, _)) = self.cluster.as_ref().and_then(|c| c.view.standby_line(name)) {
                    o.insert("standby_node".into(), node.into());
                }
            }
            o.insert("standby_call".into(), line.into());
        }
        Ok(j)
    }

    /// Queue metrics lines.
    pub(crate) fn cc_metrics(&self, now: Instant) -> Vec<(String, String, f64)> {
        let mut out = Vec::new();
        for q in self.cc.queues() {
            if let Some(s) = self.cc.stats(now, &q.name) {
                let l = format!("{{queue=\"{}\"}}", q.name);
                out.push(("ferroswitch_queue_members_waiting".into(), l.clone(), f64::from(s.waiting)));
                out.push(("ferroswitch_queue_longest_wait_seconds".into(), l.clone(), s.longest_wait_ms as f64 / 1000.0));
                out.push(("ferroswitch_queue_answered_total".into(), l.clone(), s.answered as f64));
                out.push(("ferroswitch_queue_abandoned_total".into(), l.clone(), s.abandoned as f64));
                out.push(("ferroswitch_queue_timed_out_total".into(), l, s.timed_out as f64));
            }
        }
        let mut by_status: HashMap<String, u32> = HashMap::new();
        for a in self.cc.agents() {
            *by_status.entry(status_str(a.status)).or_default() += 1;
        }
        for s in [AgentStatus::LoggedOut, AgentStatus::Available, AgentStatus::AvailableOnDemand, AgentStatus::OnBreak] {
            let name = status_str(s);
            let n = by_status.get(&name).copied().unwrap_or(0);
            out.push(("ferroswitch_agents".into(), format!("{{status=\"{name}\"}}"), f64::from(n)));
        }
        out
    }
}

/// CDR fields of a queue call.
pub(crate) fn cdr_fields(q: &QueueCall) -> QueueCdr {
    let result = q.result.map(|c| serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default());
    QueueCdr {
        queue: q.queue.clone(),
        agent: q.agent.clone().filter(|_| q.bridged.is_some()),
        wait_ms: q.wait_ms.map(|w| w as i64),
        position: q.position.map(i64::from),
        result,
        talk_ms: q.talk_ms.map(|t| t as i64),
    }
}

/// The fields of a queue's `record_template`.
struct RecordFields<'a> {
    call_id: &'a str,
    queue: &'a str,
    agent: &'a str,
    caller: &'a str,
}

impl RecordFields<'_> {
    /// The template filled in: a plain file name (a caller number or
    /// queue name cannot put a path separator or anything else into it).
    fn file_name(&self, template: &str, unix_ms: u64) -> String {
        let t = registrar::utc_parts(unix_ms);
        let (h, m, s) = t.hms;
        let date = format!("{:04}-{:02}-{:02}", t.year, t.month, t.day);
        let time = format!("{h:02}-{m:02}-{s:02}");
        let clean = |v: &str| -> String { v.chars().map(|c| if c.is_ascii_alphanumeric() || "-_+".contains(c) { c } else { '_' }).collect() };
        let name = template
            .replace("{call_id}", &clean(self.call_id))
            .replace("{queue}", &clean(self.queue))
            .replace("{agent}", &clean(self.agent))
            .replace("{caller}", &clean(self.caller))
            .replace("{date}", &date)
            .replace("{time}", &time);
        if name.starts_with('.') || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b)) {
            // A template the API would have refused (from an older store).
            return format!("{}.wav", clean(self.call_id));
        }
        name
    }
}

#[cfg(test)]
mod record_template_tests {
    use super::RecordFields;

    #[test]
    fn fields_are_filled_in_and_cannot_make_a_path() {
        let f = RecordFields { call_id: "0a1b-2c", queue: "support", agent: "1000", caller: "+49/../x y" };
        // 2026-12-01 09:46:40 UTC
        let t = 1_796_118_400_000;
        assert_eq!(f.file_name("{queue}-{date}-{time}-{agent}-{caller}-{call_id}.wav", t), "support-2026-12-01-09-46-40-1000-+49____x_y-0a1b-2c.wav");
        assert_eq!(f.file_name("{call_id}.wav", t), "0a1b-2c.wav");
        assert_eq!(f.file_name("../{call_id}.wav", t), "0a1b-2c.wav", "a bad template falls back to the call id");
    }
}
