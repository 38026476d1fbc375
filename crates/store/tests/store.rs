//! The store's integration tests: every repository function on a temporary
//! SQLite file and, when `FERROSWITCH_TEST_PG_URL` names a PostgreSQL
//! server (e.g. `postgres://postgres@127.0.0.1:5432/postgres`, a role that
//! may create databases), the same checks against PostgreSQL, each in a
//! database of its own that is dropped afterwards. Without it the
//! `postgres::*` tests pass without running and say so once on stderr.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use serde_json::json;
use store::{Binding, BindingChange, Extension, ExtensionPatch, NewExtension, NodeRow, Store, StoreError};

const NOW: i64 = 1_700_000_000_000;
const PG_ENV: &str = "FERROSWITCH_TEST_PG_URL";

// ---------------------------------------------------------------------------
// Harness: a throwaway database per test.

/// A database that exists for one test and is removed when dropped (even
/// when the test panics).
struct TestDb {
    url: String,
    kind: Kind,
}

enum Kind {
    Sqlite { dir: PathBuf },
    Postgres { admin_url: String, name: String },
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// A SQLite file two directories below a fresh temporary directory, so
    /// that `open` has to create them.
    fn sqlite(test: &str) -> TestDb {
        let dir = std::env::temp_dir().join(format!(
            "ferroswitch-store-{}-{}-{test}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let url = format!("sqlite://{}/data/db/ferroswitch.db", dir.display());
        TestDb {
            url,
            kind: Kind::Sqlite { dir },
        }
    }

    /// A fresh PostgreSQL database, or `None` when `FERROSWITCH_TEST_PG_URL`
    /// is unset. The database uses an ICU `en-US` default collation where
    /// the server has one, so that the schema's bytewise ordering is
    /// really exercised.
    async fn postgres(test: &str) -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(PG_ENV) else {
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                // Straight to the stream, past the test harness's capture.
                let _ = writeln!(
                    std::io::stderr(),
                    "store: {PG_ENV} is not set: the postgres::* tests were skipped"
                );
            });
            return None;
        };
        let mut name = format!(
            "fs_test_{}_{}_{test}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        name.truncate(63);
        let admin = sqlx::PgPool::connect(&admin_url)
            .await
            .expect("connect to FERROSWITCH_TEST_PG_URL");
        let icu = format!(
            "CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' \
             LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        );
        if sqlx::query(&icu).execute(&admin).await.is_err() {
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&admin)
                .await
                .expect("CREATE DATABASE");
        }
        admin.close().await;
        let url = with_database(&admin_url, &name);
        Some(TestDb {
            url,
            kind: Kind::Postgres { admin_url, name },
        })
    }

    async fn open(&self) -> Store {
        Store::open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", self.url))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.kind {
            Kind::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Kind::Postgres { admin_url, name } => {
                // Drop runs inside the test's runtime: do the async work on
                // a thread with a runtime of its own.
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let dropped = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    rt.block_on(async {
                        let admin = sqlx::PgPool::connect(&admin_url).await?;
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        sqlx::query(&sql).execute(&admin).await?;
                        admin.close().await;
                        Ok::<_, sqlx::Error>(())
                    })?;
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
                })
                .join();
                if let Ok(Err(e)) = dropped {
                    let _ = writeln!(
                        std::io::stderr(),
                        "store: could not drop test database: {e}"
                    );
                }
            }
        }
    }
}

/// `url` with its database (path) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_start..].find('/') {
        Some(slash) => &base[..host_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Declares each check as a test on SQLite and on PostgreSQL.
macro_rules! on_both_backends {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let db = super::TestDb::sqlite(stringify!($check));
                    super::$check(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let Some(db) = super::TestDb::postgres(stringify!($check)).await else {
                        return;
                    };
                    super::$check(&db).await;
                }
            )*
        }
    };
}

on_both_backends!(
    open_migrates_a_fresh_database,
    extension_crud,
    every_field_round_trips,
    duplicate_create_is_a_conflict,
    validation_names_the_field_and_writes_nothing,
    paging_visits_every_extension_once_in_bytewise_order,
    version_bumps_on_each_write_and_not_on_reads,
    snapshot_pairs_version_and_extensions,
    version_is_shared_between_processes,
    delete_extension_deletes_its_bindings,
    bindings_upsert_replace_and_delete,
    bindings_expire,
    binding_batch_applies_in_order,
    binding_batch_is_atomic,
    group_commit_upserts_many_bindings_in_order,
    writes_survive_reopening,
    concurrent_writers_on_two_stores,
    concurrent_opens_migrate_once,
    nodes_are_live_while_they_beat,
    a_queue_lease_is_claimed_renewed_and_taken_over_when_it_runs_out,
    two_nodes_claiming_a_queue_at_once_never_both_win,
    each_node_restores_and_deletes_only_its_own_bindings,
    nodes_see_the_agent_statuses_the_others_wrote,
    events_cross_nodes_on_postgres_only,
    nodes_read_the_queue_snapshots_the_others_wrote,
    nodes_know_where_each_standing_call_is,
    a_restarting_node_interrupts_only_its_own_live_calls,
);

// ---------------------------------------------------------------------------
// Fixtures.

fn md5_of(n: u32) -> String {
    format!("{n:032x}")
}

fn sha_of(n: u32) -> String {
    format!("{n:064x}")
}

fn new_ext(number: &str) -> NewExtension {
    NewExtension::new(number, md5_of(1), sha_of(1), "pbx.example.com")
}

fn binding(aor: &str, contact_host: &str, expires_at_ms: i64) -> Binding {
    Binding {
        aor: aor.into(),
        contact: format!("<sip:{aor}@{contact_host}:5060>"),
        instance: None,
        reg_id: None,
        q: None,
        expires_at_ms,
        call_id: format!("{aor}-{contact_host}@pc33"),
        cseq: 1,
        transport: "udp".into(),
        source: format!("{contact_host}:5060"),
        user_agent: None,
        path: None,
        updated_at_ms: NOW,
    }
}

fn invalid_field<T: std::fmt::Debug>(r: Result<T, StoreError>) -> &'static str {
    match r {
        Err(StoreError::Invalid { field, .. }) => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

async fn numbers(store: &Store) -> Vec<String> {
    store
        .all_extensions()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.number)
        .collect()
}

// ---------------------------------------------------------------------------
// Checks, each run on both backends.

async fn open_migrates_a_fresh_database(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.directory_version().await.unwrap(), 0);
    assert!(store.all_extensions().await.unwrap().is_empty());
    assert!(store.load_bindings(NOW).await.unwrap().is_empty());
    if let Kind::Sqlite { dir } = &db.kind {
        assert!(
            dir.join("data/db/ferroswitch.db").is_file(),
            "file and parents created"
        );
    }
    store.close().await;
}

