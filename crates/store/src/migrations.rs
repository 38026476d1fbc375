//! The schema, embedded per backend and run by sqlx's migrator.
//!
//! The SQL lives in `migrations/sqlite/` and `migrations/postgres/`, one
//! file per version with the same number and description on both sides.
//! It is embedded with `include_str!` and handed to
//! [`sqlx::migrate::Migrator`] through a [`MigrationSource`], so there is no
//! proc-macro and no database at build time, while keeping sqlx's
//! bookkeeping (`_sqlx_migrations`, checksums, refusal of a database
//! migrated by a newer build, and the PostgreSQL advisory lock that lets
//! several nodes start at once).
//!
//! To add a table (CDRs: 0002, webhook outbox: 0003): add the file to both
//! directories and a line to both lists below. Never edit a released file.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::{Dialect, StoreError};

/// `(version, description, sql)`.
type Embedded = (i64, &'static str, &'static str);

pub(crate) const SQLITE: &[Embedded] = &[
    (1, "directory and bindings", include_str!("../migrations/sqlite/0001_directory_and_bindings.sql")),
    (2, "cdrs", include_str!("../migrations/sqlite/0002_cdrs.sql")),
    (3, "live calls", include_str!("../migrations/sqlite/0003_live_calls.sql")),
    (4, "trunks and webhooks", include_str!("../migrations/sqlite/0004_trunks_and_webhooks.sql")),
    (5, "cdr recording", include_str!("../migrations/sqlite/0005_cdr_recording.sql")),
    (6, "callcenter", include_str!("../migrations/sqlite/0006_callcenter.sql")),
    (7, "live call extras", include_str!("../migrations/sqlite/0007_live_call_extras.sql")),
    (8, "cluster", include_str!("../migrations/sqlite/0008_cluster.sql")),
    (9, "node rows", include_str!("../migrations/sqlite/0009_node_rows.sql")),
    (10, "queue snapshots", include_str!("../migrations/sqlite/0010_queue_snapshots.sql")),
    (11, "standby lines", include_str!("../migrations/sqlite/0011_standby_lines.sql")),
    (12, "live call node", include_str!("../migrations/sqlite/0012_live_call_node.sql")),
    (13, "live call recording", include_str!("../migrations/sqlite/0013_live_call_recording.sql")),
];

pub(crate) const POSTGRES: &[Embedded] = &[
    (1, "directory and bindings", include_str!("../migrations/postgres/0001_directory_and_bindings.sql")),
    (2, "cdrs", include_str!("../migrations/postgres/0002_cdrs.sql")),
    (3, "live calls", include_str!("../migrations/postgres/0003_live_calls.sql")),
    (4, "trunks and webhooks", include_str!("../migrations/postgres/0004_trunks_and_webhooks.sql")),
    (5, "cdr recording", include_str!("../migrations/postgres/0005_cdr_recording.sql")),
    (6, "callcenter", include_str!("../migrations/postgres/0006_callcenter.sql")),
    (7, "live call extras", include_str!("../migrations/postgres/0007_live_call_extras.sql")),
    (8, "cluster", include_str!("../migrations/postgres/0008_cluster.sql")),
    (9, "node rows", include_str!("../migrations/postgres/0009_node_rows.sql")),
    (10, "queue snapshots", include_str!("../migrations/postgres/0010_queue_snapshots.sql")),
    (11, "standby lines", include_str!("../migrations/postgres/0011_standby_lines.sql")),
    (12, "live call node", include_str!("../migrations/postgres/0012_live_call_node.sql")),
    (13, "live call recording", include_str!("../migrations/postgres/0013_live_call_recording.sql")),
];

/// A [`MigrationSource`] over one of the embedded lists.
#[derive(Debug)]
struct EmbeddedSource(&'static [Embedded]);

impl<'s> MigrationSource<'s> for EmbeddedSource {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(std::future::ready(Ok(migrations)))
    }
}

/// The migrator for a backend.
pub(crate) async fn migrator(dialect: Dialect) -> Result<Migrator, StoreError> {
    let list = match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    };
    Ok(Migrator::new(EmbeddedSource(list)).await?)
}

#[cfg(test)]
mod tests;
