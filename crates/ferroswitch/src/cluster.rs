//! Several nodes on one PostgreSQL store (docs/multi-node.md): signed
//! node-to-node INVITEs, the view a node keeps of the others, and the task
//! that beats, claims queues and refreshes that view every second.
//!
//! A node-to-node INVITE carries
//! `X-Ferroswitch-Node: <node>;ts=<unix ms>;nonce=<hex>;<kind>=<name>;sig=<hex>`
//! where `<kind>` is `ext` (deliver to this extension's phones here) or
//! `queue` (the caller joins this queue, which the receiver owns), and
//! `sig` is HMAC-SHA256 over `node|ts|nonce|kind|name` with
//! `cluster.secret`. A receiver accepts it only when the signature checks,
//! `ts` is within [`MAX_AGE_MS`] of its clock and the nonce was not seen
//! before; anything else is an ordinary call that must authenticate, so
//! the cluster is no open relay.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

/// The header a node-to-node INVITE carries.
pub const HEADER: &str = "X-Ferroswitch-Node";
/// Oldest (or most future) signature accepted.
pub const MAX_AGE_MS: i64 = 30_000;
/// Most nonces remembered (a signed INVITE a second per call for 30 s at
/// 2,000 calls a second).
const MAX_NONCES: usize = 65_536;

/// Whom a node-to-node INVITE is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum For {
    /// An extension registered on the receiving node.
    Extension(String),
    /// A queue the receiving node owns.
    Queue(String),
    /// The standing call of a uuid-standby agent, which the receiving node
    /// holds: the caller is put through to it.
    Standby(String),
}

impl For {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            For::Extension(e) => ("ext", e),
            For::Queue(q) => ("queue", q),
            For::Standby(a) => ("standby", a),
        }
    }
}

/// A verified node-to-node INVITE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub node: String,
    pub target: For,
}

/// Why a node header was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    Malformed,
    BadSignature,
    Stale,
    Replayed,
    Ourselves,
}

/// Signs this node's INVITEs and checks the others'.
pub struct Signer {
    node: String,
    secret: Vec<u8>,
    /// Nonces accepted, with when they may be forgotten, oldest first.
    seen: VecDeque<(i64, String)>,
    seen_set: HashSet<String>,
}