async fn extension_crud(db: &TestDb) {
    let store = db.open().await;
    let mut new = new_ext("1001");
    new.display_name = "Alice".into();
    let created = store.create_extension(&new, NOW).await.unwrap();
    assert_eq!(created.number, "1001");
    assert_eq!((created.created_at_ms, created.updated_at_ms), (NOW, NOW));
    assert_eq!(
        store.get_extension("1001").await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(store.get_extension("1002").await.unwrap(), None);

    let patch = ExtensionPatch {
        display_name: Some("Alice Liddell".into()),
        enabled: Some(false),
        max_calls: Some(2),
        codecs: Some(vec!["G722".into(), "PCMA".into()]),
        ..Default::default()
    };
    let updated = store
        .update_extension("1001", &patch, NOW + 5)
        .await
        .unwrap()
        .unwrap();
    let expected = Extension {
        display_name: "Alice Liddell".into(),
        enabled: false,
        max_calls: 2,
        codecs: vec!["G722".into(), "PCMA".into()],
        updated_at_ms: NOW + 5,
        ..created.clone()
    };
    assert_eq!(updated, expected);
    assert_eq!(
        store.get_extension("1001").await.unwrap(),
        Some(expected.clone())
    );

    // Untouched fields stay; credentials change as a triple.
    let patch = ExtensionPatch {
        credentials: Some((
            md5_of(2).to_uppercase(),
            sha_of(2),
            "other.example.com".into(),
        )),
        record: Some(true),
        ..Default::default()
    };
    let updated = store
        .update_extension("1001", &patch, NOW + 6)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.ha1_md5, md5_of(2), "stored in lower case");
    assert_eq!(updated.ha1_sha256, sha_of(2));
    assert_eq!(updated.realm, "other.example.com");
    assert!(updated.record);
    assert_eq!(updated.display_name, "Alice Liddell");
    assert_eq!(updated.created_at_ms, NOW);

    assert_eq!(
        store.update_extension("1002", &patch, NOW).await.unwrap(),
        None
    );
    assert_eq!(
        store.get_extension("1002").await.unwrap(),
        None,
        "update does not create"
    );

    assert!(store.delete_extension("1001").await.unwrap());
    assert!(!store.delete_extension("1001").await.unwrap());
    assert_eq!(store.get_extension("1001").await.unwrap(), None);
    assert!(store.all_extensions().await.unwrap().is_empty());
    store.close().await;
}

async fn every_field_round_trips(db: &TestDb) {
    let store = db.open().await;
    let new = NewExtension {
        number: "sales.desk-1_A".into(),
        display_name: "Zoë «Ventes» 東京".into(),
        enabled: false,
        caller_id_name: "Acme Sales".into(),
        caller_id_number: "+15551234567".into(),
        codecs: vec![
            "opus".into(),
            "PCMU".into(),
            "PCMA".into(),
            "telephone-event".into(),
        ],
        max_calls: u32::MAX,
        record: true,
        tags: json!({"team": "sales", "floor": 3, "nested": {"a": [1, 2.5, null, true]}}),
        ha1_md5: md5_of(7),
        ha1_sha256: sha_of(7),
        realm: "sip.acme.example".into(),
    };
    let created = store.create_extension(&new, -1).await.unwrap();
    let read = store.get_extension(&new.number).await.unwrap().unwrap();
    assert_eq!(read, created);
    assert_eq!(read.codecs, new.codecs, "codec order is preference order");
    assert_eq!(read.tags, new.tags);
    assert_eq!(read.max_calls, u32::MAX);
    assert_eq!((read.created_at_ms, read.updated_at_ms), (-1, -1));
    store.close().await;
}

async fn duplicate_create_is_a_conflict(db: &TestDb) {
    let store = db.open().await;
    store.create_extension(&new_ext("1001"), NOW).await.unwrap();
    let mut again = new_ext("1001");
    again.display_name = "Impostor".into();
    match store.create_extension(&again, NOW + 1).await {
        Err(StoreError::Conflict {
            what: "extension",
            key,
        }) => assert_eq!(key, "1001"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let kept = store.get_extension("1001").await.unwrap().unwrap();
    assert_eq!(kept.display_name, "", "the first one is untouched");
    assert_eq!(kept.created_at_ms, NOW);
    assert_eq!(
        store.directory_version().await.unwrap(),
        1,
        "a refused create bumps nothing"
    );
    store.close().await;
}

async fn validation_names_the_field_and_writes_nothing(db: &TestDb) {
    let store = db.open().await;
    store.create_extension(&new_ext("1001"), NOW).await.unwrap();

    let bad_creates: Vec<(&str, NewExtension)> = vec![
        ("number", new_ext("")),
        ("number", new_ext(&"1".repeat(33))),
        ("number", new_ext("10 02")),
        ("number", new_ext("+1002")),
        (
            "display_name",
            NewExtension {
                display_name: "a\r\nb".into(),
                ..new_ext("1002")
            },
        ),
        (
            "codecs",
            NewExtension {
                codecs: vec!["PCMU".into(), "".into()],
                ..new_ext("1002")
            },
        ),
        (
            "tags",
            NewExtension {
                tags: json!(["not", "an", "object"]),
                ..new_ext("1002")
            },
        ),
        (
            "ha1_md5",
            NewExtension {
                ha1_md5: "secret".into(),
                ..new_ext("1002")
            },
        ),
        (
            "ha1_sha256",
            NewExtension {
                ha1_sha256: md5_of(1),
                ..new_ext("1002")
            },
        ),
        (
            "realm",
            NewExtension {
                realm: String::new(),
                ..new_ext("1002")
            },
        ),
    ];
    for (field, new) in bad_creates {
        assert_eq!(
            invalid_field(store.create_extension(&new, NOW).await),
            field,
            "{new:?}"
        );
    }

    let bad_patches: Vec<(&str, ExtensionPatch)> = vec![
        (
            "caller_id_name",
            ExtensionPatch {
                caller_id_name: Some("\0".into()),
                ..Default::default()
            },
        ),
        (
            "codecs",
            ExtensionPatch {
                codecs: Some(vec!["opus".into(), "OPUS".into()]),
                ..Default::default()
            },
        ),
        (
            "tags",
            ExtensionPatch {
                tags: Some(json!(42)),
                ..Default::default()
            },
        ),
        (
            "ha1_sha256",
            ExtensionPatch {
                credentials: Some((md5_of(2), "zz".into(), "r".into())),
                ..Default::default()
            },
        ),
    ];
    for (field, patch) in bad_patches {
        assert_eq!(
            invalid_field(store.update_extension("1001", &patch, NOW + 1).await),
            field
        );
    }

    assert_eq!(numbers(&store).await, ["1001"]);
    let untouched = store.get_extension("1001").await.unwrap().unwrap();
    assert_eq!(untouched.updated_at_ms, NOW);
    assert_eq!(store.directory_version().await.unwrap(), 1);

    let b = Binding {
        transport: "carrier-pigeon".into(),
        ..binding("1001", "192.0.2.1", NOW + 1)
    };
    assert_eq!(invalid_field(store.upsert_binding(&b).await), "transport");
    assert!(store.load_bindings(NOW).await.unwrap().is_empty());
    store.close().await;
}

async fn paging_visits_every_extension_once_in_bytewise_order(db: &TestDb) {
    let store = db.open().await;
    let mut all: Vec<String> = (0..23).map(|i| format!("{}", 1000 + i * 7)).collect();
    // Cases where a locale's collation and bytes disagree.
    all.extend(["200", "20", "B", "a", "_x", "1.5", "1-2", "Z9", "z"].map(String::from));
    for (i, n) in all.iter().enumerate() {
        store
            .create_extension(&new_ext(n), NOW + i as i64)
            .await
            .unwrap();
    }
    all.sort(); // bytewise
    assert_eq!(numbers(&store).await, all);

    for limit in [1u32, 5, 10, 32, 100] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = store
                .list_extensions(limit, after.as_deref())
                .await
                .unwrap();
            pages += 1;
            assert!(page.len() <= limit as usize);
            let full = page.len() == limit as usize;
            after = page.last().map(|e| e.number.clone());
            seen.extend(page.into_iter().map(|e| e.number));
            if !full {
                break;
            }
        }
        assert_eq!(seen, all, "limit {limit}");
        assert_eq!(pages, all.len() / limit as usize + 1, "limit {limit}");
    }
    assert!(store.list_extensions(0, None).await.unwrap().is_empty());
    let last = all.last().unwrap();
    assert!(store
        .list_extensions(10, Some(last))
        .await
        .unwrap()
        .is_empty());
    // A cursor need not be an existing number.
    let page = store.list_extensions(2, Some("1999")).await.unwrap();
    let expected: Vec<_> = all
        .iter()
        .filter(|n| n.as_str() > "1999")
        .take(2)
        .cloned()
        .collect();
    assert_eq!(
        page.into_iter().map(|e| e.number).collect::<Vec<_>>(),
        expected
    );
    store.close().await;
}

