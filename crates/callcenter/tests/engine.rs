//! Engine behaviour on a virtual clock: a base `Instant` captured once,
//! every other time is base + a Duration. No sleeping.

use callcenter::*;
use std::time::{Duration, Instant};

// ---- harness ---------------------------------------------------------------

struct H {
    e: Engine,
    t0: Instant,
    now: Instant,
    /// Actions not yet looked at by the test.
    pending: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq)]
struct Off {
    id: OfferId,
    call: String,
    agent: String,
}

impl H {
    fn new() -> H {
        H::seeded(7)
    }

    fn seeded(seed: u64) -> H {
        let t0 = Instant::now_for_tests();
        H { e: Engine::new(seed), t0, now: t0, pending: Vec::new() }
    }

    fn at(&self, s: u64) -> Instant {
        self.t0 + Duration::from_secs(s)
    }

    fn drain(&mut self) {
        while let Some(a) = self.e.poll_action() {
            self.pending.push(a);
        }
    }

    /// Move the clock to t0 + `s` seconds, running every timer on the way
    /// as a driver would (at its deadline).
    fn to(&mut self, s: u64) {
        let target = self.at(s);
        assert!(target >= self.now, "time goes forward");
        while let Some(t) = self.e.poll_timeout() {
            if t > target {
                break;
            }
            self.now = t.max(self.now);
            self.e.handle_timeout(self.now);
            let next = self.e.poll_timeout();
            assert!(next.is_none_or(|n| n > self.now), "poll_timeout in the past after handle_timeout");
        }
        self.now = target;
        self.e.handle_timeout(target);
        self.drain();
    }

    fn take(&mut self) -> Vec<Action> {
        self.drain();
        std::mem::take(&mut self.pending)
    }

    /// New offers among the pending actions (consumes all pending actions).
    fn offers(&mut self) -> Vec<Off> {
        self.take()
            .into_iter()
            .filter_map(|a| match a {
                Action::Offer { offer, call_id, agent, .. } => Some(Off { id: offer, call: call_id, agent }),
                _ => None,
            })
            .collect()
    }

    /// Exactly one new offer.
    fn one_offer(&mut self) -> Off {
        let o = self.offers();
        assert_eq!(o.len(), 1, "expected one offer, got {o:?}");
        o[0].clone()
    }

    fn no_offer(&mut self) {
        let o = self.offers();
        assert!(o.is_empty(), "expected no offer, got {o:?}");
    }

    fn queue(&mut self, q: QueueConfig) {
        let now = self.now;
        self.e.set_queue(now, q);
        self.drain();
    }

    fn agent_cfg(&mut self, a: AgentConfig, queue: &str, level: u32, position: u32) {
        let now = self.now;
        let name = a.name.clone();
        self.e.set_agent(now, a);
        self.e.set_tier(now, Tier { queue: queue.into(), agent: name.clone(), level, position, state: TierState::Ready }).unwrap();
        self.e.set_agent_status(now, &name, AgentStatus::Available).unwrap();
        self.drain();
    }

    /// An Available agent with no delays and no wrap-up.
    fn agent(&mut self, name: &str, queue: &str, level: u32, position: u32) {
        self.agent_cfg(agent(name), queue, level, position);
    }

    fn join(&mut self, queue: &str, call: &str) -> Joined {
        self.join_info(queue, member(call, call, self.now, 0)).unwrap()
    }

    fn join_info(&mut self, queue: &str, m: MemberInfo) -> Result<Joined, JoinError> {
        let now = self.now;
        let r = self.e.join(now, queue, m);
        self.drain();
        r
    }

    fn answer(&mut self, o: &Off) {
        let now = self.now;
        self.e.offer_answered(now, o.id).unwrap();
        self.drain();
    }

    fn fail(&mut self, o: &Off, why: OfferFailure) {
        let now = self.now;
        self.e.offer_failed(now, o.id, why).unwrap();
        self.drain();
    }

    fn end(&mut self, call: &str) {
        let now = self.now;
        self.e.bridge_ended(now, call).unwrap();
        self.drain();
    }

    fn leave(&mut self, call: &str) {
        let now = self.now;
        self.e.leave(now, call).unwrap();
        self.drain();
    }

    fn status(&mut self, agent: &str, s: AgentStatus) {
        let now = self.now;
        self.e.set_agent_status(now, agent, s).unwrap();
        self.drain();
    }

    fn busy(&mut self, agent: &str, b: bool) {
        let now = self.now;
        self.e.set_agent_busy(now, agent, b).unwrap();
        self.drain();
    }

    fn view(&self, agent: &str) -> AgentView {
        self.e.agent(agent).unwrap()
    }

    /// One call through: join, the single offer is answered and ends
    /// `talk` seconds later; returns the agent that took it.
    fn call_through(&mut self, queue: &str, call: &str, talk: u64) -> String {
        self.join(queue, call);
        let o = self.one_offer();
        assert_eq!(o.call, call);
        self.answer(&o);
        let t = self.now_s() + talk;
        self.to(t);
        self.end(call);
        o.agent
    }

    fn now_s(&self) -> u64 {
        (self.now - self.t0).as_secs()
    }

