//! The edge between the switch's cores and the store: the worker that
//! makes registrations and call records durable (group commit: everything
//! queued while one transaction runs goes into the next one), the directory watcher, and
//! conversions between core and store types.

use crate::switch::{Command, Job};
use registrar::{Binding, Change, DirectoryEntry};
use runtime::Handle;
use sip_proto::digest::Ha1s;
use sip_proto::{Peer, Transport};
use std::collections::HashMap;
use std::time::Duration;
use sip_msg::Message;
use sip_proto::TxId;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use store::{BindingChange, LiveCall, Store, WriteBatch};
use tokio::sync::mpsc;

pub fn to_store(b: &Binding, now_ms: u64) -> store::Binding {
    store::Binding {
        aor: b.aor.clone(),
        contact: b.contact.clone(),
        instance: b.instance.clone(),
        reg_id: b.reg_id,
        q: b.q.as_deref().and_then(|q| q.parse().ok()),
        expires_at_ms: b.expires_at_ms as i64,
        call_id: b.call_id.clone(),
        cseq: b.cseq,
        transport: b.source.transport.via_name().to_ascii_lowercase(),
        source: b.source.addr.to_string(),
        user_agent: b.user_agent.clone(),
        path: (!b.path.is_empty()).then(|| b.path.join(", ")),
        updated_at_ms: now_ms as i64,
    }
}

pub fn from_store(b: store::Binding) -> Option<Binding> {
    let transport = match b.transport.as_str() {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        "tls" => Transport::Tls,
        "ws" => Transport::Ws,
        "wss" => Transport::Wss,
        _ => return None,
    };
    let addr = b.source.parse().ok()?;
    Some(Binding {
        aor: b.aor,
        contact: b.contact,
        instance: b.instance,
        reg_id: b.reg_id,
        q: b.q.map(|q| format!("{q}")),
        expires_at_ms: b.expires_at_ms.max(0) as u64,
        call_id: b.call_id,
        cseq: b.cseq,
        // The connection of a stream binding did not survive the restart;
        // the phone's next REGISTER brings a new one.
        source: Peer { transport, addr, conn: None },
        user_agent: b.user_agent,
        path: b.path.map(|p| p.split(", ").map(str::to_owned).collect()).unwrap_or_default(),
    })
}

fn to_change(c: &Change, now_ms: u64) -> BindingChange {
    match c {
        Change::Upsert(b) => BindingChange::Upsert(to_store(b, now_ms)),
        Change::Delete { aor, contact } => BindingChange::Delete { aor: aor.clone(), contact: contact.clone() },
        Change::DeleteAll { aor } => BindingChange::DeleteAll { aor: aor.clone() },
    }
}

/// Per-extension call policy from the directory.
#[derive(Clone, Debug, Default)]
pub struct ExtPolicy {
    /// Extensions whose calls are recorded.
    pub recorded: std::collections::HashSet<String>,
    /// Most calls an extension may be in at once (absent: unlimited).
    pub max_calls: HashMap<String, u32>,
    /// Codec preferences (absent: any).
    pub codecs: HashMap<String, Vec<String>>,
}

pub fn policy_of(exts: &[store::Extension]) -> ExtPolicy {
    ExtPolicy {
        recorded: exts.iter().filter(|e| e.record).map(|e| e.number.clone()).collect(),
        max_calls: exts.iter().filter(|e| e.max_calls > 0).map(|e| (e.number.clone(), e.max_calls)).collect(),
        codecs: exts.iter().filter(|e| !e.codecs.is_empty()).map(|e| (e.number.clone(), e.codecs.clone())).collect(),
    }
}

pub fn directory_of(exts: &[store::Extension], realm: &str) -> HashMap<String, DirectoryEntry> {
    exts.iter()
        .filter(|e| e.realm == realm)
        .map(|e| (e.number.clone(), DirectoryEntry { enabled: e.enabled, ha1: Ha1s { md5: e.ha1_md5.clone(), sha256: e.ha1_sha256.clone() } }))
        .collect()
}

