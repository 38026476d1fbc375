//! The dispatch engine.
//!
//! See the crate docs ("Design") for the indexes and timers.

use crate::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound::{Excluded, Included, Unbounded};
use std::time::Instant;

/// Internal queue id (never reused).
type QId = u32;
/// Internal agent id (never reused).
type AId = u32;
/// Internal member id (never reused).
type MId = u64;
/// Member order key: (start − base_score, in ns relative to the engine's
/// epoch; join sequence). Lower key = higher score = served first. The key
/// is time-invariant because every member's score grows at the same rate.
type MKey = (i128, u64);
/// Agent order key in a queue's eligible index:
/// (major level, strategy metric, level, position, agent).
type AKey = (u32, i128, u32, u32, AId);
/// A timer's key in the timer table.
type TKey = (Instant, u64);

/// Service-level threshold.
const SL_THRESHOLD: Duration = Duration::from_secs(20);
/// Talk times kept per queue for the wait estimate.
const TALK_HISTORY: usize = 20;
/// Assumed talk time with no history.
const DEFAULT_TALK_MS: u64 = 60_000;

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

fn plus(t: Instant, s: u32) -> Instant {
    t.checked_add(secs(s)).unwrap_or(t)
}

/// Signed nanoseconds from `epoch` to `t`.
fn rel(epoch: Instant, t: Instant) -> i128 {
    if t >= epoch {
        (t - epoch).as_nanos() as i128
    } else {
        -((epoch - t).as_nanos() as i128)
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn is_avail(s: AgentStatus) -> bool {
    matches!(s, AgentStatus::Available | AgentStatus::AvailableOnDemand)
}

fn is_present(s: AgentStatus) -> bool {
    !matches!(s, AgentStatus::LoggedOut | AgentStatus::OnBreak)
}

fn has_skills(agent: &[String], queue: &[String]) -> bool {
    queue.iter().all(|s| agent.contains(s))
}

struct Abandoned {
    key: MKey,
    joined: Instant,
    at: Instant,
}

struct Queue {
    cfg: QueueConfig,
    /// Agents with a tier here.
    agents: BTreeSet<AId>,
    /// Tier count per level (the lowest level is always allowed).
    levels: BTreeMap<u32, u32>,
    /// Agents with status Available / On Demand, per level (no zero entries).
    avail_levels: BTreeMap<u32, u32>,
    /// Agents present (status neither Logged Out nor On Break).
    present: u32,
    /// Agents that may be offered a member of this queue now, in strategy order.
    eligible: BTreeSet<AKey>,
    /// All waiting members (offered or not), in service order.
    members: BTreeMap<MKey, MId>,
    /// Members that may receive an offer now, in service order.
    offerable: BTreeMap<MKey, MId>,
    /// Waiting members by join time (tier rules, no-agent timeouts).
    by_join: BTreeSet<(Instant, MId)>,
    /// Since when no agent is present.
    no_agent_since: Option<Instant>,
    /// Round-robin: (level, position, agent) offered last.
    rr_last: Option<(u32, u32, AId)>,
    abandoned: HashMap<String, Abandoned>,
    answered: u64,
    answered_in_sl: u64,
    abandoned_count: u64,
    abandoned_after_sl: u64,
    timed_out: u64,
    talk: VecDeque<u64>,
    talk_sum: u64,
}

impl Queue {
    fn lowest_level(&self) -> Option<u32> {
        self.levels.keys().next().copied()
    }

    /// Tier rules: may a member that waited `waited` be offered to level `level`?
    fn level_allowed(&self, waited: Duration, level: u32) -> bool {
        if !self.cfg.tier_rules_apply {
            return true;
        }
        if self.lowest_level().is_none_or(|low| level <= low) {
            return true;
        }
        if self.cfg.tier_rule_no_agent_no_wait && self.avail_levels.range(..level).next().is_none() {
            return true;
        }
        waited >= self.level_wait(level)
    }

    fn level_wait(&self, level: u32) -> Duration {
        let mult = if self.cfg.tier_rule_wait_multiply_level { u64::from(level) } else { 1 };
        Duration::from_secs(u64::from(self.cfg.tier_rule_wait_second).saturating_mul(mult))
    }

    fn avg_talk_ms(&self) -> u64 {
        if self.talk.is_empty() {
            DEFAULT_TALK_MS
        } else {
            self.talk_sum / self.talk.len() as u64
        }
    }

    /// Estimated wait (seconds) for a member with `ahead` members before it:
    /// (ahead + 1) × average talk time / max(1, agents present).
    fn estimate(&self, ahead: usize) -> u64 {
        let n = ahead as u64 + 1;
        n.saturating_mul(self.avg_talk_ms()) / u64::from(self.present.max(1)) / 1000
    }
}

struct Agent {
    name: String,
    cfg: AgentConfig,
    status: AgentStatus,
    state: AgentState,
    busy: bool,
    calls_answered: u64,
    talk_time: u64,
    no_answer_count: u32,
    last_bridge_end_ms: u64,
    last_bridge_end: Option<Instant>,
    ready_time: Option<Instant>,
    offer: Option<OfferId>,
    bridge: Option<MId>,
    queues: BTreeSet<QId>,
    /// Removed while bridged: dropped when the bridge ends.
    removed: bool,
    ready_timer: Option<TKey>,
}

struct TierRec {
    level: u32,
    position: u32,
    standby: bool,
    /// The engine's state (Ready, Offering, Active Inbound, No Answer).
    state: TierState,
    /// The agent's key in the queue's eligible index, when it is in it.
    key: Option<AKey>,
}

struct Member {
    queue: QId,
    queue_name: String,
    info: MemberInfo,
    key: MKey,
    joined: Instant,
    position: u32,
    offers: Vec<OfferId>,
    bridged: Option<(AId, Instant)>,
    timers: Vec<TKey>,
    tier_timer: Option<TKey>,
    prog_timer: Option<TKey>,
}

struct Offer {
    member: MId,
    agent: AId,
    queue: QId,
    ring_timer: Option<TKey>,
}

enum Timer {
    MaxWait(MId),
    /// The queue has had no agent since the instant for max_wait_time_with_no_agent.
    NoAgentQueue(QId, Instant),
    NoAgentMember(MId, Instant),
    Ring(OfferId),
    AgentReady(AId),
    TierWait(MId),
    ProgStep(MId),
    AbandonExpire(QId, String, Instant),
    Announce(MId),
}

/// The queue engine. See the crate docs for the loop that drives it.
pub struct Engine {
    epoch: Option<Instant>,
    queues: HashMap<QId, Queue>,
    queue_ids: BTreeMap<String, QId>,
    agents: HashMap<AId, Agent>,
    agent_ids: BTreeMap<String, AId>,
    tiers: BTreeMap<(QId, AId), TierRec>,
    members: HashMap<MId, Member>,
    waiting: HashMap<String, MId>,
    bridged: HashMap<String, MId>,
    offers: HashMap<OfferId, Offer>,
    timers: BTreeMap<TKey, Timer>,
    actions: VecDeque<Action>,
    dirty: BTreeSet<QId>,
    next_id: u64,
    next_offer: u64,
    next_timer: u64,
    rng: u64,
    wall: Option<(Instant, u64)>,
}

impl Engine {
    /// An empty engine; `seed` feeds the `random` strategy (deterministic).
    pub fn new(seed: u64) -> Engine {
        Engine {
            epoch: None,
            queues: HashMap::new(),
            queue_ids: BTreeMap::new(),
            agents: HashMap::new(),
            agent_ids: BTreeMap::new(),
            tiers: BTreeMap::new(),
            members: HashMap::new(),
            waiting: HashMap::new(),
            bridged: HashMap::new(),
            offers: HashMap::new(),
            timers: BTreeMap::new(),
            actions: VecDeque::new(),
            dirty: BTreeSet::new(),
            next_id: 1,
            next_offer: 1,
            next_timer: 0,
            rng: seed,
            wall: None,
        }
    }

    // ---- configuration ------------------------------------------------

    /// Add or replace a queue (waiting members keep their place).
    pub fn set_queue(&mut self, now: Instant, q: QueueConfig) {
        self.touch(now);
        if let Some(&qid) = self.queue_ids.get(&q.name) {
            let Some(queue) = self.queues.get_mut(&qid) else { return };
            queue.cfg = q;
            self.rebuild_queue(qid, now);
        } else {
            let qid = self.fresh_id() as QId;
            self.queue_ids.insert(q.name.clone(), qid);
            let mwtwna = q.max_wait_time_with_no_agent;
            self.queues.insert(
                qid,
                Queue {
                    cfg: q,
                    agents: BTreeSet::new(),
                    levels: BTreeMap::new(),
                    avail_levels: BTreeMap::new(),
                    present: 0,
                    eligible: BTreeSet::new(),
                    members: BTreeMap::new(),
                    offerable: BTreeMap::new(),
                    by_join: BTreeSet::new(),
                    no_agent_since: Some(now),
                    rr_last: None,
                    abandoned: HashMap::new(),
                    answered: 0,
                    answered_in_sl: 0,
                    abandoned_count: 0,
                    abandoned_after_sl: 0,
                    timed_out: 0,
                    talk: VecDeque::new(),
                    talk_sum: 0,
                },
            );
            if mwtwna > 0 {
                self.schedule(plus(now, mwtwna), Timer::NoAgentQueue(qid, now));
            }
        }
        self.dispatch(now);
    }

    /// Remove a queue: its members get `Exit { cause: QueueRemoved }`,
    /// ringing offers are cancelled, its tiers go.
    pub fn remove_queue(&mut self, now: Instant, name: &str) -> Result<(), Error> {
        self.touch(now);
        let qid = *self.queue_ids.get(name).ok_or(Error::NoQueue)?;
        let (mids, aids): (Vec<MId>, Vec<AId>) = match self.queues.get(&qid) {
            Some(q) => (q.members.values().copied().collect(), q.agents.iter().copied().collect()),
            None => return Err(Error::NoQueue),
        };
        for mid in mids {
            self.remove_waiting(mid, now, ExitCause::QueueRemoved);
        }
        for aid in aids {
            self.detach_tier(qid, aid, now);
        }
        self.queue_ids.remove(name);
        self.queues.remove(&qid);
        self.dirty.remove(&qid);
        self.dispatch(now);
        Ok(())
    }

    /// Add or replace an agent's configuration (status, state, counters
    /// and a call in progress are kept). New agents start Logged Out.
    pub fn set_agent(&mut self, now: Instant, a: AgentConfig) {
        self.touch(now);
        let aid = self.agent_entry(a, now);
        self.refresh_agent(aid, now);
        self.dispatch(now);
    }

    /// Restore an agent after a restart: configuration, status and
    /// counters (`last_bridge_end` given as an Instant by the driver).
    pub fn restore_agent(&mut self, now: Instant, a: AgentConfig, status: AgentStatus, counters: AgentCounters, last_bridge_end: Option<Instant>) {
        self.touch(now);
        let aid = self.agent_entry(a, now);
        if let (Some(t), true) = (last_bridge_end, counters.last_bridge_end_ms > 0) {
            self.wall.get_or_insert((t, counters.last_bridge_end_ms));
        }
        if let Some(ag) = self.agents.get_mut(&aid) {
            ag.calls_answered = counters.calls_answered;
            ag.talk_time = counters.talk_time;
            ag.no_answer_count = counters.no_answer_count;
            ag.last_bridge_end_ms = counters.last_bridge_end_ms;
            ag.last_bridge_end = last_bridge_end;
        }
        self.set_status(aid, status, now);
        self.refresh_agent(aid, now);
        self.dispatch(now);
    }

    /// Tell the engine which wall-clock time (Unix milliseconds) `now` is,
    /// so that [`AgentCounters::last_bridge_end_ms`] can be reported for
    /// bridges that end later. Optional: the engine also learns it from
    /// [`Engine::restore_agent`] when given both forms of `last_bridge_end`.
    pub fn set_wall_clock(&mut self, now: Instant, unix_ms: u64) {
        self.touch(now);
        self.wall = Some((now, unix_ms));
    }

    /// Remove an agent (a ringing offer is cancelled; a bridged call
    /// continues, but the agent is gone when it ends). Its tiers go.
    pub fn remove_agent(&mut self, now: Instant, name: &str) -> Result<(), Error> {
        self.touch(now);
        let aid = self.agent_ids.remove(name).ok_or(Error::NoAgent)?;
        let queues: Vec<QId> = self.agents.get(&aid).map(|a| a.queues.iter().copied().collect()).unwrap_or_default();
        if let Some(offer) = self.agents.get(&aid).and_then(|a| a.offer) {
            self.cancel_offer(offer, now, true);
        }
        for qid in queues {
            self.detach_tier(qid, aid, now);
        }
        let bridged = self.agents.get(&aid).is_some_and(|a| a.bridge.is_some());
        if bridged {
            if let Some(a) = self.agents.get_mut(&aid) {
                a.removed = true;
            }
        } else {
            self.drop_agent(aid);
        }
        self.dispatch(now);
        Ok(())
    }

    /// Add or replace a tier (queue and agent must exist).
    pub fn set_tier(&mut self, now: Instant, t: Tier) -> Result<(), Error> {
        self.touch(now);
        let qid = *self.queue_ids.get(&t.queue).ok_or(Error::NoQueue)?;
        let aid = *self.agent_ids.get(&t.agent).ok_or(Error::NoAgent)?;
        let standby = t.state == TierState::Standby;
        let status = self.agents.get(&aid).map(|a| a.status).ok_or(Error::NoAgent)?;
        let mut new_level = false;
        if let Some(old_level) = self.tiers.get(&(qid, aid)).map(|r| r.level) {
            if old_level != t.level {
                self.level_counts(qid, old_level, status, false);
                new_level = self.level_counts(qid, t.level, status, true);
            }
            if let Some(rec) = self.tiers.get_mut(&(qid, aid)) {
                rec.level = t.level;
                rec.position = t.position;
                rec.standby = standby;
            }
        } else {
            self.tiers.insert((qid, aid), TierRec { level: t.level, position: t.position, standby, state: TierState::Ready, key: None });
            if let Some(a) = self.agents.get_mut(&aid) {
                a.queues.insert(qid);
            }
            if let Some(q) = self.queues.get_mut(&qid) {
                q.agents.insert(aid);
                if is_present(status) {
                    q.present += 1;
                }
            }
            new_level = self.level_counts(qid, t.level, status, true);
            self.presence_changed(qid, now);
        }
        if new_level {
            self.reschedule_tier_timers(qid, now);
        }
        self.dirty.insert(qid);
        self.rekey_agent(aid, now);
        self.dispatch(now);
        Ok(())
    }

    /// Remove a tier.
    pub fn remove_tier(&mut self, now: Instant, queue: &str, agent: &str) -> Result<(), Error> {
        self.touch(now);
        let qid = *self.queue_ids.get(queue).ok_or(Error::NoQueue)?;
        let aid = *self.agent_ids.get(agent).ok_or(Error::NoAgent)?;
        if !self.tiers.contains_key(&(qid, aid)) {
            return Err(Error::NoTier);
        }
        self.detach_tier(qid, aid, now);
        self.dispatch(now);
        Ok(())
    }

    /// Set an agent's status (login = Available, logout = Logged Out,
    /// break = On Break). Going Available resets the state to Waiting when
    /// Idle. Logging out or going on break cancels a ringing offer.
    ///
    /// Going Available (or On Demand) from another status also resets the
    /// agent's `no_answer_count` (the agent is back after a no-answer break).
    pub fn set_agent_status(&mut self, now: Instant, agent: &str, status: AgentStatus) -> Result<(), Error> {
        self.touch(now);
        let aid = *self.agent_ids.get(agent).ok_or(Error::NoAgent)?;
        if let Some(a) = self.agents.get_mut(&aid) {
            if is_avail(status) && !is_avail(a.status) {
                a.no_answer_count = 0;
            }
        }
        self.set_status(aid, status, now);
        if is_avail(status) && self.agents.get(&aid).is_some_and(|a| a.state == AgentState::Idle) {
            self.set_state(aid, AgentState::Waiting);
        }
        self.refresh_agent(aid, now);
        self.dispatch(now);
        Ok(())
    }

    /// Set an agent's state to Waiting or Idle (On Demand agents say when
    /// they are ready again). Other states are the engine's.
    ///
    /// Ignored (Ok) when the requested state is not Waiting/Idle or the
    /// agent is Receiving or In a queue call.
    pub fn set_agent_state(&mut self, now: Instant, agent: &str, state: AgentState) -> Result<(), Error> {
        self.touch(now);
        let aid = *self.agent_ids.get(agent).ok_or(Error::NoAgent)?;
        let cur = self.agents.get(&aid).map(|a| a.state).ok_or(Error::NoAgent)?;
        let settable = |s: AgentState| matches!(s, AgentState::Waiting | AgentState::Idle);
        if settable(state) && settable(cur) {
            self.set_state(aid, state);
            self.refresh_agent(aid, now);
            self.dispatch(now);
        }
        Ok(())
    }

    /// The agent is (or is no longer) on a call that is not a queue call:
    /// dispatch skips it meanwhile.
    pub fn set_agent_busy(&mut self, now: Instant, agent: &str, busy: bool) -> Result<(), Error> {
        self.touch(now);
        let aid = *self.agent_ids.get(agent).ok_or(Error::NoAgent)?;
        if let Some(a) = self.agents.get_mut(&aid) {
            a.busy = busy;
        }
        self.refresh_agent(aid, now);
        self.dispatch(now);
        Ok(())
    }

    // ---- members ------------------------------------------------------

    /// A caller enters `queue`.
    ///
    /// A call that is waiting or bridged (bridge not yet ended) cannot join.
    pub fn join(&mut self, now: Instant, queue: &str, m: MemberInfo) -> Result<Joined, JoinError> {
        self.touch(now);
        let epoch = self.epoch.unwrap_or(now);
        let qid = *self.queue_ids.get(queue).ok_or(JoinError::NoQueue)?;
        if self.waiting.contains_key(&m.call_id) || self.bridged.contains_key(&m.call_id) {
            return Err(JoinError::AlreadyWaiting);
        }
        let mid = self.fresh_id();
        let q = self.queues.get_mut(&qid).ok_or(JoinError::NoQueue)?;
        let discard = q.cfg.discard_abandoned_after;
        let resume = if q.cfg.abandoned_resume_allowed && discard > 0 {
            q.abandoned.get(&m.caller_number).filter(|a| now <= plus(a.at, discard)).map(|a| (a.key, a.joined))
        } else {
            None
        };
        let (key, joined) = resume.unwrap_or_else(|| {
            let start = match q.cfg.time_base_score {
                TimeBase::Queue => now,
                TimeBase::System => m.call_start,
            };
            ((rel(epoch, start) - i128::from(m.base_score) * 1_000_000_000, mid), now)
        });
        let waiting = q.members.len();
        let ahead = waiting - q.members.range(key..).count();
        let fallback = q.cfg.fallback.clone();
        if q.cfg.dissuade_max_waiting > 0 && waiting as u64 >= u64::from(q.cfg.dissuade_max_waiting) {
            return Err(JoinError::Dissuaded { fallback });
        }
        if q.cfg.dissuade_max_wait_estimate > 0 && q.estimate(ahead) > u64::from(q.cfg.dissuade_max_wait_estimate) {
            return Err(JoinError::Dissuaded { fallback });
        }
        if resume.is_some() {
            q.abandoned.remove(&m.caller_number);
        }
        let position = u32::try_from(ahead + 1).unwrap_or(u32::MAX);
        q.members.insert(key, mid);
        q.offerable.insert(key, mid);
        q.by_join.insert((joined, mid));
        let max_wait = q.cfg.max_wait_time;
        let mwtwna = q.cfg.max_wait_time_with_no_agent;
        let reached_grace = q.cfg.max_wait_time_with_no_agent_time_reached;
        let no_agent_since = q.no_agent_since;
        let queue_name = q.cfg.name.clone();
        self.actions.push_back(Action::Event(Event::MemberJoined {
            queue: queue_name.clone(),
            call_id: m.call_id.clone(),
            caller_number: m.caller_number.clone(),
            position,
        }));
        self.waiting.insert(m.call_id.clone(), mid);
        self.members.insert(
            mid,
            Member { queue: qid, queue_name, info: m, key, joined, position, offers: Vec::new(), bridged: None, timers: Vec::new(), tier_timer: None, prog_timer: None },
        );
        if max_wait > 0 {
            let k = self.schedule(plus(joined, max_wait).max(now), Timer::MaxWait(mid));
            self.member_timer(mid, k);
        }
        if let (Some(since), true) = (no_agent_since, mwtwna > 0) {
            let reached = now >= plus(since, mwtwna);
            let at = if reached && reached_grace > 0 { plus(now, reached_grace) } else { plus(joined.max(since), mwtwna) };
            let k = self.schedule(at.max(now), Timer::NoAgentMember(mid, since));
            self.member_timer(mid, k);
        }
        if let Some(freq) = self.queues.get(&qid).filter(|q| q.cfg.announce.is_some()).map(|q| q.cfg.announce_frequency).filter(|f| *f > 0) {
            let k = self.schedule(plus(now, freq), Timer::Announce(mid));
            self.member_timer(mid, k);
        }
        self.schedule_tier_timer(mid, now);
        self.dirty.insert(qid);
        self.dispatch(now);
        Ok(Joined { position, resumed: resume.is_some() })
    }

    /// The member's caller hung up (while waiting or being offered):
    /// offers are cancelled; the member is remembered for
    /// `discard_abandoned_after`. After a bridge, use [`Engine::bridge_ended`].
    ///
    /// Leniency: for a bridged member this acts as [`Engine::bridge_ended`].
    pub fn leave(&mut self, now: Instant, call_id: &str) -> Result<(), Error> {
        self.touch(now);
        if self.bridged.contains_key(call_id) {
            return self.bridge_ended(now, call_id);
        }
        let mid = *self.waiting.get(call_id).ok_or(Error::NoMember)?;
        self.remove_waiting(mid, now, ExitCause::Abandoned);
        self.dispatch(now);
        Ok(())
    }

    // ---- offers -------------------------------------------------------

    /// The agent answered: it is bridged to the member; every other offer
    /// for that member is cancelled.
    pub fn offer_answered(&mut self, now: Instant, offer: OfferId) -> Result<(), Error> {
        self.touch(now);
        let o = self.end_offer(offer).ok_or(Error::NoOffer)?;
        // Taken out first: cancelling one by one from the member's list
        // would be quadratic for ring-all.
        let others: Vec<OfferId> = self.members.get_mut(&o.member).map(|m| std::mem::take(&mut m.offers)).unwrap_or_default();
        for other in others {
            self.cancel_offer(other, now, true);
        }
        let Some(m) = self.members.get_mut(&o.member) else { return Err(Error::NoMember) };
        let wait = now.saturating_duration_since(m.joined);
        m.bridged = Some((o.agent, now));
        let call_id = m.info.call_id.clone();
        let queue_name = m.queue_name.clone();
        let key = m.key;
        let joined = m.joined;
        let timers = std::mem::take(&mut m.timers);
        let extra = [m.tier_timer.take(), m.prog_timer.take()];
        for k in timers.into_iter().chain(extra.into_iter().flatten()) {
            self.timers.remove(&k);
        }
        if let Some(q) = self.queues.get_mut(&o.queue) {
            q.members.remove(&key);
            q.offerable.remove(&key);
            q.by_join.remove(&(joined, o.member));
            q.answered += 1;
            if wait <= SL_THRESHOLD {
                q.answered_in_sl += 1;
            }
        }
        self.waiting.remove(&call_id);
        self.bridged.insert(call_id.clone(), o.member);
        let mut agent_name = String::new();
        if let Some(a) = self.agents.get_mut(&o.agent) {
            a.bridge = Some(o.member);
            a.calls_answered += 1;
            a.no_answer_count = 0;
            agent_name = a.name.clone();
        }
        self.set_state(o.agent, AgentState::InQueueCall);
        if let Some(t) = self.tiers.get_mut(&(o.queue, o.agent)) {
            t.state = TierState::ActiveInbound;
        }
        self.actions.push_back(Action::Event(Event::Bridged { queue: queue_name.clone(), agent: agent_name.clone(), call_id: call_id.clone() }));
        self.actions.push_back(Action::Event(Event::MemberLeft { queue: queue_name, call_id, cause: ExitCause::Answered, wait_ms: ms(wait), agent: Some(agent_name) }));
        self.refresh_agent(o.agent, now);
        self.dispatch(now);
        Ok(())
    }

    /// The offer failed; penalties and delays apply and the member is
    /// offered again per strategy.
    pub fn offer_failed(&mut self, now: Instant, offer: OfferId, why: OfferFailure) -> Result<(), Error> {
        self.touch(now);
        if !self.offers.contains_key(&offer) {
            return Err(Error::NoOffer);
        }
        self.fail_offer(offer, why, now);
        self.dispatch(now);
        Ok(())
    }

    /// The bridged call of member `call_id` ended: counters, wrap-up.
    pub fn bridge_ended(&mut self, now: Instant, call_id: &str) -> Result<(), Error> {
        self.touch(now);
        let mid = self.bridged.remove(call_id).ok_or(Error::NoMember)?;
        let m = self.members.remove(&mid).ok_or(Error::NoMember)?;
        let Some((aid, since)) = m.bridged else { return Err(Error::NoMember) };
        let talk = now.saturating_duration_since(since);
        let wall = self.wall.map(|(t, w)| i128::from(w) + rel(t, now) / 1_000_000);
        let mut agent_name = String::new();
        let mut removed = false;
        if let Some(a) = self.agents.get_mut(&aid) {
            agent_name = a.name.clone();
            a.bridge = None;
            a.talk_time = a.talk_time.saturating_add(talk.as_secs());
            a.last_bridge_end = Some(now);
            if let Some(w) = wall {
                a.last_bridge_end_ms = u64::try_from(w.max(0)).unwrap_or(0);
            }
            removed = a.removed;
        }
        if let Some(q) = self.queues.get_mut(&m.queue) {
            let t = ms(talk);
            q.talk.push_back(t);
            q.talk_sum += t;
            if q.talk.len() > TALK_HISTORY {
                if let Some(old) = q.talk.pop_front() {
                    q.talk_sum -= old;
                }
            }
        }
        self.actions.push_back(Action::Event(Event::BridgeEnded { queue: m.queue_name, agent: agent_name, call_id: m.info.call_id, talk_ms: ms(talk) }));
        if removed {
            self.drop_agent(aid);
        } else {
            let on_demand = self.agents.get(&aid).is_some_and(|a| a.status == AgentStatus::AvailableOnDemand);
            self.set_state(aid, if on_demand { AgentState::Idle } else { AgentState::Waiting });
            if let Some(t) = self.tiers.get_mut(&(m.queue, aid)) {
                t.state = TierState::Ready;
            }
            self.refresh_agent(aid, now);
        }
        self.dispatch(now);
        Ok(())
    }

    // ---- driving ------------------------------------------------------

    /// Next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Earliest deadline (timeouts, wrap-up ends, delays, tier-rule waits,
    /// ring-progressively steps, abandoned-member expiry).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.keys().next().map(|k| k.0)
    }

    /// Run what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
        loop {
            while let Some(entry) = self.timers.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let ((at, _), timer) = entry.remove_entry();
                self.fire(timer, at, now);
            }
            self.dispatch(now);
            if self.timers.keys().next().is_none_or(|k| k.0 > now) {
                break;
            }
        }
    }

    // ---- views --------------------------------------------------------

    /// Queue configurations.
    pub fn queues(&self) -> Vec<QueueConfig> {
        self.queue_ids.values().filter_map(|id| self.queues.get(id)).map(|q| q.cfg.clone()).collect()
    }

    /// One queue's configuration.
    pub fn queue(&self, name: &str) -> Option<&QueueConfig> {
        self.queue_ids.get(name).and_then(|id| self.queues.get(id)).map(|q| &q.cfg)
    }

    /// Agents.
    pub fn agents(&self) -> Vec<AgentView> {
        self.agent_ids.values().filter_map(|id| self.agent_view(*id)).collect()
    }

    /// One agent.
    pub fn agent(&self, name: &str) -> Option<AgentView> {
        self.agent_ids.get(name).and_then(|id| self.agent_view(*id))
    }

    /// Tiers (configured state, or the engine's current one).
    pub fn tiers(&self) -> Vec<Tier> {
        let mut out: Vec<Tier> = self
            .tiers
            .iter()
            .filter_map(|((qid, aid), t)| {
                let q = self.queues.get(qid)?;
                let a = self.agents.get(aid)?;
                Some(Tier {
                    queue: q.cfg.name.clone(),
                    agent: a.name.clone(),
                    level: t.level,
                    position: t.position,
                    state: if t.standby { TierState::Standby } else { t.state },
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.queue, a.level, a.position, &a.agent).cmp(&(&b.queue, b.level, b.position, &b.agent)));
        out
    }

    /// A queue's waiting members, in service order.
    pub fn members(&self, now: Instant, queue: &str) -> Vec<MemberView> {
        let Some(q) = self.queue_ids.get(queue).and_then(|id| self.queues.get(id)) else { return Vec::new() };
        let epoch = self.epoch.unwrap_or(now);
        let now_rel = rel(epoch, now);
        q.members
            .iter()
            .enumerate()
            .filter_map(|(i, (key, mid))| {
                let m = self.members.get(mid)?;
                let score = (now_rel - key.0).div_euclid(1_000_000_000);
                Some(MemberView {
                    call_id: m.info.call_id.clone(),
                    caller_number: m.info.caller_number.clone(),
                    wait_ms: ms(now.saturating_duration_since(m.joined)),
                    score: i64::try_from(score).unwrap_or(if score < 0 { i64::MIN } else { i64::MAX }),
                    position: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    offered_to: m
                        .offers
                        .iter()
                        .filter_map(|o| self.offers.get(o))
                        .filter_map(|o| self.agents.get(&o.agent))
                        .map(|a| a.name.clone())
                        .collect(),
                })
            })
            .collect()
    }

    /// A queue's statistics.
    pub fn stats(&self, now: Instant, queue: &str) -> Option<QueueStats> {
        let q = self.queue_ids.get(queue).and_then(|id| self.queues.get(id))?;
        let mut s = QueueStats {
            queue: q.cfg.name.clone(),
            waiting: u32::try_from(q.members.len()).unwrap_or(u32::MAX),
            longest_wait_ms: q.by_join.iter().next().map_or(0, |(j, _)| ms(now.saturating_duration_since(*j))),
            answered: q.answered,
            abandoned: q.abandoned_count,
            timed_out: q.timed_out,
            estimated_wait: q.estimate(q.members.len()),
            ..QueueStats::default()
        };
        for a in q.agents.iter().filter_map(|id| self.agents.get(id)) {
            match a.status {
                AgentStatus::Available => s.agents_available += 1,
                AgentStatus::AvailableOnDemand => s.agents_on_demand += 1,
                AgentStatus::OnBreak => s.agents_on_break += 1,
                AgentStatus::LoggedOut => s.agents_logged_out += 1,
            }
            if a.bridge.is_some() {
                s.agents_in_call += 1;
            }
        }
        let denom = q.answered + q.abandoned_after_sl;
        s.service_level = if denom == 0 { 1.0 } else { q.answered_in_sl as f64 / denom as f64 };
        Some(s)
    }

    /// The queue a waiting member is in, its wait so far and its position
    /// at entry (for CDRs).
    ///
    /// Also answers for a bridged member (its wait until the answer).
    pub fn member_of(&self, now: Instant, call_id: &str) -> Option<(String, u64, u32)> {
        let mid = self.waiting.get(call_id).or_else(|| self.bridged.get(call_id))?;
        let m = self.members.get(mid)?;
        let end = m.bridged.map_or(now, |(_, t)| t);
        Some((m.queue_name.clone(), ms(end.saturating_duration_since(m.joined)), m.position))
    }

    // ---- internals: bookkeeping -----------------------------------------

    fn touch(&mut self, now: Instant) {
        self.epoch.get_or_insert(now);
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn next_rand(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn schedule(&mut self, at: Instant, t: Timer) -> TKey {
        let k = (at, self.next_timer);
        self.next_timer += 1;
        self.timers.insert(k, t);
        k
    }

    fn member_timer(&mut self, mid: MId, k: TKey) {
        if let Some(m) = self.members.get_mut(&mid) {
            m.timers.push(k);
        }
    }

    /// Create or update an agent's configuration; returns its id.
    fn agent_entry(&mut self, cfg: AgentConfig, now: Instant) -> AId {
        if let Some(&aid) = self.agent_ids.get(&cfg.name) {
            if let Some(a) = self.agents.get_mut(&aid) {
                a.cfg = cfg;
            }
            self.rekey_agent(aid, now);
            return aid;
        }
        let aid = self.fresh_id() as AId;
        self.agent_ids.insert(cfg.name.clone(), aid);
        self.agents.insert(
            aid,
            Agent {
                name: cfg.name.clone(),
                cfg,
                status: AgentStatus::LoggedOut,
                state: AgentState::Waiting,
                busy: false,
                calls_answered: 0,
                talk_time: 0,
                no_answer_count: 0,
                last_bridge_end_ms: 0,
                last_bridge_end: None,
                ready_time: None,
                offer: None,
                bridge: None,
                queues: BTreeSet::new(),
                removed: false,
                ready_timer: None,
            },
        );
        aid
    }

    fn drop_agent(&mut self, aid: AId) {
        if let Some(a) = self.agents.remove(&aid) {
            if let Some(k) = a.ready_timer {
                self.timers.remove(&k);
            }
        }
    }

    fn agent_view(&self, aid: AId) -> Option<AgentView> {
        let a = self.agents.get(&aid)?;
        let member = a.offer.and_then(|o| self.offers.get(&o)).map(|o| o.member).or(a.bridge);
        Some(AgentView {
            config: a.cfg.clone(),
            status: a.status,
            state: a.state,
            busy: a.busy,
            counters: AgentCounters {
                calls_answered: a.calls_answered,
                talk_time: a.talk_time,
                no_answer_count: a.no_answer_count,
                last_bridge_end_ms: a.last_bridge_end_ms,
            },
            call_id: member.and_then(|m| self.members.get(&m)).map(|m| m.info.call_id.clone()),
        })
    }

    /// Count a tier at `level` in (or out of) the queue's level indexes.
    /// Returns true when the level is new to the queue.
    fn level_counts(&mut self, qid: QId, level: u32, status: AgentStatus, add: bool) -> bool {
        let Some(q) = self.queues.get_mut(&qid) else { return false };
        let bump = |map: &mut BTreeMap<u32, u32>| {
            let e = map.entry(level).or_insert(0);
            let was = *e;
            if add {
                *e += 1;
            } else {
                *e = e.saturating_sub(1);
            }
            if *e == 0 {
                map.remove(&level);
            }
            was == 0 && add
        };
        let new = bump(&mut q.levels);
        if is_avail(status) {
            bump(&mut q.avail_levels);
            self.dirty.insert(qid);
        }
        new
    }

    /// Remove a tier: cancels a ringing offer from that queue, updates counts.
    fn detach_tier(&mut self, qid: QId, aid: AId, now: Instant) {
        let offer = self.agents.get(&aid).and_then(|a| a.offer);
        if let Some(o) = offer {
            if self.offers.get(&o).is_some_and(|o| o.queue == qid) {
                self.cancel_offer(o, now, true);
            }
        }
        let Some(t) = self.tiers.remove(&(qid, aid)) else { return };
        let status = self.agents.get(&aid).map_or(AgentStatus::LoggedOut, |a| a.status);
        self.level_counts(qid, t.level, status, false);
        if let Some(a) = self.agents.get_mut(&aid) {
            a.queues.remove(&qid);
        }
        if let Some(q) = self.queues.get_mut(&qid) {
            if let Some(k) = t.key {
                q.eligible.remove(&k);
            }
            q.agents.remove(&aid);
            if is_present(status) {
                q.present = q.present.saturating_sub(1);
            }
        }
        self.presence_changed(qid, now);
    }

    /// Track the no-agent period of a queue after its present count changed.
    fn presence_changed(&mut self, qid: QId, now: Instant) {
        let Some(q) = self.queues.get_mut(&qid) else { return };
        if q.present > 0 {
            q.no_agent_since = None;
        } else if q.no_agent_since.is_none() {
            q.no_agent_since = Some(now);
            let mwtwna = q.cfg.max_wait_time_with_no_agent;
            if mwtwna > 0 {
                self.schedule(plus(now, mwtwna), Timer::NoAgentQueue(qid, now));
            }
        }
    }

    fn set_state(&mut self, aid: AId, state: AgentState) {
        let Some(a) = self.agents.get_mut(&aid) else { return };
        if a.state != state {
            a.state = state;
            self.actions.push_back(Action::Event(Event::AgentStateChanged { agent: a.name.clone(), state }));
        }
    }

    fn set_status(&mut self, aid: AId, status: AgentStatus, now: Instant) {
        let Some(a) = self.agents.get_mut(&aid) else { return };
        let old = a.status;
        if old == status {
            return;
        }
        a.status = status;
        let name = a.name.clone();
        let queues: Vec<QId> = a.queues.iter().copied().collect();
        for qid in queues {
            let Some(level) = self.tiers.get(&(qid, aid)).map(|t| t.level) else { continue };
            if let Some(q) = self.queues.get_mut(&qid) {
                if is_present(old) != is_present(status) {
                    if is_present(status) {
                        q.present += 1;
                    } else {
                        q.present = q.present.saturating_sub(1);
                    }
                }
                if is_avail(old) != is_avail(status) {
                    let e = q.avail_levels.entry(level).or_insert(0);
                    if is_avail(status) {
                        *e += 1;
                    } else {
                        *e = e.saturating_sub(1);
                    }
                    if *e == 0 {
                        q.avail_levels.remove(&level);
                    }
                    self.dirty.insert(qid);
                }
            }
            self.presence_changed(qid, now);
        }
        self.actions.push_back(Action::Event(Event::AgentStatusChanged { agent: name, status }));
        if !is_avail(status) {
            if let Some(o) = self.agents.get(&aid).and_then(|a| a.offer) {
                self.cancel_offer(o, now, true);
            }
        } else if self.agents.get(&aid).is_some_and(|a| a.state == AgentState::Idle) {
            self.set_state(aid, AgentState::Waiting);
        }
    }

    /// Re-key the agent in every queue (its ordering metrics or tier changed).
    fn rekey_agent(&mut self, aid: AId, now: Instant) {
        let Some(a) = self.agents.get(&aid) else { return };
        for qid in &a.queues {
            if let (Some(q), Some(t)) = (self.queues.get_mut(qid), self.tiers.get_mut(&(*qid, aid))) {
                if let Some(k) = t.key.take() {
                    q.eligible.remove(&k);
                }
            }
        }
        self.refresh_agent(aid, now);
    }

    /// Recompute the agent's eligibility in each of its queues and keep the
    /// eligible indexes up to date; schedule a timer for when a delay or
    /// wrap-up ends.
    fn refresh_agent(&mut self, aid: AId, now: Instant) {
        let Some(a) = self.agents.get(&aid) else { return };
        let epoch = self.epoch.unwrap_or(now);
        let base_ok = !a.removed && is_avail(a.status) && a.state == AgentState::Waiting && !a.busy && a.offer.is_none() && a.bridge.is_none();
        let mut at = a.ready_time.filter(|t| *t > now);
        if let Some(end) = a.last_bridge_end {
            let w = plus(end, a.cfg.wrap_up_time);
            if w > now {
                at = at.max(Some(w));
            }
        }
        let ready = base_ok && at.is_none();
        for qid in &a.queues {
            let (Some(q), Some(t)) = (self.queues.get_mut(qid), self.tiers.get_mut(&(*qid, aid))) else { continue };
            let want = if ready && !t.standby && has_skills(&a.cfg.skills, &q.cfg.skills) {
                let s = q.cfg.strategy;
                let by_metric = matches!(s, Strategy::LongestIdleAgent | Strategy::AgentWithLeastTalkTime | Strategy::AgentWithFewestCalls);
                let major = if by_metric && !q.cfg.tier_rules_apply { 0 } else { t.level };
                let metric = match s {
                    Strategy::LongestIdleAgent => a.last_bridge_end.map_or(i128::MIN, |e| rel(epoch, e)),
                    Strategy::AgentWithLeastTalkTime => i128::from(a.talk_time),
                    Strategy::AgentWithFewestCalls => i128::from(a.calls_answered),
                    _ => 0,
                };
                Some((major, metric, t.level, t.position, aid))
            } else {
                None
            };
            if want.is_some() && t.state == TierState::NoAnswer {
                t.state = TierState::Ready;
            }
            if t.key != want {
                if let Some(k) = t.key {
                    q.eligible.remove(&k);
                }
                if let Some(k) = want {
                    q.eligible.insert(k);
                    self.dirty.insert(*qid);
                }
                t.key = want;
            }
        }
        let old_timer = a.ready_timer;
        let want_timer = if base_ok { at } else { None };
        if old_timer.map(|k| k.0) != want_timer {
            if let Some(k) = old_timer {
                self.timers.remove(&k);
            }
            let k = want_timer.map(|t| self.schedule(t, Timer::AgentReady(aid)));
            if let Some(a) = self.agents.get_mut(&aid) {
                a.ready_timer = k;
            }
        }
    }

    /// Rebuild a queue's indexes after its configuration changed.
    fn rebuild_queue(&mut self, qid: QId, now: Instant) {
        let Some(q) = self.queues.get_mut(&qid) else { return };
        let strategy = q.cfg.strategy;
        let agents: Vec<AId> = q.agents.iter().copied().collect();
        let mids: Vec<MId> = q.members.values().copied().collect();
        q.offerable.clear();
        for mid in &mids {
            if let Some(m) = self.members.get(mid) {
                if m.offers.is_empty() || strategy == Strategy::RingAll {
                    q.offerable.insert(m.key, *mid);
                }
            }
        }
        let cfg = q.cfg.clone();
        for aid in agents {
            self.rekey_agent(aid, now);
        }
        if let Some(since) = self.queues.get(&qid).and_then(|q| q.no_agent_since) {
            if cfg.max_wait_time_with_no_agent > 0 {
                let at = plus(since, cfg.max_wait_time_with_no_agent).max(now);
                self.schedule(at, Timer::NoAgentQueue(qid, since));
                for mid in &mids {
                    let Some(joined) = self.members.get(mid).map(|m| m.joined) else { continue };
                    if joined > since {
                        let k = self.schedule(plus(joined, cfg.max_wait_time_with_no_agent).max(now), Timer::NoAgentMember(*mid, since));
                        self.member_timer(*mid, k);
                    }
                }
            }
        }
        if cfg.max_wait_time > 0 {
            for mid in &mids {
                let Some(joined) = self.members.get(mid).map(|m| m.joined) else { continue };
                let k = self.schedule(plus(joined, cfg.max_wait_time).max(now), Timer::MaxWait(*mid));
                self.member_timer(*mid, k);
            }
        }
        self.reschedule_tier_timers(qid, now);
        self.dirty.insert(qid);
    }

    fn reschedule_tier_timers(&mut self, qid: QId, now: Instant) {
        let Some(q) = self.queues.get(&qid) else { return };
        if !q.cfg.tier_rules_apply {
            return;
        }
        let mids: Vec<MId> = q.members.values().copied().collect();
        for mid in mids {
            self.schedule_tier_timer(mid, now);
        }
    }

    /// Schedule the member's next tier-rule deadline (the next time it
    /// becomes offerable to one more level).
    fn schedule_tier_timer(&mut self, mid: MId, now: Instant) {
        let Some(m) = self.members.get(&mid) else { return };
        let Some(q) = self.queues.get(&m.queue) else { return };
        let old = m.tier_timer;
        let next = if q.cfg.tier_rules_apply && q.cfg.tier_rule_wait_second > 0 {
            let low = q.lowest_level();
            q.levels
                .keys()
                .filter(|l| Some(**l) != low)
                .filter_map(|l| m.joined.checked_add(q.level_wait(*l)))
                .filter(|t| *t > now)
                .min()
        } else {
            None
        };
        if old.map(|k| k.0) == next {
            return;
        }
        if let Some(k) = old {
            self.timers.remove(&k);
        }
        let k = next.map(|t| self.schedule(t, Timer::TierWait(mid)));
        if let Some(m) = self.members.get_mut(&mid) {
            m.tier_timer = k;
        }
    }

    // ---- internals: offers ------------------------------------------------

    /// Forget an offer (agent and member side); returns it.
    fn end_offer(&mut self, id: OfferId) -> Option<Offer> {
        let o = self.offers.remove(&id)?;
        if let Some(k) = o.ring_timer {
            self.timers.remove(&k);
        }
        if let Some(a) = self.agents.get_mut(&o.agent) {
            if a.offer == Some(id) {
                a.offer = None;
            }
        }
        if let Some(m) = self.members.get_mut(&o.member) {
            m.offers.retain(|x| *x != id);
        }
        Some(o)
    }

    /// A member lost an offer: make it offerable again if it has none left.
    fn member_reofferable(&mut self, mid: MId) {
        let Some(m) = self.members.get(&mid) else { return };
        if m.bridged.is_some() {
            return;
        }
        let Some(q) = self.queues.get_mut(&m.queue) else { return };
        if m.offers.is_empty() || q.cfg.strategy == Strategy::RingAll {
            q.offerable.insert(m.key, mid);
            self.dirty.insert(m.queue);
        }
    }

    /// Cancel an offer with no penalty (another agent answered, the member
    /// left, the agent logged out).
    fn cancel_offer(&mut self, id: OfferId, now: Instant, emit: bool) {
        let Some(o) = self.end_offer(id) else { return };
        if emit {
            let call_id = self.members.get(&o.member).map(|m| m.info.call_id.clone()).unwrap_or_default();
            let agent = self.agents.get(&o.agent).map(|a| a.name.clone()).unwrap_or_default();
            self.actions.push_back(Action::CancelOffer { offer: id, call_id, agent });
        }
        if let Some(t) = self.tiers.get_mut(&(o.queue, o.agent)) {
            t.state = TierState::Ready;
        }
        self.set_state(o.agent, AgentState::Waiting);
        self.refresh_agent(o.agent, now);
        self.member_reofferable(o.member);
    }

    fn fail_offer(&mut self, id: OfferId, why: OfferFailure, now: Instant) {
        let Some(o) = self.end_offer(id) else { return };
        let (no_answer_status, max_reached) = {
            let status = self.queues.get(&o.queue).map_or(AgentStatus::OnBreak, |q| q.cfg.no_answer_status);
            let Some(a) = self.agents.get_mut(&o.agent) else { return };
            let delay = match why {
                OfferFailure::NoAnswer | OfferFailure::Unreachable => {
                    a.no_answer_count = a.no_answer_count.saturating_add(1);
                    a.cfg.no_answer_delay_time
                }
                OfferFailure::Busy => a.cfg.busy_delay_time,
                OfferFailure::Rejected => a.cfg.reject_delay_time,
            };
            a.ready_time = Some(plus(now, delay));
            let no_answer = matches!(why, OfferFailure::NoAnswer | OfferFailure::Unreachable);
            (status, no_answer && a.cfg.max_no_answer > 0 && a.no_answer_count >= a.cfg.max_no_answer)
        };
        if let Some(t) = self.tiers.get_mut(&(o.queue, o.agent)) {
            t.state = match why {
                OfferFailure::NoAnswer | OfferFailure::Unreachable => TierState::NoAnswer,
                _ => TierState::Ready,
            };
        }
        self.set_state(o.agent, AgentState::Waiting);
        if max_reached {
            self.set_status(o.agent, no_answer_status, now);
        }
        self.refresh_agent(o.agent, now);
        self.member_reofferable(o.member);
    }

    fn make_offer(&mut self, mid: MId, aid: AId, qid: QId, now: Instant) {
        let Some(q) = self.queues.get_mut(&qid) else { return };
        let Some(m) = self.members.get_mut(&mid) else { return };
        let Some(a) = self.agents.get_mut(&aid) else { return };
        let id = OfferId(self.next_offer);
        self.next_offer += 1;
        let strategy = q.cfg.strategy;
        if strategy != Strategy::RingAll {
            q.offerable.remove(&m.key);
        }
        m.offers.push(id);
        a.offer = Some(id);
        if let Some(t) = self.tiers.get_mut(&(qid, aid)) {
            t.state = TierState::Offering;
            if strategy == Strategy::RoundRobin {
                q.rr_last = Some((t.level, t.position, aid));
            }
        }
        let ring = q.cfg.agent_ring_timeout;
        let prog = q.cfg.ring_progressively_delay;
        self.actions.push_back(Action::Offer {
            offer: id,
            call_id: m.info.call_id.clone(),
            queue: q.cfg.name.clone(),
            agent: a.name.clone(),
            contact: a.cfg.contact.clone(),
            ring_timeout: secs(ring),
        });
        let offering = Event::AgentOffering {
            queue: q.cfg.name.clone(),
            agent: a.name.clone(),
            call_id: m.info.call_id.clone(),
            caller_number: m.info.caller_number.clone(),
            caller_name: m.info.caller_name.clone(),
        };
        let ring_timer = (ring > 0).then(|| self.schedule(plus(now, ring), Timer::Ring(id)));
        self.offers.insert(id, Offer { member: mid, agent: aid, queue: qid, ring_timer });
        self.set_state(aid, AgentState::Receiving);
        self.actions.push_back(Action::Event(offering));
        self.refresh_agent(aid, now);
        if strategy == Strategy::RingProgressively && prog > 0 {
            let k = self.schedule(plus(now, prog), Timer::ProgStep(mid));
            if let Some(m) = self.members.get_mut(&mid) {
                if let Some(old) = m.prog_timer.replace(k) {
                    self.timers.remove(&old);
                }
            }
        }
    }

    // ---- internals: members -----------------------------------------------

    /// Take a waiting member out: cancel its offers, update stats, emit
    /// Exit (unless abandoned) and MemberLeft.
    fn remove_waiting(&mut self, mid: MId, now: Instant, cause: ExitCause) {
        let offers: Vec<OfferId> = match self.members.get(&mid) {
            Some(m) if m.bridged.is_none() => m.offers.clone(),
            _ => return,
        };
        // Take it out of the indexes first so cancelled offers do not make
        // it offerable again.
        let Some(m) = self.members.remove(&mid) else { return };
        self.waiting.remove(&m.info.call_id);
        for k in m.timers.iter().chain(m.tier_timer.iter()).chain(m.prog_timer.iter()) {
            self.timers.remove(k);
        }
        for o in offers {
            if let Some(off) = self.offers.get(&o) {
                let agent = self.agents.get(&off.agent).map(|a| a.name.clone()).unwrap_or_default();
                self.actions.push_back(Action::CancelOffer { offer: o, call_id: m.info.call_id.clone(), agent });
            }
            self.cancel_offer(o, now, false);
        }
        let wait = now.saturating_duration_since(m.joined);
        let mut fallback = None;
        let mut remember = None;
        if let Some(q) = self.queues.get_mut(&m.queue) {
            q.members.remove(&m.key);
            q.offerable.remove(&m.key);
            q.by_join.remove(&(m.joined, mid));
            fallback = q.cfg.fallback.clone();
            match cause {
                ExitCause::Abandoned => {
                    q.abandoned_count += 1;
                    if wait > SL_THRESHOLD {
                        q.abandoned_after_sl += 1;
                    }
                    let discard = q.cfg.discard_abandoned_after;
                    if discard > 0 {
                        q.abandoned.insert(m.info.caller_number.clone(), Abandoned { key: m.key, joined: m.joined, at: now });
                        remember = Some(plus(now, discard));
                    }
                }
                ExitCause::Timeout | ExitCause::NoAgentTimeout => q.timed_out += 1,
                ExitCause::Answered | ExitCause::QueueRemoved => {}
            }
        }
        if let Some(at) = remember {
            self.schedule(at, Timer::AbandonExpire(m.queue, m.info.caller_number.clone(), now));
        }
        if cause != ExitCause::Abandoned {
            self.actions.push_back(Action::Exit { call_id: m.info.call_id.clone(), queue: m.queue_name.clone(), cause, fallback });
        }
        self.actions.push_back(Action::Event(Event::MemberLeft { queue: m.queue_name, call_id: m.info.call_id, cause, wait_ms: ms(wait), agent: None }));
    }

    // ---- internals: timers and dispatch ------------------------------------

    fn fire(&mut self, timer: Timer, at: Instant, now: Instant) {
        match timer {
            Timer::Announce(mid) => {
                let Some(m) = self.members.get(&mid) else { return };
                let Some(q) = self.queues.get(&m.queue) else { return };
                let (Some(prompt), freq) = (q.cfg.announce.clone(), q.cfg.announce_frequency) else { return };
                if m.bridged.is_some() || freq == 0 {
                    return;
                }
                let ahead = q.members.range(..m.key).count();
                self.actions.push_back(Action::Announce {
                    call_id: m.info.call_id.clone(),
                    queue: q.cfg.name.clone(),
                    prompt,
                    position: u32::try_from(ahead + 1).unwrap_or(u32::MAX),
                    estimated_wait: q.estimate(ahead),
                });
                let k = self.schedule(plus(now, freq), Timer::Announce(mid));
                self.member_timer(mid, k);
            }
            Timer::MaxWait(mid) => {
                let Some(m) = self.members.get(&mid) else { return };
                let max = self.queues.get(&m.queue).map_or(0, |q| q.cfg.max_wait_time);
                if m.bridged.is_none() && max > 0 && now >= plus(m.joined, max) {
                    self.remove_waiting(mid, now, ExitCause::Timeout);
                }
            }
            Timer::NoAgentQueue(qid, since) => {
                let Some(q) = self.queues.get(&qid) else { return };
                let mwtwna = q.cfg.max_wait_time_with_no_agent;
                if q.no_agent_since != Some(since) || mwtwna == 0 || now < plus(since, mwtwna) {
                    return;
                }
                let mids: Vec<MId> = q.by_join.range(..=(since, MId::MAX)).map(|(_, m)| *m).collect();
                for mid in mids {
                    self.remove_waiting(mid, now, ExitCause::NoAgentTimeout);
                }
            }
            Timer::NoAgentMember(mid, since) => {
                let Some(m) = self.members.get(&mid) else { return };
                let Some(q) = self.queues.get(&m.queue) else { return };
                if m.bridged.is_none() && q.no_agent_since == Some(since) && q.cfg.max_wait_time_with_no_agent > 0 {
                    self.remove_waiting(mid, now, ExitCause::NoAgentTimeout);
                }
            }
            Timer::Ring(id) => {
                let Some(o) = self.offers.get_mut(&id) else { return };
                o.ring_timer = None;
                let call_id = self.members.get(&o.member).map(|m| m.info.call_id.clone()).unwrap_or_default();
                let agent = self.agents.get(&o.agent).map(|a| a.name.clone()).unwrap_or_default();
                self.actions.push_back(Action::CancelOffer { offer: id, call_id, agent });
                self.fail_offer(id, OfferFailure::NoAnswer, now);
            }
            Timer::AgentReady(aid) => {
                if let Some(a) = self.agents.get_mut(&aid) {
                    if a.ready_timer.is_some_and(|k| k.0 == at) {
                        a.ready_timer = None;
                    }
                }
                self.refresh_agent(aid, now);
            }
            Timer::TierWait(mid) => {
                let Some(m) = self.members.get_mut(&mid) else { return };
                if m.tier_timer.is_some_and(|k| k.0 == at) {
                    m.tier_timer = None;
                }
                self.dirty.insert(m.queue);
                self.schedule_tier_timer(mid, now);
            }
            Timer::ProgStep(mid) => {
                let Some(m) = self.members.get_mut(&mid) else { return };
                if m.prog_timer.is_none_or(|k| k.0 != at) || m.bridged.is_some() {
                    return;
                }
                m.prog_timer = None;
                let key = m.key;
                let qid = m.queue;
                if let Some(q) = self.queues.get_mut(&qid) {
                    if q.cfg.strategy == Strategy::RingProgressively {
                        q.offerable.insert(key, mid);
                        self.dirty.insert(qid);
                    }
                }
            }
            Timer::AbandonExpire(qid, caller, when) => {
                if let Some(q) = self.queues.get_mut(&qid) {
                    if q.abandoned.get(&caller).is_some_and(|a| a.at == when) {
                        q.abandoned.remove(&caller);
                    }
                }
            }
        }
    }

    /// Dispatch every queue whose members or eligible agents changed, the
    /// queue with the best-placed member first.
    fn dispatch(&mut self, now: Instant) {
        while !self.dirty.is_empty() {
            let dirty = std::mem::take(&mut self.dirty);
            let mut order: Vec<(MKey, QId)> = dirty
                .into_iter()
                .filter_map(|qid| {
                    let q = self.queues.get(&qid)?;
                    if q.eligible.is_empty() {
                        return None;
                    }
                    q.offerable.keys().next().map(|k| (*k, qid))
                })
                .collect();
            order.sort_unstable();
            for (_, qid) in order {
                self.dispatch_queue(qid, now);
            }
        }
    }

    /// Offer the queue's offerable members, best first, to its eligible
    /// agents per strategy, until either runs out.
    fn dispatch_queue(&mut self, qid: QId, now: Instant) {
        let mut cursor: Option<MKey> = None;
        loop {
            let Some(q) = self.queues.get(&qid) else { return };
            let Some(&first) = q.eligible.iter().next() else { return };
            let tier_rules = q.cfg.tier_rules_apply;
            if tier_rules {
                // No member can be offered if even the oldest one cannot.
                let Some(&(oldest, _)) = q.by_join.iter().next() else { return };
                if !q.level_allowed(now.saturating_duration_since(oldest), first.2) {
                    return;
                }
            }
            let next = match cursor {
                None => q.offerable.iter().next(),
                Some(c) => q.offerable.range((Excluded(c), Unbounded)).next(),
            };
            let Some((&mk, &mid)) = next else { return };
            cursor = Some(mk);
            let Some(m) = self.members.get(&mid) else { continue };
            let waited = now.saturating_duration_since(m.joined);
            if tier_rules && !q.level_allowed(waited, first.2) {
                continue;
            }
            let picks: Vec<AId> = match q.cfg.strategy {
                Strategy::RingAll => q.eligible.iter().take_while(|k| q.level_allowed(waited, k.2)).map(|k| k.4).collect(),
                Strategy::RoundRobin => {
                    let lvl = first.0;
                    let after = q.rr_last.filter(|l| l.0 == lvl).and_then(|(l, p, a)| {
                        q.eligible.range((Excluded((l, 0, l, p, a)), Unbounded)).next().filter(|k| k.0 == lvl)
                    });
                    vec![after.unwrap_or(&first).4]
                }
                Strategy::Random => {
                    let lvl = first.0;
                    let group = || q.eligible.range((Included(first), Unbounded)).take_while(move |k| k.0 == lvl);
                    let n = group().count() as u64;
                    let r = self.next_rand() % n.max(1);
                    let Some(q) = self.queues.get(&qid) else { return };
                    let pick = q.eligible.range((Included(first), Unbounded)).nth(usize::try_from(r).unwrap_or(0));
                    vec![pick.unwrap_or(&first).4]
                }
                _ => vec![first.4],
            };
            for aid in picks {
                self.make_offer(mid, aid, qid, now);
            }
        }
    }
}