    fn events(&mut self) -> Vec<Event> {
        self.take()
            .into_iter()
            .filter_map(|a| match a {
                Action::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn no_agent_reserved_or_receiving(&self) {
        for a in self.e.agents() {
            assert!(!matches!(a.state, AgentState::Receiving | AgentState::Reserved), "agent {} left in {:?}", a.config.name, a.state);
        }
    }
}

/// Only the harness constructor reads the clock, once, for the base.
trait NowForTests {
    fn now_for_tests() -> Instant;
}
impl NowForTests for Instant {
    #[allow(clippy::disallowed_methods)]
    fn now_for_tests() -> Instant {
        Instant::now()
    }
}

fn queue(name: &str, strategy: Strategy) -> QueueConfig {
    QueueConfig { name: name.into(), strategy, discard_abandoned_after: 60, agent_ring_timeout: 30, ..QueueConfig::default() }
}

fn agent(name: &str) -> AgentConfig {
    AgentConfig {
        name: name.into(),
        contact: format!("sip:{name}@local"),
        max_no_answer: 0,
        wrap_up_time: 0,
        reject_delay_time: 0,
        busy_delay_time: 0,
        no_answer_delay_time: 0,
        ..AgentConfig::default()
    }
}

fn member(call: &str, number: &str, start: Instant, base: i64) -> MemberInfo {
    MemberInfo { call_id: call.into(), caller_number: number.into(), caller_name: Some(format!("Caller {number}")), base_score: base, call_start: start }
}

/// A queue `q` with agents a, b, c (positions 1, 2, 3, level 1).
fn three(strategy: Strategy) -> H {
    let mut h = H::new();
    h.queue(queue("q", strategy));
    for (i, n) in ["a", "b", "c"].iter().enumerate() {
        h.agent(n, "q", 1, i as u32 + 1);
    }
    h
}

// ---- strategies ------------------------------------------------------------

#[test]
fn longest_idle_agent_picks_the_one_idle_longest() {
    let mut h = three(Strategy::LongestIdleAgent);
    // Never bridged first, in tier order.
    h.join("q", "m1");
    let o1 = h.one_offer();
    assert_eq!(o1.agent, "a");
    h.answer(&o1);
    h.join("q", "m2");
    let o2 = h.one_offer();
    assert_eq!(o2.agent, "b");
    h.answer(&o2);
    h.join("q", "m3");
    let o3 = h.one_offer();
    assert_eq!(o3.agent, "c");
    h.answer(&o3);
    // Calls end: a at 10, c at 15, b at 20.
    h.to(10);
    h.end("m1");
    h.to(15);
    h.end("m3");
    h.to(20);
    h.end("m2");
    h.to(30);
    let mut got = Vec::new();
    for m in ["m4", "m5", "m6"] {
        h.join("q", m);
        let o = h.one_offer();
        got.push(o.agent.clone());
        h.answer(&o);
    }
    assert_eq!(got, ["a", "c", "b"]);
}

#[test]
fn round_robin_cycles_through_the_tier_order() {
    let mut h = three(Strategy::RoundRobin);
    let got: Vec<String> = (0..7).map(|i| h.call_through("q", &format!("m{i}"), 5)).collect();
    assert_eq!(got, ["a", "b", "c", "a", "b", "c", "a"]);
}

#[test]
fn top_down_always_starts_from_the_top() {
    let mut h = three(Strategy::TopDown);
    let got: Vec<String> = (0..4).map(|i| h.call_through("q", &format!("m{i}"), 5)).collect();
    assert_eq!(got, ["a", "a", "a", "a"]);
    // a busy in the meantime: b, the next in order.
    h.busy("a", true);
    assert_eq!(h.call_through("q", "x", 5), "b");
}

#[test]
fn sequentially_by_agent_order_goes_down_the_list_on_failure() {
    let mut h = H::new();
    h.queue(queue("q", Strategy::SequentiallyByAgentOrder));
    for (i, n) in ["a", "b", "c"].iter().enumerate() {
        h.agent_cfg(AgentConfig { reject_delay_time: 30, ..agent(n) }, "q", 1, i as u32 + 1);
    }
    h.join("q", "m1");
    let o = h.one_offer();
    assert_eq!(o.agent, "a");
    h.fail(&o, OfferFailure::Rejected);
    let o = h.one_offer();
    assert_eq!(o.agent, "b");
    h.fail(&o, OfferFailure::Rejected);
    let o = h.one_offer();
    assert_eq!(o.agent, "c");
    h.answer(&o);
    h.to(5);
    h.end("m1");
    // Restarts at the top once a is ready again.
    h.to(40);
    assert_eq!(h.call_through("q", "m2", 1), "a");
    assert_eq!(h.call_through("q", "m3", 1), "a");
}

#[test]
fn agent_with_least_talk_time() {
    let mut h = three(Strategy::AgentWithLeastTalkTime);
    let now = h.now;
    for (n, talk) in [("a", 100), ("b", 50), ("c", 70)] {
        h.e.restore_agent(now, agent(n), AgentStatus::Available, AgentCounters { talk_time: talk, ..Default::default() }, None);
    }
    h.drain();
    // b (50) talks 40 s -> 90; then c (70 -> 110), then b (90 -> 110),
    // then a (100).
    assert_eq!(h.call_through("q", "m1", 40), "b");
    assert_eq!(h.call_through("q", "m2", 40), "c");
    assert_eq!(h.call_through("q", "m3", 20), "b");
    assert_eq!(h.call_through("q", "m4", 1), "a");
    assert_eq!(h.view("b").counters.talk_time, 110);
}

#[test]
fn agent_with_fewest_calls() {
    let mut h = three(Strategy::AgentWithFewestCalls);
    let now = h.now;
    for (n, calls) in [("a", 5), ("b", 2), ("c", 3)] {
        h.e.restore_agent(now, agent(n), AgentStatus::Available, AgentCounters { calls_answered: calls, ..Default::default() }, None);
    }
    h.drain();
    // b:2 -> 3 (ties with c: b by position) -> 4, then c:3, c:4? no: b:4,c:3 -> c.
    let got: Vec<String> = (0..5).map(|i| h.call_through("q", &format!("m{i}"), 1)).collect();
    assert_eq!(got, ["b", "b", "c", "b", "c"]);
    assert_eq!(h.view("b").counters.calls_answered, 5);
}

#[test]
fn random_is_deterministic_for_a_seed_and_covers_all_agents() {
    let run = |seed: u64| {
        let mut h = H::seeded(seed);
        h.queue(queue("q", Strategy::Random));
        for (i, n) in ["a", "b", "c", "d"].iter().enumerate() {
            h.agent(n, "q", 1, i as u32 + 1);
        }
        (0..40).map(|i| h.call_through("q", &format!("m{i}"), 1)).collect::<Vec<_>>()
    };
    let x = run(42);
    assert_eq!(x, run(42));
    for n in ["a", "b", "c", "d"] {
        assert!(x.iter().any(|g| g == n), "{n} never picked: {x:?}");
    }
    assert_ne!(x, run(43), "another seed, another sequence");
}

#[test]
fn random_prefers_the_lower_level() {
    let mut h = H::new();
    h.queue(queue("q", Strategy::Random));
    h.agent("a", "q", 1, 1);
    h.agent("b", "q", 1, 2);
    h.agent("z", "q", 2, 1);
    for i in 0..20 {
        assert_ne!(h.call_through("q", &format!("m{i}"), 1), "z");
    }
}

#[test]
fn ring_all_rings_everyone_and_cancels_the_losers() {
    let mut h = three(Strategy::RingAll);
    h.join("q", "m1");
    let offers = h.offers();
    let mut agents: Vec<&str> = offers.iter().map(|o| o.agent.as_str()).collect();
    agents.sort();
    assert_eq!(agents, ["a", "b", "c"]);
    let win = offers.iter().find(|o| o.agent == "b").unwrap().clone();
    let now = h.now;
    h.e.offer_answered(now, win.id).unwrap();
    let acts = h.take();
    let mut cancelled: Vec<String> = acts
        .iter()
        .filter_map(|a| match a {
            Action::CancelOffer { agent, call_id, .. } => {
                assert_eq!(call_id, "m1");
                Some(agent.clone())
            }
            _ => None,
        })
        .collect();
    cancelled.sort();
    assert_eq!(cancelled, ["a", "c"]);
    h.no_agent_reserved_or_receiving();
    assert_eq!(h.view("b").state, AgentState::InQueueCall);
    assert_eq!(h.view("a").state, AgentState::Waiting);
    // The losers' offers are gone.
    for o in offers.iter().filter(|o| o.agent != "b") {
        assert_eq!(h.e.offer_failed(now, o.id, OfferFailure::NoAnswer), Err(Error::NoOffer));
    }
}

#[test]
fn ring_all_leaves_no_agent_reserved_when_the_member_hangs_up() {
    // FreeSWITCH's "agents stuck in Reserved": the member leaves while
    // every agent rings; nobody may stay Receiving/Reserved.
    let mut h = three(Strategy::RingAll);
    h.join("q", "m1");
    assert_eq!(h.offers().len(), 3);
    h.leave("m1");
    h.no_agent_reserved_or_receiving();
    for a in h.e.agents() {
        assert_eq!(a.call_id, None);
    }
    // And they serve the next member at once.
    h.join("q", "m2");
    assert_eq!(h.offers().len(), 3);
}

#[test]
fn ring_all_losers_go_to_the_next_member() {
    let mut h = three(Strategy::RingAll);
    h.join("q", "m1");
    h.join("q", "m2");
    let offers = h.offers();
    assert_eq!(offers.len(), 3);
    assert!(offers.iter().all(|o| o.call == "m1"));
    h.answer(&offers[0]);
    let next = h.offers();
    assert_eq!(next.len(), 2);
    assert!(next.iter().all(|o| o.call == "m2"));
    let m1 = h.e.members(h.now, "q");
    assert_eq!(m1.len(), 1);
    assert_eq!(m1[0].offered_to.len(), 2);
}

#[test]
fn ring_progressively_adds_one_agent_per_delay() {
    let mut h = H::new();
    h.queue(QueueConfig { ring_progressively_delay: 10, agent_ring_timeout: 60, ..queue("q", Strategy::RingProgressively) });
    for (i, n) in ["a", "b", "c"].iter().enumerate() {
        h.agent(n, "q", 1, i as u32 + 1);
    }
    h.join("q", "m1");
    assert_eq!(h.one_offer().agent, "a");
    h.to(9);
    h.no_offer();
    h.to(10);
    let acts = h.take();
    assert!(!acts.iter().any(|a| matches!(a, Action::CancelOffer { .. })), "a keeps ringing");
    let o: Vec<&str> = acts.iter().filter_map(|a| if let Action::Offer { agent, .. } = a { Some(agent.as_str()) } else { None }).collect();
    assert_eq!(o, ["b"]);
    h.to(20);
    let c = h.one_offer();
    assert_eq!(c.agent, "c");
    assert_eq!(h.e.members(h.now, "q")[0].offered_to.len(), 3);
    h.answer(&c);
    h.no_agent_reserved_or_receiving();
}

// ---- tier rules ----------------------------------------------------------

fn tiered(wait: u32, multiply: bool, no_agent_no_wait: bool) -> H {
    let mut h = H::new();
    h.queue(QueueConfig {
        tier_rules_apply: true,
        tier_rule_wait_second: wait,
        tier_rule_wait_multiply_level: multiply,
        tier_rule_no_agent_no_wait: no_agent_no_wait,
        ..queue("q", Strategy::LongestIdleAgent)
    });
    h
}

#[test]
fn tier_rule_wait_second_holds_higher_levels_back() {
    let mut h = tiered(30, false, false);
    h.agent("a", "q", 1, 1);
    h.agent("b", "q", 2, 1);
    h.busy("a", true);
    h.join("q", "m1");
    h.no_offer();
    assert!(h.e.poll_timeout().is_some_and(|t| t <= h.at(30)), "a timer for the level-2 wait");
    h.to(29);
    h.no_offer();
    h.to(30);
    assert_eq!(h.one_offer().agent, "b");
}

#[test]
fn tier_rules_prefer_the_lower_level_even_when_idle_longer_above() {
    let mut h = tiered(30, false, false);
    h.agent("b", "q", 2, 1);
    h.agent("a", "q", 1, 1);
    h.join("q", "m1");
    assert_eq!(h.one_offer().agent, "a");
}

#[test]
fn tier_rule_wait_multiply_level() {
    let mut h = tiered(10, true, false);
    h.agent("a", "q", 1, 1);
    h.agent("b", "q", 2, 1);
    h.agent("c", "q", 3, 1);
    h.busy("a", true);
    h.busy("b", true);
    h.join("q", "m1");
    h.to(29);
    h.no_offer();
    h.to(30);
    assert_eq!(h.one_offer().agent, "c");

    // Without multiply, level 3 waits only 10 s.
    let mut h = tiered(10, false, false);
    h.agent("a", "q", 1, 1);
    h.agent("c", "q", 3, 1);
    h.busy("a", true);
    h.join("q", "m1");
    h.to(9);
    h.no_offer();
    h.to(10);
    assert_eq!(h.one_offer().agent, "c");
}

#[test]
fn tier_rule_level_two_at_twice_the_wait() {
    let mut h = tiered(10, true, false);
    h.agent("a", "q", 1, 1);
    h.agent("b", "q", 2, 1);
    h.busy("a", true);
    h.join("q", "m1");
    h.to(19);
    h.no_offer();
    h.to(20);
    assert_eq!(h.one_offer().agent, "b");
}

#[test]
fn tier_rule_no_agent_no_wait() {
    // Level 1 logged out: level 2 without waiting.
    let mut h = tiered(30, false, true);
    h.agent("a", "q", 1, 1);
    h.agent("b", "q", 2, 1);
    h.status("a", AgentStatus::LoggedOut);
    h.join("q", "m1");
    assert_eq!(h.one_offer().agent, "b");

    // Level 1 Available but busy: level 2 waits.
    let mut h = tiered(30, false, true);
    h.agent("a", "q", 1, 1);
    h.agent("b", "q", 2, 1);
    h.busy("a", true);
    h.join("q", "m1");
    h.no_offer();
    // a goes on break while m1 waits: the wait is skipped at once.
    h.to(5);
    h.status("a", AgentStatus::OnBreak);
    assert_eq!(h.one_offer().agent, "b");

    // Same without the rule: b waits the full 30 s.
    let mut h = tiered(30, false, false);
    h.agent("a", "q", 1, 1);
    h.agent("b", "q", 2, 1);
    h.status("a", AgentStatus::LoggedOut);
    h.join("q", "m1");
    h.no_offer();
    h.to(30);
    assert_eq!(h.one_offer().agent, "b");
}

#[test]
fn tiers_apply_to_older_members_first() {
    let mut h = tiered(30, false, false);
    h.agent("a", "q", 1, 1);
    h.agent("b", "q", 2, 1);
    h.busy("a", true);
    h.join("q", "m1");
    h.to(20);
    h.join("q", "m2");
    h.to(30);
    let o = h.one_offer();
    assert_eq!((o.agent.as_str(), o.call.as_str()), ("b", "m1"));
}

// ---- timeouts --------------------------------------------------------------

#[test]
fn max_wait_time_exits_with_the_fallback() {
    let mut h = H::new();
    h.queue(QueueConfig { max_wait_time: 30, fallback: Some("2000".into()), ..queue("q", Strategy::LongestIdleAgent) });
    h.agent("a", "q", 1, 1);
    h.busy("a", true);
    h.join("q", "m1");
    h.to(10);
    h.busy("a", false);
    let o = h.one_offer();
    h.to(29);
    assert!(h.take().is_empty());
    h.to(30);
    let acts = h.take();
    assert!(acts.contains(&Action::CancelOffer { offer: o.id, call_id: "m1".into(), agent: "a".into() }));
    assert!(acts.contains(&Action::Exit { call_id: "m1".into(), queue: "q".into(), cause: ExitCause::Timeout, fallback: Some("2000".into()) }));
    assert!(acts.contains(&Action::Event(Event::MemberLeft { queue: "q".into(), call_id: "m1".into(), cause: ExitCause::Timeout, wait_ms: 30_000, agent: None })));
    assert_eq!(h.e.stats(h.now, "q").unwrap().timed_out, 1);
    h.no_agent_reserved_or_receiving();
    assert_eq!(h.e.leave(h.now, "m1"), Err(Error::NoMember));
}

fn exits(acts: &[Action]) -> Vec<(String, ExitCause)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Exit { call_id, cause, .. } => Some((call_id.clone(), *cause)),
            _ => None,
        })
        .collect()
}

