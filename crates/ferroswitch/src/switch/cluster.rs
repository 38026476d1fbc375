//! The switch in a cluster (docs/multi-node.md): extensions registered on
//! another node are reached through that node, callers of a queue another
//! node owns are sent to it, signed INVITEs from other nodes are accepted
//! for this node's extensions and queues, and agent statuses written by
//! other nodes are applied to this node's engine.

use super::*;
use crate::cluster::{For, Update, Verified, View, HEADER};
use callcenter::AgentStatus;
use std::collections::HashSet;

/// This node's part in a cluster.
pub struct ClusterState {
    pub signer: crate::cluster::Signer,
    pub view: View,
    /// When this node last changed each agent's status (unix ms): a
    /// status another node wrote earlier than that is not applied over it.
    pub local_change_ms: HashMap<String, i64>,
    /// Agents whose status was just applied from another node's row: not
    /// written back (the row is the other node's, with its counters).
    pub applying: HashSet<String>,
    /// Queues other nodes own, as their owners last wrote them.
    pub snapshots: HashMap<String, store::QueueSnapshot>,
    /// Queue callers this node sent to another node (call → queue).
    pub forwarded: HashMap<String, String>,
    /// Such callers whose node died: held here (music), waiting for the
    /// queue's next owner (call → queue).
    pub orphans: HashMap<String, String>,
    /// Other nodes' queue callers put through to a standing call here
    /// (call → agent).
    pub standby_members: HashMap<String, String>,
    /// The queues this node dispatched and has not seen another node take.
    pub owned: HashSet<String>,
}

impl ClusterState {
    pub fn new(node: &str, secret: &str) -> ClusterState {
        ClusterState { signer: crate::cluster::Signer::new(node, secret), view: View::default(), local_change_ms: HashMap::new(), applying: HashSet::new(), snapshots: HashMap::new(), forwarded: HashMap::new(), orphans: HashMap::new(), standby_members: HashMap::new(), owned: HashSet::new() }
    }
}

impl Switch {
    /// The node header of an INVITE, checked. `None` when it has none or
    /// this node is not clustered; a header that fails is logged and the
    /// INVITE goes on as an ordinary call (which must authenticate).
    pub(crate) fn node_invite(&mut self, now: Instant, req: &Message) -> Option<Verified> {
        let value = req.get_named(HEADER)?;
        let now_ms = self.clock.unix_ms(now) as i64;
        let c = self.cluster.as_mut()?;
        match c.signer.verify(value, now_ms) {
            Ok(v) => Some(v),
            Err(why) => {
                tracing::warn!(?why, header = ?value, "node-to-node INVITE refused: treated as an ordinary call");
                None
            }
        }
    }

