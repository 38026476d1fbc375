//! Group commit: everything the switch has to make durable in one moment
//! (registration changes, calls starting and being answered, CDRs) goes
//! into one transaction, so one fsync covers hundreds of records. One
//! commit per CDR tops out below a thousand calls a second on a disk that
//! honours fsync; one per batch is bounded by the disk's fsync rate times
//! the batch size.

use crate::bindings::{bind_binding, check_binding, upsert_binding_stmt, upsert_chunks, upsert_many_sql, Binding, DELETE_AOR, DELETE_ONE};
use crate::cdrs::{insert_cdr_stmt, ANSWER_LIVE, DELETE_LIVE, INSERT_LIVE, RECORDING_LIVE};
use crate::webhooks::INSERT_WEBHOOK;
use crate::{BindingChange, Cdr, NewWebhook, Store, StoreError};

/// A call that started: kept until its CDR is written, so a crash turns it
/// into an `interrupted` CDR.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveCall {
    /// Call UUID.
    pub id: String,
    /// Calling party.
    pub caller: String,
    /// Called number.
    pub callee: String,
    /// Call-ID of the caller's leg.
    pub a_call_id: String,
    /// Start, unix ms.
    pub start_ms: i64,
    /// A click-to-call's own webhook URL.
    pub webhook_url: Option<String>,
    /// A click-to-call's opaque data (JSON text, as given).
    pub ext_data: Option<String>,
    /// The file it is recorded into, if recording started with it (later
    /// recordings come in [`WriteBatch::recordings`]).
    pub recording: Option<String>,
}

/// What one group commit writes, applied in this order: binding changes,
/// live calls, answers, recordings, CDRs (so a call that started and ended
/// within one batch leaves no live row).
#[derive(Clone, Debug, Default)]
pub struct WriteBatch {
    /// Registration changes, in the order the registrar made them.
    pub bindings: Vec<BindingChange>,
    /// Calls that started.
    pub started: Vec<LiveCall>,
    /// `(call id, answer unix ms)`.
    pub answered: Vec<(String, i64)>,
    /// `(call id, file name)`: live calls being recorded, and into which
    /// file (what a restart after a crash finishes and links).
    pub recordings: Vec<(String, String)>,
    /// Finished calls; each also removes the call's live row.
    pub cdrs: Vec<Cdr>,
    /// Webhook deliveries of those CDRs (due at once).
    pub webhooks: Vec<NewWebhook>,
    /// Agents' status and counters: `(name, status, counters JSON)`.
    pub agents: Vec<(String, String, String)>,
    /// Queues this node dispatches, as it sees them: `(queue, statistics
    /// JSON, waiting members JSON, agents' live views JSON)`.
    pub queue_snapshots: Vec<(String, String, String, String)>,
    /// uuid-standby agents whose standing call this node holds (`true`)
    /// or no longer holds (`false`).
    pub standby_lines: Vec<(String, bool)>,
}

impl WriteBatch {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty() && self.started.is_empty() && self.answered.is_empty() && self.recordings.is_empty() && self.cdrs.is_empty() && self.webhooks.is_empty() && self.agents.is_empty() && self.queue_snapshots.is_empty() && self.standby_lines.is_empty()
    }

    /// Empties the batch, keeping its allocations.
    pub fn clear(&mut self) {
        self.bindings.clear();
        self.started.clear();
        self.answered.clear();
        self.recordings.clear();
        self.cdrs.clear();
        self.webhooks.clear();
        self.agents.clear();
        self.queue_snapshots.clear();
        self.standby_lines.clear();
    }
}

