//! # store
//!
//! The persistent state of ferroswitch, behind one async handle, [`Store`]:
//! sqlx repositories and their migrations. SQLite is the default (one file
//! under `data_dir`); PostgreSQL is supported by the same code for several
//! switch nodes sharing one database.
//!
//! ## What it owns
//! - **The directory** ([`Extension`]): numbers, caller ID, codec
//!   preference, limits, free-form tags and credentials, kept **only** as
//!   HA1 digests (RFC 7616 §3.4.2: `MD5(user:realm:password)` and the
//!   SHA-256 equivalent) together with the realm they were computed for. The
//!   store never sees a plain password.
//! - **The directory version** ([`Store::directory_version`]): one counter
//!   bumped in the same transaction as every extension write, so a running
//!   switch polls one cheap query and reloads its in-memory directory when
//!   another process (the offline `ferroswitch extension ...` CLI) changed
//!   it. [`Store::directory_snapshot`] reads the version and the extensions
//!   from one consistent snapshot.
//! - **The location service** ([`Binding`]): the registrar's bindings
//!   (RFC 3261 §10.3, RFC 5626 `+sip.instance`/`reg-id`), written in one
//!   durable transaction per REGISTER with
//!   [`Store::apply_binding_changes`], reloaded on start with
//!   [`Store::load_bindings`].
//! - **The schema**: embedded, numbered migrations per backend, run by
//!   [`Store::open`] (sqlx's migrator: checksummed, and serialised across
//!   nodes by a PostgreSQL advisory lock).
//!
//! Room is left for the CDR table and the webhook outbox (modules `cdrs` and
//! `outbox`, migrations 0002 and 0003); they are not built yet.
//!
//! ## What it does not own
//! - Policy. The registrar rules (CSeq ordering, `Expires` bounds, which
//!   binding an instance/reg-id replaces) live in the sans-IO `registrar`
//!   crate; it hands this crate the resulting [`BindingChange`]s.
//! - Time. The store reads no clock: every write takes `now_ms` (unix
//!   milliseconds) from the caller, and expiry is judged against the
//!   caller's `now_ms`.
//! - Hashing passwords, generating them, and the HTTP view of these types
//!   (the `api` crate must not echo HA1s to clients).
//!
//! ## Backends: two concrete pools behind an enum, not `sqlx::Any`
//! [`Store`] holds either a `SqlitePool` or a `PgPool`; every repository
//! function is written once and its body is compiled for each backend by a
//! small dispatch macro, so both run the same portable SQL text
//! (`$N` placeholders, which SQLite also accepts; `INSERT .. ON CONFLICT ..
//! DO UPDATE`; `RETURNING`). Schemas differ only where the type systems do
//! (BOOLEAN vs INTEGER 0/1, `COLLATE "C"` on PostgreSQL so keyset paging
//! orders bytewise as SQLite does), hence one migration directory per
//! backend. Reasons for the enum over `Any`:
//! - **Durability is configured, not hoped for.** `SqliteConnectOptions`
//!   sets WAL, `synchronous=FULL`, the busy timeout, foreign keys and
//!   `create_if_missing` on every pooled connection; `Any` only takes a URL.
//! - **Native types on both sides**: `bool`, `i64`, `f32` and `NULL`s
//!   decode with each driver's own rules instead of `Any`'s reduced set.
//! - **Native errors**: unique violations are recognised per driver and
//!   become [`StoreError::Conflict`].
//! - No runtime driver registry (`install_default_drivers`) and no
//!   third code path to test.
//!
//! The cost is that each repository body is compiled twice; that is
//! contained in this crate.
//!
//! ## Durability
//! An `Ok` from a write means the transaction is committed and, on SQLite,
//! fsynced (`synchronous=FULL` in WAL mode): it survives `kill -9` of the
//! switch and a power cut. CDRs, webhook deliveries and registrations rely
//! on this.
//!
//! PostgreSQL URLs take sqlx's parameters, including TLS
//! (`?sslmode=require`, `sslrootcert=...`, via rustls).
//!
//! ## Testing
//! `cargo test -p store` runs every check on a temporary SQLite file. With
//! `FERROSWITCH_TEST_PG_URL` set (a role that may create databases;
//! `scripts/pg-test-cluster.sh start` makes a throwaway cluster on
//! 127.0.0.1 and prints one), the same checks also run on PostgreSQL, each
//! in a database of its own; without it they are skipped with a note on
//! stderr. `make test` runs the workspace's tests under
//! `scripts/with-test-pg.sh`, which starts such a cluster (PostgreSQL is
//! among the packages it installs) and removes it afterwards, so both
//! backends are tested on every run.
//!
//! ## Using it
//! ```no_run
//! # async fn demo() -> Result<(), store::StoreError> {
//! use store::{NewExtension, Store};
//! let store = Store::open("sqlite://data/ferroswitch.db").await?;
//! let now_ms = 1_700_000_000_000; // from the caller's clock
//! let ha1_md5 = "0123456789abcdef0123456789abcdef".to_string();
//! let ha1_sha256 = "ab".repeat(32);
//! let ext = NewExtension::new("1001", ha1_md5, ha1_sha256, "pbx.example.com");
//! store.create_extension(&ext, now_ms).await?;
//! let version = store.directory_version().await?; // poll this to reload
//! # let _ = version; Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use sqlx::{PgPool, SqlitePool};

