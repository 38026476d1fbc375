-- ferroswitch store, SQLite, migration 4: carrier gateways, the route
-- table, and the webhook outbox.

-- Gateways and routes: the name is the key, `spec` the JSON document the
-- admin API validated (the API owns its shape; the store keeps it whole).
-- Every write bumps directory_version, so running switches reload.
CREATE TABLE gateways (
    name          TEXT    NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    spec          TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE TABLE routes (
    name          TEXT    NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    priority      INTEGER NOT NULL,
    spec          TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX routes_order ON routes (priority, name);

-- The gateway that carried a call's B-leg (or sent its A-leg).
ALTER TABLE cdrs ADD COLUMN gateway TEXT;

-- Webhook deliveries, written in the same transaction as their CDR and
-- kept until delivered (or given up), so a crash or restart loses none.
CREATE TABLE webhooks (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    cdr_id          TEXT    NOT NULL,
    url             TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    created_ms      INTEGER NOT NULL,
    delivered_ms    INTEGER
);
CREATE INDEX webhooks_due ON webhooks (state, next_attempt_ms);
CREATE INDEX webhooks_cdr ON webhooks (cdr_id);
