//! Carrier gateways and the route table. Each row is a name plus the JSON
//! document the admin API validated (`spec`): the API owns its shape, the
//! store keeps it whole and versioned. Every write bumps the directory
//! version, so switches sharing the database reload them.

use serde::{Deserialize, Serialize};

use crate::row::RowExt;
use crate::{validate, Store, StoreError};

/// A gateway or a route as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigRow {
    /// Its name (the key; 1 to 64 characters).
    pub name: String,
    /// Routes only: evaluation order (lower first); 0 for gateways.
    pub priority: i64,
    /// The JSON document.
    pub spec: serde_json::Value,
    /// Creation time, unix ms.
    pub created_at_ms: i64,
    /// Last change, unix ms.
    pub updated_at_ms: i64,
}

/// Which table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigKind {
    /// `gateways`.
    Gateway,
    /// `routes`.
    Route,
    /// `queues`.
    Queue,
    /// `agents`.
    Agent,
    /// `tiers` (named `queue/agent`).
    Tier,
    /// `ivrs`.
    Ivr,
}

impl ConfigKind {
    fn what(self) -> &'static str {
        match self {
            ConfigKind::Gateway => "gateway",
            ConfigKind::Route => "route",
            ConfigKind::Queue => "queue",
            ConfigKind::Agent => "agent",
            ConfigKind::Tier => "tier",
            ConfigKind::Ivr => "IVR menu",
        }
    }

    fn table(self) -> &'static str {
        match self {
            ConfigKind::Gateway => "gateways",
            ConfigKind::Route => "routes",
            ConfigKind::Queue => "queues",
            ConfigKind::Agent => "agents",
            ConfigKind::Tier => "tiers",
            ConfigKind::Ivr => "ivrs",
        }
    }
}

const BUMP: &str = "UPDATE directory_version SET version = version + 1 WHERE id = 1";

fn check_name(kind: ConfigKind, name: &str) -> Result<(), StoreError> {
    if kind == ConfigKind::Tier {
        let ok = name.split_once('/').is_some_and(|(q, a)| check_name(ConfigKind::Queue, q).is_ok() && check_name(ConfigKind::Agent, a).is_ok());
        return if ok { Ok(()) } else { Err(StoreError::Invalid { field: "name", reason: "queue/agent, each 1 to 64 characters: letters, digits, '-', '_', '.'".into() }) };
    }
    validate::name("name", name)
}

fn row_from(r: &impl RowExt, kind: ConfigKind) -> Result<ConfigRow, StoreError> {
    let spec = r.text("spec")?;
    let spec = serde_json::from_str(&spec).map_err(|e| StoreError::corrupt(kind.table(), e.to_string()))?;
    Ok(ConfigRow {
        name: r.text("name")?,
        priority: if kind == ConfigKind::Route { r.int("priority")? } else { 0 },
        spec,
        created_at_ms: r.int("created_at_ms")?,
        updated_at_ms: r.int("updated_at_ms")?,
    })
}

impl Store {
    /// Creates a gateway or route; [`StoreError::Conflict`] if the name exists.
    pub async fn create_config(&self, kind: ConfigKind, name: &str, priority: i64, spec: &serde_json::Value, now_ms: i64) -> Result<ConfigRow, StoreError> {
        check_name(kind, name)?;
        let text = spec.to_string();
        let sql = match kind {
            ConfigKind::Route => "INSERT INTO routes (name, spec, created_at_ms, updated_at_ms, priority) VALUES ($1, $2, $3, $3, $4) ON CONFLICT (name) DO NOTHING".to_owned(),
            k => format!("INSERT INTO {} (name, spec, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO NOTHING", k.table()),
        };
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut q = sqlx::query(&sql).bind(name).bind(&text).bind(now_ms);
            if kind == ConfigKind::Route {
                q = q.bind(priority);
            }
            if q.execute(&mut *tx).await?.rows_affected() == 0 {
                return Err(StoreError::Conflict { what: kind.what(), key: name.to_owned() });
            }
            sqlx::query(BUMP).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(ConfigRow { name: name.to_owned(), priority, spec: spec.clone(), created_at_ms: now_ms, updated_at_ms: now_ms })
    }

