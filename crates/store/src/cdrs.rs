//! Call detail records: one row per call, answered or not, written when
//! the call ends (durably: the write returns only once committed).

use serde::{Deserialize, Serialize};

use crate::row::{to_u32, RowExt};
use crate::{Store, StoreError};

/// One call detail record. Times are unix milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cdr {
    /// Call UUID.
    pub id: String,
    /// Calling party (authenticated extension).
    pub caller: String,
    /// Called number.
    pub callee: String,
    /// Call-ID of the caller's leg.
    pub a_call_id: String,
    /// When the INVITE arrived.
    pub start_ms: i64,
    /// When the callee answered.
    pub answer_ms: Option<i64>,
    /// When the call ended.
    pub end_ms: i64,
    /// `end - start`.
    pub duration_ms: i64,
    /// `end - answer` (0 if unanswered).
    pub billable_ms: i64,
    /// answered, busy, no_answer, cancelled, declined, failed, interrupted.
    pub disposition: String,
    /// caller, callee, system.
    pub hangup_side: String,
    /// normal_clearing, user_busy, no_answer, originator_cancel, ...
    pub hangup_cause: String,
    /// Final SIP status sent to the caller.
    pub a_status: u32,
    /// Final SIP status from the callee (0 if none).
    pub b_status: u32,
    /// Negotiated codec (`PCMU/8000`).
    pub codec: Option<String>,
    /// RTP packets relayed towards the caller.
    pub packets_to_a: i64,
    /// RTP packets relayed towards the callee.
    pub packets_to_b: i64,
    /// The carrier gateway of the call, if one was involved.
    #[serde(default)]
    pub gateway: Option<String>,
    /// The recording's file name (under `data_dir/recordings`), if recorded.
    #[serde(default)]
    pub recording: Option<String>,
    /// Queue calls: the queue.
    #[serde(default)]
    pub queue: Option<String>,
    /// Queue calls: the agent who answered.
    #[serde(default)]
    pub agent: Option<String>,
    /// Queue calls: time in the queue until answered or left, ms.
    #[serde(default)]
    pub queue_wait_ms: Option<i64>,
    /// Queue calls: position at entry (1-based).
    #[serde(default)]
    pub queue_position: Option<i64>,
    /// Queue calls: answered, abandoned, timeout, no_agent_timeout, ...
    #[serde(default)]
    pub queue_result: Option<String>,
    /// Queue calls: talk time with the agent, ms.
    #[serde(default)]
    pub talk_ms: Option<i64>,
    /// RTP packets lost on the way to the caller (relayed calls).
    #[serde(default)]
    pub lost_to_a: Option<i64>,
    /// RTP packets lost on the way to the callee.
    #[serde(default)]
    pub lost_to_b: Option<i64>,
    /// Interarrival jitter of the stream to the caller, µs (RFC 3550).
    #[serde(default)]
    pub jitter_to_a_us: Option<i64>,
    /// Interarrival jitter of the stream to the callee, µs.
    #[serde(default)]
    pub jitter_to_b_us: Option<i64>,
}

/// Filters for [`Store::list_cdrs`]; all optional, combined with AND.
#[derive(Clone, Debug, Default)]
pub struct CdrFilter {
    /// Calls that started at or after this (unix ms).
    pub from_ms: Option<i64>,
    /// Calls that started before this (unix ms).
    pub to_ms: Option<i64>,
    /// Calls where this number is the caller or the callee.
    pub extension: Option<String>,
    /// Only this disposition.
    pub disposition: Option<String>,
    /// Only calls through this queue.
    pub queue: Option<String>,
    /// Keyset cursor: (start_ms, id) of the last row of the previous page.
    pub after: Option<(i64, String)>,
}

const COLUMNS: &str = "id, caller, callee, a_call_id, start_ms, answer_ms, end_ms, duration_ms, billable_ms, disposition, \
    hangup_side, hangup_cause, a_status, b_status, codec, packets_to_a, packets_to_b, gateway, recording, queue, agent, queue_wait_ms, queue_position, queue_result, talk_ms, lost_to_a, lost_to_b, jitter_to_a_us, jitter_to_b_us";

