//! The directory: extensions and the directory version.

use serde::{Deserialize, Serialize};

use crate::row::{to_u32, RowExt};
use crate::{validate, Store, StoreError};

/// A directory entry as stored.
///
/// Holds the HA1 digests: the `api` crate must not return them to clients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Extension {
    /// The number, also the SIP user part and digest username: 1–32 of
    /// ASCII letters, digits, `.`, `-`, `_`.
    pub number: String,
    /// Shown to callees (From display name) unless `caller_id_name` is set.
    pub display_name: String,
    /// A disabled extension neither registers nor calls nor is called.
    pub enabled: bool,
    /// Caller ID name for outbound calls; empty = use `display_name`.
    pub caller_id_name: String,
    /// Caller ID number for outbound calls; empty = use `number`.
    pub caller_id_number: String,
    /// Codec names in order of preference; empty = the switch's defaults.
    pub codecs: Vec<String>,
    /// Most simultaneous calls; 0 = unlimited.
    pub max_calls: u32,
    /// Record this extension's calls.
    pub record: bool,
    /// Free-form JSON object for integrations.
    pub tags: serde_json::Value,
    /// `MD5(number:realm:password)` in lower-case hex (RFC 7616 §3.4.2).
    pub ha1_md5: String,
    /// `SHA-256(number:realm:password)` in lower-case hex (RFC 7616 §3.4.2).
    pub ha1_sha256: String,
    /// The realm both HA1s were computed for; a challenge in another realm
    /// cannot be verified with them.
    pub realm: String,
    /// When it was created, unix milliseconds (the caller's clock).
    pub created_at_ms: i64,
    /// When it was last written, unix milliseconds (the caller's clock).
    pub updated_at_ms: i64,
}

/// What [`Store::create_extension`] needs. In JSON, only `number` and the
/// credentials are required; the rest default as [`NewExtension::new`]
/// does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewExtension {
    /// See [`Extension::number`].
    pub number: String,
    /// See [`Extension::display_name`].
    #[serde(default)]
    pub display_name: String,
    /// See [`Extension::enabled`].
    #[serde(default = "yes")]
    pub enabled: bool,
    /// See [`Extension::caller_id_name`].
    #[serde(default)]
    pub caller_id_name: String,
    /// See [`Extension::caller_id_number`].
    #[serde(default)]
    pub caller_id_number: String,
    /// See [`Extension::codecs`].
    #[serde(default)]
    pub codecs: Vec<String>,
    /// See [`Extension::max_calls`].
    #[serde(default)]
    pub max_calls: u32,
    /// See [`Extension::record`].
    #[serde(default)]
    pub record: bool,
    /// See [`Extension::tags`]; must be a JSON object.
    #[serde(default = "empty_object")]
    pub tags: serde_json::Value,
    /// See [`Extension::ha1_md5`]; 32 hex digits, either case.
    pub ha1_md5: String,
    /// See [`Extension::ha1_sha256`]; 64 hex digits, either case.
    pub ha1_sha256: String,
    /// See [`Extension::realm`].
    pub realm: String,
}

fn yes() -> bool {
    true
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl NewExtension {
    /// An enabled extension with its credentials and everything else
    /// defaulted: no display name or caller ID override, the switch's
    /// codecs, unlimited calls, not recorded, no tags.
    pub fn new(
        number: impl Into<String>,
        ha1_md5: impl Into<String>,
        ha1_sha256: impl Into<String>,
        realm: impl Into<String>,
    ) -> Self {
        NewExtension {
            number: number.into(),
            display_name: String::new(),
            enabled: true,
            caller_id_name: String::new(),
            caller_id_number: String::new(),
            codecs: Vec::new(),
            max_calls: 0,
            record: false,
            tags: empty_object(),
            ha1_md5: ha1_md5.into(),
            ha1_sha256: ha1_sha256.into(),
            realm: realm.into(),
        }
    }
}

/// A partial update for [`Store::update_extension`]: `None` leaves a field
/// as it is. An all-`None` patch still counts as a write (it bumps
/// `updated_at_ms` and the directory version).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtensionPatch {
    /// New [`Extension::display_name`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// New [`Extension::enabled`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// New [`Extension::caller_id_name`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id_name: Option<String>,
    /// New [`Extension::caller_id_number`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id_number: Option<String>,
    /// New [`Extension::codecs`] (replaces the whole list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codecs: Option<Vec<String>>,
    /// New [`Extension::max_calls`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<u32>,
    /// New [`Extension::record`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<bool>,
    /// New [`Extension::tags`] (replaces the whole object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<serde_json::Value>,
    /// New credentials, all three together: `(ha1_md5, ha1_sha256, realm)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<(String, String, String)>,
}

