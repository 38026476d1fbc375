//! Nodes sharing one store, and which node owns each call-center queue
//! (docs/multi-node.md): the store half of running several switches on one
//! PostgreSQL database.
//!
//! - **Nodes.** Each node upserts its row (`node_id`, the `host:port` the
//!   others send SIP to, the time) every second with
//!   [`Store::node_heartbeat`]; [`Store::live_nodes`] lists those whose
//!   heartbeat is younger than a lease.
//! - **Queue ownership.** A queue is dispatched by one node at a time: the
//!   one holding an unexpired lease on it. [`Store::claim_queue`] takes or
//!   renews the lease with one conditional upsert: it succeeds when the
//!   queue has no owner, this node already owns it, or the owner's lease
//!   ran out. On PostgreSQL `ON CONFLICT .. DO UPDATE` locks the row and
//!   judges the `WHERE` on its latest version, so two nodes claiming at
//!   once never both win; SQLite has one writer at a time.
//!
//! As everywhere in this crate, time is the caller's `now_ms`: a lease is
//! judged against the clock of the node that asks, so nodes' clocks must
//! agree to well within a lease (NTP does).

use crate::row::RowExt;
use crate::{validate, Backend, Store, StoreError};

/// The PostgreSQL channel live events cross nodes on.
pub const EVENTS_CHANNEL: &str = "ferroswitch_events";
/// Largest payload PostgreSQL's NOTIFY takes (bytes, less one).
pub const MAX_NOTIFY_PAYLOAD: usize = 7999;

pub(crate) const UPSERT_SNAPSHOT: &str = "INSERT INTO queue_snapshots (queue, node_id, stats, members, agents, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (queue) DO UPDATE SET node_id = excluded.node_id, stats = excluded.stats, members = excluded.members, agents = excluded.agents, updated_at_ms = excluded.updated_at_ms";

pub(crate) const UPSERT_LINE: &str = "INSERT INTO standby_lines (agent, node_id, updated_at_ms) VALUES ($1, $2, $3) \
    ON CONFLICT (agent) DO UPDATE SET node_id = excluded.node_id, updated_at_ms = excluded.updated_at_ms";

/// What a queue's owner last saw of it (written with
/// [`crate::WriteBatch::queue_snapshots`]).
#[derive(Clone, Debug, PartialEq)]
pub struct QueueSnapshot {
    /// The queue.
    pub queue: String,
    /// The node that wrote it.
    pub node_id: String,
    /// Its statistics, JSON.
    pub stats: serde_json::Value,
    /// Its waiting members, JSON.
    pub members: serde_json::Value,
    /// Its agents' live views, JSON (an object by agent name).
    pub agents: serde_json::Value,
    /// When, unix ms (the writer's clock).
    pub updated_at_ms: i64,
}

/// Notifications from the other nodes (PostgreSQL `LISTEN`).
pub struct EventListener {
    inner: sqlx::postgres::PgListener,
}

impl EventListener {
    /// The next payload; `Err` when the connection is lost for good
    /// (sqlx reconnects by itself otherwise; what was sent meanwhile is
    /// missed).
    pub async fn recv(&mut self) -> Result<String, StoreError> {
        let n = self.inner.recv().await?;
        Ok(n.payload().to_owned())
    }
}

/// A node as the store last heard of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRow {
    /// The node's name, unique in the cluster.
    pub node_id: String,
    /// Where the other nodes send SIP to it (`host:port`).
    pub advertise: String,
    /// Its last heartbeat, unix ms.
    pub heartbeat_ms: i64,
}

