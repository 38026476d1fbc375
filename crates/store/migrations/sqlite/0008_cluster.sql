-- ferroswitch store, SQLite, migration 8: nodes sharing one store, and
-- which node owns each call-center queue (docs/multi-node.md). A cluster
-- needs PostgreSQL; the tables exist on SQLite too so both schemas stay
-- one, and a single node may use them alone.

-- Each node upserts its row every second; it is live while its heartbeat
-- is younger than the lease.
CREATE TABLE nodes (
    node_id      TEXT    NOT NULL PRIMARY KEY CHECK (length(node_id) BETWEEN 1 AND 64),
    advertise    TEXT    NOT NULL,
    heartbeat_ms INTEGER NOT NULL
);

-- A queue is dispatched by the node whose lease on it has not run out;
-- claimed and renewed with one conditional upsert.
CREATE TABLE queue_owners (
    queue          TEXT    NOT NULL PRIMARY KEY,
    node_id        TEXT    NOT NULL,
    lease_until_ms INTEGER NOT NULL
);