fn cdr_from_row(r: &impl RowExt) -> Result<Cdr, StoreError> {
    Ok(Cdr {
        id: r.text("id")?,
        caller: r.text("caller")?,
        callee: r.text("callee")?,
        a_call_id: r.text("a_call_id")?,
        start_ms: r.int("start_ms")?,
        answer_ms: r.opt_int("answer_ms")?,
        end_ms: r.int("end_ms")?,
        duration_ms: r.int("duration_ms")?,
        billable_ms: r.int("billable_ms")?,
        disposition: r.text("disposition")?,
        hangup_side: r.text("hangup_side")?,
        hangup_cause: r.text("hangup_cause")?,
        a_status: to_u32("cdr a_status", r.int("a_status")?)?,
        b_status: to_u32("cdr b_status", r.int("b_status")?)?,
        codec: r.opt_text("codec")?,
        packets_to_a: r.int("packets_to_a")?,
        packets_to_b: r.int("packets_to_b")?,
        gateway: r.opt_text("gateway")?,
        recording: r.opt_text("recording")?,
        queue: r.opt_text("queue")?,
        agent: r.opt_text("agent")?,
        queue_wait_ms: r.opt_int("queue_wait_ms")?,
        queue_position: r.opt_int("queue_position")?,
        queue_result: r.opt_text("queue_result")?,
        talk_ms: r.opt_int("talk_ms")?,
        lost_to_a: r.opt_int("lost_to_a")?,
        lost_to_b: r.opt_int("lost_to_b")?,
        jitter_to_a_us: r.opt_int("jitter_to_a_us")?,
        jitter_to_b_us: r.opt_int("jitter_to_b_us")?,
    })
}

/// Inserts a CDR (an existing id is left as it is).
pub(crate) const INSERT_CDR: &str = "INSERT INTO cdrs (id, caller, callee, a_call_id, start_ms, answer_ms, end_ms, duration_ms, \
    billable_ms, disposition, hangup_side, hangup_cause, a_status, b_status, codec, packets_to_a, packets_to_b, gateway, recording, \
    queue, agent, queue_wait_ms, queue_position, queue_result, talk_ms, lost_to_a, lost_to_b, jitter_to_a_us, jitter_to_b_us) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29) ON CONFLICT (id) DO NOTHING";
/// Forgets a live call (its CDR is written).
pub(crate) const DELETE_LIVE: &str = "DELETE FROM live_calls WHERE id = $1";
/// Notes a live call.
pub(crate) const INSERT_LIVE: &str =
    "INSERT INTO live_calls (id, caller, callee, a_call_id, start_ms, webhook_url, ext_data, node_id, recording) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING";
/// Notes a live call's answer.
pub(crate) const ANSWER_LIVE: &str = "UPDATE live_calls SET answer_ms = $1 WHERE id = $2";
/// Notes the file a live call is recorded into.
pub(crate) const RECORDING_LIVE: &str = "UPDATE live_calls SET recording = $1 WHERE id = $2";

/// The insert statement for a CDR, ready to execute.
macro_rules! insert_cdr_stmt {
    ($c:expr) => {
        sqlx::query($crate::cdrs::INSERT_CDR)
            .bind(&$c.id)
            .bind(&$c.caller)
            .bind(&$c.callee)
            .bind(&$c.a_call_id)
            .bind($c.start_ms)
            .bind($c.answer_ms)
            .bind($c.end_ms)
            .bind($c.duration_ms)
            .bind($c.billable_ms)
            .bind(&$c.disposition)
            .bind(&$c.hangup_side)
            .bind(&$c.hangup_cause)
            .bind($c.a_status as i64)
            .bind($c.b_status as i64)
            .bind(&$c.codec)
            .bind($c.packets_to_a)
            .bind($c.packets_to_b)
            .bind(&$c.gateway)
            .bind(&$c.recording)
            .bind(&$c.queue)
            .bind(&$c.agent)
            .bind($c.queue_wait_ms)
            .bind($c.queue_position)
            .bind(&$c.queue_result)
            .bind($c.talk_ms)
            .bind($c.lost_to_a)
            .bind($c.lost_to_b)
            .bind($c.jitter_to_a_us)
            .bind($c.jitter_to_b_us)
    };
}
pub(crate) use insert_cdr_stmt;