#[test]
fn max_wait_time_with_no_agent_and_its_time_reached_grace() {
    let mut h = H::new();
    h.queue(QueueConfig { max_wait_time_with_no_agent: 20, max_wait_time_with_no_agent_time_reached: 5, ..queue("q", Strategy::LongestIdleAgent) });
    h.to(2);
    h.join("q", "m1");
    h.to(19);
    assert!(exits(&h.take()).is_empty());
    // No agent since queue creation at 0: m1 (joined at 2) has waited with no agent since 2.
    h.to(22);
    assert_eq!(exits(&h.take()), [("m1".to_string(), ExitCause::NoAgentTimeout)]);
    // Reached: a new member gets only 5 s.
    h.to(25);
    h.join("q", "m2");
    h.to(29);
    assert!(exits(&h.take()).is_empty());
    h.to(30);
    assert_eq!(exits(&h.take()), [("m2".to_string(), ExitCause::NoAgentTimeout)]);
    assert_eq!(h.e.stats(h.now, "q").unwrap().timed_out, 2);
    // An agent on break is not present; a busy Available one is.
    h.agent("a", "q", 1, 1);
    h.busy("a", true);
    h.to(40);
    h.join("q", "m3");
    h.to(100);
    assert!(exits(&h.take()).is_empty(), "an agent is present");
    // The agent leaves: m3 has waited with no agent from 100 on.
    h.status("a", AgentStatus::OnBreak);
    h.to(119);
    assert!(exits(&h.take()).is_empty());
    h.to(120);
    assert_eq!(exits(&h.take()), [("m3".to_string(), ExitCause::NoAgentTimeout)]);
}

#[test]
fn max_wait_time_with_no_agent_grace_ends_when_an_agent_is_back() {
    let mut h = H::new();
    h.queue(QueueConfig { max_wait_time_with_no_agent: 20, max_wait_time_with_no_agent_time_reached: 5, ..queue("q", Strategy::LongestIdleAgent) });
    h.to(30);
    h.agent("a", "q", 1, 1);
    h.busy("a", true);
    h.status("a", AgentStatus::LoggedOut);
    // No agent again from 30: not reached before 50; a member at 35 gets 20 s.
    h.to(35);
    h.join("q", "m1");
    h.to(54);
    assert!(exits(&h.take()).is_empty());
    h.to(55);
    assert_eq!(exits(&h.take()), [("m1".to_string(), ExitCause::NoAgentTimeout)]);
}

#[test]
fn ring_timeout_cancels_and_reoffers() {
    let mut h = H::new();
    h.queue(QueueConfig { agent_ring_timeout: 20, ..queue("q", Strategy::TopDown) });
    h.agent_cfg(AgentConfig { no_answer_delay_time: 60, ..agent("a") }, "q", 1, 1);
    h.agent("b", "q", 1, 2);
    h.join("q", "m1");
    let o = h.one_offer();
    assert_eq!(o.agent, "a");
    h.to(19);
    assert!(h.take().is_empty());
    h.to(20);
    let acts = h.take();
    assert_eq!(acts[0], Action::CancelOffer { offer: o.id, call_id: "m1".into(), agent: "a".into() });
    let next: Vec<&String> = acts.iter().filter_map(|a| if let Action::Offer { agent, ring_timeout, .. } = a { assert_eq!(*ring_timeout, Duration::from_secs(20)); Some(agent) } else { None }).collect();
    assert_eq!(next, ["b"]);
    assert_eq!(h.view("a").counters.no_answer_count, 1);
    assert_eq!(h.view("a").state, AgentState::Waiting);
    let tier_a = h.e.tiers().into_iter().find(|t| t.agent == "a").unwrap();
    assert_eq!(tier_a.state, TierState::NoAnswer);
    // The driver must not report the timed-out offer.
    assert_eq!(h.e.offer_failed(h.now, o.id, OfferFailure::NoAnswer), Err(Error::NoOffer));
}

#[test]
fn ring_timeout_reoffers_the_same_agent_without_delay() {
    let mut h = H::new();
    h.queue(QueueConfig { agent_ring_timeout: 15, ..queue("q", Strategy::LongestIdleAgent) });
    h.agent("a", "q", 1, 1);
    h.join("q", "m1");
    let o1 = h.one_offer();
    h.to(15);
    let o2 = h.one_offer();
    assert_eq!(o2.agent, "a");
    assert_ne!(o1.id, o2.id);
}

// ---- agents ----------------------------------------------------------------

#[test]
fn wrap_up_time_rests_the_agent() {
    let mut h = H::new();
    h.queue(queue("q", Strategy::LongestIdleAgent));
    h.agent_cfg(AgentConfig { wrap_up_time: 10, ..agent("a") }, "q", 1, 1);
    h.join("q", "m1");
    let o = h.one_offer();
    h.answer(&o);
    h.to(5);
    h.end("m1");
    h.join("q", "m2");
    h.no_offer();
    assert_eq!(h.e.poll_timeout(), Some(h.at(15)));
    h.to(14);
    h.no_offer();
    h.to(15);
    assert_eq!(h.one_offer().call, "m2");
}

#[test]
fn reject_busy_and_no_answer_delays() {
    for (why, delay) in [(OfferFailure::Rejected, 5), (OfferFailure::Busy, 7), (OfferFailure::NoAnswer, 9), (OfferFailure::Unreachable, 9)] {
        let mut h = H::new();
        h.queue(queue("q", Strategy::LongestIdleAgent));
        h.agent_cfg(AgentConfig { reject_delay_time: 5, busy_delay_time: 7, no_answer_delay_time: 9, max_no_answer: 0, ..agent("a") }, "q", 1, 1);
        h.join("q", "m1");
        let o = h.one_offer();
        h.to(1);
        h.fail(&o, why);
        h.to(delay);
        h.no_offer();
        h.to(delay + 1);
        assert_eq!(h.one_offer().agent, "a", "{why:?}");
    }
}

