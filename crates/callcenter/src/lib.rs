//! Sans-IO call-center queue engine with the semantics of FreeSWITCH's
//! mod_callcenter (queues, agents, tiers, strategies, tier rules,
//! penalties), plus skills and dissuading from OpenSIPS call_center.
//!
//! The engine owns dispatch decisions only: which waiting member is
//! offered to which agent, when, and when a member must leave. It places
//! no calls, plays no audio and reads no clock. The driver (the switch)
//! feeds it what happened and carries out what it asks:
//!
//! ```text
//! loop {
//!     // inputs, each with the current time:
//!     //   join / leave            a caller enters a queue / hangs up
//!     //   offer_answered / offer_failed   the agent's leg answered / failed
//!     //   bridge_ended            the bridged call is over
//!     //   set_agent_status, set_agent_busy, set_queue, set_agent, set_tier ...
//!     //   handle_timeout(now)     when poll_timeout() is reached
//!     while let Some(action) = engine.poll_action() {
//!         // Offer: ring the agent. CancelOffer: stop ringing.
//!         // Exit: take the member out (fallback route or hang up).
//!         // Event: publish (screen pops, agent status ...).
//!     }
//!     // sleep until engine.poll_timeout()
//! }
//! ```
//!
//! Everything is in memory; the driver persists configuration and agent
//! status/counters for restarts and never queries the store per dispatch.
//!
//! What it does not own: SIP, media (music on hold, announcements), the
//! store, the REST API.
//!
//! # Design
//!
//! **Indexes.** Each queue keeps ordered indexes that every state change
//! updates, so a dispatch decision is a couple of `BTreeMap` look-ups
//! (O(log n)) instead of a scan:
//!
//! - `members`: all waiting members by a time-invariant key
//!   `(start − base_score, join sequence)`, where `start` is the join time
//!   (`TimeBase::Queue`) or the call start (`TimeBase::System`). The score
//!   `base_score + seconds since start` grows at the same rate for every
//!   member, so ordering by this key is ordering by score (highest first),
//!   ties in join order; `MemberView::score` is derived from it.
//! - `offerable`: the subset that may receive an offer now (not being
//!   offered; for ring-all always; for ring-progressively also when its
//!   next step is due).
//! - `eligible`: the agents that may be offered a member of this queue now
//!   (status Available / On Demand, state Waiting, not busy, no offer or
//!   bridge, delays and wrap-up over, tier not Standby, all the queue's
//!   skills), keyed `(major level, metric, level, position, agent)` where
//!   the metric is the strategy's (last bridge end for longest-idle, talk
//!   time, answered calls; 0 for the tier-order strategies) and the major
//!   level is the tier level except for the metric strategies without tier
//!   rules. An agent in several queues sits in each queue's index and
//!   leaves all of them the moment it is offered.
//! - `by_join` (join time: tier-rule waits and no-agent timeouts) and
//!   per-level counts of tiers and of Available agents (lowest level,
//!   `tier_rule_no_agent_no_wait`), and the count of present agents.
//!
//! Every input marks the queues it may affect dirty; after the input the
//! engine dispatches dirty queues (the one with the best-placed member
//! first): take the best offerable member, take the first eligible agent
//! the strategy and tier rules allow (round-robin continues after the last
//! agent offered within the lowest eligible level; random picks uniformly
//! within the lowest eligible level from the engine's splitmix64
//! generator), offer, repeat until either index is empty. With tier rules
//! allowed levels shrink monotonically with the level, so a member that
//! cannot have the first eligible agent cannot have any; if the oldest
//! member cannot, nobody can and dispatch stops at once.
//!
//! **Timers.** One `BTreeMap<(Instant, seq), Timer>` table; `poll_timeout`
//! is its first key. Timers: max wait, no-agent (one per queue for members
//! already waiting when the last agent left, one per member joining
//! later), ring timeout, agent ready (end of the later of a
//! reject/busy/no-answer delay and wrap-up), tier-rule level waits (the
//! member's next level threshold, rescheduled when it fires),
//! ring-progressively steps and abandoned-member expiry. Timers whose
//! owner goes away are removed eagerly where the key is at hand (offers,
//! members, agents) and every handler re-checks its condition against the
//! current state, so a stale timer is harmless.
//!
//! **Wait estimate** (dissuading, `QueueStats::estimated_wait`):
//! `(members ahead + 1) × average talk time of the queue's last 20 calls
//! (60 s with no history) / max(1, agents present)`, in whole seconds.