async fn version_bumps_on_each_write_and_not_on_reads(db: &TestDb) {
    let store = db.open().await;
    let v = || async { store.directory_version().await.unwrap() };
    assert_eq!(v().await, 0);

    store.create_extension(&new_ext("1001"), NOW).await.unwrap();
    assert_eq!(v().await, 1);
    store.create_extension(&new_ext("1002"), NOW).await.unwrap();
    assert_eq!(v().await, 2);

    // Reads.
    store.get_extension("1001").await.unwrap();
    store.list_extensions(10, None).await.unwrap();
    store.all_extensions().await.unwrap();
    store.directory_snapshot().await.unwrap();
    assert_eq!(v().await, 2);

    let patch = ExtensionPatch {
        max_calls: Some(1),
        ..Default::default()
    };
    store
        .update_extension("1001", &patch, NOW + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v().await, 3);
    store
        .update_extension("1001", &ExtensionPatch::default(), NOW + 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v().await, 4, "an empty patch is still a write");
    assert!(store.delete_extension("1002").await.unwrap());
    assert_eq!(v().await, 5);

    // Writes that change nothing do not bump.
    assert!(store
        .update_extension("9999", &patch, NOW)
        .await
        .unwrap()
        .is_none());
    assert!(!store.delete_extension("1002").await.unwrap());
    assert!(store.create_extension(&new_ext("1001"), NOW).await.is_err());
    assert!(store.create_extension(&new_ext(""), NOW).await.is_err());
    assert_eq!(v().await, 5);

    // The location service is not the directory.
    store
        .upsert_binding(&binding("1001", "192.0.2.1", NOW + 60_000))
        .await
        .unwrap();
    store.delete_bindings("1001").await.unwrap();
    assert_eq!(v().await, 5);
    store.close().await;
}

async fn snapshot_pairs_version_and_extensions(db: &TestDb) {
    let store = db.open().await;
    let empty = store.directory_snapshot().await.unwrap();
    assert_eq!((empty.version, empty.extensions.len()), (0, 0));
    for n in ["3", "1", "2"] {
        store.create_extension(&new_ext(n), NOW).await.unwrap();
    }
    let snap = store.directory_snapshot().await.unwrap();
    assert_eq!(snap.version, 3);
    assert_eq!(snap.extensions, store.all_extensions().await.unwrap());
    assert_eq!(
        snap.extensions
            .iter()
            .map(|e| e.number.as_str())
            .collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    store.close().await;
}

/// The offline CLI and the running switch are two processes with two
/// pools: the switch sees the CLI's writes through the version.
async fn version_is_shared_between_processes(db: &TestDb) {
    let switch = db.open().await;
    let cli = db.open().await;
    let seen = switch.directory_version().await.unwrap();
    cli.create_extension(&new_ext("1001"), NOW).await.unwrap();
    let now = switch.directory_version().await.unwrap();
    assert_eq!(now, seen + 1);
    let snap = switch.directory_snapshot().await.unwrap();
    assert_eq!(snap.version, now);
    assert_eq!(snap.extensions.len(), 1);
    cli.close().await;
    switch.close().await;
}

async fn delete_extension_deletes_its_bindings(db: &TestDb) {
    let store = db.open().await;
    store.create_extension(&new_ext("1001"), NOW).await.unwrap();
    store.create_extension(&new_ext("1002"), NOW).await.unwrap();
    for host in ["192.0.2.1", "192.0.2.2"] {
        store
            .upsert_binding(&binding("1001", host, NOW + 60_000))
            .await
            .unwrap();
    }
    store
        .upsert_binding(&binding("1002", "192.0.2.3", NOW + 60_000))
        .await
        .unwrap();

    assert!(store.delete_extension("1001").await.unwrap());
    let left = store.load_bindings(NOW).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].aor, "1002");
    store.close().await;
}

