//! Call detail records: one row per call, answered or not, written when
//! the call ends (durably: the write returns only once committed).

use serde::{Deserialize, Serialize};

use crate::row::{to_u32, RowExt};
use crate::{Store, StoreError};

/// One call detail record. Times are unix milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// Keyset cursor: (start_ms, id) of the last row of the previous page.
    pub after: Option<(i64, String)>,
}

const COLUMNS: &str = "id, caller, callee, a_call_id, start_ms, answer_ms, end_ms, duration_ms, billable_ms, disposition, \
    hangup_side, hangup_cause, a_status, b_status, codec, packets_to_a, packets_to_b";

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
    })
}

impl Store {
    /// Insert a CDR (an existing id is left as it is: writing twice is harmless).
    pub async fn insert_cdr(&self, c: &Cdr) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO cdrs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             ON CONFLICT (id) DO NOTHING"
        );
        with_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(&c.id)
                .bind(&c.caller)
                .bind(&c.callee)
                .bind(&c.a_call_id)
                .bind(c.start_ms)
                .bind(c.answer_ms)
                .bind(c.end_ms)
                .bind(c.duration_ms)
                .bind(c.billable_ms)
                .bind(&c.disposition)
                .bind(&c.hangup_side)
                .bind(&c.hangup_cause)
                .bind(c.a_status as i64)
                .bind(c.b_status as i64)
                .bind(&c.codec)
                .bind(c.packets_to_a)
                .bind(c.packets_to_b)
                .execute(pool)
                .await?;
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
        store.close().await;
        let _ = std::fs::remove_file(&path);
    }
}
