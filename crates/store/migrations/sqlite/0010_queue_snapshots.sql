-- ferroswitch store, SQLite, migration 10: what each queue's owner last saw
-- (docs/multi-node.md). The node dispatching a queue writes its statistics
-- and waiting members every second; the other nodes answer the API's
-- questions about that queue from here.
CREATE TABLE queue_snapshots (
    queue         TEXT NOT NULL PRIMARY KEY,
    node_id       TEXT   NOT NULL,
    stats         TEXT   NOT NULL,
    members       TEXT   NOT NULL,
    agents        TEXT   NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