fn mac(secret: &[u8], node: &str, ts: i64, nonce: &str, target: &For) -> Option<Hmac<Sha256>> {
    let (kind, name) = target.parts();
    let mut m = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    m.update(format!("{node}|{ts}|{nonce}|{kind}|{name}").as_bytes());
    Some(m)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

impl Signer {
    pub fn new(node: &str, secret: &str) -> Signer {
        Signer { node: node.to_owned(), secret: secret.as_bytes().to_vec(), seen: VecDeque::new(), seen_set: HashSet::new() }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The header value for an INVITE to `target`, signed at `now_ms` with
    /// a fresh `nonce` (16 random bytes, hex).
    pub fn sign(&self, now_ms: i64, nonce: &str, target: &For) -> String {
        let sig = mac(&self.secret, &self.node, now_ms, nonce, target).map(|m| hex(&m.finalize().into_bytes())).unwrap_or_default();
        let (kind, name) = target.parts();
        format!("{};ts={now_ms};nonce={nonce};{kind}={name};sig={sig}", self.node)
    }

    /// Check a received header at `now_ms`; an accepted nonce is not
    /// accepted again.
    pub fn verify(&mut self, value: &str, now_ms: i64) -> Result<Verified, Refused> {
        let mut parts = value.trim().split(';');
        let node = parts.next().map(str::trim).filter(|n| !n.is_empty()).ok_or(Refused::Malformed)?;
        let (mut ts, mut nonce, mut target, mut sig) = (None, None, None, None);
        for p in parts {
            let (k, v) = p.trim().split_once('=').ok_or(Refused::Malformed)?;
            match k {
                "ts" => ts = Some(v.parse::<i64>().map_err(|_| Refused::Malformed)?),
                "nonce" if !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => nonce = Some(v),
                "ext" => target = Some(For::Extension(v.to_owned())),
                "queue" => target = Some(For::Queue(v.to_owned())),
                "standby" => target = Some(For::Standby(v.to_owned())),
                "sig" => sig = Some(unhex(v).ok_or(Refused::Malformed)?),
                _ => return Err(Refused::Malformed),
            }
        }
        let (Some(ts), Some(nonce), Some(target), Some(sig)) = (ts, nonce, target, sig) else { return Err(Refused::Malformed) };
        if node == self.node {
            return Err(Refused::Ourselves);
        }
        let m = mac(&self.secret, node, ts, nonce, &target).ok_or(Refused::BadSignature)?;
        // Constant-time comparison.
        m.verify_slice(&sig).map_err(|_| Refused::BadSignature)?;
        if (now_ms - ts).abs() > MAX_AGE_MS {
            return Err(Refused::Stale);
        }
        while self.seen.front().is_some_and(|(until, _)| *until < now_ms) || self.seen.len() >= MAX_NONCES {
            if let Some((_, n)) = self.seen.pop_front() {
                self.seen_set.remove(&n);
            }
        }
        if !self.seen_set.insert(nonce.to_owned()) {
            return Err(Refused::Replayed);
        }
        self.seen.push_back((ts + MAX_AGE_MS, nonce.to_owned()));
        Ok(Verified { node: node.to_owned(), target })
    }
}

/// What a node knows of the cluster, refreshed every second.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// Live nodes other than this one, with their SIP address.
    pub nodes: HashMap<String, SocketAddr>,
    /// Extensions with a live binding on another live node: the nodes.
    pub remote: HashMap<String, Vec<String>>,
    /// Queues owned by a live node (this one included): the owner.
    pub owners: HashMap<String, String>,
    /// uuid-standby agents whose standing call another node holds: that node.
    pub standby: HashMap<String, String>,
}

impl View {
    /// A live node other than this one serving `ext`, and its address.
    pub fn locate(&self, ext: &str) -> Option<(&str, SocketAddr)> {
        self.remote.get(ext)?.iter().find_map(|n| self.nodes.get(n).map(|a| (n.as_str(), *a)))
    }

    /// The live node other than this one holding `agent`'s standing call,
    /// and its address.
    pub fn standby_line(&self, agent: &str) -> Option<(&str, SocketAddr)> {
        let node = self.standby.get(agent)?;
        self.nodes.get(node).map(|a| (node.as_str(), *a))
    }

    /// The live node other than `me` that owns `queue`, and its address.
    pub fn queue_elsewhere(&self, queue: &str, me: &str) -> Option<(&str, SocketAddr)> {
        let owner = self.owners.get(queue).filter(|o| o.as_str() != me)?;
        self.nodes.get(owner).map(|a| (owner.as_str(), *a))
    }
}

/// One refresh for the switch: the view, the bindings other nodes serve,
/// and agent statuses other nodes wrote since the last one.
pub struct Update {
    pub view: View,
    pub agents: Vec<store::AgentStatusRow>,
    /// The bindings other nodes serve: (aor, contact, expires at, unix ms).
    pub remote_bindings: Vec<(String, String, i64)>,
    /// What the owners of other nodes' queues last saw of them.
    pub snapshots: Vec<store::QueueSnapshot>,
}

/// Settings of the cluster task.
pub struct Settings {
    pub node: String,
    pub advertise: String,
    pub lease: Duration,
}

/// Queues to try to claim: those this node owns (renewal), unowned ones
/// while this node owns no more than the live node owning fewest (so
/// queues spread over the nodes), and any queue in `overdue` (unowned for
/// a while already: the node whose turn it was does not claim, a draining
/// node for one).
pub fn to_claim(queues: &[String], owners: &HashMap<String, String>, live: &[String], me: &str, overdue: &HashSet<String>) -> Vec<String> {
    let mut count: HashMap<&str, usize> = live.iter().map(|n| (n.as_str(), 0)).collect();
    count.entry(me).or_insert(0);
    for o in owners.values() {
        if let Some(c) = count.get_mut(o.as_str()) {
            *c += 1;
        }
    }
    let mut mine = count.get(me).copied().unwrap_or(0);
    let mut out = Vec::new();
    for q in queues {
        match owners.get(q) {
            Some(o) if o == me => out.push(q.clone()),
            Some(o) if count.contains_key(o.as_str()) => {}
            // No owner, or an owner that is no longer live.
            _ => {
                let fewest = count.iter().filter(|(n, _)| **n != me).map(|(_, c)| *c).min().unwrap_or(usize::MAX);
                if mine <= fewest || overdue.contains(q) {
                    out.push(q.clone());
                    mine += 1;
                    count.insert(me, mine);
                }
            }
        }
    }
    out
}

/// Every second: beat, claim and renew queues, and send the switch the
/// refreshed view. Store errors are logged and retried the next second (a
/// node that cannot reach the store loses its queues after the lease, as
/// it must).
pub async fn run(store: store::Store, settings: Settings, handle: runtime::Handle<crate::switch::Command>, draining: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let lease_ms = i64::try_from(settings.lease.as_millis()).unwrap_or(5_000).max(1_000);
    let me = settings.node.clone();
    let mut since = 0i64;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut owned: HashSet<String> = HashSet::new();
    // Queues seen without an owner, since when (unix ms).
    let mut unowned_since: HashMap<String, i64> = HashMap::new();
    loop {
        tick.tick().await;
        let now = crate::now_ms();
        let r: Result<Update, store::StoreError> = async {
            store.node_heartbeat(&me, &settings.advertise, now).await?;
            let live = store.live_nodes(now, lease_ms).await?;
            let live_names: Vec<String> = live.iter().map(|n| n.node_id.clone()).collect();
            let queues: Vec<String> = store.list_configs(store::ConfigKind::Queue).await?.into_iter().map(|r| r.name).collect();
            let owners: HashMap<String, String> = store.queue_owners(now).await?.into_iter().collect();
            let mut now_owned = HashSet::new();
            if draining.load(std::sync::atomic::Ordering::Relaxed) {
                // Stopping: another node takes the queues now, with the
                // callers waiting in them (the switch hands them over when
                // it sees the new owner); this node claims nothing more.
                for q in owned.iter() {
                    store.release_queue(q, &me).await?;
                }
            } else {
                unowned_since.retain(|q, _| queues.contains(q) && !owners.contains_key(q));
                for q in queues.iter().filter(|q| !owners.contains_key(*q)) {
                    unowned_since.entry(q.clone()).or_insert(now);
                }
                let overdue: HashSet<String> = unowned_since.iter().filter(|(_, t)| now - **t >= 2_000).map(|(q, _)| q.clone()).collect();
                for q in to_claim(&queues, &owners, &live_names, &me, &overdue) {
                    if store.claim_queue(&q, &me, now, lease_ms).await? {
                        now_owned.insert(q);
                    }
                }
            }
            for q in now_owned.difference(&owned) {
                tracing::info!(queue = %q, "this node now dispatches the queue");
            }
            for q in owned.difference(&now_owned) {
                tracing::warn!(queue = %q, "this node no longer owns the queue");
            }
            owned = now_owned;
            let owners: HashMap<String, String> = store.queue_owners(now).await?.into_iter().collect();
            let nodes = live
                .iter()
                .filter(|n| n.node_id != me)
                .filter_map(|n| match n.advertise.parse() {
                    Ok(a) => Some((n.node_id.clone(), a)),
                    Err(_) => {
                        tracing::warn!(node = %n.node_id, advertise = %n.advertise, "node advertises an address that is not ip:port; ignored");
                        None
                    }
                })
                .collect();
            let mut remote: HashMap<String, Vec<String>> = HashMap::new();
            let rows = store.remote_locations(now).await?;
            for r in &rows {
                let nodes = remote.entry(r.aor.clone()).or_default();
                if !nodes.contains(&r.node_id) {
                    nodes.push(r.node_id.clone());
                }
            }
            let moved = rows.into_iter().map(|r| (r.aor, r.contact, r.expires_at_ms)).collect();
            // A little overlap: rows committed late with an earlier stamp
            // (the writer's clock) are read again; applying one twice does
            // nothing.
            let agents = store.agent_statuses_from_others(since.saturating_sub(10_000)).await?;
            if let Some(last) = agents.iter().map(|a| a.updated_at_ms).max() {
                since = since.max(last);
            }
            let snapshots = store.queue_snapshots_from_others().await?;
            let standby = store.standby_lines_of_others().await?.into_iter().collect();
            Ok(Update { view: View { nodes, remote, owners, standby }, agents, remote_bindings: moved, snapshots })
        }
        .await;
        match r {
            Ok(u) => {
                if !handle.command(crate::switch::Command::Cluster(Box::new(u))).await {
                    break;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cluster refresh failed; retrying in a second"),
        }
    }
}

/// A live event as it crosses to the other nodes.
#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope<'a> {
    node: std::borrow::Cow<'a, str>,
    kind: std::borrow::Cow<'a, str>,
    call: Option<std::borrow::Cow<'a, str>>,
    extensions: Vec<std::borrow::Cow<'a, str>>,
    queue: Option<std::borrow::Cow<'a, str>>,
    agent: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    event: &'a serde_json::value::RawValue,
}

/// This node's live events to the other nodes (PostgreSQL NOTIFY), so a
/// WebSocket client on any node sees the whole cluster's: an agent's
/// screen pop comes from the node that owns the queue, whichever node the
/// agent's desktop is connected to.
pub async fn events_out(store: store::Store, node: String, mut rx: tokio::sync::broadcast::Receiver<std::sync::Arc<api::LiveEvent>>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let e = match rx.recv().await {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "cluster event relay fell behind; events not passed to the other nodes");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if e.remote {
            continue;
        }
        let Ok(event) = serde_json::value::RawValue::from_string(e.json.clone()) else { continue };
        let env = Envelope { node: node.as_str().into(), kind: e.kind.into(), call: e.call.as_deref().map(Into::into), extensions: e.extensions.iter().map(|x| x.as_str().into()).collect(), queue: e.queue.as_deref().map(Into::into), agent: e.agent.as_deref().map(Into::into), event: &event };
        let Ok(payload) = serde_json::to_string(&env) else { continue };
        if let Err(err) = store.notify_event(&payload).await {
            tracing::warn!(error = %err, kind = e.kind, "event not passed to the other nodes");
        }
    }
}

/// A kind name received from another node as the `&'static str` live events
/// carry: the known kinds are few, so each distinct one is kept once (at
/// most 256; past that, "other").
fn intern(kind: &str) -> &'static str {
    static KINDS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let Ok(mut kinds) = KINDS.lock() else { return "other" };
    if let Some(k) = kinds.iter().find(|k| **k == kind) {
        return k;
    }
    if kinds.len() >= 256 || kind.len() > 64 {
        return "other";
    }
    let k: &'static str = Box::leak(kind.to_owned().into_boxed_str());
    kinds.push(k);
    k
}

