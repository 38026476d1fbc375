//! The location service: registration bindings (RFC 3261 §10.3, RFC 5626).
//!
//! The registrar decides (CSeq ordering, expiry bounds, which binding an
//! instance/reg-id pair replaces) and hands the store the resulting
//! changes; the store keeps them durably. It enforces only what makes a
//! row well-formed.

use serde::{Deserialize, Serialize};

use crate::row::{to_u32, RowExt};
use crate::{validate, Store, StoreError};

/// The transports a binding may have been registered over, as stored.
pub const TRANSPORTS: [&str; 5] = ["udp", "tcp", "tls", "ws", "wss"];

/// One registered contact of an address-of-record. Keyed by
/// `(aor, contact)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    /// The address-of-record: the extension number (validated as one).
    pub aor: String,
    /// The Contact URI as registered, e.g. `<sip:1001@192.0.2.7:5060>`.
    pub contact: String,
    /// RFC 5626 `+sip.instance`, e.g. `<urn:uuid:...>`.
    pub instance: Option<String>,
    /// RFC 5626 `reg-id` (1 to 2^31-1).
    pub reg_id: Option<u32>,
    /// The Contact's `q` (0 to 1), if it had one.
    pub q: Option<f32>,
    /// When the binding expires, unix milliseconds (the caller's clock).
    pub expires_at_ms: i64,
    /// The Call-ID of the REGISTER that last refreshed it.
    pub call_id: String,
    /// The CSeq number of that REGISTER (a 32-bit unsigned integer,
    /// RFC 3261 §8.1.1.5).
    pub cseq: u32,
    /// The transport it arrived over: one of [`TRANSPORTS`].
    pub transport: String,
    /// Where the REGISTER came from, `ip:port` (`[v6]:port`): the flow to
    /// reach the contact through NAT.
    pub source: String,
    /// The User-Agent header, if any.
    pub user_agent: Option<String>,
    /// The Path header values (RFC 3327), comma-joined, if any.
    pub path: Option<String>,
    /// When this row was last written, unix milliseconds.
    pub updated_at_ms: i64,
}

/// A binding another node serves, as [`Store::remote_locations`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteBinding {
    /// The address-of-record.
    pub aor: String,
    /// The Contact URI.
    pub contact: String,
    /// The node serving it.
    pub node_id: String,
    /// When it expires, unix ms.
    pub expires_at_ms: i64,
}

/// One change to the location service; a REGISTER produces a list of them,
/// applied together by [`Store::apply_binding_changes`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum BindingChange {
    /// Insert the binding, or replace the one with the same
    /// `(aor, contact)`.
    Upsert(Binding),
    /// Remove one binding (absent is not an error).
    Delete {
        /// Its address-of-record.
        aor: String,
        /// Its Contact URI.
        contact: String,
    },
    /// Remove every binding of an address-of-record (`Contact: *`).
    DeleteAll {
        /// The address-of-record.
        aor: String,
    },
}

pub(crate) fn check_binding(b: &Binding) -> Result<(), StoreError> {
    validate::number("aor", &b.aor)?;
    validate::uri("contact", &b.contact)?;
    if let Some(instance) = &b.instance {
        validate::header_value("instance", instance)?;
    }
    if let Some(reg_id) = b.reg_id {
        validate::reg_id(reg_id)?;
    }
    if let Some(q) = b.q {
        validate::q(q)?;
    }
    validate::header_value("call_id", &b.call_id)?;
    if !TRANSPORTS.contains(&b.transport.as_str()) {
        return Err(StoreError::invalid(
            "transport",
            format!("{:?} is not one of {}", b.transport, TRANSPORTS.join(", ")),
        ));
    }
    validate::socket_addr("source", &b.source)?;
    if let Some(ua) = &b.user_agent {
        validate::header_value("user_agent", ua)?;
    }
    if let Some(path) = &b.path {
        validate::uri("path", path)?;
    }
    Ok(())
}