/// The directory version and the extensions, read from one snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectorySnapshot {
    /// [`Store::directory_version`] as of the snapshot.
    pub version: i64,
    /// Every extension as of the snapshot, ordered by number.
    pub extensions: Vec<Extension>,
}

/// The columns of `extensions`, in [`ext_from_row`]'s terms.
macro_rules! ext_columns {
    () => {
        "number, display_name, enabled, caller_id_name, caller_id_number, codecs, max_calls, \
         record, tags, ha1_md5, ha1_sha256, realm, created_at_ms, updated_at_ms"
    };
}

const SELECT_ONE: &str = concat!(
    "SELECT ",
    ext_columns!(),
    " FROM extensions WHERE number = $1"
);
const SELECT_ALL: &str = concat!(
    "SELECT ",
    ext_columns!(),
    " FROM extensions ORDER BY number"
);
const SELECT_FIRST_PAGE: &str = concat!(
    "SELECT ",
    ext_columns!(),
    " FROM extensions ORDER BY number LIMIT $1"
);
const SELECT_NEXT_PAGE: &str = concat!(
    "SELECT ",
    ext_columns!(),
    " FROM extensions WHERE number > $1 ORDER BY number LIMIT $2"
);
const INSERT: &str = concat!(
    "INSERT INTO extensions (",
    ext_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
     ON CONFLICT (number) DO NOTHING"
);
const UPDATE: &str = concat!(
    "UPDATE extensions SET \
       display_name = COALESCE($2, display_name), \
       enabled = COALESCE($3, enabled), \
       caller_id_name = COALESCE($4, caller_id_name), \
       caller_id_number = COALESCE($5, caller_id_number), \
       codecs = COALESCE($6, codecs), \
       max_calls = COALESCE($7, max_calls), \
       record = COALESCE($8, record), \
       tags = COALESCE($9, tags), \
       ha1_md5 = COALESCE($10, ha1_md5), \
       ha1_sha256 = COALESCE($11, ha1_sha256), \
       realm = COALESCE($12, realm), \
       updated_at_ms = $13 \
     WHERE number = $1 RETURNING ",
    ext_columns!()
);
const DELETE: &str = "DELETE FROM extensions WHERE number = $1";
const DELETE_BINDINGS: &str = "DELETE FROM bindings WHERE aor = $1";
const SELECT_VERSION: &str = "SELECT version FROM directory_version WHERE id = 1";
const BUMP_VERSION: &str = "UPDATE directory_version SET version = version + 1 WHERE id = 1";

/// Bumps the directory version inside the transaction `$tx`.
macro_rules! bump_version {
    ($tx:expr) => {{
        let done = sqlx::query(BUMP_VERSION).execute(&mut *$tx).await?;
        if done.rows_affected() != 1 {
            return Err(missing_version_row());
        }
    }};
}

fn missing_version_row() -> StoreError {
    StoreError::corrupt("directory_version", "the counter row is missing")
}

fn ext_from_row(r: &impl RowExt) -> Result<Extension, StoreError> {
    let codecs = r.text("codecs")?;
    let codecs = serde_json::from_str(&codecs)
        .map_err(|e| StoreError::corrupt("extensions.codecs", e.to_string()))?;
    let tags = r.text("tags")?;
    let tags = serde_json::from_str(&tags)
        .map_err(|e| StoreError::corrupt("extensions.tags", e.to_string()))?;
    Ok(Extension {
        number: r.text("number")?,
        display_name: r.text("display_name")?,
        enabled: r.flag("enabled")?,
        caller_id_name: r.text("caller_id_name")?,
        caller_id_number: r.text("caller_id_number")?,
        codecs,
        max_calls: to_u32("extensions.max_calls", r.int("max_calls")?)?,
        record: r.flag("record")?,
        tags,
        ha1_md5: r.text("ha1_md5")?,
        ha1_sha256: r.text("ha1_sha256")?,
        realm: r.text("realm")?,
        created_at_ms: r.int("created_at_ms")?,
        updated_at_ms: r.int("updated_at_ms")?,
    })
}