async fn bindings_upsert_replace_and_delete(db: &TestDb) {
    let store = db.open().await;
    let full = Binding {
        instance: Some("<urn:uuid:00000000-0000-1000-8000-000a95a0e128>".into()),
        reg_id: Some(1),
        q: Some(0.7),
        user_agent: Some("baresip 3.10".into()),
        path: Some("<sip:edge1.example.com;lr>,<sip:edge2.example.com;lr>".into()),
        transport: "wss".into(),
        source: "[2001:db8::7]:443".into(),
        cseq: u32::MAX,
        ..binding("1001", "192.0.2.1", NOW + 3_600_000)
    };
    let bare = binding("1001", "192.0.2.2", NOW + 3_600_000);
    store.upsert_binding(&full).await.unwrap();
    store.upsert_binding(&bare).await.unwrap();
    assert_eq!(
        store.load_bindings(NOW).await.unwrap(),
        [full.clone(), bare.clone()]
    );

    // Same (aor, contact): replaced, every column, including back to NULL.
    let refreshed = Binding {
        instance: None,
        reg_id: None,
        q: None,
        user_agent: None,
        path: None,
        cseq: 2,
        call_id: "new-call-id".into(),
        transport: "tcp".into(),
        source: "192.0.2.1:40000".into(),
        expires_at_ms: NOW + 7_200_000,
        updated_at_ms: NOW + 1,
        ..full.clone()
    };
    store.upsert_binding(&refreshed).await.unwrap();
    assert_eq!(
        store.load_bindings(NOW).await.unwrap(),
        [refreshed.clone(), bare.clone()]
    );

    let other = binding("1002", "192.0.2.9", NOW + 3_600_000);
    store.upsert_binding(&other).await.unwrap();

    assert!(store.delete_binding("1001", &bare.contact).await.unwrap());
    assert!(!store.delete_binding("1001", &bare.contact).await.unwrap());
    assert!(!store.delete_binding("1003", &bare.contact).await.unwrap());
    assert_eq!(
        store.load_bindings(NOW).await.unwrap(),
        [refreshed, other.clone()]
    );

    assert_eq!(store.delete_bindings("1001").await.unwrap(), 1);
    assert_eq!(store.delete_bindings("1001").await.unwrap(), 0);
    assert_eq!(store.load_bindings(NOW).await.unwrap(), [other]);
    store.close().await;
}

async fn bindings_expire(db: &TestDb) {
    let store = db.open().await;
    let soon = binding("1001", "192.0.2.1", NOW + 1_000);
    let later = binding("1001", "192.0.2.2", NOW + 60_000);
    let gone = binding("1002", "192.0.2.3", NOW - 1);
    for b in [&soon, &later, &gone] {
        store.upsert_binding(b).await.unwrap();
    }
    assert_eq!(
        store.load_bindings(NOW).await.unwrap(),
        [soon.clone(), later.clone()]
    );
    // Expiring exactly now is expired.
    assert_eq!(
        store.load_bindings(NOW + 1_000).await.unwrap(),
        std::slice::from_ref(&later)
    );
    assert!(store.load_bindings(NOW + 60_000).await.unwrap().is_empty());

    // Loading filters; purging deletes.
    assert_eq!(store.purge_expired_bindings(NOW).await.unwrap(), 1);
    assert_eq!(store.purge_expired_bindings(NOW).await.unwrap(), 0);
    assert_eq!(store.load_bindings(0).await.unwrap(), [soon, later.clone()]);
    assert_eq!(store.purge_expired_bindings(NOW + 1_000).await.unwrap(), 1);
    assert_eq!(store.load_bindings(0).await.unwrap(), [later]);
    store.close().await;
}

