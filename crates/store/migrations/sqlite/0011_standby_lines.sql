-- ferroswitch store, SQLite, migration 11: where each uuid-standby agent's
-- standing call is (docs/multi-node.md). The node holding an agent's line
-- writes it when the agent answers and removes it when the line ends; the
-- queue's owner puts callers through to it there.
CREATE TABLE standby_lines (
    agent         TEXT NOT NULL PRIMARY KEY,
    node_id       TEXT   NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