impl Store {
    /// Record a call that started (removed when its CDR is written).
    pub async fn insert_live_call(&self, l: &crate::LiveCall) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
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
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Note a live call's answer time.
    pub async fn mark_live_call_answered(&self, id: &str, answer_ms: i64) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(ANSWER_LIVE).bind(answer_ms).bind(id).execute(pool).await?;
            Ok(())
        })
    }

    /// Note the file (a name under the recordings directory) a live call
    /// is recorded into, for [`Store::recover_interrupted_calls`].
    pub async fn mark_live_call_recording(&self, id: &str, file: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(RECORDING_LIVE).bind(file).bind(id).execute(pool).await?;
            Ok(())
        })
    }

    /// After a crash: every call of this node still marked live becomes a
    /// CDR with disposition `interrupted`, ending at `now_ms`, written in one
    /// transaction with the webhook delivery `hook` makes of it (if any),
    /// so a crash during recovery cannot leave a CDR whose webhook is never
    /// sent. A call that was being recorded gets the file `recording` makes
    /// of the one it left (given the name noted by
    /// [`Store::mark_live_call_recording`]; `None`: nothing to link), before
    /// `hook` sees the CDR. Returns those CDRs.
    pub async fn recover_interrupted_calls(
        &self,
        now_ms: i64,
        recording: impl Fn(&str) -> Option<String>,
        hook: impl Fn(&Cdr, Option<&str>, Option<&str>) -> Option<crate::NewWebhook>,
    ) -> Result<Vec<Cdr>, StoreError> {
        type Row = (String, String, String, String, i64, Option<i64>, Option<String>, Option<String>, Option<String>);
        let rows: Vec<Row> = with_pool!(self, |pool| {
            // Only this node's: the other nodes of a cluster are alive.
            let rows = sqlx::query("SELECT id, caller, callee, a_call_id, start_ms, answer_ms, webhook_url, ext_data, recording FROM live_calls WHERE node_id = $1 ORDER BY start_ms")
                .bind(&*self.node)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.text("id")?,
                        r.text("caller")?,
                        r.text("callee")?,
                        r.text("a_call_id")?,
                        r.int("start_ms")?,
                        r.opt_int("answer_ms")?,
                        r.opt_text("webhook_url")?,
                        r.opt_text("ext_data")?,
                        r.opt_text("recording")?,
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, caller, callee, a_call_id, start_ms, answer_ms, webhook_url, ext_data, file) in rows {
            let end = now_ms.max(start_ms);
            let c = Cdr {
                id,
                caller,
                callee,
                a_call_id,
                start_ms,
                answer_ms,
                end_ms: end,
                duration_ms: end - start_ms,
                billable_ms: answer_ms.map(|a| end - a).unwrap_or(0),
                disposition: "interrupted".into(),
                hangup_side: "system".into(),
                hangup_cause: "switch_restart".into(),
                a_status: 0,
                b_status: 0,
                codec: None,
                packets_to_a: 0,
                packets_to_b: 0,
                gateway: None,
                recording: file.as_deref().and_then(&recording),
                ..Default::default()
            };
            let batch = crate::WriteBatch { webhooks: hook(&c, webhook_url.as_deref(), ext_data.as_deref()).into_iter().collect(), cdrs: vec![c.clone()], ..Default::default() };
            self.apply_batch(&batch, now_ms).await?;
            out.push(c);
        }
        Ok(out)
    }

    /// Insert a CDR and forget the call's live row, in one transaction (an
    /// existing CDR id is left as it is: writing twice is harmless).
    pub async fn insert_cdr(&self, c: &Cdr) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            insert_cdr_stmt!(c).execute(&mut *tx).await?;
            sqlx::query(DELETE_LIVE).bind(&c.id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// One CDR.
    pub async fn get_cdr(&self, id: &str) -> Result<Option<Cdr>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM cdrs WHERE id = $1");
        with_pool!(self, |pool| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await?;
            row.as_ref().map(cdr_from_row).transpose()
        })
    }

    /// CDRs matching `f`, newest first, at most `limit`.
    pub async fn list_cdrs(&self, f: &CdrFilter, limit: u32) -> Result<Vec<Cdr>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM cdrs WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if f.from_ms.is_some() {
            sql += &format!(" AND start_ms >= {}", next());
        }
        if f.to_ms.is_some() {
            sql += &format!(" AND start_ms < {}", next());
        }
        if f.extension.is_some() {
            let p = next();
            sql += &format!(" AND (caller = {p} OR callee = {p})");
        }
        if f.disposition.is_some() {
            sql += &format!(" AND disposition = {}", next());
        }
        if f.queue.is_some() {
            sql += &format!(" AND queue = {}", next());
        }
        if f.after.is_some() {
            let (a, b) = (next(), next());
            sql += &format!(" AND (start_ms < {a} OR (start_ms = {a} AND id < {b}))");
        }
        sql += &format!(" ORDER BY start_ms DESC, id DESC LIMIT {}", next());
        with_pool!(self, |pool| {
            let mut q = sqlx::query(&sql);
            if let Some(v) = f.from_ms {
                q = q.bind(v);
            }
            if let Some(v) = f.to_ms {
                q = q.bind(v);
            }
            if let Some(v) = &f.extension {
                q = q.bind(v);
            }
            if let Some(v) = &f.disposition {
                q = q.bind(v);
            }
            if let Some(v) = &f.queue {
                q = q.bind(v);
            }
            if let Some((s, id)) = &f.after {
                q = q.bind(*s).bind(id);
            }
            let rows = q.bind(limit as i64).fetch_all(pool).await?;
            rows.iter().map(cdr_from_row).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cdr(id: &str, start: i64, caller: &str, disp: &str) -> Cdr {
        Cdr {
            id: id.into(),
            caller: caller.into(),
            callee: "1001".into(),
            a_call_id: "c".into(),
            start_ms: start,
            answer_ms: Some(start + 1000),
            end_ms: start + 5000,
            duration_ms: 5000,
            billable_ms: 4000,
            disposition: disp.into(),
            hangup_side: "callee".into(),
            hangup_cause: "normal_clearing".into(),
            a_status: 200,
            b_status: 200,
            codec: Some("PCMU/8000".into()),
            packets_to_a: 200,
            packets_to_b: 199,
            gateway: None,
            recording: None,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn insert_get_filter_page() {
        let path = std::env::temp_dir().join(format!("fs-cdr-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::open(&format!("sqlite://{}", path.display())).await.expect("open");
        for i in 0..5 {
            store.insert_cdr(&cdr(&format!("id{i}"), 1000 + i, if i % 2 == 0 { "1000" } else { "2000" }, if i == 4 { "busy" } else { "answered" })).await.expect("insert");
        }
        store.insert_cdr(&cdr("id0", 1000, "1000", "answered")).await.expect("idempotent");
        assert_eq!(store.get_cdr("id3").await.expect("get").expect("some"), cdr("id3", 1003, "2000", "answered"));
        assert!(store.get_cdr("nope").await.expect("get").is_none());
        let all = store.list_cdrs(&CdrFilter::default(), 10).await.expect("list");
        assert_eq!(all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), vec!["id4", "id3", "id2", "id1", "id0"]);
        let mine = store.list_cdrs(&CdrFilter { extension: Some("2000".into()), ..Default::default() }, 10).await.expect("list");
        assert_eq!(mine.len(), 2);
        let busy = store.list_cdrs(&CdrFilter { disposition: Some("busy".into()), ..Default::default() }, 10).await.expect("list");
        assert_eq!(busy.len(), 1);
        let window = store.list_cdrs(&CdrFilter { from_ms: Some(1001), to_ms: Some(1003), ..Default::default() }, 10).await.expect("list");
        assert_eq!(window.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), vec!["id2", "id1"]);
        let page = store.list_cdrs(&CdrFilter { after: Some((1003, "id3".into())), ..Default::default() }, 2).await.expect("list");
        assert_eq!(page.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), vec!["id2", "id1"]);
        // A call that was live when the process died becomes an interrupted CDR.
        let live = |id: &str, a_call_id: &str, url: Option<&str>, ext: Option<&str>| crate::LiveCall {
            id: id.into(),
            caller: "1000".into(),
            callee: "1001".into(),
            a_call_id: a_call_id.into(),
            start_ms: 5000,
            webhook_url: url.map(str::to_owned),
            ext_data: ext.map(str::to_owned),
            recording: None,
        };
        store.insert_live_call(&live("live1", "c9", None, None)).await.expect("live");
        store.mark_live_call_answered("live1", 6000).await.expect("answered");
        store.mark_live_call_recording("live1", "live1.wav").await.expect("recording");
        store.insert_live_call(&live("done1", "c8", None, None)).await.expect("live");
        store.insert_cdr(&cdr("done1", 5000, "1000", "answered")).await.expect("cdr clears live row");
        // A click-to-call keeps its own webhook URL and ext_data.
        store.insert_live_call(&live("c2c1", "c7", Some("http://127.0.0.1:9/crm"), Some(r#"{"ticket":7}"#))).await.expect("live");
        let hook = |c: &Cdr, url: Option<&str>, ext: Option<&str>| {
            Some(crate::NewWebhook { cdr_id: c.id.clone(), url: url.unwrap_or("http://127.0.0.1:9/hook").into(), body: format!("{{\"id\":\"{}\",\"ext_data\":{}}}", c.id, ext.unwrap_or("null")) })
        };
        // The recording's file is finished (here: renamed) before the hook
        // sees the CDR; a call that was not recorded is not asked about.
        let asked = std::sync::Mutex::new(Vec::new());
        let finish = |f: &str| {
            asked.lock().expect("lock").push(f.to_owned());
            Some(f.replace(".wav", ".opus"))
        };
        let hooked = |c: &Cdr, url: Option<&str>, ext: Option<&str>| {
            assert_eq!(c.recording.as_deref(), if c.id == "live1" { Some("live1.opus") } else { None }, "the hook sees the finished file");
            hook(c, url, ext)
        };
        let rec = store.recover_interrupted_calls(9000, finish, hooked).await.expect("recover");
        assert_eq!(rec.len(), 2);
        assert_eq!(*asked.lock().expect("lock"), vec!["live1.wav".to_owned()]);
        let got = store.get_cdr("live1").await.expect("get").expect("cdr");
        assert_eq!((got.disposition.as_str(), got.answer_ms, got.end_ms, got.billable_ms), ("interrupted", Some(6000), 9000, 3000));
        assert_eq!(got.recording.as_deref(), Some("live1.opus"), "the interrupted call links its recording");
        assert_eq!(store.get_cdr("c2c1").await.expect("get").expect("cdr").recording, None);
        // Its webhook was written with it, due at once.
        let hooks = store.webhooks_of("live1").await.expect("hooks");
        assert_eq!(hooks.iter().map(|h| (h.state.as_str(), h.url.as_str())).collect::<Vec<_>>(), vec![("pending", "http://127.0.0.1:9/hook")]);
        assert!(store.webhooks_of("done1").await.expect("hooks").is_empty(), "only the recovered calls'");
        let due = store.due_webhooks(9000, 10).await.expect("due");
        let c2c: Vec<_> = due.iter().filter(|h| h.cdr_id == "c2c1").map(|h| (h.url.as_str(), h.body.as_str())).collect();
        assert_eq!(c2c, vec![("http://127.0.0.1:9/crm", r#"{"id":"c2c1","ext_data":{"ticket":7}}"#)]);
        assert!(store.recover_interrupted_calls(10_000, |_| None, hook).await.expect("again").is_empty(), "recovered once only");
        store.close().await;
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn batch_is_all_or_nothing() {
        use crate::{Binding, BindingChange, LiveCall, WriteBatch};
        let path = std::env::temp_dir().join(format!("fs-batch-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::open(&format!("sqlite://{}", path.display())).await.expect("open");
        let binding = |aor: &str| Binding {
            aor: aor.into(),
            contact: format!("<sip:{aor}@127.0.0.1:5070>"),
            instance: None,
            reg_id: None,
            q: None,
            expires_at_ms: 10_000_000,
            call_id: "r1".into(),
            cseq: 1,
            transport: "udp".into(),
            source: "127.0.0.1:5070".into(),
            user_agent: None,
            path: None,
            updated_at_ms: 1,
        };
        let live = |id: &str| LiveCall { id: id.into(), caller: "1000".into(), callee: "1001".into(), a_call_id: "c".into(), start_ms: 1000, webhook_url: None, ext_data: None, recording: None };
        // One batch: a registration, two calls starting, one answered, one
        // ending within the same batch (its live row must not survive).
        let mut b = WriteBatch::default();
        b.bindings.push(BindingChange::Upsert(binding("1000")));
        b.started.push(live("a"));
        b.started.push(live("b"));
        b.answered.push(("a".into(), 2000));
        b.recordings.push(("a".into(), "a.wav".into()));
        b.recordings.push(("b".into(), "b.wav".into()));
        b.cdrs.push(cdr("b", 1000, "1000", "answered"));
        b.webhooks.push(crate::NewWebhook { cdr_id: "b".into(), url: "http://127.0.0.1:9/h".into(), body: "{}".into() });
        store.apply_batch(&b, 1).await.expect("batch");
        // The outbox: due at once, retried, then delivered.
        let due = store.due_webhooks(1, 10).await.expect("due");
        assert_eq!(due.len(), 1);
        store.webhook_attempted(due[0].id, 2, false, Some(500), Some(503), Some("busy")).await.expect("attempt");
        assert!(store.due_webhooks(499, 10).await.expect("due").is_empty());
        assert_eq!(store.next_webhook_due().await.expect("next"), Some(500));
        let due = store.due_webhooks(500, 10).await.expect("due");
        assert_eq!(due[0].attempts, 1);
        store.webhook_attempted(due[0].id, 501, true, None, Some(200), None).await.expect("attempt");
        let st = store.webhooks_of("b").await.expect("state");
        assert_eq!((st[0].state.as_str(), st[0].attempts, st[0].delivered_ms, st[0].last_status), ("delivered", 2, Some(501), Some(200)));
        assert_eq!(store.next_webhook_due().await.expect("next"), None);
        assert_eq!(store.load_bindings(0).await.expect("bindings").len(), 1);
        assert!(store.get_cdr("b").await.expect("get").is_some());
        let rec = store.recover_interrupted_calls(5000, |f| Some(f.to_owned()), |_, _, _| None).await.expect("recover");
        assert_eq!(rec.iter().map(|c| (c.id.as_str(), c.answer_ms, c.recording.as_deref())).collect::<Vec<_>>(), vec![("a", Some(2000), Some("a.wav"))]);
        // An invalid binding rolls the whole batch back, CDRs included.
        let mut bad = WriteBatch::default();
        bad.cdrs.push(cdr("c", 3000, "1000", "answered"));
        let mut invalid = binding("1001");
        invalid.transport = "carrier-pigeon".into();
        bad.bindings.push(BindingChange::Upsert(invalid));
        assert!(store.apply_batch(&bad, 1).await.is_err());
        assert!(store.get_cdr("c").await.expect("get").is_none());
        assert!(store.apply_batch(&WriteBatch::default(), 1).await.is_ok());
        store.close().await;
        let _ = std::fs::remove_file(&path);
    }
}