async fn binding_batch_applies_in_order(db: &TestDb) {
    let store = db.open().await;
    let a1 = binding("1001", "192.0.2.1", NOW + 60_000);
    let a2 = binding("1001", "192.0.2.2", NOW + 60_000);
    let b1 = binding("1002", "192.0.2.3", NOW + 60_000);
    store.apply_binding_changes(&[]).await.unwrap();
    store
        .apply_binding_changes(&[
            BindingChange::Upsert(a1.clone()),
            BindingChange::Upsert(a2.clone()),
            BindingChange::Upsert(b1.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.load_bindings(NOW).await.unwrap(),
        [a1.clone(), a2.clone(), b1.clone()]
    );

    // A REGISTER that replaces all of 1001's contacts with one new one,
    // and one that adds then removes.
    let a3 = binding("1001", "192.0.2.4", NOW + 60_000);
    let b2 = binding("1002", "192.0.2.5", NOW + 60_000);
    store
        .apply_binding_changes(&[
            BindingChange::DeleteAll { aor: "1001".into() },
            BindingChange::Upsert(a3.clone()),
            BindingChange::Upsert(b2.clone()),
            BindingChange::Delete {
                aor: "1002".into(),
                contact: b2.contact.clone(),
            },
            BindingChange::Delete {
                aor: "1002".into(),
                contact: "<sip:absent>".into(),
            },
        ])
        .await
        .unwrap();
    assert_eq!(store.load_bindings(NOW).await.unwrap(), [a3, b1]);
    store.close().await;
}

/// A group commit's binding changes go out as multi-row upserts (at most
/// 256 rows each, one row per key): order, last-wins and deletions in
/// between must come out as if applied one by one.
async fn group_commit_upserts_many_bindings_in_order(db: &TestDb) {
    let store = db.open().await;
    // Only upserts, more than one statement's worth, with repeats of a key
    // (each later one must win).
    let mut changes = Vec::new();
    for i in 0..300 {
        changes.push(BindingChange::Upsert(binding(&format!("{}", 2000 + i % 150), &format!("192.0.2.{}", i % 150 % 250), NOW + 1_000 * (i as i64))));
    }
    let batch = store::WriteBatch { bindings: changes, ..Default::default() };
    store.apply_batch(&batch, NOW).await.unwrap();
    let rows = store.load_bindings(NOW).await.unwrap();
    assert_eq!(rows.len(), 150);
    for r in &rows {
        let i: i64 = r.aor.parse::<i64>().unwrap() - 2000;
        assert_eq!(r.expires_at_ms, NOW + 1_000 * (i + 150), "the later upsert of {} wins", r.aor);
    }
    // One multi-row statement alone (no BEGIN/COMMIT), then a mixed batch:
    // upserts, a deletion of one of them, more upserts of the same key.
    let a = binding("3001", "192.0.2.1", NOW + 5_000);
    let b = binding("3002", "192.0.2.2", NOW + 5_000);
    let only = store::WriteBatch { bindings: vec![BindingChange::Upsert(a.clone()), BindingChange::Upsert(b.clone())], ..Default::default() };
    store.apply_batch(&only, NOW).await.unwrap();
    let a_later = Binding { expires_at_ms: NOW + 9_000, ..a.clone() };
    let mixed = store::WriteBatch {
        bindings: vec![
            BindingChange::Upsert(Binding { expires_at_ms: NOW + 7_000, ..a.clone() }),
            BindingChange::Delete { aor: "3001".into(), contact: a.contact.clone() },
            BindingChange::Upsert(a_later.clone()),
            BindingChange::DeleteAll { aor: "3002".into() },
        ],
        ..Default::default()
    };
    store.apply_batch(&mixed, NOW).await.unwrap();
    let rows: Vec<Binding> = store.load_bindings(NOW).await.unwrap().into_iter().filter(|r| r.aor.starts_with("300")).collect();
    assert_eq!(rows, [a_later]);
    store.close().await;
}

async fn binding_batch_is_atomic(db: &TestDb) {
    let store = db.open().await;
    let a1 = binding("1001", "192.0.2.1", NOW + 60_000);
    let b1 = binding("1002", "192.0.2.3", NOW + 60_000);
    store.upsert_binding(&a1).await.unwrap();
    store.upsert_binding(&b1).await.unwrap();
    let before = store.load_bindings(NOW).await.unwrap();

    // Valid changes first, the invalid one last: the earlier ones have
    // been executed inside the transaction and must be rolled back.
    let refreshed = Binding {
        cseq: 99,
        ..a1.clone()
    };
    let new = binding("1003", "192.0.2.7", NOW + 60_000);
    let invalid = Binding {
        source: "not-an-address".into(),
        ..binding("1004", "192.0.2.8", NOW)
    };
    let batch = [
        BindingChange::Upsert(refreshed),
        BindingChange::Upsert(new),
        BindingChange::Delete {
            aor: "1002".into(),
            contact: b1.contact.clone(),
        },
        BindingChange::DeleteAll { aor: "1001".into() },
        BindingChange::Upsert(invalid),
    ];
    assert_eq!(
        invalid_field(store.apply_binding_changes(&batch).await),
        "source"
    );
    assert_eq!(
        store.load_bindings(NOW).await.unwrap(),
        before,
        "nothing applied"
    );

    // Same with the invalid change first.
    let invalid_first = [
        BindingChange::Upsert(Binding {
            q: Some(2.0),
            ..a1.clone()
        }),
        BindingChange::DeleteAll { aor: "1002".into() },
    ];
    assert_eq!(
        invalid_field(store.apply_binding_changes(&invalid_first).await),
        "q"
    );
    assert_eq!(store.load_bindings(NOW).await.unwrap(), before);

    // And the same batch without the invalid change applies whole.
    store.apply_binding_changes(&batch[..4]).await.unwrap();
    let after = store.load_bindings(NOW).await.unwrap();
    assert_eq!(
        after.iter().map(|b| b.aor.as_str()).collect::<Vec<_>>(),
        ["1003"]
    );
    store.close().await;
}

async fn writes_survive_reopening(db: &TestDb) {
    let store = db.open().await;
    let ext = store.create_extension(&new_ext("1001"), NOW).await.unwrap();
    let b = binding("1001", "192.0.2.1", NOW + 60_000);
    store
        .apply_binding_changes(&[BindingChange::Upsert(b.clone())])
        .await
        .unwrap();
    store.close().await;
    drop(store);

    let store = db.open().await; // migrations already applied: a no-op
    assert_eq!(store.get_extension("1001").await.unwrap(), Some(ext));
    assert_eq!(store.load_bindings(NOW).await.unwrap(), [b]);
    assert_eq!(store.directory_version().await.unwrap(), 1);
    store.close().await;
}

/// Two pools on one database (the switch and the CLI) writing at once: the
/// busy timeout and write-first transactions keep SQLite from failing
/// with "database is locked"; the version counts every write.
async fn concurrent_writers_on_two_stores(db: &TestDb) {
    let stores = [db.open().await, db.open().await];
    const PER_STORE: usize = 25;
    let tasks: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(s, store)| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..PER_STORE {
                    let number = format!("{s}{i:03}");
                    store.create_extension(&new_ext(&number), NOW).await?;
                    let b = binding(&number, "192.0.2.1", NOW + 60_000);
                    store
                        .apply_binding_changes(&[BindingChange::Upsert(b)])
                        .await?;
                    let patch = ExtensionPatch {
                        max_calls: Some(i as u32),
                        ..Default::default()
                    };
                    store.update_extension(&number, &patch, NOW + 1).await?;
                    store.directory_snapshot().await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let store = &stores[0];
    assert_eq!(store.all_extensions().await.unwrap().len(), 2 * PER_STORE);
    assert_eq!(store.load_bindings(NOW).await.unwrap().len(), 2 * PER_STORE);
    assert_eq!(
        store.directory_version().await.unwrap(),
        2 * 2 * PER_STORE as i64
    );
    for s in stores {
        s.close().await;
    }
}

/// Several nodes (or the switch and the CLI) starting at once on a fresh
/// database.
async fn concurrent_opens_migrate_once(db: &TestDb) {
    let opens: Vec<_> = (0..3)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { Store::open(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for o in opens {
        stores.push(
            o.await
                .unwrap()
                .unwrap_or_else(|e| panic!("concurrent open: {e}")),
        );
    }
    stores[0]
        .create_extension(&new_ext("1001"), NOW)
        .await
        .unwrap();
    assert_eq!(stores[2].directory_version().await.unwrap(), 1);
    for s in stores {
        s.close().await;
    }
}

// ---------------------------------------------------------------------------
// SQLite only.

#[tokio::test]
async fn sqlite_memory_store_works() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    store.create_extension(&new_ext("1001"), NOW).await.unwrap();
    store
        .upsert_binding(&binding("1001", "192.0.2.1", NOW + 1))
        .await
        .unwrap();
    assert_eq!(numbers(&store).await, ["1001"]);
    assert_eq!(store.load_bindings(NOW).await.unwrap().len(), 1);
    assert_eq!(store.backend_kind(), store::BackendKind::Sqlite);
}

#[tokio::test]
async fn sqlite_relative_path_is_created() {
    // `sqlite://data/ferroswitch.db` is relative to the working directory,
    // as the default `storage.url` is.
    let db = TestDb::sqlite("relative");
    let Kind::Sqlite { dir } = &db.kind else {
        unreachable!()
    };
    std::fs::create_dir_all(dir).unwrap();
    let cwd = std::env::current_dir().unwrap();
    let rel = pathdiff(dir, &cwd);
    let url = format!("sqlite://{}/sub/ferroswitch.db", rel.display());
    let store = Store::open(&url).await.unwrap();
    store.create_extension(&new_ext("1001"), NOW).await.unwrap();
    store.close().await;
    assert!(dir.join("sub/ferroswitch.db").is_file());
}

/// `to` relative to `from` (both absolute).
fn pathdiff(to: &std::path::Path, from: &std::path::Path) -> PathBuf {
    let to: Vec<_> = to.components().collect();
    let from: Vec<_> = from.components().collect();
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    for c in &to[common..] {
        rel.push(c);
    }
    rel
}

#[tokio::test]
async fn sqlite_open_fails_cleanly_when_the_directory_cannot_be_made() {
    let db = TestDb::sqlite("not-a-dir");
    let Kind::Sqlite { dir } = &db.kind else {
        unreachable!()
    };
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("file"), b"").unwrap();
    let url = format!("sqlite://{}/file/sub/x.db", dir.display());
    match Store::open(&url).await {
        Err(e @ StoreError::CreateDir { .. }) => assert_eq!(e.fault(), store::Fault::Environment),
        other => panic!("expected CreateDir, got {other:?}"),
    }
}

const KILL9_ENV: &str = "FERROSWITCH_STORE_KILL9_URL";

/// The writer that `acknowledged_writes_survive_kill_9` spawns and kills.
/// Run directly (no env var), it does nothing.
#[test]
fn kill9_child() {
    let Ok(url) = std::env::var(KILL9_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(&url).await.unwrap();
        let mut out = std::io::stdout();
        for i in 0u32.. {
            let number = format!("{}", 100_000 + i);
            store
                .create_extension(&new_ext(&number), NOW)
                .await
                .unwrap();
            let b = binding(&number, "192.0.2.1", NOW + 60_000);
            store
                .apply_binding_changes(&[BindingChange::Upsert(b)])
                .await
                .unwrap();
            // The acknowledgement: after this line the write must survive.
            writeln!(out, "acked {number}").unwrap();
            out.flush().unwrap();
        }
    });
}

/// The product requirement: an acknowledged write survives `kill -9` of
/// the process that made it.
#[test]
fn sqlite_acknowledged_writes_survive_kill_9() {
    let db = TestDb::sqlite("kill9");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["kill9_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(KILL9_ENV, &db.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let mut killed = false;
    for line in lines {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            acked.push(n.to_owned());
            if acked.len() == 30 && !killed {
                child.kill().unwrap(); // SIGKILL
                killed = true;
            }
        }
    }
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "the writer was killed mid-stream ({status})"
    );
    assert!(acked.len() >= 30);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = db.open().await;
        let have = numbers(&store).await;
        let bindings = store.load_bindings(NOW).await.unwrap();
        for n in &acked {
            assert!(have.contains(n), "acknowledged extension {n} lost");
            assert!(
                bindings.iter().any(|b| &b.aor == n),
                "acknowledged binding {n} lost"
            );
        }
        // At most the one write in flight is beyond the acknowledgements.
        assert!(have.len() <= acked.len() + 1);
        assert_eq!(store.directory_version().await.unwrap(), have.len() as i64);
        store.close().await;
    });
}