#[test]
fn max_no_answer_puts_the_agent_on_break() {
    let mut h = H::new();
    h.queue(queue("q", Strategy::LongestIdleAgent));
    h.agent_cfg(AgentConfig { max_no_answer: 2, ..agent("a") }, "q", 1, 1);
    h.join("q", "m1");
    let o = h.one_offer();
    h.fail(&o, OfferFailure::NoAnswer);
    let o = h.one_offer();
    let now = h.now;
    h.e.offer_failed(now, o.id, OfferFailure::Unreachable).unwrap();
    let acts = h.take();
    assert!(acts.contains(&Action::Event(Event::AgentStatusChanged { agent: "a".into(), status: AgentStatus::OnBreak })));
    assert!(!acts.iter().any(|a| matches!(a, Action::Offer { .. })));
    assert_eq!(h.view("a").status, AgentStatus::OnBreak);
    h.to(500);
    h.no_offer();
    // Back from break: counter reset, offered again.
    h.status("a", AgentStatus::Available);
    assert_eq!(h.view("a").counters.no_answer_count, 0);
    assert_eq!(h.one_offer().call, "m1");
}

#[test]
fn max_no_answer_uses_the_queue_no_answer_status() {
    let mut h = H::new();
    h.queue(QueueConfig { no_answer_status: AgentStatus::LoggedOut, ..queue("q", Strategy::LongestIdleAgent) });
    h.agent_cfg(AgentConfig { max_no_answer: 1, ..agent("a") }, "q", 1, 1);
    h.join("q", "m1");
    let o = h.one_offer();
    h.fail(&o, OfferFailure::NoAnswer);
    assert_eq!(h.view("a").status, AgentStatus::LoggedOut);
}

#[test]
fn busy_and_rejected_do_not_count_as_no_answer() {
    let mut h = H::new();
    h.queue(queue("q", Strategy::LongestIdleAgent));
    h.agent_cfg(AgentConfig { max_no_answer: 1, ..agent("a") }, "q", 1, 1);
    h.join("q", "m1");
    let o = h.one_offer();
    h.fail(&o, OfferFailure::Busy);
    let o = h.one_offer();
    h.fail(&o, OfferFailure::Rejected);
    assert_eq!(h.view("a").status, AgentStatus::Available);
    assert_eq!(h.view("a").counters.no_answer_count, 0);
    h.one_offer();
}

#[test]
fn on_demand_goes_idle_after_a_call() {
    let mut h = H::new();
    h.queue(queue("q", Strategy::LongestIdleAgent));
    h.agent("a", "q", 1, 1);
    h.status("a", AgentStatus::AvailableOnDemand);
    h.join("q", "m1");
    let o = h.one_offer();
    h.answer(&o);
    h.to(10);
    h.end("m1");
    assert_eq!(h.view("a").state, AgentState::Idle);
    h.join("q", "m2");
    h.no_offer();
    let now = h.now;
    h.e.set_agent_state(now, "a", AgentState::Waiting).unwrap();
    let o = h.one_offer();
    assert_eq!(o.call, "m2");
    h.answer(&o);
    h.end("m2");
    assert_eq!(h.view("a").state, AgentState::Idle);
    // Setting the status again also readies it.
    h.join("q", "m3");
    h.no_offer();
    h.status("a", AgentStatus::AvailableOnDemand);
    assert_eq!(h.one_offer().call, "m3");
}

#[test]
fn idle_agents_are_not_offered() {
    let mut h = three(Strategy::TopDown);
    let now = h.now;
    h.e.set_agent_state(now, "a", AgentState::Idle).unwrap();
    // Engine states cannot be set from outside.
    h.e.set_agent_state(now, "b", AgentState::InQueueCall).unwrap();
    assert_eq!(h.view("b").state, AgentState::Waiting);
    h.join("q", "m1");
    assert_eq!(h.one_offer().agent, "b");
    h.status("a", AgentStatus::Available);
    assert_eq!(h.view("a").state, AgentState::Waiting);
}

#[test]
fn available_goes_back_to_waiting_after_a_call() {
    let mut h = H::new();
    h.queue(queue("q", Strategy::LongestIdleAgent));
    h.agent("a", "q", 1, 1);
    h.join("q", "m1");
    let o = h.one_offer();
    assert_eq!(h.e.members(h.now, "q")[0].offered_to, ["a"]);
    h.join("q", "m2");
    h.no_offer();
    h.answer(&o);
    h.to(3);
    h.take();
    let now = h.now;
    h.e.bridge_ended(now, "m1").unwrap();
    let events = h.events();
    assert!(events.contains(&Event::BridgeEnded { queue: "q".into(), agent: "a".into(), call_id: "m1".into(), talk_ms: 3000 }));
    // Waiting, then straight away Receiving for m2.
    let states: Vec<AgentState> = events.iter().filter_map(|e| if let Event::AgentStateChanged { state, .. } = e { Some(*state) } else { None }).collect();
    assert_eq!(states, [AgentState::Waiting, AgentState::Receiving]);
    assert!(events.contains(&Event::AgentOffering { queue: "q".into(), agent: "a".into(), call_id: "m2".into(), caller_number: "m2".into(), caller_name: Some("Caller m2".into()) }));
}

#[test]
fn busy_agents_are_skipped() {
    let mut h = three(Strategy::TopDown);
    h.busy("a", true);
    h.join("q", "m1");
    assert_eq!(h.one_offer().agent, "b");
    h.busy("a", false);
    h.join("q", "m2");
    assert_eq!(h.one_offer().agent, "a");
    assert!(!h.view("a").busy);
}

#[test]
fn skills_are_required() {
    let mut h = H::new();
    h.queue(QueueConfig { skills: vec!["fr".into(), "billing".into()], ..queue("q", Strategy::TopDown) });
    h.agent_cfg(AgentConfig { skills: vec!["fr".into()], ..agent("a") }, "q", 1, 1);
    h.agent_cfg(AgentConfig { skills: vec!["billing".into(), "fr".into(), "de".into()], ..agent("b") }, "q", 1, 2);
    h.join("q", "m1");
    assert_eq!(h.one_offer().agent, "b");
    h.join("q", "m2");
    h.no_offer();
    // a learns billing: eligible.
    let now = h.now;
    h.e.set_agent(now, AgentConfig { skills: vec!["fr".into(), "billing".into()], ..agent("a") });
    assert_eq!(h.one_offer().agent, "a");
}

#[test]
fn standby_tiers_are_not_offered() {
    let mut h = H::new();
    h.queue(queue("q", Strategy::TopDown));
    h.agent("a", "q", 1, 1);
    h.agent("b", "q", 1, 2);
    let now = h.now;
    h.e.set_tier(now, Tier { queue: "q".into(), agent: "a".into(), level: 1, position: 1, state: TierState::Standby }).unwrap();
    h.join("q", "m1");
    assert_eq!(h.one_offer().agent, "b");
    assert_eq!(h.e.tiers()[0].state, TierState::Standby);
}

#[test]
fn an_agent_in_two_queues_is_offered_once() {
    let mut h = H::new();
    h.queue(queue("q1", Strategy::LongestIdleAgent));
    h.queue(queue("q2", Strategy::LongestIdleAgent));
    h.agent("a", "q1", 1, 1);
    let now = h.now;
    h.e.set_tier(now, Tier { queue: "q2".into(), agent: "a".into(), ..Tier::default() }).unwrap();
    h.join("q2", "m2");
    h.join("q1", "m1");
    let o = h.one_offer();
    assert_eq!(o.call, "m2");
    h.answer(&o);
    h.no_offer();
    h.to(10);
    h.end("m2");
    let o = h.one_offer();
    assert_eq!(o.call, "m1");
}

#[test]
fn two_queues_the_longest_waiting_member_gets_the_shared_agent() {
    let mut h = H::new();
    h.queue(queue("q1", Strategy::LongestIdleAgent));
    h.queue(queue("q2", Strategy::LongestIdleAgent));
    h.agent("a", "q1", 1, 1);
    let now = h.now;
    h.e.set_tier(now, Tier { queue: "q2".into(), agent: "a".into(), ..Tier::default() }).unwrap();
    h.busy("a", true);
    h.join("q2", "m2");
    h.to(1);
    h.join("q1", "m1");
    h.to(5);
    h.busy("a", false);
    assert_eq!(h.one_offer().call, "m2");
}

#[test]
fn logout_cancels_a_ringing_offer() {
    let mut h = three(Strategy::TopDown);
    h.join("q", "m1");
    let o = h.one_offer();
    assert_eq!(o.agent, "a");
    let now = h.now;
    h.e.set_agent_status(now, "a", AgentStatus::LoggedOut).unwrap();
    let acts = h.take();
    assert!(acts.contains(&Action::CancelOffer { offer: o.id, call_id: "m1".into(), agent: "a".into() }));
    let next: Vec<&String> = acts.iter().filter_map(|a| if let Action::Offer { agent, .. } = a { Some(agent) } else { None }).collect();
    assert_eq!(next, ["b"]);
    assert_eq!(h.view("a").state, AgentState::Waiting);
    assert_eq!(h.view("a").counters.no_answer_count, 0, "no penalty");
}

