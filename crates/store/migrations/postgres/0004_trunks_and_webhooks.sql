-- ferroswitch store, PostgreSQL, migration 4: carrier gateways, the route
-- table, and the webhook outbox (see the SQLite file for the comments).
CREATE TABLE gateways (
    name          TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    spec          TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE TABLE routes (
    name          TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    priority      BIGINT NOT NULL,
    spec          TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX routes_order ON routes (priority, name);
ALTER TABLE cdrs ADD COLUMN gateway TEXT;
CREATE TABLE webhooks (
    id              BIGSERIAL PRIMARY KEY,
    cdr_id          TEXT COLLATE "C" NOT NULL,
    url             TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    state           TEXT   NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    last_status     BIGINT,
    last_error      TEXT,
    created_ms      BIGINT NOT NULL,
    delivered_ms    BIGINT
);
CREATE INDEX webhooks_due ON webhooks (state, next_attempt_ms);
CREATE INDEX webhooks_cdr ON webhooks (cdr_id);