#[test]
fn pg_url_database_is_replaced() {
    assert_eq!(
        with_database("postgres://u:p@h:5432/postgres", "x"),
        "postgres://u:p@h:5432/x"
    );
    assert_eq!(
        with_database("postgres://h/db?sslmode=disable", "x"),
        "postgres://h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgresql://h:1", "x"), "postgresql://h:1/x");
}

async fn nodes_are_live_while_they_beat(db: &TestDb) {
    let store = db.open().await;
    store.node_heartbeat("b", "127.0.0.2:5060", NOW).await.unwrap();
    store.node_heartbeat("a", "127.0.0.1:5060", NOW + 1_000).await.unwrap();
    let live: Vec<_> = store.live_nodes(NOW + 4_000, 5_000).await.unwrap().into_iter().map(|n| (n.node_id, n.advertise)).collect();
    assert_eq!(live, [("a".to_owned(), "127.0.0.1:5060".to_owned()), ("b".to_owned(), "127.0.0.2:5060".to_owned())]);
    // b stops beating; a beats on, from a new address.
    store.node_heartbeat("a", "127.0.0.1:5070", NOW + 5_500).await.unwrap();
    let live = store.live_nodes(NOW + 5_500, 5_000).await.unwrap();
    assert_eq!(live, [NodeRow { node_id: "a".into(), advertise: "127.0.0.1:5070".into(), heartbeat_ms: NOW + 5_500 }]);
    assert!(matches!(store.node_heartbeat("", "x", NOW).await, Err(StoreError::Invalid { field: "node_id", .. })));
    store.close().await;
}

async fn a_queue_lease_is_claimed_renewed_and_taken_over_when_it_runs_out(db: &TestDb) {
    let store = db.open().await;
    const LEASE: i64 = 5_000;
    assert!(store.claim_queue("sales", "a", NOW, LEASE).await.unwrap(), "a free queue is claimed");
    assert!(!store.claim_queue("sales", "b", NOW + 4_999, LEASE).await.unwrap(), "not while a's lease runs");
    assert!(store.claim_queue("sales", "a", NOW + 1_000, LEASE).await.unwrap(), "a renews (until NOW + 6,000)");
    assert!(!store.claim_queue("sales", "b", NOW + 5_999, LEASE).await.unwrap(), "the renewal counts");
    assert_eq!(store.queue_owners(NOW + 5_999).await.unwrap(), [("sales".to_owned(), "a".to_owned())]);
    // a stops renewing: its lease runs out at NOW + 6,000 and b takes over.
    assert!(store.queue_owners(NOW + 6_000).await.unwrap().is_empty(), "an expired lease is no owner");
    assert!(store.claim_queue("sales", "b", NOW + 6_000, LEASE).await.unwrap(), "b takes the expired lease");
    assert!(!store.claim_queue("sales", "a", NOW + 6_001, LEASE).await.unwrap(), "a, late, has lost it");
    assert_eq!(store.queue_owners(NOW + 6_001).await.unwrap(), [("sales".to_owned(), "b".to_owned())]);
    // Other queues are independent; a release frees at once.
    assert!(store.claim_queue("support", "a", NOW + 6_001, LEASE).await.unwrap());
    assert!(!store.release_queue("sales", "a").await.unwrap(), "a cannot release b's queue");
    assert!(store.release_queue("sales", "b").await.unwrap());
    assert!(store.claim_queue("sales", "a", NOW + 6_002, LEASE).await.unwrap(), "released: claimed at once");
    assert_eq!(store.queue_owners(NOW + 6_002).await.unwrap(), [("sales".to_owned(), "a".to_owned()), ("support".to_owned(), "a".to_owned())]);
    store.close().await;
}

