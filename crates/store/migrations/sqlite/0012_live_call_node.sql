-- ferroswitch store, SQLite, migration 12: which node a live call is on
-- (docs/multi-node.md). A node restarting after a crash turns only its own
-- live calls into interrupted CDRs; the other nodes' calls go on.
ALTER TABLE live_calls ADD COLUMN node_id TEXT NOT NULL DEFAULT '';