#[test]
fn remove_agent_cancels_its_offer_and_keeps_a_bridge_until_it_ends() {
    let mut h = three(Strategy::TopDown);
    h.join("q", "m1");
    let o1 = h.one_offer();
    h.answer(&o1);
    h.join("q", "m2");
    let o2 = h.one_offer();
    assert_eq!(o2.agent, "b");
    let now = h.now;
    h.e.remove_agent(now, "b").unwrap();
    let acts = h.take();
    assert!(acts.contains(&Action::CancelOffer { offer: o2.id, call_id: "m2".into(), agent: "b".into() }));
    h.e.remove_agent(now, "a").unwrap();
    assert!(h.e.agent("a").is_none());
    h.to(4);
    h.end("m1");
    assert!(h.e.agent("a").is_none());
    assert_eq!(h.e.remove_agent(now, "a"), Err(Error::NoAgent));
    assert_eq!(h.e.agents().len(), 1);
}

// ---- members -----------------------------------------------------------------

#[test]
fn leave_cancels_offers_and_counts_abandoned() {
    let mut h = three(Strategy::TopDown);
    h.join("q", "m1");
    let o = h.one_offer();
    h.to(25);
    let now = h.now;
    h.e.leave(now, "m1").unwrap();
    let acts = h.take();
    assert!(acts.contains(&Action::CancelOffer { offer: o.id, call_id: "m1".into(), agent: "a".into() }));
    assert!(acts.contains(&Action::Event(Event::MemberLeft { queue: "q".into(), call_id: "m1".into(), cause: ExitCause::Abandoned, wait_ms: 25_000, agent: None })));
    assert!(exits(&acts).is_empty(), "no Exit for a caller who hung up");
    let s = h.e.stats(h.now, "q").unwrap();
    assert_eq!(s.abandoned, 1);
    assert_eq!(s.waiting, 0);
    assert_eq!(s.service_level, 0.0, "abandoned after 20 s");
    h.no_agent_reserved_or_receiving();
}

#[test]
fn abandoned_resume_gets_the_old_place_back() {
    let mut h = H::new();
    h.queue(QueueConfig { abandoned_resume_allowed: true, discard_abandoned_after: 60, ..queue("q", Strategy::LongestIdleAgent) });
    h.join_info("q", member("c1", "100", h.now, 0)).unwrap();
    h.to(5);
    h.join_info("q", member("c2", "200", h.now, 0)).unwrap();
    h.to(10);
    h.leave("c1");
    h.to(20);
    let j = h.join_info("q", member("c1b", "100", h.now, 0)).unwrap();
    assert_eq!(j, Joined { position: 1, resumed: true });
    let ms = h.e.members(h.now, "q");
    assert_eq!(ms[0].call_id, "c1b");
    assert_eq!(ms[0].wait_ms, 20_000, "waited from the original join");
    // Abandon again; come back after discard_abandoned_after: a new member.
    h.leave("c1b");
    h.to(81);
    let j = h.join_info("q", member("c1c", "100", h.now, 0)).unwrap();
    assert_eq!(j, Joined { position: 2, resumed: false });
}

#[test]
fn abandoned_resume_not_allowed() {
    let mut h = H::new();
    h.queue(QueueConfig { abandoned_resume_allowed: false, ..queue("q", Strategy::LongestIdleAgent) });
    h.join_info("q", member("c1", "100", h.now, 0)).unwrap();
    h.to(5);
    h.join_info("q", member("c2", "200", h.now, 0)).unwrap();
    h.leave("c1");
    h.to(10);
    let j = h.join_info("q", member("c1b", "100", h.now, 0)).unwrap();
    assert_eq!(j, Joined { position: 2, resumed: false });
}

#[test]
fn discard_abandoned_after_forgets_and_the_timer_fires() {
    let mut h = H::new();
    h.queue(QueueConfig { abandoned_resume_allowed: true, discard_abandoned_after: 30, ..queue("q", Strategy::LongestIdleAgent) });
    h.join_info("q", member("c1", "100", h.now, 0)).unwrap();
    h.leave("c1");
    assert_eq!(h.e.poll_timeout(), Some(h.at(30)));
    h.to(29);
    h.join_info("q", member("x", "999", h.now, 0)).unwrap();
    let j = h.join_info("q", member("c1b", "100", h.now, 0)).unwrap();
    assert!(j.resumed);
    h.leave("c1b");
    h.to(29 + 31);
    let j = h.join_info("q", member("c1c", "100", h.now, 0)).unwrap();
    assert!(!j.resumed);
}

#[test]
fn dissuade_max_waiting() {
    let mut h = H::new();
    h.queue(QueueConfig { dissuade_max_waiting: 2, fallback: Some("voicemail".into()), ..queue("q", Strategy::LongestIdleAgent) });
    assert_eq!(h.join("q", "m1").position, 1);
    assert_eq!(h.join("q", "m2").position, 2);
    let r = h.join_info("q", member("m3", "3", h.now, 0));
    assert_eq!(r, Err(JoinError::Dissuaded { fallback: Some("voicemail".into()) }));
    h.leave("m1");
    assert!(h.join_info("q", member("m3", "3", h.now, 0)).is_ok());
}

#[test]
fn dissuade_max_wait_estimate() {
    let mut h = H::new();
    h.queue(QueueConfig { dissuade_max_wait_estimate: 100, ..queue("q", Strategy::LongestIdleAgent) });
    h.agent("a", "q", 1, 1);
    h.busy("a", true);
    // Estimate: (ahead + 1) × 60 s / 1 agent.
    h.join("q", "m1");
    assert_eq!(h.e.stats(h.now, "q").unwrap().estimated_wait, 120);
    assert!(matches!(h.join_info("q", member("m2", "2", h.now, 0)), Err(JoinError::Dissuaded { fallback: None })));
    // A second agent halves it.
    h.agent("b", "q", 1, 2);
    h.busy("b", true);
    assert!(h.join_info("q", member("m2", "2", h.now, 0)).is_ok());
    // Shorter calls lower it: history replaces the default.
    let mut h = H::new();
    h.queue(QueueConfig { dissuade_max_wait_estimate: 100, ..queue("q", Strategy::LongestIdleAgent) });
    h.agent("a", "q", 1, 1);
    h.call_through("q", "x", 20);
    h.busy("a", true);
    for i in 0..5 {
        h.join("q", &format!("m{i}"));
    }
    assert_eq!(h.e.stats(h.now, "q").unwrap().estimated_wait, 120);
    assert!(h.join_info("q", member("m9", "9", h.now, 0)).is_err());
}

#[test]
fn score_orders_members_by_base_score_and_wait() {
    let mut h = H::new();
    h.queue(queue("q", Strategy::LongestIdleAgent));
    h.agent("a", "q", 1, 1);
    h.busy("a", true);
    h.join_info("q", member("m1", "1", h.now, 0)).unwrap();
    h.to(10);
    let j = h.join_info("q", member("vip", "2", h.now, 100)).unwrap();
    assert_eq!(j.position, 1);
    h.to(15);
    let j = h.join_info("q", member("m3", "3", h.now, 4)).unwrap();
    assert_eq!(j.position, 3, "score 4 < m1's 15");
    let j = h.join_info("q", member("m4", "4", h.now, 16)).unwrap();
    assert_eq!(j.position, 2, "score 16 > m1's 15");
    let ms = h.e.members(h.now, "q");
    let order: Vec<(&str, i64, u32)> = ms.iter().map(|m| (m.call_id.as_str(), m.score, m.position)).collect();
    assert_eq!(order, [("vip", 105, 1), ("m4", 16, 2), ("m1", 15, 3), ("m3", 4, 4)]);
    h.busy("a", false);
    let o = h.one_offer();
    assert_eq!(o.call, "vip");
}

#[test]
fn time_base_system_counts_from_call_start() {
    for (base, first) in [(TimeBase::System, "early"), (TimeBase::Queue, "m1")] {
        let mut h = H::new();
        h.queue(QueueConfig { time_base_score: base, ..queue("q", Strategy::LongestIdleAgent) });
        h.agent("a", "q", 1, 1);
        h.busy("a", true);
        h.to(100);
        h.join_info("q", member("m1", "1", h.at(95), 0)).unwrap();
        h.to(110);
        // Its call started at 20 (IVR, other queues...).
        h.join_info("q", member("early", "2", h.at(20), 0)).unwrap();
        let ms = h.e.members(h.now, "q");
        assert_eq!(ms[0].call_id, first, "{base:?}");
        if base == TimeBase::System {
            assert_eq!(ms[0].score, 90);
        } else {
            assert_eq!(ms[0].score, 10);
        }
        h.busy("a", false);
        assert_eq!(h.one_offer().call, first);
    }
}