/// The other nodes' live events (PostgreSQL LISTEN) into this node's event
/// stream, marked remote. Reconnects after a lost connection.
pub async fn events_in(store: store::Store, node: String, tx: tokio::sync::broadcast::Sender<std::sync::Arc<api::LiveEvent>>) {
    loop {
        let mut listener = match store.listen_events().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for the other nodes' events; retrying in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            let payload = match listener.recv().await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the other nodes' events; listening again");
                    break;
                }
            };
            let Some(ev) = remote_event(&payload, &node) else { continue };
            let _ = tx.send(std::sync::Arc::new(ev));
        }
    }
}

/// An event another node sent, unless it is ours or unreadable.
fn remote_event(payload: &str, me: &str) -> Option<api::LiveEvent> {
    let env: Envelope = serde_json::from_str(payload).ok()?;
    if env.node == me {
        return None;
    }
    let seq = serde_json::from_str::<serde_json::Value>(env.event.get()).ok()?.get("seq").and_then(|s| s.as_u64()).unwrap_or(0);
    Some(api::LiveEvent {
        seq,
        kind: intern(&env.kind),
        call: env.call.map(|c| c.into_owned()),
        extensions: env.extensions.into_iter().map(|x| x.into_owned()).collect(),
        queue: env.queue.map(|q| q.into_owned()),
        agent: env.agent.map(|a| a.into_owned()),
        json: env.event.get().to_owned(),
        remote: true,
    })
}