/// The switch's end of the store worker's queue. Unbounded, because a
/// CDR or a live call's answer is never dropped; but its depth is counted
/// so the switch can turn new calls and registrations away (503) while the
/// store is behind, which bounds it in practice: only calls already up can
/// still add to it.
#[derive(Clone)]
pub struct Jobs {
    tx: mpsc::UnboundedSender<Job>,
    depth: Arc<AtomicUsize>,
    limit: usize,
}

impl Jobs {
    /// The queue, and the receiver and depth counter for [`store_worker`].
    pub fn new(limit: usize) -> (Jobs, mpsc::UnboundedReceiver<Job>, Arc<AtomicUsize>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let depth = Arc::new(AtomicUsize::new(0));
        (Jobs { tx, depth: depth.clone(), limit }, rx, depth)
    }

    /// Queue a job; `false` if the worker is gone.
    pub fn send(&self, job: Job) -> bool {
        self.depth.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(job).is_err() {
            self.depth.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The worker is gone (only while shutting down or after it failed).
    pub fn closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Jobs queued or being written.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// The store is this far behind: refuse new work.
    pub fn overloaded(&self) -> bool {
        self.depth() >= self.limit
    }
}

/// Most jobs written by one transaction.
const MAX_BATCH: usize = 4096;

/// A REGISTER waiting for its commit, and where its changes sit in the batch.
struct Waiting {
    tx: TxId,
    reply: Message,
    changes: std::ops::Range<usize>,
}

/// Write queued jobs in group commits (one transaction for everything
/// queued while the previous one ran); report each REGISTER's commit back
/// to the core. Returns when every sender is gone and the queue is empty,
/// so awaiting it before closing the store loses nothing.
#[allow(clippy::too_many_arguments)]
pub async fn store_worker(
    store: Store,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    depth: Arc<AtomicUsize>,
    handle: Handle<Command>,
    clock: crate::clock::Clock,
    webhook_url: Option<String>,
    wake_webhooks: Arc<tokio::sync::Notify>,
    recording_base: String,
) {
    let mut batch = WriteBatch::default();
    let mut waiting: Vec<Waiting> = Vec::new();
    // 200s to BYEs, sent once their CDRs are written (whatever the outcome:
    // a hang-up cannot be refused; a failed write is retried and logged).
    let mut byes: Vec<(TxId, Message)> = Vec::new();
    while let Some(first) = jobs.recv().await {
        let now_ms = clock.now_ms();
        let mut taken = 0;
        let mut next = Some(first);
        while let Some(job) = next {
            taken += 1;
            match job {
                Job::Commit { tx, changes, reply } => {
                    let start = batch.bindings.len();
                    batch.bindings.extend(changes.iter().map(|c| to_change(c, now_ms)));
                    waiting.push(Waiting { tx, reply, changes: start..batch.bindings.len() });
                }
                Job::Persist(changes) => batch.bindings.extend(changes.iter().map(|c| to_change(c, now_ms))),
                Job::CallStarted { id, caller, callee, a_call_id, start, webhook_url, ext_data, recording } => {
                    batch.started.push(LiveCall { id, caller, callee, a_call_id, start_ms: clock.unix_ms(start) as i64, webhook_url, ext_data, recording })
                }
                Job::CallAnswered { id, at } => batch.answered.push((id, clock.unix_ms(at) as i64)),
                Job::CallRecording { id, file } => batch.recordings.push((id, file)),
                Job::AgentStatus { name, status, counters } => batch.agents.push((name, status, counters)),
                Job::QueueSnapshot { queue, stats, members, agents } => batch.queue_snapshots.push((queue, stats, members, agents)),
                Job::StandbyLine { agent, up } => batch.standby_lines.push((agent, up)),
                Job::Cdr(c, mut extra) => {
                    byes.extend(extra.bye_reply.take());
                    let mut row = cdr_row(&c, &clock);
                    row.recording = extra.recording.clone();
                    if let Some(q) = &extra.queue {
                        row.queue = Some(q.queue.clone());
                        row.agent = q.agent.clone();
                        row.queue_wait_ms = q.wait_ms;
                        row.queue_position = q.position;
                        row.queue_result = q.result.clone();
                        row.talk_ms = q.talk_ms;
                    }
                    let url = extra.webhook_url.clone().or_else(|| webhook_url.clone());
                    if let Some(url) = url {
                        let rec_url = extra.recording_url.clone().or_else(|| extra.recording.as_ref().map(|f| format!("{}/{f}", recording_base.trim_end_matches('/'))));
                        let body = crate::webhooks::body(&row, extra.ext_data.as_deref(), rec_url.as_deref());
                        batch.webhooks.push(store::NewWebhook { cdr_id: row.id.clone(), url, body });
                    }
                    batch.cdrs.push(row);
                }
            }
            if taken >= MAX_BATCH {
                break;
            }
            next = jobs.try_recv().ok();
        }
        let ok = match store.apply_batch(&batch, clock.now_ms() as i64).await {
            Ok(()) => vec![true; waiting.len()],
            Err(e) => {
                tracing::error!(error = %e, jobs = taken, "group commit failed; writing its records one by one");
                write_separately(&store, &batch, &waiting).await
            }
        };
        depth.fetch_sub(taken, Ordering::Relaxed);
        if !batch.webhooks.is_empty() {
            wake_webhooks.notify_one();
        }
        batch.clear();
        for (w, ok) in waiting.drain(..).zip(ok) {
            handle.command(Command::Committed { tx: w.tx, reply: w.reply, ok }).await;
        }
        for (tx, reply) in byes.drain(..) {
            handle.command(Command::Committed { tx, reply, ok: true }).await;
        }
    }
}

/// After a failed group commit: each REGISTER's changes on their own (so
/// one bad binding fails only its REGISTER), then the call records, each
/// retried: a CDR is a record the business relies on.
async fn write_separately(store: &Store, batch: &WriteBatch, waiting: &[Waiting]) -> Vec<bool> {
    let mut ok = Vec::with_capacity(waiting.len());
    let mut done = 0;
    for w in waiting {
        if done < w.changes.start {
            if let Err(e) = store.apply_binding_changes(&batch.bindings[done..w.changes.start]).await {
                tracing::error!(error = %e, "could not persist registration changes");
            }
        }
        ok.push(match store.apply_binding_changes(&batch.bindings[w.changes.clone()]).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "could not persist a registration");
                false
            }
        });
        done = w.changes.end;
    }
    if done < batch.bindings.len() {
        if let Err(e) = store.apply_binding_changes(&batch.bindings[done..]).await {
            tracing::error!(error = %e, "could not persist registration changes");
        }
    }
    for l in &batch.started {
        if let Err(e) = store.insert_live_call(l).await {
            tracing::error!(call = %l.id, error = %e, "could not note the live call");
        }
    }
    for (id, at) in &batch.answered {
        if let Err(e) = store.mark_live_call_answered(id, *at).await {
            tracing::error!(call = %id, error = %e, "could not note the answer");
        }
    }
    for (id, file) in &batch.recordings {
        if let Err(e) = store.mark_live_call_recording(id, file).await {
            tracing::error!(call = %id, error = %e, "could not note the recording");
        }
    }
    for c in &batch.cdrs {
        let hooks: Vec<_> = batch.webhooks.iter().filter(|w| w.cdr_id == c.id).cloned().collect();
        let one = WriteBatch { cdrs: vec![c.clone()], webhooks: hooks, ..Default::default() };
        for attempt in 0..5u32 {
            match store.apply_batch(&one, c.end_ms).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(call = %c.id, attempt, error = %e, "could not write CDR");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
    }
    ok
}

