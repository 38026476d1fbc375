//! The one error type of the crate, sorted by who is at fault.

use std::path::PathBuf;

/// Everything a [`Store`](crate::Store) call can fail with.
///
/// Variants are grouped by [`Fault`]: the caller's (bad input, a key that
/// exists or does not), the environment's (database unreachable, disk,
/// migrations) and the stored data's (a row this version cannot read).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    // ---- the caller's fault -------------------------------------------
    /// The row the operation needs does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `"extension"`.
        what: &'static str,
    },
    /// A row with the same key already exists.
    #[error("{what} {key:?} already exists")]
    Conflict {
        /// What kind of row, e.g. `"extension"`.
        what: &'static str,
        /// Its key, e.g. the extension number.
        key: String,
    },
    /// A value failed validation; nothing was written.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, named as in the API types (`"number"`, `"codecs"`,
        /// `"transport"`, ...).
        field: &'static str,
        /// Why, for a human.
        reason: String,
    },
    /// [`Store::open`](crate::Store::open) was given a URL whose scheme is
    /// neither `sqlite:` nor `postgres://`/`postgresql://`. The URL itself
    /// is not repeated: it may hold a password.
    #[error("unsupported storage URL scheme {scheme:?} (expected sqlite: or postgres://)")]
    UnsupportedUrl {
        /// The scheme that was given.
        scheme: String,
    },

    // ---- the environment's fault --------------------------------------
    /// The directory for a SQLite file could not be created.
    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The database failed: unreachable, I/O error, locked past the busy
    /// timeout, pool closed, or a constraint the validation did not catch.
    #[error("database error: {0}")]
    Backend(#[from] sqlx::Error),
    /// Migrating the schema failed, or the database was migrated by a
    /// newer (or different) build of ferroswitch.
    #[error("schema migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    // ---- the stored data's fault --------------------------------------
    /// A stored value cannot be read back (hand-edited database, or a
    /// schema this version does not understand).
    #[error("stored {what} is corrupt: {reason}")]
    Corrupt {
        /// The column or row, e.g. `"extensions.codecs"`.
        what: &'static str,
        /// Why, for a human.
        reason: String,
    },
}

/// Who caused a [`StoreError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The caller: fix the request (API: 4xx).
    Caller,
    /// The database or the machine: retry later or page someone (API: 503).
    Environment,
    /// The stored data: a bug or a hand edit (API: 500).
    Data,
}

impl StoreError {
    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self {
            StoreError::NotFound { .. }
            | StoreError::Conflict { .. }
            | StoreError::Invalid { .. }
            | StoreError::UnsupportedUrl { .. } => Fault::Caller,
            StoreError::CreateDir { .. } | StoreError::Backend(_) | StoreError::Migrate(_) => {
                Fault::Environment
            }
            StoreError::Corrupt { .. } => Fault::Data,
        }
    }

    /// A stable machine-readable code, as used in the admin API's
    /// `{"error": {"code": ...}}`.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "not_found",
            StoreError::Conflict { .. } => "conflict",
            StoreError::Invalid { .. } => "invalid",
            StoreError::UnsupportedUrl { .. } => "unsupported_storage_url",
            StoreError::CreateDir { .. } | StoreError::Backend(_) => "storage_unavailable",
            StoreError::Migrate(_) => "storage_migration",
            StoreError::Corrupt { .. } => "storage_corrupt",
        }
    }

    /// The field a validation error names, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            StoreError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        StoreError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn corrupt(what: &'static str, reason: impl Into<String>) -> Self {
        StoreError::Corrupt {
            what,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_and_codes() {
        let e = StoreError::invalid("number", "empty");
        assert_eq!(e.fault(), Fault::Caller);
        assert_eq!(e.code(), "invalid");
        assert_eq!(e.field(), Some("number"));
        assert_eq!(e.to_string(), "invalid number: empty");

        let e = StoreError::Conflict {
            what: "extension",
            key: "1001".into(),
        };
        assert_eq!(e.fault(), Fault::Caller);
        assert_eq!(e.to_string(), "extension \"1001\" already exists");
        assert_eq!(e.field(), None);

        let e = StoreError::Backend(sqlx::Error::PoolClosed);
        assert_eq!(e.fault(), Fault::Environment);
        assert_eq!(e.code(), "storage_unavailable");

        let e = StoreError::corrupt("extensions.codecs", "not JSON");
        assert_eq!(e.fault(), Fault::Data);
        assert_eq!(e.code(), "storage_corrupt");
    }

    #[test]
    fn unsupported_url_does_not_echo_the_url() {
        let e = StoreError::UnsupportedUrl {
            scheme: "mysql".into(),
        };
        assert!(!e.to_string().contains("secret"));
        assert_eq!(e.fault(), Fault::Caller);
    }
}
