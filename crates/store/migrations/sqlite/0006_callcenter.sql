-- ferroswitch store, SQLite, migration 6: call-center queues, agents and
-- tiers (JSON spec rows like gateways and routes: the API owns their
-- shape), the agents' run-time status and counters (written by the
-- switch, not versioned: they change with every call), and the queue
-- fields of CDRs.
CREATE TABLE queues (
    name          TEXT    NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    spec          TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE TABLE agents (
    name          TEXT    NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    spec          TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
-- name = queue '/' agent.
CREATE TABLE tiers (
    name          TEXT    NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 3 AND 129),
    spec          TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE TABLE ivrs (
    name          TEXT    NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    spec          TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE TABLE agent_status (
    name          TEXT    NOT NULL PRIMARY KEY,
    status        TEXT    NOT NULL,
    counters      TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
ALTER TABLE cdrs ADD COLUMN queue TEXT;
ALTER TABLE cdrs ADD COLUMN agent TEXT;
ALTER TABLE cdrs ADD COLUMN queue_wait_ms INTEGER;
ALTER TABLE cdrs ADD COLUMN queue_position INTEGER;
ALTER TABLE cdrs ADD COLUMN queue_result TEXT;
ALTER TABLE cdrs ADD COLUMN talk_ms INTEGER;
CREATE INDEX cdrs_queue ON cdrs (queue, start_ms);
-- Receive quality per direction (RFC 3550): packets lost, jitter in µs.
ALTER TABLE cdrs ADD COLUMN lost_to_a INTEGER;
ALTER TABLE cdrs ADD COLUMN lost_to_b INTEGER;
ALTER TABLE cdrs ADD COLUMN jitter_to_a_us INTEGER;
ALTER TABLE cdrs ADD COLUMN jitter_to_b_us INTEGER;