#![warn(missing_docs)]

mod engine;
pub mod ivr;

pub use engine::Engine;

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a queue picks agents (mod_callcenter's names in kebab case).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Ring every eligible agent at once; the first to answer wins.
    RingAll,
    /// Ring agents one by one in tier order, adding one more every
    /// `ring_progressively_delay` without stopping the ones already ringing.
    RingProgressively,
    /// The agent idle the longest (oldest `last_bridge_end`; never bridged first).
    #[default]
    LongestIdleAgent,
    /// Tier order, continuing after the agent offered last time.
    RoundRobin,
    /// Always from the top of the tier order.
    TopDown,
    /// The agent with the least total talk time.
    AgentWithLeastTalkTime,
    /// The agent with the fewest answered calls.
    AgentWithFewestCalls,
    /// Tier order (level, then position), one at a time, restarting at the top.
    SequentiallyByAgentOrder,
    /// A random eligible agent (the engine's own seeded generator).
    Random,
}

/// Which clock a member's time-based score counts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeBase {
    /// From when the member joined this queue.
    #[default]
    Queue,
    /// From when the member's call started (time spent in IVRs and other
    /// queues counts).
    System,
}

/// A queue's configuration. Durations in whole seconds; 0 disables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Unique name.
    pub name: String,
    /// Agent selection.
    pub strategy: Strategy,
    /// Music on hold for waiting members (opaque to the engine).
    pub moh: Option<String>,
    /// Record bridged calls (opaque to the engine: the driver records).
    pub record: bool,
    /// File name for this queue's recordings (implies `record`), with
    /// `{call_id}` (required), `{queue}`, `{agent}`, `{caller}`, `{date}`
    /// (UTC `YYYY-MM-DD`) and `{time}` (UTC `HH-MM-SS`), ending in `.wav`.
    /// None: `<call_id>.wav`. Opaque to the engine.
    pub record_template: Option<String>,
    /// Score base.
    pub time_base_score: TimeBase,
    /// Tier levels apply (see `tier_rule_wait_second`).
    pub tier_rules_apply: bool,
    /// A member may be offered to tier level L once it has waited this
    /// long (times L when `tier_rule_wait_multiply_level`); level 0 and the
    /// lowest level present are always allowed.
    pub tier_rule_wait_second: u32,
    /// Multiply `tier_rule_wait_second` by the level.
    pub tier_rule_wait_multiply_level: bool,
    /// Skip the wait for a level when no agent of the lower levels is
    /// available (status Available / On Demand, logged in).
    pub tier_rule_no_agent_no_wait: bool,
    /// Members leave with [`ExitCause::Timeout`] after this long.
    pub max_wait_time: u32,
    /// Members leave with [`ExitCause::NoAgentTimeout`] after waiting this
    /// long while no agent of the queue is logged in (any status but
    /// Logged Out and On Break counts as present).
    pub max_wait_time_with_no_agent: u32,
    /// Once that has happened in this queue (and until an agent is present
    /// again), new members get only this long.
    pub max_wait_time_with_no_agent_time_reached: u32,
    /// How long an abandoned member is remembered (default 60).
    pub discard_abandoned_after: u32,
    /// A caller who abandoned and calls back within
    /// `discard_abandoned_after` gets its old place (score) back.
    pub abandoned_resume_allowed: bool,
    /// How long an agent's leg rings before it counts as no answer
    /// (default 30).
    pub agent_ring_timeout: u32,
    /// Ring-progressively: seconds between adding agents (default 10).
    pub ring_progressively_delay: u32,
    /// Skills a serving agent must all have.
    pub skills: Vec<String>,
    /// Dissuading: refuse new members when this many already wait (0: off).
    pub dissuade_max_waiting: u32,
    /// Dissuading: refuse new members when the estimated wait exceeds this
    /// many seconds (0: off).
    pub dissuade_max_wait_estimate: u32,
    /// Where members go on timeout or dissuasion (a route target: an
    /// extension or number; None: hang up). Opaque to the engine.
    pub fallback: Option<String>,
    /// Message played to a dissuaded caller before it goes to the
    /// fallback (or is hung up). Opaque to the engine: a prompt.
    pub dissuade_prompt: Option<String>,
    /// Status an agent gets after `max_no_answer` unanswered offers.
    pub no_answer_status: AgentStatus,
    /// Periodic announcement to waiting members (opaque to the engine: a
    /// prompt), with their position and estimated wait. The driver says
    /// the position with `digits/0.wav` ... `digits/9.wav` and the wait,
    /// in minutes rounded up, between `estimated_wait.wav` and
    /// `minutes.wav`, each when present in the prompts directory.
    pub announce: Option<String>,
    /// Seconds between announcements (0: none).
    pub announce_frequency: u32,
}