#[test]
fn equal_scores_are_served_in_join_order() {
    let mut h = H::new();
    h.queue(queue("q", Strategy::LongestIdleAgent));
    h.agent("a", "q", 1, 1);
    h.busy("a", true);
    for i in 0..5 {
        h.join("q", &format!("m{i}"));
    }
    h.busy("a", false);
    for i in 0..5 {
        let o = h.one_offer();
        assert_eq!(o.call, format!("m{i}"));
        h.answer(&o);
        h.end(&o.call);
    }
}

#[test]
fn remove_queue_exits_members_and_cancels_offers() {
    let mut h = three(Strategy::RingAll);
    let now = h.now;
    h.e.set_queue(now, QueueConfig { fallback: Some("0".into()), ..queue("q", Strategy::RingAll) });
    h.join("q", "m1");
    h.join("q", "m2");
    assert_eq!(h.offers().len(), 3);
    h.e.remove_queue(now, "q").unwrap();
    let acts = h.take();
    assert_eq!(acts.iter().filter(|a| matches!(a, Action::CancelOffer { .. })).count(), 3);
    let mut ex = exits(&acts);
    ex.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(ex, [("m1".to_string(), ExitCause::QueueRemoved), ("m2".to_string(), ExitCause::QueueRemoved)]);
    assert_eq!(acts.iter().filter(|a| matches!(a, Action::Event(Event::MemberLeft { cause: ExitCause::QueueRemoved, .. }))).count(), 2);
    h.no_agent_reserved_or_receiving();
    assert!(h.e.tiers().is_empty());
    assert!(h.e.queue("q").is_none());
    assert_eq!(h.e.remove_queue(now, "q"), Err(Error::NoQueue));
    assert!(h.e.member_of(now, "m1").is_none());
}

#[test]
fn set_queue_keeps_members_and_applies_a_new_strategy() {
    let mut h = three(Strategy::TopDown);
    h.busy("a", true);
    h.busy("b", true);
    h.busy("c", true);
    h.join("q", "m1");
    h.to(5);
    h.join("q", "m2");
    let now = h.now;
    h.e.set_queue(now, queue("q", Strategy::RingAll));
    assert_eq!(h.e.members(now, "q").len(), 2);
    h.busy("a", false);
    h.busy("b", false);
    let o = h.offers();
    assert_eq!(o.len(), 2);
    assert!(o.iter().all(|o| o.call == "m1"));
}

// ---- events, views, errors ------------------------------------------------

#[test]
fn events_of_a_call() {
    let mut h = H::new();
    h.queue(queue("q", Strategy::LongestIdleAgent));
    h.agent("a", "q", 1, 1);
    h.busy("a", true);
    h.join("q", "x");
    let now = h.now;
    let j = h.e.join(now, "q", member("m1", "555", now, 0)).unwrap();
    assert_eq!(j.position, 2);
    let ev = h.events();
    assert!(ev.contains(&Event::MemberJoined { queue: "q".into(), call_id: "m1".into(), caller_number: "555".into(), position: 2 }));
    h.leave("x");
    h.take();
    h.busy("a", false);
    let acts = h.take();
    let states: Vec<AgentState> = acts.iter().filter_map(|a| if let Action::Event(Event::AgentStateChanged { state, .. }) = a { Some(*state) } else { None }).collect();
    assert_eq!(states, [AgentState::Receiving]);
    let offer = acts.iter().find_map(|a| if let Action::Offer { offer, contact, queue, .. } = a { assert_eq!(contact, "sip:a@local"); assert_eq!(queue, "q"); Some(*offer) } else { None }).unwrap();
    assert!(acts.contains(&Action::Event(Event::AgentOffering { queue: "q".into(), agent: "a".into(), call_id: "m1".into(), caller_number: "555".into(), caller_name: Some("Caller 555".into()) })));
    h.to(4);
    let now = h.now;
    h.e.offer_answered(now, offer).unwrap();
    let ev = h.events();
    assert!(ev.contains(&Event::Bridged { queue: "q".into(), agent: "a".into(), call_id: "m1".into() }));
    assert!(ev.contains(&Event::MemberLeft { queue: "q".into(), call_id: "m1".into(), cause: ExitCause::Answered, wait_ms: 4000, agent: Some("a".into()) }));
    assert!(ev.contains(&Event::AgentStateChanged { agent: "a".into(), state: AgentState::InQueueCall }));
    assert_eq!(h.view("a").call_id.as_deref(), Some("m1"));
    assert_eq!(h.e.member_of(h.now, "m1"), Some(("q".into(), 4000, 2)));
    assert_eq!(h.e.tiers()[0].state, TierState::ActiveInbound);
    h.to(34);
    h.end("m1");
    let a = h.view("a");
    assert_eq!((a.counters.calls_answered, a.counters.talk_time), (1, 30));
    assert_eq!(a.state, AgentState::Waiting);
    assert_eq!(a.call_id, None);
    assert_eq!(h.e.tiers()[0].state, TierState::Ready);
    let s = h.e.stats(h.now, "q").unwrap();
    assert_eq!((s.answered, s.abandoned, s.agents_available, s.service_level), (1, 1, 1, 1.0));
}

#[test]
fn restore_agent_keeps_counters_and_learns_the_wall_clock() {
    let mut h = H::new();
    h.queue(queue("q", Strategy::LongestIdleAgent));
    let now = h.now;
    h.e.set_agent(now, agent("a"));
    h.e.set_tier(now, Tier { queue: "q".into(), agent: "a".into(), ..Tier::default() }).unwrap();
    let c = AgentCounters { calls_answered: 9, talk_time: 900, no_answer_count: 1, last_bridge_end_ms: 1_000_000 };
    h.e.restore_agent(now, agent("a"), AgentStatus::Available, c.clone(), Some(now));
    assert_eq!(h.view("a").counters, c);
    assert_eq!(h.view("a").status, AgentStatus::Available);
    h.to(10);
    h.call_through("q", "m1", 5);
    assert_eq!(h.view("a").counters.last_bridge_end_ms, 1_015_000);
}

#[test]
fn stats_count_agents_and_service_level() {
    let mut h = three(Strategy::TopDown);
    h.status("b", AgentStatus::OnBreak);
    h.status("c", AgentStatus::AvailableOnDemand);
    h.join("q", "m1");
    let o = h.one_offer();
    h.to(25);
    h.answer(&o); // answered after 25 s: outside the service level
    h.join("q", "m2");
    let o = h.one_offer();
    h.to(30);
    h.answer(&o);
    let s = h.e.stats(h.now, "q").unwrap();
    assert_eq!((s.agents_available, s.agents_on_demand, s.agents_on_break, s.agents_logged_out, s.agents_in_call), (1, 1, 1, 0, 2));
    assert_eq!(s.service_level, 0.5);
    assert_eq!(s.answered, 2);
    assert!(h.e.stats(h.now, "nope").is_none());
}

#[test]
fn errors_for_unknown_ids() {
    let mut h = H::new();
    let now = h.now;
    h.queue(queue("q", Strategy::LongestIdleAgent));
    assert_eq!(h.e.join(now, "nope", member("m", "1", now, 0)), Err(JoinError::NoQueue));
    h.join("q", "m");
    assert_eq!(h.e.join(now, "q", member("m", "1", now, 0)), Err(JoinError::AlreadyWaiting));
    assert_eq!(h.e.leave(now, "zz"), Err(Error::NoMember));
    assert_eq!(h.e.bridge_ended(now, "m"), Err(Error::NoMember));
    assert_eq!(h.e.offer_answered(now, OfferId(999)), Err(Error::NoOffer));
    assert_eq!(h.e.offer_failed(now, OfferId(999), OfferFailure::Busy), Err(Error::NoOffer));
    assert_eq!(h.e.set_agent_status(now, "zz", AgentStatus::Available), Err(Error::NoAgent));
    assert_eq!(h.e.set_agent_state(now, "zz", AgentState::Waiting), Err(Error::NoAgent));
    assert_eq!(h.e.set_agent_busy(now, "zz", true), Err(Error::NoAgent));
    assert_eq!(h.e.remove_agent(now, "zz"), Err(Error::NoAgent));
    assert_eq!(h.e.remove_queue(now, "zz"), Err(Error::NoQueue));
    assert_eq!(h.e.set_tier(now, Tier { queue: "zz".into(), agent: "a".into(), ..Tier::default() }), Err(Error::NoQueue));
    assert_eq!(h.e.set_tier(now, Tier { queue: "q".into(), agent: "zz".into(), ..Tier::default() }), Err(Error::NoAgent));
    h.e.set_agent(now, agent("a"));
    assert_eq!(h.e.remove_tier(now, "q", "a"), Err(Error::NoTier));
    assert_eq!(h.e.remove_tier(now, "zz", "a"), Err(Error::NoQueue));
    assert!(h.e.members(now, "zz").is_empty());
    assert!(h.e.member_of(now, "zz").is_none());
}

