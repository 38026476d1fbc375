//! The dispatch engine.

use crate::*;
use std::time::Instant;

/// The queue engine. See the crate docs for the loop that drives it.
pub struct Engine {}

#[allow(unused_variables)]
impl Engine {
    /// An empty engine; `seed` feeds the `random` strategy (deterministic).
    pub fn new(seed: u64) -> Engine {
        todo!()
    }

    // ---- configuration ------------------------------------------------

    /// Add or replace a queue (waiting members keep their place).
    pub fn set_queue(&mut self, now: Instant, q: QueueConfig) {
        todo!()
    }

    /// Remove a queue: its members get `Exit { cause: QueueRemoved }`,
    /// ringing offers are cancelled, its tiers go.
    pub fn remove_queue(&mut self, now: Instant, name: &str) -> Result<(), Error> {
        todo!()
    }

    /// Add or replace an agent's configuration (status, state, counters
    /// and a call in progress are kept). New agents start Logged Out.
    pub fn set_agent(&mut self, now: Instant, a: AgentConfig) {
        todo!()
    }

    /// Restore an agent after a restart: configuration, status and
    /// counters (`last_bridge_end` given as an Instant by the driver).
    pub fn restore_agent(&mut self, now: Instant, a: AgentConfig, status: AgentStatus, counters: AgentCounters, last_bridge_end: Option<Instant>) {
        todo!()
    }

    /// Remove an agent (a ringing offer is cancelled; a bridged call
    /// continues, but the agent is gone when it ends). Its tiers go.
    pub fn remove_agent(&mut self, now: Instant, name: &str) -> Result<(), Error> {
        todo!()
    }

    /// Add or replace a tier (queue and agent must exist).
    pub fn set_tier(&mut self, now: Instant, t: Tier) -> Result<(), Error> {
        todo!()
    }

    /// Remove a tier.
    pub fn remove_tier(&mut self, now: Instant, queue: &str, agent: &str) -> Result<(), Error> {
        todo!()
    }

    /// Set an agent's status (login = Available, logout = Logged Out,
    /// break = On Break). Going Available resets the state to Waiting when
    /// Idle. Logging out or going on break cancels a ringing offer.
    pub fn set_agent_status(&mut self, now: Instant, agent: &str, status: AgentStatus) -> Result<(), Error> {
        todo!()
    }

    /// Set an agent's state to Waiting or Idle (On Demand agents say when
    /// they are ready again). Other states are the engine's.
    pub fn set_agent_state(&mut self, now: Instant, agent: &str, state: AgentState) -> Result<(), Error> {
        todo!()
    }

    /// The agent is (or is no longer) on a call that is not a queue call:
    /// dispatch skips it meanwhile.
    pub fn set_agent_busy(&mut self, now: Instant, agent: &str, busy: bool) -> Result<(), Error> {
        todo!()
    }

    // ---- members ------------------------------------------------------

    /// A caller enters `queue`.
    pub fn join(&mut self, now: Instant, queue: &str, m: MemberInfo) -> Result<Joined, JoinError> {
        todo!()
    }

    /// The member's caller hung up (while waiting or being offered):
    /// offers are cancelled; the member is remembered for
    /// `discard_abandoned_after`. After a bridge, use [`Engine::bridge_ended`].
    pub fn leave(&mut self, now: Instant, call_id: &str) -> Result<(), Error> {
        todo!()
    }

    // ---- offers -------------------------------------------------------

    /// The agent answered: it is bridged to the member; every other offer
    /// for that member is cancelled.
    pub fn offer_answered(&mut self, now: Instant, offer: OfferId) -> Result<(), Error> {
        todo!()
    }

    /// The offer failed; penalties and delays apply and the member is
    /// offered again per strategy.
    pub fn offer_failed(&mut self, now: Instant, offer: OfferId, why: OfferFailure) -> Result<(), Error> {
        todo!()
    }

    /// The bridged call of member `call_id` ended: counters, wrap-up.
    pub fn bridge_ended(&mut self, now: Instant, call_id: &str) -> Result<(), Error> {
        todo!()
    }

    // ---- driving ------------------------------------------------------

    /// Next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action> {
        todo!()
    }

    /// Earliest deadline (timeouts, wrap-up ends, delays, tier-rule waits,
    /// ring-progressively steps, abandoned-member expiry).
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!()
    }

    /// Run what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        todo!()
    }

    // ---- views --------------------------------------------------------

    /// Queue configurations.
    pub fn queues(&self) -> Vec<QueueConfig> {
        todo!()
    }

    /// One queue's configuration.
    pub fn queue(&self, name: &str) -> Option<&QueueConfig> {
        todo!()
    }

    /// Agents.
    pub fn agents(&self) -> Vec<AgentView> {
        todo!()
    }

    /// One agent.
    pub fn agent(&self, name: &str) -> Option<AgentView> {
        todo!()
    }

    /// Tiers (configured state, or the engine's current one).
    pub fn tiers(&self) -> Vec<Tier> {
        todo!()
    }

    /// A queue's waiting members, in service order.
    pub fn members(&self, now: Instant, queue: &str) -> Vec<MemberView> {
        todo!()
    }

    /// A queue's statistics.
    pub fn stats(&self, now: Instant, queue: &str) -> Option<QueueStats> {
        todo!()
    }

    /// The queue a waiting member is in, its wait so far and its position
    /// at entry (for CDRs).
    pub fn member_of(&self, now: Instant, call_id: &str) -> Option<(String, u64, u32)> {
        todo!()
    }
}