fn codecs_json(codecs: &[String]) -> Result<String, StoreError> {
    validate::codecs(codecs)?;
    serde_json::to_string(codecs).map_err(|e| StoreError::invalid("codecs", e.to_string()))
}

/// A validated [`NewExtension`], normalized for storage.
struct CheckedNew {
    codecs: String,
    tags: String,
    ha1_md5: String,
    ha1_sha256: String,
}

fn check_new(new: &NewExtension) -> Result<CheckedNew, StoreError> {
    validate::number("number", &new.number)?;
    validate::display_text("display_name", &new.display_name)?;
    validate::display_text("caller_id_name", &new.caller_id_name)?;
    validate::display_text("caller_id_number", &new.caller_id_number)?;
    let codecs = codecs_json(&new.codecs)?;
    let tags = validate::tags(&new.tags)?;
    let (ha1_md5, ha1_sha256, _) =
        validate::credentials(&new.ha1_md5, &new.ha1_sha256, &new.realm)?;
    Ok(CheckedNew {
        codecs,
        tags,
        ha1_md5,
        ha1_sha256,
    })
}

/// A validated [`ExtensionPatch`], as the UPDATE binds it.
struct CheckedPatch {
    codecs: Option<String>,
    tags: Option<String>,
    credentials: Option<(String, String, String)>,
}

fn check_patch(patch: &ExtensionPatch) -> Result<CheckedPatch, StoreError> {
    for (field, value) in [
        ("display_name", &patch.display_name),
        ("caller_id_name", &patch.caller_id_name),
        ("caller_id_number", &patch.caller_id_number),
    ] {
        if let Some(v) = value {
            validate::display_text(field, v)?;
        }
    }
    let codecs = patch.codecs.as_deref().map(codecs_json).transpose()?;
    let tags = patch.tags.as_ref().map(validate::tags).transpose()?;
    let credentials = patch
        .credentials
        .as_ref()
        .map(|(md5, sha, realm)| validate::credentials(md5, sha, realm))
        .transpose()?;
    Ok(CheckedPatch {
        codecs,
        tags,
        credentials,
    })
}