impl Default for QueueConfig {
    fn default() -> QueueConfig {
        QueueConfig {
            name: String::new(),
            strategy: Strategy::LongestIdleAgent,
            moh: None,
            record: false,
            record_template: None,
            time_base_score: TimeBase::Queue,
            tier_rules_apply: false,
            tier_rule_wait_second: 0,
            tier_rule_wait_multiply_level: false,
            tier_rule_no_agent_no_wait: false,
            max_wait_time: 0,
            max_wait_time_with_no_agent: 0,
            max_wait_time_with_no_agent_time_reached: 5,
            discard_abandoned_after: 60,
            abandoned_resume_allowed: false,
            agent_ring_timeout: 30,
            ring_progressively_delay: 10,
            skills: Vec::new(),
            dissuade_max_waiting: 0,
            dissuade_max_wait_estimate: 0,
            fallback: None,
            dissuade_prompt: None,
            no_answer_status: AgentStatus::OnBreak,
            announce: None,
            announce_frequency: 0,
        }
    }
}

/// How an agent is reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentType {
    /// We call the agent's contact for every offer.
    #[default]
    Callback,
    /// The agent stays on a standing call; offers are bridged into it.
    UuidStandby,
}

/// An agent's configuration. Delays in whole seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Unique name (usually the extension number).
    pub name: String,
    /// How to reach it.
    #[serde(rename = "type")]
    pub kind: AgentType,
    /// What the driver dials (an extension number); opaque to the engine.
    pub contact: String,
    /// Unanswered offers in a row before the queue's no-answer status (0: never).
    pub max_no_answer: u32,
    /// Rest after a bridged call ends before the next offer.
    pub wrap_up_time: u32,
    /// Not offered for this long after rejecting an offer (603/decline).
    pub reject_delay_time: u32,
    /// Not offered for this long after being busy (486).
    pub busy_delay_time: u32,
    /// Not offered for this long after not answering.
    pub no_answer_delay_time: u32,
    /// Skills the agent has.
    pub skills: Vec<String>,
}

impl Default for AgentConfig {
    fn default() -> AgentConfig {
        AgentConfig { name: String::new(), kind: AgentType::Callback, contact: String::new(), max_no_answer: 3, wrap_up_time: 10, reject_delay_time: 10, busy_delay_time: 60, no_answer_delay_time: 60, skills: Vec::new() }
    }
}

/// An agent's status (set by the agent or an admin).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AgentStatus {
    /// Not working.
    #[default]
    #[serde(rename = "Logged Out")]
    LoggedOut,
    /// Takes calls; back to Waiting after each.
    Available,
    /// Takes one call, then goes Idle until set Waiting again.
    #[serde(rename = "Available (On Demand)")]
    AvailableOnDemand,
    /// Present, not taking calls.
    #[serde(rename = "On Break")]
    OnBreak,
}

/// An agent's state (set by the engine, except Waiting/Idle for On Demand).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AgentState {
    /// Not ready for calls (On Demand after a call).
    Idle,
    /// Ready for a call.
    #[default]
    Waiting,
    /// Being offered a call (its leg rings).
    Receiving,
    /// Bridged to a member.
    #[serde(rename = "In a queue call")]
    InQueueCall,
    /// Chosen, about to be offered (never left in this state: every
    /// Reserved agent is offered in the same step or released).
    Reserved,
}

