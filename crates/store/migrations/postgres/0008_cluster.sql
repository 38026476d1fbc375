-- ferroswitch store, PostgreSQL, migration 8: nodes sharing one store, and
-- which node owns each call-center queue (docs/multi-node.md).

-- Each node upserts its row every second; it is live while its heartbeat
-- is younger than the lease.
CREATE TABLE nodes (
    node_id      TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (length(node_id) BETWEEN 1 AND 64),
    advertise    TEXT   NOT NULL,
    heartbeat_ms BIGINT NOT NULL
);

-- A queue is dispatched by the node whose lease on it has not run out;
-- claimed and renewed with one conditional upsert (ON CONFLICT DO UPDATE
-- takes the row's lock and judges the WHERE on its latest version, so two
-- nodes claiming at once never both win).
CREATE TABLE queue_owners (
    queue          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    node_id        TEXT   NOT NULL,
    lease_until_ms BIGINT NOT NULL
);
