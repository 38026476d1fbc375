//! Dispatch throughput: 10,000 waiting members, 1,000 agents, one queue.
//! One iteration = one decision cycle: an offer is answered, its bridge
//! ends, and the freed agent is offered the next member (a new member
//! joins to keep 10,000 waiting). Virtual clock: +1 ms per cycle.

use callcenter::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const MEMBERS: usize = 10_000;
const AGENTS: usize = 1_000;

struct Bench {
    e: Engine,
    now: Instant,
    /// Live offers (id, call) in the order they were made.
    offers: BTreeMap<OfferId, String>,
    next_call: u64,
}

impl Bench {
    fn new(strategy: Strategy) -> Bench {
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let mut e = Engine::new(1);
        e.set_queue(now, QueueConfig { name: "q".into(), strategy, agent_ring_timeout: 0, ..QueueConfig::default() });
        for i in 0..AGENTS {
            let name = format!("agent{i}");
            e.set_agent(now, AgentConfig { name: name.clone(), contact: name.clone(), wrap_up_time: 0, ..AgentConfig::default() });
            e.set_tier(now, Tier { queue: "q".into(), agent: name.clone(), level: 1, position: i as u32, state: TierState::Ready }).unwrap();
            e.set_agent_busy(now, &name, true).unwrap();
            e.set_agent_status(now, &name, AgentStatus::Available).unwrap();
        }
        let mut b = Bench { e, now, offers: BTreeMap::new(), next_call: 0 };
        for _ in 0..MEMBERS {
            b.join();
        }
        for i in 0..AGENTS {
            b.e.set_agent_busy(b.now, &format!("agent{i}"), false).unwrap();
        }
        b.drain();
        b
    }

    fn join(&mut self) {
        self.next_call += 1;
        let call = format!("call{}", self.next_call);
        let m = MemberInfo { call_id: call.clone(), caller_number: call, caller_name: None, base_score: 0, call_start: self.now };
        self.e.join(self.now, "q", m).unwrap();
    }

    fn drain(&mut self) {
        while let Some(a) = self.e.poll_action() {
            match a {
                Action::Offer { offer, call_id, .. } => {
                    self.offers.insert(offer, call_id);
                }
                Action::CancelOffer { offer, .. } => {
                    self.offers.remove(&offer);
                }
                _ => {}
            }
        }
    }

    /// Answer the oldest live offer, end its bridge, refill the queue.
    fn cycle(&mut self) {
        self.now += Duration::from_millis(1);
        let Some((offer, call)) = self.offers.pop_first() else { panic!("no live offer") };
        self.e.offer_answered(self.now, offer).unwrap();
        self.drain();
        self.e.bridge_ended(self.now, &call).unwrap();
        self.join();
        self.drain();
    }
}

fn dispatch(c: &mut Criterion) {
    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(1));
    let mut b = Bench::new(Strategy::LongestIdleAgent);
    g.bench_function("longest_idle_10k_members_1k_agents", |it| it.iter(|| b.cycle()));
    let mut b = Bench::new(Strategy::RingAll);
    g.bench_function("ring_all_10k_members_1k_agents", |it| it.iter(|| b.cycle()));
    g.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
