//! The edge between the switch's cores and the store: the worker that
//! makes binding changes durable (group commit: every change queued while
//! one transaction runs goes into the next one), the directory watcher, and
//! conversions between core and store types.

use crate::switch::{Command, Job};
use registrar::{Binding, Change, DirectoryEntry};
use runtime::Handle;
use sip_proto::digest::Ha1s;
use sip_proto::{Peer, Transport};
use std::collections::HashMap;
use std::time::Duration;
use store::{BindingChange, Store};
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

pub fn directory_of(exts: &[store::Extension], realm: &str) -> HashMap<String, DirectoryEntry> {
    exts.iter()
        .filter(|e| e.realm == realm)
        .map(|e| (e.number.clone(), DirectoryEntry { enabled: e.enabled, ha1: Ha1s { md5: e.ha1_md5.clone(), sha256: e.ha1_sha256.clone() } }))
        .collect()
}

/// Apply queued jobs in batches; report each commit back to the core.
pub async fn store_worker(store: Store, mut jobs: mpsc::UnboundedReceiver<Job>, handle: Handle<Command>, clock: crate::clock::Clock) {
    let mut batch: Vec<Job> = Vec::with_capacity(256);
    while let Some(first) = jobs.recv().await {
        batch.push(first);
        while batch.len() < 512 {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let now_ms = clock.now_ms();
        for job in &batch {
            match job {
                Job::CallStarted { id, caller, callee, a_call_id, start } => {
                    if let Err(e) = store.insert_live_call(id, caller, callee, a_call_id, clock.unix_ms(*start) as i64).await {
                        tracing::error!(call = %id, error = %e, "could not note the live call");
                    }
                }
                Job::CallAnswered { id, at } => {
                    if let Err(e) = store.mark_live_call_answered(id, clock.unix_ms(*at) as i64).await {
                        tracing::error!(call = %id, error = %e, "could not note the answer");
                    }
                }
                Job::Cdr(c) => write_cdr(&store, c, &clock).await,
                _ => {}
            }
        }
        let changes: Vec<BindingChange> = batch
            .iter()
            .flat_map(|j| match j {
                Job::Commit { changes, .. } | Job::Persist(changes) => changes.iter(),
                Job::Cdr(_) | Job::CallStarted { .. } | Job::CallAnswered { .. } => [].iter(),
            })
            .map(|c| to_change(c, now_ms))
            .collect();
        let ok = match store.apply_binding_changes(&changes).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "could not persist registrations");
                false
            }
        };
        for job in batch.drain(..) {
            if let Job::Commit { tx, reply, .. } = job {
                handle.command(Command::Committed { tx, reply, ok }).await;
            }
        }
    }
}

/// Reload the directory whenever its version changes (the API or the
/// offline CLI wrote to it).
pub async fn directory_watcher(store: Store, handle: Handle<Command>, realm: String, mut version: i64) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        match store.directory_version().await {
            Ok(v) if v != version => match store.directory_snapshot().await {
                Ok(snap) => {
                    version = snap.version;
                    if !handle.command(Command::Directory(directory_of(&snap.extensions, &realm))).await {
                        return;
                    }
                    tracing::info!(version, extensions = snap.extensions.len(), "directory reloaded");
                }
                Err(e) => tracing::warn!(error = %e, "directory reload failed"),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "directory version check failed"),
        }
    }
}

async fn write_cdr(store: &Store, c: &b2bua::Cdr, clock: &crate::clock::Clock) {
    let start = clock.unix_ms(c.start) as i64;
    let end = clock.unix_ms(c.end) as i64;
    let answer = c.answer.map(|a| clock.unix_ms(a) as i64);
    let row = store::Cdr {
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
    };
    // Retry a few times: a CDR is a record the business relies on.
    for attempt in 0..5 {
        match store.insert_cdr(&row).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(call = %c.id, attempt, error = %e, "could not write CDR");
                tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
            }
        }
    }
}