fn binding_from_row(r: &impl RowExt) -> Result<Binding, StoreError> {
    Ok(Binding {
        aor: r.text("aor")?,
        contact: r.text("contact")?,
        instance: r.opt_text("instance")?,
        reg_id: r
            .opt_int("reg_id")?
            .map(|v| to_u32("bindings.reg_id", v))
            .transpose()?,
        q: r.opt_real("q")?,
        expires_at_ms: r.int("expires_at_ms")?,
        call_id: r.text("call_id")?,
        cseq: to_u32("bindings.cseq", r.int("cseq")?)?,
        transport: r.text("transport")?,
        source: r.text("source")?,
        user_agent: r.opt_text("user_agent")?,
        path: r.opt_text("path")?,
        updated_at_ms: r.int("updated_at_ms")?,
    })
}

macro_rules! binding_columns {
    () => {
        "aor, contact, instance, reg_id, q, expires_at_ms, call_id, cseq, transport, source, user_agent, path, updated_at_ms, node_id"
    };
}

macro_rules! binding_conflict {
    () => {
        " ON CONFLICT (aor, contact) DO UPDATE SET \
           instance = excluded.instance, reg_id = excluded.reg_id, q = excluded.q, \
           expires_at_ms = excluded.expires_at_ms, call_id = excluded.call_id, \
           cseq = excluded.cseq, transport = excluded.transport, source = excluded.source, \
           user_agent = excluded.user_agent, path = excluded.path, \
           updated_at_ms = excluded.updated_at_ms, node_id = excluded.node_id"
    };
}

pub(crate) const UPSERT: &str = concat!(
    "INSERT INTO bindings (",
    binding_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    binding_conflict!()
);

/// Columns (bind parameters) per binding row.
const BINDING_PARAMS: usize = 14;

/// Most rows in one multi-row upsert: 14 parameters each stays far below
/// SQLite's 32,766 and PostgreSQL's 65,535 bind parameters.
pub(crate) const UPSERT_ROWS: usize = 256;

/// The upsert of `rows` bindings in one statement.
pub(crate) fn upsert_many_sql(rows: usize) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(600 + rows * 70);
    s.push_str(concat!("INSERT INTO bindings (", binding_columns!(), ") VALUES "));
    for r in 0..rows {
        s.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..BINDING_PARAMS {
            let _ = write!(s, "{}${}", if c == 0 { "" } else { ", " }, r * BINDING_PARAMS + c + 1);
        }
        s.push(')');
    }
    s.push_str(binding_conflict!());
    s
}

/// Consecutive upserts as one list per statement: at most
/// [`UPSERT_ROWS`] each, one row per `(aor, contact)` (the last one wins,
/// as it would statement by statement; PostgreSQL refuses a statement
/// that updates a row twice).
pub(crate) fn upsert_chunks<'a>(run: &[&'a Binding]) -> Vec<Vec<&'a Binding>> {
    let mut seen = std::collections::HashSet::new();
    let mut last: Vec<&Binding> = run.iter().rev().filter(|b| seen.insert((b.aor.as_str(), b.contact.as_str()))).copied().collect();
    last.reverse();
    last.chunks(UPSERT_ROWS).map(<[&Binding]>::to_vec).collect()
}

// A node deletes only the bindings it serves: another node's binding of
// the same address-of-record is that node's to refresh or remove.
pub(crate) const DELETE_ONE: &str = "DELETE FROM bindings WHERE aor = $1 AND contact = $2 AND node_id = $3";
pub(crate) const DELETE_AOR: &str = "DELETE FROM bindings WHERE aor = $1 AND node_id = $2";
const SELECT_LIVE: &str = "SELECT aor, contact, instance, reg_id, q, expires_at_ms, call_id, \
       cseq, transport, source, user_agent, path, updated_at_ms \
     FROM bindings WHERE expires_at_ms > $1 AND node_id = $2 ORDER BY aor, contact";
const SELECT_REMOTE: &str = "SELECT aor, contact, node_id, expires_at_ms FROM bindings \
     WHERE expires_at_ms > $1 AND node_id <> $2 ORDER BY aor, contact";
const PURGE: &str = "DELETE FROM bindings WHERE expires_at_ms <= $1";

/// The upsert statement for a (validated) binding, ready to execute.
macro_rules! upsert_binding_stmt {
    ($b:expr, $node:expr) => {
        $crate::bindings::bind_binding!(sqlx::query($crate::bindings::UPSERT), $b, $node)
    };
}