/// What one load of the store's configuration held.
pub struct Loaded {
    pub version: i64,
    pub extensions: usize,
    pub gateways: usize,
    pub routes: usize,
    pub queues: usize,
}

/// Reads the configuration kept in the store (extensions, gateways,
/// routes, queues, IVRs) and hands it to the switch. Three paths load it:
/// the API after each write, the watcher when the version moves (the
/// offline CLI wrote), and a reload. Loads run one at a time, each sent to
/// the switch before the next begins, so the switch applies snapshots in
/// the order they were read. Unserialized, the watcher's read from before
/// an API write could reach the switch after the write's own: the switch
/// then went without a just-created extension until the next poll, and a
/// REGISTER in that second would have been refused.
pub struct ConfigLoader {
    store: Store,
    handle: Handle<Command>,
    realm: String,
    prompts_dir: std::path::PathBuf,
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl ConfigLoader {
    pub fn new(store: Store, handle: Handle<Command>, realm: String, prompts_dir: std::path::PathBuf) -> Self {
        ConfigLoader { store, handle, realm, prompts_dir, one_at_a_time: tokio::sync::Mutex::new(()) }
    }

    /// Load and apply. `Ok(None)`: the switch has stopped.
    pub async fn apply(&self) -> Result<Option<Loaded>, store::StoreError> {
        let _turn = self.one_at_a_time.lock().await;
        let snap = self.store.directory_snapshot().await?;
        let trunking = crate::trunk_config::load(&self.store).await?;
        let callcenter = crate::switch::load_callcenter(&self.store, &self.prompts_dir).await?;
        let loaded = Loaded { version: snap.version, extensions: snap.extensions.len(), gateways: trunking.gateways.len(), routes: trunking.routes.len(), queues: callcenter.queues.len() };
        let sent = self.handle.command(Command::Config { directory: directory_of(&snap.extensions, &self.realm), policy: policy_of(&snap.extensions), trunking, callcenter }).await;
        Ok(sent.then_some(loaded))
    }
}

/// Reload the configuration whenever the store's version moves from the
/// one last applied (the offline CLI wrote to it; the API's writes apply
/// themselves, and the poll then loads the same version once more).
pub async fn directory_watcher(loader: Arc<ConfigLoader>, mut version: i64) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        match loader.store.directory_version().await {
            Ok(v) if v != version => match loader.apply().await {
                Ok(Some(l)) => {
                    version = l.version;
                    tracing::info!(version, extensions = l.extensions, gateways = l.gateways, routes = l.routes, queues = l.queues, "configuration reloaded");
                }
                Ok(None) => return,
                Err(e) => tracing::warn!(error = %e, "configuration reload failed"),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "directory version check failed"),
        }
    }
}