async fn two_nodes_claiming_a_queue_at_once_never_both_win(db: &TestDb) {
    // Two connections pools (two nodes), each claiming the same queue
    // several times at once, round after round, each round after the last
    // lease ran out: exactly one node wins each round.
    let nodes = [db.open().await, db.open().await];
    const LEASE: i64 = 5_000;
    let mut winners = [0u32; 2];
    for round in 0..20i64 {
        let now = NOW + round * 10_000;
        let tasks: Vec<_> = (0..8)
            .map(|k| {
                let (store, node) = (nodes[k % 2].clone(), ["a", "b"][k % 2]);
                tokio::spawn(async move { (k % 2, store.claim_queue("sales", node, now, LEASE).await.unwrap()) })
            })
            .collect();
        let mut won = [false; 2];
        for t in tasks {
            let (n, ok) = t.await.unwrap();
            won[n] |= ok;
        }
        assert!(won[0] != won[1], "round {round}: exactly one node owns the queue ({won:?})");
        winners[usize::from(won[1])] += 1;
        let owner = ["a", "b"][usize::from(won[1])];
        assert_eq!(nodes[0].queue_owners(now).await.unwrap(), [("sales".to_owned(), owner.to_owned())]);
    }
    assert_eq!(winners[0] + winners[1], 20);
    for s in nodes {
        s.close().await;
    }
}

async fn each_node_restores_and_deletes_only_its_own_bindings(db: &TestDb) {
    let a = db.open().await.with_node("a").unwrap();
    let b = db.open().await.with_node("b").unwrap();
    assert_eq!(a.node_id(), "a");
    // 1001 has a phone on each node; 1002 only on b (through the batch
    // path too).
    a.upsert_binding(&binding("1001", "192.0.2.1", NOW + 60_000)).await.unwrap();
    b.upsert_binding(&binding("1001", "192.0.2.2", NOW + 60_000)).await.unwrap();
    let mut batch = store::WriteBatch::default();
    batch.bindings.push(BindingChange::Upsert(binding("1002", "192.0.2.3", NOW + 60_000)));
    b.apply_batch(&batch, NOW).await.unwrap();
    let contacts = |v: Vec<Binding>| v.into_iter().map(|b| (b.aor, b.contact)).collect::<Vec<_>>();
    assert_eq!(contacts(a.load_bindings(NOW).await.unwrap()), [("1001".to_owned(), "<sip:1001@192.0.2.1:5060>".to_owned())], "a restores only its own");
    assert_eq!(b.load_bindings(NOW).await.unwrap().len(), 2);
    let remote = |v: Vec<store::RemoteBinding>| v.into_iter().map(|r| (r.aor, r.contact, r.node_id, r.expires_at_ms)).collect::<Vec<_>>();
    let row = |aor: &str, host: &str, node: &str| (aor.to_owned(), format!("<sip:{aor}@{host}:5060>"), node.to_owned(), NOW + 60_000);
    assert_eq!(remote(a.remote_locations(NOW).await.unwrap()), [row("1001", "192.0.2.2", "b"), row("1002", "192.0.2.3", "b")]);
    assert_eq!(remote(b.remote_locations(NOW).await.unwrap()), [row("1001", "192.0.2.1", "a")]);
    assert!(b.remote_locations(NOW + 60_000).await.unwrap().is_empty(), "expired bindings locate nothing");
    // Contact: * and a single delete on a leave b's bindings alone.
    assert!(!a.delete_binding("1001", "<sip:1001@192.0.2.2:5060>").await.unwrap(), "b's binding is not a's to delete");
    a.apply_binding_changes(&[BindingChange::DeleteAll { aor: "1001".into() }]).await.unwrap();
    assert!(a.load_bindings(NOW).await.unwrap().is_empty());
    assert_eq!(b.load_bindings(NOW).await.unwrap().len(), 2, "a's unregister removed none of b's");
    // A phone that moves its registration to a takes the row with it.
    a.upsert_binding(&binding("1002", "192.0.2.3", NOW + 90_000)).await.unwrap();
    assert_eq!(contacts(b.load_bindings(NOW).await.unwrap()), [("1001".to_owned(), "<sip:1001@192.0.2.2:5060>".to_owned())]);
    assert_eq!(contacts(a.load_bindings(NOW).await.unwrap()), [("1002".to_owned(), "<sip:1002@192.0.2.3:5060>".to_owned())]);
    // The unclustered node ('') is a node like any other.
    let plain = db.open().await;
    assert!(plain.load_bindings(NOW).await.unwrap().is_empty());
    assert!(matches!(db.open().await.with_node("no spaces"), Err(StoreError::Invalid { field: "node_id", .. })));
    for s in [a, b, plain] {
        s.close().await;
    }
}

async fn nodes_see_the_agent_statuses_the_others_wrote(db: &TestDb) {
    let a = db.open().await.with_node("a").unwrap();
    let b = db.open().await.with_node("b").unwrap();
    let write = |name: &str, status: &str| {
        let mut batch = store::WriteBatch::default();
        batch.agents.push((name.to_owned(), status.to_owned(), "{}".to_owned()));
        batch
    };
    a.apply_batch(&write("alice", "Available"), NOW).await.unwrap();
    b.apply_batch(&write("bob", "On Break"), NOW + 10).await.unwrap();
    let names = |v: Vec<store::AgentStatusRow>| v.into_iter().map(|r| (r.name, r.status, r.updated_at_ms)).collect::<Vec<_>>();
    assert_eq!(names(a.agent_statuses_from_others(0).await.unwrap()), [("bob".to_owned(), "On Break".to_owned(), NOW + 10)]);
    assert_eq!(names(b.agent_statuses_from_others(0).await.unwrap()), [("alice".to_owned(), "Available".to_owned(), NOW)]);
    assert!(a.agent_statuses_from_others(NOW + 10).await.unwrap().is_empty(), "only what is newer than asked");
    // b logs alice out: the row is b's now, and a sees it; b no longer does.
    b.apply_batch(&write("alice", "Logged Out"), NOW + 20).await.unwrap();
    assert_eq!(names(a.agent_statuses_from_others(NOW + 10).await.unwrap()), [("alice".to_owned(), "Logged Out".to_owned(), NOW + 20)]);
    assert!(b.agent_statuses_from_others(0).await.unwrap().is_empty());
    assert_eq!(a.agent_statuses().await.unwrap().len(), 2);
    for s in [a, b] {
        s.close().await;
    }
}