impl Store {
    /// `node_id` is alive at `now_ms`, reachable at `advertise`.
    pub async fn node_heartbeat(&self, node_id: &str, advertise: &str, now_ms: i64) -> Result<(), StoreError> {
        validate::name("node_id", node_id)?;
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO nodes (node_id, advertise, heartbeat_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (node_id) DO UPDATE SET advertise = excluded.advertise, heartbeat_ms = excluded.heartbeat_ms",
            )
            .bind(node_id)
            .bind(advertise)
            .bind(now_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The nodes heard from within `lease_ms` before `now_ms`, by name.
    pub async fn live_nodes(&self, now_ms: i64, lease_ms: i64) -> Result<Vec<NodeRow>, StoreError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query("SELECT node_id, advertise, heartbeat_ms FROM nodes WHERE heartbeat_ms > $1 ORDER BY node_id")
                .bind(now_ms - lease_ms)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| Ok(NodeRow { node_id: r.text("node_id")?, advertise: r.text("advertise")?, heartbeat_ms: r.int("heartbeat_ms")? }))
                .collect()
        })
    }

    /// Take or renew `node_id`'s lease on `queue` until `now_ms + lease_ms`:
    /// `true` if this node owns the queue now, `false` if another node's
    /// lease on it has not run out.
    pub async fn claim_queue(&self, queue: &str, node_id: &str, now_ms: i64, lease_ms: i64) -> Result<bool, StoreError> {
        validate::name("node_id", node_id)?;
        with_pool!(self, |pool| {
            let done = sqlx::query(
                "INSERT INTO queue_owners (queue, node_id, lease_until_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (queue) DO UPDATE SET node_id = excluded.node_id, lease_until_ms = excluded.lease_until_ms \
                 WHERE queue_owners.lease_until_ms <= $4 OR queue_owners.node_id = excluded.node_id",
            )
            .bind(queue)
            .bind(node_id)
            .bind(now_ms + lease_ms)
            .bind(now_ms)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// `node_id` gives `queue` up (shutting down, or the queue was
    /// deleted), so another node may claim it at once; `false` if it did
    /// not own it.
    pub async fn release_queue(&self, queue: &str, node_id: &str) -> Result<bool, StoreError> {
        with_pool!(self, |pool| {
            let done = sqlx::query("DELETE FROM queue_owners WHERE queue = $1 AND node_id = $2").bind(queue).bind(node_id).execute(pool).await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Each queue whose owner's lease has not run out at `now_ms`, with its
    /// owner, by queue.
    pub async fn queue_owners(&self, now_ms: i64) -> Result<Vec<(String, String)>, StoreError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query("SELECT queue, node_id FROM queue_owners WHERE lease_until_ms > $1 ORDER BY queue").bind(now_ms).fetch_all(pool).await?;
            rows.iter().map(|r| Ok((r.text("queue")?, r.text("node_id")?))).collect()
        })
    }

    /// Send `payload` to every node listening on [`EVENTS_CHANNEL`] (this
    /// one included), when the transaction commits. PostgreSQL only; at
    /// most [`MAX_NOTIFY_PAYLOAD`] bytes.
    pub async fn notify_event(&self, payload: &str) -> Result<(), StoreError> {
        if payload.len() > MAX_NOTIFY_PAYLOAD {
            return Err(StoreError::invalid("payload", format!("{} bytes is over NOTIFY's {MAX_NOTIFY_PAYLOAD}", payload.len())));
        }
        match &self.backend {
            Backend::Postgres(pool) => {
                sqlx::query("SELECT pg_notify($1, $2)").bind(EVENTS_CHANNEL).bind(payload).execute(pool).await?;
                Ok(())
            }
            Backend::Sqlite(_) => Err(StoreError::invalid("backend", "events cross nodes on PostgreSQL only")),
        }
    }

    /// Listen on [`EVENTS_CHANNEL`]: one connection of its own. PostgreSQL
    /// only.
    pub async fn listen_events(&self) -> Result<EventListener, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut inner = sqlx::postgres::PgListener::connect_with(pool).await?;
                inner.listen(EVENTS_CHANNEL).await?;
                Ok(EventListener { inner })
            }
            Backend::Sqlite(_) => Err(StoreError::invalid("backend", "events cross nodes on PostgreSQL only")),
        }
    }

    /// The snapshots other nodes wrote, by queue.
    pub async fn queue_snapshots_from_others(&self) -> Result<Vec<QueueSnapshot>, StoreError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query("SELECT queue, node_id, stats, members, agents, updated_at_ms FROM queue_snapshots WHERE node_id <> $1 ORDER BY queue").bind(&*self.node).fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    let json = |col: &'static str| -> Result<serde_json::Value, StoreError> { serde_json::from_str(&r.text(col)?).map_err(|e| StoreError::corrupt(col, e.to_string())) };
                    Ok(QueueSnapshot { queue: r.text("queue")?, node_id: r.text("node_id")?, stats: json("stats")?, members: json("members")?, agents: json("agents")?, updated_at_ms: r.int("updated_at_ms")? })
                })
                .collect()
        })
    }

    /// The uuid-standby agents whose standing call another node holds:
    /// `(agent, node_id)`, by agent.
    pub async fn standby_lines_of_others(&self) -> Result<Vec<(String, String)>, StoreError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query("SELECT agent, node_id FROM standby_lines WHERE node_id <> $1 ORDER BY agent").bind(&*self.node).fetch_all(pool).await?;
            rows.iter().map(|r| Ok((r.text("agent")?, r.text("node_id")?))).collect()
        })
    }
}