fn cdr_row(c: &b2bua::Cdr, clock: &crate::clock::Clock) -> store::Cdr {
    let start = clock.unix_ms(c.start) as i64;
    let end = clock.unix_ms(c.end) as i64;
    let answer = c.answer.map(|a| clock.unix_ms(a) as i64);
    store::Cdr {
        id: c.id.clone(),
        caller: c.caller.clone(),
        callee: c.callee.clone(),
        a_call_id: c.a_call_id.clone(),
        start_ms: start,
        answer_ms: answer,
        end_ms: end,
        duration_ms: end - start,
        billable_ms: answer.map(|a| end - a).unwrap_or(0),
        disposition: c.disposition.as_str().to_owned(),
        hangup_side: c.hangup_side.to_owned(),
        hangup_cause: c.hangup_cause.clone(),
        a_status: c.a_status as u32,
        b_status: c.b_status as u32,
        codec: c.codec.clone(),
        packets_to_a: c.packets.0 as i64,
        packets_to_b: c.packets.1 as i64,
        gateway: c.gateway.clone(),
        recording: None,
        // Only relayed calls have a quality of their own to report.
        lost_to_a: (c.packets != (0, 0)).then_some(c.quality.lost.0 as i64),
        lost_to_b: (c.packets != (0, 0)).then_some(c.quality.lost.1 as i64),
        jitter_to_a_us: (c.packets != (0, 0)).then_some(c.quality.jitter_us.0 as i64),
        jitter_to_b_us: (c.packets != (0, 0)).then_some(c.quality.jitter_us.1 as i64),
        ..Default::default()
    }
}