/// A tier's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TierState {
    /// Eligible.
    #[default]
    Ready,
    /// Not used for offers.
    Standby,
    /// Offering a member of this queue now.
    Offering,
    /// Bridged to a member of this queue.
    #[serde(rename = "Active Inbound")]
    ActiveInbound,
    /// The last offer from this queue was not answered.
    #[serde(rename = "No Answer")]
    NoAnswer,
}

/// An agent's membership of a queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tier {
    /// Queue name.
    pub queue: String,
    /// Agent name.
    pub agent: String,
    /// Lower levels are offered first (and, with tier rules, earlier).
    pub level: u32,
    /// Order within a level (lower first).
    pub position: u32,
    /// Ready or Standby as configured; the engine reports the others.
    pub state: TierState,
}

impl Default for Tier {
    fn default() -> Tier {
        Tier { queue: String::new(), agent: String::new(), level: 1, position: 1, state: TierState::Ready }
    }
}

/// A caller entering a queue.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberInfo {
    /// The call's UUID (unique among waiting members).
    pub call_id: String,
    /// Caller number (also the key for abandoned-resume).
    pub caller_number: String,
    /// Caller name, if known.
    pub caller_name: Option<String>,
    /// Added to the member's time-based score (seconds).
    pub base_score: i64,
    /// When the call started (for `TimeBase::System`).
    pub call_start: std::time::Instant,
}

/// Where a member joined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Joined {
    /// 1-based position among the queue's waiting members at entry.
    pub position: u32,
    /// The member came back within `discard_abandoned_after` and got its
    /// old score.
    pub resumed: bool,
}

/// Why a member could not join.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// No such queue (driver error: 404 / hang up).
    NoQueue,
    /// That call is already waiting somewhere.
    AlreadyWaiting,
    /// Dissuaded (too many waiting or estimated wait too long): the driver
    /// plays a message and sends the caller to `fallback` or hangs up.
    Dissuaded {
        /// The queue's fallback.
        fallback: Option<String>,
    },
}

/// Why a member left the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitCause {
    /// Bridged to an agent (left the waiting list).
    Answered,
    /// The caller hung up.
    Abandoned,
    /// `max_wait_time` reached.
    Timeout,
    /// `max_wait_time_with_no_agent` (or its time-reached grace) reached.
    NoAgentTimeout,
    /// The queue was removed.
    QueueRemoved,
}

/// How an offer failed, as reported by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferFailure {
    /// Rang out (agent_ring_timeout or 408/480): counts towards max_no_answer.
    NoAnswer,
    /// 486/600: busy_delay_time.
    Busy,
    /// 603/decline: reject_delay_time.
    Rejected,
    /// The agent could not be reached at all (not registered, 404/5xx):
    /// treated as no answer.
    Unreachable,
}

/// Identifies one offer (one agent rung for one member).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfferId(pub u64);

/// What the engine asks of the driver, and what it reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Ring `contact` for member `call_id`; report the outcome with
    /// [`Engine::offer_answered`] or [`Engine::offer_failed`] (the engine
    /// itself fails it as NoAnswer after `ring_timeout` if nothing is reported).
    Offer {
        /// This offer.
        offer: OfferId,
        /// The member's call.
        call_id: String,
        /// Its queue.
        queue: String,
        /// The agent.
        agent: String,
        /// What to dial.
        contact: String,
        /// How long to ring.
        ring_timeout: Duration,
    },
    /// Stop ringing this agent (another answered, the member left, or the
    /// ring timed out); do not report its outcome.
    CancelOffer {
        /// The offer.
        offer: OfferId,
        /// The member's call.
        call_id: String,
        /// The agent.
        agent: String,
    },
    /// Take the member out of the queue: send it to `fallback` (None: hang up).
    Exit {
        /// The member's call.
        call_id: String,
        /// Its queue.
        queue: String,
        /// Why.
        cause: ExitCause,
        /// Where to.
        fallback: Option<String>,
    },
    /// Play the queue's announcement to a waiting member (every
    /// `announce_frequency` seconds while it waits and is not bridged).
    Announce {
        /// The member's call.
        call_id: String,
        /// Its queue.
        queue: String,
        /// The queue's `announce` prompt.
        prompt: String,
        /// Its position now (1-based).
        position: u32,
        /// Estimated wait, seconds.
        estimated_wait: u64,
    },
    /// Something to publish.
    Event(Event),
}