/// Runs `$body` once per backend with `$pool` bound to the concrete pool
/// (and optionally `$dialect` to its [`Dialect`]); the body is compiled for
/// each driver, so it must be written in portable SQL.
macro_rules! with_pool {
    ($store:expr, |$pool:ident, $dialect:ident| $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => {
                let $dialect = $crate::Dialect::Sqlite;
                $body
            }
            $crate::Backend::Postgres($pool) => {
                let $dialect = $crate::Dialect::Postgres;
                $body
            }
        }
    };
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}

mod batch;
mod bindings;
mod cdrs;
mod cluster;
mod error;
mod extensions;
mod migrations;
mod open;
mod row;
mod trunks;
mod validate;
mod webhooks;

pub use batch::{LiveCall, WriteBatch};
pub use bindings::{Binding, BindingChange, RemoteBinding, TRANSPORTS};
pub use cdrs::{Cdr, CdrFilter};
pub use cluster::{EventListener, NodeRow, QueueSnapshot, EVENTS_CHANNEL, MAX_NOTIFY_PAYLOAD};
pub use error::{Fault, StoreError};
pub use extensions::{DirectorySnapshot, Extension, ExtensionPatch, NewExtension};
pub use trunks::{AgentStatusRow, ConfigKind, ConfigRow};
pub use validate::MAX_NUMBER_LEN;
pub use webhooks::{NewWebhook, Webhook, WebhookState};

/// The handle to the database: cheap to clone (the pool is shared), safe
/// to use from many tasks.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// The node this handle writes for (`cluster.node_id`; empty when not
    /// clustered): bindings and agent status rows carry it, and a node's
    /// binding reads and deletes are scoped to its own rows.
    node: std::sync::Arc<str>,
}

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendKind {
    /// One SQLite file (or `sqlite::memory:`), this process plus any offline
    /// CLI on the same machine.
    Sqlite,
    /// A PostgreSQL database shared by several nodes.
    Postgres,
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The few places where the SQL has to differ between backends.
#[derive(Clone, Copy, Debug)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The statement that makes the current transaction read from one
    /// snapshot. SQLite in WAL mode already does so from the first read of
    /// a transaction; PostgreSQL's default READ COMMITTED takes a new
    /// snapshot per statement.
    fn snapshot_statement(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
        }
    }
}

impl Store {
    /// The same store, writing as node `node_id` (see
    /// [`Store::node_id`]). Checked as a name; empty is the unclustered
    /// node.
    pub fn with_node(mut self, node_id: &str) -> Result<Store, StoreError> {
        if !node_id.is_empty() {
            validate::name("node_id", node_id)?;
        }
        self.node = node_id.into();
        Ok(self)
    }

    /// The node this handle writes for; empty when not clustered.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// Which backend this store uses.
    pub fn backend_kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Closes every pooled connection, waiting for the ones in use to be
    /// returned. Later calls on this store (or its clones) fail with
    /// [`StoreError::Backend`].
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }
}
