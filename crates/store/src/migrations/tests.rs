use super::*;

#[test]
fn both_backends_have_the_same_numbered_migrations() {
    assert_eq!(SQLITE.len(), POSTGRES.len());
    for (i, (s, p)) in SQLITE.iter().zip(POSTGRES).enumerate() {
        let expected = i as i64 + 1;
        assert_eq!(
            s.0, expected,
            "sqlite migrations must be numbered 1, 2, ..."
        );
        assert_eq!(
            p.0, expected,
            "postgres migrations must be numbered 1, 2, ..."
        );
        assert_eq!(s.1, p.1, "migration {expected} has different descriptions");
    }
}

#[test]
fn both_backends_create_the_same_tables() {
    fn tables(list: &[Embedded]) -> Vec<String> {
        let mut t: Vec<String> = list
            .iter()
            .flat_map(|m| m.2.lines())
            .filter_map(|l| l.trim().strip_prefix("CREATE TABLE "))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        t.sort();
        t
    }
    let s = tables(SQLITE);
    assert_eq!(s, ["agent_status", "agents", "bindings", "cdrs", "directory_version", "extensions", "gateways", "ivrs", "live_calls", "nodes", "queue_owners", "queue_snapshots", "queues", "routes", "standby_lines", "tiers", "webhooks"]);
    assert_eq!(s, tables(POSTGRES));
}

#[tokio::test]
async fn migrators_resolve() {
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let m = migrator(d).await.unwrap();
        assert_eq!(m.iter().count(), SQLITE.len());
    }
}