async fn events_cross_nodes_on_postgres_only(db: &TestDb) {
    let a = db.open().await.with_node("a").unwrap();
    let b = db.open().await.with_node("b").unwrap();
    if a.backend_kind() == store::BackendKind::Sqlite {
        assert!(matches!(a.notify_event("x").await, Err(StoreError::Invalid { field: "backend", .. })));
        assert!(b.listen_events().await.is_err());
    } else {
        let mut listener = b.listen_events().await.unwrap();
        for i in 0..3 {
            a.notify_event(&format!("{{\"n\":{i}}}")).await.unwrap();
        }
        for i in 0..3 {
            let got = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv()).await.expect("a notification within 5 s").unwrap();
            assert_eq!(got, format!("{{\"n\":{i}}}"), "in order");
        }
        let big = "x".repeat(store::MAX_NOTIFY_PAYLOAD + 1);
        assert!(matches!(a.notify_event(&big).await, Err(StoreError::Invalid { field: "payload", .. })));
        a.notify_event(&"y".repeat(store::MAX_NOTIFY_PAYLOAD)).await.unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv()).await.expect("the largest payload").unwrap();
        assert_eq!(got.len(), store::MAX_NOTIFY_PAYLOAD);
    }
    for s in [a, b] {
        s.close().await;
    }
}

async fn nodes_read_the_queue_snapshots_the_others_wrote(db: &TestDb) {
    let a = db.open().await.with_node("a").unwrap();
    let b = db.open().await.with_node("b").unwrap();
    let snap = |q: &str, waiting: u32| {
        let mut batch = store::WriteBatch::default();
        batch.queue_snapshots.push((q.to_owned(), format!("{{\"waiting\":{waiting}}}"), "[]".to_owned(), "{\"1000\":{\"state\":\"Waiting\"}}".to_owned()));
        batch
    };
    a.apply_batch(&snap("sales", 3), NOW).await.unwrap();
    b.apply_batch(&snap("support", 1), NOW).await.unwrap();
    let got = b.queue_snapshots_from_others().await.unwrap();
    assert_eq!(got, [store::QueueSnapshot { queue: "sales".into(), node_id: "a".into(), stats: json!({"waiting": 3}), members: json!([]), agents: json!({"1000": {"state": "Waiting"}}), updated_at_ms: NOW }]);
    // b takes sales over: its snapshot replaces a's, and a now reads it.
    b.apply_batch(&snap("sales", 5), NOW + 1_000).await.unwrap();
    assert!(b.queue_snapshots_from_others().await.unwrap().is_empty());
    let got = a.queue_snapshots_from_others().await.unwrap();
    assert_eq!(got.iter().map(|s| (s.queue.as_str(), s.stats["waiting"].as_u64())).collect::<Vec<_>>(), [("sales", Some(5)), ("support", Some(1))]);
    for s in [a, b] {
        s.close().await;
    }
}

async fn nodes_know_where_each_standing_call_is(db: &TestDb) {
    let a = db.open().await.with_node("a").unwrap();
    let b = db.open().await.with_node("b").unwrap();
    let line = |agent: &str, up: bool| {
        let mut batch = store::WriteBatch::default();
        batch.standby_lines.push((agent.to_owned(), up));
        batch
    };
    b.apply_batch(&line("s1", true), NOW).await.unwrap();
    a.apply_batch(&line("s2", true), NOW).await.unwrap();
    assert_eq!(a.standby_lines_of_others().await.unwrap(), [("s1".to_owned(), "b".to_owned())]);
    assert_eq!(b.standby_lines_of_others().await.unwrap(), [("s2".to_owned(), "a".to_owned())]);
    // s1's line moves to a (logged in there); b's late "line ended" must
    // not remove a's.
    a.apply_batch(&line("s1", true), NOW + 10).await.unwrap();
    b.apply_batch(&line("s1", false), NOW + 20).await.unwrap();
    assert_eq!(b.standby_lines_of_others().await.unwrap(), [("s1".to_owned(), "a".to_owned()), ("s2".to_owned(), "a".to_owned())]);
    a.apply_batch(&line("s1", false), NOW + 30).await.unwrap();
    assert_eq!(b.standby_lines_of_others().await.unwrap(), [("s2".to_owned(), "a".to_owned())]);
    for s in [a, b] {
        s.close().await;
    }
}

async fn a_restarting_node_interrupts_only_its_own_live_calls(db: &TestDb) {
    let a = db.open().await.with_node("a").unwrap();
    let b = db.open().await.with_node("b").unwrap();
    let live = |id: &str| store::LiveCall { id: id.into(), caller: "1000".into(), callee: "1001".into(), a_call_id: format!("{id}@x"), start_ms: NOW, webhook_url: None, ext_data: None, recording: None };
    a.insert_live_call(&live("on-a")).await.unwrap();
    // Its recording, noted in a group commit as the switch does.
    let mut rec_batch = store::WriteBatch::default();
    rec_batch.recordings.push(("on-a".into(), "on-a.wav".into()));
    a.apply_batch(&rec_batch, NOW).await.unwrap();
    let mut batch = store::WriteBatch::default();
    batch.started.push(live("on-b"));
    b.apply_batch(&batch, NOW).await.unwrap();
    // a crashed and starts again: its call is interrupted (linking the
    // file its recording left), b's goes on.
    let rec = a.recover_interrupted_calls(NOW + 5_000, |f| Some(format!("done-{f}")), |_, _, _| None).await.unwrap();
    assert_eq!(rec.iter().map(|c| (c.id.as_str(), c.recording.as_deref())).collect::<Vec<_>>(), [("on-a", Some("done-on-a.wav"))]);
    assert_eq!(a.get_cdr("on-a").await.unwrap().expect("a's CDR").recording.as_deref(), Some("done-on-a.wav"));
    assert!(a.recover_interrupted_calls(NOW + 6_000, |_| None, |_, _, _| None).await.unwrap().is_empty());
    // b's call ends normally: its own CDR, not an interrupted one.
    let mut end = store::WriteBatch::default();
    end.cdrs.push(store::Cdr { id: "on-b".into(), caller: "1000".into(), callee: "1001".into(), a_call_id: "on-b@x".into(), start_ms: NOW, end_ms: NOW + 9_000, disposition: "answered".into(), hangup_side: "caller".into(), hangup_cause: "normal_clearing".into(), queue: Some("support".into()), ..Default::default() });
    b.apply_batch(&end, NOW + 9_000).await.unwrap();
    let c = b.get_cdr("on-b").await.unwrap().expect("b's CDR");
    assert_eq!((c.disposition.as_str(), c.queue.as_deref()), ("answered", Some("support")));
    assert!(b.recover_interrupted_calls(NOW + 10_000, |_| None, |_, _, _| None).await.unwrap().is_empty(), "nothing left live on b");
    for s in [a, b] {
        s.close().await;
    }
}