    /// A signed INVITE from another node: to one of this node's extensions
    /// (its phones registered here), or a caller for a queue this node
    /// owns. Nothing else: no routes, no gateways, no further node.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn node_call(&mut self, now: Instant, ep: &mut Endpoint, tx: TxId, req: Message, source: sip_proto::Peer, caller: &str, v: Verified, id: String) {
        match v.target {
            For::Extension(ext) => {
                let (codecs, targets) = match self.extension_targets(now, &ext, true) {
                    Ok(t) => t,
                    Err((code, reason)) => return self.reply(now, ep, tx, &req, code, reason, &[]),
                };
                let display = req.from().ok().and_then(|f| f.display().map(|d| d.into_owned()));
                match self.b2bua.start_call(now, ep, &mut self.media, tx, req.clone(), source, caller, display.as_deref(), &ext, targets, &codecs, id, None) {
                    Ok(id) => tracing::info!(call = %id, %caller, callee = %ext, node = %v.node, "call from another node started"),
                    Err(e) => self.refuse_start(now, ep, tx, &req, e, (480, "Temporarily Unavailable")),
                }
                self.drain_calls(now, ep);
            }
            For::Standby(agent) => self.standby_node_call(now, ep, tx, req, source, caller, &agent, id),
            For::Queue(queue) => {
                // Sent here because the sender's view had this node as the
                // owner; if ours has another, the caller is refused rather
                // than passed on (one hop at most) and the sender retries.
                let elsewhere = self.cluster.as_ref().and_then(|c| c.view.queue_elsewhere(&queue, c.signer.node())).is_some();
                if elsewhere {
                    return self.reply(now, ep, tx, &req, 480, "Temporarily Unavailable", &[]);
                }
                tracing::info!(%queue, %caller, node = %v.node, "queue caller from another node");
                self.enter_queue(now, ep, tx, req, source, caller, &queue, id);
            }
        }
    }

    /// A queue caller from the queue's owner for uuid-standby agent
    /// `agent`, whose standing call this node holds: answered here and put
    /// through to the line at once (the owner counts the offer answered
    /// when this 200 arrives). 480 when the line is not up or not free.
    #[allow(clippy::too_many_arguments)]
    fn standby_node_call(&mut self, now: Instant, ep: &mut Endpoint, tx: TxId, req: Message, source: sip_proto::Peer, caller: &str, agent: &str, id: String) {
        let Some(line) = self.standby.get(agent).filter(|s| s.up && s.member.is_none()).map(|s| s.call.clone()) else {
            return self.reply(now, ep, tx, &req, 480, "Temporarily Unavailable", &[]);
        };
        let display = req.from().ok().and_then(|f| f.display().map(|d| d.into_owned()));
        if let Err(e) = self.b2bua.park(now, ep, &mut self.media, tx, req.clone(), source, caller, display.as_deref(), agent, id.clone()) {
            tracing::warn!(%agent, ?e, "cannot answer the caller for the standing call");
            return self.refuse_start(now, ep, tx, &req, e, (488, "Not Acceptable Here"));
        }
        let joined = match self.b2bua.standby_plan(&id, &line) {
            Some(plan) => {
                if plan.is_some() {
                    b2bua::Media::transcode(&mut self.media, &id, plan);
                }
                self.media.join(&id, &line)
            }
            None => false,
        };
        if !joined {
            tracing::warn!(call = %id, %agent, "the caller's media cannot meet the standing call");
            self.b2bua.hangup_with(now, ep, &mut self.media, &id, "standby_failed");
        } else {
            tracing::info!(call = %id, %agent, standing_call = %line, "another node's caller put through to a uuid-standby agent");
            if let Some(s) = self.standby.get_mut(agent) {
                s.member = Some(id.clone());
            }
            if let Some(c) = self.cluster.as_mut() {
                c.standby_members.insert(id, agent.to_owned());
            }
        }
        self.drain_calls(now, ep);
    }

    /// Does another live node hold `agent`'s standing call (and this one
    /// none)?
    pub(crate) fn standby_line_elsewhere(&self, agent: &str) -> bool {
        !self.standby.contains_key(agent) && self.cluster.as_ref().is_some_and(|c| c.view.standby_line(agent).is_some())
    }

    /// An offer to uuid-standby agent `agent` whose standing call another
    /// node holds: the leg to that node (answered there at once).
    pub(crate) fn remote_standby_legs(&self, now: Instant, agent: &str, caller: &str) -> Option<Vec<b2bua::Leg>> {
        if !self.standby_line_elsewhere(agent) {
            return None;
        }
        let c = self.cluster.as_ref()?;
        let (_, addr) = c.view.standby_line(agent)?;
        let t = self.node_target(now, addr, For::Standby(agent.to_owned()), agent)?;
        Some(vec![b2bua::Leg { uri: t.uri, to: format!("sip:{agent}@{}", self.domain), from_user: caller.to_owned(), dest: t.dest, gateway: None, codecs: Vec::new(), headers: t.headers }])
    }

    /// The signed leg to `node` at `addr` for `target`.
    fn node_target(&self, now: Instant, addr: std::net::SocketAddr, target: For, user: &str) -> Option<Target> {
        let c = self.cluster.as_ref()?;
        let nonce: String = crate::secrets::random_bytes::<12>().iter().map(|b| format!("{b:02x}")).collect();
        let value = c.signer.sign(self.clock.unix_ms(now) as i64, &nonce, &target);
        let host = match addr {
            std::net::SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
            a => a.to_string(),
        };
        Some(Target { uri: format!("sip:{user}@{host}"), dest: sip_proto::Peer::udp(addr), headers: vec![(HEADER.to_owned(), value)] })
    }

    /// Where to ring extension `ext`: its phones registered here, else the
    /// live node it is registered on (never for a call that itself came
    /// from another node: one hop at most).
    pub(crate) fn ext_targets(&self, now: Instant, ext: &str, from_node: bool) -> Vec<Target> {
        let local: Vec<Target> = self.registrar.lookup(ext).iter().map(|b| Target { uri: b.contact.clone(), dest: b.source, headers: Vec::new() }).collect();
        if !local.is_empty() || from_node {
            return local;
        }
        let Some((_, addr)) = self.cluster.as_ref().and_then(|c| c.view.locate(ext)) else { return local };
        self.node_target(now, addr, For::Extension(ext.to_owned()), ext).into_iter().collect()
    }

    /// The leg to the node owning `queue`, if another live node owns it.
    pub(crate) fn queue_owner_target(&self, now: Instant, queue: &str) -> Option<(String, Target)> {
        let c = self.cluster.as_ref()?;
        let (owner, addr) = c.view.queue_elsewhere(queue, c.signer.node())?;
        let owner = owner.to_owned();
        Some((owner, self.node_target(now, addr, For::Queue(queue.to_owned()), queue)?))
    }

    /// A caller routed to `queue`, which node `owner` dispatches: the call
    /// goes there (this node relays its media), and waits in the one queue.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward_to_queue_owner(&mut self, now: Instant, ep: &mut Endpoint, tx: TxId, req: Message, source: sip_proto::Peer, presented: &str, queue: &str, owner: &str, target: Target, id: String) {
        let display = req.from().ok().and_then(|f| f.display().map(|d| d.into_owned()));
        match self.b2bua.start_call(now, ep, &mut self.media, tx, req.clone(), source, presented, display.as_deref(), queue, vec![target], &[], id, None) {
            Ok(id) => {
                tracing::info!(call = %id, caller = %presented, %queue, %owner, "queue caller sent to the node that owns the queue");
                if let Some(c) = self.cluster.as_mut() {
                    c.forwarded.insert(id, queue.to_owned());
                }
            }
            Err(e) => {
                tracing::warn!(%queue, %owner, ?e, "could not send the caller to the queue's node");
                self.refuse_start(now, ep, tx, &req, e, (480, "Temporarily Unavailable"));
            }
        }
        self.drain_calls(now, ep);
    }

    /// A refresh from the cluster task.
    pub(crate) fn apply_cluster(&mut self, now: Instant, ep: &mut Endpoint, u: Update) {
        let Some(c) = self.cluster.as_mut() else { return };
        // Nodes gone, or back at another address (restarted within the
        // lease): calls through the old process are lost either way.
        let lost: Vec<(String, std::net::SocketAddr)> = c.view.nodes.iter().filter(|(n, a)| u.view.nodes.get(*n) != Some(*a)).map(|(n, a)| (n.clone(), *a)).collect();
        c.view = u.view;
        c.snapshots = u.snapshots.into_iter().map(|s| (s.queue.clone(), s)).collect();
        // The queues this node dispatches, for the other nodes' API.
        let me = c.signer.node().to_owned();
        let owned: Vec<String> = c.view.owners.iter().filter(|(_, o)| **o == me).map(|(q, _)| q.clone()).collect();
        // Queues another node dispatches now (this one released them to
        // drain, or could not renew in time): their callers waiting here
        // go there.
        // (A queue stays noted as this node's until another node has
        // it: released to drain, it may be unowned for a refresh or two.)
        c.owned.extend(owned.iter().cloned());
        let handed: Vec<String> = c.owned.iter().filter(|q| c.view.queue_elsewhere(q, &me).is_some()).cloned().collect();
        for q in &handed {
            c.owned.remove(q);
        }
        let tiers = if owned.is_empty() { Vec::new() } else { self.cc.tiers() };
        for q in owned {
            let (Some(stats), members) = (self.cc.stats(now, &q), self.cc.members(now, &q)) else { continue };
            let agents: serde_json::Map<String, serde_json::Value> = tiers.iter().filter(|t| t.queue == q).filter_map(|t| Some((t.agent.clone(), self.agent_json(&t.agent).ok()?))).collect();
            let (Ok(stats), Ok(members), Ok(agents)) = (serde_json::to_string(&stats), serde_json::to_string(&members), serde_json::to_string(&agents)) else { continue };
            self.jobs.send(Job::QueueSnapshot { queue: q, stats, members, agents });
        }
        // A phone that registered on another node since it registered here:
        // the stored row moved there; this node forgets its copy, so calls
        // ring it once, through that node. A copy registered here later
        // (expiring later) than the row stays: its own write is on the way.
        for (aor, contact, expires_at_ms) in &u.remote_bindings {
            let stale = self.registrar.lookup(aor).iter().any(|b| &b.contact == contact && (b.expires_at_ms as i64) < *expires_at_ms);
            if stale && self.registrar.forget(aor, contact) {
                tracing::info!(%aor, %contact, "binding moved to another node; forgotten here");
            }
        }
        for q in handed {
            self.hand_over(now, ep, &q);
        }
        for (node, addr) in lost {
            self.node_lost(now, ep, &node, addr);
        }
        self.place_orphans(now, ep);
        let Some(c) = self.cluster.as_mut() else { return };
        let mut changed: Vec<(String, AgentStatus)> = Vec::new();
        for row in u.agents {
            if c.local_change_ms.get(&row.name).is_some_and(|t| *t >= row.updated_at_ms) {
                continue;
            }
            let Some(status) = queues::parse_status(&row.status) else { continue };
            match self.cc.agent(&row.name) {
                Some(a) if a.status != status => changed.push((row.name.clone(), status)),
                _ => {}
            }
        }
        for (name, status) in changed {
            if status == AgentStatus::LoggedOut && self.standby.contains_key(&name) {
                // Logged out on another node: its standing call here ends.
                self.standby_logout(now, ep, &name);
            }
            if self.cc.set_agent_status(now, &name, status).is_ok() {
                tracing::info!(agent = %name, ?status, "agent status changed on another node");
                if let Some(c) = self.cluster.as_mut() {
                    c.applying.insert(name);
                }
            }
        }
        self.drain_cc(now, ep);
        if let Some(c) = self.cluster.as_mut() {
            c.applying.clear();
        }
    }

    /// What the owner of `queue`, another node, last wrote of it (`stats`
    /// or `members`), with the node and the time added; `None` when this
    /// node owns it or knows no such snapshot.
    pub(crate) fn remote_queue_view(&self, queue: &str, members: bool) -> Option<serde_json::Value> {
        let c = self.cluster.as_ref()?;
        let owner = c.view.owners.get(queue).filter(|o| o.as_str() != c.signer.node())?;
        let snap = c.snapshots.get(queue).filter(|s| &s.node_id == owner)?;
        if members {
            return Some(snap.members.clone());
        }
        let mut v = snap.stats.clone();
        if let Some(o) = v.as_object_mut() {
            o.insert("node".into(), snap.node_id.clone().into());
            o.insert("as_of_ms".into(), snap.updated_at_ms.into());
        }
        Some(v)
    }

    /// Node `node` (at `addr`) stopped beating: every call with a leg to
    /// or from it lost that leg. A queue caller of this node's engine
    /// bridged to an agent there goes back into the queue; a queue caller
    /// this node had sent there is held here with music and goes to the
    /// queue's next owner (see [`Switch::place_orphans`]); any other such
    /// call (an agent's phone here talking to a caller there, a call to a
    /// phone there) is hung up at once, rather than left silent until the
    /// media timeout.
    fn node_lost(&mut self, now: Instant, ep: &mut Endpoint, node: &str, addr: std::net::SocketAddr) {
        let calls = self.b2bua.calls_with_peer(addr);
        tracing::warn!(%node, %addr, calls = calls.len(), "cluster node lost");
        for id in calls {
            // A queue caller of this node bridged to an agent through the
            // lost node: back into the queue (wait counted from the call's
            // start), rather than hung up with its agent.
            if let Some((q, agent)) = self.queue_calls.get(&id).filter(|qc| qc.bridged.is_some()).map(|qc| (qc.queue.clone(), qc.agent.clone())) {
                if self.b2bua.repark(&id) {
                    tracing::info!(call = %id, queue = %q, agent = ?agent, %node, "agent lost with its node; the caller goes back into the queue");
                    self.standby_member_gone(&id, agent.as_deref());
                    let _ = self.cc.bridge_ended(now, &id);
                    self.queue_calls.remove(&id);
                    self.join_parked(now, ep, &id, &q);
                    continue;
                }
            }
            let queue = self.cluster.as_mut().and_then(|c| c.forwarded.remove(&id));
            if let Some(q) = queue {
                if self.b2bua.repark(&id) {
                    tracing::info!(call = %id, queue = %q, %node, "queue caller held here until the queue has a new owner");
                    self.transfers.remove(&id);
                    let moh = self.cc.queue(&q).and_then(|qc| queues::moh_name(qc.moh.as_deref(), self.ringback.as_ref()));
                    if let Some(m) = moh {
                        self.play_prompt(&id, &m, true);
                    }
                    if let Some(c) = self.cluster.as_mut() {
                        c.orphans.insert(id, q);
                    }
                    continue;
                }
            }
            self.b2bua.hangup_with(now, ep, &mut self.media, &id, "node_lost");
        }
        self.drain_calls(now, ep);
    }

    /// Another node dispatches `queue` now: the callers waiting for it in
    /// this node's engine (not those talking to an agent) leave it and go
    /// to that node, where they wait on with their original start time.
    fn hand_over(&mut self, now: Instant, ep: &mut Endpoint, queue: &str) {
        let waiting: Vec<String> = self.cc.members(now, queue).into_iter().map(|m| m.call_id).filter(|id| self.queue_calls.get(id).is_some_and(|q| q.bridged.is_none() && !q.exiting)).collect();
        tracing::info!(%queue, callers = waiting.len(), "queue now dispatched by another node; handing its waiting callers over");
        for id in waiting {
            self.b2bua.cancel_agent(now, ep, &id, None);
            if let Some(q) = self.queue_calls.remove(&id) {
                for (offer, _) in q.offers {
                    self.cc_offers.remove(&offer);
                }
            }
            let _ = self.cc.leave(now, &id);
            self.join_parked(now, ep, &id, queue);
        }
        self.drain_cc(now, ep);
    }

    /// Held callers whose queue has a live owner again: into this node's
    /// engine, or on to that node.
    fn place_orphans(&mut self, now: Instant, ep: &mut Endpoint) {
        let ready: Vec<(String, String)> = match self.cluster.as_ref() {
            Some(c) => c.orphans.iter().filter(|(_, q)| c.view.owners.contains_key(*q)).map(|(id, q)| (id.clone(), q.clone())).collect(),
            None => return,
        };
        for (id, q) in ready {
            if let Some(c) = self.cluster.as_mut() {
                c.orphans.remove(&id);
            }
            tracing::info!(call = %id, queue = %q, "held queue caller rejoins the queue");
            self.join_parked(now, ep, &id, &q);
        }
    }

    /// Agents' live views as the owners of their queues last wrote them,
    /// for agents none of whose queues this node owns (their state,
    /// counters and offers are that node's to know). Empty when not
    /// clustered.
    pub(crate) fn remote_agent_views(&self) -> HashMap<String, serde_json::Value> {
        let mut out = HashMap::new();
        let Some(c) = self.cluster.as_ref() else { return out };
        let me = c.signer.node();
        let mine: HashSet<String> = self.cc.tiers().into_iter().filter(|t| c.view.owners.get(&t.queue).is_some_and(|o| o == me)).map(|t| t.agent).collect();
        for (q, snap) in &c.snapshots {
            if c.view.owners.get(q) != Some(&snap.node_id) {
                continue; // written by a node that no longer owns it
            }
            if let Some(agents) = snap.agents.as_object() {
                for (name, view) in agents {
                    if !mine.contains(name) {
                        let mut v = view.clone();
                        if let Some(o) = v.as_object_mut() {
                            o.insert("node".into(), snap.node_id.clone().into());
                            o.insert("as_of_ms".into(), snap.updated_at_ms.into());
                            if let Some(line) = self.standby.get(name).filter(|s| s.up) {
                                // Its standing call is here: this node knows it.
                                o.insert("standby_call".into(), line.call.clone().into());
                                o.remove("standby_node");
                            }
                        }
                        out.insert(name.clone(), v);
                    }
                }
            }
        }
        out
    }

    /// Whether a status change of `agent` should be written (not when it
    /// was applied from another node's row); notes the local change.
    pub(crate) fn agent_write_wanted(&mut self, agent: &str) -> bool {
        let now_ms = crate::now_ms();
        match self.cluster.as_mut() {
            None => true,
            Some(c) if c.applying.contains(agent) => false,
            Some(c) => {
                c.local_change_ms.insert(agent.to_owned(), now_ms);
                true
            }
        }
    }
}