/// Binds a binding's 13 columns and the node writing it, in [`UPSERT`]'s
/// order, to a query.
macro_rules! bind_binding {
    ($q:expr, $b:expr, $node:expr) => {
        $q.bind(&$b.aor)
            .bind(&$b.contact)
            .bind($b.instance.as_deref())
            .bind($b.reg_id.map(i64::from))
            .bind($b.q)
            .bind($b.expires_at_ms)
            .bind(&$b.call_id)
            .bind(i64::from($b.cseq))
            .bind(&$b.transport)
            .bind(&$b.source)
            .bind($b.user_agent.as_deref())
            .bind($b.path.as_deref())
            .bind($b.updated_at_ms)
            .bind(&*$node)
    };
}

pub(crate) use bind_binding;
pub(crate) use upsert_binding_stmt;

impl Store {
    /// Inserts the binding or replaces the one with the same
    /// `(aor, contact)`. Durable when it returns.
    pub async fn upsert_binding(&self, binding: &Binding) -> Result<(), StoreError> {
        check_binding(binding)?;
        with_pool!(self, |pool| {
            upsert_binding_stmt!(binding, self.node).execute(pool).await?;
        });
        Ok(())
    }

    /// Removes one of this node's bindings; `false` if there was none.
    pub async fn delete_binding(&self, aor: &str, contact: &str) -> Result<bool, StoreError> {
        with_pool!(self, |pool| {
            let done = sqlx::query(DELETE_ONE)
                .bind(aor)
                .bind(contact)
                .bind(&*self.node)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Removes every binding of `aor` this node serves; returns how many
    /// there were.
    pub async fn delete_bindings(&self, aor: &str) -> Result<u64, StoreError> {
        with_pool!(self, |pool| {
            let done = sqlx::query(DELETE_AOR).bind(aor).bind(&*self.node).execute(pool).await?;
            Ok(done.rows_affected())
        })
    }

    /// This node's bindings still alive at `now_ms` (`expires_at_ms >
    /// now_ms`), ordered by aor then contact: what the registrar reloads on
    /// start.
    pub async fn load_bindings(&self, now_ms: i64) -> Result<Vec<Binding>, StoreError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(SELECT_LIVE)
                .bind(now_ms)
                .bind(&*self.node)
                .fetch_all(pool)
                .await?;
            rows.iter().map(binding_from_row).collect()
        })
    }

    /// The live bindings other nodes serve at `now_ms`, by aor then
    /// contact: the location view a node keeps of the rest of the cluster.
    pub async fn remote_locations(&self, now_ms: i64) -> Result<Vec<RemoteBinding>, StoreError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(SELECT_REMOTE).bind(now_ms).bind(&*self.node).fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok(RemoteBinding { aor: r.text("aor")?, contact: r.text("contact")?, node_id: r.text("node_id")?, expires_at_ms: r.int("expires_at_ms")? }))
                .collect()
        })
    }

    /// Deletes the bindings expired at `now_ms` (`expires_at_ms <= now_ms`);
    /// returns how many.
    pub async fn purge_expired_bindings(&self, now_ms: i64) -> Result<u64, StoreError> {
        with_pool!(self, |pool| {
            let done = sqlx::query(PURGE).bind(now_ms).execute(pool).await?;
            Ok(done.rows_affected())
        })
    }

    /// Applies `changes` in order, in one transaction: all of them or, on
    /// any error (an invalid binding, reported with its field, or a
    /// database failure), none. Durable when it returns `Ok`, so the
    /// registrar may then answer 200. An empty list does nothing.
    pub async fn apply_binding_changes(&self, changes: &[BindingChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        with_pool!(self, |pool| {
            // Every statement in here is a write, so on SQLite the first
            // one takes the write lock under the busy timeout.
            let mut tx = pool.begin().await?;
            for change in changes {
                match change {
                    BindingChange::Upsert(b) => {
                        // Checked in order inside the transaction: an
                        // invalid change rolls back those before it.
                        check_binding(b)?;
                        upsert_binding_stmt!(b, self.node).execute(&mut *tx).await?;
                    }
                    BindingChange::Delete { aor, contact } => {
                        sqlx::query(DELETE_ONE)
                            .bind(aor)
                            .bind(contact)
                            .bind(&*self.node)
                            .execute(&mut *tx)
                            .await?;
                    }
                    BindingChange::DeleteAll { aor } => {
                        sqlx::query(DELETE_AOR).bind(aor).bind(&*self.node).execute(&mut *tx).await?;
                    }
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests;
