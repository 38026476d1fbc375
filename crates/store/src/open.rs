//! Opening a store: URL → pool with the durability settings → migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{migrations, Backend, Dialect, Store, StoreError};

/// How long a SQLite connection waits for another writer (the switch and
/// the offline CLI share the file) before failing with "database is
/// locked".
pub(crate) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Pooled connections to a SQLite file. Writers are serialised by SQLite
/// anyway; a few connections let reads proceed beside a write (WAL).
const SQLITE_MAX_CONNECTIONS: u32 = 4;

/// Pooled connections to PostgreSQL, per node.
const PG_MAX_CONNECTIONS: u32 = 8;

impl Store {
    /// Opens (creating if needed) and migrates the store at `url`.
    ///
    /// - `sqlite://PATH` (relative to the working directory, or
    ///   `sqlite:///abs/path`): creates the parent directory and the file if
    ///   missing; WAL journal, `synchronous=FULL` (a committed write
    ///   survives `kill -9` and power loss), busy timeout 5 s, foreign keys
    ///   on.
    /// - `sqlite::memory:`: a private in-memory database (tests); one
    ///   connection, gone when the store is dropped.
    /// - `postgres://...` or `postgresql://...`: connects and migrates;
    ///   several nodes may do so at once.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let scheme = url.split_once(':').map_or("", |(s, _)| s);
        match scheme {
            "sqlite" => open_sqlite(url).await,
            "postgres" | "postgresql" => open_postgres(url).await,
            other => Err(StoreError::UnsupportedUrl {
                scheme: other.to_owned(),
            }),
        }
    }
}

async fn open_sqlite(url: &str) -> Result<Store, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .synchronous(SqliteSynchronous::Full);

    let in_memory = is_in_memory(url);
    let pool = if in_memory {
        // Each connection to `:memory:` would otherwise see its own
        // database (or contend on a shared cache): keep exactly one, forever.
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.journal_mode(SqliteJournalMode::Memory))
            .await?
    } else {
        let path = options.get_filename();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        // Switching a fresh file to WAL takes an exclusive lock that the
        // busy timeout does not cover: when several processes open the same
        // new file at once (switch and CLI), one may see SQLITE_BUSY. Retry.
        let options = options.journal_mode(SqliteJournalMode::Wal);
        let mut attempt = 1;
        loop {
            match SqlitePoolOptions::new().max_connections(SQLITE_MAX_CONNECTIONS).connect_with(options.clone()).await {
                Ok(pool) => break pool,
                Err(sqlx::Error::Database(e)) if attempt < sqlite_migrate_attempts() && is_busy(e.code().as_deref()) => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt as u64)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    };

    migrate_sqlite(&pool).await?;
    Ok(Store {
        backend: Backend::Sqlite(pool),
        node: "".into(),
    })
}

/// How many times the SQLite migrations are attempted (see
/// [`migrate_sqlite`]): every failed attempt means another opener committed
/// a migration, so each retry gets past at least one more; a fixed count
/// ran out once the list grew (six migrations, four concurrent opens).
fn sqlite_migrate_attempts() -> u32 {
    2 * migrations::SQLITE.len() as u32 + 1
}

/// Runs the migrations on SQLite, which sqlx cannot lock: two processes
/// opening a fresh file at once (the switch and the CLI) both find
/// migration N unapplied, and the second one's `CREATE TABLE` fails once
/// the first has committed. Each migration is one transaction together
/// with its bookkeeping row, so trying again is safe: the retry finds it
/// applied and goes on. Errors that retrying cannot fix (a database from a
/// newer build, a modified migration) are returned at once.
async fn migrate_sqlite(pool: &sqlx::SqlitePool) -> Result<(), StoreError> {
    use sqlx::migrate::MigrateError;
    let migrator = migrations::migrator(Dialect::Sqlite).await?;
    let mut attempt = 1;
    loop {
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            Err(MigrateError::Execute(_) | MigrateError::ExecuteMigration(..))
                if attempt < sqlite_migrate_attempts() =>
            {
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// SQLITE_BUSY (5) or SQLITE_LOCKED (6), with or without extended bits.
fn is_busy(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// `sqlite::memory:`, `sqlite://:memory:` or `mode=memory`.
fn is_in_memory(url: &str) -> bool {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (db, params) = rest.split_once('?').unwrap_or((rest, ""));
    db == ":memory:" || params.split('&').any(|p| p == "mode=memory")
}

async fn open_postgres(url: &str) -> Result<Store, StoreError> {
    let options = PgConnectOptions::from_str(url)?.application_name("ferroswitch");
    let pool = PgPoolOptions::new()
        .max_connections(PG_MAX_CONNECTIONS)
        .connect_with(options)
        .await?;
    migrations::migrator(Dialect::Postgres)
        .await?
        .run(&pool)
        .await?;
    Ok(Store {
        backend: Backend::Postgres(pool),
        node: "".into(),
    })
}

#[cfg(test)]
mod tests;