/// Events for the event stream and CDRs.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A member joined.
    MemberJoined {
        /// Queue.
        queue: String,
        /// Call.
        call_id: String,
        /// Caller.
        caller_number: String,
        /// Position at entry (1-based).
        position: u32,
    },
    /// A member left the waiting list.
    MemberLeft {
        /// Queue.
        queue: String,
        /// Call.
        call_id: String,
        /// Why.
        cause: ExitCause,
        /// Waited, in milliseconds.
        wait_ms: u64,
        /// The agent, when answered.
        agent: Option<String>,
    },
    /// An agent is being offered a member (the screen pop).
    AgentOffering {
        /// Queue.
        queue: String,
        /// Agent.
        agent: String,
        /// Call.
        call_id: String,
        /// Caller.
        caller_number: String,
        /// Caller name.
        caller_name: Option<String>,
    },
    /// An agent answered and is bridged to the member.
    Bridged {
        /// Queue.
        queue: String,
        /// Agent.
        agent: String,
        /// Call.
        call_id: String,
    },
    /// The bridged call ended.
    BridgeEnded {
        /// Queue.
        queue: String,
        /// Agent.
        agent: String,
        /// Call.
        call_id: String,
        /// Talk time in milliseconds.
        talk_ms: u64,
    },
    /// An agent's status changed.
    AgentStatusChanged {
        /// Agent.
        agent: String,
        /// New status.
        status: AgentStatus,
    },
    /// An agent's state changed.
    AgentStateChanged {
        /// Agent.
        agent: String,
        /// New state.
        state: AgentState,
    },
}

/// API misuse (who is at fault: the caller of the engine).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No such queue.
    NoQueue,
    /// No such agent.
    NoAgent,
    /// No such tier.
    NoTier,
    /// No such offer (already decided).
    NoOffer,
    /// No such member.
    NoMember,
}

/// An agent as seen from outside.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentView {
    /// Configuration.
    #[serde(flatten)]
    pub config: AgentConfig,
    /// Status.
    pub status: AgentStatus,
    /// State.
    pub state: AgentState,
    /// On a call that is not a queue call (skipped by dispatch).
    pub busy: bool,
    /// Counters.
    #[serde(flatten)]
    pub counters: AgentCounters,
    /// The member it is offered or bridged to.
    pub call_id: Option<String>,
}

/// An agent's counters (persisted by the driver; restored with
/// [`Engine::restore_agent`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentCounters {
    /// Answered offers.
    pub calls_answered: u64,
    /// Total talk time, seconds.
    pub talk_time: u64,
    /// Unanswered offers in a row.
    pub no_answer_count: u32,
    /// Unix milliseconds of the last bridge end (0: never). Stored as wall
    /// time so it survives restarts; the driver converts.
    pub last_bridge_end_ms: u64,
}

/// A waiting member as seen from outside.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemberView {
    /// Call.
    pub call_id: String,
    /// Caller.
    pub caller_number: String,
    /// Waiting, ms.
    pub wait_ms: u64,
    /// Current score (higher is served first).
    pub score: i64,
    /// 1-based position.
    pub position: u32,
    /// Agents ringing for it now.
    pub offered_to: Vec<String>,
}

/// A queue's statistics.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QueueStats {
    /// Queue.
    pub queue: String,
    /// Members waiting (including those being offered).
    pub waiting: u32,
    /// Longest current wait, ms.
    pub longest_wait_ms: u64,
    /// Agents by status (with a tier in this queue).
    pub agents_available: u32,
    /// Available (On Demand).
    pub agents_on_demand: u32,
    /// On Break.
    pub agents_on_break: u32,
    /// Logged Out.
    pub agents_logged_out: u32,
    /// Bridged now.
    pub agents_in_call: u32,
    /// Members answered since start.
    pub answered: u64,
    /// Members who hung up while waiting.
    pub abandoned: u64,
    /// Members who left on a timeout.
    pub timed_out: u64,
    /// Answered within the service-level threshold (20 s), over answered
    /// plus abandoned after that threshold; 1.0 with no calls.
    pub service_level: f64,
    /// Estimated wait for a new member, seconds.
    pub estimated_wait: u64,
}