    /// Replaces the spec (and a route's priority); `None` if there is no such row.
    pub async fn replace_config(&self, kind: ConfigKind, name: &str, priority: i64, spec: &serde_json::Value, now_ms: i64) -> Result<Option<ConfigRow>, StoreError> {
        let text = spec.to_string();
        let sql = match kind {
            ConfigKind::Route => "UPDATE routes SET spec = $1, updated_at_ms = $2, priority = $4 WHERE name = $3".to_owned(),
            k => format!("UPDATE {} SET spec = $1, updated_at_ms = $2 WHERE name = $3", k.table()),
        };
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut q = sqlx::query(&sql).bind(&text).bind(now_ms).bind(name);
            if kind == ConfigKind::Route {
                q = q.bind(priority);
            }
            if q.execute(&mut *tx).await?.rows_affected() == 0 {
                return Ok(None);
            }
            sqlx::query(BUMP).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.get_config(kind, name).await
    }

    /// One gateway or route.
    pub async fn get_config(&self, kind: ConfigKind, name: &str) -> Result<Option<ConfigRow>, StoreError> {
        let sql = match kind {
            ConfigKind::Route => "SELECT name, priority, spec, created_at_ms, updated_at_ms FROM routes WHERE name = $1".to_owned(),
            k => format!("SELECT name, spec, created_at_ms, updated_at_ms FROM {} WHERE name = $1", k.table()),
        };
        with_pool!(self, |pool| {
            let row = sqlx::query(&sql).bind(name).fetch_optional(pool).await?;
            row.as_ref().map(|r| row_from(r, kind)).transpose()
        })
    }

    /// Every gateway (by name) or route (by priority, then name).
    pub async fn list_configs(&self, kind: ConfigKind) -> Result<Vec<ConfigRow>, StoreError> {
        let sql = match kind {
            ConfigKind::Route => "SELECT name, priority, spec, created_at_ms, updated_at_ms FROM routes ORDER BY priority, name".to_owned(),
            k => format!("SELECT name, spec, created_at_ms, updated_at_ms FROM {} ORDER BY name", k.table()),
        };
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            rows.iter().map(|r| row_from(r, kind)).collect()
        })
    }

    /// Deletes one; `false` if there was none.
    pub async fn delete_config(&self, kind: ConfigKind, name: &str) -> Result<bool, StoreError> {
        let sql = format!("DELETE FROM {} WHERE name = $1", kind.table());
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            if sqlx::query(&sql).bind(name).execute(&mut *tx).await?.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query(BUMP).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}

/// An agent's run-time status and counters (JSON), as the switch last
/// wrote them.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentStatusRow {
    /// Agent name.
    pub name: String,
    /// Status (`Available`, `On Break`, ...).
    pub status: String,
    /// Counters, JSON.
    pub counters: serde_json::Value,
    /// Last write, unix ms.
    pub updated_at_ms: i64,
}

fn agent_status_from_row(r: &impl RowExt) -> Result<AgentStatusRow, StoreError> {
    let counters = r.text("counters")?;
    Ok(AgentStatusRow {
        name: r.text("name")?,
        status: r.text("status")?,
        counters: serde_json::from_str(&counters).map_err(|e| StoreError::corrupt("agent_status.counters", e.to_string()))?,
        updated_at_ms: r.int("updated_at_ms")?,
    })
}

impl Store {
    /// Every agent's last written status.
    pub async fn agent_statuses(&self) -> Result<Vec<AgentStatusRow>, StoreError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query("SELECT name, status, counters, updated_at_ms FROM agent_status ORDER BY name").fetch_all(pool).await?;
            rows.iter().map(agent_status_from_row).collect()
        })
    }

    /// The agent statuses other nodes wrote after `since_ms` (their
    /// `updated_at_ms`), oldest first: what a node applies to its own
    /// engine so that an agent's login or break taken on any node holds on
    /// all of them.
    pub async fn agent_statuses_from_others(&self, since_ms: i64) -> Result<Vec<AgentStatusRow>, StoreError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query("SELECT name, status, counters, updated_at_ms FROM agent_status WHERE updated_at_ms > $1 AND node_id <> $2 ORDER BY updated_at_ms, name")
                .bind(since_ms)
                .bind(&*self.node)
                .fetch_all(pool)
                .await?;
            rows.iter().map(agent_status_from_row).collect()
        })
    }
}