impl Store {
    /// Creates an extension, stamped `now_ms`, and bumps the directory
    /// version. [`StoreError::Conflict`] if the number exists,
    /// [`StoreError::Invalid`] naming the field if a value is not
    /// acceptable (nothing is written then).
    pub async fn create_extension(
        &self,
        new: &NewExtension,
        now_ms: i64,
    ) -> Result<Extension, StoreError> {
        let checked = check_new(new)?;
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            // The write comes first: on SQLite that takes the write lock
            // at once, under the busy timeout, instead of failing to
            // upgrade a read snapshot.
            let done = sqlx::query(INSERT)
                .bind(&new.number)
                .bind(&new.display_name)
                .bind(new.enabled)
                .bind(&new.caller_id_name)
                .bind(&new.caller_id_number)
                .bind(&checked.codecs)
                .bind(i64::from(new.max_calls))
                .bind(new.record)
                .bind(&checked.tags)
                .bind(&checked.ha1_md5)
                .bind(&checked.ha1_sha256)
                .bind(&new.realm)
                .bind(now_ms)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Conflict {
                    what: "extension",
                    key: new.number.clone(),
                });
            }
            bump_version!(tx);
            tx.commit().await?;
        });
        Ok(Extension {
            number: new.number.clone(),
            display_name: new.display_name.clone(),
            enabled: new.enabled,
            caller_id_name: new.caller_id_name.clone(),
            caller_id_number: new.caller_id_number.clone(),
            codecs: new.codecs.clone(),
            max_calls: new.max_calls,
            record: new.record,
            tags: new.tags.clone(),
            ha1_md5: checked.ha1_md5,
            ha1_sha256: checked.ha1_sha256,
            realm: new.realm.clone(),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        })
    }

    /// The extension with this number, if any.
    pub async fn get_extension(&self, number: &str) -> Result<Option<Extension>, StoreError> {
        with_pool!(self, |pool| {
            let row = sqlx::query(SELECT_ONE)
                .bind(number)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(ext_from_row).transpose()
        })
    }

    /// One page of extensions ordered by number (bytewise): at most `limit`
    /// of them, those with a number greater than `after` (the last number
    /// of the previous page), or from the start when `after` is `None`.
    /// A page shorter than `limit` is the last one. `limit` 0 returns an
    /// empty page.
    pub async fn list_extensions(
        &self,
        limit: u32,
        after: Option<&str>,
    ) -> Result<Vec<Extension>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::from(limit);
        with_pool!(self, |pool| {
            let rows = match after {
                Some(after) => {
                    sqlx::query(SELECT_NEXT_PAGE)
                        .bind(after)
                        .bind(limit)
                        .fetch_all(pool)
                        .await?
                }
                None => {
                    sqlx::query(SELECT_FIRST_PAGE)
                        .bind(limit)
                        .fetch_all(pool)
                        .await?
                }
            };
            rows.iter().map(ext_from_row).collect()
        })
    }

    /// Every extension, ordered by number. To pair it with the directory
    /// version, use [`Store::directory_snapshot`].
    pub async fn all_extensions(&self) -> Result<Vec<Extension>, StoreError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(SELECT_ALL).fetch_all(pool).await?;
            rows.iter().map(ext_from_row).collect()
        })
    }

    /// Applies `patch` to the extension, stamps `updated_at_ms = now_ms` and
    /// bumps the directory version; returns the result, or `None` (and
    /// writes nothing) if there is no such extension.
    pub async fn update_extension(
        &self,
        number: &str,
        patch: &ExtensionPatch,
        now_ms: i64,
    ) -> Result<Option<Extension>, StoreError> {
        let checked = check_patch(patch)?;
        let (md5, sha256, realm) = match checked.credentials {
            Some((m, s, r)) => (Some(m), Some(s), Some(r)),
            None => (None, None, None),
        };
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let row = sqlx::query(UPDATE)
                .bind(number)
                .bind(patch.display_name.as_deref())
                .bind(patch.enabled)
                .bind(patch.caller_id_name.as_deref())
                .bind(patch.caller_id_number.as_deref())
                .bind(checked.codecs.as_deref())
                .bind(patch.max_calls.map(i64::from))
                .bind(patch.record)
                .bind(checked.tags.as_deref())
                .bind(md5.as_deref())
                .bind(sha256.as_deref())
                .bind(realm.as_deref())
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let ext = ext_from_row(&row)?;
            bump_version!(tx);
            tx.commit().await?;
            Ok(Some(ext))
        })
    }

    /// Deletes the extension and its registration bindings, and bumps the
    /// directory version. `false` (nothing written) if it did not exist.
    pub async fn delete_extension(&self, number: &str) -> Result<bool, StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(DELETE).bind(number).execute(&mut *tx).await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query(DELETE_BINDINGS)
                .bind(number)
                .execute(&mut *tx)
                .await?;
            bump_version!(tx);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The directory version: a counter bumped by every committed extension
    /// write, by this process or another one sharing the database. Poll it
    /// and reload (with [`Store::directory_snapshot`]) when it changes.
    pub async fn directory_version(&self) -> Result<i64, StoreError> {
        with_pool!(self, |pool| {
            let row = sqlx::query(SELECT_VERSION).fetch_optional(pool).await?;
            row.ok_or_else(missing_version_row)?.int("version")
        })
    }

    /// The directory version and every extension, read from one snapshot:
    /// the extensions are exactly those of that version.
    pub async fn directory_snapshot(&self) -> Result<DirectorySnapshot, StoreError> {
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin().await?;
            if let Some(statement) = dialect.snapshot_statement() {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            let row = sqlx::query(SELECT_VERSION).fetch_optional(&mut *tx).await?;
            let version = row.ok_or_else(missing_version_row)?.int("version")?;
            let rows = sqlx::query(SELECT_ALL).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            let extensions = rows.iter().map(ext_from_row).collect::<Result<_, _>>()?;
            Ok(DirectorySnapshot {
                version,
                extensions,
            })
        })
    }
}

#[cfg(test)]
mod tests;