#[test]
fn new_agents_start_logged_out_and_views_list_them() {
    let mut h = H::new();
    let now = h.now;
    h.queue(queue("q", Strategy::LongestIdleAgent));
    h.e.set_agent(now, agent("b"));
    h.e.set_agent(now, agent("a"));
    let v = h.e.agents();
    assert_eq!(v.iter().map(|a| a.config.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert!(v.iter().all(|a| a.status == AgentStatus::LoggedOut && a.state == AgentState::Waiting));
    h.e.set_tier(now, Tier { queue: "q".into(), agent: "a".into(), ..Tier::default() }).unwrap();
    h.join("q", "m1");
    h.no_offer();
    assert_eq!(h.e.queues().len(), 1);
    h.e.remove_tier(now, "q", "a").unwrap();
    assert!(h.e.tiers().is_empty());
}

#[test]
fn remove_tier_cancels_an_offer_from_that_queue() {
    let mut h = three(Strategy::TopDown);
    h.join("q", "m1");
    let o = h.one_offer();
    let now = h.now;
    h.e.remove_tier(now, "q", "a").unwrap();
    let acts = h.take();
    assert!(acts.contains(&Action::CancelOffer { offer: o.id, call_id: "m1".into(), agent: "a".into() }));
    assert!(acts.iter().any(|a| matches!(a, Action::Offer { agent, .. } if agent == "b")));
}

#[test]
fn tier_state_no_answer_then_ready() {
    let mut h = H::new();
    h.queue(queue("q", Strategy::LongestIdleAgent));
    h.agent_cfg(AgentConfig { no_answer_delay_time: 10, ..agent("a") }, "q", 1, 1);
    h.join("q", "m1");
    let o = h.one_offer();
    assert_eq!(h.e.tiers()[0].state, TierState::Offering);
    h.fail(&o, OfferFailure::NoAnswer);
    assert_eq!(h.e.tiers()[0].state, TierState::NoAnswer);
    h.to(10);
    h.one_offer();
    assert_eq!(h.e.tiers()[0].state, TierState::Offering);
    h.leave("m1");
    assert_eq!(h.e.tiers()[0].state, TierState::Ready);
}

// ---- property test ---------------------------------------------------------

mod prop {
    use super::*;
    use proptest::prelude::{any, prop_oneof, proptest, ProptestConfig, Strategy as PStrategy};
    use std::collections::HashMap;

    #[derive(Debug, Clone)]
    enum Op {
        Join(usize, u8, i8),
        Leave(u8),
        Answer(u8),
        Fail(u8, u8),
        End(u8),
        Status(usize, u8),
        Busy(usize, bool),
        State(usize, bool),
        Advance(u16),
        Tier(usize, usize, bool),
    }

    fn op() -> impl PStrategy<Value = Op> {
        prop_oneof![
            4 => (0..2usize, any::<u8>(), -3i8..3).prop_map(|(q, c, b)| Op::Join(q, c, b)),
            1 => any::<u8>().prop_map(Op::Leave),
            3 => any::<u8>().prop_map(Op::Answer),
            2 => (any::<u8>(), 0..4u8).prop_map(|(o, w)| Op::Fail(o, w)),
            3 => any::<u8>().prop_map(Op::End),
            2 => (0..4usize, 0..4u8).prop_map(|(a, s)| Op::Status(a, s)),
            1 => (0..4usize, any::<bool>()).prop_map(|(a, b)| Op::Busy(a, b)),
            1 => (0..4usize, any::<bool>()).prop_map(|(a, b)| Op::State(a, b)),
            3 => (0..40u16).prop_map(Op::Advance),
            1 => (0..2usize, 0..4usize, any::<bool>()).prop_map(|(q, a, on)| Op::Tier(q, a, on)),
        ]
    }

    const STRATS: [callcenter::Strategy; 8] = [
        callcenter::Strategy::RingAll,
        callcenter::Strategy::LongestIdleAgent,
        callcenter::Strategy::RoundRobin,
        callcenter::Strategy::TopDown,
        callcenter::Strategy::AgentWithLeastTalkTime,
        callcenter::Strategy::AgentWithFewestCalls,
        callcenter::Strategy::SequentiallyByAgentOrder,
        callcenter::Strategy::Random,
    ];
    const AGENTS: [&str; 4] = ["a0", "a1", "a2", "a3"];
    const QUEUES: [&str; 2] = ["q0", "q1"];

    struct World {
        h: H,
        /// Live offers as the driver sees them.
        live: HashMap<OfferId, (String, String)>,
        bridged: Vec<String>,
        next_call: u32,
        /// Check "no eligible agent beside an un-offered member" (needs no
        /// delays: views do not expose ready times).
        coexist: bool,
    }

    impl World {
        fn absorb(&mut self) {
            for a in self.h.take() {
                match a {
                    Action::Offer { offer, call_id, agent, .. } => {
                        assert!(self.live.insert(offer, (call_id, agent)).is_none());
                    }
                    Action::CancelOffer { offer, .. } => {
                        assert!(self.live.remove(&offer).is_some(), "cancel of an unknown offer");
                    }
                    _ => {}
                }
            }
        }

        fn pick_offer(&self, i: u8) -> Option<OfferId> {
            let mut ids: Vec<OfferId> = self.live.keys().copied().collect();
            ids.sort();
            (!ids.is_empty()).then(|| ids[i as usize % ids.len()])
        }

        fn check(&self) {
            let e = &self.h.e;
            let now = self.h.now;
            let agents = e.agents();
            let mut per_agent: HashMap<&str, u32> = HashMap::new();
            for (call, agent) in self.live.values() {
                *per_agent.entry(agent.as_str()).or_default() += 1;
                assert!(e.member_of(now, call).is_some(), "offer for a member not waiting");
                let (q, _, _) = e.member_of(now, call).unwrap();
                assert!(e.members(now, &q).iter().any(|m| &m.call_id == call), "offered member {call} not waiting");
            }
            for a in &agents {
                let n = per_agent.get(a.config.name.as_str()).copied().unwrap_or(0);
                assert!(n <= 1, "agent {} has {n} offers", a.config.name);
                assert_eq!(a.state == AgentState::Receiving, n == 1, "agent {} state {:?} with {n} offers", a.config.name, a.state);
                assert_ne!(a.state, AgentState::Reserved);
            }
            // No eligible agent and un-offered member in the same queue.
            let tiers = e.tiers();
            if !self.coexist {
                return;
            }
            for q in QUEUES {
                let cfg = e.queue(q).unwrap();
                let unoffered = e.members(now, q).iter().any(|m| m.offered_to.is_empty());
                if !unoffered {
                    continue;
                }
                for t in tiers.iter().filter(|t| t.queue == q && t.state != TierState::Standby) {
                    let a = agents.iter().find(|a| a.config.name == t.agent).unwrap();
                    let skills = cfg.skills.iter().all(|s| a.config.skills.contains(s));
                    let eligible = matches!(a.status, AgentStatus::Available | AgentStatus::AvailableOnDemand)
                        && a.state == AgentState::Waiting
                        && !a.busy
                        && a.call_id.is_none()
                        && skills;
                    assert!(!eligible, "agent {} eligible while {q} has an un-offered member", a.config.name);
                }
            }
        }

        fn apply(&mut self, op: Op) {
            let now = self.h.now;
            match op {
                Op::Join(q, c, b) => {
                    self.next_call += 1;
                    let call = format!("c{}", self.next_call);
                    let m = member(&call, &format!("n{}", c % 8), now, i64::from(b) * 5);
                    let _ = self.h.e.join(now, QUEUES[q], m);
                }
                Op::Leave(i) => {
                    let mut calls: Vec<String> = QUEUES.iter().flat_map(|q| self.h.e.members(now, q)).map(|m| m.call_id).collect();
                    calls.sort();
                    if !calls.is_empty() {
                        let c = calls[i as usize % calls.len()].clone();
                        self.h.e.leave(now, &c).unwrap();
                    }
                }
                Op::Answer(i) => {
                    if let Some(o) = self.pick_offer(i) {
                        let (call, _) = self.live.remove(&o).unwrap();
                        self.h.e.offer_answered(now, o).unwrap();
                        self.bridged.push(call);
                    }
                }
                Op::Fail(i, w) => {
                    if let Some(o) = self.pick_offer(i) {
                        self.live.remove(&o);
                        let why = [OfferFailure::NoAnswer, OfferFailure::Busy, OfferFailure::Rejected, OfferFailure::Unreachable][w as usize];
                        self.h.e.offer_failed(now, o, why).unwrap();
                    }
                }
                Op::End(i) => {
                    if !self.bridged.is_empty() {
                        let c = self.bridged.remove(i as usize % self.bridged.len());
                        self.h.e.bridge_ended(now, &c).unwrap();
                    }
                }
                Op::Status(a, s) => {
                    let s = [AgentStatus::Available, AgentStatus::AvailableOnDemand, AgentStatus::OnBreak, AgentStatus::LoggedOut][s as usize];
                    self.h.e.set_agent_status(now, AGENTS[a], s).unwrap();
                }
                Op::Busy(a, b) => self.h.e.set_agent_busy(now, AGENTS[a], b).unwrap(),
                Op::State(a, w) => self.h.e.set_agent_state(now, AGENTS[a], if w { AgentState::Waiting } else { AgentState::Idle }).unwrap(),
                Op::Advance(s) => {
                    let t = self.h.now_s() + u64::from(s);
                    // Drive timers one by one and check after each.
                    while let Some(next) = self.h.e.poll_timeout() {
                        if next > self.h.at(t) {
                            break;
                        }
                        self.h.now = next.max(self.h.now);
                        let n = self.h.now;
                        self.h.e.handle_timeout(n);
                        assert!(self.h.e.poll_timeout().is_none_or(|x| x > n), "poll_timeout not after now");
                        self.absorb();
                        self.check();
                    }
                    self.h.now = self.h.at(t);
                    let n = self.h.now;
                    self.h.e.handle_timeout(n);
                    assert!(self.h.e.poll_timeout().is_none_or(|x| x > n));
                }
                Op::Tier(q, a, on) => {
                    if on {
                        let level = 1 + (a as u32 % 2);
                        self.h.e.set_tier(now, Tier { queue: QUEUES[q].into(), agent: AGENTS[a].into(), level, position: a as u32, state: TierState::Ready }).unwrap();
                    } else {
                        let _ = self.h.e.remove_tier(now, QUEUES[q], AGENTS[a]);
                    }
                }
            }
            self.absorb();
            // Offers whose member was bridged elsewhere or left were cancelled (absorbed).
            self.bridged.retain(|c| self.h.e.member_of(self.h.now, c).is_some());
            self.check();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        #[test]
        fn invariants_hold(s0 in 0..8usize, s1 in 0..8usize, seed in any::<u64>(), skills in any::<bool>(), delays in any::<bool>(), ops in proptest::collection::vec(op(), 1..80)) {
            let mut h = H::seeded(seed);
            let now = h.now;
            for (i, q) in QUEUES.iter().enumerate() {
                let strategy = STRATS[if i == 0 { s0 } else { s1 }];
                h.e.set_queue(now, QueueConfig {
                    max_wait_time: 300,
                    max_wait_time_with_no_agent: 120,
                    abandoned_resume_allowed: true,
                    agent_ring_timeout: 25,
                    skills: if skills && i == 1 { vec!["x".into()] } else { vec![] },
                    ..queue(q, strategy)
                });
            }
            for (i, a) in AGENTS.iter().enumerate() {
                let d = if delays { 7 } else { 0 };
                h.e.set_agent(now, AgentConfig {
                    max_no_answer: 3,
                    wrap_up_time: d,
                    reject_delay_time: d,
                    busy_delay_time: d,
                    no_answer_delay_time: d,
                    skills: if i % 2 == 0 { vec!["x".into()] } else { vec![] },
                    ..agent(a)
                });
                h.e.set_tier(now, Tier { queue: QUEUES[i % 2].into(), agent: (*a).into(), level: 1, position: i as u32, state: TierState::Ready }).unwrap();
                if i == 3 {
                    h.e.set_tier(now, Tier { queue: QUEUES[0].into(), agent: (*a).into(), level: 1, position: 9, state: TierState::Ready }).unwrap();
                }
                h.e.set_agent_status(now, a, AgentStatus::Available).unwrap();
            }
            let mut w = World { h, live: HashMap::new(), bridged: Vec::new(), next_call: 0, coexist: !delays };
            w.absorb();
            w.check();
            for op in ops {
                w.apply(op);
            }
        }
    }

}

fn announces(acts: &[Action]) -> Vec<(String, u32)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Announce { call_id, position, .. } => Some((call_id.clone(), *position)),
            _ => None,
        })
        .collect()
}