/// Give this node's queues up at a clean stop, so another node takes them
/// at once rather than after the lease.
pub async fn release_all(store: &store::Store, node: &str) {
    let Ok(owners) = store.queue_owners(crate::now_ms()).await else { return };
    for (q, o) in owners {
        if o == node {
            let _ = store.release_queue(&q, node).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_invite_is_accepted_once_and_only_as_signed() {
        let a = Signer::new("a", "0123456789abcdef-secret");
        let mut b = Signer::new("b", "0123456789abcdef-secret");
        let h = a.sign(1_000_000, "00ff", &For::Extension("1001".into()));
        assert_eq!(b.verify(&h, 1_000_500), Ok(Verified { node: "a".into(), target: For::Extension("1001".into()) }));
        assert_eq!(b.verify(&h, 1_000_600), Err(Refused::Replayed), "a nonce is good once");
        // Another target, node, time or secret breaks the signature.
        let h2 = a.sign(1_000_000, "01", &For::Extension("1001".into()));
        assert_eq!(b.verify(&h2.replace("ext=1001", "ext=1002"), 1_000_000), Err(Refused::BadSignature));
        assert_eq!(b.verify(&h2.replace("ext=1001", "queue=1001"), 1_000_000), Err(Refused::BadSignature));
        assert_eq!(b.verify(&h2.replace("ext=1001", "standby=1001"), 1_000_000), Err(Refused::BadSignature));
        let line = a.sign(1_000_000, "0a", &For::Standby("s1".into()));
        assert_eq!(b.verify(&line, 1_000_000), Ok(Verified { node: "a".into(), target: For::Standby("s1".into()) }));
        assert_eq!(b.verify(&h2.replacen("a;", "c;", 1), 1_000_000), Err(Refused::BadSignature));
        assert_eq!(b.verify(&h2.replace("ts=1000000", "ts=1000001"), 1_000_000), Err(Refused::BadSignature));
        let forged = Signer::new("a", "another-secret-entirely").sign(1_000_000, "02", &For::Queue("sales".into()));
        assert_eq!(b.verify(&forged, 1_000_000), Err(Refused::BadSignature));
        // Stale (or from the future) beyond 30 s.
        let old = a.sign(1_000_000, "03", &For::Queue("sales".into()));
        assert_eq!(b.verify(&old, 1_000_000 + MAX_AGE_MS + 1), Err(Refused::Stale));
        assert_eq!(b.verify(&a.sign(1_000_000 + MAX_AGE_MS + 1, "04", &For::Queue("sales".into())), 1_000_000), Err(Refused::Stale));
        assert_eq!(b.verify(&a.sign(1_000_000, "05", &For::Queue("sales".into())), 1_000_000), Ok(Verified { node: "a".into(), target: For::Queue("sales".into()) }));
        // Our own header coming back is not a node-to-node call.
        assert_eq!(b.verify(&b.sign(1_000_000, "06", &For::Queue("q".into())), 1_000_000), Err(Refused::Ourselves));
        for junk in ["", ";", "a", "a;ts=1", "a;ts=x;nonce=00;ext=1;sig=00", "a;ts=1;nonce=zz;ext=1;sig=00", "a;ts=1;nonce=00;ext=1;sig=0", "a;ts=1;nonce=00;ext=1;sig=00;x=1", "a;ts=1;nonce=00;sig=00"] {
            assert_eq!(b.verify(junk, 1), Err(Refused::Malformed), "{junk:?}");
        }
    }

    #[test]
    fn nonces_are_forgotten_once_their_signature_is_stale() {
        let a = Signer::new("a", "0123456789abcdef-secret");
        let mut b = Signer::new("b", "0123456789abcdef-secret");
        for i in 0..100 {
            assert!(b.verify(&a.sign(i * 1_000, &format!("{i:04x}"), &For::Extension("1".into())), i * 1_000).is_ok());
        }
        assert!(b.seen.len() <= 32, "only the last 30 s of nonces are kept ({})", b.seen.len());
    }

    #[test]
    fn queues_spread_over_the_nodes_and_owners_renew() {
        let q = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let live = q(&["a", "b"]);
        let none = HashMap::new();
        let no = HashSet::new();
        // Alone with four unowned queues, a node takes them all.
        assert_eq!(to_claim(&q(&["1", "2", "3", "4"]), &none, &q(&["a"]), "a", &no), q(&["1", "2", "3", "4"]));
        // b owns two: a takes the unowned while it owns no more than b.
        let owners: HashMap<String, String> = [("1", "b"), ("2", "b")].iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        assert_eq!(to_claim(&q(&["1", "2", "3", "4", "5"]), &owners, &live, "a", &no), q(&["3", "4", "5"]));
        // b renews its own and leaves a's alone.
        let owners: HashMap<String, String> = [("1", "b"), ("2", "a")].iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        assert_eq!(to_claim(&q(&["1", "2"]), &owners, &live, "b", &no), q(&["1"]));
        // A dead owner's queue is up for claiming.
        assert_eq!(to_claim(&q(&["1", "2"]), &owners, &q(&["b"]), "b", &no), q(&["1", "2"]));
        // Two unowned queues, a owns one more than b: b's turn; unless b
        // leaves them unowned (it drains), then a claims them when overdue.
        let owners: HashMap<String, String> = [("1", "a")].iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        assert!(to_claim(&q(&["1", "2", "3"]), &owners, &live, "a", &no) == q(&["1"]), "b's turn");
        let overdue: HashSet<String> = ["2".to_owned(), "3".to_owned()].into();
        assert_eq!(to_claim(&q(&["1", "2", "3"]), &owners, &live, "a", &overdue), q(&["1", "2", "3"]));
    }

    #[test]
    fn events_cross_as_they_were_published_and_our_own_are_ignored() {
        let json = r#"{"seq":7,"type":"agent_offering","agent":"1000","node":"a"}"#;
        let event = serde_json::value::RawValue::from_string(json.to_owned()).unwrap();
        let env = Envelope { node: "a".into(), kind: "agent_offering".into(), call: Some("c1".into()), extensions: vec!["1009".into()], queue: Some("support".into()), agent: Some("1000".into()), event: &event };
        let payload = serde_json::to_string(&env).unwrap();
        let e = remote_event(&payload, "b").expect("from a");
        assert_eq!((e.seq, e.kind, e.call.as_deref(), e.queue.as_deref(), e.agent.as_deref(), e.remote), (7, "agent_offering", Some("c1"), Some("support"), Some("1000"), true));
        assert_eq!(e.extensions, ["1009"]);
        assert_eq!(e.json, json, "the event's JSON byte for byte");
        assert!(remote_event(&payload, "a").is_none(), "our own");
        assert!(remote_event("not json", "b").is_none());
        assert!(std::ptr::eq(intern("agent_offering"), e.kind), "kinds are kept once");
    }

    #[test]
    fn the_view_locates_only_on_live_nodes() {
        let mut v = View::default();
        v.nodes.insert("b".into(), "127.0.0.1:5070".parse().unwrap());
        v.remote.insert("1001".into(), vec!["c".into(), "b".into()]);
        v.remote.insert("1002".into(), vec!["c".into()]);
        v.owners.insert("sales".into(), "b".into());
        v.owners.insert("support".into(), "a".into());
        v.owners.insert("gone".into(), "c".into());
        v.standby.insert("s1".into(), "b".into());
        v.standby.insert("s2".into(), "c".into());
        assert_eq!(v.standby_line("s1").map(|x| x.0), Some("b"));
        assert_eq!(v.standby_line("s2"), None, "c is not live");
        assert_eq!(v.locate("1001"), Some(("b", "127.0.0.1:5070".parse().unwrap())));
        assert_eq!(v.locate("1002"), None, "c is not live");
        assert_eq!(v.queue_elsewhere("sales", "a").map(|x| x.0), Some("b"));
        assert_eq!(v.queue_elsewhere("support", "a"), None, "ours");
        assert_eq!(v.queue_elsewhere("gone", "a"), None);
    }
}
