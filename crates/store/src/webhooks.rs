//! The webhook outbox: one row per delivery, written in the same
//! transaction as the CDR it reports (see [`crate::WriteBatch`]), kept
//! until delivered or given up. A crash between the commit and the POST
//! only delays the delivery; a crash after the POST but before it is
//! marked delivered repeats it (at-least-once: receivers deduplicate on
//! the delivery id).

use serde::{Deserialize, Serialize};

use crate::row::RowExt;
use crate::{Store, StoreError};

/// A delivery to make.
#[derive(Clone, Debug, PartialEq)]
pub struct NewWebhook {
    /// The CDR it reports.
    pub cdr_id: String,
    /// Where to POST.
    pub url: String,
    /// The JSON document, exactly as it will be sent (and signed).
    pub body: String,
}

/// A pending delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct Webhook {
    /// Delivery id (also sent to the receiver).
    pub id: i64,
    /// The CDR it reports.
    pub cdr_id: String,
    /// Where to POST.
    pub url: String,
    /// The body.
    pub body: String,
    /// Attempts made so far.
    pub attempts: i64,
}

/// A delivery's state, as shown with its CDR.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookState {
    /// Delivery id.
    pub id: i64,
    /// Where it goes.
    pub url: String,
    /// pending, delivered, failed (given up).
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (pending only), unix ms.
    pub next_attempt_ms: Option<i64>,
    /// HTTP status of the last attempt, if it got one.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was delivered, unix ms.
    pub delivered_ms: Option<i64>,
}

pub(crate) const INSERT_WEBHOOK: &str =
    "INSERT INTO webhooks (cdr_id, url, body, state, attempts, next_attempt_ms, created_ms) VALUES ($1, $2, $3, 'pending', 0, $4, $4)";

impl Store {
    /// Up to `limit` pending deliveries due at `now_ms`, oldest first.
    pub async fn due_webhooks(&self, now_ms: i64, limit: u32) -> Result<Vec<Webhook>, StoreError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT id, cdr_id, url, body, attempts FROM webhooks WHERE state = 'pending' AND next_attempt_ms <= $1 ORDER BY next_attempt_ms, id LIMIT $2",
            )
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok(Webhook { id: r.int("id")?, cdr_id: r.text("cdr_id")?, url: r.text("url")?, body: r.text("body")?, attempts: r.int("attempts")? }))
                .collect()
        })
    }

    /// Deliveries not yet made (the outbox depth).
    pub async fn pending_webhooks(&self) -> Result<i64, StoreError> {
        with_pool!(self, |pool| {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM webhooks WHERE state = 'pending'").fetch_one(pool).await?;
            row.int("n")
        })
    }

    /// When the earliest pending delivery is due, if any.
    pub async fn next_webhook_due(&self) -> Result<Option<i64>, StoreError> {
        with_pool!(self, |pool| {
            let row = sqlx::query("SELECT MIN(next_attempt_ms) AS due FROM webhooks WHERE state = 'pending'").fetch_one(pool).await?;
            row.opt_int("due")
        })
    }

    /// Record an attempt: delivered (`next_ms` None and `delivered`), to be
    /// retried at `next_ms`, or given up (`next_ms` None, not delivered).
    pub async fn webhook_attempted(&self, id: i64, now_ms: i64, delivered: bool, next_ms: Option<i64>, status: Option<u16>, error: Option<&str>) -> Result<(), StoreError> {
        let state = if delivered {
            "delivered"
        } else if next_ms.is_some() {
            "pending"
        } else {
            "failed"
        };
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE webhooks SET state = $1, attempts = attempts + 1, next_attempt_ms = $2, last_status = $3, last_error = $4, \
                 delivered_ms = $5 WHERE id = $6",
            )
            .bind(state)
            .bind(next_ms.unwrap_or(now_ms))
            .bind(status.map(i64::from))
            .bind(error)
            .bind(delivered.then_some(now_ms))
            .bind(id)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The deliveries of one CDR.
    pub async fn webhooks_of(&self, cdr_id: &str) -> Result<Vec<WebhookState>, StoreError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT id, url, state, attempts, next_attempt_ms, last_status, last_error, delivered_ms FROM webhooks WHERE cdr_id = $1 ORDER BY id",
            )
            .bind(cdr_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let state = r.text("state")?;
                    Ok(WebhookState {
                        id: r.int("id")?,
                        url: r.text("url")?,
                        next_attempt_ms: if state == "pending" { Some(r.int("next_attempt_ms")?) } else { None },
                        state,
                        attempts: r.int("attempts")?,
                        last_status: r.opt_int("last_status")?,
                        last_error: r.opt_text("last_error")?,
                        delivered_ms: r.opt_int("delivered_ms")?,
                    })
                })
                .collect()
        })
    }
}
