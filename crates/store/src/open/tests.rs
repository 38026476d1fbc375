use super::*;
use sqlx::Row;

#[test]
fn in_memory_urls() {
    assert!(is_in_memory("sqlite::memory:"));
    assert!(is_in_memory("sqlite://:memory:"));
    assert!(is_in_memory("sqlite://x.db?mode=memory"));
    assert!(!is_in_memory("sqlite://data/ferroswitch.db"));
    assert!(!is_in_memory("sqlite:///tmp/memory.db?mode=rwc"));
}

#[tokio::test]
async fn rejects_other_schemes() {
    for url in ["mysql://root:secret@db/x", "data/x.db", ""] {
        match Store::open(url).await {
            Err(StoreError::UnsupportedUrl { scheme }) => assert!(!scheme.contains("secret")),
            other => panic!("{url}: expected UnsupportedUrl, got {other:?}"),
        }
    }
}

/// Every pooled connection carries the durability settings, not just the
/// first one.
#[tokio::test]
async fn every_sqlite_connection_is_durable() {
    let dir = std::env::temp_dir().join(format!("ferroswitch-store-unit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let url = format!("sqlite://{}/nested/pragmas.db", dir.display());
    let store = Store::open(&url).await.unwrap();
    let Backend::Sqlite(pool) = &store.backend else {
        panic!("not sqlite")
    };

    let mut conns = Vec::new();
    for _ in 0..SQLITE_MAX_CONNECTIONS {
        conns.push(pool.acquire().await.unwrap());
    }
    for conn in &mut conns {
        let pragma = |name: &'static str| format!("PRAGMA {name}");
        let journal: String = sqlx::query(&pragma("journal_mode"))
            .fetch_one(&mut **conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(journal, "wal");
        let sync: i64 = sqlx::query(&pragma("synchronous"))
            .fetch_one(&mut **conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(sync, 2, "synchronous=FULL");
        let fk: i64 = sqlx::query(&pragma("foreign_keys"))
            .fetch_one(&mut **conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(fk, 1);
        let busy: i64 = sqlx::query(&pragma("busy_timeout"))
            .fetch_one(&mut **conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(busy, SQLITE_BUSY_TIMEOUT.as_millis() as i64);
    }
    drop(conns);
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn memory_store_keeps_its_data_on_one_connection() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    assert_eq!(store.backend_kind(), crate::BackendKind::Sqlite);
    let Backend::Sqlite(pool) = &store.backend else {
        panic!("not sqlite")
    };
    sqlx::query("UPDATE directory_version SET version = 7")
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(store.directory_version().await.unwrap(), 7);
}