impl Store {
    /// Applies the whole batch in one transaction: all of it or, on any
    /// error (an invalid binding, a database failure), none. Durable when
    /// it returns `Ok`.
    pub async fn apply_batch(&self, batch: &WriteBatch, now_ms: i64) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        // Validate before taking the write lock.
        for change in &batch.bindings {
            if let BindingChange::Upsert(b) = change {
                check_binding(b)?;
            }
        }
        let steps = binding_steps(&batch.bindings);
        let only_bindings = batch.started.is_empty() && batch.answered.is_empty() && batch.recordings.is_empty() && batch.cdrs.is_empty() && batch.webhooks.is_empty() && batch.agents.is_empty() && batch.queue_snapshots.is_empty() && batch.standby_lines.is_empty();
        // One binding statement on `$exec` (the pool, or the transaction).
        macro_rules! exec_step {
            ($step:expr, $exec:expr) => {
                match $step {
                    Step::Upserts(rows) if rows.len() == 1 => upsert_binding_stmt!(rows[0], self.node).execute($exec).await?,
                    Step::Upserts(rows) => {
                        let sql = upsert_many_sql(rows.len());
                        let mut q = sqlx::query(&sql).persistent(false);
                        for b in rows {
                            q = bind_binding!(q, b, self.node);
                        }
                        q.execute($exec).await?
                    }
                    Step::Delete(aor, contact) => sqlx::query(DELETE_ONE).bind(*aor).bind(*contact).bind(&*self.node).execute($exec).await?,
                    Step::DeleteAll(aor) => sqlx::query(DELETE_AOR).bind(*aor).bind(&*self.node).execute($exec).await?,
                }
            };
        }
        with_pool!(self, |pool| {
            if let ([step], true) = (steps.as_slice(), only_bindings) {
                // One statement is atomic and durable on its own: no
                // BEGIN and COMMIT round trips to the database thread.
                // (The common case: a group commit of REGISTER refreshes.)
                exec_step!(step, pool);
                return Ok(());
            }
            let mut tx = pool.begin().await?;
            for step in &steps {
                exec_step!(step, &mut *tx);
            }
            for l in &batch.started {
                sqlx::query(INSERT_LIVE)
                    .bind(&l.id)
                    .bind(&l.caller)
                    .bind(&l.callee)
                    .bind(&l.a_call_id)
                    .bind(l.start_ms)
                    .bind(&l.webhook_url)
                    .bind(&l.ext_data)
                    .bind(&*self.node)
                    .bind(&l.recording)
                    .execute(&mut *tx)
                    .await?;
            }
            for (id, at) in &batch.answered {
                sqlx::query(ANSWER_LIVE).bind(*at).bind(id).execute(&mut *tx).await?;
            }
            for (id, file) in &batch.recordings {
                sqlx::query(RECORDING_LIVE).bind(file).bind(id).execute(&mut *tx).await?;
            }
            for c in &batch.cdrs {
                insert_cdr_stmt!(c).execute(&mut *tx).await?;
                sqlx::query(DELETE_LIVE).bind(&c.id).execute(&mut *tx).await?;
            }
            for w in &batch.webhooks {
                sqlx::query(INSERT_WEBHOOK).bind(&w.cdr_id).bind(&w.url).bind(&w.body).bind(now_ms).execute(&mut *tx).await?;
            }
            for (name, status, counters) in &batch.agents {
                sqlx::query(crate::trunks::UPSERT_AGENT_STATUS).bind(name).bind(status).bind(counters).bind(now_ms).bind(&*self.node).execute(&mut *tx).await?;
            }
            for (queue, stats, members, agents) in &batch.queue_snapshots {
                sqlx::query(crate::cluster::UPSERT_SNAPSHOT).bind(queue).bind(&*self.node).bind(stats).bind(members).bind(agents).bind(now_ms).execute(&mut *tx).await?;
            }
            for (agent, up) in &batch.standby_lines {
                if *up {
                    sqlx::query(crate::cluster::UPSERT_LINE).bind(agent).bind(&*self.node).bind(now_ms).execute(&mut *tx).await?;
                } else {
                    // Only our own: the agent may have a line on another node by now.
                    sqlx::query("DELETE FROM standby_lines WHERE agent = $1 AND node_id = $2").bind(agent).bind(&*self.node).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

/// One statement of a batch's binding changes.
enum Step<'a> {
    /// Consecutive upserts, one statement (see [`upsert_chunks`]).
    Upserts(Vec<&'a Binding>),
    /// Remove one binding.
    Delete(&'a str, &'a str),
    /// Remove every binding of an address-of-record.
    DeleteAll(&'a str),
}

/// The binding changes as statements, in order: each run of upserts
/// between deletions becomes multi-row upserts, so a group commit of a
/// hundred REGISTERs costs one statement instead of a hundred round trips
/// to the database thread.
fn binding_steps(changes: &[BindingChange]) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    let mut run: Vec<&Binding> = Vec::new();
    for c in changes {
        match c {
            BindingChange::Upsert(b) => {
                run.push(b);
                continue;
            }
            BindingChange::Delete { aor, contact } => {
                steps.extend(upsert_chunks(&run).into_iter().map(Step::Upserts));
                run.clear();
                steps.push(Step::Delete(aor, contact));
            }
            BindingChange::DeleteAll { aor } => {
                steps.extend(upsert_chunks(&run).into_iter().map(Step::Upserts));
                run.clear();
                steps.push(Step::DeleteAll(aor));
            }
        }
    }
    steps.extend(upsert_chunks(&run).into_iter().map(Step::Upserts));
    steps
}