/// Upserts an agent's status (in a group commit).
pub(crate) const UPSERT_AGENT_STATUS: &str = "INSERT INTO agent_status (name, status, counters, updated_at_ms, node_id) VALUES ($1, $2, $3, $4, $5) \
    ON CONFLICT (name) DO UPDATE SET status = excluded.status, counters = excluded.counters, updated_at_ms = excluded.updated_at_ms, node_id = excluded.node_id";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn crud_and_version() {
        let store = Store::open("sqlite::memory:").await.expect("open");
        let v0 = store.directory_version().await.expect("v");
        let spec = serde_json::json!({"proxy": "127.0.0.1:5080"});
        store.create_config(ConfigKind::Gateway, "carrier-a", 0, &spec, 10).await.expect("create");
        assert!(matches!(store.create_config(ConfigKind::Gateway, "carrier-a", 0, &spec, 11).await, Err(StoreError::Conflict { .. })));
        assert!(matches!(store.create_config(ConfigKind::Gateway, "bad name", 0, &spec, 11).await, Err(StoreError::Invalid { field: "name", .. })));
        store.create_config(ConfigKind::Route, "z", 5, &serde_json::json!({"a": 1}), 10).await.expect("route");
        store.create_config(ConfigKind::Route, "a", 9, &serde_json::json!({"a": 2}), 10).await.expect("route");
        let routes = store.list_configs(ConfigKind::Route).await.expect("list");
        assert_eq!(routes.iter().map(|r| (r.name.as_str(), r.priority)).collect::<Vec<_>>(), vec![("z", 5), ("a", 9)]);
        let got = store.replace_config(ConfigKind::Route, "a", 1, &serde_json::json!({"a": 3}), 20).await.expect("replace").expect("some");
        assert_eq!((got.priority, got.spec["a"].as_i64(), got.updated_at_ms, got.created_at_ms), (1, Some(3), 20, 10));
        assert!(store.replace_config(ConfigKind::Gateway, "nope", 0, &spec, 20).await.expect("replace").is_none());
        assert_eq!(store.get_config(ConfigKind::Gateway, "carrier-a").await.expect("get").expect("some").spec, spec);
        assert!(store.delete_config(ConfigKind::Gateway, "carrier-a").await.expect("del"));
        assert!(!store.delete_config(ConfigKind::Gateway, "carrier-a").await.expect("del"));
        assert_eq!(store.directory_version().await.expect("v"), v0 + 5, "every write bumps the version");
    }

    #[tokio::test]
    async fn queues_agents_tiers_and_agent_status() {
        let store = Store::open("sqlite::memory:").await.expect("open");
        store.create_config(ConfigKind::Queue, "sales", 0, &serde_json::json!({"strategy": "round-robin"}), 1).await.expect("queue");
        store.create_config(ConfigKind::Agent, "1000", 0, &serde_json::json!({"contact": "1000"}), 1).await.expect("agent");
        store.create_config(ConfigKind::Tier, "sales/1000", 0, &serde_json::json!({"level": 1}), 1).await.expect("tier");
        assert!(matches!(store.create_config(ConfigKind::Tier, "sales", 0, &serde_json::json!({}), 1).await, Err(StoreError::Invalid { .. })));
        assert!(matches!(store.create_config(ConfigKind::Tier, "sales/10/00", 0, &serde_json::json!({}), 1).await, Err(StoreError::Invalid { .. })));
        assert_eq!(store.list_configs(ConfigKind::Tier).await.expect("tiers")[0].name, "sales/1000");
        assert_eq!(store.list_configs(ConfigKind::Queue).await.expect("queues")[0].spec["strategy"], "round-robin");
        let mut b = crate::WriteBatch::default();
        b.agents.push(("1000".into(), "Available".into(), r#"{"calls_answered":3}"#.into()));
        store.apply_batch(&b, 5).await.expect("batch");
        b.agents[0].1 = "On Break".into();
        store.apply_batch(&b, 6).await.expect("batch");
        let st = store.agent_statuses().await.expect("statuses");
        assert_eq!((st.len(), st[0].status.as_str(), st[0].counters["calls_answered"].as_u64(), st[0].updated_at_ms), (1, "On Break", Some(3), 6));
    }
}