#[test]
fn periodic_announcements_carry_the_position_and_stop_at_the_bridge() {
    let mut h = H::new();
    h.queue(QueueConfig { announce: Some("ann.wav".into()), announce_frequency: 20, ..queue("q", Strategy::LongestIdleAgent) });
    h.agent("a", "q", 1, 1);
    h.busy("a", true);
    h.join("q", "m1");
    h.to(5);
    h.join("q", "m2");
    h.to(19);
    assert!(announces(&h.take()).is_empty(), "not before the first period");
    h.to(20);
    assert_eq!(announces(&h.take()), vec![("m1".into(), 1)]);
    h.to(25);
    let acts = h.take();
    assert_eq!(announces(&acts), vec![("m2".into(), 2)]);
    assert!(acts.iter().any(|a| matches!(a, Action::Announce { prompt, estimated_wait, .. } if prompt == "ann.wav" && *estimated_wait == 120)), "2 × 60 s default talk time / 1 agent present: {acts:?}");
    // m1 is answered: only m2 keeps hearing announcements, now first.
    h.busy("a", false);
    let o = h.one_offer();
    h.e.offer_answered(h.now, o.id).unwrap();
    h.to(45);
    assert_eq!(announces(&h.take()), vec![("m2".into(), 1)]);
    h.e.leave(h.now, "m2").unwrap();
    h.to(200);
    assert!(announces(&h.take()).is_empty(), "nothing for members who left or were answered");
}

/// IVR sessions (`callcenter::ivr`) on the same virtual clock.
mod ivr {
    use super::NowForTests;
    use callcenter::ivr::*;
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    fn menu() -> Menu {
        let mut choices = BTreeMap::new();
        choices.insert("1".to_owned(), Target::Queue("sales".into()));
        choices.insert("2".to_owned(), Target::Extension("1000".into()));
        choices.insert("9".to_owned(), Target::Ivr("more".into()));
        Menu { name: "main".into(), prompt: "welcome.wav".into(), invalid_prompt: Some("invalid.wav".into()), choices, ..Menu::default() }
    }

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn a_digit_during_the_prompt_chooses_at_once() {
        let t0 = Instant::now_for_tests();
        let (mut s, first) = Session::start(menu());
        assert_eq!(first, Output::Play("welcome.wav".into()));
        assert_eq!(s.poll_timeout(), None, "no timeout while the prompt plays");
        assert_eq!(s.digit(t0, '1'), Some(Output::Go(Target::Queue("sales".into()))));
        assert_eq!(s.digit(t0, '2'), None, "over: later digits do nothing");
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn no_input_replays_then_fails_over_after_the_retries() {
        let t0 = Instant::now_for_tests();
        let mut m = menu();
        m.on_failure = Some(Target::Extension("operator".into()));
        let (mut s, _) = Session::start(m);
        s.prompt_done(t0);
        assert_eq!(s.poll_timeout(), Some(secs(t0, 5)));
        assert_eq!(s.handle_timeout(secs(t0, 4)), None, "not yet");
        assert_eq!(s.handle_timeout(secs(t0, 5)), Some(Output::Play("invalid.wav".into())), "retry 1");
        s.prompt_done(secs(t0, 8));
        assert_eq!(s.handle_timeout(secs(t0, 13)), Some(Output::Play("invalid.wav".into())), "retry 2");
        s.prompt_done(secs(t0, 16));
        assert_eq!(s.handle_timeout(secs(t0, 21)), Some(Output::Go(Target::Extension("operator".into()))), "retries (2) used up");
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn an_invalid_choice_is_a_retry_and_the_default_failure_hangs_up() {
        let t0 = Instant::now_for_tests();
        let mut m = menu();
        m.retries = 1;
        let (mut s, _) = Session::start(m);
        s.prompt_done(t0);
        assert_eq!(s.digit(t0, '7'), Some(Output::Play("invalid.wav".into())));
        s.prompt_done(t0);
        assert_eq!(s.digit(t0, '8'), Some(Output::Go(Target::Hangup)));
    }

    #[test]
    fn multi_digit_choices_end_on_max_digits_hash_or_the_inter_digit_timeout() {
        let t0 = Instant::now_for_tests();
        let mut m = menu();
        m.max_digits = 3;
        m.choices.insert("12".into(), Target::Queue("vip".into()));
        m.choices.insert("123".into(), Target::Ivr("deep".into()));
        let (mut s, _) = Session::start(m.clone());
        s.prompt_done(t0);
        assert_eq!(s.digit(t0, '1'), None);
        assert_eq!(s.poll_timeout(), Some(secs(t0, 2)), "inter-digit timeout after a digit");
        assert_eq!(s.digit(secs(t0, 1), '2'), None);
        assert_eq!(s.digit(secs(t0, 2), '3'), Some(Output::Go(Target::Ivr("deep".into()))), "max digits");
        let (mut s, _) = Session::start(m.clone());
        s.prompt_done(t0);
        s.digit(t0, '1');
        assert_eq!(s.digit(t0, '#'), Some(Output::Go(Target::Queue("sales".into()))), "# ends the choice");
        let (mut s, _) = Session::start(m);
        s.prompt_done(t0);
        s.digit(t0, '1');
        s.digit(secs(t0, 1), '2');
        assert_eq!(s.handle_timeout(secs(t0, 2)), None);
        assert_eq!(s.handle_timeout(secs(t0, 3)), Some(Output::Go(Target::Queue("vip".into()))), "inter-digit timeout chooses");
    }

    #[test]
    fn menus_deserialise_with_defaults_and_refuse_unknown_fields() {
        let m: Menu = serde_json::from_str(r#"{"name":"m","prompt":"tone:425@1000/0","choices":{"1":{"queue":"q"},"0":"hangup"}}"#).expect("menu");
        assert_eq!((m.timeout, m.retries, m.max_digits), (5, 2, 1));
        assert_eq!(m.choices.get("0"), Some(&Target::Hangup));
        assert!(serde_json::from_str::<Menu>(r#"{"name":"m","promt":"x"}"#).is_err());
    }
}
